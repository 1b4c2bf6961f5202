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
#include "pipeline_int.h"
#include "alertmsg.h"
#include "arearules.h"
#include "batch.h"
#include "ledger.h"
#include "outbox.h"
#include "loader.h"
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

static const char *const pstate_names[] = {"idle",     "loading",  "running",
                                           "revoking", "stopping", "stopped"};

static const double batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000};
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   10};

static void maybe_flush(cw_pipeline_t *p);
static void resync(cw_pipeline_t *p, const char *why);
static void reset_alerts(cw_pipeline_t *p);
static void evaluate_all(cw_pipeline_t *p);
static bool alerts_waiting(cw_pipeline_t *p);
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
static int64_t slot_log_end(cw_pipeline_t *p, int i, int64_t *low);
static bool log_caught_up(int64_t next, int64_t low, int64_t end);

static void set_state(cw_pipeline_t *p, pstate_t s)
{
    if (p->state != s)
        cw_log_debug("pipeline: %s -> %s", pstate_names[p->state], pstate_names[s]);
    p->state = s;
}

/* ------------------------------------------------------------------ batches */

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
    if (b->phase == BATCH_EVENTS_SENT) { /* its events are with the database: its callback frees it */
        b->abandoned = true;
        return;
    }
    rollback_on(b->store); /* applied, commit held: the transaction is open */
    cw_batch_free(b);
}

/* ------------------------------------------------------------------ slots */

static int slot_queued(const part_slot_t *s)
{
    return s->qn - s->qhead;
}

/* Drop what a slot holds unbatched: it was never stored, so it is read again (after the
 * rewind, or by the next owner). */
static void slot_queue_clear(part_slot_t *s)
{
    for (int i = s->qhead; i < s->qn; i++)
        cw_held_fini(&s->q[i]);
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

/* ------------------------------------------------------------------ loading partitions */

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
    cw_store_job_add(job, SQL_OFFSETS_READ, 2, (char *[]){t, k}, cw_load_offsets_result);
    char *uparts_text = cw_pgarray_finish(&uparts);
    cw_store_job_add_binary(job, SQL_CASES_READ, 1, (char *[]){cw_strdup(uparts_text)},
                            cw_load_cases_result);
    cw_store_job_add0(job, SQL_AREAS_READ, cw_load_areas_result);
    cw_store_job_add(job, SQL_ALERTS_READ, 1, (char *[]){cw_strdup(uparts_text)},
                     cw_load_alerts_result);
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
    cw_store_job_add(job, SQL_TOPICS_READ, 1, (char *[]){tta}, cw_load_topics_result);
    cw_store_job_add0(job, "COMMIT", NULL);
    free(uparts_text);
    cw_store_submit(p->store, job);
}

/* Drop every uncommitted thing and reload the owned partitions from PostgreSQL. */
static void resync(cw_pipeline_t *p, const char *why)
{
    p->resync_after = false;
    slots_clear_queues(p);
    cw_batch_free(p->building);
    p->building = NULL;
    if (p->inflight) { /* only reached from its own failure path */
        cw_batch_free(p->inflight);
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
    p->building = cw_batch_new(p->nslots);
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
        p->slots[i].passed_occ = -1;
        p->slots[i].read_occ = -1;
        p->slots[i].lane = cw_load_topic_index(p, parts->elems[i].topic);
    }
    p->nslots = parts->cnt;
    lanes_build(p);
    p->stats.partitions_owned = parts->cnt;
    cw_batch_free(p->building);
    p->building = cw_batch_new(p->nslots);
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
    cw_batch_free(p->building); /* not committable (database down): the next owner re-reads it */
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

/* Assign the owned partitions again where they are (each slot's next offset), slot
 * `from_start` from the log start: librdkafka leaves a partition whose offset left the log
 * stopped (auto.offset.reset = error), and a seek does not restart it; an assignment does. */
static void reassign_from_start(cw_pipeline_t *p, int from_start)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(p->nslots);
    for (int i = 0; i < p->nslots; i++) {
        const part_slot_t *sl = &p->slots[i];
        rd_kafka_topic_partition_list_add(l, sl->topic, sl->partition)->offset =
            i == from_start ? RD_KAFKA_OFFSET_BEGINNING
            : sl->consumed >= 0 ? sl->consumed
                                : sl->committed;
    }
    if (cw_consumer_assign(p->consumer, l) != CW_OK)
        resync(p, "re-assigning after an offset gap failed");
    rd_kafka_topic_partition_list_destroy(l);
    for (int i = 0; i < p->nslots; i++) /* the assignment lifted every pause */
        if (p->slots[i].qpaused)
            cw_consumer_pause_partition(p->consumer, p->slots[i].topic, p->slots[i].partition,
                                        true);
}

