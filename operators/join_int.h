/*
 * join_int.h — what the join operators share (join_common.c): lists of values kept under one
 * store key, the record value as bytes, calling the joiner and forwarding its result,
 * dead-lettering a record held in a store, and the mark that makes a sub-topology
 * co-partitioned.
 *
 * Stream-stream windowed joins are in join_windowed.c, stream-table joins in join_table.c,
 * table-table joins in join_tables.c. Every function here runs on the stream thread of the
 * task at hand, except the builder helpers (rill__join_name).
 */
#ifndef RILL_JOIN_INT_H
#define RILL_JOIN_INT_H

#include "table_int.h"

#include <stdbool.h>

/*
 * A list of values kept under one store key (records of one key with one timestamp: a window
 * store holds one value per (key, start), and duplicates must not overwrite each other). Each
 * element is [length 4 bytes BE][bytes], length 0xFFFFFFFF for a null value.
 */
#define RILL__JOIN_NULL_LEN 0xFFFFFFFFu

/* Writes old (may be NULL) followed by one element (value NULL: a null value) to out. */
int rill__join_list_append(rill_buf_t *out, const void *old, size_t old_len, const void *value,
                           size_t value_len);
/* Reads the element at *pos: returns 1 and sets *valuep (NULL for a null value) and *lenp, 0
 * at the end, -1 when the list is malformed. */
int rill__join_list_next(const void *list, size_t list_len, size_t *pos, const void **valuep,
                         size_t *lenp);

/* The record's value as bytes: its own, or its decoded value encoded by its serde (into buf),
 * or NULL for a null value. Returns 0, or -1 with ctx's error set. */
int rill__join_value(rill_ctx_t *ctx, const rill_record_t *rec, rill_buf_t *buf,
                     const void **valuep, size_t *lenp);

/* Calls joiner(left, right) (either may be NULL) and forwards its result: key, the joiner's
 * bytes (an empty result is an empty value, not a tombstone), ts, headers. out is scratch.
 * Returns 0, or -1 with ctx's error set. */
int rill__join_emit(rill_ctx_t *ctx, rill_joiner_cb joiner, void *opaque, const void *key,
                    size_t key_len, const rill_record_t *left, const rill_record_t *right,
                    int64_t ts, const rill_headers_t *headers, rill_buf_t *out);

/* Sends a record held in a store (not the one being processed) to the dead-letter topic with
 * reason, as if it came from topic (may be NULL), partition, offset. Returns 0 or -1. */
int rill__join_dead_letter(rill_ctx_t *ctx, const char *topic, int64_t offset,
                           const rill_record_t *rec, const char *reason);

/* Node names of a join: "<base><suffix>", base the user's name or a generated
 * "<kind>-<node index>". */
void rill__join_name(char *out, size_t out_size, const char *base, const char *suffix);

/* rill_join_unmatched_total of a join node whose count is *unmatched (atomic): its sample,
 * labelled with the node's name, and its value when name is that metric (else -1). */
void rill__join_unmatched_metrics(const rill__node_t *node, rill__mout_t *mo,
                                  const int64_t *unmatched);
int64_t rill__join_unmatched_metric(const char *name, const int64_t *unmatched);

/* The operators of the nodes that read both sides of a join (defined in the join files). */
extern const rill__operator_t rill__join_window_op;       /* stream-stream, either side */
extern const rill__operator_t rill__join_stream_table_op; /* stream-table, stream side */
extern const rill__operator_t rill__join_table_update_op; /* stream-table, table side */
extern const rill__operator_t rill__join_tables_op;       /* table-table, either side */

/* These operators set .copartitioned: the topology's freeze marks their sub-topology, and
 * the app refuses to start when its source topics' partition counts differ (docs/DESIGN.md,
 * invariant 2). */

#endif
