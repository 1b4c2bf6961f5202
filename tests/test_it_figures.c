/*
 * test_it_figures.c — [B]'s proof: a generated event log (realistic lifecycles, with
 * duplicates, reordering, late events and garbage mixed in) streams through casewatchd, which
 * is killed with SIGKILL mid-stream and restarted; then every board figure that
 * `casewatch-report --json` prints equals the one computed independently from the same log by
 * tests/reference/figures.py (Python, sharing no code with the daemon) — nationally and for
 * every court area. Metric snapshots must reach the metrics topic.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600], logfile[600], as_of[16];
static pid_t daemon_pid = -1;

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "figures");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    snprintf(logfile, sizeof(logfile), "%s/events.bin", tmp);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(as_of, sizeof(as_of), "%Y-%m-%d", &tm);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    return cwt_write_config(cfg_path, &pg, &broker, NULL,
                            "[daemon]\nbatch_max_wait_ms = 20\nmetrics_interval_ms = 1000\n");
}

static json_object *run_json(const char *cmd)
{
    size_t cap = 64 << 20;
    char *out = malloc(cap);
    size_t len = 0;
    int rc = cwt_run_capture(cmd, out, cap - 1, &len);
    out[len] = '\0';
    json_object *j = rc == 0 ? json_tokener_parse(out) : NULL;
    if (!j)
        fprintf(stderr, "command failed or printed no JSON (rc %d): %s\n", rc, cmd);
    free(out);
    return j;
}

/* Compare every figure of the reference's scope with the report's; returns mismatches. */
static int compare_scope(json_object *ref, json_object *rep, const char *scope)
{
    json_object *rf, *pf;
    if (!json_object_object_get_ex(ref, "figures", &rf) ||
        !json_object_object_get_ex(rep, "figures", &pf))
        return 1;
    int bad = 0, compared = 0;
    size_t nr = json_object_array_length(rf), np = json_object_array_length(pf);
    for (size_t i = 0; i < nr; i++) {
        json_object *a = json_object_array_get_idx(rf, i), *an, *at, *av;
        json_object_object_get_ex(a, "name", &an);
        json_object_object_get_ex(a, "case_type", &at);
        json_object_object_get_ex(a, "value", &av);
        const char *name = json_object_get_string(an), *type = json_object_get_string(at);
        json_object *match = NULL;
        for (size_t k = 0; k < np && !match; k++) {
            json_object *b = json_object_array_get_idx(pf, k), *bn, *bt;
            json_object_object_get_ex(b, "name", &bn);
            json_object_object_get_ex(b, "case_type", &bt);
            if (!strcmp(json_object_get_string(bn), name) &&
                !strcmp(json_object_get_string(bt), type))
                match = b;
        }
        compared++;
        if (!match) {
            fprintf(stderr, "%s: %s/%s missing from the report\n", scope, name, type);
            bad++;
            continue;
        }
        json_object *bv = NULL;
        json_object_object_get_ex(match, "value", &bv);
        bool ok;
        if (!av || !bv)
            ok = !av && !bv;
        else
            ok = fabs(json_object_get_double(av) - json_object_get_double(bv)) < 1e-9;
        if (!ok) {
            fprintf(stderr, "%s: %s/%s: reference %s, casewatch %s\n", scope, name, type,
                    av ? json_object_to_json_string(av) : "null",
                    bv ? json_object_to_json_string(bv) : "null");
            bad++;
        }
    }
    /* the prioritised areas agree too */
    json_object *ra, *pa;
    if (json_object_object_get_ex(ref, "areas_prioritised", &ra) &&
        json_object_object_get_ex(rep, "areas_prioritised", &pa) &&
        strcmp(json_object_to_json_string(ra), json_object_to_json_string(pa))) {
        fprintf(stderr, "%s: prioritised areas differ: %s vs %s\n", scope,
                json_object_to_json_string(ra), json_object_to_json_string(pa));
        bad++;
    }
    CU_ASSERT(compared > 300);
    return bad;
}

static long long topic_total(void)
{
    int a = cwt_kcat_count(&broker, "casewatch.case-events", 60000);
    int b = cwt_kcat_count(&broker, "casewatch.hearing-events", 60000);
    return a < 0 || b < 0 ? -1 : (long long)a + b;
}

