/*
 * drain.c — exit.on.end (--drain): a bounded run ends when its input does, with every window
 * and item closed and every output committed, also when several processes share the work.
 *
 * DESIGN
 * A thread's own input is done when every partition it reads has reported its end, nothing
 * is queued and no async stage holds a record. That is not enough with several processes:
 * another one may still be working on records whose results will come to this thread through
 * an internal topic. So the thread also asks the group: has it committed every partition of
 * every source topic of the app, internal ones included, up to its end? (commit.c commits
 * for a partition at its end the consumer's position, which is past any transaction marker,
 * so "up to its end" is exact.)
 *
 * Then the end comes in rounds, one per level of the topology: a sub-topology's level is 0
 * when no other one feeds it through a topic, else one more than the highest that does. In
 * round L the tasks of level-L sub-topologies move their stream time past everything (to the
 * later of their stream time and the wall clock, plus exit.advance.ms), which closes their
 * windows and items, and commit their input partitions with the metadata "rill.end". What
 * that emits goes to higher levels, which have not moved yet, so nothing arrives late. Round
 * L + 1 starts, in whichever process, once the group's offsets show every partition at its
 * end and every level-L task's partitions marked (an empty partition needs no mark). A
 * record that reaches a marked partition clears its mark. The thread is finished when all
 * levels are marked and the group is at its end, a quiet second after its last move; the app
 * stops when all its threads are.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_EVERY_MS 500 /* between two looks at the group's offsets */
#define QUIET_MS 1000      /* after the last advance, before finishing */
#define QUERY_TIMEOUT_MS 5000

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Each sub-topology's round (see the top): 0 when no sub-topology's sink writes one of its
 * source topics, else 1 + the highest such. Cycles (none in a valid topology) stop at the
 * number of sub-topologies. */
static int level_of(const rill_topology_t *topo, int sub, int depth) {
    int level = 0;
    if (depth > topo->sub_cnt)
        return level;
    for (int t = 0; t < topo->subs[sub].topic_cnt; t++)
        for (int n = 0; n < topo->node_cnt; n++) {
            const rill__node_t *node = topo->nodes[n];
            if (node->kind != RILL_NODE_SINK || node->subtopology == sub ||
                strcmp(node->sink.topic, topo->subs[sub].topics[t]))
                continue;
            int l = 1 + level_of(topo, node->subtopology, depth + 1);
            if (l > level)
                level = l;
        }
    return level;
}

static int sub_level(rill__thread_t *thread, int sub) {
    const rill_topology_t *topo = thread->app->topo;
    if (!thread->sub_level) {
        thread->sub_level = calloc((size_t)topo->sub_cnt, sizeof(int));
        if (!thread->sub_level)
            return 0;
        for (int s = 0; s < topo->sub_cnt; s++)
            thread->sub_level[s] = level_of(topo, s, 0);
    }
    return thread->sub_level[sub];
}

/* The sub-topology reading topic (the first one), or -1. */
static int sub_of_topic(const rill_topology_t *topo, const char *topic) {
    for (int s = 0; s < topo->sub_cnt; s++)
        for (int t = 0; t < topo->subs[s].topic_cnt; t++)
            if (!strcmp(topo->subs[s].topics[t], topic))
                return s;
    return -1;
}

/* What the group's offsets say: every source partition at its end (returned), and in *round
 * the lowest level with a task not marked yet (INT32_MAX: none). A task (sub-topology s,
 * partition p) is marked when one of its partitions carries the mark, or all are empty. */
