/*
 * rules.c — the rule table with its documented defaults, rule configuration, and the
 * obligations of a case. Pure except cw_rules_load().
 *
 * Owns the cw_rules_t and its override arrays. Obligations are computed fresh from case state
 * whenever they are needed: nothing here remembers anything between calls.
 */
#include "casewatch/rules.h"
#include "casewatch/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DAY CW_MS_PER_DAY
#define WEEK (7 * CW_MS_PER_DAY)

/* name, family, severity, threshold, unit, lead days. README "Alert rules" says where each
 * default comes from. */
static const struct {
    const char *name;
    cw_family_t family;
    cw_severity_t severity;
    int64_t threshold;
    cw_unit_t unit;
    int64_t lead_days;
} defaults[CW_RULE__COUNT] = {
    [CW_RULE_CARE_26W_WARNING] = {"care_26_weeks_warning", CW_FAMILY_DELAY, CW_SEV_WARNING, 22,
                                  CW_UNIT_WEEKS, 7},
    [CW_RULE_CARE_26W] = {"care_26_weeks", CW_FAMILY_DELAY, CW_SEV_CRITICAL, 26, CW_UNIT_WEEKS,
                          7},
    [CW_RULE_OPEN_52W] = {"open_52_weeks", CW_FAMILY_DELAY, CW_SEV_WARNING, 52, CW_UNIT_WEEKS,
                          7},
    [CW_RULE_OPEN_100W] = {"open_100_weeks", CW_FAMILY_DELAY, CW_SEV_CRITICAL, 100,
                           CW_UNIT_WEEKS, 7},
    [CW_RULE_S7_DUE_SOON] = {"s7_due_soon", CW_FAMILY_DELAY, CW_SEV_INFO, 5, CW_UNIT_DAYS, 1},
    [CW_RULE_S7_OVERDUE] = {"s7_overdue", CW_FAMILY_DELAY, CW_SEV_WARNING, 0, CW_UNIT_DAYS, 1},
    [CW_RULE_R164_PLANNING] = {"r16_4_planning_meeting", CW_FAMILY_DELAY, CW_SEV_WARNING, 28,
                               CW_UNIT_DAYS, 3},
    [CW_RULE_R164_FINAL] = {"r16_4_final_hearing", CW_FAMILY_DELAY, CW_SEV_WARNING, 26,
                            CW_UNIT_WEEKS, 14},
    [CW_RULE_DUTY_ALLOCATION] = {"duty_awaiting_allocation", CW_FAMILY_DELAY, CW_SEV_WARNING, 5,
                                 CW_UNIT_WORKING_DAYS, 1},
    [CW_RULE_CHILD_NOT_SEEN] = {"child_not_seen", CW_FAMILY_SAFEGUARDING, CW_SEV_CRITICAL, 10,
                                CW_UNIT_WORKING_DAYS, 2},
    [CW_RULE_NOT_SEEN_IN_PERSON] = {"child_not_seen_in_person_before_report",
                                    CW_FAMILY_SAFEGUARDING, CW_SEV_WARNING, 0, CW_UNIT_DAYS, 0},
    [CW_RULE_CONCERN_NO_16A] = {"concern_without_16a", CW_FAMILY_SAFEGUARDING, CW_SEV_CRITICAL,
                                5, CW_UNIT_DAYS, 1},
    [CW_RULE_DA_NOT_ASSESSED] = {"domestic_abuse_not_assessed_at_report",
                                 CW_FAMILY_SAFEGUARDING, CW_SEV_CRITICAL, 0, CW_UNIT_DAYS, 0},
    [CW_RULE_LETTER_MISSING] = {"first_hearing_without_safeguarding_letter",
                                CW_FAMILY_SAFEGUARDING, CW_SEV_CRITICAL, 3,
                                CW_UNIT_WORKING_DAYS, 2},
    [CW_RULE_NO_OVERSIGHT] = {"no_management_oversight", CW_FAMILY_SAFEGUARDING, CW_SEV_WARNING,
                              20, CW_UNIT_DAYS, 3},
    [CW_RULE_WELFARE_UNALLOCATED] = {"welfare_case_unallocated_in_prioritised_area",
                                     CW_FAMILY_PRIORITISATION, CW_SEV_CRITICAL, 2,
                                     CW_UNIT_WORKING_DAYS, 1},
    [CW_RULE_AREA_DUTY_SHARE] = {"area_duty_share", CW_FAMILY_PRIORITISATION, CW_SEV_WARNING, 50,
                                 CW_UNIT_PERCENT_TENTHS, 0},
    [CW_RULE_AREA_DEMAND_GROWTH] = {"area_demand_growth", CW_FAMILY_PRIORITISATION,
                                    CW_SEV_WARNING, 100, CW_UNIT_PERCENT_TENTHS, 0},
    [CW_RULE_WORKER_CASELOAD] = {"worker_caseload", CW_FAMILY_PRIORITISATION, CW_SEV_WARNING, 25,
                                 CW_UNIT_CASES, 0},
    [CW_RULE_AREA_CAN_DEACTIVATE] = {"area_can_deactivate", CW_FAMILY_PRIORITISATION,
                                     CW_SEV_INFO, 4, CW_UNIT_WEEKS, 0},
};

