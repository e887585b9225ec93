/*
 * test_test_driver.c — the topology test driver (engine/test_driver.c) with no broker:
 * scenarios of the operator tests that run on the embedded broker (test_stateless.c,
 * test_aggregate.c, test_windowed.c, test_punctuate.c), same inputs and references computed
 * here; wall-clock punctuation on the driver's clock; reading stores; what the driver refuses.
 *
 * bootstrap.servers names a port where nothing listens, and every test checks that no
 * librdkafka handle exists while its driver runs (rd_kafka_wait_destroyed), so any Kafka
 * client made by the driver would fail the test. Each test takes milliseconds.
 */
#include <criterion/criterion.h>

#include "embedded_util.h" /* eu_strs_t only: no broker is started here */

#include <stdio.h>
#include <string.h>

#define DEAD "dead"

/* A driver for topo (application id "drv-<tag>", the dead-letter topic DEAD, and the name=value
 * pairs of extra, NULL-terminated). */
static rill_test_driver_t *driver_new(rill_topology_t *topo, const char *tag,
                                      const char *const *extra) {
    char errstr[512], id[64];
    rill_conf_t *conf = rill_conf_new();
    snprintf(id, sizeof(id), "drv-%s", tag);
    const char *base[] = {"application.id",
                          id,
                          "bootstrap.servers",
                          "127.0.0.1:1",
                          "errors.deadletterqueue.topic.name",
                          DEAD,
                          NULL};
    for (int i = 0; base[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, base[i], base[i + 1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    for (int i = 0; extra && extra[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, extra[i], extra[i + 1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    rill_test_driver_t *drv = rill_test_driver_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(drv, "%s", errstr);
    return drv;
}

static void pipe_text(rill_test_driver_t *drv, const char *topic, const char *key,
                      const char *value, int64_t ts) {
    rill_err_t err = rill_test_driver_pipe(drv, topic, key, key ? strlen(key) : 0, value,
                                           value ? strlen(value) : 0, ts);
    cr_assert_eq(err, RILL_OK, "pipe to %s: %s", topic, rill_test_driver_error(drv));
}

/* Reads every record of topic as "key=value@timestamp" lines, in write order. */
static void read_lines(rill_test_driver_t *drv, const char *topic, eu_strs_t *out) {
    rill_record_t r;
    while (rill_test_driver_read(drv, topic, &r))
        eu_strs_add(out, "%.*s=%.*s@%lld", (int)r.key_len, r.key ? (const char *)r.key : "",
                    (int)r.value_len, r.value ? (const char *)r.value : "", (long long)r.timestamp);
}

/* got and want hold the same lines in the same order. */
static void assert_lines(eu_strs_t *got, eu_strs_t *want, const char *what) {
    cr_assert_eq(got->cnt, want->cnt, "%s: %zu records, want %zu", what, got->cnt, want->cnt);
    for (size_t i = 0; i < got->cnt; i++)
        cr_assert_str_eq(got->v[i], want->v[i], "%s: record %zu", what, i);
    eu_strs_free(got);
    eu_strs_free(want);
}

/* topic holds exactly the lines of want, in order (read_lines' form). */
static void expect_topic(rill_test_driver_t *drv, const char *topic, eu_strs_t *want) {
    eu_strs_t got = {0};
    read_lines(drv, topic, &got);
    assert_lines(&got, want, topic);
}

/* No Kafka client exists (the driver made none, or it would still be alive). */
static void assert_no_client(void) {
    cr_assert_eq(rd_kafka_wait_destroyed(0), 0, "a librdkafka handle exists");
}

static int64_t number(const void *p, size_t len) {
    char text[32];
    len = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    return atoll(text);
}

/* ---------------------------------------------------------------------------------------- */
/* Stateless (test_stateless.c): filter and filter_not, map, map_values, select_key         */

#define NUMBERS 40

static int even(const rill_record_t *rec, void *opaque) {
    return rec->value && number(rec->value, rec->value_len) % 2 == 0;
}

/* Writes "k<i>" = "<i>" for i < NUMBERS to topic, at timestamp 1000 + i. */
static void pipe_numbers(rill_test_driver_t *drv, const char *topic) {
    char key[16], value[16];
    for (int i = 0; i < NUMBERS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "%d", i);
        pipe_text(drv, topic, key, value, 1000 + i);
    }
}

Test(engine_test_driver, matching_records_pass_when_filtered) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "numbers", "in", NULL);
    rill_stream_to(rill_stream_filter(in, "evens", even, NULL), NULL, "even", NULL);
    rill_stream_to(rill_stream_filter_not(in, "odds", even, NULL), NULL, "odd", NULL);
    rill_test_driver_t *drv = driver_new(topo, "filter", NULL);
    pipe_numbers(drv, "in");

    eu_strs_t want_even = {0}, want_odd = {0}, got = {0};
    for (int i = 0; i < NUMBERS; i++)
        eu_strs_add(i % 2 ? &want_odd : &want_even, "k%d=%d@%d", i, i, 1000 + i);
    expect_topic(drv, "even", &want_even);
    expect_topic(drv, "odd", &want_odd);
    read_lines(drv, DEAD, &got);
    cr_assert_eq(got.cnt, 0, "dead letters: %zu", got.cnt);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* The mappings of test_stateless.c, from the record's number. */

static int to_group(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char key[32], value[64];
    int64_t n = number(rec->value, rec->value_len);
    int key_len = snprintf(key, sizeof(key), "g%lld", (long long)(n % 3));
    int value_len = snprintf(value, sizeof(value), "%lld@k%lld", (long long)n, (long long)n);
    return rill_buf_append(out->key, key, (size_t)key_len) ||
           rill_buf_append(out->value, value, (size_t)value_len);
}

static int times_ten(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char value[64];
    int len = snprintf(value, sizeof(value), "v=%lld",
                       (long long)(number(rec->value, rec->value_len) * 10));
    /* map_values keeps the key */
    return rill_buf_append(out->value, value, (size_t)len) ||
           rill_buf_append(out->key, "ignored", 7);
}

static int parity_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    const char *key = number(rec->value, rec->value_len) % 2 ? "odd" : "even";
    /* select_key keeps the value */
    return rill_buf_append(out->key, key, strlen(key)) || rill_buf_append(out->value, "ignored", 7);
}

Test(engine_test_driver, records_rewritten_when_mapped) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "numbers", "in", NULL);
    rill_stream_to(rill_stream_map(in, NULL, to_group, NULL), NULL, "mapped", NULL);
    rill_stream_to(rill_stream_map_values(in, NULL, times_ten, NULL), NULL, "mapped-values", NULL);
    rill_stream_to(rill_stream_select_key(in, NULL, parity_key, NULL), NULL, "rekeyed", NULL);
    rill_test_driver_t *drv = driver_new(topo, "map", NULL);
    pipe_numbers(drv, "in");

    eu_strs_t mapped = {0}, values = {0}, rekeyed = {0};
    for (int i = 0; i < NUMBERS; i++) {
        eu_strs_add(&mapped, "g%d=%d@k%d@%d", i % 3, i, i, 1000 + i);
        eu_strs_add(&values, "k%d=v=%d@%d", i, i * 10, 1000 + i);
        eu_strs_add(&rekeyed, "%s=%d@%d", i % 2 ? "odd" : "even", i, 1000 + i);
    }
    expect_topic(drv, "mapped", &mapped);
    expect_topic(drv, "mapped-values", &values);
    expect_topic(drv, "rekeyed", &rekeyed);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* Aggregations by key (test_aggregate.c): count, reduce, aggregate; dead letters           */

#define AGG_KEYS 7
#define AGG_RECORDS 300
#define AGG_BASE 1700000000000LL

typedef struct agg_in_s {
    char key[8];
    int64_t ts, v;
} agg_in_t;

static agg_in_t agg_in[AGG_RECORDS];

/* The input of test_aggregate.c: keys and jitter from the same generator and seed. */
static void agg_input(void) {
    uint64_t state = 7;
    for (int i = 0; i < AGG_RECORDS; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        snprintf(agg_in[i].key, sizeof(agg_in[i].key), "k%u", (uint32_t)(state >> 33) % AGG_KEYS);
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        agg_in[i].ts = AGG_BASE + i * 10 + (uint32_t)(state >> 33) % 2000;
        agg_in[i].v = i + 1;
    }
}

static int add_numbers(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                       void *opaque) {
    char text[32];
    int n = snprintf(text, sizeof(text), "%lld",
                     (long long)(number(agg, agg_len) + number(rec->value, rec->value_len)));
    return rill_buf_append(out, text, (size_t)n);
}

static int empty_list(rill_buf_t *out, void *opaque) {
    return 0;
}

static int append_value(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                        void *opaque) {
    if (rill_buf_append(out, agg, agg_len) || (agg_len && rill_buf_append(out, ",", 1)))
        return 1;
    return rill_buf_append(out, rec->value, rec->value_len);
}

/* in → by key → count ("counted", int64 big-endian), sum ("summed"), list of values
 * ("listed"). */
static rill_topology_t *agg_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), "g");
    rill_stream_to(rill_table_to_stream(rill_grouped_count(g, "counts"), NULL), NULL, "counted",
                   NULL);
    rill_stream_to(rill_table_to_stream(rill_grouped_reduce(g, "sums", add_numbers, NULL), NULL),
                   NULL, "summed", NULL);
    rill_stream_to(
        rill_table_to_stream(rill_grouped_aggregate(g, NULL, empty_list, append_value, NULL), NULL),
        NULL, "listed", NULL);
    return topo;
}

