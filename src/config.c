/*
 * config.c — load casewatchd's INI configuration with libinih, from one declarative key table.
 *
 * libinih does not tell its handler the line number, so the file is fed through
 * ini_parse_stream() with a reader that counts lines: every error names file:line. Parsing
 * continues after an error so that one run reports every problem in the file.
 */
#include "casewatch/config.h"
#include "casewatch/partmap.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum key_type {
    KT_INT,
    KT_STRING,
    KT_BOOL,
    KT_LOGLEVEL,
    KT_LOGFORMAT,
    KT_LIST,
    KT_CLOCK
} key_type_t;

typedef struct key_def {
    const char *section;
    const char *name;
    key_type_t type;
    size_t offset;   /* into cw_config_t */
    size_t count_offset; /* KT_LIST: offset of the int count */
    const char *def; /* default as text; NULL = required */
    long min, max;   /* KT_INT bounds */
    bool reloadable;
    const char *help; /* what is expected, for error messages */
    bool optional;    /* no default and not required */
} key_def_t;

#define OFF(f) offsetof(cw_config_t, f)

static const key_def_t key_defs[] = {
    {"daemon", "log_level", KT_LOGLEVEL, OFF(log_level), 0, "info", 0, 0, true,
     "one of error, warn, info, debug", false},
    {"daemon", "log_format", KT_LOGFORMAT, OFF(log_json), 0, "text", 0, 0, true,
     "text or json", false},
    {"daemon", "batch_max_events", KT_INT, OFF(batch_max_events), 0, "10000", 1, 1000000, true,
     "an integer from 1 to 1000000", false},
    {"daemon", "batch_max_wait_ms", KT_INT, OFF(batch_max_wait_ms), 0, "10", 0, 60000, true,
     "milliseconds from 0 to 60000", false},
    {"daemon", "max_message_bytes", KT_INT, OFF(max_message_bytes), 0, "1048576", 64,
     INT_MAX, true, "bytes, at least 64", false},
    {"daemon", "backoff_initial_ms", KT_INT, OFF(backoff_initial_ms), 0, "100", 1, 600000, false,
     "milliseconds from 1 to 600000", false},
    {"daemon", "backoff_max_ms", KT_INT, OFF(backoff_max_ms), 0, "10000", 1, 3600000, false,
     "milliseconds from 1 to 3600000", false},
    {"daemon", "shutdown_timeout_ms", KT_INT, OFF(shutdown_timeout_ms), 0, "8000", 100, 60000,
     true, "milliseconds from 100 to 60000", false},
    {"daemon", "metrics_interval_ms", KT_INT, OFF(metrics_interval_ms), 0, "60000", 0, 86400000,
     false, "milliseconds between metric snapshots (0 = none), at most 86400000", false},
    {"daemon", "clock", KT_CLOCK, OFF(event_clock), 0, "wall", 0, 0, false,
     "wall (production) or event (replays and tests: the highest occurred_at seen)", false},
    {"daemon", "allowed_lateness_ms", KT_INT, OFF(allowed_lateness_ms), 0, "60000", 0,
     86400000, false, "milliseconds from 0 to 86400000", false},
    {"daemon", "merge_idle_ms", KT_INT, OFF(merge_idle_ms), 0, "250", 0, 60000, false,
     "milliseconds from 0 to 60000", false},
    {"daemon", "holidays_file", KT_STRING, OFF(holidays_file), 0, NULL, 0, 0, false,
     "a file of extra bank holidays, one YYYY-MM-DD per line", true},
    {"postgres", "conninfo", KT_STRING, OFF(pg_conninfo), 0, NULL, 0, 0, false,
     "a libpq connection string, e.g. host=/run/postgresql dbname=casewatch", false},
    {"topics", "events", KT_LIST, OFF(event_topics), OFF(n_event_topics),
     "casewatch.case-events,casewatch.hearing-events", 0, 0, false,
     "a comma-separated list of co-partitioned topic names", false},
    {"topics", "dead_letter", KT_STRING, OFF(dead_letter_topic), 0, "casewatch.dead-letters", 0,
     0, false, "a topic name", false},
    {"topics", "alerts", KT_STRING, OFF(alerts_topic), 0, "casewatch.alerts", 0, 0, false,
     "a topic name", false},
    {"topics", "metrics", KT_STRING, OFF(metrics_topic), 0, "casewatch.metrics", 0, 0, false,
     "a topic name", false},
    {"topics", "partitioner", KT_STRING, OFF(partitioner), 0, "consistent_random", 0, 0, false,
     "the producers' partitioner: consistent_random, consistent, murmur2_random, murmur2, "
     "fnv1a_random, fnv1a, or none", false},
    {"admin", "listen", KT_STRING, OFF(admin_listen), 0, "127.0.0.1:8089", 0, 0, false,
     "HOST:PORT (an IPv6 host in brackets; port 0 = any free port) or off", false},
    {"admin", "token", KT_STRING, OFF(admin_token), 0, NULL, 0, 0, true,
     "a bearer token (at least 16 characters)", true},
    {"admin", "token_file", KT_STRING, OFF(admin_token_file), 0, NULL, 0, 0, true,
     "a file whose first line is the bearer token", true},
    {"admin", "ready_max_lag", KT_INT, OFF(admin_ready_max_lag), 0, "10000", 0, INT_MAX, true,
     "messages not yet committed per partition above which /readyz fails (0 = no check)",
     false},
    {"admin", "sse_max_clients", KT_INT, OFF(admin_sse_max_clients), 0, "32", 0, 10000, true,
     "an integer from 0 to 10000", false},
    {"admin", "max_connections", KT_INT, OFF(admin_max_connections), 0, "64", 2, 65536, false,
     "an integer from 2 to 65536 (concurrent admin connections, /events streams included)",
     false},
    {"retention", "outbox_sent_days", KT_INT, OFF(retention_outbox_sent_days), 0, "7", 0,
     36500, true, "days from 0 (keep forever) to 36500", false},
    {"retention", "history_days", KT_INT, OFF(retention_history_days), 0, "730", 0, 36500, true,
     "days from 0 (keep forever) to 36500", false},
    {"retention", "anomaly_days", KT_INT, OFF(retention_anomaly_days), 0, "730", 0, 36500, true,
     "days from 0 (keep forever) to 36500", false},
    {"retention", "dead_letter_payload_days", KT_INT, OFF(retention_dead_letter_payload_days), 0,
     "30", 0, 36500, true, "days from 0 (keep forever) to 36500", false},
    {"retention", "dead_letter_days", KT_INT, OFF(retention_dead_letter_days), 0, "90", 0, 36500,
     true, "days from 0 (keep forever) to 36500", false},
    {"retention", "batch", KT_INT, OFF(retention_batch), 0, "5000", 1, 1000000, true,
     "rows per prune statement, from 1 to 1000000", false},
    {"retention", "interval_ms", KT_INT, OFF(retention_interval_ms), 0, "60000", 0, 86400000,
     true, "milliseconds between prune rounds (0 = never prune), at most 86400000", false},
    {"admin", "request_timeout_ms", KT_INT, OFF(admin_request_timeout_ms), 0, "10000", 100,
     600000, true, "milliseconds from 100 to 600000", false},
};

