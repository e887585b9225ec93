/*
 * test_app_embedded.c — component tests of an app's record handling on the embedded broker
 * (engine/task.c, engine/dlq.c, engine/app.c, engine/stream_thread.c): records the JSON serde
 * rejects and records a processor fails go to the dead-letter topic with their reason and
 * origin while the records around them are processed; a task hands out the queued record
 * with the lowest timestamp; errors.tolerance=none stops the app at the first bad record.
 *
 * The mock cluster's first group join takes about 3 s, so each test takes about 4-5 s.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"

#include <json-c/json.h>

/* Checks the dead-letter headers of r: reason (exact, or a substring when reason_part),
 * node, origin in the input as read back (in), attempts and application id. */
static void assert_dead_letter(const eu_rec_t *r, const eu_recs_t *in, const char *input_topic,
                               const char *node, const char *reason, int reason_part,
                               const char *app_id) {
    const eu_rec_t *src = NULL;
    char num[32];

    for (size_t i = 0; i < in->cnt && !src; i++)
        if (in->v[i].value && r->value && !strcmp(in->v[i].value, r->value))
            src = &in->v[i];
    cr_assert_not_null(src, "dead letter %s=%s is no input record", r->key, r->value);
    cr_assert_str_eq(r->key, src->key, "the dead letter keeps the key");
    cr_assert_eq(r->timestamp, src->timestamp, "the dead letter keeps the timestamp");
    const char *error = eu_rec_header(r, "rill.error");
    cr_assert_not_null(error, "no rill.error header on %s", r->value);
    if (reason_part)
        cr_assert(strstr(error, reason), "rill.error \"%s\" lacks \"%s\"", error, reason);
    else
        cr_assert_str_eq(error, reason);
    cr_assert_str_eq(eu_rec_header(r, "rill.error.node"), node);
    cr_assert_str_eq(eu_rec_header(r, "rill.source.topic"), input_topic);
    snprintf(num, sizeof(num), "%d", (int)src->partition);
    cr_assert_str_eq(eu_rec_header(r, "rill.source.partition"), num);
    snprintf(num, sizeof(num), "%lld", (long long)src->offset);
    cr_assert_str_eq(eu_rec_header(r, "rill.source.offset"), num);
    cr_assert_str_eq(eu_rec_header(r, "rill.attempts"), "1");
    cr_assert_str_eq(eu_rec_header(r, "rill.application.id"), app_id);
}

/* ---------------------------------------------------------------------------------------- */
/* JSON serde errors                                                                        */

static int64_t json_n(const rill_record_t *rec) {
    struct json_object *n;

    return rec->value_obj && json_object_object_get_ex(rec->value_obj, "n", &n)
               ? json_object_get_int64(n)
               : -1;
}

static int double_n(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char doubled[32];
    int len = snprintf(doubled, sizeof(doubled), "%lld", (long long)(2 * json_n(rec)));
    return rill_buf_append(out->value, doubled, (size_t)len);
}

/* orders (string keys, JSON values) -> double n -> "doubled". */
static rill_topology_t *json_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t opts = {.key_serde = rill_serde_string(), .value_serde = rill_serde_json()};
    rill_stream_t *s = rill_stream_from(topo, "orders", "orders", &opts);

    cr_assert_eq(
        rill_stream_to(rill_stream_map_values(s, "double", double_n, NULL), NULL, "doubled", NULL),
        0);
    return topo;
}

#define JSON_RECORDS 20

/* About 3 KB of "[{},{},...]": valid JSON that would cost about 800 KB as a json-c tree,
 * past what the serde accepts for its size (base/json_scan.c). */
static const char *json_amplifying(void) {
    static char text[3 * 1000 + 2];
    size_t at = 0;

    if (!text[0]) {
        text[at++] = '[';
        for (int i = 0; i < 1000; i++)
            at += (size_t)snprintf(text + at, sizeof(text) - at, i ? ",{}" : "{}");
        text[at] = ']';
    }
    return text;
}

