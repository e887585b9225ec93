/*
 * join_table.c — stream-table joins (inner, left), as Kafka Streams' KStream-KTable join, with
 * an optional grace period during which a stream record waits for its key's table row.
 *
 * DESIGN
 * Three nodes: the stream side (under the stream), the table side (under the table's node,
 * which writes the table's store before it forwards an update) and a merge of both, which is
 * the stream of results. Connecting the table's node to the join puts the table and the
 * stream in one sub-topology: one task holds both, so the sources must be co-partitioned
 * (the operators' copartitioned flag).
 *
 * The stream side reads the row of each record's key from the table's store. With no row and
 * a grace period, the record waits in the buffer store (key-value) under
 *     'T' [time 8 bytes BE][key]                → the list (join_int.h) of its key's waiting
 *                                                  records at that time, each
 *                                                  [flags 1][offset 8 BE][topic len 2 BE]
 *                                                  [topic][trace len 2 BE, trace: flag 2][value]
 *                                                  (flags 1: no value; 2: the record's trace,
 *                                                  lineage.enable, which its result carries)
 *     'K' [key length 4 BE][key][time 8 bytes BE] → "" (an index: the waiting times of a key)
 * A table update with a value finds its key's waiting records through the index and joins them
 * at once, oldest first. As stream time passes a record's time + grace, a range scan of 'T'
 * from time 0 finds it: joined with no row (left) or dead-lettered (inner), and removed. The
 * buffer therefore holds only records within grace of stream time. Stream time is the task's,
 * or a larger timestamp the join has seen.
 */
#include "join_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stj_conf_s {
    rill_table_t *table; /* borrowed: owned by the topology */
    rill_join_kind_t kind;
    int64_t grace_ms;
    rill_joiner_cb joiner;
    void *opaque;
    char *buffer_store; /* NULL without grace */
    int64_t expired;    /* records that met no row, all tasks (atomic; the stream node's) */
    int64_t *unmatched; /* where both nodes count them: the stream node's expired */
} rill__stj_conf_t;

typedef struct stj_state_s {
    rill__store_t *buffer;
    int64_t max_ts;
    rill_buf_t val, out, list, bkey, ikey, elem;
    rill_buf_t found; /* keys or times collected by a range scan */
    size_t found_cnt;
    rill__trace_t trace; /* lineage.enable: the trace of the waiting record being joined */
} rill__stj_state_t;

