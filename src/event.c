/*
 * event.c — decode and validate casewatch.v1.Event envelopes (see include/casewatch/event.h).
 *
 * Owns the only protobuf-c unpack of input. Decoding is protobuf-c's; validation is ours and
 * is driven by the generated descriptors where it can be: every string field of a payload is
 * an identifier and every enum field must hold a defined value, so one generic walk over the
 * payload's descriptor checks them all, and a small table adds what a descriptor cannot say
 * (which fields are required, which int64 fields are times, which have a range). The few
 * rules that relate two fields are plain code at the end.
 *
 * Pure: no clocks (the caller passes now), no I/O, no mutable state. Rejection reasons name
 * the field and may quote numbers, never input bytes: identifiers could be hostile.
 */
#include "casewatch/event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- names --------------------------------------------------------------------------- */

static const char *const reject_names[CW_REJECT__COUNT] = {
    [CW_REJECT_NONE] = "none",
    [CW_REJECT_TOO_LARGE] = "too_large",
    [CW_REJECT_UNDECODABLE] = "undecodable",
    [CW_REJECT_MISSING_FIELD] = "missing_field",
    [CW_REJECT_UNKNOWN_KIND] = "unknown_kind",
    [CW_REJECT_UNKNOWN_ENUM] = "unknown_enum",
    [CW_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
    [CW_REJECT_BAD_IDENTIFIER] = "bad_identifier",
    [CW_REJECT_BAD_VALUE] = "bad_value",
    [CW_REJECT_WRONG_PARTITION] = "wrong_partition",
};

const char *cw_reject_name(cw_reject_t r)
{
    if ((int)r < 0 || r >= CW_REJECT__COUNT || !reject_names[r])
        return "unknown";
    return reject_names[r];
}

/*
 * The payload oneof member for a kind, or NULL. The oneof field names are the kind names,
 * so the generated descriptor is the single source of truth for them.
 */
static const ProtobufCFieldDescriptor *payload_field(int kind)
{
    if (kind <= 0)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&casewatch__v1__event__descriptor, (unsigned)kind);
    if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return f;
}

const char *cw_event_kind_name(int kind)
{
    const ProtobufCFieldDescriptor *f = payload_field(kind);
    return f ? f->name : "unknown";
}

int cw_event_kind_from_name(const char *name)
{
    if (!name)
        return CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(&casewatch__v1__event__descriptor, name);
    if (!f || !payload_field((int)f->id))
        return CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
    return (int)f->id;
}

bool cw_event_kind_is_area(int kind)
{
    return kind == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED ||
           kind == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED;
}

/* ---- reasons ------------------------------------------------------------------------- */

/* Where a rejection's human reason goes; buf may be NULL. */
typedef struct vctx {
    char *buf;
    size_t bufsz;
} vctx_t;

static cw_reject_t reject(vctx_t *vc, cw_reject_t r, const char *fmt, ...) CW_PRINTF(3, 4);

static cw_reject_t reject(vctx_t *vc, cw_reject_t r, const char *fmt, ...)
{
    if (vc->buf && vc->bufsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vc->buf, vc->bufsz, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* ---- field access through descriptors ------------------------------------------------ */

static const void *field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (const char *)m + f->offset;
}

static const char *field_string(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return *(char *const *)field_ptr(m, f);
}

/* A scalar field widened to int64 (uint64 saturates: no field of ours comes near it). */
static int64_t field_int(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *p = field_ptr(m, f);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int32_t *)p;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)p;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p ? 1 : 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return *(const int64_t *)p;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)p;
        return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    default:
        return 0;
    }
}

/* ---- identifiers --------------------------------------------------------------------- */

/*
 * An identifier is 1..CW_EVENT_ID_MAX bytes of printable ASCII without space. That also
 * rules out every non-ASCII (so every invalid UTF-8) byte. path names the field.
 */
