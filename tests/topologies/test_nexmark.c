/*
 * test_nexmark.c — unit tests of the NEXMark event generator (topologies/nexmark): events
 * are a function of (seed, event number) alone, kinds come in NEXMark's 1:3:46, ids and
 * references follow its rules, field values and sizes are what NEXMark makes, the
 * out-of-order shift stays within its bound, and invalid events are broken exactly as
 * documented (checked with an independent JSON parser, json-c).
 */
#include <criterion/criterion.h>

#include "nexmark.h"

#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE 50000

static nexmark_config_t defaults(void) {
    nexmark_config_t cfg;

    nexmark_config_init(&cfg);
    return cfg;
}

/* The key and JSON of event n under cfg, as one string "key\tjson" in buf. */
static void render(const nexmark_config_t *cfg, uint64_t n, rill_buf_t *buf) {
    nexmark_event_t ev;
    char key[NEXMARK_KEY_MAX];
    size_t len;

    rill_buf_reset(buf);
    nexmark_event_at(cfg, n, &ev);
    len = nexmark_event_key(&ev, key);
    cr_assert_eq(rill_buf_append(buf, key, len), 0);
    cr_assert_eq(rill_buf_append(buf, "\t", 1), 0);
    cr_assert_eq(nexmark_event_json(&ev, buf), 0);
}

static uint64_t fnv1a(const char *data, size_t len) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t event_hash(const nexmark_config_t *cfg, uint64_t n, rill_buf_t *buf) {
    render(cfg, n, buf);
    return fnv1a(buf->data, buf->len);
}

/* ---------------------------------------------------------------------------------------- */
/* An independent validator: what a consumer of the topics would check                      */

static int get_int(struct json_object *obj, const char *name, int64_t *out) {
    struct json_object *v;

    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    *out = json_object_get_int64(v);
    return 1;
}

static int has_string(struct json_object *obj, const char *name) {
    struct json_object *v;

    return json_object_object_get_ex(obj, name, &v) && json_object_is_type(v, json_type_string);
}

/* Returns how json breaks the rules (a nexmark_invalid_t; NEXMARK_VALID when it does not). */
static nexmark_invalid_t judge(nexmark_kind_t kind, const char *json) {
    struct json_object *obj = json_tokener_parse(json);
    nexmark_invalid_t verdict = NEXMARK_VALID;
    int64_t a, b;
    int i;

    if (!obj || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return NEXMARK_INVALID_NOT_JSON;
    }
    for (i = 0; i < nexmark_field_count(kind); i++) {
        const char *name = nexmark_field_name(kind, i);
        struct json_object *v;

        if (!json_object_object_get_ex(obj, name, &v))
            verdict = NEXMARK_INVALID_MISSING_FIELD;
    }
    if (verdict == NEXMARK_VALID && kind == NEXMARK_PERSON) {
        cr_assert(get_int(obj, "id", &a) && get_int(obj, "dateTime", &a));
        cr_assert(has_string(obj, "name") && has_string(obj, "emailAddress") &&
                  has_string(obj, "creditCard") && has_string(obj, "city") &&
                  has_string(obj, "state") && has_string(obj, "extra"));
    } else if (verdict == NEXMARK_VALID && kind == NEXMARK_AUCTION) {
        cr_assert(get_int(obj, "initialBid", &a) && get_int(obj, "reserve", &b));
        if (a < 0)
            verdict = NEXMARK_INVALID_NEGATIVE_PRICE;
        else if (b < a)
            verdict = NEXMARK_INVALID_RESERVE_BELOW_INITIAL;
        cr_assert(get_int(obj, "dateTime", &a) && get_int(obj, "expires", &b));
        if (verdict == NEXMARK_VALID && b <= a)
            verdict = NEXMARK_INVALID_EXPIRES_NOT_AFTER_DATETIME;
        cr_assert(get_int(obj, "id", &a) && get_int(obj, "seller", &a) &&
                  get_int(obj, "category", &a));
        cr_assert(has_string(obj, "itemName") && has_string(obj, "description"));
    } else if (verdict == NEXMARK_VALID) {
        cr_assert(get_int(obj, "price", &a));
        if (a < 0)
            verdict = NEXMARK_INVALID_NEGATIVE_PRICE;
        cr_assert(get_int(obj, "auction", &a) && get_int(obj, "bidder", &a) &&
                  get_int(obj, "dateTime", &a));
        cr_assert(has_string(obj, "channel") && has_string(obj, "url"));
    }
    json_object_put(obj);
    return verdict;
}

