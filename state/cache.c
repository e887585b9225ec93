/*
 * cache.c — a store's write cache: the task's writes since its last commit, one entry per
 * key (the latest value or a deletion), in an open-addressing hash table whose keys and
 * values live in an arena.
 *
 * DESIGN
 * The arena is reset when the cache is emptied after a commit, so a commit interval costs a
 * few block allocations, not one per write. An update whose value fits in the entry's
 * previous space is written in place; otherwise the new value goes to fresh arena space (the
 * old bytes stay until the reset: bytes() counts them, so a key updated often with growing
 * values makes the cache commit sooner, never grow without bound).
 */
#include "cache_int.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN (64 * 1024)

typedef struct block_s {
    struct block_s *next;
    size_t len, cap;
    char data[];
} block_t;

static uint64_t hash_key(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h | 1; /* 0 marks an empty slot */
}

static char *arena_alloc(rill__cache_t *c, size_t len) {
    block_t *b = c->blocks;
    if (!b || b->cap - b->len < len) {
        size_t cap = len > BLOCK_MIN ? len : BLOCK_MIN;
        block_t *n = malloc(sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->len = 0;
        n->cap = cap;
        n->next = b;
        c->blocks = b = n;
    }
    char *p = b->data + b->len;
    b->len += len;
    c->bytes += len;
    return p;
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
    }
    free(c->tab);
    c->bytes += (cap - c->cap) * sizeof(*tab) / 2; /* the table counts, at about its load */
    c->tab = tab;
    c->cap = cap;
    return 0;
}

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

int rill__cache_put(rill__cache_t *c, const void *key, size_t key_len, const void *value,
                    size_t value_len, bool deleted) {
    rill__centry_t *e = rill__cache_find(c, key, key_len);
    if (!e) {
        if ((c->cnt + 1) * 4 > c->cap * 3 && grow(c))
            return -1;
        uint64_t h = hash_key(key, key_len);
        size_t i = h & (c->cap - 1);
        while (c->tab[i].hash)
            i = (i + 1) & (c->cap - 1);
        e = &c->tab[i];
        char *k = arena_alloc(c, key_len ? key_len : 1);
        if (!k)
            return -1;
        memcpy(k, key, key_len);
        *e = (rill__centry_t){.hash = h, .key = k, .key_len = key_len};
        c->cnt++;
    }
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

void rill__cache_remove_if(rill__cache_t *c, bool (*pred)(const rill__centry_t *e, void *opaque),
                           void *opaque) {
    /* Deleting from open addressing: rebuild the table without the matching entries. */
    size_t kept = 0;
    for (size_t i = 0; i < c->cap; i++) {
        rill__centry_t *e = &c->tab[i];
        if (e->hash && pred(e, opaque)) {
            e->hash = 0;
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
    }
    free(old);
    (void)kept;
}

void rill__cache_clear(rill__cache_t *c) {
    block_t *b = c->blocks;
    while (b && b->next) { /* keep one block for the next interval */
        block_t *next = b->next;
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
}

void rill__cache_free(rill__cache_t *c) {
    for (block_t *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(c->tab);
    memset(c, 0, sizeof(*c));
}

static int cmp_entries(const void *a, const void *b) {
    const rill__centry_t *x = *(rill__centry_t *const *)a, *y = *(rill__centry_t *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

size_t rill__cache_sorted(const rill__cache_t *c, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, rill__centry_t ***outp) {
    rill__centry_t **out = malloc(sizeof(*out) * (c->cnt ? c->cnt : 1));
    size_t n = 0;
    rill__centry_t blo = {.key = (char *)lo, .key_len = lo_len};
    rill__centry_t bhi = {.key = (char *)hi, .key_len = hi_len};
    rill__centry_t *plo = &blo, *phi = &bhi;
    for (size_t i = 0; out && i < c->cap; i++) {
        rill__centry_t *e = &c->tab[i];
        if (e->hash && cmp_entries(&e, &plo) >= 0 && cmp_entries(&e, &phi) < 0)
            out[n++] = e;
    }
    if (out)
        qsort(out, n, sizeof(*out), cmp_entries);
    *outp = out;
    return n;
}

int rill__key_cmp(const void *a, size_t a_len, const void *b, size_t b_len) {
    size_t n = a_len < b_len ? a_len : b_len;
    int c = memcmp(a, b, n);
    return c ? c : (a_len > b_len) - (a_len < b_len);
}
