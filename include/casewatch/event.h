/*
 * event.h — the one module that touches protobuf-c for input: decode an event envelope from
 * Kafka bytes, then validate it, with a stable reason code and a human reason for every
 * rejection. Decoding and validation are pure (the caller passes "now").
 *
 * Generated code (casewatch/v1/events.pb-c.h) lives in the build tree; other modules use the
 * generated types read-only through cw_event_t.pb.
 */
#ifndef CASEWATCH_EVENT_H
#define CASEWATCH_EVENT_H

#include "casewatch/common.h"
#include "casewatch/v1/events.pb-c.h"

/** Why an input was rejected. Stable: the names are dead-letter reasons and metric labels. */
typedef enum cw_reject {
    CW_REJECT_NONE = 0,
    CW_REJECT_TOO_LARGE,      /**< message over the configured maximum size */
    CW_REJECT_UNDECODABLE,    /**< not a valid protobuf encoding of casewatch.v1.Event */
    CW_REJECT_MISSING_FIELD,  /**< a required field is absent or empty */
    CW_REJECT_UNKNOWN_KIND,   /**< payload oneof not set, or set to a kind this binary lacks */
    CW_REJECT_UNKNOWN_ENUM,   /**< an enum field holds a value the contract does not define */
    CW_REJECT_BAD_TIMESTAMP,  /**< occurred_at (or another time) before 1990 or > 1 day ahead */
    CW_REJECT_BAD_IDENTIFIER, /**< an identifier too long, or with bytes outside [!-~] */
    CW_REJECT_BAD_VALUE,      /**< any other field value outside its allowed range */
    CW_REJECT_WRONG_PARTITION, /**< arrived on a partition its case (or area) does not hash to */
    CW_REJECT__COUNT
} cw_reject_t;

/** Limits applied by validation. */
#define CW_EVENT_ID_MAX 128           /**< max bytes of any identifier */
#define CW_EVENT_MIN_TIME_MS 631152000000LL /**< 1990-01-01T00:00:00Z */
#define CW_EVENT_MAX_AHEAD_MS 86400000LL    /**< 1 day beyond "now" */
#define CW_EVENT_MAX_HORIZON_MS (3653LL * 86400000LL) /**< other times: <= occurred_at + 10y */
#define CW_EVENT_CHILDREN_MAX 64      /**< max entries of case_opened.child_ids */
#define CW_EVENT_SCHEMA_VERSION 1     /**< the only envelope schema_version this binary reads */

/** The range of payload kinds this binary knows (oneof field numbers, contiguous today). */
#define CW_EVENT_KIND_FIRST CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED
#define CW_EVENT_KIND_LAST CASEWATCH__V1__EVENT__PAYLOAD_CASE_RECLASSIFIED

/** A decoded, validated event. */
typedef struct cw_event {
    Casewatch__V1__Event *pb; /**< owned; freed by cw_event_fini() */
    int kind;                 /**< pb->payload_case, a CASEWATCH__V1__EVENT__PAYLOAD_* value */
} cw_event_t;

/**
 * @brief Decode and validate one message.
 * @param buf,len     the message bytes (borrowed; not referenced after return)
 * @param max_len     reject messages longer than this with CW_REJECT_TOO_LARGE (0: no limit)
 * @param now_ms      the current time in UTC ms, for the "not in the future" check
 * @param out         on CW_REJECT_NONE, filled; caller releases with cw_event_fini()
 *                    on any rejection, left empty (nothing to free)
 * @param reason      buffer for a human reason naming the field ("missing event_id",
 *                    "case_opened.case_type: unknown enum value 42"); may be NULL
 * @returns CW_REJECT_NONE or the rejection class.
 */
cw_reject_t cw_event_decode(const uint8_t *buf, size_t len, size_t max_len, int64_t now_ms,
                            cw_event_t *out, char *reason, size_t reasonsz);

/** @brief Validate an already unpacked envelope (used by decode and by tests/fuzzers). */
cw_reject_t cw_event_validate(const Casewatch__V1__Event *ev, int64_t now_ms, char *reason,
                              size_t reasonsz);

/** @brief Free what cw_event_decode() allocated; safe on a zeroed or finished event. */
void cw_event_fini(cw_event_t *ev);

/** @brief Stable snake_case name of a rejection class ("undecodable", "missing_field", …). */
const char *cw_reject_name(cw_reject_t r);

/** @brief Stable snake_case name of an event kind ("case_opened", …), "unknown" otherwise. */
const char *cw_event_kind_name(int kind);

/**
 * @brief Inverse of cw_event_kind_name(): the kind for "case_opened" etc.
 * @returns a CASEWATCH__V1__EVENT__PAYLOAD_* value, or 0 (PAYLOAD__NOT_SET) if name is NULL
 *          or not a known kind.
 */
int cw_event_kind_from_name(const char *name);

/**
 * @brief True for area events (prioritisation activated/deactivated): they concern a court
 *        area, not a case; their case_id may be empty and they are keyed by court_area.
 */
bool cw_event_kind_is_area(int kind);

#endif
