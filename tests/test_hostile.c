/*
 * test_hostile.c — CUnit suite: hostile input against decode + validate and the casebook
 * (issue [F]). Every case asserts an outcome — rejected with a specific reason class (and
 * the field the reason names), or accepted with a specific state — never just "did not
 * crash": truncated and garbage bytes, wrong wire types, huge strings and repeated fields,
 * unknown enum values, impossible times, SQL metacharacters, NUL bytes and invalid UTF-8 in
 * identifiers, and event storms on one case (bounded entries, memory and time).
 *
 * Messages go through the same bytes a Kafka consumer sees: built with the generated API and
 * packed, or encoded by hand where the packer cannot produce them. Must stay valgrind-clean.
 */
#include "casewatch/casebook.h"
#include "casewatch/event.h"
#include "cwevents.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW_MS      1709200000000LL /* 2024-02-29T09:46:40Z, fixed: tests never read a clock */
#define T0          (NOW_MS - 400 * DAY)
#define DAY         86400000LL
#define MAX_BYTES   1048576             /* the daemon's default max_message_bytes */
#define YEAR1_MS    (-62135596800000LL) /* 0001-01-01T00:00:00Z */
#define YEAR9999_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct outcome {
    cw_reject_t r;
    char reason[256];
    int kind;
} outcome_t;

/* Decode bytes as the consumer does (size limit of the default configuration). */
static outcome_t decode_bytes(const void *buf, size_t len)
{
    outcome_t o;
    cw_event_t ev;
    o.r = cw_event_decode(buf, len, MAX_BYTES, NOW_MS, &ev, o.reason, sizeof(o.reason));
    o.kind = ev.kind;
    cw_event_fini(&ev);
    return o;
}

static uint8_t *pack(const Casewatch__V1__Event *e, size_t *len)
{
    *len = casewatch__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    CU_ASSERT_FATAL(buf != NULL);
    casewatch__v1__event__pack(e, buf);
    return buf;
}

/* Pack, decode, free the event. */
static outcome_t decode_tev(tev_t *x)
{
    size_t len;
    uint8_t *buf = pack(&x->e, &len);
    outcome_t o = decode_bytes(buf, len);
    free(buf);
    free(x);
    return o;
}

/* The outcome is reject class r and the reason mentions what (a field path). */
#define EXPECT(o, rej, what)                                                                       \
    do {                                                                                           \
        outcome_t o_ = (o);                                                                        \
        CU_ASSERT_EQUAL(o_.r, (rej));                                                              \
        if ((what) != NULL)                                                                        \
            CU_ASSERT_PTR_NOT_NULL(strstr(o_.reason, (what) ? (what) : ""));                       \
        if (o_.r != (rej) || ((what) && !strstr(o_.reason, (what) ? (what) : "")))                 \
            fprintf(stderr, "\n  %s:%d: got %s (%s), expected %s / %s\n", __FILE__, __LINE__,      \
                    cw_reject_name(o_.r), o_.reason, cw_reject_name(rej), (what) ? (what) : "");   \
    } while (0)

static tev_t *valid_opened(void)
{
    return opened("case-1", NOW_MS - DAY, 1, "area-1", 2);
}

/* A string of n bytes of c (caller frees). */
static char *filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    CU_ASSERT_FATAL(s != NULL);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- hand encoding ------------------------------------------------------------------- */

typedef struct enc {
    uint8_t b[512];
    size_t n;
} enc_t;

