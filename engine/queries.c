/*
 * queries.c — interactive queries: rill_app_store_get() and rill_app_window_fetch(), which
 * read a state store from any thread of the process while the app runs (the HTTP endpoint's
 * /stores routes call them too).
 *
 * DESIGN
 * A store instance belongs to the stream thread of its task (docs/DESIGN.md, "Ownership"):
 * its write cache holds values RocksDB does not have yet, and only that thread may touch
 * either. So a query is not read by the caller: the caller finds the key's partition
 * (murmur2 of the key over the sub-topology's partition count, as the input was
 * partitioned), finds the stream thread whose status lists that task (under the status lock,
 * thread_status.c), posts a request to the thread's inbox, wakes the thread and waits on the
 * inbox's condition variable with a deadline. The thread answers the queued requests once per
 * loop iteration, between two batches of records, with the same reads the operators use
 * (cache first, then RocksDB), so an answer holds every record processed so far and never a
 * half-applied one. A request the thread has not taken when the deadline passes is unlinked
 * and answered "unavailable"; one it has taken is waited for (a read is short), so the
 * request, which lives on the caller's stack, is never touched after the caller returns.
 * When a thread's loop ends it closes its inbox: what is queued is answered "unavailable",
 * and later posts are answered at once. A task that moved between the look-up and the
 * answer is answered "not local", as it would be a moment later.
 *
 * The owner of a partition this instance does not hold comes from query_hosts.c.
 */
#include "admin_int.h"
#include "endian_int.h"
#include "engine_int.h"
#include "query_int.h"
#include "stores_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *rill_query_status_str(rill_query_status_t status) {
    switch (status) {
    case RILL_QUERY_FOUND:
        return "found";
    case RILL_QUERY_NOT_FOUND:
        return "not found";
    case RILL_QUERY_NOT_LOCAL:
        return "not local";
    case RILL_QUERY_UNAVAILABLE:
        return "unavailable";
    case RILL_QUERY_UNKNOWN_STORE:
        return "unknown store";
    case RILL_QUERY_ERROR:
        return "error";
    }
    return "?";
}

/* ---- the inbox (the stream thread's side) ---- */

void rill__inbox_init(rill__thread_t *thread) {
    rill__inbox_t *in = &thread->inbox;
    if (in->made)
        return;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr))
        return;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!pthread_mutex_init(&in->lock, NULL)) {
        if (!pthread_cond_init(&in->done, &attr))
            in->made = true;
        else
            pthread_mutex_destroy(&in->lock);
    }
    pthread_condattr_destroy(&attr);
}

void rill__inbox_free(rill__thread_t *thread) {
    rill__inbox_t *in = &thread->inbox;
    if (!in->made)
        return;
    pthread_cond_destroy(&in->done);
    pthread_mutex_destroy(&in->lock);
    memset(in, 0, sizeof(*in));
}

static void set_error(rill__query_t *q, rill_query_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(rill__query_t *q, rill_query_status_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->error, sizeof(q->error), fmt, ap);
    va_end(ap);
    q->status = status;
}

/* A table's stored value: [timestamp 8 bytes BE][value]. */
int rill__query_split_stored(const rill__store_def_t *def, const void **v, size_t *len,
                             int64_t *ts) {
    *ts = -1;
    if (!def->timestamped)
        return 0;
    if (*len < 8)
        return -1;
    *ts = (int64_t)rill__be64_get(*v);
    *v = (const char *)*v + 8;
    *len -= 8;
    return 0;
}

static int fetch_row(const void *key, size_t key_len, int64_t start, const void *value,
                     size_t value_len, void *opaque) {
    (void)key;
    (void)key_len;
    rill__query_t *q = opaque;
    int64_t ts;
    unsigned char head[20];
    if (rill__query_split_stored(q->def, &value, &value_len, &ts) || value_len > UINT32_MAX) {
        set_error(q, RILL_QUERY_ERROR, "store \"%s\" holds a malformed value", q->def->name);
        return 1;
    }
    rill__be64_put(head, (uint64_t)start);
    rill__be64_put(head + 8, (uint64_t)ts);
    rill__be32_put(head + 16, (uint32_t)value_len);
    if (rill_buf_append(q->out, head, sizeof(head)) || rill_buf_append(q->out, value, value_len)) {
        set_error(q, RILL_QUERY_ERROR, "out of memory");
        return 1;
    }
    q->status = RILL_QUERY_FOUND;
    return 0;
}

