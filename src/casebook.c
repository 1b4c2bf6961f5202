/*
 * casebook.c — per-case domain state, applied from events in an order-independent way, and
 * the aggregate contributions of each case. Pure: no I/O, no clock, no globals.
 *
 * Owns every cw_case_t (in an open-addressing table keyed by case_id, linear probing with
 * backward-shift deletion), their child/report/hearing/concern arrays, the string intern pool
 * (areas, teams, workers: shared by many cases, stored once) and the area table. The dirty
 * lists hold pointers into these; they are emptied at each commit and before any drop.
 */
#include "casewatch/casebook.h"
#include "casewatch/workdays.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ intern pool */

typedef struct intern {
    char **strs; /* id -> string; id 0 is "" */
    uint32_t n, cap;
    uint32_t *slots; /* hash -> id, 0 = empty */
    uint32_t nslots;
} intern_t;

struct cw_casebook {
    cw_case_t **slots;
    size_t cap; /* power of two */
    size_t count;
    cw_case_t **dirty;
    size_t ndirty, dirtycap;
    intern_t in;
    cw_area_t **areas;
    size_t nareas, areacap;
    cw_area_t **dirty_areas;
    size_t ndirty_areas, dirty_areacap;
};

uint64_t cw_casebook_hash(const char *s)
{
    return cw_hash_str(s);
}

static void intern_grow(intern_t *in)
{
    uint32_t ns = in->nslots ? in->nslots * 2 : 256;
    uint32_t *slots = cw_calloc(ns, sizeof(uint32_t));
    for (uint32_t id = 1; id < in->n; id++) {
        uint32_t i = (uint32_t)cw_casebook_hash(in->strs[id]) & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = id;
    }
    free(in->slots);
    in->slots = slots;
    in->nslots = ns;
}

uint32_t cw_casebook_intern(cw_casebook_t *cb, const char *s)
{
    if (!s || !*s)
        return 0;
    intern_t *in = &cb->in;
    if ((in->n + 1) * 2 > in->nslots)
        intern_grow(in);
    uint32_t i = (uint32_t)cw_casebook_hash(s) & (in->nslots - 1);
    while (in->slots[i]) {
        if (!strcmp(in->strs[in->slots[i]], s))
            return in->slots[i];
        i = (i + 1) & (in->nslots - 1);
    }
    if (in->n == in->cap) {
        in->cap *= 2;
        in->strs = cw_realloc(in->strs, sizeof(char *) * in->cap);
    }
    in->strs[in->n] = cw_strdup(s);
    in->slots[i] = in->n;
    return in->n++;
}

const char *cw_casebook_str(const cw_casebook_t *cb, uint32_t id)
{
    return id < cb->in.n ? cb->in.strs[id] : "";
}

/* ------------------------------------------------------------------ names */

const char *cw_case_type_name(int t)
{
    static const char *const names[] = {"",
                                        "PUBLIC_LAW_S31_CARE",
                                        "PUBLIC_LAW_S31_SUPERVISION",
                                        "PUBLIC_LAW_OTHER",
                                        "PRIVATE_LAW_WTFH",
                                        "PRIVATE_LAW_WAFH",
                                        "RULE_16_4"};
    return t >= 0 && t < (int)CW_ARRAY_LEN(names) ? names[t] : "";
}

const char *cw_alloc_name(int a)
{
    static const char *const names[] = {"awaiting", "allocated", "duty", "post_assessment_hub",
                                        "allocation_hub"};
    return a >= 0 && a < (int)CW_ARRAY_LEN(names) ? names[a] : "";
}

const char *cw_live_metric_name(int m)
{
    static const char *const names[] = {"alloc_allocated",       "alloc_duty",
                                        "alloc_post_assessment_hub", "alloc_allocation_hub",
                                        "children_in_allocated", "children_seen",
                                        "children_seen_in_person"};
    return m >= 0 && m < (int)CW_ARRAY_LEN(names) ? names[m] : "";
}

const char *cw_report_kind_name(int k)
{
    static const char *const names[] = {"",
                                        "S7_REPORT",
                                        "S7_ADDENDUM",
                                        "SAFEGUARDING_LETTER",
                                        "RISK_ASSESSMENT_16A",
                                        "GUARDIAN_ANALYSIS",
                                        "OTHER"};
    return k >= 0 && k < (int)CW_ARRAY_LEN(names) ? names[k] : "";
}

/* ------------------------------------------------------------------ aggregate deltas */

struct cw_aggdelta {
    cw_agg_entry_t *entries;
    size_t n, cap;
    uint32_t *slots; /* index+1 into entries, 0 = empty */
    size_t nslots;
};

static uint64_t key_hash(const cw_agg_key_t *k)
{
    return cw_hash_fnv1a(k, sizeof(*k));
}

cw_aggdelta_t *cw_aggdelta_new(void)
{
    return cw_calloc(1, sizeof(cw_aggdelta_t));
}

void cw_aggdelta_destroy(cw_aggdelta_t *d)
{
    if (!d)
        return;
    free(d->entries);
    free(d->slots);
    free(d);
}

static void agg_rehash(cw_aggdelta_t *d, size_t nslots)
{
    free(d->slots);
    d->slots = cw_calloc(nslots, sizeof(uint32_t));
    d->nslots = nslots;
    for (size_t e = 0; e < d->n; e++) {
        size_t i = key_hash(&d->entries[e].key) & (nslots - 1);
        while (d->slots[i])
            i = (i + 1) & (nslots - 1);
        d->slots[i] = (uint32_t)e + 1;
    }
}

void cw_aggdelta_add(cw_aggdelta_t *d, const cw_agg_key_t *key, int64_t v1, int64_t v2)
{
    if ((d->n + 1) * 2 > d->nslots)
        agg_rehash(d, d->nslots ? d->nslots * 2 : 256);
    size_t i = key_hash(key) & (d->nslots - 1);
    while (d->slots[i]) {
        cw_agg_entry_t *e = &d->entries[d->slots[i] - 1];
        if (!memcmp(&e->key, key, sizeof(*key))) {
            e->v1 += v1;
            e->v2 += v2;
            return;
        }
        i = (i + 1) & (d->nslots - 1);
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->entries = cw_realloc(d->entries, sizeof(cw_agg_entry_t) * d->cap);
    }
    d->entries[d->n] = (cw_agg_entry_t){.key = *key, .v1 = v1, .v2 = v2};
    d->slots[i] = (uint32_t)++d->n;
}

const cw_agg_entry_t *cw_aggdelta_entries(const cw_aggdelta_t *d, size_t *n)
{
    *n = d->n;
    return d->entries;
}

void cw_aggdelta_clear(cw_aggdelta_t *d)
{
    d->n = 0;
    if (d->slots)
        memset(d->slots, 0, sizeof(uint32_t) * d->nslots);
}

/* ------------------------------------------------------------------ case table */

cw_casebook_t *cw_casebook_new(void)
{
    cw_casebook_t *cb = cw_calloc(1, sizeof(*cb));
    cb->cap = 1024;
    cb->slots = cw_calloc(cb->cap, sizeof(cw_case_t *));
    cb->in.cap = 64;
    cb->in.strs = cw_malloc(sizeof(char *) * cb->in.cap);
    cb->in.strs[0] = cw_strdup("");
    cb->in.n = 1;
    intern_grow(&cb->in);
    return cb;
}

