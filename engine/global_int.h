/*
 * global_int.h — global tables as the rest of Rill sees them: what a declaration is called,
 * which nodes read it (for the printout), a point lookup of a row, and the reader's life and
 * metrics for the app.
 *
 * DESIGN
 * Global tables have one home, engine/global*.c: their declarations (global_def.c), their
 * store (global_store.c) and the reader that keeps every process's copy (global.c). This
 * header is the narrow interface the other files use; the table's fields and the store's
 * layout stay behind global_store_int.h, so an operator joins a global table through
 * rill__global_lookup() only, and no lower layer calls up into operators/.
 */
#ifndef RILL_GLOBAL_INT_H
#define RILL_GLOBAL_INT_H

#include "engine_int.h"

/* ---- declarations (global_def.c) ---- */

const char *rill__global_topic(const rill_global_table_t *g);
/* rill__global_store_name() is in topology_int.h (store names are checked there). */
rill_topology_t *rill__global_topology(const rill_global_table_t *g);
/* Remembers that node reads g (a join). Returns 0, or -1 after the topology's sticky error. */
int rill__global_add_reader(rill_global_table_t *g, const rill__node_t *node);
/* Whether node reads g (for the topology printout). */
bool rill__global_read_by(const rill_global_table_t *g, const rill__node_t *node);
/* Frees the topology's global table declarations. */
void rill__global_free_defs(rill_topology_t *topo);

/* ---- reading a row (global_store.c) ---- */

/* A caller's scratch for lookups: after a hit, value/value_len point into buf. */
typedef struct rill__global_row_s {
    rill_buf_t key, buf;
    const void *value;
    size_t value_len;
    int64_t timestamp;
} rill__global_row_t;

/* Reads key's row of g into row: 1 found, 0 no row, -1 with the error set on ctx (naming the
 * node and the store). Safe from any stream thread once the app has started. */
int rill__global_lookup(rill_ctx_t *ctx, const rill_global_table_t *g, const void *key,
                        size_t key_len, rill__global_row_t *row);
void rill__global_row_free(rill__global_row_t *row);

/* ---- the reader (global.c) ---- */

/* Opens the stores, reads every global table up to the end of its topic as it is now, then
 * starts the thread that keeps them current. Blocks until caught up; returns RILL_OK at once
 * when the topology has no global table. */
rill_err_t rill__global_start(rill_app_t *app, char *errstr, size_t errstr_size);
/* Stops the reader's thread and waits for it (its metrics stay readable). Idempotent. */
void rill__global_stop(rill_app_t *app);
/* Stops the reader and frees it (before the database closes). Idempotent. */
void rill__global_destroy(rill_app_t *app);

/* The reader's metrics: the value of name (-1: not one of them), and the Prometheus lines. */
int64_t rill__global_metric(rill_app_t *app, const char *name);
void rill__global_metrics(rill_app_t *app, rill__mout_t *mo);

#endif
