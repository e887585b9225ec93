/*
 * rill_race_app.c — a stress program for race checkers (scripts/races.sh runs it under
 * clang's ThreadSanitizer, or valgrind's DRD/Helgrind): every multi-threaded path of Rill in
 * one process, on the embedded broker, with no test framework (Criterion cannot start under
 * the sanitizers' runtimes).
 *
 * Two apps of one application.id, each with 2 stream threads, over the same embedded broker:
 * source "in" (4 partitions) → FaaS stage against a small HTTP function served by this
 * program (its own thread; it answers every batch with no outputs for odd keys and echoes
 * the rest) → join with a global table (the reader's thread) → count per key (RocksDB,
 * changelog) → sink. App A starts alone, app B joins (rebalance), records and table rows are
 * written throughout, B stops (rebalance back), then A stops. Meanwhile a thread per app
 * asks the "counts" store for every key (interactive queries: the stream threads' inboxes,
 * the query-hosts reader), through the rebalances and B's stop. Exits 0 when every step
 * succeeded; any race report comes from the checker.
 *
 *   rill_race_app [--records N] [--seconds S]   (defaults 4000 and 6)
 */
#define _GNU_SOURCE
#include <rill.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define PROG "rill_race_app"

/* ---- C11 threads through pthread_create ----
 * librdkafka starts its threads with C11 thrd_create, which glibc implements without going
 * through pthread_create: the sanitizers' runtimes (clang 14, gcc 12) never see those
 * threads start and crash in their first allocation. This program's own thrd_create takes
 * precedence over glibc's for librdkafka (symbol interposition) and starts them with
 * pthread_create, which TSan intercepts; thrd_join and thrd_detach likewise go through
 * pthread_join and pthread_detach (else every such thread looks leaked). */

typedef struct c11_start_s {
    thrd_start_t fn;
    void *arg;
} c11_start_t;

static void *c11_trampoline(void *p) {
    c11_start_t s = *(c11_start_t *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
    c11_start_t *s = malloc(sizeof(*s));
    if (!s)
        return thrd_nomem;
    *s = (c11_start_t){.fn = fn, .arg = arg};
    pthread_t t;
    int err = pthread_create(&t, NULL, c11_trampoline, s);
    if (err) {
        free(s);
        return err == ENOMEM ? thrd_nomem : thrd_error;
    }
    *thr = (thrd_t)t;
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res) {
    void *r = NULL;
    if (pthread_join((pthread_t)thr, &r))
        return thrd_error;
    if (res)
        *res = (int)(intptr_t)r;
    return thrd_success;
}

int thrd_detach(thrd_t thr) {
    return pthread_detach((pthread_t)thr) ? thrd_error : thrd_success;
}

/* glibc's mtx_* and cnd_* call its pthread internals directly too, so TSan would not see
 * librdkafka's locks and would report every hand-over between its threads: the same
 * interposition sends them through the intercepted pthread calls (mtx_t and cnd_t hold a
 * pthread_mutex_t and a pthread_cond_t in glibc). */

static int c11_rc(int err) {
    return !err               ? thrd_success
           : err == EBUSY     ? thrd_busy
           : err == ETIMEDOUT ? thrd_timedout
                              : thrd_error;
}

int mtx_init(mtx_t *m, int type) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int err = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return c11_rc(err);
}
int mtx_lock(mtx_t *m) {
    return c11_rc(pthread_mutex_lock((pthread_mutex_t *)m));
}
int mtx_trylock(mtx_t *m) {
    return c11_rc(pthread_mutex_trylock((pthread_mutex_t *)m));
}
int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts) {
    return c11_rc(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}
int mtx_unlock(mtx_t *m) {
    return c11_rc(pthread_mutex_unlock((pthread_mutex_t *)m));
}
void mtx_destroy(mtx_t *m) {
    pthread_mutex_destroy((pthread_mutex_t *)m);
}
int cnd_init(cnd_t *c) {
    return c11_rc(pthread_cond_init((pthread_cond_t *)c, NULL));
}
int cnd_signal(cnd_t *c) {
    return c11_rc(pthread_cond_signal((pthread_cond_t *)c));
}
int cnd_broadcast(cnd_t *c) {
    return c11_rc(pthread_cond_broadcast((pthread_cond_t *)c));
}
int cnd_wait(cnd_t *c, mtx_t *m) {
    return c11_rc(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts) {
    return c11_rc(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}
void cnd_destroy(cnd_t *c) {
    pthread_cond_destroy((pthread_cond_t *)c);
}

/* ---- the function: HTTP/1.1 on 127.0.0.1, one thread per connection ---- */

static int listen_fd = -1;

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads one request (headers, then Content-Length bytes of body) into buf; its length, or
 * -1 when the connection ended. */
static ssize_t read_request(int fd, char *buf, size_t size) {
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len + 1 >= size)
            return -1;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "content-length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0, want = (size_t)(end + 4 - buf) + body;
    while (len < want) {
        if (want >= size)
            return -1;
        ssize_t n = read(fd, buf + len, want - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

static void *serve_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    size_t size = 4 << 20;
    char *buf = malloc(size);
    static const char body[] = "{\"results\":[]}";
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
    while (buf && read_request(fd, buf, size) > 0)
        if (write(fd, resp, (size_t)n) != n)
            break;
    free(buf);
    close(fd);
    return NULL;
}

static void *serve(void *arg) {
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd))
            close(fd);
        else
            pthread_detach(t);
    }
}

/* Starts the function; its URL into url. */
static int function_start(char *url, size_t size) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) ||
        listen(listen_fd, 64) || getsockname(listen_fd, (struct sockaddr *)&a, &alen))
        return -1;
    snprintf(url, size, "http://127.0.0.1:%d/", (int)ntohs(a.sin_port));
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL))
        return -1;
    pthread_detach(t);
    return 0;
}

