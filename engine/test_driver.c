/*
 * test_driver.c — the topology test driver (include/rill.h, "Testing"): a topology run in
 * this process with no broker and no Kafka client, on the same tasks, operators and RocksDB
 * stores as an app.
 *
 * DESIGN
 * The driver is an app that is never started (rill_app_new validates the configuration and
 * freezes the topology; no client exists before rill_app_start) plus one thread of its own
 * that has no consumer and no producer: its rill__local_t (engine_int.h) is the seam. Sinks
 * and dead letters hand their records to capture() below instead of the producer, stores skip
 * their changelog, and wall-clock punctuators read the driver's clock. Each sub-topology gets
 * one task, for partition 0 (every topic has one partition here), created and initialised
 * (stores opened in a fresh temporary state directory, punctuators scheduled) at creation.
 *
 * A piped record goes through rill__task_process_input(), the stream thread's per-record path
 * without the queue: decoding, the timestamp extractor, progress, the nodes, dead letters and
 * stream-time punctuation. Every input partition is marked idle (caught up: all piped records
 * are processed before the next is piped), so a task's progress, hence its stream time, is the
 * largest timestamp of its inputs (progress.c takes the largest when every input is idle).
 * After each record and each wall-clock advance the task commits as a thread would, minus
 * Kafka: operators flush (rill__task_flush), then the stores' writes reach RocksDB
 * (rill__task_apply_stores); there is no changelog to log to.
 *
 * What needs Kafka between tasks is refused at creation: a topic the topology both writes and
 * reads (repartition topics, sink topics read by another node: in an app their records and
 * progress markers go through Kafka), FaaS stages (the bridge thread, functions) and global
 * tables (their reader is a consumer).
 */
#define _GNU_SOURCE /* nftw's flags */
#include "engine_int.h"
#include "global_int.h"
#include "stores_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record a sink or the dead-letter topic wrote. */
typedef struct out_rec_s {
    struct out_rec_s *next;
    char *topic;
    void *key, *value; /* NULL when the record had none */
    size_t key_len, value_len;
    int64_t timestamp;
    rd_kafka_headers_t *hdrs;
} rill__out_rec_t;

struct rill_test_driver_s {
    rill_app_t *app;
    rill__thread_t thread;
    rill__local_t local;
    rill__task_t **tasks;         /* per sub-topology */
    rill__out_rec_t *head, *tail; /* written, not yet read, in write order */
    rill__out_rec_t *last;        /* handed out by the last read */
    char state_dir[256];
    char error[1024]; /* why the driver failed or stopped */
};

static void out_free(rill__out_rec_t *r) {
    if (!r)
        return;
    free(r->topic);
    free(r->key);
    free(r->value);
    if (r->hdrs)
        rd_kafka_headers_destroy(r->hdrs);
    free(r);
}

static void *dup_bytes(const void *p, size_t len) {
    if (!p)
        return NULL;
    void *d = malloc(len ? len : 1);
    if (d && len)
        memcpy(d, p, len);
    return d;
}

/* rill__local_t.output: keeps a copy of the record. */
static int capture(void *opaque, const char *topic, int32_t partition, const void *key,
                   size_t key_len, const void *value, size_t value_len, int64_t timestamp,
                   const rd_kafka_headers_t *hdrs) {
    rill_test_driver_t *drv = opaque;
    rill__out_rec_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->topic = strdup(topic);
    r->key = dup_bytes(key, key_len);
    r->value = dup_bytes(value, value_len);
    r->key_len = key ? key_len : 0;
    r->value_len = value ? value_len : 0;
    r->timestamp = timestamp;
    if (hdrs && rd_kafka_header_cnt(hdrs))
        r->hdrs = rd_kafka_headers_copy(hdrs);
    if (!r->topic || (key && !r->key) || (value && !r->value)) {
        out_free(r);
        return -1;
    }
    if (drv->tail)
        drv->tail->next = r;
    else
        drv->head = r;
    drv->tail = r;
    return 0;
}

