/*
 * test_it_ingest.c — integration suite for [A]: a real private PostgreSQL, the embedded broker
 * and casewatchd. Events are published by clients written elsewhere (protoc --encode + kcat)
 * and by the project's producer; the assertions read PostgreSQL and the dead-letter topic.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static cwt_pg_t pg;
static cwt_broker_t broker;
static char tmp[256], cfg_path[600], log_path[600];
static pid_t daemon_pid = -1;

#define PROTO_ARGS "-I " CW_SOURCE_DIR "/proto " CW_SOURCE_DIR "/proto/casewatch/v1/events.proto"

/* ---------------------------------------------------------------- helpers */

static bool wait_scalar(const char *sql, long long want, int timeout_ms)
{
    return cwt_pg_wait_scalar(&pg, sql, want, timeout_ms);
}

/* protoc --encode a text-format event; returns its length, or -1 */
static int encode(const char *text, char *out, size_t outsz)
{
    char in[600];
    snprintf(in, sizeof(in), "%s/event.txtpb", tmp);
    FILE *f = fopen(in, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "protoc --encode=casewatch.v1.Event " PROTO_ARGS " < %s", in);
    size_t len = 0;
    if (cwt_run_capture(cmd, out, outsz, &len) != 0)
        return -1;
    return (int)len;
}

static int publish_text(const char *topic, const char *key, const char *text)
{
    char buf[4096];
    int n = encode(text, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    return cwt_kcat_produce(&broker, topic, key, buf, (size_t)n);
}

/* The key a producer gives an event: its case_id, or an area event's court_area (the
 * partition it must arrive on, [G] 1). */
static const char *key_of(const char *text, char *buf, size_t n)
{
    const char *at = strstr(text, "case_id: \"");
    size_t skip = strlen("case_id: \"");
    if (!at || at[skip] == '"') {
        at = strstr(text, "court_area: \"");
        skip = strlen("court_area: \"");
    }
    if (!at)
        return "none";
    at += skip;
    size_t len = strcspn(at, "\"");
    snprintf(buf, n, "%.*s", (int)len, at);
    return buf;
}

static int run_producer(const char *prefix, int events, int cases, const char *extra,
                        char *manifest, size_t msz)
{
    snprintf(manifest, msz, "%s/manifest-%s.tsv", tmp, prefix);
    char cmd[2048], out[512];
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-produce -b %s -t casewatch.case-events --events %d "
                           "--cases %d --seed 7 --prefix %s --manifest %s %s",
             broker.bootstrap, events, cases, prefix, manifest, extra ? extra : "");
    return cwt_run(cmd, out, sizeof(out));
}

/* Load a producer manifest (event_id, case_id, kind) into table `name`. */
static int load_manifest(const char *name, const char *manifest)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SET client_min_messages = warning; DROP TABLE IF EXISTS %s; "
             "CREATE TABLE %s (event_id text, case_id text, kind text)",
             name, name);
    if (cwt_pg_exec(&pg, sql))
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "psql -q -v ON_ERROR_STOP=1 '%s' -c \"\\copy %s from '%s'\"",
             pg.conninfo, name, manifest);
    return cwt_run(cmd, NULL, 0);
}

/* Per-case counts of the manifest equal the daemon's cases rows, and every manifest event is
 * in event_log exactly once (event_id is its primary key, so "once" is the join count). */
static void assert_manifest_applied(const char *table, int timeout_ms)
{
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    long long n = cwt_pg_scalar(&pg, sql);
    CU_ASSERT_FATAL(n > 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s m JOIN event_log e USING (event_id)",
             table);
    CU_ASSERT(wait_scalar(sql, n, timeout_ms));
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT case_id, count(*) AS n FROM %s GROUP BY 1) m "
             "LEFT JOIN cases c USING (case_id) WHERE c.event_count IS DISTINCT FROM m.n",
             table);
    CU_ASSERT(wait_scalar(sql, 0, 5000));
}

