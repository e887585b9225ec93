/*
 * progress.c — event-time progress: how far each task has come, so that a record is judged
 * late only against its own input's event time, never because another task, partition,
 * function stage or process ran ahead (docs/DESIGN.md, "Time").
 *
 * DESIGN
 * A task's progress (task->wm) is the lowest progress of its inputs that may still bring
 * records, held at the oldest timestamp that one of its async nodes (FaaS stages) holds:
 *  - a partition of a topic that other clients write: the largest timestamp processed from
 *    it (Kafka Streams' partition time); left out while it is idle (at its end under --drain,
 *    or empty for source.idle.timeout.ms with the consumer's position at the partition's
 *    end: Flink's idleness);
 *  - a partition of a linked topic, one the topology writes itself (repartition topics, or
 *    a sink topic that another sub-topology reads): the lowest progress that the upstream
 *    tasks writing it reported. Each upstream task writes a progress marker (a record with
 *    a null key, a null value and the header rill.progress) into every partition of the
 *    linked topics it writes, when its progress changed and progress.interval.ms passed. A
 *    marker is applied when the reader's queue reaches it, so it never overtakes a record
 *    written before it. An upstream task that is idle (its inputs idle, nothing held) says
 *    so and is left out until it is active again; one not heard from yet counts at the
 *    progress committed last (pq->floor), or holds everything at -1 on a first run.
 * When every input is idle, progress is the largest of theirs (nothing more is known to
 * come). Progress never goes back; it is stored with each commit (rill.t=) and read back
 * as every queue's floor when the task starts again.
 *
 * Alignment: a stream thread pauses a source partition whose progress runs more than
 * event.time.alignment.ms ahead of the slowest active source partition of the same
 * sub-topology in the thread, and resumes it when the others catch up.
 *
 * Partitioning check: a sub-topology that joins a linked topic with a topic other clients
 * write needs that topic partitioned as Rill partitions (murmur2 of the key); each record's
 * key is hashed on arrival and a record in another partition stops the app, naming it.
 *
 * Threads: everything here runs on the task's stream thread, except setup (at start).
 */
#include "admin_int.h"
#include "endian_int.h"
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one upstream task last said of its progress. */
typedef struct rill__up_s {
    int64_t wm;
    bool heard;
    bool idle;
} rill__up_t;

/* A linked topic: written by the sub-topologies writers[], read by the topology. */
typedef struct rill__link_s {
    const char *topic; /* borrowed from the topology */
    int32_t partitions;
    int writers[8];
    int writer_cnt;
    int up_cnt; /* the upstream tasks: the writers' task counts added up */
} rill__link_t;

/* The topic handle of a linked topic that a task writes markers into. */
typedef struct rill__link_out_s {
    const rill__link_t *link;
    rd_kafka_topic_t *rkt;
} rill__link_out_t;

typedef struct rill__progress_s {
    rill__link_t *links;
    int link_cnt;
    int *sub_tasks;   /* per sub-topology: its task count */
    bool *sub_writes; /* per sub-topology: it writes a linked topic */
    bool *sub_checks; /* per sub-topology: its external sources are checked */
} rill__progress_t;

/* Marker layout (big-endian): sub-topology, task partition, the sub-topology's task count,
 * flags, progress. */
#define MARKER_LEN 24
#define MARKER_IDLE 1u

/* ---- setup ---- */

static rill__link_t *link_find(const rill__progress_t *pr, const char *topic) {
    for (int i = 0; pr && i < pr->link_cnt; i++)
        if (!strcmp(pr->links[i].topic, topic))
            return &pr->links[i];
    return NULL;
}

