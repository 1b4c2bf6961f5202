/*
 * casewatch_seed_cases.c — casewatch-seed-cases: bulk-load N open cases into an already
 * migrated casewatch database, for the reload-time and memory-per-case measurement
 * (benchmark, issue [D]).
 *
 *   casewatch-seed-cases --db CONNINFO [--cases N] [--partitions P] [--topics T1,T2]
 *                        [--next-offset O] [--seed S] [--prefix P] [--batch K]
 *
 * Each case gets realistic state built with the casebook itself — the same code the daemon
 * runs — from hand-built events: a case_opened issued 0–3 days ago (case type from the
 * national mix, one of ten court areas, 1–2 children), an allocation to a worker a few hours
 * later, and for about half of them a child_seen (in person for most). Recent cases allocated
 * to a worker have no obligation due or pending yet, so loading them raises no alerts: what
 * is measured is the cases and their deadlines. The state is serialised with
 * cw_casebook_pack() and written, with the case row columns casewatchd writes, through one
 * COPY (text format, bytea as \\x hex). Every K cases (--batch) the casebook is destroyed, so
 * the seeder never holds more than K cases.
 *
 * Each case's kpartition is the partition librdkafka's default partitioner gives its case_id
 * (CRC32 of the key modulo P, "consistent_random"), as if its events had been consumed from a
 * topic of P partitions. consumer_offsets rows (next_offset = --next-offset, default -2 = from
 * the beginning) are written for every topic in --topics and partition 0..P-1, so a daemon
 * assigned those partitions loads these cases. Everything goes in one transaction.
 *
 * Exit status: 0 loaded, 1 a database failure, 2 bad usage.
 */
#include "casewatch/casebook.h"
#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS       86400000LL
#define HOUR_MS      3600000LL
#define COPY_BUF_MAX (1 << 20)

typedef struct seed_opts {
    const char *conninfo;
    uint64_t cases;
    int partitions;
    const char *topics;
    int64_t next_offset;
    uint64_t seed;
    const char *prefix;
    uint64_t batch;
} seed_opts_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: casewatch-seed-cases --db CONNINFO [options]\n"
            "\n"
            "Write N open cases (state built with the casebook) straight into the cases table.\n"
            "\n"
            "      --db CONNINFO     libpq connection string of a migrated database (required)\n"
            "      --cases N         number of cases (default 1000000)\n"
            "      --partitions P    partitions of the input topics (default 32)\n"
            "      --topics T1,T2    topics for consumer_offsets rows\n"
            "                        (default casewatch.case-events,casewatch.hearing-events)\n"
            "      --next-offset O   next_offset of those rows (default -2: the beginning)\n"
            "      --seed S          random seed (default 1)\n"
            "      --prefix P        case ids P-case-<n> (default seed)\n"
            "      --batch K         rebuild the casebook every K cases (default 50000)\n"
            "  -h, --help            this text\n");
}

/* ---- the COPY stream --------------------------------------------------------------------- */

typedef struct copybuf {
    PGconn *db;
    char *buf;
    size_t len;
    bool failed;
} copybuf_t;

static void cb_flush(copybuf_t *b)
{
    if (b->len && !b->failed && PQputCopyData(b->db, b->buf, (int)b->len) != 1) {
        fprintf(stderr, "casewatch-seed-cases: COPY: %s", PQerrorMessage(b->db));
        b->failed = true;
    }
    b->len = 0;
}

static void cb_reserve(copybuf_t *b, size_t n)
{
    if (b->len + n > COPY_BUF_MAX)
        cb_flush(b);
}

