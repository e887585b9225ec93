/*
 * rill_winner_app.c — the winning bid of each auction, by completion detection
 * (rill_stream_complete), over NEXMark auctions and bids in JSON; built on the public API
 * only. The completion crash tests run it as separate processes; the completion benchmark
 * (bench/completion_bench.c) compiles this file with WINNER_APP_NO_MAIN and runs the same
 * topology in its own process through winner_topology().
 *
 *   rill_winner_app --auctions T --bids T --output T --app-id ID [--grace-ms MS]
 *                   [--hold-ms MS] [common Rill flags]
 *
 * Topology: sources "auctions" and "bids" (string keys: the auction id; JSON values; event
 * time = the value's "dateTime") → rill_stream_complete "winner" (deadline = the auction's
 * "expires") → sink (output). Both topics must be keyed by auction id and co-partitioned, as
 * rill-nexmark writes them.
 *
 * The rule. A bid counts for its auction when auction.dateTime <= bid.dateTime < expires and
 * price >= reserve; the winner is the counted bid with the highest price, then the earliest
 * dateTime, then the lowest bidder id. When stream time reaches expires + grace (default
 * 5000 ms) the app writes, keyed by the auction id, with the expiry as timestamp:
 *     {"auction":<id>,"winner":<bidder>,"price":<cents>,"bids":<counted bids>}
 *     {"auction":<id>,"winner":null,"price":null,"bids":0}            (no bid counted)
 * compact, in this field order (<id> is written as a number when the key is a decimal
 * number, else as a JSON string). Bids may wait up to --hold-ms (default 60000) of stream
 * time for their auction (NEXMark bids can name an auction made a few events later).
 *
 * Bad input (an auction without an integer "expires", "reserve" or "dateTime", a bid without
 * "price", "bidder" or "dateTime") goes to the dead-letter topic, as the operator does with
 * late bids and bids whose auction never comes.
 *
 * DESIGN
 * State per open auction: 32 bytes, four int64 in host order (same-architecture instances
 * only, as any changelog of raw structs): the best bid's price, dateTime and bidder, and the
 * number of bids counted. The sources validate the JSON once as text (rill_serde_json_text())
 * and build no tree; the callbacks read the integer members they need from the bytes with
 * rill_json_int64(), the same way for a record just read and for one held in the store.
 */
#include <rill.h>

#include "prog_run.h"

#include <json-c/json.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "rill_winner_app"

typedef struct best_s {
    int64_t price, date_time, bidder, bids;
} best_t;

/* ---- the callbacks ---- */

/* Event time: the value's "dateTime". */
static int64_t date_time_of(const rill_record_t *rec, void *opaque) {
    (void)opaque;
    int64_t t;
    if (!rill_json_int64(rec->value, rec->value_len, "dateTime", &t))
        return -1;
    return t >= 0 ? t : -1;
}

static int64_t expires_of(const rill_record_t *item, void *opaque) {
    (void)opaque;
    int64_t expires, reserve;
    if (!rill_json_int64(item->value, item->value_len, "expires", &expires) ||
        !rill_json_int64(item->value, item->value_len, "reserve", &reserve) || expires < 0)
        return -1;
    return expires;
}

static int no_bid(const rill_record_t *item, rill_buf_t *out, void *opaque) {
    (void)item, (void)out, (void)opaque;
    return 0; /* the empty state: no bid counted yet */
}

/* True when x beats y: higher price, then earlier, then the lower bidder. */
static int beats(const best_t *x, const best_t *y) {
    if (x->price != y->price)
        return x->price > y->price;
    if (x->date_time != y->date_time)
        return x->date_time < y->date_time;
    return x->bidder < y->bidder;
}

static int best_bid(const rill_record_t *item, const rill_record_t *event, const void *state,
                    size_t state_len, rill_buf_t *out, void *opaque) {
    (void)opaque;
    int64_t expires, reserve;
    best_t bid = {.date_time = event->timestamp, .bids = 1}, best = {0};
    if (!rill_json_int64(item->value, item->value_len, "expires", &expires) ||
        !rill_json_int64(item->value, item->value_len, "reserve", &reserve) ||
        !rill_json_int64(event->value, event->value_len, "price", &bid.price) ||
        !rill_json_int64(event->value, event->value_len, "bidder", &bid.bidder))
        return -1;
    if (event->timestamp < item->timestamp || event->timestamp >= expires || bid.price < reserve)
        return 1;
    int leads = 1; /* the first counted bid, or one that beats the best: the winner so far */
    if (state_len == sizeof(best)) {
        memcpy(&best, state, sizeof(best));
        bid.bids = best.bids + 1;
        if (!beats(&bid, &best)) {
            best.bids = bid.bids;
            bid = best;
            leads = 0;
        }
    }
    return rill_buf_append(out, &bid, sizeof(bid)) ? -1 : leads ? RILL_COMPLETION_LEADS : 0;
}

