/*
 * test_stateless.c — component tests of the stateless operators (operators/stateless.c,
 * operators/split.c) running in an app on the embedded broker: filter, filter_not, map (key
 * change), map_values, select_key, flat_map, peek, merge, split, and a custom processor
 * reading its record context. Each test writes its input, runs the app until the input is
 * processed, stops it, reads the output topics back and compares them with a reference
 * computed here from the same input by the same pure functions the callbacks use.
 *
 * The mock cluster's first group join takes about 3 s, so each test takes about 4-5 s.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#include <stdatomic.h>

#define N 40 /* input records per topic */

/* The number in a record's value (values are decimal text in these tests), or -1. */
static int num_of(const rill_record_t *rec) {
    char buf[32];
    size_t len = rec->value_len < sizeof(buf) - 1 ? rec->value_len : sizeof(buf) - 1;

    if (!rec->value)
        return -1;
    memcpy(buf, rec->value, len);
    buf[len] = '\0';
    return atoi(buf);
}

/* Writes N records "k<i>" = "<i>" to topic, partitioned by key. */
static void write_numbers(rill_app_t *app, const char *topic) {
    rill_producer_t *p = eu_producer(app);
    char key[16], value[16];

    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "%d", i);
        eu_send(p, topic, -1, key, value, 0);
    }
    eu_producer_done(p);
}

/* Runs the app over n input records, stops it, and leaves it ready for reading outputs. */
static void run_until_processed(rill_app_t *app, int64_t n) {
    eu_start(app);
    eu_wait_processed(app, n);
    eu_stop(app);
}

/* Reads topic and asserts it holds exactly the "key=value" lines of want. */
static void assert_topic_holds(rill_app_t *app, const char *topic, eu_strs_t *want,
                               eu_recs_t *recs) {
    eu_strs_t got = {0};

    eu_read_topic(rill_app_bootstrap_servers(app), topic, recs);
    eu_recs_kv(recs, &got);
    eu_assert_same_set(&got, want, topic);
    eu_strs_free(&got);
}

/* ---------------------------------------------------------------------------------------- */
/* filter, filter_not                                                                       */

static int is_even(int n) {
    return n % 2 == 0;
}

static int even_pred(const rill_record_t *rec, void *opaque) {
    return is_even(num_of(rec));
}

Test(operators_stateless, matching_records_pass_when_filtered, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *src = rill_stream_from(topo, "numbers", "in", NULL);
    char id[64];

    cr_assert_eq(
        rill_stream_to(rill_stream_filter(src, "evens", even_pred, NULL), NULL, "even", NULL), 0);
    cr_assert_eq(
        rill_stream_to(rill_stream_filter_not(src, "odds", even_pred, NULL), NULL, "odd", NULL), 0);
    eu_app_id(id, sizeof(id), "stateless-filter");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 4);
    write_numbers(app, "in");
    run_until_processed(app, N);

    eu_strs_t even = {0}, odd = {0};
    eu_recs_t recs;
    for (int i = 0; i < N; i++)
        eu_strs_add(is_even(i) ? &even : &odd, "k%d=%d", i, i);
    assert_topic_holds(app, "even", &even, &recs);
    eu_assert_partitioned_by_key(&recs, "even");
    eu_recs_free(&recs);
    assert_topic_holds(app, "odd", &odd, &recs);
    eu_recs_free(&recs);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    eu_strs_free(&even);
    eu_strs_free(&odd);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* map, map_values, select_key                                                              */

/* The reference mappings, on text. */
static void map_ref(int i, char *key, size_t ksz, char *value, size_t vsz) {
    snprintf(key, ksz, "g%d", i % 3);
    snprintf(value, vsz, "%d@k%d", i, i);
}

static void map_values_ref(int i, char *value, size_t vsz) {
    snprintf(value, vsz, "v=%d", i * 10);
}

static void select_key_ref(int i, char *key, size_t ksz) {
    snprintf(key, ksz, "%s", is_even(i) ? "even" : "odd");
}

/* Mappers write their output into the buffers Rill hands them. */

static int map_fn(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char key[64], value[64];
    map_ref(num_of(rec), key, sizeof(key), value, sizeof(value));
    return rill_buf_append(out->key, key, strlen(key)) ||
           rill_buf_append(out->value, value, strlen(value));
}

