/*
 * gen.c — the casewatch-gen simulation model: calibrated, deterministic case lifecycles.
 *
 * Owns: the court areas / service areas / teams / workers of the simulated service, one
 * planned lifecycle per live case, a min-heap of live cases keyed by their next event time
 * (a cw_deadlines_t keyed by case number, with the table from number to case),
 * the scratch protobuf message handed to the emit callback, and the ground truth.
 *
 * How it works. Each case's whole lifecycle is PLANNED when the case starts: its path
 * (s31 care, s31 supervision, other public law, private law closing at WTFH, WTFH -> WAFH,
 * WTFH -> WAFH -> rule 16.4, direct rule 16.4), its duration (closed - start, drawn from a
 * right-skewed distribution calibrated per path), and every event with its time — allocation,
 * children seen, hearings, reports, safeguarding, oversight, s32 extensions, reclassification,
 * closing (and for 1% of cases a close/reopen pair before the final close). Only the choice of
 * worker is made when an allocation is emitted, from the team's current caseloads. The heap
 * then interleaves all live cases in occurred_at order (ties: case number), so the stream
 * is globally non-decreasing and every case is in order.
 *
 * Steady state from the first day: ten years of pre-history arrivals are drawn (path and
 * duration only); those still open at sim_start are planned in full from their true start and
 * their pre-sim_start history is compressed into events at sim_start + a few ms (see
 * compress_history()). New cases arrive on working days, Poisson per day with a mild seasonal
 * profile normalised to 221 × scale per working day over the window.
 *
 * Calibration constants are gathered in the "model parameters" block below, each with the
 * board figure it serves; tests/test_gen.c measures the figures from the emitted events.
 *
 * Built apart, into the casewatch_sim library (CMakeLists.txt), which only casewatch-gen and
 * test_gen link: the simulator is not part of the daemon.
 */
#include "casewatch/gen.h"
#include "casewatch/deadlines.h"
#include "casewatch/evbuild.h"
#include "casewatch/event.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K(x)  CASEWATCH__V1__EVENT__PAYLOAD_##x
#define CT(x) CASEWATCH__V1__CASE_TYPE__CASE_TYPE_##x
#define AT(x) CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_##x
#define HK(x) CASEWATCH__V1__HEARING_KIND__HEARING_KIND_##x
#define RK(x) CASEWATCH__V1__REPORT_KIND__REPORT_KIND_##x
#define CK(x) CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_##x
#define OV(x) CASEWATCH__V1__OVERSIGHT_KIND__OVERSIGHT_KIND_##x
#define CO(x) CASEWATCH__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_##x
#define AR(x) CASEWATCH__V1__ADJOURN_REASON__ADJOURN_REASON_##x

#define MS_MIN  60000LL
#define MS_HOUR 3600000LL
#define MS_DAY  86400000LL
#define NEVER   INT64_MAX

/* ---- model parameters (the calibration) ------------------------------------------------ */

#define NEW_CASES_PER_WD  221.0   /* "c221 new children's cases every working day" */
#define PREHISTORY_DAYS   3653    /* arrivals drawn before sim_start to seed the open stock */
#define MAX_DURATION_DAYS 3600    /* durations are capped below the pre-history */
#define TARGET_OPEN       30096.0 /* open children's cases, end of January 2024 */
#define TARGET_CASELOAD   19.3    /* "reducing average caseloads (19.3)" */
#define WORKER_SHARE      0.915   /* of open cases: allocated to a worker (92% less team-level) */

enum path {
    P_CARE,  /* s31 care: 43 weeks mean, 31% within 26 weeks */
    P_SUP,   /* s31 supervision: same clock and distribution */
    P_OPL,   /* other public law: short (23 weeks mean) */
    P_WTFH,  /* private law closing at work to first hearing: 12 weeks */
    P_WAFH,  /* WTFH -> WAFH at the first hearing (s7 ordered): 59 weeks from the start */
    P_R164,  /* WTFH -> WAFH -> rule 16.4 after the s7 report: 104 weeks from the start */
    P_R164D, /* opened as rule 16.4 (transferred in with a guardian): 104 weeks */
    P__COUNT
};

/* Share of new cases by path: public 30% (care 68%, supervision 7%, other 25%), private
 * 70% (WTFH-only 78.5%, WAFH 16.5%, via-WAFH 16.4 4.5%, direct 16.4 0.5%). */
static const double path_share[P__COUNT] = {
    0.30 * 0.68, 0.30 * 0.07, 0.30 * 0.25, 0.70 * 0.785, 0.70 * 0.165, 0.70 * 0.045, 0.70 * 0.005,
};

static const int path_open_type[P__COUNT] = {
    CT(PUBLIC_LAW_S31_CARE), CT(PUBLIC_LAW_S31_SUPERVISION), CT(PUBLIC_LAW_OTHER),
    CT(PRIVATE_LAW_WTFH),    CT(PRIVATE_LAW_WTFH),           CT(PRIVATE_LAW_WTFH),
    CT(RULE_16_4),
};

/* Children per case: 1 + Poisson(extra) at opening, plus a child added later in 4% of
 * cases: public 1.8, private 1.5, about 1.58 for new cases and 1.66 in the open stock.
 * Larger families run longer: in public law the extra grows with the duration (up to +0.3 for
 * cases lasting 69+ weeks, so public cases open 52+ weeks have about 2 children, as in the
 * board pack); in private law WAFH / 16.4 families are a little larger than WTFH ones. */
#define CHILD_EXTRA_PUBLIC        0.64
#define CHILD_EXTRA_PUBLIC_LONG   0.30 /* added in full from 182 + 300 days */
#define CHILD_EXTRA_PRIVATE_SHORT 0.46 /* private law closing at WTFH */
#define CHILD_EXTRA_PRIVATE_LONG  0.50 /* WAFH and rule 16.4 paths */
#define P_CHILD_ADDED             0.04

/* Allocation: 92 / 2.5 / 3.5 / 2 % of open cases (allocated / duty / PAH / allocation hub). */
#define DUTY_WAIT_MEAN_WD 5.2 /* private law, not prioritised: lognormal, working days */
#define DUTY_WAIT_SIGMA   0.6
#define HUB_WAIT_MEAN_WD  26.0 /* allocation hub (prioritised areas, private law) */
#define HUB_WAIT_SIGMA    0.6
#define P_TEAM_FIRST      0.12 /* allocated to a team for 1-3 working days before a worker */
#define P_PAH             0.36 /* ends in a post-assessment hub awaiting the final hearing */
#define P_REALLOCATION    0.08
#define P_WELFARE_PRIVATE 0.12 /* screening finds welfare or safety at risk */

/* Seeing children: 98% seen, 92.3% in person, of children of open allocated cases. */
#define SEEN_MEAN_WD        1.6
#define P_NEVER_SEEN        0.004
#define P_FIRST_IN_PERSON   0.90
#define P_UPGRADE_IN_PERSON 0.5

/* s7 reports: filed to timescale 98.3%, 36.3% with an extension agreed. */
#define P_S7_EXTENSION 0.366
#define P_S7_ON_TIME   0.988

/* Safeguarding and oversight. */
#define P_CONCERN_PRIVATE   0.45
#define P_CONCERN_PUBLIC    0.30
#define P_16A_ON_TIME       0.94
#define P_16A_LATE          0.04 /* the rest: never recorded */
#define P_DA_ON_TIME        0.96
#define P_LETTER_ON_TIME    0.95
#define P_LETTER_LATE       0.03
#define P_OVERSIGHT_ON_TIME 0.95
#define P_OVERSIGHT_LATE    0.03
#define P_PLANNING_28D      0.82
#define P_PLANNING_LATE     0.13
#define P_S32_FIRST         0.85 /* s31 cases reaching 26 weeks with an s32 extension */
#define P_S32_MORE          0.75
#define P_ADJOURN           0.08
#define P_REOPEN            0.01

/* ---- small PRNG: splitmix64 to seed, xoshiro256** to draw ------------------------------ */

typedef struct rng {
    uint64_t s[4];
} rng_t;

static void rng_seed(rng_t *r, uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xd1342543de82ef95ULL) ^ 0x5851f42d4c957f2dULL;
    for (int i = 0; i < 4; i++)
        r->s[i] = cw_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) */
static double u01(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static bool chance(rng_t *r, double p)
{
    return u01(r) < p;
}

/* uniform integer in [lo, hi] */
static int64_t uni(rng_t *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static double normal(rng_t *r)
{
    double u1 = 1.0 - u01(r); /* (0, 1] */
    double u2 = u01(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* lognormal with the given mean and log-sd */
static double lognormal(rng_t *r, double mean, double sigma)
{
    double mu = log(mean) - sigma * sigma / 2.0;
    return exp(mu + sigma * normal(r));
}

/* Marsaglia-Tsang gamma, shape k >= 1, scale theta */
static double gamma_draw(rng_t *r, double k, double theta)
{
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = normal(r);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = u01(r);
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v * theta;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v * theta;
    }
}

/* Poisson: Knuth below 30, Hörmann's PTRS above. */
static int poisson(rng_t *r, double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda < 30) {
        double l = exp(-lambda), p = 1.0;
        int k = 0;
        do {
            k++;
            p *= u01(r);
        } while (p > l);
        return k - 1;
    }
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = u01(r) - 0.5, v = u01(r);
        double us = 0.5 - fabs(u);
        double k = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr)
            return (int)k;
        if (k < 0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <=
            -lambda + k * loglam - lgamma(k + 1))
            return (int)k;
    }
}

/* ---- the simulated service: court areas, service areas, teams, workers ---------------- */

typedef struct area_def {
    const char *code;
    int osa;
    double weight;                        /* relative demand */
    int act_before_end, deact_before_end; /* prioritisation, days before end_day; 0 = none */
    int pathfinder; /* 1: pathfinder throughout; 2: from 240 days before end_day */
} area_def_t;

static const char *const osa_codes[] = {
    "osa-london-west",   "osa-london-central",     "osa-london-east",   "osa-essex",
    "osa-east-anglia",   "osa-greater-manchester", "osa-north-west",    "osa-yorkshire",
    "osa-north-east",    "osa-east-midlands",      "osa-west-midlands", "osa-south-east",
    "osa-thames-valley", "osa-south-west",         "osa-wales",
};
#define N_OSA ((int)CW_ARRAY_LEN(osa_codes))

/* Prioritisation as in the board pack, relative to the window end: Essex/Chelmsford active
 * throughout; Greater Manchester and Norfolk/Norwich deactivated late in the year; Greater
 * London West/Central/East activated about five months before the end. */
static const area_def_t areas[] = {
    {"london-west", 0, 4.4, 150, 0, 0},
    {"london-central", 1, 4.0, 150, 0, 0},
    {"london-east", 2, 5.0, 150, 0, 0},
    {"essex-chelmsford", 3, 3.6, 700, 0, 0},
    {"norfolk-norwich", 4, 2.2, 480, 35, 0},
    {"cambridgeshire-peterborough", 4, 1.8, 0, 0, 0},
    {"greater-manchester", 5, 5.6, 560, 40, 0},
    {"lancashire-cumbria", 6, 4.2, 0, 0, 0},
    {"merseyside", 6, 3.0, 0, 0, 0},
    {"cheshire", 6, 1.8, 0, 0, 0},
    {"west-yorkshire", 7, 4.6, 0, 0, 0},
    {"south-yorkshire", 7, 2.8, 0, 0, 0},
    {"humberside", 7, 1.8, 0, 0, 0},
    {"northumbria-north-durham", 8, 3.2, 0, 0, 0},
    {"cleveland-south-durham", 8, 2.4, 0, 0, 0},
    {"nottingham", 9, 2.2, 0, 0, 0},
    {"leicester", 9, 2.0, 0, 0, 0},
    {"derby", 9, 1.7, 0, 0, 0},
    {"lincoln", 9, 1.3, 0, 0, 0},
    {"birmingham-solihull", 10, 3.8, 0, 0, 2},
    {"coventry-warwickshire", 10, 1.6, 0, 0, 0},
    {"wolverhampton", 10, 2.0, 0, 0, 0},
    {"west-mercia", 10, 2.0, 0, 0, 0},
    {"staffordshire", 10, 1.9, 0, 0, 0},
    {"kent", 11, 3.4, 0, 0, 0},
    {"surrey", 11, 1.6, 0, 0, 0},
    {"sussex", 11, 2.8, 0, 0, 0},
    {"thames-valley", 12, 3.4, 0, 0, 0},
    {"hertfordshire", 12, 1.8, 0, 0, 0},
    {"bedfordshire-luton", 12, 1.4, 0, 0, 0},
    {"dorset", 13, 1.4, 0, 0, 1},
    {"devon-cornwall", 13, 3.0, 0, 0, 0},
    {"avon-somerset", 13, 2.8, 0, 0, 0},
    {"gloucestershire", 13, 1.2, 0, 0, 0},
    {"hampshire-iow", 13, 3.2, 0, 0, 0},
    {"north-wales", 14, 1.4, 0, 0, 2},
    {"cardiff", 14, 1.6, 0, 0, 2},
    {"swansea", 14, 1.4, 0, 0, 0},
};
#define N_AREAS ((int)CW_ARRAY_LEN(areas))

