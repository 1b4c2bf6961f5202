/*
 * figures.h — the board figures, computed from aggregate rows. Pure: no I/O, no clock.
 *
 * The caller (casewatch report, the daemon's metric snapshots) reads the aggregate tables for
 * one scope (national, or one court area) and hands the rows here with an as-of day. Every
 * definition is in README "The figures". Values are exact: percentages, weeks and rates are
 * rounded half away from zero to one decimal with integer arithmetic, so two correct
 * implementations agree to the digit.
 */
#ifndef CASEWATCH_FIGURES_H
#define CASEWATCH_FIGURES_H

#include "casewatch/common.h"
#include "casewatch/workdays.h"

typedef struct cw_fig_cohort {
    uint8_t case_type;
    cw_day_t start, close; /**< close = CW_DAY_OPEN (INT32_MAX) while open */
    int64_t cases, children;
} cw_fig_cohort_t;

typedef struct cw_fig_live {
    uint8_t case_type;
    uint8_t metric; /**< cw_live_metric_t */
    int64_t value;
} cw_fig_live_t;

typedef struct cw_fig_report {
    uint8_t case_type;
    uint8_t kind; /**< ReportKind */
    cw_day_t filed;
    bool on_time, extended;
    int64_t reports;
} cw_fig_report_t;

/** Everything one scope's figures are computed from (all arrays borrowed). */
typedef struct cw_fig_input {
    const cw_fig_cohort_t *cohort;
    size_t ncohort;
    const cw_fig_live_t *live;
    size_t nlive;
    const cw_fig_report_t *reports;
    size_t nreports;
    const int64_t *worker_cases; /**< open worker-allocated cases per worker in the scope */
    size_t nworkers;
    int prioritised; /**< national: areas with prioritisation active; area: 1 or 0 */
} cw_fig_input_t;

/** One figure. is_null: undefined (e.g. a share of nothing). */
typedef struct cw_figure {
    const char *name;      /**< static, e.g. "open_cases" */
    const char *case_type; /**< static: "all", "public", "private" or a CaseType name */
    bool is_int;           /**< a count (value holds an integer) */
    bool is_null;
    double value;
} cw_figure_t;

/** Case-type groups figures are given for, in output order: all, public, private, the six
 * types, and PUBLIC_LAW_S31 (s31 care and supervision together, as the board pack quotes). */
#define CW_FIG_GROUPS 10

/**
 * @brief Compute every figure of one scope as of day D.
 * @param out  receives a malloc'd array (caller frees) of *n figures, in a fixed order: for
 *             each group (all, public, private, the six types, PUBLIC_LAW_S31) the per-group figures,
 *             then the "all"-only figures.
 */
void cw_figures_compute(const cw_fig_input_t *in, cw_day_t as_of, const cw_workdays_t *wd,
                        cw_figure_t **out, size_t *n);

/** @brief Find a figure by name and group; NULL if absent. */
const cw_figure_t *cw_figures_find(const cw_figure_t *figs, size_t n, const char *name,
                                   const char *case_type);

/** @brief round_half_away_from_zero(10 * num / den) / 10, exactly; den must be non-zero. */
double cw_fig_tenths(int64_t num, int64_t den);

#endif
