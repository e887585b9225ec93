/*
 * store_life.c — store instances over a task's life: opened (and restored) before the task's
 * first record, logged and applied at each commit, dropped on failure, closed with the task.
 *
 * DESIGN
 * Each function here runs on the stream thread that owns the task. The database is the app's
 * (one RocksDB per process, opened on first use under the app lock); each store is a column
 * family of it. Applying is the only place a task's writes reach RocksDB: one batch with the
 * cache's entries, the pending range deletes and the changelog offset key (docs/DESIGN.md,
 * invariant 4).
 */
#include "store_priv.h"
#include "admin_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void db_close(void *db) {
    rill__db_close(db);
}

/* Creates dir and its parents (mkdir -p). */
static int mkdirs(const char *dir) {
    char path[1024];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

rill__db_t *rill__app_db(rill_app_t *app, char *errstr, size_t errstr_size) {
    pthread_mutex_lock(&app->lock);
    if (!app->db) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", app->set.state_dir, app->set.application_id);
        rill__db_opts_t o = {.block_cache_bytes = (size_t)app->set.block_cache_bytes,
                             .write_buffer_bytes = (size_t)app->set.write_buffer_bytes,
                             .max_write_buffers = app->set.max_write_buffers};
        if (mkdirs(path))
            snprintf(errstr, errstr_size, "state.dir: cannot create \"%s\": %s", path,
                     strerror(errno));
        else if (chmod(path, 0700)) /* one made 0755 by an older Rill: close it */
            snprintf(errstr, errstr_size, "state.dir: cannot chmod 700 \"%s\": %s", path,
                     strerror(errno));
        else if ((app->db = rill__db_open(path, &o, errstr, errstr_size)))
            app->db_close = db_close;
    }
    rill__db_t *db = app->db;
    pthread_mutex_unlock(&app->lock);
    return db;
}

static void store_free(rill__store_t *st) {
    if (!st)
        return;
    rill__cache_free(&st->cache);
    rill__batch_destroy(st->pending);
    rill_buf_free(&st->kbuf);
    rill_buf_free(&st->vbuf);
    if (st->changelog_rkt)
        rd_kafka_topic_destroy(st->changelog_rkt);
    free(st);
}

void rill__store_changelog_name(const rill_app_t *app, const rill__store_def_t *def, char *out,
                                size_t out_size) {
    snprintf(out, out_size, "%s-%s-changelog", app->set.application_id, def->name);
}

/* A new instance of def for task, its restore still to come. */
static rill__store_t *store_open(rill__task_t *task, rill__store_def_t *def, char *errstr,
                                 size_t errstr_size) {
    rill__thread_t *thread = task->thread;
    rill__store_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->def = def;
    st->task = task;
    st->partition = task->partition;
    st->logged_next = -1;
    st->expired_below = 0;
    st->pending = rill__batch_new();
    char changelog[512];
    rill__store_changelog_name(thread->app, def, changelog, sizeof(changelog));
    /* The test driver's thread has no producer: its stores, in a fresh state directory,
     * have no changelog to write or restore from. */
    if (!st->pending || !(st->db = rill__app_db(thread->app, errstr, errstr_size)) ||
        !(st->cf = rill__db_cf(st->db, def->name, errstr, errstr_size)) ||
        (!thread->local &&
         !(st->changelog_rkt = rd_kafka_topic_new(thread->producer, changelog, NULL)))) {
        store_free(st);
        return NULL;
    }
    return st;
}

/* Creates the instances of the task's stores (not restored yet). Returns 0 or -1 (fatal). */
static int task_make_stores(rill__task_t *task) {
    rill_topology_t *topo = task->thread->app->topo;
    char errstr[512];
    rill__task_close_stores(task); /* what a failed attempt left */
    for (int i = 0; i < topo->store_cnt; i++) {
        rill__store_def_t *def = topo->stores[i];
        if (def->sub != task->sub)
            continue;
        rill__store_t **all = realloc(task->stores, sizeof(*all) * (size_t)(task->store_cnt + 1));
        if (!all) {
            rill__app_fatal(task->thread->app, RILL_ERR_NOMEM, "task %s: out of memory", task->id);
            return -1;
        }
        task->stores = all;
        rill__store_t *st = store_open(task, def, errstr, sizeof(errstr));
        if (!st) {
            rill__app_fatal(task->thread->app, RILL_ERR_IO, "task %s: store \"%s\": %s", task->id,
                            def->name, errstr);
            return -1;
        }
        task->stores[task->store_cnt++] = st;
    }
    return 0;
}

