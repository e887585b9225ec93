/*
 * producer.c — a stream thread's producer: creation (idempotent, or transactional under
 * exactly_once_v2), producing with backpressure, and delivery reports.
 *
 * DESIGN
 * Under at-least-once the producer is idempotent (no duplicates or reordering from its own
 * retries), and a failed delivery is remembered by the delivery-report callback so that the
 * next commit refuses to commit past it (docs/DESIGN.md, invariant 3). Under exactly_once_v2 the
 * producer is transactional with id "<application.id>-<instance>-<thread>": a transaction is opened
 * lazily by the first produce after a commit. The partitioner is murmur2, as in Java
 * clients, so that Rill and Kafka Streams producers place a key in the same partition.
 *
 * A record refused for good (rill__produce_err_permanent: too large, invalid, not
 * authorized, unknown topic) never stalls its partition: refused by producev(), the produce
 * fails and the node's caller dead-letters the input record; refused in a delivery report,
 * the output is remembered (refused.c) and the next commit rewinds instead of committing,
 * so that the input is dead-lettered when it comes again. A failed delivery of a
 * dead-letter or changelog record, or one that is not permanent, stops the app at the next
 * commit, which commits nothing.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool rill__produce_err_permanent(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return true;
    default:
        return false;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    rill__thread_t *thread = opaque;
    if (!msg->err && msg->_private) /* a changelog record: its store's token */
        rill__thread_store_delivered(thread, msg);
    if (!msg->err)
        return;
    if (!thread->delivery_errors)
        snprintf(thread->delivery_error, sizeof(thread->delivery_error),
                 "delivery of a record of %zu bytes to %s failed: %s", msg->key_len + msg->len,
                 rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
    thread->delivery_errors++;
    /* An output of a task: remembered, dead-lettered when its input comes again. A dead
     * letter or a changelog record cannot be handled that way. */
    if (rill__produce_err_permanent(msg->err) && !msg->_private && msg->rkt != thread->dlq_rkt &&
        strcmp(rd_kafka_topic_name(msg->rkt), thread->app->set.dlq_topic))
        rill__refused_add(thread, msg);
}

static int set(rd_kafka_conf_t *kc, const char *name, const char *value, char *errstr,
               size_t errstr_size) {
    return rd_kafka_conf_set(kc, name, value, errstr, errstr_size) == RD_KAFKA_CONF_OK ? 0 : -1;
}

rd_kafka_t *rill__producer_new(rill__thread_t *thread, char *errstr, size_t errstr_size) {
    rill_app_t *app = thread->app;
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_PRODUCER, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return NULL;
    char id[256];
    int eos = app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2;
    if (eos) {
        if (app->set.group_instance_id)
            snprintf(id, sizeof(id), "%s-%s-%d", app->set.application_id,
                     app->set.group_instance_id, thread->idx);
        else
            snprintf(id, sizeof(id), "%s-%d-%d", app->set.application_id, (int)getpid(),
                     thread->idx);
    }
    snprintf(errstr, errstr_size, "producer configuration");
    int user_partitioner =
        rill_conf_get(app->conf, "partitioner") || rill_conf_get(app->conf, "producer.partitioner");
    /* A process killed inside a transaction leaves it open until the broker times it out,
     * and read_committed readers of those partitions wait that long: keep it short, as
     * Kafka Streams does (10 s), unless the user chose. */
    int user_txn_timeout = rill_conf_get(app->conf, "transaction.timeout.ms") ||
                           rill_conf_get(app->conf, "producer.transaction.timeout.ms");
    if ((eos && !user_txn_timeout &&
         set(kc, "transaction.timeout.ms", "10000", errstr, errstr_size)) ||
        (!user_partitioner && set(kc, "partitioner", "murmur2_random", errstr, errstr_size)) ||
        set(kc, "enable.idempotence", "true", errstr, errstr_size) ||
        (eos && set(kc, "transactional.id", id, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    char txn_timeout[32];
    size_t txn_timeout_size = sizeof(txn_timeout);
    if (eos && rd_kafka_conf_get(kc, "transaction.timeout.ms", txn_timeout, &txn_timeout_size) ==
                   RD_KAFKA_CONF_OK)
        thread->txn_timeout_ms = strtoll(txn_timeout, NULL, 10);
    rill__producer_max_bytes(app, kc);
    char max_bytes[32];
    size_t max_bytes_size = sizeof(max_bytes);
    if (rd_kafka_conf_get(kc, "message.max.bytes", max_bytes, &max_bytes_size) == RD_KAFKA_CONF_OK)
        thread->producer_max_bytes = strtoll(max_bytes, NULL, 10);
    rd_kafka_conf_set_opaque(kc, thread); /* its logger first (stream_thread.c asserts) */
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    if (eos) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(rk, 60000);
        if (error) {
            snprintf(errstr, errstr_size, "init_transactions for \"%s\": %s", id,
                     rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    return rk;
}

static int begin_txn(rill__thread_t *thread) {
    rd_kafka_error_t *error = rd_kafka_begin_transaction(thread->producer);
    if (error) {
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx, "begin_transaction: %s",
                     rd_kafka_error_string(error));
        if (rd_kafka_error_is_fatal(error))
            thread->fenced = true;
        rd_kafka_error_destroy(error);
        return -1;
    }
    thread->txn_open = true;
    thread->txn_begun_ms = rill__now_ms();
    return 0;
}

int rill__produce(rill__thread_t *thread, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
                  size_t key_len, const void *value, size_t value_len, int64_t timestamp,
                  rd_kafka_headers_t *hdrs) {
    return rill__produce_opaque(thread, rkt, partition, key, key_len, value, value_len, timestamp,
                                hdrs, NULL);
}

int rill__produce_opaque(rill__thread_t *thread, rd_kafka_topic_t *rkt, int32_t partition,
                         const void *key, size_t key_len, const void *value, size_t value_len,
                         int64_t timestamp, rd_kafka_headers_t *hdrs, void *msg_opaque) {
    if (thread->app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2 && !thread->txn_open &&
        begin_txn(thread)) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return -1;
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            thread->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_TIMESTAMP(timestamp),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        thread->produce_err = err;
        if (!err) {
            rill__metric_add(&thread->metrics, RILL_M_PRODUCED, 1);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rill__log_at(thread->app, RILL__LOG_WARN, thread->idx, "produce to %s: %s",
                         rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
            if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__FENCED)
                thread->fenced = true;
            if (hdrs) /* producev() takes them only when it succeeds */
                rd_kafka_headers_destroy(hdrs);
            return -1;
        }
        /* The local queue is full: the broker is slower than we are. Serve delivery reports
         * until there is room; this is backpressure, not a busy wait. */
        rd_kafka_poll(thread->producer, 10);
    }
}
