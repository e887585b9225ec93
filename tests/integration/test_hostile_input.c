/*
 * test_hostile_input.c — hostile records in the auction showcase's raw topics
 * (topologies/auction, rill-auction) on a real Kafka: after ordinary NEXMark events, a null
 * key, a tombstone, bytes that are not UTF-8, JSON nested 10,000 deep (arrays and objects),
 * numbers beyond int64 (ids, prices, dateTime), the same auction id twice with different
 * `expires`, record timestamps negative and near INT64_MAX, and dateTime fields negative and
 * at the largest safe integer.
 *
 * For the native edge and the FaaS edge, the app run with --drain must exit 0 (no crash, no
 * stall), and every hostile record must reach its defined outcome, found by its bytes or its
 * source position: processed (in auction.auctions / auction.bids, and closed when it is an
 * auction), rejected by the edge (in auction.*.rejected with its original bytes and a reason
 * naming the problem) or dead-lettered with a reason naming it (rill.error): the record
 * timestamps out of range at the raw source, a negative dateTime at the core's source, the
 * second auction of an id as a duplicate. Nothing may be lost.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 300
#define RUN_TIMEOUT_MS 90000
#define READ_TIMEOUT_MS 8000
#define DEEP 10000

static const rt_auction_params_t params = {
    .grace_ms = 2000, .hot_size_ms = 10000, .hot_advance_ms = 2000, .hot_grace_ms = 1000};

/* --drain takes stream time to INT64_MAX (saturated): every auction closes, even one that
 * expires at 2^53 - 1, and windows, punctuations and completions meet the end of time. */
static const char *const props[] = {
    "processing.guarantee=at_least_once",         "commit.interval.ms=200",
    "exit.on.end.advance.ms=9223372036854775807", "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",         NULL};

TestSuite(integration_hostile_input, .fini = rt_kill_all, .timeout = 200);

/* Where a hostile record must end. */
typedef enum fate_e {
    VALID,     /* in auction.auctions / auction.bids (value holds mark) */
    REJECTED,  /* in auction.*.rejected, its own bytes, reason in rill.reject.reason */
    DEAD_RAW,  /* dead-lettered at the raw source, found by its position */
    DEAD_CORE, /* valid, then dead-lettered by the core (value holds mark) */
} fate_t;

typedef struct hostile_s {
    int topic;         /* RT_AU_AUCTIONS_RAW or RT_AU_BIDS_RAW */
    int64_t ts;        /* record timestamp; 0: the input's middle */
    char *key, *value; /* NULL: null key, tombstone */
    size_t len;
    const char *what;
    fate_t fate;
    const char *reason; /* in the reason of a rejection or dead letter; NULL: any */
    const char *mark;   /* VALID, DEAD_CORE: a unique string of the value */
    const char *closed; /* VALID auctions: its key in auction.closed */
    int64_t offset;     /* from the delivery report */
} hostile_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    hostile_t *h = msg->_private;
    h->offset = msg->err ? -2 : msg->offset;
    if (msg->err)
        cr_log_warn("%s: refused by the broker: %s", h->what, rd_kafka_err2str(msg->err));
}

/* Produces every hostile record to partition 0 in order; waits for every acknowledgement. */
static void produce_all(const rt_auction_t *a, hostile_t *h, size_t n) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "max.in.flight", "1", errstr, sizeof(errstr)))
        cr_assert_fail("producer config: %s", errstr);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "producer: %s", errstr);
    int64_t mid = a->ev[a->events / 2].date_time;
    for (size_t i = 0; i < n; i++) {
        h[i].offset = -1;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(a->topic[h[i].topic]), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_KEY(h[i].key, h[i].key ? strlen(h[i].key) : 0),
            RD_KAFKA_V_VALUE(h[i].value, h[i].value ? h[i].len : 0),
            RD_KAFKA_V_TIMESTAMP(h[i].ts ? h[i].ts : mid), RD_KAFKA_V_OPAQUE(&h[i]),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        cr_assert_eq(err, 0, "producing %s: %s", h[i].what, rd_kafka_err2str(err));
    }
    rd_kafka_flush(rk, 60000);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < n; i++)
        cr_assert(h[i].offset >= 0, "%s was not acknowledged", h[i].what);
}