static void enc_varint(enc_t *e, uint64_t v)
{
    while (v >= 0x80) {
        e->b[e->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    e->b[e->n++] = (uint8_t)v;
}

static void enc_bytes(enc_t *e, unsigned field, const void *p, size_t n)
{
    enc_varint(e, (uint64_t)field << 3 | 2);
    enc_varint(e, n);
    memcpy(e->b + e->n, p, n);
    e->n += n;
}

static void enc_int(enc_t *e, unsigned field, uint64_t v)
{
    enc_varint(e, (uint64_t)field << 3 | 0);
    enc_varint(e, v);
}

/* A valid envelope by hand, with the given event_id and case_id bytes (lengths explicit, so
 * NULs and any byte can be placed), and a child_added payload with child_id bytes. */
static enc_t hand_event(const char *eid, size_t eidn, const char *cid, size_t cidn,
                        const char *child, size_t childn)
{
    enc_t e = {.n = 0};
    enc_bytes(&e, 1, eid, eidn);
    enc_bytes(&e, 2, cid, cidn);
    enc_int(&e, 3, (uint64_t)(NOW_MS - DAY));
    enc_bytes(&e, 4, "src", 3);
    enc_int(&e, 5, 1);
    enc_t p = {.n = 0};
    enc_bytes(&p, 1, child, childn);
    enc_bytes(&e, 11, p.b, p.n); /* child_added */
    return e;
}

/* ---- truncated, garbage, wrong wire types ------------------------------------------------ */

static void test_truncated(void)
{
    tev_t *x = valid_opened();
    size_t len;
    uint8_t *buf = pack(&x->e, &len);
    /* the envelope alone (payload is the last field on the wire) */
    Casewatch__V1__CaseOpened *saved = x->e.case_opened;
    x->e.payload_case = CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
    size_t env = casewatch__v1__event__get_packed_size(&x->e);
    x->e.payload_case = CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED;
    x->e.case_opened = saved;
    CU_ASSERT_FATAL(env < len);
    EXPECT(decode_bytes(buf, len), CW_REJECT_NONE, NULL);

    /* every strict prefix is rejected; cut inside the payload it is undecodable */
    for (size_t n = 0; n < len; n++) {
        outcome_t o = decode_bytes(buf, n);
        CU_ASSERT_NOT_EQUAL(o.r, CW_REJECT_NONE);
        if (n > env)
            CU_ASSERT_EQUAL(o.r, CW_REJECT_UNDECODABLE);
    }
    /* cut right before the payload: a well-formed envelope with no kind */
    EXPECT(decode_bytes(buf, env), CW_REJECT_UNKNOWN_KIND, "payload not set");
    /* cut one byte into the event_id: the length prefix promises more than there is */
    EXPECT(decode_bytes(buf, 3), CW_REJECT_UNDECODABLE, "not a valid protobuf");
    /* empty message: an envelope with nothing set */
    EXPECT(decode_bytes("", 0), CW_REJECT_MISSING_FIELD, "missing event_id");
    free(buf);
    free(x);
}

static void test_garbage(void)
{
    static const uint8_t ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    EXPECT(decode_bytes(ff, sizeof(ff)), CW_REJECT_UNDECODABLE, "not a valid protobuf");
    /* a length prefix of 4 GB */
    EXPECT(decode_bytes("\x0a\xff\xff\xff\xff\x0f"
                        "abc",
                        9),
           CW_REJECT_UNDECODABLE, NULL);
    /* a varint of 11 bytes */
    EXPECT(decode_bytes("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
           CW_REJECT_UNDECODABLE, NULL);
    /* end-group wire type without a start */
    EXPECT(decode_bytes("\x0c", 1), CW_REJECT_UNDECODABLE, NULL);
    /* text, not protobuf */
    const char *json = "{\"event_id\":\"e1\",\"case_id\":\"c1\"}";
    EXPECT(decode_bytes(json, strlen(json)), CW_REJECT_UNDECODABLE, NULL);

    /* pseudo-random buffers: never accepted (a fixed generator: reproducible) */
    uint32_t seed = 0x12345678u;
    uint8_t buf[64];
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)(i % 64);
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1664525u + 1013904223u;
            buf[j] = (uint8_t)(seed >> 24);
        }
        outcome_t o = decode_bytes(buf, n);
        CU_ASSERT(o.r > CW_REJECT_NONE && o.r < CW_REJECT__COUNT && o.r != CW_REJECT_TOO_LARGE);
        CU_ASSERT(o.reason[0] != '\0');
    }
}

