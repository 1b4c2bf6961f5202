/*
 * test_figures.c — CUnit suite for the pure figures module: each board figure from hand-built
 * aggregate rows with hand-computed expectations, and the exact rounding rule.
 */
#include "casewatch/casebook.h"
#include "casewatch/figures.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>

static cw_workdays_t *wd;
static cw_day_t D; /* 2024-01-31 */

static cw_day_t ymd(int y, int m, int d)
{
    return cw_day_from_ymd(y, m, d);
}

static double get(const cw_figure_t *f, size_t n, const char *name, const char *group,
                  bool *is_null)
{
    const cw_figure_t *x = cw_figures_find(f, n, name, group);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    if (is_null)
        *is_null = x->is_null;
    return x->value;
}

#define EQ(name, group, want) CU_ASSERT_DOUBLE_EQUAL(get(f, n, name, group, NULL), want, 1e-9)
#define IS_NULL(name, group)                                                                       \
    do {                                                                                           \
        bool nl_;                                                                                  \
        get(f, n, name, group, &nl_);                                                              \
        CU_ASSERT_TRUE(nl_);                                                                       \
    } while (0)

static void test_rounding(void)
{
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(100 * 1, 8), 12.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(100 * 1, 16), 6.3, 1e-12);   /* 6.25 -> 6.3 */
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(100 * 2, 3), 66.7, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(-100 * 1, 2000), -0.1, 1e-12); /* -0.05 -> -0.1 */
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(-100 * 1, 100), -1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(1, 3), 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(100 * 3, 10), 30.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cw_fig_tenths(0, 7), 0.0, 1e-12);
}

/* 10 care cases closed in Oct-Dec 2023, 3 of them within 26 weeks: 30.0% */
static void test_care_26_weeks(void)
{
    cw_fig_cohort_t rows[10];
    int durations[10] = {100, 182 /* exactly 26 weeks: within */, 150, 183, 200,
                         250, 300, 400, 190, 365};
    for (int i = 0; i < 10; i++) {
        cw_day_t close = ymd(2023, 10, 1) + i * 9;
        rows[i] = (cw_fig_cohort_t){(uint8_t)(i % 2 ? 2 : 1), close - durations[i], close, 1, 2};
    }
    /* one closed on 30 Sep (previous quarter) and one on 1 Jan 2024 (not complete): ignored;
     * a WAFH case in the quarter: not care */
    cw_fig_cohort_t extra[] = {{1, ymd(2023, 9, 1), ymd(2023, 9, 30), 5, 5},
                               {1, ymd(2023, 12, 1), ymd(2024, 1, 1), 5, 5},
                               {5, ymd(2023, 10, 1), ymd(2023, 10, 2), 7, 7},
                               /* a year earlier: 1 of 4 within */
                               {1, ymd(2022, 10, 2), ymd(2022, 11, 1), 1, 1},
                               {1, ymd(2021, 10, 2), ymd(2022, 11, 1), 3, 3}};
    cw_fig_cohort_t all[15];
    for (int i = 0; i < 10; i++)
        all[i] = rows[i];
    for (int i = 0; i < 5; i++)
        all[10 + i] = extra[i];
    cw_fig_input_t in = {.cohort = all, .ncohort = 15};
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, wd, &f, &n);
    EQ("care_closed_quarter", "all", 10);
    EQ("care_closed_within_26w", "all", 3);
    EQ("care_within_26w_pct", "all", 30.0);
    EQ("care_closed_quarter_prev_year", "all", 4);
    EQ("care_within_26w_pct_prev_year", "all", 25.0);
    free(f);
}

