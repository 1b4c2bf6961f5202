/*
 * cwfaults.h — helpers for the fault suite (tests/test_it_faults.c): one generated event log
 * with its references computed once, a fresh database per scenario, the generator as a load,
 * and one check that compares what the daemon stored and published with the references.
 *
 * The references are independent of casewatchd: the distinct event ids and the board figures
 * come from tests/reference/figures.py (Python), the alert set from casewatch-dryrun (the same
 * rule code, but a single-threaded replay of the log file, not the daemon's pipeline).
 *
 * The alert history ([L]): cwf_history_ref_build() keeps the dry run's case-scoped transition
 * list (per-partition event clock, --partitions), and cwf_history_check() compares it, as a
 * multiset, with what the daemon recorded in alert_history. Used by the fault suite and by
 * tests/test_it_history.c.
 *
 * Synchronous and not thread-safe, like cwtest.h; everything started is registered with the
 * cwtest cleanup (daemons, brokers, clusters) or reaped here (the generator).
 */
#ifndef CWFAULTS_H
#define CWFAULTS_H

#include "cwtest.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

/** The shared log and its references (built once by cwf_ref_build()). */
typedef struct {
    char dir[256];        /**< where the files below live */
    char gen_args[1024];  /**< casewatch-gen arguments that define the log */
    char as_of[16];       /**< the figures' date D = the log's last day */
    char log[600];        /**< the log, length-delimited casewatch.v1.Event (no garbage) */
    char rules[600];      /**< the rules file given to casewatch-dryrun (same as the daemon's) */
    char events_tsv[600]; /**< event_id TAB case_id: the log's valid, distinct events (Python) */
    char dryrun_tsv[600]; /**< seq TAB dedup_key TAB state: casewatch-dryrun's notifications */
    long long events;     /**< distinct valid events */
    long long garbage;    /**< undecodable messages one publication adds (Kafka only) */
    long long dry_notifications; /**< notifications of the dry run (repeats included) */
    long long dry_firing_end;    /**< alerts firing at the end of the dry run */
    json_object *figures;        /**< figures.py --all-scopes output (owned) */
    /* the history reference: filled by cwf_history_ref_build(), empty (history_tsv[0] = 0)
     * until then */
    char history_tsv[600];         /**< dedup_key TAB state TAB resolution TAB at_ms TAB cause */
    long long dry_transitions;     /**< rows of history_tsv */
    long long dry_historic;        /**< of them flagged "historic" by the dry run */
    long long history_lateness_ms; /**< the --lateness-ms it was built with */
    int history_partitions;        /**< its --partitions; 0 when the dry run does not know the
                                    *   option (a pre-[L] build): the list is then the old
                                    *   global-clock one, kept only to show the differences */
} cwf_ref_t;

/**
 * @brief Generate the log (casewatch-gen gen_args --out-file), then compute its references:
 *        distinct events and figures (tests/reference/figures.py) and the dry run's alerts.
 * @param rules_ini the [rules]/[rule.*] text the daemon is also given (written to r->rules)
 * @returns 0, or -1 (printed).
 */
int cwf_ref_build(cwf_ref_t *r, const char *dir, const char *gen_args, const char *as_of,
                  const char *rules_ini);

/** @brief Free what cwf_ref_build() allocated. */
void cwf_ref_fini(cwf_ref_t *r);

/**
 * @brief CREATE DATABASE name (new) on server's cluster; *db = server with dbname=name.
 * @returns 0, or -1 (printed).
 */
int cwf_db_create(const cwt_pg_t *server, const char *name, cwt_pg_t *db);

/**
 * @brief Start casewatch-gen publishing the reference log to b (in the background).
 * @param speed simulated seconds per wall second for the window (0 = as fast as possible)
 * @param out_file where this publication's record goes (compared with the reference later)
 * @returns the generator's pid, or -1 (printed).
 */
pid_t cwf_gen_start(const cwf_ref_t *r, const cwt_broker_t *b, double speed, const char *out_file,
                    const char *out_log);

/**
 * @brief Wait for the generator to exit (SIGKILL after timeout_ms).
 * @returns 0 if it exited 0 and out_file equals the reference log byte for byte; -1 (printed).
 */
int cwf_gen_wait(const cwf_ref_t *r, pid_t gen, const char *out_file, int timeout_ms);

/** @brief Messages on both input topics now (kcat), or -1. */
long long cwf_topic_messages(const cwt_broker_t *b);

/**
 * @brief Wait until the offsets stored in db cover every message on both input topics.
 * @returns true when caught up; false (printed: stored vs on the topics) after timeout_ms.
 */
bool cwf_wait_caught_up(const cwt_pg_t *db, const cwt_broker_t *b, int timeout_ms);

/** @brief Wait until sql (one integer) returns want; false (printed) after timeout_ms. */
bool cwf_wait_scalar(const cwt_pg_t *db, const char *sql, long long want, int timeout_ms);

/** @brief Wait until sql (one integer) returns at least want; false (printed) on timeout. */
bool cwf_wait_at_least(const cwt_pg_t *db, const char *sql, long long want, int timeout_ms);

/** @brief Wait until a line of the file matches the extended regex (grep -E); false on timeout. */
bool cwf_wait_log(const char *path, const char *regex, int timeout_ms);

