/*
 * stores.c — the engine as the state module's host: it fills in the host interface of
 * state_host_int.h from the app, its stream threads and its tasks, and runs the tasks'
 * stores through it.
 *
 * DESIGN
 * The app's state object is made on first use (the test driver sets its state directory
 * after rill_app_new) under the app lock, from the app's settings, which are read-only by
 * then; it owns the RocksDB database and the state directory's lock, and is freed with the
 * app. A stream thread's state part is made by the thread on its first restore and freed
 * when the thread is joined; it owns the restore consumer, made from rill__reader_conf with
 * the restore's fetch settings. A task's changelog records go out through its thread's
 * producer with their store's declaration as the delivery-report opaque; the report finds
 * the task by partition and hands the token back (rill__stores_delivered). Every callback
 * but the process's (fatal, stopping, partitions, topic creation, restore configuration)
 * runs on the stream thread that owns the task.
 */
#include "admin_int.h"
#include "stores_int.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- the process ---- */

static void host_fatal(void *opaque, rill_err_t err, const char *msg) {
    rill__app_fatal(opaque, err, "%s", msg);
}

static bool host_stopping(void *opaque) {
    return rill__app_stopping(opaque);
}

static int host_partitions(void *opaque, int sub, char *errstr, size_t errstr_size) {
    return rill__app_sub_partitions(opaque, sub, errstr, errstr_size);
}

static rill_err_t host_create_topic(void *opaque, const char *topic, int partitions,
                                    const char *const *config, char *errstr, size_t errstr_size) {
    return rill__app_create_topic_config(opaque, topic, partitions, config, errstr, errstr_size);
}

