/*
 * task.c — a task: the unit of work for partition p of one sub-topology. It holds one queue
 * per input partition, hands out the queued record with the lowest timestamp, and runs it
 * through the sub-topology's nodes.
 *
 * DESIGN
 * Records are decoded (key and value serdes, timestamp extractor) when they are queued, so
 * that the queue can order by the extracted timestamp, as Kafka Streams does; a record that
 * fails to decode keeps its place and goes to the dead-letter topic when its turn comes, so
 * offsets are still processed in order (docs/DESIGN.md, invariant 1). Processing a record advances
 * the queue's next offset to commit; the task's stream time is the largest timestamp processed.
 * Operator state is created lazily, before the first record, on the owning thread.
 *
 * The test driver (test_driver.c) gives records without a consumed message:
 * rill__task_process_input() decodes one and runs it at once through the same steps
 * (process_entry), the context reading its position and headers from at_topic and the
 * rest, as for a record an async node releases.
 */
#include "engine_int.h"
#include "stores_int.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rill__task_t *rill__task_new(rill__thread_t *thread, int sub, int32_t partition) {
    rill_topology_t *topo = thread->app->topo;
    rill__task_t *task = calloc(1, sizeof(*task));
    if (!task)
        return NULL;
    task->state = calloc((size_t)topo->node_cnt, sizeof(void *));
    if (!task->state) {
        free(task);
        return NULL;
    }
    snprintf(task->id, sizeof(task->id), "%d_%d", sub, (int)partition);
    task->sub = sub;
    task->partition = partition;
    task->thread = thread;
    task->wm = task->stream_time = -1;
    task->safe_time = task->commit_time = task->wm_sent = -1;
    task->created_ms = rill__now_ms();
    task->ctx.task = task;
    if (rill__task_stores_init(task)) {
        free(task->state);
        free(task);
        return NULL;
    }
    return task;
}

rill__pq_t *rill__task_add_partition(rill__task_t *task, const char *topic, int32_t partition) {
    rill__node_t *source = rill__topology_source_for(task->thread->app->topo, topic);
    if (!source)
        return NULL;
    rill__pq_t *pqs = realloc(task->pqs, sizeof(*pqs) * (size_t)(task->pq_cnt + 1));
    if (!pqs)
        return NULL;
    task->pqs = pqs;
    rill__pq_t *pq = &pqs[task->pq_cnt++];
    memset(pq, 0, sizeof(*pq));
    for (int i = 0; i < source->source.topic_cnt; i++)
        if (!strcmp(source->source.topics[i], topic))
            pq->topic = source->source.topics[i];
    pq->partition = partition;
    pq->source = source;
    pq->next_offset = -1;
    pq->commit_offset = -1;
    if (rill__progress_pq_init(task, pq)) {
        task->pq_cnt--;
        return NULL;
    }
    return pq;
}

rill__pq_t *rill__task_find_pq(rill__task_t *task, const char *topic, int32_t partition) {
    for (int i = 0; i < task->pq_cnt; i++)
        if (task->pqs[i].partition == partition && !strcmp(task->pqs[i].topic, topic))
            return &task->pqs[i];
    return NULL;
}

static int pq_push(rill__pq_t *pq, const rill__entry_t *e) {
    if (pq->cnt == pq->cap) {
        size_t cap = pq->cap ? pq->cap * 2 : 256;
        rill__entry_t *ring = malloc(sizeof(*ring) * cap);
        if (!ring)
            return -1;
        for (size_t i = 0; i < pq->cnt; i++)
            ring[i] = pq->ring[(pq->head + i) % pq->cap];
        free(pq->ring);
        pq->ring = ring;
        pq->cap = cap;
        pq->head = 0;
    }
    pq->ring[(pq->head + pq->cnt++) % pq->cap] = *e;
    return 0;
}

static rill__entry_t *pq_peek(rill__pq_t *pq) {
    return pq->cnt ? &pq->ring[pq->head] : NULL;
}

static void pq_pop(rill__pq_t *pq) {
    pq->head = (pq->head + 1) % pq->cap;
    pq->cnt--;
}