static char *nested(const char *open, const char *close, const char *inner) {
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *v = malloc(DEEP * (lo + lc) + li + 1), *p = v;
    for (int i = 0; i < DEEP; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li), p += li;
    for (int i = 0; i < DEEP; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return v;
}

static void add(hostile_t *h, size_t *n, hostile_t one) {
    if (one.value && !one.len)
        one.len = strlen(one.value);
    h[(*n)++] = one;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    char *s;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

#define AUCTION_FMT                                                                                \
    "{\"id\":%s,\"itemName\":\"i\",\"description\":\"d\",\"initialBid\":100,\"reserve\":150,"      \
    "\"dateTime\":%s,\"expires\":%s,\"seller\":%" PRId64 ",\"category\":%" PRId64                  \
    ",\"extra\":\"%s\"}"
#define BID_FMT                                                                                    \
    "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64 ",\"price\":%s,\"channel\":\"web\","            \
    "\"url\":\"https://x/y\",\"dateTime\":%" PRId64 ",\"extra\":\"%s\"}"

/* The hostile records (see the top of the file), on a's ids, people and times. */
static size_t make_hostile(const rt_auction_t *a, hostile_t *h) {
    int64_t mid = a->ev[a->events / 2].date_time, auction = -1, person = -1, category = 10;
    for (uint64_t i = 0; i < a->events && (auction < 0 || person < 0); i++) {
        const nexmark_event_t *ev = &a->ev[i];
        if (ev->invalid != NEXMARK_VALID)
            continue;
        if (ev->kind == NEXMARK_AUCTION && auction < 0)
            auction = ev->auction.id, category = ev->auction.category;
        if (ev->kind == NEXMARK_PERSON && person < 0)
            person = ev->person.id;
    }
    cr_assert(auction > 0 && person > 0, "no valid auction or person in the input");
    char t0[32], t1[32], t2[32];
    snprintf(t0, sizeof(t0), "%" PRId64, mid);
    snprintf(t1, sizeof(t1), "%" PRId64, mid + 10000);
    snprintf(t2, sizeof(t2), "%" PRId64, mid + 20000);
    size_t n = 0;
    add(h, &n,
        (hostile_t){.topic = RT_AU_BIDS_RAW,
                    .what = "valid bid with a null key",
                    .value = fmt(BID_FMT, auction, person, "200", mid, "h-nullkey"),
                    .fate = VALID,
                    .mark = "h-nullkey"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_BIDS_RAW,
                    .what = "tombstone",
                    .key = strdup("h-tomb"),
                    .fate = REJECTED,
                    .reason = "not JSON"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "bytes that are not UTF-8",
                    .key = strdup("h-utf8"),
                    .value = strdup("{\"id\":\"\xff\xfe\xc3\x28\",\"x\":\"\x80\"}"),
                    .fate = REJECTED,
                    .reason = "not JSON"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_BIDS_RAW,
                    .what = "arrays nested 10,000 deep",
                    .key = strdup("h-deep-arrays"),
                    .value = nested("[", "]", "1"),
                    .fate = REJECTED});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "objects nested 10,000 deep",
                    .key = strdup("h-deep-objects"),
                    .value = nested("{\"a\":", "}", "1"),
                    .fate = REJECTED});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "an id beyond int64",
                    .key = strdup("h-big-id"),
                    .value = fmt(AUCTION_FMT, "99999999999999999999999", t0, t1, person, category,
                                 "h-big-id"),
                    .fate = REJECTED,
                    .reason = "wrong type: id"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "a dateTime beyond int64",
                    .key = strdup("h-big-time"),
                    .value =
                        fmt(AUCTION_FMT, "9100001", "1e400", t1, person, category, "h-big-time"),
                    .fate = REJECTED,
                    .reason = "wrong type: dateTime"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "a dateTime near INT64_MAX",
                    .key = strdup("h-max-time"),
                    .value = fmt(AUCTION_FMT, "9100002", "9223372036854775806",
                                 "9223372036854775807", person, category, "h-max-time"),
                    .fate = REJECTED,
                    .reason = "wrong type: dateTime"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_BIDS_RAW,
                    .what = "a price beyond int64",
                    .key = strdup("h-big-price"),
                    .value =
                        fmt(BID_FMT, auction, person, "18446744073709551616", mid, "h-big-price"),
                    .fate = REJECTED,
                    .reason = "wrong type: price"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "auction 9100003, first",
                    .key = strdup("9100003"),
                    .value = fmt(AUCTION_FMT, "9100003", t0, t1, person, category, "h-dup-first"),
                    .fate = VALID,
                    .mark = "h-dup-first",
                    .closed = "9100003"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "auction 9100003 again",
                    .key = strdup("9100003"),
                    .value = fmt(AUCTION_FMT, "9100003", t0, t2, person, category, "h-dup-second"),
                    .fate = DEAD_CORE,
                    .mark = "h-dup-second",
                    .reason = "duplicate"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_BIDS_RAW,
                    .what = "a record timestamp of -5",
                    .key = strdup("h-neg-ts"),
                    .ts = -5,
                    .value = fmt(BID_FMT, auction, person, "300", mid, "h-neg-ts"),
                    .fate = DEAD_RAW,
                    .reason = "out of range"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "a record timestamp near INT64_MAX",
                    .key = strdup("9100004"),
                    .ts = INT64_MAX - 1,
                    .value = fmt(AUCTION_FMT, "9100004", t0, t1, person, category, "h-max-ts"),
                    .fate = DEAD_RAW,
                    .reason = "out of range"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "a dateTime of -5",
                    .key = strdup("9100005"),
                    .value =
                        fmt(AUCTION_FMT, "9100005", "-5", "1000", person, category, "h-neg-time"),
                    .fate = DEAD_CORE,
                    .mark = "h-neg-time",
                    .reason = "out of range"});
    add(h, &n,
        (hostile_t){.topic = RT_AU_AUCTIONS_RAW,
                    .what = "a dateTime of 2^53 - 2",
                    .key = strdup("9100006"),
                    .value = fmt(AUCTION_FMT, "9100006", "9007199254740990", "9007199254740991",
                                 person, category, "h-safe-max"),
                    .fate = VALID,
                    .mark = "h-safe-max",
                    .closed = "9100006"});
    return n;
}