void cw_casebook_set_last_event(cw_casebook_t *cb, cw_case_t *c, const char *event_id,
                                const char *topic, int64_t offset, int64_t clock_ms)
{
    if (c->alloc_cause_due) {
        free(c->alloc_event_id);
        c->alloc_event_id = cw_strdup(event_id);
        c->alloc_topic = cw_casebook_intern(cb, topic);
        c->alloc_offset = offset;
        c->alloc_clock_ms = clock_ms;
        c->alloc_cause_due = false;
    }
    if (!c->last_event_id || strcmp(c->last_event_id, event_id)) {
        free(c->last_event_id);
        c->last_event_id = cw_strdup(event_id);
    }
    c->last_topic = cw_casebook_intern(cb, topic);
    c->last_offset = offset;
}

static void case_free(cw_case_t *c)
{
    free(c->last_event_id);
    free(c->alloc_event_id);
    for (int i = 0; i < c->nchildren; i++)
        free(c->children[i].child_id);
    for (int i = 0; i < c->nreports; i++)
        free(c->reports[i].report_id);
    for (int i = 0; i < c->nhearings; i++)
        free(c->hearings[i].hearing_id);
    for (int i = 0; i < c->nconcerns; i++)
        free(c->concerns[i].concern_id);
    free(c->children);
    free(c->reports);
    free(c->hearings);
    free(c->concerns);
    free(c->case_id);
    free(c);
}

void cw_casebook_destroy(cw_casebook_t *cb)
{
    if (!cb)
        return;
    for (size_t i = 0; i < cb->cap; i++)
        if (cb->slots[i])
            case_free(cb->slots[i]);
    free(cb->slots);
    free(cb->dirty);
    for (uint32_t i = 0; i < cb->in.n; i++)
        free(cb->in.strs[i]);
    free(cb->in.strs);
    free(cb->in.slots);
    for (size_t i = 0; i < cb->nareas; i++) {
        free(cb->areas[i]->changes);
        free(cb->areas[i]);
    }
    free(cb->areas);
    free(cb->dirty_areas);
    free(cb);
}

size_t cw_casebook_count(const cw_casebook_t *cb)
{
    return cb->count;
}

static size_t find_slot(const cw_casebook_t *cb, const char *id, uint64_t h)
{
    size_t mask = cb->cap - 1;
    size_t i = (size_t)h & mask;
    while (cb->slots[i]) {
        if (cb->slots[i]->hash == h && !strcmp(cb->slots[i]->case_id, id))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void grow(cw_casebook_t *cb)
{
    size_t oldcap = cb->cap;
    cw_case_t **old = cb->slots;
    cb->cap *= 2;
    cb->slots = cw_calloc(cb->cap, sizeof(cw_case_t *));
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i])
            continue;
        size_t j = (size_t)old[i]->hash & (cb->cap - 1);
        while (cb->slots[j])
            j = (j + 1) & (cb->cap - 1);
        cb->slots[j] = old[i];
    }
    free(old);
}

void cw_casebook_foreach_hash(const cw_casebook_t *cb, uint64_t h,
                              void (*fn)(void *arg, cw_case_t *c), void *arg)
{
    size_t mask = cb->cap - 1;
    for (size_t i = (size_t)h & mask; cb->slots[i]; i = (i + 1) & mask)
        if (cb->slots[i]->hash == h)
            fn(arg, cb->slots[i]);
}

void cw_casebook_foreach(const cw_casebook_t *cb, void (*fn)(void *arg, cw_case_t *c), void *arg)
{
    for (size_t i = 0; i < cb->cap; i++)
        if (cb->slots[i])
            fn(arg, cb->slots[i]);
}

const cw_area_t *cw_casebook_area_find(const cw_casebook_t *cb, uint32_t name)
{
    for (size_t i = 0; i < cb->nareas; i++)
        if (cb->areas[i]->name == name)
            return cb->areas[i];
    return NULL;
}

cw_case_t *cw_casebook_find(const cw_casebook_t *cb, const char *case_id)
{
    return cb->slots[find_slot(cb, case_id, cw_casebook_hash(case_id))];
}

static cw_case_t *get_or_create(cw_casebook_t *cb, const char *case_id, int32_t partition,
                                bool *created)
{
    uint64_t h = cw_casebook_hash(case_id);
    size_t i = find_slot(cb, case_id, h);
    *created = false;
    if (cb->slots[i])
        return cb->slots[i];
    if ((cb->count + 1) * 4 > cb->cap * 3) {
        grow(cb);
        i = find_slot(cb, case_id, h);
    }
    cw_case_t *c = cw_calloc(1, sizeof(*c));
    c->case_id = cw_strdup(case_id);
    c->hash = h;
    c->partition = partition;
    cb->slots[i] = c;
    cb->count++;
    *created = true;
    return c;
}

static void mark_dirty(cw_casebook_t *cb, cw_case_t *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    if (cb->ndirty == cb->dirtycap) {
        cb->dirtycap = cb->dirtycap ? cb->dirtycap * 2 : 256;
        cb->dirty = cw_realloc(cb->dirty, sizeof(cw_case_t *) * cb->dirtycap);
    }
    cb->dirty[cb->ndirty++] = c;
}

cw_case_t *const *cw_casebook_dirty(const cw_casebook_t *cb, size_t *n)
{
    *n = cb->ndirty;
    return cb->dirty;
}

void cw_casebook_clear_dirty(cw_casebook_t *cb)
{
    for (size_t i = 0; i < cb->ndirty; i++)
        cb->dirty[i]->dirty = false;
    cb->ndirty = 0;
}

static void remove_slot(cw_casebook_t *cb, size_t i)
{
    size_t mask = cb->cap - 1;
    case_free(cb->slots[i]);
    cb->slots[i] = NULL;
    cb->count--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!cb->slots[j])
            return;
        size_t home = (size_t)cb->slots[j]->hash & mask;
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            cb->slots[i] = cb->slots[j];
            cb->slots[j] = NULL;
            i = j;
        }
    }
}

void cw_casebook_drop_partitions(cw_casebook_t *cb, const int32_t *parts, int n)
{
    cw_casebook_clear_dirty(cb);
    for (size_t i = 0; i < cb->cap;) {
        cw_case_t *c = cb->slots[i];
        bool drop = false;
        for (int p = 0; c && p < n; p++)
            drop |= c->partition == parts[p];
        if (drop)
            remove_slot(cb, i);
        else
            i++;
    }
}

void cw_casebook_clear(cw_casebook_t *cb)
{
    cw_casebook_clear_dirty(cb);
    /* areas may hold uncommitted changes too: they are reloaded with the partitions */
    cb->ndirty_areas = 0;
    for (size_t i = 0; i < cb->nareas; i++) {
        free(cb->areas[i]->changes);
        free(cb->areas[i]);
    }
    cb->nareas = 0;
    for (size_t i = 0; i < cb->cap; i++) {
        if (cb->slots[i]) {
            case_free(cb->slots[i]);
            cb->slots[i] = NULL;
        }
    }
    cb->count = 0;
}

/* ------------------------------------------------------------------ areas */

