/*
 * workdays.c — civil-date arithmetic on cw_day_t (days since 1970-01-01) and England & Wales
 * working days. Pure except cw_workdays_load_file(); no globals but const tables.
 *
 * A cw_workdays_t owns one sorted, duplicate-free array of holidays. Counting and adding
 * working days never walk the calendar day by day: whole weeks are done with weekday
 * arithmetic and only the holidays inside the range (found by binary search) are visited, so
 * a ten-year count costs a few dozen steps.
 *
 * The built-in list is computed at cw_workdays_new() from the standing rules plus a short
 * table of one-off changes, for 2015-2035. deploy/bank-holidays-england-wales.txt holds the
 * same list as data; tests/test_workdays.c checks that the two agree exactly.
 */
#include "casewatch/workdays.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cw_workdays {
    cw_day_t *days; /* sorted ascending, no duplicates; may include weekend days */
    size_t n, cap;
};

/* ---- civil dates ---------------------------------------------------------------------- */

/* Floor division and non-negative modulo: the calendar must not bend at 1970. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/*
 * Howard Hinnant's days_from_civil: years counted from March so the leap day is last, then
 * 400-year eras of 146097 days. Exact for every proleptic Gregorian date whose day number
 * fits cw_day_t (about +-5.8 million years).
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

cw_day_t cw_day_from_ms(int64_t ms)
{
    return (cw_day_t)floor_div(ms, CW_MS_PER_DAY);
}

int64_t cw_day_to_ms(cw_day_t day)
{
    return (int64_t)day * CW_MS_PER_DAY;
}

cw_day_t cw_day_from_ymd(int year, int month, int mday)
{
    return (cw_day_t)days_from_civil(year, month, mday);
}

void cw_day_to_ymd(cw_day_t day, int *year, int *month, int *mday)
{
    int64_t y;
    civil_from_days(day, &y, month, mday);
    *year = (int)y;
}

int cw_day_weekday(cw_day_t day)
{
    return (int)floor_mod((int64_t)day + 3, 7); /* day 0 was a Thursday (3) */
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The date at the start of s, exactly "YYYY-MM-DD"; says nothing about what follows. */
static bool parse_prefix(const char *s, cw_day_t *out)
{
    for (int i = 0; i < 10; i++)
        if (s[i] == '\0')
            return false;
    if (s[4] != '-' || s[7] != '-')
        return false;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    *out = cw_day_from_ymd(y, m, d);
    return true;
}

cw_err_t cw_day_parse(const char *s, cw_day_t *out)
{
    cw_day_t day;
    if (!s || !parse_prefix(s, &day) || s[10] != '\0')
        return CW_ERR_INVALID;
    *out = day;
    return CW_OK;
}

void cw_day_format(cw_day_t day, char *buf, size_t bufsz)
{
    int y, m, d;
    cw_day_to_ymd(day, &y, &m, &d);
    char tmp[40]; /* room for any int year: truncation is cw_strlcpy's, visibly intended */
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", y, m, d);
    cw_strlcpy(buf, tmp, bufsz);
}

cw_day_t cw_day_fy_start(cw_day_t day)
{
    int y, m, d;
    cw_day_to_ymd(day, &y, &m, &d);
    return cw_day_from_ymd(m >= 4 ? y : y - 1, 4, 1);
}

cw_day_t cw_day_minus_year(cw_day_t day)
{
    int y, m, d;
    cw_day_to_ymd(day, &y, &m, &d);
    int dim = days_in_month(y - 1, m);
    return cw_day_from_ymd(y - 1, m, d > dim ? dim : d);
}

void cw_day_last_complete_quarter(cw_day_t day, cw_day_t *first, cw_day_t *last)
{
    int y, m, d;
    cw_day_to_ymd(day, &y, &m, &d);
    int qm = (m - 1) / 3 * 3 + 1; /* first month of day's quarter */
    cw_day_t qfirst = cw_day_from_ymd(y, qm, 1);
    cw_day_t qlast = cw_day_from_ymd(y, qm + 2, days_in_month(y, qm + 2));
    if (day == qlast) {
        *first = qfirst;
        *last = qlast;
        return;
    }
    *last = qfirst - 1;
    *first = qm == 1 ? cw_day_from_ymd(y - 1, 10, 1) : cw_day_from_ymd(y, qm - 3, 1);
}

/* ---- weekday arithmetic ---------------------------------------------------------------- */

static bool is_weekday(cw_day_t day)
{
    return cw_day_weekday(day) < 5;
}

/* Monday-Friday days in [-3, x) for x >= -3, extended linearly below (day -3 was a Monday);
 * only differences are used, so the origin does not matter. */
static int64_t weekdays_before(int64_t x)
{
    int64_t t = x + 3;
    int64_t r = floor_mod(t, 7);
    return floor_div(t, 7) * 5 + (r < 5 ? r : 5);
}

