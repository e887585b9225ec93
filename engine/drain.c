/*
 * drain.c — exit.on.end (--drain): a bounded run ends when its input does, with every window
 * and item closed and every output committed, also when several processes share the work.
 *
 * DESIGN
 * A thread's own input is done when every partition it reads has reported its end, nothing
 * is queued and no async stage holds a record. That is not enough with several processes:
 * another one may still be working on records whose results will come to this thread through
 * an internal topic (or the edge's output). So the thread also asks the group: has it
 * committed every partition of every source topic of the app, internal ones included, up to
 * its end? (commit.c commits a drained partition's consumer position, which is past any
 * transaction marker, so "up to its end" is exact.) Only then does the thread move every
 * task's stream time exit.advance.ms past its input, which closes windows and items, and
 * commits what that produced. Those results may land in internal topics and come back, to
 * this or another process: input is then not done any more, and the round repeats. The thread
 * counts as finished when, a quiet second after its last advance, its input is done and the
 * group has committed everything; the app stops when all its threads have.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_EVERY_MS 500 /* between two looks at the group's offsets */
#define QUIET_MS 1000      /* after the last advance, before finishing */
#define QUERY_TIMEOUT_MS 5000

/* True when every input partition of the thread is at its end with nothing queued or held. */
static bool input_done(rill__thread_t *thread) {
    if (!thread->assigned)
        return false;
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        for (int p = 0; p < task->pq_cnt; p++)
            if (!task->pqs[p].at_end || task->pqs[p].cnt)
                return false;
        if (task->has_async && rill__task_async_pending(task))
            return false;
    }
    return true;
}

/* Every partition of every topic the app reads, from the cluster's metadata; NULL on error. */
static rd_kafka_topic_partition_list_t *source_partitions(rill__thread_t *thread) {
    rill_topology_t *topo = thread->app->topo;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(thread->consumer, 1, NULL, &md, QUERY_TIMEOUT_MS))
        return NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
    for (int s = 0; s < topo->sub_cnt; s++)
        for (int t = 0; t < topo->subs[s].topic_cnt; t++) {
            const char *name = topo->subs[s].topics[t];
            for (int m = 0; m < md->topic_cnt; m++) {
                if (strcmp(md->topics[m].topic, name))
                    continue;
                for (int p = 0; p < md->topics[m].partition_cnt; p++)
                    if (!rd_kafka_topic_partition_list_find(parts, name, p))
                        rd_kafka_topic_partition_list_add(parts, name, p);
            }
        }
    rd_kafka_metadata_destroy(md);
    return parts;
}

/* True when the group has committed every source partition up to its end (an empty
 * partition counts as done). */
static bool group_done(rill__thread_t *thread) {
    rd_kafka_topic_partition_list_t *parts = source_partitions(thread);
    if (!parts)
        return false;
    bool done = !rd_kafka_committed(thread->consumer, parts, QUERY_TIMEOUT_MS);
    for (int i = 0; done && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        if (p->err || rd_kafka_query_watermark_offsets(thread->consumer, p->topic, p->partition,
                                                       &lo, &hi, QUERY_TIMEOUT_MS))
            done = false;
        else
            done = hi <= lo || p->offset >= hi;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return done;
}

/* Throttled group_done(): at most once per CHECK_EVERY_MS, false in between. */
static bool group_done_now(rill__thread_t *thread, int64_t now) {
    if (now - thread->end_checked_ms < CHECK_EVERY_MS)
        return false;
    thread->end_checked_ms = now;
    return group_done(thread);
}

void rill__thread_check_end(rill__thread_t *thread) {
    rill_app_t *app = thread->app;
    int64_t now = rill__now_ms();
    if (!input_done(thread)) {
        if (thread->end_counted)
            __atomic_fetch_sub(&app->threads_at_end, 1, __ATOMIC_RELAXED);
        thread->end_counted = thread->end_advanced = false;
        thread->end_since = 0;
        return;
    }
    if (!thread->end_since) { /* input just became done: commit it for the group to see */
        thread->end_since = now;
        thread->commit_now = true;
        return;
    }
    if (thread->end_counted)
        return;
    if (!thread->end_advanced) {
        if (!group_done_now(thread, now))
            return;
        for (int i = 0; i < thread->task_cnt; i++)
            rill__task_advance(thread->tasks[i],
                               thread->tasks[i]->stream_time + app->set.exit_advance_ms);
        thread->end_advanced = true;
        thread->end_since = now;
        thread->commit_now = true;
        return;
    }
    if (now - thread->end_since < QUIET_MS || !group_done_now(thread, now))
        return;
    thread->end_counted = true;
    if (__atomic_add_fetch(&app->threads_at_end, 1, __ATOMIC_RELAXED) == app->thread_cnt) {
        rill__log(app, thread->idx, "end of the input: every window and item closed, stopping");
        rill_app_stop(app);
    }
}
