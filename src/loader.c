/*
 * loader.c — reading owned partitions back from PostgreSQL: the load statements (stored
 * offsets and stream times, case rows, active alerts, areas with their prioritisation changes,
 * the partition counts recorded per topic) and the result readers that put them into the
 * pipeline's memory. The pipeline's state machine decides when to load (try_load, load_done).
 */
#include "loader.h"
#include "casewatch/log.h"
#include "casewatch/v1/state.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read's columns are listed once, X(ENUM, "sql"): the enum indexes the result, the SQL list
 * comes from the same list (ending with a NULL column, so every entry can end with a comma). */
#define COL_ENUM(e, sql) e,
#define COL_SQL(e, sql)  sql ", "

const char SQL_OFFSETS_INIT[] = "INSERT INTO consumer_offsets (topic, kpartition, next_offset) "
                                "SELECT t, k, -2 FROM unnest($1::text[], $2::int[]) AS u(t, k) "
                                "ON CONFLICT (topic, kpartition) DO NOTHING";

#define OFFSETS_READ_COLS(X)                                                                       \
    X(RO_TOPIC, "o.topic")                                                                         \
    X(RO_PARTITION, "o.kpartition") X(RO_NEXT, "o.next_offset") X(RO_STREAM, "o.stream_ms")
enum { OFFSETS_READ_COLS(COL_ENUM) RO__N };
const char SQL_OFFSETS_READ[] =
    "SELECT " OFFSETS_READ_COLS(COL_SQL) "NULL FROM consumer_offsets o "
                                         "JOIN unnest($1::text[], $2::int[]) AS u(t, k) ON o.topic "
                                         "= u.t AND o.kpartition = u.k";

const char SQL_CASES_READ[] = "SELECT case_id, kpartition, state FROM cases "
                              "WHERE kpartition = ANY($1::int[]) AND state IS NOT NULL";

/* The active alerts of the owned partitions (and area/worker alerts, partition -1): each
 * column once, its index in the result its enum (the list ends with a NULL column). */
#define ALERTS_READ_COLS(X)                                                                        \
    X(RA_KEY, "dedup_key")                                                                         \
    X(RA_RULE, "rule")                                                                             \
    X(RA_STATE, "state")                                                                           \
    X(RA_CASE_ID, "coalesce(case_id, '')")                                                         \
    X(RA_SUBJECT, "subject")                                                                       \
    X(RA_AREA, "coalesce(court_area, '')")                                                         \
    X(RA_WORKER, "coalesce(worker_id, '')")                                                        \
    X(RA_PARTITION, "kpartition")                                                                  \
    X(RA_ARMED, MS("armed_at"))                                                                    \
    X(RA_DUE, MS("due_at"))                                                                        \
    X(RA_PENDING, MS("pending_at"))                                                                \
    X(RA_FIRING, MS("firing_at"))                                                                  \
    X(RA_NOTIFIED, MS("notified_at"))                                                              \
    X(RA_NOTIFY_COUNT, "notify_count")                                                             \
    X(RA_VALUE, "coalesce(value, 0)")                                                              \
    X(RA_THRESHOLD, "coalesce(threshold, 0)")                                                      \
    X(RA_CAUSE_EVENT, "coalesce(cause_event_id, '')")                                              \
    X(RA_CAUSE_TOPIC, "coalesce(cause_topic, '')")                                                 \
    X(RA_CAUSE_PARTITION, "coalesce(cause_partition, 0)")                                          \
    X(RA_CAUSE_OFFSET, "coalesce(cause_offset, 0)")                                                \
    X(RA_ACKNOWLEDGED, "acknowledged")                                                             \
    X(RA_SILENCED, "silenced")                                                                     \
    X(RA_SEVERITY, "severity")                                                                     \
    X(RA_CASE_TYPE, "coalesce(case_type, '')")                                                     \
    X(RA_RULE_VERSION, "rule_version")                                                             \
    X(RA_ORIGIN, "origin")
enum { ALERTS_READ_COLS(COL_ENUM) RA__N };
const char SQL_ALERTS_READ[] =
    "SELECT " ALERTS_READ_COLS(COL_SQL) "NULL "
                                        "FROM alerts WHERE state IN ('pending', 'firing')"
                                        " AND (kpartition = ANY($1::int[]) OR kpartition = -1)";

