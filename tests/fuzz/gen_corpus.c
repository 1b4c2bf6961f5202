/*
 * gen_corpus.c — writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/), so that
 * the committed seeds can be regenerated and reviewed: gen_corpus OUTDIR writes
 * OUTDIR/fuzz_event/ (one Event per file: a valid event of every kind, then hostile ones)
 * and OUTDIR/fuzz_casebook/ (scripts in the format of fuzz_casebook.c). Every "valid" seed is
 * checked to decode; the program fails if one does not. Deterministic output.
 */
#include "fuzz_recipe.h"

#include <errno.h>
#include <sys/stat.h>

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void write_file(const char *sub, const char *name, const uint8_t *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f))
        die(path);
}

/* ---- a growable byte buffer ---------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes_t;

static void put(bytes_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            die("realloc");
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put8(bytes_t *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put16(bytes_t *b, int v)
{
    put8(b, (unsigned)v & 0xff);
    put8(b, ((unsigned)v >> 8) & 0xff);
}

/* ---- recipes ------------------------------------------------------------------------- */

/*
 * The recipe of a valid event of kind: case sel, time (3-hour steps from FZ_BASE_MS), then a
 * byte per payload field (descriptor order): id sel (rotating over k0..k5 from sub), enum 1,
 * time +days, bool 1, count 1; a repeated field gets nrep ids.
 */
static void recipe(bytes_t *b, int kind, unsigned case_sel, int t3h, unsigned sub, int days,
                   int nrep)
{
    put8(b, 0x80u | (unsigned)(kind - CW_EVENT_KIND_FIRST));
    put8(b, case_sel);
    put16(b, t3h);
    const ProtobufCFieldDescriptor *pf =
        protobuf_c_message_descriptor_get_field(&casewatch__v1__event__descriptor, (unsigned)kind);
    const ProtobufCMessageDescriptor *d = pf->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            put8(b, (unsigned)nrep);
            for (int j = 0; j < nrep; j++)
                put8(b, (sub + (unsigned)j) % 6);
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            put8(b, (sub + i) % 6);
            break;
        case PROTOBUF_C_TYPE_ENUM:
            put8(b, 1);
            break;
        case PROTOBUF_C_TYPE_INT64:
            put8(b, (unsigned)days);
            break;
        default:
            put8(b, 1);
            break;
        }
    }
}

/* Build the event a recipe describes (one record), check it decodes, return it packed. */
static uint8_t *event_of(const bytes_t *rec, unsigned seq, size_t *len, bool must_accept)
{
    fz_reader_t r = {rec->p + 1, rec->n - 1};
    fz_event_t *x = fz_build(rec->p[0], &r, seq);
    uint8_t *buf = fz_pack(&x->e, len);
    char reason[256];
    cw_event_t ev;
    cw_reject_t rj = cw_event_decode(buf, *len, 0, FZ_NOW_MS, &ev, reason, sizeof(reason));
    if (must_accept && rj != CW_REJECT_NONE) {
        fprintf(stderr, "gen_corpus: seed of kind %s rejected: %s\n",
                cw_event_kind_name((int)x->e.payload_case), reason);
        exit(1);
    }
    cw_event_fini(&ev);
    fz_event_free(x);
    return buf;
}

/* ---- fuzz_event seeds ---------------------------------------------------------------- */

