/*
 * test_http_bridge.c — the HTTP bridge thread against a small HTTP/1.1 server that runs in
 * the test itself on 127.0.0.1 (an ephemeral port, one thread per connection, keep-alive,
 * every wait bounded): replies, Retry-After, timeouts, X-Amz-Function-Error, the in-flight
 * cap, connection reuse, shutdown, and SigV4 signatures checked against an independent
 * implementation (OpenSSL) that itself is checked against the AWS SigV4 test suite.
 */
#include "bridge_int.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void hex(const unsigned char *p, size_t len, char *out) {
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);
    hex(md, sizeof(md), out);
}

/* ---------------------------------------------------------------------------------------- */
/* The in-test HTTP server                                                                  */

#define SRV_MAX_CONNS 64
#define SRV_MAX_HEADERS 32
#define SRV_BUF (3 * 1024 * 1024)

typedef struct srv_req_s {
    char method[16];
    char target[512];
    char names[SRV_MAX_HEADERS][64];
    char values[SRV_MAX_HEADERS][1024];
    int header_cnt;
    char body[4096];   /* the body's first bytes, NUL-terminated */
    size_t body_len;   /* the whole body's length */
    char body_sha[65]; /* SHA-256 of the whole body, hex */
} srv_req_t;

typedef struct server_s {
    int fd;
    int port;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    pthread_t conns[SRV_MAX_CONNS];
    int conn_fds[SRV_MAX_CONNS];
    int conn_cnt;
    int stop;       /* atomic */
    int accepted;   /* atomic */
    int requests;   /* atomic */
    int busy;       /* atomic: /work requests being served */
    int busy_max;   /* atomic */
    srv_req_t last; /* the last /echo request, under lock */
} server_t;

typedef struct conn_s {
    server_t *srv;
    int fd;
} conn_t;

static int srv_stopping(server_t *srv) {
    return __atomic_load_n(&srv->stop, __ATOMIC_RELAXED);
}

/* Waits up to ms for fd to be readable. 1 readable, 0 not yet, -1 stop. */
static int srv_wait(server_t *srv, int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, ms);

    if (srv_stopping(srv))
        return -1;
    return rc > 0 ? 1 : 0;
}

static int srv_send(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends a whole response in one write (two would meet Nagle and delayed ACKs). */
static int srv_reply(int fd, int status, const char *reason, const char *extra, const char *body) {
    char msg[8192];
    int n = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n%s", status,
                     reason, strlen(body), extra ? extra : "", body);

    return n > 0 && (size_t)n < sizeof(msg) ? srv_send(fd, msg, (size_t)n) : -1;
}

/* Sends a 200 response with a body of len spaces, in chunks (the client may stop reading). */
static int srv_huge(int fd, size_t len) {
    static char chunk[65536];
    char head[128];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);

    memset(chunk, ' ', sizeof(chunk));
    if (srv_send(fd, head, (size_t)n))
        return -1;
    for (size_t sent = 0; sent < len; sent += sizeof(chunk))
        if (srv_send(fd, chunk, len - sent < sizeof(chunk) ? len - sent : sizeof(chunk)))
            return -1;
    return 0;
}

static const char *req_header(const srv_req_t *req, const char *name) {
    for (int i = 0; i < req->header_cnt; i++) {
        if (!strcasecmp(req->names[i], name))
            return req->values[i];
    }
    return NULL;
}

/* Parses a request head (NUL-terminated, ending in CRLF CRLF) into req. */
static int parse_head(char *head, srv_req_t *req) {
    char *line, *save = NULL;

    memset(req, 0, sizeof(*req));
    line = strtok_r(head, "\r\n", &save);
    if (!line || sscanf(line, "%15s %511s", req->method, req->target) != 2)
        return -1;
    while ((line = strtok_r(NULL, "\r\n", &save)) && req->header_cnt < SRV_MAX_HEADERS) {
        char *colon = strchr(line, ':'), *v;
        if (!colon)
            continue;
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        snprintf(req->names[req->header_cnt], sizeof(req->names[0]), "%s", line);
        snprintf(req->values[req->header_cnt], sizeof(req->values[0]), "%s", v);
        req->header_cnt++;
    }
    return 0;
}

