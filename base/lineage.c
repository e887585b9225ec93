/*
 * lineage.c — the trace context codec: traceparent parsing and formatting, the rill.lineage
 * chain with its bound, trace and span ids, and the compact copy kept in state.
 *
 * DESIGN
 * Everything works in caller-provided fixed buffers (rill__trace_t), so a record's trace
 * costs no allocation. Ids come from xoshiro256** with per-thread state, seeded on a
 * thread's first use from getrandom(2) with GRND_NONBLOCK (falling back to the clock, the
 * thread's stack address and the process id when the kernel has no entropy ready): trace
 * ids need to be unique, not secret, and the per-record path makes no system call.
 */
#include "lineage_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- ids ---- */

static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(void) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&seed ^
               ((uint64_t)getpid() << 48);
    }
    for (int i = 0; i < 4; i++)
        rng[i] = splitmix(&seed);
    rng_seeded = true;
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void) {
    if (!rng_seeded)
        rng_seed();
    uint64_t r = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

void rill__trace_random(uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = rng_next();
        if (i == 0 && n >= 8 && r == 0)
            r = 1;
        for (size_t j = 0; j < 8 && i + j < n; j++)
            out[i + j] = (uint8_t)(r >> (8 * j));
    }
}

/* ---- traceparent ---- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is not allowed */
}

/* Reads 2n hex digits into n bytes; -1 on a bad digit or all zero bytes (when nonzero). */
static int hex_bytes(const char *p, uint8_t *out, size_t n, bool nonzero) {
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(p[2 * i]), lo = hex_digit(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
        any |= out[i];
    }
    return nonzero && !any ? -1 : 0;
}

int rill__traceparent_parse(const void *value, size_t len, uint8_t trace_id[16],
                            uint8_t parent_id[8], uint8_t *flags) {
    const char *p = value;
    uint8_t ver, id[16], parent[8], fl;
    if (!p || len < RILL__TRACEPARENT_LEN || hex_bytes(p, &ver, 1, false) || ver == 0xff)
        return -1;
    if ((ver == 0 && len != RILL__TRACEPARENT_LEN) ||
        (ver > 0 && len > RILL__TRACEPARENT_LEN && p[RILL__TRACEPARENT_LEN] != '-'))
        return -1;
    if (p[2] != '-' || p[35] != '-' || p[52] != '-' || hex_bytes(p + 3, id, 16, true) ||
        hex_bytes(p + 36, parent, 8, true) || hex_bytes(p + 53, &fl, 1, false))
        return -1;
    if (trace_id)
        memcpy(trace_id, id, 16);
    if (parent_id)
        memcpy(parent_id, parent, 8);
    if (flags)
        *flags = fl;
    return 0;
}

void rill__hex(char *out, const uint8_t *bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
}

size_t rill__traceparent_format(char out[RILL__TRACEPARENT_LEN + 1], const uint8_t trace_id[16],
                                const uint8_t parent_id[8], uint8_t flags) {
    memcpy(out, "00-", 3);
    rill__hex(out + 3, trace_id, 16);
    out[35] = '-';
    rill__hex(out + 36, parent_id, 8);
    out[52] = '-';
    rill__hex(out + 53, &flags, 1);
    out[RILL__TRACEPARENT_LEN] = '\0';
    return RILL__TRACEPARENT_LEN;
}

/* ---- the chain ---- */

/* Keeps the newest hops of text[0..len) that fit in cap after the marker; writes them to
 * chain. Returns the new length. */
static uint16_t keep_newest(char *chain, const char *text, size_t len, size_t cap) {
    const size_t mark = sizeof(RILL__LINEAGE_DROPPED) - 1;
    const char *p = text, *end = text + len;
    while (p < end && (size_t)(end - p) + mark > cap) {
        const char *gt = memchr(p, '>', (size_t)(end - p));
        p = gt ? gt + 1 : end;
    }
    size_t keep = (size_t)(end - p);
    memmove(chain + mark, p, keep);
    memcpy(chain, RILL__LINEAGE_DROPPED, mark);
    chain[mark + keep] = '\0';
    return (uint16_t)(mark + keep);
}

int rill__lineage_set(char *chain, uint16_t *len, size_t cap, const char *value, size_t vlen) {
    if (vlen <= cap) {
        memmove(chain, value, vlen);
        chain[vlen] = '\0';
        *len = (uint16_t)vlen;
        return 0;
    }
    if (strncmp(value, RILL__LINEAGE_DROPPED, sizeof(RILL__LINEAGE_DROPPED) - 1) == 0) {
        value += sizeof(RILL__LINEAGE_DROPPED) - 1;
        vlen -= sizeof(RILL__LINEAGE_DROPPED) - 1;
    }
    *len = keep_newest(chain, value, vlen, cap);
    return 1;
}

