/*
 * http_endpoint.c — the app's HTTP endpoint: GET /metrics (rill_app_metrics(), Prometheus'
 * text format 0.0.4), GET /health (liveness) and GET /ready (readiness), for scrapers and
 * Kubernetes-style probes, and the interactive queries' GET /stores/<store>/<key> and
 * GET /owner/<store>/<key> (queries.c). Off unless http.listen=host:port is set.
 *
 * DESIGN
 * libmicrohttpd serves the requests on threads of its own (one per connection), so a slow
 * or stuck client never touches a stream thread, and a stream thread never waits for the
 * endpoint: a request reads only what other threads may read at any time (the counters, the
 * threads' status under its lock, the fatal-error slot under the app lock), and a store
 * query waits (at most HTTP_QUERY_TIMEOUT_MS) for the stream thread to answer it between two
 * batches, holding up only its own connection. Its resources are bounded: at most
 * HTTP_MAX_CONNECTIONS connections (and threads) at once (more are refused), each closed
 * after HTTP_TIMEOUT_S seconds of silence, a key of HTTP_MAX_KEY bytes at most, and a
 * request body is never read.
 *
 * A store query for a key this instance does not hold is redirected (307) to the same route
 * on the owner's application.server (or proxied to it, query.forward=proxy; http_queries.c),
 * or answered 503 while the owner is not known. Ranges and keys of stores Rill did not
 * partition are gathered from every owner (http_queries.c, http_range.c).
 * rill_app_start() starts it last, once the stream threads exist, and
 * rill_app_destroy() stops it before the threads' status goes. It has no authentication and
 * no TLS: it listens only where http.listen says, which should be loopback or a pod network.
 *
 * /health answers 200 "ok" while the app runs its threads, 503 with the reason once a fatal
 * error (or a stop) ended them. /ready answers 200 "ready" when every stream thread holds an
 * assignment and no task is restoring its state, else 503 with the first reason found.
 */
#include "http_int.h"
#include "query_int.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_TIMEOUT_S 10
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct rill__http_s {
    struct MHD_Daemon *daemon;
    int port; /* bound */
};

enum MHD_Result rill__http_respond(struct MHD_Connection *conn, unsigned status, const char *body,
                                   size_t len, const char *type, const char *const *headers) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
    for (int i = 0; headers && headers[i]; i += 2)
        if (headers[i + 1] && headers[i + 1][0])
            MHD_add_response_header(resp, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                               size_t len, const char *type) {
    return rill__http_respond(conn, status, body, len, type, NULL);
}

enum MHD_Result rill__http_line(struct MHD_Connection *conn, unsigned status, const char *text) {
    char line[600];
    int n = snprintf(line, sizeof(line), "%s\n", text);
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    return respond(conn, status, line, len, "text/plain; charset=utf-8");
}

#define respond_line rill__http_line

static enum MHD_Result serve_metrics(rill_app_t *app, struct MHD_Connection *conn) {
    rill_buf_t buf = {0};
    enum MHD_Result ret;
    if (rill_app_metrics(app, &buf))
        ret = respond_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        ret = respond(conn, MHD_HTTP_OK, buf.data ? buf.data : "", buf.len, METRICS_CONTENT_TYPE);
    rill_buf_free(&buf);
    return ret;
}

static enum MHD_Result serve_health(rill_app_t *app, struct MHD_Connection *conn) {
    char why[560];
    pthread_mutex_lock(&app->lock);
    int fatal = app->fatal != RILL_OK;
    if (fatal)
        snprintf(why, sizeof(why), "fatal: %s", app->fatal_msg);
    pthread_mutex_unlock(&app->lock);
    if (fatal)
        return respond_line(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why);
    if (rill__app_stopping(app))
        return respond_line(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping");
    return respond_line(conn, MHD_HTTP_OK, "ok");
}

static enum MHD_Result serve_ready(rill_app_t *app, struct MHD_Connection *conn) {
    char why[256];
    int ready = rill__app_ready(app, why, sizeof(why));
    return respond_line(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, why);
}

/* ---- interactive queries: GET /stores/<store>/<key>, GET /owner/<store>/<key> ---- */

#define HTTP_MAX_KEY 4096 /* bytes of a key, decoded */
#define HTTP_QUERY_TIMEOUT_MS RILL__HTTP_QUERY_TIMEOUT_MS

int rill__http_url_encode(rill_buf_t *b, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (plain ? rill_buf_append(b, s + i, 1) : rill_buf_append(b, esc, 3))
            return -1;
    }
    return 0;
}

