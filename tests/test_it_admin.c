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
 *    page; a screenshot is left in the build directory;
 *  - [G] misuse: a refused /events client is closed; invalid UTF-8 ids are a 400 before any
 *    SQL; an unknown /report area is a 404; disagreeing Content-Length headers are a 400 and
 *    close the connection; a token readable by others is a warning (refused with --strict);
 *    a descriptor limit without room for PostgreSQL and Kafka stops startup; then, restarted
 *    with 512 descriptors and 32 connections: idle, kept-alive and trickling requests time out,
 *    at the cap the oldest unfinished request is closed, and a 600-socket slowloris while
 *    events flow and PostgreSQL drops the daemon's connections leaves ingest committing,
 *    /healthz prompt, the CPU idle and the log small.
 */
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
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
    /* one partition per input topic: the event clock is per partition ([L]) and this suite
     * lets time pass for one case with events of others */
    static const char *const topics[] = {"casewatch.case-events:1", "casewatch.hearing-events:1",
                                         "casewatch.dead-letters:4", "casewatch.alerts:4",
                                         "casewatch.metrics:1", NULL};
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, topics))
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
    if (daemon_pid <= 0 || !wait_scalar("SELECT count(*) FROM consumer_offsets", 2, 30000))
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
                           "/cases/A", "/report",  "/report/areas", "/events",
                           "/history/behind", NULL};
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
                      "\"owned\":2", NULL));
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
        "casewatch_partitions_owned 2",
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
                      "\"total\":0", NULL));
    /* [M] counts come from the whole set, not the page: a page of one still says how many */
    {
        char want[64], wcrit[64];
        snprintf(want, sizeof(want), "\"total\":%lld",
                 cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE state = 'firing'"));
        snprintf(wcrit, sizeof(wcrit), "\"critical\":%lld",
                 cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE state = 'firing' AND "
                                      "severity = 'critical'"));
        CU_ASSERT(answers(get("/alerts?state=firing&limit=1"), 200, "\"count\":1", want, wcrit,
                          "\"by_family\":{", "\"by_area\":[{\"court_area\":", NULL));
    }
    const char *key = "/alerts/child_not_seen%7CA%7Ck1";
    /* fired by the clock alone at its due time: no cause event ([L]) */
    CU_ASSERT(answers(get(key), 200, "\"alert\":{", "\"history\":[{", "\"to_state\":\"firing\"",
                      "\"rule\":\"child_not_seen\"", "\"actions\":[]", NULL));
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
    /* [L] the "while behind" summary: per rule, what was recorded as history */
    CU_ASSERT(answers(get("/history/behind"), 200, "\"hours\":24", "\"rules\":[", NULL));
    CU_ASSERT(answers(get("/history/behind?hours=0"), 400, "hours", NULL));
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
             "/dashboard.png --phone-screenshot " CW_BINARY_DIR
             "/dashboard-phone.png --trigger '%s' --expect-key 'child_not_seen|D|d1' --timeout 90 "
             "2>&1",
             port, trig);
    int rc = cwt_run(cmd, out, sizeof(out));
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "dashboard_check OK"));
    CU_ASSERT_EQUAL(stat(CW_BINARY_DIR "/dashboard.png", &st), 0);
    CU_ASSERT_EQUAL(stat(CW_BINARY_DIR "/dashboard-phone.png", &st), 0);
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

/* ------------------------------------------------------------------ [G] misuse */

/* a raw request on its own connection; the text received until the server closed it or
 * timeout_ms passed; returns 1 if it closed the connection */
static int raw_request(const char *request, char *out, size_t outsz, int timeout_ms)
{
    out[0] = '\0';
    int fd = cwt_tcp_connect(port, 0);
    if (fd < 0)
        return -1;
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    int closed = cwt_wait_closed(fd, out, outsz, timeout_ms);
    close(fd);
    return closed;
}

/* a refused stream is answered 503 and its connection closed, although the client asked to
 * keep it alive */