static void entry_free(const rill__node_t *source, rill__entry_t *e) {
    const rill_serde_t *serde = source->source.opts.value_serde;
    if (e->value_obj && serde->free_obj)
        serde->free_obj(serde, e->value_obj);
    free(e->error);
    if (e->msg)
        rd_kafka_message_destroy(e->msg);
}

static char *decode_error(const char *what, const char *serde, const char *detail) {
    char buf[384];
    snprintf(buf, sizeof(buf), "%s could not be deserialized by the %s serde: %s", what, serde,
             detail);
    return strdup(buf);
}

/* A timestamp outside [0, RILL__TIME_MAX] (time_int.h): a record with it cannot take part in
 * stream time, windows or deadlines, so it goes to the dead-letter topic, naming it. */
static char *timestamp_error(int64_t ts, bool extracted) {
    char buf[256];
    snprintf(buf, sizeof(buf),
             "timestamp %" PRId64 " out of range: %s must be in [0, %" PRId64 "] ms", ts,
             extracted ? "the timestamp extractor's result" : "a record's timestamp",
             (int64_t)RILL__TIME_MAX);
    return strdup(buf);
}

/* What a consumed message holds, as an input; its timestamp only when decoding needs it
 * (headers are not read: the context reads them from the message). */
static rill__input_t msg_input(const rd_kafka_message_t *msg, bool with_ts) {
    return (rill__input_t){.key = msg->key,
                           .key_len = msg->key_len,
                           .value = msg->payload,
                           .value_len = msg->len,
                           .timestamp = with_ts ? rd_kafka_message_timestamp(msg, NULL) : -1,
                           .offset = msg->offset};
}

/* Decodes in into e: value object, timestamp; on failure e->error says why. */
static void decode(const rill__node_t *source, const rill__input_t *in, rill__entry_t *e) {
    const rill_source_opts_t *o = &source->source.opts;
    char err[256] = "";
    void *kobj = NULL;
    if (o->key_serde->deserialize && in->key &&
        o->key_serde->deserialize(o->key_serde, in->key, in->key_len, &kobj, err, sizeof(err))) {
        e->error = decode_error("key", o->key_serde->name, err);
        return;
    }
    if (kobj && o->key_serde->free_obj)
        o->key_serde->free_obj(o->key_serde, kobj);
    if (o->value_serde->deserialize && in->value &&
        o->value_serde->deserialize(o->value_serde, in->value, in->value_len, &e->value_obj, err,
                                    sizeof(err))) {
        e->error = decode_error("value", o->value_serde->name, err);
        return;
    }
    e->ts = in->timestamp;
    if (o->timestamp_extractor) {
        rill_record_t rec = {.key = in->key,
                             .key_len = in->key_len,
                             .value = in->value,
                             .value_len = in->value_len,
                             .value_obj = e->value_obj,
                             .value_serde = o->value_serde,
                             .timestamp = e->ts};
        e->ts = o->timestamp_extractor(&rec, o->timestamp_opaque);
    }
    if (e->ts < 0 || e->ts > RILL__TIME_MAX) {
        e->error = timestamp_error(e->ts, o->timestamp_extractor != NULL);
        e->ts = 0; /* queued as other failures: first, never holding its partition back */
    }
}

void rill__task_enqueue(rill__task_t *task, rill__pq_t *pq, rd_kafka_message_t *msg) {
    rill__entry_t e = {.msg = msg};
    if (pq->linked && rill__progress_is_marker(pq, msg))
        e.marker = true;
    else if (pq->check_cnt && rill__progress_check_partition(task, pq, msg))
        e.error = strdup("not partitioned as the topic it is joined with (partitioning.check)");
    else {
        rill__input_t in = msg_input(msg, true);
        decode(pq->source, &in, &e);
    }
    if (pq_push(pq, &e)) {
        rill__app_fatal(task->thread->app, RILL_ERR_NOMEM, "task %s: out of memory", task->id);
        entry_free(pq->source, &e);
    }
}

size_t rill__task_buffered(const rill__task_t *task) {
    size_t n = 0;
    for (int i = 0; i < task->pq_cnt; i++)
        n += task->pqs[i].cnt;
    return n;
}

