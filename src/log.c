/*
 * log.c — levelled log lines on stderr, plain or JSON-lines.
 *
 * stderr is unbuffered and each line is written with one fprintf so lines from librdkafka's
 * threads (before log.queue takes over) never interleave mid-line.
 */
#include "casewatch/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

cw_log_level_t cw_log_threshold = CW_LOG_INFO;
bool cw_log_json = false;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

cw_err_t cw_log_level_parse(const char *s, cw_log_level_t *out)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (cw_log_level_t)i;
            return CW_OK;
        }
    }
    return CW_ERR_INVALID;
}

static void json_escape(char *dst, size_t dstsz, const char *src)
{
    size_t o = 0;
    for (; *src && o + 7 < dstsz; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, dstsz - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

void cw_log_write(cw_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (cw_log_json) {
        char esc[4096];
        json_escape(esc, sizeof(esc), msg);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"src\":\"%s:%d\",\"msg\":\"%s\"}\n",
                when, level_names[level], base, line, esc);
    } else {
        fprintf(stderr, "%s %-5s %s:%d %s\n", when, level_names[level], base, line, msg);
    }
}
