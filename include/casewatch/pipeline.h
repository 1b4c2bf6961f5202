/*
 * pipeline.h — casewatchd's ingest: consumer → decode/validate → batch → one PostgreSQL
 * transaction → outputs. Wires the consumer, the store, the publisher and the casebook.
 *
 * Guarantees (see README "Reliability"):
 *  - each batch is ONE transaction writing event_log rows (the event_id primary key makes a
 *    duplicate a no-op), the changed cases, dead letters and the next offset of every
 *    partition it read, advanced only from the value this daemon last read (fence);
 *  - on assignment, state and offsets are loaded from PostgreSQL before consumption starts;
 *  - any failed transaction or lost connection discards the uncommitted batches, reloads
 *    state and rewinds the consumer to the stored offsets once the database is back;
 *  - dead letters are published to their topic only after commit, and marked sent on the
 *    delivery report (re-sent after a restart if the mark was not stored).
 */
#ifndef CASEWATCH_PIPELINE_H
#define CASEWATCH_PIPELINE_H

#include "casewatch/common.h"
#include "casewatch/config.h"
#include "casewatch/event.h"
#include "casewatch/metrics.h"
#include "casewatch/rules.h"
#include "casewatch/alerts.h"

#include <json-c/json.h>

#include <event2/event.h>

typedef struct cw_pipeline cw_pipeline_t;

#define CW_PIPELINE_MAX_KINDS 64

/** Counters since start; read-only for the caller. */
/** Prune kinds counted in cw_pipeline_stats_t (CW_PRUNE__COUNT of retention.h). */
#define CW_PIPELINE_PRUNE_KINDS 6

typedef struct cw_pipeline_stats {
    uint64_t consumed;        /**< messages read from Kafka and accepted into a batch */
    uint64_t applied;         /**< new events committed */
    uint64_t duplicates;      /**< events whose event_id was already applied */
    uint64_t dead_letters;    /**< messages rejected and committed as dead letters */
    uint64_t dead_by_reason[CW_REJECT__COUNT];
    uint64_t applied_by_kind[CW_PIPELINE_MAX_KINDS];
    uint64_t batches;         /**< transactions committed */
    uint64_t commit_failures; /**< transactions that failed (followed by a resync) */
    uint64_t fenced;          /**< of which: offsets moved by another owner */
    uint64_t resyncs;         /**< state reloads and consumer rewinds */
    uint64_t stale_skipped;   /**< messages below the position already consumed */
    uint64_t merge_out_of_order; /**< messages read after another lane went past their time */
    uint64_t offset_resets;   /**< partitions restarted because their offset left the log */
    uint64_t offset_gap_messages; /**< messages deleted before they were read ([N]) */
    int64_t offset_gaps_open; /**< offset gaps not yet acknowledged (offset_gaps rows) */
    uint64_t dl_published;    /**< dead letters confirmed on the dead-letter topic */
    uint64_t anomalies;       /**< impossible transitions recorded */
    uint64_t snapshots;       /**< metric snapshots published */
    uint64_t alert_transitions; /**< alert lifecycle changes committed */
    uint64_t alerts_published;  /**< alert notifications confirmed on the alerts topic */
    uint64_t alerts_historic;   /**< of the notifications committed: history found after the
                                 * fact (fired and ended within one batch or catch-up) */
    uint64_t pruned[CW_PIPELINE_PRUNE_KINDS]; /**< rows the retention prune removed, per
                                               * cw_prune_kind_t ([I]) */
    uint64_t prune_rounds;    /**< prune rounds run */
    int64_t last_commit_ms;   /**< duration of the last commit (both round trips) */
    cw_histo_t batch_events;  /**< messages per committed batch */
    cw_histo_t commit_seconds; /**< commit duration (both round trips) */
    size_t cases_in_memory;
    int partitions_owned;
    bool partition_mismatch; /**< input topics' partition counts disagree: not consuming */
    bool rules_mismatch;     /**< our rule set is not the group's: evaluating no rules */
    bool group_refused;      /**< another consumer group owns the database */
} cw_pipeline_stats_t;

/**
 * @brief Create the pipeline: connects to PostgreSQL (migrating it) and joins the group.
 * @param cfg borrowed; must outlive the pipeline
 * @returns the pipeline or NULL with errstr (bad Kafka settings). Transient faults (database
 *          or broker down) are not errors: they are retried for ever.
 */
