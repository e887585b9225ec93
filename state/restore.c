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
 * (turned back on after the flush). Records come from the stream thread's restore source
 * (rill__changelog_src_t), made on first use and owned by the thread's state object: a
 * librdkafka consumer, assigned (no group), its queue bounded by bytes (restore_kafka.c),
 * unless the host gives a source of its own.
 * Progress goes to the log every second and to rill_restored_records_total and
 * rill_restore_remaining_records. A stored offset the changelog does not reach (beyond its
 * end: the topic was deleted and made again, or the state directory came from another
 * cluster) means the local data belongs to another changelog: it is wiped and restored from
 * the start, as is data whose offset the changelog no longer holds (below its start).
 */
#include "store_inst_int.h"
#include "clock_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTORE_BATCH 100000  /* records per RocksDB write, at most */
#define RESTORE_TAKE 1024     /* records taken from the source per call */
#define RESTORE_IDLE_MS 30000 /* no record and no end for this long: give up */

/* One changelog partition being replayed into one store instance. */
typedef struct rill__restoring_s {
    rill__store_t *st;
    char topic[512];
    int64_t from;     /* the stored offset, or -1 (from the start) */
    int64_t end;      /* the changelog's end when the restore began */
    int64_t next;     /* offset after the last record put in the store (or the batch) */
    int64_t restored; /* records replayed */
    bool done;        /* at its end */
    bool dirty;       /* has records in the batch being built */
} rill__restoring_t;

/* The restore of a thread's stores in progress. */
typedef struct rill__restore_run_s {
    rill__state_thread_t *thread;
    rill__restoring_t *v;
    int cnt, left; /* entries; entries not done */
    rill__batch_t *batch;
    size_t max_bytes; /* the batch is written when it holds this much */
    char *errstr;
    size_t errstr_size;
} rill__restore_run_t;

/* The thread's restore source, made on first use. */
static rill__changelog_src_t *restore_source(rill__state_thread_t *thread, char *errstr,
                                             size_t errstr_size) {
    const rill__state_host_t *host = &thread->state->host;
    if (!thread->src)
        thread->src = host->source_new
                          ? host->source_new(host->opaque, errstr, errstr_size)
                          : rill__changelog_src_kafka(thread->state, errstr, errstr_size);
    return thread->src;
}

static void count_restored(const rill__state_thread_t *thread, int64_t n) {
    if (thread->state->host.restored)
        thread->state->host.restored(thread->opaque, n);
}

