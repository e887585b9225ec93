/*
 * faas_latency.c — bench-faas-latency: one stateless stage run natively or through the FaaS
 * bridge, at a fixed input rate below saturation: end-to-end latency percentiles and the
 * processor's CPU per record.
 *
 *   bench-faas-latency --variant native|faas --input T --output T [--url URL (faas)]
 *                      [--rate R (2000)] [--seconds S (20)] [--warmup-s S (2)]
 *                      [--fn-pid PID] [--samples FILE] [--timeout-s S (120)]
 *                      [common Rill flags: --bootstrap-servers, -D application.id=ID, ...]
 *
 * The stage is the `transform` rule of faas_bridge/functions/core.js: a decimal integer N
 * becomes "N:" + (N*7 % 1000); last digit 0 → a second record with ":b" appended; last digit
 * 5 → no record; "poison…" → an error (dead letter); anything else passes unchanged.
 *   native: source → flat_map (that rule in C, below) → sink
 *   faas:   source → FaaS stage (CloudEvents, the `transform` function at --url, every
 *           stage option at its default: batch 100, linger 5 ms, 8 in flight) → sink
 * Both use bytes serdes and Rill's default settings unless changed with -D.
 *
 * Prints one line:
 *   RESULT prog=faas-latency variant=V rate=R records=N outputs=M samples=K p50_ms=...
 *          p90_ms=... p99_ms=... p999_ms=... max_ms=... mean_ms=... window_s=...
 *          cpu_s=... cpu_s_per_m=... fn_cpu_s=... fn_cpu_s_per_m=... send_lag_max_ms=...
 *          startup_s=...
 * CPU is over the counted part (after warm-up until the last output arrived), per million
 * input records sent in it; fn_* are nan without --fn-pid. --samples writes every counted
 * sample as "send_s latency_ms" (arrival order), for plots.
 *
 * DESIGN
 * Two processes, so that getrusage() of the processor counts the processor alone: the
 * program forks first thing (before any thread exists); the child is the driver, the parent
 * the processor (the Rill app). The parent creates both topics (one partition each: one
 * task), starts the app, waits for its assignment, then tells the child to go through a pipe.
 * The driver, with librdkafka directly:
 *  - a producer sends N = rate × seconds records at fixed instants t0 + i/rate (absolute
 *    sleeps, so a late send does not shift the later ones), linger.ms=0 so that the input
 *    side adds no batching delay; record i has value "i" and key "<send time µs>-<i>", and
 *    its timestamp is the send time (ms). The key carries the send time at µs resolution
 *    to the output: both variants keep the input key and timestamp.
 *  - a consumer thread reads the output topic (assigned, no group) and takes, for every
 *    record, arrival time − send time (CLOCK_REALTIME, same machine). Records sent in the
 *    first --warmup-s seconds are not counted. It stops when every expected output has
 *    arrived (N of them: per 10 inputs, 8 give one output, one two, one none) or at the
 *    deadline, then sends the percentiles (exact: every sample is kept and sorted) back
 *    through the pipe.
 * The parent reads its CPU (getrusage) and the function's (/proc/<pid>/stat) when the
 * warm-up ends and when the driver is done, then stops the app cleanly.
 */
#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "faas_bench.h"

typedef struct lat_opts_s {
    const char *variant;
    const char *input;
    const char *output;
    const char *url;
    const char *samples;
    long rate;
    long seconds;
    long warmup_s;
    long fn_pid;
    long timeout_s;
} lat_opts_t;

/* ---------------------------------------------------------------------------------------- */
/* The transform rule, natively (core.js transformRecord)                                   */

