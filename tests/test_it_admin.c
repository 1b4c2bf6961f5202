/*
 * test_it_admin.c — [E] casewatchd's admin HTTP API end to end, against a private PostgreSQL
 * and the embedded broker, on the event clock with hand-made events:
 *
 *  - authentication: with a token, every endpoint but / and /healthz answers 401 without it
 *    or with a wrong one; a configuration listening beyond loopback without a token is
 *    refused at startup with file:line;
 *  - /healthz, /readyz (PostgreSQL, partitions, lag), /metrics (Prometheus text: events by
 *    kind, dead letters by reason, histograms, lag per partition, alerts by rule, reloads);
 *  - /alerts with filters, /alerts/{key} with history and audit, ack/unack/assign/comment
 *    (and their 400/404), /silences create/list/expire, /cases/{id} with open deadlines,
 *    /report, /report?area=, /report/areas;
 *  - /events: an alert raised after the stream opened arrives on it;
 *  - reload from the API: a good file is applied (a rule threshold), a bad one is refused
 *    with file:line and the daemon keeps its old configuration (its old token still works);
 *  - the dashboard in headless Chromium (tests/browser/dashboard_check.py): figures and
 *    charts shown, an alert raised after the page loaded appears live, acknowledged from the
 *    page; a screenshot is left in the build directory.
 */
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "it-admin-token-0123456789"
#define DAY   86400000LL
#define T0    1704672000000LL /* 2024-01-08 00:00 UTC, a Monday */

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600], base_ini[2048];
static pid_t daemon_pid = -1;
static int port, seq;

static int send_event(const char *case_id, long long at_ms, const char *payload)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "event_id: \"adm-%d\" case_id: \"%s\" occurred_at: %lld source: \"test\" "
             "schema_version: 1 %s",
             ++seq, case_id, at_ms, payload);
    return cwt_publish_event(&broker, "casewatch.case-events", case_id, text);
}

static void publish(const char *case_id, long long at_ms, const char *payload)
{
    CU_ASSERT_EQUAL_FATAL(send_event(case_id, at_ms, payload), 0);
}

static bool wait_scalar(const char *sql, long long want, int timeout_ms)
{
    return cwt_pg_wait_scalar(&pg, sql, want, timeout_ms);
}

static cwt_http_resp_t get(const char *path)
{
    return cwt_http("GET", port, path, TOKEN, NULL, 10000);
}

static cwt_http_resp_t post(const char *path, const char *body)
{
    return cwt_http("POST", port, path, TOKEN, body, 10000);
}

/* status and that the body contains every needle (NULL-terminated) */
static bool answers(cwt_http_resp_t r, int status, ...)
{
    bool ok = r.status == status;
    va_list ap;
    va_start(ap, status);
    for (const char *n; (n = va_arg(ap, const char *));)
        if (!r.body || !strstr(r.body, n)) {
            fprintf(stderr, "\nmissing %s\n", n);
            ok = false;
        }
    va_end(ap);
    if (!ok)
        fprintf(stderr, "\nHTTP %d: %.2000s\n", r.status, r.body ? r.body : "");
    cwt_http_free(&r);
    return ok;
}