static void gap_recorded(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    if (err && err != CW_ERR_AGAIN)
        cw_log_error("pipeline: recording an offset gap failed: [%s] %s", sqlstate ? sqlstate : "",
                     msg ? msg : "");
    (void)arg;
}

static const char SQL_GAP_INSERT[] =
    "INSERT INTO offset_gaps (topic, kpartition, kind, stored_offset, log_start, log_end, missed)"
    " VALUES ($1, $2::int, $3, $4::bigint, NULLIF($5::bigint, -1), NULLIF($6::bigint, -1),"
    " NULLIF($7::bigint, -1))";
static const char SQL_GAP_FIRST[] =
    "UPDATE offset_gaps SET first_offset = $3::bigint, first_record_at = cw_ms($4::bigint) "
    "WHERE id = (SELECT max(id) FROM offset_gaps WHERE topic = $1 AND kpartition = $2::int)"
    " AND first_offset IS NULL";

/* [N] Kafka no longer holds where this partition was to go on: say which it was, record it,
 * and go on from the log start at once (never a silent stall). */
static void on_offset_reset(void *arg, const char *topic, int32_t partition, int64_t offset,
                            const char *why)
{
    cw_pipeline_t *p = arg;
    int s = slot_find(p, topic, partition);
    if (s < 0 || p->state != P_RUNNING)
        return; /* not ours (any more), or loading: the next assignment starts it */
    part_slot_t *slot = &p->slots[s];
    p->stats.offset_resets++;
    int64_t stored = offset >= 0 ? offset : slot->consumed >= 0 ? slot->consumed : slot->applied;
    int64_t low = -1, high = -1;
    /* a blocking call of at most 1 s on the loop: once per such fault, and it says which */
    rd_kafka_query_watermark_offsets(cw_consumer_handle(p->consumer), topic, partition, &low,
                                     &high, 1000);
    bool reset = high >= 0 && stored > high;
    int64_t missed = !reset && low >= 0 && stored < low ? low - stored : -1;
    if (reset)
        cw_log_error("pipeline: %s [%d]: the stored offset %lld is beyond the log's end %lld: the "
                     "log was reset (topic recreated, or another cluster); reading it from its "
                     "start at %lld, and what it holds is applied once (%s)",
                     topic, partition, (long long)stored, (long long)high,
                     (long long)(low < 0 ? 0 : low), why);
    else
        cw_log_error("pipeline: %s [%d]: the stored offset %lld is below the log's start %lld: "
                     "%lld event(s) were deleted before casewatch read them; figures and alerts "
                     "of cases on this partition may be incomplete; going on from %lld (%s)",
                     topic, partition, (long long)stored, (long long)low,
                     (long long)(missed < 0 ? 0 : missed), (long long)low, why);
    if (missed > 0)
        p->stats.offset_gap_messages += (uint64_t)missed;
    p->stats.offset_gaps_open++;
    slot->gap_first_due = true;
    char *v[7];
    char buf[4][24];
    snprintf(buf[0], sizeof(buf[0]), "%lld", (long long)stored);
    snprintf(buf[1], sizeof(buf[1]), "%lld", (long long)low);
    snprintf(buf[2], sizeof(buf[2]), "%lld", (long long)high);
    snprintf(buf[3], sizeof(buf[3]), "%lld", (long long)missed);
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    v[0] = cw_strdup(topic);
    v[1] = cw_strdup(part);
    v[2] = cw_strdup(reset ? "log_reset" : "records_deleted");
    for (int i = 0; i < 4; i++)
        v[3 + i] = cw_strdup(buf[i]);
    cw_store_job_t *job = cw_store_job_new(gap_recorded, p);
    cw_store_job_add(job, SQL_GAP_INSERT, 7, v, NULL);
    cw_store_submit(p->store, job);
    if (slot->qpaused) {
        cw_consumer_pause_partition(p->consumer, topic, partition, false);
        slot->qpaused = false;
    }
    slot_queue_clear(slot);
    slot->consumed = -1; /* whatever the log start is */
    reassign_from_start(p, s);
}

