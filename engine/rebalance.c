/*
 * rebalance.c — what a stream thread does when the group moves partitions: on revocation it
 * finishes, flushes and commits its tasks and closes them; on assignment it forms tasks from
 * the partitions (partition p of every source topic of a sub-topology makes task
 * "<sub>_<p>").
 *
 * DESIGN
 * The group uses the eager range assignor: it keeps equal partition numbers of co-partitioned
 * topics on one member (librdkafka has no custom assignor), and eager revocation means every
 * task is committed and closed before anything moves, so no two members ever process a
 * partition at once (docs/DESIGN.md, invariant 1). The callback runs inside the thread's consumer
 * poll, on the stream thread.
 */
#include "engine_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void rill__thread_drop_tasks(rill__thread_t *thread) {
    memset(&thread->cache, 0, sizeof(thread->cache));
    for (int i = 0; i < thread->task_cnt; i++)
        rill__task_destroy(thread->tasks[i]);
    free(thread->tasks);
    thread->tasks = NULL;
    thread->task_cnt = 0;
    rill__metric_set(&thread->metrics, RILL_M_TASKS, 0);
    rill__status_tasks(thread, false);
}

static rill__task_t *task_get(rill__thread_t *thread, int sub, int32_t partition) {
    for (int i = 0; i < thread->task_cnt; i++)
        if (thread->tasks[i]->sub == sub && thread->tasks[i]->partition == partition)
            return thread->tasks[i];
    rill__task_t **tasks = realloc(thread->tasks, sizeof(*tasks) * (size_t)(thread->task_cnt + 1));
    if (!tasks)
        return NULL;
    thread->tasks = tasks;
    rill__task_t *task = rill__task_new(thread, sub, partition);
    if (task)
        thread->tasks[thread->task_cnt++] = task;
    return task;
}

rill__task_t *rill__thread_task_for(rill__thread_t *thread, const char *topic, int32_t part,
                                    rill__pq_t **pqp) {
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        if (task->partition != part)
            continue;
        rill__pq_t *pq = rill__task_find_pq(task, topic, part);
        if (pq) {
            *pqp = pq;
            return task;
        }
    }
    return NULL;
}

/* Commit metadata with a malformed time (rill__meta_time): the partition starts with no
 * committed time, logged once per app. */
