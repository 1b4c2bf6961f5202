/*
 * metrics.h — the Prometheus text exposition format (version 0.0.4), and histograms.
 *
 * Pure: casewatchd's admin API gathers a cw_metrics_in_t snapshot from the pipeline and the
 * daemon, and cw_metrics_render() turns it into text; nothing here does I/O.
 */
#ifndef CASEWATCH_METRICS_H
#define CASEWATCH_METRICS_H

#include "casewatch/common.h"

#define CW_HISTO_MAX 16

/** A cumulative histogram over fixed upper bounds (the +Inf bucket is implicit). */
typedef struct cw_histo {
    const double *bounds; /**< ascending, static */
    int nbounds;
    uint64_t counts[CW_HISTO_MAX]; /**< per bucket, not cumulative; [nbounds] = +Inf */
    uint64_t count;
    double sum;
} cw_histo_t;

/** @brief Start empty with nbounds (≤ CW_HISTO_MAX - 1) static upper bounds. */
void cw_histo_init(cw_histo_t *h, const double *bounds, int nbounds);
/** @brief Record one observation. */
void cw_histo_observe(cw_histo_t *h, double v);

/** A text being written in the exposition format. */
typedef struct cw_prom {
    char *buf;
    size_t len, cap;
} cw_prom_t;

void cw_prom_init(cw_prom_t *p);
/** @brief "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void cw_prom_family(cw_prom_t *p, const char *name, const char *type, const char *help);
/**
 * @brief One sample: name{k1="v1",…} value. labels holds nlabels name/value pairs; values
 * are escaped (backslash, double quote, newline).
 */
void cw_prom_sample(cw_prom_t *p, const char *name, const char *const *labels, int nlabels,
                    double value);
/** @brief A histogram's _bucket (cumulative, le="…" and "+Inf"), _sum and _count. */
void cw_prom_histo(cw_prom_t *p, const char *name, const cw_histo_t *h);
/** @brief The text (NUL-terminated; caller frees); the writer is reset. */
char *cw_prom_finish(cw_prom_t *p, size_t *len);

/** One partition as seen by this daemon. */
typedef struct cw_metrics_part {
    const char *topic;
    int32_t partition;
    int64_t committed; /**< next offset stored in PostgreSQL */
    int64_t high;      /**< log end from librdkafka statistics (-1 = not known yet) */
} cw_metrics_part_t;

/** Alerts currently held, by rule, severity and state. */
typedef struct cw_metrics_alerts {
    const char *rule, *family, *severity, *state;
    uint64_t count;
} cw_metrics_alerts_t;

/** Everything /metrics shows, gathered at one moment (all borrowed). */
typedef struct cw_metrics_in {
    /* ingest */
    uint64_t consumed, applied, duplicates, stale_skipped, dead_letters, merge_out_of_order;
    bool ready; /* what GET /readyz answers */
    const uint64_t *dead_by_reason; /**< indexed by cw_reject_t */
    const char *const *reason_names;
    int nreasons;
    const uint64_t *applied_by_kind;
    const char *const *kind_names; /**< NULL entries are skipped */
    int nkinds;
    uint64_t batches, commit_failures, fenced, resyncs, offset_resets, anomalies;
    uint64_t offset_gap_messages; /**< messages Kafka deleted before they were read ([N]) */
    int64_t offset_gaps_open;     /**< offset gaps not acknowledged */
    bool partition_mismatch; /**< input topics not co-partitioned: not consuming */
    bool rules_mismatch;     /**< this member's rule set is not its group's */
    const cw_histo_t *batch_events;
    const cw_histo_t *commit_seconds;
    /* partitions */
    const cw_metrics_part_t *parts;
    int nparts;
    /* alerts */
    const cw_metrics_alerts_t *alerts;
    int nalerts;
    uint64_t alert_transitions, alerts_published;
    uint64_t alerts_historic; /**< notifications that were history found after the fact */
    const uint64_t *pruned;     /**< rows the retention prune removed, per prune kind ([I]) */
    const char *const *prune_names; /**< the kinds' table names (label), npruned of them */
    int npruned;
    /* outputs */
    int64_t publisher_queue;     /**< messages in librdkafka's producer queue */
    int64_t outputs_unconfirmed; /**< committed alerts/dead letters awaiting delivery */
    uint64_t dl_published, snapshots;
    /* process */
    uint64_t reloads_ok, reloads_failed;
    int64_t last_reload_ms; /**< wall time of the last successful reload, 0 = none */
    bool db_up;
    int64_t cases_in_memory;
    int64_t start_ms;
    int64_t clock_ms; /**< the alert clock (wall or event) */
    int64_t sse_clients;
    const char *version;
} cw_metrics_in_t;

/** @brief Render every metric; caller frees the text. */
char *cw_metrics_render(const cw_metrics_in_t *in, size_t *len);

#endif