static rill_err_t add_writer(rill_app_t *app, rill__progress_t *pr, const rill__node_t *sink,
                             char *errstr, size_t errstr_size) {
    rill__link_t *link = link_find(pr, sink->sink.topic);
    if (!link) {
        link = &pr->links[pr->link_cnt++];
        link->topic = sink->sink.topic;
        link->partitions = rill__app_partition_count(app, link->topic, errstr, errstr_size);
        if (link->partitions <= 0) {
            snprintf(errstr, errstr_size, "linked topic \"%s\" has no partitions", link->topic);
            return RILL_ERR_TOPOLOGY;
        }
    }
    for (int w = 0; w < link->writer_cnt; w++)
        if (link->writers[w] == sink->subtopology)
            return RILL_OK;
    if (link->writer_cnt == (int)(sizeof(link->writers) / sizeof(link->writers[0]))) {
        snprintf(errstr, errstr_size, "topic \"%s\" is written by too many sub-topologies",
                 link->topic);
        return RILL_ERR_TOPOLOGY;
    }
    link->writers[link->writer_cnt++] = sink->subtopology;
    link->up_cnt += pr->sub_tasks[sink->subtopology];
    pr->sub_writes[sink->subtopology] = true;
    return RILL_OK;
}

static rill_err_t find_links(rill_app_t *app, rill__progress_t *pr, char *errstr,
                             size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *n = topo->nodes[i];
        if (n->kind != RILL_NODE_SINK || !rill__topology_source_for(topo, n->sink.topic))
            continue;
        rill_err_t err = add_writer(app, pr, n, errstr, errstr_size);
        if (err)
            return err;
    }
    for (int s = 0; s < topo->sub_cnt; s++) {
        const rill__subtopology_t *sub = &topo->subs[s];
        bool linked = false, external = false;
        for (int t = 0; t < sub->topic_cnt; t++) {
            if (link_find(pr, sub->topics[t]))
                linked = true;
            else
                external = true;
        }
        pr->sub_checks[s] = sub->copartitioned && linked && external && app->set.partitioning_check;
    }
    return RILL_OK;
}

rill_err_t rill__progress_setup(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    rill__progress_t *pr = calloc(1, sizeof(*pr));
    if (!pr || !(pr->links = calloc((size_t)topo->node_cnt + 1, sizeof(*pr->links))) ||
        !(pr->sub_tasks = calloc((size_t)topo->sub_cnt + 1, sizeof(int))) ||
        !(pr->sub_writes = calloc((size_t)topo->sub_cnt + 1, sizeof(bool))) ||
        !(pr->sub_checks = calloc((size_t)topo->sub_cnt + 1, sizeof(bool)))) {
        app->progress = pr;
        rill__progress_free(app);
        return RILL_ERR_NOMEM;
    }
    app->progress = pr;
    for (int s = 0; s < topo->sub_cnt; s++) {
        pr->sub_tasks[s] = rill__app_sub_partitions(app, s, errstr, errstr_size);
        if (pr->sub_tasks[s] <= 0) {
            snprintf(errstr, errstr_size, "sub-topology %d: no partition count known", s);
            return RILL_ERR_TOPOLOGY;
        }
    }
    return find_links(app, pr, errstr, errstr_size);
}

void rill__progress_free(rill_app_t *app) {
    rill__progress_t *pr = app->progress;
    if (!pr)
        return;
    free(pr->links);
    free(pr->sub_tasks);
    free(pr->sub_writes);
    free(pr->sub_checks);
    free(pr);
    app->progress = NULL;
}

int rill__progress_pq_init(rill__task_t *task, rill__pq_t *pq) {
    rill__progress_t *pr = task->thread->app->progress;
    pq->part_time = pq->floor = -1;
    const rill__link_t *link = link_find(pr, pq->topic);
    if (link) {
        pq->linked = true;
        pq->ups = calloc((size_t)link->up_cnt, sizeof(*pq->ups));
        if (!pq->ups)
            return -1;
        pq->up_cnt = link->up_cnt;
    } else if (pr && pr->sub_checks[task->sub]) {
        char err[256];
        pq->check_cnt = rill__app_partition_count(task->thread->app, pq->topic, err, sizeof(err));
        if (pq->check_cnt < 0)
            pq->check_cnt = 0;
    }
    return 0;
}

/* ---- markers ---- */

bool rill__progress_is_marker(const rill__pq_t *pq, const rd_kafka_message_t *msg) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t len;
    return pq->linked && !msg->key && !msg->payload && !rd_kafka_message_headers(msg, &hdrs) &&
           !rd_kafka_header_get_last(hdrs, RILL__PROGRESS_HEADER, &v, &len) && len == MARKER_LEN;
}

