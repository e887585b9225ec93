/*
 * cache.c — a store's write cache: the task's writes since its last commit (dirty entries)
 * and, for reads, what earlier commits applied (clean entries), one entry per key (the latest
 * value or a deletion), in an open-addressing hash table whose keys and values live in an
 * arena, plus an ordered index of the keys for range scans.
 *
 * DESIGN
 * The arena is reset when the cache is emptied, so its life costs a few block allocations,
 * not one per write. An update whose value fits in the entry's previous space is written in
 * place; otherwise the new value goes to fresh arena space (the old bytes stay until the
 * reset: bytes counts them, so a key updated often with growing values makes the cache
 * evict or commit sooner, never grow without bound).
 *
 * A commit applies the dirty entries (those written since the last one, listed in the dirty
 * list) and marks them clean rather than dropping them: the next reads of a hot key still
 * hit the cache, without a RocksDB get. Clean entries hold what RocksDB holds, so they are
 * never logged or applied again unless written again; they are the first to go when the
 * caches need room (rill__cache_evict_clean: the dirty entries move to a new arena and the
 * old one is freed, as the arena frees nothing alone).
 *
 * Range scans (the completion operator's time index scans on every record, window fetches)
 * must not cost a walk over the whole table: a skip list of the keys, its nodes in the same
 * arena, gives the keys of a range in order at O(log n) plus the range. Keys only join it
 * (a deletion is an entry too) until the cache is cleared; remove_if relinks the survivors.
 */
#include "cache_int.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN (64 * 1024)

typedef struct rill__cblock_s {
    struct rill__cblock_s *next;
    size_t len, cap;
    char data[];
} rill__cblock_t;

/* One step of the key hash: w folded in, then mixed so that every bit of w reaches the low
 * bits the table's index takes. */
static uint64_t hash_step(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 31);
}

/* The key's hash, 8 bytes at a time (a byte at a time cost about half of a lookup). */
static uint64_t hash_key(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        h = hash_step(h, w);
    }
    if (len) {
        w = 0;
        for (size_t i = 0; i < len; i++)
            w |= (uint64_t)p[i] << (8 * i);
        h = hash_step(h, w);
    }
    h = (h ^ (h >> 29)) * 0x94d049bb133111ebULL;
    return (h ^ (h >> 32)) | 1; /* 0 marks an empty slot */
}

/* len bytes from the arena, at a multiple of align (a power of two) within the block. */
static char *arena_alloc_at(rill__cache_t *c, size_t len, size_t align) {
    rill__cblock_t *b = c->blocks;
    size_t pad = b ? (align - (size_t)(uintptr_t)(b->data + b->len) % align) % align : 0;
    if (!b || b->cap - b->len < len + pad) { /* a new block's data is aligned (malloc) */
        pad = 0;
        size_t cap = len > BLOCK_MIN ? len : BLOCK_MIN;
        rill__cblock_t *n = malloc(sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->len = 0;
        n->cap = cap;
        n->next = b;
        c->blocks = b = n;
    }
    b->len += pad;
    c->bytes += pad;
    char *p = b->data + b->len;
    b->len += len;
    c->bytes += len;
    return p;
}

static char *arena_alloc(rill__cache_t *c, size_t len) {
    return arena_alloc_at(c, len, 1);
}

static int grow(rill__cache_t *c) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    rill__centry_t *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return -1;
    for (size_t i = 0; i < c->cap; i++) {
        rill__centry_t *e = &c->tab[i];
        if (!e->hash)
            continue;
        size_t j = e->hash & (cap - 1);
        while (tab[j].hash)
            j = (j + 1) & (cap - 1);
        tab[j] = *e;
        tab[j].node->entry = &tab[j];
    }
    free(c->tab);
    c->bytes += (cap - c->cap) * sizeof(*tab) / 2; /* the table counts, at about its load */
    c->tab = tab;
    c->cap = cap;
    return 0;
}

/* ---- the ordered index ---- */