static void start_daemon(void)
{
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(daemon_pid > 0);
}

/* ---------------------------------------------------------------- suite */

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "ingest");
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    if (cwt_pg_start(&pg) || cwt_broker_start(&broker, 1, NULL))
        return -1;
    if (cwt_write_config(cfg_path, &pg, &broker, NULL,
                         "[daemon]\nmax_message_bytes = 4096\nbatch_max_wait_ms = 20\n"
                         "backoff_max_ms = 1000\n"))
        return -1;
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    if (daemon_pid <= 0)
        return -1;
    /* ready once every partition of both event topics has a stored offset row */
    if (!wait_scalar("SELECT count(*) FROM consumer_offsets", 16, 30000)) {
        cwt_dump_file(log_path);
        return -1;
    }
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

/* Every example event in tests/data, encoded by protoc and published by kcat. */
static void test_protoc_kcat_events(void)
{
    DIR *d = opendir(CW_SOURCE_DIR "/tests/data");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *de;
    int published = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".txtpb") || !strncmp(de->d_name, "bad_", 4))
            continue;
        char path[600], text[4096];
        snprintf(path, sizeof(path), CW_SOURCE_DIR "/tests/data/%s", de->d_name);
        FILE *f = fopen(path, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
        char key[128];
        CU_ASSERT_EQUAL(publish_text("casewatch.case-events", key_of(text, key, sizeof(key)), text),
                        0);
        published++;
    }
    closedir(d);
    CU_ASSERT_FATAL(published >= 5);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM event_log WHERE event_id LIKE 'example-%%'");
    CU_ASSERT(wait_scalar(sql, published, 20000));
    /* the per-case row counts exactly what arrived for it */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM cases c WHERE event_count <> (SELECT count(*) "
                          "FROM event_log e WHERE e.case_id = c.case_id)",
                          0, 5000));
    /* an area event is logged without a case */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM event_log WHERE kind = "
                                       "'prioritisation_activated' AND case_id IS NULL"),
                    1);
}

typedef struct bad_case {
    const char *name;
    const char *reason;
    const char *text; /* text format, or NULL when bytes are given */
    const char *bytes;
    size_t len;
} bad_case_t;

#define ENVELOPE(id, at) "event_id: \"" id "\" case_id: \"bad-case\" occurred_at: " at        \
                         " source: \"test\" schema_version: 1 "
#define VALID_PAYLOAD "child_added { child_id: \"c1\" }"

