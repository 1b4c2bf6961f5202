/*
 * admin.c — the admin HTTP API, the live alert stream and the dashboard (see admin.h).
 *
 * Everything runs on the daemon's loop. Handlers that need PostgreSQL queue a job on the
 * admin's own store connection and answer from its callbacks; a client that disconnects
 * meanwhile is noticed through the connection's close callback (the request is then gone and
 * the answer is dropped). Server-sent event streams are chunked replies kept in a list; a
 * client that does not read (more than SSE_MAX_BUFFER unsent) is disconnected rather than
 * buffered for ever.
 */
#include "casewatch/admin.h"
#include "casewatch/aggread.h"
#include "casewatch/alertops.h"
#include "casewatch/event.h"
#include "casewatch/log.h"
#include "casewatch/metrics.h"
#include "casewatch/pbjson.h"
#include "casewatch/board.h"
#include "casewatch/store.h"
#include "casewatch/v1/state.pb-c.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_BODY        65536
#define SSE_MAX_BUFFER  (4 << 20)
#define SSE_KEEPALIVE_S 15
#define MAX_ID_LEN      512
#define MAX_TEXT_LEN    2000
#define MAX_PARTS       4096

typedef struct sse_client {
    struct cw_admin *a;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct sse_client *prev, *next;
} sse_client_t;

struct cw_admin {
    struct event_base *base;
    const cw_config_t *cfg;
    cw_pipeline_t *pipeline;
    cw_err_t (*reload)(void *arg, char *errstr, size_t errsz);
    void *reload_arg;
    const cw_reload_stats_t *reloads;
    const char *version;
    struct evhttp *http;
    int port;
    cw_store_t *store;
    struct event *ev_keepalive;
    sse_client_t *clients;
    int nclients;
    int64_t start_ms;
    bool closing;
};

/* ------------------------------------------------------------------ replies */

static void common_headers(struct evhttp_request *req, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

static void reply_text(struct evhttp_request *req, int code, const char *type, const char *body,
                       size_t len)
{
    common_headers(req, type);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
}

/* takes o */
static void reply_json(struct evhttp_request *req, int code, json_object *o)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    reply_text(req, code, "application/json", s, len);
    json_object_put(o);
}

static json_object *error_obj(const char *msg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    return o;
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    reply_json(req, code, error_obj(msg));
}

/* ------------------------------------------------------------------ requests to the database */

typedef enum dbkind {
    DB_ALERTS,
    DB_ALERT,
    DB_ACTION,
    DB_SILENCES,
    DB_SILENCE_NEW,
    DB_SILENCE_EXPIRE,
    DB_CASE,
    DB_REPORT,
    DB_REPORT_AREAS,
} dbkind_t;

typedef struct dbreq {
    cw_admin_t *a;
    struct evhttp_request *req; /* NULL once the client went away */
    dbkind_t kind;
    json_object *out;
    int nres;
    int rows;
    cw_aggread_t *agg;
    char *area;
    cw_day_t day;
    char *key;
    bool detached; /* the client hung up: req is ours to free, not to answer */
    bool ack;      /* DB_ACTION: (un)acknowledge to apply in memory on success */
    bool set_ack;
} dbreq_t;

/* The client went away before its answer. libevent either frees the request with the
 * connection (when we are closing the server) or detaches it, leaving it to us (a client
 * that hung up): then it must be freed when the answer comes. */
static void on_request_gone(struct evhttp_connection *conn, void *arg)
{
    dbreq_t *q = arg;
    if (q->req && !evhttp_request_get_connection(q->req))
        q->detached = true;
    else
        q->req = NULL;
}

static void dbreq_free(dbreq_t *q)
{
    json_object_put(q->out);
    if (q->agg)
        cw_aggread_destroy(q->agg);
    free(q->area);
    free(q->key);
    free(q);
}

/* the answer is ready (or failed): reply if the client is still there */
static void dbreq_finish(dbreq_t *q, int code, json_object *body)
{
    if (q->req && q->detached) {
        evhttp_request_free(q->req);
        json_object_put(body);
    } else if (q->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(q->req), NULL, NULL);
        reply_json(q->req, code, body);
    } else {
        json_object_put(body);
    }
    dbreq_free(q);
}

static dbreq_t *dbreq_new(cw_admin_t *a, struct evhttp_request *req, dbkind_t kind)
{
    dbreq_t *q = cw_calloc(1, sizeof(*q));
    q->a = a;
    q->req = req;
    q->kind = kind;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_request_gone, q);
    return q;
}