static void http_date(time_t when, char *out, size_t size) {
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Answers one request according to its path. Returns -1 to drop the connection. */
static int srv_route(server_t *srv, int fd, const srv_req_t *req) {
    char extra[256], reply[4200];
    const char *path = req->target;

    __atomic_add_fetch(&srv->requests, 1, __ATOMIC_RELAXED);
    if (!strcmp(path, "/ok")) {
        snprintf(reply, sizeof(reply), "ok:%s", req->body);
        return srv_reply(fd, 200, "OK", "Content-Type: text/plain\r\n", reply);
    }
    if (!strncmp(path, "/echo", 5) || !strncmp(path, "/2015-03-31/", 12)) {
        pthread_mutex_lock(&srv->lock);
        srv->last = *req;
        pthread_mutex_unlock(&srv->lock);
        snprintf(reply, sizeof(reply), "%s", req->body);
        return srv_reply(fd, 200, "OK", "Content-Type: application/json\r\n", reply);
    }
    if (!strcmp(path, "/huge"))
        return srv_huge(fd, (size_t)7 << 20);
    if (!strcmp(path, "/busy"))
        return srv_reply(fd, 503, "Service Unavailable", "Retry-After: 2\r\n", "busy");
    if (!strcmp(path, "/busy-date")) {
        char date[64];
        http_date(time(NULL) + 10, date, sizeof(date));
        snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", date);
        return srv_reply(fd, 503, "Service Unavailable", extra, "busy");
    }
    if (!strcmp(path, "/timed")) /* a function reporting its own time, after another metric */
        return srv_reply(fd, 200, "OK",
                         "Server-Timing: queue;desc=\"wait\", fn;dur=12.5\r\n"
                         "Content-Type: application/json\r\n",
                         "{}");
    if (!strcmp(path, "/timed-bad"))
        return srv_reply(fd, 200, "OK", "Server-Timing: fn;dur=soon\r\n", "{}");
    if (!strcmp(path, "/fnerr"))
        return srv_reply(fd, 200, "OK",
                         "X-Amz-Function-Error: Unhandled\r\nContent-Type: application/json\r\n",
                         "{\"errorMessage\":\"boom\"}");
    if (!strcmp(path, "/slow")) {
        /* Answer after 3 s, or give up when the client goes away or the server stops. */
        for (int i = 0; i < 30; i++) {
            char c;
            int rc = srv_wait(srv, fd, 100);
            if (rc < 0 || (rc > 0 && recv(fd, &c, 1, MSG_PEEK) <= 0))
                return -1;
        }
        return srv_reply(fd, 200, "OK", NULL, "late");
    }
    if (!strcmp(path, "/work")) {
        int busy = __atomic_add_fetch(&srv->busy, 1, __ATOMIC_RELAXED);
        int max = __atomic_load_n(&srv->busy_max, __ATOMIC_RELAXED);
        while (busy > max && !__atomic_compare_exchange_n(&srv->busy_max, &max, busy, false,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        usleep(20 * 1000);
        __atomic_sub_fetch(&srv->busy, 1, __ATOMIC_RELAXED);
        snprintf(reply, sizeof(reply), "done:%s", req->body);
        return srv_reply(fd, 200, "OK", NULL, reply);
    }
    return srv_reply(fd, 404, "Not Found", NULL, "no such path");
}

/* Serves requests on one keep-alive connection until it closes or the server stops. */
static void *srv_conn(void *arg) {
    conn_t *conn = arg;
    server_t *srv = conn->srv;
    char *buf = malloc(SRV_BUF);
    size_t have = 0;
    srv_req_t *req = malloc(sizeof(*req));

    while (buf && req) {
        char *end;
        size_t head_len, need;
        const char *cl, *expect;

        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end) {
            ssize_t n;
            int rc = srv_wait(srv, conn->fd, 100);
            if (rc < 0)
                break;
            if (rc == 0)
                continue;
            n = recv(conn->fd, buf + have, SRV_BUF - 1 - have, 0);
            if (n <= 0)
                break;
            have += (size_t)n;
            continue;
        }
        head_len = (size_t)(end - buf) + 4;
        end[2] = '\0';
        if (parse_head(buf, req))
            break;
        cl = req_header(req, "Content-Length");
        need = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
        expect = req_header(req, "Expect");
        if (expect && !strcasecmp(expect, "100-continue") && have - head_len < need &&
            srv_send(conn->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
            break;
        if (head_len + need >= SRV_BUF) {
            srv_reply(conn->fd, 413, "Payload Too Large", "Connection: close\r\n", "");
            break;
        }
        while (have - head_len < need) {
            ssize_t n;
            int rc = srv_wait(srv, conn->fd, 100);
            if (rc < 0)
                goto out;
            if (rc == 0)
                continue;
            n = recv(conn->fd, buf + have, SRV_BUF - 1 - have, 0);
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        req->body_len = need;
        memcpy(req->body, buf + head_len, need < sizeof(req->body) ? need : sizeof(req->body) - 1);
        sha256_hex(buf + head_len, need, req->body_sha);
        if (srv_route(srv, conn->fd, req))
            break;
        memmove(buf, buf + head_len + need, have - head_len - need);
        have -= head_len + need;
    }
out:
    free(buf);
    free(req);
    shutdown(conn->fd, SHUT_RDWR);
    free(conn);
    return NULL;
}

static void *srv_accept(void *arg) {
    server_t *srv = arg;

    while (!srv_stopping(srv)) {
        conn_t *conn;
        int fd;

        if (srv_wait(srv, srv->fd, 100) <= 0)
            continue;
        fd = accept(srv->fd, NULL, NULL);
        if (fd < 0)
            continue;
        __atomic_add_fetch(&srv->accepted, 1, __ATOMIC_RELAXED);
        pthread_mutex_lock(&srv->lock);
        if (srv->conn_cnt == SRV_MAX_CONNS || !(conn = malloc(sizeof(*conn)))) {
            pthread_mutex_unlock(&srv->lock);
            close(fd);
            continue;
        }
        conn->srv = srv;
        conn->fd = fd;
        srv->conn_fds[srv->conn_cnt] = fd;
        if (pthread_create(&srv->conns[srv->conn_cnt], NULL, srv_conn, conn)) {
            free(conn);
            close(fd);
        } else {
            srv->conn_cnt++;
        }
        pthread_mutex_unlock(&srv->lock);
    }
    return NULL;
}

static void server_start(server_t *srv) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    memset(srv, 0, sizeof(*srv));
    pthread_mutex_init(&srv->lock, NULL);
    srv->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(srv->fd, 0);
    cr_assert_eq(bind(srv->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(srv->fd, 128), 0);
    cr_assert_eq(getsockname(srv->fd, (struct sockaddr *)&addr, &len), 0);
    srv->port = ntohs(addr.sin_port);
    cr_assert_eq(pthread_create(&srv->accept_thread, NULL, srv_accept, srv), 0);
}

static void server_stop(server_t *srv) {
    __atomic_store_n(&srv->stop, 1, __ATOMIC_RELAXED);
    pthread_join(srv->accept_thread, NULL);
    for (int i = 0; i < srv->conn_cnt; i++) {
        pthread_join(srv->conns[i], NULL);
        close(srv->conn_fds[i]);
    }
    close(srv->fd);
    pthread_mutex_destroy(&srv->lock);
}

/* ---------------------------------------------------------------------------------------- */
/* A stream thread's side: a wake-up that counts, and collecting completions                */

typedef struct waker_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long count;
} waker_t;

static void waker_wake(void *opaque) {
    waker_t *w = opaque;

    pthread_mutex_lock(&w->lock);
    w->count++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static long waker_count(waker_t *w) {
    long n;

    pthread_mutex_lock(&w->lock);
    n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Takes completions until want have come or timeout_ms passed; sleeps only on the waker. */
static int collect(rill__http_cq_t *cq, waker_t *w, rill__http_done_t **out, int want,
                   int timeout_ms) {
    struct timespec deadline;
    int got = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (got < want) {
        long seen = waker_count(w);
        int timed_out = 0;

        for (rill__http_done_t *d = rill__http_cq_take(cq), *next; d; d = next) {
            next = d->next;
            d->next = NULL;
            cr_assert_lt(got, want, "more completions than requests");
            out[got++] = d;
        }
        if (got >= want)
            break;
        pthread_mutex_lock(&w->lock);
        while (w->count == seen && !timed_out)
            timed_out = pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT;
        pthread_mutex_unlock(&w->lock);
        if (timed_out && w->count == seen)
            break;
    }
    return got;
}

typedef struct env_s {
    server_t srv;
    waker_t waker;
    rill__http_t *http;
    rill__http_cq_t *cq;
    char url[256];
} env_t;

static env_t env;

static void env_open(int max_in_flight, int max_connections) {
    char errstr[256];

    server_start(&env.srv);
    pthread_mutex_init(&env.waker.lock, NULL);
    pthread_cond_init(&env.waker.cond, NULL);
    env.waker.count = 0;
    env.http = rill__http_new(max_in_flight, max_connections, errstr, sizeof(errstr));
    cr_assert_not_null(env.http, "%s", errstr);
    env.cq = rill__http_cq_new(waker_wake, &env.waker);
    cr_assert_not_null(env.cq);
}

static void env_setup(void) {
    env_open(8, 8);
}

static void env_teardown(void) {
    rill__http_destroy(env.http);
    rill__http_cq_destroy(env.cq);
    server_stop(&env.srv);
    pthread_cond_destroy(&env.waker.cond);
    pthread_mutex_destroy(&env.waker.lock);
}

/* Writes the server's URL for path into buf. */
static const char *url_into(char *buf, size_t size, const char *path) {
    snprintf(buf, size, "http://127.0.0.1:%d%s", env.srv.port, path);
    return buf;
}

/* The same in one shared buffer: requests in flight together must then share their path,
 * and it is formatted once, before the first of them is submitted (the bridge reads req->url
 * on its own thread, at any time until the completion: rewriting the buffer meanwhile, even
 * with the same text, races with it). */
static const char *url(const char *path) {
    return url_into(env.url, sizeof(env.url), path);
}

/* Submits one request and waits for its completion (which the caller frees). */
static rill__http_done_t *roundtrip(rill__http_req_t *req) {
    rill__http_done_t *done = NULL;

    cr_assert_eq(rill__http_submit(env.http, req, env.cq, req), 0);
    cr_assert_eq(collect(env.cq, &env.waker, &done, 1, 10000), 1, "no completion");
    cr_assert_eq(done->req, req);
    cr_assert_eq(done->opaque, req);
    return done;
}

/* ---------------------------------------------------------------------------------------- */
/* Replies                                                                                  */

Test(faas_bridge_http_bridge, returns_status_and_body_when_server_replies_200, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    static const char *const hdrs[] = {"Content-Type: text/plain", NULL};
    rill__http_req_t req = {.url = url("/ok"),
                            .headers = hdrs,
                            .body = "hi",
                            .body_len = 2,
                            .timeout_ms = 5000,
                            .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, 0, "%s", done->resp.error);
    cr_assert_eq(done->resp.status, 200);
    cr_assert_eq(done->resp.body_len, 5);
    cr_assert_str_eq(done->resp.body, "ok:hi");
    cr_assert_str_eq(done->resp.content_type, "text/plain");
    cr_assert_eq(done->resp.retry_after_ms, -1);
    cr_assert_str_eq(done->resp.function_error, "");
    cr_assert_gt(done->resp.total_ms, 0.0);
    cr_assert_geq(waker_count(&env.waker), 1, "the completion woke the submitter");
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, captures_retry_after_seconds_when_server_replies_503,
     .init = env_setup, .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = url("/busy"), .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, 0, "%s", done->resp.error);
    cr_assert_eq(done->resp.status, 503);
    cr_assert_eq(done->resp.retry_after_ms, 2000);
    cr_assert_str_eq(done->resp.body, "busy");
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, captures_retry_after_date_when_server_sends_http_date,
     .init = env_setup, .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = url("/busy-date"), .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.status, 503);
    cr_assert_geq(done->resp.retry_after_ms, 8000, "got %ld", done->resp.retry_after_ms);
    cr_assert_leq(done->resp.retry_after_ms, 11000, "got %ld", done->resp.retry_after_ms);
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, reports_timeout_when_server_is_slower_than_timeout, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = url("/slow"), .timeout_ms = 300, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, CURLE_OPERATION_TIMEDOUT, "got %d: %s", done->resp.curl_code,
                 done->resp.error);
    cr_assert_neq(done->resp.error[0], '\0');
    cr_assert_eq(done->resp.status, 0);
    cr_assert_geq(done->resp.total_ms, 250.0);
    cr_assert_lt(done->resp.total_ms, 2500.0);
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, captures_function_error_when_lambda_reports_one, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {
        .url = url("/fnerr"), .body = "{}", .body_len = 2, .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.status, 200);
    cr_assert_str_eq(done->resp.function_error, "Unhandled");
    cr_assert_str_eq(done->resp.content_type, "application/json");
    cr_assert_str_eq(done->resp.body, "{\"errorMessage\":\"boom\"}");
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, captures_function_duration_when_server_timing_reports_one,
     .init = env_setup, .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = url("/timed"), .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.status, 200);
    cr_assert_float_eq(done->resp.fn_ms, 12.5, 1e-9, "got %f", done->resp.fn_ms);
    rill__http_done_free(done);
    req.url = url("/timed-bad");
    done = roundtrip(&req);
    cr_assert_eq(done->resp.status, 200);
    cr_assert_eq(done->resp.fn_ms, -1, "a dur that is not a number: none, got %f",
                 done->resp.fn_ms);
    rill__http_done_free(done);
    req.url = url("/ok");
    done = roundtrip(&req);
    cr_assert_eq(done->resp.fn_ms, -1, "no Server-Timing: none, got %f", done->resp.fn_ms);
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, reports_connect_error_when_nobody_listens, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char where[64];
    rill__http_req_t req = {.url = where, .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done;

    /* A port that was just free and has no listener. */
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(where, sizeof(where), "http://127.0.0.1:%d/ok", ntohs(addr.sin_port));
    done = roundtrip(&req);
    close(fd);
    cr_assert_eq(done->resp.curl_code, CURLE_COULDNT_CONNECT, "got %d: %s", done->resp.curl_code,
                 done->resp.error);
    cr_assert_eq(done->resp.status, 0);
    rill__http_done_free(done);
}

/* ---------------------------------------------------------------------------------------- */
/* What the bridge refuses                                                                  */

Test(faas_bridge_http_bridge, fails_naming_limit_when_response_body_exceeds_default_6_mib,
     .init = env_setup, .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = url("/huge"), .timeout_ms = 10000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, CURLE_WRITE_ERROR, "got %d: %s", done->resp.curl_code,
                 done->resp.error);
    cr_assert(strstr(done->resp.error, "larger than 6291456 bytes") &&
                  strstr(done->resp.error, "max_response_bytes"),
              "%s", done->resp.error);
    cr_assert_leq(done->resp.body_len, (size_t)6 << 20);
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, reads_nothing_when_url_scheme_is_file, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    rill__http_req_t req = {.url = "file:///etc/hostname", .timeout_ms = 5000, .verify_tls = true};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, CURLE_UNSUPPORTED_PROTOCOL, "got %d: %s",
                 done->resp.curl_code, done->resp.error);
    cr_assert_eq(done->resp.body_len, 0, "read %zu bytes of a local file", done->resp.body_len);
    rill__http_done_free(done);
}

Test(faas_bridge_http_bridge, sends_no_credentials_when_url_is_plain_http_to_a_remote_host,
     .init = env_setup, .fini = env_teardown, .timeout = 30) {
    /* 192.0.2.1 (TEST-NET-1) is never reached: the request fails before any connection. */
    rill__http_req_t req = {.url = "http://192.0.2.1/2015-03-31/functions/f/invocations",
                            .timeout_ms = 5000,
                            .verify_tls = true,
                            .aws_sigv4 = "aws:amz:us-east-1:lambda",
                            .aws_userpwd = "AKID:SECRET",
                            .aws_session_token = "TOKEN"};
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, CURLE_LOGIN_DENIED, "got %d: %s", done->resp.curl_code,
                 done->resp.error);
    cr_assert(strstr(done->resp.error, "https only"), "%s", done->resp.error);
    rill__http_done_free(done);
}

