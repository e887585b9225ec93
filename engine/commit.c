/*
 * commit.c — the commit protocol of a stream thread, under at_least_once and exactly_once_v2.
 *
 * DESIGN
 * A commit first asks every task to flush what its operators buffer (record caches, async
 * stages: through the operators' commit hooks) and logs its stores' write caches to their
 * changelogs (state/store_life.c), then:
 *  - at_least_once: flushes the producer and checks that every record was delivered, then
 *    commits each input partition's next offset synchronously. Offsets are never committed
 *    past an undelivered output (docs/DESIGN.md, invariant 3).
 *  - exactly_once_v2: sends the offsets to the open transaction and commits it (a
 *    transaction is opened even when nothing was produced, so consumed offsets move on).
 *    When the transaction must be aborted, it is, and every task is rewound to its last
 *    committed offsets; when the producer is fenced, the thread drops its tasks and rejoins.
 * Under both, outputs the broker refused for good in delivery reports make the commit
 * rewind instead (after aborting the transaction), so that their inputs are dead-lettered
 * when they come again (refused.c).
 */
#include "engine_int.h"
#include "stores_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_TIMEOUT_MS 60000

/* The consumer's positions of the thread's partitions at their end (nothing queued), or
 * NULL. */
static rd_kafka_topic_partition_list_t *end_positions(rill__thread_t *thread) {
    rd_kafka_topic_partition_list_t *pos = NULL;
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            if (task->pqs[i].cnt || !task->pqs[i].at_end)
                continue;
            if (!pos)
                pos = rd_kafka_topic_partition_list_new(16);
            rd_kafka_topic_partition_list_add(pos, task->pqs[i].topic, task->pqs[i].partition);
        }
    }
    if (pos && rd_kafka_position(thread->consumer, pos)) {
        rd_kafka_topic_partition_list_destroy(pos);
        pos = NULL;
    }
    return pos;
}

/*
 * What a partition commits: the offset after its last record whose outputs are all out. A
 * partition at its end (exit.on.end reported it, nothing queued, nothing held by an async
 * node) commits the consumer's position instead when it is further: librdkafka moves it
 * past transaction markers and aborted records, which the application never sees, so that
 * the group's committed offset reaches the partition's end, which --drain checks (drain.c).
 * Only there: the position is exactly the end then, and nothing depends on when librdkafka
 * updates it.
 */
static int64_t commit_point(rill__task_t *task, rill__pq_t *pq,
                            const rd_kafka_topic_partition_list_t *pos) {
    int64_t next = rill__task_committable(task, pq);
    if (next != pq->next_offset || pq->cnt || !pq->at_end || !pos)
        return next;
    const rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(pos, pq->topic, pq->partition);
    return p && p->offset > next ? p->offset : next;
}

/* The progress the commit in progress stores for the task: its wm, which never passes a
 * record still held by an async node (so records after the commit point are never late for
 * it) and never includes --drain's advance (progress.c). */
static void time_to_commit(rill__task_t *task) {
    task->commit_time = task->wm;
}

/* After a commit: a rewind goes back to the progress it stored. */
static void time_committed(rill__task_t *task) {
    if (task->commit_time > task->safe_time)
        task->safe_time = task->commit_time;
}

/* The commit's metadata: the partition time, and the end mark of --drain. */
static void set_metadata(rd_kafka_topic_partition_t *p, int64_t t, bool end) {
    char meta[64];
    int n = 0;
    if (t >= 0)
        n = snprintf(meta, sizeof(meta), "%s%" PRId64, RILL__TIME_MARK, t);
    if (end)
        n += snprintf(meta + n, sizeof(meta) - (size_t)n, "%s%s", n ? " " : "", RILL__END_MARK);
    if (!n)
        return;
    free(p->metadata);
    p->metadata = strdup(meta);
    p->metadata_size = p->metadata ? (size_t)n : 0;
}

bool rill__meta_end(const void *metadata, size_t size) {
    size_t len = strlen(RILL__END_MARK);
    return metadata && size >= len &&
           !memcmp((const char *)metadata + size - len, RILL__END_MARK, len);
}

/* Whether the metadata after the time, from p to end, is what Rill writes there: nothing,
 * a NUL, or the end mark. */
static bool meta_time_ends(const char *p, const char *end) {
    size_t left = (size_t)(end - p), mark = strlen(RILL__END_MARK);
    return !left || (left == 1 && !*p) ||
           (left == mark + 1 && *p == ' ' && !memcmp(p + 1, RILL__END_MARK, mark));
}

int64_t rill__meta_time(const void *metadata, size_t size) {
    size_t len = strlen(RILL__TIME_MARK);
    if (!metadata || size < len || memcmp(metadata, RILL__TIME_MARK, len))
        return -1;
    const char *p = (const char *)metadata + len, *end = (const char *)metadata + size;
    int64_t t = 0;
    int n = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (++n > 18)
            return RILL__META_BAD; /* 18 digits cannot overflow; more is not Rill's */
        t = t * 10 + (*p - '0');
    }
    if (!n || t > RILL__TIME_MAX || !meta_time_ends(p, end))
        return RILL__META_BAD;
    return t;
}

