/*
 * http_endpoint.c — the app's HTTP endpoint: GET /metrics (rill_app_metrics(), Prometheus'
 * text format 0.0.4), GET /health (liveness) and GET /ready (readiness), for scrapers and
 * Kubernetes-style probes. Off unless http.listen=host:port is set.
 *
 * DESIGN
 * libmicrohttpd serves the requests on one thread of its own (its internal polling thread),
 * so a slow or stuck client never touches a stream thread, and a stream thread never waits
 * for the endpoint: a request reads only what other threads may read at any time (the
 * counters, the threads' status under its lock, the fatal-error slot under the app lock).
 * Its resources are bounded: at most HTTP_MAX_CONNECTIONS connections at once (more are
 * refused), each closed after HTTP_TIMEOUT_S seconds of silence, and a request body is never
 * read. rill_app_start() starts it last, once the stream threads exist, and
 * rill_app_destroy() stops it before the threads' status goes. It has no authentication and
 * no TLS: it listens only where http.listen says, which should be loopback or a pod network.
 *
 * /health answers 200 "ok" while the app runs its threads, 503 with the reason once a fatal
 * error (or a stop) ended them. /ready answers 200 "ready" when every stream thread holds an
 * assignment and no task is restoring its state, else 503 with the first reason found.
 */
#include "engine_int.h"

#include <microhttpd.h>
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

/* Queues a response of status with body (copied) and content type. */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                               size_t len, const char *type) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A one-line plain text answer. */
static enum MHD_Result respond_line(struct MHD_Connection *conn, unsigned status,
                                    const char *text) {
    char line[600];
    int n = snprintf(line, sizeof(line), "%s\n", text);
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    return respond(conn, status, line, len, "text/plain; charset=utf-8");
}

static enum MHD_Result serve_metrics(rill_app_t *app, struct MHD_Connection *conn) {
    rill_buf_t buf = {0};
    enum MHD_Result ret;
    if (rill_app_metrics(app, &buf))
        ret = respond_line(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        ret = respond(conn, MHD_HTTP_OK, buf.data ? buf.data : "", buf.len,
                      METRICS_CONTENT_TYPE);
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
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
    return respond_line(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /health or /ready");
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
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port_s, &hints, &res);
    if (rc || !res) {
        snprintf(errstr, errstr_size, "http.listen=%s: cannot resolve \"%s\": %s", listen,
                 host, rc ? gai_strerror(rc) : "no address");
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, app, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(errstr, errstr_size, "http.listen=%s: cannot listen there (address in use, "
                 "or not an address of this host?)", listen);
        free(http);
        return RILL_ERR_INVALID_ARG;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? (int)info->port : 0;
    app->http = http;
    rill__log(app, -1, "HTTP endpoint on %s, port %d: GET /metrics, /health, /ready (no "
              "authentication)", listen, http->port);
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
