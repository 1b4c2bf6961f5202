/*
 * pipeline.c — the exactly-once ingest loop of casewatchd.
 *
 * Owns the consumer, the stores (a main connection and two batch connections), publisher and
 * casebook, the owned partition slots, the batch being built and the batches being committed.
 * States:
 *
 *   IDLE     no partitions owned (before the first assignment, between revoke and assign)
 *   LOADING  partitions owned; their offsets and cases are being read from PostgreSQL; the
 *            consumer is unassigned or paused and anything it hands over is ignored
 *   RUNNING  consuming into batches; commits go in batch order, at most two in flight
 *   REVOKING the group took the partitions: finish the batches in flight, then let go
 *   STOPPING shutting down
 *
 * A batch commit takes two round trips: (1) BEGIN + insert into event_log returning which
 * events are new, (2) the case rows of the cases those events changed, dead letters, offset
 * advance (fenced) and COMMIT. Memory is updated between the two; if anything fails the
 * memory is discarded and reloaded from PostgreSQL, the durable truth.
 *
 * Two batches may be in flight, on two batch connections: while the oldest commits (its
 * round trip 2), the next one's events go in on the other connection (round trip 1; an event
 * id the first batch also holds waits there for its outcome) and are applied to memory on top
 * of the first. The second's commit is sent only once the first's has succeeded; if the first
 * fails, the second is rolled back and everything reloads. So commits stay in batch order and
 * memory never runs ahead of what the database will hold, while the database works on two
 * batches at once and the daemon applies one while the other commits.
 */
#include "casewatch/pipeline.h"
#include "casewatch/aggread.h"
#include "casewatch/alertjson.h"
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/deadlines.h"
#include "casewatch/rules.h"
#include "casewatch/v1/alert.pb-c.h"
#include "casewatch/v1/state.pb-c.h"
#include "casewatch/watch.h"
#include "casewatch/consumer.h"
#include "casewatch/kstats.h"
#include "casewatch/log.h"
#include "casewatch/merge.h"
#include "casewatch/partmap.h"
#include "casewatch/publisher.h"
#include "casewatch/snapshots.h"
#include "casewatch/store.h"
#include "casewatch/workdays.h"

#include "casewatch/pbjson.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum pstate { P_IDLE, P_LOADING, P_RUNNING, P_REVOKING, P_STOPPING, P_STOPPED } pstate_t;

static const char *const pstate_names[] = {"idle",     "loading",  "running",
                                           "revoking", "stopping", "stopped"};

typedef struct batch_ev {
    cw_event_t ev;
    int slot;
    int64_t offset;
    bool is_new; /* not yet in event_log (set by the first round trip) */
} batch_ev_t;

typedef struct dead_letter {
    cw_reject_t reason;
    char *detail;
    char *topic;
    int32_t partition;
    int64_t offset;
    void *key;
    size_t keylen;
    void *payload;
    size_t len;
    rd_kafka_headers_t *headers; /* the original headers, copied */
} dead_letter_t;

/* A message read, waiting in its slot's queue for its turn in the merge. */
typedef struct held {
    bool dead; /* a dead letter (dl), else an event (ev) */
    int64_t offset;
    cw_event_t ev;
    dead_letter_t dl;
} held_t;

typedef struct part_slot {
    char *topic;
    int32_t partition;
    int64_t committed;     /* next_offset stored in PostgreSQL: the fence's expected value */
    int64_t consumed;      /* next offset expected from Kafka */
    int64_t max_occurred;  /* event clock: newest occurred_at applied from this partition */
    int64_t applied;       /* next offset after everything applied (events, duplicates,
                            * dead letters) */
    int64_t high;          /* log end from librdkafka statistics; -1 = not known yet */
    bool live;             /* applied up to its log end (as of the batch being applied) */
    /* [L] read from Kafka and decoded, not yet in a batch: a partition's lanes (its slots,
     * one per input topic) go into batches in cw_merge_next() order, so the partition's time
     * passes per event whatever Kafka's fetch sizes (drain()) */
    held_t *q;
    int qhead, qn, qcap;
    bool qpaused; /* fetching paused: its queue is full */
    int lane;     /* its topic's index in cfg->event_topics: the merge's lane order */
} part_slot_t;

typedef struct part_lanes {
    int n;
    int slot[CW_MAX_EVENT_TOPICS];
} part_lanes_t;

/* identifies an output in flight: a dead letter (topic/partition/offset) or an alert */
enum { REF_DEAD_LETTER = 1, REF_ALERT = 2 };
typedef struct dl_ref {
    int kind;
    char *alert_id; /* REF_ALERT */
    char *topic;
    int32_t partition;
    int64_t offset;
} dl_ref_t;

typedef struct anomaly_rec {
    char *event_id;
    char *case_id;
    char *kind;
    char *detail;
    int64_t occurred_ms;
} anomaly_rec_t;

typedef struct out_alert {
    char *alert_id;
    char *key;
    uint8_t *payload;
    size_t len;
    char *json; /* for the alert hook (admin API's live stream); NULL without one */
    bool historic; /* found after the fact: published as history (header casewatch.historic) */
} out_alert_t;

typedef struct batch {
    struct cw_pipeline *p;
    cw_store_t *store;    /* the connection its transaction runs on */
    int phase;            /* 0 building, 1 events sent, 2 applied (commit sent or held) */
    cw_store_job_t *held; /* its commit, built while the batch before it was committing */
    bool abandoned;       /* dropped by a resync while its events were with the database */
    int64_t commit_started;
    out_alert_t *outs; /* alert notifications committed with this batch, to publish */
    int nouts;
    anomaly_rec_t *anoms;
    int nanom, capanom;
    batch_ev_t *evs;
    int nev, capev;
    dead_letter_t *dls;
    int ndl, capdl;
    int64_t *part_next; /* per slot: next offset after this batch, -1 = untouched */
    int nslots;
    bool touched;
    int64_t started_mono;
    /* event_id set of this batch (index + 1 into evs; 0 = empty), to drop in-batch duplicates
     * before the database sees them and to find the events it reports new */
    int *ids;
    size_t idcap, nids;
} batch_t;

struct cw_pipeline {
    struct event_base *base;
    const cw_config_t *cfg;
    cw_store_t *store;
    cw_consumer_t *consumer;
    cw_publisher_t *publisher;
    cw_casebook_t *book;
    cw_aggdelta_t *agg; /* net aggregate change of the batch being committed */
    cw_workdays_t *workdays;
    cw_snapshots_t *snapshots;
    cw_rules_t *rules;
    cw_alerts_t *alerts;
    cw_deadlines_t *deadlines;
    int64_t watermark; /* event clock: highest occurred_at applied */
    /* [L] per-partition time: one deadline heap per partition number, and the clock of each
     * (pclock()); a case's deadlines fire when its own partition's time passes them */
    cw_deadlines_t **pheap;
    int npheap;
    cw_watch_time_t wtime;
    struct event *ev_tick;
    char **alert_marks; /* alert ids confirmed on the alerts topic, to record as sent */
    int nalert_marks, capalert_marks;
    int alerts_pending; /* alert notifications handed to the publisher, not yet reported */

    pstate_t state;
    part_slot_t *slots;
    int nslots;
    /* [L] a partition number's slots (one per input topic), in lane order: built at
     * assignment, so per-message lookups do not walk every slot */
    part_lanes_t *lanes;
    int nlanes; /* partition numbers covered: max owned partition + 1 */
    uint64_t gen;     /* bumped by every assignment change: stale loads are ignored */
    bool need_load;   /* owned partitions must be (re)loaded before consuming */
    bool load_inflight;
    bool resync_after; /* the second batch failed: resync once the first has finished */
    bool paused;
    bool republished; /* unpublished dead letters were re-sent after start */
    bool rescan_done; /* the start's re-send covered the first load's partitions too */
    char *fatal;

    /* Batches: one being built from the consumer, the oldest in flight, and a second one in
     * flight on the other batch connection: its events go in and are applied while the batch
     * before it commits, and its own commit is sent when that one has succeeded. The batch
     * connections run nothing else (a held commit's transaction stays open on its
     * connection); loads, outputs and housekeeping use the main one, p->store. */
    cw_store_t *bstore[2];
    batch_t *building;
    batch_t *inflight;
    batch_t *next;

    dl_ref_t *marks; /* dead letters confirmed on the topic, to record as published */
    int nmarks, capmarks;
    int dl_pending;  /* dead letters handed to the publisher, not yet reported */

    struct event *ev_batch_timer, *ev_flush_now, *ev_housekeeping, *ev_stop_poll;
    void (*on_stopped)(void *);
    void *stopped_arg;
    bool stop_requested;
    bool destroying; /* cw_pipeline_destroy() is tearing down: callbacks return at once */
    bool consumer_closing;
    bool final_marks;
    int64_t last_refresh;
    int64_t last_stats_log;

    /* Ownership ([G]): this member's row in group_members (heartbeated), whether this group
     * owns the database, and whether our rule set is the group's (the newest member's). */
    char member_id[200];
    char rules_hash[24];
    bool member_joined;  /* our row is in: this group owns the database */
    bool claim_inflight;
    bool take_over;      /* --take-over-group: drop another group's claim */
    bool rules_agree;    /* our rule set is the group's: rules are evaluated */
    bool hb_inflight, hb_found;
    char *claim_other;   /* the group found owning the database, during a claim */
    char group_hash[24]; /* the group's rule set, from the last heartbeat */
    int64_t last_heartbeat;

    /* Partitioning ([G]): the producers' partitioner, every input topic's partition count
     * (librdkafka's metadata, through its statistics) and the count recorded in kafka_topics
     * when casewatch first consumed it. Nothing is consumed unless they all agree. */
    cw_partitioner_t partitioner;
    int32_t *tcount;    /* per cfg->event_topics entry; 0 = not known yet */
    int32_t *trecorded; /* per cfg->event_topics entry; 0 = none recorded or not read yet */
    int32_t *tscan;     /* counts of the statistics document being read */
    int32_t nparts;     /* the agreed count, used for the wrong_partition check */
    cw_topology_t topo;
    char topo_why[400];

    /* Back-off of failures the database keeps repeating (a permission, a constraint): each
     * reload waits longer, capped; a commit that succeeds resets it. */
    int fail_streak;
    int64_t retry_at;  /* cw_mono_ms() before which no reload starts */
    uint64_t rng;
    struct event *ev_retry;

    cw_pipeline_stats_t stats;
    cw_pipeline_alert_fn on_alert;
    void *on_alert_arg;
};

static const double batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000};
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   10};

static void maybe_flush(cw_pipeline_t *p);
static void resync(cw_pipeline_t *p, const char *why);
static void reset_alerts(cw_pipeline_t *p);
static void evaluate_all(cw_pipeline_t *p);
static bool alerts_waiting(cw_pipeline_t *p);
static void publish_alert(cw_pipeline_t *p, const char *alert_id, const char *key,
                          const void *payload, size_t len);
static int64_t clock_now(const cw_pipeline_t *p);
static void advance_event_clock(cw_pipeline_t *p);
static void try_load(cw_pipeline_t *p);
static void check_revoke_done(cw_pipeline_t *p);
static int fail_backoff(cw_pipeline_t *p);
static cw_topology_t topology_update(cw_pipeline_t *p, const char *what);
static void member_claim(cw_pipeline_t *p);
static void member_heartbeat(cw_pipeline_t *p);
static void member_rules(cw_pipeline_t *p, const char *group_hash, const char *by);
static void rules_fingerprint(const cw_rules_t *r, char *out, size_t n);
static void check_stop(cw_pipeline_t *p);
static bool slot_caught_up(cw_pipeline_t *p, int i, int64_t next);
static int64_t slot_log_end(cw_pipeline_t *p, int i);

static void set_state(cw_pipeline_t *p, pstate_t s)
{
    if (p->state != s)
        cw_log_debug("pipeline: %s -> %s", pstate_names[p->state], pstate_names[s]);
    p->state = s;
}

/* ------------------------------------------------------------------ batches */

static batch_t *batch_new(int nslots)
{
    batch_t *b = cw_calloc(1, sizeof(*b));
    b->nslots = nslots;
    b->part_next = cw_malloc(sizeof(int64_t) * (size_t)(nslots ? nslots : 1));
    for (int i = 0; i < nslots; i++)
        b->part_next[i] = -1;
    return b;
}

static void dead_letter_fini(dead_letter_t *d)
{
    free(d->detail);
    free(d->topic);
    free(d->key);
    free(d->payload);
    if (d->headers)
        rd_kafka_headers_destroy(d->headers);
}

static void batch_free(batch_t *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->nev; i++)
        cw_event_fini(&b->evs[i].ev);
    for (int i = 0; i < b->ndl; i++)
        dead_letter_fini(&b->dls[i]);
    for (int i = 0; i < b->nouts; i++) {
        free(b->outs[i].alert_id);
        free(b->outs[i].key);
        free(b->outs[i].payload);
        free(b->outs[i].json);
    }
    free(b->outs);
    for (int i = 0; i < b->nanom; i++) {
        free(b->anoms[i].event_id);
        free(b->anoms[i].case_id);
        free(b->anoms[i].kind);
        free(b->anoms[i].detail);
    }
    free(b->anoms);
    free(b->evs);
    free(b->dls);
    free(b->part_next);
    free(b->ids);
    if (b->held)
        cw_store_job_drop(b->held);
    free(b);
}

/* A batch is in flight (its transaction open or committing) on either connection. */
static bool committing(const cw_pipeline_t *p)
{
    return p->inflight || p->next;
}

/* Roll back the open transaction of a batch given up, on its connection, ahead of anything
 * queued there. */
static void rollback_on(cw_store_t *st)
{
    if (!cw_store_ready(st))
        return; /* the connection is gone, and its transaction with it */
    cw_store_job_t *job = cw_store_job_new(NULL, NULL);
    cw_store_job_add0(job, "ROLLBACK", NULL);
    cw_store_submit_next(st, job);
}

/* Give up the second batch in flight: its events were applied to memory (or are about to be)
 * on top of a batch that will not commit. */
static void abandon_next(cw_pipeline_t *p)
{
    batch_t *b = p->next;
    if (!b)
        return;
    p->next = NULL;
    if (b->phase == 1) { /* its events are with the database: its callback frees it */
        b->abandoned = true;
        return;
    }
    rollback_on(b->store); /* applied, commit held: the transaction is open */
    batch_free(b);
}

static int batch_size(const batch_t *b)
{
    return b->nev + b->ndl;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static const char *batch_ev_id(const batch_t *b, int i)
{
    return b->evs[i].ev.pb->event_id;
}

/* The index of the batch's event with this id, or -1. */
static int batch_id_find(const batch_t *b, const char *id)
{
    if (!b->idcap)
        return -1;
    for (size_t j = str_hash(id) & (b->idcap - 1); b->ids[j]; j = (j + 1) & (b->idcap - 1))
        if (!strcmp(batch_ev_id(b, b->ids[j] - 1), id))
            return b->ids[j] - 1;
    return -1;
}

/* Insert id, the id of the event about to become evs[nev], into the batch's id set; false
 * when it was already there. */
static bool batch_id_add(batch_t *b, const char *id)
{
    if (batch_id_find(b, id) >= 0)
        return false;
    if ((b->nids + 1) * 2 > b->idcap) {
        size_t ncap = b->idcap ? b->idcap * 2 : 1024;
        int *n = cw_calloc(ncap, sizeof(int));
        for (size_t i = 0; i < b->idcap; i++) {
            if (!b->ids[i])
                continue;
            size_t j = str_hash(batch_ev_id(b, b->ids[i] - 1)) & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = b->ids[i];
        }
        free(b->ids);
        b->ids = n;
        b->idcap = ncap;
    }
    size_t j = str_hash(id) & (b->idcap - 1);
    while (b->ids[j])
        j = (j + 1) & (b->idcap - 1);
    b->ids[j] = b->nev + 1;
    b->nids++;
    return true;
}

/* ------------------------------------------------------------------ slots */

static void held_fini(held_t *h)
{
    if (h->dead)
        dead_letter_fini(&h->dl);
    else
        cw_event_fini(&h->ev);
}

static int slot_queued(const part_slot_t *s)
{
    return s->qn - s->qhead;
}

/* Drop what a slot holds unbatched: it was never stored, so it is read again (after the
 * rewind, or by the next owner). */
static void slot_queue_clear(part_slot_t *s)
{
    for (int i = s->qhead; i < s->qn; i++)
        held_fini(&s->q[i]);
    s->qhead = s->qn = 0;
    s->qpaused = false;
}

static void slots_clear_queues(cw_pipeline_t *p)
{
    for (int i = 0; i < p->nslots; i++)
        slot_queue_clear(&p->slots[i]);
}

/* A new zeroed entry at the tail of a slot's queue. */
static held_t *slot_push(part_slot_t *s)
{
    if (s->qn == s->qcap) {
        if (s->qhead >= s->qcap / 2 && s->qhead > 0) {
            memmove(s->q, s->q + s->qhead, sizeof(held_t) * (size_t)(s->qn - s->qhead));
            s->qn -= s->qhead;
            s->qhead = 0;
        } else {
            s->qcap = s->qcap ? s->qcap * 2 : 64;
            s->q = cw_realloc(s->q, sizeof(held_t) * (size_t)s->qcap);
        }
    }
    held_t *h = &s->q[s->qn++];
    memset(h, 0, sizeof(*h));
    return h;
}

/* A slot's queue length at which its fetching pauses (resumed at half): a lane read far ahead
 * of its partition's other lanes waits for them in memory, up to this. */
static int lane_cap(const cw_pipeline_t *p)
{
    int cap = 2 * p->cfg->batch_max_events;
    return cap < 4096 ? 4096 : cap;
}

static void slots_free(cw_pipeline_t *p)
{
    for (int i = 0; i < p->nslots; i++) {
        slot_queue_clear(&p->slots[i]);
        free(p->slots[i].q);
        free(p->slots[i].topic);
    }
    free(p->slots);
    p->slots = NULL;
    p->nslots = 0;
    free(p->lanes);
    p->lanes = NULL;
    p->nlanes = 0;
    p->stats.partitions_owned = 0;
}

/* Partition N's slots in lane order (NULL if none is owned). */
static const part_lanes_t *lanes_of(const cw_pipeline_t *p, int32_t partition)
{
    if (partition < 0 || partition >= p->nlanes || !p->lanes[partition].n)
        return NULL;
    return &p->lanes[partition];
}

static void lanes_build(cw_pipeline_t *p)
{
    int n = 0;
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i].partition + 1 > n)
            n = p->slots[i].partition + 1;
    p->lanes = cw_calloc((size_t)(n ? n : 1), sizeof(part_lanes_t));
    p->nlanes = n;
    for (int i = 0; i < p->nslots; i++) {
        part_lanes_t *l = &p->lanes[p->slots[i].partition];
        CW_ASSERT(l->n < CW_MAX_EVENT_TOPICS);
        int k = l->n++;
        for (; k > 0 && p->slots[l->slot[k - 1]].lane > p->slots[i].lane; k--)
            l->slot[k] = l->slot[k - 1];
        l->slot[k] = i;
    }
}

