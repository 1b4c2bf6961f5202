/*
 * casewatch_latency.c — casewatch-latency: event → alert latency of a running casewatchd
 * (benchmark, issue [D]).
 *
 *   casewatch-latency -b BOOTSTRAP [--rate EPS] [--seconds S] [--warmup S] [--drain S]
 *                     [--topic T] [--alerts-topic T] [--burst-ms MS] [--prefix P]
 *                     [--alert-every N] [--linger-ms MS]
 *
 * Publishes case_opened events at a steady rate (small bursts every --burst-ms) for distinct
 * new cases. Every N-th event (--alert-every, default 1 = all) is a probe: its case's
 * issued_at is 60 weeks before now, so with casewatchd's default rules and the wall clock
 * open_52_weeks (and duty_awaiting_allocation) fire on the event itself, and its alert
 * notifications name it in causes[0].event_id. The other events open cases issued today,
 * which arm deadlines but raise nothing yet: the load the probes travel through. At the same time it
 * reads the alerts topic from its current end (all partitions assigned at their high
 * watermarks, no consumer group) and, for the first alert of each event, records
 * latency = alert receive time − event send time (both CLOCK_MONOTONIC in this process; the
 * send time is taken just before rd_kafka_producev()).
 *
 * Latency is measured on the probes. Events sent during the first --warmup seconds are not
 * counted. After --seconds of measured
 * load it waits up to --drain seconds for the alerts still due, then prints count, p50, p90,
 * p99 and max in milliseconds; events whose alert never arrived count as missing and as
 * +infinity in the percentiles. The last line is machine-readable:
 *   RESULT sent=N measured=M received=R missing=K p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
 *          rate=..
 *
 * Exit status: 0 measured, 1 a Kafka failure, 2 bad usage.
 */
#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/evbuild.h"
#include "casewatch/v1/alert.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WEEK_MS (7LL * 86400000LL)

typedef struct lat_opts {
    const char *bootstrap;
    const char *topic;
    const char *alerts_topic;
    double rate;
    double seconds;
    double warmup;
    double drain;
    int burst_ms;
    const char *prefix;
    uint64_t every;
    const char *linger;
} lat_opts_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: casewatch-latency -b BOOTSTRAP [options]\n"
            "\n"
            "Measure event -> alert latency of a running casewatchd (default rules, wall clock).\n"
            "\n"
            "  -b, --bootstrap HOSTS   Kafka bootstrap servers (required)\n"
            "      --rate EPS          events per second (default 10000)\n"
            "      --seconds S         measured duration after the warm-up (default 20)\n"
            "      --warmup S          seconds of load not counted (default 3)\n"
            "      --drain S           wait at most S s after the last event (default 10)\n"
            "      --burst-ms MS       send a burst every MS milliseconds (default 2)\n"
            "      --topic T           event topic (default casewatch.case-events)\n"
            "      --alerts-topic T    alerts topic (default casewatch.alerts)\n"
            "      --prefix P          id prefix (default lat<pid>)\n"
            "      --alert-every N     every N-th event raises alerts and is measured; the\n"
            "                          others raise none (default 1: every event)\n"
            "      --linger-ms MS      the producer's linger.ms (default 1; counted in the\n"
            "                          latency, since the send time is taken before it)\n"
            "  -h, --help              this text\n");
}

