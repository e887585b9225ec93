/*
 * test_keys.c — unit tests of the store key layouts (state/keys.c): byte order equals the
 * documented logical order for window and session keys, encode/parse round trips, partition
 * prefixes keep partitions disjoint, and negative times are refused. No RocksDB.
 */
#include <criterion/criterion.h>

#include "db_int.h"

#include <stdlib.h>
#include <string.h>

#define N_KEYS 4000
#define SEGMENT_MS 60000

/* A decoded key and its encoding. */
typedef struct entry_s {
    int32_t partition;
    int64_t segment;
    unsigned char key[8];
    size_t key_len;
    int64_t end; /* session keys only */
    int64_t start;
    rill_buf_t enc;
} entry_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void) {
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* A short key over a tiny alphabet, so that equal keys, prefixes and bytes 0x00/0xff occur. */
static void random_key(entry_t *e) {
    static const unsigned char alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xff};

    e->key_len = rng() % 5;
    for (size_t i = 0; i < e->key_len; i++)
        e->key[i] = alphabet[rng() % sizeof(alphabet)];
}

/* A time >= 0: mostly small and clustered, sometimes anywhere up to INT64_MAX. */
static int64_t random_time(void) {
    switch (rng() % 4) {
    case 0:
        return (int64_t)(rng() >> 1);
    case 1:
        return (int64_t)(rng() % 5);
    default:
        return (int64_t)(rng() % (10 * SEGMENT_MS));
    }
}

