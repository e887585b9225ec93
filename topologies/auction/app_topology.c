/*
 * app_topology.c — the topology of rill-auction (see app.c for the command line).
 *
 * Sub-topologies (see --describe):
 *  1. Edge in: auction.auctions.raw + auction.bids.raw (one source: merged in time order)
 *     → dispatch by topic → validate (FaaS stage calling the
 *     validate-auction / validate-bid functions, or, with --edge native, the C rules of
 *     rules.c) → route: valid → auction.auctions / auction.bids (key: auction id), invalid →
 *     auction.*.rejected with the original bytes as value and the reason in the header
 *     rill.reject.reason. With FaaS, the function answers {"rejected":"<reason>"} only, so a
 *     "remember" node before the stage keeps each task's in-flight originals in a FIFO (the
 *     stage keeps input order per task, RILL_FAAS_ORDER_PARTITION) and "route" takes them back
 *     by the input record's own position (partition and offset, which the stage gives the
 *     nodes after it), never by key: records may share a key, or have none.
 *  2. Core: auction.auctions (items) + auction.bids (events), JSON read as text (the json-text
 *     serde; every callback reads members from the bytes), timestamp = dateTime →
 *     rill_stream_complete "close" (state: counts, best bid, sorted distinct bidders) →
 *     auction.closed; closed → notifications fan-out (re-keyed by person id); closed sold →
 *     group by category / seller (repartitions) → analytics (category averages named by the
 *     global table of auction.categories: every process holds it all); bids → hopping
 *     windowed count
 *     (emit-final) → re-key by window start (repartition) → "hot-top" (hot_top.c) picks the
 *     max per window.
 *  3. Notifications: repartitioned by person → left join with the persons table (grace) →
 *     auction.notifications → notify (FaaS, batches) or native → auction.notifications.sent.
 */
#define _GNU_SOURCE
#include "app.h"
#include "rules.h"

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

auction_stats_t g_stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

void auction_opts_defaults(auction_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->edge = EDGE_FAAS;
    o->validate_auction_url = "http://127.0.0.1:18084/";
    o->validate_bid_url = "http://127.0.0.1:18085/";
    o->notify_url = "http://127.0.0.1:18086/";
    o->notify_file = getenv("RILL_NOTIFY_FILE");
    if (!o->notify_file)
        o->notify_file = "/tmp/rill-notifications.log";
    o->t_persons = "auction.persons";
    o->t_auctions_raw = "auction.auctions.raw";
    o->t_bids_raw = "auction.bids.raw";
    o->t_auctions = "auction.auctions";
    o->t_bids = "auction.bids";
    o->t_auctions_rejected = "auction.auctions.rejected";
    o->t_bids_rejected = "auction.bids.rejected";
    o->t_closed = "auction.closed";
    o->t_notifications = "auction.notifications";
    o->t_sent = "auction.notifications.sent";
    o->t_cat_price = "auction.analytics.category-price";
    o->t_seller_avg = "auction.analytics.seller-avg";
    o->t_hot = "auction.analytics.hot-items";
    o->t_categories = "auction.categories";
    o->partitions = 4;
    o->grace_ms = 1000;
    o->person_grace_ms = 5000;
    o->hold_ms = 60000;
    o->hot_size_ms = 10000;
    o->hot_advance_ms = 2000;
    o->hot_grace_ms = 1000;
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */

/* The integer member f of a JSON text (read from the bytes, no tree): 0, or -1 when it is
 * missing or not an integer. The core's records are JSON the edge or this file wrote. */
static int get_i64(const void *json, size_t len, const char *f, int64_t *v) {
    return rill_json_int64(json, len, f, v) ? 0 : -1;
}

/* Whether the member f of a JSON text is there and not null. */
static int has_value(const void *json, size_t len, const char *f) {
    const char *v;
    size_t n;
    return rill_json_member(json, len, f, &v, &n) && !(n == 4 && !memcmp(v, "null", 4));
}

json_object *auction_parse_json(const void *buf, size_t len) {
    if (!buf)
        return NULL;
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    json_tokener_free(tok);
    return o;
}

int auction_get_i64(json_object *o, const char *f, int64_t *v) {
    json_object *x;
    if (!o || !json_object_object_get_ex(o, f, &x) || !x)
        return -1;
    *v = json_object_get_int64(x);
    return 0;
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void count_reason(int bid, const char *reason) {
    pthread_mutex_lock(&g_stats.lock);
    if (bid)
        g_stats.rejected_bids++;
    else
        g_stats.rejected_auctions++;
    char r[96];
    snprintf(r, sizeof(r), "%s: %s", bid ? "bid" : "auction", reason);
    int i;
    for (i = 0; i < g_stats.nreasons; i++)
        if (!strcmp(g_stats.reasons[i].reason, r))
            break;
    if (i == g_stats.nreasons && i < MAX_REASONS) {
        snprintf(g_stats.reasons[i].reason, sizeof(g_stats.reasons[i].reason), "%s", r);
        g_stats.nreasons++;
    }
    if (i < MAX_REASONS)
        g_stats.reasons[i].n++;
    pthread_mutex_unlock(&g_stats.lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Edge in                                                                                  */

typedef struct edge_s {
    int bid; /* 0 auctions, 1 bids */
    const char *valid_sink, *rejected_sink;
    char first[64]; /* the node the dispatcher forwards this kind to */
} edge_t;

static edge_t edge_auction = {0, "auctions-valid-sink", "auctions-rejected-sink", ""};
static edge_t edge_bid = {1, "bids-valid-sink", "bids-rejected-sink", ""};

/* Both raw topics are read by one source, so that each task merges them in timestamp order
 * and auction.auctions and auction.bids are written in step (the core's completion would
 * otherwise see an auction topic running far ahead of the bids and call its bids late). */
static int dispatch_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const auction_opts_t *o = state;
    const char *t = rill_ctx_topic(ctx);
    const edge_t *e = t && !strcmp(t, o->t_auctions_raw) ? &edge_auction : &edge_bid;
    __atomic_fetch_add(&g_stats.edge_events, 1, __ATOMIC_RELAXED);
    return rill_ctx_forward_to(ctx, e->first, rec);
}

/* Forwards a rejected record: original bytes, the reason as a header. */
static int forward_rejected(rill_ctx_t *ctx, const edge_t *e, const rill_record_t *rec,
                            const void *orig, size_t orig_len, const char *reason) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, AUCTION_REJECT_REASON_HEADER, -1, reason, -1);
    rill_record_t out = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = orig,
                         .value_len = orig_len,
                         .timestamp = rec->timestamp,
                         .headers = (const rill_headers_t *)h};
    int rc = rill_ctx_forward_to(ctx, e->rejected_sink, &out);
    rd_kafka_headers_destroy(h);
    count_reason(e->bid, reason);
    return rc;
}

