/*
 * alertjson.h — alerts and their transitions as JSON: the admin API's views and the live
 * alert stream (presentation, pure).
 *
 * Owns nothing: each function builds a new JSON value from an alert or a transition it
 * borrows for the call, and the caller owns the result. The lifecycle itself, and the
 * one-line text of cw_alerts_format() that the JSON carries, stay in alerts.c, which has no
 * JSON in it. Identifiers only: nothing personal reaches these documents.
 */
#ifndef CASEWATCH_ALERTJSON_H
#define CASEWATCH_ALERTJSON_H

#include "casewatch/alerts.h"

#include <json-c/json.h>

/**
 * @brief An alert's current state as a new JSON object: dedup key, rule, family, severity,
 * state, resolution, close outcome, case/subject/area/worker ids, case type, times, value and
 * threshold, acknowledged, silenced, notify count.
 * @param x borrowed during the call
 * @param r the rule set x->rule indexes, borrowed during the call
 * @returns a new object; the caller json_object_put()s it.
 */
json_object *cw_alertjson_alert(const cw_alert_t *x, const cw_rules_t *r);

/**
 * @brief An alert notification as a JSON text (the admin API's live stream): the alert as
 * cw_alertjson_alert() gives it, plus the transition's alert_id, from ("new" for a new alert),
 * at, repeat, and the one-line text of cw_alerts_format().
 * @param t borrowed during the call
 * @returns a NUL-terminated plain JSON text; the caller free()s it.
 */
char *cw_alertjson_transition(const cw_transition_t *t, const cw_rules_t *r);

#endif
