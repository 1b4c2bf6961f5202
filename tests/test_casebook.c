/*
 * test_casebook.c — CUnit suite for the pure casebook: every event kind's effect on case state,
 * out-of-order and late events, stubs, anomalies, aggregate contributions, order independence
 * (every permutation of a case's events gives the same state), pack/load round trips and
 * per-partition drop.
 */
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/workdays.h"
#include "cwevents.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY CW_MS_PER_DAY
#define T0 (1700000000000LL - 1700000000000LL % DAY) /* 2023-11-14 00:00 UTC */

/* ------------------------------------------------------------------ event builders */

#define CARE CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PUBLIC_LAW_S31_CARE
#define WTFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WTFH
#define WAFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WAFH
#define WORKER CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER
#define DUTY CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY
#define PAH CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_POST_ASSESSMENT_HUB
#define HUB CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_ALLOCATION_HUB
#define TEAM CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM
#define S7 CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT
#define DA CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_DOMESTIC_ABUSE
#define NEGLECT CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_NEGLECT

/* ------------------------------------------------------------------ harness */

typedef struct anom_log {
    int n;
    char kinds[16][40];
} anom_log_t;

static void on_anom(void *arg, const cw_event_t *ev, const char *kind, const char *detail)
{
    anom_log_t *a = arg;
    if (a->n < 16)
        snprintf(a->kinds[a->n], sizeof(a->kinds[0]), "%s", kind);
    a->n++;
}

static cw_case_t *apply(cw_casebook_t *cb, tev_t *x, cw_aggdelta_t *agg, anom_log_t *an)
{
    cw_event_t ev = ev_of(x);
    return cw_casebook_apply(cb, &ev, 0, agg, an ? on_anom : NULL, an);
}

/* sum of v1 over entries of a table matching sub (or all when sub < 0) */
static int64_t agg_sum(cw_aggdelta_t *agg, int table, int sub, bool v2)
{
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(agg, &n);
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].key.table == table && (sub < 0 || e[i].key.sub == sub))
            s += v2 ? e[i].v2 : e[i].v1;
    return s;
}

static int64_t cohort_at(cw_aggdelta_t *agg, int32_t close_day)
{
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(agg, &n);
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].key.table == CW_AGG_COHORT && e[i].key.day2 == close_day)
            s += e[i].v1;
    return s;
}

/* ------------------------------------------------------------------ tests */

static void test_case_opened_and_children(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    tev_t *o = opened("c1", T0, CARE, "essex", 2);
    o->u.open.issued_at = T0 - 3 * DAY;
    cw_case_t *c = apply(cb, o, agg, NULL);
    CU_ASSERT_TRUE(c->opened);
    CU_ASSERT_EQUAL(c->case_type, CARE);
    CU_ASSERT_STRING_EQUAL(cw_casebook_str(cb, c->area), "essex");
    CU_ASSERT_STRING_EQUAL(cw_casebook_str(cb, c->team), "team-1");
    CU_ASSERT_EQUAL(c->start_ms, T0 - 3 * DAY); /* issued_at is the start */
    CU_ASSERT_EQUAL(c->nchildren, 2);
    CU_ASSERT_FALSE(cw_case_closed(c));
    /* one open cohort row with 2 children, awaiting allocation counted as duty */
    CU_ASSERT_EQUAL(cohort_at(agg, CW_DAY_OPEN), 1);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_COHORT, -1, true), 2);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_ALLOC_DUTY, false), 1);
    tev_t *a = child_added("c1", T0 + DAY, "k9");
    apply(cb, a, agg, NULL);
    tev_t *dup = child_added("c1", T0 + 2 * DAY, "k1"); /* already a child: a set */
    apply(cb, dup, agg, NULL);
    CU_ASSERT_EQUAL(c->nchildren, 3);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_COHORT, -1, true), 3);
    CU_ASSERT_EQUAL(c->event_count, 3);
    free(o);
    free(a);
    free(dup);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