static void write_ini(const char *extra)
{
    FILE *f = fopen(cfg_path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "%s\n%s\n", base_ini, extra ? extra : "");
    fclose(f);
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "admin");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    if ((port = cwt_free_port()) <= 0)
        return -1;
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[daemon]\nclock = event\nallowed_lateness_ms = 0\nbatch_max_wait_ms = 10\n"
             "metrics_interval_ms = 500\n"
             "[admin]\nlisten = 127.0.0.1:%d\ntoken = " TOKEN "\n",
             port);
    if (cwt_write_config(cfg_path, &pg, &broker, NULL, extra))
        return -1;
    FILE *f = fopen(cfg_path, "r");
    size_t n = fread(base_ini, 1, sizeof(base_ini) - 1, f);
    base_ini[n] = '\0';
    fclose(f);
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (daemon_pid <= 0 || !wait_scalar("SELECT count(*) FROM consumer_offsets", 16, 30000))
        return -1;
    int rc = 0;
    /* case A: s31 care in essex, child k1 allocated to w1 and never seen; the clock passes
     * 10 working days on another case's event: child_not_seen|A|k1 fires */
    rc |= send_event("A", T0,
                     "case_opened { case_type: CASE_TYPE_PUBLIC_LAW_S31_CARE court_area: "
                     "\"essex\" service_area: \"osa\" child_ids: \"k1\" "
                     "issued_at: 1704672000000 }");
    rc |= send_event("A", T0 + 3600000,
                     "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w1\" }");
    /* a long-running case: open for more than 52 weeks (the area chart has a bar) */
    rc |= send_event("OLD", T0 - 400 * DAY,
                     "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WAFH court_area: "
                     "\"essex\" service_area: \"osa\" child_ids: \"o1\" }");
    rc |= send_event("B", T0 + 7200000,
                     "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                     "\"kent\" service_area: \"osa\" child_ids: \"b1\" }");
    rc |= send_event("Z", T0 + 15 * DAY,
                     "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: "
                     "\"kent\" service_area: \"osa\" child_ids: \"z1\" }");
    if (rc)
        return -1;
    char garbage[] = "\x0a\xff\xff\xff not a protobuf";
    if (cwt_kcat_produce(&broker, "casewatch.case-events", "G", garbage, sizeof(garbage) - 1))
        return -1;
    if (!wait_scalar("SELECT count(*) FROM alerts WHERE dedup_key = 'child_not_seen|A|k1' "
                     "AND state = 'firing'",
                     1, 30000) ||
        !wait_scalar("SELECT count(*) FROM dead_letters", 1, 30000))
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

static void test_authentication(void)
{
    CU_ASSERT(answers(cwt_http("GET", port, "/healthz", NULL, NULL, 5000), 200, "\"ok\"", NULL));
    CU_ASSERT(
        answers(cwt_http("GET", port, "/", NULL, NULL, 5000), 200, "<html", "casewatch", NULL));
    const char *paths[] = {"/readyz",  "/metrics", "/alerts",       "/alerts/x", "/silences",
                           "/cases/A", "/report",  "/report/areas", "/events",   NULL};
    for (int i = 0; paths[i]; i++) {
        cwt_http_resp_t r = cwt_http("GET", port, paths[i], NULL, NULL, 5000);
        CU_ASSERT_EQUAL(r.status, 401);
        CU_ASSERT_PTR_NOT_NULL(r.headers && strstr(r.headers, "WWW-Authenticate: Bearer"));
        cwt_http_free(&r);
        r = cwt_http("GET", port, paths[i], "it-admin-token-0123456788", NULL, 5000);
        CU_ASSERT_EQUAL(r.status, 401);
        cwt_http_free(&r);
    }
    CU_ASSERT(answers(cwt_http("POST", port, "/reload", NULL, "{}", 5000), 401, NULL));
    CU_ASSERT(answers(cwt_http("POST", port, "/alerts/x/ack", "short", "{}", 5000), 401, NULL));
    /* beyond loopback without a token: refused at startup, with file:line */
    char bad[700], cmd[2400], out[2048];
    snprintf(bad, sizeof(bad), "%s/open.ini", tmp);
    FILE *f = fopen(bad, "w");
    fprintf(f, "%s\n[admin]\nlisten = 0.0.0.0:%d\n", base_ini, port + 1);
    fclose(f);
    /* the base holds a token: drop it (the last [admin] wins key by key, so rewrite) */
    snprintf(cmd, sizeof(cmd),
             "sed -i '/^token = /d' %s && " CW_BINARY_DIR
             "/casewatchd --check-config -c %s 2>&1; echo rc=$?",
             bad, bad);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "open.ini:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[admin] listen: 0.0.0.0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "token"));
}

