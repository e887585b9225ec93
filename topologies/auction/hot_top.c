/*
 * hot_top.c — "hot-top", the last step of auction.analytics.hot-items (NEXMark q5): for
 * each hopping window, the auction(s) with the most bids in it, final results only.
 *
 * Its input is the windowed bid counts of every bids task (one record per auction and
 * window, emitted when that task's stream time passes windowEnd + grace), re-keyed by window
 * start through a repartition topic. Per open window it keeps the max count and the auctions
 * that have it.
 *
 * When is a window final? Counts reach this task from every bids task, and those progress
 * independently (other threads, other processes, one of them maybe restarting). The task's
 * stream time is the lowest progress of the bids tasks (Rill carries it through the
 * repartition topic), and a bids task emits a window's counts before its progress passes
 * windowEnd + grace, so a window whose end + grace is at most stream time has all its counts.
 * The task also follows each bids task's counts itself: a count from a bids task (which one
 * follows from the auction id, the bids' key, by murmur2) with a timestamp of at least
 * windowEnd + size + grace shows that task was past this window; when every bids task shows
 * that, the window is emitted without waiting for the next progress marker. At the end of the
 * input (--drain) stream time moves past every window.
 *
 * The open windows and the progress per bids task live in memory and, after each change, as
 * one value in the key-value store "hot-top-store" (logged: a task restarted after a crash
 * or moved to another process starts from them).
 */
#include "app.h"

#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOT_KEY "open"

typedef struct hot_win_s {
    int64_t start, end, max;
    int n, cap;
    int64_t *auctions;
} hot_win_t;

typedef struct hot_state_s {
    const auction_opts_t *o;
    rill_kv_t *kv;
    hot_win_t *w; /* open windows, by start */
    int n, cap;
    int64_t emitted_upto; /* windows with start < this were emitted */
    int ups;              /* bids partitions followed (0: unknown) */
    int64_t *up_ts;       /* per bids partition: largest count timestamp, INT64_MIN none */
    int64_t max_ts;       /* largest count timestamp from any */
} hot_state_t;

/* ---- the store's value ---- */

static void put_be64(rill_buf_t *b, int64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    rill_buf_append(b, x, 8);
}

static int get_be64(const unsigned char **p, const unsigned char *end, int64_t *v) {
    if (end - *p < 8)
        return -1;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | (*p)[i];
    *p += 8;
    *v = (int64_t)u;
    return 0;
}

/* Writes the state: emitted_upto, max_ts, ups, up_ts[ups], n, then per window start, end,
 * max, the number of top auctions and their ids (big-endian int64 each). */
static void hot_save(hot_state_t *hs) {
    rill_buf_t b = {0};
    put_be64(&b, hs->emitted_upto);
    put_be64(&b, hs->max_ts);
    put_be64(&b, hs->ups);
    for (int i = 0; i < hs->ups; i++)
        put_be64(&b, hs->up_ts[i]);
    put_be64(&b, hs->n);
    for (int i = 0; i < hs->n; i++) {
        const hot_win_t *w = &hs->w[i];
        put_be64(&b, w->start);
        put_be64(&b, w->end);
        put_be64(&b, w->max);
        put_be64(&b, w->n);
        for (int j = 0; j < w->n; j++)
            put_be64(&b, w->auctions[j]);
    }
    if (rill_kv_put(hs->kv, HOT_KEY, strlen(HOT_KEY), b.data, b.len))
        fprintf(stderr, "hot-top: could not save its open windows\n");
    rill_buf_free(&b);
}

