/*
 * test_it_misuse.c — [G] correctness under misuse, end to end: a private PostgreSQL, embedded
 * brokers and casewatchd, driven as an outsider would (events encoded by protoc, published by
 * kcat with keys of the test's choosing, a second daemon, a locked table, a trigger that
 * refuses every insert). Each test failed before its fix:
 *
 *  1. an event published with a key other than its case_id (on another partition) is
 *     dead-lettered as wrong_partition and never applied; the same event keyed right is;
 *  2. co-partitioned topics with different partition counts (8 and 4) are not consumed at
 *     all, /readyz says why; a database partitioned by 8 refuses a cluster of 4 and 4;
 *  3. two members of one group with different rule sets: the newest wins, the other logs it,
 *     reports it on /readyz and /metrics and evaluates nothing until a reload makes it agree;
 *  4. a daemon of another consumer group on the same database refuses to start; with
 *     --take-over-group it starts, and the old group's member stops with a clear message;
 *  9. TERM with a 1 s shutdown deadline while a commit waits on a locked table: a clean exit
 *     (never a signal), nothing lost or doubled after a restart;
 * 10. a permanent database error is retried with growing pauses (not every 500 ms), and the
 *     daemon catches up once it is gone;
 * 11. a statement_timeout during the schema check says what failed, not "migration failed".
 */
#include "cwhttp.h"
#include "cwtest.h"

#include "casewatch/partmap.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cwt_pg_t pg;
static cwt_broker_t broker; /* case and hearing events, 8 partitions each */
static char tmp[256];
static int seq;

#define T0 1704672000000LL /* 2024-01-08 00:00 UTC */
#define NPART 8

/* A config in tmp named name, for group (NULL = fresh), with extra ini text. */
static void write_cfg(char *path, size_t n, const char *name, const cwt_pg_t *db,
                      const cwt_broker_t *b, const char *group, const char *extra, int admin_port)
{
    snprintf(path, n, "%s/%s.ini", tmp, name);
    char ini[2048];
    snprintf(ini, sizeof(ini),
             "[daemon]\nbatch_max_wait_ms = 20\nbackoff_initial_ms = 100\nbackoff_max_ms = 1000\n"
             "%s\n[admin]\nlisten = 127.0.0.1:%d\n",
             extra ? extra : "", admin_port);
    CU_ASSERT_EQUAL_FATAL(cwt_write_config(path, db, b, group, ini), 0);
}

static pid_t start(const char *cfg, const char *name, char *logp, size_t n, const char *opt)
{
    snprintf(logp, n, "%s/%s.log", tmp, name);
    pid_t pid = cwt_daemon_start_opt(cfg, logp, opt);
    CU_ASSERT_FATAL(pid > 0);
    return pid;
}

static int grep_count(const char *logp, const char *pattern)
{
    char cmd[1200], out[64];
    snprintf(cmd, sizeof(cmd), "grep -c -- '%s' %s", pattern, logp);
    if (cwt_run(cmd, out, sizeof(out)) < 0)
        return 0;
    return atoi(out);
}

static bool wait_log(const char *logp, const char *pattern, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if (grep_count(logp, pattern) > 0)
            return true;
        usleep(100000);
    }
    return false;
}

static int publish_raw(const cwt_broker_t *b, const char *topic, const char *key,
                       const char *event_id, const char *case_id, long long at,
                       const char *payload)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "event_id: \"%s\" case_id: \"%s\" occurred_at: %lld source: \"misuse\" "
             "schema_version: 1 %s",
             event_id, case_id, at, payload);
    return cwt_publish_event(b, topic, key, text);
}

static int open_case(const cwt_broker_t *b, const char *case_id, long long at)
{
    char id[64];
    snprintf(id, sizeof(id), "mis-%d", ++seq);
    return publish_raw(b, "casewatch.case-events", case_id, id, case_id, at,
                       "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                       "\"essex-chelmsford\" service_area: \"osa-east\" child_ids: \"ch-1\" }");
}