static void test_health_and_metrics(void)
{
    CU_ASSERT(answers(get("/readyz"), 200, "\"ready\":true", "\"postgres\":{\"ok\":true}",
                      "\"owned\":16", NULL));
    /* lag comes from librdkafka statistics (every 5 s) */
    bool lag = false;
    for (int i = 0; i < 100 && !lag; i++) {
        cwt_http_resp_t r = get("/metrics");
        lag = r.body && strstr(r.body, "casewatch_consumer_lag_messages{topic=\"casewatch.case-"
                                       "events\",partition=\"");
        cwt_http_free(&r);
        if (!lag)
            usleep(100000);
    }
    CU_ASSERT(lag);
    cwt_http_resp_t r = get("/metrics");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(r.headers && strstr(r.headers, "text/plain; version=0.0.4"));
    const char *want[] = {
        "# TYPE casewatch_events_applied_total counter",
        "casewatch_events_applied_total{kind=\"case_opened\"} 4",
        "casewatch_events_applied_total{kind=\"allocated\"} 1",
        "casewatch_dead_letters_total{reason=\"undecodable\"} 1",
        "# TYPE casewatch_batch_events histogram",
        "casewatch_batch_events_bucket{le=\"+Inf\"}",
        "casewatch_commit_seconds_count",
        "casewatch_alerts{rule=\"child_not_seen\",family=\"safeguarding\",severity=\"critical\","
        "state=\"firing\"} 1",
        "casewatch_reloads_total{outcome=\"success\"}",
        "casewatch_reloads_total{outcome=\"failure\"}",
        "casewatch_publisher_queue_messages",
        "casewatch_postgres_up 1",
        "casewatch_partitions_owned 16",
        NULL};
    for (int i = 0; want[i]; i++) {
        if (!r.body || !strstr(r.body, want[i])) {
            fprintf(stderr, "\n/metrics lacks: %s\n", want[i]);
            CU_FAIL("a metric is missing");
        }
    }
    cwt_http_free(&r);
}

static void test_alerts_and_actions(void)
{
    CU_ASSERT(answers(get("/alerts?state=firing&family=safeguarding"), 200,
                      "\"dedup_key\":\"child_not_seen|A|k1\"", "\"court_area\":\"essex\"",
                      "\"severity\":\"critical\"", NULL));
    cwt_http_resp_t r = get("/alerts?family=delay&area=essex");
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NULL(r.body ? strstr(r.body, "child_not_seen") : "x");
    cwt_http_free(&r);
    CU_ASSERT(answers(get("/alerts?state=burning"), 400, "state", NULL));
    CU_ASSERT(answers(get("/alerts?limit=0"), 400, "limit", NULL));
    /* SQL metacharacters are data, not SQL */
    CU_ASSERT(answers(get("/alerts?area=x%27%3B%20DROP%20TABLE%20alerts%3B--"), 200, "\"count\":0",
                      NULL));
    const char *key = "/alerts/child_not_seen%7CA%7Ck1";
    CU_ASSERT(answers(get(key), 200, "\"alert\":{", "\"history\":[{", "\"to_state\":\"firing\"",
                      "\"cause_topic\":\"casewatch.case-events\"", "\"actions\":[]", NULL));
    CU_ASSERT(answers(get("/alerts/no%7Csuch"), 404, "no alert", NULL));

    char path[256];
    snprintf(path, sizeof(path), "%s/ack", key);
    CU_ASSERT(answers(post(path, "{\"comment\":\"on it\"}"), 400, "\\\"by\\\" is required", NULL));
    CU_ASSERT(answers(post(path, "not json"), 400, "JSON", NULL));
    CU_ASSERT(answers(post("/alerts/no%7Csuch/ack", "{\"by\":\"ops-1\"}"), 404, NULL));
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-1\",\"comment\":\"on it\"}"), 200, "\"ok\":true",
                      "\"action\":\"ack\"", NULL));
    snprintf(path, sizeof(path), "%s/assign", key);
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-1\"}"), 400, "\\\"to\\\" is required", NULL));
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-1\",\"to\":\"sw-7\"}"), 200, NULL));
    snprintf(path, sizeof(path), "%s/comment", key);
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-2\",\"text\":\"called the team\"}"), 200, NULL));
    snprintf(path, sizeof(path), "%s/frobnicate", key);
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-2\"}"), 404, NULL));
    CU_ASSERT(answers(get(key), 200, "\"acknowledged\":true", "\"acknowledged_by\":\"ops-1\"",
                      "\"assignee\":\"sw-7\"", "\"action\":\"acknowledge\"",
                      "\"action\":\"assign\"", "\"action\":\"comment\"",
                      "\"detail\":\"called the team\"", NULL));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_actions"), 3);
    snprintf(path, sizeof(path), "%s/unack", key);
    CU_ASSERT(answers(post(path, "{\"by\":\"ops-1\"}"), 200, NULL));
    CU_ASSERT(
        answers(get(key), 200, "\"acknowledged\":false", "\"action\":\"unacknowledge\"", NULL));
}

