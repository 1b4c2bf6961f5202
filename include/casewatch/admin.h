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
 */
#ifndef CASEWATCH_ADMIN_H
#define CASEWATCH_ADMIN_H

#include "casewatch/config.h"
#include "casewatch/pipeline.h"

#include <event2/event.h>

typedef struct cw_admin cw_admin_t;

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
/** @brief Take a reloaded configuration (token, readiness threshold, stream limit). */
void cw_admin_reconfigure(cw_admin_t *a, const cw_config_t *cfg);
/** @brief The port actually bound (useful with port 0 in tests). */
int cw_admin_port(const cw_admin_t *a);
/** @brief Close every connection and free. */
void cw_admin_destroy(cw_admin_t *a);

/** The dashboard page (deploy/dashboard/index.html, embedded at build time). */
extern const char cw_dashboard_html[];
extern const size_t cw_dashboard_html_len;

#endif
