/*
 * figures.c — the board figures from aggregate rows (see README "The figures"). Pure.
 *
 * Owns nothing beyond the output array it returns. Sums are 64-bit integers; divisions happen
 * once, at the end, in cw_fig_tenths().
 */
#include "casewatch/figures.h"
#include "casewatch/casebook.h"

#include <stdlib.h>
#include <string.h>

static const char *const group_names[CW_FIG_GROUPS] = {
    "all", "public", "private", "PUBLIC_LAW_S31_CARE", "PUBLIC_LAW_S31_SUPERVISION",
    "PUBLIC_LAW_OTHER", "PRIVATE_LAW_WTFH", "PRIVATE_LAW_WAFH", "RULE_16_4", "PUBLIC_LAW_S31"};

static bool in_group(int group, uint8_t case_type)
{
    switch (group) {
    case 0: return case_type >= 1 && case_type <= 6;
    case 1: return case_type >= 1 && case_type <= 3;
    case 2: return case_type >= 4 && case_type <= 6;
    case 9: return case_type == 1 || case_type == 2; /* s31 care and supervision together */
    default: return case_type == group - 2;
    }
}

double cw_fig_tenths(int64_t num, int64_t den)
{
    if (den < 0) {
        num = -num;
        den = -den;
    }
    bool neg = num < 0;
    /* exact for |num| up to ~4.6e17: round(10 num / den) = (20 |num| + den) / (2 den) */
    int64_t a = neg ? -num : num;
    int64_t q = (20 * a + den) / (2 * den);
    return (double)(neg ? -q : q) / 10.0;
}

typedef struct fig_buf {
    cw_figure_t *f;
    size_t n, cap;
} fig_buf_t;

static void put(fig_buf_t *b, const char *name, const char *group, bool is_int, bool is_null,
                double v)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 512;
        b->f = cw_realloc(b->f, sizeof(cw_figure_t) * b->cap);
    }
    b->f[b->n++] = (cw_figure_t){name, group, is_int, is_null, is_null ? 0 : v};
}

static void put_int(fig_buf_t *b, const char *name, const char *group, int64_t v)
{
    put(b, name, group, true, false, (double)v);
}

static void put_ratio(fig_buf_t *b, const char *name, const char *group, int64_t num,
                      int64_t den)
{
    put(b, name, group, false, den == 0, den ? cw_fig_tenths(num, den) : 0);
}

/* a share in percent, to one decimal */
static void put_pct(fig_buf_t *b, const char *name, const char *group, int64_t part,
                    int64_t whole)
{
    put_ratio(b, name, group, 100 * part, whole);
}

typedef struct dur {
    int32_t days;
    int64_t cases;
} dur_t;

static int dur_cmp(const void *a, const void *b)
{
    int32_t x = ((const dur_t *)a)->days, y = ((const dur_t *)b)->days;
    return (x > y) - (x < y);
}

/* value at 0-based position k of the weighted sorted list */
static int32_t dur_at(const dur_t *d, size_t n, int64_t k)
{
    for (size_t i = 0; i < n; i++) {
        if (k < d[i].cases)
            return d[i].days;
        k -= d[i].cases;
    }
    return n ? d[n - 1].days : 0;
}

/* mean and median (weeks) of the durations of cases closed in [first, last] */
static void durations(fig_buf_t *b, const cw_fig_input_t *in, int group, cw_day_t first,
                      cw_day_t last, const char *n_closed, const char *n_mean,
                      const char *n_median)
{
    dur_t *d = cw_malloc(sizeof(dur_t) * (in->ncohort + 1));
    size_t nd = 0;
    int64_t count = 0, sum = 0;
    for (size_t i = 0; i < in->ncohort; i++) {
        const cw_fig_cohort_t *c = &in->cohort[i];
        if (!in_group(group, c->case_type) || c->close == CW_DAY_OPEN || c->close < first ||
            c->close > last || c->cases <= 0)
            continue;
        d[nd++] = (dur_t){c->close - c->start, c->cases};
        count += c->cases;
        sum += (int64_t)(c->close - c->start) * c->cases;
    }
    put_int(b, n_closed, group_names[group], count);
    put_ratio(b, n_mean, group_names[group], sum, 7 * count);
    if (count == 0) {
        put(b, n_median, group_names[group], false, true, 0);
    } else {
        qsort(d, nd, sizeof(dur_t), dur_cmp);
        int64_t two_mid = count % 2 ? 2 * (int64_t)dur_at(d, nd, count / 2)
                                    : (int64_t)dur_at(d, nd, count / 2 - 1) +
                                          dur_at(d, nd, count / 2);
        put_ratio(b, n_median, group_names[group], two_mid, 14); /* (a + b) / 2 / 7 */
    }
    free(d);
}

