/*
 * suppress.c — rill_table_suppress(): a key-value table's updates held back until a time
 * limit of stream time passed since the first held update of their key, then the key's latest
 * value alone goes downstream (Kafka Streams' suppress(untilTimeLimit(d, BufferConfig))).
 *
 * DESIGN
 * The buffer is a key-value store of the node's own, logged to its changelog and restored with
 * the task, so a restart or a move neither loses a held update nor emits one twice (emitting
 * deletes the key's entry in the same commit as the output). Three kinds of entries:
 *   'e' key                 -> [first time 8][latest time 8][flags 1]
 *                              [trace length 2 BE, trace: flags 2][latest value]
 *                              (flags 1: there is a value, not a tombstone; 2: under
 *                              lineage.enable, the compact copy of the trace of the latest
 *                              update follows, base/lineage_int.h, which the emitted record
 *                              carries, docs/DESIGN.md "Tracing and lineage")
 *   't' first time(8 BE) key -> "i"  (the time index: due keys are one range scan; not
 *                               empty, as an empty changelog value reads back as a deletion)
 *   'm'                     -> [records 8][bytes 8]   (what the bounds are checked against)
 * A key is due when stream time >= its first time + the limit (stream time is the task's
 * progress, docs/DESIGN.md "Time and progress": a slow input holds emissions back rather
 * than letting them run ahead). Due keys leave in order of first time, then key, after each
 * record and whenever stream time advances. When the buffer holds more keys or bytes than its
 * bounds, the policy decides: emit the oldest keys early (counted), or stop the app with an
 * error naming the bound. A key's bytes are its key, latest value and, under
 * lineage.enable, its trace's compact copy (a buffer is bounded by what it holds, whatever
 * holds it; a count restored from an older buffer that left traces out is kept from going
 * below zero). The node's gauges are
 * the sums of what each task's buffer holds; a task adds the difference after each change and
 * takes its share back when it closes. Scratch buffers live in the task's state, so a record
 * costs no allocation once they have grown.
 */
#include "table_int.h"

#include "endian_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_HEAD 17 /* first time, latest time, has value */
#define DUE_BATCH 256 /* keys collected per range scan */

typedef struct sup_conf_s {
    rill_suppress_spec_t spec;
    char *store;
    int64_t records, bytes, early; /* node metrics (atomic): gauges, counter */
} sup_conf_t;

typedef struct sup_state_s {
    rill__store_t *store;
    rill_buf_t ekey, ikey, entry, due;    /* scratch: entry key, index key, entry, due keys */
    int64_t gauged_records, gauged_bytes; /* this task's share of the node's gauges */
    rill__trace_t trace;                  /* lineage.enable: the trace an emitted key carries */
} sup_state_t;

/* An 'e' entry read back (pointers into its bytes). */
typedef struct sup_entry_s {
    int64_t first, latest;
    bool has_value;
    const unsigned char *trace, *value; /* trace: NULL when none was kept */
    size_t trace_len, value_len;
} sup_entry_t;

/* Reads an 'e' entry: 0, or -1 when it is malformed. */
static int entry_parse(const void *v, size_t len, sup_entry_t *e) {
    const unsigned char *p = v;
    size_t at = ENTRY_HEAD;
    if (len < ENTRY_HEAD)
        return -1;
    e->first = (int64_t)rill__be64_get(p);
    e->latest = (int64_t)rill__be64_get(p + 8);
    e->has_value = p[16] & 1;
    e->trace = NULL;
    e->trace_len = 0;
    if (p[16] & 2) {
        if (len < at + 2 || len - at - 2 < ((size_t)p[at] << 8 | p[at + 1]))
            return -1;
        e->trace_len = (size_t)p[at] << 8 | p[at + 1];
        e->trace = p + at + 2;
        at += 2 + e->trace_len;
    }
    e->value = p + at;
    e->value_len = len - at;
    return 0;
}

