/*
 * arearules.c — the area and worker rules over aggregate rows (pure): each court area's
 * figures from a snapshot of the aggregate tables (cw_aggread), its facts (prioritised, duty
 * share, demand growth) and the condition rules on them, and each worker's caseload; what
 * they imply goes to the alerts engine as scope evaluations ("area:…", "worker:…"). Beside
 * watch.c, which does the same for cases. The pipeline decides when (a metrics snapshot, as
 * the group's leader) and commits what it produced.
 */
#include "arearules.h"
#include "casewatch/figures.h"

#include <stdlib.h>
#include <string.h>

typedef struct stale_ctx {
    const char *const *names;
    size_t n;
    char **stale;
    size_t nstale;
} stale_ctx_t;

static void find_stale_workers(void *arg, const cw_alert_t *x)
{
    stale_ctx_t *sc = arg;
    if (x->rule != CW_RULE_WORKER_CASELOAD || !*x->worker)
        return;
    for (size_t i = 0; i < sc->n; i++)
        if (!strcmp(sc->names[i], x->worker))
            return;
    sc->stale = cw_realloc(sc->stale, sizeof(char *) * (sc->nstale + 1));
    sc->stale[sc->nstale++] = cw_strdup(x->worker);
}

void cw_arearules_evaluate(cw_alerts_t *alerts, const cw_rules_t *R, cw_casebook_t *book,
                           const cw_workdays_t *wd, struct cw_aggread *r, cw_day_t day, int64_t now)
{
    size_t na;
    const char *const *areas = cw_aggread_area_names(r, &na);
    char **names = cw_calloc(na + 1, sizeof(char *)); /* the reader reuses its buffers */
    for (size_t i = 0; i < na; i++)
        names[i] = cw_strdup(areas[i]);
    size_t nprio;
    const char *const *prio = cw_aggread_prioritised(r, &nprio);
    char **prio_names = cw_calloc(nprio + 1, sizeof(char *));
    for (size_t i = 0; i < nprio; i++)
        prio_names[i] = cw_strdup(prio[i]);
    for (size_t i = 0; i < na; i++) {
        cw_fig_input_t in;
        cw_aggread_input(r, names[i], &in);
        cw_figure_t *f;
        size_t nf;
        cw_figures_compute(&in, day, wd, &f, &nf);
        uint32_t aid = cw_casebook_intern(book, names[i]);
        bool prioritised = false;
        for (size_t k = 0; k < nprio; k++)
            prioritised |= !strcmp(prio_names[k], names[i]);
        cw_area_facts_t facts;
        cw_rules_area_facts(f, nf, prioritised, &facts);
        cw_obligation_t o[CW_RULES_AREA_MAX];
        size_t n = cw_rules_area(R, aid, &facts, o);
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, names[i], NULL);
        cw_alerts_evaluate_scope(alerts, R, scope, names[i], NULL, o, n, now);
        free(f);
    }
    /* workers over their caseload threshold, and those whose alert can now resolve */
    const char *const *wn;
    const int64_t *wc;
    size_t nw = cw_aggread_caseloads(r, &wn, &wc);
    const cw_rule_t *rw = &R->rule[CW_RULE_WORKER_CASELOAD];
    const char **over = cw_calloc(nw + 1, sizeof(char *));
    size_t nover = 0;
    for (size_t i = 0; i < nw && rw->enabled; i++) {
        if (wc[i] <= rw->threshold)
            continue;
        over[nover++] = wn[i];
        cw_obligation_t o = {.rule = CW_RULE_WORKER_CASELOAD, .value = (double)wc[i]};
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, "", wn[i]);
        cw_alerts_evaluate_scope(alerts, R, scope, "", wn[i], &o, 1, now);
    }
    stale_ctx_t sc = {over, nover, NULL, 0};
    cw_alerts_foreach(alerts, find_stale_workers, &sc);
    for (size_t i = 0; i < sc.nstale; i++) {
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, "", sc.stale[i]);
        cw_alerts_evaluate_scope(alerts, R, scope, "", sc.stale[i], NULL, 0, now);
        free(sc.stale[i]);
    }
    free(sc.stale);
    free(over);
    for (size_t i = 0; i < na; i++)
        free(names[i]);
    free(names);
    for (size_t i = 0; i < nprio; i++)
        free(prio_names[i]);
    free(prio_names);
}
