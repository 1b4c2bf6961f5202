/*
 * test_rules.c — CUnit suite for the alert rules (src/rules.c) driven through the alert
 * lifecycle engine (src/alerts.c), pure API only: a casebook, events, and
 * cw_alerts_evaluate_case() at chosen clock times.
 *
 * Every case rule gets, from one table: its boundary (due − 1 ms not firing, due firing with a
 * notify transition), firing on the clock alone (the deadlines tick), its meeting event after
 * firing (met late, notified) and before the due time (never fires), and closing the case after
 * and before firing. Then: silences, deterministic alert ids, s32 re-baselining, repeat
 * notification and acknowledgement, per-area overrides and rule-file errors, working-day
 * deadlines across weekends and bank holidays, and the area/worker condition rules through
 * cw_alerts_evaluate_scope() with hand-made obligations.
 *
 * Times are fixed: T0 is Monday 2024-01-08 00:00 UTC and D(n) is n days later. Expected due
 * times are worked out by hand in the comments next to them; test_calendar_anchors checks the
 * D(n) dates against cw_day_from_ymd() so a miscount there shows up as its own failure.
 */
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/rules.h"
#include "casewatch/workdays.h"

#include "cwevents.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY CW_MS_PER_DAY
#define HOUR 3600000LL
#define WEEK (7 * DAY)
#define T0 1704672000000LL /* Monday 2024-01-08 00:00 UTC */
#define D(n) (T0 + (int64_t)(n) * DAY)

#define CARE CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PUBLIC_LAW_S31_CARE
#define WTFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WTFH
#define WAFH CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WAFH
#define R164 CASEWATCH__V1__CASE_TYPE__CASE_TYPE_RULE_16_4
#define WORKER CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER
#define DUTY CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY
#define S7 CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT
#define DA CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_DOMESTIC_ABUSE
#define NEGLECT CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_NEGLECT
#define FHDRA CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FIRST_HEARING_FHDRA
#define FINAL CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FINAL

/* An assertion that names the table row (ctx_, a string in scope) when it fails. */
#define CHECK(cond)                                                                              \
    do {                                                                                         \
        char m_[320];                                                                            \
        snprintf(m_, sizeof(m_), "[%s] %s", ctx_, #cond);                                        \
        CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, m_, __FILE__, "",         \
                                CU_FALSE);                                                       \
    } while (0)

/* ------------------------------------------------------------------ event builders */

/* Events come from tests/support/cwevents.h; put() below re-assigns each event's id from the
 * fixture's counter when it is applied, so the same script gives the same stamps. */

/* ------------------------------------------------------------------ fixture */

/* Everything one scenario needs; nothing outlives fx_fini(). */
typedef struct fx {
    cw_casebook_t *cb;
    cw_alerts_t *a;
    cw_rules_t *r;
    cw_workdays_t *wd;
    uint32_t prio_area; /* the one prioritised court area (interned), 0 = none */
    const cw_prio_change_t *changes; /* its changes (NULL: prioritised since the epoch) */
    uint32_t nchanges;
    int seq;            /* event id counter */
    char last_id[32];   /* id of the last event applied */
} fx_t;

/* the one prioritised area: prioritised since the epoch (one period, never ended) */
static const cw_prio_change_t *prio_fn(void *arg, uint32_t area, uint32_t *n)
{
    static const cw_prio_change_t always = {0, 1, true};
    const fx_t *f = arg;
    *n = f->prio_area && area == f->prio_area;
    if (*n && f->changes) {
        *n = f->nchanges;
        return f->changes;
    }
    return *n ? &always : NULL;
}

static void fx_init(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    f->cb = cw_casebook_new();
    f->a = cw_alerts_new();
    f->r = cw_rules_defaults();
    f->wd = cw_workdays_new();
}

static void fx_fini(fx_t *f)
{
    cw_alerts_destroy(f->a);
    cw_rules_free(f->r);
    cw_workdays_destroy(f->wd);
    cw_casebook_destroy(f->cb);
}

/* Apply an event without evaluating (the state is a function of the events; the clock is
 * whatever the next evaluation says). Frees the event. */
static void put(fx_t *f, tev_t *x)
{
    snprintf(x->id, sizeof(x->id), "e%04d", ++f->seq);
    x->e.event_id = x->id;
    cw_event_t ev = {.pb = &x->e, .kind = (int)x->e.payload_case};
    CU_ASSERT_PTR_NOT_NULL(cw_casebook_apply(f->cb, &ev, 3, NULL, NULL, NULL));
    snprintf(f->last_id, sizeof(f->last_id), "%s", x->id);
}

static int64_t eval_cause(fx_t *f, const char *case_id, int64_t now, const cw_cause_t *cause)
{
    cw_case_t *c = cw_casebook_find(f->cb, case_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return cw_alerts_evaluate_case(f->a, f->r, f->cb, c, f->wd, prio_fn, f, now, cause);
}

/* A clock tick: evaluate a case at now with no cause. */
static int64_t eval(fx_t *f, const char *case_id, int64_t now)
{
    return eval_cause(f, case_id, now, NULL);
}

/* Apply an event and evaluate its case at the event's time, the event as the cause. */
static int64_t feed(fx_t *f, tev_t *x)
{
    put(f, x);
    cw_cause_t cause = {.event_id = x->id, .topic = "casewatch.events", .partition = 3,
                        .offset = f->seq};
    int64_t next = eval_cause(f, x->e.case_id, x->e.occurred_at, &cause);
    free(x);
    return next;
}

/* put() for events that are not needed afterwards. */
static void put_free(fx_t *f, tev_t *x)
{
    put(f, x);
    free(x);
}

static const char *key_of(char *buf, size_t sz, const fx_t *f, int rule, const char *case_id,
                          const char *subject)
{
    snprintf(buf, sz, "%s|%s|%s", f->r->rule[rule].name, case_id, subject);
    return buf;
}

/* The state of an active alert, 0 when there is none. */
static int state_of(const fx_t *f, const char *key)
{
    const cw_alert_t *x = cw_alerts_find(f->a, key);
    return x ? x->state : 0;
}

/* Transitions of one alert since the last clear. */
static int tr_count(const fx_t *f, const char *key)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f->a, &n);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += !strcmp(t[i].alert.dedup_key, key);
    return k;
}

static int tr_count_to(const fx_t *f, const char *key, int state)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f->a, &n);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += !strcmp(t[i].alert.dedup_key, key) && t[i].alert.state == state;
    return k;
}

static const cw_transition_t *tr_last(const fx_t *f, const char *key)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f->a, &n);
    for (size_t i = n; i-- > 0;)
        if (!strcmp(t[i].alert.dedup_key, key))
            return &t[i];
    return NULL;
}

static void write_file(char *path, size_t sz, const char *text)
{
    snprintf(path, sz, "/tmp/cw-test-rules-XXXXXX");
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    size_t len = strlen(text);
    CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
    close(fd);
}

/* ------------------------------------------------------------------ the rule table */

/* Each setup applies a case "c1"'s events up to the one that arms the rule and returns the
 * arming time. Each meet returns the event that satisfies the rule at t (after applying any
 * event it presupposes). */
typedef int64_t (*setup_fn)(fx_t *f);
typedef tev_t *(*meet_fn)(fx_t *f, int64_t t);

static int64_t su_care(fx_t *f)
{
    put_free(f, opened("c1", T0, CARE, "london-east", 1));
    return T0;
}

static int64_t su_private(fx_t *f)
{
    put_free(f, opened("c1", T0, WTFH, "london-east", 1));
    return T0;
}

static int64_t su_s7(fx_t *f)
{
    put_free(f, opened("c1", T0, WAFH, "london-east", 1));
    /* due Monday 2024-02-05 12:00: due day D(28) */
    put_free(f, report_ordered("c1", D(1), "r1", S7, D(28) + 12 * HOUR));
    return D(1);
}

static int64_t su_r164(fx_t *f)
{
    put_free(f, opened("c1", T0, R164, "london-east", 1));
    return T0;
}

static int64_t su_duty(fx_t *f)
{
    /* Thursday 2024-03-28, the day before Good Friday */
    put_free(f, opened("c1", D(80) + 9 * HOUR, WTFH, "london-east", 1));
    return D(80) + 9 * HOUR;
}

static int64_t su_child(fx_t *f)
{
    put_free(f, opened("c1", D(77) + 9 * HOUR, WTFH, "london-east", 1)); /* Mon 2024-03-25 */
    put_free(f, allocated("c1", D(79) + 10 * HOUR, WORKER, "w1"));       /* Wed 2024-03-27 */
    return D(79) + 10 * HOUR;
}

static int64_t su_in_person(fx_t *f)
{
    put_free(f, opened("c1", T0, WAFH, "london-east", 1));
    put_free(f, report_ordered("c1", D(1), "r1", S7, D(40)));
    put_free(f, report_filed("c1", D(20) + 10 * HOUR, "r1"));
    return D(20) + 10 * HOUR;
}

static int64_t su_concern(fx_t *f)
{
    put_free(f, opened("c1", T0, WTFH, "london-east", 1));
    put_free(f, concern("c1", D(2) + 9 * HOUR, "s1", NEGLECT));
    return D(2) + 9 * HOUR;
}

static int64_t su_da(fx_t *f)
{
    put_free(f, opened("c1", T0, WTFH, "london-east", 1));
    put_free(f, concern("c1", D(2), "s1", DA));
    put_free(f, report_ordered("c1", D(1), "r1", S7, D(40)));
    put_free(f, report_filed("c1", D(20) + 10 * HOUR, "r1"));
    return D(20) + 10 * HOUR;
}

static int64_t su_letter(fx_t *f)
{
    put_free(f, opened("c1", D(70) + 9 * HOUR, WTFH, "london-east", 1)); /* Mon 2024-03-18 */
    /* listed on Tue 2024-03-19 for the FHDRA on Tue 2024-04-02 10:00 */
    put_free(f, hearing_listed("c1", D(71) + 9 * HOUR, "h1", FHDRA, D(85) + 10 * HOUR));
    return D(71) + 9 * HOUR;
}

static int64_t su_oversight(fx_t *f)
{
    put_free(f, opened("c1", T0, WTFH, "london-east", 1));
    put_free(f, allocated("c1", D(1), WORKER, "w1"));
    return D(1);
}

static int64_t su_welfare(fx_t *f)
{
    tev_t *o = opened("c1", D(80) + 9 * HOUR, WTFH, "london-east", 1); /* Thu 2024-03-28 */
    o->u.open.welfare_at_risk = true;
    put_free(f, o);
    f->prio_area = cw_casebook_intern(f->cb, "london-east");
    return D(80) + 9 * HOUR;
}

static tev_t *m_close(fx_t *f, int64_t t)
{
    return closed("c1", t);
}

static tev_t *m_filed(fx_t *f, int64_t t)
{
    return report_filed("c1", t, "r1");
}

static tev_t *m_planning(fx_t *f, int64_t t)
{
    return simple("c1", t, P(PLANNING_MEETING_HELD));
}

static tev_t *m_final(fx_t *f, int64_t t)
{
    put_free(f, hearing_listed("c1", t - DAY, "hf", FINAL, t));
    return hearing_held("c1", t, "hf");
}

static tev_t *m_alloc(fx_t *f, int64_t t)
{
    return allocated("c1", t, WORKER, "w1");
}

static tev_t *m_seen(fx_t *f, int64_t t)
{
    return seen("c1", t, "k1", false);
}

