/*
 * test_http_endpoint.c — the HTTP endpoint (engine/http_endpoint.c) and the Prometheus text
 * that /metrics serves (engine/metrics.c, engine/thread_status.c):
 *  - an app on the embedded broker with http.listen=127.0.0.1:0 binds a free port, answers
 *    /health at once and /ready with 200 once its thread holds an assignment and its tasks
 *    restored their stores; /metrics has one # HELP and # TYPE per family, the consumer lag
 *    of each input partition, the state of each task, the nodes' counters, and passes
 *    `promtool check metrics`; other paths are 404, other methods 405;
 *  - the renderer on a fake metrics set (families added interleaved by several "nodes", a
 *    fake histogram, label values that need escaping): exact text, and promtool accepts it;
 *  - a bad http.listen value is refused when set, naming the key, the value and the fix.
 *
 * promtool (Debian's prometheus package, installed by scripts/install-deps.sh) is required:
 * a test that needs it fails when it is not on PATH.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"
#include "metrics_int.h"

#include <curl/curl.h>
#include <sys/wait.h>

/* ---------------------------------------------------------------------------------------- */
/* HTTP and promtool                                                                        */

typedef struct http_reply_s {
    long status;
    rill_buf_t body; /* NUL-terminated */
    char content_type[128];
} http_reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *opaque) {
    rill_buf_t *b = opaque;

    return rill_buf_append(b, data, size * n) ? 0 : size * n;
}

/* Sends method path to 127.0.0.1:port; asserts the transfer worked. */
static http_reply_t http_do(int port, const char *method, const char *path) {
    http_reply_t r = {0};
    char url[128];
    CURL *c = curl_easy_init();
    char *ct = NULL;

    cr_assert_not_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(r.content_type, sizeof(r.content_type), "%s", ct);
    curl_easy_cleanup(c);
    cr_assert_eq(rill_buf_append(&r.body, "", 1), 0);
    return r;
}

static http_reply_t http_get(int port, const char *path) {
    return http_do(port, "GET", path);
}

/* The number of lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix) {
    int n = 0;
    size_t len = strlen(prefix);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, len))
            n++;
    return n;
}

/* Asserts that every family of text has exactly one # HELP and one # TYPE line, and that
 * every sample's family was declared by a # TYPE line before it. */
static void assert_one_header_per_family(const char *text) {
    char family[128] = "";

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        char name[128], prefix[160];

        if (sscanf(p, "# TYPE %127s", name) == 1) {
            snprintf(prefix, sizeof(prefix), "# TYPE %s ", name);
            cr_assert_eq(count_lines(text, prefix), 1, "# TYPE %s more than once", name);
            snprintf(prefix, sizeof(prefix), "# HELP %s ", name);
            cr_assert_eq(count_lines(text, prefix), 1, "# HELP %s not exactly once", name);
            snprintf(family, sizeof(family), "%s", name);
        } else if (*p != '#' && *p != '\n') {
            cr_assert(family[0] && !strncmp(p, family, strlen(family)),
                      "sample outside its family (%s): %.80s", family, p);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The endpoint of an app on the embedded broker                                            */

#define IN_PARTITIONS 2
#define RECORDS 40

/* in -> two windowed counts (two nodes that both report rill_late_records_total) -> out. */
static rill_topology_t *counts_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = 0};
    rill_table_t *a = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, "by-key-a"), &spec), "counts-a",
        RILL_EMIT_ON_UPDATE);
    rill_table_t *b = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, "by-key-b"), &spec), "counts-b",
        RILL_EMIT_ON_UPDATE);

    rill_stream_to(rill_table_to_stream(a, NULL), "sink-a", "out", NULL);
    rill_stream_to(rill_table_to_stream(b, NULL), "sink-b", "out", NULL);
    return topo;
}

/* Polls GET path until it answers want (bounded); returns the last reply. */
static http_reply_t http_wait_status(int port, const char *path, long want) {
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    http_reply_t r;

    for (;;) {
        r = http_get(port, path);
        if (r.status == want || eu_now_ms() >= deadline)
            return r;
        rill_buf_free(&r.body);
        eu_sleep_ms(50);
    }
}

/* Polls /metrics until it holds every needle (bounded); returns the last text (owned). */
static char *metrics_wait_for(int port, const char *const *needles) {
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;

    for (;;) {
        http_reply_t r = http_get(port, "/metrics");
        int all = r.status == 200;

        for (size_t i = 0; all && needles[i]; i++)
            all = strstr(r.body.data, needles[i]) != NULL;
        if (all || eu_now_ms() >= deadline)
            return r.body.data;
        rill_buf_free(&r.body);
        eu_sleep_ms(100);
    }
}

