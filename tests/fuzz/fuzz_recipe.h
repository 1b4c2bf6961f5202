/*
 * fuzz_recipe.h — turn a few fuzzer bytes into one casewatch.v1.Event, shared by the
 * fuzz_casebook harness and the seed corpus generator (gen_corpus.c).
 *
 * A "structured" record is an op byte >= 0x80 followed by recipe bytes. The op picks the
 * payload kind; the recipe bytes pick the case (from a pool of a few ids, so events collide,
 * plus hostile ones), the time (a spread of about +-11 years around a base, or an extreme),
 * and then every payload field in descriptor order: strings from a small id pool (short ids,
 * 128-byte ids differing only in the last byte, too long, empty, spaces, invalid UTF-8, SQL
 * metacharacters, a fresh unique id), enums mostly in range, times relative to occurred_at,
 * bools, counts. The payload is filled through the generated descriptors, so every kind is
 * covered without a line per kind. Missing bytes read as 0, so any input is a recipe.
 *
 * Nothing here validates: the events built are packed and go through cw_event_decode() like
 * Kafka bytes would. Header-only (static functions): test code, two users.
 */
#ifndef CW_FUZZ_RECIPE_H
#define CW_FUZZ_RECIPE_H

#include "casewatch/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_DAY_MS   86400000LL
#define FZ_HOUR_MS  3600000LL
#define FZ_NOW_MS   1717200000000LL /* 2024-06-01T00:00:00Z: the harnesses' "now" */
#define FZ_BASE_MS  1577836800000LL /* 2020-01-01T00:00:00Z: recipe times spread around it */
#define FZ_NKINDS   (CW_EVENT_KIND_LAST - CW_EVENT_KIND_FIRST + 1)
#define FZ_MAX_STRS 8 /* string fields (incl. repeated entries) a payload may take */
#define FZ_MAX_REP  6 /* entries of a repeated string field */

typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader_t;

