/*
 * test_event.c — CUnit suite for the event module: decode + validate of casewatch.v1.Event.
 *
 * Events are built with the generated protobuf-c API, packed, and decoded back, so every
 * case goes through the same bytes a Kafka consumer would see. A few inputs are encoded by
 * hand (unknown oneof member, wrong wire type, embedded NUL) because the generated packer
 * cannot produce them. Must stay valgrind-clean.
 */
#include "casewatch/event.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS      1709200000000LL /* 2024-02-29T09:46:40Z, fixed: tests never read a clock */
#define OCCURRED_MS (NOW_MS - 3600000LL)
#define DAY_MS      86400000LL

/* ---- fixture: one valid event of a given kind, every payload message kept inline ------- */

typedef struct fixture {
    Casewatch__V1__Event ev;
    Casewatch__V1__CaseOpened case_opened;
    Casewatch__V1__ChildAdded child_added;
    Casewatch__V1__Allocated allocated;
    Casewatch__V1__ChildSeen child_seen;
    Casewatch__V1__HearingListed hearing_listed;
    Casewatch__V1__HearingHeld hearing_held;
    Casewatch__V1__HearingAdjourned hearing_adjourned;
    Casewatch__V1__ReportOrdered report_ordered;
    Casewatch__V1__ReportExtensionAgreed report_extension_agreed;
    Casewatch__V1__ReportFiled report_filed;
    Casewatch__V1__SafeguardingConcernRaised safeguarding_concern_raised;
    Casewatch__V1__RiskAssessmentRecorded risk_assessment_recorded;
    Casewatch__V1__DomesticAbuseAssessed domestic_abuse_assessed;
    Casewatch__V1__SafeguardingLetterFiled safeguarding_letter_filed;
    Casewatch__V1__PlanningMeetingHeld planning_meeting_held;
    Casewatch__V1__ManagementOversightRecorded management_oversight_recorded;
    Casewatch__V1__PrioritisationActivated prioritisation_activated;
    Casewatch__V1__PrioritisationDeactivated prioritisation_deactivated;
    Casewatch__V1__CaseClosed case_closed;
    Casewatch__V1__CaseReopened case_reopened;
    Casewatch__V1__TimetableExtended timetable_extended;
    Casewatch__V1__CaseReclassified case_reclassified;
    char *child_ids[80];
    char idbuf[80][16];
} fixture_t;

