/*
 * pipeline_int.h — the ingest pipeline's own types, shared by its modules and by nobody else
 * (not installed, not included outside src/): the pipeline (pipeline.c: the state machine,
 * rebalance, consuming, flushing, stopping), its batches (batch.c), the statements it writes
 * and loads with (ledger.c, loader.c), its outputs (outbox.c) and the alert wire format
 * (alertmsg.c). The arrows go one way: pipeline.c calls these; they call the store, the
 * publisher, the casebook and the alerts, never back into pipeline.c.
 */
#ifndef CASEWATCH_PIPELINE_INT_H
#define CASEWATCH_PIPELINE_INT_H

#include "casewatch/pipeline.h"
#include "casewatch/alerts.h"
#include "casewatch/casebook.h"
#include "casewatch/consumer.h"
#include "casewatch/deadlines.h"
#include "casewatch/event.h"
#include "casewatch/partmap.h"
#include "casewatch/publisher.h"
#include "casewatch/retention.h"
#include "casewatch/rules.h"
#include "casewatch/snapshots.h"
#include "casewatch/store.h"
#include "casewatch/watch.h"
#include "casewatch/workdays.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

typedef enum pstate { P_IDLE, P_LOADING, P_RUNNING, P_REVOKING, P_STOPPING, P_STOPPED } pstate_t;

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
    int64_t arrived_mono; /* when it was read (cw_mono_ms) */
    cw_event_t ev;
    dead_letter_t dl;
} held_t;

typedef struct part_slot {
    char *topic;
    int32_t partition;
    int64_t committed;    /* next_offset stored in PostgreSQL: the fence's expected value */
    int64_t consumed;     /* next offset expected from Kafka */
    int64_t max_occurred; /* event clock: newest occurred_at applied from this partition */
    int64_t applied;      /* next offset after everything applied (events, duplicates,
                           * dead letters) */
    int64_t high;         /* log end from librdkafka statistics; -1 = not known yet */
    bool live;            /* applied up to its log end (as of the batch being applied) */
    /* [L] read from Kafka and decoded, not yet in a batch: a partition's lanes (its slots,
     * one per input topic) go into batches in cw_merge_next() order, so the partition's time
     * passes per event whatever Kafka's fetch sizes (drain()) */
    held_t *q;
    int qhead, qn, qcap;
    bool qpaused; /* fetching paused: its queue is full */
    int lane;     /* its topic's index in cfg->event_topics: the merge's lane order */
    bool gap_first_due; /* [N] an offset gap was found: record the first record read after it */
    /* the latest occurred_at another lane released while this one was empty and taken as at
     * its log end (-1: none since its last message): a message read later that occurred
     * before it was merged out of order */
    int64_t passed_occ;
    int64_t read_occ; /* the newest occurred_at read from it (-1: none since its assignment) */
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
    char *json;    /* for the alert hook (admin API's live stream); NULL without one */
    bool historic; /* found after the fact: published as history (header casewatch.historic) */
} out_alert_t;

/* Where a batch is: building (taking messages), its events sent (round trip 1 in flight),
 * applied to memory (its commit sent, or held until the batch before it has committed). */
typedef enum batch_phase { BATCH_BUILDING, BATCH_EVENTS_SENT, BATCH_APPLIED } batch_phase_t;

typedef struct batch {
    struct cw_pipeline *p;
    cw_store_t *store; /* the connection its transaction runs on */
    batch_phase_t phase;
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
    int nlanes;     /* partition numbers covered: max owned partition + 1 */
    uint64_t gen;   /* bumped by every assignment change: stale loads are ignored */
    bool need_load; /* owned partitions must be (re)loaded before consuming */
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
    int dl_pending; /* dead letters handed to the publisher, not yet reported */

    struct event *ev_batch_timer, *ev_flush_now, *ev_housekeeping, *ev_stop_poll;
    struct event *ev_merge_timer; /* a merge held back for a lane at its end (drain()) */
    int64_t merge_due_mono;       /* when ev_merge_timer fires (0: not armed) */
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
    bool member_joined; /* our row is in: this group owns the database */
    bool claim_inflight;
    bool take_over;   /* --take-over-group: drop another group's claim */
    bool rules_agree; /* our rule set is the group's: rules are evaluated */
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
    int64_t retry_at; /* cw_mono_ms() before which no reload starts */
    uint64_t rng;
    struct event *ev_retry;

    /* [I] the retention prune: one round at a time on the main connection */
    bool prune_inflight;
    int64_t next_prune; /* cw_mono_ms() of the next round */
    int64_t prune_started; /* cw_mono_ms() when the round in flight was sent */
    cw_prune_counts_t prune_counts;

    cw_pipeline_stats_t stats;
    cw_pipeline_alert_fn on_alert;
    void *on_alert_arg;
};

/* a partition load in flight: stale once the assignment changed (gen) */
typedef struct load_ctx {
    cw_pipeline_t *p;
    uint64_t gen;
} load_ctx_t;

/* a timestamptz column as epoch milliseconds, 0 for NULL */
#define MS(col) "coalesce((extract(epoch FROM " col ") * 1000)::bigint, 0)"

/* Partition N's slots in lane order (NULL if none is owned). */
static inline const part_lanes_t *lanes_of(const cw_pipeline_t *p, int32_t partition)
{
    if (partition < 0 || partition >= p->nlanes || !p->lanes[partition].n)
        return NULL;
    return &p->lanes[partition];
}

static inline int slot_find(const cw_pipeline_t *p, const char *topic, int32_t partition)
{
    const part_lanes_t *l = lanes_of(p, partition);
    for (int k = 0; l && k < l->n; k++)
        if (!strcmp(p->slots[l->slot[k]].topic, topic))
            return l->slot[k];
    return -1;
}

#endif