static void gaps_open_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    if (PQntuples(res) == 1)
        p->stats.offset_gaps_open = atoll(PQgetvalue(res, 0, 0));
}

void cw_pipeline_gaps_acknowledged(cw_pipeline_t *p, int64_t still_open)
{
    p->stats.offset_gaps_open = still_open;
}

/* The first record read after an offset gap: where the loss ends, recorded with its gap. */
static void gap_first_record(cw_pipeline_t *p, part_slot_t *slot, const rd_kafka_message_t *m)
{
    slot->gap_first_due = false;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    char part[16], off[24], at[24];
    snprintf(part, sizeof(part), "%d", slot->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    snprintf(at, sizeof(at), "%lld", (long long)(ts > 0 ? ts : 0));
    cw_store_job_t *job = cw_store_job_new(gap_recorded, p);
    cw_store_job_add(job, SQL_GAP_FIRST, 4,
                     (char *[]){cw_strdup(slot->topic), cw_strdup(part), cw_strdup(off),
                                cw_strdup(at)},
                     NULL);
    cw_store_submit(p->store, job);
}

/* ------------------------------------------------------------------ consuming */

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
    CW_ASSERT(slot_queued(slot) > 0 && p->building && p->building->phase == BATCH_BUILDING);
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
    } else if (!cw_batch_id_add(b, h.ev.pb->event_id)) {
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

/* How long lane w's head must still wait before it goes while another lane of its partition
 * is empty and at its log end: until it has been read merge_idle_ms ago (0: it may go). A log
 * end is librdkafka's cached high watermark, as of the last fetch response, and two topics'
 * producers append independently: a message of the empty lane that happened earlier can be
 * appended, or fetched, a little later (the embedded broker answers a fetch with nothing new
 * only after fetch.wait.max.ms). Waiting bounds that skew in wall time as Kafka Streams'
 * max.task.idle.ms does; a lane that receives a message in the meantime is compared as usual.
 * It waits only where the order can change the history: the partition's clock is its stream
 * time (the event clock, or the wall clock while catching up; live on the wall clock the clock
 * is the time now, whatever came first), and the head is more than the allowed lateness ahead
 * of the empty lane's newest read time, so applying it could pass the due time of an event
 * that lane is still to deliver (a lane's own events come in occurred_at order, up to
 * lateness). A dead letter moves no clock and never waits. */
/* The lateness the event clock allows; the wall clock allows none (it is the time now). */
static int64_t lateness(const cw_pipeline_t *p)
{
    return p->cfg->event_clock ? p->cfg->allowed_lateness_ms : 0;
}

static int64_t merge_hold_ms(const cw_pipeline_t *p, const int *lane, const int64_t *head, int n,
                             int w)
{
    if (p->cfg->merge_idle_ms <= 0 || head[w] == CW_MERGE_NOW)
        return 0;
    bool live = true, behind = false;
    for (int k = 0; k < n; k++) {
        const part_slot_t *sk = &p->slots[lane[k]];
        live &= sk->live;
        if (k != w && head[k] == CW_MERGE_EMPTY)
            behind |= sk->read_occ < 0 || head[w] - lateness(p) > sk->read_occ;
    }
    if (!behind || (live && !p->cfg->event_clock))
        return 0;
    const part_slot_t *sl = &p->slots[lane[w]];
    int64_t age = cw_mono_ms() - sl->q[sl->qhead].arrived_mono;
    return age >= p->cfg->merge_idle_ms ? 0 : p->cfg->merge_idle_ms - age;
}

static void arm_merge(cw_pipeline_t *p, int64_t wait_ms)
{
    int64_t due = cw_mono_ms() + wait_ms;
    if (p->merge_due_mono && p->merge_due_mono <= due && evtimer_pending(p->ev_merge_timer, NULL))
        return;
    p->merge_due_mono = due;
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)((wait_ms % 1000) * 1000)};
    evtimer_add(p->ev_merge_timer, &tv);
}