static void test_allocation_targets(void)
{
    struct {
        int target;
        const char *worker;
        int alloc;
        int metric;
    } rows[] = {
        {WORKER, "w1", CW_ALLOC_ALLOCATED, CW_LIVE_ALLOC_ALLOCATED},
        {TEAM, NULL, CW_ALLOC_ALLOCATED, CW_LIVE_ALLOC_ALLOCATED},
        {DUTY, NULL, CW_ALLOC_DUTY, CW_LIVE_ALLOC_DUTY},
        {PAH, NULL, CW_ALLOC_PAH, CW_LIVE_ALLOC_PAH},
        {HUB, NULL, CW_ALLOC_HUB, CW_LIVE_ALLOC_HUB},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        cw_casebook_t *cb = cw_casebook_new();
        cw_aggdelta_t *agg = cw_aggdelta_new();
        tev_t *o = opened("c", T0, WTFH, "a", 1);
        tev_t *al = allocated("c", T0 + DAY, rows[i].target, rows[i].worker);
        apply(cb, o, agg, NULL);
        cw_case_t *c = apply(cb, al, agg, NULL);
        CU_ASSERT_EQUAL(c->alloc, rows[i].alloc);
        CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, rows[i].metric, false), 1);
        int64_t total = 0;
        for (int m = CW_LIVE_ALLOC_ALLOCATED; m <= CW_LIVE_ALLOC_HUB; m++)
            total += agg_sum(agg, CW_AGG_LIVE, m, false);
        CU_ASSERT_EQUAL(total, 1); /* moved, not added */
        CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_WORKER, -1, false), rows[i].worker ? 1 : 0);
        CU_ASSERT_EQUAL(c->first_alloc_ms, rows[i].alloc == CW_ALLOC_ALLOCATED ? T0 + DAY : 0);
        free(o);
        free(al);
        cw_aggdelta_destroy(agg);
        cw_casebook_destroy(cb);
    }
}

static void test_children_seen(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    tev_t *e[] = {opened("c", T0, WTFH, "a", 2), allocated("c", T0 + DAY, WORKER, "w"),
                  seen("c", T0 + 5 * DAY, "k1", false), seen("c", T0 + 3 * DAY, "k1", true),
                  seen("c", T0 + 4 * DAY, "stranger", true)};
    cw_case_t *c = NULL;
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        c = apply(cb, e[i], agg, NULL);
    CU_ASSERT_EQUAL(c->children[0].seen_ms, T0 + 3 * DAY); /* earliest, though it came late */
    CU_ASSERT_EQUAL(c->children[0].in_person_ms, T0 + 3 * DAY);
    CU_ASSERT_EQUAL(c->children[1].seen_ms, 0);
    /* a child_seen naming someone not a child of the case is not a child */
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_CHILDREN_ALLOCATED, false), 2);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_CHILDREN_SEEN, false), 1);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_CHILDREN_IN_PERSON, false), 1);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_COHORT, -1, true), 2);
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

