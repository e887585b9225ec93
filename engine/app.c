/*
 * app.c — the application lifecycle: create, start (broker, topics, threads), stop, wait,
 * destroy, and the fatal-error slot that any thread may fill.
 *
 * DESIGN
 * rill_app_new() only validates (configuration, topology); rill_app_start() does the I/O:
 * for a topology with state it checks and locks the state directory (state/state_dir.c); it
 * starts the embedded broker when no bootstrap.servers is given, or waits for a broker of
 * a real Kafka to answer (startup.c), checks that every topic the app reads or writes exists
 * (naming all missing ones at once; creating them on the embedded broker) and that
 * co-partitioned inputs agree on their partition counts (docs/DESIGN.md, invariant 2), creates the
 * internal topics, sets up progress tracking (progress.c), then starts the stream threads. Stopping
 * is a flag that threads check at least every poll.ms; the first fatal error stops every
 * thread and is what rill_app_wait() returns.
 */
#include "engine_int.h"
#include "admin_int.h"
#include "global_int.h"
#include "stores_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(offsetof(rill_app_t, log) == 0, "the admin client's opaque: logger first");

void rill__log(const rill_app_t *app, int thread_idx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rill__vlogf(app->log, RILL__LOG_INFO, thread_idx, fmt, ap);
    va_end(ap);
}

void rill__log_at(const rill_app_t *app, int level, int thread_idx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rill__vlogf(app->log, level, thread_idx, fmt, ap);
    va_end(ap);
}

void rill__app_fatal(rill_app_t *app, rill_err_t err, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&app->lock);
    int first = app->fatal == RILL_OK;
    if (first) {
        app->fatal = err;
        snprintf(app->fatal_msg, sizeof(app->fatal_msg), "%s", msg);
    }
    pthread_mutex_unlock(&app->lock);
    if (first)
        rill__log_at(app, RILL__LOG_ERROR, -1, "fatal: %s", msg);
    rill_app_stop(app);
}

bool rill__app_stopping(const rill_app_t *app) {
    return __atomic_load_n(&app->stopping, __ATOMIC_RELAXED) != 0;
}

rill_app_t *rill_app_new(rill_topology_t *topo, rill_conf_t *conf, char *errstr,
                         size_t errstr_size) {
    char scratch[16];
    if (!errstr) {
        errstr = scratch;
        errstr_size = sizeof(scratch);
    }
    if (!topo || !conf) {
        snprintf(errstr, errstr_size, "rill_app_new: topology and configuration are required");
        return NULL;
    }
    rill_app_t *app = calloc(1, sizeof(*app));
    if (!app) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (rill__conf_settings(conf, &app->set, errstr, errstr_size) ||
        rill__topology_name_internal(topo, app->set.application_id) ||
        rill__topology_freeze(topo, errstr, errstr_size)) {
        free(app);
        return NULL;
    }
    app->topo = topo;
    app->conf = conf;
    app->log = rill__conf_logger(conf);
    pthread_mutex_init(&app->lock, NULL);
    pthread_mutex_init(&app->admin_lock, NULL);
    return app;
}

/* Checks the source topics: they exist (created on the embedded broker) and co-partitioned
 * ones agree on their partition counts. */
static rill_err_t check_source_topics(rill_app_t *app, bool skip_internal, char *errstr,
                                      size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    for (int s = 0; s < topo->sub_cnt; s++) {
        rill__subtopology_t *sub = &topo->subs[s];
        int first_cnt = -1;
        for (int t = 0; t < sub->topic_cnt; t++) {
            const char *topic = sub->topics[t];
            if (skip_internal && rill__topology_source_for(topo, topic)->source.internal)
                continue; /* created from the upstream counts, then checked */
            int cnt = rill__app_topic_partitions(app, topic, errstr, errstr_size);
            if (cnt == -2)
                return RILL_ERR_KAFKA; /* no answer: errstr says why, not "missing" */
            if (cnt < 0 && app->broker) {
                rill_broker_create_topic(app->broker, topic, app->set.embedded_partitions);
                cnt = app->set.embedded_partitions;
            }
            if (cnt < 0) {
                snprintf(errstr, errstr_size,
                         "source topic \"%s\" does not exist on %s: create it first "
                         "(kafka-topics.sh --create --topic %s --partitions N)",
                         topic, app->bootstrap, topic);
                return RILL_ERR_TOPOLOGY;
            }
            if (sub->copartitioned && first_cnt >= 0 && cnt != first_cnt) {
                snprintf(errstr, errstr_size,
                         "topics \"%s\" (%d partitions) and \"%s\" (%d partitions) are joined "
                         "and must be co-partitioned: give them the same partition count",
                         sub->topics[0], first_cnt, topic, cnt);
                return RILL_ERR_TOPOLOGY;
            }
            if (first_cnt < 0)
                first_cnt = cnt;
        }
    }
    return RILL_OK;
}