/* --edge native: validate with the C rules and route. Per task: the edge and the key and
 * value buffers, reused from record to record. */
typedef struct native_state_s {
    const edge_t *e;
    rill_buf_t key, val;
} native_state_t;

static int native_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    *statep = opaque;
    return 0;
}

static int native_edge_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    native_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->e = opaque;
    *statep = st;
    return 0;
}

static void native_edge_close(void *state, void *opaque) {
    native_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->key);
    rill_buf_free(&st->val);
    free(st);
}

static int native_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    native_state_t *st = state;
    const edge_t *e = st->e;
    rill_buf_reset(&st->key);
    rill_buf_reset(&st->val);
    const char *reason = NULL;
    int rc = auction_rules_validate(e->bid ? AUCTION_RULES_BID : AUCTION_RULES_AUCTION, rec->value,
                                    rec->value_len, &st->key, &st->val, NULL, &reason);
    if (rc == 0) {
        rill_record_t out = {.key = st->key.data,
                             .key_len = st->key.len,
                             .value = st->val.data,
                             .value_len = st->val.len,
                             .timestamp = rec->timestamp};
        return rill_ctx_forward_to(ctx, e->valid_sink, &out);
    }
    if (rc == 1)
        return forward_rejected(ctx, e, rec, rec->value, rec->value_len,
                                reason ? reason : "invalid");
    rill_ctx_set_error(ctx, "validation: out of memory");
    return -1;
}

/* FaaS: per-task FIFOs of the originals in flight (see the top of the file). */
typedef struct fifo_ent_s {
    char *key, *value;
    size_t key_len, value_len;
    int32_t partition; /* the input record's position */
    int64_t offset;
} fifo_ent_t;

typedef struct fifo_s {
    char task[64];
    int bid;
    fifo_ent_t *v;
    size_t head, tail, cap; /* ring: [head, tail) modulo cap, cap a power of two */
} fifo_t;

static pthread_mutex_t fifo_lock = PTHREAD_MUTEX_INITIALIZER;
static fifo_t *fifos[256];
static int nfifos;

static fifo_t *fifo_get(const char *task, int bid) {
    pthread_mutex_lock(&fifo_lock);
    fifo_t *f = NULL;
    for (int i = 0; i < nfifos; i++)
        if (fifos[i]->bid == bid && !strcmp(fifos[i]->task, task)) {
            f = fifos[i];
            break;
        }
    if (!f && nfifos < 256) {
        f = calloc(1, sizeof(*f));
        snprintf(f->task, sizeof(f->task), "%s", task);
        f->bid = bid;
        fifos[nfifos++] = f;
    }
    pthread_mutex_unlock(&fifo_lock);
    return f;
}

static void ent_free(fifo_ent_t *e) {
    free(e->key);
    free(e->value);
    memset(e, 0, sizeof(*e));
}

#define FIFO_MAX 200000

static void fifo_push(fifo_t *f, const rill_ctx_t *ctx, const rill_record_t *rec) {
    if (f->tail - f->head == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 1024;
        fifo_ent_t *nv = calloc(ncap, sizeof(*nv));
        for (size_t i = f->head; i < f->tail; i++)
            nv[i & (ncap - 1)] = f->v[i & (f->cap - 1)];
        free(f->v);
        f->v = nv;
        f->cap = ncap;
    }
    if (f->tail - f->head >= FIFO_MAX)
        ent_free(&f->v[f->head++ & (f->cap - 1)]);
    fifo_ent_t *e = &f->v[f->tail++ & (f->cap - 1)];
    e->key = malloc(rec->key_len + 1);
    if (rec->key_len)
        memcpy(e->key, rec->key, rec->key_len);
    e->key_len = rec->key_len;
    e->value = rec->value ? malloc(rec->value_len + 1) : NULL;
    if (rec->value_len)
        memcpy(e->value, rec->value, rec->value_len);
    e->value_len = rec->value_len;
    e->partition = rill_ctx_partition(ctx);
    e->offset = rill_ctx_offset(ctx);
}

/* The entry of the input at partition/offset, or NULL. Entries before it (inputs that gave
 * no output) are dropped; it stays first, for another output of the same input, until an
 * output of a later input comes. */
