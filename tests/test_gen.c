/*
 * test_gen.c — CUnit suite for the casewatch-gen model (src/gen.c) and tool
 * (daemon/casewatch_gen.c): determinism, every event kind, per-case order, unique ids, no
 * future events, and CALIBRATION against the board figures.
 *
 * The calibration figures are computed here from the EMITTED EVENTS: every event is packed,
 * decoded again with cw_event_decode() (which also validates it) and applied to a small,
 * independent tally that follows the README's fact rules (latest occurred_at wins, sets are
 * unions, start = issued_at or occurred_at, closed when the latest close is later than the
 * latest reopen, ...). The tally shares nothing with the model but the protobuf contract and
 * the working-day calendar; it is then also compared with the model's own ground truth.
 *
 * Tolerances: 5% relative for every figure, except the small allocation shares (duty 2.5%,
 * post-assessment hub 3.5%, allocation hub 2%), which are held to +-0.5 percentage points
 * absolute (5% of 2% would be 0.1 points, below the sampling noise of a few hundred cases).
 * CW_GEN_CALIB_SCALE overrides the scale (default 0.5). Under valgrind the calibration runs at
 * a tiny scale and checks only the tally against the truth, not the figures.
 */
#include "casewatch/event.h"
#include "casewatch/gen.h"

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MS_DAY 86400000LL
#define K(x)   CASEWATCH__V1__EVENT__PAYLOAD_##x
#define CT(x)  CASEWATCH__V1__CASE_TYPE__CASE_TYPE_##x
#define AT(x)  CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_##x

static cw_day_t end_day(void)
{
    return cw_day_from_ymd(2024, 1, 31); /* the board pack's "end of January 2024" */
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t hstr(const char *s)
{
    return fnv(s, strlen(s), 0xcbf29ce484222325ULL) | 1; /* never 0: 0 marks an empty slot */
}

/* ---- a u64 -> index map (open addressing) ------------------------------------------------ */

typedef struct imap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
} imap_t;

static void imap_free(imap_t *m)
{
    free(m->keys);
    free(m->vals);
}

static uint32_t *imap_slot(imap_t *m, uint64_t key, bool *found)
{
    if ((m->n + 1) * 2 > m->cap) {
        imap_t bigger = {0};
        bigger.cap = m->cap ? m->cap * 2 : 1024;
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = m->keys[i] & (bigger.cap - 1);
            while (bigger.keys[j])
                j = (j + 1) & (bigger.cap - 1);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
        }
        bigger.n = m->n;
        imap_free(m);
        *m = bigger;
    }
    size_t j = key & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    *found = m->keys[j] == key;
    if (!*found) {
        m->keys[j] = key;
        m->vals[j] = 0;
        m->n++;
    }
    return &m->vals[j];
}

/* ---- the independent tally ---------------------------------------------------------------- */

typedef struct tchild {
    uint64_t h;
    bool seen, in_person;
} tchild_t;

typedef struct trep {
    uint64_t h;
    int kind;
    int64_t ordered_due;     /* report_ordered.due_at */
    int64_t ext_due, ext_at; /* the latest extension's new_due_at and its occurred_at */
    bool extended;
    int64_t filed; /* earliest report_filed, 0 = none */
} trep_t;

/* the due date in force: the latest extension's, else the ordered one */
static int64_t trep_due(const trep_t *r)
{
    return r->extended ? r->ext_due : r->ordered_due;
}

typedef struct tcase {
    bool opened;
    int64_t start;
    int type;
    int64_t type_at;
    int64_t last_close, last_reopen; /* occurred_at of the latest, 0 none */
    int alloc;                       /* latest allocated target, 0 none */
    int64_t alloc_at;
    uint64_t worker;
    int64_t last_at; /* for the order check */
    tchild_t *kids;
    int n_kids, cap_kids;
    trep_t *reps;
    int n_reps, cap_reps;
} tcase_t;

typedef struct tally {
    imap_t case_ix;
    tcase_t *cases;
    size_t n_cases, cap_cases;
    imap_t ids; /* event ids seen (uniqueness) */
    uint64_t events, kinds[CW_GEN_KIND_SLOTS], kinds_in_window[CW_GEN_KIND_SLOTS];
    uint64_t rejected, out_of_order, duplicate_ids, future, global_back;
    int64_t end_ms, window_start_ms, last_at;
    char first_reject[512];
    uint64_t hash; /* of every packed byte and length, in order */
    bool decode;   /* decode and tally (else only hash) */
    uint8_t *buf;
    size_t cap;
} tally_t;

