/*
 * keys.c — the byte layouts of the keys in Rill's stores (see db_int.h for the layouts).
 *
 * DESIGN
 * RocksDB orders keys by memcmp, so every number in a key is written big-endian and unsigned:
 * byte order is then numeric order. The partition is written as its 32-bit unsigned value, so
 * one partition's keys are one contiguous range between prefix(p) and prefix(p + 1). Segments
 * and times are epoch milliseconds or quotients of them, never negative in Rill; a negative
 * value would sort after every positive one, so it is refused (-1) rather than encoded.
 * A key's length precedes its bytes so that a key which is a prefix of another cannot mix
 * their window starts; keys therefore order by length first, then by bytes.
 *
 * Every encoder appends to a rill_buf_t and leaves it as it was when it fails. No state, no
 * allocation beyond the buffer's own growth; safe from any thread on distinct buffers.
 */
#include "db_int.h"

#include <string.h>

/* Fixed part of a window or session key before the record key: prefix, segment, length. */
#define KEY_HEAD_LEN (RILL_KEY_PREFIX_LEN + 8 + 4)

/* Writes [partition][tag]; the partition is taken as unsigned for ordering. */
void rill__key_prefix(int32_t partition, uint8_t tag, unsigned char out[RILL_KEY_PREFIX_LEN]) {
    rill__be32_put(out, (uint32_t)partition);
    out[4] = tag;
}

/* Appends the parts of a key in order; on failure truncates out back to its old length. */
static int append_parts(rill_buf_t *out, const void *a, size_t a_len, const void *b, size_t b_len,
                        const void *c, size_t c_len) {
    size_t old = out->len;

    if (rill_buf_append(out, a, a_len) != 0 || rill_buf_append(out, b, b_len) != 0 ||
        rill_buf_append(out, c, c_len) != 0) {
        out->len = old;
        if (out->data)
            out->data[old] = '\0';
        return -1;
    }
    return 0;
}

/* Appends [partition][DATA][key]. Returns 0, or -1 when memory ran out. */
int rill__key_kv(rill_buf_t *out, int32_t partition, const void *key, size_t key_len) {
    unsigned char head[RILL_KEY_PREFIX_LEN];

    rill__key_prefix(partition, RILL_KEY_DATA, head);
    return append_parts(out, head, sizeof(head), key, key_len, NULL, 0);
}

/* Fills head with [partition][DATA][segment][key length]. -1 on a bad segment or length. */
static int key_head(unsigned char head[KEY_HEAD_LEN], int32_t partition, int64_t segment,
                    size_t key_len) {
    if (segment < 0 || key_len > UINT32_MAX)
        return -1;
    rill__key_prefix(partition, RILL_KEY_DATA, head);
    rill__be64_put(head + RILL_KEY_PREFIX_LEN, (uint64_t)segment);
    rill__be32_put(head + RILL_KEY_PREFIX_LEN + 8, (uint32_t)key_len);
    return 0;
}

/* Appends [partition][DATA][segment][key length][key][start]. Returns 0, or -1 when segment
 * or start is negative or memory ran out. */
int rill__key_window(rill_buf_t *out, int32_t partition, int64_t segment, const void *key,
                     size_t key_len, int64_t start) {
    unsigned char head[KEY_HEAD_LEN];
    unsigned char tail[8];

    if (start < 0 || key_head(head, partition, segment, key_len) != 0)
        return -1;
    rill__be64_put(tail, (uint64_t)start);
    return append_parts(out, head, sizeof(head), key, key_len, tail, sizeof(tail));
}

/* Checks a window or session key of len bytes with times_len trailing bytes of times, and
 * reads its head. Returns 0, or -1 when k does not have that shape. */
static int parse_head(const unsigned char *k, size_t len, size_t times_len, int32_t *partition,
                      int64_t *segment, const void **key, size_t *key_len) {
    uint64_t seg;
    uint32_t klen;

    if (len < KEY_HEAD_LEN + times_len || k[4] != RILL_KEY_DATA)
        return -1;
    klen = rill__be32_get(k + RILL_KEY_PREFIX_LEN + 8);
    if ((size_t)klen != len - KEY_HEAD_LEN - times_len)
        return -1;
    seg = rill__be64_get(k + RILL_KEY_PREFIX_LEN);
    if (seg > INT64_MAX)
        return -1;
    if (partition)
        *partition = (int32_t)rill__be32_get(k);
    if (segment)
        *segment = (int64_t)seg;
    if (key)
        *key = k + KEY_HEAD_LEN;
    if (key_len)
        *key_len = klen;
    return 0;
}

/* Reads an 8-byte time at p. Returns 0, or -1 when it would be negative. */
static int time_get(const unsigned char *p, int64_t *t) {
    uint64_t v = rill__be64_get(p);

    if (v > INT64_MAX)
        return -1;
    if (t)
        *t = (int64_t)v;
    return 0;
}

/* Decodes a window key; any out-pointer may be NULL and none is written on failure. key
 * points into k. Returns 0 or -1. */
int rill__key_window_parse(const void *k, size_t len, int32_t *partition, int64_t *segment,
                           const void **key, size_t *key_len, int64_t *start) {
    const unsigned char *p = k;

    if (!k || len < 8 || time_get(p + len - 8, NULL) != 0 ||
        parse_head(p, len, 8, partition, segment, key, key_len) != 0)
        return -1;
    return time_get(p + len - 8, start);
}

/* Appends [partition][DATA][segment]: segments [from, to) of a partition are the keys in
 * [bound(from), bound(to)). Returns 0, or -1 when segment is negative or memory ran out. */
int rill__key_segment_bound(rill_buf_t *out, int32_t partition, int64_t segment) {
    unsigned char head[KEY_HEAD_LEN];

    if (key_head(head, partition, segment, 0) != 0)
        return -1;
    return append_parts(out, head, RILL_KEY_PREFIX_LEN + 8, NULL, 0, NULL, 0);
}

/* Appends [partition][DATA][segment][key length][key][end][start]. Returns 0, or -1 when a
 * time or the segment is negative or memory ran out. */
int rill__key_session(rill_buf_t *out, int32_t partition, int64_t segment, const void *key,
                      size_t key_len, int64_t end, int64_t start) {
    unsigned char head[KEY_HEAD_LEN];
    unsigned char tail[16];

    if (end < 0 || start < 0 || key_head(head, partition, segment, key_len) != 0)
        return -1;
    rill__be64_put(tail, (uint64_t)end);
    rill__be64_put(tail + 8, (uint64_t)start);
    return append_parts(out, head, sizeof(head), key, key_len, tail, sizeof(tail));
}

/* Decodes a session key; any out-pointer may be NULL and none is written on failure. key
 * points into k. Returns 0 or -1. */
int rill__key_session_parse(const void *k, size_t len, int32_t *partition, int64_t *segment,
                            const void **key, size_t *key_len, int64_t *end, int64_t *start) {
    const unsigned char *p = k;

    if (!k || len < 16 || time_get(p + len - 16, NULL) != 0 || time_get(p + len - 8, NULL) != 0 ||
        parse_head(p, len, 16, partition, segment, key, key_len) != 0)
        return -1;
    (void)time_get(p + len - 16, end);
    (void)time_get(p + len - 8, start);
    return 0;
}