static void drain_all(cw_pipeline_t *p);

static void on_merge_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cw_pipeline_t *p = arg;
    p->merge_due_mono = 0;
    drain_all(p);
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
        if (cw_batch_size(p->building) >= p->cfg->batch_max_events) {
            maybe_flush(p);
            if (!p->building || cw_batch_size(p->building) >= p->cfg->batch_max_events)
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
        int64_t wait = merge_hold_ms(p, lane, head, n, w);
        if (wait > 0) {
            arm_merge(p, wait);
            break;
        }
        for (int k = 0; k < n; k++) {
            part_slot_t *sk = &p->slots[lane[k]];
            if (k != w && head[k] == CW_MERGE_EMPTY && head[w] > sk->passed_occ)
                sk->passed_occ = head[w];
        }
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
    if (slot->gap_first_due)
        gap_first_record(p, slot, m);

    char reason[256];
    held_t *h = slot_push(slot);
    h->offset = m->offset;
    h->arrived_mono = cw_mono_ms();
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
        cw_dead_letter_from(&h->dl, m, rej, reason);
    }
    if (!h->dead && h->ev.pb->occurred_at > slot->read_occ)
        slot->read_occ = h->ev.pb->occurred_at;
    if (!h->dead && slot->passed_occ >= 0) {
        if (h->ev.pb->occurred_at < slot->passed_occ) {
            p->stats.merge_out_of_order++;
            cw_log_debug("pipeline: %s[%d] offset %lld (occurred %lld) read after another lane "
                         "of its partition went past it to %lld",
                         slot->topic, slot->partition, (long long)m->offset,
                         (long long)h->ev.pb->occurred_at, (long long)slot->passed_occ);
        }
        slot->passed_occ = -1;
    }
    if (!slot->qpaused && slot_queued(slot) >= lane_cap(p)) {
        cw_consumer_pause_partition(p->consumer, slot->topic, slot->partition, true);
        slot->qpaused = true;
    }
    drain(p, slot->partition);
}

