/*
 * test_workdays.c — CUnit suite for calendar and working-day arithmetic: civil dates over
 * 0000-9999 against a naive day-by-day calendar, strict parsing, financial-year and quarter
 * helpers, the built-in England & Wales bank holidays against the deploy/ data file, working-day
 * counts and additions against brute force, and holiday files with their errors.
 *
 * Expectations in the tables are hand-checked against a printed calendar; the brute-force
 * references share no code with src/workdays.c except cw_day_from_ymd(), which is itself
 * checked here against a naive calendar first.
 */
#include "casewatch/workdays.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOLIDAY_FILE CW_SOURCE_DIR "/deploy/bank-holidays-england-wales.txt"

static cw_day_t ymd(const char *s)
{
    cw_day_t d = 0;
    if (cw_day_parse(s, &d) != CW_OK)
        CU_FAIL_FATAL("bad date literal in test");
    return d;
}

/* A small deterministic PRNG (xorshift64*) whose state the caller owns. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int rnd_range(uint64_t *s, int lo, int hi) /* inclusive */
{
    return lo + (int)(rnd(s) % (uint64_t)(hi - lo + 1));
}

/* ---- civil dates -------------------------------------------------------------------------- */

static bool naive_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int naive_dim(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && naive_leap(y) ? 29 : dim[m - 1];
}

static void test_known_days(void)
{
    static const struct {
        int y, m, d;
        cw_day_t day;
        int weekday;
    } cases[] = {
        {1970, 1, 1, 0, 3},         {1969, 12, 31, -1, 2},   {2000, 3, 1, 11017, 2},
        {2024, 1, 1, 19723, 0},     {2024, 2, 29, 19782, 3}, {1600, 1, 1, -135140, 5},
        {0, 3, 1, -719468, 2},      {0, 1, 1, -719528, 5},   {1, 1, 1, -719162, 0},
        {9999, 12, 31, 2932896, 4}, {1900, 1, 1, -25567, 0},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        cw_day_t d = cw_day_from_ymd(cases[i].y, cases[i].m, cases[i].d);
        CU_ASSERT_EQUAL(d, cases[i].day);
        CU_ASSERT_EQUAL(cw_day_weekday(d), cases[i].weekday);
        int y, m, md;
        cw_day_to_ymd(cases[i].day, &y, &m, &md);
        CU_ASSERT(y == cases[i].y && m == cases[i].m && md == cases[i].d);
    }
}

