/*
 * test_it_offset_gap.c — [N] against a real Apache Kafka 4.4 node (deploy/kafka-up.sh; the
 * embedded broker cannot delete records or lose a log) and a private PostgreSQL:
 *  1. records deleted before casewatch read them: a stored next offset below the log start
 *     (kafka-delete-records, as retention.ms does) — the partition goes on from the log start
 *     within seconds and everything still there is applied once; one offset_gaps row
 *     (records_deleted, stored offset, log start and end, messages missed, the first record
 *     read after it and its time); casewatch_offset_gap_messages_total counts the missed
 *     messages; /readyz is ready but degraded, with the reason, until POST /offset-gaps/ack;
 *  2. the topic deleted and recreated (a log reset): a stored offset beyond the new log's end
 *     — read from its start, its events applied once, a log_reset row.
 * And [J] item 3: the consumer group's committed offsets (kafka-consumer-groups --describe)
 * follow PostgreSQL's after each commit, for monitoring; the daemon still resumes from
 * PostgreSQL (in 1, the group's offset is the stored one, yet the log start is what it reads).
 * The cluster is started and stopped by this suite, in its temp dir, on free ports.
 */
#include "cwhttp.h"
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cwt_pg_t pg;
static char tmp[256], kdir[400], cfg_path[600], log_path[600], bootstrap[256], cp_file[600];
static int admin_port;
static bool kafka_up;
static pid_t daemon_pid = -1;

#define TOPIC "casewatch.case-events"

static long long q(const char *sql)
{
    return cwt_pg_scalar(&pg, sql);
}

static int sh(const char *fmt, const char *arg1, char *out, size_t outsz)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), fmt, arg1);
    return cwt_run(cmd, out, outsz);
}

/* the log end of casewatch.case-events [0] */
static long long high_watermark(void)
{
    char cmd[1024], out[256];
    snprintf(cmd, sizeof(cmd), "kcat -Q -b %s -t " TOPIC ":0:-1 2>/dev/null | awk '{print $NF}'",
             bootstrap);
    if (cwt_run(cmd, out, sizeof(out)) != 0)
        return -1;
    return atoll(out);
}

static int generate(int seed)
{
    char cmd[2048], out[2048];
    snprintf(cmd, sizeof(cmd),
             CW_BINARY_DIR "/casewatch-gen --asap --seed %d --scale 0.003 --days 30 "
                           "--warmup-days 0 --kafka %s --topic " TOPIC
                           " --hearing-topic casewatch.hearing-events 2>&1",
             seed, bootstrap);
    int rc = cwt_run(cmd, out, sizeof(out));
    if (rc != 0)
        fprintf(stderr, "\ncasewatch-gen: %s\n", out);
    return rc;
}

static bool stored_reaches_end(int timeout_ms)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM consumer_offsets WHERE topic = '" TOPIC "' AND next_offset = %lld",
             high_watermark());
    return cwt_pg_wait_scalar(&pg, sql, 1, timeout_ms);
}

static int kafka_tool(const char *args, char *out, size_t outsz)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "java -Xmx256m -cp \"$(cat %s)\" %s 2>&1", cp_file, args);
    return cwt_run(cmd, out, outsz);
}

static void start_daemon(void)
{
    daemon_pid = cwt_daemon_start(cfg_path, log_path);
    CU_ASSERT_FATAL(daemon_pid > 0);
}

static void stop_daemon(void)
{
    if (daemon_pid > 0)
        CU_ASSERT_EQUAL(cwt_daemon_stop(daemon_pid, SIGTERM, 15000), 0);
    daemon_pid = -1;
}

