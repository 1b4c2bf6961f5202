/*
 * evbuild.c — the envelope and payload wiring of outgoing events (see evbuild.h). Owns
 * nothing: everything it touches is the caller's.
 */
#include "casewatch/evbuild.h"
#include "casewatch/event.h"

void cw_evbuild_envelope(Casewatch__V1__Event *ev, const char *event_id, const char *case_id,
                         const char *source, int64_t occurred_at)
{
    casewatch__v1__event__init(ev);
    ev->event_id = (char *)event_id;
    ev->case_id = (char *)case_id;
    ev->occurred_at = occurred_at;
    ev->source = (char *)source;
    ev->schema_version = CW_EVENT_SCHEMA_VERSION;
}

/* One row per kind: init the message in place, then hang it on the matching oneof member. */
#define PAYLOAD(KIND, field)                                                                       \
    case CASEWATCH__V1__EVENT__PAYLOAD_##KIND:                                                     \
        casewatch__v1__##field##__init(&p->field);                                                 \
        ev->field = &p->field;                                                                     \
        return &p->field

void *cw_evbuild_payload(Casewatch__V1__Event *ev, cw_evbuild_payload_t *p, int kind)
{
    ev->payload_case = (Casewatch__V1__Event__PayloadCase)kind;
    switch (kind) {
        PAYLOAD(CASE_OPENED, case_opened);
        PAYLOAD(CHILD_ADDED, child_added);
        PAYLOAD(ALLOCATED, allocated);
        PAYLOAD(CHILD_SEEN, child_seen);
        PAYLOAD(HEARING_LISTED, hearing_listed);
        PAYLOAD(HEARING_HELD, hearing_held);
        PAYLOAD(HEARING_ADJOURNED, hearing_adjourned);
        PAYLOAD(REPORT_ORDERED, report_ordered);
        PAYLOAD(REPORT_EXTENSION_AGREED, report_extension_agreed);
        PAYLOAD(REPORT_FILED, report_filed);
        PAYLOAD(SAFEGUARDING_CONCERN_RAISED, safeguarding_concern_raised);
        PAYLOAD(RISK_ASSESSMENT_RECORDED, risk_assessment_recorded);
        PAYLOAD(DOMESTIC_ABUSE_ASSESSED, domestic_abuse_assessed);
        PAYLOAD(SAFEGUARDING_LETTER_FILED, safeguarding_letter_filed);
        PAYLOAD(PLANNING_MEETING_HELD, planning_meeting_held);
        PAYLOAD(MANAGEMENT_OVERSIGHT_RECORDED, management_oversight_recorded);
        PAYLOAD(PRIORITISATION_ACTIVATED, prioritisation_activated);
        PAYLOAD(PRIORITISATION_DEACTIVATED, prioritisation_deactivated);
        PAYLOAD(CASE_CLOSED, case_closed);
        PAYLOAD(CASE_REOPENED, case_reopened);
        PAYLOAD(TIMETABLE_EXTENDED, timetable_extended);
        PAYLOAD(CASE_RECLASSIFIED, case_reclassified);
    default:
        return NULL;
    }
}