static void fixture_init(fixture_t *fx, int kind)
{
    static const Casewatch__V1__Event ev0 = CASEWATCH__V1__EVENT__INIT;
    static const Casewatch__V1__CaseOpened co0 = CASEWATCH__V1__CASE_OPENED__INIT;
    static const Casewatch__V1__ChildAdded ca0 = CASEWATCH__V1__CHILD_ADDED__INIT;
    static const Casewatch__V1__Allocated al0 = CASEWATCH__V1__ALLOCATED__INIT;
    static const Casewatch__V1__ChildSeen cs0 = CASEWATCH__V1__CHILD_SEEN__INIT;
    static const Casewatch__V1__HearingListed hl0 = CASEWATCH__V1__HEARING_LISTED__INIT;
    static const Casewatch__V1__HearingHeld hh0 = CASEWATCH__V1__HEARING_HELD__INIT;
    static const Casewatch__V1__HearingAdjourned ha0 = CASEWATCH__V1__HEARING_ADJOURNED__INIT;
    static const Casewatch__V1__ReportOrdered ro0 = CASEWATCH__V1__REPORT_ORDERED__INIT;
    static const Casewatch__V1__ReportExtensionAgreed re0 =
        CASEWATCH__V1__REPORT_EXTENSION_AGREED__INIT;
    static const Casewatch__V1__ReportFiled rf0 = CASEWATCH__V1__REPORT_FILED__INIT;
    static const Casewatch__V1__SafeguardingConcernRaised sc0 =
        CASEWATCH__V1__SAFEGUARDING_CONCERN_RAISED__INIT;
    static const Casewatch__V1__RiskAssessmentRecorded ra0 =
        CASEWATCH__V1__RISK_ASSESSMENT_RECORDED__INIT;
    static const Casewatch__V1__DomesticAbuseAssessed da0 =
        CASEWATCH__V1__DOMESTIC_ABUSE_ASSESSED__INIT;
    static const Casewatch__V1__SafeguardingLetterFiled sl0 =
        CASEWATCH__V1__SAFEGUARDING_LETTER_FILED__INIT;
    static const Casewatch__V1__PlanningMeetingHeld pm0 =
        CASEWATCH__V1__PLANNING_MEETING_HELD__INIT;
    static const Casewatch__V1__ManagementOversightRecorded mo0 =
        CASEWATCH__V1__MANAGEMENT_OVERSIGHT_RECORDED__INIT;
    static const Casewatch__V1__PrioritisationActivated pa0 =
        CASEWATCH__V1__PRIORITISATION_ACTIVATED__INIT;
    static const Casewatch__V1__PrioritisationDeactivated pd0 =
        CASEWATCH__V1__PRIORITISATION_DEACTIVATED__INIT;
    static const Casewatch__V1__CaseClosed cc0 = CASEWATCH__V1__CASE_CLOSED__INIT;
    static const Casewatch__V1__CaseReopened cr0 = CASEWATCH__V1__CASE_REOPENED__INIT;
    static const Casewatch__V1__TimetableExtended te0 = CASEWATCH__V1__TIMETABLE_EXTENDED__INIT;
    static const Casewatch__V1__CaseReclassified rc0 = CASEWATCH__V1__CASE_RECLASSIFIED__INIT;

    memset(fx, 0, sizeof *fx);
    fx->ev = ev0;
    fx->case_opened = co0;
    fx->child_added = ca0;
    fx->allocated = al0;
    fx->child_seen = cs0;
    fx->hearing_listed = hl0;
    fx->hearing_held = hh0;
    fx->hearing_adjourned = ha0;
    fx->report_ordered = ro0;
    fx->report_extension_agreed = re0;
    fx->report_filed = rf0;
    fx->safeguarding_concern_raised = sc0;
    fx->risk_assessment_recorded = ra0;
    fx->domestic_abuse_assessed = da0;
    fx->safeguarding_letter_filed = sl0;
    fx->planning_meeting_held = pm0;
    fx->management_oversight_recorded = mo0;
    fx->prioritisation_activated = pa0;
    fx->prioritisation_deactivated = pd0;
    fx->case_closed = cc0;
    fx->case_reopened = cr0;
    fx->timetable_extended = te0;
    fx->case_reclassified = rc0;
    for (size_t i = 0; i < CW_ARRAY_LEN(fx->child_ids); i++) {
        snprintf(fx->idbuf[i], sizeof fx->idbuf[i], "child-%zu", i);
        fx->child_ids[i] = fx->idbuf[i];
    }

    fx->ev.event_id = "evt-0001";
    fx->ev.case_id = "case-0001";
    fx->ev.occurred_at = OCCURRED_MS;
    fx->ev.source = "test";
    fx->ev.schema_version = 1;
    fx->ev.payload_case = (Casewatch__V1__Event__PayloadCase)kind;

    switch (kind) {
    case CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED:
        fx->case_opened.case_type = CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PUBLIC_LAW_S31_CARE;
        fx->case_opened.court_area = "essex-chelmsford";
        fx->case_opened.service_area = "osa-east";
        fx->case_opened.team = "team-3";
        fx->case_opened.issued_at = OCCURRED_MS - DAY_MS;
        fx->case_opened.n_child_ids = 2;
        fx->case_opened.child_ids = fx->child_ids;
        fx->case_opened.welfare_at_risk = 1;
        fx->case_opened.local_authority = "la-881";
        fx->ev.case_opened = &fx->case_opened;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED:
        fx->child_added.child_id = "child-9";
        fx->ev.child_added = &fx->child_added;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED:
        fx->allocated.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER;
        fx->allocated.worker_id = "fca-17";
        fx->allocated.team = "team-3";
        fx->ev.allocated = &fx->allocated;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN:
        fx->child_seen.child_id = "child-0";
        fx->child_seen.in_person = 1;
        fx->child_seen.worker_id = "fca-17";
        fx->ev.child_seen = &fx->child_seen;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED:
        fx->hearing_listed.hearing_id = "h-1";
        fx->hearing_listed.hearing_kind =
            CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FIRST_HEARING_FHDRA;
        fx->hearing_listed.listed_for = OCCURRED_MS + 35 * DAY_MS;
        fx->ev.hearing_listed = &fx->hearing_listed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_HEARING_HELD:
        fx->hearing_held.hearing_id = "h-1";
        fx->hearing_held.effective = 1;
        fx->ev.hearing_held = &fx->hearing_held;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED:
        fx->hearing_adjourned.hearing_id = "h-1";
        fx->hearing_adjourned.relisted_for = OCCURRED_MS + 14 * DAY_MS;
        fx->hearing_adjourned.reason =
            CASEWATCH__V1__ADJOURN_REASON__ADJOURN_REASON_REPORT_NOT_READY;
        fx->ev.hearing_adjourned = &fx->hearing_adjourned;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED:
        fx->report_ordered.report_id = "r-1";
        fx->report_ordered.report_kind = CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT;
        fx->report_ordered.due_at = OCCURRED_MS + 84 * DAY_MS;
        fx->ev.report_ordered = &fx->report_ordered;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_REPORT_EXTENSION_AGREED:
        fx->report_extension_agreed.report_id = "r-1";
        fx->report_extension_agreed.new_due_at = OCCURRED_MS + 100 * DAY_MS;
        fx->ev.report_extension_agreed = &fx->report_extension_agreed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_REPORT_FILED:
        fx->report_filed.report_id = "r-1";
        fx->ev.report_filed = &fx->report_filed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_CONCERN_RAISED:
        fx->safeguarding_concern_raised.concern_id = "c-1";
        fx->safeguarding_concern_raised.concern_kind =
            CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_DOMESTIC_ABUSE;
        fx->ev.safeguarding_concern_raised = &fx->safeguarding_concern_raised;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_RISK_ASSESSMENT_RECORDED:
        fx->risk_assessment_recorded.concern_id = "c-1";
        fx->ev.risk_assessment_recorded = &fx->risk_assessment_recorded;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_DOMESTIC_ABUSE_ASSESSED:
        fx->ev.domestic_abuse_assessed = &fx->domestic_abuse_assessed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_LETTER_FILED:
        fx->safeguarding_letter_filed.hearing_id = "h-1";
        fx->ev.safeguarding_letter_filed = &fx->safeguarding_letter_filed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_PLANNING_MEETING_HELD:
        fx->ev.planning_meeting_held = &fx->planning_meeting_held;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_MANAGEMENT_OVERSIGHT_RECORDED:
        fx->management_oversight_recorded.manager_id = "mgr-2";
        fx->management_oversight_recorded.oversight_kind =
            CASEWATCH__V1__OVERSIGHT_KIND__OVERSIGHT_KIND_SITUATIONAL_SUPERVISION;
        fx->ev.management_oversight_recorded = &fx->management_oversight_recorded;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED:
        fx->ev.case_id = "";
        fx->prioritisation_activated.court_area = "london-west";
        fx->ev.prioritisation_activated = &fx->prioritisation_activated;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED:
        fx->ev.case_id = "";
        fx->prioritisation_deactivated.court_area = "norfolk-norwich";
        fx->ev.prioritisation_deactivated = &fx->prioritisation_deactivated;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_CASE_CLOSED:
        fx->case_closed.outcome = CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_FINAL_ORDER;
        fx->ev.case_closed = &fx->case_closed;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED:
        fx->ev.case_reopened = &fx->case_reopened;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_TIMETABLE_EXTENDED:
        fx->timetable_extended.weeks = 8;
        fx->ev.timetable_extended = &fx->timetable_extended;
        break;
    case CASEWATCH__V1__EVENT__PAYLOAD_CASE_RECLASSIFIED:
        fx->case_reclassified.new_case_type = CASEWATCH__V1__CASE_TYPE__CASE_TYPE_PRIVATE_LAW_WAFH;
        fx->ev.case_reclassified = &fx->case_reclassified;
        break;
    default:
        fx->ev.payload_case = CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
        break;
    }
}