/* The weekday k Monday-Fridays after day (k > 0): weekdays in (day, result] == k. */
static int64_t weekdays_after(int64_t day, int64_t k)
{
    int w = (int)floor_mod(day + 3, 7);
    if (w > 4) { /* from a weekend, count as from the Friday before */
        day -= w - 4;
        w = 4;
    }
    int64_t rem = k % 5;
    int64_t x = day + k / 5 * 7 + rem;
    return w + rem > 4 ? x + 2 : x;
}

/* The weekday k Monday-Fridays before day (k > 0): weekdays in [result, day) == k. */
static int64_t weekdays_prior(int64_t day, int64_t k)
{
    int w = (int)floor_mod(day + 3, 7);
    if (w > 4) { /* from a weekend, count as from the Monday after */
        day += 7 - w;
        w = 0;
    }
    int64_t rem = k % 5;
    int64_t x = day - k / 5 * 7 - rem;
    return w - rem < 0 ? x - 2 : x;
}

/* ---- the holiday set ------------------------------------------------------------------- */

/* Index of the first holiday >= day. */
static size_t lower_bound(const cw_workdays_t *wd, int64_t day)
{
    size_t lo = 0, hi = wd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (wd->days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Holidays falling on Monday-Friday within [first, last]. */
static int64_t weekday_holidays(const cw_workdays_t *wd, int64_t first, int64_t last)
{
    int64_t h = 0;
    for (size_t i = lower_bound(wd, first); i < wd->n && wd->days[i] <= last; i++)
        h += is_weekday(wd->days[i]);
    return h;
}

static int cmp_day(const void *a, const void *b)
{
    cw_day_t x = *(const cw_day_t *)a, y = *(const cw_day_t *)b;
    return (x > y) - (x < y);
}

/* Merge a batch of days in at once: append, sort, drop duplicates. */
static void add_many(cw_workdays_t *wd, const cw_day_t *days, size_t n)
{
    if (!n)
        return;
    if (wd->n + n > wd->cap) {
        wd->cap = (wd->n + n) * 2;
        wd->days = cw_realloc(wd->days, wd->cap * sizeof(cw_day_t));
    }
    memcpy(wd->days + wd->n, days, n * sizeof(cw_day_t));
    wd->n += n;
    qsort(wd->days, wd->n, sizeof(cw_day_t), cmp_day);
    size_t out = 1;
    for (size_t i = 1; i < wd->n; i++)
        if (wd->days[i] != wd->days[out - 1])
            wd->days[out++] = wd->days[i];
    wd->n = out;
}

/* ---- the built-in England & Wales list -------------------------------------------------- */

#define CW_BUILTIN_FIRST_YEAR 2015
#define CW_BUILTIN_LAST_YEAR  2035

/*
 * One-off changes to the standing rules, by royal proclamation (GOV.UK). Kept in step with
 * the header of deploy/bank-holidays-england-wales.txt.
 */
static const struct {
    int year, month, mday;
    bool add; /* false: the rule's day is not a holiday that year */
} holiday_changes[] = {
    {2020, 5, 4, false},  {2020, 5, 8, true}, /* Early May moved to VE day */
    {2022, 5, 30, false}, {2022, 6, 2, true}, /* Spring moved to Thursday 2 June */
    {2022, 6, 3, true},                       /* Platinum Jubilee */
    {2022, 9, 19, true},                      /* State Funeral of Queen Elizabeth II */
    {2023, 5, 8, true},                       /* coronation of King Charles III */
};

/* Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher). */
static cw_day_t easter_sunday(int y)
{
    int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31;
    int mday = (h + l - 7 * m + 114) % 31 + 1;
    return cw_day_from_ymd(y, month, mday);
}

/* The Monday on or after day; the Monday on or before day. */
static cw_day_t monday_from(cw_day_t day)
{
    return day + (7 - cw_day_weekday(day)) % 7;
}

static cw_day_t monday_until(cw_day_t day)
{
    return day - cw_day_weekday(day);
}

/* A year's holidays by the standing rules into out (room for 8); returns how many. */
static size_t standing_rules(int y, cw_day_t *out)
{
    size_t n = 0;
    cw_day_t nyd = cw_day_from_ymd(y, 1, 1);
    out[n++] = is_weekday(nyd) ? nyd : monday_from(nyd);
    cw_day_t easter = easter_sunday(y);
    out[n++] = easter - 2;
    out[n++] = easter + 1;
    out[n++] = monday_from(cw_day_from_ymd(y, 5, 1));
    out[n++] = monday_until(cw_day_from_ymd(y, 5, 31));
    out[n++] = monday_until(cw_day_from_ymd(y, 8, 31));
    /* Christmas and Boxing Day: one on a weekend moves to the next weekday still free. */
    cw_day_t xmas = cw_day_from_ymd(y, 12, 25), next = xmas;
    for (int j = 0; j < 2; j++, next++) {
        while (!is_weekday(next))
            next++;
        out[n++] = next;
    }
    return n;
}

cw_workdays_t *cw_workdays_new(void)
{
    cw_workdays_t *wd = cw_calloc(1, sizeof(*wd));
    enum { NYEARS = CW_BUILTIN_LAST_YEAR - CW_BUILTIN_FIRST_YEAR + 1 };
    cw_day_t list[NYEARS * 8 + CW_ARRAY_LEN(holiday_changes)];
    size_t n = 0;
    for (int y = CW_BUILTIN_FIRST_YEAR; y <= CW_BUILTIN_LAST_YEAR; y++) {
        cw_day_t year[8];
        size_t k = standing_rules(y, year);
        for (size_t i = 0; i < k; i++) {
            bool removed = false;
            for (size_t c = 0; c < CW_ARRAY_LEN(holiday_changes); c++)
                if (!holiday_changes[c].add &&
                    year[i] == cw_day_from_ymd(holiday_changes[c].year, holiday_changes[c].month,
                                               holiday_changes[c].mday))
                    removed = true;
            if (!removed)
                list[n++] = year[i];
        }
    }
    for (size_t c = 0; c < CW_ARRAY_LEN(holiday_changes); c++)
        if (holiday_changes[c].add)
            list[n++] = cw_day_from_ymd(holiday_changes[c].year, holiday_changes[c].month,
                                        holiday_changes[c].mday);
    add_many(wd, list, n);
    return wd;
}

void cw_workdays_destroy(cw_workdays_t *wd)
{
    if (!wd)
        return;
    free(wd->days);
    free(wd);
}

void cw_workdays_add_holiday(cw_workdays_t *wd, cw_day_t day)
{
    add_many(wd, &day, 1);
}

size_t cw_workdays_holidays(const cw_workdays_t *wd, const cw_day_t **days)
{
    *days = wd->days;
    return wd->n;
}

/* Is the rest of a line (after its date) empty or whitespace then a comment? */
static bool rest_ok(const char *s)
{
    return *s == '\0' || *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n';
}

cw_err_t cw_workdays_load_file(cw_workdays_t *wd, const char *path, char *errstr, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errsz, "%s: %s", path, strerror(errno));
        return CW_ERR_IO;
    }
    /* Parse the whole file before touching wd, so a bad line adds nothing. */
    cw_day_t *days = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    cw_err_t err = CW_OK;
    while (getline(&line, &linecap, f) != -1) {
        lineno++;
        const char *p = line + strspn(line, " \t\r\n");
        if (*p == '\0' || *p == '#')
            continue;
        cw_day_t day;
        if (!parse_prefix(p, &day) || !rest_ok(p + 10)) {
            snprintf(errstr, errsz, "%s:%zu: expected YYYY-MM-DD", path, lineno);
            err = CW_ERR_CONFIG;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            days = cw_realloc(days, cap * sizeof(cw_day_t));
        }
        days[n++] = day;
    }
    if (err == CW_OK && ferror(f)) {
        snprintf(errstr, errsz, "%s:%zu: %s", path, lineno + 1, strerror(errno));
        err = CW_ERR_IO;
    }
    free(line);
    fclose(f);
    if (err == CW_OK)
        add_many(wd, days, n);
    free(days);
    return err;
}

