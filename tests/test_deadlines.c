/*
 * test_deadlines.c — CUnit suite for the deadline heap: ordering (equal due times by key),
 * moving a key earlier and later, cancelling present and absent keys (root, last, middle),
 * pop_due against "now", the extreme keys 0 and UINT64_MAX, clear, a randomized comparison
 * with a naive array-scan reference, and a million-entry insert and drain with its memory.
 *
 * The reference shares no code with src/deadlines.c: it keeps the entries in an unordered
 * array and finds the minimum by scanning. Sizes are cut when running under valgrind, so the
 * suite stays well under 30 s there.
 */
#include "casewatch/deadlines.h"

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* A small deterministic PRNG (xorshift64*) whose state the caller owns. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Pops one entry that must be due and checks it. */
static void expect_pop(cw_deadlines_t *d, int64_t now, uint64_t key, int64_t due)
{
    uint64_t k = 0;
    int64_t t = 0;
    CU_ASSERT_TRUE_FATAL(cw_deadlines_pop_due(d, now, &k, &t));
    CU_ASSERT_EQUAL(k, key);
    CU_ASSERT_EQUAL(t, due);
}

static void expect_none_due(cw_deadlines_t *d, int64_t now)
{
    uint64_t k = 0;
    int64_t t = 0;
    CU_ASSERT_FALSE(cw_deadlines_pop_due(d, now, &k, &t));
}

/* ---- small, hand-checked cases ---------------------------------------------------------- */

static void test_empty(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), INT64_MAX);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 0), -1);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 42), -1);
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 42));
    expect_none_due(d, INT64_MAX);
    CU_ASSERT_TRUE(cw_deadlines_memory(d) > 0);
    cw_deadlines_destroy(d);
    cw_deadlines_destroy(NULL);
}

static void test_ordering_and_ties(void)
{
    static const struct {
        uint64_t key;
        int64_t due;
    } in[] = {
        {7, 300}, {3, 100}, {9, 100}, {1, 200}, {5, 100}, {2, 300}, {8, -50}, {4, 200},
    };
    static const struct {
        uint64_t key;
        int64_t due;
    } out[] = {
        {8, -50}, {3, 100}, {5, 100}, {9, 100}, {1, 200}, {4, 200}, {2, 300}, {7, 300},
    };
    cw_deadlines_t *d = cw_deadlines_new();
    for (size_t i = 0; i < CW_ARRAY_LEN(in); i++)
        cw_deadlines_schedule(d, in[i].key, in[i].due);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), CW_ARRAY_LEN(in));
    for (size_t i = 0; i < CW_ARRAY_LEN(in); i++)
        CU_ASSERT_EQUAL(cw_deadlines_due(d, in[i].key), in[i].due);
    for (size_t i = 0; i < CW_ARRAY_LEN(out); i++) {
        CU_ASSERT_EQUAL(cw_deadlines_next(d), out[i].due);
        expect_pop(d, INT64_MAX, out[i].key, out[i].due);
    }
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), INT64_MAX);

    /* Insertion order must not matter: same set, reversed. */
    for (size_t i = CW_ARRAY_LEN(in); i-- > 0;)
        cw_deadlines_schedule(d, in[i].key, in[i].due);
    for (size_t i = 0; i < CW_ARRAY_LEN(out); i++)
        expect_pop(d, INT64_MAX, out[i].key, out[i].due);
    cw_deadlines_destroy(d);
}

static void test_schedule_moves(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    for (uint64_t k = 1; k <= 10; k++)
        cw_deadlines_schedule(d, k, (int64_t)k * 100);

    cw_deadlines_schedule(d, 7, 50); /* earlier: becomes the root */
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 10);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 7), 50);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), 50);

    cw_deadlines_schedule(d, 1, 2000); /* the old root moves to the end */
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 10);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 1), 2000);

    cw_deadlines_schedule(d, 7, 500); /* later again, ties with key 5: key order decides */
    cw_deadlines_schedule(d, 4, 400); /* unchanged: a no-op */
    CU_ASSERT_EQUAL(cw_deadlines_next(d), 200);

    static const uint64_t order[] = {2, 3, 4, 5, 7, 6, 8, 9, 10, 1};
    static const int64_t dues[] = {200, 300, 400, 500, 500, 600, 800, 900, 1000, 2000};
    for (size_t i = 0; i < CW_ARRAY_LEN(order); i++)
        expect_pop(d, INT64_MAX, order[i], dues[i]);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    cw_deadlines_destroy(d);
}

