/*
 * http_int.h — what the HTTP endpoint's files share (http_endpoint.c: the daemon, /metrics,
 * /health, /ready, a key's get; http_queries.c: ranges, proxying, whole-store gathers).
 *
 * DESIGN
 * Both run on libmicrohttpd's connection threads; these helpers only build responses.
 */
#ifndef RILL_HTTP_INT_H
#define RILL_HTTP_INT_H

#include "engine_int.h"

#include <microhttpd.h>

#define RILL__HTTP_QUERY_TIMEOUT_MS 5000

/* Queues a response of status with body (copied), content type and extra headers (name,
 * value pairs, NULL-terminated; NULL for none; a NULL or empty value is skipped). */
enum MHD_Result rill__http_respond(struct MHD_Connection *conn, unsigned status, const char *body,
                                   size_t len, const char *type, const char *const *headers);
/* A one-line plain text answer. */
enum MHD_Result rill__http_line(struct MHD_Connection *conn, unsigned status, const char *text);
/* Appends s[0..len) percent-encoded (all but RFC 3986's unreserved characters). 0 or -1. */
int rill__http_url_encode(rill_buf_t *b, const char *s, size_t len);
/* The answer for a query status other than found and not-local. */
enum MHD_Result rill__http_status(struct MHD_Connection *conn, rill_query_status_t st,
                                  const char *store, const char *key,
                                  const rill_query_info_t *info);

/* Appends one window to a JSON array begun in the rill_buf_t opaque ("[" first): start,
 * timestamp and value_hex; as a rill_window_row_cb. */
int rill__http_window_row(int64_t start, int64_t ts, const void *value, size_t len, void *opaque);
/* A time argument: decimal ms, or def when absent. Returns 0, or -1 when malformed. */
int rill__http_time_arg(struct MHD_Connection *conn, const char *name, int64_t def, int64_t *out);

/* http_queries.c */
/* GET /stores/<store>?from=&to=&limit=[&scope=local]: a key range. */
enum MHD_Result rill__http_range(rill_app_t *app, struct MHD_Connection *conn, const char *store);
/* 200 with a found value: the raw bytes, or with format=json a JSON object (key,
 * partition, timestamp, value when the store's serde gives it a JSON form, value_hex);
 * partitions and served_by (X-Rill-Partitions, X-Rill-Served-By) may be NULL. */
enum MHD_Result rill__http_found(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                                 const char *key, const rill_buf_t *value,
                                 const rill_query_info_t *info, const char *partitions,
                                 const char *served_by);
/* GET /stores/<store>/<key>?scope=local: key (or with from/to its windows) in this
 * instance's partitions only. */
enum MHD_Result rill__http_get_local(rill_app_t *app, struct MHD_Connection *conn,
                                     const char *store, const char *key);
/* key (or its windows) of a store Rill did not partition: here, then every other
 * instance's partitions. */
enum MHD_Result rill__http_get_anywhere(rill_app_t *app, struct MHD_Connection *conn,
                                        const char *store, const char *key);
/* The same request (route, store, key, its arguments) asked of owner, its answer returned. */
enum MHD_Result rill__http_proxy(rill_app_t *app, struct MHD_Connection *conn, const char *route,
                                 const char *store, const char *key, const char *owner);
/* "http://<owner><route><store>/<key>?<the request's arguments but scope and hop>[&extra]"
 * (key NULL: no "/<key>"; owner NULL: no "http://<owner>") into url. 0 or -1. */
int rill__http_owner_url(rill_buf_t *url, struct MHD_Connection *conn, const char *owner,
                         const char *route, const char *store, const char *key, const char *extra);

/* http_json.c. Appends data as lowercase hexadecimal. 0 or -1. */
int rill__json_hex(rill_buf_t *b, const void *data, size_t len);
/* Appends data as a JSON string: 0, 1 (not UTF-8: nothing appended) or -1. */
int rill__json_text(rill_buf_t *b, const void *data, size_t len);
/* Appends "key":"<text>" when key is UTF-8, else "key_hex":"<hex>". 0 or -1. */
int rill__json_key(rill_buf_t *b, const void *key, size_t len);
/* Appends value v as JSON by def's value serde: 0, 1 (no JSON form known: nothing appended)
 * or -1. */
struct rill__store_def_s;
int rill__json_value(rill_buf_t *b, const struct rill__store_def_s *def, const void *v, size_t len);

/* "0,2,5": the partitions p with covered[p] set, into out. */
void rill__http_covered_list(const uint8_t *covered, int32_t cnt, char *out, size_t size);

#endif
