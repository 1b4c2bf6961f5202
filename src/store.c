/*
 * store.c — one non-blocking PostgreSQL connection on the event loop: connect, migrate, run
 * jobs in pipeline mode, roll back after a failed job, reconnect with back-off.
 *
 * Owns the PGconn, its two socket events, the job queue and the back-off timer. Nothing here
 * blocks: every libpq call used is the non-blocking variant (PQconnectPoll, PQsendQuery*,
 * PQflush, PQconsumeInput, PQgetResult only when !PQisBusy).
 */
#include "casewatch/store.h"
#include "casewatch/log.h"
#include "casewatch/migrations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK_KEY "727274001" /* pg_advisory_xact_lock key: one migrator at a time */

typedef struct stmt {
    const char *sql;
    int nparams;
    char **values;
    cw_store_result_fn on_result;
    bool prepared; /* run as a named statement of this connection */
    int binary;    /* results in binary format */
    int prep;      /* index into the store's statement cache; -1 = no Parse sent with it */
    int *lengths;  /* per parameter: its length when binary; NULL = all text */
    int *formats;  /* per parameter: 1 binary, 0 text; NULL = all text */
} stmt_t;

struct cw_store_job {
    stmt_t *stmts;
    int n, cap;
    cw_store_done_fn done;
    void *arg;
    cw_err_t err;
    char sqlstate[6];
    char *errmsg;
    int res_idx;       /* statement whose results are being read */
    bool awaiting_end; /* got a result for res_idx, waiting for its NULL terminator */
    bool in_prep;      /* the result awaited is res_idx's Parse, not its execution */
    bool internal;     /* the store's own ROLLBACK */
    cw_store_job_t *next;
};

typedef enum st_state {
    ST_WAIT,       /* disconnected, back-off timer armed */
    ST_CONNECTING, /* PQconnectPoll in progress */
    ST_MIGRATING,  /* running migrations (simple query protocol) */
    ST_READY,      /* pipeline mode, running jobs */
    ST_FATAL,      /* schema too new: nothing more to do */
} st_state_t;

/* Statements prepared on the current connection, by SQL text address (static strings only);
 * named "cwN" after their index. Forgotten with the connection. */
#define CW_STORE_MAX_PREPARED 64
typedef enum prep_state { PREP_NONE, PREP_SENT, PREP_READY } prep_state_t;
typedef struct prep_entry {
    const char *sql;
    prep_state_t state;
} prep_entry_t;

typedef enum mig_step { MIG_BEGIN, MIG_APPLY, MIG_RECORD, MIG_COMMIT } mig_step_t;

struct cw_store {
    struct event_base *base;
    char *conninfo;
    int backoff_initial_ms, backoff_max_ms, backoff_ms;
    uint64_t rng; /* reconnect jitter, seeded per store (cw_random_seed) */
    cw_store_state_fn on_state;
    void *arg;

    st_state_t state;
    PGconn *conn;
    struct event *ev_read, *ev_write, *ev_timer;
    int sock;
    PostgresPollingStatusType poll_want;

    cw_store_job_t *head, *tail; /* queue; head is running when running == true */
    bool running;

    /* migration progress */
    mig_step_t mig_step;
    int mig_db_version;
    char mig_mismatch[512]; /* an applied migration whose text differs from ours */
    int mig_next; /* index into cw_migrations */
    int schema_version;

    char *session_sql;
    prep_entry_t prep[CW_STORE_MAX_PREPARED];
    int nprep;
};

static void on_socket(evutil_socket_t fd, short what, void *arg);
static void start_connect(cw_store_t *st);
static void run_next(cw_store_t *st);

/* ---------------------------------------------------------------- jobs */

cw_store_job_t *cw_store_job_new(cw_store_done_fn done, void *arg)
{
    cw_store_job_t *job = cw_calloc(1, sizeof(*job));
    job->done = done;
    job->arg = arg;
    return job;
}

void cw_store_job_add(cw_store_job_t *job, const char *sql, int nparams, char **values,
                      cw_store_result_fn on_result)
{
    if (job->n == job->cap) {
        job->cap = job->cap ? job->cap * 2 : 8;
        job->stmts = cw_realloc(job->stmts, sizeof(stmt_t) * (size_t)job->cap);
    }
    stmt_t *s = &job->stmts[job->n++];
    s->sql = sql;
    s->nparams = nparams;
    s->values = NULL;
    if (nparams) {
        s->values = cw_malloc(sizeof(char *) * (size_t)nparams);
        memcpy(s->values, values, sizeof(char *) * (size_t)nparams);
    }
    s->on_result = on_result;
    s->prepared = false;
    s->binary = 0;
    s->prep = -1;
    s->lengths = NULL;
    s->formats = NULL;
}

