/*
 * watch.c — evaluation and deadline ticks over casebook + rules + alerts + deadlines. Pure.
 * Owns nothing: see watch.h.
 */
#include "casewatch/watch.h"

typedef struct eval_ctx {
    const cw_watch_t *w;
    cw_eval_time_t t;
    const cw_cause_t *cause;
    int64_t next;
    int32_t partition; /* of the (first) case evaluated, for its heap */
} eval_ctx_t;

const cw_prio_change_t *cw_watch_area_prioritised(void *book, uint32_t area, uint32_t *n)
{
    const cw_area_t *a = cw_casebook_area_find(book, area);
    *n = a ? a->nchanges : 0;
    return a ? a->changes : NULL;
}

static void evaluate_one(void *arg, cw_case_t *c)
{
    eval_ctx_t *e = arg;
    cw_eval_time_t t = e->t;
    if (e->w->time) { /* this case's partition's clock */
        e->w->time->clock(e->w->time->arg, c->partition, &t);
        t.occurred_ms = e->t.occurred_ms;
        t.seen_ms = e->t.seen_ms;
        t.after_fact = e->t.after_fact;
    }
    if (e->partition < 0)
        e->partition = c->partition;
    if (t.now <= 0) { /* its clock has not started: look again at the first tick */
        if (1 < e->next)
            e->next = 1;
        return;
    }
    int64_t n = cw_alerts_evaluate_timed(e->w->alerts, e->w->rules, e->w->book, c, e->w->wd,
                                         cw_watch_area_prioritised, e->w->book, &t, e->cause);
    if (n < e->next)
        e->next = n;
    if (n != INT64_MAX && n <= t.now && t.now + 1000 < e->next)
        e->next = t.now + 1000; /* never in the past: a tick must make progress */
}

static cw_deadlines_t *heap_of(const cw_watch_t *w, int32_t partition)
{
    return w->time ? w->time->heap(w->time->arg, partition) : w->deadlines;
}

static void evaluate_key(const cw_watch_t *w, uint64_t key, const cw_eval_time_t *t,
                         const cw_cause_t *cause)
{
    eval_ctx_t e = {w, *t, cause, INT64_MAX, -1};
    cw_casebook_foreach_hash(w->book, key, evaluate_one, &e);
    if (e.partition < 0 && !w->time && t->now <= 0) {
        cw_deadlines_schedule(w->deadlines, key, 1); /* the clock has not started */
        return;
    }
    cw_deadlines_t *d = heap_of(w, e.partition < 0 ? 0 : e.partition);
    if (e.next == INT64_MAX)
        cw_deadlines_cancel(d, key);
    else
        cw_deadlines_schedule(d, key, e.next);
}

void cw_watch_evaluate(const cw_watch_t *w, uint64_t key, int64_t now, const cw_cause_t *cause)
{
    cw_watch_evaluate_event(w, key, now, cause, 0);
}

void cw_watch_evaluate_event(const cw_watch_t *w, uint64_t key, int64_t now,
                             const cw_cause_t *cause, int64_t occurred_ms)
{
    cw_eval_time_t t = {.now = now, .occurred_ms = occurred_ms, .live = true};
    evaluate_key(w, key, &t, cause);
}

void cw_watch_evaluate_timed(const cw_watch_t *w, uint64_t key, const cw_eval_time_t *t,
                             const cw_cause_t *cause)
{
    evaluate_key(w, key, t, cause);
}

typedef struct all_ctx {
    const cw_watch_t *w;
    int64_t now;
} all_ctx_t;

static void evaluate_all_one(void *arg, cw_case_t *c)
{
    all_ctx_t *a = arg;
    cw_watch_evaluate(a->w, c->hash, a->now, NULL);
}

void cw_watch_evaluate_all(const cw_watch_t *w, int64_t now)
{
    all_ctx_t a = {w, now};
    cw_casebook_foreach(w->book, evaluate_all_one, &a);
}

typedef struct area_ctx {
    const cw_watch_t *w;
    uint32_t area;
    cw_eval_time_t t;
    const cw_cause_t *cause;
} area_ctx_t;

static void evaluate_area_one(void *arg, cw_case_t *c)
{
    area_ctx_t *a = arg;
    if (c->area == a->area)
        evaluate_key(a->w, c->hash, &a->t, a->cause);
}

void cw_watch_evaluate_area(const cw_watch_t *w, uint32_t area, const cw_cause_t *cause,
                            int64_t occurred_ms)
{
    area_ctx_t a = {w, area, {.occurred_ms = occurred_ms, .live = true, .after_fact = true},
                    cause};
    cw_casebook_foreach(w->book, evaluate_area_one, &a);
}

size_t cw_watch_tick_partition(const cw_watch_t *w, int32_t partition, size_t max)
{
    cw_eval_time_t t = {0};
    w->time->clock(w->time->arg, partition, &t);
    cw_deadlines_t *d = w->time->heap(w->time->arg, partition);
    uint64_t key;
    int64_t due;
    size_t n = 0;
    while (n < max && t.now > 0 && cw_deadlines_pop_due(d, t.now, &key, &due)) {
        evaluate_key(w, key, &t, NULL);
        n++;
    }
    return n;
}

size_t cw_watch_tick(const cw_watch_t *w, int64_t now, size_t max)
{
    uint64_t key;
    int64_t due;
    size_t n = 0;
    while (n < max && now > 0 && cw_deadlines_pop_due(w->deadlines, now, &key, &due)) {
        cw_watch_evaluate(w, key, now, NULL);
        n++;
    }
    return n;
}

int64_t cw_watch_event_clock(int64_t watermark, int64_t lateness_ms)
{
    return watermark ? watermark - lateness_ms : 0;
}
