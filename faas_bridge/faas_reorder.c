/*
 * faas_reorder.c — the FaaS stage's reorder buffer: records enter a ring of slots in input
 * order with a sequence number, results fill the slots in whatever order invocations finish,
 * and results leave the stage in the order the stage's mode requires.
 *
 * DESIGN
 * The ring holds at most max_buffered_records (capped by max_buffered_bytes) + one batch
 * (+ a small margin, since the task checks backpressure every 64 records) slots, allocated
 * once per task. A record's bytes are copied
 * into a shared chunk (one allocation per ~64 KiB of records, not per record).
 *  - partition mode: slots are released strictly from the head, in sequence.
 *  - key mode: a done slot is released when no earlier unreleased slot has the same key
 *    hash (a hash collision only makes a record wait a little longer, never reorders).
 *  - unordered: any done slot is released.
 * Key and unordered modes look for done slots only among those sent so far (below
 * sent_end): the read-ahead behind them, a full batch per call, is never done.
 * The head advances over released slots, so the commit watermark — the offset of the oldest
 * unreleased slot of a partition — never passes a record whose results have not left
 * (docs/DESIGN.md, invariant 3). A failed slot goes to the dead-letter topic on its turn, so order
 * holds for everything else (docs/DESIGN.md, invariant 7).
 */
#include "faas_stage_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (64 * 1024)

static uint64_t hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void chunk_unref(rill__faas_chunk_t *chunk) {
    if (chunk && --chunk->refs == 0)
        free(chunk);
}

