/*
 * nx_windows.c — NEXMark q5 (hot items) and q7 (highest bid): a windowed aggregation per
 * auction, emitted when each window closes, then the best auction of each window
 * (nx_int.h; semantics in rill_nexmark_app.c).
 *
 * DESIGN
 * Bids are keyed by auction, so the windows per auction need no repartition: their grace is
 * judged on each bids partition's own progress. The closed windows are re-keyed by window
 * start and meet in one task per window through a repartition topic, where a reduce keeps
 * the best; its order is total (ties broken by auction, then bidder), so the last value of
 * each window is the same whatever order the closed windows arrive in. The watermark bid
 * (auction < 0) moves time in the windows and is dropped after them.
 */
#include "nx_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* q5: one auction's bid count in a window. q7: one bid. */
typedef struct nx_count_s {
    int64_t auction, count;
} nx_count_t;

typedef struct nx_best_s {
    int64_t auction, price, time, bidder;
} nx_best_t;

static const rill_source_opts_t bytes_opts; /* repartitioned values: the structs as bytes */

/* How a window's best is chosen: better(a, b) says whether b beats a. */
typedef struct nx_order_s {
    size_t size;
    int (*better)(const void *a, const void *b);
} nx_order_t;

/* The second step of a query: closed windows to (window start, value), the best per
 * window, and its JSON. */
typedef struct nx_steps_s {
    rill_mapper_cb to_window, to_json;
    nx_order_t order;
} nx_steps_t;

/* The reducer of the second step: keeps the better of the aggregate and the new value. */
static int keep_best(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                     void *opaque) {
    const nx_order_t *order = opaque;
    if (agg_len != order->size || rec->value_len != order->size)
        return -1;
    return rill_buf_append(out, order->better(agg, rec->value) ? rec->value : agg, order->size);
}

/* Keeps closed windows of real auctions (the watermark bid's key is negative). */
static int real_auction(const rill_record_t *rec, void *opaque) {
    int64_t auction;
    (void)opaque;
    return !nx_parse_i64(rec->key, rec->key_len, &auction) && auction >= 0;
}

/* The window start of rec as its new key. */
static int key_by_window(const rill_record_t *rec, rill_map_out_t *out) {
    return nx_set_key(out, "%" PRId64, rec->window_start);
}

/* A window's start, read back from the re-keyed record's key. */
static int64_t window_of(const rill_record_t *rec) {
    int64_t start = -1;
    return nx_parse_i64(rec->key, rec->key_len, &start) ? -1 : start;
}

/* Names node what of query q ("q5-what"). */
static const char *name_of(char *buf, size_t size, const char *q, const char *what) {
    snprintf(buf, size, "%s-%s", q, what);
    return buf;
}

/* closed (windows of one auction, as they close) to the best per window, written to
 * output: nodes "<q>-real", "<q>-to-window", "<q>-by-window", "<q>-json", the repartition
 * topic "<app-id>-<q>-windows-repartition" and the store "<q>-best-per-window". */
static void best_per_window(rill_stream_t *closed, const char *q, const nx_steps_t *steps,
                            const char *output) {
    char n[64];
    rill_stream_t *s =
        rill_stream_filter(closed, name_of(n, sizeof(n), q, "real"), real_auction, NULL);
    s = rill_stream_map(s, name_of(n, sizeof(n), q, "to-window"), steps->to_window, NULL);
    s = rill_stream_repartition_with(s, name_of(n, sizeof(n), q, "windows"), &bytes_opts);
    rill_grouped_t *g = rill_stream_group_by_key(s, name_of(n, sizeof(n), q, "by-window"));
    rill_table_t *best = rill_grouped_reduce(g, name_of(n, sizeof(n), q, "best-per-window"),
                                             keep_best, (void *)&steps->order);
    s = rill_stream_map_values(rill_table_to_stream(best, NULL), name_of(n, sizeof(n), q, "json"),
                               steps->to_json, NULL);
    rill_stream_to(s, "sink", output, NULL);
}

/* ---- q5 ---- */

