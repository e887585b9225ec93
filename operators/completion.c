/*
 * completion.c — completion detection: per key, a state accumulated from an event stream
 * until the deadline an item stream gives the key, then one completion record (an auction
 * closing with its winner).
 *
 * DESIGN
 * Nodes. As a Kafka Streams join, the operator is one node per input ("<name>-items" under
 * the items, "<name>-events" under the events) sharing one key-value store, and a
 * pass-through node called name with both as parents, which is the stream handed back. So
 * the operator knows which input a record came from without looking at topics, and items and
 * events may come from one source. The items node owns the configuration and the metrics
 * and has the punctuate hook; both nodes complete due keys before they handle a record.
 *
 * State. Everything that must survive a crash or a move is in the store, under one-byte
 * prefixes (keys are the user's bytes; times are 8 bytes big-endian, so byte order is time
 * order and a time index is one range scan):
 *   'I' key                      → [deadline][item timestamp][item value]   an open item
 *   'S' key                      → state                                    its state
 *   'D' [deadline + grace] key   → 1                                        due index
 *   'H' [key length 4B] key [seq]→ [arrival][held record]                   held events
 *   'h' [arrival] [seq]          → [key length 4B] key                      hold index
 *   'C' key                      → [expiry]                                 completed marker
 *   'E' [expiry] key             → 1                                        marker expiry index
 *   'M'                          → [stream time][next seq][held count]      per-task meta
 * arrival is the operator's stream time when the event was held; seq orders held events. The
 * meta entry is read at the start of every call and written back when it changed, so the two
 * nodes never work on stale copies of it (reads hit the store's write cache). Memory holds
 * scratch space and, per task (the items node's state, which the events node uses too), the
 * stream time up to which due keys were looked for and, per time index, a bound below which
 * it has no live entry (scan_low).
 *
 * Time. Each call first advances the operator's stream time (the larger of the task's and the
 * stored one), then completes keys due by it (entries of 'D' up to it), dead-letters held
 * events older than hold_ms (of 'h') and forgets markers past retention (of 'E'). An index is
 * read only when stream time reaches its scan_low: then one range scan reads the due entries
 * and the first entry after them, whose time becomes the new scan_low, so an advance with
 * nothing due reads nothing, and one with something due reads only that (no tombstone of
 * what was handled before: they are all below scan_low). The due index is read further
 * ahead (fire_due): the next DUE_AHEAD entries stay in memory and serve the next completions
 * without a scan until a due entry is written below them. A write below scan_low lowers it;
 * a deletion leaves it as it is (a bound need not be exact). scan_low starts at 0 in a new
 * task state (start, move, rewind), so the first call derives it from the store.
 *
 * Writes. An item and its state are written as new to the store (rill__kv_put_new): an item
 * that opens and completes between two commits then costs no changelog record and no RocksDB
 * write. The item's key was just read absent; its state lives and dies with it, so a state
 * left over from a commit cut short under at_least_once (a partial changelog) is never read:
 * every item open writes it first. Due entries and held events are written as new only under
 * exactly_once_v2, where the store holds exactly what committed transactions wrote; under
 * at_least_once a commit cut short may leave them in the changelog, and a replay after the
 * restore writes the same keys again. Exactly one
 * completion per key follows from the item, state and due entries being deleted, and the
 * marker written, in the same store writes as the forward, which the engine commits with the
 * output (docs/DESIGN.md, invariant 4).
 */
#include "completion_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char meta_key[] = "M";

/* Due entries read beyond those due at a scan (fire_due). */
#define DUE_AHEAD 32

/* ---- meta: stream time, sequence, held count ---- */