/* Opens the stores of tasks[0..n) that have none open yet and restores them together. */
static int open_and_restore(rill__thread_t *thread, rill__task_t **tasks, int n) {
    int total = 0, k = 0, rc = 0;
    for (int t = 0; t < n; t++) {
        if (tasks[t]->stores_open)
            continue;
        if (task_make_stores(tasks[t]))
            return -1;
        total += tasks[t]->store_cnt;
    }
    rill__store_t **all = total ? malloc(sizeof(*all) * (size_t)total) : NULL;
    if (total && !all) {
        rill__app_fatal(thread->app, RILL_ERR_NOMEM, "restore: out of memory");
        return -1;
    }
    for (int t = 0; t < n; t++)
        for (int s = 0; !tasks[t]->stores_open && s < tasks[t]->store_cnt; s++)
            all[k++] = tasks[t]->stores[s];
    char errstr[512];
    if (!thread->local && rill__stores_restore(thread, all, total, errstr, sizeof(errstr))) {
        rill__app_fatal(thread->app, RILL_ERR_IO, "restoring %d store(s): %s", total, errstr);
        rc = -1;
    }
    for (int t = 0; !rc && t < n; t++)
        tasks[t]->stores_open = true;
    free(all);
    return rc;
}

int rill__task_open_stores(rill__task_t *task) {
    return open_and_restore(task->thread, &task, 1);
}

int rill__thread_open_stores(rill__thread_t *thread) {
    rill__task_t *batch[64];
    int n = 0, rc = 0;
    for (int t = 0; t < thread->task_cnt && !rc; t++) {
        rill__task_t *task = thread->tasks[t];
        if (task->initialized || task->stores_open)
            continue;
        batch[n++] = task;
        if (n == (int)(sizeof(batch) / sizeof(batch[0]))) { /* restored 64 tasks at a time */
            rc = open_and_restore(thread, batch, n);
            n = 0;
        }
    }
    return rc || !n ? rc : open_and_restore(thread, batch, n);
}

int rill__store_log_entry(rill__store_t *st, const rill__centry_t *e) {
    static const char empty[1]; /* an empty value is not a tombstone: never a NULL pointer */
    rill__thread_t *thread = st->task->thread;
    if (!st->changelog_rkt || !rill__centry_durable(e))
        return 0;
    const void *value = e->deleted ? NULL : e->value_len ? e->value : empty;
    /* The changelog key is the RocksDB key without its partition. */
    if (rill__produce_opaque(thread, st->changelog_rkt, st->partition, e->key + 4, e->key_len - 4,
                             value, e->deleted ? 0 : e->value_len, 0, NULL,
                             (void *)&rill__changelog_marker))
        return -1;
    return 0;
}

int rill__store_log_range(rill__store_t *st, const rill_buf_t *lo, const rill_buf_t *hi) {
    const rill__cnode_t *n = rill__cache_seek(&st->cache, lo->data, lo->len);
    for (; n && rill__key_cmp(n->key, n->key_len, hi->data, hi->len) < 0; n = n->next[0]) {
        const rill__centry_t *e = rill__cache_find(&st->cache, n->key, n->key_len);
        if (e && !e->fresh && rill__store_log_entry(st, e))
            return -1;
    }
    return 0;
}

int rill__task_log_stores(rill__task_t *task) {
    for (int s = 0; s < task->store_cnt; s++) {
        rill__store_t *st = task->stores[s];
        const rill__cache_t *c = &st->cache;
        for (size_t i = 0; i < c->cap && c->cnt; i++)
            if (c->tab[i].hash && rill__store_log_entry(st, &c->tab[i]))
                return -1;
    }
    return 0;
}

int rill__fault_store_batch_alloc;

/* The batch that collects a store's next writes (NULL: no memory, or the injected fault). */
static rill__batch_t *next_batch(void) {
    if (__atomic_load_n(&rill__fault_store_batch_alloc, __ATOMIC_RELAXED) > 0 &&
        __atomic_sub_fetch(&rill__fault_store_batch_alloc, 1, __ATOMIC_RELAXED) == 0)
        return NULL;
    return rill__batch_new();
}

