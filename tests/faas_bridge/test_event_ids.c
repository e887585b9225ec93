/*
 * test_event_ids.c — the ids of the records a FaaS stage sends to a function: every record
 * gets its own id, also when one input record fans out to several (a flat_map, a join,
 * windows closed by it), when a punctuation emits records without an input record, when a
 * store's cache is flushed at a commit and when an upstream stage releases several outputs
 * of one record; the ids travel in both wire formats (CloudEvents and Lambda) and a replay
 * of the same input gives the same ids. The stage admits records through a task context
 * built here (no broker, no function).
 */
#include "faas_stage_int.h"
#include "stage_fixture.h"

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 64

/* A task with one FaaS stage node and an input topic handle for its records. */
typedef struct fx_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rill__task_t task;
    rill__node_t node;
    rill__node_t window; /* a punctuating node upstream */
    rill__faas_conf_t conf;
    rill__faas_stage_t st;
    rd_kafka_message_t msg;
    rill__pq_t pq;
    rill__thread_t thread;
    rill_app_t *app;
} fx_t;

static void fx_open(fx_t *fx) {
    char errstr[256];
    memset(fx, 0, sizeof(*fx));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "0", NULL, 0); /* never connects: no broker here */
    fx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(fx->rk, "%s", errstr);
    fx->rkt = rd_kafka_topic_new(fx->rk, "orders", NULL);
    snprintf(fx->task.id, sizeof(fx->task.id), "0_2");
    fx->task.partition = 2;
    fx->task.ctx.task = &fx->task;
    fx->app = calloc(1, sizeof(*fx->app));
    cr_assert_not_null(fx->app);
    fx->app->set.application_id = "shop";
    fx->thread.app = fx->app;
    fx->task.thread = &fx->thread;
    fx->pq.topic = "orders";
    fx->pq.partition = 2;
    fx->task.ctx.pq = &fx->pq;
    fx->node.name = "notify";
    fx->window.name = "windows";
    fx->conf.o.order = RILL_FAAS_ORDER_PARTITION;
    fx->st.conf = &fx->conf;
    fx->st.node = &fx->node;
    fx->st.cap = CAP;
    fx->st.ring = calloc(CAP, sizeof(rill__faas_slot_t));
    cr_assert_not_null(fx->st.ring);
}

static void fx_close(fx_t *fx) {
    rill__faas_stage_free_held(&fx->st);
    stage_fixture_kafka_free(fx->rk, fx->rkt, fx->app);
}

/* The task starts processing input record orders[2]@offset. */
static void fx_input(fx_t *fx, int64_t offset) {
    fx->msg = (rd_kafka_message_t){.rkt = fx->rkt, .partition = 2, .offset = offset};
    fx->task.ctx.msg = &fx->msg;
    fx->task.ctx.node = &fx->node;
    rill__ctx_origin_input(&fx->task.ctx);
}

/* The node "windows" punctuates (sched -1: its own stream-time punctuation). */
static void fx_punctuate(fx_t *fx, int sched, char clock, int64_t t) {
    fx->task.ctx.msg = NULL;
    fx->task.ctx.node = &fx->window;
    rill__ctx_origin_punctuation(&fx->task.ctx, sched, clock, t);
    fx->task.ctx.node = &fx->node;
}

/* A commit flushes a cache: no input record, no punctuation. */
static void fx_flush(fx_t *fx) {
    fx->task.ctx.msg = NULL;
    fx->task.ctx.node = &fx->node;
    rill__ctx_origin_input(&fx->task.ctx);
}

/* The stage gets one record; returns its id. */
static const char *fx_admit(fx_t *fx, const char *value) {
    rill_record_t rec = {
        .key = "k", .key_len = 1, .value = value, .value_len = strlen(value), .timestamp = 1000};
    cr_assert_eq(rill__faas_admit(&fx->st, &fx->task.ctx, &rec), 0);
    return slot_at(&fx->st, fx->st.tail - 1)->rec.id;
}

/* The fan-out, punctuation and flush sequence the tests run; ids[] gets each record's id. */
static size_t run_sequence(fx_t *fx, char ids[][RILL__FAAS_ID_MAX]) {
    size_t n = 0;
    fx_input(fx, 41); /* a flat_map makes three records of it */
    for (int i = 0; i < 3; i++)
        snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"fan\":1}"));
    fx_input(fx, 42);
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"one\":1}"));
    fx_punctuate(fx, -1, 's', 5000); /* closes two windows */
    for (int i = 0; i < 2; i++)
        snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"window\":1}"));
    fx_punctuate(fx, 0, 's', 5000); /* a scheduled punctuator at the same stream time */
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"sched\":1}"));
    fx_punctuate(fx, 1, 'w', 1700000000000);
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"wall\":1}"));
    fx_input(fx, 43); /* closes more windows: two outputs of the punctuation it causes */
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"one\":2}"));
    fx_punctuate(fx, -1, 's', 6000);
    for (int i = 0; i < 2; i++)
        snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(fx, "{\"window\":2}"));
    return n;
}

static void assert_distinct(char ids[][RILL__FAAS_ID_MAX], size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(ids[i], ids[j], "records %zu and %zu share the id %s", i, j, ids[i]);
}

