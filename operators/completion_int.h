/*
 * completion_int.h — the completion operator's internals, shared by completion.c (items,
 * events, due keys, markers, the builder) and completion_held.c (events held until their
 * item arrives). The store layout is described in completion.c. Everything here runs on the
 * stream thread of the task at hand.
 */
#ifndef RILL_COMPLETION_INT_H
#define RILL_COMPLETION_INT_H

#include "endian_int.h"
#include "table_int.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_HELD 100000
#define DEFAULT_RETENTION_MS (24LL * 3600 * 1000)
#define SEQ_LEN 8
#define TIME_LEN 8

typedef struct rill__cpl_conf_s {
    rill_completion_spec_t spec; /* defaults filled in */
    rill_deadline_cb deadline;
    rill_completion_init_cb init;
    rill_completion_accumulate_cb accumulate;
    rill_completion_complete_cb complete;
    void *opaque;
    char *store;
    int items_id; /* the items node: its task state is the one both nodes use */
    /* Counters, all tasks (relaxed atomics). */
    int64_t completed, ignored, held, unmatched, late, failed;
} rill__cpl_conf_t;

/* A key (with a time) collected from a range scan, copied into the list's arena. */
typedef struct rill__cpl_ent_s {
    int64_t time;
    size_t off, len;
} rill__cpl_ent_t;

typedef struct rill__cpl_list_s {
    rill__cpl_ent_t *v;
    size_t cnt, cap;
    rill_buf_t arena;
    int failed;
} rill__cpl_list_t;

/* Hashes of the keys that have held events, with counts (memory only; completion_held.c). */
typedef struct rill__cpl_keyset_s {
    uint64_t *hash; /* 0: a free slot */
    uint32_t *cnt;  /* 0 in a used slot: a key with no held event left */
    size_t cap, used;
    int ready; /* built from the store; until then every release looks in the store */
} rill__cpl_keyset_t;

typedef struct rill__cpl_state_s {
    rill__store_t *store;
    int64_t stream_time, seq, held;            /* the meta entry, as read */
    int64_t saved_time, saved_seq, saved_held; /* what the store holds */
    int64_t checked; /* due keys looked for up to this stream time (memory only, -1) */
    /* Commits are whole (exactly_once_v2): the store holds no key written after the last
     * commit, so keys made from the meta's sequence or an item's deadline are new when
     * written (see put_new). Set by the first load. */
    bool whole_commits;
    /* Time indexes 'D', 'E', 'h': no live entry is below this (memory only). A full scan of
     * what is due up to u handles every entry below u and peeks at the first entry at or
     * after u, whose time it stores here (INT64_MAX: none), so nothing is scanned again until
     * stream time reaches it; a write below it lowers it. 0 after a restart, a rewind or a
     * move: the first scan derives it from the store. */
    int64_t scan_low[3];
    /* The due index read ahead (fire_due): every 'D' entry with time below ahead_until,
     * in order, from ahead_next on (memory only; 0: nothing read). A write of a due entry
     * below ahead_until voids it. */
    rill__cpl_list_t ahead;
    size_t ahead_next;
    int64_t ahead_until;
    rill__cpl_keyset_t held_keys;
    rill_buf_t key, val, state, out, tmp;
    rill__cpl_list_t list;
    /* lineage.enable (completion_trace.c): scratch for the trace keys and values, and the
     * traces a completion is forwarded with */
    rill_buf_t tkey;
    rill__trace_t trace, trace2;
} rill__cpl_state_t;

/* ---- small helpers (static: each file has its own) ---- */

static inline int put_time(rill_buf_t *b, int64_t t) {
    unsigned char be[8];
    rill__be64_put(be, (uint64_t)t);
    return rill_buf_append(b, be, sizeof(be));
}

/* out = prefix [time] key (time < 0: none). */
static inline int make_key(rill_buf_t *out, char prefix, int64_t time, const void *key,
                           size_t len) {
    rill_buf_reset(out);
    return rill_buf_append(out, &prefix, 1) || (time >= 0 && put_time(out, time)) ||
           (len && rill_buf_append(out, key, len));
}

/* out = 'H' [key length] key [seq]: a held event. */
static inline int held_key(rill_buf_t *out, const void *key, size_t len, int64_t seq) {
    unsigned char be[4];
    rill__be32_put(be, (uint32_t)len);
    rill_buf_reset(out);
    return rill_buf_append(out, "H", 1) || rill_buf_append(out, be, 4) ||
           rill_buf_append(out, key, len) || (seq >= 0 && put_time(out, seq));
}

static inline void list_reset(rill__cpl_list_t *l) {
    l->cnt = 0;
    l->failed = 0;
    rill_buf_reset(&l->arena);
}

static inline int list_add(rill__cpl_list_t *l, int64_t time, const void *p, size_t len) {
    if (l->cnt == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rill__cpl_ent_t *v = realloc(l->v, sizeof(*v) * cap);
        if (!v)
            return l->failed = -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->cnt] = (rill__cpl_ent_t){.time = time, .off = l->arena.len, .len = len};
    if (rill_buf_append(&l->arena, p, len))
        return l->failed = -1;
    l->cnt++;
    return 0;
}