/* Days of 0000-01-01 .. 9999-12-31 against a calendar that just counts up. */
static void test_every_day_round_trips(void)
{
    int y = 0, m = 1, d = 1;
    cw_day_t day = cw_day_from_ymd(0, 1, 1);
    int wd = 5; /* 0000-01-01 was a Saturday */
    long bad_ymd = 0, bad_fmt = 0, bad_wd = 0;
    char buf[40], want[40];
    while (y <= 9999) {
        /* Each 400 years repeat the calendar, so all of 1600-2400 and a stride of the rest
         * cover everything while keeping the suite quick under valgrind. */
        bool full = (y >= 1600 && y <= 2400) || day % 5 == 0;
        int yy, mm, dd;
        if (full) {
            cw_day_to_ymd(day, &yy, &mm, &dd);
            if (yy != y || mm != m || dd != d || cw_day_from_ymd(y, m, d) != day)
                bad_ymd++;
            if (cw_day_weekday(day) != wd)
                bad_wd++;
        }
        if ((y >= 1900 && y <= 2100) || day % 31 == 0) {
            cw_day_format(day, buf, sizeof(buf));
            snprintf(want, sizeof(want), "%04d-%02d-%02d", y, m, d);
            cw_day_t back = 0;
            if (strcmp(buf, want) != 0 || cw_day_parse(buf, &back) != CW_OK || back != day)
                bad_fmt++;
        }
        day++;
        wd = (wd + 1) % 7;
        if (++d > naive_dim(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    CU_ASSERT_EQUAL(bad_ymd, 0);
    CU_ASSERT_EQUAL(bad_wd, 0);
    CU_ASSERT_EQUAL(bad_fmt, 0);
    CU_ASSERT_EQUAL(day - 1, 2932896); /* 9999-12-31 */
    /* and well outside the printable range */
    static const int far[][3] = {
        {-4713, 11, 24}, {-1, 12, 31}, {-1200, 2, 29}, {20000, 2, 29}, {123456, 7, 8}};
    for (size_t i = 0; i < CW_ARRAY_LEN(far); i++) {
        int yy, mm, dd;
        cw_day_t x = cw_day_from_ymd(far[i][0], far[i][1], far[i][2]);
        cw_day_to_ymd(x, &yy, &mm, &dd);
        CU_ASSERT(yy == far[i][0] && mm == far[i][1] && dd == far[i][2]);
        cw_day_to_ymd(x + 1, &yy, &mm, &dd);
        CU_ASSERT_EQUAL(cw_day_from_ymd(yy, mm, dd), x + 1);
    }
}

static void test_from_ms_floors(void)
{
    static const struct {
        int64_t ms;
        cw_day_t day;
    } cases[] = {
        {0, 0},
        {1, 0},
        {86399999, 0},
        {86400000, 1},
        {-1, -1},
        {-86400000, -1},
        {-86400001, -2},
        {1704067200000LL, 19723}, /* 2024-01-01T00:00:00Z */
        {1704067199999LL, 19722},
        {253402300799999LL, 2932896}, /* 9999-12-31T23:59:59.999Z */
        {-62167219200000LL, -719528}, /* 0000-01-01T00:00:00Z */
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        CU_ASSERT_EQUAL(cw_day_from_ms(cases[i].ms), cases[i].day);
        CU_ASSERT(cw_day_to_ms(cases[i].day) <= cases[i].ms);
        CU_ASSERT(cw_day_to_ms(cases[i].day) + CW_MS_PER_DAY > cases[i].ms);
    }
    CU_ASSERT_EQUAL(cw_day_to_ms(2932896), 253402214400000LL);
    CU_ASSERT_EQUAL(cw_day_to_ms(-1), -86400000LL);
}

static void test_parse_strict(void)
{
    static const char *bad[] = {
        "2024-02-30", "2024-2-01",  "2024-02-1",  "2024-02-01x", "2024-02-01 ", " 2024-02-01",
        "",           "2023-02-29", "1900-02-29", "2024-00-10",  "2024-13-01",  "2024-01-00",
        "2024-01-32", "2024-04-31", "+024-01-01", "2024_01_01",  "20240101",    "2024-1-1",
        "abcd-ef-gh", "2024-01-0a", "-001-01-01", "2024-01",     "12024-01-01", "2024-01-01\n",
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
        cw_day_t d = 12345;
        CU_ASSERT_EQUAL(cw_day_parse(bad[i], &d), CW_ERR_INVALID);
        CU_ASSERT_EQUAL(d, 12345); /* untouched on failure */
    }
    CU_ASSERT_EQUAL(cw_day_parse(NULL, &(cw_day_t){0}), CW_ERR_INVALID);
    static const struct {
        const char *s;
        cw_day_t day;
    } good[] = {{"2024-02-29", 19782}, {"2000-02-29", 11016},   {"1970-01-01", 0},
                {"1969-12-31", -1},    {"0000-01-01", -719528}, {"9999-12-31", 2932896}};
    for (size_t i = 0; i < CW_ARRAY_LEN(good); i++) {
        cw_day_t d = 0;
        CU_ASSERT_EQUAL(cw_day_parse(good[i].s, &d), CW_OK);
        CU_ASSERT_EQUAL(d, good[i].day);
    }
}

static void test_format_truncates_safely(void)
{
    char buf[11];
    cw_day_format(ymd("2024-03-29"), buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "2024-03-29");
    char small[5];
    cw_day_format(ymd("2024-03-29"), small, sizeof(small));
    CU_ASSERT_STRING_EQUAL(small, "2024");
    char big[32];
    cw_day_format(cw_day_from_ymd(-1, 12, 31), big, sizeof(big));
    CU_ASSERT_STRING_EQUAL(big, "-001-12-31");
    cw_day_format(cw_day_from_ymd(10000, 1, 1), buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "10000-01-0"); /* too long for 11 bytes: cut, terminated */
}

static void test_fy_start(void)
{
    static const char *cases[][2] = {
        {"2024-01-31", "2023-04-01"}, {"2024-04-01", "2024-04-01"}, {"2024-03-31", "2023-04-01"},
        {"2024-12-31", "2024-04-01"}, {"2023-04-02", "2023-04-01"}, {"1970-01-01", "1969-04-01"},
        {"1969-05-05", "1969-04-01"}, {"0000-02-01", "-001-04-01"}, {"9999-12-31", "9999-04-01"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        char buf[16];
        cw_day_format(cw_day_fy_start(ymd(cases[i][0])), buf, sizeof(buf));
        CU_ASSERT_STRING_EQUAL(buf, cases[i][1]);
    }
}

static void test_minus_year(void)
{
    static const char *cases[][2] = {
        {"2024-02-29", "2023-02-28"}, {"2024-03-01", "2023-03-01"}, {"2023-02-28", "2022-02-28"},
        {"2025-02-28", "2024-02-28"}, {"2024-12-31", "2023-12-31"}, {"1970-01-01", "1969-01-01"},
        {"2001-02-28", "2000-02-28"}, {"2000-02-29", "1999-02-28"}, {"2024-02-28", "2023-02-28"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++)
        CU_ASSERT_EQUAL(cw_day_minus_year(ymd(cases[i][0])), ymd(cases[i][1]));
}

static void test_last_complete_quarter(void)
{
    static const char *cases[][3] = {
        {"2024-01-31", "2023-10-01", "2023-12-31"}, {"2023-12-31", "2023-10-01", "2023-12-31"},
        {"2023-12-30", "2023-07-01", "2023-09-30"}, {"2024-03-31", "2024-01-01", "2024-03-31"},
        {"2024-03-30", "2023-10-01", "2023-12-31"}, {"2024-04-01", "2024-01-01", "2024-03-31"},
        {"2024-06-30", "2024-04-01", "2024-06-30"}, {"2024-07-15", "2024-04-01", "2024-06-30"},
        {"2024-09-30", "2024-07-01", "2024-09-30"}, {"2024-10-01", "2024-07-01", "2024-09-30"},
        {"2024-01-01", "2023-10-01", "2023-12-31"}, {"1970-01-01", "1969-10-01", "1969-12-31"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        cw_day_t first = 0, last = 0;
        cw_day_last_complete_quarter(ymd(cases[i][0]), &first, &last);
        CU_ASSERT_EQUAL(first, ymd(cases[i][1]));
        CU_ASSERT_EQUAL(last, ymd(cases[i][2]));
    }
}

/* ---- bank holidays ------------------------------------------------------------------------ */

/* The dates of the data file, read with no help from cw_workdays_load_file(). */
static size_t read_holiday_file(cw_day_t *out, size_t max)
{
    FILE *f = fopen(HOLIDAY_FILE, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        int y, m, d;
        char name[200];
        if (sscanf(line, "%4d-%2d-%2d  %199[^\n]", &y, &m, &d, name) != 4 || line[10] != ' ' ||
            line[11] != ' ' || n == max) {
            CU_FAIL("malformed line in the holiday file");
            continue;
        }
        out[n++] = cw_day_from_ymd(y, m, d);
    }
    fclose(f);
    return n;
}

static void test_builtin_equals_data_file(void)
{
    cw_day_t file[512];
    size_t nfile = read_holiday_file(file, CW_ARRAY_LEN(file));
    CU_ASSERT_EQUAL(nfile, 171); /* 21 years x 8, +2 in 2022, +1 in 2023 */
    cw_workdays_t *wd = cw_workdays_new();
    const cw_day_t *days;
    size_t n = cw_workdays_holidays(wd, &days);
    CU_ASSERT_EQUAL_FATAL(n, nfile);
    size_t mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        if (days[i] != file[i]) { /* the file is sorted too */
            char a[16], b[16];
            cw_day_format(days[i], a, sizeof(a));
            cw_day_format(file[i], b, sizeof(b));
            fprintf(stderr, "built-in %s != file %s\n", a, b);
            mismatches++;
        }
        CU_ASSERT(cw_day_weekday(days[i]) < 5); /* a holiday on a weekend has a substitute */
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    cw_workdays_destroy(wd);
}

static void test_known_holidays(void)
{
    static const char *holidays[] = {
        "2024-03-29", "2024-04-01", "2024-01-01", "2024-05-06", "2024-05-27", "2024-08-26",
        "2024-12-25", "2024-12-26", "2020-05-08", "2022-06-02", "2022-06-03", "2022-09-19",
        "2023-05-01", "2023-05-08", "2021-12-27", "2021-12-28", "2022-01-03", "2022-12-26",
        "2022-12-27", "2020-12-28", "2015-12-28", "2016-12-27", "2017-01-02", "2023-01-02",
        "2025-04-18", "2025-04-21", "2026-04-03", "2027-03-26", "2032-12-27", "2032-12-28",
        "2033-01-03", "2035-03-23", "2035-03-26", "2035-12-25", "2015-01-01",
    };
    static const char *working[] = {
        "2024-03-28", "2024-04-02", "2020-05-04", "2022-05-30", "2021-12-24",
        "2021-12-29", "2022-01-04", "2023-05-09", "2020-12-29", "2022-09-20",
        "2024-12-27", "2014-12-25", "2036-12-25", "2023-01-03", "2016-12-28",
    };
    cw_workdays_t *wd = cw_workdays_new();
    for (size_t i = 0; i < CW_ARRAY_LEN(holidays); i++) {
        bool w = cw_workdays_is_working(wd, ymd(holidays[i]));
        if (w)
            fprintf(stderr, "expected a bank holiday: %s\n", holidays[i]);
        CU_ASSERT_FALSE(w);
    }
    for (size_t i = 0; i < CW_ARRAY_LEN(working); i++) {
        bool w = cw_workdays_is_working(wd, ymd(working[i]));
        if (!w)
            fprintf(stderr, "expected a working day: %s\n", working[i]);
        CU_ASSERT_TRUE(w);
    }
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, ymd("2024-03-30"))); /* Saturday */
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, ymd("2024-03-31"))); /* Sunday */
    /* per-year totals: 8, except 2022 (10) and 2023 (9) */
    for (int y = 2015; y <= 2035; y++) {
        int weekdays = 0;
        for (cw_day_t d = cw_day_from_ymd(y, 1, 1); d <= cw_day_from_ymd(y, 12, 31); d++)
            weekdays += cw_day_weekday(d) < 5;
        int h =
            weekdays - cw_workdays_count(wd, cw_day_from_ymd(y, 1, 1), cw_day_from_ymd(y, 12, 31));
        CU_ASSERT_EQUAL(h, y == 2022 ? 10 : y == 2023 ? 9 : 8);
    }
    cw_workdays_destroy(wd);
}

/* ---- counting and adding, against brute force --------------------------------------------- */

/* An independent reference: a flag per day over [base, base + span). */
typedef struct {
    cw_day_t base;
    int span;
    char *holiday;
} ref_t;

static void ref_init(ref_t *r, cw_day_t base, int span)
{
    r->base = base;
    r->span = span;
    r->holiday = calloc((size_t)span, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->holiday);
    cw_day_t file[512];
    size_t n = read_holiday_file(file, CW_ARRAY_LEN(file));
    for (size_t i = 0; i < n; i++)
        if (file[i] >= base && file[i] < base + span)
            r->holiday[file[i] - base] = 1;
}

static bool ref_working(const ref_t *r, cw_day_t d)
{
    int wd = (int)(((int64_t)d % 7 + 7 + 3) % 7); /* day 0 was a Thursday */
    return wd < 5 && !r->holiday[d - r->base];
}

static int ref_count(const ref_t *r, cw_day_t first, cw_day_t last)
{
    int n = 0;
    for (cw_day_t d = first; d <= last; d++)
        n += ref_working(r, d);
    return n;
}

static cw_day_t ref_add(const ref_t *r, cw_day_t d, int n)
{
    int step = n < 0 ? -1 : 1;
    for (int left = abs(n); left > 0;) {
        d += step;
        left -= ref_working(r, d);
    }
    return d;
}

static void test_count_known_ranges(void)
{
    static const struct {
        const char *first, *last;
        int count;
    } cases[] = {
        {"2023-04-01", "2024-01-31", 209}, /* 218 weekdays - 9 bank holidays */
        {"2024-01-01", "2024-12-31", 254},
        {"2022-04-01", "2023-03-31", 251},
        {"2024-03-25", "2024-04-05", 8}, /* Easter: 10 weekdays - 2 */
        {"2022-05-30", "2022-06-03", 3}, /* Jubilee week */
        {"2024-03-29", "2024-03-29", 0}, /* Good Friday alone */
        {"2024-03-28", "2024-03-28", 1},
        {"2024-03-30", "2024-03-31", 0}, /* a weekend */
        {"2024-04-02", "2024-04-01", 0}, /* last < first */
        {"2024-04-02", "2023-04-01", 0},
        {"1969-12-29", "1970-01-04", 5},       /* across day 0, no holidays then */
        {"0000-01-01", "9999-12-31", 2608704}, /* 521775 weeks x 5 - 171 */
        {"2015-01-01", "2035-12-31", 5307},
    };
    cw_workdays_t *wd = cw_workdays_new();
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        int got = cw_workdays_count(wd, ymd(cases[i].first), ymd(cases[i].last));
        if (got != cases[i].count)
            fprintf(stderr, "count %s..%s = %d, expected %d\n", cases[i].first, cases[i].last, got,
                    cases[i].count);
        CU_ASSERT_EQUAL(got, cases[i].count);
    }
    cw_workdays_destroy(wd);
}

static void test_count_matches_brute_force(void)
{
    ref_t r;
    cw_day_t base = ymd("2005-01-01");
    ref_init(&r, base, cw_day_from_ymd(2046, 1, 1) - base);
    cw_workdays_t *wd = cw_workdays_new();
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int wrong = 0;
    for (int i = 0; i < 3000; i++) {
        cw_day_t first = base + 400 + rnd_range(&seed, 0, r.span - 4800);
        cw_day_t last = first + rnd_range(&seed, -5, i % 10 == 0 ? 3700 : 400);
        int want = last < first ? 0 : ref_count(&r, first, last);
        if (cw_workdays_count(wd, first, last) != want)
            wrong++;
    }
    /* every single-day range over the whole reference span */
    for (cw_day_t d = base; d < base + r.span; d++)
        if (cw_workdays_count(wd, d, d) != ref_working(&r, d) ||
            cw_workdays_is_working(wd, d) != ref_working(&r, d))
            wrong++;
    CU_ASSERT_EQUAL(wrong, 0);
    cw_workdays_destroy(wd);
    free(r.holiday);
}

static void test_add_known(void)
{
    static const struct {
        const char *from;
        int n;
        const char *to;
    } cases[] = {
        {"2024-01-05", 3, "2024-01-10"}, /* Friday + 3 = Wednesday */
        {"2024-03-22", 4, "2024-03-28"}, /* up to Maundy Thursday */
        {"2024-03-22", 5, "2024-04-02"}, /* over Good Friday, the weekend, Easter Monday */
        {"2024-04-02", -1, "2024-03-28"},
        {"2024-04-02", -4, "2024-03-25"},
        {"2024-04-02", -5, "2024-03-22"},
        {"2024-03-29", 1, "2024-04-02"}, /* from a holiday */
        {"2024-03-29", -1, "2024-03-28"},
        {"2024-03-23", 0, "2024-03-23"}, /* n = 0 is the day itself, even a Saturday */
        {"2024-03-23", 1, "2024-03-25"},
        {"2024-03-23", -1, "2024-03-22"},
        {"2024-03-24", 1, "2024-03-25"},
        {"2024-03-24", -1, "2024-03-22"},
        {"2024-03-25", -1, "2024-03-22"},
        {"2024-03-22", 1, "2024-03-25"},
        {"2020-12-24", 1, "2020-12-29"}, /* Christmas Friday, Boxing Day substitute Monday */
        {"2020-12-29", -1, "2020-12-24"},
        {"2021-12-24", 1, "2021-12-29"}, /* both substitutes */
        {"2021-12-31", 1, "2022-01-04"}, /* New Year's Day substitute */
        {"2022-01-04", -2, "2021-12-30"},
        {"2022-01-04", -4, "2021-12-24"}, /* back over the substitutes */
        {"2022-05-27", 1, "2022-05-30"},  /* the usual Spring holiday was moved away */
        {"2022-05-27", 4, "2022-06-06"},
        {"2022-06-06", -1, "2022-06-01"},
        {"2022-06-06", -2, "2022-05-31"},
        {"2022-09-16", 1, "2022-09-20"}, /* state funeral */
        {"2023-04-06", 1, "2023-04-11"},
        {"2023-04-28", 1, "2023-05-02"},
        {"2023-05-05", 1, "2023-05-09"}, /* coronation */
        {"2020-05-01", 1, "2020-05-04"}, /* the usual Early May was moved to the 8th */
        {"2020-05-07", 1, "2020-05-11"},
        {"2024-01-01", 254, "2024-12-31"},
        {"2024-12-31", -254, "2023-12-29"},
        {"1969-12-31", 2, "1970-01-02"}, /* negative days, no holidays */
        {"1970-01-01", -4, "1969-12-26"},
        {"9999-12-30", 1, "9999-12-31"},
        {"1900-01-01", 5, "1900-01-08"},
        {"1900-01-01", -5, "1899-12-25"},
    };
    cw_workdays_t *wd = cw_workdays_new();
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        cw_day_t got = cw_workdays_add(wd, ymd(cases[i].from), cases[i].n);
        if (got != ymd(cases[i].to)) {
            char buf[16];
            cw_day_format(got, buf, sizeof(buf));
            fprintf(stderr, "%s %+d = %s, expected %s\n", cases[i].from, cases[i].n, buf,
                    cases[i].to);
        }
        CU_ASSERT_EQUAL(got, ymd(cases[i].to));
    }
    cw_workdays_destroy(wd);
}

