/*
 * query_int.h — what the interactive-query files share (queries.c, query_range.c,
 * query_any.c, query_forward.c, http_queries.c): a request posted to a stream thread, and the
 * calls that ask one partition or every local partition of a store.
 *
 * DESIGN
 * A request lives on the caller's stack; the stream thread that owns its task fills it
 * between two batches (queries.c says how the hand-over works). Whole-store answers (a key
 * of a store whose input Rill did not partition, a key range) are built from one request
 * per partition, so a partition is always answered by the thread that owns it.
 */
#ifndef RILL_QUERY_INT_H
#define RILL_QUERY_INT_H

#include "engine_int.h"
#include "stores_int.h"

#include <stdbool.h>

#define RILL__QUERY_DEFAULT_TIMEOUT_MS 5000

typedef enum { RILL__Q_GET, RILL__Q_FETCH, RILL__Q_LOCATE, RILL__Q_RANGE } rill__qkind_t;
typedef enum { RILL__Q_QUEUED, RILL__Q_TAKEN, RILL__Q_DONE } rill__qstate_t;

struct rill__query_s {
    rill__query_t *next;
    rill__qkind_t kind;
    const rill__store_def_t *def;
    int32_t partition;
    const void *key; /* RILL__Q_RANGE: the range's start (NULL: the first key) */
    size_t key_len;
    const void *to_key; /* RILL__Q_RANGE: its end, excluded (NULL: to the last key) */
    size_t to_key_len;
    int limit;        /* RILL__Q_RANGE: rows at most */
    bool more;        /* RILL__Q_RANGE: rows were left out at the limit */
    int64_t from, to; /* RILL__Q_FETCH */
    rill_buf_t *out;  /* GET: the value; FETCH: [start 8][ts 8][len 4][value] rows;
                         RANGE: [key len 4][key][ts 8][value len 4][value] rows */
    int64_t ts;
    rill_query_status_t status;
    char error[256];
    rill__qstate_t state; /* under the inbox lock */
};

/* The store called name, or NULL. */
const rill__store_def_t *rill__query_store(rill_app_t *app, const char *name);
/* The partition count of def's sub-topology (> 0), or 0 when not known. */
int32_t rill__query_partitions(rill_app_t *app, const rill__store_def_t *def);
/* Whether every key of def is in the partition murmur2 of its bytes gives: true when the
 * store's sub-topology reads only repartition topics, which Rill writes itself. */
bool rill__query_placed(rill_app_t *app, const rill__store_def_t *def);
/* Asks the stream thread holding q->partition of q->def (both set) and waits at most
 * timeout_ms: q->status is FOUND or NOT_FOUND (answered), NOT_LOCAL (no thread here holds
 * it), UNAVAILABLE (restoring, stopping, too slow) or ERROR, with q->error. */
rill_query_status_t rill__query_ask(rill_app_t *app, rill__query_t *q, int timeout_ms);
/* Resets info, checks the app and finds store (of kind, unless q is a locate) into q->def.
 * Returns FOUND when the query may go on, else the status to give (info->error set). */
rill_query_status_t rill__query_check(rill_app_t *app, const char *store, rill__store_kind_t kind,
                                      rill__query_t *q, rill_query_info_t *info);
/* Resets info for a new query (NULL allowed). */
void rill__query_info_reset(rill_query_info_t *info);
/* Sets info->error (info may be NULL) and returns status. */
rill_query_status_t rill__query_fail(rill_query_info_t *info, rill_query_status_t status,
                                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A table's stored value [timestamp 8 bytes BE][value]: moves *v past the timestamp into
 * *ts (-1 for other stores). Returns 0, or -1 when malformed. */
int rill__query_split_stored(const rill__store_def_t *def, const void **v, size_t *len,
                             int64_t *ts);

/* query_range.c: the stream thread's side of a RILL__Q_RANGE request. */
void rill__query_serve_range(rill__store_t *st, rill__query_t *q);

/* One row of a range, as rill_kv_row_cb. */
typedef int (*rill__row_cb)(const void *key, size_t key_len, int64_t ts, const void *value,
                            size_t value_len, void *opaque);
/* Walks rows (a RILL__Q_RANGE answer, or several concatenated) with cb; returns 0, or -1 when
 * they are malformed. */
int rill__rows_walk(const void *rows, size_t len, rill__row_cb cb, void *opaque);
/* Appends one row to out. Returns 0 or -1 (out of memory). */
int rill__rows_append(rill_buf_t *out, const void *key, size_t key_len, int64_t ts,
                      const void *value, size_t value_len);
/* Merges parts[0..n) (each a key-ordered rows buffer) into cb in key order, at most limit
 * rows; *more is set when rows were left. Returns 0 or -1 (malformed or cb stopped: -1 only
 * when malformed). */
int rill__rows_merge(const rill_buf_t *parts, int n, int limit, rill__row_cb cb, void *opaque,
                     bool *more);

/* The range of store's local partitions, as rill_app_store_range(), collected as rows into
 * out (key order, at most limit), covered[p] set for every partition answered (covered has
 * the store's partition count entries; *cnt gets it). */
rill_query_status_t rill__range_local(rill_app_t *app, const char *store, const void *from,
                                      size_t from_len, const void *to, size_t to_len, int limit,
                                      rill_buf_t *out, bool *more, uint8_t **covered, int32_t *cnt,
                                      rill_query_info_t *info, int timeout_ms);

/* query_any.c: q (a RILL__Q_GET or RILL__Q_FETCH with its key, window bounds and out set)
 * asked of every local partition of store, the key's murmur2 one first, until one has it;
 * covered as for rill__range_local (*covered allocated, the caller frees). FOUND (info's
 * partition and timestamp set), NOT_FOUND (in none of them), UNAVAILABLE (one of them could
 * not answer) or an error. */
rill_query_status_t rill__any_local(rill_app_t *app, const char *store, rill__query_t *q,
                                    uint8_t **covered, int32_t *cnt, rill_query_info_t *info,
                                    int timeout_ms);

/* queries.c: calls cb for each row of a RILL__Q_FETCH answer. */
void rill__fetch_rows_walk(const rill_buf_t *rows, rill_window_row_cb cb, void *opaque);

#endif