/* ---------------------------------------------------------------------------------------- */
/* Concurrency, reuse, shutdown                                                             */

#define MANY 100

Test(faas_bridge_http_bridge, completes_all_and_reuses_connections_when_requests_exceed_cap,
     .init = env_setup, .fini = env_teardown, .timeout = 60) {
    static rill__http_req_t reqs[MANY];
    static char bodies[MANY][16];
    static rill__http_done_t *dones[MANY];
    bool seen[MANY] = {false};
    long connects = 0;
    int got;

    const char *work = url("/work");
    for (int i = 0; i < MANY; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "%d", i);
        reqs[i] = (rill__http_req_t){.url = work,
                                     .body = bodies[i],
                                     .body_len = strlen(bodies[i]),
                                     .timeout_ms = 20000,
                                     .verify_tls = true};
        cr_assert_eq(rill__http_submit(env.http, &reqs[i], env.cq, &reqs[i]), 0);
        cr_assert_leq(rill__http_in_flight(env.http), 8);
    }
    got = collect(env.cq, &env.waker, dones, MANY, 30000);
    cr_assert_eq(got, MANY, "only %d of %d completed", got, MANY);
    for (int i = 0; i < MANY; i++) {
        rill__http_done_t *d = dones[i];
        int idx = (int)((const rill__http_req_t *)d->opaque - reqs);
        char want[32];

        cr_assert_eq(d->resp.curl_code, 0, "%s", d->resp.error);
        cr_assert_eq(d->resp.status, 200);
        cr_assert(idx >= 0 && idx < MANY && !seen[idx]);
        seen[idx] = true;
        snprintf(want, sizeof(want), "done:%d", idx);
        cr_assert_str_eq(d->resp.body, want);
        cr_assert(d->resp.connects == 0 || d->resp.connects == 1, "%ld", d->resp.connects);
        connects += d->resp.connects;
        rill__http_done_free(d);
    }
    cr_assert_leq(__atomic_load_n(&env.srv.busy_max, __ATOMIC_RELAXED), 8,
                  "the process-wide cap held");
    cr_assert_leq(__atomic_load_n(&env.srv.accepted, __ATOMIC_RELAXED), 8,
                  "connections were reused (%d accepted for %d requests)",
                  __atomic_load_n(&env.srv.accepted, __ATOMIC_RELAXED), MANY);
    cr_assert_eq(connects, __atomic_load_n(&env.srv.accepted, __ATOMIC_RELAXED),
                 "each connection the server accepted is counted once");
    cr_assert_eq(rill__http_connects(env.http), (uint64_t)connects);
    cr_assert_eq(rill__http_in_flight(env.http), 0);
    cr_assert_eq(rill__http_completed(env.http), MANY);
    cr_assert_geq(waker_count(&env.waker), 1);
    cr_assert_leq(waker_count(&env.waker), MANY, "wake-ups are coalesced, never extra");
}

