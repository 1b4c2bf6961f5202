/*
 * casewatch_produce.c — casewatch-produce: publish a deterministic stream of casewatch.v1.Event
 * messages to Kafka, for load, soak and exactly-once tests.
 *
 *   casewatch-produce -b BOOTSTRAP -t TOPIC [--events N] [--cases M] [--seed S] [--prefix P]
 *                     [--dup-every K] [--bad-every K] [--manifest FILE] [--rate EPS]
 *                     [--base-ms MS] [-X prop=value]...
 *
 * The same seed, counts and prefix give the same events (ids, cases, kinds, fields); with
 * --base-ms also the same bytes. Every case starts with case_opened; the rest is a weighted,
 * state-aware mix (a hearing is held only after one is listed, a report filed only after one
 * is ordered, a closed case is reopened before anything else happens to it). Every event is
 * checked with cw_event_validate() before it is sent, so the stream is valid by construction.
 *
 * Owns: one idempotent librdkafka producer (acks=all), the generator state and the
 * per-event delivery record. Messages are keyed by case_id. --dup-every re-sends an event's
 * exact bytes; --bad-every adds an undecodable message on the same key. --manifest lists the
 * DISTINCT valid events whose delivery was confirmed: the reference for exactly-once checks.
 *
 * Exit status: 0 all delivered, 1 a delivery or I/O failure, 2 bad usage.
 */
#include "casewatch/config.h"
#include "casewatch/common.h"
#include "casewatch/event.h"
#include "casewatch/evbuild.h"
#include "casewatch/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCE_PREFIX_MAX       64  /* keeps every generated id well under CW_EVENT_ID_MAX */
#define PRODUCE_KEY_LEN          96  /* buffer for event and case ids: prefix + "-case-" + digits */
#define PRODUCE_ID_LEN           160 /* buffer for ids derived from a case id */
#define PRODUCE_FLUSH_MS         120000 /* how long to wait for the last delivery reports */
#define PRODUCE_MAX_ERRORS_SHOWN 5

/* Message roles, carried in the low bits of each message's opaque next to its event index. */
enum { MSG_VALID = 0, MSG_DUP = 1, MSG_BAD = 2 };

/* ---- options ------------------------------------------------------------------------- */

typedef struct produce_opts {
    const char *bootstrap;
    const char *topic;
    uint64_t events;
    uint64_t cases;
    uint64_t seed;
    const char *prefix;
    uint64_t dup_every;
    uint64_t bad_every;
    const char *manifest;
    double rate;
    int64_t base_ms;    /* 0: derive from the clock */
    const char **props; /* -X key=value, in order */
    size_t n_props;
} produce_opts_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: casewatch-produce -b BOOTSTRAP -t TOPIC [options]\n"
            "\n"
            "Publish N deterministic, valid casewatch.v1.Event messages keyed by case_id.\n"
            "\n"
            "  -b, --bootstrap HOSTS   Kafka bootstrap servers (required)\n"
            "  -t, --topic TOPIC       topic to publish to (required)\n"
            "      --events N          number of distinct valid events (default 1000)\n"
            "      --cases M           number of cases they are spread over (default 100)\n"
            "      --seed S            generator seed (default 1)\n"
            "      --prefix P          id prefix: cases P-case-<j>, events P-evt-<i> (default cw)\n"
            "      --dup-every K       also re-send every K-th event, same bytes (default off)\n"
            "      --bad-every K       also send an undecodable message every K-th event\n"
            "      --manifest FILE     write event_id<TAB>case_id<TAB>kind per delivered event\n"
            "      --rate EPS          at most EPS messages per second (default unlimited)\n"
            "      --base-ms MS        occurred_at of event 0, UTC ms (default: now - N ms)\n"
            "  -X  PROP=VALUE          extra librdkafka producer property (repeatable)\n"
            "  -h, --help              this text\n");
}

static bool prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > PRODUCE_PREFIX_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
            return false;
    return true;
}

static const char *opt_name(const struct option *lo, int val)
{
    for (; lo->name; lo++)
        if (lo->val == val)
            return lo->name;
    return "?";
}

