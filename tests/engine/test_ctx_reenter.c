/*
 * test_ctx_reenter.c — rill__ctx_reenter (engine/ctx.c), the one way an asynchronous node
 * forwards what it held: the nodes after it see the held record's position, headers and
 * timestamp; a re-entry nested in another (a stage after a stage) leaves the outer one's
 * context intact; a failing child stops the forward and is named with its reason; and the
 * context is as it was afterwards (record, position, node, origin, error text), with origins
 * made later never taking the number of one seen inside.
 *
 * DESIGN
 * A task context built here, with no broker: nodes are plain rill__node_t with test
 * operators, and the outer record is a message of a never-connected client's topic. Every
 * expected value is written in the test from the inputs it gives.
 */
#include "engine_int.h"

#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 16

/* What a capture node saw of one record. */
typedef struct seen_s {
    char value[16];
    char topic[16];
    int32_t partition;
    int64_t offset;
    int64_t ts;
    size_t header_cnt;
    char origin[64];
    uint64_t origin_seq;
} seen_t;

typedef struct fx_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_message_t msg;
    rill_app_t app;
    rill__thread_t thread;
    rill__task_t task;
    void *state[4];
    rill__node_t outer, inner, capture, capture_inner;
    rill__node_t *outer_children[2], *inner_children[1];
    seen_t seen[MAX_SEEN], seen_inner[MAX_SEEN];
    int seen_n, seen_inner_n;
    rill_err_t inner_rc;
} fx_t;

static fx_t fx;

static void see(rill_ctx_t *ctx, const rill_record_t *rec, seen_t *s) {
    const char *topic = rill_ctx_topic(ctx);
    const rill_headers_t *h = rill_ctx_headers(ctx);
    snprintf(s->value, sizeof(s->value), "%.*s", (int)rec->value_len, (const char *)rec->value);
    snprintf(s->topic, sizeof(s->topic), "%s", topic ? topic : "(none)");
    s->partition = rill_ctx_partition(ctx);
    s->offset = rill_ctx_offset(ctx);
    s->ts = rill_ctx_timestamp(ctx);
    s->header_cnt = h ? rill_headers_count(h) : 0;
    rill__ctx_origin_id(ctx, s->origin, sizeof(s->origin));
    s->origin_seq = rill__ctx_origin_seq(ctx);
}

static int capture_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    cr_assert_lt(fx.seen_n, MAX_SEEN);
    see(ctx, rec, &fx.seen[fx.seen_n++]);
    return 0;
}

static int capture_inner_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    cr_assert_lt(fx.seen_inner_n, MAX_SEEN);
    see(ctx, rec, &fx.seen_inner[fx.seen_inner_n++]);
    return 0;
}

/* Refuses the value "bad" (and records nothing). */
static int fail_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    if (rec->value_len == 3 && !memcmp(rec->value, "bad", 3)) {
        rill_ctx_set_error(ctx, "refused %.*s", (int)rec->value_len, (const char *)rec->value);
        return -1;
    }
    return capture_process(ctx, rec, state);
}

/* Outputs "<prefix><i>", written into the maker's own buffers (a nested maker has its own,
 * as every node's output buffers are its own). */
typedef struct numbered_s {
    const char *prefix;
    char buf[8][16];
} numbered_t;

static void out_numbered(void *opaque, size_t i, rill_record_t *rec) {
    numbered_t *m = opaque;
    char *b = m->buf[i % 8];
    snprintf(b, sizeof(m->buf[0]), "%s%zu", m->prefix, i);
    rec->value = b;
    rec->value_len = strlen(b);
    rec->timestamp = 1;
}

/* Outputs from a fixed list of strings (opaque: NULL-terminated array). */
static void out_listed(void *opaque, size_t i, rill_record_t *rec) {
    const char *const *list = opaque;
    rec->value = list[i];
    rec->value_len = strlen(list[i]);
}

/* A second asynchronous node inside the first one's forward: it re-enters with a record of
 * its own. */
