/*
 * rill_global_app.c — orders enriched with their user's row from a global table; built on
 * the public API only. The global table test (tests/integration/test_global_table.c) runs it
 * as separate processes.
 *
 *   rill_global_app --table T --input T --output T --app-id ID [common Rill flags]
 *
 * Topology: global table (table: string keys "u<id>", string values) and source (input:
 * string key "order-<n>", value "user=<uid>;amount=<n>") → rill_stream_global_join "enrich"
 * (LEFT; the key mapper takes <uid>, the text between "user=" and the next ';' or the end, as
 * the row's key) → sink (output). The input need not be co-partitioned with the table: every
 * process holds all of it. Each order gives one record, keyed as the order, with value
 *     <stream value>|<row value>      (the user has a row)
 *     <stream value>|NULL             (no row: never written, or deleted by a tombstone)
 * Table records with a null key go to the dead-letter topic (the engine's rule); an order
 * whose value has no "user=" field goes there too (the key mapper fails).
 */
#include <rill.h>

#include "prog_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "rill_global_app"

/* ---- the callbacks ---- */

/* The row key of an order: the <uid> of its "user=<uid>" field (not empty). */
static int user_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    static const char field[] = "user=";
    const size_t field_len = sizeof(field) - 1;
    const char *v = rec->value, *end = v ? v + rec->value_len : NULL;
    if (!v)
        return -1;
    for (const char *p = v; p + field_len <= end; p++) {
        if ((p != v && p[-1] != ';') || memcmp(p, field, field_len))
            continue;
        const char *uid = p + field_len, *stop = memchr(uid, ';', (size_t)(end - uid));
        size_t len = (size_t)((stop ? stop : end) - uid);
        if (!len)
            return -1;
        return rill_buf_append(out->key, uid, len);
    }
    return -1;
}

/* "<order value>|<row value>", or "<order value>|NULL" when the order met no row. */
static int enrich(const rill_record_t *order, const rill_record_t *row, rill_buf_t *out,
                  void *opaque) {
    (void)opaque;
    if (order->value_len && rill_buf_append(out, order->value, order->value_len))
        return -1;
    if (rill_buf_append(out, "|", 1))
        return -1;
    if (!row)
        return rill_buf_append(out, "NULL", 4);
    return row->value_len ? rill_buf_append(out, row->value, row->value_len) : 0;
}

/* ---- the program ---- */

static int is_app_flag(const char *arg) {
    return !strcmp(arg, "--table") || !strcmp(arg, "--input") || !strcmp(arg, "--output") ||
           !strcmp(arg, "--app-id");
}

int main(int argc, char **argv) {
    const char *table = prog_flag(argc, argv, "--table"), *input = prog_flag(argc, argv, "--input");
    const char *output = prog_flag(argc, argv, "--output"),
               *app_id = prog_flag(argc, argv, "--app-id");
    if (!table || !input || !output || !app_id) {
        fprintf(stderr, "usage: " PROG " --table T --input T --output T --app-id ID "
                        "[Rill flags]\n");
        return 2;
    }
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t table_opts = {.value_serde = rill_serde_string()};
    rill_global_table_t *users = rill_global_table(topo, table, &table_opts, NULL);
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_string()};
    rill_stream_t *orders = rill_stream_from(topo, "source", input, &src);
    rill_stream_t *enriched =
        rill_stream_global_join(orders, users, "enrich", RILL_JOIN_LEFT, user_of, enrich, NULL);
    rill_stream_to(enriched, "sink", output, NULL);
    return prog_run(PROG, topo, app_id, argc, argv, is_app_flag);
}
