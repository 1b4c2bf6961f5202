/*
 * cwevents.c — event builders for unit tests (see cwevents.h).
 */
#include "cwevents.h"

#include <stdio.h>
#include <stdlib.h>

static int evseq;

void cwt_events_reset(void)
{
    evseq = 0;
}



tev_t *mk(const char *case_id, int64_t t, int kind)
{
    tev_t *x = calloc(1, sizeof(*x));
    casewatch__v1__event__init(&x->e);
    snprintf(x->id, sizeof(x->id), "e%04d", ++evseq);
    x->e.event_id = x->id;
    x->e.case_id = (char *)case_id;
    x->e.occurred_at = t;
    x->e.source = "test";
    x->e.schema_version = 1;
    x->e.payload_case = kind;
    return x;
}

cw_event_t ev_of(tev_t *x)
{
    return (cw_event_t){.pb = &x->e, .kind = (int)x->e.payload_case};
}


tev_t *opened(const char *c, int64_t t, int type, const char *area, int nchildren)
{
    tev_t *x = mk(c, t, P(CASE_OPENED));
    casewatch__v1__case_opened__init(&x->u.open);
    x->u.open.case_type = type;
    x->u.open.court_area = (char *)area;
    x->u.open.service_area = "osa-1";
    x->u.open.team = "team-1";
    static char *kids[] = {"k1", "k2", "k3", "k4"};
    x->u.open.n_child_ids = (size_t)nchildren;
    x->u.open.child_ids = kids;
    x->e.case_opened = &x->u.open;
    return x;
}

tev_t *allocated(const char *c, int64_t t, int target, const char *worker)
{
    tev_t *x = mk(c, t, P(ALLOCATED));
    casewatch__v1__allocated__init(&x->u.alloc);
    x->u.alloc.target = target;
    x->u.alloc.worker_id = (char *)worker;
    x->e.allocated = &x->u.alloc;
    return x;
}

tev_t *seen(const char *c, int64_t t, const char *child, bool in_person)
{
    tev_t *x = mk(c, t, P(CHILD_SEEN));
    casewatch__v1__child_seen__init(&x->u.seen);
    x->u.seen.child_id = (char *)child;
    x->u.seen.in_person = in_person;
    x->e.child_seen = &x->u.seen;
    return x;
}

tev_t *child_added(const char *c, int64_t t, const char *child)
{
    tev_t *x = mk(c, t, P(CHILD_ADDED));
    casewatch__v1__child_added__init(&x->u.child);
    x->u.child.child_id = (char *)child;
    x->e.child_added = &x->u.child;
    return x;
}

tev_t *closed(const char *c, int64_t t)
{
    tev_t *x = mk(c, t, P(CASE_CLOSED));
    casewatch__v1__case_closed__init(&x->u.cc);
    x->u.cc.outcome = CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_FINAL_ORDER;
    x->e.case_closed = &x->u.cc;
    return x;
}

tev_t *reopened(const char *c, int64_t t)
{
    tev_t *x = mk(c, t, P(CASE_REOPENED));
    casewatch__v1__case_reopened__init(&x->u.cr);
    x->e.case_reopened = &x->u.cr;
    return x;
}

tev_t *report_ordered(const char *c, int64_t t, const char *rid, int kind, int64_t due)
{
    tev_t *x = mk(c, t, P(REPORT_ORDERED));
    casewatch__v1__report_ordered__init(&x->u.ro);
    x->u.ro.report_id = (char *)rid;
    x->u.ro.report_kind = kind;
    x->u.ro.due_at = due;
    x->e.report_ordered = &x->u.ro;
    return x;
}

tev_t *report_ext(const char *c, int64_t t, const char *rid, int64_t due)
{
    tev_t *x = mk(c, t, P(REPORT_EXTENSION_AGREED));
    casewatch__v1__report_extension_agreed__init(&x->u.rx);
    x->u.rx.report_id = (char *)rid;
    x->u.rx.new_due_at = due;
    x->e.report_extension_agreed = &x->u.rx;
    return x;
}

tev_t *report_filed(const char *c, int64_t t, const char *rid)
{
    tev_t *x = mk(c, t, P(REPORT_FILED));
    casewatch__v1__report_filed__init(&x->u.rf);
    x->u.rf.report_id = (char *)rid;
    x->u.rf.report_kind = CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT;
    x->e.report_filed = &x->u.rf;
    return x;
}

