/*
 * test_it_prometheus.c — casewatch watched by Prometheus ([M]).
 *
 *  1. deploy/prometheus/: `promtool check config`, `promtool check rules` and
 *     `promtool test rules casewatch-rules.test.yml` (each rule fires on what it is for, not
 *     before its `for:`, not on a healthy series).
 *  2. Debian's real Prometheus (2.42), started by the test on a free loopback port with a
 *     temp storage dir, scrapes a running casewatchd (private PostgreSQL, embedded broker)
 *     every second and evaluates the shipped rules (their `for:` durations shortened to 2 s in
 *     the test's copy, nothing else changed): the target is up and casewatch_ready is 1; with
 *     casewatchd's PostgreSQL stopped CasewatchNotReady fires (and CasewatchDown does not: the
 *     daemon still serves /metrics); with PostgreSQL back it resolves.
 *
 * Fails loudly when prometheus or promtool is missing (tests/run-all.sh installs them).
 */
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RULES_DIR CW_SOURCE_DIR "/deploy/prometheus"

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];
static int admin_port, prom_port;
static pid_t daemon_pid = -1, prom_pid = -1;

static void test_promtool(void)
{
    char out[8192];
    int rc = cwt_run("promtool check config " RULES_DIR "/prometheus.yml 2>&1", out, sizeof(out));
    if (rc)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    rc = cwt_run("promtool check rules " RULES_DIR "/casewatch-rules.yml 2>&1", out, sizeof(out));
    if (rc)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "SUCCESS: 7 rules found"));
    rc = cwt_run("cd " RULES_DIR " && promtool test rules casewatch-rules.test.yml 2>&1", out,
                 sizeof(out));
    if (rc)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "SUCCESS"));
}

/* Prometheus's HTTP API answer for path, or NULL (the caller frees) */
static char *prom_get(const char *path)
{
    cwt_http_resp_t r = cwt_http("GET", prom_port, path, NULL, NULL, 5000);
    char *body = r.status == 200 && r.body ? strdup(r.body) : NULL;
    cwt_http_free(&r);
    return body;
}

/* wait until GET path's body contains want (and, if not NULL, lacks unwanted) */
static bool prom_wait(const char *path, const char *want, const char *unwanted, int timeout_ms)
{
    char *last = NULL;
    for (int waited = 0; waited <= timeout_ms; waited += 250) {
        free(last);
        last = prom_get(path);
        if (last && strstr(last, want) && (!unwanted || !strstr(last, unwanted))) {
            free(last);
            return true;
        }
        usleep(250000);
    }
    fprintf(stderr, "\nprometheus %s: wanted %s%s%s; last answer: %.1500s\n", path, want,
            unwanted ? " without " : "", unwanted ? unwanted : "", last ? last : "(none)");
    free(last);
    return false;
}

static void test_scraped_not_ready_fires_and_resolves(void)
{
    CU_ASSERT_FATAL(prom_pid > 0);
    /* scraped: up, and the readiness gauge the rule reads */
    CU_ASSERT(prom_wait("/api/v1/query?query=up%7Bjob%3D%22casewatch%22%7D", "\"1\"]", NULL,
                        30000));
    CU_ASSERT(prom_wait("/api/v1/query?query=casewatch_ready", "\"1\"]", NULL, 30000));
    CU_ASSERT(prom_wait("/api/v1/rules", "\"name\":\"CasewatchNotReady\"", NULL, 10000));
    CU_ASSERT(prom_wait("/api/v1/alerts", "\"alerts\":[]", NULL, 10000));

    fprintf(stderr, "\nstopping casewatchd's PostgreSQL\n");
    CU_ASSERT_EQUAL_FATAL(cwt_pg_immediate_stop(&pg), 0);
    CU_ASSERT(prom_wait("/api/v1/alerts", "\"alertname\":\"CasewatchNotReady\"", NULL, 60000));
    CU_ASSERT(prom_wait("/api/v1/alerts", "\"state\":\"firing\"", NULL, 30000));
    char *alerts = prom_get("/api/v1/alerts");
    CU_ASSERT_PTR_NOT_NULL(alerts);
    CU_ASSERT_PTR_NULL(alerts ? strstr(alerts, "CasewatchDown") : "x"); /* still scraped */
    free(alerts);
    CU_ASSERT(cwt_daemon_alive(daemon_pid));

    fprintf(stderr, "starting it again\n");
    CU_ASSERT_EQUAL_FATAL(cwt_pg_restart(&pg), 0);
    CU_ASSERT(prom_wait("/api/v1/query?query=casewatch_ready", "\"1\"]", NULL, 60000));
    CU_ASSERT(prom_wait("/api/v1/alerts", "\"alerts\":[]", NULL, 30000));
    CU_ASSERT(cwt_daemon_alive(daemon_pid));
}

