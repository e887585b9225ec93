/*
 * faas_throughput.c — bench-faas-throughput: one cell of the FaaS bridge throughput grid.
 * A Rill app source → FaaS stage → sink reads a prefilled input topic and sends every
 * record through a remote function; the program measures the records/s that leave the stage
 * in steady state and compares them with the bound C×B/L (bench/README.md, "FaaS bound").
 *
 *   bench-faas-throughput --input T --output T --url URL --batch B --in-flight C
 *                         --latency-ms L [--linger-ms MS (0: the stage's default)]
 *                         [--max-buffered N (0: the stage's default)] [--order partition|key]
 *                         [--tasks N (1)] [--http-version 1|2 (1; 2: h2c, the function must
 *                         speak HTTP/2 with prior knowledge)]
 *                         [--warmup-s S (2)] [--min-s S (3)] [--max-s S (10)]
 *                         [--records N (60000)] [--input-records N] [--fn-pid PID]
 *                         [--timeout-s S (120)] [--trace FILE]
 *                         [common Rill flags: --bootstrap-servers, -D application.id=ID, ...]
 *
 * The function is the script's business: --latency-ms only says what latency it was given
 * (for the bound; 0 = no added latency, no bound). --tasks is the input's partition count:
 * each task runs its own stage with C calls in flight, so the bound is
 * min(tasks·C, faas.max.in.flight)·B/L. --input-records is the input's size, to warn when a
 * cell ran out of input. --fn-pid is the function's process, whose CPU is reported too.
 * --trace writes the window's timeline, one line per tick (time, in flight, outputs, records
 * sent, invocations, records queued in tasks), to see where a cell loses its bound.
 *
 * It prints one line (key=value, as bench_common.h's RESULT line, with its own keys):
 *   RESULT prog=faas-throughput batch=B in_flight=C latency_ms=L linger_ms=MS
 *          max_buffered=N records=R window_s=W rate=R/W bound=min(tasks·C, 64)·B·1000/L
 * ratio=rate/bound cpu_s=... cpu_s_per_m=... fn_cpu_s=... fn_cpu_s_per_m=... invocations=I
 * mean_batch=... mean_call_ms=... mean_in_flight=... startup_s=... processed=...
 * input_exhausted=0|1 connections_opened=N (in the window; 0 when every call reused one)
 * (bound and ratio are "nan" for L = 0; fn_* are "nan" without --fn-pid.)
 *
 * DESIGN
 * One task per input partition; each has max_in_flight calls. The
 * program watches the app from the outside through rill_app_metric(), every 2 ms:
 * rill_records_produced_total counts the records that left the stage (every input record
 * gives one output: the function echoes). The clock starts at the first output; the first
 * --warmup-s seconds are not counted. The window then starts just after the output count
 * moves (results leave in bursts, one per completed invocation) and ends just after it
 * moves again once --records outputs and --min-s seconds have passed, or --max-s seconds:
 * so it spans whole bursts, and rate = outputs / window. Over the same window the program
 * reads its own CPU (getrusage: the processor process), the function's (/proc/<pid>/stat),
 * and the stage's counters: invocations, records sent (mean batch = records/invocations),
 * the sum of invocation times (mean call time, submit to completion), and the in-flight
 * gauge sampled every tick (mean in flight). By Little's law rate ≈ mean in flight × mean
 * batch / mean call time: which of the three falls short says where the bound is lost.
 * After the window the app is stopped cleanly (not measured; a slow function may make the
 * stop wait for the stage's drain, up to 10 s). Should that stop hang (it has, in
 * rill_app_wait, with a large backlog held back by the stage), the program exits with code 3
 * after STOP_LIMIT_S seconds: the figures are valid, the stop was not clean.
 */
#include <rill.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "bench_common.h"
#include "faas_bench.h"

#define TICK_MS 2
#define PROCESS_CAP 64  /* faas.max.in.flight's default: calls in flight, all stages together */
#define STOP_LIMIT_S 30 /* a clean stop takes at most the stage's 10 s drain and a few s more */

typedef struct tp_opts_s {
    const char *input;
    const char *output;
    const char *url;
    long batch;
    long in_flight;
    long latency_ms;
    long linger_ms;
    long max_buffered;
    long tasks;
    const char *order; /* "partition" or "key" */
    long warmup_s;
    long min_s;
    long max_s;
    long records;
    long input_records;
    long fn_pid;
    long timeout_s;
    long http_version; /* the stage's http_version: 0 or 1 HTTP/1.1, 2 h2c */
    const char *trace; /* file for a per-tick timeline of the window, or NULL */
} tp_opts_t;

/* What is read at each end of the window. */
typedef struct snap_s {
    double t, cpu, fn_cpu;
    long produced, invocations, sent, latency_sum_ms, connects;
} snap_t;