const char *cw_family_name(cw_family_t f)
{
    switch (f) {
    case CW_FAMILY_SAFEGUARDING: return "safeguarding";
    case CW_FAMILY_DELAY: return "delay";
    case CW_FAMILY_PRIORITISATION: return "prioritisation";
    }
    return "";
}

const char *cw_severity_name(cw_severity_t s)
{
    switch (s) {
    case CW_SEV_INFO: return "info";
    case CW_SEV_WARNING: return "warning";
    case CW_SEV_CRITICAL: return "critical";
    }
    return "";
}

/* Rules over an area's shares: a share of a handful of cases is noise, so they need a minimum
 * volume (min_open_cases). Default 20: 1/20 = 5.0%, so one case alone can never cross the
 * 5.0% duty-share threshold; ~30,000 open cases over ~40 court areas (seed) is ~750 an area,
 * so no real court area is anywhere near 20 and none is muted by it. */
#define CW_MIN_OPEN_CASES_DEFAULT 20

static bool area_share(const cw_rule_t *r)
{
    return !strcmp(r->name, defaults[CW_RULE_AREA_DUTY_SHARE].name) ||
           !strcmp(r->name, defaults[CW_RULE_AREA_DEMAND_GROWTH].name);
}

static void rule_version(cw_rule_t *r)
{
    char buf[256];
    int k = snprintf(buf, sizeof(buf), "%s|%d|%d|%lld|%lld", r->name, r->enabled, r->severity,
                     (long long)r->threshold, (long long)r->lead_days);
    if (area_share(r) && k > 0 && (size_t)k < sizeof(buf)) /* the other rules' versions as before */
        snprintf(buf + k, sizeof(buf) - (size_t)k, "|min%lld", (long long)r->min_open_cases);
    uint64_t h = cw_casebook_hash(buf);
    for (int i = 0; i < r->noverrides; i++)
        h = (h ^ ((uint64_t)r->overrides[i].area * 0x9E3779B97F4A7C15ULL) ^
             (uint64_t)r->overrides[i].threshold) *
            1099511628211ULL;
    r->version = (uint32_t)(h ^ (h >> 32));
}

cw_rules_t *cw_rules_defaults(void)
{
    cw_rules_t *r = cw_calloc(1, sizeof(*r));
    for (int i = 0; i < CW_RULE__COUNT; i++) {
        r->rule[i] = (cw_rule_t){.name = defaults[i].name,
                                 .family = defaults[i].family,
                                 .severity = defaults[i].severity,
                                 .enabled = true,
                                 .threshold = defaults[i].threshold,
                                 .unit = defaults[i].unit,
                                 .lead_days = defaults[i].lead_days};
        if (i == CW_RULE_AREA_DUTY_SHARE || i == CW_RULE_AREA_DEMAND_GROWTH)
            r->rule[i].min_open_cases = CW_MIN_OPEN_CASES_DEFAULT;
        rule_version(&r->rule[i]);
    }
    r->repeat_ms = 24 * 3600 * 1000LL; /* a daily reminder of an unacknowledged critical alert */
    return r;
}

