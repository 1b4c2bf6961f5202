/*
 * alerts.h — the alert lifecycle, Alertmanager-like: an obligation nearing its due time is
 * PENDING, past it unmet is FIRING, and met (on time or late), no longer applicable, or its
 * case closed, it is RESOLVED. Pure: the caller passes "now" (wall or event clock), which
 * decides what is due; each transition is stamped with when it happened — the event that
 * caused it, or the clock (see cw_alerts_evaluate_event()).
 *
 * Only alerts that are pending or firing live here (resolved ones are handed back once, in a
 * transition, for the store). Transitions that notify (→ firing, firing → resolved, repeats
 * of unacknowledged critical alerts) carry a deterministic alert_id so consumers can
 * de-duplicate re-sends; a matching silence marks them silenced (recorded, not published).
 * Their JSON presentation is alertjson.h's.
 */
#ifndef CASEWATCH_ALERTS_H
#define CASEWATCH_ALERTS_H

#include "casewatch/rules.h"

enum { CW_ALERT_PENDING = 1, CW_ALERT_FIRING = 2, CW_ALERT_RESOLVED = 3 };
enum {
    CW_RES_NONE = 0,
    CW_RES_MET = 1,
    CW_RES_MET_LATE = 2,
    CW_RES_CASE_CLOSED = 3,
    CW_RES_CONDITION_CLEARED = 4,
    CW_RES_NO_LONGER_APPLIES = 5,
    CW_RES_RULE_REMOVED = 6,
};

/** The event that caused a change (provenance). */
typedef struct cw_cause {
    const char *event_id; /**< borrowed during the call */
    const char *topic;
    int32_t partition;
    int64_t offset;
} cw_cause_t; /* its occurred_at goes beside it: cw_alerts_evaluate_event() */

typedef struct cw_alert {
    char *dedup_key; /**< "rule|scope|subject" (scope: cw_alerts_scope(); subject "" for
                      * area and worker alerts) */
    uint64_t hash;
    uint8_t rule, state, resolution, severity, case_type;
    bool acknowledged, silenced;
    char *case_id, *subject, *area, *worker; /**< "" when not applicable */
    int32_t partition;                       /**< owning partition (case alerts), -1 else */
    int64_t armed_ms, due_ms, pending_ms, firing_ms, resolved_ms, notified_ms;
    uint64_t origin; /**< hash of the event that began this occurrence (0 = none) */
    uint32_t notify_count, rule_version;
    double value, threshold;
    char *cause_event_id, *cause_topic;
    int32_t cause_partition;
    int64_t cause_offset;
    uint8_t close_outcome; /**< CloseOutcome of the closing that resolved it (0 = not resolved
                            * by a closing) */
} cw_alert_t;

/** A lifecycle change; alert is a snapshot copy owned by the transition list. */
typedef struct cw_transition {
    cw_alert_t alert;  /**< the alert after the change (strings owned by the list) */
    uint8_t from;      /**< 0 = new */
    bool notify;       /**< publish it (unless alert.silenced) */
    bool repeat;       /**< a repeat notification */
    bool historic;     /**< found after the fact (fired and ended in one evaluation: met late,
                        * closed, or met by a late event): published as history, never paged */
    int64_t at;        /**< when the change happened: the causing event's time or the
                        * clock's (cw_alerts_evaluate_event()) */
    char alert_id[24]; /**< deterministic: same alert, same transition → same id */
} cw_transition_t;

typedef struct cw_silence {
    int64_t id;
    char *rule;    /**< NULL/"" = any */
    char *area;    /**< NULL/"" = any */
    char *case_id; /**< NULL/"" = any */
    int min_severity; /**< 0 = any */
    int64_t starts_ms, ends_ms;
} cw_silence_t;

typedef struct cw_alerts cw_alerts_t;

