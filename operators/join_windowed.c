/*
 * join_windowed.c — stream-stream windowed joins (inner, left, outer), as Kafka Streams'
 * KStream#join/leftJoin/outerJoin with JoinWindows.
 *
 * DESIGN
 * Three nodes: one per side (the same operator, told its side by its configuration) and a
 * merge of both, which is the stream of results. Each side node keeps its records in its
 * side's window store, keyed by (key, timestamp), the value a list of every record of that
 * key and time (join_int.h), and looks up the other side's store over its window. Both read
 * and write the same stores, which live in the task, so the sub-topology must be
 * co-partitioned (the operators' copartitioned flag).
 *
 * Unmatched records. For left and outer joins, a record of a side whose misses are emitted
 * that finds no match waits in a key-value store (the "outer" store) under [time 8 bytes BE]
 * [side 1 byte][key], with the list of its key's values at that time; the first match of any
 * of them removes the entry (records of one key, side and time have the same window, so a
 * record that matches one matches all). When stream time passes the window's end plus grace,
 * a range scan from time 0 finds the entries whose windows closed, which are emitted with a
 * NULL other side and removed, in time order. As a record is late when it is more than grace
 * behind stream time, no record that could match one of them can be accepted after that, so
 * a null result is never followed by a match.
 *
 * Stream time is the task's progress (progress.c), which neither side's records run ahead of,
 * so neither side needs the other's state.
 *
 * Expiry. A record at t' is needed while an on-time record of the other side can reach it,
 * i.e. while t' >= T - grace - max(before, after); older segments of each side's store are
 * dropped (once per segment) by the side that writes it.
 */
#include "join_int.h"
#include "window_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LEFT = 0, RIGHT = 1 };

typedef struct ssj_conf_s {
    rill_join_spec_t spec; /* validated: after_ms resolved */
    int side;
    int other_id; /* the other side's node */
    rill_joiner_cb joiner;
    void *opaque;
    char *this_store, *other_store, *outer_store; /* outer_store NULL for inner joins */
    int64_t late; /* late records of this side, all tasks (atomic) */
} rill__ssj_conf_t;

typedef struct ssj_state_s {
    rill__store_t *this_store, *other_store, *outer;
    int64_t max_ts;      /* the largest timestamp this side has seen, -1 at start */
    int64_t scanned;     /* stream time of the last scan for closed windows, -1 at start */
    int64_t expired_seg; /* expiry asked up to this segment */
    int64_t segment_ms;
    rill_buf_t val, out, list, okey;
    rill__win_items_t items;
} rill__ssj_state_t;

static bool tracked(const rill__ssj_conf_t *c, int side) {
    return c->spec.kind == RILL_JOIN_OUTER || (c->spec.kind == RILL_JOIN_LEFT && side == LEFT);
}

/* The end of a side's window after its record's time: a left record's window reaches after,
 * a right record's before. */
static int64_t reach(const rill__ssj_conf_t *c, int side) {
    return side == LEFT ? c->spec.after_ms : c->spec.before_ms;
}

static int failed(rill_ctx_t *ctx, const char *what, const char *store) {
    rill_ctx_set_error(ctx, "join \"%s\": %s store \"%s\" failed", ctx->node->name, what, store);
    return -1;
}

static int load(rill_ctx_t *ctx, const rill__ssj_conf_t *c, rill__ssj_state_t *st) {
    if (st->this_store)
        return 0;
    st->this_store = rill__ctx_store(ctx, c->this_store);
    st->other_store = rill__ctx_store(ctx, c->other_store);
    st->outer = c->outer_store ? rill__ctx_store(ctx, c->outer_store) : NULL;
    if (!st->this_store || !st->other_store || (c->outer_store && !st->outer)) {
        st->this_store = NULL;
        rill_ctx_set_error(ctx, "join \"%s\": its stores are not open", ctx->node->name);
        return -1;
    }
    return 0;
}

/* The join's time: the task's progress (progress.c), which the two sides' records never run
 * ahead of. */
static int64_t stream_time(rill_ctx_t *ctx, const rill__ssj_conf_t *c,
                           const rill__ssj_state_t *st) {
    (void)c;
    (void)st;
    return rill_ctx_stream_time(ctx);
}

