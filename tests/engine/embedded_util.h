/*
 * embedded_util.h — helpers for component tests that run an app on the embedded broker
 * (librdkafka's in-process mock cluster): configuration, topics, writing input, waiting for
 * progress with a bound, stopping with a watchdog, reading a topic back to its end, and
 * comparing record sets. Header-only (static inline) so that each test binary stands alone.
 *
 * DESIGN
 * A test builds its topology, makes the app with eu_app_new() (no bootstrap.servers: the app
 * starts its own mock cluster, so tests share nothing), creates and fills its input topics,
 * starts the app, waits until rill_records_processed_total reaches the input count, stops
 * the app and waits for it, and only then reads the outputs: the threads flush their
 * producers before they exit and the broker lives until rill_app_destroy(), so the outputs
 * are complete and a topic is read exactly up to its high watermarks, with no guessing how
 * long to wait for stragglers. Every wait is bounded; Criterion's .timeout bounds the rest.
 * Records read back are copied (key, value, headers as NUL-terminated strings).
 */
#ifndef RILL_TESTS_EMBEDDED_UTIL_H
#define RILL_TESTS_EMBEDDED_UTIL_H

#include <criterion/criterion.h>

#include "rill.h"
#include "rt_marker.h"
#include "rt_state.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EU_WAIT_MS 20000 /* longest wait for processing, reading or stopping */

static inline int64_t eu_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void eu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* String lists: record sets compared as sorted lists of "key=value" lines                  */

typedef struct eu_strs_s {
    char **v;
    size_t cnt, cap;
} eu_strs_t;