/* Reads what hot_save() wrote; 0 when absent or read, -1 when malformed. */
static int hot_load(hot_state_t *hs) {
    const void *v;
    size_t len;
    if (rill_kv_get(hs->kv, HOT_KEY, strlen(HOT_KEY), &v, &len) != 1)
        return 0;
    const unsigned char *p = v, *end = p + len;
    int64_t ups, n;
    if (get_be64(&p, end, &hs->emitted_upto) || get_be64(&p, end, &hs->max_ts) ||
        get_be64(&p, end, &ups) || ups != hs->ups)
        return -1; /* also when the bids topic's partitions changed */
    for (int i = 0; i < hs->ups; i++)
        if (get_be64(&p, end, &hs->up_ts[i]))
            return -1;
    if (get_be64(&p, end, &n) || n < 0 || n > (end - p) / 32)
        return -1;
    hs->w = calloc((size_t)n + 1, sizeof(*hs->w));
    hs->cap = (int)n + 1;
    for (; hs->n < n; hs->n++) {
        hot_win_t *w = &hs->w[hs->n];
        int64_t cnt;
        if (get_be64(&p, end, &w->start) || get_be64(&p, end, &w->end) ||
            get_be64(&p, end, &w->max) || get_be64(&p, end, &cnt) || cnt < 0 || cnt > (end - p) / 8)
            return -1;
        w->cap = w->n = (int)cnt;
        w->auctions = malloc(((size_t)cnt + 1) * sizeof(int64_t));
        for (int j = 0; j < w->n; j++)
            get_be64(&p, end, &w->auctions[j]);
    }
    return 0;
}

/* ---- emitting ---- */

/* How far every bids task has certainly gone (see the top): the least of their progress. */
static int64_t hot_low(const hot_state_t *hs, int64_t stream_time) {
    if (!hs->ups)
        return stream_time;
    int64_t low = INT64_MAX;
    for (int i = 0; i < hs->ups; i++)
        if (hs->up_ts[i] < low)
            low = hs->up_ts[i];
    return low;
}

/* Emits the windows with end + size + grace <= limit; saves when it emitted any. */
static void hot_flush(rill_ctx_t *ctx, hot_state_t *hs, int64_t limit) {
    int64_t delay = hs->o->hot_size_ms + hs->o->hot_grace_ms;
    int k = 0;
    for (int i = 0; i < hs->n; i++) {
        hot_win_t *w = &hs->w[i];
        if (w->end + delay > limit) {
            hs->w[k++] = *w;
            continue;
        }
        for (int j = 0; j < w->n; j++) {
            char key[32], val[200];
            int kl = snprintf(key, sizeof(key), "%" PRId64, w->auctions[j]);
            int vl = snprintf(val, sizeof(val),
                              "{\"windowStart\":%" PRId64 ",\"windowEnd\":%" PRId64
                              ",\"auction\":%" PRId64 ",\"bids\":%" PRId64 "}",
                              w->start, w->end, w->auctions[j], w->max);
            rill_record_t out = {.key = key,
                                 .key_len = (size_t)kl,
                                 .value = val,
                                 .value_len = (size_t)vl,
                                 .timestamp = w->end - 1};
            rill_ctx_forward(ctx, &out);
            __atomic_fetch_add(&g_stats.hot_records, 1, __ATOMIC_RELAXED);
        }
        if (w->start + 1 > hs->emitted_upto)
            hs->emitted_upto = w->start + 1;
        free(w->auctions);
    }
    if (k != hs->n) {
        hs->n = k;
        hot_save(hs);
    }
}

/* Stream-time punctuation: the windows whose end + grace stream time has passed (every bids
 * task is past them), or that every bids task's counts show are done. */
static void hot_punctuate(rill_ctx_t *ctx, int64_t now, void *arg) {
    hot_state_t *hs = arg;
    int64_t size = hs->o->hot_size_ms;
    int64_t limit = now > INT64_MAX - size ? INT64_MAX : now + size, low = hot_low(hs, now);
    hot_flush(ctx, hs, low > limit ? low : limit);
}

/* ---- the processor ---- */

