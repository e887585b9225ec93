/*
 * test_small_sink.c — a sink whose topic takes only small records (max.message.bytes=700)
 * on a real Kafka, with an app run in this process (source → sink), under both guarantees:
 *  - limit known at start: the large records are dead-lettered before they are sent, with
 *    a "too large" reason and their source position; every small one is in the output
 *    exactly once (also when many are batched: the producer's batches stay under the
 *    limit); --drain (exit.on.end) ends without an error.
 *  - the same with a dead-letter topic that existed with a limit below the large records:
 *    their dead letters are cut to fit (rill.value.truncated gives the original size).
 *  - a sink topic deleted while the app runs: every later record dead-lettered naming the
 *    topic, or a clear stop, and no committed offset past a record in neither place.
 *  - a record made by a punctuation (no input record) too large for the sink: the record
 *    itself is dead-lettered with the reason and the sink's topic, and the app goes on.
 *  - limit lowered after the start (so the broker refuses whole batches in the delivery
 *    report): no record is lost or in both topics, each large one is dead-lettered with a
 *    "too large" reason, every small one is written (the app reads the limits again and
 *    batches for them), the app does not stop with an error (the rewind of
 *    engine/refused.c; exactly once under exactly_once_v2).
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rill_test.h"

#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS 120
#define LARGE_EVERY 7
#define LARGE_LEN 1000
#define SMALL_LEN 60
#define LIMIT "700"
#define DLQ_LIMIT "900" /* under a large record and its dead-letter headers */
#define WAIT_MS 60000

TestSuite(integration_small_sink, .fini = rt_kill_all, .timeout = 180);

static bool is_large(size_t i) {
    return i % LARGE_EVERY == 3;
}

static void gen(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                void *opaque) {
    size_t len = is_large(i) ? LARGE_LEN : SMALL_LEN;
    snprintf(key, key_size, "k%zu", i);
    cr_assert(len < value_size);
    memset(value, 'a' + (int)(i % 26), len);
    value[len] = '\0';
}

typedef struct topics_s {
    char *app_id, *input, *output, *dlq;
} topics_t;

static void topics_make(topics_t *t, const char *prefix, bool limited, const char *dlq_limit) {
    t->app_id = rt_unique_name(prefix);
    if (asprintf(&t->input, "%s.in", t->app_id) < 0 ||
        asprintf(&t->output, "%s.out", t->app_id) < 0 || asprintf(&t->dlq, "%s-dlq", t->app_id) < 0)
        abort();
    const char *const small[] = {"max.message.bytes", LIMIT, NULL};
    rt_create_topic(rt_bootstrap(), t->input, 2);
    rt_create_topic_config(rt_bootstrap(), t->output, 2, limited ? small : NULL);
    const char *const dlq[] = {"max.message.bytes", dlq_limit, NULL};
    if (dlq_limit) /* else the app creates it */
        rt_create_topic_config(rt_bootstrap(), t->dlq, 1, dlq);
}

static void topics_free(topics_t *t) {
    free(t->app_id), free(t->input), free(t->output), free(t->dlq);
}

