/*
 * table_int.h — what the aggregation operators share: the grouped, windowed and table handles,
 * the aggregate functions (count, reduce, aggregate) behind one interface, the layout of
 * stored aggregates, a table row's previous value for the nodes that need it, and
 * dead-lettering from inside an aggregation.
 *
 * All functions run on the stream thread of the task whose record is at hand, except the
 * builder ones (rill__table_*), which run where the topology is built.
 */
#ifndef RILL_TABLE_INT_H
#define RILL_TABLE_INT_H

#include "cache_int.h"   /* rill__cache_t: the record cache of aggregations */
#include "counter_int.h" /* rill__counter_add: counters shared by the tasks of a node */
#include "engine_int.h"
#include "stores_int.h"

typedef enum rill__agg_kind_e {
    RILL__AGG_COUNT = 0,
    RILL__AGG_REDUCE = 1,
    RILL__AGG_AGGREGATE = 2
} rill__agg_kind_t;

/* The functions of one aggregation (the user's, or the built-in count). */
typedef struct rill__agg_fns_s {
    rill__agg_kind_t kind;
    rill_initializer_cb init;      /* AGGREGATE */
    rill_aggregator_cb adder;      /* AGGREGATE; the reducer for REDUCE */
    rill_aggregator_cb subtractor; /* AGGREGATE over a grouped table */
    rill_merger_cb merger;         /* AGGREGATE over sessions */
    void *opaque;
    bool init_own_opaque; /* init gets init_opaque instead of opaque (cogroup: one
                             initializer, an opaque per aggregator) */
    void *init_opaque;
} rill__agg_fns_t;

struct rill_grouped_s {
    rill_topology_t *topo;
    rill__node_t *node;          /* the group-by-key node, a pass-through */
    rill_windowed_t *windowed;   /* the windowings made of it (owned, a list) */
    rill_cogrouped_t *cogrouped; /* the cogroups it starts (owned, a list) */
};

/* Frees a list of cogroups (cogroup.c). */
void rill__cogrouped_free(rill_cogrouped_t *cg);

struct rill_windowed_s {
    rill_grouped_t *grouped;
    rill_window_spec_t spec; /* validated; retention filled in */
    rill_windowed_t *next;
};

/* A table: the node that forwards its updates (an aggregation, or the node of a table read
 * from a topic) and the store that holds it. It is the first member of its node's conf, so it
 * lives and dies with the topology. */
struct rill_table_s {
    rill_topology_t *topo;
    rill__node_t *node;
    char *store; /* owned */
    rill__store_kind_t store_kind;
    rill_window_kind_t window_kind;  /* 0 for a key-value table */
    const rill_serde_t *value_serde; /* decodes its values (NULL: bytes) */
    bool send_old; /* a child needs each row's previous value (see rill__table_prev_t) */
};

/*
 * The previous value of the row a key-value table node is forwarding (Kafka Streams' "sending
 * old values", asked for by rill_table_group_by() through table->send_old). The per-task
 * state of every key-value table node begins with one; when send_old is set, the node fills
 * it in before each forward, from its store before the write, and its children read it with
 * rill__table_prev() while they process the forwarded record.
 */
typedef struct rill__table_prev_s {
    rill_buf_t value; /* the previous value (an aggregate: without its timestamp) */
    bool present;     /* false: the row is new */
} rill__table_prev_t;

/* Keeps a copy of value (NULL: the row was absent). Returns 0 or -1 (out of memory). */
int rill__table_prev_keep(rill__table_prev_t *prev, const void *value, size_t len);
/* The previous value of the row table's node is forwarding in ctx's task (see above). */
const rill__table_prev_t *rill__table_prev(const rill_ctx_t *ctx, const rill_table_t *table);

/*
 * A materialized key-value table node whose rows are records it is handed (a table read from
 * a topic, a stream made a table, a table join's result, a filtered or mapped table). Its
 * per-task state is this struct, prev first (see above); rill__kv_table_init/close are the
 * operator's init and close.
 */