cw_area_t *cw_casebook_area(cw_casebook_t *cb, uint32_t name)
{
    for (size_t i = 0; i < cb->nareas; i++)
        if (cb->areas[i]->name == name)
            return cb->areas[i];
    if (cb->nareas == cb->areacap) {
        cb->areacap = cb->areacap ? cb->areacap * 2 : 16;
        cb->areas = cw_realloc(cb->areas, sizeof(cw_area_t *) * cb->areacap);
    }
    cw_area_t *a = cw_calloc(1, sizeof(*a));
    a->name = name;
    cb->areas[cb->nareas++] = a;
    return a;
}

cw_area_t *const *cw_casebook_areas(const cw_casebook_t *cb, size_t *n)
{
    *n = cb->nareas;
    return cb->areas;
}

uint32_t cw_casebook_event_area(cw_casebook_t *cb, const cw_event_t *ev)
{
    const Casewatch__V1__Event *e = ev->pb;
    if (e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED)
        return cw_casebook_intern(cb, e->prioritisation_activated->court_area);
    if (e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED)
        return cw_casebook_intern(cb, e->prioritisation_deactivated->court_area);
    return 0;
}

void cw_area_add_change(cw_area_t *a, int64_t ms, uint64_t hash, bool on)
{
    uint32_t k = a->nchanges;
    while (k > 0 && (a->changes[k - 1].ms > ms ||
                     (a->changes[k - 1].ms == ms && a->changes[k - 1].hash > hash)))
        k--;
    if (k > 0 && a->changes[k - 1].ms == ms && a->changes[k - 1].hash == hash)
        return; /* held */
    if (a->nchanges == CW_PRIO_CHANGES_MAX) {
        if (k == 0)
            return; /* older than everything kept */
        memmove(a->changes, a->changes + 1, sizeof(*a->changes) * (size_t)(a->nchanges - 1));
        a->nchanges--;
        k--;
    }
    if (a->nchanges == a->capchanges) {
        a->capchanges = a->capchanges ? a->capchanges * 2 : 4;
        a->changes = cw_realloc(a->changes, sizeof(*a->changes) * a->capchanges);
    }
    memmove(a->changes + k + 1, a->changes + k, sizeof(*a->changes) * (size_t)(a->nchanges - k));
    a->changes[k] = (cw_prio_change_t){ms, hash, on};
    a->nchanges++;
}

static void area_dirty(cw_casebook_t *cb, cw_area_t *a)
{
    if (a->dirty)
        return;
    a->dirty = true;
    if (cb->ndirty_areas == cb->dirty_areacap) {
        cb->dirty_areacap = cb->dirty_areacap ? cb->dirty_areacap * 2 : 8;
        cb->dirty_areas = cw_realloc(cb->dirty_areas, sizeof(cw_area_t *) * cb->dirty_areacap);
    }
    cb->dirty_areas[cb->ndirty_areas++] = a;
}

cw_area_t *const *cw_casebook_dirty_areas(const cw_casebook_t *cb, size_t *n)
{
    *n = cb->ndirty_areas;
    return cb->dirty_areas;
}

void cw_casebook_clear_dirty_areas(cw_casebook_t *cb)
{
    for (size_t i = 0; i < cb->ndirty_areas; i++)
        cb->dirty_areas[i]->dirty = false;
    cb->ndirty_areas = 0;
}

/* ------------------------------------------------------------------ facts */

static bool newer(int64_t ms, uint64_t h, cw_stamp_t cur)
{
    return ms > cur.ms || (ms == cur.ms && h > cur.hash);
}

static bool older(int64_t ms, uint64_t h, cw_stamp_t cur)
{
    return cur.ms == 0 || ms < cur.ms || (ms == cur.ms && h < cur.hash);
}

/* The date a hearing is listed for comes from its latest listing or relisting, whatever
 * came after it (a hearing held is still the one listed for that date); at the same time, the
 * later date, so the result does not depend on arrival. */
static void relist(cw_hearing_t *hg, int64_t t, int64_t listed_for)
{
    if (t > hg->listing_ms || (t == hg->listing_ms && listed_for > hg->listed_for_ms)) {
        hg->listing_ms = t;
        hg->listed_for_ms = listed_for;
    }
}

static void set_min(int64_t *field, int64_t t)
{
    if (*field == 0 || t < *field)
        *field = t;
}

static void set_max(int64_t *field, int64_t t)
{
    if (t > *field)
        *field = t;
}

bool cw_case_closed(const cw_case_t *c)
{
    if (!c->opened || c->close_stamp.ms == 0)
        return false;
    return !(c->reopen_stamp.ms > c->close_stamp.ms ||
             (c->reopen_stamp.ms == c->close_stamp.ms && c->reopen_stamp.hash > c->close_stamp.hash));
}

int64_t cw_report_due_ms(const cw_report_t *r)
{
    return r->extensions && r->ext_due_ms ? r->ext_due_ms : r->due_ms;
}

typedef struct apply_ctx apply_ctx_t;
static void anomaly(apply_ctx_t *a, const char *kind, const char *fmt, ...) CW_PRINTF(3, 4);

/* The per-case arrays are kept sorted by id, so a case's state (and its serialised form) is
 * the same whatever order its events arrived in. Cases hold a handful of each: insertion by
 * linear scan and memmove is the cheapest correct thing. A case full of entries (a storm of
 * fresh ids: CW_CASE_ENTRIES_MAX) takes no more: NULL, and the event is an anomaly. */
#define SORTED_GET(type, arr, n, idfield, id, a, what)                                             \
    do {                                                                                           \
        int pos_ = 0;                                                                              \
        for (; pos_ < (n); pos_++) {                                                               \
            int cmp_ = strcmp((arr)[pos_].idfield, (id));                                          \
            if (cmp_ == 0)                                                                         \
                return &(arr)[pos_];                                                               \
            if (cmp_ > 0)                                                                          \
                break;                                                                             \
        }                                                                                          \
        if ((n) >= CW_CASE_ENTRIES_MAX) {                                                          \
            anomaly((a), "too_many_entries", "case already holds %d %s", (int)(n), (what));        \
            return NULL;                                                                           \
        }                                                                                          \
        (arr) = cw_realloc((arr), sizeof(type) * (size_t)((n) + 1));                               \
        memmove(&(arr)[pos_ + 1], &(arr)[pos_], sizeof(type) * (size_t)((n) - pos_));              \
        memset(&(arr)[pos_], 0, sizeof(type));                                                     \
        (arr)[pos_].idfield = cw_strdup(id);                                                       \
        (n)++;                                                                                     \
        return &(arr)[pos_];                                                                       \
    } while (0)

static cw_child_t *child_get(cw_case_t *c, const char *id, apply_ctx_t *a)
{
    SORTED_GET(cw_child_t, c->children, c->nchildren, child_id, id, a, "children");
}

static cw_report_t *report_get(cw_case_t *c, const char *id, apply_ctx_t *a)
{
    SORTED_GET(cw_report_t, c->reports, c->nreports, report_id, id, a, "reports");
}

static cw_hearing_t *hearing_get(cw_case_t *c, const char *id, apply_ctx_t *a)
{
    SORTED_GET(cw_hearing_t, c->hearings, c->nhearings, hearing_id, id, a, "hearings");
}

/* Concerns with an id are one entry per id; those without are one entry per event, ordered
 * by (id, raised time) so that the order does not depend on arrival.
 *
 * The same array keeps the 16a risk assessments as records (kind CW_CONCERN_16A_RECORD,
 * raised_ms 0 so no rule reads them as concerns, assessed_ms the assessment's time, the
 * concern id it named or "" for one that named none), after the concerns of the same id and
 * ordered by time. With them a concern that arrives after its assessment is assessed exactly
 * as if it had arrived first. */
