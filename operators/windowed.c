/*
 * windowed.c — windowed aggregations: the operator every window kind shares (stream time,
 * lateness, emit-final, expiry, results), time windows (tumbling and hopping) and session
 * windows. Sliding windows are in sliding.c.
 *
 * DESIGN
 * State. Aggregates live in a window store keyed by (key, window start) with the value
 * [largest timestamp][aggregate], or in a session store. Two numbers per task must also
 * survive a crash or a move: the stream time the node has seen (so that a record late before
 * the crash is still late after it, although the task's own stream time starts afresh) and,
 * for emit-final, the bound below which every window has been emitted (Kafka Streams keeps
 * the same, its lastEmitWindowCloseTime, in the commit's metadata). They are kept in the
 * companion key-value store <store>-meta, written with the windows and restored with them, so
 * the operator's memory holds nothing that is not recomputed on init.
 *
 * Closing. With stream time T, every window whose close bound is below hi(T) is closed:
 * time windows close at end + grace (start < T - grace - size + 1), sliding windows when their
 * inclusive end + grace < T (start < T - grace - D), sessions when end + gap + grace < T
 * (end < T - grace - gap). A record is late when it would only touch closed windows.
 * Emit-final keeps `emitted`, the lowest bound not yet emitted, and a time index of the
 * windows not yet emitted (window_index.c: entries in the meta store ordered by start,
 * sessions by end). After each record (and on punctuation) the windows of the index below hi
 * are read (nothing at all until hi passes the earliest one, which memory keeps), forwarded
 * in (start, key) order (sessions: end, key, start) and dropped from the index, and `emitted`
 * moves to hi: closing costs the windows closed, never a scan of the key-ordered window
 * store. On the first record, `emitted` starts at hi: no window below it can exist yet.
 *
 * Expiry. Windows older than the retention are dropped segment by segment with
 * rill__window_expire, asked once per segment, never above `emitted`.
 */
#include "window_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char meta_key[] = "stream-time";

/* ---- items: windows copied out of the store ---- */

void rill__win_items_reset(rill__win_items_t *items) {
    items->cnt = 0;
    items->failed = 0;
    rill_buf_reset(&items->arena);
}

int rill__win_items_add(rill__win_items_t *items, const void *key, size_t key_len, int64_t start,
                        int64_t end, int64_t ts, const void *agg, size_t agg_len) {
    if (items->cnt == items->cap) {
        size_t cap = items->cap ? items->cap * 2 : 16;
        rill__win_item_t *v = realloc(items->v, sizeof(*v) * cap);
        if (!v)
            return items->failed = -1;
        items->v = v;
        items->cap = cap;
    }
    rill__win_item_t *it = &items->v[items->cnt];
    it->start = start;
    it->end = end;
    it->ts = ts;
    it->key_off = items->arena.len;
    it->key_len = key_len;
    if (rill_buf_append(&items->arena, key, key_len))
        return items->failed = -1;
    it->agg_off = items->arena.len;
    it->agg_len = agg_len;
    it->trace_off = it->trace_len = 0;
    if (rill_buf_append(&items->arena, agg, agg_len))
        return items->failed = -1;
    items->cnt++;
    return 0;
}

static void items_free(rill__win_items_t *items) {
    free(items->v);
    rill_buf_free(&items->arena);
}

/* ---- store helpers ---- */