/* Answers q on the stream thread that owns (or owned) its task. */
static void serve(rill__thread_t *thread, rill__query_t *q) {
    rill__task_t *task = NULL;
    for (int i = 0; i < thread->task_cnt && !task; i++)
        if (thread->tasks[i]->sub == q->def->sub && thread->tasks[i]->partition == q->partition)
            task = thread->tasks[i];
    if (!task) {
        q->status = RILL_QUERY_NOT_LOCAL; /* it moved since the caller looked */
        return;
    }
    if (!task->initialized) {
        set_error(q, RILL_QUERY_UNAVAILABLE, "task %s is restoring its stores", task->id);
        return;
    }
    rill__store_t *st = rill__task_store(task, q->def->name);
    if (!st) {
        set_error(q, RILL_QUERY_ERROR, "task %s has no store \"%s\"", task->id, q->def->name);
        return;
    }
    rill_buf_reset(q->out);
    if (q->kind == RILL__Q_RANGE) {
        rill__query_serve_range(st, q);
        return;
    }
    if (q->kind == RILL__Q_FETCH) {
        q->status = RILL_QUERY_NOT_FOUND;
        if (rill__window_fetch(st, q->key, q->key_len, q->from, q->to, fetch_row, q) < 0)
            set_error(q, RILL_QUERY_ERROR, "reading store \"%s\" failed", q->def->name);
        return;
    }
    const void *v = NULL;
    size_t len = 0;
    int rc = rill__kv_get(st, q->key, q->key_len, &v, &len);
    if (rc < 0) {
        set_error(q, RILL_QUERY_ERROR, "reading store \"%s\" failed", q->def->name);
    } else if (rc == 0) {
        q->status = RILL_QUERY_NOT_FOUND;
    } else if (rill__query_split_stored(q->def, &v, &len, &q->ts)) {
        set_error(q, RILL_QUERY_ERROR, "store \"%s\" holds a malformed value", q->def->name);
    } else if (rill_buf_append(q->out, v, len)) {
        set_error(q, RILL_QUERY_ERROR, "out of memory");
    } else {
        q->status = RILL_QUERY_FOUND;
    }
}

/* Takes every queued request (marked taken), so the caller may not unlink them any more. */
static rill__query_t *take_all(rill__inbox_t *in) {
    pthread_mutex_lock(&in->lock);
    rill__query_t *list = in->head;
    for (rill__query_t *q = list; q; q = q->next)
        q->state = RILL__Q_TAKEN;
    in->head = in->tail = NULL;
    pthread_mutex_unlock(&in->lock);
    return list;
}

/* Marks every request of list done (each may be gone as soon as it is) and wakes the
 * callers. */
static void finish(rill__inbox_t *in, rill__query_t *list) {
    pthread_mutex_lock(&in->lock);
    while (list) {
        rill__query_t *next = list->next;
        list->state = RILL__Q_DONE;
        list = next;
    }
    pthread_cond_broadcast(&in->done);
    pthread_mutex_unlock(&in->lock);
}

void rill__inbox_serve(rill__thread_t *thread) {
    rill__inbox_t *in = &thread->inbox;
    if (!in->made)
        return;
    rill__query_t *list = take_all(in);
    if (!list)
        return;
    for (rill__query_t *q = list; q; q = q->next)
        serve(thread, q);
    finish(in, list);
}

void rill__inbox_close(rill__thread_t *thread) {
    rill__inbox_t *in = &thread->inbox;
    if (!in->made)
        return;
    pthread_mutex_lock(&in->lock);
    in->closed = true;
    pthread_mutex_unlock(&in->lock);
    rill__query_t *list = take_all(in);
    for (rill__query_t *q = list; q; q = q->next)
        set_error(q, RILL_QUERY_UNAVAILABLE, "the app is stopping");
    finish(in, list);
}

/* ---- the caller's side ---- */

/* The thread whose status lists task "<sub>_<partition>", or NULL; *running tells whether
 * that task has restored its stores. */
static rill__thread_t *find_thread(rill_app_t *app, int sub, int32_t partition, bool *running,
                                   bool *assigned_all) {
    char id[32];
    snprintf(id, sizeof(id), "%d_%d", sub, (int)partition);
    *assigned_all = true;
    for (int i = 0; i < app->thread_cnt; i++) {
        rill__status_t *st = &app->threads[i].status;
        if (!st->made)
            continue;
        rill__thread_t *found = NULL;
        pthread_mutex_lock(&st->lock);
        *assigned_all &= st->assigned;
        for (int t = 0; t < st->task_cnt && !found; t++)
            if (!strcmp(st->tasks[t].id, id)) {
                found = &app->threads[i];
                *running = st->tasks[t].running;
            }
        pthread_mutex_unlock(&st->lock);
        if (found)
            return found;
    }
    return NULL;
}