static tev_t *m_in_person(fx_t *f, int64_t t)
{
    return seen("c1", t, "k1", true);
}

static tev_t *m_16a(fx_t *f, int64_t t)
{
    return risk16a("c1", t, "s1");
}

static tev_t *m_da(fx_t *f, int64_t t)
{
    return simple("c1", t, P(DOMESTIC_ABUSE_ASSESSED));
}

static tev_t *m_letter(fx_t *f, int64_t t)
{
    return letter("c1", t, "h1");
}

static tev_t *m_oversight(fx_t *f, int64_t t)
{
    return simple("c1", t, P(MANAGEMENT_OVERSIGHT_RECORDED));
}

typedef struct rule_row {
    int rule;
    const char *name;
    const char *subject;
    setup_fn setup;
    int64_t due; /* by hand */
    meet_fn meet;
    int64_t early;    /* a meeting time before the due time */
    int closed_late;  /* resolution when the case closes after firing */
    int closed_early; /* resolution when it closes while the alert is pending */
} rule_row_t;

#define WEEKS_CLOSE CW_RES_MET_LATE, CW_RES_MET /* closing is what the duration rules wait for */
#define OTHER_CLOSE CW_RES_CASE_CLOSED, CW_RES_CASE_CLOSED

static const rule_row_t rows[] = {
    /* care case issued T0: 22 weeks = 154 days → Monday 2024-06-10 00:00 */
    {CW_RULE_CARE_26W_WARNING, "care_26_weeks_warning", "", su_care, D(154), m_close,
     D(154) - HOUR, WEEKS_CLOSE},
    /* 26 weeks = 182 days → Monday 2024-07-08 00:00 */
    {CW_RULE_CARE_26W, "care_26_weeks", "", su_care, D(182), m_close, D(182) - HOUR,
     WEEKS_CLOSE},
    /* any case type: 52 weeks = 364 days → Monday 2025-01-06 */
    {CW_RULE_OPEN_52W, "open_52_weeks", "", su_private, D(364), m_close, D(364) - HOUR,
     WEEKS_CLOSE},
    /* 100 weeks = 700 days → Monday 2025-12-08 */
    {CW_RULE_OPEN_100W, "open_100_weeks", "", su_private, D(700), m_close, D(700) - HOUR,
     WEEKS_CLOSE},
    /* s7 due Mon 2024-02-05 (D28); due soon = start of the due day − 5 days = Wed 2024-01-31 */
    {CW_RULE_S7_DUE_SOON, "s7_due_soon", "r1", su_s7, D(23), m_filed, D(23) - HOUR,
     OTHER_CLOSE},
    /* overdue from the end of the due day: Tue 2024-02-06 00:00 */
    {CW_RULE_S7_OVERDUE, "s7_overdue", "r1", su_s7, D(29), m_filed, D(29) - HOUR, OTHER_CLOSE},
    /* rule 16.4 case issued T0: planning meeting within 28 days → Mon 2024-02-05 00:00 */
    {CW_RULE_R164_PLANNING, "r16_4_planning_meeting", "", su_r164, D(28), m_planning,
     D(28) - HOUR, OTHER_CLOSE},
    /* final hearing within 26 weeks → Mon 2024-07-08 00:00; the timescale of the
     * proceedings, so closing meets it too */
    {CW_RULE_R164_FINAL, "r16_4_final_hearing", "", su_r164, D(182), m_final, D(182) - HOUR,
     WEEKS_CLOSE},
    /* opened Thu 2024-03-28; Fri 29 (Good Friday), Sat, Sun, Mon 1 Apr (Easter Monday) are
     * not working days: Tue 2 (1), Wed 3 (2), Thu 4 (3), Fri 5 (4), Mon 8 (5) → end of Mon 8
     * April = Tue 2024-04-09 00:00 */
    {CW_RULE_DUTY_ALLOCATION, "duty_awaiting_allocation", "", su_duty, D(92), m_alloc,
     D(92) - HOUR, OTHER_CLOSE},
    /* allocated Wed 2024-03-27: Thu 28 (1), Tue 2 Apr (2), Wed 3 … Fri 5 (5), Mon 8 … Fri 12
     * (10) → end of Fri 12 April = Sat 2024-04-13 00:00 */
    {CW_RULE_CHILD_NOT_SEEN, "child_not_seen", "k1", su_child, D(96), m_seen, D(96) - HOUR,
     OTHER_CLOSE},
    /* threshold 0: due when the first report is filed, Sun 2024-01-28 10:00; met early = seen
     * in person before that */
    {CW_RULE_NOT_SEEN_IN_PERSON, "child_not_seen_in_person_before_report", "k1", su_in_person,
     D(20) + 10 * HOUR, m_in_person, D(19) + 10 * HOUR, OTHER_CLOSE},
    /* concern raised Wed 2024-01-10 09:00 + 5 days → Mon 2024-01-15 09:00 */
    {CW_RULE_CONCERN_NO_16A, "concern_without_16a", "s1", su_concern, D(7) + 9 * HOUR, m_16a,
     D(7) + 8 * HOUR, OTHER_CLOSE},
    /* threshold 0: due when the first report after the allegation is filed (D20 10:00) */
    {CW_RULE_DA_NOT_ASSESSED, "domestic_abuse_not_assessed_at_report", "", su_da,
     D(20) + 10 * HOUR, m_da, D(5), OTHER_CLOSE},
    /* FHDRA Tue 2024-04-02; 3 working days before it: Thu 28 Mar (−1; Mon 1 Apr and Fri 29
     * Mar are holidays), Wed 27 (−2), Tue 26 (−3) → start of Tue 2024-03-26 */
    {CW_RULE_LETTER_MISSING, "first_hearing_without_safeguarding_letter", "h1", su_letter, D(78),
     m_letter, D(78) - HOUR, OTHER_CLOSE},
    /* allocated Tue 2024-01-09 + 20 days → Mon 2024-01-29 00:00 */
    {CW_RULE_NO_OVERSIGHT, "no_management_oversight", "", su_oversight, D(21), m_oversight,
     D(21) - HOUR, OTHER_CLOSE},
    /* opened Thu 2024-03-28 in a prioritised area: Tue 2 Apr (1), Wed 3 (2) → end of Wed 3
     * April = Thu 2024-04-04 00:00 */
    {CW_RULE_WELFARE_UNALLOCATED, "welfare_case_unallocated_in_prioritised_area",
     "since-1970-01-01T00:00:00.000Z", su_welfare,
     D(87), m_alloc, D(87) - HOUR, OTHER_CLOSE},
};

static int64_t lead_ms(const fx_t *f, const rule_row_t *row)
{
    return f->r->rule[row->rule].lead_days * DAY;
}

/* ------------------------------------------------------------------ tests: calendar */

static void test_calendar_anchors(void)
{
    static const struct {
        int64_t t;
        int y, m, d, weekday;
    } a[] = {
        {T0, 2024, 1, 8, 0},      {D(23), 2024, 1, 31, 2},  {D(28), 2024, 2, 5, 0},
        {D(78), 2024, 3, 26, 1},  {D(80), 2024, 3, 28, 3},  {D(81), 2024, 3, 29, 4},
        {D(84), 2024, 4, 1, 0},   {D(87), 2024, 4, 4, 3},   {D(92), 2024, 4, 9, 1},
        {D(96), 2024, 4, 13, 5},  {D(154), 2024, 6, 10, 0}, {D(182), 2024, 7, 8, 0},
        {D(347), 2024, 12, 20, 4}, {D(364), 2025, 1, 6, 0}, {D(367), 2025, 1, 9, 3},
        {D(700), 2025, 12, 8, 0},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(a); i++) {
        CU_ASSERT_EQUAL(a[i].t, cw_day_to_ms(cw_day_from_ymd(a[i].y, a[i].m, a[i].d)));
        CU_ASSERT_EQUAL(cw_day_weekday(cw_day_from_ms(a[i].t)), a[i].weekday);
    }
    /* the holidays the working-day rows rely on */
    cw_workdays_t *wd = cw_workdays_new();
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, cw_day_from_ms(D(81)))); /* Good Friday */
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, cw_day_from_ms(D(84)))); /* Easter Monday */
    CU_ASSERT_TRUE(cw_workdays_is_working(wd, cw_day_from_ms(D(85))));
    cw_workdays_destroy(wd);
}

/* The table covers every case rule once, under its documented name and default. */
static void test_table_covers_every_case_rule(void)
{
    cw_rules_t *r = cw_rules_defaults();
    int seen_rule[CW_RULE__COUNT] = {0};
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        const char *ctx_ = rows[i].name;
        int id = -1;
        CHECK(cw_rules_find(r, rows[i].name, &id) == &r->rule[rows[i].rule]);
        CHECK(id == rows[i].rule);
        CHECK(r->rule[rows[i].rule].enabled);
        seen_rule[rows[i].rule]++;
    }
    for (int i = CW_RULE_CARE_26W_WARNING; i <= CW_RULE_WELFARE_UNALLOCATED; i++)
        CU_ASSERT_EQUAL(seen_rule[i], 1);
    CU_ASSERT_PTR_NULL(cw_rules_find(r, "care_27_weeks", NULL));
    CU_ASSERT(r->repeat_ms > 0); /* repeats are on by default */
    cw_rules_free(r);
}

/* ------------------------------------------------------------------ tests: every case rule */

/* (a) due − 1 ms is not firing (pending when inside lead_days), due is firing with a notify
 * transition; (b) the meeting event after firing resolves it met late, notified. */
static void test_boundary_and_met_late(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        const rule_row_t *row = &rows[i];
        const char *ctx_ = row->name;
        fx_t f;
        fx_init(&f);
        char key[256];
        key_of(key, sizeof(key), &f, row->rule, "c1", row->subject);
        int64_t arm = row->setup(&f);
        int64_t pending_at = row->due - lead_ms(&f, row);
        if (arm < row->due) {
            eval(&f, "c1", arm);
            CHECK(state_of(&f, key) == (arm >= pending_at ? CW_ALERT_PENDING : 0));
        }
        eval(&f, "c1", row->due - 1);
        /* lead_days ≥ 1 puts due − 1 ms inside the pending window; 0 means no alert yet */
        CHECK(state_of(&f, key) == (lead_ms(&f, row) > 0 ? CW_ALERT_PENDING : 0));
        CHECK(tr_count_to(&f, key, CW_ALERT_FIRING) == 0);

        cw_alerts_clear_transitions(f.a);
        eval(&f, "c1", row->due);
        const cw_alert_t *x = cw_alerts_find(f.a, key);
        CHECK(x && x->state == CW_ALERT_FIRING);
        const cw_transition_t *t = tr_last(&f, key);
        CHECK(t && t->from == CW_ALERT_PENDING && t->alert.state == CW_ALERT_FIRING);
        CHECK(t && t->notify && !t->repeat && !t->alert.silenced && t->at == row->due);
        CHECK(x && x->due_ms == row->due && x->firing_ms == row->due);
        CHECK(x && x->severity == f.r->rule[row->rule].severity);
        CHECK(x && !strcmp(x->case_id, "c1") && !strcmp(x->subject, row->subject));
        CHECK(x && !strcmp(x->area, "london-east") && x->partition == 3);
        CHECK(x && x->notify_count == 1 && x->notified_ms == row->due);

        /* the meeting event a day late */
        cw_alerts_clear_transitions(f.a);
        int64_t m = row->due + DAY;
        feed(&f, row->meet(&f, m));
        t = tr_last(&f, key);
        CHECK(t && t->from == CW_ALERT_FIRING && t->alert.state == CW_ALERT_RESOLVED);
        CHECK(t && t->alert.resolution == CW_RES_MET_LATE && t->notify);
        CHECK(t && t->alert.resolved_ms == m && t->at == m);
        CHECK(t && !strcmp(t->alert.cause_event_id, f.last_id)); /* provenance */
        CHECK(state_of(&f, key) == 0);
        fx_fini(&f);
    }
}

