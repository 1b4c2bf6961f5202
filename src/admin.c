/*
 * admin.c — the admin HTTP API, the live alert stream and the dashboard (see admin.h).
 *
 * Everything runs on the daemon's loop. Handlers that need PostgreSQL queue a job on the
 * admin's own store connection and answer from its callbacks; a client that disconnects
 * meanwhile is noticed through the connection's close callback (the request is then gone and
 * the answer is dropped). Server-sent event streams are chunked replies kept in a list; a
 * client that does not read (more than SSE_MAX_BUFFER unsent) is disconnected rather than
 * buffered for ever.
 *
 * Every connection has a conn_t from accept to close: it carries the connection cap, the
 * deadline of the request being received and the hook of whatever waits on the connection
 * (a database answer, a stream). evhttp owns the connection, so the record learns of it in
 * two steps: evhttp asks us for the connection's bufferevent at accept (on_accept: counted,
 * referenced), and once evhttp has built the connection around it (on_adopt, in the same loop
 * iteration) the bufferevent's callback argument is the connection, which gets our close
 * callback. Closed records are freed at the end of the loop iteration, never in a callback of
 * their own.
 */
#include "casewatch/admin.h"
#include "casewatch/retention.h"
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
#include <event2/listener.h>
#include <sys/queue.h>
#include <json-c/json.h>
#include <errno.h>
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
#define LOG_EVERY_MS    60000 /* abuse is logged at most once a minute per kind */
#define ACCEPT_PAUSE_MS 100   /* after an accept() failure; doubles up to ACCEPT_PAUSE_MAX */
#define ACCEPT_PAUSE_MAX 5000
#define LISTEN_BACKLOG  1024 /* evhttp listens with 128 */

typedef struct sse_client {
    struct cw_admin *a;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct sse_client *prev, *next;
} sse_client_t;

typedef enum conn_phase {
    CONN_READING,   /* receiving a request: its deadline runs; closed first at the cap */
    CONN_ANSWERING, /* its request is being answered */
    CONN_STREAMING, /* an /events stream */
} conn_phase_t;

/* One admin connection (see the file comment). */
typedef struct conn {
    struct cw_admin *a;
    struct bufferevent *bev;         /* our reference, until adopted */
    struct evhttp_connection *evcon; /* NULL until adopted, and once closed */
    struct event *ev_deadline;       /* the request being received must be whole by then */
    conn_phase_t phase;
    bool closed;
    void (*gone)(void *arg); /* the client went away: tells whatever waits on it */
    void *gone_arg;
    struct conn *prev, *next;
} conn_t;

/* a line that abuse could repeat: logged at once, then at most every LOG_EVERY_MS */
typedef struct ratelog {
    int64_t last_ms;
    uint64_t unlogged;
} ratelog_t;

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

    /* connections: open ones oldest first (those not yet adopted are the newest, at the
     * tail); closed ones wait in dead until ev_reap frees them */
    struct evconnlistener *lev; /* evhttp's, borrowed */
    conn_t *conns, *conns_tail, *dead;
    int nconns, nreading, nadopting, max_conns;
    conn_t *current; /* the connection of the request on_request is handling */
    struct event *ev_adopt, *ev_reap, *ev_accept_retry;
    bool accepting, accept_paused;
    int accept_pause_ms;
    ratelog_t log_evicted, log_timed_out, log_accept, log_full;
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

/* an error after which the connection is closed, whatever the client asked */
static void reply_error_close(struct evhttp_request *req, int code, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    reply_error(req, code, msg);
}

/* ------------------------------------------------------------------ connections */

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* true when the line is due: the first time, then once every LOG_EVERY_MS; r->unlogged then
 * holds how many happened since the last line (this one included) */
static bool ratelog_due(ratelog_t *r)
{
    int64_t now = cw_mono_ms();
    r->unlogged++;
    if (r->last_ms && now - r->last_ms < LOG_EVERY_MS)
        return false;
    r->last_ms = now;
    return true;
}

static unsigned long long ratelog_take(ratelog_t *r)
{
    unsigned long long n = r->unlogged;
    r->unlogged = 0;
    return n;
}