static cw_reject_t check_id(vctx_t *vc, const char *path, const char *s, bool required)
{
    if (!s || !*s) {
        if (required)
            return reject(vc, CW_REJECT_MISSING_FIELD, "missing %s", path);
        return CW_REJECT_NONE;
    }
    size_t n = strnlen(s, CW_EVENT_ID_MAX + 1);
    if (n > CW_EVENT_ID_MAX)
        return reject(vc, CW_REJECT_BAD_IDENTIFIER, "%s: longer than %d bytes", path,
                      CW_EVENT_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return reject(vc, CW_REJECT_BAD_IDENTIFIER,
                          "%s: byte at offset %zu is not printable ASCII", path, i);
    }
    return CW_REJECT_NONE;
}

/*
 * protobuf-c hands strings over NUL-terminated, so an identifier with an embedded NUL would
 * silently read as its prefix ("a\0b" == "a"), which is how two events could collide on one
 * event_id. The encoded bytes are the only place left to see it: walk the (already
 * successfully unpacked) encoding and look inside every length-delimited string field.
 */
static bool read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pp >= end)
            return false;
        uint8_t b = *(*pp)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static cw_reject_t scan_nul(vctx_t *vc, const ProtobufCMessageDescriptor *d, const char *parent,
                            const uint8_t *p, size_t len, int depth)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n;
        if (!read_varint(&p, end, &tag))
            return CW_REJECT_NONE; /* unpack accepted it; nothing more to learn here */
        switch (tag & 7) {
        case 0:
            if (!read_varint(&p, end, &n))
                return CW_REJECT_NONE;
            break;
        case 1:
            if (end - p < 8)
                return CW_REJECT_NONE;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return CW_REJECT_NONE;
            p += 4;
            break;
        case 2: {
            if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return CW_REJECT_NONE;
            const ProtobufCFieldDescriptor *f =
                (tag >> 3) <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)n)) {
                return reject(vc, CW_REJECT_BAD_IDENTIFIER, "%s%s%s: contains a NUL byte",
                              parent ? parent : "", parent ? "." : "", f->name);
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 4) {
                cw_reject_t r = scan_nul(vc, f->descriptor, f->name, p, (size_t)n, depth + 1);
                if (r != CW_REJECT_NONE)
                    return r;
            }
            p += n;
            break;
        }
        default:
            return CW_REJECT_NONE;
        }
    }
    return CW_REJECT_NONE;
}

/* ---- generic payload walk: identifiers and enums ------------------------------------- */

static cw_reject_t check_generic(vctx_t *vc, const char *kind, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char path[160];

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        snprintf(path, sizeof path, "%s.%s", kind, f->name);

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const void *arr = *(const void *const *)field_ptr(m, f);
            for (size_t j = 0; j < n; j++) {
                char ipath[192];
                snprintf(ipath, sizeof ipath, "%s[%zu]", path, j);
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                    const char *s = ((char *const *)arr)[j];
                    if (!s || !*s)
                        return reject(vc, CW_REJECT_BAD_IDENTIFIER, "%s: empty", ipath);
                    cw_reject_t r = check_id(vc, ipath, s, true);
                    if (r != CW_REJECT_NONE)
                        return r;
                } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
                    int v = ((const int *)arr)[j];
                    if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
                        return reject(vc, CW_REJECT_UNKNOWN_ENUM, "%s: unknown enum value %d",
                                      ipath, v);
                }
            }
            continue;
        }

        if (f->type == PROTOBUF_C_TYPE_STRING) {
            cw_reject_t r = check_id(vc, path, field_string(m, f), false);
            if (r != CW_REJECT_NONE)
                return r;
        } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
            int v = *(const int *)field_ptr(m, f);
            if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
                return reject(vc, CW_REJECT_UNKNOWN_ENUM, "%s: unknown enum value %d", path, v);
        }
    }
    return CW_REJECT_NONE;
}

/* ---- the per-kind field table -------------------------------------------------------- */

enum {
    F_REQ = 1u << 0,   /* must be set: non-empty string, non-zero number, not UNSPECIFIED */
    F_TIME = 1u << 1,  /* int64 UTC ms: if set, in [1990, occurred_at + 10 years] */
    F_RANGE = 1u << 2, /* number in [min, max], 0 included in the check */
};