/* Builds the list of offsets that moved since the last commit, and of those to commit with
 * the end mark of --drain (drain.c); NULL when there are none. */
static rd_kafka_topic_partition_list_t *offsets_to_commit(rill__thread_t *thread) {
    rd_kafka_topic_partition_list_t *offsets = NULL, *pos = end_positions(thread);
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            rill__pq_t *pq = &task->pqs[i];
            pq->commit_next = commit_point(task, pq, pos);
            if (pq->end_mark && !pq->end_marked && pq->commit_next < pq->commit_offset)
                pq->commit_next = pq->commit_offset;
        }
        time_to_commit(task);
        for (int i = 0; i < task->pq_cnt; i++) {
            rill__pq_t *pq = &task->pqs[i];
            bool mark = pq->end_mark && !pq->end_marked;
            if (pq->commit_next < 0 || (pq->commit_next <= pq->commit_offset && !mark))
                continue;
            if (!offsets)
                offsets = rd_kafka_topic_partition_list_new(16);
            rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_add(offsets, pq->topic, pq->partition);
            p->offset = pq->commit_next;
            set_metadata(p, task->commit_time, mark);
        }
    }
    if (pos)
        rd_kafka_topic_partition_list_destroy(pos);
    return offsets;
}

/* Returns 0, or -1 when a store could not take its writes (the app then has its fatal
 * error, naming the task and the store: the thread stops before it processes more). */
static int mark_committed(rill__thread_t *thread) {
    /* The outputs and changelog records are durable: now the stores may have them. */
    for (int t = 0; t < thread->task_cnt; t++)
        if (rill__task_apply_stores(thread->tasks[t]))
            return -1;
    thread->commit_now = false;
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            rill__pq_t *pq = &task->pqs[i];
            if (pq->commit_next > pq->commit_offset)
                pq->commit_offset = pq->commit_next;
            if (pq->end_mark && pq->commit_next >= 0)
                pq->end_marked = true;
        }
        time_committed(task);
    }
    rill__refused_committed(thread);
    rill__metric_add(&thread->metrics, RILL_M_COMMITS, 1);
    return 0;
}

static void rewind_all(rill__thread_t *thread);

static int commit_alos(rill__thread_t *thread, rd_kafka_topic_partition_list_t *offsets) {
    rill_app_t *app = thread->app;
    rd_kafka_resp_err_t err = rd_kafka_flush(thread->producer, COMMIT_TIMEOUT_MS);
    if (err) {
        rill__app_fatal(app, RILL_ERR_KAFKA,
                        "thread %d: outputs not delivered, offsets not "
                        "committed: %s",
                        thread->idx, rd_kafka_err2str(err));
        return -1;
    }
    if (thread->delivery_errors) {
        if (rill__refused_rewind_ok(thread, false)) {
            rewind_all(thread);
            rill__refused_after_rewind(thread);
        }
        return -1;
    }
    if (!offsets) /* store writes without new offsets (e.g. punctuation) */
        return mark_committed(thread);
    err = rd_kafka_commit(thread->consumer, offsets, 0);
    if (err) {
        /* Not fatal: the records will be processed again after a rebalance (at-least-once). */
        rill__log_at(app, RILL__LOG_WARN, thread->idx, "offset commit failed: %s",
                     rd_kafka_err2str(err));
        return -1;
    }
    return mark_committed(thread);
}

/* Seeks every input partition back to its last committed offset and resets the tasks. */
static void rewind_all(rill__thread_t *thread) {
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        for (int i = 0; i < task->pq_cnt; i++) {
            rd_kafka_topic_partition_list_add(all, task->pqs[i].topic, task->pqs[i].partition);
            if (task->pqs[i].commit_offset >= 0)
                rd_kafka_topic_partition_list_add(seek, task->pqs[i].topic, task->pqs[i].partition)
                    ->offset = task->pqs[i].commit_offset;
        }
        rill__task_rewind(task);
    }
    rd_kafka_resume_partitions(thread->consumer, seek);
    rill__thread_route_all(thread, all); /* the tasks' queues say nothing is paused now */
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(thread->consumer, seek, 10000);
    if (error) {
        rill__app_fatal(thread->app, RILL_ERR_KAFKA, "thread %d: rewind after abort failed: %s",
                        thread->idx, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    rd_kafka_topic_partition_list_destroy(seek);
}

/* Aborts the open transaction and rewinds every task to its last committed offsets. */
static void abort_and_rewind(rill__thread_t *thread) {
    rd_kafka_error_t *aerr = rd_kafka_abort_transaction(thread->producer, COMMIT_TIMEOUT_MS);
    if (aerr) {
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx, "abort_transaction: %s",
                     rd_kafka_error_string(aerr));
        if (rd_kafka_error_is_fatal(aerr))
            thread->fenced = true;
        rd_kafka_error_destroy(aerr);
    }
    thread->txn_open = false;
    rill__metric_add(&thread->metrics, RILL_M_TXN_ABORTS, 1);
    /* Refused outputs are dead-lettered when their inputs come again, within a bound;
     * other failed deliveries are retried, as any aborted transaction. */
    if (thread->delivery_refused)
        rill__refused_rewind_ok(thread, true);
    thread->delivery_errors = thread->delivery_refused = 0;
    rewind_all(thread);
    rill__refused_after_rewind(thread);
}

