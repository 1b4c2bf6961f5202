/*
 * test_it_alerts.c — [C] end to end: casewatchd on the event clock, events published with
 * protoc --encode + kcat, alerts read back from PostgreSQL and from the alerts topic with kcat.
 *
 *  - an absence rule (child not seen within 10 working days of allocation) fires from the
 *    clock alone when time passes with no event for that case, and resolves met late;
 *  - closing a case resolves its open alerts;
 *  - a silence suppresses notification while the alert is still recorded;
 *  - kill -9 between commit and publish (the alerts topic made leaderless so nothing can be
 *    delivered): after a restart every committed notification reaches the topic with its
 *    original alert_id, and nothing already firing is raised again;
 *  - the prioritisation family fires (area duty share, welfare case unallocated in a
 *    prioritised area, worker caseload) alongside safeguarding and delay;
 *  - replaying a generated log through casewatch-dryrun twice gives identical output.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];
static pid_t daemon_pid = -1;
static int seq;


static bool wait_scalar(const char *sql, long long want, int timeout_ms)
{
    return cwt_pg_wait_scalar(&pg, sql, want, timeout_ms);
}

/* Publish one event: kind body in text format, at an ISO-ish time given in ms. */
static void publish(const char *case_id, long long at_ms, const char *payload)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "event_id: \"it-%d\" case_id: \"%s\" occurred_at: %lld source: \"test\" "
             "schema_version: 1 %s",
             ++seq, case_id, at_ms, payload);
    /* keyed as producers must ([G] 1): by case_id, an area event by its court_area */
    char area[128] = "area";
    const char *a = strstr(payload, "court_area: \"");
    if (!*case_id && a)
        snprintf(area, sizeof(area), "%.*s", (int)strcspn(a + 13, "\""), a + 13);
    CU_ASSERT_EQUAL_FATAL(cwt_publish_event(&broker, "casewatch.case-events",
                                            *case_id ? case_id : area, text),
                          0);
}

#define DAY 86400000LL
#define T0 1704672000000LL /* 2024-01-08 00:00 UTC, a Monday */

static long long alert_state_count(const char *key, const char *state)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM alerts WHERE dedup_key = '%s' AND state = '%s'",
             key, state);
    return cwt_pg_scalar(&pg, sql);
}

/* notifications carrying this dedup key's alert ids on the alerts topic */
static int topic_count(const char *grep)
{
    char cmd[1024], out[64];
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.alerts -e -q -f '%%k %%h\\n' | grep -c -- '%s'",
             broker.bootstrap, grep);
    if (cwt_run(cmd, out, sizeof(out)) < 0)
        return -1;
    return atoi(out);
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "alerts");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    /* one partition per input topic: the event clock is per partition ([L]), and this suite
     * moves time for one case with events of others */
    static const char *const topics[] = {"casewatch.case-events:1", "casewatch.hearing-events:1",
                                         "casewatch.dead-letters:4", "casewatch.alerts:4",
                                         "casewatch.metrics:1", NULL};
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, topics))
        return -1;
    if (cwt_write_config(cfg_path, &pg, &broker, NULL,
                         "[daemon]\nclock = event\nallowed_lateness_ms = 0\n"
                         "batch_max_wait_ms = 10\nmetrics_interval_ms = 500\n"
                         "[rules]\nrepeat_minutes = 10080\n"
                         "[rule.worker_caseload]\nthreshold = 1\n"
                         /* one case on duty in a tiny area: below the default volume */
                         "[rule.area_duty_share]\nmin_open_cases = 0\n"))
        return -1;
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (daemon_pid <= 0 || !wait_scalar("SELECT count(*) FROM consumer_offsets", 2, 30000))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    if (daemon_pid > 0 && cwt_daemon_alive(daemon_pid))
        cwt_daemon_stop(daemon_pid, SIGTERM, 10000);
    if (CU_get_number_of_failures())
        cwt_dump_file(log_path);
    return 0;
}