#define AREAS_READ_COLS(X)                                                                         \
    X(RR_AREA, "court_area")                                                                       \
    X(RR_PRIORITISED, "prioritised") X(RR_SINCE, "(extract(epoch FROM since) * 1000)::bigint")     \
        X(RR_STAMP_MS, "stamp_ms") X(RR_STAMP_HASH, "stamp_hash")                                  \
            X(RR_CHANGE_MS, "array_to_string(change_ms, ',')")                                     \
                X(RR_CHANGE_HASH, "array_to_string(change_hash, ',')")                             \
                    X(RR_CHANGE_ON, "array_to_string(change_on, ',')")
enum { AREAS_READ_COLS(COL_ENUM) RR__N };
const char SQL_AREAS_READ[] = "SELECT " AREAS_READ_COLS(COL_SQL) "NULL FROM areas";

const char SQL_TOPICS_RECORD[] =
    "INSERT INTO kafka_topics (topic, partitions) "
    "SELECT t, n FROM unnest($1::text[], $2::int[]) AS u(t, n) ON CONFLICT (topic) DO NOTHING";

const char SQL_TOPICS_READ[] =
    "SELECT topic, partitions FROM kafka_topics WHERE topic = ANY($1::text[])";

int64_t cw_load_parse_i64(const char *s)
{
    return strtoll(s, NULL, 10);
}

void cw_load_offsets_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    CW_ASSERT(PQnfields(res) == RO__N + 1);
    for (int r = 0; r < PQntuples(res); r++) {
        int s = slot_find(p, PQgetvalue(res, r, RO_TOPIC),
                          (int32_t)atoi(PQgetvalue(res, r, RO_PARTITION)));
        if (s < 0)
            continue;
        p->slots[s].committed = p->slots[s].consumed = p->slots[s].applied =
            cw_load_parse_i64(PQgetvalue(res, r, RO_NEXT));
        /* the stream time the partition's clock and lateness go on from ([L]) */
        p->slots[s].max_occurred = cw_load_parse_i64(PQgetvalue(res, r, RO_STREAM));
        if (p->slots[s].max_occurred > p->watermark)
            p->watermark = p->slots[s].max_occurred;
    }
}

void cw_load_cases_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    /* binary results: case_id text as its bytes (zero-terminated by libpq), kpartition int4
     * in network order, state bytea as its bytes (no hex to undo) */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        uint32_t part = 0;
        if (PQgetlength(res, r, 1) == 4)
            memcpy(&part, PQgetvalue(res, r, 1), 4);
        if (!cw_casebook_load(p->book, id, (int32_t)ntohl(part),
                              (const uint8_t *)PQgetvalue(res, r, 2),
                              (size_t)PQgetlength(res, r, 2)))
            cw_log_error("pipeline: case %s: stored state does not decode; it is rebuilt from "
                         "its next events only",
                         id);
    }
}