static int random_levels(rill__cache_t *c) {
    uint64_t x = c->rng ? c->rng : 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    int levels = 1;
    while (levels < RILL__CACHE_LEVELS && (x & 3) == 0) { /* p = 1/4 */
        levels++;
        x >>= 2;
    }
    return levels;
}

/* Fills prev[l] with the last node at level l whose key is < key (NULL: the head). */
static void index_find(const rill__cache_t *c, const void *key, size_t key_len,
                       rill__cnode_t **prev) {
    rill__cnode_t *x = NULL;
    for (int l = RILL__CACHE_LEVELS - 1; l >= 0; l--) {
        rill__cnode_t *n = x ? x->next[l] : c->head[l];
        while (n && rill__key_cmp(n->key, n->key_len, key, key_len) < 0) {
            x = n;
            n = n->next[l];
        }
        prev[l] = x;
    }
}

static rill__cnode_t *index_add(rill__cache_t *c, const char *key, size_t key_len) {
    int levels = random_levels(c);
    rill__cnode_t *node = (rill__cnode_t *)arena_alloc_at(
        c, sizeof(*node) + (size_t)levels * sizeof(node->next[0]), _Alignof(rill__cnode_t));
    if (!node)
        return NULL;
    node->key = key;
    node->key_len = key_len;
    node->levels = levels;
    rill__cnode_t *prev[RILL__CACHE_LEVELS];
    index_find(c, key, key_len, prev);
    for (int l = 0; l < levels; l++) {
        rill__cnode_t **link = prev[l] ? &prev[l]->next[l] : &c->head[l];
        node->next[l] = *link;
        *link = node;
    }
    return node;
}

/* Relinks the index over the keys still in the table, in order, dropping the others. */
static void index_relink(rill__cache_t *c) {
    rill__cnode_t *first = c->head[0];
    rill__cnode_t **tail[RILL__CACHE_LEVELS];
    for (int l = 0; l < RILL__CACHE_LEVELS; l++) {
        c->head[l] = NULL;
        tail[l] = &c->head[l];
    }
    for (rill__cnode_t *n = first, *next; n; n = next) {
        next = n->next[0];
        if (!n->entry)
            continue;
        for (int l = 0; l < n->levels; l++) {
            n->next[l] = NULL;
            *tail[l] = n;
            tail[l] = &n->next[l];
        }
    }
}

/* ---- the table ---- */

rill__centry_t *rill__cache_find(const rill__cache_t *c, const void *key, size_t key_len) {
    if (!c->cnt)
        return NULL;
    uint64_t h = hash_key(key, key_len);
    for (size_t i = h & (c->cap - 1); c->tab[i].hash; i = (i + 1) & (c->cap - 1)) {
        rill__centry_t *e = &c->tab[i];
        if (e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len))
            return e;
    }
    return NULL;
}

/* Finds or adds the entry of key; *made: whether it is new. NULL when memory ran out. */
static rill__centry_t *entry_for(rill__cache_t *c, const void *key, size_t key_len, bool *made) {
    rill__centry_t *e = rill__cache_find(c, key, key_len);
    *made = !e;
    if (!e) {
        if ((c->cnt + 1) * 4 > c->cap * 3 && grow(c))
            return NULL;
        uint64_t h = hash_key(key, key_len);
        size_t i = h & (c->cap - 1);
        while (c->tab[i].hash)
            i = (i + 1) & (c->cap - 1);
        e = &c->tab[i];
        char *k = arena_alloc(c, key_len ? key_len : 1);
        if (!k)
            return NULL;
        memcpy(k, key, key_len);
        rill__cnode_t *node = index_add(c, k, key_len);
        if (!node)
            return NULL;
        *e = (rill__centry_t){.hash = h, .key = k, .key_len = key_len, .node = node, .clean = true};
        node->entry = e;
        c->cnt++;
    }
    return e;
}

/* Room for one more key in the dirty list, made before a write so that no write fails
 * half-way. */