/* Posts q to thread and waits for its answer until deadline (monotonic ms). */
static void post_and_wait(rill__thread_t *thread, rill__query_t *q, int64_t deadline_ms) {
    rill__inbox_t *in = &thread->inbox;
    pthread_mutex_lock(&in->lock);
    if (in->closed) {
        pthread_mutex_unlock(&in->lock);
        set_error(q, RILL_QUERY_UNAVAILABLE, "the app is stopping");
        return;
    }
    q->state = RILL__Q_QUEUED;
    q->next = NULL;
    if (in->tail)
        in->tail->next = q;
    else
        in->head = q;
    in->tail = q;
    pthread_mutex_unlock(&in->lock);
    rill__thread_wake(thread);

    struct timespec until = {deadline_ms / 1000, (long)(deadline_ms % 1000) * 1000000L};
    pthread_mutex_lock(&in->lock);
    while (q->state != RILL__Q_DONE) {
        int rc = pthread_cond_timedwait(&in->done, &in->lock, &until);
        if (rc == ETIMEDOUT && q->state == RILL__Q_QUEUED) {
            rill__query_t **pp = &in->head, *prev = NULL;
            while (*pp != q) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            *pp = q->next;
            if (in->tail == q)
                in->tail = prev;
            set_error(q, RILL_QUERY_UNAVAILABLE,
                      "stream thread %d did not answer in time "
                      "(busy, or restoring)",
                      thread->idx);
            break;
        }
        /* Taken: the answer is a read away; wait for it whatever the deadline. */
        while (rc == ETIMEDOUT && q->state != RILL__Q_DONE)
            pthread_cond_wait(&in->done, &in->lock);
    }
    pthread_mutex_unlock(&in->lock);
}

rill_query_status_t rill__query_fail(rill_query_info_t *info, rill_query_status_t status,
                                     const char *fmt, ...) {
    if (info) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(info->error, sizeof(info->error), fmt, ap);
        va_end(ap);
    }
    return status;
}

void rill__query_info_reset(rill_query_info_t *info) {
    if (info) {
        memset(info, 0, sizeof(*info));
        info->partition = -1;
        info->timestamp = -1;
    }
}

const rill__store_def_t *rill__query_store(rill_app_t *app, const char *name) {
    for (int i = 0; i < app->topo->store_cnt; i++)
        if (!strcmp(app->topo->stores[i]->name, name))
            return app->topo->stores[i];
    return NULL;
}

int32_t rill__query_partitions(rill_app_t *app, const rill__store_def_t *def) {
    return app->sub_partitions && def->sub >= 0 && def->sub < app->topo->sub_cnt
               ? app->sub_partitions[def->sub]
               : 0;
}

bool rill__query_placed(rill_app_t *app, const rill__store_def_t *def) {
    const rill__subtopology_t *sub = &app->topo->subs[def->sub];
    for (int i = 0; i < sub->source_cnt; i++)
        if (!sub->sources[i]->source.internal)
            return false;
    return sub->source_cnt > 0;
}

rill_query_status_t rill__query_ask(rill_app_t *app, rill__query_t *q, int timeout_ms) {
    bool running = false, assigned_all = true;
    rill__thread_t *thread = find_thread(app, q->def->sub, q->partition, &running, &assigned_all);
    q->error[0] = '\0';
    if (!thread)
        q->status = RILL_QUERY_NOT_LOCAL;
    else if (!running)
        set_error(q, RILL_QUERY_UNAVAILABLE, "partition %d of store \"%s\" is restoring",
                  (int)q->partition, q->def->name);
    else if (q->kind == RILL__Q_LOCATE)
        q->status = RILL_QUERY_FOUND;
    else
        post_and_wait(thread, q,
                      rill__now_ms() +
                          (timeout_ms > 0 ? timeout_ms : RILL__QUERY_DEFAULT_TIMEOUT_MS));
    char owner[256];
    if (q->status == RILL_QUERY_NOT_LOCAL && !assigned_all &&
        !rill__hosts_owner(app, q->def->sub, q->partition, owner, sizeof(owner)))
        set_error(q, RILL_QUERY_UNAVAILABLE, "the group is rebalancing");
    return q->status;
}