/* a key that lands on another partition than case_id does (kcat: consistent_random) */
static void other_key(const char *case_id, char *key, size_t n)
{
    int32_t want = cw_partmap_partition(CW_PARTITIONER_CONSISTENT, case_id, strlen(case_id), NPART);
    for (int i = 0;; i++) {
        snprintf(key, n, "k%d", i);
        if (cw_partmap_partition(CW_PARTITIONER_CONSISTENT, key, strlen(key), NPART) != want)
            return;
    }
}

static long long http_status(int port, const char *path, char *body, size_t n)
{
    cwt_http_resp_t r = cwt_http("GET", port, path, NULL, NULL, 5000);
    long long st = r.status;
    if (body && n) {
        snprintf(body, n, "%s", r.body ? r.body : "");
    }
    cwt_http_free(&r);
    return st;
}

/* A second database on the suite's cluster (cwt_pg_t copy pointing at it). */
static void other_db(cwt_pg_t *db, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&pg, sql), 0);
    *db = pg;
    snprintf(db->conninfo, sizeof(db->conninfo), "host=%s port=%d user=postgres dbname=%s",
             pg.sockdir, pg.port, name);
}

/* ---------------------------------------------------------------- 1. key != case_id */

static void test_wrong_partition_is_dead_lettered(void)
{
    cwt_pg_t db;
    other_db(&db, "wrongpart");
    char cfg[600], logp[600];
    write_cfg(cfg, sizeof(cfg), "wrongpart", &db, &broker, NULL, NULL, 0);
    pid_t d = start(cfg, "wrongpart", logp, sizeof(logp), NULL);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM consumer_offsets", 16, 30000));

    char key[32];
    other_key("wp-case-1", key, sizeof(key));
    CU_ASSERT_EQUAL(publish_raw(&broker, "casewatch.case-events", key, "wp-1", "wp-case-1", T0,
                                "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                                "\"essex-chelmsford\" service_area: \"osa-east\" child_ids: "
                                "\"ch-1\" }"),
                    0);
    /* an area event keyed by something other than its court area */
    other_key("london-west", key, sizeof(key));
    CU_ASSERT_EQUAL(publish_raw(&broker, "casewatch.case-events", key, "wp-2", "", T0 + 1,
                                "prioritisation_activated { court_area: \"london-west\" }"),
                    0);
    CU_ASSERT(cwt_pg_wait_scalar(&db,
                                 "SELECT count(*) FROM dead_letters WHERE reason = "
                                 "'wrong_partition' AND detail LIKE '%hashes to partition%'",
                                 2, 20000));
    /* the same events keyed right are applied */
    CU_ASSERT_EQUAL(publish_raw(&broker, "casewatch.case-events", "wp-case-1", "wp-3",
                                "wp-case-1", T0 + 2,
                                "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                                "\"essex-chelmsford\" service_area: \"osa-east\" child_ids: "
                                "\"ch-1\" }"),
                    0);
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM event_log WHERE event_id = 'wp-3'",
                                 1, 20000));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&db, "SELECT count(*) FROM event_log WHERE event_id IN "
                                       "('wp-1', 'wp-2')"),
                    0);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&db, "SELECT event_count FROM cases WHERE case_id = "
                                       "'wp-case-1'"),
                    1);
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
}

/* ---------------------------------------------------------------- 2. partition counts */

