/*
 * store_priv.h — the store instance's fields, shared by the state module's files only.
 */
#ifndef RILL_STORE_PRIV_H
#define RILL_STORE_PRIV_H

#include "cache_int.h"
#include "store_int.h"

struct rill__store_s {
    rill__store_def_t *def;
    rill__task_t *task;
    int32_t partition;
    rill__db_t *db;
    rill__cf_t *cf;
    rill__cache_t cache;
    rill__batch_t *pending; /* range deletes waiting for the next apply */
    rill_buf_t kbuf, vbuf;  /* scratch: the key being built, the value read */
    rd_kafka_topic_t *changelog_rkt;
    int64_t logged_next;   /* changelog offset after the last delivered record, or -1 */
    int64_t expired_below; /* window/session segments below this are dropped */
};

/* store_life.c: produces cache entry e to the store's changelog (when it has one and e is
 * durable) and counts it. Returns 0 or -1. */
int rill__store_log_entry(rill__store_t *st, const rill__centry_t *e);
/* Logs the cache's entries with lo <= key < hi that the changelog holds a value of (not
 * fresh): before their window expires. Returns 0 or -1. */
int rill__store_log_range(rill__store_t *st, const rill_buf_t *lo, const rill_buf_t *hi);

/* msg_opaque of changelog records. */
extern const char rill__changelog_marker;

/* restore.c: brings the n stores (of the thread's tasks) up to date with their changelogs,
 * all changelog partitions read at once. Returns 0 or -1 (errstr). */
int rill__stores_restore(rill__thread_t *thread, rill__store_t **stores, int n, char *errstr,
                         size_t errstr_size);

#endif