static void test_hearings(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    int fh = CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FIRST_HEARING_FHDRA;
    tev_t *e[] = {opened("c", T0, WTFH, "a", 1), hearing_listed("c", T0 + DAY, "h1", fh, T0 + 40 * DAY),
                  letter("c", T0 + 30 * DAY, "h1"),
                  hearing_adjourned("c", T0 + 40 * DAY, "h1", T0 + 60 * DAY),
                  hearing_held("c", T0 + 60 * DAY, "h1")};
    cw_case_t *c = NULL;
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        c = apply(cb, e[i], NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(c->nhearings, 1);
    CU_ASSERT_EQUAL(c->hearings[0].kind, fh);
    CU_ASSERT_EQUAL(c->hearings[0].status, CW_HEARING_HELD);
    CU_ASSERT_EQUAL(c->hearings[0].listed_for_ms, T0 + 60 * DAY); /* relisted */
    CU_ASSERT_EQUAL(c->hearings[0].held_ms, T0 + 60 * DAY);
    CU_ASSERT_EQUAL(c->hearings[0].letter_ms, T0 + 30 * DAY);
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_casebook_destroy(cb);
}

static void test_reports_s7(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    /* r1: extended and filed by the extended date (on time, extended); r2: filed late */
    tev_t *e[] = {opened("c", T0, WAFH, "a", 1),
                  report_ordered("c", T0 + DAY, "r1", S7, T0 + 60 * DAY),
                  report_ext("c", T0 + 50 * DAY, "r1", T0 + 80 * DAY),
                  report_filed("c", T0 + 75 * DAY, "r1"),
                  report_ordered("c", T0 + DAY, "r2", S7, T0 + 60 * DAY),
                  report_filed("c", T0 + 61 * DAY, "r2")};
    cw_case_t *c = NULL;
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        c = apply(cb, e[i], agg, NULL);
    CU_ASSERT_EQUAL_FATAL(c->nreports, 2);
    CU_ASSERT_EQUAL(cw_report_due_ms(&c->reports[0]), T0 + 80 * DAY);
    CU_ASSERT_EQUAL(c->reports[0].extensions, 1);
    size_t n;
    const cw_agg_entry_t *en = cw_aggdelta_entries(agg, &n);
    int on_ext = 0, late_plain = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (en[i].key.table != CW_AGG_REPORT || !en[i].v1)
            continue;
        if (en[i].key.flags == 3 && en[i].v1 == 1)
            on_ext++;
        else if (en[i].key.flags == 0 && en[i].v1 == 1)
            late_plain++;
        else
            other++;
    }
    CU_ASSERT_EQUAL(on_ext, 1);
    CU_ASSERT_EQUAL(late_plain, 1);
    CU_ASSERT_EQUAL(other, 0);
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

static void test_safeguarding_facts(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    tev_t *e[] = {opened("c", T0, WTFH, "a", 1),
                  concern("c", T0 + DAY, "s1", DA),
                  concern("c", T0 + 2 * DAY, "s2", NEGLECT),
                  risk16a("c", T0 + 3 * DAY, "s2"),
                  risk16a("c", T0 + 9 * DAY, ""), /* no id: every concern raised before it */
                  simple("c", T0 + 4 * DAY, P(DOMESTIC_ABUSE_ASSESSED)),
                  simple("c", T0 + 5 * DAY, P(PLANNING_MEETING_HELD)),
                  simple("c", T0 + 6 * DAY, P(MANAGEMENT_OVERSIGHT_RECORDED)),
                  simple("c", T0 + 2 * DAY, P(MANAGEMENT_OVERSIGHT_RECORDED)),
                  extended("c", T0 + 7 * DAY, 8),
                  reclassified("c", T0 + 8 * DAY, WAFH)};
    cw_case_t *c = NULL;
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        c = apply(cb, e[i], NULL, NULL);
    /* two concerns and the two 16a records, the one naming no concern first */
    CU_ASSERT_EQUAL_FATAL(c->nconcerns, 4);
    CU_ASSERT_EQUAL(c->concerns[0].kind, CW_CONCERN_16A_RECORD);
    CU_ASSERT_STRING_EQUAL(c->concerns[0].concern_id, "");
    CU_ASSERT_EQUAL(c->concerns[0].raised_ms, 0);
    CU_ASSERT_EQUAL(c->concerns[3].kind, CW_CONCERN_16A_RECORD);
    CU_ASSERT_STRING_EQUAL(c->concerns[3].concern_id, "s2");
    CU_ASSERT_EQUAL(c->concerns[1].assessed_ms, T0 + 9 * DAY);
    CU_ASSERT_EQUAL(c->concerns[2].assessed_ms, T0 + 3 * DAY);
    CU_ASSERT_EQUAL(c->da_alleged_ms, T0 + DAY);
    CU_ASSERT_EQUAL(c->da_assessed_ms, T0 + 4 * DAY);
    CU_ASSERT_EQUAL(c->planning_ms, T0 + 5 * DAY);
    CU_ASSERT_EQUAL(c->oversight_first_ms, T0 + 2 * DAY);
    CU_ASSERT_EQUAL(c->oversight_last_ms, T0 + 6 * DAY);
    CU_ASSERT_EQUAL(c->extension_weeks, 8);
    CU_ASSERT_EQUAL(c->case_type, WAFH);
    CU_ASSERT_EQUAL(c->risk16a_ms, T0 + 9 * DAY);
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_casebook_destroy(cb);
}

static void test_close_reopen_and_cohort(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    tev_t *o = opened("c", T0, CARE, "a", 1), *al = allocated("c", T0 + DAY, WORKER, "w");
    apply(cb, o, agg, NULL);
    apply(cb, al, agg, NULL);
    cw_aggdelta_clear(agg);
    tev_t *cl = closed("c", T0 + 100 * DAY);
    cw_case_t *c = apply(cb, cl, agg, NULL);
    CU_ASSERT_TRUE(cw_case_closed(c));
    /* the cohort row moves from open to closed on day T0+100; live gauges leave */
    CU_ASSERT_EQUAL(cohort_at(agg, CW_DAY_OPEN), -1);
    CU_ASSERT_EQUAL(cohort_at(agg, cw_day_from_ms(T0 + 100 * DAY)), 1);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_ALLOC_ALLOCATED, false), -1);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_WORKER, -1, false), -1);
    cw_aggdelta_clear(agg);
    tev_t *ro = reopened("c", T0 + 120 * DAY);
    apply(cb, ro, agg, NULL);
    CU_ASSERT_FALSE(cw_case_closed(c));
    CU_ASSERT_EQUAL(cohort_at(agg, CW_DAY_OPEN), 1);
    free(o);
    free(al);
    free(cl);
    free(ro);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