static const fifo_ent_t *fifo_find(fifo_t *f, int32_t partition, int64_t offset) {
    for (; f->head != f->tail; f->head++) {
        fifo_ent_t *e = &f->v[f->head & (f->cap - 1)];
        if (e->partition == partition && e->offset == offset)
            return e;
        if (e->partition == partition && e->offset > offset)
            return NULL; /* not remembered (cannot happen: kept for safety) */
        ent_free(e);
    }
    return NULL;
}

/* A task starts (assigned, or rewound after an aborted transaction) with nothing in flight:
 * entries left from an earlier life of the task (before it moved away and back, or before
 * the rewind) would stand before its new ones. */
static int remember_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    const edge_t *e = opaque;
    fifo_t *f = fifo_get(rill_ctx_task_id(ctx), e->bid);
    if (!f)
        return -1;
    while (f->head != f->tail)
        ent_free(&f->v[f->head++ & (f->cap - 1)]);
    *statep = opaque;
    return 0;
}

static int remember_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const edge_t *e = state;
    fifo_push(fifo_get(rill_ctx_task_id(ctx), e->bid), ctx, rec);
    return rill_ctx_forward(ctx, rec);
}

/* After the FaaS stage: {"rejected":..} → rejected sink (the original bytes, from the FIFO
 * entry of this output's own input record), else the enriched event → valid sink. */
static int route_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const edge_t *e = state;
    fifo_t *f = fifo_get(rill_ctx_task_id(ctx), e->bid);
    const char *v = rec->value;
    if (!v || rec->value_len < 12 || memcmp(v, "{\"rejected\"", 11))
        return rill_ctx_forward_to(ctx, e->valid_sink, rec);
    const fifo_ent_t *orig = fifo_find(f, rill_ctx_partition(ctx), rill_ctx_offset(ctx));
    if (!orig) {
        rill_ctx_set_error(ctx, "the original of %s[%d]@%" PRId64 " is not in flight",
                           rill_ctx_topic(ctx) ? rill_ctx_topic(ctx) : "?",
                           (int)rill_ctx_partition(ctx), rill_ctx_offset(ctx));
        return -1;
    }
    json_object *o = auction_parse_json(rec->value, rec->value_len), *r = NULL;
    const char *reason = "invalid";
    if (o && json_object_object_get_ex(o, "rejected", &r))
        reason = json_object_get_string(r);
    int ret = forward_rejected(ctx, e, rec, orig->value, orig->value_len, reason);
    json_object_put(o);
    return ret;
}

static const rill_processor_def_t native_def = {
    .init = native_edge_init, .process = native_process, .close = native_edge_close};
static const rill_processor_def_t remember_def = {.init = remember_init,
                                                  .process = remember_process};
static const rill_processor_def_t route_def = {.init = native_init, .process = route_process};

static const rill_processor_def_t dispatch_def = {.init = native_init, .process = dispatch_process};

static void edge_in(const auction_opts_t *o, rill_stream_t *src, edge_t *e) {
    const char *valid = e->bid ? o->t_bids : o->t_auctions;
    const char *rejected = e->bid ? o->t_bids_rejected : o->t_auctions_rejected;
    const char *fn = e->bid ? "validate-bid" : "validate-auction";
    rill_stream_t *routed;
    char name[64];
    if (o->edge == EDGE_NATIVE) {
        snprintf(e->first, sizeof(e->first), "%s-native", fn);
        routed = rill_stream_process(src, e->first, &native_def, e);
    } else {
        snprintf(e->first, sizeof(e->first), "%s-remember", fn);
        rill_stream_t *rem = rill_stream_process(src, e->first, &remember_def, e);
        rill_faas_opts_t fo = {.url = e->bid ? o->validate_bid_url : o->validate_auction_url,
                               .function = fn,
                               .format = RILL_FAAS_CLOUDEVENTS,
                               .order = RILL_FAAS_ORDER_PARTITION,
                               .batch_max_records = 100,
                               .linger_ms = 5,
                               .max_in_flight = 8,
                               /* small: a backlog in the bids stage would let auctions run
                                * ahead in event time and their bids come after the close */
                               .max_buffered_records = 1000};
        rill_stream_t *called = rill_stream_faas(rem, fn, &fo);
        snprintf(name, sizeof(name), "%s-route", fn);
        routed = rill_stream_process(called, name, &route_def, e);
    }
    rill_stream_to(routed, e->valid_sink, valid, NULL);
    rill_stream_to(routed, e->rejected_sink, rejected, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Core: closing auctions                                                                   */

static int64_t ts_datetime(const rill_record_t *rec, void *opaque) {
    int64_t t;
    return get_i64(rec->value, rec->value_len, "dateTime", &t) ? -1 : t;
}

typedef struct close_state_s {
    int64_t start, expires, reserve;
    int64_t bids, best_price, best_time, best_bidder;
    int64_t nbidders;
    int64_t bidders[]; /* sorted, distinct */
} close_state_t;

static int64_t close_deadline(const rill_record_t *item, void *opaque) {
    int64_t t;
    return get_i64(item->value, item->value_len, "expires", &t) ? -1 : t;
}

static int close_init(const rill_record_t *item, rill_buf_t *out, void *opaque) {
    const void *v = item->value;
    size_t vl = item->value_len;
    close_state_t s = {0};
    int rc = get_i64(v, vl, "dateTime", &s.start) || get_i64(v, vl, "expires", &s.expires) ||
             get_i64(v, vl, "reserve", &s.reserve);
    if (rc)
        return -1;
    s.best_price = -1;
    __atomic_fetch_add(&g_stats.opened, 1, __ATOMIC_RELAXED);
    return rill_buf_append(out, &s, sizeof(s));
}

static int close_accumulate(const rill_record_t *item, const rill_record_t *ev, const void *state,
                            size_t state_len, rill_buf_t *out, void *opaque) {
    const close_state_t *s = state;
    const void *v = ev->value;
    size_t vl = ev->value_len;
    int64_t bidder, price, t;
    int rc = get_i64(v, vl, "bidder", &bidder) || get_i64(v, vl, "price", &price) ||
             get_i64(v, vl, "dateTime", &t);
    if (rc)
        return 1;
    if (t < s->start || t >= s->expires || price < s->reserve)
        return 1; /* does not count */
    /* insert bidder into the sorted distinct list */
    size_t lo = 0, hi = (size_t)s->nbidders;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->bidders[mid] < bidder)
            lo = mid + 1;
        else
            hi = mid;
    }
    int present = lo < (size_t)s->nbidders && s->bidders[lo] == bidder;
    close_state_t n = *s;
    n.bids++;
    int leads =
        price > n.best_price || (price == n.best_price &&
                                 (t < n.best_time || (t == n.best_time && bidder < n.best_bidder)));
    if (leads) {
        n.best_price = price;
        n.best_time = t;
        n.best_bidder = bidder;
    }
    if (!present)
        n.nbidders++;
    if (rill_buf_append(out, &n, sizeof(n)) ||
        rill_buf_append(out, s->bidders, lo * sizeof(int64_t)))
        return -1;
    if (!present && rill_buf_append(out, &bidder, sizeof(bidder)))
        return -1;
    if (rill_buf_append(out, s->bidders + lo, ((size_t)s->nbidders - lo) * sizeof(int64_t)))
        return -1;
    return leads ? RILL_COMPLETION_LEADS : 0; /* the best bid leads: lineage to the winner */
}