static void result_rows(void *arg, const PGresult *res)
{
    dbreq_t *q = arg;
    if (!q->out)
        q->out = json_object_new_object();
    q->rows = PQntuples(res);
    switch (q->kind) {
    case DB_ALERTS:
        json_object_object_add(q->out, "count", json_object_new_int(PQntuples(res)));
        json_object_object_add(q->out, "alerts", cw_pg_rows_json(res));
        break;
    case DB_ALERT:
        if (q->nres == 0)
            json_object_object_add(q->out, "alert", PQntuples(res) ? cw_pg_row_json(res, 0) : NULL);
        else
            json_object_object_add(q->out, q->nres == 1 ? "history" : "actions",
                                   cw_pg_rows_json(res));
        if (q->nres == 0 && !PQntuples(res))
            q->rows = -1; /* not found */
        break;
    case DB_SILENCES:
        json_object_object_add(q->out, "silences", cw_pg_rows_json(res));
        break;
    case DB_SILENCE_NEW:
    case DB_SILENCE_EXPIRE:
    case DB_ACTION:
        if (PQntuples(res)) {
            json_object *row = cw_pg_row_json(res, 0);
            json_object_object_foreach(row, k, v)
                json_object_object_add(q->out, k, json_object_get(v));
            json_object_put(row);
        }
        break;
    case DB_CASE:
        if (PQntuples(res)) {
            json_object *row = cw_pg_row_json(res, 0);
            int sc = PQfnumber(res, "state");
            json_object_object_del(row, "state");
            size_t len = 0;
            unsigned char *bin =
                sc >= 0 && !PQgetisnull(res, 0, sc)
                    ? PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, sc), &len)
                    : NULL;
            Casewatch__V1__CaseState *st =
                bin ? casewatch__v1__case_state__unpack(NULL, len, bin) : NULL;
            json_object_object_add(row, "state", st ? cw_pb_to_json(&st->base) : NULL);
            if (st)
                casewatch__v1__case_state__free_unpacked(st, NULL);
            PQfreemem(bin);
            json_object_object_add(q->out, "case", row);
        }
        break;
    case DB_REPORT:
    case DB_REPORT_AREAS:
        switch (q->nres) {
        case 0:
            cw_aggread_cohort(q->agg, res);
            break;
        case 1:
            cw_aggread_live(q->agg, res);
            break;
        case 2:
            cw_aggread_workers(q->agg, res);
            break;
        case 3:
            cw_aggread_reports(q->agg, res);
            break;
        case 4:
            cw_aggread_areas(q->agg, res);
            break;
        }
        break;
    }
    q->nres++;
}

static void db_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    dbreq_t *q = arg;
    cw_admin_t *a = q->a;
    if (err) {
        if (err == CW_ERR_AGAIN) {
            dbreq_finish(q, 503, error_obj("PostgreSQL connection lost; retry shortly"));
            return;
        }
        /* log the SQLSTATE, not the message: it may quote a value from the request */
        cw_log_warn("admin: query failed (SQLSTATE %s)", sqlstate ? sqlstate : "?");
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string("database error"));
        json_object_object_add(o, "sqlstate", json_object_new_string(sqlstate ? sqlstate : ""));
        /* invalid input (22xxx): the caller's fault */
        dbreq_finish(q, sqlstate && !strncmp(sqlstate, "22", 2) ? 400 : 500, o);
        return;
    }
    json_object *out = q->out ? q->out : json_object_new_object();
    q->out = NULL;
    int code = 200;
    switch (q->kind) {
    case DB_ALERT:
        if (q->rows < 0 || !json_object_object_get(out, "alert")) {
            json_object_put(out);
            out = error_obj("no alert with this key");
            code = 404;
        }
        break;
    case DB_ACTION:
        if (!q->rows) {
            json_object_put(out);
            out = error_obj("no alert with this key");
            code = 404;
        } else {
            json_object_object_add(out, "ok", json_object_new_boolean(true));
            if (q->set_ack)
                cw_pipeline_acknowledged(a->pipeline, q->key, q->ack);
        }
        break;
    case DB_SILENCE_NEW:
        json_object_object_add(out, "ok", json_object_new_boolean(true));
        cw_pipeline_refresh_soon(a->pipeline);
        code = 201;
        break;
    case DB_SILENCE_EXPIRE:
        if (!q->rows) {
            json_object_put(out);
            out = error_obj("no active silence with this id");
            code = 404;
        } else {
            json_object_object_add(out, "ok", json_object_new_boolean(true));
            cw_pipeline_refresh_soon(a->pipeline);
        }
        break;
    case DB_CASE:
        if (!json_object_object_get(out, "case")) {
            json_object_put(out);
            out = error_obj("no case with this id");
            code = 404;
        } else {
            json_object *c = json_object_object_get(out, "case");
            json_object_object_add(c, "source", json_object_new_string("database"));
            json_object_object_add(c, "deadlines", NULL);
            json_object_object_add(
                c, "note",
                json_object_new_string("held by another casewatchd (its partition is owned "
                                       "elsewhere): stored state only; ask that daemon for "
                                       "deadlines"));
            json_object *whole = json_object_get(c);
            json_object_put(out);
            out = whole;
        }
        break;
    case DB_REPORT: {
        cw_board_t rep;
        cw_board_compute(&rep, q->agg, q->area, q->day, cw_pipeline_workdays(a->pipeline));
        json_object_put(out);
        out = cw_board_json(&rep, q->day);
        cw_board_fini(&rep);
        break;
    }
    case DB_REPORT_AREAS:
        json_object_put(out);
        out = cw_board_areas_json(q->agg, q->day, cw_pipeline_workdays(a->pipeline));
        break;
    default:
        break;
    }
    dbreq_finish(q, code, out);
}