static int slot_find(const cw_pipeline_t *p, const char *topic, int32_t partition)
{
    const part_lanes_t *l = lanes_of(p, partition);
    for (int k = 0; l && k < l->n; k++)
        if (!strcmp(p->slots[l->slot[k]].topic, topic))
            return l->slot[k];
    return -1;
}

/* ------------------------------------------------------------------ loading partitions */

typedef struct load_ctx {
    cw_pipeline_t *p;
    uint64_t gen;
} load_ctx_t;

static int64_t parse_i64(const char *s)
{
    return strtoll(s, NULL, 10);
}

static void load_offsets_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        int s = slot_find(p, PQgetvalue(res, r, 0), (int32_t)atoi(PQgetvalue(res, r, 1)));
        if (s < 0)
            continue;
        p->slots[s].committed = p->slots[s].consumed = p->slots[s].applied =
            parse_i64(PQgetvalue(res, r, 2));
        /* the stream time the partition's clock and lateness go on from ([L]) */
        p->slots[s].max_occurred = parse_i64(PQgetvalue(res, r, 3));
        if (p->slots[s].max_occurred > p->watermark)
            p->watermark = p->slots[s].max_occurred;
    }
}

static void load_cases_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    /* binary results: case_id text as its bytes (zero-terminated by libpq), kpartition int4
     * in network order, state bytea as its bytes (no hex to undo) */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        uint32_t part = 0;
        if (PQgetlength(res, r, 1) == 4)
            memcpy(&part, PQgetvalue(res, r, 1), 4);
        if (!cw_casebook_load(p->book, id, (int32_t)ntohl(part),
                              (const uint8_t *)PQgetvalue(res, r, 2),
                              (size_t)PQgetlength(res, r, 2)))
            cw_log_error("pipeline: case %s: stored state does not decode; it is rebuilt from "
                         "its next events only",
                         id);
    }
}

static void load_alerts_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    if (lc->gen != p->gen)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        int rule;
        if (!cw_rules_find(p->rules, PQgetvalue(res, r, 1), &rule))
            continue; /* a rule this configuration no longer has: left as it is */
        cw_alert_t x = {0};
        x.dedup_key = PQgetvalue(res, r, 0);
        x.rule = (uint8_t)rule;
        x.state = !strcmp(PQgetvalue(res, r, 2), "firing") ? CW_ALERT_FIRING : CW_ALERT_PENDING;
        x.case_id = PQgetvalue(res, r, 3);
        x.subject = PQgetvalue(res, r, 4);
        x.area = PQgetvalue(res, r, 5);
        x.worker = PQgetvalue(res, r, 6);
        x.partition = atoi(PQgetvalue(res, r, 7));
        x.armed_ms = parse_i64(PQgetvalue(res, r, 8));
        x.due_ms = parse_i64(PQgetvalue(res, r, 9));
        x.pending_ms = parse_i64(PQgetvalue(res, r, 10));
        x.firing_ms = parse_i64(PQgetvalue(res, r, 11));
        x.notified_ms = parse_i64(PQgetvalue(res, r, 12));
        x.notify_count = (uint32_t)atoi(PQgetvalue(res, r, 13));
        x.value = strtod(PQgetvalue(res, r, 14), NULL);
        x.threshold = strtod(PQgetvalue(res, r, 15), NULL);
        x.cause_event_id = PQgetvalue(res, r, 16);
        x.cause_topic = PQgetvalue(res, r, 17);
        x.cause_partition = atoi(PQgetvalue(res, r, 18));
        x.cause_offset = parse_i64(PQgetvalue(res, r, 19));
        x.acknowledged = PQgetvalue(res, r, 20)[0] == 't';
        x.silenced = PQgetvalue(res, r, 21)[0] == 't';
        x.severity = (uint8_t)(!strcmp(PQgetvalue(res, r, 22), "critical")  ? CW_SEV_CRITICAL
                               : !strcmp(PQgetvalue(res, r, 22), "warning") ? CW_SEV_WARNING
                                                                            : CW_SEV_INFO);
        for (int t = 1; t <= 6; t++)
            if (!strcmp(cw_case_type_name(t), PQgetvalue(res, r, 23)))
                x.case_type = (uint8_t)t;
        x.rule_version = (uint32_t)strtoul(PQgetvalue(res, r, 24), NULL, 10);
        x.origin = (uint64_t)parse_i64(PQgetvalue(res, r, 25));
        cw_alerts_load(p->alerts, &x);
    }
}

static void load_areas_result(void *arg, const PGresult *res)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    for (int r = 0; r < PQntuples(res); r++) {
        cw_area_t *a = cw_casebook_area(p->book, cw_casebook_intern(p->book, PQgetvalue(res, r, 0)));
        cw_stamp_t st = {parse_i64(PQgetvalue(res, r, 3)),
                         strtoull(PQgetvalue(res, r, 4), NULL, 10)};
        bool on = PQgetvalue(res, r, 1)[0] == 't';
        if (st.ms > a->stamp.ms || (st.ms == a->stamp.ms && st.hash >= a->stamp.hash)) {
            a->prioritised = on;
            a->since_ms = parse_i64(PQgetvalue(res, r, 2));
            a->stamp = st;
        }
        /* its changes by event time (010_area_periods.sql); a row from before holds only
         * its latest */
        const char *ms = PQgetvalue(res, r, 5), *hs = PQgetvalue(res, r, 6),
                   *os = PQgetvalue(res, r, 7);
        if (!*ms)
            cw_area_add_change(a, st.ms, st.hash, on);
        while (*ms && *hs && *os) {
            char *end;
            int64_t t = strtoll(ms, &end, 10);
            ms = *end == ',' ? end + 1 : end;
            uint64_t h = strtoull(hs, &end, 10);
            hs = *end == ',' ? end + 1 : end;
            cw_area_add_change(a, t, h, *os == 't');
            os = strchr(os, ',') ? strchr(os, ',') + 1 : "";
        }
    }
}

static void republish_result(void *arg, const PGresult *res);
static void republish_alerts_result(void *arg, const PGresult *res);
static bool is_leader(const cw_pipeline_t *p);

static void rescan_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    if (((cw_pipeline_t *)arg)->destroying)
        return;
    if (err && err != CW_ERR_AGAIN)
        cw_log_warn("pipeline: looking for unconfirmed outputs failed: [%s] %s", sqlstate, msg);
}

/* Partitions just taken over may hold outputs their previous owner committed but never saw
 * confirmed (it was killed, or lost its broker): send them again, same ids. */
static void republish_owned(cw_pipeline_t *p)
{
    if (p->rescan_done) { /* the start's re-send of everything already did */
        p->rescan_done = false;
        return;
    }
    cw_pgarray_t parts, topics;
    cw_pgarray_init(&parts);
    cw_pgarray_init(&topics);
    for (int i = 0; i < p->nslots; i++) {
        cw_pgarray_add_int(&parts, p->slots[i].partition);
        cw_pgarray_add_text(&topics, p->slots[i].topic);
    }
    char *pa = cw_pgarray_finish(&parts), *ta = cw_pgarray_finish(&topics);
    cw_store_job_t *job = cw_store_job_new(rescan_done, p);
    cw_store_job_add(job,
                     "SELECT reason, detail, topic, kpartition, koffset, msg_key, payload "
                     "FROM dead_letters WHERE published_at IS NULL AND publish_error IS NULL "
                     "AND kpartition = ANY($1::int[]) AND topic = ANY($2::text[]) ORDER BY id",
                     2, (char *[]){cw_strdup(pa), ta}, republish_result);
    cw_store_job_add(job,
                     "SELECT o.alert_id, o.msg_key, o.payload FROM alert_outbox o JOIN alerts a "
                     "USING (dedup_key) WHERE o.sent_at IS NULL AND NOT o.silenced AND "
                     "(a.kpartition = ANY($1::int[]) OR (a.kpartition = -1 AND $2::bool)) "
                     "ORDER BY o.created_at",
                     2, (char *[]){pa, cw_strdup(is_leader(p) ? "t" : "f")},
                     republish_alerts_result);
    cw_store_submit(p->store, job);
}

static void load_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    load_ctx_t *lc = arg;
    cw_pipeline_t *p = lc->p;
    bool stale = lc->gen != p->gen;
    free(lc);
    if (p->destroying)
        return;
    p->load_inflight = false;
    if (stale || p->state != P_LOADING) {
        try_load(p); /* a newer assignment may be waiting */
        return;
    }
    if (err) {
        p->need_load = true;
        cw_casebook_clear(p->book);
        reset_alerts(p);
        if (err != CW_ERR_AGAIN) { /* a real SQL failure: retried after a growing pause */
            int ms = fail_backoff(p);
            cw_log_error("pipeline: loading partition state failed: [%s] %s; retrying in %d ms",
                         sqlstate, msg, ms);
            try_load(p);
        }
        return; /* retried when the store is ready again */
    }
    if (topology_update(p, "the partition counts recorded in PostgreSQL") != CW_TOPOLOGY_OK) {
        p->need_load = true; /* retried when the counts change */
        cw_casebook_clear(p->book);
        reset_alerts(p);
        return;
    }
    p->nparts = p->tcount[0];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(p->nslots);
    for (int i = 0; i < p->nslots; i++)
        rd_kafka_topic_partition_list_add(l, p->slots[i].topic, p->slots[i].partition)->offset =
            p->slots[i].committed; /* -2 = beginning when nothing is stored yet */
    cw_err_t aerr = cw_consumer_assign(p->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (aerr) {
        resync(p, "assign failed");
        return;
    }
    p->paused = false;
    p->stats.cases_in_memory = cw_casebook_count(p->book);
    cw_log_info("pipeline: %d partition(s) loaded with %zu case(s) and %zu active alert(s); "
                "consuming from the offsets stored in PostgreSQL",
                p->nslots, cw_casebook_count(p->book), cw_alerts_count(p->alerts, 0));
    set_state(p, P_RUNNING);
    republish_owned(p);
    /* loading decoded every case through temporary buffers (text results, unescaped bytea,
     * unpacked protobuf): give that heap back, or RSS stays ~2x the state it holds */
    malloc_trim(0);
    /* rebuild the deadlines from state; what came due while nobody watched fires now */
    evaluate_all(p);
    malloc_trim(0); /* and what evaluating every case used on the way */
    if (alerts_waiting(p))
        event_active(p->ev_flush_now, 0, 0);
}

static const char SQL_OFFSETS_INIT[] =
    "INSERT INTO consumer_offsets (topic, kpartition, next_offset) "
    "SELECT t, k, -2 FROM unnest($1::text[], $2::int[]) AS u(t, k) "
    "ON CONFLICT (topic, kpartition) DO NOTHING";
static const char SQL_OFFSETS_READ[] =
    "SELECT o.topic, o.kpartition, o.next_offset, o.stream_ms FROM consumer_offsets o "
    "JOIN unnest($1::text[], $2::int[]) AS u(t, k) ON o.topic = u.t AND o.kpartition = u.k";
static const char SQL_CASES_READ[] =
    "SELECT case_id, kpartition, state FROM cases "
    "WHERE kpartition = ANY($1::int[]) AND state IS NOT NULL";
#define MS(col) "coalesce((extract(epoch FROM " col ") * 1000)::bigint, 0)"
static const char SQL_ALERTS_READ[] =
    "SELECT dedup_key, rule, state, coalesce(case_id, ''), subject, coalesce(court_area, ''),"
    " coalesce(worker_id, ''), kpartition, " MS("armed_at") ", " MS("due_at") ", "
    MS("pending_at") ", " MS("firing_at") ", " MS("notified_at") ", notify_count,"
    " coalesce(value, 0), coalesce(threshold, 0), coalesce(cause_event_id, ''),"
    " coalesce(cause_topic, ''), coalesce(cause_partition, 0), coalesce(cause_offset, 0),"
    " acknowledged, silenced, severity, coalesce(case_type, ''), rule_version, origin "
    "FROM alerts WHERE state IN ('pending', 'firing')"
    " AND (kpartition = ANY($1::int[]) OR kpartition = -1)";
static const char SQL_AREAS_READ[] =
    "SELECT court_area, prioritised, (extract(epoch FROM since) * 1000)::bigint, stamp_ms,"
    " stamp_hash, array_to_string(change_ms, ','), array_to_string(change_hash, ','),"
    " array_to_string(change_on, ',') FROM areas";

static const char SQL_TOPICS_RECORD[] =
    "INSERT INTO kafka_topics (topic, partitions) "
    "SELECT t, n FROM unnest($1::text[], $2::int[]) AS u(t, n) ON CONFLICT (topic) DO NOTHING";
static const char SQL_TOPICS_READ[] =
    "SELECT topic, partitions FROM kafka_topics WHERE topic = ANY($1::text[])";

static int topic_index(const cw_pipeline_t *p, const char *topic)
{
    for (int i = 0; i < p->cfg->n_event_topics; i++)
        if (!strcmp(p->cfg->event_topics[i], topic))
            return i;
    return -1;
}

static void load_topics_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = ((load_ctx_t *)arg)->p;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = topic_index(p, PQgetvalue(res, r, 0));
        if (i >= 0)
            p->trecorded[i] = (int32_t)atoi(PQgetvalue(res, r, 1));
    }
}

