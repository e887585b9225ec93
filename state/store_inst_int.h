/*
 * store_inst_int.h — a store instance's fields and the state module's own objects, shared by
 * the state module's files only.
 */
#ifndef RILL_STORE_INST_INT_H
#define RILL_STORE_INST_INT_H

#include "cache_int.h"
#include "state_host_int.h"

#include <pthread.h>

struct rill__state_s {
    rill__state_host_t host;
    pthread_mutex_t lock; /* guards db's opening */
    rill__db_t *db;       /* opened on first use (rill__state_db) */
    int lock_fd;          /* the state directory's lock file + 1, 0 when none (state_dir.c) */
};

struct rill__state_thread_s {
    rill__state_t *state;
    int idx;                    /* the stream thread's, for log lines */
    void *opaque;               /* the host's, for the restore counters */
    rill__changelog_src_t *src; /* restores read from it; made on first use */
};

struct rill__store_s {
    rill__store_def_t *def;
    rill__task_stores_t *task;
    int32_t partition;
    rill__db_t *db;
    rill__cf_t *cf;
    rill__cache_t cache;
    rill__batch_t *pending; /* range deletes waiting for the next apply */
    rill_buf_t kbuf, vbuf;  /* scratch: the key being built, the value read */
    void *changelog;        /* the host's handle of its changelog topic, or NULL (none) */
    int64_t logged_next;    /* changelog offset after the last delivered record, or -1 */
    int64_t expired_below;  /* window/session segments below this are dropped */
};

/* store_life.c: produces cache entry e to the store's changelog (when it has one and e is
 * durable). Returns 0 or -1. */
int rill__store_log_entry(rill__store_t *st, const rill__centry_t *e);
/* Logs the cache's entries with lo <= key < hi that the changelog holds a value of (not
 * fresh): before their window expires. Returns 0 or -1. */
int rill__store_log_range(rill__store_t *st, const rill_buf_t *lo, const rill_buf_t *hi);

/* Logs through the host's logger; thread_idx < 0: no thread named. */
void rill__state_log(const rill__state_t *state, int level, int thread_idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Stops the app through the host, with a formatted message. */
void rill__state_fatal(const rill__state_t *state, rill_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* restore.c: brings the n stores (of the thread's tasks) up to date with their changelogs,
 * all changelog partitions read at once. Returns 0 or -1 (errstr). */
int rill__stores_restore(rill__state_thread_t *thread, rill__store_t **stores, int n, char *errstr,
                         size_t errstr_size);

/* restore_kafka.c: a restore source reading with a librdkafka consumer made from the host's
 * restore_conf. NULL with errstr. */
rill__changelog_src_t *rill__changelog_src_kafka(rill__state_t *state, char *errstr,
                                                 size_t errstr_size);

#endif
