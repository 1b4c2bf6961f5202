/*
 * board.h — the board figures of one scope (national or a court area) as computed from the
 * aggregates read by aggread, and as JSON. Pure: shared by casewatch-report and the admin
 * API's /report.
 */
#ifndef CASEWATCH_BOARD_H
#define CASEWATCH_BOARD_H

#include "casewatch/aggread.h"
#include "casewatch/figures.h"

#include <json-c/json.h>

/** One scope's figures. */
typedef struct cw_board {
    cw_figure_t *figs; /**< owned */
    size_t nfigs;
    const char *scope;       /**< "national" or the area (borrowed) */
    const char *const *prio; /**< prioritised areas in the scope (borrowed) */
    size_t nprio;
    const char *one[1];
} cw_board_t;

/**
 * @brief Compute the figures for area (NULL = national) as of day D.
 * @param r aggregates (borrowed; must outlive rep)
 */
void cw_board_compute(cw_board_t *rep, cw_aggread_t *r, const char *area, cw_day_t D,
                      const cw_workdays_t *wd);
void cw_board_fini(cw_board_t *rep);

/** @brief {"as_of", "scope", "areas_prioritised": [...], "figures": [{name, case_type, value}]} */
json_object *cw_board_json(const cw_board_t *rep, cw_day_t D);

/**
 * @brief Per court area, the open-case counts the dashboard charts:
 * {"as_of", "areas": [{"area", "open_cases", "open_52w_cases", "open_100w_cases",
 * "prioritised"}]}, in area name order.
 */
json_object *cw_board_areas_json(cw_aggread_t *r, cw_day_t D, const cw_workdays_t *wd);

#endif