static void count_left(const rill__state_thread_t *thread, int64_t n) {
    if (thread->state->host.restore_left)
        thread->state->host.restore_left(thread->opaque, n);
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

/* Decides where r's replay starts and ends. Returns 1 when there is something to replay,
 * 0 when the store is up to date, -1 on an error (errstr). */
static int prepare(rill__state_thread_t *thread, rill__changelog_src_t *src, rill__restoring_t *r,
                   char *errstr, size_t errstr_size) {
    rill__store_t *st = r->st;
    rill__store_changelog_name(thread->state, st->def, r->topic, sizeof(r->topic));
    int64_t from = stored_offset(st), lo = 0, hi = 0;
    if ((from < 0 && wipe(st, errstr, errstr_size)) ||
        src->watermarks(src, r->topic, st->partition, &lo, &hi, errstr, errstr_size))
        return -1;
    st->logged_next = from;
    if (from > hi) { /* the changelog is not the one the store was built from */
        rill__state_log(thread->state, RILL__LOG_WARN, thread->idx,
                        "task %s: store \"%s\" reflects changelog %s[%d] up to offset %" PRId64
                        " but the changelog ends at %" PRId64 " (the topic was made again, or "
                        "this is another cluster): discarding the local state and restoring "
                        "from the changelog",
                        st->task->id, st->def->name, r->topic, (int)st->partition, from, hi);
        if (wipe(st, errstr, errstr_size))
            return -1;
        from = st->logged_next = -1;
    }
    if (hi <= lo || (from >= 0 && from >= hi)) {
        rill__state_log(thread->state, RILL__LOG_DEBUG, thread->idx,
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
static int assign_all(rill__changelog_src_t *src, const rill__restore_run_t *run) {
    rill__changelog_pos_t *pos = calloc((size_t)run->cnt, sizeof(*pos));
    if (!pos) {
        snprintf(run->errstr, run->errstr_size, "restore: out of memory");
        return -1;
    }
    for (int i = 0; i < run->cnt; i++)
        pos[i] = (rill__changelog_pos_t){.topic = run->v[i].topic,
                                         .partition = run->v[i].st->partition,
                                         .offset = run->v[i].from >= 0 ? run->v[i].from
                                                                       : RD_KAFKA_OFFSET_BEGINNING};
    int rc = src->assign(src, pos, run->cnt, run->errstr, run->errstr_size);
    free(pos);
    return rc;
}

/* Adds one changelog record to the batch: key = partition + changelog key. */
static void add_record(rill__restoring_t *r, rill__batch_t *b, const rill__changelog_rec_t *rec) {
    rill__store_t *st = r->st;
    unsigned char p[4];
    rill__be32_put(p, (uint32_t)st->partition);
    rill_buf_reset(&st->kbuf);
    rill_buf_append(&st->kbuf, p, 4);
    rill_buf_append(&st->kbuf, rec->key, rec->key_len);
    if (rec->value)
        rill__batch_put(b, st->cf, st->kbuf.data, st->kbuf.len, rec->value, rec->value_len);
    else
        rill__batch_delete(b, st->cf, st->kbuf.data, st->kbuf.len);
    r->next = rec->offset + 1;
    r->restored++;
    r->dirty = true;
}

/* Writes the batch, with the offset reached by each store it touches, without the WAL. */
static int write_batch(rill__restore_run_t *run) {
    rill__store_t *any = NULL;
    for (int i = 0; i < run->cnt; i++) {
        rill__restoring_t *r = &run->v[i];
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

static void mark_done(rill__restore_run_t *run, rill__restoring_t *r) {
    if (!r->done) {
        r->done = true;
        run->left--;
    }
}

/* Takes one record into the batch, or the end of a partition. Returns whether it was a
 * record of an entry still replaying. */
static bool take(rill__restore_run_t *run, const rill__changelog_rec_t *rec) {
    rill__restoring_t *r = rec->pos >= 0 && rec->pos < run->cnt ? &run->v[rec->pos] : NULL;
    if (rec->eof) {
        if (r)
            mark_done(run, r);
        return false;
    }
    if (!r || r->done)
        return true; /* a record of a partition already at its end: nothing more to take */
    add_record(r, run->batch, rec);
    if (r->next >= r->end)
        mark_done(run, r);
    return true;
}

static int64_t remaining(const rill__restore_run_t *run) {
    int64_t n = 0;
    for (int i = 0; i < run->cnt; i++)
        if (!run->v[i].done && run->v[i].end > run->v[i].next)
            n += run->v[i].end - (run->v[i].next < 0 ? 0 : run->v[i].next);
    return n;
}

/* Reads every entry's changelog to its end into the stores. */
static int replay(rill__restore_run_t *run, rill__changelog_src_t *src) {
    rill__state_thread_t *thread = run->thread;
    const rill__state_host_t *host = &thread->state->host;
    rill__changelog_rec_t recs[RESTORE_TAKE];
    int64_t restored = 0, last_log = rill__now_ms(), last_progress = last_log;
    int rc = assign_all(src, run);
    while (!rc && run->left && !host->stopping(host->opaque)) {
        /* What is there, at once; only an empty source is waited on. */
        int got = src->take(src, recs, RESTORE_TAKE, 100, run->errstr, run->errstr_size);
        if (got < 0) {
            rc = -1;
            break;
        }
        int64_t now = rill__now_ms(), before = restored;
        for (int i = 0; i < got; i++)
            restored += take(run, &recs[i]);
        count_restored(thread, restored - before);
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
            rill__state_log(thread->state, RILL__LOG_INFO, thread->idx,
                            "restoring %d changelog partition(s): %" PRId64
                            " records so far, %" PRId64 " to go",
                            run->left, restored, left);
            count_left(thread, left);
            last_log = now;
        }
    }
    if (!rc)
        rc = write_batch(run);
    src->assign(src, NULL, 0, NULL, 0);
    count_left(thread, 0);
    return rc;
}
/* Whether entry i is the first of the run with its column family (among those that
 * restored something, when written). */
static bool first_of_cf(const rill__restore_run_t *run, int i, bool written) {
    for (int j = 0; j < i; j++)
        if ((!written || run->v[j].restored) && run->v[j].st->cf == run->v[i].st->cf)
            return false;
    return !written || run->v[i].restored;
}

/* Flushes each column family a replay wrote into, once (see DESIGN). */
static int flush_restored(const rill__restore_run_t *run) {
    for (int i = 0; i < run->cnt; i++)
        if (first_of_cf(run, i, true) &&
            rill__db_flush(run->v[i].st->db, run->v[i].st->cf, run->errstr, run->errstr_size))
            return -1;
    return 0;
}

/* Compactions off while the column families load (their tables are compacted afterwards,
 * not while the restore competes for the same cores), and back on. Turning them off is
 * only an optimisation; turning them back on must succeed. */
static int bulk_load(const rill__restore_run_t *run, int on) {
    char err[256];
    for (int i = 0; i < run->cnt; i++)
        if (first_of_cf(run, i, false) &&
            rill__db_bulk_load(run->v[i].st->db, run->v[i].st->cf, on, on ? err : run->errstr,
                               on ? sizeof(err) : run->errstr_size) &&
            !on)
            return -1;
    return 0;
}

static void log_restored(const rill__restore_run_t *run) {
    for (int i = 0; i < run->cnt; i++) {
        const rill__restoring_t *r = &run->v[i];
        rill__state_log(run->thread->state, r->restored ? RILL__LOG_INFO : RILL__LOG_DEBUG,
                        run->thread->idx,
                        "task %s: store \"%s\" restored: %" PRId64 " changelog "
                        "record(s) replayed from offset %" PRId64 " (%s)",
                        r->st->task->id, r->st->def->name, r->restored, r->from < 0 ? 0 : r->from,
                        r->from < 0 ? "no local state" : "the stored offset");
    }
}

/* Prepares every store; keeps in run those with something to replay. */
static int prepare_all(rill__restore_run_t *run, rill__changelog_src_t *src, rill__store_t **stores,
                       int n) {
    for (int i = 0; i < n; i++) {
        rill__restoring_t *r = &run->v[run->cnt];
        *r = (rill__restoring_t){.st = stores[i]};
        int rc = prepare(run->thread, src, r, run->errstr, run->errstr_size);
        if (rc < 0)
            return -1;
        run->cnt += rc;
    }
    run->left = run->cnt;
    return 0;
}

/* Replays the prepared entries, compactions off, and flushes what they wrote. */
static int restore_all(rill__restore_run_t *run, rill__changelog_src_t *src) {
    bulk_load(run, 1);
    int rc = replay(run, src);
    /* Persist the WAL-less restore before the tasks write with the WAL (see DESIGN). */
    if (!rc)
        rc = flush_restored(run);
    if (bulk_load(run, 0))
        rc = -1;
    if (!rc)
        log_restored(run);
    return rc;
}

int rill__stores_restore(rill__state_thread_t *thread, rill__store_t **stores, int n, char *errstr,
                         size_t errstr_size) {
    if (n <= 0)
        return 0;
    rill__restore_run_t run = {.thread = thread,
                               .errstr = errstr,
                               .errstr_size = errstr_size,
                               .max_bytes = thread->state->host.db_opts.write_buffer_bytes};
    rill__changelog_src_t *src = restore_source(thread, errstr, errstr_size);
    if (!src)
        return -1;
    run.v = calloc((size_t)n, sizeof(*run.v));
    run.batch = rill__batch_new();
    int rc = -1;
    if (!run.v || !run.batch)
        snprintf(errstr, errstr_size, "out of memory");
    else if (!prepare_all(&run, src, stores, n))
        rc = run.cnt ? restore_all(&run, src) : 0;
    rill__batch_destroy(run.batch);
    free(run.v);
    return rc;
}