/* Reserves len bytes in the stage's current chunk (a new one when it is full). */
static char *chunk_reserve(rill__faas_stage_t *st, size_t len, rill__faas_chunk_t **chunkp) {
    rill__faas_chunk_t *c = st->chunk;
    if (!c || c->cap - c->len < len) {
        size_t cap = len > CHUNK_MIN ? len : CHUNK_MIN;
        rill__faas_chunk_t *n = malloc(sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->refs = 1; /* the stage's own reference while it is current */
        n->len = 0;
        n->cap = cap;
        if (c)
            chunk_unref(c);
        st->chunk = c = n;
    }
    char *p = c->data + c->len;
    c->len += len;
    c->refs++;
    *chunkp = c;
    return p;
}

void rill__faas_response_unref(rill__faas_shared_resp_t *resp) {
    if (resp && --resp->refs == 0) {
        rill__faas_response_free(&resp->r);
        free(resp);
    }
}

void rill__faas_slot_free(rill__faas_slot_t *slot) {
    chunk_unref(slot->chunk);
    if (slot->hdrs)
        rd_kafka_headers_destroy(slot->hdrs);
    rill__faas_response_unref(slot->resp);
    free(slot->error);
    memset(slot, 0, sizeof(*slot));
}

/*
 * Gives a record its own id, "<origin>-<n>": the origin is what it derives from (the input
 * record "<topic>-<partition>-<offset>", a punctuation, or an upstream stage's record; see
 * ctx.c) and n its index among the records this stage got from that origin. Records that
 * one input fans out to (a flat_map, a join, windows closed by it) thus get distinct ids,
 * and a retry or a replay of the same input gives the same ones. An id that would not fit
 * has its origin replaced by "h" and the origin's 64-bit hash.
 */
static void make_id(rill__faas_stage_t *st, rill_ctx_t *ctx, char id[RILL__FAAS_ID_MAX]) {
    char origin[RILL__FAAS_ID_MAX];
    size_t len = rill__ctx_origin_id(ctx, origin, sizeof(origin));
    uint64_t seq = rill__ctx_origin_seq(ctx);
    if (seq != st->origin_seq) {
        st->origin_seq = seq;
        st->origin_n = 0;
    }
    char tail[16];
    int tail_len = snprintf(tail, sizeof(tail), "-%" PRIu32, st->origin_n++);
    if (len + (size_t)tail_len >= RILL__FAAS_ID_MAX)
        len = (size_t)snprintf(origin, sizeof(origin), "h%016" PRIx64, hash_bytes(origin, len));
    memcpy(id, origin, len);
    memcpy(id + len, tail, (size_t)tail_len + 1);
}

/* lineage.enable: keeps the record's trace with the slot (in its chunk), for the outputs
 * released later, and gives the call its traceparent, a span of that trace. */
static void admit_trace(rill__faas_slot_t *slot, const rill__trace_t *trace, char *at, size_t len) {
    slot->trace = trace ? at : NULL;
    slot->trace_len = len;
    slot->rec.traceparent[0] = '\0';
    if (!trace)
        return;
    rill__trace_blob_put(at, trace);
    uint8_t span[8];
    rill__trace_random(span, sizeof(span));
    rill__traceparent_format(slot->rec.traceparent, trace->trace_id, span, trace->flags);
}

int rill__faas_admit(rill__faas_stage_t *st, rill_ctx_t *ctx, const rill_record_t *rec) {
    if (st->tail - st->head >= st->cap) {
        rill_ctx_set_error(ctx, "FaaS stage \"%s\" is full (%zu records held)", st->node->name,
                           st->cap);
        return -1;
    }
    const void *value = rec->value;
    size_t value_len = rec->value_len;
    if (!value && rec->value_obj && rec->value_serde && rec->value_serde->serialize) {
        rill_buf_t *scratch = &st->thread->scratch;
        rill_buf_reset(scratch);
        if (rec->value_serde->serialize(rec->value_serde, rec->value_obj, scratch)) {
            rill_ctx_set_error(ctx, "FaaS stage \"%s\": value could not be serialized",
                               st->node->name);
            return -1;
        }
        value = scratch->data;
        value_len = scratch->len;
    }
    rill__faas_slot_t *slot = slot_at(st, st->tail);
    const rill__trace_t *trace = rill__ctx_trace(ctx);
    size_t trace_len = trace ? rill__trace_blob_size(trace) : 0;
    char *p = chunk_reserve(st, rec->key_len + value_len + trace_len, &slot->chunk);
    if (!p)
        return -1;
    admit_trace(slot, trace, p + rec->key_len + value_len, trace_len);
    if (rec->key_len)
        memcpy(p, rec->key, rec->key_len);
    if (value_len)
        memcpy(p + rec->key_len, value, value_len);
    rill__faas_rec_t *r = &slot->rec;
    r->topic = rill__ctx_topic_held(ctx);
    r->partition = rill_ctx_partition(ctx);
    r->offset = rill_ctx_offset(ctx);
    r->timestamp = rec->timestamp;
    r->key = rec->key ? p : NULL;
    r->key_len = rec->key_len;
    r->value = value ? p + rec->key_len : NULL;
    r->value_len = value_len;
    slot->hdrs = rec->headers && rill_headers_count(rec->headers)
                     ? rd_kafka_headers_copy((const rd_kafka_headers_t *)rec->headers)
                     : NULL;
    r->headers = (const rill_headers_t *)slot->hdrs;
    make_id(st, ctx, r->id);
    slot->key_hash =
        st->conf->o.order == RILL_FAAS_ORDER_KEY ? hash_bytes(rec->key, rec->key_len) : 0;
    slot->first_ms = rill__now_ms();
    slot->attempts = 0;
    slot->state = SLOT_OPEN;
    if (st->low_known && rec->timestamp < st->low_time)
        st->low_time = rec->timestamp;
    if (st->tail == st->open_from)
        st->open_since = slot->first_ms;
    st->open_bytes += rec->key_len + value_len + 256;
    st->held_bytes += slot_bytes(slot);
    st->tail++;
    st->live++;
    return 0;
}

static int dead_letter(rill__faas_stage_t *st, rill__faas_slot_t *slot) {
    const rill__faas_rec_t *r = &slot->rec;
    char reason[512];
    snprintf(reason, sizeof(reason), "function \"%s\" failed after %d attempt(s): %s",
             st->conf->function, slot->attempts, slot->error ? slot->error : "unknown error");
    rill__dlq_src_t src = {.topic = r->topic,
                           .partition = r->partition,
                           .offset = r->offset,
                           .key = r->key,
                           .key_len = r->key_len,
                           .value = r->value,
                           .value_len = r->value_len,
                           .timestamp = r->timestamp,
                           .headers = slot->hdrs};
    if (rill__dlq_send_src(st->thread, &src, st->node->name, reason, slot->attempts))
        return -1;
    rill__counter_add(&st->conf->m_dlq, 1);
    return 0;
}

/* Output i of a done slot: the function's record, with the input's key when it gave none,
 * and the input's timestamp and headers. */
static void slot_output(void *opaque, size_t i, rill_record_t *out) {
    const rill__faas_slot_t *slot = opaque;
    const rill__faas_out_t *o = &slot->resp->r.results[slot->res_idx].outs[i];
    out->key = o->key ? o->key : slot->rec.key;
    out->key_len = o->key ? o->key_len : slot->rec.key_len;
    out->value = o->value;
    out->value_len = o->value_len;
    out->timestamp = slot->rec.timestamp;
    out->headers = (const rill_headers_t *)slot->hdrs;
}

/* Forwards a done slot's outputs downstream (or dead-letters a failed one), the nodes after
 * the stage seeing the slot's input record as theirs: its topic, partition, offset,
 * headers, timestamp and trace, not those of the record being processed. Returns -1 when a
 * failure could not be dead-lettered (errors.tolerance=none): the slot is then kept, so the
 * watermark stays before it. */
static int emit(rill__faas_stage_t *st, rill_ctx_t *ctx, rill__faas_slot_t *slot) {
    if (slot->state == SLOT_FAILED)
        return dead_letter(st, slot);
    const rill__faas_result_t *res = slot->resp ? &slot->resp->r.results[slot->res_idx] : NULL;
    if (!res || !res->out_cnt)
        return 0;
    bool traced = slot->trace && !rill__trace_blob_get(&st->trace, slot->trace, slot->trace_len);
    rill__reentry_t at = {.topic = slot->rec.topic,
                          .partition = slot->rec.partition,
                          .offset = slot->rec.offset,
                          .headers = slot->hdrs,
                          .timestamp = slot->rec.timestamp,
                          .trace = traced ? &st->trace : NULL,
                          .origin = slot->rec.id}; /* what the outputs derive from */
    rill__reentry_err_t err;
    if (!rill__ctx_reenter(ctx, st->node, &at, res->out_cnt, slot_output, slot, &err))
        return 0;
    free(slot->error);
    slot->error = strdup(err.reason);
    rill__dlq_src_t src = {.topic = slot->rec.topic,
                           .partition = slot->rec.partition,
                           .offset = slot->rec.offset,
                           .key = slot->rec.key,
                           .key_len = slot->rec.key_len,
                           .value = slot->rec.value,
                           .value_len = slot->rec.value_len,
                           .timestamp = slot->rec.timestamp,
                           .headers = slot->hdrs};
    return rill__dlq_send_src(st->thread, &src, err.node, slot->error ? slot->error : err.reason,
                              slot->attempts);
}

static int release(rill__faas_stage_t *st, rill_ctx_t *ctx, rill__faas_slot_t *slot) {
    if (emit(st, ctx, slot))
        return -1;
    st->held_bytes -= slot_bytes(slot);
    rill__faas_slot_free(slot);
    slot->state = SLOT_RELEASED;
    st->live--;
    return 0;
}

static bool finished(const rill__faas_slot_t *slot) {
    return slot->state == SLOT_DONE || slot->state == SLOT_FAILED;
}

/* Key mode: a small open-addressing set of the key hashes blocked by an earlier slot. */
typedef struct rill__faas_keyset_s {
    uint64_t *v;
    size_t cap;
} rill__faas_keyset_t;

static bool keyset_test_add(rill__faas_keyset_t *ks, uint64_t h, bool add) {
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ULL) & (ks->cap - 1);
    h |= 1; /* 0 marks an empty cell */
    for (; ks->v[i]; i = (i + 1) & (ks->cap - 1))
        if (ks->v[i] == h)
            return true;
    if (add)
        ks->v[i] = h;
    return false;
}