/* 307 to the same route (and arguments) on the owner, proxied to it (query.forward=proxy),
 * or 503 when it is not known or this request was proxied already (hop=1). */
static enum MHD_Result to_owner(rill_app_t *app, struct MHD_Connection *conn, const char *route,
                                const char *store, const char *key, const rill_query_info_t *info) {
    char line[600];
    if (!info->owner[0] || MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "hop")) {
        snprintf(line, sizeof(line),
                 "unavailable, try again: not here; partition %d of store "
                 "\"%s\" belongs to %s%s",
                 (int)info->partition, store,
                 info->owner[0] ? info->owner
                                : "another instance that has not published its "
                                  "address (yet)",
                 info->owner[0] ? ", which does not hold it any more" : "");
        return respond_line(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
    }
    if (app->set.query_proxy)
        return rill__http_proxy(app, conn, route, store, key, info->owner);
    rill_buf_t url = {0};
    int bad = rill__http_owner_url(&url, conn, info->owner, route, store, key, NULL) ||
              rill_buf_append(&url, "", 1);
    snprintf(line, sizeof(line), "not here: partition %d of store \"%s\" is served by %s\n",
             (int)info->partition, store, info->owner);
    enum MHD_Result ret =
        bad ? MHD_NO
            : rill__http_respond(conn, MHD_HTTP_TEMPORARY_REDIRECT, line, strlen(line),
                                 "text/plain; charset=utf-8",
                                 (const char *[]){MHD_HTTP_HEADER_LOCATION, url.data,
                                                  "X-Rill-Owner", info->owner, NULL});
    rill_buf_free(&url);
    return ret;
}

enum MHD_Result rill__http_status(struct MHD_Connection *conn, rill_query_status_t st,
                                  const char *store, const char *key,
                                  const rill_query_info_t *info) {
    char line[600];
    switch (st) {
    case RILL_QUERY_NOT_FOUND:
        snprintf(line, sizeof(line), "not found: no key \"%.200s\" in store \"%s\"", key ? key : "",
                 store);
        return respond_line(conn, MHD_HTTP_NOT_FOUND, line);
    case RILL_QUERY_UNKNOWN_STORE:
        snprintf(line, sizeof(line), "unknown store: %s", info->error);
        return respond_line(conn, MHD_HTTP_NOT_FOUND, line);
    case RILL_QUERY_UNAVAILABLE:
    case RILL_QUERY_NOT_LOCAL:
        snprintf(line, sizeof(line), "unavailable, try again: %s", info->error);
        return respond_line(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
    default:
        snprintf(line, sizeof(line), "error: %s", info->error);
        return respond_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, line);
    }
}

/* The answer for a status other than found: not-local goes to the owner. */
static enum MHD_Result respond_status(rill_app_t *app, struct MHD_Connection *conn,
                                      rill_query_status_t st, const char *route, const char *store,
                                      const char *key, const rill_query_info_t *info) {
    if (st == RILL_QUERY_NOT_LOCAL)
        return to_owner(app, conn, route, store, key, info);
    return rill__http_status(conn, st, store, key, info);
}

/* Splits "<store>/<key>" (decoded) at its first '/'. Returns 0, or -1 after answering 400. */
static int split_path(struct MHD_Connection *conn, const char *path, char *store, size_t store_size,
                      const char **key, enum MHD_Result *ret) {
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (!slash || !n || n >= store_size || !slash[1] || strlen(slash + 1) > HTTP_MAX_KEY) {
        *ret = respond_line(conn, MHD_HTTP_BAD_REQUEST,
                            "bad request: expected /stores/<store>/"
                            "<key>, /stores/<store>?from=&to=&limit= or /owner/<store>/<key>, "
                            "a key of 1 to 4096 bytes (percent-encoded as needed)");
        return -1;
    }
    memcpy(store, path, n);
    store[n] = '\0';
    *key = slash + 1;
    return 0;
}

