/*
 * casebook.h — the in-memory state of every case this daemon owns, and the aggregate deltas
 * its changes cause. Pure: no I/O, no clock, no globals.
 *
 * A case's state is a function of the set of its events, not of their arrival order: each
 * fact records the stamp (occurred_at, FNV-1a hash of event_id) of the event that set it and
 * only a later stamp replaces it; sets (children, seen) are unions; "earliest" facts take the
 * minimum. See README "How events become case state".
 *
 * Aggregates: every case contributes a few rows to the aggregate tables (its cohort row, live
 * gauges, its worker's caseload, its filed reports). Applying an event subtracts the case's
 * contribution before and adds it after, into a cw_aggdelta_t that collapses per key: the
 * batch writes the net change, and totals never depend on how events were batched or ordered.
 *
 * Cases are owned per Kafka partition (input topics keyed by case_id, co-partitioned): a
 * revoked partition's cases are dropped, an assigned one's loaded from PostgreSQL.
 */
#ifndef CASEWATCH_CASEBOOK_H
#define CASEWATCH_CASEBOOK_H

#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/v1/state.pb-c.h"

/** Allocation status of a case (CaseState.alloc). */
typedef enum cw_alloc {
    CW_ALLOC_AWAITING = 0, /**< no allocation event yet: awaiting allocation (counts as duty) */
    CW_ALLOC_ALLOCATED = 1,
    CW_ALLOC_DUTY = 2,
    CW_ALLOC_PAH = 3, /**< post-assessment hub */
    CW_ALLOC_HUB = 4, /**< allocation hub */
} cw_alloc_t;

/** Hearing status (HearingState.status). */
enum { CW_HEARING_LISTED = 1, CW_HEARING_HELD = 2, CW_HEARING_ADJOURNED = 3 };

/**
 * Most children, reports, hearings or concerns one case holds (real cases hold a handful). An
 * event that would add one more is applied without that entry and reported as anomaly
 * "too_many_entries": a storm of fresh ids on one case keeps bounded memory, bounded apply
 * and evaluation time, and counts that fit their uint16_t fields.
 */
#define CW_CASE_ENTRIES_MAX 256

typedef struct cw_stamp {
    int64_t ms;
    uint64_t hash;
} cw_stamp_t;

typedef struct cw_child {
    char *child_id;
    int64_t seen_ms;
    int64_t in_person_ms;
    bool member; /**< listed by case_opened/child_added (a child_seen alone does not add one) */
} cw_child_t;

typedef struct cw_report {
    char *report_id;
    uint8_t kind;
    uint16_t extensions;
    int64_t ordered_ms, due_ms, ext_due_ms, filed_ms;
    cw_stamp_t ext_stamp;
} cw_report_t;

typedef struct cw_hearing {
    char *hearing_id;
    uint8_t kind;
    uint8_t status;
    bool kind_from_held; /**< no listing gave the kind yet: a hearing_held did */
    cw_stamp_t stamp;
    int64_t listed_for_ms, held_ms, letter_ms;
    int64_t listing_ms; /**< time of the listing or relisting listed_for_ms comes from: the
                         * latest wins whatever else (held) came after it */
} cw_hearing_t;

/** cw_concern_t.kind of an entry that is not a concern but a 16a risk assessment recorded
 * (raised_ms 0, assessed_ms its time, concern_id the concern it named or ""): kept so that an
 * assessment arriving before its concern still assesses it. */
#define CW_CONCERN_16A_RECORD 255

typedef struct cw_concern {
    char *concern_id;
    uint8_t kind; /**< ConcernKind, or CW_CONCERN_16A_RECORD */
    int64_t raised_ms, assessed_ms;
} cw_concern_t;

typedef struct cw_case {
    char *case_id; /**< owned */
    uint64_t hash;
    int32_t partition;
    bool dirty;
    bool opened; /**< false: a stub, counted in no figure */
    bool welfare_at_risk, pathfinder;
    bool alloc_cause_due; /**< first_alloc_ms moved: the next set_last_event is its event */
    uint8_t case_type; /**< Casewatch__V1__CaseType */
    uint8_t alloc;     /**< cw_alloc_t */
    uint8_t outcome;
    uint32_t area, osa, team, worker; /**< interned ids (cw_casebook_str), 0 = none */
    uint32_t last_topic; /**< topic (interned) of the last event applied, see last_event_id;
                          * here, between 32-bit fields, so the struct has no padding */
    int64_t start_ms;
    cw_stamp_t opened_stamp, type_stamp, alloc_stamp, close_stamp, reopen_stamp;
    int64_t first_alloc_ms;
    int64_t event_count, first_ms, last_ms;
    int64_t da_alleged_ms, da_assessed_ms, planning_ms, oversight_first_ms, oversight_last_ms;
    int64_t risk16a_ms;
    int64_t reduty_ms, reduty_met_ms; /**< latest return to duty after allocation; re-allocated */
    char *last_event_id;  /**< provenance of clock-driven alerts: the last event applied, its
                           * topic (last_topic) and … */
    int64_t last_offset;  /**< … offset (its partition is the case's) */
    char *alloc_event_id; /**< the event of first_alloc_ms, its topic and offset: the cause of
                           * a prioritisation alert resolved by it after the fact ([L]) */
    uint32_t alloc_topic;
    int64_t alloc_offset;
    int64_t alloc_clock_ms; /**< its partition's clock when it was applied (what was due by
                             * then had fired before it met it) */
    uint32_t extension_weeks, anomalies;
    cw_child_t *children;
    cw_report_t *reports;
    cw_hearing_t *hearings;
    cw_concern_t *concerns;
    uint16_t nchildren, nreports, nhearings, nconcerns;
} cw_case_t;