bool cw_workdays_is_working(const cw_workdays_t *wd, cw_day_t day)
{
    if (!is_weekday(day))
        return false;
    size_t i = lower_bound(wd, day);
    return !(i < wd->n && wd->days[i] == day);
}

int cw_workdays_count(const cw_workdays_t *wd, cw_day_t first, cw_day_t last)
{
    if (last < first)
        return 0;
    int64_t w = weekdays_before((int64_t)last + 1) - weekdays_before(first);
    return (int)(w - weekday_holidays(wd, first, last));
}

/*
 * Jump over `remaining` weekdays at once; the holidays inside the jump are the working days
 * still owed, so jump again by that many, until a jump crosses no holiday. Each jump lands on
 * a weekday, and the last one on a weekday that is not a holiday, which is the answer.
 */
cw_day_t cw_workdays_add(const cw_workdays_t *wd, cw_day_t day, int n)
{
    int64_t cur = day, remaining = n < 0 ? -(int64_t)n : n;
    while (remaining > 0) {
        int64_t next;
        if (n > 0) {
            next = weekdays_after(cur, remaining);
            remaining = weekday_holidays(wd, cur + 1, next);
        } else {
            next = weekdays_prior(cur, remaining);
            remaining = weekday_holidays(wd, next, cur - 1);
        }
        cur = next;
    }
    return (cw_day_t)cur;
}