static void test_wrong_wire_types(void)
{
    /* event_id (string) sent as a varint */
    enc_t e = hand_event("e1", 2, "c1", 2, "k1", 2);
    e.b[0] = 1 << 3 | 0;
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_UNDECODABLE, NULL);

    /* occurred_at (int64) sent length-delimited */
    enc_t f = {.n = 0};
    enc_bytes(&f, 1, "e1", 2);
    enc_bytes(&f, 2, "c1", 2);
    enc_bytes(&f, 3, "\x01\x02", 2);
    EXPECT(decode_bytes(f.b, f.n), CW_REJECT_UNDECODABLE, NULL);

    /* the payload (a message) sent as a varint */
    enc_t g = {.n = 0};
    enc_bytes(&g, 1, "e1", 2);
    enc_int(&g, 11, 5);
    EXPECT(decode_bytes(g.b, g.n), CW_REJECT_UNDECODABLE, NULL);

    /* schema_version as a fixed64 */
    enc_t h = {.n = 0};
    enc_bytes(&h, 1, "e1", 2);
    enc_varint(&h, 5 << 3 | 1);
    memcpy(h.b + h.n, "\x01\0\0\0\0\0\0\0", 8);
    h.n += 8;
    EXPECT(decode_bytes(h.b, h.n), CW_REJECT_UNDECODABLE, NULL);

    /* the payload's child_id as a varint, inside an otherwise valid envelope */
    enc_t k = {.n = 0};
    enc_bytes(&k, 1, "e1", 2);
    enc_bytes(&k, 2, "c1", 2);
    enc_int(&k, 3, (uint64_t)(NOW_MS - DAY));
    enc_bytes(&k, 4, "src", 3);
    enc_int(&k, 5, 1);
    enc_bytes(&k, 11, "\x08\x07", 2);
    EXPECT(decode_bytes(k.b, k.n), CW_REJECT_UNDECODABLE, NULL);

    /* the hand encoder itself makes valid events */
    enc_t ok = hand_event("e1", 2, "c1", 2, "k1", 2);
    EXPECT(decode_bytes(ok.b, ok.n), CW_REJECT_NONE, NULL);
}

/* ---- huge strings and repeated fields -------------------------------------------------- */

static void test_huge_strings(void)
{
    char *mb = filled(1 << 20, 'a'); /* 1 MB of a valid identifier byte */

    tev_t *x = valid_opened();
    x->e.case_id = mb;
    size_t len;
    uint8_t *buf = pack(&x->e, &len);
    /* over the size limit: too large, before any parsing */
    EXPECT(decode_bytes(buf, len), CW_REJECT_TOO_LARGE, "exceeds the maximum");
    /* with no limit: a 1 MB identifier is not one */
    char reason[256];
    cw_event_t ev;
    CU_ASSERT_EQUAL(cw_event_decode(buf, len, 0, NOW_MS, &ev, reason, sizeof(reason)),
                    CW_REJECT_BAD_IDENTIFIER);
    CU_ASSERT_PTR_NOT_NULL(strstr(reason, "case_id: longer than 128 bytes"));
    CU_ASSERT_PTR_NULL(ev.pb);
    free(buf);
    free(x);

    /* under the limit, in the payload: 1000 bytes of child_id */
    mb[1000] = '\0';
    x = child_added("case-1", NOW_MS - DAY, mb);
    EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "child_added.child_id: longer than 128");
    /* 129 bytes: one too many; 128: fine */
    mb[129] = '\0';
    EXPECT(decode_tev(child_added("case-1", NOW_MS - DAY, mb)), CW_REJECT_BAD_IDENTIFIER,
           "longer than 128");
    mb[128] = '\0';
    EXPECT(decode_tev(child_added("case-1", NOW_MS - DAY, mb)), CW_REJECT_NONE, NULL);
    /* a huge event_id and source */
    mb[128] = 'a';
    mb[5000] = '\0';
    x = valid_opened();
    x->e.event_id = mb;
    EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "event_id: longer than 128");
    x = valid_opened();
    x->e.source = mb;
    EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "source: longer than 128");
    free(mb);
}

