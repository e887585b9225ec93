/*
 * nx_closing.c — NEXMark q4 (average closing price per category) and q6 (average closing
 * price of each seller's last 10 auctions): the winning bid of each auction when it closes,
 * then an aggregate per category or seller (nx_int.h; semantics in rill_nexmark_app.c).
 *
 * DESIGN
 * Auctions close by completion (rill_stream_complete) over bids, both keyed by auction, with
 * the winning rule of the "winning" query; an auction without a winner gives an empty value,
 * dropped. Closed auctions cross a repartition topic to their category or seller, in an
 * order no one controls, so q6 defines "last" by (expires, auction), not by arrival: the
 * final aggregate of every key is then the same however the closings interleave.
 */
#include "nx_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct nx_open_s {
    int64_t date_time, expires, reserve, category, seller;
    int64_t bids; /* bids within [date_time, expires) */
    int64_t has_best, price, bid_time, bidder;
} nx_open_t;

/* A closed auction with a winner. */
typedef struct nx_closed_s {
    int64_t auction, category, seller, price, expires;
} nx_closed_t;

typedef struct nx_sum_s {
    int64_t sum, count;
} nx_sum_t;

typedef struct nx_last_s {
    int64_t cnt;
    nx_closed_t v[NX_Q6_LAST]; /* sorted by (expires, auction), oldest first */
} nx_last_t;

static const rill_source_opts_t bytes_opts;

/* ---- closing ---- */

static int64_t expires_of(const rill_record_t *auction, void *opaque) {
    int64_t expires;
    (void)opaque;
    return nx_int(auction, "expires", &expires) ? expires : -1;
}

static int open_init(const rill_record_t *a, rill_buf_t *out, void *opaque) {
    nx_open_t o = {0};
    (void)opaque;
    if (!nx_int(a, "dateTime", &o.date_time) || !nx_int(a, "expires", &o.expires) ||
        !nx_int(a, "reserve", &o.reserve) || !nx_int(a, "category", &o.category) ||
        !nx_int(a, "seller", &o.seller))
        return -1;
    return rill_buf_append(out, &o, sizeof(o));
}

static int better_bid(const nx_open_t *o, int64_t price, int64_t time, int64_t bidder) {
    if (!o->has_best || price != o->price)
        return !o->has_best || price > o->price;
    return time != o->bid_time ? time < o->bid_time : bidder < o->bidder;
}

static int open_accumulate(const rill_record_t *a, const rill_record_t *bid, const void *state,
                           size_t state_len, rill_buf_t *out, void *opaque) {
    nx_open_t o;
    int64_t price, time, bidder;
    (void)a, (void)opaque;
    if (state_len != sizeof(o) || !nx_int(bid, "price", &price) ||
        !nx_int(bid, "dateTime", &time) || !nx_int(bid, "bidder", &bidder))
        return -1;
    memcpy(&o, state, sizeof(o));
    if (time < o.date_time || time >= o.expires)
        return 1;
    o.bids++;
    if (price >= o.reserve && better_bid(&o, price, time, bidder)) {
        o.has_best = 1;
        o.price = price;
        o.bid_time = time;
        o.bidder = bidder;
    }
    return rill_buf_append(out, &o, sizeof(o));
}

static int open_close(const rill_record_t *a, const void *state, size_t state_len, rill_buf_t *out,
                      void *opaque) {
    nx_open_t o;
    nx_closed_t c;
    (void)opaque;
    if (state_len != sizeof(o) || nx_parse_i64(a->key, a->key_len, &c.auction))
        return -1;
    memcpy(&o, state, sizeof(o));
    if (!o.has_best)
        return 0; /* no winner: an empty value, dropped */
    c.category = o.category;
    c.seller = o.seller;
    c.price = o.price;
    c.expires = o.expires;
    return rill_buf_append(out, &c, sizeof(c));
}

static int has_winner(const rill_record_t *rec, void *opaque) {
    (void)opaque;
    return rec->value && rec->value_len == sizeof(nx_closed_t);
}

/* Auctions closing over bids, each closed one written by close. */
static rill_stream_t *closing(rill_topology_t *topo, const nx_topics_t *t,
                              const rill_source_opts_t *src, int64_t grace_ms, const char *name,
                              rill_completion_complete_cb close) {
    rill_stream_t *a = rill_stream_from(topo, "auctions", t->auctions, src);
    rill_stream_t *b = rill_stream_from(topo, "bids", t->bids, src);
    rill_completion_spec_t spec = {.grace_ms = grace_ms};
    return rill_stream_complete(a, b, name, &spec, expires_of, open_init, open_accumulate, close,
                                NULL);
}

/* The closed auctions with a winner, keyed as key_fn says, in the task of their new key. */
static rill_grouped_t *closed_by(rill_topology_t *topo, const nx_topics_t *t,
                                 const rill_source_opts_t *src, int64_t grace_ms, const char *name,
                                 rill_mapper_cb key_fn) {
    rill_stream_t *c = closing(topo, t, src, grace_ms, "closing", open_close);
    c = rill_stream_filter(c, "with-winner", has_winner, NULL);
    c = rill_stream_select_key(c, "rekey", key_fn, NULL);
    return rill_stream_group_by_key(rill_stream_repartition_with(c, name, &bytes_opts), NULL);
}

static const nx_closed_t *closed_of(const rill_record_t *rec) {
    return rec->value_len == sizeof(nx_closed_t) ? rec->value : NULL;
}

/* ---- q4 ---- */

