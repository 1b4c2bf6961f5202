/*
 * test_config.c — CUnit suite for config.c: defaults, pass-through Kafka properties, an
 * error naming file:line and what was expected for every kind of mistake, the admin's
 * connection limits, and a bearer token in a file other users can read.
 */
#include "casewatch/config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[256];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/cw-test-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

#define MINIMAL                                                                                    \
    "[postgres]\n"                                                                                 \
    "conninfo = host=/tmp port=5432\n"                                                             \
    "[kafka]\n"                                                                                    \
    "bootstrap.servers = 127.0.0.1:9092\n"                                                         \
    "group.id = g\n"

static void test_minimal_defaults(void)
{
    write_file(MINIMAL);
    char err[4096];
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->batch_max_events, 10000);
    CU_ASSERT_EQUAL(c->batch_max_wait_ms, 10);
    CU_ASSERT_EQUAL(c->log_level, CW_LOG_INFO);
    CU_ASSERT_EQUAL(c->n_event_topics, 2);
    CU_ASSERT_STRING_EQUAL(c->event_topics[0], "casewatch.case-events");
    CU_ASSERT_STRING_EQUAL(c->event_topics[1], "casewatch.hearing-events");
    CU_ASSERT_STRING_EQUAL(c->dead_letter_topic, "casewatch.dead-letters");
    CU_ASSERT_STRING_EQUAL(c->pg_conninfo, "host=/tmp port=5432");
    CU_ASSERT_EQUAL(c->kafka.count, 2);
    cw_config_free(c);
}

static void test_full(void)
{
    write_file("; a comment\n"
               "[daemon]\n"
               "log_level = debug\n"
               "log_format = json\n"
               "batch_max_events = 10\n"
               "batch_max_wait_ms = 0\n"
               "[topics]\n"
               "events = a , b,c\n"
               "dead_letter = dl\n" MINIMAL "[kafka.consumer]\n"
               "fetch.wait.max.ms = 10\n"
               "[kafka.producer]\n"
               "linger.ms = 1\n");
    char err[4096];
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->log_level, CW_LOG_DEBUG);
    CU_ASSERT_TRUE(c->log_json);
    CU_ASSERT_EQUAL(c->batch_max_events, 10);
    CU_ASSERT_EQUAL(c->batch_max_wait_ms, 0);
    CU_ASSERT_EQUAL_FATAL(c->n_event_topics, 3);
    CU_ASSERT_STRING_EQUAL(c->event_topics[1], "b");
    CU_ASSERT_STRING_EQUAL(c->event_topics[2], "c");
    CU_ASSERT_EQUAL(c->kafka_consumer.count, 1);
    CU_ASSERT_EQUAL(c->kafka_producer.count, 1);

    char e2[256];
    rd_kafka_conf_t *kc = cw_config_kafka_conf(c, false, NULL, e2, sizeof(e2));
    CU_ASSERT_PTR_NOT_NULL_FATAL(kc);
    char v[64];
    size_t vs = sizeof(v);
    CU_ASSERT_EQUAL(rd_kafka_conf_get(kc, "linger.ms", v, &vs), RD_KAFKA_CONF_OK);
    CU_ASSERT_STRING_EQUAL(v, "1");
    vs = sizeof(v);
    /* group.id is a consumer key: not handed to the producer */
    v[0] = '\0';
    rd_kafka_conf_get(kc, "group.id", v, &vs);
    CU_ASSERT_STRING_NOT_EQUAL(v, "g");
    rd_kafka_conf_destroy(kc);
    cw_config_free(c);
}