/* ---- helpers ------------------------------------------------------------------------- */

static uint8_t *pack(const Casewatch__V1__Event *ev, size_t *len)
{
    *len = casewatch__v1__event__get_packed_size(ev);
    uint8_t *buf = cw_malloc(*len ? *len : 1);
    CU_ASSERT_EQUAL(casewatch__v1__event__pack(ev, buf), *len);
    return buf;
}

/*
 * Decode bytes and check the invariants every call must keep: a reason on every rejection
 * and none on success, nothing to free after a rejection, the kind filled on success.
 */
static cw_reject_t decode_bytes(const uint8_t *buf, size_t len, size_t max_len, char *reason,
                                size_t reasonsz)
{
    cw_event_t out = {(Casewatch__V1__Event *)1, -1}; /* garbage: decode must reset it */
    cw_reject_t r = cw_event_decode(buf, len, max_len, NOW_MS, &out, reason, reasonsz);
    if (r == CW_REJECT_NONE) {
        CU_ASSERT_PTR_NOT_NULL(out.pb);
        if (out.pb)
            CU_ASSERT_EQUAL(out.kind, (int)out.pb->payload_case);
        CU_ASSERT_STRING_EQUAL(reason, "");
    } else {
        CU_ASSERT_PTR_NULL(out.pb);
        CU_ASSERT_EQUAL(out.kind, 0);
        CU_ASSERT(strlen(reason) > 0);
    }
    cw_event_fini(&out);
    return r;
}

static cw_reject_t decode_fx(const fixture_t *fx, char *reason, size_t reasonsz)
{
    size_t len;
    uint8_t *buf = pack(&fx->ev, &len);
    cw_reject_t r = decode_bytes(buf, len, 0, reason, reasonsz);
    free(buf);
    return r;
}

static void expect_at(const char *file, int line, cw_reject_t got, cw_reject_t want,
                      const char *reason)
{
    if (got != want)
        printf("\n    %s:%d: want %s, got %s (%s)\n", file, line, cw_reject_name(want),
               cw_reject_name(got), reason);
    CU_ASSERT_EQUAL(got, want);
}

#define EXPECT(fx, want)                                                                           \
    do {                                                                                           \
        char reason_[256];                                                                         \
        expect_at(__FILE__, __LINE__, decode_fx((fx), reason_, sizeof reason_), (want), reason_);  \
    } while (0)

