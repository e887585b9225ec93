/*
 * db_int.h — the process's RocksDB instance and the key layouts of Rill's stores.
 *
 * One RocksDB database per app (state.dir/<application.id>), one column family per store,
 * one shared LRU block cache (index and filter blocks charged to it) and bounded memtables
 * per column family, so the memory of the whole process stays within
 *   block_cache_bytes + column_families × max_write_buffers × write_buffer_bytes
 * whatever the number of partitions. Writes go to the WAL without fsync: a store's data and
 * the changelog offset it corresponds to are written in one batch to the same column family,
 * so what survives a crash is always a consistent prefix (all of it after a kill -9), and
 * restore replays the changelog from the stored offset.
 *
 * Every key starts with the task's partition (4 bytes, big-endian) and a tag byte:
 *   [partition][RILL_KEY_DATA][...]   the store's records
 *   [partition][RILL_KEY_META]        the changelog offset the partition's data reflects
 * so one partition's data is one contiguous range (dropped with one range delete when a
 * task's state is wiped) and never mixes with another's.
 */
#ifndef RILL_DB_INT_H
#define RILL_DB_INT_H

#include "endian_int.h" /* rill__be32_* and rill__be64_*, used with the key layouts */
#include "rill.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RILL_KEY_DATA 0x00
#define RILL_KEY_META 0x01
#define RILL_KEY_PREFIX_LEN 5 /* partition + tag */

typedef struct rill__db_s rill__db_t;
typedef struct rill__cf_s rill__cf_t;       /* a column family (one store) */
typedef struct rill__batch_s rill__batch_t; /* an atomic write batch */
typedef struct rill__iter_s rill__iter_t;

/* A zero field (or NULL opts) takes the default. */
typedef struct rill__db_opts_s {
    size_t block_cache_bytes;  /* shared LRU cache, default 64 MiB */
    size_t write_buffer_bytes; /* memtable size per column family, default 8 MiB */
    int max_write_buffers;     /* memtables per column family, default 2 (RocksDB's minimum) */
} rill__db_opts_t;

/* Opens (creating if needed) the database at path with every existing column family.
 * Returns NULL with errstr (RocksDB's message kept). Thread-safe afterwards. */
rill__db_t *rill__db_open(const char *path, const rill__db_opts_t *opts, char *errstr,
                          size_t errstr_size);
/* Flushes memtables (so a clean restart restores nothing) and closes. NULL-safe. */
void rill__db_close(rill__db_t *db);

/* The column family of a store, created on first use. Thread-safe. NULL with errstr. */
rill__cf_t *rill__db_cf(rill__db_t *db, const char *name, char *errstr, size_t errstr_size);

/* Point read. Returns 1 and fills out (reset first), 0 when absent, -1 with errstr on error.
 * Thread-safe. */
int rill__db_get(rill__db_t *db, rill__cf_t *cf, const void *key, size_t key_len, rill_buf_t *out,
                 char *errstr, size_t errstr_size);
/* Point reads made so far (rill__db_get calls), over every column family. Thread-safe. */
int64_t rill__db_gets(const rill__db_t *db);

rill__batch_t *rill__batch_new(void);
void rill__batch_put(rill__batch_t *b, rill__cf_t *cf, const void *key, size_t key_len,
                     const void *value, size_t value_len);
void rill__batch_delete(rill__batch_t *b, rill__cf_t *cf, const void *key, size_t key_len);
/* Deletes [lo, hi) (one range tombstone). */
void rill__batch_delete_range(rill__batch_t *b, rill__cf_t *cf, const void *lo, size_t lo_len,
                              const void *hi, size_t hi_len);
size_t rill__batch_count(const rill__batch_t *b);
size_t rill__batch_bytes(const rill__batch_t *b);
void rill__batch_clear(rill__batch_t *b);
void rill__batch_destroy(rill__batch_t *b);
/* Applies b atomically (WAL, no fsync). Returns 0 or -1 with errstr. */
/* The same with the WAL on or off. Off is for restore, which is replayable: a crash loses the
 * unflushed part of it whole (data and offset together), so it must end with rill__db_flush
 * before anything is written with the WAL. */