void cw_store_job_addp_bin(cw_store_job_t *job, const char *sql, int nparams, char **values,
                           const int *lengths, cw_store_result_fn on_result)
{
    cw_store_job_addp(job, sql, nparams, values, on_result);
    stmt_t *s = &job->stmts[job->n - 1];
    s->lengths = cw_calloc((size_t)nparams + 1, sizeof(int));
    s->formats = cw_calloc((size_t)nparams + 1, sizeof(int));
    for (int i = 0; i < nparams; i++) {
        s->formats[i] = lengths[i] >= 0;
        s->lengths[i] = lengths[i] >= 0 ? lengths[i] : 0;
    }
}

void cw_store_job_add_binary(cw_store_job_t *job, const char *sql, int nparams, char **values,
                             cw_store_result_fn on_result)
{
    cw_store_job_add(job, sql, nparams, values, on_result);
    job->stmts[job->n - 1].binary = 1;
}

void cw_store_job_addp(cw_store_job_t *job, const char *sql, int nparams, char **values,
                       cw_store_result_fn on_result)
{
    cw_store_job_add(job, sql, nparams, values, on_result);
    job->stmts[job->n - 1].prepared = true;
}

void cw_store_job_add0(cw_store_job_t *job, const char *sql, cw_store_result_fn on_result)
{
    cw_store_job_add(job, sql, 0, NULL, on_result);
}

static void job_free(cw_store_job_t *job)
{
    for (int i = 0; i < job->n; i++) {
        for (int p = 0; p < job->stmts[i].nparams; p++)
            free(job->stmts[i].values[p]);
        free(job->stmts[i].values);
        free(job->stmts[i].lengths);
        free(job->stmts[i].formats);
    }
    free(job->stmts);
    free(job->errmsg);
    free(job);
}

void cw_store_job_drop(cw_store_job_t *job)
{
    if (job)
        job_free(job);
}

static void job_finish(cw_store_job_t *job, cw_err_t err, const char *msg)
{
    if (job->err == CW_OK && err != CW_OK) {
        job->err = err;
        free(job->errmsg);
        job->errmsg = cw_strdup(msg);
    }
    if (job->done)
        job->done(job->arg, job->err, job->sqlstate, job->errmsg ? job->errmsg : "");
    job_free(job);
}

static cw_store_job_t *queue_pop(cw_store_t *st)
{
    cw_store_job_t *job = st->head;
    if (job) {
        st->head = job->next;
        if (!st->head)
            st->tail = NULL;
        job->next = NULL;
    }
    return job;
}

/* Fail every queued job (and the running one) with CW_ERR_AGAIN. Callbacks may queue new
 * jobs; those fail too because the state is no longer ready. */
static void fail_all(cw_store_t *st, const char *why)
{
    st->running = false;
    cw_store_job_t *job;
    while ((job = queue_pop(st)))
        job_finish(job, CW_ERR_AGAIN, why);
}

void cw_store_submit(cw_store_t *st, cw_store_job_t *job)
{
    if (st->state != ST_READY) {
        job_finish(job, CW_ERR_AGAIN, "database not connected");
        return;
    }
    if (st->tail)
        st->tail->next = job;
    else
        st->head = job;
    st->tail = job;
    run_next(st);
}

void cw_store_submit_next(cw_store_t *st, cw_store_job_t *job)
{
    if (st->state != ST_READY) {
        job_finish(job, CW_ERR_AGAIN, "database not connected");
        return;
    }
    if (st->running && st->head) { /* behind the running job, ahead of the rest */
        job->next = st->head->next;
        st->head->next = job;
        if (st->tail == st->head)
            st->tail = job;
    } else {
        job->next = st->head;
        st->head = job;
        if (!st->tail)
            st->tail = job;
    }
    run_next(st);
}

/* ---------------------------------------------------------------- connection plumbing */