/* The outer store's key of (time, side, key) into st->okey. */
static int outer_key(rill__ssj_state_t *st, int64_t t, int side, const void *key, size_t key_len) {
    unsigned char head[9];
    rill__be64_put(head, (uint64_t)t);
    head[8] = (unsigned char)side;
    rill_buf_reset(&st->okey);
    return rill_buf_append(&st->okey, head, sizeof(head)) ||
                   (key_len && rill_buf_append(&st->okey, key, key_len))
               ? -1
               : 0;
}

/* Appends value to the list under (key, t) of a window store, or of the outer store. */
static int list_add(rill_ctx_t *ctx, rill__ssj_state_t *st, rill__store_t *store, const char *name,
                    const void *okey, size_t okey_len, const void *key, size_t key_len, int64_t t,
                    const void *value, size_t value_len) {
    const void *old = NULL;
    size_t old_len = 0;
    int rc = okey ? rill__kv_get(store, okey, okey_len, &old, &old_len)
                  : rill__window_get(store, key, key_len, t, &old, &old_len);
    if (rc < 0)
        return failed(ctx, "reading", name);
    if (rill__join_list_append(&st->list, rc ? old : NULL, rc ? old_len : 0, value, value_len)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    rc = okey ? rill__kv_put(store, okey, okey_len, st->list.data, st->list.len)
              : rill__window_put(store, key, key_len, t, st->list.data, st->list.len);
    return rc ? failed(ctx, "writing", name) : 0;
}

static int fetch_cb(const void *key, size_t key_len, int64_t start, const void *value,
                    size_t value_len, void *opaque) {
    return rill__win_items_add(opaque, key, key_len, start, start, start, value, value_len);
}

/* Emits one result of this side's record (rec, value) and the other side's (key, t, v). */
static int emit_pair(rill_ctx_t *ctx, const rill__ssj_conf_t *c, rill__ssj_state_t *st,
                     const rill_record_t *rec, const void *value, size_t value_len, int64_t other_t,
                     const void *other_v, size_t other_len) {
    rill_record_t mine = {.key = rec->key,
                          .key_len = rec->key_len,
                          .value = value,
                          .value_len = value_len,
                          .timestamp = rec->timestamp,
                          .headers = rec->headers};
    rill_record_t theirs = {.key = rec->key,
                            .key_len = rec->key_len,
                            .value = other_v,
                            .value_len = other_len,
                            .timestamp = other_t,
                            .headers = rec->headers};
    int64_t ts = rec->timestamp > other_t ? rec->timestamp : other_t;
    return rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len,
                           c->side == LEFT ? &mine : &theirs, c->side == LEFT ? &theirs : &mine, ts,
                           rec->headers, &st->out);
}

/* Joins rec with the other side's records of its key in its window; *matchedp tells whether
 * there was one. Matched records of the other side leave the outer store. */
static int match(rill_ctx_t *ctx, const rill__ssj_conf_t *c, rill__ssj_state_t *st,
                 const rill_record_t *rec, const void *value, size_t value_len, bool *matchedp) {
    int64_t t = rec->timestamp;
    int64_t lo = c->side == LEFT ? t - c->spec.before_ms : t - c->spec.after_ms;
    int64_t hi = t + reach(c, c->side); /* included */
    int other = 1 - c->side;
    rill__win_items_reset(&st->items);
    if (lo < 0)
        lo = 0;
    if (rill__window_fetch(st->other_store, rec->key, rec->key_len, lo, hi + 1, fetch_cb,
                           &st->items) < 0 ||
        st->items.failed)
        return failed(ctx, "reading", c->other_store);
    *matchedp = false;
    for (size_t i = 0; i < st->items.cnt; i++) {
        const rill__win_item_t *it = &st->items.v[i];
        const void *list = rill__win_item_agg(&st->items, i), *v;
        size_t pos = 0, len;
        int rc;
        while ((rc = rill__join_list_next(list, it->agg_len, &pos, &v, &len)) > 0) {
            *matchedp = true;
            if (emit_pair(ctx, c, st, rec, value, value_len, it->start, v, len))
                return -1;
        }
        if (rc < 0)
            return failed(ctx, "parsing a value of", c->other_store);
        if (tracked(c, other) && st->outer &&
            (outer_key(st, it->start, other, rec->key, rec->key_len) ||
             rill__kv_put(st->outer, st->okey.data, st->okey.len, NULL, 0)))
            return failed(ctx, "deleting from", c->outer_store);
    }
    return 0;
}