static cw_concern_t *concern_add(cw_case_t *c, const char *id, int64_t when, bool record,
                                 apply_ctx_t *a)
{
    id = id ? id : "";
    int pos = 0;
    for (; pos < c->nconcerns; pos++) {
        const cw_concern_t *k = &c->concerns[pos];
        int cmp = strcmp(k->concern_id, id);
        if (cmp == 0)
            cmp = (k->kind == CW_CONCERN_16A_RECORD) - record;
        if (cmp == 0) {
            if (record ? k->assessed_ms == when : *id != '\0')
                return &c->concerns[pos];
            cmp = (record ? k->assessed_ms : k->raised_ms) > when;
        }
        if (cmp > 0)
            break;
    }
    if (c->nconcerns >= CW_CASE_ENTRIES_MAX) {
        anomaly(a, "too_many_entries", "case already holds %d concerns and 16a records",
                (int)c->nconcerns);
        return NULL;
    }
    c->concerns = cw_realloc(c->concerns, sizeof(cw_concern_t) * (size_t)(c->nconcerns + 1));
    memmove(&c->concerns[pos + 1], &c->concerns[pos],
            sizeof(cw_concern_t) * (size_t)(c->nconcerns - pos));
    memset(&c->concerns[pos], 0, sizeof(cw_concern_t));
    c->concerns[pos].concern_id = cw_strdup(id);
    if (record) {
        c->concerns[pos].kind = CW_CONCERN_16A_RECORD;
        c->concerns[pos].assessed_ms = when;
    }
    c->nconcerns++;
    return &c->concerns[pos];
}

/* A 16a record assesses a concern of its id, or any concern when it names none, raised at or
 * before it; a concern's assessment is the earliest such record. Records only ever add and a
 * concern's raised time only moves earlier, so that earliest time only moves earlier too:
 * taking the minimum with what the concern holds is the same as recomputing it, and keeps the
 * assessments of states written before the records were kept. */
static bool record_assesses(const cw_concern_t *r, const cw_concern_t *k)
{
    return r->kind == CW_CONCERN_16A_RECORD && k->kind != CW_CONCERN_16A_RECORD &&
           k->raised_ms && r->assessed_ms >= k->raised_ms &&
           (!*r->concern_id || !strcmp(r->concern_id, k->concern_id));
}

static void assess(cw_concern_t *k, int64_t t)
{
    if (!k->assessed_ms || t < k->assessed_ms)
        k->assessed_ms = t;
}

/* ------------------------------------------------------------------ contributions */

void cw_casebook_contribute(const cw_casebook_t *cb, const cw_case_t *c, int sign,
                            cw_aggdelta_t *agg)
{
    (void)cb;
    if (!agg || !c->opened)
        return;
    bool closed = cw_case_closed(c);
    int members = 0, seen = 0, in_person = 0;
    for (int i = 0; i < c->nchildren; i++) {
        if (!c->children[i].member)
            continue;
        members++;
        seen += c->children[i].seen_ms != 0;
        in_person += c->children[i].in_person_ms != 0;
    }
    cw_agg_key_t k;
    memset(&k, 0, sizeof(k));
    k.table = CW_AGG_COHORT;
    k.case_type = c->case_type;
    k.area = c->area;
    k.day1 = cw_day_from_ms(c->start_ms);
    k.day2 = closed ? cw_day_from_ms(c->close_stamp.ms) : CW_DAY_OPEN;
    cw_aggdelta_add(agg, &k, sign, (int64_t)sign * members);

    if (!closed) {
        static const uint8_t alloc_metric[] = {CW_LIVE_ALLOC_DUTY, CW_LIVE_ALLOC_ALLOCATED,
                                               CW_LIVE_ALLOC_DUTY, CW_LIVE_ALLOC_PAH,
                                               CW_LIVE_ALLOC_HUB};
        memset(&k, 0, sizeof(k));
        k.table = CW_AGG_LIVE;
        k.case_type = c->case_type;
        k.area = c->area;
        k.sub = alloc_metric[c->alloc < CW_ARRAY_LEN(alloc_metric) ? c->alloc : 0];
        cw_aggdelta_add(agg, &k, sign, 0);
        if (c->alloc == CW_ALLOC_ALLOCATED) {
            k.sub = CW_LIVE_CHILDREN_ALLOCATED;
            cw_aggdelta_add(agg, &k, (int64_t)sign * members, 0);
            k.sub = CW_LIVE_CHILDREN_SEEN;
            cw_aggdelta_add(agg, &k, (int64_t)sign * seen, 0);
            k.sub = CW_LIVE_CHILDREN_IN_PERSON;
            cw_aggdelta_add(agg, &k, (int64_t)sign * in_person, 0);
            if (c->worker) {
                memset(&k, 0, sizeof(k));
                k.table = CW_AGG_WORKER;
                k.area = c->area;
                k.worker = c->worker;
                cw_aggdelta_add(agg, &k, sign, 0);
            }
        }
    }
    for (int i = 0; i < c->nreports; i++) {
        const cw_report_t *r = &c->reports[i];
        if (!r->filed_ms || !r->ordered_ms || !r->kind)
            continue; /* a report counts once it was ordered (its kind comes from the order) */
        int64_t due = cw_report_due_ms(r);
        bool on_time = due && cw_day_from_ms(r->filed_ms) <= cw_day_from_ms(due);
        memset(&k, 0, sizeof(k));
        k.table = CW_AGG_REPORT;
        k.case_type = c->case_type;
        k.area = c->area;
        k.sub = r->kind;
        k.day1 = cw_day_from_ms(r->filed_ms);
        k.flags = (uint8_t)((on_time ? 1 : 0) | (r->extensions ? 2 : 0));
        cw_aggdelta_add(agg, &k, sign, 0);
    }
}

/* ------------------------------------------------------------------ applying events */

struct apply_ctx {
    const cw_event_t *ev;
    cw_anomaly_fn fn;
    void *arg;
    cw_case_t *c;
};

static void anomaly(apply_ctx_t *a, const char *kind, const char *fmt, ...)
{
    if (a->c)
        a->c->anomalies++;
    if (!a->fn)
        return;
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    a->fn(a->arg, a->ev, kind, detail);
}

/* One handler per event kind: what that kind does to the case, between the common prologue
 * (case lookup, -1 contribution, the after-close check) and epilogue (first/last times, the
 * count, +1 contribution, dirty) that cw_casebook_apply() keeps. t and h are the event's time
 * and id hash, the stamp its facts are ordered by. */
typedef void apply_fn(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                      int64_t t, uint64_t h, apply_ctx_t *a);

static void apply_case_opened(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                              int64_t t, uint64_t h, apply_ctx_t *a)
{
    const Casewatch__V1__CaseOpened *o = e->case_opened;
    if (c->opened)
        anomaly(a, "case_opened_twice", "case_opened again; the earliest one counts");
    if (!older(t, h, c->opened_stamp))
        goto children; /* a later duplicate opening: keep the earliest's facts */
    c->opened = true;
    c->opened_stamp = (cw_stamp_t){t, h};
    c->start_ms = o->issued_at ? o->issued_at : t;
    if (!c->type_stamp.ms)
        c->case_type = (uint8_t)o->case_type;
    c->area = cw_casebook_intern(cb, o->court_area);
    c->osa = cw_casebook_intern(cb, o->service_area);
    if (!c->alloc_stamp.ms || !c->team)
        c->team = cw_casebook_intern(cb, o->team);
    c->welfare_at_risk = o->welfare_at_risk;
    c->pathfinder = o->pathfinder;
children:
    for (size_t i = 0; i < o->n_child_ids; i++) {
        cw_child_t *ch = child_get(c, o->child_ids[i], a);
        if (ch)
            ch->member = true;
    }
}

