/*
 * dlq_writer.c — dead letters from outside the stream threads (dlq_writer_int.h).
 *
 * DESIGN
 * The letter itself (headers, the cut to the topic's limit) comes from dlq.c, as a stream
 * thread's does; this file adds only the producer: idempotent, not transactional (its
 * owner commits nothing to Kafka), made when the first bad record comes, so a reader that
 * never meets one makes no client.
 */
#include "dlq_writer_int.h"

#include <stddef.h>
#include <stdio.h>

#define DLQ_FLUSH_MS 30000

_Static_assert(offsetof(rill__dlq_writer_t, log) == 0, "a client's opaque: logger first");

void rill__dlq_writer_init(rill__dlq_writer_t *w, rill_app_t *app, const char *node) {
    *w = (rill__dlq_writer_t){.log = app->log, .app = app, .node = node};
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    rill__dlq_writer_t *w = opaque;
    if (msg->err)
        __atomic_store_n(&w->failed, 1, __ATOMIC_RELAXED);
}

static int open_producer(rill__dlq_writer_t *w, char *errstr, size_t errstr_size) {
    rill_app_t *app = w->app;
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_PRODUCER, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return -1;
    rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
    rill__producer_max_bytes(app, kc);
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    if (!(w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    w->rkt = rd_kafka_topic_new(w->producer, app->set.dlq_topic, NULL);
    if (!w->rkt)
        snprintf(errstr, errstr_size, "dead-letter topic \"%s\": %s", app->set.dlq_topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
    return w->rkt ? 0 : -1;
}

int rill__dlq_write(rill__dlq_writer_t *w, const rill__dlq_src_t *src, const char *reason,
                    char *errstr, size_t errstr_size) {
    if (rill__dlq_refused(w->app, src, w->node, reason)) {
        snprintf(errstr, errstr_size, "%s", reason);
        return -1;
    }
    if (!w->producer && open_producer(w, errstr, errstr_size))
        return -1;
    size_t key_len, value_len;
    rd_kafka_headers_t *hdrs = rill__dlq_letter(w->app, w->app->dlq_max_bytes, src, w->node, reason,
                                                1, &key_len, &value_len);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        w->producer, RD_KAFKA_V_RKT(w->rkt), RD_KAFKA_V_KEY(src->key, key_len),
        RD_KAFKA_V_VALUE((void *)src->value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(src->timestamp > 0 ? src->timestamp : 0), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        snprintf(errstr, errstr_size, "%s: dead-letter record: %s", w->node, rd_kafka_err2str(err));
        return -1;
    }
    w->pending = true;
    return 0;
}

int rill__dlq_writer_sync(rill__dlq_writer_t *w, char *errstr, size_t errstr_size) {
    if (!w->pending)
        return 0;
    rd_kafka_flush(w->producer, DLQ_FLUSH_MS);
    if (rd_kafka_outq_len(w->producer) > 0 || __atomic_load_n(&w->failed, __ATOMIC_RELAXED)) {
        snprintf(errstr, errstr_size,
                 "%s: a dead-letter record could not be delivered to "
                 "\"%s\"",
                 w->node, w->app->set.dlq_topic);
        return -1;
    }
    w->pending = false;
    return 0;
}

void rill__dlq_writer_poll(rill__dlq_writer_t *w) {
    if (w->producer)
        rd_kafka_poll(w->producer, 0);
}

void rill__dlq_writer_close(rill__dlq_writer_t *w) {
    if (!w->producer)
        return;
    rd_kafka_flush(w->producer, DLQ_FLUSH_MS);
    if (w->rkt)
        rd_kafka_topic_destroy(w->rkt);
    rd_kafka_destroy(w->producer);
    w->producer = NULL;
    w->rkt = NULL;
}