static bool db_available(cw_admin_t *a, struct evhttp_request *req)
{
    if (cw_store_ready(a->store))
        return true;
    reply_error(req, 503, "PostgreSQL is not available; retry shortly");
    return false;
}

/* ------------------------------------------------------------------ request helpers */

/* a decoded query parameter, or "" (never NULL) */
static const char *qparam(struct evkeyvalq *q, const char *name)
{
    const char *v = evhttp_find_header(q, name);
    return v ? v : "";
}

static bool one_of(const char *v, const char *const *allowed)
{
    if (!*v)
        return true;
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed))
            return true;
    return false;
}

static bool printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
            return false;
    return true;
}

/* the request body as a JSON object, or NULL after replying 400 */
static json_object *body_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return json_object_new_object();
    char *buf = cw_malloc(len + 1);
    evbuffer_copyout(in, buf, len);
    buf[len] = '\0';
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success &&
                    json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    free(buf);
    if (!o || !complete || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        reply_error(req, 400, "expected a JSON object as the request body");
        return NULL;
    }
    return o;
}

/* a string member: NULL if absent, "" never returned for a required one (replies 400) */
static const char *body_str(struct evhttp_request *req, json_object *o, const char *name,
                            bool required, size_t max, bool *bad)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null)) {
        if (required) {
            char msg[128];
            snprintf(msg, sizeof(msg), "\"%s\" is required", name);
            reply_error(req, 400, msg);
            *bad = true;
        }
        return NULL;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (!s || (required && !*s) || !printable(s, max) ||
        strlen(s) != (size_t)json_object_get_string_len(v)) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "\"%s\" must be a non-empty string of printable characters, "
                 "at most %zu long",
                 name, max);
        reply_error(req, 400, msg);
        *bad = true;
        return NULL;
    }
    return s;
}

static char *dup_or_empty(const char *s)
{
    return cw_strdup(s ? s : "");
}

/* split the raw path into decoded segments: "/alerts/a%7Cb/ack" → alerts, a|b, ack */
static int path_segments(const char *path, char **seg, int max)
{
    int n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < max) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *raw = cw_strndup(p, len);
        size_t out;
        seg[n] = evhttp_uridecode(raw, 0, &out);
        free(raw);
        if (!seg[n] || strlen(seg[n]) != out) { /* a %00 inside */
            free(seg[n]);
            for (int i = 0; i < n; i++)
                free(seg[i]);
            return -1;
        }
        n++;
        p += len;
        while (*p == '/')
            p++;
    }
    if (*p) {
        for (int i = 0; i < n; i++)
            free(seg[i]);
        return -1;
    }
    return n;
}

/* ------------------------------------------------------------------ handlers */

static void h_healthz(cw_admin_t *a, struct evhttp_request *req)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("ok"));
    json_object_object_add(o, "uptime_seconds",
                           json_object_new_int64((cw_now_ms() - a->start_ms) / 1000));
    reply_json(req, 200, o);
}

static void h_readyz(cw_admin_t *a, struct evhttp_request *req)
{
    cw_metrics_part_t parts[MAX_PARTS];
    int owned = cw_pipeline_partitions(a->pipeline, parts, MAX_PARTS);
    int n = owned < MAX_PARTS ? owned : MAX_PARTS;
    int64_t max_lag = 0;
    bool lag_known = true;
    for (int i = 0; i < n; i++) {
        if (parts[i].high < 0) {
            lag_known = false;
            continue;
        }
        int64_t lag = parts[i].high - parts[i].committed;
        if (lag > max_lag)
            max_lag = lag;
    }
    bool db = cw_pipeline_db_ready(a->pipeline);
    bool lag_ok = a->cfg->admin_ready_max_lag == 0 || max_lag <= a->cfg->admin_ready_max_lag;
    const char *unready = cw_pipeline_unready(a->pipeline);
    bool ready = db && owned > 0 && lag_ok && !unready;
    json_object *o = json_object_new_object(), *c = json_object_new_object(), *x;
    json_object_object_add(o, "ready", json_object_new_boolean(ready));
    x = json_object_new_object();
    json_object_object_add(x, "ok", json_object_new_boolean(db));
    json_object_object_add(c, "postgres", x);
    x = json_object_new_object();
    json_object_object_add(x, "ok", json_object_new_boolean(owned > 0));
    json_object_object_add(x, "owned", json_object_new_int(owned));
    json_object_object_add(c, "partitions", x);
    x = json_object_new_object();
    json_object_object_add(x, "ok", json_object_new_boolean(lag_ok));
    json_object_object_add(x, "max", json_object_new_int64(max_lag));
    json_object_object_add(x, "known", json_object_new_boolean(lag_known));
    json_object_object_add(x, "threshold", json_object_new_int(a->cfg->admin_ready_max_lag));
    json_object_object_add(c, "lag", x);
    json_object_object_add(o, "checks", c);
    reply_json(req, ready ? 200 : 503, o);
}

