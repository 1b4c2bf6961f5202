/*
 * common.c — error names, the aborting allocation family, clocks, hashing and PRNG steps.
 */
#include "casewatch/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

const char *cw_err_str(cw_err_t err)
{
    switch (err) {
    case CW_OK: return "ok";
    case CW_ERR: return "error";
    case CW_ERR_AGAIN: return "try again";
    case CW_ERR_INVALID: return "invalid argument or input";
    case CW_ERR_CONFIG: return "configuration error";
    case CW_ERR_IO: return "i/o error";
    case CW_ERR_DB: return "database error";
    case CW_ERR_KAFKA: return "kafka error";
    case CW_ERR_SCHEMA: return "database schema is newer than this binary";
    case CW_ERR_NOTFOUND: return "not found";
    case CW_ERR_FENCED: return "offsets advanced by another owner";
    }
    return "unknown error";
}

void cw_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "casewatch: %s:%d: %s: invariant failed: %s\n", file, line, func, expr);
    abort();
}

static void oom(size_t n)
{
    fprintf(stderr, "casewatch: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cw_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *cw_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *cw_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *cw_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        oom(strlen(s) + 1);
    return d;
}

char *cw_strndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        oom(n + 1);
    return d;
}

int64_t cw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cw_strlcpy(char *dst, const char *src, size_t dstsz)
{
    if (!dstsz)
        return;
    size_t n = strlen(src);
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

uint64_t cw_random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed ^= ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    return seed ? seed : 0x9e3779b97f4a7c15ull;
}

int cw_jitter_ms(int ms, uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    int jitter = ms / 5;
    if (jitter <= 0)
        return ms;
    uint64_t r = (x * 0x2545f4914f6cdd1dull) >> 33;
    return ms + (int)(r % (uint64_t)(2 * jitter + 1)) - jitter;
}

uint64_t cw_hash_fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64: offset basis, then prime per byte */
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

uint64_t cw_hash_str(const char *s)
{
    return cw_hash_fnv1a(s, s ? strlen(s) : 0);
}

uint64_t cw_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