void cw_load_alerts_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    CW_ASSERT(PQnfields(res) == RA__N + 1);
    for (int r = 0; r < PQntuples(res); r++) {
        int rule;
        if (!cw_rules_find(p->rules, PQgetvalue(res, r, RA_RULE), &rule))
            continue; /* a rule this configuration no longer has: left as it is */
        cw_alert_t x = {0};
        x.dedup_key = PQgetvalue(res, r, RA_KEY);
        x.rule = (uint8_t)rule;
        x.state =
            !strcmp(PQgetvalue(res, r, RA_STATE), "firing") ? CW_ALERT_FIRING : CW_ALERT_PENDING;
        x.case_id = PQgetvalue(res, r, RA_CASE_ID);
        x.subject = PQgetvalue(res, r, RA_SUBJECT);
        x.area = PQgetvalue(res, r, RA_AREA);
        x.worker = PQgetvalue(res, r, RA_WORKER);
        x.partition = atoi(PQgetvalue(res, r, RA_PARTITION));
        x.armed_ms = cw_load_parse_i64(PQgetvalue(res, r, RA_ARMED));
        x.due_ms = cw_load_parse_i64(PQgetvalue(res, r, RA_DUE));
        x.pending_ms = cw_load_parse_i64(PQgetvalue(res, r, RA_PENDING));
        x.firing_ms = cw_load_parse_i64(PQgetvalue(res, r, RA_FIRING));
        x.notified_ms = cw_load_parse_i64(PQgetvalue(res, r, RA_NOTIFIED));
        x.notify_count = (uint32_t)atoi(PQgetvalue(res, r, RA_NOTIFY_COUNT));
        x.value = strtod(PQgetvalue(res, r, RA_VALUE), NULL);
        x.threshold = strtod(PQgetvalue(res, r, RA_THRESHOLD), NULL);
        x.cause_event_id = PQgetvalue(res, r, RA_CAUSE_EVENT);
        x.cause_topic = PQgetvalue(res, r, RA_CAUSE_TOPIC);
        x.cause_partition = atoi(PQgetvalue(res, r, RA_CAUSE_PARTITION));
        x.cause_offset = cw_load_parse_i64(PQgetvalue(res, r, RA_CAUSE_OFFSET));
        x.acknowledged = PQgetvalue(res, r, RA_ACKNOWLEDGED)[0] == 't';
        x.silenced = PQgetvalue(res, r, RA_SILENCED)[0] == 't';
        x.severity =
            (uint8_t)(!strcmp(PQgetvalue(res, r, RA_SEVERITY), "critical")  ? CW_SEV_CRITICAL
                      : !strcmp(PQgetvalue(res, r, RA_SEVERITY), "warning") ? CW_SEV_WARNING
                                                                            : CW_SEV_INFO);
        for (int t = 1; t <= 6; t++)
            if (!strcmp(cw_case_type_name(t), PQgetvalue(res, r, RA_CASE_TYPE)))
                x.case_type = (uint8_t)t;
        x.rule_version = (uint32_t)strtoul(PQgetvalue(res, r, RA_RULE_VERSION), NULL, 10);
        x.origin = (uint64_t)cw_load_parse_i64(PQgetvalue(res, r, RA_ORIGIN));
        cw_alerts_load(p->alerts, &x);
    }
}

void cw_load_areas_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    CW_ASSERT(PQnfields(res) == RR__N + 1);
    for (int r = 0; r < PQntuples(res); r++) {
        cw_area_t *a =
            cw_casebook_area(p->book, cw_casebook_intern(p->book, PQgetvalue(res, r, RR_AREA)));
        cw_stamp_t st = {cw_load_parse_i64(PQgetvalue(res, r, RR_STAMP_MS)),
                         strtoull(PQgetvalue(res, r, RR_STAMP_HASH), NULL, 10)};
        bool on = PQgetvalue(res, r, RR_PRIORITISED)[0] == 't';
        if (st.ms > a->stamp.ms || (st.ms == a->stamp.ms && st.hash >= a->stamp.hash)) {
            a->prioritised = on;
            a->since_ms = cw_load_parse_i64(PQgetvalue(res, r, RR_SINCE));
            a->stamp = st;
        }
        /* its changes by event time (010_area_periods.sql); a row from before holds only
         * its latest */
        const char *ms = PQgetvalue(res, r, RR_CHANGE_MS), *hs = PQgetvalue(res, r, RR_CHANGE_HASH),
                   *os = PQgetvalue(res, r, RR_CHANGE_ON);
        if (!*ms)
            cw_area_add_change(a, st.ms, st.hash, on);
        while (*ms && *hs && *os) {
            char *end;
            int64_t t = strtoll(ms, &end, 10);
            ms = *end == ',' ? end + 1 : end;
            uint64_t h = strtoull(hs, &end, 10);
            hs = *end == ',' ? end + 1 : end;
            cw_area_add_change(a, t, h, *os == 't');
            os = strchr(os, ',') ? strchr(os, ',') + 1 : "";
        }
    }
}

int cw_load_topic_index(const cw_pipeline_t *p, const char *topic)
{
    for (int i = 0; i < p->cfg->n_event_topics; i++)
        if (!strcmp(p->cfg->event_topics[i], topic))
            return i;
    return -1;
}

void cw_load_topics_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = ((load_ctx_t *)arg)->p;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = cw_load_topic_index(p, PQgetvalue(res, r, 0));
        if (i >= 0)
            p->trecorded[i] = (int32_t)atoi(PQgetvalue(res, r, 1));
    }
}