static int load(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    if (!st->store) {
        if (!(st->store = rill__ctx_store(ctx, c->store))) {
            rill_ctx_set_error(ctx, "node \"%s\": store \"%s\" is not open", ctx->node->name,
                               c->store);
            return -1;
        }
        st->whole_commits =
            rill__ctx_thread(ctx)->app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2;
    }
    const void *v;
    size_t len;
    int rc = rill__kv_get(st->store, meta_key, 1, &v, &len);
    if (rc < 0 || (rc > 0 && len != 24))
        return store_failed(ctx, c, "reading the meta of");
    st->stream_time = -1;
    st->seq = st->held = 0;
    if (rc > 0) {
        st->stream_time = (int64_t)rill__be64_get(v);
        st->seq = (int64_t)rill__be64_get((const unsigned char *)v + 8);
        st->held = (int64_t)rill__be64_get((const unsigned char *)v + 16);
    }
    st->saved_time = st->stream_time;
    st->saved_seq = st->seq;
    st->saved_held = st->held;
    return 0;
}

static int save(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    if (st->stream_time == st->saved_time && st->seq == st->saved_seq && st->held == st->saved_held)
        return 0;
    unsigned char v[24];
    rill__be64_put(v, (uint64_t)st->stream_time);
    rill__be64_put(v + 8, (uint64_t)st->seq);
    rill__be64_put(v + 16, (uint64_t)st->held);
    if (rill__kv_put(st->store, meta_key, 1, v, sizeof(v)))
        return store_failed(ctx, c, "writing the meta of");
    st->saved_time = st->stream_time;
    st->saved_seq = st->seq;
    st->saved_held = st->held;
    return 0;
}

static void advance(rill_ctx_t *ctx, rill__cpl_state_t *st, int64_t t) {
    int64_t task_time = rill_ctx_stream_time(ctx);
    if (task_time > st->stream_time)
        st->stream_time = task_time;
    if (t > st->stream_time)
        st->stream_time = t;
}

/* ---- range scans into the list ---- */

typedef struct scan_arg_s {
    rill__cpl_list_t *list;
    size_t limit; /* entries to collect at most */
    int64_t upto; /* collect times below it; the first at or after it ends the scan */
    size_t ahead; /* ... unless ahead is not 0: then it collects that many more */
    int64_t next; /* that first time (INT64_MAX: none) */
} rill__scan_arg_t;

/* Keeps [time][rest] keys: time and rest (the key, or for 'h' the value). */
static int scan_time_key(const void *key, size_t key_len, const void *value, size_t value_len,
                         void *opaque) {
    rill__scan_arg_t *a = opaque;
    if (key_len < 1 + TIME_LEN)
        return 0;
    const unsigned char *k = key;
    int64_t t = (int64_t)rill__be64_get(k + 1);
    if (t >= a->upto) {
        if (!a->ahead) {
            a->next = t;
            return 1;
        }
        a->ahead--;
    }
    if (k[0] == 'h') { /* the hold index: the held event's 'H' key is built from its value */
        if (list_add(a->list, t, key, key_len) || list_add(a->list, t, value, value_len))
            return -1;
    } else if (list_add(a->list, t, k + 1 + TIME_LEN, key_len - 1 - TIME_LEN)) {
        return -1;
    }
    return --a->limit == 0; /* 1 stops the scan */
}

/* Collects the entries of the index prefix with time in [0, upto), at most limit (0: all),
 * into st->list (for the hold index, two per entry: its key and its value). Nothing is read
 * unless an entry may be due: upto above scan_low. A full scan reads on to the first entry at
 * or after upto, which becomes scan_low. */
int rill__cpl_scan_index(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         char prefix, int64_t upto, size_t limit) {
    unsigned char lo[1 + TIME_LEN], hi[1];
    list_reset(&st->list);
    if (upto <= 0)
        return 0;
    int slot = scan_slot(prefix);
    int64_t from = slot >= 0 ? st->scan_low[slot] : 0;
    if (upto <= from)
        return 0;
    lo[0] = (unsigned char)prefix;
    hi[0] = (unsigned char)(prefix + 1);
    rill__be64_put(lo + 1, (uint64_t)from);
    rill__scan_arg_t a = {
        .list = &st->list, .limit = limit ? limit : SIZE_MAX, .upto = upto, .next = INT64_MAX};
    if (rill__kv_range(st->store, lo, sizeof(lo), hi, sizeof(hi), scan_time_key, &a) < 0 ||
        st->list.failed)
        return store_failed(ctx, c, "scanning");
    if (!limit && slot >= 0)
        st->scan_low[slot] = a.next; /* the caller handles every entry collected */
    return 0;
}