/** @brief True when the case is opened and its latest close is later than its latest reopen. */
bool cw_case_closed(const cw_case_t *c);
/** @brief The effective due date of a report (latest extension, else as ordered; 0 = none). */
int64_t cw_report_due_ms(const cw_report_t *r);

/* ---- aggregate deltas --------------------------------------------------------------- */

typedef enum cw_agg_table {
    CW_AGG_COHORT = 1, /**< (area, type, start_day, close_day) → cases, children */
    CW_AGG_LIVE = 2,   /**< (area, type, metric) → value */
    CW_AGG_WORKER = 3, /**< (worker, area) → cases */
    CW_AGG_REPORT = 4, /**< (area, type, kind, filed_day, on_time, extended) → reports */
} cw_agg_table_t;

typedef enum cw_live_metric {
    CW_LIVE_ALLOC_ALLOCATED = 0,
    CW_LIVE_ALLOC_DUTY,
    CW_LIVE_ALLOC_PAH,
    CW_LIVE_ALLOC_HUB,
    CW_LIVE_CHILDREN_ALLOCATED,
    CW_LIVE_CHILDREN_SEEN,
    CW_LIVE_CHILDREN_IN_PERSON,
    CW_LIVE__COUNT
} cw_live_metric_t;

#define CW_DAY_OPEN INT32_MAX /**< close_day of an open case ('infinity') */

typedef struct cw_agg_key {
    uint8_t table;
    uint8_t case_type;
    uint8_t sub;   /**< live metric, or report kind */
    uint8_t flags; /**< report: bit 0 on time, bit 1 extended */
    uint32_t area;
    uint32_t worker;
    int32_t day1; /**< cohort start day, report filed day */
    int32_t day2; /**< cohort close day or CW_DAY_OPEN */
} cw_agg_key_t;

typedef struct cw_agg_entry {
    cw_agg_key_t key;
    int64_t v1; /**< cases / value / reports */
    int64_t v2; /**< children (cohort) */
} cw_agg_entry_t;

/** Net aggregate changes of a batch, one entry per key. */
typedef struct cw_aggdelta cw_aggdelta_t;

cw_aggdelta_t *cw_aggdelta_new(void);
void cw_aggdelta_destroy(cw_aggdelta_t *d);
/** @brief Add (v1, v2) to key's entry. */
void cw_aggdelta_add(cw_aggdelta_t *d, const cw_agg_key_t *key, int64_t v1, int64_t v2);
/** @brief The entries (borrowed until the next add/clear); zero entries are skipped by callers. */
const cw_agg_entry_t *cw_aggdelta_entries(const cw_aggdelta_t *d, size_t *n);
void cw_aggdelta_clear(cw_aggdelta_t *d);

/* ---- the casebook ------------------------------------------------------------------- */

typedef struct cw_casebook cw_casebook_t;

/** An anomaly found while applying an event (kind is a stable snake_case name). */
typedef void (*cw_anomaly_fn)(void *arg, const cw_event_t *ev, const char *kind,
                              const char *detail);

/** Area prioritisation state, kept for every area seen (all partitions). */
/** One prioritisation event of an area: from ms (event time) on, prioritised or not. */
typedef struct cw_prio_change {
    int64_t ms;
    uint64_t hash; /**< the event's (orders equal times, as cw_stamp_t) */
    bool on;
} cw_prio_change_t;

/** The most prioritisation changes an area keeps (the oldest go first beyond it). */
#define CW_PRIO_CHANGES_MAX 256

typedef struct cw_area {
    uint32_t name;
    bool prioritised; /**< the latest change (by event time) */
    cw_stamp_t stamp;
    int64_t since_ms;
    bool dirty;
    /* [L] every change by event time, oldest first: a case's prioritisation rule asks which
     * periods the area was prioritised in, so the order the area's and the case's partitions
     * are applied in does not change the history */
    cw_prio_change_t *changes;
    uint32_t nchanges, capchanges;
} cw_area_t;

/** @brief The court area (interned) a prioritisation event names; 0 for any other event. */
uint32_t cw_casebook_event_area(cw_casebook_t *cb, const cw_event_t *ev);

/** @brief Record a prioritisation change (ignored if already held: same time and hash). */
void cw_area_add_change(cw_area_t *a, int64_t ms, uint64_t hash, bool on);

