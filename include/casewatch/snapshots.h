/*
 * snapshots.h — periodic metric snapshots for dashboards: the board figures, nationally and
 * per court area, read from the aggregate tables (one consistent snapshot, one store job) and
 * published as casewatch.v1.MetricsSnapshot messages to the metrics topic, keyed by scope
 * ("national" or the court area).
 */
#ifndef CASEWATCH_SNAPSHOTS_H
#define CASEWATCH_SNAPSHOTS_H

#include "casewatch/publisher.h"
#include "casewatch/store.h"
#include "casewatch/workdays.h"

#include <event2/event.h>

typedef struct cw_snapshots cw_snapshots_t;
struct cw_aggread;

/**
 * @brief Start taking a snapshot every interval_ms (0: never; cw_snapshots_take still works).
 * @param store, publisher, wd borrowed: must outlive the snapshots
 * @param topic, instance copied
 */
cw_snapshots_t *cw_snapshots_new(struct event_base *base, cw_store_t *store,
                                 cw_publisher_t *publisher, const cw_workdays_t *wd,
                                 const char *topic, const char *instance, int interval_ms);

/** Called with the aggregates of each snapshot (borrowed, valid during the call) and its day:
 * the place for rules over areas and workers, which need every partition's cases. */
typedef void (*cw_snapshots_hook_fn)(void *arg, struct cw_aggread *r, cw_day_t day);
void cw_snapshots_set_hook(cw_snapshots_t *s, cw_snapshots_hook_fn fn, void *arg);

/** @brief Take one now (skipped when the store is not ready or one is in progress). */
void cw_snapshots_take(cw_snapshots_t *s);

/** @brief Snapshots published so far. */
uint64_t cw_snapshots_published(const cw_snapshots_t *s);

void cw_snapshots_destroy(cw_snapshots_t *s);

#endif
