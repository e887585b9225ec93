/*
 * test_lineage_ops.c — lineage.enable through the operators, on the topology test driver
 * (real operators and RocksDB, no broker): a sink gives every output its input's trace id in
 * a new span and the chain of positions it came from; a record with no traceparent, or a
 * malformed one, starts a trace (counted); the completion operator's output carries the trace
 * of the event that last changed its state (the winning bid, also one held before its item
 * came, the one the callback marks as leading) with the item's as rill.lineage.other; a stream
 * record that waited for its table row keeps its own trace; the chain's cap drops the oldest hops
 * behind "~>" (counted). Expected headers are written out from the piped input's positions, not
 * computed with the codec.
 */
#include "engine_int.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEAD "dead"
#define TP_A "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1111111111111111-01"
#define TP_B1 "00-b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1-2222222222222222-00"
#define TP_B2 "00-b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2-3333333333333333-01"
#define TP_B4 "00-b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4-4444444444444444-01"

static rill_test_driver_t *driver_new(rill_topology_t *topo, const char *const *extra) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    const char *base[] = {"application.id",
                          "lineage-ops",
                          "bootstrap.servers",
                          "127.0.0.1:1",
                          "errors.deadletterqueue.topic.name",
                          DEAD,
                          NULL};
    for (int i = 0; base[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, base[i], base[i + 1], errstr, sizeof(errstr)), 0);
    for (int i = 0; extra && extra[i]; i += 2)
        cr_assert_eq(rill_conf_set(conf, extra[i], extra[i + 1], errstr, sizeof(errstr)), 0, "%s",
                     errstr);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    rill_test_driver_t *drv = rill_test_driver_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(drv, "%s", errstr);
    return drv;
}

static const char *const LINEAGE_ON[] = {"lineage.enable", "true", NULL};

/* Pipes key=value at ts with the headers given as name, value pairs (NULL-terminated). */
static void pipe_h(rill_test_driver_t *drv, const char *topic, const char *key, const char *value,
                   int64_t ts, const char *const *hdrs) {
    rd_kafka_headers_t *h = NULL;
    if (hdrs && hdrs[0]) {
        h = rd_kafka_headers_new(4);
        for (int i = 0; hdrs[i]; i += 2)
            rd_kafka_header_add(h, hdrs[i], -1, hdrs[i + 1], -1);
    }
    rill_record_t rec = {.key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = strlen(value),
                         .timestamp = ts,
                         .headers = (const rill_headers_t *)h};
    cr_assert_eq(rill_test_driver_pipe_record(drv, topic, &rec), RILL_OK, "%s",
                 rill_test_driver_error(drv));
    if (h)
        rd_kafka_headers_destroy(h);
}

/* The header as a C string ("" when absent). */
static const char *hdr(const rill_record_t *r, const char *name) {
    static char buf[4][1024];
    static int k;
    const void *v;
    size_t len;
    char *out = buf[k++ % 4];
    out[0] = '\0';
    if (!rill_headers_get(r->headers, name, &v, &len))
        snprintf(out, sizeof(buf[0]), "%.*s", (int)len, (const char *)v);
    return out;
}

/* The trace id (32 hex) of an output's traceparent, checked to be a valid version 00 one
 * whose span is not the input's (in_tp, or NULL). */
static const char *trace_of(const rill_record_t *r, const char *in_tp) {
    static char id[33];
    const char *tp = hdr(r, "traceparent");
    cr_assert_eq(strlen(tp), 55, "traceparent \"%s\"", tp);
    cr_assert(!strncmp(tp, "00-", 3) && tp[35] == '-' && tp[52] == '-', "%s", tp);
    if (in_tp) {
        cr_assert_str_neq(tp, in_tp, "the output has its own span");
        cr_assert_str_eq(tp + 53, in_tp + 53, "flags kept");
    }
    snprintf(id, sizeof(id), "%.32s", tp + 3);
    return id;
}

static int64_t metric(rill_test_driver_t *drv, rill__metric_t m) {
    return rill__test_driver_metrics(drv)->v[m];
}

Test(operators_lineage, sink_outputs_carry_the_input_trace_and_chain) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "in", "in", NULL), NULL, "out", NULL);
    rill_test_driver_t *drv = driver_new(topo, LINEAGE_ON);
    const char *h1[] = {"traceparent", TP_A, "rill.lineage", "up/1@5", "keep", "me", NULL};
    const char *h3[] = {"traceparent", "00-bad", NULL};
    pipe_h(drv, "in", "k1", "v1", 10, h1);
    pipe_h(drv, "in", "k2", "v2", 11, NULL);
    pipe_h(drv, "in", "k3", "v3", 12, h3);
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    cr_assert_str_eq(trace_of(&r, TP_A), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "up/1@5>in/0@0");
    cr_assert_str_eq(hdr(&r, "keep"), "me");
    cr_assert_str_eq(hdr(&r, "rill.lineage.other"), "");
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    char started[33];
    snprintf(started, sizeof(started), "%s", trace_of(&r, NULL));
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "in/0@1");
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    cr_assert_str_neq(trace_of(&r, NULL), started, "each input starts its own trace");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "in/0@2");
    cr_assert_eq(metric(drv, RILL_M_TRACES_STARTED), 2);
    cr_assert_eq(metric(drv, RILL_M_TRACES_MALFORMED), 1);
    rill_test_driver_destroy(drv);
}