rill_query_status_t rill__query_check(rill_app_t *app, const char *store, rill__store_kind_t kind,
                                      rill__query_t *q, rill_query_info_t *info) {
    rill__query_info_reset(info);
    if (!app || !store || (!q->key && q->key_len) || !q->out)
        return rill__query_fail(info, RILL_QUERY_ERROR, "bad arguments");
    if (!app->started || !app->sub_partitions)
        return rill__query_fail(info, RILL_QUERY_ERROR, "the app is not started");
    if (rill__app_stopping(app))
        return rill__query_fail(info, RILL_QUERY_UNAVAILABLE, "the app is stopping");
    if (!(q->def = rill__query_store(app, store)))
        return rill__query_fail(info, RILL_QUERY_UNKNOWN_STORE, "no store called \"%s\"", store);
    if (q->def->kind != kind && q->kind != RILL__Q_LOCATE)
        return rill__query_fail(info, RILL_QUERY_UNKNOWN_STORE, "store \"%s\" is a %s store: %s",
                                store,
                                q->def->kind == RILL_STORE_KV       ? "key-value"
                                : q->def->kind == RILL_STORE_WINDOW ? "window"
                                                                    : "session",
                                kind == RILL_STORE_KV ? "a get or a range reads key-value "
                                                        "stores only"
                                                      : "a window fetch reads window stores only");
    if (rill__query_partitions(app, q->def) <= 0)
        return rill__query_fail(info, RILL_QUERY_ERROR,
                                "the partition count of store \"%s\" "
                                "is not known",
                                store);
    return RILL_QUERY_FOUND;
}

/* NOT_LOCAL for q's partition: the owner when known, or UNAVAILABLE while the group settles. */
static rill_query_status_t not_local(rill_app_t *app, rill__query_t *q, rill_query_info_t *info) {
    char owner[256] = "";
    int known = rill__hosts_owner(app, q->def->sub, q->partition, owner, sizeof(owner));
    if (known && app->server && !strcmp(owner, app->server))
        known = 0; /* our own stale entry: the new owner has not published yet */
    if (info)
        snprintf(info->owner, sizeof(info->owner), "%s", known ? owner : "");
    return rill__query_fail(info, RILL_QUERY_NOT_LOCAL,
                            "partition %d of store \"%s\" is not "
                            "here; owner %s",
                            (int)q->partition, q->def->name, known ? owner : "unknown");
}

/* Runs q (kind, key, range and out set) against store: the key's murmur2 partition, asked of
 * its thread here, or the owner named. */
static rill_query_status_t run(rill_app_t *app, const char *store, rill__store_kind_t kind,
                               rill__query_t *q, rill_query_info_t *info, int timeout_ms) {
    rill_query_status_t st = rill__query_check(app, store, kind, q, info);
    if (st != RILL_QUERY_FOUND)
        return st;
    q->partition = rd_kafka_msg_partitioner_murmur2(
        NULL, q->key ? q->key : "", q->key_len, rill__query_partitions(app, q->def), NULL, NULL);
    if (info)
        info->partition = q->partition;
    if (rill__query_ask(app, q, timeout_ms) == RILL_QUERY_NOT_LOCAL)
        return not_local(app, q, info);
    if (info) {
        snprintf(info->error, sizeof(info->error), "%s", q->error);
        info->timestamp = q->ts;
    }
    return q->status;
}

/* A store Rill did not partition may hold key in any partition: after a miss in the murmur2
 * one (local), every local partition is searched; a key in none of them may still be in
 * another instance's (NOT_LOCAL, info->partition and info->owner: the first such partition
 * and its owner). q: the query as run (kind, key, window bounds, out). */
static rill_query_status_t get_anywhere(rill_app_t *app, const char *store, rill__query_t *q,
                                        rill_query_info_t *info, int timeout_ms) {
    uint8_t *covered = NULL;
    int32_t cnt = 0;
    rill_query_status_t st = rill__any_local(app, store, q, &covered, &cnt, info, timeout_ms);
    for (int32_t p = 0; st == RILL_QUERY_NOT_FOUND && p < cnt; p++) {
        if (covered[p])
            continue;
        q->partition = p;
        st = not_local(app, q, info);
        if (info) {
            info->partition = p;
            snprintf(info->error, sizeof(info->error),
                     "store \"%.40s\" (fed by a topic "
                     "Rill did not partition): key in none of this instance's "
                     "partitions; partition %d is elsewhere (owner %.64s)",
                     store, (int)p, info->owner[0] ? info->owner : "unknown");
        }
    }
    free(covered);
    return st;
}

