/*
 * store.h — one non-blocking PostgreSQL connection of casewatchd, driven by the event loop.
 *
 * The store connects (PQconnectStart/PQconnectPoll on PQsocket()), applies the embedded
 * migrations, then runs jobs one at a time. A job is a list of parameterised statements sent
 * together in libpq pipeline mode and ended by one sync: one network round trip however many
 * statements it holds. Results of each statement are handed to an optional callback; the job's
 * done callback reports the first error.
 *
 * A job that fails inside an explicit transaction is followed by ROLLBACK before the next job
 * starts. A lost connection fails the running and queued jobs (CW_ERR_AGAIN) and reconnects
 * with capped exponential back-off; the owner is told through on_state. The store never exits
 * the process: only a schema newer than the binary is reported as fatal (on_state with
 * CW_ERR_SCHEMA), because retrying cannot fix it.
 */
#ifndef CASEWATCH_STORE_H
#define CASEWATCH_STORE_H

#include "casewatch/common.h"

#include <event2/event.h>
#include <libpq-fe.h>

typedef struct cw_store cw_store_t;
typedef struct cw_store_job cw_store_job_t;

/** Called with each statement's result (PGRES_TUPLES_OK / COMMAND_OK only); borrowed. */
typedef void (*cw_store_result_fn)(void *arg, const PGresult *res);
/**
 * Called once when a job ends. err is CW_OK, CW_ERR_DB (statement failed: sqlstate and
 * message set), CW_ERR_FENCED (SQLSTATE CW001 from cw_advance_offsets) or CW_ERR_AGAIN
 * (connection lost, or the job was cancelled). The job is freed after this returns.
 */
typedef void (*cw_store_done_fn)(void *arg, cw_err_t err, const char *sqlstate, const char *msg);
/** Connection state changes: CW_OK = ready (connected and migrated), CW_ERR_AGAIN = lost,
 * CW_ERR_SCHEMA = the database is newer than this binary (fatal). */
typedef void (*cw_store_state_fn)(void *arg, cw_err_t state, const char *msg);

typedef struct cw_store_opts {
    const char *conninfo;   /**< copied */
    int backoff_initial_ms; /**< first reconnect delay */
    int backoff_max_ms;     /**< cap */
    cw_store_state_fn on_state;
    void *arg;
    /** SQL run on every new connection before any job (e.g. a SET); copied; may be NULL */
    const char *session_sql;
} cw_store_opts_t;

/**
 * @brief Create the store and start connecting at once.
 * @param base the loop (borrowed; must outlive the store)
 * @returns the store; caller frees with cw_store_destroy().
 */
cw_store_t *cw_store_new(struct event_base *base, const cw_store_opts_t *opts);

/** @brief Close the connection (rolling back an open transaction), fail queued jobs with
 * CW_ERR_AGAIN without calling on_state, and free. */
void cw_store_destroy(cw_store_t *st);

/** @brief True when connected, migrated and able to run jobs. */
bool cw_store_ready(const cw_store_t *st);
/** @brief True when a job is running or queued. */
bool cw_store_busy(const cw_store_t *st);
/** @brief Highest schema version applied in the database (after ready). */
int cw_store_schema_version(const cw_store_t *st);

/** @brief Start a job; done is called exactly once (also on destroy). */
cw_store_job_t *cw_store_job_new(cw_store_done_fn done, void *arg);

/**
 * @brief Append a statement.
 * @param sql     static SQL text with $1… placeholders (borrowed: must outlive the job)
 * @param nparams number of parameters
 * @param values  nparams malloc'd strings (NULL = SQL NULL); the job takes ownership of each
 *                string, not of the array
 * @param on_result called with the statement's result, may be NULL
 */
void cw_store_job_add(cw_store_job_t *job, const char *sql, int nparams, char **values,
                      cw_store_result_fn on_result);

/**
 * @brief Append a statement run as a named prepared statement: Parsed (and planned) once per
 * connection, on first use, in the same round trip. For statements run on every batch.
 * @param sql static SQL text: the statement is known by this address for the connection's
 *            life (at most 64 such statements)
 */
void cw_store_job_addp(cw_store_job_t *job, const char *sql, int nparams, char **values,
                       cw_store_result_fn on_result);
/**
 * @brief Append a statement whose results come in binary format (PQgetvalue gives each type's
 * binary representation, followed by a zero byte): for large reads, e.g. bytea without hex.
 */
