/*
 * partmap.h — which partition a key belongs on, and whether co-partitioned topics agree (pure).
 *
 * casewatch owns state per partition: every event of a case must arrive on the partition its
 * case_id hashes to (area events: their court_area), by the partitioner the producers use, in
 * every input topic, and every input topic must have the same partition count. An event that
 * breaks the first is dead-lettered (wrong_partition); topics that break the second are not
 * consumed at all. The hashes are librdkafka's own partitioner functions (the ones its
 * producers run; murmur2 is also the Java client's default), called for non-empty keys only,
 * where they are pure functions of key and count.
 */
#ifndef CASEWATCH_PARTMAP_H
#define CASEWATCH_PARTMAP_H

#include "casewatch/common.h"

#include <stddef.h>
#include <stdint.h>

typedef enum cw_partitioner {
    CW_PARTITIONER_NONE = 0,  /**< "none": no check (producers choose partitions themselves) */
    CW_PARTITIONER_CONSISTENT, /**< CRC32 (librdkafka consistent, consistent_random: default) */
    CW_PARTITIONER_MURMUR2,    /**< murmur2 (Java client default; librdkafka murmur2[_random]) */
    CW_PARTITIONER_FNV1A,      /**< FNV-1a (librdkafka fnv1a[_random]) */
} cw_partitioner_t;

/**
 * @brief Parse a partitioner name as librdkafka's `partitioner` property spells it
 * (consistent_random, consistent, murmur2_random, murmur2, fnv1a_random, fnv1a) or "none".
 * @returns true and *out on success; false for anything else.
 */
bool cw_partmap_parse(const char *name, cw_partitioner_t *out);

/**
 * @brief The partition a non-empty key goes to among cnt partitions.
 * @returns 0..cnt-1, or -1 when it cannot be told (NONE, empty key, cnt < 1).
 */
int32_t cw_partmap_partition(cw_partitioner_t p, const char *key, size_t len, int32_t cnt);

/** The partition counts of the input topics, as far as they are known. */
typedef enum cw_topology {
    CW_TOPOLOGY_UNKNOWN = 0, /**< some topic's count is not known yet */
    CW_TOPOLOGY_OK,          /**< all known and equal */
    CW_TOPOLOGY_MISMATCH,    /**< two topics differ, or a count differs from the recorded one */
} cw_topology_t;

/**
 * @brief Judge the input topics' partition counts.
 * @param counts    per topic, 0 = not known yet
 * @param recorded  per topic, the count recorded in PostgreSQL when casewatch first consumed
 *                  it (0 = none recorded); NULL = not checked
 * @param why       on MISMATCH, a sentence naming the topics and counts
 */
cw_topology_t cw_partmap_judge(const char *const *topics, const int32_t *counts,
                               const int32_t *recorded, int n, char *why, size_t whysz);

#endif