/* The upstream slot of (sub, partition) in pq's table, or NULL. */
static rill__up_t *up_of(rill__task_t *task, rill__pq_t *pq, int sub, uint32_t part) {
    const rill__progress_t *pr = task->thread->app->progress;
    const rill__link_t *link = link_find(pr, pq->topic);
    int base = 0;
    for (int w = 0; link && w < link->writer_cnt; w++) {
        int n = pr->sub_tasks[link->writers[w]];
        if (link->writers[w] == sub)
            return part < (uint32_t)n ? &pq->ups[base + (int)part] : NULL;
        base += n;
    }
    return NULL;
}

void rill__progress_apply(rill__task_t *task, rill__pq_t *pq, const rd_kafka_message_t *msg) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *v = NULL;
    size_t len = 0;
    if (rd_kafka_message_headers(msg, &hdrs) ||
        rd_kafka_header_get_last(hdrs, RILL__PROGRESS_HEADER, &v, &len) || len != MARKER_LEN)
        return;
    const unsigned char *m = v;
    int64_t wm;
    rill_int64_decode(m + 16, 8, &wm);
    if (wm > RILL__TIME_MAX)
        return; /* no task's progress goes there (time_int.h): not a marker Rill wrote */
    rill__up_t *up = up_of(task, pq, (int)rill__be32_get(m), rill__be32_get(m + 4));
    if (!up)
        return; /* a writer this topology does not know (another version): not waited for */
    if (!up->heard || wm > up->wm)
        up->wm = wm;
    up->heard = true;
    up->idle = (rill__be32_get(m + 12) & MARKER_IDLE) != 0;
}

static rill__link_out_t *outs_make(rill__task_t *task) {
    rill__progress_t *pr = task->thread->app->progress;
    int n = 0;
    for (int l = 0; l < pr->link_cnt; l++)
        for (int w = 0; w < pr->links[l].writer_cnt; w++)
            n += pr->links[l].writers[w] == task->sub;
    task->outs = calloc((size_t)n + 1, sizeof(*task->outs));
    if (!task->outs)
        return NULL;
    for (int l = 0; l < pr->link_cnt; l++)
        for (int w = 0; w < pr->links[l].writer_cnt; w++) {
            if (pr->links[l].writers[w] != task->sub)
                continue;
            rill__link_out_t *o = &task->outs[task->out_cnt++];
            o->link = &pr->links[l];
            o->rkt = rd_kafka_topic_new(task->thread->producer, o->link->topic, NULL);
        }
    return task->outs;
}

static int marker_send(rill__task_t *task, const rill__link_out_t *o, int32_t partition,
                       const unsigned char *m) {
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, RILL__PROGRESS_HEADER, -1, m, MARKER_LEN);
    return rill__produce(task->thread, o->rkt, partition, NULL, 0, NULL, 0,
                         task->wm > 0 ? task->wm : 0, hdrs);
}

void rill__progress_emit(rill__task_t *task, bool force) {
    rill_app_t *app = task->thread->app;
    rill__progress_t *pr = app->progress;
    if (!pr || !pr->sub_writes[task->sub])
        return;
    int64_t now = rill__now_ms();
    if (!force && now - task->wm_sent_ms < app->set.progress_interval_ms)
        return;
    if (task->wm_sent_ms && task->wm == task->wm_sent && task->idle == task->idle_sent)
        return;
    if (!task->outs && !outs_make(task))
        return;
    unsigned char m[MARKER_LEN];
    rill__be32_put(m, (uint32_t)task->sub);
    rill__be32_put(m + 4, (uint32_t)task->partition);
    rill__be32_put(m + 8, (uint32_t)pr->sub_tasks[task->sub]);
    rill__be32_put(m + 12, task->idle ? MARKER_IDLE : 0);
    rill_int64_encode(task->wm, m + 16);
    for (int i = 0; i < task->out_cnt; i++)
        for (int32_t p = 0; p < task->outs[i].link->partitions; p++)
            if (!task->outs[i].rkt || marker_send(task, &task->outs[i], p, m))
                return; /* sent again at the next occasion */
    task->wm_sent = task->wm;
    task->idle_sent = task->idle;
    task->wm_sent_ms = now;
}