static int map_values_fn(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char value[64];
    map_values_ref(num_of(rec), value, sizeof(value));
    /* map_values keeps the key */
    return rill_buf_append(out->value, value, strlen(value)) ||
           rill_buf_append(out->key, "ignored", 7);
}

static int select_key_fn(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char key[64];
    select_key_ref(num_of(rec), key, sizeof(key));
    /* select_key keeps the value */
    return rill_buf_append(out->key, key, strlen(key)) || rill_buf_append(out->value, "ignored", 7);
}

Test(operators_stateless, records_rewritten_when_mapped, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *src = rill_stream_from(topo, "numbers", "in", NULL);
    char id[64], key[64], value[64];

    cr_assert_eq(rill_stream_to(rill_stream_map(src, NULL, map_fn, NULL), NULL, "mapped", NULL), 0);
    cr_assert_eq(rill_stream_to(rill_stream_map_values(src, NULL, map_values_fn, NULL), NULL,
                                "mapped-values", NULL),
                 0);
    cr_assert_eq(rill_stream_to(rill_stream_select_key(src, NULL, select_key_fn, NULL), NULL,
                                "rekeyed", NULL),
                 0);
    eu_app_id(id, sizeof(id), "stateless-map");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 4);
    write_numbers(app, "in");
    run_until_processed(app, N);

    eu_strs_t mapped = {0}, mapped_values = {0}, rekeyed = {0};
    for (int i = 0; i < N; i++) {
        map_ref(i, key, sizeof(key), value, sizeof(value));
        eu_strs_add(&mapped, "%s=%s", key, value);
        map_values_ref(i, value, sizeof(value));
        eu_strs_add(&mapped_values, "k%d=%s", i, value);
        select_key_ref(i, key, sizeof(key));
        eu_strs_add(&rekeyed, "%s=%d", key, i);
    }
    /* A changed key moves the record to the partition of its new key. */
    eu_recs_t recs;
    assert_topic_holds(app, "mapped", &mapped, &recs);
    eu_assert_partitioned_by_key(&recs, "mapped");
    eu_recs_free(&recs);
    assert_topic_holds(app, "mapped-values", &mapped_values, &recs);
    eu_assert_partitioned_by_key(&recs, "mapped-values");
    eu_recs_free(&recs);
    assert_topic_holds(app, "rekeyed", &rekeyed, &recs);
    eu_assert_partitioned_by_key(&recs, "rekeyed");
    eu_recs_free(&recs);
    eu_strs_free(&mapped);
    eu_strs_free(&mapped_values);
    eu_strs_free(&rekeyed);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* flat_map, peek                                                                           */

static int fanout_of(int i) {
    return i % 4; /* 0, 1, 2 or 3 copies */
}

static int fan_fn(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    int n = num_of(rec);
    char value[32];

    for (int c = 0; c < fanout_of(n); c++) {
        rill_record_t out = *rec;
        out.value = value;
        out.value_len = (size_t)snprintf(value, sizeof(value), "%d#%d", n, c);
        if (rill_ctx_forward(ctx, &out))
            return -1;
    }
    return 0;
}

typedef struct peek_count_s {
    atomic_int records;
    atomic_int bad; /* records whose value is not what the peek expects */
    int want_hash;  /* whether values look like "<n>#<c>" */
} peek_count_t;

static void count_fn(const rill_record_t *rec, void *opaque) {
    peek_count_t *pc = opaque;

    atomic_fetch_add(&pc->records, 1);
    if (!rec->value || (memchr(rec->value, '#', rec->value_len) != NULL) != pc->want_hash)
        atomic_fetch_add(&pc->bad, 1);
}