static void test_partition_counts_must_agree(void)
{
    static const char *const topics[] = {"casewatch.case-events:8", "casewatch.hearing-events:4",
                                          NULL};
    cwt_broker_t b2;
    CU_ASSERT_EQUAL_FATAL(cwt_broker_start(&b2, 1, topics), 0);
    cwt_pg_t db;
    other_db(&db, "copart");
    int port = cwt_free_port();
    char cfg[600], logp[600], body[4096];
    write_cfg(cfg, sizeof(cfg), "copart", &db, &b2, NULL, NULL, port);
    pid_t d = start(cfg, "copart", logp, sizeof(logp), NULL);
    CU_ASSERT(wait_log(logp, "not co-partitioned: casewatch.case-events has 8 partitions, "
                             "casewatch.hearing-events has 4",
                       20000));
    CU_ASSERT_EQUAL(open_case(&b2, "cp-case-1", T0), 0);
    sleep(3);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&db, "SELECT count(*) FROM event_log"), 0);
    CU_ASSERT_EQUAL(http_status(port, "/readyz", body, sizeof(body)), 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "co-partitioned"));
    CU_ASSERT_EQUAL(http_status(port, "/metrics", body, sizeof(body)), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "casewatch_partition_count_mismatch 1"));
    CU_ASSERT_TRUE(cwt_daemon_alive(d));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
    CU_ASSERT_EQUAL(cwt_broker_stop(&b2), 0);

    /* a database whose state is partitioned by 8 refuses a cluster with 4 and 4 */
    static const char *const four[] = {"casewatch.case-events:4", "casewatch.hearing-events:4",
                                       NULL};
    cwt_pg_t db8;
    other_db(&db8, "eight");
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&db8, "SELECT 1"), 0);
    char cfg8[600], log8[600];
    write_cfg(cfg8, sizeof(cfg8), "eight", &db8, &broker, "eight", NULL, 0);
    d = start(cfg8, "eight", log8, sizeof(log8), NULL);
    CU_ASSERT(cwt_pg_wait_scalar(&db8, "SELECT count(*) FROM kafka_topics WHERE partitions = 8",
                                 2, 30000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
    cwt_broker_t b4;
    CU_ASSERT_EQUAL_FATAL(cwt_broker_start(&b4, 1, four), 0);
    write_cfg(cfg8, sizeof(cfg8), "eight4", &db8, &b4, "eight", NULL, 0);
    d = start(cfg8, "eight4", log8, sizeof(log8), NULL);
    CU_ASSERT(wait_log(log8, "casewatch.case-events has 4 partitions but casewatch.s state is "
                             "partitioned by the 8",
                       30000));
    CU_ASSERT_EQUAL(open_case(&b4, "cp-case-2", T0), 0);
    sleep(2);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&db8, "SELECT count(*) FROM event_log"), 0);
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
    CU_ASSERT_EQUAL(cwt_broker_stop(&b4), 0);
}

/* ---------------------------------------------------------------- 3. rule sets */

static void test_rule_sets_must_agree(void)
{
    cwt_pg_t db;
    other_db(&db, "rulesets");
    int pa = cwt_free_port(), pb = cwt_free_port();
    char ca[600], cb[600], la[600], lb[600], body[8192];
    write_cfg(ca, sizeof(ca), "rules-a", &db, &broker, "rules-group", NULL, pa);
    pid_t a = start(ca, "rules-a", la, sizeof(la), NULL);
    CU_ASSERT_FATAL(wait_log(la, "partition(s) loaded", 30000));
    /* the second member loads another rule set: it is the newest, so the group's */
    write_cfg(cb, sizeof(cb), "rules-b", &db, &broker, "rules-group",
              "\n[rule.child_not_seen]\nthreshold = 3\n", pb);
    pid_t b = start(cb, "rules-b", lb, sizeof(lb), NULL);
    CU_ASSERT(wait_log(la, "rule set .* differs from the group", 30000));
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(DISTINCT rules_hash) FROM group_members", 2,
                                 5000));
    CU_ASSERT_EQUAL(http_status(pa, "/readyz", body, sizeof(body)), 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "rule set"));
    CU_ASSERT_EQUAL(http_status(pa, "/metrics", body, sizeof(body)), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "casewatch_rules_mismatch 1"));
    CU_ASSERT_EQUAL(grep_count(lb, "differs from the group"), 0);
    /* the first member gets the same rules and reloads: they agree */
    write_cfg(ca, sizeof(ca), "rules-a", &db, &broker, "rules-group",
              "\n[rule.child_not_seen]\nthreshold = 3\n", pa);
    kill(a, SIGHUP);
    CU_ASSERT(wait_log(la, "is the group.s again", 15000));
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(DISTINCT rules_hash) FROM group_members", 1,
                                 10000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(b, SIGTERM, 15000), 0);
    CU_ASSERT_EQUAL(cwt_daemon_stop(a, SIGTERM, 15000), 0);
    /* members that stopped cleanly leave */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&db, "SELECT count(*) FROM group_members"), 0);
}

/* ---------------------------------------------------------------- 4. another group */

