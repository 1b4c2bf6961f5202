/*
 * cwtest.h — the harness for casewatch integration tests: a private PostgreSQL, the embedded
 * Kafka broker (casewatch-broker), casewatchd itself, and the clients nobody here wrote (kcat).
 *
 * Tests may block: everything here is synchronous (fork/exec, poll with timeouts, PQexec).
 * Everything a test starts is recorded in one process-wide cleanup registry, installed with
 * atexit() (and on SIGINT/SIGTERM/SIGHUP) on the first start, so a failing test — CU_FAIL_FATAL,
 * exit(), Ctrl-C, kill — still stops daemons, brokers and PostgreSQL. A SIGKILL of the test
 * process (how ctest ends a test past its TIMEOUT) cannot be caught: brokers and daemons still
 * get SIGTERM (PR_SET_PDEATHSIG), but PostgreSQL keeps running: look for /tmp/cwt-pg-* and run
 * deploy/pg-down.sh DIR --purge.
 *
 * Nothing is skipped silently: a server that cannot start makes the start function print why
 * (with the server log) on stderr and return -1; callers then CU_FAIL_FATAL. cwt_cunit_run()
 * turns failures, suite set-up failures and aborted tests into a nonzero exit status.
 *
 * Paths: PostgreSQL and broker directories are mkdtemp'd under /tmp (user postgres must reach
 * them when the tests run as root). Set CWT_KEEP_TMP=1 to keep every directory for inspection;
 * when a run fails, the small directories (cwt_tmpdir, broker logs) are kept anyway and named.
 * Binaries come from CW_BINARY_DIR, scripts from CW_SOURCE_DIR/deploy (compile definitions).
 * CWT_DAEMON_WRAPPER (e.g. "valgrind --error-exitcode=99") is prefixed to casewatchd's command.
 *
 * Not thread-safe: call from the test thread only.
 */
#ifndef CWTEST_H
#define CWTEST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- PostgreSQL ------------------------------------------------------------------------ */

/** A private PostgreSQL cluster started by deploy/pg-up.sh. Plain data: copy freely. */
typedef struct {
    char dir[256];      /**< the cluster's directory (data/, sock/, pg.log) */
    char sockdir[256];  /**< Unix socket directory */
    int port;           /**< TCP port on 127.0.0.1 (and the socket's port number) */
    char conninfo[512]; /**< "host=<sockdir> port=<port> user=postgres dbname=postgres" */
} cwt_pg_t;

/**
 * @brief Create a temp dir and start a cluster in it (initdb, start, wait until it answers).
 * @returns 0, or -1 after printing the reason and the server log on stderr (nothing left running).
 */
int cwt_pg_start(cwt_pg_t *pg);

/**
 * @brief Stop (pg_ctl -m fast) and purge the cluster; waits until the postmaster is gone.
 * @returns 0 when stopped and removed, -1 otherwise (printed). Callers may ignore it.
 */
int cwt_pg_stop(cwt_pg_t *pg);

/** @brief Crash-like stop (pg_ctl -m immediate): the directory stays, for cwt_pg_restart(). */
int cwt_pg_immediate_stop(cwt_pg_t *pg);

/** @brief Start a stopped cluster again on the same port (crash recovery runs if needed). */
int cwt_pg_restart(cwt_pg_t *pg);

/** @brief The postmaster's pid from postmaster.pid, or -1 if it is not running. */
pid_t cwt_pg_postmaster_pid(const cwt_pg_t *pg);

/** @brief Blocking connect; NULL (error printed) on failure. Caller PQfinish()es. */
PGconn *cwt_pg_connect(const cwt_pg_t *pg);

/**
 * @brief Run a query returning one row with one integer (or boolean: t=1, f=0) column.
 * @returns the value, or -1 with the error printed (also for NULL or a non-integer value).
 */
long long cwt_pg_scalar(const cwt_pg_t *pg, const char *sql);

/**
 * @brief Poll cwt_pg_scalar(sql) every 100 ms until it returns want or timeout_ms passes.
 * @returns true when it did; false after printing the query, the value wanted and the last got.
 */
bool cwt_pg_wait_scalar(const cwt_pg_t *pg, const char *sql, long long want, int timeout_ms);

/** @brief Run SQL (several statements allowed) on a fresh connection; 0, or -1 printed. */
int cwt_pg_exec(const cwt_pg_t *pg, const char *sql);

/* ---- the embedded Kafka broker ---------------------------------------------------------- */

/** A casewatch-broker child process (librdkafka mock cluster). */
typedef struct {
    char dir[256];       /**< temp dir: bootstrap, control, broker.log */
    char bootstrap[512]; /**< "127.0.0.1:port[,127.0.0.1:port...]" */
    pid_t pid;
} cwt_broker_t;

/**
 * @brief Fork/exec CW_BINARY_DIR/casewatch-broker and wait (10 s at most) until it listens.
 * @param nbrokers number of brokers (ids 1..nbrokers)
 * @param topics "name:partitions" strings, NULL-terminated; NULL = the broker's default topics
 * @returns 0, or -1 after printing why and the broker's log.
 */
int cwt_broker_start(cwt_broker_t *b, int nbrokers, const char *const *topics);

/**
 * @brief SIGTERM, wait up to 10 s (then SIGKILL), remove its directory.
 * @returns the broker's exit status (0 = clean), or -1 if it had to be killed.
 */