static void test_prioritisation_area_events(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    tev_t *on = prioritisation(T0 + 10 * DAY, "london", true);
    tev_t *off_early = prioritisation(T0, "london", false); /* older: loses */
    cw_event_t ev = ev_of(on);
    CU_ASSERT_PTR_NULL(cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL));
    ev = ev_of(off_early);
    cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL);
    cw_area_t *a = cw_casebook_area(cb, cw_casebook_intern(cb, "london"));
    CU_ASSERT_TRUE(a->prioritised);
    CU_ASSERT_EQUAL(a->since_ms, T0 + 10 * DAY);
    size_t n;
    cw_casebook_dirty_areas(cb, &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), 0);
    free(on);
    free(off_early);
    cw_casebook_destroy(cb);
}

static void test_stub_then_open(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    tev_t *s = seen("c", T0 + 2 * DAY, "k1", true);
    tev_t *al = allocated("c", T0 + DAY, WORKER, "w");
    cw_case_t *c = apply(cb, s, agg, NULL);
    apply(cb, al, agg, NULL);
    CU_ASSERT_FALSE(c->opened);
    size_t n;
    cw_aggdelta_entries(agg, &n);
    CU_ASSERT_EQUAL(n, 0); /* a stub counts in no figure */
    tev_t *o = opened("c", T0, WTFH, "a", 1);
    apply(cb, o, agg, NULL);
    CU_ASSERT_TRUE(c->opened);
    CU_ASSERT_EQUAL(c->alloc, CW_ALLOC_ALLOCATED);
    CU_ASSERT_EQUAL(agg_sum(agg, CW_AGG_LIVE, CW_LIVE_CHILDREN_SEEN, false), 1);
    CU_ASSERT_EQUAL(cohort_at(agg, CW_DAY_OPEN), 1);
    free(s);
    free(al);
    free(o);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

static void test_anomalies(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    anom_log_t an = {0};
    tev_t *e[] = {opened("c", T0, WAFH, "a", 1), report_filed("c", T0 + DAY, "never"),
                  report_ext("c", T0 + DAY, "never2", T0 + 9 * DAY), reopened("c", T0 + 2 * DAY),
                  closed("c", T0 + 10 * DAY), child_added("c", T0 + 5 * DAY, "k2"),
                  child_added("c", T0 + 11 * DAY, "k3"), opened("c", T0 + 12 * DAY, WAFH, "a", 1)};
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        apply(cb, e[i], NULL, &an);
    /* filed never ordered; extension never ordered; reopen of an open case; a child added
     * after the close (not the late one from before it); opened twice (also after close) */
    CU_ASSERT_EQUAL(an.n, 6);
    CU_ASSERT_STRING_EQUAL(an.kinds[0], "report_not_ordered");
    CU_ASSERT_STRING_EQUAL(an.kinds[1], "report_not_ordered");
    CU_ASSERT_STRING_EQUAL(an.kinds[2], "reopen_without_close");
    CU_ASSERT_STRING_EQUAL(an.kinds[3], "event_after_close");
    CU_ASSERT_STRING_EQUAL(an.kinds[4], "event_after_close");
    CU_ASSERT_STRING_EQUAL(an.kinds[5], "case_opened_twice");
    cw_case_t *c = cw_casebook_find(cb, "c");
    CU_ASSERT_EQUAL(c->anomalies, 6);
    CU_ASSERT_EQUAL(c->start_ms, T0); /* the earliest opening counts */
    CU_ASSERT_EQUAL(c->nchildren, 3); /* facts are kept */
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_casebook_destroy(cb);
}

/* Weighted sums of an aggregate delta: equal (with overwhelming probability) iff the same
 * net change per key. Interned ids are casebook-local, so keys are hashed with their strings. */
static void totals_cb(const cw_casebook_t *cb, cw_aggdelta_t *agg, int64_t out[4])
{
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(agg, &n);
    memset(out, 0, 4 * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        cw_agg_key_t k = e[i].key;
        uint64_t h = cw_casebook_hash(cw_casebook_str(cb, k.area)) ^
                     (cw_casebook_hash(cw_casebook_str(cb, k.worker)) * 31);
        k.area = k.worker = 0;
        const unsigned char *p = (const unsigned char *)&k;
        for (size_t b = 0; b < sizeof(k); b++)
            h = h * 131 + p[b];
        out[0] += e[i].v1 * (int64_t)(h % 1000003);
        out[1] += e[i].v2 * (int64_t)(h % 999983);
        out[2] += e[i].v1;
        out[3] += e[i].v2;
    }
}

/* A rich case's events in every order give the same state and the same aggregate totals. */
static uint8_t *final_state(tev_t **e, size_t n, const size_t *order, size_t *len,
                            int64_t tot[4])
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    for (size_t i = 0; i < n; i++)
        apply(cb, e[order[i]], agg, NULL);
    cw_case_t *c = cw_casebook_find(cb, "c");
    c->anomalies = 0; /* anomaly detection is by arrival; facts are not */
    uint8_t *st = cw_casebook_pack(cb, c, len);
    totals_cb(cb, agg, tot);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
    return st;
}