/* (b) met before the due time: never fires; a pending alert resolves met, not notified. */
static void test_met_before_due(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        const rule_row_t *row = &rows[i];
        const char *ctx_ = row->name;
        fx_t f;
        fx_init(&f);
        char key[256];
        key_of(key, sizeof(key), &f, row->rule, "c1", row->subject);
        int64_t arm = row->setup(&f);
        bool was_pending = false;
        if (row->early < arm) { /* met before the arming event (threshold-0 rules) */
            put_free(&f, row->meet(&f, row->early));
            eval(&f, "c1", arm);
        } else {
            eval(&f, "c1", arm);
            eval(&f, "c1", row->early - 1); /* inside the lead window: pending */
            was_pending = state_of(&f, key) == CW_ALERT_PENDING;
            feed(&f, row->meet(&f, row->early));
        }
        eval(&f, "c1", row->due);
        eval(&f, "c1", row->due + DAY);
        eval(&f, "c1", row->due + 30 * DAY);
        CHECK(tr_count_to(&f, key, CW_ALERT_FIRING) == 0);
        CHECK(state_of(&f, key) == 0);
        CHECK(was_pending == (lead_ms(&f, row) > 0 && row->early >= arm));
        if (was_pending) {
            const cw_transition_t *t = tr_last(&f, key);
            CHECK(t && t->alert.state == CW_ALERT_RESOLVED && t->alert.resolution == CW_RES_MET);
            CHECK(t && !t->notify && t->alert.notify_count == 0);
        } else {
            CHECK(tr_count(&f, key) == 0);
        }
        fx_fini(&f);
    }
}

/* (c) absence rules fire on the clock alone: evaluate at the arming event, then only at the
 * times evaluate returns (what the deadline heap would schedule): the alert fires exactly at
 * its due time and not before. */
static void test_fires_on_clock_ticks_alone(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        const rule_row_t *row = &rows[i];
        const char *ctx_ = row->name;
        fx_t f;
        fx_init(&f);
        char key[256];
        key_of(key, sizeof(key), &f, row->rule, "c1", row->subject);
        int64_t t = row->setup(&f);
        cw_cause_t cause = {.event_id = "arming", .topic = "casewatch.events", .partition = 3};
        int64_t next = eval_cause(&f, "c1", t, &cause);
        int ticks = 0;
        while (state_of(&f, key) != CW_ALERT_FIRING && next != INT64_MAX && ticks < 5000) {
            CHECK(next > t); /* the engine never asks to be woken in the past */
            if (next <= t)
                break;
            t = next;
            next = eval(&f, "c1", t);
            ticks++;
        }
        CHECK(state_of(&f, key) == CW_ALERT_FIRING);
        CHECK(t == row->due);
        const cw_transition_t *ft = NULL;
        size_t n;
        const cw_transition_t *all = cw_alerts_transitions(f.a, &n);
        for (size_t k = 0; k < n; k++)
            if (!strcmp(all[k].alert.dedup_key, key) && all[k].alert.state == CW_ALERT_FIRING)
                ft = &all[k];
        CHECK(ft && ft->at == row->due && ft->notify);
        fx_fini(&f);
    }
}

/* (d) closing the case resolves every open alert: after firing (met late for the week rules,
 * which closing satisfies; case_closed for the others, notified) and while pending (met or
 * case_closed, not notified). */
static void test_close_resolves(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(rows); i++) {
        const rule_row_t *row = &rows[i];
        const char *ctx_ = row->name;
        char key[256];

        fx_t f;
        fx_init(&f);
        key_of(key, sizeof(key), &f, row->rule, "c1", row->subject);
        int64_t arm = row->setup(&f);
        eval(&f, "c1", arm);
        eval(&f, "c1", row->due);
        CHECK(state_of(&f, key) == CW_ALERT_FIRING);
        cw_alerts_clear_transitions(f.a);
        int64_t next = feed(&f, closed("c1", row->due + DAY));
        const cw_transition_t *t = tr_last(&f, key);
        CHECK(t && t->from == CW_ALERT_FIRING && t->alert.state == CW_ALERT_RESOLVED);
        CHECK(t && t->alert.resolution == row->closed_late && t->notify);
        CHECK(cw_alerts_count(f.a, 0) == 0); /* every alert of the case, not just this one */
        CHECK(next == INT64_MAX);
        eval(&f, "c1", row->due + 30 * DAY);
        CHECK(cw_alerts_count(f.a, 0) == 0);
        fx_fini(&f);

        fx_init(&f);
        arm = row->setup(&f);
        if (arm < row->due - 2 * HOUR)
            eval(&f, "c1", arm);
        eval(&f, "c1", row->due - 2 * HOUR);
        bool was_pending = state_of(&f, key) == CW_ALERT_PENDING;
        CHECK(was_pending == (lead_ms(&f, row) > 0));
        feed(&f, closed("c1", row->due - HOUR));
        eval(&f, "c1", row->due);
        eval(&f, "c1", row->due + DAY);
        CHECK(tr_count_to(&f, key, CW_ALERT_FIRING) == 0);
        if (was_pending) {
            t = tr_last(&f, key);
            CHECK(t && t->alert.state == CW_ALERT_RESOLVED && !t->notify);
            CHECK(t && t->alert.resolution == row->closed_early);
        }
        CHECK(cw_alerts_count(f.a, 0) == 0);
        fx_fini(&f);
    }
}

/* ------------------------------------------------------------------ tests: silences */

/* (e) a matching silence marks the notification silenced (recorded, not published) while the
 * alert stays firing; a silence that does not match leaves it alone. */
static void test_silences(void)
{
    static const struct {
        const char *what;
        cw_silence_t s;
        int rule;
        bool silenced;
    } sil[] = {
        {"rule+case", {1, "care_26_weeks", NULL, "c1", 0, 0, INT64_MAX}, CW_RULE_CARE_26W, true},
        {"other rule", {2, "care_26_weeks", NULL, NULL, 0, 0, INT64_MAX},
         CW_RULE_CARE_26W_WARNING, false},
        {"area", {3, "", "london-east", "", 0, 0, INT64_MAX}, CW_RULE_CARE_26W, true},
        {"other area", {4, NULL, "london-west", NULL, 0, 0, INT64_MAX}, CW_RULE_CARE_26W, false},
        {"other case", {5, "care_26_weeks", NULL, "c2", 0, 0, INT64_MAX}, CW_RULE_CARE_26W,
         false},
        {"min severity critical, critical rule", {6, NULL, NULL, NULL, CW_SEV_CRITICAL, 0,
         INT64_MAX}, CW_RULE_CARE_26W, true},
        {"min severity critical, warning rule", {7, NULL, NULL, NULL, CW_SEV_CRITICAL, 0,
         INT64_MAX}, CW_RULE_CARE_26W_WARNING, false},
        {"starts after due", {8, NULL, NULL, NULL, 0, D(182) + 1, INT64_MAX}, CW_RULE_CARE_26W,
         false},
        {"ended at due (end exclusive)", {9, NULL, NULL, NULL, 0, 0, D(182)}, CW_RULE_CARE_26W,
         false},
        {"exactly [due, due+1)", {10, NULL, NULL, NULL, 0, D(182), D(182) + 1}, CW_RULE_CARE_26W,
         true},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(sil); i++) {
        const char *ctx_ = sil[i].what;
        fx_t f;
        fx_init(&f);
        char key[256];
        key_of(key, sizeof(key), &f, sil[i].rule, "c1", "");
        int64_t due = sil[i].rule == CW_RULE_CARE_26W ? D(182) : D(154);
        cw_alerts_set_silences(f.a, &sil[i].s, 1);
        su_care(&f);
        eval(&f, "c1", T0);
        eval(&f, "c1", due);
        const cw_transition_t *t = tr_last(&f, key);
        CHECK(t && t->alert.state == CW_ALERT_FIRING && t->notify);
        CHECK(t && t->alert.silenced == sil[i].silenced);
        const cw_alert_t *x = cw_alerts_find(f.a, key);
        CHECK(x && x->state == CW_ALERT_FIRING && x->silenced == sil[i].silenced);
        CHECK(x && x->notify_count == 1u); /* a suppressed notification still counts */
        fx_fini(&f);
    }

    /* the resolution of a silenced alert is recorded silenced too; lifting the silence
     * (set_silences with none) lets the next notification through */
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    cw_silence_t s = {1, "care_26_weeks", NULL, NULL, 0, 0, INT64_MAX};
    cw_alerts_set_silences(f.a, &s, 1);
    su_care(&f);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    feed(&f, closed("c1", D(183)));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->notify && t->alert.silenced);
    cw_alerts_set_silences(f.a, NULL, 0);
    feed(&f, reopened("c1", D(184)));
    t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_FIRING && t->notify && !t->alert.silenced);
    fx_fini(&f);
}

/* A silenced critical alert: nothing is announced, so nothing is "repeated" — in particular no
 * repeat before repeat_ms has passed, and no two transitions of the alert share an id. */
static void test_silenced_alert_repeats(void)
{
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    cw_silence_t s = {1, "care_26_weeks", NULL, NULL, 0, 0, D(190)};
    cw_alerts_set_silences(f.a, &s, 1);
    su_care(&f);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    cw_alerts_clear_transitions(f.a);
    eval(&f, "c1", D(182) + HOUR); /* an event on the case an hour later */
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    fx_fini(&f);

    /* all ids of one alert's transitions differ, silenced or not */
    fx_init(&f);
    cw_alerts_set_silences(f.a, &s, 1);
    su_care(&f);
    for (int64_t now = D(181); now <= D(192); now += 5 * HOUR)
        eval(&f, "c1", now);
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f.a, &n);
    int dup = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            dup += !strcmp(t[i].alert_id, t[j].alert_id);
    CU_ASSERT_EQUAL(dup, 0);
    fx_fini(&f);
}

/* ------------------------------------------------------------------ tests: alert ids */

typedef struct idrec {
    char id[24];
    char key[128];
    uint8_t state;
} idrec_t;

/* A rich care case over 200 days: events in time order, a tick every 12 hours. */
static size_t run_script(idrec_t *out, size_t max)
{
    fx_t f;
    fx_init(&f);
    tev_t *ev[] = {
        opened("c1", T0, CARE, "london-east", 2),
        hearing_listed("c1", D(1), "h1", FHDRA, D(20) + 10 * HOUR),
        allocated("c1", D(1) + HOUR, WORKER, "w1"),
        concern("c1", D(2), "s1", DA),
        report_ordered("c1", D(3), "r1", S7, D(30)),
        seen("c1", D(20), "k1", true),
        risk16a("c1", D(25), "s1"),
        report_filed("c1", D(35), "r1"),
        simple("c1", D(40), P(MANAGEMENT_OVERSIGHT_RECORDED)),
        closed("c1", D(190)),
    };
    size_t next_ev = 0;
    for (int64_t now = T0; now <= D(200); now += 12 * HOUR) {
        while (next_ev < CW_ARRAY_LEN(ev) && ev[next_ev]->e.occurred_at <= now)
            feed(&f, ev[next_ev++]);
        eval(&f, "c1", now);
    }
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(f.a, &n);
    for (size_t i = 0; i < n && i < max; i++) {
        snprintf(out[i].id, sizeof(out[i].id), "%s", t[i].alert_id);
        snprintf(out[i].key, sizeof(out[i].key), "%s", t[i].alert.dedup_key);
        out[i].state = t[i].alert.state;
    }
    fx_fini(&f);
    return n;
}