static void test_silences(void)
{
    CU_ASSERT(answers(post("/silences", "{\"by\":\"ops-1\",\"minutes\":0}"), 400, "minutes", NULL));
    CU_ASSERT(answers(post("/silences", "{\"by\":\"ops-1\",\"minutes\":30,\"rule\":\"nope\"}"), 400,
                      "rule", NULL));
    CU_ASSERT(answers(post("/silences", "{\"minutes\":30}"), 400, "\\\"by\\\"", NULL));
    CU_ASSERT(answers(post("/silences", "{\"by\":\"ops-1\",\"minutes\":30,\"rule\":"
                                        "\"open_52_weeks\",\"court_area\":\"kent\","
                                        "\"comment\":\"known backlog\"}"),
                      201, "\"ok\":true", "\"id\":1", "\"ends_at\":\"", NULL));
    CU_ASSERT(answers(get("/silences"), 200, "\"rule\":\"open_52_weeks\"",
                      "\"court_area\":\"kent\"", "\"created_by\":\"ops-1\"", NULL));
    CU_ASSERT(answers(cwt_http("DELETE", port, "/silences/1", TOKEN, NULL, 5000), 400, "by", NULL));
    CU_ASSERT(answers(cwt_http("DELETE", port, "/silences/1?by=ops-1", TOKEN, NULL, 5000), 200,
                      "\"ok\":true", NULL));
    CU_ASSERT(
        answers(cwt_http("DELETE", port, "/silences/1?by=ops-1", TOKEN, NULL, 5000), 404, NULL));
    CU_ASSERT(answers(post("/silences/abc/expire", "{\"by\":\"ops-1\"}"), 400, NULL));
    CU_ASSERT(answers(get("/silences"), 200, "\"silences\":[]", NULL));
}

static void test_cases_and_report(void)
{
    CU_ASSERT(answers(get("/cases/A"), 200, "\"case_id\":\"A\"", "\"court_area\":\"essex\"",
                      "\"source\":\"memory\"", "\"deadlines\":[", "\"rule\":\"care_26_weeks\"",
                      "\"alerts\":[{", "child_not_seen", NULL));
    CU_ASSERT(answers(get("/cases/nope"), 404, NULL));
    CU_ASSERT(answers(get("/report"), 200, "\"as_of\":\"2024-01-23\"", "\"scope\":\"national\"",
                      "{\"name\":\"open_cases\",\"case_type\":\"all\",\"value\":4}", NULL));
    CU_ASSERT(answers(get("/report?area=essex&as_of=2024-02-01"), 200, "\"as_of\":\"2024-02-01\"",
                      "\"scope\":\"essex\"",
                      "{\"name\":\"open_cases\",\"case_type\":\"all\",\"value\":2}", NULL));
    CU_ASSERT(answers(get("/report?as_of=yesterday"), 400, "YYYY-MM-DD", NULL));
    CU_ASSERT(answers(get("/report/areas"), 200,
                      "{\"area\":\"essex\",\"open_cases\":2,\"open_52w_cases\":1,",
                      "{\"area\":\"kent\",\"open_cases\":2,", NULL));
    CU_ASSERT(answers(get("/nothing/here"), 404, NULL));
}