static void test_bad_input_dead_lettered(void)
{
    char big[6000];
    memset(big, 'x', sizeof(big));
    char ahead[64];
    snprintf(ahead, sizeof(ahead), "%lld", (long long)time(NULL) * 1000 + 3LL * 86400000);
    char future_text[512];
    snprintf(future_text, sizeof(future_text),
             "event_id: \"bad-future\" case_id: \"bad-case\" occurred_at: %s source: \"test\" "
             "schema_version: 1 " VALID_PAYLOAD,
             ahead);
    /* envelope with only an unknown field 99 (what a newer producer's new event looks like) */
    char unknown_kind[256];
    int ulen = encode(ENVELOPE("bad-unknown-kind", "1700000000000"), unknown_kind,
                      sizeof(unknown_kind) - 3);
    CU_ASSERT_FATAL(ulen > 0);
    memcpy(unknown_kind + ulen, "\x9a\x06\x00", 3); /* field 99, length-delimited, empty */
    char truncated[256];
    int tlen = encode(ENVELOPE("bad-truncated", "1700000000000") VALID_PAYLOAD, truncated,
                      sizeof(truncated));
    CU_ASSERT_FATAL(tlen > 4);

    bad_case_t cases[] = {
        {"garbage", "undecodable", NULL, "\xff\xff\xff\xff\x00garbage\n", 13},
        {"truncated", "undecodable", NULL, truncated, (size_t)tlen - 3},
        {"missing event_id", "missing_field",
         "case_id: \"bad-case\" occurred_at: 1700000000000 source: \"t\" schema_version: 1 "
         VALID_PAYLOAD, NULL, 0},
        {"missing payload", "unknown_kind", ENVELOPE("bad-no-payload", "1700000000000"), NULL, 0},
        {"unknown oneof field", "unknown_kind", NULL, unknown_kind, (size_t)ulen + 3},
        {"unknown enum", "unknown_enum",
         ENVELOPE("bad-enum", "1700000000000") "case_opened { case_type: 42 court_area: \"a\" "
                                               "service_area: \"b\" }",
         NULL, 0},
        {"before 1990", "bad_timestamp", ENVELOPE("bad-old", "600000000000") VALID_PAYLOAD, NULL,
         0},
        {"too far ahead", "bad_timestamp", future_text, NULL, 0},
        {"bad identifier", "bad_identifier",
         "event_id: \"has space\" case_id: \"bad-case\" occurred_at: 1700000000000 source: "
         "\"t\" schema_version: 1 " VALID_PAYLOAD, NULL, 0},
        {"too large", "too_large", NULL, big, sizeof(big)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = cases[i].text ? publish_text("casewatch.hearing-events", "bad-case", cases[i].text)
                               : cwt_kcat_produce(&broker, "casewatch.hearing-events",
                                                  "bad-case", cases[i].bytes, cases[i].len);
        if (rc)
            fprintf(stderr, "publishing %s failed\n", cases[i].name);
        CU_ASSERT_EQUAL(rc, 0);
    }
    /* the partition keeps moving: a valid event after the bad ones is applied */
    CU_ASSERT_EQUAL(publish_text("casewatch.hearing-events", "bad-case",
                                 ENVELOPE("after-bad", "1700000000001") VALID_PAYLOAD),
                    0);
    CU_ASSERT(wait_scalar("SELECT count(*) FROM event_log WHERE event_id = 'after-bad'", 1,
                          20000));
    size_t n = sizeof(cases) / sizeof(cases[0]);
    CU_ASSERT(wait_scalar("SELECT count(*) FROM dead_letters WHERE topic = "
                          "'casewatch.hearing-events'",
                          (long long)n, 10000));
    for (size_t i = 0; i < n; i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM dead_letters WHERE topic = 'casewatch.hearing-events' "
                 "AND reason = '%s' AND detail <> '' AND koffset >= 0",
                 cases[i].reason);
        long long got = cwt_pg_scalar(&pg, sql);
        if (got < 1)
            fprintf(stderr, "no dead letter with reason %s for %s\n", cases[i].reason,
                    cases[i].name);
        CU_ASSERT(got >= 1);
    }
    /* the table keeps the original bytes */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE payload = "
                                       "'\\xffffffff0067617262616765'::bytea || '\\x0a'::bytea"),
                    1);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE "
                                       "reason = 'too_large' AND length(payload) = 6000"),
                    1);
    /* every one reaches the dead-letter topic and is marked published */
    CU_ASSERT(wait_scalar("SELECT count(*) FROM dead_letters WHERE topic = "
                          "'casewatch.hearing-events' AND published_at IS NOT NULL",
                          (long long)n, 15000));
    char cmd[1024], out[65536];
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.dead-letters -e -q -f '%%h\\n' | "
             "grep -c 'casewatch.source_topic=casewatch.hearing-events'",
             broker.bootstrap);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(atoi(out), (int)n);
    /* the copy is the original bytes plus the reason headers, nothing else */
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.dead-letters -e -q -f '%%k|%%h\\n' | "
             "grep 'casewatch.reason=undecodable' | grep -c '^bad-case|'",
             broker.bootstrap);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(atoi(out), 2);
    size_t len = 0;
    snprintf(cmd, sizeof(cmd),
             "kcat -C -b %s -t casewatch.dead-letters -e -q -f '%%h\\t%%s' | "
             "grep -a 'reason=undecodable,casewatch.reason_detail=not a valid' | head -c 200000",
             broker.bootstrap);
    CU_ASSERT_EQUAL(cwt_run_capture(cmd, out, sizeof(out), &len), 0);
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\xff\xff\xff\xff\x00garbage", 12));
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid));
}