typedef struct field_rule {
    int kind;
    const char *field;
    unsigned flags;
    int64_t min, max; /* F_RANGE only */
} field_rule_t;

#define K(x) CASEWATCH__V1__EVENT__PAYLOAD_##x

static const field_rule_t field_rules[] = {
    {K(CASE_OPENED), "case_type", F_REQ, 0, 0},
    {K(CASE_OPENED), "court_area", F_REQ, 0, 0},
    {K(CASE_OPENED), "service_area", F_REQ, 0, 0},
    {K(CASE_OPENED), "issued_at", F_TIME, 0, 0},
    {K(CASE_OPENED), "child_ids", F_RANGE, 0, CW_EVENT_CHILDREN_MAX}, /* count of entries */
    {K(CHILD_ADDED), "child_id", F_REQ, 0, 0},
    {K(ALLOCATED), "target", F_REQ, 0, 0},
    {K(CHILD_SEEN), "child_id", F_REQ, 0, 0},
    {K(HEARING_LISTED), "hearing_id", F_REQ, 0, 0},
    {K(HEARING_LISTED), "hearing_kind", F_REQ, 0, 0},
    {K(HEARING_LISTED), "listed_for", F_REQ | F_TIME, 0, 0},
    {K(HEARING_HELD), "hearing_id", F_REQ, 0, 0},
    {K(HEARING_ADJOURNED), "hearing_id", F_REQ, 0, 0},
    {K(HEARING_ADJOURNED), "relisted_for", F_TIME, 0, 0},
    {K(REPORT_ORDERED), "report_id", F_REQ, 0, 0},
    {K(REPORT_ORDERED), "report_kind", F_REQ, 0, 0},
    {K(REPORT_ORDERED), "due_at", F_REQ | F_TIME, 0, 0},
    {K(REPORT_EXTENSION_AGREED), "report_id", F_REQ, 0, 0},
    {K(REPORT_EXTENSION_AGREED), "new_due_at", F_REQ | F_TIME, 0, 0},
    {K(REPORT_FILED), "report_id", F_REQ, 0, 0},
    {K(SAFEGUARDING_CONCERN_RAISED), "concern_id", F_REQ, 0, 0},
    {K(SAFEGUARDING_CONCERN_RAISED), "concern_kind", F_REQ, 0, 0},
    {K(MANAGEMENT_OVERSIGHT_RECORDED), "manager_id", F_REQ, 0, 0},
    {K(MANAGEMENT_OVERSIGHT_RECORDED), "oversight_kind", F_REQ, 0, 0},
    {K(PRIORITISATION_ACTIVATED), "court_area", F_REQ, 0, 0},
    {K(PRIORITISATION_DEACTIVATED), "court_area", F_REQ, 0, 0},
    {K(CASE_CLOSED), "outcome", F_REQ, 0, 0},
    {K(TIMETABLE_EXTENDED), "weeks", F_RANGE, 1, 8}, /* s32(5): up to 8 weeks at a time */
    {K(CASE_RECLASSIFIED), "new_case_type", F_REQ, 0, 0},
};

