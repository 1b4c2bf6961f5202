/*
 * test_it_crash.c — the exactly-once proof for [A]: 100,000 events flow from the project
 * producer (with re-sent duplicates and undecodable messages mixed in) while casewatchd is
 * killed with SIGKILL at random moments and restarted, 10 times. Afterwards event_log holds
 * exactly the distinct events published, each case's count equals what was published for it,
 * and each bad message is one dead letter: nothing lost, nothing doubled.
 *
 * The reference is the producer's manifest (written from its delivery reports), compared in
 * SQL — not anything the daemon computed. CW_CRASH_SEED fixes the kill schedule.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EVENTS 100000
#define CASES 5000
#define DUP_EVERY 50
#define BAD_EVERY 1000
#define KILLS 10

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[512], log_path[512], manifest[512];

static bool wait_scalar(const char *sql, long long want, int timeout_ms)
{
    return cwt_pg_wait_scalar(&pg, sql, want, timeout_ms);
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "crash");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    snprintf(manifest, sizeof(manifest), "%s/manifest.tsv", tmp);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    /* a short session lets the group hand a killed member's partitions on quickly */
    return cwt_write_config(cfg_path, &pg, &broker, "crash-group",
                            "[daemon]\nbatch_max_events = 1000\nbatch_max_wait_ms = 20\n"
                            "[kafka]\nsession.timeout.ms = 3000\nheartbeat.interval.ms = 300\n");
}

static void test_kill9_exactly_once(void)
{
    unsigned seed = getenv("CW_CRASH_SEED") ? (unsigned)atoi(getenv("CW_CRASH_SEED"))
                                            : (unsigned)time(NULL);
    fprintf(stderr, "\ncrash schedule seed %u (CW_CRASH_SEED to repeat)\n", seed);
    srand(seed);

    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "exec " CW_BINARY_DIR "/casewatch-produce -b %s -t casewatch.case-events "
             "--events %d --cases %d --seed %u --prefix k --dup-every %d --bad-every %d "
             "--rate 2500 --manifest %s > %s/producer.out",
             broker.bootstrap, EVENTS, CASES, seed, DUP_EVERY, BAD_EVERY, manifest, tmp);
    pid_t producer = fork();
    CU_ASSERT_FATAL(producer >= 0);
    if (producer == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }

    for (int k = 0; k < KILLS; k++) {
        pid_t d = cwt_daemon_start(cfg_path, log_path);
        CU_ASSERT_FATAL(d > 0);
        int ms = 500 + rand() % 7000; /* while joining, loading, consuming or committing */
        usleep((useconds_t)ms * 1000);
        CU_ASSERT_TRUE(cwt_daemon_alive(d)); /* it never exits by itself */
        long long applied = cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log");
        fprintf(stderr, "kill -9 #%d after %d ms (%lld events stored)\n", k + 1, ms, applied);
        kill(d, SIGKILL);
        CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGKILL, 5000), 128 + SIGKILL);
    }

    pid_t d = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(d > 0);
    int status = 0;
    CU_ASSERT_EQUAL_FATAL(waitpid(producer, &status, 0), producer);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&pg, "CREATE TABLE manifest (event_id text PRIMARY KEY, "
                                           "case_id text, kind text)"),
                          0);
    snprintf(cmd, sizeof(cmd), "psql -q -v ON_ERROR_STOP=1 '%s' -c \"\\copy manifest from '%s'\"",
             pg.conninfo, manifest);
    CU_ASSERT_EQUAL_FATAL(cwt_run(cmd, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM manifest"), EVENTS);

    /* everything published arrives ... */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM manifest JOIN event_log USING (event_id)",
                          EVENTS, 180000));
    /* ... exactly: nothing in event_log that was not published (event_id is its key, so no
     * event can be there twice) */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log"), EVENTS);
    /* per-case counts equal the published ones: no event counted twice in any case */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg,
                                  "SELECT count(*) FROM (SELECT case_id, count(*) n FROM "
                                  "manifest GROUP BY 1) m FULL JOIN cases c USING (case_id) "
                                  "WHERE c.event_count IS DISTINCT FROM m.n"),
                    0);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT sum(event_count) FROM cases"), EVENTS);
    /* every undecodable message is one dead letter */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM dead_letters", EVENTS / BAD_EVERY, 10000));
    /* and the stored offsets are at the end of every partition: nothing left unread */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT sum(next_offset) FROM consumer_offsets WHERE "
                                       "topic = 'casewatch.case-events' AND next_offset > 0"),
                    EVENTS + EVENTS / DUP_EVERY + EVENTS / BAD_EVERY);

    CU_ASSERT_EQUAL(cwt_daemon_stop(d, SIGTERM, 10000), 0);
    if (CU_get_number_of_failures())
        cwt_dump_file(log_path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("crash (kill -9 under load)", suite_init, NULL);
    CU_add_test(s, "100k events, 10 x kill -9 and restart: 0 lost, 0 doubled",
                test_kill9_exactly_once);
    return cwt_cunit_run();
}
