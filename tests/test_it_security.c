/*
 * test_it_security.c — [F] what casewatchd lets out, and with what privileges.
 *
 * The daemon runs as user nobody (setpriv), reaching PostgreSQL over TCP. Its input carries
 * personal data where it must never go further: a name and a date of birth in an unknown
 * protobuf field of a valid event, as an identifier with a space, a NUL or invalid UTF-8,
 * in an over-long identifier, in garbage bytes. After the run every place the daemon writes
 * is scanned for those markers:
 *
 *  - its log, the dead letters' reason and detail columns and the dead-letter topic's headers,
 *    the alerts topic and the metrics topic, every table but the dead letters' original bytes,
 *    and every admin API answer: none of them may hold a marker;
 *  - the dead letters' original bytes (table and topic) must still hold them: bad input is
 *    set aside whole, not lost;
 *  - identifiers that are SQL (x';DROP/ * * /TABLE/ * * /cases;--) are data: stored verbatim,
 *    tables intact.
 */
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY 86400000LL
#define T0 1704672000000LL /* 2024-01-08 00:00 UTC */

static const char *const MARKERS[] = {"Jane", "Doe", "High St", "2015-04-01", NULL};

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];
static pid_t daemon_pid = -1;
static int port, seq;

static bool wait_scalar(const char *sql, long long want, int timeout_ms)
{
    return cwt_pg_wait_scalar(&pg, sql, want, timeout_ms);
}

/* an event in text format, encoded, with extra raw bytes appended (unknown fields) */
static int send_raw(const char *key, const char *textpb, const void *extra, size_t nextra)
{
    char buf[16384];
    size_t len = 0;
    if (cwt_encode_event(textpb, buf, sizeof(buf) - nextra, &len) != 0)
        return -1;
    memcpy(buf + len, extra, nextra);
    return cwt_kcat_produce(&broker, "casewatch.case-events", key, buf, len + nextra);
}

static int send_event(const char *case_id, long long at, const char *payload)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "event_id: \"sec-%d\" case_id: \"%s\" occurred_at: %lld source: \"test\" "
             "schema_version: 1 %s",
             ++seq, case_id, at, payload);
    return send_raw(case_id, text, NULL, 0); /* keyed as producers must ([G] 1) */
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "security");
    chmod(tmp, 0755); /* nobody reads the config in it */
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    /* one partition per input topic: the event clock is per partition ([L]) and this suite
     * lets time pass for one case with an event of another */
    static const char *const topics[] = {"casewatch.case-events:1", "casewatch.hearing-events:1",
                                         "casewatch.dead-letters:4", "casewatch.alerts:4",
                                         "casewatch.metrics:1", NULL};
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, topics) || (port = cwt_free_port()) <= 0)
        return -1;
    cwt_pg_t tcp = pg; /* over TCP: the socket directory is the postgres user's */
    snprintf(tcp.conninfo, sizeof(tcp.conninfo),
             "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg.port);
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[daemon]\nclock = event\nallowed_lateness_ms = 0\nbatch_max_wait_ms = 10\n"
             "metrics_interval_ms = 500\n[admin]\nlisten = 127.0.0.1:%d\n",
             port);
    if (cwt_write_config(cfg_path, &tcp, &broker, NULL, extra))
        return -1;
    chmod(cfg_path, 0644);
    setenv("CWT_DAEMON_WRAPPER", "setpriv --reuid=65534 --regid=65534 --clear-groups --", 1);
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    unsetenv("CWT_DAEMON_WRAPPER");
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

static void test_runs_unprivileged(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    bool found = false;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "Uid:", 4)) {
            unsigned r, e, s, fs;
            CU_ASSERT_EQUAL(sscanf(line + 4, "%u %u %u %u", &r, &e, &s, &fs), 4);
            CU_ASSERT(r == 65534 && e == 65534 && s == 65534 && fs == 65534);
            found = true;
        }
    fclose(f);
    CU_ASSERT(found);
    char cmd[700], out[64];
    snprintf(cmd, sizeof(cmd), "grep -c 'running as root' %s", log_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_EQUAL(atoi(out), 0);
}

