/*
 * deadlines.c — a binary min-heap of (due_ms, key) plus an index from key to heap position.
 * Pure: no clock, no I/O, no globals.
 *
 * A cw_deadlines_t owns two arrays and nothing else:
 *   - heap:  `cap` entries of {int64 due; uint64 key} (16 bytes), ordered by (due, key) so
 *            equal due times come out in ascending key order and a replay is deterministic;
 *   - index: an open-addressing hash table with linear probing, `nslots` slots of
 *            {key lo, key hi, heap position} (12 bytes, 4-byte aligned, no padding). A slot is
 *            empty when its position is UINT32_MAX, so every 64-bit key (0 included) is usable.
 *            Deletion shifts the following run backwards instead of leaving tombstones, so the
 *            table never degrades under schedule/cancel churn.
 *
 * Memory is the constraint (millions of entries per case): the heap grows by 1.5x, the table
 * is rebuilt at load 0.6 when it passes 0.75, and both shrink again when mostly empty, so an
 * entry costs roughly 16-24 bytes of heap plus 16-20 bytes of index. The table size need not
 * be a power of two: the home slot is a multiply-shift of the hash ("fastrange").
 *
 * Every move of a heap entry updates its slot's position; the entry being sifted is held in a
 * hole and written once, its slot looked up once.
 */
#include "casewatch/deadlines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t due;
    uint64_t key;
} entry_t;

typedef struct {
    uint32_t lo, hi; /* the key, split so the slot stays 12 bytes without packing */
    uint32_t pos;    /* heap position, or EMPTY */
} slot_t;

#define EMPTY     UINT32_MAX
#define HEAP_MIN  16
#define SLOTS_MIN 16
/* Positions are uint32 (EMPTY excluded) and the table is sized n * 5/3 < 2^32. */
#define MAX_ENTRIES ((size_t)(UINT32_MAX / 5) * 3)

struct cw_deadlines {
    entry_t *heap;
    size_t n, cap; /* entries in heap, allocated heap entries */
    slot_t *slots;
    size_t nslots; /* 0 until the first schedule */
};

/* ---- index ------------------------------------------------------------------------------ */

/* murmur3's finaliser: callers' keys may be sequential, the table needs them scattered. */
static uint64_t hash64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static size_t home_slot(const cw_deadlines_t *d, uint64_t key)
{
    /* nslots < 2^32, so the product fits 64 bits and the result is < nslots. */
    return (size_t)(((hash64(key) >> 32) * (uint64_t)d->nslots) >> 32);
}

static uint64_t slot_key(const slot_t *s)
{
    return (uint64_t)s->hi << 32 | s->lo;
}

static size_t next_slot(const cw_deadlines_t *d, size_t i)
{
    return ++i == d->nslots ? 0 : i;
}

/* The slot holding key, or nslots if absent. */
static size_t index_find(const cw_deadlines_t *d, uint64_t key)
{
    if (d->nslots == 0)
        return 0;
    uint32_t lo = (uint32_t)key, hi = (uint32_t)(key >> 32);
    for (size_t i = home_slot(d, key);; i = next_slot(d, i)) {
        const slot_t *s = &d->slots[i];
        if (s->pos == EMPTY)
            return d->nslots;
        if (s->lo == lo && s->hi == hi)
            return i;
    }
}

/* Adds a key known to be absent; the table has room (load is kept <= 0.75). */
static size_t index_add(cw_deadlines_t *d, uint64_t key, uint32_t pos)
{
    size_t i = home_slot(d, key);
    while (d->slots[i].pos != EMPTY)
        i = next_slot(d, i);
    d->slots[i] = (slot_t){(uint32_t)key, (uint32_t)(key >> 32), pos};
    return i;
}

/*
 * Empties slot i and pulls later members of its probe run back into the hole, so that every
 * key stays reachable from its home slot without tombstones. An entry at j with home h may
 * fill hole i when i lies cyclically in [h, j).
 */
static void index_remove_at(cw_deadlines_t *d, size_t i)
{
    size_t n = d->nslots;
    for (size_t j = next_slot(d, i);; j = next_slot(d, j)) {
        slot_t *s = &d->slots[j];
        if (s->pos == EMPTY)
            break;
        size_t h = home_slot(d, slot_key(s));
        size_t dist_h = (j + n - h) % n; /* probe distance of the entry at j */
        size_t dist_i = (j + n - i) % n; /* distance from the hole to j */
        if (dist_h >= dist_i) {
            d->slots[i] = *s;
            i = j;
        }
    }
    d->slots[i].pos = EMPTY;
}

/* Slot count for n entries: load 0.6, so the next rebuild is 25% of growth away. */
static size_t slots_for(size_t n)
{
    size_t s = n / 3 * 5 + n % 3 * 5 / 3 + 1;
    return s < SLOTS_MIN ? SLOTS_MIN : s;
}

/* Reallocates the table at `nslots` slots and re-indexes the heap from scratch. */
static void index_rebuild(cw_deadlines_t *d, size_t nslots)
{
    free(d->slots);
    d->slots = cw_malloc(nslots * sizeof(slot_t));
    memset(d->slots, 0xff, nslots * sizeof(slot_t)); /* pos = EMPTY everywhere */
    d->nslots = nslots;
    for (size_t i = 0; i < d->n; i++)
        index_add(d, d->heap[i].key, (uint32_t)i);
}

static void set_pos(cw_deadlines_t *d, uint64_t key, size_t pos)
{
    size_t s = index_find(d, key);
    d->slots[s].pos = (uint32_t)pos;
}