static int collect_cb(const void *key, size_t key_len, const void *value, size_t value_len,
                      void *opaque) {
    return rill__win_items_add(opaque, key, key_len, 0, 0, 0, value, value_len);
}

/* Emits, once, the waiting records whose windows have closed at stream time now. */
static int emit_closed(rill_ctx_t *ctx, const rill__ssj_conf_t *c, rill__ssj_state_t *st,
                       int64_t now) {
    int64_t bound[2] = {now - c->spec.after_ms - c->spec.grace_ms,
                        now - c->spec.before_ms - c->spec.grace_ms};
    if (!st->outer || now <= st->scanned)
        return 0;
    int64_t hi = tracked(c, RIGHT) && bound[RIGHT] > bound[LEFT] ? bound[RIGHT] : bound[LEFT];
    st->scanned = now;
    if (hi <= 0)
        return 0;
    unsigned char lo_key[8] = {0}, hi_key[8];
    rill__be64_put(hi_key, (uint64_t)hi);
    rill__win_items_reset(&st->items);
    if (rill__kv_range(st->outer, lo_key, sizeof(lo_key), hi_key, sizeof(hi_key), collect_cb,
                       &st->items) < 0 ||
        st->items.failed)
        return failed(ctx, "scanning", c->outer_store);
    for (size_t i = 0; i < st->items.cnt; i++) {
        const rill__win_item_t *it = &st->items.v[i];
        const unsigned char *okey = rill__win_item_key(&st->items, i);
        if (it->key_len < 9)
            return failed(ctx, "parsing a key of", c->outer_store);
        int64_t t = (int64_t)rill__be64_get(okey);
        int side = okey[8] == RIGHT ? RIGHT : LEFT;
        if (t >= bound[side])
            continue;
        rill_record_t held = {.key = okey + 9, .key_len = it->key_len - 9, .timestamp = t};
        const void *list = rill__win_item_agg(&st->items, i);
        size_t pos = 0;
        int rc;
        while ((rc = rill__join_list_next(list, it->agg_len, &pos, &held.value, &held.value_len)) >
               0) {
            ctx->error[0] = '\0';
            if (rill__join_emit(ctx, c->joiner, c->opaque, held.key, held.key_len,
                                side == LEFT ? &held : NULL, side == RIGHT ? &held : NULL, t, NULL,
                                &st->out) &&
                rill__join_dead_letter(ctx, NULL, -1, &held,
                                       ctx->error[0] ? ctx->error : "join result failed"))
                return -1;
        }
        if (rc < 0)
            return failed(ctx, "parsing a value of", c->outer_store);
        if (rill__kv_put(st->outer, okey, it->key_len, NULL, 0))
            return failed(ctx, "deleting from", c->outer_store);
    }
    return 0;
}

static int expire(rill_ctx_t *ctx, const rill__ssj_conf_t *c, rill__ssj_state_t *st, int64_t now) {
    int64_t span = c->spec.before_ms > c->spec.after_ms ? c->spec.before_ms : c->spec.after_ms;
    int64_t before = now - c->spec.grace_ms - span;
    if (before <= 0 || before / st->segment_ms <= st->expired_seg)
        return 0;
    if (rill__window_expire(st->this_store, before))
        return failed(ctx, "expiring", c->this_store);
    st->expired_seg = before / st->segment_ms;
    return 0;
}