static void test_personal_data_goes_nowhere(void)
{
    /* a valid event carrying personal data in an unknown field (tag 1000, length-delimited) */
    const char unknown[] = "\xc2\x3e\x24"
                           "Jane Doe, born 2015-04-01, 1 High St";
    CU_ASSERT_EQUAL(send_raw("S1",
                             "event_id: \"sec-a\" case_id: \"S1\" occurred_at: 1704672000000 "
                             "source: \"test\" schema_version: 1 case_opened { case_type: "
                             "CASE_TYPE_PUBLIC_LAW_S31_CARE court_area: \"essex\" service_area: "
                             "\"osa\" child_ids: \"k1\" }",
                             unknown, sizeof(unknown) - 1),
                    0);
    CU_ASSERT_EQUAL(send_event("S1", T0 + 3600000,
                               "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w1\" }"),
                    0);
    /* personal data where identifiers go: rejected without being echoed */
    CU_ASSERT_EQUAL(send_event("S2", T0 + 2, "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                                             "court_area: \"Jane Doe\" service_area: \"osa\" "
                                             "child_ids: \"k2\" }"),
                    0);
    CU_ASSERT_EQUAL(send_event("Jane Doe 2015-04-01", T0 + 3,
                               "child_seen { child_id: \"k1\" in_person: true }"),
                    0);
    CU_ASSERT_EQUAL(send_event("S3", T0 + 4, "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                                             "court_area: \"kent\" service_area: \"osa\" "
                                             "child_ids: \"Jane\\000Doe\" }"),
                    0);
    CU_ASSERT_EQUAL(send_event("S4", T0 + 5, "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH "
                                             "court_area: \"\\377\\376JaneDoe\" service_area: "
                                             "\"osa\" child_ids: \"k4\" }"),
                    0);
    char longid[1200] = "JaneDoe2015-04-01";
    memset(longid + strlen(longid), 'x', 1000);
    char payload[1400];
    snprintf(payload, sizeof(payload), "child_seen { child_id: \"%s\" in_person: true }", longid);
    CU_ASSERT_EQUAL(send_event("S1", T0 + 6, payload), 0);
    const char garbage[] = "\x0a\x05Jane Doe lives at 1 High St, born 2015-04-01";
    CU_ASSERT_EQUAL(cwt_kcat_produce(&broker, "casewatch.case-events", "g", garbage,
                                     sizeof(garbage) - 1),
                    0);
    /* SQL as an identifier: data */
    CU_ASSERT_EQUAL(send_event("x';DROP/**/TABLE/**/cases;--", T0 + 7,
                               "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                               "\"kent\" service_area: \"osa\" child_ids: \"k5\" }"),
                    0);
    /* time passes: S1's child is not seen, an alert fires (and is published) */
    CU_ASSERT_EQUAL(send_event("S9", T0 + 15 * DAY,
                               "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                               "\"kent\" service_area: \"osa\" child_ids: \"k9\" }"),
                    0);
    CU_ASSERT(wait_scalar("SELECT count(*) FROM dead_letters", 6, 30000));
    CU_ASSERT(wait_scalar("SELECT count(*) FROM alert_outbox WHERE dedup_key = "
                          "'child_not_seen|S1|k1' AND sent_at IS NOT NULL",
                          1, 30000));
    CU_ASSERT(wait_scalar("SELECT count(*) FROM dead_letters WHERE published_at IS NOT NULL", 6,
                          30000));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM cases WHERE case_id = "
                                       "'x'';DROP/**/TABLE/**/cases;--'"),
                    1);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM cases WHERE case_id = 'S1' AND "
                                       "status = 'open'"),
                    1);
    sleep(1); /* a metric snapshot or two */

    /* nowhere: the tables (as text; bytea as raw bytes) but the dead letters' originals */
    for (int m = 0; MARKERS[m]; m++) {
        char sql[2048];
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM cases c WHERE c::text LIKE '%%%1$s%%' OR "
                 "position(convert_to('%1$s', 'UTF8') IN coalesce(c.state, '')) > 0) + "
                 "(SELECT count(*) FROM event_log e WHERE e::text LIKE '%%%1$s%%') + "
                 "(SELECT count(*) FROM alerts a WHERE a::text LIKE '%%%1$s%%') + "
                 "(SELECT count(*) FROM alert_history h WHERE h::text LIKE '%%%1$s%%') + "
                 "(SELECT count(*) FROM alert_outbox o WHERE o.alert_id || o.dedup_key || "
                 "o.msg_key LIKE '%%%1$s%%' OR position(convert_to('%1$s', 'UTF8') IN "
                 "o.payload) > 0) + "
                 "(SELECT count(*) FROM anomalies n WHERE n::text LIKE '%%%1$s%%') + "
                 "(SELECT count(*) FROM areas r WHERE r::text LIKE '%%%1$s%%') + "
                 "(SELECT count(*) FROM dead_letters d WHERE d.reason || d.detail LIKE "
                 "'%%%1$s%%')",
                 MARKERS[m]);
        long long n = cwt_pg_scalar(&pg, sql);
        if (n != 0)
            fprintf(stderr, "\nmarker \"%s\" found in %lld row(s)\n", MARKERS[m], n);
        CU_ASSERT_EQUAL(n, 0);
    }
    /* the originals keep everything: nothing of the bad input is lost */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE "
                                       "position(convert_to('Jane', 'UTF8') IN payload) > 0 OR "
                                       "position(convert_to('Jane', 'UTF8') IN msg_key) > 0"),
                    6);

    /* the log, and every topic the daemon writes (headers; values of alerts and metrics) */
    char cmd[2048], out[65536];
    for (int m = 0; MARKERS[m]; m++) {
        snprintf(cmd, sizeof(cmd), "grep -c -- '%s' %s", MARKERS[m], log_path);
        cwt_run(cmd, out, sizeof(out));
        CU_ASSERT_EQUAL(atoi(out), 0);
        snprintf(cmd, sizeof(cmd),
                 "{ kcat -C -b %1$s -t casewatch.dead-letters -e -q -f '%%h\\n'; "
                 "kcat -C -b %1$s -t casewatch.alerts -e -q -f '%%k %%h %%s\\n'; "
                 "kcat -C -b %1$s -t casewatch.metrics -e -q -f '%%k %%h %%s\\n'; } | "
                 "grep -a -c -- '%2$s'",
                 broker.bootstrap, MARKERS[m]);
        cwt_run(cmd, out, sizeof(out));
        if (atoi(out))
            fprintf(stderr, "\nmarker \"%s\" on an output topic\n", MARKERS[m]);
        CU_ASSERT_EQUAL(atoi(out), 0);
    }
    /* positive controls: the scans do read what they scan */
    snprintf(cmd, sizeof(cmd), "grep -c -- 'child_not_seen case=S1' %s", log_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT(atoi(out) >= 1);
    snprintf(cmd, sizeof(cmd),
             "{ kcat -C -b %1$s -t casewatch.alerts -e -q -f '%%k %%h %%s\\n' | grep -a -c "
             "child_not_seen; kcat -C -b %1$s -t casewatch.metrics -e -q -f '%%s\\n' | "
             "grep -a -c essex; kcat -C -b %1$s -t casewatch.dead-letters -e -q -f '%%h\\n' | "
             "grep -a -c bad_identifier; } | tr '\\n' ' '",
             broker.bootstrap);
    cwt_run(cmd, out, sizeof(out));
    int na = 0, nm = 0, nd = 0;
    CU_ASSERT_EQUAL(sscanf(out, "%d %d %d", &na, &nm, &nd), 3);
    CU_ASSERT(na >= 1 && nm >= 1 && nd >= 4);
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.dead-letters -e -q -f '%%s\\n' | grep -a -c Jane",
             broker.bootstrap);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT(atoi(out) >= 5); /* the original bytes went to the topic too */

    /* every admin answer */
    const char *paths[] = {"/alerts", "/alerts/child_not_seen%7CS1%7Ck1", "/cases/S1",
                           "/metrics", "/report", "/report/areas", "/silences", "/readyz", NULL};
    for (int i = 0; paths[i]; i++) {
        cwt_http_resp_t r = cwt_http("GET", port, paths[i], NULL, NULL, 10000);
        CU_ASSERT_EQUAL(r.status, 200);
        for (int m = 0; MARKERS[m] && r.body; m++)
            if (strstr(r.body, MARKERS[m])) {
                fprintf(stderr, "\nmarker \"%s\" in %s\n", MARKERS[m], paths[i]);
                CU_FAIL("personal data in an admin answer");
            }
        cwt_http_free(&r);
    }
    /* and the daemon is still running */
    CU_ASSERT(cwt_daemon_alive(daemon_pid));
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("security", suite_init, suite_clean);
    CU_add_test(s, "the daemon runs as nobody", test_runs_unprivileged);
    CU_add_test(s, "personal data in the input goes nowhere", test_personal_data_goes_nowhere);
    return cwt_cunit_run();
}
