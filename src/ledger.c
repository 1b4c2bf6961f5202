/*
 * ledger.c — every statement a batch writes and its builder: the event-log insert that says
 * which events are new, case rows, aggregates, areas and their prioritisation changes,
 * anomalies, dead letters, alert state, history and outbox, the delivery marks, and the fenced
 * offset advance. Each statement's column list, parameter types and the C that fills them sit
 * together here.
 */
#include "ledger.h"
#include "alertmsg.h"
#include "batch.h"
#include "casewatch/alertjson.h"
#include "casewatch/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ statement tables
 *
 * A statement that writes many rows is one INSERT … SELECT … FROM unnest($1, $2, …): every
 * parameter an array holding one column of the rows. Its columns are described once, in a
 * table indexed by the statement's column enum: the column written, the SQL that turns the
 * unnested value into it ("%s" stands for the value; NULL: the value as it is) and the array's
 * element type. The column list, the expressions, the $n placeholders with their types, and
 * the parameter arrays (initialised and sent in enum order) all come from that table, and the
 * builders fill arrays by enum name: a column cannot be filled from another's array, and a
 * table that misses a column does not compile. */

#define CW_LEDGER_MAX_COLS 32

typedef struct cw_ledger_col {
    const char *name; /* the table's column */
    const char *expr; /* from the unnested value "%s"; NULL = itself */
    uint32_t oid;     /* element type of its parameter array */
} cw_ledger_col_t;

typedef struct cw_ledger_stmt {
    const char *into; /* the table (with an alias if the tail names one) */
    const cw_ledger_col_t *cols;
    int ncols;
    const char *tail; /* ON CONFLICT …, or "" */
    char sql[4096];   /* built at first use; its address names the prepared statement */
} cw_ledger_stmt_t;

static const char *type_name(uint32_t oid)
{
    switch (oid) {
    case CW_OID_TEXT:
        return "text";
    case CW_OID_INT4:
        return "int";
    case CW_OID_INT8:
        return "bigint";
    case CW_OID_BOOL:
        return "bool";
    case CW_OID_BYTEA:
        return "bytea";
    case CW_OID_FLOAT8:
        return "float8";
    case CW_OID_NUMERIC:
        return "numeric";
    }
    CW_ASSERT(!"a column type the ledger does not know");
    return "text";
}

/* "INSERT INTO into (names) SELECT exprs FROM unnest($1::type[], …) AS u(v1, …) tail" */
static const char *stmt_sql(cw_ledger_stmt_t *s)
{
    if (s->sql[0])
        return s->sql;
    CW_ASSERT(s->ncols > 0 && s->ncols <= CW_LEDGER_MAX_COLS);
    char *o = s->sql, *end = s->sql + sizeof(s->sql);
#define PUT(...) (o += snprintf(o, o < end ? (size_t)(end - o) : 0, __VA_ARGS__))
    PUT("INSERT INTO %s (", s->into);
    for (int i = 0; i < s->ncols; i++)
        PUT("%s%s", i ? ", " : "", s->cols[i].name);
    PUT(") SELECT ");
    for (int i = 0; i < s->ncols; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%d", i + 1);
        PUT("%s", i ? ", " : "");
        if (s->cols[i].expr)
            PUT(s->cols[i].expr, v);
        else
            PUT("%s", v);
    }
    PUT(" FROM unnest(");
    for (int i = 0; i < s->ncols; i++)
        PUT("%s$%d::%s[]", i ? ", " : "", i + 1, type_name(s->cols[i].oid));
    PUT(") AS u(");
    for (int i = 0; i < s->ncols; i++)
        PUT("%sv%d", i ? ", " : "", i + 1);
    PUT(")%s%s", *s->tail ? " " : "", s->tail);
#undef PUT
    if (o >= end) { /* a statement text longer than the buffer is a programming error */
        cw_log_error("ledger: statement for %s longer than %zu bytes", s->into, sizeof(s->sql));
        abort();
    }
    return s->sql;
}

/* Binary parameter arrays, one per column, typed from the table. */
static void bin_init(cw_pgbin_t *a, const cw_ledger_stmt_t *s)
{
    for (int i = 0; i < s->ncols; i++)
        cw_pgbin_init(&a[i], s->cols[i].oid);
}

/* Add the statement with its arrays (in column order) to job if rows > 0; else drop them. */
static void bin_add(cw_store_job_t *job, cw_ledger_stmt_t *s, cw_pgbin_t *a, size_t rows,
                    cw_store_result_fn on_result)
{
    char *v[CW_LEDGER_MAX_COLS];
    int len[CW_LEDGER_MAX_COLS];
    for (int i = 0; i < s->ncols; i++)
        v[i] = cw_pgbin_finish(&a[i], &len[i]);
    if (rows) {
        cw_store_job_addp_bin(job, stmt_sql(s), s->ncols, v, len, on_result);
        return;
    }
    for (int i = 0; i < s->ncols; i++)
        free(v[i]);
}

/* Text-format parameter arrays (cw_pgarray_t), one per column. */
static void txt_init(cw_pgarray_t *a, const cw_ledger_stmt_t *s)
{
    for (int i = 0; i < s->ncols; i++)
        cw_pgarray_init(&a[i]);
}

static void txt_add(cw_store_job_t *job, cw_ledger_stmt_t *s, cw_pgarray_t *a, size_t rows)
{
    char *v[CW_LEDGER_MAX_COLS];
    for (int i = 0; i < s->ncols; i++)
        v[i] = cw_pgarray_finish(&a[i]);
    if (rows) {
        cw_store_job_addp(job, stmt_sql(s), s->ncols, v, NULL);
        return;
    }
    for (int i = 0; i < s->ncols; i++)
        free(v[i]);
}