/* Input i's value: {"n":i}, except four kinds of malformed JSON and one that amplifies. */
static const char *json_value(int i, char *buf, size_t size) {
    switch (i) {
    case 17:
        return json_amplifying();
    case 3:
        return "{\"n\": 3"; /* cut short */
    case 7:
        return "not json"; /* not JSON at all */
    case 12:
        return "{\"n\":12} extra"; /* trailing data */
    case 13:
        return "{\"n\":\"\xff\"}"; /* invalid UTF-8 */
    default:
        snprintf(buf, size, "{\"n\":%d}", i);
        return buf;
    }
}

static int json_malformed(int i) {
    return i == 3 || i == 7 || i == 12 || i == 13 || i == 17;
}

Test(engine_app_embedded, malformed_json_dead_lettered_when_json_serde_rejects_it, .timeout = 60) {
    char id[64], dlq[80], key[16], buf[32];
    eu_app_id(id, sizeof(id), "app-json-dlq");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = eu_app_new(json_topology(), id, NULL);
    eu_create_topic(app, "orders", 4);

    rill_producer_t *p = eu_producer(app);
    eu_strs_t want = {0};
    for (int i = 0; i < JSON_RECORDS; i++) {
        snprintf(key, sizeof(key), "o%d", i);
        /* Bad records sit between good ones of the same partition. */
        eu_send(p, "orders", i % 2, key, json_value(i, buf, sizeof(buf)), 0);
        if (!json_malformed(i))
            eu_strs_add(&want, "o%d=%d", i, 2 * i);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, JSON_RECORDS);
    eu_stop(app);

    eu_recs_t in, out, dead;
    eu_strs_t got = {0};
    eu_read_topic(rill_app_bootstrap_servers(app), "orders", &in);
    eu_read_topic(rill_app_bootstrap_servers(app), "doubled", &out);
    eu_recs_kv(&out, &got);
    eu_assert_same_set(&got, &want, "doubled");
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    cr_assert_eq(dead.cnt, 5, "dead letters in %s", dlq);
    for (size_t i = 0; i < dead.cnt; i++)
        assert_dead_letter(&dead.v[i], &in, "orders", "orders", "json serde", 1, id);
    /* The reason says what was wrong, not only that something was. */
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        if (strstr(dead.v[i].value, "extra"))
            cr_assert(strstr(error, "byte offset 9"), "%s", error);
        if (strstr(dead.v[i].value, "\xff"))
            cr_assert(strstr(error, "UTF-8"), "%s", error);
        if (!strncmp(dead.v[i].value, "[{},{}", 6))
            cr_assert(strstr(error, "refused before parsing") && strstr(error, "elements"), "%s",
                      error);
    }
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 5);
    cr_assert_eq(rill_app_metric(app, "rill_records_processed_total"), JSON_RECORDS);
    eu_recs_free(&in);
    eu_recs_free(&out);
    eu_recs_free(&dead);
    eu_strs_free(&got);
    eu_strs_free(&want);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* Timestamp order within a task                                                            */

#define ORDER_RECORDS 50 /* per topic and partition */

typedef struct order_log_s {
    pthread_mutex_t lock;
    int64_t ts[2][4 * ORDER_RECORDS]; /* per input partition, in processing order */
    int cnt[2];
    int other; /* records from partitions other than 0 and 1 */
} order_log_t;