typedef struct parse_ctx {
    const char *path;
    FILE *fp;
    int line;
    cw_config_t *cfg;
    int set_line[CW_ARRAY_LEN(key_defs)];
    char *errbuf;
    size_t errsz;
    size_t errlen;
    int nerrors;
} parse_ctx_t;

CW_PRINTF(3, 4)
static void add_error(parse_ctx_t *ctx, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->nerrors++;
    if (!ctx->errbuf || ctx->errlen + 1 >= ctx->errsz)
        return;
    int n = snprintf(ctx->errbuf + ctx->errlen, ctx->errsz - ctx->errlen, "%s%s:%d: %s",
                     ctx->errlen ? "\n" : "", ctx->path, line, msg);
    if (n > 0)
        ctx->errlen += (size_t)n < ctx->errsz - ctx->errlen ? (size_t)n : ctx->errsz - ctx->errlen - 1;
}

static char *counting_reader(char *str, int num, void *stream)
{
    parse_ctx_t *ctx = stream;
    char *r = fgets(str, num, ctx->fp);
    if (r)
        ctx->line++;
    return r;
}

static void list_free(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static int split_list(const char *value, char ***out)
{
    char *copy = cw_strdup(value);
    char **items = NULL;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!len)
            continue;
        items = cw_realloc(items, sizeof(char *) * (size_t)(n + 1));
        items[n++] = cw_strdup(tok);
    }
    free(copy);
    *out = items;
    return n;
}