static void try_load(cw_pipeline_t *p)
{
    if (!p->need_load || p->load_inflight || p->state != P_LOADING || !cw_store_ready(p->store))
        return;
    if (committing(p))
        return; /* called again when the commit finishes */
    if (!p->member_joined || p->topo != CW_TOPOLOGY_OK)
        return; /* called again once the claim succeeds / the partition counts agree */
    int64_t wait = p->retry_at - cw_mono_ms();
    if (wait > 0) { /* backing off a failure the database repeats */
        struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
        evtimer_add(p->ev_retry, &tv);
        return;
    }
    p->need_load = false;
    p->load_inflight = true;
    cw_casebook_clear(p->book);
    reset_alerts(p);

    cw_pgarray_t topics, parts, uparts;
    cw_pgarray_init(&topics);
    cw_pgarray_init(&parts);
    cw_pgarray_init(&uparts);
    for (int i = 0; i < p->nslots; i++) {
        cw_pgarray_add_text(&topics, p->slots[i].topic);
        cw_pgarray_add_int(&parts, p->slots[i].partition);
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= p->slots[j].partition == p->slots[i].partition;
        if (!seen)
            cw_pgarray_add_int(&uparts, p->slots[i].partition);
    }
    char *t = cw_pgarray_finish(&topics), *k = cw_pgarray_finish(&parts);
    load_ctx_t *lc = cw_malloc(sizeof(*lc));
    lc->p = p;
    lc->gen = p->gen;
    cw_store_job_t *job = cw_store_job_new(load_done, lc);
    /* one snapshot for offsets and cases, so they agree with each other */
    cw_store_job_add0(job, "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL);
    cw_store_job_add(job, SQL_OFFSETS_INIT, 2, (char *[]){cw_strdup(t), cw_strdup(k)}, NULL);
    cw_store_job_add(job, SQL_OFFSETS_READ, 2, (char *[]){t, k}, load_offsets_result);
    char *uparts_text = cw_pgarray_finish(&uparts);
    cw_store_job_add_binary(job, SQL_CASES_READ, 1, (char *[]){cw_strdup(uparts_text)},
                            load_cases_result);
    cw_store_job_add0(job, SQL_AREAS_READ, load_areas_result);
    cw_store_job_add(job, SQL_ALERTS_READ, 1, (char *[]){cw_strdup(uparts_text)},
                     load_alerts_result);
    /* the partition counts the state is owned by: recorded the first time, compared after */
    cw_pgarray_t tt, tc;
    cw_pgarray_init(&tt);
    cw_pgarray_init(&tc);
    for (int i = 0; i < p->cfg->n_event_topics; i++) {
        cw_pgarray_add_text(&tt, p->cfg->event_topics[i]);
        cw_pgarray_add_int(&tc, p->tcount[i]);
    }
    char *tta = cw_pgarray_finish(&tt);
    cw_store_job_add(job, SQL_TOPICS_RECORD, 2, (char *[]){cw_strdup(tta), cw_pgarray_finish(&tc)},
                     NULL);
    cw_store_job_add(job, SQL_TOPICS_READ, 1, (char *[]){tta}, load_topics_result);
    cw_store_job_add0(job, "COMMIT", NULL);
    free(uparts_text);
    cw_store_submit(p->store, job);
}

/* Drop every uncommitted thing and reload the owned partitions from PostgreSQL. */
static void resync(cw_pipeline_t *p, const char *why)
{
    p->resync_after = false;
    slots_clear_queues(p);
    batch_free(p->building);
    p->building = NULL;
    if (p->inflight) { /* only reached from its own failure path */
        batch_free(p->inflight);
        p->inflight = NULL;
    }
    abandon_next(p);
    cw_casebook_clear(p->book);
    reset_alerts(p);
    p->stats.cases_in_memory = 0;
    p->gen++;
    if (p->state == P_REVOKING) {
        check_revoke_done(p);
        return;
    }
    if (p->state == P_STOPPING) {
        check_stop(p);
        return;
    }
    if (p->state == P_IDLE || p->state == P_STOPPED)
        return;
    if (p->state == P_RUNNING) {
        p->stats.resyncs++;
        cw_log_warn("pipeline: %s; discarding uncommitted work, reloading state and rewinding "
                    "to the stored offsets",
                    why);
    }
    /* stop fetching until the rewind; whatever still arrives is ignored */
    cw_consumer_hold(p->consumer, false);
    cw_consumer_pause(p->consumer, true);
    p->paused = true;
    set_state(p, P_LOADING);
    p->need_load = true;
    p->building = batch_new(p->nslots);
    try_load(p);
}

/* ------------------------------------------------------------------ rebalance */

static void on_assign(void *arg, const rd_kafka_topic_partition_list_t *parts)
{
    cw_pipeline_t *p = arg;
    if (p->state == P_STOPPING || p->state == P_STOPPED) {
        if (cw_consumer_unassign(p->consumer))
            cw_log_warn("pipeline: could not decline assignment during shutdown");
        return;
    }
    slots_free(p);
    p->slots = cw_calloc((size_t)(parts->cnt ? parts->cnt : 1), sizeof(part_slot_t));
    for (int i = 0; i < parts->cnt; i++) {
        p->slots[i].topic = cw_strdup(parts->elems[i].topic);
        p->slots[i].partition = parts->elems[i].partition;
        p->slots[i].committed = p->slots[i].consumed = RD_KAFKA_OFFSET_BEGINNING;
        p->slots[i].high = -1;
        p->slots[i].lane = topic_index(p, parts->elems[i].topic);
    }
    p->nslots = parts->cnt;
    lanes_build(p);
    p->stats.partitions_owned = parts->cnt;
    batch_free(p->building);
    p->building = batch_new(p->nslots);
    p->gen++;
    set_state(p, P_LOADING);
    p->need_load = true;
    try_load(p);
}

static void on_revoke(void *arg, const rd_kafka_topic_partition_list_t *parts)
{
    cw_pipeline_t *p = arg;
    p->gen++; /* cancels a load in progress */
    p->need_load = false;
    if (p->state == P_STOPPING || p->state == P_STOPPED) {
        /* the stop sequence already committed or dropped the batches */
        cw_casebook_clear(p->book);
        slots_free(p);
        return;
    }
    bool was_running = p->state == P_RUNNING;
    set_state(p, P_REVOKING);
    slots_clear_queues(p); /* not batched, not stored: the next owner reads them */
    if (was_running)
        maybe_flush(p); /* commit what we have, so the next owner starts after it */
    check_revoke_done(p);
}

static void check_revoke_done(cw_pipeline_t *p)
{
    if (p->state != P_REVOKING || committing(p))
        return;
    batch_free(p->building); /* not committable (database down): the next owner re-reads it */
    p->building = NULL;
    cw_casebook_clear(p->book);
    reset_alerts(p);
    p->stats.cases_in_memory = 0;
    slots_free(p);
    if (cw_consumer_unassign(p->consumer))
        cw_log_warn("pipeline: unassign after revoke failed");
    p->paused = false;
    set_state(p, P_IDLE);
}

static void on_offset_reset(void *arg, const char *topic, int32_t partition, int64_t offset,
                            const char *why)
{
    cw_pipeline_t *p = arg;
    p->stats.offset_resets++;
    /* The stored position is outside the log: below it the data was trimmed before we read
     * it, above it the broker lost its log. Either way the earliest data still there is what
     * remains to be read; say so loudly because events may have been lost upstream. */
    cw_log_error("pipeline: %s [%d]: stored offset is outside the log (%s); continuing from "
                 "the earliest available offset — events before it were never read",
                 topic, partition, why);
    int s = slot_find(p, topic, partition);
    if (s >= 0) {
        p->slots[s].consumed = 0;
        if (p->slots[s].qpaused)
            cw_consumer_pause_partition(p->consumer, topic, partition, false);
        slot_queue_clear(&p->slots[s]);
    }
    cw_consumer_seek_beginning(p->consumer, topic, partition);
}

/* ------------------------------------------------------------------ consuming */

/* A dead letter's record of message m (copied: key, payload, headers). */
static void dead_letter_from(dead_letter_t *d, const rd_kafka_message_t *m, cw_reject_t reason,
                             const char *detail)
{
    memset(d, 0, sizeof(*d));
    d->reason = reason;
    d->detail = cw_strdup(detail);
    d->topic = cw_strdup(rd_kafka_topic_name(m->rkt));
    d->partition = m->partition;
    d->offset = m->offset;
    if (m->key_len) {
        d->key = cw_malloc(m->key_len);
        memcpy(d->key, m->key, m->key_len);
        d->keylen = m->key_len;
    }
    if (m->len) {
        d->payload = cw_malloc(m->len);
        memcpy(d->payload, m->payload, m->len);
        d->len = m->len;
    }
    rd_kafka_headers_t *h = NULL;
    if (!rd_kafka_message_headers(m, &h) && h)
        d->headers = rd_kafka_headers_copy(h);
    cw_log_debug("pipeline: dead letter %s [%d] @%lld: %s: %s", d->topic, d->partition,
                 (long long)d->offset, cw_reject_name(reason), detail);
}

/* An event belongs on the partition its case_id (an area event: its court_area) hashes to by
 * the producers' partitioner: elsewhere its case would have two owners, whose rows overwrite
 * each other. Such an event is set aside, never applied. */
static bool partition_ok(const cw_pipeline_t *p, const cw_event_t *ev, int32_t partition,
                         char *why, size_t whysz)
{
    const Casewatch__V1__Event *e = ev->pb;
    const char *key = e->case_id, *what = "case_id";
    if (cw_event_kind_is_area(e->payload_case)) {
        what = "court_area";
        key = e->payload_case == CASEWATCH__V1__EVENT__PAYLOAD_PRIORITISATION_ACTIVATED
                  ? e->prioritisation_activated->court_area
                  : e->prioritisation_deactivated->court_area;
    }
    int32_t want = cw_partmap_partition(p->partitioner, key, key ? strlen(key) : 0, p->nparts);
    if (want < 0 || want == partition)
        return true;
    snprintf(why, whysz,
             "%s hashes to partition %d of %d by the %s partitioner, but the event arrived on "
             "partition %d (published with a key other than its %s?)",
             what, want, p->nparts, p->cfg->partitioner, partition, what);
    return false;
}

/* A batch has taken something: commit it when it is full or has waited long enough. */
static void arm_flush(cw_pipeline_t *p)
{
    if (p->cfg->batch_max_wait_ms == 0) {
        event_active(p->ev_flush_now, 0, 0);
    } else if (!evtimer_pending(p->ev_batch_timer, NULL)) {
        struct timeval tv = {p->cfg->batch_max_wait_ms / 1000,
                             (p->cfg->batch_max_wait_ms % 1000) * 1000};
        evtimer_add(p->ev_batch_timer, &tv);
    }
}

/* Move the head of slot s's queue into the batch being built. */
static void release(cw_pipeline_t *p, int s)
{
    part_slot_t *slot = &p->slots[s];
    held_t h = slot->q[slot->qhead++];
    if (slot->qhead == slot->qn)
        slot->qhead = slot->qn = 0;
    batch_t *b = p->building;
    b->part_next[s] = h.offset + 1;
    b->touched = true;
    if (!b->started_mono)
        b->started_mono = cw_mono_ms();
    if (h.dead) {
        if (b->ndl == b->capdl) {
            b->capdl = b->capdl ? b->capdl * 2 : 16;
            b->dls = cw_realloc(b->dls, sizeof(dead_letter_t) * (size_t)b->capdl);
        }
        b->dls[b->ndl++] = h.dl;
    } else if (!batch_id_add(b, h.ev.pb->event_id)) {
        p->stats.duplicates++; /* the same event twice in one batch */
        cw_event_fini(&h.ev);
    } else {
        if (b->nev == b->capev) {
            b->capev = b->capev ? b->capev * 2 : 256;
            b->evs = cw_realloc(b->evs, sizeof(batch_ev_t) * (size_t)b->capev);
        }
        b->evs[b->nev++] = (batch_ev_t){.ev = h.ev, .slot = s, .offset = h.offset};
    }
}

/* [L] Move partition N's queued messages into the batch being built in merge order: the
 * earliest occurred_at among its lanes' heads next, waiting while a lane that is not at its
 * log end has nothing queued (its next message may be earlier). So each partition's events
 * reach the batches, and its clock, in one order, the order casewatch-dryrun applies them in,
 * whatever librdkafka fetched when. Stops while the batch is full and cannot be committed
 * yet (called again when a commit returns). */
static void drain(cw_pipeline_t *p, int32_t partition)
{
    if (p->state != P_RUNNING || !p->building)
        return;
    const part_lanes_t *pl = lanes_of(p, partition);
    if (!pl)
        return;
    const int *lane = pl->slot, n = pl->n;
    int64_t head[CW_MAX_EVENT_TOPICS];
    bool open[CW_MAX_EVENT_TOPICS];
    bool released = false;
    for (;;) {
        if (batch_size(p->building) >= p->cfg->batch_max_events) {
            maybe_flush(p);
            if (!p->building || batch_size(p->building) >= p->cfg->batch_max_events)
                break;
        }
        for (int k = 0; k < n; k++) {
            const part_slot_t *sl = &p->slots[lane[k]];
            if (slot_queued(sl)) {
                const held_t *h = &sl->q[sl->qhead];
                head[k] = h->dead ? CW_MERGE_NOW : h->ev.pb->occurred_at;
                open[k] = false;
            } else {
                head[k] = CW_MERGE_EMPTY;
                open[k] = !slot_caught_up(p, lane[k], sl->consumed);
            }
        }
        int w = cw_merge_next(head, open, n);
        if (w < 0)
            break;
        release(p, lane[w]);
        released = true;
    }
    int cap = lane_cap(p);
    for (int k = 0; k < n; k++) {
        part_slot_t *sl = &p->slots[lane[k]];
        if (sl->qpaused && slot_queued(sl) <= cap / 2) {
            cw_consumer_pause_partition(p->consumer, sl->topic, sl->partition, false);
            sl->qpaused = false;
        }
    }
    if (released && p->building && p->building->touched)
        arm_flush(p);
}

/* Every owned partition's drain() (each partition number once). */
static void drain_all(cw_pipeline_t *p)
{
    for (int32_t part = 0; part < p->nlanes && p->state == P_RUNNING; part++)
        if (lanes_of(p, part))
            drain(p, part);
}

static void on_message(void *arg, const rd_kafka_message_t *m)
{
    cw_pipeline_t *p = arg;
    if (p->state != P_RUNNING)
        return; /* not stored, so read again after the rewind or by the next owner */
    int s = slot_find(p, rd_kafka_topic_name(m->rkt), m->partition);
    if (s < 0)
        return;
    part_slot_t *slot = &p->slots[s];
    if (slot->consumed >= 0 && m->offset < slot->consumed) {
        p->stats.stale_skipped++;
        return;
    }
    slot->consumed = m->offset + 1;
    p->stats.consumed++;

    char reason[256];
    held_t *h = slot_push(slot);
    h->offset = m->offset;
    cw_reject_t rej = cw_event_decode(m->payload, m->len, (size_t)p->cfg->max_message_bytes,
                                      cw_now_ms(), &h->ev, reason, sizeof(reason));
    if (rej == CW_REJECT_NONE &&
        !partition_ok(p, &h->ev, m->partition, reason, sizeof(reason))) {
        cw_event_fini(&h->ev);
        rej = CW_REJECT_WRONG_PARTITION;
    }
    if (rej != CW_REJECT_NONE) {
        memset(&h->ev, 0, sizeof(h->ev));
        h->dead = true;
        dead_letter_from(&h->dl, m, rej, reason);
    }
    if (!slot->qpaused && slot_queued(slot) >= lane_cap(p)) {
        cw_consumer_pause_partition(p->consumer, slot->topic, slot->partition, true);
        slot->qpaused = true;
    }
    drain(p, slot->partition);
}

/* ------------------------------------------------------------------ committing */

static const char SQL_EVENTS_INSERT[] =
    "INSERT INTO event_log (event_id, case_id, kind, occurred_at, topic, kpartition, koffset) "
    "SELECT e, c, k, timestamptz 'epoch' + t * interval '1 ms', tp, kp, o "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[],"
    "            $7::bigint[]) AS u(e, c, k, t, tp, kp, o) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id";

static const char SQL_CASES_UPSERT[] =
    "INSERT INTO cases (case_id, kpartition, event_count, first_event_at, last_event_at,"
    " status, case_type, court_area, service_area, team, worker_id, allocation, children,"
    " start_at, closed_at, state) "
    "SELECT c, k, n, cw_ms(f), cw_ms(l), st, NULLIF(ty, ''), NULLIF(ar, ''), NULLIF(os, ''),"
    "       NULLIF(tm, ''), NULLIF(wk, ''), al, ch, cw_ms(sa), cw_ms(ca), sb "
    "FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],"
    "            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
    "            $13::int[], $14::bigint[], $15::bigint[], $16::bytea[])"
    "  AS u(c, k, n, f, l, st, ty, ar, os, tm, wk, al, ch, sa, ca, sb) "
    "ON CONFLICT (case_id) DO UPDATE SET kpartition = excluded.kpartition,"
    " event_count = excluded.event_count, first_event_at = excluded.first_event_at,"
    " last_event_at = excluded.last_event_at, status = excluded.status,"
    " case_type = excluded.case_type, court_area = excluded.court_area,"
    " service_area = excluded.service_area, team = excluded.team,"
    " worker_id = excluded.worker_id, allocation = excluded.allocation,"
    " children = excluded.children, start_at = excluded.start_at,"
    " closed_at = excluded.closed_at, state = excluded.state, updated_at = now()";

/* aggregates: commutative increments, so any number of daemons add up correctly */
static const char SQL_AGG_COHORT[] =
    "INSERT INTO agg_cohort AS a (court_area, case_type, start_day, close_day, cases, children) "
    "SELECT ar, ty, cw_day(d1), cw_day(d2), v1, v2 FROM unnest($1::text[], $2::text[],"
    " $3::int[], $4::int[], $5::bigint[], $6::bigint[]) AS u(ar, ty, d1, d2, v1, v2) "
    "ON CONFLICT (court_area, case_type, start_day, close_day) DO UPDATE"
    " SET cases = a.cases + excluded.cases, children = a.children + excluded.children";
static const char SQL_AGG_LIVE[] =
    "INSERT INTO agg_live AS a (court_area, case_type, metric, value) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
    "ON CONFLICT (court_area, case_type, metric) DO UPDATE SET value = a.value + excluded.value";
static const char SQL_AGG_WORKERS[] =
    "INSERT INTO agg_workers AS a (worker_id, court_area, cases) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) "
    "ON CONFLICT (worker_id, court_area) DO UPDATE SET cases = a.cases + excluded.cases";
static const char SQL_AGG_REPORTS[] =
    "INSERT INTO agg_reports AS a (court_area, case_type, report_kind, filed_day, on_time,"
    " extended, reports) "
    "SELECT ar, ty, kd, cw_day(d), ot, ex, v FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::int[], $5::bool[], $6::bool[], $7::bigint[]) AS u(ar, ty, kd, d, ot, ex, v) "
    "ON CONFLICT (court_area, case_type, report_kind, filed_day, on_time, extended) DO UPDATE"
    " SET reports = a.reports + excluded.reports";
static const char SQL_AREAS_UPSERT[] =
    "INSERT INTO areas AS a (court_area, prioritised, since, stamp_ms, stamp_hash) "
    "SELECT n, pr, cw_ms(s), sm, sh FROM unnest($1::text[], $2::bool[], $3::bigint[],"
    " $4::bigint[], $5::numeric[]) AS u(n, pr, s, sm, sh) "
    "ON CONFLICT (court_area) DO UPDATE SET prioritised = excluded.prioritised,"
    " since = excluded.since, stamp_ms = excluded.stamp_ms, stamp_hash = excluded.stamp_hash,"
    " updated_at = now() "
    "WHERE (excluded.stamp_ms, excluded.stamp_hash) > (a.stamp_ms, a.stamp_hash)";
static const char SQL_AREA_CHANGES_SET[] =
    "UPDATE areas SET change_ms = $2::bigint[], change_hash = $3::numeric[],"
    " change_on = $4::boolean[] WHERE court_area = $1";
static const char SQL_ANOMALIES_INSERT[] =
    "INSERT INTO anomalies (event_id, case_id, kind, detail, occurred_at) "
    "SELECT e, c, k, d, cw_ms(t) FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::bigint[]) AS u(e, c, k, d, t) ON CONFLICT (event_id, kind) DO NOTHING";

static const char SQL_DEAD_LETTERS_INSERT[] =
    "INSERT INTO dead_letters (reason, detail, topic, kpartition, koffset, msg_key, payload) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[],"
    "                     $6::bytea[], $7::bytea[]) "
    "ON CONFLICT (topic, kpartition, koffset) DO NOTHING";

static const char SQL_DEAD_LETTERS_MARK[] =
    "UPDATE dead_letters d SET published_at = now() "
    "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(t, k, o) "
    "WHERE d.topic = u.t AND d.kpartition = u.k AND d.koffset = u.o AND d.published_at IS NULL";

static const char SQL_OFFSETS_ADVANCE[] =
    "SELECT cw_advance_offsets($1::text[], $2::int[], $3::bigint[], $4::bigint[], "
    "$5::bigint[])";

static void commit_failed(cw_pipeline_t *p, cw_err_t err, const char *sqlstate, const char *msg)
{
    p->stats.commit_failures++;
    if (err == CW_ERR_FENCED) {
        p->stats.fenced++;
        cw_log_warn("pipeline: another consumer advanced our partitions (%s); reloading", msg);
    } else if (err != CW_ERR_AGAIN) {
        /* the database refused the batch (a privilege, a constraint, a timeout): it will most
         * likely refuse it again, so each retry waits longer, like a reconnect */
        int ms = fail_backoff(p);
        cw_log_error("pipeline: batch transaction failed: [%s] %s; reloading and retrying in "
                     "%d ms",
                     sqlstate, msg, ms);
    }
    batch_free(p->inflight);
    p->inflight = NULL;
    abandon_next(p);
    cw_consumer_hold(p->consumer, false);
    resync(p, err == CW_ERR_AGAIN ? "database connection lost during a commit"
                                  : "batch transaction failed");
}

static void dl_mark_add(cw_pipeline_t *p, dl_ref_t *ref)
{
    if (p->nmarks == p->capmarks) {
        p->capmarks = p->capmarks ? p->capmarks * 2 : 64;
        p->marks = cw_realloc(p->marks, sizeof(dl_ref_t) * (size_t)p->capmarks);
    }
    p->marks[p->nmarks++] = *ref;
    free(ref);
}

static void marks_free(dl_ref_t *marks, int n)
{
    for (int i = 0; i < n; i++)
        free(marks[i].topic);
    free(marks);
}

/* Statement recording confirmed dead letters as published; takes the pending marks. */
static void add_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    if (!p->nmarks)
        return;
    cw_pgarray_t t, k, o;
    cw_pgarray_init(&t);
    cw_pgarray_init(&k);
    cw_pgarray_init(&o);
    for (int i = 0; i < p->nmarks; i++) {
        cw_pgarray_add_text(&t, p->marks[i].topic);
        cw_pgarray_add_int(&k, p->marks[i].partition);
        cw_pgarray_add_int(&o, p->marks[i].offset);
    }
    cw_store_job_addp(job, SQL_DEAD_LETTERS_MARK, 3,
                     (char *[]){cw_pgarray_finish(&t), cw_pgarray_finish(&k),
                                cw_pgarray_finish(&o)},
                     NULL);
    p->stats.dl_published += (uint64_t)p->nmarks;
    marks_free(p->marks, p->nmarks);
    p->marks = NULL;
    p->nmarks = p->capmarks = 0;
}