int rill__task_apply_stores(rill__task_t *task) {
    char errstr[512];
    for (int s = 0; s < task->store_cnt; s++) {
        rill__store_t *st = task->stores[s];
        const rill__cache_t *c = &st->cache;
        if (!c->cnt && !rill__batch_count(st->pending))
            continue;
        /* Range deletes first, then the cache's entries in key order (its ordered index):
         * RocksDB inserts a key next to the one inserted before it at a fraction of the
         * cost of a key anywhere in its memtable. */
        rill__batch_t *b = st->pending;
        for (const rill__cnode_t *n = c->cnt ? c->head[0] : NULL; n; n = n->next[0]) {
            const rill__centry_t *e = rill__cache_find(c, n->key, n->key_len);
            if (!e || !rill__centry_durable(e))
                continue;
            if (e->deleted)
                rill__batch_delete(b, st->cf, e->key, e->key_len);
            else
                rill__batch_put(b, st->cf, e->key, e->key_len, e->value, e->value_len);
        }
        if (st->logged_next >= 0) {
            unsigned char meta[RILL_KEY_PREFIX_LEN], off[8];
            rill__key_prefix(st->partition, RILL_KEY_META, meta);
            rill__be64_put(off, (uint64_t)st->logged_next);
            rill__batch_put(b, st->cf, meta, sizeof(meta), off, sizeof(off));
        }
        if (rill__db_write(st->db, b, errstr, sizeof(errstr))) {
            rill__app_fatal(task->thread->app, RILL_ERR_IO, "task %s: store \"%s\": %s", task->id,
                            st->def->name, errstr);
            return -1;
        }
        /* A new batch rather than a cleared one: a cleared batch keeps its largest size,
         * and a task's store may hold a whole commit interval of writes at its peak. Without
         * memory for it the cleared one stays (a store never has no batch) and the app stops. */
        rill__batch_t *fresh = next_batch();
        rill__cache_clear(&st->cache);
        if (!fresh) {
            rill__batch_clear(b);
            rill__app_fatal(task->thread->app, RILL_ERR_NOMEM,
                            "task %s: store \"%s\": no "
                            "memory for the batch of its next writes",
                            task->id, st->def->name);
            return -1;
        }
        rill__batch_destroy(b);
        st->pending = fresh;
    }
    return 0;
}

void rill__task_drop_store_caches(rill__task_t *task) {
    for (int s = 0; s < task->store_cnt; s++) {
        rill__cache_clear(&task->stores[s]->cache);
        rill__batch_clear(task->stores[s]->pending);
    }
}

void rill__task_close_stores(rill__task_t *task) {
    for (int s = 0; s < task->store_cnt; s++)
        store_free(task->stores[s]);
    free(task->stores);
    task->stores = NULL;
    task->store_cnt = 0;
    task->stores_open = false;
}

size_t rill__task_cache_bytes(const rill__task_t *task) {
    size_t n = 0;
    for (int s = 0; s < task->store_cnt; s++)
        n += task->stores[s]->cache.bytes;
    return n;
}

void rill__store_delivered(rill__thread_t *thread, const rd_kafka_message_t *msg) {
    for (int t = 0; t < thread->task_cnt; t++) {
        rill__task_t *task = thread->tasks[t];
        if (task->partition != msg->partition)
            continue;
        for (int s = 0; s < task->store_cnt; s++) {
            rill__store_t *st = task->stores[s];
            if (st->changelog_rkt != msg->rkt &&
                strcmp(rd_kafka_topic_name(st->changelog_rkt), rd_kafka_topic_name(msg->rkt)))
                continue;
            /* Counted here, acknowledged, so that the counter is what the topic holds. */
            rill__counter_add(&st->def->changelog_records, 1);
            if (msg->offset + 1 > st->logged_next)
                st->logged_next = msg->offset + 1;
        }
    }
}

rill_err_t rill__app_create_changelogs(rill_app_t *app, char *errstr, size_t errstr_size) {
    for (int i = 0; i < app->topo->store_cnt; i++) {
        const rill__store_def_t *def = app->topo->stores[i];
        if (!def->logged || def->sub < 0)
            continue;
        char topic[512], retention[32];
        rill__store_changelog_name(app, def, topic, sizeof(topic));
        int partitions = rill__app_sub_partitions(app, def->sub, errstr, errstr_size);
        if (partitions <= 0)
            return RILL_ERR_TOPOLOGY;
        /* Windows and sessions expire: compact and delete after retention plus a day, as
         * Kafka Streams does; key-value stores are compacted only. */
        snprintf(retention, sizeof(retention), "%" PRId64, def->retention_ms + 86400000);
        const char *kv[] = {"cleanup.policy", "compact", NULL};
        const char *win[] = {"cleanup.policy", "compact,delete", "retention.ms", retention, NULL};
        rill_err_t err = rill__app_create_topic_config(
            app, topic, partitions, def->kind == RILL_STORE_KV ? kv : win, errstr, errstr_size);
        if (err)
            return err;
    }
    return RILL_OK;
}
