/*
 * test_it_retention.c — [I] against a private PostgreSQL and the embedded broker:
 *  - casewatchd --migrate-only migrates a fresh database and exits 0, recording a checksum
 *    per applied migration; a migration whose recorded checksum differs (the file was edited
 *    after it ran) makes it exit 2 naming the migration, and the daemon refuses to start on
 *    it; a database migrated before checksums were kept gets them filled in;
 *  - the retention prune, with short windows and a batch of 3 rows (several rounds), removes
 *    exactly what is past its retention and nothing else: sent and silenced notifications
 *    older than outbox_sent_days, alert history and resolved alerts older than history_days
 *    by the daemon's clock (firing ones never), anomalies older than anomaly_days, published
 *    dead letters' bytes after dead_letter_payload_days and the rows after dead_letter_days
 *    (an unpublished one is re-sent first, never pruned unsent); the event log, cases and
 *    aggregates are untouched, and events published meanwhile are applied exactly once.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];

static long long q(const char *sql)
{
    return cwt_pg_scalar(&pg, sql);
}

static int migrate_only(char *out, size_t outsz)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatchd --migrate-only -c %s 2>&1", cfg_path);
    return cwt_run(cmd, out, outsz);
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "retention");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    static const char *const topics[] = {"casewatch.case-events:2", "casewatch.hearing-events:2",
                                         "casewatch.dead-letters:1", "casewatch.alerts:1",
                                         "casewatch.metrics:1", NULL};
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, topics))
        return -1;
    return cwt_write_config(cfg_path, &pg, &broker, NULL,
                            "[daemon]\nclock = wall\nbatch_max_wait_ms = 10\n"
                            "[retention]\noutbox_sent_days = 7\nhistory_days = 30\n"
                            "anomaly_days = 30\ndead_letter_payload_days = 2\n"
                            "dead_letter_days = 10\nbatch = 3\ninterval_ms = 200\n");
}

static int suite_clean(void)
{
    cwt_cleanup_all();
    return 0;
}

static void test_migrate_only_and_checksums(void)
{
    char out[8192];
    int rc = migrate_only(out, sizeof(out));
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    long long applied = q("SELECT count(*) FROM schema_migrations");
    CU_ASSERT(applied >= 12);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM schema_migrations WHERE coalesce(checksum, '') !~ "
                      "'^[0-9a-f]{16}$'"),
                    0);
    /* the same again: nothing to do, still 0 */
    CU_ASSERT_EQUAL(migrate_only(out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM schema_migrations"), applied);

    /* an edited migration is refused, by --migrate-only and by the daemon */
    CU_ASSERT_EQUAL(cwt_pg_exec(&pg, "UPDATE schema_migrations SET checksum = '0123456789abcdef' "
                                     "WHERE version = 3"),
                    0);
    rc = migrate_only(out, sizeof(out));
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "003_alerts.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "edited"));
    pid_t d = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT(d > 0);
    for (int i = 0; i < 100 && cwt_daemon_alive(d); i++)
        usleep(100000);
    CU_ASSERT_FALSE(cwt_daemon_alive(d)); /* it refused, and said why */
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "grep -c 'was edited after it ran' %s", log_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);

    /* a database from before checksums: they are filled in */
    CU_ASSERT_EQUAL(cwt_pg_exec(&pg, "UPDATE schema_migrations SET checksum = NULL"), 0);
    CU_ASSERT_EQUAL(migrate_only(out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM schema_migrations WHERE checksum IS NULL"), 0);
}

/* rows of every pruned kind, some past their retention and some not */
static const char SEED[] =
    "INSERT INTO alert_outbox (alert_id, dedup_key, msg_key, payload, silenced, created_at,"
    " sent_at) SELECT 'o-old-' || i, 'k', 'c', '\\x00', false, now() - interval '8 days',"
    " now() - interval '8 days' FROM generate_series(1, 7) i;"
    "INSERT INTO alert_outbox VALUES ('o-silenced', 'k', 'c', '\\x00', true,"
    " now() - interval '8 days', NULL);"
    "INSERT INTO alert_outbox VALUES ('o-recent', 'k', 'c', '\\x00', false,"
    " now() - interval '6 days', now() - interval '6 days');"
    "INSERT INTO alert_history (alert_id, dedup_key, to_state, at, notified, silenced, repeat)"
    " SELECT 'h-old-' || i, 'k', 'firing', now() - interval '31 days', true, false, false"
    " FROM generate_series(1, 5) i;"
    "INSERT INTO alert_history (alert_id, dedup_key, to_state, at, notified, silenced, repeat)"
    " VALUES ('h-recent', 'k', 'firing', now() - interval '29 days', true, false, false);"
    "INSERT INTO alerts (dedup_key, rule, rule_version, family, severity, state, kpartition,"
    " resolved_at, firing_at) VALUES"
    " ('a-resolved-old', 'r', 1, 'delay', 'warning', 'resolved', 999, now() - interval '31 days',"
    "  now() - interval '40 days'),"
    " ('a-resolved-recent', 'r', 1, 'delay', 'warning', 'resolved', 999,"
    "  now() - interval '29 days', now() - interval '40 days'),"
    " ('a-firing-old', 'r', 1, 'delay', 'warning', 'firing', 999, NULL,"
    "  now() - interval '400 days');"
    "INSERT INTO anomalies (event_id, kind, detail, occurred_at) SELECT 'an-old-' || i, 'x', 'd',"
    " now() - interval '31 days' FROM generate_series(1, 4) i;"
    "INSERT INTO anomalies (event_id, kind, detail, occurred_at) VALUES"
    " ('an-recent', 'x', 'd', now() - interval '29 days');"
    /* kpartition 999: no daemon owns it, so the unpublished one is never re-sent */
    "INSERT INTO dead_letters (reason, detail, topic, kpartition, koffset, payload, received_at,"
    " published_at) VALUES"
    " ('bad', 'd', 't', 999, 1, '\\x01', now() - interval '11 days', now() - interval '11 days'),"
    " ('bad', 'd', 't', 999, 2, '\\x01', now() - interval '3 days', now() - interval '3 days'),"
    " ('bad', 'd', 't', 999, 3, '\\x01', now() - interval '1 day', now() - interval '1 day'),"
    " ('bad', 'd', 't', 999, 4, '\\x01', now() - interval '11 days', NULL)";

static void test_prune_removes_exactly_what_is_due(void)
{
    char out[4096];
    CU_ASSERT_EQUAL_FATAL(migrate_only(out, sizeof(out)), 0);
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&pg, SEED), 0);
    pid_t d = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(d > 0);
    /* events published while it prunes: applied, once */
    long long now_ms = (long long)time(NULL) * 1000;
    for (int i = 0; i < 20; i++) {
        char key[16], text[512];
        snprintf(key, sizeof(key), "R%d", i);
        snprintf(text, sizeof(text),
                 "event_id: \"ret-%d\" case_id: \"%s\" occurred_at: %lld source: \"test\" "
                 "schema_version: 1 case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                 "court_area: \"kent\" service_area: \"osa\" child_ids: \"c%d\" }",
                 i, key, now_ms - 3600000 + i, i);
        CU_ASSERT_EQUAL(cwt_publish_event(&broker, "casewatch.case-events", key, text), 0);
    }
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM event_log", 20, 30000));
    /* pruned, in rounds of 3 */
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM alert_outbox WHERE alert_id LIKE 'o-%'",
                                 1, 30000));
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM alert_history WHERE alert_id LIKE "
                                      "'h-%'",
                                 1, 30000));
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM anomalies WHERE event_id LIKE 'an-%'",
                                 1, 30000));
    if (!cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE kpartition = 999", 2,
                            30000)) {
        char cmd[1200], rows[4096];
        snprintf(cmd, sizeof(cmd),
                 "psql '%s' -XAtc \"SELECT koffset, received_at, published_at, payload IS NULL "
                 "FROM dead_letters ORDER BY koffset\" 2>&1",
                 pg.conninfo);
        cwt_run(cmd, rows, sizeof(rows));
        fprintf(stderr, "\ndead letters:\n%s\n", rows);
        CU_FAIL("dead letters past their retention not pruned");
    }
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM alerts WHERE kpartition = 999", 2,
                                 30000));
    /* and exactly those */
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM alert_outbox WHERE alert_id = 'o-recent'"), 1);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM alert_history WHERE alert_id = 'h-recent'"), 1);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM anomalies WHERE event_id = 'an-recent'"), 1);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM alerts WHERE dedup_key IN ('a-resolved-recent',"
                      " 'a-firing-old')"),
                    2);
    /* dead letters: the 11-day published one gone; the 3-day one without its bytes; the
     * 1-day one with them. (The unpublished 11-day one is re-sent at start, as every
     * unpublished dead letter is, and then goes as published.) */
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM dead_letters WHERE kpartition = 999 AND koffset = 1"),
                    0);
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE koffset = 2 AND "
                                      "kpartition = 999 AND payload IS NULL",
                                 1, 30000));
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM dead_letters WHERE kpartition = 999 AND koffset = 3 "
                      "AND payload IS NOT NULL"),
                    1);
    /* the ingest side is untouched: every event once, every case */
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM event_log"), 20);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM cases"), 20);
    CU_ASSERT(cwt_daemon_alive(d));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("retention (PostgreSQL, embedded broker)", suite_init, suite_clean);
    CU_add_test(s, "--migrate-only, a checksum per migration, an edited one refused",
                test_migrate_only_and_checksums);
    CU_add_test(s, "the prune removes exactly what is past its retention, in small batches",
                test_prune_removes_exactly_what_is_due);
    return cwt_cunit_run();
}