/* ------------------------------------------------------------------ committing */

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
    cw_batch_free(p->inflight);
    p->inflight = NULL;
    abandon_next(p);
    cw_consumer_hold(p->consumer, false);
    resync(p, err == CW_ERR_AGAIN ? "database connection lost during a commit"
                                  : "batch transaction failed");
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
    /* commits go in batch order: only the oldest batch's commit can come back */
    CW_ASSERT(b == p->inflight && b->phase == BATCH_APPLIED && !b->held);
    if (err) {
        commit_failed(p, err, sqlstate, msg);
        return;
    }
    rd_kafka_topic_partition_list_t *mon = rd_kafka_topic_partition_list_new(p->nslots);
    for (int i = 0; i < p->nslots && i < b->nslots; i++)
        if (b->part_next[i] >= 0) {
            p->slots[i].committed = b->part_next[i];
            rd_kafka_topic_partition_list_add(mon, p->slots[i].topic, p->slots[i].partition)
                ->offset = b->part_next[i];
        }
    /* [J] the group's committed offsets trail PostgreSQL's, for lag monitoring only */
    cw_consumer_commit_for_monitoring(p->consumer, mon);
    rd_kafka_topic_partition_list_destroy(mon);
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
        cw_outbox_dead_letter(p, d->topic, d->partition, d->offset, cw_reject_name(d->reason),
                            d->detail, d->key, d->keylen, d->payload, d->len, d->headers);
    }
    for (int i = 0; i < b->nouts; i++) {
        if (p->on_alert && b->outs[i].json)
            p->on_alert(p->on_alert_arg, b->outs[i].json);
        cw_outbox_alert(p, b->outs[i].alert_id, b->outs[i].key, b->outs[i].payload,
                      b->outs[i].len);
    }
    p->stats.batches++;
    p->fail_streak = 0;
    p->retry_at = 0;
    p->stats.last_commit_ms = cw_mono_ms() - b->commit_started;
    cw_histo_observe(&p->stats.batch_events, (double)(b->nev + b->ndl));
    cw_histo_observe(&p->stats.commit_seconds, (double)p->stats.last_commit_ms / 1000.0);
    p->stats.cases_in_memory = cw_casebook_count(p->book);
    cw_batch_free(b);
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
        (cw_batch_size(p->building) >= p->cfg->batch_max_events ||
         cw_mono_ms() - p->building->started_mono >= p->cfg->batch_max_wait_ms))
        maybe_flush(p);
    cw_consumer_hold(p->consumer, false);
    drain_all(p);
}

