/*
 * global_store.c — the store of a global table in the process's RocksDB: rows and the
 * offsets they reflect (layout: global_store_int.h), written by the reader, read by joins.
 *
 * DESIGN
 * The reader (global.c) adds a round's rows and offsets to one pending batch and writes it
 * whole, so what a kill -9 leaves is a consistent prefix and a restart goes on from it.
 * Stream threads read rows with point gets, concurrently with the reader's writes (RocksDB
 * is thread-safe for this); a lookup uses only the caller's scratch buffers.
 */
#include "endian_int.h"
#include "global_store_int.h"

#include <stdio.h>

enum { GLOBAL_ROW = 0x00, GLOBAL_OFFSET = 0x01 };

int rill__gstore_init(rill__gstore_t *s, rill__db_t *db) {
    *s = (rill__gstore_t){.db = db, .batch = rill__batch_new()};
    return s->batch ? 0 : -1;
}

void rill__gstore_free(rill__gstore_t *s) {
    rill__batch_destroy(s->batch);
    rill_buf_free(&s->kbuf);
    rill_buf_free(&s->vbuf);
    s->batch = NULL;
}

int rill__gstore_attach(rill__gstore_t *s, rill_global_table_t *g, char *errstr,
                        size_t errstr_size) {
    g->db = s->db;
    g->cf = rill__db_cf(s->db, g->store, errstr, errstr_size);
    return g->cf ? 0 : -1;
}

static void offset_key(unsigned char out[5], int32_t partition) {
    out[0] = GLOBAL_OFFSET;
    rill__be32_put(out + 1, (uint32_t)partition);
}

/* [GLOBAL_ROW][key] into buf. 0, or -1 (no memory). */
static int row_key(rill_buf_t *buf, const void *key, size_t key_len) {
    unsigned char tag = GLOBAL_ROW;
    rill_buf_reset(buf);
    return rill_buf_append(buf, &tag, 1) || (key_len && rill_buf_append(buf, key, key_len)) ? -1
                                                                                            : 0;
}

int64_t rill__gstore_offset(rill__gstore_t *s, const rill_global_table_t *g, int32_t partition) {
    unsigned char key[5];
    offset_key(key, partition);
    if (rill__db_get(s->db, g->cf, key, sizeof(key), &s->vbuf, NULL, 0) != 1 || s->vbuf.len != 8)
        return -1;
    return (int64_t)rill__be64_get((const unsigned char *)s->vbuf.data);
}

int rill__gstore_row(rill__gstore_t *s, const rill_global_table_t *g, const void *key,
                     size_t key_len, int64_t timestamp, const void *value, size_t value_len) {
    if (row_key(&s->kbuf, key, key_len))
        return -1;
    if (!value) {
        rill__batch_delete(s->batch, g->cf, s->kbuf.data, s->kbuf.len);
        return 0;
    }
    unsigned char ts[8];
    rill__be64_put(ts, (uint64_t)timestamp);
    rill_buf_reset(&s->vbuf);
    if (rill_buf_append(&s->vbuf, ts, sizeof(ts)) ||
        (value_len && rill_buf_append(&s->vbuf, value, value_len)))
        return -1;
    rill__batch_put(s->batch, g->cf, s->kbuf.data, s->kbuf.len, s->vbuf.data, s->vbuf.len);
    return 0;
}

void rill__gstore_offset_put(rill__gstore_t *s, const rill_global_table_t *g, int32_t partition,
                             int64_t next) {
    unsigned char key[5], off[8];
    offset_key(key, partition);
    rill__be64_put(off, (uint64_t)next);
    rill__batch_put(s->batch, g->cf, key, sizeof(key), off, sizeof(off));
}

int rill__gstore_write(rill__gstore_t *s, bool shrink, char *errstr, size_t errstr_size) {
    int rc = rill__db_write(s->db, s->batch, errstr, errstr_size);
    rill__batch_clear(s->batch);
    if (shrink) { /* a clear keeps its memory: give it back */
        rill__batch_destroy(s->batch);
        if (!(s->batch = rill__batch_new())) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
    }
    return rc;
}

int rill__global_lookup(rill_ctx_t *ctx, const rill_global_table_t *g, const void *key,
                        size_t key_len, rill__global_row_t *row) {
    char errstr[256] = "out of memory";
    int rc = row_key(&row->key, key, key_len);
    if (!rc)
        rc = rill__db_get(g->db, g->cf, row->key.data, row->key.len, &row->buf, errstr,
                          sizeof(errstr));
    if (rc == 1 && row->buf.len < 8) {
        snprintf(errstr, sizeof(errstr), "a row of %zu bytes is too short", row->buf.len);
        rc = -1;
    }
    if (rc < 0) {
        rill_ctx_set_error(ctx, "join \"%s\": reading global store \"%s\" failed: %s",
                           ctx->node->name, g->store, errstr);
        return -1;
    }
    if (rc == 1) {
        row->timestamp = (int64_t)rill__be64_get((const unsigned char *)row->buf.data);
        row->value = row->buf.data + 8;
        row->value_len = row->buf.len - 8;
    }
    return rc;
}

void rill__global_row_free(rill__global_row_t *row) {
    rill_buf_free(&row->key);
    rill_buf_free(&row->buf);
}
