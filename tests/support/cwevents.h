/*
 * cwevents.h — build casewatch.v1.Event values in unit tests (no protobuf encoding): one
 * heap-allocated tev_t per event owns its payload; free it with free(). Event ids are
 * "e0001", "e0002", … in creation order (so stamps are deterministic).
 */
#ifndef CWEVENTS_H
#define CWEVENTS_H

#include "casewatch/event.h"

#include <stdbool.h>
#include <stdint.h>

#define P(name) CASEWATCH__V1__EVENT__PAYLOAD_##name

/* An event owning its payload, built with the generated C types. */
typedef struct tev {
    Casewatch__V1__Event e;
    union {
        Casewatch__V1__CaseOpened open;
        Casewatch__V1__ChildAdded child;
        Casewatch__V1__Allocated alloc;
        Casewatch__V1__ChildSeen seen;
        Casewatch__V1__HearingListed hl;
        Casewatch__V1__HearingHeld hh;
        Casewatch__V1__HearingAdjourned ha;
        Casewatch__V1__ReportOrdered ro;
        Casewatch__V1__ReportExtensionAgreed rx;
        Casewatch__V1__ReportFiled rf;
        Casewatch__V1__SafeguardingConcernRaised sc;
        Casewatch__V1__RiskAssessmentRecorded ra;
        Casewatch__V1__DomesticAbuseAssessed da;
        Casewatch__V1__SafeguardingLetterFiled sl;
        Casewatch__V1__PlanningMeetingHeld pm;
        Casewatch__V1__ManagementOversightRecorded mo;
        Casewatch__V1__PrioritisationActivated pa;
        Casewatch__V1__PrioritisationDeactivated pd;
        Casewatch__V1__CaseClosed cc;
        Casewatch__V1__CaseReopened cr;
        Casewatch__V1__TimetableExtended te;
        Casewatch__V1__CaseReclassified rc;
    } u;
    char *children[4];
    char id[32];
} tev_t;

/** @brief Restart event ids at e0001. */
void cwt_events_reset(void);

tev_t *mk(const char *case_id, int64_t t, int kind);
cw_event_t ev_of(tev_t *x);
tev_t *opened(const char *c, int64_t t, int type, const char *area, int nchildren);
tev_t *allocated(const char *c, int64_t t, int target, const char *worker);
tev_t *seen(const char *c, int64_t t, const char *child, bool in_person);
tev_t *child_added(const char *c, int64_t t, const char *child);
tev_t *closed(const char *c, int64_t t);
tev_t *reopened(const char *c, int64_t t);
tev_t *report_ordered(const char *c, int64_t t, const char *rid, int kind, int64_t due);
tev_t *report_ext(const char *c, int64_t t, const char *rid, int64_t due);
tev_t *report_filed(const char *c, int64_t t, const char *rid);
tev_t *hearing_listed(const char *c, int64_t t, const char *hid, int kind, int64_t when);
tev_t *hearing_held(const char *c, int64_t t, const char *hid);
tev_t *hearing_adjourned(const char *c, int64_t t, const char *hid, int64_t relisted);
tev_t *concern(const char *c, int64_t t, const char *cid, int kind);
tev_t *risk16a(const char *c, int64_t t, const char *cid);
tev_t *simple(const char *c, int64_t t, int kind);
tev_t *letter(const char *c, int64_t t, const char *hid);
tev_t *extended(const char *c, int64_t t, unsigned weeks);
tev_t *reclassified(const char *c, int64_t t, int type);
tev_t *prioritisation(int64_t t, const char *area, bool on);

#endif
