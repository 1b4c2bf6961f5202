/*
 * fuzz_casebook.c — libFuzzer harness: the input is a script of hostile events and
 * operations run against a casebook, the alert rules and the alert engine, as the daemon
 * drives them (src/watch.c), with invariants checked as it goes and at the end.
 *
 * The script is a sequence of records, each starting with an op byte:
 *   0x00..0x3f  raw: a 2-byte little-endian length, then that many bytes decoded as an Event
 *   0x40..0x7f  operation: clock tick (deadlines fire), pack/load every case in place,
 *               drop a partition, clear dirty marks, evaluate every case
 *   0x80..0xff  structured: an event built field by field (fuzz_recipe.h): few case ids so
 *               events collide, every kind, extreme times, hostile identifiers
 * Every event goes through cw_event_decode() (as Kafka bytes would); accepted events whose
 * event_id was not seen before (event_log's job in the daemon) are applied to the casebook
 * and their case is evaluated at the event clock (the highest occurred_at so far).
 *
 * Invariants (abort = crash report):
 *   - apply returns the event's case, dirty and findable; area events return NULL;
 *   - every active alert belongs to a case held, in its partition, and its subject names
 *     one of the case's children/reports/hearings/concerns (or is a case-level subject);
 *   - the sum of aggregate deltas equals the contributions of the cases held (dropped cases
 *     are subtracted when dropped, as a revoke would leave them to the store);
 *   - pack → load → pack gives identical bytes, in place and into a fresh casebook;
 *   - with CW_FUZZ_ORDER=1 in the environment, also: replaying the accepted events in reverse
 *     order gives the same state (anomaly counts aside), hence the same aggregate totals, as
 *     README "How events become case state" promises.
 * Everything is freed (LeakSanitizer is on).
 */
#include "casewatch/watch.h"
#include "fuzz_recipe.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_casebook: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_EVENTS 4096
#define NPARTS     4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cw_workdays_t *g_wd; /* read-only calendar shared by every run */
static bool g_order;        /* CW_FUZZ_ORDER=1: check order independence too */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_wd = cw_workdays_new();
    const char *o = getenv("CW_FUZZ_ORDER");
    g_order = o && *o == '1';
    fz_pools_init();
    return 0;
}

typedef struct run {
    cw_casebook_t *cb;
    cw_aggdelta_t *agg;
    cw_alerts_t *alerts;
    cw_rules_t *rules;
    cw_deadlines_t *deadlines;
    cw_watch_t w;
    int64_t clock;
    cw_event_t *events; /* accepted, applied, in order (owned) */
    int32_t *parts;
    size_t nevents;
    bool dropped;
    unsigned anomalies;
} run_t;

static void on_anomaly(void *arg, const cw_event_t *ev, const char *kind, const char *detail)
{
    run_t *r = arg;
    CHECK(ev && kind && *kind && detail);
    r->anomalies++;
}

static int32_t partition_of(const char *case_id)
{
    return (int32_t)(cw_casebook_hash(case_id) % NPARTS); /* keyed by case_id */
}

/* ---- cases: collected first, since callbacks must not change the casebook --------------- */

typedef struct case_list {
    cw_case_t **v;
    size_t n, cap;
} case_list_t;

static void collect(void *arg, cw_case_t *c)
{
    case_list_t *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        CHECK(l->v != NULL);
    }
    l->v[l->n++] = c;
}

static case_list_t cases_of(const cw_casebook_t *cb)
{
    case_list_t l = {0};
    cw_casebook_foreach(cb, collect, &l);
    CHECK(l.n == cw_casebook_count(cb));
    return l;
}

/* ---- invariants ---------------------------------------------------------------------- */