static int suite_init(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "offsetgap");
    snprintf(kdir, sizeof(kdir), "%s/kafka", tmp);
    snprintf(cfg_path, sizeof(cfg_path), "%s/casewatch.ini", tmp);
    snprintf(log_path, sizeof(log_path), "%s/casewatchd.log", tmp);
    char out[8192];
    /* a real node; it must start, or the suite fails (never skipped) */
    if (sh(CW_SOURCE_DIR "/deploy/kafka-up.sh %s --topic " TOPIC ":1 --topic "
                         "casewatch.hearing-events:1 --topic casewatch.dead-letters:1 --topic "
                         "casewatch.alerts:1 --topic casewatch.metrics:1 2>&1",
           kdir, out, sizeof(out)) != 0) {
        fprintf(stderr, "kafka-up.sh failed:\n%s\n", out);
        return -1;
    }
    kafka_up = true;
    const char *b = strstr(out, "CW_KAFKA_BOOTSTRAP=");
    const char *c = strstr(out, "CW_KAFKA_CLASSPATH_FILE=");
    if (!b || !c)
        return -1;
    snprintf(bootstrap, sizeof(bootstrap), "%.*s", (int)strcspn(b + 19, "\n"), b + 19);
    snprintf(cp_file, sizeof(cp_file), "%.*s", (int)strcspn(c + 24, "\n"), c + 24);
    if (cwt_pg_start(&pg))
        return -1;
    if ((admin_port = cwt_free_port()) <= 0)
        return -1;
    cwt_broker_t real = {0};
    snprintf(real.bootstrap, sizeof(real.bootstrap), "%s", bootstrap);
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[daemon]\nclock = event\nbatch_max_wait_ms = 20\n[admin]\nlisten = 127.0.0.1:%d\n",
             admin_port);
    return cwt_write_config(cfg_path, &pg, &real, "offsetgap", extra);
}

static int suite_clean(void)
{
    if (daemon_pid > 0)
        cwt_daemon_stop(daemon_pid, SIGKILL, 5000);
    if (kafka_up) {
        char out[2048];
        sh(CW_SOURCE_DIR "/deploy/kafka-down.sh %s 2>&1", kdir, out, sizeof(out));
    }
    cwt_cleanup_all();
    return 0;
}

static bool http_has(const char *method, const char *path, const char *body, int status,
                     const char *want)
{
    cwt_http_resp_t r = cwt_http(method, admin_port, path, NULL, body, 5000);
    bool ok = r.status == status && (!want || (r.body && strstr(r.body, want)));
    if (!ok)
        fprintf(stderr, "\n%s %s: %d %s\n", method, path, r.status, r.body ? r.body : "");
    cwt_http_free(&r);
    return ok;
}

/* the consumer group's committed offset of casewatch.case-events [0] (-1: none) */
static long long group_offset(void)
{
    char args[1024], out[8192];
    snprintf(args, sizeof(args),
             "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server %s "
             "--describe --group offsetgap",
             bootstrap);
    if (kafka_tool(args, out, sizeof(out)) != 0)
        return -1;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        char g[128], t[128], cur[32];
        int part;
        if (sscanf(l, "%127s %127s %d %31s", g, t, &part, cur) == 4 && !strcmp(t, TOPIC) &&
            part == 0)
            return strcmp(cur, "-") ? atoll(cur) : -1;
    }
    return -1;
}