Test(engine_test_driver, updates_match_reference_when_grouped_by_key) {
    agg_input();
    const char *extra[] = {"statestore.cache.max.bytes", "0", NULL};
    rill_test_driver_t *drv = driver_new(agg_topology(), "agg", extra);
    char value[24];
    for (int i = 0; i < AGG_RECORDS; i++) {
        snprintf(value, sizeof(value), "%lld", (long long)agg_in[i].v);
        pipe_text(drv, "in", agg_in[i].key, value, agg_in[i].ts);
    }
    /* No key, no value: each goes to the dead-letter topic once per aggregation. */
    pipe_text(drv, "in", NULL, "5", AGG_BASE);
    pipe_text(drv, "in", "k1", NULL, AGG_BASE);

    /* One update per record and aggregation, in input order: the reference after record i
     * of its key (count, sum, values joined by ',', the key's largest timestamp). */
    eu_strs_t counted = {0}, summed = {0}, listed = {0}, got = {0};
    rill_record_t r;
    for (int i = 0; i < AGG_RECORDS; i++) {
        int64_t count = 0, sum = 0, ts = 0;
        char list[4096] = "";
        for (int j = 0; j <= i; j++) {
            if (strcmp(agg_in[j].key, agg_in[i].key))
                continue;
            count++;
            sum += agg_in[j].v;
            ts = agg_in[j].ts > ts ? agg_in[j].ts : ts;
            size_t len = strlen(list);
            snprintf(list + len, sizeof(list) - len, "%s%lld", len ? "," : "",
                     (long long)agg_in[j].v);
        }
        eu_strs_add(&counted, "%s=%lld@%lld", agg_in[i].key, (long long)count, (long long)ts);
        eu_strs_add(&summed, "%s=%lld@%lld", agg_in[i].key, (long long)sum, (long long)ts);
        eu_strs_add(&listed, "%s=%s@%lld", agg_in[i].key, list, (long long)ts);
    }
    while (rill_test_driver_read(drv, "counted", &r)) {
        int64_t n = -1;
        cr_assert_eq(rill_int64_decode(r.value, r.value_len, &n), 0);
        eu_strs_add(&got, "%.*s=%lld@%lld", (int)r.key_len, (const char *)r.key, (long long)n,
                    (long long)r.timestamp);
    }
    assert_lines(&got, &counted, "counted");
    expect_topic(drv, "summed", &summed);
    expect_topic(drv, "listed", &listed);

    int keyless = 0, valueless = 0, dead = 0;
    while (rill_test_driver_read(drv, DEAD, &r)) {
        const void *v;
        size_t len;
        dead++;
        cr_assert_eq(rill_headers_get(r.headers, "rill.error", &v, &len), 0);
        keyless += len >= 10 && !memcmp(v, "null key: ", 10);
        valueless += len >= 12 && !memcmp(v, "null value: ", 12);
        cr_assert_eq(rill_headers_get(r.headers, "rill.source.topic", &v, &len), 0);
        cr_assert(len == 2 && !memcmp(v, "in", 2), "the dead letter names its topic");
    }
    cr_assert_eq(dead, 6, "dead letters: %d", dead);
    cr_assert_eq(keyless, 3);
    cr_assert_eq(valueless, 3);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* Tumbling windows, emit-final and on update (test_windowed.c)                             */

#define WIN_KEYS 6
#define WIN_RECORDS 360
#define DISORDER 400 /* a record comes at most this many ms behind the latest before it */
#define GRACE 500    /* > DISORDER: no record is late */
#define WIN_SIZE 1000

typedef struct win_in_s {
    char key[8];
    int64_t ts, v, order;
} win_in_t;

static win_in_t win_in[WIN_RECORDS];
static int64_t win_tmax;

static int by_order(const void *a, const void *b) {
    const win_in_t *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

/* The input of test_windowed.c (seed 1): times rising by 0..60 ms with 1.5 s pauses, keys
 * over WIN_KEYS, values 1..n, piped in the order of ts + a jitter below DISORDER. */
static void win_input(void) {
    uint64_t state = 1;
    int64_t t = AGG_BASE;
#define NEXT()                                                                                     \
    (state = state * 6364136223846793005ULL + 1442695040888963407ULL, (uint32_t)(state >> 33))
    for (int i = 0; i < WIN_RECORDS; i++) {
        t += NEXT() % 61;
        if (NEXT() % 40 == 0)
            t += 1500;
        snprintf(win_in[i].key, sizeof(win_in[i].key), "k%u", NEXT() % WIN_KEYS);
        win_in[i].ts = t;
        win_in[i].v = i + 1;
        win_in[i].order = t + NEXT() % DISORDER;
    }
#undef NEXT
    win_tmax = t;
    qsort(win_in, WIN_RECORDS, sizeof(win_in[0]), by_order);
}

/* Reads topic's windowed results as "key@start@end=aggregate@timestamp" lines: a sink writes
 * a time window's key as the key then its start (8 bytes big-endian), the aggregates here are
 * int64 big-endian. */
static void read_windows(rill_test_driver_t *drv, const char *topic, eu_strs_t *out) {
    rill_record_t r;
    while (rill_test_driver_read(drv, topic, &r)) {
        int64_t start = -1, n = -1;
        cr_assert_gt(r.key_len, 8, "%s: key of %zu bytes", topic, r.key_len);
        cr_assert_eq(rill_int64_decode((const char *)r.key + r.key_len - 8, 8, &start), 0);
        cr_assert_eq(rill_int64_decode(r.value, r.value_len, &n), 0, "%s: a tombstone", topic);
        eu_strs_add(out, "%.*s@%lld@%lld=%lld@%lld", (int)r.key_len - 8, (const char *)r.key,
                    (long long)start, (long long)(start + WIN_SIZE), (long long)n,
                    (long long)r.timestamp);
    }
}

static int zero(rill_buf_t *out, void *opaque) {
    unsigned char be[8];
    rill_int64_encode(0, be);
    return rill_buf_append(out, be, 8);
}

static int plus_value(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                      void *opaque) {
    int64_t sum;
    unsigned char be[8];
    if (rill_int64_decode(agg, agg_len, &sum))
        return 1;
    rill_int64_encode(sum + number(rec->value, rec->value_len), be);
    return rill_buf_append(out, be, 8);
}

Test(engine_test_driver, tumbling_results_match_reference_when_input_out_of_order) {
    win_input();
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_TUMBLING, .size_ms = WIN_SIZE, .grace_ms = GRACE};
    rill_topology_t *topo = rill_topology_new();
    rill_windowed_t *w = rill_grouped_windowed_by(
        rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), "grouped"), &spec);
    rill_table_t *counts = rill_windowed_count(w, "counts", RILL_EMIT_FINAL);
    rill_table_t *sums =
        rill_windowed_aggregate(w, "sums", zero, plus_value, NULL, RILL_EMIT_ON_UPDATE);
    rill_stream_to(rill_table_to_stream(counts, NULL), NULL, "counted", NULL);
    rill_stream_to(rill_table_to_stream(sums, NULL), NULL, "summed", NULL);
    rill_test_driver_t *drv = driver_new(topo, "tumbling", NULL);
    char value[24];
    for (int i = 0; i < WIN_RECORDS; i++) {
        snprintf(value, sizeof(value), "%lld", (long long)win_in[i].v);
        pipe_text(drv, "in", win_in[i].key, value, win_in[i].ts);
    }
    /* Far ahead: stream time passes every window's end + grace. */
    pipe_text(drv, "in", "~flush", "0", win_tmax + 100000);

    /* The reference: each (key, window) with its count, sum and largest timestamp. */
    eu_strs_t want_counts = {0}, want_sums = {0}, got = {0};
    for (int i = 0; i < WIN_RECORDS; i++) {
        int64_t start = win_in[i].ts / WIN_SIZE * WIN_SIZE, count = 0, sum = 0, ts = 0;
        int first = 1;
        for (int j = 0; j < WIN_RECORDS; j++) {
            if (strcmp(win_in[j].key, win_in[i].key) || win_in[j].ts / WIN_SIZE * WIN_SIZE != start)
                continue;
            first &= j >= i; /* the window is listed at its first record */
            count++;
            sum += win_in[j].v;
            ts = win_in[j].ts > ts ? win_in[j].ts : ts;
        }
        if (!first)
            continue;
        eu_strs_add(&want_counts, "%s@%lld@%lld=%lld@%lld", win_in[i].key, (long long)start,
                    (long long)(start + WIN_SIZE), (long long)count, (long long)ts);
        eu_strs_add(&want_sums, "%s@%lld@%lld=%lld@%lld", win_in[i].key, (long long)start,
                    (long long)(start + WIN_SIZE), (long long)sum, (long long)ts);
    }
    /* Emit-final: exactly one result per window (the flush record's window stays open). */
    read_windows(drv, "counted", &got);
    eu_assert_same_set(&got, &want_counts, "counted");
    eu_strs_free(&got);
    /* On update: the last result of each window is its sum. */
    eu_strs_t last = {0};
    read_windows(drv, "summed", &got);
    for (size_t i = got.cnt; i-- > 0;) {
        if (!strncmp(got.v[i], "~flush", 6))
            continue;
        size_t klen = strcspn(got.v[i], "=");
        int seen = 0;
        for (size_t j = i + 1; j < got.cnt && !seen; j++)
            seen = !strncmp(got.v[j], got.v[i], klen + 1);
        if (!seen)
            eu_strs_add(&last, "%s", got.v[i]);
    }
    eu_strs_free(&got);
    eu_assert_same_set(&last, &want_sums, "summed");
    eu_strs_free(&last);
    eu_strs_free(&want_counts);
    eu_strs_free(&want_sums);
    read_lines(drv, DEAD, &got);
    cr_assert_eq(got.cnt, 0, "dead letters: %zu (no record is late)", got.cnt);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* Punctuators: stream time (test_punctuate.c) and the driver's wall clock                  */

