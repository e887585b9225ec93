/*
 * restore.c — brings store instances up to date with their changelogs before their tasks
 * process a record.
 *
 * DESIGN
 * The store's partition keeps, in the same column family as its data, the changelog offset
 * its data reflects. Restore reads the changelog partition from there (from the start when
 * there is no offset, after wiping whatever the partition holds) up to its end as the
 * thread's restore consumer sees it (read_committed under exactly-once, so aborted writes
 * never come back). A stream thread restores every store of the tasks it was just given in
 * one pass: all their changelog partitions are assigned at once, so the fetches of every
 * partition overlap instead of running one after the other, and messages are taken from
 * the consumer in batches. Records of every store go into one RocksDB write batch; when it
 * is large (RESTORE_BATCH records, or as many bytes as a memtable: statestore.write.buffer.bytes,
 * which bounds its memory) it is written with, for each store it touches, the offset after
 * that store's last record in it, so each column family (a store) always holds data and an
 * offset that agree.
 *
 * Those writes skip the WAL: the changelog is the log. A process killed during a restore
 * therefore keeps only what RocksDB had flushed to its tables, and a table flush writes a
 * whole memtable, batches in order, so what survives is a prefix of the batches with the
 * offset that matches it, and the next restore resumes from there. Before the stores are
 * handed to their tasks (which write with the WAL, and whose first commit stores an offset
 * past the restored data) every column family the restore wrote is flushed: otherwise a
 * crash after that commit would replay the WAL's offset over data that never reached disk.
 *
 * While they load, the column families restored into have their automatic compactions off
 * (turned back on after the flush). The restore consumer is the thread's own, assigned (no
 * group), made on first use, its queue bounded by bytes.
 * Progress goes to the log every second and to rill_restored_records_total and
 * rill_restore_remaining_records. A stored offset the changelog does not reach (beyond its
 * end: the topic was deleted and made again, or the state directory came from another
 * cluster) means the local data belongs to another changelog: it is wiped and restored from
 * the start, as is data whose offset the changelog no longer holds (below its start).
 */
#include "store_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESTORE_BATCH 100000  /* records per RocksDB write, at most */
#define RESTORE_TAKE 1024     /* messages taken from the consumer per call */
#define RESTORE_IDLE_MS 30000 /* no record and no end for this long: give up */

/* One changelog partition being replayed into one store instance. */
typedef struct restoring_s {
    rill__store_t *st;
    char topic[512];
    int64_t from;                /* the stored offset, or -1 (from the start) */
    int64_t end;                 /* the changelog's end when the restore began */
    int64_t next;                /* offset after the last record put in the store (or the batch) */
    int64_t restored;            /* records replayed */
    const rd_kafka_topic_t *rkt; /* the consumer's handle of topic, once a message named it */
    bool done;                   /* at its end */
    bool dirty;                  /* has records in the batch being built */
} restoring_t;

/* The restore of a thread's stores in progress. */
typedef struct restore_run_s {
    rill__thread_t *thread;
    restoring_t *v;
    int cnt, left; /* entries; entries not done */
    int hint;      /* the entry of the previous message */
    rill__batch_t *batch;
    size_t max_bytes; /* the batch is written when it holds this much */
    char *errstr;
    size_t errstr_size;
} restore_run_t;

static rd_kafka_t *restore_consumer(rill__thread_t *thread, char *errstr, size_t errstr_size) {
    if (thread->restore_consumer)
        return thread->restore_consumer;
    rd_kafka_conf_t *kc = rill__reader_conf(thread->app, "restore", errstr, errstr_size);
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
    rill__conf_consumer_defaults(thread->app->conf, kc, prefetch,
                                 sizeof(prefetch) / sizeof(prefetch[0]));
    thread->restore_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!thread->restore_consumer)
        rd_kafka_conf_destroy(kc);
    return thread->restore_consumer;
}

/* The offset stored with the partition's data, or -1. */
static int64_t stored_offset(rill__store_t *st) {
    unsigned char meta[RILL_KEY_PREFIX_LEN];
    rill__key_prefix(st->partition, RILL_KEY_META, meta);
    if (rill__db_get(st->db, st->cf, meta, sizeof(meta), &st->vbuf, NULL, 0) != 1 ||
        st->vbuf.len != 8)
        return -1;
    return (int64_t)rill__be64_get((const unsigned char *)st->vbuf.data);
}