static void publish_dead_letter(cw_pipeline_t *p, const char *topic, int32_t partition,
                                int64_t offset, const char *reason, const char *detail,
                                const void *key, size_t keylen, const void *payload, size_t len,
                                rd_kafka_headers_t *orig_headers)
{
    rd_kafka_headers_t *h = orig_headers ? rd_kafka_headers_copy(orig_headers)
                                         : rd_kafka_headers_new(5);
    char num[32];
    rd_kafka_header_add(h, "casewatch.reason", -1, reason, -1);
    rd_kafka_header_add(h, "casewatch.reason_detail", -1, detail, -1);
    rd_kafka_header_add(h, "casewatch.source_topic", -1, topic, -1);
    snprintf(num, sizeof(num), "%d", partition);
    rd_kafka_header_add(h, "casewatch.source_partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)offset);
    rd_kafka_header_add(h, "casewatch.source_offset", -1, num, -1);
    dl_ref_t *ref = cw_calloc(1, sizeof(*ref));
    ref->kind = REF_DEAD_LETTER;
    ref->topic = cw_strdup(topic);
    ref->partition = partition;
    ref->offset = offset;
    cw_err_t err = cw_publisher_send(p->publisher, p->cfg->dead_letter_topic, key, keylen,
                                     payload, len, h, ref);
    if (err) {
        /* stays unpublished in the table; re-sent at the next start */
        cw_log_warn("pipeline: dead letter %s [%d] @%lld not queued for publishing: %s", topic,
                    partition, (long long)offset, cw_err_str(err));
        rd_kafka_headers_destroy(h);
        free(ref->topic);
        free(ref);
        return;
    }
    p->dl_pending++;
}

static void on_delivery(void *arg, void *opaque, rd_kafka_resp_err_t err)
{
    cw_pipeline_t *p = arg;
    dl_ref_t *ref = opaque;
    if (!ref)
        return;
    if (ref->kind == REF_ALERT) {
        p->alerts_pending--;
        if (err) {
            cw_log_error("pipeline: alert %s could not be published: %s; it stays in the outbox",
                         ref->alert_id, rd_kafka_err2str(err));
            free(ref->alert_id);
        } else {
            if (p->nalert_marks == p->capalert_marks) {
                p->capalert_marks = p->capalert_marks ? p->capalert_marks * 2 : 64;
                p->alert_marks =
                    cw_realloc(p->alert_marks, sizeof(char *) * (size_t)p->capalert_marks);
            }
            p->alert_marks[p->nalert_marks++] = ref->alert_id;
        }
        free(ref);
        return;
    }
    p->dl_pending--;
    if (err) { /* with message.timeout.ms=0 only permanent errors get here */
        cw_log_error("pipeline: dead letter %s [%d] @%lld could not be published: %s; it "
                     "stays in the dead_letters table",
                     ref->topic, ref->partition, (long long)ref->offset, rd_kafka_err2str(err));
        free(ref->topic);
        free(ref);
        return;
    }
    dl_mark_add(p, ref);
}

static void publish_alert(cw_pipeline_t *p, const char *alert_id, const char *key,
                          const void *payload, size_t len)
{
    dl_ref_t *ref = cw_calloc(1, sizeof(*ref));
    ref->kind = REF_ALERT;
    ref->alert_id = cw_strdup(alert_id);
    /* the id as a header too: consumers de-duplicate re-sends without decoding; and whether
     * it is history (found after the fact), so a pager can drop it without decoding */
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "casewatch.alert_id", -1, alert_id, -1);
    Casewatch__V1__Alert *m = casewatch__v1__alert__unpack(NULL, len, payload);
    if (m && m->historic)
        rd_kafka_header_add(h, "casewatch.historic", -1, "true", 4);
    if (m)
        casewatch__v1__alert__free_unpacked(m, NULL);
    if (cw_publisher_send(p->publisher, p->cfg->alerts_topic, key, strlen(key), payload, len, h,
                          ref) != CW_OK) {
        rd_kafka_headers_destroy(h);
        cw_log_warn("pipeline: alert %s not queued for publishing; re-sent at the next start",
                    alert_id);
        free(ref->alert_id);
        free(ref);
        return;
    }
    p->alerts_pending++;
}

/* What waits for no batch to be in flight (a revoke, a stop, a load) may go on. */
static void commits_settled(cw_pipeline_t *p)
{
    switch (p->state) {
    case P_REVOKING:
        check_revoke_done(p);
        break;
    case P_STOPPING:
        check_stop(p);
        break;
    case P_LOADING:
        try_load(p);
        break;
    default:
        break;
    }
}

static void commit2_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    batch_t *b = arg;
    cw_pipeline_t *p = b->p;
    if (p->destroying)
        return; /* freed with p->inflight by cw_pipeline_destroy() */
    if (err) {
        commit_failed(p, err, sqlstate, msg);
        return;
    }
    for (int i = 0; i < p->nslots && i < b->nslots; i++)
        if (b->part_next[i] >= 0)
            p->slots[i].committed = b->part_next[i];
    p->stats.anomalies += (uint64_t)b->nanom;
    for (int i = 0; i < b->nev; i++) {
        if (!b->evs[i].is_new) {
            p->stats.duplicates++;
            continue;
        }
        p->stats.applied++;
        int k = b->evs[i].ev.kind;
        if (k >= 0 && k < CW_PIPELINE_MAX_KINDS)
            p->stats.applied_by_kind[k]++;
    }
    for (int i = 0; i < b->ndl; i++) {
        dead_letter_t *d = &b->dls[i];
        p->stats.dead_letters++;
        p->stats.dead_by_reason[d->reason]++;
        publish_dead_letter(p, d->topic, d->partition, d->offset, cw_reject_name(d->reason),
                            d->detail, d->key, d->keylen, d->payload, d->len, d->headers);
    }
    for (int i = 0; i < b->nouts; i++) {
        if (p->on_alert && b->outs[i].json)
            p->on_alert(p->on_alert_arg, b->outs[i].json);
        publish_alert(p, b->outs[i].alert_id, b->outs[i].key, b->outs[i].payload,
                      b->outs[i].len);
    }
    p->stats.batches++;
    p->fail_streak = 0;
    p->retry_at = 0;
    p->stats.last_commit_ms = cw_mono_ms() - b->commit_started;
    cw_histo_observe(&p->stats.batch_events, (double)(b->nev + b->ndl));
    cw_histo_observe(&p->stats.commit_seconds, (double)p->stats.last_commit_ms / 1000.0);
    p->stats.cases_in_memory = cw_casebook_count(p->book);
    batch_free(b);
    /* the second batch becomes the oldest; its commit may go now that this one's is in */
    p->inflight = p->next;
    p->next = NULL;
    if (p->inflight && p->inflight->held) {
        cw_store_job_t *job = p->inflight->held;
        p->inflight->held = NULL;
        cw_store_submit_next(p->inflight->store, job);
    }

    cw_consumer_hold(p->consumer, false);
    if (p->resync_after && !committing(p)) {
        resync(p, "database connection lost during a commit");
        return;
    }
    if (p->state != P_RUNNING) {
        if (!committing(p))
            commits_settled(p);
        return;
    }
    if (p->building && p->building->touched &&
        (batch_size(p->building) >= p->cfg->batch_max_events ||
         cw_mono_ms() - p->building->started_mono >= p->cfg->batch_max_wait_ms))
        maybe_flush(p);
    cw_consumer_hold(p->consumer, false);
    drain_all(p);
}

static void events_result(void *arg, const PGresult *res)
{
    batch_t *b = arg;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = batch_id_find(b, PQgetvalue(res, r, 0));
        if (i >= 0)
            b->evs[i].is_new = true;
    }
}

static void on_anomaly(void *arg, const cw_event_t *ev, const char *kind, const char *detail)
{
    batch_t *b = arg;
    if (b->nanom == b->capanom) {
        b->capanom = b->capanom ? b->capanom * 2 : 16;
        b->anoms = cw_realloc(b->anoms, sizeof(anomaly_rec_t) * (size_t)b->capanom);
    }
    b->anoms[b->nanom++] = (anomaly_rec_t){cw_strdup(ev->pb->event_id),
                                           cw_strdup(ev->pb->case_id ? ev->pb->case_id : ""),
                                           cw_strdup(kind), cw_strdup(detail),
                                           ev->pb->occurred_at};
}

/* The case rows of every case changed in this batch: one row each, one statement. */
static void add_cases_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t ndirty;
    cw_case_t *const *dirty = cw_casebook_dirty(p->book, &ndirty);
    if (!ndirty)
        return;
    /* binary arrays: the case state goes as bytes, not hex, and nothing is quoted or parsed */
    static const uint32_t oid[16] = {CW_OID_TEXT, CW_OID_INT4, CW_OID_INT8, CW_OID_INT8,
                                     CW_OID_INT8, CW_OID_TEXT, CW_OID_TEXT, CW_OID_TEXT,
                                     CW_OID_TEXT, CW_OID_TEXT, CW_OID_TEXT, CW_OID_TEXT,
                                     CW_OID_INT4, CW_OID_INT8, CW_OID_INT8, CW_OID_BYTEA};
    cw_pgbin_t a[16];
    for (int i = 0; i < 16; i++)
        cw_pgbin_init(&a[i], oid[i]);
    for (size_t i = 0; i < ndirty; i++) {
        const cw_case_t *c = dirty[i];
        int members = 0;
        for (int j = 0; j < c->nchildren; j++)
            members += c->children[j].member;
        bool closed = cw_case_closed(c);
        cw_pgbin_add_text(&a[0], c->case_id);
        cw_pgbin_add_int(&a[1], c->partition);
        cw_pgbin_add_int(&a[2], c->event_count);
        cw_pgbin_add_int(&a[3], c->first_ms);
        cw_pgbin_add_int(&a[4], c->last_ms);
        cw_pgbin_add_text(&a[5], !c->opened ? "stub" : closed ? "closed" : "open");
        cw_pgbin_add_text(&a[6], cw_case_type_name(c->case_type));
        cw_pgbin_add_text(&a[7], cw_casebook_str(p->book, c->area));
        cw_pgbin_add_text(&a[8], cw_casebook_str(p->book, c->osa));
        cw_pgbin_add_text(&a[9], cw_casebook_str(p->book, c->team));
        cw_pgbin_add_text(&a[10], cw_casebook_str(p->book, c->worker));
        cw_pgbin_add_text(&a[11], cw_alloc_name(c->alloc));
        cw_pgbin_add_int(&a[12], members);
        cw_pgbin_add_int(&a[13], c->opened ? c->start_ms : 0);
        cw_pgbin_add_int(&a[14], closed ? c->close_stamp.ms : 0);
        size_t len;
        uint8_t *st = cw_casebook_pack(p->book, c, &len);
        cw_pgbin_add_bytes(&a[15], st, len);
        free(st);
    }
    char *v[16];
    int len[16];
    for (int i = 0; i < 16; i++)
        v[i] = cw_pgbin_finish(&a[i], &len[i]);
    cw_store_job_addp_bin(job, SQL_CASES_UPSERT, 16, v, len, NULL);
}

/* The batch's net aggregate change, one statement per table, zero entries left out. */
static void add_agg_stmts(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t n;
    const cw_agg_entry_t *e = cw_aggdelta_entries(p->agg, &n);
    cw_pgarray_t co[6], lv[4], wk[3], rp[7];
    int nco = 0, nlv = 0, nwk = 0, nrp = 0;
    for (int i = 0; i < 6; i++)
        cw_pgarray_init(&co[i]);
    for (int i = 0; i < 4; i++)
        cw_pgarray_init(&lv[i]);
    for (int i = 0; i < 3; i++)
        cw_pgarray_init(&wk[i]);
    for (int i = 0; i < 7; i++)
        cw_pgarray_init(&rp[i]);
    for (size_t i = 0; i < n; i++) {
        const cw_agg_key_t *k = &e[i].key;
        if (e[i].v1 == 0 && e[i].v2 == 0)
            continue; /* an event that moved nothing (or moved it back) */
        const char *area = cw_casebook_str(p->book, k->area);
        switch (k->table) {
        case CW_AGG_COHORT:
            cw_pgarray_add_text(&co[0], area);
            cw_pgarray_add_text(&co[1], cw_case_type_name(k->case_type));
            cw_pgarray_add_int(&co[2], k->day1);
            cw_pgarray_add_int(&co[3], k->day2);
            cw_pgarray_add_int(&co[4], e[i].v1);
            cw_pgarray_add_int(&co[5], e[i].v2);
            nco++;
            break;
        case CW_AGG_LIVE:
            cw_pgarray_add_text(&lv[0], area);
            cw_pgarray_add_text(&lv[1], cw_case_type_name(k->case_type));
            cw_pgarray_add_text(&lv[2], cw_live_metric_name(k->sub));
            cw_pgarray_add_int(&lv[3], e[i].v1);
            nlv++;
            break;
        case CW_AGG_WORKER:
            cw_pgarray_add_text(&wk[0], cw_casebook_str(p->book, k->worker));
            cw_pgarray_add_text(&wk[1], area);
            cw_pgarray_add_int(&wk[2], e[i].v1);
            nwk++;
            break;
        case CW_AGG_REPORT:
            cw_pgarray_add_text(&rp[0], area);
            cw_pgarray_add_text(&rp[1], cw_case_type_name(k->case_type));
            cw_pgarray_add_text(&rp[2], cw_report_kind_name(k->sub));
            cw_pgarray_add_int(&rp[3], k->day1);
            cw_pgarray_add_text(&rp[4], (k->flags & 1) ? "t" : "f");
            cw_pgarray_add_text(&rp[5], (k->flags & 2) ? "t" : "f");
            cw_pgarray_add_int(&rp[6], e[i].v1);
            nrp++;
            break;
        }
    }
    char *v[7];
#define EMIT(arr, cnt, nvals, sql)                                                                 \
    do {                                                                                           \
        for (int i_ = 0; i_ < (nvals); i_++)                                                       \
            v[i_] = cw_pgarray_finish(&(arr)[i_]);                                                 \
        if (cnt)                                                                                   \
            cw_store_job_addp(job, sql, nvals, v, NULL);                                           \
        else                                                                                       \
            for (int i_ = 0; i_ < (nvals); i_++)                                                   \
                free(v[i_]);                                                                       \
    } while (0)
    EMIT(co, nco, 6, SQL_AGG_COHORT);
    EMIT(lv, nlv, 4, SQL_AGG_LIVE);
    EMIT(wk, nwk, 3, SQL_AGG_WORKERS);
    EMIT(rp, nrp, 7, SQL_AGG_REPORTS);
#undef EMIT
}

static void add_areas_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    size_t n;
    cw_area_t *const *areas = cw_casebook_dirty_areas(p->book, &n);
    if (!n)
        return;
    cw_pgarray_t a[5];
    for (int i = 0; i < 5; i++)
        cw_pgarray_init(&a[i]);
    for (size_t i = 0; i < n; i++) {
        char hash[24];
        snprintf(hash, sizeof(hash), "%llu", (unsigned long long)areas[i]->stamp.hash);
        cw_pgarray_add_text(&a[0], cw_casebook_str(p->book, areas[i]->name));
        cw_pgarray_add_text(&a[1], areas[i]->prioritised ? "t" : "f");
        cw_pgarray_add_int(&a[2], areas[i]->since_ms);
        cw_pgarray_add_int(&a[3], areas[i]->stamp.ms);
        cw_pgarray_add_text(&a[4], hash);
    }
    char *v[5];
    for (int i = 0; i < 5; i++)
        v[i] = cw_pgarray_finish(&a[i]);
    cw_store_job_addp(job, SQL_AREAS_UPSERT, 5, v, NULL);
    /* and each one's changes, whole (rare: an area event) */
    for (size_t i = 0; i < n; i++) {
        cw_pgarray_t c[3];
        for (int k = 0; k < 3; k++)
            cw_pgarray_init(&c[k]);
        for (uint32_t k = 0; k < areas[i]->nchanges; k++) {
            const cw_prio_change_t *ch = &areas[i]->changes[k];
            char hash[24];
            snprintf(hash, sizeof(hash), "%llu", (unsigned long long)ch->hash);
            cw_pgarray_add_int(&c[0], ch->ms);
            cw_pgarray_add_text(&c[1], hash);
            cw_pgarray_add_text(&c[2], ch->on ? "t" : "f");
        }
        cw_store_job_addp(job, SQL_AREA_CHANGES_SET, 4,
                          (char *[]){cw_strdup(cw_casebook_str(p->book, areas[i]->name)),
                                     cw_pgarray_finish(&c[0]), cw_pgarray_finish(&c[1]),
                                     cw_pgarray_finish(&c[2])},
                          NULL);
    }
}

static void add_anomalies_stmt(batch_t *b, cw_store_job_t *job)
{
    if (!b->nanom)
        return;
    cw_pgarray_t a[5];
    for (int i = 0; i < 5; i++)
        cw_pgarray_init(&a[i]);
    for (int i = 0; i < b->nanom; i++) {
        cw_pgarray_add_text(&a[0], b->anoms[i].event_id);
        cw_pgarray_add_text(&a[1], b->anoms[i].case_id);
        cw_pgarray_add_text(&a[2], b->anoms[i].kind);
        cw_pgarray_add_text(&a[3], b->anoms[i].detail);
        cw_pgarray_add_int(&a[4], b->anoms[i].occurred_ms);
    }
    char *v[5];
    for (int i = 0; i < 5; i++)
        v[i] = cw_pgarray_finish(&a[i]);
    cw_store_job_addp(job, SQL_ANOMALIES_INSERT, 5, v, NULL);
}


/* ------------------------------------------------------------------ alerts */