static void test_cancel(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    for (uint64_t k = 1; k <= 20; k++)
        cw_deadlines_schedule(d, k, (int64_t)k * 10);

    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 21)); /* absent */
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 0));
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 1));  /* the root */
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 1)); /* twice */
    CU_ASSERT_EQUAL(cw_deadlines_next(d), 20);
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 20)); /* the last element of the array */
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 6));  /* the middle */
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 13));
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 16);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 6), -1);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 7), 70);

    for (uint64_t k = 2; k <= 19; k++) {
        if (k == 6 || k == 13)
            continue;
        expect_pop(d, INT64_MAX, k, (int64_t)k * 10);
    }
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);

    /* The only entry is both root and last. */
    cw_deadlines_schedule(d, 99, 1);
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 99));
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), INT64_MAX);
    /* A cancelled key can come back. */
    cw_deadlines_schedule(d, 99, 5);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 99), 5);
    cw_deadlines_destroy(d);
}

static void test_pop_due_respects_now(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    cw_deadlines_schedule(d, 3, 30);
    cw_deadlines_schedule(d, 1, 10);
    cw_deadlines_schedule(d, 2, 20);
    cw_deadlines_schedule(d, 4, 20);

    expect_none_due(d, 9);
    expect_none_due(d, INT64_MIN);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 3 + 1);
    expect_pop(d, 10, 1, 10); /* due == now is due */
    expect_none_due(d, 19);
    expect_pop(d, 25, 2, 20);
    expect_pop(d, 25, 4, 20);
    expect_none_due(d, 25);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), 30);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 1);
    expect_pop(d, 1000, 3, 30);
    expect_none_due(d, INT64_MAX);
    cw_deadlines_destroy(d);
}

static void test_extreme_keys_and_times(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    cw_deadlines_schedule(d, UINT64_MAX, 5);
    cw_deadlines_schedule(d, 0, 5);
    cw_deadlines_schedule(d, (uint64_t)1 << 32, 5); /* low half 0, like key 0 */
    cw_deadlines_schedule(d, 0xffffffffULL, 5);     /* high half 0 */
    cw_deadlines_schedule(d, 77, INT64_MAX);
    cw_deadlines_schedule(d, 78, INT64_MIN);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 6);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 0), 5);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, UINT64_MAX), 5);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 1), -1);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), INT64_MIN);

    expect_pop(d, 5, 78, INT64_MIN);
    expect_pop(d, 5, 0, 5);
    expect_pop(d, 5, 0xffffffffULL, 5);
    expect_pop(d, 5, (uint64_t)1 << 32, 5);
    expect_pop(d, 5, UINT64_MAX, 5);
    expect_none_due(d, INT64_MAX - 1);
    expect_pop(d, INT64_MAX, 77, INT64_MAX);

    cw_deadlines_schedule(d, 0, 1);
    cw_deadlines_schedule(d, UINT64_MAX, 2);
    cw_deadlines_schedule(d, 0, 3); /* move key 0 behind UINT64_MAX */
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, UINT64_MAX));
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, UINT64_MAX));
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 0), 3);
    CU_ASSERT_TRUE(cw_deadlines_cancel(d, 0));
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 0));
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    cw_deadlines_destroy(d);
}

static void test_clear(void)
{
    cw_deadlines_t *d = cw_deadlines_new();
    size_t empty = cw_deadlines_memory(d);
    for (uint64_t k = 0; k < 5000; k++)
        cw_deadlines_schedule(d, k * 0x9e3779b97f4a7c15ULL, (int64_t)(k % 17));
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 5000);
    CU_ASSERT_TRUE(cw_deadlines_memory(d) > empty);

    cw_deadlines_clear(d);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    CU_ASSERT_EQUAL(cw_deadlines_next(d), INT64_MAX);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 0), -1);
    CU_ASSERT_EQUAL(cw_deadlines_due(d, 0x9e3779b97f4a7c15ULL), -1);
    CU_ASSERT_FALSE(cw_deadlines_cancel(d, 0));
    CU_ASSERT_EQUAL(cw_deadlines_memory(d), empty);
    expect_none_due(d, INT64_MAX);
    cw_deadlines_clear(d); /* clearing an empty heap is fine */

    /* Usable again afterwards. */
    cw_deadlines_schedule(d, 2, 20);
    cw_deadlines_schedule(d, 1, 10);
    expect_pop(d, 100, 1, 10);
    expect_pop(d, 100, 2, 20);
    cw_deadlines_destroy(d);
}

