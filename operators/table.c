/*
 * table.c — grouped and windowed streams, tables and their streams of updates, and what every
 * aggregation shares: the aggregate functions, the stored-value layout, dead-lettering.
 *
 * DESIGN
 * Handles are owned by the topology through node configurations: a grouped stream is the
 * configuration of its group-by-key node (a pass-through), and owns the windowings made of it;
 * a table is the first member of its node's configuration (an aggregation, or a table read
 * from a topic). rill_table_to_stream() adds a pass-through under that node, which forwards
 * every update it emits. Aggregates are bytes; a count is 8 bytes big-endian, so it reads as
 * Kafka's LongSerde. A key-value table node whose rows a child groups anew also hands that
 * child each row's previous value (rill__table_prev_t), in its per-task state.
 */
#include "table_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pass-through nodes ---- */

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static void grouped_free(void *conf) {
    rill_grouped_t *g = conf;
    if (!g)
        return;
    for (rill_windowed_t *w = g->windowed, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    rill__cogrouped_free(g->cogrouped);
    free(g);
}

static const rill__operator_t group_op = {
    .kind = "GROUPBYKEY", .process = pass_process, .free_conf = grouped_free};

static const rill__operator_t to_stream_op = {.kind = "KTABLE-TOSTREAM", .process = pass_process};

rill_grouped_t *rill_stream_group_by_key(rill_stream_t *s, const char *name) {
    if (!s)
        return NULL;
    rill_grouped_t *g = calloc(1, sizeof(*g));
    if (!g) {
        rill__topology_fail(s->topo, "out of memory");
        return NULL;
    }
    rill_stream_t *ns = rill__topology_add(s->topo, s, name, &group_op, g, NULL);
    if (!ns)
        return NULL;
    g->topo = s->topo;
    g->node = ns->node;
    return g;
}

rill_stream_t *rill_table_to_stream(rill_table_t *t, const char *name) {
    char gen[64];
    if (!t || t->topo->error)
        return NULL;
    if (!name) {
        /* Kafka Streams' name for it: KTABLE-TOSTREAM-<index>. */
        snprintf(gen, sizeof(gen), "%s-%010d", to_stream_op.kind, t->topo->node_cnt);
        name = gen;
    }
    return rill__topology_add(t->topo, &t->node->stream, name, &to_stream_op, NULL, NULL);
}

/* ---- window specifications ---- */

static const char *kind_name(rill_window_kind_t kind) {
    switch (kind) {
    case RILL_WINDOW_TUMBLING:
        return "tumbling";
    case RILL_WINDOW_HOPPING:
        return "hopping";
    case RILL_WINDOW_SLIDING:
        return "sliding";
    case RILL_WINDOW_SESSION:
        return "session";
    }
    return "unknown";
}

/* Checks spec; fills in its retention. Returns NULL or the complaint. */
static const char *spec_check(rill_window_spec_t *spec, char *why, size_t why_size) {
    const char *kind = kind_name(spec->kind);
    int64_t least = 0;
    if (spec->grace_ms < 0 || spec->retention_ms < 0 || spec->size_ms < 0 || spec->advance_ms < 0 ||
        spec->gap_ms < 0)
        return "window times must not be negative";
    /* Bounded as record times are (time_int.h), so that time + size + grace never overflows. */
    if (spec->grace_ms > RILL__TIME_MAX || spec->retention_ms > RILL__TIME_MAX ||
        spec->size_ms > RILL__TIME_MAX || spec->advance_ms > RILL__TIME_MAX ||
        spec->gap_ms > RILL__TIME_MAX)
        return "window times must be at most 2305843009213693951 ms (INT64_MAX / 4)";
    switch (spec->kind) {
    case RILL_WINDOW_TUMBLING:
    case RILL_WINDOW_HOPPING:
        if (spec->size_ms <= 0 || spec->gap_ms)
            return "tumbling and hopping windows need size_ms > 0 and no gap_ms";
        if (spec->kind == RILL_WINDOW_TUMBLING && spec->advance_ms &&
            spec->advance_ms != spec->size_ms)
            return "tumbling windows advance by their size: leave advance_ms 0 (or use hopping)";
        if (spec->kind == RILL_WINDOW_HOPPING &&
            (spec->advance_ms <= 0 || spec->advance_ms > spec->size_ms))
            return "hopping windows need 0 < advance_ms <= size_ms";
        if (spec->kind == RILL_WINDOW_TUMBLING)
            spec->advance_ms = spec->size_ms;
        least = spec->size_ms + spec->grace_ms;
        break;
    case RILL_WINDOW_SLIDING:
        if (spec->size_ms <= 0 || spec->advance_ms || spec->gap_ms)
            return "sliding windows need size_ms > 0 (the time difference) and no advance_ms "
                   "or gap_ms";
        /* A record reads its key's windows back to t - 2D (Kafka Streams: 2D + grace). */
        least = 2 * spec->size_ms + spec->grace_ms + 1;
        break;
    case RILL_WINDOW_SESSION:
        if (spec->gap_ms <= 0 || spec->size_ms || spec->advance_ms)
            return "session windows need gap_ms > 0 and no size_ms or advance_ms";
        /* Kafka Streams keeps gap + grace. A record whose own session is open (t >= stream
         * time - grace - gap) may reach closed sessions ending back to stream time - grace -
         * 2 gap: keeping them, it is found late rather than opening a session beside one
         * already emitted. */
        least = 2 * spec->gap_ms + spec->grace_ms;
        break;
    default:
        return "unknown window kind (use RILL_WINDOW_TUMBLING, _HOPPING, _SLIDING or _SESSION)";
    }
    if (!spec->retention_ms)
        spec->retention_ms = least;
    if (spec->retention_ms < least) {
        snprintf(why, why_size,
                 "retention_ms %lld is too short for %s windows: they need at least %lld "
                 "(see rill_window_spec_t)",
                 (long long)spec->retention_ms, kind, (long long)least);
        return why;
    }
    return NULL;
}

rill_windowed_t *rill_grouped_windowed_by(rill_grouped_t *g, const rill_window_spec_t *spec) {
    if (!g || g->topo->error)
        return NULL;
    if (!spec) {
        rill__topology_fail(g->topo, "windowed_by of \"%s\" needs a window spec", g->node->name);
        return NULL;
    }
    rill_window_spec_t s = *spec;
    char why[256];
    const char *bad = spec_check(&s, why, sizeof(why));
    if (bad) {
        rill__topology_fail(g->topo, "windowed_by of \"%s\": %s", g->node->name, bad);
        return NULL;
    }
    rill_windowed_t *w = calloc(1, sizeof(*w));
    if (!w) {
        rill__topology_fail(g->topo, "out of memory");
        return NULL;
    }
    w->grouped = g;
    w->spec = s;
    w->next = g->windowed;
    g->windowed = w;
    return w;
}

/* ---- tables ---- */

rill_table_t *rill__table_add(rill_topology_t *topo, rill__node_t *parent,
                              const rill__operator_t *op, void *conf, const char *store,
                              rill__store_kind_t store_kind, rill_window_kind_t window_kind,
                              int64_t retention_ms, rill__store_def_t **defp) {
    char gen[300];
    if (!store) {
        /* The node about to be added gets index node_cnt. */
        snprintf(gen, sizeof(gen), "KSTREAM-%s-STATE-STORE-%010d", op->kind, topo->node_cnt);
        store = gen;
    }
    return rill__table_add_named(topo, parent, NULL, op, conf, store, store_kind, window_kind,
                                 retention_ms, defp);
}

rill_table_t *rill__table_add_named(rill_topology_t *topo, rill__node_t *parent, const char *name,
                                    const rill__operator_t *op, void *conf, const char *store,
                                    rill__store_kind_t store_kind, rill_window_kind_t window_kind,
                                    int64_t retention_ms, rill__store_def_t **defp) {
    rill_stream_t *s = rill__topology_add(topo, &parent->stream, name, op, conf, NULL);
    if (!s)
        return NULL;
    rill_table_t *table = conf;
    table->topo = topo;
    table->node = s->node;
    table->store_kind = store_kind;
    table->window_kind = window_kind;
    if (!(table->store = strdup(store))) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    if (rill__store_claim(topo, store, RILL__CLAIM_OWN))
        return NULL;
    rill__store_def_t *def =
        rill__topology_add_store(topo, s->node, store, store_kind, retention_ms, 0);
    if (!def)
        return NULL;
    def->timestamped = true; /* rill__stored_make()'s layout (interactive queries strip it) */
    def->value_serde = table->value_serde; /* set by aggregations before they get here */
    if (defp)
        *defp = def;
    return table;
}

int rill__table_get(rill_ctx_t *ctx, const rill_table_t *table, const void *key, size_t key_len,
                    const void **aggp, size_t *agg_lenp, int64_t *tsp) {
    rill__store_t *store = rill__ctx_store(ctx, table->store);
    const void *v;
    size_t len;
    if (!store || table->store_kind != RILL_STORE_KV)
        return -1;
    int rc = rill__kv_get(store, key, key_len, &v, &len);
    if (rc <= 0)
        return rc;
    return rill__stored_parse(v, len, aggp, agg_lenp, tsp) ? -1 : 1;
}

int rill__table_prev_keep(rill__table_prev_t *prev, const void *value, size_t len) {
    rill_buf_reset(&prev->value);
    prev->present = value != NULL;
    return value && rill_buf_append(&prev->value, value, len) ? -1 : 0;
}

const rill__table_prev_t *rill__table_prev(const rill_ctx_t *ctx, const rill_table_t *table) {
    /* The table node's state begins with one (table_int.h). */
    return rill__ctx_node_state(ctx, table->node->id);
}

/* ---- materialized key-value table nodes ---- */

int rill__kv_table_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(rill__kv_table_state_t))) ? 0 : -1;
}