/* Writes v in decimal at p; returns the characters written (at most 20). */
static size_t put_decimal(char *p, int64_t v) {
    char tmp[20];
    size_t n = 0;
    if (v < 0) {
        *p = '-';
        return 1 + put_decimal(p + 1, v == INT64_MIN ? INT64_MAX : -v);
    }
    uint64_t u = (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* ">topic/partition@offset" (no '>' for the first hop) into hop; returns its length. Done by
 * hand: it runs for every output record, and snprintf was a visible share of that. */
static size_t format_hop(char hop[320], bool first, const char *topic, int32_t partition,
                         int64_t offset) {
    size_t n = 0, tl = strnlen(topic, 255);
    if (!first)
        hop[n++] = '>';
    memcpy(hop + n, topic, tl);
    n += tl;
    hop[n++] = '/';
    n += put_decimal(hop + n, partition);
    hop[n++] = '@';
    n += put_decimal(hop + n, offset);
    hop[n] = '\0';
    return n;
}

int rill__lineage_add_hop(char *chain, uint16_t *len, size_t cap, const char *topic,
                          int32_t partition, int64_t offset) {
    char hop[320];
    size_t hl = format_hop(hop, *len == 0, topic, partition, offset);
    if (*len + hl <= cap) {
        memcpy(chain + *len, hop, hl + 1);
        *len = (uint16_t)(*len + hl);
        return 0;
    }
    /* Too long: drop the oldest hops (the marker first, if there is one). */
    const size_t mark = sizeof(RILL__LINEAGE_DROPPED) - 1;
    size_t from = strncmp(chain, RILL__LINEAGE_DROPPED, mark) == 0 ? mark : 0;
    char tmp[RILL__LINEAGE_CAP_MAX + 320];
    size_t tl = *len - from;
    memcpy(tmp, chain + from, tl);
    memcpy(tmp + tl, hop, hl);
    *len = keep_newest(chain, tmp, tl + hl, cap);
    return 1;
}

/* ---- a record's trace ---- */

void rill__trace_from(rill__trace_t *t, size_t cap, const void *traceparent, size_t tp_len,
                      const void *lineage, size_t lin_len, const void *other, size_t other_len,
                      const char *topic, int32_t partition, int64_t offset) {
    t->started = t->malformed = t->truncated = false;
    if (!traceparent ||
        rill__traceparent_parse(traceparent, tp_len, t->trace_id, NULL, &t->flags)) {
        t->malformed = traceparent != NULL;
        t->started = true;
        t->flags = 0;
        rill__trace_random(t->trace_id, 16);
    }
    t->chain_len = t->other_len = 0;
    t->chain[0] = t->other[0] = '\0';
    if (lineage && lin_len)
        t->truncated |= rill__lineage_set(t->chain, &t->chain_len, cap, lineage, lin_len);
    if (other && other_len)
        t->truncated |= rill__lineage_set(t->other, &t->other_len, cap, other, other_len);
    if (topic)
        t->truncated |=
            rill__lineage_add_hop(t->chain, &t->chain_len, cap, topic, partition, offset);
}

void rill__trace_set_other(rill__trace_t *t, size_t cap, const rill__trace_t *t2) {
    char text[RILL__LINEAGE_CAP_MAX + 40];
    rill__hex(text, t2->trace_id, 16);
    text[32] = ':';
    memcpy(text + 33, t2->chain, t2->chain_len);
    /* The trace id is kept whole: only hops are dropped. */
    if (33 + (size_t)t2->chain_len <= cap) {
        memcpy(t->other, text, 33 + (size_t)t2->chain_len);
        t->other_len = (uint16_t)(33 + t2->chain_len);
        t->other[t->other_len] = '\0';
        return;
    }
    memcpy(t->other, text, 33);
    uint16_t len = 0;
    rill__lineage_set(t->other + 33, &len, cap - 33, t2->chain, t2->chain_len);
    t->other_len = (uint16_t)(33 + len);
    t->truncated = true;
}

/* ---- the compact copy ---- */

size_t rill__trace_blob_size(const rill__trace_t *t) {
    return 16 + 1 + 2 + (size_t)t->chain_len + 2 + (size_t)t->other_len;
}

void rill__trace_blob_put(void *out, const rill__trace_t *t) {
    unsigned char *p = out;
    memcpy(p, t->trace_id, 16);
    p[16] = t->flags;
    p[17] = (unsigned char)(t->chain_len >> 8);
    p[18] = (unsigned char)t->chain_len;
    memcpy(p + 19, t->chain, t->chain_len);
    p += 19 + t->chain_len;
    p[0] = (unsigned char)(t->other_len >> 8);
    p[1] = (unsigned char)t->other_len;
    memcpy(p + 2, t->other, t->other_len);
}

int rill__trace_blob_get(rill__trace_t *t, const void *blob, size_t len) {
    const unsigned char *p = blob;
    if (len < 21)
        return -1;
    size_t cl = (size_t)p[17] << 8 | p[18];
    if (cl > RILL__LINEAGE_CAP_MAX || len < 21 + cl)
        return -1;
    size_t ol = (size_t)p[19 + cl] << 8 | p[20 + cl];
    if (ol > RILL__LINEAGE_CAP_MAX || len != 21 + cl + ol)
        return -1;
    memcpy(t->trace_id, p, 16);
    t->flags = p[16];
    memcpy(t->chain, p + 19, cl);
    t->chain[cl] = '\0';
    t->chain_len = (uint16_t)cl;
    memcpy(t->other, p + 21 + cl, ol);
    t->other[ol] = '\0';
    t->other_len = (uint16_t)ol;
    t->started = t->malformed = t->truncated = false;
    return 0;
}

int rill__trace_blob_append(rill_buf_t *out, const rill__trace_t *t) {
    unsigned char blob[sizeof(rill__trace_t)];
    size_t len = rill__trace_blob_size(t);
    unsigned char be[2] = {(unsigned char)(len >> 8), (unsigned char)len};
    rill__trace_blob_put(blob, t);
    return rill_buf_append(out, be, 2) || rill_buf_append(out, blob, len);
}
