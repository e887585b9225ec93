/*
 * dlq.c — the dead-letter topic: where a record that cannot be processed goes, with the
 * reason, so that nothing is dropped silently (invariant 5).
 *
 * DESIGN
 * The dead-letter record keeps the original key, value, timestamp and headers, and adds
 * headers naming the error, the node, the source topic/partition/offset and the attempts.
 * It is produced by the thread's own producer, so under exactly-once it is part of the same
 * transaction as the task's outputs and offsets. With errors.tolerance=none the first such
 * record stops the app instead.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void add_header(rd_kafka_headers_t *hdrs, const char *name, const char *value) {
    rd_kafka_header_add(hdrs, name, -1, value, -1);
}

int rill__dlq_send(rill__thread_t *thread, const rd_kafka_message_t *msg, const char *node,
                   const char *reason, int attempts) {
    rill_app_t *app = thread->app;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (app->set.errors_fatal) {
        rill__app_fatal(app, RILL_ERR_PROCESSING,
                        "record %s[%d]@%" PRId64 " failed at node \"%s\": %s "
                        "(errors.tolerance=none; set errors.tolerance=all to send such records "
                        "to the dead-letter topic instead)",
                        topic, (int)msg->partition, msg->offset, node, reason);
        return -1;
    }
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (rd_kafka_message_headers(msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(6);
    char num[32];
    add_header(hdrs, "rill.error", reason);
    add_header(hdrs, "rill.error.node", node);
    add_header(hdrs, "rill.source.topic", topic);
    snprintf(num, sizeof(num), "%d", (int)msg->partition);
    add_header(hdrs, "rill.source.partition", num);
    snprintf(num, sizeof(num), "%" PRId64, msg->offset);
    add_header(hdrs, "rill.source.offset", num);
    snprintf(num, sizeof(num), "%d", attempts);
    add_header(hdrs, "rill.attempts", num);
    add_header(hdrs, "rill.application.id", app->set.application_id);
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (rill__produce(thread, thread->dlq_rkt, RD_KAFKA_PARTITION_UA, msg->key, msg->key_len,
                      msg->payload, msg->len, ts > 0 ? ts : 0, hdrs))
        return -1;
    rill__metric_add(&thread->metrics, RILL_M_DLQ, 1);
    return 0;
}