/* ---------------------------------------------------------------------------------------- */
/* Determinism                                                                              */

Test(topologies_nexmark, same_bytes_when_same_seed_and_number) {
    nexmark_config_t cfg = defaults(), other = defaults();
    rill_buf_t a = {0}, b = {0};
    uint64_t n;
    int differ = 0;

    other.seed = 2;
    for (n = 0; n < 5000; n++) {
        render(&cfg, n, &a);
        render(&cfg, n, &b);
        cr_assert_eq(a.len, b.len);
        cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "event %llu differs", (unsigned long long)n);
        render(&other, n, &b);
        differ += a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
    }
    cr_assert_eq(differ, 5000, "another seed gives other events");
    rill_buf_free(&a);
    rill_buf_free(&b);
}

typedef struct shard_s {
    const nexmark_config_t *cfg;
    const uint64_t *expected;
    uint64_t first, count, step;
    int mismatches;
} shard_t;

static void *check_shard(void *arg) {
    shard_t *s = arg;
    rill_buf_t buf = {0};
    uint64_t n;

    for (n = s->first; n < s->count; n += s->step)
        s->mismatches += event_hash(s->cfg, n, &buf) != s->expected[n];
    rill_buf_free(&buf);
    return NULL;
}

Test(topologies_nexmark, event_unchanged_when_made_alone_backwards_or_on_threads) {
    nexmark_config_t cfg = defaults();
    enum { N = 20000 };
    static uint64_t expected[N];
    rill_buf_t buf = {0};
    shard_t shards[2];
    pthread_t threads[2];
    int64_t n;
    int i;

    cfg.ooo_ms = 300;
    cfg.invalid_fraction = 0.05;
    for (n = 0; n < N; n++)
        expected[n] = event_hash(&cfg, (uint64_t)n, &buf);
    /* Alone: event n first, no other event made before it in this loop's order. */
    for (n = N - 1; n >= 0; n -= 7)
        cr_assert_eq(event_hash(&cfg, (uint64_t)n, &buf), expected[n], "event %lld", (long long)n);
    for (i = 0; i < 2; i++) {
        shards[i] = (shard_t){&cfg, expected, (uint64_t)i, N, 2, 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, check_shard, &shards[i]), 0);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(shards[i].mismatches, 0);
    }
    rill_buf_free(&buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Kinds, ids, references                                                                   */

Test(topologies_nexmark, kinds_are_1_3_46_when_any_block_of_50) {
    const uint64_t starts[] = {0, 1234550, UINT64_C(987654321000)};
    size_t s;

    for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        uint64_t total[NEXMARK_KIND_CNT] = {0}, n;

        for (n = 0; n < SAMPLE; n += NEXMARK_PROPORTION_DENOMINATOR) {
            uint64_t block[NEXMARK_KIND_CNT] = {0}, i;

            for (i = 0; i < NEXMARK_PROPORTION_DENOMINATOR; i++)
                block[nexmark_kind_of(starts[s] + n + i)]++;
            cr_assert(block[0] == 1 && block[1] == 3 && block[2] == 46);
            for (i = 0; i < NEXMARK_KIND_CNT; i++)
                total[i] += block[i];
        }
        cr_assert(total[0] == 1000 && total[1] == 3000 && total[2] == 46000);
    }
}