static int failed(rill_ctx_t *ctx, const rill__stj_conf_t *c, const char *what) {
    rill_ctx_set_error(ctx, "join \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       c->buffer_store);
    return -1;
}

static int load(rill_ctx_t *ctx, const rill__stj_conf_t *c, rill__stj_state_t *st) {
    if (!c->buffer_store || st->buffer)
        return 0;
    if (!(st->buffer = rill__ctx_store(ctx, c->buffer_store))) {
        rill_ctx_set_error(ctx, "join \"%s\": store \"%s\" is not open", ctx->node->name,
                           c->buffer_store);
        return -1;
    }
    return 0;
}

/* The join's time: the task's progress (progress.c), not the largest timestamp seen. */
static int64_t advance(rill_ctx_t *ctx, rill__stj_state_t *st, int64_t ts) {
    (void)ts;
    int64_t t = rill_ctx_stream_time(ctx);
    if (t > st->max_ts)
        st->max_ts = t;
    return st->max_ts;
}

/* ---- buffer keys ---- */

static int time_key(rill_buf_t *out, int64_t t, const void *key, size_t key_len) {
    unsigned char head[9] = {'T'};
    rill__be64_put(head + 1, (uint64_t)t);
    rill_buf_reset(out);
    return rill_buf_append(out, head, sizeof(head)) ||
                   (key_len && rill_buf_append(out, key, key_len))
               ? -1
               : 0;
}

/* 'K'[len][key], then the time when t >= 0. */
static int index_key(rill_buf_t *out, const void *key, size_t key_len, int64_t t) {
    unsigned char head[5] = {'K', (unsigned char)(key_len >> 24), (unsigned char)(key_len >> 16),
                             (unsigned char)(key_len >> 8), (unsigned char)key_len};
    unsigned char be[8];
    rill_buf_reset(out);
    if (rill_buf_append(out, head, sizeof(head)) || (key_len && rill_buf_append(out, key, key_len)))
        return -1;
    if (t < 0)
        return 0;
    rill__be64_put(be, (uint64_t)t);
    return rill_buf_append(out, be, sizeof(be));
}

/* ---- waiting records ---- */

static int wait_add(rill_ctx_t *ctx, const rill__stj_conf_t *c, rill__stj_state_t *st,
                    const rill_record_t *rec, const void *value, size_t value_len) {
    const char *topic = rill_ctx_topic(ctx);
    size_t topic_len = topic ? strlen(topic) : 0;
    unsigned char head[11];
    const void *old = NULL;
    size_t old_len = 0;
    if (topic_len > 0xFFFF)
        topic_len = 0;
    const rill__trace_t *trace = rill__ctx_trace(ctx);
    head[0] = (unsigned char)((value == NULL) | (trace ? 2 : 0));
    rill__be64_put(head + 1, (uint64_t)rill_ctx_offset(ctx));
    head[9] = (unsigned char)(topic_len >> 8);
    head[10] = (unsigned char)topic_len;
    rill_buf_reset(&st->elem);
    if (rill_buf_append(&st->elem, head, sizeof(head)) ||
        (topic_len && rill_buf_append(&st->elem, topic, topic_len)) ||
        (trace && rill__trace_blob_append(&st->elem, trace)) ||
        (value_len && rill_buf_append(&st->elem, value, value_len)) ||
        time_key(&st->bkey, rec->timestamp, rec->key, rec->key_len) ||
        index_key(&st->ikey, rec->key, rec->key_len, rec->timestamp)) {
        rill_ctx_set_error(ctx, "out of memory");
        return -1;
    }
    int rc = rill__kv_get(st->buffer, st->bkey.data, st->bkey.len, &old, &old_len);
    if (rc < 0)
        return failed(ctx, c, "reading");
    if (rill__join_list_append(&st->list, rc ? old : NULL, rc ? old_len : 0, st->elem.data,
                               st->elem.len) ||
        rill__kv_put(st->buffer, st->bkey.data, st->bkey.len, st->list.data, st->list.len) ||
        rill__kv_put(st->buffer, st->ikey.data, st->ikey.len, "", 0))
        return failed(ctx, c, "writing");
    return 0;
}

/* A waiting record parsed from its list element. */
typedef struct held_s {
    rill_record_t rec;
    char topic[256];
    int64_t offset;
    const void *trace; /* its trace's compact copy, or NULL */
    size_t trace_len;
} rill__held_t;

static int held_parse(const void *elem, size_t len, const void *key, size_t key_len, int64_t t,
                      rill__held_t *h) {
    const unsigned char *p = elem;
    if (len < 11)
        return -1;
    size_t topic_len = (size_t)p[9] << 8 | p[10];
    if (len < 11 + topic_len)
        return -1;
    memset(&h->rec, 0, sizeof(h->rec));
    h->offset = (int64_t)rill__be64_get(p + 1);
    snprintf(h->topic, sizeof(h->topic), "%.*s", (int)topic_len, (const char *)p + 11);
    h->rec.key = key;
    h->rec.key_len = key_len;
    h->rec.timestamp = t;
    size_t at = 11 + topic_len;
    h->trace = NULL;
    if (p[0] & 2) {
        if (len < at + 2 || len < at + 2 + ((size_t)p[at] << 8 | p[at + 1]))
            return -1;
        h->trace_len = (size_t)p[at] << 8 | p[at + 1];
        h->trace = p + at + 2;
        at += 2 + h->trace_len;
    }
    if (!(p[0] & 1)) {
        h->rec.value = p + at;
        h->rec.value_len = len - at;
    }
    return 0;
}

/* A stream record without a row, at the end of its wait: left, joined with NULL; inner,
 * dead-lettered. held NULL: the record being processed, rec. */
static int miss(rill_ctx_t *ctx, rill__stj_conf_t *c, rill__stj_state_t *st,
                const rill_record_t *rec, const rill__held_t *held, int64_t now) {
    char why[256];
    __atomic_fetch_add(c->unmatched, 1, __ATOMIC_RELAXED);
    if (c->kind == RILL_JOIN_LEFT) {
        ctx->error[0] = '\0';
        if (!rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len, rec, NULL,
                             rec->timestamp, held ? NULL : rec->headers, &st->out))
            return 0;
        if (!held)
            return -1;
        return rill__join_dead_letter(ctx, held->topic, held->offset, rec,
                                      ctx->error[0] ? ctx->error : "join result failed");
    }
    snprintf(why, sizeof(why),
             "no table row within grace: record at %" PRId64 ", stream time "
             "%" PRId64 ", grace %" PRId64 " ms, table \"%s\"",
             rec->timestamp, now, c->grace_ms, c->table->store);
    if (held)
        return rill__join_dead_letter(ctx, held->topic, held->offset, rec, why);
    return rill__agg_dead_letter(ctx, rec, "%s", why);
}