static void test_add_matches_brute_force(void)
{
    ref_t r;
    cw_day_t base = ymd("2005-01-01");
    ref_init(&r, base, cw_day_from_ymd(2046, 1, 1) - base);
    cw_workdays_t *wd = cw_workdays_new();
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    int wrong = 0, inconsistent = 0;
    for (int i = 0; i < 4000; i++) {
        cw_day_t from = base + 800 + rnd_range(&seed, 0, r.span - 1600);
        int n = i % 20 == 0 ? rnd_range(&seed, -400, 400) : rnd_range(&seed, -12, 12);
        cw_day_t got = cw_workdays_add(wd, from, n);
        if (got != ref_add(&r, from, n))
            wrong++;
        /* and it agrees with counting */
        if (n > 0 &&
            (!cw_workdays_is_working(wd, got) || cw_workdays_count(wd, from + 1, got) != n))
            inconsistent++;
        if (n < 0 &&
            (!cw_workdays_is_working(wd, got) || cw_workdays_count(wd, got, from - 1) != -n))
            inconsistent++;
        if (n != 0 && cw_workdays_is_working(wd, from) && cw_workdays_add(wd, got, -n) != from)
            inconsistent++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(inconsistent, 0);
    cw_workdays_destroy(wd);
    free(r.holiday);
}

/* ---- adding holidays ---------------------------------------------------------------------- */

static void test_add_holiday(void)
{
    cw_workdays_t *wd = cw_workdays_new();
    const cw_day_t *days;
    size_t n0 = cw_workdays_holidays(wd, &days);
    cw_day_t tue = ymd("2031-06-03");
    int before = cw_workdays_count(wd, ymd("2031-06-01"), ymd("2031-06-30"));
    cw_workdays_add_holiday(wd, tue);
    cw_workdays_add_holiday(wd, tue);               /* duplicate: harmless */
    cw_workdays_add_holiday(wd, ymd("2024-12-25")); /* already there */
    cw_workdays_add_holiday(wd, ymd("2031-06-07")); /* a Saturday: counts nothing */
    CU_ASSERT_EQUAL(cw_workdays_holidays(wd, &days), n0 + 2);
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, tue));
    CU_ASSERT_EQUAL(cw_workdays_count(wd, ymd("2031-06-01"), ymd("2031-06-30")), before - 1);
    CU_ASSERT_EQUAL(cw_workdays_add(wd, ymd("2031-06-02"), 1), ymd("2031-06-04"));
    CU_ASSERT_EQUAL(cw_workdays_add(wd, ymd("2031-06-04"), -1), ymd("2031-06-02"));
    CU_ASSERT_EQUAL(cw_workdays_add(wd, ymd("2031-06-06"), 1), ymd("2031-06-09"));
    for (size_t i = 1; i < n0 + 2; i++)
        CU_ASSERT(days[i - 1] < days[i]);
    cw_workdays_add_holiday(wd, cw_day_from_ymd(1850, 3, 1)); /* far from the rest */
    CU_ASSERT_FALSE(cw_workdays_is_working(wd, cw_day_from_ymd(1850, 3, 1)));
    CU_ASSERT_EQUAL(cw_workdays_add(wd, cw_day_from_ymd(1850, 2, 28), 1),
                    cw_day_from_ymd(1850, 3, 4));
    cw_workdays_destroy(wd);
}