int cw_gen_area_count(void)
{
    return N_AREAS;
}

const char *cw_gen_area_code(int i)
{
    return i >= 0 && i < N_AREAS ? areas[i].code : NULL;
}

static const char *const scenario_names[CW_GEN_SC__COUNT] = {
    "care_past_26w",      "open_52w",         "open_100w",           "s7_past_due",
    "r164_no_planning",   "r164_no_final_6m", "duty_past_limit",     "child_not_seen",
    "not_seen_in_person", "concern_no_16a",   "da_not_assessed",     "no_safeguarding_letter",
    "no_oversight",       "caseload_over",    "welfare_unallocated",
};

const char *cw_gen_scenario_name(int sc)
{
    return sc >= 0 && sc < CW_GEN_SC__COUNT ? scenario_names[sc] : "unknown";
}

/* The scenarios injected on purpose, in rotation; the others arise on their own. */
static const int injectable[] = {
    CW_GEN_SC_CARE_PAST_26W,   CW_GEN_SC_S7_PAST_DUE,         CW_GEN_SC_R164_NO_PLANNING,
    CW_GEN_SC_DUTY_PAST_LIMIT, CW_GEN_SC_CHILD_NOT_SEEN,      CW_GEN_SC_NOT_SEEN_IN_PERSON,
    CW_GEN_SC_CONCERN_NO_16A,  CW_GEN_SC_DA_NOT_ASSESSED,     CW_GEN_SC_NO_SAFEGUARDING_LETTER,
    CW_GEN_SC_NO_OVERSIGHT,    CW_GEN_SC_WELFARE_UNALLOCATED,
};

typedef struct team {
    char code[40];
    char manager[48];
    int osa;
    int first_worker, n_workers;
} team_t;

/* ---- planned events and cases ------------------------------------------------------------ */

/* One planned event. Per kind: a, b, i, t as commented at each padd() call site. */
typedef struct gev {
    int64_t at; /* occurred_at, ms */
    int64_t t;  /* listed_for / due_at / new_due_at / relisted_for / issued_at */
    uint16_t ord;
    uint16_t i; /* hearing / report / concern number */
    uint8_t kind;
    uint8_t a, b, pad;
} gev_t;

#define ORD_LAST  0xffff
#define ORD_FIRST 0

typedef struct gcase {
    uint32_t no; /* "c-<no>"; 0 = the area pseudo-case */
    int16_t area, team;
    uint8_t path, type, n_open_children, n_children;
    uint8_t alloc; /* 0 = no allocation yet, else the AllocationTarget */
    bool opened, closed, window_case, welfare, pathfinder, stock;
    int32_t worker; /* current worker, -1 none */
    cw_day_t start_day;
    int64_t start_ms, closed_at;
    uint64_t seen_mask, in_person_mask;
    gev_t *plan;
    uint32_t n_plan, next;
} gcase_t;

/* The scratch message handed to the callback. */
typedef struct scratch {
    Casewatch__V1__Event ev;
    cw_evbuild_payload_t p;
    char event_id[64], case_id[24], source[64], id1[24], la[64];
    char *children[CW_EVENT_CHILDREN_MAX];
} scratch_t;

struct cw_gen {
    cw_gen_config_t cfg;
    cw_gen_truth_t truth;
    bool ran;

    /* calendar cache: working days of [cal_lo, cal_hi] */
    cw_day_t cal_lo, cal_hi;
    uint8_t *working; /* per day */
    int32_t *wpos;    /* per day: working days in [cal_lo, day) */
    cw_day_t *wlist;  /* the working days, ascending */
    int32_t n_wlist;

    int64_t sim_start_ms, window_start_ms, end_ms; /* end_ms: end_day + 1 at 00:00 */

    /* areas */
    double area_cum[N_AREAS];                    /* cumulative weights, normalised to 1 */
    int64_t prio_on[N_AREAS], prio_off[N_AREAS]; /* NEVER when not scheduled */
    bool prio_active[N_AREAS];                   /* emission state */
    int64_t pathfinder_from[N_AREAS];
    double season_norm;

    team_t *teams;
    int n_teams;
    int osa_first_team[N_OSA], osa_n_teams[N_OSA];
    char (*worker_ids)[24];
    int32_t *load;
    double *cap;
    int n_workers;

    /* live cases */
    cw_deadlines_t *live; /* key: case number, due: its next event's time */
    gcase_t **by_no;      /* case number -> live case, NULL once finished; 0 is the area case */
    size_t by_no_cap;
    uint32_t next_case_no;
    uint64_t seq;

    rng_t rng_arr, rng_pre, rng_dyn;
    double scen_acc;
    int scen_next;

    scratch_t s;
    char child_names[CW_EVENT_CHILDREN_MAX][8];
};

/* ---- calendar ------------------------------------------------------------------------- */

static bool cal_in(const cw_gen_t *g, cw_day_t d)
{
    return d >= g->cal_lo && d <= g->cal_hi;
}

static bool is_working(const cw_gen_t *g, cw_day_t d)
{
    if (cal_in(g, d))
        return g->working[d - g->cal_lo] != 0;
    return cw_workdays_is_working(g->cfg.workdays, d);
}

/* n working days after (n > 0) or before (n < 0) day, as cw_workdays_add() */
static cw_day_t wd_add(const cw_gen_t *g, cw_day_t d, int n)
{
    if (n == 0 || !cal_in(g, d))
        return n == 0 ? d : cw_workdays_add(g->cfg.workdays, d, n);
    int32_t pos = g->wpos[d - g->cal_lo]; /* index of the first working day >= d */
    bool w = g->working[d - g->cal_lo] != 0;
    int64_t k = n > 0 ? pos + n - (w ? 0 : 1) : pos + n;
    if (k < 0 || k >= g->n_wlist)
        return cw_workdays_add(g->cfg.workdays, d, n);
    return g->wlist[k];
}

/* the day itself when working, else the next working day */
static cw_day_t wd_next(const cw_gen_t *g, cw_day_t d)
{
    return is_working(g, d) ? d : wd_add(g, d, 1);
}

static cw_day_t day_of(int64_t ms)
{
    return cw_day_from_ms(ms);
}

static int64_t dms(cw_day_t d)
{
    return (int64_t)d * MS_DAY;
}

/* a moment on day d between h0 and h1 o'clock UTC */
static int64_t at_hours(rng_t *r, cw_day_t d, double h0, double h1)
{
    return dms(d) + (int64_t)(h0 * (double)MS_HOUR) +
           (int64_t)(u01(r) * (h1 - h0) * (double)MS_HOUR);
}

/* end of the n-th working day after the day of t: the moment a working-day limit passes */
static int64_t wd_deadline(const cw_gen_t *g, int64_t t, int n)
{
    return dms(wd_add(g, day_of(t), n) + 1);
}

static bool calendar_build(cw_gen_t *g)
{
    g->cal_lo = g->truth.sim_start - PREHISTORY_DAYS - 60;
    g->cal_hi = g->truth.window_end + MAX_DURATION_DAYS + 900;
    size_t n = (size_t)(g->cal_hi - g->cal_lo + 1);
    g->working = cw_malloc(n);
    g->wpos = cw_malloc(n * sizeof *g->wpos);
    g->wlist = cw_malloc(n * sizeof *g->wlist);
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cw_day_t d = g->cal_lo + (cw_day_t)i;
        g->wpos[i] = k;
        g->working[i] = cw_workdays_is_working(g->cfg.workdays, d) ? 1 : 0;
        if (g->working[i])
            g->wlist[k++] = d;
    }
    g->n_wlist = k;
    return k > 0;
}

/* ---- seasonality ------------------------------------------------------------------------ */

/* Mild seasonal profile of new applications (relative, by month), normalised over the
 * window's working days so that the window averages exactly 221 × scale. */
static const double season[12] = {1.05, 1.03, 1.05, 0.97, 1.00, 1.02,
                                  1.03, 0.92, 1.00, 1.03, 1.02, 0.88};

static double season_of(cw_day_t d)
{
    int y, m, md;
    cw_day_to_ymd(d, &y, &m, &md);
    return season[m - 1];
}

static double arrivals_per_day(const cw_gen_t *g, cw_day_t d)
{
    return NEW_CASES_PER_WD * g->cfg.scale * season_of(d) / g->season_norm;
}

/* ---- durations ---------------------------------------------------------------------------- */

/* closed - start in days, by path; right-skewed (gamma for s31, shifted lognormal others) */
static int draw_duration(rng_t *r, int path)
{
    double d;
    switch (path) {
    case P_CARE:
    case P_SUP:
        do
            d = gamma_draw(r, 2.3, 300.0 / 2.3);
        while (d < 14);
        break;
    case P_OPL:
        do
            d = lognormal(r, 160.0, 0.8);
        while (d < 7);
        break;
    case P_WTFH:
        d = 10.0 + lognormal(r, 73.0, 0.6);
        break;
    case P_WAFH:
        d = 150.0 + lognormal(r, 262.0, 1.1);
        break;
    default: /* rule 16.4 */
        d = 230.0 + lognormal(r, 497.0, 0.9);
        break;
    }
    if (d > MAX_DURATION_DAYS)
        d = MAX_DURATION_DAYS;
    return (int)d;
}

static int draw_path(rng_t *r)
{
    double u = u01(r);
    for (int p = 0; p < P__COUNT - 1; p++) {
        if (u < path_share[p])
            return p;
        u -= path_share[p];
    }
    return P__COUNT - 1;
}

static int draw_area(const cw_gen_t *g, rng_t *r)
{
    double u = u01(r);
    for (int i = 0; i < N_AREAS; i++)
        if (u < g->area_cum[i])
            return i;
    return N_AREAS - 1;
}

static bool is_public_path(int path)
{
    return path == P_CARE || path == P_SUP || path == P_OPL;
}

static bool prio_at(const cw_gen_t *g, int area, int64_t t)
{
    return t >= g->prio_on[area] && t < g->prio_off[area];
}

/* ---- planning --------------------------------------------------------------------------- */

typedef struct planner {
    cw_gen_t *g;
    gcase_t *c;
    rng_t r;
    gev_t *ev;
    uint32_t n, cap;
    uint16_t ord;
    uint16_t n_hear, n_rep, n_conc;
    int scen; /* injected scenario, -1 none */
    int64_t t_open, t_close, t_worker, last_alloc, t_child_added;
    cw_day_t close_day;
} planner_t;

static gev_t *padd(planner_t *p, int64_t at, int kind)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->ev = cw_realloc(p->ev, p->cap * sizeof *p->ev);
    }
    gev_t *e = &p->ev[p->n++];
    memset(e, 0, sizeof *e);
    e->at = at;
    e->kind = (uint8_t)kind;
    e->ord = ++p->ord;
    return e;
}

static void add_oversight(planner_t *p, int64_t at, int kind)
{
    padd(p, at, K(MANAGEMENT_OVERSIGHT_RECORDED))->a = (uint8_t)kind;
}

/* Allocation from opening to the first worker. Returns when the worker was allocated. */
static int64_t plan_allocation(planner_t *p)
{
    gcase_t *c = p->c;
    cw_gen_t *g = p->g;
    rng_t *r = &p->r;
    cw_day_t d0 = day_of(p->t_open);
    bool public_law = is_public_path(c->path) || c->path == P_R164D;
    bool prio = prio_at(g, c->area, p->t_open);
    cw_day_t day_a;

    if (!public_law && prio && !c->welfare) {
        /* prioritised area: new private law work waits in the allocation hub */
        padd(p, p->t_open + uni(r, 5, 90) * MS_MIN, K(ALLOCATED))->a = AT(ALLOCATION_HUB);
        if (chance(r, 0.7))
            add_oversight(p, at_hours(r, wd_add(g, d0, (int)uni(r, 1, 3)), 9, 17),
                          OV(ALLOCATION_REVIEW));
        int wait = (int)lround(lognormal(r, HUB_WAIT_MEAN_WD, HUB_WAIT_SIGMA));
        day_a = wd_add(g, d0, wait < 1 ? 1 : wait);
        if (g->prio_off[c->area] != NEVER && dms(day_a) > g->prio_off[c->area])
            day_a = wd_add(g, day_of(g->prio_off[c->area]), (int)uni(r, 1, 15));
    } else {
        int wait;
        if (chance(r, public_law ? 0.3 : 0.5))
            padd(p, p->t_open + uni(r, 2, 60) * MS_MIN, K(ALLOCATED))->a = AT(DUTY);
        if (public_law || c->welfare)
            wait = (int)uni(r, 0, 2);
        else
            wait = (int)lround(lognormal(r, DUTY_WAIT_MEAN_WD, DUTY_WAIT_SIGMA));
        if (p->scen == CW_GEN_SC_DUTY_PAST_LIMIT)
            wait = (int)uni(r, CW_GEN_DUTY_LIMIT_WD + 4, CW_GEN_DUTY_LIMIT_WD + 20);
        if (p->scen == CW_GEN_SC_WELFARE_UNALLOCATED)
            wait = (int)uni(r, CW_GEN_WELFARE_LIMIT_WD + 3, CW_GEN_WELFARE_LIMIT_WD + 15);
        day_a = wait <= 0 ? d0 : wd_add(g, d0, wait);
    }
    int64_t t_a = day_a == d0 ? p->t_open + uni(r, 30, 180) * MS_MIN : at_hours(r, day_a, 9, 17);
    int64_t t_w = t_a;
    if (chance(r, P_TEAM_FIRST)) {
        if (t_a < p->t_close)
            padd(p, t_a, K(ALLOCATED))->a = AT(TEAM);
        t_w = at_hours(r, wd_add(g, day_a, (int)uni(r, 1, 3)), 9, 17);
    }
    if (t_w >= p->t_close - MS_HOUR)
        return NEVER;
    padd(p, t_w, K(ALLOCATED))->a = AT(WORKER);
    p->last_alloc = t_w;
    return t_w;
}