static int is_decimal(const void *key, size_t len) {
    const char *k = key;
    if (len == 0 || len > 18)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)k[i]))
            return 0;
    return 1;
}

/* Appends the item's key as a JSON value: a number when it is a decimal number, else a
 * string. Returns 0 or -1. */
static int append_key(const rill_record_t *item, rill_buf_t *out) {
    if (is_decimal(item->key, item->key_len))
        return rill_buf_append(out, item->key, item->key_len);
    struct json_object *s = json_object_new_string_len(item->key, (int)item->key_len);
    const char *text = s ? json_object_to_json_string(s) : NULL;
    int rc = text ? rill_buf_append(out, text, strlen(text)) : -1;
    json_object_put(s);
    return rc;
}

static int winner(const rill_record_t *item, const void *state, size_t state_len, rill_buf_t *out,
                  void *opaque) {
    (void)opaque;
    char text[160];
    int n;
    best_t best;
    if (state_len == sizeof(best)) {
        memcpy(&best, state, sizeof(best));
        n = snprintf(text, sizeof(text),
                     ",\"winner\":%" PRId64 ",\"price\":%" PRId64 ",\"bids\":%" PRId64 "}",
                     best.bidder, best.price, best.bids);
    } else {
        n = snprintf(text, sizeof(text), ",\"winner\":null,\"price\":null,\"bids\":0}");
    }
    if (rill_buf_append(out, "{\"auction\":", 11) || append_key(item, out))
        return -1;
    return rill_buf_append(out, text, (size_t)n) ? -1 : 0;
}

/* ---- the topology ---- */

/*
 * The winning-bid topology (see the top of this file) reading auctions and bids and writing
 * output. Returns the topology (the caller owns it), or NULL with the builder's error in
 * errstr.
 */
rill_topology_t *winner_topology(const char *auctions, const char *bids, const char *output,
                                 const rill_completion_spec_t *spec, char *errstr,
                                 size_t errstr_size);

rill_topology_t *winner_topology(const char *auctions, const char *bids, const char *output,
                                 const rill_completion_spec_t *spec, char *errstr,
                                 size_t errstr_size) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(),
                              .value_serde = rill_serde_json_text(),
                              .timestamp_extractor = date_time_of};
    rill_stream_t *a = rill_stream_from(topo, "auctions", auctions, &src);
    rill_stream_t *b = rill_stream_from(topo, "bids", bids, &src);
    rill_stream_t *won =
        rill_stream_complete(a, b, "winner", spec, expires_of, no_bid, best_bid, winner, NULL);
    rill_stream_to(won, "sink", output, NULL);
    if (rill_topology_error(topo)) {
        snprintf(errstr, errstr_size, "%s", rill_topology_error(topo));
        rill_topology_destroy(topo);
        return NULL;
    }
    return topo;
}

#ifndef WINNER_APP_NO_MAIN

/* ---- the program ---- */

static const char *flag(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int is_app_flag(const char *arg) {
    return !strcmp(arg, "--auctions") || !strcmp(arg, "--bids") || !strcmp(arg, "--output") ||
           !strcmp(arg, "--app-id") || !strcmp(arg, "--grace-ms") || !strcmp(arg, "--hold-ms");
}

/* Reads a count of milliseconds >= 0 (dflt when absent). Returns 0 or -1. */
static int parse_ms(const char *text, int64_t dflt, int64_t *out) {
    char *end;
    if (!text) {
        *out = dflt;
        return 0;
    }
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    char errstr[512];
    const char *auctions = flag(argc, argv, "--auctions"), *bids = flag(argc, argv, "--bids");
    const char *output = flag(argc, argv, "--output"), *app_id = flag(argc, argv, "--app-id");
    rill_completion_spec_t spec = {0};
    if (!auctions || !bids || !output || !app_id ||
        parse_ms(flag(argc, argv, "--grace-ms"), 5000, &spec.grace_ms) ||
        parse_ms(flag(argc, argv, "--hold-ms"), 60000, &spec.hold_ms)) {
        fprintf(stderr, "usage: " PROG " --auctions T --bids T --output T --app-id ID "
                        "[--grace-ms MS (5000)] [--hold-ms MS (60000)] [Rill flags]\n");
        return 2;
    }
    rill_topology_t *topo = winner_topology(auctions, bids, output, &spec, errstr, sizeof(errstr));
    if (!topo) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return 2;
    }
    return prog_run(PROG, topo, app_id, argc, argv, is_app_flag);
}

#endif /* WINNER_APP_NO_MAIN */