static int found_cb(const void *key, size_t key_len, const void *value, size_t value_len,
                    void *opaque) {
    rill__stj_state_t *st = opaque;
    unsigned char be[4] = {(unsigned char)(key_len >> 24), (unsigned char)(key_len >> 16),
                           (unsigned char)(key_len >> 8), (unsigned char)key_len};
    if (rill_buf_append(&st->found, be, 4) || rill_buf_append(&st->found, key, key_len))
        return -1;
    st->found_cnt++;
    return 0;
}

/* The next key collected by found_cb into found, walking with *pos. */
static const unsigned char *found_next(const rill_buf_t *found, size_t *pos, size_t *lenp) {
    const unsigned char *p = (const unsigned char *)found->data + *pos;
    *lenp = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    *pos += 4 + *lenp;
    return p + 4;
}

/* Joins one waiting record with row (NULL: its wait ended), with its own trace. */
static int take_one(rill_ctx_t *ctx, rill__stj_conf_t *c, rill__stj_state_t *st,
                    const rill__held_t *h, const rill_record_t *row, int64_t now) {
    const rill__trace_t *saved = ctx->trace_over;
    if (h->trace && !rill__trace_blob_get(&st->trace, h->trace, h->trace_len))
        ctx->trace_over = &st->trace;
    int rc;
    if (!row) {
        rc = miss(ctx, c, st, &h->rec, h, now);
    } else {
        ctx->error[0] = '\0';
        rc = rill__join_emit(ctx, c->joiner, c->opaque, h->rec.key, h->rec.key_len, &h->rec, row,
                             h->rec.timestamp, NULL, &st->out) &&
             rill__join_dead_letter(ctx, h->topic, h->offset, &h->rec,
                                    ctx->error[0] ? ctx->error : "join result failed");
    }
    ctx->trace_over = saved;
    return rc;
}

/* Takes the waiting records of (key, t) out of the buffer, calling fn on each. */
static int take(rill_ctx_t *ctx, rill__stj_conf_t *c, rill__stj_state_t *st, const void *key,
                size_t key_len, int64_t t, const rill_record_t *row, int64_t now) {
    const void *list, *elem;
    size_t list_len, len, pos = 0;
    rill__held_t h;
    rill_buf_t copy = {0};
    if (time_key(&st->bkey, t, key, key_len) || index_key(&st->ikey, key, key_len, t))
        return failed(ctx, c, "keying");
    int rc = rill__kv_get(st->buffer, st->bkey.data, st->bkey.len, &list, &list_len);
    if (rc < 0)
        return failed(ctx, c, "reading");
    /* The list is valid until the next call on the store: copy it, then delete. */
    if (rc > 0 && rill_buf_append(&copy, list, list_len)) {
        rill_buf_free(&copy);
        return failed(ctx, c, "copying from");
    }
    if (rill__kv_put(st->buffer, st->bkey.data, st->bkey.len, NULL, 0) ||
        rill__kv_put(st->buffer, st->ikey.data, st->ikey.len, NULL, 0)) {
        rill_buf_free(&copy);
        return failed(ctx, c, "deleting from");
    }
    while (rc > 0 && (rc = rill__join_list_next(copy.data, copy.len, &pos, &elem, &len)) > 0) {
        if (held_parse(elem, len, key, key_len, t, &h)) {
            rc = -1;
            break;
        }
        if (take_one(ctx, c, st, &h, row, now))
            break;
    }
    rill_buf_free(&copy);
    if (rc < 0)
        return failed(ctx, c, "parsing a value of");
    return rc > 0 ? -1 : 0;
}

