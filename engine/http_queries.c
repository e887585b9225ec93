/*
 * http_queries.c — the HTTP endpoint's store queries that span instances: key ranges
 * (GET /stores/<store>?from=&to=&limit=), proxying a key to its owner (query.forward=proxy),
 * and keys of stores Rill did not partition, which may be in any partition; plus the
 * scope=local answers other instances ask for.
 *
 * DESIGN
 * A whole-store answer is this instance's part (query_range.c, query_any.c) completed by
 * the other owners' parts, each asked with scope=local (query_forward.c): a range merges
 * every part in key order and keeps the first limit rows (each part holds at most limit,
 * so nothing past the limit is ever needed); a key ends at the first part that has it, and is
 * "not found" only when every partition of the store answered. A part that cannot be had
 * makes the answer 503 naming the instance or the partition, never a partial array or a
 * wrong 404. scope=local answers carry their rows in the internal rows format
 * (application/x-rill-rows, exact bytes) and list the partitions searched in
 * X-Rill-Partitions. Ranges are bounded: query.range.limit rows by default, at most
 * query.range.limit.max; X-Rill-Truncated: true when rows were left out.
 */
#include "http_int.h"
#include "query_fwd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS_TYPE "application/x-rill-rows"

/* ---- URLs ---- */

typedef struct args_s {
    rill_buf_t *url;
    int n, bad;
    bool raw; /* leave "format" out: an internal request reads the raw bytes */
} args_t;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
    (void)kind;
    args_t *a = cls;
    if (!strcmp(key, "scope") || !strcmp(key, "hop") || (a->raw && !strcmp(key, "format")))
        return MHD_YES;
    a->bad |= rill_buf_append(a->url, a->n++ ? "&" : "?", 1) ||
              rill__http_url_encode(a->url, key, strlen(key));
    if (value)
        a->bad |=
            rill_buf_append(a->url, "=", 1) || rill__http_url_encode(a->url, value, strlen(value));
    return MHD_YES;
}

int rill__http_owner_url(rill_buf_t *url, struct MHD_Connection *conn, const char *owner,
                         const char *route, const char *store, const char *key, const char *extra) {
    args_t a = {.url = url, .raw = extra && !strcmp(extra, "scope=local")};
    a.bad = (owner &&
             (rill_buf_append(url, "http://", 7) || rill_buf_append(url, owner, strlen(owner)))) ||
            rill_buf_append(url, route, strlen(route)) ||
            rill__http_url_encode(url, store, strlen(store)) ||
            (key && (rill_buf_append(url, "/", 1) || rill__http_url_encode(url, key, strlen(key))));
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &a);
    if (extra)
        a.bad |=
            rill_buf_append(url, a.n ? "&" : "?", 1) || rill_buf_append(url, extra, strlen(extra));
    return a.bad ? -1 : 0;
}

void rill__http_covered_list(const uint8_t *covered, int32_t cnt, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (int32_t p = 0; covered && p < cnt && n + 12 < size; p++)
        if (covered[p])
            n += (size_t)snprintf(out + n, size - n, "%s%d", n ? "," : "", (int)p);
}

/* ---- a key ---- */

/* {"key":..,"partition":..,"timestamp":..,"value":..(when known),"value_hex":..}. */
static int value_json(rill_buf_t *b, const rill__store_def_t *def, const char *key,
                      const rill_buf_t *value, const rill_query_info_t *info) {
    char mid[80];
    size_t at;
    snprintf(mid, sizeof(mid), ",\"partition\":%d,\"timestamp\":%lld", (int)info->partition,
             (long long)info->timestamp);
    if (rill_buf_append(b, "{", 1) || rill__json_key(b, key, strlen(key)) ||
        rill_buf_append(b, mid, strlen(mid)))
        return -1;
    at = b->len;
    int rc = rill_buf_append(b, ",\"value\":", 9)
                 ? -1
                 : rill__json_value(b, def, value->data, value->len);
    if (rc == 1)
        b->len = at;
    return rc < 0 || rill_buf_append(b, ",\"value_hex\":\"", 14) ||
                   rill__json_hex(b, value->data, value->len) || rill_buf_append(b, "\"}\n", 3)
               ? -1
               : 0;
}

