/*
 * nexmark.h — Rill's NEXMark event generator: Person, Auction and Bid events by the rules of
 * the NEXMark benchmark's generator (Apache Beam's, as ported by Flink's nexmark project),
 * written as JSON. A library (rill_nexmark) shared by the rill-nexmark CLI, the tests, the
 * benchmarks and the auction showcase.
 *
 * Conventions
 *  1. An event is a pure function of (config, event number). Event n can be made without
 *     making events 0..n-1 first, so a run can be resumed at any event number and split over
 *     threads or processes by ranges of event numbers; the same seed and range always give
 *     the same bytes.
 *  2. Event numbers decide the kind: of every 50 consecutive events (n % 50), the first is a
 *     person, the next 3 are auctions and the last 46 are bids.
 *  3. Ids: person id = 1000 + persons before event n; auction id = 1000 + auctions before it.
 *     Sellers and bidders refer to persons, bids to auctions, as NEXMark chooses them: mostly
 *     "hot" ones, else a recent one, possibly up to id_lead ids ahead of the newest (NEXMark
 *     lets a bid or auction name a person or auction that is created a few events later; set
 *     id_lead to 0 for strict references to existing ones).
 *  4. Times are epoch milliseconds, prices integer cents. Event time advances by 1000/rate ms
 *     per event from base_time_ms; with ooo_ms > 0 each event's dateTime is moved back by a
 *     deterministic amount in [0, ooo_ms] while events keep their generation order.
 *  5. Nothing here allocates or blocks (a fixed pool of padding letters is made once, on
 *     the first event); every call is thread-safe (the config is only read).
 */
#ifndef NEXMARK_H
#define NEXMARK_H

#include <rill.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NEXMARK_FIRST_PERSON_ID 1000
#define NEXMARK_FIRST_AUCTION_ID 1000
#define NEXMARK_FIRST_CATEGORY_ID 10
#define NEXMARK_NUM_CATEGORIES 5

/* Of every NEXMARK_PROPORTION_DENOMINATOR events: persons, then auctions, then bids. */
#define NEXMARK_PERSON_PROPORTION 1
#define NEXMARK_AUCTION_PROPORTION 3
#define NEXMARK_BID_PROPORTION 46
#define NEXMARK_PROPORTION_DENOMINATOR 50

/* Event time of event 0 by default: 2015-07-15T00:00:00Z, NEXMark's customary base time. */
#define NEXMARK_DEFAULT_BASE_TIME_MS INT64_C(1436918400000)

/* The largest average event size a config may ask for. */
#define NEXMARK_MAX_AVG_BYTES 65536

/* Room for the decimal key of any event, with its NUL. */
#define NEXMARK_KEY_MAX 24

typedef enum nexmark_kind_e {
    NEXMARK_PERSON = 0,
    NEXMARK_AUCTION = 1,
    NEXMARK_BID = 2
} nexmark_kind_t;

#define NEXMARK_KIND_CNT 3

/*
 * How an invalid event is broken (only auctions and bids are ever made invalid; the share is
 * nexmark_config_t.invalid_fraction). Each invalid event is broken in exactly one way:
 *   MISSING_FIELD   one field other than "extra" (ev.missing_field, see nexmark_field_name())
 *                   is left out of the JSON;
 *   NEGATIVE_PRICE  the auction's initialBid, or the bid's price, is negated (< 0);
 *   RESERVE_BELOW_INITIAL  (auctions) reserve = initialBid / 2, so reserve < initialBid;
 *   EXPIRES_NOT_AFTER_DATETIME  (auctions) expires = dateTime - (length - 1) <= dateTime;
 *   NOT_JSON        the record is the first half of the event's JSON: never valid JSON.
 * The key stays the event's key. Bids are broken only in the first, second and last ways.
 */
typedef enum nexmark_invalid_e {
    NEXMARK_VALID = 0,
    NEXMARK_INVALID_MISSING_FIELD,
    NEXMARK_INVALID_NEGATIVE_PRICE,
    NEXMARK_INVALID_RESERVE_BELOW_INITIAL,
    NEXMARK_INVALID_EXPIRES_NOT_AFTER_DATETIME,
    NEXMARK_INVALID_NOT_JSON
} nexmark_invalid_t;

/*
 * What to generate. Fill it with nexmark_config_init() (NEXMark's defaults), change what you
 * need, and check it with nexmark_config_check() before the first event.
 */
typedef struct nexmark_config_s {
    uint64_t seed;                   /* 1 */
    int64_t base_time_ms;            /* NEXMARK_DEFAULT_BASE_TIME_MS: event time of event 0 */
    uint64_t rate;                   /* 10000: events per second of event time (>= 1) */
    int64_t ooo_ms;                  /* 0: largest backward shift of an event's dateTime */
    double invalid_fraction;         /* 0: share of auctions and bids made invalid, [0, 1] */
    uint32_t num_in_flight_auctions; /* 100: recent auctions bids choose from; sets lengths */
    uint32_t num_active_people;      /* 1000: recent persons sellers and bidders come from */
    uint32_t hot_auction_ratio;      /* 2: P(bid on a hot auction) = 1 - 1/ratio */
    uint32_t hot_sellers_ratio;      /* 4: P(auction by a hot seller) = 1 - 1/ratio */
    uint32_t hot_bidders_ratio;      /* 4: P(bid by a hot bidder) = 1 - 1/ratio */
    uint32_t id_lead;                /* 10: how far past the newest id a random pick may go */
    uint32_t avg_person_bytes;       /* 200: average size by NEXMark's count (see below) */
    uint32_t avg_auction_bytes;      /* 500 */
    uint32_t avg_bid_bytes;          /* 100 */
} nexmark_config_t;

