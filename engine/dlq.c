/*
 * dlq.c — the dead-letter topic: where a record that cannot be processed goes, with the
 * reason, so that nothing is dropped silently (docs/DESIGN.md, invariant 5).
 *
 * DESIGN
 * The dead-letter record keeps the original key, value, timestamp and headers, and adds
 * headers naming the error, the node, the source topic/partition/offset and the attempts.
 * It is produced by the thread's own producer, so under exactly-once it is part of the same
 * transaction as the task's outputs and offsets. With errors.tolerance=none the first such
 * record stops the app instead.
 *
 * A dead letter must fit the dead-letter topic (limits.c): when the original is larger than
 * the topic takes, its value is cut to the bytes that fit and the header
 * rill.value.truncated gives the original value's size (the rill.source.* headers point to
 * the whole record); when even its key and headers are too large, the original headers are
 * left out (rill.headers.dropped) and the key cut too. A dead letter that still cannot be
 * produced stops the app naming the record: its offset is never committed, so there is no
 * silent gap.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void add_header(rd_kafka_headers_t *hdrs, const char *name, const char *value) {
    rd_kafka_header_add(hdrs, name, -1, value, -1);
}

/* errors.tolerance=none: stops the app naming the record. Returns 1 when it did. */
int rill__dlq_refused(rill_app_t *app, const rill__dlq_src_t *src, const char *node,
                      const char *reason) {
    if (!app->set.errors_fatal)
        return 0;
    rill__app_fatal(app, RILL_ERR_PROCESSING,
                    "record %s[%d]@%" PRId64 " failed at node \"%s\": %s "
                    "(errors.tolerance=none; set errors.tolerance=all to send such records "
                    "to the dead-letter topic instead)",
                    src->topic, (int)src->partition, src->offset, node, reason);
    return 1;
}

static rd_kafka_headers_t *headers_of(const rill_app_t *app, const rill__dlq_src_t *src,
                                      const char *node, const char *reason, int attempts) {
    rd_kafka_headers_t *hdrs =
        src->headers ? rd_kafka_headers_copy(src->headers) : rd_kafka_headers_new(8);
    char num[32];
    add_header(hdrs, "rill.error", reason);
    add_header(hdrs, "rill.error.node", node);
    add_header(hdrs, "rill.source.topic", src->topic);
    snprintf(num, sizeof(num), "%d", (int)src->partition);
    add_header(hdrs, "rill.source.partition", num);
    snprintf(num, sizeof(num), "%" PRId64, src->offset);
    add_header(hdrs, "rill.source.offset", num);
    snprintf(num, sizeof(num), "%d", attempts);
    add_header(hdrs, "rill.attempts", num);
    add_header(hdrs, "rill.application.id", app->set.application_id);
    return hdrs;
}

/* Room kept for the headers fit() adds. */
#define FIT_HEADROOM 128

/* Cuts the dead letter to the dead-letter topic's limit (see the top of the file): may
 * replace *hdrs and shorten *key_len and *value_len. */
static void fit(const rill_app_t *app, int64_t limit, const rill__dlq_src_t *src, const char *node,
                const char *reason, int attempts, rd_kafka_headers_t **hdrs, size_t *key_len,
                size_t *value_len) {
    if (!limit || rill__record_size(*key_len, *value_len, *hdrs) <= (size_t)limit)
        return;
    size_t fixed = rill__record_size(*key_len, 0, *hdrs) + FIT_HEADROOM;
    if (fixed > (size_t)limit && src->headers) {
        rill__dlq_src_t bare = *src;
        bare.headers = NULL;
        rd_kafka_headers_destroy(*hdrs);
        *hdrs = headers_of(app, &bare, node, reason, attempts);
        add_header(*hdrs, "rill.headers.dropped", "true");
        fixed = rill__record_size(*key_len, 0, *hdrs) + FIT_HEADROOM;
    }
    char num[32];
    snprintf(num, sizeof(num), "%zu", *value_len);
    add_header(*hdrs, "rill.value.truncated", num);
    if (fixed > (size_t)limit) {
        size_t over = fixed - (size_t)limit;
        snprintf(num, sizeof(num), "%zu", *key_len);
        add_header(*hdrs, "rill.key.truncated", num);
        *key_len = *key_len > over + FIT_HEADROOM ? *key_len - over - FIT_HEADROOM : 0;
        *value_len = 0;
        return;
    }
    size_t room = (size_t)limit - fixed;
    if (*value_len > room)
        *value_len = room;
}