static void test_durations_mean_median(void)
{
    /* WTFH closed in the rolling quarter (D-90..D): 10, 12, 14, 16 weeks -> mean 13.0,
     * median (12 + 14) / 2 = 13.0; a 15-week one the day before the quarter only counts in
     * the rolling year: year mean (10+12+14+16+15)/5 = 13.4, median 14.0 */
    cw_fig_cohort_t c[] = {{4, D - 70, D, 1, 1},
                           {4, D - 5 - 84, D - 5, 1, 1},
                           {4, D - 90 - 98, D - 90, 1, 1},
                           {4, D - 30 - 112, D - 30, 1, 1},
                           {4, D - 91 - 105, D - 91, 1, 1},
                           {4, D - 400, D - 365, 9, 9} /* outside the year */};
    cw_fig_input_t in = {.cohort = c, .ncohort = CW_ARRAY_LEN(c)};
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, wd, &f, &n);
    EQ("closed_quarter", "PRIVATE_LAW_WTFH", 4);
    EQ("duration_mean_weeks_quarter", "PRIVATE_LAW_WTFH", 13.0);
    EQ("duration_median_weeks_quarter", "PRIVATE_LAW_WTFH", 13.0);
    EQ("closed_year", "PRIVATE_LAW_WTFH", 5);
    EQ("duration_mean_weeks_year", "PRIVATE_LAW_WTFH", 13.4);
    EQ("duration_median_weeks_year", "PRIVATE_LAW_WTFH", 14.0);
    EQ("closed_year", "private", 5);
    EQ("closed_year", "public", 0);
    IS_NULL("duration_mean_weeks_year", "public");
    IS_NULL("duration_median_weeks_year", "RULE_16_4");
    free(f);
}

static void test_open_new_and_long_running(void)
{
    /* FY 2023-04-01..2024-01-31 has 209 working days; 2090 new care cases (3135 children) ->
     * 10.0 per working day; 1900 a year earlier -> +10.0% */
    cw_fig_cohort_t c[] = {
        {1, ymd(2023, 6, 1), CW_DAY_OPEN, 2000, 3000},   /* new, open */
        {1, ymd(2023, 7, 1), ymd(2023, 12, 1), 90, 135}, /* new, closed */
        {1, ymd(2022, 6, 1), ymd(2023, 3, 1), 1900, 2000}, /* a year earlier */
        {6, D - 364, CW_DAY_OPEN, 3, 5},                 /* exactly 52 weeks: counts */
        {6, D - 363, CW_DAY_OPEN, 4, 4},                 /* one day short */
        {6, D - 700, D + 1, 2, 3},                       /* 100 weeks, closes after D */
        {6, D + 1, CW_DAY_OPEN, 50, 50},                 /* starts after D: not open yet */
    };
    cw_fig_input_t in = {.cohort = c, .ncohort = CW_ARRAY_LEN(c)};
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, wd, &f, &n);
    EQ("working_days_fytd", "all", 209);
    EQ("new_cases_fytd", "PUBLIC_LAW_S31_CARE", 2090);
    EQ("new_children_fytd", "PUBLIC_LAW_S31_CARE", 3135);
    EQ("new_cases_per_working_day", "PUBLIC_LAW_S31_CARE", 10.0);
    EQ("new_children_per_working_day", "PUBLIC_LAW_S31_CARE", 15.0);
    EQ("new_cases_prev_fytd", "PUBLIC_LAW_S31_CARE", 1900);
    EQ("new_cases_yoy_pct", "PUBLIC_LAW_S31_CARE", 10.0);
    EQ("open_cases", "PUBLIC_LAW_S31_CARE", 2000);
    EQ("open_cases", "RULE_16_4", 9);
    EQ("open_children", "all", 3012);
    EQ("open_52w_cases", "RULE_16_4", 5);
    EQ("open_52w_children", "RULE_16_4", 8);
    EQ("open_100w_cases", "private", 2);
    EQ("open_100w_children", "private", 3);
    EQ("open_cases", "public", 2000);
    EQ("open_cases", "PUBLIC_LAW_S31", 2000);
    IS_NULL("new_cases_yoy_pct", "RULE_16_4"); /* nothing a year earlier */
    free(f);
}

