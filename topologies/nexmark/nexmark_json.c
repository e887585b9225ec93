/*
 * nexmark_json.c — writes NEXMark events as JSON and as Kafka keys, and names their fields,
 * kinds and ways of being invalid.
 *
 * DESIGN
 * The writer is hand-rolled for speed (it must never be what limits a benchmark): an event's
 * fields but the padding go into a small stack buffer in one pass, then the buffer, the
 * padding and the closing bytes are appended to the caller's rill_buf_t, which allocates only
 * when it must grow. No escaping is needed: the generator makes only letters, digits,
 * spaces and URL punctuation. The field tables below are the one place that fixes names and
 * order; an invalid event's missing field is an index into them.
 */
#include "nexmark.h"
#include "nexmark_int.h"

#include <string.h>

typedef struct field_s {
    const char *name;
    const char *quoted; /* "\"name\":" */
    size_t quoted_len;
} field_t;

#define FIELD(n)                                                                                   \
    { n, "\"" n "\":", sizeof(n) + 2 }

static const field_t person_fields[] = {FIELD("id"),         FIELD("name"), FIELD("emailAddress"),
                                        FIELD("creditCard"), FIELD("city"), FIELD("state"),
                                        FIELD("dateTime"),   FIELD("extra")};
static const field_t auction_fields[] = {
    FIELD("id"),       FIELD("itemName"), FIELD("description"), FIELD("initialBid"),
    FIELD("reserve"),  FIELD("dateTime"), FIELD("expires"),     FIELD("seller"),
    FIELD("category"), FIELD("extra")};
static const field_t bid_fields[] = {FIELD("auction"), FIELD("bidder"), FIELD("price"),
                                     FIELD("channel"), FIELD("url"),    FIELD("dateTime"),
                                     FIELD("extra")};

static const struct {
    const field_t *fields;
    int count;
} kinds[NEXMARK_KIND_CNT] = {
    {person_fields, (int)(sizeof(person_fields) / sizeof(person_fields[0]))},
    {auction_fields, (int)(sizeof(auction_fields) / sizeof(auction_fields[0]))},
    {bid_fields, (int)(sizeof(bid_fields) / sizeof(bid_fields[0]))},
};

/* Bytes the stack buffer needs at most: names (< 120), 7 numbers (< 140), strings (< 260). */
#define HEAD_MAX 768

int nexmark_field_count(nexmark_kind_t kind) {
    return (unsigned)kind < NEXMARK_KIND_CNT ? kinds[kind].count : 0;
}

const char *nexmark_field_name(nexmark_kind_t kind, int idx) {
    if ((unsigned)kind >= NEXMARK_KIND_CNT || idx < 0 || idx >= kinds[kind].count)
        return NULL;
    return kinds[kind].fields[idx].name;
}

const char *nexmark_kind_name(nexmark_kind_t kind) {
    static const char *const names[] = {"person", "auction", "bid"};

    return (unsigned)kind < NEXMARK_KIND_CNT ? names[kind] : "unknown";
}

const char *nexmark_invalid_name(nexmark_invalid_t invalid) {
    static const char *const names[] = {"valid",
                                        "missing_field",
                                        "negative_price",
                                        "reserve_below_initial",
                                        "expires_not_after_datetime",
                                        "not_json"};

    return (unsigned)invalid <= NEXMARK_INVALID_NOT_JSON ? names[invalid] : "unknown";
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                  */

static char *put_i64(char *p, int64_t v) {
    if (v < 0) {
        *p++ = '-';
        return nexmark__put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return nexmark__put_u64(p, (uint64_t)v);
}

static char *put_str(char *p, const char *s, size_t len) {
    *p++ = '"';
    memcpy(p, s, len);
    p += len;
    *p++ = '"';
    return p;
}

/* Writes the value of field idx of a person. */
static char *put_person(char *p, const nexmark_event_t *ev, int idx) {
    const nexmark_person_t *o = &ev->person;

    switch (idx) {
    case 0:
        return put_i64(p, o->id);
    case 1:
        return put_str(p, o->name, o->name_len);
    case 2:
        return put_str(p, o->email, o->email_len);
    case 3:
        return put_str(p, o->credit_card, 19);
    case 4:
        return put_str(p, o->city, strlen(o->city));
    case 5:
        return put_str(p, o->state, strlen(o->state));
    default:
        return put_i64(p, ev->date_time);
    }
}

static char *put_auction(char *p, const nexmark_event_t *ev, int idx) {
    const nexmark_auction_t *o = &ev->auction;

    switch (idx) {
    case 0:
        return put_i64(p, o->id);
    case 1:
        return put_str(p, o->item_name, o->item_name_len);
    case 2:
        return put_str(p, o->description, o->description_len);
    case 3:
        return put_i64(p, o->initial_bid);
    case 4:
        return put_i64(p, o->reserve);
    case 5:
        return put_i64(p, ev->date_time);
    case 6:
        return put_i64(p, o->expires);
    case 7:
        return put_i64(p, o->seller);
    default:
        return put_i64(p, o->category);
    }
}

static char *put_bid(char *p, const nexmark_event_t *ev, int idx) {
    const nexmark_bid_t *o = &ev->bid;

    switch (idx) {
    case 0:
        return put_i64(p, o->auction);
    case 1:
        return put_i64(p, o->bidder);
    case 2:
        return put_i64(p, o->price);
    case 3:
        return put_str(p, o->channel, o->channel_len);
    case 4:
        return put_str(p, o->url, o->url_len);
    default:
        return put_i64(p, ev->date_time);
    }
}

int nexmark_event_json(const nexmark_event_t *ev, rill_buf_t *buf) {
    char head[HEAD_MAX];
    char *p = head;
    const field_t *fields;
    int count, idx, first = 1;
    size_t start = buf->len;

    if ((unsigned)ev->kind >= NEXMARK_KIND_CNT)
        return -1;
    fields = kinds[ev->kind].fields;
    count = kinds[ev->kind].count;
    *p++ = '{';
    for (idx = 0; idx < count - 1; idx++) { /* every field but "extra", the last */
        if (idx == ev->missing_field)
            continue;
        if (!first)
            *p++ = ',';
        first = 0;
        memcpy(p, fields[idx].quoted, fields[idx].quoted_len);
        p += fields[idx].quoted_len;
        if (ev->kind == NEXMARK_PERSON)
            p = put_person(p, ev, idx);
        else if (ev->kind == NEXMARK_AUCTION)
            p = put_auction(p, ev, idx);
        else
            p = put_bid(p, ev, idx);
    }
    memcpy(p, ",\"extra\":\"", 10);
    p += 10;
    if (rill_buf_append(buf, head, (size_t)(p - head)) != 0 ||
        rill_buf_append(buf, ev->extra, ev->extra_len) != 0 || rill_buf_append(buf, "\"}", 2) != 0)
        return -1;
    if (ev->invalid == NEXMARK_INVALID_NOT_JSON) {
        buf->len = start + (buf->len - start) / 2;
        buf->data[buf->len] = '\0';
    }
    return 0;
}

size_t nexmark_event_key(const nexmark_event_t *ev, char *key) {
    int64_t id = ev->kind == NEXMARK_PERSON    ? ev->person.id
                 : ev->kind == NEXMARK_AUCTION ? ev->auction.id
                                               : ev->bid.auction;
    char *end = put_i64(key, id);

    *end = '\0';
    return (size_t)(end - key);
}