static rd_kafka_conf_t *host_restore_conf(void *opaque, char *errstr, size_t errstr_size) {
    rill_app_t *app = opaque;
    rd_kafka_conf_t *kc = rill__reader_conf(app, "restore", errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_conf_set(kc, "fetch.wait.max.ms", "50", NULL, 0);
    /* librdkafka 2.0 stops fetching a partition for a whole second once its queue passes
     * queued.min.messages or queued.max.messages.kbytes: with its 100k messages, a restore
     * (faster than 100k records a second per partition) waited on those pauses half of the
     * time. The queue is bounded by bytes instead, as the stream thread's (unless set). */
    static const char *const prefetch[][2] = {
        {"queued.min.messages", "10000000"},
        {"queued.max.messages.kbytes", "16384"},
    };
    rill__conf_consumer_defaults(app->conf, kc, prefetch, sizeof(prefetch) / sizeof(prefetch[0]));
    return kc;
}

static void host_restored(void *thread_opaque, int64_t records) {
    rill__thread_t *thread = thread_opaque;
    rill__metric_add(&thread->metrics, RILL_M_RESTORED, records);
}

static void host_restore_left(void *thread_opaque, int64_t records) {
    rill__thread_t *thread = thread_opaque;
    rill__metric_set(&thread->metrics, RILL_M_RESTORE_LAG, records);
}

rill__state_t *rill__app_state(rill_app_t *app) {
    pthread_mutex_lock(&app->lock);
    if (!app->state) {
        rill__state_host_t host = {
            .application_id = app->set.application_id,
            .state_dir = app->set.state_dir,
            .db_opts = {.block_cache_bytes = (size_t)app->set.block_cache_bytes,
                        .write_buffer_bytes = (size_t)app->set.write_buffer_bytes,
                        .max_write_buffers = app->set.max_write_buffers},
            .log = app->log,
            .opaque = app,
            .fatal = host_fatal,
            .stopping = host_stopping,
            .partitions = host_partitions,
            .create_topic = host_create_topic,
            .restore_conf = host_restore_conf,
            .restored = host_restored,
            .restore_left = host_restore_left,
        };
        app->state = rill__state_new(&host);
    }
    rill__state_t *state = app->state;
    pthread_mutex_unlock(&app->lock);
    if (!state)
        rill__app_fatal(app, RILL_ERR_NOMEM, "state: out of memory");
    return state;
}

rill__db_t *rill__app_db(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill__state_t *state = rill__app_state(app);
    if (!state) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return rill__state_db(state, errstr, errstr_size);
}

rill_err_t rill__app_create_changelogs(rill_app_t *app, char *errstr, size_t errstr_size) {
    if (!app->topo->store_cnt)
        return RILL_OK; /* a stateless app makes no state object */
    rill__state_t *state = rill__app_state(app);
    if (!state)
        return RILL_ERR_NOMEM;
    return rill__state_create_changelogs(state, app->topo->stores, app->topo->store_cnt, errstr,
                                         errstr_size);
}

/* ---- a task ---- */

static void *task_topic_new(void *opaque, const char *topic) {
    rill__task_t *task = opaque;
    return rd_kafka_topic_new(task->thread->producer, topic, NULL);
}

static void task_topic_free(void *opaque, void *topic) {
    rd_kafka_topic_destroy(topic);
}

static int task_produce(void *opaque, void *topic, int32_t partition, const void *key,
                        size_t key_len, const void *value, size_t value_len, void *token) {
    rill__task_t *task = opaque;
    return rill__produce_opaque(task->thread, topic, partition, key, key_len, value, value_len, 0,
                                NULL, token);
}

static void task_dirty(void *opaque) {
    rill__task_t *task = opaque;
    task->thread->cache_bytes_dirty = true;
}

static const rill__task_host_t task_host = {
    .topic_new = task_topic_new,
    .topic_free = task_topic_free,
    .produce = task_produce,
    .dirty = task_dirty,
};

int rill__task_stores_init(rill__task_t *task) {
    if (!(task->stores = calloc(1, sizeof(*task->stores))))
        return -1;
    *task->stores = (rill__task_stores_t){.host = &task_host,
                                          .opaque = task,
                                          .id = task->id,
                                          .sub = task->sub,
                                          .partition = task->partition,
                                          /* the test driver's thread has no producer */
                                          .logged = !task->thread->local};
    return 0;
}

/* The thread's state part, made on first use. NULL: fatal set. */
static rill__state_thread_t *thread_state(rill__thread_t *thread) {
    rill__state_t *state = rill__app_state(thread->app);
    if (state && !thread->state &&
        !(thread->state = rill__state_thread_new(state, thread->idx, thread)))
        rill__app_fatal(thread->app, RILL_ERR_NOMEM, "state: out of memory");
    return thread->state;
}

void rill__thread_state_free(rill__thread_t *thread) {
    rill__state_thread_free(thread->state);
    thread->state = NULL;
}

static int open_tasks(rill__thread_t *thread, rill__task_stores_t **tasks, int n) {
    rill__state_thread_t *st = thread_state(thread);
    rill_topology_t *topo = thread->app->topo;
    return st ? rill__stores_open(st, tasks, n, topo->stores, topo->store_cnt) : -1;
}

int rill__task_open_stores(rill__task_t *task) {
    rill__task_stores_t *ts = task->stores;
    return ts->open ? 0 : open_tasks(task->thread, &ts, 1);
}

int rill__thread_open_stores(rill__thread_t *thread) {
    rill__task_stores_t **all = NULL;
    int n = 0;
    if (thread->task_cnt && !(all = malloc(sizeof(*all) * (size_t)thread->task_cnt))) {
        rill__app_fatal(thread->app, RILL_ERR_NOMEM, "restore: out of memory");
        return -1;
    }
    for (int t = 0; t < thread->task_cnt; t++)
        if (!thread->tasks[t]->initialized && !thread->tasks[t]->stores->open)
            all[n++] = thread->tasks[t]->stores;
    int rc = n ? open_tasks(thread, all, n) : 0;
    free(all);
    return rc;
}

int rill__task_log_stores(rill__task_t *task) {
    return rill__stores_log(task->stores);
}

int rill__task_apply_stores(rill__task_t *task) {
    return rill__stores_apply(task->stores);
}

void rill__task_drop_store_caches(rill__task_t *task) {
    rill__stores_drop_caches(task->stores);
}

void rill__task_close_stores(rill__task_t *task) {
    rill__stores_close(task->stores);
}

void rill__task_stores_free(rill__task_t *task) {
    if (task->stores)
        rill__stores_close(task->stores);
    free(task->stores);
    task->stores = NULL;
}

int rill__task_evict_store_caches(rill__task_t *task) {
    return rill__stores_evict_clean(task->stores);
}

/* The stores' write caches and the nodes' record caches (rill__operator_t.cache_bytes): what
 * statestore.cache.max.bytes bounds together. */
size_t rill__task_cache_bytes(const rill__task_t *task) {
    size_t bytes = rill__stores_cache_bytes(task->stores);
    const rill_topology_t *topo = task->thread->app->topo;
    for (int i = 0; task->initialized && i < topo->node_cnt; i++) {
        const rill__node_t *node = topo->nodes[i];
        if (node->subtopology == task->sub && node->op->cache_bytes && task->state[i])
            bytes += node->op->cache_bytes(task->state[i]);
    }
    return bytes;
}

rill__store_t *rill__ctx_store(rill_ctx_t *ctx, const char *name) {
    return rill__task_store(ctx->task, name);
}

rill__store_t *rill__task_store(rill__task_t *task, const char *name) {
    return rill__stores_find(task->stores, name);
}

void rill__thread_store_delivered(rill__thread_t *thread, const rd_kafka_message_t *msg) {
    for (int t = 0; t < thread->task_cnt; t++)
        rill__stores_delivered(thread->tasks[t]->stores, msg->_private, msg->partition,
                               msg->offset);
}