Test(operators_stateless, zero_to_three_copies_forwarded_when_flat_mapped, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    static peek_count_t before = {.want_hash = 0}, after = {.want_hash = 1};
    char id[64];

    rill_stream_t *s = rill_stream_from(topo, "numbers", "in", NULL);
    s = rill_stream_peek(s, "count-in", count_fn, &before);
    s = rill_stream_flat_map(s, "fan-out", fan_fn, NULL);
    s = rill_stream_peek(s, "count-out", count_fn, &after);
    cr_assert_eq(rill_stream_to(s, NULL, "fanned", NULL), 0);
    eu_app_id(id, sizeof(id), "stateless-flatmap");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 4);
    write_numbers(app, "in");
    run_until_processed(app, N);

    eu_strs_t want = {0};
    eu_recs_t recs;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < fanout_of(i); c++)
            eu_strs_add(&want, "k%d=%d#%d", i, i, c);
    assert_topic_holds(app, "fanned", &want, &recs);
    cr_assert_eq(atomic_load(&before.records), N, "peek before flat_map saw every input");
    cr_assert_eq(atomic_load(&after.records), (int)want.cnt, "peek after saw every copy");
    cr_assert_eq(atomic_load(&before.bad) + atomic_load(&after.bad), 0,
                 "peek saw records other than its stream's");
    eu_recs_free(&recs);
    eu_strs_free(&want);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* merge                                                                                    */

Test(operators_stateless, records_of_both_inputs_forwarded_when_merged, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *a = rill_stream_from(topo, "a", "in-a", NULL);
    rill_stream_t *b = rill_stream_from(topo, "b", "in-b", NULL);
    char id[64], key[16], value[16];

    cr_assert_eq(rill_stream_to(rill_stream_merge(a, b, "both"), NULL, "merged", NULL), 0);
    eu_app_id(id, sizeof(id), "stateless-merge");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in-a", 4);
    eu_create_topic(app, "in-b", 4);
    rill_producer_t *p = eu_producer(app);
    eu_strs_t want = {0};
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "a%d", i);
        eu_send(p, "in-a", -1, key, value, 0);
        eu_strs_add(&want, "%s=%s", key, value);
        snprintf(value, sizeof(value), "b%d", i);
        eu_send(p, "in-b", -1, key, value, 0);
        eu_strs_add(&want, "%s=%s", key, value);
    }
    eu_producer_done(p);
    run_until_processed(app, 2 * N);

    eu_recs_t recs;
    assert_topic_holds(app, "merged", &want, &recs);
    eu_recs_free(&recs);
    eu_strs_free(&want);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* split                                                                                    */

static int is_small(int n) {
    return n < 10;
}

static int is_tens(int n) {
    return n % 10 == 0;
}

static int small_pred(const rill_record_t *rec, void *opaque) {
    return is_small(num_of(rec));
}

static int tens_pred(const rill_record_t *rec, void *opaque) {
    return is_tens(num_of(rec));
}

Test(operators_stateless, each_record_takes_first_matching_branch_when_split, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *src = rill_stream_from(topo, "numbers", "in", NULL);
    rill_split_t *by_size = rill_stream_split(src, "by-size");
    rill_split_t *tens_only = rill_stream_split(src, "tens-only");
    char id[64];

    /* Branch order matters: 4 is small and even and must go to "small" only. */
    cr_assert_eq(
        rill_stream_to(rill_split_branch(by_size, "small", small_pred, NULL), NULL, "small", NULL),
        0);
    cr_assert_eq(
        rill_stream_to(rill_split_branch(by_size, "even", even_pred, NULL), NULL, "even", NULL), 0);
    cr_assert_eq(rill_stream_to(rill_split_default(by_size, "rest"), NULL, "rest", NULL), 0);
    /* No default branch: what matches nothing is dropped. */
    cr_assert_eq(
        rill_stream_to(rill_split_branch(tens_only, "tens", tens_pred, NULL), NULL, "tens", NULL),
        0);
    eu_app_id(id, sizeof(id), "stateless-split");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 4);
    write_numbers(app, "in");
    run_until_processed(app, N);

    eu_strs_t small = {0}, even = {0}, rest = {0}, tens = {0};
    eu_recs_t recs;
    for (int i = 0; i < N; i++) {
        eu_strs_add(is_small(i) ? &small : is_even(i) ? &even : &rest, "k%d=%d", i, i);
        if (is_tens(i))
            eu_strs_add(&tens, "k%d=%d", i, i);
    }
    assert_topic_holds(app, "small", &small, &recs);
    eu_recs_free(&recs);
    assert_topic_holds(app, "even", &even, &recs);
    eu_recs_free(&recs);
    assert_topic_holds(app, "rest", &rest, &recs);
    eu_recs_free(&recs);
    assert_topic_holds(app, "tens", &tens, &recs);
    eu_recs_free(&recs);
    eu_strs_free(&small);
    eu_strs_free(&even);
    eu_strs_free(&rest);
    eu_strs_free(&tens);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* Custom processor: the record context                                                     */

