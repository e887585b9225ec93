/*
 * test_faas_conf.c — a FaaS stage's options as the topology builder checks them
 * (faas_bridge/faas_conf.c, url_check.c) and the retry delay (faas_stage.c): only http and
 * https URLs, plain http only to loopback unless allowed, no credentials over http, finite
 * defaults for the record age, the response size and the Retry-After honoured.
 */
#include "faas_stage_int.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/* Builds a stage on a fresh topology; returns the builder's error, or NULL when it passed. */
static const char *build_stage(const rill_faas_opts_t *opts, char *err, size_t err_size) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "input", NULL);
    rill_stream_t *out = rill_stream_faas(in, "fn", opts);
    const char *e = rill_topology_error(topo);

    snprintf(err, err_size, "%s", e ? e : "");
    cr_assert_eq(out == NULL, e != NULL, "the builder call fails exactly when it reports");
    rill_topology_destroy(topo);
    return err[0] ? err : NULL;
}

static const char *build_url(const char *url, int allow_http, char *err, size_t err_size) {
    rill_faas_opts_t o = {.url = url, .allow_insecure_http = allow_http};

    return build_stage(&o, err, err_size);
}

Test(faas_bridge_faas_conf, builder_fails_when_url_scheme_is_not_http_or_https) {
    const char *bad[] = {"file:///etc/passwd",      "ftp://127.0.0.1/x", "gopher://127.0.0.1/",
                         "dict://127.0.0.1:11211/", "127.0.0.1:8080/fn", "FILE:///etc/hosts"};
    char err[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not_null(build_url(bad[i], 1, err, sizeof(err)), "%s was accepted", bad[i]);
        cr_assert(strstr(err, "not http:// or https://"), "%s: %s", bad[i], err);
    }
}

Test(faas_bridge_faas_conf, plain_http_accepted_only_for_loopback_when_not_allowed) {
    const char *ok[] = {"http://127.0.0.1:8080/fn", "http://localhost/fn",
                        "HTTP://LOCALHOST:1",       "http://127.1.2.3/",
                        "http://[::1]:8080/fn",     "https://example.com/fn",
                        "https://10.0.0.1/fn"};
    const char *bad[] = {"http://example.com/fn",
                         "http://10.0.0.1:8080/fn",
                         "http://127.0.0.1@example.com/fn",
                         "http://127.0.0.1.example.com/",
                         "http://[::2]/fn",
                         "http://0.0.0.0/"};
    char err[512];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_null(build_url(ok[i], 0, err, sizeof(err)), "%s refused: %s", ok[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not_null(build_url(bad[i], 0, err, sizeof(err)), "%s accepted", bad[i]);
        cr_assert(strstr(err, "allow_insecure_http"), "%s: %s", bad[i], err);
        cr_assert_null(build_url(bad[i], 1, err, sizeof(err)), "%s refused though allowed: %s",
                       bad[i], err);
    }
}

Test(faas_bridge_faas_conf, lambda_not_signed_when_endpoint_is_plain_http) {
    char err[256];
    rill_faas_opts_t o = {.format = RILL_FAAS_LAMBDA,
                          .function = "f",
                          .url = "http://127.0.0.1:3002",
                          .allow_insecure_http = 1};
    rill__faas_conf_t *c;

    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
    setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
    c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_null(c->sigv4, "SigV4 over http");
    cr_assert_null(c->userpwd, "credentials over http");
    cr_assert_null(c->session_token, "session token over http");
    rill__faas_conf_free(c);
    o.url = "https://lambda.example.com";
    c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_not_null(c->sigv4, "https is signed");
    cr_assert_str_eq(c->session_token, "TOKEN");
    rill__faas_conf_free(c);
}

Test(faas_bridge_faas_conf, builder_fails_naming_format_when_it_has_no_table_entry) {
    rill_faas_opts_t o = {.url = "http://127.0.0.1:1/fn", .format = (rill_faas_format_t)7};
    char err[512];

    cr_assert_not_null(build_stage(&o, err, sizeof(err)), "format 7 was accepted");
    cr_assert(strstr(err, "unknown format 7"), "%s", err);
}

Test(faas_bridge_faas_conf, limits_are_finite_when_options_left_zero) {
    char err[256];
    rill_faas_opts_t o = {.url = "http://127.0.0.1:1/fn"};
    rill__faas_conf_t *c = rill__faas_conf_new("f", &o, err, sizeof(err));

    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->o.max_record_age_ms, 15 * 60 * 1000);
    cr_assert_eq(c->o.max_retry_after_ms, 60000);
    cr_assert_eq(c->o.max_response_bytes, 6 << 20);
    rill__faas_conf_free(c);
    o.max_record_age_ms = -1;
    c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->o.max_record_age_ms, 0, "negative: no limit");
    rill__faas_conf_free(c);
}

