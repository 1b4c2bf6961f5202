/*
 * casewatch_broker.c — casewatch-broker: the embedded Kafka-protocol broker for the quick start
 * and the integration tests.
 *
 * It owns one librdkafka mock cluster (rdkafka_mock.h): N brokers on loopback ports the library
 * picks at random, so the bootstrap list is published twice — one line on stdout, and
 * atomically (tmp + fsync + rename) in --bootstrap-file, whose appearance tells a waiting script
 * that the cluster is ready. The process then sleeps in a libevent loop until SIGTERM/SIGINT.
 *
 * Fault injection for tests: on SIGUSR1 it reads --control-file, one command per line, applies
 * them to the cluster, and writes what it did to "<control-file>.ack" (again tmp + rename), the
 * last line being "done <n>" where n counts SIGUSR1s handled. A test removes the .ack file,
 * writes the commands, sends SIGUSR1 and waits for the .ack file to appear.
 *
 * Commands ('#' starts a comment; broker ID -1 means all brokers):
 *   broker-down ID                    disconnect the broker, refuse new connections
 *   broker-up ID                      accept connections again
 *   broker-rtt ID MS                  add MS milliseconds to every response
 *   partition-leader TOPIC PART ID    move a partition's leader (-1: leaderless)
 *   coordinator group|transaction KEY ID   pin a group / transactional id's coordinator
 *   request-errors APIKEY ERR [ERR..] fail the next requests of that API (Produce=0, Fetch=1,
 *                                     OffsetCommit=8, JoinGroup=11, ...) with these error codes
 *   clear-request-errors APIKEY       forget pushed errors for that API
 *
 * The mock cluster keeps everything in memory: topics, data, groups disappear at exit.
 * In librdkafka 2.0.2 its thread sometimes takes ~1 s to act on a request (startup, topic
 * creation, broker-up right after broker-down): wait for the bootstrap / .ack file, never sleep
 * a fixed time.
 */
#include "casewatch/common.h"
#include "casewatch/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BROKER_MAX_BROKERS       64
#define BROKER_MAX_PARTITIONS    10000
#define BROKER_MAX_TOPIC_LEN     249
#define BROKER_CONTROL_MAX_BYTES (64 * 1024)

typedef struct broker_topic {
    char *name;
    int partitions;
} broker_topic_t;

/* Everything main() builds, handed to the callbacks: no globals. */
typedef struct broker {
    int nbrokers;
    broker_topic_t *topics;
    size_t ntopics;
    const char *bootstrap_file; /* borrowed from argv */
    const char *control_file;   /* borrowed from argv, may be NULL */
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    struct event_base *base;
    unsigned long control_rounds;
} broker_t;

static const char *const default_topics[] = {
    "casewatch.case-events:8", "casewatch.hearing-events:8", "casewatch.dead-letters:4",
    "casewatch.alerts:4",      "casewatch.metrics:1",
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: casewatch-broker [--brokers N] [--topic NAME:PARTITIONS]...\n"
        "                        [--bootstrap-file PATH] [--control-file PATH]\n"
        "\n"
        "Runs an in-memory Kafka-protocol cluster (librdkafka mock cluster) on loopback\n"
        "until SIGTERM or SIGINT, and prints its bootstrap.servers list as one line.\n"
        "\n"
        "  --brokers N               number of brokers, 1..%d (default 1)\n"
        "  --topic NAME:PARTITIONS   create a topic (repeatable; default: "
        "casewatch.case-events:8,\n"
        "                            casewatch.hearing-events:8, casewatch.dead-letters:4,\n"
        "                            casewatch.alerts:4, casewatch.metrics:1)\n"
        "  --bootstrap-file PATH     also write the bootstrap list there (atomically)\n"
        "  --control-file PATH       on SIGUSR1 apply the commands in PATH, one per line:\n"
        "                              broker-down ID | broker-up ID | broker-rtt ID MS |\n"
        "                              partition-leader TOPIC PART ID |\n"
        "                              coordinator group|transaction KEY ID |\n"
        "                              request-errors APIKEY ERR... | clear-request-errors APIKEY\n"
        "                            and write the outcome to PATH.ack\n"
        "  --help                    this text\n",
        BROKER_MAX_BROKERS);
}