Test(faas_bridge_http_bridge, runs_queued_requests_in_submit_order_when_cap_is_one, .init = NULL,
     .fini = env_teardown, .timeout = 30) {
    rill__http_req_t reqs[5];
    char bodies[5][8];
    rill__http_done_t *dones[5];

    env_open(1, 1);
    const char *work = url("/work");
    for (int i = 0; i < 5; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "%d", i);
        reqs[i] = (rill__http_req_t){
            .url = work, .body = bodies[i], .body_len = 1, .timeout_ms = 10000, .verify_tls = true};
        cr_assert_eq(rill__http_submit(env.http, &reqs[i], env.cq, NULL), 0);
    }
    cr_assert_eq(collect(env.cq, &env.waker, dones, 5, 10000), 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(dones[i]->req, &reqs[i], "completion %d out of order", i);
        rill__http_done_free(dones[i]);
    }
    cr_assert_eq(__atomic_load_n(&env.srv.accepted, __ATOMIC_RELAXED), 1);
}

Test(faas_bridge_http_bridge, serves_others_meanwhile_when_first_request_is_slow, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    char slow_url[128], fast_url[128];
    rill__http_req_t slow = {.url = url_into(slow_url, sizeof(slow_url), "/slow"),
                             .timeout_ms = 10000,
                             .verify_tls = true};
    rill__http_req_t fast[3];
    rill__http_done_t *dones[4];
    int got;

    /* On a fresh host, no transfer may wait for the first one's response (cleartext HTTP/1.1
     * cannot multiplex, so waiting to find out would serialise everything behind it). */
    cr_assert_eq(rill__http_submit(env.http, &slow, env.cq, NULL), 0);
    for (int i = 0; i < 3; i++) {
        fast[i] = (rill__http_req_t){.url = url_into(fast_url, sizeof(fast_url), "/ok"),
                                     .timeout_ms = 10000,
                                     .verify_tls = true};
        cr_assert_eq(rill__http_submit(env.http, &fast[i], env.cq, NULL), 0);
    }
    got = collect(env.cq, &env.waker, dones, 4, 1500);
    cr_assert_eq(got, 3, "%d calls completed in 1.5 s, not the 3 fast ones", got);
    for (int i = 0; i < 3; i++) {
        cr_assert_neq(dones[i]->req, &slow);
        cr_assert_eq(dones[i]->resp.status, 200);
        rill__http_done_free(dones[i]);
    }
    cr_assert_eq(collect(env.cq, &env.waker, dones, 1, 10000), 1);
    cr_assert_eq(dones[0]->req, &slow);
    cr_assert_eq(dones[0]->resp.status, 200);
    rill__http_done_free(dones[0]);
}

