/*
 * table_transform.c — tables derived row by row from a key-value table: rill_table_filter(),
 * rill_table_filter_not() and rill_table_map_values(), as Kafka Streams' KTable#filter,
 * filterNot and mapValues with a materialized store.
 *
 * DESIGN
 * One node under the parent table's node, itself a key-value table node with a store of its
 * own ([timestamp][value] per key, the layout of every key-value table), so the result can be
 * read, joined, grouped anew and filtered again like any table. The parent forwards each
 * change of a row with the row's new value (a null value: the row went away); the node
 * computes the key's new row from that value alone and hands it to rill__kv_table_apply(),
 * which reads the key's previous row only when it needs it, writes the store and forwards the
 * change. The parent's previous values are not needed: the result's own store says what the
 * result held, so the node never asks its parent to send old values.
 *  - filter: a row that passes is kept as it is (its decoded value and the parent's value
 *    serde included); a row that fails, or a deleted row, removes the key's row, and a
 *    tombstone goes downstream only when the result had a row for the key (Kafka Streams,
 *    which may not know the previous result, forwards one every time; here it is known).
 *  - map_values: a row is replaced by the mapper's value; a deleted row, or a mapper that
 *    gives no value, deletes the key's row, and the tombstone is always forwarded, as the
 *    parent forwarded it. The mapped values are bytes: the result has no value serde, and its
 *    changes carry no decoded value.
 * The mapper and predicate see the parent's change record (key, value bytes and the decoded
 * value when the parent's records carry one, timestamp, headers). A failing mapper leaves the
 * key's row as it was and sends the record being processed to the dead-letter topic. All state
 * is in the store.
 */
#include "mapper_int.h"
#include "table_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef enum xform_kind_e { XFORM_FILTER, XFORM_FILTER_NOT, XFORM_MAP_VALUES } rill__xform_kind_t;

typedef struct xform_conf_s {
    rill_table_t table; /* first: the handle given to the user */
    rill__xform_kind_t kind;
    rill_predicate_cb pred; /* filters */
    rill_mapper_cb mapper;  /* map_values */
    void *opaque;
} rill__xform_conf_t;

static int filter_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__xform_conf_t *c = ctx->node->conf;
    rill_record_t out = *rec;
    if (!rec->key)
        return 0; /* a table has no row without a key (its node dead-lettered the record) */
    if (rec->value || rec->value_obj) {
        bool pass = c->pred(rec, c->opaque) != 0;
        if (pass == (c->kind == XFORM_FILTER_NOT)) {
            out.value = NULL;
            out.value_len = 0;
            out.value_obj = NULL;
        }
    }
    return rill__kv_table_apply(ctx, &c->table, state, &out, true);
}

/* A map_values node's state: the table's (first, for the children that read its previous
 * values) and the mapper's output buffers. */
typedef struct map_state_s {
    rill__kv_table_state_t table;
    rill__mapped_t mapped;
} map_state_t;

static int map_values_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__xform_conf_t *c = ctx->node->conf;
    map_state_t *st = state;
    if (!rec->key)
        return 0;
    rill_record_t out = {.key = rec->key,
                         .key_len = rec->key_len,
                         .timestamp = rec->timestamp,
                         .headers = rec->headers};
    if (rec->value || rec->value_obj) {
        rill_record_t m;
        if (rill__map_run(&st->mapped, c->mapper, c->opaque, rec, false, true, &m)) {
            if (!ctx->error[0])
                rill_ctx_set_error(ctx, "mapper of table \"%s\" failed", ctx->node->name);
            return -1;
        }
        out.value = m.value;
        out.value_len = m.value_len;
        out.value_obj = m.value_obj;
        out.value_serde = m.value_serde;
    }
    return rill__kv_table_apply(ctx, &c->table, &st->table, &out, false);
}

static int map_values_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(map_state_t))) ? 0 : -1;
}

static void map_values_close(const rill__node_t *node, void *state) {
    map_state_t *st = state;
    if (!st)
        return;
    rill__mapped_free(&st->mapped);
    /* The table's part is freed as every key-value table node's (it comes first). */
    rill__kv_table_close(node, state);
}

static const rill__operator_t filter_op = RILL__KV_TABLE_OP("KTABLE-FILTER", filter_process);
static const rill__operator_t map_values_op = {.kind = "KTABLE-MAPVALUES",
                                               .init = map_values_init,
                                               .process = map_values_process,
                                               .close = map_values_close,
                                               .free_conf = rill__kv_table_free_conf};

static rill_table_t *add_xform(rill_table_t *t, const char *name, rill__xform_kind_t kind,
                               void (*fn)(void), void *opaque, const char *store) {
    const rill__operator_t *op = kind == XFORM_MAP_VALUES ? &map_values_op : &filter_op;
    if (!t || t->topo->error)
        return NULL;
    const char *shown = name ? name : "(unnamed)";
    if (t->store_kind != RILL_STORE_KV || t->window_kind) {
        rill__topology_fail(t->topo,
                            "%s \"%s\": table \"%s\" is windowed; only key-value "
                            "tables can be filtered or mapped",
                            op->kind, shown, t->store);
        return NULL;
    }
    if (!fn) {
        rill__topology_fail(t->topo, "%s \"%s\" needs a callback", op->kind, shown);
        return NULL;
    }
    rill__xform_conf_t *c = calloc(1, sizeof(*c));
    if (c) {
        c->kind = kind;
        c->opaque = opaque;
        c->pred = kind == XFORM_MAP_VALUES ? NULL : (rill_predicate_cb)fn;
        c->mapper = kind == XFORM_MAP_VALUES ? (rill_mapper_cb)fn : NULL;
        /* A filtered table's rows are its parent's, decoded alike; mapped ones are bytes. */
        c->table.value_serde = kind == XFORM_MAP_VALUES ? NULL : t->value_serde;
    }
    return rill__kv_table_add(t->topo, t->node, name, op, c, store, op->kind);
}

rill_table_t *rill_table_filter(rill_table_t *t, const char *name, rill_predicate_cb pred,
                                void *opaque, const char *store) {
    return add_xform(t, name, XFORM_FILTER, (void (*)(void))pred, opaque, store);
}

rill_table_t *rill_table_filter_not(rill_table_t *t, const char *name, rill_predicate_cb pred,
                                    void *opaque, const char *store) {
    return add_xform(t, name, XFORM_FILTER_NOT, (void (*)(void))pred, opaque, store);
}

rill_table_t *rill_table_map_values(rill_table_t *t, const char *name, rill_mapper_cb mapper,
                                    void *opaque, const char *store) {
    return add_xform(t, name, XFORM_MAP_VALUES, (void (*)(void))mapper, opaque, store);
}
