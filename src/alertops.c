/*
 * alertops.c — operators' SQL on alerts and silences, and PostgreSQL rows as JSON.
 */
#include "casewatch/alertops.h"

#include <stdlib.h>
#include <string.h>

/* the filters of /alerts: state, family, court area, severity, case ('' = any) */
#define ALERTS_WHERE                                                                               \
    " WHERE ($1 = '' OR state = $1) AND ($2 = '' OR family = $2)"                                  \
    " AND ($3 = '' OR court_area = $3) AND ($4 = '' OR severity = $4)"                             \
    " AND ($5 = '' OR case_id = $5)"

const char CW_SQL_ALERTS_LIST[] =
    "SELECT dedup_key, rule, family, severity, state, NULLIF(resolution, '') AS resolution,"
    " case_id, subject, court_area, worker_id, case_type, pending_at, firing_at, resolved_at,"
    " due_at, value, threshold, acknowledged, acknowledged_by, assignee, silenced,"
    " notify_count, updated_at FROM alerts" ALERTS_WHERE
    " ORDER BY coalesce(firing_at, pending_at) DESC NULLS LAST, dedup_key LIMIT $6::int";

/* the whole set CW_SQL_ALERTS_LIST pages through (its first five parameters): its size and
 * counts per severity and family, then per court area ([M]: what a page shows is counted from
 * the set, never from the page) */
const char CW_SQL_ALERTS_TOTALS[] =
    "SELECT count(*) AS total,"
    " count(*) FILTER (WHERE severity = 'critical') AS critical,"
    " count(*) FILTER (WHERE severity = 'warning') AS warning,"
    " count(*) FILTER (WHERE severity = 'info') AS info,"
    " count(*) FILTER (WHERE family = 'safeguarding') AS safeguarding,"
    " count(*) FILTER (WHERE family = 'delay') AS delay,"
    " count(*) FILTER (WHERE family = 'prioritisation') AS prioritisation"
    " FROM alerts" ALERTS_WHERE;

const char CW_SQL_ALERTS_BY_AREA[] =
    "SELECT court_area, count(*) AS count FROM alerts" ALERTS_WHERE
    " GROUP BY court_area ORDER BY count(*) DESC, court_area";

const char CW_SQL_ALERT_GET[] =
    "SELECT dedup_key, rule, rule_version, family, severity, state,"
    " NULLIF(resolution, '') AS resolution, case_id, subject, court_area, worker_id, case_type,"
    " kpartition AS partition, armed_at, due_at, pending_at, firing_at, resolved_at,"
    " notified_at, notify_count, value, threshold, cause_event_id, cause_topic,"
    " cause_partition, cause_offset, acknowledged, acknowledged_by, assignee, silenced,"
    " updated_at FROM alerts WHERE dedup_key = $1";

const char CW_SQL_ALERT_HISTORY[] =
    "SELECT alert_id, NULLIF(from_state, '') AS from_state, to_state,"
    " NULLIF(resolution, '') AS resolution, at, notified, silenced, repeat, cause_event_id"
    " FROM alert_history WHERE dedup_key = $1 ORDER BY id";

const char CW_SQL_ALERT_ACTIONS[] =
    "SELECT at, actor, action, detail FROM alert_actions WHERE dedup_key = $1 ORDER BY id";

#define AUDIT(action)                                                                              \
    " INSERT INTO alert_actions (dedup_key, action, actor, detail)"                                \
    " SELECT dedup_key, '" action "', $2, coalesce($3, '') FROM u RETURNING id, dedup_key"

const char CW_SQL_ALERT_ACK[] =
    "WITH u AS (UPDATE alerts SET acknowledged = true, acknowledged_by = $2, updated_at = now()"
    " WHERE dedup_key = $1 RETURNING dedup_key)" AUDIT("acknowledge");

const char CW_SQL_ALERT_UNACK[] =
    "WITH u AS (UPDATE alerts SET acknowledged = false, acknowledged_by = NULL,"
    " updated_at = now() WHERE dedup_key = $1 RETURNING dedup_key)" AUDIT("unacknowledge");

const char CW_SQL_ALERT_ASSIGN[] =
    "WITH u AS (UPDATE alerts SET assignee = $3, updated_at = now() WHERE dedup_key = $1"
    " RETURNING dedup_key)" AUDIT("assign");

const char CW_SQL_ALERT_COMMENT[] =
    "WITH u AS (UPDATE alerts SET updated_at = now() WHERE dedup_key = $1"
    " RETURNING dedup_key)" AUDIT("comment");

const char CW_SQL_SILENCE_CREATE[] =
    "INSERT INTO silences (rule, court_area, case_id, min_severity, ends_at, created_by,"
    " comment) VALUES ($1, $2, $3, $4, now() + ($5::int * interval '1 minute'), $6, $7)"
    " RETURNING id, ends_at";

const char CW_SQL_SILENCES_ACTIVE[] =
    "SELECT id, rule, court_area, case_id, min_severity, starts_at, ends_at, created_by,"
    " comment FROM silences WHERE ends_at > now() ORDER BY id";

const char CW_SQL_SILENCE_EXPIRE[] =
    "UPDATE silences SET ends_at = now(),"
    " comment = comment || CASE WHEN comment = '' THEN '' ELSE '; ' END || 'expired by ' || $2"
    " WHERE id = $1::bigint AND ends_at > now() RETURNING id";

/* type OIDs from pg_type.h (stable across versions) */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_TIMESTAMPTZ = 1184
};

/* "2026-03-04 10:00:00.123+00" (TimeZone UTC) → "2026-03-04T10:00:00.123Z" */
static json_object *iso(const char *v)
{
    char buf[64];
    size_t n = strlen(v);
    if (n >= sizeof(buf) || n < 19)
        return json_object_new_string(v);
    memcpy(buf, v, n + 1);
    buf[10] = 'T';
    if (n > 3 && !strcmp(buf + n - 3, "+00"))
        strcpy(buf + n - 3, "Z");
    return json_object_new_string(buf);
}

json_object *cw_pg_row_json(const PGresult *res, int row)
{
    json_object *o = json_object_new_object();
    for (int c = 0; c < PQnfields(res); c++) {
        const char *name = PQfname(res, c);
        if (PQgetisnull(res, row, c)) {
            json_object_object_add(o, name, NULL);
            continue;
        }
        const char *v = PQgetvalue(res, row, c);
        json_object *j;
        switch (PQftype(res, c)) {
        case OID_BOOL:
            j = json_object_new_boolean(v[0] == 't');
            break;
        case OID_INT2:
        case OID_INT4:
        case OID_INT8:
            j = json_object_new_int64(strtoll(v, NULL, 10));
            break;
        case OID_FLOAT4:
        case OID_FLOAT8:
        case OID_NUMERIC:
            j = json_object_new_double(strtod(v, NULL));
            break;
        case OID_TIMESTAMPTZ:
            j = iso(v);
            break;
        default:
            j = json_object_new_string(v);
            break;
        }
        json_object_object_add(o, name, j);
    }
    return o;
}

json_object *cw_pg_rows_json(const PGresult *res)
{
    json_object *a = json_object_new_array_ext(PQntuples(res));
    for (int r = 0; r < PQntuples(res); r++)
        json_object_array_add(a, cw_pg_row_json(res, r));
    return a;
}
