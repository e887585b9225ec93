/*
 * test_cache.c — unit tests of a store's write cache: one entry per key, latest value wins,
 * deletions kept as entries (they must reach the changelog), ordered range listing, removal
 * by predicate, and emptying after a commit.
 */
#include <criterion/criterion.h>

#include "cache_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rill__cache_t cache;

static void teardown(void) {
    rill__cache_free(&cache);
}

TestSuite(state_cache, .fini = teardown);

static const char *value_of(const char *key) {
    rill__centry_t *e = rill__cache_find(&cache, key, strlen(key));
    static char buf[256];
    if (!e)
        return "<absent>";
    if (e->deleted)
        return "<deleted>";
    snprintf(buf, sizeof(buf), "%.*s", (int)e->value_len, e->value);
    return buf;
}

static void put(const char *key, const char *value) {
    cr_assert_eq(rill__cache_put(&cache, key, strlen(key), value, value ? strlen(value) : 0,
                                 value == NULL),
                 0);
}

Test(state_cache, latest_value_wins_when_key_updated_repeatedly) {
    put("a", "1");
    put("a", "22");
    put("a", "3");
    put("b", "x");
    cr_assert_str_eq(value_of("a"), "3");
    cr_assert_str_eq(value_of("b"), "x");
    cr_assert_eq(cache.cnt, 2, "one entry per key, got %zu", cache.cnt);
}

Test(state_cache, deletion_kept_as_entry_when_key_deleted) {
    put("a", "1");
    put("a", NULL);
    cr_assert_str_eq(value_of("a"), "<deleted>");
    cr_assert_eq(cache.cnt, 1);
    put("a", "back");
    cr_assert_str_eq(value_of("a"), "back");
}

Test(state_cache, empty_value_distinct_from_deletion_when_stored) {
    put("e", "");
    rill__centry_t *e = rill__cache_find(&cache, "e", 1);
    cr_assert_not_null(e);
    cr_assert(!e->deleted);
    cr_assert_eq(e->value_len, 0);
}

Test(state_cache, every_key_found_when_table_grows) {
    char k[32], v[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        snprintf(v, sizeof(v), "v%d", i * 7);
        put(k, v);
    }
    cr_assert_eq(cache.cnt, 20000);
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        snprintf(v, sizeof(v), "v%d", i * 7);
        cr_assert_str_eq(value_of(k), v, "key %s", k);
    }
    cr_assert_str_eq(value_of("key-20000"), "<absent>");
}

Test(state_cache, range_listed_in_key_order_when_sorted) {
    const char *keys[] = {"m", "b", "zz", "a", "ba", "c", "z"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put(keys[i], "v");
    rill__centry_t **ents = NULL;
    size_t n = rill__cache_sorted(&cache, "b", 1, "z", 1, &ents);
    const char *want[] = {"b", "ba", "c", "m"};
    cr_assert_eq(n, 4, "got %zu", n);
    for (size_t i = 0; i < n; i++)
        cr_assert(ents[i]->key_len == strlen(want[i]) &&
                      !memcmp(ents[i]->key, want[i], ents[i]->key_len),
                  "position %zu", i);
    free(ents);
}

static bool starts_with_x(const rill__centry_t *e, void *opaque) {
    return e->key_len && e->key[0] == 'x';
}

Test(state_cache, only_matching_entries_removed_when_removed_by_predicate) {
    put("x1", "1");
    put("y1", "2");
    put("x2", "3");
    put("y2", "4");
    rill__cache_remove_if(&cache, starts_with_x, NULL);
    cr_assert_eq(cache.cnt, 2);
    cr_assert_str_eq(value_of("x1"), "<absent>");
    cr_assert_str_eq(value_of("x2"), "<absent>");
    cr_assert_str_eq(value_of("y1"), "2");
    cr_assert_str_eq(value_of("y2"), "4");
}

Test(state_cache, empty_and_reusable_when_cleared) {
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%d", i);
        put(k, "some value that takes space");
    }
    size_t full = cache.bytes;
    cr_assert_gt(full, 1000 * 20);
    rill__cache_clear(&cache);
    cr_assert_eq(cache.cnt, 0);
    cr_assert_lt(cache.bytes, full / 2, "only the empty table is left: %zu", cache.bytes);
    cr_assert_str_eq(value_of("5"), "<absent>");
    put("5", "again");
    cr_assert_str_eq(value_of("5"), "again");
}

Test(state_cache, table_shrinks_when_cleared_after_growing) {
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        put(k, "v");
    }
    cr_assert_gt(cache.cap, 1024);
    size_t table = cache.cap * sizeof(rill__centry_t) / 2;
    cr_assert_geq(cache.bytes, table, "the table counts (at its load): %zu < %zu", cache.bytes,
                  table);
    rill__cache_clear(&cache);
    cr_assert_eq(cache.cap, 0);
    put("again", "v");
    cr_assert_str_eq(value_of("again"), "v");
}

Test(state_cache, bytes_grow_when_values_grow) {
    put("k", "1");
    size_t before = cache.bytes;
    put("k", "2"); /* fits in place */
    cr_assert_eq(cache.bytes, before);
    put("k", "a much longer value than before");
    cr_assert_gt(cache.bytes, before);
}