static void test_records_deleted(void)
{
    CU_ASSERT_FATAL(generate(1) == 0);
    start_daemon();
    CU_ASSERT_FATAL(stored_reaches_end(60000));
    /* [J] the group's committed offsets follow PostgreSQL's, for lag monitoring */
    long long pg_next = q("SELECT next_offset FROM consumer_offsets WHERE topic = '" TOPIC "'");
    long long committed = -1;
    for (int i = 0; i < 20 && (committed = group_offset()) != pg_next; i++)
        sleep(1);
    CU_ASSERT_EQUAL(committed, pg_next);
    stop_daemon();
    long long stored = q("SELECT next_offset FROM consumer_offsets WHERE topic = '" TOPIC "'");
    long long events = q("SELECT count(*) FROM event_log");
    CU_ASSERT_FATAL(generate(2) == 0);
    long long end = high_watermark();
    long long cut = stored + 50; /* 50 events deleted before casewatch read them */
    CU_ASSERT_FATAL(end > cut + 10);
    char json[600], args[1200], out[4096];
    snprintf(json, sizeof(json), "%s/delete.json", tmp);
    FILE *f = fopen(json, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "{\"partitions\":[{\"topic\":\"" TOPIC "\",\"partition\":0,\"offset\":%lld}],"
               "\"version\":1}\n",
            cut);
    fclose(f);
    snprintf(args, sizeof(args),
             "org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server %s "
             "--offset-json-file %s",
             bootstrap, json);
    CU_ASSERT_EQUAL_FATAL(kafka_tool(args, out, sizeof(out)), 0);

    start_daemon();
    /* never a stall: everything still in the log is applied, within seconds */
    CU_ASSERT(stored_reaches_end(15000));
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM offset_gaps"), 1);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM offset_gaps WHERE kind = 'records_deleted' AND topic = '" TOPIC
             "' AND kpartition = 0 AND stored_offset = %lld AND log_start = %lld AND missed = %lld"
             " AND log_end >= %lld",
             stored, cut, cut - stored, end);
    CU_ASSERT_EQUAL(q(sql), 1);
    CU_ASSERT(cwt_pg_wait_scalar(&pg, "SELECT count(*) FROM offset_gaps WHERE first_offset IS NOT "
                                      "NULL AND first_record_at IS NOT NULL",
                                 1, 10000));
    /* what remained of the second log, once each (its events up to the cut are lost: 50) */
    long long hearing = q("SELECT count(*) FROM event_log WHERE topic = 'casewatch.hearing-events'");
    long long cases_topic = q("SELECT count(*) FROM event_log WHERE topic = '" TOPIC "'");
    CU_ASSERT(hearing > 0);
    CU_ASSERT_EQUAL(cases_topic, end - 50);
    CU_ASSERT(q("SELECT count(*) FROM event_log") > events);
    /* said, counted, degraded until acknowledged */
    char cmd[900];
    snprintf(cmd, sizeof(cmd), "grep -c 'were deleted before casewatch read them' %s", log_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT(http_has("GET", "/metrics", NULL, 200, "casewatch_offset_gap_messages_total 50"));
    CU_ASSERT(http_has("GET", "/readyz", NULL, 200, "\"degraded\":true"));
    CU_ASSERT(http_has("GET", "/readyz", NULL, 200, "offset gap"));
    CU_ASSERT(http_has("GET", "/offset-gaps", NULL, 200, "\"records_deleted\""));
    CU_ASSERT(http_has("POST", "/offset-gaps/ack", "{}", 400, "by"));
    CU_ASSERT(http_has("POST", "/offset-gaps/ack", "{\"by\":\"ops\"}", 200, "\"acknowledged\":1"));
    CU_ASSERT(http_has("GET", "/readyz", NULL, 200, "\"degraded\":false"));
    stop_daemon();
}

static void test_log_reset(void)
{
    long long events = q("SELECT count(*) FROM event_log");
    char args[1200], out[8192];
    snprintf(args, sizeof(args),
             "org.apache.kafka.tools.TopicCommand --bootstrap-server %s --delete --topic " TOPIC,
             bootstrap);
    CU_ASSERT_EQUAL_FATAL(kafka_tool(args, out, sizeof(out)), 0);
    sleep(2);
    snprintf(args, sizeof(args),
             "org.apache.kafka.tools.TopicCommand --bootstrap-server %s --create --topic " TOPIC
             " --partitions 1 --replication-factor 1",
             bootstrap);
    for (int i = 0; i < 10 && kafka_tool(args, out, sizeof(out)) != 0; i++)
        sleep(1); /* the deletion finishes in the background */
    CU_ASSERT_FATAL(generate(3) == 0);
    long long end = high_watermark();
    long long stored = q("SELECT next_offset FROM consumer_offsets WHERE topic = '" TOPIC "'");
    CU_ASSERT_FATAL(stored > end); /* the new log is shorter than what was read of the old */
    start_daemon();
    CU_ASSERT(stored_reaches_end(15000));
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM offset_gaps WHERE kind = 'log_reset' AND "
                      "acknowledged_at IS NULL AND missed IS NULL"),
                    1);
    /* the new log's events, each once (new event ids) */
    /* casewatch-gen's event ids name their seed: g3-… are the new log's */
    CU_ASSERT(q("SELECT count(*) FROM event_log") > events);
    CU_ASSERT_EQUAL(q("SELECT count(*) FROM event_log WHERE topic = '" TOPIC "' AND event_id "
                      "LIKE 'g3-%'"),
                    end);
    char cmd[900];
    snprintf(cmd, sizeof(cmd), "grep -c 'the log was reset' %s", log_path);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT(http_has("GET", "/readyz", NULL, 200, "\"degraded\":true"));
    stop_daemon();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("offset gaps (real Kafka 4.4, PostgreSQL)", suite_init, suite_clean);
    CU_add_test(s, "records deleted before they were read: no stall, recorded, degraded until "
                   "acknowledged",
                test_records_deleted);
    CU_add_test(s, "the topic recreated: read from its start, recorded as a log reset",
                test_log_reset);
    return cwt_cunit_run();
}