/* Accept new connections only below the cap, or at it while one can be closed to make room
 * (one still sending its request); never during an accept() back-off. Disabling the listener
 * leaves new connections in the kernel's backlog: nothing spins. */
static void admission_update(cw_admin_t *a)
{
    if (a->closing)
        return;
    bool want = !a->accept_paused && (a->nconns < a->max_conns || a->nreading > 0);
    if (want == a->accepting)
        return;
    a->accepting = want;
    if (want) {
        evconnlistener_enable(a->lev);
    } else {
        evconnlistener_disable(a->lev);
        /* (with connections of this loop iteration still to adopt, the pause is brief) */
        if (!a->accept_paused && !a->nadopting && ratelog_due(&a->log_full))
            cw_log_warn("admin: all %d connections ([admin] max_connections) are being "
                        "answered or stream /events: not accepting until one closes (%llu "
                        "time(s); this line repeats at most once a minute)",
                        a->max_conns, ratelog_take(&a->log_full));
    }
}

static void conn_set_phase(conn_t *c, conn_phase_t phase)
{
    cw_admin_t *a = c->a;
    if (c->phase == phase || c->closed)
        return;
    if (c->evcon && c->phase == CONN_READING)
        a->nreading--;
    c->phase = phase;
    if (phase == CONN_READING) {
        a->nreading++;
        struct timeval tv = ms_tv(a->cfg->admin_request_timeout_ms);
        evtimer_add(c->ev_deadline, &tv);
    } else {
        evtimer_del(c->ev_deadline);
    }
    admission_update(a);
}

/* whatever waits on the connection (NULL = nothing) hears gone(arg) if the client leaves */
static void conn_watch(conn_t *c, void (*gone)(void *), void *arg)
{
    if (!c)
        return;
    c->gone = gone;
    c->gone_arg = arg;
}

static void conn_unlink(conn_t *c)
{
    cw_admin_t *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        a->conns_tail = c->prev;
    c->prev = c->next = NULL;
    a->nconns--;
}

/* The connection is gone (or, not yet adopted, was never built): tell its waiter, drop it
 * from the counts; the record is freed by on_reap. */
static void conn_closed(conn_t *c)
{
    cw_admin_t *a = c->a;
    if (c->closed)
        return;
    if (c->gone) {
        void (*gone)(void *) = c->gone;
        c->gone = NULL;
        gone(c->gone_arg);
    }
    if (c->evcon && c->phase == CONN_READING)
        a->nreading--;
    c->closed = true;
    c->evcon = NULL;
    evtimer_del(c->ev_deadline);
    conn_unlink(c);
    c->next = a->dead;
    a->dead = c;
    if (!a->closing)
        event_active(a->ev_reap, EV_TIMEOUT, 1);
    admission_update(a);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    conn_closed(arg);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    cw_admin_t *a = arg;
    while (a->dead) {
        conn_t *c = a->dead;
        a->dead = c->next;
        event_free(c->ev_deadline);
        free(c);
    }
}

/* the request did not arrive whole in time: a slow or idle client */
static void on_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    cw_admin_t *a = c->a;
    if (ratelog_due(&a->log_timed_out))
        cw_log_warn("admin: closed %llu connection(s) that sent no whole request within %d ms "
                    "([admin] request_timeout_ms; this line repeats at most once a minute)",
                    ratelog_take(&a->log_timed_out), a->cfg->admin_request_timeout_ms);
    evhttp_connection_free(c->evcon); /* on_conn_close: the record goes to a->dead */
}

/* at the cap: close the oldest connection still sending its request */
static bool conn_evict(cw_admin_t *a)
{
    conn_t *c = a->conns;
    while (c && !(c->evcon && c->phase == CONN_READING))
        c = c->next;
    if (!c)
        return false;
    if (ratelog_due(&a->log_evicted))
        cw_log_warn("admin: at the connection limit ([admin] max_connections = %d): closed "
                    "%llu connection(s) still sending a request, oldest first, to make room "
                    "(this line repeats at most once a minute)",
                    a->max_conns, ratelog_take(&a->log_evicted));
    evhttp_connection_free(c->evcon);
    return true;
}