static void forward_tick(rill_ctx_t *ctx, int64_t ts, const char *what) {
    char v[64];
    int n = snprintf(v, sizeof(v), "%s@%lld", what, (long long)ts);
    rill_record_t rec = {
        .key = "p", .key_len = 1, .value = v, .value_len = (size_t)n, .timestamp = ts};
    rill_ctx_forward(ctx, &rec);
}

static void on_stream_time(rill_ctx_t *ctx, int64_t ts, void *arg) {
    forward_tick(ctx, ts, "punct");
}

static void on_wall_clock(rill_ctx_t *ctx, int64_t ts, void *arg) {
    forward_tick(ctx, ts, "wall");
}

/* Schedules a punctuator every second, on the clock *opaque names. */
static int ticks_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    rill_punctuation_t type = *(const rill_punctuation_t *)opaque;
    return rill_ctx_schedule(ctx, 1000, type,
                             type == RILL_PUNCTUATE_WALL_CLOCK ? on_wall_clock : on_stream_time,
                             NULL)
               ? -1
               : 0;
}

static int ticks_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return 0; /* records only move stream time */
}

static const rill_processor_def_t ticks_def = {.init = ticks_init, .process = ticks_process};
static const rill_punctuation_t on_stream = RILL_PUNCTUATE_STREAM_TIME;
static const rill_punctuation_t on_wall = RILL_PUNCTUATE_WALL_CLOCK;