/* Ends the waits of records at t < now - grace, oldest first. */
static int release_expired(rill_ctx_t *ctx, rill__stj_conf_t *c, rill__stj_state_t *st,
                           int64_t now) {
    int64_t bound = now - c->grace_ms;
    if (!st->buffer || bound <= 0)
        return 0;
    unsigned char lo[1] = {'T'}, hi[9] = {'T'};
    rill__be64_put(hi + 1, (uint64_t)bound);
    rill_buf_reset(&st->found);
    st->found_cnt = 0;
    if (rill__kv_range(st->buffer, lo, sizeof(lo), hi, sizeof(hi), found_cb, st) < 0)
        return failed(ctx, c, "scanning");
    rill_buf_t keys = st->found; /* take: found is reused below */
    size_t cnt = st->found_cnt, pos = 0, len;
    st->found = (rill_buf_t){0};
    int rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++) {
        const unsigned char *k = found_next(&keys, &pos, &len);
        if (len < 9) {
            rc = failed(ctx, c, "parsing a key of");
            break;
        }
        rc = take(ctx, c, st, k + 9, len - 9, (int64_t)rill__be64_get(k + 1), NULL, now);
    }
    rill_buf_free(&st->found);
    st->found = keys;
    return rc;
}

/* ---- the stream side ---- */

static int stream_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__stj_conf_t *c = ctx->node->conf;
    rill__stj_state_t *st = state;
    const void *row, *value;
    size_t row_len, value_len;
    int64_t row_ts;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: join \"%s\" looks rows up by key "
                                     "and cannot place a record without one",
                                     ctx->node->name);
    if (load(ctx, c, st))
        return -1;
    int64_t now = advance(ctx, st, rec->timestamp);
    int rc = rill__table_get(ctx, c->table, rec->key, rec->key_len, &row, &row_len, &row_ts);
    if (rc < 0) {
        rill_ctx_set_error(ctx, "join \"%s\": reading table store \"%s\" failed", ctx->node->name,
                           c->table->store);
        return -1;
    }
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len))
        return -1;
    rill_record_t mine = *rec;
    mine.value = value;
    mine.value_len = value_len;
    mine.value_obj = NULL;
    if (rc > 0) {
        rill_record_t right = {.key = rec->key,
                               .key_len = rec->key_len,
                               .value = row,
                               .value_len = row_len,
                               .timestamp = row_ts,
                               .headers = rec->headers};
        if (rill__join_emit(ctx, c->joiner, c->opaque, rec->key, rec->key_len, &mine, &right,
                            rec->timestamp, rec->headers, &st->out))
            return -1;
    } else if (st->buffer && rec->timestamp >= now - c->grace_ms) {
        if (wait_add(ctx, c, st, rec, value, value_len))
            return -1;
    } else if (miss(ctx, c, st, &mine, NULL, now)) {
        return -1;
    }
    return release_expired(ctx, c, st, now);
}

/* ---- the table side: rows arriving for waiting records ---- */

