/*
 * aggread.c — aggregate rows from PostgreSQL into per-scope figure inputs.
 *
 * Owns copies of every row (with interned area names) and the per-scope arrays it hands out.
 */
#include "casewatch/aggread.h"
#include "casewatch/casebook.h"

#include <stdlib.h>
#include <string.h>

const char CW_AGGREAD_SQL_COHORT[] =
    "SELECT court_area, case_type, start_day - date '1970-01-01',"
    " CASE WHEN close_day = 'infinity' THEN 2147483647 ELSE close_day - date '1970-01-01' END,"
    " cases, children FROM agg_cohort WHERE cases <> 0 OR children <> 0";
const char CW_AGGREAD_SQL_LIVE[] =
    "SELECT court_area, case_type, metric, value FROM agg_live WHERE value <> 0";
const char CW_AGGREAD_SQL_WORKERS[] =
    "SELECT worker_id, court_area, cases FROM agg_workers WHERE cases <> 0";
const char CW_AGGREAD_SQL_REPORTS[] =
    "SELECT court_area, case_type, report_kind, filed_day - date '1970-01-01', on_time,"
    " extended, reports FROM agg_reports WHERE reports <> 0";
const char CW_AGGREAD_SQL_AREAS[] = "SELECT court_area, prioritised FROM areas";

typedef struct row_c {
    int area;
    cw_fig_cohort_t v;
} row_c;
typedef struct row_l {
    int area;
    cw_fig_live_t v;
} row_l;
typedef struct row_r {
    int area;
    cw_fig_report_t v;
} row_r;
typedef struct row_w {
    int area;
    int worker;
    int64_t cases;
} row_w;

struct cw_aggread {
    char **names; /* interned strings: areas and workers */
    int nnames;
    int *area_ids; /* which names are areas */
    int nareas;
    const char **area_sorted;
    const char **prio_sorted;
    size_t nprio;
    row_c *c;
    size_t nc;
    row_l *l;
    size_t nl;
    row_r *rp;
    size_t nr;
    row_w *w;
    size_t nw;
    bool *prioritised; /* by name id */
    /* scope buffers */
    cw_fig_cohort_t *bc;
    cw_fig_live_t *bl;
    cw_fig_report_t *br;
    int64_t *bw;
    const char **cl_names;
    int64_t *cl_cases;
};

static int name_id(cw_aggread_t *r, const char *s)
{
    for (int i = 0; i < r->nnames; i++)
        if (!strcmp(r->names[i], s))
            return i;
    r->names = cw_realloc(r->names, sizeof(char *) * (size_t)(r->nnames + 1));
    r->prioritised = cw_realloc(r->prioritised, sizeof(bool) * (size_t)(r->nnames + 1));
    r->prioritised[r->nnames] = false;
    r->names[r->nnames] = cw_strdup(s);
    return r->nnames++;
}

static int area_id(cw_aggread_t *r, const char *s)
{
    int id = name_id(r, s);
    for (int i = 0; i < r->nareas; i++)
        if (r->area_ids[i] == id)
            return id;
    r->area_ids = cw_realloc(r->area_ids, sizeof(int) * (size_t)(r->nareas + 1));
    r->area_ids[r->nareas++] = id;
    return id;
}

static uint8_t type_of(const char *s)
{
    for (int t = 1; t <= 6; t++)
        if (!strcmp(cw_case_type_name(t), s))
            return (uint8_t)t;
    return 0;
}

cw_aggread_t *cw_aggread_new(void)
{
    return cw_calloc(1, sizeof(cw_aggread_t));
}

void cw_aggread_destroy(cw_aggread_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    free(r->area_ids);
    free(r->area_sorted);
    free(r->prio_sorted);
    free(r->prioritised);
    free(r->c);
    free(r->l);
    free(r->rp);
    free(r->w);
    free(r->bc);
    free(r->bl);
    free(r->br);
    free(r->bw);
    free(r->cl_names);
    free(r->cl_cases);
    free(r);
}

size_t cw_aggread_caseloads(cw_aggread_t *r, const char *const **names, const int64_t **cases)
{
    free(r->cl_names);
    free(r->cl_cases);
    int64_t *sum = cw_calloc((size_t)r->nnames + 1, sizeof(int64_t));
    for (size_t i = 0; i < r->nw; i++)
        sum[r->w[i].worker] += r->w[i].cases;
    r->cl_names = cw_calloc((size_t)r->nnames + 1, sizeof(char *));
    r->cl_cases = cw_calloc((size_t)r->nnames + 1, sizeof(int64_t));
    size_t n = 0;
    for (int i = 0; i < r->nnames; i++) {
        if (sum[i] <= 0)
            continue;
        r->cl_names[n] = r->names[i];
        r->cl_cases[n++] = sum[i];
    }
    free(sum);
    *names = r->cl_names;
    *cases = r->cl_cases;
    return n;
}

#define APPEND(arr, n, val)                                                                        \
    do {                                                                                           \
        (arr) = cw_realloc((arr), sizeof(*(arr)) * ((n) + 1));                                     \
        (arr)[(n)++] = (val);                                                                      \
    } while (0)