Test(topologies_nexmark, ids_consecutive_and_keys_match_when_made_in_order) {
    nexmark_config_t cfg = defaults();
    int64_t next_person = NEXMARK_FIRST_PERSON_ID, next_auction = NEXMARK_FIRST_AUCTION_ID;
    char key[NEXMARK_KEY_MAX], want[32];
    uint64_t n;

    for (n = 0; n < SAMPLE; n++) {
        nexmark_event_t ev;

        nexmark_event_at(&cfg, n, &ev);
        cr_assert_eq(ev.kind, nexmark_kind_of(n));
        cr_assert_eq(ev.number, n);
        nexmark_event_key(&ev, key);
        if (ev.kind == NEXMARK_PERSON) {
            cr_assert_eq(ev.person.id, next_person++);
            snprintf(want, sizeof(want), "%lld", (long long)ev.person.id);
        } else if (ev.kind == NEXMARK_AUCTION) {
            cr_assert_eq(ev.auction.id, next_auction++);
            snprintf(want, sizeof(want), "%lld", (long long)ev.auction.id);
        } else {
            snprintf(want, sizeof(want), "%lld", (long long)ev.bid.auction);
        }
        cr_assert_str_eq(key, want);
    }
    /* Resumed far away, the ids are still the count of earlier persons/auctions. */
    {
        nexmark_event_t ev;
        uint64_t far = UINT64_C(5000000050); /* a person: 10^8 + 1 persons before it... */

        nexmark_event_at(&cfg, far, &ev);
        cr_assert_eq(ev.person.id, NEXMARK_FIRST_PERSON_ID + 100000001);
        nexmark_event_at(&cfg, far + 3, &ev);
        cr_assert_eq(ev.auction.id, NEXMARK_FIRST_AUCTION_ID + 300000005);
    }
}

/* Checks references against the persons and auctions made so far (newest: *_made). */
static void check_references(const nexmark_config_t *cfg, uint64_t *future_refs) {
    int64_t persons_made = NEXMARK_FIRST_PERSON_ID - 1,
            auctions_made = NEXMARK_FIRST_AUCTION_ID - 1;
    uint64_t n;

    *future_refs = 0;
    for (n = 0; n < SAMPLE; n++) {
        nexmark_event_t ev;
        int64_t refs[2];
        int64_t limits[2];

        nexmark_event_at(cfg, n, &ev);
        if (ev.kind == NEXMARK_PERSON) {
            persons_made = ev.person.id;
            continue;
        }
        if (ev.kind == NEXMARK_AUCTION) {
            auctions_made = ev.auction.id;
            refs[0] = ev.auction.seller;
            limits[0] = persons_made;
            refs[1] = refs[0];
            limits[1] = limits[0];
        } else {
            refs[0] = ev.bid.bidder;
            limits[0] = persons_made;
            refs[1] = ev.bid.auction;
            limits[1] = auctions_made;
        }
        cr_assert_geq(refs[0], NEXMARK_FIRST_PERSON_ID);
        cr_assert_geq(refs[1],
                      ev.kind == NEXMARK_BID ? NEXMARK_FIRST_AUCTION_ID : NEXMARK_FIRST_PERSON_ID);
        cr_assert_leq(refs[0], limits[0] + (int64_t)cfg->id_lead, "event %llu",
                      (unsigned long long)n);
        cr_assert_leq(refs[1], limits[1] + (int64_t)cfg->id_lead, "event %llu",
                      (unsigned long long)n);
        *future_refs += (refs[0] > limits[0]) + (ev.kind == NEXMARK_BID && refs[1] > limits[1]);
        /* Not older than the window of recent ones (or the hot one, newer still). */
        if (ev.kind == NEXMARK_BID)
            cr_assert_geq(refs[1], auctions_made - (int64_t)cfg->num_in_flight_auctions - 100);
    }
}

Test(topologies_nexmark, references_at_most_id_lead_ahead_when_lead_allowed) {
    nexmark_config_t cfg = defaults();
    uint64_t future;

    check_references(&cfg, &future);
    /* NEXMark lets a few bids and auctions name what is made a little later. */
    cr_assert_gt(future, 0);
    cr_log_info("references to a later person or auction: %llu", (unsigned long long)future);
}

