/*
 * rt_faas.c — helpers of the FaaS bridge's integration tests (see rt_faas.h): function
 * runtimes per test, an HTTP client for their control endpoints, rill_faas_app as a process,
 * the transform reference and the test inputs (poison records among them), the
 * record-by-record order check, a reader noting when outputs arrive, metrics from the app's
 * log, and a process's memory, CPU and runnable time. One run of the app, from its topics to
 * the checks of its output, is rt_faas_run.c's.
 *
 * DESIGN
 * Each test starts the function runtimes it needs itself, on ports it picks, so that fault
 * settings, pauses and statistics of one test never leak into another (and a concurrent run
 * of the suite elsewhere on the machine does not interfere): faas_bridge/functions is found
 * from RILL_SOURCE_DIR or, failing that, from this file's own path. The HTTP client is a
 * plain socket with Connection: close, enough for the small JSON answers of /control and
 * /stats. The order check works on values, not keys: every output of `transform` names its
 * input's number, so it can be traced to its input record even when many records share a
 * key. The arrival reader (rt_tail_*) is the one helper with a thread: it owns its client
 * and its list, which the test's thread reads under the list's lock.
 */
#define _GNU_SOURCE /* asprintf */
#include "rt_faas.h"
#include "rt_marker.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FN_START_MS 30000
#define LAMBDA_START_MS 60000
#define MAX_ARGS 80

/* ---------------------------------------------------------------------------------------- */
/* HTTP                                                                                      */