static int inner_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)rec;
    (void)state;
    rill__reentry_t at = {
        .topic = "up", .partition = 0, .offset = 9, .timestamp = 200, .origin = "up-0-9"};
    rill__reentry_err_t err;
    numbered_t outs = {.prefix = "inner"};
    fx.inner_rc = rill__ctx_reenter(ctx, &fx.inner, &at, 1, out_numbered, &outs, &err);
    return fx.inner_rc ? -1 : 0;
}

static const rill__operator_t capture_op = {.kind = "CAPTURE", .process = capture_process};
static const rill__operator_t capture_inner_op = {.kind = "CAPTURE",
                                                  .process = capture_inner_process};
static const rill__operator_t inner_op = {.kind = "ASYNC", .process = inner_process};
static const rill__operator_t fail_op = {.kind = "FAIL", .process = fail_process};

static void fx_open(void) {
    char errstr[256];
    memset(&fx, 0, sizeof(fx));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "0", NULL, 0); /* never connects */
    fx.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(fx.rk, "%s", errstr);
    fx.rkt = rd_kafka_topic_new(fx.rk, "orders", NULL);
    fx.app.set.application_id = "shop";
    fx.thread.app = &fx.app;
    snprintf(fx.task.id, sizeof(fx.task.id), "0_1");
    fx.task.partition = 1;
    fx.task.thread = &fx.thread;
    fx.task.state = fx.state;
    fx.task.ctx.task = &fx.task;
    fx.outer = (rill__node_t){.id = 0, .name = "outer", .children = fx.outer_children};
    fx.inner = (rill__node_t){
        .id = 1, .name = "inner", .op = &inner_op, .children = fx.inner_children, .child_cnt = 1};
    fx.capture = (rill__node_t){.id = 2, .name = "capture", .op = &capture_op};
    fx.capture_inner = (rill__node_t){.id = 3, .name = "capture-inner", .op = &capture_inner_op};
    fx.inner_children[0] = &fx.capture_inner;
    /* the outer record being processed: orders[1]@42 at time 5 */
    fx.msg = (rd_kafka_message_t){.rkt = fx.rkt, .partition = 1, .offset = 42};
    fx.task.ctx.msg = &fx.msg;
    fx.task.ctx.node = &fx.capture; /* whatever node runs when the call is made */
    fx.task.ctx.timestamp = 5;
    rill__ctx_origin_input(&fx.task.ctx);
}

static void fx_close(void) {
    rd_kafka_topic_destroy(fx.rkt);
    rd_kafka_destroy(fx.rk);
}

/* The context is the outer record's again. */
static void expect_outer(rill_ctx_t *ctx, uint64_t origin_seq) {
    cr_expect_str_eq(rill_ctx_topic(ctx), "orders");
    cr_expect_eq(rill_ctx_partition(ctx), 1);
    cr_expect_eq(rill_ctx_offset(ctx), 42);
    cr_expect_eq(rill_ctx_timestamp(ctx), 5);
    cr_expect_null(rill_ctx_headers(ctx));
    cr_expect_eq(ctx->node, &fx.capture, "the node running before the call is not restored");
    cr_expect_eq(rill__ctx_origin_seq(ctx), origin_seq);
    char id[64];
    rill__ctx_origin_id(ctx, id, sizeof(id));
    cr_expect_str_eq(id, "orders-1-42");
}

TestSuite(engine_ctx_reenter, .init = fx_open, .fini = fx_close);

