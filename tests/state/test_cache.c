/*
 * test_cache.c — unit tests of a store's write cache: one entry per key, latest value wins,
 * deletions kept as entries (they must reach the changelog), ordered range listing, removal
 * by predicate, emptying after a commit, new keys deleted before the commit (not logged), and
 * entries kept clean after a commit (readable, off the dirty list, evicted first).
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
    cr_assert_eq(
        rill__cache_put(&cache, key, strlen(key), value, value ? strlen(value) : 0, value == NULL),
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

/* ---- the ordered index against a reference (a sorted array of the live keys) ---- */

#define REF_KEYS 3000

typedef struct ref_s {
    char keys[REF_KEYS][12];
    size_t lens[REF_KEYS];
    bool present[REF_KEYS];
} ref_t;

static int ref_cmp(const ref_t *r, int a, int b) {
    return rill__key_cmp(r->keys[a], r->lens[a], r->keys[b], r->lens[b]);
}

/* Checks a scan of [lo, hi) against the keys present in r, in byte order. */
static void check_range(const ref_t *r, const char *lo, size_t lo_len, const char *hi,
                        size_t hi_len) {
    static int want[REF_KEYS];
    int nwant = 0;
    for (int i = 0; i < REF_KEYS; i++)
        if (r->present[i] && rill__key_cmp(r->keys[i], r->lens[i], lo, lo_len) >= 0 &&
            rill__key_cmp(r->keys[i], r->lens[i], hi, hi_len) < 0)
            want[nwant++] = i;
    for (int i = 1; i < nwant; i++) /* insertion sort: few enough */
        for (int j = i; j > 0 && ref_cmp(r, want[j - 1], want[j]) > 0; j--) {
            int t = want[j];
            want[j] = want[j - 1];
            want[j - 1] = t;
        }
    rill__centry_t **ents = NULL;
    size_t n = rill__cache_sorted(&cache, lo, lo_len, hi, hi_len, &ents);
    cr_assert_eq(n, (size_t)nwant, "range [%.*s, %.*s): %zu entries, reference %d", (int)lo_len, lo,
                 (int)hi_len, hi, n, nwant);
    for (size_t i = 0; i < n; i++)
        cr_assert(ents[i]->key_len == r->lens[want[i]] &&
                      !memcmp(ents[i]->key, r->keys[want[i]], ents[i]->key_len),
                  "range entry %zu is %.*s, reference %s", i, (int)ents[i]->key_len, ents[i]->key,
                  r->keys[want[i]]);
    free(ents);
}

static bool odd_last_digit(const rill__centry_t *e, void *opaque) {
    (void)opaque;
    return (e->key[e->key_len - 1] - '0') % 2 == 1;
}

Test(state_cache, ranges_equal_reference_when_keys_inserted_removed_and_cleared) {
    static ref_t r;
    unsigned seed = 7;
    for (int i = 0; i < REF_KEYS; i++)
        r.lens[i] = (size_t)snprintf(r.keys[i], sizeof(r.keys[i]), "k%u", /* distinct keys */
                                     (unsigned)i * 7919u % 100000u);
    for (int round = 0; round < 3; round++) {
        for (int step = 0; step < 4000; step++) {
            int i = (int)((seed = seed * 1103515245u + 12345u) >> 8) % REF_KEYS;
            put(r.keys[i], step % 5 ? "v" : NULL); /* a deletion is an entry too */
            r.present[i] = true;
            if (step % 500 == 0) {
                char lo[12], hi[12];
                snprintf(lo, sizeof(lo), "k%u", (seed >> 4) % 100000u);
                snprintf(hi, sizeof(hi), "k%u", (seed >> 4) % 100000u + 20000u);
                check_range(&r, lo, strlen(lo), hi, strlen(hi));
            }
        }
        check_range(&r, "", 0, "l", 1);
        rill__cache_remove_if(&cache, odd_last_digit, NULL);
        for (int i = 0; i < REF_KEYS; i++)
            if (r.present[i] && (r.keys[i][r.lens[i] - 1] - '0') % 2 == 1)
                r.present[i] = false;
        check_range(&r, "", 0, "l", 1);
        check_range(&r, "k3", 2, "k7", 2);
        if (round == 1) {
            rill__cache_clear(&cache);
            memset(r.present, 0, sizeof(r.present));
            check_range(&r, "", 0, "l", 1);
        }
    }
}

static bool durable(const char *key) {
    rill__centry_t *e = rill__cache_find(&cache, key, strlen(key));
    cr_assert_not_null(e);
    return rill__centry_durable(e);
}

/* A key put as new and deleted before the commit never existed for RocksDB or the changelog;
 * a key put normally (maybe durable already) keeps its tombstone, even if later put as new. */
Test(state_cache, nothing_to_log_when_new_key_deleted_before_commit) {
    cr_assert_eq(rill__cache_put_new(&cache, "n", 1, "1", 1), 0);
    cr_assert(durable("n"));
    put("n", "2");
    cr_assert_str_eq(value_of("n"), "2");
    put("n", NULL);
    cr_assert_str_eq(value_of("n"), "<deleted>");
    cr_assert(!durable("n"));
    put("o", "1");
    put("o", NULL);
    cr_assert(durable("o"));
    cr_assert_eq(rill__cache_put_new(&cache, "o", 1, "2", 1), 0);
    put("o", NULL);
    cr_assert(durable("o"));
    rill__cache_clear(&cache);
    cr_assert_eq(rill__cache_put_new(&cache, "n", 1, "3", 1), 0);
    cr_assert_str_eq(value_of("n"), "3");
}