Test(faas_bridge_http_bridge, aborts_requests_when_bridge_is_destroyed, .init = env_setup,
     .fini = NULL, .timeout = 30) {
    rill__http_req_t reqs[3];
    rill__http_done_t *dones[3];
    struct timespec t0, t1;
    double ms;

    const char *slow = url("/slow");
    for (int i = 0; i < 3; i++) {
        reqs[i] = (rill__http_req_t){.url = slow, .timeout_ms = 20000, .verify_tls = true};
        cr_assert_eq(rill__http_submit(env.http, &reqs[i], env.cq, NULL), 0);
    }
    for (int i = 0; i < 200 && __atomic_load_n(&env.srv.requests, __ATOMIC_RELAXED) < 3; i++)
        usleep(10 * 1000);
    cr_assert_eq(__atomic_load_n(&env.srv.requests, __ATOMIC_RELAXED), 3,
                 "all three reached the server at once");
    cr_assert_eq(rill__http_in_flight(env.http), 3);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rill__http_destroy(env.http);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert_lt(ms, 1500.0, "destroy took %.0f ms", ms);
    cr_assert_eq(collect(env.cq, &env.waker, dones, 3, 1000), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(dones[i]->resp.curl_code, CURLE_ABORTED_BY_CALLBACK);
        cr_assert_neq(dones[i]->resp.error[0], '\0');
        rill__http_done_free(dones[i]);
    }
    rill__http_cq_destroy(env.cq);
    server_stop(&env.srv);
}