static int64_t clock_now(const cw_pipeline_t *p)
{
    if (!p->cfg->event_clock)
        return cw_now_ms();
    return cw_watch_event_clock(p->watermark, p->cfg->allowed_lateness_ms);
}

/* The event clock is the newest occurred_at that EVERY partition still holding unapplied
 * messages has reached (the minimum over them): a partition read ahead of the others cannot
 * make time pass for the cases on the others, and one not read yet holds the clock where it
 * is. Partitions applied up to their log end do not hold it back; when all are, it is the
 * newest time seen. It never goes backwards. (The log end is librdkafka's cached high
 * watermark, from fetch responses: no request is made.) */
static void advance_event_clock(cw_pipeline_t *p)
{
    int64_t lo = INT64_MAX, hi = 0;
    bool lagging = false;
    for (int i = 0; i < p->nslots; i++) {
        const part_slot_t *s = &p->slots[i];
        int64_t low_off = -1, high_off = -1;
        rd_kafka_get_watermark_offsets(cw_consumer_handle(p->consumer), s->topic, s->partition,
                                       &low_off, &high_off);
        if (s->max_occurred > hi)
            hi = s->max_occurred;
        int64_t applied = s->applied > 0 ? s->applied : 0;
        if (high_off < 0 || applied < high_off) {
            lagging = true;
            if (s->max_occurred < lo)
                lo = s->max_occurred; /* 0 when it has applied nothing yet: hold still */
        }
    }
    int64_t wm = lagging ? lo : hi;
    if (wm > p->watermark)
        p->watermark = wm;
}

/* The lateness the event clock allows; the wall clock allows none (it is the time now). */
static int64_t lateness(const cw_pipeline_t *p)
{
    return p->cfg->event_clock ? p->cfg->allowed_lateness_ms : 0;
}

static cw_deadlines_t *pheap(void *arg, int32_t partition)
{
    cw_pipeline_t *p = arg;
    if (partition < 0)
        partition = 0;
    if (partition >= p->npheap) {
        int n = partition + 1;
        p->pheap = cw_realloc(p->pheap, sizeof(cw_deadlines_t *) * (size_t)n);
        for (int i = p->npheap; i < n; i++)
            p->pheap[i] = cw_deadlines_new();
        p->npheap = n;
    }
    return p->pheap[partition];
}

/* Partition N's clock ([L]), as Kafka Streams keeps a task's stream time: the newest
 * occurred_at applied from any of its topic-partitions (they are applied in merge order,
 * drain(), so this is a function of the log, never of batch or fetch boundaries), less the
 * lateness. On the wall clock: the time now once every one of its topic-partitions is caught
 * up (what arrives now happens now); while it catches up, its stream time, so a backlog after
 * an outage replays as the same history it would have made live. live: all caught up. */
static void pclock(void *arg, int32_t partition, cw_eval_time_t *out)
{
    cw_pipeline_t *p = arg;
    int64_t stream = 0;
    bool live = true, any = false;
    const part_lanes_t *pl = lanes_of(p, partition);
    for (int k = 0; pl && k < pl->n; k++) {
        const part_slot_t *s = &p->slots[pl->slot[k]];
        any = true;
        live &= s->live;
        if (s->max_occurred > stream)
            stream = s->max_occurred;
    }
    live &= any;
    out->live = live;
    if (!p->cfg->event_clock && live) {
        out->now = cw_now_ms();
        return;
    }
    out->now = stream > lateness(p) ? stream - lateness(p) : 0;
}

/* Whether slot i is caught up once it has applied up to next (its log end from librdkafka's
 * cached high watermark). */
static bool slot_caught_up(cw_pipeline_t *p, int i, int64_t next)
{
    int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(cw_consumer_handle(p->consumer), p->slots[i].topic,
                                   p->slots[i].partition, &low, &high);
    if (high < 0)
        high = p->slots[i].high;
    if (next < 0) /* nothing stored yet: it starts at the log start */
        next = low > 0 ? low : 0;
    return high >= 0 && next >= high;
}

/* Slot i's log end (next offset to be written), -1 if not known yet. */
static int64_t slot_log_end(cw_pipeline_t *p, int i)
{
    int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(cw_consumer_handle(p->consumer), p->slots[i].topic,
                                   p->slots[i].partition, &low, &high);
    return high >= 0 ? high : p->slots[i].high;
}

static cw_watch_t watch_of(cw_pipeline_t *p)
{
    cw_alerts_set_silence_clock(p->alerts, cw_now_ms());
    return (cw_watch_t){p->book, p->rules, p->alerts, p->deadlines, p->workdays, &p->wtime};
}

static void evaluate_timed(cw_pipeline_t *p, uint64_t key, const cw_eval_time_t *t,
                           const cw_cause_t *cause)
{
    if (!p->rules_agree)
        return;
    cw_watch_t w = watch_of(p);
    cw_watch_evaluate_timed(&w, key, t, cause);
}

static void evaluate_all(cw_pipeline_t *p)
{
    if (!p->rules_agree)
        return;
    cw_watch_t w = watch_of(p);
    cw_watch_evaluate_all(&w, clock_now(p));
}

/* Due deadlines: a rule crossed by time passing, with no event needed. */
static size_t tick_partition(cw_pipeline_t *p, int32_t partition)
{
    if (!p->rules_agree)
        return 0;
    cw_watch_t w = watch_of(p);
    return cw_watch_tick_partition(&w, partition, 100000);
}

/* Every owned partition's deadlines its clock has passed (each partition number once). */
static size_t tick(cw_pipeline_t *p, int64_t now)
{
    (void)now;
    size_t n = 0;
    for (int32_t part = 0; part < p->nlanes; part++)
        if (lanes_of(p, part))
            n += tick_partition(p, part);
    return n;
}

static void log_transitions(cw_pipeline_t *p)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(p->alerts, &n);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].notify)
            continue;
        char line[512];
        cw_alerts_format(&t[i], p->rules, line, sizeof(line));
        cw_log_info("alert %s %s", t[i].alert_id, line);
    }
}

static const char *scope_key(const cw_alert_t *x, char *buf, size_t sz)
{
    return cw_alerts_scope(buf, sz, x->case_id, x->area, x->worker);
}

static uint8_t *pack_alert(cw_pipeline_t *p, const cw_transition_t *t, bool historic,
                           size_t *len)
{
    const cw_alert_t *x = &t->alert;
    const cw_rule_t *rule = &p->rules->rule[x->rule];
    Casewatch__V1__Alert m = CASEWATCH__V1__ALERT__INIT;
    Casewatch__V1__Alert__Subject subj = CASEWATCH__V1__ALERT__SUBJECT__INIT;
    Casewatch__V1__Alert__Cause cause = CASEWATCH__V1__ALERT__CAUSE__INIT;
    Casewatch__V1__Alert__Cause *causes[1] = {&cause};
    char summary[256], scope[200];
    m.alert_id = (char *)t->alert_id;
    m.rule = (char *)rule->name;
    m.rule_version = x->rule_version;
    m.family = (Casewatch__V1__AlertFamily)rule->family;
    m.severity = (Casewatch__V1__AlertSeverity)x->severity;
    m.state = (Casewatch__V1__AlertState)x->state;
    m.resolution = (Casewatch__V1__AlertResolution)x->resolution;
    m.dedup_key = x->dedup_key;
    subj.case_id = x->case_id;
    subj.child_id = (x->rule == CW_RULE_CHILD_NOT_SEEN || x->rule == CW_RULE_NOT_SEEN_IN_PERSON)
                        ? x->subject
                        : "";
    subj.court_area = x->area;
    subj.worker_id = x->worker;
    m.subject = &subj;
    m.case_type = (Casewatch__V1__CaseType)x->case_type;
    m.court_area = x->area;
    m.service_area = "";
    m.active_since = x->state == CW_ALERT_FIRING ? x->firing_ms : x->pending_ms;
    m.due_at = x->due_ms;
    m.transition_at = t->at;
    /* identifiers and the rule only: nothing personal can reach a notification */
    snprintf(summary, sizeof(summary), "%s %s: %s%s%s", cw_severity_name(x->severity),
             rule->name, scope_key(x, scope, sizeof(scope)), *x->subject ? " / " : "",
             x->subject);
    m.summary = summary;
    if (*x->cause_event_id) {
        cause.event_id = x->cause_event_id;
        cause.topic = x->cause_topic;
        cause.partition = x->cause_partition;
        cause.offset = x->cause_offset;
        m.n_causes = 1;
        m.causes = causes;
    }
    m.acknowledged = x->acknowledged;
    m.silenced = x->silenced;
    m.value = x->value;
    m.threshold = x->threshold;
    m.close_outcome = (Casewatch__V1__CloseOutcome)x->close_outcome;
    m.historic = historic;
    *len = casewatch__v1__alert__get_packed_size(&m);
    uint8_t *buf = cw_malloc(*len ? *len : 1);
    casewatch__v1__alert__pack(&m, buf);
    return buf;
}

static const char SQL_ALERTS_UPSERT[] =
    "INSERT INTO alerts AS a (dedup_key, rule, rule_version, family, severity, state,"
    " resolution, case_id, subject, court_area, worker_id, case_type, kpartition, armed_at,"
    " due_at, pending_at, firing_at, resolved_at, notified_at, notify_count, value, threshold,"
    " cause_event_id, cause_topic, cause_partition, cause_offset, silenced, origin) "
    "SELECT k, r, v, f, sv, st, NULLIF(rs, ''), NULLIF(c, ''), sb, NULLIF(ar, ''),"
    " NULLIF(w, ''), NULLIF(ty, ''), kp, cw_ms(t1), cw_ms(t2), cw_ms(t3), cw_ms(t4), cw_ms(t5),"
    " cw_ms(t6), nc, val, thr, NULLIF(ce, ''), NULLIF(ct, ''), cp, co, si, og "
    "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[],"
    " $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[],"
    " $20::int[], $21::float8[], $22::float8[], $23::text[], $24::text[], $25::int[],"
    " $26::bigint[], $27::bool[], $28::bigint[])"
    " AS u(k, r, v, f, sv, st, rs, c, sb, ar, w, ty, kp, t1, t2, t3, t4, t5, t6, nc, val, thr,"
    "      ce, ct, cp, co, si, og) "
    "ON CONFLICT (dedup_key) DO UPDATE SET rule_version = excluded.rule_version,"
    " severity = excluded.severity, state = excluded.state, resolution = excluded.resolution,"
    " case_type = excluded.case_type, kpartition = excluded.kpartition,"
    " armed_at = excluded.armed_at, due_at = excluded.due_at, pending_at = excluded.pending_at,"
    " firing_at = excluded.firing_at, resolved_at = excluded.resolved_at,"
    " notified_at = excluded.notified_at, notify_count = excluded.notify_count,"
    " value = excluded.value, threshold = excluded.threshold,"
    " cause_event_id = excluded.cause_event_id, cause_topic = excluded.cause_topic,"
    " cause_partition = excluded.cause_partition, cause_offset = excluded.cause_offset,"
    " silenced = excluded.silenced, origin = excluded.origin, updated_at = now(),"
    /* a new occurrence of a resolved alert starts unacknowledged */
    " acknowledged = a.acknowledged AND NOT (a.state = 'resolved' AND excluded.state <> "
    "'resolved')";

static const char SQL_ALERT_HISTORY[] =
    "INSERT INTO alert_history (alert_id, dedup_key, from_state, to_state, resolution, at,"
    " notified, silenced, repeat, cause_event_id, historic) "
    "SELECT i, k, NULLIF(fr, ''), ts, NULLIF(rs, ''), cw_ms(t), n, si, rp, NULLIF(ce, ''), hi "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],"
    " $7::bool[], $8::bool[], $9::bool[], $10::text[], $11::bool[])"
    " AS u(i, k, fr, ts, rs, t, n, si, rp, ce, hi)";
enum { HIST_COLS = 11 }; /* SQL_ALERT_HISTORY's parameters */

static const char SQL_ALERT_OUTBOX[] =
    "INSERT INTO alert_outbox (alert_id, dedup_key, msg_key, payload, silenced) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bool[]) "
    "ON CONFLICT (alert_id) DO NOTHING";

static const char SQL_ALERT_SENT[] =
    "UPDATE alert_outbox SET sent_at = now() WHERE alert_id = ANY($1::text[]) AND sent_at IS NULL";

static bool alerts_waiting(cw_pipeline_t *p)
{
    size_t n;
    cw_alerts_transitions(p->alerts, &n);
    return n > 0;
}

/* The alert transitions since the last commit: state rows (one per key, the latest), history,
 * and the outbox; the notifications are kept in the batch to publish after commit. */
static void add_alert_stmts(cw_pipeline_t *p, batch_t *b, cw_store_job_t *job)
{
    size_t n;
    const cw_transition_t *t = cw_alerts_transitions(p->alerts, &n);
    if (!n)
        return;
    log_transitions(p);
    enum { T = CW_OID_TEXT, I4 = CW_OID_INT4, I8 = CW_OID_INT8, B = CW_OID_BOOL };
    static const uint32_t aoid[28] = {T,  T,  I8, T,  T,  T,  T,  T,  T,  T,
                                      T,  T,  I4, I8, I8, I8, I8, I8, I8, I4,
                                      CW_OID_FLOAT8, CW_OID_FLOAT8, T, T, I4, I8, B, I8};
    static const uint32_t hoid[HIST_COLS] = {T, T, T, T, T, I8, B, B, B, T, B};
    static const uint32_t ooid[5] = {T, T, T, CW_OID_BYTEA, B};
    cw_pgbin_t a[28], h[HIST_COLS], o[5];
    for (int i = 0; i < 28; i++)
        cw_pgbin_init(&a[i], aoid[i]);
    for (int i = 0; i < HIST_COLS; i++)
        cw_pgbin_init(&h[i], hoid[i]);
    for (int i = 0; i < 5; i++)
        cw_pgbin_init(&o[i], ooid[i]);
    int nout = 0, nhist = 0;
    b->outs = cw_calloc(n, sizeof(out_alert_t));
    /* which transition is the latest of its key (it holds the key's state row): one pass from
     * the end with a set of keys seen, instead of comparing every pair */
    bool *latest = cw_calloc(n, sizeof(bool));
    size_t cap = 64;
    while (cap < 2 * n)
        cap *= 2;
    const char **seen = cw_calloc(cap, sizeof(char *));
    for (size_t i = n; i-- > 0;) {
        if (!cw_alerts_transition_stored(&t[i]))
            continue;
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (seen[j] && strcmp(seen[j], k))
            j = (j + 1) & (cap - 1);
        if (!seen[j]) {
            seen[j] = k;
            latest[i] = true;
        }
    }
    /* [L] an occurrence that fired and ended within this batch (a catch-up found it after
     * the fact), and any the engine found so: history, published flagged historic, never
     * paged. Per key: did it fire here, and is its last state here resolved. */
    uint8_t *fired_here = cw_calloc(cap, 1), *ends_resolved = cw_calloc(cap, 1);
    const char **keys = cw_calloc(cap, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (keys[j] && strcmp(keys[j], k))
            j = (j + 1) & (cap - 1);
        keys[j] = k;
        if (t[i].alert.state == CW_ALERT_FIRING && !t[i].repeat)
            fired_here[j] = 1;
        ends_resolved[j] = t[i].alert.state == CW_ALERT_RESOLVED;
    }
    bool *historic = cw_calloc(n, sizeof(bool));
    for (size_t i = 0; i < n; i++) {
        const char *k = t[i].alert.dedup_key;
        size_t j = (size_t)cw_casebook_hash(k) & (cap - 1);
        while (strcmp(keys[j], k))
            j = (j + 1) & (cap - 1);
        historic[i] = t[i].historic || (fired_here[j] && ends_resolved[j] && !t[i].repeat &&
                                        t[i].alert.state != CW_ALERT_PENDING);
    }
    free(keys);
    free(fired_here);
    free(ends_resolved);
    free(seen);
    for (size_t i = 0; i < n; i++) {
        const cw_alert_t *x = &t[i].alert;
        const cw_rule_t *rule = &p->rules->rule[x->rule];
        /* a case alert that never fired (pending, or met on time from pending) is derived
         * from case state and rebuilt at every load: only what fired needs a durable row;
         * an area/worker alert's pending row is what remembers when its condition began */
        if (!cw_alerts_transition_stored(&t[i]))
            continue;
        if (latest[i]) {
            cw_pgbin_add_text(&a[0], x->dedup_key);
            cw_pgbin_add_text(&a[1], rule->name);
            cw_pgbin_add_int(&a[2], x->rule_version);
            cw_pgbin_add_text(&a[3], cw_family_name(rule->family));
            cw_pgbin_add_text(&a[4], cw_severity_name(x->severity));
            cw_pgbin_add_text(&a[5], cw_alert_state_name(x->state));
            cw_pgbin_add_text(&a[6], cw_resolution_name(x->resolution));
            cw_pgbin_add_text(&a[7], x->case_id);
            cw_pgbin_add_text(&a[8], x->subject);
            cw_pgbin_add_text(&a[9], x->area);
            cw_pgbin_add_text(&a[10], x->worker);
            cw_pgbin_add_text(&a[11], cw_case_type_name(x->case_type));
            cw_pgbin_add_int(&a[12], x->partition);
            cw_pgbin_add_int(&a[13], x->armed_ms);
            cw_pgbin_add_int(&a[14], x->due_ms);
            cw_pgbin_add_int(&a[15], x->pending_ms);
            cw_pgbin_add_int(&a[16], x->firing_ms);
            cw_pgbin_add_int(&a[17], x->resolved_ms);
            cw_pgbin_add_int(&a[18], x->notified_ms);
            cw_pgbin_add_int(&a[19], x->notify_count);
            cw_pgbin_add_float8(&a[20], x->value);
            cw_pgbin_add_float8(&a[21], x->threshold);
            cw_pgbin_add_text(&a[22], x->cause_event_id);
            cw_pgbin_add_text(&a[23], x->cause_topic);
            cw_pgbin_add_int(&a[24], x->cause_partition);
            cw_pgbin_add_int(&a[25], x->cause_offset);
            cw_pgbin_add_bool(&a[26], x->silenced);
            cw_pgbin_add_int(&a[27], (int64_t)x->origin);
        }
        nhist++;
        cw_pgbin_add_text(&h[0], t[i].alert_id);
        cw_pgbin_add_text(&h[1], x->dedup_key);
        cw_pgbin_add_text(&h[2], t[i].from ? cw_alert_state_name(t[i].from) : "");
        cw_pgbin_add_text(&h[3], t[i].repeat ? "firing" : cw_alert_state_name(x->state));
        cw_pgbin_add_text(&h[4], cw_resolution_name(x->resolution));
        cw_pgbin_add_int(&h[5], t[i].at);
        cw_pgbin_add_bool(&h[6], t[i].notify);
        cw_pgbin_add_bool(&h[7], x->silenced);
        cw_pgbin_add_bool(&h[8], t[i].repeat);
        cw_pgbin_add_text(&h[9], x->cause_event_id);
        cw_pgbin_add_bool(&h[10], historic[i]);
        if (t[i].notify) {
            char scope[200];
            size_t len;
            uint8_t *payload = pack_alert(p, &t[i], historic[i], &len);
            p->stats.alerts_historic += historic[i];
            const char *key = scope_key(x, scope, sizeof(scope));
            cw_pgbin_add_text(&o[0], t[i].alert_id);
            cw_pgbin_add_text(&o[1], x->dedup_key);
            cw_pgbin_add_text(&o[2], key);
            cw_pgbin_add_bytes(&o[3], payload, len);
            cw_pgbin_add_bool(&o[4], x->silenced);
            nout++;
            if (x->silenced) {
                free(payload);
            } else {
                /* history is published, not streamed live to the dashboard as news */
                b->outs[b->nouts++] = (out_alert_t){
                    cw_strdup(t[i].alert_id), cw_strdup(key), payload, len,
                    p->on_alert && !historic[i] ? cw_alertjson_transition(&t[i], p->rules)
                                                : NULL,
                    historic[i]};
            }
        }
    }
    free(latest);
    free(historic);
    char *v[28];
    int len[28];
    for (int i = 0; i < 28; i++)
        v[i] = cw_pgbin_finish(&a[i], &len[i]);
    if (a[0].n)
        cw_store_job_addp_bin(job, SQL_ALERTS_UPSERT, 28, v, len, NULL);
    else
        for (int i = 0; i < 28; i++)
            free(v[i]);
    for (int i = 0; i < HIST_COLS; i++)
        v[i] = cw_pgbin_finish(&h[i], &len[i]);
    if (nhist)
        cw_store_job_addp_bin(job, SQL_ALERT_HISTORY, HIST_COLS, v, len, NULL);
    else
        for (int i = 0; i < HIST_COLS; i++)
            free(v[i]);
    for (int i = 0; i < 5; i++)
        v[i] = cw_pgbin_finish(&o[i], &len[i]);
    if (nout)
        cw_store_job_addp_bin(job, SQL_ALERT_OUTBOX, 5, v, len, NULL);
    else
        for (int i = 0; i < 5; i++)
            free(v[i]);
    p->stats.alert_transitions += n;
    cw_alerts_clear_transitions(p->alerts);
}

