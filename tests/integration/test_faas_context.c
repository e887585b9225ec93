/*
 * test_faas_context.c — the nodes after a FaaS stage see, as their record context, the input
 * record each output came from, on a real Kafka with real functions: rill_ctx_topic(),
 * rill_ctx_partition(), rill_ctx_offset(), rill_ctx_timestamp() and rill_ctx_headers() (and
 * the forwarded record's timestamp and headers) are those of the record the test produced,
 * however late the stage releases the output, which happens in the stage's poll while another
 * record, or none, is being processed.
 *
 * DESIGN
 * Two input topics of two partitions each are merged (one task per partition reads both, so
 * a stage holds records of two topics at once) and go through the `transform` function (one
 * output per input, two for a value ending in 0, none for one ending in 5: the fan-out's
 * outputs must both carry their input's position), then through `echo`: a second stage whose
 * records were admitted while the first one released, so their position is the first
 * stage's input's too. A processor after each stage writes down what it sees. Records are
 * produced here with explicit partitions, out-of-order timestamps and zero, one or two
 * headers (names repeated in one record); the expected context of every output is the
 * delivery report's topic, partition and offset with the timestamp and headers produced, and
 * the expected values come from the transform reference (rt_faas_transform). Every output
 * is compared, as sorted lists of "value|topic|partition|offset|timestamp|headers" lines.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_TRANSFORM and RILL_TEST_FN_ECHO (scripts/test.sh
 * sets them).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rill_test.h"
#include "rt_faas.h"

#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INPUTS 400
#define PARTITIONS 2
#define MAX_SEEN (INPUTS * 2)
#define LINE_MAX_LEN 256
#define BASE_TS 1700000000000LL
#define RUN_TIMEOUT_MS 90000

TestSuite(integration_faas_context, .fini = rt_kill_all, .timeout = 180);

/* What the test produced: input i's topic, partition, offset (from its delivery report),
 * timestamp and headers as the text the capture writes. */
typedef struct input_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ts;
    char headers[96];
} input_t;

static input_t inputs[INPUTS];

/* What a capture node saw, one line per record; written by the stream thread. */
typedef struct seen_s {
    pthread_mutex_t lock;
    char *lines[MAX_SEEN];
    size_t n;
    size_t mismatched; /* records whose own timestamp or headers differ from the context's */
} seen_t;

static seen_t after_transform = {.lock = PTHREAD_MUTEX_INITIALIZER};
static seen_t after_echo = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Input i's timestamp: out of order within each partition (a step of 37 s modulo 100). */
static int64_t input_ts(size_t i) {
    return BASE_TS + (int64_t)((i * 37) % 100) * 1000;
}

/* Headers as "name=value;" in their order, into out. */
static void headers_text(const rill_headers_t *h, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t k = 0; h && k < rill_headers_count(h); k++) {
        const char *name;
        const void *value;
        size_t value_len;
        if (rill_headers_at(h, k, &name, &value, &value_len))
            break;
        int w = snprintf(out + len, size - len, "%s=%.*s;", name, (int)value_len,
                         value ? (const char *)value : "");
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    cr_assert_eq(m->err, RD_KAFKA_RESP_ERR_NO_ERROR, "input %zu not delivered: %s", i,
                 rd_kafka_err2str(m->err));
    inputs[i].partition = m->partition;
    inputs[i].offset = m->offset;
}

/* Input i: value "i" to topic a (even i) or b, partition (i / 2) % 2, headers by i % 3:
 * none; idx; idx, tag and idx again. */
static void produce_inputs(const char *a, const char *b) {
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr)),
                 RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "%s", errstr);
    for (size_t i = 0; i < INPUTS; i++) {
        input_t *in = &inputs[i];
        in->topic = i % 2 ? b : a;
        in->ts = input_ts(i);
        in->offset = -1;
        char key[16], value[16], idx[16], tag[16];
        snprintf(key, sizeof(key), "k%zu", i % 7);
        snprintf(value, sizeof(value), "%zu", i);
        snprintf(idx, sizeof(idx), "%zu", i);
        snprintf(tag, sizeof(tag), "t%zu", i * 3);
        rd_kafka_headers_t *h = NULL;
        in->headers[0] = '\0';
        if (i % 3) {
            h = rd_kafka_headers_new(3);
            rd_kafka_header_add(h, "idx", -1, idx, -1);
            if (i % 3 == 2) {
                rd_kafka_header_add(h, "tag", -1, tag, -1);
                rd_kafka_header_add(h, "idx", -1, idx, -1);
            }
            snprintf(in->headers, sizeof(in->headers),
                     i % 3 == 2 ? "idx=%s;tag=%s;idx=%s;" : "idx=%s;", idx, tag, idx);
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(in->topic), RD_KAFKA_V_PARTITION((int32_t)((i / 2) % 2)),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(in->ts),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_err2str(err));
    }
    cr_assert_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR, "inputs not delivered");
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < INPUTS; i++)
        cr_assert_geq(inputs[i].offset, 0, "input %zu has no offset", i);
}

/* ---- the app ---- */