static int task_init(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    if (rill__task_open_stores(task))
        return -1;
    free(task->async_ids);
    task->async_cnt = 0;
    task->async_ids = calloc((size_t)topo->node_cnt, sizeof(int));
    if (!task->async_ids)
        return -1;
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology != task->sub)
            continue;
        if (node->op->low_time)
            task->async_ids[task->async_cnt++] = i;
        if (node->op->poll)
            task->has_async = true;
        if (node->op->punctuate)
            task->has_punctuate = true;
        if (!node->op->init)
            continue;
        task->ctx.node = node;
        task->ctx.msg = NULL;
        if (node->op->init(&task->ctx, node, &task->state[i])) {
            rill__app_fatal(task->thread->app, RILL_ERR_PROCESSING,
                            "task %s: node \"%s\" failed to initialise%s%s", task->id, node->name,
                            task->ctx.error[0] ? ": " : "", task->ctx.error);
            return -1;
        }
    }
    task->initialized = true;
    task->ready_ms = rill__now_ms();
    rill__status_tasks(task->thread, task->thread->status.assigned);
    return 0;
}

/* Non-zero while an asynchronous node of the task holds as much as it may. */
static int backpressured(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    for (int i = 0; task->has_async && i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology == task->sub && node->op->backpressure &&
            node->op->backpressure(task->state[i]))
            return 1;
    }
    return 0;
}

int rill__task_blocked(rill__task_t *task) {
    return task->initialized && task->has_async && backpressured(task);
}

int rill__task_poll(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    int wait = INT32_MAX;
    for (int i = 0; task->initialized && task->has_async && i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology != task->sub || !node->op->poll)
            continue;
        task->ctx.node = node;
        task->ctx.msg = NULL;
        rill__ctx_origin_input(&task->ctx);
        int w = node->op->poll(&task->ctx, task->state[i]);
        if (w < 0)
            rill__app_fatal(task->thread->app, RILL_ERR_PROCESSING, "task %s: node \"%s\": %s",
                            task->id, node->name, task->ctx.error);
        else if (w < wait)
            wait = w;
    }
    return wait;
}

/* Non-zero while an asynchronous node holds a record, also one that holds back no offset
 * (derived from a punctuation): a commit under exactly-once and the end of --drain wait for
 * those too, or they would be lost when the process stops. */
static int async_holds(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    for (int i = 0; task->initialized && i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology == task->sub && node->op->holds && node->op->holds(task->state[i]))
            return 1;
    }
    return 0;
}

int rill__task_async_pending(rill__task_t *task) {
    for (int p = 0; p < task->pq_cnt; p++)
        if (rill__task_committable(task, &task->pqs[p]) != task->pqs[p].next_offset)
            return 1;
    return async_holds(task);
}

int64_t rill__task_committable(rill__task_t *task, const rill__pq_t *pq) {
    rill_topology_t *topo = task->thread->app->topo;
    int64_t off = pq->next_offset;
    for (int i = 0; task->initialized && task->has_async && i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology != task->sub || !node->op->low_watermark)
            continue;
        int64_t w = node->op->low_watermark(task->state[i], pq->topic, pq->partition);
        if (w >= 0 && (off < 0 || w < off))
            off = w;
    }
    return off;
}

/* The queue whose head has the lowest timestamp, or NULL when all are empty. */
/* How long a task waits, from when it is ready (stores restored), for an empty input
 * partition whose position is not known yet (nothing fetched since assignment) before it
 * processes the others. Kafka Streams waits while the lag is unknown; a bound keeps a
 * partition that never answers from stopping the task. */
#define STARTUP_IDLE_MS 5000

/*
 * True when the empty queue pq may still get a record that sorts before what the task has:
 * Kafka says there is more (its position, which librdkafka advances past transaction
 * markers, is below the high watermark — the last stable offset under read_committed), or,
 * just after assignment, nothing is known yet. This is Kafka Streams' rule for
 * max.task.idle.ms = 0: wait for data known to exist, never for data not yet produced.
 */