static void apply_child_added(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                              int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_child_t *ch = child_get(c, e->child_added->child_id, a);
    if (ch)
        ch->member = true;
}

static void apply_allocated(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                            int64_t t, uint64_t h, apply_ctx_t *a)
{
    const Casewatch__V1__Allocated *al = e->allocated;
    bool to_worker = al->target == CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER;
    bool to_team = al->target == CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM;
    bool to_duty = al->target == CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY;
    if ((to_worker || to_team) && (!c->first_alloc_ms || t < c->first_alloc_ms)) {
        c->first_alloc_ms = t;
        c->alloc_cause_due = true;
    }
    /* a return to duty after allocation, and the allocation that ends it */
    if (to_duty && c->first_alloc_ms && t > c->first_alloc_ms)
        set_max(&c->reduty_ms, t);
    if ((to_worker || to_team) && c->reduty_ms && t > c->reduty_ms &&
        (!c->reduty_met_ms || c->reduty_met_ms < c->reduty_ms || t < c->reduty_met_ms))
        c->reduty_met_ms = t;
    if (!newer(t, h, c->alloc_stamp))
        return;
    c->alloc_stamp = (cw_stamp_t){t, h};
    switch (al->target) {
    case CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_WORKER:
    case CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_TEAM:
        c->alloc = CW_ALLOC_ALLOCATED;
        break;
    case CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_DUTY:
        c->alloc = CW_ALLOC_DUTY;
        break;
    case CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_POST_ASSESSMENT_HUB:
        c->alloc = CW_ALLOC_PAH;
        break;
    case CASEWATCH__V1__ALLOCATION_TARGET__ALLOCATION_TARGET_ALLOCATION_HUB:
        c->alloc = CW_ALLOC_HUB;
        break;
    default:
        break;
    }
    c->worker = to_worker ? cw_casebook_intern(cb, al->worker_id) : 0;
    if (al->team && *al->team)
        c->team = cw_casebook_intern(cb, al->team);
}

static void apply_child_seen(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                             int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_child_t *ch = child_get(c, e->child_seen->child_id, a);
    if (!ch)
        return;
    set_min(&ch->seen_ms, t);
    if (e->child_seen->in_person)
        set_min(&ch->in_person_ms, t);
}

static void apply_hearing_listed(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                                 int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_hearing_t *hg = hearing_get(c, e->hearing_listed->hearing_id, a);
    if (!hg)
        return;
    /* the kind a listing gives wins over one a held event gave (the greater of two) */
    if (hg->kind_from_held || (uint8_t)e->hearing_listed->hearing_kind > hg->kind) {
        hg->kind = (uint8_t)e->hearing_listed->hearing_kind;
        hg->kind_from_held = false;
    }
    if (newer(t, h, hg->stamp)) {
        hg->stamp = (cw_stamp_t){t, h};
        hg->status = CW_HEARING_LISTED;
    }
    relist(hg, t, e->hearing_listed->listed_for);
}

static void apply_hearing_held(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                               int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_hearing_t *hg = hearing_get(c, e->hearing_held->hearing_id, a);
    if (!hg)
        return;
    if ((!hg->kind || hg->kind_from_held) && (uint8_t)e->hearing_held->hearing_kind > hg->kind) {
        hg->kind = (uint8_t)e->hearing_held->hearing_kind;
        hg->kind_from_held = true;
    }
    set_min(&hg->held_ms, t);
    if (newer(t, h, hg->stamp)) {
        hg->stamp = (cw_stamp_t){t, h};
        hg->status = CW_HEARING_HELD;
    }
}

static void apply_hearing_adjourned(cw_casebook_t *cb, cw_case_t *c,
                                    const Casewatch__V1__Event *e, int64_t t, uint64_t h,
                                    apply_ctx_t *a)
{
    cw_hearing_t *hg = hearing_get(c, e->hearing_adjourned->hearing_id, a);
    if (!hg)
        return;
    if (newer(t, h, hg->stamp)) {
        hg->stamp = (cw_stamp_t){t, h};
        hg->status = CW_HEARING_ADJOURNED;
    }
    if (e->hearing_adjourned->relisted_for)
        relist(hg, t, e->hearing_adjourned->relisted_for);
}

static void apply_report_ordered(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                                 int64_t t, uint64_t h, apply_ctx_t *a)
{
    const Casewatch__V1__ReportOrdered *ro = e->report_ordered;
    cw_report_t *r = report_get(c, ro->report_id, a);
    if (!r)
        return;
    if (r->ordered_ms)
        anomaly(a, "report_ordered_twice", "report ordered again");
    /* ordered twice: the first order; at the same time the later due date, then the greater
     * kind, so that arrival order does not matter */
    if (!r->ordered_ms || t < r->ordered_ms ||
        (t == r->ordered_ms &&
         (ro->due_at > r->due_ms ||
          (ro->due_at == r->due_ms && (uint8_t)ro->report_kind > r->kind)))) {
        r->ordered_ms = t;
        r->kind = (uint8_t)ro->report_kind;
        r->due_ms = ro->due_at;
    }
}

static void apply_report_extension_agreed(cw_casebook_t *cb, cw_case_t *c,
                                          const Casewatch__V1__Event *e, int64_t t, uint64_t h,
                                          apply_ctx_t *a)
{
    cw_report_t *r = report_get(c, e->report_extension_agreed->report_id, a);
    if (!r)
        return;
    if (!r->ordered_ms || r->ordered_ms > t)
        anomaly(a, "report_not_ordered", "extension agreed for a report not ordered");
    if (r->extensions < UINT16_MAX) /* a count that saturates, never wraps to "none" */
        r->extensions++;
    if (newer(t, h, r->ext_stamp)) {
        r->ext_stamp = (cw_stamp_t){t, h};
        r->ext_due_ms = e->report_extension_agreed->new_due_at;
    }
}

static void apply_report_filed(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                               int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_report_t *r = report_get(c, e->report_filed->report_id, a);
    if (!r)
        return;
    if (!r->ordered_ms || r->ordered_ms > t)
        anomaly(a, "report_not_ordered", "report filed that was never ordered");
    if (!r->ordered_ms && (uint8_t)e->report_filed->report_kind > r->kind)
        r->kind = (uint8_t)e->report_filed->report_kind; /* the order's kind wins */
    set_min(&r->filed_ms, t);
}

static void apply_concern_raised(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                                 int64_t t, uint64_t h, apply_ctx_t *a)
{
    const Casewatch__V1__SafeguardingConcernRaised *s = e->safeguarding_concern_raised;
    cw_concern_t *k = concern_add(c, s->concern_id, t, false, a);
    if (!k)
        return;
    /* raised twice: the first raising's kind (the greater at the same time) */
    if (!k->raised_ms || t < k->raised_ms ||
        (t == k->raised_ms && (uint8_t)s->concern_kind > k->kind))
        k->kind = (uint8_t)s->concern_kind;
    set_min(&k->raised_ms, t);
    for (int i = 0; i < c->nconcerns; i++)
        if (record_assesses(&c->concerns[i], k))
            assess(k, c->concerns[i].assessed_ms);
    if (s->concern_kind == CASEWATCH__V1__CONCERN_KIND__CONCERN_KIND_DOMESTIC_ABUSE)
        set_min(&c->da_alleged_ms, t);
}

