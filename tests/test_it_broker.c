/*
 * test_it_broker.c — integration suite for the test infrastructure itself: casewatch-broker
 * (mock cluster, bootstrap file, control channel), kcat with binary payloads, the private
 * PostgreSQL of deploy/pg-up.sh (socket, TCP, crash and restart), deploy/stack-up.sh, and the
 * cwtest harness that drives them. Servers that cannot start fail the run; nothing is skipped.
 */
#include "cwtest.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NMSG 100

static cwt_broker_t broker;
static cwt_pg_t pg;

/* ---- helpers ------------------------------------------------------------------------------ */

static bool tcp_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Split "host:port,host:port" into ports; returns the count, or -1 if malformed. */
static int bootstrap_ports(const char *bootstrap, int *ports, int max)
{
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", bootstrap);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (colon == NULL || n == max || strncmp(tok, "127.0.0.1", (size_t)(colon - tok)) != 0)
            return -1;
        char *end = NULL;
        long p = strtol(colon + 1, &end, 10);
        if (*end != '\0' || p <= 0 || p > 65535)
            return -1;
        ports[n++] = (int)p;
    }
    return n;
}

/* Our live (non-zombie) child processes: whatever a test started and did not stop. */
static int live_children(void)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp != NULL && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == getpid() &&
            state != 'Z') {
            fprintf(stderr, "leftover child process: %s\n", buf);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Is any process running with `needle` in its command line (e.g. a PostgreSQL data dir)? */
static int processes_mentioning(const char *needle)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[len] = '\0';
        if (len > 0 && strstr(buf, needle) != NULL && !cwt_pid_gone((pid_t)atoi(de->d_name))) {
            fprintf(stderr, "leftover process %s: %s\n", de->d_name, buf);
            n++;
        }
    }
    closedir(d);
    return n;
}

static bool file_contains(const char *path, const char *needle)
{
    char buf[65536];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Message i: a text part, then bytes that break line- and string-based tools. */
static size_t make_message(int i, unsigned char *out)
{
    size_t n = (size_t)snprintf((char *)out, 32, "msg-%03d", i);
    out[n++] = 0x00;
    out[n++] = 0x0a;
    for (int j = 0; j < i % 17; j++)
        out[n++] = (unsigned char)(i * 31 + j);
    out[n++] = 0x0a;
    out[n++] = 0x00;
    out[n++] = 0xff;
    return n;
}

/* ---- broker suite ------------------------------------------------------------------------- */

static void test_broker_bad_usage(void)
{
    char cmd[600], out[4096];
    snprintf(cmd, sizeof(cmd), "%s/casewatch-broker --brokers 0 2>&1", CW_BINARY_DIR);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--brokers"));
    snprintf(cmd, sizeof(cmd), "%s/casewatch-broker --topic nopartitions 2>&1", CW_BINARY_DIR);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "NAME:PARTITIONS"));
    snprintf(cmd, sizeof(cmd), "%s/casewatch-broker --help", CW_BINARY_DIR);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--control-file"));
}

static void test_broker_start(void)
{
    static const char *const topics[] = {"t1:4", NULL};
    CU_ASSERT_FATAL(cwt_broker_start(&broker, 2, topics) == 0);
    CU_ASSERT(broker.pid > 0);

    int ports[8];
    CU_ASSERT_EQUAL_FATAL(bootstrap_ports(broker.bootstrap, ports, 8), 2);
    CU_ASSERT_NOT_EQUAL(ports[0], ports[1]);
    CU_ASSERT(tcp_accepts(ports[0]));
    CU_ASSERT(tcp_accepts(ports[1]));

    /* The file holds exactly one line, the same as the harness read and stdout printed. */
    char path[300], content[600];
    snprintf(path, sizeof(path), "%s/bootstrap", broker.dir);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(content, 1, sizeof(content) - 1, f);
    fclose(f);
    content[n] = '\0';
    char expect[600];
    snprintf(expect, sizeof(expect), "%s\n", broker.bootstrap);
    CU_ASSERT_STRING_EQUAL(content, expect);
    snprintf(path, sizeof(path), "%s/broker.log", broker.dir);
    CU_ASSERT(file_contains(path, expect));

    /* A client nobody here wrote sees both brokers and the topic. */
    char cmd[800], out[8192];
    snprintf(cmd, sizeof(cmd), "kcat -L -m 10 -b '%s' -t t1", broker.bootstrap);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " 2 brokers:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "topic \"t1\" with 4 partitions"));
}