/* The seqs that may be finished: what was sent (the read-ahead behind it never is). */
static uint64_t sent_end(const rill__faas_stage_t *st) {
    uint64_t end = st->sent_end < st->tail ? st->sent_end : st->tail;
    return end > st->head ? end : st->head;
}

static void release_by_key(rill__faas_stage_t *st, rill_ctx_t *ctx) {
    uint64_t end = sent_end(st);
    size_t cap = 64;
    while (cap < 2 * (end - st->head))
        cap <<= 1;
    if (st->key_cells_cap < cap) { /* grows with the window, then is reused */
        uint64_t *v = realloc(st->key_cells, cap * sizeof(uint64_t));
        if (!v) {
            rill__app_fatal(st->thread->app, RILL_ERR_NOMEM, "FaaS stage: out of memory");
            return;
        }
        st->key_cells = v;
        st->key_cells_cap = cap;
    }
    memset(st->key_cells, 0, cap * sizeof(uint64_t));
    rill__faas_keyset_t ks = {.v = st->key_cells, .cap = cap};
    for (uint64_t seq = st->head; seq < end; seq++) {
        rill__faas_slot_t *slot = slot_at(st, seq);
        if (slot->state == SLOT_RELEASED)
            continue;
        if (finished(slot) && !keyset_test_add(&ks, slot->key_hash, false)) {
            if (release(st, ctx, slot))
                break;
        } else
            keyset_test_add(&ks, slot->key_hash, true);
    }
}