rd_kafka_headers_t *rill__dlq_letter(const rill_app_t *app, int64_t limit,
                                     const rill__dlq_src_t *src, const char *node,
                                     const char *reason, int attempts, size_t *key_len,
                                     size_t *value_len) {
    rd_kafka_headers_t *hdrs = headers_of(app, src, node, reason, attempts);
    *key_len = src->key_len;
    *value_len = src->value_len;
    fit(app, limit, src, node, reason, attempts, &hdrs, key_len, value_len);
    return hdrs;
}

int rill__dlq_send_src(rill__thread_t *thread, const rill__dlq_src_t *src, const char *node,
                       const char *reason, int attempts) {
    if (rill__dlq_refused(thread->app, src, node, reason))
        return -1;
    size_t key_len, value_len;
    rd_kafka_headers_t *hdrs =
        rill__dlq_letter(thread->app, rill__thread_limit(thread, thread->app->dlq_max_bytes), src,
                         node, reason, attempts, &key_len, &value_len);
    if (thread->local) { /* the test driver: the dead letter is an output like the others */
        int rc = thread->local->output(thread->local->opaque, thread->app->set.dlq_topic, 0,
                                       src->key, key_len, src->value, value_len,
                                       src->timestamp > 0 ? src->timestamp : 0, hdrs);
        rd_kafka_headers_destroy(hdrs);
        if (rc) {
            rill__app_fatal(thread->app, RILL_ERR_NOMEM,
                            "record %s[%d]@%" PRId64 " failed at "
                            "node \"%s\" (%s) and could not be kept: out of memory",
                            src->topic, (int)src->partition, src->offset, node, reason);
            return -1;
        }
        rill__metric_add(&thread->metrics, RILL_M_DLQ, 1);
        return 0;
    }
    if (rill__produce(thread, thread->dlq_rkt, RD_KAFKA_PARTITION_UA, src->key, key_len, src->value,
                      value_len, src->timestamp > 0 ? src->timestamp : 0, hdrs)) {
        rill__app_fatal(thread->app, RILL_ERR_KAFKA,
                        "record %s[%d]@%" PRId64 " failed at node \"%s\" (%s) and could not be "
                        "dead-lettered to \"%s\": %s; stopping without committing past it",
                        src->topic, (int)src->partition, src->offset, node, reason,
                        thread->app->set.dlq_topic, rd_kafka_err2str(thread->produce_err));
        return -1;
    }
    rill__metric_add(&thread->metrics, RILL_M_DLQ, 1);
    return 0;
}

rill__dlq_src_t rill__dlq_src_of(const rd_kafka_message_t *msg) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    return (rill__dlq_src_t){.topic = rd_kafka_topic_name(msg->rkt),
                             .partition = msg->partition,
                             .offset = msg->offset,
                             .key = msg->key,
                             .key_len = msg->key_len,
                             .value = msg->payload,
                             .value_len = msg->len,
                             .timestamp = rd_kafka_message_timestamp(msg, NULL),
                             .headers = hdrs};
}

int rill__dlq_send(rill__thread_t *thread, const rd_kafka_message_t *msg, const char *node,
                   const char *reason, int attempts) {
    rill__dlq_src_t src = rill__dlq_src_of(msg);
    return rill__dlq_send_src(thread, &src, node, reason, attempts);
}
