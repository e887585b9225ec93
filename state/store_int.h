/*
 * store_int.h — state stores as operators see them: a task's instance of a store, read and
 * written through a write cache that holds the task's writes until they are durable.
 *
 * Life of a write (docs/DESIGN.md, invariant 4):
 *  1. put/delete land in the store's write cache (one entry per key: repeated updates of a key
 *     between commits cost one changelog record). Reads see the cache first, then RocksDB, so a
 *     task reads its own writes at once.
 *  2. At commit, the cache's entries are produced to the store's changelog topic
 *     (<application.id>-<store>-changelog, partition = the task's partition), inside the
 *     transaction under exactly-once.
 *  3. When the commit succeeded (outputs acknowledged or transaction committed), the entries
 *     and the changelog offset after the last of them go to RocksDB in one write batch, and
 *     the cache is emptied. When it failed, the cache is dropped and the task restored.
 * A cache larger than statestore.cache.max.bytes asks the thread to commit early.
 *
 * On assignment a task restores each store from its changelog, from the offset stored with
 * the data (or from the start when there is none), before it processes a record; a stream
 * thread restores the stores of all its new tasks together (restore.c).
 */
#ifndef RILL_STORE_INT_H
#define RILL_STORE_INT_H

#include "db_int.h"

typedef enum rill__store_kind_e {
    RILL_STORE_KV = 0,
    RILL_STORE_WINDOW = 1,
    RILL_STORE_SESSION = 2
} rill__store_kind_t;

/* A store as declared in the topology (shared by every task). */
typedef struct rill__store_def_s {
    char *name;
    rill__store_kind_t kind;
    int64_t segment_ms;   /* window/session: segment width (retention / 3 or more) */
    int64_t retention_ms; /* window/session: how long windows are kept (changelog retention) */
    bool logged;          /* has a changelog (default true) */
    int sub;              /* sub-topology that owns it, set at freeze */
    bool timestamped;     /* a table's store: values are [timestamp 8 bytes BE][value] */
    const rill_serde_t *value_serde; /* a table's values' serde when known, else NULL (the
                                        interactive queries render values with it) */
    int64_t changelog_records;       /* records the broker acknowledged into its changelog, every
                                        task and thread of the process (atomic) */
} rill__store_def_t;

typedef struct rill__store_s rill__store_t;

/* ---- key-value ---- */

/* Reads key. Returns 1 and sets *valuep/len (valid until the next call on this store), 0
 * when absent (or deleted), -1 on error. */
int rill__kv_get(rill__store_t *st, const void *key, size_t key_len, const void **valuep,
                 size_t *value_lenp);
/* Writes key = value (value NULL: delete). Returns 0 or -1. */
int rill__kv_put(rill__store_t *st, const void *key, size_t key_len, const void *value,
                 size_t value_len);

/* As rill__kv_put (value not NULL) for a key the caller knows to be absent from the store
 * (RocksDB and changelog): deleted again before the next commit, it costs neither a changelog
 * record nor a RocksDB write (for short-lived index entries). */
int rill__kv_put_new(rill__store_t *st, const void *key, size_t key_len, const void *value,
                     size_t value_len);

/* Calls cb for each key in [lo, hi) in byte order (hi NULL: to the end), the cache and
 * RocksDB merged; cb returns non-zero to stop. For indexes kept in a key-value store (e.g.
 * [deadline 8B big-endian][key] → due keys are one range scan). Do not write to the store
 * from cb; collect, then write. */
typedef int (*rill__kv_cb)(const void *key, size_t key_len, const void *value, size_t value_len,
                           void *opaque);
int rill__kv_range(rill__store_t *st, const void *lo, size_t lo_len, const void *hi, size_t hi_len,
                   rill__kv_cb cb, void *opaque);

/* ---- windows: keyed by (key, window start) ---- */

int rill__window_get(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                     const void **valuep, size_t *value_lenp);
int rill__window_put(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                     const void *value, size_t value_len);
/* As rill__window_put for a window the caller knows to be absent from the store (RocksDB
 * and changelog): expired before the next commit, it costs no changelog record. */
int rill__window_put_new(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                         const void *value, size_t value_len);

/* Calls cb for every window with start in [from, to) (any key) in (start, key) order...
 * precisely: ordered by segment, then key, then start — callers that need time order sort.
 * cb returns non-zero to stop. Sees the cache and RocksDB merged. */
typedef int (*rill__window_cb)(const void *key, size_t key_len, int64_t start, const void *value,
                               size_t value_len, void *opaque);
int rill__window_range(rill__store_t *st, int64_t from, int64_t to, rill__window_cb cb,
                       void *opaque);

/* Calls cb for every window of key with start in [from, to), in start order (one seek per
 * segment). */
int rill__window_fetch(rill__store_t *st, const void *key, size_t key_len, int64_t from, int64_t to,
                       rill__window_cb cb, void *opaque);

/* Drops every segment entirely older than before (window start < before, segment-wise):
 * one range delete, applied with the next commit's batch. Session stores too: their
 * segments are by session end. Changes of the dropped windows not logged yet are logged
 * now, unless the window was made new since the last commit (rill__window_put_new). */
int rill__window_expire(rill__store_t *st, int64_t before);

/* ---- sessions: keyed by (key, end, start) ---- */

int rill__session_put(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                      int64_t end, const void *value, size_t value_len);
/* Reads the session [start, end] of key: as rill__kv_get. */
int rill__session_get(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                      int64_t end, const void **valuep, size_t *value_lenp);
int rill__session_remove(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                         int64_t end);
/* Calls cb for each session of key that ends at or after earliest_end and starts at or
 * before latest_start (the sessions a record at t with gap g may merge with:
 * earliest_end = t - g, latest_start = t + g). */
typedef int (*rill__session_cb)(int64_t start, int64_t end, const void *value, size_t value_len,
                                void *opaque);
int rill__session_find(rill__store_t *st, const void *key, size_t key_len, int64_t earliest_end,
                       int64_t latest_start, rill__session_cb cb, void *opaque);

/* Calls cb for every session (any key) with end in [from, to), ordered by segment, key, end,
 * start. */
typedef int (*rill__session_range_cb)(const void *key, size_t key_len, int64_t start, int64_t end,
                                      const void *value, size_t value_len, void *opaque);
int rill__session_range(rill__store_t *st, int64_t from, int64_t to, rill__session_range_cb cb,
                        void *opaque);

/* The state module's calls for its host (open, restore, log, apply, close): state_host_int.h.
 * Declaring stores on a topology and finding a task's: the engine (stores_int.h). */

#endif