static inline uint8_t fz_u8(fz_reader_t *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint16_t fz_u16(fz_reader_t *r)
{
    uint16_t lo = fz_u8(r);
    return (uint16_t)(lo | (uint16_t)(fz_u8(r) << 8));
}

/* An event whose payload and strings it owns (free with fz_event_free). */
typedef struct fz_event {
    Casewatch__V1__Event e;
    ProtobufCMessage *payload;
    char **rep; /* the array of the payload's repeated string field, if any */
    char id[24];
    char strs[FZ_MAX_STRS][24]; /* fresh unique ids */
    int nstrs;
} fz_event_t;

/* Pools, built once (long strings need storage). */
static char fz_long1[CW_EVENT_ID_MAX + 1], fz_long2[CW_EVENT_ID_MAX + 1],
    fz_long3[CW_EVENT_ID_MAX + 1], fz_toolong[CW_EVENT_ID_MAX + 2];

static inline void fz_pools_init(void)
{
    if (fz_long1[0])
        return;
    /* three valid 128-byte ids sharing a 127-byte prefix: truncation anywhere collides them */
    memset(fz_long1, 'L', CW_EVENT_ID_MAX);
    memcpy(fz_long2, fz_long1, CW_EVENT_ID_MAX);
    memcpy(fz_long3, fz_long1, CW_EVENT_ID_MAX);
    fz_long2[CW_EVENT_ID_MAX - 1] = '2';
    fz_long3[CW_EVENT_ID_MAX - 1] = '3';
    memset(fz_toolong, 'T', CW_EVENT_ID_MAX + 1);
}

/* case ids: four ordinary ones (so events collide), then hostile ones */
static inline const char *fz_case_id(unsigned sel)
{
    static const char *const fixed[] = {
        "c0", "c1", "c2", "c3", NULL, "x';DROP-TABLE-cases;--", "", "c\xc3\x28"};
    sel &= 7;
    return sel == 4 ? fz_long1 : fixed[sel];
}

/* any other identifier field */
static inline const char *fz_sub_id(fz_event_t *x, unsigned sel, unsigned seq)
{
    static const char *const fixed[] = {"k0", "k1", "k2", "k3", "k4", "k5",     "a0",       "a1",
                                        NULL, NULL, NULL, NULL, "",   "sp ace", "\xc3\x28", NULL};
    sel &= 15;
    switch (sel) {
    case 8:
        return fz_long1;
    case 9:
        return fz_long2;
    case 10:
        return fz_long3;
    case 11:
        return fz_toolong;
    case 15:
        if (x->nstrs < FZ_MAX_STRS) { /* a fresh id: grows the case's arrays */
            char *s = x->strs[x->nstrs++];
            snprintf(s, sizeof(x->strs[0]), "u%u-%d", seq, x->nstrs);
            return s;
        }
        return "k0";
    default:
        return fixed[sel];
    }
}

static inline int64_t fz_time(fz_reader_t *r, int64_t base)
{
    static const int64_t extremes[] = {0,
                                       1,
                                       -1,
                                       INT64_MAX,
                                       INT64_MIN,
                                       CW_EVENT_MIN_TIME_MS - 1,
                                       FZ_NOW_MS + CW_EVENT_MAX_AHEAD_MS,
                                       FZ_NOW_MS + CW_EVENT_MAX_AHEAD_MS + 1,
                                       -62135596800000LL /* 0001-01-01 */,
                                       253402300799999LL /* 9999-12-31T23:59:59.999 */};
    uint16_t v = fz_u16(r);
    if ((v & 0xff00) == 0x8000) /* int16 -32768..-32513: the extremes instead */
        return extremes[(v & 0xff) % (sizeof(extremes) / sizeof(extremes[0]))];
    return base + (int64_t)(int16_t)v * 3 * FZ_HOUR_MS;
}

/* A time field of a payload, relative to occurred_at; 0 = unset. */
static inline int64_t fz_rel_time(fz_reader_t *r, int64_t t)
{
    uint8_t s = fz_u8(r);
    if (s == 0)
        return 0;
    if (s == 0x80)
        return INT64_MIN;
    if (s == 0x81)
        return INT64_MAX;
    if (t > INT64_MAX / 2 || t < INT64_MIN / 2) /* an extreme occurred_at: no arithmetic */
        return t;
    if (s == 0x7f)
        return t + CW_EVENT_MAX_HORIZON_MS + 1; /* just past the horizon */
    return t + (int64_t)(int8_t)s * FZ_DAY_MS;
}

static inline void fz_event_free(fz_event_t *x)
{
    free(x->rep);
    free(x->payload);
    free(x);
}

/*
 * Build the event of a structured record (op >= 0x80). seq makes event ids and fresh ids
 * unique within one input. Returns a heap event, free with fz_event_free().
 */
static inline fz_event_t *fz_build(uint8_t op, fz_reader_t *r, unsigned seq)
{
    fz_pools_init();
    fz_event_t *x = calloc(1, sizeof(*x));
    if (!x)
        abort();
    casewatch__v1__event__init(&x->e);
    int kind = CW_EVENT_KIND_FIRST + (op & 0x1f) % FZ_NKINDS;
    uint8_t b = fz_u8(r);
    snprintf(x->id, sizeof(x->id), "f%u", seq);
    x->e.event_id = x->id;
    x->e.case_id = (char *)fz_case_id(b);
    x->e.occurred_at = fz_time(r, FZ_BASE_MS);
    x->e.source = (b & 0x40) ? "" : "fz";
    x->e.schema_version = (b & 0x80) ? fz_u8(r) : 1;
    x->e.payload_case = (Casewatch__V1__Event__PayloadCase)kind;

    const ProtobufCFieldDescriptor *pf =
        protobuf_c_message_descriptor_get_field(&casewatch__v1__event__descriptor, (unsigned)kind);
    const ProtobufCMessageDescriptor *d = pf->descriptor;
    x->payload = calloc(1, d->sizeof_message);
    if (!x->payload)
        abort();
    protobuf_c_message_init(d, x->payload);
    *(ProtobufCMessage **)((char *)&x->e + pf->offset) = x->payload;

    int64_t t = x->e.occurred_at;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        void *p = (char *)x->payload + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type != PROTOBUF_C_TYPE_STRING || x->rep)
                continue; /* only repeated strings exist in the contract today */
            size_t n = fz_u8(r) % (FZ_MAX_REP + 1);
            x->rep = calloc(n + 1, sizeof(char *));
            if (!x->rep)
                abort();
            for (size_t j = 0; j < n; j++)
                x->rep[j] = (char *)fz_sub_id(x, fz_u8(r), seq);
            *(size_t *)((char *)x->payload + f->quantifier_offset) = n;
            *(char ***)p = x->rep;
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            *(const char **)p = fz_sub_id(x, fz_u8(r), seq);
            break;
        case PROTOBUF_C_TYPE_ENUM: {
            uint8_t v = fz_u8(r);
            *(int *)p = v < 0xc0 ? v % 10 : (int)(int8_t)v; /* mostly defined values */
            break;
        }
        case PROTOBUF_C_TYPE_INT64:
            *(int64_t *)p = fz_rel_time(r, t);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(protobuf_c_boolean *)p = fz_u8(r) & 1;
            break;
        case PROTOBUF_C_TYPE_UINT32: {
            uint8_t v = fz_u8(r);
            *(uint32_t *)p = v < 0xf0 ? v % 12u : UINT32_MAX - (v & 0xf);
            break;
        }
        default:
            break;
        }
    }
    return x;
}

/* Pack an event; caller frees. */
static inline uint8_t *fz_pack(const Casewatch__V1__Event *e, size_t *len)
{
    *len = casewatch__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    casewatch__v1__event__pack(e, buf);
    return buf;
}

#endif