/* ---- dead letters ---- */

static int dead_letter(rill_ctx_t *ctx, const rill_record_t *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dead_letter(rill_ctx_t *ctx, const rill_record_t *rec, const char *fmt, ...) {
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return rill__agg_dead_letter(ctx, rec, "%s", why);
}

/* ---- items: open, complete ---- */

/* Reads key's open item into st->val: returns 1 (deadline, timestamp, value set), 0, -1. */
static int item_get(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                    const void *key, size_t key_len, int64_t *deadline, rill_record_t *item) {
    const void *v;
    size_t len;
    if (make_key(&st->key, 'I', -1, key, key_len))
        return store_failed(ctx, c, "reading");
    int rc = rill__kv_get(st->store, st->key.data, st->key.len, &v, &len);
    if (rc < 0 || (rc > 0 && len < 16))
        return store_failed(ctx, c, "reading");
    if (rc == 0)
        return 0;
    rill_buf_reset(&st->val);
    if (rill_buf_append(&st->val, v, len))
        return store_failed(ctx, c, "reading");
    const unsigned char *p = (const unsigned char *)st->val.data;
    *deadline = (int64_t)rill__be64_get(p);
    *item = (rill_record_t){.key = key,
                            .key_len = key_len,
                            .value = p + 16,
                            .value_len = len - 16,
                            .timestamp = (int64_t)rill__be64_get(p + 8)};
    return 1;
}

/* Reads key's state into st->state. Returns 0 or -1. */
static int state_get(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                     const void *key, size_t key_len) {
    const void *v;
    size_t len;
    if (make_key(&st->key, 'S', -1, key, key_len))
        return store_failed(ctx, c, "reading");
    int rc = rill__kv_get(st->store, st->key.data, st->key.len, &v, &len);
    if (rc < 0)
        return store_failed(ctx, c, "reading");
    rill_buf_reset(&st->state);
    if (rc > 0 && len && rill_buf_append(&st->state, v, len))
        return store_failed(ctx, c, "reading");
    return 0;
}

/* 1 when key has completed and is still remembered, 0 when not, -1 on error. */
static int is_completed(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                        const void *key, size_t key_len) {
    const void *v;
    size_t len;
    if (make_key(&st->key, 'C', -1, key, key_len))
        return store_failed(ctx, c, "reading");
    int rc = rill__kv_get(st->store, st->key.data, st->key.len, &v, &len);
    return rc < 0 ? store_failed(ctx, c, "reading") : rc;
}

/* Calls accumulate for event over key's state (st->state) and writes the new state. */
int rill__cpl_accumulate(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                         const rill_record_t *item, const rill_record_t *event,
                         const rill__dlq_src_t *held, const rill__trace_t *trace) {
    rill_buf_reset(&st->out);
    ctx->error[0] = '\0';
    int rc = c->accumulate(item, event, st->state.data ? st->state.data : "", st->state.len,
                           &st->out, c->opaque);
    if (rc == 1) {
        rill__counter_add(&c->ignored, 1);
        return 0;
    }
    if (rc && rc != RILL_COMPLETION_LEADS) {
        char why[320];
        snprintf(why, sizeof(why), "accumulate failed: %s",
                 ctx->error[0] ? ctx->error : "the callback returned an error");
        if (held)
            return rill__dlq_send_src(rill__ctx_thread(ctx), held, ctx->node->name, why, 1) ? -1
                                                                                            : 0;
        return dead_letter(ctx, event, "%s", why);
    }
    rill_buf_t swap = st->state;
    st->state = st->out;
    st->out = swap;
    if (make_key(&st->key, 'S', -1, event->key, event->key_len))
        return store_failed(ctx, c, "writing");
    if (put(ctx, c, st, &st->key, st->state.len ? st->state.data : "", st->state.len))
        return -1;
    if (rc != RILL_COMPLETION_LEADS || !rill__lineage_on(ctx))
        return 0;
    return rill__cpl_trace_keep(ctx, c, st, 'W', event->key, event->key_len,
                                trace ? trace : rill__ctx_trace(ctx));
}

/* Forwards complete()'s value (st->out) for key; with lineage.enable, with the trace of the
 * inputs it derives from (completion_trace.c), then forgets that trace. */
static int forward_completion(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                              const void *key, size_t key_len, int64_t deadline) {
    rill_record_t out = {.key = key,
                         .key_len = key_len,
                         .value = st->out.len ? st->out.data : "",
                         .value_len = st->out.len,
                         .value_serde = rill_serde_bytes(),
                         .timestamp = deadline};
    const rill__trace_t *saved = ctx->trace_over;
    int traced = rill__lineage_on(ctx) ? rill__cpl_trace_load(ctx, c, st, key, key_len) : 0;
    if (traced < 0)
        return -1;
    if (traced)
        ctx->trace_over = &st->trace;
    int rc = rill_ctx_forward(ctx, &out);
    ctx->trace_over = saved;
    if (rc || (traced && rill__cpl_trace_drop(ctx, c, st, key, key_len)))
        return -1;
    rill__counter_add(&c->completed, 1);
    return 0;
}

/* Completes key (due at fire): forwards complete()'s value, clears the key, marks it. */
static int complete_key(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                        const void *key, size_t key_len, int64_t fire) {
    int64_t deadline;
    rill_record_t item;
    int rc = item_get(ctx, c, st, key, key_len, &deadline, &item);
    if (rc < 0)
        return -1;
    if (rc == 0) { /* an index entry without its item: nothing to complete, drop it */
        if (make_key(&st->key, 'D', fire, key, key_len))
            return store_failed(ctx, c, "writing");
        return put(ctx, c, st, &st->key, NULL, 0);
    }
    if (state_get(ctx, c, st, key, key_len))
        return -1;
    rill_buf_reset(&st->out);
    ctx->error[0] = '\0';
    if (c->complete(&item, st->state.len ? st->state.data : "", st->state.len, &st->out,
                    c->opaque)) {
        rill__dlq_src_t src = {.topic = "",
                               .partition = rill_ctx_partition(ctx),
                               .offset = -1,
                               .key = key,
                               .key_len = key_len,
                               .value = item.value,
                               .value_len = item.value_len,
                               .timestamp = item.timestamp};
        char why[320];
        snprintf(why, sizeof(why), "complete failed: %s",
                 ctx->error[0] ? ctx->error : "the callback returned an error");
        rill__counter_add(&c->failed, 1);
        if (rill__dlq_send_src(rill__ctx_thread(ctx), &src, ctx->node->name, why, 1))
            return -1;
    } else if (forward_completion(ctx, c, st, key, key_len, deadline)) {
        return -1;
    }
    int64_t expiry = add_sat(st->stream_time, c->spec.retention_ms);
    unsigned char be[8], one = 1;
    rill__be64_put(be, (uint64_t)expiry);
    if (make_key(&st->key, 'I', -1, key, key_len) || put(ctx, c, st, &st->key, NULL, 0) ||
        make_key(&st->key, 'S', -1, key, key_len) || put(ctx, c, st, &st->key, NULL, 0) ||
        make_key(&st->key, 'D', fire, key, key_len) || put(ctx, c, st, &st->key, NULL, 0) ||
        make_key(&st->key, 'C', -1, key, key_len) || put(ctx, c, st, &st->key, be, 8) ||
        make_key(&st->key, 'E', expiry, key, key_len) || put(ctx, c, st, &st->key, &one, 1))
        return ctx->error[0] ? -1 : store_failed(ctx, c, "writing");
    return 0;
}

/* Reads the due index from scan_low on into st->ahead: every entry due below upto, then
 * DUE_AHEAD more, so that the next completions need no scan. ahead_until becomes the time of
 * the first entry not read (INT64_MAX: none); read entries at that time are left out, so
 * that the list holds every entry below ahead_until. Returns 0 or -1. */
static int due_read(rill_ctx_t *ctx, const rill__cpl_conf_t *c, rill__cpl_state_t *st,
                    int64_t upto) {
    unsigned char lo[1 + TIME_LEN], hi[1] = {'D' + 1};
    list_reset(&st->ahead);
    st->ahead_next = 0;
    st->ahead_until = 0;
    lo[0] = 'D';
    rill__be64_put(lo + 1, (uint64_t)st->scan_low[scan_slot('D')]);
    rill__scan_arg_t a = {
        .list = &st->ahead, .limit = SIZE_MAX, .upto = upto, .ahead = DUE_AHEAD, .next = INT64_MAX};
    if (rill__kv_range(st->store, lo, sizeof(lo), hi, sizeof(hi), scan_time_key, &a) < 0 ||
        st->ahead.failed)
        return store_failed(ctx, c, "scanning");
    while (st->ahead.cnt && st->ahead.v[st->ahead.cnt - 1].time >= a.next)
        st->ahead.cnt--;
    st->ahead_until = a.next;
    return 0;
}

/* Completes every key due by stream time, in order of due time then key. The due entries
 * come from st->ahead, read again only when stream time passes what it holds or a due entry
 * was written below its end (lower_scan); the entries read ahead are the next ones due, so
 * one read serves many completions. Entries are deleted only by complete_key, which takes
 * them from the list, so the list holds no entry that is gone. */
static int fire_due(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    if (st->stream_time < 0 || st->stream_time <= st->checked)
        return 0;
    int64_t upto = add_sat(st->stream_time, 1);
    st->checked = st->stream_time;
    int slot = scan_slot('D');
    if (upto <= st->scan_low[slot])
        return 0;
    if (upto > st->ahead_until && due_read(ctx, c, st, upto))
        return -1;
    /* The list's arena may move while complete_key runs (it does not add to the list). */
    while (st->ahead_next < st->ahead.cnt && st->ahead.v[st->ahead_next].time < upto) {
        size_t i = st->ahead_next++;
        if (complete_key(ctx, c, st, list_at(&st->ahead, i), st->ahead.v[i].len,
                         st->ahead.v[i].time))
            return -1;
    }
    st->scan_low[slot] =
        st->ahead_next < st->ahead.cnt ? st->ahead.v[st->ahead_next].time : st->ahead_until;
    return 0;
}

/* ---- expiry of completed markers ---- */

static int expire_markers(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    if (rill__cpl_scan_index(ctx, c, st, 'E', add_sat(st->stream_time, 1), 0))
        return -1;
    for (size_t i = 0; i < st->list.cnt; i++) {
        const void *k = list_at(&st->list, i);
        size_t len = st->list.v[i].len;
        if (make_key(&st->key, 'C', -1, k, len) || put(ctx, c, st, &st->key, NULL, 0) ||
            make_key(&st->key, 'E', st->list.v[i].time, k, len) ||
            put(ctx, c, st, &st->key, NULL, 0))
            return -1;
    }
    return 0;
}

/* ---- the two nodes ---- */

/* The time-driven part of every call: completions, held events, markers. */
static int on_time(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st) {
    int64_t checked = st->checked;
    if (fire_due(ctx, c, st))
        return -1;
    if (st->stream_time <= checked)
        return 0;
    return rill__cpl_expire_held(ctx, c, st) || expire_markers(ctx, c, st) ? -1 : 0;
}

/* Checks what items and events share; returns 1 when rec was dead-lettered. */
static int reject(rill_ctx_t *ctx, const rill_record_t *rec, const char *what, int *rcp) {
    const char *why = !rec->key                          ? "null key"
                      : (!rec->value && !rec->value_obj) ? "null value"
                      : rec->timestamp < 0               ? "negative timestamp"
                                                         : NULL;
    if (!why)
        return 0;
    *rcp = dead_letter(ctx, rec,
                       "%s: %s of completion node \"%s\" needs a key, a value and "
                       "a timestamp >= 0",
                       why, what, ctx->node->name);
    return 1;
}

static int item_open(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                     const rill_record_t *rec) {
    int64_t deadline = c->deadline(rec, c->opaque), old;
    rill_record_t open;
    if (deadline < 0)
        return dead_letter(ctx, rec,
                           "no deadline: the deadline callback of completion \"%s\" "
                           "rejected the item",
                           ctx->node->name);
    int rc = is_completed(ctx, c, st, rec->key, rec->key_len);
    if (rc)
        return rc < 0 ? -1
                      : (rill__counter_add(&c->late, 1),
                         dead_letter(ctx, rec,
                                     "late: item of a key that completed (stream "
                                     "time %" PRId64 ")",
                                     st->stream_time));
    if ((rc = item_get(ctx, c, st, rec->key, rec->key_len, &old, &open)))
        return rc < 0 ? -1
                      : dead_letter(ctx, rec,
                                    "duplicate: an item of this key is open (deadline "
                                    "%" PRId64 ")",
                                    old);
    const void *value;
    size_t value_len;
    if (value_bytes(rec, &st->tmp, &value, &value_len))
        return dead_letter(ctx, rec, "serde: completion \"%s\" cannot encode the item's value",
                           ctx->node->name);
    rill_buf_reset(&st->state);
    ctx->error[0] = '\0';
    if (c->init(rec, &st->state, c->opaque))
        return dead_letter(ctx, rec, "init failed: %s",
                           ctx->error[0] ? ctx->error : "the callback returned an error");
    int64_t fire = add_sat(deadline, c->spec.grace_ms);
    unsigned char one = 1;
    rill_buf_reset(&st->val);
    /* The item and its state are new (item_get found none, and a state lives only with its
     * item): an item that completes before the next commit costs no changelog record. */
    if (put_time(&st->val, deadline) || put_time(&st->val, rec->timestamp) ||
        (value_len && rill_buf_append(&st->val, value, value_len)) ||
        make_key(&st->key, 'I', -1, rec->key, rec->key_len) ||
        put_new(ctx, c, st, &st->key, st->val.data, st->val.len) ||
        make_key(&st->key, 'S', -1, rec->key, rec->key_len) ||
        put_new(ctx, c, st, &st->key, st->state.len ? st->state.data : "", st->state.len) ||
        make_key(&st->key, 'D', fire, rec->key, rec->key_len) ||
        (st->whole_commits ? put_new : put)(ctx, c, st, &st->key, &one, 1))
        return ctx->error[0] ? -1 : store_failed(ctx, c, "writing");
    if (rill__cpl_trace_keep(ctx, c, st, 'T', rec->key, rec->key_len, rill__ctx_trace(ctx)))
        return -1;
    rill_record_t item = {.key = rec->key,
                          .key_len = rec->key_len,
                          .value = value,
                          .value_len = value_len,
                          .timestamp = rec->timestamp};
    if (rill__cpl_release_held(ctx, c, st, rec->key, rec->key_len, &item))
        return -1;
    if (fire <= st->stream_time) {
        st->checked = -1; /* due on arrival */
        return fire_due(ctx, c, st);
    }
    return 0;
}

static int event_take(rill_ctx_t *ctx, rill__cpl_conf_t *c, rill__cpl_state_t *st,
                      const rill_record_t *rec) {
    int64_t deadline;
    rill_record_t item;
    int rc = item_get(ctx, c, st, rec->key, rec->key_len, &deadline, &item);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return state_get(ctx, c, st, rec->key, rec->key_len) ||
                       rill__cpl_accumulate(ctx, c, st, &item, rec, NULL, NULL)
                   ? -1
                   : 0;
    if ((rc = is_completed(ctx, c, st, rec->key, rec->key_len)))
        return rc < 0 ? -1
                      : (rill__counter_add(&c->late, 1),
                         dead_letter(ctx, rec,
                                     "late: event at %" PRId64 " for a key that "
                                     "completed (stream time %" PRId64 ")",
                                     rec->timestamp, st->stream_time));
    const void *value;
    size_t value_len;
    if (value_bytes(rec, &st->tmp, &value, &value_len))
        return dead_letter(ctx, rec, "serde: completion \"%s\" cannot encode the event's value",
                           ctx->node->name);
    if (value == st->tmp.data) { /* hold() uses st->tmp */
        rill_buf_t copy = st->tmp;
        st->tmp = (rill_buf_t){0};
        rc = rill__cpl_hold(ctx, c, st, rec, copy.data, copy.len);
        rill_buf_free(&copy);
        return rc;
    }
    return rill__cpl_hold(ctx, c, st, rec, value, value_len);
}

static int cpl_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__cpl_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->checked = -1;
    *statep = st;
    return 0;
}