Test(topologies_nexmark, references_only_existing_when_lead_zero) {
    nexmark_config_t cfg = defaults();
    uint64_t future;

    cfg.id_lead = 0;
    check_references(&cfg, &future);
    cr_assert_eq(future, 0);
}

Test(topologies_nexmark, hot_shares_follow_ratios_when_defaults) {
    nexmark_config_t cfg = defaults();
    uint64_t bids = 0, hot_auction = 0, hot_bidder = 0, auctions = 0, hot_seller = 0, n;

    for (n = 0; n < 4 * SAMPLE; n++) {
        nexmark_event_t ev;

        nexmark_event_at(&cfg, n, &ev);
        if (ev.kind == NEXMARK_BID) {
            bids++;
            hot_auction += ev.bid.auction ==
                           NEXMARK_FIRST_AUCTION_ID + nexmark_last_base0_auction(n) / 100 * 100;
            hot_bidder += ev.bid.bidder ==
                          NEXMARK_FIRST_PERSON_ID + nexmark_last_base0_person(n) / 100 * 100 + 1;
        } else if (ev.kind == NEXMARK_AUCTION) {
            auctions++;
            hot_seller += ev.auction.seller ==
                          NEXMARK_FIRST_PERSON_ID + nexmark_last_base0_person(n) / 100 * 100;
        }
    }
    /* 1 - 1/ratio are hot by choice; a few more pick the hot one at random. */
    cr_assert(hot_auction > 0.49 * bids && hot_auction < 0.56 * bids, "%llu of %llu",
              (unsigned long long)hot_auction, (unsigned long long)bids);
    cr_assert(hot_bidder > 0.74 * bids && hot_bidder < 0.78 * bids);
    cr_assert(hot_seller > 0.72 * auctions && hot_seller < 0.80 * auctions);
}

/* ---------------------------------------------------------------------------------------- */
/* Values, sizes, times                                                                     */

Test(topologies_nexmark, auction_and_bid_values_in_range_when_valid) {
    nexmark_config_t cfg = defaults();
    double length_sum = 0;
    uint64_t auctions = 0, n;
    int hot_channels = 0, bids = 0;

    for (n = 0; n < SAMPLE; n++) {
        nexmark_event_t ev;

        nexmark_event_at(&cfg, n, &ev);
        cr_assert_eq(ev.invalid, NEXMARK_VALID);
        if (ev.kind == NEXMARK_AUCTION) {
            const nexmark_auction_t *a = &ev.auction;

            cr_assert(a->initial_bid >= 100 && a->initial_bid <= 100000000);
            cr_assert_geq(a->reserve, a->initial_bid + 100);
            cr_assert_gt(a->expires, ev.date_time);
            cr_assert(a->category >= NEXMARK_FIRST_CATEGORY_ID &&
                      a->category < NEXMARK_FIRST_CATEGORY_ID + NEXMARK_NUM_CATEGORIES);
            cr_assert(a->item_name_len >= 3 && a->item_name_len <= 19);
            cr_assert(a->description_len >= 3 && a->description_len <= 99);
            cr_assert(a->item_name[0] != ' ' && a->item_name[a->item_name_len - 1] != ' ');
            length_sum += (double)(a->expires - ev.date_time);
            auctions++;
        } else if (ev.kind == NEXMARK_BID) {
            cr_assert(ev.bid.price >= 100 && ev.bid.price <= 100000000);
            cr_assert_eq(strncmp(ev.bid.url, "https://www.nexmark.com/", 24), 0);
            cr_assert_eq(strlen(ev.bid.url), ev.bid.url_len);
            hot_channels += strncmp(ev.bid.channel, "channel-", 8) != 0;
            bids++;
        } else {
            cr_assert_eq(strlen(ev.person.credit_card), 19);
            cr_assert_neq(strchr(ev.person.email, '@'), NULL);
        }
    }
    /* Lengths are uniform in [1, 2 * horizon]; horizon = time of 100 * 50 / 3 events. */
    {
        double horizon = (double)(nexmark_event_time(&cfg, 1666) - nexmark_event_time(&cfg, 0));
        double mean = length_sum / (double)auctions;

        cr_assert(mean > 0.9 * horizon && mean < 1.1 * horizon, "mean length %.1f ms", mean);
    }
    cr_assert(hot_channels > 0.45 * bids && hot_channels < 0.55 * bids);
}

