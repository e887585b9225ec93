/*
 * completion_held.c — events held by the completion operator until their item (the record
 * giving their key a deadline) arrives: holding, releasing into the item's state in arrival
 * order, and dead-lettering those held too long or beyond the per-task limit.
 *
 * DESIGN
 * A held event is stored under 'H' [key length] key [seq] with its origin (topic, partition,
 * offset, timestamp) so that it can be dead-lettered as it came, and indexed under 'h'
 * [arrival] [seq] (arrival: the operator's stream time when it was held), so that the events
 * held too long, and the oldest one, are a range scan away; the per-task count is in the meta
 * entry. Headers are not kept: a held event that is dead-lettered carries the dead-letter
 * headers only.
 *
 * An item's arrival looks for its held events only when its key may have some: memory keeps,
 * per task, the 64-bit hashes of the keys with held events and their counts (at most
 * max_held), built by one scan of 'H' the first time an item comes while events are held
 * (after a start, move or rewind) and kept up to date as events are held and dropped. A hash
 * collision costs a scan that finds nothing; without memory for the set, every arrival scans.
 */
#include "completion_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A held event as stored: [arrival][timestamp][partition 4B][offset][topic length 2B][topic]
 * [flags 1B][trace length 2B, trace: when flags has 2][value]. The key is in the store key.
 * Flags 1: there is a value (always set); 2: its trace follows (lineage.enable: the trace
 * the event's outputs carry if it wins, completion_trace.c).
 */
static int held_make(rill_buf_t *out, rill_ctx_t *ctx, int64_t arrival, const rill_record_t *rec,
                     const void *value, size_t value_len) {
    const char *topic = rill_ctx_topic(ctx);
    size_t tlen = topic ? strlen(topic) : 0;
    const rill__trace_t *trace = rill__ctx_trace(ctx);
    unsigned char be4[4], be2[2], has = trace ? 3 : 1;
    if (tlen > 65535)
        tlen = 65535;
    rill__be32_put(be4, (uint32_t)rill_ctx_partition(ctx));
    be2[0] = (unsigned char)(tlen >> 8);
    be2[1] = (unsigned char)tlen;
    rill_buf_reset(out);
    return put_time(out, arrival) || put_time(out, rec->timestamp) ||
           rill_buf_append(out, be4, 4) || put_time(out, rill_ctx_offset(ctx)) ||
           rill_buf_append(out, be2, 2) || (tlen && rill_buf_append(out, topic, tlen)) ||
           rill_buf_append(out, &has, 1) || (trace && rill__trace_blob_append(out, trace)) ||
           (value_len && rill_buf_append(out, value, value_len));
}

typedef struct held_s {
    int64_t arrival;
    rill__dlq_src_t src;
    char topic[256];
    const void *trace; /* its trace's compact copy, or NULL */
    size_t trace_len;
} rill__held_t;

static int held_parse(const void *v, size_t len, const void *key, size_t key_len, rill__held_t *h) {
    const unsigned char *p = v;
    if (len < 8 + 8 + 4 + 8 + 2 + 1)
        return -1;
    size_t tlen = (size_t)p[28] << 8 | p[29];
    if (len < 30 + tlen + 1)
        return -1;
    memset(h, 0, sizeof(*h));
    h->arrival = (int64_t)rill__be64_get(p);
    size_t tcopy = tlen < sizeof(h->topic) - 1 ? tlen : sizeof(h->topic) - 1;
    memcpy(h->topic, p + 30, tcopy);
    size_t at = 30 + tlen + 1;
    if (p[30 + tlen] & 2) {
        if (len < at + 2 || len < at + 2 + ((size_t)p[at] << 8 | p[at + 1]))
            return -1;
        h->trace_len = (size_t)p[at] << 8 | p[at + 1];
        h->trace = p + at + 2;
        at += 2 + h->trace_len;
    }
    h->src = (rill__dlq_src_t){.topic = h->topic,
                               .partition = (int32_t)rill__be32_get(p + 16),
                               .offset = (int64_t)rill__be64_get(p + 20),
                               .key = key,
                               .key_len = key_len,
                               .value = p + at,
                               .value_len = len - at,
                               .timestamp = (int64_t)rill__be64_get(p + 8)};
    return 0;
}

static int held_dead_letter(rill_ctx_t *ctx, rill__cpl_conf_t *c, const rill__held_t *h,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int held_dead_letter(rill_ctx_t *ctx, rill__cpl_conf_t *c, const rill__held_t *h,
                            const char *fmt, ...) {
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    rill__counter_add(&c->unmatched, 1);
    return rill__dlq_send_src(rill__ctx_thread(ctx), &h->src, ctx->node->name, why, 1) ? -1 : 0;
}

/* ---- the set of keys with held events ---- */

static uint64_t key_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h ? h : 1;
}

void rill__cpl_held_free(rill__cpl_state_t *st) {
    free(st->held_keys.hash);
    free(st->held_keys.cnt);
    st->held_keys = (rill__cpl_keyset_t){0};
}

/* The slot of h: its own, or the free one where it would go. */
static size_t ks_slot(const rill__cpl_keyset_t *ks, uint64_t h) {
    size_t i = (size_t)h & (ks->cap - 1);
    while (ks->hash[i] && ks->hash[i] != h)
        i = (i + 1) & (ks->cap - 1);
    return i;
}

/* Rebuilds the table with room for twice its live keys, dropping those with count 0. */
static int ks_rehash(rill__cpl_keyset_t *ks) {
    size_t live = 0;
    for (size_t i = 0; i < ks->cap; i++)
        live += ks->hash[i] && ks->cnt[i];
    size_t cap = 64;
    while (cap < live * 4)
        cap *= 2;
    rill__cpl_keyset_t n = {.hash = calloc(cap, sizeof(uint64_t)),
                            .cnt = calloc(cap, sizeof(uint32_t)),
                            .cap = cap,
                            .ready = ks->ready};
    if (!n.hash || !n.cnt) {
        free(n.hash);
        free(n.cnt);
        return -1;
    }
    for (size_t i = 0; i < ks->cap; i++)
        if (ks->hash[i] && ks->cnt[i]) {
            size_t j = ks_slot(&n, ks->hash[i]);
            n.hash[j] = ks->hash[i];
            n.cnt[j] = ks->cnt[i];
            n.used++;
        }
    free(ks->hash);
    free(ks->cnt);
    *ks = n;
    return 0;
}

/* Counts one more held event of hash h; out of memory, the set is given up (scans again). */
static void ks_add(rill__cpl_state_t *st, uint64_t h) {
    rill__cpl_keyset_t *ks = &st->held_keys;
    if (!ks->ready)
        return;
    if ((ks->used + 1) * 4 > ks->cap * 3 && ks_rehash(ks)) {
        rill__cpl_held_free(st);
        return;
    }
    size_t i = ks_slot(ks, h);
    if (!ks->hash[i]) {
        ks->hash[i] = h;
        ks->used++;
    }
    ks->cnt[i]++;
}

static void ks_del(rill__cpl_state_t *st, uint64_t h) {
    rill__cpl_keyset_t *ks = &st->held_keys;
    if (!ks->ready)
        return;
    size_t i = ks_slot(ks, h);
    if (ks->hash[i] && ks->cnt[i])
        ks->cnt[i]--;
}

/* Whether the key of hash h may have held events (always, without the set). */
static int ks_may_have(const rill__cpl_keyset_t *ks, uint64_t h) {
    if (!ks->ready)
        return 1;
    size_t i = ks_slot(ks, h);
    return ks->hash[i] && ks->cnt[i];
}

static int ks_collect(const void *key, size_t key_len, const void *value, size_t value_len,
                      void *opaque) {
    rill__cpl_state_t *st = opaque;
    const unsigned char *k = key;
    if (key_len < 1 + 4 + SEQ_LEN || rill__be32_get(k + 1) != key_len - 1 - 4 - SEQ_LEN)
        return 0;
    ks_add(st, key_hash(k + 5, key_len - 1 - 4 - SEQ_LEN));
    return st->held_keys.ready ? 0 : 1;
}

/* Builds the set from the store's held events, once per task state. */
static int ks_build(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    rill__cpl_keyset_t *ks = &st->held_keys;
    if (ks->ready)
        return 0;
    rill__cpl_held_free(st);
    ks->ready = 1;
    if (ks_rehash(ks)) {
        rill__cpl_held_free(st);
        return 0;
    }
    if (rill__kv_range(st->store, "H", 1, "I", 1, ks_collect, st) < 0) {
        rill__cpl_held_free(st);
        return store_failed(ctx, c, "scanning");
    }
    return 0;
}

/* ---- held events ---- */

/* Removes the held event whose 'H' key is hkey (its hold index entry too); existed: the
 * event was in the store (not only in its index). */
static int held_remove(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                       const void *hkey, size_t hkey_len, int64_t arrival, int existed) {
    unsigned char idx[1 + 2 * TIME_LEN];
    idx[0] = 'h';
    rill__be64_put(idx + 1, (uint64_t)arrival);
    memcpy(idx + 1 + TIME_LEN, (const unsigned char *)hkey + hkey_len - SEQ_LEN, SEQ_LEN);
    if (rill__kv_put(st->store, hkey, hkey_len, NULL, 0) ||
        rill__kv_put(st->store, idx, sizeof(idx), NULL, 0))
        return store_failed(ctx, c, "writing");
    if (existed)
        ks_del(st, key_hash((const unsigned char *)hkey + 5, hkey_len - 5 - SEQ_LEN));
    st->held--;
    return 0;
}

/* Dead-letters and removes the held events listed in st->list (pairs: index key, value). */
static int drop_listed(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st, size_t max,
                       const char *why) {
    for (size_t i = 0; i + 1 < st->list.cnt && i / 2 < max; i += 2) {
        const unsigned char *ik = list_at(&st->list, i), *iv = list_at(&st->list, i + 1);
        size_t iv_len = st->list.v[i + 1].len;
        if (st->list.v[i].len != 1 + 2 * TIME_LEN || iv_len < 4 || rill__be32_get(iv) != iv_len - 4)
            return store_failed(ctx, c, "reading the hold index of");
        int64_t seq = (int64_t)rill__be64_get(ik + 1 + TIME_LEN);
        if (held_key(&st->key, iv + 4, iv_len - 4, seq))
            return store_failed(ctx, c, "reading");
        const void *v;
        size_t len;
        rill__held_t h;
        int rc = rill__kv_get(st->store, st->key.data, st->key.len, &v, &len);
        if (rc < 0)
            return store_failed(ctx, c, "reading");
        if (rc > 0) {
            rill_buf_reset(&st->val);
            if (rill_buf_append(&st->val, v, len) ||
                held_parse(st->val.data, len, iv + 4, iv_len - 4, &h))
                return store_failed(ctx, c, "reading a held event of");
            if (held_dead_letter(ctx, c, &h, "%s", why))
                return -1;
        }
        if (held_remove(ctx, c, st, st->key.data, st->key.len, st->list.v[i].time, rc > 0))
            return -1;
        if (rc == 0)
            st->held++; /* it was not counted */
    }
    return 0;
}

/* Dead-letters the events held for more than hold_ms of stream time. */
int rill__cpl_expire_held(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    if (!c->spec.hold_ms || st->held <= 0 || st->stream_time < c->spec.hold_ms)
        return 0;
    char why[160];
    snprintf(why, sizeof(why),
             "no deadline record within %" PRId64 " ms of stream time: its "
             "item did not arrive",
             c->spec.hold_ms);
    if (rill__cpl_scan_index(ctx, c, st, 'h', st->stream_time - c->spec.hold_ms + 1, 0))
        return -1;
    return drop_listed(ctx, c, st, SIZE_MAX, why);
}

/* Makes room for one more held event: dead-letters the oldest while max_held are held. */
static int make_room(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    while (st->held >= c->spec.max_held) {
        char why[160];
        snprintf(why, sizeof(why),
                 "no deadline record within %d held records: the oldest "
                 "held event makes room",
                 c->spec.max_held);
        if (rill__cpl_scan_index(ctx, c, st, 'h', INT64_MAX, 1))
            return -1;
        if (st->list.cnt < 2) {
            st->held = 0; /* the count drifted from the index: trust the index */
            return 0;
        }
        int64_t before = st->held;
        if (drop_listed(ctx, c, st, 1, why))
            return -1;
        if (st->held >= before)
            return store_failed(ctx, c, "evicting from");
    }
    return 0;
}

/* Holds event (key, value bytes) until its item comes. */
int rill__cpl_hold(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                   const rill_record_t *rec, const void *value, size_t value_len) {
    if (make_room(ctx, c, st))
        return -1;
    int64_t seq = st->seq++;
    /* Held from the stream time, or from the event's own time when that is later (stream time
     * is the progress of every input, which may be behind this one's, or still -1). */
    int64_t at = rec->timestamp > st->stream_time ? rec->timestamp : st->stream_time;
    unsigned char idx[1 + 2 * TIME_LEN], be[4];
    idx[0] = 'h';
    rill__be64_put(idx + 1, (uint64_t)at);
    rill__be64_put(idx + 1 + TIME_LEN, (uint64_t)seq);
    rill__be32_put(be, (uint32_t)rec->key_len);
    rill_buf_reset(&st->tmp);
    if (held_key(&st->key, rec->key, rec->key_len, seq) ||
        held_make(&st->val, ctx, at, rec, value, value_len) || rill_buf_append(&st->tmp, be, 4) ||
        rill_buf_append(&st->tmp, rec->key, rec->key_len))
        return store_failed(ctx, c, "writing");
    /* seq is new to the store when commits are whole (whole_commits): an event released
     * before the next commit then costs no changelog record. */
    if (st->whole_commits
            ? put_new(ctx, c, st, &st->key, st->val.data, st->val.len) ||
                  rill__kv_put_new(st->store, idx, sizeof(idx), st->tmp.data, st->tmp.len)
            : put(ctx, c, st, &st->key, st->val.data, st->val.len) ||
                  rill__kv_put(st->store, idx, sizeof(idx), st->tmp.data, st->tmp.len))
        return store_failed(ctx, c, "writing");
    if (at < st->scan_low[scan_slot('h')])
        st->scan_low[scan_slot('h')] = at;
    ks_add(st, key_hash(rec->key, rec->key_len));
    st->held++;
    rill__counter_add(&c->held, 1);
    return 0;
}

static int collect_held(const void *key, size_t key_len, const void *value, size_t value_len,
                        void *opaque) {
    rill__cpl_list_t *l = opaque;
    return list_add(l, 0, key, key_len) || list_add(l, 0, value, value_len);
}

/* The item of key arrived: accumulates its held events in arrival order, then drops them. */
int rill__cpl_release_held(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                           const void *key, size_t key_len, const rill_record_t *item) {
    if (st->held <= 0)
        return 0;
    if (ks_build(ctx, c, st))
        return -1;
    if (!ks_may_have(&st->held_keys, key_hash(key, key_len)))
        return 0;
    rill_buf_t lo = {0}, hi = {0};
    int rc = held_key(&lo, key, key_len, 0) || held_key(&hi, key, key_len, -1) ||
             rill_buf_append(&hi, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    list_reset(&st->list);
    if (!rc)
        rc = rill__kv_range(st->store, lo.data, lo.len, hi.data, hi.len, collect_held, &st->list) <
                 0 ||
             st->list.failed;
    rill_buf_free(&lo);
    rill_buf_free(&hi);
    if (rc)
        return store_failed(ctx, c, "scanning");
    for (size_t i = 0; i + 1 < st->list.cnt; i += 2) {
        const void *hk = list_at(&st->list, i);
        size_t hk_len = st->list.v[i].len;
        rill__held_t h;
        if (held_parse(list_at(&st->list, i + 1), st->list.v[i + 1].len, key, key_len, &h))
            return store_failed(ctx, c, "reading a held event of");
        rill_record_t ev = {.key = key,
                            .key_len = key_len,
                            .value = h.src.value,
                            .value_len = h.src.value_len,
                            .timestamp = h.src.timestamp};
        const rill__trace_t *trace =
            h.trace && !rill__trace_blob_get(&st->trace, h.trace, h.trace_len) ? &st->trace : NULL;
        if (rill__cpl_accumulate(ctx, c, st, item, &ev, &h.src, trace) ||
            held_remove(ctx, c, st, hk, hk_len, h.arrival, 1))
            return -1;
    }
    return 0;
}