static void test_duplicate_event_applied_once(void)
{
    char buf[1024];
    const char *t2 = "event_id: \"dup-2\" case_id: \"dup-case\" occurred_at: 1700000000001 "
                     "source: \"t\" schema_version: 1 " VALID_PAYLOAD;
    int n = encode(t2, buf, sizeof(buf));
    CU_ASSERT_FATAL(n > 0);
    for (int i = 0; i < 3; i++) /* three copies, at three offsets */
        CU_ASSERT_EQUAL(cwt_kcat_produce(&broker, "casewatch.case-events", "dup-case", buf,
                                         (size_t)n),
                        0);
    /* and one on the other topic, same partition */
    CU_ASSERT_EQUAL(cwt_kcat_produce(&broker, "casewatch.hearing-events", "dup-case", buf,
                                     (size_t)n),
                    0);
    CU_ASSERT(wait_scalar("SELECT count(*) FROM event_log WHERE event_id = 'dup-2'", 1, 15000));
    /* wait until all four copies were consumed: the offsets moved past them */
    sleep(1);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "SELECT event_count FROM cases WHERE case_id = "
                                       "'dup-case'"),
                    1);
}

static void test_project_producer(void)
{
    char manifest[512];
    CU_ASSERT_EQUAL_FATAL(run_producer("pp", 5000, 300, "--dup-every 9 --bad-every 700",
                                       manifest, sizeof(manifest)),
                          0);
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_pp", manifest), 0);
    assert_manifest_applied("m_pp", 30000);
    CU_ASSERT(cwt_pg_scalar(&pg, "SELECT count(*) FROM dead_letters WHERE topic = "
                                 "'casewatch.case-events'") >= 5000 / 700);
}

static void test_stop_restart_preserves(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = cwt_daemon_stop(daemon_pid, SIGTERM, 10000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT_EQUAL(st, 0);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT(secs < 10.0);
    /* published while no daemon runs; case ids overlap the earlier run's (same seed) */
    char manifest[512];
    CU_ASSERT_EQUAL_FATAL(run_producer("rs", 3000, 300, NULL, manifest, sizeof(manifest)), 0);
    start_daemon();
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_rs", manifest), 0);
    assert_manifest_applied("m_rs", 40000);
    assert_manifest_applied("m_pp", 1000); /* the earlier counts are intact */
}

static void test_database_outage(void)
{
    CU_ASSERT_EQUAL_FATAL(cwt_pg_immediate_stop(&pg), 0);
    char manifest[512];
    CU_ASSERT_EQUAL_FATAL(run_producer("po", 3000, 200, NULL, manifest, sizeof(manifest)), 0);
    sleep(2);
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid)); /* never exits on a transient fault */
    CU_ASSERT_EQUAL_FATAL(cwt_pg_restart(&pg), 0);
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_po", manifest), 0);
    assert_manifest_applied("m_po", 40000);
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid));
}


static void test_broker_outage(void)
{
    /* the only broker goes away: the daemon says so, keeps retrying and catches up */
    CU_ASSERT_EQUAL_FATAL(cwt_broker_control(&broker, "broker-down 1\n", 10000), 0);
    sleep(4);
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid));
    char cmd[700], out[256];
    snprintf(cmd, sizeof(cmd), "grep -c 'broker unreachable' %s", log_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL_FATAL(cwt_broker_control(&broker, "broker-up 1\n", 10000), 0);
    char manifest[512];
    CU_ASSERT_EQUAL_FATAL(run_producer("bo", 2000, 100, NULL, manifest, sizeof(manifest)), 0);
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_bo", manifest), 0);
    assert_manifest_applied("m_bo", 60000);
    CU_ASSERT_TRUE(cwt_daemon_alive(daemon_pid));
}