/* Write content to a fresh temporary file; path receives its name. */
static void write_tmp(const char *content, char *path, size_t pathsz)
{
    cw_strlcpy(path, "/tmp/cw-test-workdays.XXXXXX", pathsz);
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    size_t len = strlen(content);
    CU_ASSERT_FATAL(write(fd, content, len) == (ssize_t)len);
    close(fd);
}

static void test_load_file_good(void)
{
    char path[64];
    write_tmp("# extra days\n"
              "\n"
              "2031-06-02 extra day\n"
              "2031-06-03\t# tab then comment\r\n"
              "  2031-06-04\n"
              "2031-06-04\n"
              "   # indented comment\n"
              "2024-12-25  already built in\n"
              "2031-06-07 a Saturday\n"
              "2031-06-10",
              path, sizeof(path));
    cw_workdays_t *wd = cw_workdays_new();
    const cw_day_t *days;
    size_t n0 = cw_workdays_holidays(wd, &days);
    char err[256] = "";
    CU_ASSERT_EQUAL(cw_workdays_load_file(wd, path, err, sizeof(err)), CW_OK);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_EQUAL(cw_workdays_holidays(wd, &days), n0 + 5);
    CU_ASSERT_EQUAL(cw_workdays_count(wd, ymd("2031-06-02"), ymd("2031-06-13")), 10 - 4);
    CU_ASSERT_TRUE(cw_workdays_is_working(wd, ymd("2031-06-05")));
    /* loading the same file again changes nothing */
    CU_ASSERT_EQUAL(cw_workdays_load_file(wd, path, err, sizeof(err)), CW_OK);
    CU_ASSERT_EQUAL(cw_workdays_holidays(wd, &days), n0 + 5);
    unlink(path);
    /* the deploy file itself loads and changes nothing either */
    CU_ASSERT_EQUAL(cw_workdays_load_file(wd, HOLIDAY_FILE, err, sizeof(err)), CW_OK);
    CU_ASSERT_EQUAL(cw_workdays_holidays(wd, &days), n0 + 5);
    cw_workdays_destroy(wd);
}