/* ---- heap ------------------------------------------------------------------------------- */

static bool entry_less(const entry_t *a, const entry_t *b)
{
    return a->due < b->due || (a->due == b->due && a->key < b->key);
}

/* Places e (whose index slot is `slot`) at hole i or above it. Returns its final position. */
static size_t sift_up(cw_deadlines_t *d, size_t i, entry_t e, size_t slot)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!entry_less(&e, &d->heap[p]))
            break;
        d->heap[i] = d->heap[p];
        set_pos(d, d->heap[i].key, i);
        i = p;
    }
    d->heap[i] = e;
    d->slots[slot].pos = (uint32_t)i;
    return i;
}

/* Places e (whose index slot is `slot`) at hole i or below it. */
static void sift_down(cw_deadlines_t *d, size_t i, entry_t e, size_t slot)
{
    size_t n = d->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && entry_less(&d->heap[c + 1], &d->heap[c]))
            c++;
        if (!entry_less(&d->heap[c], &e))
            break;
        d->heap[i] = d->heap[c];
        set_pos(d, d->heap[i].key, i);
        i = c;
    }
    d->heap[i] = e;
    d->slots[slot].pos = (uint32_t)i;
}

/* Moves e into hole i, up or down as its order requires. */
static void sift(cw_deadlines_t *d, size_t i, entry_t e, size_t slot)
{
    if (sift_up(d, i, e, slot) == i)
        sift_down(d, i, e, slot);
}

/* Gives back memory once the structure is mostly empty (after a drain or mass cancel). */
static void maybe_shrink(cw_deadlines_t *d)
{
    if (d->cap > HEAP_MIN && d->n < d->cap / 4) {
        d->cap /= 2;
        d->heap = cw_realloc(d->heap, d->cap * sizeof(entry_t));
    }
    if (d->nslots > SLOTS_MIN && d->n < d->nslots / 8)
        index_rebuild(d, slots_for(d->n));
}

/*
 * Removes the entry at heap position i, whose key sits in index slot `slot`: the last entry
 * fills the hole. The index slot goes first, because backward shifting moves other slots.
 */
static void remove_at(cw_deadlines_t *d, size_t i, size_t slot)
{
    index_remove_at(d, slot);
    d->n--;
    if (i < d->n) {
        entry_t last = d->heap[d->n];
        sift(d, i, last, index_find(d, last.key));
    }
    maybe_shrink(d);
}

/* ---- public ----------------------------------------------------------------------------- */

cw_deadlines_t *cw_deadlines_new(void)
{
    return cw_calloc(1, sizeof(cw_deadlines_t));
}

void cw_deadlines_destroy(cw_deadlines_t *d)
{
    if (!d)
        return;
    free(d->heap);
    free(d->slots);
    free(d);
}

void cw_deadlines_schedule(cw_deadlines_t *d, uint64_t key, int64_t due_ms)
{
    size_t s = index_find(d, key);
    if (s < d->nslots) {
        size_t i = d->slots[s].pos;
        if (d->heap[i].due != due_ms)
            sift(d, i, (entry_t){due_ms, key}, s);
        return;
    }

    if (d->n >= MAX_ENTRIES) {
        fprintf(stderr, "casewatch: more than %zu deadlines\n", MAX_ENTRIES);
        abort();
    }
    if (d->n == d->cap) {
        d->cap = d->cap < HEAP_MIN ? HEAP_MIN : d->cap + d->cap / 2;
        d->heap = cw_realloc(d->heap, d->cap * sizeof(entry_t));
    }
    if ((d->n + 1) * 4 > d->nslots * 3)
        index_rebuild(d, slots_for(d->n + 1));
    s = index_add(d, key, (uint32_t)d->n);
    d->n++;
    sift_up(d, d->n - 1, (entry_t){due_ms, key}, s);
}

bool cw_deadlines_cancel(cw_deadlines_t *d, uint64_t key)
{
    size_t s = index_find(d, key);
    if (s >= d->nslots)
        return false;
    remove_at(d, d->slots[s].pos, s);
    return true;
}

int64_t cw_deadlines_next(const cw_deadlines_t *d)
{
    return d->n ? d->heap[0].due : INT64_MAX;
}

bool cw_deadlines_pop_due(cw_deadlines_t *d, int64_t now_ms, uint64_t *key, int64_t *due_ms)
{
    if (d->n == 0 || d->heap[0].due > now_ms)
        return false;
    entry_t root = d->heap[0];
    remove_at(d, 0, index_find(d, root.key));
    *key = root.key;
    *due_ms = root.due;
    return true;
}

size_t cw_deadlines_count(const cw_deadlines_t *d)
{
    return d->n;
}

int64_t cw_deadlines_due(const cw_deadlines_t *d, uint64_t key)
{
    size_t s = index_find(d, key);
    return s < d->nslots ? d->heap[d->slots[s].pos].due : -1;
}

void cw_deadlines_foreach(const cw_deadlines_t *d,
                          void (*fn)(void *arg, uint64_t key, int64_t due_ms), void *arg)
{
    for (size_t i = 0; i < d->n; i++)
        fn(arg, d->heap[i].key, d->heap[i].due);
}

void cw_deadlines_clear(cw_deadlines_t *d)
{
    free(d->heap);
    free(d->slots);
    *d = (cw_deadlines_t){0};
}

size_t cw_deadlines_memory(const cw_deadlines_t *d)
{
    return sizeof(*d) + d->cap * sizeof(entry_t) + d->nslots * sizeof(slot_t);
}