static void cpl_close(const rill__node_t *node, void *state) {
    rill__cpl_state_t *st = state;
    if (!st)
        return;
    rill_buf_free(&st->key);
    rill_buf_free(&st->val);
    rill_buf_free(&st->state);
    rill_buf_free(&st->out);
    rill_buf_free(&st->tmp);
    rill_buf_free(&st->tkey);
    free(st->list.v);
    rill_buf_free(&st->list.arena);
    free(st->ahead.v);
    rill_buf_free(&st->ahead.arena);
    rill__cpl_held_free(st);
    free(st);
}

static int process(rill_ctx_t *ctx, const rill_record_t *rec, void *state, int is_item) {
    rill__cpl_conf_t *c = ctx->node->conf;
    rill__cpl_state_t *st = state;
    int rc = 0;
    if (reject(ctx, rec, is_item ? "an item" : "an event", &rc))
        return rc;
    if (load(ctx, c, st))
        return -1;
    advance(ctx, st, -1); /* the task's progress, not this record's time (progress.c) */
    if (on_time(ctx, c, st))
        return -1;
    rc = is_item ? item_open(ctx, c, st, rec) : event_take(ctx, c, st, rec);
    return rc || save(ctx, c, st) ? -1 : 0;
}

static int items_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return process(ctx, rec, state, 1);
}