void rill__faas_release(rill__faas_stage_t *st, rill_ctx_t *ctx) {
    if (!st->dirty)
        return;
    st->dirty = false;
    st->low_known = false;
    if (st->conf->o.order == RILL_FAAS_ORDER_KEY) {
        release_by_key(st, ctx);
    } else if (st->conf->o.order == RILL_FAAS_UNORDERED) {
        for (uint64_t seq = st->head, end = sent_end(st); seq < end; seq++)
            if (finished(slot_at(st, seq)) && release(st, ctx, slot_at(st, seq)))
                break;
    } else {
        for (uint64_t seq = st->head; seq < st->tail && finished(slot_at(st, seq)); seq++)
            if (release(st, ctx, slot_at(st, seq)))
                break;
    }
    while (st->head < st->tail && slot_at(st, st->head)->state == SLOT_RELEASED) {
        slot_at(st, st->head)->state = SLOT_FREE;
        st->head++;
    }
}

int64_t rill__faas_low_time(rill__faas_stage_t *st) {
    if (!st->low_known) {
        st->low_time = INT64_MAX;
        for (uint64_t seq = st->head; seq < st->tail; seq++) {
            const rill__faas_slot_t *slot = slot_at(st, seq);
            if (slot->state != SLOT_RELEASED && slot->state != SLOT_FREE &&
                slot->rec.timestamp < st->low_time)
                st->low_time = slot->rec.timestamp;
        }
        st->low_known = true;
    }
    return st->low_time;
}

int64_t rill__faas_low_watermark(rill__faas_stage_t *st, const char *topic, int32_t partition) {
    for (uint64_t seq = st->head; seq < st->tail; seq++) {
        const rill__faas_slot_t *slot = slot_at(st, seq);
        if (slot->state != SLOT_RELEASED && slot->rec.partition == partition &&
            !strcmp(slot->rec.topic, topic))
            return slot->rec.offset;
    }
    return -1;
}