static tcase_t *tally_case(tally_t *t, const char *case_id)
{
    bool found;
    uint32_t *v = imap_slot(&t->case_ix, hstr(case_id), &found);
    if (!found) {
        if (t->n_cases == t->cap_cases) {
            t->cap_cases = t->cap_cases ? t->cap_cases * 2 : 4096;
            t->cases = realloc(t->cases, t->cap_cases * sizeof *t->cases);
        }
        memset(&t->cases[t->n_cases], 0, sizeof *t->cases);
        *v = (uint32_t)t->n_cases++;
    }
    return &t->cases[*v];
}

static tchild_t *tally_child(tcase_t *c, const char *id)
{
    uint64_t h = hstr(id);
    for (int i = 0; i < c->n_kids; i++)
        if (c->kids[i].h == h)
            return &c->kids[i];
    if (c->n_kids == c->cap_kids) {
        c->cap_kids = c->cap_kids ? c->cap_kids * 2 : 4;
        c->kids = realloc(c->kids, (size_t)c->cap_kids * sizeof *c->kids);
    }
    tchild_t *k = &c->kids[c->n_kids++];
    memset(k, 0, sizeof *k);
    k->h = h;
    return k;
}

static trep_t *tally_report(tcase_t *c, const char *id)
{
    uint64_t h = hstr(id);
    for (int i = 0; i < c->n_reps; i++)
        if (c->reps[i].h == h)
            return &c->reps[i];
    if (c->n_reps == c->cap_reps) {
        c->cap_reps = c->cap_reps ? c->cap_reps * 2 : 4;
        c->reps = realloc(c->reps, (size_t)c->cap_reps * sizeof *c->reps);
    }
    trep_t *r = &c->reps[c->n_reps++];
    memset(r, 0, sizeof *r);
    r->h = h;
    return r;
}

static void tally_apply(tally_t *t, const Casewatch__V1__Event *e, int kind)
{
    int64_t at = e->occurred_at;
    bool found;
    imap_slot(&t->ids, hstr(e->event_id), &found);
    if (found)
        t->duplicate_ids++;
    if (at >= t->end_ms) /* nothing after the end of end_day, let alone a day later */
        t->future++;
    if (at < t->last_at)
        t->global_back++;
    t->last_at = at;
    t->events++;
    t->kinds[kind]++;
    if (at >= t->window_start_ms)
        t->kinds_in_window[kind]++;
    if (cw_event_kind_is_area(kind))
        return;

    tcase_t *c = tally_case(t, e->case_id);
    if (at < c->last_at)
        t->out_of_order++;
    c->last_at = at;
    switch (kind) {
    case K(CASE_OPENED): {
        const Casewatch__V1__CaseOpened *m = e->case_opened;
        c->opened = true;
        c->start = m->issued_at ? m->issued_at : at;
        if (at >= c->type_at) {
            c->type = m->case_type;
            c->type_at = at;
        }
        for (size_t i = 0; i < m->n_child_ids; i++)
            tally_child(c, m->child_ids[i]);
        break;
    }
    case K(CASE_RECLASSIFIED):
        if (at >= c->type_at) {
            c->type = e->case_reclassified->new_case_type;
            c->type_at = at;
        }
        break;
    case K(CHILD_ADDED):
        tally_child(c, e->child_added->child_id);
        break;
    case K(CHILD_SEEN): {
        tchild_t *k = tally_child(c, e->child_seen->child_id);
        k->seen = true;
        if (e->child_seen->in_person)
            k->in_person = true;
        break;
    }
    case K(ALLOCATED):
        if (at >= c->alloc_at) {
            c->alloc = e->allocated->target;
            c->alloc_at = at;
            c->worker = c->alloc == AT(WORKER) ? hstr(e->allocated->worker_id) : 0;
        }
        break;
    case K(CASE_CLOSED):
        if (at > c->last_close)
            c->last_close = at;
        break;
    case K(CASE_REOPENED):
        if (at > c->last_reopen)
            c->last_reopen = at;
        break;
    case K(REPORT_ORDERED): {
        trep_t *r = tally_report(c, e->report_ordered->report_id);
        r->kind = e->report_ordered->report_kind;
        r->ordered_due = e->report_ordered->due_at;
        break;
    }
    case K(REPORT_EXTENSION_AGREED): {
        trep_t *r = tally_report(c, e->report_extension_agreed->report_id);
        if (!r->extended || at >= r->ext_at) {
            r->ext_due = e->report_extension_agreed->new_due_at;
            r->ext_at = at;
        }
        r->extended = true;
        break;
    }
    case K(REPORT_FILED): {
        trep_t *r = tally_report(c, e->report_filed->report_id);
        if (!r->filed || at < r->filed)
            r->filed = at;
        break;
    }
    default:
        break;
    }
}

