/*
 * global.c — the reader of an app's global tables: every partition of their topics, into
 * stores of the process's RocksDB, first to the end (bootstrap, before any stream thread
 * starts), then as records arrive (a thread of its own).
 *
 * DESIGN
 * One consumer for all global tables, assigned (no group, nothing committed: the offsets
 * live in the stores, global_store_int.h). Records are applied in batches: a poll round takes
 * up to GLOBAL_BATCH records without waiting, and one write of the store (global_store.c)
 * holds their rows and the next offset of every partition they came from, so what a kill -9
 * leaves is a consistent prefix and a restart goes on from it. A record that cannot be a row
 * (null key, value the serde refuses) goes to the dead-letter topic through the engine's
 * dead-letter path (dlq_writer_int.h), and the write that moves the offset past it waits
 * until that record is delivered.
 *
 * Bootstrap ends for a partition when its next offset reaches the high watermark queried at
 * start, or the consumer reports its end (under read_committed the last stable offset may be
 * lower, and transaction markers occupy offsets no record has).
 */
#include "dlq_writer_int.h"
#include "global_store_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOBAL_BATCH 5000                     /* records per write, at most */
#define GLOBAL_BATCH_BYTES ((size_t)16 << 20) /* bytes per write, about */
#define GLOBAL_POLL_MS 100
#define GLOBAL_STALL_MS 60000 /* bootstrap: no record and no end for this long is an error */

typedef struct gpart_s {
    rill_global_table_t *g;
    int32_t partition;
    int64_t next;     /* next offset to read: what the store reflects, or -1 (the start) */
    int64_t boot_end; /* high watermark at start */
    bool caught_up;   /* bootstrap reached the end */
    bool dirty;       /* next moved since the last write */
} rill__gpart_t;

typedef struct rill__global_s {
    rill_app_t *app;
    rd_kafka_t *consumer;
    rill__dlq_writer_t dlq;
    rill__gstore_t store;
    rill__gpart_t *parts;
    int part_cnt;
    int last_part;          /* the part of the last record (records come in runs) */
    size_t batch_cnt;       /* records in the store's pending write (rows and dead letters) */
    size_t batch_bytes;     /* keys and values in it */
    int64_t last_error_log; /* when a consumer error was last logged */
    pthread_t tid;
    bool running;
    int64_t applied, dead, lag; /* metrics (atomic) */
    int64_t lag_checked_ms;
} rill__global_t;