int cwt_broker_stop(cwt_broker_t *b);

/**
 * @brief Apply fault-injection commands ("broker-down 1\nbroker-up 1\n", see
 *        daemon/casewatch_broker.c) through the control file + SIGUSR1, and wait for the ack.
 * @returns 0 if every command was applied, -1 (printed) otherwise or on timeout.
 */
int cwt_broker_control(const cwt_broker_t *b, const char *commands, int timeout_ms);

/* ---- casewatchd ------------------------------------------------------------------------- */

/**
 * @brief Write a casewatchd config (the deploy/stack-up.sh format) for pg and b.
 * @param group_id consumer group; NULL = a fresh unique one
 * @param extra_ini appended verbatim at the end (may be NULL): a repeated "[section]" and key
 *        there overrides the earlier value, since inih hands the daemon keys in file order.
 * @returns 0, or -1 (printed).
 */
int cwt_write_config(const char *path, const cwt_pg_t *pg, const cwt_broker_t *b,
                     const char *group_id, const char *extra_ini);

/**
 * @brief Fork/exec CW_BINARY_DIR/casewatchd -c config_path, stdout+stderr appended to log_path.
 * @returns the pid, or -1 (printed) if it cannot be started (e.g. not built).
 */
pid_t cwt_daemon_start(const char *config_path, const char *log_path);

/** @brief cwt_daemon_start() with one extra command-line option (NULL = none). */
pid_t cwt_daemon_start_opt(const char *config_path, const char *log_path, const char *opt);

/**
 * @brief Send sig and wait up to timeout_ms for the daemon to exit.
 * @returns its exit code (0..255), 128+N if a signal N killed it, or -1 on timeout (it is then
 *          SIGKILLed and reaped). If it had already exited, returns that status without
 *          sending anything.
 */
int cwt_daemon_stop(pid_t pid, int sig, int timeout_ms);

/** @brief true while the daemon runs (reaps it, keeping its status, once it has exited). */
bool cwt_daemon_alive(pid_t pid);

/* ---- commands and kcat ------------------------------------------------------------------ */

/**
 * @brief Run a /bin/sh command, capture stdout into out (NUL-terminated, truncated to fit;
 *        out may be NULL); stderr passes through. Gives up after 10 minutes.
 * @returns the exit code, 128+N if killed by signal N, -1 if it could not run or timed out.
 */
int cwt_run(const char *cmd, char *out, size_t outsz);

/** @brief Like cwt_run() for binary output: *outlen receives the byte count captured. */
int cwt_run_capture(const char *cmd, char *out, size_t outsz, size_t *outlen);

/**
 * @brief Produce one message, byte-exact (NUL and newline bytes included), with kcat.
 *        The bytes go through a file (kcat -P FILE: one file = one message); key NULL = no key.
 *        kcat cannot produce an empty message (it skips empty files and empty lines), so
 *        len == 0 is refused.
 * @returns 0, or -1 (printed).
 */
int cwt_kcat_produce(const cwt_broker_t *b, const char *topic, const char *key, const void *bytes,
                     size_t len);

/**
 * @brief Count the messages on a topic, all partitions, from the beginning to the current end
 *        (kcat -C -e). @returns the count, or -1 (printed) on error or after timeout_ms.
 */
int cwt_kcat_count(const cwt_broker_t *b, const char *topic, int timeout_ms);

/**
 * @brief Encode one casewatch.v1.Event given in protobuf text format (protoc --encode) into
 * out (at least 8 KiB); *len receives its size. 0, or -1 (printed).
 */
int cwt_encode_event(const char *textpb, void *out, size_t outsz, size_t *len);

/** @brief cwt_encode_event() then cwt_kcat_produce() with key. 0, or -1 (printed). */
int cwt_publish_event(const cwt_broker_t *b, const char *topic, const char *key,
                      const char *textpb);

/* ---- small helpers ---------------------------------------------------------------------- */

/** @brief Poll pred(arg) until true (returns true) or timeout_ms passes (returns false). */
bool cwt_wait_until(bool (*pred)(void *), void *arg, int timeout_ms);

/** @brief A TCP port free on 127.0.0.1 right now (bind to port 0, read it, close); -1 on error. */
int cwt_free_port(void);

/**
 * @brief mkdtemp("/tmp/cwt-<tag>-XXXXXX") into out, mode 0711 so that user postgres can reach a
 *        cluster created inside; aborts if impossible. Removed at exit (kept if the run failed).
 */
void cwt_tmpdir(char *out, size_t n, const char *tag);

/** @brief true if pid no longer runs (gone, or a zombie); reaps it if it is our child. */
bool cwt_pid_gone(pid_t pid);

/** @brief Copy a file (a daemon or server log) to stderr with a header line. */
void cwt_dump_file(const char *path);

/**
 * @brief Stop every daemon, broker and cluster still registered, remove temp dirs. Runs
 *        automatically at exit; idempotent; does nothing in a forked child.
 */
void cwt_cleanup_all(void);

/**
 * @brief Run the registered CUnit suites (basic interface, verbose), clean up, tear down the
 *        registry. @returns the exit status for main(): 0 only if every test ran and passed.
 */
int cwt_cunit_run(void);

#endif