/* Strict decimal parse: the whole string must be an integer within [lo, hi]. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > BROKER_MAX_TOPIC_LEN)
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Parse "NAME:PARTITIONS" and append it; prints the reason and returns false when invalid. */
static bool topic_add(broker_t *b, const char *spec)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL) {
        fprintf(stderr, "casewatch-broker: --topic '%s': expected NAME:PARTITIONS\n", spec);
        return false;
    }
    size_t len = (size_t)(colon - spec);
    if (!topic_name_valid(spec, len)) {
        fprintf(stderr,
                "casewatch-broker: --topic '%s': topic names are 1..%d characters of "
                "[A-Za-z0-9._-], not '.' or '..'\n",
                spec, BROKER_MAX_TOPIC_LEN);
        return false;
    }
    long parts;
    if (!parse_int(colon + 1, 1, BROKER_MAX_PARTITIONS, &parts)) {
        fprintf(stderr, "casewatch-broker: --topic '%s': partitions must be 1..%d\n", spec,
                BROKER_MAX_PARTITIONS);
        return false;
    }
    for (size_t i = 0; i < b->ntopics; i++) {
        if (strlen(b->topics[i].name) == len && strncmp(b->topics[i].name, spec, len) == 0) {
            fprintf(stderr, "casewatch-broker: --topic '%.*s' given twice\n", (int)len, spec);
            return false;
        }
    }
    b->topics = cw_realloc(b->topics, (b->ntopics + 1) * sizeof(*b->topics));
    b->topics[b->ntopics].name = cw_strndup(spec, len);
    b->topics[b->ntopics].partitions = (int)parts;
    b->ntopics++;
    return true;
}

/*
 * Write contents to path via path.tmp + fsync + rename, so a reader polling for the file never
 * sees it half written. Returns false with errno-based message logged.
 */
