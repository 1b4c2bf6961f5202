/*
 * batch.c — the batch record: its events, dead letters, anomalies and alert notifications, the
 * per-slot next offsets, and the event-id set that drops in-batch duplicates and finds the events
 * the database reports new; dead-letter records built from a Kafka message. Pure memory: no I/O.
 */
#include "batch.h"
#include "casewatch/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

batch_t *cw_batch_new(int nslots)
{
    batch_t *b = cw_calloc(1, sizeof(*b));
    b->nslots = nslots;
    b->part_next = cw_malloc(sizeof(int64_t) * (size_t)(nslots ? nslots : 1));
    for (int i = 0; i < nslots; i++)
        b->part_next[i] = -1;
    return b;
}

void cw_dead_letter_fini(dead_letter_t *d)
{
    free(d->detail);
    free(d->topic);
    free(d->key);
    free(d->payload);
    if (d->headers)
        rd_kafka_headers_destroy(d->headers);
}

void cw_batch_free(batch_t *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->nev; i++)
        cw_event_fini(&b->evs[i].ev);
    for (int i = 0; i < b->ndl; i++)
        cw_dead_letter_fini(&b->dls[i]);
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

int cw_batch_size(const batch_t *b)
{
    return b->nev + b->ndl;
}


const char *cw_batch_ev_id(const batch_t *b, int i)
{
    return b->evs[i].ev.pb->event_id;
}

/* The index of the batch's event with this id, or -1. */
int cw_batch_id_find(const batch_t *b, const char *id)
{
    if (!b->idcap)
        return -1;
    for (size_t j = cw_hash_str(id) & (b->idcap - 1); b->ids[j]; j = (j + 1) & (b->idcap - 1))
        if (!strcmp(cw_batch_ev_id(b, b->ids[j] - 1), id))
            return b->ids[j] - 1;
    return -1;
}

/* Insert id, the id of the event about to become evs[nev], into the batch's id set; false
 * when it was already there. */
bool cw_batch_id_add(batch_t *b, const char *id)
{
    if (cw_batch_id_find(b, id) >= 0)
        return false;
    if ((b->nids + 1) * 2 > b->idcap) {
        size_t ncap = b->idcap ? b->idcap * 2 : 1024;
        int *n = cw_calloc(ncap, sizeof(int));
        for (size_t i = 0; i < b->idcap; i++) {
            if (!b->ids[i])
                continue;
            size_t j = cw_hash_str(cw_batch_ev_id(b, b->ids[i] - 1)) & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = b->ids[i];
        }
        free(b->ids);
        b->ids = n;
        b->idcap = ncap;
    }
    size_t j = cw_hash_str(id) & (b->idcap - 1);
    while (b->ids[j])
        j = (j + 1) & (b->idcap - 1);
    b->ids[j] = b->nev + 1;
    b->nids++;
    return true;
}

void cw_held_fini(held_t *h)
{
    if (h->dead)
        cw_dead_letter_fini(&h->dl);
    else
        cw_event_fini(&h->ev);
}

/* A dead letter's record of message m (copied: key, payload, headers). */
void cw_dead_letter_from(dead_letter_t *d, const rd_kafka_message_t *m, cw_reject_t reason,
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
void cw_dl_mark_add(cw_pipeline_t *p, dl_ref_t *ref)
{
    if (p->nmarks == p->capmarks) {
        p->capmarks = p->capmarks ? p->capmarks * 2 : 64;
        p->marks = cw_realloc(p->marks, sizeof(dl_ref_t) * (size_t)p->capmarks);
    }
    p->marks[p->nmarks++] = *ref;
    free(ref);
}

void cw_marks_free(dl_ref_t *marks, int n)
{
    for (int i = 0; i < n; i++)
        free(marks[i].topic);
    free(marks);
}