static cw_reject_t check_rule(vctx_t *vc, const char *kind, const ProtobufCMessage *m,
                              const field_rule_t *rule, int64_t occurred_at)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, rule->field);
    if (!f) /* a typo in the table: every valid event of this kind fails, and a test sees it */
        return reject(vc, CW_REJECT_BAD_VALUE, "internal: %s has no field %s", kind, rule->field);

    bool is_string = f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED;
    int64_t v;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        v = (int64_t) * (const size_t *)((const char *)m + f->quantifier_offset);
    else if (is_string)
        v = field_string(m, f) && *field_string(m, f);
    else
        v = field_int(m, f);

    if ((rule->flags & F_REQ) && v == 0) {
        if (f->type == PROTOBUF_C_TYPE_ENUM)
            return reject(vc, CW_REJECT_MISSING_FIELD, "missing %s.%s (UNSPECIFIED)", kind,
                          f->name);
        return reject(vc, CW_REJECT_MISSING_FIELD, "missing %s.%s", kind, f->name);
    }
    if ((rule->flags & F_TIME) && v != 0) {
        if (v < CW_EVENT_MIN_TIME_MS)
            return reject(vc, CW_REJECT_BAD_TIMESTAMP, "%s.%s: %" PRId64 " is before 1990-01-01",
                          kind, f->name, v);
        if (v - occurred_at > CW_EVENT_MAX_HORIZON_MS)
            return reject(vc, CW_REJECT_BAD_TIMESTAMP,
                          "%s.%s: %" PRId64 " is more than 10 years after occurred_at", kind,
                          f->name, v);
    }
    if ((rule->flags & F_RANGE) && (v < rule->min || v > rule->max)) {
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            return reject(vc, CW_REJECT_BAD_VALUE, "%s.%s: %" PRId64 " entries, at most %" PRId64,
                          kind, f->name, v, rule->max);
        return reject(vc, CW_REJECT_BAD_VALUE, "%s.%s: %" PRId64 " outside %" PRId64 "..%" PRId64,
                      kind, f->name, v, rule->min, rule->max);
    }
    return CW_REJECT_NONE;
}

/* ---- rules that relate fields -------------------------------------------------------- */

static cw_reject_t check_case_opened(vctx_t *vc, const Casewatch__V1__CaseOpened *p)
{
    /* a repeated child would count twice in "open children" */
    for (size_t i = 1; i < p->n_child_ids; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->child_ids[i], p->child_ids[j]) == 0)
                return reject(vc, CW_REJECT_BAD_VALUE,
                              "case_opened.child_ids[%zu]: duplicate of entry %zu", i, j);
    return CW_REJECT_NONE;
}

static cw_reject_t check_allocated(vctx_t *vc, const Casewatch__V1__Allocated *p)
{
    bool has_worker = p->worker_id && *p->worker_id;
    bool has_team = p->team && *p->team;

    if (p->target == CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER && !has_worker)
        return reject(vc, CW_REJECT_MISSING_FIELD,
                      "missing allocated.worker_id (required when target is WORKER)");
    if (p->target != CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER && has_worker)
        return reject(vc, CW_REJECT_BAD_VALUE,
                      "allocated.worker_id: set, but target is not WORKER");
    if (p->target == CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM && !has_team)
        return reject(vc, CW_REJECT_MISSING_FIELD,
                      "missing allocated.team (required when target is TEAM)");
    return CW_REJECT_NONE;
}

/* ---- public -------------------------------------------------------------------------- */