static void event_seeds(void)
{
    for (int k = CW_EVENT_KIND_FIRST; k <= CW_EVENT_KIND_LAST; k++) {
        bytes_t rec = {0};
        recipe(&rec, k, 0, 0, (unsigned)k, 1, 2);
        size_t len;
        uint8_t *buf = event_of(&rec, (unsigned)k, &len, true);
        char name[64];
        snprintf(name, sizeof(name), "valid-%s", cw_event_kind_name(k));
        write_file("fuzz_event", name, buf, len);
        if (k == CW_EVENT_KIND_FIRST) {
            write_file("fuzz_event", "hostile-truncated", buf, len / 2);
            /* the same bytes with unknown fields appended (a newer producer): still valid */
            bytes_t u = {0};
            put(&u, buf, len);
            put(&u, "\x30\x05\x3a\x03xyz", 7); /* field 6 varint, field 7 bytes */
            write_file("fuzz_event", "valid-unknown-fields", u.p, u.n);
            free(u.p);
        }
        free(buf);
        free(rec.p);
    }
    /* hand-encoded hostile messages */
#define HB(name, s)                                                                                \
    {                                                                                              \
        name, s, sizeof(s) - 1                                                                     \
    }
#define OCC "\x18\x80\xd0\x9b\xf3\xf5\x2d" /* occurred_at = FZ_BASE_MS */
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } hostile[] = {
        HB("hostile-garbage", "\xff\xff\xff\xff\xff"),
        HB("hostile-wrong-wire-type", "\x08\x01\x12\x02"
                                      "c0" OCC), /* event_id as varint */
        HB("hostile-nul-in-id", "\x0a\x03"
                                "a\0b"
                                "\x12\x02"
                                "c0" OCC "\x22\x02"
                                "fz"
                                "\x28\x01"
                                "\x62\x00"),
        HB("hostile-invalid-utf8-case-id", "\x0a\x02"
                                           "e1"
                                           "\x12\x02"
                                           "\xc3\x28" OCC "\x22\x02"
                                           "fz"
                                           "\x28\x01"
                                           "\x62\x00"),
        HB("hostile-unknown-kind", "\x0a\x02"
                                   "e1"
                                   "\x12\x02"
                                   "c0" OCC "\x22\x02"
                                   "fz"
                                   "\x28\x01"
                                   "\xc2\x02\x00"),
        HB("hostile-huge-length", "\x0a\xff\xff\xff\xff\x0f"
                                  "x"),
        HB("hostile-sql-id", "\x0a\x17"
                             "'; DROP TABLE cases; --"
                             "\x12\x02"
                             "c0" OCC "\x22\x02"
                             "fz"
                             "\x28\x01"
                             "\x62\x00"),
        HB("hostile-schema-2", "\x0a\x02"
                               "e1"
                               "\x12\x02"
                               "c0" OCC "\x22\x02"
                               "fz"
                               "\x28\x02"
                               "\x62\x00"),
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        write_file("fuzz_event", hostile[i].name, (const uint8_t *)hostile[i].bytes,
                   hostile[i].len);
}

/* ---- fuzz_casebook seeds ------------------------------------------------------------- */

#define K(x) CASEWATCH__V1__EVENT__PAYLOAD_##x

static const int lifecycle[] = {
    K(CASE_OPENED),
    K(ALLOCATED),
    K(CHILD_ADDED),
    K(CHILD_SEEN),
    K(HEARING_LISTED),
    K(SAFEGUARDING_LETTER_FILED),
    K(HEARING_ADJOURNED),
    K(HEARING_HELD),
    K(REPORT_ORDERED),
    K(REPORT_EXTENSION_AGREED),
    K(SAFEGUARDING_CONCERN_RAISED),
    K(RISK_ASSESSMENT_RECORDED),
    K(DOMESTIC_ABUSE_ASSESSED),
    K(REPORT_FILED),
    K(PLANNING_MEETING_HELD),
    K(MANAGEMENT_OVERSIGHT_RECORDED),
    K(PRIORITISATION_ACTIVATED),
    K(TIMETABLE_EXTENDED),
    K(CASE_RECLASSIFIED),
    K(PRIORITISATION_DEACTIVATED),
    K(CASE_CLOSED),
    K(CASE_REOPENED),
};

static void op(bytes_t *b, unsigned code, int arg)
{
    put8(b, code);
    if (code >= 0x40 && code < 0x50)
        put8(b, (unsigned)arg); /* a tick reads its length */
}