/* Checks that the output topics exist (created on the embedded broker): a record for a
 * missing one could only fail, and Kafka Streams stops too. */
static rill_err_t check_sink_topics(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *n = topo->nodes[i];
        if (n->kind != RILL_NODE_SINK || n->sink.internal)
            continue;
        int cnt = rill__app_topic_partitions(app, n->sink.topic, errstr, errstr_size);
        if (cnt > 0)
            continue;
        if (cnt == -2)
            return RILL_ERR_KAFKA;
        if (app->broker) {
            rill_broker_create_topic(app->broker, n->sink.topic, app->set.embedded_partitions);
            continue;
        }
        snprintf(errstr, errstr_size,
                 "output topic \"%s\" (sink \"%s\") does not exist on %s: create it first "
                 "(kafka-topics.sh --create --topic %s --partitions N)",
                 n->sink.topic, n->name, app->bootstrap, n->sink.topic);
        return RILL_ERR_TOPOLOGY;
    }
    return RILL_OK;
}

/* Starts the embedded broker when no bootstrap.servers is given and opens the admin client.
 * Idempotent; called by rill_app_start() and by rill_app_create_topic() before it. */
rill_err_t rill__app_connect(rill_app_t *app, char *errstr, size_t errstr_size) {
    if (app->admin)
        return RILL_OK;
    if (!app->set.bootstrap_servers || !*app->set.bootstrap_servers) {
        if (!(app->broker = rill_broker_new(1, errstr, errstr_size)))
            return RILL_ERR_KAFKA;
        app->bootstrap = strdup(rill_broker_bootstrap_servers(app->broker));
        rill__log(app, -1,
                  "no bootstrap.servers given: started the embedded broker at %s "
                  "(in memory only; for trying things out)",
                  app->bootstrap);
    } else if (!app->bootstrap) {
        app->bootstrap = strdup(app->set.bootstrap_servers);
    }
    rill_err_t err = rill__admin_open(app, errstr, errstr_size);
    if (!err && !app->broker && (err = rill__app_await_broker(app, errstr, errstr_size)))
        rill__admin_close(app); /* the next call waits again */
    return err;
}

rill_err_t rill_app_start(rill_app_t *app, char *errstr, size_t errstr_size) {
    char scratch[16];
    if (!errstr) {
        errstr = scratch;
        errstr_size = sizeof(scratch);
    }
    if (app->started) {
        snprintf(errstr, errstr_size, "the app is already started");
        return RILL_ERR_STATE;
    }
    rill_err_t err;
    /* The state directory is checked and locked before anything joins the group. */
    if ((app->topo->store_cnt > 0 || app->topo->global_cnt > 0) &&
        (err = rill__app_state(app) ? rill__state_dir_claim(app->state, errstr, errstr_size)
                                    : RILL_ERR_NOMEM))
        return err;
    if ((err = rill__app_connect(app, errstr, errstr_size)) ||
        (err = rill__app_check_topics(app, errstr, errstr_size)) ||
        (err = check_source_topics(app, true, errstr, errstr_size)) ||
        (err = rill__app_create_repartition_topics(app, errstr, errstr_size)) ||
        (err = check_source_topics(app, false, errstr, errstr_size)) ||
        (err = check_sink_topics(app, errstr, errstr_size)) ||
        (err = rill__progress_setup(app, errstr, errstr_size)) ||
        (err = rill__app_create_dlq(app, errstr, errstr_size)) ||
        (err = rill__app_create_changelogs(app, errstr, errstr_size)) ||
        (err = rill__app_sink_limits(app, errstr, errstr_size)) ||
        (err = rill__global_start(app, errstr, errstr_size)) ||
        (err = rill__queries_setup(app, errstr, errstr_size)))
        return err;
    app->threads = calloc((size_t)app->set.num_stream_threads, sizeof(rill__thread_t));
    if (!app->threads)
        return RILL_ERR_NOMEM;
    app->started = true;
    app->started_ms = rill__now_ms();
    for (int i = 0; i < app->set.num_stream_threads; i++) {
        rill__thread_t *thread = &app->threads[i];
        thread->log = app->log;
        thread->app = app;
        thread->idx = i;
        app->thread_cnt++;
        if (rill__thread_start(thread, errstr, errstr_size)) {
            rill_app_stop(app);
            return RILL_ERR_KAFKA;
        }
    }
    rill__log(app, -1, "started %d stream thread(s) on %s, processing.guarantee=%s",
              app->thread_cnt, app->bootstrap,
              app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2 ? "exactly_once_v2"
                                                                   : "at_least_once");
    /* Last, so that what it reads of the threads no longer changes (http_endpoint.c). */
    if ((err = rill__http_start(app, errstr, errstr_size)) ||
        (err = rill__queries_server(app, errstr, errstr_size)) ||
        (err = rill__hosts_start(app, errstr, errstr_size))) {
        rill_app_stop(app);
        return err;
    }
    return RILL_OK;
}