/* Expect a rejection whose reason contains `needle`. */
#define EXPECT_REASON(fx, want, needle)                                                            \
    do {                                                                                           \
        char reason_[256];                                                                         \
        expect_at(__FILE__, __LINE__, decode_fx((fx), reason_, sizeof reason_), (want), reason_);  \
        if (!strstr(reason_, (needle)))                                                            \
            printf("\n    %s:%d: reason \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, reason_,       \
                   (needle));                                                                      \
        CU_ASSERT_PTR_NOT_NULL(strstr(reason_, (needle)));                                         \
    } while (0)

/* ---- tests --------------------------------------------------------------------------- */

static const char *const kind_names[] = {
    "case_opened",
    "child_added",
    "allocated",
    "child_seen",
    "hearing_listed",
    "hearing_held",
    "hearing_adjourned",
    "report_ordered",
    "report_extension_agreed",
    "report_filed",
    "safeguarding_concern_raised",
    "risk_assessment_recorded",
    "domestic_abuse_assessed",
    "safeguarding_letter_filed",
    "planning_meeting_held",
    "management_oversight_recorded",
    "prioritisation_activated",
    "prioritisation_deactivated",
    "case_closed",
    "case_reopened",
    "timetable_extended",
    "case_reclassified",
};

static void test_every_kind_valid(void)
{
    CU_ASSERT_EQUAL(CW_ARRAY_LEN(kind_names), CW_EVENT_KIND_LAST - CW_EVENT_KIND_FIRST + 1);
    for (int kind = CW_EVENT_KIND_FIRST; kind <= CW_EVENT_KIND_LAST; kind++) {
        fixture_t fx;
        fixture_init(&fx, kind);
        size_t len;
        uint8_t *buf = pack(&fx.ev, &len);
        char reason[256];
        cw_event_t out = {0};
        cw_reject_t r = cw_event_decode(buf, len, 0, NOW_MS, &out, reason, sizeof reason);
        if (r != CW_REJECT_NONE)
            printf("\n    kind %d: %s (%s)\n", kind, cw_reject_name(r), reason);
        CU_ASSERT_EQUAL(r, CW_REJECT_NONE);
        CU_ASSERT_EQUAL(out.kind, kind);
        CU_ASSERT_STRING_EQUAL(cw_event_kind_name(out.kind),
                               kind_names[kind - CW_EVENT_KIND_FIRST]);
        CU_ASSERT_EQUAL(cw_event_kind_from_name(kind_names[kind - CW_EVENT_KIND_FIRST]), kind);
        if (out.pb) {
            CU_ASSERT_STRING_EQUAL(out.pb->event_id, "evt-0001");
            CU_ASSERT_EQUAL(out.pb->occurred_at, OCCURRED_MS);
        }
        /* validate on the unpacked message agrees with decode */
        CU_ASSERT_EQUAL(cw_event_validate(out.pb, NOW_MS, NULL, 0), CW_REJECT_NONE);
        cw_event_fini(&out);
        cw_event_fini(&out);
        CU_ASSERT_PTR_NULL(out.pb);
        free(buf);
    }
}

static void test_kind_names(void)
{
    CU_ASSERT_STRING_EQUAL(cw_event_kind_name(0), "unknown");
    CU_ASSERT_STRING_EQUAL(cw_event_kind_name(-5), "unknown");
    CU_ASSERT_STRING_EQUAL(cw_event_kind_name(1), "unknown"); /* event_id: not a kind */
    CU_ASSERT_STRING_EQUAL(cw_event_kind_name(99), "unknown");
    CU_ASSERT_EQUAL(cw_event_kind_from_name(NULL), 0);
    CU_ASSERT_EQUAL(cw_event_kind_from_name("event_id"), 0);
    CU_ASSERT_EQUAL(cw_event_kind_from_name("no_such_kind"), 0);
    CU_ASSERT_TRUE(cw_event_kind_is_area(CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED));
    CU_ASSERT_TRUE(cw_event_kind_is_area(CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED));
    CU_ASSERT_FALSE(cw_event_kind_is_area(CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED));
}

static void test_too_large(void)
{
    fixture_t fx;
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    size_t len;
    uint8_t *buf = pack(&fx.ev, &len);
    char reason[256];

    CU_ASSERT_EQUAL(decode_bytes(buf, len, len - 1, reason, sizeof reason), CW_REJECT_TOO_LARGE);
    CU_ASSERT_EQUAL(decode_bytes(buf, len, len, reason, sizeof reason), CW_REJECT_NONE);
    CU_ASSERT_EQUAL(decode_bytes(buf, len, 0, reason, sizeof reason), CW_REJECT_NONE);
    free(buf);

    /* the size check comes before decoding: garbage that is too large is too large */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    CU_ASSERT_EQUAL(decode_bytes(junk, sizeof junk, 16, reason, sizeof reason),
                    CW_REJECT_TOO_LARGE);
}

static void test_undecodable(void)
{
    char reason[256];

    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CU_ASSERT_EQUAL(decode_bytes(garbage, sizeof garbage, 0, reason, sizeof reason),
                    CW_REJECT_UNDECODABLE);
    static const uint8_t text[] = "{\"event_id\": \"x\"}";
    CU_ASSERT_EQUAL(decode_bytes(text, sizeof text - 1, 0, reason, sizeof reason),
                    CW_REJECT_UNDECODABLE);

    /* wrong wire type: event_id (field 1, a string) as a varint */
    static const uint8_t wt1[] = {0x08, 0x01};
    CU_ASSERT_EQUAL(decode_bytes(wt1, sizeof wt1, 0, reason, sizeof reason), CW_REJECT_UNDECODABLE);
    /* wrong wire type: occurred_at (field 3, int64) as a fixed32 */
    static const uint8_t wt3[] = {0x1d, 0x01, 0x02, 0x03, 0x04};
    CU_ASSERT_EQUAL(decode_bytes(wt3, sizeof wt3, 0, reason, sizeof reason), CW_REJECT_UNDECODABLE);
    /* wrong wire type: case_opened (field 10, a message) as a varint */
    static const uint8_t wt10[] = {0x50, 0x01};
    CU_ASSERT_EQUAL(decode_bytes(wt10, sizeof wt10, 0, reason, sizeof reason),
                    CW_REJECT_UNDECODABLE);

    /* truncated valid encoding: one byte short, and every other cut is rejected too */
    fixture_t fx;
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    size_t len;
    uint8_t *buf = pack(&fx.ev, &len);
    CU_ASSERT_EQUAL(decode_bytes(buf, len - 1, 0, reason, sizeof reason), CW_REJECT_UNDECODABLE);
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_NOT_EQUAL(decode_bytes(buf, cut, 0, reason, sizeof reason), CW_REJECT_NONE);
    free(buf);

    /* NULL with a length is undecodable; empty input is a message with nothing set */
    CU_ASSERT_EQUAL(decode_bytes(NULL, 5, 0, reason, sizeof reason), CW_REJECT_UNDECODABLE);
    CU_ASSERT_EQUAL(decode_bytes(NULL, 0, 0, reason, sizeof reason), CW_REJECT_MISSING_FIELD);
}

static void test_missing_envelope(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.event_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "event_id");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.case_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_id");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.source = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "source");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.schema_version = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "schema_version");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.schema_version = 2;
    EXPECT_REASON(&fx, CW_REJECT_BAD_VALUE, "unsupported schema_version 2");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.payload_case = CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET;
    EXPECT_REASON(&fx, CW_REJECT_UNKNOWN_KIND, "payload");

    /* hand-built messages may carry NULL strings; validate treats them as empty */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.event_id = NULL;
    CU_ASSERT_EQUAL(cw_event_validate(&fx.ev, NOW_MS, NULL, 0), CW_REJECT_MISSING_FIELD);
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED);
    fx.ev.child_added = NULL;
    CU_ASSERT_EQUAL(cw_event_validate(&fx.ev, NOW_MS, NULL, 0), CW_REJECT_MISSING_FIELD);
    CU_ASSERT_EQUAL(cw_event_validate(NULL, NOW_MS, NULL, 0), CW_REJECT_MISSING_FIELD);
}