static void events_free(cw_store_t *st)
{
    if (st->ev_read) {
        event_free(st->ev_read);
        st->ev_read = NULL;
    }
    if (st->ev_write) {
        event_free(st->ev_write);
        st->ev_write = NULL;
    }
}

static void events_setup(cw_store_t *st)
{
    int sock = PQsocket(st->conn);
    if (st->ev_read && sock == st->sock)
        return;
    events_free(st);
    st->sock = sock;
    st->ev_read = event_new(st->base, sock, EV_READ | EV_PERSIST, on_socket, st);
    st->ev_write = event_new(st->base, sock, EV_WRITE, on_socket, st);
}

static void schedule_reconnect(cw_store_t *st)
{
    st->state = ST_WAIT;
    /* +-20% jitter, seeded per process, so a fleet of daemons does not reconnect in lockstep */
    int ms = cw_jitter_ms(st->backoff_ms, &st->rng);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(st->ev_timer, &tv);
    st->backoff_ms = st->backoff_ms * 2 > st->backoff_max_ms ? st->backoff_max_ms
                                                              : st->backoff_ms * 2;
}

/* Drop the connection; tell the owner; fail jobs; reconnect later. */
static void disconnect(cw_store_t *st, const char *why, bool notify)
{
    bool was_ready = st->state == ST_READY;
    cw_log_warn("postgres: %s; reconnecting in about %d ms", why, st->backoff_ms);
    events_free(st);
    if (st->conn) {
        PQfinish(st->conn);
        st->conn = NULL;
    }
    st->nprep = 0; /* a new session knows none of them */
    schedule_reconnect(st);
    fail_all(st, why);
    if (notify && was_ready && st->on_state)
        st->on_state(st->arg, CW_ERR_AGAIN, why);
}

void cw_store_reset(cw_store_t *st, const char *why)
{
    if (st->state == ST_FATAL)
        return;
    evtimer_del(st->ev_timer);
    disconnect(st, why, true);
}

/* libpq messages span lines ("…\n\tIs the server running…"): one log line each */
static void one_line(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\n' || *r == '\t') {
            if (w > s && w[-1] != ' ' && r[1])
                *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

static void conn_error_msg(cw_store_t *st, char *buf, size_t n)
{
    const char *m = st->conn ? PQerrorMessage(st->conn) : "no connection";
    cw_strlcpy(buf, m && *m ? m : "connection lost", n);
    one_line(buf);
}

static void on_notice(void *arg, const char *message)
{
    char buf[512];
    cw_strlcpy(buf, message, sizeof(buf));
    one_line(buf);
    cw_log_debug("postgres: %s", buf);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    start_connect(arg);
}

/* Arm the socket events for what we are waiting on. */
static void want(cw_store_t *st, bool rd, bool wr)
{
    events_setup(st);
    if (rd)
        event_add(st->ev_read, NULL);
    else
        event_del(st->ev_read);
    if (wr)
        event_add(st->ev_write, NULL);
}

static void start_connect(cw_store_t *st)
{
    st->state = ST_CONNECTING;
    st->conn = PQconnectStart(st->conninfo);
    if (!st->conn || PQstatus(st->conn) == CONNECTION_BAD) {
        char msg[512];
        conn_error_msg(st, msg, sizeof(msg));
        disconnect(st, msg, false);
        return;
    }
    PQsetnonblocking(st->conn, 1);
    PQsetNoticeProcessor(st->conn, on_notice, NULL);
    st->poll_want = PGRES_POLLING_WRITING;
    want(st, false, true);
}

/* ---------------------------------------------------------------- migrations */

static bool send_simple(cw_store_t *st, const char *sql)
{
    if (!PQsendQuery(st->conn, sql))
        return false;
    want(st, true, PQflush(st->conn) == 1);
    return true;
}

static void migrate_step(cw_store_t *st);

/* A migration's checksum: FNV-1a 64 of its text, in hex. An applied migration whose text
 * changed since is refused (its effect is not what the file now says). */
static void migration_checksum(const cw_migration_t *m, char out[17])
{
    uint64_t h = cw_hash_str(m->sql);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void migrate_start(cw_store_t *st)
{
    st->state = ST_MIGRATING;
    st->mig_step = MIG_BEGIN;
    st->mig_db_version = 0;
    st->mig_mismatch[0] = 0;
    /* A database migrated before checksums were kept gets this binary's for the versions it
     * has (the values are the binary's own constants, not input). */
    size_t cap = 512 + (size_t)cw_migrations_count * 40;
    char *sql = cw_malloc(cap);
    int n = snprintf(sql, cap,
                     "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ");"
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version integer PRIMARY KEY, name text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now());"
                     "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;");
    if (cw_migrations_count) {
        n += snprintf(sql + n, cap - (size_t)n,
                      "UPDATE schema_migrations m SET checksum = u.c FROM (VALUES ");
        for (int i = 0; i < cw_migrations_count; i++) {
            char sum[17];
            migration_checksum(&cw_migrations[i], sum);
            n += snprintf(sql + n, cap - (size_t)n, "%s(%d, '%s')", i ? ", " : "",
                          cw_migrations[i].version, sum);
        }
        n += snprintf(sql + n, cap - (size_t)n,
                      ") AS u(v, c) WHERE m.version = u.v AND m.checksum IS NULL;");
    }
    snprintf(sql + n, cap - (size_t)n,
             "SELECT version, coalesce(checksum, '') FROM schema_migrations ORDER BY version");
    bool sent = send_simple(st, sql);
    free(sql);
    if (!sent)
        disconnect(st, "cannot send migration query", false);
}

