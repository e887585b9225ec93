/*
 * categories.c — the category names of rill-auction: a small dimension topic read as a global
 * table (every process holds all of it), joined with the category-price analytics so that
 * each update carries its category's name.
 *
 * The topic (--categories-topic, one partition) is keyed by the category id in decimal, with
 * values {"name":"<name>"}. rill-auction writes the names of NEXMark's categories there when
 * nothing was ever written to it, so the showcase runs with nothing prepared; a user's own names
 * (written before or while the app runs) take their place, as rows of a table do.
 */
#define _GNU_SOURCE
#include "app.h"

#include <json-c/json.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define QUERY_TIMEOUT_MS 10000

/* NEXMark's categories are 10..14 (nexmark.h); the names are the showcase's own. */
static const struct {
    int64_t id;
    const char *name;
    /* clang-format off */
} default_names[] = {
    {10, "Books"}, {11, "Electronics"}, {12, "Home & Garden"}, {13, "Collectibles"},
    {14, "Fashion"},
};
/* clang-format on */

const char *auction_category_default_name(int64_t id) {
    for (size_t i = 0; i < sizeof(default_names) / sizeof(default_names[0]); i++)
        if (default_names[i].id == id)
            return default_names[i].name;
    return NULL;
}

/* Writes the default names when nothing was ever written to partition 0 of topic (deleted
 * records count too: names a user wrote and retention removed are not replaced). The one
 * client is built from the app's configuration (conf), so security.protocol, sasl.* and
 * ssl.* apply to it as to the app's own clients. */
int auction_seed_categories(const char *bootstrap, const rill_conf_t *conf, const char *topic,
                            char *errstr, size_t errstr_size) {
    rill_producer_t *p = rill_producer_new(bootstrap, conf, errstr, errstr_size);
    if (!p)
        return -1;
    int64_t n = -1;
    if (rill_producer_end_offset(p, topic, 0, QUERY_TIMEOUT_MS, &n, errstr, errstr_size) ||
        n != 0) {
        rill_producer_destroy(p);
        return n < 0 ? -1 : 0;
    }
    char key[24], value[96];
    int rc = 0;
    for (size_t i = 0; i < sizeof(default_names) / sizeof(default_names[0]) && !rc; i++) {
        int kl = snprintf(key, sizeof(key), "%" PRId64, default_names[i].id);
        int vl = snprintf(value, sizeof(value), "{\"name\":\"%s\"}", default_names[i].name);
        rc = rill_producer_send(p, topic, 0, key, (size_t)kl, value, (size_t)vl, 0) ? -1 : 0;
    }
    if (!rc)
        rc = rill_producer_flush(p, QUERY_TIMEOUT_MS, errstr, errstr_size) ? -1 : 0;
    rill_producer_destroy(p);
    return rc;
}

/* The category-price update's key is the category id: the row to look up. */
int auction_category_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    return rill_buf_append(out->key, rec->key, rec->key_len);
}

/* {"category":C,"avgPrice":..} + {"name":N} → {"category":C,"name":N,"avgPrice":..}; no
 * row (or a row without a string "name"): "name":null. */
int auction_category_name_joiner(const rill_record_t *left, const rill_record_t *right,
                                 rill_buf_t *out, void *opaque) {
    (void)opaque;
    const char *v = left->value;
    const char *comma = v ? memchr(v, ',', left->value_len) : NULL;
    if (!comma)
        return -1;
    const char *name = "null";
    json_object *row = right ? auction_parse_json(right->value, right->value_len) : NULL;
    json_object *n = NULL;
    if (row && json_object_object_get_ex(row, "name", &n) &&
        json_object_is_type(n, json_type_string))
        name = json_object_to_json_string_ext(n, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = rill_buf_append(out, v, (size_t)(comma - v)) ||
             rill_buf_append(out, ",\"name\":", 8) || rill_buf_append(out, name, strlen(name)) ||
             rill_buf_append(out, comma, left->value_len - (size_t)(comma - v));
    json_object_put(row);
    return rc ? -1 : 0;
}
