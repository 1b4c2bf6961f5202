/*
 * test_it_history.c — [L] the alert history is a function of the events: one generated year
 * streamed through casewatchd in six very different ways gives, every time, exactly the
 * case-scoped transition list casewatch-dryrun computes from the log file alone.
 *
 * What is proved. On the event clock each partition's time is the newest occurred_at applied
 * from it (the minimum over the input topics' same-numbered partitions) less
 * allowed_lateness_ms, moved per event, so a case's transitions depend only on the order of
 * its own partition's log: FIRING at the due time, RESOLVED met/met_late at the meeting event's
 * occurred_at, a late-met obligation FIRING then RESOLVED met_late even inside one batch or one
 * catch-up. Nothing about delivery may show in alert_history: not the batch size, not how
 * librdkafka happens to fetch, not the pacing, not a kill -9 in the middle of a catch-up, not a
 * second consumer taking half the partitions.
 *
 * The log: the fault suite's year (casewatch-gen seed 7, two years of warm-up history and one
 * window year at 1/100 of national volume: 33,091 distinct valid events in 33,471 messages,
 * with 344 duplicates, 239 reorders, 145 events 1-14 days late and 36 garbage messages on
 * Kafka), on 8 + 8 partitions.
 * The references are computed once (tests/support/cwfaults.c): the distinct events by
 * tests/reference/figures.py, the transition list by casewatch-dryrun --partitions 8
 * --lateness-ms 3600000 with the daemon's rules file. The whole log fits batch 1 in budget, so
 * every run uses the whole log.
 *
 * Each run has a fresh database and a fresh consumer group (offsets live in PostgreSQL, so a
 * fresh database starts at the beginning of the topics):
 *  c. batch_max_events = 10000, the daemon running while casewatch-gen publishes the log as
 *     fast as it can (this publication is the one the catch-up runs below read);
 *  a. batch_max_events = 1: the log is on the topics first, then the daemon catches up, one
 *     event per transaction;
 *  b. batch_max_events = 97 (batches end anywhere), the same catch-up;
 *  e. batch_max_events = 500, kill -9 at a third and at two thirds of the catch-up, restarted
 *     each time (a fresh group, --take-over-group: the killed member's lease is still live);
 *  f. batch_max_events = 1, two daemons in one group: B joins a tenth of the way through A's
 *     catch-up and takes half the partitions from A while A is consuming (with bigger batches
 *     the catch-up is over in ~2 s, before the group's 3 s join delay has passed);
 *  d. batch_max_events = 10000, a fresh broker and the window year paced at 30 simulated days
 *     per wall second (~12 s; the warm-up history goes out at once), the daemon live.
 * After each: every valid event in event_log, the offsets at the end of the topics, the
 * history quiet for 2 s; then alert_history's firing/resolved rows (no repeats, case-scoped
 * keys: area and worker rules run on periodic snapshots the dry run has not got) equal the dry
 * run's list as a multiset of (dedup_key, state, resolution, at in ms). The first 20
 * differences (CWT_HISTORY_DIFFS=N: N) and the counts are printed: "history[RUN]: …".
 *
 * Budget: ~80 s on 2 cores at the daemon's pre-[L] speed (a and f, one transaction per event,
 * take ~17 s and ~11 s; d's paced window ~12 s); a run whose daemon has not applied the whole
 * log within CATCHUP_MS (90 s) fails, so a slow daemon costs at most ~11 minutes, inside
 * ctest's 900 s.
 * Before [L] every comparison fails: the clock moves per batch, and casewatch-dryrun does not
 * know --partitions (the suite then compares with its global-clock list, and says so).
 * CW_HISTORY_ONLY=ab runs runs a and b only (the log is published first if c did not run).
 */
#include "cwfaults.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GEN_ARGS                                                                                   \
    "--seed 7 --days 365 --warmup-days 730 --scale 0.01 --end-date 2025-11-28 "                    \
    "--dup-rate 0.01 --reorder-rate 0.01 --late-rate 0.005 --bad-rate 0.001"