typedef struct rill__kv_table_state_s {
    rill__table_prev_t prev; /* first: the row's previous value */
    rill__store_t *store;    /* the table's store, opened on first use */
    rill_buf_t val;          /* the stored value being written */
    rill_buf_t enc;          /* a decoded value encoded */
} rill__kv_table_state_t;

int rill__kv_table_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep);
void rill__kv_table_close(const rill__node_t *node, void *state);
/* Frees a conf whose first member is its table (and the table's store name). */
void rill__kv_table_free_conf(void *conf);

/* The operator of such a node: kind, process, and the functions above. */
#define RILL__KV_TABLE_OP(kind_, process_)                                                         \
    {                                                                                              \
        .kind = (kind_), .init = rill__kv_table_init, .process = (process_),                       \
        .close = rill__kv_table_close, .free_conf = rill__kv_table_free_conf                       \
    }

/*
 * Adds such a node under parent running op with conf (taken, also on failure; its first
 * member is the table, whose value_serde the caller has set), named name (NULL:
 * "<kind>-<index>", as Kafka Streams names it) with its key-value store (NULL:
 * "<kind>-STATE-STORE-<index>"; empty: an error naming what). Returns the table or NULL with
 * the builder error set.
 */
rill_table_t *rill__kv_table_add(rill_topology_t *topo, rill__node_t *parent, const char *name,
                                 const rill__operator_t *op, void *conf, const char *store,
                                 const char *what);

/*
 * Makes rec key's new row of table t and forwards it: its value bytes (or, with none, its
 * decoded value encoded by its value serde) with rec's timestamp, or a deletion when rec has
 * neither. The row's previous value is kept first for the children that need it (send_old).
 * skip_absent: a deletion of a row that is not there forwards nothing. The record forwarded
 * is rec with its value bytes; it keeps its decoded value only when t has a value serde
 * (else its children see bytes, as they do for the old values). Returns 0, or -1 with the
 * reason set in ctx.
 */
int rill__kv_table_apply(rill_ctx_t *ctx, const rill_table_t *t, rill__kv_table_state_t *st,
                         const rill_record_t *rec, bool skip_absent);

/*
 * Stored aggregates of key-value and window stores are [timestamp 8 bytes BE][aggregate]: the
 * timestamp is the largest among the records aggregated (Kafka Streams' ValueAndTimestamp) and
 * becomes the timestamp of the result. Session stores hold the aggregate alone: a session's
 * timestamp is its end.
 */
#define RILL__TS_LEN 8

/* Splits a stored value. Returns 0, or -1 when it is too short to be one. */
int rill__stored_parse(const void *value, size_t len, const void **aggp, size_t *agg_lenp,
                       int64_t *tsp);
/* Writes [ts][agg] to out (reset first). Returns 0 or -1 (out of memory). */
int rill__stored_make(rill_buf_t *out, int64_t ts, const void *agg, size_t agg_len);

/*
 * The aggregate functions. Each writes its result to out (reset first) and returns 0, or -1
 * with the reason set in ctx (the caller dead-letters the record).
 *  - initial: the aggregate of nothing (count: 0; aggregate: the initializer's).
 *  - add: rec added to agg; agg NULL means the key or window is new (count: 1; reduce: the
 *    record's value; aggregate: the adder over the initial aggregate).
 *  - subtract: rec taken out of agg, which is not NULL (count: minus 1; aggregate: the
 *    subtractor; reduce: an error). For grouped tables.
 *  - merge: two sessions' aggregates combined (count: the sum; aggregate: the merger).
 */
int rill__agg_initial(rill_ctx_t *ctx, const rill__agg_fns_t *fns, rill_buf_t *out);
int rill__agg_add(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const rill_record_t *rec,
                  const void *agg, size_t agg_len, rill_buf_t *out);
int rill__agg_subtract(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const rill_record_t *rec,
                       const void *agg, size_t agg_len, rill_buf_t *out);
int rill__agg_merge(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const void *a, size_t a_len,
                    const void *b, size_t b_len, rill_buf_t *out);
/* A record no aggregation takes (a null key, or a null value) goes to the dead-letter topic:
 * returns 1 with *rcp the process() result, or 0 when rec can be aggregated. */
