/*
 * cwtest.c — integration-test harness: starts and stops PostgreSQL (deploy/pg-up.sh), the
 * embedded broker (casewatch-broker) and casewatchd, drives kcat, and owns the cleanup
 * registry that guarantees none of them outlives the test process.
 *
 * Processes: the broker and daemons are our direct children (fork/exec, reaped by pid). The
 * postmaster daemonizes; we make ourselves a child subreaper (prctl) so that it is re-parented
 * to us rather than to PID 1 — which in containers often never reaps — and a stopped
 * postmaster can be reaped and proven gone. Only known pids are waited for until exit.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CW_SOURCE_DIR
#error "CW_SOURCE_DIR must be defined (CMake does it)"
#endif
#ifndef CW_BINARY_DIR
#error "CW_BINARY_DIR must be defined (CMake does it)"
#endif

#define CWT_RUN_TIMEOUT_MS       (600 * 1000)
#define CWT_PG_SCRIPT_TIMEOUT_MS (180 * 1000)
#define CWT_BROKER_START_MS      10000
#define CWT_BROKER_STOP_MS       10000

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cwtest: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

static bool keep_tmp_env(void)
{
    const char *k = getenv("CWT_KEEP_TMP");
    return k != NULL && *k != '\0' && strcmp(k, "0") != 0;
}

/* ---- cleanup registry ------------------------------------------------------------------- */

typedef enum { ENT_FREE = 0, ENT_PG, ENT_BROKER, ENT_DAEMON, ENT_TMPDIR } ent_kind_t;

typedef struct {
    ent_kind_t kind;
    pid_t pid;     /* broker, daemon */
    bool exited;   /* reaped already; status below */
    int status;    /* status_code() of the reaped process */
    char dir[256]; /* pg, broker, tmpdir */
} ent_t;

#define REG_MAX 128
static ent_t reg[REG_MAX];
static pid_t reg_owner; /* the process that registered: forked children never clean */
static bool run_failed; /* set by cwt_cunit_run(): keep small dirs for inspection */
static bool cleaning;

static void on_fatal_signal(int sig)
{
    /* Not async-signal-safe in the strict sense (it forks pg-down.sh), but the alternative is
     * leaking servers when ctest times out; the process is going away either way. */
    signal(sig, SIG_DFL);
    cwt_cleanup_all();
    raise(sig);
}

static void reg_init(void)
{
    if (reg_owner == getpid())
        return;
    reg_owner = getpid();
    memset(reg, 0, sizeof(reg));
    atexit(cwt_cleanup_all);
    /* Orphaned descendants (the daemonized postmaster) become our children, not PID 1's. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        say("prctl(PR_SET_CHILD_SUBREAPER): %s (postmaster pids cannot be reaped)",
            strerror(errno));
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            signal(sigs[i], on_fatal_signal);
    }
}

static ent_t *reg_add(ent_kind_t kind, pid_t pid, const char *dir)
{
    reg_init();
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].kind == ENT_FREE) {
            reg[i] = (ent_t){.kind = kind, .pid = pid};
            if (dir != NULL)
                snprintf(reg[i].dir, sizeof(reg[i].dir), "%s", dir);
            return &reg[i];
        }
    }
    say("cleanup registry full (%d entries): a test leaks resources", REG_MAX);
    abort();
}

static ent_t *reg_find_pid(pid_t pid)
{
    for (int i = 0; i < REG_MAX; i++)
        if (reg[i].kind != ENT_FREE && reg[i].pid == pid && pid > 0)
            return &reg[i];
    return NULL;
}

static ent_t *reg_find_dir(ent_kind_t kind, const char *dir)
{
    for (int i = 0; i < REG_MAX; i++)
        if (reg[i].kind == kind && strcmp(reg[i].dir, dir) == 0)
            return &reg[i];
    return NULL;
}

static void reg_del(ent_t *e)
{
    if (e != NULL)
        memset(e, 0, sizeof(*e));
}

/*
 * Non-blocking reap of one known pid. Returns true if it has exited (now or before); the
 * status is kept in the registry entry when there is one, so a later stop can report it.
 */
static bool reap(pid_t pid, int *status_out)
{
    ent_t *e = reg_find_pid(pid);
    if (e != NULL && e->exited) {
        if (status_out)
            *status_out = e->status;
        return true;
    }
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        int code = status_code(st);
        if (e != NULL) {
            e->exited = true;
            e->status = code;
        }
        if (status_out)
            *status_out = code;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        /* Not our child (or already reaped elsewhere): judge by existence. */
        if (kill(pid, 0) != 0 && errno == ESRCH) {
            if (status_out)
                *status_out = -1;
            return true;
        }
    }
    return false;
}