/**
 * @brief The scope an alert belongs to, the one place its text is made: the case id for a
 * case alert, else "worker:W" for a worker's, else "area:A" for an area's. It indexes the
 * active alerts, is the middle of the dedup key, the scope cw_alerts_evaluate_scope() takes,
 * and the key alerts are published under (one scope, one Kafka partition, in order).
 * @param buf receives "worker:W" or "area:A" (cut short if sz is too small: give it at least
 * 8 + CW_EVENT_ID_MAX + 1 bytes); untouched for a case alert
 * @param case_id NULL or "" for an area or worker alert; borrowed
 * @param area NULL is ""; borrowed
 * @param worker NULL or "" for an area alert; borrowed
 * @returns case_id itself for a case alert, else buf.
 */
const char *cw_alerts_scope(char *buf, size_t sz, const char *case_id, const char *area,
                            const char *worker);

/** @brief An alert's scope (cw_alerts_scope() of its case, area and worker): also its Kafka
 * message key. */
const char *cw_alert_scope(const cw_alert_t *x, char *buf, size_t sz);

cw_alerts_t *cw_alerts_new(void);
void cw_alerts_destroy(cw_alerts_t *a);

/**
 * @brief Re-evaluate one case at now: its obligations against its active alerts. What is due
 * is decided by now (the clock) alone; when each transition happened (cw_transition_t.at):
 *  - met / met_late: when the obligation was met (the meeting event's occurred_at); met_late
 *    when that is after the due time, whatever the alert's state (a pending alert met late,
 *    because the clock had not reached the due time yet, resolves met_late, not announced);
 *  - case_closed, and met / met_late of a rule closing meets (cw_rules_met_by_close()): the
 *    close's occurred_at, with the close outcome in close_outcome;
 *  - any other transition caused by the event being applied (occurred_ms given): occurred_ms,
 *    if the threshold it crossed (pending or due time) had passed when the event occurred;
 *    a due time that passed after the event is the clock's doing and stamped now. Resolutions
 *    the event caused (a moved deadline, a reclassification) are stamped occurred_ms;
 *  - a clock tick (no event, or occurred_ms 0): now. Repeats are always the clock's.
 * pending_ms is the time of the pending transition; resolved_ms of the resolving one.
 * @param cause the event being applied (NULL for a clock tick); borrowed during the call
 * @param occurred_ms the event's occurred_at (0 = unknown: as a clock tick)
 * @returns the next time this case needs evaluating (INT64_MAX: none).
 */
int64_t cw_alerts_evaluate_event(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                 const cw_case_t *c, const cw_workdays_t *wd,
                                 cw_area_prioritised_fn prio, void *arg, int64_t now,
                                 const cw_cause_t *cause, int64_t occurred_ms);

/** How one evaluation of a case sees time ([L]: the history is a function of the events). */
typedef struct cw_eval_time {
    int64_t now;         /**< the case's partition clock: decides what is due */
    int64_t occurred_ms; /**< the event being applied (0 = a clock evaluation) */
    int64_t seen_ms;     /**< that event's topic-partition stream time before it, less the
                          * allowed lateness (0 = none); carried for the late-event rule of
                          * [L], which is not applied yet (see README "Known limits of [L]") */
    bool live;           /**< the partition is caught up: reminders may be sent */
    bool after_fact;     /**< the event (occurred_ms) brings facts about time its case's
                          * partition may be past (an area's prioritisation period begins):
                          * an obligation it began (begun_ms == occurred_ms) that is found
                          * met late with no alert fires at its due time and resolves
                          * met_late at the meeting (caused by its event), as history */
} cw_eval_time_t;

/**
 * @brief cw_alerts_evaluate_event() with the whole time picture: now is the case's
 * partition clock, live says whether reminders may go out. Firing is stamped max(due, armed),
 * pending max(pending, armed), with no cause event (the clock did it); met/met_late at the
 * meeting event; closing at the close. A pending alert met after its due time resolves
 * met_late unannounced (recording its firing after the fact is open: [L]).
 */
int64_t cw_alerts_evaluate_timed(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                 const cw_case_t *c, const cw_workdays_t *wd,
                                 cw_area_prioritised_fn prio, void *arg, const cw_eval_time_t *t,
                                 const cw_cause_t *cause);

