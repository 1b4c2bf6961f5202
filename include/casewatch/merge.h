/*
 * merge.h — the order in which one partition's input topic-partitions (its lanes: partition N
 * of the case topic, of the hearing topic, …) are applied ([L]). Pure.
 *
 * casewatchd and casewatch-dryrun both apply a partition's events in this order, so time
 * passes for its cases the same way whatever Kafka's fetch sizes, batches or pacing: the
 * partition's stream time moves per event, never by a step set by how much one lane was read
 * ahead of another (as Kafka Streams picks the record with the lowest timestamp among a
 * task's partitions).
 */
#ifndef CASEWATCH_MERGE_H
#define CASEWATCH_MERGE_H

#include <stdbool.h>
#include <stdint.h>

/** A lane's head that has no time (a dead letter): it goes first, it moves no clock. */
#define CW_MERGE_NOW INT64_MIN
/** A lane with nothing queued. */
#define CW_MERGE_EMPTY INT64_MAX

/**
 * @brief The lane whose head is applied next, or -1 to wait.
 *
 * head[i] is lane i's first queued item's occurred_at (CW_MERGE_NOW, CW_MERGE_EMPTY); open[i]
 * whether lane i may still deliver more (not at its log end). A timeless head goes first; then
 * the earliest head, ties to the lower lane. While a lane is empty and open nothing timed is
 * chosen (its next item may be earlier); an empty lane at its log end holds nothing back.
 * Returns -1 when nothing is queued, or a lane that may still deliver is empty.
 */
int cw_merge_next(const int64_t *head, const bool *open, int n);

#endif