int rill__win_store_failed(rill_ctx_t *ctx, const rill__win_conf_t *c, const char *what) {
    rill_ctx_set_error(ctx, "node \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       c->table.store);
    return -1;
}

int64_t rill__win_time_end(const rill__win_conf_t *c, int64_t start) {
    return rill__add_sat(rill__add_sat(start, c->spec.size_ms),
                         c->spec.kind == RILL_WINDOW_SLIDING);
}

typedef struct fetch_arg_s {
    const rill__win_conf_t *conf;
    rill__win_items_t *items;
    const void *key; /* NULL: any key */
    size_t key_len;
} rill__fetch_arg_t;

static int fetch_cb(const void *key, size_t key_len, int64_t start, const void *value,
                    size_t value_len, void *opaque) {
    rill__fetch_arg_t *a = opaque;
    const void *agg;
    size_t agg_len;
    int64_t ts;
    if (a->key && (key_len != a->key_len || memcmp(key, a->key, key_len)))
        return 0;
    if (rill__stored_parse(value, value_len, &agg, &agg_len, &ts))
        return a->items->failed = -1;
    return rill__win_items_add(a->items, key, key_len, start, rill__win_time_end(a->conf, start),
                               ts, agg, agg_len);
}

/* qsort's comparator takes no context: the arena of the list being sorted, per thread. */
static __thread const char *sort_arena;
static __thread int sort_by_end;

static int cmp_i64(int64_t x, int64_t y) {
    return x < y ? -1 : x > y;
}

static int item_cmp(const void *a, const void *b) {
    const rill__win_item_t *x = a, *y = b;
    int c = sort_by_end ? cmp_i64(x->end, y->end) : cmp_i64(x->start, y->start);
    if (c)
        return c;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    c = memcmp(sort_arena + x->key_off, sort_arena + y->key_off, n);
    if (!c)
        c = cmp_i64((int64_t)x->key_len, (int64_t)y->key_len);
    return c ? c : cmp_i64(x->start, y->start);
}

/* Sorts items by window start then key, or (sessions) by end, key, then start. */
static void items_sort(rill__win_items_t *items, int by_end) {
    if (items->cnt < 2)
        return;
    sort_arena = items->arena.data;
    sort_by_end = by_end;
    qsort(items->v, items->cnt, sizeof(*items->v), item_cmp);
}

int rill__win_fetch(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                    const void *key, size_t key_len, int64_t from, int64_t to) {
    rill__fetch_arg_t a = {.conf = c, .items = &st->items, .key = key, .key_len = key_len};
    rill__win_items_reset(&st->items);
    if (from < 0)
        from = 0;
    if (from >= to)
        return 0;
    int rc = rill__window_fetch(st->store, key, key_len, from, to, fetch_cb, &a);
    if (rc < 0 || st->items.failed)
        return rill__win_store_failed(ctx, c, "reading");
    items_sort(&st->items, 0);
    return 0;
}

int rill__win_put(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                  const void *key, size_t key_len, int64_t start, int64_t ts, const void *agg,
                  size_t agg_len, int fresh) {
    if (rill__stored_make(&st->val, ts, agg, agg_len) ||
        (fresh ? rill__window_put_new(st->store, key, key_len, start, st->val.data, st->val.len)
               : rill__window_put(st->store, key, key_len, start, st->val.data, st->val.len)))
        return rill__win_store_failed(ctx, c, "writing");
    return 0;
}

/* ---- results ---- */

int rill__win_forward(rill_ctx_t *ctx, const rill__win_conf_t *c, const void *key, size_t key_len,
                      int64_t start, int64_t end, const void *agg, size_t agg_len, int64_t ts,
                      const rill_headers_t *headers) {
    rill_record_t out = {.key = key,
                         .key_len = key_len,
                         .value = agg,
                         .value_len = agg ? agg_len : 0,
                         .value_serde = rill__agg_serde(&c->fns),
                         .timestamp = ts,
                         .headers = headers,
                         .window_start = start,
                         .window_end = end,
                         .window_kind = (int)c->spec.kind};
    if (agg && !agg_len)
        out.value = ""; /* an empty aggregate is not a tombstone */
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

int rill__win_late(rill_ctx_t *ctx, rill__win_conf_t *c, const rill_record_t *rec, const char *fmt,
                   ...) {
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    rill__counter_add(&c->late, 1);
    return rill__agg_dead_letter(ctx, rec, "late: %s", why);
}

/* ---- stream time, emit progress and expiry ---- */

static int64_t close_bound(const rill__win_conf_t *c, int64_t stream_time) {
    const rill_window_spec_t *w = &c->spec;
    switch (w->kind) {
    case RILL_WINDOW_SLIDING:
        return rill__sub_sat(rill__sub_sat(stream_time, w->grace_ms), w->size_ms);
    case RILL_WINDOW_SESSION:
        return rill__sub_sat(rill__sub_sat(stream_time, w->grace_ms), w->gap_ms);
    default:
        return rill__add_sat(rill__sub_sat(rill__sub_sat(stream_time, w->grace_ms), w->size_ms), 1);
    }
}

/* Opens the stores and reads the meta store, on first use. */
static int load(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st) {
    if (st->store)
        return 0;
    st->store = rill__ctx_store(ctx, c->table.store);
    st->meta = rill__ctx_store(ctx, c->meta_store);
    if (!st->store || !st->meta) {
        st->store = NULL;
        rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" or \"%s\" is not open", ctx->node->name,
                           c->table.store, c->meta_store);
        return -1;
    }
    const void *v;
    size_t len;
    int rc = rill__kv_get(st->meta, meta_key, sizeof(meta_key) - 1, &v, &len);
    if (rc < 0 || (rc > 0 && len != 16)) {
        st->store = NULL;
        return rill__win_store_failed(ctx, c, "reading the meta of");
    }
    if (rc > 0) {
        st->saved_time = (int64_t)rill__be64_get(v);
        st->saved_emitted = (int64_t)rill__be64_get((const unsigned char *)v + 8);
        if (st->saved_time > st->stream_time)
            st->stream_time = st->saved_time;
        st->emitted = st->saved_emitted;
    }
    return rill__win_index_load(ctx, c, st);
}

static int save(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st) {
    if (st->stream_time == st->saved_time && st->emitted == st->saved_emitted)
        return 0;
    unsigned char v[16];
    rill__be64_put(v, (uint64_t)st->stream_time);
    rill__be64_put(v + 8, (uint64_t)st->emitted);
    if (rill__kv_put(st->meta, meta_key, sizeof(meta_key) - 1, v, sizeof(v)))
        return rill__win_store_failed(ctx, c, "writing the meta of");
    st->saved_time = st->stream_time;
    st->saved_emitted = st->emitted;
    return 0;
}

/* Forwards closed window i of st->items; under lineage.enable with the trace of the record
 * that last updated it, when the index kept one (window_index.c). */
static int forward_closed(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st, size_t i) {
    const rill__win_item_t *it = &st->items.v[i];
    const rill__trace_t *saved = ctx->trace_over;
    if (it->trace_len &&
        !rill__trace_blob_get(&st->trace, st->items.arena.data + it->trace_off, it->trace_len))
        ctx->trace_over = &st->trace;
    int rc =
        rill__win_forward(ctx, c, rill__win_item_key(&st->items, i), it->key_len, it->start,
                          it->end, rill__win_item_agg(&st->items, i), it->agg_len, it->ts, NULL);
    ctx->trace_over = saved;
    return rc;
}

/* Emit-final: forwards every window closed since the last call, once. */
static int emit_closed(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st) {
    if (c->emit != RILL_EMIT_FINAL || st->stream_time < 0)
        return 0;
    int64_t hi = close_bound(c, st->stream_time);
    if (st->emitted == RILL__WIN_UNSET || hi <= st->emitted)
        return 0; /* no record yet, or nothing closed since */
    int session = c->spec.kind == RILL_WINDOW_SESSION;
    if (rill__win_index_closed(ctx, c, st, hi))
        return -1;
    items_sort(&st->items, session);
    for (size_t i = 0; i < st->items.cnt; i++)
        if (forward_closed(ctx, c, st, i))
            return -1;
    rill__counter_add(&c->finals, (int64_t)st->items.cnt);
    st->emitted = hi;
    return 0;
}

/* Drops the segments of windows (sessions: by end) that start before stream time - retention
 * + 1, and never one not emitted yet. */
static int expire(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st) {
    int64_t before = rill__add_sat(rill__sub_sat(st->stream_time, c->spec.retention_ms), 1);
    if (c->emit == RILL_EMIT_FINAL && st->emitted < before)
        before = st->emitted; /* RILL__WIN_UNSET is below anything */
    if (before <= 0 || before / c->segment_ms <= st->expired_seg)
        return 0;
    if (rill__window_expire(st->store, before))
        return rill__win_store_failed(ctx, c, "expiring");
    st->expired_seg = before / c->segment_ms;
    return 0;
}

/* ---- time windows: tumbling and hopping ---- */

/* Adds rec to the window of key starting at start. */
static int time_update(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                       const rill_record_t *rec, int64_t start) {
    const void *old = NULL, *agg = NULL;
    size_t old_len = 0, agg_len = 0;
    int64_t ts = rec->timestamp, old_ts;
    int rc = rill__window_get(st->store, rec->key, rec->key_len, start, &old, &old_len);
    if (rc < 0)
        return rill__win_store_failed(ctx, c, "reading");
    if (rc > 0) {
        if (rill__stored_parse(old, old_len, &agg, &agg_len, &old_ts))
            return rill__win_store_failed(ctx, c, "parsing a value of");
        if (old_ts > ts)
            ts = old_ts;
    }
    if (rill__agg_add(ctx, &c->fns, rec, agg, agg_len, &st->agg) ||
        rill__win_put(ctx, c, st, rec->key, rec->key_len, start, ts, st->agg.data, st->agg.len,
                      rc == 0) ||
        ((rc == 0 || st->lineage) &&
         rill__win_index_add(ctx, c, st, rec->key, rec->key_len, start, 0, rc == 0)))
        return -1;
    if (c->emit != RILL_EMIT_ON_UPDATE)
        return 0;
    return rill__win_forward(ctx, c, rec->key, rec->key_len, start,
                             rill__add_sat(start, c->spec.size_ms), st->agg.data, st->agg.len, ts,
                             rec->headers);
}

/* The windows of t: starts n * advance in (t - size, t], n >= 0 (Kafka Streams'
 * TimeWindows.windowsFor); the open ones (start >= hi) get the record. */
static int time_process(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                        const rill_record_t *rec) {
    int64_t t = rec->timestamp, size = c->spec.size_ms, adv = c->spec.advance_ms;
    int64_t hi = close_bound(c, st->stream_time), last = t / adv * adv;
    if (last < hi)
        return rill__win_late(ctx, c, rec,
                              "record at %" PRId64 ", stream time %" PRId64 ": its last window "
                              "[%" PRId64 ",%" PRId64 ") closed at %" PRId64 " (end + grace "
                              "%" PRId64 " ms)",
                              t, st->stream_time, last, rill__add_sat(last, size),
                              rill__add_sat(rill__add_sat(last, size), c->spec.grace_ms),
                              c->spec.grace_ms);
    int64_t from = rill__add_sat(rill__sub_sat(t, size), adv),
            first = from > 0 ? from / adv * adv : 0;
    int64_t n = t < first ? 0 : (t - first) / adv + 1; /* counted: start + adv may overflow */
    for (int64_t i = 0, start = first; i < n; i++, start = rill__add_sat(start, adv))
        if (start >= hi && time_update(ctx, c, st, rec, start))
            return -1;
    return 0;
}

/* ---- session windows ----
 *
 * As Kafka Streams' KStreamSessionWindowAggregate: a record at t finds its key's sessions that
 * end at or after t - gap and start at or before t + gap (rill__session_find), merges them
 * with [t, t] into one session whose aggregate is the initial aggregate merged with each of
 * theirs, then adds the record; the merged sessions are removed and the new one written. With
 * emit-on-update each removed session is retracted downstream with a tombstone, except one
 * whose window is the merged session's own (it is overwritten in place, and its new value
 * follows at once). A record is late when its merged session would be closed, or when it
 * would merge into a session that has closed (which Kafka Streams allows, revising a session
 * it may have emitted as final). Session values are the aggregate alone; a session's
 * timestamp is its end.
 */

typedef struct find_arg_s {
    rill__win_items_t *items;
} rill__find_arg_t;

static int find_cb(int64_t start, int64_t end, const void *value, size_t value_len, void *opaque) {
    rill__find_arg_t *a = opaque;
    return rill__win_items_add(a->items, "", 0, start, end, end, value, value_len);
}

/* Folds the found sessions' aggregates into st->agg, starting from the initial aggregate. */
static int merge_found(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st) {
    if (rill__agg_initial(ctx, &c->fns, &st->agg))
        return -1;
    for (size_t i = 0; i < st->items.cnt; i++) {
        if (rill__agg_merge(ctx, &c->fns, st->agg.data, st->agg.len,
                            rill__win_item_agg(&st->items, i), st->items.v[i].agg_len, &st->tmp))
            return -1;
        rill_buf_t swap = st->agg;
        st->agg = st->tmp;
        st->tmp = swap;
    }
    return 0;
}

/* Removes the found sessions other than [start, end], retracting them downstream. */
static int remove_merged(rill_ctx_t *ctx, const rill__win_conf_t *c, rill__win_state_t *st,
                         const rill_record_t *rec, int64_t start, int64_t end) {
    for (size_t i = 0; i < st->items.cnt; i++) {
        const rill__win_item_t *it = &st->items.v[i];
        if (it->start == start && it->end == end)
            continue;
        if (rill__session_remove(st->store, rec->key, rec->key_len, it->start, it->end))
            return rill__win_store_failed(ctx, c, "removing from");
        if (rill__win_index_del(ctx, c, st, rec->key, rec->key_len, it->start, it->end))
            return -1;
        if (c->emit == RILL_EMIT_ON_UPDATE &&
            rill__win_forward(ctx, c, rec->key, rec->key_len, it->start, it->end, NULL, 0, it->end,
                              rec->headers))
            return -1;
    }
    return 0;
}

static int session_process(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                           const rill_record_t *rec) {
    int64_t t = rec->timestamp, gap = c->spec.gap_ms;
    int64_t hi =
        rill__sub_sat(rill__sub_sat(st->stream_time, c->spec.grace_ms), gap); /* closed before */
    rill__find_arg_t a = {.items = &st->items};
    rill__win_items_reset(&st->items);
    if (rill__session_find(st->store, rec->key, rec->key_len, rill__sub_sat(t, gap),
                           rill__add_sat(t, gap), find_cb, &a) < 0 ||
        st->items.failed)
        return rill__win_store_failed(ctx, c, "reading");
    int64_t start = t, end = t, closed_end = INT64_MAX;
    int fresh = 1; /* no found session is the merged one */
    for (size_t i = 0; i < st->items.cnt; i++) {
        const rill__win_item_t *it = &st->items.v[i];
        if (it->start < start)
            start = it->start;
        if (it->end > end)
            end = it->end;
        if (it->end < hi && it->end < closed_end)
            closed_end = it->end;
    }
    for (size_t i = 0; i < st->items.cnt; i++)
        if (st->items.v[i].start == start && st->items.v[i].end == end)
            fresh = 0;
    if (end < hi || closed_end != INT64_MAX)
        return rill__win_late(ctx, c, rec,
                              "record at %" PRId64 ", stream time %" PRId64 ": its session "
                              "[%" PRId64 ",%" PRId64 "] %s (sessions close at end + gap %" PRId64
                              " + grace %" PRId64 " ms)",
                              t, st->stream_time, start, end,
                              end < hi ? "has closed" : "would merge a closed session", gap,
                              c->spec.grace_ms);
    if (merge_found(ctx, c, st) ||
        rill__agg_add(ctx, &c->fns, rec, st->agg.data, st->agg.len, &st->val))
        return -1;
    if (remove_merged(ctx, c, st, rec, start, end) ||
        (rill__session_put(st->store, rec->key, rec->key_len, start, end, st->val.data,
                           st->val.len) &&
         rill__win_store_failed(ctx, c, "writing")) ||
        rill__win_index_add(ctx, c, st, rec->key, rec->key_len, start, end, fresh))
        return -1;
    if (c->emit != RILL_EMIT_ON_UPDATE)
        return 0;
    return rill__win_forward(ctx, c, rec->key, rec->key_len, start, end, st->val.data, st->val.len,
                             end, rec->headers);
}

/* ---- the operator ---- */

static int win_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__win_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->stream_time = -1;
    st->emitted = st->saved_emitted = RILL__WIN_UNSET;
    st->saved_time = -1;
    st->expired_seg = -1;
    st->lineage = rill__lineage_on(ctx);
    *statep = st;
    return 0;
}