static void test_huge_repeated(void)
{
    /* 100 000 child ids (about 1 MB packed): the count is refused, not the memory */
    enum { N = 100000 };
    char **ids = malloc(N * sizeof(char *));
    char *store = malloc((size_t)N * 8);
    CU_ASSERT_FATAL(ids && store);
    for (int i = 0; i < N; i++) {
        ids[i] = store + (size_t)i * 8;
        snprintf(ids[i], 8, "k%d", i);
    }
    tev_t *x = valid_opened();
    x->u.open.child_ids = ids;
    x->u.open.n_child_ids = N;
    EXPECT(decode_tev(x), CW_REJECT_BAD_VALUE, "case_opened.child_ids: 100000 entries, at most 64");

    /* the boundary: 64 distinct accepted, 65 refused, 64 with a repeat refused */
    x = valid_opened();
    x->u.open.child_ids = ids;
    x->u.open.n_child_ids = CW_EVENT_CHILDREN_MAX;
    EXPECT(decode_tev(x), CW_REJECT_NONE, NULL);
    x = valid_opened();
    x->u.open.child_ids = ids;
    x->u.open.n_child_ids = CW_EVENT_CHILDREN_MAX + 1;
    EXPECT(decode_tev(x), CW_REJECT_BAD_VALUE, "at most 64");
    char *saved = ids[63];
    ids[63] = ids[0];
    x = valid_opened();
    x->u.open.child_ids = ids;
    x->u.open.n_child_ids = CW_EVENT_CHILDREN_MAX;
    EXPECT(decode_tev(x), CW_REJECT_BAD_VALUE, "child_ids[63]: duplicate of entry 0");
    ids[63] = saved;
    /* an empty entry */
    ids[1] = "";
    x = valid_opened();
    x->u.open.child_ids = ids;
    x->u.open.n_child_ids = 3;
    EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_opened.child_ids[1]: empty");
    free(store);
    free(ids);

    /* 100 000 repeats of an unknown field (a newer producer's): ignored, still the event */
    tev_t *y = child_added("case-1", NOW_MS - DAY, "k1");
    size_t len;
    uint8_t *buf = pack(&y->e, &len);
    size_t n = len + (size_t)N * 2;
    uint8_t *big = malloc(n + 1);
    CU_ASSERT_FATAL(big != NULL);
    memcpy(big, buf, len);
    for (size_t i = len; i < n; i += 2)
        memcpy(big + i, "\x30\x01", 2); /* field 6, varint 1 */
    outcome_t o = decode_bytes(big, n);
    CU_ASSERT_EQUAL(o.r, CW_REJECT_NONE);
    CU_ASSERT_EQUAL(o.kind, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    /* ... and with a last tag that has no value: undecodable */
    big[n] = 0x38;
    EXPECT(decode_bytes(big, n + 1), CW_REJECT_UNDECODABLE, NULL);
    free(big);
    free(buf);
    free(y);
}

/* ---- enums and times ------------------------------------------------------------------- */

static void test_unknown_enums(void)
{
    static const int values[] = {7, 42, -1, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < CW_ARRAY_LEN(values); i++) {
        tev_t *x = valid_opened();
        x->u.open.case_type = values[i];
        EXPECT(decode_tev(x), CW_REJECT_UNKNOWN_ENUM, "case_opened.case_type: unknown enum value");
        x = allocated("case-1", NOW_MS - DAY, values[i], "w1");
        EXPECT(decode_tev(x), CW_REJECT_UNKNOWN_ENUM, "allocated.target: unknown enum value");
        /* an optional enum is checked too (AdjournReason defines 0..7) */
        x = hearing_adjourned("case-1", NOW_MS - DAY, "h1", 0);
        x->u.ha.reason = values[i] == 7 ? 8 : values[i];
        EXPECT(decode_tev(x), CW_REJECT_UNKNOWN_ENUM, "hearing_adjourned.reason: unknown enum");
    }
    /* the reason quotes the number, so an operator can see which producer is newer */
    tev_t *x = concern("case-1", NOW_MS - DAY, "s1", 42);
    EXPECT(decode_tev(x), CW_REJECT_UNKNOWN_ENUM,
           "safeguarding_concern_raised.concern_kind: unknown enum value 42");
    /* UNSPECIFIED where required: missing, not unknown */
    x = concern("case-1", NOW_MS - DAY, "s1", 0);
    EXPECT(decode_tev(x), CW_REJECT_MISSING_FIELD, "concern_kind (UNSPECIFIED)");
}

static void test_timestamps(void)
{
    static const struct {
        int64_t t;
        cw_reject_t r;
        const char *why;
    } occ[] = {
        {YEAR1_MS, CW_REJECT_BAD_TIMESTAMP, "before 1990-01-01"},
        {YEAR9999_MS, CW_REJECT_BAD_TIMESTAMP, "more than 1 day after now"},
        {INT64_MIN, CW_REJECT_BAD_TIMESTAMP, "before 1990-01-01"},
        {INT64_MAX, CW_REJECT_BAD_TIMESTAMP, "more than 1 day after now"},
        {-1, CW_REJECT_BAD_TIMESTAMP, "before 1990-01-01"},
        {0, CW_REJECT_BAD_TIMESTAMP, "not set"},
        {CW_EVENT_MIN_TIME_MS - 1, CW_REJECT_BAD_TIMESTAMP, "before 1990-01-01"},
        {CW_EVENT_MIN_TIME_MS, CW_REJECT_NONE, NULL},
        {NOW_MS + CW_EVENT_MAX_AHEAD_MS, CW_REJECT_NONE, NULL},
        {NOW_MS + CW_EVENT_MAX_AHEAD_MS + 1, CW_REJECT_BAD_TIMESTAMP, "more than 1 day after"},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(occ); i++) {
        tev_t *x = child_added("case-1", occ[i].t, "k1");
        EXPECT(decode_tev(x), occ[i].r, occ[i].why);
    }

    /* other times: [1990, occurred_at + 10 years] */
    static const int64_t bad[] = {YEAR1_MS,  YEAR9999_MS, INT64_MIN,
                                  INT64_MAX, -1,          NOW_MS + CW_EVENT_MAX_HORIZON_MS + 1};
    for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
        EXPECT(decode_tev(report_ordered("case-1", NOW_MS, "r1", 1, bad[i])),
               CW_REJECT_BAD_TIMESTAMP, "report_ordered.due_at");
        EXPECT(decode_tev(hearing_listed("case-1", NOW_MS, "h1", 1, bad[i])),
               CW_REJECT_BAD_TIMESTAMP, "hearing_listed.listed_for");
        EXPECT(decode_tev(report_ext("case-1", NOW_MS, "r1", bad[i])), CW_REJECT_BAD_TIMESTAMP,
               "report_extension_agreed.new_due_at");
        EXPECT(decode_tev(hearing_adjourned("case-1", NOW_MS, "h1", bad[i])),
               CW_REJECT_BAD_TIMESTAMP, "hearing_adjourned.relisted_for");
        tev_t *x = valid_opened();
        x->u.open.issued_at = bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_TIMESTAMP, "case_opened.issued_at");
    }
    /* 10 years ahead exactly is allowed (a long adjournment), 0 means not set */
    EXPECT(decode_tev(report_ordered("case-1", NOW_MS, "r1", 1, NOW_MS + CW_EVENT_MAX_HORIZON_MS)),
           CW_REJECT_NONE, NULL);
    EXPECT(decode_tev(hearing_adjourned("case-1", NOW_MS, "h1", 0)), CW_REJECT_NONE, NULL);

    /* a consumer clock at the int64 extremes: no overflow, a plain answer */
    tev_t *x = child_added("case-1", NOW_MS, "k1");
    char reason[256];
    CU_ASSERT_EQUAL(cw_event_validate(&x->e, INT64_MAX, reason, sizeof(reason)), CW_REJECT_NONE);
    CU_ASSERT_EQUAL(cw_event_validate(&x->e, INT64_MIN, reason, sizeof(reason)),
                    CW_REJECT_BAD_TIMESTAMP);
    x->e.occurred_at = INT64_MAX;
    CU_ASSERT_EQUAL(cw_event_validate(&x->e, INT64_MAX, reason, sizeof(reason)), CW_REJECT_NONE);
    free(x);
}