/* Store one value; returns false with a message in why. */
static bool set_value(cw_config_t *cfg, const key_def_t *k, const char *value, char *why,
                      size_t whysz)
{
    char *base = (char *)cfg;
    switch (k->type) {
    case KT_INT: {
        errno = 0;
        char *end = NULL;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < k->min || v > k->max) {
            snprintf(why, whysz, "expected %s", k->help);
            return false;
        }
        *(int *)(base + k->offset) = (int)v;
        return true;
    }
    case KT_STRING: {
        if (!*value) {
            snprintf(why, whysz, "expected %s, got an empty value", k->help);
            return false;
        }
        char **slot = (char **)(base + k->offset);
        free(*slot);
        *slot = cw_strdup(value);
        return true;
    }
    case KT_BOOL: {
        bool v;
        if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1") ||
            !strcasecmp(value, "on"))
            v = true;
        else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
                 !strcmp(value, "0") || !strcasecmp(value, "off"))
            v = false;
        else {
            snprintf(why, whysz, "expected true or false");
            return false;
        }
        *(bool *)(base + k->offset) = v;
        return true;
    }
    case KT_LOGLEVEL: {
        cw_log_level_t lvl;
        if (cw_log_level_parse(value, &lvl) != CW_OK) {
            snprintf(why, whysz, "expected %s", k->help);
            return false;
        }
        *(cw_log_level_t *)(base + k->offset) = lvl;
        return true;
    }
    case KT_CLOCK:
        if (strcmp(value, "wall") && strcmp(value, "event")) {
            snprintf(why, whysz, "expected %s", k->help);
            return false;
        }
        *(bool *)(base + k->offset) = strcmp(value, "event") == 0;
        return true;
    case KT_LOGFORMAT:
        if (strcmp(value, "text") && strcmp(value, "json")) {
            snprintf(why, whysz, "expected %s", k->help);
            return false;
        }
        *(bool *)(base + k->offset) = strcmp(value, "json") == 0;
        return true;
    case KT_LIST: {
        char **items;
        int n = split_list(value, &items);
        if (n == 0) {
            list_free(items, n);
            snprintf(why, whysz, "expected %s", k->help);
            return false;
        }
        char ***slot = (char ***)(base + k->offset);
        int *count = (int *)(base + k->count_offset);
        list_free(*slot, *count);
        *slot = items;
        *count = n;
        return true;
    }
    }
    return false;
}

static void kv_add(cw_config_kvlist_t *l, const char *key, const char *value, int line)
{
    for (int i = 0; i < l->count; i++) {
        if (strcmp(l->items[i].key, key) == 0) { /* a later line overrides */
            free(l->items[i].value);
            l->items[i].value = cw_strdup(value);
            l->items[i].line = line;
            return;
        }
    }
    l->items = cw_realloc(l->items, sizeof(*l->items) * (size_t)(l->count + 1));
    l->items[l->count++] = (cw_config_kv_t){cw_strdup(key), cw_strdup(value), line};
}

static void kv_free(cw_config_kvlist_t *l)
{
    for (int i = 0; i < l->count; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx_t *ctx = user;
    if (!name) /* a section header alone: check it is one we know */
        goto check_section;

    if (!strcmp(section, "kafka")) {
        kv_add(&ctx->cfg->kafka, name, value, ctx->line);
        return 1;
    }
    if (!strcmp(section, "kafka.consumer")) {
        kv_add(&ctx->cfg->kafka_consumer, name, value, ctx->line);
        return 1;
    }
    if (!strcmp(section, "kafka.producer")) {
        kv_add(&ctx->cfg->kafka_producer, name, value, ctx->line);
        return 1;
    }
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        const key_def_t *k = &key_defs[i];
        if (strcmp(k->section, section) || strcmp(k->name, name))
            continue;
        char why[256];
        if (!set_value(ctx->cfg, k, value, why, sizeof(why)))
            add_error(ctx, ctx->line, "[%s] %s: %s", section, name, why);
        else
            ctx->set_line[i] = ctx->line;
        return 1;
    }
check_section:
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        if (!strcmp(key_defs[i].section, section)) {
            if (name)
                add_error(ctx, ctx->line, "[%s] unknown key \"%s\"", section, name);
            return 1;
        }
    }
    if (!strcmp(section, "kafka") || !strcmp(section, "kafka.consumer") ||
        !strcmp(section, "kafka.producer"))
        return 1;
    /* Sections later issues add ([admin], [rules], …) are read by their own modules. */
    if (!strcmp(section, "rules") || !strncmp(section, "rule.", 5) ||
        !strcmp(section, "metrics") || !strcmp(section, "clock"))
        return 1;
    if (name)
        add_error(ctx, ctx->line, "unknown section [%s]", section);
    else
        add_error(ctx, ctx->line,
                  "unknown section [%s]; expected daemon, postgres, topics, kafka, "
                  "kafka.consumer or kafka.producer",
                  section);
    return 1;
}

