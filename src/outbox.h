/*
 * outbox.h — outbox.c's functions, for the pipeline's modules (not installed).
 */
#ifndef CASEWATCH_OUTBOX_H
#define CASEWATCH_OUTBOX_H

#include "pipeline_int.h"

void cw_outbox_dead_letter(cw_pipeline_t *p, const char *topic, int32_t partition, int64_t offset,
                           const char *reason, const char *detail, const void *key, size_t keylen,
                           const void *payload, size_t len, rd_kafka_headers_t *orig_headers);
void cw_outbox_on_delivery(void *arg, void *opaque, rd_kafka_resp_err_t err);
void cw_outbox_alert(cw_pipeline_t *p, const char *alert_id, const char *key, const void *payload,
                     size_t len);

#endif
