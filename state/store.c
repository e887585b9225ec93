/*
 * store.c — a task's instance of a store: reads and writes through the write cache, and the
 * three steps that make writes durable at commit (see store_int.h): log to the changelog,
 * then apply to RocksDB with the changelog offset, or drop on failure.
 *
 * DESIGN
 * Keys in the cache are the RocksDB keys themselves ([partition][DATA][layout...]), so a
 * cache entry maps one-to-one to a batch operation, and the changelog key is the RocksDB key
 * without its 4-byte partition (restore puts it back). The changelog offset reached by this
 * store is learnt from the host's delivery reports (rill__stores_delivered), which arrive
 * before a commit completes (flush, or commit_transaction, serves them). Window expiry is a
 * pending range delete applied with the next batch; the range delete itself is not logged
 * (the changelog's own retention drops old windows), but the cache's entries it drops are:
 * an entry whose key the changelog already has is produced with its final value first, so
 * the changelog never keeps an earlier value of a window as its last.
 */
#include "store_inst_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reads and writes ---- */

static int cached_get(rill__store_t *st, const void **valuep, size_t *lenp) {
    rill__centry_t *e = rill__cache_find(&st->cache, st->kbuf.data, st->kbuf.len);
    if (e) {
        *valuep = e->value;
        *lenp = e->value_len;
        return e->deleted ? 0 : 1;
    }
    int rc = rill__db_get(st->db, st->cf, st->kbuf.data, st->kbuf.len, &st->vbuf, NULL, 0);
    if (rc == 1) {
        *valuep = st->vbuf.data;
        *lenp = st->vbuf.len;
    }
    return rc;
}

static int cached_put(rill__store_t *st, const void *value, size_t value_len) {
    if (rill__cache_put(&st->cache, st->kbuf.data, st->kbuf.len, value, value_len, !value))
        return -1;
    st->task->host->dirty(st->task->opaque);
    return 0;
}

int rill__kv_get(rill__store_t *st, const void *key, size_t key_len, const void **valuep,
                 size_t *value_lenp) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_kv(&st->kbuf, st->partition, key, key_len))
        return -1;
    return cached_get(st, valuep, value_lenp);
}

int rill__kv_put(rill__store_t *st, const void *key, size_t key_len, const void *value,
                 size_t value_len) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_kv(&st->kbuf, st->partition, key, key_len))
        return -1;
    return cached_put(st, value, value_len);
}

/* As cached_put, for a key absent from RocksDB and the changelog (see rill__cache_put_new). */
static int cached_put_new(rill__store_t *st, const void *value, size_t value_len) {
    if (rill__cache_put_new(&st->cache, st->kbuf.data, st->kbuf.len, value, value_len))
        return -1;
    st->task->host->dirty(st->task->opaque);
    return 0;
}

int rill__kv_put_new(rill__store_t *st, const void *key, size_t key_len, const void *value,
                     size_t value_len) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_kv(&st->kbuf, st->partition, key, key_len))
        return -1;
    return cached_put_new(st, value, value_len);
}

static int64_t segment_of(const rill__store_t *st, int64_t t) {
    return t / st->def->segment_ms;
}

/* Whether time t (window start, session end) lies in a segment dropped by
 * rill__window_expire: gone for readers at once, although RocksDB drops it at the next
 * commit. */
static bool expired(const rill__store_t *st, int64_t t) {
    return segment_of(st, t) < st->expired_below;
}

/* The first time of the segments still live, when from is below it. */
static int64_t live_from(const rill__store_t *st, int64_t from) {
    return expired(st, from) ? st->expired_below * st->def->segment_ms : from;
}

int rill__window_get(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                     const void **valuep, size_t *value_lenp) {
    if (expired(st, start))
        return 0;
    rill_buf_reset(&st->kbuf);
    if (rill__key_window(&st->kbuf, st->partition, segment_of(st, start), key, key_len, start))
        return -1;
    return cached_get(st, valuep, value_lenp);
}

int rill__window_put(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                     const void *value, size_t value_len) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_window(&st->kbuf, st->partition, segment_of(st, start), key, key_len, start))
        return -1;
    return cached_put(st, value, value_len);
}