/* The applied migrations (version, checksum): the schema's version, and any whose text this
 * binary has differently (st->mig_mismatch). */
static void migrate_applied(cw_store_t *st, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        if (v > st->mig_db_version)
            st->mig_db_version = v;
        for (int k = 0; k < cw_migrations_count; k++) {
            if (cw_migrations[k].version != v)
                continue;
            char sum[17];
            migration_checksum(&cw_migrations[k], sum);
            if (strcmp(sum, PQgetvalue(r, i, 1)) && !st->mig_mismatch[0])
                snprintf(st->mig_mismatch, sizeof(st->mig_mismatch),
                         "migration %s was applied with checksum %s but this casewatchd's copy "
                         "has %s: the file was edited after it ran. Restore it and put the "
                         "change in a new migration",
                         cw_migrations[k].name, PQgetvalue(r, i, 1), sum);
        }
    }
}

static void ready(cw_store_t *st)
{
    if (!PQenterPipelineMode(st->conn)) {
        disconnect(st, "cannot enter pipeline mode", false);
        return;
    }
    st->state = ST_READY;
    st->backoff_ms = st->backoff_initial_ms;
    st->schema_version = cw_migrations_count ? cw_migrations[cw_migrations_count - 1].version : 0;
    cw_log_info("postgres: connected, schema at version %d", st->schema_version);
    want(st, true, false);
    if (st->session_sql) { /* ahead of any job of the owner's */
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        job->internal = true;
        cw_store_job_add0(job, st->session_sql, NULL);
        cw_store_submit_next(st, job);
    }
    if (st->on_state)
        st->on_state(st->arg, CW_OK, "ready");
}

/* One result set of the migration conversation has fully arrived (all results read). */
static void migrate_step(cw_store_t *st)
{
    switch (st->mig_step) {
    case MIG_BEGIN: {
        int known = cw_migrations_count ? cw_migrations[cw_migrations_count - 1].version : 0;
        if (st->mig_db_version > known || st->mig_mismatch[0]) {
            char msg[sizeof(st->mig_mismatch)];
            if (st->mig_mismatch[0])
                snprintf(msg, sizeof(msg), "%s", st->mig_mismatch);
            else
                snprintf(msg, sizeof(msg),
                         "database schema is at version %d but this casewatchd knows versions "
                         "up to %d: it was migrated by a newer casewatch; upgrade this binary",
                         st->mig_db_version, known);
            cw_log_error("postgres: %s", msg);
            st->state = ST_FATAL;
            events_free(st);
            PQfinish(st->conn);
            st->conn = NULL;
            if (st->on_state)
                st->on_state(st->arg, CW_ERR_SCHEMA, msg);
            return;
        }
        st->mig_next = 0;
        while (st->mig_next < cw_migrations_count &&
               cw_migrations[st->mig_next].version <= st->mig_db_version)
            st->mig_next++;
    }
        /* fall through */
    case MIG_RECORD:
        if (st->mig_next >= cw_migrations_count) {
            st->mig_step = MIG_COMMIT;
            if (!send_simple(st, "COMMIT"))
                disconnect(st, "cannot send COMMIT", false);
            return;
        }
        cw_log_info("postgres: applying migration %s", cw_migrations[st->mig_next].name);
        st->mig_step = MIG_APPLY;
        if (!send_simple(st, cw_migrations[st->mig_next].sql))
            disconnect(st, "cannot send migration", false);
        return;
    case MIG_APPLY: {
        const cw_migration_t *m = &cw_migrations[st->mig_next++];
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        char sum[17];
        migration_checksum(m, sum);
        const char *params[3] = {ver, m->name, sum};
        st->mig_step = MIG_RECORD;
        if (!PQsendQueryParams(st->conn,
                               "INSERT INTO schema_migrations (version, name, checksum) "
                               "VALUES ($1, $2, $3)",
                               3, NULL, params, NULL, NULL, 0))
            disconnect(st, "cannot record migration", false);
        else
            want(st, true, PQflush(st->conn) == 1);
        return;
    }
    case MIG_COMMIT:
        ready(st);
        return;
    }
}