static void usage(void) {
    printf("bench-faas-throughput --input TOPIC --output TOPIC --url URL --batch B "
           "--in-flight C --latency-ms L [--linger-ms MS (0: default)] [--max-buffered N "
           "(0: default)] [--order partition|key] [--tasks N (1)] [--http-version 1|2 (1)] "
           "[--warmup-s S (2)] "
           "[--min-s S (3)] [--max-s S (10)] "
           "[--records N (60000)] [--input-records N] [--fn-pid PID] [--timeout-s S (120)] "
           "[--trace FILE (a per-tick timeline of the window)] "
           "[common Rill flags below]\n\n");
}

static const struct {
    const char *name;
    size_t off;
    int zero_ok;
} own_counts[] = {
    {"--batch", offsetof(tp_opts_t, batch), 0},
    {"--in-flight", offsetof(tp_opts_t, in_flight), 0},
    {"--latency-ms", offsetof(tp_opts_t, latency_ms), 1},
    {"--linger-ms", offsetof(tp_opts_t, linger_ms), 1},
    {"--max-buffered", offsetof(tp_opts_t, max_buffered), 1},
    {"--tasks", offsetof(tp_opts_t, tasks), 0},
    {"--warmup-s", offsetof(tp_opts_t, warmup_s), 1},
    {"--min-s", offsetof(tp_opts_t, min_s), 1},
    {"--max-s", offsetof(tp_opts_t, max_s), 0},
    {"--records", offsetof(tp_opts_t, records), 0},
    {"--input-records", offsetof(tp_opts_t, input_records), 0},
    {"--fn-pid", offsetof(tp_opts_t, fn_pid), 0},
    {"--timeout-s", offsetof(tp_opts_t, timeout_s), 0},
    {"--http-version", offsetof(tp_opts_t, http_version), 1},
};
#define OWN_COUNT_CNT (sizeof(own_counts) / sizeof(own_counts[0]))

/* Applies one of the program's flags. Returns 0, 1 when name is not one, -1 on a bad value
 * (with a message when loud). */
static int own_flag(tp_opts_t *o, const char *a, const char *v, int loud) {
    if (!strcmp(a, "--input"))
        o->input = v;
    else if (!strcmp(a, "--output"))
        o->output = v;
    else if (!strcmp(a, "--url"))
        o->url = v;
    else if (!strcmp(a, "--trace"))
        o->trace = v;
    else if (!strcmp(a, "--order")) {
        if (strcmp(v, "partition") && strcmp(v, "key")) {
            if (loud)
                fprintf(stderr, "bench-faas-throughput: --order: partition or key\n");
            return -1;
        }
        o->order = v;
    } else {
        size_t k;
        for (k = 0; k < OWN_COUNT_CNT && strcmp(a, own_counts[k].name); k++)
            ;
        if (k == OWN_COUNT_CNT)
            return 1;
        long n = own_counts[k].zero_ok ? faas_bench_parse_count0(v) : bench_parse_count(v);
        if (n < 0) {
            if (loud)
                fprintf(stderr, "bench-faas-throughput: %s: \"%s\" is not a %s count\n", a, v,
                        own_counts[k].zero_ok ? "non-negative" : "positive");
            return -1;
        }
        *(long *)((char *)o + own_counts[k].off) = n;
    }
    return 0;
}

/* Reads the program's own flags from argv without changing it (to build the topology before
 * rill_cli_parse(), which needs it); errors are reported by parse_own_flags() later. */
static void peek_own_flags(int argc, char **argv, tp_opts_t *o) {
    for (int i = 1; i + 1 < argc; i++)
        if (own_flag(o, argv[i], argv[i + 1], 0) == 0)
            i++;
}

/* Reads the program's own flags from what rill_cli_parse() left in argv, strictly. */
static int parse_own_flags(int argc, char **argv, tp_opts_t *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench-faas-throughput: \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        int rc = own_flag(o, a, v, 1);
        if (rc > 0)
            fprintf(stderr, "bench-faas-throughput: unknown argument \"%s\" (see --help)\n", a);
        if (rc)
            return -1;
    }
    if (!o->url || o->batch <= 0 || o->in_flight <= 0 || o->latency_ms < 0) {
        fprintf(stderr, "bench-faas-throughput: --url, --batch, --in-flight and --latency-ms "
                        "are required\n");
        return -1;
    }
    return 0;
}

/* Defaults that depend on other flags. */
static void derive(tp_opts_t *o) {
    if (o->min_s > o->max_s)
        o->min_s = o->max_s;
}

