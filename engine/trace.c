/*
 * trace.c — lineage.enable: the trace context of the record being processed, and the
 * headers that put it on an output record.
 *
 * DESIGN
 * A record's trace (base/lineage_int.h) is computed only when something needs it — a sink
 * writing an output, a FaaS stage admitting a record, a stateful operator keeping it with
 * its state — once per input record, into the task context (no allocation): from the input
 * record's traceparent, rill.lineage and rill.lineage.other headers plus the hop it was read
 * at. A node that forwards records it held (a FaaS stage's release, a completion) sets
 * ctx->trace_over to the trace it kept, so those outputs carry the trace of the record they
 * derive from, not of the record being processed when they leave. Outputs get a new span id
 * (the sink is a new span of the same trace); their other headers are the input's, as
 * before, minus the three lineage headers, which are replaced.
 */
#include "engine_int.h"

#include <string.h>

static size_t cap(const rill_ctx_t *ctx) {
    return (size_t)ctx->task->thread->app->set.lineage_max_bytes;
}

/* A header's value, or NULL. */
static const void *header(const rd_kafka_headers_t *h, const char *name, size_t *len) {
    const void *v = NULL;
    if (!h || rd_kafka_header_get_last(h, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return v;
}

static void count(rill_ctx_t *ctx, const rill__trace_t *t) {
    rill__metrics_t *m = &ctx->task->thread->metrics;
    if (t->started)
        rill__metric_add(m, RILL_M_TRACES_STARTED, 1);
    if (t->malformed)
        rill__metric_add(m, RILL_M_TRACES_MALFORMED, 1);
    if (t->truncated)
        rill__metric_add(m, RILL_M_LINEAGE_TRUNCATED, 1);
}

bool rill__lineage_on(const rill_ctx_t *ctx) {
    const rill__thread_t *thread = ctx->task ? ctx->task->thread : NULL;
    return thread && thread->app && thread->app->set.lineage;
}

const rill__trace_t *rill__ctx_trace(rill_ctx_t *ctx) {
    if (!rill__lineage_on(ctx))
        return NULL;
    if (ctx->trace_over)
        return ctx->trace_over;
    if (ctx->trace_seq == ctx->origin_seq + 1)
        return &ctx->trace;
    const rd_kafka_headers_t *h = (const rd_kafka_headers_t *)rill_ctx_headers(ctx);
    size_t tl = 0, ll = 0, ol = 0;
    const void *tp = header(h, RILL__HDR_TRACEPARENT, &tl);
    const void *lin = header(h, RILL__HDR_LINEAGE, &ll);
    const void *other = header(h, RILL__HDR_LINEAGE_OTHER, &ol);
    const char *topic = rill_ctx_topic(ctx);
    rill__trace_from(&ctx->trace, cap(ctx), tp, tl, lin, ll, other, ol, topic,
                     rill_ctx_partition(ctx), rill_ctx_offset(ctx));
    count(ctx, &ctx->trace);
    ctx->trace_seq = ctx->origin_seq + 1;
    return &ctx->trace;
}

void rill__ctx_trace_other(rill_ctx_t *ctx, rill__trace_t *t, const rill__trace_t *t2) {
    rill__trace_set_other(t, cap(ctx), t2);
    if (t->truncated)
        rill__metric_add(&ctx->task->thread->metrics, RILL_M_LINEAGE_TRUNCATED, 1);
}

static int add(rd_kafka_headers_t *h, const char *name, const void *v, size_t len) {
    rd_kafka_header_remove(h, name);
    return rd_kafka_header_add(h, name, -1, v, (ssize_t)len) ? -1 : 0;
}

int rill__trace_put_headers(const rill__trace_t *t, rd_kafka_headers_t *h) {
    char tp[RILL__TRACEPARENT_LEN + 1];
    uint8_t span[8];
    rill__trace_random(span, sizeof(span));
    rill__traceparent_format(tp, t->trace_id, span, t->flags);
    if (add(h, RILL__HDR_TRACEPARENT, tp, RILL__TRACEPARENT_LEN))
        return -1;
    if (!t->chain_len) /* no input position (a punctuation, a cache flush): no chain */
        rd_kafka_header_remove(h, RILL__HDR_LINEAGE);
    else if (add(h, RILL__HDR_LINEAGE, t->chain, t->chain_len))
        return -1;
    if (t->other_len)
        return add(h, RILL__HDR_LINEAGE_OTHER, t->other, t->other_len);
    rd_kafka_header_remove(h, RILL__HDR_LINEAGE_OTHER);
    return 0;
}
