/*
 * fuzz_store_keys.c — libFuzzer harness of the store key layouts (state/keys.c). The whole
 * input, from an exact-size heap copy, is decoded as a window key and as a session key: a
 * decoder either fails without writing any out-parameter, or succeeds with parts that encode
 * back to exactly the input bytes. The input also spells two sets of parts (partition,
 * segment, times, key; the second often near the first); each is encoded into a buffer that
 * already holds some bytes. Checks: a negative segment or time is refused (-1) and the buffer
 * left as it was; otherwise the bytes appended are the documented layout (big-endian,
 * partition as unsigned) and decode back to the same parts. Order: rill__key_cmp is
 * byte-wise order; two window keys order as (partition unsigned, segment, key length, key
 * bytes, start), two session keys as (..., key bytes, end, start), two key-value keys as
 * (partition, then the key byte-wise); a partition's data keys lie in [prefix(p, DATA),
 * prefix(p, META)) and before the next partition's prefix; a window or session key of
 * segment s is at or after bound(t) exactly when s >= t.
 */
#include "cache_int.h"
#include "db_int.h"
#include "fuzz_check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_LEN (RILL_KEY_PREFIX_LEN + 8 + 4)

static const char PRE[] = "pre"; /* what a buffer holds before an encoder appends */

typedef struct parts_s {
    int32_t partition;
    int64_t segment, end, start;
    const unsigned char *key;
    size_t key_len;
} parts_t;

static int sgn(int64_t v) {
    return (v > 0) - (v < 0);
}

static int cmp_i64(int64_t a, int64_t b) {
    return (a > b) - (a < b);
}

/* Byte-wise order, shorter first on a common prefix: the reference for rill__key_cmp. */
static int bytes_cmp(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
    for (size_t i = 0; i < a_len && i < b_len; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return (a_len > b_len) - (a_len < b_len);
}

static int key_cmp(const rill_buf_t *a, const rill_buf_t *b) {
    return sgn(rill__key_cmp(a->data, a->len, b->data, b->len));
}

/* Big-endian writers of the harness's own, for the expected layouts. */
static unsigned char *put(unsigned char *p, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

/* ---------------------------------------------------------------- decoding any bytes */

static void decode_any(const unsigned char *k, size_t len) {
    const int32_t P = 0x5a5a5a5a;
    const int64_t T = -7;
    const void *const K = &P;
    int32_t partition = P;
    int64_t segment = T, end = T, start = T;
    const void *key = K;
    size_t key_len = 99;
    rill_buf_t buf = {0};

    int rc = rill__key_window_parse(k, len, &partition, &segment, &key, &key_len, &start);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rill__key_window_parse(k, len, NULL, NULL, NULL, NULL, NULL) == rc);
    if (rc == 0) {
        FUZZ_CHECK(key == k + HEAD_LEN && key_len == len - HEAD_LEN - 8);
        FUZZ_CHECK(rill__key_window(&buf, partition, segment, key, key_len, start) == 0);
        FUZZ_CHECK(buf.len == len && !memcmp(buf.data, k, len));
    } else {
        FUZZ_CHECK(partition == P && segment == T && start == T && key == K && key_len == 99);
    }

    rill_buf_reset(&buf);
    partition = P, segment = T, start = T, key = K, key_len = 99;
    rc = rill__key_session_parse(k, len, &partition, &segment, &key, &key_len, &end, &start);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rill__key_session_parse(k, len, NULL, NULL, NULL, NULL, NULL, NULL) == rc);
    if (rc == 0) {
        FUZZ_CHECK(key == k + HEAD_LEN && key_len == len - HEAD_LEN - 16);
        FUZZ_CHECK(rill__key_session(&buf, partition, segment, key, key_len, end, start) == 0);
        FUZZ_CHECK(buf.len == len && !memcmp(buf.data, k, len));
    } else {
        FUZZ_CHECK(partition == P && segment == T && end == T && start == T && key == K &&
                   key_len == 99);
    }
    rill_buf_free(&buf);
}

/* ---------------------------------------------------------------- parts from the input */

