/*
 * test_completion.c — component tests of completion detection (operators/completion.c) in an
 * app on the embedded broker, over auctions and bids in the shape of NEXMark: auctions
 * (id, dateTime, expires) and bids (auction, bidder, price, dateTime), keyed by auction id,
 * produced with bounded disorder (less than the grace period), so bids may come before their
 * auction. A reference computed here from the same input gives each auction's winner (highest
 * price, then earliest time, then lowest bidder) among its bids with
 * auction.dateTime <= bid.dateTime < expires; the output must hold exactly one record per
 * auction, equal to the reference, with the auction's expiry as timestamp — also when the app
 * is stopped halfway and restarted with an empty state directory (state from the changelog
 * alone). Held events beyond the limits and records after completion go to the dead-letter
 * topic with their reasons.
 *
 * Each app runs against its own mock cluster (about 3 s for the first group join).
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#include <inttypes.h>

#define NAUCTIONS 60
#define NBIDS 900
#define NREC (NAUCTIONS + NBIDS)
#define DISORDER 300 /* a record is produced at most this many ms after its time */
#define GRACE 500    /* > DISORDER: no bid of the input is late */
#define BASE 1700000000000LL
#define FLUSH_AHEAD 100000
#define FAR 4000000000000LL /* the flush auctions' expiry: never due */

/* ---------------------------------------------------------------------------------------- */
/* State directories                                                                        */

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                    */

typedef struct auction_s {
    char id[8];
    int64_t at, expires;
} auction_t;

/* One record of either topic, in production order. */
typedef struct in_rec_s {
    int is_bid;
    char key[8];
    char value[48];
    int64_t ts;
    int64_t order; /* ts + a jitter below DISORDER */
} in_rec_t;

typedef struct input_s {
    auction_t a[NAUCTIONS];
    in_rec_t r[NREC];
    size_t n;
    int64_t tmax;
    int64_t ignored; /* bids outside their auction's time */
} input_t;

static uint64_t rng;

static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

static int by_order(const void *a, const void *b) {
    const in_rec_t *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Auctions 20..80 ms apart, open 300..1500 ms. Bids name a random auction, at a time from
 * 200 ms before it opens to 200 ms after it expires (some outside: ignored, never late, as
 * expires + 200 + DISORDER < expires + GRACE); prices 1..40 and bidders 0..9, so ties happen.
 */
static void make_input(input_t *in, uint64_t seed) {
    int64_t t = BASE;

    memset(in, 0, sizeof(*in));
    rng = seed;
    for (int i = 0; i < NAUCTIONS; i++) {
        auction_t *a = &in->a[i];
        t += 20 + rnd() % 61;
        snprintf(a->id, sizeof(a->id), "a%03d", i);
        a->at = t;
        a->expires = t + 300 + rnd() % 1201;
        in_rec_t *r = &in->r[in->n++];
        r->is_bid = 0;
        memcpy(r->key, a->id, sizeof(r->key));
        snprintf(r->value, sizeof(r->value), "%lld,%lld", (long long)a->at, (long long)a->expires);
        r->ts = a->at;
    }
    for (int i = 0; i < NBIDS; i++) {
        const auction_t *a = &in->a[rnd() % NAUCTIONS];
        in_rec_t *r = &in->r[in->n++];
        r->is_bid = 1;
        memcpy(r->key, a->id, sizeof(r->key));
        r->ts = a->at - 200 + (int64_t)(rnd() % (uint32_t)(a->expires + 200 - (a->at - 200)));
        snprintf(r->value, sizeof(r->value), "b%u,%u", rnd() % 10, 1 + rnd() % 40);
        in->ignored += r->ts < a->at || r->ts >= a->expires;
    }
    for (size_t i = 0; i < in->n; i++) {
        in->r[i].order = in->r[i].ts + rnd() % DISORDER;
        if (in->r[i].ts > in->tmax)
            in->tmax = in->r[i].ts;
    }
    qsort(in->r, in->n, sizeof(in->r[0]), by_order);
}

/* Writes records [from, to) of the input, then, with flush, one auction per partition far
 * ahead (it never completes) that completes every auction of the input. */
static void send_input(const char *bootstrap, const input_t *in, size_t from, size_t to,
                       int flush_partitions) {
    char errstr[512], value[48];
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));

    cr_assert_not_null(p, "%s", errstr);
    for (size_t i = from; i < to; i++)
        eu_send(p, in->r[i].is_bid ? "bids" : "auctions", -1, in->r[i].key, in->r[i].value,
                in->r[i].ts);
    snprintf(value, sizeof(value), "%lld,%lld", (long long)(in->tmax + FLUSH_AHEAD), FAR);
    for (int part = 0; part < flush_partitions; part++)
        eu_send(p, "auctions", part, "~flush", value, in->tmax + FLUSH_AHEAD);
    eu_producer_done(p);
}