/** @brief New, empty casebook; free with cw_casebook_destroy(). */
cw_casebook_t *cw_casebook_new(void);
void cw_casebook_destroy(cw_casebook_t *cb);

/** @brief Number of cases held. */
size_t cw_casebook_count(const cw_casebook_t *cb);

/** @brief Intern a string (area, team, worker…); returns its id (> 0). "" and NULL give 0. */
uint32_t cw_casebook_intern(cw_casebook_t *cb, const char *s);
/** @brief The string of an interned id ("" for 0); borrowed for the casebook's lifetime. */
const char *cw_casebook_str(const cw_casebook_t *cb, uint32_t id);

/** @brief Find a case; borrowed, valid until the case is dropped. NULL when absent. */
cw_case_t *cw_casebook_find(const cw_casebook_t *cb, const char *case_id);

/**
 * @brief The cases whose case_id hashes to h (deadline keys are case hashes): call fn for
 * each (almost always one). fn must not add or drop cases.
 */
void cw_casebook_foreach_hash(const cw_casebook_t *cb, uint64_t h,
                              void (*fn)(void *arg, cw_case_t *c), void *arg);
/** @brief Call fn for every case (fn must not add or drop cases). */
void cw_casebook_foreach(const cw_casebook_t *cb, void (*fn)(void *arg, cw_case_t *c), void *arg);
/** @brief An area's state if known, else NULL (does not create). */
const cw_area_t *cw_casebook_area_find(const cw_casebook_t *cb, uint32_t name);

/** @brief FNV-1a 64 of an event id: the stamp tie-break. */
uint64_t cw_casebook_hash(const char *s);

/**
 * @brief Apply one validated, not-duplicate event read from the given partition.
 * @param agg     receives the aggregate changes (may be NULL)
 * @param anomaly called for each anomaly found (may be NULL)
 * @returns the changed case (borrowed), now dirty; NULL for area events.
 */
cw_case_t *cw_casebook_apply(cw_casebook_t *cb, const cw_event_t *ev, int32_t partition,
                             cw_aggdelta_t *agg, cw_anomaly_fn anomaly, void *arg);

/** @brief Record where the last event applied to a case came from (the provenance of alerts
 * the clock raises later); the casebook copies event_id and interns topic. clock_ms: its
 * partition's clock before it (kept for the case's first allocation, see alloc_clock_ms). */
void cw_casebook_set_last_event(cw_casebook_t *cb, cw_case_t *c, const char *event_id,
                                const char *topic, int64_t offset, int64_t clock_ms);

/** @brief Add (sign = +1) or remove (-1) a case's contribution to the aggregates. */
void cw_casebook_contribute(const cw_casebook_t *cb, const cw_case_t *c, int sign,
                            cw_aggdelta_t *agg);

/**
 * @brief Serialise a case's state (protobuf CaseState). Returns a malloc'd buffer the caller
 * frees, its length in *len.
 */
uint8_t *cw_casebook_pack(const cw_casebook_t *cb, const cw_case_t *c, size_t *len);

/**
 * @brief Insert a case from its serialised state (not dirty). Replaces an existing entry.
 * @returns the case, or NULL if the bytes do not decode.
 */
cw_case_t *cw_casebook_load(cw_casebook_t *cb, const char *case_id, int32_t partition,
                            const uint8_t *state, size_t len);

/** @brief The cases changed since cw_casebook_clear_dirty(); borrowed array of n. */
cw_case_t *const *cw_casebook_dirty(const cw_casebook_t *cb, size_t *n);
/** @brief Forget the dirty marks (after a commit). */
void cw_casebook_clear_dirty(cw_casebook_t *cb);

/** @brief Drop every case owned by one of the n partitions. */
void cw_casebook_drop_partitions(cw_casebook_t *cb, const int32_t *parts, int n);
/** @brief Drop every case and every area (both are reloaded from the store). */
void cw_casebook_clear(cw_casebook_t *cb);

/** @brief Area state by interned name, created on first use. */
cw_area_t *cw_casebook_area(cw_casebook_t *cb, uint32_t name);
/** @brief Areas changed since the last cw_casebook_clear_dirty_areas(); borrowed. */
cw_area_t *const *cw_casebook_dirty_areas(const cw_casebook_t *cb, size_t *n);
void cw_casebook_clear_dirty_areas(cw_casebook_t *cb);
/** @brief Every area known, for iteration (borrowed). */
cw_area_t *const *cw_casebook_areas(const cw_casebook_t *cb, size_t *n);

/** @brief Stable names used in SQL and reports. */
const char *cw_case_type_name(int case_type);      /**< "PUBLIC_LAW_S31_CARE" …, "" for 0 */
const char *cw_alloc_name(int alloc);              /**< "awaiting", "allocated", … */
const char *cw_live_metric_name(int metric);       /**< "alloc_allocated", … */
const char *cw_report_kind_name(int kind);         /**< "S7_REPORT", … */

#endif
