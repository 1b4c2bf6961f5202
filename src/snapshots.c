/*
 * snapshots.c — metric snapshots: aggregate tables -> figures -> MetricsSnapshot -> topic.
 *
 * Owns its timer and, while a snapshot is being read, the cw_aggread_t. The store job is one
 * REPEATABLE READ transaction so all five tables are read at one instant.
 */
#include "casewatch/snapshots.h"
#include "casewatch/aggread.h"
#include "casewatch/casebook.h"
#include "casewatch/figures.h"
#include "casewatch/log.h"
#include "casewatch/v1/metrics.pb-c.h"

#include <stdlib.h>
#include <string.h>

struct cw_snapshots {
    struct event_base *base;
    cw_store_t *store;
    cw_publisher_t *pub;
    const cw_workdays_t *wd;
    char *topic;
    char *instance;
    struct event *timer;
    cw_aggread_t *reading; /* non-NULL while a snapshot job runs */
    bool *alive;           /* cleared on destroy so a late job callback does nothing */
    uint64_t published;
    cw_snapshots_hook_fn hook;
    void *hook_arg;
};

void cw_snapshots_set_hook(cw_snapshots_t *s, cw_snapshots_hook_fn fn, void *arg)
{
    s->hook = fn;
    s->hook_arg = arg;
}

typedef struct job_ctx {
    cw_snapshots_t *s;
    bool *alive;
    cw_aggread_t *r;
} job_ctx_t;

static void r_cohort(void *arg, const PGresult *res)
{
    cw_aggread_cohort(((job_ctx_t *)arg)->r, res);
}
static void r_live(void *arg, const PGresult *res)
{
    cw_aggread_live(((job_ctx_t *)arg)->r, res);
}
static void r_workers(void *arg, const PGresult *res)
{
    cw_aggread_workers(((job_ctx_t *)arg)->r, res);
}
static void r_reports(void *arg, const PGresult *res)
{
    cw_aggread_reports(((job_ctx_t *)arg)->r, res);
}
static void r_areas(void *arg, const PGresult *res)
{
    cw_aggread_areas(((job_ctx_t *)arg)->r, res);
}

static int type_of_group(const char *g)
{
    for (int t = 1; t <= 6; t++)
        if (!strcmp(cw_case_type_name(t), g))
            return t;
    return 0;
}

static void publish_scope(cw_snapshots_t *s, cw_aggread_t *r, const char *area, cw_day_t D,
                          int64_t now)
{
    cw_fig_input_t in;
    cw_aggread_input(r, area, &in);
    cw_figure_t *f;
    size_t n;
    cw_figures_compute(&in, D, s->wd, &f, &n);

    Casewatch__V1__MetricsSnapshot m = CASEWATCH__V1__METRICS_SNAPSHOT__INIT;
    Casewatch__V1__MetricsSnapshot__Figure *fig = cw_calloc(n + 1, sizeof(*fig));
    Casewatch__V1__MetricsSnapshot__Figure **figp = cw_calloc(n + 1, sizeof(*figp));
    for (size_t i = 0; i < n; i++) {
        casewatch__v1__metrics_snapshot__figure__init(&fig[i]);
        fig[i].name = (char *)f[i].name;
        fig[i].court_area = (char *)(area ? area : "");
        fig[i].case_group = (char *)f[i].case_type;
        fig[i].case_type = type_of_group(f[i].case_type);
        fig[i].value = f[i].value;
        fig[i].undefined = f[i].is_null;
        figp[i] = &fig[i];
    }
    m.as_of = cw_day_to_ms(D);
    m.produced_at = now;
    m.instance = s->instance;
    m.n_figures = n;
    m.figures = figp;
    size_t len = casewatch__v1__metrics_snapshot__get_packed_size(&m);
    uint8_t *buf = cw_malloc(len ? len : 1);
    casewatch__v1__metrics_snapshot__pack(&m, buf);
    const char *key = area ? area : "national";
    if (cw_publisher_send(s->pub, s->topic, key, strlen(key), buf, len, NULL, NULL) == CW_OK)
        s->published++;
    free(buf);
    free(fig);
    free(figp);
    free(f);
}