/* Wait up to timeout_ms for pid to exit; true if it did. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status_out)
{
    int64_t deadline = mono_ms() + timeout_ms;
    int pause = 5;
    for (;;) {
        if (reap(pid, status_out))
            return true;
        if (mono_ms() >= deadline)
            return false;
        sleep_ms(pause);
        if (pause < 50)
            pause *= 2;
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        say("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

static void rm_rf(const char *dir)
{
    if (dir[0] == '\0' || strcmp(dir, "/") == 0 || strncmp(dir, "/tmp/cwt-", 9) != 0) {
        say("refusing to remove '%s' (not a cwtest directory)", dir);
        return;
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- process spawning -------------------------------------------------------------------- */

typedef void (*sink_fn)(void *arg, const char *buf, size_t n);

typedef struct {
    char *out;
    size_t outsz;
    size_t len;
} capture_t;

static void capture_sink(void *arg, const char *buf, size_t n)
{
    capture_t *c = arg;
    if (c->out == NULL || c->outsz == 0)
        return;
    size_t room = c->outsz - 1 - c->len;
    if (n > room)
        n = room;
    memcpy(c->out + c->len, buf, n);
    c->len += n;
    c->out[c->len] = '\0';
}

/*
 * Run argv with stdin from /dev/null, stdout into sink, stderr inherited. Returns the exit code
 * (128+N for signal N), or -1 if it could not run or outlived timeout_ms (then it is killed).
 */
static int spawn(char *const argv[], sink_fn sink, void *sink_arg, int timeout_ms)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        say("pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        say("fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(p[1], 1);
        execvp(argv[0], argv);
        fprintf(stderr, "cwtest: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    int64_t deadline = mono_ms() + timeout_ms;
    char buf[65536];
    bool timed_out = false;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say("poll: %s", strerror(errno));
            timed_out = true;
            break;
        }
        if (r == 0)
            continue;
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (sink != NULL)
            sink(sink_arg, buf, (size_t)n);
    }
    close(p[0]);
    int st = 0;
    if (!timed_out) {
        int64_t left = deadline - mono_ms();
        if (wait_exit(pid, left > 0 ? (int)left : 0, &st))
            return st;
    }
    say("%s did not finish within %d ms: killed", argv[0], timeout_ms);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int cwt_run_capture(const char *cmd, char *out, size_t outsz, size_t *outlen)
{
    capture_t c = {.out = out, .outsz = outsz};
    if (out != NULL && outsz > 0)
        out[0] = '\0';
    char *const argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    int rc = spawn(argv, capture_sink, &c, CWT_RUN_TIMEOUT_MS);
    if (outlen != NULL)
        *outlen = c.len;
    return rc;
}

int cwt_run(const char *cmd, char *out, size_t outsz)
{
    return cwt_run_capture(cmd, out, outsz, NULL);
}

void cwt_dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        say("(no %s: %s)", path, strerror(errno));
        return;
    }
    fprintf(stderr, "---- %s ----\n", path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of %s ----\n", path);
    fclose(f);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static bool make_tmpdir(char *out, size_t n, const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "/tmp/cwt-%s-XXXXXX", tag != NULL ? tag : "x");
    if (mkdtemp(tmpl) == NULL) {
        say("mkdtemp %s: %s", tmpl, strerror(errno));
        return false;
    }
    if (strlen(tmpl) + 1 > n) {
        say("buffer too small for %s", tmpl);
        rmdir(tmpl);
        return false;
    }
    memcpy(out, tmpl, strlen(tmpl) + 1);
    return true;
}