static void bad_meta(rill__thread_t *thread, const rd_kafka_topic_partition_t *p) {
    if (__atomic_exchange_n(&thread->app->bad_meta_logged, 1, __ATOMIC_RELAXED))
        return;
    char shown[68];
    size_t n = p->metadata_size < 64 ? p->metadata_size : 64;
    for (size_t i = 0; i < n; i++) {
        char ch = ((const char *)p->metadata)[i];
        shown[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    strcpy(shown + n, p->metadata_size > 64 ? "..." : "");
    rill__log_at(thread->app, RILL__LOG_WARN, thread->idx,
                 "%s[%d]: committed metadata \"%s\" has no valid stream time (rill.t= then "
                 "at most 18 digits, at most %" PRId64 "): the task starts without one "
                 "(logged once)",
                 p->topic, (int)p->partition, shown, (int64_t)RILL__TIME_MAX);
}

/* Sets the partition times of the new tasks' queues from the group's committed metadata, and
 * so their stream time: a task that moves or restarts goes on from where it was (what was
 * late stays late, windows and waits close as before) rather than from its first record. */
static void restore_times(rill__thread_t *thread, const rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_committed(thread->consumer, committed, 10000);
    for (int i = 0; !err && i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &committed->elems[i];
        int64_t t = rill__meta_time(p->metadata, p->metadata_size);
        if (t == RILL__META_BAD)
            bad_meta(thread, p);
        rill__pq_t *pq;
        rill__task_t *task =
            t >= 0 ? rill__thread_task_for(thread, p->topic, p->partition, &pq) : NULL;
        if (!task)
            continue;
        /* Every input is at least there: the committed progress was the lowest of them. */
        for (int q = 0; q < task->pq_cnt; q++)
            if (t > task->pqs[q].floor)
                task->pqs[q].floor = t;
        if (t > task->safe_time)
            task->safe_time = t;
        if (t > task->wm)
            task->wm = t;
        if (t > task->stream_time)
            task->stream_time = t;
    }
    if (err)
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx,
                     "reading the committed stream "
                     "times failed (%s): the tasks start without one",
                     rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(committed);
}

/* Writes parts as "topic[0,1,2] other[0]" (adjacent entries of one topic grouped; cut with
 * "..." when out is full). */
static void parts_text(const rd_kafka_topic_partition_list_t *parts, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < parts->cnt && len < size; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        bool same = i > 0 && !strcmp(parts->elems[i - 1].topic, tp->topic);
        bool last = i + 1 == parts->cnt || strcmp(parts->elems[i + 1].topic, tp->topic);
        int n =
            snprintf(out + len, size - len, "%s%s%s%d%s",
                     same ? ""
                     : i  ? " "
                          : "",
                     same ? "" : tp->topic, same ? "," : "[", (int)tp->partition, last ? "]" : "");
        len += n > 0 ? (size_t)n : 0;
    }
    if (len >= size && size > 4)
        strcpy(out + size - 4, "...");
}

static void on_assign(rill__thread_t *thread, rd_kafka_topic_partition_list_t *parts) {
    rill_app_t *app = thread->app;
    memset(&thread->cache, 0, sizeof(thread->cache));
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        rill__node_t *source = rill__topology_source_for(app->topo, tp->topic);
        rill__task_t *task = source ? task_get(thread, source->subtopology, tp->partition) : NULL;
        if (!task || !rill__task_add_partition(task, tp->topic, tp->partition)) {
            rill__app_fatal(app, RILL_ERR_NOMEM, "thread %d: cannot create a task for %s[%d]",
                            thread->idx, tp->topic, (int)tp->partition);
            return;
        }
    }
    restore_times(thread, parts);
    rd_kafka_resp_err_t err = rd_kafka_assign(thread->consumer, parts);
    if (err)
        rill__app_fatal(app, RILL_ERR_KAFKA, "thread %d: assign: %s", thread->idx,
                        rd_kafka_err2str(err));
    /* librdkafka keeps a partition the application paused paused across unassign and
     * assign: one paused (its queue was full) before a rebalance that gives it back would
     * never be fetched again, while its new queue says it is not paused. Revocation resumes
     * what it drops too (resume_all). */
    rd_kafka_resume_partitions(thread->consumer, parts);
    rill__thread_route_all(thread, parts);
    rill__metric_add(&thread->metrics, RILL_M_REBALANCES, 1);
    thread->assigned = true;
    rill__metric_set(&thread->metrics, RILL_M_TASKS, thread->task_cnt);
    thread->wait_since_ms = thread->wait_logged_ms = 0;
    thread->announce = true;
    thread->restoring_logged = false;
    rill__status_tasks(thread, true); /* its tasks restore before they run */
    char text[768];
    parts_text(parts, text, sizeof(text));
    rill__log(app, thread->idx, "assigned %d partition(s)%s%s, %d task(s)", parts->cnt,
              parts->cnt ? ": " : "", text, thread->task_cnt);
}

/* Resumes every assigned partition (see on_assign). */
static void resume_all(rill__thread_t *thread) {
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(thread->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resume_partitions(thread->consumer, assigned);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
}

static void on_revoke(rill__thread_t *thread, const rd_kafka_topic_partition_list_t *parts) {
    char text[768];
    parts_text(parts, text, sizeof(text));
    rill__log(thread->app, thread->idx, "revoked %d partition(s)%s%s", parts->cnt,
              parts->cnt ? ": " : "", text);
    thread->wait_since_ms = rill__now_ms();
    thread->wait_logged_ms = 0;
    thread->announce = false;
    /* Finish nothing more: what was processed is committed, what is queued is dropped and
     * will be read again by the partition's next owner. */
    if (thread->task_cnt && !thread->fenced)
        rill__thread_commit(thread);
    rill__thread_drop_tasks(thread);
    resume_all(thread);
    rill__thread_route_all(thread, parts); /* what was held back is dropped there */
    rd_kafka_assign(thread->consumer, NULL);
}

void rill__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque) {
    rill__thread_t *thread = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(thread, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(thread, parts);
    } else {
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx, "rebalance error: %s",
                     rd_kafka_err2str(err));
        rill__thread_drop_tasks(thread);
        rd_kafka_assign(rk, NULL);
    }
}