Test(faas_bridge_http_bridge, refuses_to_start_when_limits_are_not_positive) {
    char errstr[256] = "";

    cr_assert_null(rill__http_new(0, 4, errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "max in-flight"));
    cr_assert_null(rill__http_new(4, 0, errstr, sizeof(errstr)));
}

/* ---------------------------------------------------------------------------------------- */
/* SigV4: an independent implementation, checked against the AWS test suite, then used to  */
/* check what libcurl signs                                                                 */

static void hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32]) {
    unsigned int out_len = 32;

    cr_assert_not_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
                            strlen(msg), out, &out_len));
}

/* Signature = HMAC(signing key, string to sign), per the SigV4 algorithm. Also returns the
 * hash of the canonical request (the string to sign's last line) in cr_hash. */
static void sigv4_sign(const char *secret, const char *amz_date, const char *region,
                       const char *service, const char *canonical_request, char cr_hash[65],
                       char sig[65]) {
    char key[256], scope[128], sts[512], date[9];
    unsigned char k[32], out[32];

    snprintf(date, sizeof(date), "%.8s", amz_date);
    snprintf(key, sizeof(key), "AWS4%s", secret);
    hmac(key, strlen(key), date, k);
    hmac(k, 32, region, k);
    hmac(k, 32, service, k);
    hmac(k, 32, "aws4_request", k);
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
    sha256_hex(canonical_request, strlen(canonical_request), cr_hash);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, cr_hash);
    hmac(k, 32, sts, out);
    hex(out, 32, sig);
}

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