typedef struct in_s {
    const unsigned char *p;
    size_t n, i;
} in_t;

/* The next bytes (big-endian; zeros past the end). */
static uint64_t take(in_t *in, int bytes) {
    uint64_t v = 0;

    for (int k = 0; k < bytes; k++)
        v = v << 8 | (in->i < in->n ? in->p[in->i++] : 0);
    return v;
}

/* A number from base by mode: 0 base, 1 any (bytes wide), 2 base plus a signed byte,
 * 3 a small non-negative one. */
static int64_t number(in_t *in, int64_t base, unsigned mode, int bytes) {
    int64_t v;

    switch (mode & 3) {
    case 0:
        return base;
    case 1:
        v = (int64_t)take(in, bytes);
        return bytes == 4 ? (int64_t)(int32_t)(uint32_t)v : v;
    case 2:
        if (__builtin_add_overflow(base, (int64_t)(int8_t)take(in, 1), &v))
            return base;
        return bytes == 4 ? (int64_t)(int32_t)(uint32_t)v : v;
    default:
        return (int64_t)take(in, 1);
    }
}

/* A key: 0 base's, 1 any from the input, 2 base's with its last byte changed, 3 base's
 * without its last byte. own holds a changed copy. */
static void key_of(in_t *in, const parts_t *base, unsigned mode, unsigned char own[256],
                   parts_t *out) {
    size_t len;

    switch (mode & 3) {
    case 0:
        out->key = base->key, out->key_len = base->key_len;
        break;
    case 1:
        len = (size_t)take(in, 1);
        if (len > in->n - in->i)
            len = in->n - in->i;
        out->key = in->p + in->i, out->key_len = len;
        in->i += len;
        break;
    case 2:
        memcpy(own, base->key, base->key_len);
        if (base->key_len)
            own[base->key_len - 1] = (unsigned char)(own[base->key_len - 1] + take(in, 1));
        out->key = own, out->key_len = base->key_len;
        break;
    default:
        out->key = base->key, out->key_len = base->key_len ? base->key_len - 1 : 0;
        break;
    }
}

/* Parts from the input, each from base's by a mode. */
static void parts_of(in_t *in, const parts_t *base, unsigned char own[256], parts_t *out) {
    unsigned modes = (unsigned)take(in, 2);

    out->partition = (int32_t)number(in, base->partition, modes, 4);
    out->segment = number(in, base->segment, modes >> 2, 8);
    out->end = number(in, base->end, modes >> 4, 8);
    out->start = number(in, base->start, modes >> 6, 8);
    key_of(in, base, modes >> 8, own, out);
}

/* ---------------------------------------------------------------- encoding */

typedef struct enc_s {
    rill_buf_t kv, window, session, bound; /* the appended bytes only; len 0: refused */
} enc_t;

/* Runs one encoder on a buffer holding PRE: on success (when ok says it must succeed) the
 * appended bytes must be want[0..want_len) and are moved into out; on failure the buffer is
 * unchanged. */
static void expect(int rc, bool ok, rill_buf_t *buf, const unsigned char *want, size_t want_len,
                   rill_buf_t *out) {
    size_t pre = sizeof(PRE) - 1;

    FUZZ_CHECK(buf->len >= pre && !memcmp(buf->data, PRE, pre));
    if (!ok) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(buf->len == pre);
    } else {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(buf->len == pre + want_len && !memcmp(buf->data + pre, want, want_len));
        FUZZ_CHECK(rill_buf_append(out, buf->data + pre, want_len) == 0);
    }
    rill_buf_reset(buf);
    FUZZ_CHECK(rill_buf_append(buf, PRE, pre) == 0);
}

