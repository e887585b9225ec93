/*
 * test_query_rows.c — the pieces of whole-store answers that need no app: the rows format
 * and its key-ordered merge with a limit (engine/query_range.c), and the JSON of keys and
 * values (engine/http_json.c). The merge is checked against a reference: every row of every
 * part, sorted by key bytes and cut at the limit.
 */
#include <criterion/criterion.h>

#include "http_int.h"
#include "query_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct seen_s {
    int n;
    char keys[64][16];
    int64_t ts[64];
} seen_t;

static int collect(const void *key, size_t key_len, int64_t ts, const void *value, size_t value_len,
                   void *opaque) {
    seen_t *s = opaque;

    cr_assert_lt(s->n, 64);
    cr_assert_eq(value_len, key_len, "each test value repeats its key");
    cr_assert_eq(memcmp(value, key, key_len), 0);
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)key_len, (const char *)key);
    s->ts[s->n++] = ts;
    return 0;
}

static int by_bytes(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

Test(query_rows, merge_in_key_order_with_a_limit) {
    /* Three parts, each in key order (as a partition's scan gives them); "b" is a prefix of
     * "ba", so length decides between equal leading bytes. */
    const char *parts_keys[3][5] = {
        {"a", "ba", "d", NULL}, {"b", "c", "e", "f", NULL}, {"", "bb", NULL}};
    rill_buf_t parts[3] = {{0}};
    char all[16][16];
    int total = 0;

    for (int p = 0; p < 3; p++)
        for (int i = 0; parts_keys[p][i]; i++) {
            const char *k = parts_keys[p][i];
            cr_assert_eq(rill__rows_append(&parts[p], k, strlen(k), 100 + total, k, strlen(k)), 0);
            snprintf(all[total++], sizeof(all[0]), "%s", k);
        }
    qsort(all, (size_t)total, sizeof(all[0]), by_bytes);
    for (int limit = 1; limit <= total + 1; limit++) {
        seen_t s = {0};
        bool more = false;
        cr_assert_eq(rill__rows_merge(parts, 3, limit, collect, &s, &more), 0);
        int want = limit < total ? limit : total;
        cr_assert_eq(s.n, want, "limit %d", limit);
        cr_assert_eq(more, limit < total, "limit %d: more", limit);
        for (int i = 0; i < want; i++)
            cr_assert_str_eq(s.keys[i], all[i], "limit %d, row %d", limit, i);
    }
    seen_t walked = {0};
    cr_assert_eq(rill__rows_walk(parts[1].data, parts[1].len, collect, &walked), 0);
    cr_assert(walked.n == 4 && !strcmp(walked.keys[3], "f") && walked.ts[0] == 103);
    for (int p = 0; p < 3; p++)
        rill_buf_free(&parts[p]);
}

Test(query_rows, malformed_rows_are_refused) {
    rill_buf_t b = {0};
    seen_t s = {0};
    bool more = false;

    cr_assert_eq(rill__rows_append(&b, "key", 3, 1, "key", 3), 0);
    for (size_t cut = 1; cut < b.len; cut++) {
        rill_buf_t part = {.data = b.data, .len = cut};
        cr_assert_eq(rill__rows_walk(b.data, cut, collect, &s), -1, "cut at %zu", cut);
        cr_assert_eq(rill__rows_merge(&part, 1, 10, collect, &s, &more), -1, "cut at %zu", cut);
    }
    cr_assert_eq(s.n, 0);
    rill_buf_free(&b);
}

Test(query_rows, json_keys_and_values) {
    rill_buf_t b = {0};
    rill__store_def_t counts = {.value_serde = rill_serde_int64()};
    rill__store_def_t text = {.value_serde = rill_serde_string()};
    rill__store_def_t bytes = {.value_serde = NULL};
    unsigned char seven[8] = {0, 0, 0, 0, 0, 0, 0, 7};

    cr_assert_eq(rill__json_key(&b, "a\"b\\c\n\xc3\xa9", 8), 0);
    cr_assert_eq(rill__json_key(&b, "\xff\x01", 2), 0); /* not UTF-8 */
    cr_assert_eq(rill__json_key(&b, "\xc0\xaf", 2), 0); /* an overlong '/' */
    cr_assert_eq(rill__json_value(&b, &counts, seven, 8), 0);
    cr_assert_eq(rill__json_value(&b, &text, "hi", 2), 0);
    cr_assert_eq(rill__json_value(&b, &bytes, "hi", 2), 1, "no JSON form: nothing appended");
    cr_assert_eq(rill__json_value(&b, &counts, "hi", 2), 1, "not an int64: bytes only");
    cr_assert_eq(rill_buf_append(&b, "", 1), 0);
    cr_assert_str_eq(b.data, "\"key\":\"a\\u0022b\\u005cc\\u000a\xc3\xa9\""
                             "\"key_hex\":\"ff01\"\"key_hex\":\"c0af\"7\"hi\"");
    rill_buf_free(&b);
}
