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
 *
 * The context also says where the records being forwarded come from (their origin), so that
 * a FaaS stage can give each record it sends to a function an id of its own that a replay
 * gives again: "<topic>-<partition>-<offset>" for an input record (consumed, or the held
 * one an asynchronous node re-enters with),
 * "<application.id>:<task>:<node>@<time>" for a stream-time punctuation (stream time strictly
 * increases between a node's punctuations), "...:<node>#<k>@<time>" and "...#<k>@w<time>"
 * for the node's k-th scheduled punctuator on stream time and on wall-clock time, the
 * released record's own id for the outputs of a FaaS stage, and
 * "<application.id>:<task>:<node>@c<wall ms>" for records forwarded with no input record and
 * no punctuation (a store's cache flushed at a commit), the time made strictly increasing
 * per task so that two such origins never share an id.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

rill_err_t rill_ctx_forward_to(rill_ctx_t *ctx, const char *child_name, const rill_record_t *rec) {
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

const char *rill__ctx_topic_held(const rill_ctx_t *ctx) {
    if (ctx->at_topic)
        return ctx->at_topic;
    return ctx->msg && ctx->pq ? ctx->pq->topic : "";
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

void *rill__ctx_node_state(const rill_ctx_t *ctx, int node_id) {
    const rill__task_t *task = ctx->task;
    const rill_topology_t *topo = task->thread->app->topo;
    if (node_id < 0 || node_id >= topo->node_cnt || topo->nodes[node_id]->subtopology != task->sub)
        return NULL;
    return task->state[node_id];
}

/* ---- origins of derived records ---- */

/* A number no origin had before: an origin restored after a nested one keeps its own, so
 * the numbers of later origins must not repeat the nested one's either. */
static void origin_next(rill_ctx_t *ctx) {
    ctx->origin_seq = ++ctx->origin_last;
}

void rill__ctx_origin_input(rill_ctx_t *ctx) {
    ctx->origin = NULL;
    origin_next(ctx);
}

void rill__ctx_origin_set(rill_ctx_t *ctx, const char *id) {
    ctx->origin = id;
    origin_next(ctx);
}

uint64_t rill__ctx_origin_seq(const rill_ctx_t *ctx) {
    return ctx->origin_seq;
}

/* Task ids repeat across applications: ids made from them start with the application's. */
static const char *app_id(const rill_ctx_t *ctx) {
    const rill__thread_t *thread = ctx->task->thread;
    return thread && thread->app ? thread->app->set.application_id : "";
}

void rill__ctx_origin_punctuation(rill_ctx_t *ctx, int sched, char clock, int64_t t) {
    char mark[16] = "";
    if (sched >= 0)
        snprintf(mark, sizeof(mark), "#%d", sched);
    snprintf(ctx->origin_buf, sizeof(ctx->origin_buf), "%s:%s:%s%s@%s%" PRId64, app_id(ctx),
             ctx->task->id, ctx->node ? ctx->node->name : "", mark, clock == 'w' ? "w" : "", t);
    rill__ctx_origin_set(ctx, ctx->origin_buf);
}

/* A wall-clock time in ms, strictly greater than the task's previous one. */
static int64_t origin_clock(rill__task_t *task) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now <= task->origin_clock)
        now = task->origin_clock + 1;
    task->origin_clock = now;
    return now;
}

size_t rill__ctx_origin_id(rill_ctx_t *ctx, char *out, size_t cap) {
    int n;
    if (!ctx->origin && !ctx->msg && ctx->at_topic) {
        n = snprintf(out, cap, "%s-%d-%" PRId64, ctx->at_topic, (int)ctx->at_partition,
                     ctx->at_offset);
    } else if (!ctx->origin && !ctx->msg) {
        snprintf(ctx->origin_buf, sizeof(ctx->origin_buf), "%s:%s:%s@c%" PRId64, app_id(ctx),
                 ctx->task->id, ctx->node ? ctx->node->name : "", origin_clock(ctx->task));
        origin_next(ctx); /* a fresh origin, used by this record alone */
        n = snprintf(out, cap, "%s", ctx->origin_buf);
    } else if (ctx->origin) {
        n = snprintf(out, cap, "%s", ctx->origin);
    } else {
        n = snprintf(out, cap, "%s-%d-%" PRId64, rd_kafka_topic_name(ctx->msg->rkt),
                     (int)ctx->msg->partition, ctx->msg->offset);
    }
    if (n < 0)
        n = 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- re-entering the graph ---- */

/* The part of the context that rill__ctx_reenter changes, as it was before. */
typedef struct rill__ctx_saved_s {
    rill__node_t *node;
    const rd_kafka_message_t *msg;
    int64_t timestamp;
    const char *origin;
    uint64_t origin_seq;
    const char *at_topic;
    int32_t at_partition;
    int64_t at_offset;
    const rd_kafka_headers_t *at_headers;
    const rill__trace_t *trace_over;
    bool had_error;
} rill__ctx_saved_t;

static void enter(rill_ctx_t *ctx, const rill__reentry_t *at, rill__ctx_saved_t *s) {
    *s = (rill__ctx_saved_t){.node = ctx->node,
                             .msg = ctx->msg,
                             .timestamp = ctx->timestamp,
                             .origin = ctx->origin,
                             .origin_seq = ctx->origin_seq,
                             .at_topic = ctx->at_topic,
                             .at_partition = ctx->at_partition,
                             .at_offset = ctx->at_offset,
                             .at_headers = ctx->at_headers,
                             .trace_over = ctx->trace_over,
                             .had_error = ctx->error[0] != '\0'};
    ctx->msg = NULL;
    ctx->timestamp = at->timestamp;
    ctx->at_topic = at->topic;
    ctx->at_partition = at->partition;
    ctx->at_offset = at->offset;
    ctx->at_headers = at->headers;
    ctx->trace_over = at->trace;
    ctx->trace_seq = 0; /* a trace computed for the outer record is not this one's */
}

static void leave(rill_ctx_t *ctx, const rill__ctx_saved_t *s) {
    ctx->node = s->node;
    ctx->msg = s->msg;
    ctx->timestamp = s->timestamp;
    ctx->origin = s->origin;
    ctx->origin_seq = s->origin_seq;
    ctx->at_topic = s->at_topic;
    ctx->at_partition = s->at_partition;
    ctx->at_offset = s->at_offset;
    ctx->at_headers = s->at_headers;
    ctx->trace_over = s->trace_over;
    ctx->trace_seq = 0; /* one computed inside was the held record's */
}

rill_err_t rill__ctx_reenter(rill_ctx_t *ctx, const rill__node_t *node, const rill__reentry_t *at,
                             size_t n, rill__reentry_out_cb out, void *opaque,
                             rill__reentry_err_t *err) {
    if (!n)
        return RILL_OK;
    rill__ctx_saved_t s;
    char saved_error[sizeof(ctx->error)];
    enter(ctx, at, &s);
    if (s.had_error)
        memcpy(saved_error, ctx->error, sizeof(saved_error));
    if (at->origin)
        rill__ctx_origin_set(ctx, at->origin);
    else
        rill__ctx_origin_input(ctx); /* the held record, now the context's */
    rill_err_t rc = RILL_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        rill_record_t rec = {0};
        out(opaque, i, &rec);
        ctx->node = (rill__node_t *)node;
        ctx->error[0] = '\0';
        rc = rill_ctx_forward(ctx, &rec);
    }
    if (rc) {
        /* ctx->node stayed on the node that failed (rill__ctx_forward_node). */
        err->node = ctx->node->name;
        snprintf(err->reason, sizeof(err->reason), "%s",
                 ctx->error[0] ? ctx->error : "downstream processing failed");
        rc = RILL_ERR_PROCESSING;
    }
    leave(ctx, &s);
    if (s.had_error)
        memcpy(ctx->error, saved_error, sizeof(saved_error));
    else
        ctx->error[0] = '\0';
    return rc;
}