static void cb_put(copybuf_t *b, const char *s, size_t n)
{
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void cb_str(copybuf_t *b, const char *s)
{
    cb_put(b, s, strlen(s));
}

/* A text field: identifiers here are printable ASCII without tabs or backslashes; "" = NULL. */
static void cb_text(copybuf_t *b, const char *s, bool null_if_empty)
{
    if (null_if_empty && (!s || !*s))
        cb_str(b, "\\N");
    else
        cb_str(b, s ? s : "");
}

static void cb_int(copybuf_t *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    cb_put(b, num, (size_t)n);
}

/* timestamptz from UTC ms; 0 = NULL */
static void cb_ts(copybuf_t *b, int64_t ms)
{
    if (!ms) {
        cb_str(b, "\\N");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[48];
    size_t n = strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(t + n, sizeof t - n, ".%03d+00", (int)(ms % 1000));
    cb_put(b, t, n);
}

/* bytea in COPY text format: \x followed by hex, the backslash itself escaped */
static void cb_bytea(copybuf_t *b, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    cb_str(b, "\\\\x");
    for (size_t i = 0; i < len; i++) {
        b->buf[b->len++] = hex[p[i] >> 4];
        b->buf[b->len++] = hex[p[i] & 15];
    }
}

/* ---- building one case ------------------------------------------------------------------- */

static const char *const court_areas[] = {
    "essex-chelmsford", "london-west", "london-central",      "london-east", "greater-manchester",
    "norfolk-norwich",  "dorset",      "birmingham-solihull", "north-wales", "cardiff",
};

static int pick_case_type(uint64_t *rng)
{
    static const struct {
        int type;
        unsigned weight;
    } mix[] = {{1, 25}, {2, 5}, {3, 5}, {4, 35}, {5, 20}, {6, 10}};
    uint32_t r = cw_tools_rand_below(rng, 100);
    for (size_t i = 0; i < CW_ARRAY_LEN(mix); i++) {
        if (r < mix[i].weight)
            return mix[i].type;
        r -= mix[i].weight;
    }
    return 4;
}

static void apply(cw_casebook_t *cb, Casewatch__V1__Event *e, int32_t part)
{
    cw_event_t ev = {.pb = e, .kind = (int)e->payload_case};
    cw_casebook_apply(cb, &ev, part, NULL, NULL, NULL);
}

/* Apply the events of case i to cb; returns the case. */
static cw_case_t *build_case(cw_casebook_t *cb, const seed_opts_t *o, uint64_t i, int64_t now,
                             uint64_t *rng, int32_t part, const char *case_id)
{
    char eid[96], child[2][112], worker[64], team[32], osa[32];
    char *kids[2] = {child[0], child[1]};
    int nkids = 1 + (cw_tools_rand_below(rng, 100) < 35);
    int64_t start = now - DAY_MS + 1 - (int64_t)cw_tools_rand_below(rng, (uint32_t)(2 * DAY_MS));
    const char *area = court_areas[cw_tools_rand_below(rng, CW_ARRAY_LEN(court_areas))];
    snprintf(osa, sizeof osa, "osa-%u", cw_tools_rand_below(rng, 20));
    snprintf(team, sizeof team, "team-%u", cw_tools_rand_below(rng, 200));
    snprintf(worker, sizeof worker, "fca-%05u", cw_tools_rand_below(rng, 50000));
    for (int k = 0; k < 2; k++)
        snprintf(child[k], sizeof child[k], "%s-child-%" PRIu64 "-%d", o->prefix, i, k + 1);

    Casewatch__V1__Event e = CASEWATCH__V1__EVENT__INIT;
    e.event_id = eid;
    e.case_id = (char *)case_id;
    e.source = "casewatch-seed-cases";
    e.schema_version = CW_EVENT_SCHEMA_VERSION;

    /* case opened */
    Casewatch__V1__CaseOpened co = CASEWATCH__V1__CASE_OPENED__INIT;
    co.case_type = pick_case_type(rng);
    co.court_area = (char *)area;
    co.service_area = osa;
    co.team = team;
    co.issued_at = start;
    co.n_child_ids = (size_t)nkids;
    co.child_ids = kids;
    co.welfare_at_risk = cw_tools_rand_below(rng, 100) < 5;
    snprintf(eid, sizeof eid, "%s-evt-%" PRIu64 "-1", o->prefix, i);
    e.occurred_at = start;
    e.payload_case = CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED;
    e.case_opened = &co;
    apply(cb, &e, part);

    /* allocated to a worker a few hours later */
    Casewatch__V1__Allocated al = CASEWATCH__V1__ALLOCATED__INIT;
    al.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER;
    al.worker_id = worker;
    al.team = team;
    int64_t alloc_at = start + HOUR_MS + (int64_t)cw_tools_rand_below(rng, (uint32_t)(6 * HOUR_MS));
    if (alloc_at > now)
        alloc_at = now;
    snprintf(eid, sizeof eid, "%s-evt-%" PRIu64 "-2", o->prefix, i);
    e.occurred_at = alloc_at;
    e.case_opened = NULL;
    e.payload_case = CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED;
    e.allocated = &al;
    apply(cb, &e, part);

    /* about half: a child seen (mostly in person) since */
    if (cw_tools_rand_below(rng, 100) < 50) {
        Casewatch__V1__ChildSeen cs = CASEWATCH__V1__CHILD_SEEN__INIT;
        cs.child_id = child[0];
        cs.in_person = cw_tools_rand_below(rng, 100) < 90;
        cs.worker_id = worker;
        int64_t at = alloc_at + (now - alloc_at) / 2;
        snprintf(eid, sizeof eid, "%s-evt-%" PRIu64 "-3", o->prefix, i);
        e.occurred_at = at;
        e.allocated = NULL;
        e.payload_case = CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN;
        e.child_seen = &cs;
        apply(cb, &e, part);
    }
    return cw_casebook_find(cb, case_id);
}

/* One row of the cases table, in the column order of the COPY below; returns the state's
 * packed size. */
static size_t put_row(copybuf_t *b, const cw_casebook_t *cb, const cw_case_t *c)
{
    size_t len = 0;
    uint8_t *st = cw_casebook_pack(cb, c, &len);
    cb_reserve(b, 1024 + 2 * len + strlen(c->case_id));
    int members = 0;
    for (int j = 0; j < c->nchildren; j++)
        members += c->children[j].member;
    bool closed = cw_case_closed(c);
    cb_text(b, c->case_id, false);
    cb_str(b, "\t");
    cb_int(b, c->partition);
    cb_str(b, "\t");
    cb_int(b, c->event_count);
    cb_str(b, "\t");
    cb_ts(b, c->first_ms);
    cb_str(b, "\t");
    cb_ts(b, c->last_ms);
    cb_str(b, "\t");
    cb_str(b, !c->opened ? "stub" : closed ? "closed" : "open");
    cb_str(b, "\t");
    cb_text(b, cw_case_type_name(c->case_type), true);
    cb_str(b, "\t");
    cb_text(b, cw_casebook_str(cb, c->area), true);
    cb_str(b, "\t");
    cb_text(b, cw_casebook_str(cb, c->osa), true);
    cb_str(b, "\t");
    cb_text(b, cw_casebook_str(cb, c->team), true);
    cb_str(b, "\t");
    cb_text(b, cw_casebook_str(cb, c->worker), true);
    cb_str(b, "\t");
    cb_str(b, cw_alloc_name(c->alloc));
    cb_str(b, "\t");
    cb_int(b, members);
    cb_str(b, "\t");
    cb_ts(b, c->opened ? c->start_ms : 0);
    cb_str(b, "\t");
    cb_ts(b, closed ? c->close_stamp.ms : 0);
    cb_str(b, "\t");
    cb_bytea(b, st, len);
    cb_str(b, "\n");
    free(st);
    return len;
}

static bool exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "casewatch-seed-cases: %s: %s", sql, PQerrorMessage(db));
    PQclear(r);
    return ok;
}