static void free_hostile(hostile_t *h, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(h[i].key), free(h[i].value);
}

static bool has_mark(const rt_record_t *r, const char *mark) {
    return r->value && memmem(r->value, r->value_len, mark, strlen(mark));
}

static bool reason_ok(const char *why, const char *want) {
    return why && (!want || strstr(why, want));
}

/* The outputs the checks read. */
typedef struct outs_s {
    rt_records_t *valid[2], *rejected[2], *dead, *closed;
} outs_t;

static size_t count_valid(const outs_t *o, const hostile_t *h) {
    const rt_records_t *v = o->valid[h->topic == RT_AU_BIDS_RAW];
    size_t n = 0;
    for (size_t i = 0; i < v->cnt; i++)
        n += has_mark(&v->v[i], h->mark);
    return n;
}

static size_t count_rejected(const outs_t *o, const hostile_t *h, const char **why) {
    const rt_records_t *v = o->rejected[h->topic == RT_AU_BIDS_RAW];
    size_t n = 0;
    for (size_t i = 0; i < v->cnt; i++) {
        const rt_record_t *r = &v->v[i];
        bool same = h->value
                        ? r->value && r->value_len == h->len && !memcmp(r->value, h->value, h->len)
                        : !r->value && r->key && !strcmp(r->key, h->key);
        if (same && ++n == 1)
            *why = rt_record_header(r, "rill.reject.reason");
    }
    return n;
}

static size_t count_dead(const rt_auction_t *a, const outs_t *o, const hostile_t *h,
                         const char **why) {
    char off[32];
    snprintf(off, sizeof(off), "%" PRId64, h->offset);
    const char *topic = a->topic[h->topic == RT_AU_BIDS_RAW ? RT_AU_BIDS : RT_AU_AUCTIONS];
    size_t n = 0;
    for (size_t i = 0; i < o->dead->cnt; i++) {
        const rt_record_t *r = &o->dead->v[i];
        const char *t = rt_record_header(r, "rill.source.topic");
        const char *p = rt_record_header(r, "rill.source.offset");
        bool same = h->fate == DEAD_RAW
                        ? t && p && !strcmp(t, a->topic[h->topic]) && !strcmp(p, off)
                        : t && !strcmp(t, topic) && has_mark(r, h->mark);
        if (same && ++n == 1)
            *why = rt_record_header(r, "rill.error");
    }
    return n;
}

static bool in_closed(const outs_t *o, const char *key) {
    for (size_t i = 0; i < o->closed->cnt; i++)
        if (o->closed->v[i].key && !strcmp(o->closed->v[i].key, key))
            return true;
    return false;
}