void cwt_tmpdir(char *out, size_t n, const char *tag)
{
    if (!make_tmpdir(out, n, tag))
        abort();
    /* Searchable (not listable) by others: user postgres must reach a cluster made inside. */
    if (chmod(out, 0711) != 0)
        say("chmod %s: %s", out, strerror(errno));
    reg_add(ENT_TMPDIR, 0, out);
}

bool cwt_wait_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    int pause = 10;
    for (;;) {
        if (pred(arg))
            return true;
        if (mono_ms() >= deadline)
            return false;
        sleep_ms(pause);
        if (pause < 200)
            pause += pause / 2;
    }
}

int cwt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool cwt_pid_gone(pid_t pid)
{
    if (pid <= 0)
        return true;
    if (reap(pid, NULL))
        return true;
    /* A zombie that is someone else's child has stopped running all the same. */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp != NULL && rp[1] == ' ' && rp[2] == 'Z';
}

/* ---- PostgreSQL --------------------------------------------------------------------------- */

static int pg_script(const char *script, const char *dir, const char *arg1, const char *arg2,
                     char *out, size_t outsz)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/%s", CW_SOURCE_DIR, script);
    char *const argv[] = {"bash", path, (char *)dir, (char *)arg1, (char *)arg2, NULL};
    capture_t c = {.out = out, .outsz = outsz};
    if (out != NULL && outsz > 0)
        out[0] = '\0';
    return spawn(argv, out != NULL ? capture_sink : NULL, &c, CWT_PG_SCRIPT_TIMEOUT_MS);
}

/* Value of NAME=VALUE or NAME='VALUE' in pg-up.sh's output, into dst. */
static bool env_get(const char *text, const char *name, char *dst, size_t dstsz)
{
    size_t nl = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len > nl && strncmp(line, name, nl) == 0 && line[nl] == '=') {
            const char *v = line + nl + 1;
            size_t vl = len - nl - 1;
            if (vl >= 2 && v[0] == '\'' && v[vl - 1] == '\'') {
                v++;
                vl -= 2;
            }
            if (vl + 1 > dstsz)
                return false;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
            return true;
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return false;
}

static bool pg_parse(cwt_pg_t *pg, const char *out)
{
    char port[16];
    if (!env_get(out, "CW_PG_PORT", port, sizeof(port)) ||
        !env_get(out, "CW_PG_SOCKDIR", pg->sockdir, sizeof(pg->sockdir)) ||
        !env_get(out, "CW_PG_CONNINFO", pg->conninfo, sizeof(pg->conninfo))) {
        say("cannot parse pg-up.sh output:\n%s", out);
        return false;
    }
    pg->port = atoi(port);
    return pg->port > 0;
}

static void pg_dump_logs(const cwt_pg_t *pg)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/initdb.log", pg->dir);
    if (access(path, R_OK) == 0)
        cwt_dump_file(path);
    snprintf(path, sizeof(path), "%s/pg.log", pg->dir);
    cwt_dump_file(path);
}

pid_t cwt_pg_postmaster_pid(const cwt_pg_t *pg)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    fclose(f);
    if (pid <= 0 || cwt_pid_gone((pid_t)pid))
        return -1;
    return (pid_t)pid;
}

/* Wait for (and reap) a postmaster we saw before stopping it. */
static bool pg_wait_gone(pid_t pm)
{
    if (pm <= 0)
        return true;
    int64_t deadline = mono_ms() + 10000;
    while (!cwt_pid_gone(pm)) {
        if (mono_ms() >= deadline) {
            say("postmaster %d still running 10 s after pg-down.sh", (int)pm);
            return false;
        }
        sleep_ms(10);
    }
    return true;
}