static void test_missing_payload_fields(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.court_area = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_opened.court_area");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.service_area = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_opened.service_area");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
    fx.child_seen.child_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "child_seen.child_id");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED);
    fx.report_ordered.report_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "report_ordered.report_id");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED);
    fx.report_ordered.due_at = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "report_ordered.due_at");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_FILED);
    fx.report_filed.report_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "report_filed.report_id");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_EXTENSION_AGREED);
    fx.report_extension_agreed.new_due_at = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "report_extension_agreed.new_due_at");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED);
    fx.hearing_listed.listed_for = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "hearing_listed.listed_for");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_MANAGEMENT_OVERSIGHT_RECORDED);
    fx.management_oversight_recorded.manager_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "management_oversight_recorded.manager_id");

    /* optional fields really are optional */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.team = "";
    fx.case_opened.issued_at = 0;
    fx.case_opened.n_child_ids = 0;
    fx.case_opened.local_authority = "";
    EXPECT(&fx, CW_REJECT_NONE);
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED);
    fx.hearing_adjourned.relisted_for = 0;
    fx.hearing_adjourned.reason = 0;
    EXPECT(&fx, CW_REJECT_NONE);
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_LETTER_FILED);
    fx.safeguarding_letter_filed.hearing_id = "";
    EXPECT(&fx, CW_REJECT_NONE);
}