/* (f) the same sequence in fresh engines gives the same alert ids; different transitions
 * (of one alert or of different alerts) have different ids. */
static void test_deterministic_ids(void)
{
    enum { MAX = 2048 };
    idrec_t *a = calloc(MAX, sizeof(*a)), *b = calloc(MAX, sizeof(*b));
    size_t na = run_script(a, MAX), nb = run_script(b, MAX);
    CU_ASSERT_EQUAL(na, nb);
    CU_ASSERT(na > 20 && na <= MAX);
    int differ = 0, dup = 0, fired = 0, resolved = 0;
    for (size_t i = 0; i < na && i < nb; i++)
        differ += strcmp(a[i].id, b[i].id) || strcmp(a[i].key, b[i].key) ||
                  a[i].state != b[i].state;
    for (size_t i = 0; i < na; i++) {
        fired += a[i].state == CW_ALERT_FIRING;
        resolved += a[i].state == CW_ALERT_RESOLVED;
        CU_ASSERT(strlen(a[i].id) == 17 && a[i].id[0] == 'a');
        for (size_t j = i + 1; j < na; j++)
            dup += !strcmp(a[i].id, a[j].id);
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT_EQUAL(dup, 0);
    CU_ASSERT(fired > 5);
    CU_ASSERT(resolved > 5);
    free(a);
    free(b);
}

/* The same rule firing again for a new occurrence (a case reopened after its close met the
 * 26 weeks late) is a new notification: it must not reuse the first firing's id, or consumers
 * (and the outbox's ON CONFLICT (alert_id) DO NOTHING) drop it as a re-send. */
static void test_refire_after_reopen_has_new_id(void)
{
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    su_care(&f);
    eval(&f, "c1", D(182));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING);
    char fire1[24], res1[24];
    snprintf(fire1, sizeof(fire1), "%s", t->alert_id);
    feed(&f, closed("c1", D(183)));
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.resolution == CW_RES_MET_LATE);
    snprintf(res1, sizeof(res1), "%s", t->alert_id);
    feed(&f, reopened("c1", D(184)));
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING && t->notify);
    CU_ASSERT_STRING_NOT_EQUAL(t->alert_id, fire1);
    feed(&f, closed("c1", D(185)));
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.resolution == CW_RES_MET_LATE && t->notify);
    CU_ASSERT_STRING_NOT_EQUAL(t->alert_id, res1);
    fx_fini(&f);
}

/* The same, with the clock standing still (late events on the event clock): close and reopen
 * evaluated at one clock time still give the second occurrence its own ids. */
static void test_refire_at_the_same_clock_has_new_id(void)
{
    fx_t f;
    fx_init(&f);
    char key[256], fire1[24], res1[24];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    su_care(&f);
    int64_t now = D(300);
    cw_cause_t cause = {.topic = "t"};
    eval(&f, "c1", now);
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING);
    snprintf(fire1, sizeof(fire1), "%s", t->alert_id);
    tev_t *x = closed("c1", D(183));
    put(&f, x);
    cause.event_id = x->id;
    eval_cause(&f, "c1", now, &cause);
    free(x);
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_RESOLVED);
    snprintf(res1, sizeof(res1), "%s", t->alert_id);
    x = reopened("c1", D(184));
    put(&f, x);
    cause.event_id = x->id;
    eval_cause(&f, "c1", now, &cause);
    free(x);
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING);
    CU_ASSERT_STRING_NOT_EQUAL(t->alert_id, fire1);
    x = closed("c1", D(185));
    put(&f, x);
    cause.event_id = x->id;
    eval_cause(&f, "c1", now, &cause);
    free(x);
    t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_RESOLVED);
    CU_ASSERT_STRING_NOT_EQUAL(t->alert_id, res1);
    fx_fini(&f);
}

/* ------------------------------------------------------------------ tests: s32 extension */

/* (g) timetable_extended adds its weeks to the care_26_weeks deadline (and its warning). */
static void test_s32_extension_before_due(void)
{
    fx_t f;
    fx_init(&f);
    char key[256], wkey[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    key_of(wkey, sizeof(wkey), &f, CW_RULE_CARE_26W_WARNING, "c1", "");
    su_care(&f);
    eval(&f, "c1", D(100));
    /* 4 weeks at D100: 26 weeks → D(182 + 28) = D210 (Mon 2024-08-05); warning D154 → D182 */
    feed(&f, extended("c1", D(100), 4));
    eval(&f, "c1", D(154));
    CU_ASSERT_EQUAL(state_of(&f, wkey), 0); /* pending only from D175 */
    eval(&f, "c1", D(176));
    CU_ASSERT_EQUAL(state_of(&f, wkey), CW_ALERT_PENDING);
    eval(&f, "c1", D(182) - 1);
    CU_ASSERT_EQUAL(state_of(&f, wkey), CW_ALERT_PENDING);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, wkey), CW_ALERT_FIRING);
    CU_ASSERT_EQUAL(state_of(&f, key), 0); /* pending only from D203 */
    eval(&f, "c1", D(210) - 1);
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_PENDING);
    CU_ASSERT_EQUAL(tr_count_to(&f, key, CW_ALERT_FIRING), 0);
    eval(&f, "c1", D(210));
    const cw_alert_t *x = cw_alerts_find(f.a, key);
    CU_ASSERT(x && x->state == CW_ALERT_FIRING && x->due_ms == D(210) && x->firing_ms == D(210));
    fx_fini(&f);

    /* an extension while pending: the alert is no longer pending (not notified) */
    fx_init(&f);
    su_care(&f);
    eval(&f, "c1", D(176));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_PENDING);
    cw_alerts_clear_transitions(f.a);
    feed(&f, extended("c1", D(177), 4));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && !t->notify);
    CU_ASSERT(t && t->alert.resolution == CW_RES_NO_LONGER_APPLIES);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, key), 0);
    eval(&f, "c1", D(210));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    fx_fini(&f);
}

static void test_s32_extension_after_firing(void)
{
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    su_care(&f);
    eval(&f, "c1", D(182));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING);
    char fire1[24];
    snprintf(fire1, sizeof(fire1), "%s", t->alert_id);
    /* 2 weeks at D185: due D196 > now → this breach is over */
    cw_alerts_clear_transitions(f.a);
    int64_t next = feed(&f, extended("c1", D(185), 2));
    t = tr_last(&f, key);
    CU_ASSERT(t && t->from == CW_ALERT_FIRING && t->alert.state == CW_ALERT_RESOLVED);
    CU_ASSERT(t && t->alert.resolution == CW_RES_CONDITION_CLEARED && t->notify);
    CU_ASSERT_EQUAL(state_of(&f, key), 0);
    CU_ASSERT(next <= D(189)); /* pending again 7 days before D196 */
    eval(&f, "c1", D(196) - 1);
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_PENDING);
    eval(&f, "c1", D(196));
    t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_FIRING && t->notify && t->alert.due_ms == D(196));
    CU_ASSERT(t && strcmp(t->alert_id, fire1) != 0);
    fx_fini(&f);

    /* an extension that does not reach past now: still firing, against the new due time */
    fx_init(&f);
    su_care(&f);
    eval(&f, "c1", D(182));
    cw_alerts_clear_transitions(f.a);
    feed(&f, extended("c1", D(200), 1)); /* due D189 ≤ D200 */
    CU_ASSERT_EQUAL(tr_count_to(&f, key, CW_ALERT_RESOLVED), 0);
    const cw_alert_t *x = cw_alerts_find(f.a, key);
    CU_ASSERT(x && x->state == CW_ALERT_FIRING && x->due_ms == D(189));
    fx_fini(&f);
}

/* A relisted first hearing moves the letter deadline like an extension moves 26 weeks. */
static void test_relisting_moves_letter_deadline(void)
{
    const char *key = "first_hearing_without_safeguarding_letter|c1|h1";
    fx_t f;
    fx_init(&f);
    su_letter(&f);
    eval(&f, "c1", D(78));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    /* adjourned on Wed 27 Mar, relisted for Tue 2024-04-16 10:00: Mon 15 Apr (−1), Fri 12
     * (−2), Thu 11 (−3) → start of Thu 2024-04-11 = D94 */
    cw_alerts_clear_transitions(f.a);
    feed(&f, hearing_adjourned("c1", D(79), "h1", D(99) + 10 * HOUR));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->notify);
    CU_ASSERT(t && t->alert.resolution == CW_RES_CONDITION_CLEARED);
    eval(&f, "c1", D(94) - 1);
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_PENDING);
    eval(&f, "c1", D(94));
    const cw_alert_t *x = cw_alerts_find(f.a, key);
    CU_ASSERT(x && x->state == CW_ALERT_FIRING && x->due_ms == D(94));
    fx_fini(&f);
}

/* Per-subject rules keep one alert per child / concern: meeting one leaves the others. */
static void test_per_subject_alerts(void)
{
    fx_t f;
    fx_init(&f);
    put_free(&f, opened("c1", T0, WTFH, "london-east", 2));
    /* allocated Tue 9 Jan: Wed 10 (1) … Tue 16 (5) … Tue 23 (10) → Wed 2024-01-24 00:00 */
    put_free(&f, allocated("c1", D(1), WORKER, "w1"));
    put_free(&f, seen("c1", D(5), "k1", false));
    put_free(&f, seen("c1", D(6), "stranger", true)); /* not a child of the case */
    /* a concern without an id is its own subject, met by a 16a without an id after it */
    put_free(&f, concern("c1", D(2), "", NEGLECT));
    put_free(&f, risk16a("c1", D(3), ""));
    put_free(&f, concern("c1", D(4), "s2", NEGLECT)); /* due D9, never assessed */
    eval(&f, "c1", D(1));
    eval(&f, "c1", D(9) - 1);
    eval(&f, "c1", D(9));
    CU_ASSERT_EQUAL(state_of(&f, "concern_without_16a|c1|s2"), CW_ALERT_FIRING);
    char anon[96];
    snprintf(anon, sizeof(anon), "concern_without_16a|c1|concern@%lld", (long long)D(2));
    CU_ASSERT_EQUAL(tr_count(&f, anon), 0);
    eval(&f, "c1", D(16) - 1);
    CU_ASSERT_EQUAL(state_of(&f, "child_not_seen|c1|k2"), CW_ALERT_PENDING);
    eval(&f, "c1", D(16));
    CU_ASSERT_EQUAL(state_of(&f, "child_not_seen|c1|k2"), CW_ALERT_FIRING);
    CU_ASSERT_EQUAL(tr_count(&f, "child_not_seen|c1|k1"), 0);
    CU_ASSERT_EQUAL(tr_count(&f, "child_not_seen|c1|stranger"), 0);
    /* firing: s2 and k2 only (oversight is due D21, duty was met by the allocation) */
    CU_ASSERT_EQUAL(cw_alerts_count(f.a, CW_ALERT_FIRING), 2);
    CU_ASSERT_EQUAL(state_of(&f, "no_management_oversight|c1|"), 0); /* pending from D18 */
    fx_fini(&f);
}