/* ---- randomized against a naive reference ----------------------------------------------- */

/* Unordered present entries plus, per universe slot, where the entry sits (or -1). */
typedef struct {
    uint64_t *keys;
    int64_t *dues;
    int *where; /* universe index -> index into keys/dues, -1 if absent */
    int *uidx;  /* index into keys/dues -> universe index */
    int n;
} ref_t;

#define UNIVERSE 1024

static uint64_t universe_key(int u)
{
    if (u == 0)
        return 0;
    if (u == 1)
        return UINT64_MAX;
    if (u < 64)
        return (uint64_t)u; /* small sequential keys */
    return (uint64_t)u * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)u << 40);
}

static void ref_set(ref_t *r, int u, int64_t due)
{
    if (r->where[u] < 0) {
        r->where[u] = r->n;
        r->uidx[r->n] = u;
        r->keys[r->n] = universe_key(u);
        r->n++;
    }
    r->dues[r->where[u]] = due;
}

static void ref_remove(ref_t *r, int u)
{
    int i = r->where[u], last = r->n - 1;
    r->keys[i] = r->keys[last];
    r->dues[i] = r->dues[last];
    r->uidx[i] = r->uidx[last];
    r->where[r->uidx[i]] = i;
    r->where[u] = -1;
    r->n--;
}

/* Index of the least (due, key), or -1 when empty. */
static int ref_min(const ref_t *r)
{
    int best = -1;
    for (int i = 0; i < r->n; i++)
        if (best < 0 || r->dues[i] < r->dues[best] ||
            (r->dues[i] == r->dues[best] && r->keys[i] < r->keys[best]))
            best = i;
    return best;
}

static void test_random_against_reference(void)
{
    ref_t r = {
        .keys = calloc(UNIVERSE, sizeof(uint64_t)),
        .dues = calloc(UNIVERSE, sizeof(int64_t)),
        .where = malloc(UNIVERSE * sizeof(int)),
        .uidx = calloc(UNIVERSE, sizeof(int)),
    };
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.keys);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.dues);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.where);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.uidx);
    for (int u = 0; u < UNIVERSE; u++)
        r.where[u] = -1;

    cw_deadlines_t *d = cw_deadlines_new();
    uint64_t seed = 0x5eed5eed12345678ULL;
    int64_t now = -1000;
    unsigned long mismatches = 0, pops = 0, cancels_hit = 0, moves = 0;
    const int ops = 200000;

    for (int op = 0; op < ops; op++) {
        /* Phases of 25k operations alternate between filling and draining, so the heap and
         * its index grow and shrink repeatedly. */
        bool filling = (op / 25000) % 2 == 0;
        unsigned roll = (unsigned)(rnd(&seed) % 100);
        int u = (int)(rnd(&seed) % UNIVERSE);
        now += (int64_t)(rnd(&seed) % 3);

        if (roll < (filling ? 60u : 25u)) {
            /* Narrow due range: many ties, some already in the past. */
            int64_t due = now - 20 + (int64_t)(rnd(&seed) % 200);
            if (r.where[u] >= 0)
                moves++;
            cw_deadlines_schedule(d, universe_key(u), due);
            ref_set(&r, u, due);
        } else if (roll < (filling ? 80u : 60u)) {
            bool had = r.where[u] >= 0;
            if (cw_deadlines_cancel(d, universe_key(u)) != had)
                mismatches++;
            if (had) {
                ref_remove(&r, u);
                cancels_hit++;
            }
        } else if (roll < 99u) {
            int m = ref_min(&r);
            bool due = m >= 0 && r.dues[m] <= now;
            uint64_t k = 0;
            int64_t t = 0;
            bool got = cw_deadlines_pop_due(d, now, &k, &t);
            if (got != due || (got && (k != r.keys[m] || t != r.dues[m])))
                mismatches++;
            if (due) {
                ref_remove(&r, r.uidx[m]);
                pops++;
            }
        } else {
            /* Lookups of a few keys, present or not. */
            for (int j = 0; j < 8; j++) {
                int v = (u + j * 131) % UNIVERSE;
                int64_t want = r.where[v] >= 0 ? r.dues[r.where[v]] : -1;
                if (cw_deadlines_due(d, universe_key(v)) != want)
                    mismatches++;
            }
        }

        int m = ref_min(&r);
        if (cw_deadlines_next(d) != (m >= 0 ? r.dues[m] : INT64_MAX))
            mismatches++;
        if (cw_deadlines_count(d) != (size_t)r.n)
            mismatches++;
        if (mismatches) {
            fprintf(stderr, "\n  first mismatch at operation %d\n", op);
            break;
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    /* The mix really exercised every path. */
    CU_ASSERT_TRUE(pops > 10000);
    CU_ASSERT_TRUE(cancels_hit > 10000);
    CU_ASSERT_TRUE(moves > 10000);

    /* Every key agrees at the end, then a full drain comes out in reference order. */
    for (int u = 0; u < UNIVERSE; u++)
        CU_ASSERT_EQUAL(cw_deadlines_due(d, universe_key(u)),
                        r.where[u] >= 0 ? r.dues[r.where[u]] : -1);
    while (r.n > 0) {
        int m = ref_min(&r);
        expect_pop(d, INT64_MAX, r.keys[m], r.dues[m]);
        ref_remove(&r, r.uidx[m]);
    }
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);

    cw_deadlines_destroy(d);
    free(r.keys);
    free(r.dues);
    free(r.where);
    free(r.uidx);
}