static void test_absence_fires_from_the_clock(void)
{
    publish("A", T0, "case_opened { case_type: CASE_TYPE_PUBLIC_LAW_S31_CARE court_area: "
                     "\"essex\" service_area: \"osa\" child_ids: \"k1\" issued_at: 1704672000000 }");
    publish("A", T0 + 3600000, "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w1\" }");
    publish("A", T0 + 2 * 3600000, "management_oversight_recorded { manager_id: \"m1\" "
                                   "oversight_kind: OVERSIGHT_KIND_ROUTINE }");
    /* 10 working days after Monday 8 January end on Monday 22 January: due 23 Jan 00:00.
     * An event of another case on 22 January moves the clock to just before it: nothing. */
    publish("Z", T0 + 14 * DAY, "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                                "court_area: \"kent\" service_area: \"osa\" child_ids: \"z1\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM cases WHERE case_id = 'Z'", 1, 20000));
    /* pending (within the 2-day lead) lives in memory, derived from the case: no row yet */
    CU_ASSERT_EQUAL(alert_state_count("child_not_seen|A|k1", "firing"), 0);
    /* the clock passes the due time: no event for case A, yet its alert fires */
    publish("Z", T0 + 15 * DAY, "child_added { child_id: \"z2\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = 'child_not_seen|A|k1' "
                          "AND state = 'firing' AND due_at = '2024-01-23 00:00:00+00'",
                          1, 20000));
    for (int i = 0; i < 100 && topic_count("child_not_seen") < 1; i++)
        usleep(100000);
    CU_ASSERT_EQUAL(topic_count("child_not_seen"), 0); /* the key is the case; grep ids */
    /* the notification is on the topic, keyed by the case, with its alert id header */
    char sql[256], id[64];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM alert_outbox WHERE dedup_key = "
                               "'child_not_seen|A|k1' AND sent_at IS NOT NULL");
    CU_ASSERT(wait_scalar(sql, 1, 20000));
    PGconn *c = cwt_pg_connect(&pg);
    PGresult *r = PQexec(c, "SELECT alert_id FROM alert_outbox WHERE dedup_key = "
                            "'child_not_seen|A|k1'");
    CU_ASSERT_EQUAL_FATAL(PQntuples(r), 1);
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    CU_ASSERT_EQUAL(topic_count(id), 1);
    /* provenance: the clock alone fired it, so no event is named ([L]: which event happened
     * to be applied last when the clock got there depends on arrival); fired at its due time */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE dedup_key = "
                                       "'child_not_seen|A|k1' AND coalesce(cause_event_id, '') = "
                                       "'' AND firing_at = '2024-01-23 00:00:00+00'"),
                    1);
    /* seen late: resolved met_late, announced */
    publish("A", T0 + 16 * DAY, "child_seen { child_id: \"k1\" in_person: true }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = 'child_not_seen|A|k1' "
                          "AND state = 'resolved' AND resolution = 'met_late'",
                          1, 20000));
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alert_outbox WHERE dedup_key = "
                          "'child_not_seen|A|k1' AND sent_at IS NOT NULL",
                          2, 20000));
}

static void test_closing_resolves(void)
{
    /* case A is past 22 weeks (care warning) by 15 June; then it closes */
    publish("Z", T0 + 160 * DAY, "child_added { child_id: \"z3\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = "
                          "'care_26_weeks_warning|A|' AND state = 'firing'",
                          1, 20000));
    publish("A", T0 + 161 * DAY, "case_closed { outcome: CLOSE_OUTCOME_FINAL_ORDER }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE case_id = 'A' AND state <> "
                          "'resolved'",
                          0, 20000));
    /* closing is what meets the 22-week warning: met late */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE dedup_key = "
                                       "'care_26_weeks_warning|A|' AND resolution = 'met_late'"),
                    1);
}

static void test_silence_suppresses_notification(void)
{
    char cmd[1024], out[256];
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-alerts -c %s silence --rule concern_without_16a "
                           "--minutes 60 --by ops-lead --text 'known backlog'",
             cfg_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    sleep(3); /* the daemon reads silences back every 2 s */
    publish("B", T0 + 170 * DAY, "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                                 "court_area: \"kent\" service_area: \"osa\" child_ids: \"b1\" }");
    publish("B", T0 + 170 * DAY + 1000, "safeguarding_concern_raised { concern_id: \"s1\" "
                                        "concern_kind: CONCERN_KIND_NEGLECT }");
    publish("Z", T0 + 180 * DAY, "child_added { child_id: \"z4\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = "
                          "'concern_without_16a|B|s1' AND state = 'firing' AND silenced",
                          1, 20000));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_outbox WHERE dedup_key = "
                                       "'concern_without_16a|B|s1' AND silenced"),
                    1);
    sleep(1);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_outbox WHERE dedup_key = "
                                       "'concern_without_16a|B|s1' AND sent_at IS NOT NULL"),
                    0);
    /* an acknowledgement is recorded with its actor */
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-alerts -c %s ack 'concern_without_16a|B|s1' --by fca-lead",
             cfg_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_actions WHERE action = "
                                       "'acknowledge' AND actor = 'fca-lead'"),
                    1);
}