/* Work that follows allocation to a worker: oversight, seeing children, supervision,
 * reallocation, closure review. */
static void plan_worker_work(planner_t *p)
{
    cw_gen_t *g = p->g;
    gcase_t *c = p->c;
    rng_t *r = &p->r;
    int64_t tw = p->t_worker;
    cw_day_t dw = day_of(tw);
    if (tw == NEVER)
        return;

    /* routine oversight after allocation */
    double u = u01(r);
    bool no_ov = p->scen == CW_GEN_SC_NO_OVERSIGHT;
    if (no_ov) {
        if (chance(r, 0.5))
            add_oversight(p, at_hours(r, wd_add(g, dw, (int)uni(r, 15, 40)), 9, 17), OV(ROUTINE));
    } else if (u < P_OVERSIGHT_ON_TIME) {
        add_oversight(p, at_hours(r, wd_add(g, dw, (int)uni(r, 1, 8)), 9, 17), OV(ROUTINE));
    } else if (u < P_OVERSIGHT_ON_TIME + P_OVERSIGHT_LATE) {
        add_oversight(p, at_hours(r, wd_add(g, dw, (int)uni(r, 11, 30)), 9, 17), OV(ROUTINE));
    }

    /* seeing each child: soon after allocation, mostly in person */
    for (int k = 0; k < c->n_children; k++) {
        bool never = chance(r, P_NEVER_SEEN);
        int delay = (int)lround(lognormal(r, SEEN_MEAN_WD, 0.8));
        if (p->scen == CW_GEN_SC_CHILD_NOT_SEEN && k == 0) {
            never = chance(r, 0.3);
            delay = (int)uni(r, CW_GEN_SEEN_LIMIT_WD + 3, CW_GEN_SEEN_LIMIT_WD + 25);
        }
        if (never)
            continue;
        int64_t base = tw;
        cw_day_t bd = dw;
        if (k >= c->n_open_children && p->t_child_added > tw) { /* joined later */
            base = p->t_child_added;
            bd = day_of(base);
        }
        int64_t ts =
            delay <= 0 ? base + uni(r, 60, 360) * MS_MIN : at_hours(r, wd_add(g, bd, delay), 9, 19);
        bool in_person = chance(r, P_FIRST_IN_PERSON);
        if (p->scen == CW_GEN_SC_NOT_SEEN_IN_PERSON)
            in_person = false;
        gev_t *e = padd(p, ts, K(CHILD_SEEN));
        e->a = (uint8_t)k;
        e->b = in_person;
        if (!in_person && p->scen != CW_GEN_SC_NOT_SEEN_IN_PERSON &&
            chance(r, P_UPGRADE_IN_PERSON)) {
            e = padd(p, at_hours(r, wd_add(g, day_of(ts), (int)uni(r, 5, 40)), 9, 19),
                     K(CHILD_SEEN));
            e->a = (uint8_t)k;
            e->b = 1;
        }
    }

    int64_t span = p->t_close - tw;
    if (span > 20 * MS_DAY && chance(r, 0.3))
        add_oversight(p, tw + (int64_t)(u01(r) * (double)span), OV(SITUATIONAL_SUPERVISION));
    if (chance(r, 0.02) && span > 5 * MS_DAY)
        add_oversight(p, tw + (int64_t)(u01(r) * (double)span), OV(OTHER));
    if (span > 60 * MS_DAY && chance(r, P_REALLOCATION)) {
        int64_t t = tw + 20 * MS_DAY + (int64_t)(u01(r) * (double)(span - 40 * MS_DAY));
        gev_t *e = padd(p, t, K(ALLOCATED));
        e->a = AT(WORKER);
        e->b = 1; /* reallocation */
        if (t > p->last_alloc)
            p->last_alloc = t;
    }
    if (chance(r, 0.6)) {
        cw_day_t d = wd_add(g, p->close_day, -(int)uni(r, 1, 5));
        if (dms(d) > tw)
            add_oversight(p, at_hours(r, d, 9, 14), OV(CLOSURE_REVIEW));
    }
}

/* A safeguarding concern with its 16a risk assessment and, for domestic abuse, assessment. */
static void plan_concern(planner_t *p, int64_t t, int kind, bool no_16a, bool da_late,
                         int64_t da_after)
{
    cw_gen_t *g = p->g;
    rng_t *r = &p->r;
    uint16_t id = ++p->n_conc;
    gev_t *e = padd(p, t, K(SAFEGUARDING_CONCERN_RAISED));
    e->i = id;
    e->a = (uint8_t)kind;
    e->b = p->c->n_children > 1 && chance(r, 0.3) ? (uint8_t)(1 + uni(r, 0, p->c->n_children - 1))
                                                  : 0; /* child index + 1, 0 = whole case */
    cw_day_t d = day_of(t);
    double u = u01(r);
    if (no_16a) {
        if (chance(r, 0.5))
            padd(p, at_hours(r, wd_add(g, d, (int)uni(r, CW_GEN_16A_LIMIT_WD + 5, 40)), 9, 17),
                 K(RISK_ASSESSMENT_RECORDED))
                ->i = id;
    } else if (u < P_16A_ON_TIME) {
        padd(p, at_hours(r, wd_add(g, d, (int)uni(r, 1, 8)), 9, 17), K(RISK_ASSESSMENT_RECORDED))
            ->i = id;
    } else if (u < P_16A_ON_TIME + P_16A_LATE) {
        padd(p, at_hours(r, wd_add(g, d, (int)uni(r, 12, 30)), 9, 17), K(RISK_ASSESSMENT_RECORDED))
            ->i = id;
    }
    if (kind == CK(DOMESTIC_ABUSE)) {
        if (da_late) {
            if (da_after != NEVER && chance(r, 0.6))
                padd(p, at_hours(r, wd_add(g, day_of(da_after), (int)uni(r, 2, 10)), 9, 17),
                     K(DOMESTIC_ABUSE_ASSESSED))
                    ->i = id;
        } else if (chance(r, P_DA_ON_TIME)) {
            padd(p, at_hours(r, wd_add(g, d, (int)uni(r, 1, 6)), 9, 17), K(DOMESTIC_ABUSE_ASSESSED))
                ->i = id;
        } else if (chance(r, 0.5)) {
            padd(p, at_hours(r, wd_add(g, d, (int)uni(r, 15, 40)), 9, 17),
                 K(DOMESTIC_ABUSE_ASSESSED))
                ->i = id;
        }
    }
}

static int draw_concern_kind(rng_t *r, bool private_law)
{
    static const struct {
        int kind;
        double w_private, w_public;
    } kinds[] = {
        {CK(DOMESTIC_ABUSE), 0.55, 0.15},
        {CK(PHYSICAL_HARM), 0.08, 0.20},
        {CK(SEXUAL_HARM), 0.02, 0.06},
        {CK(EMOTIONAL_HARM), 0.10, 0.14},
        {CK(NEGLECT), 0.06, 0.22},
        {CK(EXPLOITATION), 0.01, 0.05},
        {CK(SUBSTANCE_MISUSE), 0.08, 0.10},
        {CK(PARENTAL_MENTAL_HEALTH), 0.07, 0.06},
        {CK(OTHER), 0.03, 0.02},
    };
    double u = u01(r);
    for (size_t i = 0; i < CW_ARRAY_LEN(kinds); i++) {
        double w = private_law ? kinds[i].w_private : kinds[i].w_public;
        if (u < w)
            return kinds[i].kind;
        u -= w;
    }
    return CK(OTHER);
}

/* Hearing helpers. Returns the hearing number. */
static uint16_t hearing_list(planner_t *p, int64_t at, int kind, cw_day_t day, int64_t *t_hear)
{
    uint16_t id = ++p->n_hear;
    gev_t *e = padd(p, at, K(HEARING_LISTED));
    e->i = id;
    e->a = (uint8_t)kind;
    e->t = dms(day) + 10 * MS_HOUR;
    *t_hear = e->t;
    return id;
}

static void hearing_adjourn(planner_t *p, uint16_t id, int64_t at, cw_day_t relist, int reason)
{
    gev_t *e = padd(p, at, K(HEARING_ADJOURNED));
    e->i = id;
    e->a = (uint8_t)reason;
    e->t = relist ? dms(relist) + 10 * MS_HOUR : 0;
}

static int64_t hearing_held(planner_t *p, uint16_t id, int kind, cw_day_t day)
{
    gev_t *e = padd(p, at_hours(&p->r, day, 10.5, 13), K(HEARING_HELD));
    e->i = id;
    e->a = (uint8_t)kind;
    e->b = chance(&p->r, 0.9); /* effective */
    return e->at;
}

static int draw_adjourn_reason(rng_t *r)
{
    static const int reasons[] = {AR(REPORT_NOT_READY),
                                  AR(SAFEGUARDING_INFO_OUTSTANDING),
                                  AR(PARTY_ABSENT),
                                  AR(JUDICIAL_AVAILABILITY),
                                  AR(EXPERT_EVIDENCE),
                                  AR(LISTING),
                                  AR(OTHER),
                                  AR(UNSPECIFIED)};
    return reasons[uni(r, 0, (int64_t)CW_ARRAY_LEN(reasons) - 1)];
}

/*
 * A hearing listed at `at` for `day`, adjourned with P_ADJOURN (relisted 2-6 weeks later)
 * unless that would pass `limit`, then held. Returns the held time, or NEVER when the day
 * (after relisting) is not before `limit`.
 */
static int64_t hearing_run(planner_t *p, int64_t at, int kind, cw_day_t day, cw_day_t limit)
{
    int64_t listed;
    uint16_t id = hearing_list(p, at, kind, day, &listed);
    if (day >= limit)
        return NEVER;
    if (chance(&p->r, P_ADJOURN)) {
        cw_day_t re = wd_next(p->g, day + (int)uni(&p->r, 14, 42));
        if (re < limit) {
            hearing_adjourn(p, id, at_hours(&p->r, day, 9, 10), re, draw_adjourn_reason(&p->r));
            day = re;
        }
    }
    return hearing_held(p, id, kind, day);
}

/* Intermediate hearings every gap_lo..gap_hi days from `from` until 14 days before `until`;
 * returns the time of the last one held (or t_from). */
static int64_t hearing_chain(planner_t *p, int64_t t_from, cw_day_t until, int kind, int gap_lo,
                             int gap_hi)
{
    int64_t t = t_from;
    for (;;) {
        cw_day_t next = wd_next(p->g, day_of(t) + (int)uni(&p->r, gap_lo, gap_hi));
        if (next >= until - 14)
            return t;
        int64_t held = hearing_run(p, t + uni(&p->r, 5, 60) * MS_MIN, kind, next, until - 7);
        if (held == NEVER)
            return t;
        t = held;
    }
}

/* The final hearing on the closing day, listed at t_list. */
static void final_hearing(planner_t *p, int64_t t_list)
{
    int64_t listed;
    uint16_t id = hearing_list(p, t_list, HK(FINAL), p->close_day, &listed);
    gev_t *e = padd(p, at_hours(&p->r, p->close_day, 10.2, 12), K(HEARING_HELD));
    e->i = id;
    e->a = HK(FINAL);
    e->b = 1;
}

/*
 * A report ordered at t_order, due on due_day, with extensions and filing as calibrated.
 * Returns when it is filed (NEVER when after the close); *due_out gets the due day in force.
 */