static rd_kafka_t *consumer_new(rill_app_t *app, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kc = rill__reader_conf(app, "global", errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", NULL, 0);
    /* Defaults the consumer.* settings override: the stream threads' pre-fetch, and updates
     * seen within 100 ms when the topic is quiet. */
    static const char *const defaults[][2] = {{"fetch.wait.max.ms", "100"}};
    rill__conf_consumer_defaults(app->conf, kc, defaults, 1);
    rill__consumer_prefetch_defaults(app, kc);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(kc);
    return rk;
}

/* ---- writing a round ---- */

/* Writes the round's rows with the offsets they move; first makes sure that the dead-letter
 * records it skips are delivered. Returns 0 or -1 with errstr. */
static int write_batch(rill__global_t *gl, char *errstr, size_t errstr_size) {
    if (rill__dlq_writer_sync(&gl->dlq, errstr, errstr_size))
        return -1;
    int dirty = 0;
    for (int i = 0; i < gl->part_cnt; i++) {
        rill__gpart_t *p = &gl->parts[i];
        if (!p->dirty)
            continue;
        rill__gstore_offset_put(&gl->store, p->g, p->partition, p->next);
        p->dirty = false;
        dirty = 1;
    }
    if (!dirty)
        return 0;
    int rc =
        rill__gstore_write(&gl->store, gl->batch_bytes > GLOBAL_BATCH_BYTES, errstr, errstr_size);
    __atomic_fetch_add(&gl->applied, (int64_t)gl->batch_cnt, __ATOMIC_RELAXED);
    gl->batch_cnt = 0;
    gl->batch_bytes = 0;
    return rc;
}

/* Sends msg to the dead-letter topic with reason "global table "<topic>": <why>". */
static int dead_letter(rill__global_t *gl, const rd_kafka_message_t *msg, const char *why,
                       char *errstr, size_t errstr_size) {
    char reason[512];
    const char *topic = rd_kafka_topic_name(msg->rkt);
    snprintf(reason, sizeof(reason), "global table \"%s\": %s", topic, why);
    rill__dlq_src_t src = rill__dlq_src_of(msg);
    if (rill__dlq_write(&gl->dlq, &src, reason, errstr, errstr_size))
        return -1;
    __atomic_fetch_add(&gl->dead, 1, __ATOMIC_RELAXED);
    return 0;
}

/* ---- applying records ---- */

static rill__gpart_t *part_of(rill__global_t *gl, const rd_kafka_message_t *msg) {
    rill__gpart_t *p = &gl->parts[gl->last_part];
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (p->partition == msg->partition && !strcmp(p->g->topic, topic))
        return p;
    for (int i = 0; i < gl->part_cnt; i++) {
        p = &gl->parts[i];
        if (p->partition == msg->partition && !strcmp(p->g->topic, topic)) {
            gl->last_part = i;
            return p;
        }
    }
    return NULL;
}

/* The reason a record cannot be a row (written to why), or 0 when it can. */
static int refuse(const rill_global_table_t *g, const rd_kafka_message_t *msg, char *why,
                  size_t why_size) {
    if (!msg->key) {
        snprintf(why, why_size, "null key: a row needs a key (give the record one)");
        return 1;
    }
    const rill_serde_t *serde = g->opts.value_serde;
    if (!serde || !serde->deserialize || !msg->payload)
        return 0;
    void *obj = NULL;
    char err[256] = "";
    if (serde->deserialize(serde, msg->payload, msg->len, &obj, err, sizeof(err))) {
        snprintf(why, why_size, "value is not %s: %s", serde->name ? serde->name : "valid", err);
        return 1;
    }
    if (obj && serde->free_obj)
        serde->free_obj(serde, obj);
    return 0;
}

static int64_t row_time(const rill_global_table_t *g, const rd_kafka_message_t *msg) {
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (!g->opts.timestamp_extractor)
        return ts;
    rill_record_t rec = {.key = msg->key,
                         .key_len = msg->key_len,
                         .value = msg->payload,
                         .value_len = msg->len,
                         .timestamp = ts};
    return g->opts.timestamp_extractor(&rec, g->opts.timestamp_opaque);
}

static int apply(rill__global_t *gl, rill__gpart_t *p, const rd_kafka_message_t *msg, char *errstr,
                 size_t errstr_size) {
    char why[384];
    if (refuse(p->g, msg, why, sizeof(why))) {
        if (dead_letter(gl, msg, why, errstr, errstr_size))
            return -1;
    } else if (rill__gstore_row(&gl->store, p->g, msg->key, msg->key_len,
                                msg->payload ? row_time(p->g, msg) : 0, msg->payload, msg->len)) {
        snprintf(errstr, errstr_size, "global table: out of memory");
        return -1;
    }
    gl->batch_cnt++;
    gl->batch_bytes += msg->key_len + msg->len + 16;
    p->next = msg->offset + 1;
    p->dirty = true;
    if (p->next >= p->boot_end)
        p->caught_up = true;
    return 0;
}

/* The consumer reached the end of p at offset end: bootstrap is done there, and what the
 * store reflects moves past transaction markers (no record of their own) too. */
static void at_end(rill__gpart_t *p, int64_t end) {
    if (!p)
        return;
    p->caught_up = true;
    if (end > p->next) {
        p->next = end;
        p->dirty = true;
    }
}

/* A topic gone or not allowed, or a fatal client error, ends the app (as in the stream
 * threads); other errors are logged, once in 10 s at most. Returns 0 or -1 with errstr. */
static int consumer_error(rill__global_t *gl, const rd_kafka_message_t *msg, char *errstr,
                          size_t errstr_size) {
    const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?";
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL ||
        msg->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        snprintf(errstr, errstr_size, "global table \"%s\": %s", topic,
                 rd_kafka_message_errstr(msg));
        return -1;
    }
    int64_t now = rill__now_ms();
    if (now - gl->last_error_log >= 10000) {
        gl->last_error_log = now;
        rill__log_at(gl->app, RILL__LOG_WARN, -1, "global table \"%s\": %s", topic,
                     rd_kafka_message_errstr(msg));
    }
    return 0;
}

/* One poll round: waits up to timeout_ms for the first record, then takes what is there (up
 * to GLOBAL_BATCH) and writes it. Returns the records applied, or -1 with errstr. */
static int poll_round(rill__global_t *gl, int timeout_ms, char *errstr, size_t errstr_size) {
    int n = 0;
    for (int i = 0; i < GLOBAL_BATCH && gl->batch_bytes < GLOBAL_BATCH_BYTES; i++) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(gl->consumer, i ? 0 : timeout_ms);
        if (!msg)
            break;
        int rc = 0;
        rill__gpart_t *p = part_of(gl, msg);
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end(p, msg->offset);
        } else if (msg->err) {
            rc = consumer_error(gl, msg, errstr, errstr_size);
        } else if (p) {
            rc = apply(gl, p, msg, errstr, errstr_size);
            n++;
        }
        rd_kafka_message_destroy(msg);
        if (rc)
            return -1;
    }
    rill__dlq_writer_poll(&gl->dlq);
    return write_batch(gl, errstr, errstr_size) ? -1 : n;
}