Test(topologies_nexmark, same_channel_same_url_when_seeds_differ) {
    nexmark_config_t a = defaults(), b = defaults();
    uint64_t n;
    int compared = 0;

    b.seed = 99;
    for (n = 4; n < 20000 && compared < 50; n++) {
        nexmark_event_t x, y;
        uint64_t m;

        nexmark_event_at(&a, n, &x);
        if (x.kind != NEXMARK_BID)
            continue;
        for (m = 4; m < 20000; m++) {
            nexmark_event_at(&b, m, &y);
            if (y.kind == NEXMARK_BID && !strcmp(x.bid.channel, y.bid.channel)) {
                cr_assert_str_eq(x.bid.url, y.bid.url);
                compared++;
                break;
            }
        }
    }
    cr_assert_gt(compared, 10);
}

Test(topologies_nexmark, sizes_near_targets_when_defaults_or_set) {
    const uint32_t targets[2][3] = {{200, 500, 100}, {1000, 3000, 400}};
    int t, k;

    for (t = 0; t < 2; t++) {
        nexmark_config_t cfg = defaults();
        double size[NEXMARK_KIND_CNT] = {0}, json[NEXMARK_KIND_CNT] = {0};
        uint64_t cnt[NEXMARK_KIND_CNT] = {0}, n;
        rill_buf_t buf = {0};

        cfg.avg_person_bytes = targets[t][0];
        cfg.avg_auction_bytes = targets[t][1];
        cfg.avg_bid_bytes = targets[t][2];
        for (n = 0; n < SAMPLE; n++) {
            nexmark_event_t ev;

            nexmark_event_at(&cfg, n, &ev);
            rill_buf_reset(&buf);
            nexmark_event_json(&ev, &buf);
            size[ev.kind] += (double)nexmark_event_size(&ev);
            json[ev.kind] += (double)buf.len;
            cnt[ev.kind]++;
        }
        for (k = 0; k < NEXMARK_KIND_CNT; k++) {
            double avg = size[k] / (double)cnt[k];

            cr_assert(avg > 0.85 * targets[t][k] && avg < 1.15 * targets[t][k],
                      "%s: average %.1f, target %u", nexmark_kind_name(k), avg, targets[t][k]);
            cr_log_info("%s: NEXMark size %.1f (target %u), JSON %.1f bytes", nexmark_kind_name(k),
                        avg, targets[t][k], json[k] / (double)cnt[k]);
        }
        rill_buf_free(&buf);
    }
}

Test(topologies_nexmark, event_time_follows_rate_when_rate_set) {
    nexmark_config_t cfg = defaults();
    uint64_t n;

    cfg.rate = 3;
    cfg.base_time_ms = 1000000;
    for (n = 0; n < 1000; n++) {
        nexmark_event_t ev;

        nexmark_event_at(&cfg, n, &ev);
        cr_assert_eq(ev.gen_time, 1000000 + (int64_t)(n * 1000 / 3));
        cr_assert_eq(ev.date_time, ev.gen_time);
    }
    cfg.rate = 1000000000;
    cr_assert_eq(nexmark_event_time(&cfg, UINT64_C(4000000000000000000)),
                 1000000 + INT64_C(4000000000000));
}

