/*
 * join_tables.c — table-table joins (inner, left, outer), as Kafka Streams' KTable#join,
 * leftJoin and outerJoin, materialized in a key-value store of their own.
 *
 * DESIGN
 * Three nodes: a side node under each table's node and the result table's node under both.
 * A table's node writes its store before it forwards an update, so when a side node sees the
 * update of a key it has the side's new value in the record and reads the other table's row
 * from its store; it computes the key's new result (the joiner's bytes, or none) and forwards
 * it to the result node as a record whose null value means "no result". The result node keeps
 * the rows in its store ([timestamp][value], the layout of every key-value table, so the
 * result can be read, grouped and joined like any table), forwards each new row, and forwards
 * a tombstone only when a row goes away. The two tables share the task, so their sources must
 * be co-partitioned (the operators' copartitioned flag). All state is in the stores.
 */
#include "join_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ttj_side_conf_s {
    rill_table_t *this_table, *other_table; /* borrowed: owned by the topology */
    bool left;                              /* this side is a (the left table) */
    rill_join_kind_t kind;
    rill_joiner_cb joiner;
    void *opaque;
} rill__ttj_side_conf_t;

typedef struct ttj_side_state_s {
    rill_buf_t val, out;
} rill__ttj_side_state_t;

typedef struct ttj_result_conf_s {
    rill_table_t table; /* first: the handle given to the user */
} rill__ttj_result_conf_t;

/* ---- the side nodes ---- */

static int side_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__ttj_side_conf_t *c = ctx->node->conf;
    rill__ttj_side_state_t *st = state;
    const void *value, *other = NULL;
    size_t value_len, other_len = 0;
    int64_t other_ts = 0;
    if (!rec->key)
        return 0; /* a table has no row without a key (its node dead-lettered the record) */
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len))
        return -1;
    int rc =
        rill__table_get(ctx, c->other_table, rec->key, rec->key_len, &other, &other_len, &other_ts);
    if (rc < 0) {
        rill_ctx_set_error(ctx, "join \"%s\": reading table store \"%s\" failed", ctx->node->name,
                           c->other_table->store);
        return -1;
    }
    rill_record_t mine = {.key = rec->key,
                          .key_len = rec->key_len,
                          .value = value,
                          .value_len = value_len,
                          .timestamp = rec->timestamp,
                          .headers = rec->headers};
    rill_record_t theirs = {.key = rec->key,
                            .key_len = rec->key_len,
                            .value = other,
                            .value_len = other_len,
                            .timestamp = other_ts,
                            .headers = rec->headers};
    const rill_record_t *l = c->left ? &mine : &theirs, *r = c->left ? &theirs : &mine;
    bool has_l = l->value != NULL && (c->left || rc > 0);
    bool has_r = r->value != NULL && (!c->left || rc > 0);
    bool result = c->kind == RILL_JOIN_INNER  ? has_l && has_r
                  : c->kind == RILL_JOIN_LEFT ? has_l
                                              : has_l || has_r;
    int64_t ts = rec->timestamp;
    if (rc > 0 && other_ts > ts && (has_l && has_r))
        ts = other_ts;
    if (!result) {
        rill_record_t gone = {
            .key = rec->key, .key_len = rec->key_len, .timestamp = ts, .headers = rec->headers};
        return rill_ctx_forward(ctx, &gone) ? -1 : 0;
    }
    return rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len, has_l ? l : NULL,
                           has_r ? r : NULL, ts, rec->headers, &st->out);
}

static int side_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(rill__ttj_side_state_t))) ? 0 : -1;
}

static void side_close(const rill__node_t *node, void *state) {
    rill__ttj_side_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->val);
    rill_buf_free(&st->out);
    free(st);
}

const rill__operator_t rill__join_tables_op = {
    .kind = "KTABLE-JOIN-SIDE",
    .copartitioned = true,
    .init = side_init,
    .process = side_process,
    .close = side_close,
    .free_conf = free,
};

/* ---- the result table ---- */

