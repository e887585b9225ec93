/*
 * join_common.c — what the join operators share: value lists under one store key, record
 * values as bytes, the joiner call and its forward, dead letters for records held in a store,
 * and the co-partitioning mark read when the topology is frozen.
 */
#include "join_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rill__join_list_append(rill_buf_t *out, const void *old, size_t old_len, const void *value,
                           size_t value_len) {
    unsigned char be[4];
    uint32_t n = value ? (uint32_t)value_len : RILL__JOIN_NULL_LEN;
    if (value && value_len >= RILL__JOIN_NULL_LEN)
        return -1;
    be[0] = (unsigned char)(n >> 24);
    be[1] = (unsigned char)(n >> 16);
    be[2] = (unsigned char)(n >> 8);
    be[3] = (unsigned char)n;
    rill_buf_reset(out);
    if ((old_len && rill_buf_append(out, old, old_len)) || rill_buf_append(out, be, 4) ||
        (value && value_len && rill_buf_append(out, value, value_len)))
        return -1;
    return 0;
}

int rill__join_list_next(const void *list, size_t list_len, size_t *pos, const void **valuep,
                         size_t *lenp) {
    const unsigned char *p = list;
    if (*pos == list_len)
        return 0;
    if (list_len - *pos < 4)
        return -1;
    p += *pos;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *pos += 4;
    if (n == RILL__JOIN_NULL_LEN) {
        *valuep = NULL;
        *lenp = 0;
        return 1;
    }
    if (list_len - *pos < n)
        return -1;
    *valuep = (const char *)list + *pos;
    *lenp = n;
    *pos += n;
    return 1;
}

int rill__join_value(rill_ctx_t *ctx, const rill_record_t *rec, rill_buf_t *buf,
                     const void **valuep, size_t *lenp) {
    if (rec->value || !rec->value_obj) {
        *valuep = rec->value;
        *lenp = rec->value ? rec->value_len : 0;
        return 0;
    }
    const rill_serde_t *serde = rec->value_serde;
    rill_buf_reset(buf);
    if (!serde || !serde->serialize || serde->serialize(serde, rec->value_obj, buf)) {
        rill_ctx_set_error(ctx, "join \"%s\": the value could not be serialized", ctx->node->name);
        return -1;
    }
    *valuep = buf->data ? buf->data : "";
    *lenp = buf->len;
    return 0;
}

int rill__join_emit(rill_ctx_t *ctx, rill_joiner_cb joiner, void *opaque, const void *key,
                    size_t key_len, const rill_record_t *left, const rill_record_t *right,
                    int64_t ts, const rill_headers_t *headers, rill_buf_t *out) {
    rill_buf_reset(out);
    if (joiner(left, right, out, opaque)) {
        rill_ctx_set_error(ctx, "joiner of node \"%s\" failed", ctx->node->name);
        return -1;
    }
    rill_record_t rec = {.key = key,
                         .key_len = key_len,
                         .value = out->data ? out->data : "",
                         .value_len = out->len,
                         .timestamp = ts,
                         .headers = headers};
    return rill_ctx_forward(ctx, &rec) ? -1 : 0;
}

int rill__join_dead_letter(rill_ctx_t *ctx, const char *topic, int64_t offset,
                           const rill_record_t *rec, const char *reason) {
    rill__dlq_src_t src = {.topic = topic ? topic : "",
                           .partition = rill_ctx_partition(ctx),
                           .offset = offset,
                           .key = rec->key,
                           .key_len = rec->key_len,
                           .value = rec->value,
                           .value_len = rec->value_len,
                           .timestamp = rec->timestamp};
    return rill__dlq_send_src(rill__ctx_thread(ctx), &src, ctx->node->name, reason, 1);
}

void rill__join_name(char *out, size_t out_size, const char *base, const char *suffix) {
    snprintf(out, out_size, "%s%s", base, suffix);
}

static const rill__mfamily_t unmatched_family = {
    "rill_join_unmatched_total", RILL__COUNTER,
    "Stream records of a join that met no table row (joined with null or dead-lettered)."};

void rill__join_unmatched_metrics(const rill__node_t *node, rill__mout_t *mo,
                                  const int64_t *unmatched) {
    rill__mout_sample(mo, &unmatched_family, NULL, (const char *[]){"node", node->name, NULL},
                      __atomic_load_n(unmatched, __ATOMIC_RELAXED));
}

int64_t rill__join_unmatched_metric(const char *name, const int64_t *unmatched) {
    return strcmp(name, unmatched_family.name) ? -1 : __atomic_load_n(unmatched, __ATOMIC_RELAXED);
}