int rill__db_write_wal(rill__db_t *db, rill__batch_t *b, int wal, char *errstr, size_t errstr_size);
/* Bulk loading (a restore): on turns the column family's automatic compactions off, off
 * turns them back on (the tables written meanwhile are compacted then). */
int rill__db_bulk_load(rill__db_t *db, rill__cf_t *cf, int on, char *errstr, size_t errstr_size);
/* Writes the column family's memtables to disk and waits. */
int rill__db_flush(rill__db_t *db, rill__cf_t *cf, char *errstr, size_t errstr_size);
int rill__db_write(rill__db_t *db, rill__batch_t *b, char *errstr, size_t errstr_size);

/* Iterates keys in [lo, hi) in order, positioned at the first. Bounds are copied; a NULL
 * bound is open. NULL when memory ran out. An iterator belongs to one thread at a time. */
rill__iter_t *rill__db_iter(rill__db_t *db, rill__cf_t *cf, const void *lo, size_t lo_len,
                            const void *hi, size_t hi_len);
bool rill__iter_valid(const rill__iter_t *it);
void rill__iter_next(rill__iter_t *it);
/* Positions at the first key >= key (within the bounds). */
void rill__iter_seek(rill__iter_t *it, const void *key, size_t key_len);
const void *rill__iter_key(const rill__iter_t *it, size_t *len);
const void *rill__iter_value(const rill__iter_t *it, size_t *len);
/* After rill__iter_valid() turned false: 0 when the range is exhausted, -1 with errstr when
 * the iterator stopped on an error (an I/O error or corruption is not the end of the data). */
int rill__iter_error(const rill__iter_t *it, char *errstr, size_t errstr_size);
void rill__iter_destroy(rill__iter_t *it);

/* Memory in use: block cache usage plus all memtables, in bytes. Thread-safe. */
size_t rill__db_memory(rill__db_t *db);
/* The configured bound (block cache + cfs × buffers × buffer size) for the cfs open now. */
size_t rill__db_memory_bound(rill__db_t *db);

/* ---- key layouts (keys.c): all big-endian so byte order is numeric order ---- */

/* [partition][tag] into out[5]. */
void rill__key_prefix(int32_t partition, uint8_t tag, unsigned char out[RILL_KEY_PREFIX_LEN]);

/* Key-value store: [partition][DATA][key]. Appends to out. The encoders below return 0, or
 * -1 (out unchanged) when a segment or time is negative or memory ran out. */
int rill__key_kv(rill_buf_t *out, int32_t partition, const void *key, size_t key_len);

/*
 * Window store: [partition][DATA][segment 8][key length 4][key][window start 8]. Within a
 * segment, keys order by key (length first, then bytes) then by window start; a segment is
 * [partition][DATA][segment] and expired segments go with one range delete.
 * segment = start / segment_ms (start >= 0).
 */
int rill__key_window(rill_buf_t *out, int32_t partition, int64_t segment, const void *key,
                     size_t key_len, int64_t start);
/* Decodes a window key. Returns 0, or -1 when k is not one. key points into k. */
int rill__key_window_parse(const void *k, size_t len, int32_t *partition, int64_t *segment,
                           const void **key, size_t *key_len, int64_t *start);
/* Appends [partition][DATA][segment]: segments [from, to) of a partition are the keys in
 * [bound(from), bound(to)), for range deletes and scans. */
int rill__key_segment_bound(rill_buf_t *out, int32_t partition, int64_t segment);

/*
 * Session store: [partition][DATA][segment 8][key length 4][key][end 8][start 8], with
 * segment = end / segment_ms.
 */
int rill__key_session(rill_buf_t *out, int32_t partition, int64_t segment, const void *key,
                      size_t key_len, int64_t end, int64_t start);
int rill__key_session_parse(const void *k, size_t len, int32_t *partition, int64_t *segment,
                            const void **key, size_t *key_len, int64_t *end, int64_t *start);

#endif
