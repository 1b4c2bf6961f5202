/*
 * batch.h — batch.c's functions, for the pipeline's modules (not installed).
 */
#ifndef CASEWATCH_BATCH_H
#define CASEWATCH_BATCH_H

#include "pipeline_int.h"

batch_t *cw_batch_new(int nslots);
void cw_dead_letter_fini(dead_letter_t *d);
void cw_batch_free(batch_t *b);
int cw_batch_size(const batch_t *b);
const char *cw_batch_ev_id(const batch_t *b, int i);
int cw_batch_id_find(const batch_t *b, const char *id);
bool cw_batch_id_add(batch_t *b, const char *id);
void cw_held_fini(held_t *h);
void cw_dead_letter_from(dead_letter_t *d, const rd_kafka_message_t *m, cw_reject_t reason,
                         const char *detail);

void cw_dl_mark_add(cw_pipeline_t *p, dl_ref_t *ref);
void cw_marks_free(dl_ref_t *marks, int n);

#endif