static void test_kill9_between_commit_and_publish(void)
{
    /* nothing can reach the alerts topic: its partitions have no leader */
    CU_ASSERT_EQUAL_FATAL(cwt_broker_control(&broker,
                                             "partition-leader casewatch.alerts 0 -1\n"
                                             "partition-leader casewatch.alerts 1 -1\n"
                                             "partition-leader casewatch.alerts 2 -1\n"
                                             "partition-leader casewatch.alerts 3 -1\n",
                                             10000),
                          0);
    publish("C", T0 + 200 * DAY, "case_opened { case_type: CASE_TYPE_RULE_16_4 court_area: "
                                 "\"kent\" service_area: \"osa\" child_ids: \"c1\" "
                                 "child_ids: \"c2\" }");
    publish("C", T0 + 200 * DAY + 1000,
            "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w9\" }");
    publish("Z", T0 + 240 * DAY, "child_added { child_id: \"z5\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alert_outbox o JOIN alerts a USING (dedup_key) "
                          "WHERE a.case_id = 'C' AND o.sent_at IS NULL AND NOT o.silenced",
                          4, 20000)); /* child_not_seen x2, planning meeting, oversight */
    long long firing_before = cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_history WHERE "
                                                 "to_state = 'firing' AND NOT repeat");
    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGKILL, 5000), 128 + SIGKILL);
    CU_ASSERT_EQUAL_FATAL(cwt_broker_control(&broker,
                                             "partition-leader casewatch.alerts 0 1\n"
                                             "partition-leader casewatch.alerts 1 1\n"
                                             "partition-leader casewatch.alerts 2 1\n"
                                             "partition-leader casewatch.alerts 3 1\n",
                                             10000),
                          0);
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(daemon_pid > 0);
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alert_outbox WHERE sent_at IS NULL AND NOT "
                          "silenced",
                          0, 60000));
    /* every committed notification is on the topic with its own alert id */
    PGconn *c = cwt_pg_connect(&pg);
    PGresult *r = PQexec(c, "SELECT alert_id FROM alert_outbox WHERE NOT silenced");
    int missing = 0;
    for (int i = 0; i < PQntuples(r); i++)
        if (topic_count(PQgetvalue(r, i, 0)) < 1) {
            fprintf(stderr, "alert %s not on the topic\n", PQgetvalue(r, i, 0));
            missing++;
        }
    CU_ASSERT(PQntuples(r) >= 8);
    CU_ASSERT_EQUAL(missing, 0);
    PQclear(r);
    PQfinish(c);
    /* the restart raised nothing again: still one firing transition per alert */
    publish("Z", T0 + 241 * DAY, "child_added { child_id: \"z6\" }");
    CU_ASSERT(wait_scalar("SELECT count(*) FROM cases WHERE case_id = 'Z' AND children = 6", 1,
                          20000));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_history WHERE to_state = "
                                       "'firing' AND NOT repeat"),
                    firing_before);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM (SELECT dedup_key FROM "
                                       "alert_history WHERE to_state = 'firing' AND NOT repeat "
                                       "GROUP BY 1 HAVING count(*) > 1) d"),
                    0);
}

