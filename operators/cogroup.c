/*
 * cogroup.c — rill_grouped_cogroup(): several grouped streams of one key type aggregated into
 * one key-value table, an aggregator per input and one initializer (Kafka Streams' cogroup).
 *
 * DESIGN
 * One aggregation node per input, under that input's group-by-key node, and the table's node
 * under all of them. The input nodes share the table's store and each runs the aggregation's
 * update (rill__agg_update: read [timestamp][aggregate], add with its own aggregator, write)
 * then hands the new aggregate to the table's node, which forwards it, or, with the record
 * cache on, marks the key and forwards the latest aggregate at commit (so updates of a key
 * from different inputs between two commits also cost one record). The shared store puts all
 * inputs in one sub-topology, so they are processed by one task per partition, and the input
 * nodes are marked co-partitioned: the app refuses to start when the inputs' partition counts
 * differ (docs/DESIGN.md, invariant 2), as for joins. Nothing here reads stream time: an
 * aggregation without windows has no time rule to keep. When the table is grouped anew, an
 * input node copies the key's previous aggregate into the table node's state (its first
 * member, table_int.h) before writing, where the grouping reads it.
 */
#include "table_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct cg_input_s {
    rill_grouped_t *grouped;
    rill_aggregator_cb aggregator;
    void *opaque;
} cg_input_t;

struct rill_cogrouped_s {
    rill_topology_t *topo;
    cg_input_t *inputs;
    int cnt, cap;
    bool done;              /* aggregated: no more inputs */
    rill_cogrouped_t *next; /* the first input's list of cogroups (owned there) */
};

typedef struct cg_side_conf_s {
    rill_table_t *table; /* borrowed: owned by the table node's conf */
    rill__agg_fns_t fns;
} cg_side_conf_t;

typedef struct cg_side_state_s {
    rill__store_t *store;
    rill_buf_t agg, val;
} cg_side_state_t;

typedef struct cg_table_state_s {
    rill__table_prev_t prev; /* first: the key's previous aggregate (table_int.h) */
    rill__cache_t dirty;     /* record cache: keys updated since the last commit */
    bool caching;
    bool lineage;     /* lineage.enable: dirty keys keep their last trace */
    rill_buf_t trace; /* ... scratch for it */
} cg_table_state_t;

/* ---- the input nodes ---- */

static int side_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const cg_side_conf_t *c = ctx->node->conf;
    cg_side_state_t *st = state;
    int rc;
    int64_t ts;
    if (rill__agg_refuse(ctx, rec, &rc))
        return rc;
    if (!st->store && !(st->store = rill__ctx_store(ctx, c->table->store))) {
        rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" is not open", ctx->node->name,
                           c->table->store);
        return -1;
    }
    rill__table_prev_t *prev =
        c->table->send_old ? rill__ctx_node_state(ctx, c->table->node->id) : NULL;
    if (rill__agg_update(ctx, &c->fns, st->store, c->table->store, rec, prev, &st->agg, &st->val,
                         &ts))
        return -1;
    rill_record_t out = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = st->val.data + RILL__TS_LEN,
                         .value_len = st->agg.len,
                         .timestamp = ts,
                         .headers = rec->headers};
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static int side_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(cg_side_state_t))) ? 0 : -1;
}

static void side_close(const rill__node_t *node, void *state) {
    cg_side_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->agg);
    rill_buf_free(&st->val);
    free(st);
}

static const rill__operator_t side_op = {
    .kind = "COGROUPKSTREAM-AGGREGATE",
    .copartitioned = true,
    .init = side_init,
    .process = side_process,
    .close = side_close,
    .free_conf = free,
};

/* ---- the table's node ---- */

static int table_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    cg_table_state_t *st = state;
    if (st->caching)
        return (st->lineage
                    ? rill__agg_mark_traced(ctx, &st->dirty, &st->trace, rec->key, rec->key_len)
                    : rill__cache_put(&st->dirty, rec->key, rec->key_len, "", 0, false))
                   ? -1
                   : 0;
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static int table_commit(rill_ctx_t *ctx, void *state) {
    const rill_table_t *t = ctx->node->conf;
    cg_table_state_t *st = state;
    if (st && st->dirty.cnt)
        rill__agg_flush_dirty(ctx, rill__ctx_store(ctx, t->store), &st->dirty, NULL);
    return 0;
}

static int table_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    const rill_table_t *t = node->conf;
    cg_table_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->caching = rill__ctx_thread(ctx)->app->set.cache_max_bytes > 0 && !t->send_old;
    st->lineage = rill__lineage_on(ctx);
    *statep = st;
    return 0;
}

static void table_close(const rill__node_t *node, void *state) {
    cg_table_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->prev.value);
    rill_buf_free(&st->trace);
    rill__cache_free(&st->dirty);
    free(st);
}

static void table_free_conf(void *conf) {
    rill_table_t *t = conf;
    if (t)
        free(t->store);
    free(t);
}

static size_t table_cache_bytes(void *state) {
    return rill__agg_dirty_bytes(&((const cg_table_state_t *)state)->dirty);
}

