/*
 * alerts.c — the alert lifecycle engine. Pure: no clock, no I/O.
 *
 * Owns the active alerts (a hash table by dedup key, plus a per-scope index so a case's alerts
 * are found without scanning), the silences and the transition list. An alert leaves the
 * table when it resolves; the resolving transition carries its final copy to the store.
 * Presentation as JSON is alertjson.c's: nothing here knows json-c.
 */
#include "casewatch/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct scope_entry {
    char *scope; /* case id, "area:A", "worker:W" */
    uint64_t hash;
    cw_alert_t **v;
    int n, cap;
} scope_entry_t;

struct cw_alerts {
    cw_alert_t **slots; /* by dedup key */
    size_t cap, count;
    scope_entry_t **scopes; /* by scope */
    size_t scap, scount;
    cw_transition_t *tr;
    size_t ntr, captr;
    cw_silence_t *sil;
    size_t nsil;
    int64_t silence_clock; /* wall time for silences (0: the evaluation clock) */
};

void cw_alerts_set_silence_clock(cw_alerts_t *a, int64_t wall_ms)
{
    a->silence_clock = wall_ms;
}

const char *cw_alert_state_name(int s)
{
    switch (s) {
    case CW_ALERT_PENDING: return "pending";
    case CW_ALERT_FIRING: return "firing";
    case CW_ALERT_RESOLVED: return "resolved";
    }
    return "";
}

const char *cw_resolution_name(int r)
{
    static const char *const n[] = {"",
                                    "met",
                                    "met_late",
                                    "case_closed",
                                    "condition_cleared",
                                    "no_longer_applies",
                                    "rule_removed"};
    return r >= 0 && r < (int)CW_ARRAY_LEN(n) ? n[r] : "";
}

const char *cw_close_outcome_name(int outcome)
{
    /* events.proto CloseOutcome, in its order (test_alerts checks them against it) */
    static const char *const n[] = {"",        "final_order", "withdrawn",    "refused",
                                    "no_order", "transferred", "consolidated", "other"};
    return outcome >= 0 && outcome < (int)CW_ARRAY_LEN(n) ? n[outcome] : "";
}

/* ------------------------------------------------------------------ tables */

static uint64_t h64(const char *s)
{
    return cw_casebook_hash(s) | 1; /* never 0 */
}

static void alert_free_strings(cw_alert_t *x)
{
    free(x->dedup_key);
    free(x->case_id);
    free(x->subject);
    free(x->area);
    free(x->worker);
    free(x->cause_event_id);
    free(x->cause_topic);
}

static void alert_copy(cw_alert_t *dst, const cw_alert_t *src)
{
    *dst = *src;
    dst->dedup_key = cw_strdup(src->dedup_key ? src->dedup_key : "");
    dst->case_id = cw_strdup(src->case_id ? src->case_id : "");
    dst->subject = cw_strdup(src->subject ? src->subject : "");
    dst->area = cw_strdup(src->area ? src->area : "");
    dst->worker = cw_strdup(src->worker ? src->worker : "");
    dst->cause_event_id = cw_strdup(src->cause_event_id ? src->cause_event_id : "");
    dst->cause_topic = cw_strdup(src->cause_topic ? src->cause_topic : "");
}

cw_alerts_t *cw_alerts_new(void)
{
    cw_alerts_t *a = cw_calloc(1, sizeof(*a));
    a->cap = 1024;
    a->slots = cw_calloc(a->cap, sizeof(cw_alert_t *));
    a->scap = 1024;
    a->scopes = cw_calloc(a->scap, sizeof(scope_entry_t *));
    return a;
}

static void silences_free(cw_alerts_t *a)
{
    for (size_t i = 0; i < a->nsil; i++) {
        free(a->sil[i].rule);
        free(a->sil[i].area);
        free(a->sil[i].case_id);
    }
    free(a->sil);
    a->sil = NULL;
    a->nsil = 0;
}

void cw_alerts_clear_transitions(cw_alerts_t *a)
{
    for (size_t i = 0; i < a->ntr; i++)
        alert_free_strings(&a->tr[i].alert);
    a->ntr = 0;
}