static void update_lag(rill__global_t *gl) {
    int64_t now = rill__now_ms(), lag = 0;
    if (now - gl->lag_checked_ms < 1000)
        return;
    gl->lag_checked_ms = now;
    for (int i = 0; i < gl->part_cnt; i++) {
        int64_t lo, hi;
        const rill__gpart_t *p = &gl->parts[i];
        if (rd_kafka_get_watermark_offsets(gl->consumer, p->g->topic, p->partition, &lo, &hi))
            continue;
        int64_t from = p->next >= 0 ? p->next : lo;
        if (hi > from)
            lag += hi - from;
    }
    __atomic_store_n(&gl->lag, lag, __ATOMIC_RELAXED);
}

/* ---- start: plan, bootstrap, thread ---- */

static int add_partitions(rill__global_t *gl, rill_global_table_t *g, char *errstr,
                          size_t errstr_size) {
    rill_app_t *app = gl->app;
    int cnt = rill__app_topic_partitions(app, g->topic, errstr, errstr_size);
    if (cnt == -2)
        return -1; /* no answer: errstr says why, not "missing" */
    if (cnt < 0 && app->broker) {
        rill_broker_create_topic(app->broker, g->topic, app->set.embedded_partitions);
        cnt = app->set.embedded_partitions;
    }
    if (cnt < 0) {
        snprintf(errstr, errstr_size,
                 "global table topic \"%s\" does not exist on %s: create "
                 "it first (kafka-topics.sh --create --topic %s --partitions N)",
                 g->topic, app->bootstrap, g->topic);
        return -1;
    }
    if (rill__gstore_attach(&gl->store, g, errstr, errstr_size))
        return -1;
    rill__gpart_t *parts = realloc(gl->parts, (size_t)(gl->part_cnt + cnt) * sizeof(*parts));
    if (!parts) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    gl->parts = parts;
    for (int32_t i = 0; i < cnt; i++) {
        rill__gpart_t *p = &gl->parts[gl->part_cnt++];
        int64_t lo = 0, hi = 0;
        *p = (rill__gpart_t){.g = g, .partition = i};
        p->next = rill__gstore_offset(&gl->store, g, i);
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(gl->consumer, g->topic, i, &lo, &hi, 10000);
        if (err) {
            snprintf(errstr, errstr_size, "global table topic \"%s\" [%d]: end offsets: %s",
                     g->topic, (int)i, rd_kafka_err2str(err));
            return -1;
        }
        if (p->next >= 0 && p->next < lo)
            rill__log(app, -1,
                      "global table \"%s\" [%d]: records %" PRId64 "..%" PRId64
                      " were deleted from the topic before this process read them; rows they "
                      "changed keep their older values",
                      g->topic, (int)i, p->next, lo - 1);
        p->boot_end = hi;
        p->caught_up = (p->next >= 0 ? p->next : lo) >= hi;
    }
    return 0;
}

