/*
 * restore.c — brings a store instance up to date with its changelog before its task
 * processes a record.
 *
 * DESIGN
 * The store's partition keeps, in the same column family as its data, the changelog offset
 * its data reflects. Restore reads the changelog partition from there (from the start when
 * there is no offset, after wiping whatever the partition holds) up to its end as the
 * thread's restore consumer sees it (read_committed under exactly-once, so aborted writes
 * never come back), and writes the records in large batches, each with the offset after its
 * last record, with the WAL off (the changelog is the log) and a flush at the end — so a
 * crash during restore resumes from the last flushed batch. The restore consumer is
 * the thread's own, assigned (no group), made on first use. Progress goes to the log every
 * second and to the metrics rill_restored_records_total and rill_restore_remaining_records.
 * A stored offset the changelog does not reach (beyond its end: the topic was deleted and
 * made again, or the state directory came from another cluster) means the local data belongs
 * to another changelog: it is wiped and restored from the start, as is data whose offset the
 * changelog no longer holds (below its start).
 */
#include "store_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RESTORE_BATCH 10000
#define RESTORE_IDLE_MS 30000 /* no record and no end for this long: give up */

static rd_kafka_t *restore_consumer(rill__thread_t *thread, char *errstr, size_t errstr_size) {
    if (thread->restore_consumer)
        return thread->restore_consumer;
    rd_kafka_conf_t *kc = rill__reader_conf(thread->app, "restore", errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_conf_set(kc, "fetch.wait.max.ms", "50", NULL, 0);
    thread->restore_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!thread->restore_consumer)
        rd_kafka_conf_destroy(kc);
    return thread->restore_consumer;
}

/* The offset stored with the partition's data, or -1. */
static int64_t stored_offset(rill__store_t *st) {
    unsigned char meta[RILL_KEY_PREFIX_LEN];
    rill__key_prefix(st->partition, RILL_KEY_META, meta);
    if (rill__db_get(st->db, st->cf, meta, sizeof(meta), &st->vbuf, NULL, 0) != 1 || st->vbuf.len != 8)
        return -1;
    return (int64_t)rill__be64_get((const unsigned char *)st->vbuf.data);
}

/* Deletes everything the partition holds (data without a known offset cannot be trusted). */
static int wipe(rill__store_t *st, char *errstr, size_t errstr_size) {
    unsigned char lo[RILL_KEY_PREFIX_LEN], hi[RILL_KEY_PREFIX_LEN];
    rill__key_prefix(st->partition, RILL_KEY_DATA, lo);
    rill__key_prefix(st->partition, RILL_KEY_META + 1, hi);
    rill__batch_t *b = rill__batch_new();
    rill__batch_delete_range(b, st->cf, lo, sizeof(lo), hi, sizeof(hi));
    int rc = rill__db_write(st->db, b, errstr, errstr_size);
    rill__batch_destroy(b);
    return rc;
}

/* Adds one changelog record to the batch: key = partition + changelog key. */
static void add_record(rill__store_t *st, rill__batch_t *b, const rd_kafka_message_t *msg) {
    unsigned char p[4];
    p[0] = (unsigned char)((uint32_t)st->partition >> 24);
    p[1] = (unsigned char)((uint32_t)st->partition >> 16);
    p[2] = (unsigned char)((uint32_t)st->partition >> 8);
    p[3] = (unsigned char)st->partition;
    rill_buf_reset(&st->kbuf);
    rill_buf_append(&st->kbuf, p, 4);
    rill_buf_append(&st->kbuf, msg->key, msg->key_len);
    if (msg->payload)
        rill__batch_put(b, st->cf, st->kbuf.data, st->kbuf.len, msg->payload, msg->len);
    else
        rill__batch_delete(b, st->cf, st->kbuf.data, st->kbuf.len);
}

static int flush_batch(rill__store_t *st, rill__batch_t *b, int64_t next, char *errstr,
                       size_t errstr_size) {
    unsigned char meta[RILL_KEY_PREFIX_LEN], off[8];
    rill__key_prefix(st->partition, RILL_KEY_META, meta);
    rill__be64_put(off, (uint64_t)next);
    rill__batch_put(b, st->cf, meta, sizeof(meta), off, sizeof(off));
    int rc = rill__db_write_wal(st->db, b, 0, errstr, errstr_size); /* WAL off: replayable */
    rill__batch_clear(b);
    return rc;
}