int rill__http_window_row(int64_t start, int64_t ts, const void *value, size_t len, void *opaque) {
    static const char hex[] = "0123456789abcdef";
    rill_buf_t *b = opaque;
    char head[96];
    snprintf(head, sizeof(head), "%s{\"start\":%lld,\"timestamp\":%lld,\"value_hex\":\"",
             b->len > 1 ? "," : "", (long long)start, (long long)ts);
    if (rill_buf_append(b, head, strlen(head)))
        return 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = ((const unsigned char *)value)[i];
        char two[2] = {hex[c >> 4], hex[c & 15]};
        if (rill_buf_append(b, two, 2))
            return 1;
    }
    return rill_buf_append(b, "\"}", 2) ? 1 : 0;
}

int rill__http_time_arg(struct MHD_Connection *conn, const char *name, int64_t def, int64_t *out) {
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    char *end = NULL;
    if (!v) {
        *out = def;
        return 0;
    }
    long long n = strtoll(v, &end, 10);
    if (!*v || *end)
        return -1;
    *out = n;
    return 0;
}

/* A window fetch (from/to given) into out as a JSON array; 0, or -1 after answering 400. */
static int fetch_windows(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                         const char *key, rill_buf_t *out, rill_query_info_t *info,
                         rill_query_status_t *st, enum MHD_Result *ret) {
    int64_t from, to;
    if (rill__http_time_arg(conn, "from", 0, &from) ||
        rill__http_time_arg(conn, "to", INT64_MAX, &to)) {
        *ret = respond_line(conn, MHD_HTTP_BAD_REQUEST,
                            "bad request: from and to are window "
                            "start times in epoch milliseconds");
        return -1;
    }
    *st = rill_buf_append(out, "[", 1)
              ? RILL_QUERY_ERROR
              : rill_app_window_fetch(app, store, key, strlen(key), from, to, rill__http_window_row,
                                      out, info, HTTP_QUERY_TIMEOUT_MS);
    if (*st == RILL_QUERY_FOUND && rill_buf_append(out, "]\n", 2))
        *st = RILL_QUERY_ERROR;
    return 0;
}

/* Whether a not-local answer for key of def came after its murmur2 partition, held here,
 * was searched: a store Rill did not partition, whose other partitions are elsewhere. */
static bool searched_here(rill_app_t *app, const rill__store_def_t *def, const char *key,
                          const rill_query_info_t *info) {
    return def && !rill__query_placed(app, def) &&
           info->partition != rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key),
                                                               rill__query_partitions(app, def),
                                                               NULL, NULL);
}

static enum MHD_Result serve_store(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                                   const char *key) {
    enum MHD_Result ret = MHD_NO;
    rill_query_info_t info;
    rill_buf_t out = {0};
    rill_query_status_t st;
    char part[16];
    if (MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "scope"))
        return rill__http_get_local(app, conn, store, key);
    bool windows = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from") ||
                   MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
    if (windows && fetch_windows(app, conn, store, key, &out, &info, &st, &ret))
        return ret;
    if (!windows)
        st = rill_app_store_get(app, store, key, strlen(key), &out, &info, HTTP_QUERY_TIMEOUT_MS);
    if (st == RILL_QUERY_NOT_LOCAL && searched_here(app, rill__query_store(app, store), key, &info))
        ret = rill__http_get_anywhere(app, conn, store, key); /* ask the other owners */
    else if (st != RILL_QUERY_FOUND)
        ret = respond_status(app, conn, st, "/stores/", store, key, &info);
    else if (!windows)
        ret = rill__http_found(app, conn, store, key, &out, &info, NULL, NULL);
    else
        ret = (snprintf(part, sizeof(part), "%d", (int)info.partition),
               rill__http_respond(conn, MHD_HTTP_OK, out.data, out.len, "application/json",
                                  (const char *[]){"X-Rill-Partition", part, NULL}));
    rill_buf_free(&out);
    return ret;
}