static int q5_to_window(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_count_t c;
    (void)opaque;
    if (nx_parse_i64(rec->key, rec->key_len, &c.auction) ||
        rill_int64_decode(rec->value, rec->value_len, &c.count) ||
        rill_buf_append(out->value, &c, sizeof(c)))
        return -1;
    return key_by_window(rec, out);
}

/* q5's order: more bids, then the lower auction. */
static int hotter(const void *x, const void *y) {
    const nx_count_t *a = x, *b = y;
    return b->count > a->count || (b->count == a->count && b->auction < a->auction);
}

static int q5_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_count_t c;
    (void)opaque;
    if (rec->value_len != sizeof(c))
        return -1;
    memcpy(&c, rec->value, sizeof(c));
    return nx_set_value(out,
                        "{\"starttime\":%" PRId64 ",\"auction\":%" PRId64 ",\"count\":%" PRId64 "}",
                        window_of(rec), c.auction, c.count);
}

static const nx_steps_t q5_steps = {q5_to_window, q5_json, {sizeof(nx_count_t), hotter}};

void nx_build_q5(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_stream_t *s = rill_stream_from(topo, "bids", t->bids, src);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_HOPPING,
                               .size_ms = NX_WINDOW_MS,
                               .advance_ms = NX_HOP_MS,
                               .grace_ms = grace_ms};
    rill_table_t *counts = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, "q5-by-auction"), &spec), "q5-counts",
        RILL_EMIT_FINAL);
    best_per_window(rill_table_to_stream(counts, "q5-closed"), "q5", &q5_steps, t->output);
}

/* ---- q7 ---- */

/* Whether bid b beats bid a: higher price, then earlier, then lower bidder, then lower
 * auction. A negative auction in a marks the empty aggregate. */
static int beats(const void *x, const void *y) {
    const nx_best_t *a = x, *b = y;
    if (a->auction < 0)
        return 1;
    if (b->price != a->price)
        return b->price > a->price;
    if (b->time != a->time)
        return b->time < a->time;
    if (b->bidder != a->bidder)
        return b->bidder < a->bidder;
    return b->auction < a->auction;
}

static int q7_init(rill_buf_t *out, void *opaque) {
    nx_best_t none = {.auction = -1};
    (void)opaque;
    return rill_buf_append(out, &none, sizeof(none));
}

static int q7_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                  void *opaque) {
    nx_best_t a, b;
    (void)opaque;
    if (agg_len != sizeof(a) || !nx_int(rec, "auction", &b.auction) ||
        !nx_int(rec, "price", &b.price) || !nx_int(rec, "bidder", &b.bidder))
        return -1;
    b.time = rec->timestamp;
    memcpy(&a, agg, sizeof(a));
    return rill_buf_append(out, beats(&a, &b) ? &b : &a, sizeof(a));
}

static int q7_to_window(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    /* the aggregate: the window's best bid of this auction */
    if (rec->value_len != sizeof(nx_best_t) ||
        rill_buf_append(out->value, rec->value, rec->value_len))
        return -1;
    return key_by_window(rec, out);
}

static int q7_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_best_t b;
    (void)opaque;
    if (rec->value_len != sizeof(b))
        return -1;
    memcpy(&b, rec->value, sizeof(b));
    return nx_set_value(out,
                        "{\"starttime\":%" PRId64 ",\"auction\":%" PRId64 ",\"price\":%" PRId64
                        ",\"bidder\":%" PRId64 ",\"dateTime\":%" PRId64 "}",
                        window_of(rec), b.auction, b.price, b.bidder, b.time);
}

static const nx_steps_t q7_steps = {q7_to_window, q7_json, {sizeof(nx_best_t), beats}};

void nx_build_q7(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_stream_t *s = rill_stream_from(topo, "bids", t->bids, src);
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_TUMBLING, .size_ms = NX_WINDOW_MS, .grace_ms = grace_ms};
    rill_table_t *best = rill_windowed_aggregate(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, "q7-by-auction"), &spec), "q7-best",
        q7_init, q7_add, NULL, RILL_EMIT_FINAL);
    best_per_window(rill_table_to_stream(best, "q7-closed"), "q7", &q7_steps, t->output);
}