static int key_line(const parse_ctx_t *ctx, const char *name)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++)
        if (!strcmp(key_defs[i].name, name))
            return ctx->set_line[i];
    return 0;
}

static void check_kafka(parse_ctx_t *ctx, const cw_config_kvlist_t *l, bool is_consumer,
                        const char *section)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    for (int i = 0; i < l->count; i++) {
        if (rd_kafka_conf_set(conf, l->items[i].key, l->items[i].value, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK)
            add_error(ctx, l->items[i].line, "[%s] %s: %s", section, l->items[i].key, err);
    }
    rd_kafka_conf_destroy(conf);
    (void)is_consumer;
}

/* Who besides the daemon can read the file holding the token: anyone (other read bit), or
 * a group that is not the daemon's own (a root:casewatch 0640 file is the intended set-up:
 * only the service's group reads it). Returns the reason (caller frees) or NULL. */
static char *token_exposure(const char *path, const struct stat *st)
{
    const char *who = NULL;
    if (st->st_mode & S_IROTH)
        who = "every user";
    else if ((st->st_mode & S_IRGRP) && st->st_gid != getegid())
        who = "its group";
    if (!who)
        return NULL;
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "[admin] token: %s holds the bearer token and is readable by %s (mode %04o, "
             "group %ld): chmod o-r,g-r it, or give it the daemon's group",
             path, who, (unsigned)(st->st_mode & 07777), (long)st->st_gid);
    return cw_strdup(msg);
}

/* [admin]: the address parses; a token file is read; beyond loopback a token is required;
 * streams leave connections for other requests; a token others can read is noted */
static void check_admin(parse_ctx_t *ctx)
{
    cw_config_t *cfg = ctx->cfg;
    int line = key_line(ctx, "listen");
    char host[256];
    int port;
    if (!strcmp(cfg->admin_listen, "off"))
        return;
    if (cw_listen_parse(cfg->admin_listen, host, sizeof(host), &port) != CW_OK) {
        add_error(ctx, line, "[admin] listen: expected HOST:PORT (an IPv6 host in brackets) "
                             "or off, got \"%s\"", cfg->admin_listen);
        return;
    }
    if (cfg->admin_sse_max_clients >= cfg->admin_max_connections)
        add_error(ctx, key_line(ctx, "sse_max_clients"),
                  "[admin] sse_max_clients: expected fewer than max_connections (%d): every "
                  "stream holds a connection, and other requests need one too",
                  cfg->admin_max_connections);
    struct stat holder; /* the file the token is read from */
    bool held = false;
    if (cfg->admin_token_file) {
        int tline = key_line(ctx, "token_file");
        FILE *f = fopen(cfg->admin_token_file, "r");
        char buf[512] = "";
        if (!f) {
            add_error(ctx, tline, "[admin] token_file: cannot open %s: %s",
                      cfg->admin_token_file, strerror(errno));
            return;
        }
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        held = fstat(fileno(f), &holder) == 0;
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        if (cfg->admin_token) {
            add_error(ctx, tline, "[admin] token_file: give token or token_file, not both");
            return;
        }
        cfg->admin_token = cw_strdup(buf);
    }
    if (cfg->admin_token && strlen(cfg->admin_token) < 16) {
        add_error(ctx, key_line(ctx, cfg->admin_token_file ? "token_file" : "token"),
                  "[admin] token: expected at least 16 characters");
        return;
    }
    for (const char *t = cfg->admin_token; t && *t; t++) {
        if (*t <= ' ' || *t > '~') {
            add_error(ctx, key_line(ctx, cfg->admin_token_file ? "token_file" : "token"),
                      "[admin] token: expected printable ASCII without spaces");
            return;
        }
    }
    if (!cw_host_is_loopback(host) && !cfg->admin_token)
        add_error(ctx, line,
                  "[admin] listen: %s is reachable beyond this machine: set [admin] token or "
                  "token_file (bearer authentication), or listen on 127.0.0.1",
                  cfg->admin_listen);
    if (cfg->admin_token && !cfg->admin_token_file)
        held = stat(ctx->path, &holder) == 0;
    if (cfg->admin_token && held)
        cfg->admin_token_exposed =
            token_exposure(cfg->admin_token_file ? cfg->admin_token_file : ctx->path, &holder);
}