void rill_app_stop(rill_app_t *app) {
    if (app)
        __atomic_store_n(&app->stopping, 1, __ATOMIC_RELAXED);
}

/* The shutdown summary: how long the app ran, what it did, and how it ended. */
static void log_summary(rill_app_t *app) {
    int64_t ms = rill__now_ms() - app->started_ms;
    int64_t processed = 0, dead = 0; /* the threads are joined: plain reads */
    for (int i = 0; i < app->thread_cnt; i++) {
        processed += app->threads[i].metrics.v[RILL_M_PROCESSED];
        dead += app->threads[i].metrics.v[RILL_M_DLQ];
    }
    if (app->fatal)
        rill__log_at(app, RILL__LOG_ERROR, -1,
                     "stopped on error after %" PRId64 ".%01d s: "
                     "%" PRId64 " record(s) processed, %" PRId64 " dead-lettered: %s",
                     ms / 1000, (int)(ms % 1000 / 100), processed, dead, app->fatal_msg);
    else
        rill__log(app, -1,
                  "stopped cleanly after %" PRId64 ".%01d s: %" PRId64 " record(s) "
                  "processed, %" PRId64 " dead-lettered",
                  ms / 1000, (int)(ms % 1000 / 100), processed, dead);
}

rill_err_t rill_app_wait(rill_app_t *app, char *errstr, size_t errstr_size) {
    /* Threads see the stop flag within poll.ms; when it is already set, wake them so that a
     * stop takes effect at once. */
    for (int i = 0; i < app->thread_cnt && rill__app_stopping(app); i++)
        if (app->threads[i].consumer_queue)
            rill__thread_wake(&app->threads[i]);
    for (int i = 0; i < app->thread_cnt; i++)
        rill__thread_join(&app->threads[i]);
    rill__global_stop(app);
    pthread_mutex_lock(&app->lock);
    rill_err_t err = app->fatal;
    if (err && errstr)
        snprintf(errstr, errstr_size, "%s", app->fatal_msg);
    bool summary = app->started && !app->summary_logged;
    app->summary_logged = true;
    pthread_mutex_unlock(&app->lock);
    if (summary)
        log_summary(app);
    return err;
}

const char *rill_app_bootstrap_servers(const rill_app_t *app) {
    return app->bootstrap ? app->bootstrap : app->set.bootstrap_servers;
}

void *rill__app_bridge(rill_app_t *app, void *(*make)(rill_app_t *app),
                       void (*free_fn)(void *bridge)) {
    pthread_mutex_lock(&app->lock);
    if (!app->bridge && (app->bridge = make(app)))
        app->bridge_free = free_fn;
    void *bridge = app->bridge;
    pthread_mutex_unlock(&app->lock);
    return bridge;
}

void rill_app_destroy(rill_app_t *app) {
    if (!app)
        return;
    rill_app_stop(app);
    rill_app_wait(app, NULL, 0);
    rill__http_stop(app);  /* before the threads' status it reads goes */
    rill__hosts_stop(app); /* the threads that publish through it are joined */
    for (int i = 0; i < app->thread_cnt; i++) {
        rill__status_free(&app->threads[i]);
        rill__inbox_free(&app->threads[i]);
    }
    free(app->server);
    free(app->sub_partitions);
    rill__admin_close(app);
    rill__progress_free(app);
    rill__global_destroy(app);
    if (app->bridge)
        app->bridge_free(app->bridge);
    rill__state_free(app->state); /* closes the database, releases the state directory */
    free(app->threads);
    free(app->sink_max_bytes);
    rill_broker_destroy(app->broker);
    free(app->bootstrap);
    rill_topology_destroy(app->topo);
    rill_conf_destroy(app->conf);
    pthread_mutex_destroy(&app->lock);
    pthread_mutex_destroy(&app->admin_lock);
    free(app);
}