static rill_test_driver_t *ticks_driver(const char *tag, const rill_punctuation_t *type) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    rill_stream_to(rill_stream_process(s, "ticks", &ticks_def, (void *)type), "sink", "out", NULL);
    return driver_new(topo, tag, NULL);
}

Test(engine_test_driver, stream_punctuator_fires_once_per_advance_when_time_jumps) {
    rill_test_driver_t *drv = ticks_driver("punct", &on_stream);
    static const int64_t times[] = {100, 500, 1500, 5200, 5300, 6100};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        pipe_text(drv, "in", "k", "v", times[i]);
    /* Due at 1000: fires at 1500 (next 2000); at 5200 once (next 6000); at 6100 (next 7000). */
    eu_strs_t want = {0};
    eu_strs_add(&want, "p=punct@1500@1500");
    eu_strs_add(&want, "p=punct@5200@5200");
    eu_strs_add(&want, "p=punct@6100@6100");
    expect_topic(drv, "out", &want);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

Test(engine_test_driver, wall_clock_punctuator_fires_when_driver_clock_advances) {
    rill_test_driver_t *drv = ticks_driver("wall", &on_wall);
    eu_strs_t want = {0}, got = {0};
    cr_assert_eq(rill_test_driver_wall_clock(drv), 0);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 999), RILL_OK);
    read_lines(drv, "out", &got);
    cr_assert_eq(got.cnt, 0, "fired before it was due");
    /* Due at 1000; then at 3500 once (missed ones are not made up: next 4000), then 4000. */
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 1), RILL_OK);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 2500), RILL_OK);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 499), RILL_OK);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 1), RILL_OK);
    cr_assert_eq(rill_test_driver_wall_clock(drv), 4000);
    eu_strs_add(&want, "p=wall@1000@1000");
    eu_strs_add(&want, "p=wall@3500@3500");
    eu_strs_add(&want, "p=wall@4000@4000");
    expect_topic(drv, "out", &want);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, -1), RILL_ERR_INVALID_ARG);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* Stores                                                                                   */

