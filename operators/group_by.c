/*
 * group_by.c — grouping by a new key: rill_stream_group_by() (select the key, repartition,
 * group), and rill_table_group_by() with the aggregations of a grouped table, which take a
 * row's old contribution out of its group and put its new one in (Kafka Streams'
 * KGroupedTable).
 *
 * DESIGN
 * A stream is grouped anew by a KEY-SELECT node, which gives each record its new key (a record
 * without one is dead-lettered there, before the repartition topic), then the repartition
 * topic <application.id>-<name>-repartition, then a group-by-key node: the aggregations of
 * aggregate.c and windowed.c work on it unchanged.
 *
 * A table is grouped anew by a KTABLE-SELECT node under the table's node, which asks the table
 * for each row's previous value (send_old, rill__table_prev_t). For a change of row k from old
 * to new it selects (k1, v1) from old and (k2, v2) from new and writes change records to the
 * repartition topic, each keyed by its group key, with the value framed as
 *     [flags: 1 byte][old length: 4 bytes BE][old value][new value]
 * flags bit 0 = an old value is present (to subtract), bit 1 = a new value is present (to
 * add); the old length is 0 when there is no old value, and the new value is the rest. When
 * k1 = k2 one record carries both (so the group updates once, as Kafka Streams does); else a
 * record to k1 with the old value, then one to k2 with the new value, in that order, from the
 * task of k, so a group sees each row's changes in the row's order. The repartition source
 * reads keys and values as bytes. The KTABLE-AGGREGATE node under it reads the group's
 * aggregate (or the initial one), applies the subtractor for the old value and the adder for
 * the new one, writes it and forwards it once.
 *
 * The selector must be a pure function of the row: a row whose selection fails or gives no
 * key or value is dead-lettered when it comes and contributes nothing, so when it changes
 * again its old selection, failing again, has nothing to take out. Per-task state: copies of
 * the old row's selection and the frames being written; nothing durable outside the stores.
 */
#include "mapper_int.h"
#include "table_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANGE_OLD 0x01
#define CHANGE_NEW 0x02
#define CHANGE_HEAD 5 /* flags and old length */

/* Repartitions s through "<application.id>-<name>-repartition". The key changed, so the
 * upstream source's key serde no longer describes it: the topic's keys are read as bytes,
 * and so are its values when raw_values (the change frames of tables). */
static rill_stream_t *repartition(rill_stream_t *s, const char *name, int raw_values) {
    rill_source_opts_t bytes = {.key_serde = rill_serde_bytes(), .value_serde = rill_serde_bytes()};
    return rill__stream_repartition(s, name, raw_values ? &bytes : NULL);
}

/* The bytes of a mapper's output value: its own, or its decoded value encoded by its serde
 * into scratch. Returns 0, or -1 when it cannot be encoded. */
static int out_value(const rill_record_t *out, rill_buf_t *scratch, const void **vp, size_t *lenp) {
    if (out->value || !out->value_obj) {
        *vp = out->value;
        *lenp = out->value_len;
        return 0;
    }
    const rill_serde_t *serde = out->value_serde;
    rill_buf_reset(scratch);
    if (!serde || !serde->serialize || serde->serialize(serde, out->value_obj, scratch))
        return -1;
    *vp = scratch->data ? scratch->data : "";
    *lenp = scratch->len;
    return 0;
}

/* ---- streams: KEY-SELECT ---- */

typedef struct key_conf_s {
    rill_mapper_cb fn;
} rill__key_conf_t;

static int key_select_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__key_conf_t *c = ctx->node->conf;
    rill_record_t fwd;
    if (rill__map_run(state, c->fn, ctx->node->opaque, rec, true, false, &fwd)) {
        if (!ctx->error[0])
            rill_ctx_set_error(ctx, "key selector of node \"%s\" failed", ctx->node->name);
        return -1;
    }
    if (!fwd.key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: the key selector of \"%s\" gave no "
                                     "key, so the record cannot be grouped",
                                     ctx->node->name);
    return rill_ctx_forward(ctx, &fwd) ? -1 : 0;
}

static const rill__operator_t key_select_op = {.kind = "KEY-SELECT",
                                               .init = rill__mapped_init,
                                               .process = key_select_process,
                                               .close = rill__mapped_close,
                                               .free_conf = free};