/* evhttp accepted a connection and asks for its bufferevent (evhttp_set_bevcb) */
static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
    cw_admin_t *a = arg;
    a->accept_pause_ms = 0;
    if (a->nconns >= a->max_conns)
        conn_evict(a);
    conn_t *c = cw_calloc(1, sizeof(*c));
    c->a = a;
    c->bev = bufferevent_socket_new(base, -1, 0); /* what evhttp makes itself */
    c->ev_deadline = evtimer_new(base, on_conn_deadline, c);
    if (!c->bev || !c->ev_deadline)
        abort(); /* out of memory, as cw_malloc */
    bufferevent_incref(c->bev); /* kept until adopted: evhttp may free it before */
    c->phase = CONN_READING;
    c->prev = a->conns_tail;
    if (a->conns_tail)
        a->conns_tail->next = c;
    else
        a->conns = c;
    a->conns_tail = c;
    a->nconns++;
    a->nadopting++;
    event_active(a->ev_adopt, EV_TIMEOUT, 1);
    admission_update(a);
    return c->bev;
}

/* Connections accepted in this loop iteration now exist: give each our close callback, the
 * write timeout and the request deadline. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    cw_admin_t *a = arg;
    conn_t *c = a->conns_tail;
    while (c && !c->evcon) {
        conn_t *prev = c->prev;
        struct bufferevent *bev = c->bev;
        void *evcon = NULL;
        /* bufferevent_free() clears the callbacks: NULL = evhttp already gave it up */
        bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
        c->bev = NULL;
        a->nadopting--;
        if (evcon) {
            c->evcon = evcon;
            evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
            /* reading is bounded by the deadline; a reply must make progress */
            struct timeval w = ms_tv(a->cfg->admin_request_timeout_ms);
            bufferevent_set_timeouts(bev, NULL, &w);
            a->nreading++;
            evtimer_add(c->ev_deadline, &w);
        }
        bufferevent_decref(bev);
        if (!evcon)
            conn_closed(c);
        c = prev;
    }
    admission_update(a);
}

