/*
 * rill_passthrough.c — bench-rill-passthrough: the smallest Rill app, source → sink with bytes
 * serdes, measured the same way as bench-raw-passthrough so that the two can be compared.
 *
 *   bench-rill-passthrough --input T --output T --records N [--timeout-s S]
 *                          [common Rill flags: --bootstrap-servers, -D application.id=ID, ...]
 *
 * It starts the app, waits until N records are processed, stops it cleanly (the stop flushes
 * the producer and commits) and prints one RESULT line (bench_common.h), then a METRICS line
 * with the app's own counters (commits, rebalances, partition pauses, dead letters).
 *
 * DESIGN
 * The program only watches the app from the outside, through rill_app_metric(): every 1 ms
 * until the first record is consumed (that instant starts the clock and excludes the group
 * join), then every 10 ms until rill_records_processed_total reaches N. The clock stops when
 * rill_app_wait() returns: outputs delivered, offsets committed, clients closed, as the raw
 * baseline's clock stops after the same steps. Every wait is bounded by --timeout-s.
 * Configuration is Rill's default (at_least_once, commit.interval.ms=30000, one stream
 * thread) unless changed with the common flags.
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

typedef struct pass_opts_s {
    const char *input;
    const char *output;
    long records;
    long timeout_s;
} pass_opts_t;

/* The value after flag name in argv, or dflt; argv is not changed. */
static const char *peek_flag(int argc, char **argv, const char *name, const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return dflt;
}

/* Reads the program's own flags from what rill_cli_parse() left in argv. */
static int parse_own_flags(int argc, char **argv, pass_opts_t *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench-rill-passthrough: \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--input") || !strcmp(a, "--output"))
            continue; /* already read by peek_flag() to build the topology */
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(v);
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = bench_parse_count(v);
        else {
            fprintf(stderr, "bench-rill-passthrough: unknown argument \"%s\" (see --help)\n", a);
            return -1;
        }
    }
    if (o->records <= 0 || o->timeout_s <= 0) {
        fprintf(stderr, "bench-rill-passthrough: --records N and --timeout-s S must be "
                        "positive counts\n");
        return -1;
    }
    return 0;
}

static rill_topology_t *build(const char *input, const char *output) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_bytes(), .value_serde = rill_serde_bytes()};
    rill_stream_t *in = rill_stream_from(topo, "source", input, &src);
    rill_stream_to(in, "sink", output, NULL);
    return topo;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls metric every period_ms until it reaches target or deadline passes; 0 or -1. */
static int wait_metric(rill_app_t *app, const char *metric, long target, long period_ms,
                       double deadline) {
    while (rill_app_metric(app, metric) < target) {
        if (bench_now() >= deadline)
            return -1;
        sleep_ms(period_ms);
    }
    return 0;
}

/* Runs the app until opts->records are processed, then stops it; fills marks. */
static int run(rill_app_t *app, const pass_opts_t *o, bench_marks_t *marks) {
    char errstr[512];
    double deadline = marks->t_start + (double)o->timeout_s;
    int rc = 0;
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-rill-passthrough: %s\n", errstr);
        return -1;
    }
    if (wait_metric(app, "rill_records_consumed_total", 1, 1, deadline)) {
        fprintf(stderr, "bench-rill-passthrough: no record consumed within %ld s\n", o->timeout_s);
        rc = -1;
    } else {
        bench_mark_first(marks);
        if (wait_metric(app, "rill_records_processed_total", o->records, 10, deadline)) {
            fprintf(stderr,
                    "bench-rill-passthrough: timed out after %ld s with %ld of %ld "
                    "records\n",
                    o->timeout_s, (long)rill_app_metric(app, "rill_records_processed_total"),
                    o->records);
            rc = -1;
        }
        marks->t_last = bench_now();
    }
    rill_app_stop(app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench-rill-passthrough: %s\n", errstr);
        rc = -1;
    }
    bench_mark_stop(marks);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[512];
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    pass_opts_t opts = {.input = peek_flag(argc, argv, "--input", "bench.input"),
                        .output = peek_flag(argc, argv, "--output", "bench.output"),
                        .records = -1,
                        .timeout_s = 600};
    rill_conf_t *conf = rill_conf_new();
    rill_topology_t *topo = build(opts.input, opts.output);
    rill_conf_set(conf, "application.id", "bench-rill-passthrough", NULL, 0);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            printf("bench-rill-passthrough --input TOPIC --output TOPIC --records N "
                   "[--timeout-s S (600)] [common Rill flags below]\n\n");
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, "bench-rill-passthrough: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, "bench-rill-passthrough: --bootstrap-servers is required (the input "
                        "must already be in Kafka)\n");
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "bench-rill-passthrough: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rc = run(app, &opts, &marks);
    if (rc == 0) {
        bench_print_result("rill", rill_app_metric(app, "rill_records_processed_total"), &marks);
        printf("METRICS produced=%ld commits=%ld rebalances=%ld pauses=%ld dlq=%ld\n",
               (long)rill_app_metric(app, "rill_records_produced_total"),
               (long)rill_app_metric(app, "rill_commits_total"),
               (long)rill_app_metric(app, "rill_rebalances_total"),
               (long)rill_app_metric(app, "rill_partition_pauses_total"),
               (long)rill_app_metric(app, "rill_dlq_records_total"));
    }
    rill_app_destroy(app);
    return rc ? 1 : 0;
}
