/*
 * test_casebook.c — CUnit suite for the pure casebook: apply, load, dirty tracking,
 * per-partition drop (including hash-table deletion under collisions and growth).
 */
#include "casewatch/casebook.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cw_event_t mk(Casewatch__V1__Event *pb, const char *case_id, int64_t at)
{
    casewatch__v1__event__init(pb);
    pb->case_id = (char *)case_id;
    pb->occurred_at = at;
    return (cw_event_t){.pb = pb, .kind = 0};
}

static void test_apply_counts_and_times(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    Casewatch__V1__Event pb;
    cw_event_t e = mk(&pb, "c1", 2000);
    cw_case_t *c = cw_casebook_apply(cb, &e, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->event_count, 1);
    CU_ASSERT_EQUAL(c->first_ms, 2000);
    CU_ASSERT_EQUAL(c->last_ms, 2000);
    e = mk(&pb, "c1", 1000); /* late event: earlier occurred_at */
    cw_casebook_apply(cb, &e, 3);
    e = mk(&pb, "c1", 3000);
    cw_casebook_apply(cb, &e, 3);
    CU_ASSERT_EQUAL(c->event_count, 3);
    CU_ASSERT_EQUAL(c->first_ms, 1000);
    CU_ASSERT_EQUAL(c->last_ms, 3000);
    CU_ASSERT_EQUAL(c->partition, 3);
    size_t n;
    cw_casebook_dirty(cb, &n);
    CU_ASSERT_EQUAL(n, 1); /* one case changed three times is written once */
    cw_casebook_clear_dirty(cb);
    cw_casebook_dirty(cb, &n);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_FALSE(c->dirty);
    cw_casebook_destroy(cb);
}

static void test_area_event_changes_no_case(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    Casewatch__V1__Event pb;
    cw_event_t e = mk(&pb, "", 1000);
    CU_ASSERT_PTR_NULL(cw_casebook_apply(cb, &e, 0));
    CU_ASSERT_EQUAL(cw_casebook_count(cb), 0);
    cw_casebook_destroy(cb);
}

static void test_load_then_apply(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_case_t *c = cw_casebook_load(cb, "c9", 1, 41, 100, 900);
    CU_ASSERT_FALSE(c->dirty);
    Casewatch__V1__Event pb;
    cw_event_t e = mk(&pb, "c9", 950);
    cw_casebook_apply(cb, &e, 1);
    CU_ASSERT_EQUAL(c->event_count, 42);
    CU_ASSERT_EQUAL(c->first_ms, 100);
    CU_ASSERT_EQUAL(c->last_ms, 950);
    CU_ASSERT_PTR_EQUAL(cw_casebook_find(cb, "c9"), c);
    CU_ASSERT_PTR_NULL(cw_casebook_find(cb, "c10"));
    cw_casebook_destroy(cb);
}

static void test_drop_partitions_many(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    char id[32];
    const int N = 20000; /* forces several grows and long probe runs */
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "case-%d", i);
        cw_casebook_load(cb, id, i % 8, i, 0, 0);
    }
    CU_ASSERT_EQUAL(cw_casebook_count(cb), (size_t)N);
    int32_t drop[] = {1, 5};
    cw_casebook_drop_partitions(cb, drop, 2);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), (size_t)(N - N / 4));
    int found = 0, wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "case-%d", i);
        cw_case_t *c = cw_casebook_find(cb, id);
        if (i % 8 == 1 || i % 8 == 5) {
            wrong += c != NULL;
        } else {
            found += c != NULL;
            if (c && c->event_count != i)
                wrong++;
        }
    }
    CU_ASSERT_EQUAL(found, N - N / 4);
    CU_ASSERT_EQUAL(wrong, 0);
    cw_casebook_clear(cb);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), 0);
    snprintf(id, sizeof(id), "case-%d", 3);
    CU_ASSERT_PTR_NULL(cw_casebook_find(cb, id));
    cw_casebook_destroy(cb);
}

static void test_drop_clears_dirty(void)
{
    cw_casebook_t *cb = cw_casebook_new();
    Casewatch__V1__Event pb;
    cw_event_t e = mk(&pb, "x", 1);
    cw_casebook_apply(cb, &e, 2);
    int32_t p = 2;
    cw_casebook_drop_partitions(cb, &p, 1);
    size_t n;
    cw_casebook_dirty(cb, &n);
    CU_ASSERT_EQUAL(n, 0); /* never a dangling pointer to a dropped case */
    cw_casebook_destroy(cb);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("casebook", NULL, NULL);
    CU_add_test(s, "apply counts events and keeps first/last time", test_apply_counts_and_times);
    CU_add_test(s, "area events change no case", test_area_event_changes_no_case);
    CU_add_test(s, "loaded state continues", test_load_then_apply);
    CU_add_test(s, "drop partitions keeps the rest findable", test_drop_partitions_many);
    CU_add_test(s, "drop clears the dirty list", test_drop_clears_dirty);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