static void test_order_independence(void)
{
    tev_t *e[] = {opened("c", T0, CARE, "a", 2),
                  allocated("c", T0 + DAY, DUTY, NULL),
                  allocated("c", T0 + 3 * DAY, WORKER, "w1"),
                  allocated("c", T0 + 40 * DAY, WORKER, "w2"),
                  seen("c", T0 + 5 * DAY, "k1", false),
                  seen("c", T0 + 6 * DAY, "k1", true),
                  child_added("c", T0 + 7 * DAY, "k3"),
                  report_ordered("c", T0 + 8 * DAY, "r", S7, T0 + 50 * DAY),
                  report_ext("c", T0 + 45 * DAY, "r", T0 + 70 * DAY),
                  report_filed("c", T0 + 65 * DAY, "r"),
                  closed("c", T0 + 90 * DAY),
                  reopened("c", T0 + 95 * DAY),
                  closed("c", T0 + 200 * DAY),
                  reclassified("c", T0 + 10 * DAY, WAFH),
                  /* 16a assessments arriving before the concern they assess */
                  concern("c", T0 + 2 * DAY, "s1", DA),
                  concern("c", T0 + 4 * DAY, "", NEGLECT),
                  concern("c", T0 + 12 * DAY, "s2", NEGLECT),
                  risk16a("c", T0 + 9 * DAY, "s1"),
                  risk16a("c", T0 + 11 * DAY, ""),
                  risk16a("c", T0 + 20 * DAY, "s2"),
                  risk16a("c", T0 + DAY, "s2"), /* before s2 was raised: not its assessment */
                  /* a hearing held after its relisting: still listed for the relisted date */
                  hearing_listed("c", T0 + 2 * DAY, "h", 1, T0 + 30 * DAY),
                  hearing_adjourned("c", T0 + 30 * DAY, "h", T0 + 44 * DAY),
                  hearing_held("c", T0 + 44 * DAY, "h"),
                  /* same-time duplicates that differ */
                  concern("c", T0 + 13 * DAY, "s3", DA),
                  concern("c", T0 + 13 * DAY, "s3", NEGLECT),
                  report_ordered("c", T0 + 14 * DAY, "r2", S7, T0 + 60 * DAY),
                  report_ordered("c", T0 + 14 * DAY, "r2", S7, T0 + 70 * DAY)};
    size_t n = CW_ARRAY_LEN(e);
    size_t order[32];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    size_t len0;
    int64_t t0[4];
    uint8_t *st0 = final_state(e, n, order, &len0, t0);
    {
        /* the concerns' assessments, in arrival order: s1 by its own record, the id-less one
         * by the id-less record after it, s2 by the later of its two */
        cw_casebook_t *cb = cw_casebook_new();
        for (size_t i = 0; i < n; i++)
            apply(cb, e[i], NULL, NULL);
        const cw_case_t *c = cw_casebook_find(cb, "c");
        int found = 0;
        for (int i = 0; i < c->nconcerns; i++) {
            const cw_concern_t *k = &c->concerns[i];
            if (k->kind == CW_CONCERN_16A_RECORD)
                continue;
            found++;
            int64_t want = !strcmp(k->concern_id, "s1")   ? T0 + 9 * DAY
                           : !strcmp(k->concern_id, "s2") ? T0 + 20 * DAY
                           : *k->concern_id               ? 0 /* s3: raised after both */
                                                          : T0 + 11 * DAY;
            CU_ASSERT_EQUAL(k->assessed_ms, want);
        }
        CU_ASSERT_EQUAL(found, 4);
        CU_ASSERT_EQUAL_FATAL(c->nhearings, 1);
        CU_ASSERT_EQUAL(c->hearings[0].listed_for_ms, T0 + 44 * DAY);
        cw_casebook_destroy(cb);
    }
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            seed = seed * 1103515245 + 12345;
            size_t j = (seed >> 8) % (i + 1);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        size_t len;
        int64_t t[4];
        uint8_t *st = final_state(e, n, order, &len, t);
        CU_ASSERT(len == len0 && memcmp(st, st0, len) == 0);
        CU_ASSERT(memcmp(t, t0, sizeof(t)) == 0);
        free(st);
    }
    free(st0);
    for (size_t i = 0; i < n; i++)
        free(e[i]);
}