/* What the migration conversation was doing at its current step, for an error message. */
static void migrate_what(const cw_store_t *st, char *buf, size_t n)
{
    switch (st->mig_step) {
    case MIG_BEGIN:
        snprintf(buf, n, "checking the database schema version (before any migration)");
        return;
    case MIG_APPLY:
        snprintf(buf, n, "applying migration %s", cw_migrations[st->mig_next].name);
        return;
    case MIG_RECORD:
        snprintf(buf, n, "recording migration %s as applied",
                 cw_migrations[st->mig_next - 1].name);
        return;
    case MIG_COMMIT:
        snprintf(buf, n, "committing the schema check (schema version %d)", st->mig_db_version);
        return;
    }
    snprintf(buf, n, "the schema check");
}

/* Read migration results; the last tuple result of MIG_BEGIN carries the db version. */
static void migrate_read(cw_store_t *st)
{
    while (!PQisBusy(st->conn)) {
        PGresult *r = PQgetResult(st->conn);
        if (!r) {
            migrate_step(st);
            return;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            /* say which step failed: a statement_timeout or a missing privilege on the schema
             * check of a current database is not a failed migration */
            char what[160], msg[1024];
            migrate_what(st, what, sizeof(what));
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(msg, sizeof(msg), "%s failed [%s]: %s", what, state ? state : "",
                     PQresultErrorMessage(r));
            one_line(msg);
            PQclear(r);
            cw_log_error("postgres: %s", msg);
            disconnect(st, what, false);
            return;
        }
        if (st->mig_step == MIG_BEGIN && s == PGRES_TUPLES_OK && PQnfields(r) == 2)
            migrate_applied(st, r);
        PQclear(r);
    }
}

/* ---------------------------------------------------------------- running jobs */

static int prep_find(const cw_store_t *st, const char *sql)
{
    for (int i = 0; i < st->nprep; i++)
        if (st->prep[i].sql == sql)
            return i;
    return -1;
}

static void run_next(cw_store_t *st)
{
    if (st->state != ST_READY || st->running || !st->head)
        return;
    cw_store_job_t *job = st->head;
    st->running = true;
    job->res_idx = 0;
    job->awaiting_end = false;
    job->in_prep = false;
    for (int i = 0; i < job->n; i++) {
        stmt_t *s = &job->stmts[i];
        int ok;
        s->prep = -1;
        int k = s->prepared ? prep_find(st, s->sql) : -1;
        if (s->prepared && k < 0 && st->nprep < CW_STORE_MAX_PREPARED) {
            k = st->nprep++;
            st->prep[k] = (prep_entry_t){s->sql, PREP_NONE};
        }
        if (k >= 0 && st->prep[k].state == PREP_NONE) {
            /* first use on this connection (or its Parse failed): Parse it under a name, in
             * the same pipeline, ahead of its execution */
            char name[16];
            snprintf(name, sizeof(name), "cw%d", k);
            st->prep[k].state = PREP_SENT;
            s->prep = k;
            if (!PQsendPrepare(st->conn, name, s->sql, s->nparams, NULL)) {
                char msg[512];
                conn_error_msg(st, msg, sizeof(msg));
                disconnect(st, msg, true);
                return;
            }
        }
        if (k >= 0) {
            char name[16];
            snprintf(name, sizeof(name), "cw%d", k);
            ok = PQsendQueryPrepared(st->conn, name, s->nparams, (const char *const *)s->values,
                                     s->lengths, s->formats, s->binary);
        } else {
            ok = PQsendQueryParams(st->conn, s->sql, s->nparams, NULL,
                                   (const char *const *)s->values, s->lengths, s->formats,
                                   s->binary);
        }
        if (!ok) {
            char msg[512];
            conn_error_msg(st, msg, sizeof(msg));
            disconnect(st, msg, true);
            return;
        }
    }
    if (!PQpipelineSync(st->conn)) {
        disconnect(st, "cannot send pipeline sync", true);
        return;
    }
    int f = PQflush(st->conn);
    if (f < 0) {
        char msg[512];
        conn_error_msg(st, msg, sizeof(msg));
        disconnect(st, msg, true);
        return;
    }
    want(st, true, f == 1);
}

