/*
 * partmap.c — key to partition by the producers' partitioner, and the co-partitioning check
 * (pure; see partmap.h). librdkafka's partitioner functions take a topic handle only for their
 * random fallback on an empty key, which is never called here.
 */
#include "casewatch/partmap.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

bool cw_partmap_parse(const char *name, cw_partitioner_t *out)
{
    static const struct {
        const char *name;
        cw_partitioner_t p;
    } names[] = {
        {"none", CW_PARTITIONER_NONE},           {"consistent_random", CW_PARTITIONER_CONSISTENT},
        {"consistent", CW_PARTITIONER_CONSISTENT}, {"murmur2_random", CW_PARTITIONER_MURMUR2},
        {"murmur2", CW_PARTITIONER_MURMUR2},     {"fnv1a_random", CW_PARTITIONER_FNV1A},
        {"fnv1a", CW_PARTITIONER_FNV1A},
    };
    for (size_t i = 0; name && i < CW_ARRAY_LEN(names); i++) {
        if (!strcmp(name, names[i].name)) {
            *out = names[i].p;
            return true;
        }
    }
    return false;
}

int32_t cw_partmap_partition(cw_partitioner_t p, const char *key, size_t len, int32_t cnt)
{
    if (!key || !len || cnt < 1)
        return -1;
    switch (p) {
    case CW_PARTITIONER_CONSISTENT:
        return rd_kafka_msg_partitioner_consistent(NULL, key, len, cnt, NULL, NULL);
    case CW_PARTITIONER_MURMUR2:
        return rd_kafka_msg_partitioner_murmur2(NULL, key, len, cnt, NULL, NULL);
    case CW_PARTITIONER_FNV1A:
        return rd_kafka_msg_partitioner_fnv1a(NULL, key, len, cnt, NULL, NULL);
    case CW_PARTITIONER_NONE:
    default:
        return -1;
    }
}

cw_topology_t cw_partmap_judge(const char *const *topics, const int32_t *counts,
                               const int32_t *recorded, int n, char *why, size_t whysz)
{
    if (whysz)
        why[0] = '\0';
    for (int i = 0; i < n; i++)
        if (counts[i] <= 0)
            return CW_TOPOLOGY_UNKNOWN;
    for (int i = 1; i < n; i++) {
        if (counts[i] != counts[0]) {
            snprintf(why, whysz,
                     "input topics are not co-partitioned: %s has %d partitions, %s has %d; "
                     "a case's events would be split between owners",
                     topics[0], counts[0], topics[i], counts[i]);
            return CW_TOPOLOGY_MISMATCH;
        }
    }
    for (int i = 0; recorded && i < n; i++) {
        if (recorded[i] > 0 && recorded[i] != counts[i]) {
            snprintf(why, whysz,
                     "%s has %d partitions but casewatch's state is partitioned by the %d it "
                     "had when first consumed; cases would change owner (re-partitioning an "
                     "input topic is not supported)",
                     topics[i], counts[i], recorded[i]);
            return CW_TOPOLOGY_MISMATCH;
        }
    }
    return CW_TOPOLOGY_OK;
}