static void encode(const parts_t *x, enc_t *e) {
    unsigned char want[HEAD_LEN + 255 + 16], head[RILL_KEY_PREFIX_LEN], *w;
    rill_buf_t buf = {0};
    bool seg_ok = x->segment >= 0;

    memset(e, 0, sizeof(*e));
    FUZZ_CHECK(rill_buf_append(&buf, PRE, sizeof(PRE) - 1) == 0);

    rill__key_prefix(x->partition, RILL_KEY_META, head);
    w = put(want, (uint32_t)x->partition, 4);
    *w++ = RILL_KEY_META;
    FUZZ_CHECK(!memcmp(head, want, RILL_KEY_PREFIX_LEN));

    /* [partition][DATA][key] */
    w = put(want, (uint32_t)x->partition, 4);
    *w++ = RILL_KEY_DATA;
    memcpy(w, x->key, x->key_len);
    w += x->key_len;
    expect(rill__key_kv(&buf, x->partition, x->key, x->key_len), true, &buf, want,
           (size_t)(w - want), &e->kv);

    /* [partition][DATA][segment] */
    w = put(want + RILL_KEY_PREFIX_LEN, (uint64_t)x->segment, 8);
    expect(rill__key_segment_bound(&buf, x->partition, x->segment), seg_ok, &buf, want,
           (size_t)(w - want), &e->bound);

    /* [partition][DATA][segment][key length][key][start] */
    w = put(w, x->key_len, 4);
    memcpy(w, x->key, x->key_len);
    w += x->key_len;
    unsigned char *times = w;
    w = put(times, (uint64_t)x->start, 8);
    expect(rill__key_window(&buf, x->partition, x->segment, x->key, x->key_len, x->start),
           seg_ok && x->start >= 0, &buf, want, (size_t)(w - want), &e->window);

    /* [partition][DATA][segment][key length][key][end][start] */
    w = put(times, (uint64_t)x->end, 8);
    w = put(w, (uint64_t)x->start, 8);
    expect(rill__key_session(&buf, x->partition, x->segment, x->key, x->key_len, x->end, x->start),
           seg_ok && x->start >= 0 && x->end >= 0, &buf, want, (size_t)(w - want), &e->session);
    rill_buf_free(&buf);
}

static void enc_free(enc_t *e) {
    rill_buf_free(&e->kv);
    rill_buf_free(&e->window);
    rill_buf_free(&e->session);
    rill_buf_free(&e->bound);
}

/* The encoded window and session keys decode to x's parts. */
static void decode_back(const parts_t *x, const enc_t *e) {
    int32_t partition;
    int64_t segment, end, start;
    const void *key;
    size_t key_len;

    if (e->window.len) {
        FUZZ_CHECK(rill__key_window_parse(e->window.data, e->window.len, &partition, &segment, &key,
                                          &key_len, &start) == 0);
        FUZZ_CHECK(partition == x->partition && segment == x->segment && start == x->start);
        FUZZ_CHECK(key_len == x->key_len && !memcmp(key, x->key, key_len));
        FUZZ_CHECK(rill__key_session_parse(e->window.data, e->window.len, NULL, NULL, NULL, NULL,
                                           NULL, NULL) == -1);
    }
    if (e->session.len) {
        FUZZ_CHECK(rill__key_session_parse(e->session.data, e->session.len, &partition, &segment,
                                           &key, &key_len, &end, &start) == 0);
        FUZZ_CHECK(partition == x->partition && segment == x->segment && end == x->end &&
                   start == x->start);
        FUZZ_CHECK(key_len == x->key_len && !memcmp(key, x->key, key_len));
        FUZZ_CHECK(rill__key_window_parse(e->session.data, e->session.len, NULL, NULL, NULL, NULL,
                                          NULL) == -1);
    }
}

/* ---------------------------------------------------------------- order */

/* Numeric order of the parts up to the key (partition unsigned, segment, key length, key
 * bytes). */
static int parts_cmp_head(const parts_t *a, const parts_t *b) {
    int c = cmp_i64((uint32_t)a->partition, (uint32_t)b->partition);

    if (!c)
        c = cmp_i64(a->segment, b->segment);
    if (!c)
        c = cmp_i64((int64_t)a->key_len, (int64_t)b->key_len);
    if (!c && a->key_len)
        c = sgn(memcmp(a->key, b->key, a->key_len));
    return c;
}