typedef struct alert_count_ctx {
    cw_metrics_alerts_t *rows;
    int n, cap;
    const cw_rules_t *rules;
} alert_count_ctx_t;

static void count_alert(void *arg, const cw_alert_t *x)
{
    alert_count_ctx_t *c = arg;
    const cw_rule_t *r = &c->rules->rule[x->rule];
    const char *sev = cw_severity_name(x->severity), *st = cw_alert_state_name(x->state);
    for (int i = 0; i < c->n; i++) {
        if (c->rows[i].rule == r->name && c->rows[i].severity == sev && c->rows[i].state == st) {
            c->rows[i].count++;
            return;
        }
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->rows = cw_realloc(c->rows, (size_t)c->cap * sizeof(*c->rows));
    }
    c->rows[c->n++] = (cw_metrics_alerts_t){r->name, cw_family_name(r->family), sev, st, 1};
}

static void h_metrics(cw_admin_t *a, struct evhttp_request *req)
{
    const cw_pipeline_stats_t *s = cw_pipeline_stats(a->pipeline);
    static const char *reasons[CW_REJECT__COUNT];
    static const char *kinds[CW_PIPELINE_MAX_KINDS];
    for (int r = 0; r < CW_REJECT__COUNT; r++)
        reasons[r] = cw_reject_name((cw_reject_t)r);
    for (int k = 0; k < CW_PIPELINE_MAX_KINDS; k++) {
        const char *name = cw_event_kind_name(k);
        kinds[k] = strcmp(name, "unknown") ? name : NULL;
    }
    static cw_metrics_part_t parts[MAX_PARTS];
    int nparts = cw_pipeline_partitions(a->pipeline, parts, MAX_PARTS);
    alert_count_ctx_t ac = {.rules = cw_pipeline_rules(a->pipeline)};
    cw_alerts_foreach(cw_pipeline_alerts(a->pipeline), count_alert, &ac);
    int64_t unconfirmed;
    int64_t queue = cw_pipeline_outputs(a->pipeline, &unconfirmed);
    cw_metrics_in_t in = {
        .consumed = s->consumed,
        .applied = s->applied,
        .duplicates = s->duplicates,
        .stale_skipped = s->stale_skipped,
        .dead_letters = s->dead_letters,
        .dead_by_reason = s->dead_by_reason,
        .reason_names = reasons,
        .nreasons = CW_REJECT__COUNT,
        .applied_by_kind = s->applied_by_kind,
        .kind_names = kinds,
        .nkinds = CW_PIPELINE_MAX_KINDS,
        .batches = s->batches,
        .commit_failures = s->commit_failures,
        .fenced = s->fenced,
        .resyncs = s->resyncs,
        .offset_resets = s->offset_resets,
        .anomalies = s->anomalies,
        .batch_events = &s->batch_events,
        .commit_seconds = &s->commit_seconds,
        .parts = parts,
        .nparts = nparts < MAX_PARTS ? nparts : MAX_PARTS,
        .alerts = ac.rows,
        .nalerts = ac.n,
        .alert_transitions = s->alert_transitions,
        .alerts_published = s->alerts_published,
        .publisher_queue = queue,
        .outputs_unconfirmed = unconfirmed,
        .dl_published = s->dl_published,
        .snapshots = s->snapshots,
        .reloads_ok = a->reloads ? a->reloads->ok : 0,
        .reloads_failed = a->reloads ? a->reloads->failed : 0,
        .last_reload_ms = a->reloads ? a->reloads->last_ok_ms : 0,
        .db_up = cw_pipeline_db_ready(a->pipeline),
        .cases_in_memory = (int64_t)s->cases_in_memory,
        .start_ms = a->start_ms,
        .clock_ms = cw_pipeline_now(a->pipeline),
        .sse_clients = a->nclients,
        .version = a->version,
    };
    size_t len;
    char *text = cw_metrics_render(&in, &len);
    free(ac.rows);
    reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static const char *const STATES[] = {"pending", "firing", "resolved", NULL};
static const char *const FAMILIES[] = {"safeguarding", "delay", "prioritisation", NULL};
static const char *const SEVERITIES[] = {"info", "warning", "critical", NULL};

static void h_alerts(cw_admin_t *a, struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *state = qparam(q, "state"), *family = qparam(q, "family"),
               *area = qparam(q, "area"), *sev = qparam(q, "severity"),
               *case_id = qparam(q, "case_id"), *limit = qparam(q, "limit");
    if (!one_of(state, STATES) || !one_of(family, FAMILIES) || !one_of(sev, SEVERITIES)) {
        reply_error(req, 400,
                    "state: pending|firing|resolved; family: safeguarding|delay|"
                    "prioritisation; severity: info|warning|critical");
        return;
    }
    long lim = 500;
    if (*limit) {
        char *end;
        lim = strtol(limit, &end, 10);
        if (*end || lim < 1 || lim > 5000) {
            reply_error(req, 400, "limit: an integer from 1 to 5000");
            return;
        }
    }
    if (!printable(area, MAX_ID_LEN) || !printable(case_id, MAX_ID_LEN)) {
        reply_error(req, 400, "area and case_id: printable text");
        return;
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_ALERTS);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, CW_SQL_ALERTS_LIST, 6,
                     (char *[]){cw_strdup(state), cw_strdup(family), cw_strdup(area),
                                cw_strdup(sev), cw_strdup(case_id), cw_pgparam_int(lim)},
                     result_rows);
    cw_store_submit(a->store, job);
}