cw_err_t cw_listen_parse(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return CW_ERR_CONFIG;
        s++;
        hl = (size_t)(end - s);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return CW_ERR_CONFIG;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostsz)
        return CW_ERR_CONFIG;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
        return CW_ERR_CONFIG;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return CW_OK;
}

bool cw_host_is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strcmp(host, "::1") || !strncmp(host, "127.", 4);
}

static const char *kv_get(const cw_config_kvlist_t *l, const char *key)
{
    for (int i = 0; i < l->count; i++)
        if (!strcmp(l->items[i].key, key))
            return l->items[i].value;
    return NULL;
}

cw_config_t *cw_config_load(const char *path, char *errstr, size_t errsz)
{
    if (errsz)
        errstr[0] = '\0';
    cw_config_t *cfg = cw_calloc(1, sizeof(*cfg));
    cfg->path = cw_strdup(path);
    parse_ctx_t ctx = {.path = path, .cfg = cfg, .errbuf = errstr, .errsz = errsz};

    /* defaults first, so a key given in the file simply overrides */
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        char why[256];
        if (key_defs[i].def && !set_value(cfg, &key_defs[i], key_defs[i].def, why, sizeof(why)))
            abort(); /* a bad default is a programming error */
    }

    ctx.fp = fopen(path, "r");
    if (!ctx.fp) {
        add_error(&ctx, 0, "cannot open configuration file: %s", strerror(errno));
        cw_config_free(cfg);
        return NULL;
    }
    int rc = ini_parse_stream(counting_reader, &ctx, on_ini_entry, &ctx);
    fclose(ctx.fp);
    if (rc > 0 && ctx.nerrors == 0)
        add_error(&ctx, rc, "syntax error: expected [section], key = value, or a ; comment");
    else if (rc < 0)
        add_error(&ctx, 0, "cannot read configuration file");

    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        if (!key_defs[i].def && !key_defs[i].optional && !ctx.set_line[i])
            add_error(&ctx, 0, "missing required key [%s] %s (expected %s)", key_defs[i].section,
                      key_defs[i].name, key_defs[i].help);
    }
    int bo_line = key_line(&ctx, "backoff_max_ms");
    if (cfg->backoff_max_ms < cfg->backoff_initial_ms)
        add_error(&ctx, bo_line, "[daemon] backoff_max_ms must be >= backoff_initial_ms");
    if (!kv_get(&cfg->kafka, "bootstrap.servers") &&
        !kv_get(&cfg->kafka_consumer, "bootstrap.servers"))
        add_error(&ctx, 0,
                  "missing required key [kafka] bootstrap.servers (expected host:port,...)");
    if (!kv_get(&cfg->kafka, "group.id") && !kv_get(&cfg->kafka_consumer, "group.id"))
        add_error(&ctx, 0, "missing required key [kafka] group.id (expected a consumer group)");
    if (cfg->n_event_topics > CW_MAX_EVENT_TOPICS)
        add_error(&ctx, key_line(&ctx, "events"),
                  "[topics] events: expected at most %d topics, got %d", CW_MAX_EVENT_TOPICS,
                  cfg->n_event_topics);
    for (int i = 0; i < cfg->n_event_topics; i++) {
        if (!strcmp(cfg->event_topics[i], cfg->dead_letter_topic))
            add_error(&ctx, 0, "[topics] dead_letter must not be one of the event topics");
    }
    cw_partitioner_t part;
    if (!cw_partmap_parse(cfg->partitioner, &part))
        add_error(&ctx, key_line(&ctx, "partitioner"),
                  "[topics] partitioner: expected consistent_random, consistent, murmur2_random, "
                  "murmur2, fnv1a_random, fnv1a or none");
    check_admin(&ctx);
    check_kafka(&ctx, &cfg->kafka, true, "kafka");
    check_kafka(&ctx, &cfg->kafka_consumer, true, "kafka.consumer");
    check_kafka(&ctx, &cfg->kafka_producer, false, "kafka.producer");

    if (ctx.nerrors) {
        cw_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void cw_config_free(cw_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->pg_conninfo);
    free(cfg->holidays_file);
    list_free(cfg->event_topics, cfg->n_event_topics);
    free(cfg->dead_letter_topic);
    free(cfg->alerts_topic);
    free(cfg->metrics_topic);
    free(cfg->partitioner);
    free(cfg->admin_listen);
    free(cfg->admin_token);
    free(cfg->admin_token_file);
    free(cfg->admin_token_exposed);
    kv_free(&cfg->kafka);
    kv_free(&cfg->kafka_consumer);
    kv_free(&cfg->kafka_producer);
    free(cfg);
}