static rill_topology_t *build(const tp_opts_t *o) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_bytes(), .value_serde = rill_serde_bytes()};
    rill_stream_t *in = rill_stream_from(topo, "source", o->input, &src);
    rill_faas_opts_t fo = {.url = o->url,
                           .function = "bench-echo",
                           .format = RILL_FAAS_CLOUDEVENTS,
                           .order = strcmp(o->order, "key") ? RILL_FAAS_ORDER_PARTITION
                                                            : RILL_FAAS_ORDER_KEY,
                           .batch_max_records = (int)o->batch,
                           .linger_ms = (int)o->linger_ms,
                           .max_in_flight = (int)o->in_flight,
                           .max_buffered_records = (int)o->max_buffered,
                           .http_version = (int)o->http_version};
    rill_stream_t *out = rill_stream_faas(in, "fn", &fo);
    rill_stream_to(out, "sink", o->output, NULL);
    return topo;
}

static void snap(rill_app_t *app, const tp_opts_t *o, snap_t *s) {
    s->t = bench_now();
    s->cpu = bench_cpu();
    s->fn_cpu = faas_bench_proc_cpu(o->fn_pid);
    s->produced = (long)rill_app_metric(app, "rill_records_produced_total");
    s->invocations = (long)rill_app_metric(app, "rill_faas_invocations_total");
    s->sent = (long)rill_app_metric(app, "rill_faas_records_total");
    s->latency_sum_ms = (long)rill_app_metric(app, "rill_faas_latency_ms_sum");
    s->connects = (long)rill_app_metric(app, "rill_faas_connections_opened_total");
}

/* Waits (ticking) until the output count differs from since, or deadline; returns the new
 * count, or -1 at the deadline. Adds the in-flight gauge to *gauge_sum each tick. */
static long wait_move(rill_app_t *app, long since, double deadline, double *gauge_sum,
                      long *ticks) {
    for (;;) {
        long n = (long)rill_app_metric(app, "rill_records_produced_total");
        if (n != since)
            return n;
        if (bench_now() >= deadline)
            return -1;
        faas_bench_sleep_ms(TICK_MS);
        if (gauge_sum) {
            *gauge_sum += (double)rill_app_metric(app, "rill_faas_in_flight");
            (*ticks)++;
        }
    }
}

static void fmt_num(char *buf, size_t size, double v, const char *fmt) {
    if (isnan(v) || v < 0)
        snprintf(buf, size, "nan");
    else
        snprintf(buf, size, fmt, v);
}

/* Ends the process when the clean stop after a measured window hangs: the figures are
 * printed already, and the grid must go on. Exit code 3 says so. */
static void *stop_watchdog(void *arg) {
    (void)arg;
    faas_bench_sleep_ms(STOP_LIMIT_S * 1000L);
    fprintf(stderr,
            "bench-faas-throughput: warning: the app did not stop within %d s after the "
            "measurement (rill_app_wait hangs); exiting without a clean stop\n",
            STOP_LIMIT_S);
    fflush(stderr);
    _exit(3);
    return NULL;
}