static void h_alert(cw_admin_t *a, struct evhttp_request *req, const char *key)
{
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_ALERT);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, CW_SQL_ALERT_GET, 1, (char *[]){cw_strdup(key)}, result_rows);
    cw_store_job_add(job, CW_SQL_ALERT_HISTORY, 1, (char *[]){cw_strdup(key)}, result_rows);
    cw_store_job_add(job, CW_SQL_ALERT_ACTIONS, 1, (char *[]){cw_strdup(key)}, result_rows);
    cw_store_submit(a->store, job);
}

static void h_alert_action(cw_admin_t *a, struct evhttp_request *req, const char *key,
                           const char *action)
{
    const char *sql;
    bool set_ack = false, ack = false;
    const char *detail_field = "comment";
    if (!strcmp(action, "ack"))
        sql = CW_SQL_ALERT_ACK, set_ack = true, ack = true;
    else if (!strcmp(action, "unack"))
        sql = CW_SQL_ALERT_UNACK, set_ack = true;
    else if (!strcmp(action, "assign"))
        sql = CW_SQL_ALERT_ASSIGN, detail_field = "to";
    else if (!strcmp(action, "comment"))
        sql = CW_SQL_ALERT_COMMENT, detail_field = "text";
    else {
        reply_error(req, 404, "actions: ack, unack, assign, comment");
        return;
    }
    json_object *b = body_json(req);
    if (!b)
        return;
    bool bad = false;
    const char *by = body_str(req, b, "by", true, 200, &bad);
    const char *detail = bad ? NULL
                             : body_str(req, b, detail_field, strcmp(detail_field, "comment") != 0,
                                        MAX_TEXT_LEN, &bad);
    if (bad || !db_available(a, req)) {
        json_object_put(b);
        return;
    }
    dbreq_t *d = dbreq_new(a, req, DB_ACTION);
    d->key = cw_strdup(key);
    d->set_ack = set_ack;
    d->ack = ack;
    d->out = json_object_new_object();
    json_object_object_add(d->out, "action", json_object_new_string(action));
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, sql, 3, (char *[]){cw_strdup(key), cw_strdup(by), dup_or_empty(detail)},
                     result_rows);
    cw_store_submit(a->store, job);
    json_object_put(b);
}

static void h_silences(cw_admin_t *a, struct evhttp_request *req)
{
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_SILENCES);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add0(job, CW_SQL_SILENCES_ACTIVE, result_rows);
    cw_store_submit(a->store, job);
}