void cw_alerts_clear(cw_alerts_t *a)
{
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slots[i]) {
            alert_free_strings(a->slots[i]);
            free(a->slots[i]);
            a->slots[i] = NULL;
        }
    }
    a->count = 0;
    for (size_t i = 0; i < a->scap; i++) {
        if (a->scopes[i]) {
            free(a->scopes[i]->scope);
            free(a->scopes[i]->v);
            free(a->scopes[i]);
            a->scopes[i] = NULL;
        }
    }
    a->scount = 0;
}

void cw_alerts_destroy(cw_alerts_t *a)
{
    if (!a)
        return;
    cw_alerts_clear(a);
    cw_alerts_clear_transitions(a);
    free(a->tr);
    free(a->slots);
    free(a->scopes);
    silences_free(a);
    free(a);
}

static size_t slot_of(const cw_alerts_t *a, const char *key, uint64_t h)
{
    size_t i = h & (a->cap - 1);
    while (a->slots[i] && (a->slots[i]->hash != h || strcmp(a->slots[i]->dedup_key, key)))
        i = (i + 1) & (a->cap - 1);
    return i;
}

cw_alert_t *cw_alerts_find(const cw_alerts_t *a, const char *key)
{
    return a->slots[slot_of(a, key, h64(key))];
}

static void table_grow(cw_alerts_t *a)
{
    size_t old = a->cap;
    cw_alert_t **s = a->slots;
    a->cap *= 2;
    a->slots = cw_calloc(a->cap, sizeof(cw_alert_t *));
    for (size_t i = 0; i < old; i++)
        if (s[i])
            a->slots[slot_of(a, s[i]->dedup_key, s[i]->hash)] = s[i];
    free(s);
}

static void table_remove(cw_alerts_t *a, size_t i)
{
    size_t mask = a->cap - 1;
    a->slots[i] = NULL;
    a->count--;
    for (size_t j = (i + 1) & mask; a->slots[j]; j = (j + 1) & mask) {
        size_t home = a->slots[j]->hash & mask;
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            a->slots[i] = a->slots[j];
            a->slots[j] = NULL;
            i = j;
        }
    }
}

static size_t scope_slot(const cw_alerts_t *a, const char *scope, uint64_t h)
{
    size_t i = h & (a->scap - 1);
    while (a->scopes[i] && (a->scopes[i]->hash != h || strcmp(a->scopes[i]->scope, scope)))
        i = (i + 1) & (a->scap - 1);
    return i;
}

static scope_entry_t *scope_get(cw_alerts_t *a, const char *scope, bool create)
{
    uint64_t h = h64(scope);
    size_t i = scope_slot(a, scope, h);
    if (a->scopes[i] || !create)
        return a->scopes[i];
    if ((a->scount + 1) * 4 > a->scap * 3) {
        size_t old = a->scap;
        scope_entry_t **s = a->scopes;
        a->scap *= 2;
        a->scopes = cw_calloc(a->scap, sizeof(scope_entry_t *));
        for (size_t k = 0; k < old; k++)
            if (s[k])
                a->scopes[scope_slot(a, s[k]->scope, s[k]->hash)] = s[k];
        free(s);
        i = scope_slot(a, scope, h);
    }
    scope_entry_t *e = cw_calloc(1, sizeof(*e));
    e->scope = cw_strdup(scope);
    e->hash = h;
    a->scopes[i] = e;
    a->scount++;
    return e;
}

static void scope_remove_entry(cw_alerts_t *a, const char *scope)
{
    uint64_t h = h64(scope);
    size_t i = scope_slot(a, scope, h);
    if (!a->scopes[i])
        return;
    free(a->scopes[i]->scope);
    free(a->scopes[i]->v);
    free(a->scopes[i]);
    a->scopes[i] = NULL;
    a->scount--;
    size_t mask = a->scap - 1;
    for (size_t j = (i + 1) & mask; a->scopes[j]; j = (j + 1) & mask) {
        size_t home = a->scopes[j]->hash & mask;
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            a->scopes[i] = a->scopes[j];
            a->scopes[j] = NULL;
            i = j;
        }
    }
}

