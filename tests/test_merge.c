/*
 * test_merge.c — CUnit suite for the lane merge ([L]): timeless heads first, earliest head
 * next with ties to the lower lane, waiting while an open lane is empty; and the property
 * the daemon relies on: the order items leave in is the same however the lanes' items arrive
 * (random chunks, random interleaving), equal to the order of merging the whole lanes at once
 * — which is what casewatch-dryrun does over a log. (Timeless items, dead letters, may leave
 * earlier or later among other lanes' items: they change no state and move no clock; the timed
 * items' order is what must not vary.)
 */
#include "casewatch/merge.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

static void test_rules(void)
{
    int64_t h[3];
    bool o[3] = {false, false, false};
    h[0] = 5, h[1] = 3, h[2] = CW_MERGE_EMPTY;
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), 1);
    h[1] = 5; /* tie: the lower lane */
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), 0);
    o[2] = true; /* lane 2 may still deliver something earlier: wait */
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), -1);
    h[1] = CW_MERGE_NOW; /* but a dead letter needs no time */
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), 1);
    h[0] = h[1] = h[2] = CW_MERGE_EMPTY;
    o[2] = false;
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), -1); /* nothing queued */
    h[2] = CW_MERGE_NOW;
    o[0] = true;
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 3), 2);
    CU_ASSERT_EQUAL(cw_merge_next(h, o, 0), -1);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

enum { LANES = 3, PER = 400 };

typedef struct lanes {
    int64_t t[LANES][PER]; /* item times (some timeless), roughly increasing, some late */
    int n[LANES];
} lanes_t;

/* Merge the lanes delivered in chunks of random sizes, in random lane order; out gets
 * lane * PER + index per timed item, in the order they leave; returns how many items left. */
static int run(const lanes_t *L, uint64_t *seed, bool at_once, int *out, int *ntimed)
{
    int got[LANES] = {0}, next[LANES] = {0}, nout = 0;
    *ntimed = 0;
    for (;;) {
        bool more = false;
        for (int i = 0; i < LANES; i++)
            more |= got[i] < L->n[i];
        if (at_once) {
            for (int i = 0; i < LANES; i++)
                got[i] = L->n[i];
        } else if (more) {
            int i = (int)(rnd(seed) % LANES);
            int k = 1 + (int)(rnd(seed) % 40);
            got[i] = got[i] + k > L->n[i] ? L->n[i] : got[i] + k;
        }
        for (;;) {
            int64_t h[LANES];
            bool o[LANES];
            for (int i = 0; i < LANES; i++) {
                h[i] = next[i] < got[i] ? L->t[i][next[i]] : CW_MERGE_EMPTY;
                o[i] = got[i] < L->n[i];
            }
            int w = cw_merge_next(h, o, LANES);
            if (w < 0)
                break;
            if (L->t[w][next[w]] != CW_MERGE_NOW)
                out[(*ntimed)++] = w * PER + next[w];
            next[w]++;
            nout++;
        }
        bool done = true;
        for (int i = 0; i < LANES; i++)
            done &= next[i] == L->n[i];
        if (done)
            return nout;
        if (at_once)
            return -1; /* everything was delivered, yet something stayed queued */
    }
}

static void test_arrival_independent(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    static int ref[LANES * PER], got[LANES * PER];
    for (int round = 0; round < 200; round++) {
        lanes_t L;
        for (int i = 0; i < LANES; i++) {
            L.n[i] = (int)(rnd(&s) % PER);
            int64_t t = 1000;
            for (int j = 0; j < L.n[i]; j++) {
                uint64_t r = rnd(&s) % 100;
                t += (int64_t)(rnd(&s) % 50);
                L.t[i][j] = r < 5 ? CW_MERGE_NOW : r < 15 ? t - (int64_t)(rnd(&s) % 500) : t;
            }
        }
        int n, m;
        CU_ASSERT_EQUAL_FATAL(run(&L, &s, true, ref, &n), L.n[0] + L.n[1] + L.n[2]);
        for (int k = 0; k < 5; k++) {
            CU_ASSERT_EQUAL_FATAL(run(&L, &s, false, got, &m), L.n[0] + L.n[1] + L.n[2]);
            CU_ASSERT_EQUAL_FATAL(m, n);
            CU_ASSERT_EQUAL(memcmp(ref, got, sizeof(int) * (size_t)n), 0);
        }
        /* each lane's own order is kept */
        int last[LANES] = {-1, -1, -1};
        for (int k = 0; k < n; k++) {
            CU_ASSERT(ref[k] % PER > last[ref[k] / PER]);
            last[ref[k] / PER] = ref[k] % PER;
        }
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("merge", NULL, NULL);
    CU_add_test(s, "which head goes next", test_rules);
    CU_add_test(s, "the order does not depend on how items arrive", test_arrival_independent);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