/* Deletes everything the partition holds (data without a known offset cannot be trusted). */
static int wipe(rill__store_t *st, char *errstr, size_t errstr_size) {
    unsigned char lo[RILL_KEY_PREFIX_LEN], hi[RILL_KEY_PREFIX_LEN];
    rill__key_prefix(st->partition, RILL_KEY_DATA, lo);
    rill__key_prefix(st->partition, RILL_KEY_META + 1, hi);
    rill__batch_t *b = rill__batch_new();
    if (!b) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rill__batch_delete_range(b, st->cf, lo, sizeof(lo), hi, sizeof(hi));
    int rc = rill__db_write(st->db, b, errstr, errstr_size);
    rill__batch_destroy(b);
    return rc;
}

/* The changelog's [lo, hi) offsets; a changelog just created may not have a leader yet, so
 * that is retried for a while. */
static int watermarks(rill__thread_t *thread, rd_kafka_t *rk, restoring_t *r, int64_t *lo,
                      int64_t *hi, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err;
    for (int attempt = 0;; attempt++) {
        err = rd_kafka_query_watermark_offsets(rk, r->topic, r->st->partition, lo, hi, 10000);
        if (!err || attempt == 20 || rill__app_stopping(thread->app) ||
            (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
             err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
             err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
             err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART))
            break;
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (err)
        snprintf(errstr, errstr_size, "changelog %s[%d]: %s", r->topic, (int)r->st->partition,
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* Decides where r's replay starts and ends. Returns 1 when there is something to replay,
 * 0 when the store is up to date, -1 on an error (errstr). */
static int prepare(rill__thread_t *thread, rd_kafka_t *rk, restoring_t *r, char *errstr,
                   size_t errstr_size) {
    rill__store_t *st = r->st;
    rill__store_changelog_name(thread->app, st->def, r->topic, sizeof(r->topic));
    int64_t from = stored_offset(st), lo = 0, hi = 0;
    if ((from < 0 && wipe(st, errstr, errstr_size)) ||
        watermarks(thread, rk, r, &lo, &hi, errstr, errstr_size))
        return -1;
    st->logged_next = from;
    if (from > hi) { /* the changelog is not the one the store was built from */
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx,
                     "task %s: store \"%s\" reflects changelog %s[%d] up to offset %" PRId64
                     " but the changelog ends at %" PRId64 " (the topic was made again, or "
                     "this is another cluster): discarding the local state and restoring from "
                     "the changelog",
                     st->task->id, st->def->name, r->topic, (int)st->partition, from, hi);
        if (wipe(st, errstr, errstr_size))
            return -1;
        from = st->logged_next = -1;
    }
    if (hi <= lo || (from >= 0 && from >= hi)) {
        rill__log_at(thread->app, RILL__LOG_DEBUG, thread->idx,
                     "task %s: store \"%s\" up to date at changelog offset %" PRId64
                     ", nothing to restore",
                     st->task->id, st->def->name, from < 0 ? hi : from);
        return 0;
    }
    if (from >= 0 && from < lo) { /* the changelog no longer has our offset: start over */
        if (wipe(st, errstr, errstr_size))
            return -1;
        from = -1;
    }
    r->from = from;
    r->next = from;
    r->end = hi;
    return 1;
}

/* Assigns every entry's changelog partition at once, each from its own offset. */
static int assign_all(rd_kafka_t *rk, const restore_run_t *run) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(run->cnt);
    for (int i = 0; i < run->cnt; i++)
        rd_kafka_topic_partition_list_add(l, run->v[i].topic, run->v[i].st->partition)->offset =
            run->v[i].from >= 0 ? run->v[i].from : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        snprintf(run->errstr, run->errstr_size, "restore: assigning the changelogs: %s",
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* The entry msg belongs to, or NULL. Messages come in runs of one partition: the previous
 * entry is tried first, then the handles already seen, then the topic names. */
static restoring_t *entry_of(restore_run_t *run, const rd_kafka_message_t *msg) {
    restoring_t *r = &run->v[run->hint];
    if (r->rkt == msg->rkt && r->st->partition == msg->partition)
        return r;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < run->cnt; i++) {
            r = &run->v[i];
            if (r->st->partition != msg->partition ||
                (pass == 0 ? r->rkt != msg->rkt
                           : r->rkt || strcmp(r->topic, rd_kafka_topic_name(msg->rkt))))
                continue;
            r->rkt = msg->rkt;
            run->hint = i;
            return r;
        }
    }
    return NULL;
}

/* Adds one changelog record to the batch: key = partition + changelog key. */
static void add_record(restoring_t *r, rill__batch_t *b, const rd_kafka_message_t *msg) {
    rill__store_t *st = r->st;
    unsigned char p[4];
    rill__be32_put(p, (uint32_t)st->partition);
    rill_buf_reset(&st->kbuf);
    rill_buf_append(&st->kbuf, p, 4);
    rill_buf_append(&st->kbuf, msg->key, msg->key_len);
    if (msg->payload)
        rill__batch_put(b, st->cf, st->kbuf.data, st->kbuf.len, msg->payload, msg->len);
    else
        rill__batch_delete(b, st->cf, st->kbuf.data, st->kbuf.len);
    r->next = msg->offset + 1;
    r->restored++;
    r->dirty = true;
}

/* Writes the batch, with the offset reached by each store it touches, without the WAL. */
static int write_batch(restore_run_t *run) {
    rill__store_t *any = NULL;
    for (int i = 0; i < run->cnt; i++) {
        restoring_t *r = &run->v[i];
        if (!r->dirty)
            continue;
        unsigned char meta[RILL_KEY_PREFIX_LEN], off[8];
        rill__key_prefix(r->st->partition, RILL_KEY_META, meta);
        rill__be64_put(off, (uint64_t)r->next);
        rill__batch_put(run->batch, r->st->cf, meta, sizeof(meta), off, sizeof(off));
        r->dirty = false;
        any = r->st;
    }
    if (!any)
        return 0;
    int rc = rill__db_write_wal(any->db, run->batch, 0, run->errstr, run->errstr_size);
    rill__batch_clear(run->batch);
    return rc;
}

static void mark_done(restore_run_t *run, restoring_t *r) {
    if (!r->done) {
        r->done = true;
        run->left--;
    }
}

/* Takes one message: a record into the batch, or the end of a partition. */
static int take(restore_run_t *run, const rd_kafka_message_t *msg) {
    restoring_t *r = entry_of(run, msg);
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (r)
            mark_done(run, r);
        return 0;
    }
    if (msg->err) {
        snprintf(run->errstr, run->errstr_size, "restore of %s[%d]: %s",
                 msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?", (int)msg->partition,
                 rd_kafka_message_errstr(msg));
        return -1;
    }
    if (!r || r->done)
        return 0; /* a message of a partition already at its end: nothing more to take */
    add_record(r, run->batch, msg);
    if (r->next >= r->end)
        mark_done(run, r);
    return 0;
}