/* Returns 0 on success, 2 on bad usage (message already printed), -1 after --help. */
static int parse_opts(int argc, char **argv, produce_opts_t *o)
{
    enum { O_EVENTS = 256, O_CASES, O_SEED, O_PREFIX, O_DUP, O_BAD, O_MANIFEST, O_RATE, O_BASE };
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"events", required_argument, NULL, O_EVENTS},
        {"cases", required_argument, NULL, O_CASES},
        {"seed", required_argument, NULL, O_SEED},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"dup-every", required_argument, NULL, O_DUP},
        {"bad-every", required_argument, NULL, O_BAD},
        {"manifest", required_argument, NULL, O_MANIFEST},
        {"rate", required_argument, NULL, O_RATE},
        {"base-ms", required_argument, NULL, O_BASE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    memset(o, 0, sizeof *o);
    o->events = 1000;
    o->cases = 100;
    o->seed = 1;
    o->prefix = "cw";
    o->props = cw_calloc((size_t)argc, sizeof *o->props);

    int c;
    uint64_t u;
    while ((c = getopt_long(argc, argv, "b:t:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'X':
            if (cw_tools_add_prop("casewatch-produce", optarg, o->props, &o->n_props))
                return 2;
            break;
        case O_EVENTS:
        case O_CASES:
        case O_SEED:
        case O_DUP:
        case O_BAD:
        case O_BASE:
            if (cw_tools_parse_u64(optarg, &u) != 0) {
                fprintf(stderr, "casewatch-produce: --%s expects a non-negative integer\n",
                        opt_name(longopts, c));
                return 2;
            }
            if (c == O_EVENTS)
                o->events = u;
            else if (c == O_CASES)
                o->cases = u;
            else if (c == O_SEED)
                o->seed = u;
            else if (c == O_DUP)
                o->dup_every = u;
            else if (c == O_BAD)
                o->bad_every = u;
            else
                o->base_ms = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
            break;
        case O_PREFIX:
            o->prefix = optarg;
            break;
        case O_MANIFEST:
            o->manifest = optarg;
            break;
        case O_RATE: {
            char *end;
            errno = 0;
            o->rate = strtod(optarg, &end);
            if (errno || *end || !(o->rate >= 0)) {
                fprintf(stderr, "casewatch-produce: --rate expects a non-negative number\n");
                return 2;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cw_tools_no_operands("casewatch-produce", argc, argv, optind))
        return 2;
    if (!o->bootstrap || !*o->bootstrap || !o->topic || !*o->topic) {
        fprintf(stderr, "casewatch-produce: -b BOOTSTRAP and -t TOPIC are required\n");
        usage(stderr);
        return 2;
    }
    if (o->cases == 0 || o->cases > UINT32_MAX) {
        fprintf(stderr, "casewatch-produce: --cases must be 1..%" PRIu32 "\n", UINT32_MAX);
        return 2;
    }
    if (o->events > (UINT64_MAX >> 2) || o->events > (uint64_t)SIZE_MAX / 8) {
        fprintf(stderr, "casewatch-produce: --events is too large\n");
        return 2;
    }
    if (!prefix_ok(o->prefix)) {
        fprintf(stderr,
                "casewatch-produce: --prefix must be 1..%d printable ASCII bytes, no spaces\n",
                PRODUCE_PREFIX_MAX);
        return 2;
    }
    if (o->base_ms && o->base_ms < CW_EVENT_MIN_TIME_MS) {
        fprintf(stderr, "casewatch-produce: --base-ms must be after 1990-01-01\n");
        return 2;
    }
    return 0;
}

/* ---- deterministic generator --------------------------------------------------------- */

/* What the generator remembers about one case, so the next event is plausible. */
typedef struct pcase {
    bool opened, closed, allocated_worker;
    uint8_t case_type; /* Casewatch__V1__CaseType */
    uint16_t n_children, n_hearings, n_reports, n_concerns;
} pcase_t;

typedef struct gen {
    uint64_t rng;
    const char *prefix;
    uint32_t n_cases;
    uint32_t n_workers;
    pcase_t *cases;
    int64_t base_ms;
} gen_t;

/* Court areas and the like are codes, as in the contract; the list only spreads the load. */
static const char *const court_areas[] = {
    "essex-chelmsford", "london-west", "london-central",      "london-east", "greater-manchester",
    "norfolk-norwich",  "dorset",      "birmingham-solihull", "north-wales", "cardiff",
};

#define K(x)  CASEWATCH__V1__EVENT__PAYLOAD_##x
#define CT(x) CASEWATCH__V1__CASE_TYPE__CASE_TYPE_##x

static bool is_public_s31(int t)
{
    return t == CT(PUBLIC_LAW_S31_CARE) || t == CT(PUBLIC_LAW_S31_SUPERVISION);
}

static bool is_private(int t)
{
    return t == CT(PRIVATE_LAW_WTFH) || t == CT(PRIVATE_LAW_WAFH) || t == CT(RULE_16_4);
}

/* Weight of each follow-up kind for a case in a given state; 0 = not plausible now. */
static unsigned kind_weight(int kind, const pcase_t *c)
{
    switch (kind) {
    case K(CHILD_ADDED):
        return c->n_children < CW_EVENT_CHILDREN_MAX ? 3 : 0;
    case K(ALLOCATED):
        return 8;
    case K(CHILD_SEEN):
        return 10;
    case K(HEARING_LISTED):
        return 8;
    case K(HEARING_HELD):
        return c->n_hearings ? 6 : 0;
    case K(HEARING_ADJOURNED):
        return c->n_hearings ? 3 : 0;
    case K(REPORT_ORDERED):
        return 5;
    case K(REPORT_EXTENSION_AGREED):
        return c->n_reports ? 2 : 0;
    case K(REPORT_FILED):
        return c->n_reports ? 4 : 0;
    case K(SAFEGUARDING_CONCERN_RAISED):
        return 4;
    case K(RISK_ASSESSMENT_RECORDED):
        return c->n_concerns ? 3 : 0;
    case K(DOMESTIC_ABUSE_ASSESSED):
        return c->n_concerns ? 2 : 0;
    case K(SAFEGUARDING_LETTER_FILED):
        return c->case_type == CT(PRIVATE_LAW_WTFH) ? 3 : 0;
    case K(PLANNING_MEETING_HELD):
        return c->case_type == CT(RULE_16_4) ? 2 : 0;
    case K(MANAGEMENT_OVERSIGHT_RECORDED):
        return 5;
    case K(CASE_CLOSED):
        return 3;
    case K(TIMETABLE_EXTENDED):
        return is_public_s31(c->case_type) ? 1 : 0;
    case K(CASE_RECLASSIFIED):
        return is_private(c->case_type) && c->case_type != CT(RULE_16_4) ? 1 : 0;
    default:
        return 0; /* case_opened, case_reopened: by state; area events: not generated */
    }
}

static int pick_kind(gen_t *g, const pcase_t *c)
{
    if (!c->opened)
        return K(CASE_OPENED);
    if (c->closed)
        return K(CASE_REOPENED);
    unsigned total = 0;
    for (int k = CW_EVENT_KIND_FIRST; k <= CW_EVENT_KIND_LAST; k++)
        total += kind_weight(k, c);
    uint32_t r = cw_tools_rand_below(&g->rng, total);
    for (int k = CW_EVENT_KIND_FIRST; k <= CW_EVENT_KIND_LAST; k++) {
        unsigned w = kind_weight(k, c);
        if (r < w)
            return k;
        r -= w;
    }
    return K(CHILD_SEEN); /* unreachable: total > 0 as allocated is always plausible */
}

static int pick_case_type(gen_t *g)
{
    static const struct {
        int type;
        unsigned weight;
    } mix[] = {{CT(PUBLIC_LAW_S31_CARE), 25}, {CT(PUBLIC_LAW_S31_SUPERVISION), 5},
               {CT(PUBLIC_LAW_OTHER), 5},     {CT(PRIVATE_LAW_WTFH), 35},
               {CT(PRIVATE_LAW_WAFH), 20},    {CT(RULE_16_4), 10}};
    uint32_t r = cw_tools_rand_below(&g->rng, 100);
    for (size_t i = 0; i < CW_ARRAY_LEN(mix); i++) {
        if (r < mix[i].weight)
            return mix[i].type;
        r -= mix[i].weight;
    }
    return CT(PRIVATE_LAW_WTFH);
}

/* One event under construction: the envelope, its payloads and the strings they point at. */
typedef struct draft {
    Casewatch__V1__Event ev;
    cw_evbuild_payload_t p;
    char event_id[PRODUCE_KEY_LEN];
    char case_id[PRODUCE_KEY_LEN];
    char id1[PRODUCE_ID_LEN];
    char id2[PRODUCE_ID_LEN];
    char team[32];
    char service_area[32];
    char *child_ids[3];
    char child_buf[3][PRODUCE_ID_LEN];
} draft_t;

/*
 * Build event i for case j into d and advance the case's state. All pointers in d->ev point
 * into d itself or at static strings.
 */
static void gen_event(gen_t *g, uint64_t i, uint32_t j, int kind, draft_t *d)
{
    pcase_t *c = &g->cases[j];
    int64_t at = g->base_ms + (int64_t)i;

    memset(d, 0, sizeof *d);
    snprintf(d->event_id, sizeof d->event_id, "%s-evt-%" PRIu64, g->prefix, i);
    snprintf(d->case_id, sizeof d->case_id, "%s-case-%" PRIu32, g->prefix, j);
    snprintf(d->team, sizeof d->team, "team-%" PRIu32, j % 5 + 1);
    snprintf(d->service_area, sizeof d->service_area, "osa-%" PRIu32, j % 8 + 1);
    cw_evbuild_envelope(&d->ev, d->event_id, d->case_id, "casewatch-produce", at);
    cw_evbuild_payload(&d->ev, &d->p, kind);

    switch (kind) {
    case K(CASE_OPENED): {
        Casewatch__V1__CaseOpened *m = &d->p.case_opened;
        c->opened = true;
        c->case_type = (uint8_t)pick_case_type(g);
        c->n_children = (uint16_t)(1 + cw_tools_rand_below(&g->rng, 3));
        for (unsigned k = 0; k < c->n_children; k++) {
            snprintf(d->child_buf[k], sizeof d->child_buf[k], "%s-child-%u", d->case_id, k);
            d->child_ids[k] = d->child_buf[k];
        }
        m->case_type = (Casewatch__V1__CaseType)c->case_type;
        m->court_area = (char *)court_areas[j % CW_ARRAY_LEN(court_areas)];
        m->service_area = d->service_area;
        m->team = d->team;
        m->issued_at = at;
        m->n_child_ids = c->n_children;
        m->child_ids = d->child_ids;
        m->welfare_at_risk = cw_tools_rand_below(&g->rng, 10) == 0;
        m->pathfinder = is_private(c->case_type) && cw_tools_rand_below(&g->rng, 8) == 0;
        if (!is_private(c->case_type)) {
            snprintf(d->id1, sizeof d->id1, "la-%" PRIu32, 800 + j % 150);
            m->local_authority = d->id1;
        }
        break;
    }
    case K(CHILD_ADDED): {
        Casewatch__V1__ChildAdded *m = &d->p.child_added;
        snprintf(d->id1, sizeof d->id1, "%s-child-%u", d->case_id, c->n_children++);
        m->child_id = d->id1;
        break;
    }
    case K(ALLOCATED): {
        static const int targets[] = {
            CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER,
            CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM,
            CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY,
            CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_POST_ASSESSMENT_HUB,
            CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_ALLOCATION_HUB,
        };
        static const unsigned weights[] = {85, 3, 5, 4, 3}; /* sums to 100 */
        Casewatch__V1__Allocated *m = &d->p.allocated;
        uint32_t r = cw_tools_rand_below(&g->rng, 100);
        size_t t = 0;
        while (t + 1 < CW_ARRAY_LEN(targets) && r >= weights[t])
            r -= weights[t++];
        m->target = (Casewatch__V1__AllocationTarget)targets[t];
        m->team = d->team;
        if (t == 0) {
            snprintf(d->id1, sizeof d->id1, "%s-fca-%" PRIu32, g->prefix,
                     cw_tools_rand_below(&g->rng, g->n_workers));
            m->worker_id = d->id1;
            m->reallocation = c->allocated_worker;
            c->allocated_worker = true;
        } else {
            c->allocated_worker = false;
        }
        break;
    }
    case K(CHILD_SEEN): {
        Casewatch__V1__ChildSeen *m = &d->p.child_seen;
        snprintf(d->id1, sizeof d->id1, "%s-child-%" PRIu32, d->case_id,
                 cw_tools_rand_below(&g->rng, c->n_children ? c->n_children : 1));
        m->child_id = d->id1;
        m->in_person = cw_tools_rand_below(&g->rng, 10) < 8;
        break;
    }
    case K(HEARING_LISTED): {
        Casewatch__V1__HearingListed *m = &d->p.hearing_listed;
        snprintf(d->id1, sizeof d->id1, "h-%u", ++c->n_hearings);
        m->hearing_id = d->id1;
        m->hearing_kind = c->n_hearings == 1
                              ? CASEWATCH__V1__HEARING_KIND__HEARING_KIND_FIRST_HEARING_FHDRA
                              : (Casewatch__V1__HearingKind)(2 + cw_tools_rand_below(&g->rng, 5));
        m->listed_for = at + (int64_t)(7 + cw_tools_rand_below(&g->rng, 56)) * 86400000LL;
        break;
    }
    case K(HEARING_HELD): {
        Casewatch__V1__HearingHeld *m = &d->p.hearing_held;
        snprintf(d->id1, sizeof d->id1, "h-%u", c->n_hearings);
        m->hearing_id = d->id1;
        m->effective = cw_tools_rand_below(&g->rng, 10) < 8;
        break;
    }
    case K(HEARING_ADJOURNED): {
        Casewatch__V1__HearingAdjourned *m = &d->p.hearing_adjourned;
        snprintf(d->id1, sizeof d->id1, "h-%u", c->n_hearings);
        m->hearing_id = d->id1;
        if (cw_tools_rand_below(&g->rng, 2))
            m->relisted_for = at + (int64_t)(14 + cw_tools_rand_below(&g->rng, 42)) * 86400000LL;
        m->reason = (Casewatch__V1__AdjournReason)cw_tools_rand_below(&g->rng, 8);
        break;
    }
    case K(REPORT_ORDERED): {
        Casewatch__V1__ReportOrdered *m = &d->p.report_ordered;
        snprintf(d->id1, sizeof d->id1, "r-%u", ++c->n_reports);
        m->report_id = d->id1;
        m->report_kind = is_private(c->case_type)
                             ? CASEWATCH__V1__REPORT_KIND__REPORT_KIND_S7_REPORT
                             : CASEWATCH__V1__REPORT_KIND__REPORT_KIND_GUARDIAN_ANALYSIS;
        m->due_at = at + (int64_t)(28 + cw_tools_rand_below(&g->rng, 70)) * 86400000LL;
        break;
    }
    case K(REPORT_EXTENSION_AGREED): {
        Casewatch__V1__ReportExtensionAgreed *m = &d->p.report_extension_agreed;
        snprintf(d->id1, sizeof d->id1, "r-%u", c->n_reports);
        m->report_id = d->id1;
        m->new_due_at = at + (int64_t)(14 + cw_tools_rand_below(&g->rng, 42)) * 86400000LL;
        break;
    }
    case K(REPORT_FILED): {
        Casewatch__V1__ReportFiled *m = &d->p.report_filed;
        snprintf(d->id1, sizeof d->id1, "r-%u", c->n_reports);
        m->report_id = d->id1;
        break;
    }
    case K(SAFEGUARDING_CONCERN_RAISED): {
        Casewatch__V1__SafeguardingConcernRaised *m = &d->p.safeguarding_concern_raised;
        snprintf(d->id1, sizeof d->id1, "c-%u", ++c->n_concerns);
        m->concern_id = d->id1;
        m->concern_kind = (Casewatch__V1__ConcernKind)(1 + cw_tools_rand_below(&g->rng, 9));
        if (cw_tools_rand_below(&g->rng, 2)) {
            snprintf(d->id2, sizeof d->id2, "%s-child-0", d->case_id);
            m->child_id = d->id2;
        }
        break;
    }
    case K(RISK_ASSESSMENT_RECORDED): {
        Casewatch__V1__RiskAssessmentRecorded *m = &d->p.risk_assessment_recorded;
        snprintf(d->id1, sizeof d->id1, "c-%u", c->n_concerns);
        m->concern_id = d->id1;
        break;
    }
    case K(DOMESTIC_ABUSE_ASSESSED): {
        Casewatch__V1__DomesticAbuseAssessed *m = &d->p.domestic_abuse_assessed;
        snprintf(d->id1, sizeof d->id1, "c-%u", c->n_concerns);
        m->concern_id = d->id1;
        break;
    }
    case K(SAFEGUARDING_LETTER_FILED): {
        Casewatch__V1__SafeguardingLetterFiled *m = &d->p.safeguarding_letter_filed;
        if (c->n_hearings)
            m->hearing_id = "h-1";
        break;
    }
    case K(PLANNING_MEETING_HELD): /* no fields */
        break;
    case K(MANAGEMENT_OVERSIGHT_RECORDED): {
        Casewatch__V1__ManagementOversightRecorded *m = &d->p.management_oversight_recorded;
        snprintf(d->id1, sizeof d->id1, "%s-mgr-%" PRIu32, g->prefix, j % 7);
        m->manager_id = d->id1;
        m->oversight_kind = (Casewatch__V1__OversightKind)(1 + cw_tools_rand_below(&g->rng, 7));
        break;
    }
    case K(CASE_CLOSED): {
        Casewatch__V1__CaseClosed *m = &d->p.case_closed;
        m->outcome = (Casewatch__V1__CloseOutcome)(1 + cw_tools_rand_below(&g->rng, 7));
        c->closed = true;
        break;
    }
    case K(CASE_REOPENED): {
        Casewatch__V1__CaseReopened *m = &d->p.case_reopened;
        m->reason = (Casewatch__V1__ReopenReason)cw_tools_rand_below(&g->rng, 7);
        c->closed = false;
        break;
    }
    case K(TIMETABLE_EXTENDED): {
        Casewatch__V1__TimetableExtended *m = &d->p.timetable_extended;
        m->weeks = 1 + cw_tools_rand_below(&g->rng, 8);
        break;
    }
    case K(CASE_RECLASSIFIED): {
        Casewatch__V1__CaseReclassified *m = &d->p.case_reclassified;
        c->case_type = c->case_type == CT(PRIVATE_LAW_WTFH) ? CT(PRIVATE_LAW_WAFH) : CT(RULE_16_4);
        m->new_case_type = (Casewatch__V1__CaseType)c->case_type;
        break;
    }
    default:
        break;
    }
}

/* ---- delivery ------------------------------------------------------------------------ */

/* Delivery bookkeeping, reached from librdkafka callbacks through the instance opaque. */
typedef struct produce_state {
    uint8_t *delivered; /* per event: 1 once a copy of it was confirmed */
    uint64_t ok_valid, ok_dup, ok_bad;
    uint64_t failed;
    bool fatal;
} produce_state_t;

static void *msg_opaque(uint64_t i, int role)
{
    return (void *)(uintptr_t)((i << 2) | (uint64_t)role);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    produce_state_t *st = opaque;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    uint64_t i = tag >> 2;
    int role = (int)(tag & 3);

    if (m->err) {
        if (st->failed++ < PRODUCE_MAX_ERRORS_SHOWN)
            fprintf(stderr, "casewatch-produce: delivery of event %" PRIu64 " failed: %s\n", i,
                    rd_kafka_err2str(m->err));
        return;
    }
    if (role == MSG_BAD) {
        st->ok_bad++;
        return;
    }
    if (role == MSG_DUP)
        st->ok_dup++;
    else
        st->ok_valid++;
    st->delivered[i] = 1;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    produce_state_t *st = opaque;
    if (cw_tools_kafka_error("casewatch-produce", rk, err, reason))
        st->fatal = true;
}

/*
 * Create the idempotent producer. Returns NULL after printing why; *bad_conf is set when the
 * configuration itself (a -X property) was refused, which is a usage error.
 */
static rd_kafka_t *producer_new(const produce_opts_t *o, produce_state_t *st, bool *bad_conf)
{
    const char *const defaults[][2] = {
        {"bootstrap.servers", o->bootstrap}, {"acks", "all"},
        {"enable.idempotence", "true"},      {"linger.ms", "5"},
        {"message.timeout.ms", "60000"},     {"client.id", "casewatch-produce"},
    };
    return cw_tools_producer_new("casewatch-produce", defaults, CW_ARRAY_LEN(defaults),
                                 o->props, o->n_props, st, on_delivery, on_error, bad_conf);
}

/*
 * Enqueue one message, waiting (and serving delivery reports) while the local queue is full.
 * Returns 0, or -1 after printing why.
 */
static int send_one(rd_kafka_t *rk, produce_state_t *st, const char *topic, const char *key,
                    const void *val, size_t len, void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || st->fatal) {
            fprintf(stderr, "casewatch-produce: cannot enqueue to %s: %s\n", topic,
                    rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 100);
    }
}

/* Sleep (serving delivery reports) until `sent` messages fit under the rate since start. */
static void pace(rd_kafka_t *rk, double rate, uint64_t sent, int64_t start_ms)
{
    if (rate <= 0)
        return;
    for (;;) {
        int64_t due = start_ms + (int64_t)((double)sent * 1000.0 / rate);
        int64_t now = cw_mono_ms();
        if (now >= due)
            return;
        rd_kafka_poll(rk, (int)(due - now > 100 ? 100 : due - now));
    }
}

/* ---- manifest ------------------------------------------------------------------------ */

static int write_manifest(const char *path, const char *prefix, uint64_t n,
                          const uint8_t *delivered, const uint32_t *case_of, const uint8_t *kind_of)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "casewatch-produce: cannot write manifest %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (!delivered[i])
            continue;
        fprintf(f, "%s-evt-%" PRIu64 "\t%s-case-%" PRIu32 "\t%s\n", prefix, i, prefix, case_of[i],
                cw_event_kind_name(kind_of[i]));
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (bad) {
        fprintf(stderr, "casewatch-produce: error writing manifest %s\n", path);
        return -1;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------------------- */

/* What one run sent and what its delivery reports confirmed. */
typedef struct produce_run {
    uint32_t *case_of; /* per event: its case index, for the manifest */
    uint8_t *kind_of;  /* per event: its kind */
    uint64_t sent, n_dup, n_bad;
} produce_run_t;

/*
 * Generate and enqueue every message. Returns 0, or 1 after printing why; either way the
 * caller still flushes what was enqueued.
 */
static int produce_stream(rd_kafka_t *rk, const produce_opts_t *o, gen_t *g, produce_state_t *st,
                          produce_run_t *run, int64_t now)
{
    draft_t *d = cw_malloc(sizeof *d);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t start = cw_mono_ms();
    char reason[256];
    int rc = 0;

    for (uint64_t i = 0; i < o->events && !st->fatal && rc == 0; i++) {
        uint32_t j = cw_tools_rand_below(&g->rng, g->n_cases);
        int kind = pick_kind(g, &g->cases[j]);
        gen_event(g, i, j, kind, d);
        run->case_of[i] = j;
        run->kind_of[i] = (uint8_t)kind;

        /* valid by construction; a failure here is a bug in this tool, not in the input */
        if (cw_event_validate(&d->ev, now, reason, sizeof reason) != CW_REJECT_NONE) {
            fprintf(stderr,
                    "casewatch-produce: internal error: generated event %" PRIu64
                    " is invalid: %s\n",
                    i, reason);
            rc = 1;
            break;
        }
        size_t len = casewatch__v1__event__get_packed_size(&d->ev);
        if (len > cap) {
            cap = len * 2;
            buf = cw_realloc(buf, cap);
        }
        casewatch__v1__event__pack(&d->ev, buf);

        pace(rk, o->rate, run->sent, start);
        if (send_one(rk, st, o->topic, d->case_id, buf, len, msg_opaque(i, MSG_VALID)) != 0) {
            rc = 1;
            break;
        }
        run->sent++;

        if (o->dup_every && (i + 1) % o->dup_every == 0) {
            pace(rk, o->rate, run->sent, start);
            if (send_one(rk, st, o->topic, d->case_id, buf, len, msg_opaque(i, MSG_DUP)) != 0)
                rc = 1;
            else
                run->sent++, run->n_dup++;
        }

        if (rc == 0 && o->bad_every && (i + 1) % o->bad_every == 0) {
            /* wire type 7 in the first tag is never valid protobuf: undecodable, and the
             * consumer must dead-letter it; check that it would */
            uint8_t junk[16] = {0x07};
            for (size_t k = 1; k < sizeof junk; k++)
                junk[k] = (uint8_t)cw_splitmix64(&g->rng);
            cw_event_t probe;
            if (cw_event_decode(junk, sizeof junk, 0, now, &probe, NULL, 0) !=
                CW_REJECT_UNDECODABLE) {
                fprintf(stderr, "casewatch-produce: internal error: garbage decoded\n");
                cw_event_fini(&probe);
                rc = 1;
                break;
            }
            pace(rk, o->rate, run->sent, start);
            if (send_one(rk, st, o->topic, d->case_id, junk, sizeof junk, msg_opaque(i, MSG_BAD)) !=
                0)
                rc = 1;
            else
                run->sent++, run->n_bad++;
        }
        rd_kafka_poll(rk, 0);
    }
    free(buf);
    free(d);
    return rc;
}

int main(int argc, char **argv)
{
    produce_opts_t o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0) {
        free(o.props);
        return rc < 0 ? 0 : rc;
    }

    int64_t now = cw_now_ms();
    size_t n_alloc = o.events ? (size_t)o.events : 1;
    gen_t g = {
        .rng = o.seed,
        .prefix = o.prefix,
        .n_cases = (uint32_t)o.cases,
        .n_workers = (uint32_t)(o.cases / 20 ? o.cases / 20 : 1),
        .cases = cw_calloc((size_t)o.cases, sizeof(pcase_t)),
        /* a round base a little before now - N ms: event N-1 is still in the past */
        .base_ms = o.base_ms ? o.base_ms : (now - (int64_t)o.events - 60000) / 60000 * 60000,
    };
    if (g.base_ms + (int64_t)o.events > now + CW_EVENT_MAX_AHEAD_MS)
        fprintf(stderr, "casewatch-produce: warning: --base-ms puts events more than a day "
                        "ahead; consumers will reject them\n");
    produce_state_t st = {.delivered = cw_calloc(n_alloc, 1)};
    produce_run_t run = {
        .case_of = cw_calloc(n_alloc, sizeof *run.case_of),
        .kind_of = cw_calloc(n_alloc, 1),
    };

    bool bad_conf = false;
    rd_kafka_t *rk = producer_new(&o, &st, &bad_conf);
    if (!rk) {
        rc = bad_conf ? 2 : 1;
    } else {
        rc = produce_stream(rk, &o, &g, &st, &run, now);

        rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, PRODUCE_FLUSH_MS);
        if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "casewatch-produce: %d messages still undelivered after %d ms: %s\n",
                    rd_kafka_outq_len(rk), PRODUCE_FLUSH_MS, rd_kafka_err2str(ferr));
            rc = 1;
        }
        if (st.failed) {
            fprintf(stderr,
                    "casewatch-produce: %" PRIu64 " of %" PRIu64 " messages failed delivery\n",
                    st.failed, run.sent);
            rc = 1;
        }
        if (st.fatal || st.ok_dup != run.n_dup || st.ok_bad != run.n_bad)
            rc = 1;
        if (o.manifest && write_manifest(o.manifest, o.prefix, o.events, st.delivered, run.case_of,
                                         run.kind_of) != 0)
            rc = 1;
        printf("produced %" PRIu64 " events, %" PRIu64 " duplicates, %" PRIu64 " bad, to %s\n",
               st.ok_valid, st.ok_dup, st.ok_bad, o.topic);
        rd_kafka_destroy(rk);
    }

    free(run.kind_of);
    free(run.case_of);
    free(st.delivered);
    free(g.cases);
    free(o.props);
    return rc;
}
