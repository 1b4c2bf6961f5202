/*
 * casewatch_naive.c — casewatch-naive: the baseline consumer for the benchmark (issue [D]).
 *
 *   casewatch-naive -b BOOTSTRAP -t TOPIC[,TOPIC] --db CONNINFO [--group G]
 *                   [--count N | --seconds S] [-X prop=value]...
 *
 * What a team would write first: a plain librdkafka consumer-group consumer (a blocking
 * rd_kafka_consumer_poll() loop, no event loop) that applies EACH message in its own
 * PostgreSQL transaction, with blocking libpq calls:
 *
 *   BEGIN
 *   INSERT INTO event_log ... ON CONFLICT (event_id) DO NOTHING      -- de-duplication
 *   INSERT INTO cases ... ON CONFLICT (case_id) DO UPDATE event_count + 1, last_event_at
 *                                                   (only when the event was new)
 *   (or, for a message that does not decode: INSERT INTO dead_letters ... DO NOTHING)
 *   INSERT INTO consumer_offsets ... ON CONFLICT DO UPDATE next_offset = offset + 1
 *   COMMIT
 *
 * Offsets live in PostgreSQL with the effects (Kafka's committed offsets are never written):
 * on assignment the stored next offsets are read and the partitions assigned there. For one
 * consumer this is exactly-once — simple and correct, one transaction (five round trips and
 * one WAL flush) per event. It uses the tables casewatchd creates (deploy/sql); it keeps no
 * case state beyond the row counters.
 *
 * Timing starts at the first message (the group join is excluded). --count N stops after N
 * messages, --seconds S after S seconds; either way it prints the elapsed time and the rate
 * ("naive: N messages in S s = R msg/s"). INT/TERM stop early and print the same.
 *
 * Exit status: 0 done, 1 a Kafka or PostgreSQL failure, 2 bad usage.
 */
#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAIVE_MAX_TOPICS 16

typedef struct naive {
    PGconn *db;
    rd_kafka_t *rk;
    const char *topics[NAIVE_MAX_TOPICS];
    int ntopics;
    uint64_t count_limit;
    double seconds_limit;
    uint64_t done;        /* messages applied (committed) */
    uint64_t applied;     /* of which new events */
    uint64_t duplicates;  /* of which already in event_log */
    uint64_t dead;        /* of which dead-lettered */
    double t_first;       /* monotonic seconds of the first message, 0 = none yet */
    bool failed;
} naive_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: casewatch-naive -b BOOTSTRAP -t TOPIC[,TOPIC] --db CONNINFO [options]\n"
            "\n"
            "The benchmark baseline: one PostgreSQL transaction per Kafka message.\n"
            "\n"
            "  -b, --bootstrap HOSTS  Kafka bootstrap servers (required)\n"
            "  -t, --topic T[,T]      topics to consume (required; repeatable)\n"
            "      --db CONNINFO      libpq connection string of a casewatch database (required)\n"
            "      --group G          consumer group id (default casewatch-naive)\n"
            "      --count N          stop after N messages\n"
            "      --seconds S        stop S seconds after the first message\n"
            "  -X  PROP=VALUE         extra librdkafka consumer property (repeatable)\n"
            "  -h, --help             this text\n");
}

/* ---- PostgreSQL -------------------------------------------------------------------------- */

static bool exec_ok(naive_t *n, PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return true;
    fprintf(stderr, "casewatch-naive: %s: %s", what, PQerrorMessage(n->db));
    n->failed = true;
    return false;
}

static bool simple(naive_t *n, const char *sql)
{
    PGresult *r = PQexec(n->db, sql);
    bool ok = exec_ok(n, r, sql);
    PQclear(r);
    return ok;
}

static const char SQL_EVENT[] =
    "INSERT INTO event_log (event_id, case_id, kind, occurred_at, topic, kpartition, koffset) "
    "VALUES ($1, NULLIF($2, ''), $3, timestamptz 'epoch' + $4::bigint * interval '1 ms', $5, $6,"
    " $7) ON CONFLICT (event_id) DO NOTHING";
static const char SQL_CASE[] =
    "INSERT INTO cases (case_id, kpartition, event_count, first_event_at, last_event_at) "
    "VALUES ($1, $2, 1, timestamptz 'epoch' + $3::bigint * interval '1 ms',"
    " timestamptz 'epoch' + $3::bigint * interval '1 ms') "
    "ON CONFLICT (case_id) DO UPDATE SET event_count = cases.event_count + 1,"
    " kpartition = excluded.kpartition,"
    " first_event_at = least(cases.first_event_at, excluded.first_event_at),"
    " last_event_at = greatest(cases.last_event_at, excluded.last_event_at),"
    " updated_at = now()";