/* ------------------------------------------------------------------ tests: repeats */

/* (h) an unacknowledged critical firing alert re-notifies every repeat_ms; acknowledged, not;
 * warning alerts never. */
static void test_repeat_and_acknowledge(void)
{
    fx_t f;
    fx_init(&f);
    char key[256], wkey[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    key_of(wkey, sizeof(wkey), &f, CW_RULE_CARE_26W_WARNING, "c1", "");
    su_care(&f);
    int64_t due = D(182), rep = f.r->repeat_ms;
    int64_t next = eval(&f, "c1", due);
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT_FATAL(t && t->alert.state == CW_ALERT_FIRING);
    char fire1[24];
    snprintf(fire1, sizeof(fire1), "%s", t->alert_id);
    CU_ASSERT_EQUAL(next, due + rep);
    cw_alerts_clear_transitions(f.a);
    eval(&f, "c1", due + rep - 1);
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    eval(&f, "c1", due + rep);
    t = tr_last(&f, key);
    CU_ASSERT(t && t->repeat && t->notify && t->from == CW_ALERT_FIRING &&
              t->alert.state == CW_ALERT_FIRING && t->at == due + rep);
    CU_ASSERT(t && t->alert.notify_count == 2 && t->alert.notified_ms == due + rep);
    CU_ASSERT(t && strcmp(t->alert_id, fire1) != 0);
    char rep1[24];
    snprintf(rep1, sizeof(rep1), "%s", t ? t->alert_id : "");
    CU_ASSERT_EQUAL(tr_count(&f, wkey), 0); /* the warning fired at D154 never repeats */
    eval(&f, "c1", due + 2 * rep);
    t = tr_last(&f, key);
    CU_ASSERT(t && t->repeat && strcmp(t->alert_id, rep1) != 0 && strcmp(t->alert_id, fire1));

    /* acknowledged: no more repeats, and no wake-up for them */
    CU_ASSERT_TRUE(cw_alerts_acknowledge(f.a, key, true));
    CU_ASSERT_FALSE(cw_alerts_acknowledge(f.a, "care_26_weeks|nope|", true));
    cw_alerts_clear_transitions(f.a);
    next = eval(&f, "c1", due + 3 * rep);
    eval(&f, "c1", due + 10 * rep);
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    CU_ASSERT(next > due + 10 * rep);
    CU_ASSERT(cw_alerts_find(f.a, key)->acknowledged);
    /* an acknowledgement read back for another occurrence of the alert is not applied */
    const cw_alert_t *cur = cw_alerts_find(f.a, key);
    CU_ASSERT_FALSE(cw_alerts_acknowledge_occurrence(f.a, key, cur->pending_ms - 1, cur->origin,
                                                     false));
    CU_ASSERT_FALSE(cw_alerts_acknowledge_occurrence(f.a, key, cur->pending_ms, cur->origin + 1,
                                                     false));
    CU_ASSERT(cw_alerts_find(f.a, key)->acknowledged);
    CU_ASSERT_TRUE(cw_alerts_acknowledge_occurrence(f.a, key, cur->pending_ms, cur->origin, false));
    CU_ASSERT_FALSE(cw_alerts_find(f.a, key)->acknowledged);
    CU_ASSERT_TRUE(cw_alerts_acknowledge_occurrence(f.a, key, cur->pending_ms, cur->origin, true));
    /* un-acknowledged: repeats again */
    CU_ASSERT_TRUE(cw_alerts_acknowledge(f.a, key, false));
    eval(&f, "c1", due + 11 * rep);
    t = tr_last(&f, key);
    CU_ASSERT(t && t->repeat && t->notify);
    fx_fini(&f);

    /* [rules] repeat_minutes sets the period */
    char path[64], err[512];
    write_file(path, sizeof(path), "[rules]\nrepeat_minutes = 30\n");
    fx_init(&f);
    cw_rules_free(f.r);
    f.r = cw_rules_load(path, f.cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.r);
    CU_ASSERT_EQUAL(f.r->repeat_ms, 30 * 60000LL);
    su_care(&f);
    eval(&f, "c1", due);
    cw_alerts_clear_transitions(f.a);
    eval(&f, "c1", due + 30 * 60000LL - 1);
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    eval(&f, "c1", due + 30 * 60000LL);
    t = tr_last(&f, key);
    CU_ASSERT(t && t->repeat);
    fx_fini(&f);
    unlink(path);
}

/* ------------------------------------------------------------------ tests: configuration */

/* (i) threshold@AREA: the override applies to that area's cases only. */
static void test_area_override(void)
{
    char path[64], err[512];
    write_file(path, sizeof(path),
               "; the daemon's own sections are not the rules' business\n"
               "[kafka]\nbrokers = localhost:9092\n"
               "[rule.care_26_weeks]\nthreshold@london-west = 20\n");
    fx_t f;
    fx_init(&f);
    cw_rules_t *def = f.r;
    f.r = cw_rules_load(path, f.cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.r);
    const cw_rule_t *rule = &f.r->rule[CW_RULE_CARE_26W];
    uint32_t west = cw_casebook_intern(f.cb, "london-west");
    uint32_t east = cw_casebook_intern(f.cb, "london-east");
    CU_ASSERT_EQUAL(rule->noverrides, 1);
    CU_ASSERT_EQUAL(cw_rules_threshold(rule, west), 20);
    CU_ASSERT_EQUAL(cw_rules_threshold(rule, east), 26);
    CU_ASSERT_NOT_EQUAL(rule->version, def->rule[CW_RULE_CARE_26W].version);
    CU_ASSERT_EQUAL(f.r->rule[CW_RULE_OPEN_52W].version, def->rule[CW_RULE_OPEN_52W].version);
    cw_rules_free(def);

    put_free(&f, opened("cw", T0, CARE, "london-west", 1));
    put_free(&f, opened("ce", T0, CARE, "london-east", 1));
    char kw[256], ke[256], kww[256];
    key_of(kw, sizeof(kw), &f, CW_RULE_CARE_26W, "cw", "");
    key_of(ke, sizeof(ke), &f, CW_RULE_CARE_26W, "ce", "");
    key_of(kww, sizeof(kww), &f, CW_RULE_CARE_26W_WARNING, "cw", "");
    /* london-west: 20 weeks = 140 days → Mon 2024-05-27 */
    eval(&f, "cw", D(140) - 1);
    eval(&f, "ce", D(140) - 1);
    CU_ASSERT_EQUAL(state_of(&f, kw), CW_ALERT_PENDING);
    CU_ASSERT_EQUAL(state_of(&f, ke), 0);
    eval(&f, "cw", D(140));
    eval(&f, "ce", D(140));
    CU_ASSERT_EQUAL(state_of(&f, kw), CW_ALERT_FIRING);
    CU_ASSERT_EQUAL(state_of(&f, ke), 0);
    CU_ASSERT_EQUAL(state_of(&f, kww), 0); /* the warning rule keeps 22 weeks: D154 */
    eval(&f, "ce", D(182) - 1);
    CU_ASSERT_EQUAL(state_of(&f, ke), CW_ALERT_PENDING);
    eval(&f, "ce", D(182));
    CU_ASSERT_EQUAL(state_of(&f, ke), CW_ALERT_FIRING);
    const cw_alert_t *x = cw_alerts_find(f.a, kw);
    CU_ASSERT(x && x->due_ms == D(140) && x->rule_version == rule->version);
    fx_fini(&f);
    unlink(path);
}

/* The alert records the threshold it was measured against: for an area with an override,
 * the override (alert.proto: "threshold: the threshold value crossed"). */
static void test_alert_threshold_is_the_areas(void)
{
    char path[64], err[512];
    write_file(path, sizeof(path), "[rule.care_26_weeks]\nthreshold@london-west = 20\n");
    fx_t f;
    fx_init(&f);
    cw_rules_free(f.r);
    f.r = cw_rules_load(path, f.cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.r);
    put_free(&f, opened("cw", T0, CARE, "london-west", 1));
    put_free(&f, opened("ce", T0, CARE, "london-east", 1));
    eval(&f, "cw", D(182));
    eval(&f, "ce", D(182));
    const cw_alert_t *w = cw_alerts_find(f.a, "care_26_weeks|cw|");
    const cw_alert_t *e = cw_alerts_find(f.a, "care_26_weeks|ce|");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_DOUBLE_EQUAL(e->threshold, 26.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(w->threshold, 20.0, 1e-9);
    fx_fini(&f);
    unlink(path);
}

/* threshold, lead_days and severity from the file. */
static void test_rule_settings_from_file(void)
{
    char path[64], err[512];
    write_file(path, sizeof(path),
               "[rule.care_26_weeks]\nthreshold = 30\nlead_days = 0\nseverity = warning\n");
    fx_t f;
    fx_init(&f);
    cw_rules_free(f.r);
    f.r = cw_rules_load(path, f.cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.r);
    const char *key = "care_26_weeks|c1|";
    su_care(&f);
    /* 30 weeks = 210 days → Mon 2024-08-05; no pending window */
    eval(&f, "c1", D(182));
    eval(&f, "c1", D(210) - 1);
    CU_ASSERT_EQUAL(state_of(&f, key), 0);
    eval(&f, "c1", D(210));
    const cw_alert_t *x = cw_alerts_find(f.a, key);
    CU_ASSERT(x && x->state == CW_ALERT_FIRING && x->severity == CW_SEV_WARNING);
    cw_alerts_clear_transitions(f.a);
    eval(&f, "c1", D(210) + 3 * f.r->repeat_ms); /* a warning never repeats */
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    fx_fini(&f);
    unlink(path);
}

/* Bad rule configuration: NULL, and "file:line: why" in errstr. */
static void test_bad_rule_config(void)
{
    static const struct {
        const char *text;
        int line;
        const char *why;
    } bad[] = {
        {"[rule.no_such_rule]\nthreshold = 5\n", 2, "no such rule"},
        {"[rule.care_26_weeks]\nthreshold = 26w\n", 2, "threshold"},
        {"[rule.care_26_weeks]\nthreshold = 100001\n", 2, "threshold"},
        {"; comment\n[rule.care_26_weeks]\n\nseverity = loud\n", 4, "severity"},
        {"[rule.child_not_seen]\nenabled = maybe\n", 2, "enabled"},
        {"[rule.child_not_seen]\nlead_days = 366\n", 2, "lead_days"},
        {"[rule.care_26_weeks]\nthreshold@london-west = -3\n", 2, "threshold@london-west"},
        {"[rule.care_26_weeks]\nthreshold@london-west = soon\n", 2, "threshold@london-west"},
        {"[rule.care_26_weeks]\nthreshhold = 20\n", 2, "unknown key"},
        {"[rules]\nrepeat_minutes = 0\n", 2, "repeat_minutes"},
        {"[rule.care_26_weeks]\nthreshold = 20\n[rule.open_52_weeks]\nlead_days = x\n", 4,
         "lead_days"},
        {"[rule.care_26_weeks]\nmin_open_cases = 20\n", 2, "min_open_cases"},
        {"[rule.area_duty_share]\nmin_open_cases = -1\n", 2, "min_open_cases"},
        {"[rule.area_demand_growth]\nmin_open_cases = lots\n", 2, "min_open_cases"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
        const char *ctx_ = bad[i].text;
        char path[64], err[512], where[96];
        write_file(path, sizeof(path), bad[i].text);
        cw_casebook_t *cb = cw_casebook_new();
        err[0] = '\0';
        cw_rules_t *r = cw_rules_load(path, cb, err, sizeof(err));
        CHECK(r == NULL);
        snprintf(where, sizeof(where), "%s:%d: ", path, bad[i].line);
        CHECK(strstr(err, where) == err);
        CHECK(strstr(err, bad[i].why) != NULL);
        cw_rules_free(r);
        cw_casebook_destroy(cb);
        unlink(path);
    }
    char err[512];
    cw_casebook_t *cb = cw_casebook_new();
    CU_ASSERT_PTR_NULL(cw_rules_load("/nonexistent/rules.ini", cb, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/rules.ini"));
    cw_casebook_destroy(cb);
}

/* A rule disabled by a reload: its active alerts resolve (notified when they were firing);
 * its obligations are gone. */
static void test_rule_disabled(void)
{
    char path[64], err[512];
    write_file(path, sizeof(path), "[rule.care_26_weeks]\nenabled = false\nseverity = info\n");
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    su_care(&f);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    cw_rules_t *r = cw_rules_load(path, f.cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_FALSE(r->rule[CW_RULE_CARE_26W].enabled);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_CARE_26W].severity, CW_SEV_INFO);
    cw_rules_free(f.r);
    f.r = r;
    cw_alerts_clear_transitions(f.a);
    eval(&f, "c1", D(183));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->notify);
    CU_ASSERT(t && t->alert.resolution == CW_RES_RULE_REMOVED);
    CU_ASSERT_EQUAL(state_of(&f, key), 0);
    cw_obligation_t o[32];
    cw_case_t *c = cw_casebook_find(f.cb, "c1");
    size_t n = cw_rules_case(f.r, f.cb, c, f.wd, prio_fn, &f, o, CW_ARRAY_LEN(o));
    for (size_t i = 0; i < n && i < CW_ARRAY_LEN(o); i++)
        CU_ASSERT_NOT_EQUAL(o[i].rule, CW_RULE_CARE_26W);
    fx_fini(&f);
    unlink(path);
}

/* Reclassified away from care: the care alerts no longer apply. */
static void test_reclassified(void)
{
    fx_t f;
    fx_init(&f);
    char key[256];
    key_of(key, sizeof(key), &f, CW_RULE_CARE_26W, "c1", "");
    su_care(&f);
    eval(&f, "c1", D(182));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    feed(&f, reclassified("c1", D(183), WTFH));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->notify);
    CU_ASSERT(t && t->alert.resolution == CW_RES_NO_LONGER_APPLIES);
    fx_fini(&f);
}

/* ------------------------------------------------------------------ tests: working days */

typedef enum { WD_DUTY, WD_CHILD, WD_LETTER, WD_WELFARE } wd_kind_t;

/* Sets up case "c1" for a working-day rule whose reference time is t (opening, allocation,
 * or the hearing); returns the rule. */
static int wd_setup(fx_t *f, wd_kind_t kind, int64_t t)
{
    switch (kind) {
    case WD_DUTY:
        put_free(f, opened("c1", t, WTFH, "london-east", 1));
        return CW_RULE_DUTY_ALLOCATION;
    case WD_CHILD:
        put_free(f, opened("c1", t - 2 * DAY, WTFH, "london-east", 1));
        put_free(f, allocated("c1", t, WORKER, "w1"));
        return CW_RULE_CHILD_NOT_SEEN;
    case WD_LETTER:
        put_free(f, opened("c1", t - 20 * DAY, WTFH, "london-east", 1));
        put_free(f, hearing_listed("c1", t - 19 * DAY, "h1", FHDRA, t));
        return CW_RULE_LETTER_MISSING;
    case WD_WELFARE: {
        tev_t *o = opened("c1", t, WTFH, "london-east", 1);
        o->u.open.welfare_at_risk = true;
        put_free(f, o);
        f->prio_area = cw_casebook_intern(f->cb, "london-east");
        return CW_RULE_WELFARE_UNALLOCATED;
    }
    }
    return -1;
}

/* (j) working-day deadlines across weekends and bank holidays. */
static void test_working_day_dues(void)
{
    static const struct {
        const char *what;
        wd_kind_t kind;
        const char *subject;
        int64_t t;
        int64_t due;
    } w[] = {
        /* opened Wed 10 Jan: Thu 11 (1), Fri 12 (2), Mon 15 (3), Tue 16 (4), Wed 17 (5) → end
         * of Wed 17 = Thu 2024-01-18 00:00 */
        {"duty over a weekend", WD_DUTY, "", D(2) + 9 * HOUR, D(10)},
        /* Thu 28 Mar → Tue 2 Apr (1) … Mon 8 Apr (5) → Tue 2024-04-09 00:00 */
        {"duty over Easter", WD_DUTY, "", D(80) + 9 * HOUR, D(92)},
        /* Wed 27 Mar → Thu 28 (1), Tue 2 Apr (2) … Fri 12 Apr (10) → Sat 2024-04-13 00:00 */
        {"child over Easter", WD_CHILD, "k1", D(79) + 10 * HOUR, D(96)},
        /* Fri 20 Dec 2024 → Mon 23 (1), Tue 24 (2), [25, 26 Dec], Fri 27 (3), Mon 30 (4),
         * Tue 31 (5), [1 Jan], Thu 2 (6), Fri 3 (7), Mon 6 (8), Tue 7 (9), Wed 8 Jan (10) →
         * end of Wed 2025-01-08 = Thu 2025-01-09 00:00 */
        {"child over Christmas", WD_CHILD, "k1", D(347) + 10 * HOUR, D(367)},
        /* FHDRA Mon 15 Jan: Fri 12 (−1), Thu 11 (−2), Wed 10 (−3) → start of Wed 10 Jan */
        {"letter over a weekend", WD_LETTER, "h1", D(7) + 10 * HOUR, D(2)},
        /* FHDRA Tue 2 Apr: Thu 28 Mar (−1), Wed 27 (−2), Tue 26 (−3) → start of Tue 26 Mar */
        {"letter over Easter", WD_LETTER, "h1", D(85) + 10 * HOUR, D(78)},
        /* FHDRA Wed 3 Apr: Tue 2 (−1), Thu 28 Mar (−2), Wed 27 (−3) → start of Wed 27 Mar */
        {"letter over Easter, Wednesday", WD_LETTER, "h1", D(86) + 10 * HOUR, D(79)},
        /* opened Fri 12 Jan: Mon 15 (1), Tue 16 (2) → Wed 2024-01-17 00:00 */
        {"welfare over a weekend", WD_WELFARE, "since-1970-01-01T00:00:00.000Z", D(4) + 9 * HOUR, D(9)},
        /* opened Thu 28 Mar: Tue 2 Apr (1), Wed 3 (2) → Thu 2024-04-04 00:00 */
        {"welfare over Easter", WD_WELFARE, "since-1970-01-01T00:00:00.000Z", D(80) + 9 * HOUR, D(87)},
        /* opened on Good Friday itself: the same two working days */
        {"welfare opened on Good Friday", WD_WELFARE, "since-1970-01-01T00:00:00.000Z", D(81) + 9 * HOUR, D(87)},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(w); i++) {
        const char *ctx_ = w[i].what;
        fx_t f;
        fx_init(&f);
        int rule = wd_setup(&f, w[i].kind, w[i].t);
        int64_t n = f.r->rule[rule].threshold;
        CHECK(f.r->rule[rule].unit == CW_UNIT_WORKING_DAYS);
        /* the hand count agrees with the calendar: end of day t + n working days, or for the
         * letter the start of the day n working days before the hearing */
        cw_day_t day = cw_day_from_ms(w[i].t);
        int64_t by_wd = w[i].kind == WD_LETTER
                            ? cw_day_to_ms(cw_workdays_add(f.wd, day, (int)-n))
                            : cw_day_to_ms(cw_workdays_add(f.wd, day, (int)n) + 1);
        CHECK(by_wd == w[i].due);
        char key[256];
        key_of(key, sizeof(key), &f, rule, "c1", w[i].subject);
        eval(&f, "c1", w[i].due - 1);
        CHECK(state_of(&f, key) == CW_ALERT_PENDING);
        eval(&f, "c1", w[i].due);
        const cw_alert_t *x = cw_alerts_find(f.a, key);
        CHECK(x && x->state == CW_ALERT_FIRING && x->due_ms == w[i].due);
        fx_fini(&f);
    }

    /* a holiday added to the calendar moves the deadline a working day: Tue 16 Jan off, duty
     * opened Wed 10 → Thu 11, Fri 12, Mon 15, Wed 17, Thu 18 → Fri 2024-01-19 00:00 */
    fx_t f;
    fx_init(&f);
    cw_workdays_add_holiday(f.wd, cw_day_from_ms(D(8)));
    wd_setup(&f, WD_DUTY, D(2) + 9 * HOUR);
    eval(&f, "c1", D(10));
    CU_ASSERT_EQUAL(state_of(&f, "duty_awaiting_allocation|c1|"), CW_ALERT_PENDING);
    eval(&f, "c1", D(11) - 1);
    CU_ASSERT_EQUAL(state_of(&f, "duty_awaiting_allocation|c1|"), CW_ALERT_PENDING);
    eval(&f, "c1", D(11));
    CU_ASSERT_EQUAL(state_of(&f, "duty_awaiting_allocation|c1|"), CW_ALERT_FIRING);
    fx_fini(&f);
}

/* The welfare rule needs the case's area prioritised (prio_fn true); otherwise no alert, and
 * an alert already firing goes when the area stops being prioritised. */
static void test_welfare_needs_prioritised_area(void)
{
    const char *key = "welfare_case_unallocated_in_prioritised_area|c1|since-1970-01-01T00:00:00.000Z";
    fx_t f;
    fx_init(&f);
    wd_setup(&f, WD_WELFARE, D(80) + 9 * HOUR);
    f.prio_area = 0; /* prio_fn false */
    eval(&f, "c1", D(87));
    eval(&f, "c1", D(200));
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    f.prio_area = cw_casebook_intern(f.cb, "london-west"); /* another area prioritised */
    eval(&f, "c1", D(201));
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    fx_fini(&f);

    /* not welfare at risk: no alert even in a prioritised area */
    fx_init(&f);
    su_duty(&f);
    f.prio_area = cw_casebook_intern(f.cb, "london-east");
    eval(&f, "c1", D(200));
    CU_ASSERT_EQUAL(tr_count(&f, key), 0);
    fx_fini(&f);

    fx_init(&f);
    wd_setup(&f, WD_WELFARE, D(80) + 9 * HOUR);
    eval(&f, "c1", D(87));
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_FIRING);
    f.prio_area = 0; /* deactivated */
    eval(&f, "c1", D(88));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->notify);
    CU_ASSERT(t && t->alert.resolution == CW_RES_NO_LONGER_APPLIES);
    fx_fini(&f);
}