static const rill__operator_t table_op = {
    .kind = "COGROUPKSTREAM-MERGE",
    .init = table_init,
    .process = table_process,
    .commit = table_commit,
    .close = table_close,
    .cache_bytes = table_cache_bytes,
    .free_conf = table_free_conf,
};

/* ---- builder ---- */

void rill__cogrouped_free(rill_cogrouped_t *cg) {
    for (rill_cogrouped_t *next; cg; cg = next) {
        next = cg->next;
        free(cg->inputs);
        free(cg);
    }
}

static int add_input(rill_cogrouped_t *cg, rill_grouped_t *g, rill_aggregator_cb agg,
                     void *opaque) {
    const char *why = !agg                  ? "an aggregator is needed"
                      : g->topo != cg->topo ? "the grouped streams belong to two topologies"
                      : cg->done ? "it is aggregated already: add inputs before aggregating"
                                 : NULL;
    for (int i = 0; !why && i < cg->cnt; i++)
        if (cg->inputs[i].grouped == g)
            why = "a grouped stream can be added once";
    if (why) {
        rill__topology_fail(cg->topo, "cogroup of \"%s\": %s", g->node->name, why);
        return -1;
    }
    if (cg->cnt == cg->cap) {
        int cap = cg->cap ? 2 * cg->cap : 4;
        cg_input_t *in = realloc(cg->inputs, (size_t)cap * sizeof(*in));
        if (!in) {
            rill__topology_fail(cg->topo, "out of memory");
            return -1;
        }
        cg->inputs = in;
        cg->cap = cap;
    }
    cg->inputs[cg->cnt++] = (cg_input_t){.grouped = g, .aggregator = agg, .opaque = opaque};
    return 0;
}

rill_cogrouped_t *rill_grouped_cogroup(rill_grouped_t *g, rill_aggregator_cb aggregator,
                                       void *opaque) {
    if (!g || g->topo->error)
        return NULL;
    rill_cogrouped_t *cg = calloc(1, sizeof(*cg));
    if (!cg) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    cg->topo = g->topo;
    cg->next = g->cogrouped;
    g->cogrouped = cg;
    return add_input(cg, g, aggregator, opaque) ? NULL : cg;
}

rill_cogrouped_t *rill_cogrouped_add(rill_cogrouped_t *cg, rill_grouped_t *g,
                                     rill_aggregator_cb aggregator, void *opaque) {
    if (!cg || !g || cg->topo->error)
        return NULL;
    return add_input(cg, g, aggregator, opaque) ? NULL : cg;
}

/* The node aggregating input i into t, under the input's group-by-key node; it declares the
 * table's store when declare is set (the first input's node comes before the table's node,
 * which claims the store, so it declares it after). */
static rill__node_t *add_side(rill_cogrouped_t *cg, int i, rill_table_t *t,
                              rill_initializer_cb init, void *init_opaque, bool declare) {
    cg_side_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(cg->topo, "out of memory");
        return NULL;
    }
    c->table = t;
    c->fns = (rill__agg_fns_t){.kind = RILL__AGG_AGGREGATE,
                               .init = init,
                               .adder = cg->inputs[i].aggregator,
                               .opaque = cg->inputs[i].opaque,
                               .init_own_opaque = true,
                               .init_opaque = init_opaque};
    rill_stream_t *s =
        rill__topology_add(cg->topo, &cg->inputs[i].grouped->node->stream, NULL, &side_op, c, NULL);
    if (!s ||
        (declare && (!rill__topology_add_store(cg->topo, s->node, t->store, RILL_STORE_KV, 0, 0) ||
                     rill__topology_connect(cg->topo, s->node, t->node))))
        return NULL;
    return s->node;
}

rill_table_t *rill_cogrouped_aggregate(rill_cogrouped_t *cg, const char *store,
                                       rill_initializer_cb init, void *opaque) {
    char gen[300];
    if (!cg || cg->topo->error || rill__store_claim(cg->topo, store, RILL__CLAIM_NAME))
        return NULL;
    rill_topology_t *topo = cg->topo;
    if (!init || cg->done) {
        rill__topology_fail(topo, "cogroup of \"%s\": %s", cg->inputs[0].grouped->node->name,
                            cg->done ? "aggregated twice" : "an initializer is needed");
        return NULL;
    }
    cg->done = true;
    rill_table_t *t = calloc(1, sizeof(*t));
    if (!t) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", side_op.kind, topo->node_cnt);
        store = gen;
    }
    rill__node_t *first = add_side(cg, 0, t, init, opaque, false);
    if (!first) {
        free(t);
        return NULL;
    }
    if (!rill__table_add_named(topo, first, NULL, &table_op, t, store, RILL_STORE_KV, 0, 0, NULL) ||
        !rill__topology_add_store(topo, first, t->store, RILL_STORE_KV, 0, 0))
        return NULL;
    for (int i = 1; i < cg->cnt; i++)
        if (!add_side(cg, i, t, init, opaque, true))
            return NULL;
    return t;
}