/* ---- the buffer's entries ---- */

static int make_key(rill_buf_t *out, char tag, const int64_t *ts, const void *key, size_t len) {
    unsigned char be[8];
    rill_buf_reset(out);
    if (rill_buf_append(out, &tag, 1))
        return -1;
    if (ts) {
        rill__be64_put(be, (uint64_t)*ts);
        if (rill_buf_append(out, be, 8))
            return -1;
    }
    return len && rill_buf_append(out, key, len) ? -1 : 0;
}

static int meta_get(rill__store_t *store, int64_t *records, int64_t *bytes) {
    const void *v;
    size_t len;
    int rc = rill__kv_get(store, "m", 1, &v, &len);
    *records = *bytes = 0;
    if (rc <= 0 || len != 16)
        return rc < 0 || rc > 0 ? -1 : 0;
    *records = (int64_t)rill__be64_get(v);
    *bytes = (int64_t)rill__be64_get((const unsigned char *)v + 8);
    return 0;
}

static int meta_add(rill__store_t *store, int64_t d_records, int64_t d_bytes) {
    int64_t r, b;
    unsigned char v[16];
    if (meta_get(store, &r, &b))
        return -1;
    rill__be64_put(v, (uint64_t)(r + d_records));
    rill__be64_put(v + 8, (uint64_t)(b + d_bytes > 0 ? b + d_bytes : 0));
    return rill__kv_put(store, "m", 1, v, sizeof(v));
}

/* Adds this task's change of the buffer to the node's gauges. */
static void gauge_sync(sup_conf_t *c, sup_state_t *st) {
    int64_t r, b;
    if (!st->store || meta_get(st->store, &r, &b))
        return;
    rill__counter_add(&c->records, r - st->gauged_records);
    rill__counter_add(&c->bytes, b - st->gauged_bytes);
    st->gauged_records = r;
    st->gauged_bytes = b;
}

static rill__store_t *store_of(rill_ctx_t *ctx, const sup_conf_t *c, sup_state_t *st) {
    if (!st->store && !(st->store = rill__ctx_store(ctx, c->store)))
        rill_ctx_set_error(ctx, "suppress \"%s\": store \"%s\" is not open", ctx->node->name,
                           c->store);
    return st->store;
}