static rill_app_t *app_new(const topics_t *t, bool eos, bool drain) {
    char errstr[512];
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "source", t->input, NULL), "sink", t->output, NULL);
    rill_conf_t *conf = rill_conf_new();
    const char *kv[][2] = {
        {"application.id", t->app_id},
        {"bootstrap.servers", rt_bootstrap()},
        {"processing.guarantee", eos ? "exactly_once_v2" : "at_least_once"},
        {"commit.interval.ms", "200"},
        {"exit.on.end", drain ? "true" : "false"},
        {"consumer.session.timeout.ms", "6000"},
        {"consumer.heartbeat.interval.ms", "500"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        cr_assert_eq(rill_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_eq(rill_app_start(app, errstr, sizeof(errstr)), 0, "start: %s", errstr);
    return app;
}

static void produce_input(const topics_t *t, rt_records_t *delivered) {
    char errstr[512];
    rt_produce_opts_t popts = {.delivered = delivered};
    cr_assert_eq(rt_produce_strings(rt_bootstrap(), t->input, RECORDS, gen, NULL, &popts, errstr,
                                    sizeof(errstr)),
                 0, "producing the input: %s", errstr);
}

static size_t count_key(const rt_records_t *recs, const char *key, const rt_record_t **last) {
    size_t n = 0;
    for (size_t i = 0; i < recs->cnt; i++)
        if (recs->v[i].key && !strcmp(recs->v[i].key, key)) {
            n++;
            *last = &recs->v[i];
        }
    return n;
}

/* Every record in the output or the dead-letter topic, never both; the large ones dead
 * letters with a "too large" reason and their source position. exact: no duplicates. */
static void check(const topics_t *t, const rt_records_t *delivered, bool eos, bool exact,
                  bool all_small_out, bool dlq_cut) {
    const char *iso = eos ? "read_committed" : "read_uncommitted";
    rt_records_t *out = rt_consume_all(rt_bootstrap(), t->output, iso, 0, 10000);
    rt_records_t *dead = rt_consume_all(rt_bootstrap(), t->dlq, iso, 0, 10000);
    cr_log_info("%s: %zu output records, %zu dead letters", t->app_id, out->cnt, dead->cnt);
    for (size_t i = 0; i < delivered->cnt; i++) {
        const rt_record_t *src = &delivered->v[i], *o = NULL, *d = NULL;
        size_t no = count_key(out, src->key, &o), nd = count_key(dead, src->key, &d);
        bool large = src->value_len == LARGE_LEN;
        if (large || !all_small_out)
            cr_expect(no == 0 || !large, "%s: large record %s is in the output", t->app_id,
                      src->key);
        cr_expect(no + nd >= 1, "%s: record %s is lost", t->app_id, src->key);
        cr_expect(!(no && nd), "%s: record %s is in the output and the dead-letter topic",
                  t->app_id, src->key);
        if (exact)
            cr_expect(no + nd <= 1,
                      "%s: record %s is %zu times in the output and %zu in the "
                      "dead-letter topic",
                      t->app_id, src->key, no, nd);
        if (all_small_out && !large)
            cr_expect(no >= 1, "%s: small record %s was not written", t->app_id, src->key);
        if (!d)
            continue;
        const char *why = rt_record_header(d, "rill.error");
        cr_expect(why && strcasestr(why, "too large"), "%s: %s dead-lettered for \"%s\"", t->app_id,
                  src->key, why ? why : "(none)");
        char off[32];
        snprintf(off, sizeof(off), "%lld", (long long)src->offset);
        const char *o2 = rt_record_header(d, "rill.source.offset");
        cr_expect(o2 && !strcmp(o2, off), "%s: %s dead letter names offset %s, not %s", t->app_id,
                  src->key, o2 ? o2 : "(none)", off);
        const char *cut = rt_record_header(d, "rill.value.truncated");
        if (cut) /* a prefix of the value, and its original size */
            cr_expect(strtoull(cut, NULL, 10) == src->value_len && d->value_len > 0 &&
                          d->value_len < src->value_len &&
                          !memcmp(d->value, src->value, d->value_len),
                      "%s: %s dead letter cut to %zu bytes says %s, original %zu", t->app_id,
                      src->key, d->value_len, cut, src->value_len);
        else
            cr_expect(d->value_len == src->value_len,
                      "%s: %s dead letter has %zu bytes, "
                      "not %zu",
                      t->app_id, src->key, d->value_len, src->value_len);
        cr_expect(!cut == !dlq_cut, "%s: %s dead letter %s", t->app_id, src->key,
                  cut ? "cut though it fits" : "not cut though the topic is too small");
    }
    rt_records_free(out), free(out);
    rt_records_free(dead), free(dead);
}

static void run_known_limit(bool eos, const char *dlq_limit) {
    topics_t t;
    topics_make(&t, eos ? "small-eos" : "small-alos", true, dlq_limit);
    rt_records_t delivered = {0};
    produce_input(&t, &delivered);
    rill_app_t *app = app_new(&t, eos, true);
    char errstr[512] = "";
    rill_err_t err = rill_app_wait(app, errstr, sizeof(errstr));
    cr_expect_eq(err, 0, "%s: the app stopped with %d: %s", t.app_id, err, errstr);
    rill_app_destroy(app);
    check(&t, &delivered, eos, true, true, dlq_limit != NULL);
    rt_records_free(&delivered);
    topics_free(&t);
}

Test(integration_small_sink, limit_known_at_start_at_least_once) {
    run_known_limit(false, NULL);
}

Test(integration_small_sink, limit_known_at_start_exactly_once) {
    run_known_limit(true, NULL);
}

/* A dead-letter topic that existed with a limit below the large records: their dead
 * letters are cut to fit, saying so. */
Test(integration_small_sink, dead_letters_cut_to_fit_a_small_dead_letter_topic) {
    run_known_limit(false, DLQ_LIMIT);
}

/* Sets the output topic's max.message.bytes (AlterConfigs) and waits until it reads back. */
static void lower_limit(const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_ConfigResource_set_config(cr, "max.message.bytes", LIMIT);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    cr_assert(ev && !rd_kafka_event_error(ev), "AlterConfigs: %s",
              ev ? rd_kafka_event_error_string(ev) : "no answer");
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
    cr_assert(cnt == 1 && !rd_kafka_ConfigResource_error(res[0]), "AlterConfigs of %s: %s", topic,
              cnt ? rd_kafka_ConfigResource_error_string(res[0]) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    rt_sleep_ms(2000); /* the partition leader applies the new log config */
}

static void run_lowered_limit(bool eos) {
    topics_t t;
    topics_make(&t, eos ? "lowered-eos" : "lowered-alos", false, NULL);
    rill_app_t *app = app_new(&t, eos, false); /* reads the default limit */
    lower_limit(t.output);
    rt_records_t delivered = {0};
    produce_input(&t, &delivered);
    /* Until every record is in the output or the dead-letter topic (or the time is up). */
    const char *iso = eos ? "read_committed" : "read_uncommitted";
    int64_t until = rt_now_ms() + WAIT_MS;
    size_t seen = 0;
    while (rt_now_ms() < until) {
        rt_records_t *out = rt_consume_all(rt_bootstrap(), t.output, iso, 0, 3000);
        rt_records_t *dead = rt_consume_all(rt_bootstrap(), t.dlq, iso, 0, 3000);
        seen = out->cnt + dead->cnt;
        rt_records_free(out), free(out);
        rt_records_free(dead), free(dead);
        if (seen >= RECORDS)
            break;
        rt_sleep_ms(500);
    }
    cr_log_info("%s: %zu records out or dead-lettered", t.app_id, seen);
    rill_app_stop(app);
    char errstr[512] = "";
    rill_err_t err = rill_app_wait(app, errstr, sizeof(errstr));
    cr_expect_eq(err, 0, "%s: the app stopped with %d: %s", t.app_id, err, errstr);
    rill_app_destroy(app);
    check(&t, &delivered, eos, eos, true, false);
    rt_records_free(&delivered);
    topics_free(&t);
}

Test(integration_small_sink, limit_lowered_after_start_at_least_once) {
    run_lowered_limit(false);
}

Test(integration_small_sink, limit_lowered_after_start_exactly_once) {
    run_lowered_limit(true);
}

/* ---- a punctuation's output too large for its sink ---- */

/* On its first record, schedules a wall-clock punctuation that forwards one large record
 * (no input record behind it) and then the small records it got. */
typedef struct punct_state_s {
    bool scheduled, fired;
} punct_state_t;

static void punct_fire(rill_ctx_t *ctx, int64_t ts, void *arg) {
    punct_state_t *ps = arg;
    if (ps->fired)
        return;
    ps->fired = true;
    char big[LARGE_LEN + 1];
    memset(big, 'z', LARGE_LEN);
    big[LARGE_LEN] = '\0';
    rill_record_t out = {
        .key = "punct", .key_len = 5, .value = big, .value_len = LARGE_LEN, .timestamp = ts};
    rill_ctx_forward(ctx, &out);
}

static int punct_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    (void)ctx, (void)opaque;
    *statep = calloc(1, sizeof(punct_state_t));
    return *statep ? 0 : -1;
}

static int punct_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    punct_state_t *ps = state;
    if (!ps->scheduled) {
        ps->scheduled = true;
        if (rill_ctx_schedule(ctx, 100, RILL_PUNCTUATE_WALL_CLOCK, punct_fire, ps))
            return -1;
    }
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static void punct_close(void *state, void *opaque) {
    (void)opaque;
    free(state);
}

Test(integration_small_sink, punctuation_output_too_large_dead_lettered) {
    topics_t t;
    char errstr[512];
    topics_make(&t, "small-punct", true, NULL);
    rill_topology_t *topo = rill_topology_new();
    static const rill_processor_def_t def = {
        .init = punct_init, .process = punct_process, .close = punct_close};
    rill_stream_to(
        rill_stream_process(rill_stream_from(topo, "source", t.input, NULL), "punct", &def, NULL),
        "sink", t.output, NULL);
    rill_conf_t *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(conf, "application.id", t.app_id, errstr, sizeof(errstr)), 0);
    cr_assert_eq(rill_conf_set(conf, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr)),
                 0);
    cr_assert_eq(rill_conf_set(conf, "commit.interval.ms", "200", errstr, sizeof(errstr)), 0);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_eq(rill_app_start(app, errstr, sizeof(errstr)), 0, "start: %s", errstr);
    char key[32], value[SMALL_LEN + 1];
    memset(value, 's', SMALL_LEN);
    value[SMALL_LEN] = '\0';
    rill_producer_t *p = rill_producer_new(rt_bootstrap(), NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(rill_producer_send(p, t.input, 0, key, strlen(key), value, SMALL_LEN, 0), 0);
    }
    cr_assert_eq(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), 0, "%s", errstr);
    rill_producer_destroy(p);
    int64_t deadline = rt_now_ms() + WAIT_MS;
    while (rill_app_metric(app, "rill_dlq_records_total") < 1 && rt_now_ms() < deadline)
        rt_sleep_ms(100);
    rill_app_stop(app);
    cr_assert_eq(rill_app_wait(app, errstr, sizeof(errstr)), 0, "the app stopped with: %s", errstr);
    rill_app_destroy(app);
    rt_records_t *out = rt_consume_all(rt_bootstrap(), t.output, "read_uncommitted", 10, 20000);
    cr_assert_eq(out->cnt, 10, "every small record in the output");
    rt_records_t *dlq = rt_consume_all(rt_bootstrap(), t.dlq, "read_uncommitted", 1, 20000);
    cr_assert_eq(dlq->cnt, 1, "the punctuation's large record dead-lettered once (%zu)", dlq->cnt);
    const char *why = rt_record_header(&dlq->v[0], "rill.error");
    cr_assert(why && strstr(why, "max.message.bytes"), "reason: %s", why ? why : "(none)");
    cr_assert_str_eq(rt_record_header(&dlq->v[0], "rill.source.topic"), t.output);
    cr_assert_str_eq(dlq->v[0].key, "punct");
    rt_records_free(out), free(out);
    rt_records_free(dlq), free(dlq);
    topics_free(&t);
}