static void job_done(cw_store_t *st)
{
    cw_store_job_t *job = queue_pop(st);
    st->running = false;
    PGTransactionStatusType tx = PQtransactionStatus(st->conn);
    bool failed = job->err != CW_OK;
    job_finish(job, CW_OK, NULL);
    if (st->state != ST_READY)
        return;
    if (failed && (tx == PQTRANS_INERROR || tx == PQTRANS_INTRANS)) {
        /* a failed job may leave its transaction open: end it before anything else runs */
        cw_store_job_t *rb = cw_store_job_new(NULL, NULL);
        rb->internal = true;
        cw_store_job_add0(rb, "ROLLBACK", NULL);
        cw_store_submit_next(st, rb);
        return;
    }
    run_next(st);
}

static void jobs_read(cw_store_t *st)
{
    while (st->state == ST_READY && st->conn && st->running && st->head &&
           !PQisBusy(st->conn)) {
        cw_store_job_t *job = st->head;
        PGresult *r = PQgetResult(st->conn);
        if (!r) {
            if (!job->awaiting_end)
                return; /* nothing more for now */
            job->awaiting_end = false;
            if (job->in_prep)
                job->in_prep = false; /* the Parse is done; its execution's result is next */
            else
                job->res_idx++;
            continue;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            job_done(st);
            continue;
        }
        job->awaiting_end = true;
        if (!job->in_prep && job->res_idx < job->n && job->stmts[job->res_idx].prep >= 0) {
            /* the result of the Parse sent before this statement */
            prep_entry_t *e = &st->prep[job->stmts[job->res_idx].prep];
            job->stmts[job->res_idx].prep = -1;
            job->in_prep = true;
            e->state = s == PGRES_COMMAND_OK ? PREP_READY : PREP_NONE;
            if (s != PGRES_COMMAND_OK && s != PGRES_PIPELINE_ABORTED && job->err == CW_OK) {
                const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                cw_strlcpy(job->sqlstate, state ? state : "", sizeof(job->sqlstate));
                job->err = CW_ERR_DB;
                const char *m = PQresultErrorMessage(r);
                job->errmsg = cw_strdup(m && *m ? m : "prepare failed");
                one_line(job->errmsg);
            }
            PQclear(r);
            continue;
        }
        if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
            if (job->res_idx < job->n && job->stmts[job->res_idx].on_result && job->err == CW_OK)
                job->stmts[job->res_idx].on_result(job->arg, r);
        } else if (s == PGRES_PIPELINE_ABORTED) {
            /* skipped after an earlier error: already recorded */
        } else if (job->err == CW_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            cw_strlcpy(job->sqlstate, state ? state : "", sizeof(job->sqlstate));
            job->err = (state && !strcmp(state, "CW001")) ? CW_ERR_FENCED : CW_ERR_DB;
            const char *m = PQresultErrorMessage(r);
            job->errmsg = cw_strdup(m && *m ? m : "statement failed");
            one_line(job->errmsg);
            if (!job->internal)
                cw_log_debug("postgres: statement %d of job failed: [%s] %s", job->res_idx,
                             job->sqlstate, job->errmsg);
        }
        PQclear(r);
    }
}