static void group_figures(fig_buf_t *b, const cw_fig_input_t *in, int g, cw_day_t D,
                          const cw_workdays_t *wd)
{
    const char *gn = group_names[g];
    cw_day_t fy = cw_day_fy_start(D), pfy = cw_day_minus_year(fy), pD = cw_day_minus_year(D);
    int64_t open_c = 0, open_ch = 0, new_c = 0, new_ch = 0, pnew_c = 0, pnew_ch = 0;
    int64_t o52 = 0, o52ch = 0, o100 = 0, o100ch = 0;
    for (size_t i = 0; i < in->ncohort; i++) {
        const cw_fig_cohort_t *c = &in->cohort[i];
        if (!in_group(g, c->case_type))
            continue;
        if (c->start <= D && c->close > D) {
            open_c += c->cases;
            open_ch += c->children;
            if (c->start <= D - 364) {
                o52 += c->cases;
                o52ch += c->children;
            }
            if (c->start <= D - 700) {
                o100 += c->cases;
                o100ch += c->children;
            }
        }
        if (c->start >= fy && c->start <= D) {
            new_c += c->cases;
            new_ch += c->children;
        }
        if (c->start >= pfy && c->start <= pD) {
            pnew_c += c->cases;
            pnew_ch += c->children;
        }
    }
    int wdays = cw_workdays_count(wd, fy, D), pwdays = cw_workdays_count(wd, pfy, pD);
    put_int(b, "open_cases", gn, open_c);
    put_int(b, "open_children", gn, open_ch);
    put_int(b, "new_cases_fytd", gn, new_c);
    put_int(b, "new_children_fytd", gn, new_ch);
    put_int(b, "new_cases_prev_fytd", gn, pnew_c);
    put_int(b, "new_children_prev_fytd", gn, pnew_ch);
    put_int(b, "working_days_fytd", gn, wdays);
    put_int(b, "working_days_prev_fytd", gn, pwdays);
    put_ratio(b, "new_cases_per_working_day", gn, new_c, wdays);
    put_ratio(b, "new_children_per_working_day", gn, new_ch, wdays);
    put_pct(b, "new_cases_yoy_pct", gn, new_c - pnew_c, pnew_c);
    put_pct(b, "new_children_yoy_pct", gn, new_ch - pnew_ch, pnew_ch);
    durations(b, in, g, D - 90, D, "closed_quarter", "duration_mean_weeks_quarter",
              "duration_median_weeks_quarter");
    durations(b, in, g, D - 364, D, "closed_year", "duration_mean_weeks_year",
              "duration_median_weeks_year");
    /* keep the Python reference's order: closed_quarter, closed_year, then the four stats */
    size_t k = b->n - 6;
    cw_figure_t q[3] = {b->f[k], b->f[k + 1], b->f[k + 2]};
    cw_figure_t y[3] = {b->f[k + 3], b->f[k + 4], b->f[k + 5]};
    b->f[k] = q[0];
    b->f[k + 1] = y[0];
    b->f[k + 2] = q[1];
    b->f[k + 3] = q[2];
    b->f[k + 4] = y[1];
    b->f[k + 5] = y[2];
    put_int(b, "open_52w_cases", gn, o52);
    put_int(b, "open_52w_children", gn, o52ch);
    put_int(b, "open_100w_cases", gn, o100);
    put_int(b, "open_100w_children", gn, o100ch);

    int64_t live[CW_LIVE__COUNT] = {0};
    for (size_t i = 0; i < in->nlive; i++)
        if (in_group(g, in->live[i].case_type) && in->live[i].metric < CW_LIVE__COUNT)
            live[in->live[i].metric] += in->live[i].value;
    int64_t open_live = live[CW_LIVE_ALLOC_ALLOCATED] + live[CW_LIVE_ALLOC_DUTY] +
                        live[CW_LIVE_ALLOC_PAH] + live[CW_LIVE_ALLOC_HUB];
    put_int(b, "alloc_allocated", gn, live[CW_LIVE_ALLOC_ALLOCATED]);
    put_int(b, "alloc_duty", gn, live[CW_LIVE_ALLOC_DUTY]);
    put_int(b, "alloc_post_assessment_hub", gn, live[CW_LIVE_ALLOC_PAH]);
    put_int(b, "alloc_allocation_hub", gn, live[CW_LIVE_ALLOC_HUB]);
    put_pct(b, "alloc_allocated_pct", gn, live[CW_LIVE_ALLOC_ALLOCATED], open_live);
    put_pct(b, "alloc_duty_pct", gn, live[CW_LIVE_ALLOC_DUTY], open_live);
    put_pct(b, "alloc_post_assessment_hub_pct", gn, live[CW_LIVE_ALLOC_PAH], open_live);
    put_pct(b, "alloc_allocation_hub_pct", gn, live[CW_LIVE_ALLOC_HUB], open_live);
    put_int(b, "children_in_allocated", gn, live[CW_LIVE_CHILDREN_ALLOCATED]);
    put_int(b, "children_seen", gn, live[CW_LIVE_CHILDREN_SEEN]);
    put_int(b, "children_seen_in_person", gn, live[CW_LIVE_CHILDREN_IN_PERSON]);
    put_pct(b, "children_seen_pct", gn, live[CW_LIVE_CHILDREN_SEEN],
            live[CW_LIVE_CHILDREN_ALLOCATED]);
    put_pct(b, "children_seen_in_person_pct", gn, live[CW_LIVE_CHILDREN_IN_PERSON],
            live[CW_LIVE_CHILDREN_ALLOCATED]);

    int64_t s7 = 0, s7_on = 0, s7_ext = 0;
    for (size_t i = 0; i < in->nreports; i++) {
        const cw_fig_report_t *r = &in->reports[i];
        if (!in_group(g, r->case_type) || r->kind != 1 /* S7_REPORT */ || r->filed < fy ||
            r->filed > D)
            continue;
        s7 += r->reports;
        s7_on += r->on_time ? r->reports : 0;
        s7_ext += r->extended ? r->reports : 0;
    }
    put_int(b, "s7_filed_fytd", gn, s7);
    put_int(b, "s7_on_time", gn, s7_on);
    put_int(b, "s7_extended", gn, s7_ext);
    put_pct(b, "s7_on_time_pct", gn, s7_on, s7);
    put_pct(b, "s7_extended_pct", gn, s7_ext, s7);
}