static int64_t plan_report(planner_t *p, int rkind, int64_t t_order, cw_day_t due_day, double p_ext,
                           double p_on, bool late, cw_day_t *due_out)
{
    cw_gen_t *g = p->g;
    rng_t *r = &p->r;
    uint16_t id = ++p->n_rep;
    gev_t *e = padd(p, t_order, K(REPORT_ORDERED));
    e->i = id;
    e->a = (uint8_t)rkind;
    e->t = dms(due_day) + 16 * MS_HOUR;

    cw_day_t d_order = day_of(t_order), due = due_day, last_ext = d_order;
    bool extended = false;
    int n_ext = chance(r, p_ext) ? (chance(r, 0.12) ? 2 : 1) : 0;
    for (int k = 0; k < n_ext; k++) {
        cw_day_t de = wd_add(g, due, -(int)uni(r, 2, 12));
        if (de <= last_ext)
            de = wd_add(g, last_ext, 1);
        if (de > due)
            break;
        cw_day_t nd = wd_next(g, due + (int)uni(r, 14, 42));
        e = padd(p, at_hours(r, de, 9, 16), K(REPORT_EXTENSION_AGREED));
        e->i = id;
        e->t = dms(nd) + 16 * MS_HOUR;
        due = nd;
        last_ext = de;
        extended = true;
    }
    cw_day_t df;
    if (!late && chance(r, p_on))
        df = wd_add(g, due, -(int)uni(r, 0, 6));
    else
        df = wd_add(g, due, late ? (int)uni(r, 5, 25) : (int)uni(r, 1, 12));
    if (df <= last_ext)
        df = wd_add(g, last_ext, 1);
    if (df <= d_order)
        df = wd_add(g, d_order, 1);
    *due_out = due;
    int64_t tf = at_hours(r, df, 9, 17.5);
    if (tf >= p->t_close)
        return NEVER;
    e = padd(p, tf, K(REPORT_FILED));
    e->i = id;
    e->a = (uint8_t)rkind;
    e->b = (uint8_t)((df <= due ? 1 : 0) | (extended ? 2 : 0));
    return tf;
}

/* s32(5) extensions of the 26-week timetable for s31 cases still open at each boundary. */
static void plan_s32(planner_t *p)
{
    cw_day_t s = p->c->start_day;
    for (int k = 0;; k++) {
        cw_day_t boundary = s + CW_GEN_CARE_LIMIT_DAYS + 56 * k;
        if (p->close_day <= boundary - 7)
            return;
        if (p->scen == CW_GEN_SC_CARE_PAST_26W && k == 0)
            return;
        if (!chance(&p->r, k == 0 ? P_S32_FIRST : P_S32_MORE))
            return;
        cw_day_t d = wd_add(p->g, boundary, -(int)uni(&p->r, 1, 10));
        gev_t *e = padd(p, at_hours(&p->r, d, 11, 15), K(TIMETABLE_EXTENDED));
        e->a = chance(&p->r, 0.85) ? 8 : (uint8_t)uni(&p->r, 2, 7);
    }
}

static void plan_public(planner_t *p)
{
    cw_gen_t *g = p->g;
    gcase_t *c = p->c;
    rng_t *r = &p->r;
    cw_day_t s = c->start_day, close = p->close_day;

    if (c->path != P_OPL && chance(r, 0.35)) /* interim hearing in the first days */
        hearing_run(p, p->t_open + uni(r, 5, 60) * MS_MIN, HK(INTERIM),
                    wd_next(g, s + (int)uni(r, 1, 6)), close);
    /* first listing: a case management hearing (no safeguarding letter in public law) */
    cw_day_t fh_day = wd_next(g, s + (int)(c->path == P_OPL ? uni(r, 2, 10) : uni(r, 8, 18)));
    int64_t t_fh =
        hearing_run(p, p->t_open + uni(r, 60, 200) * MS_MIN, HK(CASE_MANAGEMENT), fh_day, close);
    if (t_fh == NEVER) {
        /* closed before the first hearing: withdrawn, the hearing vacated */
        return;
    }
    if (chance(r, P_CONCERN_PUBLIC) && p->t_close - t_fh > 10 * MS_DAY) {
        int64_t t = t_fh + (int64_t)(u01(r) * (double)(p->t_close - t_fh - 5 * MS_DAY));
        plan_concern(p, t, draw_concern_kind(r, false), p->scen == CW_GEN_SC_CONCERN_NO_16A, false,
                     NEVER);
    }
    if (c->path == P_OPL) {
        if (close > day_of(t_fh) + 7)
            final_hearing(p, t_fh + 10 * MS_MIN);
        return;
    }
    plan_s32(p);
    cw_day_t due;
    if (close > day_of(t_fh) + 42) {
        cw_day_t rd = wd_next(g, close - (int)uni(r, 21, 42));
        if (rd > day_of(t_fh) + 21)
            plan_report(p, RK(GUARDIAN_ANALYSIS), t_fh + 20 * MS_MIN, rd, 0.15, 0.96, false, &due);
    }
    int64_t t_last = t_fh;
    if (close > day_of(t_fh) + 56) {
        cw_day_t irh = wd_next(g, close - (int)uni(r, 14, 35));
        t_last = hearing_chain(p, t_fh, irh, HK(CASE_MANAGEMENT), 42, 84);
        int64_t t_irh = hearing_run(p, t_last + 15 * MS_MIN, HK(ISSUES_RESOLUTION), irh, close);
        if (t_irh != NEVER)
            t_last = t_irh;
    }
    final_hearing(p, t_last + 25 * MS_MIN);
}

/* Rule 16.4 from r0 (reclassification, or the start for direct cases): guardian, planning
 * meeting, guardian's analysis, final hearing targeted at six months and often relisted. */
static void plan_r164_phase(planner_t *p, int64_t r0)
{
    cw_gen_t *g = p->g;
    rng_t *r = &p->r;
    cw_day_t d0 = day_of(r0), close = p->close_day;

    if (p->t_worker != NEVER && p->c->path == P_R164) {
        int64_t t = at_hours(r, wd_add(g, d0, (int)uni(r, 1, 10)), 9, 17);
        if (t < p->t_worker + MS_DAY)
            t = p->t_worker + MS_DAY;
        gev_t *e = padd(p, t, K(ALLOCATED)); /* the children's guardian */
        e->a = AT(WORKER);
        e->b = 1;
        if (t > p->last_alloc)
            p->last_alloc = t;
    }
    double u = u01(r);
    int pm_days = -1;
    if (p->scen == CW_GEN_SC_R164_NO_PLANNING)
        pm_days = chance(r, 0.5) ? (int)uni(r, 35, 70) : -1;
    else if (u < P_PLANNING_28D)
        pm_days = (int)uni(r, 10, 28);
    else if (u < P_PLANNING_28D + P_PLANNING_LATE)
        pm_days = (int)uni(r, 29, 60);
    if (pm_days >= 0) {
        cw_day_t d = d0 + pm_days;
        while (!is_working(g, d) && d > d0)
            d--; /* keep it within the day count */
        padd(p, at_hours(r, d, 10, 15), K(PLANNING_MEETING_HELD));
    }
    cw_day_t due;
    cw_day_t rd = wd_next(g, d0 + (int)uni(r, 84, 140));
    if (rd < close - 14)
        plan_report(p, RK(GUARDIAN_ANALYSIS), r0 + 30 * MS_MIN, rd, 0.25, 0.95, false, &due);

    /* final hearing aimed at six months, relisted to the real closing day when later */
    cw_day_t target = wd_next(g, d0 + (int)uni(r, 150, 200));
    int64_t listed;
    if (close <= target + 7) {
        uint16_t id = hearing_list(p, r0 + 40 * MS_MIN, HK(FINAL), close, &listed);
        gev_t *e = padd(p, at_hours(r, close, 10.2, 12), K(HEARING_HELD));
        e->i = id;
        e->a = HK(FINAL);
        e->b = 1;
        return;
    }
    uint16_t id = hearing_list(p, r0 + 40 * MS_MIN, HK(FINAL), target, &listed);
    hearing_chain(p, r0, target, HK(CASE_MANAGEMENT), 42, 70);
    hearing_adjourn(p, id, at_hours(r, target, 9, 10), close,
                    chance(r, 0.5) ? AR(EXPERT_EVIDENCE) : AR(JUDICIAL_AVAILABILITY));
    hearing_chain(p, dms(target) + 12 * MS_HOUR, close, HK(CASE_MANAGEMENT), 56, 112);
    gev_t *e = padd(p, at_hours(r, close, 10.2, 12), K(HEARING_HELD));
    e->i = id;
    e->a = HK(FINAL);
    e->b = 1;
}

static void plan_private(planner_t *p)
{
    cw_gen_t *g = p->g;
    gcase_t *c = p->c;
    rng_t *r = &p->r;
    cw_day_t s = c->start_day, close = p->close_day;
    int sc = p->scen;

    if (c->path == P_R164D) {
        plan_r164_phase(p, p->t_open + 20 * MS_MIN);
        return;
    }

    /* work to first hearing: FHDRA in week 5-6, safeguarding checks, the letter */
    cw_day_t fh = wd_next(g, s + (int)uni(r, 33, 40));
    int64_t listed;
    cw_day_t dl = wd_add(g, day_of(p->t_open), (int)uni(r, 1, 3));
    uint16_t fh_id = hearing_list(p, at_hours(r, dl, 9, 17), HK(FIRST_HEARING_FHDRA), fh, &listed);

    int n_conc = chance(r, P_CONCERN_PRIVATE) ? (chance(r, 0.25) ? 2 : 1) : 0;
    if (sc == CW_GEN_SC_CONCERN_NO_16A && n_conc == 0)
        n_conc = 1;
    for (int k = 0; k < n_conc; k++) {
        int64_t t = at_hours(r, wd_add(g, day_of(p->t_open), (int)uni(r, 3, 15)), 9, 17);
        plan_concern(p, t, draw_concern_kind(r, true), sc == CW_GEN_SC_CONCERN_NO_16A && k == 0,
                     false, NEVER);
    }

    double u = u01(r);
    int before = -1; /* working days before the FHDRA; -1: no letter */
    if (sc == CW_GEN_SC_NO_SAFEGUARDING_LETTER)
        before = chance(r, 0.5) ? (int)uni(r, 0, CW_GEN_LETTER_BEFORE_WD - 1) : -1;
    else if (u < P_LETTER_ON_TIME)
        before = (int)uni(r, CW_GEN_LETTER_BEFORE_WD, 6);
    else if (u < P_LETTER_ON_TIME + P_LETTER_LATE)
        before = (int)uni(r, 0, CW_GEN_LETTER_BEFORE_WD - 1);
    if (before >= 0) {
        cw_day_t d = before ? wd_add(g, fh, -before) : fh;
        int64_t t = before ? at_hours(r, d, 10, 17) : dms(d) + 8 * MS_HOUR;
        if (t > p->t_open + MS_HOUR)
            padd(p, t, K(SAFEGUARDING_LETTER_FILED))->i = fh_id;
    }

    if (close < fh) {
        /* withdrawn or agreed before the first hearing: the hearing is vacated */
        hearing_adjourn(p, fh_id, p->t_close - 30 * MS_MIN, 0, AR(OTHER));
        return;
    }
    if (chance(r, P_ADJOURN)) {
        cw_day_t re = wd_next(g, fh + (int)uni(r, 14, 35));
        hearing_adjourn(p, fh_id, at_hours(r, fh, 9, 10), re,
                        chance(r, 0.5) ? AR(SAFEGUARDING_INFO_OUTSTANDING) : AR(PARTY_ABSENT));
        fh = re;
        if (close < fh)
            return; /* closes before the relisted hearing */
    }
    int64_t t_fh = hearing_held(p, fh_id, HK(FIRST_HEARING_FHDRA), fh);

    if (c->path == P_WTFH) {
        if (close > fh)
            final_hearing(p, t_fh + 10 * MS_MIN);
        return;
    }

    /* work after first hearing: a s7 report ordered at the FHDRA */
    int64_t t_rc = t_fh + uni(r, 10, 40) * MS_MIN;
    padd(p, t_rc, K(CASE_RECLASSIFIED))->a = CT(PRIVATE_LAW_WAFH);
    cw_day_t due_day = wd_next(g, fh + (int)uni(r, 56, 84));
    cw_day_t due;
    int64_t t_order = t_rc + 5 * MS_MIN;
    if (sc == CW_GEN_SC_DA_NOT_ASSESSED) {
        /* new domestic abuse allegation during the s7 work, not assessed before filing */
        int64_t t = at_hours(r, wd_add(g, fh, (int)uni(r, 5, 15)), 9, 17);
        plan_concern(p, t, CK(DOMESTIC_ABUSE), false, true, dms(due_day + 30));
    }
    int64_t t_filed = plan_report(p, RK(S7_REPORT), t_order, due_day, P_S7_EXTENSION, P_S7_ON_TIME,
                                  sc == CW_GEN_SC_S7_PAST_DUE, &due);
    /* dispute resolution appointment after the report */
    cw_day_t dra = wd_next(g, (due > due_day ? due : due_day) + (int)uni(r, 14, 28));
    if (t_filed != NEVER && day_of(t_filed) >= dra)
        dra = wd_next(g, day_of(t_filed) + (int)uni(r, 7, 21));
    if (dra >= close - 7) {
        if (close > fh)
            final_hearing(p, t_order + 10 * MS_MIN);
        return;
    }
    int64_t t_dra = hearing_run(p, t_order + 10 * MS_MIN, HK(DISPUTE_RESOLUTION), dra, close - 7);
    if (t_dra == NEVER) {
        final_hearing(p, t_order + 20 * MS_MIN);
        return;
    }
    if (c->path == P_R164) {
        int64_t r0 = t_dra + uni(r, 10, 40) * MS_MIN;
        padd(p, r0, K(CASE_RECLASSIFIED))->a = CT(RULE_16_4);
        plan_r164_phase(p, r0);
        return;
    }
    int64_t t_last = t_dra;
    if (chance(r, 0.25) && close > dra + 70) { /* an addendum to the s7 report */
        cw_day_t ad = wd_next(g, dra + (int)uni(r, 42, 56));
        plan_report(p, RK(S7_ADDENDUM), t_dra + 15 * MS_MIN, ad, 0.1, 0.97, false, &due);
    }
    t_last = hearing_chain(p, t_last, close,
                           chance(r, 0.5) ? HK(DISPUTE_RESOLUTION) : HK(CASE_MANAGEMENT), 56, 112);
    final_hearing(p, t_last + 10 * MS_MIN);
}

