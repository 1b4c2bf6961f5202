/*
 * consumer.c — librdkafka consumer-group member driven by the libevent loop.
 *
 * Owns the rd_kafka_t, its consumer queue, the wakeup pipe and the loop events. All librdkafka
 * callbacks (rebalance, error, log) run inside rd_kafka_consumer_poll(), i.e. on the loop
 * thread, because logs are queued (log.queue=true) and the main queue is forwarded to the
 * consumer queue (rd_kafka_poll_set_consumer).
 */
#include "casewatch/consumer.h"
#include "casewatch/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PER_WAKEUP 5000 /* messages handled per loop turn before yielding */

struct cw_consumer {
    struct event_base *base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int pipefd[2];
    struct event *ev_pipe, *ev_tick, *ev_again;
    cw_consumer_cbs_t cbs;
    bool closing;
    bool paused;
    bool held; /* back-pressure: leave messages in librdkafka's queue for now */
    rd_kafka_resp_err_t last_err; /* to log a broker outage once, not per retry */
    rd_kafka_topic_t **rkts; /* a handle per input topic: their metadata (partition counts)
                              * is kept and reported in the statistics before any assignment */
    int nrkts;
};

static void drain(cw_consumer_t *c);

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cw_consumer_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        cw_log_info("kafka: %d partition(s) assigned; loading their state", parts->cnt);
        if (c->closing) { /* nothing to do with them any more */
            rd_kafka_assign(rk, NULL);
            return;
        }
        c->cbs.on_assign(c->cbs.arg, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        cw_log_info("kafka: %d partition(s) revoked", parts->cnt);
        c->cbs.on_revoke(c->cbs.arg, parts);
        if (c->closing)
            rd_kafka_assign(rk, NULL);
    } else {
        cw_log_warn("kafka: rebalance error: %s", rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cw_consumer_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__RESOLVE) {
        if (c->last_err != err)
            cw_log_warn("kafka: broker unreachable (%s); retrying", reason);
        c->last_err = err;
        return;
    }
    if (rd_kafka_fatal_error(rk, NULL, 0))
        cw_log_error("kafka: fatal error: %s: %s", rd_kafka_err2name(err), reason);
    else
        cw_log_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    cw_log_level_t lvl = level <= 3 ? CW_LOG_ERROR : level == 4 ? CW_LOG_WARN
                         : level <= 6 ? CW_LOG_INFO : CW_LOG_DEBUG;
    cw_log_at(lvl, "librdkafka %s: %s", fac, buf);
}

/* served on the loop thread: the main queue is forwarded to the consumer queue */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    cw_consumer_t *c = opaque;
    if (c->cbs.on_stats)
        c->cbs.on_stats(c->cbs.arg, json, len);
    return 0; /* librdkafka frees json */
}

static void handle_message(cw_consumer_t *c, rd_kafka_message_t *m)
{
    if (!m->err) {
        if (c->last_err) {
            cw_log_info("kafka: receiving again");
            c->last_err = 0;
        }
        c->cbs.on_message(c->cbs.arg, m);
        return;
    }
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        char why[256];
        snprintf(why, sizeof(why), "%s", rd_kafka_message_errstr(m));
        c->cbs.on_offset_reset(c->cbs.arg, topic, m->partition, m->offset, why);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    if (m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || m->err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        if (c->last_err != m->err)
            cw_log_warn("kafka: broker unreachable (%s); retrying", rd_kafka_message_errstr(m));
        c->last_err = m->err;
        return;
    }
    cw_log_warn("kafka: consumer error on %s [%d]: %s", topic, m->partition,
                rd_kafka_message_errstr(m));
}

static void drain(cw_consumer_t *c)
{
    if (c->held && !c->closing)
        return;
    for (int i = 0; i < MAX_PER_WAKEUP && !(c->held && !c->closing); i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m)
            return;
        handle_message(c, m);
        rd_kafka_message_destroy(m);
    }
    /* more is waiting: come back after the loop has served everything else */
    event_active(c->ev_again, 0, 0);
}

static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
    cw_consumer_t *c = arg;
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    drain(c);
}

static void on_again(evutil_socket_t fd, short what, void *arg)
{
    drain(arg);
}