Test(engine_ctx_reenter, children_see_the_held_record_and_context_restored_when_nested) {
    rill_ctx_t *ctx = &fx.task.ctx;
    uint64_t seq = rill__ctx_origin_seq(ctx);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "a", -1, "1", -1);
    rd_kafka_header_add(h, "b", -1, "2", -1);
    /* inner first: the capture after it must still see the outer re-entry's record */
    fx.outer_children[0] = &fx.inner;
    fx.outer_children[1] = &fx.capture;
    fx.outer.child_cnt = 2;
    rill__reentry_t at = {.topic = "in",
                          .partition = 3,
                          .offset = 7,
                          .headers = h,
                          .timestamp = 100,
                          .origin = "in-3-7"};
    rill__reentry_err_t err;
    numbered_t outs = {.prefix = "out"};
    cr_assert_eq(rill__ctx_reenter(ctx, &fx.outer, &at, 2, out_numbered, &outs, &err), RILL_OK);
    cr_assert_eq(fx.inner_rc, RILL_OK);

    cr_assert_eq(fx.seen_n, 2);
    for (int i = 0; i < 2; i++) {
        const seen_t *s = &fx.seen[i];
        char want[16];
        snprintf(want, sizeof(want), "out%d", i);
        cr_expect_str_eq(s->value, want);
        cr_expect_str_eq(s->topic, "in");
        cr_expect_eq(s->partition, 3);
        cr_expect_eq(s->offset, 7);
        cr_expect_eq(s->ts, 100);
        cr_expect_eq(s->header_cnt, 2);
        cr_expect_str_eq(s->origin, "in-3-7");
    }
    cr_assert_eq(fx.seen_inner_n, 2); /* one per outer output */
    for (int i = 0; i < 2; i++) {
        const seen_t *s = &fx.seen_inner[i];
        cr_expect_str_eq(s->value, "inner0");
        cr_expect_str_eq(s->topic, "up");
        cr_expect_eq(s->partition, 0);
        cr_expect_eq(s->offset, 9);
        cr_expect_eq(s->ts, 200);
        cr_expect_eq(s->header_cnt, 0);
        cr_expect_str_eq(s->origin, "up-0-9");
    }
    expect_outer(ctx, seq);
    rd_kafka_headers_destroy(h);
}

Test(engine_ctx_reenter, stops_at_a_failing_child_and_names_it_when_one_fails) {
    rill_ctx_t *ctx = &fx.task.ctx;
    uint64_t seq = rill__ctx_origin_seq(ctx);
    rill__node_t fail = {.id = 2, .name = "refuser", .op = &fail_op};
    fx.outer_children[0] = &fail;
    fx.outer.child_cnt = 1;
    rill_ctx_set_error(ctx, "an earlier reason");
    const char *outs[] = {"ok", "bad", "never", NULL};
    rill__reentry_t at = {.topic = "in", .partition = 0, .offset = 1, .timestamp = 100};
    rill__reentry_err_t err;
    cr_assert_eq(rill__ctx_reenter(ctx, &fx.outer, &at, 3, out_listed, outs, &err),
                 RILL_ERR_PROCESSING);
    cr_expect_str_eq(err.node, "refuser");
    cr_expect_str_eq(err.reason, "refused bad");
    cr_assert_eq(fx.seen_n, 1, "the forward went on past the failing record");
    cr_expect_str_eq(fx.seen[0].value, "ok");
    /* no origin given: the outputs derive from the held record itself */
    cr_expect_str_eq(fx.seen[0].origin, "in-0-1");
    cr_expect_str_eq(ctx->error, "an earlier reason");
    expect_outer(ctx, seq);
}

Test(engine_ctx_reenter, later_origins_take_new_numbers_when_one_was_restored) {
    rill_ctx_t *ctx = &fx.task.ctx;
    uint64_t before = rill__ctx_origin_seq(ctx);
    fx.outer_children[0] = &fx.capture;
    fx.outer.child_cnt = 1;
    rill__reentry_t at = {.topic = "in", .partition = 0, .offset = 1, .origin = "in-0-1"};
    rill__reentry_err_t err;
    numbered_t outs = {.prefix = "x"};
    cr_assert_eq(rill__ctx_reenter(ctx, &fx.outer, &at, 1, out_numbered, &outs, &err), RILL_OK);
    cr_assert_eq(rill__ctx_origin_seq(ctx), before);
    /* the number the re-entry's origin had is never given again */
    cr_assert_eq(fx.seen_n, 1);
    uint64_t seen_inside = fx.seen[0].origin_seq;
    cr_expect_neq(seen_inside, before);
    rill__ctx_origin_input(ctx);
    uint64_t next = rill__ctx_origin_seq(ctx);
    cr_expect_neq(next, before);
    cr_expect_neq(next, seen_inside);
}