static void win_close(const rill__node_t *node, void *state) {
    rill__win_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->agg);
    rill_buf_free(&st->val);
    rill_buf_free(&st->tmp);
    rill_buf_free(&st->tval);
    items_free(&st->items);
    items_free(&st->idx);
    free(st);
}

/* Advances the node's stream time to the task's (or to t from a punctuation). Never to a
 * record's own timestamp: the task's time is the progress of every input (progress.c), so a
 * record ahead of the others closes nothing they may still bring. */
static void advance(rill_ctx_t *ctx, rill__win_state_t *st, int64_t t) {
    int64_t task_time = rill_ctx_stream_time(ctx);
    if (task_time > st->stream_time)
        st->stream_time = task_time;
    if (t > st->stream_time)
        st->stream_time = t;
}

static int win_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__win_conf_t *c = ctx->node->conf;
    rill__win_state_t *st = state;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: windowed aggregation \"%s\" groups by "
                                     "key and cannot place a record without one",
                                     ctx->node->name);
    if (!rec->value && !rec->value_obj)
        return rill__agg_dead_letter(ctx, rec,
                                     "null value: windowed aggregation \"%s\" takes "
                                     "no tombstones",
                                     ctx->node->name);
    if (rec->timestamp < 0)
        return rill__agg_dead_letter(ctx, rec,
                                     "negative timestamp %" PRId64 ": windowed "
                                     "aggregation \"%s\" cannot place it in a window",
                                     rec->timestamp, ctx->node->name);
    if (load(ctx, c, st))
        return -1;
    advance(ctx, st, -1);
    int rc;
    switch (c->spec.kind) {
    case RILL_WINDOW_SLIDING:
        rc = rill__sliding_process(ctx, c, st, rec);
        break;
    case RILL_WINDOW_SESSION:
        rc = session_process(ctx, c, st, rec);
        break;
    default:
        rc = time_process(ctx, c, st, rec);
        break;
    }
    if (!rc && st->emitted == RILL__WIN_UNSET)
        st->emitted = -1; /* a first record: every window from time 0 is still to emit
                             (stream time, the inputs' progress, may come much later) */
    if (rc || emit_closed(ctx, c, st) || expire(ctx, c, st) || save(ctx, c, st))
        return -1;
    return 0;
}