static void test_another_group_refused(void)
{
    cwt_pg_t db;
    other_db(&db, "twogroups");
    char c1[600], c2[600], l1[600], l2[600];
    write_cfg(c1, sizeof(c1), "group-one", &db, &broker, "group-one", NULL, 0);
    pid_t one = start(c1, "group-one", l1, sizeof(l1), NULL);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM group_members", 1, 30000));
    write_cfg(c2, sizeof(c2), "group-two", &db, &broker, "group-two", NULL, 0);
    pid_t two = start(c2, "group-two", l2, sizeof(l2), NULL);
    for (int i = 0; i < 150 && cwt_daemon_alive(two); i++)
        usleep(100000);
    CU_ASSERT_EQUAL(cwt_daemon_stop(two, SIGTERM, 1000), 1);
    CU_ASSERT(grep_count(l2, "in use by another consumer group .group-one.") > 0);
    CU_ASSERT_TRUE(cwt_daemon_alive(one));
    CU_ASSERT_EQUAL(grep_count(l1, "fence"), 0);
    /* the operator says group-one is gone: group two takes over, one stops by itself */
    two = start(c2, "group-two-takeover", l2, sizeof(l2), "--take-over-group");
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM group_members WHERE group_id = "
                                      "'group-two'",
                                 1, 30000));
    for (int i = 0; i < 200 && cwt_daemon_alive(one); i++)
        usleep(100000);
    CU_ASSERT_EQUAL(cwt_daemon_stop(one, SIGTERM, 1000), 1);
    CU_ASSERT(grep_count(l1, "in use by another consumer group .group-two.") > 0);
    CU_ASSERT_EQUAL(cwt_daemon_stop(two, SIGTERM, 15000), 0);
}

/* ---------------------------------------------------------------- 9. teardown */

static void test_deadline_with_commit_in_flight(void)
{
    cwt_pg_t db;
    other_db(&db, "teardown");
    char cfg[600], logp[600];
    write_cfg(cfg, sizeof(cfg), "teardown", &db, &broker, "teardown", "shutdown_timeout_ms = 1000",
              0);
    pid_t d = start(cfg, "teardown", logp, sizeof(logp), NULL);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM consumer_offsets", 16, 30000));
    /* hold the offsets table: the next commit waits on it */
    char cmd[1200], out[64];
    snprintf(cmd, sizeof(cmd),
             "(psql -q '%s' -c 'BEGIN; LOCK TABLE consumer_offsets IN ACCESS EXCLUSIVE MODE; "
             "SELECT pg_sleep(6); COMMIT' >/dev/null 2>&1 &)",
             db.conninfo);
    CU_ASSERT_EQUAL_FATAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db,
                                       "SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                                       "c.oid = l.relation WHERE c.relname = 'consumer_offsets' "
                                       "AND l.mode = 'AccessExclusiveLock' AND l.granted",
                                       1, 10000));
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof(id), "td-case-%d", i);
        CU_ASSERT_EQUAL(open_case(&broker, id, T0 + i), 0);
    }
    /* a commit is in flight, blocked on the lock */
    CU_ASSERT(cwt_pg_wait_scalar(&db,
                                 "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type "
                                 "= 'Lock' AND query LIKE '%cw_advance_offsets%'",
                                 1, 15000));
    int st = cwt_daemon_stop(d, SIGTERM, 5000);
    CU_ASSERT(st == 0 || st == 1); /* never a signal (139 was SIGSEGV) */
    CU_ASSERT(st < 128);
    CU_ASSERT(grep_count(logp, "shutdown deadline") > 0);
    /* once the lock is gone, a restart applies everything exactly once */
    d = start(cfg, "teardown-2", logp, sizeof(logp), NULL);
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM event_log WHERE case_id LIKE "
                                      "'td-case-%'",
                                 20, 40000));
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM cases WHERE case_id LIKE 'td-case-%' "
                                      "AND event_count = 1",
                                 20, 10000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
}

/* ---------------------------------------------------------------- 10. permanent errors */