static order_log_t order_log = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int log_order(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    int32_t p = rill_ctx_partition(ctx);

    pthread_mutex_lock(&order_log.lock);
    if ((p == 0 || p == 1) && order_log.cnt[p] < 4 * ORDER_RECORDS)
        order_log.ts[p][order_log.cnt[p]++] = rec->timestamp;
    else
        order_log.other++;
    pthread_mutex_unlock(&order_log.lock);
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

Test(engine_app_embedded, records_processed_in_timestamp_order_when_two_topics_share_a_task,
     .timeout = 60) {
    static const rill_processor_def_t logger = {.process = log_order};
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *a = rill_stream_from(topo, "a", "ta", NULL);
    rill_stream_t *b = rill_stream_from(topo, "b", "tb", NULL);
    char id[64], key[8], value[16];

    /* Merged: one sub-topology, so partition p of ta and of tb make one task. */
    rill_stream_t *logged =
        rill_stream_process(rill_stream_merge(a, b, NULL), "log", &logger, NULL);
    cr_assert_eq(rill_stream_to(logged, NULL, "ordered", NULL), 0);
    eu_app_id(id, sizeof(id), "app-ts-order");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "ta", 4);
    eu_create_topic(app, "tb", 4);

    /* Everything is written before the app starts, so both partitions of a task are fetched
     * together. Partition 0: ta has 1,3,5,... and tb 2,4,6,...; partition 1 the other way
     * round and from 1001. One key per partition keeps the output of a task in one output
     * partition, in the order it was produced. */
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < ORDER_RECORDS; i++) {
        for (int part = 0; part < 2; part++) {
            int64_t odd = part * 1000 + 2 * i + 1, even = odd + 1;
            snprintf(key, sizeof(key), "p%d", part);
            snprintf(value, sizeof(value), "a%lld", (long long)(part ? even : odd));
            eu_send(p, "ta", part, key, value, part ? even : odd);
            snprintf(value, sizeof(value), "b%lld", (long long)(part ? odd : even));
            eu_send(p, "tb", part, key, value, part ? odd : even);
        }
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, 4 * ORDER_RECORDS);
    eu_stop(app);

    cr_assert_eq(order_log.other, 0);
    for (int part = 0; part < 2; part++) {
        cr_assert_eq(order_log.cnt[part], 2 * ORDER_RECORDS, "task 0_%d", part);
        for (int i = 0; i < 2 * ORDER_RECORDS; i++)
            cr_assert_eq(order_log.ts[part][i], part * 1000 + i + 1,
                         "task 0_%d: record %d processed has timestamp %lld, want %d (the "
                         "task must hand out the lowest timestamp first)",
                         part, i, (long long)order_log.ts[part][i], part * 1000 + i + 1);
    }
    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "ordered", &out); /* by partition, offset */
    cr_assert_eq(out.cnt, 4 * ORDER_RECORDS);
    int64_t last[2] = {0, 1000};
    for (size_t i = 0; i < out.cnt; i++) {
        int part = out.v[i].key[1] - '0';
        cr_assert_eq(out.v[i].timestamp, last[part] + 1, "output of key %s out of order",
                     out.v[i].key);
        last[part] = out.v[i].timestamp;
    }
    eu_recs_free(&out);
    rill_app_destroy(app);
}

/*
 * max.task.idle.ms: after one record each, input b of a task gets its records 1 s after
 * input a, with earlier timestamps. Waiting up to 3 s for the empty input, the task processes all
 * six in timestamp order; with 0 (Kafka Streams' default: wait only for data known to exist) it
 * goes ahead with a's records.
 */
static int64_t idle_order[8];
static int idle_cnt;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;

static int log_idle(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    pthread_mutex_lock(&idle_lock);
    if (idle_cnt < 8)
        idle_order[idle_cnt++] = rec->timestamp;
    pthread_mutex_unlock(&idle_lock);
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static void run_idle(const char *idle_ms, const int64_t *want) {
    static const rill_processor_def_t logger = {.process = log_idle};
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *a = rill_stream_from(topo, "a", "ia", NULL);
    rill_stream_t *b = rill_stream_from(topo, "b", "ib", NULL);
    rill_stream_t *logged =
        rill_stream_process(rill_stream_merge(a, b, NULL), "log", &logger, NULL);
    cr_assert_eq(rill_stream_to(logged, NULL, "idle-out", NULL), 0);
    char id[64];
    const char *const extra[] = {"max.task.idle.ms", idle_ms, NULL};
    eu_app_id(id, sizeof(id), "app-idle");
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "ia", 1);
    eu_create_topic(app, "ib", 1);
    idle_cnt = 0;
    rill_producer_t *p = eu_producer(app); /* one record each first: positions known */
    eu_send(p, "ia", 0, "k", "a", 1);
    eu_send(p, "ib", 0, "k", "b", 2);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, 2);
    p = eu_producer(app);
    for (int i = 1; i <= 3; i++)
        eu_send(p, "ia", 0, "k", "a", 10 * i);
    eu_producer_done(p);
    eu_sleep_ms(1000);
    p = eu_producer(app);
    for (int i = 1; i <= 3; i++)
        eu_send(p, "ib", 0, "k", "b", 10 * i - 5);
    eu_producer_done(p);
    eu_wait_processed(app, 8);
    eu_stop(app);
    cr_assert_eq(idle_cnt, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(idle_order[i], want[i],
                     "max.task.idle.ms=%s: record %d processed has "
                     "timestamp %lld, want %lld",
                     idle_ms, i, (long long)idle_order[i], (long long)want[i]);
    rill_app_destroy(app);
}