void cw_rules_free(cw_rules_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < CW_RULE__COUNT; i++)
        free(r->rule[i].overrides);
    free(r);
}

const cw_rule_t *cw_rules_find(const cw_rules_t *r, const char *name, int *id)
{
    for (int i = 0; i < CW_RULE__COUNT; i++) {
        if (!strcmp(r->rule[i].name, name)) {
            if (id)
                *id = i;
            return &r->rule[i];
        }
    }
    return NULL;
}

int64_t cw_rules_threshold(const cw_rule_t *rule, uint32_t area)
{
    for (int i = 0; i < rule->noverrides; i++)
        if (rule->overrides[i].area == area)
            return rule->overrides[i].threshold;
    return rule->threshold;
}

typedef struct load_ctx {
    cw_rules_t *r;
    cw_casebook_t *cb;
} load_ctx_t;

static bool parse_int(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < min || x > max)
        return false;
    *out = x;
    return true;
}

static bool on_rule_entry(void *arg, int line, const char *section, const char *key,
                          const char *value, char *why, size_t whysz)
{
    load_ctx_t *lc = arg;
    if (!strcmp(section, "rules")) {
        int64_t m;
        if (!strcmp(key, "repeat_minutes") && parse_int(value, 1, 10080, &m)) {
            lc->r->repeat_ms = m * 60000;
            return true;
        }
        snprintf(why, whysz, "[rules] %s: expected repeat_minutes = 1..10080", key);
        return false;
    }
    if (strncmp(section, "rule.", 5))
        return true; /* the daemon's own sections */
    int id;
    cw_rule_t *rule = (cw_rule_t *)cw_rules_find(lc->r, section + 5, &id);
    if (!rule) {
        snprintf(why, whysz, "[%s]: no such rule (see README \"Alert rules\")", section);
        return false;
    }
    int64_t n;
    if (!strcmp(key, "enabled")) {
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            rule->enabled = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            rule->enabled = false;
        else {
            snprintf(why, whysz, "[%s] enabled: expected true or false", section);
            return false;
        }
    } else if (!strcmp(key, "severity")) {
        if (!strcmp(value, "info"))
            rule->severity = CW_SEV_INFO;
        else if (!strcmp(value, "warning"))
            rule->severity = CW_SEV_WARNING;
        else if (!strcmp(value, "critical"))
            rule->severity = CW_SEV_CRITICAL;
        else {
            snprintf(why, whysz, "[%s] severity: expected info, warning or critical", section);
            return false;
        }
    } else if (!strcmp(key, "threshold")) {
        if (!parse_int(value, 0, 100000, &n)) {
            snprintf(why, whysz, "[%s] threshold: expected an integer from 0 to 100000", section);
            return false;
        }
        rule->threshold = n;
    } else if (!strcmp(key, "lead_days")) {
        if (!parse_int(value, 0, 365, &n)) {
            snprintf(why, whysz, "[%s] lead_days: expected an integer from 0 to 365", section);
            return false;
        }
        rule->lead_days = n;
    } else if (!strcmp(key, "min_open_cases")) {
        if (!area_share(rule)) {
            snprintf(why, whysz,
                     "[%s] min_open_cases: only area_duty_share and area_demand_growth have one",
                     section);
            return false;
        }
        if (!parse_int(value, 0, 1000000, &n)) {
            snprintf(why, whysz, "[%s] min_open_cases: expected an integer from 0 to 1000000",
                     section);
            return false;
        }
        rule->min_open_cases = n;
    } else if (!strncmp(key, "threshold@", 10) && key[10]) {
        if (!parse_int(value, 0, 100000, &n)) {
            snprintf(why, whysz, "[%s] %s: expected an integer from 0 to 100000", section, key);
            return false;
        }
        rule->overrides = cw_realloc(rule->overrides,
                                     sizeof(cw_rule_override_t) * (size_t)(rule->noverrides + 1));
        rule->overrides[rule->noverrides++] =
            (cw_rule_override_t){cw_casebook_intern(lc->cb, key + 10), n};
    } else {
        snprintf(why, whysz,
                 "[%s] unknown key \"%s\": expected enabled, severity, threshold, lead_days%s "
                 "threshold@AREA%s",
                 section, key, area_share(rule) ? "," : " or",
                 area_share(rule) ? " or min_open_cases" : "");
        return false;
    }
    (void)line;
    (void)id;
    return true;
}