static int capture_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    seen_t *seen = state;
    char hdrs[96], own[96];
    headers_text(rill_ctx_headers(ctx), hdrs, sizeof(hdrs));
    headers_text(rec->headers, own, sizeof(own));
    const char *topic = rill_ctx_topic(ctx);
    char *line = NULL;
    if (asprintf(&line, "%.*s|%s|%d|%" PRId64 "|%" PRId64 "|%s", (int)rec->value_len,
                 rec->value ? (const char *)rec->value : "", topic ? topic : "(none)",
                 (int)rill_ctx_partition(ctx), rill_ctx_offset(ctx), rill_ctx_timestamp(ctx),
                 hdrs) < 0)
        return -1;
    pthread_mutex_lock(&seen->lock);
    if (rec->timestamp != rill_ctx_timestamp(ctx) || strcmp(own, hdrs))
        seen->mismatched++;
    if (seen->n < MAX_SEEN)
        seen->lines[seen->n++] = line;
    else
        free(line);
    pthread_mutex_unlock(&seen->lock);
    return 0;
}

static int capture_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    (void)ctx;
    *statep = opaque;
    return 0;
}

static const rill_processor_def_t capture = {capture_init, capture_process, NULL};

/* a + b → transform → (capture, echo → capture), until --drain ends it. */
static rill_err_t run_app(const char *app_id, const char *a, const char *b) {
    const char *transform_url = getenv("RILL_TEST_FN_TRANSFORM");
    const char *echo_url = getenv("RILL_TEST_FN_ECHO");
    cr_assert(transform_url && *transform_url && echo_url && *echo_url,
              "RILL_TEST_FN_TRANSFORM and RILL_TEST_FN_ECHO must be set "
              "(scripts/functions.sh start)");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *both = rill_stream_merge(rill_stream_from(topo, "in-a", a, NULL),
                                            rill_stream_from(topo, "in-b", b, NULL), "both");
    rill_faas_opts_t fo = {.url = transform_url,
                           .function = "transform",
                           .batch_max_records = 8,
                           .linger_ms = 10,
                           .max_in_flight = 4,
                           .timeout_ms = 10000};
    rill_stream_t *transformed = rill_stream_faas(both, "transform", &fo);
    rill_stream_process(transformed, "after-transform", &capture, &after_transform);
    fo.url = echo_url;
    fo.function = "echo";
    fo.batch_max_records = 5;
    rill_stream_t *echoed = rill_stream_faas(transformed, "echo", &fo);
    rill_stream_process(echoed, "after-echo", &capture, &after_echo);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));

    return rt_app_run_here(topo, app_id, RUN_TIMEOUT_MS);
}

/* ---- the check ---- */

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The lines a capture must see: every transform output of every input, with that input's
 * position, timestamp and headers. */
static size_t expected_lines(char **lines) {
    size_t n = 0;
    for (size_t i = 0; i < INPUTS; i++) {
        const input_t *in = &inputs[i];
        char value[16], out[2][96];
        snprintf(value, sizeof(value), "%zu", i);
        int outs = rt_faas_transform(value, out);
        for (int k = 0; k < outs; k++)
            cr_assert_geq(asprintf(&lines[n++], "%s|%s|%d|%" PRId64 "|%" PRId64 "|%s", out[k],
                                   in->topic, (int)in->partition, in->offset, in->ts, in->headers),
                          0);
    }
    return n;
}

static void check_seen(const char *node, seen_t *seen, char **want, size_t want_n) {
    qsort(seen->lines, seen->n, sizeof(char *), cmp_str);
    size_t wrong = 0;
    for (size_t k = 0; k < want_n && k < seen->n; k++)
        if (strcmp(want[k], seen->lines[k]) && wrong++ < 5)
            cr_log_error("%s: saw \"%s\", expected \"%s\"", node, seen->lines[k], want[k]);
    cr_log_info("%s: %zu records seen, %zu expected, %zu differ", node, seen->n, want_n, wrong);
    cr_expect_eq(seen->n, want_n, "%s saw %zu records, expected %zu", node, seen->n, want_n);
    cr_expect_eq(wrong, 0, "%s saw %zu records with a context other than their input's", node,
                 wrong);
    cr_expect_eq(seen->mismatched, 0,
                 "%s got %zu records whose timestamp or headers differ from the context's", node,
                 seen->mismatched);
    for (size_t k = 0; k < seen->n; k++)
        free(seen->lines[k]);
}

Test(integration_faas_context, nodes_after_stages_see_the_input_record_of_each_output) {
    char *a = rt_unique_name("ctx-in-a"), *b = rt_unique_name("ctx-in-b");
    char *app_id = rt_unique_name("ctx-app");
    rt_create_topic(rt_bootstrap(), a, PARTITIONS);
    rt_create_topic(rt_bootstrap(), b, PARTITIONS);
    produce_inputs(a, b);

    rill_err_t err = run_app(app_id, a, b);
    cr_expect_eq(err, RILL_OK, "the app ended with error %d", (int)err);

    char **want = calloc(MAX_SEEN, sizeof(char *));
    cr_assert_not_null(want);
    size_t want_n = expected_lines(want);
    qsort(want, want_n, sizeof(char *), cmp_str);
    check_seen("after-transform", &after_transform, want, want_n);
    check_seen("after-echo", &after_echo, want, want_n);
    for (size_t k = 0; k < want_n; k++)
        free(want[k]);
    free(want);
    free(a);
    free(b);
    free(app_id);
}