int rill__window_put_new(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                         const void *value, size_t value_len) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_window(&st->kbuf, st->partition, segment_of(st, start), key, key_len, start))
        return -1;
    return cached_put_new(st, value, value_len);
}

int rill__session_put(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                      int64_t end, const void *value, size_t value_len) {
    rill_buf_reset(&st->kbuf);
    if (rill__key_session(&st->kbuf, st->partition, segment_of(st, end), key, key_len, end, start))
        return -1;
    return cached_put(st, value, value_len);
}

int rill__session_get(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                      int64_t end, const void **valuep, size_t *value_lenp) {
    if (expired(st, end))
        return 0;
    rill_buf_reset(&st->kbuf);
    if (rill__key_session(&st->kbuf, st->partition, segment_of(st, end), key, key_len, end, start))
        return -1;
    return cached_get(st, valuep, value_lenp);
}

int rill__session_remove(rill__store_t *st, const void *key, size_t key_len, int64_t start,
                         int64_t end) {
    return rill__session_put(st, key, key_len, start, end, NULL, 0);
}

/* ---- merged scans over the cache and RocksDB ---- */

typedef int (*rill__scan_cb)(const void *k, size_t k_len, const void *v, size_t v_len,
                             void *opaque);

/* The cache entry of index node *np, or of the first node after it that has one, while below
 * hi (moving *np there); NULL at hi or the end. */
static const rill__centry_t *cache_at(const rill__store_t *st, const rill__cnode_t **np,
                                      const rill_buf_t *hi) {
    for (; *np && rill__key_cmp((*np)->key, (*np)->key_len, hi->data, hi->len) < 0;
         *np = (*np)->next[0]) {
        if ((*np)->entry)
            return (*np)->entry;
    }
    return NULL;
}

/* Calls cb for every live key in [lo, hi), cache entries winning over RocksDB's. The cache's
 * ordered index is walked as the scan goes (no copy), so a scan that cb stops early costs
 * only what it read. */
static int merged_scan(rill__store_t *st, const rill_buf_t *lo, const rill_buf_t *hi,
                       rill__scan_cb cb, void *opaque) {
    const rill__cnode_t *node = rill__cache_seek(&st->cache, lo->data, lo->len);
    const rill__centry_t *e = cache_at(st, &node, hi);
    rill__iter_t *it = rill__db_iter(st->db, st->cf, lo->data, lo->len, hi->data, hi->len);
    int rc = 0;
    while (!rc && (e || rill__iter_valid(it))) {
        size_t klen = 0, vlen = 0;
        const void *k = rill__iter_valid(it) ? rill__iter_key(it, &klen) : NULL;
        int order = !k ? -1 : !e ? 1 : rill__key_cmp(e->key, e->key_len, k, klen);
        if (order <= 0) {
            if (!e->deleted)
                rc = cb(e->key, e->key_len, e->value, e->value_len, opaque);
            node = node->next[0];
            e = cache_at(st, &node, hi);
            if (order == 0)
                rill__iter_next(it);
        } else {
            const void *v = rill__iter_value(it, &vlen);
            rc = cb(k, klen, v, vlen, opaque);
            rill__iter_next(it);
        }
    }
    char err[256];
    if (!rc && rill__iter_error(it, err, sizeof(err))) {
        rill__state_log(st->task->thread->state, RILL__LOG_WARN, st->task->thread->idx,
                        "store \"%s\": scan: %s", st->def->name, err);
        rc = -1;
    }
    rill__iter_destroy(it);
    return rc < 0 ? -1 : 0;
}

typedef struct rill__kvscan_s {
    rill__kv_cb cb;
    void *opaque;
} rill__kvscan_t;

static int kv_scan_one(const void *k, size_t k_len, const void *v, size_t v_len, void *opaque) {
    rill__kvscan_t *kv = opaque;
    return kv->cb((const char *)k + RILL_KEY_PREFIX_LEN, k_len - RILL_KEY_PREFIX_LEN, v, v_len,
                  kv->opaque);
}