static void test_report_equals_reference(void)
{
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(daemon_pid > 0);

    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "exec " CW_BINARY_DIR "/casewatch-gen --seed 7 --days 365 --warmup-days 730 "
             "--scale 0.04 --end-date %s --kafka %s --out-file %s --dup-rate 0.01 "
             "--reorder-rate 0.01 --late-rate 0.005 --bad-rate 0.001 > %s/gen.out 2>&1",
             as_of, broker.bootstrap, logfile, tmp);
    pid_t gen = fork();
    CU_ASSERT_FATAL(gen >= 0);
    if (gen == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* kill -9 the daemon once events are flowing; the restart must reload exactly */
    for (int i = 0; i < 600; i++) {
        if (cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log") > 5000)
            break;
        usleep(100000);
    }
    fprintf(stderr, "\nkill -9 with %lld events stored\n",
            cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log"));
    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGKILL, 5000), 128 + SIGKILL);
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(daemon_pid > 0);

    int status;
    CU_ASSERT_EQUAL_FATAL(waitpid(gen, &status, 0), gen);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        char p[700];
        snprintf(p, sizeof(p), "%s/gen.out", tmp);
        cwt_dump_file(p);
    }
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* caught up when the stored offsets reach the end of both topics */
    long long total = topic_total();
    CU_ASSERT_FATAL(total > 0);
    long long stored = -1;
    for (int i = 0; i < 1200; i++) {
        stored = cwt_pg_scalar(&pg, "SELECT coalesce(sum(next_offset), 0) FROM "
                                    "consumer_offsets WHERE next_offset > 0");
        if (stored == total)
            break;
        usleep(250000);
    }
    fprintf(stderr, "%lld messages on the topics, %lld consumed and stored\n", total, stored);
    CU_ASSERT_EQUAL_FATAL(stored, total);
    CU_ASSERT(cwt_pg_scalar(&pg, "SELECT count(*) FROM dead_letters") > 0);

    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 " CW_SOURCE_DIR "/tests/reference/figures.py %s --as-of %s "
             "--all-scopes",
             logfile, as_of);
    json_object *ref = run_json(cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    json_object *nat, *areas;
    CU_ASSERT_FATAL(json_object_object_get_ex(ref, "national", &nat));
    CU_ASSERT_FATAL(json_object_object_get_ex(ref, "areas", &areas));

    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatch-report -c %s --as-of %s --json",
             cfg_path, as_of);
    json_object *rep = run_json(cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    int bad = compare_scope(nat, rep, "national");
    json_object_put(rep);
    int nareas = 0;
    json_object_object_foreach(areas, name, aref)
    {
        snprintf(cmd, sizeof(cmd),
                 CW_BINARY_DIR "/casewatch-report -c %s --as-of %s --json --area %s", cfg_path,
                 as_of, name);
        json_object *arep = run_json(cmd);
        CU_ASSERT_PTR_NOT_NULL_FATAL(arep);
        bad += compare_scope(aref, arep, name);
        json_object_put(arep);
        nareas++;
    }
    fprintf(stderr, "compared national and %d court areas: %d mismatch(es)\n", nareas, bad);
    CU_ASSERT(nareas >= 10);
    CU_ASSERT_EQUAL(bad, 0);
    json_object_put(ref);

    /* the text report renders */
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatch-report -c %s --as-of %s", cfg_path,
             as_of);
    char out[16384];
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "open children's cases"));

    /* metric snapshots reach the metrics topic and decode as MetricsSnapshot */
    CU_ASSERT(cwt_kcat_count(&broker, "casewatch.metrics", 20000) > 0);
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.metrics -c 1 -e -q -f '%%s' -k national | "
             "protoc --decode=casewatch.v1.MetricsSnapshot -I " CW_SOURCE_DIR "/proto "
             CW_SOURCE_DIR "/proto/casewatch/v1/metrics.proto | grep -c 'name: \"open_cases\"'",
             broker.bootstrap);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);

    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGTERM, 10000), 0);
    if (CU_get_number_of_failures())
        cwt_dump_file(log_path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("figures (generated log, daemon vs independent reference)",
                               suite_init, NULL);
    CU_add_test(s, "casewatch report equals the reference for every figure and area, "
                   "through a kill -9",
                test_report_equals_reference);
    return cwt_cunit_run();
}