#define CTX_RECORDS 24
#define CTX_PARTITIONS 4

typedef struct probe_s {
    atomic_int inits;
    atomic_int closes;
    atomic_int bad_state; /* a callback got a state other than the one init() made */
    int state_tag;        /* its address is the state init() makes */
} probe_t;

static probe_t probe; /* process() has no opaque: the one probe of the test */

static int probe_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    atomic_fetch_add(&probe.inits, 1);
    if (opaque != &probe)
        atomic_fetch_add(&probe.bad_state, 1);
    *statep = &probe.state_tag;
    return 0;
}

/* Forwards the record with its value replaced by what the context says about it:
 * "topic|partition|offset|ctx timestamp|record timestamp|header count|trace|task|stream time". */
static int probe_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    const rill_headers_t *hdrs = rill_ctx_headers(ctx);
    const void *trace = NULL;
    size_t trace_len = 0;
    char value[256];

    if (state != &probe.state_tag) {
        atomic_fetch_add(&probe.bad_state, 1);
        return -1;
    }
    if (rill_headers_get(hdrs, "trace", &trace, &trace_len)) {
        trace = "-";
        trace_len = 1;
    }
    rill_record_t out = *rec;
    out.value = value;
    out.value_len = (size_t)snprintf(value, sizeof(value), "%s|%d|%lld|%lld|%lld|%zu|%.*s|%s|%lld",
                                     rill_ctx_topic(ctx), (int)rill_ctx_partition(ctx),
                                     (long long)rill_ctx_offset(ctx),
                                     (long long)rill_ctx_timestamp(ctx), (long long)rec->timestamp,
                                     rill_headers_count(hdrs), (int)trace_len, (const char *)trace,
                                     rill_ctx_task_id(ctx), (long long)rill_ctx_stream_time(ctx));
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static void probe_close(void *state, void *opaque) {
    if (state != &probe.state_tag || opaque != &probe)
        atomic_fetch_add(&probe.bad_state, 1);
    atomic_fetch_add(&probe.closes, 1);
}

/* The timestamp of input record i: rising per partition, except record 13, which is older
 * than the record before it in its partition (stream time must not go back). */
static int64_t ctx_ts(int i) {
    return i == 13 ? 1700000000000LL : 1700000100000LL + 1000LL * i;
}

/* Writes the input with librdkafka directly: rill_producer_send() has no headers. Record i
 * goes to partition i % 4 with header trace=t<i>, and every third one also extra=x. */
static void write_with_headers(rill_app_t *app, const char *topic) {
    char errstr[512], key[16], value[16], trace[16];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();

    cr_assert_eq(rd_kafka_conf_set(kc, "bootstrap.servers", rill_app_bootstrap_servers(app), errstr,
                                   sizeof(errstr)),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "%s", errstr);
    for (int i = 0; i < CTX_RECORDS; i++) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "%d", i);
        snprintf(trace, sizeof(trace), "t%d", i);
        rd_kafka_header_add(hdrs, "trace", -1, trace, -1);
        if (i % 3 == 0)
            rd_kafka_header_add(hdrs, "extra", -1, "x", -1);
        cr_assert_eq(rd_kafka_producev(
                         rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % CTX_PARTITIONS),
                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, strlen(key)),
                         RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_TIMESTAMP(ctx_ts(i)),
                         RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END),
                     0);
    }
    cr_assert_eq(rd_kafka_flush(rk, EU_WAIT_MS), 0);
    rd_kafka_destroy(rk);
}