int rt_http(int port, const char *method, const char *path, const char *body, char *reply,
            size_t reply_size, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(reply, reply_size, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        snprintf(reply, reply_size, "connect to port %d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    size_t body_len = body ? strlen(body) : 0;
    char *req = rt_asprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            method, path, port, body_len, body ? body : "");
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            snprintf(reply, reply_size, "send: %s", w ? strerror(errno) : "closed");
            free(req);
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    free(req);
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    int64_t deadline = rt_now_ms() + timeout_ms;
    for (;;) {
        if (got + 1 == cap && !(buf = realloc(buf, cap *= 2)))
            abort();
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR && rt_now_ms() < deadline)
            continue;
        if (r < 0) {
            snprintf(reply, reply_size, "no complete answer from port %d in %d ms: %s", port,
                     timeout_ms, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        break;
    }
    close(fd);
    buf[got] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
        snprintf(reply, reply_size, "not an HTTP answer: %.100s", buf);
        free(buf);
        return -1;
    }
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(reply, reply_size, "%s", b ? b + 4 : "");
    free(buf);
    return status;
}

int64_t rt_json_number(const char *json, const char *within, const char *name) {
    if (!json)
        return -1;
    if (within) {
        char *w = rt_asprintf("\"%s\":", within);
        json = strstr(json, w);
        free(w);
        if (!json)
            return -1;
    }
    char *needle = rt_asprintf("\"%s\":", name);
    const char *p = strstr(json, needle);
    size_t nl = strlen(needle);
    free(needle);
    if (!p)
        return -1;
    return strtoll(p + nl, NULL, 10);
}

/* ---------------------------------------------------------------------------------------- */
/* Function runtimes                                                                         */

/* faas_bridge/functions of the source tree. The caller frees it. */
static char *functions_dir(void) {
    const char *src = getenv("RILL_SOURCE_DIR");
    char *dir;
    if (src && *src) {
        dir = rt_asprintf("%s/faas_bridge/functions", src);
    } else {
        /* This file is <root>/tests/support/rt_faas.c; CMake compiles it by absolute path. */
        const char *self = __FILE__, *tail = strstr(self, "/tests/support/rt_faas.c");
        if (self[0] != '/' || !tail)
            cr_assert_fail("cannot find the source tree: set RILL_SOURCE_DIR");
        dir = rt_asprintf("%.*s/faas_bridge/functions", (int)(tail - self), self);
    }
    char *probe = rt_asprintf("%s/node_modules/.bin/functions-framework", dir);
    if (access(probe, R_OK))
        cr_assert_fail("%s is missing: run scripts/functions.sh start once (it runs npm ci)",
                       probe);
    free(probe);
    return dir;
}

static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A free port in 20000..27999 (below Linux's ephemeral range), a different one each call. */
static int pick_port(void) {
    static unsigned calls;
    for (unsigned tries = 0; tries < 400; tries++) {
        unsigned n = __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
        int port = 20000 + (int)(((unsigned)getpid() * 37u + n * 101u) % 8000u);
        if (port_free(port))
            return port;
    }
    cr_assert_fail("no free port found for a function runtime");
    return -1;
}

/* Waits until fn answers probe (a readiness request) with 200 and a body holding want. */
static void wait_ready(rt_fn_t *fn, const char *method, const char *path, const char *body,
                       const char *want, int timeout_ms) {
    char reply[4096] = "";
    int64_t deadline = rt_now_ms() + timeout_ms;
    while (rt_now_ms() < deadline) {
        int code = rt_wait(fn->pid, 0);
        if (code != -1) {
            rt_log_tail(fn->log, 30);
            cr_assert_fail("function runtime on port %d exited (%d) while starting (log %s)",
                           fn->port, code, fn->log);
        }
        if (rt_http(fn->port, method, path, body, reply, sizeof(reply), 5000) == 200 &&
            strstr(reply, want))
            return;
        rt_sleep_ms(100);
    }
    rt_log_tail(fn->log, 30);
    cr_assert_fail("function runtime on port %d did not answer within %d ms (last: %.200s; "
                   "log %s)",
                   fn->port, timeout_ms, reply, fn->log);
}

void rt_fn_start(rt_fn_t *fn, const char *target, const char *fault_json) {
    memset(fn, 0, sizeof(*fn));
    char *dir = functions_dir();
    fn->port = pick_port();
    snprintf(fn->url, sizeof(fn->url), "http://127.0.0.1:%d/", fn->port);
    char *name = rt_asprintf("fn-%s-%d.log", target, fn->port);
    fn->log = rt_tmp_path(name);
    free(name);
    char *preload = rt_asprintf("%s/listen-host.js", dir);
    char *main_js =
        rt_asprintf("%s/node_modules/@google-cloud/functions-framework/build/src/main.js", dir);
    char *source = rt_asprintf("--source=%s", dir);
    char *target_arg = rt_asprintf("--target=%s", target);
    char *port_arg = rt_asprintf("--port=%d", fn->port);
    char *fault = fault_json ? rt_asprintf("RILL_FAULT=%s", fault_json) : NULL;
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "/usr/bin/env";
    argv[argc++] = "RILL_FUNCTIONS_HOST=127.0.0.1";
    if (fault)
        argv[argc++] = fault;
    argv[argc++] = "node";
    argv[argc++] = "-r";
    argv[argc++] = preload;
    argv[argc++] = main_js;
    argv[argc++] = source;
    argv[argc++] = target_arg;
    argv[argc++] = port_arg;
    argv[argc++] = "--signature-type=http";
    argv[argc] = NULL;
    fn->pid = rt_spawn(argv, fn->log);
    free(dir);
    free(preload);
    free(main_js);
    free(source);
    free(target_arg);
    free(port_arg);
    free(fault);
    char want[64];
    snprintf(want, sizeof(want), "\"target\":\"%s\"", target);
    wait_ready(fn, "GET", "/", NULL, want, FN_START_MS);
}

/* Lines of fn's log that start with prefix. */
static int log_lines(const rt_fn_t *fn, const char *prefix) {
    FILE *fp = fopen(fn->log, "r");
    char line[512];
    int n = 0;
    if (!fp)
        return 0;
    while (fgets(line, sizeof(line), fp))
        n += !strncmp(line, prefix, strlen(prefix));
    fclose(fp);
    return n;
}

/* Starts h2c.js (over TLS with the PEM files cert and key when not NULL); waits until it
 * listens. */
static void start_h2(rt_fn_t *fn, const char *target, int max_streams, const char *fault_json,
                     const char *cert, const char *key) {
    memset(fn, 0, sizeof(*fn));
    char *dir = functions_dir();
    fn->port = pick_port();
    snprintf(fn->url, sizeof(fn->url), "%s://127.0.0.1:%d/", cert ? "https" : "http", fn->port);
    char *name = rt_asprintf("fn-h2%s-%s-%d.log", cert ? "-tls" : "c", target, fn->port);
    fn->log = rt_tmp_path(name);
    free(name);
    char *main_js = rt_asprintf("%s/h2c.js", dir);
    char *target_arg = rt_asprintf("--target=%s", target);
    char *port_arg = rt_asprintf("--port=%d", fn->port);
    char *streams_arg = rt_asprintf("--max-streams=%d", max_streams);
    char *fault = rt_asprintf("RILL_FAULT=%s", fault_json ? fault_json : "{}");
    char *cert_arg = cert ? rt_asprintf("--tls-cert=%s", cert) : NULL;
    char *key_arg = cert ? rt_asprintf("--tls-key=%s", key) : NULL;
    char *argv[] = {"/usr/bin/env", fault,       "node",   main_js, target_arg,
                    port_arg,       streams_arg, cert_arg, key_arg, NULL};
    fn->pid = rt_spawn(argv, fn->log);
    free(fault);
    free(dir);
    free(main_js);
    free(target_arg);
    free(port_arg);
    free(streams_arg);
    free(cert_arg);
    free(key_arg);
    /* Its server speaks HTTP/2 only: it is ready once it has logged that it listens. */
    for (int64_t deadline = rt_now_ms() + FN_START_MS; rt_now_ms() < deadline; rt_sleep_ms(100)) {
        if (log_lines(fn, "h2c.js: target "))
            return;
        if (rt_wait(fn->pid, 0) != -1)
            break;
    }
    rt_log_tail(fn->log, 30);
    cr_assert_fail("h2 function on port %d did not start (log %s)", fn->port, fn->log);
}

void rt_fn_start_h2c(rt_fn_t *fn, const char *target, int max_streams, const char *fault_json) {
    start_h2(fn, target, max_streams, fault_json, NULL, NULL);
}

void rt_fn_start_h2_tls(rt_fn_t *fn, const char *target, int max_streams, const char *fault_json) {
    /* A self-signed certificate for 127.0.0.1, made for this function alone. */
    char *name = rt_asprintf("fn-h2-tls-%d", (int)getpid());
    char *base = rt_tmp_path(name);
    char *cert = rt_asprintf("%s.crt", base), *key = rt_asprintf("%s.key", base);
    char *log = rt_asprintf("%s.openssl.log", base);
    char *argv[] = {
        "/usr/bin/env", "openssl", "req",   "-x509",         "-newkey", "rsa:2048", "-nodes",
        "-days",        "1",       "-subj", "/CN=127.0.0.1", "-keyout", key,        "-out",
        cert,           NULL};
    int rc = rt_wait(rt_spawn(argv, log), 30000);
    if (rc != 0) {
        rt_log_tail(log, 20);
        cr_assert_fail("openssl could not make a test certificate (exit %d, log %s)", rc, log);
    }
    start_h2(fn, target, max_streams, fault_json, cert, key);
    free(name);
    free(base);
    free(cert);
    free(key);
    free(log);
}

int rt_fn_h2c_sessions(const rt_fn_t *fn) {
    return log_lines(fn, "h2c.js: session ");
}

void rt_fn_start_lambda(rt_fn_t *fn, const char *fault_json) {
    memset(fn, 0, sizeof(*fn));
    fn->lambda = true;
    char *dir = functions_dir();
    fn->port = pick_port();
    snprintf(fn->url, sizeof(fn->url), "http://127.0.0.1:%d", fn->port);
    char *name = rt_asprintf("fn-lambda-%d.log", fn->port);
    fn->log = rt_tmp_path(name);
    free(name);
    /* serverless-offline also opens HTTP, websocket and ALB servers: give them free ports. */
    char *lambda_port = rt_asprintf("RILL_FN_LAMBDA_PORT=%d", fn->port);
    char *http_port = rt_asprintf("RILL_FN_LAMBDA_HTTP_PORT=%d", pick_port());
    char *ws_port = rt_asprintf("RILL_FN_LAMBDA_WS_PORT=%d", pick_port());
    char *alb_port = rt_asprintf("RILL_FN_LAMBDA_ALB_PORT=%d", pick_port());
    char *fault = rt_asprintf("RILL_FAULT=%s", fault_json ? fault_json : "{}");
    char *argv[MAX_ARGS];
    int argc = 0;
    /* serverless reads serverless.yml from its working directory. */
    argv[argc++] = "/bin/sh";
    argv[argc++] = "-c";
    argv[argc++] = "cd \"$1\" && shift && exec \"$@\"";
    argv[argc++] = "sh";
    argv[argc++] = dir;
    argv[argc++] = "/usr/bin/env";
    argv[argc++] = "SLS_TELEMETRY_DISABLED=1";
    argv[argc++] = "SLS_NOTIFICATIONS_MODE=off";
    argv[argc++] = "RILL_FUNCTIONS_HOST=127.0.0.1";
    argv[argc++] = lambda_port;
    argv[argc++] = http_port;
    argv[argc++] = ws_port;
    argv[argc++] = alb_port;
    argv[argc++] = fault;
    argv[argc++] = "RILL_FN_LAMBDA_TIMEOUT_S=30";
    argv[argc++] = "node";
    argv[argc++] = "node_modules/serverless/bin/serverless.js";
    argv[argc++] = "offline";
    argv[argc++] = "start";
    argv[argc++] = "--stage";
    argv[argc++] = "local";
    argv[argc] = NULL;
    fn->pid = rt_spawn(argv, fn->log);
    free(dir);
    free(lambda_port);
    free(http_port);
    free(ws_port);
    free(alb_port);
    free(fault);
    wait_ready(fn, "POST", "/2015-03-31/functions/rill-functions-local-echo/invocations",
               "{\"rillControl\":{}}", "\"target\":\"lambda-echo\"", LAMBDA_START_MS);
}

void rt_fn_stop(rt_fn_t *fn) {
    if (fn->pid > 0) {
        rt_kill(fn->pid, SIGTERM);
        if (rt_wait(fn->pid, 5000) == -1) {
            rt_kill(fn->pid, SIGKILL);
            rt_wait(fn->pid, 5000);
        }
    }
    free(fn->log);
    memset(fn, 0, sizeof(*fn));
}

void rt_fn_control(const rt_fn_t *fn, const char *function, const char *cmd, char *stats,
                   size_t stats_size) {
    char reply[16384];
    int status;
    if (fn->lambda) {
        char *path = rt_asprintf("/2015-03-31/functions/%s/invocations", function);
        char *body = rt_asprintf("{\"rillControl\":%s}", cmd);
        status = rt_http(fn->port, "POST", path, body, reply, sizeof(reply), 10000);
        free(path);
        free(body);
    } else {
        status = rt_http(fn->port, "POST", "/control", cmd, reply, sizeof(reply), 10000);
    }
    if (status != 200)
        cr_assert_fail("control %s of the function on port %d: %d %.300s", cmd, fn->port, status,
                       reply);
    if (stats)
        snprintf(stats, stats_size, "%s", reply);
}

/* ---------------------------------------------------------------------------------------- */
/* The application under test                                                                */

pid_t rt_faas_app_spawn(const rt_faas_app_t *app) {
    char *prog = rt_build_path("rill_faas_app");
    char *argv[MAX_ARGS];
    char *owned[MAX_ARGS];
    int argc = 0, owned_cnt = 0;
    argv[argc++] = prog;
#define STR_FLAG(flag, value)                                                                      \
    if (value) {                                                                                   \
        argv[argc++] = flag;                                                                       \
        argv[argc++] = (char *)(value);                                                            \
    }
#define INT_FLAG(flag, value)                                                                      \
    if ((value) > 0) {                                                                             \
        argv[argc++] = flag;                                                                       \
        argv[argc++] = owned[owned_cnt++] = rt_asprintf("%d", value);                              \
    }
    STR_FLAG("--bootstrap-servers", app->bootstrap);
    STR_FLAG("--input", app->input);
    STR_FLAG("--output", app->output);
    STR_FLAG("--app-id", app->app_id);
    STR_FLAG("--url", app->url);
    STR_FLAG("--format", app->format);
    STR_FLAG("--function", app->function);
    STR_FLAG("--order", app->order);
    STR_FLAG("--sync-output", app->sync_output);
    INT_FLAG("--batch", app->batch);
    INT_FLAG("--in-flight", app->in_flight);
    INT_FLAG("--linger", app->linger_ms);
    INT_FLAG("--retries", app->retries);
    INT_FLAG("--timeout", app->timeout_ms);
    INT_FLAG("--max-buffered", app->max_buffered);
    INT_FLAG("--backoff", app->backoff_ms);
    INT_FLAG("--backoff-max", app->backoff_max_ms);
    INT_FLAG("--metrics-every", app->metrics_every_ms);
    INT_FLAG("--adaptive", app->adaptive);
    INT_FLAG("--http-version", app->http_version);
    INT_FLAG("--insecure-tls", app->insecure_tls);
#undef STR_FLAG
#undef INT_FLAG
    for (size_t i = 0; app->props && app->props[i]; i++) {
        if (argc + 3 > MAX_ARGS)
            cr_assert_fail("rt_faas_app_spawn: too many properties");
        argv[argc++] = "-D";
        argv[argc++] = (char *)app->props[i];
    }
    argv[argc] = NULL;
    pid_t pid = rt_spawn(argv, app->log);
    for (int i = 0; i < owned_cnt; i++)
        free(owned[i]);
    free(prog);
    return pid;
}

int rt_faas_app_stop(pid_t pid, const char *log) {
    rt_kill(pid, SIGTERM);
    int code = rt_wait(pid, 30000);
    if (code)
        rt_log_tail(log, 40);
    return code;
}

int64_t rt_faas_topic_records(const char *bootstrap, const char *topic) {
    char errstr[512];
    int64_t n = rt_topic_size(bootstrap, topic, errstr, sizeof(errstr));
    return n < 0 ? 0 : n;
}

/* ---------------------------------------------------------------------------------------- */
/* The reference                                                                             */

int rt_faas_transform(const char *value, char out[2][96]) {
    if (!value)
        value = "";
    if (!strncmp(value, "poison", 6))
        return -1;
    /* core.js INT_RE: ^[+-]?\d+$ ; values here stay within int64 (18 digits). */
    const char *d = value + (value[0] == '+' || value[0] == '-');
    size_t digits = strspn(d, "0123456789");
    if (!digits || d[digits] || digits > 18) {
        snprintf(out[0], sizeof(out[0]), "%s", value);
        return 1;
    }
    long long n = strtoll(value[0] == '+' ? value + 1 : value, NULL, 10);
    /* BigInt's canonical form and C-like truncated remainder; (n % 1000) * 7 cannot
     * overflow and has the same remainder as n * 7. */
    long long rem = (n % 1000) * 7 % 1000;
    snprintf(out[0], sizeof(out[0]), "%lld:%lld", n, rem);
    long long last = (n < 0 ? -n : n) % 10;
    if (last == 5)
        return 0;
    if (last == 0) {
        snprintf(out[1], sizeof(out[1]), "%lld:%lld:b", n, rem);
        return 2;
    }
    return 1;
}

void rt_faas_expected(const rt_records_t *input, rt_kvs_t *expected) {
    char out[2][96];
    for (size_t i = 0; i < input->cnt; i++) {
        int n = rt_faas_transform(input->v[i].value, out);
        for (int j = 0; j < n; j++)
            rt_kvs_add(expected, input->v[i].key, out[j]);
    }
}

void rt_faas_gen_unique(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                        void *opaque) {
    (void)opaque;
    snprintf(key, key_size, "k%zu", i);
    snprintf(value, value_size, "%zu", i);
}

void rt_faas_gen_64_keys(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                         void *opaque) {
    (void)opaque;
    snprintf(key, key_size, "key-%zu", i % 64);
    snprintf(value, value_size, "%zu", i);
}

void rt_faas_gen_poison(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                        void *opaque) {
    const rt_faas_poison_t *poison = opaque;
    snprintf(key, key_size, "k%zu", i);
    snprintf(value, value_size, "%zu", i);
    for (size_t p = 0; p < poison->cnt; p++)
        if (poison->at[p] == i)
            snprintf(value, value_size, "poison-%zu", i);
}

void rt_faas_poison_records(const rt_faas_poison_t *poison, rt_kvs_t *kvs) {
    for (size_t p = 0; p < poison->cnt; p++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "k%zu", poison->at[p]);
        snprintf(value, sizeof(value), "poison-%zu", poison->at[p]);
        rt_kvs_add(kvs, key, value);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Order, record by record                                                                   */

typedef struct exp_out_s {
    const char *key;
    char value[96];
    size_t stream;
    size_t seq; /* position among the stream's expected outputs */
    int32_t part;
    int64_t off;
    bool seen;
} exp_out_t;

typedef struct stream_s {
    const char *name; /* key, or NULL for partition streams */
    int64_t max_seq;  /* the highest seq seen, -1 */
    int32_t out_part; /* where its outputs go, -1 before the first */
} stream_t;

static int str_cmp0(const char *a, const char *b) {
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int rec_pos_cmp(const void *pa, const void *pb) {
    const rt_record_t *a = *(const rt_record_t *const *)pa, *b = *(const rt_record_t *const *)pb;
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int key_ptr_cmp(const void *pa, const void *pb) {
    return str_cmp0(*(const char *const *)pa, *(const char *const *)pb);
}

static int exp_cmp(const void *pa, const void *pb) {
    const exp_out_t *a = *(const exp_out_t *const *)pa, *b = *(const exp_out_t *const *)pb;
    int c = strcmp(a->value, b->value);
    return c ? c : str_cmp0(a->key, b->key);
}

/* Appends one deviation to the report (the first few only). */
static void report_dev(rt_seq_check_t *res, size_t *shown, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report_dev(rt_seq_check_t *res, size_t *shown, const char *fmt, ...) {
    if ((*shown)++ >= 6)
        return;
    size_t len = strlen(res->report);
    if (len + 2 >= sizeof(res->report))
        return;
    va_list ap;
    va_start(ap, fmt);
    res->report[len++] = '\n';
    vsnprintf(res->report + len, sizeof(res->report) - len, fmt, ap);
    va_end(ap);
}

static void stream_name(const stream_t *st, size_t idx, char *buf, size_t size) {
    if (st->name)
        snprintf(buf, size, "key \"%.40s\"", st->name);
    else
        snprintf(buf, size, "input partition %zu", idx);
}

void rt_faas_check_sequence(const rt_records_t *input, const rt_records_t *output, bool by_key,
                            rt_seq_check_t *res) {
    memset(res, 0, sizeof(*res));
    /* Input in (partition, offset) order. */
    const rt_record_t **in = malloc((input->cnt + 1) * sizeof(*in));
    const char **keys = malloc((input->cnt + 1) * sizeof(*keys));
    if (!in || !keys)
        abort();
    int32_t max_part = 0;
    for (size_t i = 0; i < input->cnt; i++) {
        in[i] = &input->v[i];
        keys[i] = input->v[i].key;
        if (input->v[i].partition > max_part)
            max_part = input->v[i].partition;
    }
    for (size_t i = 0; i < output->cnt; i++)
        if (output->v[i].partition > max_part)
            max_part = output->v[i].partition;
    qsort(in, input->cnt, sizeof(*in), rec_pos_cmp);
    /* Streams: one per input partition, or one per distinct key. */
    size_t key_cnt = 0;
    if (by_key) {
        qsort(keys, input->cnt, sizeof(*keys), key_ptr_cmp);
        for (size_t i = 0; i < input->cnt; i++)
            if (!key_cnt || str_cmp0(keys[key_cnt - 1], keys[i]))
                keys[key_cnt++] = keys[i];
    }
    res->streams = by_key ? key_cnt : (size_t)max_part + 1;
    stream_t *streams = calloc(res->streams + 1, sizeof(*streams));
    size_t *next_seq = calloc(res->streams + 1, sizeof(*next_seq));
    if (!streams || !next_seq)
        abort();
    for (size_t s = 0; s < res->streams; s++) {
        streams[s].name = by_key ? keys[s] : NULL;
        streams[s].max_seq = -1;
        streams[s].out_part = -1;
    }
    /* The expected outputs, each with its stream and place in it. */
    size_t cap = input->cnt * 2 + 1, cnt = 0;
    exp_out_t *exp = malloc(cap * sizeof(*exp));
    exp_out_t **index = malloc(cap * sizeof(*index));
    if (!exp || !index)
        abort();
    for (size_t i = 0; i < input->cnt; i++) {
        char out[2][96];
        int n = rt_faas_transform(in[i]->value, out);
        size_t s = (size_t)in[i]->partition;
        if (by_key) {
            const char **k = bsearch(&in[i]->key, keys, key_cnt, sizeof(*keys), key_ptr_cmp);
            s = (size_t)(k - keys);
        }
        for (int j = 0; j < n; j++) {
            exp_out_t *e = &exp[cnt];
            e->key = in[i]->key;
            memcpy(e->value, out[j], sizeof(e->value));
            e->stream = s;
            e->seq = next_seq[s]++;
            e->part = in[i]->partition;
            e->off = in[i]->offset;
            e->seen = false;
            index[cnt] = e;
            cnt++;
        }
    }
    qsort(index, cnt, sizeof(*index), exp_cmp);
    /* Walk the output partition by partition, in offset order. */
    int64_t *max_off = malloc(((size_t)max_part + 1) * sizeof(*max_off));
    if (!max_off)
        abort();
    size_t shown = 0;
    char sname[80];
    for (int32_t op = 0; op <= max_part; op++) {
        for (int32_t p = 0; p <= max_part; p++)
            max_off[p] = -1;
        for (size_t i = 0; i < output->cnt; i++) {
            const rt_record_t *r = &output->v[i];
            if (r->partition != op || !r->value)
                continue;
            exp_out_t probe = {.key = r->key}, *pp = &probe;
            snprintf(probe.value, sizeof(probe.value), "%s", r->value);
            exp_out_t **found = bsearch(&pp, index, cnt, sizeof(*index), exp_cmp);
            if (!found)
                continue;
            exp_out_t *e = *found;
            res->checked++;
            if (e->seen) {
                res->duplicates++;
                continue;
            }
            e->seen = true;
            stream_t *st = &streams[e->stream];
            stream_name(st, e->stream, sname, sizeof(sname));
            if (st->out_part < 0) {
                st->out_part = op;
            } else if (st->out_part != op) {
                res->split++;
                report_dev(res, &shown,
                           "%s: output \"%s\" in output partition %d, earlier "
                           "ones in %d",
                           sname, e->value, (int)op, (int)st->out_part);
            }
            if ((int64_t)e->seq < st->max_seq) {
                res->backwards++;
                report_dev(res, &shown,
                           "%s: output %d@%lld \"%s\" (input %d@%lld, #%zu of "
                           "the stream) came after #%lld",
                           sname, (int)op, (long long)r->offset, e->value, (int)e->part,
                           (long long)e->off, e->seq, (long long)st->max_seq);
            } else if ((int64_t)e->seq > st->max_seq + 1) {
                res->gaps++;
                report_dev(res, &shown,
                           "%s: output %d@%lld \"%s\" (input %d@%lld) is #%zu of "
                           "the stream, but #%lld was not seen yet",
                           sname, (int)op, (long long)r->offset, e->value, (int)e->part,
                           (long long)e->off, e->seq, (long long)st->max_seq + 1);
            }
            if ((int64_t)e->seq > st->max_seq)
                st->max_seq = (int64_t)e->seq;
            if (e->off < max_off[e->part])
                res->overtakes++;
            else
                max_off[e->part] = e->off;
        }
    }
    if (!res->report[0])
        snprintf(res->report, sizeof(res->report), " (none)");
    free(max_off);
    free(index);
    free(exp);
    free(next_seq);
    free(streams);
    free(keys);
    free(in);
}

/* ---------------------------------------------------------------------------------------- */
/* When outputs arrive                                                                       */

typedef struct arrival_s {
    char *value;
    int64_t ms;
} arrival_t;

struct rt_tail_s {
    pthread_t tid;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *queue;
    int partitions;
    int stop; /* atomic */
    pthread_mutex_t lock;
    arrival_t *v;
    size_t cnt, cap;
};

static void *tail_main(void *arg) {
    rt_tail_t *tail = arg;
    while (!__atomic_load_n(&tail->stop, __ATOMIC_ACQUIRE)) {
        rd_kafka_message_t *msg = rd_kafka_consume_queue(tail->queue, 50);
        if (!msg)
            continue;
        if (!msg->err && !rt_is_progress_marker(msg)) {
            int64_t now = rt_now_ms();
            char *value = malloc(msg->len + 1);
            if (!value)
                abort();
            memcpy(value, msg->payload, msg->len);
            value[msg->len] = '\0';
            pthread_mutex_lock(&tail->lock);
            if (tail->cnt == tail->cap) {
                tail->cap = tail->cap ? tail->cap * 2 : 4096;
                if (!(tail->v = realloc(tail->v, tail->cap * sizeof(*tail->v))))
                    abort();
            }
            tail->v[tail->cnt++] = (arrival_t){value, now};
            pthread_mutex_unlock(&tail->lock);
        }
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

rt_tail_t *rt_tail_start(const char *bootstrap, const char *topic) {
    char errstr[512];
    rt_tail_t *tail = calloc(1, sizeof(*tail));
    if (!tail)
        abort();
    pthread_mutex_init(&tail->lock, NULL);
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    /* Small fetch waits, so that an arrival is noted within ~10 ms of the write. */
    const char *const props[][2] = {
        {"bootstrap.servers", bootstrap},
        {"log_level", "3"},
        {"fetch.wait.max.ms", "10"},
        {"enable.auto.commit", "false"},
        {"isolation.level", "read_uncommitted"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr)))
            cr_assert_fail("tail of %s: %s", topic, errstr);
    if (!(tail->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr))))
        cr_assert_fail("tail of %s: %s", topic, errstr);
    tail->rkt = rd_kafka_topic_new(tail->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(tail->rk, 0, tail->rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err)
        cr_assert_fail("tail of %s: no metadata: %s", topic,
                       rd_kafka_err2str(err ? err : md->topics[0].err));
    tail->partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    tail->queue = rd_kafka_queue_new(tail->rk);
    for (int p = 0; p < tail->partitions; p++)
        if (rd_kafka_consume_start_queue(tail->rkt, p, RD_KAFKA_OFFSET_BEGINNING, tail->queue))
            cr_assert_fail("tail of %s[%d]: %s", topic, p, rd_kafka_err2str(rd_kafka_last_error()));
    if (pthread_create(&tail->tid, NULL, tail_main, tail))
        cr_assert_fail("tail of %s: no thread", topic);
    return tail;
}

int64_t rt_tail_arrival(rt_tail_t *tail, const char *value) {
    int64_t ms = -1;
    pthread_mutex_lock(&tail->lock);
    for (size_t i = 0; i < tail->cnt && ms < 0; i++)
        if (!strcmp(tail->v[i].value, value))
            ms = tail->v[i].ms;
    pthread_mutex_unlock(&tail->lock);
    return ms;
}

void rt_tail_stop(rt_tail_t *tail) {
    if (!tail)
        return;
    __atomic_store_n(&tail->stop, 1, __ATOMIC_RELEASE);
    pthread_join(tail->tid, NULL);
    for (int p = 0; p < tail->partitions; p++)
        rd_kafka_consume_stop(tail->rkt, p);
    rd_kafka_queue_destroy(tail->queue);
    rd_kafka_topic_destroy(tail->rkt);
    rd_kafka_destroy(tail->rk);
    for (size_t i = 0; i < tail->cnt; i++)
        free(tail->v[i].value);
    free(tail->v);
    pthread_mutex_destroy(&tail->lock);
    free(tail);
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics from the app's log                                                                */

void rt_faas_log_metric(const char *log, const char *name, rt_metric_t *m) {
    m->last = m->max = -1;
    m->snapshots = 0;
    FILE *fp = fopen(log, "r");
    if (!fp)
        return;
    size_t nl = strlen(name);
    char line[4096];
    bool in_snapshot = false, found = false;
    int64_t sum = 0;
    while (fgets(line, sizeof(line), fp)) {
        if (!strncmp(line, "rill_faas_app: metrics begin", 28)) {
            in_snapshot = true;
            found = false;
            sum = 0;
        } else if (!strncmp(line, "rill_faas_app: metrics end", 26)) {
            if (in_snapshot && found) {
                m->last = sum;
                if (sum > m->max)
                    m->max = sum;
                m->snapshots++;
            }
            in_snapshot = false;
        } else if (in_snapshot && !strncmp(line, name, nl) &&
                   (line[nl] == '{' || line[nl] == ' ')) {
            const char *v = strrchr(line, ' ');
            if (v) {
                sum += strtoll(v + 1, NULL, 10);
                found = true;
            }
        }
    }
    fclose(fp);
}

/* ---------------------------------------------------------------------------------------- */
/* A process's resources                                                                     */

long rt_proc_rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), fp))
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(fp);
    return kb;
}

int64_t rt_proc_cpu_ms(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    /* Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime — utime and stime are the 12th and 13th. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((utime + stime) * 1000ULL / (unsigned long long)(hz > 0 ? hz : 100));
}

int64_t rt_proc_runnable_ms(pid_t pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    unsigned long long total_ns = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char file[320];
        snprintf(file, sizeof(file), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        FILE *fp = fopen(file, "r");
        if (!fp)
            continue; /* the thread ended meanwhile */
        unsigned long long run_ns = 0, wait_ns = 0;
        if (fscanf(fp, "%llu %llu", &run_ns, &wait_ns) == 2)
            total_ns += run_ns + wait_ns;
        fclose(fp);
    }
    closedir(dir);
    return (int64_t)(total_ns / 1000000ULL);
}

void rt_faas_expect_sequence(const rt_records_t *input, const rt_records_t *output, bool by_key,
                             const char *topic, rt_seq_check_t *seq) {
    rt_seq_check_t local;
    if (!seq)
        seq = &local;
    rt_faas_check_sequence(input, output, by_key, seq);
    cr_expect(!seq->backwards && !seq->gaps && !seq->split,
              "first appearances in %s are not in input order per %s: %zu backwards, %zu gaps, "
              "%zu split:%s",
              topic, by_key ? "key" : "partition", seq->backwards, seq->gaps, seq->split,
              seq->report);
}