static void test_kcat_binary_roundtrip(void)
{
    CU_ASSERT_FATAL(broker.pid > 0);
    unsigned char msg[64];
    for (int i = 0; i < NMSG; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%03d", i);
        size_t len = make_message(i, msg);
        if (cwt_kcat_produce(&broker, "t1", key, msg, len) != 0) {
            CU_FAIL_FATAL("kcat produce failed");
        }
    }
    CU_ASSERT_EQUAL(cwt_kcat_count(&broker, "t1", 30000), NMSG);
    CU_ASSERT_EQUAL(cwt_kcat_produce(&broker, "t1", "empty", "", 0), -1);

    /* Byte-exact: "<partition> <key> <size> <payload>\n", parsed by size, not by lines. */
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "kcat -C -q -e -o beginning -b '%s' -t t1 -f '%%p %%k %%S %%s\\n'",
             broker.bootstrap);
    static char out[1 << 20];
    size_t outlen = 0;
    CU_ASSERT_EQUAL_FATAL(cwt_run_capture(cmd, out, sizeof(out), &outlen), 0);
    bool seen[NMSG] = {false};
    bool partitions[4] = {false};
    int good = 0;
    size_t off = 0;
    while (off < outlen) {
        /* header "<partition> k<index> <size> " is text; the payload is <size> raw bytes */
        char hdr[64];
        size_t h = 0;
        int spaces = 0;
        while (spaces < 3 && off + h < outlen && h < sizeof(hdr) - 1) {
            hdr[h] = out[off + h];
            if (hdr[h++] == ' ')
                spaces++;
        }
        hdr[h] = '\0';
        int part = -1, idx = -1;
        long size = -1;
        if (spaces != 3 || sscanf(hdr, "%d k%d %ld", &part, &idx, &size) != 3) {
            CU_FAIL("unparsable kcat output");
            break;
        }
        off += h;
        if (idx < 0 || idx >= NMSG || part < 0 || part >= 4 || size < 0 ||
            off + (size_t)size + 1 > outlen) {
            CU_FAIL("bad record in kcat output");
            break;
        }
        size_t len = make_message(idx, msg);
        if ((size_t)size == len && memcmp(out + off, msg, len) == 0 && out[off + len] == '\n' &&
            !seen[idx]) {
            seen[idx] = true;
            good++;
        }
        partitions[part] = true;
        off += (size_t)size + 1;
    }
    CU_ASSERT_EQUAL(good, NMSG);
    int used_parts = partitions[0] + partitions[1] + partitions[2] + partitions[3];
    CU_ASSERT(used_parts >= 2); /* keys spread over partitions */
}

static void test_broker_control(void)
{
    CU_ASSERT_FATAL(broker.pid > 0);
    int ports[8];
    CU_ASSERT_EQUAL_FATAL(bootstrap_ports(broker.bootstrap, ports, 8), 2);

    CU_ASSERT_EQUAL(cwt_broker_control(&broker, "broker-down 2\n", 10000), 0);
    CU_ASSERT(!tcp_accepts(ports[1]));
    CU_ASSERT(tcp_accepts(ports[0]));
    CU_ASSERT_EQUAL(cwt_broker_control(&broker, "# comment\nbroker-up 2\n", 10000), 0);
    CU_ASSERT(tcp_accepts(ports[1]));
    CU_ASSERT_EQUAL(cwt_broker_control(&broker, "no-such-command 1\n", 10000), -1);
    CU_ASSERT_EQUAL(cwt_broker_control(&broker, "broker-down\n", 10000), -1);

    /* Still one healthy cluster holding all the data. */
    CU_ASSERT_EQUAL(cwt_kcat_count(&broker, "t1", 30000), NMSG);
}

static void test_broker_stop(void)
{
    CU_ASSERT_FATAL(broker.pid > 0);
    pid_t pid = broker.pid;
    int ports[8];
    int np = bootstrap_ports(broker.bootstrap, ports, 8);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", broker.dir);

    CU_ASSERT_EQUAL(cwt_broker_stop(&broker), 0); /* exit status 0 on SIGTERM */
    CU_ASSERT(cwt_pid_gone(pid));
    for (int i = 0; i < np; i++)
        CU_ASSERT(!tcp_accepts(ports[i]));
    if (getenv("CWT_KEEP_TMP") == NULL)
        CU_ASSERT(access(dir, F_OK) != 0);
    CU_ASSERT_EQUAL(live_children(), 0);
    broker.pid = -1;
}