bool rill__pq_lagging(rill__task_t *task, rill__pq_t *pq) {
    rd_kafka_t *consumer = task->thread->consumer;
    int64_t lo = RD_KAFKA_OFFSET_INVALID, hi = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_get_watermark_offsets(consumer, pq->topic, pq->partition, &lo, &hi);
    rd_kafka_topic_partition_t tp = {
        .topic = (char *)pq->topic, .partition = pq->partition, .offset = RD_KAFKA_OFFSET_INVALID};
    rd_kafka_topic_partition_list_t one = {.cnt = 1, .size = 1, .elems = &tp};
    rd_kafka_position(consumer, &one);
    if (tp.offset >= 0 && hi >= 0)
        return tp.offset < hi;
    if (hi >= 0 && hi == lo)
        return false; /* an empty partition */
    return rill__now_ms() - task->ready_ms < STARTUP_IDLE_MS;
}

/*
 * max.task.idle.ms > 0: an empty queue not known to lag (its producer may simply be behind,
 * e.g. another stage of the same upstream task) is waited for that long from when it was
 * first found empty while others had records; then the task goes on without it until it
 * gets a record again. A partition at its end (--drain) is not waited for.
 */
static bool pq_idle_wait(rill__task_t *task, rill__pq_t *pq, int64_t *now) {
    int64_t idle = task->thread->app->set.max_task_idle_ms;
    if (idle <= 0 || pq->at_end)
        return false;
    if (!*now)
        *now = rill__now_ms();
    if (!pq->idle_since)
        pq->idle_since = *now;
    return *now - pq->idle_since < idle;
}

/* A task that has waited WAIT_REPORT_MS for one input says so once, naming the input and
 * why (what Kafka says of its position and end), so that a stalled pipeline can be read. */
#define WAIT_REPORT_MS 10000

static void report_wait(rill__task_t *task, rill__pq_t *pq) {
    int64_t now = rill__now_ms();
    if (!task->waiting_since) {
        task->waiting_since = now;
        return;
    }
    if (task->wait_logged || now - task->waiting_since < WAIT_REPORT_MS)
        return;
    task->wait_logged = true;
    rd_kafka_t *consumer = task->thread->consumer;
    int64_t lo = -1, hi = -1;
    rd_kafka_get_watermark_offsets(consumer, pq->topic, pq->partition, &lo, &hi);
    rd_kafka_topic_partition_t tp = {
        .topic = (char *)pq->topic, .partition = pq->partition, .offset = RD_KAFKA_OFFSET_INVALID};
    rd_kafka_topic_partition_list_t one = {.cnt = 1, .size = 1, .elems = &tp};
    rd_kafka_position(consumer, &one);
    rill__log(task->thread->app, task->thread->idx,
              "task %s has waited %lld s for %s[%d] "
              "(empty; position %lld, cached end %lld, paused %d) with %zu record(s) queued "
              "elsewhere",
              task->id, (long long)((now - task->waiting_since) / 1000), pq->topic,
              (int)pq->partition, (long long)tp.offset, (long long)hi, (int)pq->paused,
              rill__task_buffered(task));
}

/* The queue whose head has the lowest timestamp, or NULL when all are empty or when an
 * empty one is lagging or idle-waited for (then task->waiting is set). */
static rill__pq_t *next_pq(rill__task_t *task) {
    rill__pq_t *best = NULL;
    int empty = 0;
    for (int i = 0; i < task->pq_cnt; i++) {
        rill__entry_t *e = pq_peek(&task->pqs[i]);
        if (!e) {
            empty++;
            continue;
        }
        task->pqs[i].idle_since = 0;
        if (!best || e->ts < pq_peek(best)->ts)
            best = &task->pqs[i];
    }
    task->waiting = false;
    if (best && empty) {
        int64_t now = 0;
        for (int i = 0; i < task->pq_cnt; i++) {
            rill__pq_t *pq = &task->pqs[i];
            if (!pq->cnt && (rill__pq_lagging(task, pq) || pq_idle_wait(task, pq, &now))) {
                task->waiting = true;
                report_wait(task, pq);
                return NULL;
            }
        }
    }
    task->waiting_since = 0;
    task->wait_logged = false;
    return best;
}

