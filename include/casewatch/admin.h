/*
 * admin.h — casewatchd's admin HTTP API and dashboard (libevent evhttp, on the daemon's loop).
 *
 * Bound to [admin] listen (127.0.0.1:8089 by default). When [admin] token is set every
 * request except GET / (the static dashboard page) and GET /healthz must carry
 * "Authorization: Bearer TOKEN"; the configuration refuses a non-loopback address without
 * one. Reads of alerts, silences, cases and figures go to PostgreSQL on the admin's own
 * non-blocking connection, so an operator's query never delays ingest. Every answer is JSON
 * (json-c) except /metrics (Prometheus text), / (HTML) and /events (server-sent events).
 * The endpoints are documented in README "Admin API".
 *
 * Abuse: at most [admin] max_connections are open at once. A request must arrive whole
 * within [admin] request_timeout_ms of its connection opening (or of the previous answer on a
 * kept-alive one), however slowly its bytes trickle in; a reply that makes no progress for
 * as long is dropped too. At the limit a new connection closes the oldest one still sending
 * its request (idle and slow clients go first); when every connection is being answered or
 * streams, the listener stops accepting until one closes. accept() failures pause the
 * listener with a back-off and are logged at most once a minute.
 */
#ifndef CASEWATCH_ADMIN_H
#define CASEWATCH_ADMIN_H

#include "casewatch/config.h"
#include "casewatch/pipeline.h"

#include <event2/event.h>

typedef struct cw_admin cw_admin_t;

/** Descriptors the daemon keeps for PostgreSQL, Kafka, logs and the loop beyond the admin's
 * [admin] max_connections: startup refuses a descriptor limit (RLIMIT_NOFILE) below the sum. */
#define CW_ADMIN_FD_RESERVE 256

/** Reloads so far (kept by the daemon, shown in /metrics). */
typedef struct cw_reload_stats {
    uint64_t ok, failed;
    int64_t last_ok_ms; /**< wall time of the last successful reload; 0 = none */
} cw_reload_stats_t;

typedef struct cw_admin_opts {
    const cw_config_t *cfg;  /**< borrowed; see cw_admin_reconfigure() */
    cw_pipeline_t *pipeline; /**< borrowed */
    /** POST /reload: reload configuration and rules like SIGHUP; errstr says why not */
    cw_err_t (*reload)(void *arg, char *errstr, size_t errsz);
    void *arg;
    const cw_reload_stats_t *reloads; /**< borrowed */
    const char *version;
} cw_admin_opts_t;

/**
 * @brief Listen and serve. Returns NULL with errstr when the address cannot be bound (or
 * NULL without error text when [admin] listen = off: check cfg first).
 */
cw_admin_t *cw_admin_new(struct event_base *base, const cw_admin_opts_t *opts, char *errstr,
                         size_t errsz);
/** @brief Take a reloaded configuration (token, readiness threshold, stream limit, request
 * timeout); cfg is borrowed until the next call or cw_admin_destroy(). max_connections keeps
 * its value from cw_admin_new(). */
void cw_admin_reconfigure(cw_admin_t *a, const cw_config_t *cfg);
/** @brief The port actually bound (useful with port 0 in tests). */
int cw_admin_port(const cw_admin_t *a);
/** @brief Close every connection and free. */
void cw_admin_destroy(cw_admin_t *a);

/** The dashboard page (deploy/dashboard/index.html, embedded at build time). */
extern const char cw_dashboard_html[];
extern const size_t cw_dashboard_html_len;

#endif