cw_pipeline_t *cw_pipeline_new(struct event_base *base, const cw_config_t *cfg, char *errstr,
                               size_t errsz);

/**
 * @brief Stop gracefully: stop consuming, commit what is batched if the database is up (or
 * drop it: it was not stored, so it is read again next time), leave the group, flush outputs;
 * then call on_stopped (once).
 */
void cw_pipeline_stop(cw_pipeline_t *p, void (*on_stopped)(void *arg), void *arg);

/**
 * @brief Before the loop runs: drop another consumer group's claim on the database (the
 * operator says it is gone for good) instead of refusing to start.
 */
void cw_pipeline_set_take_over(cw_pipeline_t *p, bool take_over);

/**
 * @brief Why this member is not doing its whole job, for /readyz (borrowed; NULL = nothing):
 * fatal, input topics not co-partitioned, or a rule set that is not the group's.
 */
const char *cw_pipeline_unready(const cw_pipeline_t *p);

/** @brief Non-NULL when the pipeline cannot continue (schema newer than the binary). */
const char *cw_pipeline_fatal(const cw_pipeline_t *p);

/** @brief Current counters (borrowed). */
const cw_pipeline_stats_t *cw_pipeline_stats(cw_pipeline_t *p);

/** @brief Apply a reloadable config change (batch sizes, log level); cfg borrowed. */
void cw_pipeline_reconfigure(cw_pipeline_t *p, const cw_config_t *cfg);

/**
 * @brief Reload the alert rules from cfg's file ([rule.*], [rules]) and re-evaluate every
 * case under them. Alerts already firing whose rule still holds stay as they are (same
 * occurrence, same id: nothing is announced again); alerts of a disabled rule resolve as
 * rule_removed. On an invalid file the old rules stay and errstr says why.
 */
CW_WUR cw_err_t cw_pipeline_reload_rules(cw_pipeline_t *p, char *errstr, size_t errsz);

/* ---- for the admin API (all on the loop thread) ---------------------------------------- */

/** Called with each alert notification (JSON text, borrowed) once its batch committed. */
typedef void (*cw_pipeline_alert_fn)(void *arg, const char *json);
void cw_pipeline_set_alert_hook(cw_pipeline_t *p, cw_pipeline_alert_fn fn, void *arg);
/** @brief The alert clock: wall time, or the event clock. */
int64_t cw_pipeline_now(const cw_pipeline_t *p);
/** @brief True when the ingest's PostgreSQL connection is ready. */
bool cw_pipeline_db_ready(const cw_pipeline_t *p);
const cw_rules_t *cw_pipeline_rules(const cw_pipeline_t *p);
const cw_alerts_t *cw_pipeline_alerts(const cw_pipeline_t *p);
const cw_workdays_t *cw_pipeline_workdays(const cw_pipeline_t *p);
/** @brief Owned partitions into out (up to max; borrowed strings); returns how many are owned. */
int cw_pipeline_partitions(const cw_pipeline_t *p, cw_metrics_part_t *out, int max);
/** @brief Producer queue length; *unconfirmed = committed outputs awaiting delivery. */
int64_t cw_pipeline_outputs(const cw_pipeline_t *p, int64_t *unconfirmed);
/** @brief An operator (un)acknowledged an alert (already stored): take it into memory now. */
void cw_pipeline_acknowledged(cw_pipeline_t *p, const char *dedup_key, bool ack);
/** @brief Read acknowledgements and silences back from PostgreSQL at the next occasion. */
void cw_pipeline_refresh_soon(cw_pipeline_t *p);
/**
 * @brief A case held in memory as JSON: identifiers, its state (CaseState), open deadlines
 * and its alerts. NULL when this daemon does not hold it (another owns its partition).
 */
json_object *cw_pipeline_case_json(cw_pipeline_t *p, const char *case_id);

/** @brief Free everything (after stop, or at once on a hard exit path). */
/** @brief [N] The operator acknowledged offset gaps: still_open remain unacknowledged. */
void cw_pipeline_gaps_acknowledged(cw_pipeline_t *p, int64_t still_open);

void cw_pipeline_destroy(cw_pipeline_t *p);

#endif