/* The internal closed record: the auction.closed value plus "bidderIds" (for the fan-out). */
static int close_complete(const rill_record_t *item, const void *state, size_t state_len,
                          rill_buf_t *out, void *opaque) {
    const close_state_t *s = state;
    int64_t id = 0, seller = 0, category = 0;
    get_i64(item->value, item->value_len, "id", &id);
    get_i64(item->value, item->value_len, "seller", &seller);
    get_i64(item->value, item->value_len, "category", &category);
    char buf[256];
    int n;
    if (s->bids > 0)
        n = snprintf(buf, sizeof(buf),
                     "{\"auction\":%" PRId64 ",\"seller\":%" PRId64 ",\"category\":%" PRId64
                     ",\"winner\":%" PRId64 ",\"price\":%" PRId64 ",\"bids\":%" PRId64
                     ",\"bidders\":%" PRId64 ",\"closedAt\":%" PRId64 ",\"bidderIds\":[",
                     id, seller, category, s->best_bidder, s->best_price, s->bids, s->nbidders,
                     s->expires);
    else
        n = snprintf(
            buf, sizeof(buf),
            "{\"auction\":%" PRId64 ",\"seller\":%" PRId64 ",\"category\":%" PRId64
            ",\"winner\":null,\"price\":null,\"bids\":0,\"bidders\":0,\"closedAt\":%" PRId64
            ",\"bidderIds\":[",
            id, seller, category, s->expires);
    if (rill_buf_append(out, buf, (size_t)n))
        return -1;
    for (int64_t i = 0; i < s->nbidders; i++) {
        n = snprintf(buf, sizeof(buf), "%s%" PRId64, i ? "," : "", s->bidders[i]);
        if (rill_buf_append(out, buf, (size_t)n))
            return -1;
    }
    return rill_buf_append(out, "]}", 2);
}

/* auction.closed: the internal record without bidderIds; counts for the summary. */

static int closed_public(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    const char *v = rec->value;
    const char *p = v ? memmem(v, rec->value_len, ",\"bidderIds\":", 13) : NULL;
    if (!p) {
        out->value_null = !v;
        return v ? rill_buf_append(out->value, v, rec->value_len) : 0;
    }
    if (rill_buf_append(out->value, v, (size_t)(p - v)) || rill_buf_append(out->value, "}", 1))
        return -1;
    return 0;
}

static void closed_peek(const rill_record_t *rec, void *opaque) {
    const void *v = rec->value;
    size_t vl = rec->value_len;
    int64_t cat = -1, price = 0, closed_at = 0;
    get_i64(v, vl, "category", &cat);
    get_i64(v, vl, "closedAt", &closed_at);
    int sold = has_value(v, vl, "winner");
    if (sold)
        get_i64(v, vl, "price", &price);
    /* How long after the auction could close (wall clock) it did: meaningful when event
     * time follows the wall clock (live input); a replay of old events is left out. */
    int64_t delay = now_ms() - (closed_at + g_stats.grace_ms);
    pthread_mutex_lock(&g_stats.lock);
    if (delay >= 0 && delay < (INT64_C(1) << (DELAY_BUCKETS - 1))) {
        int b = 0;
        while ((INT64_C(1) << b) <= delay && b < DELAY_BUCKETS - 1)
            b++;
        g_stats.delay_hist[b]++;
    }
    g_stats.closed++;
    if (sold) {
        g_stats.sold++;
        int i;
        for (i = 0; i < g_stats.ncats; i++)
            if (g_stats.cats[i].category == cat)
                break;
        if (i == g_stats.ncats && i < NCAT)
            g_stats.cats[g_stats.ncats++].category = cat;
        if (i < NCAT) {
            g_stats.cats[i].sum += price;
            g_stats.cats[i].count++;
        }
    } else {
        g_stats.unsold++;
    }
    pthread_mutex_unlock(&g_stats.lock);
}