int rill__kv_range(rill__store_t *st, const void *lo, size_t lo_len, const void *hi, size_t hi_len,
                   rill__kv_cb cb, void *opaque) {
    rill_buf_t blo = {0}, bhi = {0};
    int rc = -1;
    unsigned char end[RILL_KEY_PREFIX_LEN];
    rill__key_prefix(st->partition, RILL_KEY_DATA + 1, end);
    if (!rill__key_kv(&blo, st->partition, lo, lo_len) &&
        !(hi ? rill__key_kv(&bhi, st->partition, hi, hi_len)
             : rill_buf_append(&bhi, end, sizeof(end)))) {
        rill__kvscan_t kv = {.cb = cb, .opaque = opaque};
        rc = merged_scan(st, &blo, &bhi, kv_scan_one, &kv);
    }
    rill_buf_free(&blo);
    rill_buf_free(&bhi);
    return rc;
}

typedef struct rill__wscan_s {
    int64_t from, to;
    rill__window_cb cb;
    void *opaque;
} rill__wscan_t;

static int window_scan_one(const void *k, size_t k_len, const void *v, size_t v_len, void *opaque) {
    rill__wscan_t *w = opaque;
    int32_t p;
    int64_t seg, start;
    const void *key;
    size_t key_len;
    if (rill__key_window_parse(k, k_len, &p, &seg, &key, &key_len, &start))
        return 0;
    if (start < w->from || start >= w->to)
        return 0;
    return w->cb(key, key_len, start, v, v_len, w->opaque);
}

int rill__window_range(rill__store_t *st, int64_t from, int64_t to, rill__window_cb cb,
                       void *opaque) {
    from = live_from(st, from < 0 ? 0 : from);
    if (to <= from)
        return 0;
    rill_buf_t lo = {0}, hi = {0};
    int rc = -1;
    if (!rill__key_segment_bound(&lo, st->partition, segment_of(st, from)) &&
        !rill__key_segment_bound(&hi, st->partition, segment_of(st, to - 1) + 1)) {
        rill__wscan_t w = {.from = from, .to = to, .cb = cb, .opaque = opaque};
        rc = merged_scan(st, &lo, &hi, window_scan_one, &w);
    }
    rill_buf_free(&lo);
    rill_buf_free(&hi);
    return rc;
}

int rill__window_fetch(rill__store_t *st, const void *key, size_t key_len, int64_t from, int64_t to,
                       rill__window_cb cb, void *opaque) {
    from = live_from(st, from < 0 ? 0 : from);
    if (to <= from)
        return 0;
    rill_buf_t lo = {0}, hi = {0};
    rill__wscan_t w = {.from = from, .to = to, .cb = cb, .opaque = opaque};
    int rc = 0;
    for (int64_t seg = segment_of(st, from); !rc && seg <= segment_of(st, to - 1); seg++) {
        /* Within a segment one key's windows are contiguous, ordered by start. */
        int64_t seg_end = (seg + 1) * st->def->segment_ms;
        rill_buf_reset(&lo);
        rill_buf_reset(&hi);
        if (rill__key_window(&lo, st->partition, seg, key, key_len, from) ||
            rill__key_window(&hi, st->partition, seg, key, key_len, to < seg_end ? to : seg_end))
            rc = -1;
        else
            rc = merged_scan(st, &lo, &hi, window_scan_one, &w);
    }
    rill_buf_free(&lo);
    rill_buf_free(&hi);
    return rc;
}

typedef struct rill__srange_s {
    int64_t from, to;
    rill__session_range_cb cb;
    void *opaque;
} rill__srange_t;

static int session_range_one(const void *k, size_t k_len, const void *v, size_t v_len,
                             void *opaque) {
    rill__srange_t *r = opaque;
    int32_t p;
    int64_t seg, end, start;
    const void *key;
    size_t key_len;
    if (rill__key_session_parse(k, k_len, &p, &seg, &key, &key_len, &end, &start) ||
        end < r->from || end >= r->to)
        return 0;
    return r->cb(key, key_len, start, end, v, v_len, r->opaque);
}