static void test_load_file_errors(void)
{
    static const struct {
        const char *content;
        int line;
    } cases[] = {
        {"2024-02-30\n", 1},
        {"# c\n\n2031-12-30 ok\n2024-2-01\n", 4},
        {"2031-12-30\n2024-01-01x\n", 2},
        {"  \n\t\n2024-13-01\n", 3},
        {"20240101\n", 1},
        {"2031-12-30\r\n2024/01/02\r\n", 2},
        {"hello\n", 1},
        {"2031-12-30\n2031-01-0", 2},
        {"2031-12-30\n2031-12-31\n\n\n\n# fine so far\n2031-12-3l\n2031-12-29\n", 7},
        {"2031-12-30\n-2031-12-31\n", 2},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
        char path[64];
        write_tmp(cases[i].content, path, sizeof(path));
        cw_workdays_t *wd = cw_workdays_new();
        const cw_day_t *days;
        size_t n0 = cw_workdays_holidays(wd, &days);
        char err[256] = "", want[256];
        CU_ASSERT_EQUAL(cw_workdays_load_file(wd, path, err, sizeof(err)), CW_ERR_CONFIG);
        snprintf(want, sizeof(want), "%s:%d: expected YYYY-MM-DD", path, cases[i].line);
        CU_ASSERT_STRING_EQUAL(err, want);
        /* nothing added, not even the good lines before the bad one */
        CU_ASSERT_EQUAL(cw_workdays_holidays(wd, &days), n0);
        CU_ASSERT_TRUE(cw_workdays_is_working(wd, ymd("2031-12-30")));
        /* a short error buffer is cut, never overrun */
        char tiny[8];
        CU_ASSERT_EQUAL(cw_workdays_load_file(wd, path, tiny, sizeof(tiny)), CW_ERR_CONFIG);
        CU_ASSERT_EQUAL(strlen(tiny), sizeof(tiny) - 1);
        cw_workdays_destroy(wd);
        unlink(path);
    }
    cw_workdays_t *wd = cw_workdays_new();
    char err[256] = "";
    CU_ASSERT_EQUAL(cw_workdays_load_file(wd, "/nonexistent/holidays.txt", err, sizeof(err)),
                    CW_ERR_IO);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/holidays.txt: No such file or directory");
    cw_workdays_destroy(wd);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("workdays", NULL, NULL);
    CU_add_test(s, "known days and weekdays", test_known_days);
    CU_add_test(s, "days 0000-9999 round-trip", test_every_day_round_trips);
    CU_add_test(s, "day from ms floors, also before 1970", test_from_ms_floors);
    CU_add_test(s, "parse is strict", test_parse_strict);
    CU_add_test(s, "format truncates safely", test_format_truncates_safely);
    CU_add_test(s, "financial year start", test_fy_start);
    CU_add_test(s, "same date a year earlier", test_minus_year);
    CU_add_test(s, "last complete quarter", test_last_complete_quarter);
    CU_add_test(s, "built-in holidays equal the data file", test_builtin_equals_data_file);
    CU_add_test(s, "known bank holidays and working days", test_known_holidays);
    CU_add_test(s, "count over known ranges", test_count_known_ranges);
    CU_add_test(s, "count matches brute force", test_count_matches_brute_force);
    CU_add_test(s, "add over weekends and holidays, both ways", test_add_known);
    CU_add_test(s, "add matches brute force", test_add_matches_brute_force);
    CU_add_test(s, "add a holiday", test_add_holiday);
    CU_add_test(s, "load a holiday file", test_load_file_good);
    CU_add_test(s, "holiday file errors name the line, add nothing", test_load_file_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