/* A stored aggregate: 8-byte big-endian timestamp, then the int64 count. */
static void assert_stored_count(const void *v, size_t len, int64_t ts, int64_t count) {
    int64_t got_ts, got_count;
    cr_assert_eq(len, 16, "stored value of %zu bytes", len);
    cr_assert_eq(rill_int64_decode(v, 8, &got_ts), 0);
    cr_assert_eq(rill_int64_decode((const char *)v + 8, 8, &got_count), 0);
    cr_assert_eq(got_ts, ts);
    cr_assert_eq(got_count, count);
}

Test(engine_test_driver, stores_read_back_when_inspected) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), "g");
    rill_stream_to(rill_table_to_stream(rill_grouped_count(g, "counts"), NULL), NULL, "counted",
                   NULL);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = 0};
    rill_stream_to(rill_table_to_stream(rill_windowed_count(rill_grouped_windowed_by(g, &spec),
                                                            "per-second", RILL_EMIT_ON_UPDATE),
                                        NULL),
                   NULL, "per-second", NULL);
    rill_test_driver_t *drv = driver_new(topo, "stores", NULL); /* record cache on */
    pipe_text(drv, "in", "k1", "a", 1100);
    pipe_text(drv, "in", "k1", "b", 1300);
    pipe_text(drv, "in", "k1", "c", 1200);
    pipe_text(drv, "in", "k2", "d", 2500);

    const void *v;
    size_t len;
    cr_assert_eq(rill_test_driver_kv_get(drv, "counts", "k1", 2, &v, &len), 1);
    assert_stored_count(v, len, 1300, 3);
    cr_assert_eq(rill_test_driver_kv_get(drv, "counts", "k2", 2, &v, &len), 1);
    assert_stored_count(v, len, 2500, 1);
    cr_assert_eq(rill_test_driver_kv_get(drv, "counts", "k3", 2, &v, &len), 0);
    cr_assert_eq(rill_test_driver_window_get(drv, "per-second", "k1", 2, 1000, &v, &len), 1);
    assert_stored_count(v, len, 1300, 3);
    cr_assert_eq(rill_test_driver_window_get(drv, "per-second", "k2", 2, 2000, &v, &len), 1);
    assert_stored_count(v, len, 2500, 1);
    cr_assert_eq(rill_test_driver_window_get(drv, "per-second", "k1", 2, 2000, &v, &len), 0);
    /* Unknown stores, and a store of the other kind. */
    cr_assert_eq(rill_test_driver_kv_get(drv, "nope", "k1", 2, &v, &len), RILL_ERR_INVALID_ARG);
    cr_assert_eq(rill_test_driver_kv_get(drv, "per-second", "k1", 2, &v, &len),
                 RILL_ERR_INVALID_ARG);
    cr_assert_eq(rill_test_driver_window_get(drv, "counts", "k1", 2, 1000, &v, &len),
                 RILL_ERR_INVALID_ARG);
    /* The commit after each record flushed the record cache: every update came out. */
    eu_strs_t got = {0};
    read_lines(drv, "counted", &got);
    cr_assert_eq(got.cnt, 4, "count updates: %zu", got.cnt);
    eu_strs_free(&got);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* What the driver refuses                                                                  */

