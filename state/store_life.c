/*
 * store_life.c — store instances over a task's life: opened (and restored) before the task's
 * first record, logged and applied at each commit, dropped on failure, closed with the task.
 *
 * DESIGN
 * Each function here runs on the stream thread that owns the task, except the process's
 * (rill__state_*), which any thread may call. The database is the state object's (one
 * RocksDB per process, opened on first use under the state object's lock); each store is a
 * column family of it. Changelog records go out through the task's host, which reports
 * their offsets back with the store's declaration as token (rill__stores_delivered).
 * Applying is the only place a task's writes reach RocksDB: one batch with the cache's
 * dirty entries, the pending range deletes and the changelog offset key (docs/DESIGN.md,
 * invariant 4). The entries applied stay in the cache, clean, for the reads that follow;
 * the engine evicts clean entries (rill__stores_evict_clean) before a full cache makes it
 * commit early.
 */
#include "store_inst_int.h"
#include "counter_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

rill__state_t *rill__state_new(const rill__state_host_t *host) {
    rill__state_t *state = calloc(1, sizeof(*state));
    if (!state)
        return NULL;
    state->host = *host;
    pthread_mutex_init(&state->lock, NULL);
    return state;
}

void rill__state_free(rill__state_t *state) {
    if (!state)
        return;
    rill__db_close(state->db);
    rill__state_dir_release(state);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

rill__db_t *rill__state_db(rill__state_t *state, char *errstr, size_t errstr_size) {
    pthread_mutex_lock(&state->lock);
    if (!state->db) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", state->host.state_dir, state->host.application_id);
        if (mkdirs(path))
            snprintf(errstr, errstr_size, "state.dir: cannot create \"%s\": %s", path,
                     strerror(errno));
        else if (chmod(path, 0700)) /* one made 0755 by an older Rill: close it */
            snprintf(errstr, errstr_size, "state.dir: cannot chmod 700 \"%s\": %s", path,
                     strerror(errno));
        else
            state->db = rill__db_open(path, &state->host.db_opts, errstr, errstr_size);
    }
    rill__db_t *db = state->db;
    pthread_mutex_unlock(&state->lock);
    return db;
}