static int is_sold(const rill_record_t *rec, void *opaque) {
    const char *v = rec->value;
    return v && !memmem(v, rec->value_len, "\"winner\":null", 13);
}

/* ---------------------------------------------------------------------------------------- */
/* Notifications                                                                            */

static int notify_one(rill_ctx_t *ctx, const rill_record_t *rec, int64_t person, int64_t auction,
                      const char *kind, int64_t price, int has_price) {
    char key[32], val[256];
    int kl = snprintf(key, sizeof(key), "%" PRId64, person);
    int vl = has_price ? snprintf(val, sizeof(val),
                                  "{\"person\":%" PRId64 ",\"auction\":%" PRId64
                                  ",\"kind\":\"%s\",\"price\":%" PRId64 "}",
                                  person, auction, kind, price)
                       : snprintf(val, sizeof(val),
                                  "{\"person\":%" PRId64 ",\"auction\":%" PRId64
                                  ",\"kind\":\"%s\",\"price\":null}",
                                  person, auction, kind);
    rill_record_t out = {.key = key,
                         .key_len = (size_t)kl,
                         .value = val,
                         .value_len = (size_t)vl,
                         .timestamp = rec->timestamp};
    return rill_ctx_forward(ctx, &out);
}

static int fan_out(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    const char *v = rec->value, *ids;
    size_t vl = rec->value_len, ids_len;
    if (!v || !vl || v[0] != '{')
        return -1;
    int64_t auction = 0, seller = 0, winner = -1, price = 0;
    get_i64(v, vl, "auction", &auction);
    get_i64(v, vl, "seller", &seller);
    int sold = has_value(v, vl, "winner");
    if (sold) {
        get_i64(v, vl, "winner", &winner);
        get_i64(v, vl, "price", &price);
    }
    int rc = 0;
    /* bidderIds: close_complete's array of integers, "[b1,b2,...]" */
    if (rill_json_member(v, vl, "bidderIds", &ids, &ids_len) && ids_len >= 2 && ids[0] == '[') {
        const char *p = ids + 1, *end = ids + ids_len - 1;
        while (p < end && !rc) {
            char *after;
            int64_t b = strtoll(p, &after, 10);
            if (after == p)
                break;
            rc = notify_one(ctx, rec, b, auction, b == winner ? "won" : "lost", price, sold);
            p = after < end && *after == ',' ? after + 1 : end;
        }
    }
    if (!rc)
        rc = notify_one(ctx, rec, seller, auction, sold ? "sold" : "unsold", price, sold);
    return rc;
}

/* The text json-c writes (PLAIN, no slash escapes) for the top-level member name of the JSON
 * text json[0..len), or "null" when it is absent or the text is not JSON: 1 and *valuep,
 * *value_lenp when that is the member's own token (a string without escapes, or null), 0 when
 * only json-c can tell (escapes, duplicates, other types, text that is not strict JSON). */
static int canonical_member(const char *json, size_t len, const char *name, const char **valuep,
                            size_t *value_lenp) {
    char quoted[32];
    int ql = snprintf(quoted, sizeof(quoted), "\"%s\"", name);
    const char *first = memmem(json, len, quoted, (size_t)ql);
    if (first && memmem(first + ql, len - (size_t)(first + ql - json), quoted, (size_t)ql))
        return 0; /* the name twice (json-c keeps the last one) */
    if (!rill_json_member(json, len, name, valuep, value_lenp)) {
        *valuep = "null";
        *value_lenp = 4;
        return 1;
    }
    const char *v = *valuep;
    size_t n = *value_lenp;
    return (n >= 2 && v[0] == '"') || (n == 4 && !memcmp(v, "null", 4));
}