/* ---- identifiers: SQL, NUL, UTF-8 ------------------------------------------------------- */

static void test_sql_metacharacters(void)
{
    /* with spaces: not an identifier */
    tev_t *x = valid_opened();
    x->e.case_id = "'; DROP TABLE cases; --";
    EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_id: byte at offset 2 is not printable");

    /* without spaces it is printable ASCII, so a valid identifier: stored verbatim (the
     * store only ever passes identifiers as query parameters) */
    const char *sql = "x';DROP/**/TABLE/**/cases;--\\\"%_$$";
    x = valid_opened();
    x->e.case_id = (char *)sql;
    x->u.open.court_area = "a'||pg_sleep(10)||'";
    size_t len;
    uint8_t *buf = pack(&x->e, &len);
    free(x);
    cw_event_t ev;
    char reason[256];
    CU_ASSERT_EQUAL_FATAL(cw_event_decode(buf, len, MAX_BYTES, NOW_MS, &ev, reason, sizeof(reason)),
                          CW_REJECT_NONE);
    free(buf);
    cw_casebook_t *cb = cw_casebook_new();
    cw_case_t *c = cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->case_id, sql);
    CU_ASSERT_PTR_EQUAL(cw_casebook_find(cb, sql), c);
    CU_ASSERT_STRING_EQUAL(cw_casebook_str(cb, c->area), "a'||pg_sleep(10)||'");
    uint8_t *st = cw_casebook_pack(cb, c, &len);
    cw_casebook_t *cb2 = cw_casebook_new();
    cw_case_t *c2 = cw_casebook_load(cb2, sql, 0, st, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    CU_ASSERT_STRING_EQUAL(cw_casebook_str(cb2, c2->area), "a'||pg_sleep(10)||'");
    free(st);
    cw_casebook_destroy(cb2);
    cw_casebook_destroy(cb);
    cw_event_fini(&ev);
}

