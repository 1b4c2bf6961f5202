/*
 * rules.h — the alert rules: what must happen by when, per case (and per area and worker),
 * as configuration. Pure: no clock, no I/O except cw_rules_load() at startup/reload.
 *
 * A rule turns state into OBLIGATIONS: (rule, subject, due time, met time). The alert engine
 * (alerts.h) turns obligations into the pending → firing → resolved lifecycle against a clock.
 * Every default is documented in README "Alert rules" with the seed figure, statute or
 * practice it comes from.
 */
#ifndef CASEWATCH_RULES_H
#define CASEWATCH_RULES_H

#include "casewatch/casebook.h"
#include "casewatch/figures.h"
#include "casewatch/workdays.h"

typedef enum cw_family {
    CW_FAMILY_SAFEGUARDING = 1,
    CW_FAMILY_DELAY = 2,
    CW_FAMILY_PRIORITISATION = 3,
} cw_family_t;

typedef enum cw_severity {
    CW_SEV_INFO = 1,
    CW_SEV_WARNING = 2,
    CW_SEV_CRITICAL = 3,
} cw_severity_t;

typedef enum cw_rule_id {
    /* delay */
    CW_RULE_CARE_26W_WARNING,
    CW_RULE_CARE_26W,
    CW_RULE_OPEN_52W,
    CW_RULE_OPEN_100W,
    CW_RULE_S7_DUE_SOON,
    CW_RULE_S7_OVERDUE,
    CW_RULE_R164_PLANNING,
    CW_RULE_R164_FINAL,
    CW_RULE_DUTY_ALLOCATION,
    /* safeguarding */
    CW_RULE_CHILD_NOT_SEEN,
    CW_RULE_NOT_SEEN_IN_PERSON,
    CW_RULE_CONCERN_NO_16A,
    CW_RULE_DA_NOT_ASSESSED,
    CW_RULE_LETTER_MISSING,
    CW_RULE_NO_OVERSIGHT,
    /* prioritisation */
    CW_RULE_WELFARE_UNALLOCATED,
    CW_RULE_AREA_DUTY_SHARE,
    CW_RULE_AREA_DEMAND_GROWTH,
    CW_RULE_WORKER_CASELOAD,
    CW_RULE_AREA_CAN_DEACTIVATE,
    CW_RULE__COUNT
} cw_rule_id_t;

/** What a rule's threshold counts. */
typedef enum cw_unit {
    CW_UNIT_DAYS,
    CW_UNIT_WORKING_DAYS,
    CW_UNIT_WEEKS,
    CW_UNIT_PERCENT_TENTHS, /**< 50 = 5.0% */
    CW_UNIT_CASES,
} cw_unit_t;

typedef struct cw_rule_override {
    uint32_t area; /**< interned court area (cw_casebook_intern) */
    int64_t threshold;
} cw_rule_override_t;

typedef struct cw_rule {
    const char *name; /**< static, e.g. "care_26_weeks" */
    cw_family_t family;
    cw_severity_t severity;
    bool enabled;
    int64_t threshold;    /**< in unit */
    cw_unit_t unit;
    int64_t lead_days;    /**< case rules: pending starts this many days before the due time
                           * (area and worker rules are pending while their condition holds) */
    int64_t min_open_cases; /**< area share rules: only in areas with at least this many open
                             * cases (0 = any); see cw_rules_area() */
    cw_rule_override_t *overrides;
    int noverrides;
    uint32_t version;     /**< hash of the rule's effective configuration */
} cw_rule_t;

typedef struct cw_rules {
    cw_rule_t rule[CW_RULE__COUNT];
    int64_t repeat_ms; /**< re-notify unacknowledged critical firing alerts this often */
} cw_rules_t;

/** @brief The documented defaults. Caller frees with cw_rules_free(). */
cw_rules_t *cw_rules_defaults(void);

/**
 * @brief Defaults, then every [rule.NAME] section of an INI file:
 *   enabled = true|false, severity = info|warning|critical, threshold = N, lead_days = N,
 *   threshold@AREA = N (per court area), and [rules] repeat_minutes = N.
 * Area names are interned in cb (so overrides compare by id).
 * @returns NULL with "file:line: what was expected" in errstr on any error.
 */
cw_rules_t *cw_rules_load(const char *path, cw_casebook_t *cb, char *errstr, size_t errsz);
void cw_rules_free(cw_rules_t *r);