/* ---- PostgreSQL suite --------------------------------------------------------------------- */

static void test_pg_start(void)
{
    CU_ASSERT_FATAL(cwt_pg_start(&pg) == 0);
    CU_ASSERT(pg.port >= 20000 && pg.port <= 60000);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select 1"), 1);

    /* Listening on the Unix socket in sockdir... */
    char sock[400];
    snprintf(sock, sizeof(sock), "%s/.s.PGSQL.%d", pg.sockdir, pg.port);
    struct stat st;
    CU_ASSERT_FATAL(stat(sock, &st) == 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_PTR_NOT_NULL(strstr(pg.conninfo, pg.sockdir));
    /* ...and the default conninfo really goes through it (no server address on a socket). */
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select inet_server_addr() is null"), 1);

    /* ...and on 127.0.0.1. */
    cwt_pg_t tcp = pg;
    snprintf(tcp.conninfo, sizeof(tcp.conninfo),
             "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=10", pg.port);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&tcp, "select inet_server_addr() = '127.0.0.1'::inet"), 1);

    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select current_setting('server_version_num')::int / 10000"),
                    15);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select pg_encoding_to_char(encoding) = 'UTF8' from "
                                       "pg_database where datname = 'postgres'"),
                    1);
    CU_ASSERT_EQUAL(cwt_pg_exec(&pg, "create table t (x int); insert into t values (1),(2),(3)"),
                    0);
    CU_ASSERT_EQUAL(cwt_pg_exec(&pg, "select no_such_column from t"), -1);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select 'abc'"), -1);
}

static void test_pg_crash_restart(void)
{
    CU_ASSERT_FATAL(pg.port > 0);
    pid_t pm = cwt_pg_postmaster_pid(&pg);
    CU_ASSERT_FATAL(pm > 0);
    int port = pg.port;
    CU_ASSERT_EQUAL_FATAL(cwt_pg_immediate_stop(&pg), 0);
    CU_ASSERT(cwt_pid_gone(pm));
    CU_ASSERT(!tcp_accepts(port));
    CU_ASSERT_EQUAL_FATAL(cwt_pg_restart(&pg), 0);
    CU_ASSERT_EQUAL(pg.port, port);
    CU_ASSERT_EQUAL(cwt_pg_scalar(&pg, "select count(*) from t"), 3);
    CU_ASSERT(cwt_pg_postmaster_pid(&pg) > 0);
    CU_ASSERT(cwt_pg_postmaster_pid(&pg) != pm);
}

static void test_pg_stop(void)
{
    CU_ASSERT_FATAL(pg.port > 0);
    pid_t pm = cwt_pg_postmaster_pid(&pg);
    CU_ASSERT_FATAL(pm > 0);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", pg.dir);
    CU_ASSERT_EQUAL(cwt_pg_stop(&pg), 0);
    CU_ASSERT(cwt_pid_gone(pm));
    CU_ASSERT(!tcp_accepts(pg.port));
    CU_ASSERT_EQUAL(processes_mentioning(dir), 0);
    if (getenv("CWT_KEEP_TMP") == NULL)
        CU_ASSERT(access(dir, F_OK) != 0);
    CU_ASSERT_EQUAL(live_children(), 0);
    pg.port = 0;
}

static void test_pg_up_fails_loudly(void)
{
    char dir[256], cmd[1024], out[16384];
    cwt_tmpdir(dir, sizeof(dir), "pgfail");
    /* A server that cannot start (impossible shared memory) must fail, naming its log. */
    snprintf(cmd, sizeof(cmd), "bash %s/deploy/pg-up.sh %s/pg --set shared_buffers=1TB 2>&1",
             CW_SOURCE_DIR, dir);
    int rc = cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_NOT_EQUAL(rc, 0);
    char log[400];
    snprintf(log, sizeof(log), "see %s/pg/pg.log", dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, log));
    CU_ASSERT_EQUAL(processes_mentioning(dir), 0);
    snprintf(cmd, sizeof(cmd), "bash %s/deploy/pg-down.sh %s/pg --purge 2>&1", CW_SOURCE_DIR, dir);
    CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
}

/* ---- the stack scripts -------------------------------------------------------------------- */