/**
 * @brief Write the alert_id header of every message on b's alerts topic to path, one a line
 *        (appending). @returns 0, or -1 (printed).
 */
int cwf_dump_alert_ids(const cwt_broker_t *b, const char *path);

/** What cwf_check() found. Every count but the first four of each group should be 0. */
typedef struct {
    long long events, stored;            /**< distinct events in the log; event_log rows */
    long long lost, extra;               /**< reference events missing from event_log; not in it */
    long long doubled;                   /**< events counted more than once in cases.event_count */
    long long case_mismatches;           /**< cases whose event count differs from the log's */
    long long dead_letters, dl_expected; /**< dead_letters rows; garbage published */
    int figures, figure_mismatches, areas; /**< figures compared (national + areas) */
    long long notifications, firing;  /**< notified transitions in alert_history; of them firing */
    long long delivered, undelivered; /**< distinct notified alert ids on the alerts topic; not */
    long long unsent;                 /**< outbox rows never confirmed sent (after the wait) */
    long long resent;                 /**< extra copies on the topic (at-least-once re-sends) */
    long long history_doubled;        /**< (alert_id, to_state) recorded more than once */
    long long lifecycle_errors;       /**< a key announced firing (or resolved) twice in a row */
    long long firing_end, firing_missing, firing_extra; /**< vs the dry run's final set */
    long long area_alerts; /**< area/worker alerts notified (not in the dry run) */
    int families;          /**< alert families that fired */
} cwf_result_t;

/**
 * @brief Compare the database and the alerts topic with the references and print one summary
 *        line "faults[scenario]: …" (details of any difference on stderr before it).
 *        Waits (up to timeout_ms) for the alert outbox to drain first; if it does not, the
 *        rows left unsent are counted (res->unsent) and show up as undelivered.
 * @param dl_expected dead letters the scenario's publications imply
 * @param earlier_ids NULL, or a cwf_dump_alert_ids() file of an earlier broker's alerts topic
 *        (a restarted embedded broker has lost its topics): counted as delivered too
 * @returns 0 when the checks could run (see res for what they found), -1 (printed) otherwise.
 */
int cwf_check(const cwf_ref_t *r, const cwt_pg_t *db, const cwt_broker_t *b, const char *scenario,
              long long dl_expected, const char *earlier_ids, double elapsed_s, int timeout_ms,
              cwf_result_t *res);

/* ---- the alert history ([L]) ------------------------------------------------------------- */

/**
 * @brief Run casewatch-dryrun --partitions N --lateness-ms L --json over r->log with r->rules
 *        (after cwf_ref_build()) and keep its case-scoped transition list in r->history_tsv:
 *        the lines with state firing or resolved, not a repeat, whose dedup key names a case
 *        (keys with "|area:" or "|worker:" are left out: area and worker rules run on the
 *        daemon's periodic snapshots, which a replay has not got).
 *        A dry run that refuses --partitions (built before [L]) is run without it, loudly, and
 *        r->history_partitions is left 0 so that cwf_history_check() reports the reference as
 *        not the per-partition one.
 * @param partitions the input topics' partition count (the daemon's topics must have it)
 * @param lateness_ms the daemon's [daemon] allowed_lateness_ms
 * @returns 0, or -1 (printed) if the dry run failed or printed something unreadable.
 */
int cwf_history_ref_build(cwf_ref_t *r, int partitions, long long lateness_ms);

/**
 * @brief Wait until the case-scoped rows of alert_history stop changing for quiet_ms (the
 *        daemon has committed the transitions of its last batch and clock-only ticks).
 * @returns true when they did; false (printed) if they still changed after timeout_ms.
 */
bool cwf_history_settle(const cwt_pg_t *db, int quiet_ms, int timeout_ms);

/** What cwf_history_check() found. */
typedef struct {
    bool reference_ok;         /**< the reference is the per-partition dry run (--partitions) */
    long long daemon, dry;     /**< case-scoped firing/resolved transitions, no repeats */
    long long dry_only;        /**< in the dry run's list, not in alert_history (multiset) */
    long long daemon_only;     /**< in alert_history, not in the dry run's list */
    long long time_only;       /**< of dry_only: the same key, state and resolution is among
                                *   daemon_only at another time (only the stamp differs) */
    long long daemon_historic; /**< informational: alert_history rows flagged historic, or -1
                                *   when the table has no such column */
} cwf_history_t;

/**
 * @brief Compare the daemon's case-scoped alert history in db with r's history reference, as
 *        sorted multisets of (dedup_key, state, resolution, at in ms): alert_history rows
 *        to_state IN ('firing', 'resolved') AND NOT repeat, resolution NULL read as ''.
 *        Prints the first 20 differences (stderr, by key and time, each with its side and
 *        cause event) and one summary line "history[scenario]: …" (stdout).
 *        Call it once every event is applied and cwf_history_settle() returned.
 * @returns 0 when the comparison could run (see res), -1 (printed) otherwise — also when
 *          cwf_history_ref_build() was never called.
 */
int cwf_history_check(const cwf_ref_t *r, const cwt_pg_t *db, const char *scenario,
                      cwf_history_t *res);

#endif
