/*
 * stateless.c — the stateless DSL operators: filter, map, map_values, select_key, flat_map,
 * flat_map_values, peek, foreach, merge, split/branch and custom processors (the Processor
 * API).
 *
 * DESIGN
 * Each operator is a rill__operator_t whose per-node configuration is the user's callback
 * (node->conf) and opaque (node->opaque). None keeps state across records, so none has init
 * or close, except custom processors, whose init/close are the user's, flat_map_values, and
 * the mappers, whose per-task state is the buffers their callback writes into (mapper_int.h):
 * no allocation per record once they have grown.
 *
 * flat_map_values is two nodes: the FLATMAPVALUES node runs the user's callback, which
 * forwards with rill_ctx_forward() as flat_map's does, and its one child, "<name>-key"
 * (KSTREAM-FLATMAPVALUES-KEY), gives every record forwarded the key (and window) of the input
 * record, which the first node keeps in its per-task state while the callback runs. So the
 * key cannot change whatever the callback forwards, and the callback stays a
 * rill_flat_mapper_cb. The user's children hang under the second node.
 */
#include "engine_int.h"
#include "mapper_int.h"

#include <stdlib.h>
#include <string.h>

/* The callback of a node, stored as its conf (a function pointer in a small box). */
typedef struct fn_box_s {
    void (*fn)(void);
    int negate; /* filter_not */
} rill__fn_box_t;

static void *box(void (*fn)(void), int negate) {
    rill__fn_box_t *b = malloc(sizeof(*b));
    if (b) {
        b->fn = fn;
        b->negate = negate;
    }
    return b;
}

static const rill__fn_box_t *box_of(const rill_ctx_t *ctx) {
    return ctx->node->conf;
}

static int fwd(rill_ctx_t *ctx, const rill_record_t *rec) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

/* ---- filter ---- */

static int filter_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__fn_box_t *b = box_of(ctx);
    int keep = ((rill_predicate_cb)b->fn)(rec, ctx->node->opaque) != 0;
    return keep != b->negate ? fwd(ctx, rec) : 0;
}

static const rill__operator_t filter_op = {
    .kind = "FILTER", .process = filter_process, .free_conf = free};

static rill_stream_t *add_filter(rill_stream_t *s, const char *name, rill_predicate_cb pred,
                                 void *opaque, int negate) {
    if (!s)
        return NULL;
    return rill__topology_add(s->topo, s, name, &filter_op, box((void (*)(void))pred, negate),
                              opaque);
}

rill_stream_t *rill_stream_filter(rill_stream_t *s, const char *name, rill_predicate_cb pred,
                                  void *opaque) {
    return add_filter(s, name, pred, opaque, 0);
}

rill_stream_t *rill_stream_filter_not(rill_stream_t *s, const char *name, rill_predicate_cb pred,
                                      void *opaque) {
    return add_filter(s, name, pred, opaque, 1);
}

/* ---- map, map_values, select_key ---- */

typedef enum map_kind_e { MAP_BOTH, MAP_VALUE, MAP_KEY } rill__map_kind_t;

static int map_apply(rill_ctx_t *ctx, const rill_record_t *rec, rill__mapped_t *m,
                     rill__map_kind_t kind) {
    rill_record_t out;
    if (rill__map_run(m, (rill_mapper_cb)box_of(ctx)->fn, ctx->node->opaque, rec, kind != MAP_VALUE,
                      kind != MAP_KEY, &out)) {
        if (!ctx->error[0])
            rill_ctx_set_error(ctx, "mapper of node \"%s\" failed", ctx->node->name);
        return -1;
    }
    return fwd(ctx, &out);
}

static int map_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return map_apply(ctx, rec, state, MAP_BOTH);
}
static int map_values_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return map_apply(ctx, rec, state, MAP_VALUE);
}
static int select_key_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return map_apply(ctx, rec, state, MAP_KEY);
}

/* The state of a mapping node: the mapper's output buffers (mapper_int.h). */
#define MAP_OP(kind_, process_)                                                                    \
    {                                                                                              \
        .kind = (kind_), .init = rill__mapped_init, .process = (process_),                         \
        .close = rill__mapped_close, .free_conf = free                                             \
    }
