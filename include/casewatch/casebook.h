/*
 * casebook.h — the in-memory state of every case this daemon owns. Pure: no I/O, no clock.
 *
 * Cases are owned per Kafka partition (input topics are keyed by case_id and co-partitioned):
 * when a partition is revoked its cases are dropped, when it is assigned they are loaded from
 * PostgreSQL (the durable truth). Applying an event marks its case dirty; the batch commit
 * writes each dirty case once and then clears the dirty list.
 *
 * Issue [A] keeps what proves exactly-once: event count and first/last event time per case.
 */
#ifndef CASEWATCH_CASEBOOK_H
#define CASEWATCH_CASEBOOK_H

#include "casewatch/common.h"
#include "casewatch/event.h"

typedef struct cw_case {
    char *case_id;       /**< owned by the casebook */
    uint64_t hash;
    int32_t partition;   /**< owning partition */
    bool dirty;          /**< changed since the last commit */
    int64_t event_count; /**< events applied (duplicates excluded) */
    int64_t first_ms;    /**< earliest occurred_at applied */
    int64_t last_ms;     /**< latest occurred_at applied */
} cw_case_t;

typedef struct cw_casebook cw_casebook_t;

/** @brief New, empty casebook; free with cw_casebook_destroy(). */
cw_casebook_t *cw_casebook_new(void);
void cw_casebook_destroy(cw_casebook_t *cb);

/** @brief Number of cases held. */
size_t cw_casebook_count(const cw_casebook_t *cb);

/** @brief Find a case; borrowed, valid until the case is dropped. NULL when absent. */
cw_case_t *cw_casebook_find(const cw_casebook_t *cb, const char *case_id);

/**
 * @brief Insert a case read from the store (not dirty). Replaces an existing entry.
 * @returns the case (borrowed).
 */
cw_case_t *cw_casebook_load(cw_casebook_t *cb, const char *case_id, int32_t partition,
                            int64_t event_count, int64_t first_ms, int64_t last_ms);

/**
 * @brief Apply one validated, not-duplicate event read from the given partition.
 * Area events (no case_id) change no case and return NULL.
 * @returns the changed case (borrowed), now dirty.
 */
cw_case_t *cw_casebook_apply(cw_casebook_t *cb, const cw_event_t *ev, int32_t partition);

/** @brief The cases changed since cw_casebook_clear_dirty(); borrowed array of n. */
cw_case_t *const *cw_casebook_dirty(const cw_casebook_t *cb, size_t *n);
/** @brief Forget the dirty marks (after a commit). */
void cw_casebook_clear_dirty(cw_casebook_t *cb);

/** @brief Drop every case owned by one of the n partitions. */
void cw_casebook_drop_partitions(cw_casebook_t *cb, const int32_t *parts, int n);
/** @brief Drop every case. */
void cw_casebook_clear(cw_casebook_t *cb);

#endif