static void test_nul_bytes(void)
{
    /* protobuf-c would hand these over cut at the NUL ("a\0b" reads "a"): two events could
     * share an event_id. Every string field, envelope or payload, is checked on the wire. */
    enc_t e = hand_event("a\0b", 3, "c1", 2, "k1", 2);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_BAD_IDENTIFIER, "event_id: contains a NUL byte");
    e = hand_event("e1", 2, "c1\0", 3, "k1", 2);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_BAD_IDENTIFIER, "case_id: contains a NUL byte");
    e = hand_event("e1", 2, "\0", 1, "k1", 2);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_BAD_IDENTIFIER, "case_id: contains a NUL byte");
    e = hand_event("e1", 2, "c1", 2,
                   "k\0"
                   "1",
                   3);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_BAD_IDENTIFIER,
           "child_added.child_id: contains a NUL byte");
    /* a SQL comment after a NUL: still the NUL that is refused */
    e = hand_event("e1", 2, "c1\0'; DROP TABLE cases; --", 26, "k1", 2);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_BAD_IDENTIFIER, "case_id: contains a NUL byte");
    /* the same bytes without the NUL decode */
    e = hand_event("ab", 2, "c1", 2, "k1", 2);
    EXPECT(decode_bytes(e.b, e.n), CW_REJECT_NONE, NULL);
}

static void test_invalid_utf8(void)
{
    /* protobuf-c does not check UTF-8 in proto3 strings; PostgreSQL text would refuse these
     * and the batch would fail for ever. Identifiers are printable ASCII, so validation
     * refuses every non-ASCII byte, valid UTF-8 or not. */
    static const char *const bad[] = {
        "c\xc3\x28",     /* invalid continuation */
        "\xff",          /* never valid */
        "c\xed\xa0\x80", /* UTF-16 surrogate */
        "\xc0\xaf",      /* overlong "/" */
        "c\xe2\x82",     /* truncated sequence */
        "caf\xc3\xa9",   /* valid UTF-8 "café": still not an identifier */
        "c\x7f",         /* DEL */
        "c\t1",          /* control */
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
        tev_t *x = valid_opened();
        x->e.case_id = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_id: byte at offset");
        x = valid_opened();
        x->e.event_id = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "event_id: byte at offset");
        x = valid_opened();
        x->e.source = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "source: byte at offset");
        x = valid_opened();
        x->u.open.court_area = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_opened.court_area: byte at offset");
        x = valid_opened();
        x->u.open.local_authority = (char *)bad[i]; /* optional fields too */
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_opened.local_authority");
        char *kids[] = {"k1", (char *)bad[i]};
        x = valid_opened();
        x->u.open.child_ids = kids;
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_opened.child_ids[1]: byte at offset");
        x = seen("case-1", NOW_MS - DAY, "k1", true);
        x->u.seen.worker_id = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "child_seen.worker_id");
        /* an area event's case_id may be empty, but not invalid */
        x = prioritisation(NOW_MS - DAY, "area-1", true);
        x->e.case_id = (char *)bad[i];
        EXPECT(decode_tev(x), CW_REJECT_BAD_IDENTIFIER, "case_id: byte at offset");
    }
    tev_t *x = prioritisation(NOW_MS - DAY, "area-1", true);
    x->e.case_id = "";
    EXPECT(decode_tev(x), CW_REJECT_NONE, NULL);
}

