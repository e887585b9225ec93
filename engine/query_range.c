/*
 * query_range.c — key ranges of a key-value store: rill_app_store_range() over this
 * instance's partitions, and the row buffers that carry a range between threads and
 * instances.
 *
 * DESIGN
 * A range spans every partition of a store. Each local partition is asked of the stream
 * thread that owns it (one request each, as a get), which scans its store (write cache and
 * RocksDB merged, in key order) into a buffer of rows, at most limit of them; the caller
 * merges the buffers in key order and keeps the first limit rows. So a range costs at most
 * limit rows per partition in memory, a thread is held for one bounded scan, and the answer
 * is never partial: a partition that cannot answer (restoring, too slow) makes the whole
 * range unavailable. The same rows format ([key len 4][key][timestamp 8][value len 4]
 * [value], big-endian) travels between instances (query_forward.c), so one merge serves
 * both.
 */
#include "endian_int.h"
#include "query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_HEAD 16 /* key len 4, timestamp 8, value len 4 */

int rill__rows_append(rill_buf_t *out, const void *key, size_t key_len, int64_t ts,
                      const void *value, size_t value_len) {
    unsigned char klen[4], mid[12];
    if (key_len > UINT32_MAX || value_len > UINT32_MAX)
        return -1;
    rill__be32_put(klen, (uint32_t)key_len);
    rill__be64_put(mid, (uint64_t)ts);
    rill__be32_put(mid + 8, (uint32_t)value_len);
    return rill_buf_append(out, klen, 4) || rill_buf_append(out, key, key_len) ||
                   rill_buf_append(out, mid, 12) || rill_buf_append(out, value, value_len)
               ? -1
               : 0;
}

/* The row at p (left bytes remain): its parts, and its size; 0 when malformed. */
static size_t row_at(const unsigned char *p, size_t left, const unsigned char **key,
                     size_t *key_len, int64_t *ts, const unsigned char **value, size_t *value_len) {
    if (left < ROW_HEAD)
        return 0;
    size_t kl = rill__be32_get(p);
    if (kl > left - ROW_HEAD)
        return 0;
    size_t vl = rill__be32_get(p + 4 + kl + 8);
    if (vl > left - ROW_HEAD - kl)
        return 0;
    *key = p + 4;
    *key_len = kl;
    *ts = (int64_t)rill__be64_get(p + 4 + kl);
    *value = p + 4 + kl + 12;
    *value_len = vl;
    return ROW_HEAD + kl + vl;
}

int rill__rows_walk(const void *rows, size_t len, rill__row_cb cb, void *opaque) {
    const unsigned char *p = rows, *k, *v;
    size_t kl, vl, n;
    int64_t ts;
    while (len) {
        if (!(n = row_at(p, len, &k, &kl, &ts, &v, &vl)))
            return -1;
        if (cb(k, kl, ts, v, vl, opaque))
            return 0;
        p += n;
        len -= n;
    }
    return 0;
}

static int key_cmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : al < bl ? -1 : al > bl;
}

int rill__rows_merge(const rill_buf_t *parts, int n, int limit, rill__row_cb cb, void *opaque,
                     bool *more) {
    size_t *at = calloc((size_t)(n > 0 ? n : 1), sizeof(*at));
    int emitted = 0, rc = 0;
    if (!at)
        return -1;
    for (;;) {
        int best = -1;
        const unsigned char *bk = NULL, *k, *v, *bv = NULL;
        size_t bkl = 0, bvl = 0, bn = 0, kl, vl, sz;
        int64_t ts, bts = -1;
        for (int i = 0; i < n; i++) {
            if (at[i] >= parts[i].len)
                continue;
            sz = row_at((const unsigned char *)parts[i].data + at[i], parts[i].len - at[i], &k, &kl,
                        &ts, &v, &vl);
            if (!sz) {
                rc = -1;
                goto out;
            }
            if (best < 0 || key_cmp(k, kl, bk, bkl) < 0) {
                best = i, bk = k, bkl = kl, bts = ts, bv = v, bvl = vl, bn = sz;
            }
        }
        if (best < 0)
            break;
        if (emitted == limit) {
            *more = true;
            break;
        }
        at[best] += bn;
        emitted++;
        if (cb(bk, bkl, bts, bv, bvl, opaque))
            break;
    }
out:
    free(at);
    return rc;
}

/* ---- the stream thread's side ---- */

typedef struct scan_s {
    rill__query_t *q;
    int rows;
} scan_t;

static int scan_row(const void *key, size_t key_len, const void *value, size_t value_len,
                    void *opaque) {
    scan_t *s = opaque;
    rill__query_t *q = s->q;
    int64_t ts;
    if (s->rows == q->limit) {
        q->more = true;
        return 1;
    }
    if (rill__query_split_stored(q->def, &value, &value_len, &ts)) {
        snprintf(q->error, sizeof(q->error), "store \"%s\" holds a malformed value", q->def->name);
        q->status = RILL_QUERY_ERROR;
        return 1;
    }
    if (rill__rows_append(q->out, key, key_len, ts, value, value_len)) {
        snprintf(q->error, sizeof(q->error), "out of memory");
        q->status = RILL_QUERY_ERROR;
        return 1;
    }
    s->rows++;
    return 0;
}