rill_query_status_t rill_app_store_get(rill_app_t *app, const char *store, const void *key,
                                       size_t key_len, rill_buf_t *out, rill_query_info_t *info,
                                       int timeout_ms) {
    rill__query_t q = {.kind = RILL__Q_GET, .key = key, .key_len = key_len, .out = out, .ts = -1};
    rill_query_status_t st = run(app, store, RILL_STORE_KV, &q, info, timeout_ms);
    if (st == RILL_QUERY_NOT_FOUND && !rill__query_placed(app, q.def))
        st = get_anywhere(app, store, &q, info, timeout_ms);
    return st;
}

void rill__fetch_rows_walk(const rill_buf_t *rows, rill_window_row_cb cb, void *opaque) {
    const unsigned char *p = (const unsigned char *)rows->data;
    size_t left = rows->len;
    while (left >= 20) {
        size_t len = rill__be32_get(p + 16);
        if (len > left - 20 ||
            cb((int64_t)rill__be64_get(p), (int64_t)rill__be64_get(p + 8), p + 20, len, opaque))
            break;
        p += 20 + len;
        left -= 20 + len;
    }
}

rill_query_status_t rill_app_window_fetch(rill_app_t *app, const char *store, const void *key,
                                          size_t key_len, int64_t from_ms, int64_t to_ms,
                                          rill_window_row_cb cb, void *opaque,
                                          rill_query_info_t *info, int timeout_ms) {
    rill_buf_t rows = {0};
    rill__query_t q = {.kind = RILL__Q_FETCH,
                       .key = key,
                       .key_len = key_len,
                       .from = from_ms,
                       .to = to_ms,
                       .out = &rows,
                       .ts = -1};
    rill_query_status_t status = cb ? run(app, store, RILL_STORE_WINDOW, &q, info, timeout_ms)
                                    : rill__query_fail(info, RILL_QUERY_ERROR, "bad arguments");
    if (status == RILL_QUERY_NOT_FOUND && !rill__query_placed(app, q.def))
        status = get_anywhere(app, store, &q, info, timeout_ms);
    if (status == RILL_QUERY_FOUND)
        rill__fetch_rows_walk(&rows, cb, opaque);
    rill_buf_free(&rows);
    return status;
}

rill_query_status_t rill__query_locate(rill_app_t *app, const char *store, const void *key,
                                       size_t key_len, rill_query_info_t *info) {
    rill_buf_t none = {0};
    rill__query_t q = {
        .kind = RILL__Q_LOCATE, .key = key, .key_len = key_len, .out = &none, .ts = -1};
    return run(app, store, RILL_STORE_KV, &q, info, 0);
}

/* ---- start ---- */

rill_err_t rill__queries_setup(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    if (!topo->store_cnt)
        return RILL_OK;
    int32_t *cnt = calloc((size_t)topo->sub_cnt, sizeof(*cnt));
    if (!cnt)
        return RILL_ERR_NOMEM;
    for (int i = 0; i < topo->store_cnt; i++) {
        int sub = topo->stores[i]->sub;
        if (sub < 0 || sub >= topo->sub_cnt || cnt[sub])
            continue;
        int n = rill__app_sub_partitions(app, sub, errstr, errstr_size);
        if (n <= 0) {
            free(cnt);
            return RILL_ERR_KAFKA;
        }
        cnt[sub] = n;
    }
    app->sub_partitions = cnt;
    return RILL_OK;
}

static bool wildcard(const char *host) {
    return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*");
}

rill_err_t rill__queries_server(rill_app_t *app, char *errstr, size_t errstr_size) {
    char host[256], why[160];
    int port;
    const char *server = app->set.application_server;
    if (server && *server) {
        if (!(app->server = strdup(server)))
            return RILL_ERR_NOMEM;
        return RILL_OK;
    }
    const char *listen = app->set.http_listen;
    if (!listen || !*listen || !rill_app_http_port(app))
        return RILL_OK;
    if (rill__listen_parse(listen, host, sizeof(host), &port, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "http.listen=%s: %s", listen, why);
        return RILL_ERR_INVALID_ARG;
    }
    if (wildcard(host)) {
        rill__log(app, -1,
                  "no application.server (http.listen=%s is a wildcard address): "
                  "other instances cannot send store queries here",
                  listen);
        return RILL_OK;
    }
    char buf[300];
    snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
             rill_app_http_port(app));
    return (app->server = strdup(buf)) ? RILL_OK : RILL_ERR_NOMEM;
}

const char *rill_app_server(const rill_app_t *app) {
    return app ? app->server : NULL;
}
