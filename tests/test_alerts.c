/*
 * test_alerts.c — CUnit suite for the alert lifecycle engine (src/alerts.c) and the watching
 * core over it (src/watch.c): when a transition happened, what closing a case resolves and
 * with which outcome, and area conditions that must hold for a while, on the clock alone and
 * across a reload of the stored alert rows. Pure API only; test_rules.c covers the rules.
 *
 * Times are fixed: T0 is Monday 2024-01-08 00:00 UTC and D(n) is n days later (the anchors are
 * checked in test_rules.c).
 */
#include "casewatch/alertjson.h"
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/rules.h"
#include "casewatch/watch.h"
#include "casewatch/workdays.h"

#include "cwevents.h"

#include <CUnit/Basic.h>
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY CW_MS_PER_DAY
#define HOUR 3600000LL
#define WEEK (7 * DAY)
#define T0 1704672000000LL /* Monday 2024-01-08 00:00 UTC */
#define D(n) (T0 + (int64_t)(n) * DAY)

#define CARE CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PUBLIC_LAW_S31_CARE
#define WTFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WTFH
#define WAFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WAFH
#define R164 CASEWATCH__V1__CASE_TYPE__CASE_TYPE_RULE_16_4
#define S7 CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT
#define DA CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_DOMESTIC_ABUSE
#define FHDRA CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FIRST_HEARING_FHDRA
#define WITHDRAWN CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_WITHDRAWN
#define FINAL_ORDER CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_FINAL_ORDER

/* ------------------------------------------------------------------ fixture */

typedef struct fx {
    cw_casebook_t *cb;
    cw_alerts_t *a;
    cw_rules_t *r;
    cw_workdays_t *wd;
    cw_deadlines_t *dl;
    int seq;
    char last_id[32];
} fx_t;

static void fx_init(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    f->cb = cw_casebook_new();
    f->a = cw_alerts_new();
    f->r = cw_rules_defaults();
    f->wd = cw_workdays_new();
    f->dl = cw_deadlines_new();
}

static void fx_fini(fx_t *f)
{
    cw_alerts_destroy(f->a);
    cw_rules_free(f->r);
    cw_workdays_destroy(f->wd);
    cw_deadlines_destroy(f->dl);
    cw_casebook_destroy(f->cb);
}

/* Apply an event to the casebook only (its case is evaluated by the caller); frees it. */
static int64_t put(fx_t *f, tev_t *x)
{
    snprintf(x->id, sizeof(x->id), "e%04d", ++f->seq);
    x->e.event_id = x->id;
    cw_event_t ev = {.pb = &x->e, .kind = (int)x->e.payload_case};
    CU_ASSERT_PTR_NOT_NULL(cw_casebook_apply(f->cb, &ev, 3, NULL, NULL, NULL));
    snprintf(f->last_id, sizeof(f->last_id), "%s", x->id);
    int64_t t = x->e.occurred_at;
    free(x);
    return t;
}

static const cw_case_t *case_of(fx_t *f, const char *case_id)
{
    const cw_case_t *c = cw_casebook_find(f->cb, case_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return c;
}

/* A clock tick on one case. */
static int64_t tick(fx_t *f, const char *case_id, int64_t now)
{
    return cw_alerts_evaluate_case(f->a, f->r, f->cb, case_of(f, case_id), f->wd, NULL, NULL,
                                   now, NULL);
}

/* Apply an event and evaluate its case at the clock now (which may trail or lead the
 * event's time: a batch clock, a catch-up on the wall clock), the event as the cause. */
static void apply_at(fx_t *f, tev_t *x, int64_t now)
{
    char case_id[64];
    snprintf(case_id, sizeof(case_id), "%s", x->e.case_id);
    int64_t t = put(f, x);
    cw_cause_t cause = {.event_id = f->last_id, .topic = "casewatch.events", .partition = 3,
                        .offset = f->seq};
    cw_alerts_evaluate_event(f->a, f->r, f->cb, case_of(f, case_id), f->wd, NULL, NULL, now,
                             &cause, t);
}

static const cw_transition_t *last_to(const fx_t *f, const char *key, int state)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f->a, &n);
    for (size_t i = n; i-- > 0;)
        if (!strcmp(t[i].alert.dedup_key, key) && (!state || t[i].alert.state == state))
            return &t[i];
    return NULL;
}

