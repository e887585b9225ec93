/*
 * source_sink.c — the source and sink operators: where records enter a topology from Kafka
 * and leave it for Kafka.
 *
 * DESIGN
 * Decoding happens when a record is queued (task.c), so a source node only forwards. A sink
 * keeps, per task, a librdkafka topic handle and the topic's partition count (read once, at
 * task start, only when a custom partitioner needs it). It encodes a decoded value with its
 * serde into the thread's scratch buffer, so there is no allocation per record; librdkafka
 * copies the bytes. Records keep their input headers and timestamp, as in Kafka Streams.
 *
 * A record that its topic cannot take fails at the sink, before it is produced: one over
 * the topic's size limit (limits.c), one like an output the broker refused before
 * (refused.c), one producev() refuses. The input record is then dead-lettered by the
 * caller with the reason, and its partition goes on.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdlib.h>

static int source_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

const rill__operator_t rill__source_operator = {
    .kind = "SOURCE",
    .process = source_process,
};

typedef struct sink_state_s {
    rd_kafka_topic_t *rkt;
    int32_t partition_cnt;
    int64_t max_bytes; /* the largest record the topic and the producer take; 0: unknown */
} rill__sink_state_t;

static int sink_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__thread_t *thread = ctx->task->thread;
    rill__sink_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    if (thread->local) { /* the test driver: no producer, one partition per topic */
        st->partition_cnt = 1;
        *statep = st;
        return 0;
    }
    st->rkt = rd_kafka_topic_new(thread->producer, node->sink.topic, NULL);
    if (!st->rkt) {
        free(st);
        return -1;
    }
    st->max_bytes = rill__thread_limit(
        thread, thread->app->sink_max_bytes
                    ? __atomic_load_n(&thread->app->sink_max_bytes[node->id], __ATOMIC_RELAXED)
                    : 0);
    if (node->sink.opts.partitioner) {
        char err[256];
        st->partition_cnt =
            rill__app_partition_count(thread->app, node->sink.topic, err, sizeof(err));
        if (st->partition_cnt <= 0) {
            rill__app_fatal(thread->app, RILL_ERR_TOPOLOGY,
                            "sink \"%s\": topic \"%s\" must exist for a custom partitioner: %s",
                            node->name, node->sink.topic, err);
            rd_kafka_topic_destroy(st->rkt);
            free(st);
            return -1;
        }
    }
    *statep = st;
    return 0;
}

/* Fails a record its topic cannot take (see the top of the file). Returns 1 when it did. */
static int refused(rill_ctx_t *ctx, const rill__sink_state_t *st, const rill_record_t *rec,
                   const void *key, size_t key_len, const void *value, size_t value_len) {
    rill__thread_t *thread = ctx->task->thread;
    const rill__node_t *node = ctx->node;
    size_t size = rill__record_size(key_len, value_len, (const rd_kafka_headers_t *)rec->headers);
    if (st->max_bytes && size > (size_t)st->max_bytes) {
        rill_ctx_set_error(ctx,
                           "sink \"%s\": a record of %zu bytes is over the %" PRId64
                           "-byte limit of topic \"%s\" (max.message.bytes): %s",
                           node->name, size, st->max_bytes, node->sink.topic,
                           rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
        return 1;
    }
    const char *reason =
        rill__refused_find(thread, node->sink.topic, key, key_len, value, value_len);
    if (reason) {
        rill_ctx_set_error(ctx, "sink \"%s\": %s", node->name, reason);
        return 1;
    }
    return 0;
}

/* A record made by a punctuation (no input record to dead-letter instead) that its topic
 * cannot take: the record itself goes to the dead-letter topic (cut to fit there), with the
 * reason and the sink's topic as its source (partition and offset -1). Returns 0, or -1 when
 * even that failed (the app then stops). */
static int dead_letter_output(rill_ctx_t *ctx, const rill_record_t *rec, const void *key,
                              size_t key_len, const void *value, size_t value_len) {
    rill__dlq_src_t src = {.topic = ctx->node->sink.topic,
                           .partition = -1,
                           .offset = -1,
                           .key = key,
                           .key_len = key_len,
                           .value = value,
                           .value_len = value_len,
                           .timestamp = rec->timestamp,
                           .headers = (const rd_kafka_headers_t *)rec->headers};
    return rill__dlq_send_src(ctx->task->thread, &src, ctx->node->name, ctx->error, 1) ? -1 : 0;
}

/* The output's headers (owned, or NULL for none): the record's own, with the lineage headers
 * of the trace it derives from when lineage.enable is on (engine/trace.c). */
static int out_headers(rill_ctx_t *ctx, const rill_record_t *rec, rd_kafka_headers_t **out) {
    const rill__trace_t *trace = rill__ctx_trace(ctx);
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->headers && rill_headers_count(rec->headers))
        hdrs = rd_kafka_headers_copy((const rd_kafka_headers_t *)rec->headers);
    if (trace && !hdrs)
        hdrs = rd_kafka_headers_new(4);
    if (trace && (!hdrs || rill__trace_put_headers(trace, hdrs))) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return -1;
    }
    *out = hdrs;
    return 0;
}