/* ---- size and memory -------------------------------------------------------------------- */

static void test_million_insert_and_drain(void)
{
    /* valgrind runs this some 30x slower; a tenth of the entries still crosses every growth
     * and shrink step many times over. */
    const size_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
    cw_deadlines_t *d = cw_deadlines_new();
    uint64_t seed = 0xdeadbeefcafef00dULL;
    const int64_t base = 1700000000000LL;

    for (size_t i = 0; i < n; i++) {
        uint64_t key = rnd(&seed);
        /* One-second buckets over about a day: plenty of equal due times. */
        cw_deadlines_schedule(d, key, base + (int64_t)(key % 86400) * 1000);
    }
    /* xorshift64* is a permutation of its state, so its first n outputs are distinct. */
    CU_ASSERT_EQUAL_FATAL(cw_deadlines_count(d), n);

    size_t mem = cw_deadlines_memory(d);
    double per = (double)mem / (double)n;
    printf("\n  %zu entries: %zu bytes, %.1f bytes/entry ", n, mem, per);
    CU_ASSERT_TRUE(per <= 44.0);

    /* Half the entries become due at the midpoint; the rest stay. */
    const int64_t mid = base + 43200 * 1000;
    uint64_t prev_key = 0, key = 0;
    int64_t prev_due = INT64_MIN, due = 0;
    size_t popped = 0, bad = 0;
    while (cw_deadlines_pop_due(d, mid, &key, &due)) {
        if (due > mid || due < prev_due || (due == prev_due && key <= prev_key))
            bad++;
        prev_due = due;
        prev_key = key;
        popped++;
    }
    CU_ASSERT_TRUE(popped > n / 3 && popped < n * 2 / 3);
    CU_ASSERT_TRUE(cw_deadlines_next(d) > mid);
    while (cw_deadlines_pop_due(d, INT64_MAX, &key, &due)) {
        if (due < prev_due || (due == prev_due && key <= prev_key))
            bad++;
        prev_due = due;
        prev_key = key;
        popped++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(popped, n);
    CU_ASSERT_EQUAL(cw_deadlines_count(d), 0);
    /* A drained heap gives its memory back. */
    CU_ASSERT_TRUE(cw_deadlines_memory(d) < 4096);
    cw_deadlines_destroy(d);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("deadlines", NULL, NULL);
    CU_add_test(s, "empty heap", test_empty);
    CU_add_test(s, "ordering, equal due times by key", test_ordering_and_ties);
    CU_add_test(s, "schedule moves a key earlier and later", test_schedule_moves);
    CU_add_test(s, "cancel present and absent, root and last", test_cancel);
    CU_add_test(s, "pop_due respects now", test_pop_due_respects_now);
    CU_add_test(s, "keys 0 and UINT64_MAX, extreme times", test_extreme_keys_and_times);
    CU_add_test(s, "clear", test_clear);
    CU_add_test(s, "200k random operations against a reference", test_random_against_reference);
    CU_add_test(s, "a million entries: insert, drain, memory", test_million_insert_and_drain);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
