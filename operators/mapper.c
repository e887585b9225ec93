/*
 * mapper.c — calling a rill_mapper_cb with the output buffers Rill owns (see mapper_int.h).
 *
 * DESIGN
 * The only place that turns a mapper's rill_map_out_t into a record, so every operator
 * taking a mapper (map, map_values, select_key, group_by selectors, table map_values, global
 * join key mappers) reads the same rules: bytes in Rill's buffers, a null key or value only
 * when the mapper says so, a decoded value only when it wrote no bytes.
 */
#include "mapper_int.h"

#include <stdlib.h>

static void take_value(rill__mapped_t *m, rill_record_t *res) {
    const rill_map_out_t *o = &m->out;
    res->value_obj = o->value_obj;
    res->value_serde = o->value_serde;
    if (o->value_null && !o->value_obj) {
        res->value = NULL;
        res->value_len = 0;
    } else if (!m->value.len && o->value_obj) {
        res->value = NULL; /* a decoded value: its serde encodes it where bytes are needed */
        res->value_len = 0;
    } else {
        res->value = m->value.data ? m->value.data : "";
        res->value_len = m->value.len;
    }
}

int rill__map_run(rill__mapped_t *m, rill_mapper_cb fn, void *opaque, const rill_record_t *rec,
                  bool take_key, bool take_val, rill_record_t *res) {
    rill_buf_reset(&m->key);
    rill_buf_reset(&m->value);
    m->out = (rill_map_out_t){.key = &m->key, .value = &m->value};
    int rc = fn(rec, &m->out, opaque);
    *res = *rec;
    if (rc)
        return rc;
    if (take_key) {
        res->key = m->out.key_null ? NULL : m->key.data ? m->key.data : "";
        res->key_len = m->out.key_null ? 0 : m->key.len;
        res->window_kind = 0; /* a key a mapper gives is a plain key */
    }
    if (take_val)
        take_value(m, res);
    return 0;
}

void rill__mapped_free(rill__mapped_t *m) {
    rill_buf_free(&m->key);
    rill_buf_free(&m->value);
}

int rill__mapped_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    return (*statep = calloc(1, sizeof(rill__mapped_t))) ? 0 : -1;
}

void rill__mapped_close(const rill__node_t *node, void *state) {
    if (state)
        rill__mapped_free(state);
    free(state);
}