void rill__query_serve_range(rill__store_t *st, rill__query_t *q) {
    scan_t s = {.q = q};
    q->status = RILL_QUERY_FOUND;
    q->more = false;
    if (q->to_key && key_cmp(q->key ? q->key : "", q->key_len, q->to_key, q->to_key_len) >= 0)
        return; /* an empty range */
    if (rill__kv_range(st, q->key ? q->key : "", q->key_len, q->to_key, q->to_key_len, scan_row,
                       &s) < 0) {
        snprintf(q->error, sizeof(q->error), "reading store \"%s\" failed", q->def->name);
        q->status = RILL_QUERY_ERROR;
    }
}

/* ---- the caller's side ---- */

static int append_row(const void *key, size_t key_len, int64_t ts, const void *value,
                      size_t value_len, void *opaque) {
    return rill__rows_append(opaque, key, key_len, ts, value, value_len) ? 1 : 0;
}

/* Asks every local partition of q->def for its rows into parts[p]; covered[p] marks those
 * answered. Returns FOUND, or the first other status (info->error set). */
static rill_query_status_t ask_all(rill_app_t *app, rill__query_t *proto, rill_buf_t *parts,
                                   uint8_t *covered, int32_t cnt, bool *more,
                                   rill_query_info_t *info, int timeout_ms) {
    int64_t deadline =
        rill__now_ms() + (timeout_ms > 0 ? timeout_ms : RILL__QUERY_DEFAULT_TIMEOUT_MS);
    for (int32_t p = 0; p < cnt; p++) {
        rill__query_t q = *proto;
        q.partition = p;
        q.out = &parts[p];
        int64_t left = deadline - rill__now_ms();
        rill_query_status_t st = rill__query_ask(app, &q, left > 1 ? (int)left : 1);
        if (st == RILL_QUERY_NOT_LOCAL)
            continue;
        if (st != RILL_QUERY_FOUND)
            return rill__query_fail(info, st == RILL_QUERY_NOT_FOUND ? RILL_QUERY_ERROR : st,
                                    "partition %d: %s", (int)p, q.error);
        covered[p] = 1;
        *more |= q.more;
    }
    return RILL_QUERY_FOUND;
}

rill_query_status_t rill__range_local(rill_app_t *app, const char *store, const void *from,
                                      size_t from_len, const void *to, size_t to_len, int limit,
                                      rill_buf_t *out, bool *more, uint8_t **covered, int32_t *cnt,
                                      rill_query_info_t *info, int timeout_ms) {
    rill__query_t proto = {.kind = RILL__Q_RANGE,
                           .key = from,
                           .key_len = from_len,
                           .to_key = to,
                           .to_key_len = to_len,
                           .limit = limit,
                           .out = out,
                           .ts = -1};
    *covered = NULL;
    *more = false;
    if (limit <= 0 || (!to && to_len))
        return rill__query_fail(info, RILL_QUERY_ERROR, "bad arguments");
    rill_query_status_t st = rill__query_check(app, store, RILL_STORE_KV, &proto, info);
    if (st != RILL_QUERY_FOUND)
        return st;
    *cnt = rill__query_partitions(app, proto.def);
    rill_buf_t *parts = calloc((size_t)*cnt, sizeof(*parts));
    *covered = calloc((size_t)*cnt, 1);
    if (!parts || !*covered)
        st = rill__query_fail(info, RILL_QUERY_ERROR, "out of memory");
    else
        st = ask_all(app, &proto, parts, *covered, *cnt, more, info, timeout_ms);
    rill_buf_reset(out);
    if (st == RILL_QUERY_FOUND && rill__rows_merge(parts, *cnt, limit, append_row, out, more))
        st = rill__query_fail(info, RILL_QUERY_ERROR, "out of memory, or a malformed row");
    for (int32_t p = 0; parts && p < *cnt; p++)
        rill_buf_free(&parts[p]);
    free(parts);
    return st;
}

typedef struct user_cb_s {
    rill_kv_row_cb cb;
    void *opaque;
} user_cb_t;

static int to_user(const void *key, size_t key_len, int64_t ts, const void *value, size_t value_len,
                   void *opaque) {
    user_cb_t *u = opaque;
    return u->cb(key, key_len, ts, value, value_len, u->opaque);
}

rill_query_status_t rill_app_store_range(rill_app_t *app, const char *store, const void *from,
                                         size_t from_len, const void *to, size_t to_len, int limit,
                                         rill_kv_row_cb cb, void *opaque, rill_query_info_t *info,
                                         int timeout_ms) {
    rill_buf_t rows = {0};
    uint8_t *covered = NULL;
    int32_t cnt = 0;
    bool more = false;
    rill_query_status_t st = cb ? rill__range_local(app, store, from, from_len, to, to_len, limit,
                                                    &rows, &more, &covered, &cnt, info, timeout_ms)
                                : rill__query_fail(info, RILL_QUERY_ERROR, "bad arguments");
    user_cb_t u = {.cb = cb, .opaque = opaque};
    if (st == RILL_QUERY_FOUND && rill__rows_walk(rows.data, rows.len, to_user, &u))
        st = rill__query_fail(info, RILL_QUERY_ERROR, "a malformed row");
    if (info)
        info->truncated = more;
    free(covered);
    rill_buf_free(&rows);
    return st;
}