static void test_two_daemons_share_the_group(void)
{
    /* a second member joins mid-stream (partitions move: revoke, commit, reload, assign),
     * then the first leaves: the totals stay exact */
    char path2[600], log2[600], manifest[512];
    snprintf(path2, sizeof(path2), "%s/second.ini", tmp);
    snprintf(log2, sizeof(log2), "%s/second.log", tmp);
    CU_ASSERT_EQUAL_FATAL(cwt_write_config(path2, &pg, &broker, "ingest-pair",
                                           "[daemon]\nbatch_max_wait_ms = 20\n"),
                          0);
    CU_ASSERT_EQUAL_FATAL(cwt_daemon_stop(daemon_pid, SIGTERM, 10000), 0);
    /* restart the first in the same named group as the second */
    CU_ASSERT_EQUAL_FATAL(cwt_write_config(cfg_path, &pg, &broker, "ingest-pair",
                                           "[daemon]\nmax_message_bytes = 4096\n"
                                           "batch_max_wait_ms = 20\n"),
                          0);
    start_daemon();
    snprintf(manifest, sizeof(manifest), "%s/manifest-tw.tsv", tmp);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "exec " CW_BINARY_DIR "/casewatch-produce -b %s -t casewatch.case-events "
             "--events 20000 --cases 800 --seed 11 --prefix tw --rate 2000 --manifest %s "
             "> /dev/null",
             broker.bootstrap, manifest);
    pid_t producer = fork();
    CU_ASSERT_FATAL(producer >= 0);
    if (producer == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    sleep(3);
    pid_t second = cwt_daemon_start(path2, log2);
    CU_ASSERT_FATAL(second > 0);
    /* wait until the second member owns partitions: the group really rebalanced */
    char cmd2[700], out2[64];
    snprintf(cmd2, sizeof(cmd2), "grep -q 'partition(s) loaded' %s", log2);
    bool joined = false;
    for (int i = 0; i < 300 && !joined; i++) {
        joined = cwt_run(cmd2, out2, sizeof(out2)) == 0;
        if (!joined)
            usleep(100000);
    }
    CU_ASSERT_FATAL(joined);
    sleep(1);
    CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGTERM, 10000), 0); /* the first leaves */
    int status = 0;
    CU_ASSERT_EQUAL_FATAL(waitpid(producer, &status, 0), producer);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_tw", manifest), 0);
    assert_manifest_applied("m_tw", 60000);
    /* published after the first left: only the second, now owning every partition, can
     * apply these */
    char manifest2[512];
    CU_ASSERT_EQUAL_FATAL(run_producer("tw2", 2000, 300, NULL, manifest2, sizeof(manifest2)), 0);
    CU_ASSERT_EQUAL_FATAL(load_manifest("m_tw2", manifest2), 0);
    assert_manifest_applied("m_tw2", 60000);
    assert_manifest_applied("m_pp", 1000);
    /* the first gave partitions up when the second joined */
    snprintf(cmd, sizeof(cmd), "test $(grep -c 'partition(s) revoked' %s) -ge 2", log_path);
    char out[64];
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    /* the second carries on as the main daemon of the suite */
    daemon_pid = second;
    snprintf(log_path, sizeof(log_path), "%s", log2);
    snprintf(cfg_path, sizeof(cfg_path), "%s", path2);
}