/* Stream time advanced: runs the nodes' stream-time punctuators (window closing, ...). */
static void punctuate(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    const rd_kafka_message_t *msg = task->ctx.msg;
    task->ctx.msg = NULL; /* no current record during a punctuation */
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology != task->sub || !node->op->punctuate)
            continue;
        task->ctx.node = node;
        task->ctx.error[0] = '\0';
        rill__ctx_origin_punctuation(&task->ctx, -1, 's', task->stream_time);
        if (node->op->punctuate(&task->ctx, task->stream_time, task->state[i]))
            rill__log(task->thread->app, task->thread->idx,
                      "task %s: node \"%s\": "
                      "punctuation failed: %s",
                      task->id, node->name, task->ctx.error);
    }
    rill__ctx_origin_input(&task->ctx);
    task->ctx.msg = msg;
}

/* Stream time advanced: the operators' and the stream-time punctuators. */
static void punctuate_all(rill__task_t *task) {
    if (task->has_punctuate)
        punctuate(task);
    if (task->sched_cnt)
        rill__task_punctuate_stream(task);
}

void rill__task_advance(rill__task_t *task, int64_t t) {
    if (!task->initialized || t <= task->stream_time)
        return;
    task->stream_time = t;
    punctuate_all(task);
}

void rill__task_progress(rill__task_t *task) {
    if (task->initialized && rill__progress_update(task, true))
        punctuate_all(task);
    else if (!task->initialized)
        rill__progress_update(task, true);
    rill__progress_emit(task, false);
}

/* Sends the input record of e (from pq, whose bytes in holds) to the dead-letter topic. */
static int dead_letter(rill__task_t *task, const rill__pq_t *pq, const rill__entry_t *e,
                       const rill__input_t *in, const char *node, const char *reason) {
    if (e->msg)
        return rill__dlq_send(task->thread, e->msg, node, reason, 1);
    rill__dlq_src_t src = {.topic = pq->topic,
                           .partition = pq->partition,
                           .offset = in->offset,
                           .key = in->key,
                           .key_len = in->key_len,
                           .value = in->value,
                           .value_len = in->value_len,
                           .timestamp = in->timestamp,
                           .headers = in->headers};
    return rill__dlq_send_src(task->thread, &src, node, reason, 1);
}

/* Runs one record (e, whose bytes in holds) through the sub-topology. Returns 0, or -1 when
 * its failure could not be dead-lettered (errors.tolerance=none, or the producer failed):
 * the record then counts as not processed, so its offset is not committed. */
static int process_entry(rill__task_t *task, rill__pq_t *pq, rill__entry_t *e,
                         const rill__input_t *in) {
    rill__thread_t *thread = task->thread;
    rill_ctx_t *ctx = &task->ctx;
    ctx->node = pq->source;
    ctx->msg = e->msg;
    ctx->pq = pq;
    rill__ctx_origin_input(ctx);
    ctx->timestamp = e->ts;
    ctx->error[0] = '\0';
    rill__metric_add(&thread->metrics, RILL_M_PROCESSED, 1);
    if (e->error)
        return dead_letter(task, pq, e, in, pq->source->name, e->error);
    if (!pq->linked && e->ts > pq->part_time) {
        pq->part_time = e->ts;
        rill__progress_update(task, false);
    }
    rill_record_t rec = {.key = in->key,
                         .key_len = in->key_len,
                         .value = in->value,
                         .value_len = in->value_len,
                         .value_obj = e->value_obj,
                         .value_serde = pq->source->source.opts.value_serde,
                         .timestamp = e->ts,
                         .headers = rill_ctx_headers(ctx)};
    if (pq->source->op->process(ctx, &rec, task->state[pq->source->id]))
        return dead_letter(task, pq, e, in, ctx->node->name,
                           ctx->error[0] ? ctx->error : "processing failed");
    return 0;
}

/* Applies the progress markers at the heads of the queues (they follow every record written
 * before them); runs what closes when that moves stream time. */