rill_grouped_t *rill_stream_group_by(rill_stream_t *s, const char *name, rill_mapper_cb key_fn,
                                     void *opaque) {
    if (!s || s->topo->error)
        return NULL;
    if (!key_fn) {
        rill__topology_fail(s->topo, "group_by \"%s\" needs a key selector",
                            name ? name : "(unnamed)");
        return NULL;
    }
    rill__key_conf_t *c = malloc(sizeof(*c));
    if (!c) {
        rill__topology_fail(s->topo, "out of memory");
        return NULL;
    }
    c->fn = key_fn;
    rill_stream_t *keyed = rill__topology_add(s->topo, s, NULL, &key_select_op, c, opaque);
    return rill_stream_group_by_key(repartition(keyed, name, 0), NULL);
}

/* ---- tables: KTABLE-SELECT ---- */

struct rill_grouped_table_s {
    rill_topology_t *topo;
    rill__node_t *source; /* the repartition topic's source: aggregations go under it */
};

typedef struct select_conf_s {
    rill_grouped_table_t grouped; /* the handle given to the user */
    rill_mapper_cb selector;
    rill_table_t *table; /* the table grouped (owned by the topology) */
} rill__select_conf_t;

typedef struct select_state_s {
    rill__mapped_t mapped;         /* the selector's output buffers */
    rill_buf_t old_key, old_value; /* the old row's selection, copied out of the selector */
    rill_buf_t scratch;            /* a selected decoded value, encoded */
    rill_buf_t frame;
} rill__select_state_t;

/* One side of a change: the selection of a row. */
typedef struct side_s {
    bool present;
    const void *key, *value;
    size_t key_len, value_len;
} rill__side_t;

static int select_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__select_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    *statep = st;
    return 0;
}

static void select_close(const rill__node_t *node, void *state) {
    rill__select_state_t *st = state;
    if (!st)
        return;
    rill__mapped_free(&st->mapped);
    rill_buf_free(&st->old_key);
    rill_buf_free(&st->old_value);
    rill_buf_free(&st->scratch);
    rill_buf_free(&st->frame);
    free(st);
}

/*
 * Runs the selector on row and sets side (pointing into the selector's output buffers or
 * scratch, valid until the next call). Returns 0 when the row has a group, or writes why not to why
 * and returns -1.
 */
static int select_row(rill_ctx_t *ctx, const rill__select_conf_t *c, rill__select_state_t *st,
                      const rill_record_t *row, rill__side_t *side, char *why, size_t why_size) {
    rill_record_t out;
    side->present = false;
    if (rill__map_run(&st->mapped, c->selector, ctx->node->opaque, row, true, true, &out)) {
        snprintf(why, why_size, "the selector of \"%s\" failed", ctx->node->name);
        return -1;
    }
    if (!out.key) {
        snprintf(why, why_size,
                 "null key: the selector of \"%s\" gave no key, so the row "
                 "cannot be grouped",
                 ctx->node->name);
        return -1;
    }
    if (!out.value && !out.value_obj) {
        snprintf(why, why_size,
                 "null value: the selector of \"%s\" gave no value to "
                 "aggregate",
                 ctx->node->name);
        return -1;
    }
    if (out_value(&out, &st->scratch, &side->value, &side->value_len)) {
        snprintf(why, why_size, "the value selected by \"%s\" could not be serialized",
                 ctx->node->name);
        return -1;
    }
    side->present = true;
    side->key = out.key;
    side->key_len = out.key_len;
    return 0;
}

/* Selects the old row (its value decoded as the table's are) and copies the result into the
 * state, so that the new row's selection cannot overwrite it. A failure leaves it absent:
 * the row was dead-lettered when it came, and contributed nothing. */