static conn_t *conn_find(cw_admin_t *a, struct evhttp_connection *evcon)
{
    for (conn_t *c = a->conns; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg);

typedef struct admin_lookup {
    const struct evconnlistener *lev;
    cw_admin_t *found;
} admin_lookup_t;

/* the admin whose keep-alive timer this is, if it owns the listener */
static int find_admin(const struct event_base *base, const struct event *ev, void *arg)
{
    admin_lookup_t *l = arg;
    if (event_get_callback(ev) != on_keepalive)
        return 0;
    cw_admin_t *a = event_get_callback_arg(ev);
    if (a->lev != l->lev)
        return 0;
    l->found = a;
    return 1;
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    cw_admin_t *a = arg;
    a->accept_paused = false;
    admission_update(a);
}

/* accept() failed for a reason other than "try again" (out of descriptors, most often):
 * retrying at once would spin on the readable listener, so pause it, with a back-off.
 * libevent hands this callback evhttp's pointer (evhttp_bind_listener replaced the
 * listener's argument), so the admin is found among the loop's events by its keep-alive
 * timer. */
static void on_accept_error(struct evconnlistener *lev, void *http)
{
    int err = errno;
    admin_lookup_t l = {.lev = lev};
    event_base_foreach_event(evconnlistener_get_base(lev), find_admin, &l);
    cw_admin_t *a = l.found;
    evconnlistener_disable(lev);
    if (!a)
        return; /* not ours: cannot happen */
    a->accepting = false;
    a->accept_paused = true;
    a->accept_pause_ms = a->accept_pause_ms ? a->accept_pause_ms * 2 : ACCEPT_PAUSE_MS;
    if (a->accept_pause_ms > ACCEPT_PAUSE_MAX)
        a->accept_pause_ms = ACCEPT_PAUSE_MAX;
    if (ratelog_due(&a->log_accept))
        cw_log_warn("admin: accept() failed: %s (%d admin connection(s) open); pausing new "
                    "connections for %d ms (%llu failure(s); this line repeats at most once a "
                    "minute)",
                    strerror(err), a->nconns, a->accept_pause_ms, ratelog_take(&a->log_accept));
    struct timeval tv = ms_tv(a->accept_pause_ms);
    evtimer_add(a->ev_accept_retry, &tv);
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
    DB_BEHIND,
    DB_GAPS,
    DB_GAPS_ACK,
} dbkind_t;

typedef struct dbreq {
    cw_admin_t *a;
    struct evhttp_request *req; /* NULL once the client went away */
    conn_t *conn;               /* its connection (valid while req is answerable) */
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
static void on_request_gone(void *arg)
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
        conn_watch(q->conn, NULL, NULL);
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
    q->conn = a->current;
    conn_watch(q->conn, on_request_gone, q);
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
        if (q->nres == 0) {
            json_object_object_add(q->out, "count", json_object_new_int(PQntuples(res)));
            json_object_object_add(q->out, "alerts", cw_pg_rows_json(res));
        } else if (q->nres == 1 && PQntuples(res) == 1) {
            /* the whole set the page comes from */
            static const char *const sev[] = {"critical", "warning", "info"};
            static const char *const fam[] = {"safeguarding", "delay", "prioritisation"};
            json_object *bs = json_object_new_object(), *bf = json_object_new_object();
            json_object_object_add(q->out, "total",
                                   json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
            for (int i = 0; i < 3; i++) {
                json_object_object_add(bs, sev[i],
                                       json_object_new_int64(atoll(PQgetvalue(res, 0, 1 + i))));
                json_object_object_add(bf, fam[i],
                                       json_object_new_int64(atoll(PQgetvalue(res, 0, 4 + i))));
            }
            json_object_object_add(q->out, "by_severity", bs);
            json_object_object_add(q->out, "by_family", bf);
        } else if (q->nres == 2) {
            json_object_object_add(q->out, "by_area", cw_pg_rows_json(res));
        }
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
    case DB_BEHIND:
        json_object_object_add(q->out, "rules", cw_pg_rows_json(res));
        break;
    case DB_GAPS:
        json_object_object_add(q->out, "offset_gaps", cw_pg_rows_json(res));
        break;
    case DB_GAPS_ACK:
        if (PQntuples(res) == 1) {
            q->rows = atoi(PQgetvalue(res, 0, 0));
            json_object_object_add(q->out, "acknowledged", json_object_new_int(q->rows));
            int64_t open = atoll(PQgetvalue(res, 0, 1));
            json_object_object_add(q->out, "still_open", json_object_new_int64(open));
            cw_pipeline_gaps_acknowledged(q->a->pipeline, open);
        }
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

/* an area some table names (the figures of any other are zeros that mean nothing) */
static bool area_known(const cw_aggread_t *agg, const char *area)
{
    size_t n;
    const char *const *names = cw_aggread_area_names(agg, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], area))
            return true;
    return false;
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
        if (q->area && !area_known(q->agg, q->area)) {
            json_object_put(out);
            out = error_obj("no court area with this name");
            code = 404;
            break;
        }
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

/* Text a request may carry into SQL or a lookup: at most max bytes of well-formed UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF) without control characters (C0,
 * DEL, C1). PostgreSQL would refuse invalid UTF-8 only after a round trip. */
static bool valid_text(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (p[n]) {
        unsigned char b = p[n];
        uint32_t cp;
        int len;
        if (b < 0x80)
            cp = b, len = 1;
        else if (b >= 0xc2 && b <= 0xdf)
            cp = b & 0x1f, len = 2;
        else if (b >= 0xe0 && b <= 0xef)
            cp = b & 0x0f, len = 3;
        else if (b >= 0xf0 && b <= 0xf4)
            cp = b & 0x07, len = 4;
        else
            return false;
        for (int i = 1; i < len; i++) {
            if ((p[n + i] & 0xc0) != 0x80) /* also stops at the NUL */
                return false;
            cp = cp << 6 | (p[n + i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return false;
        n += (size_t)len;
        if (n > max)
            return false;
    }
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
    if (!s || (required && !*s) || !valid_text(s, max) ||
        strlen(s) != (size_t)json_object_get_string_len(v)) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "\"%s\" must be a non-empty string of printable characters (UTF-8), "
                 "at most %zu bytes long",
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

/* What /readyz answers and casewatch_ready reports. */
typedef struct readiness {
    int owned;
    int64_t max_lag;
    bool lag_known, db, lag_ok, ready;
    const char *unready; /* a reason beyond the checks, or NULL */
} readiness_t;

static readiness_t readiness(cw_admin_t *a)
{
    static cw_metrics_part_t parts[MAX_PARTS];
    readiness_t r = {.lag_known = true};
    r.owned = cw_pipeline_partitions(a->pipeline, parts, MAX_PARTS);
    int n = r.owned < MAX_PARTS ? r.owned : MAX_PARTS;
    bool applied = false;
    for (int i = 0; i < n; i++) {
        applied |= parts[i].committed > 0;
        if (parts[i].high < 0) {
            r.lag_known = false;
            continue;
        }
        int64_t lag = parts[i].high - parts[i].committed;
        if (lag > r.max_lag)
            r.max_lag = lag;
    }
    r.db = cw_pipeline_db_ready(a->pipeline);
    r.lag_ok = a->cfg->admin_ready_max_lag == 0 || r.max_lag <= a->cfg->admin_ready_max_lag;
    r.unready = cw_pipeline_unready(a->pipeline);
    /* [M] never ready with figures as of the epoch: on the event clock, partitions that have
     * applied something have a time (restored from PostgreSQL when they load) */
    if (!r.unready && a->cfg->event_clock && applied && cw_pipeline_now(a->pipeline) <= 0)
        r.unready = "the event clock is not restored yet (partitions loading)";
    r.ready = r.db && r.owned > 0 && r.lag_ok && !r.unready;
    return r;
}

static void h_readyz(cw_admin_t *a, struct evhttp_request *req)
{
    readiness_t rd = readiness(a);
    int owned = rd.owned;
    int64_t max_lag = rd.max_lag;
    bool lag_known = rd.lag_known, db = rd.db, lag_ok = rd.lag_ok, ready = rd.ready;
    const char *unready = rd.unready;
    json_object *o = json_object_new_object(), *c = json_object_new_object(), *x;
    json_object_object_add(o, "ready", json_object_new_boolean(ready));
    if (unready) /* not co-partitioned, another rule set than the group's, fatal */
        json_object_object_add(o, "reason", json_object_new_string(unready));
    /* [N] still serving, but Kafka lost events casewatch never read: until acknowledged */
    int64_t gaps = cw_pipeline_stats(a->pipeline)->offset_gaps_open;
    json_object_object_add(o, "degraded", json_object_new_boolean(gaps > 0));
    if (gaps > 0) {
        char why[200];
        snprintf(why, sizeof(why),
                 "%lld offset gap(s) not acknowledged: Kafka no longer held events casewatch was "
                 "to read (GET /offset-gaps; POST /offset-gaps/ack)",
                 (long long)gaps);
        json_object_object_add(o, "degraded_reason", json_object_new_string(why));
    }
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
    static const char *prune_names[CW_PIPELINE_PRUNE_KINDS];
    for (int k = 0; k < CW_PIPELINE_PRUNE_KINDS; k++)
        prune_names[k] = cw_prune_name((cw_prune_kind_t)k);
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
        .merge_out_of_order = s->merge_out_of_order,
        .ready = readiness(a).ready,
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
        .offset_gap_messages = s->offset_gap_messages,
        .offset_gaps_open = s->offset_gaps_open,
        .partition_mismatch = s->partition_mismatch,
        .rules_mismatch = s->rules_mismatch,
        .anomalies = s->anomalies,
        .batch_events = &s->batch_events,
        .commit_seconds = &s->commit_seconds,
        .parts = parts,
        .nparts = nparts < MAX_PARTS ? nparts : MAX_PARTS,
        .alerts = ac.rows,
        .nalerts = ac.n,
        .alert_transitions = s->alert_transitions,
        .alerts_published = s->alerts_published,
        .alerts_historic = s->alerts_historic,
        .pruned = s->pruned,
        .prune_names = prune_names,
        .npruned = CW_PIPELINE_PRUNE_KINDS,
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
    if (!valid_text(area, MAX_ID_LEN) || !valid_text(case_id, MAX_ID_LEN)) {
        reply_error(req, 400, "area and case_id: printable UTF-8 text");
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
    static const char *const whole[] = {CW_SQL_ALERTS_TOTALS, CW_SQL_ALERTS_BY_AREA};
    for (size_t i = 0; i < CW_ARRAY_LEN(whole); i++)
        cw_store_job_add(job, whole[i], 5,
                         (char *[]){cw_strdup(state), cw_strdup(family), cw_strdup(area),
                                    cw_strdup(sev), cw_strdup(case_id)},
                         result_rows);
    cw_store_submit(a->store, job);
}

static void h_alert(cw_admin_t *a, struct evhttp_request *req, const char *key)
{
    if (!valid_text(key, MAX_ID_LEN)) {
        reply_error(req, 400, "an alert key is printable UTF-8 text, at most 512 bytes");
        return;
    }
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
    if (!valid_text(key, MAX_ID_LEN)) {
        reply_error(req, 400, "an alert key is printable UTF-8 text, at most 512 bytes");
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
    if (!by || !*by || !valid_text(by, 200)) {
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
    if (!valid_text(id, MAX_ID_LEN)) {
        reply_error(req, 400, "a case id is printable UTF-8 text, at most 512 bytes");
        return;
    }
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

/* [N] Offset gaps: every time Kafka no longer held what casewatch was to read. */
static const char SQL_GAPS[] =
    "SELECT id, topic, kpartition AS partition, kind, stored_offset, log_start, log_end, missed,"
    " first_offset, first_record_at, detected_at, acknowledged_at, acknowledged_by"
    " FROM offset_gaps ORDER BY id DESC LIMIT 200";
static const char SQL_GAPS_ACK[] =
    "WITH a AS (UPDATE offset_gaps SET acknowledged_at = now(), acknowledged_by = $1"
    " WHERE acknowledged_at IS NULL RETURNING 1)"
    " SELECT (SELECT count(*) FROM a),"
    " (SELECT count(*) FROM offset_gaps WHERE acknowledged_at IS NULL) - (SELECT count(*) FROM a)";

static void h_gaps(cw_admin_t *a, struct evhttp_request *req)
{
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_GAPS);
    d->out = json_object_new_object();
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add0(job, SQL_GAPS, result_rows);
    cw_store_submit(a->store, job);
}

static void h_gaps_ack(cw_admin_t *a, struct evhttp_request *req, const char *by)
{
    if (!by || !*by || !valid_text(by, 200)) {
        reply_error(req, 400, "\"by\" is required (recorded with the acknowledgement)");
        return;
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_GAPS_ACK);
    d->out = json_object_new_object();
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, SQL_GAPS_ACK, 1, (char *[]){cw_strdup(by)}, result_rows);
    cw_store_submit(a->store, job);
}

/* [L] "while behind": transitions recorded as history (their alert no longer firing when
 * committed: fired and ended within a catch-up, or found after the fact) in the last N hours,
 * per rule: what happened while casewatch was not keeping up, never paged. */
static const char SQL_BEHIND[] =
    "SELECT split_part(dedup_key, '|', 1) AS rule,"
    " count(*) FILTER (WHERE to_state = 'firing' AND NOT repeat) AS fired,"
    " count(*) FILTER (WHERE to_state = 'resolved') AS resolved,"
    " min(at) AS first_at, max(at) AS last_at, min(recorded_at) AS recorded_from,"
    " max(recorded_at) AS recorded_to "
    "FROM alert_history WHERE historic AND recorded_at > now() - make_interval(hours => $1::int)"
    " GROUP BY 1 ORDER BY 2 DESC, 1";

static void h_behind(cw_admin_t *a, struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *hours = qparam(q, "hours");
    long h = 24;
    if (*hours) {
        char *end;
        h = strtol(hours, &end, 10);
        if (*end || h < 1 || h > 24 * 366) {
            reply_error(req, 400, "hours: an integer from 1 to 8784");
            return;
        }
    }
    if (!db_available(a, req))
        return;
    dbreq_t *d = dbreq_new(a, req, DB_BEHIND);
    d->out = json_object_new_object();
    json_object_object_add(d->out, "hours", json_object_new_int((int)h));
    char buf[24];
    snprintf(buf, sizeof(buf), "%ld", h);
    cw_store_job_t *job = cw_store_job_new(db_done, d);
    cw_store_job_add(job, SQL_BEHIND, 1, (char *[]){cw_strdup(buf)}, result_rows);
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
    if (!valid_text(area, MAX_ID_LEN)) {
        reply_error(req, 400, "area: printable UTF-8 text");
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
static void on_sse_close(void *arg)
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
        /* closed after the answer: a refused client must not keep holding a connection */
        reply_error_close(req, 503, "too many /events streams open ([admin] sse_max_clients)");
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
    conn_set_phase(a->current, CONN_STREAMING);
    conn_watch(a->current, on_sse_close, c);
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

/* Two Content-Length headers that disagree: which one framed the body is ambiguous (request
 * smuggling), so the request is refused and its connection closed. */
static bool lengths_conflict(struct evhttp_request *req)
{
    const char *first = NULL;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        if (strcasecmp(h->key, "Content-Length"))
            continue;
        if (!first)
            first = h->value;
        else if (strcmp(first, h->value))
            return true;
    }
    return false;
}

/* the answer went out: a kept-alive connection waits for its next request, with a deadline */
static void on_answered(struct evhttp_request *req, void *arg)
{
    conn_set_phase(arg, CONN_READING);
}

static void route(cw_admin_t *a, struct evhttp_request *req);

static void on_request(struct evhttp_request *req, void *arg)
{
    cw_admin_t *a = arg;
    conn_t *c = conn_find(a, evhttp_request_get_connection(req));
    if (!c) { /* every connection is adopted before it can read: not expected */
        reply_error_close(req, 503, "connection not tracked; retry");
        return;
    }
    conn_set_phase(c, CONN_ANSWERING);
    evhttp_request_set_on_complete_cb(req, on_answered, c);
    if (lengths_conflict(req)) {
        reply_error_close(req, 400, "conflicting Content-Length headers");
        return;
    }
    a->current = c;
    route(a, req);
    a->current = NULL;
}

static void route(cw_admin_t *a, struct evhttp_request *req)
{
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
    else if (n == 2 && get && !strcmp(s0, "history") && !strcmp(seg[1], "behind"))
        h_behind(a, req, &q);
    else if (n == 1 && get && !strcmp(s0, "offset-gaps"))
        h_gaps(a, req);
    else if (n == 2 && post && !strcmp(s0, "offset-gaps") && !strcmp(seg[1], "ack")) {
        json_object *b = body_json(req);
        if (b) {
            bool bad = false;
            const char *by = body_str(req, b, "by", true, 200, &bad);
            if (!bad)
                h_gaps_ack(a, req, by);
            json_object_put(b);
        }
    }
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
    a->max_conns = cfg->admin_max_connections;
    a->http = evhttp_new(base);
    evhttp_set_max_body_size(a->http, MAX_BODY);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_gencb(a->http, on_request, a);
    evhttp_set_bevcb(a->http, on_accept, a);
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
    /* a burst of connections (a flood closing the oldest unfinished requests) waits in the
     * kernel instead of having its SYNs dropped, which would delay an operator's request by
     * a retransmission (1 s); listen() again only resizes the queue */
    (void)listen(evhttp_bound_socket_get_fd(bs), LISTEN_BACKLOG);
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
    a->ev_adopt = event_new(base, -1, 0, on_adopt, a);
    a->ev_reap = event_new(base, -1, 0, on_reap, a);
    a->ev_accept_retry = evtimer_new(base, on_accept_retry, a);
    a->lev = evhttp_bound_socket_get_listener(bs);
    evconnlistener_set_error_cb(a->lev, on_accept_error);
    a->accepting = true;
    cw_pipeline_set_alert_hook(a->pipeline, on_alert, a);
    cw_log_info("admin: listening on http://%s%s%s:%d/ (%sat most %d connections, requests "
                "within %d ms)",
                strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", a->port,
                cfg->admin_token ? "bearer token required; " : "", a->max_conns,
                cfg->admin_request_timeout_ms);
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
    /* connections accepted but not yet adopted heard nothing: drop our reference */
    while (a->conns) {
        conn_t *c = a->conns;
        if (c->bev)
            bufferevent_decref(c->bev);
        c->bev = NULL;
        conn_closed(c);
    }
    on_reap(-1, 0, a);
    cw_store_destroy(a->store); /* fails queued jobs: their requests are gone */
    event_free(a->ev_keepalive);
    event_free(a->ev_adopt);
    event_free(a->ev_reap);
    event_free(a->ev_accept_retry);
    free(a);
}