Test(operators_lineage, off_by_default_outputs_keep_their_headers_only) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "in", "in", NULL), NULL, "out", NULL);
    rill_test_driver_t *drv = driver_new(topo, NULL);
    pipe_h(drv, "in", "k2", "v2", 11, NULL);
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    cr_assert_eq(rill_headers_count(r.headers), 0);
    cr_assert_eq(metric(drv, RILL_M_TRACES_STARTED), 0);
    rill_test_driver_destroy(drv);
}

Test(operators_lineage, the_cap_drops_the_oldest_hops_and_counts) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "in", "in", NULL), NULL, "out", NULL);
    const char *extra[] = {"lineage.enable", "true", "lineage.max.bytes", "64", NULL};
    rill_test_driver_t *drv = driver_new(topo, extra);
    const char *h[] = {"rill.lineage",
                       "first-topic/0@1>second-topic/1@2>third-topic/2@3>fourth-topic/3@4", NULL};
    pipe_h(drv, "in", "k", "v", 10, h);
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    cr_assert_str_eq(hdr(&r, "rill.lineage"),
                     "~>second-topic/1@2>third-topic/2@3>fourth-topic/3@4>in/0@0");
    cr_assert_eq(metric(drv, RILL_M_LINEAGE_TRUNCATED), 1);
    rill_test_driver_destroy(drv);
}

/* ---- completion: the highest price wins ---- */

static int64_t deadline_of(const rill_record_t *item, void *opaque) {
    (void)opaque;
    return strtoll(item->value, NULL, 10);
}

static int init0(const rill_record_t *item, rill_buf_t *out, void *opaque) {
    (void)item, (void)opaque;
    return rill_buf_append(out, "0", 1);
}

static int best(const rill_record_t *item, const rill_record_t *event, const void *state,
                size_t state_len, rill_buf_t *out, void *opaque) {
    (void)item, (void)opaque;
    char s[32], e[32];
    snprintf(s, sizeof(s), "%.*s", (int)state_len, (const char *)state);
    snprintf(e, sizeof(e), "%.*s", (int)event->value_len, (const char *)event->value);
    bool leads = atoll(e) > atoll(s);
    const char *win = leads ? e : s;
    return rill_buf_append(out, win, strlen(win)) ? -1 : leads ? RILL_COMPLETION_LEADS : 0;
}

static int result(const rill_record_t *item, const void *state, size_t state_len, rill_buf_t *out,
                  void *opaque) {
    (void)item, (void)opaque;
    return rill_buf_append(out, state, state_len);
}