static void h_silence_new(cw_admin_t *a, struct evhttp_request *req)
{
    json_object *b = body_json(req);
    if (!b)
        return;
    bool bad = false;
    const char *by = body_str(req, b, "by", true, 200, &bad);
    const char *rule = bad ? NULL : body_str(req, b, "rule", false, 100, &bad);
    const char *area = bad ? NULL : body_str(req, b, "court_area", false, MAX_ID_LEN, &bad);
    const char *case_id = bad ? NULL : body_str(req, b, "case_id", false, MAX_ID_LEN, &bad);
    const char *sev = bad ? NULL : body_str(req, b, "min_severity", false, 16, &bad);
    const char *comment = bad ? NULL : body_str(req, b, "comment", false, MAX_TEXT_LEN, &bad);
    if (bad) {
        json_object_put(b);
        return;
    }
    json_object *m;
    int64_t minutes = 0;
    if (!json_object_object_get_ex(b, "minutes", &m) || !json_object_is_type(m, json_type_int) ||
        (minutes = json_object_get_int64(m)) < 1 || minutes > 60 * 24 * 90) {
        json_object_put(b);
        reply_error(req, 400, "\"minutes\": an integer from 1 to 129600 (90 days)");
        return;
    }
    if (rule && *rule && !cw_rules_find(cw_pipeline_rules(a->pipeline), rule, NULL)) {
        json_object_put(b);
        reply_error(req, 400, "\"rule\": not a rule this daemon knows");
        return;
    }
    if (sev && !one_of(sev, SEVERITIES)) {
        json_object_put(b);
        reply_error(req, 400, "\"min_severity\": info, warning or critical");
        return;
    }
    if (!db_available(a, req)) {
        json_object_put(b);
        return;
    }
    dbreq_t *d = dbreq_new(a, req, DB_SILENCE_NEW);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, CW_SQL_SILENCE_CREATE, 7,
                     (char *[]){dup_or_empty(rule), dup_or_empty(area), dup_or_empty(case_id),
                                dup_or_empty(sev), cw_pgparam_int(minutes), cw_strdup(by),
                                dup_or_empty(comment)},
                     result_rows);
    cw_store_submit(a->store, job);
    json_object_put(b);
}

static void h_silence_expire(cw_admin_t *a, struct evhttp_request *req, const char *id,
                             const char *by)
{
    char *end;
    long long v = strtoll(id, &end, 10);
    if (!*id || *end || v < 1) {
        reply_error(req, 400, "a silence id is a positive integer");
        return;
    }
    if (!by || !*by || !printable(by, 200)) {
        reply_error(req, 400, "\"by\" is required (recorded with the silence)");
        return;
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_SILENCE_EXPIRE);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, CW_SQL_SILENCE_EXPIRE, 2, (char *[]){cw_pgparam_int(v), cw_strdup(by)},
                     result_rows);
    cw_store_submit(a->store, job);
}

static const char SQL_CASE[] =
    "SELECT case_id, kpartition AS partition, status, case_type, court_area, service_area, team,"
    " worker_id, allocation, children, start_at, closed_at, event_count, first_event_at,"
    " last_event_at, state FROM cases WHERE case_id = $1";

static void h_case(cw_admin_t *a, struct evhttp_request *req, const char *id)
{
    json_object *o = cw_pipeline_case_json(a->pipeline, id);
    if (o) {
        reply_json(req, 200, o);
        return;
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_CASE);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, SQL_CASE, 1, (char *[]){cw_strdup(id)}, result_rows);
    cw_store_submit(a->store, job);
}

static void h_report(cw_admin_t *a, struct evhttp_request *req, struct evkeyvalq *q, bool areas)
{
    const char *area = qparam(q, "area"), *as_of = qparam(q, "as_of");
    cw_day_t day = cw_day_from_ms(cw_pipeline_now(a->pipeline));
    if (*as_of && cw_day_parse(as_of, &day) != CW_OK) {
        reply_error(req, 400, "as_of: expected YYYY-MM-DD");
        return;
    }
    if (!printable(area, MAX_ID_LEN)) {
        reply_error(req, 400, "area: printable text");
        return;
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, areas ? DB_REPORT_AREAS : DB_REPORT);
    d->agg = cw_aggread_new();
    d->area = *area ? cw_strdup(area) : NULL;
    d->day = day;
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    /* one snapshot for every table, so the figures agree with each other */
    cw_store_job_add0(job, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL);
    cw_store_job_add0(job, CW_AGGREAD_SQL_COHORT, result_rows);
    cw_store_job_add0(job, CW_AGGREAD_SQL_LIVE, result_rows);
    cw_store_job_add0(job, CW_AGGREAD_SQL_WORKERS, result_rows);
    cw_store_job_add0(job, CW_AGGREAD_SQL_REPORTS, result_rows);
    cw_store_job_add0(job, CW_AGGREAD_SQL_AREAS, result_rows);
    cw_store_job_add0(job, "COMMIT", NULL);
    cw_store_submit(a->store, job);
}

static void h_reload(cw_admin_t *a, struct evhttp_request *req)
{
    char err[8192];
    if (!a->reload) {
        reply_error(req, 501, "reload is not available");
        return;
    }
    cw_err_t rc = a->reload(a->reload_arg, err, sizeof(err));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(rc == CW_OK));
    if (rc != CW_OK)
        json_object_object_add(o, "error", json_object_new_string(err));
    else if (err[0])
        json_object_object_add(o, "not_applied", json_object_new_string(err));
    reply_json(req, rc == CW_OK ? 200 : 422, o);
}

/* ------------------------------------------------------------------ server-sent events */

static void sse_remove(sse_client_t *c)
{
    cw_admin_t *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nclients--;
    free(c);
}