enum MHD_Result rill__http_found(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                                 const char *key, const rill_buf_t *value,
                                 const rill_query_info_t *info, const char *partitions,
                                 const char *served_by) {
    char part[16], ts[32];
    const char *format = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    rill_buf_t json = {0};
    bool as_json = format && !strcmp(format, "json");
    if (as_json && value_json(&json, rill__query_store(app, store), key, value, info)) {
        rill_buf_free(&json);
        return rill__http_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error: out of memory");
    }
    snprintf(part, sizeof(part), "%d", (int)info->partition);
    snprintf(ts, sizeof(ts), "%lld", (long long)info->timestamp);
    const char *const headers[] = {"X-Rill-Partition",
                                   part,
                                   "X-Rill-Timestamp",
                                   info->timestamp >= 0 ? ts : NULL,
                                   "X-Rill-Partitions",
                                   partitions,
                                   "X-Rill-Served-By",
                                   served_by,
                                   NULL};
    enum MHD_Result ret =
        as_json ? rill__http_respond(conn, MHD_HTTP_OK, json.data, json.len, "application/json",
                                     headers)
                : rill__http_respond(conn, MHD_HTTP_OK, value->data ? value->data : "", value->len,
                                     "application/octet-stream", headers);
    rill_buf_free(&json);
    return ret;
}

/* The query a request asks: a key's value, or with from or to its windows. 0, or -1 after
 * answering 400. */
static int request_query(struct MHD_Connection *conn, const char *key, rill__query_t *q,
                         rill_buf_t *out, enum MHD_Result *ret) {
    bool windows = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from") ||
                   MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
    *q = (rill__query_t){.kind = windows ? RILL__Q_FETCH : RILL__Q_GET,
                         .key = key,
                         .key_len = strlen(key),
                         .out = out,
                         .ts = -1};
    if (windows && (rill__http_time_arg(conn, "from", 0, &q->from) ||
                    rill__http_time_arg(conn, "to", INT64_MAX, &q->to))) {
        *ret = rill__http_line(conn, MHD_HTTP_BAD_REQUEST,
                               "bad request: from and to are "
                               "window start times in epoch milliseconds");
        return -1;
    }
    return 0;
}

/* 200 with what q found here: the value (rill__http_found), or its windows as JSON. */
static enum MHD_Result answer(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                              const rill__query_t *q, const rill_query_info_t *info,
                              const char *partitions) {
    if (q->kind == RILL__Q_GET)
        return rill__http_found(app, conn, store, q->key, q->out, info, partitions, NULL);
    rill_buf_t json = {0};
    char part[16];
    enum MHD_Result ret;
    snprintf(part, sizeof(part), "%d", (int)info->partition);
    if (rill_buf_append(&json, "[", 1))
        return rill__http_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error: out of memory");
    rill__fetch_rows_walk(q->out, rill__http_window_row, &json);
    ret = rill_buf_append(&json, "]\n", 2)
              ? rill__http_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error: out of memory")
              : rill__http_respond(conn, MHD_HTTP_OK, json.data, json.len, "application/json",
                                   (const char *[]){"X-Rill-Partition", part, "X-Rill-Partitions",
                                                    partitions, NULL});
    rill_buf_free(&json);
    return ret;
}

enum MHD_Result rill__http_get_local(rill_app_t *app, struct MHD_Connection *conn,
                                     const char *store, const char *key) {
    uint8_t *covered = NULL;
    int32_t cnt = 0;
    rill_buf_t out = {0};
    rill_query_info_t info;
    rill__query_t q;
    char list[8192];
    enum MHD_Result ret = MHD_NO;
    if (request_query(conn, key, &q, &out, &ret))
        return ret;
    rill_query_status_t st =
        rill__any_local(app, store, &q, &covered, &cnt, &info, RILL__HTTP_QUERY_TIMEOUT_MS);
    rill__http_covered_list(covered, cnt, list, sizeof(list));
    if (st == RILL_QUERY_FOUND)
        ret = answer(app, conn, store, &q, &info, list);
    else if (st == RILL_QUERY_NOT_FOUND)
        ret = rill__http_respond(conn, MHD_HTTP_NOT_FOUND, "not found here\n", 15,
                                 "text/plain; charset=utf-8",
                                 (const char *[]){"X-Rill-Partitions", list, NULL});
    else
        ret = rill__http_status(conn, st, store, key, &info);
    free(covered);
    rill_buf_free(&out);
    return ret;
}