static int cmp_bytes(const void *a, size_t a_len, const void *b, size_t b_len) {
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (c)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

static int cmp_enc(const void *a, const void *b) {
    const entry_t *x = a, *y = b;

    return cmp_bytes(x->enc.data, x->enc.len, y->enc.data, y->enc.len);
}

#define CMP_NUM(a, b)                                                                              \
    do {                                                                                           \
        if ((a) != (b))                                                                            \
            return (a) < (b) ? -1 : 1;                                                             \
    } while (0)

/* The documented logical order: (partition unsigned, segment, key length, key, end, start).
 * Window keys have end = 0 throughout, so this is their order too. */
static int cmp_logical(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    int c;

    CMP_NUM((uint32_t)x->partition, (uint32_t)y->partition);
    CMP_NUM(x->segment, y->segment);
    CMP_NUM(x->key_len, y->key_len);
    c = memcmp(x->key, y->key, x->key_len);
    if (c)
        return c;
    CMP_NUM(x->end, y->end);
    CMP_NUM(x->start, y->start);
    return 0;
}

static void free_entries(entry_t *entries, size_t n) {
    for (size_t i = 0; i < n; i++)
        rill_buf_free(&entries[i].enc);
    free(entries);
}

/* Sorts encodings by bytes, decodes each with parse, and checks the decoded sequence is the
 * logical sort of the inputs. */
static void check_byte_order_is_logical(entry_t *entries, size_t n, bool session) {
    entry_t *expect = malloc(n * sizeof(*expect));

    cr_assert_not_null(expect);
    memcpy(expect, entries, n * sizeof(*expect));
    qsort(expect, n, sizeof(*expect), cmp_logical);
    qsort(entries, n, sizeof(*entries), cmp_enc);
    for (size_t i = 0; i < n; i++) {
        entry_t got = {0};
        const void *key = NULL;
        int rc;

        if (session)
            rc = rill__key_session_parse(entries[i].enc.data, entries[i].enc.len, &got.partition,
                                         &got.segment, &key, &got.key_len, &got.end, &got.start);
        else
            rc = rill__key_window_parse(entries[i].enc.data, entries[i].enc.len, &got.partition,
                                        &got.segment, &key, &got.key_len, &got.start);
        cr_assert_eq(rc, 0, "entry %zu does not parse", i);
        cr_assert_leq(got.key_len, sizeof(got.key));
        memcpy(got.key, key, got.key_len);
        cr_assert_eq(cmp_logical(&got, &expect[i]), 0,
                     "position %zu: byte order differs from (segment, key, time) order", i);
    }
    free(expect); /* shares the encodings with entries */
}

Test(state_keys, window_keys_order_by_segment_key_then_start_when_sorted_as_bytes) {
    entry_t *entries = calloc(N_KEYS, sizeof(*entries));

    cr_assert_not_null(entries);
    for (size_t i = 0; i < N_KEYS; i++) {
        entry_t *e = &entries[i];
        e->partition = 7;
        random_key(e);
        e->start = random_time();
        e->segment = e->start / SEGMENT_MS;
        cr_assert_eq(
            rill__key_window(&e->enc, e->partition, e->segment, e->key, e->key_len, e->start), 0);
    }
    check_byte_order_is_logical(entries, N_KEYS, false);
    free_entries(entries, N_KEYS);
}

Test(state_keys, session_keys_order_by_segment_key_end_then_start_when_sorted_as_bytes) {
    entry_t *entries = calloc(N_KEYS, sizeof(*entries));

    cr_assert_not_null(entries);
    for (size_t i = 0; i < N_KEYS; i++) {
        entry_t *e = &entries[i];
        e->partition = 7;
        random_key(e);
        e->end = random_time();
        e->start = e->end - (int64_t)((uint64_t)random_time() % ((uint64_t)e->end + 1));
        e->segment = e->end / SEGMENT_MS;
        cr_assert_eq(rill__key_session(&e->enc, e->partition, e->segment, e->key, e->key_len,
                                       e->end, e->start),
                     0);
    }
    check_byte_order_is_logical(entries, N_KEYS, true);
    free_entries(entries, N_KEYS);
}

Test(state_keys, parse_returns_the_encoded_fields_when_round_tripped) {
    static const int32_t partitions[] = {0, 1, 255, 256, 65536, INT32_MAX};
    static const int64_t times[] = {0, 1, 255, 256, INT64_C(1700000000000), INT64_MAX};
    static const char key[] = "a\0b\xff";
    rill_buf_t buf = {0};

    for (size_t p = 0; p < sizeof(partitions) / sizeof(*partitions); p++) {
        for (size_t t = 0; t < sizeof(times) / sizeof(*times); t++) {
            for (size_t len = 0; len <= sizeof(key) - 1; len += 2) {
                int32_t partition;
                int64_t segment, start, end;
                const void *k;
                size_t k_len;

                rill_buf_reset(&buf);
                cr_assert_eq(
                    rill__key_window(&buf, partitions[p], times[t] / 7, key, len, times[t]), 0);
                cr_assert_eq(buf.len, RILL_KEY_PREFIX_LEN + 8 + 4 + len + 8);
                cr_assert_eq(rill__key_window_parse(buf.data, buf.len, &partition, &segment, &k,
                                                    &k_len, &start),
                             0);
                cr_assert_eq(partition, partitions[p]);
                cr_assert_eq(segment, times[t] / 7);
                cr_assert_eq(start, times[t]);
                cr_assert_eq(k_len, len);
                cr_assert_arr_eq(k, key, len);

                rill_buf_reset(&buf);
                cr_assert_eq(rill__key_session(&buf, partitions[p], times[t] / 3, key, len,
                                               times[t], times[t] / 2),
                             0);
                cr_assert_eq(rill__key_session_parse(buf.data, buf.len, &partition, &segment, &k,
                                                     &k_len, &end, &start),
                             0);
                cr_assert_eq(partition, partitions[p]);
                cr_assert_eq(segment, times[t] / 3);
                cr_assert_eq(end, times[t]);
                cr_assert_eq(start, times[t] / 2);
                cr_assert_eq(k_len, len);
                cr_assert_arr_eq(k, key, len);
            }
        }
    }
    rill_buf_free(&buf);
}

Test(state_keys, parse_fails_when_the_bytes_are_not_such_a_key) {
    rill_buf_t buf = {0};
    unsigned char meta[RILL_KEY_PREFIX_LEN];

    cr_assert_eq(rill__key_window(&buf, 3, 2, "key", 3, 2000), 0);
    /* Truncated, extended, or with a key length that does not match. */
    cr_assert_eq(rill__key_window_parse(buf.data, buf.len - 1, NULL, NULL, NULL, NULL, NULL), -1);
    cr_assert_eq(rill__key_window_parse(buf.data, 10, NULL, NULL, NULL, NULL, NULL), -1);
    cr_assert_eq(rill__key_session_parse(buf.data, buf.len, NULL, NULL, NULL, NULL, NULL, NULL),
                 -1);
    buf.data[RILL_KEY_PREFIX_LEN + 8 + 3] = 4;
    cr_assert_eq(rill__key_window_parse(buf.data, buf.len, NULL, NULL, NULL, NULL, NULL), -1);
    /* The partition's meta key is not a data key. */
    rill__key_prefix(3, RILL_KEY_META, meta);
    cr_assert_eq(rill__key_window_parse(meta, sizeof(meta), NULL, NULL, NULL, NULL, NULL), -1);
    /* A time with the sign bit set is not one Rill writes. */
    rill_buf_reset(&buf);
    cr_assert_eq(rill__key_window(&buf, 3, 2, "key", 3, 2000), 0);
    buf.data[buf.len - 8] = (char)0x80;
    cr_assert_eq(rill__key_window_parse(buf.data, buf.len, NULL, NULL, NULL, NULL, NULL), -1);
    cr_assert_eq(rill__key_window_parse(NULL, 0, NULL, NULL, NULL, NULL, NULL), -1);
    rill_buf_free(&buf);
}

/* True when lo <= k < hi as bytes. */
static bool in_range(const rill_buf_t *k, const unsigned char *lo, const unsigned char *hi) {
    return cmp_bytes(k->data, k->len, lo, RILL_KEY_PREFIX_LEN) >= 0 &&
           cmp_bytes(k->data, k->len, hi, RILL_KEY_PREFIX_LEN) < 0;
}

Test(state_keys, partition_keys_stay_between_its_prefixes_when_of_any_layout) {
    static const int32_t partitions[] = {0, 1, 2, 127, 128, 255, 256, 65535, 65536, INT32_MAX - 1};
    rill_buf_t k = {0};

    for (size_t i = 0; i < sizeof(partitions) / sizeof(*partitions); i++) {
        int32_t p = partitions[i];
        unsigned char lo[RILL_KEY_PREFIX_LEN], meta[RILL_KEY_PREFIX_LEN], hi[RILL_KEY_PREFIX_LEN];

        rill__key_prefix(p, RILL_KEY_DATA, lo);
        rill__key_prefix(p, RILL_KEY_META, meta);
        rill__key_prefix(p + 1, RILL_KEY_DATA, hi);
        cr_assert(cmp_bytes(lo, sizeof(lo), meta, sizeof(meta)) < 0);
        cr_assert(cmp_bytes(meta, sizeof(meta), hi, sizeof(hi)) < 0);
        for (int n = 0; n < 200; n++) {
            entry_t e = {0};
            int64_t t = random_time();

            random_key(&e);
            memset(e.key + e.key_len, 0xff, sizeof(e.key) - e.key_len);
            /* Data keys lie in [prefix(p, DATA), prefix(p, META)): below the meta key. */
            rill_buf_reset(&k);
            cr_assert_eq(rill__key_kv(&k, p, e.key, n % 2 ? e.key_len : sizeof(e.key)), 0);
            cr_assert(in_range(&k, lo, meta), "kv key of partition %d out of its range", p);
            rill_buf_reset(&k);
            cr_assert_eq(rill__key_window(&k, p, INT64_MAX - n, e.key, e.key_len, t), 0);
            cr_assert(in_range(&k, lo, meta), "window key of partition %d out of range", p);
            rill_buf_reset(&k);
            cr_assert_eq(rill__key_session(&k, p, t / SEGMENT_MS, e.key, e.key_len, t, 0), 0);
            cr_assert(in_range(&k, lo, meta), "session key of partition %d out of range", p);
            rill_buf_reset(&k);
            cr_assert_eq(rill__key_segment_bound(&k, p, t), 0);
            cr_assert(in_range(&k, lo, meta), "segment bound of partition %d out of range", p);
        }
    }
    rill_buf_free(&k);
}

Test(state_keys, segment_bounds_enclose_exactly_their_segments_when_compared) {
    rill_buf_t from = {0}, to = {0}, k = {0};

    cr_assert_eq(rill__key_segment_bound(&from, 1, 3), 0);
    cr_assert_eq(rill__key_segment_bound(&to, 1, 5), 0);
    for (int64_t seg = 0; seg < 8; seg++) {
        rill_buf_reset(&k);
        cr_assert_eq(rill__key_window(&k, 1, seg, "\xff\xff", 2, INT64_MAX), 0);
        bool inside = cmp_bytes(k.data, k.len, from.data, from.len) >= 0 &&
                      cmp_bytes(k.data, k.len, to.data, to.len) < 0;
        cr_assert_eq(inside, seg >= 3 && seg < 5, "segment %lld", (long long)seg);
    }
    rill_buf_free(&from);
    rill_buf_free(&to);
    rill_buf_free(&k);
}

Test(state_keys, encoders_fail_and_leave_the_buffer_when_a_time_is_negative) {
    rill_buf_t buf = {0};

    cr_assert_eq(rill_buf_append(&buf, "x", 1), 0);
    cr_assert_eq(rill__key_window(&buf, 0, 0, "k", 1, -1), -1);
    cr_assert_eq(rill__key_window(&buf, 0, -1, "k", 1, 0), -1);
    cr_assert_eq(rill__key_session(&buf, 0, 0, "k", 1, -1, 0), -1);
    cr_assert_eq(rill__key_session(&buf, 0, 0, "k", 1, 5, -5), -1);
    cr_assert_eq(rill__key_session(&buf, 0, -2, "k", 1, 5, 0), -1);
    cr_assert_eq(rill__key_segment_bound(&buf, 0, INT64_MIN), -1);
    cr_assert_eq(buf.len, 1);
    cr_assert_eq(buf.data[0], 'x');
    rill_buf_free(&buf);
}

Test(state_keys, be64_round_trips_and_orders_when_encoded) {
    static const uint64_t values[] = {0, 1, 0xff, 0x100, 0x0102030405060708u, UINT64_MAX};
    unsigned char a[8], b[8];

    rill__be64_put(a, 0x0102030405060708u);
    cr_assert_arr_eq(a, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
        rill__be64_put(a, values[i]);
        cr_assert_eq(rill__be64_get(a), values[i]);
        if (i > 0) {
            rill__be64_put(b, values[i - 1]);
            cr_assert(memcmp(b, a, 8) < 0);
        }
    }
}
