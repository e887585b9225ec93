/*
 * window_index.c — emit-final's time index: the windows (and sessions) not yet emitted, in
 * the order they close, so that closing them reads only them (Kafka Streams' KIP-825).
 *
 * DESIGN
 * Entries. The index lives in the node's companion key-value store <store>-meta, next to the
 * stream time and the emit bound it must agree with, and goes to its changelog and back with
 * it (restore and moves need nothing more). One entry per window, value the byte 1:
 *   'T' [start 8B] key            a time window (tumbling, hopping, sliding)
 *   'T' [end 8B] [start 8B] key   a session
 * Under lineage.enable the value is the byte 1, then [length 2B BE] and the compact copy of the
 * trace of the record that last updated the window (base/lineage_int.h), written again on every
 * update, so the window's final result carries the trace of what it last aggregated, not of the
 * record or punctuation that closed it (docs/DESIGN.md, "Tracing and lineage"); as the entry is
 * state, the trace survives a restart or a move with it. A value of 1 byte alone has no trace. The
 * first 8 bytes are the time the close bound compares with (start for time windows, end for
 * sessions), big-endian, so the entries closed by a bound hi are the range ['T', 'T' hi). An entry
 * is written when its window is created (sessions: written again when merged into, deleted with a
 * merged session) and deleted when the window is emitted. A new window's entry is written as new to
 * the store (rill__kv_put_new): emitted before the next commit, it costs no changelog record at
 * all. The marker key "time-index" says that the store's windows are indexed; a store written
 * before the index existed gets its entries derived from its windows on load (one range scan).
 *
 * Memory. idx_low, per task, is a bound below which the index has no entry: an emission reads
 * the entries below the close bound and the first one after them, whose time becomes idx_low,
 * so stream time advancing with nothing closed reads nothing, and the tombstones of what was
 * emitted (all below idx_low) are never walked. A write below idx_low lowers it. It starts at
 * 0 with each task state (start, move, rewind): the first emission derives it from the store.
 * An entry below `emitted` can only be a leftover (its window was emitted); it is dropped.
 */
#include "window_int.h"

#include <string.h>

#define IDX 'T'
static const char marker_key[] = "time-index";

static int is_session(const rill__win_conf_t *c) {
    return c->spec.kind == RILL_WINDOW_SESSION;
}

/* out = the entry of window (key, start, end). */
static int entry_key(rill_buf_t *out, const rill__win_conf_t *c, const void *key, size_t key_len,
                     int64_t start, int64_t end) {
    unsigned char head[1 + 16];
    size_t n = 1 + 8;
    head[0] = IDX;
    if (is_session(c)) {
        rill__be64_put(head + 1, (uint64_t)end);
        rill__be64_put(head + 9, (uint64_t)start);
        n += 8;
    } else {
        rill__be64_put(head + 1, (uint64_t)start);
    }
    rill_buf_reset(out);
    return rill_buf_append(out, head, n) || (key_len && rill_buf_append(out, key, key_len));
}

/* Reads an entry back: 0, or -1 when it is malformed. */
static int entry_parse(const rill__win_conf_t *c, const unsigned char *k, size_t len, int64_t *t,
                       int64_t *start, const void **key, size_t *key_len) {
    size_t head = is_session(c) ? 17 : 9;
    if (len < head || k[0] != IDX)
        return -1;
    *t = (int64_t)rill__be64_get(k + 1);
    *start = head == 17 ? (int64_t)rill__be64_get(k + 9) : *t;
    *key = k + head;
    *key_len = len - head;
    return *t < 0 || *start < 0 ? -1 : 0;
}

/* add: 0 deletes the entry, 1 writes it, 2 writes it knowing it is not in the store; its value
 * is v (NULL: the byte 1 alone). */
static int entry_put(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                     const void *key, size_t key_len, int64_t start, int64_t end, int add,
                     const void *v, size_t vlen) {
    static const unsigned char one = 1;
    if (!v) {
        v = &one;
        vlen = 1;
    }
    if (entry_key(&st->tmp, c, key, key_len, start, end) ||
        (add == 2
             ? rill__kv_put_new(st->meta, st->tmp.data, st->tmp.len, v, vlen)
             : rill__kv_put(st->meta, st->tmp.data, st->tmp.len, add ? v : NULL, add ? vlen : 0)))
        return rill__win_store_failed(ctx, c, "writing the time index of");
    int64_t t = is_session(c) ? end : start;
    if (add && t < st->idx_low)
        st->idx_low = t;
    return 0;
}

