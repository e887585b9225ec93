/*
 * thread_status.c — what a stream thread shows other threads: whether it holds an
 * assignment, the state of each task (restoring or running) and the consumer lag of each
 * partition, for the metrics (rill_consumer_lag_records, rill_task_state) and the HTTP
 * endpoint's /ready.
 *
 * DESIGN
 * Tasks belong to their thread (docs/DESIGN.md, "Ownership"), so no other thread may walk
 * them. The thread copies what others need into its rill__status_t under the status lock:
 * its tasks whenever they change (assignment, a task restored, tasks dropped), the lag once
 * a second. Readers take the lock only to copy or render, so a scrape never waits for the
 * stream thread's work, only for a copy. The lag of a partition is the cached high watermark
 * (which librdkafka updates from its fetch responses) minus the consumer's position, both
 * local reads: computing it sends nothing to a broker and costs nothing per record. A
 * partition whose position is not known yet (nothing read from it) has a lag only when it
 * is empty (low watermark = high watermark): 0; otherwise it has no sample until it is read.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rill__status_init(rill__thread_t *thread) {
    rill__status_t *st = &thread->status;
    if (!st->made && !pthread_mutex_init(&st->lock, NULL))
        st->made = true;
}

void rill__status_free(rill__thread_t *thread) {
    rill__status_t *st = &thread->status;
    if (!st->made)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st->lags);
    free(st->tasks);
    memset(st, 0, sizeof(*st));
}

void rill__status_tasks(rill__thread_t *thread, bool assigned) {
    rill__status_t *st = &thread->status;
    rill__task_state_t *tasks =
        thread->task_cnt ? calloc((size_t)thread->task_cnt, sizeof(*tasks)) : NULL;
    int cnt = tasks ? thread->task_cnt : 0;
    thread->tasks_gen++; /* published to the query-hosts topic (query_hosts.c) */
    if (!st->made) {     /* not started by rill__thread_start() */
        free(tasks);
        return;
    }
    for (int i = 0; i < cnt; i++) {
        snprintf(tasks[i].id, sizeof(tasks[i].id), "%s", thread->tasks[i]->id);
        tasks[i].running = thread->tasks[i]->initialized;
    }
    pthread_mutex_lock(&st->lock);
    free(st->tasks);
    st->tasks = tasks;
    st->task_cnt = cnt;
    st->assigned = assigned;
    if (!cnt) { /* no partitions: no lag either */
        free(st->lags);
        st->lags = NULL;
        st->lag_cnt = 0;
    }
    pthread_mutex_unlock(&st->lock);
}

/* The lag of partition p (its offset is the consumer's position), or -1 when unknown. */
static int64_t partition_lag(rd_kafka_t *consumer, const rd_kafka_topic_partition_t *p) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(consumer, p->topic, p->partition, &lo, &hi) || hi < 0)
        return -1;
    if (p->offset >= 0)
        return hi > p->offset ? hi - p->offset : 0;
    return lo >= 0 && lo == hi ? 0 : -1;
}

void rill__status_lag(rill__thread_t *thread) {
    int n = 0;
    for (int i = 0; i < thread->task_cnt; i++)
        n += thread->tasks[i]->pq_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n ? n : 1);
    rill__lag_t *lags = n ? calloc((size_t)n, sizeof(*lags)) : NULL;
    const char **topics = n ? calloc((size_t)n, sizeof(*topics)) : NULL;
    int cnt = 0;
    int64_t total = 0;
    if (parts && (!n || (lags && topics))) {
        for (int i = 0; i < thread->task_cnt; i++)
            for (int q = 0; q < thread->tasks[i]->pq_cnt; q++) {
                const rill__pq_t *pq = &thread->tasks[i]->pqs[q];
                rd_kafka_topic_partition_list_add(parts, pq->topic, pq->partition);
                topics[parts->cnt - 1] = pq->topic; /* the topology's copy outlives the list */
            }
        if (n && !rd_kafka_position(thread->consumer, parts))
            for (int i = 0; i < parts->cnt; i++) {
                int64_t lag = partition_lag(thread->consumer, &parts->elems[i]);
                if (lag < 0)
                    continue;
                lags[cnt++] = (rill__lag_t){topics[i], parts->elems[i].partition, lag};
                total += lag;
            }
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(topics);
    rill__metric_set(&thread->metrics, RILL_M_LAG, total);
    rill__status_t *st = &thread->status;
    if (!st->made) {
        free(lags);
        return;
    }
    pthread_mutex_lock(&st->lock);
    free(st->lags);
    st->lags = lags;
    st->lag_cnt = cnt;
    pthread_mutex_unlock(&st->lock);
}