static void test_live_allocation_seen_caseload_s7(void)
{
    cw_fig_live_t l[] = {{1, CW_LIVE_ALLOC_ALLOCATED, 920}, {1, CW_LIVE_ALLOC_DUTY, 25},
                         {1, CW_LIVE_ALLOC_PAH, 35},        {1, CW_LIVE_ALLOC_HUB, 20},
                         {1, CW_LIVE_CHILDREN_ALLOCATED, 1000}, {1, CW_LIVE_CHILDREN_SEEN, 980},
                         {1, CW_LIVE_CHILDREN_IN_PERSON, 923}};
    cw_fig_report_t r[] = {{5, 1, ymd(2023, 5, 1), true, true, 363},
                           {5, 1, ymd(2023, 5, 1), true, false, 620},
                           {5, 1, ymd(2023, 5, 1), false, false, 17},
                           {5, 1, ymd(2023, 3, 31), false, false, 99}, /* before the FY */
                           {5, 2, ymd(2023, 5, 1), false, false, 50}}; /* addendum: not s7 */
    int64_t workers[] = {19, 20, 0, 19};
    cw_fig_input_t in = {.live = l,
                         .nlive = CW_ARRAY_LEN(l),
                         .reports = r,
                         .nreports = CW_ARRAY_LEN(r),
                         .worker_cases = workers,
                         .nworkers = 4,
                         .prioritised = 3};
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, wd, &f, &n);
    EQ("alloc_allocated_pct", "all", 92.0);
    EQ("alloc_duty_pct", "all", 2.5);
    EQ("alloc_post_assessment_hub_pct", "all", 3.5);
    EQ("alloc_allocation_hub_pct", "all", 2.0);
    EQ("children_seen_pct", "all", 98.0);
    EQ("children_seen_in_person_pct", "all", 92.3);
    EQ("s7_filed_fytd", "all", 1000);
    EQ("s7_on_time_pct", "all", 98.3);
    EQ("s7_extended_pct", "all", 36.3);
    EQ("s7_filed_fytd", "PRIVATE_LAW_WAFH", 1000);
    EQ("s7_filed_fytd", "public", 0);
    IS_NULL("s7_on_time_pct", "public");
    EQ("workers", "all", 3);
    EQ("caseload_mean", "all", 19.3);
    EQ("caseload_max", "all", 20);
    EQ("prioritisation_active", "all", 3);
    IS_NULL("alloc_allocated_pct", "private");
    free(f);
}

static void test_layout(void)
{
    cw_fig_input_t in = {0};
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, wd, &f, &n);
    /* 40 figures for each of 10 groups, then 10 for "all" only */
    CU_ASSERT_EQUAL(n, 40 * CW_FIG_GROUPS + 10);
    CU_ASSERT_STRING_EQUAL(f[0].name, "open_cases");
    CU_ASSERT_STRING_EQUAL(f[0].case_type, "all");
    CU_ASSERT_STRING_EQUAL(f[40].case_type, "public");
    CU_ASSERT_STRING_EQUAL(f[n - 1].name, "prioritisation_active");
    free(f);
}

int main(void)
{
    wd = cw_workdays_new();
    D = ymd(2024, 1, 31);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("figures", NULL, NULL);
    CU_add_test(s, "rounding is half away from zero, exact", test_rounding);
    CU_add_test(s, "3 of 10 care cases within 26 weeks -> 30.0%", test_care_26_weeks);
    CU_add_test(s, "closed-case durations: mean and median, quarter and year",
                test_durations_mean_median);
    CU_add_test(s, "open, new per working day, year on year, 52/100 weeks",
                test_open_new_and_long_running);
    CU_add_test(s, "allocation, children seen, caseload, s7, prioritisation",
                test_live_allocation_seen_caseload_s7);
    CU_add_test(s, "figure layout", test_layout);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    cw_workdays_destroy(wd);
    return failed ? 1 : 0;
}
