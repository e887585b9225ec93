/*
 * rt_auction.c — see rt_auction.h.
 */
#define _GNU_SOURCE
#include "rt_auction.h"
#include "rt_nexmark.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 96

static const char *const topic_flag[RT_AU_TOPIC_CNT] = {
    "--persons-topic",           "--auctions-raw-topic",  "--bids-raw-topic",
    "--categories-topic",        "--auctions-topic",      "--bids-topic",
    "--auctions-rejected-topic", "--bids-rejected-topic", "--closed-topic",
    "--notifications-topic",     "--sent-topic",          "--category-price-topic",
    "--seller-avg-topic",        "--hot-items-topic",
};

static const char *const topic_suffix[RT_AU_TOPIC_CNT] = {
    "persons",
    "auctions.raw",
    "bids.raw",
    "categories",
    "auctions",
    "bids",
    "auctions.rejected",
    "bids.rejected",
    "closed",
    "notifications",
    "notifications.sent",
    "analytics.category-price",
    "analytics.seller-avg",
    "analytics.hot-items",
};

/* The names the app writes to its empty categories topic, NEXMark's categories 10..14 in
 * order (written out here, not taken from the app). */
static const char *const category_name[NEXMARK_NUM_CATEGORIES] = {
    "Books", "Electronics", "Home & Garden", "Collectibles", "Fashion"};

static const char *const notif_fields[] = {"person", "auction",      "kind", "price",
                                           "name",   "emailAddress", NULL};
static const char *const sent_fields[] = {"person", "auction", "kind", NULL};

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                     */

void rt_auction_setup(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                      double invalid_fraction, int partitions, const rt_auction_params_t *p) {
    rt_auction_setup_as(a, prefix, events, ooo_ms, invalid_fraction, partitions, p,
                        RT_PART_MURMUR2);
}

/* The input producer: murmur2 (Rill's default) or librdkafka's consistent_random. */
static rill_producer_t *input_producer(const char *bootstrap, rt_partitioning_t how) {
    char errstr[512];
    rill_conf_t *conf = NULL;
    if (how == RT_PART_CONSISTENT_RANDOM) {
        conf = rill_conf_new();
        if (rill_conf_set(conf, "partitioner", "consistent_random", errstr, sizeof(errstr)))
            cr_assert_fail("partitioner: %s", errstr);
    }
    rill_producer_t *prod = rill_producer_new(bootstrap, conf, errstr, sizeof(errstr));
    rill_conf_destroy(conf);
    if (!prod)
        cr_assert_fail("producer: %s", errstr);
    return prod;
}

/* a's topics, generator and event arrays for events 0..events-1; creates the input topics. */
static void setup_input(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                        double invalid_fraction, int partitions, const rt_auction_params_t *p) {
    const char *bootstrap = rt_bootstrap();
    memset(a, 0, sizeof(*a));
    a->events = events;
    a->partitions = partitions;
    a->params = *p;
    a->name = rt_unique_name(prefix);
    for (int t = 0; t < RT_AU_TOPIC_CNT; t++)
        if (asprintf(&a->topic[t], "%s.%s", a->name, topic_suffix[t]) < 0)
            abort();
    nexmark_config_init(&a->cfg);
    a->cfg.seed = 1;
    a->cfg.rate = 10000;
    a->cfg.ooo_ms = ooo_ms;
    a->cfg.invalid_fraction = invalid_fraction;
    char errstr[512];
    if (nexmark_config_check(&a->cfg, errstr, sizeof(errstr)))
        cr_assert_fail("generator config: %s", errstr);
    const char *const raw_configs[] = {"max.message.bytes", p->raw_max_message_bytes, NULL};
    for (int t = RT_AU_PERSONS; t <= RT_AU_BIDS_RAW; t++)
        rt_create_topic_config(bootstrap, a->topic[t], partitions,
                               p->raw_max_message_bytes && t != RT_AU_PERSONS ? raw_configs : NULL);
    a->ev = calloc(events, sizeof(*a->ev));
    a->json = calloc(events, sizeof(*a->json));
    cr_assert(a->ev && a->json);
}

/* Makes event n into a->ev[n] and a->json[n] (json: its text, key: its key), counts it;
 * returns the key's length. */
static size_t make_event(rt_auction_t *a, uint64_t n, rill_buf_t *json, char *key) {
    nexmark_event_t *ev = &a->ev[n];
    nexmark_event_at(&a->cfg, n, ev);
    rill_buf_reset(json);
    if (nexmark_event_json(ev, json))
        abort();
    a->json[n] = strndup(json->data, json->len);
    a->persons += ev->kind == NEXMARK_PERSON;
    a->auctions += ev->kind == NEXMARK_AUCTION;
    a->bids += ev->kind == NEXMARK_BID;
    a->invalid_auctions += ev->kind == NEXMARK_AUCTION && ev->invalid != NEXMARK_VALID;
    a->invalid_bids += ev->kind == NEXMARK_BID && ev->invalid != NEXMARK_VALID;
    if (ev->date_time > a->max_time)
        a->max_time = ev->date_time;
    return nexmark_event_key(ev, key);
}