tev_t *hearing_listed(const char *c, int64_t t, const char *hid, int kind, int64_t when)
{
    tev_t *x = mk(c, t, P(HEARING_LISTED));
    casewatch__v1__hearing_listed__init(&x->u.hl);
    x->u.hl.hearing_id = (char *)hid;
    x->u.hl.hearing_kind = kind;
    x->u.hl.listed_for = when;
    x->e.hearing_listed = &x->u.hl;
    return x;
}

tev_t *hearing_held(const char *c, int64_t t, const char *hid)
{
    tev_t *x = mk(c, t, P(HEARING_HELD));
    casewatch__v1__hearing_held__init(&x->u.hh);
    x->u.hh.hearing_id = (char *)hid;
    x->e.hearing_held = &x->u.hh;
    return x;
}

tev_t *hearing_adjourned(const char *c, int64_t t, const char *hid, int64_t relisted)
{
    tev_t *x = mk(c, t, P(HEARING_ADJOURNED));
    casewatch__v1__hearing_adjourned__init(&x->u.ha);
    x->u.ha.hearing_id = (char *)hid;
    x->u.ha.relisted_for = relisted;
    x->e.hearing_adjourned = &x->u.ha;
    return x;
}

tev_t *concern(const char *c, int64_t t, const char *cid, int kind)
{
    tev_t *x = mk(c, t, P(SAFEGUARDING_CONCERN_RAISED));
    casewatch__v1__safeguarding_concern_raised__init(&x->u.sc);
    x->u.sc.concern_id = (char *)cid;
    x->u.sc.concern_kind = kind;
    x->e.safeguarding_concern_raised = &x->u.sc;
    return x;
}

tev_t *risk16a(const char *c, int64_t t, const char *cid)
{
    tev_t *x = mk(c, t, P(RISK_ASSESSMENT_RECORDED));
    casewatch__v1__risk_assessment_recorded__init(&x->u.ra);
    x->u.ra.concern_id = (char *)cid;
    x->e.risk_assessment_recorded = &x->u.ra;
    return x;
}

tev_t *simple(const char *c, int64_t t, int kind)
{
    tev_t *x = mk(c, t, kind);
    switch (kind) {
    case P(DOMESTIC_ABUSE_ASSESSED):
        casewatch__v1__domestic_abuse_assessed__init(&x->u.da);
        x->e.domestic_abuse_assessed = &x->u.da;
        break;
    case P(PLANNING_MEETING_HELD):
        casewatch__v1__planning_meeting_held__init(&x->u.pm);
        x->e.planning_meeting_held = &x->u.pm;
        break;
    case P(MANAGEMENT_OVERSIGHT_RECORDED):
        casewatch__v1__management_oversight_recorded__init(&x->u.mo);
        x->e.management_oversight_recorded = &x->u.mo;
        break;
    }
    return x;
}

tev_t *letter(const char *c, int64_t t, const char *hid)
{
    tev_t *x = mk(c, t, P(SAFEGUARDING_LETTER_FILED));
    casewatch__v1__safeguarding_letter_filed__init(&x->u.sl);
    x->u.sl.hearing_id = (char *)hid;
    x->e.safeguarding_letter_filed = &x->u.sl;
    return x;
}

tev_t *extended(const char *c, int64_t t, unsigned weeks)
{
    tev_t *x = mk(c, t, P(TIMETABLE_EXTENDED));
    casewatch__v1__timetable_extended__init(&x->u.te);
    x->u.te.weeks = weeks;
    x->e.timetable_extended = &x->u.te;
    return x;
}

tev_t *reclassified(const char *c, int64_t t, int type)
{
    tev_t *x = mk(c, t, P(CASE_RECLASSIFIED));
    casewatch__v1__case_reclassified__init(&x->u.rc);
    x->u.rc.new_case_type = type;
    x->e.case_reclassified = &x->u.rc;
    return x;
}

tev_t *prioritisation(int64_t t, const char *area, bool on)
{
    tev_t *x = mk("", t, on ? P(PRIORITISATION_ACTIVATED) : P(PRIORITISATION_DEACTIVATED));
    if (on) {
        casewatch__v1__prioritisation_activated__init(&x->u.pa);
        x->u.pa.court_area = (char *)area;
        x->e.prioritisation_activated = &x->u.pa;
    } else {
        casewatch__v1__prioritisation_deactivated__init(&x->u.pd);
        x->u.pd.court_area = (char *)area;
        x->e.prioritisation_deactivated = &x->u.pd;
    }
    return x;
}