cw_rules_t *cw_rules_load(const char *path, cw_casebook_t *cb, char *errstr, size_t errsz)
{
    cw_rules_t *r = cw_rules_defaults();
    load_ctx_t lc = {r, cb};
    if (cw_ini_parse(path, on_rule_entry, &lc, errstr, errsz) != CW_OK) {
        cw_rules_free(r);
        return NULL;
    }
    for (int i = 0; i < CW_RULE__COUNT; i++)
        rule_version(&r->rule[i]);
    return r;
}

/* ------------------------------------------------------------------ obligations */

typedef struct obl_buf {
    cw_obligation_t *out;
    size_t n, max;
    const cw_rules_t *r;
    uint32_t area;
} obl_buf_t;

static void add(obl_buf_t *b, int rule, const char *subject, int64_t armed, int64_t due,
                int64_t met, double value)
{
    if (b->n < b->max) {
        cw_obligation_t *o = &b->out[b->n];
        o->threshold = (double)cw_rules_threshold(&b->r->rule[rule], b->area);
        o->rule = (uint8_t)rule;
        snprintf(o->subject, sizeof(o->subject), "%s", subject);
        o->armed_ms = armed;
        o->ended = false;
        o->met_by_alloc = false;
        o->begun_ms = 0;
        o->due_ms = due;
        o->met_ms = met;
        o->value = value;
    }
    b->n++;
}

/* the end of the day n working days after the day of t (n may be negative: before it) */
static int64_t workdays_due(const cw_workdays_t *wd, int64_t t, int64_t n)
{
    return cw_day_to_ms(cw_workdays_add(wd, cw_day_from_ms(t), (int)n) + 1);
}

static int64_t threshold_ms(const cw_rule_t *rule, uint32_t area)
{
    int64_t t = cw_rules_threshold(rule, area);
    switch (rule->unit) {
    case CW_UNIT_WEEKS: return t * WEEK;
    case CW_UNIT_DAYS: return t * DAY;
    default: return t;
    }
}

#define ON(id) (r->rule[id].enabled)