/* The events node works on the items node's state: the in-memory bounds of the time
 * indexes must see what either node writes. */
static int events_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill__cpl_conf_t *c = ctx->node->conf;
    void *shared = rill__ctx_node_state(ctx, c->items_id);
    if (!shared) {
        rill_ctx_set_error(ctx, "node \"%s\": the items node is not initialised", ctx->node->name);
        return -1;
    }
    return process(ctx, rec, shared, 0);
}

/* Stream time advanced (maybe by a record that did not reach this operator). */
static int cpl_punctuate(rill_ctx_t *ctx, int64_t stream_time, void *state) {
    rill__cpl_conf_t *c = ctx->node->conf;
    rill__cpl_state_t *st = state;
    if (load(ctx, c, st))
        return -1;
    advance(ctx, st, stream_time);
    return on_time(ctx, c, st) || save(ctx, c, st) ? -1 : 0;
}

static const rill__mfamily_t metric_families[] = {
    {"rill_completions_total", RILL__COUNTER, "Items whose completion was emitted."},
    {"rill_completion_ignored_total", RILL__COUNTER, "Events the completion ignored."},
    {"rill_completion_held_total", RILL__COUNTER, "Events held until their item came."},
    {"rill_completion_unmatched_total", RILL__COUNTER,
     "Held events whose item never came in time."},
    {"rill_late_records_total", RILL__COUNTER,
     "Records dropped because they came later than the grace of their window or join."},
    {"rill_completion_failed_total", RILL__COUNTER, "Items whose completion failed."},
};
#define METRIC_CNT (sizeof(metric_families) / sizeof(metric_families[0]))