#define AS_OF       "2025-11-28"
#define PARTITIONS  8
#define LATENESS_MS 3600000LL
#define PACE        (30.0 * 86400.0) /* run d: simulated seconds per wall second */
/* how long a run may take to apply the whole log: the slowest (a, f: one transaction per event)
 * catch up in ~12 s on 2 cores; a daemon far slower than that fails the run instead of holding
 * the suite past its ctest timeout */
#define CATCHUP_MS 90000

#define RULES_INI "[rules]\nrepeat_minutes = 10080\n"
/* every run: the event clock with the dry run's lateness, quick batches, the dry run's rules,
 * a short group session; the batch size is appended per run */
#define DAEMON_INI                                                                                 \
    "[daemon]\nclock = event\nallowed_lateness_ms = 3600000\nbatch_max_wait_ms = 20\n"             \
    "metrics_interval_ms = 1000\n" RULES_INI                                                       \
    "[kafka]\nsession.timeout.ms = 3000\nheartbeat.interval.ms = 300\n"                           \
    /* the log spans three years and the dry run keeps every transition: so does the daemon */  \
    "[retention]\nhistory_days = 0\n"

/* 8 + 8 input partitions, as the dry run is told */
static const char *const TOPICS[] = {"casewatch.case-events:8",  "casewatch.hearing-events:8",
                                     "casewatch.dead-letters:4", "casewatch.alerts:4",
                                     "casewatch.metrics:1",      NULL};

static cwt_pg_t server;
static cwf_ref_t ref;
static char tmp[256];
static cwt_broker_t logbroker; /* the broker the log is published to once (run c) */
static bool logbroker_up, log_published;

/* ---- one run -------------------------------------------------------------------------------- */

#define MAX_DAEMONS 2

typedef struct {
    const char *name;
    int batch;
    cwt_pg_t db;
    cwt_broker_t *broker;
    char dir[400], cfg[500], genout[500], genlog[500];
    char dlog[MAX_DAEMONS][500];
    pid_t daemon[MAX_DAEMONS];
    pid_t gen;
    struct timespec t0;
} run_t;

static run_t R;
static cwt_broker_t pacedbroker; /* run d's own broker */
static bool pacedbroker_up;

static double elapsed(const run_t *r)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - r->t0.tv_sec) + (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

/* Stop what the previous run left running (also after a failed assertion). */
static void run_cleanup(run_t *r)
{
    if (r->gen > 0) {
        kill(r->gen, SIGKILL);
        waitpid(r->gen, NULL, 0);
        r->gen = -1;
    }
    for (int i = 0; i < MAX_DAEMONS; i++)
        if (r->daemon[i] > 0) {
            if (cwt_daemon_alive(r->daemon[i]))
                cwt_daemon_stop(r->daemon[i], SIGKILL, 5000);
            r->daemon[i] = -1;
        }
}

/* stop run d's broker if it is up */
static void pacedbroker_stop(void)
{
    if (pacedbroker_up)
        cwt_broker_stop(&pacedbroker);
    pacedbroker_up = false;
}

/* the errors and warnings of the run's daemons, when something failed */
static void show_daemon_problems(const run_t *r)
{
    for (int i = 0; i < MAX_DAEMONS; i++) {
        if (access(r->dlog[i], R_OK) != 0)
            continue;
        char cmd[800];
        fprintf(stderr, "---- %s: errors and warnings (full log kept there)\n", r->dlog[i]);
        snprintf(cmd, sizeof(cmd),
                 "grep -E ' (error|warn) ' '%s' | grep -v 'running as root' | tail -30 >&2",
                 r->dlog[i]);
        (void)cwt_run(cmd, NULL, 0);
    }
}

/* the config of r (a fresh consumer group unless group is given) */
static int run_config(run_t *r, const char *group)
{
    char extra[1024];
    snprintf(extra, sizeof(extra), DAEMON_INI "[daemon]\nbatch_max_events = %d\n", r->batch);
    return cwt_write_config(r->cfg, &r->db, r->broker, group, extra);
}

/**
 * @brief Begin run name: a fresh database hx_<letter>, its directory, its config.
 * @param broker where the run reads (borrowed; logbroker or pacedbroker)
 * @returns 0, or -1 (printed).
 */
static int run_begin(run_t *r, const char *name, int batch, cwt_broker_t *broker)
{
    run_cleanup(r);
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < MAX_DAEMONS; i++)
        r->daemon[i] = -1;
    r->gen = -1;
    r->name = name;
    r->batch = batch;
    r->broker = broker;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    snprintf(r->dir, sizeof(r->dir), "%s/%s", tmp, name);
    mkdir(r->dir, 0755);
    snprintf(r->cfg, sizeof(r->cfg), "%s/casewatch.ini", r->dir);
    snprintf(r->genout, sizeof(r->genout), "%s/published.bin", r->dir);
    snprintf(r->genlog, sizeof(r->genlog), "%s/gen.log", r->dir);
    for (int i = 0; i < MAX_DAEMONS; i++)
        snprintf(r->dlog[i], sizeof(r->dlog[i]), "%s/casewatchd-%d.log", r->dir, i);
    char dbname[64];
    snprintf(dbname, sizeof(dbname), "hx_%c", name[0]);
    fprintf(stderr, "\n== run %s: batch_max_events = %d\n", name, batch);
    if (cwf_db_create(&server, dbname, &r->db))
        return -1;
    return run_config(r, NULL);
}