/* ---- the topology ---- */

static int row_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    static const char *const rows[] = {"u0", "u1", "u2", "u3"};
    return rill_buf_append(out->key, rows[rec->value_len % 4], 2);
}

static int joiner(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                  void *opaque) {
    if (rill_buf_append(out, left->value, left->value_len))
        return -1;
    return right ? rill_buf_append(out, right->value, right->value_len) : 0;
}

static rill_topology_t *topology(const char *url) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "source", "in", NULL);
    rill_faas_opts_t fo = {.url = url,
                           .batch_max_records = 20,
                           .linger_ms = 2,
                           .max_in_flight = 4,
                           .timeout_ms = 5000,
                           .backoff_initial_ms = 20};
    rill_stream_t *called = rill_stream_faas(in, "fn", &fo);
    /* The FaaS stage answers no outputs; the count goes on from the input too. */
    rill_global_table_t *users = rill_global_table(topo, "users", NULL, "users-store");
    rill_stream_t *joined =
        rill_stream_global_join(in, users, "enrich", RILL_JOIN_LEFT, row_key, joiner, NULL);
    rill_table_t *counts = rill_grouped_count(rill_stream_group_by_key(joined, NULL), "counts");
    rill_stream_to(rill_table_to_stream(counts, NULL), "counts-sink", "counts", NULL);
    rill_stream_to(called, "fn-sink", "fn-out", NULL);
    return topo;
}

/* ---- the run ---- */

static rill_app_t *app_new(const char *url, const char *bootstrap, const char *state_dir) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    /* clang-format off */
    const char *kv[][2] = {
        {"application.id", "race-app"},        {"num.stream.threads", "2"},
        {"commit.interval.ms", "100"},         {"state.dir", state_dir},
        {"consumer.session.timeout.ms", "6000"}, {"consumer.heartbeat.interval.ms", "300"},
        {"bootstrap.servers", bootstrap},      {"http.listen", "127.0.0.1:0"},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (kv[i][1] && rill_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr))) {
            fprintf(stderr, PROG ": %s=%s: %s\n", kv[i][0], kv[i][1], errstr);
            exit(1);
        }
    rill_app_t *app = rill_app_new(topology(url), conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, PROG ": rill_app_new: %s\n", errstr);
        exit(1);
    }
    return app;
}

static void check(rill_err_t err, const char *what, const char *errstr) {
    if (err) {
        fprintf(stderr, PROG ": %s: %s\n", what, errstr);
        exit(1);
    }
}

static void produce(rill_producer_t *p, int from, int n) {
    char k[32], v[64];
    for (int i = from; i < from + n; i++) {
        snprintf(k, sizeof(k), "k%d", i % 97);
        int vl = snprintf(v, sizeof(v), "value-%d", i);
        rill_producer_send(p, "in", -1, k, strlen(k), v, (size_t)vl, 0);
        if (i % 50 == 0) {
            snprintf(k, sizeof(k), "u%d", i % 4);
            rill_producer_send(p, "users", -1, k, 2, v, (size_t)vl, 0);
        }
    }
}

/* Interactive queries from a thread of the program's own, until stop is set. */
typedef struct querier_s {
    rill_app_t *app;
    int stop; /* atomic */
    long answers[6];
    char why[256]; /* the last reason a query was unavailable */
    pthread_t tid;
} querier_t;

