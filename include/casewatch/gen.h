/*
 * gen.h — the simulation model behind casewatch-gen: a deterministic, calibrated generator of
 * realistic family-court case lifecycles, emitted as casewatch.v1 events.
 *
 * Pure: a seeded PRNG of its own (xoshiro256**), no clock, no I/O, no globals. The same
 * configuration gives the same events, byte for byte, on every run and every machine with
 * IEEE doubles. cw_gen_run() calls the emit callback once per event in non-decreasing
 * occurred_at order (ties: case number), so every case's events arrive in occurred_at order;
 * faults (duplicates, reordering, late delivery, garbage) are the caller's business
 * (daemon/casewatch_gen.c). It lives in the casewatch_sim library, not in libcasewatch:
 * link casewatch_sim to use it (casewatchd does not).
 *
 * Calibration (national, scale 1.0), from the board pack "Our operating context: Data (1)/(2)":
 * about 221 new children's cases per working day (30% public law: 68% s31 care, 7% s31
 * supervision, 25% other public law; 70% private law: 78.5% close at work to first hearing,
 * 16.5% move to WAFH when a s7 report is ordered at the first hearing (case_reclassified at
 * the FHDRA), 4.5% go on from WAFH to rule 16.4 after the s7 report and 0.5% open directly
 * as 16.4), about 1.6 children per case (1.58 new, 1.66 open), closed-case durations
 * (closed - start, by type at closing) s31 43 / WTFH 12 / WAFH 59 / R16.4 104 weeks (31% of
 * s31 cases within 26), about 30,096 open cases and 48,721 children in steady state,
 * allocation 92 / 2.5 / 3.5 / 2 %, s7 filed to timescale 98.3% and extended 36.3%, children
 * seen 98% and in person 92.3%, mean caseload 19.3. Everything scales with cfg.scale except
 * the list of court areas.
 *
 * Time line: [sim_start, window_start) is the warm-up, [window_start, end_day] the window.
 * At sim_start the open-case stock is already in steady state: cases that would have opened
 * during ten years of pre-history and are still open then are emitted at sim_start as a
 * compressed history (case_opened with the true issued_at, the allocation and facts still
 * relevant, all at sim_start + a few ms). No event is later than end_day 23:59:59.999 UTC.
 */
#ifndef CASEWATCH_GEN_H
#define CASEWATCH_GEN_H

#include "casewatch/common.h"
#include "casewatch/workdays.h"
#include "casewatch/v1/events.pb-c.h"

/** The generator. Create with cw_gen_new(), free with cw_gen_destroy(). Not thread-safe. */
typedef struct cw_gen cw_gen_t;

/* Thresholds the generator uses to count "natural" alert scenarios in its ground truth. They
 * mirror the default alert thresholds; the rules engine may use others. */
#define CW_GEN_CARE_LIMIT_DAYS     182 /**< s31 care/supervision: 26 weeks */
#define CW_GEN_OPEN_LONG_DAYS      364 /**< open 52+ weeks */
#define CW_GEN_OPEN_VERY_LONG_DAYS 700 /**< open 100+ weeks */
#define CW_GEN_R164_PLANNING_DAYS  28  /**< rule 16.4: planning meeting within 28 days */
#define CW_GEN_R164_FINAL_DAYS     182 /**< rule 16.4: final hearing within six months */
#define CW_GEN_DUTY_LIMIT_WD       10  /**< on duty awaiting allocation, working days */
#define CW_GEN_SEEN_LIMIT_WD       15  /**< allocated child seen within, working days */
#define CW_GEN_16A_LIMIT_WD        10  /**< concern to 16a risk assessment, working days */
#define CW_GEN_LETTER_BEFORE_WD    2   /**< safeguarding letter at least this before FHDRA */
#define CW_GEN_OVERSIGHT_LIMIT_WD  10  /**< allocation to management oversight, working days */
#define CW_GEN_CASELOAD_LIMIT      25  /**< open worker-allocated cases per worker */
#define CW_GEN_WELFARE_LIMIT_WD    5   /**< welfare-at-risk case unallocated, prioritised area */