Test(topologies_nexmark, date_time_within_bound_and_rest_unchanged_when_ooo) {
    nexmark_config_t cfg = defaults(), plain = defaults();
    int64_t max_shift = 0, prev_gen = INT64_MIN;
    double shift_sum = 0;
    uint64_t n;

    cfg.ooo_ms = 2000;
    for (n = 0; n < SAMPLE; n++) {
        nexmark_event_t ev, base;
        int64_t shift;

        nexmark_event_at(&cfg, n, &ev);
        nexmark_event_at(&plain, n, &base);
        shift = ev.gen_time - ev.date_time;
        cr_assert(shift >= 0 && shift <= cfg.ooo_ms, "shift %lld", (long long)shift);
        cr_assert_geq(ev.gen_time, prev_gen);
        prev_gen = ev.gen_time;
        cr_assert_eq(ev.gen_time, base.date_time);
        max_shift = shift > max_shift ? shift : max_shift;
        shift_sum += (double)shift;
        /* Only the times move. */
        cr_assert_eq(ev.extra, base.extra);
        if (ev.kind == NEXMARK_AUCTION) {
            cr_assert_eq(ev.auction.expires - ev.date_time, base.auction.expires - base.date_time);
            cr_assert_eq(ev.auction.reserve, base.auction.reserve);
            cr_assert_str_eq(ev.auction.description, base.auction.description);
        } else if (ev.kind == NEXMARK_BID) {
            cr_assert_eq(ev.bid.price, base.bid.price);
            cr_assert_eq(ev.bid.auction, base.bid.auction);
        }
    }
    cr_assert_geq(max_shift, 1990);
    cr_assert(shift_sum / SAMPLE > 900 && shift_sum / SAMPLE < 1100);
}