/** @brief The threshold in force for an area (its override, else the rule's). */
int64_t cw_rules_threshold(const cw_rule_t *rule, uint32_t area);

/** @brief Rule by name; NULL if unknown. */
const cw_rule_t *cw_rules_find(const cw_rules_t *r, const char *name, int *id);

/** An obligation: subject must be met by due_ms; armed_ms is when it began. */
typedef struct cw_obligation {
    uint8_t rule;         /**< cw_rule_id_t */
    char subject[CW_EVENT_ID_MAX + 1]; /**< child/report/hearing/concern id, or "" for the
                                        * case itself: a whole identifier, never cut short */
    int64_t armed_ms;
    int64_t due_ms;
    int64_t met_ms;       /**< 0 = not met */
    double value;         /**< the measured value for threshold rules (e.g. weeks open) */
    double threshold;     /**< the threshold in force (the area's override, if any) */
    bool ended;           /**< met_ms is not a meeting: the obligation stopped applying then,
                           * unmet (an area's prioritisation ended): no longer applies */
    bool met_by_alloc;    /**< met_ms is the case's first allocation (its event is the cause
                           * when the meeting is found after the fact) */
    int64_t begun_ms;     /**< the outside fact that began it: the start of an area's
                           * prioritisation period; 0 = the case's own facts */
} cw_obligation_t;

/** Area facts for case rules: the area's prioritisation changes by event time, oldest first
 * (*n of them; NULL/0 = never prioritised). */
typedef const cw_prio_change_t *(*cw_area_prioritised_fn)(void *arg, uint32_t area, uint32_t *n);

/**
 * @brief Every obligation of one case under the enabled case rules (none for stubs).
 * Closed cases still report obligations met by their closing (so firing alerts resolve).
 * @param out  receives up to max obligations
 * @returns the number written (the count needed if larger than max).
 */
size_t cw_rules_case(const cw_rules_t *r, const cw_casebook_t *cb, const cw_case_t *c,
                     const cw_workdays_t *wd, cw_area_prioritised_fn prio, void *arg,
                     cw_obligation_t *out, size_t max);

/**
 * @brief Whether closing the case is what the rule waits for: the case itself must finish by
 * the due time (26 weeks for care, 52 and 100 weeks for any case, the 16.4 six-month
 * timescale). Closing meets these (met, or met_late past the due time, with the close
 * outcome); every other obligation of a closed case resolves case_closed.
 */
bool cw_rules_met_by_close(int rule);

/** An area's figures, as the area rules read them. */
typedef struct cw_area_facts {
    bool prioritised;   /**< prioritisation active in the area */
    int64_t open_cases; /**< open children's cases ("open_cases", all types) */
    bool duty_known;    /**< false: no share (no open work) */
    double duty_pct;    /**< "alloc_duty_pct": share of open work on duty, percent */
    bool growth_known;  /**< false: no year-on-year figure (nothing last year) */
    double growth_pct;  /**< "new_cases_yoy_pct": new cases this FYTD vs last, percent */
} cw_area_facts_t;

/** The most obligations cw_rules_area() writes. */
#define CW_RULES_AREA_MAX 3

/** @brief The facts of one area from its figures (cw_figures_compute() of the area). */
void cw_rules_area_facts(const cw_figure_t *figs, size_t n, bool prioritised,
                         cw_area_facts_t *out);

/**
 * @brief The obligations of one court area under the enabled area rules: area_duty_share and
 * area_demand_growth (due at once while over their threshold, and only in areas with at least
 * the rule's min_open_cases open cases: a share of a handful of cases is noise), and
 * area_can_deactivate (a prioritised area under both thresholds, by its figures whatever its
 * volume, must stay so for the rule's threshold in weeks: due_ms < 0, see
 * cw_alerts_evaluate_scope()). Subjects are "".
 * @param area interned court area (for threshold@AREA)
 * @param out  receives up to CW_RULES_AREA_MAX obligations
 * @returns the number written.
 */
size_t cw_rules_area(const cw_rules_t *r, uint32_t area, const cw_area_facts_t *f,
                     cw_obligation_t out[CW_RULES_AREA_MAX]);

/** @brief Stable names. */
const char *cw_family_name(cw_family_t f);
const char *cw_severity_name(cw_severity_t s);

#endif
