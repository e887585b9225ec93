/*
 * test_wire.c — the FaaS wire formats: CloudEvents (binary and batched) and Lambda Kafka
 * event encoding, and response decoding, including every way a response can be malformed.
 */
#include "bridge_int.h"
#include "wire_int.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rill__faas_target_t ce_target = {
    .format = RILL_FAAS_CLOUDEVENTS,
    .function = "fn",
    .source = "/rill/app/node",
    .event_type = "dev.rill.record",
};

static const rill__faas_target_t lambda_target = {
    .format = RILL_FAAS_LAMBDA,
    .function = "fn",
    .bootstrap = "127.0.0.1:9092",
};

static rill__faas_rec_t make_rec(const char *topic, int32_t partition, int64_t offset, int64_t ts,
                                 const void *key, size_t key_len, const void *value,
                                 size_t value_len) {
    rill__faas_rec_t rec = {.topic = topic,
                            .partition = partition,
                            .offset = offset,
                            .timestamp = ts,
                            .key = key,
                            .key_len = key_len,
                            .value = value,
                            .value_len = value_len};
    snprintf(rec.id, sizeof(rec.id), "%s-%d-%lld", topic, partition, (long long)offset);
    return rec;
}

/* Checks that hdrs holds exactly the NUL-terminated lines of want (NULL-terminated). */
static void assert_header_lines(const rill_buf_t *hdrs, const char *const *want) {
    size_t at = 0, i = 0;

    for (; want[i]; i++) {
        cr_assert_lt(at, hdrs->len, "missing header line %zu: %s", i, want[i]);
        cr_assert_str_eq(hdrs->data + at, want[i]);
        at += strlen(want[i]) + 1;
    }
    cr_assert_eq(at, hdrs->len, "extra header lines after %zu", i);
}

/* ---- classification ---- */

Test(faas_bridge_wire, value_is_json_when_it_is_exactly_one_rfc8259_value) {
    static const char *json[] = {"{\"a\":1}",
                                 "[1,2]",
                                 " [1] \n",
                                 "\"x\"",
                                 "123",
                                 "-1.5e3",
                                 "0",
                                 "true",
                                 "false",
                                 "null",
                                 "{\"a\":{\"b\":[]}}",
                                 "\"\\u00e9\\n\""};
    static const char *text[] = {"",           "1.",    ".5",   "01",      "\"a\tb\"",
                                 "{\"a\":1}x", "nul",   "[1,]", "{'a':1}", "-",
                                 "1 2",        "hello", "NaN",  "[1]]",    "\"\\x\""};

    for (size_t i = 0; i < sizeof(json) / sizeof(*json); i++)
        cr_assert_eq(rill__wire_classify(json[i], strlen(json[i])), RILL_WIRE_JSON, "%s", json[i]);
    for (size_t i = 0; i < sizeof(text) / sizeof(*text); i++)
        cr_assert_eq(rill__wire_classify(text[i], strlen(text[i])), RILL_WIRE_TEXT, "%s", text[i]);
    cr_assert_eq(rill__wire_classify("\"\xff\"", 3), RILL_WIRE_BINARY);
    cr_assert_eq(rill__wire_classify("\xed\xa0\x80", 3), RILL_WIRE_BINARY); /* surrogate */
    cr_assert_eq(rill__wire_classify("\xc0\xaf", 2), RILL_WIRE_BINARY);     /* overlong */
    cr_assert_eq(rill__wire_classify("a\0b", 3), RILL_WIRE_TEXT);
    cr_assert_eq(rill__wire_classify(NULL, 0), RILL_WIRE_NULL);
}

Test(faas_bridge_wire, json_string_is_escaped_when_it_has_controls_quotes_or_bad_utf8) {
    rill_buf_t buf = {0};
    const char in[] = "a\"b\\c\n\t\x01\x7f\xc3\xa9\xff/";

    cr_assert_eq(rill__wire_json_str(&buf, in, sizeof(in) - 1), 0);
    cr_assert_str_eq(buf.data, "\"a\\\"b\\\\c\\n\\t\\u0001\x7f\xc3\xa9\\ufffd/\"");
    rill_buf_free(&buf);
}