cw_consumer_t *cw_consumer_new(struct event_base *base, const cw_config_t *cfg,
                               const cw_consumer_cbs_t *cbs, char *errstr, size_t errsz)
{
    /* Defaults the user may override in [kafka] / [kafka.consumer]: no commits at all (offsets
     * live in PostgreSQL); range assignment keeps co-partitioned topics' partition N together
     * on one member; out-of-range positions are reported, not silently reset. */
    static const char *const defaults[] = {
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "error",
        "partition.assignment.strategy", "range",
        "log.queue", "true",
        "client.id", "casewatchd",
        "fetch.max.bytes", "104857600",
        "max.partition.fetch.bytes", "10485760",
        /* a fetch with nothing new returns after this (the embedded broker always waits it
         * out): bounds how stale a lane's log end can be, which [daemon] merge_idle_ms covers */
        "fetch.wait.max.ms", "100",
        "queued.min.messages", "200000",
        "statistics.interval.ms", "1000", /* log ends for /metrics, /readyz; partition counts */
        NULL};
    rd_kafka_conf_t *conf = cw_config_kafka_conf(cfg, true, defaults, errstr, errsz);
    if (!conf)
        return NULL;
    /* these must hold whatever the file says */
    if (rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errsz) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errsz)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    cw_consumer_t *c = cw_calloc(1, sizeof(*c));
    c->base = base;
    c->cbs = *cbs;
    c->pipefd[0] = c->pipefd[1] = -1;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);

    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsz);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    rd_kafka_set_log_queue(c->rk, NULL); /* logs to the main queue, forwarded below */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);

    if (pipe2(c->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(errstr, errsz, "pipe: %m");
        cw_consumer_destroy(c);
        return NULL;
    }
    c->ev_pipe = event_new(base, c->pipefd[0], EV_READ | EV_PERSIST, on_pipe, c);
    c->ev_again = event_new(base, -1, 0, on_again, c);
    c->ev_tick = event_new(base, -1, EV_PERSIST, on_again, c);
    event_add(c->ev_pipe, NULL);
    struct timeval tick = {0, 200000};
    event_add(c->ev_tick, &tick);
    rd_kafka_queue_io_event_enable(c->queue, c->pipefd[1], "1", 1);

    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(cfg->n_event_topics);
    for (int i = 0; i < cfg->n_event_topics; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->event_topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    c->rkts = cw_calloc((size_t)(cfg->n_event_topics ? cfg->n_event_topics : 1),
                        sizeof(rd_kafka_topic_t *));
    for (int i = 0; !err && i < cfg->n_event_topics; i++)
        if ((c->rkts[c->nrkts] = rd_kafka_topic_new(c->rk, cfg->event_topics[i], NULL)))
            c->nrkts++;
    if (err) {
        snprintf(errstr, errsz, "subscribe: %s", rd_kafka_err2str(err));
        cw_consumer_destroy(c);
        return NULL;
    }
    /* anything queued before io events were enabled would never wake us */
    event_active(c->ev_again, 0, 0);
    return c;
}

cw_err_t cw_consumer_assign(cw_consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, parts);
    if (err) {
        cw_log_error("kafka: assign failed: %s", rd_kafka_err2str(err));
        return CW_ERR_KAFKA;
    }
    /* an application pause (whole, or of one partition) outlives a re-assignment: lift it */
    rd_kafka_resume_partitions(c->rk, (rd_kafka_topic_partition_list_t *)parts);
    c->paused = false;
    return CW_OK;
}

cw_err_t cw_consumer_unassign(cw_consumer_t *c)
{
    rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, NULL);
    if (err) {
        cw_log_error("kafka: unassign failed: %s", rd_kafka_err2str(err));
        return CW_ERR_KAFKA;
    }
    return CW_OK;
}

void cw_consumer_pause(cw_consumer_t *c, bool pause)
{
    if (c->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(c->rk, parts);
    else
        rd_kafka_resume_partitions(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    c->paused = pause;
}

void cw_consumer_commit_for_monitoring(cw_consumer_t *c,
                                       const rd_kafka_topic_partition_list_t *offsets)
{
    if (!offsets->cnt || c->closing)
        return;
    /* asynchronous, and its outcome does not matter: PostgreSQL holds the truth */
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, offsets, 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        cw_log_debug("kafka: committing offsets for monitoring: %s", rd_kafka_err2str(err));
}

void cw_consumer_pause_partition(cw_consumer_t *c, const char *topic, int32_t partition,
                                 bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (err)
        cw_log_warn("kafka: %s %s [%d]: %s", pause ? "pause" : "resume", topic, partition,
                    rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

void cw_consumer_hold(cw_consumer_t *c, bool hold)
{
    if (c->held == hold)
        return;
    c->held = hold;
    if (!hold) /* the pipe only signals empty -> non-empty: look again ourselves */
        event_active(c->ev_again, 0, 0);
}

void cw_consumer_seek_beginning(cw_consumer_t *c, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 0);
    if (e) {
        cw_log_error("kafka: seek %s [%d] to beginning failed: %s", topic, partition,
                     rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void cw_consumer_close_start(cw_consumer_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, c->queue);
    if (e) {
        cw_log_warn("kafka: close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    event_active(c->ev_again, 0, 0);
}

bool cw_consumer_closed(cw_consumer_t *c)
{
    return rd_kafka_consumer_closed(c->rk);
}

void cw_consumer_destroy(cw_consumer_t *c)
{
    if (!c)
        return;
    if (c->queue)
        rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
    if (c->rk && !c->closing) {
        /* close without blocking for long: a bounded wait for the group to let go (when a
         * close was already attempted and timed out, do not wait again) */
        cw_consumer_close_start(c);
        int64_t until = cw_mono_ms() + 2000;
        while (!rd_kafka_consumer_closed(c->rk) && cw_mono_ms() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);
            if (m)
                rd_kafka_message_destroy(m);
        }
    }
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    for (int i = 0; i < c->nrkts; i++)
        rd_kafka_topic_destroy(c->rkts[i]);
    free(c->rkts);
    if (c->rk)
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (c->ev_pipe)
        event_free(c->ev_pipe);
    if (c->ev_again)
        event_free(c->ev_again);
    if (c->ev_tick)
        event_free(c->ev_tick);
    if (c->pipefd[0] >= 0)
        close(c->pipefd[0]);
    if (c->pipefd[1] >= 0)
        close(c->pipefd[1]);
    free(c);
}

rd_kafka_t *cw_consumer_handle(cw_consumer_t *c)
{
    return c->rk;
}
