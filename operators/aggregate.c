/*
 * aggregate.c — count, reduce and aggregate over a grouped stream, without windows: one
 * aggregate per key in a key-value store, forwarded downstream on every update.
 *
 * DESIGN
 * The node's state per task is its store instance and scratch buffers; everything that must
 * survive a crash is in the store ([timestamp][aggregate] per key, see table_int.h), which the
 * engine restores before the task runs. Each record is one read, one write and one forward:
 * key = the group key, value = the new aggregate, timestamp = the largest timestamp the key has
 * seen (as Kafka Streams' timestamped stores). With the record cache on
 * (statestore.cache.max.bytes > 0, as in Kafka Streams), an update is not forwarded at once:
 * the key is marked dirty and its latest aggregate goes downstream at the next commit (or
 * when the caches fill, which commits early), so repeated updates of a key between commits
 * cost one downstream record, as they cost one changelog record. Under lineage.enable a dirty
 * key's entry keeps the trace of the record that last updated it (memory only: what was not
 * committed is processed again after a crash and marks the key again), and the flushed
 * aggregate carries that trace, as Kafka Streams' cache keeps an entry's record context.
 * With the cache off, every update goes downstream. A table grouped anew needs every old value, so
 * it is never cached. When the table is grouped anew (rill_table_group_by()), the key's previous
 * aggregate is copied into the state before the write, for the grouping node to subtract.
 */
#include "table_int.h"
#include "cache_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct agg_conf_s {
    rill_table_t table; /* first: the handle given to the user */
    rill__agg_fns_t fns;
} rill__agg_conf_t;

typedef struct agg_state_s {
    rill__table_prev_t prev; /* first: the key's previous aggregate (table_int.h) */
    rill__store_t *store;
    rill_buf_t agg;      /* the new aggregate */
    rill_buf_t val;      /* the new stored value */
    rill__cache_t dirty; /* record cache: keys updated since the last commit (values: their
                            traces under lineage.enable, else none) */
    rill_buf_t trace;    /* lineage.enable: a dirty entry's value */
    bool caching;
    bool lineage;
} rill__agg_state_t;

static void agg_free_conf(void *conf) {
    rill__agg_conf_t *c = conf;
    if (c)
        free(c->table.store);
    free(c);
}

static int agg_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    const rill__agg_conf_t *c = node->conf;
    rill__agg_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->caching = rill__ctx_thread(ctx)->app->set.cache_max_bytes > 0 && !c->table.send_old;
    st->lineage = rill__lineage_on(ctx);
    *statep = st;
    return 0;
}

static void agg_close(const rill__node_t *node, void *state) {
    rill__agg_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->prev.value);
    rill_buf_free(&st->agg);
    rill_buf_free(&st->val);
    rill_buf_free(&st->trace);
    rill__cache_free(&st->dirty);
    free(st);
}

/* The task's store, looked up on first use (stores are opened by the engine before records
 * flow, so this does not depend on the order in which the task sets things up). */
static rill__store_t *store_of(rill_ctx_t *ctx, const rill__agg_conf_t *c, rill__agg_state_t *st) {
    if (!st->store && !(st->store = rill__ctx_store(ctx, c->table.store)))
        rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" is not open", ctx->node->name,
                           c->table.store);
    return st->store;
}

int rill__agg_refuse(rill_ctx_t *ctx, const rill_record_t *rec, int *rcp) {
    if (!rec->key)
        *rcp = rill__agg_dead_letter(ctx, rec,
                                     "null key: aggregation \"%s\" groups by key "
                                     "and cannot place a record without one",
                                     ctx->node->name);
    else if (!rec->value && !rec->value_obj)
        *rcp = rill__agg_dead_letter(ctx, rec,
                                     "null value: aggregation \"%s\" takes no "
                                     "tombstones",
                                     ctx->node->name);
    else
        return 0;
    return 1;
}

