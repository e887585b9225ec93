/*
 * fuzz_auction_rules.c — libFuzzer harness of the auction showcase's validation rules
 * (topologies/auction/rules.c, compiled into the harness). The first byte picks the rules
 * (even: validate-auction, odd: validate-bid), the rest is the value, given from an exact-size
 * heap copy; an empty rest is also given as a tombstone (NULL). Checks: the answer is 0 or 1
 * (-1, out of memory, counts as a failure here); a valid event's value is one JSON object in
 * canonical text (json-c's plain form reads and writes back the same bytes) with exactly the
 * contract's members, in order, of the contract's types, on which the rules hold and the
 * enrichment is exact, and its key is the auction id in decimal, the one given in key_id; a
 * rejection has a documented reason, the value {"rejected":"<reason>"} as
 * auction_rules_rejected_value() builds it, and no key; auction_validate() and bid_validate()
 * give the same verdict, reason and text; the same input gives the same bytes again; a valid
 * event's output, validated again, is valid with the same key and the same bytes.
 */
#include "rules.h"
#include "fuzz_check.h"

#include <json-c/json.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE 9007199254740991LL

typedef struct member_s {
    const char *name;
    bool is_string;
} member_t;

/* The contract's output members, in order (the enrichment last). */
/* clang-format off */
static const member_t AUCTION_OUT[] = {
    {"id", false},       {"itemName", true},    {"description", true}, {"initialBid", false},
    {"reserve", false},  {"dateTime", false},   {"expires", false},    {"seller", false},
    {"category", false}, {"extra", true},       {"durationMs", false},
};
/* clang-format on */
/* clang-format off */
static const member_t BID_OUT[] = {
    {"auction", false}, {"bidder", false},   {"price", false}, {"channel", true},
    {"url", true},      {"dateTime", false}, {"extra", true},  {"priceEur", false},
};
/* clang-format on */
#define N_AUCTION_OUT (sizeof(AUCTION_OUT) / sizeof(AUCTION_OUT[0]))
#define N_BID_OUT (sizeof(BID_OUT) / sizeof(BID_OUT[0]))

typedef struct answer_s {
    int rc;
    const char *reason;
    int64_t key_id;
    rill_buf_t key, value;
} answer_t;

static void answer(auction_rules_kind_t kind, const void *value, size_t len, answer_t *a) {
    memset(a, 0, sizeof(*a));
    a->key_id = -1;
    a->rc = auction_rules_validate(kind, value, len, &a->key, &a->value, &a->key_id, &a->reason);
    FUZZ_CHECK(a->rc == 0 || a->rc == 1);
}

static void answer_free(answer_t *a) {
    rill_buf_free(&a->key);
    rill_buf_free(&a->value);
}

static bool same_bytes(const rill_buf_t *x, const rill_buf_t *y) {
    return x->len == y->len && (x->len == 0 || !memcmp(x->data, y->data, x->len));
}

/* A rejection's reason is one of those the contract lists for kind. */
static bool known_reason(auction_rules_kind_t kind, const char *reason) {
    static const char *const auction_rules[] = {"id must be > 0", "seller must be > 0",
                                                "initialBid must be > 0", "reserve < initialBid",
                                                "expires <= dateTime"};
    static const char *const bid_rules[] = {"auction must be > 0", "bidder must be > 0",
                                            "price must be > 0"};
    const member_t *fields = kind == AUCTION_RULES_BID ? BID_OUT : AUCTION_OUT;
    size_t nf = (kind == AUCTION_RULES_BID ? N_BID_OUT : N_AUCTION_OUT) - 1;
    const char *const *rules = kind == AUCTION_RULES_BID ? bid_rules : auction_rules;
    size_t nr = kind == AUCTION_RULES_BID ? 3 : 5;

    if (!strcmp(reason, "not JSON") || !strcmp(reason, "not an object"))
        return true;
    for (size_t k = 0; k < nf; k++) {
        char want[64];
        snprintf(want, sizeof(want), "missing field: %s", fields[k].name);
        if (!strcmp(reason, want))
            return true;
        snprintf(want, sizeof(want), "wrong type: %s", fields[k].name);
        if (!strcmp(reason, want))
            return true;
    }
    for (size_t k = 0; k < nr; k++)
        if (!strcmp(reason, rules[k]))
            return true;
    return false;
}

static void check_rejected(auction_rules_kind_t kind, const answer_t *a) {
    rill_buf_t want = {0};

    FUZZ_CHECK(a->reason != NULL);
    FUZZ_CHECK(known_reason(kind, a->reason));
    FUZZ_CHECK(a->key.len == 0);
    FUZZ_CHECK(auction_rules_rejected_value(a->reason, &want) == 0);
    FUZZ_CHECK(same_bytes(&a->value, &want));
    rill_buf_free(&want);
}