/* ------------------------------------------------------------------ item: transition times */

/* s7 report r1 of case c1: ordered D1, due Mon 2024-02-05 (D28) 12:00, so s7_overdue is due at
 * the end of the due day, D29 00:00, pending from D28 (lead 1 day). */
static void s7_case(fx_t *f)
{
    put(f, opened("c1", T0, WAFH, "london-east", 1));
    put(f, report_ordered("c1", D(1), "r1", S7, D(28) + 12 * HOUR));
}

/* The clock stands before the batch (D28 01:00) while the report filed at D28 05:00 is
 * applied: met, at the filing's time, not the clock's. */
static void test_met_is_stamped_with_the_meeting_event(void)
{
    const char *key = "s7_overdue|c1|r1";
    fx_t f;
    fx_init(&f);
    s7_case(&f);
    tick(&f, "c1", D(28) + HOUR);
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, key)->state, CW_ALERT_PENDING);
    apply_at(&f, report_filed("c1", D(28) + 5 * HOUR, "r1"), D(28) + HOUR);
    const cw_transition_t *t = last_to(&f, key, CW_ALERT_RESOLVED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->alert.resolution, CW_RES_MET);
    CU_ASSERT_EQUAL(t->at, D(28) + 5 * HOUR);
    CU_ASSERT_EQUAL(t->alert.resolved_ms, D(28) + 5 * HOUR);
    CU_ASSERT_STRING_EQUAL(t->alert.cause_event_id, f.last_id);
    CU_ASSERT_FALSE(t->notify); /* never announced, so its resolution is not either */
    fx_fini(&f);
}

/* The case: the first hearing's safeguarding letter filed on the 10th must not show as
 * met on the 7th (the clock before the batch). FHDRA Tue 2024-04-02: the letter is due at the
 * start of Tue 26 Mar (D78), pending from D76. Filed on D77 (on time) with the clock at D76:
 * met at D77, never fired. Filed on D79 (after the due time) with the clock still at D76:
 * met late, at D79, not announced (it never fired: the clock had not reached the due time;
 * recording the firing after the fact is open, see README "Known limits of [L]"). */
static void test_letter_met_on_time_and_late_under_a_lagging_clock(void)
{
    const char *key = "first_hearing_without_safeguarding_letter|c1|h1";
    for (int late = 0; late <= 1; late++) {
        fx_t f;
        fx_init(&f);
        put(&f, opened("c1", D(70) + 9 * HOUR, WTFH, "london-east", 1));
        put(&f, hearing_listed("c1", D(71) + 9 * HOUR, "h1", FHDRA, D(85) + 10 * HOUR));
        tick(&f, "c1", D(76) + HOUR);
        CU_ASSERT_EQUAL(cw_alerts_find(f.a, key)->state, CW_ALERT_PENDING);
        int64_t filed = late ? D(79) + 10 * HOUR : D(77) + 10 * HOUR;
        apply_at(&f, letter("c1", filed, "h1"), D(76) + HOUR);
        const cw_transition_t *t = last_to(&f, key, CW_ALERT_RESOLVED);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->alert.resolution, late ? CW_RES_MET_LATE : CW_RES_MET);
        CU_ASSERT_EQUAL(t->at, filed);
        CU_ASSERT_EQUAL(t->alert.resolved_ms, filed);
        CU_ASSERT_FALSE(t->notify); /* never fired: the clock had not reached the due time */
        CU_ASSERT_PTR_NULL(cw_alerts_find(f.a, key));
        fx_fini(&f);
    }
}