static int first_byte_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    return rill_buf_append(out->key, rec->value, rec->value_len ? 1 : 0);
}

/* Creating a driver for topo fails with a message holding each of the words. */
static void assert_refused(rill_topology_t *topo, const char *const *words) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(conf, "application.id", "drv-refused", errstr, sizeof(errstr)), 0);
    cr_assert_null(rill_test_driver_new(topo, conf, errstr, sizeof(errstr)));
    for (int i = 0; words[i]; i++)
        cr_assert(strstr(errstr, words[i]), "\"%s\" not in: %s", words[i], errstr);
    rill_conf_destroy(conf); /* still the caller's on failure */
    rill_topology_destroy(topo);
}

Test(engine_test_driver, refused_when_topology_links_sub_topologies) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by(rill_stream_from(topo, "in", "in", NULL), "regroup",
                                             first_byte_key, NULL);
    rill_stream_to(rill_table_to_stream(rill_grouped_count(g, "counts"), NULL), NULL, "out", NULL);
    const char *repartition[] = {"repartition", "cannot run topic", NULL};
    assert_refused(topo, repartition);

    topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "first", "a", NULL), "to-b", "b", NULL);
    rill_stream_to(rill_stream_from(topo, "second", "b", NULL), "to-c", "c", NULL);
    const char *linked[] = {"\"b\"", "to-b", "second", NULL};
    assert_refused(topo, linked);
}