/* Each case: file text, substring the error must contain (with file:line). */
static void expect_error(const char *text, const char *needle)
{
    write_file(text);
    char err[4096];
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NULL(c);
    cw_config_free(c);
    char want[512];
    snprintf(want, sizeof(want), "%s:%s", path, needle);
    if (!strstr(err, want))
        fprintf(stderr, "\nexpected \"%s\" in:\n%s\n", want, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void test_errors_name_file_line(void)
{
    expect_error("[daemon]\nbatch_max_events = lots\n" MINIMAL,
                 "2: [daemon] batch_max_events: expected an integer from 1 to 1000000");
    expect_error("[daemon]\n\nbatch_max_events = 0\n" MINIMAL, "3: [daemon] batch_max_events");
    expect_error(MINIMAL "[daemon]\nlog_level = loud\n",
                 "7: [daemon] log_level: expected one of error, warn, info, debug");
    expect_error(MINIMAL "[daemon]\ncolour = blue\n", "7: [daemon] unknown key \"colour\"");
    expect_error(MINIMAL "[deamon]\nlog_level = info\n", "7: unknown section [deamon]");
    expect_error(MINIMAL "this is not ini\n", "6: syntax error");
    expect_error(MINIMAL "[kafka]\nno.such.property = 1\n", "7: [kafka] no.such.property");
    expect_error(MINIMAL "[kafka]\nsession.timeout.ms = soon\n", "7: [kafka] session.timeout.ms");
    expect_error("[kafka]\nbootstrap.servers = x:1\ngroup.id = g\n",
                 "0: missing required key [postgres] conninfo");
    expect_error("[postgres]\nconninfo = x\n[kafka]\ngroup.id = g\n",
                 "0: missing required key [kafka] bootstrap.servers");
    expect_error(MINIMAL "[daemon]\nbackoff_initial_ms = 5000\nbackoff_max_ms = 100\n",
                 "8: [daemon] backoff_max_ms must be >= backoff_initial_ms");
    expect_error(MINIMAL "[postgres]\nconninfo =\n", "7: [postgres] conninfo");
}

static void test_all_errors_reported(void)
{
    write_file("[daemon]\nbatch_max_events = x\nbatch_max_wait_ms = -1\n" MINIMAL);
    char err[4096];
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: "));
}

static void test_missing_file(void)
{
    char err[512];
    CU_ASSERT_PTR_NULL(cw_config_load("/nonexistent/cw.ini", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/cw.ini:0: cannot open"));
}

static void test_reload_diff(void)
{
    char err[1024];
    write_file(MINIMAL "[daemon]\nbatch_max_events = 5\n");
    cw_config_t *a = cw_config_load(path, err, sizeof(err));
    write_file("[postgres]\nconninfo = host=/other\n[kafka]\nbootstrap.servers = "
               "127.0.0.1:9092\ngroup.id = g\n[daemon]\nbatch_max_events = 7\n"
               "backoff_max_ms = 500\n");
    cw_config_t *b = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char diff[512];
    cw_config_diff_static(a, b, diff, sizeof(diff));
    CU_ASSERT_PTR_NOT_NULL(strstr(diff, "[postgres] conninfo"));
    CU_ASSERT_PTR_NOT_NULL(strstr(diff, "[daemon] backoff_max_ms"));
    CU_ASSERT_PTR_NULL(strstr(diff, "batch_max_events")); /* reloadable */
    cw_config_apply_reloadable(a, b);
    CU_ASSERT_EQUAL(a->batch_max_events, 7);
    CU_ASSERT_STRING_EQUAL(a->pg_conninfo, "host=/tmp port=5432"); /* static: kept */
    cw_config_free(a);
    cw_config_free(b);
}

static void test_admin(void)
{
    char err[4096];
    write_file(MINIMAL);
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->admin_listen, "127.0.0.1:8089"); /* loopback by default */
    CU_ASSERT_PTR_NULL(c->admin_token);
    CU_ASSERT_EQUAL(c->admin_ready_max_lag, 10000);
    cw_config_free(c);

    /* beyond loopback without a token: refused, naming the line */
    write_file(MINIMAL "[admin]\nlisten = 0.0.0.0:8089\n");
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ".ini:7: [admin] listen: 0.0.0.0:8089 is reachable"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "token"));
    write_file(MINIMAL "[admin]\nlisten = [::]:8089\n");
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    /* with one it is allowed; a short token is not */
    write_file(MINIMAL "[admin]\nlisten = 0.0.0.0:8089\ntoken = 0123456789abcdef\n");
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c);
    cw_config_free(c);
    write_file(MINIMAL "[admin]\ntoken = short\n");
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":7: [admin] token: expected at least 16 characters"));
    /* malformed addresses */
    const char *bad[] = {"localhost", "127.0.0.1:", "127.0.0.1:99999", "::1:80", "[::1]80", NULL};
    for (int i = 0; bad[i]; i++) {
        char text[512];
        snprintf(text, sizeof(text), MINIMAL "[admin]\nlisten = %s\n", bad[i]);
        write_file(text);
        CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, ":7: [admin] listen: expected HOST:PORT"));
    }
    /* off, and an IPv6 loopback */
    write_file(MINIMAL "[admin]\nlisten = off\n");
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c);
    cw_config_free(c);
    write_file(MINIMAL "[admin]\nlisten = [::1]:9000\n");
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c);
    cw_config_free(c);
    char host[64];
    int port;
    CU_ASSERT_EQUAL(cw_listen_parse("[::1]:9000", host, sizeof(host), &port), CW_OK);
    CU_ASSERT_STRING_EQUAL(host, "::1");
    CU_ASSERT_EQUAL(port, 9000);
    CU_ASSERT(cw_host_is_loopback("127.0.0.2"));
    CU_ASSERT(cw_host_is_loopback("::1"));
    CU_ASSERT(!cw_host_is_loopback("10.0.0.1"));
    CU_ASSERT(!cw_host_is_loopback("0.0.0.0"));

    /* token_file: first line; both token and token_file is an error */
    char tf[300];
    snprintf(tf, sizeof(tf), "/tmp/cw-test-token-%d", (int)getpid());
    FILE *f = fopen(tf, "w");
    fputs("file-token-0123456789\nsecond line\n", f);
    fclose(f);
    char text[1024];
    snprintf(text, sizeof(text), MINIMAL "[admin]\ntoken_file = %s\n", tf);
    write_file(text);
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->admin_token, "file-token-0123456789");
    /* the token is reloadable (rotation): applied from a new config */
    snprintf(text, sizeof(text), MINIMAL "[admin]\ntoken = rotated-token-0123456789\n");
    write_file(text);
    cw_config_t *n = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    cw_config_apply_reloadable(c, n);
    CU_ASSERT_STRING_EQUAL(c->admin_token, "rotated-token-0123456789");
    cw_config_free(n);
    cw_config_free(c);
    snprintf(text, sizeof(text), MINIMAL "[admin]\ntoken = x0123456789abcdef\ntoken_file = %s\n",
             tf);
    write_file(text);
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not both"));
    unlink(tf);
    snprintf(text, sizeof(text), MINIMAL "[admin]\ntoken_file = %s\n", tf);
    write_file(text);
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[admin] token_file: cannot open"));
    write_file(MINIMAL "[admin]\nfrobnicate = 1\n");
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":7: [admin] unknown key \"frobnicate\""));
}

