/*
 * kv_api.c — the public face of key-value stores for custom processors: declaring a store
 * for a node, and reading and writing it from the node's callbacks.
 */
#include "stores_int.h"

rill_err_t rill_stream_use_kv_store(rill_stream_t *s, const char *store) {
    if (!s || s->topo->error)
        return RILL_ERR_TOPOLOGY;
    return rill__topology_add_store(s->topo, s->node, store, RILL_STORE_KV, 0, 0)
               ? RILL_OK
               : RILL_ERR_TOPOLOGY;
}

rill_kv_t *rill_ctx_kv(rill_ctx_t *ctx, const char *name) {
    return (rill_kv_t *)rill__ctx_store(ctx, name);
}

int rill_kv_get(rill_kv_t *kv, const void *key, size_t key_len, const void **valuep,
                size_t *value_lenp) {
    int rc = rill__kv_get((rill__store_t *)kv, key, key_len, valuep, value_lenp);
    return rc < 0 ? RILL_ERR_IO : rc;
}

rill_err_t rill_kv_put(rill_kv_t *kv, const void *key, size_t key_len, const void *value,
                       size_t value_len) {
    if (!value)
        value = "";
    return rill__kv_put((rill__store_t *)kv, key, key_len, value, value_len) ? RILL_ERR_NOMEM
                                                                             : RILL_OK;
}

rill_err_t rill_kv_delete(rill_kv_t *kv, const void *key, size_t key_len) {
    return rill__kv_put((rill__store_t *)kv, key, key_len, NULL, 0) ? RILL_ERR_NOMEM : RILL_OK;
}