/* ---- the task's progress ---- */

/* A linked input's progress: the lowest of its active upstream tasks' (one not heard from
 * counts at the floor); *idle when every one is idle (then the largest of theirs). */
static int64_t linked_time(const rill__pq_t *pq, bool *idle) {
    int64_t lo = INT64_MAX, hi = -1;
    bool active = false;
    for (int i = 0; i < pq->up_cnt; i++) {
        const rill__up_t *up = &pq->ups[i];
        int64_t t = up->heard && up->wm > pq->floor ? up->wm : pq->floor;
        if (t > hi)
            hi = t;
        if (up->heard && up->idle)
            continue;
        active = true;
        if (t < lo)
            lo = t;
    }
    *idle = !active;
    return active ? lo : hi;
}

/* Whether Kafka says the empty queue pq holds nothing more: its position is at the end
 * (an unknown position is not). */
static bool caught_up(rill__task_t *task, rill__pq_t *pq) {
    if (pq->at_end)
        return true;
    rd_kafka_t *consumer = task->thread->consumer;
    int64_t lo = RD_KAFKA_OFFSET_INVALID, hi = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_get_watermark_offsets(consumer, pq->topic, pq->partition, &lo, &hi);
    if (hi < 0)
        return false;
    if (hi == lo)
        return true;
    rd_kafka_topic_partition_t tp = {
        .topic = (char *)pq->topic, .partition = pq->partition, .offset = RD_KAFKA_OFFSET_INVALID};
    rd_kafka_topic_partition_list_t one = {.cnt = 1, .size = 1, .elems = &tp};
    rd_kafka_position(consumer, &one);
    return tp.offset >= 0 && tp.offset >= hi;
}

/* Refreshes pq->idle for a source partition: at its end (--drain), or caught up and empty
 * for source.idle.timeout.ms (and max.task.idle.ms): a partition is not idle between two
 * fetches, only when its producers have nothing more to say for a while. */
static void refresh_idle(rill__task_t *task, rill__pq_t *pq, int64_t now) {
    if (pq->cnt) {
        pq->idle = false;
        pq->empty_since = 0;
        return;
    }
    if (!pq->empty_since)
        pq->empty_since = now;
    const rill__settings_t *set = &task->thread->app->set;
    int64_t wait =
        set->idle_timeout_ms > set->max_task_idle_ms ? set->idle_timeout_ms : set->max_task_idle_ms;
    pq->idle = pq->at_end || (now - pq->empty_since >= wait && caught_up(task, pq));
}

static int64_t async_hold(rill__task_t *task) {
    int64_t hold = INT64_MAX;
    const rill_topology_t *topo = task->thread->app->topo;
    for (int i = 0; i < task->async_cnt; i++) {
        const rill__node_t *node = topo->nodes[task->async_ids[i]];
        int64_t t = node->op->low_time(task->state[node->id]);
        if (t < hold)
            hold = t;
    }
    return hold;
}

bool rill__progress_update(rill__task_t *task, bool refresh) {
    int64_t lo = INT64_MAX, hi = -1, now = refresh ? rill__now_ms() : 0;
    bool active = false;
    for (int i = 0; i < task->pq_cnt; i++) {
        rill__pq_t *pq = &task->pqs[i];
        bool idle;
        int64_t t;
        if (pq->linked) {
            t = linked_time(pq, &idle);
            idle = idle && !pq->cnt;
        } else {
            if (refresh)
                refresh_idle(task, pq, now);
            idle = !pq->cnt && pq->idle;
            t = pq->part_time > pq->floor ? pq->part_time : pq->floor;
        }
        if (t > hi)
            hi = t;
        if (idle)
            continue;
        active = true;
        if (t < lo)
            lo = t;
    }
    int64_t wm = active ? lo : hi;
    int64_t hold = task->initialized && task->async_cnt ? async_hold(task) : INT64_MAX;
    task->idle = !active && hold == INT64_MAX;
    if (hold < wm)
        wm = hold;
    if (wm > task->wm)
        task->wm = wm;
    if (task->wm <= task->stream_time)
        return false;
    task->stream_time = task->wm;
    return true;
}