static void apply_risk_assessment(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                                  int64_t t, uint64_t h, apply_ctx_t *a)
{
    set_max(&c->risk16a_ms, t);
    cw_concern_t *r = concern_add(c, e->risk_assessment_recorded->concern_id, t, true, a);
    if (!r)
        return;
    for (int i = 0; i < c->nconcerns; i++) /* r stays put: nothing is added in the loop */
        if (record_assesses(r, &c->concerns[i]))
            assess(&c->concerns[i], r->assessed_ms);
}

static void apply_da_assessed(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                              int64_t t, uint64_t h, apply_ctx_t *a)
{
    set_min(&c->da_assessed_ms, t);
}

static void apply_letter_filed(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                               int64_t t, uint64_t h, apply_ctx_t *a)
{
    cw_hearing_t *hg = hearing_get(c, e->safeguarding_letter_filed->hearing_id, a);
    if (hg)
        set_min(&hg->letter_ms, t);
}

static void apply_planning_meeting(cw_casebook_t *cb, cw_case_t *c,
                                   const Casewatch__V1__Event *e, int64_t t, uint64_t h,
                                   apply_ctx_t *a)
{
    set_min(&c->planning_ms, t);
}

static void apply_oversight(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                            int64_t t, uint64_t h, apply_ctx_t *a)
{
    set_min(&c->oversight_first_ms, t);
    set_max(&c->oversight_last_ms, t);
}

static void apply_case_closed(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                              int64_t t, uint64_t h, apply_ctx_t *a)
{
    if (newer(t, h, c->close_stamp)) {
        c->close_stamp = (cw_stamp_t){t, h};
        c->outcome = (uint8_t)e->case_closed->outcome;
    }
}

static void apply_case_reopened(cw_casebook_t *cb, cw_case_t *c, const Casewatch__V1__Event *e,
                                int64_t t, uint64_t h, apply_ctx_t *a)
{
    if (c->close_stamp.ms == 0 || c->close_stamp.ms > t)
        anomaly(a, "reopen_without_close", "case reopened that was not closed");
    if (newer(t, h, c->reopen_stamp))
        c->reopen_stamp = (cw_stamp_t){t, h};
}

static void apply_timetable_extended(cw_casebook_t *cb, cw_case_t *c,
                                     const Casewatch__V1__Event *e, int64_t t, uint64_t h,
                                     apply_ctx_t *a)
{
    c->extension_weeks += e->timetable_extended->weeks;
}

static void apply_case_reclassified(cw_casebook_t *cb, cw_case_t *c,
                                    const Casewatch__V1__Event *e, int64_t t, uint64_t h,
                                    apply_ctx_t *a)
{
    if (newer(t, h, c->type_stamp)) {
        c->type_stamp = (cw_stamp_t){t, h};
        c->case_type = (uint8_t)e->case_reclassified->new_case_type;
    }
}

/* Indexed by payload case. The prioritisation kinds are about an area, not a case: they are
 * applied before any case is looked up (apply_prioritisation), so they have no entry here. */
static apply_fn *const apply_handlers[] = {
    [CASEWATCH__V1__EVENT__PAYLOAD_CASE_OPENED] = apply_case_opened,
    [CASEWATCH__V1__EVENT__PAYLOAD_CHILD_ADDED] = apply_child_added,
    [CASEWATCH__V1__EVENT__PAYLOAD_ALLOCATED] = apply_allocated,
    [CASEWATCH__V1__EVENT__PAYLOAD_CHILD_SEEN] = apply_child_seen,
    [CASEWATCH__V1__EVENT__PAYLOAD_HEARING_LISTED] = apply_hearing_listed,
    [CASEWATCH__V1__EVENT__PAYLOAD_HEARING_HELD] = apply_hearing_held,
    [CASEWATCH__V1__EVENT__PAYLOAD_HEARING_ADJOURNED] = apply_hearing_adjourned,
    [CASEWATCH__V1__EVENT__PAYLOAD_REPORT_ORDERED] = apply_report_ordered,
    [CASEWATCH__V1__EVENT__PAYLOAD_REPORT_EXTENSION_AGREED] = apply_report_extension_agreed,
    [CASEWATCH__V1__EVENT__PAYLOAD_REPORT_FILED] = apply_report_filed,
    [CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_CONCERN_RAISED] = apply_concern_raised,
    [CASEWATCH__V1__EVENT__PAYLOAD_RISK_ASSESSMENT_RECORDED] = apply_risk_assessment,
    [CASEWATCH__V1__EVENT__PAYLOAD_DOMESTIC_ABUSE_ASSESSED] = apply_da_assessed,
    [CASEWATCH__V1__EVENT__PAYLOAD_SAFEGUARDING_LETTER_FILED] = apply_letter_filed,
    [CASEWATCH__V1__EVENT__PAYLOAD_PLANNING_MEETING_HELD] = apply_planning_meeting,
    [CASEWATCH__V1__EVENT__PAYLOAD_MANAGEMENT_OVERSIGHT_RECORDED] = apply_oversight,
    [CASEWATCH__V1__EVENT__PAYLOAD_CASE_CLOSED] = apply_case_closed,
    [CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED] = apply_case_reopened,
    [CASEWATCH__V1__EVENT__PAYLOAD_TIMETABLE_EXTENDED] = apply_timetable_extended,
    [CASEWATCH__V1__EVENT__PAYLOAD_CASE_RECLASSIFIED] = apply_case_reclassified,
};

static void apply_prioritisation(cw_casebook_t *cb, const Casewatch__V1__Event *e, int64_t t,
                                 uint64_t h)
{
    bool on = e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED;
    const char *name = on ? e->prioritisation_activated->court_area
                          : e->prioritisation_deactivated->court_area;
    cw_area_t *ar = cw_casebook_area(cb, cw_casebook_intern(cb, name));
    cw_area_add_change(ar, t, h, on);
    area_dirty(cb, ar);
    if (newer(t, h, ar->stamp)) {
        if (ar->prioritised != on || !ar->stamp.ms)
            ar->since_ms = t;
        ar->prioritised = on;
        ar->stamp = (cw_stamp_t){t, h};
        area_dirty(cb, ar);
    }
}