/* Emit-final as stream time advances without a record reaching the node. */
static int win_punctuate(rill_ctx_t *ctx, int64_t stream_time, void *state) {
    rill__win_conf_t *c = ctx->node->conf;
    rill__win_state_t *st = state;
    if (c->emit != RILL_EMIT_FINAL)
        return 0;
    if (load(ctx, c, st))
        return -1;
    if (st->emitted == RILL__WIN_UNSET)
        return 0; /* no record yet, so no window */
    advance(ctx, st, stream_time);
    return emit_closed(ctx, c, st) || expire(ctx, c, st) || save(ctx, c, st) ? -1 : 0;
}

const rill__mfamily_t rill__late_family = {
    "rill_late_records_total", RILL__COUNTER,
    "Records dropped because they came later than the grace of their window or join."};

static const rill__mfamily_t win_finals_family = {
    "rill_window_final_results_total", RILL__COUNTER,
    "Final results of closed windows emitted (emit final)."};

static void win_metrics(const rill__node_t *node, rill__mout_t *mo) {
    const rill__win_conf_t *c = node->conf;
    const char *labels[] = {"node", node->name, NULL};
    rill__mout_sample(mo, &rill__late_family, NULL, labels,
                      __atomic_load_n(&c->late, __ATOMIC_RELAXED));
    rill__mout_sample(mo, &win_finals_family, NULL, labels,
                      __atomic_load_n(&c->finals, __ATOMIC_RELAXED));
}