rd_kafka_conf_t *cw_config_kafka_conf(const cw_config_t *cfg, bool is_consumer,
                                      const char *const *defaults, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (int i = 0; defaults && defaults[i]; i += 2) {
        if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, errsz) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    }
    const cw_config_kvlist_t *lists[] = {&cfg->kafka,
                                         is_consumer ? &cfg->kafka_consumer : &cfg->kafka_producer};
    for (size_t l = 0; l < CW_ARRAY_LEN(lists); l++) {
        for (int i = 0; i < lists[l]->count; i++) {
            const cw_config_kv_t *kv = &lists[l]->items[i];
            /* [kafka] is shared: keep consumer-only keys away from the producer and vice
             * versa, so librdkafka does not warn about every one of them */
            if (l == 0 && !is_consumer &&
                (!strcmp(kv->key, "group.id") || !strncmp(kv->key, "session.timeout.ms", 18) ||
                 !strcmp(kv->key, "heartbeat.interval.ms") ||
                 !strcmp(kv->key, "auto.offset.reset") ||
                 !strcmp(kv->key, "partition.assignment.strategy") ||
                 !strcmp(kv->key, "max.poll.interval.ms") ||
                 !strcmp(kv->key, "group.instance.id")))
                continue;
            if (rd_kafka_conf_set(conf, kv->key, kv->value, errstr, errsz) != RD_KAFKA_CONF_OK)
                goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool kv_eq(const cw_config_kvlist_t *a, const cw_config_kvlist_t *b)
{
    if (a->count != b->count)
        return false;
    for (int i = 0; i < a->count; i++)
        if (!str_eq(kv_get(b, a->items[i].key), a->items[i].value))
            return false;
    return true;
}

void cw_config_diff_static(const cw_config_t *a, const cw_config_t *b, char *buf, size_t bufsz)
{
    size_t len = 0;
    buf[0] = '\0';
#define ADD(name)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(buf + len, bufsz - len, "%s%s", len ? ", " : "", name);                  \
        if (n_ > 0 && (size_t)n_ < bufsz - len)                                                    \
            len += (size_t)n_;                                                                     \
    } while (0)
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        const key_def_t *k = &key_defs[i];
        if (k->reloadable || k->type != KT_INT)
            continue;
        if (*(const int *)((const char *)a + k->offset) !=
            *(const int *)((const char *)b + k->offset)) {
            char name[96];
            snprintf(name, sizeof(name), "[%s] %s", k->section, k->name);
            ADD(name);
        }
    }
    if (!str_eq(a->pg_conninfo, b->pg_conninfo))
        ADD("[postgres] conninfo");
    bool topics_same = a->n_event_topics == b->n_event_topics;
    for (int i = 0; topics_same && i < a->n_event_topics; i++)
        topics_same = !strcmp(a->event_topics[i], b->event_topics[i]);
    if (!topics_same)
        ADD("[topics] events");
    if (!str_eq(a->dead_letter_topic, b->dead_letter_topic))
        ADD("[topics] dead_letter");
    if (!str_eq(a->alerts_topic, b->alerts_topic))
        ADD("[topics] alerts");
    if (!str_eq(a->metrics_topic, b->metrics_topic))
        ADD("[topics] metrics");
    if (!str_eq(a->admin_listen, b->admin_listen))
        ADD("[admin] listen");
    if (!kv_eq(&a->kafka, &b->kafka))
        ADD("[kafka]");
    if (!kv_eq(&a->kafka_consumer, &b->kafka_consumer))
        ADD("[kafka.consumer]");
    if (!kv_eq(&a->kafka_producer, &b->kafka_producer))
        ADD("[kafka.producer]");
#undef ADD
}