/* A firing the event itself triggers (domestic abuse alleged, not assessed, when a report is
 * filed: due at the filing) is stamped with the event's time, however far the clock is
 * ahead (the wall clock in a catch-up); so are its pending transition and pending_ms, and so
 * the alert ids are the same whatever the clock. */
static void da_case(fx_t *f)
{
    put(f, opened("c1", T0, WTFH, "london-east", 1));
    put(f, concern("c1", D(2), "s1", DA));
    put(f, report_ordered("c1", D(1), "r1", S7, D(40)));
}

static void test_event_triggered_firing_is_stamped_with_the_event(void)
{
    const char *key = "domestic_abuse_not_assessed_at_report|c1|";
    const int64_t filed = D(20) + 10 * HOUR;
    char ids[2][2][24];
    for (int run = 0; run < 2; run++) {
        fx_t f;
        fx_init(&f);
        da_case(&f);
        apply_at(&f, report_filed("c1", filed, "r1"), D(25) + run * DAY);
        const cw_transition_t *p = last_to(&f, key, CW_ALERT_PENDING);
        const cw_transition_t *t = last_to(&f, key, CW_ALERT_FIRING);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(p->at, filed);
        CU_ASSERT_EQUAL(t->at, filed);
        CU_ASSERT(t->notify);
        CU_ASSERT_EQUAL(t->alert.pending_ms, filed);
        CU_ASSERT_EQUAL(t->alert.firing_ms, filed);
        /* a firing is the due time's doing: no cause event ([L]: which event was applied last
         * when the clock got there depends on arrival) */
        CU_ASSERT_STRING_EQUAL(t->alert.cause_event_id, "");
        snprintf(ids[run][0], sizeof(ids[run][0]), "%s", p->alert_id);
        snprintf(ids[run][1], sizeof(ids[run][1]), "%s", t->alert_id);
        fx_fini(&f);
    }
    CU_ASSERT_STRING_EQUAL(ids[0][0], ids[1][0]);
    CU_ASSERT_STRING_EQUAL(ids[0][1], ids[1][1]);
}

/* A due time that passed after the event occurred fires at that due time, whenever the clock
 * got there ([L]): a care case opened on T0 applied with the clock at D190 fires its 22- and
 * 26-week alerts at D154 and D182; a repeat is the clock's. */
static void test_deadline_after_the_event_is_the_clocks(void)
{
    fx_t f;
    fx_init(&f);
    apply_at(&f, opened("c1", T0, CARE, "london-east", 1), D(190));
    const cw_transition_t *t = last_to(&f, "care_26_weeks|c1|", CW_ALERT_FIRING);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->at, D(182));
    CU_ASSERT_EQUAL(t->alert.firing_ms, D(182)); /* the due time it measures */
    t = last_to(&f, "care_26_weeks_warning|c1|", CW_ALERT_FIRING);
    CU_ASSERT(t && t->at == D(154));
    cw_alerts_clear_transitions(f.a);
    apply_at(&f, child_added("c1", D(100), "k9"), D(191));
    t = last_to(&f, "care_26_weeks|c1|", CW_ALERT_FIRING);
    CU_ASSERT(t && t->repeat && t->at == D(191));
    fx_fini(&f);
}

/* Resolutions the event causes are stamped with it: an s32 extension clears a firing 26-week
 * alert at the extension's time; a closing resolves case_closed at the close's time. */