/* Append a varint to buf at *n. */
static void put_varint(uint8_t *buf, size_t *n, uint64_t v)
{
    while (v >= 0x80) {
        buf[(*n)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[(*n)++] = (uint8_t)v;
}

static void test_unknown_oneof(void)
{
    fixture_t fx;
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD__NOT_SET);
    size_t len;
    uint8_t *env = pack(&fx.ev, &len);
    uint8_t buf[512];
    char reason[256];
    CU_ASSERT_FATAL(len + 16 < sizeof buf);
    memcpy(buf, env, len);
    free(env);

    /* a future kind: field 99, length-delimited, holding an (opaque) message */
    size_t n = len;
    put_varint(buf, &n, (99u << 3) | 2);
    put_varint(buf, &n, 3);
    buf[n++] = 0x0a; /* its field 1, string of length 1 */
    buf[n++] = 0x01;
    buf[n++] = 'x';
    CU_ASSERT_EQUAL(decode_bytes(buf, n, 0, reason, sizeof reason), CW_REJECT_UNKNOWN_KIND);

    /* an unknown envelope field next to a known kind is ignored (forward compatible) */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED);
    env = pack(&fx.ev, &len);
    memcpy(buf, env, len);
    free(env);
    n = len;
    put_varint(buf, &n, (6u << 3) | 0);
    put_varint(buf, &n, 12345);
    CU_ASSERT_EQUAL(decode_bytes(buf, n, 0, reason, sizeof reason), CW_REJECT_NONE);

    /* validate refuses a kind number it does not know */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED);
    fx.ev.payload_case = (Casewatch__V1__Event__PayloadCase)99;
    CU_ASSERT_EQUAL(cw_event_validate(&fx.ev, NOW_MS, reason, sizeof reason),
                    CW_REJECT_UNKNOWN_KIND);
}

static void test_unknown_enum(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.case_type = (Casewatch__V1__CaseType)42;
    EXPECT_REASON(&fx, CW_REJECT_UNKNOWN_ENUM, "case_opened.case_type: unknown enum value 42");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.case_type = (Casewatch__V1__CaseType)-1;
    EXPECT_REASON(&fx, CW_REJECT_UNKNOWN_ENUM, "unknown enum value -1");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.target = (Casewatch__V1__AllocationTarget)6;
    EXPECT_REASON(&fx, CW_REJECT_UNKNOWN_ENUM, "allocated.target");

    /* optional enums too */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED);
    fx.hearing_adjourned.reason = (Casewatch__V1__AdjournReason)77;
    EXPECT_REASON(&fx, CW_REJECT_UNKNOWN_ENUM, "hearing_adjourned.reason");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_CONCERN_RAISED);
    fx.safeguarding_concern_raised.concern_kind = (Casewatch__V1__ConcernKind)1000;
    EXPECT(&fx, CW_REJECT_UNKNOWN_ENUM);
}

static void test_unspecified_enum(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.case_type = CASEWATCH__V1__CASE_TYPE__CASE_TYPE_UNSPECIFIED;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_opened.case_type");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_UNSPECIFIED;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "allocated.target");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED);
    fx.hearing_listed.hearing_kind = CASEWATCH__V1__HEARING_KIND__HEARING_KIND_UNSPECIFIED;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "hearing_listed.hearing_kind");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED);
    fx.report_ordered.report_kind = CASEWATCH__V1__REPORT_KIND__REPORT_KIND_UNSPECIFIED;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "report_ordered.report_kind");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_CONCERN_RAISED);
    fx.safeguarding_concern_raised.concern_kind = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "concern_kind");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_MANAGEMENT_OVERSIGHT_RECORDED);
    fx.management_oversight_recorded.oversight_kind = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "oversight_kind");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_CLOSED);
    fx.case_closed.outcome = CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_UNSPECIFIED;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_closed.outcome");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_RECLASSIFIED);
    fx.case_reclassified.new_case_type = 0;
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_reclassified.new_case_type");
}

static void test_timestamps(void)
{
    fixture_t fx;

    /* occurred_at: [1990-01-01, now + 1 day], both ends included */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED);
    fx.ev.occurred_at = CW_EVENT_MIN_TIME_MS - 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "occurred_at");
    fx.ev.occurred_at = CW_EVENT_MIN_TIME_MS;
    EXPECT(&fx, CW_REJECT_NONE);
    fx.ev.occurred_at = NOW_MS + CW_EVENT_MAX_AHEAD_MS;
    EXPECT(&fx, CW_REJECT_NONE);
    fx.ev.occurred_at = NOW_MS + CW_EVENT_MAX_AHEAD_MS + 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "occurred_at");
    fx.ev.occurred_at = 0;
    EXPECT(&fx, CW_REJECT_BAD_TIMESTAMP);
    fx.ev.occurred_at = -1;
    EXPECT(&fx, CW_REJECT_BAD_TIMESTAMP);
    fx.ev.occurred_at = INT64_MAX;
    EXPECT(&fx, CW_REJECT_BAD_TIMESTAMP);
    /* a "now" near the end of time must not overflow */
    fx.ev.occurred_at = OCCURRED_MS;
    CU_ASSERT_EQUAL(cw_event_validate(&fx.ev, INT64_MAX, NULL, 0), CW_REJECT_NONE);

    /* payload times: if set, [1990-01-01, occurred_at + 10 years] */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED);
    fx.hearing_listed.listed_for = CW_EVENT_MIN_TIME_MS - 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "hearing_listed.listed_for");
    fx.hearing_listed.listed_for = CW_EVENT_MIN_TIME_MS;
    EXPECT(&fx, CW_REJECT_NONE);
    fx.hearing_listed.listed_for = OCCURRED_MS + CW_EVENT_MAX_HORIZON_MS;
    EXPECT(&fx, CW_REJECT_NONE);
    fx.hearing_listed.listed_for = OCCURRED_MS + CW_EVENT_MAX_HORIZON_MS + 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "hearing_listed.listed_for");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.issued_at = 1000;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "case_opened.issued_at");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED);
    fx.hearing_adjourned.relisted_for = -5;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "hearing_adjourned.relisted_for");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED);
    fx.report_ordered.due_at = INT64_MAX;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "report_ordered.due_at");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_REPORT_EXTENSION_AGREED);
    fx.report_extension_agreed.new_due_at = 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_TIMESTAMP, "report_extension_agreed.new_due_at");
}