const char *cw_alerts_scope(char *buf, size_t sz, const char *case_id, const char *area,
                            const char *worker)
{
    if (case_id && *case_id)
        return case_id;
    if (worker && *worker)
        snprintf(buf, sz, "worker:%s", worker);
    else
        snprintf(buf, sz, "area:%s", area ? area : "");
    return buf;
}

const char *cw_alert_scope(const cw_alert_t *x, char *buf, size_t sz)
{
    return cw_alerts_scope(buf, sz, x->case_id, x->area, x->worker);
}

static const char *scope_of(const cw_alert_t *x)
{
    static __thread char buf[200];
    return cw_alert_scope(x, buf, sizeof(buf));
}

static cw_alert_t *insert(cw_alerts_t *a, cw_alert_t *x)
{
    if ((a->count + 1) * 4 > a->cap * 3)
        table_grow(a);
    x->hash = h64(x->dedup_key);
    a->slots[slot_of(a, x->dedup_key, x->hash)] = x;
    a->count++;
    scope_entry_t *e = scope_get(a, scope_of(x), true);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->v = cw_realloc(e->v, sizeof(cw_alert_t *) * (size_t)e->cap);
    }
    e->v[e->n++] = x;
    return x;
}

static void remove_alert(cw_alerts_t *a, cw_alert_t *x)
{
    scope_entry_t *e = scope_get(a, scope_of(x), false);
    if (e) {
        for (int i = 0; i < e->n; i++) {
            if (e->v[i] == x) {
                e->v[i] = e->v[--e->n];
                break;
            }
        }
        if (!e->n)
            scope_remove_entry(a, e->scope);
    }
    table_remove(a, slot_of(a, x->dedup_key, x->hash));
    alert_free_strings(x);
    free(x);
}

void cw_alerts_load(cw_alerts_t *a, const cw_alert_t *alert)
{
    cw_alert_t *old = cw_alerts_find(a, alert->dedup_key);
    if (old)
        remove_alert(a, old);
    cw_alert_t *x = cw_malloc(sizeof(*x));
    alert_copy(x, alert);
    insert(a, x);
}

void cw_alerts_drop_partitions(cw_alerts_t *a, const int32_t *parts, int n)
{
    for (size_t i = 0; i < a->cap;) {
        cw_alert_t *x = a->slots[i];
        bool drop = false;
        for (int k = 0; x && k < n; k++)
            drop |= x->partition == parts[k] && x->case_id && *x->case_id;
        if (drop)
            remove_alert(a, x); /* slot i now holds a shifted entry: look again */
        else
            i++;
    }
}

size_t cw_alerts_count(const cw_alerts_t *a, int state)
{
    size_t n = 0;
    for (size_t i = 0; i < a->cap; i++)
        if (a->slots[i] && (!state || a->slots[i]->state == state))
            n++;
    return n;
}

bool cw_alerts_acknowledge(cw_alerts_t *a, const char *key, bool ack)
{
    cw_alert_t *x = cw_alerts_find(a, key);
    if (!x)
        return false;
    x->acknowledged = ack;
    return true;
}

bool cw_alerts_acknowledge_occurrence(cw_alerts_t *a, const char *key, int64_t pending_ms,
                                      uint64_t origin, bool ack)
{
    cw_alert_t *x = cw_alerts_find(a, key);
    if (!x || x->pending_ms != pending_ms || x->origin != origin)
        return false;
    x->acknowledged = ack;
    return true;
}

void cw_alerts_set_silences(cw_alerts_t *a, const cw_silence_t *s, size_t n)
{
    silences_free(a);
    a->sil = cw_calloc(n + 1, sizeof(cw_silence_t));
    for (size_t i = 0; i < n; i++) {
        a->sil[i] = s[i];
        a->sil[i].rule = cw_strdup(s[i].rule ? s[i].rule : "");
        a->sil[i].area = cw_strdup(s[i].area ? s[i].area : "");
        a->sil[i].case_id = cw_strdup(s[i].case_id ? s[i].case_id : "");
    }
    a->nsil = n;
}