Test(faas_bridge_faas_conf, read_ahead_holds_a_full_batch_per_call_when_left_zero) {
    char err[256];
    rill_faas_opts_t o = {
        .url = "http://127.0.0.1:1/fn", .batch_max_records = 1000, .max_in_flight = 20};
    rill__faas_conf_t *c = rill__faas_conf_new("f", &o, err, sizeof(err));

    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->o.max_buffered_records, 3 * 20 * 1000,
                 "C calls in flight, C finished behind the oldest, C batches ready");
    cr_assert_eq(c->o.max_buffered_bytes, 64 << 20);
    cr_assert_eq(rill__faas_read_ahead_limit(&c->o), 60000);
    rill__faas_conf_free(c);
    o.batch_max_records = 10;
    o.max_in_flight = 2;
    c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->o.max_buffered_records, 10000, "never fewer than 10000");
    rill__faas_conf_free(c);
}

Test(faas_bridge_faas_conf, read_ahead_capped_by_its_bytes) {
    rill_faas_opts_t o = {.batch_max_records = 100,
                          .max_buffered_records = 50000,
                          .max_buffered_bytes = 1000 * (int)sizeof(rill__faas_slot_t)};

    cr_assert_eq(rill__faas_read_ahead_limit(&o), 1000, "the ring fits max_buffered_bytes");
    o.max_buffered_bytes = 10;
    cr_assert_eq(rill__faas_read_ahead_limit(&o), 100, "at least one batch");
    o.max_buffered_bytes = 1 << 30;
    cr_assert_eq(rill__faas_read_ahead_limit(&o), 50000);
}

Test(faas_bridge_faas_conf, retry_after_capped_when_function_asks_for_hours) {
    char err[256];
    rill_faas_opts_t o = {.url = "http://127.0.0.1:1/fn"};
    rill__faas_conf_t *c = rill__faas_conf_new("f", &o, err, sizeof(err));

    cr_assert_not_null(c, "%s", err);
    for (int attempt = 1; attempt < 8; attempt++) {
        int64_t d = rill__faas_backoff_ms(c, attempt, 24L * 3600 * 1000);
        cr_assert_leq(d, 60000, "attempt %d waits %lld ms", attempt, (long long)d);
        cr_assert_geq(d, 60000, "the cap itself is honoured");
    }
    cr_assert_eq(rill__faas_backoff_ms(c, 1, 2000), 2000, "a short Retry-After is honoured");
    rill__faas_conf_free(c);
    o.max_retry_after_ms = 120000;
    c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_eq(rill__faas_backoff_ms(c, 1, 3600000), 120000);
    rill__faas_conf_free(c);
}

Test(faas_bridge_faas_conf, billed_time_rounds_each_call_up_to_a_whole_millisecond) {
    cr_assert_eq(rill__faas_billed_ms(0.0), 1, "a call is billed at least 1 ms");
    cr_assert_eq(rill__faas_billed_ms(0.2), 1);
    cr_assert_eq(rill__faas_billed_ms(1.0), 1, "a whole ms stays as it is");
    cr_assert_eq(rill__faas_billed_ms(1.001), 2);
    cr_assert_eq(rill__faas_billed_ms(49.5), 50);
    cr_assert_eq(rill__faas_billed_ms(60000.0), 60000);
}

Test(faas_bridge_faas_conf, billed_time_is_a_metric_of_the_stage) {
    char err[256];
    rill_faas_opts_t o = {.url = "http://127.0.0.1:1/fn"};
    rill__faas_conf_t *c = rill__faas_conf_new("f", &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    rill__node_t node = {.conf = c};

    rill__http_resp_t timed = {.total_ms = 30.2, .fn_ms = 11.4};
    rill__http_resp_t untimed = {.total_ms = 0.3, .fn_ms = -1};
    rill__faas_record_billed(c, &timed);
    rill__faas_record_billed(c, &untimed);
    cr_assert_eq(rill__faas_metric(&node, "rill_faas_billed_ms_total"), 31 + 1,
                 "every call as the bridge timed it");
    cr_assert_eq(rill__faas_metric(&node, "rill_faas_reported_billed_ms_total"), 12,
                 "the reported durations only");
    cr_assert_eq(rill__faas_metric(&node, "rill_faas_reported_invocations_total"), 1);
    rill__faas_conf_free(c);
}