static void test_event_caused_resolutions_are_stamped_with_the_event(void)
{
    fx_t f;
    fx_init(&f);
    put(&f, opened("c1", T0, CARE, "london-east", 1));
    tick(&f, "c1", D(182));
    apply_at(&f, extended("c1", D(185), 2), D(186)); /* due D196 > D186: cleared */
    const cw_transition_t *t = last_to(&f, "care_26_weeks|c1|", CW_ALERT_RESOLVED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->alert.resolution, CW_RES_CONDITION_CLEARED);
    CU_ASSERT_EQUAL(t->at, D(185));
    CU_ASSERT_EQUAL(t->alert.resolved_ms, D(185));
    fx_fini(&f);

    fx_init(&f);
    s7_case(&f);
    tick(&f, "c1", D(29));
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, "s7_overdue|c1|r1")->state, CW_ALERT_FIRING);
    apply_at(&f, closed("c1", D(31)), D(33));
    t = last_to(&f, "s7_overdue|c1|r1", CW_ALERT_RESOLVED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->alert.resolution, CW_RES_CASE_CLOSED);
    CU_ASSERT_EQUAL(t->at, D(31));
    CU_ASSERT_EQUAL(t->alert.resolved_ms, D(31));
    CU_ASSERT(t->notify);
    fx_fini(&f);
}

/* Through the watching core (what casewatchd and casewatch-dryrun call): the event's time
 * reaches the engine; a plain evaluation is the clock's. */
static void test_watch_passes_the_events_time(void)
{
    fx_t f;
    fx_init(&f);
    cw_watch_t w = {f.cb, f.r, f.a, f.dl, f.wd, NULL};
    da_case(&f);
    put(&f, report_filed("c1", D(20) + 10 * HOUR, "r1"));
    cw_case_t *c = cw_casebook_find(f.cb, "c1");
    cw_cause_t cause = {.event_id = f.last_id, .topic = "log"};
    cw_casebook_set_last_event(f.cb, c, f.last_id, "log", 7, 0);
    cw_watch_evaluate_event(&w, c->hash, D(22), &cause, D(20) + 10 * HOUR);
    const cw_transition_t *t =
        last_to(&f, "domestic_abuse_not_assessed_at_report|c1|", CW_ALERT_FIRING);
    CU_ASSERT(t && t->at == D(20) + 10 * HOUR);
    fx_fini(&f);

    fx_init(&f);
    w = (cw_watch_t){f.cb, f.r, f.a, f.dl, f.wd, NULL};
    da_case(&f);
    put(&f, report_filed("c1", D(20) + 10 * HOUR, "r1"));
    c = cw_casebook_find(f.cb, "c1");
    cw_watch_evaluate(&w, c->hash, D(22), &cause);
    t = last_to(&f, "domestic_abuse_not_assessed_at_report|c1|", CW_ALERT_FIRING);
    CU_ASSERT(t && t->at == D(20) + 10 * HOUR); /* due at the filing, whenever seen */
    fx_fini(&f);
}

/* ------------------------------------------------------------------ item: closing a case */

/* Closing meets the rules that wait for the case to finish (26 weeks for care, 52/100 weeks,
 * the 16.4 six-month timescale): met_late once past the due time, met before it, with the
 * close outcome, so a withdrawal is told apart from a final order. Every other open alert
 * resolves case_closed, with the outcome too. */