static int key_by_category(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_closed_t c;
    (void)opaque;
    memcpy(&c, rec->value, sizeof(c));
    return nx_set_key(out, "%" PRId64, c.category);
}

static int q4_init(rill_buf_t *out, void *opaque) {
    nx_sum_t zero = {0, 0};
    (void)opaque;
    return rill_buf_append(out, &zero, sizeof(zero));
}

static int q4_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                  void *opaque) {
    nx_sum_t s;
    nx_closed_t c;
    (void)opaque;
    if (agg_len != sizeof(s) || !closed_of(rec))
        return -1;
    memcpy(&s, agg, sizeof(s));
    memcpy(&c, rec->value, sizeof(c));
    s.sum += c.price;
    s.count++;
    return rill_buf_append(out, &s, sizeof(s));
}

static int q4_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_sum_t s;
    int64_t category;
    (void)opaque;
    if (rec->value_len != sizeof(s) || nx_parse_i64(rec->key, rec->key_len, &category))
        return -1;
    memcpy(&s, rec->value, sizeof(s));
    return nx_set_value(out,
                        "{\"category\":%" PRId64 ",\"auctions\":%" PRId64 ",\"avg\":%" PRId64 "}",
                        category, s.count, s.count ? s.sum / s.count : 0);
}

void nx_build_q4(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_grouped_t *g = closed_by(topo, t, src, grace_ms, "q4-by-category", key_by_category);
    rill_table_t *avg = rill_grouped_aggregate(g, "q4-averages", q4_init, q4_add, NULL);
    rill_stream_t *s = rill_table_to_stream(avg, "q4-averages-stream");
    rill_stream_to(rill_stream_map_values(s, "q4-json", q4_json, NULL), "sink", t->output, NULL);
}

/* ---- q6 ---- */

static int key_by_seller(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_closed_t c;
    (void)opaque;
    memcpy(&c, rec->value, sizeof(c));
    return nx_set_key(out, "%" PRId64, c.seller);
}

static int q6_init(rill_buf_t *out, void *opaque) {
    nx_last_t none = {0};
    (void)opaque;
    return rill_buf_append(out, &none, sizeof(none));
}

static int older(const nx_closed_t *a, const nx_closed_t *b) {
    return a->expires != b->expires ? a->expires < b->expires : a->auction < b->auction;
}

/* Puts c into l in order, dropping the oldest when l is full and c is newer. */
static void keep_last(nx_last_t *l, const nx_closed_t *c) {
    if (l->cnt == NX_Q6_LAST) {
        if (older(c, &l->v[0]))
            return;
        memmove(&l->v[0], &l->v[1], sizeof(l->v[0]) * (NX_Q6_LAST - 1));
        l->cnt--;
    }
    int64_t i = l->cnt;
    for (; i > 0 && older(c, &l->v[i - 1]); i--)
        l->v[i] = l->v[i - 1];
    l->v[i] = *c;
    l->cnt++;
}

static int q6_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                  void *opaque) {
    nx_last_t l;
    nx_closed_t c;
    (void)opaque;
    if (agg_len != sizeof(l) || !closed_of(rec))
        return -1;
    memcpy(&l, agg, sizeof(l));
    memcpy(&c, rec->value, sizeof(c));
    keep_last(&l, &c);
    return rill_buf_append(out, &l, sizeof(l));
}

static int q6_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    nx_last_t l;
    int64_t seller, sum = 0;
    (void)opaque;
    if (rec->value_len != sizeof(l) || nx_parse_i64(rec->key, rec->key_len, &seller))
        return -1;
    memcpy(&l, rec->value, sizeof(l));
    for (int64_t i = 0; i < l.cnt; i++)
        sum += l.v[i].price;
    return nx_set_value(out,
                        "{\"seller\":%" PRId64 ",\"auctions\":%" PRId64 ",\"avg\":%" PRId64 "}",
                        seller, l.cnt, l.cnt ? sum / l.cnt : 0);
}

void nx_build_q6(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_grouped_t *g = closed_by(topo, t, src, grace_ms, "q6-by-seller", key_by_seller);
    rill_table_t *avg = rill_grouped_aggregate(g, "q6-averages", q6_init, q6_add, NULL);
    rill_stream_t *s = rill_table_to_stream(avg, "q6-averages-stream");
    rill_stream_to(rill_stream_map_values(s, "q6-json", q6_json, NULL), "sink", t->output, NULL);
}

/* ---- winning ---- */

static int winning_json(const rill_record_t *a, const void *state, size_t state_len,
                        rill_buf_t *out, void *opaque) {
    nx_open_t o;
    int64_t auction;
    char text[160];
    (void)opaque;
    if (state_len != sizeof(o) || nx_parse_i64(a->key, a->key_len, &auction))
        return -1;
    memcpy(&o, state, sizeof(o));
    int n = o.has_best ? snprintf(text, sizeof(text),
                                  "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64
                                  ",\"price\":%" PRId64 ",\"bids\":%" PRId64 "}",
                                  auction, o.bidder, o.price, o.bids)
                       : snprintf(text, sizeof(text),
                                  "{\"auction\":%" PRId64
                                  ",\"bidder\":null,\"price\":null,\"bids\":%" PRId64 "}",
                                  auction, o.bids);
    return n < 0 || (size_t)n >= sizeof(text) ? -1 : rill_buf_append(out, text, (size_t)n);
}

void nx_build_winning(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                      int64_t grace_ms) {
    rill_stream_t *w = closing(topo, t, src, grace_ms, "winning", winning_json);
    rill_stream_to(w, "sink", t->output, NULL);
}