/* The raw topic of an event's kind. */
static const char *event_topic(const rt_auction_t *a, const nexmark_event_t *ev) {
    return a->topic[ev->kind == NEXMARK_PERSON    ? RT_AU_PERSONS
                    : ev->kind == NEXMARK_AUCTION ? RT_AU_AUCTIONS_RAW
                                                  : RT_AU_BIDS_RAW];
}

void rt_auction_setup_as(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                         double invalid_fraction, int partitions, const rt_auction_params_t *p,
                         rt_partitioning_t how) {
    setup_input(a, prefix, events, ooo_ms, invalid_fraction, partitions, p);
    rill_producer_t *prod = input_producer(rt_bootstrap(), how);
    uint64_t rnd = 0x2545f4914f6cdd1dULL;
    rill_buf_t json = {0};
    char key[NEXMARK_KEY_MAX], errstr[512];
    for (uint64_t n = 0; n < events; n++) {
        size_t kl = make_event(a, n, &json, key);
        int32_t part = -1;
        if (how == RT_PART_RANDOM) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            part = (int32_t)(rnd % (uint64_t)partitions);
        }
        rill_err_t err = rill_producer_send(prod, event_topic(a, &a->ev[n]), part, key, kl,
                                            json.data, json.len, a->ev[n].date_time);
        if (err)
            cr_assert_fail("producing event %" PRIu64 ": %s", n, rill_err2str(err));
    }
    rill_buf_free(&json);
    rill_err_t err = rill_producer_flush(prod, 120000, errstr, sizeof(errstr));
    rill_producer_destroy(prod);
    if (err)
        cr_assert_fail("flushing the input: %s", errstr);
}

/* ---- input with traceparents (rt_auction_setup_traced) ---- */

/* Where each event landed: its number is the message's opaque. */
static void traced_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    rt_auction_t *a = opaque;
    uint64_t n = (uint64_t)(uintptr_t)m->_private;
    if (m->err || n >= a->events)
        return;
    a->part[n] = m->partition;
    a->offset[n] = m->offset;
}

static rd_kafka_t *traced_producer(rt_auction_t *a) {
    return rt_murmur2_producer(20, traced_delivered, a);
}

/* The headers of event n (NULL: none), and its known trace id in a->trace[n]. */
static rd_kafka_headers_t *traced_headers(rt_auction_t *a, uint64_t n) {
    a->trace[n][0] = '\0';
    if (n % 3 == 0)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (n % 15 == 5) {
        rd_kafka_header_add(h, "traceparent", -1, "00-not-a-trace", -1);
        return h;
    }
    char tp[64];
    uint64_t lo = 0x9e3779b97f4a7c15ULL ^ n;
    uint32_t hi = (uint32_t)(n & 0xffffffffu);
    snprintf(a->trace[n], sizeof(a->trace[n]), "7e57%04x%08" PRIx32 "%016" PRIx64,
             (unsigned)((n >> 32) & 0xffffu), hi, lo);
    snprintf(tp, sizeof(tp), "00-%.32s-%016" PRIx64 "-01", a->trace[n], n + 1);
    rd_kafka_header_add(h, "traceparent", -1, tp, -1);
    return h;
}

