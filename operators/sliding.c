/*
 * sliding.c — sliding windows (Kafka Streams' SlidingWindows.ofTimeDifferenceAndGrace): for a
 * time difference D, windows [s, s + D] (both ends included) that the records of a key define.
 *
 * DESIGN
 * Which windows exist. For each record at t: its left window [t - D, t] ([0, D] when t < D),
 * and its right window [t + 1, t + 1 + D] when a record of the key falls in it. Every window
 * holds every record of the key within its bounds, so two windows with the same records are
 * never both made: sliding by one millisecond changes nothing between record times.
 *
 * How. This is Kafka Streams' algorithm (KStreamSlidingWindowAggregate, processInOrder and
 * processEarly) over the window store, whose values carry the largest record timestamp of
 * each window: a record at t reads its key's windows starting in [t - 2D, t + 1], adds itself
 * to those that hold it, and creates what is missing: its left window (from the previous
 * record's left window, which holds exactly the records of [t - D, t) when the previous record
 * is within D), its right window (a copy of the latest window that holds t and records after
 * it) and the previous record's right window. Windows that closed (end + grace before stream
 * time) are left alone; a record whose every window closed is late. The windows read are
 * copied first, so the store is written while nothing points into it.
 */
#include "window_int.h"

#include <inttypes.h>
#include <stdbool.h>

/* What a record at t finds among the windows read (indices into st->items, or -1). */
typedef struct look_s {
    long left;     /* the latest window ending before t */
    long right;    /* the latest window holding t and ending after it */
    long combined; /* records before D: the window [0, D] */
    bool left_made, right_made;
    bool has_prev;
    int64_t prev; /* the timestamp of the key's record before t */
} rill__look_t;

static bool has_start(const rill__win_items_t *items, int64_t start) {
    for (size_t i = 0; i < items->cnt; i++)
        if (items->v[i].start == start)
            return true;
    return false;
}

static int forward_update(rill_ctx_t *ctx, const rill__win_conf_t *c, const rill_record_t *rec,
                          int64_t start, const void *agg, size_t agg_len, int64_t ts) {
    if (c->emit != RILL_EMIT_ON_UPDATE)
        return 0;
    return rill__win_forward(ctx, c, rec->key, rec->key_len, start,
                             rill__add_sat(rill__add_sat(start, c->spec.size_ms), 1), agg, agg_len,
                             ts, rec->headers);
}

/* Adds rec to the window starting at start whose aggregate is agg (NULL: a new window, from
 * the initial aggregate) and timestamp ts, unless that window closed; fresh: the window is
 * new (made from agg), so emit-final's time index gets it (under lineage.enable every update
 * writes its entry again, with rec's trace). */
static int update(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                  const rill_record_t *rec, int64_t start, const void *agg, size_t agg_len,
                  int64_t ts, bool fresh) {
    if (rill__add_sat(start, c->spec.size_ms) < rill__sub_sat(st->stream_time, c->spec.grace_ms))
        return 0;
    if (ts < rec->timestamp)
        ts = rec->timestamp;
    if (rill__agg_add(ctx, &c->fns, rec, agg, agg_len, &st->agg) ||
        rill__win_put(ctx, c, st, rec->key, rec->key_len, start, ts, st->agg.data, st->agg.len,
                      fresh) ||
        ((fresh || st->lineage) &&
         rill__win_index_add(ctx, c, st, rec->key, rec->key_len, start, 0, fresh)))
        return -1;
    return forward_update(ctx, c, rec, start, st->agg.data, st->agg.len, ts);
}

static int update_item(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                       const rill_record_t *rec, size_t i) {
    const rill__win_item_t *it = &st->items.v[i];
    return update(ctx, c, st, rec, it->start, rill__win_item_agg(&st->items, i), it->agg_len,
                  it->ts, false);
}

/* Creates rec's right window [t + 1, t + 1 + D] as a copy of window i, which holds t and the
 * records after it within D (rec itself does not belong in it, so under lineage.enable the
 * copy keeps window i's trace). */
static int copy_right(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                      const rill_record_t *rec, size_t i) {
    const rill__win_item_t *it = &st->items.v[i];
    const void *agg = rill__win_item_agg(&st->items, i);
    int64_t start = rill__add_sat(rec->timestamp, 1);
    if (rill__win_put(ctx, c, st, rec->key, rec->key_len, start, it->ts, agg, it->agg_len, 1) ||
        rill__win_index_copy(ctx, c, st, rec->key, rec->key_len, start, it->start))
        return -1;
    return forward_update(ctx, c, rec, start, agg, it->agg_len, it->ts);
}

static int unexpected(rill_ctx_t *ctx, int64_t start, int64_t t) {
    rill_ctx_set_error(ctx,
                       "node \"%s\": unexpected sliding window starting at %" PRId64
                       " for a record at %" PRId64 " (the store is not a sliding-window store "
                       "of this time difference?)",
                       ctx->node->name, start, t);
    return -1;
}