static void test_live_stream(void)
{
    int fd = cwt_sse_open(port, "/events", TOKEN);
    CU_ASSERT_FATAL(fd >= 0);
    char buf[65536] = "";
    CU_ASSERT(cwt_sse_wait(fd, "event: hello", buf, sizeof(buf), 5000));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "text/event-stream"));
    /* case C: allocated, child never seen; Z's event 15 days later passes its deadline */
    publish("C", T0 + 16 * DAY,
            "case_opened { case_type: CASE_TYPE_PUBLIC_LAW_S31_CARE "
            "court_area: \"essex\" service_area: \"osa\" child_ids: \"c1\" }");
    publish("C", T0 + 16 * DAY + 1000,
            "allocated { target: ALLOCATION_TARGET_WORKER "
            "worker_id: \"w2\" }");
    publish("Z", T0 + 31 * DAY, "child_added { child_id: \"z2\" }");
    CU_ASSERT(cwt_sse_wait(fd, "\"dedup_key\":\"child_not_seen|C|c1\"", buf, sizeof(buf), 20000));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "event: alert\ndata: {"));
    cwt_http_resp_t r = get("/metrics");
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "casewatch_sse_clients 1"));
    cwt_http_free(&r);
    close(fd);
}

static void test_reload(void)
{
    /* good: a rule threshold changes; the answer says which keys need a restart */
    char extra[256];
    snprintf(extra, sizeof(extra),
             "[rule.child_not_seen]\nthreshold = 12\n[topics]\n"
             "metrics = casewatch.metrics-2\n");
    write_ini(extra);
    CU_ASSERT(answers(post("/reload", "{}"), 200, "\"ok\":true",
                      "\"not_applied\":\"need a restart: [topics] metrics\"", NULL));
    CU_ASSERT(
        answers(get("/metrics"), 200, "casewatch_reloads_total{outcome=\"success\"} 1", NULL));
    /* bad: a bad value and a new token; refused with file:line, the old token still works */
    FILE *f = fopen(cfg_path, "a");
    fprintf(f, "[daemon]\nbatch_max_events = lots\n[admin]\ntoken = another-token-0123456789\n");
    fclose(f);
    cwt_http_resp_t r = post("/reload", "{}");
    CU_ASSERT_EQUAL(r.status, 422);
    char where[700];
    snprintf(where, sizeof(where), "%s:", cfg_path);
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, where));
    CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "batch_max_events"));
    cwt_http_free(&r);
    CU_ASSERT(
        answers(get("/metrics"), 200, "casewatch_reloads_total{outcome=\"failure\"} 1", NULL));
    CU_ASSERT(answers(cwt_http("GET", port, "/alerts", "another-token-0123456789", NULL, 5000), 401,
                      NULL));
    /* an invalid rule file is a failed reload too */
    write_ini("[rule.child_not_seen]\nthreshold = -3\n");
    CU_ASSERT(answers(post("/reload", "{}"), 422, "child_not_seen", NULL));
    /* SIGHUP goes the same way */
    write_ini(NULL);
    CU_ASSERT_EQUAL(kill(daemon_pid, SIGHUP), 0);
    bool done = false;
    for (int i = 0; i < 50 && !done; i++) {
        r = get("/metrics");
        done = r.body && strstr(r.body, "casewatch_reloads_total{outcome=\"success\"} 2");
        cwt_http_free(&r);
        usleep(100000);
    }
    CU_ASSERT(done);
    CU_ASSERT(cwt_daemon_alive(daemon_pid));
}