static int parse_num(const char *name, const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo)) {
        fprintf(stderr, "casewatch-latency: --%s expects a number >= %g\n", name, lo);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- Kafka clients ----------------------------------------------------------------------- */

typedef struct dr_state {
    uint64_t ok, failed;
} dr_state_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dr_state_t *s = opaque;
    if (m->err) {
        if (s->failed++ < 5)
            fprintf(stderr, "casewatch-latency: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        s->ok++;
    }
}

static rd_kafka_t *make_client(rd_kafka_type_t type, const char *const (*kv)[2], size_t n,
                               dr_state_t *dr)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "casewatch-latency: %s=%s: %s\n", kv[i][0], kv[i][1], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    if (dr) {
        rd_kafka_conf_set_opaque(conf, dr);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "casewatch-latency: cannot create client: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Assign every partition of the alerts topic at its current high watermark. */
static int assign_at_end(rd_kafka_t *c, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(c, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "casewatch-latency: no metadata for %s: %s\n", topic,
                err ? rd_kafka_err2str(err)
                    : md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        int64_t lo = -1, hi = -1;
        err = rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "casewatch-latency: %s [%d]: watermarks: %s\n", topic, p,
                    rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(l);
            return -1;
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    err = rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        fprintf(stderr, "casewatch-latency: assign: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    return np;
}

/* ---- events ------------------------------------------------------------------------------ */

static const char *const areas[] = {"essex-chelmsford", "london-west",  "london-central",
                                    "london-east",      "dorset",       "cardiff",
                                    "norfolk-norwich",  "north-wales"};

/* Encode event seq into buf (returns its length); case id into key. */
static size_t build_event(const char *prefix, uint64_t seq, bool probe, int64_t now_ms,
                          uint8_t *buf, size_t cap, char *key, size_t keysz)
{
    char event_id[96], child[112];
    snprintf(event_id, sizeof event_id, "%s-%s-%" PRIu64, prefix, probe ? "evt" : "bg", seq);
    snprintf(key, keysz, "%s-case-%" PRIu64, prefix, seq);
    snprintf(child, sizeof child, "%s-child-%" PRIu64, prefix, seq);
    char *children[1] = {child};

    Casewatch__V1__Event ev;
    cw_evbuild_payload_t p;
    cw_evbuild_envelope(&ev, event_id, key, "casewatch-latency", now_ms);
    Casewatch__V1__CaseOpened *m =
        cw_evbuild_payload(&ev, &p, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    m->case_type = CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WTFH;
    m->court_area = (char *)areas[seq % CW_ARRAY_LEN(areas)];
    m->service_area = "osa-latency";
    m->team = "team-latency";
    /* a probe's open_52_weeks is due already; the others' deadlines are weeks away */
    m->issued_at = probe ? now_ms - 60 * WEEK_MS : now_ms;
    m->n_child_ids = 1;
    m->child_ids = children;
    size_t len = casewatch__v1__event__get_packed_size(&ev);
    if (len > cap)
        return 0;
    if (seq == 0) { /* the stream is valid by construction; check once */
        char reason[256];
        if (cw_event_validate(&ev, now_ms, reason, sizeof reason) != CW_REJECT_NONE) {
            fprintf(stderr, "casewatch-latency: internal error: event invalid: %s\n", reason);
            return 0;
        }
    }
    return casewatch__v1__event__pack(&ev, buf);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile (nearest rank) in ms of sorted v[0..n), INT64_MAX entries = missing. */
static double pct_ms(const int64_t *v, size_t n, double q)
{
    if (!n)
        return NAN;
    size_t k = (size_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    int64_t x = v[k - 1];
    return x == INT64_MAX ? INFINITY : (double)x / 1e6;
}

int main(int argc, char **argv)
{
    enum { O_RATE = 256, O_SECONDS, O_WARMUP, O_DRAIN, O_BURST, O_TOPIC, O_ATOPIC, O_PREFIX,
           O_EVERY, O_LINGER };
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, O_RATE},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"drain", required_argument, NULL, O_DRAIN},
        {"burst-ms", required_argument, NULL, O_BURST},
        {"topic", required_argument, NULL, O_TOPIC},
        {"alerts-topic", required_argument, NULL, O_ATOPIC},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"alert-every", required_argument, NULL, O_EVERY},
        {"linger-ms", required_argument, NULL, O_LINGER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lat_opts_t o = {
        .topic = "casewatch.case-events",
        .alerts_topic = "casewatch.alerts",
        .rate = 10000,
        .seconds = 20,
        .warmup = 3,
        .drain = 10,
        .burst_ms = 2,
        .every = 1,
        .linger = "1",
    };
    char prefix_buf[32];
    snprintf(prefix_buf, sizeof prefix_buf, "lat%ld", (long)getpid());
    o.prefix = prefix_buf;
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o.bootstrap = optarg; break;
        case O_RATE:
            if (parse_num("rate", optarg, 1, &o.rate))
                return 2;
            break;
        case O_SECONDS:
            if (parse_num("seconds", optarg, 0.1, &o.seconds))
                return 2;
            break;
        case O_WARMUP:
            if (parse_num("warmup", optarg, 0, &o.warmup))
                return 2;
            break;
        case O_DRAIN:
            if (parse_num("drain", optarg, 0, &o.drain))
                return 2;
            break;
        case O_BURST:
            if (parse_num("burst-ms", optarg, 1, &v) || v > 1000)
                return 2;
            o.burst_ms = (int)v;
            break;
        case O_EVERY:
            if (parse_num("alert-every", optarg, 1, &v) || v > 1e6)
                return 2;
            o.every = (uint64_t)v;
            break;
        case O_LINGER:
            if (parse_num("linger-ms", optarg, 0, &v) || v > 1000)
                return 2;
            o.linger = optarg;
            break;
        case O_TOPIC: o.topic = optarg; break;
        case O_ATOPIC: o.alerts_topic = optarg; break;
        case O_PREFIX:
            if (!*optarg || strlen(optarg) > 40 || strchr(optarg, ' ')) {
                fprintf(stderr, "casewatch-latency: --prefix must be 1..40 bytes, no spaces\n");
                return 2;
            }
            o.prefix = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.bootstrap || !*o.bootstrap) {
        usage(stderr);
        return 2;
    }

    uint64_t total = (uint64_t)ceil(o.rate * (o.warmup + o.seconds));
    uint64_t warm_n = (uint64_t)ceil(o.rate * o.warmup);
    int64_t *sent_ns = cw_calloc(total ? total : 1, sizeof *sent_ns);
    int64_t *lat_ns = cw_malloc((total ? total : 1) * sizeof *lat_ns);
    for (uint64_t i = 0; i < total; i++)
        lat_ns[i] = INT64_MAX;

    dr_state_t dr = {0};
    const char *const pconf[][2] = {
        {"bootstrap.servers", o.bootstrap}, {"acks", "all"},
        {"linger.ms", o.linger},            {"client.id", "casewatch-latency"},
        {"queue.buffering.max.messages", "1000000"},
    };
    char group[64];
    snprintf(group, sizeof group, "%s-reader", o.prefix);
    const char *const cconf[][2] = {
        {"bootstrap.servers", o.bootstrap}, {"group.id", group},
        {"enable.auto.commit", "false"},    {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "10"},        {"client.id", "casewatch-latency-reader"},
    };
    rd_kafka_t *prod = make_client(RD_KAFKA_PRODUCER, pconf, CW_ARRAY_LEN(pconf), &dr);
    rd_kafka_t *cons = make_client(RD_KAFKA_CONSUMER, cconf, CW_ARRAY_LEN(cconf), NULL);
    if (!prod || !cons)
        return 1;
    rd_kafka_poll_set_consumer(cons);
    int np = assign_at_end(cons, o.alerts_topic);
    if (np < 0)
        return 1;
    /* let the fetchers start at the assigned offsets before the first event goes out */
    for (int i = 0; i < 10; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 50);
        if (m)
            rd_kafka_message_destroy(m);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr,
            "casewatch-latency: %s: %d partition(s) from the end; sending %" PRIu64
            " events at %.0f/s (%.1f s warm-up + %.1f s measured) to %s\n",
            o.alerts_topic, np, total, o.rate, o.warmup, o.seconds, o.topic);

    uint8_t buf[1024];
    char key[96];
    uint64_t sent = 0, received = 0, measured_rx = 0, other_alerts = 0, alerts_ours = 0;
    int64_t t0 = mono_ns(), t_last_send = 0;
    int64_t burst_ns = (int64_t)o.burst_ms * 1000000LL;
    int64_t next_burst = t0;
    size_t prefix_len = strlen(o.prefix);
    int rc = 0;

    for (;;) {
        int64_t now = mono_ns();
        if (sent < total && now >= next_burst && !stop_flag) {
            uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * o.rate) + 1;
            if (due > total)
                due = total;
            int64_t wall = cw_now_ms();
            for (; sent < due; sent++) {
                size_t len = build_event(o.prefix, sent, sent % o.every == 0, wall, buf,
                                         sizeof buf, key, sizeof key);
                if (!len) {
                    rc = 1;
                    goto done;
                }
                sent_ns[sent] = mono_ns();
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    prod, RD_KAFKA_V_TOPIC(o.topic), RD_KAFKA_V_KEY(key, strlen(key)),
                    RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END);
                if (err) {
                    fprintf(stderr, "casewatch-latency: produce: %s\n", rd_kafka_err2str(err));
                    rc = 1;
                    goto done;
                }
            }
            if (sent == total)
                t_last_send = mono_ns();
            next_burst += burst_ns;
            if (next_burst < now - burst_ns)
                next_burst = now; /* fell behind: do not try to catch up in one go */
        }
        rd_kafka_poll(prod, 0);
        if (sent == total || stop_flag) {
            if (!t_last_send)
                t_last_send = now;
            uint64_t want = 0; /* probes after the warm-up */
            for (uint64_t i = warm_n; i < total; i++)
                want += i % o.every == 0;
            if (measured_rx >= want || now - t_last_send > (int64_t)(o.drain * 1e9) ||
                (stop_flag && now - t_last_send > 1000000000LL))
                break;
        }
        int64_t wait_ns = sent < total ? next_burst - mono_ns() : 5000000;
        int wait_ms = wait_ns > 0 ? (int)((wait_ns + 999999) / 1000000) : 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, wait_ms);
        while (m) {
            int64_t rx = mono_ns();
            if (!m->err) {
                Casewatch__V1__Alert *a =
                    casewatch__v1__alert__unpack(NULL, m->len, (const uint8_t *)m->payload);
                const char *eid = a && a->n_causes > 0 && a->causes[0] ? a->causes[0]->event_id
                                                                        : NULL;
                if (eid && !strncmp(eid, o.prefix, prefix_len) &&
                    !strncmp(eid + prefix_len, "-evt-", 5)) {
                    uint64_t seq = strtoull(eid + prefix_len + 5, NULL, 10);
                    alerts_ours++;
                    if (seq < sent && lat_ns[seq] == INT64_MAX) {
                        lat_ns[seq] = rx - sent_ns[seq];
                        received++;
                        if (seq >= warm_n)
                            measured_rx++;
                    }
                } else {
                    other_alerts++;
                }
                if (a)
                    casewatch__v1__alert__free_unpacked(a, NULL);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "casewatch-latency: alerts consumer: %s\n",
                        rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            m = rd_kafka_consumer_poll(cons, 0);
        }
    }

done:;
    double send_s = (double)((t_last_send ? t_last_send : mono_ns()) - t0) / 1e9;
    rd_kafka_flush(prod, 5000);
    uint64_t measured = 0; /* the probes sent after the warm-up */
    int64_t *v_ns = cw_malloc((sent > warm_n ? sent - warm_n : 1) * sizeof *v_ns);
    for (uint64_t i = warm_n; i < sent; i++)
        if (i % o.every == 0)
            v_ns[measured++] = lat_ns[i];
    qsort(v_ns, measured, sizeof *v_ns, cmp_i64);
    uint64_t missing = measured - measured_rx;
    double p50 = pct_ms(v_ns, measured, 0.50), p90 = pct_ms(v_ns, measured, 0.90),
           p99 = pct_ms(v_ns, measured, 0.99);
    double mx = measured_rx ? (double)v_ns[measured_rx - 1] / 1e6 : NAN;
    double achieved = send_s > 0 ? (double)sent / send_s : 0;
    printf("latency: sent %" PRIu64 " events in %.2f s (%.0f/s), one in %" PRIu64
           " raising alerts; %" PRIu64 " of those measured after a %.1f s warm-up; first alert"
           " received for %" PRIu64 ", missing %" PRIu64
           " (delivery failures %" PRIu64 ", our alerts %" PRIu64 ", other alerts %" PRIu64 ")\n",
           sent, send_s, achieved, o.every, measured, o.warmup, measured_rx, missing, dr.failed,
           alerts_ours, other_alerts);
    printf("latency: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms%s\n", p50, p90, p99, mx,
           missing ? "  (missing alerts count as +inf)" : "");
    printf("RESULT sent=%" PRIu64 " measured=%" PRIu64 " received=%" PRIu64 " missing=%" PRIu64
           " p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f rate=%.0f\n",
           sent, measured, measured_rx, missing, p50, p90, p99, mx, achieved);
    fflush(stdout);
    if (dr.failed)
        rc = 1;

    free(v_ns);
    free(sent_ns);
    free(lat_ns);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    return rc;
}
