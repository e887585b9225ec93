/*
 * nexmark.c — makes NEXMark events: which kind event n is, its ids, references, prices,
 * times, strings and padding, and whether (and how) it is made invalid.
 *
 * DESIGN
 * The rules are NEXMark's (Apache Beam's generator, and Flink's port for the bid's channel
 * and url); see README.md for where this file chose where the reference left a choice.
 * Randomness: each event draws from its own splitmix64 stream whose start is a mix of
 * (seed, event number, purpose), so an event depends on nothing but the config and its
 * number. Three purposes keep three independent streams: the event's fields, its
 * out-of-order shift and its invalidity, so turning --ooo-ms or --invalid on changes only
 * what they are about, never the other fields. The padding ("extra") is a slice of a fixed
 * pool of random letters (as Flink's port does), made once per process under pthread_once;
 * afterwards everything here only reads shared data.
 */
#include "nexmark.h"
#include "nexmark_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* NEXMark's constants that are not settings. */
#define HOT_BATCH 100 /* hot sellers/bidders/auctions: first of each batch of 100 */
#define MIN_STRING_LENGTH 3
#define CHANNELS_NUMBER 10000 /* "channel-0" .. "channel-9999" */
#define HOT_CHANNELS_RATIO 2  /* P(hot channel) = 1 - 1/2 */

/* Purposes of the random streams of an event. */
#define STREAM_FIELDS UINT64_C(0x6669656c64730001)
#define STREAM_OOO UINT64_C(0x6f6f6f0000000002)
#define STREAM_INVALID UINT64_C(0x696e76616c696403)
#define CHANNEL_SALT UINT64_C(0x6368616e6e656c04)
#define POOL_SALT UINT64_C(0x706f6f6c00000005)

/* The padding pool: random letters; an extra is a slice of it at a random offset. */
#define POOL_SIZE (256 * 1024)

static char extra_pool[POOL_SIZE];
static pthread_once_t extra_pool_once = PTHREAD_ONCE_INIT;

static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};
static const char *const us_cities[] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                        "Portland", "Bend",        "Redmond",       "Seattle",
                                        "Kent",     "Cheyenne"};
static const char *const us_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* Random streams                                                                           */

typedef struct rng_s {
    uint64_t s;
} rng_t;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The stream of purpose for event n. mix64 is a bijection, so streams of distinct events
 * start at unrelated points of splitmix64's sequence. */
static inline rng_t rng_for(uint64_t seed, uint64_t n, uint64_t purpose) {
    rng_t r = {mix64(mix64(seed ^ purpose) ^ n)};
    return r;
}

static inline uint64_t rng_next(rng_t *r) {
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(r->s);
}