static int64_t win_metric(const rill__node_t *node, const char *name) {
    const rill__win_conf_t *c = node->conf;
    if (!strcmp(name, "rill_late_records_total"))
        return __atomic_load_n(&c->late, __ATOMIC_RELAXED);
    if (!strcmp(name, "rill_window_final_results_total"))
        return __atomic_load_n(&c->finals, __ATOMIC_RELAXED);
    return -1;
}

static void win_free_conf(void *conf) {
    rill__win_conf_t *c = conf;
    if (c) {
        free(c->table.store);
        free(c->meta_store);
    }
    free(c);
}

static const rill__operator_t windowed_op = {
    .kind = "WINDOWED-AGGREGATE",
    .init = win_init,
    .process = win_process,
    .punctuate = win_punctuate,
    .close = win_close,
    .free_conf = win_free_conf,
    .metrics = win_metrics,
    .metric = win_metric,
};

/* ---- builder ---- */

static rill_table_t *add_windowed(rill_windowed_t *w, const char *store, const rill__agg_fns_t *fns,
                                  rill_emit_t emit) {
    rill_grouped_t *g = w->grouped;
    if (rill__store_claim(g->topo, store, RILL__CLAIM_NAME))
        return NULL;
    if (emit != RILL_EMIT_ON_UPDATE && emit != RILL_EMIT_FINAL) {
        rill__topology_fail(g->topo,
                            "windowed aggregation of \"%s\": emit must be "
                            "RILL_EMIT_ON_UPDATE or RILL_EMIT_FINAL",
                            g->node->name);
        return NULL;
    }
    rill__win_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    c->spec = w->spec;
    c->emit = emit;
    c->fns = *fns;
    rill__store_kind_t kind =
        w->spec.kind == RILL_WINDOW_SESSION ? RILL_STORE_SESSION : RILL_STORE_WINDOW;
    rill__store_def_t *def = NULL;
    rill_table_t *t = rill__table_add(g->topo, g->node, &windowed_op, c, store, kind, w->spec.kind,
                                      w->spec.retention_ms, &def);
    if (!t)
        return NULL;
    char meta[320];
    snprintf(meta, sizeof(meta), "%s-meta", t->store);
    c->segment_ms = def->segment_ms > 0 ? def->segment_ms : 60000;
    if (!(c->meta_store = strdup(meta))) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    if (rill__store_claim(g->topo, meta, RILL__CLAIM_OWN) ||
        !rill__topology_add_store(g->topo, t->node, meta, RILL_STORE_KV, 0, 0))
        return NULL;
    return t;
}