static void test_pack_load_round_trip(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    tev_t *e[] = {opened("c", T0, CARE, "a", 2), allocated("c", T0 + DAY, WORKER, "w1"),
                  seen("c", T0 + 2 * DAY, "k1", true),
                  report_ordered("c", T0 + 3 * DAY, "r", S7, T0 + 9 * DAY),
                  hearing_listed("c", T0 + DAY, "h", 1, T0 + 30 * DAY),
                  concern("c", T0 + DAY, "s", DA)};
    cw_case_t *c = NULL;
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        c = apply(cb, e[i], NULL, NULL);
    size_t len;
    uint8_t *st = cw_casebook_pack(cb, c, &len);
    cw_casebook_t *cb2 = cw_casebook_new();
    cw_case_t *c2 = cw_casebook_load(cb2, "c", 7, st, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    CU_ASSERT_FALSE(c2->dirty);
    CU_ASSERT_EQUAL(c2->partition, 7);
    size_t len2;
    uint8_t *st2 = cw_casebook_pack(cb2, c2, &len2);
    CU_ASSERT(len == len2 && !memcmp(st, st2, len));
    /* the contribution of a reloaded case equals the original's */
    cw_aggdelta_t *a1 = cw_aggdelta_new(), *a2 = cw_aggdelta_new();
    cw_casebook_contribute(cb, c, 1, a1);
    cw_casebook_contribute(cb2, c2, 1, a2);
    int64_t t1[4], t2[4];
    totals_cb(cb, a1, t1);
    totals_cb(cb2, a2, t2);
    CU_ASSERT(memcmp(t1, t2, sizeof(t1)) == 0);
    /* load over an existing entry replaces it */
    CU_ASSERT_PTR_NOT_NULL(cw_casebook_load(cb2, "c", 7, st, len));
    CU_ASSERT_EQUAL(cw_casebook_count(cb2), 1);
    CU_ASSERT_PTR_NULL(cw_casebook_load(cb2, "bad", 7, (const uint8_t *)"\xff\xff\xff", 3));
    free(st);
    free(st2);
    cw_aggdelta_destroy(a1);
    cw_aggdelta_destroy(a2);
    for (size_t i = 0; i < CW_ARRAY_LEN(e); i++)
        free(e[i]);
    cw_casebook_destroy(cb);
    cw_casebook_destroy(cb2);
}

static void test_drop_partitions_many(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    const int N = 20000;
    char id[32];
    tev_t *o = opened("x", T0, WTFH, "a", 1);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "case-%d", i);
        o->e.case_id = id;
        cw_event_t ev = ev_of(o);
        cw_casebook_apply(cb, &ev, i % 8, NULL, NULL, NULL);
    }
    cw_casebook_clear_dirty(cb);
    int32_t drop[] = {1, 5};
    cw_casebook_drop_partitions(cb, drop, 2);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), (size_t)(N - N / 4));
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "case-%d", i);
        bool present = cw_casebook_find(cb, id) != NULL;
        wrong += present != (i % 8 != 1 && i % 8 != 5);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    cw_casebook_clear(cb);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), 0);
    free(o);
    cw_casebook_destroy(cb);
}