/* ---- event storms on one case ---------------------------------------------------------- */

typedef struct anomaly_count {
    int total, too_many;
} anomaly_count_t;

static void count_anomaly(void *arg, const cw_event_t *ev, const char *kind, const char *detail)
{
    anomaly_count_t *a = arg;
    (void)ev;
    (void)detail;
    a->total++;
    a->too_many += !strcmp(kind, "too_many_entries");
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * 100 000 events on one case, each naming a fresh child, hearing, report or concern: the
 * case keeps CW_CASE_ENTRIES_MAX of each, the rest are "too_many_entries" anomalies, every
 * event is counted, the serialised state stays small and the whole storm takes well under
 * the suite's time limit (also under valgrind). Without the cap, the uint16_t counts wrapped
 * after 65 535 entries (state lost, memory leaked) and each insertion cost O(entries).
 */
static void test_storm_fresh_ids(void)
{
    enum { N = 100000 };
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    anomaly_count_t an = {0};
    tev_t *o = valid_opened();
    cw_event_t ev = ev_of(o);
    cw_casebook_apply(cb, &ev, 0, agg, count_anomaly, &an);
    free(o);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "x%06d", i);
        int64_t t = NOW_MS - DAY + i;
        tev_t *x;
        switch (i % 4) {
        case 0:
            x = child_added("case-1", t, id);
            break;
        case 1:
            x = hearing_listed("case-1", t, id, 2, NOW_MS + 30 * DAY);
            break;
        case 2:
            x = report_ordered("case-1", t, id, 1, NOW_MS + 60 * DAY);
            break;
        default:
            x = concern("case-1", t, id, 2);
            break;
        }
        snprintf(x->id, sizeof(x->id), "s%06d", i);
        x->e.event_id = x->id;
        ev = ev_of(x);
        CU_ASSERT_PTR_NOT_NULL(cw_casebook_apply(cb, &ev, 0, agg, count_anomaly, &an));
        free(x);
    }
    cw_case_t *c = cw_casebook_find(cb, "case-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(cw_casebook_count(cb), 1);
    CU_ASSERT_EQUAL(c->event_count, N + 1);
    /* 2 children from the opening, then fresh ones up to the cap */
    CU_ASSERT_EQUAL(c->nchildren, CW_CASE_ENTRIES_MAX);
    CU_ASSERT_EQUAL(c->nhearings, CW_CASE_ENTRIES_MAX);
    CU_ASSERT_EQUAL(c->nreports, CW_CASE_ENTRIES_MAX);
    CU_ASSERT_EQUAL(c->nconcerns, CW_CASE_ENTRIES_MAX);
    int kept = (CW_CASE_ENTRIES_MAX - 2) + 3 * CW_CASE_ENTRIES_MAX;
    CU_ASSERT_EQUAL(an.too_many, N - kept);
    CU_ASSERT_EQUAL((int64_t)c->anomalies, an.total);
    /* the first ids in sort order are the ones kept: x000000 is a child, x000001 a hearing */
    CU_ASSERT_STRING_EQUAL(c->children[0].child_id, "k1");
    CU_ASSERT_STRING_EQUAL(c->hearings[0].hearing_id, "x000001");
    size_t len;
    uint8_t *st = cw_casebook_pack(cb, c, &len);
    CU_ASSERT(len < 64 * 1024);
    cw_casebook_t *cb2 = cw_casebook_new();
    cw_case_t *c2 = cw_casebook_load(cb2, "case-1", 0, st, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    CU_ASSERT_EQUAL(c2->nchildren, CW_CASE_ENTRIES_MAX);
    CU_ASSERT_EQUAL(c2->event_count, N + 1);
    free(st);
    cw_casebook_destroy(cb2);
    /* live gauges: one case, its member children counted once each */
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(agg, &n);
    int64_t cases = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].key.table == CW_AGG_COHORT) {
            cases += e[i].v1;
            if (e[i].v1)
                CU_ASSERT_EQUAL(e[i].v2, CW_CASE_ENTRIES_MAX);
        }
    CU_ASSERT_EQUAL(cases, 1);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
    double secs = seconds_since(&t0);
    CU_ASSERT(secs < 60.0);
    if (secs >= 60.0)
        fprintf(stderr, "\n  storm of %d events took %.1f s\n", N, secs);
}

