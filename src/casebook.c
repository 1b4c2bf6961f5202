/*
 * casebook.c — per-case state in an open-addressing hash table (linear probing, backward-shift
 * deletion), keyed by case_id. Pure: no I/O, no clock, no globals.
 *
 * Owns every cw_case_t and its case_id string. The dirty list holds pointers into the table;
 * it is emptied at each commit and before any drop, so it never points at a freed case.
 */
#include "casewatch/casebook.h"

#include <stdlib.h>
#include <string.h>

struct cw_casebook {
    cw_case_t **slots;
    size_t cap; /* power of two */
    size_t count;
    cw_case_t **dirty;
    size_t ndirty, dirtycap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

cw_casebook_t *cw_casebook_new(void)
{
    cw_casebook_t *cb = cw_calloc(1, sizeof(*cb));
    cb->cap = 1024;
    cb->slots = cw_calloc(cb->cap, sizeof(cw_case_t *));
    return cb;
}

static void case_free(cw_case_t *c)
{
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
    return i; /* empty slot where it would go */
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

cw_case_t *cw_casebook_find(const cw_casebook_t *cb, const char *case_id)
{
    return cb->slots[find_slot(cb, case_id, hash_str(case_id))];
}

static cw_case_t *get_or_create(cw_casebook_t *cb, const char *case_id, int32_t partition)
{
    uint64_t h = hash_str(case_id);
    size_t i = find_slot(cb, case_id, h);
    if (cb->slots[i])
        return cb->slots[i];
    if ((cb->count + 1) * 4 > cb->cap * 3) { /* keep load under 75% */
        grow(cb);
        i = find_slot(cb, case_id, h);
    }
    cw_case_t *c = cw_calloc(1, sizeof(*c));
    c->case_id = cw_strdup(case_id);
    c->hash = h;
    c->partition = partition;
    cb->slots[i] = c;
    cb->count++;
    return c;
}

cw_case_t *cw_casebook_load(cw_casebook_t *cb, const char *case_id, int32_t partition,
                            int64_t event_count, int64_t first_ms, int64_t last_ms)
{
    cw_case_t *c = get_or_create(cb, case_id, partition);
    c->partition = partition;
    c->event_count = event_count;
    c->first_ms = first_ms;
    c->last_ms = last_ms;
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

cw_case_t *cw_casebook_apply(cw_casebook_t *cb, const cw_event_t *ev, int32_t partition)
{
    const char *id = ev->pb->case_id;
    if (!id || !*id)
        return NULL; /* area events carry no case */
    cw_case_t *c = get_or_create(cb, id, partition);
    int64_t t = ev->pb->occurred_at;
    if (c->event_count == 0 || t < c->first_ms)
        c->first_ms = t;
    if (c->event_count == 0 || t > c->last_ms)
        c->last_ms = t;
    c->event_count++;
    c->partition = partition;
    mark_dirty(cb, c);
    return c;
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

/* Remove slot i and shift the following run back so probing never hits a false gap. */
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
        /* move j back to i if its home is not in the cyclic range (i, j] */
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
            remove_slot(cb, i); /* slot i may now hold a shifted case: look again */
        else
            i++;
    }
}

void cw_casebook_clear(cw_casebook_t *cb)
{
    cw_casebook_clear_dirty(cb);
    for (size_t i = 0; i < cb->cap; i++) {
        if (cb->slots[i]) {
            case_free(cb->slots[i]);
            cb->slots[i] = NULL;
        }
    }
    cb->count = 0;
}