static int sink_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__sink_state_t *st = state;
    rill__thread_t *thread = ctx->task->thread;
    const rill__node_t *node = ctx->node;
    const void *value = rec->value;
    size_t value_len = rec->value_len;
    if (!value && rec->value_obj) {
        const rill_serde_t *serde =
            node->sink.opts.value_serde ? node->sink.opts.value_serde : rec->value_serde;
        rill_buf_reset(&thread->scratch);
        if (!serde || !serde->serialize ||
            serde->serialize(serde, rec->value_obj, &thread->scratch)) {
            rill_ctx_set_error(ctx, "sink \"%s\": value could not be serialized%s", node->name,
                               serde ? "" : " (no value serde: set rill_sink_opts_t.value_serde)");
            return -1;
        }
        value = thread->scratch.data;
        value_len = thread->scratch.len;
    }
    int32_t partition = RD_KAFKA_PARTITION_UA;
    if (node->sink.opts.partitioner)
        partition =
            node->sink.opts.partitioner(rec, st->partition_cnt, node->sink.opts.partitioner_opaque);
    const void *key = rec->key;
    size_t key_len = rec->key_len;
    if (rec->window_kind) {
        /* Windowed results: Kafka Streams' windowed key layout, key + start (time windows)
         * or key + end + start (sessions), 8-byte big-endian each. */
        unsigned char t[16];
        rill_buf_t *kb = &thread->key_scratch;
        rill_buf_reset(kb);
        int session = rec->window_kind == RILL_WINDOW_SESSION;
        rill_int64_encode(session ? rec->window_end : rec->window_start, t);
        rill_int64_encode(rec->window_start, t + 8);
        if (rill_buf_append(kb, rec->key, rec->key_len) || rill_buf_append(kb, t, session ? 16 : 8))
            return -1;
        key = kb->data;
        key_len = kb->len;
    }
    if (refused(ctx, st, rec, key, key_len, value, value_len))
        return ctx->msg || ctx->at_topic
                   ? -1
                   : dead_letter_output(ctx, rec, key, key_len, value, value_len);
    rd_kafka_headers_t *hdrs = NULL;
    if (out_headers(ctx, rec, &hdrs)) {
        rill_ctx_set_error(ctx, "sink \"%s\": out of memory", node->name);
        return -1;
    }
    if (thread->local) {
        int rc = thread->local->output(thread->local->opaque, node->sink.topic,
                                       partition == RD_KAFKA_PARTITION_UA ? 0 : partition, key,
                                       key_len, value, value_len, rec->timestamp, hdrs);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (rc) {
            rill_ctx_set_error(ctx, "sink \"%s\": out of memory", node->name);
            return -1;
        }
        rill__metric_add(&thread->metrics, RILL_M_PRODUCED, 1);
        return 0;
    }
    if (rill__produce(thread, st->rkt, partition, key, key_len, value, value_len, rec->timestamp,
                      hdrs)) {
        rill_ctx_set_error(ctx, "sink \"%s\": produce to \"%s\" failed: %s", node->name,
                           node->sink.topic, rd_kafka_err2str(thread->produce_err));
        return -1;
    }
    return 0;
}

static void sink_close(const rill__node_t *node, void *state) {
    rill__sink_state_t *st = state;
    if (st && st->rkt)
        rd_kafka_topic_destroy(st->rkt);
    free(st);
}

const rill__operator_t rill__sink_operator = {
    .kind = "SINK",
    .init = sink_init,
    .process = sink_process,
    .close = sink_close,
};