static int table_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__stj_conf_t *c = ctx->node->conf;
    rill__stj_state_t *st = state;
    const void *value;
    size_t value_len;
    if (!c->buffer_store || !rec->key)
        return 0;
    if (load(ctx, c, st))
        return -1;
    int64_t now = advance(ctx, st, rec->timestamp);
    if (release_expired(ctx, c, st, now))
        return -1;
    if (rill__join_value(ctx, rec, &st->val, &value, &value_len))
        return -1;
    if (!value)
        return 0; /* a tombstone: the waiting records keep waiting */
    rill_record_t row = {.key = rec->key,
                         .key_len = rec->key_len,
                         .value = value,
                         .value_len = value_len,
                         .timestamp = rec->timestamp};
    unsigned char ff[9];
    memset(ff, 0xFF, sizeof(ff));
    if (index_key(&st->ikey, rec->key, rec->key_len, -1))
        return failed(ctx, c, "keying");
    rill_buf_t hi = {0};
    if (rill_buf_append(&hi, st->ikey.data, st->ikey.len) || rill_buf_append(&hi, ff, 9)) {
        rill_buf_free(&hi);
        return failed(ctx, c, "keying");
    }
    rill_buf_reset(&st->found);
    st->found_cnt = 0;
    int rc = rill__kv_range(st->buffer, st->ikey.data, st->ikey.len, hi.data, hi.len, found_cb, st);
    rill_buf_free(&hi);
    if (rc < 0)
        return failed(ctx, c, "scanning");
    rill_buf_t keys = st->found;
    size_t cnt = st->found_cnt, pos = 0, len;
    st->found = (rill_buf_t){0};
    rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++) {
        const unsigned char *k = found_next(&keys, &pos, &len);
        if (len != 5 + rec->key_len + 8) {
            rc = failed(ctx, c, "parsing a key of");
            break;
        }
        rc = take(ctx, c, st, rec->key, rec->key_len, (int64_t)rill__be64_get(k + len - 8), &row,
                  now);
    }
    rill_buf_free(&st->found);
    st->found = keys;
    return rc;
}

/* Ends waits as stream time advances without a record reaching the join (stream side). */
static int stream_punctuate(rill_ctx_t *ctx, int64_t stream_time, void *state) {
    rill__stj_conf_t *c = ctx->node->conf;
    rill__stj_state_t *st = state;
    if (!c->buffer_store)
        return 0;
    if (load(ctx, c, st))
        return -1;
    int64_t now = advance(ctx, st, stream_time);
    return release_expired(ctx, c, st, now);
}

static int stj_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__stj_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->max_ts = -1;
    *statep = st;
    return 0;
}

static void stj_close(const rill__node_t *node, void *state) {
    rill__stj_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->val);
    rill_buf_free(&st->out);
    rill_buf_free(&st->list);
    rill_buf_free(&st->bkey);
    rill_buf_free(&st->ikey);
    rill_buf_free(&st->elem);
    rill_buf_free(&st->found);
    free(st);
}

static void stj_free_conf(void *conf) {
    rill__stj_conf_t *c = conf;
    if (c)
        free(c->buffer_store);
    free(c);
}

static int64_t stj_metric(const rill__node_t *node, const char *name) {
    return rill__join_unmatched_metric(name, &((const rill__stj_conf_t *)node->conf)->expired);
}

static void stj_metrics(const rill__node_t *node, rill__mout_t *mo) {
    rill__join_unmatched_metrics(node, mo, &((const rill__stj_conf_t *)node->conf)->expired);
}

const rill__operator_t rill__join_stream_table_op = {
    .kind = "KSTREAM-TABLE-JOIN",
    .copartitioned = true,
    .init = stj_init,
    .process = stream_process,
    .punctuate = stream_punctuate,
    .close = stj_close,
    .free_conf = stj_free_conf,
    .metrics = stj_metrics,
    .metric = stj_metric,
};

const rill__operator_t rill__join_table_update_op = {
    .kind = "KSTREAM-TABLE-JOIN-UPDATE",
    .copartitioned = true,
    .init = stj_init,
    .process = table_process,
    .close = stj_close,
    .free_conf = stj_free_conf,
};

/* ---- builder ---- */

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill__operator_t join_merge_op = {.kind = "KSTREAM-MERGE", .process = pass_process};

