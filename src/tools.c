/*
 * tools.c — the helpers the command-line tools share (see tools.h). Owns nothing: every
 * buffer is the caller's, and a producer once created belongs to the caller.
 */
#include "casewatch/tools.h"
#include "casewatch/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cw_tools_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cw_tools_add_prop(const char *prog, const char *arg, const char **props, size_t *nprops)
{
    if (!strchr(arg, '=') || arg[0] == '=') {
        fprintf(stderr, "%s: -X expects PROP=VALUE, got \"%s\"\n", prog, arg);
        return 2;
    }
    props[(*nprops)++] = arg;
    return 0;
}

int cw_tools_no_operands(const char *prog, int argc, char **argv, int first)
{
    if (first < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[first]);
        return 2;
    }
    return 0;
}

uint32_t cw_tools_rand_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(cw_splitmix64(state) % n);
}

double cw_tools_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

rd_kafka_t *cw_tools_producer_new(const char *prog, const char *const (*defaults)[2],
                                  size_t ndefaults, const char *const *props, size_t nprops,
                                  void *opaque, cw_tools_dr_fn *dr_msg_cb,
                                  cw_tools_error_fn *error_cb, bool *bad_conf)
{
    char errstr[512];
    const char *bad = NULL;
    rd_kafka_conf_t *conf =
        cw_kafka_conf_build(defaults, ndefaults, props, nprops, &bad, errstr, sizeof errstr);
    if (!conf) {
        /* a refused -X argument is shown as the user typed it */
        fprintf(stderr, "%s: %s%s: %s\n", prog, strchr(bad, '=') ? "-X " : "", bad, errstr);
        *bad_conf = true;
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "%s: cannot create producer: %s\n", prog, errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rk; /* owns conf now */
}

int cw_tools_producer_learn_topics(const char *prog, rd_kafka_t *rk, const char *const *topics,
                                   size_t ntopics, int timeout_ms)
{
    int rc = 0;
    for (size_t i = 0; i < ntopics; i++) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            t ? rd_kafka_metadata(rk, 0, t, &md, timeout_ms) : rd_kafka_last_error();
        if (!err && (md->topic_cnt != 1 || md->topics[0].err))
            err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (err) {
            fprintf(stderr, "%s: topic %s: %s (producing anyway)\n", prog, topics[i],
                    rd_kafka_err2str(err));
            rc = -1;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
    }
    return rc;
}

bool cw_tools_kafka_error(const char *prog, rd_kafka_t *rk, int err, const char *reason)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        fprintf(stderr, "%s: fatal producer error: %s\n", prog, buf);
        return true;
    }
    fprintf(stderr, "%s: kafka: %s\n", prog, reason);
    return false;
}
