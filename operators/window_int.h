/*
 * window_int.h — the windowed aggregation operator's internals, shared by its window families:
 * time windows (tumbling and hopping) and session windows in windowed.c, sliding windows in
 * sliding.c. Everything here runs on the stream thread of the task at hand.
 */
#ifndef RILL_WINDOW_INT_H
#define RILL_WINDOW_INT_H

#include "table_int.h"

#define RILL__WIN_UNSET INT64_MIN

/* The node's configuration (shared by its tasks). */
typedef struct rill__win_conf_s {
    rill_table_t table; /* first: the handle given to the user */
    rill_window_spec_t spec;
    rill_emit_t emit;
    rill__agg_fns_t fns;
    char *meta_store;   /* <store>-meta: stream time and emit progress per task */
    int64_t segment_ms; /* of the store: expiry is asked once per segment */
    int64_t late;       /* late records, all tasks (atomic) */
    int64_t finals;     /* emit-final results, all tasks (atomic) */
} rill__win_conf_t;

/* A window read from the store, copied (its key and aggregate live in the items' arena). */
typedef struct rill__win_item_s {
    int64_t start, end, ts;
    size_t key_off, key_len, agg_off, agg_len;
    size_t trace_off, trace_len; /* emit-final under lineage.enable: the compact copy of the
                                    trace of the record that last updated the window (arena;
                                    trace_len 0: none kept) */
} rill__win_item_t;

typedef struct rill__win_items_s {
    rill__win_item_t *v;
    size_t cnt, cap;
    rill_buf_t arena;
    int failed; /* out of memory or a malformed value while collecting */
} rill__win_items_t;

/* The node's state in one task. Only stream_time and emitted must survive a crash, and they
 * are kept in the meta store; the rest is a cache or scratch space. */
typedef struct rill__win_state_s {
    rill__store_t *store, *meta;
    int64_t stream_time; /* the larger of the task's and the one kept in the meta store */
    int64_t emitted;     /* emit-final: windows starting (sessions: ending) before it have
                            been emitted; RILL__WIN_UNSET before the first record */
    int64_t saved_time;  /* what the meta store holds */
    int64_t saved_emitted;
    int64_t expired_seg; /* expiry asked up to this segment (memory only, -1 at start) */
    int64_t idx_low;     /* emit-final: the time index has no entry below it (memory only,
                            0 at start; window_index.c) */
    rill_buf_t agg, val, tmp;
    rill_buf_t tval; /* emit-final under lineage.enable: an index entry's value */
    rill__win_items_t items, idx;
    bool lineage;        /* lineage.enable: emit-final keeps each window's last trace */
    rill__trace_t trace; /* scratch: the trace a closed window is forwarded with */
} rill__win_state_t;

/* Items: reset, add a copy (returns 0 or -1 out of memory), read back. */
void rill__win_items_reset(rill__win_items_t *items);
int rill__win_items_add(rill__win_items_t *items, const void *key, size_t key_len, int64_t start,
                        int64_t end, int64_t ts, const void *agg, size_t agg_len);
static inline const void *rill__win_item_key(const rill__win_items_t *items, size_t i) {
    return items->arena.data + items->v[i].key_off;
}
static inline const void *rill__win_item_agg(const rill__win_items_t *items, size_t i) {
    return items->arena.data + items->v[i].agg_off;
}

/* Collects the windows of key with start in [from, to) of a time-window store into st->items,
 * in start order (values parsed: ts and aggregate). Returns 0 or -1 with ctx's error set. */
int rill__win_fetch(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                    const void *key, size_t key_len, int64_t from, int64_t to);

/* Writes the window (key, start) = [ts][agg] of a time-window store; fresh: the window is
 * not in the store (so not in its changelog) yet. Returns 0 or -1. */
int rill__win_put(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                  const void *key, size_t key_len, int64_t start, int64_t ts, const void *agg,
                  size_t agg_len, int fresh);

/* Forwards a result: the window [start, end] of key with aggregate agg (NULL: a tombstone). */
int rill__win_forward(rill_ctx_t *ctx, const rill__win_conf_t *c, const void *key, size_t key_len,
                      int64_t start, int64_t end, const void *agg, size_t agg_len, int64_t ts,
                      const rill_headers_t *headers);

/* Dead-letters the record as late (reason "late: " + fmt) and counts it. Returns 0 or -1. */
int rill__win_late(rill_ctx_t *ctx, rill__win_conf_t *c, const rill_record_t *rec, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* Sets ctx's error for a failed store call and returns -1. */
int rill__win_store_failed(rill_ctx_t *ctx, const rill__win_conf_t *c, const char *what);

/* The exclusive end of a time window starting at start (sliding windows include start + D). */
int64_t rill__win_time_end(const rill__win_conf_t *c, int64_t start);

/* window_index.c: emit-final's time index (no-ops without emit-final). Each returns 0, or -1
 * with ctx's error set. */
/* Indexes the window (key, start) (sessions: [start, end]; time windows ignore end); fresh:
 * the window is new, so its entry is not in the store either. Under lineage.enable the entry
 * keeps the trace of the record at hand, so the window's result carries it: callers index a
 * window again on every update then (st->lineage), not only when it is new. */
int rill__win_index_add(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                        const void *key, size_t key_len, int64_t start, int64_t end, int fresh);
/* Indexes the new time window (key, start) made as a copy of the window (key, from): under
 * lineage.enable with that window's trace (what its records last brought), if it has one. */
int rill__win_index_copy(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                         const void *key, size_t key_len, int64_t start, int64_t from);
/* Drops the session [start, end] of key from the index. */
int rill__win_index_del(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                        const void *key, size_t key_len, int64_t start, int64_t end);
/* On load: indexes the windows of a store written before the index existed. */
int rill__win_index_load(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st);
/* Collects the windows closed below hi (start; sessions: end) into st->items, unsorted (with
 * their traces under lineage.enable), and drops their entries; reads nothing while hi is at
 * most st->idx_low. */
int rill__win_index_closed(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                           int64_t hi);

/* Sliding windows: aggregates one record (stream time already advanced). Returns 0, or -1
 * with ctx's error set. */
int rill__sliding_process(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                          const rill_record_t *rec);

/* rill_late_records_total: records dropped as late (windowed.c; windows, joins and
 * completions report it per node). */
extern const rill__mfamily_t rill__late_family;

#endif
