/*
 * table_source.c — tables read from a topic (rill_table_from()) or made of a stream
 * (rill_stream_to_table()): each record upserts its key's row in a key-value store, a record
 * with a null value (a tombstone) deletes it, and every change goes downstream, as Kafka
 * Streams' builder.table() and KStream#toTable with a materialized store.
 *
 * DESIGN
 * Two nodes: a source for the topic and the table node (KTABLE-SOURCE), which owns the store.
 * The store holds [timestamp 8 bytes BE][value] per key, the layout of aggregations
 * (table_int.h), so rill__table_get() and custom processors read it like any key-value table.
 * Each record is at most one read, one write and one forward: the read only when a child
 * needs the row's previous value (rill_table_group_by() sets send_old), which is then copied
 * into the node's state before the write. State per task: the store and that copy; what must
 * survive a crash is in the store and its changelog. The change stream carries the record as
 * it came (value, decoded value, timestamp, headers), a tombstone as a null value, also for a
 * key that was absent (Kafka Streams forwards those too). A stream made a table is the same
 * table node (KSTREAM-TOTABLE) under the stream's node instead of a source; its records may
 * carry a decoded value without bytes, which the node encodes with the record's serde. Its
 * table has no value serde (its values are bytes, whatever the stream's records were), so
 * its change stream carries bytes only, as its rows' previous values do.
 */
#include "table_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct source_conf_s {
    rill_table_t table; /* first: the handle given to the user */
} rill__source_conf_t;

static int source_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__source_conf_t *c = ctx->node->conf;
    if (!rec->key)
        return rill__agg_dead_letter(ctx, rec,
                                     "null key: table \"%s\" holds rows by key and "
                                     "cannot place a record without one",
                                     ctx->node->name);
    /* A record with neither value bytes nor a decoded value is a tombstone. */
    return rill__kv_table_apply(ctx, &c->table, state, rec, false);
}

static const rill__operator_t table_source_op = RILL__KV_TABLE_OP("KTABLE-SOURCE", source_process);
static const rill__operator_t to_table_op = RILL__KV_TABLE_OP("KSTREAM-TOTABLE", source_process);

rill_table_t *rill_table_from(rill_topology_t *topo, const char *name, const char *topic,
                              const rill_source_opts_t *opts, const char *store) {
    char node_name[300], gen[300];
    if (!topo || topo->error || rill__store_claim(topo, store, RILL__CLAIM_NAME))
        return NULL;
    rill_stream_t *s = rill_stream_from(topo, name, topic, opts);
    if (!s)
        return NULL;
    /* Kafka Streams' names: "<name>-table-source" beside a source called name, else
     * KTABLE-SOURCE-<index>; the store "<topic>-STATE-STORE-<index>". */
    if (name)
        snprintf(node_name, sizeof(node_name), "%s-table-source", name);
    else
        snprintf(node_name, sizeof(node_name), "%s-%010d", table_source_op.kind, topo->node_cnt);
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", topic, topo->node_cnt);
        store = gen;
    }
    rill__source_conf_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    c->table.value_serde = s->node->source.opts.value_serde;
    return rill__table_add_named(topo, s->node, node_name, &table_source_op, c, store,
                                 RILL_STORE_KV, 0, 0, NULL);
}

rill_table_t *rill_stream_to_table(rill_stream_t *s, const char *name, const char *store) {
    if (!s || s->topo->error)
        return NULL;
    /* Its values are bytes (no value serde): see DESIGN above. */
    return rill__kv_table_add(s->topo, s->node, name, &to_table_op,
                              calloc(1, sizeof(rill__source_conf_t)), store, "to_table");
}