enum { EV_EVENT_ID, EV_CASE_ID, EV_KIND, EV_OCCURRED, EV_TOPIC, EV_PARTITION, EV_OFFSET, EV__N };
static const cw_ledger_col_t ev_cols[] = {
    [EV_EVENT_ID] = {"event_id", NULL, CW_OID_TEXT},
    [EV_CASE_ID] = {"case_id", NULL, CW_OID_TEXT},
    [EV_KIND] = {"kind", NULL, CW_OID_TEXT},
    [EV_OCCURRED] = {"occurred_at", "timestamptz 'epoch' + %s * interval '1 ms'", CW_OID_INT8},
    [EV_TOPIC] = {"topic", NULL, CW_OID_TEXT},
    [EV_PARTITION] = {"kpartition", NULL, CW_OID_INT4},
    [EV_OFFSET] = {"koffset", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(ev_cols) == EV__N, "one entry per EV column");
static cw_ledger_stmt_t ev_stmt = {.into = "event_log",
                                   .cols = ev_cols,
                                   .ncols = EV__N,
                                   .tail = "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"};

enum {
    CS_CASE_ID,
    CS_PARTITION,
    CS_EVENTS,
    CS_FIRST,
    CS_LAST,
    CS_STATUS,
    CS_TYPE,
    CS_AREA,
    CS_SERVICE_AREA,
    CS_TEAM,
    CS_WORKER,
    CS_ALLOCATION,
    CS_CHILDREN,
    CS_START,
    CS_CLOSED,
    CS_STATE,
    CS__N
};
static const cw_ledger_col_t cases_cols[] = {
    [CS_CASE_ID] = {"case_id", NULL, CW_OID_TEXT},
    [CS_PARTITION] = {"kpartition", NULL, CW_OID_INT4},
    [CS_EVENTS] = {"event_count", NULL, CW_OID_INT8},
    [CS_FIRST] = {"first_event_at", "cw_ms(%s)", CW_OID_INT8},
    [CS_LAST] = {"last_event_at", "cw_ms(%s)", CW_OID_INT8},
    [CS_STATUS] = {"status", NULL, CW_OID_TEXT},
    [CS_TYPE] = {"case_type", "NULLIF(%s, '')", CW_OID_TEXT},
    [CS_AREA] = {"court_area", "NULLIF(%s, '')", CW_OID_TEXT},
    [CS_SERVICE_AREA] = {"service_area", "NULLIF(%s, '')", CW_OID_TEXT},
    [CS_TEAM] = {"team", "NULLIF(%s, '')", CW_OID_TEXT},
    [CS_WORKER] = {"worker_id", "NULLIF(%s, '')", CW_OID_TEXT},
    [CS_ALLOCATION] = {"allocation", NULL, CW_OID_TEXT},
    [CS_CHILDREN] = {"children", NULL, CW_OID_INT4},
    [CS_START] = {"start_at", "cw_ms(%s)", CW_OID_INT8},
    [CS_CLOSED] = {"closed_at", "cw_ms(%s)", CW_OID_INT8},
    [CS_STATE] = {"state", NULL, CW_OID_BYTEA},
};
_Static_assert(CW_ARRAY_LEN(cases_cols) == CS__N, "one entry per CS column");
static cw_ledger_stmt_t cases_stmt = {
    .into = "cases",
    .cols = cases_cols,
    .ncols = CS__N,
    .tail = "ON CONFLICT (case_id) DO UPDATE SET kpartition = excluded.kpartition, event_count = "
            "excluded.event_count, first_event_at = excluded.first_event_at, last_event_at = "
            "excluded.last_event_at, status = excluded.status, case_type = excluded.case_type, "
            "court_area = excluded.court_area, service_area = excluded.service_area, team = "
            "excluded.team, worker_id = excluded.worker_id, allocation = excluded.allocation, "
            "children = excluded.children, start_at = excluded.start_at, closed_at = "
            "excluded.closed_at, state = excluded.state, updated_at = now()"};

/* aggregates: commutative increments, so any number of daemons add up correctly */
enum { CO_AREA, CO_TYPE, CO_START, CO_CLOSE, CO_CASES, CO_CHILDREN, CO__N };
static const cw_ledger_col_t cohort_cols[] = {
    [CO_AREA] = {"court_area", NULL, CW_OID_TEXT},
    [CO_TYPE] = {"case_type", NULL, CW_OID_TEXT},
    [CO_START] = {"start_day", "cw_day(%s)", CW_OID_INT4},
    [CO_CLOSE] = {"close_day", "cw_day(%s)", CW_OID_INT4},
    [CO_CASES] = {"cases", NULL, CW_OID_INT8},
    [CO_CHILDREN] = {"children", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(cohort_cols) == CO__N, "one entry per CO column");
static cw_ledger_stmt_t cohort_stmt = {
    .into = "agg_cohort AS a",
    .cols = cohort_cols,
    .ncols = CO__N,
    .tail = "ON CONFLICT (court_area, case_type, start_day, close_day) DO UPDATE SET cases = "
            "a.cases + excluded.cases, children = a.children + excluded.children"};

enum { LV_AREA, LV_TYPE, LV_METRIC, LV_VALUE, LV__N };
static const cw_ledger_col_t live_cols[] = {
    [LV_AREA] = {"court_area", NULL, CW_OID_TEXT},
    [LV_TYPE] = {"case_type", NULL, CW_OID_TEXT},
    [LV_METRIC] = {"metric", NULL, CW_OID_TEXT},
    [LV_VALUE] = {"value", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(live_cols) == LV__N, "one entry per LV column");
static cw_ledger_stmt_t live_stmt = {
    .into = "agg_live AS a",
    .cols = live_cols,
    .ncols = LV__N,
    .tail = "ON CONFLICT (court_area, case_type, metric) DO UPDATE SET value = a.value + "
            "excluded.value"};

enum { WK_WORKER, WK_AREA, WK_CASES, WK__N };
static const cw_ledger_col_t workers_cols[] = {
    [WK_WORKER] = {"worker_id", NULL, CW_OID_TEXT},
    [WK_AREA] = {"court_area", NULL, CW_OID_TEXT},
    [WK_CASES] = {"cases", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(workers_cols) == WK__N, "one entry per WK column");
static cw_ledger_stmt_t workers_stmt = {
    .into = "agg_workers AS a",
    .cols = workers_cols,
    .ncols = WK__N,
    .tail = "ON CONFLICT (worker_id, court_area) DO UPDATE SET cases = a.cases + excluded.cases"};

enum { RP_AREA, RP_TYPE, RP_KIND, RP_FILED, RP_ON_TIME, RP_EXTENDED, RP_REPORTS, RP__N };
static const cw_ledger_col_t reports_cols[] = {
    [RP_AREA] = {"court_area", NULL, CW_OID_TEXT},
    [RP_TYPE] = {"case_type", NULL, CW_OID_TEXT},
    [RP_KIND] = {"report_kind", NULL, CW_OID_TEXT},
    [RP_FILED] = {"filed_day", "cw_day(%s)", CW_OID_INT4},
    [RP_ON_TIME] = {"on_time", NULL, CW_OID_BOOL},
    [RP_EXTENDED] = {"extended", NULL, CW_OID_BOOL},
    [RP_REPORTS] = {"reports", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(reports_cols) == RP__N, "one entry per RP column");
static cw_ledger_stmt_t reports_stmt = {
    .into = "agg_reports AS a",
    .cols = reports_cols,
    .ncols = RP__N,
    .tail = "ON CONFLICT (court_area, case_type, report_kind, filed_day, on_time, extended) DO "
            "UPDATE SET reports = a.reports + excluded.reports"};

enum { AR_AREA, AR_PRIORITISED, AR_SINCE, AR_STAMP_MS, AR_STAMP_HASH, AR__N };
static const cw_ledger_col_t areas_cols[] = {
    [AR_AREA] = {"court_area", NULL, CW_OID_TEXT},
    [AR_PRIORITISED] = {"prioritised", NULL, CW_OID_BOOL},
    [AR_SINCE] = {"since", "cw_ms(%s)", CW_OID_INT8},
    [AR_STAMP_MS] = {"stamp_ms", NULL, CW_OID_INT8},
    [AR_STAMP_HASH] = {"stamp_hash", NULL, CW_OID_NUMERIC},
};
_Static_assert(CW_ARRAY_LEN(areas_cols) == AR__N, "one entry per AR column");
static cw_ledger_stmt_t areas_stmt = {
    .into = "areas AS a",
    .cols = areas_cols,
    .ncols = AR__N,
    .tail = "ON CONFLICT (court_area) DO UPDATE SET prioritised = excluded.prioritised, since = "
            "excluded.since, stamp_ms = excluded.stamp_ms, stamp_hash = excluded.stamp_hash, "
            "updated_at = now() WHERE (excluded.stamp_ms, excluded.stamp_hash) > (a.stamp_ms, "
            "a.stamp_hash)"};

/* Round trip 1: the batch's events into event_log; RETURNING says which are new. */
void cw_ledger_events_stmt(const cw_pipeline_t *p, const batch_t *b, cw_store_job_t *job,
                           cw_store_result_fn on_result)
{
    if (!b->nev)
        return;
    cw_pgbin_t a[EV__N];
    bin_init(a, &ev_stmt);
    for (int i = 0; i < b->nev; i++) {
        const Casewatch__V1__Event *e = b->evs[i].ev.pb;
        const part_slot_t *slot = &p->slots[b->evs[i].slot];
        cw_pgbin_add_text(&a[EV_EVENT_ID], e->event_id);
        if (e->case_id && *e->case_id)
            cw_pgbin_add_text(&a[EV_CASE_ID], e->case_id);
        else
            cw_pgbin_add_null(&a[EV_CASE_ID]);
        cw_pgbin_add_text(&a[EV_KIND], cw_event_kind_name(b->evs[i].ev.kind));
        cw_pgbin_add_int(&a[EV_OCCURRED], e->occurred_at);
        cw_pgbin_add_text(&a[EV_TOPIC], slot->topic);
        cw_pgbin_add_int(&a[EV_PARTITION], slot->partition);
        cw_pgbin_add_int(&a[EV_OFFSET], b->evs[i].offset);
    }
    bin_add(job, &ev_stmt, a, (size_t)b->nev, on_result);
}

static const char SQL_AREA_CHANGES_SET[] =
    "UPDATE areas SET change_ms = $2::bigint[], change_hash = $3::numeric[],"
    " change_on = $4::boolean[] WHERE court_area = $1";

enum { AN_EVENT_ID, AN_CASE_ID, AN_KIND, AN_DETAIL, AN_OCCURRED, AN__N };
static const cw_ledger_col_t anomalies_cols[] = {
    [AN_EVENT_ID] = {"event_id", NULL, CW_OID_TEXT},
    [AN_CASE_ID] = {"case_id", NULL, CW_OID_TEXT},
    [AN_KIND] = {"kind", NULL, CW_OID_TEXT},
    [AN_DETAIL] = {"detail", NULL, CW_OID_TEXT},
    [AN_OCCURRED] = {"occurred_at", "cw_ms(%s)", CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(anomalies_cols) == AN__N, "one entry per AN column");
static cw_ledger_stmt_t anomalies_stmt = {.into = "anomalies",
                                          .cols = anomalies_cols,
                                          .ncols = AN__N,
                                          .tail = "ON CONFLICT (event_id, kind) DO NOTHING"};

enum { DL_REASON, DL_DETAIL, DL_TOPIC, DL_PARTITION, DL_OFFSET, DL_KEY, DL_PAYLOAD, DL__N };
static const cw_ledger_col_t dead_letters_cols[] = {
    [DL_REASON] = {"reason", NULL, CW_OID_TEXT},
    [DL_DETAIL] = {"detail", NULL, CW_OID_TEXT},
    [DL_TOPIC] = {"topic", NULL, CW_OID_TEXT},
    [DL_PARTITION] = {"kpartition", NULL, CW_OID_INT4},
    [DL_OFFSET] = {"koffset", NULL, CW_OID_INT8},
    [DL_KEY] = {"msg_key", NULL, CW_OID_BYTEA},
    [DL_PAYLOAD] = {"payload", NULL, CW_OID_BYTEA},
};
_Static_assert(CW_ARRAY_LEN(dead_letters_cols) == DL__N, "one entry per DL column");
static cw_ledger_stmt_t dead_letters_stmt = {
    .into = "dead_letters",
    .cols = dead_letters_cols,
    .ncols = DL__N,
    .tail = "ON CONFLICT (topic, kpartition, koffset) DO NOTHING"};

static const char SQL_DEAD_LETTERS_MARK[] =
    "UPDATE dead_letters d SET published_at = now() "
    "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(t, k, o) "
    "WHERE d.topic = u.t AND d.kpartition = u.k AND d.koffset = u.o AND d.published_at IS NULL";

static const char SQL_OFFSETS_ADVANCE[] =
    "SELECT cw_advance_offsets($1::text[], $2::int[], $3::bigint[], $4::bigint[], "
    "$5::bigint[])";

/* Statement recording confirmed dead letters as published; takes the pending marks. */
void cw_ledger_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    if (!p->nmarks)
        return;
    cw_pgarray_t t, k, o;
    cw_pgarray_init(&t);
    cw_pgarray_init(&k);
    cw_pgarray_init(&o);
    for (int i = 0; i < p->nmarks; i++) {
        cw_pgarray_add_text(&t, p->marks[i].topic);
        cw_pgarray_add_int(&k, p->marks[i].partition);
        cw_pgarray_add_int(&o, p->marks[i].offset);
    }
    cw_store_job_addp(
        job, SQL_DEAD_LETTERS_MARK, 3,
        (char *[]){cw_pgarray_finish(&t), cw_pgarray_finish(&k), cw_pgarray_finish(&o)}, NULL);
    p->stats.dl_published += (uint64_t)p->nmarks;
    cw_marks_free(p->marks, p->nmarks);
    p->marks = NULL;
    p->nmarks = p->capmarks = 0;
}

/* The case rows of every case changed in this batch: one row each, one statement. */
void cw_ledger_cases_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t ndirty;
    cw_case_t *const *dirty = cw_casebook_dirty(p->book, &ndirty);
    if (!ndirty)
        return;
    /* binary arrays: the case state goes as bytes, not hex, and nothing is quoted or parsed */
    cw_pgbin_t a[CS__N];
    bin_init(a, &cases_stmt);
    for (size_t i = 0; i < ndirty; i++) {
        const cw_case_t *c = dirty[i];
        int members = 0;
        for (int j = 0; j < c->nchildren; j++)
            members += c->children[j].member;
        bool closed = cw_case_closed(c);
        cw_pgbin_add_text(&a[CS_CASE_ID], c->case_id);
        cw_pgbin_add_int(&a[CS_PARTITION], c->partition);
        cw_pgbin_add_int(&a[CS_EVENTS], c->event_count);
        cw_pgbin_add_int(&a[CS_FIRST], c->first_ms);
        cw_pgbin_add_int(&a[CS_LAST], c->last_ms);
        cw_pgbin_add_text(&a[CS_STATUS], !c->opened ? "stub" : closed ? "closed" : "open");
        cw_pgbin_add_text(&a[CS_TYPE], cw_case_type_name(c->case_type));
        cw_pgbin_add_text(&a[CS_AREA], cw_casebook_str(p->book, c->area));
        cw_pgbin_add_text(&a[CS_SERVICE_AREA], cw_casebook_str(p->book, c->osa));
        cw_pgbin_add_text(&a[CS_TEAM], cw_casebook_str(p->book, c->team));
        cw_pgbin_add_text(&a[CS_WORKER], cw_casebook_str(p->book, c->worker));
        cw_pgbin_add_text(&a[CS_ALLOCATION], cw_alloc_name(c->alloc));
        cw_pgbin_add_int(&a[CS_CHILDREN], members);
        cw_pgbin_add_int(&a[CS_START], c->opened ? c->start_ms : 0);
        cw_pgbin_add_int(&a[CS_CLOSED], closed ? c->close_stamp.ms : 0);
        size_t len;
        uint8_t *st = cw_casebook_pack(p->book, c, &len);
        cw_pgbin_add_bytes(&a[CS_STATE], st, len);
        free(st);
    }
    bin_add(job, &cases_stmt, a, ndirty, NULL);
}

/* The batch's net aggregate change, one statement per table, zero entries left out. */
void cw_ledger_agg_stmts(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(p->agg, &n);
    cw_pgarray_t co[CO__N], lv[LV__N], wk[WK__N], rp[RP__N];
    size_t nco = 0, nlv = 0, nwk = 0, nrp = 0;
    txt_init(co, &cohort_stmt);
    txt_init(lv, &live_stmt);
    txt_init(wk, &workers_stmt);
    txt_init(rp, &reports_stmt);
    for (size_t i = 0; i < n; i++) {
        const cw_agg_key_t *k = &e[i].key;
        if (e[i].v1 == 0 && e[i].v2 == 0)
            continue; /* an event that moved nothing (or moved it back) */
        const char *area = cw_casebook_str(p->book, k->area);
        switch (k->table) {
        case CW_AGG_COHORT:
            cw_pgarray_add_text(&co[CO_AREA], area);
            cw_pgarray_add_text(&co[CO_TYPE], cw_case_type_name(k->case_type));
            cw_pgarray_add_int(&co[CO_START], k->day1);
            cw_pgarray_add_int(&co[CO_CLOSE], k->day2);
            cw_pgarray_add_int(&co[CO_CASES], e[i].v1);
            cw_pgarray_add_int(&co[CO_CHILDREN], e[i].v2);
            nco++;
            break;
        case CW_AGG_LIVE:
            cw_pgarray_add_text(&lv[LV_AREA], area);
            cw_pgarray_add_text(&lv[LV_TYPE], cw_case_type_name(k->case_type));
            cw_pgarray_add_text(&lv[LV_METRIC], cw_live_metric_name(k->sub));
            cw_pgarray_add_int(&lv[LV_VALUE], e[i].v1);
            nlv++;
            break;
        case CW_AGG_WORKER:
            cw_pgarray_add_text(&wk[WK_WORKER], cw_casebook_str(p->book, k->worker));
            cw_pgarray_add_text(&wk[WK_AREA], area);
            cw_pgarray_add_int(&wk[WK_CASES], e[i].v1);
            nwk++;
            break;
        case CW_AGG_REPORT:
            cw_pgarray_add_text(&rp[RP_AREA], area);
            cw_pgarray_add_text(&rp[RP_TYPE], cw_case_type_name(k->case_type));
            cw_pgarray_add_text(&rp[RP_KIND], cw_report_kind_name(k->sub));
            cw_pgarray_add_int(&rp[RP_FILED], k->day1);
            cw_pgarray_add_text(&rp[RP_ON_TIME], (k->flags & 1) ? "t" : "f");
            cw_pgarray_add_text(&rp[RP_EXTENDED], (k->flags & 2) ? "t" : "f");
            cw_pgarray_add_int(&rp[RP_REPORTS], e[i].v1);
            nrp++;
            break;
        }
    }
    txt_add(job, &cohort_stmt, co, nco);
    txt_add(job, &live_stmt, lv, nlv);
    txt_add(job, &workers_stmt, wk, nwk);
    txt_add(job, &reports_stmt, rp, nrp);
}

void cw_ledger_areas_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t n;
    cw_area_t *const *areas = cw_casebook_dirty_areas(p->book, &n);
    if (!n)
        return;
    cw_pgarray_t a[AR__N];
    txt_init(a, &areas_stmt);
    for (size_t i = 0; i < n; i++) {
        char hash[24];
        snprintf(hash, sizeof(hash), "%llu", (unsigned long long)areas[i]->stamp.hash);
        cw_pgarray_add_text(&a[AR_AREA], cw_casebook_str(p->book, areas[i]->name));
        cw_pgarray_add_text(&a[AR_PRIORITISED], areas[i]->prioritised ? "t" : "f");
        cw_pgarray_add_int(&a[AR_SINCE], areas[i]->since_ms);
        cw_pgarray_add_int(&a[AR_STAMP_MS], areas[i]->stamp.ms);
        cw_pgarray_add_text(&a[AR_STAMP_HASH], hash);
    }
    txt_add(job, &areas_stmt, a, n);
    /* and each one's changes, whole (rare: an area event) */
    for (size_t i = 0; i < n; i++) {
        cw_pgarray_t c[3];
        for (int k = 0; k < 3; k++)
            cw_pgarray_init(&c[k]);
        for (uint32_t k = 0; k < areas[i]->nchanges; k++) {
            const cw_prio_change_t *ch = &areas[i]->changes[k];
            char hash[24];
            snprintf(hash, sizeof(hash), "%llu", (unsigned long long)ch->hash);
            cw_pgarray_add_int(&c[0], ch->ms);
            cw_pgarray_add_text(&c[1], hash);
            cw_pgarray_add_text(&c[2], ch->on ? "t" : "f");
        }
        cw_store_job_addp(job, SQL_AREA_CHANGES_SET, 4,
                          (char *[]){cw_strdup(cw_casebook_str(p->book, areas[i]->name)),
                                     cw_pgarray_finish(&c[0]), cw_pgarray_finish(&c[1]),
                                     cw_pgarray_finish(&c[2])},
                          NULL);
    }
}

void cw_ledger_anomalies_stmt(batch_t *b, cw_store_job_t *job)
{
    if (!b->nanom)
        return;
    cw_pgarray_t a[AN__N];
    txt_init(a, &anomalies_stmt);
    for (int i = 0; i < b->nanom; i++) {
        cw_pgarray_add_text(&a[AN_EVENT_ID], b->anoms[i].event_id);
        cw_pgarray_add_text(&a[AN_CASE_ID], b->anoms[i].case_id);
        cw_pgarray_add_text(&a[AN_KIND], b->anoms[i].kind);
        cw_pgarray_add_text(&a[AN_DETAIL], b->anoms[i].detail);
        cw_pgarray_add_int(&a[AN_OCCURRED], b->anoms[i].occurred_ms);
    }
    txt_add(job, &anomalies_stmt, a, (size_t)b->nanom);
}

enum {
    AL_KEY,
    AL_RULE,
    AL_RULE_VERSION,
    AL_FAMILY,
    AL_SEVERITY,
    AL_STATE,
    AL_RESOLUTION,
    AL_CASE_ID,
    AL_SUBJECT,
    AL_AREA,
    AL_WORKER,
    AL_CASE_TYPE,
    AL_PARTITION,
    AL_ARMED,
    AL_DUE,
    AL_PENDING,
    AL_FIRING,
    AL_RESOLVED,
    AL_NOTIFIED,
    AL_NOTIFY_COUNT,
    AL_VALUE,
    AL_THRESHOLD,
    AL_CAUSE_EVENT,
    AL_CAUSE_TOPIC,
    AL_CAUSE_PARTITION,
    AL_CAUSE_OFFSET,
    AL_SILENCED,
    AL_ORIGIN,
    AL__N
};
static const cw_ledger_col_t alerts_cols[] = {
    [AL_KEY] = {"dedup_key", NULL, CW_OID_TEXT},
    [AL_RULE] = {"rule", NULL, CW_OID_TEXT},
    [AL_RULE_VERSION] = {"rule_version", NULL, CW_OID_INT8},
    [AL_FAMILY] = {"family", NULL, CW_OID_TEXT},
    [AL_SEVERITY] = {"severity", NULL, CW_OID_TEXT},
    [AL_STATE] = {"state", NULL, CW_OID_TEXT},
    [AL_RESOLUTION] = {"resolution", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_CASE_ID] = {"case_id", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_SUBJECT] = {"subject", NULL, CW_OID_TEXT},
    [AL_AREA] = {"court_area", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_WORKER] = {"worker_id", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_CASE_TYPE] = {"case_type", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_PARTITION] = {"kpartition", NULL, CW_OID_INT4},
    [AL_ARMED] = {"armed_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_DUE] = {"due_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_PENDING] = {"pending_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_FIRING] = {"firing_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_RESOLVED] = {"resolved_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_NOTIFIED] = {"notified_at", "cw_ms(%s)", CW_OID_INT8},
    [AL_NOTIFY_COUNT] = {"notify_count", NULL, CW_OID_INT4},
    [AL_VALUE] = {"value", NULL, CW_OID_FLOAT8},
    [AL_THRESHOLD] = {"threshold", NULL, CW_OID_FLOAT8},
    [AL_CAUSE_EVENT] = {"cause_event_id", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_CAUSE_TOPIC] = {"cause_topic", "NULLIF(%s, '')", CW_OID_TEXT},
    [AL_CAUSE_PARTITION] = {"cause_partition", NULL, CW_OID_INT4},
    [AL_CAUSE_OFFSET] = {"cause_offset", NULL, CW_OID_INT8},
    [AL_SILENCED] = {"silenced", NULL, CW_OID_BOOL},
    [AL_ORIGIN] = {"origin", NULL, CW_OID_INT8},
};
_Static_assert(CW_ARRAY_LEN(alerts_cols) == AL__N, "one entry per AL column");
static cw_ledger_stmt_t alerts_stmt = {
    .into = "alerts AS a",
    .cols = alerts_cols,
    .ncols = AL__N,
    .tail =
        /* a new occurrence of a resolved alert starts unacknowledged */
    "ON CONFLICT (dedup_key) DO UPDATE SET rule_version = excluded.rule_version, severity "
    "= excluded.severity, state = excluded.state, resolution = excluded.resolution, "
    "case_type = excluded.case_type, kpartition = excluded.kpartition, armed_at = "
    "excluded.armed_at, due_at = excluded.due_at, pending_at = excluded.pending_at, "
    "firing_at = excluded.firing_at, resolved_at = excluded.resolved_at, notified_at = "
    "excluded.notified_at, notify_count = excluded.notify_count, value = excluded.value, "
    "threshold = excluded.threshold, cause_event_id = excluded.cause_event_id, "
    "cause_topic = excluded.cause_topic, cause_partition = excluded.cause_partition, "
    "cause_offset = excluded.cause_offset, silenced = excluded.silenced, origin = "
    "excluded.origin, updated_at = now(), acknowledged = a.acknowledged AND NOT (a.state "
    "= 'resolved' AND excluded.state <> 'resolved')"};

enum {
    HI_ALERT_ID,
    HI_KEY,
    HI_FROM,
    HI_TO,
    HI_RESOLUTION,
    HI_AT,
    HI_NOTIFIED,
    HI_SILENCED,
    HI_REPEAT,
    HI_CAUSE_EVENT,
    HI_HISTORIC,
    HI__N
};
static const cw_ledger_col_t history_cols[] = {
    [HI_ALERT_ID] = {"alert_id", NULL, CW_OID_TEXT},
    [HI_KEY] = {"dedup_key", NULL, CW_OID_TEXT},
    [HI_FROM] = {"from_state", "NULLIF(%s, '')", CW_OID_TEXT},
    [HI_TO] = {"to_state", NULL, CW_OID_TEXT},
    [HI_RESOLUTION] = {"resolution", "NULLIF(%s, '')", CW_OID_TEXT},
    [HI_AT] = {"at", "cw_ms(%s)", CW_OID_INT8},
    [HI_NOTIFIED] = {"notified", NULL, CW_OID_BOOL},
    [HI_SILENCED] = {"silenced", NULL, CW_OID_BOOL},
    [HI_REPEAT] = {"repeat", NULL, CW_OID_BOOL},
    [HI_CAUSE_EVENT] = {"cause_event_id", "NULLIF(%s, '')", CW_OID_TEXT},
    [HI_HISTORIC] = {"historic", NULL, CW_OID_BOOL},
};
_Static_assert(CW_ARRAY_LEN(history_cols) == HI__N, "one entry per HI column");
static cw_ledger_stmt_t history_stmt = {
    .into = "alert_history", .cols = history_cols, .ncols = HI__N, .tail = ""};

enum { OB_ALERT_ID, OB_KEY, OB_MSG_KEY, OB_PAYLOAD, OB_SILENCED, OB__N };
static const cw_ledger_col_t outbox_cols[] = {
    [OB_ALERT_ID] = {"alert_id", NULL, CW_OID_TEXT}, [OB_KEY] = {"dedup_key", NULL, CW_OID_TEXT},
    [OB_MSG_KEY] = {"msg_key", NULL, CW_OID_TEXT},   [OB_PAYLOAD] = {"payload", NULL, CW_OID_BYTEA},
    [OB_SILENCED] = {"silenced", NULL, CW_OID_BOOL},
};
_Static_assert(CW_ARRAY_LEN(outbox_cols) == OB__N, "one entry per OB column");
static cw_ledger_stmt_t outbox_stmt = {.into = "alert_outbox",
                                       .cols = outbox_cols,
                                       .ncols = OB__N,
                                       .tail = "ON CONFLICT (alert_id) DO NOTHING"};

static const char SQL_ALERT_SENT[] =
    "UPDATE alert_outbox SET sent_at = now() WHERE alert_id = ANY($1::text[]) AND sent_at IS NULL";

/* The alert transitions since the last commit: state rows (one per key, the latest), history,
 * and the outbox; the notifications are kept in the batch to publish after commit. */
void cw_ledger_alert_stmts(cw_pipeline_t *p, batch_t *b, cw_store_job_t *job)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(p->alerts, &n);
    if (!n)
        return;
    cw_pgbin_t a[AL__N], h[HI__N], o[OB__N];
    bin_init(a, &alerts_stmt);
    bin_init(h, &history_stmt);
    bin_init(o, &outbox_stmt);
    int nout = 0, nhist = 0;
    size_t nlatest = 0;
    b->outs = cw_calloc(n, sizeof(out_alert_t));
    /* which transition is the latest of its key (it holds the key's state row): one pass from
     * the end with a set of keys seen, instead of comparing every pair */
    bool *latest = cw_calloc(n, sizeof(bool));
    size_t cap = 64;
    while (cap < 2 * n)
        cap *= 2;
    const char **seen = cw_calloc(cap, sizeof(char *));
    for (size_t i = n; i-- > 0;) {
        if (!cw_alerts_transition_stored(&t[i]))
            continue;
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (seen[j] && strcmp(seen[j], k))
            j = (j + 1) & (cap - 1);
        if (!seen[j]) {
            seen[j] = k;
            latest[i] = true;
        }
    }
    /* [L] an occurrence that fired and ended within this batch (a catch-up found it after
     * the fact), and any the engine found so: history, published flagged historic, never
     * paged. Per key: did it fire here, and is its last state here resolved. */
    uint8_t *fired_here = cw_calloc(cap, 1), *ends_resolved = cw_calloc(cap, 1);
    const char **keys = cw_calloc(cap, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (keys[j] && strcmp(keys[j], k))
            j = (j + 1) & (cap - 1);
        keys[j] = k;
        if (t[i].alert.state == CW_ALERT_FIRING && !t[i].repeat)
            fired_here[j] = 1;
        ends_resolved[j] = t[i].alert.state == CW_ALERT_RESOLVED;
    }
    bool *historic = cw_calloc(n, sizeof(bool));
    for (size_t i = 0; i < n; i++) {
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (strcmp(keys[j], k))
            j = (j + 1) & (cap - 1);
        historic[i] = t[i].historic || (fired_here[j] && ends_resolved[j] && !t[i].repeat &&
                                        t[i].alert.state != CW_ALERT_PENDING);
    }
    free(keys);
    free(fired_here);
    free(ends_resolved);
    free(seen);
    for (size_t i = 0; i < n; i++) {
        const cw_alert_t *x = &t[i].alert;
        const cw_rule_t *rule = &p->rules->rule[x->rule];
        /* a case alert that never fired (pending, or met on time from pending) is derived
         * from case state and rebuilt at every load: only what fired needs a durable row;
         * an area/worker alert's pending row is what remembers when its condition began */
        if (!cw_alerts_transition_stored(&t[i]))
            continue;
        if (latest[i]) {
            nlatest++;
            cw_pgbin_add_text(&a[AL_KEY], x->dedup_key);
            cw_pgbin_add_text(&a[AL_RULE], rule->name);
            cw_pgbin_add_int(&a[AL_RULE_VERSION], x->rule_version);
            cw_pgbin_add_text(&a[AL_FAMILY], cw_family_name(rule->family));
            cw_pgbin_add_text(&a[AL_SEVERITY], cw_severity_name(x->severity));
            cw_pgbin_add_text(&a[AL_STATE], cw_alert_state_name(x->state));
            cw_pgbin_add_text(&a[AL_RESOLUTION], cw_resolution_name(x->resolution));
            cw_pgbin_add_text(&a[AL_CASE_ID], x->case_id);
            cw_pgbin_add_text(&a[AL_SUBJECT], x->subject);
            cw_pgbin_add_text(&a[AL_AREA], x->area);
            cw_pgbin_add_text(&a[AL_WORKER], x->worker);
            cw_pgbin_add_text(&a[AL_CASE_TYPE], cw_case_type_name(x->case_type));
            cw_pgbin_add_int(&a[AL_PARTITION], x->partition);
            cw_pgbin_add_int(&a[AL_ARMED], x->armed_ms);
            cw_pgbin_add_int(&a[AL_DUE], x->due_ms);
            cw_pgbin_add_int(&a[AL_PENDING], x->pending_ms);
            cw_pgbin_add_int(&a[AL_FIRING], x->firing_ms);
            cw_pgbin_add_int(&a[AL_RESOLVED], x->resolved_ms);
            cw_pgbin_add_int(&a[AL_NOTIFIED], x->notified_ms);
            cw_pgbin_add_int(&a[AL_NOTIFY_COUNT], x->notify_count);
            cw_pgbin_add_float8(&a[AL_VALUE], x->value);
            cw_pgbin_add_float8(&a[AL_THRESHOLD], x->threshold);
            cw_pgbin_add_text(&a[AL_CAUSE_EVENT], x->cause_event_id);
            cw_pgbin_add_text(&a[AL_CAUSE_TOPIC], x->cause_topic);
            cw_pgbin_add_int(&a[AL_CAUSE_PARTITION], x->cause_partition);
            cw_pgbin_add_int(&a[AL_CAUSE_OFFSET], x->cause_offset);
            cw_pgbin_add_bool(&a[AL_SILENCED], x->silenced);
            cw_pgbin_add_int(&a[AL_ORIGIN], (int64_t)x->origin);
        }
        nhist++;
        cw_pgbin_add_text(&h[HI_ALERT_ID], t[i].alert_id);
        cw_pgbin_add_text(&h[HI_KEY], x->dedup_key);
        cw_pgbin_add_text(&h[HI_FROM], t[i].from ? cw_alert_state_name(t[i].from) : "");
        cw_pgbin_add_text(&h[HI_TO], t[i].repeat ? "firing" : cw_alert_state_name(x->state));
        cw_pgbin_add_text(&h[HI_RESOLUTION], cw_resolution_name(x->resolution));
        cw_pgbin_add_int(&h[HI_AT], t[i].at);
        cw_pgbin_add_bool(&h[HI_NOTIFIED], t[i].notify);
        cw_pgbin_add_bool(&h[HI_SILENCED], x->silenced);
        cw_pgbin_add_bool(&h[HI_REPEAT], t[i].repeat);
        cw_pgbin_add_text(&h[HI_CAUSE_EVENT], x->cause_event_id);
        cw_pgbin_add_bool(&h[HI_HISTORIC], historic[i]);
        if (t[i].notify) {
            char scope[200];
            size_t len;
            uint8_t *payload = cw_alertmsg_pack(p->rules, &t[i], historic[i], &len);
            p->stats.alerts_historic += historic[i];
            const char *key = cw_alert_scope(x, scope, sizeof(scope));
            cw_pgbin_add_text(&o[OB_ALERT_ID], t[i].alert_id);
            cw_pgbin_add_text(&o[OB_KEY], x->dedup_key);
            cw_pgbin_add_text(&o[OB_MSG_KEY], key);
            cw_pgbin_add_bytes(&o[OB_PAYLOAD], payload, len);
            cw_pgbin_add_bool(&o[OB_SILENCED], x->silenced);
            nout++;
            if (x->silenced) {
                free(payload);
            } else {
                /* history is published, not streamed live to the dashboard as news */
                b->outs[b->nouts++] = (out_alert_t){
                    cw_strdup(t[i].alert_id),
                    cw_strdup(key),
                    payload,
                    len,
                    p->on_alert && !historic[i] ? cw_alertjson_transition(&t[i], p->rules) : NULL,
                    historic[i]};
            }
        }
    }
    free(latest);
    free(historic);
    bin_add(job, &alerts_stmt, a, nlatest, NULL);
    bin_add(job, &history_stmt, h, (size_t)nhist, NULL);
    bin_add(job, &outbox_stmt, o, (size_t)nout, NULL);
    p->stats.alert_transitions += n;
    cw_alerts_clear_transitions(p->alerts);
}

void cw_ledger_alert_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    if (!p->nalert_marks)
        return;
    cw_pgarray_t ids;
    cw_pgarray_init(&ids);
    for (int i = 0; i < p->nalert_marks; i++) {
        cw_pgarray_add_text(&ids, p->alert_marks[i]);
        free(p->alert_marks[i]);
    }
    p->stats.alerts_published += (uint64_t)p->nalert_marks;
    p->nalert_marks = 0;
    cw_store_job_addp(job, SQL_ALERT_SENT, 1, (char *[]){cw_pgarray_finish(&ids)}, NULL);
}

/* The batch's dead letters: reason, detail, where they were read, original key and bytes. */
void cw_ledger_dead_letters_stmt(const batch_t *b, cw_store_job_t *job)
{
    if (!b->ndl)
        return;
    cw_pgarray_t a[DL__N];
    txt_init(a, &dead_letters_stmt);
    for (int i = 0; i < b->ndl; i++) {
        const dead_letter_t *dl = &b->dls[i];
        cw_pgarray_add_text(&a[DL_REASON], cw_reject_name(dl->reason));
        cw_pgarray_add_text(&a[DL_DETAIL], dl->detail);
        cw_pgarray_add_text(&a[DL_TOPIC], dl->topic);
        cw_pgarray_add_int(&a[DL_PARTITION], dl->partition);
        cw_pgarray_add_int(&a[DL_OFFSET], dl->offset);
        if (dl->key)
            cw_pgarray_add_bytea(&a[DL_KEY], dl->key, dl->keylen);
        else
            cw_pgarray_add_null(&a[DL_KEY]);
        cw_pgarray_add_bytea(&a[DL_PAYLOAD], dl->payload ? dl->payload : "", dl->len);
    }
    txt_add(job, &dead_letters_stmt, a, (size_t)b->ndl);
}

/* The fenced offset advance (cw_advance_offsets(), CW001 if another owner moved them): each
 * slot the batch touched, from where the batch before left it (expect) to its next offset,
 * with its stream time. */
void cw_ledger_offsets_stmt(const cw_pipeline_t *p, const batch_t *b, const int64_t *expect,
                            cw_store_job_t *job)
{
    cw_pgarray_t t, k, e, nx, st;
    cw_pgarray_init(&t);
    cw_pgarray_init(&k);
    cw_pgarray_init(&e);
    cw_pgarray_init(&nx);
    cw_pgarray_init(&st);
    for (int i = 0; i < b->nslots && i < p->nslots; i++) {
        if (b->part_next[i] < 0)
            continue;
        cw_pgarray_add_text(&t, p->slots[i].topic);
        cw_pgarray_add_int(&k, p->slots[i].partition);
        cw_pgarray_add_int(&e, expect[i]);
        cw_pgarray_add_int(&nx, b->part_next[i]);
        cw_pgarray_add_int(&st, p->slots[i].max_occurred);
    }
    cw_store_job_addp(job, SQL_OFFSETS_ADVANCE, 5,
                      (char *[]){cw_pgarray_finish(&t), cw_pgarray_finish(&k),
                                 cw_pgarray_finish(&e), cw_pgarray_finish(&nx),
                                 cw_pgarray_finish(&st)},
                      NULL);
}