static bool silenced(const cw_alerts_t *a, const cw_rules_t *r, const cw_alert_t *x,
                     int64_t now)
{
    for (size_t i = 0; i < a->nsil; i++) {
        const cw_silence_t *s = &a->sil[i];
        if (now < s->starts_ms || now >= s->ends_ms)
            continue;
        if (*s->rule && strcmp(s->rule, r->rule[x->rule].name))
            continue;
        if (*s->area && strcmp(s->area, x->area))
            continue;
        if (*s->case_id && strcmp(s->case_id, x->case_id))
            continue;
        if (s->min_severity && x->severity < s->min_severity)
            continue;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ transitions */

bool cw_alerts_transition_stored(const cw_transition_t *t)
{
    /* an area/worker alert's pending row is the only record of when its condition began */
    return t->alert.firing_ms || t->notify || !t->alert.case_id || !*t->alert.case_id;
}

const cw_transition_t *cw_alerts_transitions(const cw_alerts_t *a, size_t *n)
{
    *n = a->ntr;
    return a->tr;
}

/* now is the clock: what it decides (silences in a replay, the repeat timer) goes by it; at is
 * when the transition happened (cw_transition_t.at). */
static void transition(cw_alerts_t *a, const cw_rules_t *r, cw_alert_t *x, uint8_t from,
                       bool notify, bool repeat, int64_t now, int64_t at)
{
    if (notify) {
        x->silenced = silenced(a, r, x, a->silence_clock ? a->silence_clock : now);
        /* a silenced notification still counts as one: the repeat timer restarts from it */
        x->notified_ms = now;
        x->notify_count++;
    }
    if (a->ntr == a->captr) {
        a->captr = a->captr ? a->captr * 2 : 64;
        a->tr = cw_realloc(a->tr, sizeof(cw_transition_t) * a->captr);
    }
    cw_transition_t *t = &a->tr[a->ntr++];
    alert_copy(&t->alert, x);
    t->from = from;
    t->notify = notify;
    t->repeat = repeat;
    t->historic = false; /* alert_fire() says when it is */
    t->at = at;
    /* the same alert's same transition always gets the same id: rule, subject, the due time
     * that defines this occurrence, the state it reached, and the repeat number. pending_ms
     * and origin (the event that began it) identify the occurrence: a case reopened after its
     * alert resolved starts a new occurrence with new ids, even when the clock has not moved
     * in between (late events on the event clock). All of them are facts or clock times
     * fixed when the occurrence began, never the time of this evaluation */
    char idsrc[512];
    snprintf(idsrc, sizeof(idsrc), "%s|%lld|%llx|%lld|%s|%s|%u", x->dedup_key,
             (long long)x->pending_ms, (unsigned long long)x->origin, (long long)x->due_ms,
             cw_alert_state_name(x->state), cw_resolution_name(x->resolution),
             repeat ? x->notify_count : 0);
    snprintf(t->alert_id, sizeof(t->alert_id), "a%016llx",
             (unsigned long long)cw_casebook_hash(idsrc));
}

static void set_cause(cw_alert_t *x, const cw_cause_t *cause)
{
    if (!cause || !cause->event_id)
        return;
    free(x->cause_event_id);
    free(x->cause_topic);
    x->cause_event_id = cw_strdup(cause->event_id);
    x->cause_topic = cw_strdup(cause->topic ? cause->topic : "");
    x->cause_partition = cause->partition;
    x->cause_offset = cause->offset;
}

/* One evaluation: the clock, the event being applied (if any) and the case's closing. */
typedef struct eval {
    int64_t now;     /* the clock: decides what is due */
    int64_t ev_at;   /* occurred_at of the event being applied; 0 = a clock evaluation */
    int64_t seen;    /* its topic-partition's stream time before it, less the lateness (0 =
                      * none): an obligation due by then counts as fired when it is met */
    bool live;       /* the case's partition is caught up: reminders may go out */
    bool after_fact; /* cw_eval_time_t.after_fact */
    const cw_cause_t *alloc_cause; /* the case's first allocation event (NULL: none known) */
    int64_t alloc_clock;           /* its partition's clock when it was applied */
    uint64_t origin; /* the occurrence of the case (its latest reopening) */
    const cw_cause_t *cause;
    const cw_alert_t *proto;
    bool closed;
    int64_t close_ms; /* the close's occurred_at */
    uint8_t outcome;  /* its CloseOutcome */
} eval_t;

/* When a resolution the evaluation's cause brought about happened (a moved deadline, a
 * reclassification, a disabled rule): the event's time, or the clock's. */
static int64_t caused_at(const eval_t *e)
{
    return e->ev_at ? e->ev_at : e->now;
}

static void resolve(cw_alerts_t *a, const cw_rules_t *r, cw_alert_t *x, int resolution,
                    int64_t at, const eval_t *e)
{
    uint8_t from = x->state;
    x->state = CW_ALERT_RESOLVED;
    x->resolution = (uint8_t)resolution;
    x->resolved_ms = at;
    set_cause(x, e->cause);
    /* only what was announced is announced resolved */
    transition(a, r, x, from, from == CW_ALERT_FIRING, false, e->now, at);
    remove_alert(a, x);
}

/* Resolved because the case closed: case_closed, at the close, with its outcome. */
static void resolve_closed(cw_alerts_t *a, const cw_rules_t *r, cw_alert_t *x, const eval_t *e)
{
    x->close_outcome = e->outcome;
    resolve(a, r, x, CW_RES_CASE_CLOSED, e->close_ms ? e->close_ms : caused_at(e), e);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* A new alert for obligation o, pending since the facts say (never the evaluation's time). */
static cw_alert_t *alert_begin(cw_alerts_t *a, const cw_rules_t *r, const cw_obligation_t *o,
                               const char *key, int64_t pending_at, const eval_t *e)
{
    const cw_rule_t *rule = &r->rule[o->rule];
    int64_t at = max64(pending_at, o->armed_ms);
    cw_alert_t *x = cw_malloc(sizeof(*x));
    alert_copy(x, e->proto);
    free(x->dedup_key);
    x->dedup_key = cw_strdup(key);
    free(x->subject);
    x->subject = cw_strdup(o->subject);
    x->rule = o->rule;
    x->severity = (uint8_t)rule->severity;
    x->rule_version = rule->version;
    x->armed_ms = o->armed_ms;
    x->due_ms = o->due_ms;
    x->value = o->value;
    x->threshold = o->threshold;
    x->state = CW_ALERT_PENDING;
    x->pending_ms = at; /* when this occurrence began (it may fire at once) */
    x->origin = e->origin;
    insert(a, x);
    transition(a, r, x, 0, false, false, e->now, at);
    return x;
}

/* x (pending, or new) fires at its due time; the clock alone does that, so no event is its
 * cause. historic: found after the fact (met late, closed or met by a late event in the same
 * evaluation): recorded and published as history, never paged. */
static cw_alert_t *alert_fire(cw_alerts_t *a, const cw_rules_t *r, const cw_obligation_t *o,
                              const char *key, int64_t pending_at, const eval_t *e,
                              cw_alert_t *x, bool historic)
{
    if (!x)
        x = alert_begin(a, r, o, key, pending_at, e);
    x->due_ms = o->due_ms;
    x->state = CW_ALERT_FIRING;
    x->firing_ms = o->due_ms;
    free(x->cause_event_id);
    free(x->cause_topic);
    x->cause_event_id = x->cause_topic = NULL;
    x->cause_partition = 0;
    x->cause_offset = 0;
    transition(a, r, x, CW_ALERT_PENDING, true, false, e->now, max64(o->due_ms, o->armed_ms));
    a->tr[a->ntr - 1].historic = historic;
    return x;
}

/* Apply one obligation to its (possibly absent) alert; returns the next interesting time.
 * pending_at: when the alert is pending (case rules: lead_days before the due time; area and
 * worker conditions: from when the condition holds). */
static int64_t apply_obligation_now(cw_alerts_t *a, const cw_rules_t *r,
                                    const cw_obligation_t *o, const char *key,
                                    int64_t pending_at, const eval_t *e);

/* An obligation that stops applying at a time the case's clock has not reached (an area's
 * prioritisation period that ends later, by event time) still applies until the clock gets
 * there: where the area's partition is does not matter. */
static int64_t apply_obligation(cw_alerts_t *a, const cw_rules_t *r, const cw_obligation_t *o,
                                const char *key, int64_t pending_at, const eval_t *e)
{
    if (o->ended && o->met_ms > e->now) {
        cw_obligation_t open = *o;
        open.met_ms = 0;
        open.ended = false;
        return min64(apply_obligation_now(a, r, &open, key, pending_at, e), o->met_ms);
    }
    return apply_obligation_now(a, r, o, key, pending_at, e);
}

static int64_t apply_obligation_now(cw_alerts_t *a, const cw_rules_t *r,
                                    const cw_obligation_t *o, const char *key,
                                    int64_t pending_at, const eval_t *e)
{
    cw_alert_t *x = cw_alerts_find(a, key);
    int64_t now = e->now;
    if (o->met_ms) {
        /* Recording FIRING after the fact here (met late, or by a late event, before the
         * clock got to the due time) was tried ([L]) and recorded occurrences twice when a
         * reordered earlier event met the obligation again: the engine keeps no record of
         * ended occurrences to tell. Until it does, a pending alert met late resolves
         * met_late unannounced; the per-event clock fires most due times before their
         * meeting events in a catch-up anyway. */
        int res = o->ended ? CW_RES_NO_LONGER_APPLIES
                  : o->met_ms > o->due_ms ? CW_RES_MET_LATE
                                          : CW_RES_MET;
        if (x) {
            /* by the facts: late is met after the due time, whether or not the clock had
             * fired it by then; at the time it was met, whenever that arrives */
            if (e->closed && cw_rules_met_by_close(o->rule) && o->met_ms == e->close_ms)
                x->close_outcome = e->outcome;
            resolve(a, r, x, res, o->met_ms, e);
        } else if (e->after_fact && o->begun_ms && o->begun_ms == e->ev_at &&
                   o->met_by_alloc && e->alloc_cause && e->alloc_clock >= o->due_ms) {
            /* [L] the obligation itself is news (an area's prioritisation applied after the
             * case's partition had passed it): what the facts say happened is recorded, the
             * firing at its due time and the meeting (by its own event) after it, as history,
             * when the case's clock had passed the due time before the allocation came (as
             * it would have fired had the area been applied first). Only the evaluation of
             * the event that began it does this: once per fact. */
            x = alert_fire(a, r, o, key, pending_at, e, NULL, true);
            eval_t by = *e;
            by.cause = e->alloc_cause;
            resolve(a, r, x, res, o->met_ms, &by);
            a->tr[a->ntr - 1].historic = true;
        }
        return INT64_MAX;
    }
    if (e->closed) {
        if (x)
            resolve_closed(a, r, x, e);
        return INT64_MAX;
    }
    if (x && x->due_ms != o->due_ms && now < o->due_ms && x->state == CW_ALERT_FIRING) {
        /* the deadline moved past now (an s32 extension, a relisting): this breach is over */
        resolve(a, r, x, CW_RES_CONDITION_CLEARED, caused_at(e), e);
        x = NULL;
    }
    if (now < pending_at) {
        if (x) /* re-baselined further away: not pending any more */
            resolve(a, r, x, CW_RES_NO_LONGER_APPLIES, caused_at(e), e);
        return pending_at;
    }
    if (!x)
        x = alert_begin(a, r, o, key, pending_at, e);
    x->due_ms = o->due_ms;
    x->value = o->value;
    if (now >= o->due_ms) {
        if (x->state == CW_ALERT_PENDING) {
            alert_fire(a, r, o, key, pending_at, e, x, false);
        } else if (e->live && x->severity == CW_SEV_CRITICAL && !x->acknowledged &&
                   r->repeat_ms > 0 && now >= x->notified_ms + r->repeat_ms) {
            /* reminders are for live alerts: none while the partition catches up */
            transition(a, r, x, CW_ALERT_FIRING, true, true, now, now); /* the clock's */
        }
        if (x->severity == CW_SEV_CRITICAL && !x->acknowledged && r->repeat_ms > 0) {
            /* while the partition catches up no reminder goes out: look again a repeat
             * interval on, not at every tick (a past time would re-evaluate the case at every
             * event of its partition) */
            int64_t at = (x->notified_ms ? x->notified_ms : now) + r->repeat_ms;
            return at > now ? at : now + r->repeat_ms;
        }
        return INT64_MAX;
    }
    return o->due_ms;
}

/* A dedup key "rule|scope|subject" whole: rule names are short, a scope is a case id or
 * "worker:"/"area:" and an identifier, a subject an identifier (each <= CW_EVENT_ID_MAX).
 * A key cut short would make two subjects one alert. */
#define CW_ALERT_KEY_MAX (64 + 1 + 8 + CW_EVENT_ID_MAX + 1 + CW_EVENT_ID_MAX + 1)

static void make_key(char *buf, size_t sz, const cw_rules_t *r, int rule, const char *scope,
                     const char *subject)
{
    snprintf(buf, sz, "%s|%s|%s", r->rule[rule].name, scope, subject);
}

int64_t cw_alerts_evaluate_case(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                const cw_case_t *c, const cw_workdays_t *wd,
                                cw_area_prioritised_fn prio, void *arg, int64_t now,
                                const cw_cause_t *cause)
{
    return cw_alerts_evaluate_event(a, r, cb, c, wd, prio, arg, now, cause, 0);
}

int64_t cw_alerts_evaluate_event(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                 const cw_case_t *c, const cw_workdays_t *wd,
                                 cw_area_prioritised_fn prio, void *arg, int64_t now,
                                 const cw_cause_t *cause, int64_t occurred_ms)
{
    cw_eval_time_t t = {.now = now, .occurred_ms = occurred_ms, .live = true};
    return cw_alerts_evaluate_timed(a, r, cb, c, wd, prio, arg, &t, cause);
}

int64_t cw_alerts_evaluate_timed(cw_alerts_t *a, const cw_rules_t *r, const cw_casebook_t *cb,
                                 const cw_case_t *c, const cw_workdays_t *wd,
                                 cw_area_prioritised_fn prio, void *arg, const cw_eval_time_t *t,
                                 const cw_cause_t *cause)
{
    int64_t now = t->now, occurred_ms = t->occurred_ms;
    cw_obligation_t stack[32], *obl = stack;
    size_t n = cw_rules_case(r, cb, c, wd, prio, arg, stack, CW_ARRAY_LEN(stack));
    if (n > CW_ARRAY_LEN(stack)) {
        obl = cw_malloc(sizeof(cw_obligation_t) * n);
        n = cw_rules_case(r, cb, c, wd, prio, arg, obl, n);
    }
    cw_alert_t proto = {0};
    proto.case_id = c->case_id;
    proto.area = (char *)cw_casebook_str(cb, c->area);
    proto.worker = (char *)cw_casebook_str(cb, c->worker);
    proto.partition = c->partition;
    proto.case_type = c->case_type;
    bool closed = cw_case_closed(c);
    int64_t next = INT64_MAX;
    /* a change the clock makes has no cause event: which event of the case happened to be
     * the last applied when the clock got there depends on how events arrived */
    if (!cause)
        occurred_ms = 0;
    cw_cause_t alloc = {c->alloc_event_id, cw_casebook_str(cb, c->alloc_topic), c->partition,
                        c->alloc_offset};
    eval_t e = {.now = now,
                .ev_at = occurred_ms > 0 ? occurred_ms : 0,
                .seen = cause && t->seen_ms > 0 ? t->seen_ms : 0,
                .live = t->live,
                .after_fact = t->after_fact,
                .alloc_cause = c->alloc_event_id ? &alloc : NULL,
                .alloc_clock = c->alloc_clock_ms,
                .origin = c->reopen_stamp.ms ? c->reopen_stamp.hash : 0,
                .cause = cause,
                .proto = &proto,
                .closed = closed,
                .close_ms = closed ? c->close_stamp.ms : 0,
                .outcome = closed ? c->outcome : 0};
    /* each obligation's key, built once */
    char kstack[32][CW_ALERT_KEY_MAX], (*keys)[CW_ALERT_KEY_MAX] = kstack;
    if (n > 32)
        keys = cw_malloc(sizeof(*keys) * n);
    for (size_t i = 0; i < n; i++)
        make_key(keys[i], sizeof(keys[i]), r, obl[i].rule, c->case_id, obl[i].subject);
    for (size_t i = 0; i < n; i++) {
        int64_t pending_at = obl[i].due_ms - r->rule[obl[i].rule].lead_days * CW_MS_PER_DAY;
        next = min64(next, apply_obligation(a, r, &obl[i], keys[i], pending_at, &e));
    }
    /* active alerts of this case whose obligation is gone (reclassified, rule disabled, …) */
    scope_entry_t *se = scope_get(a, c->case_id, false);
    for (int i = 0; se && i < se->n;) {
        cw_alert_t *x = se->v[i];
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = !strcmp(keys[k], x->dedup_key);
        if (found) {
            i++;
            continue;
        }
        int n_before = se->n;
        if (closed)
            resolve_closed(a, r, x, &e);
        else
            resolve(a, r, x,
                    !r->rule[x->rule].enabled ? CW_RES_RULE_REMOVED : CW_RES_NO_LONGER_APPLIES,
                    caused_at(&e), &e);
        se = scope_get(a, c->case_id, false);
        if (!se || se->n == n_before)
            break; /* the entry went away with its last alert */
    }
    if (keys != kstack)
        free(keys);
    if (obl != stack)
        free(obl);
    return next;
}

int64_t cw_alerts_evaluate_scope(cw_alerts_t *a, const cw_rules_t *r, const char *scope,
                                 const char *area, const char *worker,
                                 const cw_obligation_t *obl, size_t n, int64_t now)
{
    cw_alert_t proto = {0};
    proto.area = (char *)(area ? area : "");
    proto.worker = (char *)(worker ? worker : "");
    proto.partition = -1;
    eval_t e = {.now = now, .proto = &proto, .live = true};
    int64_t next = INT64_MAX;
    char key[CW_ALERT_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        cw_obligation_t o = obl[i];
        make_key(key, sizeof(key), r, o.rule, scope, o.subject);
        cw_alert_t *x = cw_alerts_find(a, key);
        if (x) /* the condition has held since the alert was armed */
            o.armed_ms = x->armed_ms;
        else if (!o.armed_ms)
            o.armed_ms = now;
        if (o.due_ms < 0) /* a duration: the condition must hold this long */
            o.due_ms = o.armed_ms - o.due_ms;
        else if (o.due_ms < o.armed_ms)
            o.due_ms = o.armed_ms;
        /* pending from the moment the condition holds, whatever lead_days says: the pending
         * alert is what remembers (and, stored, keeps across a restart) when it began */
        next = min64(next, apply_obligation(a, r, &o, key, o.armed_ms, &e));
    }
    scope_entry_t *se = scope_get(a, scope, false);
    for (int i = 0; se && i < se->n;) {
        cw_alert_t *x = se->v[i];
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) {
            make_key(key, sizeof(key), r, obl[k].rule, scope, obl[k].subject);
            found = !strcmp(key, x->dedup_key);
        }
        if (found) {
            i++;
            continue;
        }
        int n_before = se->n;
        resolve(a, r, x, CW_RES_CONDITION_CLEARED, now, &e);
        se = scope_get(a, scope, false);
        if (!se || se->n == n_before)
            break;
    }
    return next;
}

void cw_alerts_format(const cw_transition_t *t, const cw_rules_t *r, char *buf, size_t bufsz)
{
    const cw_alert_t *x = &t->alert;
    const cw_rule_t *rule = &r->rule[x->rule];
    char when[32];
    time_t s = (time_t)(t->at / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    snprintf(buf, bufsz, "%s %-8s %-14s %-8s %s case=%s%s%s%s%s area=%s%s", when,
             cw_severity_name(rule->severity), cw_family_name(rule->family),
             x->state == CW_ALERT_RESOLVED ? "RESOLVED" : t->repeat ? "REMINDER" : "FIRING",
             rule->name,
             *x->case_id ? x->case_id : "-", *x->subject ? " subject=" : "", x->subject,
             *x->worker && !*x->case_id ? " worker=" : "", *x->case_id ? "" : x->worker,
             *x->area ? x->area : "-", x->silenced ? " (silenced)" : "");
}

void cw_alerts_foreach(const cw_alerts_t *a, void (*fn)(void *arg, const cw_alert_t *x), void *arg)
{
    for (size_t i = 0; i < a->cap; i++)
        if (a->slots[i])
            fn(arg, a->slots[i]);
}
