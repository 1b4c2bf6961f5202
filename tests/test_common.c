/*
 * test_common.c — unit tests of the common helpers: reconnect jitter stays within +-20% and
 * its seed differs between processes (a fleet started together must not retry in lockstep).
 */
#include "casewatch/common.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_jitter_bounds(void)
{
    uint64_t st = cw_random_seed();
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < 10000; i++) {
        int j = cw_jitter_ms(1000, &st);
        lo = j < lo ? j : lo;
        hi = j > hi ? j : hi;
    }
    CU_ASSERT(lo >= 800 && lo < 820);
    CU_ASSERT(hi <= 1200 && hi > 1180);
    CU_ASSERT_EQUAL(cw_jitter_ms(3, &st), 3); /* too small to jitter */
    /* deterministic given the state */
    uint64_t a = 42, b = 42;
    CU_ASSERT_EQUAL(cw_jitter_ms(5000, &a), cw_jitter_ms(5000, &b));
}

/* the first three jitters of a child process, as one number */
static long long child_sequence(void)
{
    int fd[2];
    if (pipe(fd))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t st = cw_random_seed();
        long long v = 0;
        for (int i = 0; i < 3; i++)
            v = v * 10000 + cw_jitter_ms(5000, &st);
        if (write(fd[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    long long v = -1;
    if (read(fd[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = -1;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return v;
}

static void test_seed_differs_per_process(void)
{
    /* unseeded rand() gave every process the same sequence */
    long long a = child_sequence(), b = child_sequence(), c = child_sequence();
    CU_ASSERT(a > 0 && b > 0 && c > 0);
    CU_ASSERT(a != b || b != c);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("common", NULL, NULL);
    CU_add_test(s, "reconnect jitter is within +-20%", test_jitter_bounds);
    CU_add_test(s, "each process draws its own jitter", test_seed_differs_per_process);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
