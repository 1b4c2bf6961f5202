/*
 * metrics.c — Prometheus text exposition and histograms (pure; see metrics.h).
 */
#include "casewatch/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cw_histo_init(cw_histo_t *h, const double *bounds, int nbounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nbounds = nbounds < CW_HISTO_MAX - 1 ? nbounds : CW_HISTO_MAX - 1;
}

void cw_histo_observe(cw_histo_t *h, double v)
{
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void cw_prom_init(cw_prom_t *p)
{
    p->cap = 4096;
    p->len = 0;
    p->buf = cw_malloc(p->cap);
    p->buf[0] = '\0';
}

CW_PRINTF(2, 3)
static void put(cw_prom_t *p, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < p->cap - p->len) {
            p->len += (size_t)n;
            return;
        }
        p->cap = 2 * p->cap + (size_t)n;
        p->buf = cw_realloc(p->buf, p->cap);
    }
}

void cw_prom_family(cw_prom_t *p, const char *name, const char *type, const char *help)
{
    put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_value(cw_prom_t *p, double v)
{
    if (isnan(v))
        put(p, "NaN\n");
    else if (isinf(v))
        put(p, "%s\n", v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        put(p, "%lld\n", (long long)v);
    else
        put(p, "%.17g\n", v);
}

static void put_escaped(cw_prom_t *p, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(p, "\\\\");
        else if (*s == '"')
            put(p, "\\\"");
        else if (*s == '\n')
            put(p, "\\n");
        else
            put(p, "%c", *s);
    }
}

static void put_labels(cw_prom_t *p, const char *const *labels, int nlabels, const char *le)
{
    if (!nlabels && !le)
        return;
    put(p, "{");
    for (int i = 0; i < nlabels; i++) {
        put(p, "%s%s=\"", i ? "," : "", labels[2 * i]);
        put_escaped(p, labels[2 * i + 1] ? labels[2 * i + 1] : "");
        put(p, "\"");
    }
    if (le)
        put(p, "%sle=\"%s\"", nlabels ? "," : "", le);
    put(p, "}");
}

void cw_prom_sample(cw_prom_t *p, const char *name, const char *const *labels, int nlabels,
                    double value)
{
    put(p, "%s", name);
    put_labels(p, labels, nlabels, NULL);
    put(p, " ");
    put_value(p, value);
}

void cw_prom_histo(cw_prom_t *p, const char *name, const cw_histo_t *h)
{
    uint64_t cum = 0;
    for (int i = 0; i <= h->nbounds; i++) {
        char le[32];
        cum += h->counts[i];
        if (i < h->nbounds)
            snprintf(le, sizeof(le), "%g", h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        put(p, "%s_bucket", name);
        put_labels(p, NULL, 0, le);
        put(p, " %llu\n", (unsigned long long)cum);
    }
    put(p, "%s_sum ", name);
    put_value(p, h->sum);
    put(p, "%s_count %llu\n", name, (unsigned long long)h->count);
}

char *cw_prom_finish(cw_prom_t *p, size_t *len)
{
    char *s = p->buf;
    if (len)
        *len = p->len;
    p->buf = NULL;
    p->len = p->cap = 0;
    return s;
}

/* a counter or gauge family with one unlabelled sample */
static void one(cw_prom_t *p, const char *name, const char *type, const char *help, double v)
{
    cw_prom_family(p, name, type, help);
    cw_prom_sample(p, name, NULL, 0, v);
}

char *cw_metrics_render(const cw_metrics_in_t *in, size_t *len)
{
    cw_prom_t p;
    cw_prom_init(&p);
    const char *lb[8];

    cw_prom_family(&p, "casewatch_build_info", "gauge", "Version of this casewatchd.");
    lb[0] = "version", lb[1] = in->version ? in->version : "";
    cw_prom_sample(&p, "casewatch_build_info", lb, 1, 1);
    one(&p, "casewatch_start_time_seconds", "gauge", "When this casewatchd started (Unix time).",
        (double)in->start_ms / 1000.0);
    one(&p, "casewatch_clock_seconds", "gauge",
        "The alert clock: wall time, or the event clock when [daemon] clock = event.",
        (double)in->clock_ms / 1000.0);
    one(&p, "casewatch_postgres_up", "gauge", "1 when the PostgreSQL connection is ready.",
        in->db_up ? 1 : 0);

    one(&p, "casewatch_messages_consumed_total", "counter",
        "Messages read from Kafka and accepted into a batch.", (double)in->consumed);
    cw_prom_family(&p, "casewatch_events_applied_total", "counter",
                   "New events committed to PostgreSQL, by kind.");
    for (int k = 0; k < in->nkinds; k++) {
        if (!in->kind_names[k] || !in->applied_by_kind[k])
            continue;
        lb[0] = "kind", lb[1] = in->kind_names[k];
        cw_prom_sample(&p, "casewatch_events_applied_total", lb, 1, (double)in->applied_by_kind[k]);
    }
    one(&p, "casewatch_events_duplicate_total", "counter",
        "Events whose event_id was already applied (no effect).", (double)in->duplicates);
    one(&p, "casewatch_messages_stale_total", "counter",
        "Messages below the position already consumed (re-deliveries, skipped).",
        (double)in->stale_skipped);
    one(&p, "casewatch_ready", "gauge",
        "1 when GET /readyz answers ready (PostgreSQL up, partitions owned and loaded, lag "
        "within [admin] ready_max_lag), else 0.",
        in->ready ? 1.0 : 0.0);
    one(&p, "casewatch_merge_out_of_order_total", "counter",
        "Messages read after another lane of their partition had gone past their occurred_at "
        "(a lane taken as at its end was not: skew beyond [daemon] merge_idle_ms).",
        (double)in->merge_out_of_order);
    cw_prom_family(&p, "casewatch_dead_letters_total", "counter",
                   "Messages rejected and committed as dead letters, by reason.");
    for (int r = 1; r < in->nreasons; r++) {
        lb[0] = "reason", lb[1] = in->reason_names[r];
        cw_prom_sample(&p, "casewatch_dead_letters_total", lb, 1, (double)in->dead_by_reason[r]);
    }
    one(&p, "casewatch_dead_letters_published_total", "counter",
        "Dead letters confirmed on the dead-letter topic.", (double)in->dl_published);
    one(&p, "casewatch_anomalies_total", "counter",
        "Impossible transitions recorded (events kept, anomaly logged).", (double)in->anomalies);

    one(&p, "casewatch_batches_total", "counter", "Batch transactions committed.",
        (double)in->batches);
    one(&p, "casewatch_commit_failures_total", "counter",
        "Batch transactions that failed (followed by a resync).", (double)in->commit_failures);
    one(&p, "casewatch_fenced_total", "counter",
        "Commits refused because another owner moved the offsets.", (double)in->fenced);
    one(&p, "casewatch_resyncs_total", "counter", "State reloads and consumer rewinds.",
        (double)in->resyncs);
    one(&p, "casewatch_offset_gap_messages_total", "counter",
        "Messages Kafka deleted (retention, delete-records) before casewatch read them.",
        (double)in->offset_gap_messages);
    one(&p, "casewatch_offset_gaps_unacknowledged", "gauge",
        "Offset gaps (records deleted, or a log reset) not yet acknowledged: /readyz is degraded.",
        (double)in->offset_gaps_open);
    one(&p, "casewatch_offset_resets_total", "counter",
        "Partitions restarted because their stored offset left the log.",
        (double)in->offset_resets);
    one(&p, "casewatch_partition_count_mismatch", "gauge",
        "1 while the input topics' partition counts disagree (with each other or with those "
        "casewatch's state was partitioned by): nothing is consumed.",
        in->partition_mismatch ? 1.0 : 0.0);
    one(&p, "casewatch_rules_mismatch", "gauge",
        "1 while this member's rule set differs from its consumer group's: no rule is evaluated.",
        in->rules_mismatch ? 1.0 : 0.0);
    if (in->batch_events) {
        cw_prom_family(&p, "casewatch_batch_events", "histogram", "Messages per committed batch.");
        cw_prom_histo(&p, "casewatch_batch_events", in->batch_events);
    }
    if (in->commit_seconds) {
        cw_prom_family(&p, "casewatch_commit_seconds", "histogram",
                       "Time from a batch's first round trip to its COMMIT.");
        cw_prom_histo(&p, "casewatch_commit_seconds", in->commit_seconds);
    }

    cw_prom_family(&p, "casewatch_partition_committed_offset", "gauge",
                   "Next offset stored in PostgreSQL, per owned partition.");
    for (int i = 0; i < in->nparts; i++) {
        char part[16];
        snprintf(part, sizeof(part), "%d", in->parts[i].partition);
        lb[0] = "topic", lb[1] = in->parts[i].topic, lb[2] = "partition", lb[3] = part;
        cw_prom_sample(&p, "casewatch_partition_committed_offset", lb, 2,
                       (double)in->parts[i].committed);
    }
    cw_prom_family(&p, "casewatch_consumer_lag_messages", "gauge",
                   "Messages in the log not yet committed to PostgreSQL, per owned partition "
                   "(log end from librdkafka statistics).");
    for (int i = 0; i < in->nparts; i++) {
        if (in->parts[i].high < 0)
            continue;
        char part[16];
        snprintf(part, sizeof(part), "%d", in->parts[i].partition);
        lb[0] = "topic", lb[1] = in->parts[i].topic, lb[2] = "partition", lb[3] = part;
        int64_t lag = in->parts[i].high - (in->parts[i].committed < 0 ? 0 : in->parts[i].committed);
        cw_prom_sample(&p, "casewatch_consumer_lag_messages", lb, 2, (double)(lag < 0 ? 0 : lag));
    }
    one(&p, "casewatch_partitions_owned", "gauge", "Input partitions this daemon owns.",
        (double)in->nparts);
    one(&p, "casewatch_cases_in_memory", "gauge", "Cases held in memory.",
        (double)in->cases_in_memory);

    cw_prom_family(&p, "casewatch_alerts", "gauge",
                   "Alerts held by this daemon, by rule, family, severity and state.");
    for (int i = 0; i < in->nalerts; i++) {
        const cw_metrics_alerts_t *a = &in->alerts[i];
        lb[0] = "rule", lb[1] = a->rule, lb[2] = "family", lb[3] = a->family;
        lb[4] = "severity", lb[5] = a->severity, lb[6] = "state", lb[7] = a->state;
        cw_prom_sample(&p, "casewatch_alerts", lb, 4, (double)a->count);
    }
    one(&p, "casewatch_alert_transitions_total", "counter", "Alert lifecycle changes committed.",
        (double)in->alert_transitions);
    one(&p, "casewatch_alerts_published_total", "counter",
        "Alert notifications confirmed on the alerts topic.", (double)in->alerts_published);
    one(&p, "casewatch_alert_historic_total", "counter",
        "Alert notifications committed as history found after the fact (fired and ended "
        "within one batch or catch-up): published flagged historic, never paged.",
        (double)in->alerts_historic);
    if (in->npruned > 0) {
        cw_prom_family(&p, "casewatch_retention_pruned_rows_total", "counter",
                       "Rows the retention prune removed (or, dead_letter_payloads, blanked), by "
                       "what ([retention]).");
        for (int i = 0; i < in->npruned; i++) {
            lb[0] = "table", lb[1] = in->prune_names[i];
            cw_prom_sample(&p, "casewatch_retention_pruned_rows_total", lb, 1,
                           (double)in->pruned[i]);
        }
    }
    one(&p, "casewatch_publisher_queue_messages", "gauge",
        "Messages waiting in the Kafka producer's queue.", (double)in->publisher_queue);
    one(&p, "casewatch_outputs_unconfirmed", "gauge",
        "Committed alerts and dead letters handed to the producer, not yet confirmed.",
        (double)in->outputs_unconfirmed);
    one(&p, "casewatch_snapshots_total", "counter", "Metric snapshots published.",
        (double)in->snapshots);

    cw_prom_family(&p, "casewatch_reloads_total", "counter",
                   "Configuration reloads (SIGHUP or POST /reload), by outcome.");
    lb[0] = "outcome", lb[1] = "success";
    cw_prom_sample(&p, "casewatch_reloads_total", lb, 1, (double)in->reloads_ok);
    lb[1] = "failure";
    cw_prom_sample(&p, "casewatch_reloads_total", lb, 1, (double)in->reloads_failed);
    one(&p, "casewatch_last_reload_success_time_seconds", "gauge",
        "When the configuration was last reloaded successfully (0 = never).",
        (double)in->last_reload_ms / 1000.0);
    one(&p, "casewatch_sse_clients", "gauge", "Open /events streams.", (double)in->sse_clients);
    return cw_prom_finish(&p, len);
}