/* The keys on the dirty list, in list order, as "a,b,". */
static const char *dirty_keys(void) {
    static char buf[256];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cache.dirty_cnt; i++) {
        const rill__centry_t *e = rill__cache_dirty_at(&cache, i);
        if (e)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%.*s,", (int)e->key_len, e->key);
    }
    return buf;
}

/* A commit keeps what it applied readable: the entries stay, clean, with their values, and
 * only keys written again come back on the dirty list (once each). */
Test(state_cache, entries_readable_and_off_dirty_list_when_marked_clean) {
    put("a", "1");
    put("b", "2");
    put("c", NULL);
    put("a", "3");
    cr_assert_str_eq(dirty_keys(), "a,b,c,");
    rill__cache_mark_clean(&cache);
    cr_assert_str_eq(dirty_keys(), "");
    cr_assert_str_eq(value_of("a"), "3");
    cr_assert_str_eq(value_of("b"), "2");
    cr_assert_str_eq(value_of("c"), "<deleted>");
    cr_assert(rill__cache_find(&cache, "a", 1)->clean);
    put("b", "4");
    put("b", "5");
    put("d", "6");
    cr_assert_str_eq(dirty_keys(), "b,d,");
    cr_assert(!rill__cache_find(&cache, "b", 1)->clean);
    cr_assert(rill__cache_find(&cache, "a", 1)->clean);
    cr_assert_str_eq(value_of("b"), "5");
}

/* A fresh entry applied is in RocksDB and the changelog: once clean it is fresh no more, and
 * its deletion must be logged. A clean deletion is a key absent everywhere: put as new
 * again, it is fresh. */
Test(state_cache, fresh_mark_follows_what_was_applied_when_marked_clean) {
    cr_assert_eq(rill__cache_put_new(&cache, "n", 1, "1", 1), 0);
    rill__cache_mark_clean(&cache);
    cr_assert(!rill__cache_find(&cache, "n", 1)->fresh);
    put("n", NULL);
    cr_assert(durable("n"));
    rill__cache_mark_clean(&cache);
    cr_assert_eq(rill__cache_put_new(&cache, "n", 1, "2", 1), 0);
    cr_assert(rill__cache_find(&cache, "n", 1)->fresh);
    put("n", NULL);
    cr_assert(!durable("n"));
}

/* Eviction drops exactly the clean entries; the dirty ones keep their values, deletions,
 * fresh marks, dirty list and key order, and the bytes go down. */
Test(state_cache, only_clean_entries_dropped_when_evicted) {
    char key[16], value[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "k%04d", i);
        snprintf(value, sizeof(value), "v%d", i);
        put(key, value);
    }
    rill__cache_mark_clean(&cache);
    size_t full = cache.bytes;
    for (int i = 0; i < 2000; i += 100) { /* 20 dirty keys among 2000 */
        snprintf(key, sizeof(key), "k%04d", i);
        snprintf(value, sizeof(value), "w%d", i);
        put(key, i % 200 ? value : NULL);
    }
    cr_assert_eq(rill__cache_put_new(&cache, "new", 3, "x", 1), 0);
    cr_assert_eq(rill__cache_evict_clean(&cache), 0);
    cr_assert_eq(cache.cnt, 21);
    cr_assert_eq(cache.dirty_cnt, 21);
    cr_assert_lt(cache.bytes, full / 4);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "k%04d", i);
        snprintf(value, sizeof(value), "w%d", i);
        const char *want = i % 100 ? "<absent>" : i % 200 ? value : "<deleted>";
        cr_assert_str_eq(value_of(key), want, "key %s", key);
    }
    cr_assert(rill__cache_find(&cache, "new", 3)->fresh);
    cr_assert(!rill__cache_find(&cache, "k0100", 5)->fresh);
    rill__centry_t **sorted;
    size_t n = rill__cache_sorted(&cache, "", 0, "z", 1, &sorted);
    cr_assert_eq(n, 21);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(rill__key_cmp(sorted[i - 1]->key, sorted[i - 1]->key_len, sorted[i]->key,
                                   sorted[i]->key_len),
                     0);
    free(sorted);
    /* With nothing dirty, eviction empties the cache. */
    rill__cache_mark_clean(&cache);
    cr_assert_eq(rill__cache_evict_clean(&cache), 0);
    cr_assert_eq(cache.cnt, 0);
    cr_assert_str_eq(value_of("new"), "<absent>");
}

/* With no clean entry eviction has nothing to drop: it copies nothing (the entries stay
 * where they are), so a cache full of writes costs no copy before its early commit. */
Test(state_cache, nothing_copied_when_evicted_without_clean_entries) {
    put("a", "1");
    put("b", "2");
    const char *where = rill__cache_find(&cache, "a", 1)->value;
    size_t bytes = cache.bytes;
    cr_assert_eq(rill__cache_evict_clean(&cache), 0);
    cr_assert_eq(rill__cache_find(&cache, "a", 1)->value, where);
    cr_assert_eq(cache.bytes, bytes);
    cr_assert_str_eq(dirty_keys(), "a,b,");
}