/* Uniform in [0, bound) (Lemire's multiply-shift; bias below 2^-40 for our bounds). */
static inline uint64_t rng_below(rng_t *r, uint64_t bound) {
    return (uint64_t)(((unsigned __int128)rng_next(r) * bound) >> 64);
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng_t *r) {
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------------------------------------- */
/* Config                                                                                   */

void nexmark_config_init(nexmark_config_t *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->base_time_ms = NEXMARK_DEFAULT_BASE_TIME_MS;
    cfg->rate = 10000;
    cfg->num_in_flight_auctions = 100;
    cfg->num_active_people = 1000;
    cfg->hot_auction_ratio = 2;
    cfg->hot_sellers_ratio = 4;
    cfg->hot_bidders_ratio = 4;
    cfg->id_lead = 10;
    cfg->avg_person_bytes = 200;
    cfg->avg_auction_bytes = 500;
    cfg->avg_bid_bytes = 100;
}

int nexmark_config_check(const nexmark_config_t *cfg, char *errstr, size_t errstr_size) {
    const char *bad = NULL;

    if (cfg->rate < 1)
        bad = "rate must be at least 1 event per second";
    else if (cfg->ooo_ms < 0)
        bad = "ooo_ms must not be negative";
    else if (!(cfg->invalid_fraction >= 0.0 && cfg->invalid_fraction <= 1.0))
        bad = "invalid_fraction must be between 0 and 1";
    else if (cfg->num_in_flight_auctions < 1 || cfg->num_active_people < 1)
        bad = "num_in_flight_auctions and num_active_people must be at least 1";
    else if (cfg->hot_auction_ratio < 1 || cfg->hot_sellers_ratio < 1 || cfg->hot_bidders_ratio < 1)
        bad = "hot_*_ratio must be at least 1 (1: nothing is hot)";
    else if (cfg->avg_person_bytes > NEXMARK_MAX_AVG_BYTES ||
             cfg->avg_auction_bytes > NEXMARK_MAX_AVG_BYTES ||
             cfg->avg_bid_bytes > NEXMARK_MAX_AVG_BYTES)
        bad = "avg_*_bytes must be at most 65536";
    else if (cfg->id_lead > 1000000)
        bad = "id_lead must be at most 1000000";
    if (!bad)
        return 0;
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "nexmark config: %s", bad);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Kinds, ids and times                                                                     */

nexmark_kind_t nexmark_kind_of(uint64_t n) {
    uint64_t off = n % NEXMARK_PROPORTION_DENOMINATOR;

    if (off < NEXMARK_PERSON_PROPORTION)
        return NEXMARK_PERSON;
    if (off < NEXMARK_PERSON_PROPORTION + NEXMARK_AUCTION_PROPORTION)
        return NEXMARK_AUCTION;
    return NEXMARK_BID;
}

int64_t nexmark_last_base0_person(uint64_t n) {
    uint64_t epoch = n / NEXMARK_PROPORTION_DENOMINATOR;
    uint64_t off = n % NEXMARK_PROPORTION_DENOMINATOR;

    if (off >= NEXMARK_PERSON_PROPORTION)
        off = NEXMARK_PERSON_PROPORTION - 1;
    return (int64_t)(epoch * NEXMARK_PERSON_PROPORTION + off);
}

int64_t nexmark_last_base0_auction(uint64_t n) {
    int64_t epoch = (int64_t)(n / NEXMARK_PROPORTION_DENOMINATOR);
    int64_t off = (int64_t)(n % NEXMARK_PROPORTION_DENOMINATOR);

    if (off < NEXMARK_PERSON_PROPORTION) { /* a person: the last auction of the epoch before */
        epoch--;
        off = NEXMARK_AUCTION_PROPORTION - 1;
    } else if (off >= NEXMARK_PERSON_PROPORTION + NEXMARK_AUCTION_PROPORTION) {
        off = NEXMARK_AUCTION_PROPORTION - 1; /* a bid: the last auction of this epoch */
    } else {
        off -= NEXMARK_PERSON_PROPORTION;
    }
    return epoch * NEXMARK_AUCTION_PROPORTION + off;
}

int64_t nexmark_event_time(const nexmark_config_t *cfg, uint64_t n) {
    uint64_t rate = cfg->rate ? cfg->rate : 1;

    /* n * 1000 / rate, exactly and without overflowing for any reachable n. */
    return cfg->base_time_ms + (int64_t)((n / rate) * 1000 + (n % rate) * 1000 / rate);
}

/* A random person id (base 0) among the active ones, plus up to id_lead not made yet. */
static int64_t next_base0_person(const nexmark_config_t *cfg, uint64_t n, rng_t *r) {
    int64_t num_people = nexmark_last_base0_person(n) + 1;
    int64_t active =
        num_people < (int64_t)cfg->num_active_people ? num_people : (int64_t)cfg->num_active_people;

    return num_people - active + (int64_t)rng_below(r, (uint64_t)active + cfg->id_lead);
}

/* A random auction id (base 0) among those likely in flight, plus up to id_lead ahead. */
static int64_t next_base0_auction(const nexmark_config_t *cfg, uint64_t n, rng_t *r) {
    int64_t max = nexmark_last_base0_auction(n);
    int64_t min = max - (int64_t)cfg->num_in_flight_auctions;

    if (min < 0)
        min = 0;
    return min + (int64_t)rng_below(r, (uint64_t)(max - min + 1) + cfg->id_lead);
}

/* NEXMark's price: 10^(6u) dollars/100, i.e. 1.00 to 1,000,000.00 in cents, log-uniform. */
static int64_t next_price(rng_t *r) {
    return (int64_t)llround(exp(rng_unit(r) * 6.0 * M_LN10) * 100.0);
}

/* An auction's length: uniform in [1, 2 * horizon], where the horizon is the event time
 * until num_in_flight_auctions more auctions are made, so about that many are open. */
static int64_t next_auction_length(const nexmark_config_t *cfg, uint64_t n, rng_t *r) {
    uint64_t ahead = (uint64_t)cfg->num_in_flight_auctions * NEXMARK_PROPORTION_DENOMINATOR /
                     NEXMARK_AUCTION_PROPORTION;
    int64_t horizon = nexmark_event_time(cfg, n + ahead) - nexmark_event_time(cfg, n);
    uint64_t span = horizon * 2 > 1 ? (uint64_t)horizon * 2 : 1;

    return 1 + (int64_t)rng_below(r, span);
}

/* ---------------------------------------------------------------------------------------- */
/* Strings                                                                                  */

/*
 * Writes a random string of MIN_STRING_LENGTH..max_len-1 characters to out (NUL-terminated)
 * and returns its length: lower-case letters, and with probability 1/13 each the special
 * character, which is never first or last (NEXMark trims it off the ends instead, which can
 * leave an empty name; here the length is what was drawn). Four characters per draw.
 */
static size_t next_string(rng_t *r, size_t max_len, char special, char *out) {
    size_t len = MIN_STRING_LENGTH + (size_t)rng_below(r, max_len - MIN_STRING_LENGTH);
    uint64_t bits = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        uint32_t c;

        if ((i & 3) == 0)
            bits = rng_next(r);
        c = (uint32_t)(((bits & 0xffff) * 338) >> 16); /* 338 = 13 * 26 */
        bits >>= 16;
        if (c < 26 && i > 0 && i + 1 < len)
            out[i] = special;
        else
            out[i] = (char)('a' + c % 26);
    }
    out[len] = '\0';
    return len;
}