cw_case_t *cw_casebook_apply(cw_casebook_t *cb, const cw_event_t *ev, int32_t partition,
                             cw_aggdelta_t *agg, cw_anomaly_fn anomaly_fn, void *arg)
{
    const Casewatch__V1__Event *e = ev->pb;
    int64_t t = e->occurred_at;
    uint64_t h = cw_casebook_hash(e->event_id);
    apply_ctx_t a = {.ev = ev, .fn = anomaly_fn, .arg = arg};

    if (e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED ||
        e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_DEACTIVATED) {
        apply_prioritisation(cb, e, t, h);
        return NULL;
    }
    if (!e->case_id || !*e->case_id)
        return NULL;

    bool created;
    cw_case_t *c = get_or_create(cb, e->case_id, partition, &created);
    a.c = c;
    c->partition = partition;
    cw_casebook_contribute(cb, c, -1, agg);

    /* "after the case closed": at this event's time the latest close is later than any
     * reopen, and this event is not itself part of the close/reopen pair */
    bool after_close = cw_case_closed(c) && t > c->close_stamp.ms &&
                       e->payload_case != CASEWATCH__V1__EVENT__PAYLOAD_CASE_REOPENED &&
                       e->payload_case != CASEWATCH__V1__EVENT__PAYLOAD_CASE_CLOSED;
    if (after_close)
        anomaly(&a, "event_after_close", "%s after the case closed", cw_event_kind_name(ev->kind));

    size_t kind = (size_t)e->payload_case;
    if (kind < CW_ARRAY_LEN(apply_handlers) && apply_handlers[kind])
        apply_handlers[kind](cb, c, e, t, h, &a);

    if (c->event_count == 0 || t < c->first_ms)
        c->first_ms = t;
    if (c->event_count == 0 || t > c->last_ms)
        c->last_ms = t;
    c->event_count++;
    cw_casebook_contribute(cb, c, +1, agg);
    mark_dirty(cb, c);
    return c;
}

/* ------------------------------------------------------------------ serialisation */

static Casewatch__V1__Stamp *stamp_pb(Casewatch__V1__Stamp *s, cw_stamp_t v)
{
    casewatch__v1__stamp__init(s);
    s->ms = v.ms;
    s->hash = v.hash;
    return s;
}

static cw_stamp_t stamp_from(const Casewatch__V1__Stamp *s)
{
    return s ? (cw_stamp_t){s->ms, s->hash} : (cw_stamp_t){0, 0};
}

uint8_t *cw_casebook_pack(const cw_casebook_t *cb, const cw_case_t *c, size_t *len)
{
    Casewatch__V1__CaseState st = CASEWATCH__V1__CASE_STATE__INIT;
    Casewatch__V1__Stamp s_open, s_type, s_alloc, s_close, s_reopen;
    st.opened = c->opened;
    st.case_type = c->case_type;
    st.court_area = (char *)cw_casebook_str(cb, c->area);
    st.service_area = (char *)cw_casebook_str(cb, c->osa);
    st.team = (char *)cw_casebook_str(cb, c->team);
    st.worker_id = (char *)cw_casebook_str(cb, c->worker);
    st.start_ms = c->start_ms;
    st.opened_stamp = stamp_pb(&s_open, c->opened_stamp);
    st.type_stamp = stamp_pb(&s_type, c->type_stamp);
    st.alloc = c->alloc;
    st.alloc_stamp = stamp_pb(&s_alloc, c->alloc_stamp);
    st.first_alloc_ms = c->first_alloc_ms;
    st.close_stamp = stamp_pb(&s_close, c->close_stamp);
    st.reopen_stamp = stamp_pb(&s_reopen, c->reopen_stamp);
    st.outcome = c->outcome;
    st.event_count = c->event_count;
    st.first_ms = c->first_ms;
    st.last_ms = c->last_ms;
    st.da_alleged_ms = c->da_alleged_ms;
    st.da_assessed_ms = c->da_assessed_ms;
    st.planning_ms = c->planning_ms;
    st.oversight_first_ms = c->oversight_first_ms;
    st.oversight_last_ms = c->oversight_last_ms;
    st.extension_weeks = c->extension_weeks;
    st.welfare_at_risk = c->welfare_at_risk;
    st.pathfinder = c->pathfinder;
    st.anomalies = c->anomalies;
    st.risk16a_ms = c->risk16a_ms;
    st.reduty_ms = c->reduty_ms;
    st.reduty_met_ms = c->reduty_met_ms;
    st.last_event_id = c->last_event_id ? c->last_event_id : "";
    st.last_topic = (char *)cw_casebook_str(cb, c->last_topic);
    st.last_offset = c->last_offset;
    st.alloc_event_id = c->alloc_event_id ? c->alloc_event_id : "";
    st.alloc_topic = (char *)cw_casebook_str(cb, c->alloc_topic);
    st.alloc_offset = c->alloc_offset;
    st.alloc_clock_ms = c->alloc_clock_ms;

    Casewatch__V1__ChildState *ch = cw_calloc(c->nchildren + 1u, sizeof(*ch));
    Casewatch__V1__ChildState **chp = cw_calloc(c->nchildren + 1u, sizeof(*chp));
    for (int i = 0; i < c->nchildren; i++) {
        casewatch__v1__child_state__init(&ch[i]);
        ch[i].child_id = c->children[i].child_id;
        ch[i].seen_ms = c->children[i].seen_ms;
        ch[i].in_person_ms = c->children[i].in_person_ms;
        ch[i].member = c->children[i].member;
        chp[i] = &ch[i];
    }
    st.n_children = c->nchildren;
    st.children = chp;

    Casewatch__V1__ReportState *rp = cw_calloc(c->nreports + 1u, sizeof(*rp));
    Casewatch__V1__ReportState **rpp = cw_calloc(c->nreports + 1u, sizeof(*rpp));
    Casewatch__V1__Stamp *rs = cw_calloc(c->nreports + 1u, sizeof(*rs));
    for (int i = 0; i < c->nreports; i++) {
        const cw_report_t *r = &c->reports[i];
        casewatch__v1__report_state__init(&rp[i]);
        rp[i].report_id = r->report_id;
        rp[i].kind = r->kind;
        rp[i].ordered_ms = r->ordered_ms;
        rp[i].due_ms = r->due_ms;
        rp[i].ext_due_ms = r->ext_due_ms;
        rp[i].ext_stamp = stamp_pb(&rs[i], r->ext_stamp);
        rp[i].extensions = r->extensions;
        rp[i].filed_ms = r->filed_ms;
        rpp[i] = &rp[i];
    }
    st.n_reports = c->nreports;
    st.reports = rpp;

    Casewatch__V1__HearingState *hs = cw_calloc(c->nhearings + 1u, sizeof(*hs));
    Casewatch__V1__HearingState **hsp = cw_calloc(c->nhearings + 1u, sizeof(*hsp));
    Casewatch__V1__Stamp *hss = cw_calloc(c->nhearings + 1u, sizeof(*hss));
    for (int i = 0; i < c->nhearings; i++) {
        const cw_hearing_t *g = &c->hearings[i];
        casewatch__v1__hearing_state__init(&hs[i]);
        hs[i].hearing_id = g->hearing_id;
        hs[i].kind = g->kind;
        hs[i].status = g->status;
        hs[i].stamp = stamp_pb(&hss[i], g->stamp);
        hs[i].listed_for_ms = g->listed_for_ms;
        hs[i].held_ms = g->held_ms;
        hs[i].letter_ms = g->letter_ms;
        hs[i].listing_ms = g->listing_ms;
        hs[i].kind_from_held = g->kind_from_held;
        hsp[i] = &hs[i];
    }
    st.n_hearings = c->nhearings;
    st.hearings = hsp;

    Casewatch__V1__ConcernState *cs = cw_calloc(c->nconcerns + 1u, sizeof(*cs));
    Casewatch__V1__ConcernState **csp = cw_calloc(c->nconcerns + 1u, sizeof(*csp));
    for (int i = 0; i < c->nconcerns; i++) {
        casewatch__v1__concern_state__init(&cs[i]);
        cs[i].concern_id = c->concerns[i].concern_id;
        cs[i].kind = c->concerns[i].kind;
        cs[i].raised_ms = c->concerns[i].raised_ms;
        cs[i].assessed_ms = c->concerns[i].assessed_ms;
        csp[i] = &cs[i];
    }
    st.n_concerns = c->nconcerns;
    st.concerns = csp;

    *len = casewatch__v1__case_state__get_packed_size(&st);
    uint8_t *buf = cw_malloc(*len ? *len : 1);
    casewatch__v1__case_state__pack(&st, buf);
    free(ch);
    free(chp);
    free(rp);
    free(rpp);
    free(rs);
    free(hs);
    free(hsp);
    free(hss);
    free(cs);
    free(csp);
    return buf;
}