void rt_auction_setup_traced(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                             double invalid_fraction, int partitions,
                             const rt_auction_params_t *p) {
    setup_input(a, prefix, events, ooo_ms, invalid_fraction, partitions, p);
    a->part = calloc(events, sizeof(*a->part));
    a->offset = calloc(events, sizeof(*a->offset));
    a->trace = calloc(events, sizeof(*a->trace));
    cr_assert(a->part && a->offset && a->trace);
    for (uint64_t n = 0; n < events; n++)
        a->offset[n] = -1;
    rd_kafka_t *rk = traced_producer(a);
    rill_buf_t json = {0};
    char key[NEXMARK_KEY_MAX];
    for (uint64_t n = 0; n < events; n++) {
        size_t kl = make_event(a, n, &json, key);
        rd_kafka_headers_t *h = traced_headers(a, n);
        rd_kafka_resp_err_t err;
        for (int tries = 0; tries < 1000; tries++) {
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(event_topic(a, &a->ev[n])), RD_KAFKA_V_KEY(key, kl),
                RD_KAFKA_V_VALUE(json.data, json.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(a->ev[n].date_time), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)n),
                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        if (err)
            cr_assert_fail("producing event %" PRIu64 ": %s", n, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    rill_buf_free(&json);
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, 120000);
    rd_kafka_destroy(rk);
    if (err)
        cr_assert_fail("flushing the input: %s", rd_kafka_err2str(err));
    for (uint64_t n = 0; n < events; n++)
        cr_assert_geq(a->offset[n], 0, "event %" PRIu64 " has no delivery report", n);
}

void rt_auction_free(rt_auction_t *a) {
    for (uint64_t n = 0; a->json && n < a->events; n++)
        free(a->json[n]);
    free(a->json);
    free(a->part);
    free(a->offset);
    free(a->trace);
    free(a->ev);
    for (int t = 0; t < RT_AU_TOPIC_CNT; t++)
        free(a->topic[t]);
    free(a->name);
    memset(a, 0, sizeof(*a));
}

/* ---------------------------------------------------------------------------------------- */
/* The app                                                                                   */

pid_t rt_auction_spawn(const rt_auction_t *a, const char *edge, const char *app_id,
                       const char *state_dir, const char *notify_file, const char *const *props,
                       const char *const *extra, const char *log) {
    const char *bd = getenv("RILL_BUILD_DIR");
    if (!bd || !*bd)
        cr_assert_fail("RILL_BUILD_DIR is not set (ctest sets it)");
    char *prog;
    if (asprintf(&prog, "%s/topologies/auction/rill-auction", bd) < 0)
        abort();
    char *argv[MAX_ARGS], *appid_prop, nums[4][32];
    int argc = 0;
    if (asprintf(&appid_prop, "application.id=%s", app_id) < 0)
        abort();
    snprintf(nums[0], sizeof(nums[0]), "%d", a->partitions);
    snprintf(nums[1], sizeof(nums[1]), "%" PRId64, a->params.grace_ms);
    argv[argc++] = prog;
    const char *fixed[] = {"--bootstrap-servers",
                           rt_bootstrap(),
                           "--no-generate",
                           "--edge",
                           edge,
                           "--partitions",
                           nums[0],
                           "--grace-ms",
                           nums[1],
                           "--state-dir",
                           state_dir,
                           "--notify-file",
                           notify_file,
                           "-D",
                           appid_prop};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[argc++] = (char *)fixed[i];
    if (!strcmp(edge, "faas")) {
        const char *env[3] = {"RILL_TEST_FN_VALIDATE_AUCTION", "RILL_TEST_FN_VALIDATE_BID",
                              "RILL_TEST_FN_NOTIFY"};
        const char *flag[3] = {"--validate-auction-url", "--validate-bid-url", "--notify-url"};
        for (int i = 0; i < 3; i++) {
            const char *u = getenv(env[i]);
            if (!u || !*u)
                cr_assert_fail("%s is not set: start the functions (scripts/functions.sh "
                               "start; scripts/test.sh exports it)",
                               env[i]);
            argv[argc++] = (char *)flag[i];
            argv[argc++] = (char *)u;
        }
    }
    for (int t = 0; t < RT_AU_TOPIC_CNT; t++) {
        argv[argc++] = (char *)topic_flag[t];
        argv[argc++] = a->topic[t];
    }
    for (size_t i = 0; props && props[i]; i++) {
        cr_assert(argc + 3 < MAX_ARGS);
        argv[argc++] = "-D";
        argv[argc++] = (char *)props[i];
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        cr_assert(argc + 2 < MAX_ARGS);
        argv[argc++] = (char *)extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = rt_spawn(argv, log);
    free(prog);
    free(appid_prop);
    return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* The reference                                                                             */

static void addf(rt_kvs_t *kvs, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void addf(rt_kvs_t *kvs, const char *key, const char *fmt, ...) {
    va_list ap;
    char *v;
    va_start(ap, fmt);
    if (vasprintf(&v, fmt, ap) < 0)
        abort();
    va_end(ap);
    rt_kvs_add(kvs, key, v);
    free(v);
}

const char *rt_auction_reason(const nexmark_event_t *ev, char *buf, size_t size) {
    int bid = ev->kind == NEXMARK_BID;
    switch (ev->invalid) {
    case NEXMARK_VALID:
        return NULL;
    case NEXMARK_INVALID_MISSING_FIELD:
        snprintf(buf, size, "missing field: %s", nexmark_field_name(ev->kind, ev->missing_field));
        return buf;
    case NEXMARK_INVALID_NEGATIVE_PRICE:
        return bid ? "price must be > 0" : "initialBid must be > 0";
    case NEXMARK_INVALID_RESERVE_BELOW_INITIAL:
        return "reserve < initialBid";
    case NEXMARK_INVALID_EXPIRES_NOT_AFTER_DATETIME:
        return "expires <= dateTime";
    case NEXMARK_INVALID_NOT_JSON:
        return "not JSON";
    default:
        return "?";
    }
}

typedef struct acc_s {
    int64_t bids, price, time, bidder, nb, capb;
    int64_t *bidders; /* distinct */
} acc_t;

typedef struct sale_s {
    int64_t seller, closed_at, auction, price;
} sale_t;

static int sale_cmp(const void *x, const void *y) {
    const sale_t *a = x, *b = y;
    if (a->seller != b->seller)
        return a->seller < b->seller ? -1 : 1;
    if (a->closed_at != b->closed_at)
        return a->closed_at < b->closed_at ? -1 : 1;
    return a->auction < b->auction ? -1 : a->auction > b->auction;
}

static int i64_cmp(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

typedef struct hot_s {
    int64_t start, auction, n;
} hot_t;

static int hot_cmp(const void *x, const void *y) {
    const hot_t *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->auction < b->auction ? -1 : a->auction > b->auction;
}

static void notif_row(rt_kvs_t *kvs, const rt_auction_t *a, int64_t person, int64_t auction,
                      const char *kind, int sold, int64_t price) {
    char key[32], pr[32], name[64] = "null", email[64] = "null";
    snprintf(key, sizeof(key), "%" PRId64, person);
    if (sold)
        snprintf(pr, sizeof(pr), "%" PRId64, price);
    else
        snprintf(pr, sizeof(pr), "null");
    /* person id 1000 + k is the k-th person: event number 50 k */
    uint64_t n = (uint64_t)(person - NEXMARK_FIRST_PERSON_ID) * NEXMARK_PROPORTION_DENOMINATOR;
    if (person >= NEXMARK_FIRST_PERSON_ID && n < a->events) {
        const nexmark_event_t *ev = &a->ev[n];
        cr_assert_eq(ev->kind, NEXMARK_PERSON);
        cr_assert_eq(ev->person.id, person);
        snprintf(name, sizeof(name), "\"%s\"", ev->person.name);
        snprintf(email, sizeof(email), "\"%s\"", ev->person.email);
    }
    addf(kvs, key, "person=%s;auction=%" PRId64 ";kind=\"%s\";price=%s;name=%s;emailAddress=%s;",
         key, auction, kind, pr, name, email);
    addf(&kvs[1], key, "person=%s;auction=%" PRId64 ";kind=\"%s\";+extra", key, auction, kind);
}

void rt_auction_expected(const rt_auction_t *a, rt_auction_out_t *exp) {
    memset(exp, 0, sizeof(*exp));
    char key[32], rbuf[128];
    /* edge: valid events enriched, invalid ones rejected with their original bytes */
    for (uint64_t n = 0; n < a->events; n++) {
        const nexmark_event_t *ev = &a->ev[n];
        if (ev->kind == NEXMARK_PERSON)
            continue;
        int bid = ev->kind == NEXMARK_BID;
        nexmark_event_key(ev, key);
        if (ev->invalid != NEXMARK_VALID) {
            addf(&exp->t[bid ? RT_AU_BIDS_REJECTED : RT_AU_AUCTIONS_REJECTED], key, "%s\t%s",
                 rt_auction_reason(ev, rbuf, sizeof(rbuf)), a->json[n]);
            continue;
        }
        size_t len = strlen(a->json[n]);
        cr_assert(len > 2 && a->json[n][len - 1] == '}');
        if (bid)
            addf(&exp->t[RT_AU_BIDS], key, "%.*s,\"priceEur\":%" PRId64 "}", (int)len - 1,
                 a->json[n], (ev->bid.price * 908 + 500) / 1000);
        else
            addf(&exp->t[RT_AU_AUCTIONS], key, "%.*s,\"durationMs\":%" PRId64 "}", (int)len - 1,
                 a->json[n], ev->auction.expires - ev->date_time);
    }

    /* core: every valid auction closes; a valid bid counts when auction.dateTime <= bid
     * dateTime < expires and price >= reserve; winner: highest price, then earliest, then
     * lowest bidder */
    size_t na = a->auctions;
    acc_t *acc = calloc(na + 1, sizeof(*acc));
    const nexmark_event_t **auc = calloc(na + 1, sizeof(*auc)); /* valid auctions by index */
    cr_assert(acc && auc);
    for (uint64_t n = 0; n < a->events; n++)
        if (a->ev[n].kind == NEXMARK_AUCTION && a->ev[n].invalid == NEXMARK_VALID) {
            int64_t i = a->ev[n].auction.id - NEXMARK_FIRST_AUCTION_ID;
            cr_assert(i >= 0 && (size_t)i < na);
            auc[i] = &a->ev[n];
        }
    size_t hcap = 1 << 16, hn = 0;
    hot_t *hot = malloc(hcap * sizeof(*hot));
    int64_t size = a->params.hot_size_ms, adv = a->params.hot_advance_ms;
    for (uint64_t n = 0; n < a->events; n++) {
        const nexmark_event_t *ev = &a->ev[n];
        if (ev->kind != NEXMARK_BID || ev->invalid != NEXMARK_VALID)
            continue;
        int64_t t = ev->date_time;
        /* hot items: hopping windows, starts k * adv in (t - size, t], k >= 0 */
        for (int64_t s = t / adv * adv; s > t - size && s >= 0; s -= adv) {
            if (hn == hcap)
                hot = realloc(hot, (hcap *= 2) * sizeof(*hot));
            hot[hn++] = (hot_t){s, ev->bid.auction, 1};
        }
        int64_t i = ev->bid.auction - NEXMARK_FIRST_AUCTION_ID;
        if (i < 0 || (size_t)i >= na || !auc[i]) {
            exp->dead_letters++; /* an auction never made, or rejected: held, then DLQ */
            continue;
        }
        const nexmark_auction_t *au = &auc[i]->auction;
        if (t < auc[i]->date_time || t >= au->expires || ev->bid.price < au->reserve)
            continue;
        acc_t *c = &acc[i];
        c->bids++;
        if (c->bids == 1 || ev->bid.price > c->price ||
            (ev->bid.price == c->price &&
             (t < c->time || (t == c->time && ev->bid.bidder < c->bidder)))) {
            c->price = ev->bid.price;
            c->time = t;
            c->bidder = ev->bid.bidder;
        }
        int64_t k;
        for (k = 0; k < c->nb && c->bidders[k] != ev->bid.bidder; k++)
            ;
        if (k == c->nb) {
            if (c->nb == c->capb)
                c->bidders = realloc(c->bidders, (size_t)(c->capb = c->capb ? c->capb * 2 : 8) * 8);
            c->bidders[c->nb++] = ev->bid.bidder;
        }
    }
    sale_t *sales = calloc(na + 1, sizeof(*sales));
    size_t ns = 0;
    for (size_t i = 0; i < na; i++) {
        if (!auc[i])
            continue;
        const nexmark_auction_t *au = &auc[i]->auction;
        acc_t *c = &acc[i];
        snprintf(key, sizeof(key), "%" PRId64, au->id);
        if (c->bids)
            addf(&exp->t[RT_AU_CLOSED], key,
                 "{\"auction\":%" PRId64 ",\"seller\":%" PRId64 ",\"category\":%" PRId64
                 ",\"winner\":%" PRId64 ",\"price\":%" PRId64 ",\"bids\":%" PRId64
                 ",\"bidders\":%" PRId64 ",\"closedAt\":%" PRId64 "}",
                 au->id, au->seller, au->category, c->bidder, c->price, c->bids, c->nb,
                 au->expires);
        else
            addf(&exp->t[RT_AU_CLOSED], key,
                 "{\"auction\":%" PRId64 ",\"seller\":%" PRId64 ",\"category\":%" PRId64
                 ",\"winner\":null,\"price\":null,\"bids\":0,\"bidders\":0,\"closedAt\":%" PRId64
                 "}",
                 au->id, au->seller, au->category, au->expires);
        /* notifications: every counted bidder (won / lost), then the seller (sold / unsold) */
        if (c->nb)
            qsort(c->bidders, (size_t)c->nb, 8, i64_cmp);
        for (int64_t k = 0; k < c->nb; k++)
            notif_row(&exp->t[RT_AU_NOTIFICATIONS], a, c->bidders[k], au->id,
                      c->bidders[k] == c->bidder ? "won" : "lost", 1, c->price);
        notif_row(&exp->t[RT_AU_NOTIFICATIONS], a, au->seller, au->id, c->bids ? "sold" : "unsold",
                  c->bids > 0, c->price);
        if (c->bids)
            sales[ns++] = (sale_t){au->seller, au->expires, au->id, c->price};
    }
    /* category-price: average winning price of each category over all its sold auctions */
    for (int64_t cat = NEXMARK_FIRST_CATEGORY_ID;
         cat < NEXMARK_FIRST_CATEGORY_ID + NEXMARK_NUM_CATEGORIES; cat++) {
        int64_t sum = 0, cnt = 0;
        for (size_t i = 0; i < na; i++)
            if (auc[i] && acc[i].bids && auc[i]->auction.category == cat)
                sum += acc[i].price, cnt++;
        if (!cnt)
            continue;
        snprintf(key, sizeof(key), "%" PRId64, cat);
        addf(&exp->t[RT_AU_CATEGORY_PRICE], key,
             "{\"category\":%" PRId64 ",\"name\":\"%s\",\"avgPrice\":%.2f,\"auctions\":%" PRId64
             "}",
             cat, category_name[cat - NEXMARK_FIRST_CATEGORY_ID], (double)sum / (double)cnt, cnt);
    }
    /* seller-avg: average over the seller's last 10 sales by (closedAt, auction) */
    qsort(sales, ns, sizeof(*sales), sale_cmp);
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        while (j < ns && sales[j].seller == sales[i].seller)
            j++;
        size_t from = j - i > 10 ? j - 10 : i;
        double sum = 0;
        for (size_t k = from; k < j; k++)
            sum += (double)sales[k].price;
        snprintf(key, sizeof(key), "%" PRId64, sales[i].seller);
        addf(&exp->t[RT_AU_SELLER_AVG], key,
             "{\"seller\":%" PRId64 ",\"avgPrice\":%.2f,\"auctions\":%zu}", sales[i].seller,
             sum / (double)(j - from), j - from);
        i = j;
    }
    /* hot items: per window, every auction with the window's largest bid count */
    qsort(hot, hn, sizeof(*hot), hot_cmp);
    size_t m = 0;
    for (size_t i = 0; i < hn;) { /* merge equal (start, auction) */
        size_t j = i;
        int64_t cnt = 0;
        while (j < hn && hot[j].start == hot[i].start && hot[j].auction == hot[i].auction)
            cnt++, j++;
        hot[m] = hot[i];
        hot[m++].n = cnt;
        i = j;
    }
    for (size_t i = 0; i < m;) {
        size_t j = i;
        int64_t max = 0;
        while (j < m && hot[j].start == hot[i].start)
            max = hot[j].n > max ? hot[j].n : max, j++;
        for (size_t k = i; k < j; k++)
            if (hot[k].n == max) {
                snprintf(key, sizeof(key), "%" PRId64, hot[k].auction);
                addf(&exp->t[RT_AU_HOT_ITEMS], key,
                     "{\"windowStart\":%" PRId64 ",\"windowEnd\":%" PRId64 ",\"auction\":%" PRId64
                     ",\"bids\":%" PRId64 "}",
                     hot[k].start, hot[k].start + size, hot[k].auction, max);
            }
        i = j;
    }
    for (size_t i = 0; i < na; i++)
        free(acc[i].bidders);
    free(acc);
    free(auc);
    free(sales);
    free(hot);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading and comparing                                                                     */

static int last_value_topic(int t) {
    return t == RT_AU_CATEGORY_PRICE || t == RT_AU_SELLER_AVG;
}

void rt_auction_read(const rt_auction_t *a, const char *app_id, const char *isolation_level,
                     const rt_auction_out_t *expected, int timeout_ms, rt_auction_out_t *out) {
    memset(out, 0, sizeof(*out));
    const char *bootstrap = rt_bootstrap();
    for (int t = RT_AU_FIRST_OUTPUT; t < RT_AU_TOPIC_CNT; t++) {
        size_t min = last_value_topic(t) ? 0 : expected->t[t].cnt;
        rt_records_t *recs =
            rt_consume_all(bootstrap, a->topic[t], isolation_level, min, timeout_ms);
        out->raw_cnt[t] = recs->cnt;
        for (size_t i = 0; i < recs->cnt; i++) {
            const rt_record_t *r = &recs->v[i];
            const char *k = r->key ? r->key : "<null>";
            if (last_value_topic(t)) {
                int later = 0; /* a key's records are in one partition, in offset order */
                for (size_t j = i + 1; j < recs->cnt && !later; j++)
                    later = recs->v[j].partition == r->partition && recs->v[j].key &&
                            !strcmp(recs->v[j].key, k);
                if (!later)
                    rt_kvs_add(&out->t[t], k, r->value ? r->value : "<null>");
            } else if (t == RT_AU_AUCTIONS_REJECTED || t == RT_AU_BIDS_REJECTED) {
                const char *why = rt_record_header(r, "rill.reject.reason");
                addf(&out->t[t], k, "%s\t%s", why ? why : "<no reason>",
                     r->value ? r->value : "<null>");
            } else if (t == RT_AU_NOTIFICATIONS || t == RT_AU_SENT) {
                char *row = rt_nexmark_row(r->value, t == RT_AU_SENT ? sent_fields : notif_fields);
                rt_kvs_add(&out->t[t], k, row);
                free(row);
            } else {
                rt_kvs_add(&out->t[t], k, r->value ? r->value : "<null>");
            }
        }
        rt_records_free(recs);
        free(recs);
    }
    char *dlq;
    if (asprintf(&dlq, "%s-dlq", app_id) < 0)
        abort();
    rt_records_t *recs = rt_consume_all(bootstrap, dlq, isolation_level, 0, 10000);
    out->dead_letters = recs->cnt;
    /* count the reasons by their first 40 characters */
    struct {
        char why[48];
        size_t n;
    } r[16];
    int nr = 0;
    for (size_t i = 0; i < recs->cnt; i++) {
        const char *why = rt_record_header(&recs->v[i], "rill.error");
        char w[48];
        snprintf(w, sizeof(w), "%.40s", why ? why : "?");
        char *colon = strchr(w, ':');
        if (colon)
            colon[1] = 0;
        int k;
        for (k = 0; k < nr && strcmp(r[k].why, w); k++)
            ;
        if (k == nr && nr < 16) {
            snprintf(r[nr].why, sizeof(r[0].why), "%s", w);
            r[nr++].n = 0;
        }
        if (k < nr)
            r[k].n++;
    }
    size_t used = 0;
    for (int k = 0; k < nr; k++) {
        int n = snprintf(out->dlq_report + used, sizeof(out->dlq_report) - used, "%s%zu x %s",
                         k ? "; " : "", r[k].n, r[k].why);
        if (n < 0 || (size_t)n >= sizeof(out->dlq_report) - used)
            break;
        used += (size_t)n;
    }
    rt_records_free(recs);
    free(recs);
    free(dlq);
}

/* kvs as (shallow) records for rt_diff */
static rt_records_t as_records(const rt_kvs_t *kvs) {
    rt_records_t r = {0};
    r.v = calloc(kvs->cnt + 1, sizeof(*r.v));
    r.cnt = r.cap = kvs->cnt;
    for (size_t i = 0; i < kvs->cnt; i++) {
        r.v[i].key = kvs->v[i].key;
        r.v[i].key_len = strlen(kvs->v[i].key);
        r.v[i].value = kvs->v[i].value;
        r.v[i].value_len = strlen(kvs->v[i].value);
    }
    return r;
}

int rt_auction_compare(const rt_auction_t *a, const rt_auction_out_t *expected,
                       const rt_auction_out_t *actual, char *report, size_t report_size) {
    int bad = 0;
    size_t used = 0;
    if (report_size)
        report[0] = 0;
    for (int t = RT_AU_FIRST_OUTPUT; t < RT_AU_TOPIC_CNT; t++) {
        rt_records_t act = as_records(&actual->t[t]);
        rt_diff_t d;
        rt_diff(&expected->t[t], &act, &d);
        free(act.v);
        int differ = d.missing || d.duplicates || d.extra;
        cr_log_info("%s: %s %s", topic_suffix[t], differ ? "DIFFERS:" : "equal:", d.report);
        if (differ) {
            bad++;
            int n =
                snprintf(report + used, report_size - used, "[%s] %s\n", topic_suffix[t], d.report);
            if (n > 0 && (size_t)n < report_size - used)
                used += (size_t)n;
        }
    }
    return bad;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorts ids[0..n) and counts the entries equal to their predecessor. */
static size_t repeated(char **ids, size_t n) {
    size_t dup = 0;
    qsort(ids, n, sizeof(*ids), cmp_str);
    for (size_t i = 1; i < n; i++)
        dup += !strcmp(ids[i], ids[i - 1]);
    return dup;
}

int rt_auction_check_notified(const char *file, const char *app_id,
                              const rt_auction_out_t *expected, char *report, size_t report_size) {
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(report, report_size, "cannot read the notification file %s", file);
        return 1;
    }
    char *prefix, *line = NULL, **ids = NULL;
    if (asprintf(&prefix, "\"id\":\"%s", app_id) < 0)
        abort();
    size_t cap = 0, n = 0;
    rt_kvs_t got = {0};
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, prefix))
            continue;
        json_object *o = json_tokener_parse(line), *id, *person;
        if (!o || !json_object_object_get_ex(o, "id", &id) ||
            !json_object_object_get_ex(o, "person", &person))
            cr_assert_fail("%s: a line that is not a notification: %s", file, line);
        char **grown = realloc(ids, (n + 1) * sizeof(*ids));
        cr_assert_not_null(grown);
        ids = grown;
        ids[n++] = strdup(json_object_get_string(id));
        /* the notification's own fields, as on the notifications topic */
        char *key = strdup(json_object_get_string(person));
        json_object_object_del(o, "id");
        json_object_object_del(o, "sentAt");
        json_object_object_del(o, "traceparent"); /* lineage.enable: checked by test_lineage */
        char *row = rt_nexmark_row(json_object_to_json_string(o), notif_fields);
        rt_kvs_add(&got, key, row);
        free(key);
        free(row);
        json_object_put(o);
    }
    fclose(f);
    free(line);
    free(prefix);
    size_t dup_ids = repeated(ids, n);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    rt_records_t act = as_records(&got);
    rt_diff_t d;
    rt_diff(&expected->t[RT_AU_NOTIFICATIONS], &act, &d);
    free(act.v);
    rt_kvs_free(&got);
    int bad = d.missing || d.duplicates || d.extra || dup_ids;
    snprintf(report, report_size,
             "%zu lines of %s in %s, %zu repeated ids; against the "
             "notifications: %s",
             n, app_id, file, dup_ids, d.report);
    return bad;
}

const char *rt_auction_notify_file(void) {
    static char path[4096];
    const char *env = getenv("RILL_NOTIFY_FILE"), *tmp = getenv("TMPDIR");
    if (env && *env)
        return env;
    snprintf(path, sizeof(path), "%s/rill-notifications.log", tmp && *tmp ? tmp : "/tmp");
    return path;
}

void rt_auction_out_free(rt_auction_out_t *o) {
    for (int t = 0; t < RT_AU_TOPIC_CNT; t++)
        rt_kvs_free(&o->t[t]);
}

/* ---- running the app and checking it (shared by the end-to-end tests) ---- */

const rt_auction_params_t rt_auction_default_params = {
    .grace_ms = 2000, .hot_size_ms = 10000, .hot_advance_ms = 2000, .hot_grace_ms = 1000};

const char *const rt_auction_eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=200",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

static char *au_fmt(const char *f, const char *a, int i) {
    char *s;
    if (asprintf(&s, f, a, i) < 0)
        abort();
    return s;
}

static char *au_tmp(const char *f, const char *a, int i) {
    char *n = au_fmt(f, a, i), *p = rt_tmp_path(n);
    free(n);
    return p;
}

void rt_auction_log_input(const rt_auction_t *a, const rt_auction_out_t *exp) {
    cr_log_info("%s: %" PRIu64 " events: %zu persons, %zu auctions (%zu invalid), %zu bids "
                "(%zu invalid); reference: %zu closed, %zu notifications, %zu category-price, "
                "%zu seller-avg, %zu hot-items",
                a->name, a->events, a->persons, a->auctions, a->invalid_auctions, a->bids,
                a->invalid_bids, exp->t[RT_AU_CLOSED].cnt, exp->t[RT_AU_NOTIFICATIONS].cnt,
                exp->t[RT_AU_CATEGORY_PRICE].cnt, exp->t[RT_AU_SELLER_AVG].cnt,
                exp->t[RT_AU_HOT_ITEMS].cnt);
}

void rt_auction_check_outputs(const rt_auction_t *a, const char *app_id,
                              const rt_auction_out_t *exp, rt_auction_out_t *out) {
    rt_auction_read(a, app_id, "read_committed", exp, 10000, out);
    cr_log_info("%s: dead letters: %zu (%s)", app_id, out->dead_letters, out->dlq_report);
    char report[8192];
    int bad = rt_auction_compare(a, exp, out, report, sizeof(report));
    cr_expect_eq(bad, 0, "%s: %d output topic(s) differ from the reference:\n%s", app_id, bad,
                 report);
    /* the only dead letters: valid bids whose auction never came (never made by the
     * generator, or rejected), after their hold — none late, none unmatched otherwise */
    cr_expect_eq(out->dead_letters, exp->dead_letters, "%s: %zu dead letters, expected %zu (%s)",
                 app_id, out->dead_letters, exp->dead_letters, out->dlq_report);
    cr_expect(!out->dead_letters || !strncmp(out->dlq_report + strcspn(out->dlq_report, "x") + 2,
                                             "no deadline record", 18),
              "%s: unexpected dead letters: %s", app_id, out->dlq_report);
    cr_expect(!strchr(out->dlq_report, ';'), "%s: dead letters of several kinds: %s", app_id,
              out->dlq_report);
    cr_expect_eq(exp->t[RT_AU_AUCTIONS_REJECTED].cnt + exp->t[RT_AU_BIDS_REJECTED].cnt,
                 a->invalid_auctions + a->invalid_bids);
}

int rt_auction_run_one(const rt_auction_t *a, const char *edge, const char *app_id,
                       const char *const *props, const char *const *extra, int timeout_ms) {
    char *state = au_tmp("%s-state-%d", app_id, 0);
    char *nf = au_tmp("%s-notify-%d.log", app_id, 0);
    char *log = au_tmp("%s-%d.log", app_id, 0);
    const char *args[16];
    size_t n = 0;
    for (; extra && extra[n] && n < 14; n++)
        args[n] = extra[n];
    args[n++] = "--drain";
    args[n] = NULL;
    int64_t t0 = rt_now_ms();
    pid_t pid = rt_auction_spawn(a, edge, app_id, state, nf, props, args, log);
    int rc = rt_wait(pid, timeout_ms);
    cr_log_info("%s: --edge %s, 1 process: exit %d after %.1f s (log %s)", app_id, edge, rc,
                (rt_now_ms() - t0) / 1000.0, log);
    if (rc) {
        rt_log_tail(log, 30);
        if (rc < 0)
            rt_kill(pid, SIGKILL), rt_wait(pid, 10000);
    }
    free(state);
    free(nf);
    free(log);
    return rc;
}

/* Starts process i of app_id. */
static pid_t spawn_member(const rt_auction_t *a, const char *edge, const char *app_id, int i,
                          const char *const *props, const char *const *extra, const char *log) {
    char *state = au_tmp("%s-state-%d", app_id, i), *nf = au_tmp("%s-notify-%d.log", app_id, i);
    char *inst = au_fmt("%s-i%d", app_id, i);
    const char *args[20] = {"--instance-id", inst, "--drain"};
    size_t n = 3;
    for (size_t k = 0; extra && extra[k] && n < 19; k++)
        args[n++] = extra[k];
    args[n] = NULL;
    pid_t pid = rt_auction_spawn(a, edge, app_id, state, nf, props, args, log);
    free(state);
    free(nf);
    free(inst);
    return pid;
}

void rt_auction_run_three_one_killed(const rt_auction_t *a, const char *edge, const char *app_id,
                                     const char *const *props, const char *const *extra,
                                     int timeout_ms) {
    char *log[3];
    pid_t pid[3];
    int64_t t0 = rt_now_ms();
    for (int i = 0; i < 3; i++) {
        log[i] = au_tmp("%s-%d.log", app_id, i);
        pid[i] = spawn_member(a, edge, app_id, i, props, extra, log[i]);
    }
    rt_auction_out_t exp;
    rt_auction_expected(a, &exp);
    size_t closed_total = exp.t[RT_AU_CLOSED].cnt;
    rt_auction_out_free(&exp);
    int64_t seen = 0;
    char errstr[256];
    while (rt_now_ms() - t0 < timeout_ms) {
        seen = rt_topic_size(rt_bootstrap(), a->topic[RT_AU_CLOSED], errstr, sizeof(errstr));
        if (seen >= (int64_t)(closed_total * 4 / 10) || rt_wait(pid[0], 0) >= 0)
            break;
        rt_sleep_ms(100);
    }
    cr_assert(rt_wait(pid[0], 0) < 0, "process 0 ended before the kill (log %s)", log[0]);
    rt_kill(pid[0], SIGKILL);
    int krc = rt_wait(pid[0], 10000);
    cr_log_info("%s: process 0 SIGKILLed after %.1f s with %" PRId64 " of %zu closed records "
                "written (exit %d); restarting it",
                app_id, (rt_now_ms() - t0) / 1000.0, seen, closed_total, krc);
    rt_sleep_ms(500);
    free(log[0]);
    log[0] = au_tmp("%s-%d-restarted.log", app_id, 0);
    pid[0] = spawn_member(a, edge, app_id, 0, props, extra, log[0]);
    for (int i = 0; i < 3; i++) {
        int64_t left = timeout_ms - (rt_now_ms() - t0);
        int rc = rt_wait(pid[i], left > 1000 ? (int)left : 1000);
        cr_log_info("%s: process %d exit %d at %.1f s", app_id, i, rc, (rt_now_ms() - t0) / 1000.0);
        cr_expect_eq(rc, 0, "process %d exited with %d (log %s)", i, rc, log[i]);
        if (rc) {
            rt_log_tail(log[i], 30);
            if (rc < 0)
                rt_kill(pid[i], SIGKILL), rt_wait(pid[i], 10000);
        }
        free(log[i]);
    }
}