static void test_bad_identifier(void)
{
    fixture_t fx;
    char long_id[CW_EVENT_ID_MAX + 2];

    static const char *const bad[] = {"a b",
                                      "a\x01"
                                      "b",
                                      "\xc3\x28",
                                      "caf\xc3\xa9",
                                      "x\x7f",
                                      "tab\there"};
    for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
        fx.ev.event_id = (char *)bad[i];
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "event_id");
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
        fx.ev.case_id = (char *)bad[i];
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "case_id");
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
        fx.ev.source = (char *)bad[i];
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "source");
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
        fx.child_seen.child_id = (char *)bad[i];
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "child_seen.child_id");
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
        fx.child_seen.worker_id = (char *)bad[i]; /* optional, still checked when set */
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "child_seen.worker_id");
        fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
        fx.child_ids[1] = (char *)bad[i];
        EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "case_opened.child_ids[1]");
    }

    /* length: 128 bytes is fine, 129 is not */
    memset(long_id, 'x', sizeof long_id);
    long_id[CW_EVENT_ID_MAX] = '\0';
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
    fx.ev.event_id = long_id;
    EXPECT(&fx, CW_REJECT_NONE);
    long_id[CW_EVENT_ID_MAX] = 'x';
    long_id[CW_EVENT_ID_MAX + 1] = '\0';
    EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "event_id");

    /* the reason never quotes the identifier */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
    fx.ev.case_id = "HOSTILE<script>\x1b[2J";
    char reason[256];
    CU_ASSERT_EQUAL(decode_fx(&fx, reason, sizeof reason), CW_REJECT_BAD_IDENTIFIER);
    CU_ASSERT_PTR_NULL(strstr(reason, "HOSTILE"));
    CU_ASSERT_PTR_NULL(strchr(reason, '\x1b'));

    /* an empty entry in a list of identifiers */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.child_ids[0] = "";
    EXPECT_REASON(&fx, CW_REJECT_BAD_IDENTIFIER, "case_opened.child_ids[0]");
}

/* An embedded NUL would make "ab\0cd" read as "ab": it must be caught in the bytes. */
static void test_embedded_nul(void)
{
    fixture_t fx;
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN);
    fx.ev.event_id = "evtAAAA";
    fx.child_seen.child_id = "kidBBBB";
    char reason[256];

    for (int which = 0; which < 2; which++) {
        size_t len;
        uint8_t *buf = pack(&fx.ev, &len);
        const char *needle = which == 0 ? "AAAA" : "BBBB";
        uint8_t *hit = memmem(buf, len, needle, 4);
        CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
        hit[1] = '\0';
        CU_ASSERT_EQUAL(decode_bytes(buf, len, 0, reason, sizeof reason), CW_REJECT_BAD_IDENTIFIER);
        CU_ASSERT_PTR_NOT_NULL(strstr(reason, which == 0 ? "event_id" : "child_seen.child_id"));
        free(buf);
    }
}

static void test_area_events(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED);
    CU_ASSERT_STRING_EQUAL(fx.ev.case_id, "");
    EXPECT(&fx, CW_REJECT_NONE);
    fx.ev.case_id = "case-7"; /* allowed, still checked */
    EXPECT(&fx, CW_REJECT_NONE);
    fx.ev.case_id = "case 7";
    EXPECT(&fx, CW_REJECT_BAD_IDENTIFIER);
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED);
    fx.prioritisation_activated.court_area = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "prioritisation_activated.court_area");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED);
    EXPECT(&fx, CW_REJECT_NONE);
    fx.prioritisation_deactivated.court_area = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "prioritisation_deactivated.court_area");

    /* a case event still needs its case */
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.ev.case_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "case_id");
}

