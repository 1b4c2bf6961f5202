/*
 * retention.c — the prune statements of [I]: each deletes (or, for dead-letter payloads,
 * blanks) at most one batch of the oldest rows past their retention, and reports how many.
 * The caller runs a round on the housekeeping connection, never on a batch connection, and
 * another round soon while a statement still found a full batch. Pure SQL text and
 * parameters: no state.
 */
#include "casewatch/retention.h"

#include <stdio.h>
#include <stdlib.h>

/* Row-count of a data-modifying CTE: "WITH d AS (… RETURNING 1) SELECT count(*) FROM d". The
 * inner SELECT picks at most $2 rows by ctid (any order: a BRIN index finds the old pages,
 * and sorting them would read every old row each round). */
#define PICK(table, where) "ctid = ANY(ARRAY(SELECT ctid FROM " table " WHERE " where " LIMIT $2))"
#define COUNTED(stmt) "WITH d AS (" stmt " RETURNING 1) SELECT count(*) FROM d"

static const struct {
    const char *name;
    const char *sql; /* $1: the cutoff (days for the wall clock, epoch ms otherwise), $2: batch */
    bool wall;       /* cutoff by PostgreSQL's now(), else by the daemon's clock */
} prunes[CW_PRUNE__COUNT] = {
    [CW_PRUNE_OUTBOX_SENT] =
        {"alert_outbox",
         COUNTED("DELETE FROM alert_outbox WHERE " PICK(
             "alert_outbox", "created_at < now() - make_interval(days => $1::int)"
                             " AND (sent_at IS NOT NULL OR silenced)")),
         true},
    [CW_PRUNE_HISTORY] = {"alert_history",
                          COUNTED("DELETE FROM alert_history WHERE " PICK(
                              "alert_history", "at < cw_ms($1::bigint)")),
                          false},
    [CW_PRUNE_ALERTS_RESOLVED] = {"alerts",
                                  COUNTED("DELETE FROM alerts WHERE " PICK(
                                      "alerts", "state = 'resolved' AND resolved_at < "
                                                "cw_ms($1::bigint)")),
                                  false},
    [CW_PRUNE_ANOMALIES] = {"anomalies",
                            COUNTED("DELETE FROM anomalies WHERE " PICK(
                                "anomalies", "occurred_at < cw_ms($1::bigint)")),
                            false},
    /* a dead letter not yet on its topic keeps its bytes: it is still to be published */
    [CW_PRUNE_DL_PAYLOADS] =
        {"dead_letter_payloads",
         COUNTED("UPDATE dead_letters SET payload = NULL, msg_key = NULL WHERE " PICK(
             "dead_letters", "received_at < now() - make_interval(days => $1::int)"
                             " AND published_at IS NOT NULL AND payload IS NOT NULL")),
         true},
    [CW_PRUNE_DEAD_LETTERS] =
        {"dead_letters",
         COUNTED("DELETE FROM dead_letters WHERE " PICK(
             "dead_letters", "received_at < now() - make_interval(days => $1::int)"
                             " AND published_at IS NOT NULL")),
         true},
};

const char *cw_prune_name(cw_prune_kind_t k)
{
    return k >= 0 && k < CW_PRUNE__COUNT ? prunes[k].name : "?";
}

static int days_of(const cw_config_t *cfg, cw_prune_kind_t k)
{
    switch (k) {
    case CW_PRUNE_OUTBOX_SENT: return cfg->retention_outbox_sent_days;
    case CW_PRUNE_HISTORY:
    case CW_PRUNE_ALERTS_RESOLVED: return cfg->retention_history_days;
    case CW_PRUNE_ANOMALIES: return cfg->retention_anomaly_days;
    case CW_PRUNE_DL_PAYLOADS: return cfg->retention_dead_letter_payload_days;
    case CW_PRUNE_DEAD_LETTERS: return cfg->retention_dead_letter_days;
    case CW_PRUNE__COUNT: break;
    }
    return 0;
}


/* the one row of count(*) */
static void count_result(void *arg, const PGresult *res)
{
    cw_prune_counts_t *c = arg;
    /* which kind: the first still unset (results arrive in statement order) */
    for (int k = 0; k < CW_PRUNE__COUNT; k++) {
        if (c->n[k] == -2) {
            c->n[k] = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 0)) : 0;
            return;
        }
    }
}

int cw_retention_add(cw_store_job_t *job, const cw_config_t *cfg, int64_t clock_ms,
                     cw_prune_counts_t *counts)
{
    int n = 0;
    for (int k = 0; k < CW_PRUNE__COUNT; k++) {
        int days = days_of(cfg, (cw_prune_kind_t)k);
        counts->n[k] = -1;
        if (days <= 0 || (!prunes[k].wall && clock_ms <= 0))
            continue; /* kept forever, or no clock yet to judge by */
        char cut[32], lim[16];
        if (prunes[k].wall)
            snprintf(cut, sizeof(cut), "%d", days);
        else
            snprintf(cut, sizeof(cut), "%lld", (long long)(clock_ms - (int64_t)days * 86400000));
        snprintf(lim, sizeof(lim), "%d", cfg->retention_batch);
        counts->n[k] = -2; /* pending: count_result() fills it */
        cw_store_job_addp(job, prunes[k].sql, 2, (char *[]){cw_strdup(cut), cw_strdup(lim)},
                          count_result);
        n++;
    }
    return n;
}