static const rill__mfamily_t lag_family = {
    "rill_consumer_lag_records", RILL__GAUGE,
    "Records in Kafka past the consumer's position in an input partition (from cached high "
    "watermarks, refreshed once a second)."};
static const rill__mfamily_t task_family = {
    "rill_task_state", RILL__GAUGE,
    "1 for the state a task is in (restoring: its stores are being restored or its nodes "
    "initialised; running), 0 for the other."};

static void thread_metrics(const rill__thread_t *thread, rill__mout_t *mo) {
    char idx[16], part[16];
    snprintf(idx, sizeof(idx), "%d", thread->idx);
    for (int i = 0; i < thread->status.lag_cnt; i++) {
        const rill__lag_t *l = &thread->status.lags[i];
        snprintf(part, sizeof(part), "%d", (int)l->partition);
        rill__mout_sample(
            mo, &lag_family, NULL,
            (const char *[]){"thread", idx, "topic", l->topic, "partition", part, NULL}, l->lag);
    }
    for (int i = 0; i < thread->status.task_cnt; i++) {
        const rill__task_state_t *t = &thread->status.tasks[i];
        rill__mout_sample(
            mo, &task_family, NULL,
            (const char *[]){"thread", idx, "task", t->id, "state", "restoring", NULL},
            !t->running);
        rill__mout_sample(mo, &task_family, NULL,
                          (const char *[]){"thread", idx, "task", t->id, "state", "running", NULL},
                          t->running);
    }
}

void rill__status_metrics(rill_app_t *app, rill__mout_t *mo) {
    for (int i = 0; i < app->thread_cnt; i++) {
        rill__thread_t *thread = &app->threads[i];
        if (!thread->status.made)
            continue;
        pthread_mutex_lock(&thread->status.lock);
        thread_metrics(thread, mo);
        pthread_mutex_unlock(&thread->status.lock);
    }
}

/* 1 when thread holds an assignment and none of its tasks restores, else 0 with why. */
static int thread_ready(rill__thread_t *thread, char *why, size_t why_size) {
    rill__status_t *st = &thread->status;
    int ready = 0;
    pthread_mutex_lock(&st->lock);
    if (!st->assigned) {
        snprintf(why, why_size,
                 "stream thread %d has no partition assignment yet (joining "
                 "the group or rebalancing)",
                 thread->idx);
    } else {
        ready = 1;
        for (int i = 0; ready && i < st->task_cnt; i++)
            if (!st->tasks[i].running) {
                snprintf(why, why_size, "task %s of stream thread %d is restoring its state",
                         st->tasks[i].id, thread->idx);
                ready = 0;
            }
    }
    pthread_mutex_unlock(&st->lock);
    return ready;
}

int rill__app_ready(rill_app_t *app, char *why, size_t why_size) {
    if (!app->started || rill__app_stopping(app)) {
        snprintf(why, why_size, "%s", app->started ? "the app is stopping" : "not started");
        return 0;
    }
    for (int i = 0; i < app->thread_cnt; i++) {
        if (!app->threads[i].status.made) {
            snprintf(why, why_size, "stream thread %d is not running", i);
            return 0;
        }
        if (!thread_ready(&app->threads[i], why, why_size))
            return 0;
    }
    snprintf(why, why_size, "ready");
    return 1;
}