/* A stream ended: the client hung up (libevent detached the request: ending the reply frees
 * it), or the server is closing or dropped the client (the connection frees it). */
static void on_sse_close(struct evhttp_connection *conn, void *arg)
{
    sse_client_t *c = arg;
    struct evhttp_request *req = c->req;
    sse_remove(c);
    if (!evhttp_request_get_connection(req))
        evhttp_send_reply_end(req);
}

/* send to one client; a client that stopped reading is disconnected */
static void sse_send(sse_client_t *c, const char *text, size_t len)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > SSE_MAX_BUFFER) {
        cw_log_warn("admin: an /events client is not reading; disconnecting it");
        struct evhttp_connection *conn = c->conn;
        evhttp_connection_free(conn); /* calls on_sse_close, which frees c */
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (unready) /* not co-partitioned, another rule set than the group's, fatal */
        json_object_object_add(o, "reason", json_object_new_string(unready));
    evbuffer_add(b, text, len);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

static void sse_broadcast(cw_admin_t *a, const char *text, size_t len)
{
    for (sse_client_t *c = a->clients, *next; c; c = next) {
        next = c->next;
        sse_send(c, text, len);
    }
}

static void on_alert(void *arg, const char *json)
{
    cw_admin_t *a = arg;
    if (!a->clients)
        return;
    size_t n = strlen(json) + 32;
    char *msg = cw_malloc(n);
    int len = snprintf(msg, n, "event: alert\ndata: %s\n\n", json);
    sse_broadcast(a, msg, (size_t)len);
    free(msg);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    static const char ka[] = ": keepalive\n\n";
    sse_broadcast(arg, ka, sizeof(ka) - 1);
}

static void h_events(cw_admin_t *a, struct evhttp_request *req)
{
    if (a->nclients >= a->cfg->admin_sse_max_clients) {
        reply_error(req, 503, "too many /events streams open ([admin] sse_max_clients)");
        return;
    }
    sse_client_t *c = cw_calloc(1, sizeof(*c));
    c->a = a;
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    c->next = a->clients;
    if (a->clients)
        a->clients->prev = c;
    a->clients = c;
    a->nclients++;
    common_headers(req, "text/event-stream");
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(c->conn, on_sse_close, c);
    char clock[48], hello[160];
    cw_iso_time(cw_pipeline_now(a->pipeline), clock, sizeof(clock));
    int len = snprintf(hello, sizeof(hello),
                       "retry: 3000\nevent: hello\ndata: {\"clock\":\"%s\"}\n\n", clock);
    sse_send(c, hello, (size_t)len);
}

/* ------------------------------------------------------------------ routing */

static bool authorised(cw_admin_t *a, struct evhttp_request *req)
{
    const char *token = a->cfg->admin_token;
    if (!token)
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    const char *t = h + 7;
    size_t n = strlen(t), m = strlen(token);
    unsigned char diff = n != m;
    for (size_t i = 0; i < m; i++) /* constant time in the token's length */
        diff |= (unsigned char)(token[i] ^ t[n ? i % n : 0]);
    return diff == 0;
}

        .partition_mismatch = s->partition_mismatch,
        .rules_mismatch = s->rules_mismatch,
static void on_request(struct evhttp_request *req, void *arg)
{
    cw_admin_t *a = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    char *seg[8];
    int n = path_segments(path, seg, 8);
    if (n < 0) {
        reply_error(req, 400, "malformed path");
        return;
    }
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (query && evhttp_parse_query_str(query, &q) < 0) {
        reply_error(req, 400, "malformed query string");
        goto out;
    }
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD, post = cmd == EVHTTP_REQ_POST;
    const char *s0 = n > 0 ? seg[0] : "";
    if (n == 0 && get) {
        reply_text(req, 200, "text/html; charset=utf-8", cw_dashboard_html, cw_dashboard_html_len);
        goto out;
    }
    if (n == 1 && get && !strcmp(s0, "healthz")) {
        h_healthz(a, req);
        goto out;
    }
    if (!authorised(a, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"casewatch\"");
        reply_error(req, 401, "a bearer token is required");
        goto out;
    }
    if (n == 1 && get && !strcmp(s0, "readyz"))
        h_readyz(a, req);
    else if (n == 1 && get && !strcmp(s0, "metrics"))
        h_metrics(a, req);
    else if (n == 1 && get && !strcmp(s0, "events"))
        h_events(a, req);
    else if (n == 1 && get && !strcmp(s0, "alerts"))
        h_alerts(a, req, &q);
    else if (n == 2 && get && !strcmp(s0, "alerts"))
        h_alert(a, req, seg[1]);
    else if (n == 3 && post && !strcmp(s0, "alerts"))
        h_alert_action(a, req, seg[1], seg[2]);
    else if (n == 1 && get && !strcmp(s0, "silences"))
        h_silences(a, req);
    else if (n == 1 && post && !strcmp(s0, "silences"))
        h_silence_new(a, req);
    else if (n == 2 && cmd == EVHTTP_REQ_DELETE && !strcmp(s0, "silences"))
        h_silence_expire(a, req, seg[1], qparam(&q, "by"));
    else if (n == 3 && post && !strcmp(s0, "silences") && !strcmp(seg[2], "expire")) {
        json_object *b = body_json(req);
        if (b) {
            bool bad = false;
            const char *by = body_str(req, b, "by", true, 200, &bad);
            if (!bad)
                h_silence_expire(a, req, seg[1], by);
            json_object_put(b);
        }
    } else if (n == 2 && get && !strcmp(s0, "cases"))
        h_case(a, req, seg[1]);
    else if (n == 1 && get && !strcmp(s0, "report"))
        h_report(a, req, &q, false);
    else if (n == 2 && get && !strcmp(s0, "report") && !strcmp(seg[1], "areas"))
        h_report(a, req, &q, true);
    else if (n == 1 && post && !strcmp(s0, "reload"))
        h_reload(a, req);
    else
        reply_error(req, 404, "no such endpoint (see README \"Admin API\")");
out:
    evhttp_clear_headers(&q);
    for (int i = 0; i < n; i++)
        free(seg[i]);
}

/* ------------------------------------------------------------------ life cycle */

static void on_store_state(void *arg, cw_err_t state, const char *msg)
{
    cw_admin_t *a = arg;
    if (state == CW_OK) {
        /* timestamps in answers are UTC (cw_pg_row_json) */
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        cw_store_job_add0(job, "SET TIME ZONE 'UTC'", NULL);
        cw_store_submit_next(a->store, job);
    } else if (!a->closing) {
        cw_log_warn("admin: PostgreSQL connection lost (%s); reconnecting", msg ? msg : "");
    }
}

cw_admin_t *cw_admin_new(struct event_base *base, const cw_admin_opts_t *opts, char *errstr,
                         size_t errsz)
{
    const cw_config_t *cfg = opts->cfg;
    char host[256];
    int port;
    if (errsz)
        errstr[0] = '\0';
    if (!strcmp(cfg->admin_listen, "off"))
        return NULL;
    if (cw_listen_parse(cfg->admin_listen, host, sizeof(host), &port) != CW_OK) {
        snprintf(errstr, errsz, "[admin] listen: cannot parse %s", cfg->admin_listen);
        return NULL;
    }
    cw_admin_t *a = cw_calloc(1, sizeof(*a));
    a->base = base;
    a->cfg = cfg;
    a->pipeline = opts->pipeline;
    a->reload = opts->reload;
    a->reload_arg = opts->arg;
    a->reloads = opts->reloads;
    a->version = opts->version;
    a->start_ms = cw_now_ms();
    a->http = evhttp_new(base);
    evhttp_set_max_body_size(a->http, MAX_BODY);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_gencb(a->http, on_request, a);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(a->http, host, (uint16_t)port);
    if (!bs) {
        snprintf(errstr, errsz,
                 "[admin] listen: cannot listen on %s (in use, or not an "
                 "address of this machine)",
                 cfg->admin_listen);
        evhttp_free(a->http);
        free(a);
        return NULL;
    }
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof(ss);
    if (!getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl))
        a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    cw_store_opts_t so = {.conninfo = cfg->pg_conninfo,
                          .backoff_initial_ms = cfg->backoff_initial_ms,
                          .backoff_max_ms = cfg->backoff_max_ms,
                          .on_state = on_store_state,
                          .arg = a};
    a->store = cw_store_new(base, &so);
    a->ev_keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, a);
    struct timeval ka = {SSE_KEEPALIVE_S, 0};
    event_add(a->ev_keepalive, &ka);
    cw_pipeline_set_alert_hook(a->pipeline, on_alert, a);
    cw_log_info("admin: listening on http://%s%s%s:%d/%s", strchr(host, ':') ? "[" : "", host,
                strchr(host, ':') ? "]" : "", a->port,
                cfg->admin_token ? " (bearer token required)" : "");
    return a;
}

void cw_admin_reconfigure(cw_admin_t *a, const cw_config_t *cfg)
{
    a->cfg = cfg;
}

int cw_admin_port(const cw_admin_t *a)
{
    return a->port;
}

void cw_admin_destroy(cw_admin_t *a)
{
    if (!a)
        return;
    a->closing = true;
    cw_pipeline_set_alert_hook(a->pipeline, NULL, NULL);
    /* closes every connection: streams and waiting requests hear it through their close
     * callbacks (streams are freed, requests forget their connection) */
    evhttp_free(a->http);
    cw_store_destroy(a->store); /* fails queued jobs: their requests are gone */
    event_free(a->ev_keepalive);
    free(a);
}
