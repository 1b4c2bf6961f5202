/*
 * publisher.c — idempotent librdkafka producer whose delivery reports arrive on the loop.
 *
 * Owns the rd_kafka_t, its main queue (io events on a pipe) and the pipe. Delivery reports
 * are served by rd_kafka_poll(rk, 0) from the pipe callback, so the owner's callback runs on
 * the loop thread like everything else.
 */
#include "casewatch/publisher.h"
#include "casewatch/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cw_publisher {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int pipefd[2];
    struct event *ev_pipe, *ev_tick;
    cw_publisher_dr_fn on_delivery;
    void *arg;
    rd_kafka_resp_err_t last_err;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    cw_publisher_t *p = opaque;
    if (m->err && m->err != p->last_err)
        cw_log_warn("kafka: delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err));
    p->last_err = m->err;
    if (p->on_delivery)
        p->on_delivery(p->arg, m->_private, m->err);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cw_publisher_t *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        if ((int)p->last_err != err)
            cw_log_warn("kafka producer: broker unreachable (%s); retrying", reason);
        p->last_err = err;
        return;
    }
    cw_log_warn("kafka producer: %s: %s", rd_kafka_err2name(err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    cw_log_level_t lvl = level <= 3 ? CW_LOG_ERROR : level == 4 ? CW_LOG_WARN
                         : level <= 6 ? CW_LOG_INFO : CW_LOG_DEBUG;
    cw_log_at(lvl, "librdkafka producer %s: %s", fac, buf);
}

static void serve(evutil_socket_t fd, short what, void *arg)
{
    cw_publisher_t *p = arg;
    char buf[256];
    if (fd >= 0)
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
}

cw_publisher_t *cw_publisher_new(struct event_base *base, const cw_config_t *cfg,
                                 cw_publisher_dr_fn on_delivery, void *arg, char *errstr,
                                 size_t errsz)
{
    /* idempotence keeps order and avoids broker-side duplicates on retry; an infinite message
     * timeout means a committed output is never given up on while the broker is away */
    static const char *const defaults[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "message.timeout.ms", "0",
        "linger.ms", "5",
        "log.queue", "true",
        "client.id", "casewatchd-publisher",
        NULL};
    rd_kafka_conf_t *conf = cw_config_kafka_conf(cfg, false, defaults, errstr, errsz);
    if (!conf)
        return NULL;
    cw_publisher_t *p = cw_calloc(1, sizeof(*p));
    p->pipefd[0] = p->pipefd[1] = -1;
    p->on_delivery = on_delivery;
    p->arg = arg;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsz);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    rd_kafka_set_log_queue(p->rk, NULL);
    p->queue = rd_kafka_queue_get_main(p->rk);
    if (pipe2(p->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(errstr, errsz, "pipe: %m");
        cw_publisher_destroy(p);
        return NULL;
    }
    p->ev_pipe = event_new(base, p->pipefd[0], EV_READ | EV_PERSIST, serve, p);
    p->ev_tick = event_new(base, -1, EV_PERSIST, serve, p);
    event_add(p->ev_pipe, NULL);
    struct timeval tick = {0, 250000};
    event_add(p->ev_tick, &tick);
    rd_kafka_queue_io_event_enable(p->queue, p->pipefd[1], "1", 1);
    return p;
}

cw_err_t cw_publisher_send(cw_publisher_t *p, const char *topic, const void *key, size_t keylen,
                           const void *value, size_t len, rd_kafka_headers_t *headers,
                           void *opaque)
{
    rd_kafka_resp_err_t err;
    if (headers)
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY((void *)key, keylen),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque),
                                RD_KAFKA_V_END);
    else
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY((void *)key, keylen),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return CW_ERR_AGAIN;
    if (err) {
        cw_log_error("kafka: produce to %s failed: %s", topic, rd_kafka_err2str(err));
        return CW_ERR_KAFKA;
    }
    return CW_OK;
}

int cw_publisher_inflight(cw_publisher_t *p)
{
    return rd_kafka_outq_len(p->rk);
}

void cw_publisher_flush(cw_publisher_t *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    serve(-1, 0, p);
}

void cw_publisher_destroy(cw_publisher_t *p)
{
    if (!p)
        return;
    if (p->queue) {
        rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(p->queue);
    }
    if (p->rk) {
        p->on_delivery = NULL; /* the owner may already be gone */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
        rd_kafka_destroy(p->rk);
    }
    if (p->ev_pipe)
        event_free(p->ev_pipe);
    if (p->ev_tick)
        event_free(p->ev_tick);
    if (p->pipefd[0] >= 0)
        close(p->pipefd[0]);
    if (p->pipefd[1] >= 0)
        close(p->pipefd[1]);
    free(p);
}