static bool env_value(const char *text, const char *name, char *dst, size_t dstsz)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s=", name);
    for (const char *p = text; (p = strstr(p, pat)) != NULL; p++) {
        if (p != text && p[-1] != '\n')
            continue;
        p += strlen(pat);
        size_t n = strcspn(p, "\n");
        if (n >= 2 && p[0] == '\'' && p[n - 1] == '\'') {
            p++;
            n -= 2;
        }
        if (n + 1 > dstsz)
            return false;
        memcpy(dst, p, n);
        dst[n] = '\0';
        return true;
    }
    return false;
}

static void test_stack_up_down(void)
{
    char dir[200], cmd[1024], out[8192];
    cwt_tmpdir(dir, sizeof(dir), "stack");
    snprintf(cmd, sizeof(cmd), "CW_BIN_DIR='%s' bash %s/deploy/stack-up.sh %s/s --brokers 2",
             CW_BINARY_DIR, CW_SOURCE_DIR, dir);
    int up = cwt_run(cmd, out, sizeof(out));
    CU_ASSERT_EQUAL(up, 0);

    /* No fatal assertions until stack-down has run: it must not leak servers. */
    char config[400] = "", bootstrap[512] = "", conninfo[512] = "", brokerpid[32] = "";
    char port[16] = "", sockdir[300] = "";
    bool parsed = env_value(out, "CW_CONFIG", config, sizeof(config)) &&
                  env_value(out, "CW_KAFKA_BOOTSTRAP", bootstrap, sizeof(bootstrap)) &&
                  env_value(out, "CW_PG_CONNINFO", conninfo, sizeof(conninfo)) &&
                  env_value(out, "CW_PG_PORT", port, sizeof(port)) &&
                  env_value(out, "CW_PG_SOCKDIR", sockdir, sizeof(sockdir)) &&
                  env_value(out, "CW_BROKER_PID", brokerpid, sizeof(brokerpid));
    CU_ASSERT(parsed);
    cwt_pg_t spg = {0};
    snprintf(spg.dir, sizeof(spg.dir), "%s/s/pg", dir);
    snprintf(spg.conninfo, sizeof(spg.conninfo), "%s", conninfo);
    pid_t pm = cwt_pg_postmaster_pid(&spg);
    if (parsed && up == 0) {
        char expect[4096], got[4096] = "";
        snprintf(expect, sizeof(expect),
                 "[daemon]\nlog_level = info\nbatch_max_events = 10000\nbatch_max_wait_ms = 10\n"
                 "max_message_bytes = 1048576\n\n[postgres]\n"
                 "conninfo = host=%s/s/pg/sock port=%s user=postgres dbname=postgres\n\n"
                 "[topics]\nevents = casewatch.case-events,casewatch.hearing-events\n"
                 "dead_letter = casewatch.dead-letters\nalerts = casewatch.alerts\n"
                 "metrics = casewatch.metrics\n\n[kafka]\nbootstrap.servers = %s\n"
                 "group.id = casewatch\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 500\n",
                 dir, port, bootstrap);
        FILE *f = fopen(config, "r");
        if (f != NULL) {
            size_t n = fread(got, 1, sizeof(got) - 1, f);
            got[n] = '\0';
            fclose(f);
        }
        /* then the admin API on 8089, or a free port when 8089 is taken */
        size_t el = strlen(expect);
        CU_ASSERT_EQUAL(strncmp(got, expect, el), 0);
        const char *admin = "\n[admin]\nlisten = 127.0.0.1:";
        CU_ASSERT_EQUAL(strncmp(got + (strlen(got) >= el ? el : 0), admin, strlen(admin)), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "CW_ADMIN_URL=http://127.0.0.1:"));
        CU_ASSERT_EQUAL(cwt_pg_scalar(&spg, "select 1"), 1);
        int ports[8];
        CU_ASSERT_EQUAL(bootstrap_ports(bootstrap, ports, 8), 2);
        snprintf(cmd, sizeof(cmd), "kcat -L -m 10 -b '%s' -t casewatch.case-events", bootstrap);
        CU_ASSERT_EQUAL(cwt_run(cmd, out, sizeof(out)), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "with 8 partitions"));
        CU_ASSERT(pm > 0);
    }

    snprintf(cmd, sizeof(cmd), "bash %s/deploy/stack-down.sh %s/s --purge", CW_SOURCE_DIR, dir);
    CU_ASSERT_EQUAL(cwt_run(cmd, NULL, 0), 0);
    CU_ASSERT(cwt_pid_gone(pm));
    CU_ASSERT(cwt_pid_gone((pid_t)atoi(brokerpid)));
    CU_ASSERT_EQUAL(processes_mentioning(dir), 0);
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/s", dir);
    CU_ASSERT(access(sub, F_OK) != 0);
    CU_ASSERT_EQUAL(live_children(), 0);
}

