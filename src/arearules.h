/*
 * arearules.h — area and worker rules over a snapshot of the aggregate tables (pure).
 */
#ifndef CASEWATCH_AREARULES_H
#define CASEWATCH_AREARULES_H

#include "casewatch/aggread.h"
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/rules.h"
#include "casewatch/workdays.h"

/**
 * @brief Evaluate every area's condition rules from its figures as of day, and every
 * worker's caseload rule, from the aggregate snapshot r, at now: the alerts engine records
 * what fires and resolves (its transitions, for the caller to commit). Areas are interned in
 * book.
 */
void cw_arearules_evaluate(cw_alerts_t *alerts, const cw_rules_t *R, cw_casebook_t *book,
                           const cw_workdays_t *wd, struct cw_aggread *r, cw_day_t day,
                           int64_t now);

#endif
