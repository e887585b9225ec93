/*
 * completion_trace.c — lineage.enable in the completion operator: the traces a completion
 * needs, kept in its store so that they survive a restart or a move as the rest of its state.
 *
 * DESIGN
 * A completion derives from two inputs: the item (the auction, which gave the key its
 * deadline) and the events accumulated into its state. Which event its value comes from only
 * the accumulate callback knows (a count changes with every bid, the best bid only with the
 * winner), so it says so: an event for which it returns RILL_COMPLETION_LEADS becomes the
 * lead, and the output carries the trace of the last lead — the winning bid — with the
 * item's trace id and chain as rill.lineage.other; with no lead, the item's alone.
 * Store entries (the layout in completion.c):
 *   'T' key → the item's trace (compact copy, base/lineage_int.h)
 *   'W' key → the trace of the last lead event
 * 'T' is written once per item, 'W' once per lead event; both go when the key completes.
 * Each is about 21 bytes plus the chain (lineage.max.bytes at most).
 */
#include "completion_int.h"

static int trace_key(rill__cpl_state_t *st, char prefix, const void *key, size_t key_len) {
    return make_key(&st->tkey, prefix, -1, key, key_len);
}

int rill__cpl_trace_keep(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         char prefix, const void *key, size_t key_len, const rill__trace_t *t) {
    unsigned char blob[sizeof(rill__trace_t)];
    if (!t)
        return 0;
    rill__trace_blob_put(blob, t);
    if (trace_key(st, prefix, key, key_len) ||
        put(ctx, c, st, &st->tkey, blob, rill__trace_blob_size(t)))
        return ctx->error[0] ? -1 : store_failed(ctx, c, "writing");
    return 0;
}

/* Reads key's trace under prefix into t: 1 found, 0 none, -1 error. */
static int trace_get(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st, char prefix,
                     const void *key, size_t key_len, rill__trace_t *t) {
    const void *v;
    size_t len;
    if (trace_key(st, prefix, key, key_len))
        return store_failed(ctx, c, "reading");
    int rc = rill__kv_get(st->store, st->tkey.data, st->tkey.len, &v, &len);
    if (rc < 0)
        return store_failed(ctx, c, "reading");
    return rc > 0 && !rill__trace_blob_get(t, v, len) ? 1 : 0;
}

int rill__cpl_trace_load(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const void *key, size_t key_len) {
    int item = trace_get(ctx, c, st, 'T', key, key_len, &st->trace2);
    int event = item < 0 ? -1 : trace_get(ctx, c, st, 'W', key, key_len, &st->trace);
    if (event < 0)
        return -1;
    if (event && item)
        rill__ctx_trace_other(ctx, &st->trace, &st->trace2);
    else if (item)
        st->trace = st->trace2;
    return event || item;
}

int rill__cpl_trace_drop(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const void *key, size_t key_len) {
    if (trace_key(st, 'T', key, key_len) || put(ctx, c, st, &st->tkey, NULL, 0) ||
        trace_key(st, 'W', key, key_len) || put(ctx, c, st, &st->tkey, NULL, 0))
        return ctx->error[0] ? -1 : store_failed(ctx, c, "writing");
    return 0;
}