/* Fills cfg with NEXMark's defaults (the values in the comments above). */
void nexmark_config_init(nexmark_config_t *cfg);

/* Returns 0 when cfg is usable, else -1 with a message naming the bad field in errstr. */
int nexmark_config_check(const nexmark_config_t *cfg, char *errstr, size_t errstr_size);

typedef struct nexmark_person_s {
    int64_t id;
    char name[24];        /* "First Last" from fixed lists */
    char email[24];       /* random "xxxx@yyy.com" */
    char credit_card[20]; /* "dddd dddd dddd dddd" */
    const char *city;     /* from a fixed list of 10 US cities (static) */
    const char *state;    /* from AZ, CA, ID, OR, WA, WY (static) */
    uint8_t name_len, email_len;
} nexmark_person_t;

typedef struct nexmark_auction_s {
    int64_t id;
    char item_name[24];    /* random, 3..19 characters */
    char description[104]; /* random, 3..99 characters */
    int64_t initial_bid;   /* cents */
    int64_t reserve;       /* cents, initial_bid + a price */
    int64_t expires;       /* epoch ms, > date_time */
    int64_t seller;        /* a person id */
    int64_t category;      /* 10..14 */
    uint8_t item_name_len, description_len;
} nexmark_auction_t;

typedef struct nexmark_bid_s {
    int64_t auction;  /* an auction id */
    int64_t bidder;   /* a person id */
    int64_t price;    /* cents */
    char channel[16]; /* "Google", "Facebook", "Baidu", "Apple" or "channel-<0..9999>" */
    char url[96];     /* "https://www.nexmark.com/a/b/c/item.htm?query=1[&channel_id=N]" */
    uint8_t channel_len, url_len;
} nexmark_bid_t;

/* One event. Strings are NUL-terminated; extra points into a static pool (not terminated). */
typedef struct nexmark_event_s {
    nexmark_kind_t kind;
    uint64_t number;   /* the event number */
    int64_t date_time; /* epoch ms: the event's time after the out-of-order shift */
    int64_t gen_time;  /* epoch ms: the event's place on the timeline, before the shift */
    nexmark_invalid_t invalid;
    int missing_field; /* NEXMARK_INVALID_MISSING_FIELD: index of the field left out, else -1 */
    const char *extra; /* padding: random letters */
    size_t extra_len;
    union {
        nexmark_person_t person;
        nexmark_auction_t auction;
        nexmark_bid_t bid;
    };
} nexmark_event_t;

/* The kind of event number n. */
nexmark_kind_t nexmark_kind_of(uint64_t n);

/* The id of the newest person (auction) made at or before event n, without the first id's
 * offset: -1 when there is none yet. Event n's own id when it is a person (auction). */
int64_t nexmark_last_base0_person(uint64_t n);
int64_t nexmark_last_base0_auction(uint64_t n);

/* The event time of event n before any out-of-order shift: base_time_ms + n * 1000 / rate. */
int64_t nexmark_event_time(const nexmark_config_t *cfg, uint64_t n);

/*
 * Makes event number n into *ev. cfg must have passed nexmark_config_check(). Allocates
 * nothing. Thread-safe.
 */
void nexmark_event_at(const nexmark_config_t *cfg, uint64_t n, nexmark_event_t *ev);

/*
 * Appends ev as one JSON object (no newline) to buf; for NEXMARK_INVALID_NOT_JSON, the first
 * half of it. Field names and order:
 *   Person  {id, name, emailAddress, creditCard, city, state, dateTime, extra}
 *   Auction {id, itemName, description, initialBid, reserve, dateTime, expires, seller,
 *            category, extra}
 *   Bid     {auction, bidder, price, channel, url, dateTime, extra}
 * Every string is plain ASCII that needs no escaping. Allocates only when buf must grow.
 * Returns 0, or -1 when memory ran out (buf may then hold part of the event).
 */
int nexmark_event_json(const nexmark_event_t *ev, rill_buf_t *buf);

/* Writes ev's key, the decimal id Kafka partitions it by (person: id, auction: id, bid: its
 * auction), NUL-terminated, to key (NEXMARK_KEY_MAX bytes). Returns its length. */
size_t nexmark_event_key(const nexmark_event_t *ev, char *key);

/*
 * ev's size by NEXMark's own count, which the avg_*_bytes settings aim at: 8 bytes per
 * number or time plus the lengths of the strings. Channel and url are not counted (as in
 * Flink's port). The JSON is larger: names, quotes and decimal digits.
 */
size_t nexmark_event_size(const nexmark_event_t *ev);

/* Number of JSON fields of kind, and the name of field idx (NULL when out of range). */
int nexmark_field_count(nexmark_kind_t kind);
const char *nexmark_field_name(nexmark_kind_t kind, int idx);

/* Static names: "person", "auction", "bid"; "valid", "missing_field", "negative_price", ... */
const char *nexmark_kind_name(nexmark_kind_t kind);
const char *nexmark_invalid_name(nexmark_invalid_t invalid);

#ifdef __cplusplus
}
#endif

#endif /* NEXMARK_H */