int rill__agg_update(rill_ctx_t *ctx, const rill__agg_fns_t *fns, rill__store_t *store,
                     const char *store_name, const rill_record_t *rec, rill__table_prev_t *prev,
                     rill_buf_t *agg_out, rill_buf_t *val, int64_t *tsp) {
    const void *old = NULL, *agg = NULL;
    size_t old_len = 0, agg_len = 0;
    int64_t ts = rec->timestamp;
    int rc = rill__kv_get(store, rec->key, rec->key_len, &old, &old_len);
    if (rc < 0) {
        rill_ctx_set_error(ctx, "node \"%s\": reading store \"%s\" failed", ctx->node->name,
                           store_name);
        return -1;
    }
    if (rc > 0) {
        int64_t old_ts;
        if (rill__stored_parse(old, old_len, &agg, &agg_len, &old_ts)) {
            rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" holds a malformed value",
                               ctx->node->name, store_name);
            return -1;
        }
        if (old_ts > ts)
            ts = old_ts;
    }
    /* The stored value is valid until the next store call: aggregate before writing. */
    if (rill__agg_add(ctx, fns, rec, agg, agg_len, agg_out))
        return -1; /* the reason is in ctx: the task dead-letters the record */
    if (prev && rill__table_prev_keep(prev, agg, agg_len)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    if (rill__stored_make(val, ts, agg_out->data, agg_out->len) ||
        rill__kv_put(store, rec->key, rec->key_len, val->data, val->len)) {
        rill_ctx_set_error(ctx, "node \"%s\": writing store \"%s\" failed", ctx->node->name,
                           store_name);
        return -1;
    }
    *tsp = ts;
    return 0;
}

static int agg_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__agg_conf_t *c = ctx->node->conf;
    rill__agg_state_t *st = state;
    int rc;
    int64_t ts;
    if (rill__agg_refuse(ctx, rec, &rc))
        return rc;
    rill__store_t *store = store_of(ctx, c, st);
    if (!store || rill__agg_update(ctx, &c->fns, store, c->table.store, rec,
                                   c->table.send_old ? &st->prev : NULL, &st->agg, &st->val, &ts))
        return -1;
    if (st->caching)
        return (st->lineage
                    ? rill__agg_mark_traced(ctx, &st->dirty, &st->trace, rec->key, rec->key_len)
                    : rill__cache_put(&st->dirty, rec->key, rec->key_len, "", 0, false))
                   ? -1
                   : 0;
    rill_record_t out = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = st->val.data + RILL__TS_LEN,
                         .value_len = st->agg.len,
                         .value_serde = rill__agg_serde(&c->fns),
                         .timestamp = ts,
                         .headers = rec->headers};
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

int rill__agg_mark_traced(rill_ctx_t *ctx, rill__cache_t *dirty, rill_buf_t *scratch,
                          const void *key, size_t key_len) {
    const rill__trace_t *t = rill__ctx_trace(ctx);
    rill_buf_reset(scratch);
    if (!t)
        return rill__cache_put(dirty, key, key_len, "", 0, false);
    if (rill__trace_blob_append(scratch, t)) /* [length 2B][compact copy] */
        return -1;
    return rill__cache_put(dirty, key, key_len, scratch->data + 2, scratch->len - 2, false);
}

/* Forwards out with the trace kept in dirty entry e (lineage.enable). */
static int forward_traced(rill_ctx_t *ctx, const rill__centry_t *e, const rill_record_t *out) {
    rill__trace_t t;
    const rill__trace_t *saved = ctx->trace_over;
    if (!rill__trace_blob_get(&t, e->value, e->value_len))
        ctx->trace_over = &t;
    int rc = rill_ctx_forward(ctx, out);
    ctx->trace_over = saved;
    return rc;
}