/* What the driver cannot run, written to errstr; 0 when it can run topo. */
static int refuse(const rill_topology_t *topo, char *errstr, size_t errstr_size) {
    if (topo->global_cnt) {
        snprintf(errstr, errstr_size,
                 "the test driver cannot run global tables (global table "
                 "of store \"%s\": its reader needs Kafka)",
                 rill__global_store_name(topo->globals[0]));
        return -1;
    }
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *node = topo->nodes[i];
        if (node->op->poll) {
            snprintf(errstr, errstr_size,
                     "the test driver cannot run node \"%s\" (%s): an "
                     "asynchronous stage calls functions",
                     node->name, node->op->kind);
            return -1;
        }
        if (node->kind != RILL_NODE_SINK)
            continue;
        const rill__node_t *reader = rill__topology_source_for(topo, node->sink.topic);
        if (reader) {
            snprintf(errstr, errstr_size,
                     "the test driver cannot run topic \"%s\", which the "
                     "topology writes (sink \"%s\") and reads (source \"%s\"): repartition "
                     "and linked topics go through Kafka",
                     node->sink.topic, node->name, reader->name);
            return -1;
        }
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

/* Marks every input partition caught up (see the top of the file). */
static void inputs_idle(rill__task_t *task) {
    for (int i = 0; i < task->pq_cnt; i++)
        task->pqs[i].idle = true;
}

/* Makes the task of sub-topology s with its input partitions, and initialises it. */
static rill__task_t *task_make(rill_test_driver_t *drv, int s, char *errstr, size_t errstr_size) {
    rill__subtopology_t *sub = &drv->app->topo->subs[s];
    rill__task_t *task = rill__task_new(&drv->thread, s, 0);
    if (!task) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (int t = 0; t < sub->topic_cnt; t++)
        if (!rill__task_add_partition(task, sub->topics[t], 0)) {
            snprintf(errstr, errstr_size, "out of memory");
            rill__task_destroy(task);
            return NULL;
        }
    inputs_idle(task);
    rill__task_process(task, 0); /* opens the stores and initialises the nodes */
    if (!task->initialized) {
        snprintf(errstr, errstr_size, "task %s did not start: %s", task->id,
                 drv->app->fatal_msg[0] ? drv->app->fatal_msg : "out of memory");
        rill__task_destroy(task);
        return NULL;
    }
    return task;
}

rill_test_driver_t *rill_test_driver_new(rill_topology_t *topo, rill_conf_t *conf, char *errstr,
                                         size_t errstr_size) {
    rill_test_driver_t *drv = calloc(1, sizeof(*drv));
    if (!drv || !(drv->app = rill_app_new(topo, conf, errstr, errstr_size))) {
        if (!drv && errstr)
            snprintf(errstr, errstr_size, "out of memory");
        free(drv);
        return NULL;
    }
    rill_app_t *app = drv->app;
    /* Messages go to drv->error, then to errstr on failure. */
    char *why = drv->error;
    size_t why_size = sizeof(drv->error);
    const char *tmp = getenv("TMPDIR");
    snprintf(drv->state_dir, sizeof(drv->state_dir), "%s/rill-test-driver-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    drv->local = (rill__local_t){.output = capture, .opaque = drv};
    drv->thread.log = app->log;
    drv->thread.app = app;
    drv->thread.local = &drv->local;
    int rc = refuse(app->topo, why, why_size);
    if (!rc && !mkdtemp(drv->state_dir)) {
        snprintf(why, why_size, "cannot create the state directory %s: %s", drv->state_dir,
                 strerror(errno));
        drv->state_dir[0] = '\0';
        rc = -1;
    }
    if (!rc) {
        app->set.state_dir = drv->state_dir;
        drv->tasks = calloc((size_t)app->topo->sub_cnt + 1, sizeof(*drv->tasks));
        rc = drv->tasks ? 0 : -1;
        if (rc)
            snprintf(why, why_size, "out of memory");
    }
    for (int s = 0; !rc && s < app->topo->sub_cnt; s++)
        if (!(drv->tasks[s] = task_make(drv, s, why, why_size)))
            rc = -1;
    if (rc) {
        /* topo and conf stay the caller's on failure: the app gives them back. */
        for (int s = 0; drv->tasks && s < app->topo->sub_cnt; s++)
            rill__task_destroy(drv->tasks[s]);
        free(drv->tasks);
        drv->tasks = NULL;
        app->topo = NULL;
        app->conf = NULL;
        if (errstr)
            snprintf(errstr, errstr_size, "%s", why);
        rill_test_driver_destroy(drv);
        return NULL;
    }
    return drv;
}

/* Returns the app's fatal error, its message kept for rill_test_driver_error(), or RILL_OK. */
static rill_err_t check_fatal(rill_test_driver_t *drv) {
    return rill_app_wait(drv->app, drv->error, sizeof(drv->error));
}

/* The error of a driver that stopped (an app would have): the fatal one, else a state one. */
static rill_err_t stopped(rill_test_driver_t *drv) {
    rill_err_t err = check_fatal(drv);
    return err ? err : RILL_ERR_STATE;
}

/* Commits task as a thread would, without Kafka (see the top of the file). */
static rill_err_t commit(rill_test_driver_t *drv, rill__task_t *task) {
    const char *failed = rill__task_flush(task)          ? "flushing its operators"
                         : rill__task_apply_stores(task) ? "writing its stores"
                                                         : NULL;
    if (!failed)
        return RILL_OK;
    /* The first fatal error wins: a store's own, when it set one. */
    rill__app_fatal(drv->app, RILL_ERR_IO, "task %s: committing failed: %s", task->id, failed);
    return check_fatal(drv);
}

rill_err_t rill_test_driver_pipe(rill_test_driver_t *drv, const char *topic, const void *key,
                                 size_t key_len, const void *value, size_t value_len,
                                 int64_t ts_ms) {
    rill_record_t rec = {
        .key = key, .key_len = key_len, .value = value, .value_len = value_len, .timestamp = ts_ms};
    return rill_test_driver_pipe_record(drv, topic, &rec);
}

const rill__metrics_t *rill__test_driver_metrics(const rill_test_driver_t *drv) {
    return &drv->thread.metrics;
}

rill_err_t rill_test_driver_pipe_record(rill_test_driver_t *drv, const char *topic,
                                        const rill_record_t *rec) {
    if (!drv || !topic || !rec)
        return RILL_ERR_INVALID_ARG;
    if (rill__app_stopping(drv->app))
        return stopped(drv);
    rill__node_t *source = rill__topology_source_for(drv->app->topo, topic);
    rill__task_t *task = source ? drv->tasks[source->subtopology] : NULL;
    rill__pq_t *pq = task ? rill__task_find_pq(task, topic, 0) : NULL;
    if (!pq) {
        snprintf(drv->error, sizeof(drv->error), "no source of the topology reads topic \"%s\"",
                 topic);
        return RILL_ERR_INVALID_ARG;
    }
    int64_t offset = pq->next_offset < 0 ? 0 : pq->next_offset;
    rill__input_t in = {.key = rec->key,
                        .key_len = rec->key ? rec->key_len : 0,
                        .value = rec->value,
                        .value_len = rec->value ? rec->value_len : 0,
                        .timestamp = rec->timestamp,
                        .offset = offset,
                        .headers = (const rd_kafka_headers_t *)rec->headers};
    if (rill__task_process_input(task, pq, &in)) /* a dead-lettered record is processed */
        return stopped(drv);
    return commit(drv, task);
}

int rill_test_driver_read(rill_test_driver_t *drv, const char *topic, rill_record_t *out) {
    if (!drv || !topic || !out)
        return 0;
    out_free(drv->last);
    drv->last = NULL;
    rill__out_rec_t **pp = &drv->head, *prev = NULL;
    while (*pp && strcmp((*pp)->topic, topic)) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    rill__out_rec_t *r = *pp;
    if (!r)
        return 0;
    *pp = r->next;
    if (drv->tail == r)
        drv->tail = prev;
    r->next = NULL;
    drv->last = r;
    *out = (rill_record_t){.key = r->key,
                           .key_len = r->key_len,
                           .value = r->value,
                           .value_len = r->value_len,
                           .timestamp = r->timestamp,
                           .headers = (const rill_headers_t *)r->hdrs};
    return 1;
}

rill_err_t rill_test_driver_advance_wall_clock(rill_test_driver_t *drv, int64_t ms) {
    if (!drv || ms < 0)
        return RILL_ERR_INVALID_ARG;
    if (rill__app_stopping(drv->app))
        return stopped(drv);
    drv->local.wall_ms = rill__add_sat(drv->local.wall_ms, ms);
    for (int s = 0; s < drv->app->topo->sub_cnt; s++) {
        rill__task_punctuate_wall(drv->tasks[s]);
        rill_err_t err = commit(drv, drv->tasks[s]);
        if (err)
            return err;
    }
    return rill__app_stopping(drv->app) ? stopped(drv) : RILL_OK;
}

int64_t rill_test_driver_wall_clock(const rill_test_driver_t *drv) {
    return drv ? drv->local.wall_ms : 0;
}

/* The instance of the store called name, if it is of kind. */
static rill__store_t *find_store(rill_test_driver_t *drv, const char *name,
                                 rill__store_kind_t kind) {
    rill_topology_t *topo = drv->app->topo;
    for (int i = 0; name && i < topo->store_cnt; i++) {
        const rill__store_def_t *def = topo->stores[i];
        if (def->kind == kind && !strcmp(def->name, name))
            return rill__ctx_store(&drv->tasks[def->sub]->ctx, name);
    }
    return NULL;
}

int rill_test_driver_kv_get(rill_test_driver_t *drv, const char *store, const void *key,
                            size_t key_len, const void **valuep, size_t *lenp) {
    rill__store_t *st = drv ? find_store(drv, store, RILL_STORE_KV) : NULL;
    if (!st || !key || !valuep || !lenp)
        return RILL_ERR_INVALID_ARG;
    int rc = rill__kv_get(st, key, key_len, valuep, lenp);
    return rc < 0 ? RILL_ERR_IO : rc;
}

int rill_test_driver_window_get(rill_test_driver_t *drv, const char *store, const void *key,
                                size_t key_len, int64_t start_ms, const void **valuep,
                                size_t *lenp) {
    rill__store_t *st = drv ? find_store(drv, store, RILL_STORE_WINDOW) : NULL;
    if (!st || !key || !valuep || !lenp)
        return RILL_ERR_INVALID_ARG;
    int rc = rill__window_get(st, key, key_len, start_ms, valuep, lenp);
    return rc < 0 ? RILL_ERR_IO : rc;
}

const char *rill_test_driver_error(const rill_test_driver_t *drv) {
    return drv && drv->error[0] ? drv->error : NULL;
}

void rill_test_driver_destroy(rill_test_driver_t *drv) {
    if (!drv)
        return;
    for (int s = 0; drv->tasks && s < drv->app->topo->sub_cnt; s++)
        rill__task_destroy(drv->tasks[s]);
    free(drv->tasks);
    while (drv->head) {
        rill__out_rec_t *next = drv->head->next;
        out_free(drv->head);
        drv->head = next;
    }
    out_free(drv->last);
    rill_buf_free(&drv->thread.scratch);
    rill_buf_free(&drv->thread.key_scratch);
    rill__thread_state_free(&drv->thread);
    rill_app_destroy(drv->app); /* closes the database */
    if (drv->state_dir[0] && strstr(drv->state_dir, "rill-test-driver-"))
        nftw(drv->state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(drv);
}