static int start_prometheus(void)
{
    char cmd[4096], out[2048];
    /* the shipped rules with every `for:` at 2 s */
    snprintf(cmd, sizeof(cmd),
             "sed -E 's/^( +for:) .*/\\1 2s/' " RULES_DIR "/casewatch-rules.yml > %s/rules.yml && "
             "printf 'global:\\n  scrape_interval: 1s\\n  evaluation_interval: 1s\\n"
             "rule_files:\\n  - %s/rules.yml\\nscrape_configs:\\n  - job_name: casewatch\\n"
             "    static_configs:\\n      - targets: [\"127.0.0.1:%d\"]\\n' > %s/prometheus.yml",
             tmp, tmp, admin_port, tmp);
    if (cwt_run(cmd, out, sizeof(out)) != 0) {
        fprintf(stderr, "writing the Prometheus config failed: %s\n", out);
        return -1;
    }
    if ((prom_port = cwt_free_port()) <= 0)
        return -1;
    char listen[64], cfgarg[700], storage[700], logp[600];
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", prom_port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s/prometheus.yml", tmp);
    snprintf(storage, sizeof(storage), "--storage.tsdb.path=%s/tsdb", tmp);
    snprintf(logp, sizeof(logp), "%s/prometheus.log", tmp);
    prom_pid = fork();
    if (prom_pid == 0) {
        FILE *f = freopen(logp, "w", stderr);
        (void)f;
        dup2(2, 1);
        execlp("prometheus", "prometheus", cfgarg, storage, listen, (char *)NULL);
        perror("exec prometheus");
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        usleep(100000);
        int st;
        if (waitpid(prom_pid, &st, WNOHANG) == prom_pid) {
            fprintf(stderr, "prometheus exited (is it installed? tests/run-all.sh installs it)\n");
            cwt_dump_file(logp);
            prom_pid = -1;
            return -1;
        }
        cwt_http_resp_t r = cwt_http("GET", prom_port, "/-/ready", NULL, NULL, 1000);
        bool ok = r.status == 200;
        cwt_http_free(&r);
        if (ok)
            return 0;
    }
    fprintf(stderr, "prometheus did not become ready in 20 s\n");
    cwt_dump_file(logp);
    return -1;
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "prometheus");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    if ((admin_port = cwt_free_port()) <= 0)
        return -1;
    char extra[256];
    snprintf(extra, sizeof(extra), "[admin]\nlisten = 127.0.0.1:%d\n", admin_port);
    if (cwt_write_config(cfg_path, &pg, &broker, NULL, extra))
        return -1;
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (daemon_pid <= 0 ||
        !cwt_pg_wait_scalar(&pg, "SELECT count(*) > 0 FROM consumer_offsets", 1, 30000))
        return -1;
    return start_prometheus();
}

static int suite_clean(void)
{
    if (prom_pid > 0) {
        kill(prom_pid, SIGTERM);
        waitpid(prom_pid, NULL, 0);
    }
    if (daemon_pid > 0 && cwt_daemon_stop(daemon_pid, SIGTERM, 15000) != 0)
        cwt_dump_file(log_path);
    cwt_broker_stop(&broker);
    cwt_pg_stop(&pg);
    char cmd[600], out[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    cwt_run(cmd, out, sizeof(out));
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite u = CU_add_suite("prometheus rules (promtool)", NULL, NULL);
    CU_add_test(u, "check config, check rules, test rules", test_promtool);
    CU_pSuite s = CU_add_suite("prometheus scraping casewatchd", suite_init, suite_clean);
    CU_add_test(s, "scraped; CasewatchNotReady fires with PostgreSQL down and resolves",
                test_scraped_not_ready_fires_and_resolves);
    return cwt_cunit_run();
}