static void test_close_outcome_on_duration_rules(void)
{
    fx_t f;
    fx_init(&f);
    put(&f, opened("c1", T0, CARE, "london-east", 1));
    put(&f, report_ordered("c1", D(1), "r1", S7, D(28) + 12 * HOUR));
    tick(&f, "c1", D(182));
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, "care_26_weeks|c1|")->state, CW_ALERT_FIRING);
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, "s7_overdue|c1|r1")->state, CW_ALERT_FIRING);
    cw_alerts_clear_transitions(f.a);
    tev_t *x = closed("c1", D(190));
    x->u.cc.outcome = WITHDRAWN;
    apply_at(&f, x, D(190));
    static const struct {
        const char *key;
        int resolution;
    } want[] = {
        {"care_26_weeks|c1|", CW_RES_MET_LATE},
        {"care_26_weeks_warning|c1|", CW_RES_MET_LATE},
        {"s7_overdue|c1|r1", CW_RES_CASE_CLOSED},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(want); i++) {
        const cw_transition_t *t = last_to(&f, want[i].key, CW_ALERT_RESOLVED);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->alert.resolution, want[i].resolution);
        CU_ASSERT_EQUAL(t->alert.close_outcome, WITHDRAWN);
        CU_ASSERT_EQUAL(t->alert.resolved_ms, D(190));
        CU_ASSERT(t->notify);
        /* the outcome reaches the notification's JSON */
        char *js = cw_alertjson_transition(t, f.r);
        json_object *o = json_tokener_parse(js), *v;
        CU_ASSERT(o && json_object_object_get_ex(o, "close_outcome", &v) &&
                  !strcmp(json_object_get_string(v), "withdrawn"));
        json_object_put(o);
        free(js);
    }
    CU_ASSERT_EQUAL(cw_alerts_count(f.a, 0), 0);
    fx_fini(&f);

    /* closed before 52 weeks, pending: met, with the outcome; a met that is not the closing
     * (the report filed) carries none */
    fx_init(&f);
    put(&f, opened("c1", T0, WTFH, "london-east", 1));
    put(&f, report_ordered("c1", D(300), "r1", S7, D(360)));
    tick(&f, "c1", D(359));
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, "open_52_weeks|c1|")->state, CW_ALERT_PENDING);
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, "s7_due_soon|c1|r1")->state, CW_ALERT_FIRING);
    apply_at(&f, report_filed("c1", D(359) + HOUR, "r1"), D(359));
    const cw_transition_t *t = last_to(&f, "s7_due_soon|c1|r1", CW_ALERT_RESOLVED);
    CU_ASSERT(t && t->alert.resolution == CW_RES_MET_LATE && t->alert.close_outcome == 0);
    apply_at(&f, closed("c1", D(360)), D(360));
    t = last_to(&f, "open_52_weeks|c1|", CW_ALERT_RESOLVED);
    CU_ASSERT(t && t->alert.resolution == CW_RES_MET && !t->notify);
    CU_ASSERT(t && t->alert.close_outcome == FINAL_ORDER && t->at == D(360));
    fx_fini(&f);
}

/* The 16.4 final hearing six months from the start is the timescale of the proceedings:
 * closing without a final hearing held meets it (met_late past six months, with the
 * outcome); a final hearing held meets it without one. */
static void test_r164_final_is_met_by_closing(void)
{
    const char *key = "r16_4_final_hearing|c1|";
    CU_ASSERT_TRUE(cw_rules_met_by_close(CW_RULE_R164_FINAL));
    CU_ASSERT_FALSE(cw_rules_met_by_close(CW_RULE_R164_PLANNING));
    CU_ASSERT_FALSE(cw_rules_met_by_close(CW_RULE_S7_OVERDUE));
    fx_t f;
    fx_init(&f);
    put(&f, opened("c1", T0, R164, "london-east", 1));
    tick(&f, "c1", D(182));
    CU_ASSERT_EQUAL(cw_alerts_find(f.a, key)->state, CW_ALERT_FIRING);
    tev_t *x = closed("c1", D(200));
    x->u.cc.outcome = WITHDRAWN;
    apply_at(&f, x, D(200));
    const cw_transition_t *t = last_to(&f, key, CW_ALERT_RESOLVED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->alert.resolution, CW_RES_MET_LATE);
    CU_ASSERT_EQUAL(t->alert.close_outcome, WITHDRAWN);
    CU_ASSERT_EQUAL(t->at, D(200));
    fx_fini(&f);
}

/* The outcome names follow events.proto's CloseOutcome (lower case, without the prefix). */
static void test_close_outcome_names(void)
{
    const ProtobufCEnumDescriptor *d = &casewatch__v1__close_outcome__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        char want[64];
        const char *n = d->values[i].name + strlen("CLOSE_OUTCOME_");
        size_t k = 0;
        for (; n[k] && k + 1 < sizeof(want); k++)
            want[k] = (char)tolower((unsigned char)n[k]);
        want[k] = '\0';
        if (d->values[i].value == 0) {
            CU_ASSERT_STRING_EQUAL(cw_close_outcome_name(0), "");
        } else {
            CU_ASSERT_STRING_EQUAL(cw_close_outcome_name(d->values[i].value), want);
        }
    }
    CU_ASSERT_STRING_EQUAL(cw_close_outcome_name(200), "");
    CU_ASSERT_STRING_EQUAL(cw_close_outcome_name(-1), "");
}