static bool subject_known(const cw_case_t *c, int rule, const char *s)
{
    /* [L] the welfare rule's subject names the area's prioritisation period, and only it */
    if (!strncmp(s, "since-", 6))
        return rule == CW_RULE_WELFARE_UNALLOCATED;
    if (!*s || !strcmp(s, "returned-to-duty") || !strncmp(s, "concern@", 8))
        return true;
    for (int i = 0; i < c->nchildren; i++)
        if (!strcmp(c->children[i].child_id, s))
            return true;
    for (int i = 0; i < c->nreports; i++)
        if (!strcmp(c->reports[i].report_id, s))
            return true;
    for (int i = 0; i < c->nhearings; i++)
        if (!strcmp(c->hearings[i].hearing_id, s))
            return true;
    for (int i = 0; i < c->nconcerns; i++)
        if (!strcmp(c->concerns[i].concern_id, s))
            return true;
    return false;
}

static void check_alert(void *arg, const cw_alert_t *x)
{
    const run_t *r = arg;
    CHECK(x->state == CW_ALERT_PENDING || x->state == CW_ALERT_FIRING);
    CHECK(x->dedup_key && x->case_id && x->subject);
    if (!*x->case_id)
        return;
    const cw_case_t *c = cw_casebook_find(r->cb, x->case_id);
    CHECK(c != NULL);
    CHECK(x->partition == c->partition);
    if (!subject_known(c, x->rule, x->subject))
        fprintf(stderr, "fuzz_casebook: alert %s: subject of %zu bytes names nothing on the case\n",
                x->rule < CW_RULE__COUNT ? r->rules->rule[x->rule].name : "?", strlen(x->subject));
    CHECK(subject_known(c, x->rule, x->subject));
    /* the key is rule|case|subject, whole */
    char key[512];
    snprintf(key, sizeof(key), "%s|%s|%s", r->rules->rule[x->rule].name, x->case_id, x->subject);
    CHECK(strcmp(key, x->dedup_key) == 0);
}

/* Net aggregate delta minus the contributions of the cases held: every entry must be zero. */
static void check_aggregates(const cw_casebook_t *cb, const cw_aggdelta_t *agg)
{
    cw_aggdelta_t *want = cw_aggdelta_new();
    case_list_t l = cases_of(cb);
    for (size_t i = 0; i < l.n; i++)
        cw_casebook_contribute(cb, l.v[i], +1, want);
    free(l.v);
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(agg, &n);
    for (size_t i = 0; i < n; i++)
        cw_aggdelta_add(want, &e[i].key, -e[i].v1, -e[i].v2);
    e = cw_aggdelta_entries(want, &n);
    for (size_t i = 0; i < n; i++) {
        if (e[i].v1 || e[i].v2)
            fprintf(stderr, "fuzz_casebook: aggregate table %d sub %d off by %lld/%lld\n",
                    e[i].key.table, e[i].key.sub, (long long)e[i].v1, (long long)e[i].v2);
        CHECK(e[i].v1 == 0 && e[i].v2 == 0);
    }
    cw_aggdelta_destroy(want);
}

/* pack → load (into dst, replacing or creating) → pack: the same bytes. */
static void round_trip(const cw_casebook_t *src, const cw_case_t *c, cw_casebook_t *dst)
{
    size_t len1, len2;
    uint8_t *b1 = cw_casebook_pack(src, c, &len1);
    char *id = strdup(c->case_id); /* c may be the case being replaced */
    CHECK(id != NULL);
    int32_t part = c->partition;
    cw_case_t *d = cw_casebook_load(dst, id, part, b1, len1);
    CHECK(d != NULL);
    CHECK(!strcmp(d->case_id, id) && d->partition == part);
    CHECK(cw_casebook_find(dst, id) == d);
    uint8_t *b2 = cw_casebook_pack(dst, d, &len2);
    CHECK(len1 == len2 && memcmp(b1, b2, len1) == 0);
    free(b1);
    free(b2);
    free(id);
}

/* ---- applying ------------------------------------------------------------------------ */

static bool seen_id(const run_t *r, const char *id)
{
    for (size_t i = 0; i < r->nevents; i++)
        if (!strcmp(r->events[i].pb->event_id, id))
            return true;
    return false;
}

