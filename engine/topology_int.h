/*
 * topology_int.h — internal view of a topology: nodes, their operators, and the
 * sub-topologies computed when an app freezes it.
 */
#ifndef RILL_TOPOLOGY_INT_H
#define RILL_TOPOLOGY_INT_H

#include "metrics_int.h"
#include "rill.h"

#include <stdbool.h>

typedef struct rill__node_s rill__node_t;
typedef struct rill__task_s rill__task_t;

typedef enum rill__node_kind_e {
    RILL_NODE_SOURCE,
    RILL_NODE_PROCESSOR,
    RILL_NODE_SINK
} rill__node_kind_t;

/*
 * An operator: the behaviour of a node. Operators in operators/ define a constant of this
 * type (or embed it as "super" in a larger one). Every callback runs on the stream thread of
 * the task that owns the node instance.
 *  - init: creates the per-task state of node in task (*statep); NULL callback = no state.
 *  - process: handles one record; forwards with rill_ctx_forward(). Non-zero = error (DLQ).
 *  - punctuate: called as the task's stream time advances, may be NULL.
 *  - commit: called before the task commits, to flush what it buffers; may be NULL.
 *  - close: frees the per-task state. An operator with work in flight hands it to the
 *    thread with rill__thread_adopt() instead of waiting.
 * Asynchronous operators (FaaS stages) also have:
 *  - poll: called on every loop iteration of the thread (and when the thread is woken) to
 *    apply completions and release results downstream; returns the number of milliseconds
 *    until it wants to be polled again even if nothing happens (INT32_MAX: no deadline), or
 *    a negative value on a fatal error.
 *  - low_watermark: the lowest offset of input partition (topic, partition) whose results
 *    have not left the node, or -1 when it holds none; the task never commits past it
 *    (docs/DESIGN.md, invariant 3).
 *  - backpressure: non-zero while the node holds as many records as it may; the task then
 *    stops feeding it and its input partitions fill up and pause.
 *  - low_time: the lowest timestamp of the records the node holds (INT64_MAX: none); the
 *    task's progress never passes it (progress.c).
 *  - holds: non-zero while the node holds any record whose results have not left, also one
 *    with no input offset to hold back (from a punctuation or a commit's cache flush).
 */
typedef struct rill__operator_s {
    const char *kind;   /* "FILTER", "MAP", ... used in generated names */
    bool copartitioned; /* the node's inputs must be co-partitioned (joins, completion) */
    int (*init)(rill_ctx_t *ctx, const rill__node_t *node, void **statep);
    int (*process)(rill_ctx_t *ctx, const rill_record_t *rec, void *state);
    int (*punctuate)(rill_ctx_t *ctx, int64_t stream_time, void *state);
    int (*commit)(rill_ctx_t *ctx, void *state);
    void (*close)(const rill__node_t *node, void *state);
    void (*free_conf)(void *conf); /* frees node->conf when the topology goes; may be NULL */
    int (*poll)(rill_ctx_t *ctx, void *state);
    int64_t (*low_watermark)(void *state, const char *topic, int32_t partition);
    int (*backpressure)(void *state);
    int64_t (*low_time)(void *state);
    int (*holds)(void *state);
    /* Bytes the node keeps in memory until the next commit (a record cache): counted with the
     * stores' write caches against statestore.cache.max.bytes, so a commit comes early when
     * they together pass it. May be NULL. */
    size_t (*cache_bytes)(void *state);
    /* Adds the node's own metrics to a collector (metrics_int.h) and looks one up by name
     * (-1: not this node's). Both may be NULL. Called from any thread. */
    void (*metrics)(const rill__node_t *node, rill__mout_t *mo);
    int64_t (*metric)(const rill__node_t *node, const char *name);
} rill__operator_t;

struct rill_stream_s {
    rill_topology_t *topo;
    rill__node_t *node;
};

typedef struct rill__source_s {
    char **topics;
    int topic_cnt;
    rill_source_opts_t opts;
    bool internal; /* a repartition topic: "<application.id>-" is prefixed at app creation */
} rill__source_t;

typedef struct rill__sink_s {
    char *topic;
    rill_sink_opts_t opts;
    bool internal; /* as for sources */
} rill__sink_t;

struct rill__node_s {
    int id; /* index in topo->nodes */
    char *name;
    rill__node_kind_t kind;
    const rill__operator_t *op;
    void *conf;   /* the operator's own configuration (owned, freed by op->free_conf) */
    void *opaque; /* the user's opaque for callbacks */
    rill__node_t **children;
    int child_cnt;
    rill__node_t **parents;
    int parent_cnt;
    int subtopology;                   /* set by rill__topology_freeze() */
    rill__source_t source;             /* kind == SOURCE */
    rill__sink_t sink;                 /* kind == SINK */
    rill_stream_t stream;              /* the handle the builder returns for this node */
    struct rill__store_def_s **stores; /* stores the node uses */
    int store_cnt;
};

typedef struct rill__subtopology_s {
    int id;
    char **topics; /* source topics, borrowed from the source nodes */
    int topic_cnt;
    rill__node_t **sources;
    int source_cnt;
    bool copartitioned; /* its sources must have equal partition counts (joins) */
} rill__subtopology_t;

struct rill_topology_s {
    rill__node_t **nodes;
    int node_cnt;
    int node_cap;
    char *error; /* sticky first builder error */
    bool frozen;
    rill__subtopology_t *subs;
    int sub_cnt;
    struct rill__store_def_s **stores; /* every store, in declaration order */
    int store_cnt;
    struct rill_global_table_s **globals; /* global tables (engine/global_def.c) */
    int global_cnt;
};

/*
 * Adds a processor node under parent (NULL for none) running op with conf (ownership of
 * conf passes to the topology, also on failure). name NULL: generated from op->kind.
 * Returns the new stream or NULL after setting the sticky error.
 */
rill_stream_t *rill__topology_add(rill_topology_t *topo, rill_stream_t *parent, const char *name,
                                  const rill__operator_t *op, void *conf, void *opaque);

/* Connects an extra parent to a node (merge, joins). Returns 0 or -1 (sticky error). */
int rill__topology_connect(rill_topology_t *topo, rill__node_t *parent, rill__node_t *child);

/* Records the first builder error (printf-style). */
void rill__topology_fail(rill_topology_t *topo, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Validates the topology and computes its sub-topologies (connected components). Idempotent.
 * Returns 0, or RILL_ERR_TOPOLOGY with a message.
 */
rill_err_t rill__topology_freeze(rill_topology_t *topo, char *errstr, size_t errstr_size);

/* The source node reading topic, or NULL. Topology must be frozen. */
rill__node_t *rill__topology_source_for(const rill_topology_t *topo, const char *topic);

/* The name of a store declaration (state/store_def.c). */
const char *rill__store_def_name(const struct rill__store_def_s *def);
/* The store of a global table (global_def.c). */
const char *rill__global_store_name(const struct rill_global_table_s *g);
/* rill_stream_repartition with the serdes of the reading source given (NULL: bytes keys and
 * the upstream value serde). */
rill_stream_t *rill__stream_repartition(rill_stream_t *s, const char *name,
                                        const rill_source_opts_t *source_opts);

/* Prefixes the internal (repartition) topics of the topology with "<app_id>-". Once. */
int rill__topology_name_internal(rill_topology_t *topo, const char *app_id);

/* Frees the store declarations (state/store_def.c). */
void rill__topology_free_stores(rill_topology_t *topo);

/* Finds a node by name, or NULL. */
rill__node_t *rill__topology_node(const rill_topology_t *topo, const char *name);

#endif