/** Slots for per-kind counts: payload kinds are oneof field numbers 10..31. */
#define CW_GEN_KIND_SLOTS 32

/** Alert scenario kinds (issue [C]); the truth counts each, injected and natural. */
typedef enum cw_gen_scenario {
    CW_GEN_SC_CARE_PAST_26W = 0,      /**< s31 case open past 26 weeks, no s32 extension */
    CW_GEN_SC_OPEN_52W,               /**< any case open past 52 weeks */
    CW_GEN_SC_OPEN_100W,              /**< any case open past 100 weeks */
    CW_GEN_SC_S7_PAST_DUE,            /**< s7 report not filed by its due date in force */
    CW_GEN_SC_R164_NO_PLANNING,       /**< 16.4: no planning meeting within 28 days */
    CW_GEN_SC_R164_NO_FINAL_6M,       /**< 16.4: no final hearing within six months */
    CW_GEN_SC_DUTY_PAST_LIMIT,        /**< on duty awaiting allocation past the limit */
    CW_GEN_SC_CHILD_NOT_SEEN,         /**< allocated child not seen within the limit */
    CW_GEN_SC_NOT_SEEN_IN_PERSON,     /**< report filed with a child not seen in person */
    CW_GEN_SC_CONCERN_NO_16A,         /**< concern without a 16a assessment within the limit */
    CW_GEN_SC_DA_NOT_ASSESSED,        /**< report filed with domestic abuse not assessed */
    CW_GEN_SC_NO_SAFEGUARDING_LETTER, /**< no letter CW_GEN_LETTER_BEFORE_WD before the FHDRA */
    CW_GEN_SC_NO_OVERSIGHT,           /**< no management oversight within the limit */
    CW_GEN_SC_CASELOAD_OVER,          /**< a worker's caseload over the limit (at window end) */
    CW_GEN_SC_WELFARE_UNALLOCATED,    /**< welfare-at-risk case unallocated, prioritised area */
    CW_GEN_SC__COUNT
} cw_gen_scenario_t;

/** @brief Stable snake_case name of a scenario kind ("care_past_26w", …); "unknown" otherwise. */
const char *cw_gen_scenario_name(int sc);

/** What to simulate. Initialise with cw_gen_config_init(), then set what differs. */
typedef struct cw_gen_config {
    uint64_t seed;                 /**< any value; event ids are "g<seed>-<n>" */
    cw_day_t end_day;              /**< last day of the window (inclusive), required */
    int days;                      /**< window length in days, >= 1 (default 365) */
    int warmup_days;               /**< history before the window, >= 0 (default 1095) */
    double scale;                  /**< volume factor, (0, 100] (default 1.0) */
    double scenario_rate;          /**< share of window cases given an injected alert
                                        scenario, [0, 0.2] (default 0.004) */
    const cw_workdays_t *workdays; /**< borrowed, required; must outlive the generator */
} cw_gen_config_t;

/** @brief Defaults: seed 1, 365 days, 1095 warm-up days, scale 1, scenario rate 0.004. */
void cw_gen_config_init(cw_gen_config_t *cfg);

/** One emitted event, as the callback sees it. Everything is borrowed for the call only. */
typedef struct cw_gen_event {
    const Casewatch__V1__Event *pb; /**< the event, fully set; valid during the callback */
    int kind;                       /**< pb->payload_case */
    const char *key;                /**< Kafka key: case_id, or court_area for area events */
    uint64_t seq;                   /**< 1-based emission number (the <n> of the event_id) */
    bool in_window;                 /**< occurred_at lies in the window */
} cw_gen_event_t;

/** Emit callback: return 0 to go on, nonzero to stop cw_gen_run() after this event. */
typedef int (*cw_gen_emit_fn)(void *arg, const cw_gen_event_t *ev);

