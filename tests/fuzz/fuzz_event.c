/*
 * fuzz_event.c — libFuzzer harness: arbitrary bytes as a Kafka message value through
 * cw_event_decode() (decode + NUL scan + validate), the way the consumer sees them.
 *
 * Besides "no crash, no leak, no UB", it checks what decode promises:
 *   - the result is a known rejection class, with a reason iff rejected;
 *   - decoding without an output event, or with a tiny/NULL reason buffer, gives the same class;
 *   - an accepted event re-packed by protobuf-c decodes and validates again, to the same kind
 *     (validation depends on the values, not on how they were encoded);
 *   - the size limit applies before anything is parsed.
 * It also runs cw_event_validate() on whatever protobuf-c unpacks (also inputs the NUL scan
 * would stop first) at several clocks, INT64 extremes included.
 *
 * cw_event_decode() takes the value only: the Kafka key and headers never reach it (the key
 * is stored as bytea, headers are not read), so there is nothing else to feed.
 */
#include "casewatch/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1717200000000LL /* 2024-06-01T00:00:00Z */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_event: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[256];
    cw_event_t ev = {0};
    cw_reject_t r = cw_event_decode(data, size, 0, NOW_MS, &ev, reason, sizeof(reason));
    CHECK(r >= CW_REJECT_NONE && r < CW_REJECT__COUNT && r != CW_REJECT_TOO_LARGE);
    CHECK(strcmp(cw_reject_name(r), "unknown") != 0);
    CHECK(memchr(reason, 0, sizeof(reason)) != NULL);
    if (r == CW_REJECT_NONE) {
        CHECK(ev.pb != NULL && reason[0] == '\0');
        CHECK(ev.kind >= CW_EVENT_KIND_FIRST && ev.kind <= CW_EVENT_KIND_LAST);
        CHECK(ev.kind == (int)ev.pb->payload_case);
        CHECK(strcmp(cw_event_kind_name(ev.kind), "unknown") != 0);
        CHECK(cw_event_kind_from_name(cw_event_kind_name(ev.kind)) == ev.kind);
        CHECK(ev.pb->event_id && *ev.pb->event_id);
        CHECK(cw_event_kind_is_area(ev.kind) || (ev.pb->case_id && *ev.pb->case_id));

        /* re-encode the known fields (protobuf-c writes them canonically) and decode again.
         * Unknown fields are left out: protobuf-c keeps them verbatim, including ones it
         * should not have accepted (a non-canonical field number 0, "80 00", re-packed as
         * "00", which its own unpack then refuses) — casewatch never re-encodes input. */
        ProtobufCMessage *payload =
            *(ProtobufCMessage **)((char *)ev.pb +
                                   protobuf_c_message_descriptor_get_field(
                                       &casewatch__v1__event__descriptor, (unsigned)ev.kind)
                                       ->offset);
        unsigned nu1 = ev.pb->base.n_unknown_fields, nu2 = payload->n_unknown_fields;
        ev.pb->base.n_unknown_fields = 0;
        payload->n_unknown_fields = 0;
        size_t len = casewatch__v1__event__get_packed_size(ev.pb);
        uint8_t *buf = malloc(len ? len : 1);
        CHECK(buf != NULL);
        CHECK(casewatch__v1__event__pack(ev.pb, buf) == len);
        ev.pb->base.n_unknown_fields = nu1; /* free_unpacked frees them */
        payload->n_unknown_fields = nu2;
        cw_event_t ev2 = {0};
        char reason2[256];
        cw_reject_t r2 = cw_event_decode(buf, len, 0, NOW_MS, &ev2, reason2, sizeof(reason2));
        if (r2 != CW_REJECT_NONE)
            fprintf(stderr, "fuzz_event: re-encoded event rejected: %s: %s\n", cw_reject_name(r2),
                    reason2);
        CHECK(r2 == CW_REJECT_NONE);
        CHECK(ev2.kind == ev.kind);
        CHECK(strcmp(ev2.pb->event_id, ev.pb->event_id) == 0);
        cw_event_fini(&ev2);
        free(buf);
        cw_event_fini(&ev);
        CHECK(ev.pb == NULL);
        cw_event_fini(&ev); /* idempotent */
    } else {
        CHECK(ev.pb == NULL && reason[0] != '\0');
    }

    /* same class without an output event, and with small or no reason buffers */
    char tiny[1];
    CHECK(cw_event_decode(data, size, 0, NOW_MS, NULL, NULL, 0) == r);
    CHECK(cw_event_decode(data, size, 0, NOW_MS, NULL, tiny, sizeof(tiny)) == r);
    CHECK(tiny[0] == '\0');
    if (size > 1) { /* max_len 0 means no limit */
        cw_event_t ev3 = {0};
        CHECK(cw_event_decode(data, size, size - 1, NOW_MS, &ev3, reason, sizeof(reason)) ==
              CW_REJECT_TOO_LARGE);
        CHECK(ev3.pb == NULL);
    }

    /* validation alone, on anything protobuf-c accepts, at odd clocks */
    Casewatch__V1__Event *pb = casewatch__v1__event__unpack(NULL, size, data);
    if (pb) {
        static const int64_t clocks[] = {NOW_MS, 0, INT64_MAX, INT64_MIN, -1};
        for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
            cw_reject_t v = cw_event_validate(pb, clocks[i], reason, sizeof(reason));
            CHECK(v >= CW_REJECT_NONE && v < CW_REJECT__COUNT);
            CHECK((v == CW_REJECT_NONE) == (reason[0] == '\0'));
            /* decode = NUL scan + validate: an accepted input validates */
            if (i == 0 && r == CW_REJECT_NONE)
                CHECK(v == CW_REJECT_NONE);
        }
        casewatch__v1__event__free_unpacked(pb, NULL);
    } else {
        CHECK(r == CW_REJECT_UNDECODABLE);
    }
    return 0;
}
