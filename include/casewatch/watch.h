/*
 * watch.h — the watching core shared by casewatchd and casewatch-dryrun: evaluate a case's
 * alerts when an event changes it, and fire deadlines as the clock passes them. Pure: the
 * caller owns the clock (wall time, or the event-time watermark) and every object here.
 */
#ifndef CASEWATCH_WATCH_H
#define CASEWATCH_WATCH_H

#include "casewatch/alerts.h"
#include "casewatch/deadlines.h"

/**
 * Per-partition time ([L]): each partition has its own clock (the event time its input
 * topic-partitions have all reached, less the lateness; or the wall clock) and its own
 * deadline heap, so a case's deadlines fire when ITS partition's time passes them, interleaved
 * with its events, whatever the batching.
 */
typedef struct cw_watch_time {
    /** the deadline heap of a partition (never NULL) */
    cw_deadlines_t *(*heap)(void *arg, int32_t partition);
    /** fill now and live for a case of this partition (occurred_ms and seen_ms left 0) */
    void (*clock)(void *arg, int32_t partition, cw_eval_time_t *out);
    void *arg;
} cw_watch_time_t;

/** Everything evaluation needs; all borrowed. */
typedef struct cw_watch {
    cw_casebook_t *book;
    const cw_rules_t *rules;
    cw_alerts_t *alerts;
    cw_deadlines_t *deadlines;  /**< the one heap, when time is NULL */
    const cw_workdays_t *wd;
    const cw_watch_time_t *time; /**< per-partition time, or NULL: one clock ("now") */
} cw_watch_t;

/** @brief An area's prioritisation changes, from the casebook's area table (arg = casebook). */
const cw_prio_change_t *cw_watch_area_prioritised(void *book, uint32_t area, uint32_t *n);

/** @brief Evaluate the case(s) under a deadline key (a case hash) at now; reschedule it. */
void cw_watch_evaluate(const cw_watch_t *w, uint64_t key, int64_t now, const cw_cause_t *cause);

/**
 * @brief The same, right after applying the event cause describes, which occurred at
 * occurred_ms: the transitions it caused are stamped with its time (see
 * cw_alerts_evaluate_event()); 0 = unknown, as cw_watch_evaluate().
 */
void cw_watch_evaluate_event(const cw_watch_t *w, uint64_t key, int64_t now,
                             const cw_cause_t *cause, int64_t occurred_ms);

/**
 * @brief Right after applying an event to the case(s) under key: evaluate them with t (the
 * partition's clock, the event's time, its topic-partition's stream time less the lateness:
 * see cw_eval_time_t) and reschedule in the partition's heap.
 */
void cw_watch_evaluate_timed(const cw_watch_t *w, uint64_t key, const cw_eval_time_t *t,
                             const cw_cause_t *cause);

/**
 * @brief With per-partition time: fire every deadline of one partition's heap due at or before
 * its clock (at most max); returns how many.
 */
size_t cw_watch_tick_partition(const cw_watch_t *w, int32_t partition, size_t max);

/** @brief Evaluate every case (after a load, or when an area's prioritisation changed). With
 * per-partition time, each at its partition's clock (now is then ignored). */
void cw_watch_evaluate_all(const cw_watch_t *w, int64_t now);

/** @brief An area's prioritisation changed (cause, occurred at occurred_ms): evaluate its
 * cases, each at its partition's clock, as an evaluation after the fact ([L]: an allocation
 * that came late for the new period is recorded as its firing and met_late). */
void cw_watch_evaluate_area(const cw_watch_t *w, uint32_t area, const cw_cause_t *cause,
                            int64_t occurred_ms);

/** @brief Fire every deadline due at or before now (at most max); returns how many. */
size_t cw_watch_tick(const cw_watch_t *w, int64_t now, size_t max);

/**
 * @brief The event clock: time is the highest occurred_at applied, less the allowed lateness,
 * so an event up to that late is still applied before the deadlines it could meet fire.
 */
int64_t cw_watch_event_clock(int64_t watermark, int64_t lateness_ms);

#endif