static void add_alert_marks_stmt(cw_pipeline_t *p, cw_store_job_t *job)
{
    if (!p->nalert_marks)
        return;
    cw_pgarray_t ids;
    cw_pgarray_init(&ids);
    for (int i = 0; i < p->nalert_marks; i++) {
        cw_pgarray_add_text(&ids, p->alert_marks[i]);
        free(p->alert_marks[i]);
    }
    p->stats.alerts_published += (uint64_t)p->nalert_marks;
    p->nalert_marks = 0;
    cw_store_job_addp(job, SQL_ALERT_SENT, 1, (char *[]){cw_pgarray_finish(&ids)}, NULL);
}

/* ---- rules over areas and workers: need every partition, so one daemon (the owner of
 * partition 0 of the first input topic) evaluates them from the aggregates ---------------- */

static bool is_leader(const cw_pipeline_t *p)
{
    return p->state == P_RUNNING && slot_find(p, p->cfg->event_topics[0], 0) >= 0;
}

typedef struct stale_ctx {
    const char *const *names;
    size_t n;
    char **stale;
    size_t nstale;
} stale_ctx_t;

static void find_stale_workers(void *arg, const cw_alert_t *x)
{
    stale_ctx_t *sc = arg;
    if (x->rule != CW_RULE_WORKER_CASELOAD || !*x->worker)
        return;
    for (size_t i = 0; i < sc->n; i++)
        if (!strcmp(sc->names[i], x->worker))
            return;
    sc->stale = cw_realloc(sc->stale, sizeof(char *) * (sc->nstale + 1));
    sc->stale[sc->nstale++] = cw_strdup(x->worker);
}

static void on_aggregates(void *arg, struct cw_aggread *r, cw_day_t day)
{
    cw_pipeline_t *p = arg;
    if (!is_leader(p) || committing(p) || !p->rules_agree)
        return;
    int64_t now = clock_now(p);
    if (now <= 0)
        return;
    const cw_rules_t *R = p->rules;
    size_t na;
    const char *const *areas = cw_aggread_area_names(r, &na);
    char **names = cw_calloc(na + 1, sizeof(char *)); /* the reader reuses its buffers */
    for (size_t i = 0; i < na; i++)
        names[i] = cw_strdup(areas[i]);
    size_t nprio;
    const char *const *prio = cw_aggread_prioritised(r, &nprio);
    char **prio_names = cw_calloc(nprio + 1, sizeof(char *));
    for (size_t i = 0; i < nprio; i++)
        prio_names[i] = cw_strdup(prio[i]);
    for (size_t i = 0; i < na; i++) {
        cw_fig_input_t in;
        cw_aggread_input(r, names[i], &in);
        cw_figure_t *f;
        size_t nf;
        cw_figures_compute(&in, day, p->workdays, &f, &nf);
        uint32_t aid = cw_casebook_intern(p->book, names[i]);
        bool prioritised = false;
        for (size_t k = 0; k < nprio; k++)
            prioritised |= !strcmp(prio_names[k], names[i]);
        cw_area_facts_t facts;
        cw_rules_area_facts(f, nf, prioritised, &facts);
        cw_obligation_t o[CW_RULES_AREA_MAX];
        size_t n = cw_rules_area(R, aid, &facts, o);
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, names[i], NULL);
        cw_alerts_evaluate_scope(p->alerts, R, scope, names[i], NULL, o, n, now);
        free(f);
    }
    /* workers over their caseload threshold, and those whose alert can now resolve */
    const char *const *wn;
    const int64_t *wc;
    size_t nw = cw_aggread_caseloads(r, &wn, &wc);
    const cw_rule_t *rw = &R->rule[CW_RULE_WORKER_CASELOAD];
    const char **over = cw_calloc(nw + 1, sizeof(char *));
    size_t nover = 0;
    for (size_t i = 0; i < nw && rw->enabled; i++) {
        if (wc[i] <= rw->threshold)
            continue;
        over[nover++] = wn[i];
        cw_obligation_t o = {.rule = CW_RULE_WORKER_CASELOAD, .value = (double)wc[i]};
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, "", wn[i]);
        cw_alerts_evaluate_scope(p->alerts, R, scope, "", wn[i], &o, 1, now);
    }
    stale_ctx_t sc = {over, nover, NULL, 0};
    cw_alerts_foreach(p->alerts, find_stale_workers, &sc);
    for (size_t i = 0; i < sc.nstale; i++) {
        char scope[200];
        cw_alerts_scope(scope, sizeof(scope), NULL, "", sc.stale[i]);
        cw_alerts_evaluate_scope(p->alerts, R, scope, "", sc.stale[i], NULL, 0, now);
        free(sc.stale[i]);
    }
    free(sc.stale);
    free(over);
    for (size_t i = 0; i < na; i++)
        free(names[i]);
    free(names);
    for (size_t i = 0; i < nprio; i++)
        free(prio_names[i]);
    free(prio_names);
    if (alerts_waiting(p))
        maybe_flush(p);
}

static void reset_alerts(cw_pipeline_t *p)
{
    cw_alerts_clear(p->alerts);
    cw_alerts_clear_transitions(p->alerts);
    cw_deadlines_clear(p->deadlines);
    for (int i = 0; i < p->npheap; i++)
        cw_deadlines_clear(p->pheap[i]);
}

static void commit1_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    batch_t *b = arg;
    cw_pipeline_t *p = b->p;
    if (p->destroying) { /* torn down: only an abandoned batch is no one else's to free */
        if (b->abandoned)
            batch_free(b);
        return;
    }
    if (b->abandoned) { /* a resync gave it up while its events were with the database */
        if (!err)
            rollback_on(b->store);
        batch_free(b);
        if (!committing(p))
            commits_settled(p);
        return;
    }
    if (err) {
        if (b == p->next) {
            /* the batch before it is still committing on the other connection: let it
             * finish, then start again from what is stored */
            p->next = NULL;
            batch_free(b);
            p->resync_after = true;
            return;
        }
        commit_failed(p, err, sqlstate, msg);
        return;
    }
    b->phase = 2;
    /* the database said which events are new: apply exactly those to memory, in occurred_at
     * order within the batch (the state does not depend on it; anomaly detection reads
     * better) */
    cw_aggdelta_clear(p->agg);
    /* [L] time moves per event: before each event its partition's deadlines that the clock
     * has passed fire (at their due times), then the event applies and its case is evaluated
     * with its partition's clock, its own time and its topic-partition's stream time before
     * it (an event late for an obligation makes it count as fired). Whether a slot is live
     * (caught up) is judged by where this batch leaves it. */
    int64_t *end = cw_malloc(sizeof(int64_t) * (size_t)(p->nslots ? p->nslots : 1));
    for (int i = 0; i < p->nslots; i++) {
        end[i] = slot_log_end(p, i);
        p->slots[i].live = slot_caught_up(p, i, p->slots[i].applied);
    }
    for (int i = 0; i < b->nev; i++) {
        if (!b->evs[i].is_new)
            continue;
        const Casewatch__V1__Event *e = b->evs[i].ev.pb;
        part_slot_t *slot = &p->slots[b->evs[i].slot];
        /* live per event: the last message of its log is live, the backlog before it is not,
         * however many of them one batch holds */
        slot->live = end[b->evs[i].slot] >= 0 && b->evs[i].offset + 1 >= end[b->evs[i].slot];
        cw_eval_time_t before;
        pclock(p, slot->partition, &before);
        tick_partition(p, slot->partition);
        cw_case_t *c = cw_casebook_apply(p->book, &b->evs[i].ev, slot->partition, p->agg,
                                         on_anomaly, b);
        if (e->occurred_at > slot->max_occurred)
            slot->max_occurred = e->occurred_at;
        cw_cause_t cause = {e->event_id, slot->topic, slot->partition, b->evs[i].offset};
        if (c) {
            cw_casebook_set_last_event(p->book, c, e->event_id, slot->topic, b->evs[i].offset,
                                       before.now);
            cw_eval_time_t t = {.occurred_ms = e->occurred_at, .seen_ms = before.now};
            evaluate_timed(p, c->hash, &t, &cause);
        } else if (p->rules_agree) {
            /* an area's prioritisation changed: its cases' rules may have too */
            uint32_t area = cw_casebook_event_area(p->book, &b->evs[i].ev);
            if (area) {
                cw_watch_t w = watch_of(p);
                cw_watch_evaluate_area(&w, area, &cause, e->occurred_at);
            }
        }
    }
    /* the batch is applied: its partitions' positions move, and with them the event clock;
     * deadlines it passed fire now. Its commit expects each partition's stored offset where
     * the batch before left it. */
    int64_t *expect = cw_malloc(sizeof(int64_t) * (size_t)(p->nslots ? p->nslots : 1));
    for (int i = 0; i < p->nslots; i++)
        expect[i] = p->slots[i].applied;
    for (int i = 0; i < b->nslots && i < p->nslots; i++)
        if (b->part_next[i] >= 0)
            p->slots[i].applied = b->part_next[i];
    for (int i = 0; i < p->nslots; i++)
        p->slots[i].live = slot_caught_up(p, i, p->slots[i].applied);
    free(end);
    if (p->cfg->event_clock)
        advance_event_clock(p);
    tick(p, 0);

    cw_store_job_t *job = cw_store_job_new(commit2_done, b);
    add_cases_stmt(p, job);
    cw_casebook_clear_dirty(p->book);
    add_agg_stmts(p, job);
    add_areas_stmt(p, job);
    cw_casebook_clear_dirty_areas(p->book);
    add_anomalies_stmt(b, job);
    add_alert_stmts(p, b, job);
    add_alert_marks_stmt(p, job);
    if (b->ndl) {
        cw_pgarray_t r, d, t, k, o, key, val;
        cw_pgarray_init(&r);
        cw_pgarray_init(&d);
        cw_pgarray_init(&t);
        cw_pgarray_init(&k);
        cw_pgarray_init(&o);
        cw_pgarray_init(&key);
        cw_pgarray_init(&val);
        for (int i = 0; i < b->ndl; i++) {
            const dead_letter_t *dl = &b->dls[i];
            cw_pgarray_add_text(&r, cw_reject_name(dl->reason));
            cw_pgarray_add_text(&d, dl->detail);
            cw_pgarray_add_text(&t, dl->topic);
            cw_pgarray_add_int(&k, dl->partition);
            cw_pgarray_add_int(&o, dl->offset);
            if (dl->key)
                cw_pgarray_add_bytea(&key, dl->key, dl->keylen);
            else
                cw_pgarray_add_null(&key);
            cw_pgarray_add_bytea(&val, dl->payload ? dl->payload : "", dl->len);
        }
        cw_store_job_addp(job, SQL_DEAD_LETTERS_INSERT, 7,
                         (char *[]){cw_pgarray_finish(&r), cw_pgarray_finish(&d),
                                    cw_pgarray_finish(&t), cw_pgarray_finish(&k),
                                    cw_pgarray_finish(&o), cw_pgarray_finish(&key),
                                    cw_pgarray_finish(&val)},
                         NULL);
    }
    add_marks_stmt(p, job);
    cw_pgarray_t t, k, e, nx, st;
    cw_pgarray_init(&t);
    cw_pgarray_init(&k);
    cw_pgarray_init(&e);
    cw_pgarray_init(&nx);
    cw_pgarray_init(&st);
    for (int i = 0; i < b->nslots && i < p->nslots; i++) {
        if (b->part_next[i] < 0)
            continue;
        cw_pgarray_add_text(&t, p->slots[i].topic);
        cw_pgarray_add_int(&k, p->slots[i].partition);
        cw_pgarray_add_int(&e, expect[i]);
        cw_pgarray_add_int(&nx, b->part_next[i]);
        cw_pgarray_add_int(&st, p->slots[i].max_occurred);
    }
    free(expect);
    cw_store_job_addp(job, SQL_OFFSETS_ADVANCE, 5,
                     (char *[]){cw_pgarray_finish(&t), cw_pgarray_finish(&k),
                                cw_pgarray_finish(&e), cw_pgarray_finish(&nx),
                                cw_pgarray_finish(&st)},
                     NULL);
    cw_store_job_add0(job, "COMMIT", NULL);
    if (b == p->inflight) {
        cw_store_submit_next(b->store, job);
    } else { /* the batch before is committing: this one's commit waits for its outcome */
        b->held = job;
    }
    /* the second connection may take the next batch while this one commits */
    if (b == p->inflight && p->building && p->building->touched &&
        (batch_size(p->building) >= p->cfg->batch_max_events ||
         cw_mono_ms() - p->building->started_mono >= p->cfg->batch_max_wait_ms))
        maybe_flush(p);
    drain_all(p); /* a full batch may have gone: what waited may follow */
}

static void maybe_flush(cw_pipeline_t *p)
{
    if (!p->building || (!p->building->touched && !alerts_waiting(p)))
        return;
    if (p->state != P_RUNNING && p->state != P_REVOKING && p->state != P_STOPPING)
        return;
    /* the first batch in flight goes on a batch connection; a second one, once the first
     * is applied (its commit sent), on the other */
    cw_store_t *st;
    if (!p->inflight)
        st = cw_store_ready(p->bstore[0]) ? p->bstore[0] : p->bstore[1];
    else if (!p->next && p->inflight->phase == 2 && !p->resync_after)
        st = p->inflight->store == p->bstore[0] ? p->bstore[1] : p->bstore[0];
    else
        return; /* called again when a commit finishes */
    if (!cw_store_ready(st))
        return; /* the resync on reconnect will discard and re-read it */
    evtimer_del(p->ev_batch_timer);
    batch_t *b = p->building;
    b->p = p;
    b->store = st;
    b->phase = 1;
    b->commit_started = cw_mono_ms();
    if (!p->inflight)
        p->inflight = b;
    else
        p->next = b;
    p->building = batch_new(p->nslots);

    cw_store_job_t *job = cw_store_job_new(commit1_done, b);
    cw_store_job_add0(job, "BEGIN", NULL);
    if (b->nev) {
        cw_pgbin_t a[7];
        static const uint32_t oid[7] = {CW_OID_TEXT, CW_OID_TEXT, CW_OID_TEXT, CW_OID_INT8,
                                        CW_OID_TEXT, CW_OID_INT4, CW_OID_INT8};
        for (int i = 0; i < 7; i++)
            cw_pgbin_init(&a[i], oid[i]);
        for (int i = 0; i < b->nev; i++) {
            const Casewatch__V1__Event *e = b->evs[i].ev.pb;
            cw_pgbin_add_text(&a[0], e->event_id);
            if (e->case_id && *e->case_id)
                cw_pgbin_add_text(&a[1], e->case_id);
            else
                cw_pgbin_add_null(&a[1]);
            cw_pgbin_add_text(&a[2], cw_event_kind_name(b->evs[i].ev.kind));
            cw_pgbin_add_int(&a[3], e->occurred_at);
            cw_pgbin_add_text(&a[4], p->slots[b->evs[i].slot].topic);
            cw_pgbin_add_int(&a[5], p->slots[b->evs[i].slot].partition);
            cw_pgbin_add_int(&a[6], b->evs[i].offset);
        }
        char *v[7];
        int len[7];
        for (int i = 0; i < 7; i++)
            v[i] = cw_pgbin_finish(&a[i], &len[i]);
        cw_store_job_addp_bin(job, SQL_EVENTS_INSERT, 7, v, len, events_result);
    }
    cw_store_submit(st, job);
}

static void on_batch_timer(evutil_socket_t fd, short what, void *arg)
{
    maybe_flush(arg);
}

/* ------------------------------------------------------------------ store state */