static int fail(rill_ctx_t *ctx, const sup_conf_t *c, const char *what) {
    rill_ctx_set_error(ctx, "suppress \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       c->store);
    return -1;
}

/* Holds rec as its key's latest update (the first update keeps the key's first time). */
static int buffer_put(rill_ctx_t *ctx, const sup_conf_t *c, sup_state_t *st,
                      const rill_record_t *rec) {
    const void *v;
    size_t len;
    unsigned char head[ENTRY_HEAD];
    size_t vlen = rec->value ? rec->value_len : 0;
    const rill__trace_t *trace = rill__ctx_trace(ctx); /* NULL unless lineage.enable */
    sup_entry_t old;
    if (make_key(&st->ekey, 'e', NULL, rec->key, rec->key_len))
        return fail(ctx, c, "growing a buffer for");
    int rc = rill__kv_get(st->store, st->ekey.data, st->ekey.len, &v, &len);
    if (rc < 0 || (rc > 0 && entry_parse(v, len, &old)))
        return fail(ctx, c, "reading");
    int64_t first = rc > 0 ? old.first : rec->timestamp;
    rill__be64_put(head, (uint64_t)first);
    rill__be64_put(head + 8, (uint64_t)rec->timestamp);
    head[16] = (unsigned char)((rec->value != NULL) | (trace ? 2 : 0));
    rill_buf_reset(&st->entry);
    if (rill_buf_append(&st->entry, head, sizeof(head)) ||
        (trace && rill__trace_blob_append(&st->entry, trace)) ||
        (vlen && rill_buf_append(&st->entry, rec->value, vlen)) ||
        rill__kv_put(st->store, st->ekey.data, st->ekey.len, st->entry.data, st->entry.len))
        return fail(ctx, c, "writing");
    /* A new key adds its key, value and trace; an update replaces the value and trace. */
    size_t held = st->entry.len - sizeof(head) - (trace ? 2 : 0);
    int64_t d_bytes = rc > 0 ? (int64_t)held - (int64_t)(old.value_len + old.trace_len)
                             : (int64_t)(rec->key_len + held);
    if (rc == 0 && (make_key(&st->ikey, 't', &first, rec->key, rec->key_len) ||
                    rill__kv_put(st->store, st->ikey.data, st->ikey.len, "i", 1)))
        return fail(ctx, c, "writing the index of");
    return meta_add(st->store, rc == 0, d_bytes) ? fail(ctx, c, "counting in") : 0;
}

/* Emits the key's latest update and takes the key out of the buffer. */
static int emit_key(rill_ctx_t *ctx, const sup_conf_t *c, sup_state_t *st, const void *key,
                    size_t key_len) {
    const void *v;
    size_t len;
    sup_entry_t e;
    if (make_key(&st->ekey, 'e', NULL, key, key_len))
        return fail(ctx, c, "growing a buffer for");
    int rc = rill__kv_get(st->store, st->ekey.data, st->ekey.len, &v, &len);
    if (rc <= 0 || len < ENTRY_HEAD)
        return fail(ctx, c, "reading an entry of");
    rill_buf_reset(&st->entry);
    if (rill_buf_append(&st->entry, v, len))
        return fail(ctx, c, "copying an entry of");
    if (entry_parse(st->entry.data, st->entry.len, &e))
        return fail(ctx, c, "reading an entry of");
    if (make_key(&st->ikey, 't', &e.first, key, key_len) ||
        rill__kv_put(st->store, st->ikey.data, st->ikey.len, NULL, 0) ||
        rill__kv_put(st->store, st->ekey.data, st->ekey.len, NULL, 0) ||
        meta_add(st->store, -1, -(int64_t)(key_len + e.value_len + e.trace_len)))
        return fail(ctx, c, "deleting an entry of");
    rill_record_t out = {.key = st->ekey.data + 1,
                         .key_len = key_len,
                         .value = e.has_value ? (const void *)e.value : NULL,
                         .value_len = e.value_len,
                         .timestamp = e.latest};
    if (e.has_value && !out.value_len)
        out.value = ""; /* an empty value, not a tombstone */
    const rill__trace_t *saved = ctx->trace_over;
    if (e.trace && !rill__trace_blob_get(&st->trace, e.trace, e.trace_len))
        ctx->trace_over = &st->trace;
    rc = rill_ctx_forward(ctx, &out) ? -1 : 0;
    ctx->trace_over = saved;
    return rc;
}

/* ---- due keys and bounds ---- */

typedef struct collect_s {
    rill_buf_t *due;
    int n, max;
} collect_t;

static int collect(const void *key, size_t key_len, const void *value, size_t value_len,
                   void *opaque) {
    collect_t *co = opaque;
    unsigned char be[4];
    uint32_t n = (uint32_t)(key_len - 9); /* after 't' and the time */
    rill__be32_put(be, n);
    if (rill_buf_append(co->due, be, 4) || rill_buf_append(co->due, (const char *)key + 9, n))
        return -1;
    return ++co->n >= co->max;
}

/* Collects up to max keys of the index from its start up to (excluding) time hi; then emits
 * them. Returns the number emitted, or -1. */
static int emit_oldest(rill_ctx_t *ctx, const sup_conf_t *c, sup_state_t *st, int64_t hi, int max) {
    unsigned char hi_key[9] = {'t'};
    collect_t co = {.due = &st->due, .max = max};
    rill__be64_put(hi_key + 1, (uint64_t)hi);
    rill_buf_reset(&st->due);
    if (rill__kv_range(st->store, "t", 1, hi_key, sizeof(hi_key), collect, &co) < 0)
        return fail(ctx, c, "scanning");
    for (size_t pos = 0; pos + 4 <= st->due.len;) {
        const unsigned char *p = (const unsigned char *)st->due.data + pos;
        size_t n = rill__be32_get(p);
        if (emit_key(ctx, c, st, p + 4, n))
            return -1;
        pos += 4 + n; /* st->due is not written while emitting */
    }
    return co.n;
}

/* Emits every key whose first time + the limit is at or before stream time. */
static int emit_due(rill_ctx_t *ctx, const sup_conf_t *c, sup_state_t *st, int64_t now) {
    if (now < 0 || now - c->spec.time_limit_ms < 0)
        return 0;
    int n;
    while ((n = emit_oldest(ctx, c, st, now - c->spec.time_limit_ms + 1, DUE_BATCH)) == DUE_BATCH)
        ;
    return n < 0 ? -1 : 0;
}

static bool over(const rill_suppress_spec_t *s, int64_t records, int64_t bytes) {
    return (s->max_records && records > s->max_records) || (s->max_bytes && bytes > s->max_bytes);
}

/* Keeps the buffer within its bounds: emits the oldest keys early, or stops the app. */
static int enforce_bounds(rill_ctx_t *ctx, sup_conf_t *c, sup_state_t *st) {
    int64_t records, bytes;
    for (int64_t guard = 0;; guard++) {
        if (meta_get(st->store, &records, &bytes))
            return fail(ctx, c, "reading the counts of");
        if (!over(&c->spec, records, bytes) || records == 0)
            return 0;
        if (c->spec.when_full == RILL_SUPPRESS_SHUT_DOWN) {
            rill__app_fatal(rill__ctx_thread(ctx)->app, RILL_ERR_STATE,
                            "suppress \"%s\": its buffer holds %lld key(s), %lld byte(s), over "
                            "max_records %lld / max_bytes %lld, and when_full is "
                            "RILL_SUPPRESS_SHUT_DOWN: raise the bounds, or emit early",
                            ctx->node->name, (long long)records, (long long)bytes,
                            (long long)c->spec.max_records, (long long)c->spec.max_bytes);
            return 0;
        }
        if (guard > records || emit_oldest(ctx, c, st, INT64_MAX, 1) != 1)
            return fail(ctx, c, "emitting early from");
        rill__counter_add(&c->early, 1);
    }
}

/* ---- the operator ---- */

static int sup_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    sup_conf_t *c = ctx->node->conf;
    sup_state_t *st = state;
    if (!rec->key)
        return 0; /* a table has no row without a key (its node dead-lettered the record) */
    if (!store_of(ctx, c, st))
        return -1;
    int rc = buffer_put(ctx, c, st, rec) || emit_due(ctx, c, st, rill_ctx_stream_time(ctx)) ||
             enforce_bounds(ctx, c, st);
    gauge_sync(c, st);
    return rc ? -1 : 0;
}