/* st->tval = the value of an entry that keeps trace: the byte 1, its length, its compact
 * copy. */
static int traced_value(rill__win_state_t *st, const rill__trace_t *trace) {
    static const unsigned char one = 1;
    rill_buf_reset(&st->tval);
    return rill_buf_append(&st->tval, &one, 1) || rill__trace_blob_append(&st->tval, trace);
}

/* Writes the entry of a window with the trace of the record at hand (lineage.enable), or
 * without one. */
static int entry_put_traced(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                            const void *key, size_t key_len, int64_t start, int64_t end, int add,
                            const rill__trace_t *trace) {
    if (!trace)
        return entry_put(ctx, c, st, key, key_len, start, end, add, NULL, 0);
    if (traced_value(st, trace))
        return rill__win_store_failed(ctx, c, "writing the time index of");
    return entry_put(ctx, c, st, key, key_len, start, end, add, st->tval.data, st->tval.len);
}

int rill__win_index_add(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                        const void *key, size_t key_len, int64_t start, int64_t end, int fresh) {
    if (c->emit != RILL_EMIT_FINAL)
        return 0;
    return entry_put_traced(ctx, c, st, key, key_len, start, end, fresh ? 2 : 1,
                            st->lineage ? rill__ctx_trace(ctx) : NULL);
}

int rill__win_index_copy(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                         const void *key, size_t key_len, int64_t start, int64_t from) {
    const void *v;
    size_t len;
    if (c->emit != RILL_EMIT_FINAL)
        return 0;
    if (!st->lineage)
        return entry_put(ctx, c, st, key, key_len, start, 0, 2, NULL, 0);
    if (entry_key(&st->tmp, c, key, key_len, from, 0))
        return rill__win_store_failed(ctx, c, "reading the time index of");
    int rc = rill__kv_get(st->meta, st->tmp.data, st->tmp.len, &v, &len);
    if (rc < 0)
        return rill__win_store_failed(ctx, c, "reading the time index of");
    if (rc == 0 || len <= 3)
        return entry_put(ctx, c, st, key, key_len, start, 0, 2, NULL, 0);
    rill_buf_reset(&st->tval); /* v is valid until the next store call */
    if (rill_buf_append(&st->tval, v, len))
        return rill__win_store_failed(ctx, c, "writing the time index of");
    return entry_put(ctx, c, st, key, key_len, start, 0, 2, st->tval.data, st->tval.len);
}

int rill__win_index_del(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                        const void *key, size_t key_len, int64_t start, int64_t end) {
    if (c->emit != RILL_EMIT_FINAL)
        return 0;
    return entry_put(ctx, c, st, key, key_len, start, end, 0, NULL, 0);
}

/* ---- deriving the index of a store written without one ---- */

typedef struct derive_s {
    rill_ctx_t *ctx;
    const rill__win_conf_t *conf;
    rill__win_state_t *st;
} rill__derive_t;

static int derive_window(const void *key, size_t key_len, int64_t start, const void *value,
                         size_t value_len, void *opaque) {
    rill__derive_t *d = opaque;
    return entry_put(d->ctx, d->conf, d->st, key, key_len, start, 0, 1, NULL, 0) ? -1 : 0;
}

static int derive_session(const void *key, size_t key_len, int64_t start, int64_t end,
                          const void *value, size_t value_len, void *opaque) {
    rill__derive_t *d = opaque;
    return entry_put(d->ctx, d->conf, d->st, key, key_len, start, end, 1, NULL, 0) ? -1 : 0;
}

int rill__win_index_load(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st) {
    static const unsigned char one = 1;
    const void *v;
    size_t len;
    if (c->emit != RILL_EMIT_FINAL)
        return 0;
    int rc = rill__kv_get(st->meta, marker_key, sizeof(marker_key) - 1, &v, &len);
    if (rc < 0)
        return rill__win_store_failed(ctx, c, "reading the meta of");
    if (rc > 0)
        return 0;
    if (st->emitted != RILL__WIN_UNSET) { /* windows from before the index: index them */
        rill__derive_t d = {.ctx = ctx, .conf = c, .st = st};
        int64_t to = INT64_MAX / 4;
        rc = is_session(c) ? rill__session_range(st->store, st->emitted, to, derive_session, &d)
                           : rill__window_range(st->store, st->emitted, to, derive_window, &d);
        if (rc < 0)
            return ctx->error[0] ? -1 : rill__win_store_failed(ctx, c, "scanning");
    }
    if (rill__kv_put(st->meta, marker_key, sizeof(marker_key) - 1, &one, 1))
        return rill__win_store_failed(ctx, c, "writing the meta of");
    return 0;
}