static const char SQL_DEAD[] =
    "INSERT INTO dead_letters (reason, detail, topic, kpartition, koffset, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic, kpartition, koffset) DO NOTHING";
static const char SQL_OFFSET[] =
    "INSERT INTO consumer_offsets (topic, kpartition, next_offset) VALUES ($1, $2, $3) "
    "ON CONFLICT (topic, kpartition) DO UPDATE SET next_offset = excluded.next_offset,"
    " updated_at = now()";
static const char SQL_READ_OFFSET[] =
    "SELECT next_offset FROM consumer_offsets WHERE topic = $1 AND kpartition = $2";

/* Apply one message in one transaction. Returns false on a database failure. */
static bool apply_message(naive_t *n, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    char part[16], off[24], next[24], at[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    snprintf(next, sizeof next, "%" PRId64, m->offset + 1);

    char reason[256];
    cw_event_t ev = {0};
    cw_reject_t rej = cw_event_decode(m->payload, m->len, 1048576, cw_now_ms(), &ev, reason,
                                      sizeof reason);
    if (!simple(n, "BEGIN")) {
        cw_event_fini(&ev);
        return false;
    }
    bool ok = true;
    if (rej != CW_REJECT_NONE) {
        const char *v[6] = {cw_reject_name(rej), reason, topic, part, off, (const char *)m->payload};
        int len[6] = {0, 0, 0, 0, 0, (int)m->len};
        int fmt[6] = {0, 0, 0, 0, 0, 1};
        PGresult *r = PQexecParams(n->db, SQL_DEAD, 6, NULL, v, len, fmt, 0);
        ok = exec_ok(n, r, "insert dead letter");
        PQclear(r);
        n->dead++;
    } else {
        const Casewatch__V1__Event *e = ev.pb;
        const char *case_id = e->case_id ? e->case_id : "";
        snprintf(at, sizeof at, "%" PRId64, e->occurred_at);
        const char *v[7] = {e->event_id, case_id, cw_event_kind_name(ev.kind), at, topic, part, off};
        PGresult *r = PQexecParams(n->db, SQL_EVENT, 7, NULL, v, NULL, NULL, 0);
        ok = exec_ok(n, r, "insert event");
        bool is_new = ok && atoi(PQcmdTuples(r)) == 1;
        PQclear(r);
        if (ok && is_new && *case_id) {
            const char *cv[3] = {case_id, part, at};
            r = PQexecParams(n->db, SQL_CASE, 3, NULL, cv, NULL, NULL, 0);
            ok = exec_ok(n, r, "upsert case");
            PQclear(r);
        }
        if (is_new)
            n->applied++;
        else
            n->duplicates++;
    }
    cw_event_fini(&ev);
    if (ok) {
        const char *v[3] = {topic, part, next};
        PGresult *r = PQexecParams(n->db, SQL_OFFSET, 3, NULL, v, NULL, NULL, 0);
        ok = exec_ok(n, r, "store offset");
        PQclear(r);
    }
    if (ok)
        ok = simple(n, "COMMIT");
    else
        simple(n, "ROLLBACK");
    return ok;
}

/* ---- Kafka ------------------------------------------------------------------------------- */

/* Assignment: start every partition at the offset stored in PostgreSQL (or the beginning). */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    naive_t *n = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            char part[16];
            snprintf(part, sizeof part, "%" PRId32, parts->elems[i].partition);
            const char *v[2] = {parts->elems[i].topic, part};
            PGresult *r = PQexecParams(n->db, SQL_READ_OFFSET, 2, NULL, v, NULL, NULL, 0);
            int64_t off = RD_KAFKA_OFFSET_BEGINNING;
            if (exec_ok(n, r, "read offsets") && PQntuples(r) == 1) {
                off = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                if (off < 0)
                    off = RD_KAFKA_OFFSET_BEGINNING;
            }
            PQclear(r);
            parts->elems[i].offset = off;
        }
        fprintf(stderr, "casewatch-naive: %d partition(s) assigned\n", parts->cnt);
        rd_kafka_assign(rk, parts);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static rd_kafka_t *consumer_new(naive_t *n, const char *bootstrap, const char *group,
                                const char **props, size_t nprops)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", bootstrap},     {"group.id", group},
        {"enable.auto.commit", "false"},      {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},    {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "500"},     {"client.id", "casewatch-naive"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(defaults); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            goto bad;
    for (size_t i = 0; i < nprops; i++) {
        char *kv = cw_strdup(props[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof errstr);
        free(kv);
        if (res != RD_KAFKA_CONF_OK)
            goto bad;
    }
    rd_kafka_conf_set_opaque(conf, n);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "casewatch-naive: cannot create consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
bad:
    fprintf(stderr, "casewatch-naive: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void report(const naive_t *n)
{
    double el = n->t_first > 0 ? cw_tools_mono_s() - n->t_first : 0;
    printf("naive: %" PRIu64 " messages in %.3f s = %.0f msg/s (applied %" PRIu64
           ", duplicates %" PRIu64 ", dead letters %" PRIu64 ")\n",
           n->done, el, el > 0 ? (double)n->done / el : 0.0, n->applied, n->duplicates,
           n->dead);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    enum { O_DB = 256, O_GROUP, O_COUNT, O_SECONDS };
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'}, {"topic", required_argument, NULL, 't'},
        {"db", required_argument, NULL, O_DB},       {"group", required_argument, NULL, O_GROUP},
        {"count", required_argument, NULL, O_COUNT}, {"seconds", required_argument, NULL, O_SECONDS},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    naive_t n = {0};
    const char *bootstrap = NULL, *conninfo = NULL, *group = "casewatch-naive";
    const char **props = cw_calloc((size_t)argc + 1, sizeof *props);
    size_t nprops = 0;
    char *topic_buf[NAIVE_MAX_TOPICS];
    int ntopic_buf = 0;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, "b:t:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bootstrap = optarg; break;
        case 't': {
            char *dup = cw_strdup(optarg), *save = NULL;
            if (ntopic_buf < NAIVE_MAX_TOPICS)
                topic_buf[ntopic_buf++] = dup;
            for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n.ntopics == NAIVE_MAX_TOPICS) {
                    fprintf(stderr, "casewatch-naive: at most %d topics\n", NAIVE_MAX_TOPICS);
                    return 2;
                }
                n.topics[n.ntopics++] = tok;
            }
            break;
        }
        case 'X':
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "casewatch-naive: -X expects PROP=VALUE\n");
                return 2;
            }
            props[nprops++] = optarg;
            break;
        case O_DB: conninfo = optarg; break;
        case O_GROUP: group = optarg; break;
        case O_COUNT: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || v == 0) {
                fprintf(stderr, "casewatch-naive: --count expects a positive integer\n");
                return 2;
            }
            n.count_limit = v;
            break;
        }
        case O_SECONDS: {
            char *end;
            errno = 0;
            n.seconds_limit = strtod(optarg, &end);
            if (errno || *end || !(n.seconds_limit > 0)) {
                fprintf(stderr, "casewatch-naive: --seconds expects a positive number\n");
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !bootstrap || !*bootstrap || !n.ntopics || !conninfo) {
        usage(stderr);
        return 2;
    }

    n.db = PQconnectdb(conninfo);
    if (PQstatus(n.db) != CONNECTION_OK) {
        fprintf(stderr, "casewatch-naive: cannot connect to PostgreSQL: %s", PQerrorMessage(n.db));
        PQfinish(n.db);
        return 1;
    }
    n.rk = consumer_new(&n, bootstrap, group, props, nprops);
    if (!n.rk) {
        PQfinish(n.db);
        return 1;
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(n.ntopics);
    for (int i = 0; i < n.ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, n.topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(n.rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        fprintf(stderr, "casewatch-naive: subscribe: %s\n", rd_kafka_err2str(err));
        rc = 1;
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    while (!stop_flag && !n.failed) {
        if (n.count_limit && n.done >= n.count_limit)
            break;
        if (n.seconds_limit > 0 && n.t_first > 0 && cw_tools_mono_s() - n.t_first >= n.seconds_limit)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(n.rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "casewatch-naive: consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (n.t_first == 0)
            n.t_first = cw_tools_mono_s();
        if (apply_message(&n, m))
            n.done++;
        rd_kafka_message_destroy(m);
    }
    if (n.failed)
        rc = 1;
    report(&n);
out:
    rd_kafka_consumer_close(n.rk);
    rd_kafka_destroy(n.rk);
    PQfinish(n.db);
    for (int i = 0; i < ntopic_buf; i++)
        free(topic_buf[i]);
    free(props);
    return rc;
}