static void since_key(char *buf, size_t sz, int64_t from)
{
    time_t secs = (time_t)(from / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char iso[32];
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, sz, "welfare_case_unallocated_in_prioritised_area|c1|since-%s.%03dZ", iso,
             (int)(from % 1000));
}

/* [L] The welfare rule by the area's periods of prioritisation in event time: a period that
 * begins after the case's due time fires at its start and, when it ends unmet, resolves
 * no_longer_applies at its end; a second period is its own alert; a period that began after
 * the case was allocated raises nothing. */
static void test_welfare_periods(void)
{
    cw_prio_change_t ch[] = {{D(90), 1, true}, {D(95), 2, false}, {D(100), 3, true}};
    char k1[128], k2[128];
    since_key(k1, sizeof(k1), D(90));
    since_key(k2, sizeof(k2), D(100));
    fx_t f;
    fx_init(&f);
    wd_setup(&f, WD_WELFARE, D(80) + 9 * HOUR); /* due D(87) */
    f.changes = ch;
    f.nchanges = 2;
    eval(&f, "c1", D(88));
    CU_ASSERT_EQUAL(tr_count_to(&f, k1, CW_ALERT_FIRING), 0);
    eval(&f, "c1", D(90));
    const cw_transition_t *t = tr_last(&f, k1);
    CU_ASSERT(t && t->alert.state == CW_ALERT_FIRING && t->at == D(90));
    eval(&f, "c1", D(96));
    t = tr_last(&f, k1);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->at == D(95) &&
              t->alert.resolution == CW_RES_NO_LONGER_APPLIES);
    f.nchanges = 3; /* prioritised again from D(100): a new period, a new alert */
    eval(&f, "c1", D(101));
    t = tr_last(&f, k2);
    CU_ASSERT(t && t->alert.state == CW_ALERT_FIRING && t->at == D(100));
    CU_ASSERT_EQUAL(tr_count_to(&f, k1, CW_ALERT_FIRING), 1);
    /* allocated on D(103): the second period's alert is met late then */
    feed(&f, allocated("c1", D(103), WORKER, "w1"));
    t = tr_last(&f, k2);
    CU_ASSERT(t && t->alert.state == CW_ALERT_RESOLVED && t->at == D(103) &&
              t->alert.resolution == CW_RES_MET_LATE);
    fx_fini(&f);

    /* allocated before the period began: nothing */
    fx_init(&f);
    wd_setup(&f, WD_WELFARE, D(80) + 9 * HOUR);
    f.changes = ch;
    f.nchanges = 1;
    put_free(&f, allocated("c1", D(89), WORKER, "w1"));
    eval(&f, "c1", D(120));
    CU_ASSERT_EQUAL(tr_count(&f, k1), 0);
    fx_fini(&f);
}

