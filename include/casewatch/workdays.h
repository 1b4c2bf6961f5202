/*
 * workdays.h — calendar and England & Wales working-day arithmetic. Pure: no clock, no I/O
 * except cw_workdays_load_file(), which a caller uses once at startup.
 *
 * Days are counted as cw_day_t: days since 1970-01-01 (UTC), so day arithmetic is integer
 * arithmetic. A working day is Monday to Friday and not a bank holiday. The built-in holiday
 * list covers England & Wales 2015-2035 (deploy/bank-holidays-england-wales.txt holds the same
 * list as data); a user extends it with more files of "YYYY-MM-DD [comment]" lines.
 */
#ifndef CASEWATCH_WORKDAYS_H
#define CASEWATCH_WORKDAYS_H

#include "casewatch/common.h"

typedef int32_t cw_day_t; /**< days since 1970-01-01 UTC; day 0 was a Thursday */

#define CW_MS_PER_DAY 86400000LL

/** @brief The UTC day of a UTC millisecond timestamp (floor, also for negative times). */
cw_day_t cw_day_from_ms(int64_t ms);
/** @brief Midnight UTC of a day, in ms. */
int64_t cw_day_to_ms(cw_day_t day);
/** @brief Day of a civil date (proleptic Gregorian); month 1-12, mday 1-31. */
cw_day_t cw_day_from_ymd(int year, int month, int mday);
/** @brief Civil date of a day. */
void cw_day_to_ymd(cw_day_t day, int *year, int *month, int *mday);
/** @brief 0 = Monday … 6 = Sunday. */
int cw_day_weekday(cw_day_t day);
/** @brief Parse "YYYY-MM-DD" (exactly); CW_ERR_INVALID on anything else or an impossible date. */
CW_WUR cw_err_t cw_day_parse(const char *s, cw_day_t *out);
/**
 * @brief Format as "YYYY-MM-DD" into buf (at least 11 bytes; always NUL-terminated). Years
 * outside 0000-9999 need more room and are truncated to fit.
 */
void cw_day_format(cw_day_t day, char *buf, size_t bufsz);

/** @brief First day of the financial year (1 April) containing day. */
cw_day_t cw_day_fy_start(cw_day_t day);
/** @brief The same calendar date one year earlier (29 Feb → 28 Feb). */
cw_day_t cw_day_minus_year(cw_day_t day);
/** @brief First and last day of the latest complete calendar quarter ending on or before day. */
void cw_day_last_complete_quarter(cw_day_t day, cw_day_t *first, cw_day_t *last);

/** A set of bank holidays. */
typedef struct cw_workdays cw_workdays_t;

/** @brief A calendar with the built-in England & Wales bank holidays. Free with _destroy. */
cw_workdays_t *cw_workdays_new(void);
void cw_workdays_destroy(cw_workdays_t *wd);

/** @brief Add one holiday. */
void cw_workdays_add_holiday(cw_workdays_t *wd, cw_day_t day);

/**
 * @brief Add the holidays listed in a file: one "YYYY-MM-DD" per line, optionally followed by
 * whitespace and a comment; blank lines and lines starting with # are ignored.
 * @returns CW_OK, or CW_ERR_CONFIG with errstr "file:line: expected YYYY-MM-DD" (nothing added),
 * or CW_ERR_IO with errstr "file: reason" when the file cannot be read (nothing added).
 */
CW_WUR cw_err_t cw_workdays_load_file(cw_workdays_t *wd, const char *path, char *errstr,
                                      size_t errsz);

/**
 * @brief The holidays of wd, sorted ascending, without duplicates (weekend days included if
 * they were added). Borrowed: valid until the next change to wd or cw_workdays_destroy().
 * @returns how many.
 */
size_t cw_workdays_holidays(const cw_workdays_t *wd, const cw_day_t **days);

/** @brief Monday–Friday and not a holiday. */
bool cw_workdays_is_working(const cw_workdays_t *wd, cw_day_t day);

/** @brief Number of working days in [first, last] (inclusive; 0 if last < first). */
int cw_workdays_count(const cw_workdays_t *wd, cw_day_t first, cw_day_t last);

/**
 * @brief The day n working days after day (n > 0), or before it (n < 0); n = 0 gives day
 * itself. "3 working days after Friday" is Wednesday (when Monday–Wednesday are working days).
 */
cw_day_t cw_workdays_add(const cw_workdays_t *wd, cw_day_t day, int n);

#endif