static int select_old(rill_ctx_t *ctx, const rill__select_conf_t *c, rill__select_state_t *st,
                      const rill_record_t *rec, const rill__table_prev_t *prev,
                      rill__side_t *side) {
    const rill_serde_t *serde = c->table->value_serde;
    char why[256], err[256];
    side->present = false;
    if (!prev || !prev->present)
        return 0;
    rill_record_t row = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = prev->value.data ? prev->value.data : "",
                         .value_len = prev->value.len,
                         .value_serde = serde,
                         .timestamp = rec->timestamp,
                         .headers = rec->headers};
    if (serde && serde->deserialize &&
        serde->deserialize(serde, row.value, row.value_len, &row.value_obj, err, sizeof(err)))
        return 0;
    int rc = select_row(ctx, c, st, &row, side, why, sizeof(why));
    if (!rc) {
        rill_buf_reset(&st->old_key);
        rill_buf_reset(&st->old_value);
        if (rill_buf_append(&st->old_key, side->key, side->key_len) ||
            rill_buf_append(&st->old_value, side->value, side->value_len))
            rc = -2;
        side->key = st->old_key.data ? st->old_key.data : "";
        side->value = st->old_value.data ? st->old_value.data : "";
    }
    if (row.value_obj && serde->free_obj)
        serde->free_obj(serde, row.value_obj);
    if (rc == -2) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    side->present = !rc;
    return 0;
}

/* Writes one change record keyed key: old and/or new (NULL: absent). */
static int forward_change(rill_ctx_t *ctx, rill__select_state_t *st, const rill_record_t *rec,
                          const rill__side_t *key, const rill__side_t *old,
                          const rill__side_t *nw) {
    unsigned char head[CHANGE_HEAD];
    uint32_t old_len = old ? (uint32_t)old->value_len : 0;
    head[0] = (unsigned char)((old ? CHANGE_OLD : 0) | (nw ? CHANGE_NEW : 0));
    head[1] = (unsigned char)(old_len >> 24);
    head[2] = (unsigned char)(old_len >> 16);
    head[3] = (unsigned char)(old_len >> 8);
    head[4] = (unsigned char)old_len;
    rill_buf_reset(&st->frame);
    if (rill_buf_append(&st->frame, head, sizeof(head)) ||
        (old && rill_buf_append(&st->frame, old->value, old->value_len)) ||
        (nw && rill_buf_append(&st->frame, nw->value, nw->value_len))) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    rill_record_t out = {.key = key->key,
                         .key_len = key->key_len,
                         .value = st->frame.data,
                         .value_len = st->frame.len,
                         .value_serde = rill_serde_bytes(),
                         .timestamp = rec->timestamp,
                         .headers = rec->headers};
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static int select_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__select_conf_t *c = ctx->node->conf;
    rill__select_state_t *st = state;
    rill__side_t old, nw = {0};
    char why[256];
    if (!rec->key) /* the table took no such row */
        return 0;
    if (select_old(ctx, c, st, rec, rill__table_prev(ctx, c->table), &old))
        return -1;
    int dead = 0;
    if ((rec->value || rec->value_obj) && select_row(ctx, c, st, rec, &nw, why, sizeof(why)))
        dead = 1;
    if (old.present && nw.present && old.key_len == nw.key_len &&
        !memcmp(old.key, nw.key, old.key_len)) {
        if (forward_change(ctx, st, rec, &nw, &old, &nw))
            return -1;
    } else {
        if (old.present && forward_change(ctx, st, rec, &old, &old, NULL))
            return -1;
        if (nw.present && forward_change(ctx, st, rec, &nw, NULL, &nw))
            return -1;
    }
    /* Dead-lettered here, not by the task: the table's other children still get the row. */
    return dead ? rill__agg_dead_letter(ctx, rec, "%s", why) : 0;
}

static const rill__operator_t table_select_op = {
    .kind = "KTABLE-SELECT",
    .init = select_init,
    .process = select_process,
    .close = select_close,
    .free_conf = free,
};

rill_grouped_table_t *rill_table_group_by(rill_table_t *t, const char *name,
                                          rill_mapper_cb selector, void *opaque) {
    char node_name[64];
    if (!t || t->topo->error)
        return NULL;
    rill_topology_t *topo = t->topo;
    if (!selector) {
        rill__topology_fail(topo, "group_by of table \"%s\" needs a selector", t->node->name);
        return NULL;
    }
    if (t->store_kind != RILL_STORE_KV || t->window_kind) {
        rill__topology_fail(topo,
                            "group_by of table \"%s\": a windowed table cannot be "
                            "grouped anew",
                            t->node->name);
        return NULL;
    }
    rill__select_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    c->selector = selector;
    c->table = t;
    snprintf(node_name, sizeof(node_name), "%s-%010d", table_select_op.kind, topo->node_cnt);
    rill_stream_t *s =
        rill__topology_add(topo, &t->node->stream, node_name, &table_select_op, c, opaque);
    rill_stream_t *r = repartition(s, name, 1);
    if (!r)
        return NULL;
    t->send_old = true;
    c->grouped.topo = topo;
    c->grouped.source = r->node;
    return &c->grouped;
}