Test(operators_stateless, context_describes_each_record_when_processor_reads_it, .timeout = 60) {
    rill_topology_t *topo = rill_topology_new();
    static const rill_processor_def_t def = {
        .init = probe_init, .process = probe_process, .close = probe_close};
    char id[64];

    rill_stream_t *s = rill_stream_from(topo, "events", "ctx-in", NULL);
    cr_assert_eq(
        rill_stream_to(rill_stream_process(s, "probe", &def, &probe), NULL, "ctx-out", NULL), 0);
    eu_app_id(id, sizeof(id), "stateless-context");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "ctx-in", CTX_PARTITIONS);
    write_with_headers(app, "ctx-in");
    run_until_processed(app, CTX_RECORDS);

    /* The reference: what the context must say, from the input as the broker stored it. */
    eu_recs_t in, out;
    eu_strs_t want = {0}, got = {0};
    int64_t stream_time[CTX_PARTITIONS] = {-1, -1, -1, -1};
    eu_read_topic(rill_app_bootstrap_servers(app), "ctx-in", &in); /* by partition, offset */
    cr_assert_eq(in.cnt, CTX_RECORDS);
    for (size_t i = 0; i < in.cnt; i++) {
        const eu_rec_t *r = &in.v[i];
        if (r->timestamp > stream_time[r->partition])
            stream_time[r->partition] = r->timestamp;
        eu_strs_add(&want, "%s=ctx-in|%d|%lld|%lld|%lld|%zu|%s|0_%d|%lld ts=%lld trace=%s", r->key,
                    (int)r->partition, (long long)r->offset, (long long)r->timestamp,
                    (long long)r->timestamp, r->hdr_cnt, eu_rec_header(r, "trace"),
                    (int)r->partition, (long long)stream_time[r->partition],
                    (long long)r->timestamp, eu_rec_header(r, "trace"));
    }
    /* The output keeps the input's timestamp and headers. */
    eu_read_topic(rill_app_bootstrap_servers(app), "ctx-out", &out);
    for (size_t i = 0; i < out.cnt; i++) {
        const eu_rec_t *r = &out.v[i];
        const char *trace = eu_rec_header(r, "trace");
        eu_strs_add(&got, "%s=%s ts=%lld trace=%s", r->key, r->value, (long long)r->timestamp,
                    trace ? trace : "(none)");
    }
    eu_assert_same_set(&got, &want, "ctx-out");
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    /* One init per task before its first record (4 tasks, again after each further
     * assignment), one close per init; the state init made is the one handed back. */
    int64_t assignments = rill_app_metric(app, "rill_rebalances_total");
    cr_assert_geq(assignments, 1);
    cr_assert(atomic_load(&probe.inits) >= CTX_PARTITIONS &&
                  atomic_load(&probe.inits) <= CTX_PARTITIONS * assignments,
              "%d inits for %d tasks and %lld assignments", atomic_load(&probe.inits),
              CTX_PARTITIONS, (long long)assignments);
    cr_assert_eq(atomic_load(&probe.closes), atomic_load(&probe.inits));
    cr_assert_eq(atomic_load(&probe.bad_state), 0);
    eu_recs_free(&in);
    eu_recs_free(&out);
    eu_strs_free(&want);
    eu_strs_free(&got);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* repartition: which serde reads the records back                                          */

static int to_text_fn(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char value[32];
    (void)opaque;
    int len = snprintf(value, sizeof(value), "x%d", num_of(rec));
    return rill_buf_append(out->value, value, (size_t)len);
}

/*
 * Values become text that is not JSON after a JSON source: rill_stream_repartition() reads
 * them back with the source's JSON serde (each one dead-lettered), rill_stream_repartition_with()
 * with bytes (each one passes).
 */
Test(operators_stateless, values_read_back_with_given_serde_when_repartitioned_with,
     .timeout = 60) {
    char id[64];
    eu_strs_t want = {0};
    eu_recs_t recs;
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t json = {.value_serde = rill_serde_json()};
    rill_stream_t *s = rill_stream_from(topo, "in", "in", &json);
    rill_stream_t *text = rill_stream_map_values(s, "to-text", to_text_fn, NULL);

    rill_stream_to(rill_stream_repartition_with(text, "as-bytes", NULL), "bytes-sink", "out-bytes",
                   NULL);
    rill_stream_to(rill_stream_repartition(text, "as-json"), "json-sink", "out-json", NULL);
    eu_app_id(id, sizeof(id), "stateless-repartition-with");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 2);
    write_numbers(app, "in");
    run_until_processed(app, 3 * N);
    for (int i = 0; i < N; i++)
        eu_strs_add(&want, "k%d=x%d", i, i);
    assert_topic_holds(app, "out-bytes", &want, &recs);
    eu_recs_free(&recs);
    eu_strs_free(&want);
    assert_topic_holds(app, "out-json", &want, &recs);
    eu_recs_free(&recs);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), N);
    rill_app_destroy(app);
}