int rill__agg_refuse(rill_ctx_t *ctx, const rill_record_t *rec, int *rcp);

/*
 * Adds rec to its key's aggregate in the key-value store (store_name: for messages): reads
 * the key's [timestamp][aggregate], adds with fns, writes it back. agg_out gets the new
 * aggregate, val the new stored value, *tsp its timestamp (the largest seen); prev (NULL: not
 * wanted) the key's previous aggregate. Returns 0, or -1 with the reason in ctx.
 */
int rill__agg_update(rill_ctx_t *ctx, const rill__agg_fns_t *fns, rill__store_t *store,
                     const char *store_name, const rill_record_t *rec, rill__table_prev_t *prev,
                     rill_buf_t *agg_out, rill_buf_t *val, int64_t *tsp);

/* Under lineage.enable, marks key dirty in a record cache with, as the entry's value, the
 * compact copy of the trace of the record at hand, the last to update the key (scratch: a
 * buffer of the caller's). Without lineage a dirty entry has no value. Returns 0 or -1 (out
 * of memory). */
int rill__agg_mark_traced(rill_ctx_t *ctx, rill__cache_t *dirty, rill_buf_t *scratch,
                          const void *key, size_t key_len);

/* What a record cache holds (its keys, and traces under lineage.enable), counted with the
 * stores' caches against statestore.cache.max.bytes (rill__operator_t.cache_bytes): none
 * while it is empty, whatever table it keeps for the next interval. */
static inline size_t rill__agg_dirty_bytes(const rill__cache_t *dirty) {
    return dirty->cnt ? dirty->bytes : 0;
}

/* The commit of a record cache: forwards the stored aggregate of every key in dirty (value
 * described by serde, no headers; under lineage.enable with the trace the key's entry kept,
 * rill__agg_mark_traced) and empties dirty. A failed forward is logged. */
void rill__agg_flush_dirty(rill_ctx_t *ctx, rill__store_t *store, rill__cache_t *dirty,
                           const rill_serde_t *serde);

/* The serde describing a table's values: int64 for counts, bytes otherwise. */
const rill_serde_t *rill__agg_serde(const rill__agg_fns_t *fns);

/* Sends the record being processed (the consumed input record, or rec when the node runs
 * outside one, e.g. after an asynchronous stage) to the dead-letter topic with the reason
 * (printf-style). Returns 0, or -1 when it could not (the app is then stopping). */
int rill__agg_dead_letter(rill_ctx_t *ctx, const rill_record_t *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Adds an aggregation node (with a generated name) under parent running op, with conf (taken,
 * also on failure: op->free_conf frees it), whose first member is the table; declares its
 * store (name NULL: "KSTREAM-<KIND>-STATE-STORE-<node index>") of store_kind with the given
 * retention. Returns the table, or NULL with the builder error set. *defp gets the store's
 * declaration when defp is not NULL.
 */
rill_table_t *rill__table_add(rill_topology_t *topo, rill__node_t *parent,
                              const rill__operator_t *op, void *conf, const char *store,
                              rill__store_kind_t store_kind, rill_window_kind_t window_kind,
                              int64_t retention_ms, rill__store_def_t **defp);
/* The same with the node's name (NULL: generated) and a store name that is not NULL. */
rill_table_t *rill__table_add_named(rill_topology_t *topo, rill__node_t *parent, const char *name,
                                    const rill__operator_t *op, void *conf, const char *store,
                                    rill__store_kind_t store_kind, rill_window_kind_t window_kind,
                                    int64_t retention_ms, rill__store_def_t **defp);

/*
 * Reads key's entry of the key-value table from the calling node's instance of its store (a
 * node reading a table declares the table's store with rill__topology_add_store()). Returns 1
 * and sets the aggregate (valid until the next call on the store) and its timestamp, 0 when
 * absent, -1 on error.
 */
int rill__table_get(rill_ctx_t *ctx, const rill_table_t *table, const void *key, size_t key_len,
                    const void **aggp, size_t *agg_lenp, int64_t *tsp);

#endif