/* A null value means "no result": the row goes away, and a tombstone is forwarded only when
 * there was a row. */
static int result_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__ttj_result_conf_t *c = ctx->node->conf;
    return rill__kv_table_apply(ctx, &c->table, state, rec, true);
}

static const rill__operator_t result_op = RILL__KV_TABLE_OP("KTABLE-JOIN", result_process);

/* ---- builder ---- */

static int check(rill_topology_t *topo, const rill_table_t *t, const char *shown) {
    if (t->topo != topo) {
        rill__topology_fail(topo,
                            "table join \"%s\": the tables belong to two different "
                            "topologies",
                            shown);
        return -1;
    }
    if (t->store_kind != RILL_STORE_KV || t->window_kind) {
        rill__topology_fail(topo,
                            "table join \"%s\": table \"%s\" is windowed; only "
                            "key-value tables can be joined",
                            shown, t->store);
        return -1;
    }
    return 0;
}

static rill_stream_t *add_side(rill_topology_t *topo, rill_table_t *this_table, rill_table_t *other,
                               bool left, rill_join_kind_t kind, rill_joiner_cb joiner,
                               void *opaque, const char *name) {
    rill__ttj_side_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    *c = (rill__ttj_side_conf_t){.this_table = this_table,
                                 .other_table = other,
                                 .left = left,
                                 .kind = kind,
                                 .joiner = joiner,
                                 .opaque = opaque};
    rill_stream_t *s =
        rill__topology_add(topo, &this_table->node->stream, name, &rill__join_tables_op, c, NULL);
    if (!s || !rill__topology_add_store(topo, s->node, other->store, RILL_STORE_KV, 0, 0))
        return NULL;
    return s;
}

rill_table_t *rill_table_join(rill_table_t *a, rill_table_t *b, const char *name,
                              rill_join_kind_t kind, rill_joiner_cb joiner, void *opaque,
                              const char *store) {
    char gen[64], node_name[300], gen_store[300];
    if (!a || !b || a->topo->error)
        return NULL;
    rill_topology_t *topo = a->topo;
    const char *shown = name ? name : "(unnamed)";
    if (check(topo, a, shown) || check(topo, b, shown) ||
        rill__store_claim(topo, store, RILL__CLAIM_NAME))
        return NULL;
    if (kind != RILL_JOIN_INNER && kind != RILL_JOIN_LEFT && kind != RILL_JOIN_OUTER) {
        rill__topology_fail(topo,
                            "table join \"%s\": kind must be RILL_JOIN_INNER, "
                            "RILL_JOIN_LEFT or RILL_JOIN_OUTER",
                            shown);
        return NULL;
    }
    if (!joiner) {
        rill__topology_fail(topo, "table join \"%s\": a joiner is needed", shown);
        return NULL;
    }
    if (a == b) {
        rill__topology_fail(topo, "table join \"%s\": a table cannot be joined with itself", shown);
        return NULL;
    }
    if (!name) {
        snprintf(gen, sizeof(gen), "KTABLE-JOIN-%010d", topo->node_cnt);
        name = gen;
    }
    if (!store) {
        snprintf(gen_store, sizeof(gen_store), "KTABLE-JOIN-STATE-STORE-%010d", topo->node_cnt);
        store = gen_store;
    }
    rill__join_name(node_name, sizeof(node_name), name, "-left");
    rill_stream_t *sl = add_side(topo, a, b, true, kind, joiner, opaque, node_name);
    rill__join_name(node_name, sizeof(node_name), name, "-right");
    rill_stream_t *sr = sl ? add_side(topo, b, a, false, kind, joiner, opaque, node_name) : NULL;
    if (!sr)
        return NULL;
    rill__ttj_result_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    rill_table_t *t = rill__table_add_named(topo, sl->node, name, &result_op, c, store,
                                            RILL_STORE_KV, 0, 0, NULL);
    if (!t || rill__topology_connect(topo, sr->node, t->node))
        return NULL;
    return t;
}