void rill__kv_table_close(const rill__node_t *node, void *state) {
    rill__kv_table_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->prev.value);
    rill_buf_free(&st->val);
    rill_buf_free(&st->enc);
    free(st);
}

void rill__kv_table_free_conf(void *conf) {
    rill_table_t *t = conf;
    if (t)
        free(t->store);
    free(conf);
}

rill_table_t *rill__kv_table_add(rill_topology_t *topo, rill__node_t *parent, const char *name,
                                 const rill__operator_t *op, void *conf, const char *store,
                                 const char *what) {
    char node_name[64], gen[64];
    if (!conf)
        rill__topology_fail(topo, "out of memory");
    if (!conf || rill__store_claim(topo, store, RILL__CLAIM_NAME)) {
        free(conf);
        return NULL;
    }
    if (!name) {
        snprintf(node_name, sizeof(node_name), "%s-%010d", op->kind, topo->node_cnt);
        name = node_name;
    }
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", op->kind, topo->node_cnt);
        store = gen;
    }
    return rill__table_add_named(topo, parent, name, op, conf, store, RILL_STORE_KV, 0, 0, NULL);
}

static int kv_table_failed(rill_ctx_t *ctx, const rill_table_t *t, const char *what) {
    rill_ctx_set_error(ctx, "table \"%s\": %s store \"%s\" failed", ctx->node->name, what,
                       t->store);
    return -1;
}