static void test_refused_stream_is_closed(void)
{
    int fds[32], n = 0;
    for (; n < 32; n++) { /* [admin] sse_max_clients = 32 (the default) */
        char buf[4096] = "";
        fds[n] = cwt_sse_open(port, "/events", TOKEN);
        CU_ASSERT_FATAL(fds[n] >= 0);
        CU_ASSERT(cwt_sse_wait(fds[n], "event: hello", buf, sizeof(buf), 5000));
    }
    char out[4096];
    int closed = raw_request("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Authorization: Bearer " TOKEN "\r\n\r\n",
                             out, sizeof(out), 3000);
    CU_ASSERT_EQUAL(closed, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTP/1.1 503"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "sse_max_clients"));
    for (int i = 0; i < n; i++)
        close(fds[i]);
    /* the streams are gone: one is accepted again */
    bool again = false;
    for (int i = 0; i < 50 && !again; i++) {
        cwt_http_resp_t r = get("/metrics");
        again = r.body && strstr(r.body, "casewatch_sse_clients 0");
        cwt_http_free(&r);
        if (!again)
            usleep(100000);
    }
    CU_ASSERT(again);
}

static void test_hostile_requests(void)
{
    /* invalid UTF-8 in a case id: refused before any SQL (no "database error") */
    const char *bad[] = {"/cases/%FF%FE", "/cases/a%C3%28", "/cases/%C0%AF", "/cases/%ED%A0%80",
                         "/cases/%F4%90%80%80", "/cases/a%09b", NULL};
    for (int i = 0; bad[i]; i++) {
        cwt_http_resp_t r = get(bad[i]);
        if (r.status != 400 || !r.body || !strstr(r.body, "UTF-8"))
            fprintf(stderr, "\n%s: HTTP %d %s\n", bad[i], r.status, r.body ? r.body : "");
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT_PTR_NOT_NULL(r.body && strstr(r.body, "printable UTF-8"));
        CU_ASSERT_PTR_NULL(r.body ? strstr(r.body, "database") : NULL);
        cwt_http_free(&r);
    }
    /* well-formed UTF-8 is an id like any other: looked up, not there */
    CU_ASSERT(answers(get("/cases/%C3%A9t%C3%A9"), 404, "no case", NULL));
    CU_ASSERT(answers(get("/alerts/%FF"), 400, "UTF-8", NULL));
    CU_ASSERT(answers(get("/alerts?area=%FF"), 400, "UTF-8", NULL));
    /* an area no table names is not a scope of zeros */
    CU_ASSERT(answers(get("/report?area=atlantis"), 404, "no court area", NULL));
    CU_ASSERT(answers(get("/report?area=%FF"), 400, "UTF-8", NULL));
    CU_ASSERT(answers(get("/report?area=kent"), 200, "\"scope\":\"kent\"", NULL));
    /* two Content-Length headers that disagree: 400, and the connection is closed */
    char out[4096];
    int closed = raw_request("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                             "Content-Length: 5\r\n\r\n",
                             out, sizeof(out), 3000);
    CU_ASSERT_EQUAL(closed, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTP/1.1 400"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "conflicting Content-Length"));
    closed = raw_request("POST /silences HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization: Bearer " TOKEN "\r\n"
                         "Content-Length: 30\r\nContent-Length: 2\r\n\r\n"
                         "{\"by\":\"x\",\"minutes\":5}        ",
                         out, sizeof(out), 3000);
    CU_ASSERT_EQUAL(closed, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTP/1.1 400"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "conflicting Content-Length"));
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM silences WHERE created_by = 'x'"), 0);
    /* the same length twice is one length */
    closed = raw_request("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         "Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
                         out, sizeof(out), 3000);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTP/1.1 200"));
}

/* a token in a file others can read: a warning, or with --strict a refusal */
static void test_token_readable_by_others(void)
{
    /* the suite's own config holds the token and was written 0644 */
    char cmd[2400], out[4096];
    snprintf(cmd, sizeof(cmd), "grep -c 'readable by every user' %s", log_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT(atoi(out) >= 1);
    char ini[700];
    snprintf(ini, sizeof(ini), "%s/exposed.ini", tmp);
    FILE *f = fopen(ini, "w");
    fprintf(f, "%s\n", base_ini);
    fclose(f);
    chmod(ini, 0644);
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatchd --check-config -c %s 2>&1; echo rc=$?",
             ini);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: [admin] token:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "exposed.ini holds the bearer token"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=0"));
    /* --strict: refused, by --check-config and at startup (before connecting anywhere) */
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatchd --strict --check-config -c %s 2>&1; echo rc=$?", ini);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused (--strict): [admin] token:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=2"));
    snprintf(cmd, sizeof(cmd),
             "timeout 20 " CW_BINARY_DIR "/casewatchd --strict -c %s 2>&1; echo rc=$?", ini);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cannot start (--strict)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=2"));
    chmod(ini, 0600);
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatchd --strict --check-config -c %s 2>&1; echo rc=$?", ini);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NULL(strstr(out, "[admin] token:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=0"));
    if (!strstr(out, "rc=0"))
        fprintf(stderr, "\n%s\n", out);
}

/* the admin's connections cannot eat the descriptors PostgreSQL and Kafka need */
static void test_descriptor_reserve(void)
{
    char cmd[2400], out[4096];
    /* 64 connections (the default) + 256 kept back do not fit in 200 */
    snprintf(cmd, sizeof(cmd),
             "prlimit --nofile=200:200 " CW_BINARY_DIR "/casewatchd --check-config -c %s 2>&1; "
             "echo rc=$?; timeout 20 prlimit --nofile=200:200 " CW_BINARY_DIR
             "/casewatchd -c %s 2>&1; echo rc=$?",
             cfg_path, cfg_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "descriptor limit (RLIMIT_NOFILE, hard limit included) "
                                       "is 200, below [admin] max_connections (64) + 256"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cannot start: the descriptor limit"));
    CU_ASSERT_PTR_NULL(strstr(out, "rc=0"));
    /* a low soft limit is raised to the hard one */
    snprintf(cmd, sizeof(cmd),
             "prlimit --nofile=100:400 " CW_BINARY_DIR "/casewatchd --check-config -c %s 2>&1; "
             "echo rc=$?",
             cfg_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rc=0"));
}

/* the rest runs against a daemon with 512 descriptors, 32 admin connections and 2 s to send
 * a request */
#define ABUSE_CONNS      32
#define ABUSE_TIMEOUT_MS 2000
#define ABUSE_NOFILE     512

/* the part of /report a restart must serve unchanged ([M]: the event clock is restored from
 * PostgreSQL, never the epoch): as_of and the headline figures' values */
static char *report_head(void)
{
    cwt_http_resp_t r = get("/report");
    char *out = NULL;
    const char *a = r.body ? strstr(r.body, "\"as_of\":\"") : NULL;
    const char *o = r.body ? strstr(r.body, "{\"name\":\"open_cases\",\"case_type\":\"all\"") : NULL;
    if (r.status == 200 && a && o) {
        const char *oe = strchr(o, '}');
        size_t n = (size_t)(oe - o) + 1;
        out = malloc(32 + n);
        snprintf(out, 32 + n, "%.20s %.*s", a + 9, (int)n, o);
    }
    cwt_http_free(&r);
    return out;
}

static void test_restart_with_limits(void)
{
    char *head_before = report_head();
    CU_ASSERT_PTR_NOT_NULL_FATAL(head_before);
    CU_ASSERT_PTR_NULL(strstr(head_before, "1970"));
    CU_ASSERT_EQUAL_FATAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    char extra[256], wrap[1024];
    snprintf(extra, sizeof(extra),
             "[admin]\nmax_connections = %d\nrequest_timeout_ms = %d\nsse_max_clients = 4\n",
             ABUSE_CONNS, ABUSE_TIMEOUT_MS);
    write_ini(extra);
    const char *w = getenv("CWT_DAEMON_WRAPPER");
    char *saved = w ? strdup(w) : NULL;
    snprintf(wrap, sizeof(wrap), "prlimit --nofile=%d:%d %s", ABUSE_NOFILE, ABUSE_NOFILE,
             saved ? saved : "");
    setenv("CWT_DAEMON_WRAPPER", wrap, 1);
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (saved)
        setenv("CWT_DAEMON_WRAPPER", saved, 1);
    else
        unsetenv("CWT_DAEMON_WRAPPER");
    free(saved);
    CU_ASSERT_FATAL(daemon_pid > 0);
    bool ready = false;
    for (int i = 0; i < 300 && !ready; i++) {
        usleep(100000);
        if (!cwt_daemon_alive(daemon_pid))
            break;
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* quietly: is it listening yet? */
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (!up)
            continue;
        cwt_http_resp_t r = get("/readyz");
        ready = r.status == 200;
        cwt_http_free(&r);
    }
    CU_ASSERT_FATAL(ready);
    /* ready means the figures it served before: as of the same day, not 1970 */
    char *head_after = report_head();
    CU_ASSERT_PTR_NOT_NULL(head_after);
    if (head_after && strcmp(head_after, head_before)) {
        fprintf(stderr, "\n/report before the restart: %s\n          after: %s\n", head_before,
                head_after);
        CU_FAIL("a restart changed what /report serves");
    }
    free(head_before);
    free(head_after);
    char cmd[700], out[256];
    snprintf(cmd, sizeof(cmd), "grep -c 'descriptors: limit %d, of which at most %d' %s",
             ABUSE_NOFILE, ABUSE_CONNS, log_path);
    cwt_run(cmd, out, sizeof(out));
    CU_ASSERT(atoi(out) >= 1);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* an idle connection, a kept-alive one after its answer, and one whose request trickles in
 * (a header line every 300 ms) are all closed after request_timeout_ms */
static void test_idle_and_slow_time_out(void)
{
    int idle = cwt_tcp_connect(port, 0), kept = cwt_tcp_connect(port, 0),
        slow = cwt_tcp_connect(port, 0);
    CU_ASSERT_FATAL(idle >= 0 && kept >= 0 && slow >= 0);
    long long t0 = mono_ms();
    const char *ka = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CU_ASSERT_EQUAL(send(kept, ka, strlen(ka), MSG_NOSIGNAL), (ssize_t)strlen(ka));
    char buf[4096] = "";
    CU_ASSERT(cwt_sse_wait(kept, "\"status\":\"ok\"", buf, sizeof(buf), 2000));
    const char *start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    CU_ASSERT_EQUAL(send(slow, start, strlen(start), MSG_NOSIGNAL), (ssize_t)strlen(start));
    long long slow_closed = -1;
    for (int i = 0; i < 20 && slow_closed < 0; i++) { /* 6 s of a header every 300 ms */
        char b[256] = "";
        if (cwt_wait_closed(slow, b, sizeof(b), 300))
            slow_closed = mono_ms() - t0;
        else
            send(slow, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
    }
    CU_ASSERT(slow_closed >= ABUSE_TIMEOUT_MS - 300 && slow_closed <= ABUSE_TIMEOUT_MS + 1500);
    buf[0] = '\0';
    CU_ASSERT_EQUAL(cwt_wait_closed(idle, buf, sizeof(buf), 3000), 1);
    CU_ASSERT_EQUAL(buf[0], '\0'); /* closed without an answer */
    buf[0] = '\0';
    CU_ASSERT_EQUAL(cwt_wait_closed(kept, buf, sizeof(buf), 3000), 1);
    if (slow_closed < 0 || slow_closed > ABUSE_TIMEOUT_MS + 1500)
        fprintf(stderr, "\nthe slow client was closed after %lld ms\n", slow_closed);
    close(idle);
    close(kept);
    close(slow);
}

/* at the cap a new connection closes the oldest one still sending its request */
static void test_cap_closes_oldest(void)
{
    int fds[ABUSE_CONNS + 8];
    for (int i = 0; i < ABUSE_CONNS + 8; i++) {
        fds[i] = cwt_tcp_connect(port, 0);
        CU_ASSERT_FATAL(fds[i] >= 0);
        usleep(5000); /* in order */
    }
    int closed_old = 0, closed_new = 0;
    for (int i = 0; i < ABUSE_CONNS + 8; i++) {
        char b[64] = "";
        int closed = cwt_wait_closed(fds[i], b, sizeof(b), i < 8 ? 500 : 0);
        if (i < 8)
            closed_old += closed;
        else
            closed_new += closed;
    }
    CU_ASSERT_EQUAL(closed_old, 8);
    CU_ASSERT_EQUAL(closed_new, 0);
    /* and a request still gets through, at once */
    long long t = mono_ms();
    CU_ASSERT(answers(cwt_http("GET", port, "/healthz", NULL, NULL, 1000), 200, "\"ok\"", NULL));
    CU_ASSERT(mono_ms() - t < 1000);
    for (int i = 0; i < ABUSE_CONNS + 8; i++)
        close(fds[i]);
}

static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long long)st.st_size;
}

#define LORIS 600 /* more sockets than the daemon has descriptors */

/* Slowloris: 600 sockets, each sending a partial request a header line at a time and
 * reconnecting when closed, for 8 s, while events are published and PostgreSQL drops the
 * daemon's connections. Ingest continues (every event committed, the database reconnected),
 * /healthz answers at once, the daemon does not spin and its log does not fill. */
static void test_slowloris_while_ingesting(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < LORIS + 64 && rl.rlim_max >= LORIS + 64) {
        rl.rlim_cur = LORIS + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int fd[LORIS];
    bool started[LORIS] = {false}; /* its request line is sent */
    int reconnects = 0, slowest_health = 0, health_ok = 0, health_tries = 0;
    for (int i = 0; i < LORIS; i++)
        fd[i] = cwt_tcp_connect(port, 1);
    long long log0 = file_size(log_path), cpu0 = cpu_ticks(daemon_pid), t0 = mono_ms();
    int published = 0;
    bool terminated = false;
    for (int round = 0; mono_ms() - t0 < 8000; round++) {
        for (int i = 0; i < LORIS; i++) {
            if (fd[i] < 0) {
                fd[i] = cwt_tcp_connect(port, 1);
                continue;
            }
            char b[64];
            ssize_t r = recv(fd[i], b, sizeof(b), MSG_DONTWAIT);
            bool gone = r == 0 || (r < 0 && errno != EAGAIN && errno != ENOTCONN);
            if (!gone) {
                const char *text =
                    started[i] ? "X-a: b\r\n" : "GET /report HTTP/1.1\r\nHost: x\r\n";
                ssize_t w = send(fd[i], text, strlen(text), MSG_NOSIGNAL);
                gone = w < 0 && errno != EAGAIN && errno != ENOTCONN;
                started[i] = started[i] || w > 0;
            }
            if (gone) {
                close(fd[i]);
                fd[i] = cwt_tcp_connect(port, 1);
                started[i] = false;
                reconnects++;
            }
        }
        if (round % 2 == 0) {
            char id[32], text[512];
            snprintf(id, sizeof(id), "SL%d", ++published);
            snprintf(text, sizeof(text),
                     "case_opened { case_type: CASE_TYPE_PRIVATE_LAW_WTFH court_area: \"kent\" "
                     "service_area: \"osa\" child_ids: \"sl%d\" }",
                     published);
            publish(id, T0 + 60 * DAY + published * 1000LL, text);
        }
        if (round == 3 && !terminated) /* the daemon must open new database connections */
            terminated = cwt_pg_exec(&pg, "SELECT pg_terminate_backend(pid) FROM "
                                          "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                                          "backend_type = 'client backend'") == 0;
        long long h0 = mono_ms();
        cwt_http_resp_t r = cwt_http("GET", port, "/healthz", NULL, NULL, 2000);
        int took = (int)(mono_ms() - h0);
        health_tries++;
        health_ok += r.status == 200;
        if (took > slowest_health)
            slowest_health = took;
        cwt_http_free(&r);
        usleep(250000);
    }
    long long wall = mono_ms() - t0, cpu = cpu_ticks(daemon_pid) - cpu0,
              grew = file_size(log_path) - log0;
    double cpu_share = (double)cpu / (double)sysconf(_SC_CLK_TCK) / ((double)wall / 1000.0);
    fprintf(stderr, "\nslowloris: %d reconnects, /healthz %d/%d ok (slowest %d ms), daemon CPU "
                    "%.0f%%, log +%lld bytes\n",
            reconnects, health_ok, health_tries, slowest_health, 100 * cpu_share, grew);
    CU_ASSERT(terminated);
    CU_ASSERT(reconnects > LORIS); /* connections beyond the cap were closed */
    CU_ASSERT_EQUAL(health_ok, health_tries);
    CU_ASSERT(slowest_health < 1000);
    CU_ASSERT(cpu_share < 0.6);
    CU_ASSERT(grew < 65536);
    /* every event published during the attack was committed (after reconnecting) */
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM cases WHERE case_id LIKE 'SL%%'");
    CU_ASSERT(wait_scalar(sql, published, 30000));
    for (int i = 0; i < LORIS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    CU_ASSERT(answers(get("/readyz"), 200, "\"ready\":true", NULL));
    CU_ASSERT(cwt_daemon_alive(daemon_pid));
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
    CU_add_test(s, "a refused stream is closed", test_refused_stream_is_closed);
    CU_add_test(s, "bad UTF-8, unknown area, conflicting Content-Length", test_hostile_requests);
    CU_add_test(s, "a token readable by others: warning, --strict refuses",
                test_token_readable_by_others);
    CU_add_test(s, "descriptors kept for PostgreSQL and Kafka", test_descriptor_reserve);
    CU_add_test(s, "restart with 512 descriptors and 32 connections", test_restart_with_limits);
    CU_add_test(s, "idle and slow requests time out", test_idle_and_slow_time_out);
    CU_add_test(s, "at the cap the oldest unfinished request is closed", test_cap_closes_oldest);
    CU_add_test(s, "slowloris while events flow", test_slowloris_while_ingesting);
    CU_add_test(s, "stops cleanly", test_clean_stop);
    return cwt_cunit_run();
}