/* Reads the changelog from `from` to its end into the store. */
static int replay(rill__store_t *st, rd_kafka_t *rk, const char *topic, int64_t from,
                  int64_t end, char *errstr, size_t errstr_size) {
    rill__thread_t *thread = st->task->thread;
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, st->partition)->offset =
        from >= 0 ? from : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, one);
    rd_kafka_topic_partition_list_destroy(one);
    rill__batch_t *b = rill__batch_new();
    int64_t next = from, restored = 0, last_log = rill__now_ms(), last_progress = last_log;
    int rc = 0, done = 0;
    while (!done && !rc && !rill__app_stopping(thread->app)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        int64_t now = rill__now_ms();
        if (!msg) {
            if (now - last_progress > RESTORE_IDLE_MS) {
                snprintf(errstr, errstr_size, "restore of %s[%d] made no progress for %d s",
                         topic, (int)st->partition, RESTORE_IDLE_MS / 1000);
                rc = -1;
            }
            continue;
        }
        last_progress = now;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done = 1;
        } else if (msg->err) {
            snprintf(errstr, errstr_size, "restore of %s[%d]: %s", topic, (int)st->partition,
                     rd_kafka_message_errstr(msg));
            rc = -1;
        } else {
            add_record(st, b, msg);
            next = msg->offset + 1;
            restored++;
            rill__metric_add(&thread->metrics, RILL_M_RESTORED, 1);
            done = next >= end;
            if (rill__batch_count(b) >= RESTORE_BATCH || done)
                rc = flush_batch(st, b, next, errstr, errstr_size);
        }
        rd_kafka_message_destroy(msg);
        if (now - last_log >= 1000) {
            rill__log(thread->app, thread->idx, "task %s: restoring store \"%s\": %" PRId64
                      " records, at offset %" PRId64 " of %" PRId64, st->task->id,
                      st->def->name, restored, next, end);
            rill__metric_set(&thread->metrics, RILL_M_RESTORE_LAG, end - next);
            last_log = now;
        }
    }
    if (!rc && rill__batch_count(b))
        rc = flush_batch(st, b, next, errstr, errstr_size);
    /* Persist the WAL-less restore before the task writes with the WAL (see db_int.h). */
    if (!rc && restored)
        rc = rill__db_flush(st->db, st->cf, errstr, errstr_size);
    rill__batch_destroy(b);
    rd_kafka_assign(rk, NULL);
    rill__metric_set(&thread->metrics, RILL_M_RESTORE_LAG, 0);
    rill__log_at(thread->app, restored ? RILL__LOG_INFO : RILL__LOG_DEBUG, thread->idx,
                 "task %s: store \"%s\" restored: %" PRId64 " changelog record(s) replayed "
                 "from offset %" PRId64 " (%s)", st->task->id, st->def->name, restored,
                 from < 0 ? 0 : from, from < 0 ? "no local state" : "the stored offset");
    return rc;
}

int rill__store_restore(rill__store_t *st, char *errstr, size_t errstr_size) {
    rill__thread_t *thread = st->task->thread;
    char topic[512];
    rill__store_changelog_name(thread->app, st->def, topic, sizeof(topic));
    int64_t from = stored_offset(st);
    if (from < 0 && wipe(st, errstr, errstr_size))
        return -1;
    st->logged_next = from;
    rd_kafka_t *rk = restore_consumer(thread, errstr, errstr_size);
    if (!rk)
        return -1;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err;
    /* A changelog just created may not have a leader yet: retry for a while. */
    for (int attempt = 0;; attempt++) {
        err = rd_kafka_query_watermark_offsets(rk, topic, st->partition, &lo, &hi, 10000);
        if (!err || attempt == 20 || rill__app_stopping(thread->app) ||
            (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
             err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
             err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
             err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART))
            break;
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (err) {
        snprintf(errstr, errstr_size, "changelog %s[%d]: %s", topic, (int)st->partition,
                 rd_kafka_err2str(err));
        return -1;
    }
    if (from > hi) { /* the changelog is not the one the store was built from */
        rill__log_at(thread->app, RILL__LOG_WARN, thread->idx,
                     "task %s: store \"%s\" reflects changelog %s[%d] up to offset %" PRId64
                     " but the changelog ends at %" PRId64 " (the topic was made again, or "
                     "this is another cluster): discarding the local state and restoring from "
                     "the changelog", st->task->id, st->def->name, topic,
                     (int)st->partition, from, hi);
        if (wipe(st, errstr, errstr_size))
            return -1;
        from = -1;
        st->logged_next = -1;
    }
    if (hi <= lo || (from >= 0 && from >= hi)) {
        rill__log_at(thread->app, RILL__LOG_DEBUG, thread->idx,
                     "task %s: store \"%s\" up to date at changelog offset %" PRId64
                     ", nothing to restore", st->task->id, st->def->name, from < 0 ? hi : from);
        return 0;
    }
    if (from >= 0 && from < lo) { /* the changelog no longer has our offset: start over */
        if (wipe(st, errstr, errstr_size))
            return -1;
        from = -1;
    }
    return replay(st, rk, topic, from, hi, errstr, errstr_size);
}