static void casebook_seeds(void)
{
    size_t n = sizeof(lifecycle) / sizeof(lifecycle[0]);
    bytes_t b = {0};

    /* one case, every kind in a plausible order, then the clock, a reload, a commit */
    for (size_t i = 0; i < n; i++)
        recipe(&b, lifecycle[i], 0, (int)i * 8, (unsigned)i, 20, 2);
    op(&b, 0x40, 200);
    op(&b, 0x50, 0);
    op(&b, 0x5c, 0);
    write_file("fuzz_casebook", "lifecycle-one-case", b.p, b.n);

    /* two cases interleaved, times reversed, then a revoke of one partition */
    b.n = 0;
    for (size_t i = 0; i < n; i++) {
        recipe(&b, lifecycle[n - 1 - i], 1, (int)(n - i) * 8, (unsigned)i, 30, 1);
        recipe(&b, lifecycle[i], 2, (int)i * 8, (unsigned)i + 1, 30, 3);
    }
    op(&b, 0x40, 255);
    op(&b, 0x58, 0);
    op(&b, 0x59, 0);
    op(&b, 0x5e, 0);
    write_file("fuzz_casebook", "two-cases-reversed", b.p, b.n);

    /* the same events as raw length-prefixed protobuf, plus duplicates of every one */
    b.n = 0;
    for (int rep = 0; rep < 2; rep++) {
        for (size_t i = 0; i < n; i++) {
            bytes_t rec = {0};
            recipe(&rec, lifecycle[i], 3, (int)i * 8, (unsigned)i, 15, 2);
            size_t len;
            uint8_t *buf = event_of(&rec, (unsigned)i, &len, true);
            put8(&b, 0x00);
            put16(&b, (int)len);
            put(&b, buf, len);
            free(buf);
            free(rec.p);
        }
    }
    op(&b, 0x41, 100);
    write_file("fuzz_casebook", "raw-with-duplicates", b.p, b.n);

    /* long ids differing in their last byte: children, reports, hearings, concerns */
    b.n = 0;
    {
        /* case_opened with child_ids = long1, long2, long3 (sel 8, 9, 10) */
        put8(&b, 0x80u | (unsigned)(K(CASE_OPENED) - CW_EVENT_KIND_FIRST));
        put8(&b, 0);
        put16(&b, 0);
        /* case_type, court_area, service_area, team, issued_at, child_ids, welfare, pathfinder,
         * local_authority */
        put8(&b, 1), put8(&b, 6), put8(&b, 7), put8(&b, 0), put8(&b, 0);
        put8(&b, 3), put8(&b, 8), put8(&b, 9), put8(&b, 10);
        put8(&b, 1), put8(&b, 0), put8(&b, 0);
        /* allocated to a worker: the children must be seen within 10 working days */
        put8(&b, 0x80u | (unsigned)(K(ALLOCATED) - CW_EVENT_KIND_FIRST));
        put8(&b, 0);
        put16(&b, 8);
        put8(&b, 1), put8(&b, 1), put8(&b, 2), put8(&b, 0), put8(&b, 0);
        /* long report and hearing ids, listed / ordered */
        for (unsigned s = 8; s <= 10; s++) {
            put8(&b, 0x80u | (unsigned)(K(REPORT_ORDERED) - CW_EVENT_KIND_FIRST));
            put8(&b, 0), put16(&b, 16), put8(&b, s), put8(&b, 1), put8(&b, 3);
            put8(&b, 0x80u | (unsigned)(K(HEARING_LISTED) - CW_EVENT_KIND_FIRST));
            put8(&b, 0), put16(&b, 16), put8(&b, s), put8(&b, 1), put8(&b, 20);
            put8(&b, 0x80u | (unsigned)(K(SAFEGUARDING_CONCERN_RAISED) - CW_EVENT_KIND_FIRST));
            put8(&b, 0), put16(&b, 16), put8(&b, s), put8(&b, 1), put8(&b, s);
        }
        /* one child seen: the others not */
        put8(&b, 0x80u | (unsigned)(K(CHILD_SEEN) - CW_EVENT_KIND_FIRST));
        put8(&b, 0), put16(&b, 24), put8(&b, 8), put8(&b, 1), put8(&b, 0);
        for (int i = 0; i < 8; i++)
            op(&b, 0x42, 255);
    }
    write_file("fuzz_casebook", "long-ids", b.p, b.n);

    /* an event storm on one case: fresh child, hearing and report ids (sel 15) */
    b.n = 0;
    recipe(&b, K(CASE_OPENED), 0, 0, 0, 1, 1);
    for (int i = 0; i < 150; i++) {
        static const int kinds[] = {K(CHILD_ADDED), K(HEARING_LISTED), K(REPORT_ORDERED),
                                    K(SAFEGUARDING_CONCERN_RAISED)};
        int kind = kinds[i % 4];
        put8(&b, 0x80u | (unsigned)(kind - CW_EVENT_KIND_FIRST));
        put8(&b, 0), put16(&b, i), put8(&b, 15), put8(&b, 1), put8(&b, 10);
    }
    op(&b, 0x40, 255);
    write_file("fuzz_casebook", "storm-one-case", b.p, b.n);

    /* extreme and boundary times on every kind (int16 0x80xx selects the extremes) */
    b.n = 0;
    for (size_t i = 0; i < n; i++)
        recipe(&b, lifecycle[i], (unsigned)i & 3, (int)(0x8000u | (unsigned)i), (unsigned)i, 0x7f,
               1);
    for (size_t i = 0; i < n; i++)
        recipe(&b, lifecycle[i], 0, -((int)i * 1000), (unsigned)i, 0x81, 0);
    write_file("fuzz_casebook", "extreme-times", b.p, b.n);

    /* hostile identifiers: every case sel, every subject sel */
    b.n = 0;
    for (unsigned s = 0; s < 16; s++) {
        recipe(&b, K(CASE_OPENED), s & 7, (int)s, s, 1, 2);
        put8(&b, 0x80u | (unsigned)(K(CHILD_SEEN) - CW_EVENT_KIND_FIRST));
        put8(&b, s & 7), put16(&b, (int)s + 1), put8(&b, s), put8(&b, 1), put8(&b, s);
    }
    write_file("fuzz_casebook", "hostile-ids", b.p, b.n);
    free(b.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    char path[512];
    mkdir(outdir, 0755);
    snprintf(path, sizeof(path), "%s/fuzz_event", outdir);
    if (mkdir(path, 0755) && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/fuzz_casebook", outdir);
    if (mkdir(path, 0755) && errno != EEXIST)
        die(path);
    event_seeds();
    casebook_seeds();
    return 0;
}