/* ---------------------------------------------------------------------------------------- */
/* Reference                                                                                */

typedef struct bid_s {
    int bidder;
    int64_t price, ts;
} bid_t;

static void parse_bid(const char *v, size_t len, int64_t ts, bid_t *b) {
    char text[48];
    snprintf(text, sizeof(text), "%.*s", (int)len, v);
    b->bidder = atoi(text + 1);
    b->price = atoll(strchr(text, ',') + 1);
    b->ts = ts;
}

/* True when x beats y: higher price, then earlier, then the lower bidder. */
static int beats(const bid_t *x, const bid_t *y) {
    if (x->price != y->price)
        return x->price > y->price;
    if (x->ts != y->ts)
        return x->ts < y->ts;
    return x->bidder < y->bidder;
}

static void show_winner(const bid_t *w, char *out, size_t size) {
    if (!w)
        snprintf(out, size, "none");
    else
        snprintf(out, size, "w=b%d,p=%lld,t=%lld", w->bidder, (long long)w->price,
                 (long long)w->ts);
}

/* "auction=winner@expires" of every auction. */
static void ref_strings(const input_t *in, eu_strs_t *l) {
    for (int i = 0; i < NAUCTIONS; i++) {
        const auction_t *a = &in->a[i];
        bid_t best = {0}, b;
        int have = 0;
        char shown[80];
        for (size_t j = 0; j < in->n; j++) {
            const in_rec_t *r = &in->r[j];
            if (!r->is_bid || strcmp(r->key, a->id) || r->ts < a->at || r->ts >= a->expires)
                continue;
            parse_bid(r->value, strlen(r->value), r->ts, &b);
            if (!have || beats(&b, &best))
                best = b;
            have = 1;
        }
        show_winner(have ? &best : NULL, shown, sizeof(shown));
        eu_strs_add(l, "%s=%s@%lld", a->id, shown, (long long)a->expires);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The operator's callbacks: the winning bid                                                */

/* An auction's value: "dateTime,expires". */
static void parse_auction(const rill_record_t *rec, int64_t *at, int64_t *expires) {
    char text[48];
    snprintf(text, sizeof(text), "%.*s", (int)rec->value_len, (const char *)rec->value);
    *at = atoll(text);
    *expires = strchr(text, ',') ? atoll(strchr(text, ',') + 1) : -1;
}

static int64_t expires_of(const rill_record_t *item, void *opaque) {
    int64_t at, expires;
    parse_auction(item, &at, &expires);
    return expires;
}

static int no_bid(const rill_record_t *item, rill_buf_t *out, void *opaque) {
    return 0; /* the empty state: no bid yet */
}

/* State: a bid_t, or empty. */
static int best_bid(const rill_record_t *item, const rill_record_t *event, const void *state,
                    size_t state_len, rill_buf_t *out, void *opaque) {
    int64_t at, expires;
    bid_t b, best;

    parse_auction(item, &at, &expires);
    if (event->timestamp < at || event->timestamp >= expires)
        return 1;
    parse_bid(event->value, event->value_len, event->timestamp, &b);
    if (state_len == sizeof(best)) {
        memcpy(&best, state, sizeof(best));
        if (!beats(&b, &best))
            b = best;
    }
    return rill_buf_append(out, &b, sizeof(b));
}

static int winner(const rill_record_t *item, const void *state, size_t state_len, rill_buf_t *out,
                  void *opaque) {
    bid_t best;
    char shown[80];

    if (state_len == sizeof(best))
        memcpy(&best, state, sizeof(best));
    show_winner(state_len == sizeof(best) ? &best : NULL, shown, sizeof(shown));
    return rill_buf_append(out, shown, strlen(shown));
}

static rill_topology_t *auction_topology(const rill_completion_spec_t *spec) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *auctions = rill_stream_from(topo, "auctions", "auctions", NULL);
    rill_stream_t *bids = rill_stream_from(topo, "bids", "bids", NULL);
    rill_stream_t *won = rill_stream_complete(auctions, bids, "close", spec, expires_of, no_bid,
                                              best_bid, winner, NULL);

    rill_stream_to(won, NULL, "winners", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks                                                                                   */

/* Exactly one completion per auction, each the reference's, at the auction's expiry. */
static void assert_winners(const char *bootstrap, const input_t *in) {
    eu_recs_t out;
    eu_strs_t got = {0}, want = {0};

    eu_read_topic(bootstrap, "winners", &out);
    for (size_t i = 0; i < out.cnt; i++) {
        const eu_rec_t *r = &out.v[i];
        cr_assert_not_null(r->key);
        cr_assert_not_null(r->value, "auction %s: a null completion", r->key);
        for (size_t j = 0; j < i; j++)
            cr_assert(strcmp(out.v[j].key, r->key), "auction %s completed twice (%s, then %s)",
                      r->key, out.v[j].value, r->value);
        eu_strs_add(&got, "%s=%s@%lld", r->key, r->value, (long long)r->timestamp);
    }
    ref_strings(in, &want);
    eu_assert_same_set(&got, &want, "winners");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

static input_t input;

Test(operators_completion, winners_match_reference_when_bids_out_of_order, .timeout = 120) {
    rill_completion_spec_t spec = {.grace_ms = GRACE, .hold_ms = 10000};
    char id[64], dir[64];

    make_input(&input, 1);
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), "cpl-ref");
    rill_app_t *app = eu_app_new(auction_topology(&spec), id, extra);
    eu_create_topic(app, "auctions", 2);
    eu_create_topic(app, "bids", 2);
    send_input(rill_app_bootstrap_servers(app), &input, 0, input.n, 2);
    eu_start(app);
    eu_wait_processed(app, (int64_t)input.n + 2);
    /* The last auctions close once the inputs are idle (source.idle.timeout.ms). */
    eu_wait_metric(app, "rill_completions_total", NAUCTIONS);
    eu_stop(app);
    cr_assert_eq(rill_app_metric(app, "rill_completions_total"), NAUCTIONS);
    cr_assert_eq(rill_app_metric(app, "rill_completion_ignored_total"), input.ignored);
    cr_assert_gt(rill_app_metric(app, "rill_completion_held_total"), 0,
                 "some bids come before their auction");
    cr_assert_eq(rill_app_metric(app, "rill_completion_unmatched_total"), 0);
    cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), 0);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    assert_winners(rill_app_bootstrap_servers(app), &input);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/*
 * All state is in the store: an app stopped halfway (with auctions open and bids held) is
 * followed by one with an empty state directory, which restores the store from its changelog;
 * over both runs every auction completes exactly once, as the reference says.
 */
Test(operators_completion, winners_once_when_app_restarts_from_changelog, .timeout = 150) {
    rill_completion_spec_t spec = {.grace_ms = GRACE, .hold_ms = 10000};
    char errstr[512], id[64], dir[2][64];
    size_t half = NREC / 2;
    int64_t completions = 0, held = 0;

    make_input(&input, 2);
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "auctions", 2), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "bids", 2), 0);
    eu_app_id(id, sizeof(id), "cpl-restart");
    for (int run = 0; run < 2; run++) {
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(auction_topology(&spec), id, extra);
        send_input(bootstrap, &input, run ? half : 0, run ? input.n : half, run ? 2 : 0);
        eu_start(app);
        eu_wait_processed(app, run ? (int64_t)(input.n - half) + 2 : (int64_t)half);
        /* The last auctions close once the inputs are idle (source.idle.timeout.ms). */
        if (run)
            eu_wait_metric(app, "rill_completions_total", NAUCTIONS - completions);
        eu_stop(app);
        completions += rill_app_metric(app, "rill_completions_total");
        held += rill_app_metric(app, "rill_completion_held_total");
        if (!run)
            cr_assert_lt(rill_app_metric(app, "rill_completions_total"), NAUCTIONS,
                         "run 1 leaves auctions open");
        cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0, "run %d", run + 1);
        rill_app_destroy(app);
    }
    cr_assert_eq(completions, NAUCTIONS);
    cr_assert_gt(held, 0);
    assert_winners(bootstrap, &input);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir[0]);
    eu_state_dir_remove(dir[1]);
}

