/*
 * global_store_int.h — inside global tables (engine/global*.c only): a declaration's fields
 * and the store every process keeps of it.
 *
 * DESIGN
 * Store layout, one column family per global table, named after its store:
 *   [GLOBAL_ROW][key]               → [timestamp 8 BE][value]   a row
 *   [GLOBAL_OFFSET][partition 4 BE] → [next offset 8 BE]        how far the rows reflect
 * Rows and the offsets they reflect are written in one batch (rill__gstore_write), so a
 * store is always a consistent prefix of its topic. Only global_store.c knows the layout.
 */
#ifndef RILL_GLOBAL_STORE_INT_H
#define RILL_GLOBAL_STORE_INT_H

#include "global_int.h"
#include "stores_int.h"

struct rill_global_table_s {
    rill_topology_t *topo;
    char *topic; /* owned */
    char *store; /* owned */
    rill_source_opts_t opts;
    const rill__node_t **readers; /* the joins that read it (owned array) */
    int reader_cnt;
    rill__db_t *db; /* set when the reader opens the store */
    rill__cf_t *cf;
};

/* The writes of one round of the reader, applied together. */
typedef struct rill__gstore_s {
    rill__db_t *db;
    rill__batch_t *batch;
    rill_buf_t kbuf, vbuf;
} rill__gstore_t;

/* 0, or -1 (no memory). */
int rill__gstore_init(rill__gstore_t *s, rill__db_t *db);
void rill__gstore_free(rill__gstore_t *s);
/* Opens g's column family in the store's database. 0, or -1 with errstr. */
int rill__gstore_attach(rill__gstore_t *s, rill_global_table_t *g, char *errstr,
                        size_t errstr_size);
/* The next offset of g's partition that the store reflects, or -1 (none yet). */
int64_t rill__gstore_offset(rill__gstore_t *s, const rill_global_table_t *g, int32_t partition);
/* Adds a row (value NULL: the key's deletion) to the pending write. 0, or -1 (no memory). */
int rill__gstore_row(rill__gstore_t *s, const rill_global_table_t *g, const void *key,
                     size_t key_len, int64_t timestamp, const void *value, size_t value_len);
/* Adds the next offset of g's partition to the pending write. */
void rill__gstore_offset_put(rill__gstore_t *s, const rill_global_table_t *g, int32_t partition,
                             int64_t next);
/* Writes what is pending in one batch; shrink gives a large batch's memory back. 0, or -1
 * with errstr. */
int rill__gstore_write(rill__gstore_t *s, bool shrink, char *errstr, size_t errstr_size);

#endif