/* ---- harness odds and ends ------------------------------------------------------------- */

static bool count_reaches(void *arg)
{
    int *n = arg;
    return ++*n >= 3;
}

static void test_harness_helpers(void)
{
    int port = cwt_free_port();
    CU_ASSERT(port > 0 && port <= 65535);
    CU_ASSERT(!tcp_accepts(port));

    int n = 0;
    CU_ASSERT(cwt_wait_until(count_reaches, &n, 5000));
    CU_ASSERT_EQUAL(n, 3);
    n = -1000000;
    CU_ASSERT(!cwt_wait_until(count_reaches, &n, 100));

    char out[64];
    CU_ASSERT_EQUAL(cwt_run("printf 'a b'; exit 3", out, sizeof(out)), 3);
    CU_ASSERT_STRING_EQUAL(out, "a b");
    size_t len = 0;
    CU_ASSERT_EQUAL(cwt_run_capture("printf 'x\\000y'", out, sizeof(out), &len), 0);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(cwt_run("kill -TERM $$", NULL, 0), 128 + 15);

    char dir[256];
    cwt_tmpdir(dir, sizeof(dir), "cfg");
    char path[300];
    snprintf(path, sizeof(path), "%s/casewatch.ini", dir);
    cwt_pg_t fake_pg = {.port = 5432};
    snprintf(fake_pg.conninfo, sizeof(fake_pg.conninfo), "host=/x port=5432");
    cwt_broker_t fake_b = {.pid = -1};
    snprintf(fake_b.bootstrap, sizeof(fake_b.bootstrap), "127.0.0.1:1");
    CU_ASSERT_EQUAL(cwt_write_config(path, &fake_pg, &fake_b, NULL, "[daemon]\nlog_level = debug"),
                    0);
    CU_ASSERT(file_contains(path, "conninfo = host=/x port=5432\n"));
    CU_ASSERT(file_contains(path, "bootstrap.servers = 127.0.0.1:1\n"));
    CU_ASSERT(file_contains(path, "group.id = cwt-"));
    CU_ASSERT(file_contains(path, "\n[daemon]\nlog_level = debug\n"));

    /* A daemon that exits on its own: alive() reaps it, stop() still reports its status. */
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "%s/casewatchd", CW_BINARY_DIR);
    if (access(cmd, X_OK) == 0) {
        pid_t d = cwt_daemon_start("/nonexistent/casewatch.ini", "/dev/null");
        CU_ASSERT(d > 0);
        for (int i = 0; i < 500 && cwt_daemon_alive(d); i++)
            usleep(10000);
        CU_ASSERT(!cwt_daemon_alive(d));
        int st = cwt_daemon_stop(d, SIGTERM, 1000);
        CU_ASSERT(st > 0 && st < 128); /* a config error is an exit code, not a crash */
    } else {
        fprintf(stderr, "note: %s not built yet: cwt_daemon_* not exercised here\n", cmd);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("broker", NULL, NULL);
    CU_add_test(s, "bad usage exits 2", test_broker_bad_usage);
    CU_add_test(s, "2 brokers, bootstrap file", test_broker_start);
    CU_add_test(s, "kcat binary round trip x100", test_kcat_binary_roundtrip);
    CU_add_test(s, "control channel", test_broker_control);
    CU_add_test(s, "clean stop", test_broker_stop);

    s = CU_add_suite("postgres", NULL, NULL);
    CU_add_test(s, "start, socket and TCP", test_pg_start);
    CU_add_test(s, "immediate stop and restart", test_pg_crash_restart);
    CU_add_test(s, "clean stop", test_pg_stop);
    CU_add_test(s, "pg-up.sh fails loudly", test_pg_up_fails_loudly);

    s = CU_add_suite("scripts", NULL, NULL);
    CU_add_test(s, "stack-up / stack-down", test_stack_up_down);

    s = CU_add_suite("harness", NULL, NULL);
    CU_add_test(s, "helpers", test_harness_helpers);
    return cwt_cunit_run();
}