/** @brief cw_alerts_evaluate_event() without the event's time (a clock tick, or unknown). */
int64_t cw_alerts_evaluate_case(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                const cw_case_t *c, const cw_workdays_t *wd,
                                cw_area_prioritised_fn prio, void *arg, int64_t now,
                                const cw_cause_t *cause);

/**
 * @brief Evaluate the obligations of a non-case scope ("area:A" or "worker:W"): condition
 * rules. Each obligation present means its condition holds (armed_ms 0 = since now, or since
 * the existing alert was armed; due_ms < 0 = the condition must hold -due_ms ms, else due at
 * once); active alerts of the scope without one are resolved as condition cleared.
 * The alert is PENDING from the first evaluation that sees its condition hold (lead_days does
 * not apply): that pending alert is what remembers when the condition began, so a condition
 * that must hold 4 weeks fires 4 weeks after it began however often it is evaluated, and,
 * its row stored (cw_alerts_transition_stored()) and loaded back (cw_alerts_load()), across
 * a restart. Transitions are stamped now.
 * @returns the next time the scope needs evaluating.
 */
int64_t cw_alerts_evaluate_scope(cw_alerts_t *a, const cw_rules_t *r, const char *scope,
                                 const char *area, const char *worker,
                                 const cw_obligation_t *obl, size_t n, int64_t now);

/** @brief Insert an alert read from the store (active ones only). Takes a copy. */
void cw_alerts_load(cw_alerts_t *a, const cw_alert_t *alert);
/** @brief Drop the active alerts of cases owned by these partitions (revoke). */
void cw_alerts_drop_partitions(cw_alerts_t *a, const int32_t *parts, int n);
void cw_alerts_clear(cw_alerts_t *a);

/** @brief Mark acknowledged (from the store / API); false if no such active alert. */
bool cw_alerts_acknowledge(cw_alerts_t *a, const char *dedup_key, bool ack);
/**
 * @brief The same, only if the active alert is still the occurrence the store's row describes
 * (pending_ms and origin equal): a row read while a batch committed a newer occurrence of the
 * alert must not acknowledge that one. False if it is not.
 */
bool cw_alerts_acknowledge_occurrence(cw_alerts_t *a, const char *dedup_key, int64_t pending_ms,
                                      uint64_t origin, bool ack);
/**
 * @brief Silences are operators muting notifications *now*: they are matched against wall
 * time, which the caller sets here before evaluating (0 = use the evaluation clock, as a
 * replay with no silences does).
 */
void cw_alerts_set_silence_clock(cw_alerts_t *a, int64_t wall_ms);
/** @brief Replace the silences (copied). */
void cw_alerts_set_silences(cw_alerts_t *a, const cw_silence_t *s, size_t n);

/** @brief Call fn for every active alert (fn must not change the engine). */
void cw_alerts_foreach(const cw_alerts_t *a, void (*fn)(void *arg, const cw_alert_t *x),
                       void *arg);

/** @brief Active alert by key (borrowed) or NULL. */
cw_alert_t *cw_alerts_find(const cw_alerts_t *a, const char *dedup_key);
/** @brief Number of active (pending or firing) alerts. */
size_t cw_alerts_count(const cw_alerts_t *a, int state);

/**
 * @brief Whether the store must keep a row for this transition: whatever fired or was
 * announced; and every transition of an area or worker alert, pending included, since its
 * pending row is the only record of when its condition began to hold (a case alert's pending
 * state is rebuilt from case state at every load).
 */
bool cw_alerts_transition_stored(const cw_transition_t *t);

/** @brief Transitions since the last clear (borrowed). */
const cw_transition_t *cw_alerts_transitions(const cw_alerts_t *a, size_t *n);
void cw_alerts_clear_transitions(cw_alerts_t *a);

/** @brief One readable line for a transition (identifiers only): for logs and the console. */
void cw_alerts_format(const cw_transition_t *t, const cw_rules_t *r, char *buf, size_t bufsz);

const char *cw_alert_state_name(int s);

const char *cw_resolution_name(int r);
/** @brief events.proto CloseOutcome as a stable lower-case name ("withdrawn"); "" for 0 or
 * an unknown value. */
const char *cw_close_outcome_name(int outcome);

#endif