Test(engine_app_embedded, late_input_waited_for_in_timestamp_order_when_max_task_idle_set,
     .timeout = 60) {
    static const int64_t sorted[] = {1, 2, 5, 10, 15, 20, 25, 30};
    run_idle("3000", sorted);
}

Test(engine_app_embedded, task_goes_ahead_without_empty_input_when_max_task_idle_zero,
     .timeout = 60) {
    static const int64_t ahead[] = {1, 2, 10, 20, 30, 5, 15, 25};
    run_idle("0", ahead);
}

/* ---------------------------------------------------------------------------------------- */
/* Processor errors                                                                         */

static int contains(const rill_record_t *rec, const char *word) {
    size_t wl = strlen(word);

    for (size_t i = 0; rec->value && i + wl <= rec->value_len; i++)
        if (!memcmp((const char *)rec->value + i, word, wl))
            return 1;
    return 0;
}

/* Fails, with no reason, for values containing "broken"; else appends "+". */
static int tag_fn(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    if (contains(rec, "broken"))
        return 1;
    return rill_buf_append(out->value, rec->value, rec->value_len) ||
           rill_buf_append(out->value, "+", 1);
}

/* Fails with a reason for "bad", without one for "ugly"; forwards the rest. */
static int check_fn(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    if (contains(rec, "bad")) {
        rill_ctx_set_error(ctx, "rejected %.*s at offset %lld", (int)rec->value_len,
                           (const char *)rec->value, (long long)rill_ctx_offset(ctx));
        return 1;
    }
    if (contains(rec, "ugly"))
        return -1;
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

#define ERR_RECORDS 16

static const char *err_value(int i, char *buf, size_t size) {
    const char *kind = i % 5 == 1 ? "bad" : i % 5 == 3 ? "ugly" : i == 9 ? "broken" : "fine";

    snprintf(buf, size, "%s%d", kind, i);
    return buf;
}

Test(engine_app_embedded, record_dead_lettered_with_reason_when_processor_fails, .timeout = 60) {
    static const rill_processor_def_t checker = {.process = check_fn};
    rill_topology_t *topo = rill_topology_new();
    char id[64], dlq[80], key[16], value[32];

    rill_stream_t *s = rill_stream_from(topo, "input", "events", NULL);
    s = rill_stream_map_values(s, "tagger", tag_fn, NULL);
    s = rill_stream_process(s, "checker", &checker, NULL);
    cr_assert_eq(rill_stream_to(s, NULL, "checked", NULL), 0);
    eu_app_id(id, sizeof(id), "app-proc-error");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "events", 4);
    rill_producer_t *p = eu_producer(app);
    eu_strs_t want = {0};
    int failing = 0;
    for (int i = 0; i < ERR_RECORDS; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        err_value(i, value, sizeof(value));
        eu_send(p, "events", 0, key, value, 0);
        if (!strncmp(value, "fine", 4))
            eu_strs_add(&want, "%s=%s+", key, value);
        else
            failing++;
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, ERR_RECORDS);
    eu_stop(app);

    eu_recs_t in, out, dead;
    eu_strs_t got = {0};
    eu_read_topic(rill_app_bootstrap_servers(app), "events", &in);
    eu_read_topic(rill_app_bootstrap_servers(app), "checked", &out);
    eu_recs_kv(&out, &got);
    eu_assert_same_set(&got, &want, "checked");
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    cr_assert_eq((int)dead.cnt, failing);
    for (size_t i = 0; i < dead.cnt; i++) {
        const eu_rec_t *r = &dead.v[i];
        char reason[128];
        /* The dead letter is the input record, as consumed, not what a node made of it. */
        if (!strncmp(r->value, "bad", 3)) {
            const char *offset = eu_rec_header(r, "rill.source.offset");
            snprintf(reason, sizeof(reason), "rejected %s+ at offset %s", r->value,
                     offset ? offset : "?");
            assert_dead_letter(r, &in, "events", "checker", reason, 0, id);
        } else if (!strncmp(r->value, "ugly", 4)) {
            assert_dead_letter(r, &in, "events", "checker", "processor \"checker\" failed", 0, id);
        } else {
            cr_assert_str_eq(r->value, "broken9");
            assert_dead_letter(r, &in, "events", "tagger", "mapper of node \"tagger\" failed", 0,
                               id);
        }
    }
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), failing);
    eu_recs_free(&in);
    eu_recs_free(&out);
    eu_recs_free(&dead);
    eu_strs_free(&got);
    eu_strs_free(&want);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* errors.tolerance=none                                                                    */

