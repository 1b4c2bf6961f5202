/*
 * test_it_store.c — integration suite for the store (src/store.c) against a private
 * PostgreSQL: statements prepared once per connection and reused, a Parse that failed or was
 * skipped after an earlier error is sent again (never "prepared statement does not exist"),
 * the session SQL runs on every new connection, a reconnect forgets what was prepared, and
 * binary array parameters arrive intact, and the migrated cw_ms() is inlined and exact.
 */
#include "casewatch/store.h"
#include "cwtest.h"

#include <CUnit/CUnit.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cwt_pg_t pg;
static struct event_base *base;
static cw_store_t *st;

typedef struct outcome {
    bool done;
    cw_err_t err;
    char msg[512];
    char value[5][128]; /* first cell of each statement's result, in order */
    int nvalues;
} outcome_t;

static void on_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    (void)sqlstate;
    outcome_t *o = arg;
    o->done = true;
    o->err = err;
    snprintf(o->msg, sizeof(o->msg), "%s", msg ? msg : "");
    event_base_loopbreak(base);
}

static void on_result(void *arg, const PGresult *res)
{
    outcome_t *o = arg;
    if (o->nvalues < 5 && PQntuples(res) > 0)
        snprintf(o->value[o->nvalues++], sizeof(o->value[0]), "%s", PQgetvalue(res, 0, 0));
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

/* Run the loop until the store is ready (or 15 s). */
static bool wait_ready(void)
{
    struct event *t = evtimer_new(base, on_timeout, NULL);
    for (int i = 0; i < 150 && !cw_store_ready(st); i++) {
        struct timeval tv = {0, 100000};
        evtimer_add(t, &tv);
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(t);
    return cw_store_ready(st);
}

/* Submit job and run the loop until its done callback (or 10 s). */
static void run(cw_store_job_t *job, outcome_t *o)
{
    struct event *t = evtimer_new(base, on_timeout, NULL);
    struct timeval tv = {10, 0};
    evtimer_add(t, &tv);
    cw_store_submit(st, job);
    while (!o->done && evtimer_pending(t, NULL))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    CU_ASSERT_TRUE_FATAL(o->done);
}

static char *dup(const char *s)
{
    return strdup(s);
}

static const char SQL_PLUS_ONE[] = "SELECT $1::int + 1";
static const char SQL_TWICE[] = "SELECT $1::int * 2";
static const char SQL_BROKEN[] = "SELECT nonsense FROM";
static const char SQL_COUNT_PREPARED[] = "SELECT count(*) FROM pg_prepared_statements";

static int suite_init(void)
{
    if (cwt_pg_start(&pg) != 0)
        return -1;
    base = event_base_new();
    cw_store_opts_t so = {.conninfo = pg.conninfo,
                          .backoff_initial_ms = 50,
                          .backoff_max_ms = 200,
                          .session_sql = "SET plan_cache_mode = force_generic_plan"};
    st = cw_store_new(base, &so);
    if (!wait_ready()) {
        fprintf(stderr, "test_it_store: the store did not become ready\n");
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    cw_store_destroy(st);
    event_base_free(base);
    return cwt_pg_stop(&pg);
}

static void test_prepared_once_and_reused(void)
{
    for (int round = 0; round < 3; round++) {
        outcome_t o = {0};
        cw_store_job_t *job = cw_store_job_new(on_done, &o);
        char v[16];
        snprintf(v, sizeof(v), "%d", 40 + round);
        cw_store_job_addp(job, SQL_PLUS_ONE, 1, (char *[]){dup(v)}, on_result);
        cw_store_job_addp(job, SQL_PLUS_ONE, 1, (char *[]){dup("1")}, on_result);
        cw_store_job_add0(job, SQL_COUNT_PREPARED, on_result);
        run(job, &o);
        CU_ASSERT_EQUAL(o.err, CW_OK);
        CU_ASSERT_EQUAL_FATAL(o.nvalues, 3);
        snprintf(v, sizeof(v), "%d", 41 + round);
        CU_ASSERT_STRING_EQUAL(o.value[0], v);
        CU_ASSERT_STRING_EQUAL(o.value[1], "2");
        CU_ASSERT_STRING_EQUAL(o.value[2], "1"); /* one named statement, used three times */
    }
}

static void test_session_sql_applied(void)
{
    outcome_t o = {0};
    cw_store_job_t *job = cw_store_job_new(on_done, &o);
    cw_store_job_add0(job, "SHOW plan_cache_mode", on_result);
    run(job, &o);
    CU_ASSERT_EQUAL(o.err, CW_OK);
    CU_ASSERT_STRING_EQUAL(o.value[0], "force_generic_plan");
}

static void test_failed_parse_is_sent_again(void)
{
    for (int round = 0; round < 2; round++) {
        outcome_t o = {0};
        cw_store_job_t *job = cw_store_job_new(on_done, &o);
        cw_store_job_addp(job, SQL_BROKEN, 0, NULL, on_result);
        run(job, &o);
        CU_ASSERT_EQUAL(o.err, CW_ERR_DB);
        CU_ASSERT_PTR_NOT_NULL(strstr(o.msg, "syntax error"));
        CU_ASSERT_PTR_NULL(strstr(o.msg, "does not exist"));
    }
}

static void test_parse_skipped_after_error_is_sent_again(void)
{
    /* the division fails first, so the pipeline skips the Parse queued behind it */
    outcome_t o = {0};
    cw_store_job_t *job = cw_store_job_new(on_done, &o);
    cw_store_job_add0(job, "SELECT 1 / 0", NULL);
    cw_store_job_addp(job, SQL_TWICE, 1, (char *[]){dup("4")}, on_result);
    run(job, &o);
    CU_ASSERT_EQUAL(o.err, CW_ERR_DB);
    CU_ASSERT_PTR_NOT_NULL(strstr(o.msg, "division by zero"));

    outcome_t o2 = {0};
    job = cw_store_job_new(on_done, &o2);
    cw_store_job_addp(job, SQL_TWICE, 1, (char *[]){dup("21")}, on_result);
    run(job, &o2);
    CU_ASSERT_EQUAL(o2.err, CW_OK);
    CU_ASSERT_STRING_EQUAL(o2.value[0], "42");
}

static void test_reconnect_forgets_prepared(void)
{
    cw_store_reset(st, "test: reconnect");
    CU_ASSERT_TRUE_FATAL(wait_ready());
    outcome_t o = {0};
    cw_store_job_t *job = cw_store_job_new(on_done, &o);
    cw_store_job_add0(job, "SHOW plan_cache_mode", on_result);
    cw_store_job_add0(job, SQL_COUNT_PREPARED, on_result);
    cw_store_job_addp(job, SQL_PLUS_ONE, 1, (char *[]){dup("9")}, on_result);
    cw_store_job_add0(job, SQL_COUNT_PREPARED, on_result);
    run(job, &o);
    CU_ASSERT_EQUAL(o.err, CW_OK);
    CU_ASSERT_EQUAL_FATAL(o.nvalues, 4);
    CU_ASSERT_STRING_EQUAL(o.value[0], "force_generic_plan"); /* session SQL again */
    CU_ASSERT_STRING_EQUAL(o.value[1], "0");                  /* a new session */
    CU_ASSERT_STRING_EQUAL(o.value[2], "10");
    CU_ASSERT_STRING_EQUAL(o.value[3], "1");
}

/* Binary-format array parameters: text with the characters a text literal must escape,
 * NULLs, int4 and int8 extremes, bytea with zero bytes, and an empty array. */
static const char SQL_BIN[] =
    "SELECT (SELECT string_agg(coalesce(t, '<null>') || '|' || coalesce(i::text, '<null>') || '|'"
    " || coalesce(b::text, '<null>') || '|' || coalesce(encode(y, 'hex'), '<null>'), ';'"
    " ORDER BY o) FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[])"
    " WITH ORDINALITY AS u(t, i, b, y, o)) || '#' || cardinality($5::text[])";

static const char SQL_BIN_FB[] =
    "SELECT string_agg(CASE WHEN f = 0.1::float8 THEN 't' ELSE f::text END || ':' ||"
    " coalesce(q::text, '<null>'), ';' ORDER BY o)"
    " FROM unnest($1::float8[], $2::bool[]) WITH ORDINALITY AS u(f, q, o)";

static void test_binary_arrays(void)
{
    cw_pgbin_t t, i, b, y, e;
    cw_pgbin_init(&t, CW_OID_TEXT);
    cw_pgbin_init(&i, CW_OID_INT4);
    cw_pgbin_init(&b, CW_OID_INT8);
    cw_pgbin_init(&y, CW_OID_BYTEA);
    cw_pgbin_init(&e, CW_OID_TEXT);
    cw_pgbin_add_text(&t, "plain");
    cw_pgbin_add_text(&t, "quote\"back\\slash,{} NULL");
    cw_pgbin_add_null(&t);
    cw_pgbin_add_int(&i, -5);
    cw_pgbin_add_int(&i, 2147483647);
    cw_pgbin_add_null(&i);
    cw_pgbin_add_int(&b, -9000000000LL);
    cw_pgbin_add_int(&b, INT64_MAX);
    cw_pgbin_add_null(&b);
    cw_pgbin_add_bytes(&y, "\0\x01\xff", 3);
    cw_pgbin_add_bytes(&y, "", 0);
    cw_pgbin_add_null(&y);
    int len[5];
    char *v[5] = {cw_pgbin_finish(&t, &len[0]), cw_pgbin_finish(&i, &len[1]),
                  cw_pgbin_finish(&b, &len[2]), cw_pgbin_finish(&y, &len[3]),
                  cw_pgbin_finish(&e, &len[4])};
    for (int round = 0; round < 2; round++) { /* Parsed, then reused */
        outcome_t o = {0};
        cw_store_job_t *job = cw_store_job_new(on_done, &o);
        char *copy[5];
        for (int k = 0; k < 5; k++) {
            copy[k] = malloc((size_t)len[k]);
            memcpy(copy[k], v[k], (size_t)len[k]);
        }
        cw_store_job_addp_bin(job, SQL_BIN, 5, copy, len, on_result);
        run(job, &o);
        CU_ASSERT_EQUAL(o.err, CW_OK);
        CU_ASSERT_STRING_EQUAL(o.value[0], "plain|-5|-9000000000|0001ff;"
                                           "quote\"back\\slash,{} NULL|2147483647|"
                                           "9223372036854775807|;"
                                           "<null>|<null>|<null>|<null>#0");
    }
    for (int k = 0; k < 5; k++)
        free(v[k]);

    /* bool and float8: the exact double, infinities and NaN, false and NULL */
    cw_pgbin_t f, q;
    cw_pgbin_init(&f, CW_OID_FLOAT8);
    cw_pgbin_init(&q, CW_OID_BOOL);
    cw_pgbin_add_float8(&f, 0.1);
    cw_pgbin_add_float8(&f, -1e300);
    cw_pgbin_add_float8(&f, 1.0 / 0.0);
    cw_pgbin_add_float8(&f, 0.0 / 0.0);
    cw_pgbin_add_bool(&q, true);
    cw_pgbin_add_bool(&q, false);
    cw_pgbin_add_null(&q);
    cw_pgbin_add_bool(&q, true);
    int fl[2];
    char *fv[2] = {cw_pgbin_finish(&f, &fl[0]), cw_pgbin_finish(&q, &fl[1])};
    outcome_t o = {0};
    cw_store_job_t *job = cw_store_job_new(on_done, &o);
    cw_store_job_addp_bin(job, SQL_BIN_FB, 2, fv, fl, on_result);
    run(job, &o);
    CU_ASSERT_EQUAL(o.err, CW_OK);
    CU_ASSERT_STRING_EQUAL(o.value[0], "t:true;-1e+300:false;Infinity:<null>;NaN:true");
}

/* Migration 007: cw_ms, on every batch write, is inlined by the planner (no function call
 * per value) and gives the instant the original body gave. */
static void test_cw_ms_inlined_and_exact(void)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "EXPLAIN (VERBOSE, COSTS OFF) "
                            "SELECT cw_ms(x) FROM generate_series(1::bigint, 3) x");
    CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);
    bool inlined = PQntuples(r) > 0, called = false;
    for (int i = 0; i < PQntuples(r); i++) {
        called |= strstr(PQgetvalue(r, i, 0), "cw_ms(") != NULL;
        inlined &= !called;
    }
    CU_ASSERT_FALSE(called);
    CU_ASSERT_TRUE(inlined);
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM generate_series(-200000::bigint, 200000) d,"
                  " LATERAL (SELECT d * 86400013 + 7919 * (d % 1000) AS ms) m "
                  "WHERE cw_ms(ms) IS DISTINCT FROM CASE WHEN ms = 0 THEN NULL ELSE"
                  " timestamptz 'epoch' + ms * interval '1 millisecond' END");
    CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);
    CU_ASSERT_STRING_EQUAL(PQntuples(r) ? PQgetvalue(r, 0, 0) : "", "0");
    PQclear(r);
    r = PQexec(c, "SET timezone = 'America/New_York'");
    PQclear(r);
    r = PQexec(c, "SELECT cw_ms(1779868800123) = timestamptz '2026-05-27 08:00:00.123+00',"
                  " cw_ms(0) IS NULL, cw_ms(NULL) IS NULL");
    CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);
    CU_ASSERT(PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t") &&
              !strcmp(PQgetvalue(r, 0, 1), "t") && !strcmp(PQgetvalue(r, 0, 2), "t"));
    PQclear(r);
    PQfinish(c);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("store", suite_init, suite_clean);
    CU_add_test(s, "a statement is prepared once per connection and reused",
                test_prepared_once_and_reused);
    CU_add_test(s, "the session SQL runs on the new connection", test_session_sql_applied);
    CU_add_test(s, "a Parse that failed is sent again, with the same error",
                test_failed_parse_is_sent_again);
    CU_add_test(s, "a Parse skipped after an earlier error is sent again and works",
                test_parse_skipped_after_error_is_sent_again);
    CU_add_test(s, "a reconnect forgets what was prepared and runs the session SQL again",
                test_reconnect_forgets_prepared);
    CU_add_test(s, "binary array parameters: escapes, NULLs, widths, bytes, empty, floats, bools",
                test_binary_arrays);
    CU_add_test(s, "cw_ms is inlined by the planner and exact", test_cw_ms_inlined_and_exact);
    return cwt_cunit_run();
}
