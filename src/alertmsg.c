/*
 * alertmsg.c — the alert wire format: a transition packed as casewatch.v1.Alert (its
 * provenance, due time, value and threshold, the historic flag), the message the alerts topic
 * carries and alert_outbox keeps. Its key is the alert's scope, cw_alert_scope(). Pure: no
 * I/O.
 */
#include "alertmsg.h"
#include "casewatch/v1/alert.pb-c.h"
#include "casewatch/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *cw_alertmsg_pack(const cw_rules_t *rules, const cw_transition_t *t, bool historic,
                          size_t *len)
{
    const cw_alert_t *x = &t->alert;
    const cw_rule_t *rule = &rules->rule[x->rule];
    Casewatch__V1__Alert m = CASEWATCH__V1__ALERT__INIT;
    Casewatch__V1__Alert__Subject subj = CASEWATCH__V1__ALERT__SUBJECT__INIT;
    Casewatch__V1__Alert__Cause cause = CASEWATCH__V1__ALERT__CAUSE__INIT;
    Casewatch__V1__Alert__Cause *causes[1] = {&cause};
    char summary[256], scope[200];
    m.alert_id = (char *)t->alert_id;
    m.rule = (char *)rule->name;
    m.rule_version = x->rule_version;
    m.family = (Casewatch__V1__AlertFamily)rule->family;
    m.severity = (Casewatch__V1__AlertSeverity)x->severity;
    m.state = (Casewatch__V1__AlertState)x->state;
    m.resolution = (Casewatch__V1__AlertResolution)x->resolution;
    m.dedup_key = x->dedup_key;
    subj.case_id = x->case_id;
    subj.child_id = (x->rule == CW_RULE_CHILD_NOT_SEEN || x->rule == CW_RULE_NOT_SEEN_IN_PERSON)
                        ? x->subject
                        : "";
    subj.court_area = x->area;
    subj.worker_id = x->worker;
    m.subject = &subj;
    m.case_type = (Casewatch__V1__CaseType)x->case_type;
    m.court_area = x->area;
    m.service_area = "";
    m.active_since = x->state == CW_ALERT_FIRING ? x->firing_ms : x->pending_ms;
    m.due_at = x->due_ms;
    m.transition_at = t->at;
    /* identifiers and the rule only: nothing personal can reach a notification */
    snprintf(summary, sizeof(summary), "%s %s: %s%s%s", cw_severity_name(x->severity), rule->name,
             cw_alert_scope(x, scope, sizeof(scope)), *x->subject ? " / " : "", x->subject);
    m.summary = summary;
    if (*x->cause_event_id) {
        cause.event_id = x->cause_event_id;
        cause.topic = x->cause_topic;
        cause.partition = x->cause_partition;
        cause.offset = x->cause_offset;
        m.n_causes = 1;
        m.causes = causes;
    }
    m.acknowledged = x->acknowledged;
    m.silenced = x->silenced;
    m.value = x->value;
    m.threshold = x->threshold;
    m.close_outcome = (Casewatch__V1__CloseOutcome)x->close_outcome;
    m.historic = historic;
    *len = casewatch__v1__alert__get_packed_size(&m);
    uint8_t *buf = cw_malloc(*len ? *len : 1);
    casewatch__v1__alert__pack(&m, buf);
    return buf;
}
