/*
 * join_global.c — stream–global table joins (inner, left), as Kafka Streams'
 * KStream#join(GlobalKTable).
 *
 * DESIGN
 * The join is one stateless node under the stream: each record's key mapper names a row,
 * read with a point get from the process's copy of the table (engine/global*.c keeps it
 * current; this file uses only its lookup, global_int.h), so the join needs no
 * co-partitioning and adds nothing to the stream's sub-topology but itself.
 */
#include "global_int.h"
#include "join_int.h"
#include "mapper_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gj_conf_s {
    rill_global_table_t *table; /* borrowed: owned by the topology */
    rill_join_kind_t kind;
    rill_mapper_cb key_fn;
    rill_joiner_cb joiner;
    void *opaque;
    int64_t unmatched; /* records that met no row, all tasks (atomic) */
} rill__gj_conf_t;

typedef struct gj_state_s {
    rill__global_row_t row;
    rill_buf_t val, out;
    rill__mapped_t mapped; /* the key mapper's output buffers */
} rill__gj_state_t;

/* ---- the join ---- */

static int gj_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    (void)ctx;
    (void)node;
    return (*statep = calloc(1, sizeof(rill__gj_state_t))) ? 0 : -1;
}

/* A record that met no row: left, joined with NULL; inner, dead-lettered. */
static int miss(rill_ctx_t *ctx, rill__gj_conf_t *c, rill__gj_state_t *st,
                const rill_record_t *mine, const void *key, size_t key_len) {
    __atomic_fetch_add(&c->unmatched, 1, __ATOMIC_RELAXED);
    if (c->kind == RILL_JOIN_LEFT)
        return rill__join_emit(ctx, c->joiner, c->opaque, mine->key, mine->key_len, mine, NULL,
                               mine->timestamp, mine->headers, &st->out);
    if (!key)
        return rill__agg_dead_letter(ctx, mine,
                                     "no global table row: the key mapper of join "
                                     "\"%s\" gave a null key (table \"%s\")",
                                     ctx->node->name, rill__global_topic(c->table));
    return rill__agg_dead_letter(ctx, mine,
                                 "no global table row: key \"%.*s\" is not in "
                                 "global table \"%s\" (join \"%s\")",
                                 (int)(key_len > 128 ? 128 : key_len), (const char *)key,
                                 rill__global_topic(c->table), ctx->node->name);
}

static int gj_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__gj_conf_t *c = ctx->node->conf;
    rill__gj_state_t *st = state;
    const void *value;
    size_t value_len;
    rill_record_t mapped;
    if (rill__map_run(&st->mapped, c->key_fn, c->opaque, rec, true, false, &mapped))
        return rill__agg_dead_letter(ctx, rec, "key mapper of join \"%s\" failed", ctx->node->name);
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len))
        return -1;
    rill_record_t mine = *rec;
    mine.value = value;
    mine.value_len = value_len;
    mine.value_obj = NULL;
    if (!mapped.key)
        return miss(ctx, c, st, &mine, NULL, 0);
    int rc = rill__global_lookup(ctx, c->table, mapped.key, mapped.key_len, &st->row);
    if (rc < 0)
        return -1;
    if (!rc)
        return miss(ctx, c, st, &mine, mapped.key, mapped.key_len);
    rill_record_t right = {.key = mapped.key,
                           .key_len = mapped.key_len,
                           .value = st->row.value,
                           .value_len = st->row.value_len,
                           .timestamp = st->row.timestamp,
                           .headers = rec->headers};
    return rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len, &mine, &right,
                           rec->timestamp, rec->headers, &st->out);
}

static void gj_close(const rill__node_t *node, void *state) {
    (void)node;
    rill__gj_state_t *st = state;
    if (!st)
        return;
    rill__global_row_free(&st->row);
    rill_buf_free(&st->val);
    rill_buf_free(&st->out);
    rill__mapped_free(&st->mapped);
    free(st);
}

static int64_t gj_metric(const rill__node_t *node, const char *name) {
    return rill__join_unmatched_metric(name, &((const rill__gj_conf_t *)node->conf)->unmatched);
}

static void gj_metrics(const rill__node_t *node, rill__mout_t *mo) {
    rill__join_unmatched_metrics(node, mo, &((const rill__gj_conf_t *)node->conf)->unmatched);
}

static const rill__operator_t join_global_op = {
    .kind = "KSTREAM-GLOBAL-JOIN",
    .init = gj_init,
    .process = gj_process,
    .close = gj_close,
    .free_conf = free,
    .metrics = gj_metrics,
    .metric = gj_metric,
};

rill_stream_t *rill_stream_global_join(rill_stream_t *s, rill_global_table_t *g, const char *name,
                                       rill_join_kind_t kind, rill_mapper_cb key_fn,
                                       rill_joiner_cb joiner, void *opaque) {
    if (!s || !g)
        return NULL;
    rill_topology_t *topo = s->topo;
    if (topo->error)
        return NULL;
    bool other = rill__global_topology(g) != topo;
    if (other || !key_fn || !joiner) {
        rill__topology_fail(topo, "rill_stream_global_join: %s",
                            other ? "the global table belongs to another topology"
                                  : "key_fn and joiner are required");
        return NULL;
    }
    if (kind != RILL_JOIN_INNER && kind != RILL_JOIN_LEFT) {
        rill__topology_fail(topo, "rill_stream_global_join: kind must be RILL_JOIN_INNER or "
                                  "RILL_JOIN_LEFT");
        return NULL;
    }
    rill__gj_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    *c = (rill__gj_conf_t){
        .table = g, .kind = kind, .key_fn = key_fn, .joiner = joiner, .opaque = opaque};
    rill_stream_t *out = rill__topology_add(topo, s, name, &join_global_op, c, opaque);
    return out && !rill__global_add_reader(g, out->node) ? out : NULL;
}