static const rill__operator_t map_op = MAP_OP("MAP", map_process);
static const rill__operator_t map_values_op = MAP_OP("MAPVALUES", map_values_process);
static const rill__operator_t select_key_op = MAP_OP("KEY-SELECT", select_key_process);

static rill_stream_t *add_fn(rill_stream_t *s, const char *name, const rill__operator_t *op,
                             void (*fn)(void), void *opaque) {
    if (!s)
        return NULL;
    if (!fn) {
        rill__topology_fail(s->topo, "%s node \"%s\" needs a callback", op->kind,
                            name ? name : "(unnamed)");
        return NULL;
    }
    return rill__topology_add(s->topo, s, name, op, box(fn, 0), opaque);
}

rill_stream_t *rill_stream_map(rill_stream_t *s, const char *name, rill_mapper_cb fn,
                               void *opaque) {
    return add_fn(s, name, &map_op, (void (*)(void))fn, opaque);
}

rill_stream_t *rill_stream_map_values(rill_stream_t *s, const char *name, rill_mapper_cb fn,
                                      void *opaque) {
    return add_fn(s, name, &map_values_op, (void (*)(void))fn, opaque);
}

rill_stream_t *rill_stream_select_key(rill_stream_t *s, const char *name, rill_mapper_cb fn,
                                      void *opaque) {
    return add_fn(s, name, &select_key_op, (void (*)(void))fn, opaque);
}

/* ---- flat_map, peek ---- */

static int flat_map_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    if (((rill_flat_mapper_cb)box_of(ctx)->fn)(ctx, rec, ctx->node->opaque)) {
        if (!ctx->error[0])
            rill_ctx_set_error(ctx, "flat_map of node \"%s\" failed", ctx->node->name);
        return -1;
    }
    return 0;
}

static int peek_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    ((rill_peek_cb)box_of(ctx)->fn)(rec, ctx->node->opaque);
    return fwd(ctx, rec);
}

static const rill__operator_t flat_map_op = {
    .kind = "FLATMAP", .process = flat_map_process, .free_conf = free};
static const rill__operator_t peek_op = {
    .kind = "PEEK", .process = peek_process, .free_conf = free};

rill_stream_t *rill_stream_flat_map(rill_stream_t *s, const char *name, rill_flat_mapper_cb fn,
                                    void *opaque) {
    return add_fn(s, name, &flat_map_op, (void (*)(void))fn, opaque);
}

rill_stream_t *rill_stream_peek(rill_stream_t *s, const char *name, rill_peek_cb fn, void *opaque) {
    return add_fn(s, name, &peek_op, (void (*)(void))fn, opaque);
}

/* ---- flat_map_values, foreach ---- */

/* The FLATMAPVALUES node's per-task state: the input record while the callback runs. */
typedef struct fmv_state_s {
    const rill_record_t *in;
} rill__fmv_state_t;

static int fmv_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(rill__fmv_state_t))) ? 0 : -1;
}

static void fmv_close(const rill__node_t *node, void *state) {
    free(state);
}

static int fmv_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__fmv_state_t *st = state;
    st->in = rec;
    int rc = flat_map_process(ctx, rec, NULL);
    st->in = NULL; /* rec is borrowed: it ends with this call */
    return rc;
}

/* The key node's conf: the FLATMAPVALUES node whose input record gives the key. */
typedef struct fmv_key_conf_s {
    int parent_id;
} rill__fmv_key_conf_t;

static int fmv_key_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__fmv_key_conf_t *c = ctx->node->conf;
    const rill__fmv_state_t *pst = rill__ctx_node_state(ctx, c->parent_id);
    if (!pst || !pst->in) {
        rill_ctx_set_error(ctx, "node \"%s\": a record came without its input record",
                           ctx->node->name);
        return -1;
    }
    rill_record_t out = *rec;
    out.key = pst->in->key;
    out.key_len = pst->in->key_len;
    out.window_kind = pst->in->window_kind;
    out.window_start = pst->in->window_start;
    out.window_end = pst->in->window_end;
    return fwd(ctx, &out);
}