static int64_t remaining(const restore_run_t *run) {
    int64_t n = 0;
    for (int i = 0; i < run->cnt; i++)
        if (!run->v[i].done && run->v[i].end > run->v[i].next)
            n += run->v[i].end - (run->v[i].next < 0 ? 0 : run->v[i].next);
    return n;
}

/* Reads every entry's changelog to its end into the stores. */
static int replay(restore_run_t *run, rd_kafka_t *rk) {
    rill__thread_t *thread = run->thread;
    rd_kafka_message_t *msgs[RESTORE_TAKE];
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    int64_t restored = 0, last_log = rill__now_ms(), last_progress = last_log;
    int rc = q ? assign_all(rk, run) : -1;
    while (!rc && run->left && !rill__app_stopping(thread->app)) {
        /* What is there, at once; only an empty queue is waited on (for one message): a
         * batch call with a timeout waits for a full batch. */
        ssize_t got = rd_kafka_consume_batch_queue(q, 0, msgs, RESTORE_TAKE);
        if (got == 0)
            got = rd_kafka_consume_batch_queue(q, 100, msgs, 1);
        int64_t now = rill__now_ms(), before = restored;
        for (ssize_t i = 0; i < got; i++) {
            if (!rc && !(rc = take(run, msgs[i])) && !msgs[i]->err)
                restored++;
            rd_kafka_message_destroy(msgs[i]);
        }
        rill__metric_add(&thread->metrics, RILL_M_RESTORED, restored - before);
        if (got > 0)
            last_progress = now;
        else if (now - last_progress > RESTORE_IDLE_MS) {
            snprintf(run->errstr, run->errstr_size,
                     "restore of %d changelog partition(s) made "
                     "no progress for %d s",
                     run->left, RESTORE_IDLE_MS / 1000);
            rc = -1;
        }
        if (!rc && (rill__batch_count(run->batch) >= RESTORE_BATCH ||
                    rill__batch_bytes(run->batch) >= run->max_bytes))
            rc = write_batch(run);
        if (now - last_log >= 1000) {
            int64_t left = remaining(run);
            rill__log(thread->app, thread->idx,
                      "restoring %d changelog partition(s): %" PRId64 " records so far, %" PRId64
                      " to go",
                      run->left, restored, left);
            rill__metric_set(&thread->metrics, RILL_M_RESTORE_LAG, left);
            last_log = now;
        }
    }
    if (!rc)
        rc = write_batch(run);
    if (q)
        rd_kafka_queue_destroy(q);
    rd_kafka_assign(rk, NULL);
    rill__metric_set(&thread->metrics, RILL_M_RESTORE_LAG, 0);
    return rc;
}