static void extra_pool_fill(void) {
    rng_t r = {mix64(POOL_SALT)};
    size_t i;

    for (i = 0; i < POOL_SIZE; i += 8) {
        uint64_t bits = rng_next(&r);
        size_t j;

        for (j = 0; j < 8; j++, bits >>= 8)
            extra_pool[i + j] = (char)('a' + ((bits & 0xff) * 26 >> 8));
    }
}

/* NEXMark's padding: a length with mean (average - size) spread +-20%, or none when the
 * event is already as large as the average. */
static void next_extra(rng_t *r, size_t size, uint32_t average, nexmark_event_t *ev) {
    size_t want, delta, len;

    if (size >= average)
        return;
    want = average - size;
    delta = (want * 2 + 5) / 10; /* round(want * 0.2) */
    len = want - delta + (delta ? (size_t)rng_below(r, 2 * delta) : 0);
    ev->extra = extra_pool + rng_below(r, POOL_SIZE - len + 1);
    ev->extra_len = len;
}

/* The url of channel i (i >= CHANNELS_NUMBER: hot channel i - CHANNELS_NUMBER). It depends
 * on i alone, so a channel keeps its url across events, seeds and runs. Nine in ten ordinary
 * channels carry "&channel_id=", the absolute value of i's 32 bits reversed (Flink's rule). */
static void channel_url(uint32_t i, nexmark_bid_t *bid) {
    rng_t r = {mix64(CHANNEL_SALT ^ i)};
    char *p = bid->url;
    int k;

    memcpy(p, "https://www.nexmark.com/", 24);
    p += 24;
    for (k = 0; k < 3; k++) {
        p += next_string(&r, 5, '_', p);
        *p++ = '/';
    }
    memcpy(p, "item.htm?query=1", 16);
    p += 16;
    if (i < CHANNELS_NUMBER && rng_below(&r, 10) > 0) {
        uint32_t v = i, rev = 0;
        int64_t id;
        int b;

        for (b = 0; b < 32; b++, v >>= 1)
            rev = (rev << 1) | (v & 1);
        id = (int32_t)rev;
        memcpy(p, "&channel_id=", 12);
        p = nexmark__put_u64(p + 12, (uint64_t)(id < 0 ? -id : id));
    }
    *p = '\0';
    bid->url_len = (uint8_t)(p - bid->url);
}

