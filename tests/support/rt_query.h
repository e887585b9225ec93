/*
 * rt_query.h — what the interactive-query tests share: GET over HTTP with libcurl
 * (following redirects, reading the X-Rill-* headers), keys in URLs, counts.
 *
 * DESIGN
 * Header-only: each test binary includes it once (engine and integration tests).
 */
#ifndef RILL_TEST_RT_QUERY_H
#define RILL_TEST_RT_QUERY_H

#include "rill_test.h"

#include <rill.h>

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#define RT_QUERY_WAIT_MS 20000

#include <curl/curl.h>
#include <strings.h>

typedef struct rt_query_reply_s {
    long status;
    long redirects;
    rill_buf_t body;
    char truncated[8];  /* X-Rill-Truncated */
    char served_by[64]; /* X-Rill-Served-By */
} rt_query_reply_t;

static inline size_t rt_query_on_body(char *data, size_t size, size_t n, void *opaque) {
    return rill_buf_append(opaque, data, size * n) ? 0 : size * n;
}

static inline void rt_query_header(const char *line, size_t len, const char *name, char *dst,
                                   size_t size) {
    size_t n = strlen(name);

    if (len > n + 2 && !strncasecmp(line, name, n) && line[n] == ':') {
        size_t v = len - n - 2;
        while (v && (line[n + 2 + v - 1] == '\r' || line[n + 2 + v - 1] == '\n'))
            v--;
        snprintf(dst, size, "%.*s", (int)v, line + n + 2);
    }
}

static inline size_t rt_query_on_header(char *data, size_t size, size_t n, void *opaque) {
    rt_query_reply_t *r = opaque;

    rt_query_header(data, size * n, "X-Rill-Truncated", r->truncated, sizeof(r->truncated));
    rt_query_header(data, size * n, "X-Rill-Served-By", r->served_by, sizeof(r->served_by));
    return size * n;
}

/* GET path on 127.0.0.1:port, following redirects; body NUL-terminated. */
static inline rt_query_reply_t rt_query_get(int port, const char *path) {
    rt_query_reply_t r = {0};
    char url[2048];
    CURL *c = curl_easy_init();

    cr_assert_not_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rt_query_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, rt_query_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &r.redirects);
    curl_easy_cleanup(c);
    cr_assert_eq(rill_buf_append(&r.body, "", 1), 0);
    r.body.len--;
    return r;
}

/* As rt_query_get, asking again while the answer is 503 (an owner not yet published). */
static inline rt_query_reply_t rt_query_get_settled(int port, const char *path) {
    int64_t deadline = rt_now_ms() + RT_QUERY_WAIT_MS;
    rt_query_reply_t r = rt_query_get(port, path);

    while (r.status == 503 && rt_now_ms() < deadline) {
        rill_buf_free(&r.body);
        rt_sleep_ms(50);
        r = rt_query_get(port, path);
    }
    return r;
}

/* key percent-encoded into out. */
static inline void rt_query_url_key(char *out, size_t size, const char *key) {
    CURL *c = curl_easy_init();
    char *e = curl_easy_escape(c, key, 0);

    snprintf(out, size, "%s", e);
    curl_free(e);
    curl_easy_cleanup(c);
}

static inline int rt_query_ready(int port) {
    rt_query_reply_t r = rt_query_get(port, "/ready");
    int ok = r.status == 200;

    rill_buf_free(&r.body);
    return ok;
}

static inline int64_t rt_query_count(const void *data, size_t len) {
    int64_t v = -1;

    cr_assert_eq(len, 8, "a count is 8 bytes, got %zu", len);
    cr_assert_eq(rill_int64_decode(data, len, &v), 0);
    return v;
}

static inline rill_topology_t *rt_query_count_topology(const char *in, const char *store,
                                                       const char *out) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", in, NULL);
    rill_table_t *t = rill_grouped_count(rill_stream_group_by_key(s, NULL), store);

    rill_stream_to(rill_table_to_stream(t, NULL), "sink", out, NULL);
    return topo;
}

/* Waits until both apps hold want_tasks tasks each and are ready. */
static inline void rt_query_wait_settled(rill_app_t *a, rill_app_t *b, int want_tasks) {
    int64_t deadline = rt_now_ms() + RT_QUERY_WAIT_MS;

    while (rt_now_ms() < deadline &&
           !(rill_app_metric(a, "rill_tasks") == want_tasks &&
             rill_app_metric(b, "rill_tasks") == want_tasks &&
             rt_query_ready(rill_app_http_port(a)) && rt_query_ready(rill_app_http_port(b))))
        rt_sleep_ms(50);
    cr_assert_eq(rill_app_metric(a, "rill_tasks"), want_tasks);
    cr_assert_eq(rill_app_metric(b, "rill_tasks"), want_tasks);
}

/* The JSON a range answers for sorted keys[0..n) with counts (the timestamps are not
 * known to the caller: "timestamp":T is matched by skipping digits; rendered: the store's
 * serde is int64, so "value":<count> precedes value_hex). Returns 1 when body is exactly that
 * array. */
static inline int rt_query_range_matches(const char *body, char **keys, const int64_t *counts,
                                         int n, int rendered) {
    const char *p = body;

    if (*p++ != '[')
        return 0;
    for (int i = 0; i < n; i++) {
        char head[600], tail[80];
        snprintf(head, sizeof(head), "%s{\"key\":\"%s\",\"timestamp\":", i ? "," : "", keys[i]);
        if (strncmp(p, head, strlen(head)))
            return 0;
        p += strlen(head);
        while (*p == '-' || (*p >= '0' && *p <= '9'))
            p++;
        char value[40] = "";
        if (rendered)
            snprintf(value, sizeof(value), ",\"value\":%lld", (long long)counts[i]);
        snprintf(tail, sizeof(tail), "%s,\"value_hex\":\"%016llx\"}", value,
                 (unsigned long long)counts[i]);
        if (strncmp(p, tail, strlen(tail)))
            return 0;
        p += strlen(tail);
    }
    return !strcmp(p, "]\n");
}

#endif