static void test_prioritisation_family(void)
{
    publish("", T0 + 242 * DAY, "prioritisation_activated { court_area: \"london\" }");
    publish("P", T0 + 242 * DAY + 1000,
            "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: \"london\" "
            "service_area: \"osa\" child_ids: \"p1\" welfare_at_risk: true }");
    publish("Q", T0 + 242 * DAY + 2000,
            "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: \"kent\" "
            "service_area: \"osa\" child_ids: \"q1\" }");
    publish("Q", T0 + 242 * DAY + 3000,
            "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w9\" }");
    publish("Z", T0 + 250 * DAY, "child_added { child_id: \"z7\" }");
    /* welfare case unallocated in a prioritised area: 2 working days; one alert per period
     * of the area's prioritisation, named by its start (T0 + 242 days) */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = "
                          "'welfare_case_unallocated_in_prioritised_area|P|"
                          "since-2024-09-06T00:00:00.000Z' AND state = 'firing'",
                          1, 20000));
    /* london: its only open case is on duty -> duty share 100% > 5%; worker w9 holds two
     * open cases > threshold 1 (configured) — evaluated from the aggregates */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = "
                          "'area_duty_share|area:london|' AND state = 'firing' AND family = "
                          "'prioritisation'",
                          1, 20000));
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = "
                          "'worker_caseload|worker:w9|' AND state = 'firing'",
                          1, 20000));
    /* every family has fired */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(DISTINCT family) FROM alert_history h "
                                       "JOIN alerts a USING (dedup_key) WHERE to_state = 'firing'"),
                    3);
}

static void test_reload_rules(void)
{
    long long firing_before = cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_history WHERE "
                                                 "to_state = 'firing' AND NOT repeat");
    long long open52 = cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE rule = "
                                          "'open_52_weeks' AND state = 'firing'");
    /* a bad rules section is refused: the daemon keeps its rules and runs on */
    FILE *f = fopen(cfg_path, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("\n[rule.open_52_weeks]\nenabled = perhaps\n", f);
    fclose(f);
    kill(daemon_pid, SIGHUP);
    sleep(2);
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid));
    char cmd[1024], out[256];
    snprintf(cmd, sizeof(cmd), "grep -c 'rules are invalid' %s", log_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    /* now a valid change: the rule is disabled */
    snprintf(cmd, sizeof(cmd), "sed -i 's/^enabled = perhaps$/enabled = false/' %s", cfg_path);
    CU_ASSERT_EQUAL_FATAL(cwt_run(cmd, NULL, 0), 0);
    kill(daemon_pid, SIGHUP);
    if (open52 > 0)
        CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE rule = 'open_52_weeks' AND "
                              "state = 'resolved' AND resolution = 'rule_removed'",
                              open52, 20000));
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alerts WHERE rule = 'open_52_weeks' AND state "
                          "= 'firing'",
                          0, 20000));
    /* every other alert stayed as it was: nothing raised again */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_history WHERE to_state = "
                                       "'firing' AND NOT repeat"),
                    firing_before);
}

static void test_dryrun_replay_is_deterministic(void)
{
    char cmd[8192], out[128];
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-gen --seed 5 --days 90 --warmup-days 200 --scale 0.02 "
                           "--out-file %s/replay.bin > /dev/null 2>&1 && "
             CW_BINARY_DIR "/casewatch-dryrun --log %s/replay.bin --json > %s/r1.jsonl 2>/dev/null && "
             CW_BINARY_DIR "/casewatch-dryrun --log %s/replay.bin --json > %s/r2.jsonl 2>/dev/null && "
             "cmp %s/r1.jsonl %s/r2.jsonl && test -s %s/r1.jsonl && wc -l < %s/r1.jsonl",
             tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT(atoi(out) > 100);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("alerts (event clock, PostgreSQL, alerts topic)", suite_init,
                               suite_clean);
    CU_add_test(s, "an absence rule fires from the clock alone and resolves met late",
                test_absence_fires_from_the_clock);
    CU_add_test(s, "closing a case resolves its open alerts", test_closing_resolves);
    CU_add_test(s, "a silence suppresses notification; the alert is still recorded",
                test_silence_suppresses_notification);
    CU_add_test(s, "kill -9 between commit and publish: delivered after restart, same ids, "
                   "nothing raised again",
                test_kill9_between_commit_and_publish);
    CU_add_test(s, "prioritisation rules fire alongside safeguarding and delay",
                test_prioritisation_family);
    CU_add_test(s, "SIGHUP reloads rules: a bad file is refused, a disabled rule resolves, "
                   "nothing is raised again",
                test_reload_rules);
    CU_add_test(s, "dry-run replay of a generated log is byte-identical twice",
                test_dryrun_replay_is_deterministic);
    return cwt_cunit_run();
}
