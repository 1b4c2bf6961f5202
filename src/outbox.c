/*
 * outbox.c — publishing what a batch committed: dead letters (original key, bytes and headers,
 * with the reason) and alert notifications (keyed by scope, with their id and the historic
 * flag as headers) through the publisher, and the delivery reports that turn into marks
 * (published_at, sent_at) for the next commit.
 */
#include "outbox.h"
#include "batch.h"
#include "casewatch/log.h"
#include "casewatch/v1/alert.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cw_outbox_dead_letter(cw_pipeline_t *p, const char *topic, int32_t partition, int64_t offset,
                           const char *reason, const char *detail, const void *key, size_t keylen,
                           const void *payload, size_t len, rd_kafka_headers_t *orig_headers)
{
    rd_kafka_headers_t *h =
        orig_headers ? rd_kafka_headers_copy(orig_headers) : rd_kafka_headers_new(5);
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
    cw_err_t err = cw_publisher_send(p->publisher, p->cfg->dead_letter_topic, key, keylen, payload,
                                     len, h, ref);
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

void cw_outbox_on_delivery(void *arg, void *opaque, rd_kafka_resp_err_t err)
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
    cw_dl_mark_add(p, ref);
}

void cw_outbox_alert(cw_pipeline_t *p, const char *alert_id, const char *key, const void *payload,
                     size_t len)
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
