/*
 * query_forward.c — one instance asking another for a store query: proxying a key to its
 * owner (query.forward=proxy) and gathering the parts of a whole-store answer (a key range,
 * a key of a store Rill did not partition) from the instances that own them.
 *
 * DESIGN
 * Requests go through libcurl's easy interface on the HTTP endpoint's connection thread,
 * which already waits for the answer; every request of one query shares one deadline
 * (query.forward.timeout.ms), and a body is bounded (FORWARD_MAX_BODY), so a slow or hostile
 * peer costs one connection thread for a bounded time. A gather walks the partitions not
 * covered yet: it asks the owner of the first one (from query_hosts.c) for its local part
 * (scope=local); the answer lists the partitions it searched (X-Rill-Partitions), which
 * become covered. Each answer covers at least the partition it was asked for or the gather
 * fails, so it makes at most one request per partition. An owner that is unknown, does not
 * answer, or no longer holds the partition ends the gather with its name: the caller
 * answers 503, never a partial result or a wrong "not found".
 */
#include "query_fwd_int.h"
#include "metrics_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORWARD_MAX_BODY (64 * 1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque) {
    rill__fwd_reply_t *r = opaque;
    if (r->body.len + size * n > FORWARD_MAX_BODY || rill_buf_append(&r->body, data, size * n))
        return 0;
    return size * n;
}

/* Copies the value of header line "Name: value\r\n" into dst when its name is name. */
static void header_value(const char *line, size_t len, const char *name, char *dst,
                         size_t dst_size) {
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) || line[n] != ':')
        return;
    line += n + 1;
    len -= n + 1;
    while (len && (*line == ' ' || *line == '\t'))
        line++, len--;
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    snprintf(dst, dst_size, "%.*s", (int)len, line);
}

static size_t on_header(char *data, size_t size, size_t n, void *opaque) {
    rill__fwd_reply_t *r = opaque;
    size_t len = size * n;
    header_value(data, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(data, len, "X-Rill-Partition", r->partition, sizeof(r->partition));
    header_value(data, len, "X-Rill-Timestamp", r->timestamp, sizeof(r->timestamp));
    header_value(data, len, "X-Rill-Partitions", r->partitions, sizeof(r->partitions));
    header_value(data, len, "X-Rill-Truncated", r->truncated, sizeof(r->truncated));
    return len;
}

int rill__forward_get(rill_app_t *app, const char *url, int64_t deadline_ms, rill__fwd_reply_t *r) {
    memset(r, 0, sizeof(*r));
    pthread_once(&curl_once, curl_init_once);
    int64_t left = deadline_ms - rill__now_ms();
    CURL *c = left > 0 ? curl_easy_init() : NULL;
    if (!c) {
        snprintf(r->error, sizeof(r->error), left > 0 ? "no HTTP client" : "out of time");
        rill__counter_add(&app->query_metrics[RILL__QM_FORWARD_FAILURES], 1);
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    rill__counter_add(&app->query_metrics[RILL__QM_FORWARDED], 1);
    if (rc != CURLE_OK)
        rill__counter_add(&app->query_metrics[RILL__QM_FORWARD_FAILURES], 1);
    return rc == CURLE_OK ? 0 : -1;
}

void rill__forward_reply_free(rill__fwd_reply_t *r) {
    rill_buf_free(&r->body);
}

/* Marks the partitions of list ("0,2,5") covered; returns how many were new or -1. */
static int cover(const char *list, uint8_t *covered, int32_t cnt) {
    int added = 0;
    char *end;
    while (*list) {
        long p = strtol(list, &end, 10);
        if (end == list || p < 0 || p >= cnt)
            return -1;
        added += !covered[p];
        covered[p] = 1;
        list = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return added;
}

rill_query_status_t rill__gather(rill_app_t *app, const rill__store_def_t *def, uint8_t *covered,
                                 int32_t cnt, const char *path, rill__gather_fn fn, void *opaque,
                                 char *why, size_t why_size) {
    int64_t deadline = rill__now_ms() + app->set.query_forward_timeout_ms;
    for (int32_t p = 0; p < cnt; p++) {
        if (covered[p])
            continue;
        char owner[256], url[8500];
        if (!rill__hosts_owner(app, def->sub, p, owner, sizeof(owner)) ||
            (app->server && !strcmp(owner, app->server))) {
            snprintf(why, why_size,
                     "the owner of partition %d of store \"%s\" is not known "
                     "(yet)",
                     (int)p, def->name);
            return RILL_QUERY_UNAVAILABLE;
        }
        snprintf(url, sizeof(url), "http://%s%s", owner, path);
        rill__fwd_reply_t r;
        int failed = rill__forward_get(app, url, deadline, &r);
        int added = failed ? -1 : cover(r.partitions, covered, cnt);
        int stop = 0;
        if (!failed && (r.status == 200 || r.status == 404) && added >= 0 && covered[p])
            stop = fn(&r, owner, opaque);
        else if (failed)
            snprintf(why, why_size, "instance %s did not answer for partition %d: %s", owner,
                     (int)p, r.error);
        else
            snprintf(why, why_size,
                     "instance %s could not answer for partition %d (HTTP "
                     "%ld%s)",
                     owner, (int)p, r.status,
                     r.status == 503 ? ": restoring, or no longer its owner" : "");
        int ok = !failed && (r.status == 200 || r.status == 404) && added >= 0 && covered[p];
        rill__forward_reply_free(&r);
        if (!ok)
            return RILL_QUERY_UNAVAILABLE;
        if (stop)
            return RILL_QUERY_FOUND;
    }
    return RILL_QUERY_NOT_FOUND; /* every partition answered; none stopped the gather */
}

/* ---- metrics ---- */

static const rill__mfamily_t families[RILL__QM_COUNT] = {
    [RILL__QM_FORWARDED] = {"rill_query_forwarded_total", RILL__COUNTER,
                            "Store queries this instance sent to other instances (proxied, "
                            "or parts of whole-store answers)."},
    [RILL__QM_FORWARD_FAILURES] = {"rill_query_forward_failures_total", RILL__COUNTER,
                                   "Store queries to other instances that got no answer "
                                   "(down, too slow)."},
    [RILL__QM_TRUNCATED] = {"rill_query_ranges_truncated_total", RILL__COUNTER,
                            "Key ranges answered with fewer rows than they hold (the limit)."},
};

void rill__query_metrics(rill_app_t *app, rill__mout_t *mo) {
    for (int i = 0; i < RILL__QM_COUNT; i++)
        rill__mout_sample(mo, &families[i], NULL, NULL,
                          __atomic_load_n(&app->query_metrics[i], __ATOMIC_RELAXED));
}

int64_t rill__query_metric(rill_app_t *app, const char *name) {
    for (int i = 0; i < RILL__QM_COUNT; i++)
        if (!strcmp(families[i].name, name))
            return __atomic_load_n(&app->query_metrics[i], __ATOMIC_RELAXED);
    return -1;
}
