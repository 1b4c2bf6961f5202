/*
 * consumer.h — the Kafka consumer-group member, woken through the event loop.
 *
 * librdkafka signals the consumer queue becoming non-empty by writing to a pipe
 * (rd_kafka_queue_io_event_enable); the loop drains the pipe, then polls with timeout 0 until
 * the queue is empty (bounded per wakeup so the loop stays fair). A slow timer polls anyway so
 * rebalances and max.poll.interval never depend on traffic.
 *
 * Rebalances are handed to the owner and finished later: on an assignment the owner loads
 * state and offsets from PostgreSQL (asynchronously) and then calls cw_consumer_assign() with
 * those offsets; on a revocation it finishes its batch and calls cw_consumer_unassign().
 * Kafka's committed offsets are never used (no commits are made at all).
 */
#ifndef CASEWATCH_CONSUMER_H
#define CASEWATCH_CONSUMER_H

#include "casewatch/common.h"
#include "casewatch/config.h"

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

typedef struct cw_consumer cw_consumer_t;

typedef struct cw_consumer_cbs {
    /** Partitions assigned (borrowed list, copy what you keep). Call cw_consumer_assign()
     * once their offsets are known. */
    void (*on_assign)(void *arg, const rd_kafka_topic_partition_list_t *parts);
    /** Partitions revoked (eager: all of them). Call cw_consumer_unassign() when done. */
    void (*on_revoke)(void *arg, const rd_kafka_topic_partition_list_t *parts);
    /** One message (borrowed for the call). */
    void (*on_message)(void *arg, const rd_kafka_message_t *msg);
    /** A partition's position fell outside the log (trimmed, or the broker lost its data). */
    void (*on_offset_reset)(void *arg, const char *topic, int32_t partition, int64_t offset,
                            const char *why);
    /** librdkafka statistics JSON (statistics.interval.ms; borrowed for the call); may be NULL */
    void (*on_stats)(void *arg, const char *json, size_t len);
    void *arg;
} cw_consumer_cbs_t;

/**
 * @brief Create the consumer and subscribe to cfg's event topics.
 * @returns the consumer (free with cw_consumer_destroy()) or NULL with errstr filled.
 */
cw_consumer_t *cw_consumer_new(struct event_base *base, const cw_config_t *cfg,
                               const cw_consumer_cbs_t *cbs, char *errstr, size_t errsz);

/** @brief Start consuming parts, each at its .offset (takes nothing; parts is copied). */
CW_WUR cw_err_t cw_consumer_assign(cw_consumer_t *c, const rd_kafka_topic_partition_list_t *parts);
/** @brief Stop consuming every partition (after a revoke, or to rewind). */
CW_WUR cw_err_t cw_consumer_unassign(cw_consumer_t *c);
/** @brief Pause or resume fetching of every assigned partition (back-pressure). */
void cw_consumer_pause(cw_consumer_t *c, bool pause);
/** @brief Pause or resume fetching of one partition (a lane read far ahead of the others
 * of its partition number: [L]); what librdkafka had queued for it may be dropped and is
 * fetched again from the position after the last message handed over. */
void cw_consumer_pause_partition(cw_consumer_t *c, const char *topic, int32_t partition,
                                 bool pause);
/**
 * @brief Back-pressure: while held, messages stay in librdkafka's local queue (fetched, not
 * dropped) and are not handed over; releasing delivers them. Unlike pause, nothing is thrown
 * away and refetched. Hold only briefly (a commit): rebalance events wait too.
 */
void cw_consumer_hold(cw_consumer_t *c, bool hold);
/** @brief Restart one partition at the beginning of its log (after an offset reset). */
void cw_consumer_seek_beginning(cw_consumer_t *c, const char *topic, int32_t partition);

/** @brief Begin leaving the group (non-blocking). on_revoke is still called; during close
 * the consumer unassigns by itself after it. */
void cw_consumer_close_start(cw_consumer_t *c);
/** @brief True once the close begun above has completed. */
bool cw_consumer_closed(cw_consumer_t *c);

/** @brief Destroy (closing first, bounded, if close was not completed). */
void cw_consumer_destroy(cw_consumer_t *c);

/** @brief The librdkafka handle (borrowed), e.g. for watermarks and statistics. */
/**
 * @brief [J] Commit these offsets to the consumer group, for monitoring only (lag exporters,
 * kafka-consumer-groups --describe): asynchronously, errors ignored, never read back —
 * casewatchd assigns the offsets stored in PostgreSQL. Call after PostgreSQL committed them.
 */
void cw_consumer_commit_for_monitoring(cw_consumer_t *c,
                                       const rd_kafka_topic_partition_list_t *offsets);

rd_kafka_t *cw_consumer_handle(cw_consumer_t *c);

#endif