/* [G] the connection cap and the request timeout: defaults, bounds, what reloads */
static void test_admin_limits(void)
{
    char err[4096];
    write_file(MINIMAL);
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->admin_max_connections, 64);
    CU_ASSERT_EQUAL(c->admin_request_timeout_ms, 10000);
    CU_ASSERT(c->admin_sse_max_clients < c->admin_max_connections);
    cw_config_free(c);
    expect_error(MINIMAL "[admin]\nmax_connections = 1\n",
                 "7: [admin] max_connections: expected an integer from 2 to 65536");
    expect_error(MINIMAL "[admin]\nmax_connections = lots\n", "7: [admin] max_connections");
    expect_error(MINIMAL "[admin]\nrequest_timeout_ms = 50\n",
                 "7: [admin] request_timeout_ms: expected milliseconds from 100 to 600000");
    /* streams must leave connections for everything else */
    expect_error(MINIMAL "[admin]\nmax_connections = 16\nsse_max_clients = 16\n",
                 "8: [admin] sse_max_clients: expected fewer than max_connections (16)");
    expect_error(MINIMAL "[admin]\nsse_max_clients = 64\n",
                 "7: [admin] sse_max_clients: expected fewer than max_connections (64)");
    /* the cap sizes the descriptor budget at startup: a restart changes it; the timeout
     * reloads */
    write_file(MINIMAL "[admin]\nmax_connections = 8\nrequest_timeout_ms = 500\n"
                       "sse_max_clients = 2\n");
    cw_config_t *a = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->admin_max_connections, 8);
    write_file(MINIMAL "[admin]\nmax_connections = 9\nrequest_timeout_ms = 700\n"
                       "sse_max_clients = 2\n");
    cw_config_t *b = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char diff[512];
    cw_config_diff_static(a, b, diff, sizeof(diff));
    CU_ASSERT_PTR_NOT_NULL(strstr(diff, "[admin] max_connections"));
    CU_ASSERT_PTR_NULL(strstr(diff, "request_timeout_ms"));
    cw_config_apply_reloadable(a, b);
    CU_ASSERT_EQUAL(a->admin_request_timeout_ms, 700);
    CU_ASSERT_EQUAL(a->admin_max_connections, 8);
    cw_config_free(a);
    cw_config_free(b);
}

/* [G] the token in a file other users can read is noted (the daemon warns, or refuses with
 * --strict); a file only its owner, or the daemon's own group, reads is not */
