/*
 * rill_faas_app.c — the FaaS application the bridge's integration tests run as separate
 * processes; built on the public API only.
 *
 * Topology: source (input, string key and value) → FaaS stage "fn" → sink (output).
 *
 *   rill_faas_app --input T --output T --app-id ID --url URL [--format ce|lambda]
 *                 [--function NAME] [--order partition|key|unordered] [--batch N]
 *                 [--in-flight N] [--adaptive 0/1] [--linger MS] [--retries N] [--timeout MS]
 *                 [--max-buffered N] [--backoff MS] [--backoff-max MS] [--max-age MS]
 *                 [--breaker-failures N] [--http-version 1|2] [--insecure-tls 0|1]
 *                 [--metrics-every MS]
 *                 [common Rill flags]
 *
 * Runs until SIGTERM or SIGINT, then stops cleanly. With --metrics-every MS it also prints
 * rill_app_metrics() to stderr every MS milliseconds and once more after it stopped, each
 * snapshot framed by the lines "rill_faas_app: metrics begin <ms since start>" and
 * "rill_faas_app: metrics end", so that a test can follow pauses, in-flight invocations and
 * retries from the log.
 */
#include <rill.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct flag_s {
    const char *name;
    const char *value;
} flag_t;

/* clang-format off */
static flag_t flags[] = {
    {"--input", NULL},    {"--output", NULL},    {"--app-id", NULL},  {"--url", NULL},
    {"--format", "ce"},   {"--function", NULL},  {"--order", "partition"},
    {"--batch", "100"},   {"--in-flight", "8"},  {"--linger", "5"},   {"--retries", "5"},
    {"--timeout", "5000"}, {"--max-buffered", "10000"}, {"--backoff", "50"},
    {"--backoff-max", "2000"}, {"--max-age", "0"}, {"--breaker-failures", "0"},
    {"--metrics-every", "0"},    {"--adaptive", "0"},
    {"--sync-output", NULL}, {"--http-version", "0"}, {"--insecure-tls", "0"},
};
/* clang-format on */
#define FLAG_CNT (sizeof(flags) / sizeof(flags[0]))

static const char *flag(const char *name) {
    for (size_t i = 0; i < FLAG_CNT; i++)
        if (!strcmp(flags[i].name, name))
            return flags[i].value;
    return NULL;
}

/* Takes our own flags out of what rill_cli_parse() left. Returns 0 or -1. */
static int take_flags(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < FLAG_CNT && strcmp(argv[i], flags[k].name))
            k++;
        if (k == FLAG_CNT || i + 1 >= argc) {
            fprintf(stderr, "rill_faas_app: unknown or incomplete argument \"%s\"\n", argv[i]);
            return -1;
        }
        flags[k].value = argv[++i];
    }
    return 0;
}

static rill_faas_order_t order_of(const char *s) {
    if (!strcmp(s, "key"))
        return RILL_FAAS_ORDER_KEY;
    return strcmp(s, "unordered") ? RILL_FAAS_ORDER_PARTITION : RILL_FAAS_UNORDERED;
}

static rill_topology_t *build(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_string()};
    rill_faas_opts_t fo = {
        .url = flag("--url"),
        .function = flag("--function"),
        .format = strcmp(flag("--format"), "lambda") ? RILL_FAAS_CLOUDEVENTS : RILL_FAAS_LAMBDA,
        .order = order_of(flag("--order")),
        .batch_max_records = atoi(flag("--batch")),
        .max_in_flight = atoi(flag("--in-flight")),
        .adaptive_concurrency = atoi(flag("--adaptive")),
        .linger_ms = atoi(flag("--linger")),
        .max_retries = atoi(flag("--retries")),
        .timeout_ms = atoi(flag("--timeout")),
        .max_buffered_records = atoi(flag("--max-buffered")),
        .backoff_initial_ms = atoi(flag("--backoff")),
        .backoff_max_ms = atoi(flag("--backoff-max")),
        .max_record_age_ms = atoi(flag("--max-age")),
        .breaker_failures = atoi(flag("--breaker-failures")),
        .http_version = atoi(flag("--http-version")),
        .insecure_skip_tls_verify = atoi(flag("--insecure-tls")),
    };
    rill_stream_t *s = rill_stream_from(topo, "source", flag("--input"), &src);
    /* A synchronous branch beside the stage: the input, unchanged, to another topic. */
    if (flag("--sync-output"))
        rill_stream_to(s, "sync-sink", flag("--sync-output"), NULL);
    s = rill_stream_faas(s, "fn", &fo);
    rill_stream_to(s, "sink", flag("--output"), NULL);
    return topo;
}

