/*
 * board.c — one scope's board figures and their JSON (see board.h).
 */
#include "casewatch/board.h"

#include <stdlib.h>
#include <string.h>

void cw_board_compute(cw_board_t *rep, cw_aggread_t *r, const char *area, cw_day_t D,
                      const cw_workdays_t *wd)
{
    memset(rep, 0, sizeof(*rep));
    rep->scope = area ? area : "national";
    rep->prio = cw_aggread_prioritised(r, &rep->nprio);
    if (area) {
        bool p = false;
        for (size_t i = 0; i < rep->nprio; i++)
            p |= !strcmp(rep->prio[i], area);
        rep->one[0] = area;
        rep->prio = rep->one;
        rep->nprio = p ? 1 : 0;
    }
    cw_fig_input_t in;
    cw_aggread_input(r, area, &in);
    cw_figures_compute(&in, D, wd, &rep->figs, &rep->nfigs);
}

void cw_board_fini(cw_board_t *rep)
{
    free(rep->figs);
    rep->figs = NULL;
}

json_object *cw_board_json(const cw_board_t *rep, cw_day_t D)
{
    char d[16];
    cw_day_format(D, d, sizeof(d));
    json_object *root = json_object_new_object();
    json_object_object_add(root, "as_of", json_object_new_string(d));
    json_object_object_add(root, "scope", json_object_new_string(rep->scope));
    json_object *pa = json_object_new_array();
    for (size_t i = 0; i < rep->nprio; i++)
        json_object_array_add(pa, json_object_new_string(rep->prio[i]));
    json_object_object_add(root, "areas_prioritised", pa);
    json_object *arr = json_object_new_array_ext((int)rep->nfigs);
    for (size_t i = 0; i < rep->nfigs; i++) {
        const cw_figure_t *f = &rep->figs[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(f->name));
        json_object_object_add(o, "case_type", json_object_new_string(f->case_type));
        if (f->is_null)
            json_object_object_add(o, "value", NULL);
        else if (f->is_int)
            json_object_object_add(o, "value", json_object_new_int64((int64_t)f->value));
        else
            json_object_object_add(o, "value", json_object_new_double(f->value));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "figures", arr);
    return root;
}

static json_object *fig(const cw_board_t *rep, const char *name)
{
    const cw_figure_t *f = cw_figures_find(rep->figs, rep->nfigs, name, "all");
    return f && !f->is_null ? json_object_new_int64((int64_t)f->value) : NULL;
}

json_object *cw_board_areas_json(cw_aggread_t *r, cw_day_t D, const cw_workdays_t *wd)
{
    char d[16];
    cw_day_format(D, d, sizeof(d));
    json_object *root = json_object_new_object();
    json_object_object_add(root, "as_of", json_object_new_string(d));
    json_object *arr = json_object_new_array();
    size_t n;
    const char *const *names = cw_aggread_area_names(r, &n);
    for (size_t i = 0; i < n; i++) {
        cw_board_t rep;
        cw_board_compute(&rep, r, names[i], D, wd);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "area", json_object_new_string(names[i]));
        json_object_object_add(o, "open_cases", fig(&rep, "open_cases"));
        json_object_object_add(o, "open_52w_cases", fig(&rep, "open_52w_cases"));
        json_object_object_add(o, "open_100w_cases", fig(&rep, "open_100w_cases"));
        json_object_object_add(o, "prioritised", json_object_new_boolean(rep.nprio > 0));
        json_object_array_add(arr, o);
        cw_board_fini(&rep);
    }
    json_object_object_add(root, "areas", arr);
    return root;
}