static void apply_markers(rill__task_t *task) {
    bool applied = false;
    for (int i = 0; i < task->pq_cnt; i++) {
        rill__pq_t *pq = &task->pqs[i];
        rill__entry_t *e;
        while ((e = pq_peek(pq)) && e->marker) {
            rill__progress_apply(task, pq, e->msg);
            pq->next_offset = e->msg->offset + 1;
            entry_free(pq->source, e);
            pq_pop(pq);
            applied = true;
        }
    }
    if (applied && rill__progress_update(task, false))
        punctuate_all(task);
}

int rill__task_process(rill__task_t *task, int max) {
    if (!task->initialized && task_init(task))
        return 0;
    int n = 0;
    for (; n < max && !rill__app_stopping(task->thread->app); n++) {
        if (task->has_async && (n & 63) == 0 && backpressured(task))
            break;
        apply_markers(task);
        rill__pq_t *pq = next_pq(task);
        if (!pq)
            break;
        rill__entry_t e = *pq_peek(pq);
        rill__input_t in = msg_input(e.msg, false);
        int64_t before = task->stream_time;
        if (process_entry(task, pq, &e, &in))
            break; /* fatal: the record stays queued and uncommitted */
        if (task->stream_time > before)
            punctuate_all(task);
        pq_pop(pq);
        pq->next_offset = e.msg->offset + 1;
        entry_free(pq->source, &e);
    }
    task->ctx.msg = NULL;
    return n;
}

int rill__task_process_input(rill__task_t *task, rill__pq_t *pq, const rill__input_t *in) {
    if (!task->initialized && task_init(task))
        return -1;
    rill_ctx_t *ctx = &task->ctx;
    rill__entry_t e = {.msg = NULL};
    decode(pq->source, in, &e);
    /* No consumed message: the context reads the input's position and headers. */
    ctx->at_topic = pq->topic;
    ctx->at_partition = pq->partition;
    ctx->at_offset = in->offset;
    ctx->at_headers = in->headers;
    int64_t before = task->stream_time;
    int rc = process_entry(task, pq, &e, in);
    ctx->at_topic = NULL;
    ctx->at_headers = NULL;
    ctx->msg = NULL;
    if (!rc) {
        if (task->stream_time > before)
            punctuate_all(task);
        pq->next_offset = in->offset + 1;
    }
    entry_free(pq->source, &e);
    return rc;
}

int rill__task_flush(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    if (!task->initialized)
        return 0;
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology != task->sub || !node->op->commit)
            continue;
        task->ctx.node = node;
        rill__ctx_origin_input(&task->ctx);
        if (node->op->commit(&task->ctx, task->state[i]))
            return -1;
    }
    return 0;
}

static void drop_queued(rill__task_t *task) {
    for (int i = 0; i < task->pq_cnt; i++) {
        rill__pq_t *pq = &task->pqs[i];
        while (pq->cnt) {
            entry_free(pq->source, pq_peek(pq));
            pq_pop(pq);
        }
    }
}

static void close_nodes(rill__task_t *task) {
    rill__task_clear_schedules(task);
    rill_topology_t *topo = task->thread->app->topo;
    for (int i = 0; task->initialized && i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        if (node->subtopology == task->sub && node->op->close)
            node->op->close(node, task->state[i]);
        task->state[i] = NULL;
    }
    task->initialized = false;
}

void rill__task_rewind(rill__task_t *task) {
    drop_queued(task);
    close_nodes(task);
    rill__task_close_stores(task); /* reopened, and restored, before the next record */
    rill__status_tasks(task->thread, task->thread->status.assigned);
    for (int i = 0; i < task->pq_cnt; i++) {
        task->pqs[i].next_offset = -1;
        task->pqs[i].paused = task->pqs[i].full = task->pqs[i].ahead = false;
    }
    /* The records after the committed offsets come again, and so does their progress. */
    rill__progress_rewind(task);
}

void rill__task_destroy(rill__task_t *task) {
    if (!task)
        return;
    drop_queued(task);
    close_nodes(task);
    rill__task_stores_free(task);
    rill__progress_task_free(task);
    for (int i = 0; i < task->pq_cnt; i++)
        free(task->pqs[i].ring);
    free(task->pqs);
    free(task->state);
    free(task);
}