/* The text json-c writes (PLAIN, no slash escapes) for the member f of o, or "null". */
static const char *json_c_member(json_object *o, const char *f, size_t *len) {
    json_object *x = NULL;
    if (o && json_object_object_get_ex(o, f, &x) && x)
        return json_object_to_json_string_length(
            x, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    *len = 4;
    return "null";
}

/* The notification (notify_one's text: {"person":..,"price":..}) with the person's name and
 * emailAddress added, as json-c writes that object. The person's value is a user's record:
 * when it is strict JSON without a backslash, its members are copied; otherwise json-c reads
 * it, as it reads any text (a member it cannot read is null). */
static int person_joiner(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                         void *opaque) {
    const char *l = left->value;
    if (!l || left->value_len < 2 || l[0] != '{' || l[left->value_len - 1] != '}')
        return -1;
    const char *r = right ? right->value : NULL;
    size_t rl = r ? right->value_len : 0;
    const char *name = "null", *mail = "null";
    size_t name_len = 4, mail_len = 4;
    json_object *p = NULL;
    if (r) {
        const rill_serde_t *strict = rill_serde_json_text();
        void *obj = NULL;
        char err[128];
        int fast = !memchr(r, '\\', rl) &&
                   !strict->deserialize(strict, r, rl, &obj, err, sizeof(err)) &&
                   canonical_member(r, rl, "name", &name, &name_len) &&
                   canonical_member(r, rl, "emailAddress", &mail, &mail_len);
        if (!fast) {
            p = auction_parse_json(r, rl);
            name = json_c_member(p, "name", &name_len);
            mail = json_c_member(p, "emailAddress", &mail_len);
        }
    }
    int rc = rill_buf_append(out, l, left->value_len - 1) ||
             rill_buf_append(out, ",\"name\":", 8) || rill_buf_append(out, name, name_len) ||
             rill_buf_append(out, ",\"emailAddress\":", 16) ||
             rill_buf_append(out, mail, mail_len) || rill_buf_append(out, "}", 1);
    json_object_put(p);
    return rc ? -1 : 0;
}

static void notif_peek(const rill_record_t *rec, void *opaque) {
    __atomic_fetch_add(opaque ? &g_stats.sent : &g_stats.notifications, 1, __ATOMIC_RELAXED);
}

/* --edge native notify: appends the notify function's line to the file, forwards its receipt. */
static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *notify_fp;

/* Appends ,"name": (or {"name": when first) and the member name of the notification n[0..nl)
 * as its text: the notification is person_joiner's text, written as json-c writes it, so a
 * member's token is the text json-c would write for it again; a missing member is null. */
static int copy_member(rill_buf_t *out, const char *n, size_t nl, const char *name, int first) {
    const char *v;
    size_t vl;
    if (!rill_json_member(n, nl, name, &v, &vl)) {
        v = "null";
        vl = 4;
    }
    return rill_buf_append(out, first ? "{\"" : ",\"", 2) ||
           rill_buf_append(out, name, strlen(name)) || rill_buf_append(out, "\":", 2) ||
           rill_buf_append(out, v, vl);
}

static int native_notify(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const auction_opts_t *o = state;
    const char *n = rec->value;
    size_t nl = rec->value_len;
    if (!n || !nl || n[0] != '{') {
        rill_ctx_set_error(ctx, "bad notification: not JSON");
        return -1;
    }
    /* the topic's name needs no escape in a JSON string (Kafka allows [a-zA-Z0-9._-]) */
    char id[200];
    int idl = snprintf(id, sizeof(id), "\"%s-%d-%" PRId64 "\"",
                       rill_ctx_topic(ctx) ? rill_ctx_topic(ctx) : "", (int)rill_ctx_partition(ctx),
                       rill_ctx_offset(ctx));
    char head[64];
    int hl = snprintf(head, sizeof(head), "{\"sentAt\":%" PRId64 ",\"id\":", now_ms());
    static const char *const fields[] = {"person", "auction", "kind",
                                         "price",  "name",    "emailAddress"};
    rill_buf_t line = {0}, receipt = {0};
    int bad = rill_buf_append(&line, head, (size_t)hl) || rill_buf_append(&line, id, (size_t)idl);
    for (int i = 0; i < 6 && !bad; i++)
        bad = copy_member(&line, n, nl, fields[i], 0);
    bad = bad || rill_buf_append(&line, "}\n", 2);
    for (int i = 0; i < 3 && !bad; i++)
        bad = copy_member(&receipt, n, nl, fields[i], i == 0);
    /* the receipt's sentAt and id: the line's, after its '{' */
    bad = bad || rill_buf_append(&receipt, ",", 1) ||
          rill_buf_append(&receipt, head + 1, (size_t)hl - 1) ||
          rill_buf_append(&receipt, id, (size_t)idl) || rill_buf_append(&receipt, "}", 1);
    int rc;
    if (bad) {
        rill_ctx_set_error(ctx, "notify: out of memory");
        rc = -1;
    } else {
        pthread_mutex_lock(&notify_lock);
        if (!notify_fp)
            notify_fp = fopen(o->notify_file, "a");
        int ok = notify_fp && fwrite(line.data, 1, line.len, notify_fp) == line.len;
        pthread_mutex_unlock(&notify_lock);
        if (!ok) {
            rill_ctx_set_error(ctx, "notify: cannot append to %s", o->notify_file);
            rc = -1;
        } else {
            rill_record_t out = {.key = rec->key,
                                 .key_len = rec->key_len,
                                 .value = receipt.data,
                                 .value_len = receipt.len,
                                 .timestamp = rec->timestamp,
                                 .headers = rec->headers};
            rc = rill_ctx_forward(ctx, &out);
        }
    }
    rill_buf_free(&line);
    rill_buf_free(&receipt);
    return rc;
}

static void notify_close(void *state, void *opaque) {
    pthread_mutex_lock(&notify_lock);
    if (notify_fp)
        fflush(notify_fp);
    pthread_mutex_unlock(&notify_lock);
}

static const rill_processor_def_t notify_def = {
    .init = native_init, .process = native_notify, .close = notify_close};

/* ---------------------------------------------------------------------------------------- */
/* Analytics                                                                                */

static int key_category(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    int64_t v = 0;
    char key[24];
    if (get_i64(rec->value, rec->value_len, opaque ? "seller" : "category", &v))
        return -1;
    return rill_buf_append(out->key, key, (size_t)snprintf(key, sizeof(key), "%" PRId64, v));
}

typedef struct sumcnt_s {
    int64_t sum, count;
} sumcnt_t;

static int zero_init(rill_buf_t *out, void *opaque) {
    if (opaque) { /* seller: count of entries (int64) */
        int64_t z = 0;
        return rill_buf_append(out, &z, sizeof(z));
    }
    sumcnt_t z = {0, 0};
    return rill_buf_append(out, &z, sizeof(z));
}

static int cat_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                   void *opaque) {
    sumcnt_t s;
    memcpy(&s, agg, sizeof(s));
    int64_t p = 0;
    get_i64(rec->value, rec->value_len, "price", &p);
    s.sum += p;
    s.count++;
    return rill_buf_append(out, &s, sizeof(s));
}