int cwt_pg_start(cwt_pg_t *pg)
{
    memset(pg, 0, sizeof(*pg));
    if (!make_tmpdir(pg->dir, sizeof(pg->dir), "pg"))
        return -1;
    ent_t *e = reg_add(ENT_PG, 0, pg->dir);
    char out[4096];
    int rc = pg_script("pg-up.sh", pg->dir, NULL, NULL, out, sizeof(out));
    if (rc != 0 || !pg_parse(pg, out)) {
        say("cwt_pg_start: PostgreSQL did not start in %s (pg-up.sh exit status %d)", pg->dir, rc);
        pg_dump_logs(pg);
        pid_t pm = cwt_pg_postmaster_pid(pg);
        (void)pg_script("pg-down.sh", pg->dir, "--mode", "immediate", NULL, 0);
        pg_wait_gone(pm);
        if (!keep_tmp_env())
            (void)pg_script("pg-down.sh", pg->dir, "--purge", NULL, NULL, 0);
        reg_del(e);
        return -1;
    }
    return 0;
}

static int pg_stop_dir(const char *dir, bool purge)
{
    cwt_pg_t tmp = {0};
    snprintf(tmp.dir, sizeof(tmp.dir), "%s", dir);
    pid_t pm = cwt_pg_postmaster_pid(&tmp);
    /* pg-down.sh waits for the postmaster and purges only once it is gone. */
    int rc = pg_script("pg-down.sh", dir, purge ? "--purge" : NULL, NULL, NULL, 0);
    bool gone = pg_wait_gone(pm);
    if (rc != 0 || !gone) {
        say("stopping PostgreSQL in %s failed (pg-down.sh exit status %d)", dir, rc);
        pg_dump_logs(&tmp);
        return -1;
    }
    return 0;
}

int cwt_pg_stop(cwt_pg_t *pg)
{
    ent_t *e = reg_find_dir(ENT_PG, pg->dir);
    if (e == NULL) {
        say("cwt_pg_stop: %s is not a running cluster of this process", pg->dir);
        return -1;
    }
    int rc = pg_stop_dir(pg->dir, !keep_tmp_env());
    if (rc == 0)
        reg_del(e);
    return rc;
}

int cwt_pg_immediate_stop(cwt_pg_t *pg)
{
    pid_t pm = cwt_pg_postmaster_pid(pg);
    int rc = pg_script("pg-down.sh", pg->dir, "--mode", "immediate", NULL, 0);
    if (rc != 0 || !pg_wait_gone(pm)) {
        say("cwt_pg_immediate_stop: failed in %s (pg-down.sh exit status %d)", pg->dir, rc);
        return -1;
    }
    return 0;
}

int cwt_pg_restart(cwt_pg_t *pg)
{
    int port = pg->port;
    char out[4096];
    int rc = pg_script("pg-up.sh", pg->dir, NULL, NULL, out, sizeof(out));
    if (rc != 0 || !pg_parse(pg, out)) {
        say("cwt_pg_restart: PostgreSQL did not restart in %s (pg-up.sh exit status %d)", pg->dir,
            rc);
        pg_dump_logs(pg);
        return -1;
    }
    if (pg->port != port) {
        say("cwt_pg_restart: came back on port %d, not %d", pg->port, port);
        return -1;
    }
    return 0;
}

