/*
 * mapper_int.h — calling a rill_mapper_cb (mapper.c): the buffers Rill owns for its output
 * and the record made of what it wrote.
 *
 * DESIGN
 * A mapper writes its key and value into buffers of the node's per-task state (include/rill.h,
 * conventions 8): the record built from them is forwarded, or copied, before the node calls
 * the mapper again, so one pair of buffers per node and task suffices, and they stop growing
 * after the largest record (no allocation per record). Nodes nested under each other have
 * buffers of their own, so a mapper's output survives the forwards below it.
 */
#ifndef RILL_MAPPER_INT_H
#define RILL_MAPPER_INT_H

#include "engine_int.h"

#include <stdbool.h>

typedef struct rill__mapped_s {
    rill_map_out_t out; /* what the mapper is handed */
    rill_buf_t key, value;
} rill__mapped_t;

/*
 * Calls fn(rec, &m->out, opaque) with empty buffers and cleared fields, and makes *res: rec
 * with the mapper's key (take_key; a null key when it set key_null; the record is then not
 * windowed) and value (take_value: its bytes, or its decoded value when it wrote no bytes
 * and set value_obj, or a null value when it set value_null). res points into m until the
 * next call. Returns fn's result.
 */
int rill__map_run(rill__mapped_t *m, rill_mapper_cb fn, void *opaque, const rill_record_t *rec,
                  bool take_key, bool take_value, rill_record_t *res);
void rill__mapped_free(rill__mapped_t *m);

/* The init and close of an operator whose per-task state is a rill__mapped_t alone. */
int rill__mapped_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep);
void rill__mapped_close(const rill__node_t *node, void *state);

#endif