static int cat_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    sumcnt_t s;
    if (rec->value_len != sizeof(s))
        return -1;
    memcpy(&s, rec->value, sizeof(s));
    char buf[200];
    int n =
        snprintf(buf, sizeof(buf), "{\"category\":%.*s,\"avgPrice\":%.2f,\"auctions\":%" PRId64 "}",
                 (int)rec->key_len, (const char *)rec->key,
                 s.count ? (double)s.sum / (double)s.count : 0.0, s.count);
    return rill_buf_append(out->value, buf, (size_t)n);
}

/* Keeps the name the categories global table gave each category, for the summary. */
static void cat_name_peek(const rill_record_t *rec, void *opaque) {
    (void)opaque;
    json_object *o = auction_parse_json(rec->value, rec->value_len), *n = NULL;
    int64_t cat = -1;
    auction_get_i64(o, "category", &cat);
    const char *name =
        o && json_object_object_get_ex(o, "name", &n) && json_object_is_type(n, json_type_string)
            ? json_object_get_string(n)
            : "";
    pthread_mutex_lock(&g_stats.lock);
    for (int i = 0; i < g_stats.ncats; i++)
        if (g_stats.cats[i].category == cat)
            snprintf(g_stats.cats[i].name, sizeof(g_stats.cats[i].name), "%s", name);
    pthread_mutex_unlock(&g_stats.lock);
    json_object_put(o);
}

/* seller: [n: int64][n x {closedAt, auction, price}] sorted by (closedAt, auction), n <= 10 */
typedef struct sale_s {
    int64_t closed_at, auction, price;
} sale_t;
#define SELLER_LAST 10

static int seller_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                      void *opaque) {
    int64_t n;
    sale_t v[SELLER_LAST + 1];
    memcpy(&n, agg, sizeof(n));
    if (n < 0 || n > SELLER_LAST || agg_len != sizeof(n) + (size_t)n * sizeof(sale_t))
        return -1;
    memcpy(v, (const char *)agg + sizeof(n), (size_t)n * sizeof(sale_t));
    sale_t s = {0, 0, 0};
    if (get_i64(rec->value, rec->value_len, "closedAt", &s.closed_at) ||
        get_i64(rec->value, rec->value_len, "auction", &s.auction) ||
        get_i64(rec->value, rec->value_len, "price", &s.price))
        return -1;
    int64_t i = n;
    while (i > 0 && (v[i - 1].closed_at > s.closed_at ||
                     (v[i - 1].closed_at == s.closed_at && v[i - 1].auction > s.auction))) {
        v[i] = v[i - 1];
        i--;
    }
    v[i] = s;
    n++;
    sale_t *from = v;
    if (n > SELLER_LAST) {
        from++;
        n--;
    }
    if (rill_buf_append(out, &n, sizeof(n)))
        return -1;
    return rill_buf_append(out, from, (size_t)n * sizeof(sale_t));
}

static int seller_json(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    int64_t n;
    if (rec->value_len < sizeof(n))
        return -1;
    memcpy(&n, rec->value, sizeof(n));
    if (n < 0 || n > SELLER_LAST || rec->value_len != sizeof(n) + (size_t)n * sizeof(sale_t))
        return -1;
    sale_t v[SELLER_LAST];
    memcpy(v, (const char *)rec->value + sizeof(n), (size_t)n * sizeof(sale_t));
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)v[i].price;
    char buf[200];
    int len =
        snprintf(buf, sizeof(buf), "{\"seller\":%.*s,\"avgPrice\":%.2f,\"auctions\":%" PRId64 "}",
                 (int)rec->key_len, (const char *)rec->key, n ? sum / (double)n : 0.0, n);
    return rill_buf_append(out->value, buf, (size_t)len);
}

/* Hot items: the windowed count's final results → key = window start. */
static int not_flush(const rill_record_t *rec, void *opaque) {
    return rec->key && rec->key_len && ((const char *)rec->key)[0] != '~';
}

/* A window count, re-keyed by window start for hot-top, as HOT_COUNT_BYTES (app.h): window
 * start, window end, auction id, bids, each 8 bytes big-endian. */
static int hot_rekey(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    unsigned char v[HOT_COUNT_BYTES];
    char id[24], key[24];
    int64_t cnt, auction;
    char *end;
    if (rill_int64_decode(rec->value, rec->value_len, &cnt) || !rec->key_len ||
        rec->key_len >= sizeof(id))
        return -1;
    memcpy(id, rec->key, rec->key_len);
    id[rec->key_len] = '\0';
    auction = strtoll(id, &end, 10);
    if (*end)
        return -1;
    rill_int64_encode(rec->window_start, v);
    rill_int64_encode(rec->window_end, v + 8);
    rill_int64_encode(auction, v + 16);
    rill_int64_encode(cnt, v + 24);
    /* The new key is a plain key: the record is no longer windowed. */
    int key_len = snprintf(key, sizeof(key), "%" PRId64, rec->window_start);
    return rill_buf_append(out->key, key, (size_t)key_len) ||
           rill_buf_append(out->value, v, sizeof(v));
}

/* ---------------------------------------------------------------------------------------- */