static void test_permanent_error_backs_off(void)
{
    cwt_pg_t db;
    other_db(&db, "permanent");
    char cfg[600], logp[600];
    write_cfg(cfg, sizeof(cfg), "permanent", &db, &broker, "permanent",
              "backoff_initial_ms = 200\nbackoff_max_ms = 3200", 0);
    pid_t d = start(cfg, "permanent", logp, sizeof(logp), NULL);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM consumer_offsets", 16, 30000));
    /* every insert into event_log refused, as a revoked privilege would */
    CU_ASSERT_EQUAL_FATAL(
        cwt_pg_exec(&db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                         "RAISE EXCEPTION 'permission denied for table event_log' USING ERRCODE "
                         "= '42501'; END $$; CREATE TRIGGER refuse BEFORE INSERT ON event_log "
                         "FOR EACH ROW EXECUTE FUNCTION refuse()"),
        0);
    CU_ASSERT_EQUAL(open_case(&broker, "perm-case-1", T0), 0);
    CU_ASSERT_FATAL(wait_log(logp, "batch transaction failed: .42501.", 20000));
    sleep(10);
    int failures = grep_count(logp, "batch transaction failed: .42501.");
    /* 200, 400, 800, 1600, 3200, 3200 ms: about 6 in 10 s; every 500 ms would be 20 */
    fprintf(stderr, "%d failed attempts in about 10 s\n", failures);
    CU_ASSERT(failures >= 3 && failures <= 9);
    CU_ASSERT(grep_count(logp, "retrying in [23][0-9][0-9][0-9] ms") > 0);
    CU_ASSERT_TRUE(cwt_daemon_alive(d));
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&db, "DROP TRIGGER refuse ON event_log"), 0);
    CU_ASSERT(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM event_log WHERE case_id = "
                                      "'perm-case-1'",
                                 1, 20000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
}

/* ---------------------------------------------------------------- 11. statement_timeout */

static void test_statement_timeout_named(void)
{
    cwt_pg_t db;
    other_db(&db, "stimeout");
    char cfg[600], logp[600];
    /* migrate it first, so the schema is current */
    write_cfg(cfg, sizeof(cfg), "stimeout", &db, &broker, "stimeout", NULL, 0);
    pid_t d = start(cfg, "stimeout", logp, sizeof(logp), NULL);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db, "SELECT count(*) FROM group_members", 1, 30000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
    /* another session holds the migration lock; the role has a 300 ms statement_timeout */
    char cmd[1200], out[64];
    snprintf(cmd, sizeof(cmd),
             "(psql -q '%s' -c 'SET statement_timeout = 0' -c 'SELECT pg_advisory_lock(727274001), "
             "pg_sleep(6)' >/dev/null 2>&1 &)",
             db.conninfo);
    CU_ASSERT_EQUAL_FATAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_FATAL(cwt_pg_wait_scalar(&db,
                                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                       "AND objid = 727274001 AND granted",
                                       1, 10000));
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&db, "ALTER ROLE postgres IN DATABASE stimeout SET "
                                           "statement_timeout = 300"),
                          0);
    d = start(cfg, "stimeout-2", logp, sizeof(logp), NULL);
    CU_ASSERT(wait_log(logp, "checking the database schema version (before any migration) "
                             "failed .57014.",
                       10000));
    CU_ASSERT_EQUAL(grep_count(logp, "migration failed"), 0);
    CU_ASSERT_TRUE(cwt_daemon_alive(d));
    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 15000), 0);
    CU_ASSERT_EQUAL(cwt_pg_exec(&db, "ALTER ROLE postgres IN DATABASE stimeout RESET "
                                     "statement_timeout"),
                    0);
}

/* ---------------------------------------------------------------- suite */

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "misuse");
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("misuse ([G]: PostgreSQL + broker + casewatchd)", suite_init,
                               suite_clean);
    CU_add_test(s, "1: an event on the wrong partition is dead-lettered, never applied",
                test_wrong_partition_is_dead_lettered);
    CU_add_test(s, "2: topics with different partition counts are not consumed",
                test_partition_counts_must_agree);
    CU_add_test(s, "3: a member whose rule set is not the group's evaluates nothing",
                test_rule_sets_must_agree);
    CU_add_test(s, "4: another consumer group on the database is refused",
                test_another_group_refused);
    CU_add_test(s, "9: the shutdown deadline with a commit in flight exits cleanly",
                test_deadline_with_commit_in_flight);
    CU_add_test(s, "10: a permanent database error backs off", test_permanent_error_backs_off);
    CU_add_test(s, "11: a statement_timeout on the schema check says what failed",
                test_statement_timeout_named);
    return cwt_cunit_run();
}