static int hot_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    hot_state_t *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return -1;
    *statep = hs;
    hs->o = opaque;
    hs->emitted_upto = INT64_MIN;
    hs->max_ts = INT64_MIN;
    hs->ups = hs->o->bid_partitions > 0 ? hs->o->bid_partitions : 0;
    hs->up_ts = malloc(((size_t)hs->ups + 1) * sizeof(int64_t));
    for (int i = 0; i < hs->ups; i++)
        hs->up_ts[i] = INT64_MIN;
    hs->kv = rill_ctx_kv(ctx, "hot-top-store");
    if (!hs->up_ts || !hs->kv || hot_load(hs)) {
        rill_ctx_set_error(ctx, "hot-top: its store \"hot-top-store\" is missing, malformed, or "
                                "was written for another number of bids partitions");
        return -1;
    }
    return rill_ctx_schedule(ctx, hs->o->hot_advance_ms, RILL_PUNCTUATE_STREAM_TIME, hot_punctuate,
                             hs);
}

/* Notes a count from the bids task of auction (by its key) at time ts; true when the least
 * progress moved. */
static bool hot_progress(hot_state_t *hs, int64_t auction, int64_t ts) {
    if (ts > hs->max_ts)
        hs->max_ts = ts;
    if (!hs->ups)
        return false;
    char key[32];
    int kl = snprintf(key, sizeof(key), "%" PRId64, auction);
    int32_t up = rd_kafka_msg_partitioner_murmur2(NULL, key, (size_t)kl, hs->ups, NULL, NULL);
    if (ts <= hs->up_ts[up])
        return false;
    int64_t before = hot_low(hs, 0);
    hs->up_ts[up] = ts;
    return hot_low(hs, 0) != before;
}

/* Adds auction's count to the window starting at start; true when the window changed. */
static bool hot_add(hot_state_t *hs, int64_t start, int64_t end, int64_t auction, int64_t bids) {
    int i = 0;
    while (i < hs->n && hs->w[i].start < start)
        i++;
    if (i == hs->n || hs->w[i].start != start) {
        if (hs->n == hs->cap) {
            hs->cap = hs->cap ? hs->cap * 2 : 16;
            hs->w = realloc(hs->w, (size_t)hs->cap * sizeof(*hs->w));
        }
        memmove(&hs->w[i + 1], &hs->w[i], (size_t)(hs->n - i) * sizeof(*hs->w));
        hs->n++;
        hs->w[i] = (hot_win_t){.start = start, .end = end, .max = -1};
    }
    hot_win_t *w = &hs->w[i];
    if (bids < w->max)
        return false;
    if (bids > w->max) {
        w->max = bids;
        w->n = 0;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->auctions = realloc(w->auctions, (size_t)w->cap * sizeof(int64_t));
    }
    w->auctions[w->n++] = auction;
    return true;
}

static int hot_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    hot_state_t *hs = state;
    const unsigned char *v = rec->value;
    int64_t start = 0, end = 0, auction = 0, bids = 0;
    if (!v || rec->value_len != HOT_COUNT_BYTES || rill_int64_decode(v, 8, &start) ||
        rill_int64_decode(v + 8, 8, &end) || rill_int64_decode(v + 16, 8, &auction) ||
        rill_int64_decode(v + 24, 8, &bids)) {
        rill_ctx_set_error(ctx, "hot-top: a window count must be %d bytes, not %zu",
                           HOT_COUNT_BYTES, rec->value_len);
        return -1;
    }
    bool moved = hot_progress(hs, auction, rec->timestamp);
    bool changed = false;
    if (start < hs->emitted_upto)
        __atomic_fetch_add(&g_stats.hot_late, 1, __ATOMIC_RELAXED);
    else
        changed = hot_add(hs, start, end, auction, bids);
    if (moved || changed)
        hot_save(hs);
    if (moved)
        hot_flush(ctx, hs, hot_low(hs, 0));
    return 0;
}

static void hot_close(void *state, void *opaque) {
    (void)opaque;
    hot_state_t *hs = state;
    if (!hs)
        return;
    for (int i = 0; i < hs->n; i++)
        free(hs->w[i].auctions);
    free(hs->w);
    free(hs->up_ts);
    free(hs);
}

const rill_processor_def_t auction_hot_top_def = {
    .init = hot_init, .process = hot_process, .close = hot_close};
