/*
 * kstats.h — per-partition log ends read out of librdkafka's statistics JSON (pure).
 *
 * Owns nothing: cw_kstats_partitions() parses the document it is given, calls back once per
 * partition and keeps no state. The daemon feeds it the statistics callback's text to learn
 * each assigned partition's high watermark and last stable offset (the consumer lag metrics)
 * without a broker round trip.
 */
#ifndef CASEWATCH_KSTATS_H
#define CASEWATCH_KSTATS_H

#include "casewatch/common.h"

/**
 * Called for each partition found in librdkafka statistics.
 * @param topic borrowed, valid during the call only
 * @param hi_offset the partition's high watermark, -1 when absent
 * @param ls_offset its last stable offset, -1 when absent
 */
typedef void (*cw_kstats_fn)(void *arg, const char *topic, int32_t partition, int64_t hi_offset,
                             int64_t ls_offset);

/**
 * @brief Walk the partitions of a librdkafka statistics JSON document (pure). librdkafka's
 * internal partition -1 ("unassigned") is skipped.
 * @param json the document, borrowed during the call (need not be NUL-terminated)
 * @param len its length in bytes
 * @param fn called once per partition, in document order
 * @returns the number of partitions reported, or -1 if it is not such a document.
 */
int cw_kstats_partitions(const char *json, size_t len, cw_kstats_fn fn, void *arg);

#endif