PGconn *cwt_pg_connect(const cwt_pg_t *pg)
{
    PGconn *c = PQconnectdb(pg->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        say("connect '%s': %s", pg->conninfo, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

long long cwt_pg_scalar(const cwt_pg_t *pg, const char *sql)
{
    PGconn *c = cwt_pg_connect(pg);
    if (c == NULL)
        return -1;
    long long v = -1;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        say("%s: %s", sql, PQresultErrorMessage(r));
    } else if (PQntuples(r) != 1 || PQnfields(r) != 1) {
        say("%s: %d rows x %d columns, expected one value", sql, PQntuples(r), PQnfields(r));
    } else if (PQgetisnull(r, 0, 0)) {
        say("%s: NULL", sql);
    } else {
        const char *s = PQgetvalue(r, 0, 0);
        char *end = NULL;
        errno = 0;
        if (strcmp(s, "t") == 0) {
            v = 1;
        } else if (strcmp(s, "f") == 0) {
            v = 0;
        } else {
            long long x = strtoll(s, &end, 10);
            if (errno != 0 || end == s || *end != '\0')
                say("%s: '%s' is not an integer", sql, s);
            else
                v = x;
        }
    }
    PQclear(r);
    PQfinish(c);
    return v;
}

bool cwt_pg_wait_scalar(const cwt_pg_t *pg, const char *sql, long long want, int timeout_ms)
{
    long long got = -2;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if ((got = cwt_pg_scalar(pg, sql)) == want)
            return true;
        usleep(100000);
    }
    fprintf(stderr, "\n%s: wanted %lld, got %lld\n", sql, want, got);
    return false;
}

int cwt_pg_exec(const cwt_pg_t *pg, const char *sql)
{
    PGconn *c = cwt_pg_connect(pg);
    if (c == NULL)
        return -1;
    int rc = 0;
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        say("%s: %s", sql, PQresultErrorMessage(r));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* ---- the broker --------------------------------------------------------------------------- */

static bool read_first_line(const char *path, char *dst, size_t dstsz)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool ok = fgets(dst, (int)dstsz, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    dst[strcspn(dst, "\r\n")] = '\0';
    return dst[0] != '\0';
}

/* Fork/exec argv with stdin /dev/null and stdout+stderr appended to log; -1 on failure. */
static pid_t spawn_bg(char *const argv[], const char *log)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Even a SIGKILLed test (ctest timeout) must not leave a broker or daemon behind. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0 || getppid() != parent)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || fd < 0) {
            fprintf(stderr, "cwtest: cannot open %s: %s\n", log, strerror(errno));
            _exit(127);
        }
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "cwtest: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int cwt_broker_start(cwt_broker_t *b, int nbrokers, const char *const *topics)
{
    memset(b, 0, sizeof(*b));
    b->pid = -1;
    char bin[512], nb[16], bootfile[300], ctlfile[300], log[300];
    snprintf(bin, sizeof(bin), "%s/casewatch-broker", CW_BINARY_DIR);
    if (access(bin, X_OK) != 0) {
        say("cwt_broker_start: %s: %s (not built?)", bin, strerror(errno));
        return -1;
    }
    if (!make_tmpdir(b->dir, sizeof(b->dir), "broker"))
        return -1;
    snprintf(nb, sizeof(nb), "%d", nbrokers);
    snprintf(bootfile, sizeof(bootfile), "%s/bootstrap", b->dir);
    snprintf(ctlfile, sizeof(ctlfile), "%s/control", b->dir);
    snprintf(log, sizeof(log), "%s/broker.log", b->dir);

    size_t ntopics = 0;
    while (topics != NULL && topics[ntopics] != NULL)
        ntopics++;
    char **argv = calloc(9 + 2 * ntopics, sizeof(char *));
    if (argv == NULL)
        abort();
    size_t a = 0;
    argv[a++] = bin;
    argv[a++] = "--brokers";
    argv[a++] = nb;
    argv[a++] = "--bootstrap-file";
    argv[a++] = bootfile;
    argv[a++] = "--control-file";
    argv[a++] = ctlfile;
    for (size_t i = 0; i < ntopics; i++) {
        argv[a++] = "--topic";
        argv[a++] = (char *)topics[i];
    }
    argv[a] = NULL;
    b->pid = spawn_bg(argv, log);
    free(argv);
    if (b->pid < 0)
        return -1;
    ent_t *e = reg_add(ENT_BROKER, b->pid, b->dir);

    int64_t deadline = mono_ms() + CWT_BROKER_START_MS;
    for (;;) {
        if (read_first_line(bootfile, b->bootstrap, sizeof(b->bootstrap)))
            return 0;
        int st;
        if (reap(b->pid, &st)) {
            say("cwt_broker_start: casewatch-broker exited with status %d before listening", st);
            break;
        }
        if (mono_ms() >= deadline) {
            say("cwt_broker_start: no %s after %d ms", bootfile, CWT_BROKER_START_MS);
            kill(b->pid, SIGKILL);
            wait_exit(b->pid, 5000, NULL);
            break;
        }
        sleep_ms(10);
    }
    cwt_dump_file(log);
    if (!keep_tmp_env())
        rm_rf(b->dir);
    reg_del(e);
    b->pid = -1;
    return -1;
}