static int cmp_gev(const void *a, const void *b)
{
    const gev_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return (x->ord > y->ord) - (x->ord < y->ord);
}

static void sort_plan(planner_t *p)
{
    qsort(p->ev, p->n, sizeof *p->ev, cmp_gev);
}

/* Move to the post-assessment hub for the last weeks before the final hearing. */
static void plan_pah(planner_t *p)
{
    rng_t *r = &p->r;
    if (p->t_worker == NEVER || p->c->path == P_WTFH || !chance(r, P_PAH))
        return;
    int64_t t = p->t_close - uni(r, 28, 98) * MS_DAY;
    int64_t after = p->last_alloc + 10 * MS_DAY;
    for (uint32_t i = 0; i < p->n; i++) /* awaiting a hearing: after every report is filed */
        if (p->ev[i].kind == K(REPORT_FILED) && p->ev[i].at + MS_DAY > after)
            after = p->ev[i].at + MS_DAY;
    if (t < after)
        t = after;
    if (t >= p->t_close - 2 * MS_DAY)
        return;
    padd(p, t, K(ALLOCATED))->a = AT(POST_ASSESSMENT_HUB);
}

/* A close and reopen before the final close, in a quiet gap of the plan (1% of cases). */
static void plan_reopen(planner_t *p)
{
    rng_t *r = &p->r;
    if (!chance(r, P_REOPEN) || p->n < 3)
        return;
    sort_plan(p);
    for (uint32_t j = p->n - 1; j >= 2; j--) {
        int64_t a = p->ev[j - 1].at, b = p->ev[j].at;
        if (b - a < 12 * MS_DAY || a < p->t_worker || b > p->t_close)
            continue;
        int64_t t1 = a + uni(r, 1, 3) * MS_DAY;
        int64_t t2 = t1 + uni(r, 3, (b - t1) / MS_DAY - 2) * MS_DAY;
        gev_t *e = padd(p, t1, K(CASE_CLOSED));
        e->a = chance(r, 0.5) ? CO(FINAL_ORDER) : CO(OTHER);
        e->b = 0; /* not the final close */
        e = padd(p, t2, K(CASE_REOPENED));
        e->a = (uint8_t)uni(r, 0, 6);
        return;
    }
}

static int draw_outcome(rng_t *r, bool before_first_hearing)
{
    if (before_first_hearing)
        return chance(r, 0.8) ? CO(WITHDRAWN) : CO(TRANSFERRED);
    double u = u01(r);
    if (u < 0.76)
        return CO(FINAL_ORDER);
    if (u < 0.86)
        return CO(WITHDRAWN);
    if (u < 0.91)
        return CO(NO_ORDER);
    if (u < 0.93)
        return CO(REFUSED);
    if (u < 0.96)
        return CO(TRANSFERRED);
    if (u < 0.98)
        return CO(CONSOLIDATED);
    return CO(OTHER);
}

/*
 * Stock cases (started before sim_start): the history before sim_start is compressed into
 * events at sim_start + k ms. Kept: case_opened (type and children as at sim_start, true
 * issued_at), the latest allocation, every child_seen, hearings / reports / concerns that
 * still have an event after sim_start (all their events), the latest oversight, planning
 * meetings and s32 extensions. Dropped: finished hearings, reports and concerns, earlier
 * allocations and oversight, reclassifications (folded into the type), child_added (folded
 * into child_ids).
 */
static void compress_history(planner_t *p, int64_t S)
{
    enum { MAXID = 1024 };
    uint8_t keep_h[MAXID] = {0}, keep_r[MAXID] = {0}, keep_c[MAXID] = {0};
    gcase_t *c = p->c;
    uint32_t last_alloc = UINT32_MAX, last_ov = UINT32_MAX;

    for (uint32_t i = 0; i < p->n; i++) {
        gev_t *e = &p->ev[i];
        if (e->at < S || e->i >= MAXID)
            continue;
        switch (e->kind) {
        case K(HEARING_LISTED):
        case K(HEARING_HELD):
        case K(HEARING_ADJOURNED):
            keep_h[e->i] = 1;
            break;
        case K(REPORT_ORDERED):
        case K(REPORT_EXTENSION_AGREED):
        case K(REPORT_FILED):
            keep_r[e->i] = 1;
            break;
        case K(SAFEGUARDING_CONCERN_RAISED):
        case K(RISK_ASSESSMENT_RECORDED):
        case K(DOMESTIC_ABUSE_ASSESSED):
            keep_c[e->i] = 1;
            break;
        default:
            break;
        }
    }
    for (uint32_t i = 0; i < p->n && p->ev[i].at < S; i++) {
        gev_t *e = &p->ev[i];
        if (e->kind == K(ALLOCATED))
            last_alloc = i;
        else if (e->kind == K(MANAGEMENT_OVERSIGHT_RECORDED))
            last_ov = i;
        else if (e->kind == K(CASE_RECLASSIFIED))
            c->type = e->a;
        else if (e->kind == K(CHILD_ADDED))
            c->n_open_children++;
    }
    uint32_t w = 0;
    int64_t k = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        gev_t e = p->ev[i];
        if (e.at >= S) {
            p->ev[w++] = e;
            continue;
        }
        bool keep;
        switch (e.kind) {
        case K(CASE_OPENED):
        case K(CHILD_SEEN):
        case K(PLANNING_MEETING_HELD):
        case K(TIMETABLE_EXTENDED):
            keep = true;
            break;
        case K(ALLOCATED):
            keep = i == last_alloc;
            break;
        case K(MANAGEMENT_OVERSIGHT_RECORDED):
            keep = i == last_ov;
            break;
        case K(HEARING_LISTED):
        case K(HEARING_HELD):
        case K(HEARING_ADJOURNED):
        case K(SAFEGUARDING_LETTER_FILED):
            keep = e.i < MAXID && keep_h[e.i];
            break;
        case K(REPORT_ORDERED):
        case K(REPORT_EXTENSION_AGREED):
        case K(REPORT_FILED):
            keep = e.i < MAXID && keep_r[e.i];
            break;
        case K(SAFEGUARDING_CONCERN_RAISED):
        case K(RISK_ASSESSMENT_RECORDED):
        case K(DOMESTIC_ABUSE_ASSESSED):
            keep = e.i < MAXID && keep_c[e.i];
            break;
        default: /* child_added, reclassified, closed/reopened pairs */
            keep = false;
            break;
        }
        if (!keep)
            continue;
        e.at = S + k++;
        p->ev[w++] = e;
    }
    p->n = w;
}

/* Make times strictly increasing and drop anything after the final close. */
static void finalise_plan(planner_t *p)
{
    sort_plan(p);
    uint32_t n = 0;
    while (n < p->n) {
        gev_t *e = &p->ev[n];
        if (n > 0 && e->at <= p->ev[n - 1].at)
            e->at = p->ev[n - 1].at + 1;
        n++;
        if (e->kind == K(CASE_CLOSED) && e->b)
            break;
    }
    p->n = n;
}

/* ---- natural scenario assessment -------------------------------------------------------- */

static void sc_count(cw_gen_t *g, bool *done, int sc, int64_t t)
{
    if (done[sc] || t < g->window_start_ms || t >= g->end_ms)
        return;
    done[sc] = true;
    g->truth.sc_arising[sc]++;
}

/* Count, from the final plan, the alert scenarios whose trigger falls in the window. */
static void assess_plan(cw_gen_t *g, gcase_t *c)
{
    bool done[CW_GEN_SC__COUNT] = {false};
    const gev_t *ev = c->plan;
    uint32_t n = c->n_plan;
    if (n == 0)
        return;
    int64_t t_close = ev[n - 1].kind == K(CASE_CLOSED) ? ev[n - 1].at : NEVER;
    int64_t t_open = ev[0].at;
    int64_t start = c->start_ms;

    if (start + CW_GEN_OPEN_LONG_DAYS * MS_DAY < t_close)
        sc_count(g, done, CW_GEN_SC_OPEN_52W, start + CW_GEN_OPEN_LONG_DAYS * MS_DAY);
    if (start + CW_GEN_OPEN_VERY_LONG_DAYS * MS_DAY < t_close)
        sc_count(g, done, CW_GEN_SC_OPEN_100W, start + CW_GEN_OPEN_VERY_LONG_DAYS * MS_DAY);

    int64_t t_first_alloc = NEVER, t_first_worker = NEVER, t_first_ov = NEVER, t_s32 = NEVER;
    int64_t t_r0 = c->path == P_R164D ? start : NEVER, t_pm = NEVER, t_final = NEVER;
    int64_t t_fhdra = 0, t_letter = NEVER;
    bool hub = false;
    uint64_t seen_ip = 0;
    int n_children = 0;
    int64_t first_seen[CW_EVENT_CHILDREN_MAX];
    for (int k = 0; k < CW_EVENT_CHILDREN_MAX; k++)
        first_seen[k] = NEVER;
    enum { MAXC = 64 };
    int64_t conc_at[MAXC], conc_16a[MAXC], conc_da[MAXC];
    bool conc_is_da[MAXC];
    int64_t rep_due[MAXC], rep_filed[MAXC];
    bool rep_s7[MAXC];
    for (int k = 0; k < MAXC; k++) {
        conc_at[k] = conc_16a[k] = conc_da[k] = rep_due[k] = rep_filed[k] = NEVER;
        conc_is_da[k] = rep_s7[k] = false;
    }

    for (uint32_t i = 0; i < n; i++) {
        const gev_t *e = &ev[i];
        switch (e->kind) {
        case K(CASE_OPENED):
            n_children = c->n_open_children;
            break;
        case K(CHILD_ADDED):
            n_children++;
            break;
        case K(ALLOCATED):
            if (e->a == AT(ALLOCATION_HUB))
                hub = true;
            if (e->a != AT(DUTY) && t_first_alloc == NEVER)
                t_first_alloc = e->at;
            if (e->a == AT(WORKER) && t_first_worker == NEVER)
                t_first_worker = e->at;
            break;
        case K(MANAGEMENT_OVERSIGHT_RECORDED):
            if (t_first_worker != NEVER && t_first_ov == NEVER)
                t_first_ov = e->at;
            break;
        case K(CHILD_SEEN):
            if (first_seen[e->a] == NEVER)
                first_seen[e->a] = e->at;
            if (e->b)
                seen_ip |= 1ULL << e->a;
            break;
        case K(TIMETABLE_EXTENDED):
            if (t_s32 == NEVER)
                t_s32 = e->at;
            break;
        case K(CASE_RECLASSIFIED):
            if (e->a == CT(RULE_16_4))
                t_r0 = e->at;
            break;
        case K(PLANNING_MEETING_HELD):
            if (t_pm == NEVER)
                t_pm = e->at;
            break;
        case K(HEARING_LISTED):
            if (e->a == HK(FIRST_HEARING_FHDRA) && t_fhdra == 0)
                t_fhdra = e->t;
            break;
        case K(HEARING_HELD):
            if (e->a == HK(FINAL) && t_final == NEVER && t_r0 != NEVER)
                t_final = e->at;
            break;
        case K(SAFEGUARDING_LETTER_FILED):
            if (t_letter == NEVER)
                t_letter = e->at;
            break;
        case K(SAFEGUARDING_CONCERN_RAISED):
            if (e->i < MAXC) {
                conc_at[e->i] = e->at;
                conc_is_da[e->i] = e->a == CK(DOMESTIC_ABUSE);
            }
            break;
        case K(RISK_ASSESSMENT_RECORDED):
            if (e->i < MAXC && conc_16a[e->i] == NEVER)
                conc_16a[e->i] = e->at;
            break;
        case K(DOMESTIC_ABUSE_ASSESSED):
            if (e->i < MAXC && conc_da[e->i] == NEVER)
                conc_da[e->i] = e->at;
            break;
        case K(REPORT_ORDERED):
            if (e->i < MAXC) {
                rep_due[e->i] = e->t;
                rep_s7[e->i] = e->a == RK(S7_REPORT);
            }
            break;
        case K(REPORT_EXTENSION_AGREED):
            if (e->i < MAXC)
                rep_due[e->i] = e->t;
            break;
        case K(REPORT_FILED): {
            if (e->i < MAXC)
                rep_filed[e->i] = e->at;
            uint64_t all = n_children >= 64 ? ~0ULL : (1ULL << n_children) - 1;
            if ((seen_ip & all) != all)
                sc_count(g, done, CW_GEN_SC_NOT_SEEN_IN_PERSON, e->at);
            for (int k = 1; k < MAXC; k++)
                if (conc_is_da[k] && conc_at[k] < e->at && conc_da[k] == NEVER)
                    sc_count(g, done, CW_GEN_SC_DA_NOT_ASSESSED, e->at);
            break;
        }
        default:
            break;
        }
    }

    if (c->path == P_CARE || c->path == P_SUP) {
        int64_t t = start + CW_GEN_CARE_LIMIT_DAYS * MS_DAY;
        if (t < t_close && (t_s32 == NEVER || t_s32 > t))
            sc_count(g, done, CW_GEN_SC_CARE_PAST_26W, t);
    }
    if (!hub) {
        int64_t dl = wd_deadline(g, t_open, CW_GEN_DUTY_LIMIT_WD);
        if (dl < t_close && t_first_alloc > dl)
            sc_count(g, done, CW_GEN_SC_DUTY_PAST_LIMIT, dl);
    }
    if (c->welfare && prio_at(g, c->area, t_open)) {
        int64_t dl = wd_deadline(g, t_open, CW_GEN_WELFARE_LIMIT_WD);
        if (dl < t_close && t_first_alloc > dl)
            sc_count(g, done, CW_GEN_SC_WELFARE_UNALLOCATED, dl);
    }
    if (t_first_worker != NEVER) {
        int64_t dl = wd_deadline(g, t_first_worker, CW_GEN_SEEN_LIMIT_WD);
        for (int k = 0; k < n_children && k < CW_EVENT_CHILDREN_MAX; k++)
            if (dl < t_close && first_seen[k] > dl)
                sc_count(g, done, CW_GEN_SC_CHILD_NOT_SEEN, dl);
        dl = wd_deadline(g, t_first_worker, CW_GEN_OVERSIGHT_LIMIT_WD);
        if (dl < t_close && t_first_ov > dl)
            sc_count(g, done, CW_GEN_SC_NO_OVERSIGHT, dl);
    }
    for (int k = 1; k < MAXC; k++) {
        if (conc_at[k] != NEVER) {
            int64_t dl = wd_deadline(g, conc_at[k], CW_GEN_16A_LIMIT_WD);
            if (dl < t_close && conc_16a[k] > dl)
                sc_count(g, done, CW_GEN_SC_CONCERN_NO_16A, dl);
        }
        if (rep_s7[k] && rep_due[k] != NEVER) {
            int64_t dl = dms(day_of(rep_due[k]) + 1);
            if (dl < t_close && (rep_filed[k] == NEVER || rep_filed[k] >= dl))
                sc_count(g, done, CW_GEN_SC_S7_PAST_DUE, dl);
        }
    }
    if (t_fhdra) {
        int64_t dl = dms(wd_add(g, day_of(t_fhdra), -CW_GEN_LETTER_BEFORE_WD) + 1);
        if (dl < t_close && t_letter >= dl)
            sc_count(g, done, CW_GEN_SC_NO_SAFEGUARDING_LETTER, dl);
    }
    if (t_r0 != NEVER) {
        int64_t dl = t_r0 + CW_GEN_R164_PLANNING_DAYS * MS_DAY;
        if (dl < t_close && t_pm > dl)
            sc_count(g, done, CW_GEN_SC_R164_NO_PLANNING, dl);
        dl = t_r0 + CW_GEN_R164_FINAL_DAYS * MS_DAY;
        if (dl < t_close && t_final > dl)
            sc_count(g, done, CW_GEN_SC_R164_NO_FINAL_6M, dl);
    }
}