/* ---- running with periodic metrics (--metrics-every) ---- */

static rill_app_t *volatile running_app;
static int metrics_every_ms;
static int metrics_done; /* set (atomically) once the app has stopped */

static void on_signal(int sig) {
    (void)sig;
    rill_app_t *app = running_app;
    if (app)
        rill_app_stop(app); /* async-signal-safe */
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t started_ms;

/* Prints one snapshot of the metrics to stderr. */
static void print_metrics(rill_app_t *app, rill_buf_t *buf) {
    rill_buf_reset(buf);
    if (rill_app_metrics(app, buf))
        return;
    fprintf(stderr, "rill_faas_app: metrics begin %lld\n%.*srill_faas_app: metrics end\n",
            (long long)(now_ms() - started_ms), (int)buf->len, buf->data ? buf->data : "");
    fflush(stderr);
}

/* Prints a snapshot every metrics_every_ms until the app has stopped. */
static void *metrics_main(void *arg) {
    rill_app_t *app = arg;
    rill_buf_t buf = {0};
    while (!__atomic_load_n(&metrics_done, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {.tv_sec = metrics_every_ms / 1000,
                              .tv_nsec = (long)(metrics_every_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) && errno == EINTR)
            ;
        if (!__atomic_load_n(&metrics_done, __ATOMIC_ACQUIRE))
            print_metrics(app, &buf);
    }
    rill_buf_free(&buf);
    return NULL;
}

/* rill_app_run_until_signal() with a thread printing metrics meanwhile. */
static int run_with_metrics(rill_app_t *app) {
    char errstr[512];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    running_app = app;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = 0;
    started_ms = now_ms();
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "rill: cannot start: %s\n", errstr);
        code = 1;
    }
    pthread_t tid;
    int have_thread = !code && !pthread_create(&tid, NULL, metrics_main, app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "rill: stopped on error: %s\n", errstr);
        code = 1;
    }
    __atomic_store_n(&metrics_done, 1, __ATOMIC_RELEASE);
    if (have_thread)
        pthread_join(tid, NULL);
    /* The final values, after the last commit. */
    rill_buf_t buf = {0};
    print_metrics(app, &buf);
    rill_buf_free(&buf);
    running_app = NULL;
    rill_app_destroy(app);
    return code;
}

int main(int argc, char **argv) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    int rc = rill_cli_parse(&argc, argv, conf, NULL, 1, errstr, sizeof(errstr));
    if (rc || take_flags(argc, argv)) {
        if (rc < 0)
            fprintf(stderr, "rill_faas_app: %s\n", errstr);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    if (!flag("--input") || !flag("--output") || !flag("--app-id") || !flag("--url")) {
        fprintf(stderr, "usage: rill_faas_app --input T --output T --app-id ID --url URL ...\n");
        return 2;
    }
    rill_conf_set(conf, "application.id", flag("--app-id"), NULL, 0);
    rill_app_t *app = rill_app_new(build(), conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill_faas_app: %s\n", errstr);
        return 2;
    }
    metrics_every_ms = atoi(flag("--metrics-every"));
    if (metrics_every_ms > 0)
        return run_with_metrics(app);
    return rill_app_run_until_signal(app);
}
