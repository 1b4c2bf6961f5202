/*
 * alertjson.c — alerts and transitions as json-c documents (see alertjson.h).
 *
 * Owns the JSON presentation of the alert engine's records, kept apart so that alerts.c, the
 * lifecycle, stays free of json-c. Field names are the admin API's; times are UTC ISO-8601
 * (cw_json_time()), absent ones null.
 */
#include "casewatch/alertjson.h"
#include "casewatch/pbjson.h"

static json_object *str_or_null(const char *s)
{
    return s && *s ? json_object_new_string(s) : NULL;
}

json_object *cw_alertjson_alert(const cw_alert_t *x, const cw_rules_t *r)
{
    const cw_rule_t *rule = &r->rule[x->rule];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "dedup_key", json_object_new_string(x->dedup_key));
    json_object_object_add(o, "rule", json_object_new_string(rule->name));
    json_object_object_add(o, "family", json_object_new_string(cw_family_name(rule->family)));
    json_object_object_add(o, "severity", json_object_new_string(cw_severity_name(x->severity)));
    json_object_object_add(o, "state", json_object_new_string(cw_alert_state_name(x->state)));
    json_object_object_add(o, "resolution",
                           x->resolution ? json_object_new_string(cw_resolution_name(x->resolution))
                                         : NULL);
    json_object_object_add(o, "close_outcome",
                           x->close_outcome
                               ? json_object_new_string(cw_close_outcome_name(x->close_outcome))
                               : NULL);
    json_object_object_add(o, "case_id", str_or_null(x->case_id));
    json_object_object_add(o, "subject", json_object_new_string(x->subject));
    json_object_object_add(o, "court_area", str_or_null(x->area));
    json_object_object_add(o, "worker_id", str_or_null(x->worker));
    json_object_object_add(o, "case_type", str_or_null(cw_case_type_name(x->case_type)));
    json_object_object_add(o, "pending_at", cw_json_time(x->pending_ms));
    json_object_object_add(o, "firing_at", cw_json_time(x->firing_ms));
    json_object_object_add(o, "resolved_at", cw_json_time(x->resolved_ms));
    json_object_object_add(o, "due_at", cw_json_time(x->due_ms));
    json_object_object_add(o, "value", json_object_new_double(x->value));
    json_object_object_add(o, "threshold", json_object_new_double(x->threshold));
    json_object_object_add(o, "acknowledged", json_object_new_boolean(x->acknowledged));
    json_object_object_add(o, "silenced", json_object_new_boolean(x->silenced));
    json_object_object_add(o, "notify_count", json_object_new_int64(x->notify_count));
    return o;
}

char *cw_alertjson_transition(const cw_transition_t *t, const cw_rules_t *r)
{
    const cw_alert_t *x = &t->alert;
    json_object *o = cw_alertjson_alert(x, r);
    json_object_object_add(o, "alert_id", json_object_new_string(t->alert_id));
    json_object_object_add(o, "from", json_object_new_string(t->from ? cw_alert_state_name(t->from)
                                                                     : "new"));
    json_object_object_add(o, "at", cw_json_time(t->at));
    json_object_object_add(o, "repeat", json_object_new_boolean(t->repeat));
    char line[512];
    cw_alerts_format(t, r, line, sizeof(line));
    json_object_object_add(o, "text", json_object_new_string(line));
    char *s = cw_strdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}