/*
 * Limits and lateness, one partition, records in time order:
 *  bids x@0, y@10, z@20 — three held with max_held 2: x, the oldest, is dead-lettered;
 *  auction a@100 expiring at 500 (grace 100: completes at stream time 600); bid a@200;
 *  bid w@1100 — the bids' time is 1100, but the auctions' is 100 and they have more to come:
 *  stream time, the lower of the two, stays at 100 (progress.c), so nothing completes and
 *  no hold ends; w is held, and y, now the oldest of three, makes room;
 *  bid a@1150 — a is still open: taken (after its expiry, so the accumulator ignores it);
 *  auction a@1200 — stream time 1150 completes a first: the second a is late;
 *  auction ~f@5000 — the inputs are then idle: stream time 5000 ends the holds of z and w.
 * Under Kafka Streams' rule (the largest timestamp of either input) bid a@1150 would have
 * been late, because another input had run ahead: never here.
 */
Test(operators_completion, held_and_late_records_dead_lettered_when_limits_pass, .timeout = 120) {
    static const struct {
        const char *topic, *key, *value;
        int64_t at;
        /* clang-format off */
    } seq[] = {
        {"bids", "x", "b1,10", 0},       {"bids", "y", "b1,11", 10},
        {"bids", "z", "b1,12", 20},      {"auctions", "a", NULL, 100},
        {"bids", "a", "b2,5", 200},      {"bids", "w", "b3,13", 1100},
        {"bids", "a", "b4,99", 1150},    {"auctions", "a", NULL, 1200},
        {"auctions", "~f", NULL, 5000},
    };
    /* clang-format on */
    const int n = (int)(sizeof(seq) / sizeof(seq[0]));
    rill_completion_spec_t spec = {.grace_ms = 100, .hold_ms = 1000, .max_held = 2};
    char id[64], dlq[96], dir[64], value[64];

    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), "cpl-dlq");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = eu_app_new(auction_topology(&spec), id, extra);
    eu_create_topic(app, "auctions", 1);
    eu_create_topic(app, "bids", 1);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < n; i++) {
        if (seq[i].value)
            snprintf(value, sizeof(value), "%s", seq[i].value);
        else
            snprintf(value, sizeof(value), "%lld,%lld", BASE + seq[i].at,
                     seq[i].key[0] == '~' ? FAR : BASE + 500);
        eu_send(p, seq[i].topic, 0, seq[i].key, value, BASE + seq[i].at);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, n);
    eu_wait_metric(app, "rill_dlq_records_total", 5);
    eu_stop(app);

    eu_recs_t out, dead;
    eu_read_topic(rill_app_bootstrap_servers(app), "winners", &out);
    cr_assert_eq(out.cnt, 1);
    cr_assert_str_eq(out.v[0].key, "a");
    snprintf(value, sizeof(value), "w=b2,p=5,t=%lld", BASE + 200);
    cr_assert_str_eq(out.v[0].value, value);
    cr_assert_eq(out.v[0].timestamp, BASE + 500);
    eu_recs_free(&out);

    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    eu_strs_t got = {0}, want = {0};
    for (size_t i = 0; i < dead.cnt; i++) {
        const eu_rec_t *r = &dead.v[i];
        const char *error = eu_rec_header(r, "rill.error");
        const char *topic = eu_rec_header(r, "rill.source.topic");
        cr_assert_not_null(error);
        cr_assert_not_null(topic);
        const char *kind = !strncmp(error, "late: ", 6)             ? "late"
                           : strstr(error, "within 2 held records") ? "count"
                           : strstr(error, "within 1000 ms")        ? "time"
                                                                    : error;
        cr_assert(!strncmp(error, "late: ", 6) || !strncmp(error, "no deadline record within ", 26),
                  "reason: %s", error);
        eu_strs_add(&got, "%s:%s=%s:%s@%lld", topic, r->key, r->value, kind,
                    (long long)(r->timestamp - BASE));
    }
    eu_strs_add(&want, "bids:x=b1,10:count@0");
    eu_strs_add(&want, "bids:y=b1,11:count@10");
    eu_strs_add(&want, "bids:z=b1,12:time@20");
    eu_strs_add(&want, "bids:w=b3,13:time@1100");
    eu_strs_add(&want, "auctions:a=%lld,%lld:late@1200", BASE + 1200, BASE + 500);
    eu_assert_same_set(&got, &want, "dead letters");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&dead);
    cr_assert_eq(rill_app_metric(app, "rill_completions_total"), 1);
    cr_assert_eq(rill_app_metric(app, "rill_completion_unmatched_total"), 4);
    cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), 1);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 5);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* Builder                                                                                  */

