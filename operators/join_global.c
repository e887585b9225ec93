/*
 * join_global.c — global tables (declared here, read by engine/global.c) and stream–global
 * table joins (inner, left), as Kafka Streams' GlobalKTable and KStream#join(GlobalKTable).
 *
 * DESIGN
 * A global table is not a node: it belongs to no sub-topology and makes no task, since every
 * process holds all of it. The join is one stateless node under the stream: each record's
 * key mapper names a row, read with a point get from the process's copy (which the reader
 * thread keeps current), so the join needs no co-partitioning and adds nothing to the
 * stream's sub-topology but itself.
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
} gj_conf_t;

typedef struct gj_state_s {
    rill_buf_t keybuf, row, val, out;
    rill__mapped_t mapped; /* the key mapper's output buffers */
} gj_state_t;

/* ---- declaring global tables ---- */

static int store_taken(const rill_topology_t *topo, const char *store) {
    for (int i = 0; i < topo->global_cnt; i++)
        if (!strcmp(topo->globals[i]->store, store))
            return 1;
    for (int i = 0; i < topo->store_cnt; i++)
        if (!strcmp(rill__store_def_name(topo->stores[i]), store))
            return 1;
    return 0;
}

rill_global_table_t *rill_global_table(rill_topology_t *topo, const char *topic,
                                       const rill_source_opts_t *opts, const char *store) {
    char gen[300];
    if (!topo || topo->error)
        return NULL;
    if (!topic || !*topic) {
        rill__topology_fail(topo, "rill_global_table: a topic is required");
        return NULL;
    }
    if (rill__table_check_store(topo, store, "rill_global_table"))
        return NULL;
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-global-store", topic);
        store = gen;
    }
    for (int i = 0; i < topo->global_cnt; i++) {
        if (!strcmp(topo->globals[i]->topic, topic)) {
            rill__topology_fail(topo, "rill_global_table: topic \"%s\" already has a global "
                                "table: join that one", topic);
            return NULL;
        }
    }
    if (store_taken(topo, store)) {
        rill__topology_fail(topo, "store \"%s\" is declared twice: a global table needs a "
                            "store of its own", store);
        return NULL;
    }
    rill_global_table_t **globals =
        realloc(topo->globals, (size_t)(topo->global_cnt + 1) * sizeof(*globals));
    rill_global_table_t *g = calloc(1, sizeof(*g));
    if (globals)
        topo->globals = globals;
    if (!globals || !g || !(g->topic = strdup(topic)) || !(g->store = strdup(store))) {
        if (g)
            free(g->topic);
        free(g);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    g->topo = topo;
    g->idx = topo->global_cnt;
    if (opts)
        g->opts = *opts;
    topo->globals[topo->global_cnt++] = g;
    return g;
}

const char *rill__global_store_name(const rill_global_table_t *g) {
    return g->store;
}

void rill__global_free_defs(rill_topology_t *topo) {
    for (int i = 0; i < topo->global_cnt; i++) {
        free(topo->globals[i]->topic);
        free(topo->globals[i]->store);
        free(topo->globals[i]);
    }
    free(topo->globals);
    topo->globals = NULL;
    topo->global_cnt = 0;
}

/* ---- the join ---- */

static int gj_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    (void)ctx;
    (void)node;
    return (*statep = calloc(1, sizeof(gj_state_t))) ? 0 : -1;
}

/* A record that met no row: left, joined with NULL; inner, dead-lettered. */
static int miss(rill_ctx_t *ctx, gj_conf_t *c, gj_state_t *st, const rill_record_t *mine,
                const void *key, size_t key_len) {
    __atomic_fetch_add(&c->unmatched, 1, __ATOMIC_RELAXED);
    if (c->kind == RILL_JOIN_LEFT)
        return rill__join_emit(ctx, c->joiner, c->opaque, mine->key, mine->key_len, mine, NULL,
                               mine->timestamp, mine->headers, &st->out);
    if (!key)
        return rill__agg_dead_letter(ctx, mine, "no global table row: the key mapper of join "
                                     "\"%s\" gave a null key (table \"%s\")", ctx->node->name,
                                     c->table->topic);
    return rill__agg_dead_letter(ctx, mine, "no global table row: key \"%.*s\" is not in "
                                 "global table \"%s\" (join \"%s\")",
                                 (int)(key_len > 128 ? 128 : key_len), (const char *)key,
                                 c->table->topic, ctx->node->name);
}

