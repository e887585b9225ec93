/*
 * global_int.h — global tables: their declarations in the topology (operators/join_global.c
 * builds them) and the app's reader that keeps every process's copy (engine/global.c).
 *
 * Store layout, one column family per global table, named after its store:
 *   [GLOBAL_ROW][key]               → [timestamp 8 BE][value]   a row
 *   [GLOBAL_OFFSET][partition 4 BE] → [next offset 8 BE]        how far the rows reflect
 * Rows and the offsets they reflect are written in one batch, so a store is always a
 * consistent prefix of its topic.
 */
#ifndef RILL_GLOBAL_INT_H
#define RILL_GLOBAL_INT_H

#include "engine_int.h"

#define RILL__GLOBAL_ROW 0x00
#define RILL__GLOBAL_OFFSET 0x01

struct rill_global_table_s {
    rill_topology_t *topo;
    int idx;       /* in topo->globals */
    char *topic;   /* owned */
    char *store;   /* owned */
    rill_source_opts_t opts;
    void *cf;      /* its column family (rill__cf_t), set by rill__global_start() */
};

/* Frees the topology's global table declarations. */
void rill__global_free_defs(rill_topology_t *topo);

/* Opens the stores, reads every global table up to the end of its topic as it is now, then
 * starts the thread that keeps them current. Blocks until caught up; returns RILL_OK at once
 * when the topology has no global table. */
rill_err_t rill__global_start(rill_app_t *app, char *errstr, size_t errstr_size);
/* Stops the reader's thread and waits for it (its metrics stay readable). Idempotent. */
void rill__global_stop(rill_app_t *app);
/* Stops the reader and frees it (before the database closes). Idempotent. */
void rill__global_destroy(rill_app_t *app);

/* Reads key's row of g into out (the caller's scratch, like keybuf): returns 1 and points
 * *valuep and *lenp at the value (inside out) and sets *tsp to its timestamp, 0 without a row,
 * -1 with errstr. Safe from any thread once the app has started. */
int rill__global_get(rill_app_t *app, const rill_global_table_t *g, const void *key,
                     size_t key_len, rill_buf_t *keybuf, rill_buf_t *out, const void **valuep,
                     size_t *lenp, int64_t *tsp, char *errstr, size_t errstr_size);

/* Whether node is a join reading g (for the topology printout). */
bool rill__is_global_join(const rill__node_t *node, const rill_global_table_t *g);

/* The reader's metrics: the value of name (-1: not one of them), and the Prometheus lines. */
int64_t rill__global_metric(rill_app_t *app, const char *name);
void rill__global_metrics(rill_app_t *app, rill__mout_t *mo);

#endif