static int sup_punctuate(rill_ctx_t *ctx, int64_t stream_time, void *state) {
    sup_conf_t *c = ctx->node->conf;
    sup_state_t *st = state;
    if (!store_of(ctx, c, st))
        return -1;
    int rc = emit_due(ctx, c, st, stream_time);
    gauge_sync(c, st);
    return rc;
}

static int sup_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(sup_state_t))) ? 0 : -1;
}

static void sup_close(const rill__node_t *node, void *state) {
    sup_conf_t *c = node->conf;
    sup_state_t *st = state;
    if (!st)
        return;
    rill__counter_add(&c->records, -st->gauged_records);
    rill__counter_add(&c->bytes, -st->gauged_bytes);
    rill_buf_free(&st->ekey);
    rill_buf_free(&st->ikey);
    rill_buf_free(&st->entry);
    rill_buf_free(&st->due);
    free(st);
}

static const rill__mfamily_t families[] = {
    {"rill_suppress_buffer_records", RILL__GAUGE, "Keys held in a suppress buffer."},
    {"rill_suppress_buffer_bytes", RILL__GAUGE,
     "Key, value and trace bytes held in a suppress buffer."},
    {"rill_suppress_early_emits_total", RILL__COUNTER,
     "Keys a full suppress buffer emitted before their time limit."},
};
#define FAMILY_CNT (sizeof(families) / sizeof(families[0]))

