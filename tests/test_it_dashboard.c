/*
 * test_it_dashboard.c — [M] the operator's first hour with a year of data loaded: the quick
 * start's calibrated year (casewatch-gen seed 42, two years of warm-up history and one window
 * year at 1/25 of national volume, ~130k events with duplicates, reorders, late events and
 * garbage) streamed through casewatchd on the event clock, against a private PostgreSQL and
 * the embedded broker (8 + 8 partitions), then:
 *  - the firing count GET /alerts answers (total, by severity) is the one SQL counts, and the
 *    page is far bigger than one API page (hundreds firing);
 *  - the dashboard in headless Chromium (tests/browser/dashboard_check.py, no trigger): the
 *    header's counts equal GET /alerts, no horizontal overflow at 1440x900 nor at 390x844,
 *    every visible alert shows its rule and an Acknowledge button, rows at most 120 px tall
 *    on the phone; both screenshots kept in the build dir (dashboard-year.png,
 *    dashboard-year-phone.png);
 *  - a restart on the event clock (no new events) serves the same /report: as of the log's
 *    last day (never 1970), the same open cases; /readyz ready;
 *  - a restart on the wall clock serves the same number of open cases (time passing closes
 *    no case), as of today.
 */
#include "cwfaults.h"
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "it-dashboard-token-0123456789"
/* the quick start's year, ending on a day that is not today (so the two clocks differ),
 * published as fast as it goes */
#define AS_OF "2025-11-28"
#define GEN_ARGS                                                                                   \
    "--seed 42 --days 365 --warmup-days 730 --scale 0.04 --end-date " AS_OF " --dup-rate 0.005 "     \
    "--reorder-rate 0.005 --late-rate 0.002 --bad-rate 0.0005 --asap"

static const char *const TOPICS[] = {"casewatch.case-events:8",  "casewatch.hearing-events:8",
                                     "casewatch.dead-letters:4", "casewatch.alerts:4",
                                     "casewatch.metrics:1",      NULL};

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];
static pid_t daemon_pid = -1;
static int port;
static bool loaded;

static cwt_http_resp_t get(const char *path)
{
    return cwt_http("GET", port, path, TOKEN, NULL, 10000);
}

/* the daemon's config on clock ("event" or "wall") */
static int write_config(const char *clock)
{
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[daemon]\nclock = %s\nallowed_lateness_ms = 0\nmetrics_interval_ms = 1000\n"
             "[admin]\nlisten = 127.0.0.1:%d\ntoken = " TOKEN "\n",
             clock, port);
    return cwt_write_config(cfg_path, &pg, &broker, "cwt-dashboard", extra);
}

/* start the daemon and wait (60 s) until /readyz says ready */
static bool start_ready(void)
{
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (daemon_pid <= 0)
        return false;
    for (int i = 0; i < 600; i++) {
        usleep(100000);
        if (!cwt_daemon_alive(daemon_pid))
            return false;
        cwt_http_resp_t r = cwt_http("GET", port, "/readyz", TOKEN, NULL, 2000);
        bool ready = r.status == 200;
        cwt_http_free(&r);
        if (ready)
            return true;
    }
    fprintf(stderr, "casewatchd not ready after 60 s (log: %s)\n", log_path);
    return false;
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "dashboard");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, TOPICS))
        return -1;
    if ((port = cwt_free_port()) <= 0 || write_config("event"))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    if (daemon_pid > 0 && cwt_daemon_alive(daemon_pid))
        cwt_daemon_stop(daemon_pid, SIGKILL, 5000);
    cwt_broker_stop(&broker);
    cwt_pg_stop(&pg);
    return 0;
}

/* a number after "key": in a JSON text (first occurrence), -1 if absent */
static long long json_num(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = body ? strstr(body, pat) : NULL;
    return p ? atoll(p + strlen(pat)) : -1;
}

/* /report's as_of and its all-types open_cases object, as one comparable string (NULL: not
 * served) */
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

static long long open_cases(const char *head)
{
    const char *v = head ? strstr(head, "\"value\":") : NULL;
    return v ? atoll(v + 8) : -1;
}