static int gj_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    gj_conf_t *c = ctx->node->conf;
    gj_state_t *st = state;
    const void *value;
    size_t value_len;
    char errstr[256];
    rill_record_t mapped;
    if (rill__map_run(&st->mapped, c->key_fn, c->opaque, rec, true, false, &mapped))
        return rill__agg_dead_letter(ctx, rec, "key mapper of join \"%s\" failed",
                                     ctx->node->name);
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len))
        return -1;
    rill_record_t mine = *rec;
    mine.value = value;
    mine.value_len = value_len;
    mine.value_obj = NULL;
    if (!mapped.key)
        return miss(ctx, c, st, &mine, NULL, 0);
    const void *row = NULL;
    size_t row_len = 0;
    int64_t row_ts = 0;
    int rc = rill__global_get(rill__ctx_thread(ctx)->app, c->table, mapped.key,
                              mapped.key_len, &st->keybuf, &st->row, &row, &row_len, &row_ts,
                              errstr, sizeof(errstr));
    if (rc < 0) {
        rill_ctx_set_error(ctx, "join \"%s\": reading global store \"%s\" failed: %s",
                           ctx->node->name, c->table->store, errstr);
        return -1;
    }
    if (!rc)
        return miss(ctx, c, st, &mine, mapped.key, mapped.key_len);
    rill_record_t right = {.key = mapped.key, .key_len = mapped.key_len, .value = row,
                           .value_len = row_len, .timestamp = row_ts, .headers = rec->headers};
    return rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len, &mine, &right,
                           rec->timestamp, rec->headers, &st->out);
}

static void gj_close(const rill__node_t *node, void *state) {
    (void)node;
    gj_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->keybuf);
    rill_buf_free(&st->row);
    rill_buf_free(&st->val);
    rill_buf_free(&st->out);
    rill__mapped_free(&st->mapped);
    free(st);
}

static int64_t gj_metric(const rill__node_t *node, const char *name) {
    const gj_conf_t *c = node->conf;
    if (!strcmp(name, "rill_join_unmatched_total"))
        return __atomic_load_n(&c->unmatched, __ATOMIC_RELAXED);
    return -1;
}

static const rill__operator_t join_global_op = {
    .kind = "KSTREAM-GLOBAL-JOIN",
    .init = gj_init,
    .process = gj_process,
    .close = gj_close,
    .free_conf = free,
    .metric = gj_metric,
};

bool rill__is_global_join(const rill__node_t *node, const rill_global_table_t *g) {
    return node->op == &join_global_op && ((const gj_conf_t *)node->conf)->table == g;
}

rill_stream_t *rill_stream_global_join(rill_stream_t *s, rill_global_table_t *g,
                                       const char *name, rill_join_kind_t kind,
                                       rill_mapper_cb key_fn, rill_joiner_cb joiner,
                                       void *opaque) {
    if (!s || !g)
        return NULL;
    rill_topology_t *topo = s->topo;
    if (topo->error)
        return NULL;
    if (g->topo != topo || !key_fn || !joiner) {
        rill__topology_fail(topo, "rill_stream_global_join: %s",
                            g->topo != topo ? "the global table belongs to another topology"
                                            : "key_fn and joiner are required");
        return NULL;
    }
    if (kind != RILL_JOIN_INNER && kind != RILL_JOIN_LEFT) {
        rill__topology_fail(topo, "rill_stream_global_join: kind must be RILL_JOIN_INNER or "
                            "RILL_JOIN_LEFT");
        return NULL;
    }
    gj_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    *c = (gj_conf_t){.table = g, .kind = kind, .key_fn = key_fn, .joiner = joiner,
                     .opaque = opaque};
    return rill__topology_add(topo, s, name, &join_global_op, c, opaque);
}