cw_reject_t cw_event_validate(const Casewatch__V1__Event *ev, int64_t now_ms, char *reason,
                              size_t reasonsz)
{
    vctx_t vc = {reason, reasonsz};
    cw_reject_t r;

    if (reason && reasonsz)
        reason[0] = '\0';
    if (!ev)
        return reject(&vc, CW_REJECT_MISSING_FIELD, "missing event");

    /* envelope */
    if ((r = check_id(&vc, "event_id", ev->event_id, true)) != CW_REJECT_NONE)
        return r;
    if (ev->schema_version == 0)
        return reject(&vc, CW_REJECT_MISSING_FIELD, "missing schema_version");
    if (ev->schema_version != CW_EVENT_SCHEMA_VERSION)
        return reject(&vc, CW_REJECT_BAD_VALUE, "unsupported schema_version %" PRIu32,
                      ev->schema_version);
    if ((r = check_id(&vc, "source", ev->source, true)) != CW_REJECT_NONE)
        return r;
    if ((r = check_id(&vc, "case_id", ev->case_id, !cw_event_kind_is_area(ev->payload_case))) !=
        CW_REJECT_NONE)
        return r;

    int64_t latest =
        now_ms > INT64_MAX - CW_EVENT_MAX_AHEAD_MS ? INT64_MAX : now_ms + CW_EVENT_MAX_AHEAD_MS;
    if (ev->occurred_at == 0)
        return reject(&vc, CW_REJECT_BAD_TIMESTAMP, "occurred_at: not set");
    if (ev->occurred_at < CW_EVENT_MIN_TIME_MS)
        return reject(&vc, CW_REJECT_BAD_TIMESTAMP, "occurred_at: %" PRId64 " is before 1990-01-01",
                      ev->occurred_at);
    if (ev->occurred_at > latest)
        return reject(&vc, CW_REJECT_BAD_TIMESTAMP,
                      "occurred_at: %" PRId64 " is more than 1 day after now (%" PRId64 ")",
                      ev->occurred_at, now_ms);

    /* payload */
    const ProtobufCFieldDescriptor *pf = payload_field(ev->payload_case);
    if (!pf) {
        if (ev->payload_case == CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET)
            return reject(&vc, CW_REJECT_UNKNOWN_KIND,
                          "payload not set (missing, or a kind this binary does not know)");
        return reject(&vc, CW_REJECT_UNKNOWN_KIND, "payload: unknown kind %d",
                      (int)ev->payload_case);
    }
    const ProtobufCMessage *m = *(const ProtobufCMessage *const *)((const char *)ev + pf->offset);
    if (!m)
        return reject(&vc, CW_REJECT_MISSING_FIELD, "missing %s", pf->name);
    if (m->descriptor != pf->descriptor)
        return reject(&vc, CW_REJECT_BAD_VALUE, "%s: wrong message type", pf->name);

    if ((r = check_generic(&vc, pf->name, m)) != CW_REJECT_NONE)
        return r;
    for (size_t i = 0; i < CW_ARRAY_LEN(field_rules); i++) {
        if (field_rules[i].kind != (int)ev->payload_case)
            continue;
        if ((r = check_rule(&vc, pf->name, m, &field_rules[i], ev->occurred_at)) != CW_REJECT_NONE)
            return r;
    }

    switch (ev->payload_case) {
    case CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED:
        return check_case_opened(&vc, ev->case_opened);
    case CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED:
        return check_allocated(&vc, ev->allocated);
    default:
        return CW_REJECT_NONE;
    }
}

cw_reject_t cw_event_decode(const uint8_t *buf, size_t len, size_t max_len, int64_t now_ms,
                            cw_event_t *out, char *reason, size_t reasonsz)
{
    static const uint8_t empty[1] = {0};
    vctx_t vc = {reason, reasonsz};

    if (reason && reasonsz)
        reason[0] = '\0';
    if (out) {
        out->pb = NULL;
        out->kind = CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
    }
    if (max_len && len > max_len)
        return reject(&vc, CW_REJECT_TOO_LARGE, "message of %zu bytes exceeds the maximum %zu", len,
                      max_len);
    if (!buf && len)
        return reject(&vc, CW_REJECT_UNDECODABLE, "no message bytes");

    Casewatch__V1__Event *pb = casewatch__v1__event__unpack(NULL, len, buf ? buf : empty);
    if (!pb)
        return reject(&vc, CW_REJECT_UNDECODABLE,
                      "not a valid protobuf encoding of casewatch.v1.Event (%zu bytes)", len);

    cw_reject_t r =
        scan_nul(&vc, &casewatch__v1__event__descriptor, NULL, buf ? buf : empty, len, 0);
    if (r == CW_REJECT_NONE)
        r = cw_event_validate(pb, now_ms, reason, reasonsz);
    if (r != CW_REJECT_NONE || !out) {
        casewatch__v1__event__free_unpacked(pb, NULL);
        return r;
    }
    out->pb = pb;
    out->kind = pb->payload_case;
    return CW_REJECT_NONE;
}

void cw_event_fini(cw_event_t *ev)
{
    if (!ev)
        return;
    if (ev->pb)
        casewatch__v1__event__free_unpacked(ev->pb, NULL);
    ev->pb = NULL;
    ev->kind = CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
}