/* ------------------------------------------------------------------ regressions (issue [F]) */

/* A storm of fresh ids on one case: the per-case arrays stop at CW_CASE_ENTRIES_MAX, the rest
 * are "too_many_entries" anomalies. Before the cap, the uint16_t counts wrapped after 65 535
 * entries (70 002 children read as 4 466, the others leaked) and each insertion was O(n). */
static void test_entries_capped(void)
{
    enum { N = 70000 };
    cw_casebook_t *cb = cw_casebook_new();
    anom_log_t an = {0};
    tev_t *o = opened("c", T0, CARE, "a", 2);
    apply(cb, o, NULL, &an);
    free(o);
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "x%05d", i);
        tev_t *x = child_added("c", T0 + DAY, id);
        apply(cb, x, NULL, &an);
        free(x);
    }
    cw_case_t *c = cw_casebook_find(cb, "c");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->nchildren, CW_CASE_ENTRIES_MAX);
    CU_ASSERT_EQUAL(an.n, N + 2 - CW_CASE_ENTRIES_MAX);
    CU_ASSERT_STRING_EQUAL(an.kinds[0], "too_many_entries");
    CU_ASSERT_EQUAL(c->event_count, N + 1);
    /* a full case still takes facts about the entries it holds */
    tev_t *x = seen("c", T0 + 2 * DAY, "k1", true);
    apply(cb, x, NULL, NULL);
    free(x);
    CU_ASSERT_STRING_EQUAL(c->children[0].child_id, "k1");
    CU_ASSERT_EQUAL(c->children[0].in_person_ms, T0 + 2 * DAY);
    /* and round-trips whole */
    size_t len;
    uint8_t *st = cw_casebook_pack(cb, c, &len);
    cw_casebook_t *cb2 = cw_casebook_new();
    cw_case_t *c2 = cw_casebook_load(cb2, "c", 0, st, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    CU_ASSERT_EQUAL(c2->nchildren, CW_CASE_ENTRIES_MAX);
    free(st);
    cw_casebook_destroy(cb2);
    cw_casebook_destroy(cb);
}

/* 70 000 extensions of one report: the count saturates at 65 535 instead of wrapping to 0,
 * which made an extended report count as never extended (and its due date the original). */
static void test_extensions_saturate(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    tev_t *x = report_ordered("c", T0, "r", S7, T0 + 10 * DAY);
    apply(cb, x, NULL, NULL);
    free(x);
    for (int i = 1; i <= 70000; i++) {
        x = report_ext("c", T0 + i, "r", T0 + 20 * DAY + i);
        apply(cb, x, NULL, NULL);
        free(x);
    }
    cw_case_t *c = cw_casebook_find(cb, "c");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->reports[0].extensions, UINT16_MAX);
    CU_ASSERT_EQUAL(cw_report_due_ms(&c->reports[0]), T0 + 20 * DAY + 70000);
    cw_casebook_destroy(cb);
}

/* Two children whose 128-byte ids differ only in the last byte get two alerts. The obligation
 * subject was an 80-byte buffer (and the dedup key 256 bytes): both ids were cut to the same
 * 79 bytes, so one alert stood for both and flipped between them. */