static const char *const tolerance_none[] = {"errors.tolerance", "none", NULL};

/* Runs the JSON topology with errors.tolerance=none over {"n":0}, {"n":1}, oops, {"n":3} in
 * orders[0] until the app stops by itself. Returns the app (stopped) and its error. */
static rill_app_t *run_until_bad_record(const char *app_id, char *errstr, size_t errstr_size,
                                        rill_err_t *errp) {
    static const char *const values[] = {"{\"n\":0}", "{\"n\":1}", "oops", "{\"n\":3}"};
    rill_app_t *app = eu_app_new(json_topology(), app_id, tolerance_none);
    int fired;

    eu_create_topic(app, "orders", 4);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof(key), "o%d", i);
        eu_send(p, "orders", 0, key, values[i], 0);
    }
    eu_producer_done(p);
    eu_start(app);
    *errp = eu_wait_bounded(app, EU_WAIT_MS, errstr, errstr_size, &fired);
    cr_assert(!fired, "the app did not stop by itself within %d ms", EU_WAIT_MS);
    return app;
}

Test(engine_app_embedded, app_stops_naming_record_when_errors_tolerance_none, .timeout = 60) {
    char id[64], dlq[80], errstr[512] = "";
    rill_err_t err;

    eu_app_id(id, sizeof(id), "app-tolerance-none");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = run_until_bad_record(id, errstr, sizeof(errstr), &err);
    cr_assert_eq(err, RILL_ERR_PROCESSING, "rill_app_wait: %d %s", err, errstr);
    cr_assert(strstr(errstr, "orders[0]@2"), "the error names the record: %s", errstr);
    cr_assert(strstr(errstr, "\"orders\""), "the error names the node: %s", errstr);
    cr_assert(strstr(errstr, "json serde"), "the error gives the reason: %s", errstr);
    cr_assert(strstr(errstr, "errors.tolerance"), "the error names the setting: %s", errstr);

    /* The records before the bad one are processed, none after it; nothing is dead-lettered. */
    eu_recs_t out, dead;
    eu_strs_t got = {0}, want = {0};
    eu_read_topic(rill_app_bootstrap_servers(app), "doubled", &out);
    eu_recs_kv(&out, &got);
    eu_strs_add(&want, "o0=0");
    eu_strs_add(&want, "o1=2");
    eu_assert_same_set(&got, &want, "doubled");
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    cr_assert_eq(dead.cnt, 0);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    eu_recs_free(&out);
    eu_recs_free(&dead);
    eu_strs_free(&got);
    eu_strs_free(&want);
    rill_app_destroy(app);
}

/*
 * A bad record that stops the app must not be committed as processed: the next run would
 * skip it, and it would be lost without a trace (neither output nor dead letter).
 */
Test(engine_app_embedded, bad_record_not_committed_when_errors_tolerance_none_stops_app,
     .timeout = 60) {
    char id[64], errstr[512] = "";
    rill_err_t err;

    eu_app_id(id, sizeof(id), "app-tolerance-commit");
    rill_app_t *app = run_until_bad_record(id, errstr, sizeof(errstr), &err);
    cr_assert_eq(err, RILL_ERR_PROCESSING, "%s", errstr);
    int64_t committed = eu_committed_offset(app, id, "orders", 0);
    cr_assert_leq(committed, 2,
                  "offset %lld committed for orders[0]: the bad record at offset "
                  "2 would be skipped on restart",
                  (long long)committed);
    rill_app_destroy(app);
}