/** Ground truth: what the generator emitted and its own figures at the end of the window. */
typedef struct cw_gen_truth {
    uint64_t seed;
    double scale;
    cw_day_t sim_start, window_start, window_end; /**< days; the window is inclusive */
    uint64_t stock_at_start; /**< open cases created at sim_start by the pre-history */

    uint64_t events; /**< events emitted */
    uint64_t events_in_window;
    uint64_t events_by_kind[CW_GEN_KIND_SLOTS]; /**< index: payload kind (oneof number) */
    uint64_t cases_emitted;                     /**< distinct cases with a case_opened emitted */

    /* cases whose start day lies in the window; index CaseType (0 = all types) */
    uint64_t new_cases[7];
    uint64_t new_children; /**< their children at the end (incl. child_added) */
    int window_workdays;
    double new_cases_per_workday;
    double children_per_new_case;

    /* cases closed (and still closed) at the end whose closing day lies in the window, by
     * type at closing; s31 = care + supervision */
    uint64_t closed[7];
    double closed_mean_weeks[7];
    uint64_t closed_s31;
    double closed_s31_mean_weeks;
    double closed_s31_within_26w; /**< share (0..1) of s31 closed with duration <= 182 d */

    /* the open-case stock at the end of end_day */
    uint64_t open_cases, open_children;
    uint64_t open_by_type[7];
    uint64_t open_52w_cases[2], open_52w_children[2]; /**< [0] public law, [1] private law */
    uint64_t open_100w_cases[2], open_100w_children[2];
    uint64_t alloc[4];     /**< allocated (worker or team), duty, post-assessment
                                hub, allocation hub */
    double alloc_share[4]; /**< of open cases, 0..1 */

    uint64_t s7_filed, s7_on_time, s7_extended; /**< S7_REPORT reports filed in the window */
    double s7_on_time_share, s7_extended_share;
    uint64_t seen_children, seen, seen_in_person; /**< children of open allocated cases */
    double seen_share, seen_in_person_share;

    int workers; /**< FCAs in all teams */
    int workers_with_cases;
    double caseload_mean; /**< over workers with at least one case */
    int caseload_max;

    const char *prioritised[8]; /**< court areas with prioritisation active at the end */
    int n_prioritised;

    /** scenario counts: injected on purpose, and arising (natural, injected included) with
     * the trigger (the moment the alert should fire) inside the window */
    uint64_t sc_injected[CW_GEN_SC__COUNT];
    uint64_t sc_arising[CW_GEN_SC__COUNT];
    uint32_t sc_example[CW_GEN_SC__COUNT][3]; /**< up to 3 injected case numbers ("c-<n>") */
} cw_gen_truth_t;

/**
 * @brief Build a generator. Nothing is emitted yet.
 * @param cfg   copied; cfg->workdays is borrowed and must outlive the generator
 * @returns the generator (free with cw_gen_destroy()), or NULL with errstr filled when the
 *          configuration is out of range.
 */
cw_gen_t *cw_gen_new(const cw_gen_config_t *cfg, char *errstr, size_t errsz);

/** @brief Free everything; safe on NULL. */
void cw_gen_destroy(cw_gen_t *g);

/**
 * @brief Simulate from sim_start to the end of end_day, calling emit for every event.
 * Call once per generator.
 * @returns CW_OK when the simulation ran to the end, CW_ERR_AGAIN when emit asked to stop
 *          (the truth then describes what was emitted so far), CW_ERR_INVALID if called twice.
 */
CW_WUR cw_err_t cw_gen_run(cw_gen_t *g, cw_gen_emit_fn emit, void *arg);

/** @brief The ground truth; final after cw_gen_run(). Borrowed, valid until cw_gen_destroy(). */
const cw_gen_truth_t *cw_gen_truth(const cw_gen_t *g);

/** @brief Number of court areas and the code of area i (static storage). */
int cw_gen_area_count(void);
const char *cw_gen_area_code(int i);

#endif