Test(operators_completion, builder_fails_when_arguments_invalid) {
    static const rill_completion_spec_t bad[] = {
        {.grace_ms = -1}, {.hold_ms = -5}, {.max_held = -1}, {.retention_ms = -1}};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 2; i++) {
        rill_topology_t *topo = rill_topology_new();
        rill_stream_t *a = rill_stream_from(topo, "auctions", "auctions", NULL);
        rill_stream_t *b = rill_stream_from(topo, "bids", "bids", NULL);
        rill_completion_spec_t ok = {0};
        const rill_completion_spec_t *spec = i < 4 ? &bad[i] : i == 4 ? NULL : &ok;
        cr_assert_null(rill_stream_complete(a, b, "c", spec, expires_of, no_bid,
                                            i == 5 ? NULL : best_bid, winner, NULL),
                       "case %zu accepted", i);
        cr_assert_not_null(rill_topology_error(topo));
        rill_topology_destroy(topo);
    }
    /* Names: the operator's nodes and store. */
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *a = rill_stream_from(topo, "auctions", "auctions", NULL);
    rill_stream_t *b = rill_stream_from(topo, "bids", "bids", NULL);
    rill_completion_spec_t spec = {0};
    cr_assert_not_null(
        rill_stream_complete(a, b, "close", &spec, expires_of, no_bid, best_bid, winner, NULL));
    rill_buf_t desc = {0};
    cr_assert_eq(rill_topology_describe(topo, &desc), 0);
    cr_assert_eq(rill_buf_append(&desc, "", 1), 0);
    cr_assert(strstr(desc.data, "close-items") && strstr(desc.data, "close-events") &&
                  strstr(desc.data, "close-store"),
              "%s", desc.data);
    rill_buf_free(&desc);
    /* A second completion with the same name clashes. */
    cr_assert_null(
        rill_stream_complete(a, b, "close", &spec, expires_of, no_bid, best_bid, winner, NULL));
    rill_topology_destroy(topo);
}