/* ------------------------------------------------------------------ item: area conditions */

/* What the daemon's metric snapshot hands the engine for a prioritised area under both
 * thresholds: area_can_deactivate, "must hold 4 weeks" (due_ms = -4 weeks, armed 0). */
static size_t deactivate_obligation(const cw_rules_t *r, cw_obligation_t o[CW_RULES_AREA_MAX])
{
    cw_area_facts_t facts = {.prioritised = true, .open_cases = 800, .duty_known = true,
                             .duty_pct = 1.5, .growth_known = true, .growth_pct = -2.0};
    size_t n = cw_rules_area(r, 0, &facts, o);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(o[0].rule, CW_RULE_AREA_CAN_DEACTIVATE);
    return n;
}

/* The condition holds from t0; the snapshots evaluate it daily; nothing else happens. It fires
 * exactly 4 weeks after t0, with the default lead_days 0 (it used to re-arm at every
 * snapshot and never fire). */
static void test_deactivate_fires_from_the_clock_alone(void)
{
    const char *key = "area_can_deactivate|area:essex|";
    cw_rules_t *r = cw_rules_defaults();
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_CAN_DEACTIVATE].lead_days, 0);
    cw_alerts_t *a = cw_alerts_new();
    cw_obligation_t o[CW_RULES_AREA_MAX];
    size_t n = deactivate_obligation(r, o);
    const int64_t t0 = D(10) + 7 * HOUR;
    int64_t fired_at = 0;
    for (int d = 0; d <= 40 && !fired_at; d++) {
        int64_t now = t0 + d * DAY;
        int64_t next = cw_alerts_evaluate_scope(a, r, "area:essex", "essex", NULL, o, n, now);
        const cw_alert_t *x = cw_alerts_find(a, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(x); /* the condition's start is remembered from t0 */
        CU_ASSERT_EQUAL(x->armed_ms, t0);
        CU_ASSERT_EQUAL(x->due_ms, t0 + 4 * WEEK);
        if (x->state == CW_ALERT_FIRING)
            fired_at = now;
        else
            CU_ASSERT_EQUAL(next, t0 + 4 * WEEK);
    }
    CU_ASSERT_EQUAL(fired_at, t0 + 4 * WEEK);
    const cw_transition_t *t = NULL;
    size_t nt;
    const cw_transition_t *all = cw_alerts_transitions(a, &nt);
    int notified = 0;
    for (size_t i = 0; i < nt; i++) {
        notified += all[i].notify;
        if (all[i].alert.state == CW_ALERT_FIRING)
            t = &all[i];
    }
    CU_ASSERT_EQUAL(notified, 1); /* pending is recorded, not announced */
    CU_ASSERT(t && t->at == t0 + 4 * WEEK && t->alert.firing_ms == t0 + 4 * WEEK);
    cw_alerts_destroy(a);
    cw_rules_free(r);
}

/* The condition's start survives what the daemon does between snapshots: its pending row is
 * stored (cw_alerts_transition_stored) and loaded back (cw_alerts_load, the fields the
 * daemon's alert rows hold), and the alert still fires 4 weeks after t0. */