static bool group_view(rill__thread_t *thread, int *round) {
    const rill_topology_t *topo = thread->app->topo;
    rd_kafka_topic_partition_list_t *parts = source_partitions(thread);
    *round = INT32_MAX;
    if (!parts)
        return false;
    bool at_end = !rd_kafka_committed(thread->consumer, parts, QUERY_TIMEOUT_MS);
    /* per (sub, partition): 1 marked, 2 has data without the mark */
    int max_part = 0;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition + 1 > max_part)
            max_part = parts->elems[i].partition + 1;
    unsigned char *state = calloc((size_t)topo->sub_cnt * (size_t)max_part + 1, 1);
    for (int i = 0; at_end && state && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        if (p->err || rd_kafka_query_watermark_offsets(thread->consumer, p->topic, p->partition,
                                                       &lo, &hi, QUERY_TIMEOUT_MS)) {
            at_end = false;
            break;
        }
        at_end = hi <= lo || p->offset >= hi;
        int s = sub_of_topic(topo, p->topic);
        if (s < 0 || hi <= lo)
            continue;
        unsigned char *st = &state[s * max_part + p->partition];
        bool marked = rill__meta_end(p->metadata, p->metadata_size);
        if (marked)
            *st = 1;
        else if (*st != 1)
            *st = 2;
    }
    for (int s = 0; at_end && state && s < topo->sub_cnt; s++)
        for (int p = 0; p < max_part; p++)
            if (state[s * max_part + p] == 2 && sub_level(thread, s) < *round)
                *round = sub_level(thread, s);
    free(state);
    rd_kafka_topic_partition_list_destroy(parts);
    return at_end && state;
}

/* Fills in the rewind point of partitions the task never read from since it got them (the
 * group's committed offset), so that their mark can be committed. */
static void known_offsets(rill__thread_t *thread, rill__task_t *task) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(task->pq_cnt);
    for (int i = 0; i < task->pq_cnt; i++)
        if (task->pqs[i].commit_offset < 0)
            rd_kafka_topic_partition_list_add(l, task->pqs[i].topic, task->pqs[i].partition);
    if (l->cnt && !rd_kafka_committed(thread->consumer, l, QUERY_TIMEOUT_MS))
        for (int i = 0; i < task->pq_cnt; i++) {
            rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_find(l, task->pqs[i].topic, task->pqs[i].partition);
            if (p && !p->err && p->offset >= 0)
                task->pqs[i].commit_offset = p->offset;
        }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Moves the stream time of the thread's unmarked tasks of level round past everything and
 * marks their partitions; true when it moved any. */
static bool advance_round(rill__thread_t *thread, int round) {
    bool moved = false;
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        if (sub_level(thread, task->sub) != round)
            continue;
        bool marked = true;
        for (int p = 0; p < task->pq_cnt; p++)
            marked &= task->pqs[p].end_mark;
        if (marked)
            continue;
        int64_t from = task->stream_time > wall_ms() ? task->stream_time : wall_ms();
        rill__task_advance(task, rill__add_sat(from, thread->app->set.exit_advance_ms));
        known_offsets(thread, task);
        for (int p = 0; p < task->pq_cnt; p++)
            task->pqs[p].end_mark = true;
        moved = true;
    }
    return moved;
}

void rill__thread_check_end(rill__thread_t *thread) {
    rill_app_t *app = thread->app;
    int64_t now = rill__now_ms();
    if (!input_done(thread)) {
        if (thread->end_counted)
            __atomic_fetch_sub(&app->threads_at_end, 1, __ATOMIC_RELAXED);
        thread->end_counted = false;
        thread->end_since = 0;
        return;
    }
    if (!thread->end_since) { /* input just became done: commit it for the group to see */
        thread->end_since = now;
        thread->commit_now = true;
        return;
    }
    if (thread->end_counted || now - thread->end_checked_ms < CHECK_EVERY_MS)
        return;
    thread->end_checked_ms = now;
    int round;
    if (!group_view(thread, &round))
        return;
    if (round != INT32_MAX) {
        if (advance_round(thread, round)) {
            thread->end_since = now;
            thread->commit_now = true;
        }
        return;
    }
    if (now - thread->end_since < QUIET_MS)
        return;
    thread->end_counted = true;
    if (__atomic_add_fetch(&app->threads_at_end, 1, __ATOMIC_RELAXED) == app->thread_cnt) {
        rill__log(app, thread->idx, "end of the input: every window and item closed, stopping");
        rill_app_stop(app);
    }
}