static void republish_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t keylen = 0, len = 0;
        unsigned char *key = NULL, *val = NULL;
        if (!PQgetisnull(res, r, 5))
            key = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 5), &keylen);
        val = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 6), &len);
        publish_dead_letter(p, PQgetvalue(res, r, 2), (int32_t)atoi(PQgetvalue(res, r, 3)),
                            parse_i64(PQgetvalue(res, r, 4)), PQgetvalue(res, r, 0),
                            PQgetvalue(res, r, 1), key, keylen, val, len, NULL);
        PQfreemem(key);
        PQfreemem(val);
    }
    if (PQntuples(res))
        cw_log_info("pipeline: re-publishing %d dead letter(s) not confirmed by their "
                    "sender",
                    PQntuples(res));
}

static void republish_alerts_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t len = 0;
        unsigned char *val = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 2), &len);
        publish_alert(p, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), val, len);
        PQfreemem(val);
    }
    if (PQntuples(res))
        cw_log_info("pipeline: re-publishing %d alert notification(s) not confirmed by "
                    "their sender (same alert ids)",
                    PQntuples(res));
}

static void republish_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    if (err)
        p->republished = false; /* try again on the next connect */
    try_load(p);
}

static void on_store_state(void *arg, cw_err_t state, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    if (state == CW_ERR_SCHEMA) {
        free(p->fatal);
        p->fatal = cw_strdup(msg);
        event_base_loopbreak(p->base);
        return;
    }
    if (state == CW_OK) {
        if (!p->member_joined) {
            member_claim(p); /* continues here (claim_done) once this group owns the database */
            return;
        }
        if (!p->republished) {
            p->republished = true;
            p->rescan_done = true;
            cw_store_job_t *job = cw_store_job_new(republish_done, p);
            cw_store_job_add0(job,
                              "SELECT reason, detail, topic, kpartition, koffset, msg_key, "
                              "payload FROM dead_letters WHERE published_at IS NULL AND "
                              "publish_error IS NULL ORDER BY id",
                              republish_result);
            cw_store_job_add0(job,
                              "SELECT alert_id, msg_key, payload FROM alert_outbox "
                              "WHERE sent_at IS NULL AND NOT silenced ORDER BY created_at",
                              republish_alerts_result);
            cw_store_submit(p->store, job);
        }
        try_load(p);
        return;
    }
    /* connection lost: whatever was not committed is gone; reload once it is back */
    if (p->state == P_RUNNING || p->state == P_LOADING)
        resync(p, "database connection lost");
}

/* ------------------------------------------------------------------ housekeeping */

static void on_bstore_state(void *arg, cw_err_t state, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    if (state == CW_ERR_SCHEMA) {
        on_store_state(arg, state, msg);
        return;
    }
    if (state == CW_OK && p->state == P_RUNNING)
        maybe_flush(p);
}

static void log_stats(cw_pipeline_t *p)
{
    const cw_pipeline_stats_t *s = &p->stats;
    cw_log_info("pipeline: %s; %d partition(s), %zu case(s) in memory; consumed %llu, applied "
                "%llu, duplicates %llu, dead letters %llu, batches %llu, commit failures %llu, "
                "resyncs %llu",
                pstate_names[p->state], s->partitions_owned, cw_casebook_count(p->book),
                (unsigned long long)s->consumed, (unsigned long long)s->applied,
                (unsigned long long)s->duplicates, (unsigned long long)s->dead_letters,
                (unsigned long long)s->batches, (unsigned long long)s->commit_failures,
                (unsigned long long)s->resyncs);
}

static void acks_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    for (int r = 0; r < PQntuples(res); r++)
        cw_alerts_acknowledge_occurrence(p->alerts, PQgetvalue(res, r, 0),
                                         parse_i64(PQgetvalue(res, r, 2)),
                                         (uint64_t)parse_i64(PQgetvalue(res, r, 3)),
                                         PQgetvalue(res, r, 1)[0] == 't');
}

static void silences_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    int n = PQntuples(res);
    cw_silence_t *s = cw_calloc((size_t)n + 1, sizeof(cw_silence_t));
    for (int r = 0; r < n; r++) {
        const char *sev = PQgetvalue(res, r, 4);
        s[r] = (cw_silence_t){.id = parse_i64(PQgetvalue(res, r, 0)),
                              .rule = PQgetvalue(res, r, 1),
                              .area = PQgetvalue(res, r, 2),
                              .case_id = PQgetvalue(res, r, 3),
                              .min_severity = !strcmp(sev, "critical")  ? CW_SEV_CRITICAL
                                              : !strcmp(sev, "warning") ? CW_SEV_WARNING
                                              : !strcmp(sev, "info")    ? CW_SEV_INFO
                                                                        : 0,
                              .starts_ms = parse_i64(PQgetvalue(res, r, 5)),
                              .ends_ms = parse_i64(PQgetvalue(res, r, 6))};
    }
    cw_alerts_set_silences(p->alerts, s, (size_t)n);
    free(s);
}

/* People act on alerts through the database (admin API, casewatch-alerts): read back
 * acknowledgements and silences every few seconds. This does not wait for a
 * pause between batches, which never comes while the daemon catches up (two batches are in
 * flight back to back) and is exactly when operators silence and acknowledge: silences are
 * never written by a batch, and an acknowledgement is applied only to the occurrence its row
 * describes, so a row read while a batch commits a newer occurrence is ignored. What is read
 * is the firing alerts acknowledged, and those acted on in the last minute (an
 * un-acknowledgement): not every alert a batch touched, which during a catch-up is thousands. */
static void refresh_acks_and_silences(cw_pipeline_t *p)
{
    int64_t now = cw_mono_ms();
    if (now - p->last_refresh < 2000 || !cw_store_ready(p->store) ||
        (p->state != P_RUNNING && p->state != P_IDLE))
        return;
    p->last_refresh = now;
    cw_store_job_t *job = cw_store_job_new(NULL, p);
    cw_store_job_add0(job,
                      "SELECT dedup_key, acknowledged, " MS("pending_at") ", origin FROM alerts "
                      "WHERE state = 'firing' AND (acknowledged OR dedup_key IN "
                      "(SELECT dedup_key FROM alert_actions WHERE at > now() - interval "
                      "'1 minute'))",
                      acks_result);
    cw_store_job_add0(job,
                      "SELECT id, rule, court_area, case_id, min_severity,"
                      " (extract(epoch FROM starts_at) * 1000)::bigint,"
                      " (extract(epoch FROM ends_at) * 1000)::bigint"
                      " FROM silences WHERE ends_at > now()",
                      silences_result);
    cw_store_submit(p->store, job);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    cw_pipeline_t *p = arg;
    /* a lane waiting for another to be read may be free to go: its log end is known now */
    drain_all(p);
    /* the wall clock passes deadlines with no event needed; the event clock moves with the
     * events */
    if (p->state != P_RUNNING || p->inflight)
        return;
    for (int i = 0; i < p->nslots; i++)
        p->slots[i].live = slot_caught_up(p, i, p->slots[i].applied);
    if (p->cfg->event_clock)
        advance_event_clock(p);
    tick(p, 0);
    if (alerts_waiting(p))
        maybe_flush(p);
}

static void on_housekeeping(evutil_socket_t fd, short what, void *arg)
{
    cw_pipeline_t *p = arg;
    /* record confirmed dead letters when no batch is coming to carry the marks */
    if (p->nmarks && !committing(p) && cw_store_ready(p->store) && !cw_store_busy(p->store) &&
        (p->state == P_IDLE || p->state == P_RUNNING) &&
        !(p->building && p->building->touched)) {
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        add_marks_stmt(p, job);
        cw_store_submit(p->store, job);
    }
    if (p->nalert_marks && !committing(p) && cw_store_ready(p->store) && !cw_store_busy(p->store) &&
        (p->state == P_IDLE || p->state == P_RUNNING) &&
        !(p->building && p->building->touched) && !alerts_waiting(p)) {
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        add_alert_marks_stmt(p, job);
        cw_store_submit(p->store, job);
    }
    refresh_acks_and_silences(p);
    member_heartbeat(p);
    int64_t now = cw_mono_ms();
    if (now - p->last_stats_log >= 60000) {
        p->last_stats_log = now;
        log_stats(p);
    }
}

/* ------------------------------------------------------------------ stop */

static void on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    check_stop(arg);
}

static void final_marks_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    if (p->state == P_STOPPING)
        check_stop(p);
}

static void check_stop(cw_pipeline_t *p)
{
    if (p->state != P_STOPPING || committing(p))
        return;
    if (!p->consumer_closing) {
        batch_free(p->building); /* not stored: read again by whoever consumes next */
        p->building = NULL;
        p->consumer_closing = true;
        cw_consumer_close_start(p->consumer);
    }
    if (!cw_consumer_closed(p->consumer)) {
        struct timeval tv = {0, 20000};
        evtimer_add(p->ev_stop_poll, &tv);
        return;
    }
    /* committed dead letters still on their way out: give them a moment, they are re-sent
     * at the next start otherwise */
    if (!p->final_marks) {
        p->final_marks = true;
        if (cw_publisher_inflight(p->publisher))
            cw_publisher_flush(p->publisher, 1000);
        /* record what the flush confirmed, so a restart does not re-send it; and leave
         * group_members, so the group's rule set is that of the members still running */
        if ((p->nmarks || p->nalert_marks || p->member_joined) && cw_store_ready(p->store)) {
            cw_store_job_t *job = cw_store_job_new(final_marks_done, p);
            add_marks_stmt(p, job);
            add_alert_marks_stmt(p, job);
            if (p->member_joined)
                cw_store_job_add(job, "DELETE FROM group_members WHERE member_id = $1", 1,
                                 (char *[]){cw_strdup(p->member_id)}, NULL);
            cw_store_submit(p->store, job);
            return;
        }
    }
    set_state(p, P_STOPPED);
    log_stats(p);
    if (p->on_stopped) {
        void (*cb)(void *) = p->on_stopped;
        p->on_stopped = NULL;
        cb(p->stopped_arg);
    }
}

void cw_pipeline_stop(cw_pipeline_t *p, void (*on_stopped)(void *arg), void *arg)
{
    if (p->stop_requested)
        return;
    p->stop_requested = true;
    p->on_stopped = on_stopped;
    p->stopped_arg = arg;
    bool was_running = p->state == P_RUNNING || p->state == P_REVOKING;
    set_state(p, P_STOPPING);
    cw_consumer_hold(p->consumer, false);
    cw_consumer_pause(p->consumer, true);
    p->paused = true;
    if (was_running)
        maybe_flush(p);
    check_stop(p);
}

/* ------------------------------------------------------------------ back-off */

/* A failure the database will likely repeat: the next reload waits initial * 2^streak ms,
 * capped at backoff_max_ms, with per-process jitter. Returns the pause chosen. */
static int fail_backoff(cw_pipeline_t *p)
{
    int64_t ms = p->cfg->backoff_initial_ms;
    for (int i = 0; i < p->fail_streak && ms < p->cfg->backoff_max_ms; i++)
        ms *= 2;
    if (ms > p->cfg->backoff_max_ms)
        ms = p->cfg->backoff_max_ms;
    p->fail_streak++;
    int j = cw_jitter_ms((int)ms, &p->rng);
    p->retry_at = cw_mono_ms() + j;
    return j;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    try_load(arg);
}

/* ------------------------------------------------------------------ partitioning */

/* Judge the input topics' partition counts (librdkafka's metadata, through its statistics),
 * and, once read, against those recorded in PostgreSQL. A change of verdict is logged; while
 * they disagree nothing is consumed: a running pipeline reloads (and the reload refuses). */
static cw_topology_t topology_update(cw_pipeline_t *p, const char *what)
{
    char why[sizeof(p->topo_why)];
    bool recorded = false;
    for (int i = 0; i < p->cfg->n_event_topics; i++)
        recorded |= p->trecorded[i] > 0;
    cw_topology_t t = cw_partmap_judge((const char *const *)p->cfg->event_topics, p->tcount,
                                       recorded ? p->trecorded : NULL, p->cfg->n_event_topics,
                                       why, sizeof(why));
    if (t == CW_TOPOLOGY_OK && p->nparts && p->tcount[0] != p->nparts) {
        snprintf(why, sizeof(why),
                 "%s now has %d partitions; the state in memory is partitioned by %d",
                 p->cfg->event_topics[0], p->tcount[0], p->nparts);
        t = CW_TOPOLOGY_MISMATCH;
    }
    cw_topology_t was = p->topo;
    p->topo = t;
    p->stats.partition_mismatch = t == CW_TOPOLOGY_MISMATCH;
    if (t == CW_TOPOLOGY_MISMATCH && (was != t || strcmp(why, p->topo_why))) {
        cw_strlcpy(p->topo_why, why, sizeof(p->topo_why));
        cw_log_error("pipeline: refusing to consume (%s): %s; fix the topics, casewatchd "
                     "resumes by itself once the counts agree",
                     what, why);
    } else if (t == CW_TOPOLOGY_OK && was == CW_TOPOLOGY_MISMATCH) {
        p->topo_why[0] = '\0';
        cw_log_info("pipeline: the input topics' partition counts agree again (%d); consuming",
                    p->tcount[0]);
    }
    if (t != CW_TOPOLOGY_OK)
        p->topo_why[sizeof(p->topo_why) - 1] = '\0';
    else
        p->topo_why[0] = '\0';
    if (t == CW_TOPOLOGY_MISMATCH && p->state == P_RUNNING) {
        p->nparts = 0;
        resync(p, "the input topics' partition counts changed");
    } else if (t == CW_TOPOLOGY_OK && was != CW_TOPOLOGY_OK) {
        try_load(p);
    }
    return t;
}

/* ------------------------------------------------------------------ ownership */

#define MEMBER_LEASE_MS 30000     /* a member not heard of for this long is gone */
#define MEMBER_HEARTBEAT_MS 3000  /* how often a member says it is alive, and reads the rules */
#define MEMBER_LOCK_KEY "727274002" /* pg_advisory_xact_lock: one claim at a time */

/* The rule set's identity: every rule's name and configuration hash, and the repeat policy. */
static void rules_fingerprint(const cw_rules_t *r, char *out, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    char buf[96];
    for (int i = 0; i < CW_RULE__COUNT; i++) {
        snprintf(buf, sizeof(buf), "%s=%u;", r->rule[i].name ? r->rule[i].name : "",
                 r->rule[i].version);
        for (const char *c = buf; *c; c++)
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
    }
    snprintf(buf, sizeof(buf), "repeat=%lld", (long long)r->repeat_ms);
    for (const char *c = buf; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    snprintf(out, n, "r%016llx", (unsigned long long)h);
}

static char *lease_text(void)
{
    char b[32];
    snprintf(b, sizeof(b), "%d", MEMBER_LEASE_MS);
    return cw_strdup(b);
}

static void claim_other_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    if (PQntuples(res) < 1)
        return;
    char msg[600];
    snprintf(msg, sizeof(msg),
             "consumer group '%s' (%s member(s), last heard of %s ms ago)", PQgetvalue(res, 0, 0),
             PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    free(p->claim_other);
    p->claim_other = cw_strdup(msg);
}

static void claim_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    p->claim_inflight = false;
    if (err) {
        if (err != CW_ERR_AGAIN) {
            int ms = fail_backoff(p);
            cw_log_error("pipeline: recording this member in group_members failed: [%s] %s; "
                         "retrying in %d ms",
                         sqlstate, msg, ms);
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            evtimer_add(p->ev_retry, &tv);
        }
        return; /* AGAIN: claimed again when the connection is back */
    }
    if (p->claim_other) {
        char m[1024];
        snprintf(m, sizeof(m),
                 "this database is in use by another %s; this daemon's group.id is '%s'. Two "
                 "consumer groups on one database would each own every partition and fence "
                 "each other for ever. Use the same group.id, or another database; if the other "
                 "group is gone for good, start once with --take-over-group",
                 p->claim_other, cw_config_group_id(p->cfg));
        free(p->claim_other);
        p->claim_other = NULL;
        free(p->fatal);
        p->fatal = cw_strdup(m);
        p->stats.group_refused = true;
        event_base_loopbreak(p->base);
        return;
    }
    p->member_joined = true;
    p->rules_agree = true; /* we just became the newest member: ours is the group's rule set */
    cw_strlcpy(p->group_hash, p->rules_hash, sizeof(p->group_hash));
    p->last_heartbeat = cw_mono_ms();
    cw_log_info("pipeline: member %s of consumer group '%s', rule set %s", p->member_id,
                cw_config_group_id(p->cfg), p->rules_hash);
    if (cw_store_ready(p->store))
        on_store_state(p, CW_OK, "");
}

/* Record this member in group_members, unless another consumer group owns the database (has
 * a member heard of within the lease). One transaction under an advisory lock, so two
 * groups starting at once cannot both get in. */
static void member_claim(cw_pipeline_t *p)
{
    if (p->claim_inflight || p->member_joined || p->fatal)
        return;
    if (p->retry_at > cw_mono_ms())
        return; /* ev_retry calls again */
    p->claim_inflight = true;
    const char *group = cw_config_group_id(p->cfg);
    cw_store_job_t *job = cw_store_job_new(claim_done, p);
    cw_store_job_add0(job, "BEGIN", NULL);
    cw_store_job_add0(job, "SELECT pg_advisory_xact_lock(" MEMBER_LOCK_KEY ")", NULL);
    cw_store_job_add(job,
                     "DELETE FROM group_members WHERE heartbeat_at < now() - "
                     "make_interval(secs => $1::int / 1000.0)",
                     1, (char *[]){lease_text()}, NULL);
    if (p->take_over) {
        cw_store_job_add(job, "DELETE FROM group_members WHERE group_id <> $1", 1,
                         (char *[]){cw_strdup(group)}, NULL);
        cw_log_warn("pipeline: --take-over-group: any other consumer group's claim on this "
                    "database is dropped; its members stop at their next heartbeat");
    }
    cw_store_job_add(job,
                     "SELECT group_id, count(*), (extract(epoch FROM now() - max(heartbeat_at))"
                     " * 1000)::bigint FROM group_members WHERE group_id <> $1 "
                     "GROUP BY group_id ORDER BY max(heartbeat_at) DESC LIMIT 1",
                     1, (char *[]){cw_strdup(group)}, claim_other_result);
    cw_store_job_add(job,
                     "INSERT INTO group_members (member_id, group_id, rules_hash, rules_at) "
                     "SELECT $1, $2, $3, now() WHERE NOT EXISTS (SELECT 1 FROM group_members "
                     "WHERE group_id <> $2) ON CONFLICT (member_id) DO UPDATE SET "
                     "group_id = EXCLUDED.group_id, rules_hash = EXCLUDED.rules_hash, "
                     "rules_at = now(), heartbeat_at = now()",
                     3, (char *[]){cw_strdup(p->member_id), cw_strdup(group),
                                   cw_strdup(p->rules_hash)},
                     NULL);
    cw_store_job_add0(job, "COMMIT", NULL);
    cw_store_submit(p->store, job);
}