/* ---- grouped tables: KTABLE-AGGREGATE ---- */

typedef struct tagg_conf_s {
    rill_table_t table; /* first: the handle given to the user */
    rill__agg_fns_t fns;
} rill__tagg_conf_t;

typedef struct tagg_state_s {
    rill__table_prev_t prev; /* first: the group's previous aggregate (table_int.h) */
    rill__store_t *store;
    rill_buf_t agg, next; /* the aggregate, and the next one being computed */
    rill_buf_t val;       /* the stored value */
} rill__tagg_state_t;

/* A change record's value, parsed. */
typedef struct change_s {
    const void *old, *nw; /* NULL: absent */
    size_t old_len, new_len;
} rill__change_t;

static int change_parse(const rill_record_t *rec, rill__change_t *ch) {
    const unsigned char *v = rec->value;
    memset(ch, 0, sizeof(*ch));
    if (!v || rec->value_len < CHANGE_HEAD || (v[0] & ~(CHANGE_OLD | CHANGE_NEW)))
        return -1;
    size_t old_len = (size_t)v[1] << 24 | (size_t)v[2] << 16 | (size_t)v[3] << 8 | v[4];
    size_t rest = rec->value_len - CHANGE_HEAD;
    if (old_len > rest || (!(v[0] & CHANGE_OLD) && old_len) ||
        (!(v[0] & CHANGE_NEW) && old_len != rest))
        return -1;
    if (v[0] & CHANGE_OLD) {
        ch->old = v + CHANGE_HEAD;
        ch->old_len = old_len;
    }
    if (v[0] & CHANGE_NEW) {
        ch->nw = v + CHANGE_HEAD + old_len;
        ch->new_len = rest - old_len;
    }
    return 0;
}

static void tagg_free_conf(void *conf) {
    rill__tagg_conf_t *c = conf;
    if (c)
        free(c->table.store);
    free(c);
}

static int tagg_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__tagg_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    *statep = st;
    return 0;
}

static void tagg_close(const rill__node_t *node, void *state) {
    rill__tagg_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->prev.value);
    rill_buf_free(&st->agg);
    rill_buf_free(&st->next);
    rill_buf_free(&st->val);
    free(st);
}