Test(faas_bridge_wire, rfc3339_has_milliseconds_when_formatting_epoch_ms) {
    char out[32];

    cr_assert_eq(rill__wire_rfc3339(INT64_C(1545084650987), out), 24);
    cr_assert_str_eq(out, "2018-12-17T22:10:50.987Z");
    cr_assert_eq(rill__wire_rfc3339(0, out), 24);
    cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    cr_assert_eq(rill__wire_rfc3339(-1, out), -1);
}

/* ---- CloudEvents ---- */

Test(faas_bridge_wire, cloudevents_uses_binary_mode_when_batch_has_one_record) {
    rill_buf_t body = {0}, hdrs = {0};
    rill__faas_rec_t rec =
        make_rec("orders", 0, 15, INT64_C(1545084650987), "k 1%", 4, "{\"a\":1}", 7);
    const char *want[] = {"ce-specversion: 1.0",
                          "ce-id: orders-0-15",
                          "ce-source: /rill/app/node",
                          "ce-type: dev.rill.record",
                          "ce-time: 2018-12-17T22:10:50.987Z",
                          "ce-partitionkey: k%201%25",
                          "Content-Type: application/json",
                          NULL};

    cr_assert_eq(rill__faas_encode(&ce_target, &rec, 1, &body, &hdrs), 0);
    assert_header_lines(&hdrs, want);
    cr_assert_eq(body.len, 7);
    cr_assert_str_eq(body.data, "{\"a\":1}");
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

Test(faas_bridge_wire, cloudevents_sends_octet_stream_when_single_value_is_binary) {
    rill_buf_t body = {0}, hdrs = {0};
    const unsigned char value[] = {0xff, 0x00, 0x01};
    rill__faas_rec_t rec = make_rec("orders", 3, 7, -1, "\xff", 1, value, sizeof(value));
    const char *want[] = {"ce-specversion: 1.0",
                          "ce-id: orders-3-7",
                          "ce-source: /rill/app/node",
                          "ce-type: dev.rill.record",
                          "Content-Type: application/octet-stream",
                          NULL};

    cr_assert_eq(rill__faas_encode(&ce_target, &rec, 1, &body, &hdrs), 0);
    assert_header_lines(&hdrs, want); /* no time (no timestamp), no key (not UTF-8) */
    cr_assert_eq(body.len, 3);
    cr_assert_eq(memcmp(body.data, value, 3), 0);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

Test(faas_bridge_wire, cloudevents_writes_exact_batch_when_values_are_json_text_binary_null) {
    rill_buf_t body = {0}, hdrs = {0};
    const unsigned char bin[] = {0xff, 0x00, 0x01};
    const char text[] = "say \"hi\"\n\x01\xc3\xa9";
    rill__faas_rec_t recs[4] = {
        make_rec("orders", 0, 15, INT64_C(1545084650987), "k1", 2, "{\"a\":[1,2]}", 11),
        make_rec("orders", 0, 16, -1, NULL, 0, text, sizeof(text) - 1),
        make_rec("orders", 0, 17, 0, "\xff", 1, bin, sizeof(bin)),
        make_rec("orders", 0, 18, 5, "k4", 2, NULL, 0),
    };
    const char *want_hdrs[] = {"Content-Type: application/cloudevents-batch+json", NULL};
    const char want[] =
        "[{\"specversion\":\"1.0\",\"id\":\"orders-0-15\",\"source\":\"/rill/app/node\","
        "\"type\":\"dev.rill.record\",\"time\":\"2018-12-17T22:10:50.987Z\","
        "\"datacontenttype\":\"application/json\",\"partitionkey\":\"k1\","
        "\"data\":{\"a\":[1,2]}},"
        "{\"specversion\":\"1.0\",\"id\":\"orders-0-16\",\"source\":\"/rill/app/node\","
        "\"type\":\"dev.rill.record\",\"datacontenttype\":\"text/plain; charset=utf-8\","
        "\"data\":\"say \\\"hi\\\"\\n\\u0001\xc3\xa9\"},"
        "{\"specversion\":\"1.0\",\"id\":\"orders-0-17\",\"source\":\"/rill/app/node\","
        "\"type\":\"dev.rill.record\",\"time\":\"1970-01-01T00:00:00.000Z\","
        "\"datacontenttype\":\"application/octet-stream\",\"data_base64\":\"/wAB\"},"
        "{\"specversion\":\"1.0\",\"id\":\"orders-0-18\",\"source\":\"/rill/app/node\","
        "\"type\":\"dev.rill.record\",\"time\":\"1970-01-01T00:00:00.005Z\","
        "\"partitionkey\":\"k4\"}]";

    cr_assert_eq(rill__faas_encode(&ce_target, recs, 4, &body, &hdrs), 0);
    assert_header_lines(&hdrs, want_hdrs);
    cr_assert_str_eq(body.data, want);
    cr_assert_eq(body.len, sizeof(want) - 1);
    cr_assert(rill__wire_json_valid(body.data, body.len), "batch body is valid JSON");
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

Test(faas_bridge_wire, encode_fails_when_batch_is_empty) {
    rill_buf_t body = {0}, hdrs = {0};
    rill__faas_rec_t rec = make_rec("t", 0, 0, 0, NULL, 0, "x", 1);

    cr_assert_eq(rill__faas_encode(&ce_target, &rec, 0, &body, &hdrs), -1);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

/* ---- Lambda ---- */

static json_object *get(json_object *obj, const char *name) {
    json_object *v = NULL;

    cr_assert(json_object_object_get_ex(obj, name, &v), "member %s missing", name);
    return v;
}

static void assert_str_member(json_object *obj, const char *name, const char *want) {
    cr_assert_str_eq(json_object_get_string(get(obj, name)), want, "member %s", name);
}

static void assert_int_member(json_object *obj, const char *name, int64_t want) {
    json_object *v = get(obj, name);

    cr_assert(json_object_is_type(v, json_type_int), "member %s is an integer", name);
    cr_assert_eq(json_object_get_int64(v), want, "member %s", name);
}

Test(faas_bridge_wire, lambda_event_has_kafka_trigger_shape_when_batch_spans_partitions) {
    rill_buf_t body = {0}, hdrs = {0};
    rd_kafka_headers_t *kh = rd_kafka_headers_new(2);
    const unsigned char bin[] = {0xff, 0x00, 0x01};
    const char *want_hdrs[] = {"Content-Type: application/json", NULL};
    rill__faas_rec_t recs[3] = {
        make_rec("mytopic", 0, 15, INT64_C(1545084650987), "ab", 2, "Hello, this is a test.", 22),
        make_rec("other", 2, 4, 7, NULL, 0, bin, sizeof(bin)),
        make_rec("mytopic", 0, 16, 8, "", 0, NULL, 0),
    };
    json_object *root, *records, *group, *rec, *headers, *h, *bytes;

    rd_kafka_header_add(kh, "headerKey", -1, "headerValue", 11);
    rd_kafka_header_add(kh, "empty", -1, NULL, 0);
    recs[0].headers = (const rill_headers_t *)kh;
    cr_assert_eq(rill__faas_encode(&lambda_target, recs, 3, &body, &hdrs), 0);
    assert_header_lines(&hdrs, want_hdrs);

    root = json_tokener_parse(body.data);
    cr_assert_not_null(root, "body parses: %s", body.data);
    cr_assert(rill__wire_json_valid(body.data, body.len));
    assert_str_member(root, "eventSource", "SelfManagedKafka");
    assert_str_member(root, "bootstrapServers", "127.0.0.1:9092");
    records = get(root, "records");
    cr_assert_eq(json_object_object_length(records), 2);

    group = get(records, "mytopic-0");
    cr_assert_eq(json_object_array_length(group), 2);
    rec = json_object_array_get_idx(group, 0);
    assert_str_member(rec, "topic", "mytopic");
    assert_int_member(rec, "partition", 0);
    assert_int_member(rec, "offset", 15);
    assert_int_member(rec, "timestamp", INT64_C(1545084650987));
    assert_str_member(rec, "timestampType", "CREATE_TIME");
    assert_str_member(rec, "key", "YWI=");
    assert_str_member(rec, "value", "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==");
    headers = get(rec, "headers");
    cr_assert_eq(json_object_array_length(headers), 2);
    h = json_object_array_get_idx(headers, 0);
    bytes = get(h, "headerKey");
    {
        static const int want[] = {104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101};
        cr_assert_eq(json_object_array_length(bytes), 11);
        for (size_t i = 0; i < 11; i++)
            cr_assert_eq(json_object_get_int(json_object_array_get_idx(bytes, i)), want[i]);
    }
    cr_assert_eq(json_object_array_length(get(json_object_array_get_idx(headers, 1), "empty")), 0);

    rec = json_object_array_get_idx(group, 1); /* empty key, no value */
    assert_int_member(rec, "offset", 16);
    assert_str_member(rec, "key", "");
    cr_assert_not(json_object_object_get_ex(rec, "value", NULL));
    cr_assert_eq(json_object_array_length(get(rec, "headers")), 0);

    group = get(records, "other-2");
    cr_assert_eq(json_object_array_length(group), 1);
    rec = json_object_array_get_idx(group, 0);
    assert_str_member(rec, "topic", "other");
    assert_int_member(rec, "partition", 2);
    assert_int_member(rec, "offset", 4);
    cr_assert_not(json_object_object_get_ex(rec, "key", NULL));
    assert_str_member(rec, "value", "/wAB");

    json_object_put(root);
    rd_kafka_headers_destroy(kh);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

/* ---- decoding ---- */

typedef struct fixture_s {
    rill__faas_rec_t recs[3];
    rill__faas_response_t resp;
    char errstr[256];
} fixture_t;

static fixture_t fx;

static void fx_setup(void) {
    memset(&fx, 0, sizeof(fx));
    fx.recs[0] = make_rec("t", 0, 1, 1, "k0", 2, "v0", 2);
    fx.recs[1] = make_rec("t", 0, 2, 2, "k1", 2, "v1", 2);
    fx.recs[2] = make_rec("t", 0, 3, 3, "k2", 2, "v2", 2);
}

static void fx_teardown(void) {
    rill__faas_response_free(&fx.resp);
}

static int fx_decode(const rill__faas_target_t *target, size_t n, const char *body) {
    fx.errstr[0] = '\0';
    return rill__faas_decode(target, fx.recs, n, body, body ? strlen(body) : 0, &fx.resp, fx.errstr,
                             sizeof(fx.errstr));
}

static void assert_out(const rill__faas_out_t *out, const char *key, const char *value) {
    if (key) {
        cr_assert_not_null(out->key);
        cr_assert_eq(out->key_len, strlen(key));
        cr_assert_eq(memcmp(out->key, key, out->key_len), 0, "key %.*s", (int)out->key_len,
                     out->key);
    } else {
        cr_assert_null(out->key);
    }
    if (value) {
        cr_assert_not_null(out->value);
        cr_assert_eq(out->value_len, strlen(value), "value %.*s", (int)out->value_len, out->value);
        cr_assert_eq(memcmp(out->value, value, out->value_len), 0);
    } else {
        cr_assert_null(out->value);
    }
}

Test(faas_bridge_wire, decode_matches_results_by_id_when_response_is_well_formed, .init = fx_setup,
     .fini = fx_teardown) {
    const char *body =
        "{\"results\":["
        "{\"id\":\"t-0-3\",\"error\":\"bad input\"},"
        "{\"id\":\"t-0-1\",\"records\":[{\"key\":\"nk\",\"value\":\"plain \\\"text\\\"\"},"
        "{\"value\":{\"a\":[1,\"x/y\"]}},{\"key\":7,\"value\":null}]}]}";

    cr_assert_eq(fx_decode(&ce_target, 3, body), 0, "%s", fx.errstr);
    cr_assert_eq(fx.resp.n, 3);
    cr_assert_not(fx.resp.results[0].failed);
    cr_assert_eq(fx.resp.results[0].out_cnt, 3);
    assert_out(&fx.resp.results[0].outs[0], "nk", "plain \"text\"");
    assert_out(&fx.resp.results[0].outs[1], NULL, "{\"a\":[1,\"x/y\"]}");
    assert_out(&fx.resp.results[0].outs[2], "7", NULL);
    cr_assert_not(fx.resp.results[1].failed); /* no entry: filtered */
    cr_assert_eq(fx.resp.results[1].out_cnt, 0);
    cr_assert(fx.resp.results[2].failed);
    cr_assert_str_eq(fx.resp.results[2].error, "bad input");
    cr_assert_eq(fx.resp.results[2].out_cnt, 0);
}

Test(faas_bridge_wire, decode_gives_no_outputs_when_body_is_empty, .init = fx_setup,
     .fini = fx_teardown) {
    cr_assert_eq(fx_decode(&ce_target, 3, ""), 0);
    cr_assert_eq(fx.resp.n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_not(fx.resp.results[i].failed);
        cr_assert_eq(fx.resp.results[i].out_cnt, 0);
    }
    cr_assert_eq(fx_decode(&lambda_target, 3, " \r\n"), 0);
    cr_assert_eq(fx.resp.n, 3);
}

Test(faas_bridge_wire, decode_gives_no_outputs_when_results_array_is_empty, .init = fx_setup,
     .fini = fx_teardown) {
    cr_assert_eq(fx_decode(&ce_target, 3, "{\"results\":[]}"), 0, "%s", fx.errstr);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(fx.resp.results[i].out_cnt, 0);
}

Test(faas_bridge_wire, decode_consumes_all_when_lambda_returns_nothing_meaningful, .init = fx_setup,
     .fini = fx_teardown) {
    static const char *bodies[] = {"null", "\"done\"", "42", "true", "{\"statusCode\":200}"};

    for (size_t b = 0; b < sizeof(bodies) / sizeof(*bodies); b++) {
        cr_assert_eq(fx_decode(&lambda_target, 3, bodies[b]), 0, "%s: %s", bodies[b], fx.errstr);
        cr_assert_eq(fx.resp.n, 3);
        for (size_t i = 0; i < 3; i++) {
            cr_assert_not(fx.resp.results[i].failed);
            cr_assert_eq(fx.resp.results[i].out_cnt, 0);
        }
    }
}

Test(faas_bridge_wire, decode_fails_records_when_lambda_reports_batch_item_failures,
     .init = fx_setup, .fini = fx_teardown) {
    const char *body = "{\"batchItemFailures\":[{\"itemIdentifier\":\"t-0-2\"}],"
                       "\"results\":[{\"id\":\"t-0-1\",\"records\":[{\"value\":\"x\"}]},"
                       "{\"id\":\"t-0-2\",\"records\":[{\"value\":\"y\"}]}]}";

    cr_assert_eq(fx_decode(&lambda_target, 3, body), 0, "%s", fx.errstr);
    cr_assert_not(fx.resp.results[0].failed);
    assert_out(&fx.resp.results[0].outs[0], NULL, "x");
    cr_assert(fx.resp.results[1].failed);
    cr_assert_str_eq(fx.resp.results[1].error, "reported in batchItemFailures");
    cr_assert_eq(fx.resp.results[1].out_cnt, 0);
    cr_assert_not(fx.resp.results[2].failed);
}

Test(faas_bridge_wire, decode_takes_body_as_value_when_single_cloudevent_reply_has_no_results,
     .init = fx_setup, .fini = fx_teardown) {
    cr_assert_eq(fx_decode(&ce_target, 1, "hello world"), 0, "%s", fx.errstr);
    cr_assert_eq(fx.resp.n, 1);
    cr_assert_eq(fx.resp.results[0].out_cnt, 1);
    assert_out(&fx.resp.results[0].outs[0], NULL, "hello world");

    cr_assert_eq(fx_decode(&ce_target, 1, "{\"x\": 1}"), 0, "%s", fx.errstr);
    assert_out(&fx.resp.results[0].outs[0], NULL, "{\"x\": 1}");
}

Test(faas_bridge_wire, decode_matches_ids_when_results_come_out_of_order, .init = fx_setup,
     .fini = fx_teardown) {
    const char *body = "{\"results\":[{\"id\":\"t-0-3\",\"records\":[{\"value\":\"c\"}]},"
                       "{\"id\":\"t-0-2\",\"records\":[{\"value\":\"b\"}]},"
                       "{\"id\":\"t-0-1\",\"records\":[{\"value\":\"a\"}]}]}";

    cr_assert_eq(fx_decode(&ce_target, 3, body), 0, "%s", fx.errstr);
    assert_out(&fx.resp.results[0].outs[0], NULL, "a");
    assert_out(&fx.resp.results[1].outs[0], NULL, "b");
    assert_out(&fx.resp.results[2].outs[0], NULL, "c");
    /* Decoding again into the same response reuses it. */
    cr_assert_eq(fx_decode(&ce_target, 2, "{\"results\":[{\"id\":\"t-0-2\",\"error\":\"e\"}]}"), 0);
    cr_assert_eq(fx.resp.n, 2);
    cr_assert(fx.resp.results[1].failed);
    cr_assert_eq(fx.resp.results[0].out_cnt, 0);
}

Test(faas_bridge_wire, decode_fails_with_message_when_response_is_malformed, .init = fx_setup,
     .fini = fx_teardown) {
    static const struct {
        const rill__faas_target_t *target;
        const char *body, *why;
    } cases[] = {
        {&ce_target, "{\"results\":[", "not JSON"},
        {&ce_target, "{\"results\":[]} x", "not JSON"},
        {&ce_target, "{\"x\":1}", "not {\"results\""},
        {&ce_target, "{\"results\":{}}", "\"results\" is not an array"},
        {&ce_target, "{\"results\":[1]}", "results[0] is not an object"},
        {&ce_target, "{\"results\":[{\"id\":5}]}", "results[0] has no string \"id\""},
        {&ce_target, "{\"results\":[{\"records\":[]}]}", "results[0] has no string \"id\""},
        {&ce_target, "{\"results\":[{\"id\":\"t-0-9\"}]}", "unknown id \"t-0-9\""},
        {&ce_target, "{\"results\":[{\"id\":\"t-0-1\"},{\"id\":\"t-0-1\"}]}", "second result"},
        {&ce_target, "{\"results\":[{\"id\":\"t-0-1\",\"records\":{}}]}",
         "results[0].records is not an array"},
        {&ce_target, "{\"results\":[{\"id\":\"t-0-1\",\"records\":[\"v\"]}]}",
         "results[0].records[0] is not an object"},
        {&lambda_target, "[1,2]", "JSON array"},
        {&lambda_target, "{\"batchItemFailures\":{}}", "\"batchItemFailures\" is not an array"},
        {&lambda_target, "{\"batchItemFailures\":[{\"itemIdentifier\":3}]}",
         "batchItemFailures[0] has no string \"itemIdentifier\""},
        {&lambda_target, "{\"batchItemFailures\":[{\"itemIdentifier\":\"x-1-1\"}]}",
         "unknown id \"x-1-1\""},
        {&lambda_target, "not json", "not JSON"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        cr_assert_eq(fx_decode(cases[i].target, 3, cases[i].body), -1, "case %zu: %s", i,
                     cases[i].body);
        cr_assert_not_null(strstr(fx.errstr, cases[i].why), "case %zu: got \"%s\", want \"%s\"", i,
                           fx.errstr, cases[i].why);
        cr_assert_eq(fx.resp.n, 0);
        cr_assert_null(fx.resp.results);
    }
}

Test(faas_bridge_wire, table_finds_each_format_and_refuses_value_with_no_entry, .init = fx_setup,
     .fini = fx_teardown) {
    const rill__faas_target_t unknown = {.format = (rill_faas_format_t)7, .function = "fn"};
    rill_buf_t body = {0}, hdrs = {0};

    cr_assert_str_eq(rill__wire_format_of(RILL_FAAS_CLOUDEVENTS)->name, "cloudevents");
    cr_assert_eq(rill__wire_format_of(RILL_FAAS_CLOUDEVENTS)->format, RILL_FAAS_CLOUDEVENTS);
    cr_assert_str_eq(rill__wire_format_of(RILL_FAAS_LAMBDA)->name, "lambda");
    cr_assert_eq(rill__wire_format_of(RILL_FAAS_LAMBDA)->format, RILL_FAAS_LAMBDA);
    cr_assert_null(rill__wire_format_of((rill_faas_format_t)7));
    cr_assert_eq(rill__faas_encode(&unknown, fx.recs, 1, &body, &hdrs), -1);
    cr_assert_eq(fx_decode(&unknown, 1, "{}"), -1);
    cr_assert_not_null(strstr(fx.errstr, "unknown FaaS wire format 7"), "%s", fx.errstr);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

/* ---- limits before parsing ---- */

/* Makes "<head>" + count copies of item separated by commas + "<tail>"; the caller frees. */
static char *repeated(const char *head, const char *item, size_t count, const char *tail) {
    size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
    char *s = malloc(hl + count * (il + 1) + tl + 1), *p = s;

    cr_assert_not_null(s);
    memcpy(p, head, hl), p += hl;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, il), p += il;
    }
    memcpy(p, tail, tl + 1);
    return s;
}

Test(faas_bridge_wire, decode_refuses_before_parsing_when_body_would_amplify, .init = fx_setup,
     .fini = fx_teardown) {
    /* 1 MB of "{}," is about 265 MB as a json-c tree: refused, although Lambda would
     * otherwise take a body without "results" as "consumed, no output". */
    char *body = repeated("{\"statusCode\":200,\"body\":[", "{}", 350000, "]}");

    cr_assert_eq(fx_decode(&lambda_target, 3, body), -1, "an amplifying body was parsed");
    cr_assert(strstr(fx.errstr, "refused before parsing") && strstr(fx.errstr, "elements"), "%s",
              fx.errstr);
    free(body);
    body = repeated("", "[", 40, "");
    cr_assert_eq(fx_decode(&ce_target, 1, body), -1, "a body nested 40 deep was taken");
    cr_assert(strstr(fx.errstr, "nested deeper than 32"), "%s", fx.errstr);
    free(body);
}

Test(faas_bridge_wire, decode_accepts_large_results_when_elements_fit_their_size, .init = fx_setup,
     .fini = fx_teardown) {
    /* Results with many small outputs stay well within the limit. */
    char *records = repeated("{\"results\":[{\"id\":\"t-0-1\",\"records\":[",
                             "{\"key\":\"k\",\"value\":{\"id\":12345,\"ok\":true}}", 20000, "]}]}");

    cr_assert_eq(fx_decode(&ce_target, 3, records), 0, "%s", fx.errstr);
    cr_assert_eq(fx.resp.results[0].out_cnt, 20000);
    free(records);
}

Test(faas_bridge_wire, encode_handles_tombstones_when_value_and_key_are_null) {
    rill__faas_rec_t recs[2] = {make_rec("t", 0, 1, 1000, NULL, 0, NULL, 0),
                                make_rec("t", 0, 2, 1000, NULL, 0, NULL, 0)};
    rill_buf_t body = {0}, hdrs = {0};

    cr_assert_eq(rill__wire_classify(NULL, 0), RILL_WIRE_NULL);
    cr_assert(rill__wire_utf8_valid(NULL, 0));
    cr_assert_not(rill__wire_json_valid(NULL, 0));
    cr_assert_eq(rill__wire_json_str(&body, NULL, 0), 0);
    cr_assert_eq(rill__wire_base64(&body, NULL, 0), 0);
    cr_assert_eq(rill__wire_pct(&body, NULL, 0), 0);
    cr_assert_str_eq(body.data, "\"\"");
    for (size_t n = 1; n <= 2; n++) {
        rill_buf_reset(&body);
        rill_buf_reset(&hdrs);
        cr_assert_eq(rill__faas_encode(&ce_target, recs, n, &body, &hdrs), 0);
        rill_buf_reset(&body);
        cr_assert_eq(rill__faas_encode(&lambda_target, recs, n, &body, &hdrs), 0);
        cr_assert(rill__wire_json_valid(body.data, body.len), "%s", body.data);
    }
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

/* ---- lineage.enable: the call's traceparent ---- */

#define WIRE_TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

Test(faas_bridge_wire, cloudevents_carry_traceparent_in_binary_and_batch_modes) {
    rill_buf_t body = {0}, hdrs = {0};
    rill__faas_rec_t recs[2] = {make_rec("orders", 0, 15, 0, "k", 1, "{\"a\":1}", 7),
                                make_rec("orders", 0, 16, 0, "k", 1, "{\"a\":2}", 7)};
    snprintf(recs[0].traceparent, sizeof(recs[0].traceparent), "%s", WIRE_TP);
    const char *want[] = {"ce-specversion: 1.0",
                          "ce-id: orders-0-15",
                          "ce-source: /rill/app/node",
                          "ce-type: dev.rill.record",
                          "ce-time: 1970-01-01T00:00:00.000Z",
                          "ce-traceparent: " WIRE_TP,
                          "ce-partitionkey: k",
                          "Content-Type: application/json",
                          NULL};
    cr_assert_eq(rill__faas_encode(&ce_target, recs, 1, &body, &hdrs), 0);
    assert_header_lines(&hdrs, want);
    rill_buf_reset(&body);
    rill_buf_reset(&hdrs);
    cr_assert_eq(rill__faas_encode(&ce_target, recs, 2, &body, &hdrs), 0);
    json_object *root = json_tokener_parse(body.data);
    cr_assert_not_null(root, "%s", body.data);
    assert_str_member(json_object_array_get_idx(root, 0), "traceparent", WIRE_TP);
    json_object *none;
    cr_assert(!json_object_object_get_ex(json_object_array_get_idx(root, 1), "traceparent", &none),
              "a record without a trace has no attribute");
    json_object_put(root);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

Test(faas_bridge_wire, lambda_record_headers_carry_the_calls_traceparent) {
    rill_buf_t body = {0}, hdrs = {0};
    rd_kafka_headers_t *kh = rd_kafka_headers_new(2);
    rd_kafka_header_add(kh, "traceparent", -1, "00-old", 6); /* the input's: replaced */
    rd_kafka_header_add(kh, "other", -1, "x", 1);
    rill__faas_rec_t rec = make_rec("t", 0, 1, 0, "k", 1, "v", 1);
    rec.headers = (const rill_headers_t *)kh;
    snprintf(rec.traceparent, sizeof(rec.traceparent), "%s", WIRE_TP);
    cr_assert_eq(rill__faas_encode(&lambda_target, &rec, 1, &body, &hdrs), 0);
    json_object *root = json_tokener_parse(body.data);
    cr_assert_not_null(root, "%s", body.data);
    json_object *r0 = json_object_array_get_idx(get(get(root, "records"), "t-0"), 0);
    json_object *headers = get(r0, "headers");
    cr_assert_eq(json_object_array_length(headers), 2);
    json_object *other = get(json_object_array_get_idx(headers, 0), "other");
    cr_assert_eq(json_object_array_length(other), 1);
    json_object *tp = get(json_object_array_get_idx(headers, 1), "traceparent");
    cr_assert_eq(json_object_array_length(tp), 55);
    for (size_t i = 0; i < 55; i++)
        cr_assert_eq(json_object_get_int(json_object_array_get_idx(tp, i)), WIRE_TP[i]);
    json_object_put(root);
    rd_kafka_headers_destroy(kh);
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}
