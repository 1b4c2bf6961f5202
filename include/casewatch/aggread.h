/*
 * aggread.h — read the aggregate tables into figure inputs, per scope (national and each court
 * area). The SQL is here; running it is the caller's business (blocking in casewatch report,
 * a store job in the daemon), so this module only parses PGresults and holds the rows.
 */
#ifndef CASEWATCH_AGGREAD_H
#define CASEWATCH_AGGREAD_H

#include "casewatch/figures.h"

#include <libpq-fe.h>

extern const char CW_AGGREAD_SQL_COHORT[];
extern const char CW_AGGREAD_SQL_LIVE[];
extern const char CW_AGGREAD_SQL_WORKERS[];
extern const char CW_AGGREAD_SQL_REPORTS[];
extern const char CW_AGGREAD_SQL_AREAS[];

typedef struct cw_aggread cw_aggread_t;

/** @brief Empty reader; free with cw_aggread_destroy(). */
cw_aggread_t *cw_aggread_new(void);
void cw_aggread_destroy(cw_aggread_t *r);

/** @brief Add the rows of the matching query's result (borrowed; copied). */
void cw_aggread_cohort(cw_aggread_t *r, const PGresult *res);
void cw_aggread_live(cw_aggread_t *r, const PGresult *res);
void cw_aggread_workers(cw_aggread_t *r, const PGresult *res);
void cw_aggread_reports(cw_aggread_t *r, const PGresult *res);
void cw_aggread_areas(cw_aggread_t *r, const PGresult *res);

/** @brief Court areas seen in any table, sorted (borrowed). */
const char *const *cw_aggread_area_names(const cw_aggread_t *r, size_t *n);
/** @brief Areas with prioritisation active, sorted (borrowed). */
const char *const *cw_aggread_prioritised(const cw_aggread_t *r, size_t *n);

/**
 * @brief The figure input of one scope: area NULL = national. Arrays are owned by the reader
 * and valid until the next call or destroy.
 */
void cw_aggread_input(cw_aggread_t *r, const char *area, cw_fig_input_t *out);

/** @brief National open worker-allocated cases per worker: names and counts, n entries
 * (borrowed; valid until the next call or destroy). Workers with none are skipped. */
size_t cw_aggread_caseloads(cw_aggread_t *r, const char *const **names, const int64_t **cases);

#endif