int main(int argc, char **argv)
{
    enum { O_DB = 256, O_CASES, O_PARTS, O_TOPICS, O_NEXT, O_SEED, O_PREFIX, O_BATCH };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB},
        {"cases", required_argument, NULL, O_CASES},
        {"partitions", required_argument, NULL, O_PARTS},
        {"topics", required_argument, NULL, O_TOPICS},
        {"next-offset", required_argument, NULL, O_NEXT},
        {"seed", required_argument, NULL, O_SEED},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"batch", required_argument, NULL, O_BATCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    seed_opts_t o = {
        .cases = 1000000,
        .partitions = 32,
        .topics = "casewatch.case-events,casewatch.hearing-events",
        .next_offset = -2,
        .seed = 1,
        .prefix = "seed",
        .batch = 50000,
    };
    int c;
    uint64_t u;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB: o.conninfo = optarg; break;
        case O_CASES:
        case O_PARTS:
        case O_SEED:
        case O_BATCH:
            if (cw_tools_parse_u64(optarg, &u) != 0 || (c != O_SEED && u == 0) ||
                (c == O_PARTS && u > 100000)) {
                fprintf(stderr, "casewatch-seed-cases: bad number \"%s\"\n", optarg);
                return 2;
            }
            if (c == O_CASES)
                o.cases = u;
            else if (c == O_PARTS)
                o.partitions = (int)u;
            else if (c == O_SEED)
                o.seed = u;
            else
                o.batch = u;
            break;
        case O_NEXT: {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || v < -2) {
                fprintf(stderr, "casewatch-seed-cases: --next-offset expects an offset or -2\n");
                return 2;
            }
            o.next_offset = v;
            break;
        }
        case O_TOPICS: o.topics = optarg; break;
        case O_PREFIX:
            if (!*optarg || strlen(optarg) > 40 || strpbrk(optarg, " \t\\\n")) {
                fprintf(stderr, "casewatch-seed-cases: --prefix must be 1..40 plain bytes\n");
                return 2;
            }
            o.prefix = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.conninfo) {
        usage(stderr);
        return 2;
    }

    PGconn *db = PQconnectdb(o.conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "casewatch-seed-cases: cannot connect: %s", PQerrorMessage(db));
        PQfinish(db);
        return 1;
    }
    double t0 = cw_tools_mono_s();
    int rc = 1;
    if (!exec_ok(db, "BEGIN"))
        goto out;
    PGresult *r = PQexec(db, "COPY cases (case_id, kpartition, event_count, first_event_at,"
                             " last_event_at, status, case_type, court_area, service_area, team,"
                             " worker_id, allocation, children, start_at, closed_at, state)"
                             " FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "casewatch-seed-cases: COPY: %s", PQerrorMessage(db));
        PQclear(r);
        goto out;
    }
    PQclear(r);

    copybuf_t b = {.db = db, .buf = cw_malloc(COPY_BUF_MAX)};
    uint64_t rng = o.seed;
    int64_t now = cw_now_ms();
    cw_casebook_t *cb = cw_casebook_new();
    char case_id[96];
    uint64_t bytes_state = 0;
    for (uint64_t i = 0; i < o.cases && !b.failed; i++) {
        if (i && i % o.batch == 0) {
            cw_casebook_destroy(cb);
            cb = cw_casebook_new();
        }
        snprintf(case_id, sizeof case_id, "%s-case-%" PRIu64, o.prefix, i);
        int32_t part = rd_kafka_msg_partitioner_consistent(NULL, case_id, strlen(case_id),
                                                           o.partitions, NULL, NULL);
        cw_case_t *cs = build_case(cb, &o, i, now, &rng, part, case_id);
        if (!cs) {
            fprintf(stderr, "casewatch-seed-cases: internal error: case %s not built\n", case_id);
            b.failed = true;
            break;
        }
        bytes_state += put_row(&b, cb, cs);
    }
    cw_casebook_destroy(cb);
    cb_flush(&b);
    free(b.buf);
    if (PQputCopyEnd(db, b.failed ? "seeding failed" : NULL) != 1) {
        fprintf(stderr, "casewatch-seed-cases: COPY end: %s", PQerrorMessage(db));
        goto out;
    }
    r = PQgetResult(db);
    bool copy_ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!copy_ok)
        fprintf(stderr, "casewatch-seed-cases: COPY: %s", PQerrorMessage(db));
    PQclear(r);
    while ((r = PQgetResult(db)))
        PQclear(r);
    if (!copy_ok || b.failed)
        goto out;
    double t_copy = cw_tools_mono_s();

    /* the offsets: the daemon assigned these partitions loads the cases above */
    char *topics = cw_strdup(o.topics), *save = NULL;
    for (char *t = strtok_r(topics, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        for (int p = 0; p < o.partitions; p++) {
            char part[16], next[24];
            snprintf(part, sizeof part, "%d", p);
            snprintf(next, sizeof next, "%" PRId64, o.next_offset);
            const char *v[3] = {t, part, next};
            r = PQexecParams(db,
                             "INSERT INTO consumer_offsets (topic, kpartition, next_offset) "
                             "VALUES ($1, $2, $3) ON CONFLICT (topic, kpartition) DO UPDATE "
                             "SET next_offset = excluded.next_offset, updated_at = now()",
                             3, NULL, v, NULL, NULL, 0);
            bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok)
                fprintf(stderr, "casewatch-seed-cases: offsets: %s", PQerrorMessage(db));
            PQclear(r);
            if (!ok) {
                free(topics);
                goto out;
            }
        }
    }
    free(topics);
    if (!exec_ok(db, "COMMIT"))
        goto out;
    double t1 = cw_tools_mono_s();
    printf("seeded %" PRIu64 " open cases over %d partitions in %.1f s (build+COPY %.1f s, "
           "commit %.1f s); mean packed state %.0f bytes\n",
           o.cases, o.partitions, t1 - t0, t_copy - t0, t1 - t_copy,
           o.cases ? (double)bytes_state / (double)o.cases : 0.0);
    rc = 0;
out:
    PQfinish(db);
    return rc;
}