static bool write_atomic(const char *path, const char *contents)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        cw_log_error("path too long: %s", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cw_log_error("cannot create %s: %s", tmp, strerror(errno));
        return false;
    }
    size_t len = strlen(contents), off = 0;
    while (off < len) {
        ssize_t n = write(fd, contents + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cw_log_error("cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return false;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        cw_log_error("cannot sync %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        cw_log_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* librdkafka's own log lines (the dummy producer, the mock cluster) go through our logger. */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* Expected for the anchor handle, which never connects anywhere: not worth a line. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers") != NULL)
        level = 7;
    if (level <= 3)
        cw_log_error("rdkafka %s: %s", fac, buf);
    else if (level <= 4)
        cw_log_warn("rdkafka %s: %s", fac, buf);
    else if (level <= 6)
        cw_log_info("rdkafka %s: %s", fac, buf);
    else
        cw_log_debug("rdkafka %s: %s", fac, buf);
}

static bool cluster_start(broker_t *b)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only anchors the mock cluster: it must not try to reach any broker. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", "", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "casewatch-broker", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        cw_log_error("rdkafka config: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return false;
    }
    rd_kafka_conf_set_log_cb(conf, rk_log_cb);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (b->rk == NULL) {
        cw_log_error("cannot create rdkafka handle: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return false;
    }
    b->mc = rd_kafka_mock_cluster_new(b->rk, b->nbrokers);
    if (b->mc == NULL) {
        cw_log_error("cannot create mock cluster with %d brokers", b->nbrokers);
        return false;
    }
    for (size_t i = 0; i < b->ntopics; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(b->mc, b->topics[i].name, b->topics[i].partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cw_log_error("cannot create topic %s: %s", b->topics[i].name, rd_kafka_err2str(err));
            return false;
        }
        cw_log_info("topic %s: %d partitions", b->topics[i].name, b->topics[i].partitions);
    }
    return true;
}

/* ---- control channel ------------------------------------------------------------------- */

/* Append printf output to a growing buffer (the .ack contents). */
static void ack_printf(char **buf, size_t *len, const char *fmt, ...) CW_PRINTF(3, 4);
static void ack_printf(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *buf = cw_realloc(*buf, *len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

#define CONTROL_MAX_ARGS 40

/*
 * Apply one command (already split into words). Returns NULL on success, or a static reason.
 * errbuf receives librdkafka's error name when the cluster rejects a well-formed command.
 */
static const char *control_apply(broker_t *b, int argc, char **argv, char *errbuf, size_t errsz)
{
    long id, v, part;
    rd_kafka_resp_err_t err;
    const char *cmd = argv[0];

    if (strcmp(cmd, "broker-down") == 0 || strcmp(cmd, "broker-up") == 0) {
        if (argc != 2 || !parse_int(argv[1], -1, INT32_MAX, &id))
            return "usage: broker-down|broker-up ID";
        err = cmd[7] == 'd' ? rd_kafka_mock_broker_set_down(b->mc, (int32_t)id)
                            : rd_kafka_mock_broker_set_up(b->mc, (int32_t)id);
    } else if (strcmp(cmd, "broker-rtt") == 0) {
        if (argc != 3 || !parse_int(argv[1], -1, INT32_MAX, &id) ||
            !parse_int(argv[2], 0, INT_MAX, &v))
            return "usage: broker-rtt ID MS";
        err = rd_kafka_mock_broker_set_rtt(b->mc, (int32_t)id, (int)v);
    } else if (strcmp(cmd, "partition-leader") == 0) {
        if (argc != 4 || !parse_int(argv[2], 0, INT32_MAX, &part) ||
            !parse_int(argv[3], -1, INT32_MAX, &id))
            return "usage: partition-leader TOPIC PARTITION ID";
        err = rd_kafka_mock_partition_set_leader(b->mc, argv[1], (int32_t)part, (int32_t)id);
    } else if (strcmp(cmd, "coordinator") == 0) {
        if (argc != 4 || (strcmp(argv[1], "group") != 0 && strcmp(argv[1], "transaction") != 0) ||
            !parse_int(argv[3], -1, INT32_MAX, &id))
            return "usage: coordinator group|transaction KEY ID";
        err = rd_kafka_mock_coordinator_set(b->mc, argv[1], argv[2], (int32_t)id);
    } else if (strcmp(cmd, "request-errors") == 0) {
        long apikey;
        if (argc < 3 || !parse_int(argv[1], 0, INT16_MAX, &apikey))
            return "usage: request-errors APIKEY ERR [ERR...]";
        rd_kafka_resp_err_t errs[CONTROL_MAX_ARGS];
        size_t n = 0;
        for (int i = 2; i < argc; i++) {
            if (!parse_int(argv[i], INT_MIN, INT_MAX, &v))
                return "usage: request-errors APIKEY ERR [ERR...] (numeric error codes)";
            errs[n++] = (rd_kafka_resp_err_t)v;
        }
        rd_kafka_mock_push_request_errors_array(b->mc, (int16_t)apikey, n, errs);
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else if (strcmp(cmd, "clear-request-errors") == 0) {
        long apikey;
        if (argc != 2 || !parse_int(argv[1], 0, INT16_MAX, &apikey))
            return "usage: clear-request-errors APIKEY";
        rd_kafka_mock_clear_request_errors(b->mc, (int16_t)apikey);
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else {
        return "unknown command";
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errsz, "%s", rd_kafka_err2name(err));
        return errbuf;
    }
    return NULL;
}

/* Read the whole control file (bounded) into a NUL-terminated buffer; NULL on failure. */
static char *control_read(const char *path, char *why, size_t whysz)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(why, whysz, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = cw_malloc(BROKER_CONTROL_MAX_BYTES + 1);
    size_t n = fread(buf, 1, BROKER_CONTROL_MAX_BYTES + 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || n > BROKER_CONTROL_MAX_BYTES) {
        snprintf(why, whysz, "%s: %s", path, bad ? "read error" : "larger than 64 KiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void control_run(broker_t *b)
{
    b->control_rounds++;
    char *ack = NULL;
    size_t acklen = 0;
    ack_printf(&ack, &acklen, "%s", "");

    if (b->control_file == NULL) {
        cw_log_warn("SIGUSR1 ignored: no --control-file given");
        free(ack);
        return;
    }
    char why[PATH_MAX + 64];
    char *text = control_read(b->control_file, why, sizeof(why));
    if (text == NULL) {
        cw_log_error("control: %s", why);
        ack_printf(&ack, &acklen, "error %s\n", why);
    } else {
        unsigned applied = 0, failed = 0, lineno = 0;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            lineno++;
            char *hash = strchr(line, '#');
            if (hash != NULL)
                *hash = '\0';
            char *argv[CONTROL_MAX_ARGS];
            int argc = 0;
            char *wsave = NULL;
            for (char *w = strtok_r(line, " \t\r", &wsave); w != NULL && argc < CONTROL_MAX_ARGS;
                 w = strtok_r(NULL, " \t\r", &wsave))
                argv[argc++] = w;
            if (argc == 0)
                continue;
            char errbuf[128];
            const char *reason = control_apply(b, argc, argv, errbuf, sizeof(errbuf));
            /* Re-join the words for the log and the ack (identifiers only, no free text). */
            char cmdline[512];
            size_t o = 0;
            cmdline[0] = '\0';
            for (int i = 0; i < argc && o < sizeof(cmdline); i++)
                o += (size_t)snprintf(cmdline + o, sizeof(cmdline) - o, "%s%s", i ? " " : "",
                                      argv[i]);
            if (reason == NULL) {
                applied++;
                cw_log_info("control: applied '%s'", cmdline);
                ack_printf(&ack, &acklen, "ok %s\n", cmdline);
            } else {
                failed++;
                cw_log_error("control: %s:%u: '%s': %s", b->control_file, lineno, cmdline, reason);
                ack_printf(&ack, &acklen, "error %s: %s\n", cmdline, reason);
            }
        }
        cw_log_info("control: %u command(s) applied, %u failed", applied, failed);
        free(text);
    }
    ack_printf(&ack, &acklen, "done %lu\n", b->control_rounds);
    char ackpath[PATH_MAX];
    if ((size_t)snprintf(ackpath, sizeof(ackpath), "%s.ack", b->control_file) < sizeof(ackpath))
        (void)write_atomic(ackpath, ack);
    free(ack);
}

/* ---- signals ---------------------------------------------------------------------------- */

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    broker_t *b = arg;
    (void)what;
    cw_log_info("signal %d: stopping", (int)sig);
    event_base_loopbreak(b->base);
}

static void on_control_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    control_run(arg);
}

static void broker_fini(broker_t *b)
{
    if (b->mc != NULL)
        rd_kafka_mock_cluster_destroy(b->mc);
    if (b->rk != NULL)
        rd_kafka_destroy(b->rk);
    for (size_t i = 0; i < b->ntopics; i++)
        free(b->topics[i].name);
    free(b->topics);
}

int main(int argc, char **argv)
{
    broker_t b = {.nbrokers = 1};
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'n'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'b'},
        {"control-file", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!parse_int(optarg, 1, BROKER_MAX_BROKERS, &v)) {
                fprintf(stderr, "casewatch-broker: --brokers '%s': expected 1..%d\n", optarg,
                        BROKER_MAX_BROKERS);
                goto bad_usage;
            }
            b.nbrokers = (int)v;
            break;
        case 't':
            if (!topic_add(&b, optarg))
                goto bad_usage;
            break;
        case 'b':
            if (*optarg == '\0') {
                fprintf(stderr, "casewatch-broker: --bootstrap-file needs a path\n");
                goto bad_usage;
            }
            b.bootstrap_file = optarg;
            break;
        case 'c':
            if (*optarg == '\0') {
                fprintf(stderr, "casewatch-broker: --control-file needs a path\n");
                goto bad_usage;
            }
            b.control_file = optarg;
            break;
        case 'h':
            usage(stdout);
            broker_fini(&b);
            return 0;
        default:
            if (optopt != 0)
                fprintf(stderr, "casewatch-broker: option '%s' needs a value or is unknown\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "casewatch-broker: unknown option '%s'\n", argv[optind - 1]);
            goto bad_usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "casewatch-broker: unexpected argument '%s'\n", argv[optind]);
        goto bad_usage;
    }
    if (b.ntopics == 0) {
        for (size_t i = 0; i < CW_ARRAY_LEN(default_topics); i++)
            (void)topic_add(&b, default_topics[i]);
    }

    /* A reader of our stdout may go away (a script that only wanted the first line). */
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    b.base = event_base_new();
    if (b.base == NULL) {
        cw_log_error("cannot create event base");
        broker_fini(&b);
        return 1;
    }
    struct event *ev_term = evsignal_new(b.base, SIGTERM, on_stop_signal, &b);
    struct event *ev_int = evsignal_new(b.base, SIGINT, on_stop_signal, &b);
    struct event *ev_usr1 = evsignal_new(b.base, SIGUSR1, on_control_signal, &b);
    if (ev_term == NULL || ev_int == NULL || ev_usr1 == NULL || event_add(ev_term, NULL) != 0 ||
        event_add(ev_int, NULL) != 0 || event_add(ev_usr1, NULL) != 0) {
        cw_log_error("cannot install signal events");
        goto out;
    }

    if (!cluster_start(&b))
        goto out;

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(b.mc);
    cw_log_info("mock cluster up: %d broker(s), %zu topic(s), bootstrap.servers=%s", b.nbrokers,
                b.ntopics, bootstraps);
    if (b.bootstrap_file != NULL) {
        size_t n = strlen(bootstraps) + 2;
        char *line = cw_malloc(n);
        snprintf(line, n, "%s\n", bootstraps);
        bool ok = write_atomic(b.bootstrap_file, line);
        free(line);
        if (!ok)
            goto out;
    }
    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
        /* stdout closed is not fatal: the bootstrap file is the durable channel. */
        cw_log_warn("cannot write bootstrap list to stdout: %s", strerror(errno));
    }

    if (event_base_dispatch(b.base) < 0) {
        cw_log_error("event loop failed");
        goto out;
    }
    rc = 0;

out:
    if (b.bootstrap_file != NULL && b.mc != NULL)
        unlink(b.bootstrap_file); /* the ports are about to close: don't advertise them */
    if (ev_term != NULL)
        event_free(ev_term);
    if (ev_int != NULL)
        event_free(ev_int);
    if (ev_usr1 != NULL)
        event_free(ev_usr1);
    broker_fini(&b);
    event_base_free(b.base);
    libevent_global_shutdown();
    cw_log_info("stopped");
    return rc;

bad_usage:
    fprintf(stderr, "try 'casewatch-broker --help'\n");
    broker_fini(&b);
    return 2;
}