Test(engine_test_driver, pipe_refused_when_no_source_reads_topic) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "numbers", "in", NULL), NULL, "out", NULL);
    rill_test_driver_t *drv = driver_new(topo, "unknown", NULL);
    cr_assert_eq(rill_test_driver_pipe(drv, "elsewhere", "k", 1, "v", 1, 5), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(rill_test_driver_error(drv), "\"elsewhere\""), "%s",
              rill_test_driver_error(drv));
    pipe_text(drv, "in", "k", "v", 5); /* the driver goes on */
    eu_strs_t want = {0};
    eu_strs_add(&want, "k=v@5");
    expect_topic(drv, "out", &want);
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* The README's example ("Testing your topology")                                           */

static int large(const rill_record_t *rec, void *opaque) {
    return rec->value_len > 100;
}

Test(engine_test_driver, readme_example_reads_large_orders) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "orders", "orders", NULL);
    rill_stream_to(rill_stream_filter(in, "large", large, NULL), "out", "large-orders", NULL);
    char err[512], big[200];
    memset(big, 'x', sizeof(big));
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", "orders-test", NULL, 0);
    rill_test_driver_t *drv = rill_test_driver_new(topo, conf, err, sizeof(err));
    cr_assert_not_null(drv, "%s", err);
    cr_assert_eq(rill_test_driver_pipe(drv, "orders", "o1", 2, big, sizeof(big), 1000), 0);
    cr_assert_eq(rill_test_driver_pipe(drv, "orders", "o2", 2, "small", 5, 2000), 0);
    rill_record_t out;
    cr_assert_eq(rill_test_driver_read(drv, "large-orders", &out), 1);
    cr_assert(out.key_len == 2 && !memcmp(out.key, "o1", 2) && out.value_len == sizeof(big));
    cr_assert_eq(out.timestamp, 1000);
    cr_assert_eq(rill_test_driver_read(drv, "large-orders", &out), 0);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 60000), 0);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* A task with two inputs: stream time is the largest timestamp piped into either           */

