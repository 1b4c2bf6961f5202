/*
 * evbuild.h — building outgoing casewatch.v1.Event messages (the simulator and the load
 * tools): storage for one payload of any kind, and the envelope and oneof wiring every
 * builder repeats. Pure: no allocation, no I/O.
 *
 * Nothing here owns memory: the envelope and the payload point at the caller's strings and at
 * the caller's cw_evbuild_payload_t, which must outlive every use of the envelope (packing).
 */
#ifndef CASEWATCH_EVBUILD_H
#define CASEWATCH_EVBUILD_H

#include "casewatch/common.h"
#include "casewatch/v1/events.pb-c.h"

/** Room for the payload of any event kind: one event under construction needs one. */
typedef union cw_evbuild_payload {
    Casewatch__V1__CaseOpened case_opened;
    Casewatch__V1__ChildAdded child_added;
    Casewatch__V1__Allocated allocated;
    Casewatch__V1__ChildSeen child_seen;
    Casewatch__V1__HearingListed hearing_listed;
    Casewatch__V1__HearingHeld hearing_held;
    Casewatch__V1__HearingAdjourned hearing_adjourned;
    Casewatch__V1__ReportOrdered report_ordered;
    Casewatch__V1__ReportExtensionAgreed report_extension_agreed;
    Casewatch__V1__ReportFiled report_filed;
    Casewatch__V1__SafeguardingConcernRaised safeguarding_concern_raised;
    Casewatch__V1__RiskAssessmentRecorded risk_assessment_recorded;
    Casewatch__V1__DomesticAbuseAssessed domestic_abuse_assessed;
    Casewatch__V1__SafeguardingLetterFiled safeguarding_letter_filed;
    Casewatch__V1__PlanningMeetingHeld planning_meeting_held;
    Casewatch__V1__ManagementOversightRecorded management_oversight_recorded;
    Casewatch__V1__PrioritisationActivated prioritisation_activated;
    Casewatch__V1__PrioritisationDeactivated prioritisation_deactivated;
    Casewatch__V1__CaseClosed case_closed;
    Casewatch__V1__CaseReopened case_reopened;
    Casewatch__V1__TimetableExtended timetable_extended;
    Casewatch__V1__CaseReclassified case_reclassified;
} cw_evbuild_payload_t;

/**
 * @brief Reset *ev to an empty envelope and fill its header: event_id, case_id, source,
 *        occurred_at and the schema version this binary writes. No payload yet.
 * @param event_id,case_id,source borrowed: must outlive ev's use (not copied)
 */
void cw_evbuild_envelope(Casewatch__V1__Event *ev, const char *event_id, const char *case_id,
                         const char *source, int64_t occurred_at);

/**
 * @brief Make *p the empty payload message of `kind`, point ev's oneof at it and set
 *        ev->payload_case to kind.
 * @param kind a CASEWATCH__V1__EVENT__PAYLOAD_* value
 * @returns p as the kind's message type (the caller fills its fields), or NULL for a kind this
 *          binary does not know (payload_case is still set, no payload attached).
 */
void *cw_evbuild_payload(Casewatch__V1__Event *ev, cw_evbuild_payload_t *p, int kind);

#endif