Test(topologies_nexmark, json_fields_named_in_order_when_written) {
    nexmark_config_t cfg = defaults();
    rill_buf_t buf = {0};
    uint64_t n;

    for (n = 0; n < 500; n++) {
        nexmark_event_t ev;
        struct json_object *obj, *v;
        int idx = 0;

        nexmark_event_at(&cfg, n, &ev);
        rill_buf_reset(&buf);
        cr_assert_eq(nexmark_event_json(&ev, &buf), 0);
        cr_assert_eq(strlen(buf.data), buf.len);
        obj = json_tokener_parse(buf.data);
        cr_assert_not_null(obj, "%s", buf.data);
        json_object_object_foreach(obj, name, val) {
            (void)val;
            cr_assert_str_eq(name, nexmark_field_name(ev.kind, idx), "field %d of %s", idx,
                             buf.data);
            idx++;
        }
        cr_assert_eq(idx, nexmark_field_count(ev.kind));
        cr_assert(json_object_object_get_ex(obj, "dateTime", &v));
        cr_assert_eq(json_object_get_int64(v), ev.date_time);
        cr_assert(json_object_object_get_ex(obj, "extra", &v));
        cr_assert_eq((size_t)json_object_get_string_len(v), ev.extra_len);
        if (ev.kind == NEXMARK_BID) {
            cr_assert(json_object_object_get_ex(obj, "price", &v));
            cr_assert_eq(json_object_get_int64(v), ev.bid.price);
            cr_assert(json_object_object_get_ex(obj, "url", &v));
            cr_assert_str_eq(json_object_get_string(v), ev.bid.url);
        } else if (ev.kind == NEXMARK_PERSON) {
            cr_assert(json_object_object_get_ex(obj, "name", &v));
            cr_assert_str_eq(json_object_get_string(v), ev.person.name);
        }
        cr_assert_eq(judge(ev.kind, buf.data), NEXMARK_VALID);
        json_object_put(obj);
    }
    rill_buf_free(&buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Invalid events                                                                           */

Test(topologies_nexmark, invalid_share_and_kind_as_documented_when_fraction_set) {
    nexmark_config_t cfg = defaults();
    uint64_t eligible = 0, invalid = 0, ways[2][NEXMARK_INVALID_NOT_JSON + 1] = {{0}}, n;
    rill_buf_t buf = {0};
    int w;

    cfg.invalid_fraction = 0.1;
    for (n = 0; n < 2 * SAMPLE; n++) {
        nexmark_event_t ev;
        nexmark_invalid_t verdict;

        nexmark_event_at(&cfg, n, &ev);
        rill_buf_reset(&buf);
        cr_assert_eq(nexmark_event_json(&ev, &buf), 0);
        verdict = judge(ev.kind, buf.data);
        cr_assert_eq(verdict, ev.invalid, "event %llu (%s, %s): %s", (unsigned long long)n,
                     nexmark_kind_name(ev.kind), nexmark_invalid_name(ev.invalid), buf.data);
        if (ev.kind == NEXMARK_PERSON) {
            cr_assert_eq(ev.invalid, NEXMARK_VALID);
            continue;
        }
        eligible++;
        if (ev.invalid == NEXMARK_VALID)
            continue;
        invalid++;
        ways[ev.kind == NEXMARK_BID][ev.invalid]++;
        if (ev.invalid == NEXMARK_INVALID_MISSING_FIELD) {
            const char *name = nexmark_field_name(ev.kind, ev.missing_field);
            char quoted[64];

            cr_assert_not_null(name);
            cr_assert_str_neq(name, "extra");
            snprintf(quoted, sizeof(quoted), "\"%s\":", name);
            cr_assert_null(strstr(buf.data, quoted), "%s", buf.data);
        }
    }
    cr_assert(invalid > 0.09 * eligible && invalid < 0.11 * eligible, "%llu of %llu",
              (unsigned long long)invalid, (unsigned long long)eligible);
    for (w = NEXMARK_INVALID_MISSING_FIELD; w <= NEXMARK_INVALID_NOT_JSON; w++) {
        int bid_way = w == NEXMARK_INVALID_MISSING_FIELD || w == NEXMARK_INVALID_NEGATIVE_PRICE ||
                      w == NEXMARK_INVALID_NOT_JSON;

        cr_assert_gt(ways[0][w], 100, "auctions %s", nexmark_invalid_name(w));
        if (bid_way)
            cr_assert_gt(ways[1][w], 1000, "bids %s", nexmark_invalid_name(w));
        else
            cr_assert_eq(ways[1][w], 0, "bids %s", nexmark_invalid_name(w));
    }
    rill_buf_free(&buf);
}

Test(topologies_nexmark, all_or_none_invalid_when_fraction_one_or_zero) {
    nexmark_config_t all = defaults(), none = defaults();
    uint64_t n;

    all.invalid_fraction = 1.0;
    for (n = 0; n < 5000; n++) {
        nexmark_event_t a, b;

        nexmark_event_at(&all, n, &a);
        nexmark_event_at(&none, n, &b);
        cr_assert_eq(a.invalid != NEXMARK_VALID, a.kind != NEXMARK_PERSON);
        cr_assert_eq(b.invalid, NEXMARK_VALID);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The CLI's files                                                                          */

/* The path of rill-nexmark, beside this test in the build tree (build/tests/..). */
static void cli_path(char *out, size_t size) {
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

    cr_assert_gt(len, 0);
    self[len] = '\0';
    snprintf(out, size, "%s/../topologies/nexmark/rill-nexmark", dirname(self));
    cr_assert_eq(access(out, X_OK), 0, "%s is not built", out);
}

static void run_cli(const char *cli, const char *args, const char *dir) {
    char cmd[2 * PATH_MAX];

    snprintf(cmd, sizeof(cmd),
             "'%s' --quiet --seed 5 --invalid 0.1 --ooo-ms 20 %s --out-dir '%s' "
             "2>/dev/null",
             cli, args, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Reads dir/name whole into buf. */
static void slurp(const char *dir, const char *name, rill_buf_t *buf) {
    char path[PATH_MAX], chunk[65536];
    FILE *fp;
    size_t got;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "r");
    cr_assert_not_null(fp, "%s", path);
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cr_assert_eq(rill_buf_append(buf, chunk, got), 0);
    fclose(fp);
}

Test(topologies_nexmark, cli_files_match_library_when_written_whole_or_resumed) {
    static const char *const names[] = {"persons.jsonl", "auctions.jsonl", "bids.jsonl"};
    char cli[PATH_MAX], whole[] = "/tmp/nexmark-test-XXXXXX", cmd[PATH_MAX + 16];
    char first[PATH_MAX], rest[PATH_MAX];
    nexmark_config_t cfg = defaults();
    rill_buf_t expect[NEXMARK_KIND_CNT] = {{0}}, line = {0};
    uint64_t n;
    int k;

    cli_path(cli, sizeof(cli));
    cr_assert_not_null(mkdtemp(whole));
    snprintf(first, sizeof(first), "%s/first", whole);
    snprintf(rest, sizeof(rest), "%s/rest", whole);
    run_cli(cli, "--events 3000", whole);
    run_cli(cli, "--events 1100", first);
    run_cli(cli, "--events 1900 --first-event 1100", rest);
    cfg.seed = 5;
    cfg.invalid_fraction = 0.1;
    cfg.ooo_ms = 20;
    for (n = 0; n < 3000; n++) {
        render(&cfg, n, &line);
        k = (int)nexmark_kind_of(n);
        cr_assert_eq(rill_buf_append(&expect[k], line.data, line.len), 0);
        cr_assert_eq(rill_buf_append(&expect[k], "\n", 1), 0);
    }
    for (k = 0; k < NEXMARK_KIND_CNT; k++) {
        rill_buf_t got = {0}, parts = {0};

        slurp(whole, names[k], &got);
        slurp(first, names[k], &parts);
        slurp(rest, names[k], &parts);
        cr_assert_eq(got.len, expect[k].len, "%s", names[k]);
        cr_assert_eq(memcmp(got.data, expect[k].data, got.len), 0, "%s", names[k]);
        cr_assert_eq(parts.len, got.len, "%s", names[k]);
        cr_assert_eq(memcmp(parts.data, got.data, got.len), 0, "%s resumed", names[k]);
        rill_buf_free(&got);
        rill_buf_free(&parts);
        rill_buf_free(&expect[k]);
    }
    rill_buf_free(&line);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", whole);
    cr_assert_eq(system(cmd), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Config and speed                                                                         */

Test(topologies_nexmark, config_refused_when_out_of_range) {
    nexmark_config_t cfg;
    char errstr[256];

    cfg = defaults();
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), 0);
    cfg.rate = 0;
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), -1);
    cr_assert_neq(strstr(errstr, "rate"), NULL);
    cfg = defaults();
    cfg.invalid_fraction = 1.5;
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), -1);
    cfg = defaults();
    cfg.ooo_ms = -1;
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), -1);
    cfg = defaults();
    cfg.hot_bidders_ratio = 0;
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), -1);
    cfg = defaults();
    cfg.avg_auction_bytes = NEXMARK_MAX_AVG_BYTES + 1;
    cr_assert_eq(nexmark_config_check(&cfg, errstr, sizeof(errstr)), -1);
    /* An unchecked all-zero config must still not crash (no division by zero). */
    {
        nexmark_config_t zero;
        nexmark_event_t ev;
        uint64_t n;

        memset(&zero, 0, sizeof(zero));
        for (n = 0; n < 200; n++)
            nexmark_event_at(&zero, n, &ev);
    }
}

Test(topologies_nexmark, generation_rate_logged_when_json_written) {
    nexmark_config_t cfg = defaults();
    rill_buf_t buf = {0};
    clock_t t0 = clock();
    uint64_t n, bytes = 0;
    double s;

    for (n = 0; n < 1000000; n++) {
        nexmark_event_t ev;

        nexmark_event_at(&cfg, n, &ev);
        rill_buf_reset(&buf);
        nexmark_event_json(&ev, &buf);
        bytes += buf.len;
    }
    s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cr_log_info("generated 1M events (%.0f MB of JSON) in %.3f s of CPU: %.0f events/s",
                (double)bytes / 1e6, s, 1e6 / s);
    cr_assert_gt(bytes, 0);
    rill_buf_free(&buf);
}
