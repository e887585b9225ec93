/*
 * nx_joins.c — NEXMark q3 (local item suggestion: auctions join the table of persons) and
 * q8 (monitor new users: persons join auctions in a stream-stream join), on JSON text
 * (nx_int.h; semantics in rill_nexmark_app.c).
 *
 * DESIGN
 * Both joins re-key auctions by seller through a repartition topic and write a row from a
 * few members of each side. The joiners read those members from the bytes (the values a
 * join holds in its stores are the input's text) and write the output text themselves: an
 * integer as decimal digits, a string as its token when the token holds no backslash and no
 * '/', which is exactly what json-c writes for it (json-c escapes '/' and writes decoded
 * escapes its own way). A record with such a string is rare enough to take the slow way: its
 * member is decoded and written again by json-c, so every record gives the bytes the json-c
 * version of these queries gave. A member that occurs twice counts at its first occurrence
 * (rill_json_member()).
 */
#include "nx_int.h"

#include <json-c/json.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define Q3_CATEGORY 10

/* A string member's token (with its quotes) in *tok: 1, or 0 when missing or not a string. */
static int string_token(const rill_record_t *rec, const char *name, const char **tok, size_t *len) {
    return rec->value && rill_json_member(rec->value, rec->value_len, name, tok, len) &&
           *len >= 2 && (*tok)[0] == '"';
}

/* Appends a string token as json-c would write the string it holds. Returns 0 or -1. */
static int append_string(rill_buf_t *out, const char *tok, size_t len) {
    if (!memchr(tok, '\\', len) && !memchr(tok, '/', len))
        return rill_buf_append(out, tok, len);
    struct json_tokener *parser = json_tokener_new();
    struct json_object *s = parser ? json_tokener_parse_ex(parser, tok, (int)len) : NULL;
    int rc = -1;
    if (parser)
        json_tokener_free(parser);
    if (s && json_object_is_type(s, json_type_string)) {
        struct json_object *w = json_object_new_string(json_object_get_string(s));
        const char *text = json_object_to_json_string_ext(w, JSON_C_TO_STRING_PLAIN);
        rc = rill_buf_append(out, text, strlen(text));
        json_object_put(w);
    }
    json_object_put(s);
    return rc;
}

/* select_key mapper: the auction's seller, as decimal text. */
static int key_by_seller(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    int64_t seller;
    (void)opaque;
    if (!nx_int(rec, "seller", &seller) || seller < 0)
        return -1;
    return nx_set_key(out, "%" PRId64, seller);
}

static int non_empty(const rill_record_t *rec, void *opaque) {
    (void)opaque;
    return rec->value && rec->value_len > 0;
}

/* ---- q3 ---- */

static int in_category_10(const rill_record_t *rec, void *opaque) {
    int64_t category;
    (void)opaque;
    return nx_int(rec, "category", &category) && category == Q3_CATEGORY;
}

/* Whether a state token is one of q3's: OR, ID or CA. */
static int q3_state(const char *tok, size_t len) {
    return len == 4 &&
           (!memcmp(tok, "\"OR\"", 4) || !memcmp(tok, "\"ID\"", 4) || !memcmp(tok, "\"CA\"", 4));
}

static int q3_join(const rill_record_t *auction, const rill_record_t *person, rill_buf_t *out,
                   void *opaque) {
    const char *name, *city, *state;
    size_t name_len, city_len, state_len;
    int64_t id;
    (void)opaque;
    if (!string_token(person, "state", &state, &state_len) ||
        !string_token(person, "name", &name, &name_len) ||
        !string_token(person, "city", &city, &city_len) || !nx_int(auction, "id", &id))
        return -1;
    if (!q3_state(state, state_len))
        return 0; /* an empty value: the filter after the join drops it */
    if (rill_buf_append(out, "{\"name\":", 8) || append_string(out, name, name_len) ||
        rill_buf_append(out, ",\"city\":", 8) || append_string(out, city, city_len) ||
        rill_buf_append(out, ",\"state\":", 9) || append_string(out, state, state_len))
        return -1;
    return nx_append(out, ",\"id\":%" PRId64 "}", id);
}

void nx_build_q3(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_table_t *people = rill_table_from(topo, "persons", t->persons, src, "q3-persons-store");
    rill_stream_t *s = rill_stream_from(topo, "auctions", t->auctions, src);
    s = rill_stream_filter(s, "q3-category-10", in_category_10, NULL);
    s = rill_stream_select_key(s, "q3-key-by-seller", key_by_seller, NULL);
    s = rill_stream_repartition(s, "q3-auctions-by-seller");
    s = rill_stream_table_join(s, people, "q3-join", RILL_JOIN_INNER, grace_ms, q3_join, NULL);
    s = rill_stream_filter(s, "q3-or-id-ca", non_empty, NULL);
    rill_stream_to(s, "sink", t->output, NULL);
}

/* ---- q8 ---- */

static int q8_join(const rill_record_t *person, const rill_record_t *auction, rill_buf_t *out,
                   void *opaque) {
    int64_t start = person->timestamp - person->timestamp % NX_WINDOW_MS;
    const char *name;
    size_t name_len;
    int64_t id, auction_id;
    (void)opaque;
    if (auction->timestamp - auction->timestamp % NX_WINDOW_MS != start)
        return 0; /* within 10 s but not in the same window: no row */
    if (!string_token(person, "name", &name, &name_len) || !nx_int(person, "id", &id) ||
        !nx_int(auction, "id", &auction_id))
        return -1;
    if (nx_append(out, "{\"id\":%" PRId64 ",\"name\":", id) || append_string(out, name, name_len))
        return -1;
    return nx_append(out, ",\"starttime\":%" PRId64 ",\"auction\":%" PRId64 "}", start, auction_id);
}

void nx_build_q8(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms) {
    rill_stream_t *p = rill_stream_from(topo, "persons", t->persons, src);
    rill_stream_t *a = rill_stream_from(topo, "auctions", t->auctions, src);
    a = rill_stream_select_key(a, "q8-key-by-seller", key_by_seller, NULL);
    a = rill_stream_repartition(a, "q8-auctions-by-seller");
    rill_join_spec_t spec = {.kind = RILL_JOIN_INNER,
                             .before_ms = NX_WINDOW_MS - 1,
                             .after_ms = NX_WINDOW_MS - 1,
                             .grace_ms = grace_ms};
    rill_stream_t *j = rill_stream_join(p, a, "q8-join", &spec, q8_join, NULL);
    j = rill_stream_filter(j, "q8-same-window", non_empty, NULL);
    rill_stream_to(j, "sink", t->output, NULL);
}