static int tagg_store_failed(rill_ctx_t *ctx, const rill__tagg_conf_t *c, const char *what) {
    rill_ctx_set_error(ctx, "node \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       c->table.store);
    return -1;
}

/* Loads the group's aggregate into st->agg (the initial one when the group is new) and its
 * timestamp into *tsp (-1 when new); keeps the previous aggregate when asked. */
static int tagg_load(rill_ctx_t *ctx, const rill__tagg_conf_t *c, rill__tagg_state_t *st,
                     const rill_record_t *rec, int64_t *tsp) {
    const void *stored, *agg = NULL;
    size_t stored_len, agg_len = 0;
    *tsp = -1;
    int rc = rill__kv_get(st->store, rec->key, rec->key_len, &stored, &stored_len);
    if (rc < 0)
        return tagg_store_failed(ctx, c, "reading");
    if (rc > 0 && rill__stored_parse(stored, stored_len, &agg, &agg_len, tsp)) {
        rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" holds a malformed value",
                           ctx->node->name, c->table.store);
        return -1;
    }
    if (c->table.send_old && rill__table_prev_keep(&st->prev, agg, agg_len)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    if (!agg)
        return rill__agg_initial(ctx, &c->fns, &st->agg);
    rill_buf_reset(&st->agg);
    if (rill_buf_append(&st->agg, agg, agg_len)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    return 0;
}

/* Applies one side of a change to st->agg: the subtractor for the old value, the adder for the
 * new one. The callbacks see the group key and the selected value's bytes. */
static int tagg_apply(rill_ctx_t *ctx, const rill__tagg_conf_t *c, rill__tagg_state_t *st,
                      const rill_record_t *rec, const void *value, size_t len, int add) {
    rill_record_t side = {.key = rec->key,
                          .key_len = rec->key_len,
                          .value = value,
                          .value_len = len,
                          .value_serde = rill_serde_bytes(),
                          .timestamp = rec->timestamp,
                          .headers = rec->headers};
    const void *agg = st->agg.data ? st->agg.data : "";
    int rc = add ? rill__agg_add(ctx, &c->fns, &side, agg, st->agg.len, &st->next)
                 : rill__agg_subtract(ctx, &c->fns, &side, agg, st->agg.len, &st->next);
    if (rc)
        return -1;
    rill_buf_t tmp = st->agg;
    st->agg = st->next;
    st->next = tmp;
    return 0;
}

static int tagg_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__tagg_conf_t *c = ctx->node->conf;
    rill__tagg_state_t *st = state;
    rill__change_t ch;
    int64_t ts;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: aggregation \"%s\" groups by key and "
                                     "cannot place a record without one",
                                     ctx->node->name);
    if (change_parse(rec, &ch))
        return rill__agg_dead_letter(ctx, rec,
                                     "malformed change: aggregation \"%s\" reads "
                                     "records framed by a table's group_by",
                                     ctx->node->name);
    if (!ch.old && !ch.nw)
        return 0;
    if (!st->store && !(st->store = rill__ctx_store(ctx, c->table.store))) {
        rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" is not open", ctx->node->name,
                           c->table.store);
        return -1;
    }
    if (tagg_load(ctx, c, st, rec, &ts))
        return -1;
    /* On a callback's failure the group keeps its aggregate: nothing is written. */
    if ((ch.old && tagg_apply(ctx, c, st, rec, ch.old, ch.old_len, 0)) ||
        (ch.nw && tagg_apply(ctx, c, st, rec, ch.nw, ch.new_len, 1)))
        return -1;
    if (rec->timestamp > ts)
        ts = rec->timestamp;
    if (rill__stored_make(&st->val, ts, st->agg.data ? st->agg.data : "", st->agg.len) ||
        rill__kv_put(st->store, rec->key, rec->key_len, st->val.data, st->val.len))
        return tagg_store_failed(ctx, c, "writing");
    rill_record_t out = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = st->val.data + RILL__TS_LEN,
                         .value_len = st->agg.len,
                         .value_serde = rill__agg_serde(&c->fns),
                         .timestamp = ts,
                         .headers = rec->headers};
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static const rill__operator_t table_aggregate_op = {
    .kind = "KTABLE-AGGREGATE",
    .init = tagg_init,
    .process = tagg_process,
    .close = tagg_close,
    .free_conf = tagg_free_conf,
};

static rill_table_t *add_table_aggregation(rill_grouped_table_t *g, const char *store,
                                           const rill__agg_fns_t *fns, const char *what) {
    char name[64], gen[96];
    if (!g || g->topo->error || rill__store_claim(g->topo, store, RILL__CLAIM_NAME))
        return NULL;
    rill__tagg_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    c->fns = *fns;
    c->table.value_serde = rill__agg_serde(fns);
    /* Kafka Streams' names: KTABLE-AGGREGATE-<index> and its store. */
    snprintf(name, sizeof(name), "%s-%010d", table_aggregate_op.kind, g->topo->node_cnt);
    snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", table_aggregate_op.kind, g->topo->node_cnt);
    return rill__table_add_named(g->topo, g->source, name, &table_aggregate_op, c,
                                 store ? store : gen, RILL_STORE_KV, 0, 0, NULL);
}

rill_table_t *rill_grouped_table_count(rill_grouped_table_t *g, const char *store) {
    rill__agg_fns_t fns = {.kind = RILL__AGG_COUNT};
    return add_table_aggregation(g, store, &fns, "count");
}

rill_table_t *rill_grouped_table_aggregate(rill_grouped_table_t *g, const char *store,
                                           rill_initializer_cb init, rill_aggregator_cb adder,
                                           rill_aggregator_cb subtractor, void *opaque) {
    if (g && !g->topo->error && (!init || !adder || !subtractor)) {
        rill__topology_fail(g->topo,
                            "aggregate of grouped table \"%s\" needs an initializer, "
                            "an adder and a subtractor",
                            g->source->name);
        return NULL;
    }
    rill__agg_fns_t fns = {.kind = RILL__AGG_AGGREGATE,
                           .init = init,
                           .adder = adder,
                           .subtractor = subtractor,
                           .opaque = opaque};
    return add_table_aggregation(g, store, &fns, "aggregate");
}
