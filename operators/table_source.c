/*
 * table_source.c — tables read from a topic (rill_table_from()): each record upserts its key's
 * row in a key-value store, a record with a null value (a tombstone) deletes it, and every
 * change goes downstream, as Kafka Streams' builder.table() with a materialized store.
 *
 * DESIGN
 * Two nodes: a source for the topic and the table node (KTABLE-SOURCE), which owns the store.
 * The store holds [timestamp 8 bytes BE][value] per key, the layout of aggregations
 * (table_int.h), so rill__table_get() and custom processors read it like any key-value table.
 * Each record is at most one read, one write and one forward: the read only when a child
 * needs the row's previous value (rill_table_group_by() sets send_old), which is then copied
 * into the node's state before the write. State per task: the store and that copy; what must
 * survive a crash is in the store and its changelog. The change stream carries the record as
 * it came (value, decoded value, timestamp, headers), a tombstone as a null value, also for a
 * key that was absent (Kafka Streams forwards those too).
 */
#include "table_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct source_conf_s {
    rill_table_t table; /* first: the handle given to the user */
} source_conf_t;

typedef struct source_state_s {
    rill__table_prev_t prev; /* first: the row's previous value (table_int.h) */
    rill__store_t *store;
    rill_buf_t val; /* the stored value being written */
} source_state_t;

static void source_free_conf(void *conf) {
    source_conf_t *c = conf;
    if (c)
        free(c->table.store);
    free(c);
}

static int source_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    source_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    *statep = st;
    return 0;
}

static void source_close(const rill__node_t *node, void *state) {
    source_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->prev.value);
    rill_buf_free(&st->val);
    free(st);
}

static int store_failed(rill_ctx_t *ctx, const rill_table_t *t, const char *what) {
    rill_ctx_set_error(ctx, "table \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       t->store);
    return -1;
}

/* Copies the row's previous value into the state, for the children that subtract it. */
static int keep_prev(rill_ctx_t *ctx, const rill_table_t *t, source_state_t *st,
                     const rill_record_t *rec) {
    const void *old, *value = NULL;
    size_t old_len, len = 0;
    int64_t ts;
    int rc = rill__kv_get(st->store, rec->key, rec->key_len, &old, &old_len);
    if (rc < 0)
        return store_failed(ctx, t, "reading");
    if (rc > 0 && rill__stored_parse(old, old_len, &value, &len, &ts)) {
        rill_ctx_set_error(ctx, "table \"%s\": store \"%s\" holds a malformed value",
                           ctx->node->name, t->store);
        return -1;
    }
    if (rill__table_prev_keep(&st->prev, value, len)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    return 0;
}

static int source_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const source_conf_t *c = ctx->node->conf;
    const rill_table_t *t = &c->table;
    source_state_t *st = state;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec, "null key: table \"%s\" holds rows by key and "
                                     "cannot place a record without one", ctx->node->name);
    if (!st->store && !(st->store = rill__ctx_store(ctx, t->store))) {
        rill_ctx_set_error(ctx, "table \"%s\": store \"%s\" is not open", ctx->node->name,
                           t->store);
        return -1;
    }
    if (t->send_old && keep_prev(ctx, t, st, rec))
        return -1;
    /* A source record's value is its bytes (a decoded value comes with them); NULL is a
     * tombstone. */
    if (!rec->value) {
        if (rill__kv_put(st->store, rec->key, rec->key_len, NULL, 0))
            return store_failed(ctx, t, "deleting from");
    } else if (rill__stored_make(&st->val, rec->timestamp, rec->value, rec->value_len) ||
               rill__kv_put(st->store, rec->key, rec->key_len, st->val.data, st->val.len)) {
        return store_failed(ctx, t, "writing");
    }
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill__operator_t table_source_op = {
    .kind = "KTABLE-SOURCE",
    .init = source_init,
    .process = source_process,
    .close = source_close,
    .free_conf = source_free_conf,
};

rill_table_t *rill_table_from(rill_topology_t *topo, const char *name, const char *topic,
                              const rill_source_opts_t *opts, const char *store) {
    char node_name[300], gen[300];
    if (!topo || topo->error || rill__table_check_store(topo, store, "table_from"))
        return NULL;
    rill_stream_t *s = rill_stream_from(topo, name, topic, opts);
    if (!s)
        return NULL;
    /* Kafka Streams' names: "<name>-table-source" beside a source called name, else
     * KTABLE-SOURCE-<index>; the store "<topic>-STATE-STORE-<index>". */
    if (name)
        snprintf(node_name, sizeof(node_name), "%s-table-source", name);
    else
        snprintf(node_name, sizeof(node_name), "%s-%010d", table_source_op.kind, topo->node_cnt);
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", topic, topo->node_cnt);
        store = gen;
    }
    source_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    c->table.value_serde = s->node->source.opts.value_serde;
    return rill__table_add_named(topo, s->node, node_name, &table_source_op, c, store,
                                 RILL_STORE_KV, 0, 0, NULL);
}