Test(operators_lineage, a_completion_carries_the_winning_event_and_its_item) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *items = rill_stream_from(topo, "auctions", "auctions", NULL);
    rill_stream_t *events = rill_stream_from(topo, "bids", "bids", NULL);
    rill_completion_spec_t spec = {.grace_ms = 100};
    rill_stream_to(
        rill_stream_complete(items, events, "close", &spec, deadline_of, init0, best, result, NULL),
        NULL, "closed", NULL);
    rill_test_driver_t *drv = driver_new(topo, LINEAGE_ON);
    const char *ha[] = {"traceparent", TP_A, NULL}, *hb1[] = {"traceparent", TP_B1, NULL};
    const char *hb2[] = {"traceparent", TP_B2, NULL}, *hb4[] = {"traceparent", TP_B4, NULL};
    pipe_h(drv, "auctions", "a1", "5000", 1000, ha);    /* auctions/0@0 */
    pipe_h(drv, "bids", "a1", "10", 1100, hb1);         /* bids/0@0 */
    pipe_h(drv, "bids", "a1", "30", 1200, hb2);         /* bids/0@1: wins */
    pipe_h(drv, "bids", "a1", "20", 1300, NULL);        /* bids/0@2: does not lead */
    pipe_h(drv, "bids", "a3", "50", 1400, hb4);         /* bids/0@3: held, its item is not there */
    pipe_h(drv, "auctions", "a3", "6000", 1500, NULL);  /* auctions/0@1 */
    pipe_h(drv, "auctions", "a9", "99999", 7000, NULL); /* stream time past both deadlines */
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "closed", &r), 1);
    cr_assert(r.key_len == 2 && !memcmp(r.key, "a1", 2) && r.value_len == 2 &&
              !memcmp(r.value, "30", 2));
    cr_assert_str_eq(trace_of(&r, TP_B2), "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "bids/0@1");
    cr_assert_str_eq(hdr(&r, "rill.lineage.other"),
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:auctions/0@0");
    cr_assert_eq(rill_test_driver_read(drv, "closed", &r), 1);
    cr_assert(r.key_len == 2 && !memcmp(r.key, "a3", 2) && r.value_len == 2 &&
              !memcmp(r.value, "50", 2));
    cr_assert_str_eq(trace_of(&r, TP_B4), "b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "bids/0@3");
    const char *other = hdr(&r, "rill.lineage.other");
    cr_assert_eq(strlen(other), 33 + strlen("auctions/0@1"), "%s", other);
    cr_assert_str_eq(other + 32, ":auctions/0@1");
    cr_assert_eq(rill_test_driver_read(drv, "closed", &r), 0);
    rill_test_driver_destroy(drv);
}

/* ---- a stream record waiting for its table row ---- */

static int pair(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                void *opaque) {
    (void)opaque;
    return rill_buf_append(out, left->value, left->value_len) || rill_buf_append(out, "+", 1) ||
           rill_buf_append(out, right->value, right->value_len);
}

Test(operators_lineage, a_joined_record_that_waited_keeps_its_own_trace) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *users = rill_table_from(topo, "users", "users", NULL, "users-store");
    rill_stream_t *orders = rill_stream_from(topo, "orders", "orders", NULL);
    rill_stream_to(
        rill_stream_table_join(orders, users, "enrich", RILL_JOIN_INNER, 1000, pair, NULL), NULL,
        "enriched", NULL);
    rill_test_driver_t *drv = driver_new(topo, LINEAGE_ON);
    const char *ho[] = {"traceparent", TP_B1, NULL}, *hu[] = {"traceparent", TP_A, NULL};
    pipe_h(drv, "orders", "u1", "o1", 1000, ho); /* waits for u1's row */
    pipe_h(drv, "users", "u1", "alice", 1500, hu);
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "enriched", &r), 1);
    cr_assert(r.value_len == 8 && !memcmp(r.value, "o1+alice", 8));
    cr_assert_str_eq(trace_of(&r, TP_B1), "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "orders/0@0");
    rill_test_driver_destroy(drv);
}

/* ---- state that emits later: emit-final windows, a suppression buffer ---- */

/* Pipes the same input to a windowed count emitted final: two keys' windows, each updated by
 * several records, closed by a record of another key far later. Returns the driver. */
static rill_test_driver_t *windows_run(const rill_window_spec_t *spec) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "in", NULL);
    rill_table_t *t = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(in, NULL), spec), "w", RILL_EMIT_FINAL);
    rill_stream_to(rill_table_to_stream(t, NULL), NULL, "out", NULL);
    rill_test_driver_t *drv = driver_new(topo, LINEAGE_ON);
    const char *ha[] = {"traceparent", TP_A, NULL}, *hb1[] = {"traceparent", TP_B1, NULL};
    const char *hb2[] = {"traceparent", TP_B2, NULL}, *hb4[] = {"traceparent", TP_B4, NULL};
    pipe_h(drv, "in", "k1", "x", 100, ha);   /* in/0@0 */
    pipe_h(drv, "in", "k2", "x", 150, hb2);  /* in/0@1: k2's last */
    pipe_h(drv, "in", "k1", "x", 120, hb1);  /* in/0@2: k1's last, out of order */
    pipe_h(drv, "in", "z", "x", 90000, hb4); /* in/0@3: closes them */
    return drv;
}

/* Reads the next output and checks its key, count and lineage. */
static void expect_window(rill_test_driver_t *drv, const char *key, int64_t count,
                          const char *in_tp, const char *trace, const char *chain) {
    rill_record_t r;
    int64_t n = -1;
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1, "no result for %s", key);
    /* The sink wrote the key then the window (8 bytes a time; 16 a session). */
    cr_assert(r.key_len >= strlen(key) + 8 && !memcmp(r.key, key, strlen(key)), "key %.*s, not %s",
              (int)strlen(key), (const char *)r.key, key);
    cr_assert_eq(rill_int64_decode(r.value, r.value_len, &n), 0);
    cr_assert_eq(n, count, "%s: count %lld", key, (long long)n);
    cr_assert_str_eq(trace_of(&r, in_tp), trace, "%s: the trace of its last update", key);
    cr_assert_str_eq(hdr(&r, "rill.lineage"), chain, "%s", key);
}

