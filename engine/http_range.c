/*
 * http_range.c — GET /stores/<store>?from=&to=&limit=: a key range of a key-value store over
 * HTTP, the whole store (this instance's partitions and every other owner's, merged in key
 * order), or with scope=local this instance's part only, for the instance gathering it.
 *
 * DESIGN
 * See http_queries.c for how a whole-store answer is gathered. The array is JSON, one object
 * per key: "key" as text when the key is UTF-8 (else "key_hex"), "timestamp" (-1 when the
 * store keeps none), "value" when the store's value serde gives it a JSON form
 * (http_json.c) and always "value_hex". The limit comes from the request (at most
 * query.range.limit.max, else 400) or query.range.limit; X-Rill-Truncated says whether rows
 * were left out.
 */
#include "http_int.h"
#include "query_fwd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_rows_s {
    rill_buf_t *b;
    const rill__store_def_t *def;
} json_rows_t;

/* One row: {"key":..,"timestamp":..,"value":..(when the serde is known),"value_hex":..}. */
static int json_row(const void *key, size_t key_len, int64_t ts, const void *value,
                    size_t value_len, void *opaque) {
    json_rows_t *j = opaque;
    rill_buf_t *b = j->b;
    char mid[48];
    size_t at;
    snprintf(mid, sizeof(mid), ",\"timestamp\":%lld", (long long)ts);
    if (rill_buf_append(b, b->len > 1 ? ",{" : "{", b->len > 1 ? 2 : 1) ||
        rill__json_key(b, key, key_len) || rill_buf_append(b, mid, strlen(mid)))
        return 1;
    at = b->len;
    int rc =
        rill_buf_append(b, ",\"value\":", 9) ? -1 : rill__json_value(b, j->def, value, value_len);
    if (rc == 1)
        b->len = at; /* no JSON form: value_hex only */
    return rc < 0 || rill_buf_append(b, ",\"value_hex\":\"", 14) ||
                   rill__json_hex(b, value, value_len) || rill_buf_append(b, "\"}", 2)
               ? 1
               : 0;
}

/* The parts of a whole-store range: this instance's rows first, then each owner's. */
typedef struct parts_s {
    rill_buf_t *v;
    int n;
    bool more, bad;
} parts_t;

static int add_part(const rill__fwd_reply_t *r, const char *server, void *opaque) {
    (void)server;
    parts_t *p = opaque;
    rill_buf_t *v = realloc(p->v, sizeof(*v) * (size_t)(p->n + 1));
    if (r->status != 200 || !v) {
        p->bad = true;
        if (v)
            p->v = v;
        return 1;
    }
    p->v = v;
    v[p->n] = (rill_buf_t){0};
    p->bad |= rill_buf_append(&v[p->n++], r->body.data ? r->body.data : "", r->body.len) != 0;
    p->more |= !strcmp(r->truncated, "true");
    return p->bad;
}

/* The limit argument, or -1 after answering 400. */
static int limit_arg(rill_app_t *app, struct MHD_Connection *conn, enum MHD_Result *ret) {
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    char *end = NULL, line[200];
    long n = v ? strtol(v, &end, 10) : app->set.range_limit;
    if (v && (!*v || *end || n <= 0 || n > app->set.range_limit_max)) {
        snprintf(line, sizeof(line), "bad request: limit is 1 to %d (query.range.limit.max)",
                 app->set.range_limit_max);
        *ret = rill__http_line(conn, MHD_HTTP_BAD_REQUEST, line);
        return -1;
    }
    return (int)n;
}

/* Answers the merged parts as JSON. */
static enum MHD_Result respond_json(rill_app_t *app, struct MHD_Connection *conn,
                                    const rill__store_def_t *def, parts_t *parts, int limit) {
    rill_buf_t json = {0};
    json_rows_t j = {.b = &json, .def = def};
    int bad = rill_buf_append(&json, "[", 1) ||
              rill__rows_merge(parts->v, parts->n, limit, json_row, &j, &parts->more) ||
              rill_buf_append(&json, "]\n", 2);
    if (parts->more)
        rill__counter_add(&app->query_metrics[RILL__QM_TRUNCATED], 1);
    enum MHD_Result ret =
        bad ? rill__http_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error: out of memory")
            : rill__http_respond(
                  conn, MHD_HTTP_OK, json.data, json.len, "application/json",
                  (const char *[]){"X-Rill-Truncated", parts->more ? "true" : "false", NULL});
    rill_buf_free(&json);
    return ret;
}

/* The other owners' parts into parts (after this instance's); FOUND or why not. */
static rill_query_status_t gather_rest(rill_app_t *app, struct MHD_Connection *conn,
                                       const char *store, uint8_t *covered, int32_t cnt,
                                       parts_t *parts, rill_query_info_t *info) {
    rill_buf_t path = {0};
    rill_query_status_t st = RILL_QUERY_NOT_FOUND;
    if (rill__http_owner_url(&path, conn, NULL, "/stores/", store, NULL, "scope=local") ||
        rill_buf_append(&path, "", 1))
        st = rill__query_fail(info, RILL_QUERY_ERROR, "out of memory");
    else
        st = rill__gather(app, rill__query_store(app, store), covered, cnt, path.data, add_part,
                          parts, info->error, sizeof(info->error));
    rill_buf_free(&path);
    if (st == RILL_QUERY_FOUND || (st == RILL_QUERY_NOT_FOUND && parts->bad))
        return rill__query_fail(info, RILL_QUERY_UNAVAILABLE,
                                "an instance's part of the "
                                "range was malformed or refused");
    return st == RILL_QUERY_NOT_FOUND ? RILL_QUERY_FOUND : st;
}

enum MHD_Result rill__http_range(rill_app_t *app, struct MHD_Connection *conn, const char *store) {
    enum MHD_Result ret = MHD_NO;
    const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
    int limit = limit_arg(app, conn, &ret);
    if (limit < 0)
        return ret;
    parts_t parts = {.v = calloc(1, sizeof(rill_buf_t)), .n = 1};
    uint8_t *covered = NULL;
    int32_t cnt = 0;
    rill_query_info_t info;
    char list[8192];
    rill_query_status_t st =
        !parts.v ? rill__query_fail(&info, RILL_QUERY_ERROR, "out of memory")
                 : rill__range_local(app, store, from, from ? strlen(from) : 0, to,
                                     to ? strlen(to) : 0, limit, &parts.v[0], &parts.more, &covered,
                                     &cnt, &info, RILL__HTTP_QUERY_TIMEOUT_MS);
    bool local = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope") != NULL;
    if (st == RILL_QUERY_FOUND && local) {
        rill__http_covered_list(covered, cnt, list, sizeof(list));
        ret = rill__http_respond(conn, MHD_HTTP_OK, parts.v[0].data ? parts.v[0].data : "",
                                 parts.v[0].len, "application/x-rill-rows",
                                 (const char *[]){"X-Rill-Partitions", list, "X-Rill-Truncated",
                                                  parts.more ? "true" : "false", NULL});
    } else {
        if (st == RILL_QUERY_FOUND)
            st = gather_rest(app, conn, store, covered, cnt, &parts, &info);
        ret = st == RILL_QUERY_FOUND
                  ? respond_json(app, conn, rill__query_store(app, store), &parts, limit)
                  : rill__http_status(conn, st, store, NULL, &info);
    }
    for (int i = 0; i < parts.n && parts.v; i++)
        rill_buf_free(&parts.v[i]);
    free(parts.v);
    free(covered);
    return ret;
}