static enum MHD_Result serve_owner(rill_app_t *app, struct MHD_Connection *conn, const char *store,
                                   const char *key) {
    rill_query_info_t info;
    rill_query_status_t st = rill__query_locate(app, store, key, strlen(key), &info);
    if (st != RILL_QUERY_FOUND && st != RILL_QUERY_NOT_LOCAL)
        return respond_status(app, conn, st, "/owner/", store, key, &info);
    const char *server = st == RILL_QUERY_FOUND ? rill_app_server(app) : info.owner;
    char body[700];
    int n = snprintf(body, sizeof(body),
                     "{\"store\":\"%s\",\"partition\":%d,\"local\":%s,"
                     "\"owner\":%s%s%s}\n",
                     store, (int)info.partition, st == RILL_QUERY_FOUND ? "true" : "false",
                     server && *server ? "\"" : "", server && *server ? server : "null",
                     server && *server ? "\"" : "");
    return respond(conn, MHD_HTTP_OK, body, (size_t)n < sizeof(body) ? (size_t)n : 0,
                   "application/json");
}

/* Runs route with the store and key of path ("<store>/<key>", decoded), or answers 400. */
static enum MHD_Result store_route(rill_app_t *app, struct MHD_Connection *conn, const char *path,
                                   enum MHD_Result (*route)(rill_app_t *app,
                                                            struct MHD_Connection *conn,
                                                            const char *store, const char *key)) {
    char store[256];
    const char *key;
    enum MHD_Result ret = MHD_NO;
    if (route == serve_store && *path && !strchr(path, '/') && strlen(path) < sizeof(store))
        return rill__http_range(app, conn, path);
    if (split_path(conn, path, store, sizeof(store), &key, &ret))
        return ret;
    return route(app, conn, store, key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    rill_app_t *app = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET))
        return respond_line(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is served");
    if (!strcmp(url, "/metrics"))
        return serve_metrics(app, conn);
    if (!strcmp(url, "/health"))
        return serve_health(app, conn);
    if (!strcmp(url, "/ready"))
        return serve_ready(app, conn);
    if (!strncmp(url, "/stores/", 8))
        return store_route(app, conn, url + 8, serve_store);
    if (!strncmp(url, "/owner/", 7))
        return store_route(app, conn, url + 7, serve_owner);
    return respond_line(conn, MHD_HTTP_NOT_FOUND,
                        "not found: try /metrics, /health, /ready, "
                        "/stores/<store>/<key>, /stores/<store>?from=&to= or /owner/<store>/<key>");
}

/* Resolves http.listen's host and port into *addr. Returns 0 or -1 with errstr. */
static int resolve(const char *listen, struct sockaddr_storage *addr, char *errstr,
                   size_t errstr_size) {
    char host[256], why[160], port_s[8];
    int port;
    if (rill__listen_parse(listen, host, sizeof(host), &port, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "http.listen=%s: %s", listen, why);
        return -1;
    }
    snprintf(port_s, sizeof(port_s), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port_s, &hints, &res);
    if (rc || !res) {
        snprintf(errstr, errstr_size, "http.listen=%s: cannot resolve \"%s\": %s", listen, host,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

rill_err_t rill__http_start(rill_app_t *app, char *errstr, size_t errstr_size) {
    const char *listen = app->set.http_listen;
    if (!listen || !*listen)
        return RILL_OK;
    struct sockaddr_storage addr = {0};
    if (resolve(listen, &addr, errstr, errstr_size))
        return RILL_ERR_INVALID_ARG;
    struct rill__http_s *http = calloc(1, sizeof(*http));
    if (!http)
        return RILL_ERR_NOMEM;
    /* A thread per connection (16 at most): a store query waits for a stream thread, and
     * must not hold up /metrics or /health meanwhile. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, app, MHD_OPTION_SOCK_ADDR,
                                    (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                                    (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                    (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(errstr, errstr_size,
                 "http.listen=%s: cannot listen there (address in use, "
                 "or not an address of this host?)",
                 listen);
        free(http);
        return RILL_ERR_INVALID_ARG;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? (int)info->port : 0;
    app->http = http;
    rill__log(app, -1,
              "HTTP endpoint on %s, port %d: GET /metrics, /health, /ready, "
              "/stores/<store>/<key>, /stores/<store>?from=&to=, /owner/<store>/<key> "
              "(no authentication)",
              listen, http->port);
    return RILL_OK;
}

void rill__http_stop(rill_app_t *app) {
    struct rill__http_s *http = app->http;
    if (!http)
        return;
    MHD_stop_daemon(http->daemon);
    free(http);
    app->http = NULL;
}

int rill_app_http_port(const rill_app_t *app) {
    return app && app->http ? app->http->port : 0;
}
