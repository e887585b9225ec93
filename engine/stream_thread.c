/*
 * stream_thread.c — a stream thread: its consumer and producer and the loop that polls
 * records, hands them to tasks, runs the tasks and commits.
 *
 * DESIGN
 * One loop iteration: poll a batch (waiting up to poll.ms only when no task has work, so the
 * thread never busy-waits and never sleeps with work queued); append each record to its
 * task's partition queue; run every task for a bounded number of records, then pause a
 * partition whose queue is still at buffered.records.per.partition and resume it at half
 * (a pause holds its next fetches back in librdkafka, see set_paused); serve producer delivery
 * reports; commit when commit.interval.ms has passed. All librdkafka callbacks of this thread's
 * clients run here. A fenced producer (exactly-once) makes the thread drop its tasks, make a new
 * producer and rejoin the group.
 */
#include "engine_int.h"
#include "stores_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_BATCH 1024
#define PROCESS_BATCH 2048
#define DRAIN_MS 10000 /* how long a clean stop waits for function results */

_Static_assert(offsetof(rill__thread_t, log) == 0, "its clients' opaque: logger first");

static rd_kafka_t *consumer_new(rill__thread_t *thread, char *errstr, size_t errstr_size) {
    rill_app_t *app = thread->app;
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_CONSUMER, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return NULL;
    char instance[256];
    const char *props[][2] = {
        {"group.id", app->set.application_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"partition.assignment.strategy", "range"},
        {"isolation.level", rill__isolation_level(app)},
        {"enable.partition.eof", app->set.exit_on_end ? "true" : "false"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, errstr_size)) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    /* Defaults a user may override: read from the start like Kafka Streams, and a bounded
     * pre-fetch. */
    static const char *const defaults[][2] = {{"auto.offset.reset", "earliest"}};
    rill__conf_consumer_defaults(app->conf, kc, defaults, 1);
    rill__consumer_prefetch_defaults(app, kc);
    if (app->set.group_instance_id) {
        snprintf(instance, sizeof(instance), "%s-%d", app->set.group_instance_id, thread->idx);
        rd_kafka_conf_set(kc, "group.instance.id", instance, NULL, 0);
    }
    rd_kafka_conf_set_opaque(kc, thread);
    rd_kafka_conf_set_rebalance_cb(kc, rill__rebalance_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static int subscribe(rill__thread_t *thread) {
    rill_topology_t *topo = thread->app->topo;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(8);
    for (int s = 0; s < topo->sub_cnt; s++)
        for (int t = 0; t < topo->subs[s].topic_cnt; t++)
            rd_kafka_topic_partition_list_add(topics, topo->subs[s].topics[t],
                                              RD_KAFKA_PARTITION_UA);
    int cnt = topics->cnt;
    rd_kafka_resp_err_t err = rd_kafka_subscribe(thread->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (!err) {
        rill__log(thread->app, thread->idx, "joining group %s (%d topic(s))",
                  thread->app->set.application_id, cnt);
        thread->wait_since_ms = rill__now_ms();
        thread->wait_logged_ms = 0;
    }
    if (err) {
        rill__app_fatal(thread->app, RILL_ERR_KAFKA, "thread %d: subscribe: %s", thread->idx,
                        rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Routes a partition's fetch queue into the consumer's queue, or holds it back (NULL). */
static void route_partition(rill__thread_t *thread, const char *topic, int32_t partition,
                            rd_kafka_queue_t *to) {
    rd_kafka_queue_t *q = rd_kafka_queue_get_partition(thread->consumer, topic, partition);
    if (!q)
        return;
    rd_kafka_queue_forward(q, to);
    rd_kafka_queue_destroy(q);
}

/* A pause holds the partition's next fetches back in librdkafka (its queue no longer feeds
 * the consumer's) instead of pausing librdkafka's fetch, which drops what was fetched and
 * asks the broker again on resume: a round trip during which the task has no input (the
 * FaaS stage's plateau, bench/RESULTS.md). librdkafka stops fetching a held-back partition
 * once it holds queued.min.messages or queued.max.messages.kbytes, as before; records it had
 * already handed to the consumer's queue still join the task's queue. */
static void set_paused(rill__thread_t *thread, rill__pq_t *pq, bool paused) {
    route_partition(thread, pq->topic, pq->partition, paused ? NULL : thread->consumer_queue);
    pq->paused = paused;
    if (paused)
        rill__metric_add(&thread->metrics, RILL_M_PAUSES, 1);
}

void rill__thread_route_all(rill__thread_t *thread, const rd_kafka_topic_partition_list_t *parts) {
    for (int i = 0; parts && i < parts->cnt; i++)
        route_partition(thread, parts->elems[i].topic, parts->elems[i].partition,
                        thread->consumer_queue);
}

void rill__thread_pause_update(rill__thread_t *thread, rill__pq_t *pq) {
    bool want = pq->full || pq->ahead;
    if (want != pq->paused)
        set_paused(thread, pq, want);
}

/* Hands one polled message to its task; takes ownership of msg. */
static void dispatch(rill__thread_t *thread, rd_kafka_message_t *msg) {
    rill__dispatch_cache_t *c = &thread->cache;
    if (c->rkt != msg->rkt || c->partition != msg->partition || !c->task) {
        c->task =
            rill__thread_task_for(thread, rd_kafka_topic_name(msg->rkt), msg->partition, &c->pq);
        c->rkt = msg->rkt;
        c->partition = msg->partition;
        if (!c->task) {
            /* A partition we no longer own (revoked meanwhile): its next owner reads the
             * record again from the committed offset. */
            rd_kafka_message_destroy(msg);
            return;
        }
    }
    rill__pq_t *pq = c->pq;
    pq->at_end = pq->end_mark = pq->end_marked = false;
    if (pq->commit_offset < 0)
        pq->commit_offset = msg->offset; /* the rewind point until the first commit */
    rill__task_enqueue(c->task, pq, msg);
}

static void handle_consumer_error(rill__thread_t *thread, const rd_kafka_message_t *msg) {
    rill_app_t *app = thread->app;
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL ||
        msg->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        rill__app_fatal(app, RILL_ERR_KAFKA, "thread %d: consumer: %s%s%s", thread->idx,
                        rd_kafka_message_errstr(msg), msg->rkt ? " (topic " : "",
                        msg->rkt ? rd_kafka_topic_name(msg->rkt) : "");
        return;
    }
    rill__log_at(app, RILL__LOG_WARN, thread->idx, "consumer: %s", rd_kafka_message_errstr(msg));
}

static size_t caches_bytes(rill__thread_t *thread) {
    size_t bytes = 0;
    for (int i = 0; i < thread->task_cnt; i++)
        bytes += rill__task_cache_bytes(thread->tasks[i]);
    return bytes;
}

/* True when the stores' write caches hold more than statestore.cache.max.bytes once their
 * clean entries (what commits applied, kept for reads) are evicted: the thread then commits
 * early, which makes the rest clean too. */
static bool caches_full(rill__thread_t *thread) {
    size_t max = (size_t)thread->app->set.cache_max_bytes;
    size_t bytes = caches_bytes(thread);
    thread->cache_bytes_dirty = false;
    for (int i = 0; bytes > max && i < thread->task_cnt; i++)
        if (rill__task_evict_store_caches(thread->tasks[i]))
            return false; /* fatal set */
    if (bytes > max)
        bytes = caches_bytes(thread);
    rill__metric_set(&thread->metrics, RILL_M_CACHE_BYTES, (int64_t)bytes);
    return bytes > max;
}

/* How long the next poll may wait: not at all when a task can run queued records; briefly
 * when the only queued records wait for a lagging partition; else poll.ms. Tasks held back by
 * a full async node do not count: its completions wake the thread (docs/DESIGN.md, invariant 6: no
 * busy wait). */
static int poll_timeout(rill__thread_t *thread) {
    bool waiting = false;
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        if (!rill__task_buffered(task) || rill__task_blocked(task))
            continue;
        if (!task->waiting)
            return 0;
        waiting = true;
    }
    return waiting ? 5 : thread->app->set.poll_ms;
}

static size_t total_buffered(rill__thread_t *thread) {
    size_t n = 0;
    for (int i = 0; i < thread->task_cnt; i++)
        n += rill__task_buffered(thread->tasks[i]);
    return n;
}

static void poll_records(rill__thread_t *thread, int timeout_ms) {
    for (int n = 0; n < POLL_BATCH; n++) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(thread->consumer, n ? 0 : timeout_ms);
        if (!msg)
            break;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rill__pq_t *pq = NULL;
            if (rill__thread_task_for(thread, rd_kafka_topic_name(msg->rkt), msg->partition, &pq))
                pq->at_end = true;
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (msg->err) {
            handle_consumer_error(thread, msg);
            rd_kafka_message_destroy(msg);
            continue;
        }
        rill__metric_add(&thread->metrics, RILL_M_CONSUMED, 1);
        dispatch(thread, msg);
    }
}

/* How long a thread waits for an assignment before it says so, and then how often. */
#define WAIT_FIRST_MS 3000
#define WAIT_EVERY_MS 10000

/* Says that the thread still waits for partitions, and for how long: the group's rebalance
 * waits for every member it knows to join again, a member that went away without leaving
 * included, until that member's session times out. */
static void log_waiting(rill__thread_t *thread) {
    if (!thread->wait_since_ms)
        return;
    int64_t now = rill__now_ms();
    int64_t due = thread->wait_logged_ms ? thread->wait_logged_ms + WAIT_EVERY_MS
                                         : thread->wait_since_ms + WAIT_FIRST_MS;
    if (now < due)
        return;
    thread->wait_logged_ms = now;
    rill__log(thread->app, thread->idx,
              "waiting for assignment from group %s for %" PRId64
              " s (the group waits for every member to rejoin; one that stopped without "
              "leaving is waited for until its session times out)",
              thread->app->set.application_id, (now - thread->wait_since_ms) / 1000);
}

/* After an assignment: "restoring N store(s)" before the tasks open their stores, then
 * "running" once every task is ready. before: called ahead of running the tasks. */
static void log_readiness(rill__thread_t *thread, bool before) {
    if (!thread->announce)
        return;
    rill_topology_t *topo = thread->app->topo;
    int stores = 0, pending = 0;
    for (int i = 0; i < thread->task_cnt; i++) {
        const rill__task_t *task = thread->tasks[i];
        if (task->initialized)
            continue;
        pending++;
        for (int s = 0; s < topo->store_cnt; s++)
            stores += topo->stores[s]->sub == task->sub;
    }
    if (before) {
        if (stores && !thread->restoring_logged)
            rill__log(thread->app, thread->idx, "restoring %d store(s) of %d task(s)", stores,
                      pending);
        thread->restoring_logged |= stores > 0;
        return;
    }
    if (pending)
        return;
    thread->announce = false;
    rill__log(thread->app, thread->idx, "running: %d task(s)", thread->task_cnt);
}

/* Runs every task for a bounded number of records, then pauses the partitions whose queue
 * is still at or above the bound (processing is slower than fetching) and resumes those that
 * drained to half of it. Checking after processing, not on arrival, avoids pausing a
 * partition just because one fetch brought many records. */
static void run_tasks(rill__thread_t *thread) {
    size_t high = (size_t)thread->app->set.buffered_records_per_partition;
    thread->poll_wait_ms = INT32_MAX;
    log_readiness(thread, true);
    /* Every new task's stores restore together (their changelogs read at once) before any
     * of them runs: a task would otherwise restore alone when it first runs. */
    if (rill__thread_open_stores(thread))
        return;
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        rill__task_process(task, PROCESS_BATCH);
        if (task->has_async) {
            int wait = rill__task_poll(task);
            if (wait < thread->poll_wait_ms)
                thread->poll_wait_ms = wait;
        }
        if (task->sched_cnt) {
            int wait = rill__task_punctuate_wall(task);
            if (wait < thread->poll_wait_ms)
                thread->poll_wait_ms = wait;
        }
        rill__task_progress(task);
        for (int p = 0; p < task->pq_cnt; p++) {
            rill__pq_t *pq = &task->pqs[p];
            if (!pq->full && pq->cnt >= high)
                pq->full = true;
            else if (pq->full && pq->cnt <= high / 2)
                pq->full = false;
            rill__thread_pause_update(thread, pq);
        }
    }
    rill__progress_align(thread);
    log_readiness(thread, false);
}

/* Replaces the producer (its topic handles too; nothing else may hold one). Returns 0 or
 * -1 after stopping the app with err. */
static int new_producer(rill__thread_t *thread, rill_err_t err) {
    rill_app_t *app = thread->app;
    char errstr[512];
    rd_kafka_topic_destroy(thread->dlq_rkt);
    thread->dlq_rkt = NULL;
    rd_kafka_destroy(thread->producer);
    thread->txn_open = false;
    thread->producer = rill__producer_new(thread, errstr, sizeof(errstr));
    if (!thread->producer) {
        rill__app_fatal(app, err, "thread %d: new producer: %s", thread->idx, errstr);
        return -1;
    }
    thread->dlq_rkt = rd_kafka_topic_new(thread->producer, app->set.dlq_topic, NULL);
    return 0;
}

/* After a fence: new producer, no tasks, rejoin. Returns 0 or -1 (fatal). */
static int recover_from_fence(rill__thread_t *thread) {
    rill_app_t *app = thread->app;
    rill__log_at(app, RILL__LOG_WARN, thread->idx,
                 "producer fenced: dropping tasks and rejoining the group");
    rill__thread_drop_tasks(thread);
    rd_kafka_unsubscribe(thread->consumer);
    if (new_producer(thread, RILL_ERR_FENCED))
        return -1;
    thread->fenced = false;
    return subscribe(thread);
}

int rill__thread_renew_producer(rill__thread_t *thread) {
    rill__log(thread->app, thread->idx,
              "a new producer for the topics' size limits as they "
              "are now");
    return new_producer(thread, RILL_ERR_KAFKA);
}

void rill__thread_wake(void *opaque) {
    rill__thread_t *thread = opaque;
    /* Not while the consumer closes: a yield would cut its wait for the group short, and
     * rd_kafka_destroy() would then wait for a reply that never comes. */
    if (!__atomic_load_n(&thread->closing, __ATOMIC_ACQUIRE))
        rd_kafka_queue_yield(thread->consumer_queue);
}

void rill__thread_adopt(rill__thread_t *thread, void *obj, int (*reap)(void *obj)) {
    rill__orphan_t *o = malloc(sizeof(*o));
    if (!o) {
        rill__app_fatal(thread->app, RILL_ERR_NOMEM, "thread %d: out of memory", thread->idx);
        return;
    }
    o->obj = obj;
    o->reap = reap;
    o->next = thread->orphans;
    thread->orphans = o;
}

/* Frees the adopted work that has finished. With wait_ms > 0, waits up to that long for all
 * of it (shutdown). */
static void reap_orphans(rill__thread_t *thread, int wait_ms) {
    int64_t until = rill__now_ms() + wait_ms;
    do {
        for (rill__orphan_t **op = &thread->orphans; *op;) {
            rill__orphan_t *o = *op;
            if (o->reap(o->obj)) {
                *op = o->next;
                free(o);
            } else {
                op = &o->next;
            }
        }
        if (thread->orphans && wait_ms > 0)
            rd_kafka_poll(thread->producer, 10);
    } while (thread->orphans && rill__now_ms() < until);
}

/* Once a second: the records in Kafka past the positions of the thread's partitions (what it
 * still has to read; records queued in tasks are in rill_buffered_records), per partition
 * for the metrics (thread_status.c). */
#define LAG_EVERY_MS 1000

static void update_lag(rill__thread_t *thread) {
    int64_t now = rill__now_ms();
    if (now - thread->lag_checked_ms < LAG_EVERY_MS)
        return;
    thread->lag_checked_ms = now;
    rill__status_lag(thread);
}

int rill__thread_poll_async(rill__thread_t *thread, int *wait_ms) {
    int pending = 0;
    for (int i = 0; i < thread->task_cnt; i++) {
        rill__task_t *task = thread->tasks[i];
        if (!task->has_async || !rill__task_async_pending(task))
            continue;
        int w = rill__task_poll(task);
        if (wait_ms && w < *wait_ms)
            *wait_ms = w;
        pending += rill__task_async_pending(task);
    }
    return pending;
}

/* Gives asynchronous nodes up to drain_ms to release what they hold before the final commit
 * of a clean stop. Input is paused; records still arriving are dropped (not committed, so
 * read again on the next start). */
static void drain_async(rill__thread_t *thread, int drain_ms) {
    int64_t until = rill__now_ms() + drain_ms;
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(thread->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_pause_partitions(thread->consumer, assigned);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
    for (;;) {
        int wait = 100;
        if (!rill__thread_poll_async(thread, &wait) || rill__now_ms() >= until)
            break;
        if (thread->producer)
            rd_kafka_poll(thread->producer, 0);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(thread->consumer, wait);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
}

static void *thread_main(void *arg) {
    rill__thread_t *thread = arg;
    rill_app_t *app = thread->app;
    thread->last_commit_ms = rill__now_ms();
    if (subscribe(thread))
        return NULL;
    while (!rill__app_stopping(app)) {
        int64_t until_commit =
            thread->last_commit_ms + app->set.commit_interval_ms - rill__now_ms();
        int timeout = poll_timeout(thread);
        if (thread->poll_wait_ms < timeout)
            timeout = thread->poll_wait_ms;
        if (until_commit < timeout)
            timeout = until_commit > 0 ? (int)until_commit : 0;
        poll_records(thread, timeout);
        run_tasks(thread);
        rill__inbox_serve(thread);
        rill__hosts_publish(thread);
        rd_kafka_poll(thread->producer, 0);
        if (thread->orphans)
            reap_orphans(thread, 0);
        rill__metric_set(&thread->metrics, RILL_M_BUFFERED, (int64_t)total_buffered(thread));
        update_lag(thread);
        if (thread->cache_bytes_dirty && caches_full(thread))
            thread->commit_now = true;
        if (thread->commit_now ||
            rill__now_ms() - thread->last_commit_ms >= app->set.commit_interval_ms) {
            rill__thread_commit(thread);
            thread->cache_bytes_dirty = true; /* the gauge is to show what the commit left */
        }
        if (thread->fenced && recover_from_fence(thread))
            break;
        if (app->set.exit_on_end)
            rill__thread_check_end(thread);
        log_waiting(thread);
    }
    rill__log(app, thread->idx, "stopping: committing and leaving group %s",
              app->set.application_id);
    /* Clean shutdown: commit what was processed, then leave (revocation commits again, which
     * finds nothing new). */
    if (!thread->fenced) {
        drain_async(thread, DRAIN_MS);
        rill__thread_commit(thread);
    }
    __atomic_store_n(&thread->closing, 1, __ATOMIC_RELEASE);
    rd_kafka_consumer_close(thread->consumer);
    rill__thread_drop_tasks(thread);
    rill__inbox_close(thread);
    rill__hosts_publish(thread); /* no tasks any more */
    reap_orphans(thread, 30000);
    if (!thread->fenced && thread->producer)
        rd_kafka_flush(thread->producer, 30000);
    return NULL;
}

int rill__thread_start(rill__thread_t *thread, char *errstr, size_t errstr_size) {
    rill_app_t *app = thread->app;
    rill__status_init(thread);
    rill__inbox_init(thread);
    if (!(thread->producer = rill__producer_new(thread, errstr, errstr_size)))
        return -1;
    thread->dlq_rkt = rd_kafka_topic_new(thread->producer, app->set.dlq_topic, NULL);
    if (!(thread->consumer = consumer_new(thread, errstr, errstr_size)))
        return -1;
    thread->consumer_queue = rd_kafka_queue_get_consumer(thread->consumer);
    if (pthread_create(&thread->tid, NULL, thread_main, thread)) {
        snprintf(errstr, errstr_size, "cannot start stream thread %d", thread->idx);
        return -1;
    }
    thread->started = true;
    return 0;
}

void rill__thread_join(rill__thread_t *thread) {
    if (thread->started)
        pthread_join(thread->tid, NULL);
    thread->started = false;
    if (thread->dlq_rkt)
        rd_kafka_topic_destroy(thread->dlq_rkt);
    if (thread->consumer_queue)
        rd_kafka_queue_destroy(thread->consumer_queue);
    rill__thread_state_free(thread); /* and its restore consumer */
    thread->consumer_queue = NULL;
    if (thread->consumer)
        rd_kafka_destroy(thread->consumer);
    if (thread->producer)
        rd_kafka_destroy(thread->producer);
    thread->dlq_rkt = NULL;
    thread->consumer = thread->producer = NULL;
    rill_buf_free(&thread->scratch);
    free(thread->sub_level);
    rill__refused_free(thread);
    thread->sub_level = NULL;
    rill_buf_free(&thread->key_scratch);
}
