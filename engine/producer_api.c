/*
 * producer_api.c — rill_producer_t: the public producer that generators, demos and tests use
 * to write input, with librdkafka kept behind the handle.
 *
 * DESIGN
 * Delivery failures are counted by the delivery-report callback and reported by the next
 * flush, so a writer learns that a record was lost instead of finding out from the output.
 */
#include "clock_int.h"
#include "conf_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

struct rill_producer_s {
    const rill__logger_t *log; /* first: the client's opaque (conf_int.h); &own */
    rill__logger_t own;        /* the conf's logger as it was: the conf may go first */
    char app_id[256];
    rd_kafka_t *rk;
    int failed;
    char first_error[256];
};

_Static_assert(offsetof(rill_producer_t, log) == 0, "a client's opaque: logger first");

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    rill_producer_t *p = opaque;
    if (msg->err && !p->failed++)
        snprintf(p->first_error, sizeof(p->first_error), "delivery to %s failed: %s",
                 rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
}

rill_producer_t *rill_producer_new(const char *bootstrap_servers, const rill_conf_t *conf,
                                   char *errstr, size_t errstr_size) {
    rill_producer_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    rd_kafka_conf_t *kc =
        conf ? rill__conf_kafka(conf, RILL_CLIENT_PRODUCER, bootstrap_servers, errstr, errstr_size)
             : rd_kafka_conf_new();
    if (!kc) {
        free(p);
        return NULL;
    }
    if (!conf)
        rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap_servers, NULL, 0);
    const rill__logger_t *lg = conf ? rill__conf_logger(conf) : NULL;
    snprintf(p->app_id, sizeof(p->app_id), "%s", lg ? lg->app_id : "-");
    p->own.app_id = p->app_id;
    p->own.level = lg ? lg->level : RILL__LOG_INFO;
    p->log = &p->own;
    /* murmur2 unless conf names another partitioner (tests write input as other clients do). */
    if (!conf ||
        (!rill_conf_get(conf, "partitioner") && !rill_conf_get(conf, "producer.partitioner")))
        rd_kafka_conf_set(kc, "partitioner", "murmur2_random", NULL, 0);
    rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
    if (!conf || (!rill_conf_get(conf, "linger.ms") && !rill_conf_get(conf, "producer.linger.ms")))
        rd_kafka_conf_set(kc, "linger.ms", "20", NULL, 0); /* a default, not an override */
    rd_kafka_conf_set_opaque(kc, p);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!p->rk) {
        rd_kafka_conf_destroy(kc);
        free(p);
        return NULL;
    }
    return p;
}

rill_err_t rill_producer_send(rill_producer_t *p, const char *topic, int32_t partition,
                              const void *key, size_t key_len, const void *value, size_t value_len,
                              int64_t timestamp) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_TIMESTAMP(timestamp),
            RD_KAFKA_V_END);
        if (!err)
            return RILL_OK;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return RILL_ERR_KAFKA;
        rd_kafka_poll(p->rk, 10);
    }
}

rill_err_t rill_producer_flush(rill_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    if (err) {
        if (errstr)
            snprintf(errstr, errstr_size, "flush: %s (%d records still queued)",
                     rd_kafka_err2str(err), rd_kafka_outq_len(p->rk));
        return RILL_ERR_KAFKA;
    }
    if (p->failed) {
        if (errstr)
            snprintf(errstr, errstr_size, "%d record(s) not delivered; first: %s", p->failed,
                     p->first_error);
        return RILL_ERR_KAFKA;
    }
    return RILL_OK;
}

void rill_producer_destroy(rill_producer_t *p) {
    if (!p)
        return;
    rd_kafka_flush(p->rk, 5000);
    rd_kafka_destroy(p->rk);
    free(p);
}

/* Errors a partition shows while its topic is new or its leader moves: asked again. */
static bool end_offset_retriable(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
           err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
}

rill_err_t rill_producer_end_offset(rill_producer_t *p, const char *topic, int32_t partition,
                                    int timeout_ms, int64_t *endp, char *errstr,
                                    size_t errstr_size) {
    int64_t lo = 0, hi = 0, deadline = rill__now_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    for (;;) {
        int64_t left = deadline - rill__now_ms();
        err = rd_kafka_query_watermark_offsets(p->rk, topic, partition, &lo, &hi,
                                               (int)(left > 0 ? left : 0));
        if (!err || !end_offset_retriable(err) || rill__now_ms() + 100 >= deadline)
            break;
        rd_kafka_poll(p->rk, 100); /* serves delivery reports while it waits */
    }
    if (err) {
        snprintf(errstr, errstr_size, "end offset of %s [%d]: %s", topic, (int)partition,
                 rd_kafka_err2str(err));
        return RILL_ERR_KAFKA;
    }
    *endp = hi;
    return RILL_OK;
}