static int assign_all(rill__global_t *gl, char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(gl->part_cnt);
    for (int i = 0; i < gl->part_cnt; i++)
        rd_kafka_topic_partition_list_add(list, gl->parts[i].g->topic, gl->parts[i].partition)
            ->offset = gl->parts[i].next >= 0 ? gl->parts[i].next : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(gl->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err)
        snprintf(errstr, errstr_size, "global tables: assign: %s", rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* Records from the partitions' next offsets to their ends at start. */
static int64_t remaining(const rill__global_t *gl) {
    int64_t n = 0;
    for (int i = 0; i < gl->part_cnt; i++)
        if (!gl->parts[i].caught_up && gl->parts[i].boot_end > gl->parts[i].next)
            n += gl->parts[i].boot_end - (gl->parts[i].next > 0 ? gl->parts[i].next : 0);
    return n;
}

static int bootstrap(rill__global_t *gl, char *errstr, size_t errstr_size) {
    rill_app_t *app = gl->app;
    int64_t start = rill__now_ms(), last_log = start, last_progress = start, total = 0;
    rill__log(app, -1, "global tables: reading %" PRId64 " record(s) before processing starts",
              remaining(gl));
    for (;;) {
        int done = 1;
        for (int i = 0; i < gl->part_cnt && done; i++)
            done = gl->parts[i].caught_up;
        if (done)
            break;
        if (rill__app_stopping(app)) {
            snprintf(errstr, errstr_size, "stopped while reading the global tables");
            return -1;
        }
        int n = poll_round(gl, GLOBAL_POLL_MS, errstr, errstr_size);
        if (n < 0)
            return -1;
        int64_t now = rill__now_ms();
        update_lag(gl);
        total += n;
        if (n > 0)
            last_progress = now;
        if (now - last_progress > GLOBAL_STALL_MS) {
            snprintf(errstr, errstr_size,
                     "global tables: no record and no end of topic for "
                     "%d s while %" PRId64 " record(s) remain: is the broker reachable?",
                     GLOBAL_STALL_MS / 1000, remaining(gl));
            return -1;
        }
        if (now - last_log >= 1000) {
            rill__log(app, -1, "global tables: %" PRId64 " record(s) read, %" PRId64 " to go",
                      total, remaining(gl));
            last_log = now;
        }
    }
    rill__log(app, -1, "global tables ready: %" PRId64 " record(s) read in %" PRId64 " ms", total,
              rill__now_ms() - start);
    return 0;
}

static void *reader_main(void *arg) {
    rill__global_t *gl = arg;
    char errstr[512];
    while (!rill__app_stopping(gl->app)) {
        if (poll_round(gl, GLOBAL_POLL_MS, errstr, sizeof(errstr)) < 0) {
            rill__app_fatal(gl->app, RILL_ERR_STATE, "%s", errstr);
            break;
        }
        update_lag(gl);
    }
    return NULL;
}

static void global_free(rill__global_t *gl) {
    if (gl->consumer) {
        rd_kafka_consumer_close(gl->consumer);
        rd_kafka_destroy(gl->consumer);
    }
    rill__dlq_writer_close(&gl->dlq);
    rill__gstore_free(&gl->store);
    free(gl->parts);
    free(gl);
}

rill_err_t rill__global_start(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    if (!topo->global_cnt)
        return RILL_OK;
    rill__global_destroy(app); /* what an earlier, failed start left */
    rill__db_t *db = rill__app_db(app, errstr, errstr_size);
    if (!db)
        return RILL_ERR_STATE;
    rill__global_t *gl = calloc(1, sizeof(*gl));
    if (!gl || rill__gstore_init(&gl->store, db)) {
        if (gl)
            rill__gstore_free(&gl->store);
        free(gl);
        snprintf(errstr, errstr_size, "out of memory");
        return RILL_ERR_NOMEM;
    }
    gl->app = app;
    rill__dlq_writer_init(&gl->dlq, app, "global-table-reader");
    rill_err_t err = RILL_ERR_KAFKA;
    if (!(gl->consumer = consumer_new(app, errstr, errstr_size)))
        goto fail;
    for (int i = 0; i < topo->global_cnt; i++)
        if (add_partitions(gl, topo->globals[i], errstr, errstr_size))
            goto fail;
    app->global = gl; /* its metrics show the bootstrap's progress */
    if (assign_all(gl, errstr, errstr_size) || bootstrap(gl, errstr, errstr_size))
        goto fail;
    if (pthread_create(&gl->tid, NULL, reader_main, gl)) {
        snprintf(errstr, errstr_size, "global tables: cannot start the reader thread");
        goto fail;
    }
    gl->running = true;
    return RILL_OK;
fail:
    if (!app->global) /* else freed by rill_app_destroy(): other threads may read metrics */
        global_free(gl);
    return err;
}

void rill__global_stop(rill_app_t *app) {
    rill__global_t *gl = app->global;
    if (!gl || !gl->running)
        return;
    rill_app_stop(app);
    pthread_join(gl->tid, NULL);
    gl->running = false;
}

void rill__global_destroy(rill_app_t *app) {
    rill__global_stop(app);
    if (app->global)
        global_free(app->global);
    app->global = NULL;
}

/* ---- metrics ---- */

static const rill__mfamily_t global_families[] = {
    {"rill_global_records_total", RILL__COUNTER, "Records the global tables' reader applied."},
    {"rill_global_lag_records", RILL__GAUGE,
     "Records in Kafka past the global tables' reader's positions."},
    {"rill_global_dead_letters_total", RILL__COUNTER,
     "Global table records sent to the dead-letter topic."},
};

static int64_t metric_at(const rill__global_t *gl, int i) {
    const int64_t *v[] = {&gl->applied, &gl->lag, &gl->dead};
    return __atomic_load_n(v[i], __ATOMIC_RELAXED);
}

int64_t rill__global_metric(rill_app_t *app, const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, global_families[i].name))
            return app->global ? metric_at(app->global, i) : 0;
    return -1;
}

void rill__global_metrics(rill_app_t *app, rill__mout_t *mo) {
    for (int i = 0; i < 3 && app->global; i++)
        rill__mout_sample(mo, &global_families[i], NULL, NULL, metric_at(app->global, i));
}