static void test_long_ids_distinct_alerts(void)
{
    char k1[CW_EVENT_ID_MAX + 1], k2[CW_EVENT_ID_MAX + 1];
    memset(k1, 'L', CW_EVENT_ID_MAX);
    k1[CW_EVENT_ID_MAX] = '\0';
    memcpy(k2, k1, sizeof(k1));
    k1[CW_EVENT_ID_MAX - 1] = '1';
    k2[CW_EVENT_ID_MAX - 1] = '2';
    char case_id[CW_EVENT_ID_MAX + 1];
    memset(case_id, 'C', CW_EVENT_ID_MAX); /* the longest case id too: the key is whole */
    case_id[CW_EVENT_ID_MAX] = '\0';
    char *kids[] = {k1, k2};

    cw_casebook_t *cb = cw_casebook_new();
    cw_rules_t *r = cw_rules_defaults();
    cw_alerts_t *a = cw_alerts_new();
    cw_workdays_t *wd = cw_workdays_new();
    tev_t *x = opened(case_id, T0, CARE, "a", 0);
    x->u.open.child_ids = kids;
    x->u.open.n_child_ids = 2;
    apply(cb, x, NULL, NULL);
    free(x);
    x = allocated(case_id, T0 + DAY, WORKER, "w1");
    apply(cb, x, NULL, NULL);
    free(x);
    cw_case_t *c = cw_casebook_find(cb, case_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* 60 days on, neither child seen: two firing alerts, each naming its whole child id */
    cw_alerts_evaluate_case(a, r, cb, c, wd, NULL, NULL, T0 + 60 * DAY, NULL);
    char key1[512], key2[512];
    snprintf(key1, sizeof(key1), "child_not_seen|%s|%s", case_id, k1);
    snprintf(key2, sizeof(key2), "child_not_seen|%s|%s", case_id, k2);
    const cw_alert_t *a1 = cw_alerts_find(a, key1), *a2 = cw_alerts_find(a, key2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a2);
    CU_ASSERT(a1 != a2);
    CU_ASSERT_STRING_EQUAL(a1->subject, k1);
    CU_ASSERT_STRING_EQUAL(a2->subject, k2);
    CU_ASSERT_EQUAL(a1->state, CW_ALERT_FIRING);
    CU_ASSERT_EQUAL(a2->state, CW_ALERT_FIRING);
    /* the first child seen: its alert resolves, the other's stays firing */
    x = seen(case_id, T0 + 61 * DAY, k1, true);
    apply(cb, x, NULL, NULL);
    free(x);
    cw_alerts_evaluate_case(a, r, cb, c, wd, NULL, NULL, T0 + 61 * DAY, NULL);
    CU_ASSERT_PTR_NULL(cw_alerts_find(a, key1));
    a2 = cw_alerts_find(a, key2);
    CU_ASSERT(a2 != NULL && a2->state == CW_ALERT_FIRING);
    cw_workdays_destroy(wd);
    cw_alerts_destroy(a);
    cw_rules_free(r);
    cw_casebook_destroy(cb);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("casebook", NULL, NULL);
    CU_add_test(s, "case_opened, child_added: facts and cohort", test_case_opened_and_children);
    CU_add_test(s, "allocated: every target moves the live gauges", test_allocation_targets);
    CU_add_test(s, "child_seen: earliest, in person, only the case's children",
                test_children_seen);
    CU_add_test(s, "hearing listed / adjourned / held, safeguarding letter", test_hearings);
    CU_add_test(s, "s7 ordered / extended / filed: on time and extended", test_reports_s7);
    CU_add_test(s, "concerns, 16a, domestic abuse, planning, oversight, s32, reclassified",
                test_safeguarding_facts);
    CU_add_test(s, "closed and reopened move the cohort row", test_close_reopen_and_cohort);
    CU_add_test(s, "prioritisation: area events, latest wins", test_prioritisation_area_events);
    CU_add_test(s, "a stub counts nowhere until case_opened, then with its facts",
                test_stub_then_open);
    CU_add_test(s, "impossible transitions are anomalies, facts kept", test_anomalies);
    CU_add_test(s, "200 arrival orders give one state and one aggregate total",
                test_order_independence);
    CU_add_test(s, "pack / load round trip", test_pack_load_round_trip);
    CU_add_test(s, "drop partitions keeps the rest findable", test_drop_partitions_many);
    CU_add_test(s, "fresh ids beyond CW_CASE_ENTRIES_MAX: anomalies, no wrap",
                test_entries_capped);
    CU_add_test(s, "report extensions saturate, never wrap", test_extensions_saturate);
    CU_add_test(s, "128-byte ids sharing a prefix: distinct alerts",
                test_long_ids_distinct_alerts);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
