/*
 * ledger.h — ledger.c's functions, for the pipeline's modules (not installed).
 */
#ifndef CASEWATCH_LEDGER_H
#define CASEWATCH_LEDGER_H

#include "pipeline_int.h"

void cw_ledger_events_stmt(const cw_pipeline_t *p, const batch_t *b, cw_store_job_t *job,
                           cw_store_result_fn on_result);
void cw_ledger_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job);
void cw_ledger_cases_stmt(cw_pipeline_t *p, cw_store_job_t *job);
void cw_ledger_agg_stmts(cw_pipeline_t *p, cw_store_job_t *job);
void cw_ledger_areas_stmt(cw_pipeline_t *p, cw_store_job_t *job);
void cw_ledger_anomalies_stmt(batch_t *b, cw_store_job_t *job);
void cw_ledger_alert_stmts(cw_pipeline_t *p, batch_t *b, cw_store_job_t *job);
void cw_ledger_alert_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job);

void cw_ledger_dead_letters_stmt(const batch_t *b, cw_store_job_t *job);
void cw_ledger_offsets_stmt(const cw_pipeline_t *p, const batch_t *b, const int64_t *expect,
                            cw_store_job_t *job);

#endif