/* Whether entry i is the first of the run with its column family (among those that
 * restored something, when written). */
static bool first_of_cf(const restore_run_t *run, int i, bool written) {
    for (int j = 0; j < i; j++)
        if ((!written || run->v[j].restored) && run->v[j].st->cf == run->v[i].st->cf)
            return false;
    return !written || run->v[i].restored;
}

/* Flushes each column family a replay wrote into, once (see DESIGN). */
static int flush_restored(const restore_run_t *run) {
    for (int i = 0; i < run->cnt; i++)
        if (first_of_cf(run, i, true) &&
            rill__db_flush(run->v[i].st->db, run->v[i].st->cf, run->errstr, run->errstr_size))
            return -1;
    return 0;
}

/* Compactions off while the column families load (their tables are compacted afterwards,
 * not while the restore competes for the same cores), and back on. Turning them off is
 * only an optimisation; turning them back on must succeed. */
static int bulk_load(const restore_run_t *run, int on) {
    char err[256];
    for (int i = 0; i < run->cnt; i++)
        if (first_of_cf(run, i, false) &&
            rill__db_bulk_load(run->v[i].st->db, run->v[i].st->cf, on, on ? err : run->errstr,
                               on ? sizeof(err) : run->errstr_size) &&
            !on)
            return -1;
    return 0;
}

static void log_restored(const restore_run_t *run) {
    for (int i = 0; i < run->cnt; i++) {
        const restoring_t *r = &run->v[i];
        rill__log_at(run->thread->app, r->restored ? RILL__LOG_INFO : RILL__LOG_DEBUG,
                     run->thread->idx,
                     "task %s: store \"%s\" restored: %" PRId64 " changelog "
                     "record(s) replayed from offset %" PRId64 " (%s)",
                     r->st->task->id, r->st->def->name, r->restored, r->from < 0 ? 0 : r->from,
                     r->from < 0 ? "no local state" : "the stored offset");
    }
}

/* Prepares every store; keeps in run those with something to replay. */
static int prepare_all(restore_run_t *run, rd_kafka_t *rk, rill__store_t **stores, int n) {
    for (int i = 0; i < n; i++) {
        restoring_t *r = &run->v[run->cnt];
        *r = (restoring_t){.st = stores[i]};
        int rc = prepare(run->thread, rk, r, run->errstr, run->errstr_size);
        if (rc < 0)
            return -1;
        run->cnt += rc;
    }
    run->left = run->cnt;
    return 0;
}

/* Replays the prepared entries, compactions off, and flushes what they wrote. */
static int restore_all(restore_run_t *run, rd_kafka_t *rk) {
    bulk_load(run, 1);
    int rc = replay(run, rk);
    /* Persist the WAL-less restore before the tasks write with the WAL (see DESIGN). */
    if (!rc)
        rc = flush_restored(run);
    if (bulk_load(run, 0))
        rc = -1;
    if (!rc)
        log_restored(run);
    return rc;
}

int rill__stores_restore(rill__thread_t *thread, rill__store_t **stores, int n, char *errstr,
                         size_t errstr_size) {
    if (n <= 0)
        return 0;
    restore_run_t run = {.thread = thread,
                         .errstr = errstr,
                         .errstr_size = errstr_size,
                         .max_bytes = (size_t)thread->app->set.write_buffer_bytes};
    rd_kafka_t *rk = restore_consumer(thread, errstr, errstr_size);
    if (!rk)
        return -1;
    run.v = calloc((size_t)n, sizeof(*run.v));
    run.batch = rill__batch_new();
    int rc = -1;
    if (!run.v || !run.batch)
        snprintf(errstr, errstr_size, "out of memory");
    else if (!prepare_all(&run, rk, stores, n))
        rc = run.cnt ? restore_all(&run, rk) : 0;
    rill__batch_destroy(run.batch);
    free(run.v);
    return rc;
}