/* The members of a valid event's value: the contract's, in order, with their types. */
static void check_valid(auction_rules_kind_t kind, const answer_t *a) {
    const member_t *members = kind == AUCTION_RULES_BID ? BID_OUT : AUCTION_OUT;
    size_t n = kind == AUCTION_RULES_BID ? N_BID_OUT : N_AUCTION_OUT;
    int64_t ints[N_AUCTION_OUT] = {0};
    json_tokener *tok = json_tokener_new();
    json_object *o;
    size_t k = 0, len;
    const char *text;
    char key[24];

    FUZZ_CHECK(tok != NULL);
    FUZZ_CHECK(a->value.len > 0 && a->value.len < INT32_MAX);
    o = json_tokener_parse_ex(tok, a->value.data, (int)a->value.len);
    FUZZ_CHECK(o != NULL && json_tokener_get_error(tok) == json_tokener_success);
    FUZZ_CHECK(json_tokener_get_parse_end(tok) == a->value.len);
    json_tokener_free(tok);
    FUZZ_CHECK(json_object_is_type(o, json_type_object));
    json_object_object_foreach(o, name, v) {
        FUZZ_CHECK(k < n);
        FUZZ_CHECK(!strcmp(name, members[k].name));
        if (members[k].is_string) {
            FUZZ_CHECK(json_object_is_type(v, json_type_string));
        } else {
            FUZZ_CHECK(json_object_is_type(v, json_type_int));
            ints[k] = json_object_get_int64(v);
        }
        k++;
    }
    FUZZ_CHECK(k == n);

    /* Canonical text: what json-c's plain form writes for what it read. */
    text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    FUZZ_CHECK(text && len == a->value.len && !memcmp(text, a->value.data, len));
    json_object_put(o);

    for (k = 0; k + 1 < n; k++)
        if (!members[k].is_string)
            FUZZ_CHECK(ints[k] >= -MAX_SAFE && ints[k] <= MAX_SAFE);
    if (kind == AUCTION_RULES_AUCTION) {
        /* id, itemName, description, initialBid, reserve, dateTime, expires, seller, ... */
        FUZZ_CHECK(ints[0] > 0 && ints[7] > 0 && ints[3] > 0);
        FUZZ_CHECK(ints[4] >= ints[3]);
        FUZZ_CHECK(ints[6] > ints[5]);
        FUZZ_CHECK(ints[10] == ints[6] - ints[5]);
        FUZZ_CHECK(a->key_id == ints[0]);
    } else {
        /* auction, bidder, price, ..., priceEur */
        FUZZ_CHECK(ints[0] > 0 && ints[1] > 0 && ints[2] > 0);
        FUZZ_CHECK(ints[7] == (ints[2] * 908 + 500) / 1000);
        FUZZ_CHECK(a->key_id == ints[0]);
    }

    /* The key: the auction id in decimal (positive, so digits without a leading zero). */
    snprintf(key, sizeof(key), "%" PRId64, a->key_id);
    FUZZ_CHECK(a->key.len == strlen(key) && !memcmp(a->key.data, key, a->key.len));
    FUZZ_CHECK(a->key.data[0] >= '1' && a->key.data[0] <= '9');
}

/* auction_validate() / bid_validate() agree with auction_rules_validate(), and append. */
static void check_plain(auction_rules_kind_t kind, const void *value, size_t len,
                        const answer_t *a) {
    rill_buf_t out = {0};
    const char *reason = "unset";
    int rc;

    FUZZ_CHECK(rill_buf_append(&out, "@", 1) == 0);
    if (kind == AUCTION_RULES_BID)
        rc = bid_validate(value, len, &out, &reason);
    else
        rc = auction_validate(value, len, &out, &reason);
    FUZZ_CHECK(rc == a->rc);
    FUZZ_CHECK(out.data[0] == '@');
    if (rc == 0) {
        FUZZ_CHECK(reason == NULL);
        FUZZ_CHECK(out.len == a->value.len + 1 &&
                   !memcmp(out.data + 1, a->value.data, a->value.len));
    } else {
        FUZZ_CHECK(reason != NULL && !strcmp(reason, a->reason));
        FUZZ_CHECK(out.len == 1);
    }
    rill_buf_free(&out);
}

static void run(auction_rules_kind_t kind, const void *value, size_t len) {
    answer_t a, b;

    answer(kind, value, len, &a);
    if (a.rc == 0)
        check_valid(kind, &a);
    else
        check_rejected(kind, &a);
    if (!value || len == 0)
        FUZZ_CHECK(a.rc == 1 && !strcmp(a.reason, "not JSON"));
    check_plain(kind, value, len, &a);

    /* Deterministic. */
    answer(kind, value, len, &b);
    FUZZ_CHECK(b.rc == a.rc && same_bytes(&b.key, &a.key) && same_bytes(&b.value, &a.value));
    FUZZ_CHECK(a.rc == 0 ? b.key_id == a.key_id : !strcmp(b.reason, a.reason));
    answer_free(&b);

    /* A valid event's output is valid again, and unchanged (other members are dropped, the
     * enrichment computed again from the same fields). */
    if (a.rc == 0) {
        answer(kind, a.value.data, a.value.len, &b);
        FUZZ_CHECK(b.rc == 0);
        FUZZ_CHECK(b.key_id == a.key_id && same_bytes(&b.key, &a.key));
        FUZZ_CHECK(same_bytes(&b.value, &a.value));
        answer_free(&b);
    }
    answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auction_rules_kind_t kind;
    char *copy;

    if (size == 0)
        return 0;
    kind = (data[0] & 1) ? AUCTION_RULES_BID : AUCTION_RULES_AUCTION;
    copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    run(kind, copy, size - 1);
    if (size == 1)
        run(kind, NULL, 0);
    free(copy);
    return 0;
}