Test(faas_bridge_http_bridge, reference_signer_matches_aws_suite_when_given_vanilla_requests) {
    char cr_hash[65], sig[65];

    /* aws-sig-v4-test-suite/post-vanilla */
    sigv4_sign(SUITE_SECRET, "20150830T123600Z", "us-east-1", "service",
               "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
               "host;x-amz-date\n" EMPTY_SHA256,
               cr_hash, sig);
    cr_assert_str_eq(cr_hash, "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
    cr_assert_str_eq(sig, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    /* aws-sig-v4-test-suite/get-vanilla */
    sigv4_sign(SUITE_SECRET, "20150830T123600Z", "us-east-1", "service",
               "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
               "host;x-amz-date\n" EMPTY_SHA256,
               cr_hash, sig);
    cr_assert_str_eq(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* Appends "name:value\n" with the value trimmed and inner runs of spaces collapsed. */
static void canonical_header(char *out, size_t size, const char *name, const char *value) {
    size_t n = strlen(out);
    bool space = false;

    n += (size_t)snprintf(out + n, size - n, "%s:", name);
    while (*value == ' ')
        value++;
    for (; *value && n + 2 < size; value++) {
        if (*value == ' ') {
            space = true;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = *value;
    }
    out[n++] = '\n';
    out[n] = '\0';
}

/* Checks the signature of the request the server captured last, sent with body, against
 * the reference signer (SigV4 for us-east-1/lambda with the test suite's secret). */
static void check_sigv4(const char *body, size_t body_len) {
    srv_req_t *got = malloc(sizeof(*got));
    const char *authz, *amz_date;
    char credential[128], signed_headers[256], signature[65], canonical[4096], body_hash[65];
    char want_scope[128], cr_hash[65], want_sig[65], today[9], names[256], *save = NULL;
    char *path, *query;
    time_t now = time(NULL);
    struct tm tm;

    cr_assert_not_null(got);
    pthread_mutex_lock(&env.srv.lock);
    *got = env.srv.last;
    pthread_mutex_unlock(&env.srv.lock);

    /* What reached the server. */
    sha256_hex(body, body_len, body_hash);
    cr_assert_str_eq(got->method, "POST");
    cr_assert_eq(got->body_len, body_len);
    cr_assert_str_eq(got->body_sha, body_hash, "the body arrived intact");
    cr_assert_str_eq(req_header(got, "x-amz-security-token"), "session-token-123");
    authz = req_header(got, "Authorization");
    amz_date = req_header(got, "X-Amz-Date");
    cr_assert_not_null(authz);
    cr_assert_not_null(amz_date);
    cr_assert_eq(sscanf(authz,
                        "AWS4-HMAC-SHA256 Credential=%127[^,], SignedHeaders=%255[^,], "
                        "Signature=%64s",
                        credential, signed_headers, signature),
                 3, "Authorization: %s", authz);

    /* The scope names today's date, the region and lambda. */
    cr_assert_eq(strlen(amz_date), 16);
    gmtime_r(&now, &tm);
    strftime(today, sizeof(today), "%Y%m%d", &tm);
    cr_assert_eq(strncmp(today, amz_date, 8), 0, "X-Amz-Date %s is today", amz_date);
    snprintf(want_scope, sizeof(want_scope), "AKIDEXAMPLE/%.8s/us-east-1/lambda/aws4_request",
             amz_date);
    cr_assert_str_eq(credential, want_scope);
    cr_assert_not_null(strstr(signed_headers, "host"));
    cr_assert_not_null(strstr(signed_headers, "x-amz-date"));
    cr_assert_not_null(strstr(signed_headers, "x-amz-security-token"));
    cr_assert_not_null(strstr(signed_headers, "content-type"));

    /* Rebuild the canonical request from what was received and sign it ourselves. */
    path = got->target;
    query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    snprintf(canonical, sizeof(canonical), "POST\n%s\n%s\n", path, query ? query : "");
    snprintf(names, sizeof(names), "%s", signed_headers);
    for (char *name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
        const char *value = req_header(got, name);
        cr_assert_not_null(value, "signed header %s was not sent", name);
        canonical_header(canonical, sizeof(canonical), name, value);
    }
    snprintf(canonical + strlen(canonical), sizeof(canonical) - strlen(canonical), "\n%s\n%s",
             signed_headers, body_hash);
    sigv4_sign(SUITE_SECRET, amz_date, "us-east-1", "lambda", canonical, cr_hash, want_sig);
    cr_assert_str_eq(signature, want_sig, "canonical request:\n%s", canonical);
    free(got);
}

static rill__http_req_t lambda_req(const char *const *hdrs, const char *body, size_t len) {
    return (rill__http_req_t){.url = url("/2015-03-31/functions/my-fn/invocations?Qualifier=live"),
                              .headers = hdrs,
                              .body = body,
                              .body_len = len,
                              .timeout_ms = 10000,
                              .aws_sigv4 = "aws:amz:us-east-1:lambda",
                              .aws_userpwd = "AKIDEXAMPLE:" SUITE_SECRET,
                              .aws_session_token = "session-token-123",
                              .verify_tls = true};
}

Test(faas_bridge_http_bridge, signs_request_verifiably_when_sigv4_is_set, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    /* "Expect:" (remove the header) is what a stage adds to skip 100-continue; libcurl 7.88
     * would sign it without sending it, so the bridge must drop it from signed requests. */
    static const char *const hdrs[] = {"Content-Type: application/json", "Expect:", NULL};
    const char *body = "{\"eventSource\":\"SelfManagedKafka\",\"records\":{}}";
    rill__http_req_t req = lambda_req(hdrs, body, strlen(body));
    rill__http_done_t *done = roundtrip(&req);

    cr_assert_eq(done->resp.curl_code, 0, "%s", done->resp.error);
    cr_assert_eq(done->resp.status, 200);
    rill__http_done_free(done);
    check_sigv4(body, strlen(body));
}

Test(faas_bridge_http_bridge, signs_request_verifiably_when_body_is_large, .init = env_setup,
     .fini = env_teardown, .timeout = 30) {
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    size_t len = 1536 * 1024;
    char *body = malloc(len);
    rill__http_req_t req;
    rill__http_done_t *done;

    cr_assert_not_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    body[0] = '"';
    body[len - 1] = '"';
    req = lambda_req(hdrs, body, len);
    done = roundtrip(&req);
    cr_assert_eq(done->resp.curl_code, 0, "%s", done->resp.error);
    cr_assert_eq(done->resp.status, 200);
    cr_assert_lt(done->resp.total_ms, 900.0, "no stall waiting for 100-continue");
    rill__http_done_free(done);
    check_sigv4(body, len);
    free(body);
}