/* ---- cases ------------------------------------------------------------------------------ */

/* Queue a live case at its next event. A case is queued at most once (it is re-queued only
 * after it was popped), so the (time, case number) order is strict: ties go to the lower
 * number. */
static void heap_push(cw_gen_t *g, gcase_t *c)
{
    if (c->no >= g->by_no_cap) {
        size_t cap = g->by_no_cap ? g->by_no_cap : 1024;
        while (cap <= c->no)
            cap *= 2;
        g->by_no = cw_realloc(g->by_no, cap * sizeof *g->by_no);
        memset(g->by_no + g->by_no_cap, 0, (cap - g->by_no_cap) * sizeof *g->by_no);
        g->by_no_cap = cap;
    }
    g->by_no[c->no] = c;
    cw_deadlines_schedule(g->live, c->no, c->plan[c->next].at);
}

/* The case whose next event is the earliest (the heap is not empty). */
static gcase_t *heap_pop(cw_gen_t *g)
{
    uint64_t no;
    int64_t at;
    bool popped = cw_deadlines_pop_due(g->live, INT64_MAX, &no, &at);
    CW_ASSERT(popped);
    (void)popped;
    gcase_t *c = g->by_no[no];
    g->by_no[no] = NULL;
    return c;
}

static void case_free(gcase_t *c)
{
    if (!c)
        return;
    free(c->plan);
    free(c);
}

/*
 * Create and plan one case started on `start` (a working day) with the given path and
 * duration; push it on the heap. `stock`: started before sim_start (history compressed).
 */
static void case_create(cw_gen_t *g, cw_day_t start, int path, int dur, int area, int scen,
                        bool welfare_forced)
{
    gcase_t *c = cw_calloc(1, sizeof *c);
    c->no = ++g->next_case_no;
    c->area = (int16_t)area;
    c->path = (uint8_t)path;
    c->type = (uint8_t)path_open_type[path];
    c->worker = -1;
    c->start_day = start;
    c->stock = dms(start) < g->sim_start_ms;
    c->window_case = start >= g->truth.window_start && start <= g->truth.window_end;

    planner_t P = {.g = g, .c = c, .scen = scen, .t_worker = NEVER, .last_alloc = 0};
    rng_seed(&P.r, g->cfg.seed, c->no);
    rng_t *r = &P.r;

    /* team: one of the service area's teams, by size */
    int osa = areas[area].osa;
    int nt = g->osa_n_teams[osa];
    c->team = (int16_t)(g->osa_first_team[osa] + (int)uni(r, 0, nt - 1));

    bool private_law = !is_public_path(path);
    c->welfare = welfare_forced || (private_law && chance(r, P_WELFARE_PRIVATE));

    int64_t t_issue = at_hours(r, start, 9, 12);
    c->start_ms = t_issue;
    P.t_open = t_issue + uni(r, 10, 240) * MS_MIN;
    cw_day_t close_day = wd_next(g, start + dur);
    if (close_day <= start)
        close_day = wd_add(g, start, 1);
    P.close_day = close_day;
    P.t_close = at_hours(r, close_day, 15, 17.5);
    c->pathfinder = private_law && P.t_open >= g->pathfinder_from[area];

    double long_share = dur <= 182 ? 0 : dur >= 482 ? 1 : (dur - 182) / 300.0;
    int extra = poisson(r, !private_law ? CHILD_EXTRA_PUBLIC + CHILD_EXTRA_PUBLIC_LONG * long_share
                           : path == P_WTFH ? CHILD_EXTRA_PRIVATE_SHORT
                                            : CHILD_EXTRA_PRIVATE_LONG);
    c->n_open_children = (uint8_t)(1 + (extra > 11 ? 11 : extra));
    c->n_children = c->n_open_children;

    gev_t *e = padd(&P, P.t_open, K(CASE_OPENED));
    e->ord = ORD_FIRST;
    e->t = t_issue;
    if (chance(r, P_CHILD_ADDED)) {
        int64_t t = at_hours(r, wd_add(g, start, (int)uni(r, 5, 60)), 9, 17);
        if (t < P.t_close) {
            P.t_child_added = t;
            e = padd(&P, t, K(CHILD_ADDED));
            e->a = c->n_children++;
        }
    }

    P.t_worker = plan_allocation(&P);
    plan_worker_work(&P);
    if (is_public_path(path))
        plan_public(&P);
    else
        plan_private(&P);
    plan_pah(&P);
    if (!c->stock)
        plan_reopen(&P);

    /* the close: always the last event of the plan */
    bool before_fh = true;
    for (uint32_t i = 0; i < P.n && before_fh; i++)
        if (P.ev[i].kind == K(HEARING_HELD) && P.ev[i].at <= P.t_close)
            before_fh = false;
    e = padd(&P, P.t_close, K(CASE_CLOSED));
    e->ord = ORD_LAST;
    e->a = (uint8_t)draw_outcome(r, before_fh);
    e->b = 1; /* the final close */

    if (c->stock) {
        sort_plan(&P);
        compress_history(&P, g->sim_start_ms);
    }
    finalise_plan(&P);

    c->plan = P.ev;
    c->n_plan = P.n;
    c->next = 0;
    c->n_children = 0; /* counted again as events are emitted */
    assess_plan(g, c);
    if (scen >= 0) {
        cw_gen_truth_t *t = &g->truth;
        if (t->sc_injected[scen] < 3)
            t->sc_example[scen][t->sc_injected[scen]] = c->no;
        t->sc_injected[scen]++;
    }
    heap_push(g, c);
}

/* The area pseudo-case: prioritisation activated / deactivated events. */
static void area_events_create(cw_gen_t *g)
{
    gcase_t *c = cw_calloc(1, sizeof *c);
    c->no = 0;
    c->worker = -1;
    planner_t P = {.g = g, .c = c};
    rng_seed(&P.r, g->cfg.seed, 0xa5ea);
    for (int a = 0; a < N_AREAS; a++) {
        if (g->prio_on[a] != NEVER)
            padd(&P, g->prio_on[a], K(PRIORITISATION_ACTIVATED))->a = (uint8_t)a;
        if (g->prio_off[a] != NEVER)
            padd(&P, g->prio_off[a], K(PRIORITISATION_DEACTIVATED))->a = (uint8_t)a;
    }
    sort_plan(&P);
    c->plan = P.ev;
    c->n_plan = P.n;
    if (P.n == 0) {
        case_free(c);
        return;
    }
    heap_push(g, c);
}

/* Pick the scenario for a new window case, if its turn has come. */
static int next_scenario(cw_gen_t *g, bool any_prioritised)
{
    if (g->cfg.scenario_rate <= 0)
        return -1;
    g->scen_acc += g->cfg.scenario_rate;
    if (g->scen_acc < 1.0)
        return -1;
    g->scen_acc -= 1.0;
    int sc = injectable[g->scen_next++ % (int)CW_ARRAY_LEN(injectable)];
    if (sc == CW_GEN_SC_WELFARE_UNALLOCATED && !any_prioritised)
        sc = CW_GEN_SC_DUTY_PAST_LIMIT;
    return sc;
}

static void arrivals(cw_gen_t *g, cw_day_t d)
{
    rng_t *r = &g->rng_arr;
    int n = poisson(r, arrivals_per_day(g, d));
    bool in_window = d >= g->truth.window_start;
    int64_t t_mid = dms(d) + 12 * MS_HOUR;
    int prio_areas[N_AREAS], n_prio = 0;
    for (int a = 0; a < N_AREAS; a++)
        if (prio_at(g, a, t_mid))
            prio_areas[n_prio++] = a;

    for (int i = 0; i < n; i++) {
        int path = draw_path(r);
        int dur = draw_duration(r, path);
        int area = draw_area(g, r);
        int sc = in_window ? next_scenario(g, n_prio > 0) : -1;
        bool welfare = false;
        switch (sc) {
        case CW_GEN_SC_CARE_PAST_26W:
            path = P_CARE;
            while ((dur = draw_duration(r, path)) < 210)
                ;
            break;
        case CW_GEN_SC_S7_PAST_DUE:
        case CW_GEN_SC_NOT_SEEN_IN_PERSON:
        case CW_GEN_SC_DA_NOT_ASSESSED:
            path = P_WAFH;
            while ((dur = draw_duration(r, path)) < 200)
                ;
            break;
        case CW_GEN_SC_R164_NO_PLANNING:
            path = P_R164D;
            dur = draw_duration(r, path);
            break;
        case CW_GEN_SC_NO_SAFEGUARDING_LETTER:
        case CW_GEN_SC_CONCERN_NO_16A:
        case CW_GEN_SC_DUTY_PAST_LIMIT:
            path = P_WTFH;
            while ((dur = draw_duration(r, path)) < 70)
                ;
            break;
        case CW_GEN_SC_CHILD_NOT_SEEN:
        case CW_GEN_SC_NO_OVERSIGHT:
            if (path == P_WTFH || path == P_OPL)
                path = P_CARE;
            dur = draw_duration(r, path);
            if (dur < 90)
                dur = 90;
            break;
        case CW_GEN_SC_WELFARE_UNALLOCATED:
            path = P_WTFH;
            while ((dur = draw_duration(r, path)) < 70)
                ;
            area = prio_areas[uni(r, 0, n_prio - 1)];
            welfare = true;
            break;
        default:
            break;
        }
        case_create(g, d, path, dur, area, sc, welfare);
    }
}