static void welfare_periods(obl_buf_t *b, const cw_case_t *c, const cw_workdays_t *wd,
                            cw_area_prioritised_fn prio, void *arg, bool closed, int64_t close_ms)
{
    uint32_t n = 0;
    const cw_prio_change_t *ch = prio(arg, c->area, &n);
    int64_t case_due = workdays_due(
        wd, c->start_ms, cw_rules_threshold(&b->r->rule[CW_RULE_WELFARE_UNALLOCATED], c->area));
    for (uint32_t i = 0; i < n; i++) {
        if (!ch[i].on || (i > 0 && ch[i - 1].on))
            continue; /* not the start of a period */
        int64_t from = ch[i].ms, end = 0;
        for (uint32_t j = i + 1; j < n && !end; j++)
            if (!ch[j].on)
                end = ch[j].ms;
        if ((end && end <= c->start_ms) || (c->first_alloc_ms && c->first_alloc_ms <= from) ||
            (closed && close_ms <= from))
            continue; /* over before the case began, allocated or closed before it began */
        char subject[48];
        time_t secs = (time_t)(from / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t k = strftime(subject, sizeof(subject), "since-%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(subject + k, sizeof(subject) - k, ".%03dZ", (int)(from % 1000));
        int64_t met = c->first_alloc_ms;
        bool ends = end && (!met || met > end);
        add(b, CW_RULE_WELFARE_UNALLOCATED, subject, c->start_ms > from ? c->start_ms : from,
            case_due > from ? case_due : from, ends ? end : met, 0);
        if (b->n <= b->max) {
            b->out[b->n - 1].ended = ends;
            b->out[b->n - 1].begun_ms = from;
            b->out[b->n - 1].met_by_alloc = !ends && met;
        }
    }
}

size_t cw_rules_case(const cw_rules_t *r, const cw_casebook_t *cb, const cw_case_t *c,
                     const cw_workdays_t *wd, cw_area_prioritised_fn prio, void *arg,
                     cw_obligation_t *out, size_t max)
{
    obl_buf_t b = {out, 0, max, r, c->area};
    if (!c->opened)
        return 0;
    bool closed = cw_case_closed(c);
    int64_t close_ms = closed ? c->close_stamp.ms : 0;
    uint32_t area = c->area;
    bool care = c->case_type == 1 || c->case_type == 2;

    /* delay: time in proceedings; closing the case meets them (cw_rules_met_by_close) */
    if (care && ON(CW_RULE_CARE_26W_WARNING))
        add(&b, CW_RULE_CARE_26W_WARNING, "", c->start_ms,
            c->start_ms + threshold_ms(&r->rule[CW_RULE_CARE_26W_WARNING], area) +
                (int64_t)c->extension_weeks * WEEK,
            close_ms, 0);
    if (care && ON(CW_RULE_CARE_26W))
        add(&b, CW_RULE_CARE_26W, "", c->start_ms,
            c->start_ms + threshold_ms(&r->rule[CW_RULE_CARE_26W], area) +
                (int64_t)c->extension_weeks * WEEK,
            close_ms, 0);
    if (ON(CW_RULE_OPEN_52W))
        add(&b, CW_RULE_OPEN_52W, "", c->start_ms,
            c->start_ms + threshold_ms(&r->rule[CW_RULE_OPEN_52W], area), close_ms, 0);
    if (ON(CW_RULE_OPEN_100W))
        add(&b, CW_RULE_OPEN_100W, "", c->start_ms,
            c->start_ms + threshold_ms(&r->rule[CW_RULE_OPEN_100W], area), close_ms, 0);

    /* s7 reports: due soon / overdue until filed (day granularity, like the figures) */
    for (int i = 0; i < c->nreports; i++) {
        const cw_report_t *rp = &c->reports[i];
        if (rp->kind != 1 /* S7_REPORT */ || !rp->ordered_ms || !cw_report_due_ms(rp))
            continue;
        int64_t end_of_due_day = cw_day_to_ms(cw_day_from_ms(cw_report_due_ms(rp)) + 1);
        if (ON(CW_RULE_S7_DUE_SOON))
            add(&b, CW_RULE_S7_DUE_SOON, rp->report_id, rp->ordered_ms,
                end_of_due_day - DAY - threshold_ms(&r->rule[CW_RULE_S7_DUE_SOON], area),
                rp->filed_ms, 0);
        if (ON(CW_RULE_S7_OVERDUE))
            add(&b, CW_RULE_S7_OVERDUE, rp->report_id, rp->ordered_ms,
                end_of_due_day + threshold_ms(&r->rule[CW_RULE_S7_OVERDUE], area), rp->filed_ms,
                0);
    }

    /* rule 16.4: planning meeting within 28 days, final hearing within six months, counted
     * from when the child was made a party: the start, or the reclassification to 16.4 */
    if (c->case_type == 6) {
        int64_t from = c->type_stamp.ms ? c->type_stamp.ms : c->start_ms;
        if (ON(CW_RULE_R164_PLANNING))
            add(&b, CW_RULE_R164_PLANNING, "", from,
                from + threshold_ms(&r->rule[CW_RULE_R164_PLANNING], area), c->planning_ms, 0);
        if (ON(CW_RULE_R164_FINAL)) {
            int64_t final = 0;
            for (int i = 0; i < c->nhearings; i++)
                if (c->hearings[i].kind == 6 /* FINAL */ && c->hearings[i].held_ms &&
                    (!final || c->hearings[i].held_ms < final))
                    final = c->hearings[i].held_ms;
            /* the timescale of the proceedings: a case that closes without a final hearing
             * held (withdrawn, consolidated, an order made at another hearing) has ended them
             * too — its close outcome says how */
            if (close_ms && (!final || close_ms < final))
                final = close_ms;
            add(&b, CW_RULE_R164_FINAL, "", from,
                from + threshold_ms(&r->rule[CW_RULE_R164_FINAL], area), final, 0);
        }
    }

    /* awaiting allocation on duty: from the start until first allocated; and again if the
     * case went back to duty after being allocated */
    if (ON(CW_RULE_DUTY_ALLOCATION)) {
        int64_t n = cw_rules_threshold(&r->rule[CW_RULE_DUTY_ALLOCATION], area);
        add(&b, CW_RULE_DUTY_ALLOCATION, "", c->start_ms, workdays_due(wd, c->start_ms, n),
            c->first_alloc_ms, 0);
        if (c->reduty_ms) /* back on duty after being allocated, until allocated again */
            add(&b, CW_RULE_DUTY_ALLOCATION, "returned-to-duty", c->reduty_ms,
                workdays_due(wd, c->reduty_ms, n),
                c->reduty_met_ms > c->reduty_ms ? c->reduty_met_ms : 0, 0);
    }

    /* safeguarding */
    int64_t first_filed = 0;
    for (int i = 0; i < c->nreports; i++)
        if (c->reports[i].filed_ms && c->reports[i].kind != 3 /* safeguarding letter */ &&
            (!first_filed || c->reports[i].filed_ms < first_filed))
            first_filed = c->reports[i].filed_ms;
    for (int i = 0; i < c->nchildren; i++) {
        const cw_child_t *ch = &c->children[i];
        if (!ch->member)
            continue;
        if (c->first_alloc_ms && ON(CW_RULE_CHILD_NOT_SEEN))
            add(&b, CW_RULE_CHILD_NOT_SEEN, ch->child_id, c->first_alloc_ms,
                workdays_due(wd, c->first_alloc_ms,
                             cw_rules_threshold(&r->rule[CW_RULE_CHILD_NOT_SEEN], area)),
                ch->seen_ms, 0);
        if (first_filed && ON(CW_RULE_NOT_SEEN_IN_PERSON))
            add(&b, CW_RULE_NOT_SEEN_IN_PERSON, ch->child_id, first_filed,
                first_filed + threshold_ms(&r->rule[CW_RULE_NOT_SEEN_IN_PERSON], area),
                ch->in_person_ms, 0);
    }
    for (int i = 0; i < c->nconcerns && ON(CW_RULE_CONCERN_NO_16A); i++) {
        const cw_concern_t *k = &c->concerns[i];
        if (!k->raised_ms)
            continue;
        char subject[CW_EVENT_ID_MAX + 1];
        if (*k->concern_id)
            snprintf(subject, sizeof(subject), "%s", k->concern_id);
        else
            snprintf(subject, sizeof(subject), "concern@%lld", (long long)k->raised_ms);
        add(&b, CW_RULE_CONCERN_NO_16A, subject, k->raised_ms,
            k->raised_ms + threshold_ms(&r->rule[CW_RULE_CONCERN_NO_16A], area), k->assessed_ms,
            0);
    }
    if (c->da_alleged_ms && ON(CW_RULE_DA_NOT_ASSESSED)) {
        int64_t filed_after = 0; /* the first report filed after the allegation */
        for (int i = 0; i < c->nreports; i++)
            if (c->reports[i].filed_ms >= c->da_alleged_ms && c->reports[i].kind != 3 &&
                (!filed_after || c->reports[i].filed_ms < filed_after))
                filed_after = c->reports[i].filed_ms;
        if (filed_after)
            add(&b, CW_RULE_DA_NOT_ASSESSED, "", filed_after,
                filed_after + threshold_ms(&r->rule[CW_RULE_DA_NOT_ASSESSED], area),
                c->da_assessed_ms, 0);
    }
    for (int i = 0; i < c->nhearings && ON(CW_RULE_LETTER_MISSING); i++) {
        const cw_hearing_t *h = &c->hearings[i];
        if (h->kind != 1 /* FIRST_HEARING_FHDRA */ || !h->listed_for_ms)
            continue;
        int64_t n = cw_rules_threshold(&r->rule[CW_RULE_LETTER_MISSING], area);
        /* the letter is due by the start of the day N working days before the hearing */
        int64_t due = cw_day_to_ms(cw_workdays_add(wd, cw_day_from_ms(h->listed_for_ms), (int)-n));
        add(&b, CW_RULE_LETTER_MISSING, h->hearing_id, h->stamp.ms, due, h->letter_ms, 0);
    }
    if (c->first_alloc_ms && ON(CW_RULE_NO_OVERSIGHT)) {
        int64_t met = c->oversight_first_ms >= c->first_alloc_ms ? c->oversight_first_ms
                      : c->oversight_last_ms >= c->first_alloc_ms ? c->oversight_last_ms
                                                                  : 0;
        add(&b, CW_RULE_NO_OVERSIGHT, "", c->first_alloc_ms,
            c->first_alloc_ms + threshold_ms(&r->rule[CW_RULE_NO_OVERSIGHT], area), met, 0);
    }

    /* prioritisation: a welfare-at-risk case unallocated in a prioritised area, one obligation
     * per period of the area's prioritisation (by event time, so which partition was applied
     * first does not matter): due when the case's allocation was due or when the period began,
     * whichever is later; met by the first allocation, or over unmet when the period ended */
    if (c->welfare_at_risk && ON(CW_RULE_WELFARE_UNALLOCATED) && prio)
        welfare_periods(&b, c, wd, prio, arg, closed, close_ms);
    (void)cb;
    return b.n;
}

/* ------------------------------------------------------------------ area rules */

bool cw_rules_met_by_close(int rule)
{
    switch (rule) {
    case CW_RULE_CARE_26W_WARNING:
    case CW_RULE_CARE_26W:
    case CW_RULE_OPEN_52W:
    case CW_RULE_OPEN_100W:
    case CW_RULE_R164_FINAL:
        return true;
    }
    return false;
}

void cw_rules_area_facts(const cw_figure_t *figs, size_t n, bool prioritised,
                         cw_area_facts_t *out)
{
    const cw_figure_t *open = cw_figures_find(figs, n, "open_cases", "all");
    const cw_figure_t *duty = cw_figures_find(figs, n, "alloc_duty_pct", "all");
    const cw_figure_t *growth = cw_figures_find(figs, n, "new_cases_yoy_pct", "all");
    *out = (cw_area_facts_t){.prioritised = prioritised};
    out->open_cases = open && !open->is_null ? (int64_t)open->value : 0;
    out->duty_known = duty && !duty->is_null;
    out->duty_pct = out->duty_known ? duty->value : 0;
    out->growth_known = growth && !growth->is_null;
    out->growth_pct = out->growth_known ? growth->value : 0;
}

/* a figure in percent over a threshold in tenths of a percent */
static bool over_tenths(double pct, int64_t tenths)
{
    return pct * 10 > (double)tenths + 1e-9;
}

size_t cw_rules_area(const cw_rules_t *r, uint32_t area, const cw_area_facts_t *f,
                     cw_obligation_t out[CW_RULES_AREA_MAX])
{
    const cw_rule_t *rd = &r->rule[CW_RULE_AREA_DUTY_SHARE];
    const cw_rule_t *rg = &r->rule[CW_RULE_AREA_DEMAND_GROWTH];
    const cw_rule_t *rc = &r->rule[CW_RULE_AREA_CAN_DEACTIVATE];
    bool duty_over = f->duty_known && over_tenths(f->duty_pct, cw_rules_threshold(rd, area));
    bool growth_over =
        f->growth_known && over_tenths(f->growth_pct, cw_rules_threshold(rg, area));
    size_t n = 0;
    /* too few open cases for a share to mean anything: no call to activate prioritisation
     * (the "over" above still stands for area_can_deactivate: not under by its figures) */
    if (rd->enabled && duty_over && f->open_cases >= rd->min_open_cases)
        out[n++] = (cw_obligation_t){.rule = CW_RULE_AREA_DUTY_SHARE, .value = f->duty_pct,
                                     .threshold = (double)cw_rules_threshold(rd, area) / 10};
    if (rg->enabled && growth_over && f->open_cases >= rg->min_open_cases)
        out[n++] = (cw_obligation_t){.rule = CW_RULE_AREA_DEMAND_GROWTH, .value = f->growth_pct,
                                     .threshold = (double)cw_rules_threshold(rg, area) / 10};
    if (rc->enabled && f->prioritised && !duty_over && !growth_over)
        out[n++] = (cw_obligation_t){.rule = CW_RULE_AREA_CAN_DEACTIVATE,
                                     .due_ms = -cw_rules_threshold(rc, area) * WEEK,
                                     .threshold = (double)cw_rules_threshold(rc, area)};
    return n;
}