static rill__stj_conf_t *conf_new(rill_table_t *t, rill_join_kind_t kind, int64_t grace_ms,
                                  rill_joiner_cb joiner, void *opaque, const char *buffer) {
    rill__stj_conf_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->table = t;
    c->kind = kind;
    c->grace_ms = grace_ms;
    c->joiner = joiner;
    c->opaque = opaque;
    if (buffer && !(c->buffer_store = strdup(buffer))) {
        free(c);
        return NULL;
    }
    return c;
}

static int declare(rill_topology_t *topo, rill__node_t *node, const rill_table_t *t,
                   const char *buffer) {
    if (!rill__topology_add_store(topo, node, t->store, RILL_STORE_KV, 0, 0))
        return -1;
    return buffer && !rill__topology_add_store(topo, node, buffer, RILL_STORE_KV, 0, 0) ? -1 : 0;
}

rill_stream_t *rill_stream_table_join(rill_stream_t *s, rill_table_t *t, const char *name,
                                      rill_join_kind_t kind, int64_t grace_ms,
                                      rill_joiner_cb joiner, void *opaque) {
    char gen[64], node_name[300], buffer[300];
    if (!s || !t || s->topo->error)
        return NULL;
    rill_topology_t *topo = s->topo;
    const char *shown = name ? name : "(unnamed)";
    if (t->topo != topo) {
        rill__topology_fail(topo,
                            "stream-table join \"%s\": the stream and the table belong "
                            "to two different topologies",
                            shown);
        return NULL;
    }
    if (kind != RILL_JOIN_INNER && kind != RILL_JOIN_LEFT) {
        rill__topology_fail(topo,
                            "stream-table join \"%s\": kind must be RILL_JOIN_INNER or "
                            "RILL_JOIN_LEFT",
                            shown);
        return NULL;
    }
    if (grace_ms < 0 || !joiner) {
        rill__topology_fail(topo, "stream-table join \"%s\": %s", shown,
                            joiner ? "grace_ms must not be negative" : "a joiner is needed");
        return NULL;
    }
    if (t->store_kind != RILL_STORE_KV || t->window_kind) {
        rill__topology_fail(topo,
                            "stream-table join \"%s\": table \"%s\" is windowed; only "
                            "key-value tables can be joined",
                            shown, t->store);
        return NULL;
    }
    if (!name) {
        snprintf(gen, sizeof(gen), "KSTREAM-TABLE-JOIN-%010d", topo->node_cnt);
        name = gen;
    }
    snprintf(buffer, sizeof(buffer), "%s-buffer-store", name);
    const char *buf_name = grace_ms > 0 ? buffer : NULL;
    if (buf_name && rill__store_claim(topo, buf_name, RILL__CLAIM_OWN))
        return NULL;
    rill__stj_conf_t *cs = conf_new(t, kind, grace_ms, joiner, opaque, buf_name);
    rill__stj_conf_t *ct = cs ? conf_new(t, kind, grace_ms, joiner, opaque, buf_name) : NULL;
    if (!ct) {
        stj_free_conf(cs);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    /* A wait can end at a table update too: the table node counts into the stream node. */
    cs->unmatched = ct->unmatched = &cs->expired;
    rill__join_name(node_name, sizeof(node_name), name, "-stream");
    rill_stream_t *ns =
        rill__topology_add(topo, s, node_name, &rill__join_stream_table_op, cs, NULL);
    rill__join_name(node_name, sizeof(node_name), name, "-table");
    rill_stream_t *nt = ns ? rill__topology_add(topo, &t->node->stream, node_name,
                                                &rill__join_table_update_op, ct, NULL)
                           : NULL;
    if (!nt) {
        if (!ns)
            stj_free_conf(ct);
        return NULL;
    }
    if (declare(topo, ns->node, t, buf_name) || declare(topo, nt->node, t, buf_name))
        return NULL;
    rill_stream_t *m = rill__topology_add(topo, ns, name, &join_merge_op, NULL, NULL);
    if (!m || rill__topology_connect(topo, nt->node, m->node))
        return NULL;
    return m;
}
