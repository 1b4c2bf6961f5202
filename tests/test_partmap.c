/*
 * test_partmap.c — unit tests of partmap (pure): partitioner names as librdkafka spells them,
 * key → partition for each partitioner against values computed independently (zlib's CRC-32,
 * the Java client's murmur2, Sarama's FNV-1a, in Python), and the co-partitioning verdicts.
 */
#include "casewatch/partmap.h"

#include <CUnit/Basic.h>
#include <string.h>

static void test_parse(void)
{
    cw_partitioner_t p;
    CU_ASSERT_TRUE(cw_partmap_parse("consistent_random", &p));
    CU_ASSERT_EQUAL(p, CW_PARTITIONER_CONSISTENT);
    CU_ASSERT_TRUE(cw_partmap_parse("consistent", &p));
    CU_ASSERT_EQUAL(p, CW_PARTITIONER_CONSISTENT);
    CU_ASSERT_TRUE(cw_partmap_parse("murmur2_random", &p));
    CU_ASSERT_EQUAL(p, CW_PARTITIONER_MURMUR2);
    CU_ASSERT_TRUE(cw_partmap_parse("fnv1a", &p));
    CU_ASSERT_EQUAL(p, CW_PARTITIONER_FNV1A);
    CU_ASSERT_TRUE(cw_partmap_parse("none", &p));
    CU_ASSERT_EQUAL(p, CW_PARTITIONER_NONE);
    CU_ASSERT_FALSE(cw_partmap_parse("random", &p)); /* nothing to check against */
    CU_ASSERT_FALSE(cw_partmap_parse("", &p));
    CU_ASSERT_FALSE(cw_partmap_parse(NULL, &p));
}

static int32_t part(cw_partitioner_t p, const char *key, int32_t n)
{
    return cw_partmap_partition(p, key, strlen(key), n);
}

static void test_partition_vectors(void)
{
    /* python3: zlib.crc32(k) % 16; (murmur2(k) & 0x7fffffff) % 16 (the Java client's); and
     * |fmod(int32(fnv1a(k)), 16)| (Sarama's, which librdkafka's fnv1a follows) */
    static const struct {
        const char *key;
        int crc, murmur, fnv;
    } v[] = {
        {"c-6636", 4, 5, 4},
        {"example-case-1", 12, 10, 6},
        {"london-west", 4, 6, 11},
        {"a", 3, 12, 4},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CU_ASSERT_EQUAL(part(CW_PARTITIONER_CONSISTENT, v[i].key, 16), v[i].crc);
        CU_ASSERT_EQUAL(part(CW_PARTITIONER_MURMUR2, v[i].key, 16), v[i].murmur);
        CU_ASSERT_EQUAL(part(CW_PARTITIONER_FNV1A, v[i].key, 16), v[i].fnv);
    }
    /* nothing to tell: no check, no key, no partitions */
    CU_ASSERT_EQUAL(part(CW_PARTITIONER_NONE, "c-1", 16), -1);
    CU_ASSERT_EQUAL(part(CW_PARTITIONER_CONSISTENT, "", 16), -1);
    CU_ASSERT_EQUAL(cw_partmap_partition(CW_PARTITIONER_CONSISTENT, NULL, 0, 16), -1);
    CU_ASSERT_EQUAL(part(CW_PARTITIONER_CONSISTENT, "c-1", 0), -1);
    /* every key lands in range */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "case-%d", i);
        int32_t p = part(CW_PARTITIONER_MURMUR2, key, 7);
        CU_ASSERT(p >= 0 && p < 7);
    }
}

static void test_judge(void)
{
    const char *const t[] = {"case-events", "hearing-events"};
    char why[400];
    int32_t c[2] = {8, 8}, rec[2] = {8, 8};
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, NULL, 2, why, sizeof(why)), CW_TOPOLOGY_OK);
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, rec, 2, why, sizeof(why)), CW_TOPOLOGY_OK);
    c[1] = 0; /* not known yet */
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, NULL, 2, why, sizeof(why)), CW_TOPOLOGY_UNKNOWN);
    c[1] = 4;
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, NULL, 2, why, sizeof(why)), CW_TOPOLOGY_MISMATCH);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "case-events has 8 partitions, hearing-events has 4"));
    /* partitions added to both: they agree, but not with what the state is partitioned by */
    c[0] = c[1] = 12;
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, rec, 2, why, sizeof(why)), CW_TOPOLOGY_MISMATCH);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "has 12 partitions but"));
    /* a topic never recorded (added to the list) is recorded, not refused */
    rec[0] = 12;
    rec[1] = 0;
    CU_ASSERT_EQUAL(cw_partmap_judge(t, c, rec, 2, why, sizeof(why)), CW_TOPOLOGY_OK);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("partmap", NULL, NULL);
    CU_add_test(s, "partitioner names", test_parse);
    CU_add_test(s, "key to partition, by every partitioner", test_partition_vectors);
    CU_add_test(s, "co-partitioning verdicts", test_judge);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