/* ---------------------------------------------------------------- socket events */

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    cw_store_t *st = arg;
    char msg[512];

    if (st->state == ST_CONNECTING) {
        PostgresPollingStatusType p = PQconnectPoll(st->conn);
        if (p == PGRES_POLLING_FAILED) {
            conn_error_msg(st, msg, sizeof(msg));
            disconnect(st, msg, false);
        } else if (p == PGRES_POLLING_OK) {
            migrate_start(st);
        } else {
            want(st, p == PGRES_POLLING_READING, p == PGRES_POLLING_WRITING);
        }
        return;
    }
    if (!st->conn)
        return;

    if (what & EV_WRITE) {
        int f = PQflush(st->conn);
        if (f < 0) {
            conn_error_msg(st, msg, sizeof(msg));
            disconnect(st, msg, true);
            return;
        }
        if (f == 1)
            event_add(st->ev_write, NULL);
    }
    if (what & EV_READ) {
        if (!PQconsumeInput(st->conn)) {
            conn_error_msg(st, msg, sizeof(msg));
            disconnect(st, msg, true);
            return;
        }
        /* reading may let libpq send what it buffered */
        if (PQflush(st->conn) == 1)
            event_add(st->ev_write, NULL);
    }
    if (st->state == ST_MIGRATING)
        migrate_read(st);
    else if (st->state == ST_READY)
        jobs_read(st);
    if (st->conn && PQstatus(st->conn) == CONNECTION_BAD) {
        conn_error_msg(st, msg, sizeof(msg));
        disconnect(st, msg, true);
    }
}

/* ---------------------------------------------------------------- lifecycle */

cw_store_t *cw_store_new(struct event_base *base, const cw_store_opts_t *opts)
{
    cw_store_t *st = cw_calloc(1, sizeof(*st));
    st->base = base;
    st->conninfo = cw_strdup(opts->conninfo);
    st->backoff_initial_ms = opts->backoff_initial_ms > 0 ? opts->backoff_initial_ms : 100;
    st->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 10000;
    st->backoff_ms = st->backoff_initial_ms;
    st->rng = cw_random_seed();
    st->on_state = opts->on_state;
    st->arg = opts->arg;
    st->session_sql = opts->session_sql ? cw_strdup(opts->session_sql) : NULL;
    st->sock = -1;
    st->ev_timer = evtimer_new(base, on_timer, st);
    start_connect(st);
    return st;
}

void cw_store_destroy(cw_store_t *st)
{
    if (!st)
        return;
    events_free(st);
    if (st->ev_timer)
        event_free(st->ev_timer);
    if (st->conn)
        PQfinish(st->conn); /* an open transaction rolls back on the server */
    st->conn = NULL;
    st->state = ST_WAIT;
    st->on_state = NULL;
    fail_all(st, "store closed");
    free(st->conninfo);
    free(st->session_sql);
    free(st);
}

bool cw_store_ready(const cw_store_t *st)
{
    return st->state == ST_READY;
}

bool cw_store_busy(const cw_store_t *st)
{
    return st->running || st->head;
}

int cw_store_schema_version(const cw_store_t *st)
{
    return st->schema_version;
}

/* ---------------------------------------------------------------- array literals */

void cw_pgarray_init(cw_pgarray_t *a)
{
    a->cap = 256;
    a->buf = cw_malloc(a->cap);
    a->buf[0] = '{';
    a->len = 1;
    a->n = 0;
}

static void arr_reserve(cw_pgarray_t *a, size_t more)
{
    if (a->len + more + 2 > a->cap) {
        while (a->len + more + 2 > a->cap)
            a->cap *= 2;
        a->buf = cw_realloc(a->buf, a->cap);
    }
}

static void arr_sep(cw_pgarray_t *a)
{
    arr_reserve(a, 1);
    if (a->n++)
        a->buf[a->len++] = ',';
}

