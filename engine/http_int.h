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
enum MHD_Result rill__http_respond(struct MHD_Connection *conn, unsigned status,
                                   const char *body, size_t len, const char *type,
                                   const char *const *headers);
/* A one-line plain text answer. */
enum MHD_Result rill__http_line(struct MHD_Connection *conn, unsigned status, const char *text);
/* Appends s[0..len) percent-encoded (all but RFC 3986's unreserved characters). 0 or -1. */
int rill__http_url_encode(rill_buf_t *b, const char *s, size_t len);
/* The answer for a query status other than found and not-local. */
enum MHD_Result rill__http_status(struct MHD_Connection *conn, rill_query_status_t st,
                                  const char *store, const char *key,
                                  const rill_query_info_t *info);

/* http_queries.c */
/* GET /stores/<store>?from=&to=&limit=[&scope=local]: a key range. */
enum MHD_Result rill__http_range(rill_app_t *app, struct MHD_Connection *conn,
                                 const char *store);
/* GET /stores/<store>/<key>?scope=local: key in this instance's partitions only. */
enum MHD_Result rill__http_get_local(rill_app_t *app, struct MHD_Connection *conn,
                                     const char *store, const char *key);
/* key of a store Rill did not partition: here, then every other instance's partitions. */
enum MHD_Result rill__http_get_anywhere(rill_app_t *app, struct MHD_Connection *conn,
                                        const char *store, const char *key);
/* The same request (route, store, key, its arguments) asked of owner, its answer returned. */
enum MHD_Result rill__http_proxy(rill_app_t *app, struct MHD_Connection *conn,
                                 const char *route, const char *store, const char *key,
                                 const char *owner);
/* "http://<owner><route><store>/<key>?<the request's arguments but scope and hop>[&extra]"
 * (key NULL: no "/<key>"; owner NULL: no "http://<owner>") into url. 0 or -1. */
int rill__http_owner_url(rill_buf_t *url, struct MHD_Connection *conn, const char *owner,
                         const char *route, const char *store, const char *key,
                         const char *extra);

/* "0,2,5": the partitions p with covered[p] set, into out. */
void rill__http_covered_list(const uint8_t *covered, int32_t cnt, char *out, size_t size);

#endif
