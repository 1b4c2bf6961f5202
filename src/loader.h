/*
 * loader.h — loader.c's functions, for the pipeline's modules (not installed).
 */
#ifndef CASEWATCH_LOADER_H
#define CASEWATCH_LOADER_H

#include "pipeline_int.h"

int64_t cw_load_parse_i64(const char *s);
void cw_load_offsets_result(void *arg, const PGresult *res);
void cw_load_cases_result(void *arg, const PGresult *res);
void cw_load_alerts_result(void *arg, const PGresult *res);
void cw_load_areas_result(void *arg, const PGresult *res);
extern const char SQL_OFFSETS_INIT[];
extern const char SQL_OFFSETS_READ[];
extern const char SQL_CASES_READ[];
extern const char SQL_ALERTS_READ[];
extern const char SQL_AREAS_READ[];
extern const char SQL_TOPICS_RECORD[];
extern const char SQL_TOPICS_READ[];
int cw_load_topic_index(const cw_pipeline_t *p, const char *topic);
void cw_load_topics_result(void *arg, const PGresult *res);

#endif