static int ssj_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__ssj_conf_t *c = ctx->node->conf;
    rill__ssj_state_t *st = state;
    const void *value;
    size_t value_len;
    bool matched;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: join \"%s\" matches records by key "
                                     "and cannot place a record without one",
                                     ctx->node->name);
    if (rec->timestamp < 0)
        return rill__agg_dead_letter(ctx, rec,
                                     "negative timestamp %" PRId64 ": join \"%s\" "
                                     "cannot place it in a window",
                                     rec->timestamp, ctx->node->name);
    if (load(ctx, c, st))
        return -1;
    int64_t t = rec->timestamp;
    if (t > st->max_ts)
        st->max_ts = t;
    int64_t now = stream_time(ctx, c, st);
    if (t < now - c->spec.grace_ms) {
        __atomic_fetch_add(&c->late, 1, __ATOMIC_RELAXED);
        return rill__agg_dead_letter(ctx, rec,
                                     "late: record at %" PRId64 ", stream time %" PRId64
                                     ": more than the grace of %" PRId64 " ms behind",
                                     t, now, c->spec.grace_ms);
    }
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len) ||
        list_add(ctx, st, st->this_store, c->this_store, NULL, 0, rec->key, rec->key_len, t, value,
                 value_len) ||
        match(ctx, c, st, rec, value, value_len, &matched))
        return -1;
    if (!matched && tracked(c, c->side)) {
        /* value may point into st->val, which outer_key does not touch. */
        if (outer_key(st, t, c->side, rec->key, rec->key_len) ||
            list_add(ctx, st, st->outer, c->outer_store, st->okey.data, st->okey.len, NULL, 0, 0,
                     value, value_len))
            return -1;
    }
    return emit_closed(ctx, c, st, now) || expire(ctx, c, st, now) ? -1 : 0;
}

/* Emits closed windows as stream time advances without a record reaching the join. Only the
 * left node scans: both share the outer store. */
static int ssj_punctuate(rill_ctx_t *ctx, int64_t stream_time_arg, void *state) {
    rill__ssj_conf_t *c = ctx->node->conf;
    rill__ssj_state_t *st = state;
    if (c->side != LEFT || !c->outer_store)
        return 0;
    if (load(ctx, c, st))
        return -1;
    int64_t now = stream_time(ctx, c, st);
    if (stream_time_arg > now)
        now = stream_time_arg;
    return emit_closed(ctx, c, st, now);
}

static int ssj_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__ssj_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->max_ts = -1;
    st->scanned = -1;
    st->expired_seg = -1;
    st->segment_ms = 60000;
    for (int i = 0; i < node->store_cnt; i++) {
        const rill__store_def_t *def = node->stores[i];
        if (def->kind == RILL_STORE_WINDOW && def->segment_ms > 0)
            st->segment_ms = def->segment_ms;
    }
    *statep = st;
    return 0;
}

static void ssj_close(const rill__node_t *node, void *state) {
    rill__ssj_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->val);
    rill_buf_free(&st->out);
    rill_buf_free(&st->list);
    rill_buf_free(&st->okey);
    free(st->items.v);
    rill_buf_free(&st->items.arena);
    free(st);
}

static void ssj_free_conf(void *conf) {
    rill__ssj_conf_t *c = conf;
    if (c) {
        free(c->this_store);
        free(c->other_store);
        free(c->outer_store);
    }
    free(c);
}

static int64_t ssj_metric(const rill__node_t *node, const char *name) {
    const rill__ssj_conf_t *c = node->conf;
    if (!strcmp(name, "rill_late_records_total"))
        return __atomic_load_n(&c->late, __ATOMIC_RELAXED);
    return -1;
}

static void ssj_metrics(const rill__node_t *node, rill__mout_t *mo) {
    rill__mout_sample(mo, &rill__late_family, NULL, (const char *[]){"node", node->name, NULL},
                      ssj_metric(node, "rill_late_records_total"));
}

const rill__operator_t rill__join_window_op = {
    .kind = "KSTREAM-JOIN-WINDOW",
    .copartitioned = true,
    .init = ssj_init,
    .process = ssj_process,
    .punctuate = ssj_punctuate,
    .close = ssj_close,
    .free_conf = ssj_free_conf,
    .metrics = ssj_metrics,
    .metric = ssj_metric,
};

/* ---- builder ---- */

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill__operator_t join_merge_op = {.kind = "KSTREAM-MERGE", .process = pass_process};

static const char *spec_check(rill_join_spec_t *w) {
    if (w->kind != RILL_JOIN_INNER && w->kind != RILL_JOIN_LEFT && w->kind != RILL_JOIN_OUTER)
        return "kind must be RILL_JOIN_INNER, RILL_JOIN_LEFT or RILL_JOIN_OUTER";
    if (w->after_ms == RILL_JOIN_SYMMETRIC)
        w->after_ms = w->before_ms;
    if (w->before_ms < 0 || w->after_ms < 0 || w->grace_ms < 0)
        return "before_ms, after_ms and grace_ms must not be negative";
    return NULL;
}