static int64_t *slot(const sup_conf_t *c, size_t i) {
    int64_t *v[] = {(int64_t *)&c->records, (int64_t *)&c->bytes, (int64_t *)&c->early};
    return v[i];
}

static void sup_metrics(const rill__node_t *node, rill__mout_t *mo) {
    for (size_t i = 0; i < FAMILY_CNT; i++)
        rill__mout_sample(mo, &families[i], NULL, (const char *[]){"node", node->name, NULL},
                          __atomic_load_n(slot(node->conf, i), __ATOMIC_RELAXED));
}

static int64_t sup_metric(const rill__node_t *node, const char *name) {
    for (size_t i = 0; i < FAMILY_CNT; i++)
        if (!strcmp(name, families[i].name))
            return __atomic_load_n(slot(node->conf, i), __ATOMIC_RELAXED);
    return -1;
}

static void sup_free_conf(void *conf) {
    sup_conf_t *c = conf;
    if (c)
        free(c->store);
    free(c);
}

static const rill__operator_t suppress_op = {
    .kind = "KTABLE-SUPPRESS",
    .init = sup_init,
    .process = sup_process,
    .punctuate = sup_punctuate,
    .close = sup_close,
    .free_conf = sup_free_conf,
    .metrics = sup_metrics,
    .metric = sup_metric,
};

/* ---- builder ---- */

static const char *spec_problem(const rill_table_t *t, const rill_suppress_spec_t *spec) {
    if (!spec)
        return "a spec is needed";
    if (t->store_kind != RILL_STORE_KV || t->window_kind)
        return "the table is windowed: use RILL_EMIT_FINAL for one result per window";
    if (spec->time_limit_ms < 0 || spec->time_limit_ms > INT64_MAX / 4)
        return "time_limit_ms must be in [0, INT64_MAX / 4]";
    if (spec->max_records < 0 || spec->max_bytes < 0)
        return "max_records and max_bytes must be >= 0 (0: no bound)";
    if (spec->when_full != RILL_SUPPRESS_EMIT_EARLY && spec->when_full != RILL_SUPPRESS_SHUT_DOWN)
        return "when_full must be RILL_SUPPRESS_EMIT_EARLY or RILL_SUPPRESS_SHUT_DOWN";
    return NULL;
}

rill_stream_t *rill_table_suppress(rill_table_t *t, const char *name,
                                   const rill_suppress_spec_t *spec, const char *store) {
    char gen[300];
    if (!t || t->topo->error)
        return NULL;
    rill_topology_t *topo = t->topo;
    const char *bad = spec_problem(t, spec);
    if (bad || rill__store_claim(topo, store, RILL__CLAIM_NAME)) {
        if (bad)
            rill__topology_fail(topo, "suppress of table \"%s\": %s", t->store, bad);
        return NULL;
    }
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", suppress_op.kind, topo->node_cnt);
        store = gen;
    }
    sup_conf_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->store = strdup(store)) || rill__store_claim(topo, store, RILL__CLAIM_OWN)) {
        if (!c || !c->store)
            rill__topology_fail(topo, "out of memory");
        sup_free_conf(c);
        return NULL;
    }
    c->spec = *spec;
    rill_stream_t *s = rill__topology_add(topo, &t->node->stream, name, &suppress_op, c, NULL);
    if (!s || !rill__topology_add_store(topo, s->node, c->store, RILL_STORE_KV, 0, 0))
        return NULL;
    return s;
}
