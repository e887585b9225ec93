/*
 * rules.h — the auction showcase's validation rules natively in C: the same rules as the
 * validate-auction and validate-bid functions (topologies/auction/functions/rules.js), with
 * the same outputs byte for byte and the same reasons (tests/topologies/test_auction_rules.c
 * compares them). The contract and the output format are in
 * topologies/auction/functions/README.md.
 *
 * Outputs are JSON text without spaces, members in a fixed order, integers in decimal, strings
 * escaped as json-c's JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE does (which is
 * what JavaScript's JSON.stringify does for well-formed strings):
 *   auction: {"id":..,"itemName":"..","description":"..","initialBid":..,"reserve":..,
 *             "dateTime":..,"expires":..,"seller":..,"category":..,"extra":"..","durationMs":..}
 *   bid:     {"auction":..,"bidder":..,"price":..,"channel":"..","url":"..","dateTime":..,
 *             "extra":"..","priceEur":..}
 *   rejected: {"rejected":"<reason>"}
 * Members other than the contract's are dropped. Thread-safe; no global state.
 */
#ifndef AUCTION_RULES_H
#define AUCTION_RULES_H

#include <rill.h>

#include <stddef.h>
#include <stdint.h>

typedef enum auction_rules_kind_e {
    AUCTION_RULES_AUCTION = 0, /* validate-auction */
    AUCTION_RULES_BID = 1      /* validate-bid */
} auction_rules_kind_t;

/*
 * Validates one value (json, len bytes; NULL is a tombstone, which is "not JSON").
 * Valid: appends the enriched event's JSON text to out_enriched, sets *reason to NULL and
 * returns 0. Invalid: leaves out_enriched alone, sets *reason to a static string (e.g.
 * "missing field: reserve") and returns 1. Out of memory: returns -1.
 * A valid event's output key is its auction id: auction_rules_validate() gives it as a number.
 */
int auction_validate(const char *json, size_t len, rill_buf_t *out_enriched, const char **reason);
int bid_validate(const char *json, size_t len, rill_buf_t *out_enriched, const char **reason);

/*
 * What the function answers for one record, as the FaaS bridge hands it to the app: on a
 * valid event (returns 0) the enriched JSON is appended to out_value and the output key, the
 * auction id (decimal text), to out_key; on an invalid one (returns 1) {"rejected":"<reason>"}
 * is appended to out_value and nothing to out_key (the function keeps the input key), and
 * *reason is set. key_id (may be NULL) receives the auction id of a valid event. -1: out of
 * memory. out_key may be NULL.
 */
int auction_rules_validate(auction_rules_kind_t kind, const void *value, size_t len,
                           rill_buf_t *out_key, rill_buf_t *out_value, int64_t *key_id,
                           const char **reason);

/* Appends {"rejected":"<reason>"} to out. Returns 0 or -1 (out of memory). */
int auction_rules_rejected_value(const char *reason, rill_buf_t *out);

/* The header the app puts the reason of a rejected event in. */
#define AUCTION_REJECT_REASON_HEADER "rill.reject.reason"

#endif