static int64_t *metric_slot(const rill__cpl_conf_t *c, size_t i) {
    int64_t *v[] = {(int64_t *)&c->completed, (int64_t *)&c->ignored, (int64_t *)&c->held,
                    (int64_t *)&c->unmatched, (int64_t *)&c->late,    (int64_t *)&c->failed};
    return v[i];
}

static void cpl_metrics(const rill__node_t *node, rill__mout_t *mo) {
    const rill__cpl_conf_t *c = node->conf;
    for (size_t i = 0; i < METRIC_CNT; i++)
        rill__mout_sample(mo, &metric_families[i], NULL, (const char *[]){"node", node->name, NULL},
                          __atomic_load_n(metric_slot(c, i), __ATOMIC_RELAXED));
}

static int64_t cpl_metric(const rill__node_t *node, const char *name) {
    for (size_t i = 0; i < METRIC_CNT; i++)
        if (!strcmp(name, metric_families[i].name))
            return __atomic_load_n(metric_slot(node->conf, i), __ATOMIC_RELAXED);
    return -1;
}

static void cpl_free_conf(void *conf) {
    rill__cpl_conf_t *c = conf;
    if (c)
        free(c->store);
    free(c);
}

/* The items node owns the configuration; the events node borrows it. */
static const rill__operator_t items_op = {
    .kind = "COMPLETE-ITEMS",
    .copartitioned = true,
    .init = cpl_init,
    .process = items_process,
    .punctuate = cpl_punctuate,
    .close = cpl_close,
    .free_conf = cpl_free_conf,
    .metrics = cpl_metrics,
    .metric = cpl_metric,
};