void cw_config_apply_reloadable(cw_config_t *dst, const cw_config_t *src)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(key_defs); i++) {
        const key_def_t *k = &key_defs[i];
        if (!k->reloadable)
            continue;
        char *d = (char *)dst + k->offset;
        const char *s = (const char *)src + k->offset;
        switch (k->type) {
        case KT_INT: *(int *)d = *(const int *)s; break;
        case KT_BOOL:
        case KT_CLOCK:
        case KT_LOGFORMAT: *(bool *)d = *(const bool *)s; break;
        case KT_LOGLEVEL: *(cw_log_level_t *)d = *(const cw_log_level_t *)s; break;
        case KT_STRING: {
            char **ds = (char **)d;
            free(*ds);
            *ds = *(char *const *)s ? cw_strdup(*(char *const *)s) : NULL;
            break;
        }
        case KT_LIST: break; /* none reloadable today */
        }
    }
}

/* ---- generic line-numbered INI parsing for other modules' files (rules) ------------- */

typedef struct ini_ctx {
    parse_ctx_t base; /* reuses the counting reader and the error buffer */
    cw_ini_fn fn;
    void *arg;
} ini_ctx_t;

static int on_generic_entry(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *ic = user;
    char why[256] = "";
    if (name && !ic->fn(ic->arg, ic->base.line, section, name, value, why, sizeof(why)))
        add_error(&ic->base, ic->base.line, "%s", why);
    return 1;
}

cw_err_t cw_ini_parse(const char *path, cw_ini_fn fn, void *arg, char *errstr, size_t errsz)
{
    if (errsz)
        errstr[0] = '\0';
    ini_ctx_t ic = {.base = {.path = path, .errbuf = errstr, .errsz = errsz}, .fn = fn, .arg = arg};
    ic.base.fp = fopen(path, "r");
    if (!ic.base.fp) {
        add_error(&ic.base, 0, "cannot open: %s", strerror(errno));
        return CW_ERR_CONFIG;
    }
    int rc = ini_parse_stream(counting_reader, &ic, on_generic_entry, &ic);
    fclose(ic.base.fp);
    if (rc > 0 && ic.base.nerrors == 0)
        add_error(&ic.base, rc, "syntax error: expected [section], key = value, or a ; comment");
    return ic.base.nerrors ? CW_ERR_CONFIG : CW_OK;
}

rd_kafka_conf_t *cw_kafka_conf_build(const char *const (*defaults)[2], size_t ndefaults,
                                     const char *const *props, size_t nprops, const char **bad,
                                     char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < ndefaults; i++) {
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, errsz) !=
            RD_KAFKA_CONF_OK) {
            *bad = defaults[i][0];
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    for (size_t i = 0; i < nprops; i++) {
        char *kv = cw_strdup(props[i]);
        char *eq = strchr(kv, '=');
        rd_kafka_conf_res_t res = RD_KAFKA_CONF_INVALID;
        if (eq) {
            *eq = '\0';
            res = rd_kafka_conf_set(conf, kv, eq + 1, errstr, errsz);
        } else {
            snprintf(errstr, errsz, "expected PROP=VALUE");
        }
        free(kv);
        if (res != RD_KAFKA_CONF_OK) {
            *bad = props[i];
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

const char *cw_config_group_id(const cw_config_t *cfg)
{
    const char *g = kv_get(&cfg->kafka_consumer, "group.id");
    return g ? g : kv_get(&cfg->kafka, "group.id");
}