/* start a daemon in slot with r's config; opt: one extra option or NULL */
static pid_t run_daemon(run_t *r, int slot, const char *opt)
{
    r->daemon[slot] = cwt_daemon_start_opt(r->cfg, r->dlog[slot], opt);
    return r->daemon[slot];
}

static long long events_stored(const run_t *r)
{
    if (cwt_pg_scalar(&r->db, "SELECT to_regclass('event_log') IS NOT NULL") != 1)
        return 0;
    return cwt_pg_scalar(&r->db, "SELECT count(*) FROM event_log");
}

/**
 * @brief Wait (polling every 20 ms, to land inside a catch-up) until r's daemons have stored
 *        at least share of the log's events. @returns the count then, or -1 on timeout.
 */
static long long wait_share(run_t *r, double share, int timeout_ms)
{
    long long want = (long long)(share * (double)ref.events);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long long n = events_stored(r);
        if (n >= want)
            return n;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            fprintf(stderr, "%s: %lld events stored after %d ms, wanted %lld\n", r->name, n,
                    timeout_ms, want);
            return -1;
        }
        usleep(20000);
    }
}

/**
 * @brief The end of every run: the publication finished, every valid event applied, the
 *        offsets at the end of the topics, the history quiet; then the history compared with
 *        the dry run's, and every daemon still running is stopped with TERM (exit 0).
 */
static void run_finish(run_t *r)
{
    if (r->gen > 0) {
        CU_ASSERT_EQUAL(cwf_gen_wait(&ref, r->gen, r->genout, 180000), 0);
        r->gen = -1;
    }
    for (int i = 0; i < MAX_DAEMONS; i++)
        if (r->daemon[i] > 0 && !cwt_daemon_alive(r->daemon[i])) {
            fprintf(stderr, "%s: daemon %d (pid %d) is not running\n", r->name, i,
                    (int)r->daemon[i]);
            CU_FAIL("a daemon exited by itself");
        }
    CU_ASSERT(cwf_wait_scalar(&r->db, "SELECT to_regclass('event_log') IS NOT NULL", 1, 60000));
    bool all = cwf_wait_scalar(&r->db, "SELECT count(*) FROM event_log", ref.events, CATCHUP_MS);
    CU_ASSERT(all);
    if (all) /* the garbage after the last valid event is read too */
        CU_ASSERT(cwf_wait_caught_up(&r->db, r->broker, 30000));
    CU_ASSERT(cwf_history_settle(&r->db, 2000, 60000));
    cwf_history_t h;
    int rc = cwf_history_check(&ref, &r->db, r->name, &h);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(h.reference_ok);
    CU_ASSERT(h.dry > 1000); /* the comparison is about something */
    CU_ASSERT_EQUAL(h.dry_only, 0);
    CU_ASSERT_EQUAL(h.daemon_only, 0);
    CU_ASSERT_EQUAL(h.daemon, h.dry);
    for (int i = 0; i < MAX_DAEMONS; i++)
        if (r->daemon[i] > 0) {
            CU_ASSERT_EQUAL(cwt_daemon_stop(r->daemon[i], SIGTERM, 15000), 0);
            r->daemon[i] = -1;
        }
    fprintf(stderr, "run %s: %.0f s\n", r->name, elapsed(r));
    if (CU_get_number_of_failures())
        show_daemon_problems(r);
    run_cleanup(r);
}