static rill__ssj_conf_t *side_conf(rill_topology_t *topo, const rill_join_spec_t *w, int side,
                                   const char *base, rill_joiner_cb joiner, void *opaque) {
    char name[300];
    rill__ssj_conf_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->spec = *w;
    c->side = side;
    c->joiner = joiner;
    c->opaque = opaque;
    snprintf(name, sizeof(name), "%s-%s-store", base, side == LEFT ? "left" : "right");
    c->this_store = strdup(name);
    snprintf(name, sizeof(name), "%s-%s-store", base, side == LEFT ? "right" : "left");
    c->other_store = strdup(name);
    snprintf(name, sizeof(name), "%s-outer-store", base);
    c->outer_store = w->kind == RILL_JOIN_INNER ? NULL : strdup(name);
    if (!c->this_store || !c->other_store || (w->kind != RILL_JOIN_INNER && !c->outer_store)) {
        ssj_free_conf(c);
        return NULL;
    }
    return c;
}

/* Declares the join's stores for a side node. */
static int declare_stores(rill_topology_t *topo, rill__node_t *node, const rill__ssj_conf_t *c) {
    int64_t retention = c->spec.before_ms + c->spec.after_ms + c->spec.grace_ms + 1;
    if (!rill__topology_add_store(topo, node, c->this_store, RILL_STORE_WINDOW, retention, 0) ||
        !rill__topology_add_store(topo, node, c->other_store, RILL_STORE_WINDOW, retention, 0))
        return -1;
    if (c->outer_store &&
        !rill__topology_add_store(topo, node, c->outer_store, RILL_STORE_KV, 0, 0))
        return -1;
    return 0;
}

rill_stream_t *rill_stream_join(rill_stream_t *left, rill_stream_t *right, const char *name,
                                const rill_join_spec_t *spec, rill_joiner_cb joiner, void *opaque) {
    char gen[64], node_name[300];
    if (!left || !right || left->topo->error)
        return NULL;
    rill_topology_t *topo = left->topo;
    if (right->topo != topo) {
        rill__topology_fail(topo, "join of streams from two different topologies");
        return NULL;
    }
    if (!spec || !joiner) {
        rill__topology_fail(topo, "join \"%s\": a join spec and a joiner are needed",
                            name ? name : "(unnamed)");
        return NULL;
    }
    rill_join_spec_t w = *spec;
    const char *bad = spec_check(&w);
    if (bad) {
        rill__topology_fail(topo, "join \"%s\": %s", name ? name : "(unnamed)", bad);
        return NULL;
    }
    if (!name) {
        snprintf(gen, sizeof(gen), "KSTREAM-JOIN-%010d", topo->node_cnt);
        name = gen;
    }
    rill__ssj_conf_t *cl = side_conf(topo, &w, LEFT, name, joiner, opaque);
    rill__ssj_conf_t *cr = cl ? side_conf(topo, &w, RIGHT, name, joiner, opaque) : NULL;
    if (!cr) {
        ssj_free_conf(cl);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    if (rill__store_claim(topo, cl->this_store, RILL__CLAIM_OWN) ||
        rill__store_claim(topo, cl->other_store, RILL__CLAIM_OWN) ||
        (cl->outer_store && rill__store_claim(topo, cl->outer_store, RILL__CLAIM_OWN))) {
        ssj_free_conf(cl);
        ssj_free_conf(cr);
        return NULL;
    }
    rill__join_name(node_name, sizeof(node_name), name, "-left");
    rill_stream_t *nl = rill__topology_add(topo, left, node_name, &rill__join_window_op, cl, NULL);
    rill__join_name(node_name, sizeof(node_name), name, "-right");
    rill_stream_t *nr =
        nl ? rill__topology_add(topo, right, node_name, &rill__join_window_op, cr, NULL) : NULL;
    if (!nr) {
        if (!nl)
            ssj_free_conf(cr); /* the topology freed cl */
        return NULL;
    }
    cl->other_id = nr->node->id;
    cr->other_id = nl->node->id;
    if (declare_stores(topo, nl->node, cl) || declare_stores(topo, nr->node, cr))
        return NULL;
    rill_stream_t *m = rill__topology_add(topo, nl, name, &join_merge_op, NULL, NULL);
    if (!m || rill__topology_connect(topo, nr->node, m->node))
        return NULL;
    return m;
}
