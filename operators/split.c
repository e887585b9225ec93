/*
 * split.c — split/branch: route each record to the first branch whose predicate holds, or to
 * the default branch.
 *
 * DESIGN
 * The split node's configuration is the rill_split_t handle itself: the ordered list of
 * branches, each a predicate and the pass-through child node that starts the branch's stream.
 * A record goes to exactly one branch (or none, when nothing matches and there is no default
 * branch), as in Kafka Streams' split().
 */
#include "engine_int.h"

#include <stdlib.h>

typedef struct branch_s {
    rill_predicate_cb pred; /* NULL: the default branch */
    void *opaque;
    rill__node_t *child;
} rill__branch_t;

struct rill_split_s {
    rill_topology_t *topo;
    rill__node_t *node;
    rill__branch_t *branches;
    int branch_cnt;
    int has_default;
};

static int split_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill_split_t *split = ctx->node->conf;
    for (int i = 0; i < split->branch_cnt; i++) {
        const rill__branch_t *b = &split->branches[i];
        if (!b->pred || b->pred(rec, b->opaque))
            return rill__ctx_forward_node(ctx, b->child, rec) ? -1 : 0;
    }
    return 0;
}

static void split_free(void *conf) {
    rill_split_t *split = conf;
    if (split)
        free(split->branches);
    free(split);
}

static const rill__operator_t split_op = {
    .kind = "BRANCH", .process = split_process, .free_conf = split_free};

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill__operator_t branch_child_op = {.kind = "BRANCH-CHILD", .process = pass_process};

rill_split_t *rill_stream_split(rill_stream_t *s, const char *name) {
    if (!s)
        return NULL;
    rill_split_t *split = calloc(1, sizeof(*split));
    if (!split) {
        rill__topology_fail(s->topo, "out of memory");
        return NULL;
    }
    rill_stream_t *ns = rill__topology_add(s->topo, s, name, &split_op, split, NULL);
    if (!ns)
        return NULL;
    split->topo = s->topo;
    split->node = ns->node;
    return split;
}

static rill_stream_t *add_branch(rill_split_t *split, const char *name, rill_predicate_cb pred,
                                 void *opaque) {
    if (!split)
        return NULL;
    if (split->has_default) {
        rill__topology_fail(split->topo, "split \"%s\": no branch may follow the default branch",
                            split->node->name);
        return NULL;
    }
    rill__branch_t *b = realloc(split->branches, sizeof(*b) * (size_t)(split->branch_cnt + 1));
    if (!b) {
        rill__topology_fail(split->topo, "out of memory");
        return NULL;
    }
    split->branches = b;
    rill_stream_t *child =
        rill__topology_add(split->topo, &split->node->stream, name, &branch_child_op, NULL, NULL);
    if (!child)
        return NULL;
    b[split->branch_cnt++] = (rill__branch_t){.pred = pred, .opaque = opaque, .child = child->node};
    split->has_default = pred == NULL;
    return child;
}

rill_stream_t *rill_split_branch(rill_split_t *split, const char *name, rill_predicate_cb pred,
                                 void *opaque) {
    if (split && !pred) {
        rill__topology_fail(split->topo, "split \"%s\": a branch needs a predicate",
                            split->node->name);
        return NULL;
    }
    return add_branch(split, name, pred, opaque);
}

rill_stream_t *rill_split_default(rill_split_t *split, const char *name) {
    return add_branch(split, name, NULL, NULL);
}
