/*
 * retention.h — what casewatch deletes, and when ([I]): the prune statements over the
 * tables that would otherwise grow forever, run in small batches on the housekeeping
 * connection. Owns nothing between calls.
 */
#ifndef CASEWATCH_RETENTION_H
#define CASEWATCH_RETENTION_H

#include "casewatch/config.h"
#include "casewatch/store.h"

/** What one prune deletes: the tables in the order they are pruned. */
typedef enum cw_prune_kind {
    CW_PRUNE_OUTBOX_SENT = 0, /**< alert notifications delivered (or silenced) */
    CW_PRUNE_HISTORY,         /**< alert_history transitions */
    CW_PRUNE_ALERTS_RESOLVED, /**< resolved alert state rows */
    CW_PRUNE_ANOMALIES,       /**< anomalies */
    CW_PRUNE_DL_PAYLOADS,     /**< dead letters' payloads and keys (the row stays) */
    CW_PRUNE_DEAD_LETTERS,    /**< published dead letters, whole */
    CW_PRUNE__COUNT
} cw_prune_kind_t;

/** @brief The stable name of a prune kind (metric label, log). */
const char *cw_prune_name(cw_prune_kind_t k);

/** Rows one prune statement touched, per kind (-1: not run). */
typedef struct cw_prune_counts {
    long long n[CW_PRUNE__COUNT];
} cw_prune_counts_t;

/**
 * @brief Add one prune round to job: for every kind whose retention is on (days > 0), one
 * statement touching at most cfg->retention_batch rows, oldest first. Record-keeping rows
 * (outbox, dead letters) are judged by the wall clock (PostgreSQL's now()); the records of
 * what happened (history, resolved alerts, anomalies) by clock_ms, the daemon's clock, so a
 * replay on the event clock keeps what production would.
 * @param counts receives the rows each statement touched (filled as results arrive; set to -1
 *        here for kinds not run); must outlive the job
 * @returns the number of statements added (0: retention is off everywhere).
 */
int cw_retention_add(cw_store_job_t *job, const cw_config_t *cfg, int64_t clock_ms,
                     cw_prune_counts_t *counts);

#endif