/* Runs one cell; prints the RESULT line. */
static int run(rill_app_t *app, const tp_opts_t *o, double t_start) {
    char errstr[512];
    double deadline = t_start + (double)o->timeout_s;
    int rc = -1;
    if (rill_app_create_topic(app, o->output, 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-throughput: output topic: %s\n", errstr);
        return -1;
    }
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-throughput: %s\n", errstr);
        return -1;
    }
    snap_t a, b;
    double gauge_sum = 0, first;
    long ticks = 0, n0, n;
    if (wait_move(app, 0, deadline, NULL, NULL) < 0) {
        fprintf(stderr, "bench-faas-throughput: no output within %ld s\n", o->timeout_s);
        goto stop;
    }
    first = bench_now();
    while (bench_now() < first + (double)o->warmup_s)
        faas_bench_sleep_ms(10);
    n0 = (long)rill_app_metric(app, "rill_records_produced_total");
    if (wait_move(app, n0, deadline, NULL, NULL) < 0)
        goto stalled;
    snap(app, o, &a);
    FILE *trace = o->trace ? fopen(o->trace, "w") : NULL;
    if (trace)
        fprintf(trace, "# t_ms in_flight produced sent invocations buffered_in_tasks\n");
    for (n = a.produced;;) {
        faas_bench_sleep_ms(TICK_MS);
        long g = (long)rill_app_metric(app, "rill_faas_in_flight");
        gauge_sum += (double)g;
        ticks++;
        n = (long)rill_app_metric(app, "rill_records_produced_total");
        if (trace)
            fprintf(trace, "%.1f %ld %ld %ld %ld %ld\n", (bench_now() - a.t) * 1e3, g,
                    n - a.produced, (long)rill_app_metric(app, "rill_faas_records_total") - a.sent,
                    (long)rill_app_metric(app, "rill_faas_invocations_total") - a.invocations,
                    (long)rill_app_metric(app, "rill_buffered_records"));
        double el = bench_now() - a.t;
        if ((n - a.produced >= o->records && el >= (double)o->min_s) || el >= (double)o->max_s)
            break;
        if (bench_now() >= deadline) {
            if (trace)
                fclose(trace);
            goto stalled;
        }
    }
    if (trace)
        fclose(trace);
    /* End just after the next burst, so that the window spans whole bursts. */
    if (wait_move(app, n, deadline, &gauge_sum, &ticks) < 0)
        goto stalled;
    snap(app, o, &b);
    long records = b.produced - a.produced, inv = b.invocations - a.invocations;
    long consumed = (long)rill_app_metric(app, "rill_records_processed_total");
    double window = b.t - a.t, rate = (double)records / window;
    double calls = (double)(o->tasks * o->in_flight);
    if (calls > PROCESS_CAP)
        calls = PROCESS_CAP;
    double bound = o->latency_ms ? calls * (double)o->batch * 1000.0 / (double)o->latency_ms : NAN;
    double per_m = (double)records / 1e6;
    double fn_cpu = (a.fn_cpu >= 0 && b.fn_cpu >= 0) ? b.fn_cpu - a.fn_cpu : NAN;
    char s_bound[32], s_ratio[32], s_fn[32], s_fn_m[32];
    fmt_num(s_bound, sizeof(s_bound), bound, "%.1f");
    fmt_num(s_ratio, sizeof(s_ratio), rate / bound, "%.4f");
    fmt_num(s_fn, sizeof(s_fn), fn_cpu, "%.3f");
    fmt_num(s_fn_m, sizeof(s_fn_m), fn_cpu / per_m, "%.3f");
    printf("RESULT prog=faas-throughput batch=%ld in_flight=%ld latency_ms=%ld linger_ms=%ld "
           "max_buffered=%ld records=%ld window_s=%.3f rate=%.1f bound=%s ratio=%s "
           "cpu_s=%.3f cpu_s_per_m=%.3f fn_cpu_s=%s fn_cpu_s_per_m=%s invocations=%ld "
           "mean_batch=%.1f mean_call_ms=%.2f mean_in_flight=%.2f startup_s=%.3f "
           "processed=%ld input_exhausted=%d connections_opened=%ld\n",
           o->batch, o->in_flight, o->latency_ms, o->linger_ms, o->max_buffered, records, window,
           rate, s_bound, s_ratio, b.cpu - a.cpu, (b.cpu - a.cpu) / per_m, s_fn, s_fn_m, inv,
           inv ? (double)(b.sent - a.sent) / (double)inv : 0.0,
           inv ? (double)(b.latency_sum_ms - a.latency_sum_ms) / (double)inv : 0.0,
           ticks ? gauge_sum / (double)ticks : 0.0, first - t_start, consumed,
           o->input_records > 0 && consumed >= o->input_records, b.connects - a.connects);
    fflush(stdout);
    if (o->input_records > 0 && consumed >= o->input_records)
        fprintf(stderr,
                "bench-faas-throughput: warning: the whole input (%ld records) went "
                "into the stage: the cell may have run dry\n",
                o->input_records);
    rc = 0;
    pthread_t watchdog;
    if (!pthread_create(&watchdog, NULL, stop_watchdog, NULL))
        pthread_detach(watchdog);
    goto stop;
stalled:
    fprintf(stderr, "bench-faas-throughput: timed out after %ld s with %ld outputs\n", o->timeout_s,
            (long)rill_app_metric(app, "rill_records_produced_total"));
stop:
    rill_app_stop(app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-throughput: %s\n", errstr);
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv) {
    char errstr[512];
    double t_start = bench_now();
    tp_opts_t opts = {.input = "bench.faas.input",
                      .output = "bench.faas.output",
                      .batch = -1,
                      .in_flight = -1,
                      .latency_ms = -1,
                      .linger_ms = 0,
                      .tasks = 1,
                      .order = "partition",
                      .warmup_s = 2,
                      .min_s = 3,
                      .max_s = 10,
                      .records = 60000,
                      .timeout_s = 120};
    peek_own_flags(argc, argv, &opts);
    derive(&opts);
    rill_conf_t *conf = rill_conf_new();
    rill_topology_t *topo = build(&opts);
    rill_conf_set(conf, "application.id", "bench-faas-throughput", NULL, 0);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            usage();
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, "bench-faas-throughput: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    derive(&opts);
    const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, "bench-faas-throughput: --bootstrap-servers is required (the input "
                        "must already be in Kafka)\n");
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "bench-faas-throughput: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rc = run(app, &opts, t_start);
    rill_app_destroy(app);
    return rc ? 1 : 0;
}