void cw_store_job_add_binary(cw_store_job_t *job, const char *sql, int nparams, char **values,
                             cw_store_result_fn on_result);
/**
 * @brief Like cw_store_job_addp, with some parameters in binary format: lengths[i] >= 0 makes
 * values[i] a binary value of that many bytes (e.g. from cw_pgbin_finish), -1 a text one.
 * The lengths array is copied.
 */
void cw_store_job_addp_bin(cw_store_job_t *job, const char *sql, int nparams, char **values,
                           const int *lengths, cw_store_result_fn on_result);
/** @brief Append a statement with no parameters. */
void cw_store_job_add0(cw_store_job_t *job, const char *sql, cw_store_result_fn on_result);

/** @brief Free a job never submitted, without calling its done callback. */
void cw_store_job_drop(cw_store_job_t *job);
/** @brief Queue a job at the back (takes ownership). If the store is not ready the job fails
 * at once with CW_ERR_AGAIN (done called before return). */
void cw_store_submit(cw_store_t *st, cw_store_job_t *job);
/** @brief Queue a job to run next, before anything queued (a transaction's continuation). */
void cw_store_submit_next(cw_store_t *st, cw_store_job_t *job);

/** @brief Drop the connection and reconnect after back-off (used after a fatal job error). */
void cw_store_reset(cw_store_t *st, const char *why);

/* --- parameter builders: PostgreSQL text-format array literals, escaped -------------- */

/** A growing "{…}" array literal. */
typedef struct cw_pgarray {
    char *buf;
    size_t len, cap;
    int n;
} cw_pgarray_t;

void cw_pgarray_init(cw_pgarray_t *a);
/** @brief Append a text element, quoted and escaped (any bytes but NUL are safe). */
void cw_pgarray_add_text(cw_pgarray_t *a, const char *s);
/** @brief Append a text element given as raw bytes, as bytea hex ("\\x…"). */
void cw_pgarray_add_bytea(cw_pgarray_t *a, const void *p, size_t n);
void cw_pgarray_add_int(cw_pgarray_t *a, int64_t v);
void cw_pgarray_add_null(cw_pgarray_t *a);
/** @brief Close the literal and give up the buffer (caller owns it). */
char *cw_pgarray_finish(cw_pgarray_t *a);

/* --- binary-format one-dimensional arrays (PostgreSQL's array_recv wire format) ------- */

#define CW_OID_BOOL   16
#define CW_OID_BYTEA  17
#define CW_OID_INT8   20
#define CW_OID_INT4   23
#define CW_OID_TEXT   25
#define CW_OID_FLOAT8 701
#define CW_OID_NUMERIC 1700

/** A growing binary array of one element type: no quoting, escaping or number formatting on
 * either side. The parameter's SQL type must be that element type's array ($1::text[] for
 * CW_OID_TEXT, ::bigint[] for CW_OID_INT8, ::int[] for CW_OID_INT4, ::bytea[] for
 * CW_OID_BYTEA, ::bool[] for CW_OID_BOOL, ::float8[] for CW_OID_FLOAT8): PostgreSQL refuses
 * any other. */
typedef struct cw_pgbin {
    char *buf;
    size_t len, cap;
    int n;
    uint32_t oid;
    bool hasnull;
} cw_pgbin_t;

void cw_pgbin_init(cw_pgbin_t *a, uint32_t elem_oid);
/** @brief Append a text (CW_OID_TEXT) element. */
void cw_pgbin_add_text(cw_pgbin_t *a, const char *s);
/** @brief Append n bytes as one element (bytea, or text given with its length). */
void cw_pgbin_add_bytes(cw_pgbin_t *a, const void *p, size_t n);
/** @brief Append an integer (CW_OID_INT8 or CW_OID_INT4: the array's own width). */
void cw_pgbin_add_int(cw_pgbin_t *a, int64_t v);
void cw_pgbin_add_bool(cw_pgbin_t *a, bool v);
void cw_pgbin_add_float8(cw_pgbin_t *a, double v);
void cw_pgbin_add_null(cw_pgbin_t *a);
/** @brief Finish the array and give up the buffer (caller owns it); *len = its size. */
char *cw_pgbin_finish(cw_pgbin_t *a, int *len);

/** @brief A malloc'd decimal string of v (for job parameters). */
char *cw_pgparam_int(int64_t v);

#endif