/* Our rule set against the group's (the newest member's): while they differ this member
 * evaluates no rules, so one group never runs two rule versions at once. */
static void member_rules(cw_pipeline_t *p, const char *group_hash, const char *by)
{
    bool agree = !strcmp(group_hash, p->rules_hash);
    if (agree == p->rules_agree && !strcmp(group_hash, p->group_hash))
        return;
    cw_strlcpy(p->group_hash, group_hash, sizeof(p->group_hash));
    p->rules_agree = agree;
    p->stats.rules_mismatch = !agree;
    if (!agree) {
        cw_log_error("pipeline: this member's rule set %s differs from the group's %s (loaded "
                     "by %s, the newest member): evaluating no rules until they agree; give "
                     "this member the group's rule configuration and reload it",
                     p->rules_hash, group_hash, by);
        return;
    }
    cw_log_info("pipeline: rule set %s is the group's again: evaluating rules", p->rules_hash);
    if (p->state == P_RUNNING) {
        evaluate_all(p);
        if (alerts_waiting(p))
            maybe_flush(p);
    }
}

static void hb_self_result(void *arg, const PGresult *res)
{
    ((cw_pipeline_t *)arg)->hb_found = PQntuples(res) > 0;
}

static void hb_rules_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    if (PQntuples(res) > 0 && p->member_joined && p->hb_found)
        member_rules(p, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
}

static void hb_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    p->hb_inflight = false;
    if (err) {
        if (err != CW_ERR_AGAIN)
            cw_log_warn("pipeline: heartbeat in group_members failed: [%s] %s", sqlstate, msg);
        return;
    }
    if (!p->hb_found && p->member_joined) {
        /* our row is gone: we were away longer than the lease, or another group took over */
        cw_log_warn("pipeline: this member's row in group_members is gone (away longer than "
                    "%d ms, or taken over); claiming the database again",
                    MEMBER_LEASE_MS);
        p->member_joined = false;
        member_claim(p);
    }
}

static void member_heartbeat(cw_pipeline_t *p)
{
    int64_t now = cw_mono_ms();
    if (!p->member_joined || p->hb_inflight || !cw_store_ready(p->store) ||
        now - p->last_heartbeat < MEMBER_HEARTBEAT_MS)
        return;
    p->last_heartbeat = now;
    p->hb_inflight = true;
    p->hb_found = false;
    cw_store_job_t *job = cw_store_job_new(hb_done, p);
    cw_store_job_add(job,
                     "UPDATE group_members SET heartbeat_at = now() WHERE member_id = $1 "
                     "RETURNING 1",
                     1, (char *[]){cw_strdup(p->member_id)}, hb_self_result);
    cw_store_job_add(job,
                     "SELECT rules_hash, member_id FROM group_members WHERE group_id = $1 AND "
                     "heartbeat_at > now() - make_interval(secs => $2::int / 1000.0) "
                     "ORDER BY rules_at DESC, member_id DESC LIMIT 1",
                     2, (char *[]){cw_strdup(cw_config_group_id(p->cfg)), lease_text()},
                     hb_rules_result);
    cw_store_submit(p->store, job);
}

const char *cw_pipeline_unready(const cw_pipeline_t *p)
{
    if (p->fatal)
        return p->fatal;
    if (p->topo == CW_TOPOLOGY_MISMATCH)
        return p->topo_why;
    if (!p->rules_agree)
        return "this member's rule set differs from its group's: evaluating no rules";
    return NULL;
}

/* ------------------------------------------------------------------ lifecycle */

static void on_flush_now(evutil_socket_t fd, short what, void *arg)
{
    maybe_flush(arg);
}

static void kstats_part(void *arg, const char *topic, int32_t partition, int64_t hi,
                        int64_t ls)
{
    cw_pipeline_t *p = arg;
    int i = slot_find(p, topic, partition);
    if (i >= 0 && hi >= 0)
        p->slots[i].high = hi;
    int t = topic_index(p, topic);
    if (t >= 0 && partition + 1 > p->tscan[t])
        p->tscan[t] = partition + 1; /* every partition of the topic's metadata is listed */
}

static void on_kafka_stats(void *arg, const char *json, size_t len)
{
    cw_pipeline_t *p = arg;
    memset(p->tscan, 0, sizeof(int32_t) * (size_t)p->cfg->n_event_topics);
    if (cw_kstats_partitions(json, len, kstats_part, arg) < 0) {
        cw_log_debug("kafka: statistics not understood; consumer lag not updated");
        return;
    }
    bool changed = false;
    for (int i = 0; i < p->cfg->n_event_topics; i++) {
        if (p->tscan[i] > 0 && p->tscan[i] != p->tcount[i]) {
            cw_log_info("kafka: topic %s has %d partition(s)", p->cfg->event_topics[i],
                        p->tscan[i]);
            p->tcount[i] = p->tscan[i];
            changed = true;
        }
    }
    if (changed)
        topology_update(p, "partition counts from the brokers' metadata");
    drain_all(p); /* log ends are known now: a lane may be caught up */
}

cw_pipeline_t *cw_pipeline_new(struct event_base *base, const cw_config_t *cfg, char *errstr,
                               size_t errsz)
{
    cw_pipeline_t *p = cw_calloc(1, sizeof(*p));
    p->base = base;
    p->cfg = cfg;
    p->book = cw_casebook_new();
    p->agg = cw_aggdelta_new();
    p->state = P_IDLE;
    p->last_stats_log = cw_mono_ms();
    p->ev_batch_timer = evtimer_new(base, on_batch_timer, p);
    p->ev_flush_now = event_new(base, -1, 0, on_flush_now, p);
    p->ev_stop_poll = evtimer_new(base, on_stop_poll, p);
    p->ev_housekeeping = event_new(base, -1, EV_PERSIST, on_housekeeping, p);
    cw_histo_init(&p->stats.batch_events, batch_bounds, (int)CW_ARRAY_LEN(batch_bounds));
    cw_histo_init(&p->stats.commit_seconds, commit_bounds, (int)CW_ARRAY_LEN(commit_bounds));
    struct timeval hk = {1, 0};
    event_add(p->ev_housekeeping, &hk);

    p->rng = cw_random_seed();
    p->rules_agree = true;
    p->ev_retry = evtimer_new(base, on_retry, p);
    int nt = cfg->n_event_topics > 0 ? cfg->n_event_topics : 1;
    p->tcount = cw_calloc((size_t)nt, sizeof(int32_t));
    p->trecorded = cw_calloc((size_t)nt, sizeof(int32_t));
    p->tscan = cw_calloc((size_t)nt, sizeof(int32_t));
    if (!cw_partmap_parse(cfg->partitioner, &p->partitioner)) {
        snprintf(errstr, errsz, "unknown partitioner '%s'", cfg->partitioner);
        goto fail;
    }
    {
        char host[64] = "casewatchd";
        gethostname(host, sizeof(host) - 1);
        snprintf(p->member_id, sizeof(p->member_id), "%s:%d:%lld", host, (int)getpid(),
                 (long long)cw_now_ms());
    }

    p->publisher = cw_publisher_new(base, cfg, on_delivery, p, errstr, errsz);
    if (!p->publisher)
        goto fail;
    cw_consumer_cbs_t cbs = {.on_assign = on_assign,
                             .on_revoke = on_revoke,
                             .on_message = on_message,
                             .on_offset_reset = on_offset_reset,
                             .on_stats = on_kafka_stats,
                             .arg = p};
    p->consumer = cw_consumer_new(base, cfg, &cbs, errstr, errsz);
    if (!p->consumer)
        goto fail;
    p->workdays = cw_workdays_new();
    if (cfg->holidays_file &&
        cw_workdays_load_file(p->workdays, cfg->holidays_file, errstr, errsz) != CW_OK)
        goto fail;
    p->rules = cw_rules_load(cfg->path, p->book, errstr, errsz);
    if (!p->rules)
        goto fail;
    rules_fingerprint(p->rules, p->rules_hash, sizeof(p->rules_hash));
    p->alerts = cw_alerts_new();
    p->deadlines = cw_deadlines_new();
    p->wtime = (cw_watch_time_t){pheap, pclock, p};
    p->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, p);
    struct timeval one = {1, 0};
    event_add(p->ev_tick, &one);
    cw_store_opts_t so = {.conninfo = cfg->pg_conninfo,
                          .backoff_initial_ms = cfg->backoff_initial_ms,
                          .backoff_max_ms = cfg->backoff_max_ms,
                          .on_state = on_store_state,
                          .arg = p,
                          /* the batch statements are prepared once and their plan never
                           * depends on the arrays they get: skip planning them each batch */
                          .session_sql = "SET plan_cache_mode = force_generic_plan"};
    p->store = cw_store_new(base, &so);
    so.on_state = on_bstore_state; /* their jobs' own failures are what matter */
    p->bstore[0] = cw_store_new(base, &so);
    p->bstore[1] = cw_store_new(base, &so);
    char host[64] = "casewatchd";
    gethostname(host, sizeof(host) - 1);
    p->snapshots = cw_snapshots_new(base, p->store, p->publisher, p->workdays,
                                    cfg->metrics_topic, host, cfg->metrics_interval_ms);
    cw_snapshots_set_hook(p->snapshots, on_aggregates, p);
    return p;
fail:
    cw_pipeline_destroy(p);
    return NULL;
}

void cw_pipeline_set_take_over(cw_pipeline_t *p, bool take_over)
{
    p->take_over = take_over;
}

const char *cw_pipeline_fatal(const cw_pipeline_t *p)
{
    return p->fatal;
}

const cw_pipeline_stats_t *cw_pipeline_stats(cw_pipeline_t *p)
{
    p->stats.cases_in_memory = cw_casebook_count(p->book);
    p->stats.snapshots = p->snapshots ? cw_snapshots_published(p->snapshots) : 0;
    return &p->stats;
}

void cw_pipeline_reconfigure(cw_pipeline_t *p, const cw_config_t *cfg)
{
    p->cfg = cfg;
}

cw_err_t cw_pipeline_reload_rules(cw_pipeline_t *p, char *errstr, size_t errsz)
{
    cw_rules_t *r = cw_rules_load(p->cfg->path, p->book, errstr, errsz);
    if (!r)
        return CW_ERR_CONFIG;
    cw_rules_free(p->rules);
    p->rules = r;
    char hash[sizeof(p->rules_hash)];
    rules_fingerprint(r, hash, sizeof(hash));
    if (strcmp(hash, p->rules_hash)) {
        /* a reload makes this member the newest: its rule set becomes the group's */
        cw_strlcpy(p->rules_hash, hash, sizeof(p->rules_hash));
        if (p->member_joined && cw_store_ready(p->store)) {
            cw_store_job_t *job = cw_store_job_new(NULL, NULL);
            cw_store_job_add(job,
                             "UPDATE group_members SET rules_hash = $2, rules_at = now(), "
                             "heartbeat_at = now() WHERE member_id = $1",
                             2, (char *[]){cw_strdup(p->member_id), cw_strdup(hash)}, NULL);
            cw_store_submit(p->store, job);
        }
        member_rules(p, hash, p->member_id);
        p->last_heartbeat = 0; /* read the group's back at once */
    }
    if (p->state == P_RUNNING) {
        evaluate_all(p);
        if (alerts_waiting(p))
            maybe_flush(p);
    }
    return CW_OK;
}

/* ---- for the admin API ------------------------------------------------------------------ */

void cw_pipeline_set_alert_hook(cw_pipeline_t *p, cw_pipeline_alert_fn fn, void *arg)
{
    p->on_alert = fn;
    p->on_alert_arg = arg;
}

int64_t cw_pipeline_now(const cw_pipeline_t *p)
{
    return clock_now(p);
}

bool cw_pipeline_db_ready(const cw_pipeline_t *p)
{
    /* the main connection, and a batch connection to commit on */
    return cw_store_ready(p->store) &&
           (cw_store_ready(p->bstore[0]) || cw_store_ready(p->bstore[1]));
}

const cw_rules_t *cw_pipeline_rules(const cw_pipeline_t *p)
{
    return p->rules;
}

const cw_workdays_t *cw_pipeline_workdays(const cw_pipeline_t *p)
{
    return p->workdays;
}

const cw_alerts_t *cw_pipeline_alerts(const cw_pipeline_t *p)
{
    return p->alerts;
}

int cw_pipeline_partitions(const cw_pipeline_t *p, cw_metrics_part_t *out, int max)
{
    int n = 0;
    for (int i = 0; i < p->nslots && n < max; i++)
        out[n++] = (cw_metrics_part_t){p->slots[i].topic, p->slots[i].partition,
                                       p->slots[i].committed < 0 ? 0 : p->slots[i].committed,
                                       p->slots[i].high};
    return p->nslots;
}

int64_t cw_pipeline_outputs(const cw_pipeline_t *p, int64_t *unconfirmed)
{
    if (unconfirmed)
        *unconfirmed = p->alerts_pending + p->dl_pending;
    return p->publisher ? cw_publisher_inflight(p->publisher) : 0;
}

void cw_pipeline_acknowledged(cw_pipeline_t *p, const char *dedup_key, bool ack)
{
    cw_alerts_acknowledge(p->alerts, dedup_key, ack);
}

void cw_pipeline_refresh_soon(cw_pipeline_t *p)
{
    p->last_refresh = 0;
}

typedef struct case_alerts_ctx {
    const char *case_id;
    json_object *arr;
    const cw_rules_t *rules;
} case_alerts_ctx_t;

static void case_alert(void *arg, const cw_alert_t *x)
{
    case_alerts_ctx_t *c = arg;
    if (strcmp(x->case_id, c->case_id))
        return;
    json_object_array_add(c->arr, cw_alertjson_alert(x, c->rules));
}

json_object *cw_pipeline_case_json(cw_pipeline_t *p, const char *case_id)
{
    cw_case_t *c = cw_casebook_find(p->book, case_id);
    if (!c)
        return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "case_id", json_object_new_string(case_id));
    json_object_object_add(o, "partition", json_object_new_int(c->partition));
    json_object_object_add(o, "source", json_object_new_string("memory"));
    size_t len;
    uint8_t *packed = cw_casebook_pack(p->book, c, &len);
    Casewatch__V1__CaseState *st = casewatch__v1__case_state__unpack(NULL, len, packed);
    free(packed);
    if (st) {
        json_object_object_add(o, "state", cw_pb_to_json(&st->base));
        casewatch__v1__case_state__free_unpacked(st, NULL);
    }
    /* open deadlines: the obligations of the case's rules not met yet, due or not */
    cw_obligation_t obl[256];
    size_t n = cw_rules_case(p->rules, p->book, c, p->workdays, cw_watch_area_prioritised,
                             p->book, obl, CW_ARRAY_LEN(obl));
    if (n > CW_ARRAY_LEN(obl))
        n = CW_ARRAY_LEN(obl);
    json_object *dl = json_object_new_array();
    int64_t now = clock_now(p);
    for (size_t i = 0; i < n; i++) {
        if (obl[i].met_ms)
            continue;
        const cw_rule_t *r = &p->rules->rule[obl[i].rule];
        json_object *d = json_object_new_object();
        json_object_object_add(d, "rule", json_object_new_string(r->name));
        json_object_object_add(d, "family", json_object_new_string(cw_family_name(r->family)));
        json_object_object_add(d, "subject", json_object_new_string(obl[i].subject));
        json_object_object_add(d, "armed_at", cw_json_time(obl[i].armed_ms));
        json_object_object_add(d, "due_at", cw_json_time(obl[i].due_ms));
        json_object_object_add(d, "overdue", json_object_new_boolean(obl[i].due_ms <= now));
        json_object_array_add(dl, d);
    }
    json_object_object_add(o, "deadlines", dl);
    case_alerts_ctx_t ctx = {case_id, json_object_new_array(), p->rules};
    cw_alerts_foreach(p->alerts, case_alert, &ctx);
    json_object_object_add(o, "alerts", ctx.arr);
    return o;
}

void cw_pipeline_destroy(cw_pipeline_t *p)
{
    if (!p)
        return;
    /* The one teardown path, also reached with commits in flight (the shutdown deadline, a
     * fatal schema): destroying a store fails its jobs, whose callbacks see `destroying` and
     * return at once, touching neither the consumer nor the other stores. The stores go first,
     * while everything their callbacks could reach still exists. */
    p->destroying = true;
    p->state = P_STOPPED;
    cw_snapshots_destroy(p->snapshots);
    p->snapshots = NULL;
    for (int i = 0; i < 2; i++) {
        cw_store_t *st = p->bstore[i];
        p->bstore[i] = NULL;
        cw_store_destroy(st);
    }
    cw_store_t *st = p->store;
    p->store = NULL;
    cw_store_destroy(st);
    if (p->consumer)
        cw_consumer_destroy(p->consumer);
    p->consumer = NULL;
    if (p->publisher)
        cw_publisher_destroy(p->publisher);
    batch_free(p->building);
    batch_free(p->inflight);
    batch_free(p->next);
    slots_free(p);
    marks_free(p->marks, p->nmarks);
    cw_casebook_destroy(p->book);
    cw_aggdelta_destroy(p->agg);
    cw_workdays_destroy(p->workdays);
    cw_alerts_destroy(p->alerts);
    cw_deadlines_destroy(p->deadlines);
    for (int i = 0; i < p->npheap; i++)
        cw_deadlines_destroy(p->pheap[i]);
    free(p->pheap);
    cw_rules_free(p->rules);
    if (p->ev_tick)
        event_free(p->ev_tick);
    for (int i = 0; i < p->nalert_marks; i++)
        free(p->alert_marks[i]);
    free(p->alert_marks);
    if (p->ev_batch_timer)
        event_free(p->ev_batch_timer);
    if (p->ev_flush_now)
        event_free(p->ev_flush_now);
    if (p->ev_stop_poll)
        event_free(p->ev_stop_poll);
    if (p->ev_housekeeping)
        event_free(p->ev_housekeeping);
    if (p->ev_retry)
        event_free(p->ev_retry);
    free(p->tcount);
    free(p->trecorded);
    free(p->tscan);
    free(p->claim_other);
    free(p->fatal);
    free(p);
}