static void test_allocation(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.worker_id = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "allocated.worker_id");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY;
    EXPECT_REASON(&fx, CW_REJECT_BAD_VALUE, "allocated.worker_id");
    fx.allocated.worker_id = "";
    EXPECT(&fx, CW_REJECT_NONE);
    fx.allocated.team = "";
    EXPECT(&fx, CW_REJECT_NONE);

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM;
    fx.allocated.worker_id = "";
    EXPECT(&fx, CW_REJECT_NONE);
    fx.allocated.team = "";
    EXPECT_REASON(&fx, CW_REJECT_MISSING_FIELD, "allocated.team");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED);
    fx.allocated.target = CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_ALLOCATION_HUB;
    fx.allocated.worker_id = "";
    fx.allocated.reallocation = 1;
    EXPECT(&fx, CW_REJECT_NONE);
}

static void test_values(void)
{
    fixture_t fx;

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_TIMETABLE_EXTENDED);
    static const struct {
        uint32_t weeks;
        cw_reject_t want;
    } weeks[] = {{0, CW_REJECT_BAD_VALUE},
                 {1, CW_REJECT_NONE},
                 {8, CW_REJECT_NONE},
                 {9, CW_REJECT_BAD_VALUE},
                 {UINT32_MAX, CW_REJECT_BAD_VALUE}};
    for (size_t i = 0; i < CW_ARRAY_LEN(weeks); i++) {
        fx.timetable_extended.weeks = weeks[i].weeks;
        EXPECT(&fx, weeks[i].want);
    }
    fx.timetable_extended.weeks = 9;
    EXPECT_REASON(&fx, CW_REJECT_BAD_VALUE, "timetable_extended.weeks: 9 outside 1..8");

    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.n_child_ids = CW_EVENT_CHILDREN_MAX;
    EXPECT(&fx, CW_REJECT_NONE);
    fx.case_opened.n_child_ids = CW_EVENT_CHILDREN_MAX + 1;
    EXPECT_REASON(&fx, CW_REJECT_BAD_VALUE, "case_opened.child_ids");
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    fx.case_opened.n_child_ids = 3;
    fx.child_ids[2] = fx.child_ids[0];
    EXPECT_REASON(&fx, CW_REJECT_BAD_VALUE, "duplicate");
}

static void test_reject_names(void)
{
    static const char *const want[CW_REJECT__COUNT] = {
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
    for (int i = 0; i < CW_REJECT__COUNT; i++) {
        CU_ASSERT_STRING_EQUAL(cw_reject_name((cw_reject_t)i), want[i]);
        for (int j = 0; j < i; j++)
            CU_ASSERT_STRING_NOT_EQUAL(cw_reject_name((cw_reject_t)i),
                                       cw_reject_name((cw_reject_t)j));
    }
    CU_ASSERT_STRING_EQUAL(cw_reject_name(CW_REJECT__COUNT), "unknown");
    CU_ASSERT_STRING_EQUAL(cw_reject_name((cw_reject_t)-1), "unknown");
}

static void test_fini_and_reason_buffers(void)
{
    cw_event_t zero = {0};
    cw_event_fini(&zero);
    cw_event_fini(&zero);
    cw_event_fini(NULL);

    fixture_t fx;
    fixture_init(&fx, CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED);
    size_t len;
    uint8_t *buf = pack(&fx.ev, &len);

    /* no reason buffer at all */
    cw_event_t out;
    CU_ASSERT_EQUAL(cw_event_decode(buf, len, 0, NOW_MS, &out, NULL, 0), CW_REJECT_NONE);
    cw_event_fini(&out);
    cw_event_fini(&out);
    CU_ASSERT_PTR_NULL(out.pb);
    CU_ASSERT_EQUAL(cw_event_decode(buf, len, 1, NOW_MS, &out, NULL, 0), CW_REJECT_TOO_LARGE);
    CU_ASSERT_PTR_NULL(out.pb);

    /* a tiny reason buffer is truncated, never overrun */
    char small[8];
    memset(small, 'Z', sizeof small);
    fx.case_opened.case_type = (Casewatch__V1__CaseType)42;
    uint8_t *bad = pack(&fx.ev, &len);
    CU_ASSERT_EQUAL(cw_event_decode(bad, len, 0, NOW_MS, &out, small, 4), CW_REJECT_UNKNOWN_ENUM);
    CU_ASSERT_EQUAL(strlen(small), 3);
    CU_ASSERT_EQUAL(small[4], 'Z');
    free(bad);
    free(buf);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("event", NULL, NULL);
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"every kind decodes", test_every_kind_valid},
        {"kind names", test_kind_names},
        {"too large", test_too_large},
        {"undecodable", test_undecodable},
        {"missing envelope fields", test_missing_envelope},
        {"missing payload fields", test_missing_payload_fields},
        {"unknown oneof member", test_unknown_oneof},
        {"unknown enum value", test_unknown_enum},
        {"unspecified required enum", test_unspecified_enum},
        {"timestamps and boundaries", test_timestamps},
        {"bad identifiers", test_bad_identifier},
        {"embedded NUL", test_embedded_nul},
        {"area events", test_area_events},
        {"allocation", test_allocation},
        {"value ranges", test_values},
        {"reject names", test_reject_names},
        {"fini and reason buffers", test_fini_and_reason_buffers},
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