/**
 * @brief Make sure the log is on logbroker (run c publishes it; when c is not run, or failed
 *        before its publication ended, it is published here with no daemon running).
 * @returns 0, or -1 (printed).
 */
static int need_published_log(void)
{
    if (log_published)
        return 0;
    if (logbroker_up)
        cwt_broker_stop(&logbroker);
    logbroker_up = false;
    if (cwt_broker_start(&logbroker, 1, TOPICS))
        return -1;
    logbroker_up = true;
    char out[600], glog[600];
    snprintf(out, sizeof(out), "%s/published.bin", tmp);
    snprintf(glog, sizeof(glog), "%s/gen.log", tmp);
    pid_t g = cwf_gen_start(&ref, &logbroker, 0, out, glog);
    if (g < 0 || cwf_gen_wait(&ref, g, out, 180000))
        return -1;
    log_published = true;
    return 0;
}

/* ---- suite ---------------------------------------------------------------------------------- */

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "history");
    if (cwt_pg_start(&server))
        return -1;
    if (cwf_ref_build(&ref, tmp, GEN_ARGS, AS_OF, RULES_INI))
        return -1;
    /* a failed history reference fails every run's check (with the reason), not the suite */
    (void)cwf_history_ref_build(&ref, PARTITIONS, LATENESS_MS);
    return 0;
}

static int suite_clean(void)
{
    run_cleanup(&R);
    pacedbroker_stop();
    if (logbroker_up)
        cwt_broker_stop(&logbroker);
    logbroker_up = false;
    cwf_ref_fini(&ref);
    return 0;
}

/* c. batch 10000, the log published as fast as possible while the daemon runs */
static void test_live_asap(void)
{
    if (logbroker_up)
        cwt_broker_stop(&logbroker);
    log_published = logbroker_up = false;
    CU_ASSERT_FATAL(cwt_broker_start(&logbroker, 1, TOPICS) == 0);
    logbroker_up = true;
    CU_ASSERT_FATAL(run_begin(&R, "c-live-asap", 10000, &logbroker) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0);
    /* consuming (partitions assigned and loaded) before the first message is published */
    CU_ASSERT_FATAL(cwf_wait_log(R.dlog[0], "partition\\(s\\) loaded", 60000));
    R.gen = cwf_gen_start(&ref, &logbroker, 0, R.genout, R.genlog);
    CU_ASSERT_FATAL(R.gen > 0);
    CU_ASSERT_EQUAL_FATAL(cwf_gen_wait(&ref, R.gen, R.genout, 180000), 0);
    R.gen = -1;
    log_published = true;
    fprintf(stderr, "published at full speed; %lld events stored by then\n", events_stored(&R));
    run_finish(&R);
}

/* a. batch 1: one event per transaction, the whole log caught up */
static void test_catchup_batch1(void)
{
    CU_ASSERT_FATAL(need_published_log() == 0);
    CU_ASSERT_FATAL(run_begin(&R, "a-batch1", 1, &logbroker) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0);
    run_finish(&R);
}

/* b. batch 97: batches end anywhere */
static void test_catchup_batch97(void)
{
    CU_ASSERT_FATAL(need_published_log() == 0);
    CU_ASSERT_FATAL(run_begin(&R, "b-batch97", 97, &logbroker) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0);
    run_finish(&R);
}

