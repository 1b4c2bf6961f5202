/*
 * publisher.h — the idempotent Kafka producer for casewatch's outputs (dead letters now;
 * alerts and metric snapshots later), with delivery reports delivered on the event loop.
 *
 * Messages are only ever produced for rows already committed to PostgreSQL (an outbox): the
 * delivery report lets the owner mark the row sent. A crash in between re-sends after restart,
 * so delivery is at-least-once and every output carries an id consumers can de-duplicate on.
 */
#ifndef CASEWATCH_PUBLISHER_H
#define CASEWATCH_PUBLISHER_H

#include "casewatch/common.h"
#include "casewatch/config.h"

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

typedef struct cw_publisher cw_publisher_t;

/** Delivery report: err 0 = stored by the broker; opaque is what was given to send. */
typedef void (*cw_publisher_dr_fn)(void *arg, void *opaque, rd_kafka_resp_err_t err);

/** @brief Create the producer. @returns NULL with errstr on failure; free with _destroy. */
cw_publisher_t *cw_publisher_new(struct event_base *base, const cw_config_t *cfg,
                                 cw_publisher_dr_fn on_delivery, void *arg, char *errstr,
                                 size_t errsz);

/**
 * @brief Queue one message (copies key and value).
 * @param headers  takes ownership on CW_OK (may be NULL); on failure the caller still owns it
 * @param opaque   handed back in the delivery report
 * @returns CW_OK, CW_ERR_AGAIN (local queue full: retry after the loop turned) or CW_ERR_KAFKA.
 */
CW_WUR cw_err_t cw_publisher_send(cw_publisher_t *p, const char *topic, const void *key,
                                  size_t keylen, const void *value, size_t len,
                                  rd_kafka_headers_t *headers, void *opaque);

/** @brief Messages queued and not yet reported. */
int cw_publisher_inflight(cw_publisher_t *p);

/** @brief Wait up to timeout_ms for outstanding deliveries (shutdown only: it blocks). */
void cw_publisher_flush(cw_publisher_t *p, int timeout_ms);

void cw_publisher_destroy(cw_publisher_t *p);

#endif