/* Pre-history: arrivals before sim_start that are still open at sim_start. */
static void prehistory(cw_gen_t *g)
{
    rng_t *r = &g->rng_pre;
    cw_day_t S = g->truth.sim_start;
    for (cw_day_t d = S - PREHISTORY_DAYS; d < S; d++) {
        if (!is_working(g, d))
            continue;
        int n = poisson(r, arrivals_per_day(g, d));
        for (int i = 0; i < n; i++) {
            int path = draw_path(r);
            int dur = draw_duration(r, path);
            int area = draw_area(g, r);
            if (wd_next(g, d + dur) < S)
                continue;
            case_create(g, d, path, dur, area, -1, false);
            g->truth.stock_at_start++;
        }
    }
}

/* ---- emission --------------------------------------------------------------------------- */

static int pick_worker(cw_gen_t *g, const gcase_t *c)
{
    const team_t *t = &g->teams[c->team];
    rng_t *r = &g->rng_dyn;
    int a = t->first_worker + (int)uni(r, 0, t->n_workers - 1);
    int b = t->first_worker + (int)uni(r, 0, t->n_workers - 1);
    if (t->n_workers > 1) {
        while (a == c->worker)
            a = t->first_worker + (int)uni(r, 0, t->n_workers - 1);
        while (b == c->worker)
            b = t->first_worker + (int)uni(r, 0, t->n_workers - 1);
    }
    return (double)g->load[b] / g->cap[b] < (double)g->load[a] / g->cap[a] ? b : a;
}

static bool is_court_event(int kind)
{
    switch (kind) {
    case K(CASE_OPENED):
    case K(HEARING_LISTED):
    case K(HEARING_HELD):
    case K(HEARING_ADJOURNED):
    case K(REPORT_ORDERED):
    case K(REPORT_EXTENSION_AGREED):
    case K(TIMETABLE_EXTENDED):
    case K(CASE_RECLASSIFIED):
        return true;
    default:
        return false;
    }
}

static void closed_stats_add(cw_gen_t *g, const gcase_t *c, int64_t closed_at)
{
    cw_day_t cd = day_of(closed_at);
    if (cd < g->truth.window_start || cd > g->truth.window_end)
        return;
    cw_gen_truth_t *t = &g->truth;
    double weeks = (double)(closed_at - c->start_ms) / (7.0 * MS_DAY);
    t->closed[c->type]++;
    t->closed_mean_weeks[c->type] += weeks; /* sums until finish_truth() */
    t->closed[0]++;
    t->closed_mean_weeks[0] += weeks;
    if (c->type == CT(PUBLIC_LAW_S31_CARE) || c->type == CT(PUBLIC_LAW_S31_SUPERVISION)) {
        t->closed_s31++;
        t->closed_s31_mean_weeks += weeks;
        if (closed_at - c->start_ms <= (int64_t)CW_GEN_CARE_LIMIT_DAYS * MS_DAY)
            t->closed_s31_within_26w += 1;
    }
}

/* Apply an emitted event to the case's live state (caseloads, truth counters). */
static void apply_emitted(cw_gen_t *g, gcase_t *c, const gev_t *e, bool in_window)
{
    cw_gen_truth_t *t = &g->truth;
    switch (e->kind) {
    case K(CASE_OPENED):
        c->opened = true;
        c->n_children = c->n_open_children;
        t->cases_emitted++;
        if (c->window_case) {
            t->new_cases[c->type]++;
            t->new_cases[0]++;
            t->new_children += c->n_children;
        }
        break;
    case K(CHILD_ADDED):
        c->n_children++;
        if (c->window_case)
            t->new_children++;
        break;
    case K(ALLOCATED):
        if (c->worker >= 0 && !c->closed)
            g->load[c->worker]--;
        c->alloc = e->a;
        if (e->a == AT(WORKER)) {
            c->worker = pick_worker(g, c);
            if (!c->closed)
                g->load[c->worker]++;
        } else {
            c->worker = -1;
        }
        break;
    case K(CHILD_SEEN):
        c->seen_mask |= 1ULL << e->a;
        if (e->b)
            c->in_person_mask |= 1ULL << e->a;
        break;
    case K(CASE_RECLASSIFIED):
        c->type = e->a;
        break;
    case K(REPORT_FILED):
        if (in_window && e->a == RK(S7_REPORT)) {
            t->s7_filed++;
            t->s7_on_time += e->b & 1;
            t->s7_extended += (e->b >> 1) & 1;
        }
        break;
    case K(CASE_CLOSED):
        if (c->worker >= 0 && !c->closed)
            g->load[c->worker]--;
        c->closed = true;
        c->closed_at = e->at;
        if (e->b)
            closed_stats_add(g, c, e->at);
        break;
    case K(CASE_REOPENED):
        if (c->worker >= 0 && c->closed)
            g->load[c->worker]++;
        c->closed = false;
        break;
    case K(PRIORITISATION_ACTIVATED):
        g->prio_active[e->a] = true;
        break;
    case K(PRIORITISATION_DEACTIVATED):
        g->prio_active[e->a] = false;
        break;
    default:
        break;
    }
}

static const char *child_name(cw_gen_t *g, int k)
{
    return g->child_names[k];
}

/* The team of a case event; area events (the pseudo-case 0) have none. */
static const team_t *case_team(const cw_gen_t *g, const gcase_t *c)
{
    return c->no == 0 ? NULL : &g->teams[c->team];
}

/* The ids the plan numbers within a case: hearings "h-<i>", reports "r-<i>", concerns
 * "q-<i>". In the scratch buffer: one per event. */
static char *plan_id(scratch_t *s, char prefix, unsigned i)
{
    snprintf(s->id1, sizeof s->id1, "%c-%u", prefix, i);
    return s->id1;
}

/* The envelope: event id g<seed>-<seq>, the case id (empty for area events) and the source,
 * the court's system for court events, the case management system otherwise. */
static void build_envelope(cw_gen_t *g, const gcase_t *c, const gev_t *e)
{
    scratch_t *s = &g->s;
    snprintf(s->event_id, sizeof s->event_id, "g%" PRIu64 "-%" PRIu64, g->cfg.seed, g->seq);
    if (c->no == 0) {
        s->case_id[0] = '\0';
        snprintf(s->source, sizeof s->source, "cms");
    } else {
        snprintf(s->case_id, sizeof s->case_id, "c-%" PRIu32, c->no);
        if (is_court_event(e->kind))
            snprintf(s->source, sizeof s->source, "court:%s", areas[c->area].code);
        else
            snprintf(s->source, sizeof s->source, "cms");
    }
    cw_evbuild_envelope(&s->ev, s->event_id, s->case_id, s->source, e->at);
}

static void build_case_opened(cw_gen_t *g, const gcase_t *c, const gev_t *e,
                              Casewatch__V1__CaseOpened *m)
{
    scratch_t *s = &g->s;
    m->case_type = (Casewatch__V1__CaseType)c->type;
    m->court_area = (char *)areas[c->area].code;
    m->service_area = (char *)osa_codes[areas[c->area].osa];
    m->team = (char *)case_team(g, c)->code;
    m->issued_at = e->t;
    for (int k = 0; k < c->n_open_children; k++)
        s->children[k] = (char *)child_name(g, k);
    m->n_child_ids = c->n_open_children;
    m->child_ids = s->children;
    m->welfare_at_risk = c->welfare;
    m->pathfinder = c->pathfinder;
    if (is_public_path(c->path)) {
        snprintf(s->la, sizeof s->la, "la-%s-%u", areas[c->area].code, 1 + c->no % 3);
        m->local_authority = s->la;
    }
}

static void build_allocated(cw_gen_t *g, const gcase_t *c, const gev_t *e,
                            Casewatch__V1__Allocated *m)
{
    m->target = (Casewatch__V1__AllocationTarget)e->a;
    if (e->a == AT(WORKER))
        m->worker_id = g->worker_ids[c->worker];
    if (e->a == AT(WORKER) || e->a == AT(TEAM))
        m->team = (char *)case_team(g, c)->code;
    m->reallocation = e->b != 0;
}

static void build_child_seen(cw_gen_t *g, const gcase_t *c, const gev_t *e,
                             Casewatch__V1__ChildSeen *m)
{
    m->child_id = (char *)child_name(g, e->a);
    m->in_person = e->b != 0;
    if (c->worker >= 0)
        m->worker_id = g->worker_ids[c->worker];
}

static void build_concern_raised(cw_gen_t *g, const gcase_t *c, const gev_t *e,
                                 Casewatch__V1__SafeguardingConcernRaised *m)
{
    m->concern_id = plan_id(&g->s, 'q', e->i);
    m->concern_kind = (Casewatch__V1__ConcernKind)e->a;
    if (e->b && e->b <= c->n_children)
        m->child_id = (char *)child_name(g, e->b - 1);
}

/* The hearing, report and concern events: their plan number and the plan's a / t fields. */
static void build_numbered(cw_gen_t *g, const gev_t *e, cw_evbuild_payload_t *p)
{
    scratch_t *s = &g->s;
    switch (e->kind) {
    case K(HEARING_LISTED):
        p->hearing_listed.hearing_id = plan_id(s, 'h', e->i);
        p->hearing_listed.hearing_kind = (Casewatch__V1__HearingKind)e->a;
        p->hearing_listed.listed_for = e->t;
        break;
    case K(HEARING_HELD):
        p->hearing_held.hearing_id = plan_id(s, 'h', e->i);
        p->hearing_held.hearing_kind = (Casewatch__V1__HearingKind)e->a;
        p->hearing_held.effective = e->b != 0;
        break;
    case K(HEARING_ADJOURNED):
        p->hearing_adjourned.hearing_id = plan_id(s, 'h', e->i);
        p->hearing_adjourned.relisted_for = e->t;
        p->hearing_adjourned.reason = (Casewatch__V1__AdjournReason)e->a;
        break;
    case K(REPORT_ORDERED):
        p->report_ordered.report_id = plan_id(s, 'r', e->i);
        p->report_ordered.report_kind = (Casewatch__V1__ReportKind)e->a;
        p->report_ordered.due_at = e->t;
        break;
    case K(REPORT_EXTENSION_AGREED):
        p->report_extension_agreed.report_id = plan_id(s, 'r', e->i);
        p->report_extension_agreed.new_due_at = e->t;
        break;
    case K(REPORT_FILED):
        p->report_filed.report_id = plan_id(s, 'r', e->i);
        p->report_filed.report_kind = (Casewatch__V1__ReportKind)e->a;
        break;
    case K(RISK_ASSESSMENT_RECORDED):
        p->risk_assessment_recorded.concern_id = plan_id(s, 'q', e->i);
        break;
    case K(DOMESTIC_ABUSE_ASSESSED):
        p->domestic_abuse_assessed.concern_id = plan_id(s, 'q', e->i);
        break;
    case K(SAFEGUARDING_LETTER_FILED):
        p->safeguarding_letter_filed.hearing_id = plan_id(s, 'h', e->i);
        break;
    default:
        break;
    }
}

/* Build the protobuf message for a planned event. Call after apply_emitted(). */
static void build_event(cw_gen_t *g, const gcase_t *c, const gev_t *e)
{
    cw_evbuild_payload_t *p = &g->s.p;
    build_envelope(g, c, e);
    void *m = cw_evbuild_payload(&g->s.ev, p, e->kind);

    switch (e->kind) {
    case K(CASE_OPENED):
        build_case_opened(g, c, e, m);
        break;
    case K(CHILD_ADDED):
        p->child_added.child_id = (char *)child_name(g, e->a);
        break;
    case K(ALLOCATED):
        build_allocated(g, c, e, m);
        break;
    case K(CHILD_SEEN):
        build_child_seen(g, c, e, m);
        break;
    case K(SAFEGUARDING_CONCERN_RAISED):
        build_concern_raised(g, c, e, m);
        break;
    case K(MANAGEMENT_OVERSIGHT_RECORDED):
        p->management_oversight_recorded.manager_id = (char *)case_team(g, c)->manager;
        p->management_oversight_recorded.oversight_kind = (Casewatch__V1__OversightKind)e->a;
        break;
    case K(PRIORITISATION_ACTIVATED):
        p->prioritisation_activated.court_area = (char *)areas[e->a].code;
        break;
    case K(PRIORITISATION_DEACTIVATED):
        p->prioritisation_deactivated.court_area = (char *)areas[e->a].code;
        break;
    case K(CASE_CLOSED):
        p->case_closed.outcome = (Casewatch__V1__CloseOutcome)e->a;
        break;
    case K(CASE_REOPENED):
        p->case_reopened.reason = (Casewatch__V1__ReopenReason)e->a;
        break;
    case K(TIMETABLE_EXTENDED):
        p->timetable_extended.weeks = e->a;
        break;
    case K(CASE_RECLASSIFIED):
        p->case_reclassified.new_case_type = (Casewatch__V1__CaseType)e->a;
        break;
    default: /* the numbered kinds; planning_meeting_held has no fields */
        build_numbered(g, e, p);
        break;
    }
}