/* ---------------------------------------------------------------------------------------- */
/* The three kinds                                                                          */

static void make_person(const nexmark_config_t *cfg, uint64_t n, rng_t *r, nexmark_event_t *ev) {
    nexmark_person_t *p = &ev->person;
    const char *first = first_names[rng_below(r, COUNT(first_names))];
    const char *last = last_names[rng_below(r, COUNT(last_names))];
    size_t len;
    int k;

    p->id = NEXMARK_FIRST_PERSON_ID + nexmark_last_base0_person(n);
    p->name_len = (uint8_t)snprintf(p->name, sizeof(p->name), "%s %s", first, last);
    len = next_string(r, 7, ' ', p->email);
    p->email[len++] = '@';
    len += next_string(r, 5, ' ', p->email + len);
    memcpy(p->email + len, ".com", 5);
    p->email_len = (uint8_t)(len + 4);
    for (k = 0; k < 4; k++) {
        unsigned d = (unsigned)rng_below(r, 10000);
        char *c = p->credit_card + k * 5;

        c[0] = (char)('0' + d / 1000);
        c[1] = (char)('0' + d / 100 % 10);
        c[2] = (char)('0' + d / 10 % 10);
        c[3] = (char)('0' + d % 10);
        c[4] = k < 3 ? ' ' : '\0';
    }
    p->city = us_cities[rng_below(r, COUNT(us_cities))];
    p->state = us_states[rng_below(r, COUNT(us_states))];
    next_extra(r, nexmark_event_size(ev), cfg->avg_person_bytes, ev);
}

static void make_auction(const nexmark_config_t *cfg, uint64_t n, rng_t *r, nexmark_event_t *ev) {
    nexmark_auction_t *a = &ev->auction;
    int64_t last_person = nexmark_last_base0_person(n);

    a->id = NEXMARK_FIRST_AUCTION_ID + nexmark_last_base0_auction(n);
    if (rng_below(r, cfg->hot_sellers_ratio) > 0)
        a->seller = last_person / HOT_BATCH * HOT_BATCH;
    else
        a->seller = next_base0_person(cfg, n, r);
    a->seller += NEXMARK_FIRST_PERSON_ID;
    a->category = NEXMARK_FIRST_CATEGORY_ID + (int64_t)rng_below(r, NEXMARK_NUM_CATEGORIES);
    a->initial_bid = next_price(r);
    a->expires = ev->date_time + next_auction_length(cfg, n, r);
    a->item_name_len = (uint8_t)next_string(r, 20, ' ', a->item_name);
    a->description_len = (uint8_t)next_string(r, 100, ' ', a->description);
    a->reserve = a->initial_bid + next_price(r);
    next_extra(r, nexmark_event_size(ev), cfg->avg_auction_bytes, ev);
}

static void make_bid(const nexmark_config_t *cfg, uint64_t n, rng_t *r, nexmark_event_t *ev) {
    nexmark_bid_t *b = &ev->bid;
    int64_t last_person = nexmark_last_base0_person(n);

    if (rng_below(r, cfg->hot_auction_ratio) > 0)
        b->auction = nexmark_last_base0_auction(n) / HOT_BATCH * HOT_BATCH;
    else
        b->auction = next_base0_auction(cfg, n, r);
    b->auction += NEXMARK_FIRST_AUCTION_ID;
    if (rng_below(r, cfg->hot_bidders_ratio) > 0) {
        /* The second person of the batch, so hot bidders and hot sellers differ. With no
         * lead allowed it is not taken before it exists. */
        b->bidder = last_person / HOT_BATCH * HOT_BATCH + 1;
        if (cfg->id_lead == 0 && b->bidder > last_person)
            b->bidder = last_person;
    } else {
        b->bidder = next_base0_person(cfg, n, r);
    }
    b->bidder += NEXMARK_FIRST_PERSON_ID;
    b->price = next_price(r);
    if (rng_below(r, HOT_CHANNELS_RATIO) > 0) {
        uint32_t k = (uint32_t)rng_below(r, COUNT(hot_channels));

        b->channel_len = (uint8_t)strlen(hot_channels[k]);
        memcpy(b->channel, hot_channels[k], b->channel_len + 1u);
        channel_url(CHANNELS_NUMBER + k, b);
    } else {
        uint32_t i = (uint32_t)rng_below(r, CHANNELS_NUMBER);

        memcpy(b->channel, "channel-", 8);
        b->channel_len = (uint8_t)(nexmark__put_u64(b->channel + 8, i) - b->channel);
        b->channel[b->channel_len] = '\0';
        channel_url(i, b);
    }
    next_extra(r, nexmark_event_size(ev), cfg->avg_bid_bytes, ev);
}

