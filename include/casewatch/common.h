/*
 * common.h — the error enum, the allocation family and small helpers every module shares
 * (clocks, the one string hash, a seeded PRNG step).
 *
 * Allocation failure is not a condition casewatch tries to survive: cw_malloc() and friends
 * abort with a message, so no caller checks for NULL.
 */
#ifndef CASEWATCH_COMMON_H
#define CASEWATCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define CW_WUR __attribute__((warn_unused_result))
#define CW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/** An invariant: checked (abort with the expression and where) in debug and sanitizer
 * builds (CW_ENABLE_ASSERT), compiled out of release builds. Never for input checks. */
#ifdef CW_ENABLE_ASSERT
#define CW_ASSERT(c) ((c) ? (void)0 : cw_assert_fail(#c, __FILE__, __LINE__, __func__))
#else
#define CW_ASSERT(c) ((void)sizeof(!(c)))
#endif
_Noreturn void cw_assert_fail(const char *expr, const char *file, int line, const char *func);

/** One error space for the whole code base: 0 is success, failures are negative. */
typedef enum cw_err {
    CW_OK = 0,
    CW_ERR = -1,          /**< generic failure, detail in errstr / log */
    CW_ERR_AGAIN = -2,    /**< not now: retry later (transient) */
    CW_ERR_INVALID = -3,  /**< bad argument or bad input */
    CW_ERR_CONFIG = -4,   /**< configuration error */
    CW_ERR_IO = -5,       /**< system call or socket failure */
    CW_ERR_DB = -6,       /**< PostgreSQL failure */
    CW_ERR_KAFKA = -7,    /**< librdkafka failure */
    CW_ERR_SCHEMA = -8,   /**< database schema newer than this binary */
    CW_ERR_NOTFOUND = -9, /**< no such object */
    CW_ERR_FENCED = -10,  /**< another owner advanced our offsets: state must be reloaded */
} cw_err_t;

/** @brief Human-readable name of an error code; never NULL, static storage. */
const char *cw_err_str(cw_err_t err);

/** @brief malloc that aborts on failure. Caller frees with free(). */
void *cw_malloc(size_t n);
/** @brief calloc that aborts on failure. Caller frees with free(). */
void *cw_calloc(size_t nmemb, size_t size);
/** @brief realloc that aborts on failure. */
void *cw_realloc(void *p, size_t n);
/** @brief strdup that aborts on failure; NULL in gives NULL out. Caller frees. */
char *cw_strdup(const char *s);
/** @brief strndup that aborts on failure. Caller frees. */
char *cw_strndup(const char *s, size_t n);

/** @brief Wall clock in UTC milliseconds since the epoch. */
int64_t cw_now_ms(void);
/** @brief Monotonic clock in milliseconds (for timeouts and latency, never for data). */
int64_t cw_mono_ms(void);

/** @brief snprintf into a fixed buffer, always NUL-terminated, truncating silently. */
void cw_strlcpy(char *dst, const char *src, size_t dstsz);

/**
 * @brief A seed for cw_jitter_ms() that differs per process and per call (getrandom(), mixed
 * with the pid and the clock): a fleet started together does not reconnect in lockstep.
 */
uint64_t cw_random_seed(void);

/** @brief ms +-20%, from the generator state *state (xorshift64*; pure given the state). */
int cw_jitter_ms(int ms, uint64_t *state);

/**
 * @brief FNV-1a 64 of the n bytes at p. Its values are persisted and compared across runs
 *        (stamp tie-breaks, alert ids, migration checksums): the function never changes.
 */
uint64_t cw_hash_fnv1a(const void *p, size_t n);

/** @brief cw_hash_fnv1a() of a string without its terminator; NULL hashes as "". */
uint64_t cw_hash_str(const char *s);

/**
 * @brief splitmix64: advances *state and returns its next output. For seeded, reproducible
 *        sequences (the simulator, the load tools): a seed always gives the same values.
 */
uint64_t cw_splitmix64(uint64_t *state);

#endif