static void test_token_exposure(void)
{
    char err[4096], text[1024], tf[300];
    write_file(MINIMAL "[admin]\ntoken = inline-token-0123456789\n");
    struct {
        mode_t mode;
        const char *who; /* NULL = not exposed */
    } cases[] = {{0644, "readable by every user"}, {0604, "readable by every user"},
                 {0600, NULL}, {0400, NULL}, {0640, NULL} /* our own group */};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(chmod(path, cases[i].mode), 0);
        cw_config_t *c = cw_config_load(path, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        if (!cases[i].who) {
            CU_ASSERT_PTR_NULL(c->admin_token_exposed);
        } else {
            CU_ASSERT_PTR_NOT_NULL(c->admin_token_exposed);
            CU_ASSERT_PTR_NOT_NULL(c->admin_token_exposed &&
                                   strstr(c->admin_token_exposed, cases[i].who));
            CU_ASSERT_PTR_NOT_NULL(c->admin_token_exposed &&
                                   strstr(c->admin_token_exposed, path));
        }
        cw_config_free(c);
    }
    /* group-readable by a group that is not ours (root can hand it to another group) */
    if (geteuid() == 0) {
        CU_ASSERT_EQUAL_FATAL(chmod(path, 0640), 0);
        CU_ASSERT_EQUAL_FATAL(chown(path, 0, getegid() == 65534 ? 65533 : 65534), 0);
        cw_config_t *c = cw_config_load(path, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_PTR_NOT_NULL(c->admin_token_exposed &&
                               strstr(c->admin_token_exposed, "readable by its group"));
        cw_config_free(c);
    }
    unlink(path); /* the next write_file() creates it afresh, with our group */
    /* no token: nothing to expose, whatever the mode */
    write_file(MINIMAL);
    CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NULL(c->admin_token_exposed);
    cw_config_free(c);
    /* token_file: its mode is what counts, not the config's */
    snprintf(tf, sizeof(tf), "/tmp/cw-test-token-exposed-%d", (int)getpid());
    FILE *f = fopen(tf, "w");
    fputs("file-token-0123456789\n", f);
    fclose(f);
    snprintf(text, sizeof(text), MINIMAL "[admin]\ntoken_file = %s\n", tf);
    write_file(text);
    CU_ASSERT_EQUAL_FATAL(chmod(tf, 0644), 0);
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL(c->admin_token_exposed && strstr(c->admin_token_exposed, tf));
    cw_config_free(c);
    CU_ASSERT_EQUAL_FATAL(chmod(tf, 0600), 0);
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NULL(c->admin_token_exposed);
    cw_config_free(c);
    unlink(tf);
    /* listen = off: no token is served, nothing to warn about */
    write_file(MINIMAL "[admin]\nlisten = off\ntoken = inline-token-0123456789\n");
    CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
    c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NULL(c->admin_token_exposed);
    cw_config_free(c);
}

/* TLS and SASL for Kafka, sslmode for PostgreSQL: passed through unchanged */
static void test_tls_sasl_pass_through(void)
{
    write_file("[postgres]\n"
               "conninfo = host=db.example port=5432 sslmode=verify-full sslrootcert=/etc/ca.pem\n"
               "[kafka]\n"
               "bootstrap.servers = k1:9093\n"
               "group.id = g\n"
               "security.protocol = SASL_SSL\n"
               "sasl.mechanisms = SCRAM-SHA-512\n"
               "sasl.username = casewatch\n"
               "sasl.password = secret\n"
               "ssl.ca.location = /etc/ssl/certs/ca-certificates.crt\n");
    char err[4096];
    cw_config_t *c = cw_config_load(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL(strstr(c->pg_conninfo, "sslmode=verify-full sslrootcert=/etc/ca.pem"));
    for (int consumer = 0; consumer < 2; consumer++) {
        rd_kafka_conf_t *k = cw_config_kafka_conf(c, consumer, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(k);
        const char *want[][2] = {{"security.protocol", "sasl_ssl"},
                                 {"sasl.mechanisms", "SCRAM-SHA-512"},
                                 {"sasl.username", "casewatch"},
                                 {"ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt"}};
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            char v[256];
            size_t n = sizeof(v);
            CU_ASSERT_EQUAL(rd_kafka_conf_get(k, want[i][0], v, &n), RD_KAFKA_CONF_OK);
            CU_ASSERT_STRING_EQUAL(v, want[i][1]);
        }
        rd_kafka_conf_destroy(k);
    }
    cw_config_free(c);
    /* a mechanism librdkafka does not know stops startup at its line */
    write_file(MINIMAL "security.protocol = carrier_pigeon\n");
    CU_ASSERT_PTR_NULL(cw_config_load(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ".ini:6: [kafka] security.protocol"));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "minimal file gets documented defaults", test_minimal_defaults);
    CU_add_test(s, "every section and pass-through", test_full);
    CU_add_test(s, "errors name file:line and what was expected", test_errors_name_file_line);
    CU_add_test(s, "every error in a file is reported", test_all_errors_reported);
    CU_add_test(s, "missing file", test_missing_file);
    CU_add_test(s, "reload: static keys reported, reloadable applied", test_reload_diff);
    CU_add_test(s, "[admin]: loopback by default, token required beyond it", test_admin);
    CU_add_test(s, "TLS/SASL and sslmode pass through", test_tls_sasl_pass_through);
    CU_add_test(s, "[admin] connection cap and request timeout", test_admin_limits);
    CU_add_test(s, "[admin] a token readable by others is noted", test_token_exposure);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    unlink(path);
    return failed ? 1 : 0;
}