void cw_aggread_cohort(cw_aggread_t *r, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        row_c row = {area_id(r, PQgetvalue(res, i, 0)),
                     {type_of(PQgetvalue(res, i, 1)), atoi(PQgetvalue(res, i, 2)),
                      atoi(PQgetvalue(res, i, 3)), atoll(PQgetvalue(res, i, 4)),
                      atoll(PQgetvalue(res, i, 5))}};
        APPEND(r->c, r->nc, row);
    }
}

void cw_aggread_live(cw_aggread_t *r, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int metric = -1;
        for (int m = 0; m < CW_LIVE__COUNT; m++)
            if (!strcmp(cw_live_metric_name(m), PQgetvalue(res, i, 2)))
                metric = m;
        if (metric < 0)
            continue;
        row_l row = {area_id(r, PQgetvalue(res, i, 0)),
                     {type_of(PQgetvalue(res, i, 1)), (uint8_t)metric,
                      atoll(PQgetvalue(res, i, 3))}};
        APPEND(r->l, r->nl, row);
    }
}

void cw_aggread_workers(cw_aggread_t *r, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        row_w row = {area_id(r, PQgetvalue(res, i, 1)), name_id(r, PQgetvalue(res, i, 0)),
                     atoll(PQgetvalue(res, i, 2))};
        APPEND(r->w, r->nw, row);
    }
}

void cw_aggread_reports(cw_aggread_t *r, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        uint8_t kind = 0;
        for (int k = 1; k <= 6; k++)
            if (!strcmp(cw_report_kind_name(k), PQgetvalue(res, i, 2)))
                kind = (uint8_t)k;
        row_r row = {area_id(r, PQgetvalue(res, i, 0)),
                     {type_of(PQgetvalue(res, i, 1)), kind, atoi(PQgetvalue(res, i, 3)),
                      PQgetvalue(res, i, 4)[0] == 't', PQgetvalue(res, i, 5)[0] == 't',
                      atoll(PQgetvalue(res, i, 6))}};
        APPEND(r->rp, r->nr, row);
    }
}

void cw_aggread_areas(cw_aggread_t *r, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int id = area_id(r, PQgetvalue(res, i, 0));
        r->prioritised[id] = PQgetvalue(res, i, 1)[0] == 't';
    }
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *const *cw_aggread_area_names(const cw_aggread_t *rc, size_t *n)
{
    cw_aggread_t *r = (cw_aggread_t *)rc;
    free(r->area_sorted);
    r->area_sorted = cw_malloc(sizeof(char *) * (size_t)(r->nareas + 1));
    for (int i = 0; i < r->nareas; i++)
        r->area_sorted[i] = r->names[r->area_ids[i]];
    qsort(r->area_sorted, (size_t)r->nareas, sizeof(char *), str_cmp);
    *n = (size_t)r->nareas;
    return r->area_sorted;
}

const char *const *cw_aggread_prioritised(const cw_aggread_t *rc, size_t *n)
{
    cw_aggread_t *r = (cw_aggread_t *)rc;
    free(r->prio_sorted);
    r->prio_sorted = cw_malloc(sizeof(char *) * (size_t)(r->nareas + 1));
    r->nprio = 0;
    for (int i = 0; i < r->nareas; i++)
        if (r->prioritised[r->area_ids[i]])
            r->prio_sorted[r->nprio++] = r->names[r->area_ids[i]];
    qsort(r->prio_sorted, r->nprio, sizeof(char *), str_cmp);
    *n = r->nprio;
    return r->prio_sorted;
}

void cw_aggread_input(cw_aggread_t *r, const char *area, cw_fig_input_t *out)
{
    int aid = -1;
    if (area) {
        for (int i = 0; i < r->nnames; i++)
            if (!strcmp(r->names[i], area))
                aid = i;
        if (aid < 0)
            aid = -2; /* unknown area: nothing matches */
    }
    free(r->bc);
    free(r->bl);
    free(r->br);
    free(r->bw);
    r->bc = cw_malloc(sizeof(cw_fig_cohort_t) * (r->nc + 1));
    r->bl = cw_malloc(sizeof(cw_fig_live_t) * (r->nl + 1));
    r->br = cw_malloc(sizeof(cw_fig_report_t) * (r->nr + 1));
    r->bw = cw_calloc((size_t)r->nnames + 1, sizeof(int64_t));
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < r->nc; i++)
        if (aid == -1 || r->c[i].area == aid)
            r->bc[out->ncohort++] = r->c[i].v;
    for (size_t i = 0; i < r->nl; i++)
        if (aid == -1 || r->l[i].area == aid)
            r->bl[out->nlive++] = r->l[i].v;
    for (size_t i = 0; i < r->nr; i++)
        if (aid == -1 || r->rp[i].area == aid)
            r->br[out->nreports++] = r->rp[i].v;
    /* caseload: a worker's open cases in the scope, summed over areas nationally */
    for (size_t i = 0; i < r->nw; i++)
        if (aid == -1 || r->w[i].area == aid)
            r->bw[r->w[i].worker] += r->w[i].cases;
    out->cohort = r->bc;
    out->live = r->bl;
    out->reports = r->br;
    out->worker_cases = r->bw;
    out->nworkers = (size_t)r->nnames;
    if (aid == -1) {
        size_t np;
        cw_aggread_prioritised(r, &np);
        out->prioritised = (int)np;
    } else {
        out->prioritised = aid >= 0 && r->prioritised[aid] ? 1 : 0;
    }
}
