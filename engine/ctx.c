/*
 * ctx.c — the processor context: forwarding records between nodes and the record context
 * (topic, partition, offset, timestamp, headers) that processors can read.
 *
 * DESIGN
 * Forwarding is a synchronous depth-first call: rill_ctx_forward() runs each child's process
 * callback with the context switched to that child and restores it afterwards, so a record
 * and everything derived from it is finished before the next record starts. A child's error
 * stops the forward and is returned to the caller; the task sends the input record to the
 * dead-letter topic with the reason.
 */
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

rill_err_t rill__ctx_forward_node(rill_ctx_t *ctx, rill__node_t *child, const rill_record_t *rec) {
    rill__node_t *saved = ctx->node;
    ctx->node = child;
    int rc = child->op->process(ctx, rec, ctx->task->state[child->id]);
    if (rc == 0)
        ctx->node = saved;
    /* On error ctx->node stays on the failing node, so the DLQ names it. */
    return rc ? RILL_ERR_PROCESSING : RILL_OK;
}

rill_err_t rill_ctx_forward(rill_ctx_t *ctx, const rill_record_t *rec) {
    rill__node_t *node = ctx->node;
    for (int i = 0; i < node->child_cnt; i++) {
        rill_err_t err = rill__ctx_forward_node(ctx, node->children[i], rec);
        if (err)
            return err;
    }
    return RILL_OK;
}

rill_err_t rill_ctx_forward_to(rill_ctx_t *ctx, const char *child_name,
                               const rill_record_t *rec) {
    rill__node_t *node = ctx->node;
    for (int i = 0; i < node->child_cnt; i++)
        if (!strcmp(node->children[i]->name, child_name))
            return rill__ctx_forward_node(ctx, node->children[i], rec);
    rill_ctx_set_error(ctx, "node \"%s\" has no child called \"%s\"", node->name, child_name);
    return RILL_ERR_INVALID_ARG;
}

void rill_ctx_set_error(rill_ctx_t *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
}

const char *rill_ctx_topic(const rill_ctx_t *ctx) {
    if (ctx->at_topic)
        return ctx->at_topic;
    return ctx->msg ? rd_kafka_topic_name(ctx->msg->rkt) : NULL;
}

int32_t rill_ctx_partition(const rill_ctx_t *ctx) {
    if (ctx->at_topic)
        return ctx->at_partition;
    return ctx->msg ? ctx->msg->partition : ctx->task->partition;
}

int64_t rill_ctx_offset(const rill_ctx_t *ctx) {
    if (ctx->at_topic)
        return ctx->at_offset;
    return ctx->msg ? ctx->msg->offset : -1;
}

int64_t rill_ctx_timestamp(const rill_ctx_t *ctx) {
    return ctx->timestamp;
}

const rill_headers_t *rill_ctx_headers(const rill_ctx_t *ctx) {
    rd_kafka_headers_t *hdrs = NULL;
    if (ctx->at_topic)
        return (const rill_headers_t *)ctx->at_headers;
    if (ctx->msg && rd_kafka_message_headers(ctx->msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return (const rill_headers_t *)hdrs;
    return NULL;
}

int64_t rill_ctx_stream_time(const rill_ctx_t *ctx) {
    return ctx->task->stream_time;
}

const char *rill_ctx_task_id(const rill_ctx_t *ctx) {
    return ctx->task->id;
}

rill__thread_t *rill__ctx_thread(const rill_ctx_t *ctx) {
    return ctx->task->thread;
}