Test(engine_http_endpoint, serves_metrics_health_and_ready, .timeout = 120) {
    char id[64], dir[] = "/tmp/rill-http-XXXXXX";

    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "http");
    const char *extra[] = {"state.dir", dir, "http.listen", "127.0.0.1:0", NULL};
    rill_app_t *app = eu_app_new(counts_topology(), id, extra);
    eu_create_topic(app, "in", IN_PARTITIONS);
    eu_create_topic(app, "out", 1);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < RECORDS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i % 5);
        eu_send(p, "in", i % IN_PARTITIONS, key, "x", 100 + i * 10);
    }
    eu_producer_done(p);
    cr_assert_eq(rill_app_http_port(app), 0, "no endpoint before the start");

    eu_start(app);
    int port = rill_app_http_port(app);
    cr_assert_gt(port, 0, "http.listen=127.0.0.1:0 binds a free port");

    http_reply_t health = http_get(port, "/health");
    cr_assert_eq(health.status, 200);
    cr_assert_str_eq(health.body.data, "ok\n");
    rill_buf_free(&health.body);

    http_reply_t ready = http_wait_status(port, "/ready", 200);
    cr_assert_eq(ready.status, 200, "/ready: %s", ready.body.data);
    cr_assert_str_eq(ready.body.data, "ready\n");
    rill_buf_free(&ready.body);

    eu_wait_processed(app, RECORDS);
    static const char *const needles[] = {
        "rill_consumer_lag_records{application_id=",
        "topic=\"in\",partition=\"0\"} 0\n",
        "topic=\"in\",partition=\"1\"} 0\n",
        "rill_task_state{application_id=",
        "task=\"0_0\",state=\"running\"} 1\n",
        "task=\"0_1\",state=\"restoring\"} 0\n",
        "rill_records_processed_total{application_id=",
        "rill_late_records_total{application_id=",
        "node=\"KSTREAM-",
        NULL,
    };
    char *text = metrics_wait_for(port, needles);
    for (size_t i = 0; needles[i]; i++)
        cr_assert(strstr(text, needles[i]), "/metrics lacks %s:\n%s", needles[i], text);
    cr_assert_eq(count_lines(text, "# TYPE rill_consumer_lag_records gauge"), 1);
    cr_assert_eq(count_lines(text, "# TYPE rill_records_processed_total counter"), 1);
    cr_assert_eq(count_lines(text, "# TYPE rill_task_state gauge"), 1);
    cr_assert_eq(count_lines(text, "rill_late_records_total{"), 2, "one per window node");
    cr_assert_eq(count_lines(text, "rill_consumer_lag_records{"), IN_PARTITIONS);
    assert_one_header_per_family(text);
    eu_assert_promtool_ok(text);
    free(text);

    http_reply_t m = http_get(port, "/metrics");
    cr_assert_str_eq(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
    rill_buf_free(&m.body);
    http_reply_t nf = http_get(port, "/nope");
    cr_assert_eq(nf.status, 404);
    rill_buf_free(&nf.body);
    http_reply_t post = http_do(port, "POST", "/metrics");
    cr_assert_eq(post.status, 405);
    rill_buf_free(&post.body);

    eu_stop(app);
    health = http_get(port, "/health");
    cr_assert_eq(health.status, 503, "a stopped app is not healthy");
    rill_buf_free(&health.body);
    ready = http_get(port, "/ready");
    cr_assert_eq(ready.status, 503);
    rill_buf_free(&ready.body);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(engine_http_endpoint, off_without_http_listen, .timeout = 60) {
    char id[64];

    eu_app_id(id, sizeof(id), "http-off");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "source", "in", NULL), "sink", "out", NULL);
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "in", 1);
    eu_create_topic(app, "out", 1);
    eu_start(app);
    cr_assert_eq(rill_app_http_port(app), 0);
    eu_stop(app);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* The renderer on a fake metrics set                                                       */

static const rill__mfamily_t fake_counter = {"fake_events_total", RILL__COUNTER, "Fake events."};
static const rill__mfamily_t fake_counter_again = {"fake_events_total", RILL__COUNTER,
                                                   "Fake events, as another node says."};
static const rill__mfamily_t fake_gauge = {"fake_depth", RILL__GAUGE, "Fake depth."};
static const rill__mfamily_t fake_histogram = {"fake_wait_seconds", RILL__HISTOGRAM, "Fake waits."};