/* [L] The area's period arrives after the case's partition is past it: the case was allocated
 * on D(93) with its clock already past D(90). Evaluated after the fact for the area event that
 * began the period, the alert is recorded as it would have been had the area come first:
 * FIRING at D(90), RESOLVED met_late at D(93) caused by the allocation; once only (a later
 * area event does not record it again). An
 * allocation that came before the clock reached the due time records nothing. */
static void test_welfare_after_the_fact(void)
{
    cw_prio_change_t ch[] = {{D(90), 1, true}};
    char k1[128];
    since_key(k1, sizeof(k1), D(90));
    for (int late = 0; late < 2; late++) {
        fx_t f;
        fx_init(&f);
        wd_setup(&f, WD_WELFARE, D(80) + 9 * HOUR);
        f.prio_area = 0; /* not known yet */
        put_free(&f, allocated("c1", D(93), WORKER, "w1"));
        cw_case_t *c = cw_casebook_find(f.cb, "c1");
        /* the clock when the allocation was applied: past D(90), or before it */
        cw_casebook_set_last_event(f.cb, c, f.last_id, "casewatch.events", 11,
                                   late ? D(92) : D(89));
        char alloc_id[32];
        snprintf(alloc_id, sizeof(alloc_id), "%s", f.last_id);
        f.prio_area = cw_casebook_intern(f.cb, "london-east");
        f.changes = ch;
        f.nchanges = 1;
        cw_cause_t area_ev = {"area-1", "casewatch.events", 0, 5};
        cw_eval_time_t tm = {.now = D(94), .occurred_ms = D(90), .live = true, .after_fact = true};
        cw_alerts_evaluate_timed(f.a, f.r, f.cb, c, f.wd, prio_fn, &f, &tm, &area_ev);
        /* another area event later (a repeated activation: no new period) */
        cw_cause_t area_ev2 = {"area-2", "casewatch.events", 0, 6};
        cw_eval_time_t tm2 = {.now = D(95), .occurred_ms = D(91), .live = true,
                              .after_fact = true};
        cw_alerts_evaluate_timed(f.a, f.r, f.cb, c, f.wd, prio_fn, &f, &tm2, &area_ev2);
        CU_ASSERT_EQUAL(tr_count_to(&f, k1, CW_ALERT_FIRING), late ? 1 : 0);
        CU_ASSERT_EQUAL(tr_count_to(&f, k1, CW_ALERT_RESOLVED), late ? 1 : 0);
        const cw_transition_t *t = tr_last(&f, k1);
        if (late) {
            CU_ASSERT(t && t->at == D(93) && t->alert.resolution == CW_RES_MET_LATE &&
                      t->alert.cause_event_id && !strcmp(t->alert.cause_event_id, alloc_id));
            CU_ASSERT(t && t->historic);
        }
        /* an ordinary evaluation later does not record it again */
        eval(&f, "c1", D(120));
        CU_ASSERT_EQUAL(tr_count_to(&f, k1, CW_ALERT_FIRING), late ? 1 : 0);
        fx_fini(&f);
    }
}

/* A case returned to duty after being allocated must be allocated again within 5 working
 * days; being allocated again is what that obligation waits for (met late once firing). */
static void test_returned_to_duty(void)
{
    const char *key = "duty_awaiting_allocation|c1|returned-to-duty";
    fx_t f;
    fx_init(&f);
    put_free(&f, opened("c1", T0, WTFH, "london-east", 1));
    feed(&f, allocated("c1", D(1), WORKER, "w1"));
    CU_ASSERT_EQUAL(state_of(&f, "duty_awaiting_allocation|c1|"), 0);
    /* back to duty Thu 11 Jan 10:00: Fri 12 (1), Mon 15 … Thu 18 (5) → Fri 2024-01-19 00:00 */
    feed(&f, allocated("c1", D(3) + 10 * HOUR, DUTY, NULL));
    eval(&f, "c1", D(11) - 1);
    CU_ASSERT_EQUAL(state_of(&f, key), CW_ALERT_PENDING);
    eval(&f, "c1", D(11));
    const cw_alert_t *x = cw_alerts_find(f.a, key);
    CU_ASSERT(x && x->state == CW_ALERT_FIRING && x->armed_ms == D(3) + 10 * HOUR);
    cw_alerts_clear_transitions(f.a);
    feed(&f, allocated("c1", D(12), WORKER, "w2"));
    const cw_transition_t *t = tr_last(&f, key);
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(t->alert.state == CW_ALERT_RESOLVED && t->notify);
    CU_ASSERT_EQUAL(t->alert.resolution, CW_RES_MET_LATE);
    fx_fini(&f);
}

/* ------------------------------------------------------------------ tests: area/worker rules */

static const struct {
    int rule;
    const char *scope, *area, *worker, *key;
} scope_rows[] = {
    {CW_RULE_AREA_DUTY_SHARE, "area:london-east", "london-east", NULL,
     "area_duty_share|area:london-east|"},
    {CW_RULE_AREA_DEMAND_GROWTH, "area:london-east", "london-east", NULL,
     "area_demand_growth|area:london-east|"},
    {CW_RULE_WORKER_CASELOAD, "worker:w1", "london-east", "w1", "worker_caseload|worker:w1|"},
    {CW_RULE_AREA_CAN_DEACTIVATE, "area:london-east", "london-east", NULL,
     "area_can_deactivate|area:london-east|"},
};

/* Condition rules: present → firing at once (due = armed = now), held → unchanged, absent on
 * a later evaluation → resolved condition_cleared, notified. */
static void test_scope_condition_rules(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(scope_rows); i++) {
        const char *ctx_ = scope_rows[i].key;
        cw_rules_t *r = cw_rules_defaults();
        cw_alerts_t *a = cw_alerts_new();
        int64_t now = D(10) + 9 * HOUR;
        cw_obligation_t o = {.rule = (uint8_t)scope_rows[i].rule, .value = 62.5};
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, &o, 1, now);
        size_t n;
        const cw_transition_t *t = cw_alerts_transitions(a, &n);
        CHECK(n == 2);
        CHECK(n == 2 && t[0].from == 0 && t[0].alert.state == CW_ALERT_PENDING && !t[0].notify);
        CHECK(n == 2 && t[1].from == CW_ALERT_PENDING && t[1].alert.state == CW_ALERT_FIRING &&
              t[1].notify && t[1].at == now);
        const cw_alert_t *x = cw_alerts_find(a, scope_rows[i].key);
        CHECK(x && x->state == CW_ALERT_FIRING && x->armed_ms == now && x->due_ms == now);
        CHECK(x && x->value == 62.5 && x->partition == -1 && !strcmp(x->case_id, ""));
        CHECK(x && !strcmp(x->area, scope_rows[i].area));
        CHECK(x && !strcmp(x->worker, scope_rows[i].worker ? scope_rows[i].worker : ""));
        CHECK(x && x->severity == r->rule[scope_rows[i].rule].severity);

        /* still holding an hour later: nothing new, armed where it was */
        cw_alerts_clear_transitions(a);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, &o, 1, now + HOUR);
        cw_alerts_transitions(a, &n);
        CHECK(n == 0);
        x = cw_alerts_find(a, scope_rows[i].key);
        CHECK(x && x->armed_ms == now && x->state == CW_ALERT_FIRING);

        /* gone: cleared */
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, NULL, 0, now + 2 * HOUR);
        t = cw_alerts_transitions(a, &n);
        CHECK(n == 1);
        CHECK(n == 1 && t[0].from == CW_ALERT_FIRING && t[0].alert.state == CW_ALERT_RESOLVED &&
              t[0].alert.resolution == CW_RES_CONDITION_CLEARED && t[0].notify &&
              t[0].alert.resolved_ms == now + 2 * HOUR);
        CHECK(cw_alerts_find(a, scope_rows[i].key) == NULL);
        CHECK(cw_alerts_count(a, 0) == 0);
        cw_alerts_destroy(a);
        cw_rules_free(r);
    }
}

/* With an explicit due time (e.g. "below the threshold for 4 weeks"): pending (recorded, not
 * announced) from the moment the condition holds, whatever lead_days says, so its start is
 * remembered; due − 1 ms not firing, due firing; absent before the due time: nothing
 * announced. */