static const rill__operator_t events_op = {
    .kind = "COMPLETE-EVENTS",
    .copartitioned = true,
    .process = events_process,
};

static int pass_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill__operator_t merge_op = {.kind = "COMPLETE", .process = pass_process};

/* ---- builder ---- */

static int check_args(rill_stream_t *items, rill_stream_t *events,
                      const rill_completion_spec_t *spec, int have_fns) {
    rill_topology_t *topo = items->topo;
    const char *why = NULL;
    if (items->topo != events->topo)
        why = "items and events are streams of two different topologies";
    else if (!spec)
        why = "a spec is needed";
    else if (spec->grace_ms < 0 || spec->hold_ms < 0 || spec->max_held < 0 ||
             spec->retention_ms < 0)
        why = "grace_ms, hold_ms, max_held and retention_ms must be >= 0";
    else if (!have_fns)
        why = "the deadline, init, accumulate and complete callbacks are all needed";
    if (why)
        rill__topology_fail(topo, "completion: %s", why);
    return why ? -1 : 0;
}

rill_stream_t *rill_stream_complete(rill_stream_t *items, rill_stream_t *events, const char *name,
                                    const rill_completion_spec_t *spec, rill_deadline_cb deadline,
                                    rill_completion_init_cb init,
                                    rill_completion_accumulate_cb accumulate,
                                    rill_completion_complete_cb complete, void *opaque) {
    if (!items || !events || items->topo->error)
        return NULL;
    rill_topology_t *topo = items->topo;
    if (check_args(items, events, spec, deadline && init && accumulate && complete))
        return NULL;
    char base[200], buf[260];
    if (name && !*name) {
        rill__topology_fail(topo, "completion: a node name must not be empty (pass NULL for a "
                                  "generated one)");
        return NULL;
    }
    snprintf(base, sizeof(base), "%s", name ? name : "");
    if (!name)
        snprintf(base, sizeof(base), "KSTREAM-COMPLETE-%010d", topo->node_cnt);
    rill__cpl_conf_t *c = calloc(1, sizeof(*c));
    snprintf(buf, sizeof(buf), "%s-store", base);
    if (!c || !(c->store = strdup(buf))) {
        free(c);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    c->spec = *spec;
    if (!c->spec.max_held)
        c->spec.max_held = DEFAULT_MAX_HELD;
    if (!c->spec.retention_ms)
        c->spec.retention_ms = DEFAULT_RETENTION_MS;
    c->deadline = deadline;
    c->init = init;
    c->accumulate = accumulate;
    c->complete = complete;
    c->opaque = opaque;
    if (rill__store_claim(topo, c->store, RILL__CLAIM_OWN)) {
        cpl_free_conf(c);
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%s-items", base);
    rill_stream_t *a = rill__topology_add(topo, items, buf, &items_op, c, opaque);
    if (!a)
        return NULL;
    c->items_id = a->node->id;
    snprintf(buf, sizeof(buf), "%s-events", base);
    rill_stream_t *b = rill__topology_add(topo, events, buf, &events_op, c, opaque);
    if (!b || !rill__topology_add_store(topo, a->node, c->store, RILL_STORE_KV, 0, 0) ||
        !rill__topology_add_store(topo, b->node, c->store, RILL_STORE_KV, 0, 0))
        return NULL;
    rill_stream_t *m = rill__topology_add(topo, a, base, &merge_op, NULL, NULL);
    if (!m || rill__topology_connect(topo, b->node, m->node))
        return NULL;
    return m;
}