void rill__agg_flush_dirty(rill_ctx_t *ctx, rill__store_t *store, rill__cache_t *dirty,
                           const rill_serde_t *serde) {
    for (size_t i = 0; store && i < dirty->cap; i++) {
        const rill__centry_t *e = &dirty->tab[i];
        const void *v, *agg;
        size_t v_len, agg_len;
        int64_t ts;
        if (!e->hash || rill__kv_get(store, e->key, e->key_len, &v, &v_len) != 1 ||
            rill__stored_parse(v, v_len, &agg, &agg_len, &ts))
            continue;
        rill_record_t out = {.key = e->key,
                             .key_len = e->key_len,
                             .value = agg,
                             .value_len = agg_len,
                             .value_serde = serde,
                             .timestamp = ts};
        ctx->error[0] = '\0';
        if (e->value_len ? forward_traced(ctx, e, &out) : rill_ctx_forward(ctx, &out))
            rill__log(rill__ctx_thread(ctx)->app, rill__ctx_thread(ctx)->idx,
                      "node \"%s\": forwarding a cached aggregate failed: %s", ctx->node->name,
                      ctx->error);
    }
    rill__cache_clear(dirty);
}

/* Commit: forwards the latest aggregate of every key updated since the last commit. */
static int agg_commit(rill_ctx_t *ctx, void *state) {
    const rill__agg_conf_t *c = ctx->node->conf;
    rill__agg_state_t *st = state;
    if (!st || !st->dirty.cnt)
        return 0;
    rill__agg_flush_dirty(ctx, store_of(ctx, c, st), &st->dirty, rill__agg_serde(&c->fns));
    return 0;
}

static size_t agg_cache_bytes(void *state) {
    return rill__agg_dirty_bytes(&((const rill__agg_state_t *)state)->dirty);
}

static const rill__operator_t aggregate_op = {
    .kind = "AGGREGATE",
    .init = agg_init,
    .process = agg_process,
    .commit = agg_commit,
    .close = agg_close,
    .cache_bytes = agg_cache_bytes,
    .free_conf = agg_free_conf,
};

static const rill__operator_t reduce_op = {
    .kind = "REDUCE",
    .init = agg_init,
    .process = agg_process,
    .commit = agg_commit,
    .close = agg_close,
    .cache_bytes = agg_cache_bytes,
    .free_conf = agg_free_conf,
};

static rill_table_t *add_aggregation(rill_grouped_t *g, const char *store,
                                     const rill__agg_fns_t *fns, const char *what) {
    if (!g || g->topo->error || rill__store_claim(g->topo, store, RILL__CLAIM_NAME))
        return NULL;
    rill__agg_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    c->fns = *fns;
    c->table.value_serde = rill__agg_serde(fns);
    return rill__table_add(g->topo, g->node,
                           fns->kind == RILL__AGG_REDUCE ? &reduce_op : &aggregate_op, c, store,
                           RILL_STORE_KV, 0, 0, NULL);
}

rill_table_t *rill_grouped_count(rill_grouped_t *g, const char *store) {
    rill__agg_fns_t fns = {.kind = RILL__AGG_COUNT};
    return add_aggregation(g, store, &fns, "count");
}

rill_table_t *rill_grouped_reduce(rill_grouped_t *g, const char *store, rill_aggregator_cb reducer,
                                  void *opaque) {
    if (g && !reducer) {
        rill__topology_fail(g->topo, "reduce of \"%s\" needs a reducer", g->node->name);
        return NULL;
    }
    rill__agg_fns_t fns = {.kind = RILL__AGG_REDUCE, .adder = reducer, .opaque = opaque};
    return add_aggregation(g, store, &fns, "reduce");
}

rill_table_t *rill_grouped_aggregate(rill_grouped_t *g, const char *store, rill_initializer_cb init,
                                     rill_aggregator_cb adder, void *opaque) {
    if (g && (!init || !adder)) {
        rill__topology_fail(g->topo, "aggregate of \"%s\" needs an initializer and an adder",
                            g->node->name);
        return NULL;
    }
    rill__agg_fns_t fns = {
        .kind = RILL__AGG_AGGREGATE, .init = init, .adder = adder, .opaque = opaque};
    return add_aggregation(g, store, &fns, "aggregate");
}