static inline void eu_strs_add(eu_strs_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void eu_strs_add(eu_strs_t *l, const char *fmt, ...) {
    va_list ap, again;
    char *s;
    int n;

    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    cr_assert_geq(n, 0);
    s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    va_end(ap);
    if (l->cnt == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        cr_assert_not_null(l->v);
    }
    l->v[l->cnt++] = s;
}

static inline void eu_strs_free(eu_strs_t *l) {
    for (size_t i = 0; i < l->cnt; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static inline int eu_strcmp_p(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts that got and want hold the same strings, in any order (both get sorted). */
static inline void eu_assert_same_set(eu_strs_t *got, eu_strs_t *want, const char *what) {
    if (got->cnt)
        qsort(got->v, got->cnt, sizeof(char *), eu_strcmp_p);
    if (want->cnt)
        qsort(want->v, want->cnt, sizeof(char *), eu_strcmp_p);
    for (size_t i = 0; i < got->cnt && i < want->cnt; i++)
        cr_assert_str_eq(got->v[i], want->v[i],
                         "%s: sorted item %zu differs (got %zu records, "
                         "want %zu)",
                         what, i, got->cnt, want->cnt);
    cr_assert_eq(got->cnt, want->cnt, "%s: got %zu records, want %zu", what, got->cnt, want->cnt);
}

/* ---------------------------------------------------------------------------------------- */
/* Records read back from a topic                                                           */

typedef struct eu_header_s {
    char *name;
    char *value; /* NUL-terminated copy; NULL for a null value */
} eu_header_t;

typedef struct eu_rec_s {
    char *key; /* NUL-terminated copies; NULL for a null key or value */
    size_t key_len;
    char *value;
    size_t value_len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    eu_header_t *hdrs;
    size_t hdr_cnt;
} eu_rec_t;

typedef struct eu_recs_s {
    eu_rec_t *v;
    size_t cnt, cap;
    int partition_cnt; /* of the topic read; 0 when it does not exist */
} eu_recs_t;

static inline char *eu_copy(const void *p, size_t len) {
    char *s;

    if (!p)
        return NULL;
    s = malloc(len + 1);
    cr_assert_not_null(s);
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static inline void eu_recs_add(eu_recs_t *recs, const rd_kafka_message_t *msg) {
    rd_kafka_headers_t *hdrs = NULL;
    eu_rec_t *r;

    if (recs->cnt == recs->cap) {
        recs->cap = recs->cap ? recs->cap * 2 : 64;
        recs->v = realloc(recs->v, recs->cap * sizeof(*recs->v));
        cr_assert_not_null(recs->v);
    }
    r = &recs->v[recs->cnt++];
    memset(r, 0, sizeof(*r));
    r->key = eu_copy(msg->key, msg->key_len);
    r->key_len = msg->key_len;
    r->value = eu_copy(msg->payload, msg->len);
    r->value_len = msg->len;
    r->partition = msg->partition;
    r->offset = msg->offset;
    r->timestamp = rd_kafka_message_timestamp(msg, NULL);
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t n = rd_kafka_header_cnt(hdrs);
        r->hdrs = calloc(n ? n : 1, sizeof(*r->hdrs));
        cr_assert_not_null(r->hdrs);
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *value;
            size_t len;
            cr_assert_eq(rd_kafka_header_get_all(hdrs, i, &name, &value, &len), 0);
            r->hdrs[i].name = strdup(name);
            r->hdrs[i].value = eu_copy(value, len);
        }
        r->hdr_cnt = n;
    }
}

static inline void eu_recs_free(eu_recs_t *recs) {
    for (size_t i = 0; i < recs->cnt; i++) {
        eu_rec_t *r = &recs->v[i];
        for (size_t h = 0; h < r->hdr_cnt; h++) {
            free(r->hdrs[h].name);
            free(r->hdrs[h].value);
        }
        free(r->hdrs);
        free(r->key);
        free(r->value);
    }
    free(recs->v);
    memset(recs, 0, sizeof(*recs));
}

/* The value of the last header called name, or NULL. */
static inline const char *eu_rec_header(const eu_rec_t *r, const char *name) {
    for (size_t i = r->hdr_cnt; i-- > 0;)
        if (!strcmp(r->hdrs[i].name, name))
            return r->hdrs[i].value;
    return NULL;
}

/* Adds "key=value" of every record to l. */
static inline void eu_recs_kv(const eu_recs_t *recs, eu_strs_t *l) {
    for (size_t i = 0; i < recs->cnt; i++)
        eu_strs_add(l, "%s=%s", recs->v[i].key ? recs->v[i].key : "(null)",
                    recs->v[i].value ? recs->v[i].value : "(null)");
}

/* Sorts recs by partition, then offset (the order in which a reader sees a partition). */
static inline int eu_rec_cmp_pos(const void *a, const void *b) {
    const eu_rec_t *x = a, *y = b;

    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static inline void eu_recs_sort(eu_recs_t *recs) {
    if (recs->cnt)
        qsort(recs->v, recs->cnt, sizeof(*recs->v), eu_rec_cmp_pos);
}

/* Asserts each record sits in the partition Kafka's default partitioner (murmur2) gives its
 * key, as a Java producer or Kafka Streams would place it. */
static inline void eu_assert_partitioned_by_key(const eu_recs_t *recs, const char *what) {
    for (size_t i = 0; i < recs->cnt; i++) {
        const eu_rec_t *r = &recs->v[i];
        int32_t want = rd_kafka_msg_partitioner_murmur2(NULL, r->key, r->key_len,
                                                        recs->partition_cnt, NULL, NULL);
        cr_assert_eq(r->partition, want, "%s: key %s in partition %d, murmur2 says %d", what,
                     r->key, (int)r->partition, (int)want);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* State directories                                                                        */

/* Makes a fresh, empty state.dir into dir (rt_state_dir_new(), which rt_state_fini() would
 * also clean up); remove it with eu_state_dir_remove(). */
static inline void eu_state_dir_make(char *dir, size_t size) {
    char *path = rt_state_dir_new("eu");

    cr_assert_lt(strlen(path), size, "state dir path too long: %s", path);
    snprintf(dir, size, "%s", path);
    free(path);
}

static inline void eu_state_dir_remove(const char *dir) {
    rt_state_dir_remove(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* The app                                                                                  */

/* Writes "<tag>-<pid>" to id: an application.id unique to this test run. */
static inline void eu_app_id(char *id, size_t size, const char *tag) {
    snprintf(id, size, "%s-%d", tag, (int)getpid());
}

/* A configuration for a fast test app on the embedded broker; extra is a NULL-terminated
 * list of name, value pairs applied last. */
static inline rill_conf_t *eu_conf(const char *app_id, const char *const *extra) {
    static const char *const base[] = {
        "commit.interval.ms",
        "100",
        "consumer.session.timeout.ms",
        "6000",
        "consumer.heartbeat.interval.ms",
        "500",
        "poll.ms",
        "50",
        NULL,
    };
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();

    cr_assert_not_null(conf);
    cr_assert_eq(rill_conf_set(conf, "application.id", app_id, errstr, sizeof(errstr)), 0, "%s",
                 errstr);
    for (size_t i = 0; base[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, base[i], base[i + 1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    for (size_t i = 0; extra && extra[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, extra[i], extra[i + 1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    return conf;
}

/* A topology counting the records of topic in per key in tumbling windows of one second (no
 * grace) in store, writing the final counts to topic out. */
static inline rill_topology_t *eu_window_count_topology(const char *in, const char *store,
                                                        const char *out) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", in, NULL);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = 0};
    rill_table_t *t = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, NULL), &spec), store, RILL_EMIT_FINAL);

    rill_stream_to(rill_table_to_stream(t, NULL), "sink", out, NULL);
    return topo;
}

/* Makes the app (taking topo); asserts success. */
static inline rill_app_t *eu_app_new(rill_topology_t *topo, const char *app_id,
                                     const char *const *extra) {
    char errstr[512];
    rill_conf_t *conf = eu_conf(app_id, extra);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));

    cr_assert_not_null(app, "rill_app_new: %s", errstr);
    return app;
}

static inline void eu_create_topic(rill_app_t *app, const char *topic, int partitions) {
    char errstr[512] = "";

    cr_assert_eq(rill_app_create_topic(app, topic, partitions, errstr, sizeof(errstr)), 0,
                 "create %s: %s", topic, errstr);
}

static inline rill_producer_t *eu_producer(rill_app_t *app) {
    char errstr[512];
    rill_producer_t *p =
        rill_producer_new(rill_app_bootstrap_servers(app), NULL, errstr, sizeof(errstr));

    cr_assert_not_null(p, "producer: %s", errstr);
    return p;
}

/* Queues one text record (key may be NULL). */
static inline void eu_send(rill_producer_t *p, const char *topic, int32_t partition,
                           const char *key, const char *value, int64_t timestamp) {
    cr_assert_eq(rill_producer_send(p, topic, partition, key, key ? strlen(key) : 0, value,
                                    value ? strlen(value) : 0, timestamp),
                 0);
}

/* Flushes and destroys p; asserts every record was delivered. */
static inline void eu_producer_done(rill_producer_t *p) {
    char errstr[512];

    cr_assert_eq(rill_producer_flush(p, EU_WAIT_MS, errstr, sizeof(errstr)), 0, "flush: %s",
                 errstr);
    rill_producer_destroy(p);
}

static inline void eu_start(rill_app_t *app) {
    char errstr[512] = "";

    cr_assert_eq(rill_app_start(app, errstr, sizeof(errstr)), 0, "start: %s", errstr);
}

/* Waits until metric reaches want (or EU_WAIT_MS passes); returns its last value. */
static inline int64_t eu_wait_metric(rill_app_t *app, const char *metric, int64_t want) {
    int64_t deadline = eu_now_ms() + EU_WAIT_MS, v;

    while ((v = rill_app_metric(app, metric)) < want && eu_now_ms() < deadline)
        eu_sleep_ms(20);
    return v;
}

/* Waits until the app has processed n input records; asserts it did. */
static inline void eu_wait_processed(rill_app_t *app, int64_t n) {
    int64_t v = eu_wait_metric(app, "rill_records_processed_total", n);

    cr_assert_geq(v, n, "processed %lld of %lld records in %d ms", (long long)v, (long long)n,
                  EU_WAIT_MS);
}

typedef struct eu_watchdog_s {
    rill_app_t *app;
    int ms;
    int done;  /* atomic: the waiter is back */
    int fired; /* atomic: the watchdog had to stop the app */
    pthread_t tid;
} eu_watchdog_t;

static inline void *eu_watchdog_main(void *arg) {
    eu_watchdog_t *w = arg;
    int64_t deadline = eu_now_ms() + w->ms;

    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && eu_now_ms() < deadline)
        eu_sleep_ms(10);
    if (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&w->fired, 1, __ATOMIC_RELEASE);
        rill_app_stop(w->app);
    }
    return NULL;
}

/*
 * Waits for the app's threads to end without asking them to stop first, for at most ms (then
 * a watchdog stops the app). Returns rill_app_wait()'s result; *firedp tells whether the
 * watchdog had to step in.
 */
static inline rill_err_t eu_wait_bounded(rill_app_t *app, int ms, char *errstr, size_t errstr_size,
                                         int *firedp) {
    eu_watchdog_t w = {.app = app, .ms = ms};
    rill_err_t err;

    cr_assert_eq(pthread_create(&w.tid, NULL, eu_watchdog_main, &w), 0);
    err = rill_app_wait(app, errstr, errstr_size);
    __atomic_store_n(&w.done, 1, __ATOMIC_RELEASE);
    pthread_join(w.tid, NULL);
    *firedp = w.fired;
    return err;
}

/* Stops the app and waits for it; asserts it ended without a fatal error. */
static inline void eu_stop(rill_app_t *app) {
    char errstr[512] = "";
    int fired;

    rill_app_stop(app);
    cr_assert_eq(eu_wait_bounded(app, EU_WAIT_MS, errstr, sizeof(errstr), &fired), 0,
                 "app ended with: %s", errstr);
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics in Prometheus' text format                                                       */

/* Runs `promtool check metrics` on text; asserts it passes (promtool required). */
static inline void eu_assert_promtool_ok(const char *text) {
    char in[] = "/tmp/rill-test-promtool-XXXXXX", cmd[256], out[4096];
    FILE *f, *p;
    size_t n;

    cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
                 "promtool is not on PATH: install Debian's prometheus package "
                 "(scripts/install-deps.sh does)");
    int fd = mkstemp(in);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", in);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(in);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "promtool check metrics failed (%d): %s\n--- text ---\n%s", status, out, text);
}

/* Asserts that the app's Prometheus text (rill_app_metrics) has family's HELP and TYPE lines
 * and the sample of node with value want (labels application_id app_id, node), and that
 * promtool accepts the whole text. */
static inline void eu_assert_node_sample(rill_app_t *app, const char *app_id, const char *family,
                                         const char *node, int64_t want) {
    rill_buf_t text = {0};
    char line[512], head[256];

    cr_assert_eq(rill_app_metrics(app, &text), RILL_OK);
    cr_assert_eq(rill_buf_append(&text, "", 1), 0);
    snprintf(head, sizeof(head), "# TYPE %s ", family);
    snprintf(line, sizeof(line), "\n%s{application_id=\"%s\",node=\"%s\"} %lld\n", family, app_id,
             node, (long long)want);
    cr_assert_not_null(strstr(text.data, head), "no %s family in:\n%s", family, text.data);
    cr_assert_not_null(strstr(text.data, line), "no line %s in:\n%s", line + 1, text.data);
    eu_assert_promtool_ok(text.data);
    rill_buf_free(&text);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading a topic                                                                          */

/* A consumer for reading with assign() (group is never joined; NULL: a private one). */
static inline rd_kafka_t *eu_consumer_new(const char *bootstrap, const char *group) {
    char errstr[512], gid[128];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", bootstrap},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        {"allow.auto.create.topics", "false"},
        {"log_level", "3"},
    };

    if (!group) {
        snprintf(gid, sizeof(gid), "eu-reader-%d", (int)getpid());
        props[1][1] = gid;
    }
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        cr_assert_eq(rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "consumer: %s", errstr);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Partition count of topic, or 0 when the broker does not know it. */
static inline int eu_partition_count(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    int cnt = -1;

    while (cnt < 0 && eu_now_ms() < deadline) {
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                cnt = md->topics[0].partition_cnt;
            else if (md->topic_cnt == 1 &&
                     md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                cnt = 0;
            rd_kafka_metadata_destroy(md);
        }
        if (cnt < 0)
            eu_sleep_ms(100);
    }
    rd_kafka_topic_destroy(rkt);
    cr_assert_geq(cnt, 0, "no metadata for %s", topic);
    return cnt;
}

/*
 * Reads every record of topic, from the beginning to the high watermark of each partition
 * as it is now, into recs (sorted by partition and offset). For use once the writers are
 * done (the app stopped). A topic that does not exist reads as empty.
 */
static inline void eu_read_topic(const char *bootstrap, const char *topic, eu_recs_t *recs) {
    rd_kafka_t *rk = eu_consumer_new(bootstrap, NULL);
    int cnt = eu_partition_count(rk, topic);
    int64_t *high = calloc(cnt ? (size_t)cnt : 1, sizeof(int64_t));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(cnt ? cnt : 1);
    int64_t want = 0, got = 0, deadline = eu_now_ms() + EU_WAIT_MS;

    memset(recs, 0, sizeof(*recs));
    recs->partition_cnt = cnt;
    for (int p = 0; p < cnt; p++) {
        int64_t low = 0;
        cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], 5000), 0,
                     "watermarks of %s[%d]", topic, p);
        if (high[p] > low) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = low;
            want += high[p] - low;
        }
    }
    if (parts->cnt)
        cr_assert_eq(rd_kafka_assign(rk, parts), 0);
    while (got < want && eu_now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (!msg->err && msg->offset < high[msg->partition]) {
            if (!rt_is_progress_marker(msg))
                eu_recs_add(recs, msg);
            got++;
        }
        rd_kafka_message_destroy(msg);
    }
    cr_assert_eq(got, want, "read %lld of %lld records of %s", (long long)got, (long long)want,
                 topic);
    rd_kafka_topic_partition_list_destroy(parts);
    free(high);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    eu_recs_sort(recs);
}

/* Reads the dead letters of app id (topic "<id>-dlq"), asserts each reason (header
 * rill.error) starts with prefix, adds each value to values when not NULL, and returns how
 * many there are. */
static inline size_t eu_dead_letters(const char *bootstrap, const char *id, const char *prefix,
                                     eu_strs_t *values) {
    char dlq[96];
    eu_recs_t dead;
    size_t n;

    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    eu_read_topic(bootstrap, dlq, &dead);
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        cr_assert_not_null(error);
        cr_assert(!strncmp(error, prefix, strlen(prefix)), "dead letter %zu: %s", i, error);
        if (values)
            eu_strs_add(values, "%s", dead.v[i].value ? dead.v[i].value : "(null)");
    }
    n = dead.cnt;
    eu_recs_free(&dead);
    return n;
}

/* The partition Kafka's default partitioner (murmur2, as Rill's producers) gives key. */
static inline int32_t eu_partition_of(const char *key, int32_t cnt) {
    return rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), cnt, NULL, NULL);
}

/* A small deterministic generator for test input (a 64-bit LCG over *state). */
static inline uint32_t eu_rnd(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

/* The offset the app's group committed for topic[partition], or a negative (logical) offset
 * when it committed none. */
static inline int64_t eu_committed_offset(rill_app_t *app, const char *group, const char *topic,
                                          int32_t partition) {
    rd_kafka_t *rk = eu_consumer_new(rill_app_bootstrap_servers(app), group);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    int64_t offset;

    rd_kafka_topic_partition_list_add(parts, topic, partition);
    cr_assert_eq(rd_kafka_committed(rk, parts, 10000), 0, "committed offsets of %s", group);
    offset = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return offset;
}

#endif