static int pair(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                void *opaque) {
    return rill_buf_append(out, left->value, left->value_len) || rill_buf_append(out, "+", 1) ||
           rill_buf_append(out, right->value, right->value_len);
}

Test(engine_test_driver, stream_waits_for_table_row_within_grace_when_joined) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *users = rill_table_from(topo, "users", "users", NULL, "users-store");
    rill_stream_t *orders = rill_stream_from(topo, "orders", "orders", NULL);
    rill_stream_to(
        rill_stream_table_join(orders, users, "enrich", RILL_JOIN_INNER, 1000, pair, NULL), NULL,
        "enriched", NULL);
    rill_test_driver_t *drv = driver_new(topo, "join", NULL);
    pipe_text(drv, "orders", "u1", "o1", 1000);   /* no row yet: waits up to 1000 ms */
    pipe_text(drv, "users", "u1", "alice", 1500); /* joins o1, at o1's time */
    pipe_text(drv, "orders", "u2", "o2", 1600);   /* waits */
    pipe_text(drv, "users", "u3", "bob", 3000);   /* stream time 3000 > 1600 + 1000: o2 out */
    pipe_text(drv, "orders", "u1", "o3", 3100);   /* a row: at once */
    eu_strs_t want = {0}, got = {0};
    eu_strs_add(&want, "u1=o1+alice@1000");
    eu_strs_add(&want, "u1=o3+alice@3100");
    expect_topic(drv, "enriched", &want);
    rill_record_t r;
    const void *v;
    size_t len;
    cr_assert_eq(rill_test_driver_read(drv, DEAD, &r), 1, "o2 was not dead-lettered");
    cr_assert(r.value_len == 2 && !memcmp(r.value, "o2", 2));
    cr_assert_eq(rill_headers_get(r.headers, "rill.error", &v, &len), 0);
    cr_assert(len > 27 && !memcmp(v, "no table row within grace: ", 27), "%.*s", (int)len,
              (const char *)v);
    cr_assert_eq(rill_test_driver_read(drv, DEAD, &r), 0);
    cr_assert_eq(rill_test_driver_kv_get(drv, "users-store", "u3", 2, &v, &len), 1);
    int64_t row_ts = -1; /* a table's row: its timestamp (8 bytes big-endian), its value */
    cr_assert(len == 11 && !rill_int64_decode(v, 8, &row_ts) && row_ts == 3000 &&
              !memcmp((const char *)v + 8, "bob", 3));
    read_lines(drv, "users", &got); /* a source topic holds no output */
    cr_assert_eq(got.cnt, 0);
    assert_no_client();
    rill_test_driver_destroy(drv);
}

/* ---------------------------------------------------------------------------------------- */
/* errors.tolerance=none: the driver stops as the app would                                 */

Test(engine_test_driver, pipe_fails_with_reason_when_errors_not_tolerated) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), "g");
    rill_stream_to(rill_table_to_stream(rill_grouped_count(g, "counts"), NULL), NULL, "out", NULL);
    const char *extra[] = {"errors.tolerance", "none", NULL};
    rill_test_driver_t *drv = driver_new(topo, "fatal", extra);
    cr_assert_null(rill_test_driver_error(drv));
    pipe_text(drv, "in", "k", "v", 10);
    cr_assert_eq(rill_test_driver_pipe(drv, "in", NULL, 0, "v", 1, 20), RILL_ERR_PROCESSING);
    const char *why = rill_test_driver_error(drv);
    cr_assert(why && strstr(why, "in[0]@1") && strstr(why, "errors.tolerance=none"), "%s", why);
    cr_assert_eq(rill_test_driver_pipe(drv, "in", "k", 1, "v", 1, 30), RILL_ERR_PROCESSING);
    cr_assert_eq(rill_test_driver_advance_wall_clock(drv, 10), RILL_ERR_PROCESSING);
    rill_test_driver_destroy(drv);
}