static int reserve_dirty(rill__cache_t *c) {
    if (c->dirty_cnt < c->dirty_cap)
        return 0;
    size_t cap = c->dirty_cap ? c->dirty_cap * 2 : 256;
    rill__cnode_t **more = realloc(c->dirty, sizeof(*more) * cap);
    if (!more)
        return -1;
    c->dirty = more;
    c->dirty_cap = cap;
    return 0;
}

/* Makes e dirty (a write is coming): its key joins the dirty list unless it is on it. */
static void make_dirty(rill__cache_t *c, rill__centry_t *e) {
    if (e->clean) {
        c->dirty[c->dirty_cnt++] = e->node;
        e->clean = false;
    }
}

/* The entry of key, made dirty for a write; NULL when memory ran out. *absent: whether the
 * key is absent from RocksDB and the changelog as far as the cache knows (a new entry, or a
 * clean deletion). */
static rill__centry_t *entry_to_write(rill__cache_t *c, const void *key, size_t key_len,
                                      bool *absent) {
    bool made;
    rill__centry_t *e = reserve_dirty(c) ? NULL : entry_for(c, key, key_len, &made);
    if (!e)
        return NULL;
    *absent = made || (e->clean && e->deleted);
    make_dirty(c, e);
    return e;
}

/* Sets e's value, or marks it deleted. */
static int entry_set(rill__cache_t *c, rill__centry_t *e, const void *value, size_t value_len,
                     bool deleted) {
    if (!deleted && value_len > e->value_cap) {
        char *v = arena_alloc(c, value_len);
        if (!v)
            return -1;
        e->value = v;
        e->value_cap = value_len;
    }
    if (!deleted && value_len)
        memcpy(e->value, value, value_len);
    e->value_len = deleted ? 0 : value_len;
    e->deleted = deleted;
    return 0;
}

int rill__cache_put(rill__cache_t *c, const void *key, size_t key_len, const void *value,
                    size_t value_len, bool deleted) {
    bool absent;
    rill__centry_t *e = entry_to_write(c, key, key_len, &absent);
    return e ? entry_set(c, e, value, value_len, deleted) : -1;
}

int rill__cache_put_new(rill__cache_t *c, const void *key, size_t key_len, const void *value,
                        size_t value_len) {
    bool absent;
    rill__centry_t *e = entry_to_write(c, key, key_len, &absent);
    if (!e)
        return -1;
    if (absent)
        e->fresh = true;
    return entry_set(c, e, value, value_len, false);
}

void rill__cache_remove_if(rill__cache_t *c, bool (*pred)(const rill__centry_t *e, void *opaque),
                           void *opaque) {
    /* Deleting from open addressing: rebuild the table without the matching entries. */
    size_t kept = 0;
    for (size_t i = 0; i < c->cap; i++) {
        rill__centry_t *e = &c->tab[i];
        if (e->hash && pred(e, opaque)) {
            e->hash = 0;
            e->node->entry = NULL;
            c->cnt--;
        } else if (e->hash) {
            kept++;
        }
    }
    if (!c->cap)
        return;
    rill__centry_t *old = c->tab;
    size_t cap = c->cap;
    c->tab = calloc(cap, sizeof(*old));
    if (!c->tab) { /* keep the old table (entries already unmarked) */
        c->tab = old;
        return;
    }
    for (size_t i = 0; i < cap; i++) {
        if (!old[i].hash)
            continue;
        size_t j = old[i].hash & (cap - 1);
        while (c->tab[j].hash)
            j = (j + 1) & (cap - 1);
        c->tab[j] = old[i];
        c->tab[j].node->entry = &c->tab[j];
    }
    free(old);
    (void)kept;
    index_relink(c);
    size_t n = 0; /* the dirty list keeps the keys still there */
    for (size_t i = 0; i < c->dirty_cnt; i++)
        if (c->dirty[i]->entry)
            c->dirty[n++] = c->dirty[i];
    c->dirty_cnt = n;
}