Test(engine_http_endpoint, fake_metrics_render_as_valid_exposition) {
    rill__mout_t *mo = rill__mout_new("fake-app");
    rill_buf_t out = {0};

    cr_assert_not_null(mo);
    /* Two fake nodes add samples of the same families, interleaved with another family. */
    rill__mout_sample(mo, &fake_counter, NULL, (const char *[]){"node", "a", NULL}, 3);
    rill__mout_sample(mo, &fake_gauge, NULL, (const char *[]){"node", "a", NULL}, 7);
    rill__mout_sample(mo, &fake_counter_again, NULL,
                      (const char *[]){"node", "quote\" back\\ new\nline", NULL}, 4);
    /* A fake histogram of 3 observations: 0.5 s, 1.5 s, 9 s. */
    const char *le[] = {"1", "2", "+Inf"};
    int64_t cum[] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        rill__mout_sample(mo, &fake_histogram, "_bucket",
                          (const char *[]){"node", "a", "le", le[i], NULL}, cum[i]);
    rill__mout_sample_f(mo, &fake_histogram, "_sum", (const char *[]){"node", "a", NULL}, 11.0);
    rill__mout_sample(mo, &fake_histogram, "_count", (const char *[]){"node", "a", NULL}, 3);
    cr_assert_eq(rill__mout_write(mo, &out), RILL_OK);
    rill__mout_free(mo);
    cr_assert_eq(rill_buf_append(&out, "", 1), 0);
    cr_assert_str_eq(
        out.data,
        "# HELP fake_events_total Fake events.\n"
        "# TYPE fake_events_total counter\n"
        "fake_events_total{application_id=\"fake-app\",node=\"a\"} 3\n"
        "fake_events_total{application_id=\"fake-app\",node=\"quote\\\" back\\\\ new\\nline\"} 4\n"
        "# HELP fake_depth Fake depth.\n"
        "# TYPE fake_depth gauge\n"
        "fake_depth{application_id=\"fake-app\",node=\"a\"} 7\n"
        "# HELP fake_wait_seconds Fake waits.\n"
        "# TYPE fake_wait_seconds histogram\n"
        "fake_wait_seconds_bucket{application_id=\"fake-app\",node=\"a\",le=\"1\"} 1\n"
        "fake_wait_seconds_bucket{application_id=\"fake-app\",node=\"a\",le=\"2\"} 2\n"
        "fake_wait_seconds_bucket{application_id=\"fake-app\",node=\"a\",le=\"+Inf\"} 3\n"
        "fake_wait_seconds_sum{application_id=\"fake-app\",node=\"a\"} 11\n"
        "fake_wait_seconds_count{application_id=\"fake-app\",node=\"a\"} 3\n");
    eu_assert_promtool_ok(out.data);
    rill_buf_free(&out);
}

/* ---------------------------------------------------------------------------------------- */
/* http.listen values                                                                       */

static void assert_listen_refused(const char *value, const char *why) {
    char errstr[512] = "";
    rill_conf_t *conf = rill_conf_new();

    cr_assert_eq(rill_conf_set(conf, "http.listen", value, errstr, sizeof(errstr)),
                 RILL_ERR_INVALID_ARG, "http.listen=%s was accepted", value);
    cr_assert(strstr(errstr, "http.listen"), "names the key: %s", errstr);
    cr_assert(strstr(errstr, value), "names the value: %s", errstr);
    cr_assert(strstr(errstr, "expected host:port, e.g. 127.0.0.1:9464"), "says the fix: %s",
              errstr);
    cr_assert(strstr(errstr, why), "says \"%s\": %s", why, errstr);
    rill_conf_destroy(conf);
}

Test(engine_http_endpoint, bad_http_listen_is_refused_with_the_fix) {
    assert_listen_refused("9464", "no ':' before a port");
    assert_listen_refused(":9464", "no host before the ':'");
    assert_listen_refused("localhost:99999", "the port \"99999\" is not a number from 0 to 65535");
    assert_listen_refused("localhost:http", "is not a number");
    assert_listen_refused("127.0.0.1:", "is not a number");
    assert_listen_refused("::1:9464", "an IPv6 address must be in brackets");

    rill_conf_t *conf = rill_conf_new();
    char errstr[512] = "";
    const char *good[] = {"127.0.0.1:0", "[::1]:9464", "localhost:9464", "0.0.0.0:9464", ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(rill_conf_set(conf, "http.listen", good[i], errstr, sizeof(errstr)), RILL_OK,
                     "http.listen=%s: %s", good[i], errstr);
    rill_conf_destroy(conf);
}

Test(engine_http_endpoint, start_fails_when_the_port_is_taken, .timeout = 60) {
    char id[64], listen[64], errstr[512] = "";

    eu_app_id(id, sizeof(id), "http-taken");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "source", "in", NULL), "sink", "out", NULL);
    const char *first_extra[] = {"http.listen", "127.0.0.1:0", NULL};
    rill_app_t *first = eu_app_new(topo, id, first_extra);
    eu_create_topic(first, "in", 1);
    eu_create_topic(first, "out", 1);
    eu_start(first);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", rill_app_http_port(first));

    rill_topology_t *topo2 = rill_topology_new();
    rill_stream_to(rill_stream_from(topo2, "source", "in", NULL), "sink", "out", NULL);
    char id2[80];
    snprintf(id2, sizeof(id2), "%s-2", id);
    const char *second_extra[] = {"http.listen", listen, "bootstrap.servers",
                                  rill_app_bootstrap_servers(first), NULL};
    rill_app_t *second = eu_app_new(topo2, id2, second_extra);
    cr_assert_neq(rill_app_start(second, errstr, sizeof(errstr)), RILL_OK);
    cr_assert(strstr(errstr, "http.listen=") && strstr(errstr, listen) &&
                  strstr(errstr, "cannot listen there"),
              "%s", errstr);
    rill_app_destroy(second);
    eu_stop(first);
    rill_app_destroy(first);
}