/* The "logical" text of a value: trimmed; the content of a JSON string without escapes. */
static void logical_text(const char *v, size_t len, const char **tp, size_t *tlen) {
    while (len && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')) {
        v++;
        len--;
    }
    while (len &&
           (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"' && !memchr(v + 1, '\\', len - 2)) {
        v++;
        len -= 2;
    }
    *tp = v;
    *tlen = len;
}

/* Forwards what transform makes of rec (see the top of this file). */
static int transform_native(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    (void)opaque;
    const char *t;
    size_t len;
    logical_text(rec->value ? rec->value : "", rec->value ? rec->value_len : 0, &t, &len);
    if (len >= 6 && !memcmp(t, "poison", 6)) {
        rill_ctx_set_error(ctx, "poison record");
        return -1;
    }
    size_t i = 0;
    int neg = 0;
    if (i < len && (t[i] == '+' || t[i] == '-'))
        neg = t[i++] == '-';
    size_t digits = i;
    while (i < len && t[i] >= '0' && t[i] <= '9')
        i++;
    if (len == 0 || i != len || digits == len)
        return rill_ctx_forward(ctx, rec) ? -1 : 0; /* not an integer: unchanged */
    while (digits + 1 < len && t[digits] == '0')
        digits++; /* canonical form: no leading zeros */
    size_t nd = len - digits;
    if (nd == 1 && t[digits] == '0')
        neg = 0; /* -0 is 0 */
    int last = t[len - 1] - '0';
    if (last == 5)
        return 0;
    int low = 0; /* |N| mod 1000 */
    for (size_t k = nd > 3 ? len - 3 : digits; k < len; k++)
        low = low * 10 + (t[k] - '0');
    int r = (low * 7) % 1000;
    char out[512];
    if (nd + 16 > sizeof(out))
        return rill_ctx_forward(ctx, rec) ? -1 : 0; /* beyond this bench's inputs */
    int n = snprintf(out, sizeof(out), "%s%.*s:%s%d", neg ? "-" : "", (int)nd, t + digits,
                     neg && r ? "-" : "", r);
    rill_record_t o = *rec;
    o.value = out;
    o.value_len = (size_t)n;
    o.value_obj = NULL;
    if (rill_ctx_forward(ctx, &o))
        return -1;
    if (last == 0) {
        memcpy(out + n, ":b", 2);
        o.value_len = (size_t)n + 2;
        if (rill_ctx_forward(ctx, &o))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The driver (child process)                                                               */

static int64_t realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct driver_s {
    const lat_opts_t *o;
    const char *bootstrap;
    long expected;         /* outputs expected */
    int64_t count_from_us; /* records sent before this are warm-up */
    double deadline;       /* bench_now() */
    volatile int go;       /* the producer has set count_from_us */
    long received;
    double *samples; /* latency, ms, in arrival order */
    float *sent_at;  /* its send time, s after the counted part began */
    long nsamples, cap;
    char error[640];
} driver_t;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *consume_main(void *arg) {
    driver_t *d = arg;
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", d->bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "group.id", "bench-faas-latency-observer", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "fetch.wait.max.ms", "100", errstr, sizeof(errstr))) {
        snprintf(d->error, sizeof(d->error), "observer config: %s", errstr);
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) {
        snprintf(d->error, sizeof(d->error), "observer: %s", errstr);
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, d->o->output, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    while (d->received < d->expected && bench_now() < d->deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int64_t now = realtime_us();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "bench-faas-latency: observer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        long long sent = -1;
        if (m->key && m->key_len < 64) {
            char key[64];
            memcpy(key, m->key, m->key_len);
            key[m->key_len] = '\0';
            sent = strtoll(key, NULL, 10);
        }
        d->received++;
        if (sent > 0 && d->go && sent >= d->count_from_us) {
            if (d->nsamples == d->cap) {
                long cap = d->cap ? d->cap * 2 : 65536;
                double *s = realloc(d->samples, sizeof(double) * (size_t)cap);
                if (s)
                    d->samples = s;
                float *t = realloc(d->sent_at, sizeof(float) * (size_t)cap);
                if (t)
                    d->sent_at = t;
                if (!s || !t)
                    break;
                d->cap = cap;
            }
            d->sent_at[d->nsamples] = (float)((double)(sent - d->count_from_us) / 1e6);
            d->samples[d->nsamples++] = (double)(now - sent) / 1000.0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    long *failed = opaque;
    if (m->err)
        (*failed)++;
}

static double pct(const double *s, long n, double p) {
    if (n <= 0)
        return NAN;
    long k = (long)ceil(p * (double)n) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return s[k];
}

/* Runs the driver; writes one line "DRIVER key=value..." to fd. Returns the exit code. */
static int driver(const lat_opts_t *o, const char *bootstrap, int go_fd, int out_fd) {
    char c, errstr[512], line[1024];
    if (read(go_fd, &c, 1) != 1)
        return 1; /* the processor gave up */
    long n = o->rate * o->seconds;
    n -= n % 10; /* whole groups of ten: as many outputs as inputs */
    driver_t d = {.o = o,
                  .bootstrap = bootstrap,
                  .expected = n,
                  .deadline = bench_now() + (double)o->seconds + (double)o->timeout_s};
    pthread_t tid;
    if (pthread_create(&tid, NULL, consume_main, &d))
        return 1;
    long failed = 0;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(kc, "linger.ms", "0", NULL, 0);
    rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_opaque(kc, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench-faas-latency: driver producer: %s\n", errstr);
        return 1;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t start_us = realtime_us();
    d.count_from_us = start_us + (int64_t)o->warmup_s * 1000000;
    __atomic_store_n(&d.go, 1, __ATOMIC_RELEASE);
    double lag_max = 0;
    double t0s = (double)t0.tv_sec + (double)t0.tv_nsec / 1e9;
    for (long i = 0; i < n; i++) {
        double due = t0s + (double)i / (double)o->rate;
        struct timespec ts = {.tv_sec = (time_t)due,
                              .tv_nsec = (long)((due - (double)(time_t)due) * 1e9)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        double lag = bench_now() - due;
        if (lag > lag_max)
            lag_max = lag;
        int64_t sent = realtime_us();
        char key[48], value[24];
        int klen = snprintf(key, sizeof(key), "%" PRId64 "-%ld", sent, i);
        int vlen = snprintf(value, sizeof(value), "%ld", i);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(o->input), RD_KAFKA_V_PARTITION(0),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, (size_t)klen),
                    RD_KAFKA_V_VALUE(value, (size_t)vlen), RD_KAFKA_V_TIMESTAMP(sent / 1000),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (err) {
            fprintf(stderr, "bench-faas-latency: produce: %s\n", rd_kafka_err2str(err));
            failed++;
        }
        rd_kafka_poll(rk, 0);
    }
    double send_s = bench_now() - t0s;
    rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    pthread_join(tid, NULL);
    if (o->samples) {
        FILE *f = fopen(o->samples, "w");
        if (f) {
            fprintf(f, "# send_s latency_ms (arrival order; send_s from the end of warm-up)\n");
            for (long i = 0; i < d.nsamples; i++)
                fprintf(f, "%.4f %.3f\n", d.sent_at[i], d.samples[i]);
            fclose(f);
        }
    }
    qsort(d.samples, (size_t)d.nsamples, sizeof(double), cmp_double);
    double sum = 0;
    for (long i = 0; i < d.nsamples; i++)
        sum += d.samples[i];
    snprintf(line, sizeof(line),
             "DRIVER records=%ld outputs=%ld samples=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
             "p999_ms=%.3f max_ms=%.3f mean_ms=%.3f send_s=%.3f send_lag_max_ms=%.3f "
             "produce_failed=%ld%s%s\n",
             n, d.received, d.nsamples, pct(d.samples, d.nsamples, 0.50),
             pct(d.samples, d.nsamples, 0.90), pct(d.samples, d.nsamples, 0.99),
             pct(d.samples, d.nsamples, 0.999), d.nsamples ? d.samples[d.nsamples - 1] : NAN,
             d.nsamples ? sum / (double)d.nsamples : NAN, send_s, lag_max * 1e3, failed,
             d.error[0] ? " error=" : "", d.error[0] ? "observer" : "");
    if (d.error[0])
        fprintf(stderr, "bench-faas-latency: %s\n", d.error);
    free(d.samples);
    free(d.sent_at);
    ssize_t w = write(out_fd, line, strlen(line));
    (void)w;
    return d.received >= n && !failed && !d.error[0] ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */
/* The processor (parent process)                                                           */

static const char *const own_string_flags[] = {"--variant", "--input", "--output", "--url",
                                               "--samples"};
static const struct {
    const char *name;
    size_t off;
    /* clang-format off */
} own_counts[] = {
    {"--rate", offsetof(lat_opts_t, rate)},
    {"--seconds", offsetof(lat_opts_t, seconds)},
    {"--warmup-s", offsetof(lat_opts_t, warmup_s)},
    {"--fn-pid", offsetof(lat_opts_t, fn_pid)},
    {"--timeout-s", offsetof(lat_opts_t, timeout_s)},
};
/* clang-format on */

/* Applies one own flag: 0, 1 when not one, -1 on a bad value. */
static int own_flag(lat_opts_t *o, const char *a, const char *v, int loud) {
    const char **strs[] = {&o->variant, &o->input, &o->output, &o->url, &o->samples};
    for (size_t k = 0; k < sizeof(own_string_flags) / sizeof(own_string_flags[0]); k++)
        if (!strcmp(a, own_string_flags[k])) {
            *strs[k] = v;
            return 0;
        }
    for (size_t k = 0; k < sizeof(own_counts) / sizeof(own_counts[0]); k++)
        if (!strcmp(a, own_counts[k].name)) {
            long n = faas_bench_parse_count0(v);
            if (n < 0) {
                if (loud)
                    fprintf(stderr, "bench-faas-latency: %s: \"%s\" is not a count\n", a, v);
                return -1;
            }
            *(long *)((char *)o + own_counts[k].off) = n;
            return 0;
        }
    return 1;
}

static int parse_own_flags(int argc, char **argv, lat_opts_t *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench-faas-latency: \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        int rc = own_flag(o, a, v, 1);
        if (rc > 0)
            fprintf(stderr, "bench-faas-latency: unknown argument \"%s\" (see --help)\n", a);
        if (rc)
            return -1;
    }
    int native = o->variant && !strcmp(o->variant, "native");
    int faas = o->variant && !strcmp(o->variant, "faas");
    if ((!native && !faas) || (faas && !o->url) || o->rate <= 0 || o->seconds <= 0 ||
        o->warmup_s >= o->seconds || o->timeout_s <= 0) {
        fprintf(stderr, "bench-faas-latency: needs --variant native|faas (faas: --url), a "
                        "positive --rate and --seconds, --warmup-s below --seconds\n");
        return -1;
    }
    return 0;
}

static rill_topology_t *build(const lat_opts_t *o) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_bytes(), .value_serde = rill_serde_bytes()};
    rill_stream_t *in = rill_stream_from(topo, "source", o->input, &src), *out;
    if (o->variant && !strcmp(o->variant, "faas")) {
        rill_faas_opts_t fo = {.url = o->url ? o->url : "http://127.0.0.1:1/",
                               .function = "transform",
                               .format = RILL_FAAS_CLOUDEVENTS,
                               .order = RILL_FAAS_ORDER_PARTITION};
        out = rill_stream_faas(in, "transform", &fo);
    } else {
        out = rill_stream_flat_map(in, "transform", transform_native, NULL);
    }
    rill_stream_to(out, "sink", o->output, NULL);
    return topo;
}

/* Reads the driver's line from fd within timeout_s; returns 0 or -1. */
static int read_line(int fd, char *buf, size_t size, long timeout_s) {
    size_t len = 0;
    double deadline = bench_now() + (double)timeout_s;
    while (len + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = (int)((deadline - bench_now()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            return -1;
        ssize_t r = read(fd, buf + len, size - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    return len ? 0 : -1;
}

/* The value of key in a "k=v k=v" line, or "nan". */
static double line_num(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static int processor(rill_app_t *app, const lat_opts_t *o, int go_fd, int res_fd, double t_start) {
    char errstr[512], line[1024];
    int rc = -1;
    if (rill_app_create_topic(app, o->input, 1, errstr, sizeof(errstr)) ||
        rill_app_create_topic(app, o->output, 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-latency: topics: %s\n", errstr);
        return -1;
    }
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-latency: %s\n", errstr);
        return -1;
    }
    double deadline = bench_now() + 60;
    while (rill_app_metric(app, "rill_tasks") < 1 && bench_now() < deadline)
        faas_bench_sleep_ms(10);
    if (rill_app_metric(app, "rill_tasks") < 1) {
        fprintf(stderr, "bench-faas-latency: no partition assigned within 60 s\n");
        goto stop;
    }
    faas_bench_sleep_ms(500); /* let the first fetch go out */
    double t_go = bench_now();
    if (write(go_fd, "g", 1) != 1)
        goto stop;
    faas_bench_sleep_ms(o->warmup_s * 1000);
    double t0 = bench_now(), cpu0 = bench_cpu(), fn0 = faas_bench_proc_cpu(o->fn_pid);
    if (read_line(res_fd, line, sizeof(line), o->seconds + o->timeout_s + 60)) {
        fprintf(stderr, "bench-faas-latency: the driver gave no result\n");
        goto stop;
    }
    double t1 = bench_now(), cpu1 = bench_cpu(), fn1 = faas_bench_proc_cpu(o->fn_pid);
    /* Records sent in the counted part: all but the warm-up's. */
    double counted = line_num(line, "records") - (double)(o->rate * o->warmup_s);
    double per_m = counted / 1e6, fn = (fn0 >= 0 && fn1 >= 0) ? fn1 - fn0 : NAN;
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    printf("RESULT prog=faas-latency variant=%s rate=%ld%s window_s=%.3f cpu_s=%.3f "
           "cpu_s_per_m=%.3f fn_cpu_s=%.3f fn_cpu_s_per_m=%.3f startup_s=%.3f dlq=%ld\n",
           o->variant, o->rate, line + strlen("DRIVER"), t1 - t0, cpu1 - cpu0,
           (cpu1 - cpu0) / per_m, fn, fn / per_m, t_go - t_start,
           (long)rill_app_metric(app, "rill_dlq_records_total"));
    fflush(stdout);
    rc = strstr(line, " error=") ? -1 : 0;
stop:
    rill_app_stop(app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-faas-latency: %s\n", errstr);
        rc = -1;
    }
    return rc;
}

static void usage(void) {
    printf("bench-faas-latency --variant native|faas --input TOPIC --output TOPIC [--url URL] "
           "[--rate R (2000)] [--seconds S (20)] [--warmup-s S (2)] [--fn-pid PID] "
           "[--samples FILE] [--timeout-s S (120)] [common Rill flags below]\n\n");
}

int main(int argc, char **argv) {
    char errstr[512];
    double t_start = bench_now();
    lat_opts_t opts = {.input = "bench.faas-latency.input",
                       .output = "bench.faas-latency.output",
                       .rate = 2000,
                       .seconds = 20,
                       .warmup_s = 2,
                       .timeout_s = 120};
    for (int i = 1; i + 1 < argc; i++)
        if (own_flag(&opts, argv[i], argv[i + 1], 0) == 0)
            i++;
    rill_conf_t *conf = rill_conf_new();
    rill_topology_t *topo = build(&opts);
    rill_conf_set(conf, "application.id", "bench-faas-latency", NULL, 0);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            usage();
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, "bench-faas-latency: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, "bench-faas-latency: --bootstrap-servers is required\n");
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    char *bootstrap_copy = strdup(bootstrap);
    /* Fork before any thread exists (the conf and topology are plain memory). */
    int go[2], res[2];
    if (pipe(go) || pipe(res)) {
        perror("bench-faas-latency: pipe");
        return 1;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("bench-faas-latency: fork");
        return 1;
    }
    if (child == 0) {
        close(go[1]);
        close(res[0]);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        int drc = driver(&opts, bootstrap_copy, go[0], res[1]);
        free(bootstrap_copy);
        _exit(drc);
    }
    close(go[0]);
    close(res[1]);
    signal(SIGPIPE, SIG_IGN);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "bench-faas-latency: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        close(go[1]);
        waitpid(child, NULL, 0);
        return 2;
    }
    rc = processor(app, &opts, go[1], res[0], t_start);
    close(go[1]); /* a driver still waiting for "go" exits */
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench-faas-latency: the driver failed (not every output arrived, or "
                        "a produce failed)\n");
        rc = -1;
    }
    rill_app_destroy(app);
    free(bootstrap_copy);
    close(res[0]);
    return rc ? 1 : 0;
}