/* Keeps the first 200 answer of a gather. */
static int keep_found(const rill__fwd_reply_t *r, const char *server, void *opaque) {
    rill__fwd_reply_t *keep = opaque;
    if (r->status != 200)
        return 0;
    memcpy(keep->partition, r->partition, sizeof(keep->partition));
    memcpy(keep->timestamp, r->timestamp, sizeof(keep->timestamp));
    snprintf(keep->error, sizeof(keep->error), "%s", server);
    return rill_buf_append(&keep->body, r->body.data ? r->body.data : "", r->body.len) ? 0 : 1;
}

/* 200 with another instance's answer kept by a gather: a value, or windows (JSON as is). */
static enum MHD_Result answer_kept(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                                   const rill__query_t *q, rill__fwd_reply_t *keep,
                                   rill_query_info_t *info) {
    info->partition = (int32_t)strtol(keep->partition, NULL, 10);
    info->timestamp = keep->timestamp[0] ? strtoll(keep->timestamp, NULL, 10) : -1;
    if (q->kind == RILL__Q_GET)
        return rill__http_found(app, conn, store, q->key, &keep->body, info, NULL, keep->error);
    return rill__http_respond(conn, MHD_HTTP_OK, keep->body.data ? keep->body.data : "",
                              keep->body.len, "application/json",
                              (const char *[]){"X-Rill-Partition", keep->partition,
                                               "X-Rill-Served-By", keep->error, NULL});
}

enum MHD_Result rill__http_get_anywhere(rill_app_t *app, struct MHD_Connection *conn,
                                        const char *store, const char *key) {
    uint8_t *covered = NULL;
    int32_t cnt = 0;
    rill_buf_t out = {0}, path = {0};
    rill_query_info_t info;
    rill__fwd_reply_t keep = {0};
    rill__query_t q;
    enum MHD_Result ret = MHD_NO;
    if (request_query(conn, key, &q, &out, &ret))
        return ret;
    rill_query_status_t st =
        rill__any_local(app, store, &q, &covered, &cnt, &info, RILL__HTTP_QUERY_TIMEOUT_MS);
    if (st == RILL_QUERY_NOT_FOUND) {
        if (rill__http_owner_url(&path, conn, NULL, "/stores/", store, key, "scope=local") ||
            rill_buf_append(&path, "", 1))
            st = rill__query_fail(&info, RILL_QUERY_ERROR, "out of memory");
        else
            st = rill__gather(app, q.def, covered, cnt, path.data, keep_found, &keep, info.error,
                              sizeof(info.error));
    }
    if (st == RILL_QUERY_FOUND && keep.error[0])
        ret = answer_kept(app, conn, store, &q, &keep, &info);
    else if (st == RILL_QUERY_FOUND)
        ret = answer(app, conn, store, &q, &info, NULL);
    else
        ret = rill__http_status(conn, st, store, key, &info);
    rill__forward_reply_free(&keep);
    rill_buf_free(&path);
    rill_buf_free(&out);
    free(covered);
    return ret;
}

enum MHD_Result rill__http_proxy(rill_app_t *app, struct MHD_Connection *conn, const char *route,
                                 const char *store, const char *key, const char *owner) {
    rill_buf_t url = {0};
    rill__fwd_reply_t r = {0};
    char line[600];
    enum MHD_Result ret;
    if (rill__http_owner_url(&url, conn, owner, route, store, key, "hop=1") ||
        rill_buf_append(&url, "", 1))
        ret = rill__http_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error: out of memory");
    else if (rill__forward_get(app, url.data, rill__now_ms() + app->set.query_forward_timeout_ms,
                               &r)) {
        snprintf(line, sizeof(line), "unavailable, try again: the owner %s did not answer: %s",
                 owner, r.error);
        ret = rill__http_line(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
    } else {
        ret =
            rill__http_respond(conn, (unsigned)r.status, r.body.data ? r.body.data : "", r.body.len,
                               r.content_type[0] ? r.content_type : "application/octet-stream",
                               (const char *[]){"X-Rill-Partition", r.partition, "X-Rill-Timestamp",
                                                r.timestamp, "X-Rill-Served-By", owner, NULL});
    }
    rill__forward_reply_free(&r);
    rill_buf_free(&url);
    return ret;
}