cw_case_t *cw_casebook_load(cw_casebook_t *cb, const char *case_id, int32_t partition,
                            const uint8_t *state, size_t len)
{
    Casewatch__V1__CaseState *st = casewatch__v1__case_state__unpack(NULL, len, state);
    if (!st)
        return NULL;
    bool created;
    cw_case_t *c = get_or_create(cb, case_id, partition, &created);
    if (!created) { /* replace: free the old arrays, keep the table slot */
        cw_case_t tmp = *c;
        tmp.case_id = NULL;
        for (int i = 0; i < tmp.nchildren; i++)
            free(tmp.children[i].child_id);
        for (int i = 0; i < tmp.nreports; i++)
            free(tmp.reports[i].report_id);
        for (int i = 0; i < tmp.nhearings; i++)
            free(tmp.hearings[i].hearing_id);
        for (int i = 0; i < tmp.nconcerns; i++)
            free(tmp.concerns[i].concern_id);
        free(tmp.children);
        free(tmp.reports);
        free(tmp.hearings);
        free(tmp.concerns);
        char *id = c->case_id;
        uint64_t hash = c->hash;
        bool dirty = c->dirty;
        free(c->last_event_id);
        free(c->alloc_event_id);
        memset(c, 0, sizeof(*c));
        c->case_id = id;
        c->hash = hash;
        c->dirty = dirty;
    }
    c->partition = partition;
    c->opened = st->opened;
    c->case_type = (uint8_t)st->case_type;
    c->area = cw_casebook_intern(cb, st->court_area);
    c->osa = cw_casebook_intern(cb, st->service_area);
    c->team = cw_casebook_intern(cb, st->team);
    c->worker = cw_casebook_intern(cb, st->worker_id);
    c->start_ms = st->start_ms;
    c->opened_stamp = stamp_from(st->opened_stamp);
    c->type_stamp = stamp_from(st->type_stamp);
    c->alloc = (uint8_t)st->alloc;
    c->alloc_stamp = stamp_from(st->alloc_stamp);
    c->first_alloc_ms = st->first_alloc_ms;
    c->close_stamp = stamp_from(st->close_stamp);
    c->reopen_stamp = stamp_from(st->reopen_stamp);
    c->outcome = (uint8_t)st->outcome;
    c->event_count = st->event_count;
    c->first_ms = st->first_ms;
    c->last_ms = st->last_ms;
    c->da_alleged_ms = st->da_alleged_ms;
    c->da_assessed_ms = st->da_assessed_ms;
    c->planning_ms = st->planning_ms;
    c->oversight_first_ms = st->oversight_first_ms;
    c->oversight_last_ms = st->oversight_last_ms;
    c->extension_weeks = st->extension_weeks;
    c->welfare_at_risk = st->welfare_at_risk;
    c->pathfinder = st->pathfinder;
    c->anomalies = st->anomalies;
    c->risk16a_ms = st->risk16a_ms;
    c->reduty_ms = st->reduty_ms;
    c->reduty_met_ms = st->reduty_met_ms;
    free(c->last_event_id);
    c->last_event_id = *st->last_event_id ? cw_strdup(st->last_event_id) : NULL;
    c->last_topic = cw_casebook_intern(cb, st->last_topic);
    c->last_offset = st->last_offset;
    free(c->alloc_event_id);
    c->alloc_event_id = *st->alloc_event_id ? cw_strdup(st->alloc_event_id) : NULL;
    c->alloc_topic = cw_casebook_intern(cb, st->alloc_topic);
    c->alloc_offset = st->alloc_offset;
    c->alloc_clock_ms = st->alloc_clock_ms;
    if (st->n_children) {
        c->children = cw_calloc(st->n_children, sizeof(cw_child_t));
        for (size_t i = 0; i < st->n_children; i++) {
            c->children[i].child_id = cw_strdup(st->children[i]->child_id);
            c->children[i].seen_ms = st->children[i]->seen_ms;
            c->children[i].in_person_ms = st->children[i]->in_person_ms;
            c->children[i].member = st->children[i]->member;
        }
        c->nchildren = (uint16_t)st->n_children;
    }
    if (st->n_reports) {
        c->reports = cw_calloc(st->n_reports, sizeof(cw_report_t));
        for (size_t i = 0; i < st->n_reports; i++) {
            const Casewatch__V1__ReportState *r = st->reports[i];
            c->reports[i] = (cw_report_t){.report_id = cw_strdup(r->report_id),
                                          .kind = (uint8_t)r->kind,
                                          .extensions = (uint16_t)r->extensions,
                                          .ordered_ms = r->ordered_ms,
                                          .due_ms = r->due_ms,
                                          .ext_due_ms = r->ext_due_ms,
                                          .filed_ms = r->filed_ms,
                                          .ext_stamp = stamp_from(r->ext_stamp)};
        }
        c->nreports = (uint16_t)st->n_reports;
    }
    if (st->n_hearings) {
        c->hearings = cw_calloc(st->n_hearings, sizeof(cw_hearing_t));
        for (size_t i = 0; i < st->n_hearings; i++) {
            const Casewatch__V1__HearingState *g = st->hearings[i];
            c->hearings[i] = (cw_hearing_t){.hearing_id = cw_strdup(g->hearing_id),
                                            .kind = (uint8_t)g->kind,
                                            .kind_from_held = g->kind_from_held,
                                            .status = (uint8_t)g->status,
                                            .stamp = stamp_from(g->stamp),
                                            .listed_for_ms = g->listed_for_ms,
                                            .held_ms = g->held_ms,
                                            .letter_ms = g->letter_ms,
                                            /* a state written before listing_ms was kept:
                                             * its listing is no later than its stamp */
                                            .listing_ms = g->listing_ms ? g->listing_ms
                                                          : g->listed_for_ms
                                                              ? stamp_from(g->stamp).ms
                                                              : 0};
        }
        c->nhearings = (uint16_t)st->n_hearings;
    }
    if (st->n_concerns) {
        c->concerns = cw_calloc(st->n_concerns, sizeof(cw_concern_t));
        for (size_t i = 0; i < st->n_concerns; i++) {
            const Casewatch__V1__ConcernState *k = st->concerns[i];
            c->concerns[i] = (cw_concern_t){.concern_id = cw_strdup(k->concern_id),
                                            .kind = (uint8_t)k->kind,
                                            .raised_ms = k->raised_ms,
                                            .assessed_ms = k->assessed_ms};
        }
        c->nconcerns = (uint16_t)st->n_concerns;
    }
    casewatch__v1__case_state__free_unpacked(st, NULL);
    return c;
}