static inline const void *list_at(const rill__cpl_list_t *l, size_t i) {
    return l->arena.data + l->v[i].off;
}

static inline int store_failed(rill_ctx_t *ctx, const rill__cpl_conf_t *c, const char *what) {
    rill_ctx_set_error(ctx, "node \"%s\": %s store \"%s\" failed", ctx->node->name, what, c->store);
    return -1;
}

/* The slot of a time index in scan_low, or -1. */
static inline int scan_slot(char prefix) {
    return prefix == 'D' ? 0 : prefix == 'E' ? 1 : prefix == 'h' ? 2 : -1;
}

/* Lowers the bound of key's time index (if it is one) to the time in key. */
static inline void lower_scan(rill__cpl_state_t *st, const rill_buf_t *key) {
    int slot = key->len > 8 ? scan_slot(key->data[0]) : -1;
    if (slot < 0)
        return;
    uint64_t t = 0;
    for (int i = 1; i <= 8; i++)
        t = t << 8 | (unsigned char)key->data[i];
    if ((int64_t)t < st->scan_low[slot])
        st->scan_low[slot] = (int64_t)t;
    if (slot == 0 && (int64_t)t < st->ahead_until)
        st->ahead_until = 0; /* not in st->ahead: read the due index again */
}

static inline int put(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                      const rill_buf_t *key, const void *value, size_t len) {
    if (value)
        lower_scan(st, key);
    if (rill__kv_put(st->store, key->data, key->len, value, len))
        return store_failed(ctx, c, "writing");
    return 0;
}

/* As put (value not NULL) for a key known to be absent from the store: deleted again before
 * the next commit, it costs no changelog record and no RocksDB write (rill__kv_put_new). */
static inline int put_new(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                          const rill_buf_t *key, const void *value, size_t len) {
    lower_scan(st, key);
    if (rill__kv_put_new(st->store, key->data, key->len, value, len))
        return store_failed(ctx, c, "writing");
    return 0;
}

/* The value bytes of rec: its own, or its decoded value encoded by its serde (in buf).
 * Returns 0, or -1 when it has none. */
static inline int value_bytes(const rill_record_t *rec, rill_buf_t *buf, const void **vp,
                              size_t *lenp) {
    if (rec->value) {
        *vp = rec->value;
        *lenp = rec->value_len;
        return 0;
    }
    rill_buf_reset(buf);
    if (!rec->value_obj || !rec->value_serde || !rec->value_serde->serialize ||
        rec->value_serde->serialize(rec->value_serde, rec->value_obj, buf))
        return -1;
    *vp = buf->len ? buf->data : "";
    *lenp = buf->len;
    return 0;
}

static inline int64_t add_sat(int64_t a, int64_t b) {
    return rill__add_sat(a, b); /* time_int.h: defined for any b, negative too */
}

/* Collects the entries of the time index prefix with time in [0, upto), at most limit (0:
 * all), into st->list (for the hold index 'h', two per entry: its key and its value).
 * Returns 0 or -1 with ctx's error set. */
int rill__cpl_scan_index(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         char prefix, int64_t upto, size_t limit);

/* Calls accumulate for event over the key's state (st->state) and writes the new state; an
 * ignored event is counted, a failing one dead-lettered (held: the held event's origin, or
 * NULL for the record at hand). With lineage.enable, an event the callback marks as the lead
 * (RILL_COMPLETION_LEADS) is remembered with trace (NULL: the record at hand's).
 * Returns 0 or -1. */
int rill__cpl_accumulate(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const rill_record_t *item, const rill_record_t *event,
                         const rill__dlq_src_t *held, const rill__trace_t *trace);

/* completion_held.c. Each returns 0, or -1 with ctx's error set. */
/* Holds the event rec (value bytes given) until its item comes, making room first. */
int rill__cpl_hold(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                   const rill_record_t *rec, const void *value, size_t value_len);
/* The item of key arrived: accumulates its held events in arrival order and drops them. */
int rill__cpl_release_held(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                           const void *key, size_t key_len, const rill_record_t *item);
/* Frees the held keys' set. */
void rill__cpl_held_free(rill__cpl_state_t *st);
/* Dead-letters the events held for more than hold_ms of stream time. */
int rill__cpl_expire_held(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st);

/* ---- lineage (completion_trace.c) ---- */

/* Keeps trace t under prefix ('T': the item's, 'W': the event that last changed the state)
 * for key. Returns 0 or -1. */
int rill__cpl_trace_keep(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         char prefix, const void *key, size_t key_len, const rill__trace_t *t);
/* The trace key's completion is forwarded with (into st->trace): the last state-changing
 * event's, with the item's as its other input, or the item's alone. 1 found, 0 none, -1. */
int rill__cpl_trace_load(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const void *key, size_t key_len);
/* Deletes key's kept traces. */
int rill__cpl_trace_drop(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const void *key, size_t key_len);

#endif