static void care_26w(fig_buf_t *b, const cw_fig_input_t *in, cw_day_t first, cw_day_t last,
                     const char *n_closed, const char *n_within, const char *n_pct)
{
    int64_t closed = 0, within = 0;
    for (size_t i = 0; i < in->ncohort; i++) {
        const cw_fig_cohort_t *c = &in->cohort[i];
        if ((c->case_type != 1 && c->case_type != 2) || c->close == CW_DAY_OPEN ||
            c->close < first || c->close > last)
            continue;
        closed += c->cases;
        if (c->close - c->start <= 182)
            within += c->cases;
    }
    put_int(b, n_closed, "all", closed);
    put_int(b, n_within, "all", within);
    put_pct(b, n_pct, "all", within, closed);
}

void cw_figures_compute(const cw_fig_input_t *in, cw_day_t D, const cw_workdays_t *wd,
                        cw_figure_t **out, size_t *n)
{
    fig_buf_t b = {0};
    for (int g = 0; g < CW_FIG_GROUPS; g++)
        group_figures(&b, in, g, D, wd);
    cw_day_t qf, ql;
    cw_day_last_complete_quarter(D, &qf, &ql);
    care_26w(&b, in, qf, ql, "care_closed_quarter", "care_closed_within_26w",
             "care_within_26w_pct");
    care_26w(&b, in, cw_day_minus_year(qf), cw_day_minus_year(ql),
             "care_closed_quarter_prev_year", "care_closed_within_26w_prev_year",
             "care_within_26w_pct_prev_year");
    int64_t workers = 0, total = 0, max = 0;
    for (size_t i = 0; i < in->nworkers; i++) {
        if (in->worker_cases[i] <= 0)
            continue;
        workers++;
        total += in->worker_cases[i];
        if (in->worker_cases[i] > max)
            max = in->worker_cases[i];
    }
    put_int(&b, "workers", "all", workers);
    put_ratio(&b, "caseload_mean", "all", total, workers);
    put_int(&b, "caseload_max", "all", max);
    put_int(&b, "prioritisation_active", "all", in->prioritised);
    *out = b.f;
    *n = b.n;
}

const cw_figure_t *cw_figures_find(const cw_figure_t *figs, size_t n, const char *name,
                                   const char *case_type)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(figs[i].name, name) && !strcmp(figs[i].case_type, case_type))
            return &figs[i];
    return NULL;
}