static int value_bytes(rill_ctx_t *ctx, const rill_record_t *rec, rill_buf_t *out, const void **vp,
                       size_t *lenp);
static int oom(rill_ctx_t *ctx);

int rill__kv_table_apply(rill_ctx_t *ctx, const rill_table_t *t, rill__kv_table_state_t *st,
                         const rill_record_t *rec, bool skip_absent) {
    const void *value = rec->value, *old = NULL, *old_value = NULL;
    size_t value_len = rec->value_len, old_len = 0, old_value_len = 0;
    int64_t old_ts;
    if (!st->store && !(st->store = rill__ctx_store(ctx, t->store)))
        return kv_table_failed(ctx, t, "opening");
    if (!value && rec->value_obj) {
        if (value_bytes(ctx, rec, &st->enc, &value, &value_len))
            return -1;
        if (!value)
            value = ""; /* encoded as nothing: an empty value, not a deletion */
    }
    if (t->send_old || (!value && skip_absent)) {
        int rc = rill__kv_get(st->store, rec->key, rec->key_len, &old, &old_len);
        if (rc < 0)
            return kv_table_failed(ctx, t, "reading");
        if (rc > 0 && rill__stored_parse(old, old_len, &old_value, &old_value_len, &old_ts))
            return kv_table_failed(ctx, t, "parsing a value of");
        if (!value && skip_absent && rc == 0)
            return 0; /* no row before, none now: nothing changed */
        if (t->send_old &&
            rill__table_prev_keep(&st->prev, rc > 0 ? old_value : NULL, old_value_len))
            return oom(ctx);
    }
    if (!value) {
        if (rill__kv_put(st->store, rec->key, rec->key_len, NULL, 0))
            return kv_table_failed(ctx, t, "deleting from");
    } else if (rill__stored_make(&st->val, rec->timestamp, value, value_len) ||
               rill__kv_put(st->store, rec->key, rec->key_len, st->val.data, st->val.len)) {
        return kv_table_failed(ctx, t, "writing");
    }
    rill_record_t out = *rec;
    out.value = value;
    out.value_len = value ? value_len : 0;
    if (!t->value_serde) {
        out.value_obj = NULL;
        out.value_serde = NULL;
    }
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

/* ---- stored values ---- */

int rill__stored_parse(const void *value, size_t len, const void **aggp, size_t *agg_lenp,
                       int64_t *tsp) {
    if (!value || len < RILL__TS_LEN)
        return -1;
    *tsp = (int64_t)rill__be64_get(value);
    *aggp = (const char *)value + RILL__TS_LEN;
    *agg_lenp = len - RILL__TS_LEN;
    return 0;
}

int rill__stored_make(rill_buf_t *out, int64_t ts, const void *agg, size_t agg_len) {
    unsigned char be[RILL__TS_LEN];
    rill__be64_put(be, (uint64_t)ts);
    rill_buf_reset(out);
    return rill_buf_append(out, be, sizeof(be)) || rill_buf_append(out, agg, agg_len) ? -1 : 0;
}

/* ---- aggregate functions ---- */

static int put_count(rill_buf_t *out, int64_t n) {
    unsigned char be[8];
    rill_int64_encode(n, be);
    return rill_buf_append(out, be, sizeof(be));
}

static int oom(rill_ctx_t *ctx) {
    rill_ctx_set_error(ctx, "out of memory");
    return -1;
}

static int user_failed(rill_ctx_t *ctx, const char *what) {
    rill_ctx_set_error(ctx, "%s of node \"%s\" failed", what, ctx->node->name);
    return -1;
}

static int bad_count(rill_ctx_t *ctx, size_t len) {
    rill_ctx_set_error(ctx, "node \"%s\": stored count has %zu bytes, not 8", ctx->node->name, len);
    return -1;
}

int rill__agg_initial(rill_ctx_t *ctx, const rill__agg_fns_t *fns, rill_buf_t *out) {
    rill_buf_reset(out);
    switch (fns->kind) {
    case RILL__AGG_COUNT:
        return put_count(out, 0) ? oom(ctx) : 0;
    case RILL__AGG_AGGREGATE:
        return fns->init(out, fns->init_own_opaque ? fns->init_opaque : fns->opaque)
                   ? user_failed(ctx, "initializer")
                   : 0;
    case RILL__AGG_REDUCE:
        break;
    }
    rill_ctx_set_error(ctx, "node \"%s\": reduce has no initial aggregate", ctx->node->name);
    return -1;
}

/* The record's value as bytes: its own, or its decoded value encoded by its serde. */
static int value_bytes(rill_ctx_t *ctx, const rill_record_t *rec, rill_buf_t *out, const void **vp,
                       size_t *lenp) {
    if (rec->value || !rec->value_obj) {
        *vp = rec->value;
        *lenp = rec->value_len;
        return 0;
    }
    const rill_serde_t *serde = rec->value_serde;
    rill_buf_reset(out);
    if (!serde || !serde->serialize || serde->serialize(serde, rec->value_obj, out)) {
        rill_ctx_set_error(ctx, "node \"%s\": the value could not be serialized", ctx->node->name);
        return -1;
    }
    *vp = out->data;
    *lenp = out->len;
    return 0;
}

int rill__agg_add(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const rill_record_t *rec,
                  const void *agg, size_t agg_len, rill_buf_t *out) {
    int64_t n = 0;
    switch (fns->kind) {
    case RILL__AGG_COUNT:
        if (agg && rill_int64_decode(agg, agg_len, &n))
            return bad_count(ctx, agg_len);
        rill_buf_reset(out);
        return put_count(out, n + 1) ? oom(ctx) : 0;
    case RILL__AGG_REDUCE:
        if (!agg) {
            const void *v;
            size_t len;
            if (value_bytes(ctx, rec, out, &v, &len))
                return -1;
            if (v == out->data)
                return 0; /* already in out */
            rill_buf_reset(out);
            return rill_buf_append(out, v, len) ? oom(ctx) : 0;
        }
        rill_buf_reset(out);
        return fns->adder(rec, agg, agg_len, out, fns->opaque) ? user_failed(ctx, "reducer") : 0;
    case RILL__AGG_AGGREGATE:
        if (!agg) {
            /* The initial aggregate must outlive out's reset: keep it in a buffer of its own. */
            rill_buf_t init = {0};
            int rc = rill__agg_initial(ctx, fns, &init);
            if (!rc) {
                rill_buf_reset(out);
                rc = fns->adder(rec, init.data ? init.data : "", init.len, out, fns->opaque)
                         ? user_failed(ctx, "aggregator")
                         : 0;
            }
            rill_buf_free(&init);
            return rc;
        }
        rill_buf_reset(out);
        return fns->adder(rec, agg, agg_len, out, fns->opaque) ? user_failed(ctx, "aggregator") : 0;
    }
    return -1;
}

int rill__agg_subtract(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const rill_record_t *rec,
                       const void *agg, size_t agg_len, rill_buf_t *out) {
    int64_t n;
    rill_buf_reset(out);
    switch (fns->kind) {
    case RILL__AGG_COUNT:
        if (rill_int64_decode(agg, agg_len, &n))
            return bad_count(ctx, agg_len);
        return put_count(out, n - 1) ? oom(ctx) : 0;
    case RILL__AGG_AGGREGATE:
        if (!fns->subtractor) {
            rill_ctx_set_error(ctx, "node \"%s\" has no subtractor", ctx->node->name);
            return -1;
        }
        return fns->subtractor(rec, agg, agg_len, out, fns->opaque) ? user_failed(ctx, "subtractor")
                                                                    : 0;
    case RILL__AGG_REDUCE:
        break;
    }
    rill_ctx_set_error(ctx, "node \"%s\": reduce cannot subtract", ctx->node->name);
    return -1;
}

int rill__agg_merge(rill_ctx_t *ctx, const rill__agg_fns_t *fns, const void *a, size_t a_len,
                    const void *b, size_t b_len, rill_buf_t *out) {
    int64_t x, y;
    rill_buf_reset(out);
    switch (fns->kind) {
    case RILL__AGG_COUNT:
        if (rill_int64_decode(a, a_len, &x))
            return bad_count(ctx, a_len);
        if (rill_int64_decode(b, b_len, &y))
            return bad_count(ctx, b_len);
        return put_count(out, x + y) ? oom(ctx) : 0;
    case RILL__AGG_AGGREGATE:
        if (fns->merger && !fns->merger(a, a_len, b, b_len, out, fns->opaque))
            return 0;
        return user_failed(ctx, "session merger");
    case RILL__AGG_REDUCE:
        break;
    }
    rill_ctx_set_error(ctx, "node \"%s\": reduce cannot merge sessions", ctx->node->name);
    return -1;
}

const rill_serde_t *rill__agg_serde(const rill__agg_fns_t *fns) {
    return fns->kind == RILL__AGG_COUNT ? rill_serde_int64() : rill_serde_bytes();
}

/* ---- dead letters ---- */

int rill__agg_dead_letter(rill_ctx_t *ctx, const rill_record_t *rec, const char *fmt, ...) {
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    rill__thread_t *thread = rill__ctx_thread(ctx);
    if (ctx->msg)
        return rill__dlq_send(thread, ctx->msg, ctx->node->name, reason, 1);
    /* No consumed message: the record's position as the context has it (a record given by
     * the test driver, or released by an async node), else none (a punctuation). */
    const char *topic = rill_ctx_topic(ctx);
    rill__dlq_src_t src = {.topic = topic ? topic : "",
                           .partition = rill_ctx_partition(ctx),
                           .offset = rill_ctx_offset(ctx),
                           .key = rec->key,
                           .key_len = rec->key_len,
                           .value = rec->value,
                           .value_len = rec->value_len,
                           .timestamp = rec->timestamp,
                           .headers = (const rd_kafka_headers_t *)rill_ctx_headers(ctx)};
    return rill__dlq_send_src(thread, &src, ctx->node->name, reason, 1);
}