/* Decides from the event's own stream whether it is invalid, and breaks it if so. */
static void maybe_invalidate(const nexmark_config_t *cfg, uint64_t n, nexmark_event_t *ev) {
    static const nexmark_invalid_t bid_ways[] = {
        NEXMARK_INVALID_MISSING_FIELD, NEXMARK_INVALID_NEGATIVE_PRICE, NEXMARK_INVALID_NOT_JSON};
    rng_t r;

    if (ev->kind == NEXMARK_PERSON || cfg->invalid_fraction <= 0.0)
        return;
    r = rng_for(cfg->seed, n, STREAM_INVALID);
    if (rng_unit(&r) >= cfg->invalid_fraction)
        return;
    if (ev->kind == NEXMARK_AUCTION)
        ev->invalid = (nexmark_invalid_t)(1 + rng_below(&r, NEXMARK_INVALID_NOT_JSON));
    else
        ev->invalid = bid_ways[rng_below(&r, COUNT(bid_ways))];
    switch (ev->invalid) {
    case NEXMARK_INVALID_MISSING_FIELD: /* any field but the last, "extra" */
        ev->missing_field = (int)rng_below(&r, (uint64_t)nexmark_field_count(ev->kind) - 1);
        break;
    case NEXMARK_INVALID_NEGATIVE_PRICE:
        if (ev->kind == NEXMARK_AUCTION)
            ev->auction.initial_bid = -ev->auction.initial_bid;
        else
            ev->bid.price = -ev->bid.price;
        break;
    case NEXMARK_INVALID_RESERVE_BELOW_INITIAL: /* initial_bid >= 100: half is below it */
        ev->auction.reserve = ev->auction.initial_bid / 2;
        break;
    case NEXMARK_INVALID_EXPIRES_NOT_AFTER_DATETIME:
        ev->auction.expires = ev->date_time - (ev->auction.expires - ev->date_time - 1);
        break;
    default:
        break;
    }
}

void nexmark_event_at(const nexmark_config_t *cfg, uint64_t n, nexmark_event_t *ev) {
    rng_t r = rng_for(cfg->seed, n, STREAM_FIELDS);

    pthread_once(&extra_pool_once, extra_pool_fill);
    ev->kind = nexmark_kind_of(n);
    ev->number = n;
    ev->gen_time = nexmark_event_time(cfg, n);
    ev->date_time = ev->gen_time;
    if (cfg->ooo_ms > 0) {
        rng_t o = rng_for(cfg->seed, n, STREAM_OOO);

        ev->date_time -= (int64_t)rng_below(&o, (uint64_t)cfg->ooo_ms + 1);
    }
    ev->invalid = NEXMARK_VALID;
    ev->missing_field = -1;
    ev->extra = extra_pool;
    ev->extra_len = 0;
    switch (ev->kind) {
    case NEXMARK_PERSON:
        make_person(cfg, n, &r, ev);
        break;
    case NEXMARK_AUCTION:
        make_auction(cfg, n, &r, ev);
        break;
    default:
        make_bid(cfg, n, &r, ev);
        break;
    }
    maybe_invalidate(cfg, n, ev);
}

size_t nexmark_event_size(const nexmark_event_t *ev) {
    switch (ev->kind) {
    case NEXMARK_PERSON:
        return 8 + ev->person.name_len + ev->person.email_len + 19 + strlen(ev->person.city) +
               strlen(ev->person.state) + ev->extra_len;
    case NEXMARK_AUCTION:
        return 8 + ev->auction.item_name_len + ev->auction.description_len + 5 * 8 + ev->extra_len;
    default:
        return 4 * 8 + ev->extra_len;
    }
}
