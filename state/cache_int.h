/*
 * cache_int.h — the write cache of a store instance (see cache.c).
 */
#ifndef RILL_CACHE_INT_H
#define RILL_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RILL__CACHE_LEVELS 16

/* A key in the cache's ordered index (a skip list in the arena, see cache.c). */
typedef struct rill__cnode_s {
    const char *key; /* the entry's key bytes (arena) */
    size_t key_len;
    struct rill__centry_s *entry; /* its entry in the table (kept up to date when entries move),
                                     NULL once removed */
    int levels;
    struct rill__cnode_s *next[];
} rill__cnode_t;

typedef struct rill__centry_s {
    uint64_t hash; /* 0: empty slot */
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    size_t value_cap;
    rill__cnode_t *node; /* its key in the ordered index (arena: never moves) */
    bool deleted;
    bool fresh; /* the key was absent from RocksDB and the changelog when this entry was made
                   (rill__cache_put_new): deleted, it is nothing to log or apply */
    bool clean; /* what RocksDB and the changelog hold (a commit applied it, nothing wrote it
                   since): kept for reads only, never logged or applied again */
} rill__centry_t;

typedef struct rill__cache_s {
    rill__centry_t *tab;
    size_t cap, cnt;
    size_t bytes; /* arena bytes and table entries in use */
    struct rill__cblock_s *blocks;
    rill__cnode_t *head[RILL__CACHE_LEVELS]; /* the ordered index of the keys */
    uint64_t rng;
    rill__cnode_t **dirty; /* the keys of the entries that are not clean, in the order they
                              became dirty (malloc'd, dirty_cap slots) */
    size_t dirty_cnt, dirty_cap;
} rill__cache_t;

rill__centry_t *rill__cache_find(const rill__cache_t *c, const void *key, size_t key_len);
/* Sets key to value, or marks it deleted. Returns 0 or -1 (out of memory). */
int rill__cache_put(rill__cache_t *c, const void *key, size_t key_len, const void *value,
                    size_t value_len, bool deleted);
/* As rill__cache_put (not deleted) for a key the caller knows to be absent from RocksDB and
 * the changelog: a new entry, or a clean deletion, is marked fresh (an existing one keeps its
 * mark). */
int rill__cache_put_new(rill__cache_t *c, const void *key, size_t key_len, const void *value,
                        size_t value_len);
/* Whether e is to be logged and applied: not a fresh entry deleted again. */
static inline bool rill__centry_durable(const rill__centry_t *e) {
    return !(e->fresh && e->deleted);
}
/* After a commit applied the dirty entries: every entry is clean, and none is fresh (a fresh
 * entry deleted again stays as a clean deletion: its key is absent everywhere). */
void rill__cache_mark_clean(rill__cache_t *c);
/* Drops the clean entries, keeping the dirty ones in new arena space (the old is freed);
 * with no clean entry, does nothing. Returns 0, or -1 when memory ran out (the cache is then
 * as it was). */
int rill__cache_evict_clean(rill__cache_t *c);
/* Sorts the dirty list in key order (for a write batch in key order). */
void rill__cache_sort_dirty(rill__cache_t *c);
/* The entry of dirty list slot i, or NULL when it was removed. */
static inline rill__centry_t *rill__cache_dirty_at(const rill__cache_t *c, size_t i) {
    return c->dirty[i]->entry;
}
/* Removes the entries for which pred holds. */
void rill__cache_remove_if(rill__cache_t *c, bool (*pred)(const rill__centry_t *e, void *opaque),
                           void *opaque);
/* Empties the cache (clean and dirty entries), keeping one arena block. */
void rill__cache_clear(rill__cache_t *c);
void rill__cache_free(rill__cache_t *c);
/* The entries with lo <= key < hi in key order: *outp is a malloc'd array (caller frees). */
size_t rill__cache_sorted(const rill__cache_t *c, const void *lo, size_t lo_len, const void *hi,
                          size_t hi_len, rill__centry_t ***outp);
/* The first key >= lo of the ordered index (NULL: none); walk on with ->next[0]; its entry
 * is ->entry. Valid until the cache is next written. */
const rill__cnode_t *rill__cache_seek(const rill__cache_t *c, const void *lo, size_t lo_len);
/* Byte-wise key order (RocksDB's default comparator). */
int rill__key_cmp(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