static int foreach_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    ((rill_peek_cb)box_of(ctx)->fn)(rec, ctx->node->opaque);
    return 0;
}

static const rill__operator_t fmv_op = {.kind = "FLATMAPVALUES",
                                        .init = fmv_init,
                                        .process = fmv_process,
                                        .close = fmv_close,
                                        .free_conf = free};
static const rill__operator_t fmv_key_op = {
    .kind = "FLATMAPVALUES-KEY", .process = fmv_key_process, .free_conf = free};
static const rill__operator_t foreach_op = {
    .kind = "FOREACH", .process = foreach_process, .free_conf = free};

rill_stream_t *rill_stream_flat_map_values(rill_stream_t *s, const char *name,
                                           rill_flat_mapper_cb fn, void *opaque) {
    char key_name[300];
    rill_stream_t *f = add_fn(s, name, &fmv_op, (void (*)(void))fn, opaque);
    if (!f)
        return NULL;
    rill__fmv_key_conf_t *c = malloc(sizeof(*c));
    if (!c) {
        rill__topology_fail(s->topo, "out of memory");
        return NULL;
    }
    c->parent_id = f->node->id;
    snprintf(key_name, sizeof(key_name), "%s-key", f->node->name);
    return rill__topology_add(s->topo, f, key_name, &fmv_key_op, c, NULL);
}

rill_err_t rill_stream_foreach(rill_stream_t *s, const char *name, rill_peek_cb fn, void *opaque) {
    return add_fn(s, name, &foreach_op, (void (*)(void))fn, opaque) ? RILL_OK : RILL_ERR_TOPOLOGY;
}

/* ---- merge: a pass-through node with two parents ---- */

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return fwd(ctx, rec);
}

static const rill__operator_t merge_op = {.kind = "MERGE", .process = pass_process};

rill_stream_t *rill_stream_merge(rill_stream_t *a, rill_stream_t *b, const char *name) {
    if (!a || !b)
        return NULL;
    if (a->topo != b->topo) {
        rill__topology_fail(a->topo, "merge of streams from two different topologies");
        return NULL;
    }
    rill_stream_t *m = rill__topology_add(a->topo, a, name, &merge_op, NULL, NULL);
    if (m && rill__topology_connect(a->topo, b->node, m->node))
        return NULL;
    return m;
}

/* ---- custom processors ---- */

typedef struct proc_conf_s {
    rill_processor_def_t def;
} rill__proc_conf_t;

typedef struct proc_state_s {
    void *user;
} rill__proc_state_t;

static int proc_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    const rill__proc_conf_t *pc = node->conf;
    rill__proc_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    *statep = st;
    if (pc->def.init && pc->def.init(ctx, &st->user, node->opaque))
        return -1;
    return 0;
}

static int proc_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__proc_conf_t *pc = ctx->node->conf;
    rill__proc_state_t *st = state;
    if (pc->def.process(ctx, rec, st->user)) {
        if (!ctx->error[0])
            rill_ctx_set_error(ctx, "processor \"%s\" failed", ctx->node->name);
        return -1;
    }
    return 0;
}

static void proc_close(const rill__node_t *node, void *state) {
    const rill__proc_conf_t *pc = node->conf;
    rill__proc_state_t *st = state;
    if (st && pc->def.close)
        pc->def.close(st->user, node->opaque);
    free(st);
}

static const rill__operator_t proc_op = {
    .kind = "PROCESSOR",
    .init = proc_init,
    .process = proc_process,
    .close = proc_close,
    .free_conf = free,
};

rill_stream_t *rill_stream_process(rill_stream_t *s, const char *name,
                                   const rill_processor_def_t *def, void *opaque) {
    if (!s)
        return NULL;
    if (!def || !def->process) {
        rill__topology_fail(s->topo, "processor \"%s\" needs a process callback",
                            name ? name : "(unnamed)");
        return NULL;
    }
    rill__proc_conf_t *pc = malloc(sizeof(*pc));
    if (pc)
        pc->def = *def;
    return rill__topology_add(s->topo, s, name, &proc_op, pc, opaque);
}