/* Handles a transactional error; returns -1 always (the commit did not happen). */
static int txn_failed(rill__thread_t *thread, const char *what, rd_kafka_error_t *error) {
    rill__log(thread->app, thread->idx, "%s: %s", what, rd_kafka_error_string(error));
    if (rd_kafka_error_is_fatal(error))
        thread->fenced = true;
    else
        abort_and_rewind(thread);
    rd_kafka_error_destroy(error);
    return -1;
}

static int commit_eos(rill__thread_t *thread, rd_kafka_topic_partition_list_t *offsets) {
    rd_kafka_error_t *error;
    if (!offsets && !thread->txn_open)
        return mark_committed(thread);
    if (!thread->txn_open) {
        if ((error = rd_kafka_begin_transaction(thread->producer)))
            return txn_failed(thread, "begin_transaction", error);
        thread->txn_open = true;
        thread->txn_begun_ms = rill__now_ms();
    }
    if (offsets) {
        rd_kafka_consumer_group_metadata_t *cgmd =
            rd_kafka_consumer_group_metadata(thread->consumer);
        error = rd_kafka_send_offsets_to_transaction(thread->producer, offsets, cgmd,
                                                     COMMIT_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (error)
            return txn_failed(thread, "send_offsets_to_transaction", error);
    }
    for (int attempt = 0;; attempt++) {
        error = rd_kafka_commit_transaction(thread->producer, COMMIT_TIMEOUT_MS);
        if (!error)
            break;
        if (!rd_kafka_error_is_retriable(error) || attempt == 5)
            return txn_failed(thread, "commit_transaction", error);
        rd_kafka_error_destroy(error);
    }
    thread->txn_open = false;
    return mark_committed(thread);
}

/*
 * Exactly-once with asynchronous nodes: before a transaction commits, the async nodes release
 * everything they hold (no new record is fed meanwhile), so the offsets committed cover every
 * record whose outputs the transaction holds. Committing only up to the watermark instead
 * would leave outputs of later records from synchronous branches in the transaction while
 * their input is read again after a crash.
 *
 * The drain must end well before the broker times the transaction out (it would then abort
 * it and fence the producer): it may last until DRAIN_TXN_SHARE of transaction.timeout.ms
 * has passed since the transaction began. The async nodes keep what they hold small enough
 * for that (faas_stage.c); if a drain still overruns (a function slower than it was), the
 * transaction is aborted and the tasks rewound, which loses nothing and duplicates nothing.
 * Returns 0 when drained, -1 when it overran.
 */
#define DRAIN_TXN_SHARE 0.6

static int drain_for_commit(rill__thread_t *thread) {
    int64_t timeout = thread->txn_timeout_ms > 0 ? thread->txn_timeout_ms : 10000;
    int64_t until = (thread->txn_open ? thread->txn_begun_ms : rill__now_ms()) +
                    (int64_t)((double)timeout * DRAIN_TXN_SHARE);
    for (;;) {
        int pending = rill__thread_poll_async(thread, NULL);
        if (!pending || rill__app_stopping(thread->app))
            return 0;
        if (rill__now_ms() >= until) {
            rill__log(thread->app, thread->idx,
                      "exactly-once: %d task(s) still have records in "
                      "asynchronous stages %.1f s into the transaction; aborting it and "
                      "reprocessing from the last commit (raise transaction.timeout.ms if a "
                      "function's calls take longer than that)",
                      pending, (double)(rill__now_ms() - thread->txn_begun_ms) / 1000.0);
            return -1;
        }
        rd_kafka_poll(thread->producer, 1); /* serves delivery reports; waits 1 ms */
    }
}

int rill__thread_commit(rill__thread_t *thread) {
    thread->last_commit_ms = rill__now_ms();
    if (thread->fenced || !thread->producer) /* no producer: a renewal failed (fatal) */
        return -1;
    if (thread->app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2 && drain_for_commit(thread)) {
        if (thread->txn_open)
            abort_and_rewind(thread);
        else
            rewind_all(thread);
        return -1;
    }
    for (int t = 0; t < thread->task_cnt; t++) {
        if (rill__task_flush(thread->tasks[t]) || rill__task_log_stores(thread->tasks[t])) {
            rill__app_fatal(thread->app, RILL_ERR_PROCESSING,
                            "task %s: flush before commit "
                            "failed",
                            thread->tasks[t]->id);
            return -1;
        }
    }
    rd_kafka_topic_partition_list_t *offsets = offsets_to_commit(thread);
    int rc = thread->app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2
                 ? commit_eos(thread, offsets)
                 : commit_alos(thread, offsets);
    if (offsets)
        rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}