/* ---- partitioning check ---- */

int rill__progress_check_partition(rill__task_t *task, const rill__pq_t *pq,
                                   const rd_kafka_message_t *msg) {
    if (!msg->key || pq->check_cnt <= 0)
        return 0;
    int32_t want =
        rd_kafka_msg_partitioner_murmur2(NULL, msg->key, msg->key_len, pq->check_cnt, NULL, NULL);
    if (want == msg->partition)
        return 0;
    char key[64];
    size_t n = msg->key_len < 40 ? msg->key_len : 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = ((const unsigned char *)msg->key)[i];
        key[i] = c >= 32 && c < 127 ? (char)c : '?';
    }
    key[n] = '\0';
    rill__app_fatal(task->thread->app, RILL_ERR_TOPOLOGY,
                    "topic \"%s\" is joined with a topic Rill partitions (murmur2 of the key), "
                    "but its record at partition %d offset %" PRId64 " has key \"%s%s\", which "
                    "murmur2 puts in partition %d: its producer uses another partitioner "
                    "(librdkafka's default is consistent_random). Fix: read it with "
                    "rill_source_opts_t.repartition = 1 (Rill repartitions it), or write it "
                    "with murmur2 (librdkafka: partitioner=murmur2_random), or set "
                    "partitioning.check=off if the mismatch is intended",
                    pq->topic, (int)msg->partition, msg->offset, key, msg->key_len > n ? "..." : "",
                    (int)want);
    return -1;
}

/* ---- alignment ---- */

/* The progress of a source partition that may still bring records, or -1. */
static int64_t source_time(const rill__pq_t *pq) {
    if (pq->linked || (!pq->cnt && pq->idle))
        return -1;
    return pq->part_time > pq->floor ? pq->part_time : pq->floor;
}

void rill__progress_align(rill__thread_t *thread) {
    int64_t bound = thread->app->set.alignment_ms;
    int subs = thread->app->topo->sub_cnt;
    if (bound <= 0 || subs > 64)
        return;
    int64_t slowest[64];
    for (int s = 0; s < subs; s++)
        slowest[s] = INT64_MAX;
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            int64_t pt = source_time(&task->pqs[i]);
            if (!task->pqs[i].linked && !(!task->pqs[i].cnt && task->pqs[i].idle) &&
                pt < slowest[task->sub])
                slowest[task->sub] = pt; /* -1 (nothing yet) holds everyone back */
        }
    }
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            rill__pq_t *pq = &task->pqs[i];
            int64_t pt = source_time(pq), lo = slowest[task->sub];
            /* A partition with no time yet (-1, not idle: its records are still to come)
             * holds the others back too. */
            bool ahead = pt >= 0 && lo != INT64_MAX && pt - lo > bound;
            if (ahead != pq->ahead) {
                pq->ahead = ahead;
                rill__thread_pause_update(thread, pq);
                if (ahead)
                    rill__metric_add(&thread->metrics, RILL_M_ALIGN_PAUSES, 1);
            }
        }
    }
}

/* ---- rewind and free ---- */

/* The topic handles of the task's markers (the thread may replace its producer). */
static void outs_free(rill__task_t *task) {
    for (int i = 0; i < task->out_cnt; i++)
        if (task->outs[i].rkt)
            rd_kafka_topic_destroy(task->outs[i].rkt);
    free(task->outs);
    task->outs = NULL;
    task->out_cnt = 0;
}

void rill__progress_rewind(rill__task_t *task) {
    outs_free(task);
    for (int i = 0; i < task->pq_cnt; i++) {
        rill__pq_t *pq = &task->pqs[i];
        pq->part_time = -1;
        pq->floor = task->safe_time;
        for (int u = 0; u < pq->up_cnt; u++)
            pq->ups[u] = (rill__up_t){.wm = -1};
    }
    task->wm = task->stream_time = task->safe_time;
}

void rill__progress_task_free(rill__task_t *task) {
    outs_free(task);
    free(task->async_ids);
    task->async_ids = NULL;
    for (int i = 0; i < task->pq_cnt; i++)
        free(task->pqs[i].ups);
}