/* 100 000 events on one case naming the same few entries: state stays one entry each,
 * every event counted, and counts saturate rather than wrap (report extensions). */
static void test_storm_same_ids(void)
{
    enum { N = 100000 };
    cw_casebook_t *cb = cw_casebook_new();
    tev_t *o = valid_opened();
    cw_event_t ev = ev_of(o);
    cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL);
    free(o);
    tev_t *ro = report_ordered("case-1", NOW_MS - 2 * DAY, "r1", 1, NOW_MS + DAY);
    ev = ev_of(ro);
    cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL);
    free(ro);
    for (int i = 0; i < N; i++) {
        int64_t t = NOW_MS - DAY + i;
        tev_t *x = i % 4 == 3 ? seen("case-1", t, "k1", i % 3 == 0)
                              : report_ext("case-1", t, "r1", NOW_MS + 10 * DAY + i);
        snprintf(x->id, sizeof(x->id), "s%06d", i);
        x->e.event_id = x->id;
        ev = ev_of(x);
        cw_casebook_apply(cb, &ev, 0, NULL, NULL, NULL);
        free(x);
    }
    cw_case_t *c = cw_casebook_find(cb, "case-1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->event_count, N + 2);
    CU_ASSERT_EQUAL(c->nchildren, 2);
    CU_ASSERT_EQUAL(c->nreports, 1);
    CU_ASSERT_EQUAL(c->children[0].seen_ms, NOW_MS - DAY + 3);
    CU_ASSERT_EQUAL(c->children[0].in_person_ms, NOW_MS - DAY + 3);
    CU_ASSERT_EQUAL(c->reports[0].extensions, UINT16_MAX); /* 75 000 agreed: saturated */
    CU_ASSERT_EQUAL(c->reports[0].ext_due_ms, NOW_MS + 10 * DAY + (N - 2));
    CU_ASSERT_EQUAL(cw_report_due_ms(&c->reports[0]), NOW_MS + 10 * DAY + (N - 2));
    cw_casebook_destroy(cb);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("hostile", NULL, NULL);
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"truncated messages: rejected, undecodable inside a field", test_truncated},
        {"garbage bytes: undecodable, never accepted", test_garbage},
        {"wrong wire types: undecodable", test_wrong_wire_types},
        {"huge strings: too large, or not an identifier", test_huge_strings},
        {"huge repeated fields: the count is refused", test_huge_repeated},
        {"unknown enum values: unknown_enum naming the field", test_unknown_enums},
        {"year 1, year 9999, INT64 min/max: bad_timestamp", test_timestamps},
        {"SQL metacharacters: refused with spaces, verbatim without", test_sql_metacharacters},
        {"NUL bytes in identifiers: bad_identifier", test_nul_bytes},
        {"invalid UTF-8 in identifiers: bad_identifier", test_invalid_utf8},
        {"storm of 100k fresh ids on one case: bounded", test_storm_fresh_ids},
        {"storm of 100k events on the same entries: counts saturate", test_storm_same_ids},
    };
    for (size_t i = 0; i < CW_ARRAY_LEN(tests); i++) {
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) {
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