/* e. kill -9 at a third and two thirds of the catch-up, restarted each time */
static void test_kill9_catchup(void)
{
    CU_ASSERT_FATAL(need_published_log() == 0);
    CU_ASSERT_FATAL(run_begin(&R, "e-kill9", 500, &logbroker) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0);
    const double at[] = {1.0 / 3.0, 2.0 / 3.0};
    for (int k = 0; k < 2; k++) {
        long long n = wait_share(&R, at[k], CATCHUP_MS);
        CU_ASSERT_FATAL(n >= 0);
        CU_ASSERT_EQUAL(cwt_daemon_stop(R.daemon[0], SIGKILL, 5000), 128 + SIGKILL);
        R.daemon[0] = -1;
        long long after = events_stored(&R);
        fprintf(stderr, "kill -9 #%d with %lld of %lld events stored\n", k + 1, after, ref.events);
        CU_ASSERT(after < ref.events); /* it was in the middle of the catch-up */
        /* a fresh group: the mock coordinator would hold the killed member's partitions until
         * its session expires; the killed member's lease in group_members is still live */
        CU_ASSERT_FATAL(run_config(&R, NULL) == 0);
        CU_ASSERT_FATAL(run_daemon(&R, 0, "--take-over-group") > 0);
    }
    run_finish(&R);
}

/* f. two daemons in one group: B joins early in A's catch-up (batch 1: it lasts ~12 s, so
 * the group's join delay and the load still leave most of it to share) */
static void test_two_consumers(void)
{
    CU_ASSERT_FATAL(need_published_log() == 0);
    CU_ASSERT_FATAL(run_begin(&R, "f-two-consumers", 1, &logbroker) == 0);
    char group[64];
    snprintf(group, sizeof(group), "hx-pair-%d", (int)getpid());
    CU_ASSERT_FATAL(run_config(&R, group) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0); /* A */
    long long n = wait_share(&R, 0.10, CATCHUP_MS);
    CU_ASSERT_FATAL(n >= 0);
    fprintf(stderr, "B joins with %lld of %lld events stored\n", n, ref.events);
    CU_ASSERT_FATAL(run_daemon(&R, 1, NULL) > 0); /* B */
    CU_ASSERT(cwf_wait_log(R.dlog[1], "partition\\(s\\) loaded", 30000));
    CU_ASSERT(cwf_wait_log(R.dlog[0], "partition\\(s\\) revoked", 30000));
    long long m = events_stored(&R);
    fprintf(stderr, "B has partitions with %lld of %lld events stored\n", m, ref.events);
    CU_ASSERT(m < ref.events); /* the rebalance happened mid-stream */
    run_finish(&R);
}

/* d. batch 10000, the window year paced on its own broker while the daemon runs */
static void test_live_paced(void)
{
    pacedbroker_stop();
    CU_ASSERT_FATAL(cwt_broker_start(&pacedbroker, 1, TOPICS) == 0);
    pacedbroker_up = true;
    CU_ASSERT_FATAL(run_begin(&R, "d-paced", 10000, &pacedbroker) == 0);
    CU_ASSERT_FATAL(run_daemon(&R, 0, NULL) > 0);
    CU_ASSERT_FATAL(cwf_wait_log(R.dlog[0], "partition\\(s\\) loaded", 60000));
    R.gen = cwf_gen_start(&ref, &pacedbroker, PACE, R.genout, R.genlog);
    CU_ASSERT_FATAL(R.gen > 0);
    run_finish(&R);
    pacedbroker_stop();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s =
        CU_add_suite("history (one year, six ways, vs casewatch-dryrun)", suite_init, suite_clean);
    /* c first: its publication is the log the catch-up runs read */
    static const struct {
        char letter;
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {'c', "c. batch 10000, published as fast as possible while the daemon runs",
         test_live_asap},
        {'a', "a. batch 1, the log published first, then caught up", test_catchup_batch1},
        {'b', "b. batch 97, the log published first, then caught up", test_catchup_batch97},
        {'e', "e. kill -9 twice mid-catch-up, restarted", test_kill9_catchup},
        {'f', "f. two daemons in one group, one joining mid-stream", test_two_consumers},
        {'d', "d. batch 10000, the window paced while the daemon runs", test_live_paced},
    };
    /* CW_HISTORY_ONLY=ab runs runs a and b only */
    const char *only = getenv("CW_HISTORY_ONLY");
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!only || !*only || strchr(only, tests[i].letter))
            CU_add_test(s, tests[i].name, tests[i].fn);
    return cwt_cunit_run();
}