static int broker_stop_pid(pid_t pid, const char *dir, bool purge)
{
    int st = -1;
    if (!reap(pid, &st)) {
        kill(pid, SIGTERM);
        if (!wait_exit(pid, CWT_BROKER_STOP_MS, &st)) {
            say("casewatch-broker %d ignored SIGTERM for %d ms: killed", (int)pid,
                CWT_BROKER_STOP_MS);
            kill(pid, SIGKILL);
            wait_exit(pid, 5000, NULL);
            st = -1;
        }
    }
    if (st != 0) {
        char log[300];
        snprintf(log, sizeof(log), "%s/broker.log", dir);
        say("casewatch-broker %d ended with status %d", (int)pid, st);
        cwt_dump_file(log);
    }
    if (purge)
        rm_rf(dir);
    return st;
}

int cwt_broker_stop(cwt_broker_t *b)
{
    ent_t *e = reg_find_pid(b->pid);
    if (e == NULL || e->kind != ENT_BROKER) {
        say("cwt_broker_stop: pid %d is not a broker of this process", (int)b->pid);
        return -1;
    }
    int st = broker_stop_pid(b->pid, b->dir, !keep_tmp_env());
    reg_del(e);
    return st;
}

static bool write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        say("cannot create %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        say("cannot write %s", path);
    return ok;
}