Test(faas_bridge_event_ids, fan_out_records_of_one_input_get_distinct_ids) {
    fx_t fx;
    fx_open(&fx);
    fx_input(&fx, 41);
    cr_assert_str_eq(fx_admit(&fx, "1"), "orders-2-41-0");
    cr_assert_str_eq(fx_admit(&fx, "2"), "orders-2-41-1");
    cr_assert_str_eq(fx_admit(&fx, "3"), "orders-2-41-2");
    fx_input(&fx, 42);
    cr_assert_str_eq(fx_admit(&fx, "4"), "orders-2-42-0");
    fx_close(&fx);
}

Test(faas_bridge_event_ids, punctuation_and_flush_outputs_get_distinct_ids) {
    fx_t fx;
    fx_open(&fx);
    char ids[16][RILL__FAAS_ID_MAX];
    size_t n = run_sequence(&fx, ids);
    cr_assert_str_eq(ids[4], "shop:0_2:windows@5000-0");
    cr_assert_str_eq(ids[5], "shop:0_2:windows@5000-1");
    cr_assert_str_eq(ids[6], "shop:0_2:windows#0@5000-0");
    cr_assert_str_eq(ids[7], "shop:0_2:windows#1@w1700000000000-0");
    cr_assert_str_eq(ids[9], "shop:0_2:windows@6000-0");
    /* a commit flushing a cache twice within the same millisecond */
    fx_flush(&fx);
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(&fx, "{\"flush\":1}"));
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(&fx, "{\"flush\":2}"));
    fx_flush(&fx);
    snprintf(ids[n++], RILL__FAAS_ID_MAX, "%s", fx_admit(&fx, "{\"flush\":3}"));
    cr_assert_eq(strncmp(ids[n - 1], "shop:0_2:notify@c", 17), 0, "%s", ids[n - 1]);
    assert_distinct(ids, n);
    fx_close(&fx);
}

Test(faas_bridge_event_ids, outputs_of_an_upstream_stage_get_distinct_ids) {
    fx_t fx;
    fx_open(&fx);
    char upstream[] = "orders-2-41-1";
    fx.task.ctx.msg = NULL;
    rill__ctx_origin_set(&fx.task.ctx, upstream);
    cr_assert_str_eq(fx_admit(&fx, "1"), "orders-2-41-1-0");
    cr_assert_str_eq(fx_admit(&fx, "2"), "orders-2-41-1-1");
    fx_close(&fx);
}

Test(faas_bridge_event_ids, replay_of_the_same_input_gives_the_same_ids) {
    fx_t a, b;
    char ida[16][RILL__FAAS_ID_MAX], idb[16][RILL__FAAS_ID_MAX];
    fx_open(&a);
    size_t na = run_sequence(&a, ida);
    fx_close(&a);
    fx_open(&b); /* a new task, as after a crash or a move */
    b.task.ctx.origin_seq = 77;
    size_t nb = run_sequence(&b, idb);
    fx_close(&b);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_str_eq(ida[i], idb[i]);
}

Test(faas_bridge_event_ids, too_long_origins_get_a_hashed_id_that_stays_distinct) {
    fx_t fx;
    fx_open(&fx);
    char lng[RILL__FAAS_ID_MAX + 40];
    memset(lng, 'x', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    fx.task.ctx.msg = NULL;
    rill__ctx_origin_set(&fx.task.ctx, lng);
    char first[RILL__FAAS_ID_MAX];
    snprintf(first, sizeof(first), "%s", fx_admit(&fx, "1"));
    cr_assert_eq(first[0], 'h');
    cr_assert_str_neq(first, fx_admit(&fx, "2"));
    fx_close(&fx);
}

/* Every id of the records the stage holds, in ring order, from the encoded batch. */
static void assert_wire_ids(fx_t *fx, const rill__faas_target_t *target, bool lambda) {
    size_t n = (size_t)(fx->st.tail - fx->st.head);
    rill__faas_rec_t recs[16];
    for (size_t i = 0; i < n; i++)
        recs[i] = slot_at(&fx->st, fx->st.head + i)->rec;
    rill_buf_t body = {0}, hdrs = {0};
    cr_assert_eq(rill__faas_encode(target, recs, n, &body, &hdrs), 0);
    json_object *root = json_tokener_parse(body.data), *list = root, *groups, *id;
    cr_assert_not_null(root, "%s", body.data);
    if (lambda) {
        cr_assert(json_object_object_get_ex(root, "records", &groups));
        cr_assert(json_object_object_get_ex(groups, "orders-2", &list), "%s", body.data);
    }
    cr_assert_eq(json_object_array_length(list), n, "%s", body.data);
    for (size_t i = 0; i < n; i++) {
        json_object *ev = json_object_array_get_idx(list, i);
        cr_assert(json_object_object_get_ex(ev, "id", &id), "event %zu has no id", i);
        cr_assert_str_eq(json_object_get_string(id), recs[i].id);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(recs[j].id, recs[i].id);
    }
    json_object_put(root);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

Test(faas_bridge_event_ids, fan_out_ids_are_distinct_on_the_wire_in_both_formats) {
    fx_t fx;
    fx_open(&fx);
    fx_input(&fx, 41);
    for (int i = 0; i < 3; i++)
        fx_admit(&fx, "{\"n\":1}");
    fx_input(&fx, 42);
    fx_admit(&fx, "{\"n\":2}");
    const rill__faas_target_t ce = {.format = RILL_FAAS_CLOUDEVENTS, .function = "fn"};
    const rill__faas_target_t lambda = {
        .format = RILL_FAAS_LAMBDA, .function = "fn", .bootstrap = "127.0.0.1:9092"};
    assert_wire_ids(&fx, &ce, false);
    assert_wire_ids(&fx, &lambda, true);
    fx_close(&fx);
}