static void *query_main(void *arg) {
    querier_t *q = arg;
    rill_buf_t out = {0};
    for (int i = 0; !__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE); i++) {
        char k[32];
        rill_query_info_t info;
        snprintf(k, sizeof(k), "k%d", i % 97);
        rill_query_status_t st =
            rill_app_store_get(q->app, "counts", k, strlen(k), &out, &info, 2000);
        q->answers[st]++;
        if (st == RILL_QUERY_UNAVAILABLE) {
            snprintf(q->why, sizeof(q->why), "%s", info.error);
            sleep_ms(1); /* a rebalance or a stop: not a loop that takes a core */
        }
        if (i % 97 == 96)
            sleep_ms(5);
    }
    rill_buf_free(&out);
    return NULL;
}

static void querier_start(querier_t *q, rill_app_t *app) {
    q->app = app;
    if (pthread_create(&q->tid, NULL, query_main, q)) {
        fprintf(stderr, PROG ": cannot start the query thread\n");
        exit(1);
    }
}

static void querier_stop(querier_t *q, const char *name) {
    __atomic_store_n(&q->stop, 1, __ATOMIC_RELEASE);
    pthread_join(q->tid, NULL);
    printf(PROG ": queries to %s: %ld found, %ld not found, %ld not local, %ld unavailable, "
                "%ld other (last unavailable: %s)\n",
           name, q->answers[RILL_QUERY_FOUND], q->answers[RILL_QUERY_NOT_FOUND],
           q->answers[RILL_QUERY_NOT_LOCAL], q->answers[RILL_QUERY_UNAVAILABLE],
           q->answers[RILL_QUERY_UNKNOWN_STORE] + q->answers[RILL_QUERY_ERROR],
           q->why[0] ? q->why : "none");
    if (q->answers[RILL_QUERY_UNKNOWN_STORE] + q->answers[RILL_QUERY_ERROR]) {
        fprintf(stderr, PROG ": a query to %s failed\n", name);
        exit(1);
    }
}

static void stop(rill_app_t *app, const char *name) {
    char errstr[512] = "";
    rill_app_stop(app);
    check(rill_app_wait(app, errstr, sizeof(errstr)), name, errstr);
}

int main(int argc, char **argv) {
    int records = 4000, seconds = 6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--records"))
            records = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[i + 1]);
    }
    char url[64], errstr[512] = "", dir_a[] = "/tmp/rill-race-a-XXXXXX",
                  dir_b[] = "/tmp/rill-race-b-XXXXXX";
    if (function_start(url, sizeof(url)) || !mkdtemp(dir_a) || !mkdtemp(dir_b)) {
        perror(PROG);
        return 1;
    }
    rill_app_t *a = app_new(url, NULL, dir_a);
    const char *topics[][2] = {{"in", "4"}, {"users", "1"}, {"counts", "4"}, {"fn-out", "4"}};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        check(rill_app_create_topic(a, topics[i][0], atoi(topics[i][1]), errstr, sizeof(errstr)),
              "create topic", errstr);
    char *bootstrap = strdup(rill_app_bootstrap_servers(a));
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    if (!p)
        check(RILL_ERR_INVALID_ARG, "producer", errstr);
    produce(p, 0, records / 2);
    check(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), "flush", errstr);
    check(rill_app_start(a, errstr, sizeof(errstr)), "start A", errstr);
    querier_t qa = {0}, qb = {0};
    querier_start(&qa, a);
    sleep_ms(seconds * 1000 / 3);
    rill_app_t *b = app_new(url, bootstrap, dir_b);
    check(rill_app_start(b, errstr, sizeof(errstr)), "start B", errstr);
    querier_start(&qb, b);
    produce(p, records / 2, records / 2);
    check(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), "flush", errstr);
    sleep_ms(seconds * 1000 / 3);
    stop(b, "app B");
    querier_stop(&qb, "B");
    rill_app_destroy(b);
    sleep_ms(seconds * 1000 / 3);
    printf(PROG ": A processed %lld, dead-lettered %lld\n",
           (long long)rill_app_metric(a, "rill_records_processed_total"),
           (long long)rill_app_metric(a, "rill_dlq_records_total"));
    stop(a, "app A");
    querier_stop(&qa, "A");
    rill_producer_destroy(p);
    rill_app_destroy(a);
    free(bootstrap);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir_a, dir_b);
    if (system(cmd))
        return 1;
    printf(PROG ": ok\n");
    return 0;
}