static int tally_emit(void *arg, const cw_gen_event_t *ev)
{
    tally_t *t = arg;
    size_t len = casewatch__v1__event__get_packed_size(ev->pb);
    if (len > t->cap) {
        t->cap = len * 2;
        t->buf = realloc(t->buf, t->cap);
    }
    casewatch__v1__event__pack(ev->pb, t->buf);
    t->hash = fnv(&len, sizeof len, t->hash);
    t->hash = fnv(t->buf, len, t->hash);
    if (!t->decode) {
        t->events++;
        return 0;
    }
    cw_event_t e;
    char reason[256];
    cw_reject_t rj = cw_event_decode(t->buf, len, 0, t->end_ms, &e, reason, sizeof reason);
    if (rj != CW_REJECT_NONE) {
        if (!t->rejected++)
            snprintf(t->first_reject, sizeof t->first_reject, "%s: %s", ev->pb->event_id, reason);
        return 0;
    }
    if (e.kind != ev->kind ||
        strcmp(ev->key, cw_event_kind_is_area(e.kind)
                            ? e.pb->prioritisation_activated
                                  ? e.pb->prioritisation_activated->court_area
                                  : e.pb->prioritisation_deactivated->court_area
                            : e.pb->case_id) != 0)
        t->rejected++;
    tally_apply(t, e.pb, e.kind);
    cw_event_fini(&e);
    return 0;
}

static void tally_free(tally_t *t)
{
    for (size_t i = 0; i < t->n_cases; i++) {
        free(t->cases[i].kids);
        free(t->cases[i].reps);
    }
    free(t->cases);
    imap_free(&t->case_ix);
    imap_free(&t->ids);
    free(t->buf);
}