Test(operators_lineage, an_emit_final_window_carries_its_last_update_not_the_closing_record) {
    rill_window_spec_t specs[] = {
        {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000},
        {.kind = RILL_WINDOW_SESSION, .gap_ms = 500},
        {.kind = RILL_WINDOW_SLIDING, .size_ms = 1000},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        rill_test_driver_t *drv = windows_run(&specs[i]);
        if (specs[i].kind == RILL_WINDOW_SLIDING) {
            /* k1: [0,1000] holds both records (made by the first, updated by the second);
             * [101,1101] is the right window of the record at 100, made with the one at
             * 120 from nothing else: both last updated by in/0@2. */
            expect_window(drv, "k1", 2, TP_B1, "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1", "in/0@2");
            expect_window(drv, "k2", 1, TP_B2, "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "in/0@1");
            expect_window(drv, "k1", 1, TP_B1, "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1", "in/0@2");
        } else {
            expect_window(drv, "k1", 2, TP_B1, "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1", "in/0@2");
            expect_window(drv, "k2", 1, TP_B2, "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "in/0@1");
        }
        rill_record_t r;
        cr_assert_eq(rill_test_driver_read(drv, "out", &r), 0, "window kind %d",
                     (int)specs[i].kind);
        rill_test_driver_destroy(drv);
    }
}

/* A table suppressed for 1 s of stream time (its buffer in "hold-store"), lineage on. */
static rill_test_driver_t *suppress_driver(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, "rows", "rows", NULL, "rows-store");
    rill_suppress_spec_t spec = {.time_limit_ms = 1000};
    rill_stream_to(rill_table_suppress(t, "hold", &spec, "hold-store"), NULL, "out", NULL);
    return driver_new(topo, LINEAGE_ON);
}

Test(operators_lineage, a_suppressed_update_carries_the_last_update_of_its_key) {
    rill_test_driver_t *drv = suppress_driver();
    const char *ha[] = {"traceparent", TP_A, NULL}, *hb1[] = {"traceparent", TP_B1, NULL};
    const char *hb4[] = {"traceparent", TP_B4, NULL};
    pipe_h(drv, "rows", "k1", "v1", 100, ha);  /* rows/0@0 */
    pipe_h(drv, "rows", "k1", "v2", 200, hb1); /* rows/0@1: k1's latest */
    pipe_h(drv, "rows", "z", "v", 5000, hb4);  /* rows/0@2: k1 is due */
    rill_record_t r;
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 1);
    cr_assert(r.key_len == 2 && !memcmp(r.key, "k1", 2) && r.value_len == 2 &&
              !memcmp(r.value, "v2", 2));
    cr_assert_str_eq(trace_of(&r, TP_B1), "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1");
    cr_assert_str_eq(hdr(&r, "rill.lineage"), "rows/0@1");
    cr_assert_eq(rill_test_driver_read(drv, "out", &r), 0);
    rill_test_driver_destroy(drv);
}

/* The buffer's count ('m': [records 8 BE][bytes 8 BE], operators/suppress.c) after the
 * records piped so far. */
static void expect_held(rill_test_driver_t *drv, uint64_t records, uint64_t bytes) {
    const void *v;
    size_t len;
    cr_assert_eq(rill_test_driver_kv_get(drv, "hold-store", "m", 1, &v, &len), 1);
    cr_assert_eq(len, 16);
    uint64_t got[2] = {0, 0};
    for (int i = 0; i < 16; i++)
        got[i / 8] = got[i / 8] << 8 | ((const unsigned char *)v)[i];
    cr_assert_eq(got[0], records, "records held: %llu", (unsigned long long)got[0]);
    cr_assert_eq(got[1], bytes, "bytes held: %llu, not %llu", (unsigned long long)got[1],
                 (unsigned long long)bytes);
}

/* A trace's compact copy, as base/lineage.c keeps it: trace id 16, flags 1, the chain's
 * length 2 and text, a second trace's length 2 (none here). */
#define BLOB(chain) (16 + 1 + 2 + sizeof(chain) - 1 + 2)

Test(operators_lineage, a_suppression_buffer_counts_the_traces_it_keeps) {
    rill_test_driver_t *drv = suppress_driver();
    const char *ha[] = {"traceparent", TP_A, NULL}, *hb1[] = {"traceparent", TP_B1, NULL};
    const char *hb4[] = {"traceparent", TP_B4, NULL};
    pipe_h(drv, "rows", "k1", "v1", 100, ha); /* rows/0@0 */
    expect_held(drv, 1, 2 + 2 + BLOB("rows/0@0"));
    pipe_h(drv, "rows", "k1", "v22", 200, hb1); /* rows/0@1: replaces value and trace */
    expect_held(drv, 1, 2 + 3 + BLOB("rows/0@1"));
    pipe_h(drv, "rows", "zz", "v", 5000, hb4); /* rows/0@2: k1 leaves, zz stays */
    expect_held(drv, 1, 2 + 1 + BLOB("rows/0@2"));
    rill_test_driver_destroy(drv);
}