static void check_one(const rt_auction_t *a, const outs_t *o, const hostile_t *h,
                      const char *edge) {
    const char *why = NULL;
    size_t valid = h->mark ? count_valid(o, h) : 0, rej = count_rejected(o, h, &why), dead = 0;
    switch (h->fate) {
    case VALID:
        cr_expect_eq(valid, 1, "%s edge: %s is %zu times in the valid output", edge, h->what,
                     valid);
        if (h->closed)
            cr_expect(in_closed(o, h->closed), "%s edge: %s was never closed", edge, h->what);
        break;
    case REJECTED:
        cr_expect_eq(rej, 1, "%s edge: %s is %zu times in the rejected output", edge, h->what, rej);
        cr_expect(!rej || reason_ok(why, h->reason),
                  "%s edge: %s rejected for \"%s\", "
                  "expected \"%s\"",
                  edge, h->what, why ? why : "(none)", h->reason);
        break;
    case DEAD_RAW:
    case DEAD_CORE:
        dead = count_dead(a, o, h, &why);
        cr_expect_eq(dead, 1, "%s edge: %s is %zu times in the dead-letter topic", edge, h->what,
                     dead);
        cr_expect(!dead || reason_ok(why, h->reason),
                  "%s edge: %s dead-lettered for \"%s\", "
                  "expected \"%s\"",
                  edge, h->what, why ? why : "(none)", h->reason);
        if (h->fate == DEAD_CORE)
            cr_expect_eq(valid, 1, "%s edge: %s is %zu times in the valid output", edge, h->what,
                         valid);
        break;
    }
    cr_log_info("%s edge: %s: valid %zu, rejected %zu, dead %zu%s%s", edge, h->what, valid, rej,
                dead, why ? ": " : "", why ? why : "");
}

static void read_outs(const rt_auction_t *a, const char *app_id, outs_t *o) {
    const char *iso = "read_uncommitted";
    char *dlq = NULL;
    if (asprintf(&dlq, "%s-dlq", app_id) < 0)
        abort();
    o->valid[0] = rt_consume_all(rt_bootstrap(), a->topic[RT_AU_AUCTIONS], iso, 1, READ_TIMEOUT_MS);
    o->valid[1] = rt_consume_all(rt_bootstrap(), a->topic[RT_AU_BIDS], iso, 1, READ_TIMEOUT_MS);
    o->rejected[0] =
        rt_consume_all(rt_bootstrap(), a->topic[RT_AU_AUCTIONS_REJECTED], iso, 1, READ_TIMEOUT_MS);
    o->rejected[1] =
        rt_consume_all(rt_bootstrap(), a->topic[RT_AU_BIDS_REJECTED], iso, 1, READ_TIMEOUT_MS);
    o->dead = rt_consume_all(rt_bootstrap(), dlq, iso, 1, READ_TIMEOUT_MS);
    o->closed = rt_consume_all(rt_bootstrap(), a->topic[RT_AU_CLOSED], iso, 1, READ_TIMEOUT_MS);
    free(dlq);
}

static void free_outs(outs_t *o) {
    rt_records_t *all[] = {o->valid[0],    o->valid[1], o->rejected[0],
                           o->rejected[1], o->dead,     o->closed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        rt_records_free(all[i]), free(all[i]);
}

static void run_hostile(const char *edge) {
    rt_auction_t a;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "hostile-%s", edge);
    rt_auction_setup(&a, prefix, EVENTS, 500, 0.01, 1, &params);
    hostile_t h[32];
    size_t n = make_hostile(&a, h);
    produce_all(&a, h, n);
    rt_auction_out_t exp;
    rt_auction_expected(&a, &exp);
    char *app_id;
    if (asprintf(&app_id, "%s-app", a.name) < 0)
        abort();
    int rc = rt_auction_run_one(&a, edge, app_id, props, NULL, RUN_TIMEOUT_MS);
    cr_expect_eq(rc, 0, "%s edge: rill-auction exited with %d", edge, rc);
    outs_t o;
    read_outs(&a, app_id, &o);
    for (size_t i = 0; i < n; i++)
        check_one(&a, &o, &h[i], edge);
    /* The ordinary events are all there: the hostile ones lost none of them. */
    cr_expect_geq(o.valid[0]->cnt, exp.t[RT_AU_AUCTIONS].cnt + 4, "%s edge: %zu auctions out", edge,
                  o.valid[0]->cnt);
    cr_expect_geq(o.valid[1]->cnt, exp.t[RT_AU_BIDS].cnt + 1, "%s edge: %zu bids out", edge,
                  o.valid[1]->cnt);
    cr_expect_geq(o.rejected[0]->cnt + o.rejected[1]->cnt,
                  exp.t[RT_AU_AUCTIONS_REJECTED].cnt + exp.t[RT_AU_BIDS_REJECTED].cnt + 8,
                  "%s edge: %zu rejected out", edge, o.rejected[0]->cnt + o.rejected[1]->cnt);
    free_outs(&o);
    rt_auction_out_free(&exp);
    free_hostile(h, n);
    free(app_id);
    rt_auction_free(&a);
}

Test(integration_hostile_input, native_edge) {
    run_hostile("native");
}

Test(integration_hostile_input, faas_edge) {
    run_hostile("faas");
}