static void test_second_signal_exits_at_once(void)
{
    char path[600], logp[600];
    snprintf(path, sizeof(path), "%s/twice.ini", tmp);
    snprintf(logp, sizeof(logp), "%s/twice.log", tmp);
    /* the suite's daemon is running in group ingest-pair: another group on the same database
     * would be refused at start ([G] 4), so this one joins it */
    CU_ASSERT_EQUAL_FATAL(cwt_write_config(path, &pg, &broker, "ingest-pair", NULL), 0);
    pid_t pid = cwt_daemon_start(path, logp);
    CU_ASSERT_FATAL(pid > 0);
    usleep(500000); /* still joining the group: a graceful stop would wait for it */
    kill(pid, SIGTERM);
    usleep(50000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = cwt_daemon_stop(pid, SIGINT, 3000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT(st == 1 || st == 0);
    CU_ASSERT(secs < 1.0);
    char cmd[700], out[64];
    snprintf(cmd, sizeof(cmd), "grep -c 'second .*: exiting at once\\|casewatchd stopped' %s", logp);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
}

static void test_newer_schema_stops_startup(void)
{
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&pg, "CREATE DATABASE newer"),
                          0);
    cwt_pg_t other = pg;
    snprintf(other.conninfo, sizeof(other.conninfo), "host=%s port=%d user=postgres dbname=newer",
             pg.sockdir, pg.port);
    CU_ASSERT_EQUAL_FATAL(cwt_pg_exec(&other, "CREATE TABLE schema_migrations (version integer "
                                              "PRIMARY KEY, name text NOT NULL, applied_at "
                                              "timestamptz NOT NULL DEFAULT now());"
                                              "INSERT INTO schema_migrations VALUES (999, "
                                              "'999_future.sql')"),
                          0);
    char path[600], logp[600];
    snprintf(path, sizeof(path), "%s/newer.ini", tmp);
    snprintf(logp, sizeof(logp), "%s/newer.log", tmp);
    CU_ASSERT_EQUAL_FATAL(cwt_write_config(path, &other, &broker, NULL, NULL), 0);
    pid_t pid = cwt_daemon_start(path, logp);
    CU_ASSERT_FATAL(pid > 0);
    for (int i = 0; i < 100 && cwt_daemon_alive(pid); i++)
        usleep(100000);
    int st = cwt_daemon_stop(pid, SIGTERM, 1000); /* already exited: returns its status */
    CU_ASSERT_EQUAL(st, 1);
    char cmd[700], out[1024];
    snprintf(cmd, sizeof(cmd), "grep -c 'schema is at version 999 but this casewatchd knows' %s",
             logp);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
}

static void test_check_config(void)
{
    char path[600], cmd[800], out[4096];
    snprintf(path, sizeof(path), "%s/bad.ini", tmp);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("[postgres]\nconninfo = host=/tmp\n[kafka]\nbootstrap.servers = x:1\n"
          "group.id = g\n[daemon]\nbatch_max_events = many\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatchd --check-config -c %s 2>&1", path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 2);
    char want[700];
    snprintf(want, sizeof(want), "%s:7: [daemon] batch_max_events: expected an integer", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    snprintf(cmd, sizeof(cmd), CW_BINARY_DIR "/casewatchd --check-config -c %s", cfg_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("ingest (PostgreSQL + broker + casewatchd)", suite_init,
                               suite_clean);
    CU_add_test(s, "events encoded by protoc, published by kcat, land in PostgreSQL",
                test_protoc_kcat_events);
    CU_add_test(s, "every bad-input class is dead-lettered with its reason; partition moves",
                test_bad_input_dead_lettered);
    CU_add_test(s, "a duplicate event_id is applied once", test_duplicate_event_applied_once);
    CU_add_test(s, "project producer: exactly the published events, per-case counts",
                test_project_producer);
    CU_add_test(s, "TERM exits 0 within 10 s; a restart resumes exactly",
                test_stop_restart_preserves);
    CU_add_test(s, "PostgreSQL down mid-stream: the daemon waits, reconnects, catches up",
                test_database_outage);
    CU_add_test(s, "broker unreachable: logged, retried, caught up", test_broker_outage);
    CU_add_test(s, "two daemons in one group: hand-over mid-stream stays exact",
                test_two_daemons_share_the_group);
    CU_add_test(s, "a second TERM/INT exits at once", test_second_signal_exits_at_once);
    CU_add_test(s, "a database newer than the binary stops startup with a clear message",
                test_newer_schema_stops_startup);
    CU_add_test(s, "--check-config names file:line", test_check_config);
    return cwt_cunit_run();
}