static void copy_row(void *arg, const cw_alert_t *x)
{
    cw_alert_t *row = arg;
    if (!strcmp(x->dedup_key, "area_can_deactivate|area:essex|")) {
        *row = (cw_alert_t){0};
        row->dedup_key = x->dedup_key; /* the strings are borrowed until the engine changes */
        row->rule = x->rule;
        row->state = x->state;
        row->case_id = "";
        row->subject = x->subject;
        row->area = x->area;
        row->worker = x->worker;
        row->partition = x->partition;
        row->armed_ms = x->armed_ms;
        row->due_ms = x->due_ms;
        row->pending_ms = x->pending_ms;
        row->firing_ms = x->firing_ms;
        row->notified_ms = x->notified_ms;
        row->severity = x->severity;
        row->rule_version = x->rule_version;
        row->cause_event_id = "";
        row->cause_topic = "";
    }
}

static void test_deactivate_survives_a_reload(void)
{
    const char *key = "area_can_deactivate|area:essex|";
    cw_rules_t *r = cw_rules_defaults();
    cw_alerts_t *a = cw_alerts_new();
    cw_obligation_t o[CW_RULES_AREA_MAX];
    size_t n = deactivate_obligation(r, o);
    const int64_t t0 = D(10);
    for (int d = 0; d <= 10; d++)
        cw_alerts_evaluate_scope(a, r, "area:essex", "essex", NULL, o, n, t0 + d * DAY);
    /* what the daemon stores: the pending transition of an area alert has a row */
    size_t nt;
    const cw_transition_t *t = cw_alerts_transitions(a, &nt);
    CU_ASSERT_EQUAL_FATAL(nt, 1);
    CU_ASSERT(t[0].alert.state == CW_ALERT_PENDING && !t[0].notify);
    CU_ASSERT_TRUE(cw_alerts_transition_stored(&t[0]));
    /* the restart: a new engine loads the row */
    cw_alert_t row = {0};
    cw_alerts_foreach(a, copy_row, &row);
    CU_ASSERT_PTR_NOT_NULL_FATAL(row.dedup_key);
    cw_alerts_t *b = cw_alerts_new();
    cw_alerts_load(b, &row);
    cw_alerts_destroy(a);
    int64_t fired_at = 0;
    for (int d = 11; d <= 40 && !fired_at; d++) {
        int64_t now = t0 + d * DAY;
        cw_alerts_evaluate_scope(b, r, "area:essex", "essex", NULL, o, n, now);
        const cw_alert_t *x = cw_alerts_find(b, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(x);
        CU_ASSERT_EQUAL(x->armed_ms, t0);
        if (x->state == CW_ALERT_FIRING)
            fired_at = now;
    }
    CU_ASSERT_EQUAL(fired_at, t0 + 4 * WEEK);
    cw_alerts_destroy(b);

    /* a case alert's pending transition needs no row: case state rebuilds it */
    fx_t f;
    fx_init(&f);
    s7_case(&f);
    tick(&f, "c1", D(28) + HOUR);
    const cw_transition_t *p = last_to(&f, "s7_overdue|c1|r1", CW_ALERT_PENDING);
    CU_ASSERT(p && !cw_alerts_transition_stored(p));
    tick(&f, "c1", D(29));
    p = last_to(&f, "s7_overdue|c1|r1", CW_ALERT_FIRING);
    CU_ASSERT(p && cw_alerts_transition_stored(p));
    fx_fini(&f);
    cw_rules_free(r);
}

/* The condition stops holding before 4 weeks: the pending alert resolves condition_cleared,
 * unannounced (its row is stored, so a reload does not bring it back); when it holds again
 * the 4 weeks count from then. */
static void test_deactivate_restarts_when_the_condition_breaks(void)
{
    const char *key = "area_can_deactivate|area:essex|";
    cw_rules_t *r = cw_rules_defaults();
    cw_alerts_t *a = cw_alerts_new();
    cw_obligation_t o[CW_RULES_AREA_MAX];
    size_t n = deactivate_obligation(r, o);
    const int64_t t0 = D(10);
    for (int d = 0; d < 10; d++)
        cw_alerts_evaluate_scope(a, r, "area:essex", "essex", NULL, o, n, t0 + d * DAY);
    cw_alerts_clear_transitions(a);
    cw_alerts_evaluate_scope(a, r, "area:essex", "essex", NULL, NULL, 0, t0 + 10 * DAY);
    size_t nt;
    const cw_transition_t *t = cw_alerts_transitions(a, &nt);
    CU_ASSERT_EQUAL_FATAL(nt, 1);
    CU_ASSERT(t[0].alert.state == CW_ALERT_RESOLVED && !t[0].notify);
    CU_ASSERT_EQUAL(t[0].alert.resolution, CW_RES_CONDITION_CLEARED);
    CU_ASSERT_TRUE(cw_alerts_transition_stored(&t[0]));
    CU_ASSERT_PTR_NULL(cw_alerts_find(a, key));
    int64_t fired_at = 0;
    for (int d = 12; d <= 60 && !fired_at; d++) {
        cw_alerts_evaluate_scope(a, r, "area:essex", "essex", NULL, o, n, t0 + d * DAY);
        const cw_alert_t *x = cw_alerts_find(a, key);
        if (x && x->state == CW_ALERT_FIRING)
            fired_at = t0 + d * DAY;
    }
    CU_ASSERT_EQUAL(fired_at, t0 + 12 * DAY + 4 * WEEK);
    cw_alerts_destroy(a);
    cw_rules_free(r);
}

/* the scope key, made in one place: its text is the outbox key and the published key */
static void test_scope_key(void)
{
    static const struct {
        const char *case_id, *area, *worker, *want;
    } cases[] = {
        {"C1", "essex", "w1", "C1"},       /* a case alert: the case, whatever else is set */
        {"", "essex", "w1", "worker:w1"},  /* a worker's */
        {NULL, "", "w1", "worker:w1"},
        {"", "essex", "", "area:essex"},   /* an area's */
        {NULL, "essex", NULL, "area:essex"},
        {NULL, NULL, NULL, "area:"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        char buf[200];
        const char *got =
            cw_alerts_scope(buf, sizeof(buf), cases[i].case_id, cases[i].area, cases[i].worker);
        CU_ASSERT_STRING_EQUAL(got, cases[i].want);
    }
    char small[8];
    CU_ASSERT_STRING_EQUAL(cw_alerts_scope(small, sizeof(small), NULL, "essex", NULL), "area:es");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("alerts", NULL, NULL);
    CU_add_test(s, "met: stamped with the meeting event, not the batch clock",
                test_met_is_stamped_with_the_meeting_event);
    CU_add_test(s, "letter met on time / late while the clock lags",
                test_letter_met_on_time_and_late_under_a_lagging_clock);
    CU_add_test(s, "an event-triggered firing is stamped with the event; ids do not depend "
                   "on the clock",
                test_event_triggered_firing_is_stamped_with_the_event);
    CU_add_test(s, "a deadline passed after the event, and repeats, are the clock's",
                test_deadline_after_the_event_is_the_clocks);
    CU_add_test(s, "resolutions caused by an event are stamped with it",
                test_event_caused_resolutions_are_stamped_with_the_event);
    CU_add_test(s, "watch: the event's time reaches the engine", test_watch_passes_the_events_time);
    CU_add_test(s, "closing: duration rules met/met_late with the outcome, others case_closed",
                test_close_outcome_on_duration_rules);
    CU_add_test(s, "closing meets the 16.4 six-month timescale", test_r164_final_is_met_by_closing);
    CU_add_test(s, "close outcome names follow events.proto", test_close_outcome_names);
    CU_add_test(s, "area_can_deactivate fires 4 weeks on from the clock alone",
                test_deactivate_fires_from_the_clock_alone);
    CU_add_test(s, "area_can_deactivate: the condition's start survives a reload",
                test_deactivate_survives_a_reload);
    CU_add_test(s, "area_can_deactivate: a broken condition starts again",
                test_deactivate_restarts_when_the_condition_breaks);
    CU_add_test(s, "scope key: case id, worker:W or area:A", test_scope_key);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