void rill__state_log(const rill__state_t *state, int level, int thread_idx, const char *fmt, ...) {
    if (!rill__log_wants(state->host.log, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    rill__vlogf(state->host.log, level, thread_idx, fmt, ap);
    va_end(ap);
}

void rill__state_fatal(const rill__state_t *state, rill_err_t err, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    state->host.fatal(state->host.opaque, err, msg);
}

rill__state_thread_t *rill__state_thread_new(rill__state_t *state, int idx, void *opaque) {
    rill__state_thread_t *thread = calloc(1, sizeof(*thread));
    if (thread)
        *thread = (rill__state_thread_t){.state = state, .idx = idx, .opaque = opaque};
    return thread;
}

void rill__state_thread_free(rill__state_thread_t *thread) {
    if (!thread)
        return;
    if (thread->src)
        thread->src->destroy(thread->src);
    free(thread);
}

static void store_free(rill__store_t *st) {
    if (!st)
        return;
    rill__cache_free(&st->cache);
    rill__batch_destroy(st->pending);
    rill_buf_free(&st->kbuf);
    rill_buf_free(&st->vbuf);
    if (st->changelog)
        st->task->host->topic_free(st->task->opaque, st->changelog);
    free(st);
}

void rill__store_changelog_name(const rill__state_t *state, const rill__store_def_t *def, char *out,
                                size_t out_size) {
    snprintf(out, out_size, "%s-%s-changelog", state->host.application_id, def->name);
}

/* A new instance of def for task, its restore still to come. */
static rill__store_t *store_open(rill__task_stores_t *task, rill__store_def_t *def, char *errstr,
                                 size_t errstr_size) {
    rill__state_t *state = task->thread->state;
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
    rill__store_changelog_name(state, def, changelog, sizeof(changelog));
    /* A task that is not logged (the test driver's: a fresh state directory) has no
     * changelog to write or restore from. */
    if (!st->pending || !(st->db = rill__state_db(state, errstr, errstr_size)) ||
        !(st->cf = rill__db_cf(st->db, def->name, errstr, errstr_size)) ||
        (task->logged && !(st->changelog = task->host->topic_new(task->opaque, changelog)))) {
        store_free(st);
        return NULL;
    }
    return st;
}

/* Creates the instances of the task's stores (not restored yet). Returns 0 or -1 (fatal). */
static int task_make_stores(rill__task_stores_t *task, rill__store_def_t *const *defs,
                            int def_cnt) {
    const rill__state_t *state = task->thread->state;
    char errstr[512];
    rill__stores_close(task); /* what a failed attempt left */
    for (int i = 0; i < def_cnt; i++) {
        rill__store_def_t *def = defs[i];
        if (def->sub != task->sub)
            continue;
        rill__store_t **all = realloc(task->v, sizeof(*all) * (size_t)(task->cnt + 1));
        if (!all) {
            rill__state_fatal(state, RILL_ERR_NOMEM, "task %s: out of memory", task->id);
            return -1;
        }
        task->v = all;
        rill__store_t *st = store_open(task, def, errstr, sizeof(errstr));
        if (!st) {
            rill__state_fatal(state, RILL_ERR_IO, "task %s: store \"%s\": %s", task->id, def->name,
                              errstr);
            return -1;
        }
        task->v[task->cnt++] = st;
    }
    return 0;
}

/* Opens the stores of tasks[0..n) that have none open yet and restores them together. */
static int open_and_restore(rill__state_thread_t *thread, rill__task_stores_t **tasks, int n,
                            rill__store_def_t *const *defs, int def_cnt) {
    int total = 0, k = 0, rc = 0;
    for (int t = 0; t < n; t++) {
        if (tasks[t]->open)
            continue;
        tasks[t]->thread = thread;
        if (task_make_stores(tasks[t], defs, def_cnt))
            return -1;
        if (tasks[t]->logged)
            total += tasks[t]->cnt;
    }
    rill__store_t **all = total ? malloc(sizeof(*all) * (size_t)total) : NULL;
    if (total && !all) {
        rill__state_fatal(thread->state, RILL_ERR_NOMEM, "restore: out of memory");
        return -1;
    }
    for (int t = 0; t < n; t++)
        for (int s = 0; !tasks[t]->open && tasks[t]->logged && s < tasks[t]->cnt; s++)
            all[k++] = tasks[t]->v[s];
    char errstr[512];
    if (total && rill__stores_restore(thread, all, total, errstr, sizeof(errstr))) {
        rill__state_fatal(thread->state, RILL_ERR_IO, "restoring %d store(s): %s", total, errstr);
        rc = -1;
    }
    for (int t = 0; !rc && t < n; t++)
        tasks[t]->open = true;
    free(all);
    return rc;
}

int rill__stores_open(rill__state_thread_t *thread, rill__task_stores_t **tasks, int n,
                      rill__store_def_t *const *defs, int def_cnt) {
    rill__task_stores_t *batch[64];
    int k = 0, rc = 0;
    for (int t = 0; t < n && !rc; t++) {
        if (tasks[t]->open)
            continue;
        batch[k++] = tasks[t];
        if (k == (int)(sizeof(batch) / sizeof(batch[0]))) { /* restored 64 tasks at a time */
            rc = open_and_restore(thread, batch, k, defs, def_cnt);
            k = 0;
        }
    }
    return rc || !k ? rc : open_and_restore(thread, batch, k, defs, def_cnt);
}

int rill__store_log_entry(rill__store_t *st, const rill__centry_t *e) {
    static const char empty[1]; /* an empty value is not a tombstone: never a NULL pointer */
    if (!st->changelog || !rill__centry_durable(e))
        return 0;
    const void *value = e->deleted ? NULL : e->value_len ? e->value : empty;
    /* The changelog key is the RocksDB key without its partition; the token, the store's
     * declaration, comes back with the delivery report. */
    return st->task->host->produce(st->task->opaque, st->changelog, st->partition, e->key + 4,
                                   e->key_len - 4, value, e->deleted ? 0 : e->value_len, st->def);
}

int rill__store_log_range(rill__store_t *st, const rill_buf_t *lo, const rill_buf_t *hi) {
    const rill__cnode_t *n = rill__cache_seek(&st->cache, lo->data, lo->len);
    for (; n && rill__key_cmp(n->key, n->key_len, hi->data, hi->len) < 0; n = n->next[0]) {
        const rill__centry_t *e = n->entry;
        if (e && !e->fresh && !e->clean && rill__store_log_entry(st, e))
            return -1;
    }
    return 0;
}

int rill__stores_log(rill__task_stores_t *task) {
    for (int s = 0; s < task->cnt; s++) {
        rill__store_t *st = task->v[s];
        const rill__cache_t *c = &st->cache;
        for (size_t i = 0; i < c->dirty_cnt; i++) {
            const rill__centry_t *e = rill__cache_dirty_at(c, i);
            if (e && rill__store_log_entry(st, e))
                return -1;
        }
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

static void batch_entry(rill__store_t *st, rill__batch_t *b, const rill__centry_t *e) {
    if (!e || e->clean || !rill__centry_durable(e))
        return;
    if (e->deleted)
        rill__batch_delete(b, st->cf, e->key, e->key_len);
    else
        rill__batch_put(b, st->cf, e->key, e->key_len, e->value, e->value_len);
}

/* Adds the cache's dirty entries to b in key order: RocksDB inserts a key next to the one
 * inserted before it at a fraction of the cost of a key anywhere in its memtable. When most
 * entries are dirty the ordered index is walked; when most are clean (kept from earlier
 * commits) the dirty list is sorted instead, so a commit costs what was written since the
 * last one, not what the cache holds. */
static void batch_dirty(rill__store_t *st, rill__batch_t *b) {
    rill__cache_t *c = &st->cache;
    if (c->dirty_cnt * 4 >= c->cnt) {
        for (const rill__cnode_t *n = c->cnt ? c->head[0] : NULL; n; n = n->next[0])
            batch_entry(st, b, n->entry);
        return;
    }
    rill__cache_sort_dirty(c);
    for (size_t i = 0; i < c->dirty_cnt; i++)
        batch_entry(st, b, rill__cache_dirty_at(c, i));
}

int rill__stores_apply(rill__task_stores_t *task) {
    char errstr[512];
    for (int s = 0; s < task->cnt; s++) {
        rill__store_t *st = task->v[s];
        if (!st->cache.dirty_cnt && !rill__batch_count(st->pending))
            continue;
        /* Range deletes first, then the cache's dirty entries in key order. */
        rill__batch_t *b = st->pending;
        batch_dirty(st, b);
        if (st->logged_next >= 0) {
            unsigned char meta[RILL_KEY_PREFIX_LEN], off[8];
            rill__key_prefix(st->partition, RILL_KEY_META, meta);
            rill__be64_put(off, (uint64_t)st->logged_next);
            rill__batch_put(b, st->cf, meta, sizeof(meta), off, sizeof(off));
        }
        if (rill__db_write(st->db, b, errstr, sizeof(errstr))) {
            rill__state_fatal(task->thread->state, RILL_ERR_IO, "task %s: store \"%s\": %s",
                              task->id, st->def->name, errstr);
            return -1;
        }
        /* A new batch rather than a cleared one: a cleared batch keeps its largest size,
         * and a task's store may hold a whole commit interval of writes at its peak. Without
         * memory for it the cleared one stays (a store never has no batch) and the app stops. */
        rill__batch_t *fresh = next_batch();
        rill__cache_mark_clean(&st->cache); /* kept for reads (cache.c) */
        if (!fresh) {
            rill__batch_clear(b);
            rill__state_fatal(task->thread->state, RILL_ERR_NOMEM,
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

void rill__stores_drop_caches(rill__task_stores_t *task) {
    for (int s = 0; s < task->cnt; s++) {
        rill__cache_clear(&task->v[s]->cache);
        rill__batch_clear(task->v[s]->pending);
    }
}

void rill__stores_close(rill__task_stores_t *task) {
    for (int s = 0; s < task->cnt; s++)
        store_free(task->v[s]);
    free(task->v);
    task->v = NULL;
    task->cnt = 0;
    task->open = false;
}

int rill__stores_evict_clean(rill__task_stores_t *task) {
    for (int s = 0; s < task->cnt; s++) {
        if (rill__cache_evict_clean(&task->v[s]->cache)) {
            rill__state_fatal(task->thread->state, RILL_ERR_NOMEM,
                              "task %s: store \"%s\": no memory to make room in its cache",
                              task->id, task->v[s]->def->name);
            return -1;
        }
    }
    return 0;
}

size_t rill__stores_cache_bytes(const rill__task_stores_t *task) {
    size_t n = 0;
    for (int s = 0; s < task->cnt; s++)
        n += task->v[s]->cache.bytes;
    return n;
}

rill__store_t *rill__stores_find(rill__task_stores_t *task, const char *name) {
    for (int i = 0; i < task->cnt; i++)
        if (!strcmp(task->v[i]->def->name, name))
            return task->v[i];
    return NULL;
}

void rill__stores_delivered(rill__task_stores_t *task, const void *token, int32_t partition,
                            int64_t offset) {
    if (task->partition != partition)
        return;
    for (int s = 0; s < task->cnt; s++) {
        rill__store_t *st = task->v[s];
        if (st->def != token || !st->changelog)
            continue;
        /* Counted here, acknowledged, so that the counter is what the topic holds. */
        rill__counter_add(&st->def->changelog_records, 1);
        if (offset + 1 > st->logged_next)
            st->logged_next = offset + 1;
    }
}

rill_err_t rill__state_create_changelogs(rill__state_t *state, rill__store_def_t *const *defs,
                                         int n, char *errstr, size_t errstr_size) {
    for (int i = 0; i < n; i++) {
        const rill__store_def_t *def = defs[i];
        if (!def->logged || def->sub < 0)
            continue;
        char topic[512], retention[32];
        rill__store_changelog_name(state, def, topic, sizeof(topic));
        int partitions = state->host.partitions(state->host.opaque, def->sub, errstr, errstr_size);
        if (partitions <= 0)
            return RILL_ERR_TOPOLOGY;
        /* Windows and sessions expire: compact and delete after retention plus a day, as
         * Kafka Streams does; key-value stores are compacted only. */
        snprintf(retention, sizeof(retention), "%" PRId64, def->retention_ms + 86400000);
        const char *const kv[] = {"cleanup.policy", "compact", NULL};
        const char *const win[] = {"cleanup.policy", "compact,delete", "retention.ms", retention,
                                   NULL};
        rill_err_t err =
            state->host.create_topic(state->host.opaque, topic, partitions,
                                     def->kind == RILL_STORE_KV ? kv : win, errstr, errstr_size);
        if (err)
            return err;
    }
    return RILL_OK;
}