static void check_order(const parts_t *a, const enc_t *ea, const parts_t *b, const enc_t *eb) {
    int head = parts_cmp_head(a, b);
    int part = cmp_i64((uint32_t)a->partition, (uint32_t)b->partition);

    /* Key-value keys: partition, then the key byte-wise. */
    FUZZ_CHECK(key_cmp(&ea->kv, &eb->kv) ==
               (part ? part : bytes_cmp(a->key, a->key_len, b->key, b->key_len)));

    if (ea->window.len && eb->window.len) {
        int c = head ? head : cmp_i64(a->start, b->start);
        FUZZ_CHECK(key_cmp(&ea->window, &eb->window) == c);
    }
    if (ea->session.len && eb->session.len) {
        int c = head ? head : cmp_i64(a->end, b->end);
        if (!c)
            c = cmp_i64(a->start, b->start);
        FUZZ_CHECK(key_cmp(&ea->session, &eb->session) == c);
    }
    if (ea->bound.len && eb->bound.len) {
        int c = part ? part : cmp_i64(a->segment, b->segment);
        FUZZ_CHECK(key_cmp(&ea->bound, &eb->bound) == c);
    }

    /* a's window and session keys against the bound of b's segment in a's partition: at or
     * after it exactly when a's segment is at least b's. */
    if (a->segment >= 0 && b->segment >= 0) {
        rill_buf_t bound = {0};
        FUZZ_CHECK(rill__key_segment_bound(&bound, a->partition, b->segment) == 0);
        int after = a->segment >= b->segment;
        if (ea->window.len)
            FUZZ_CHECK((key_cmp(&ea->window, &bound) >= 0) == after);
        if (ea->session.len)
            FUZZ_CHECK((key_cmp(&ea->session, &bound) >= 0) == after);
        rill_buf_free(&bound);
    }
}

/* Every data key of x lies in [prefix(p, DATA), prefix(p, META)), before prefix(p + 1). */
static void check_range(const parts_t *x, const enc_t *e) {
    unsigned char lo[RILL_KEY_PREFIX_LEN], hi[RILL_KEY_PREFIX_LEN], next[RILL_KEY_PREFIX_LEN];
    const rill_buf_t *keys[] = {&e->kv, &e->window, &e->session, &e->bound};
    uint32_t p = (uint32_t)x->partition;

    rill__key_prefix(x->partition, RILL_KEY_DATA, lo);
    rill__key_prefix(x->partition, RILL_KEY_META, hi);
    rill__key_prefix((int32_t)(p + 1), RILL_KEY_DATA, next);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const rill_buf_t *k = keys[i];
        if (!k->len)
            continue;
        FUZZ_CHECK(sgn(rill__key_cmp(k->data, k->len, lo, sizeof(lo))) >= 0);
        FUZZ_CHECK(sgn(rill__key_cmp(k->data, k->len, hi, sizeof(hi))) < 0);
        if (p != UINT32_MAX)
            FUZZ_CHECK(sgn(rill__key_cmp(k->data, k->len, next, sizeof(next))) < 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *copy = malloc(size ? size : 1), own_a[256], own_b[256];
    parts_t base = {0}, a, b;
    enc_t ea, eb;
    in_t in;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    decode_any(copy, size);

    /* rill__key_cmp is byte-wise order: the input's two halves. */
    FUZZ_CHECK(sgn(rill__key_cmp(copy, size / 2, copy + size / 2, size - size / 2)) ==
               bytes_cmp(copy, size / 2, copy + size / 2, size - size / 2));

    in = (in_t){copy, size, 0};
    base.key = copy; /* a key of length 0 */
    parts_of(&in, &base, own_a, &a);
    parts_of(&in, &a, own_b, &b);
    encode(&a, &ea);
    encode(&b, &eb);
    decode_back(&a, &ea);
    decode_back(&b, &eb);
    check_range(&a, &ea);
    check_range(&b, &eb);
    check_order(&a, &ea, &b, &eb);
    check_order(&b, &eb, &a, &ea);
    enc_free(&ea);
    enc_free(&eb);
    free(copy);
    return 0;
}