/* A record at t >= D (Kafka Streams' processInOrder and createWindows). */
static int process_in_order(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                            const rill_record_t *rec) {
    int64_t t = rec->timestamp, d = c->spec.size_ms;
    const rill__win_items_t *items = &st->items;
    rill__look_t lk = {.left = -1, .right = -1, .combined = -1};
    if (rill__win_fetch(ctx, c, st, rec->key, rec->key_len, rill__sub_sat(t, 2 * d),
                        rill__add_sat(t, 2)))
        return -1;
    for (size_t i = 0; i < items->cnt; i++) {
        const rill__win_item_t *it = &items->v[i];
        int64_t end = rill__add_sat(it->start, d);
        if (end < t) {
            lk.left = (long)i;
            lk.prev = it->ts;
            lk.has_prev = true;
        } else if (end == t) {
            lk.left_made = true;
            if (it->ts < t) {
                lk.prev = it->ts;
                lk.has_prev = true;
            }
            if (update_item(ctx, c, st, rec, i))
                return -1;
        } else if (it->start <= t) {
            lk.right = (long)i;
            if (update_item(ctx, c, st, rec, i))
                return -1;
        } else if (it->start == rill__add_sat(t, 1)) {
            lk.right_made = true;
        } else {
            return unexpected(ctx, it->start, t);
        }
    }
    /* The previous record's right window, when it does not exist and holds t. */
    if (lk.has_prev && !has_start(items, rill__add_sat(lk.prev, 1)) &&
        rill__add_sat(rill__add_sat(lk.prev, 1), d) >= t &&
        update(ctx, c, st, rec, rill__add_sat(lk.prev, 1), NULL, 0, t, true))
        return -1;
    if (!lk.left_made) {
        int rc;
        if (lk.has_prev && t - d <= lk.prev && lk.left >= 0)
            rc = update(ctx, c, st, rec, t - d, rill__win_item_agg(items, (size_t)lk.left),
                        items->v[lk.left].agg_len, t, true);
        else
            rc = update(ctx, c, st, rec, t - d, NULL, 0, t, true);
        if (rc)
            return -1;
    }
    if (!lk.right_made && lk.right >= 0 && items->v[lk.right].ts > t)
        return copy_right(ctx, c, st, rec, (size_t)lk.right);
    return 0;
}

/* A record at t < D, whose left window would start before 0: it goes to [0, D] instead
 * (Kafka Streams' processEarly). */
static int process_early(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                         const rill_record_t *rec) {
    int64_t t = rec->timestamp;
    const rill__win_items_t *items = &st->items;
    rill__look_t lk = {.left = -1, .right = -1, .combined = -1};
    if (rill__win_fetch(ctx, c, st, rec->key, rec->key_len, 0, rill__add_sat(t, 2)))
        return -1;
    for (size_t i = 0; i < items->cnt; i++) {
        const rill__win_item_t *it = &items->v[i];
        if (it->start == 0) {
            lk.combined = (long)i;
            if (it->ts < t) {
                lk.prev = it->ts;
                lk.has_prev = true;
            }
        } else if (it->start <= t) {
            lk.right = (long)i;
            if (update_item(ctx, c, st, rec, i))
                return -1;
        } else if (it->start == rill__add_sat(t, 1)) {
            lk.right_made = true;
        } else {
            return unexpected(ctx, it->start, t);
        }
    }
    /* With no later window holding t, [0, D] holds only records after t, if any: it can
     * seed the right window. */
    if (lk.right < 0 && lk.combined >= 0 && items->v[lk.combined].ts > t)
        lk.right = lk.combined;
    if (!lk.right_made && lk.right >= 0 && items->v[lk.right].ts > t &&
        copy_right(ctx, c, st, rec, (size_t)lk.right))
        return -1;
    if (lk.has_prev && !has_start(items, rill__add_sat(lk.prev, 1)) &&
        update(ctx, c, st, rec, rill__add_sat(lk.prev, 1), NULL, 0, t, true))
        return -1;
    if (lk.combined < 0)
        return update(ctx, c, st, rec, 0, NULL, 0, t, true);
    return update_item(ctx, c, st, rec, (size_t)lk.combined);
}

int rill__sliding_process(rill_ctx_t *ctx, rill__win_conf_t *c, rill__win_state_t *st,
                          const rill_record_t *rec) {
    int64_t t = rec->timestamp, d = c->spec.size_ms,
            close = rill__sub_sat(st->stream_time, c->spec.grace_ms);
    if (rill__add_sat(t, d) < close)
        return rill__win_late(ctx, c, rec,
                              "record at %" PRId64 ", stream time %" PRId64 ": every sliding "
                              "window holding it ended by %" PRId64 " and closed (grace %" PRId64
                              " ms)",
                              t, st->stream_time, rill__add_sat(t, d), c->spec.grace_ms);
    return t < d ? process_early(ctx, c, st, rec) : process_in_order(ctx, c, st, rec);
}