static void events_result(void *arg, const PGresult *res)
{
    batch_t *b = arg;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = cw_batch_id_find(b, PQgetvalue(res, r, 0));
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
/* Slot i's log end (next offset to be written; librdkafka's cached high watermark, else the
 * one from its statistics), -1 if not known yet; *low its log start (-1: not known). */
static int64_t slot_log_end(cw_pipeline_t *p, int i, int64_t *low)
{
    int64_t high = -1;
    *low = -1;
    rd_kafka_get_watermark_offsets(cw_consumer_handle(p->consumer), p->slots[i].topic,
                                   p->slots[i].partition, low, &high);
    return high >= 0 ? high : p->slots[i].high;
}

/* Whether a partition that has applied up to next is at its log end (next < 0: nothing stored
 * yet, so it starts at the log start). */
static bool log_caught_up(int64_t next, int64_t low, int64_t end)
{
    if (next < 0)
        next = low > 0 ? low : 0;
    return end >= 0 && next >= end;
}

/* Whether slot i is caught up once it has applied up to next. */
static bool slot_caught_up(cw_pipeline_t *p, int i, int64_t next)
{
    int64_t low;
    int64_t end = slot_log_end(p, i, &low);
    return log_caught_up(next, low, end);
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

static bool alerts_waiting(cw_pipeline_t *p)
{
    size_t n;
    cw_alerts_transitions(p->alerts, &n);
    return n > 0;
}

/* ---- rules over areas and workers: need every partition, so one daemon (the owner of
 * partition 0 of the first input topic) evaluates them from the aggregates ---------------- */

static bool is_leader(const cw_pipeline_t *p)
{
    return p->state == P_RUNNING && slot_find(p, p->cfg->event_topics[0], 0) >= 0;
}

static void on_aggregates(void *arg, struct cw_aggread *r, cw_day_t day)
{
    cw_pipeline_t *p = arg;
    if (!is_leader(p) || committing(p) || !p->rules_agree)
        return;
    int64_t now = clock_now(p);
    if (now <= 0)
        return;
    cw_arearules_evaluate(p->alerts, p->rules, p->book, p->workdays, r, day, now);
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

/* Round trip 1 said which of batch b's events are new: apply exactly those to memory (the
 * casebook, aggregates delta, alerts), in the batch's order, each after its partition's due
 * deadlines; then move the slots' positions. expect[i] receives slot i's stored offset before
 * the batch (its commit's fence). */
static void apply_batch(cw_pipeline_t *p, batch_t *b, int64_t *expect)
{
    /* the database said which events are new: apply exactly those to memory, in occurred_at
     * order within the batch (the state does not depend on it; anomaly detection reads
     * better) */
    cw_aggdelta_clear(p->agg);
    /* [L] time moves per event: before each event its partition's deadlines that the clock
     * has passed fire (at their due times), then the event applies and its case is evaluated
     * with its partition's clock, its own time and its topic-partition's stream time before
     * it (an event late for an obligation makes it count as fired). Whether a slot is live
     * (caught up) is judged by where this batch leaves it. */
    /* one look at each log's ends for the whole batch */
    int64_t *end = cw_malloc(sizeof(int64_t) * 2 * (size_t)(p->nslots ? p->nslots : 1));
    int64_t *low = end + p->nslots;
    for (int i = 0; i < p->nslots; i++) {
        end[i] = slot_log_end(p, i, &low[i]);
        p->slots[i].live = log_caught_up(p->slots[i].applied, low[i], end[i]);
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
    for (int i = 0; i < p->nslots; i++)
        expect[i] = p->slots[i].applied;
    for (int i = 0; i < b->nslots && i < p->nslots; i++)
        if (b->part_next[i] >= 0)
            p->slots[i].applied = b->part_next[i];
    for (int i = 0; i < p->nslots; i++) /* the log may have grown meanwhile: look again */
        p->slots[i].live = slot_caught_up(p, i, p->slots[i].applied);
    free(end);
    if (p->cfg->event_clock)
        advance_event_clock(p);
    tick(p, 0);
}

/* Batch b's round trip 2: everything it changed, its outputs, the marks of deliveries
 * reported since the last commit, the fenced offset advance and COMMIT. */
static cw_store_job_t *build_commit_job(cw_pipeline_t *p, batch_t *b, const int64_t *expect)
{
    cw_store_job_t *job = cw_store_job_new(commit2_done, b);
    cw_ledger_cases_stmt(p, job);
    cw_casebook_clear_dirty(p->book);
    cw_ledger_agg_stmts(p, job);
    cw_ledger_areas_stmt(p, job);
    cw_casebook_clear_dirty_areas(p->book);
    cw_ledger_anomalies_stmt(b, job);
    log_transitions(p);
    cw_ledger_alert_stmts(p, b, job);
    cw_ledger_alert_marks_stmt(p, job);
    cw_ledger_dead_letters_stmt(b, job);
    cw_ledger_marks_stmt(p, job);
    cw_ledger_offsets_stmt(p, b, expect, job);
    cw_store_job_add0(job, "COMMIT", NULL);
    return job;
}

static void commit1_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    batch_t *b = arg;
    cw_pipeline_t *p = b->p;
    if (p->destroying) { /* torn down: only an abandoned batch is no one else's to free */
        if (b->abandoned)
            cw_batch_free(b);
        return;
    }
    if (b->abandoned) { /* a resync gave it up while its events were with the database */
        if (!err)
            rollback_on(b->store);
        cw_batch_free(b);
        if (!committing(p))
            commits_settled(p);
        return;
    }
    if (err) {
        if (b == p->next) {
            /* the batch before it is still committing on the other connection: let it
             * finish, then start again from what is stored */
            p->next = NULL;
            cw_batch_free(b);
            p->resync_after = true;
            return;
        }
        commit_failed(p, err, sqlstate, msg);
        return;
    }
    CW_ASSERT(b->phase == BATCH_EVENTS_SENT && (b == p->inflight || b == p->next));
    b->phase = BATCH_APPLIED;
    int64_t *expect = cw_malloc(sizeof(int64_t) * (size_t)(p->nslots ? p->nslots : 1));
    apply_batch(p, b, expect);
    cw_store_job_t *job = build_commit_job(p, b, expect);
    free(expect);
    if (b == p->inflight) {
        cw_store_submit_next(b->store, job);
    } else { /* the batch before is committing: this one's commit waits for its outcome */
        b->held = job;
    }
    /* the second connection may take the next batch while this one commits */
    if (b == p->inflight && p->building && p->building->touched &&
        (cw_batch_size(p->building) >= p->cfg->batch_max_events ||
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
    else if (!p->next && p->inflight->phase == BATCH_APPLIED && !p->resync_after)
        st = p->inflight->store == p->bstore[0] ? p->bstore[1] : p->bstore[0];
    else
        return; /* called again when a commit finishes */
    if (!cw_store_ready(st))
        return; /* the resync on reconnect will discard and re-read it */
    evtimer_del(p->ev_batch_timer);
    batch_t *b = p->building;
    CW_ASSERT(b->phase == BATCH_BUILDING && !b->held && (!p->inflight || !p->next));
    b->p = p;
    b->store = st;
    b->phase = BATCH_EVENTS_SENT;
    b->commit_started = cw_mono_ms();
    if (!p->inflight)
        p->inflight = b;
    else
        p->next = b;
    p->building = cw_batch_new(p->nslots);

    cw_store_job_t *job = cw_store_job_new(commit1_done, b);
    cw_store_job_add0(job, "BEGIN", NULL);
    cw_ledger_events_stmt(p, b, job, events_result);
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
        cw_outbox_dead_letter(p, PQgetvalue(res, r, 2), (int32_t)atoi(PQgetvalue(res, r, 3)),
                            cw_load_parse_i64(PQgetvalue(res, r, 4)), PQgetvalue(res, r, 0),
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
        cw_outbox_alert(p, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), val, len);
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

static void gaps_open_result(void *arg, const PGresult *res);

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
        /* [N] offset gaps found before (by any member) and not acknowledged yet */
        cw_store_job_t *gj = cw_store_job_new(NULL, p);
        cw_store_job_add0(gj, "SELECT count(*) FROM offset_gaps WHERE acknowledged_at IS NULL",
                          gaps_open_result);
        cw_store_submit(p->store, gj);
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
                                         cw_load_parse_i64(PQgetvalue(res, r, 2)),
                                         (uint64_t)cw_load_parse_i64(PQgetvalue(res, r, 3)),
                                         PQgetvalue(res, r, 1)[0] == 't');
}

static void silences_result(void *arg, const PGresult *res)
{
    cw_pipeline_t *p = arg;
    int n = PQntuples(res);
    cw_silence_t *s = cw_calloc((size_t)n + 1, sizeof(cw_silence_t));
    for (int r = 0; r < n; r++) {
        const char *sev = PQgetvalue(res, r, 4);
        s[r] = (cw_silence_t){.id = cw_load_parse_i64(PQgetvalue(res, r, 0)),
                              .rule = PQgetvalue(res, r, 1),
                              .area = PQgetvalue(res, r, 2),
                              .case_id = PQgetvalue(res, r, 3),
                              .min_severity = !strcmp(sev, "critical")  ? CW_SEV_CRITICAL
                                              : !strcmp(sev, "warning") ? CW_SEV_WARNING
                                              : !strcmp(sev, "info")    ? CW_SEV_INFO
                                                                        : 0,
                              .starts_ms = cw_load_parse_i64(PQgetvalue(res, r, 5)),
                              .ends_ms = cw_load_parse_i64(PQgetvalue(res, r, 6))};
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

_Static_assert(CW_PIPELINE_PRUNE_KINDS == CW_PRUNE__COUNT, "one counter per prune kind");

static void prune_done(void *arg, cw_err_t err, const char *sqlstate, const char *msg)
{
    cw_pipeline_t *p = arg;
    if (p->destroying)
        return;
    p->prune_inflight = false;
    int64_t wait = p->cfg->retention_interval_ms;
    if (err) {
        /* not a reason to stop: the next round tries again */
        cw_log_warn("retention: prune failed (SQLSTATE %s): %s", sqlstate ? sqlstate : "?",
                    msg ? msg : cw_err_str(err));
    } else {
        p->stats.prune_rounds++;
        long long total = 0;
        bool more = false;
        for (int k = 0; k < CW_PRUNE__COUNT; k++) {
            if (p->prune_counts.n[k] <= 0)
                continue;
            p->stats.pruned[k] += (uint64_t)p->prune_counts.n[k];
            total += p->prune_counts.n[k];
            more |= p->prune_counts.n[k] >= p->cfg->retention_batch;
        }
        if (total)
            cw_log_debug("retention: pruned %lld row(s)%s", total, more ? ", more to go" : "");
        if (more) /* a backlog (first run, or after a pause): go on soon, in small steps, the
                   * connection busy with pruning at most a fifth of the time (it also carries
                   * loads, metric snapshots and heartbeats) */
            wait = 4 * (cw_mono_ms() - p->prune_started) > 200 ? 4 * (cw_mono_ms() - p->prune_started)
                                                               : 200;
    }
    p->next_prune = cw_mono_ms() + wait;
}

/* [I] One prune round when due: only the group's leader prunes (one member is enough), on
 * the main connection when it has nothing else to do; never on a batch connection. */
static void maybe_prune(cw_pipeline_t *p)
{
    if (p->prune_inflight || p->cfg->retention_interval_ms <= 0 || cw_mono_ms() < p->next_prune)
        return;
    if (!is_leader(p) || !cw_store_ready(p->store) || cw_store_busy(p->store) ||
        (p->state != P_IDLE && p->state != P_RUNNING))
        return;
    cw_store_job_t *job = cw_store_job_new(prune_done, p);
    if (!cw_retention_add(job, p->cfg, cw_pipeline_now(p), &p->prune_counts)) {
        cw_store_job_drop(job);
        p->next_prune = cw_mono_ms() + p->cfg->retention_interval_ms;
        return;
    }
    p->prune_inflight = true;
    p->prune_started = cw_mono_ms();
    cw_store_submit(p->store, job);
}

static void on_housekeeping(evutil_socket_t fd, short what, void *arg)
{
    cw_pipeline_t *p = arg;
    maybe_prune(p);
    /* record confirmed dead letters when no batch is coming to carry the marks */
    if (p->nmarks && !committing(p) && cw_store_ready(p->store) && !cw_store_busy(p->store) &&
        (p->state == P_IDLE || p->state == P_RUNNING) &&
        !(p->building && p->building->touched)) {
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        cw_ledger_marks_stmt(p, job);
        cw_store_submit(p->store, job);
    }
    if (p->nalert_marks && !committing(p) && cw_store_ready(p->store) && !cw_store_busy(p->store) &&
        (p->state == P_IDLE || p->state == P_RUNNING) &&
        !(p->building && p->building->touched) && !alerts_waiting(p)) {
        cw_store_job_t *job = cw_store_job_new(NULL, NULL);
        cw_ledger_alert_marks_stmt(p, job);
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
        cw_batch_free(p->building); /* not stored: read again by whoever consumes next */
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
            cw_ledger_marks_stmt(p, job);
            cw_ledger_alert_marks_stmt(p, job);
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
    char text[CW_RULE__COUNT * 96 + 64];
    size_t len = 0;
    for (int i = 0; i < CW_RULE__COUNT; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%.80s=%u;",
                                r->rule[i].name ? r->rule[i].name : "", r->rule[i].version);
    snprintf(text + len, sizeof(text) - len, "repeat=%lld", (long long)r->repeat_ms);
    snprintf(out, n, "r%016llx", (unsigned long long)cw_hash_str(text));
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
    int t = cw_load_topic_index(p, topic);
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
    p->ev_merge_timer = evtimer_new(base, on_merge_timer, p);
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

    p->publisher = cw_publisher_new(base, cfg, cw_outbox_on_delivery, p, errstr, errsz);
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
    cw_batch_free(p->building);
    cw_batch_free(p->inflight);
    cw_batch_free(p->next);
    slots_free(p);
    cw_marks_free(p->marks, p->nmarks);
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
    if (p->ev_merge_timer)
        event_free(p->ev_merge_timer);
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