rill_table_t *rill_windowed_count(rill_windowed_t *w, const char *store, rill_emit_t emit) {
    rill__agg_fns_t fns = {.kind = RILL__AGG_COUNT};
    if (!w || w->grouped->topo->error)
        return NULL;
    return add_windowed(w, store, &fns, emit);
}

rill_table_t *rill_windowed_aggregate(rill_windowed_t *w, const char *store,
                                      rill_initializer_cb init, rill_aggregator_cb adder,
                                      void *opaque, rill_emit_t emit) {
    if (!w || w->grouped->topo->error)
        return NULL;
    if (!init || !adder || w->spec.kind == RILL_WINDOW_SESSION) {
        rill__topology_fail(w->grouped->topo, "windowed aggregate of \"%s\": %s",
                            w->grouped->node->name,
                            w->spec.kind == RILL_WINDOW_SESSION
                                ? "session windows need a merger: use rill_session_aggregate()"
                                : "an initializer and an adder are needed");
        return NULL;
    }
    rill__agg_fns_t fns = {
        .kind = RILL__AGG_AGGREGATE, .init = init, .adder = adder, .opaque = opaque};
    return add_windowed(w, store, &fns, emit);
}

rill_table_t *rill_session_aggregate(rill_windowed_t *w, const char *store,
                                     rill_initializer_cb init, rill_aggregator_cb adder,
                                     rill_merger_cb merger, void *opaque, rill_emit_t emit) {
    if (!w || w->grouped->topo->error)
        return NULL;
    if (!init || !adder || !merger || w->spec.kind != RILL_WINDOW_SESSION) {
        rill__topology_fail(w->grouped->topo, "session aggregate of \"%s\": %s",
                            w->grouped->node->name,
                            w->spec.kind != RILL_WINDOW_SESSION
                                ? "the windows are not session windows: use "
                                  "rill_windowed_aggregate()"
                                : "an initializer, an adder and a merger are needed");
        return NULL;
    }
    rill__agg_fns_t fns = {.kind = RILL__AGG_AGGREGATE,
                           .init = init,
                           .adder = adder,
                           .merger = merger,
                           .opaque = opaque};
    return add_windowed(w, store, &fns, emit);
}