static void apply_one(run_t *r, const uint8_t *buf, size_t len)
{
    char reason[256];
    cw_event_t ev;
    if (cw_event_decode(buf, len, 1 << 20, FZ_NOW_MS, &ev, reason, sizeof(reason)) !=
        CW_REJECT_NONE)
        return;
    if (r->nevents == MAX_EVENTS || seen_id(r, ev.pb->event_id)) {
        cw_event_fini(&ev); /* a duplicate event_id is a no-op (event_log) */
        return;
    }
    const char *case_id = ev.pb->case_id ? ev.pb->case_id : "";
    int32_t part = partition_of(case_id);
    r->events[r->nevents] = ev;
    r->parts[r->nevents] = part;
    r->nevents++;

    cw_case_t *c = cw_casebook_apply(r->cb, &ev, part, r->agg, on_anomaly, r);
    if (ev.pb->occurred_at > r->clock)
        r->clock = ev.pb->occurred_at;
    if (cw_event_kind_is_area(ev.kind)) {
        CHECK(c == NULL);
        size_t na;
        cw_casebook_dirty_areas(r->cb, &na);
        cw_watch_evaluate_all(&r->w, r->clock); /* prioritisation moved: look at every case */
    } else {
        CHECK(c != NULL && c->dirty && !strcmp(c->case_id, case_id));
        CHECK(cw_casebook_find(r->cb, case_id) == c);
        CHECK(c->event_count > 0 && c->first_ms <= c->last_ms);
        cw_casebook_set_last_event(r->cb, c, ev.pb->event_id, "casewatch.events",
                                   (int64_t)r->nevents, r->clock);
        cw_cause_t cause = {ev.pb->event_id, "casewatch.events", part, (int64_t)r->nevents};
        cw_watch_evaluate(&r->w, c->hash, r->clock, &cause);
    }
    cw_alerts_clear_transitions(r->alerts);
}

static void operation(run_t *r, uint8_t op, fz_reader_t *rd)
{
    unsigned sub = op & 0x3f;
    if (sub < 16) { /* the clock moves on: deadlines fire */
        r->clock += (int64_t)(fz_u8(rd) + 1) * 6 * FZ_HOUR_MS;
        cw_watch_tick(&r->w, r->clock, 100000);
        size_t n;
        const cw_transition_t *t = cw_alerts_transitions(r->alerts, &n);
        for (size_t i = 0; i < n; i++)
            CHECK(!t[i].notify || t[i].alert_id[0] == 'a');
        cw_alerts_clear_transitions(r->alerts);
    } else if (sub < 24) { /* reload every case from its own serialisation, in place */
        case_list_t l = cases_of(r->cb);
        for (size_t i = 0; i < l.n; i++)
            round_trip(r->cb, l.v[i], r->cb);
        free(l.v);
    } else if (sub < 28) { /* revoke a partition: its cases leave the totals and the book */
        int32_t p = (int32_t)(sub & 3);
        case_list_t l = cases_of(r->cb);
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i]->partition == p)
                cw_casebook_contribute(r->cb, l.v[i], -1, r->agg);
        free(l.v);
        cw_alerts_drop_partitions(r->alerts, &p, 1);
        cw_casebook_drop_partitions(r->cb, &p, 1);
        r->dropped = true;
    } else if (sub < 30) { /* a commit */
        cw_casebook_clear_dirty(r->cb);
        cw_casebook_clear_dirty_areas(r->cb);
        size_t n;
        cw_casebook_dirty(r->cb, &n);
        CHECK(n == 0);
    } else {
        cw_watch_evaluate_all(&r->w, r->clock);
        cw_alerts_clear_transitions(r->alerts);
    }
}

/* ---- order independence (CW_FUZZ_ORDER=1) --------------------------------------------- */

static void normalise(cw_case_t *c)
{
    c->anomalies = 0; /* detected by arrival order, by design */
    free(c->last_event_id);
    c->last_event_id = NULL;
    c->last_topic = 0;
    c->last_offset = 0;
}