/* ---- a sink whose topic is deleted while the app runs ---- */

static void delete_topic(const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr)),
                 RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    cr_assert_not_null(ev, "no answer to deleting %s", topic);
    cr_assert_eq(rd_kafka_event_error(ev), 0, "deleting %s: %s", topic,
                 rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* The group's committed offset of topic[partition], or -1. */
static int64_t committed(const char *group, const char *topic, int32_t partition) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr));
    rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t off = -1;
    if (!rd_kafka_committed(rk, l, 10000) && l->elems[0].offset >= 0)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

/* The output topic disappears mid-run (the ACL case is not set up here: the test broker has
 * no authorizer). What must hold: a clear outcome — every later record dead-lettered with a
 * reason naming the topic, or the app stopped with an error naming it — and no loss: the
 * input's committed offsets pass no record that is neither delivered before the deletion nor
 * dead-lettered. */
Test(integration_small_sink, sink_topic_deleted_while_running) {
    topics_t t;
    char errstr[1024] = "", key[32], value[SMALL_LEN + 1];
    topics_make(&t, "deleted-sink", false, NULL);
    rill_app_t *app = app_new(&t, false, false);
    memset(value, 'd', SMALL_LEN);
    value[SMALL_LEN] = '\0';
    rill_producer_t *p = rill_producer_new(rt_bootstrap(), NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(rill_producer_send(p, t.input, 0, key, strlen(key), value, SMALL_LEN, 0), 0);
    }
    cr_assert_eq(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), 0, "%s", errstr);
    int64_t deadline = rt_now_ms() + WAIT_MS;
    while (rill_app_metric(app, "rill_records_produced_total") < 40 && rt_now_ms() < deadline)
        rt_sleep_ms(50);
    cr_assert_geq(rill_app_metric(app, "rill_records_produced_total"), 40);
    rt_sleep_ms(1000); /* a commit (every 200 ms) covers the first 40 */
    delete_topic(t.output);
    for (int i = 40; i < 80; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(rill_producer_send(p, t.input, 0, key, strlen(key), value, SMALL_LEN, 0), 0);
    }
    cr_assert_eq(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), 0, "%s", errstr);
    rill_producer_destroy(p);
    /* Wait for the outcome: the 40 later records dead-lettered, or the app stopped. */
    deadline = rt_now_ms() + 90000;
    while (rill_app_metric(app, "rill_dlq_records_total") < 40 && rt_now_ms() < deadline) {
        rt_sleep_ms(200);
        int64_t c = committed(t.app_id, t.input, 0);
        if (c >= 80)
            break;
    }
    rill_app_stop(app);
    rill_err_t err = rill_app_wait(app, errstr, sizeof(errstr));
    int64_t dead_cnt = rill_app_metric(app, "rill_dlq_records_total");
    rill_app_destroy(app);
    cr_log_info("%s: app ended with %d (%s), %lld dead letters", t.app_id, (int)err, errstr,
                (long long)dead_cnt);
    rt_records_t *dead = rt_consume_all(rt_bootstrap(), t.dlq, "read_uncommitted", 0, 10000);
    int64_t commit = committed(t.app_id, t.input, 0);
    /* No loss: every record between 40 and the committed offset is dead-lettered. */
    for (int64_t i = 40; i < commit && i < 80; i++) {
        const rt_record_t *d = NULL;
        snprintf(key, sizeof(key), "k%lld", (long long)i);
        cr_expect(count_key(dead, key, &d) >= 1,
                  "%s: record %s committed past (offset %lld) "
                  "but neither written nor dead-lettered",
                  t.app_id, key, (long long)commit);
        const char *why = d ? rt_record_header(d, "rill.error") : NULL;
        cr_expect(!d || (why && strstr(why, t.output)), "%s: %s dead-lettered for \"%s\"", t.app_id,
                  key, why ? why : "(none)");
    }
    /* A clear outcome. */
    cr_expect(commit >= 80 || (err && strstr(errstr, t.output)),
              "%s: neither every record dead-lettered (committed %lld) nor a clear stop "
              "naming the topic (%s)",
              t.app_id, (long long)commit, errstr);
    rt_records_free(dead), free(dead);
    topics_free(&t);
}
