/*
 * watch.c — evaluation and deadline ticks over casebook + rules + alerts + deadlines. Pure.
 * Owns nothing: see watch.h.
 */
#include "casewatch/watch.h"

typedef struct eval_ctx {
    const cw_watch_t *w;
    int64_t now;
    const cw_cause_t *cause;
    int64_t occurred_ms;
    int64_t next;
} eval_ctx_t;

bool cw_watch_area_prioritised(void *book, uint32_t area)
{
    const cw_area_t *a = cw_casebook_area_find(book, area);
    return a && a->prioritised;
}

static void evaluate_one(void *arg, cw_case_t *c)
{
    eval_ctx_t *e = arg;
    int64_t n = cw_alerts_evaluate_event(e->w->alerts, e->w->rules, e->w->book, c, e->w->wd,
                                         cw_watch_area_prioritised, e->w->book, e->now, e->cause,
                                         e->occurred_ms);
    if (n < e->next)
        e->next = n;
}

void cw_watch_evaluate(const cw_watch_t *w, uint64_t key, int64_t now, const cw_cause_t *cause)
{
    cw_watch_evaluate_event(w, key, now, cause, 0);
}

void cw_watch_evaluate_event(const cw_watch_t *w, uint64_t key, int64_t now,
                             const cw_cause_t *cause, int64_t occurred_ms)
{
    if (now <= 0) { /* event clock before time exists: look at it at the first tick */
        cw_deadlines_schedule(w->deadlines, key, 1);
        return;
    }
    eval_ctx_t e = {w, now, cause, occurred_ms, INT64_MAX};
    cw_casebook_foreach_hash(w->book, key, evaluate_one, &e);
    if (e.next == INT64_MAX)
        cw_deadlines_cancel(w->deadlines, key);
    else /* never in the past: a tick must make progress */
        cw_deadlines_schedule(w->deadlines, key, e.next > now ? e.next : now + 1000);
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