static void check_order(run_t *r)
{
    cw_casebook_t *cb = cw_casebook_new();
    cw_aggdelta_t *agg = cw_aggdelta_new();
    for (size_t i = r->nevents; i-- > 0;)
        cw_casebook_apply(cb, &r->events[i], r->parts[i], agg, NULL, NULL);
    case_list_t l = cases_of(r->cb);
    CHECK(cw_casebook_count(cb) == l.n);
    for (size_t i = 0; i < l.n; i++) {
        cw_case_t *c2 = cw_casebook_find(cb, l.v[i]->case_id);
        CHECK(c2 != NULL);
        normalise(l.v[i]);
        normalise(c2);
        size_t len1, len2;
        uint8_t *b1 = cw_casebook_pack(r->cb, l.v[i], &len1);
        uint8_t *b2 = cw_casebook_pack(cb, c2, &len2);
        if (len1 != len2 || memcmp(b1, b2, len1)) {
            /* both CaseStates, for protoc --decode=casewatch.v1.CaseState */
            fprintf(stderr,
                    "fuzz_casebook: case %s: state depends on arrival order "
                    "(states in order-forward.bin, order-reverse.bin)\n",
                    l.v[i]->case_id);
            FILE *f = fopen("order-forward.bin", "wb");
            if (f) {
                fwrite(b1, 1, len1, f);
                fclose(f);
            }
            f = fopen("order-reverse.bin", "wb");
            if (f) {
                fwrite(b2, 1, len2, f);
                fclose(f);
            }
        }
        CHECK(len1 == len2 && memcmp(b1, b2, len1) == 0);
        free(b1);
        free(b2);
    }
    free(l.v);
    /* the same totals: each book's deltas sum to its cases' contributions (interned ids
     * differ between books, so keys are compared through the states, which are equal) */
    check_aggregates(cb, agg);
    cw_aggdelta_destroy(agg);
    cw_casebook_destroy(cb);
}

/* ---- the run ------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_wd)
        LLVMFuzzerInitialize(NULL, NULL);
    run_t r = {0};
    r.cb = cw_casebook_new();
    r.agg = cw_aggdelta_new();
    r.alerts = cw_alerts_new();
    r.rules = cw_rules_defaults();
    r.deadlines = cw_deadlines_new();
    r.w = (cw_watch_t){r.cb, r.rules, r.alerts, r.deadlines, g_wd, NULL};
    r.events = calloc(MAX_EVENTS, sizeof(*r.events));
    r.parts = calloc(MAX_EVENTS, sizeof(*r.parts));
    CHECK(r.events && r.parts);

    fz_reader_t rd = {data, size};
    unsigned seq = 0;
    while (rd.n) {
        uint8_t op = fz_u8(&rd);
        if (op < 0x40) {
            size_t len = fz_u16(&rd);
            if (len > rd.n)
                len = rd.n;
            apply_one(&r, rd.p, len);
            rd.p += len;
            rd.n -= len;
        } else if (op < 0x80) {
            operation(&r, op, &rd);
        } else {
            fz_event_t *x = fz_build(op, &rd, seq++);
            size_t len;
            uint8_t *buf = fz_pack(&x->e, &len);
            apply_one(&r, buf, len);
            free(buf);
            fz_event_free(x);
        }
    }

    /* final invariants */
    cw_alerts_foreach(r.alerts, check_alert, &r);
    check_aggregates(r.cb, r.agg);
    size_t nd;
    cw_case_t *const *dirty = cw_casebook_dirty(r.cb, &nd);
    for (size_t i = 0; i < nd; i++)
        CHECK(dirty[i]->dirty && cw_casebook_find(r.cb, dirty[i]->case_id) == dirty[i]);
    cw_casebook_t *fresh = cw_casebook_new();
    case_list_t l = cases_of(r.cb);
    for (size_t i = 0; i < l.n; i++)
        round_trip(r.cb, l.v[i], fresh);
    free(l.v);
    CHECK(cw_casebook_count(fresh) == cw_casebook_count(r.cb));
    cw_casebook_destroy(fresh);
    if (g_order && !r.dropped)
        check_order(&r);

    for (size_t i = 0; i < r.nevents; i++)
        cw_event_fini(&r.events[i]);
    free(r.events);
    free(r.parts);
    cw_deadlines_destroy(r.deadlines);
    cw_rules_free(r.rules);
    cw_alerts_destroy(r.alerts);
    cw_aggdelta_destroy(r.agg);
    cw_casebook_destroy(r.cb);
    return 0;
}