int cwt_broker_control(const cwt_broker_t *b, const char *commands, int timeout_ms)
{
    char ctl[300], tmp[310], ack[310];
    snprintf(ctl, sizeof(ctl), "%s/control", b->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", ctl);
    snprintf(ack, sizeof(ack), "%s.ack", ctl);
    unlink(ack);
    if (!write_file(tmp, commands, strlen(commands)) || rename(tmp, ctl) != 0) {
        say("cannot write %s", ctl);
        return -1;
    }
    if (kill(b->pid, SIGUSR1) != 0) {
        say("cannot signal broker %d: %s", (int)b->pid, strerror(errno));
        return -1;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    while (access(ack, R_OK) != 0) {
        if (mono_ms() >= deadline) {
            say("broker did not acknowledge control commands within %d ms", timeout_ms);
            return -1;
        }
        sleep_ms(5);
    }
    char text[8192];
    size_t n = 0;
    FILE *f = fopen(ack, "r");
    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    if (strncmp(text, "error", 5) == 0 || strstr(text, "\nerror") != NULL) {
        say("broker control failed:\n%s", text);
        return -1;
    }
    return 0;
}

/* ---- kcat ------------------------------------------------------------------------------ */

int cwt_encode_event(const char *textpb, void *out, size_t outsz, size_t *len)
{
    char in[] = "/tmp/cwt-event-XXXXXX", cmd[1024];
    int fd = mkstemp(in);
    if (fd < 0) {
        say("cwt_encode_event: mkstemp: %s", strerror(errno));
        return -1;
    }
    close(fd);
    if (!write_file(in, textpb, strlen(textpb))) {
        unlink(in);
        return -1;
    }
    snprintf(cmd, sizeof(cmd),
             "protoc --encode=casewatch.v1.Event -I " CW_SOURCE_DIR "/proto " CW_SOURCE_DIR
             "/proto/casewatch/v1/events.proto < %s",
             in);
    int rc = cwt_run_capture(cmd, out, outsz, len);
    unlink(in);
    if (rc != 0) {
        say("cwt_encode_event: protoc could not encode: %s", textpb);
        return -1;
    }
    return 0;
}

int cwt_publish_event(const cwt_broker_t *b, const char *topic, const char *key,
                      const char *textpb)
{
    char buf[8192];
    size_t len = 0;
    if (cwt_encode_event(textpb, buf, sizeof(buf), &len) != 0)
        return -1;
    return cwt_kcat_produce(b, topic, key, buf, len);
}

int cwt_kcat_produce(const cwt_broker_t *b, const char *topic, const char *key, const void *bytes,
                     size_t len)
{
    static unsigned seq;
    if (len == 0) {
        say("cwt_kcat_produce: kcat cannot produce an empty message (it skips empty input)");
        return -1;
    }
    char file[320];
    snprintf(file, sizeof(file), "%s/produce-%d-%u.bin", b->dir, (int)getpid(), seq++);
    if (!write_file(file, bytes, len))
        return -1;
    /* One file argument = one message, byte for byte; stdin would split on the delimiter. */
    char *argv[16];
    int a = 0;
    argv[a++] = "kcat";
    argv[a++] = "-P";
    argv[a++] = "-q";
    argv[a++] = "-b";
    argv[a++] = (char *)b->bootstrap;
    argv[a++] = "-t";
    argv[a++] = (char *)topic;
    if (key != NULL) {
        argv[a++] = "-k";
        argv[a++] = (char *)key;
    }
    argv[a++] = file;
    argv[a] = NULL;
    int rc = spawn(argv, NULL, NULL, 30000);
    unlink(file);
    if (rc != 0) {
        say("kcat -P to %s failed (status %d)", topic, rc);
        return -1;
    }
    return 0;
}

static void count_sink(void *arg, const char *buf, size_t n)
{
    long *count = arg;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            (*count)++;
}

int cwt_kcat_count(const cwt_broker_t *b, const char *topic, int timeout_ms)
{
    char *const argv[] = {
        "kcat", "-C",          "-q", "-e",   "-o", "beginning", "-b", (char *)b->bootstrap,
        "-t",   (char *)topic, "-f", "x\\n", NULL};
    long count = 0;
    int rc = spawn(argv, count_sink, &count, timeout_ms);
    if (rc != 0) {
        say("kcat -C on %s failed (status %d)", topic, rc);
        return -1;
    }
    return (int)count;
}

/* ---- casewatchd -------------------------------------------------------------------------- */

int cwt_write_config(const char *path, const cwt_pg_t *pg, const cwt_broker_t *b,
                     const char *group_id, const char *extra_ini)
{
    static unsigned seq;
    char group[128];
    if (group_id == NULL) {
        snprintf(group, sizeof(group), "cwt-%d-%u-%lld", (int)getpid(), seq++,
                 (long long)time(NULL));
        group_id = group;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        say("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "[daemon]\n"
            "log_level = info\n"
            "batch_max_events = 2000\n"
            "batch_max_wait_ms = 50\n"
            "max_message_bytes = 1048576\n"
            "\n"
            "[postgres]\n"
            "conninfo = %s\n"
            "\n"
            "[topics]\n"
            "events = casewatch.case-events,casewatch.hearing-events\n"
            "dead_letter = casewatch.dead-letters\n"
            "alerts = casewatch.alerts\n"
            "metrics = casewatch.metrics\n"
            "\n"
            "[kafka]\n"
            "bootstrap.servers = %s\n"
            "group.id = %s\n"
            "session.timeout.ms = 6000\n"
            "heartbeat.interval.ms = 500\n"
            "\n"
            "[admin]\n"
            "listen = 127.0.0.1:0\n",
            pg->conninfo, b->bootstrap, group_id);
    if (extra_ini != NULL)
        fprintf(f, "\n%s\n", extra_ini);
    if (fclose(f) != 0) {
        say("cannot write %s", path);
        return -1;
    }
    return 0;
}

pid_t cwt_daemon_start(const char *config_path, const char *log_path)
{
    return cwt_daemon_start_opt(config_path, log_path, NULL);
}

pid_t cwt_daemon_start_opt(const char *config_path, const char *log_path, const char *opt)
{
    char bin[512];
    snprintf(bin, sizeof(bin), "%s/casewatchd", CW_BINARY_DIR);
    if (access(bin, X_OK) != 0) {
        say("cwt_daemon_start: %s: %s (not built?)", bin, strerror(errno));
        return -1;
    }
    const char *wrapper = getenv("CWT_DAEMON_WRAPPER");
    pid_t pid;
    if (wrapper != NULL && *wrapper != '\0') {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "exec %s \"$0\" \"$@\"", wrapper);
        char *const argv[] = {"/bin/sh", "-c", cmd, bin, "-c", (char *)config_path, (char *)opt,
                              NULL};
        pid = spawn_bg(argv, log_path);
    } else {
        char *const argv[] = {bin, "-c", (char *)config_path, (char *)opt, NULL};
        pid = spawn_bg(argv, log_path);
    }
    if (pid > 0)
        reg_add(ENT_DAEMON, pid, NULL);
    return pid;
}

int cwt_daemon_stop(pid_t pid, int sig, int timeout_ms)
{
    ent_t *e = reg_find_pid(pid);
    int st = -1;
    if (!reap(pid, &st)) {
        kill(pid, sig);
        if (!wait_exit(pid, timeout_ms, &st)) {
            say("casewatchd %d still running %d ms after signal %d: SIGKILL", (int)pid, timeout_ms,
                sig);
            kill(pid, SIGKILL);
            wait_exit(pid, 5000, NULL);
            st = -1;
        }
    }
    reg_del(e);
    return st;
}

bool cwt_daemon_alive(pid_t pid)
{
    return pid > 0 && !reap(pid, NULL);
}

/* ---- cleanup and the CUnit runner ---------------------------------------------------------- */

void cwt_cleanup_all(void)
{
    if (reg_owner != getpid() || cleaning)
        return;
    cleaning = true;
    bool keep_all = keep_tmp_env();
    bool keep_small = keep_all || run_failed;
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].kind == ENT_DAEMON) {
            say("cleanup: stopping casewatchd %d", (int)reg[i].pid);
            (void)cwt_daemon_stop(reg[i].pid, SIGTERM, 5000);
        }
    }
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].kind == ENT_BROKER) {
            say("cleanup: stopping casewatch-broker %d", (int)reg[i].pid);
            (void)broker_stop_pid(reg[i].pid, reg[i].dir, !keep_small);
            if (keep_small)
                say("kept %s", reg[i].dir);
            reg_del(&reg[i]);
        }
    }
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].kind == ENT_PG) {
            say("cleanup: stopping PostgreSQL in %s", reg[i].dir);
            (void)pg_stop_dir(reg[i].dir, !keep_all);
            reg_del(&reg[i]);
        }
    }
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].kind == ENT_TMPDIR) {
            if (keep_small)
                say("kept %s", reg[i].dir);
            else
                rm_rf(reg[i].dir);
            reg_del(&reg[i]);
        }
    }
    cleaning = false;
}

int cwt_cunit_run(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_ErrorCode err = CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    unsigned suites_inactive = CU_get_number_of_suites_inactive();
    unsigned tests_inactive = CU_get_number_of_tests_inactive();
    unsigned tests_run = CU_get_number_of_tests_run();
    unsigned tests_total = CU_get_registry() != NULL ? CU_get_registry()->uiNumberOfTests : 0;
    bool bad = err != CUE_SUCCESS || failures > 0 || suites_failed > 0 || suites_inactive > 0 ||
               tests_inactive > 0 || tests_run != tests_total || tests_total == 0;
    if (bad) {
        fprintf(stderr,
                "\ncwtest: FAILED: %u assertion failure(s), %u suite(s) failed set-up, %u of %u "
                "test(s) ran (%s)\n",
                failures, suites_failed, tests_run, tests_total, CU_get_error_msg());
        run_failed = true;
    }
    cwt_cleanup_all();
    CU_cleanup_registry();
    return bad ? 1 : 0;
}