void rill__cache_clear(rill__cache_t *c) {
    rill__cblock_t *b = c->blocks;
    while (b && b->next) { /* keep one block for the next interval */
        rill__cblock_t *next = b->next;
        free(b);
        b = next;
    }
    if (b)
        b->len = 0;
    c->blocks = b;
    if (c->cap > 1024) { /* a table that grew for a busy interval goes back to small */
        free(c->tab);
        c->tab = NULL;
        c->cap = 0;
    } else if (c->cnt) {
        memset(c->tab, 0, sizeof(*c->tab) * c->cap);
    }
    c->cnt = 0;
    c->bytes = c->cap * sizeof(*c->tab) / 2;
    memset(c->head, 0, sizeof(c->head));
    c->dirty_cnt = 0;
}

void rill__cache_free(rill__cache_t *c) {
    for (rill__cblock_t *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(c->tab);
    free(c->dirty);
    memset(c, 0, sizeof(*c));
}

void rill__cache_mark_clean(rill__cache_t *c) {
    for (size_t i = 0; i < c->dirty_cnt; i++) {
        rill__centry_t *e = rill__cache_dirty_at(c, i);
        if (e) {
            e->clean = true;
            e->fresh = false;
        }
    }
    c->dirty_cnt = 0;
}

static int node_cmp(const void *a, const void *b) {
    const rill__cnode_t *x = *(rill__cnode_t *const *)a, *y = *(rill__cnode_t *const *)b;
    return rill__key_cmp(x->key, x->key_len, y->key, y->key_len);
}

void rill__cache_sort_dirty(rill__cache_t *c) {
    qsort(c->dirty, c->dirty_cnt, sizeof(*c->dirty), node_cmp);
}

int rill__cache_evict_clean(rill__cache_t *c) {
    if (c->dirty_cnt >= c->cnt) /* nothing clean: nothing to drop, nothing to copy */
        return 0;
    if (!c->dirty_cnt) {
        rill__cache_clear(c);
        return 0;
    }
    /* The dirty entries are copied, in key order, into a cache of their own. */
    rill__cache_t kept = {.rng = c->rng};
    rill__cache_sort_dirty(c);
    for (size_t i = 0; i < c->dirty_cnt; i++) {
        const rill__centry_t *e = rill__cache_dirty_at(c, i);
        bool absent;
        rill__centry_t *k = e ? entry_to_write(&kept, e->key, e->key_len, &absent) : NULL;
        if (e && (!k || entry_set(&kept, k, e->value, e->value_len, e->deleted))) {
            rill__cache_free(&kept);
            return -1;
        }
        if (k)
            k->fresh = e->fresh;
    }
    rill__cache_free(c);
    *c = kept;
    return 0;
}

const rill__cnode_t *rill__cache_seek(const rill__cache_t *c, const void *lo, size_t lo_len) {
    rill__cnode_t *prev[RILL__CACHE_LEVELS];
    index_find(c, lo, lo_len, prev);
    return prev[0] ? prev[0]->next[0] : c->head[0];
}

size_t rill__cache_sorted(const rill__cache_t *c, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, rill__centry_t ***outp) {
    size_t n = 0, cap = 16;
    rill__centry_t **out = malloc(sizeof(*out) * cap);
    rill__cnode_t *prev[RILL__CACHE_LEVELS];
    index_find(c, lo, lo_len, prev);
    rill__cnode_t *node = prev[0] ? prev[0]->next[0] : c->head[0];
    for (; out && node && rill__key_cmp(node->key, node->key_len, hi, hi_len) < 0;
         node = node->next[0]) {
        if (n == cap) {
            rill__centry_t **more = realloc(out, sizeof(*out) * (cap *= 2));
            if (!more) {
                free(out);
                out = NULL;
                break;
            }
            out = more;
        }
        out[n++] = node->entry;
    }
    *outp = out;
    return out ? n : 0;
}

int rill__key_cmp(const void *a, size_t a_len, const void *b, size_t b_len) {
    size_t n = a_len < b_len ? a_len : b_len;
    int c = memcmp(a, b, n);
    return c ? c : (a_len > b_len) - (a_len < b_len);
}