/* Run one generator into a tally. Returns the generator (caller destroys) or NULL. */
static cw_gen_t *run_gen(cw_workdays_t *wd, uint64_t seed, double scale, int days, int warmup,
                         bool decode, tally_t *t)
{
    cw_gen_config_t cfg;
    cw_gen_config_init(&cfg);
    cfg.seed = seed;
    cfg.scale = scale;
    cfg.days = days;
    cfg.warmup_days = warmup;
    cfg.end_day = end_day();
    cfg.workdays = wd;
    char err[256];
    cw_gen_t *g = cw_gen_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(g);
    if (!g)
        return NULL;
    memset(t, 0, sizeof *t);
    t->decode = decode;
    t->hash = 0xcbf29ce484222325ULL;
    t->end_ms = cw_day_to_ms(cfg.end_day + 1);
    t->window_start_ms = cw_day_to_ms(cfg.end_day - days + 1);
    t->last_at = INT64_MIN;
    CU_ASSERT_EQUAL(cw_gen_run(g, tally_emit, t), CW_OK);
    return g;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_config_errors(void)
{
    cw_workdays_t *wd = cw_workdays_new();
    cw_gen_config_t cfg;
    char err[256] = "";
    cw_gen_config_init(&cfg);
    cfg.end_day = end_day();
    CU_ASSERT_PTR_NULL(cw_gen_new(&cfg, err, sizeof err)); /* no calendar */
    CU_ASSERT_STRING_EQUAL(err, "a working-day calendar is required");
    cfg.workdays = wd;
    cfg.scale = 0;
    CU_ASSERT_PTR_NULL(cw_gen_new(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "scale"));
    cfg.scale = 1;
    cfg.days = 0;
    CU_ASSERT_PTR_NULL(cw_gen_new(&cfg, err, sizeof err));
    cfg.days = 365;
    cfg.scenario_rate = 0.5;
    CU_ASSERT_PTR_NULL(cw_gen_new(&cfg, err, sizeof err));
    cfg.scenario_rate = 0.004;
    cfg.end_day = cw_day_from_ymd(1995, 1, 1);
    CU_ASSERT_PTR_NULL(cw_gen_new(&cfg, err, sizeof err)); /* history before 1990 */
    cfg.end_day = end_day();
    cfg.scale = 0.01;
    cfg.days = 10;
    cfg.warmup_days = 0;
    cw_gen_t *g = cw_gen_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(g);
    CU_ASSERT_EQUAL(cw_gen_run(g, NULL, NULL), CW_OK);
    CU_ASSERT_TRUE(cw_gen_truth(g)->events > 0);
    CU_ASSERT_EQUAL(cw_gen_run(g, NULL, NULL), CW_ERR_INVALID); /* once only */
    cw_gen_destroy(g);
    cw_gen_destroy(NULL);
    CU_ASSERT_STRING_EQUAL(cw_gen_scenario_name(CW_GEN_SC_S7_PAST_DUE), "s7_past_due");
    CU_ASSERT_STRING_EQUAL(cw_gen_scenario_name(99), "unknown");
    CU_ASSERT_TRUE(cw_gen_area_count() >= 20 && cw_gen_area_count() <= 40);
    CU_ASSERT_STRING_EQUAL(cw_gen_area_code(0), "london-west");
    CU_ASSERT_PTR_NULL(cw_gen_area_code(cw_gen_area_count()));
    cw_workdays_destroy(wd);
}

static int stop_at_ten(void *arg, const cw_gen_event_t *ev)
{
    (void)ev;
    return ++*(int *)arg >= 10;
}

static void test_determinism(void)
{
    cw_workdays_t *wd = cw_workdays_new();
    tally_t a, b, c;
    cw_gen_t *ga = run_gen(wd, 42, 0.02, 90, 120, false, &a);
    cw_gen_t *gb = run_gen(wd, 42, 0.02, 90, 120, false, &b);
    cw_gen_t *gc = run_gen(wd, 43, 0.02, 90, 120, false, &c);
    CU_ASSERT_TRUE(a.events > 1000);
    CU_ASSERT_EQUAL(a.events, b.events);
    CU_ASSERT_EQUAL(a.hash, b.hash); /* same seed: the same bytes */
    CU_ASSERT_NOT_EQUAL(a.hash, c.hash);
    CU_ASSERT_EQUAL(memcmp(cw_gen_truth(ga)->sc_arising, cw_gen_truth(gb)->sc_arising,
                           sizeof cw_gen_truth(ga)->sc_arising),
                    0);
    cw_gen_destroy(ga);
    cw_gen_destroy(gb);
    cw_gen_destroy(gc);
    tally_free(&a);
    tally_free(&b);
    tally_free(&c);

    /* stopping early: the callback's nonzero return ends the run */
    cw_gen_config_t cfg;
    cw_gen_config_init(&cfg);
    cfg.scale = 0.01;
    cfg.days = 30;
    cfg.warmup_days = 0;
    cfg.end_day = end_day();
    cfg.workdays = wd;
    cw_gen_t *g = cw_gen_new(&cfg, NULL, 0);
    int calls = 0;
    CU_ASSERT_EQUAL(cw_gen_run(g, stop_at_ten, &calls), CW_ERR_AGAIN);
    CU_ASSERT_EQUAL(calls, 10);
    CU_ASSERT_EQUAL(cw_gen_truth(g)->events, 10);
    cw_gen_destroy(g);
    cw_workdays_destroy(wd);
}

/* Every kind in a year at scale 0.2; order, unique ids, validity, nothing in the future. */
static void test_kinds_order_ids(void)
{
    cw_workdays_t *wd = cw_workdays_new();
    tally_t t;
    double scale = RUNNING_ON_VALGRIND ? 0.02 : 0.2;
    cw_gen_t *g = run_gen(wd, 7, scale, 365, RUNNING_ON_VALGRIND ? 60 : 365, true, &t);
    CU_ASSERT_EQUAL(t.rejected, 0);
    if (t.rejected)
        printf("\n  first rejected event: %s\n", t.first_reject);
    CU_ASSERT_EQUAL(t.out_of_order, 0);
    CU_ASSERT_EQUAL(t.global_back, 0);
    CU_ASSERT_EQUAL(t.duplicate_ids, 0);
    CU_ASSERT_EQUAL(t.future, 0);
    CU_ASSERT_EQUAL(t.events, cw_gen_truth(g)->events);
    for (int k = CW_EVENT_KIND_FIRST; k <= CW_EVENT_KIND_LAST; k++) {
        if (t.kinds_in_window[k] == 0)
            printf("\n  kind %s never occurred in the window\n", cw_event_kind_name(k));
        CU_ASSERT_TRUE(t.kinds_in_window[k] > 0);
        CU_ASSERT_EQUAL(t.kinds[k], cw_gen_truth(g)->events_by_kind[k]);
    }
    /* every scenario kind arises in the window (injected or natural) */
    if (!RUNNING_ON_VALGRIND)
        for (int s = 0; s < CW_GEN_SC__COUNT; s++) {
            if (cw_gen_truth(g)->sc_arising[s] == 0)
                printf("\n  scenario %s never arose\n", cw_gen_scenario_name(s));
            CU_ASSERT_TRUE(cw_gen_truth(g)->sc_arising[s] > 0);
        }
    cw_gen_destroy(g);
    tally_free(&t);
    cw_workdays_destroy(wd);
}

/* ---- calibration -------------------------------------------------------------------------- */

typedef struct figs {
    uint64_t new_cases, new_children, open, open_children, closed_s31, closed_wtfh, closed_wafh,
        closed_r164, s31_26w, alloc[4], s7, s7_on, s7_ext, kids, seen, in_person;
    uint64_t open52[2], open52_children[2], open100[2], open100_children[2];
    double new_per_wd, children_per_case, wk_s31, wk_wtfh, wk_wafh, wk_r164, caseload;
    int workers;
} figs_t;

static int alloc_slot(int target)
{
    switch (target) {
    case AT(WORKER):
    case AT(TEAM):
        return 0;
    case AT(POST_ASSESSMENT_HUB):
        return 2;
    case AT(ALLOCATION_HUB):
        return 3;
    default:
        return 1; /* duty, or no allocation yet */
    }
}

static void tally_figures(const tally_t *t, const cw_workdays_t *wd, cw_day_t E, int days,
                          figs_t *f)
{
    memset(f, 0, sizeof *f);
    cw_day_t ws = E - days + 1;
    imap_t workers = {0};
    double sum_s31 = 0, sum_wtfh = 0, sum_wafh = 0, sum_r164 = 0;

    for (size_t i = 0; i < t->n_cases; i++) {
        const tcase_t *c = &t->cases[i];
        if (!c->opened)
            continue;
        cw_day_t sd = cw_day_from_ms(c->start);
        if (sd >= ws && sd <= E) {
            f->new_cases++;
            f->new_children += (uint64_t)c->n_kids;
        }
        for (int r = 0; r < c->n_reps; r++) {
            const trep_t *rp = &c->reps[r];
            if (rp->kind != CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT || !rp->filed)
                continue;
            cw_day_t fd = cw_day_from_ms(rp->filed);
            if (fd < ws || fd > E)
                continue;
            f->s7++;
            f->s7_on += fd <= cw_day_from_ms(trep_due(rp));
            f->s7_ext += rp->extended;
        }
        bool closed = c->last_close && c->last_close > c->last_reopen;
        if (closed) {
            cw_day_t cd = cw_day_from_ms(c->last_close);
            if (cd < ws || cd > E)
                continue;
            double weeks = (double)(c->last_close - c->start) / (7.0 * MS_DAY);
            switch (c->type) {
            case CT(PUBLIC_LAW_S31_CARE):
            case CT(PUBLIC_LAW_S31_SUPERVISION):
                f->closed_s31++;
                sum_s31 += weeks;
                f->s31_26w += c->last_close - c->start <= 182 * MS_DAY;
                break;
            case CT(PRIVATE_LAW_WTFH):
                f->closed_wtfh++;
                sum_wtfh += weeks;
                break;
            case CT(PRIVATE_LAW_WAFH):
                f->closed_wafh++;
                sum_wafh += weeks;
                break;
            case CT(RULE_16_4):
                f->closed_r164++;
                sum_r164 += weeks;
                break;
            default:
                break;
            }
            continue;
        }
        if (sd > E)
            continue;
        f->open++;
        f->open_children += (uint64_t)c->n_kids;
        int law = c->type <= CT(PUBLIC_LAW_OTHER) ? 0 : 1;
        if (sd <= E - 364) {
            f->open52[law]++;
            f->open52_children[law] += (uint64_t)c->n_kids;
        }
        if (sd <= E - 700) {
            f->open100[law]++;
            f->open100_children[law] += (uint64_t)c->n_kids;
        }
        int slot = alloc_slot(c->alloc);
        f->alloc[slot]++;
        if (slot == 0) {
            for (int k = 0; k < c->n_kids; k++) {
                f->kids++;
                f->seen += c->kids[k].seen;
                f->in_person += c->kids[k].in_person;
            }
        }
        if (c->alloc == AT(WORKER)) {
            bool found;
            uint32_t *n = imap_slot(&workers, c->worker, &found);
            ++*n;
        }
    }
    uint64_t allocated_to_workers = 0;
    for (size_t i = 0; i < workers.cap; i++)
        if (workers.keys[i]) {
            f->workers++;
            allocated_to_workers += workers.vals[i];
        }
    imap_free(&workers);
    int wdays = cw_workdays_count(wd, ws, E);
    f->new_per_wd = (double)f->new_cases / wdays;
    f->children_per_case = f->new_cases ? (double)f->new_children / (double)f->new_cases : 0;
    f->wk_s31 = f->closed_s31 ? sum_s31 / (double)f->closed_s31 : 0;
    f->wk_wtfh = f->closed_wtfh ? sum_wtfh / (double)f->closed_wtfh : 0;
    f->wk_wafh = f->closed_wafh ? sum_wafh / (double)f->closed_wafh : 0;
    f->wk_r164 = f->closed_r164 ? sum_r164 / (double)f->closed_r164 : 0;
    f->caseload = f->workers ? (double)allocated_to_workers / f->workers : 0;
}

static int n_fail;

/* Print a figure against its target and check it: rel > 0: relative tolerance; else abs. */
static void check(const char *name, double got, double target, double rel, double abs_tol,
                  bool assert_it)
{
    double dev = got - target;
    bool ok = rel > 0 ? fabs(dev) <= rel * fabs(target) : fabs(dev) <= abs_tol;
    printf("    %-38s %10.3f  target %10.3f  (%+6.1f%%)%s\n", name, got, target,
           target ? 100.0 * dev / target : 0.0,
           !assert_it ? ""
           : ok       ? ""
                      : "   <-- OUT");
    if (assert_it) {
        CU_ASSERT_TRUE(ok);
        n_fail += !ok;
    }
}

static void test_calibration(void)
{
    cw_workdays_t *wd = cw_workdays_new();
    bool vg = RUNNING_ON_VALGRIND;
    double scale = vg ? 0.01 : 0.5;
    const char *env = getenv("CW_GEN_CALIB_SCALE");
    if (env && atof(env) > 0)
        scale = atof(env);
    int days = 365, warmup = vg ? 120 : 1095;
    bool assert_figures = !vg;
    tally_t t;
    cw_gen_t *g = run_gen(wd, 1, scale, days, warmup, true, &t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    const cw_gen_truth_t *tr = cw_gen_truth(g);
    CU_ASSERT_EQUAL(t.rejected, 0);
    CU_ASSERT_EQUAL(t.out_of_order, 0);

    figs_t f;
    tally_figures(&t, wd, end_day(), days, &f);
    double s = scale;
    printf("\n  calibration at scale %g, window %d days to 2024-01-31, warm-up %d days:"
           " %" PRIu64 " events (%" PRIu64 " in the window), %zu cases\n",
           scale, days, warmup, t.events, tr->events_in_window, t.n_cases);
    n_fail = 0;
    check("new cases per working day", f.new_per_wd, 221 * s, 0.05, 0, assert_figures);
    check("children per new case", f.children_per_case, 1.6, 0.05, 0, assert_figures);
    check("closed s31 care+supervision, weeks", f.wk_s31, 43, 0.05, 0, assert_figures);
    check("closed private law WTFH, weeks", f.wk_wtfh, 12, 0.05, 0, assert_figures);
    check("closed private law WAFH, weeks", f.wk_wafh, 59, 0.05, 0, assert_figures);
    check("closed rule 16.4, weeks", f.wk_r164, 104, 0.05, 0, assert_figures);
    check("s31 closed within 26 weeks, %",
          f.closed_s31 ? 100.0 * (double)f.s31_26w / (double)f.closed_s31 : 0, 31.2, 0.10, 0,
          assert_figures);
    check("open cases", (double)f.open, 30096 * s, 0.05, 0, assert_figures);
    check("open children", (double)f.open_children, 48721 * s, 0.05, 0, assert_figures);
    check("open children per case", f.open ? (double)f.open_children / (double)f.open : 0,
          48721.0 / 30096, 0.05, 0, assert_figures);
    double open = f.open ? (double)f.open : 1;
    check("allocated, % of open", 100 * (double)f.alloc[0] / open, 92, 0.05, 0, assert_figures);
    check("duty, % of open (+-0.5 pt)", 100 * (double)f.alloc[1] / open, 2.5, 0, 0.5,
          assert_figures);
    check("post-assessment hub, % (+-0.5 pt)", 100 * (double)f.alloc[2] / open, 3.5, 0, 0.5,
          assert_figures);
    check("allocation hub, % (+-0.5 pt)", 100 * (double)f.alloc[3] / open, 2, 0, 0.5,
          assert_figures);
    check("s7 filed to timescale, %", f.s7 ? 100.0 * (double)f.s7_on / (double)f.s7 : 0, 98.3, 0.05,
          0, assert_figures);
    check("s7 with an extension, %", f.s7 ? 100.0 * (double)f.s7_ext / (double)f.s7 : 0, 36.3, 0.05,
          0, assert_figures);
    check("children seen, %", f.kids ? 100.0 * (double)f.seen / (double)f.kids : 0, 98, 0.05, 0,
          assert_figures);
    check("children seen in person, %", f.kids ? 100.0 * (double)f.in_person / (double)f.kids : 0,
          92.3, 0.05, 0, assert_figures);
    check("mean caseload", f.caseload, 19.3, 0.05, 0, assert_figures);
    /* the backlog is approximate by design: within 30% */
    check("public law open 52+ weeks, cases", (double)f.open52[0], 1966 * s, 0.30, 0,
          assert_figures);
    check("public law open 52+ weeks, children", (double)f.open52_children[0], 3965 * s, 0.30, 0,
          assert_figures);
    check("public law open 100+ weeks, cases", (double)f.open100[0], 300 * s, 0.30, 0,
          assert_figures);
    check("public law open 100+ weeks, children", (double)f.open100_children[0], 643 * s, 0.30, 0,
          assert_figures);
    check("private law open 52+ weeks, cases", (double)f.open52[1], 4610 * s, 0.30, 0,
          assert_figures);
    check("private law open 52+ weeks, children", (double)f.open52_children[1], 7223 * s, 0.30, 0,
          assert_figures);
    check("private law open 100+ weeks, cases", (double)f.open100[1], 1865 * s, 0.30, 0,
          assert_figures);
    check("private law open 100+ weeks, children", (double)f.open100_children[1], 2930 * s, 0.30, 0,
          assert_figures);
    printf("    (%" PRIu64 " s31 / %" PRIu64 " WTFH / %" PRIu64 " WAFH / %" PRIu64
           " R16.4 closed in the window; %" PRIu64 " s7 filed; %d workers with cases)\n",
           f.closed_s31, f.closed_wtfh, f.closed_wafh, f.closed_r164, f.s7, f.workers);
    printf("    prioritised at the end:");
    for (int i = 0; i < tr->n_prioritised; i++)
        printf(" %s", tr->prioritised[i]);
    printf("\n    scenarios (injected / arising in the window):");
    for (int k = 0; k < CW_GEN_SC__COUNT; k++)
        printf("%s %s %" PRIu64 "/%" PRIu64, k % 4 ? "," : "\n     ", cw_gen_scenario_name(k),
               tr->sc_injected[k], tr->sc_arising[k]);
    printf("\n");

    /* the tally from the events and the model's own truth agree exactly */
    CU_ASSERT_EQUAL(f.new_cases, tr->new_cases[0]);
    CU_ASSERT_EQUAL(f.new_children, tr->new_children);
    CU_ASSERT_EQUAL(f.open, tr->open_cases);
    CU_ASSERT_EQUAL(f.open_children, tr->open_children);
    CU_ASSERT_EQUAL(f.closed_s31, tr->closed_s31);
    CU_ASSERT_EQUAL(f.closed_wafh, tr->closed[CT(PRIVATE_LAW_WAFH)]);
    CU_ASSERT_EQUAL(f.closed_r164, tr->closed[CT(RULE_16_4)]);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(f.alloc[i], tr->alloc[i]);
    CU_ASSERT_EQUAL(f.s7, tr->s7_filed);
    CU_ASSERT_EQUAL(f.s7_on, tr->s7_on_time);
    CU_ASSERT_EQUAL(f.s7_ext, tr->s7_extended);
    CU_ASSERT_EQUAL(f.kids, tr->seen_children);
    CU_ASSERT_EQUAL(f.seen, tr->seen);
    CU_ASSERT_EQUAL(f.in_person, tr->seen_in_person);
    CU_ASSERT_EQUAL(f.workers, tr->workers_with_cases);
    CU_ASSERT_DOUBLE_EQUAL(f.caseload, tr->caseload_mean, 1e-9);
    for (int l = 0; l < 2; l++) {
        CU_ASSERT_EQUAL(f.open52[l], tr->open_52w_cases[l]);
        CU_ASSERT_EQUAL(f.open100_children[l], tr->open_100w_children[l]);
    }
    cw_gen_destroy(g);
    tally_free(&t);
    cw_workdays_destroy(wd);
}

/* ---- the tool: faults and the delimited file ------------------------------------------------ */

static bool read_varint(FILE *f, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        int c = fgetc(f);
        if (c == EOF)
            return false;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* the integer after "\"key\": " in a JSON text; -1 if absent */
static long long json_int(const char *json, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void test_tool_faults_and_file(void)
{
    const char *exe = CW_BINARY_DIR "/casewatch-gen";
    struct stat st;
    if (stat(exe, &st) != 0) {
        CU_FAIL("casewatch-gen not built");
        return;
    }
    char dir[] = "/tmp/cw-gen-test-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char out[256], truth[256], cmd[1024];
    snprintf(out, sizeof out, "%s/events.bin", dir);
    snprintf(truth, sizeof truth, "%s/truth.json", dir);
    snprintf(cmd, sizeof cmd,
             "%s --seed 5 --scale 0.02 --days 60 --warmup-days 60 --end-date 2024-01-31 "
             "--dup-rate 0.02 --reorder-rate 0.02 --late-rate 0.01 --bad-rate 0.01 --bad-in-file "
             "--out-file %s --truth %s 2>/dev/null",
             exe, out, truth);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);

    char *json = slurp(truth);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    long long emitted = json_int(json, "emitted"), dups = json_int(json, "duplicates");
    long long reorders = json_int(json, "reorders"), late = json_int(json, "late");
    long long bad = json_int(json, "bad"), in_file = json_int(json, "file");
    CU_ASSERT_TRUE(emitted > 1000 && dups > 0 && reorders > 0 && late > 0 && bad > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"complete\": true"));
    CU_ASSERT_EQUAL(in_file, emitted + dups + bad);

    /* read it back: every message decodes but the garbage; ids: each once plus duplicates */
    FILE *f = fopen(out, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    imap_t ids = {0}, case_ix = {0};
    int64_t *last_at = NULL;
    size_t n_cases = 0;
    long long n = 0, undecodable = 0, repeated = 0, distinct = 0, backwards = 0;
    uint64_t len;
    uint8_t *buf = NULL;
    while (read_varint(f, &len)) {
        buf = realloc(buf, len ? len : 1);
        if (fread(buf, 1, len, f) != len)
            break;
        n++;
        cw_event_t e;
        if (cw_event_decode(buf, len, 0, cw_day_to_ms(end_day() + 1), &e, NULL, 0) !=
            CW_REJECT_NONE) {
            undecodable++;
            continue;
        }
        bool found;
        imap_slot(&ids, hstr(e.pb->event_id), &found);
        if (found) {
            repeated++;
        } else {
            distinct++;
            if (*e.pb->case_id) { /* per case, count steps back in time (reorder, late) */
                uint32_t *v = imap_slot(&case_ix, hstr(e.pb->case_id), &found);
                if (!found) {
                    last_at = realloc(last_at, (n_cases + 1) * sizeof *last_at);
                    *v = (uint32_t)n_cases;
                    last_at[n_cases++] = e.pb->occurred_at;
                } else if (e.pb->occurred_at < last_at[*v]) {
                    backwards++;
                } else {
                    last_at[*v] = e.pb->occurred_at;
                }
            }
        }
        cw_event_fini(&e);
    }
    fclose(f);
    free(buf);
    imap_free(&ids);
    imap_free(&case_ix);
    free(last_at);
    CU_ASSERT_EQUAL(n, in_file);
    CU_ASSERT_EQUAL(undecodable, bad);
    CU_ASSERT_EQUAL(repeated, dups);
    CU_ASSERT_EQUAL(distinct, emitted);
    CU_ASSERT_TRUE(backwards >= reorders); /* each swap and most late events step back */
    printf("\n  tool: %lld events, %lld messages in the file (%lld duplicates, %lld garbage), "
           "%lld reorders, %lld late, %lld steps back in a case's time\n",
           emitted, n, dups, bad, reorders, late, backwards);
    free(json);

    /* the same run without faults and without --bad-in-file: the same events, in order */
    snprintf(cmd, sizeof cmd,
             "%s --seed 5 --scale 0.02 --days 60 --warmup-days 60 --end-date 2024-01-31 "
             "--bad-rate 0.05 --out-file %s --truth %s 2>/dev/null",
             exe, out, truth);
    CU_ASSERT_EQUAL(system(cmd), 0);
    json = slurp(truth);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_EQUAL(json_int(json, "emitted"), emitted);
    CU_ASSERT_EQUAL(json_int(json, "file"), emitted); /* garbage went nowhere */
    free(json);

    /* usage errors */
    snprintf(cmd, sizeof cmd, "%s --end-date 2999-01-01 --truth %s 2>/dev/null", exe, truth);
    CU_ASSERT_EQUAL(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s --dup-rate 2 --truth %s 2>/dev/null", exe, truth);
    CU_ASSERT_EQUAL(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s 2>/dev/null", exe);
    CU_ASSERT_EQUAL(WEXITSTATUS(system(cmd)), 2);

    unlink(out);
    unlink(truth);
    rmdir(dir);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gen", NULL, NULL);
    CU_add_test(s, "configuration errors, run once, names", test_config_errors);
    CU_add_test(s, "same seed same bytes, other seed other bytes", test_determinism);
    CU_add_test(s, "every kind in a year; order, ids, validity", test_kinds_order_ids);
    CU_add_test(s, "calibration from the emitted events", test_calibration);
    CU_add_test(s, "tool: faults and the delimited file", test_tool_faults_and_file);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