static void test_dashboard_in_chromium(void)
{
    struct stat st;
    if (stat("/usr/bin/chromium", &st) || stat("/usr/bin/chromedriver", &st)) {
        CU_FAIL("Debian's chromium and chromium-driver are needed (apt-get install -y chromium "
                "chromium-driver; tests/run-all.sh installs them)");
        return;
    }
    /* the trigger: case D's child goes unseen past its deadline while the page is open */
    char text[1024], d1[600], d2[600], d3[600], trig[4096], cmd[8192], out[8192];
    const char *evs[3] = {
        "case_opened { case_type: CASE_TYPE_PUBLIC_LAW_S31_CARE court_area: \"essex\" "
        "service_area: \"osa\" child_ids: \"d1\" }",
        "allocated { target: ALLOCATION_TARGET_WORKER worker_id: \"w3\" }",
        "child_added { child_id: \"z3\" }"};
    const char *cases[3] = {"D", "D", "Z"};
    long long at[3] = {T0 + 32 * DAY, T0 + 32 * DAY + 1000, T0 + 47 * DAY};
    char *files[3] = {d1, d2, d3};
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "event_id: \"adm-browser-%d\" case_id: \"%s\" occurred_at: %lld source: "
                 "\"test\" schema_version: 1 %s",
                 i, cases[i], at[i], evs[i]);
        char bin[8192];
        size_t len;
        CU_ASSERT_EQUAL_FATAL(cwt_encode_event(text, bin, sizeof(bin), &len), 0);
        snprintf(files[i], 600, "%s/trigger-%d.bin", tmp, i);
        FILE *f = fopen(files[i], "wb");
        fwrite(bin, 1, len, f);
        fclose(f);
    }
    snprintf(trig, sizeof(trig),
             "kcat -P -q -b %s -t casewatch.case-events -k D %s %s && sleep 1 && "
             "kcat -P -q -b %s -t casewatch.case-events -k Z %s",
             broker.bootstrap, d1, d2, broker.bootstrap, d3);
    snprintf(cmd, sizeof(cmd),
             "python3 " CW_SOURCE_DIR "/tests/browser/dashboard_check.py --url "
             "http://127.0.0.1:%d/ --token " TOKEN " --screenshot " CW_BINARY_DIR
             "/dashboard.png --trigger '%s' --expect-key 'child_not_seen|D|d1' --timeout 90 2>&1",
             port, trig);
    int rc = cwt_run(cmd, out, sizeof(out));
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "dashboard_check OK"));
    CU_ASSERT_EQUAL(stat(CW_BINARY_DIR "/dashboard.png", &st), 0);
    /* the page's Acknowledge went through the API into the audit trail */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM alert_actions WHERE dedup_key = "
                                       "'child_not_seen|D|d1' AND action = 'acknowledge'"),
                    1);
}

/* clients that hang up before their answer (a database query in flight, a stream) leave
 * nothing behind: no crash, no leak (the ASan build runs this suite) */
static void test_hang_ups(void)
{
    const char *paths[] = {"/report", "/alerts", "/events", "/alerts/child_not_seen%7CA%7Ck1",
                           "/cases/OLD", NULL};
    for (int round = 0; round < 10; round++)
        for (int i = 0; paths[i]; i++) {
            int fd = cwt_sse_open(port, paths[i], TOKEN);
            CU_ASSERT(fd >= 0);
            if (round % 2) { /* half of them after a moment, half at once */
                char buf[256] = "";
                cwt_sse_wait(fd, "never", buf, sizeof(buf), 20);
            }
            close(fd);
        }
    usleep(500000);
    CU_ASSERT(answers(get("/report"), 200, "\"scope\":\"national\"", NULL));
    CU_ASSERT(answers(get("/metrics"), 200, "casewatch_sse_clients 0", NULL));
}

/* last: TERM stops it cleanly (under ASan: no leak, no error at exit) */
static void test_clean_stop(void)
{
    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    char cmd[700], out[64];
    snprintf(cmd, sizeof(cmd), "grep -c 'AddressSanitizer\\|runtime error' %s", log_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_EQUAL(atoi(out), 0);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("admin", suite_init, suite_clean);
    CU_add_test(s, "authentication", test_authentication);
    CU_add_test(s, "health and metrics", test_health_and_metrics);
    CU_add_test(s, "alerts and actions", test_alerts_and_actions);
    CU_add_test(s, "silences", test_silences);
    CU_add_test(s, "cases and report", test_cases_and_report);
    CU_add_test(s, "live stream", test_live_stream);
    CU_add_test(s, "reload", test_reload);
    CU_add_test(s, "dashboard in chromium", test_dashboard_in_chromium);
    CU_add_test(s, "clients hanging up", test_hang_ups);
    CU_add_test(s, "stops cleanly", test_clean_stop);
    return cwt_cunit_run();
}
