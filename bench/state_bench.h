/*
 * state_bench.h — the workload of the state-store benchmarks (bench/state_agg.sh,
 * bench/state_restore.sh), defined once so that the input writer (bench-state-input), the
 * Rill app (bench-state-agg) and the RocksDB ceiling (bench-rocks-ceiling) agree on every key,
 * timestamp and partition without reading each other's output.
 *
 * Header-only and free of Rill and librdkafka headers, like bench_common.h.
 *
 * Record i (0 <= i < records) of an input:
 *   key        16 bytes, "key-%012ld" of the key index k(i), 0 <= k(i) < keys;
 *              k(i) = i % keys with --key-order sequential, or splitmix64 of (seed, i) % keys
 *              with --key-order random
 *   value      8 bytes, i big-endian (the aggregations only count records)
 *   timestamp  base_ms + i: increasing, 1 ms apart, whatever partition the record lands in
 *   partition  murmur2(key) of the topic's partitions, as Kafka's Java clients and Rill's
 *              producer choose (rill_producer_send with partition -1)
 *
 * The windows of the windowed count (tumbling, 10 s, grace 5 s) and the segments of its store
 * (60 s: a store's segment is retention / 3, at least 60 s, state/store_def.c) are computed
 * here too, so that the ceiling writes the keys Rill's window store holds.
 */
#ifndef RILL_STATE_BENCH_H
#define RILL_STATE_BENCH_H

#include <stdint.h>
#include <string.h>

#define SB_KEY_BYTES 16
#define SB_VALUE_BYTES 8
#define SB_WINDOW_MS 10000  /* tumbling window size */
#define SB_GRACE_MS 5000    /* grace of the windowed count */
#define SB_SEGMENT_MS 60000 /* segment of its window store: max(retention / 3, 60 s) */
#define SB_STORE                                                                                   \
    "counts" /* the aggregation's store; changelog <application.id>-counts-changelog               \
              */

typedef enum sb_key_order_e { SB_KEYS_RANDOM = 0, SB_KEYS_SEQUENTIAL = 1 } sb_key_order_t;

/* splitmix64: a well-mixed 64-bit sequence from any start (as bench/produce_input.c). */
static inline uint64_t sb_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The key index of record i. */
static inline long sb_key_index(sb_key_order_t order, long seed, long keys, long i) {
    if (order == SB_KEYS_SEQUENTIAL)
        return i % keys;
    return (long)(sb_splitmix64(((uint64_t)seed << 40) ^ (uint64_t)i) % (uint64_t)keys);
}

/* Writes the 16 key bytes of key index k to out (no terminating NUL kept). */
static inline void sb_key(long k, char out[SB_KEY_BYTES]) {
    unsigned long v = (unsigned long)k % 1000000000000UL;
    memcpy(out, "key-", 4);
    for (int i = SB_KEY_BYTES - 1; i >= 4; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

/* Kafka's murmur2 (Java clients' Utils.murmur2), and its partition: toPositive(h) % n. */
static inline int32_t sb_murmur2_partition(const void *key, size_t len, int32_t partitions) {
    const unsigned char *data = key;
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        uint32_t k = (uint32_t)data[i * 4] | (uint32_t)data[i * 4 + 1] << 8 |
                     (uint32_t)data[i * 4 + 2] << 16 | (uint32_t)data[i * 4 + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char *tail = data + n4 * 4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)((h & 0x7fffffff) % (uint32_t)partitions);
}

/* The start of the tumbling window holding timestamp ts. */
static inline int64_t sb_window_start(int64_t ts) {
    return ts / SB_WINDOW_MS * SB_WINDOW_MS;
}

/* Parses "random" or "sequential"; -1 otherwise. */
static inline int sb_parse_key_order(const char *text, sb_key_order_t *out) {
    if (!strcmp(text, "random"))
        *out = SB_KEYS_RANDOM;
    else if (!strcmp(text, "sequential"))
        *out = SB_KEYS_SEQUENTIAL;
    else
        return -1;
    return 0;
}

#endif /* RILL_STATE_BENCH_H */