static void test_scope_rules_with_due(void)
{
    for (size_t i = 0; i < CW_ARRAY_LEN(scope_rows); i++) {
        const char *ctx_ = scope_rows[i].key;
        cw_rules_t *r = cw_rules_defaults();
        cw_alerts_t *a = cw_alerts_new();
        int64_t since = D(10), due = D(10) + 4 * WEEK;
        cw_obligation_t o = {.rule = (uint8_t)scope_rows[i].rule, .armed_ms = since,
                             .due_ms = due};
        int64_t next = cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                                scope_rows[i].worker, &o, 1, since);
        CHECK(next == due);
        CHECK(cw_alerts_find(a, scope_rows[i].key) &&
              cw_alerts_find(a, scope_rows[i].key)->state == CW_ALERT_PENDING);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, &o, 1, due - 1);
        CHECK(cw_alerts_find(a, scope_rows[i].key) &&
              cw_alerts_find(a, scope_rows[i].key)->state == CW_ALERT_PENDING);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, &o, 1, due);
        const cw_alert_t *x = cw_alerts_find(a, scope_rows[i].key);
        CHECK(x && x->state == CW_ALERT_FIRING && x->armed_ms == since && x->due_ms == due);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, NULL, 0, due + DAY);
        CHECK(cw_alerts_find(a, scope_rows[i].key) == NULL);
        cw_alerts_destroy(a);
        cw_rules_free(r);

        /* the condition stops holding before its due time: never announced (pending, then
         * cleared) */
        r = cw_rules_defaults();
        a = cw_alerts_new();
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, &o, 1, since);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, NULL, 0, due - DAY);
        cw_alerts_evaluate_scope(a, r, scope_rows[i].scope, scope_rows[i].area,
                                 scope_rows[i].worker, NULL, 0, due + DAY);
        size_t n;
        const cw_transition_t *t = cw_alerts_transitions(a, &n);
        CHECK(n == 2);
        CHECK(n == 2 && t[0].alert.state == CW_ALERT_PENDING && !t[0].notify);
        CHECK(n == 2 && t[1].alert.state == CW_ALERT_RESOLVED && !t[1].notify &&
              t[1].alert.resolution == CW_RES_CONDITION_CLEARED);
        cw_alerts_destroy(a);
        cw_rules_free(r);
    }

    /* scopes are independent: clearing one area leaves the other firing */
    cw_rules_t *r = cw_rules_defaults();
    cw_alerts_t *a = cw_alerts_new();
    cw_obligation_t o = {.rule = CW_RULE_AREA_DUTY_SHARE};
    cw_alerts_evaluate_scope(a, r, "area:a1", "a1", NULL, &o, 1, D(1));
    cw_alerts_evaluate_scope(a, r, "area:a2", "a2", NULL, &o, 1, D(1));
    CU_ASSERT_EQUAL(cw_alerts_count(a, CW_ALERT_FIRING), 2);
    cw_alerts_evaluate_scope(a, r, "area:a1", "a1", NULL, NULL, 0, D(2));
    CU_ASSERT_PTR_NULL(cw_alerts_find(a, "area_duty_share|area:a1|"));
    CU_ASSERT_PTR_NOT_NULL(cw_alerts_find(a, "area_duty_share|area:a2|"));
    cw_alerts_destroy(a);
    cw_rules_free(r);
}

/* ------------------------------------------------------------------ tests: area rules */

/* The area rules from an area's facts: the share rules only at volume (min_open_cases, 20 by
 * default), area_can_deactivate by the figures whatever the volume. */
static void test_area_share_needs_volume(void)
{
    enum { DS = 1, DG = 2, CD = 4 };
    static const struct {
        const char *what;
        cw_area_facts_t f;
        int want;
    } rows_[] = {
        {"one unallocated case alone: 100% on duty", {false, 1, true, 100.0, false, 0}, 0},
        {"19 cases, 2 on duty (10.5%)", {false, 19, true, 10.5, true, 0}, 0},
        {"20 cases, 2 on duty (10.0%)", {false, 20, true, 10.0, true, 0}, DS},
        {"20 cases, 1 on duty (5.0%: not over 5.0%)", {false, 20, true, 5.0, true, 0}, 0},
        {"800 cases, 5.1% on duty", {false, 800, true, 5.1, true, 0}, DS},
        {"no open work: no share", {false, 0, false, 0, false, 0}, 0},
        {"5 cases, new cases +300%", {false, 5, true, 0, true, 300.0}, 0},
        {"800 cases, new cases +12%", {false, 800, true, 1.0, true, 12.0}, DG},
        {"800 cases, both over", {false, 800, true, 6.0, true, 12.0}, DS | DG},
        {"prioritised, 800 cases, under both", {true, 800, true, 2.0, true, -1.0}, CD},
        {"prioritised, over the duty share", {true, 800, true, 6.0, true, -1.0}, DS},
        {"prioritised, 3 cases, none on duty", {true, 3, true, 0.0, false, 0}, CD},
        /* too few to ask for activation, but not under the threshold by its figures either */
        {"prioritised, 1 case, on duty", {true, 1, true, 100.0, false, 0}, 0},
    };
    cw_rules_t *r = cw_rules_defaults();
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_DUTY_SHARE].min_open_cases, 20);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_DEMAND_GROWTH].min_open_cases, 20);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_CARE_26W].min_open_cases, 0);
    for (size_t i = 0; i < CW_ARRAY_LEN(rows_); i++) {
        const char *ctx_ = rows_[i].what;
        cw_obligation_t o[CW_RULES_AREA_MAX];
        size_t n = cw_rules_area(r, 0, &rows_[i].f, o);
        int got = 0;
        for (size_t k = 0; k < n; k++) {
            got |= o[k].rule == CW_RULE_AREA_DUTY_SHARE      ? DS
                   : o[k].rule == CW_RULE_AREA_DEMAND_GROWTH ? DG
                   : o[k].rule == CW_RULE_AREA_CAN_DEACTIVATE ? CD
                                                              : 64;
            CHECK(o[k].subject[0] == '\0' && o[k].armed_ms == 0 && o[k].met_ms == 0);
            if (o[k].rule == CW_RULE_AREA_CAN_DEACTIVATE)
                CHECK(o[k].due_ms == -4 * WEEK);
            else
                CHECK(o[k].due_ms == 0);
        }
        CHECK(got == rows_[i].want);
    }
    cw_rules_free(r);
}

/* From the aggregates to the obligations: an area holding one open case, on duty, is 100% on
 * duty by its figures and asks for nothing; with min_open_cases = 0 it would. */
static void test_area_rules_from_figures(void)
{
    cw_day_t day = cw_day_from_ms(D(100));
    cw_fig_cohort_t cohort = {WTFH, day - 10, CW_DAY_OPEN, 1, 1};
    cw_fig_live_t live = {WTFH, CW_LIVE_ALLOC_DUTY, 1};
    cw_fig_input_t in = {.cohort = &cohort, .ncohort = 1, .live = &live, .nlive = 1};
    cw_workdays_t *wd = cw_workdays_new();
    cw_figure_t *figs;
    size_t nf;
    cw_figures_compute(&in, day, wd, &figs, &nf);
    cw_area_facts_t facts;
    cw_rules_area_facts(figs, nf, false, &facts);
    free(figs);
    CU_ASSERT_EQUAL(facts.open_cases, 1);
    CU_ASSERT_TRUE(facts.duty_known);
    CU_ASSERT_DOUBLE_EQUAL(facts.duty_pct, 100.0, 1e-9);
    CU_ASSERT_FALSE(facts.growth_known); /* nothing last year */
    cw_rules_t *r = cw_rules_defaults();
    cw_obligation_t o[CW_RULES_AREA_MAX];
    CU_ASSERT_EQUAL(cw_rules_area(r, 0, &facts, o), 0);
    cw_rules_free(r);

    char path[64], err[512];
    write_file(path, sizeof(path), "[rule.area_duty_share]\nmin_open_cases = 0\n");
    cw_casebook_t *cb = cw_casebook_new();
    cw_rules_t *def = cw_rules_defaults();
    r = cw_rules_load(path, cb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_DUTY_SHARE].min_open_cases, 0);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_DEMAND_GROWTH].min_open_cases, 20);
    CU_ASSERT_NOT_EQUAL(r->rule[CW_RULE_AREA_DUTY_SHARE].version,
                        def->rule[CW_RULE_AREA_DUTY_SHARE].version);
    CU_ASSERT_EQUAL(r->rule[CW_RULE_AREA_DEMAND_GROWTH].version,
                    def->rule[CW_RULE_AREA_DEMAND_GROWTH].version);
    CU_ASSERT_EQUAL(cw_rules_area(r, 0, &facts, o), 1);
    CU_ASSERT_EQUAL(o[0].rule, CW_RULE_AREA_DUTY_SHARE);
    CU_ASSERT_DOUBLE_EQUAL(o[0].value, 100.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(o[0].threshold, 5.0, 1e-9); /* in the value's unit, percent */
    cw_rules_free(r);
    cw_rules_free(def);
    cw_casebook_destroy(cb);
    cw_workdays_destroy(wd);
    unlink(path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("rules", NULL, NULL);
    CU_add_test(s, "calendar anchors of the expected times", test_calendar_anchors);
    CU_add_test(s, "the table covers every case rule once", test_table_covers_every_case_rule);
    CU_add_test(s, "every case rule: due - 1 ms not firing, due firing, met late",
                test_boundary_and_met_late);
    CU_add_test(s, "every case rule: met before the due time never fires", test_met_before_due);
    CU_add_test(s, "every case rule: fires on clock ticks alone, exactly at due",
                test_fires_on_clock_ticks_alone);
    CU_add_test(s, "every case rule: closing the case resolves it", test_close_resolves);
    CU_add_test(s, "silences mark notifications silenced, alert still firing", test_silences);
    CU_add_test(s, "a silenced critical alert: no early repeats, no duplicate ids",
                test_silenced_alert_repeats);
    CU_add_test(s, "alert ids: deterministic, distinct per transition", test_deterministic_ids);
    CU_add_test(s, "alert ids: re-firing after a reopen is a new id",
                test_refire_after_reopen_has_new_id);
    CU_add_test(s, "alert ids: a reopen at the same clock time is a new id",
                test_refire_at_the_same_clock_has_new_id);
    CU_add_test(s, "s32 extension before the due time moves it", test_s32_extension_before_due);
    CU_add_test(s, "s32 extension after firing clears it", test_s32_extension_after_firing);
    CU_add_test(s, "a relisted first hearing moves the letter deadline",
                test_relisting_moves_letter_deadline);
    CU_add_test(s, "per-child and per-concern alerts", test_per_subject_alerts);
    CU_add_test(s, "repeat notification, acknowledge, repeat_minutes",
                test_repeat_and_acknowledge);
    CU_add_test(s, "threshold@AREA applies to that area only", test_area_override);
    CU_add_test(s, "the alert records its area's threshold", test_alert_threshold_is_the_areas);
    CU_add_test(s, "threshold, lead_days, severity from the rules file",
                test_rule_settings_from_file);
    CU_add_test(s, "bad rule configuration: file:line: why", test_bad_rule_config);
    CU_add_test(s, "a disabled rule's alerts resolve", test_rule_disabled);
    CU_add_test(s, "reclassified: care alerts no longer apply", test_reclassified);
    CU_add_test(s, "working-day deadlines over weekends and bank holidays",
                test_working_day_dues);
    CU_add_test(s, "welfare rule needs a prioritised area", test_welfare_needs_prioritised_area);
    CU_add_test(s, "welfare rule by the area's periods in event time", test_welfare_periods);
    CU_add_test(s, "welfare alert found after the fact, recorded once", test_welfare_after_the_fact);
    CU_add_test(s, "returned to duty: allocation again is met late", test_returned_to_duty);
    CU_add_test(s, "area/worker condition rules: fire, hold, clear", test_scope_condition_rules);
    CU_add_test(s, "area/worker rules with a due time", test_scope_rules_with_due);
    CU_add_test(s, "area share rules need a minimum open-case volume",
                test_area_share_needs_volume);
    CU_add_test(s, "area rules from an area's figures", test_area_rules_from_figures);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