rill_topology_t *auction_topology(const auction_opts_t *o) {
    rill_topology_t *topo = rill_topology_new();

    /* 1. edge in */
    char raw_topics[512];
    snprintf(raw_topics, sizeof(raw_topics), "%s,%s", o->t_auctions_raw, o->t_bids_raw);
    rill_stream_t *raw = rill_stream_from_topics(topo, "raw", raw_topics, NULL);
    rill_stream_t *dispatched = rill_stream_process(raw, "edge-dispatch", &dispatch_def, (void *)o);
    edge_in(o, dispatched, &edge_auction);
    edge_in(o, dispatched, &edge_bid);

    /* 2. core */
    rill_source_opts_t json_src = {.key_serde = rill_serde_string(),
                                   .value_serde = rill_serde_json_text(),
                                   .timestamp_extractor = ts_datetime};
    rill_stream_t *auctions = rill_stream_from(topo, "auctions", o->t_auctions, &json_src);
    rill_stream_t *bids = rill_stream_from(topo, "bids", o->t_bids, &json_src);
    rill_completion_spec_t spec = {.grace_ms = o->grace_ms, .hold_ms = o->hold_ms};
    rill_stream_t *closed_int =
        rill_stream_complete(auctions, bids, "close", &spec, close_deadline, close_init,
                             close_accumulate, close_complete, NULL);
    rill_stream_t *closed =
        rill_stream_map_values(closed_int, "closed-public", closed_public, NULL);
    rill_stream_t *closed_seen = rill_stream_peek(closed, "closed-count", closed_peek, NULL);
    rill_stream_to(closed_seen, "closed-sink", o->t_closed, NULL);

    /* analytics: category-price, seller-avg */
    rill_stream_t *sold = rill_stream_filter(closed, "sold", is_sold, NULL);
    rill_table_t *cat =
        rill_grouped_aggregate(rill_stream_group_by(sold, "by-category", key_category, NULL),
                               "category-price-store", zero_init, cat_add, NULL);
    rill_source_opts_t names_src = {.value_serde = rill_serde_json()};
    rill_global_table_t *names =
        rill_global_table(topo, o->t_categories, &names_src, "category-names-store");
    rill_stream_t *priced = rill_stream_map_values(
        rill_table_to_stream(cat, "category-price-updates"), "category-price-json", cat_json, NULL);
    rill_stream_t *named =
        rill_stream_global_join(priced, names, "category-name", RILL_JOIN_LEFT,
                                auction_category_key, auction_category_name_joiner, NULL);
    rill_stream_to(rill_stream_peek(named, "category-name-seen", cat_name_peek, NULL),
                   "category-price-sink", o->t_cat_price, NULL);
    static int seller_flag = 1;
    rill_table_t *sel =
        rill_grouped_aggregate(rill_stream_group_by(sold, "by-seller", key_category, &seller_flag),
                               "seller-avg-store", zero_init, seller_add, &seller_flag);
    rill_stream_to(rill_stream_map_values(rill_table_to_stream(sel, "seller-avg-updates"),
                                          "seller-avg-json", seller_json, NULL),
                   "seller-avg-sink", o->t_seller_avg, NULL);

    /* analytics: hot items */
    rill_window_spec_t ws = {.kind = RILL_WINDOW_HOPPING,
                             .size_ms = o->hot_size_ms,
                             .advance_ms = o->hot_advance_ms,
                             .grace_ms = o->hot_grace_ms};
    rill_table_t *counts = rill_windowed_count(
        rill_grouped_windowed_by(
            rill_stream_group_by_key(rill_stream_filter(bids, "hot-bids", not_flush, NULL),
                                     "hot-group"),
            &ws),
        "hot-counts-store", RILL_EMIT_FINAL);
    rill_stream_t *by_win =
        rill_stream_repartition_with(rill_stream_map(rill_table_to_stream(counts, "hot-counts"),
                                                     "hot-by-window-key", hot_rekey, NULL),
                                     "hot-by-window", NULL); /* binary counts: read back as bytes */
    rill_stream_t *top = rill_stream_process(by_win, "hot-top", &auction_hot_top_def, (void *)o);
    rill_stream_use_kv_store(top, "hot-top-store");
    rill_stream_to(top, "hot-sink", o->t_hot, NULL);

    /* 3. notifications */
    rill_stream_t *notes = rill_stream_repartition(
        rill_stream_flat_map(closed_int, "notify-fan-out", fan_out, NULL), "notify-by-person");
    /* Persons come from the users' own producers, whatever their partitioner: read them
     * through a repartition topic so each person meets its notifications (murmur2). */
    rill_source_opts_t person_src = {.key_serde = rill_serde_string(), .repartition = 1};
    rill_table_t *persons =
        rill_table_from(topo, "persons", o->t_persons, &person_src, "persons-store");
    rill_stream_t *joined = rill_stream_table_join(notes, persons, "notify-person", RILL_JOIN_LEFT,
                                                   o->person_grace_ms, person_joiner, NULL);
    rill_stream_t *nseen = rill_stream_peek(joined, "notifications-count", notif_peek, NULL);
    rill_stream_to(nseen, "notifications-sink", o->t_notifications, NULL);
    rill_stream_t *sent;
    if (o->edge == EDGE_NATIVE) {
        sent = rill_stream_process(nseen, "notify-native", &notify_def, (void *)o);
    } else {
        rill_faas_opts_t fo = {.url = o->notify_url,
                               .function = "notify",
                               .format = RILL_FAAS_CLOUDEVENTS,
                               .order = RILL_FAAS_ORDER_PARTITION,
                               .batch_max_records = 100,
                               .linger_ms = 20,
                               .max_in_flight = 4};
        sent = rill_stream_faas(nseen, "notify", &fo);
    }
    static int sent_flag = 1;
    rill_stream_to(rill_stream_peek(sent, "sent-count", notif_peek, &sent_flag), "sent-sink",
                   o->t_sent, NULL);
    return topo;
}