/* ---- truth at the end -------------------------------------------------------------------- */

static double share(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

/* The truth's open stock at the end, one live case at a time (the area case is not one). */
static void truth_live_case(void *arg, uint64_t no, int64_t next_at)
{
    cw_gen_t *g = arg;
    cw_gen_truth_t *t = &g->truth;
    cw_day_t E = t->window_end;
    const gcase_t *c = g->by_no[no];
    if (c->no == 0 || !c->opened)
        return;
    if (c->closed) {
        closed_stats_add(g, c, c->closed_at); /* closed now, reopened after the end */
        return;
    }
    if (c->start_day > E)
        return;
    t->open_cases++;
    t->open_children += c->n_children;
    t->open_by_type[c->type]++;
    int law = c->type <= CT(PUBLIC_LAW_OTHER) ? 0 : 1;
    if (c->start_day <= E - CW_GEN_OPEN_LONG_DAYS) {
        t->open_52w_cases[law]++;
        t->open_52w_children[law] += c->n_children;
    }
    if (c->start_day <= E - CW_GEN_OPEN_VERY_LONG_DAYS) {
        t->open_100w_cases[law]++;
        t->open_100w_children[law] += c->n_children;
    }
    int slot;
    switch (c->alloc) {
    case AT(WORKER):
    case AT(TEAM):
        slot = 0;
        break;
    case AT(POST_ASSESSMENT_HUB):
        slot = 2;
        break;
    case AT(ALLOCATION_HUB):
        slot = 3;
        break;
    default:
        slot = 1;
        break;
    }
    t->alloc[slot]++;
    if (slot == 0) {
        for (int k = 0; k < c->n_children; k++) {
            t->seen_children++;
            t->seen += (c->seen_mask >> k) & 1;
            t->seen_in_person += (c->in_person_mask >> k) & 1;
        }
    }
}

static void finish_truth(cw_gen_t *g)
{
    cw_gen_truth_t *t = &g->truth;

    cw_deadlines_foreach(g->live, truth_live_case, g);
    for (int i = 0; i < 4; i++)
        t->alloc_share[i] = share(t->alloc[i], t->open_cases);
    for (int i = 0; i < 7; i++)
        t->closed_mean_weeks[i] = t->closed[i] ? t->closed_mean_weeks[i] / (double)t->closed[i] : 0;
    t->closed_s31_within_26w = t->closed_s31 ? t->closed_s31_within_26w / (double)t->closed_s31 : 0;
    t->closed_s31_mean_weeks = t->closed_s31 ? t->closed_s31_mean_weeks / (double)t->closed_s31 : 0;
    t->window_workdays = cw_workdays_count(g->cfg.workdays, t->window_start, t->window_end);
    t->new_cases_per_workday =
        t->window_workdays ? (double)t->new_cases[0] / t->window_workdays : 0;
    t->children_per_new_case = share(t->new_children, t->new_cases[0]);
    t->s7_on_time_share = share(t->s7_on_time, t->s7_filed);
    t->s7_extended_share = share(t->s7_extended, t->s7_filed);
    t->seen_share = share(t->seen, t->seen_children);
    t->seen_in_person_share = share(t->seen_in_person, t->seen_children);

    uint64_t total = 0;
    t->workers = g->n_workers;
    for (int w = 0; w < g->n_workers; w++) {
        if (g->load[w] > 0) {
            t->workers_with_cases++;
            total += (uint64_t)g->load[w];
        }
        if (g->load[w] > t->caseload_max)
            t->caseload_max = g->load[w];
        if (g->load[w] > CW_GEN_CASELOAD_LIMIT)
            t->sc_arising[CW_GEN_SC_CASELOAD_OVER]++;
    }
    t->caseload_mean = share(total, (uint64_t)t->workers_with_cases);
    t->n_prioritised = 0;
    for (int a = 0; a < N_AREAS; a++)
        if (g->prio_active[a] && t->n_prioritised < (int)CW_ARRAY_LEN(t->prioritised))
            t->prioritised[t->n_prioritised++] = areas[a].code;
}

/* ---- public ------------------------------------------------------------------------------ */

void cw_gen_config_init(cw_gen_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->days = 365;
    cfg->warmup_days = 1095;
    cfg->scale = 1.0;
    cfg->scenario_rate = 0.004;
}

static void build_service(cw_gen_t *g)
{
    /* workers sized so that the mean caseload of open worker-allocated cases is 19.3 */
    int total = (int)lround(TARGET_OPEN * WORKER_SHARE * g->cfg.scale / TARGET_CASELOAD);
    double osa_w[N_OSA] = {0}, sum = 0;
    for (int a = 0; a < N_AREAS; a++) {
        osa_w[areas[a].osa] += areas[a].weight;
        sum += areas[a].weight;
    }
    int per_osa[N_OSA], n_teams = 0;
    g->n_workers = 0;
    for (int o = 0; o < N_OSA; o++) {
        per_osa[o] = (int)lround(total * osa_w[o] / sum);
        if (per_osa[o] < 1)
            per_osa[o] = 1;
        g->n_workers += per_osa[o];
        int nt = (per_osa[o] + 7) / 8; /* teams of about eight FCAs */
        g->osa_first_team[o] = n_teams;
        g->osa_n_teams[o] = nt;
        n_teams += nt;
    }
    g->n_teams = n_teams;
    g->teams = cw_calloc((size_t)n_teams, sizeof *g->teams);
    g->worker_ids = cw_calloc((size_t)g->n_workers, sizeof *g->worker_ids);
    g->load = cw_calloc((size_t)g->n_workers, sizeof *g->load);
    g->cap = cw_calloc((size_t)g->n_workers, sizeof *g->cap);
    rng_t r;
    rng_seed(&r, g->cfg.seed, 0x7ea3);
    int w = 0;
    for (int o = 0; o < N_OSA; o++) {
        int nt = g->osa_n_teams[o];
        for (int k = 0; k < nt; k++) {
            team_t *t = &g->teams[g->osa_first_team[o] + k];
            snprintf(t->code, sizeof t->code, "%s-t%d", osa_codes[o], k + 1);
            snprintf(t->manager, sizeof t->manager, "m-%s", t->code);
            t->osa = o;
            t->first_worker = w;
            t->n_workers = per_osa[o] / nt + (k < per_osa[o] % nt ? 1 : 0);
            for (int j = 0; j < t->n_workers; j++, w++) {
                snprintf(g->worker_ids[w], sizeof g->worker_ids[w], "fca-%d", w + 1);
                double u = u01(&r);
                if (g->cfg.scenario_rate > 0 && u < 0.04) {
                    g->cap[w] = 1.9; /* carries far more than the team: caseload alert */
                    g->truth.sc_injected[CW_GEN_SC_CASELOAD_OVER]++;
                } else if (u < 0.16) {
                    g->cap[w] = 0.6; /* part time */
                } else {
                    g->cap[w] = 1.0;
                }
            }
        }
    }
}

cw_gen_t *cw_gen_new(const cw_gen_config_t *cfg, char *errstr, size_t errsz)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (errstr && errsz)                                                                       \
            snprintf(errstr, errsz, __VA_ARGS__);                                                  \
        return NULL;                                                                               \
    } while (0)
    if (!cfg || !cfg->workdays)
        FAIL("a working-day calendar is required");
    if (cfg->days < 1 || cfg->days > 3660)
        FAIL("days must be 1..3660, got %d", cfg->days);
    if (cfg->warmup_days < 0 || cfg->warmup_days > 3660)
        FAIL("warm-up days must be 0..3660, got %d", cfg->warmup_days);
    if (!(cfg->scale > 0 && cfg->scale <= 100))
        FAIL("scale must be in (0, 100], got %g", cfg->scale);
    if (!(cfg->scenario_rate >= 0 && cfg->scenario_rate <= 0.2))
        FAIL("scenario rate must be in [0, 0.2], got %g", cfg->scenario_rate);
    cw_day_t S = cfg->end_day - cfg->days - cfg->warmup_days + 1;
    if (S - PREHISTORY_DAYS < cw_day_from_ymd(1991, 1, 1) ||
        cfg->end_day > cw_day_from_ymd(9000, 1, 1))
        FAIL("end date out of range: the simulation needs ten years of history after 1990");
#undef FAIL

    cw_gen_t *g = cw_calloc(1, sizeof *g);
    g->live = cw_deadlines_new();
    g->cfg = *cfg;
    cw_gen_truth_t *t = &g->truth;
    t->seed = cfg->seed;
    t->scale = cfg->scale;
    t->window_end = cfg->end_day;
    t->window_start = cfg->end_day - cfg->days + 1;
    t->sim_start = S;
    g->sim_start_ms = dms(S);
    g->window_start_ms = dms(t->window_start);
    g->end_ms = dms(cfg->end_day + 1);
    calendar_build(g);

    double sum = 0, cum = 0;
    for (int a = 0; a < N_AREAS; a++)
        sum += areas[a].weight;
    for (int a = 0; a < N_AREAS; a++) {
        cum += areas[a].weight / sum;
        g->area_cum[a] = cum;
        g->prio_on[a] = g->prio_off[a] = NEVER;
        if (areas[a].act_before_end) {
            cw_day_t on = wd_next(g, cfg->end_day - areas[a].act_before_end);
            cw_day_t off = areas[a].deact_before_end
                               ? wd_next(g, cfg->end_day - areas[a].deact_before_end)
                               : 0;
            if (on < S)
                on = S;
            if (!off || off > on) {
                g->prio_on[a] = dms(on) + 9 * MS_HOUR;
                if (off)
                    g->prio_off[a] = dms(off) + 9 * MS_HOUR;
            }
        }
        g->pathfinder_from[a] = areas[a].pathfinder == 1   ? INT64_MIN
                                : areas[a].pathfinder == 2 ? dms(cfg->end_day - 240)
                                                           : NEVER;
    }
    g->area_cum[N_AREAS - 1] = 1.0;

    double fs = 0;
    int nw = 0;
    for (cw_day_t d = t->window_start; d <= t->window_end; d++)
        if (is_working(g, d)) {
            fs += season_of(d);
            nw++;
        }
    g->season_norm = nw ? fs / nw : 1.0;

    for (int k = 0; k < CW_EVENT_CHILDREN_MAX; k++)
        snprintf(g->child_names[k], sizeof g->child_names[k], "ch-%d", k + 1);
    rng_seed(&g->rng_arr, cfg->seed, 0xa11);
    rng_seed(&g->rng_pre, cfg->seed, 0x9e);
    rng_seed(&g->rng_dyn, cfg->seed, 0xd1);
    build_service(g);
    return g;
}

void cw_gen_destroy(cw_gen_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->by_no_cap; i++)
        case_free(g->by_no[i]);
    free(g->by_no);
    cw_deadlines_destroy(g->live);
    free(g->teams);
    free(g->worker_ids);
    free(g->load);
    free(g->cap);
    free(g->working);
    free(g->wpos);
    free(g->wlist);
    free(g);
}

cw_err_t cw_gen_run(cw_gen_t *g, cw_gen_emit_fn emit, void *arg)
{
    if (g->ran)
        return CW_ERR_INVALID;
    g->ran = true;
    cw_gen_truth_t *t = &g->truth;

    area_events_create(g);
    prehistory(g);

    cw_day_t next_day = t->sim_start;
    cw_err_t rc = CW_OK;
    for (;;) {
        while (next_day <= t->window_end && cw_deadlines_next(g->live) >= dms(next_day)) {
            if (is_working(g, next_day))
                arrivals(g, next_day);
            next_day++;
        }
        if (cw_deadlines_next(g->live) >= g->end_ms)
            break;
        gcase_t *c = heap_pop(g);
        const gev_t *e = &c->plan[c->next++];
        bool in_window = e->at >= g->window_start_ms;
        g->seq++;
        apply_emitted(g, c, e, in_window);
        build_event(g, c, e);
        t->events++;
        t->events_in_window += in_window;
        t->events_by_kind[e->kind]++;
        cw_gen_event_t out = {
            .pb = &g->s.ev,
            .kind = e->kind,
            .key = c->no ? g->s.case_id : areas[e->a].code,
            .seq = g->seq,
            .in_window = in_window,
        };
        int stop = emit ? emit(arg, &out) : 0;
        if (c->next < c->n_plan)
            heap_push(g, c);
        else
            case_free(c);
        if (stop) {
            rc = CW_ERR_AGAIN;
            break;
        }
    }
    finish_truth(g);
    return rc;
}

const cw_gen_truth_t *cw_gen_truth(const cw_gen_t *g)
{
    return &g->truth;
}
