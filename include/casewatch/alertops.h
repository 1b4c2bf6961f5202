/*
 * alertops.h — what operators do with alerts, as parameterised SQL shared by the admin API
 * (casewatchd) and the casewatch-alerts tool: list and show alerts, acknowledge, assign,
 * comment, and manage silences. Every change writes its audit row in the same statement.
 * casewatchd reads acknowledgements and silences back from these tables (pipeline.c).
 */
#ifndef CASEWATCH_ALERTOPS_H
#define CASEWATCH_ALERTOPS_H

#include <json-c/json.h>
#include <libpq-fe.h>

/** $1 state, $2 family, $3 court area, $4 severity, $5 case id ('' = any), $6 limit. */
extern const char CW_SQL_ALERTS_LIST[];
extern const char CW_SQL_ALERTS_TOTALS[];  /* $1-$5 as CW_SQL_ALERTS_LIST */
extern const char CW_SQL_ALERTS_BY_AREA[]; /* $1-$5 as CW_SQL_ALERTS_LIST */
/** $1 dedup_key: one row. */
extern const char CW_SQL_ALERT_GET[];
/** $1 dedup_key: its transitions in order. */
extern const char CW_SQL_ALERT_HISTORY[];
/** $1 dedup_key: what people did with it, in order. */
extern const char CW_SQL_ALERT_ACTIONS[];
/**
 * Actions: $1 dedup_key, $2 actor, $3 detail (comment; for assign: the assignee).
 * One statement each: the change and its audit row, or no row at all when the key is unknown
 * (0 rows returned).
 */
extern const char CW_SQL_ALERT_ACK[];
extern const char CW_SQL_ALERT_UNACK[];
extern const char CW_SQL_ALERT_ASSIGN[];
extern const char CW_SQL_ALERT_COMMENT[];
/** $1 rule, $2 court area, $3 case id, $4 min severity ('' = any), $5 minutes, $6 actor,
 * $7 comment: RETURNING id, ends_at. */
extern const char CW_SQL_SILENCE_CREATE[];
/** Active silences. */
extern const char CW_SQL_SILENCES_ACTIVE[];
/** $1 id, $2 actor: ends it now; RETURNING id (0 rows: unknown or already over). */
extern const char CW_SQL_SILENCE_EXPIRE[];

/**
 * @brief One result row as a JSON object keyed by column name: booleans, integers and
 * floats as JSON values, timestamptz as ISO-8601 UTC text (the session's TimeZone must be
 * UTC), SQL NULL as null, anything else as a string. Caller puts it.
 */
json_object *cw_pg_row_json(const PGresult *res, int row);
/** @brief Every row as a JSON array. */
json_object *cw_pg_rows_json(const PGresult *res);

#endif