int rill__session_range(rill__store_t *st, int64_t from, int64_t to, rill__session_range_cb cb,
                        void *opaque) {
    from = live_from(st, from < 0 ? 0 : from);
    if (to <= from)
        return 0;
    rill_buf_t lo = {0}, hi = {0};
    int rc = -1;
    if (!rill__key_segment_bound(&lo, st->partition, segment_of(st, from)) &&
        !rill__key_segment_bound(&hi, st->partition, segment_of(st, to - 1) + 1)) {
        rill__srange_t r = {.from = from, .to = to, .cb = cb, .opaque = opaque};
        rc = merged_scan(st, &lo, &hi, session_range_one, &r);
    }
    rill_buf_free(&lo);
    rill_buf_free(&hi);
    return rc;
}

typedef struct rill__sscan_s {
    const void *key;
    size_t key_len;
    int64_t earliest_end, latest_start;
    rill__session_cb cb;
    void *opaque;
} rill__sscan_t;

static int session_scan_one(const void *k, size_t k_len, const void *v, size_t v_len,
                            void *opaque) {
    rill__sscan_t *s = opaque;
    int32_t p;
    int64_t seg, end, start;
    const void *key;
    size_t key_len;
    if (rill__key_session_parse(k, k_len, &p, &seg, &key, &key_len, &end, &start) ||
        key_len != s->key_len || memcmp(key, s->key, key_len))
        return 0;
    if (end < s->earliest_end || start > s->latest_start)
        return 0;
    return s->cb(start, end, v, v_len, s->opaque);
}

int rill__session_find(rill__store_t *st, const void *key, size_t key_len, int64_t earliest_end,
                       int64_t latest_start, rill__session_cb cb, void *opaque) {
    earliest_end = live_from(st, earliest_end < 0 ? 0 : earliest_end);
    rill_buf_t lo = {0}, hi = {0};
    int rc = -1;
    /* Sessions are segmented by end; a matching session ends at or after earliest_end and
     * (starting at or before latest_start) can end no later than the last segment there is:
     * scan from earliest_end's segment to the end of the partition's data. */
    if (!rill__key_segment_bound(&lo, st->partition, segment_of(st, earliest_end)) &&
        !rill__key_segment_bound(&hi, st->partition, INT64_MAX / 2)) {
        rill__sscan_t s = {.key = key,
                           .key_len = key_len,
                           .earliest_end = earliest_end,
                           .latest_start = latest_start,
                           .cb = cb,
                           .opaque = opaque};
        rc = merged_scan(st, &lo, &hi, session_scan_one, &s);
    }
    rill_buf_free(&lo);
    rill_buf_free(&hi);
    return rc;
}

static bool in_range(const rill__centry_t *e, void *opaque) {
    const rill_buf_t *b = opaque;
    return rill__key_cmp(e->key, e->key_len, b[0].data, b[0].len) >= 0 &&
           rill__key_cmp(e->key, e->key_len, b[1].data, b[1].len) < 0;
}

int rill__window_expire(rill__store_t *st, int64_t before) {
    int64_t seg = segment_of(st, before < 0 ? 0 : before); /* segments < seg end before it */
    if (seg <= st->expired_below)
        return 0;
    rill_buf_t b[2] = {{0}, {0}};
    if (rill__key_segment_bound(&b[0], st->partition, 0) ||
        rill__key_segment_bound(&b[1], st->partition, seg)) {
        rill_buf_free(&b[0]);
        rill_buf_free(&b[1]);
        return -1;
    }
    /* Windows the changelog already holds a value of get their final one now; windows born
     * since the last commit were never logged and go without a trace (docs/DESIGN.md,
     * "Changelogs of window stores"). */
    if (rill__store_log_range(st, &b[0], &b[1])) {
        rill_buf_free(&b[0]);
        rill_buf_free(&b[1]);
        return -1;
    }
    rill__batch_delete_range(st->pending, st->cf, b[0].data, b[0].len, b[1].data, b[1].len);
    rill__cache_remove_if(&st->cache, in_range, b);
    st->expired_below = seg;
    rill_buf_free(&b[0]);
    rill_buf_free(&b[1]);
    return 0;
}