/* ---- emission ---- */

typedef struct due_s {
    rill__win_items_t *keys;
    int64_t hi, next;
    bool traces; /* keep the entries' values (lineage.enable) */
} rill__due_t;

/* Collects the entries below hi (their bytes, as items' keys; their values, as items'
 * aggregates, when traces are kept); stops at the first after. */
static int due_cb(const void *key, size_t key_len, const void *value, size_t value_len,
                  void *opaque) {
    rill__due_t *d = opaque;
    if (key_len < 9)
        return 0;
    int64_t t = (int64_t)rill__be64_get((const unsigned char *)key + 1);
    if (t >= d->hi) {
        d->next = t;
        return 1;
    }
    return rill__win_items_add(d->keys, key, key_len, t, t, t, d->traces ? value : "",
                               d->traces ? value_len : 0)
               ? -1
               : 0;
}

/* Keeps the trace of entry value v (the byte 1, then the trace's length and compact copy,
 * if any) with the last item. */
static int take_trace(rill__win_items_t *items, const unsigned char *v, size_t len) {
    rill__win_item_t *it = &items->v[items->cnt - 1];
    if (len <= 3 || len - 3 != ((size_t)v[1] << 8 | v[2]))
        return 0; /* no trace (a malformed one is left out, the result goes on) */
    it->trace_off = items->arena.len;
    it->trace_len = len - 3;
    return rill_buf_append(&items->arena, v + 3, len - 3);
}

/* Reads the window of entry k into st->items (with the trace of the entry's value v, when
 * it has one), unless it is gone or was emitted. */
static int take_window(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                       const unsigned char *k, size_t len, const unsigned char *ev, size_t ev_len) {
    int64_t t, start, end, ts;
    const void *key, *v, *agg;
    size_t key_len, vlen, agg_len;
    if (entry_parse(c, k, len, &t, &start, &key, &key_len))
        return rill__win_store_failed(ctx, c, "reading the time index of");
    if (t < st->emitted)
        return 0; /* a leftover of a window emitted before */
    int rc = is_session(c) ? rill__session_get(st->store, key, key_len, start, t, &v, &vlen)
                           : rill__window_get(st->store, key, key_len, start, &v, &vlen);
    if (rc < 0)
        return rill__win_store_failed(ctx, c, "reading");
    if (rc == 0)
        return 0;
    if (is_session(c)) {
        end = ts = t;
        agg = v;
        agg_len = vlen;
    } else {
        end = rill__win_time_end(c, start);
        if (rill__stored_parse(v, vlen, &agg, &agg_len, &ts))
            return rill__win_store_failed(ctx, c, "parsing a value of");
    }
    if (rill__win_items_add(&st->items, key, key_len, start, end, ts, agg, agg_len) ||
        take_trace(&st->items, ev, ev_len))
        return rill__win_store_failed(ctx, c, "reading");
    return 0;
}

int rill__win_index_closed(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                           int64_t hi) {
    unsigned char lo[9], end[1] = {IDX + 1};
    rill__win_items_reset(&st->items);
    if (hi <= st->idx_low)
        return 0;
    lo[0] = IDX;
    rill__be64_put(lo + 1, (uint64_t)(st->idx_low > 0 ? st->idx_low : 0));
    rill__due_t d = {.keys = &st->idx, .hi = hi, .next = INT64_MAX, .traces = st->lineage};
    rill__win_items_reset(&st->idx);
    if (rill__kv_range(st->meta, lo, sizeof(lo), end, sizeof(end), due_cb, &d) < 0 ||
        st->idx.failed)
        return rill__win_store_failed(ctx, c, "scanning the time index of");
    for (size_t i = 0; i < st->idx.cnt; i++) {
        const unsigned char *k = rill__win_item_key(&st->idx, i);
        size_t len = st->idx.v[i].key_len;
        if (take_window(ctx, c, st, k, len, rill__win_item_agg(&st->idx, i),
                        st->idx.v[i].agg_len) ||
            rill__kv_put(st->meta, k, len, NULL, 0))
            return ctx->error[0] ? -1 : rill__win_store_failed(ctx, c, "writing");
    }
    st->idx_low = d.next;
    return 0;
}
