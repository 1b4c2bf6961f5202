/*
 * deadlines.h — when each case next needs looking at: a min-heap of (due time, key) with at
 * most one entry per key, so a time-based rule fires at its due time even if no event ever
 * arrives again. Pure: no clock (the caller passes "now"), no I/O.
 *
 * A key is an opaque 64-bit value chosen by the caller (casewatchd uses a case's hash; the
 * caller resolves collisions by re-evaluating whatever the key names). Scheduling a key that
 * is already in the heap moves it; cancelling removes it. Rebuilt from state at startup.
 * The simulator (gen.c) queues its live cases in one too, keyed by case number.
 */
#ifndef CASEWATCH_DEADLINES_H
#define CASEWATCH_DEADLINES_H

#include "casewatch/common.h"

typedef struct cw_deadlines cw_deadlines_t;

/** @brief Empty heap; free with cw_deadlines_destroy(). */
cw_deadlines_t *cw_deadlines_new(void);
void cw_deadlines_destroy(cw_deadlines_t *d);

/** @brief Set key's due time (insert, or move an existing entry earlier or later). */
void cw_deadlines_schedule(cw_deadlines_t *d, uint64_t key, int64_t due_ms);

/** @brief Remove key if present; returns whether it was. */
bool cw_deadlines_cancel(cw_deadlines_t *d, uint64_t key);

/** @brief The earliest due time, or INT64_MAX when empty. */
int64_t cw_deadlines_next(const cw_deadlines_t *d);

/**
 * @brief Remove and return the earliest entry if it is due at or before now.
 * @returns true with *key and *due_ms set, false when nothing is due.
 * Entries with equal due times come out in ascending key order (deterministic replays).
 */
bool cw_deadlines_pop_due(cw_deadlines_t *d, int64_t now_ms, uint64_t *key, int64_t *due_ms);

/** @brief Entries in the heap. */
size_t cw_deadlines_count(const cw_deadlines_t *d);

/** @brief Due time of key, or -1 if absent. */
int64_t cw_deadlines_due(const cw_deadlines_t *d, uint64_t key);

/**
 * @brief Call fn for every entry, in the heap's storage order: not sorted, but the same for
 *        the same sequence of operations (fn must not change d).
 */
void cw_deadlines_foreach(const cw_deadlines_t *d,
                          void (*fn)(void *arg, uint64_t key, int64_t due_ms), void *arg);

/** @brief Remove everything. */
void cw_deadlines_clear(cw_deadlines_t *d);

/** @brief Bytes of memory held (for the per-case memory budget). */
size_t cw_deadlines_memory(const cw_deadlines_t *d);

#endif