void cw_pgarray_add_text(cw_pgarray_t *a, const char *s)
{
    arr_sep(a);
    size_t n = strlen(s);
    arr_reserve(a, 2 * n + 2);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

void cw_pgarray_add_bytea(cw_pgarray_t *a, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = p;
    arr_sep(a);
    arr_reserve(a, 2 * n + 6);
    /* inside a quoted array element the bytea backslash itself must be escaped */
    memcpy(a->buf + a->len, "\"\\\\x", 4);
    a->len += 4;
    for (size_t i = 0; i < n; i++) {
        a->buf[a->len++] = hex[b[i] >> 4];
        a->buf[a->len++] = hex[b[i] & 15];
    }
    a->buf[a->len++] = '"';
}

void cw_pgarray_add_int(cw_pgarray_t *a, int64_t v)
{
    /* by hand: snprintf was a tenth of the daemon's time on the hot path */
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    arr_sep(a);
    arr_reserve(a, 24);
    if (v < 0)
        a->buf[a->len++] = '-';
    while (n)
        a->buf[a->len++] = tmp[--n];
}

void cw_pgarray_add_null(cw_pgarray_t *a)
{
    arr_sep(a);
    arr_reserve(a, 4);
    memcpy(a->buf + a->len, "NULL", 4);
    a->len += 4;
}

char *cw_pgarray_finish(cw_pgarray_t *a)
{
    arr_reserve(a, 1);
    a->buf[a->len++] = '}';
    a->buf[a->len] = '\0';
    char *r = a->buf;
    a->buf = NULL;
    return r;
}

/* ---------------------------------------------------------------- binary arrays */

#define PGBIN_HEADER 20 /* ndim, has-null flag, element type, dimension, lower bound */

static void bin_reserve(cw_pgbin_t *a, size_t more)
{
    if (a->len + more > a->cap) {
        while (a->len + more > a->cap)
            a->cap *= 2;
        a->buf = cw_realloc(a->buf, a->cap);
    }
}

static void bin_u32(char *at, uint32_t v)
{
    at[0] = (char)(v >> 24);
    at[1] = (char)(v >> 16);
    at[2] = (char)(v >> 8);
    at[3] = (char)v;
}

static void bin_u64(char *at, uint64_t v)
{
    bin_u32(at, (uint32_t)(v >> 32));
    bin_u32(at + 4, (uint32_t)v);
}

void cw_pgbin_init(cw_pgbin_t *a, uint32_t elem_oid)
{
    a->cap = 1024;
    a->buf = cw_malloc(a->cap);
    a->len = PGBIN_HEADER; /* written by cw_pgbin_finish */
    a->n = 0;
    a->oid = elem_oid;
    a->hasnull = false;
}

void cw_pgbin_add_bytes(cw_pgbin_t *a, const void *p, size_t n)
{
    bin_reserve(a, 4 + n);
    bin_u32(a->buf + a->len, (uint32_t)n);
    if (n)
        memcpy(a->buf + a->len + 4, p, n);
    a->len += 4 + n;
    a->n++;
}

void cw_pgbin_add_text(cw_pgbin_t *a, const char *s)
{
    cw_pgbin_add_bytes(a, s, strlen(s));
}

void cw_pgbin_add_int(cw_pgbin_t *a, int64_t v)
{
    bool wide = a->oid == CW_OID_INT8;
    bin_reserve(a, 12);
    char *at = a->buf + a->len;
    bin_u32(at, wide ? 8 : 4);
    if (wide)
        bin_u64(at + 4, (uint64_t)v);
    else
        bin_u32(at + 4, (uint32_t)(int32_t)v);
    a->len += wide ? 12 : 8;
    a->n++;
}

void cw_pgbin_add_bool(cw_pgbin_t *a, bool v)
{
    char b = v ? 1 : 0;
    cw_pgbin_add_bytes(a, &b, 1);
}

void cw_pgbin_add_float8(cw_pgbin_t *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u)); /* IEEE 754, sent big-endian */
    bin_reserve(a, 12);
    char *at = a->buf + a->len;
    bin_u32(at, 8);
    bin_u64(at + 4, u);
    a->len += 12;
    a->n++;
}

void cw_pgbin_add_null(cw_pgbin_t *a)
{
    bin_reserve(a, 4);
    bin_u32(a->buf + a->len, 0xffffffffu); /* length -1 */
    a->len += 4;
    a->n++;
    a->hasnull = true;
}

char *cw_pgbin_finish(cw_pgbin_t *a, int *len)
{
    char *h = a->buf;
    if (!a->n) { /* the empty array has no dimensions */
        bin_u32(h, 0);
        bin_u32(h + 4, 0);
        bin_u32(h + 8, a->oid);
        *len = 12;
    } else {
        bin_u32(h, 1);
        bin_u32(h + 4, a->hasnull);
        bin_u32(h + 8, a->oid);
        bin_u32(h + 12, (uint32_t)a->n);
        bin_u32(h + 16, 1);
        *len = (int)a->len;
    }
    a->buf = NULL;
    return h;
}

char *cw_pgparam_int(int64_t v)
{
    char *s = cw_malloc(24);
    snprintf(s, 24, "%lld", (long long)v);
    return s;
}