static void test_year_loaded(void)
{
    CU_ASSERT_FATAL(start_ready());
    char cmd[2048], glog[600];
    snprintf(glog, sizeof(glog), "%s/gen.log", tmp);
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatch-gen " GEN_ARGS " --kafka %s > %s 2>&1",
             broker.bootstrap, glog);
    int rc = cwt_run(cmd, NULL, 0);
    if (rc != 0)
        cwt_dump_file(glog);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* every message read and stored (the offsets at the topics' ends), then one more metrics
     * snapshot for the area and worker rules */
    CU_ASSERT_FATAL(cwf_wait_caught_up(&pg, &broker, 240000));
    sleep(3);
    long long events = cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log");
    long long firing = cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE state = 'firing'");
    fprintf(stderr, "\na year loaded: %lld events, %lld alerts firing\n", events, firing);
    CU_ASSERT(events > 100000);
    CU_ASSERT(firing > 500); /* far more than a page (200) */
    loaded = true;
}

static void test_api_counts_the_whole_set(void)
{
    CU_ASSERT_FATAL(loaded);
    cwt_http_resp_t r = get("/alerts?state=firing&limit=5");
    CU_ASSERT_EQUAL_FATAL(r.status, 200);
    long long sql = cwt_pg_scalar(&pg, "SELECT count(*) FROM alerts WHERE state = 'firing'");
    CU_ASSERT_EQUAL(json_num(r.body, "total"), sql);
    CU_ASSERT_EQUAL(json_num(r.body, "count"), 5);
    const char *sev = strstr(r.body, "\"by_severity\":");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sev);
    long long crit = cwt_pg_scalar(
        &pg, "SELECT count(*) FROM alerts WHERE state = 'firing' AND severity = 'critical'");
    CU_ASSERT_EQUAL(json_num(sev, "critical"), crit);
    cwt_http_free(&r);
}

static void test_dashboard_with_a_year(void)
{
    CU_ASSERT_FATAL(loaded);
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof(cmd),
             "python3 " CW_SOURCE_DIR "/tests/browser/dashboard_check.py --url "
             "http://127.0.0.1:%d/ --token " TOKEN " --screenshot " CW_BINARY_DIR
             "/dashboard-year.png --phone-screenshot " CW_BINARY_DIR
             "/dashboard-year-phone.png --min-firing 500 --timeout 120 2>&1",
             port);
    int rc = cwt_run(cmd, out, sizeof(out));
    fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "layout OK at 1440x900"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "layout OK at 390x844"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "dashboard_check OK"));
    struct stat st;
    CU_ASSERT_EQUAL(stat(CW_BINARY_DIR "/dashboard-year.png", &st), 0);
    CU_ASSERT_EQUAL(stat(CW_BINARY_DIR "/dashboard-year-phone.png", &st), 0);
}

static void test_restarts(void)
{
    CU_ASSERT_FATAL(loaded);
    char *before = report_head();
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT(strncmp(before, AS_OF, 10) == 0); /* the event clock: the log's last day */
    long long open = open_cases(before);
    CU_ASSERT(open > 1000);

    /* the event clock: the same /report, not the epoch */
    CU_ASSERT_EQUAL_FATAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    CU_ASSERT_FATAL(start_ready());
    char *after = report_head();
    CU_ASSERT_PTR_NOT_NULL(after);
    if (after && strcmp(after, before)) {
        fprintf(stderr, "\n/report before the restart: %s\n          after: %s\n", before,
                after);
        CU_FAIL("a restart on the event clock changed what /report serves");
    }
    free(after);

    /* the wall clock: as of today, the same open cases */
    CU_ASSERT_EQUAL_FATAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    CU_ASSERT_EQUAL_FATAL(write_config("wall"), 0);
    CU_ASSERT_FATAL(start_ready());
    char *wall = report_head();
    CU_ASSERT_PTR_NOT_NULL(wall);
    char today[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(today, sizeof(today), "%Y-%m-%d", &tm);
    CU_ASSERT(wall && strncmp(wall, today, 10) == 0);
    CU_ASSERT_EQUAL(open_cases(wall), open);
    fprintf(stderr, "\nrestarts: event clock %s\n           wall clock %s\n", before,
            wall ? wall : "(none)");
    free(wall);
    free(before);
    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    daemon_pid = -1;
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("dashboard with a year loaded", suite_init, suite_clean);
    CU_add_test(s, "the quick start's year streamed in", test_year_loaded);
    CU_add_test(s, "GET /alerts counts the whole firing set", test_api_counts_the_whole_set);
    CU_add_test(s, "dashboard at 1440x900 and 390x844", test_dashboard_with_a_year);
    CU_add_test(s, "restarts on the event and the wall clock", test_restarts);
    return cwt_cunit_run();
}