static void job_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    job_ctx_t *jc = arg;
    if (!*jc->alive) { /* the owner went away while the job ran */
        free(jc->alive);
        cw_aggread_destroy(jc->r);
        free(jc);
        return;
    }
    cw_snapshots_t *s = jc->s;
    s->reading = NULL;
    if (err) {
        if (err != CW_ERR_AGAIN)
            cw_log_warn("snapshots: reading aggregates failed: [%s] %s", sqlstate, msg);
    } else {
        int64_t now = cw_now_ms();
        cw_day_t D = cw_day_from_ms(now);
        publish_scope(s, jc->r, NULL, D, now);
        size_t na;
        const char *const *areas = cw_aggread_area_names(jc->r, &na);
        /* the area list lives in the reader; copy before publish_scope reuses its buffers */
        char **copy = cw_calloc(na + 1, sizeof(char *));
        for (size_t i = 0; i < na; i++)
            copy[i] = cw_strdup(areas[i]);
        for (size_t i = 0; i < na; i++)
            publish_scope(s, jc->r, copy[i], D, now);
        for (size_t i = 0; i < na; i++)
            free(copy[i]);
        free(copy);
        cw_log_debug("snapshots: published %zu snapshot(s)", na + 1);
        if (s->hook)
            s->hook(s->hook_arg, jc->r, D);
    }
    cw_aggread_destroy(jc->r);
    free(jc);
}

void cw_snapshots_take(cw_snapshots_t *s)
{
    if (s->reading || !cw_store_ready(s->store))
        return;
    job_ctx_t *jc = cw_malloc(sizeof(*jc));
    jc->s = s;
    jc->alive = s->alive;
    jc->r = s->reading = cw_aggread_new();
    cw_store_job_t *job = cw_store_job_new(job_done, jc);
    cw_store_job_add0(job, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL);
    cw_store_job_add0(job, CW_AGGREAD_SQL_COHORT, r_cohort);
    cw_store_job_add0(job, CW_AGGREAD_SQL_LIVE, r_live);
    cw_store_job_add0(job, CW_AGGREAD_SQL_WORKERS, r_workers);
    cw_store_job_add0(job, CW_AGGREAD_SQL_REPORTS, r_reports);
    cw_store_job_add0(job, CW_AGGREAD_SQL_AREAS, r_areas);
    cw_store_job_add0(job, "COMMIT", NULL);
    cw_store_submit(s->store, job);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    cw_snapshots_take(arg);
}

cw_snapshots_t *cw_snapshots_new(struct event_base *base, cw_store_t *store,
                                 cw_publisher_t *publisher, const cw_workdays_t *wd,
                                 const char *topic, const char *instance, int interval_ms)
{
    cw_snapshots_t *s = cw_calloc(1, sizeof(*s));
    s->base = base;
    s->store = store;
    s->pub = publisher;
    s->wd = wd;
    s->topic = cw_strdup(topic);
    s->instance = cw_strdup(instance);
    s->alive = cw_malloc(sizeof(bool));
    *s->alive = true;
    if (interval_ms > 0) {
        s->timer = event_new(base, -1, EV_PERSIST, on_timer, s);
        struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
        event_add(s->timer, &tv);
    }
    return s;
}

uint64_t cw_snapshots_published(const cw_snapshots_t *s)
{
    return s->published;
}

void cw_snapshots_destroy(cw_snapshots_t *s)
{
    if (!s)
        return;
    if (s->timer)
        event_free(s->timer);
    if (s->reading) /* a job is still queued: it frees its own context and the flag */
        *s->alive = false;
    else
        free(s->alive);
    free(s->topic);
    free(s->instance);
    free(s);
}
