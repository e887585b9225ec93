/*
 * state_agg.c — bench-state-agg: a stateful Rill app measured the way bench-rill-passthrough
 * is, for the state-store benchmarks (bench/state_agg.sh, bench/state_restore.sh).
 *
 *   bench-state-agg --input T --mode keyed|windowed --records N [--output T] [--timeout-s S]
 *                   [common Rill flags: --bootstrap-servers, --state-dir, -D name=value, ...]
 *   bench-state-agg --input T --mode keyed --restore-records M [...]
 *
 * Topologies (public API only, bytes serdes, store "counts"):
 *   keyed     source → group_by_key → count                        (a key-value store)
 *   windowed  source → group_by_key → windowed_by(tumbling 10 s, grace 5 s)
 *                    → count, emit on update                       (a window store)
 *                    (emit-final instead when RILL_BENCH_EMIT=final)
 * With --output the table's updates go on to a sink (rill_table_to_stream → topic); without
 * it they are forwarded to no one, so what is measured is consume + aggregate + state store
 * + changelog, not the output's produce path.
 *
 * Processing run (--records N): starts the app, waits until N records are processed, stops it
 * cleanly (the stop's commit logs the stores' write caches to their changelogs, applies them
 * to RocksDB, and RocksDB flushes its memtables on close) and prints one RESULT line
 * (bench_common.h), then a METRICS line with the app's counters and its peak RSS.
 *
 * Restore run (--restore-records M): starts the app over a state.dir that has no copy of the
 * store, so that every task restores it from its changelog, and times the restore through
 * rill_app_metric("rill_restored_records_total"): polled every 1 ms until the first record is
 * restored (that instant starts the clock), every 2 ms until it reaches M (the changelog's size,
 * which the caller knows; that instant stops the clock). Then it stops the app (not timed) and
 * prints RESULT with prog=restore: wall_s and cpu_s are the restore's (first to last restored
 * record), total_s from the program's start (includes the group join and opening RocksDB).
 *
 * DESIGN
 * As bench-rill-passthrough: the program only watches the app from outside, through
 * rill_app_metric(), and every wait is bounded by --timeout-s. Configuration is Rill's
 * default (at_least_once, commit.interval.ms=30000, one stream thread,
 * statestore.cache.max.bytes 10 MiB, RocksDB block cache 64 MiB, 2 × 8 MiB memtables) unless
 * changed with the common flags.
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "state_bench.h"

typedef enum agg_mode_e { MODE_KEYED = 0, MODE_WINDOWED = 1 } agg_mode_t;

typedef struct agg_opts_s {
    const char *input;
    const char *output; /* NULL: no sink */
    agg_mode_t mode;
    long records;         /* processing run: records to process */
    long restore_records; /* restore run: records to restore */
    long timeout_s;
} agg_opts_t;

#define PROG "bench-state-agg"

/* The value after flag name in argv, or dflt; argv is not changed. */
static const char *peek_flag(int argc, char **argv, const char *name, const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return dflt;
}

static int parse_mode(const char *text, agg_mode_t *mode) {
    if (!strcmp(text, "keyed"))
        *mode = MODE_KEYED;
    else if (!strcmp(text, "windowed"))
        *mode = MODE_WINDOWED;
    else
        return -1;
    return 0;
}

/* Reads the program's own flags from what rill_cli_parse() left in argv. */
static int parse_own_flags(int argc, char **argv, agg_opts_t *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, PROG ": \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--input") || !strcmp(a, "--output") || !strcmp(a, "--mode"))
            continue; /* already read by peek_flag() to build the topology */
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(v);
        else if (!strcmp(a, "--restore-records"))
            o->restore_records = bench_parse_count(v);
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = bench_parse_count(v);
        else {
            fprintf(stderr, PROG ": unknown argument \"%s\" (see --help)\n", a);
            return -1;
        }
    }
    if ((o->records > 0) == (o->restore_records > 0) || o->timeout_s <= 0) {
        fprintf(stderr, PROG ": give either --records N or --restore-records M (positive "
                             "counts), and a positive --timeout-s S\n");
        return -1;
    }
    return 0;
}

static rill_topology_t *build(const agg_opts_t *o) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_bytes(), .value_serde = rill_serde_bytes()};
    rill_stream_t *in = rill_stream_from(topo, "source", o->input, &src);
    rill_grouped_t *g = rill_stream_group_by_key(in, "group");
    rill_table_t *t;
    if (o->mode == MODE_KEYED) {
        t = rill_grouped_count(g, SB_STORE);
    } else {
        rill_window_spec_t spec = {
            .kind = RILL_WINDOW_TUMBLING, .size_ms = SB_WINDOW_MS, .grace_ms = SB_GRACE_MS};
        const char *emit = getenv("RILL_BENCH_EMIT");
        t = rill_windowed_count(rill_grouped_windowed_by(g, &spec), SB_STORE,
                                emit && !strcmp(emit, "final") ? RILL_EMIT_FINAL
                                                               : RILL_EMIT_ON_UPDATE);
    }
    if (o->output)
        rill_stream_to(rill_table_to_stream(t, "updates"), "sink", o->output, NULL);
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

/* Processing run: until o->records are processed, then a clean stop; fills marks. */
static int run_processing(rill_app_t *app, const agg_opts_t *o, bench_marks_t *marks) {
    double deadline = marks->t_start + (double)o->timeout_s;
    int rc = 0;
    if (wait_metric(app, "rill_records_consumed_total", 1, 1, deadline)) {
        fprintf(stderr, PROG ": no record consumed within %ld s\n", o->timeout_s);
        rc = -1;
    } else {
        bench_mark_first(marks);
        if (wait_metric(app, "rill_records_processed_total", o->records, 10, deadline)) {
            fprintf(stderr, PROG ": timed out after %ld s with %ld of %ld records\n", o->timeout_s,
                    (long)rill_app_metric(app, "rill_records_processed_total"), o->records);
            rc = -1;
        }
        marks->t_last = bench_now();
    }
    return rc;
}

/* Restore run: from the first restored record until o->restore_records are restored; the
 * clock stops there (marks->t_stop), before the app is stopped. */
static int run_restore(rill_app_t *app, const agg_opts_t *o, bench_marks_t *marks) {
    double deadline = marks->t_start + (double)o->timeout_s;
    if (wait_metric(app, "rill_restored_records_total", 1, 1, deadline)) {
        fprintf(stderr, PROG ": no record restored within %ld s\n", o->timeout_s);
        return -1;
    }
    bench_mark_first(marks);
    if (wait_metric(app, "rill_restored_records_total", o->restore_records, 2, deadline)) {
        fprintf(stderr, PROG ": timed out after %ld s with %ld of %ld records restored\n",
                o->timeout_s, (long)rill_app_metric(app, "rill_restored_records_total"),
                o->restore_records);
        return -1;
    }
    marks->t_last = bench_now();
    bench_mark_stop(marks);
    return 0;
}

static int run(rill_app_t *app, const agg_opts_t *o, bench_marks_t *marks) {
    char errstr[512];
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    int rc = o->restore_records > 0 ? run_restore(app, o, marks) : run_processing(app, o, marks);
    rill_app_stop(app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rc = -1;
    }
    if (o->restore_records <= 0)
        bench_mark_stop(marks);
    return rc;
}

/* rill_changelog_records_total of one store, read from the app's metrics text (the counter
 * is per store; rill_app_metric() sums the stores). -1 when absent. */
static long store_changelog(rill_app_t *app, const char *store) {
    rill_buf_t text = {0};
    char needle[128];
    long v = -1;
    snprintf(needle, sizeof(needle), "store=\"%s\"} ", store);
    if (rill_app_metrics(app, &text) == RILL_OK && rill_buf_append(&text, "", 1) == 0) {
        for (const char *l = (const char *)text.data; l && v < 0; l = strchr(l, '\n')) {
            l += *l == '\n';
            const char *end = strchr(l, '\n'), *hit = strstr(l, needle);
            if (!strncmp(l, "rill_changelog_records_total{", 29) && hit && (!end || hit < end))
                v = strtol(hit + strlen(needle), NULL, 10);
        }
    }
    rill_buf_free(&text);
    return v;
}

static void print_metrics(rill_app_t *app) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("METRICS processed=%ld produced=%ld changelog=%ld changelog_all=%ld restored=%ld "
           "commits=%ld rebalances=%ld pauses=%ld dlq=%ld late=%ld maxrss_kb=%ld\n",
           (long)rill_app_metric(app, "rill_records_processed_total"),
           (long)rill_app_metric(app, "rill_records_produced_total"),
           store_changelog(app, SB_STORE),
           (long)rill_app_metric(app, "rill_changelog_records_total"),
           (long)rill_app_metric(app, "rill_restored_records_total"),
           (long)rill_app_metric(app, "rill_commits_total"),
           (long)rill_app_metric(app, "rill_rebalances_total"),
           (long)rill_app_metric(app, "rill_partition_pauses_total"),
           (long)rill_app_metric(app, "rill_dlq_records_total"),
           (long)rill_app_metric(app, "rill_late_records_total"), ru.ru_maxrss);
    fflush(stdout);
}

int main(int argc, char **argv) {
    char errstr[512];
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    agg_opts_t opts = {.input = peek_flag(argc, argv, "--input", "bench.input"),
                       .output = peek_flag(argc, argv, "--output", NULL),
                       .records = -1,
                       .restore_records = -1,
                       .timeout_s = 600};
    if (parse_mode(peek_flag(argc, argv, "--mode", "keyed"), &opts.mode)) {
        fprintf(stderr, PROG ": --mode is keyed or windowed\n");
        return 2;
    }
    rill_conf_t *conf = rill_conf_new();
    rill_topology_t *topo = build(&opts);
    rill_conf_set(conf, "application.id", PROG, NULL, 0);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help"))
            printf(PROG " --input TOPIC --mode keyed|windowed (--records N | --restore-records "
                        "M) [--output TOPIC] [--timeout-s S (600)] [common Rill flags below]\n\n");
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, PROG ": %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, PROG ": --bootstrap-servers is required (the input must already be "
                             "in Kafka)\n");
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    rc = run(app, &opts, &marks);
    if (rc == 0) {
        if (opts.restore_records > 0)
            bench_print_result("restore", rill_app_metric(app, "rill_restored_records_total"),
                               &marks);
        else
            bench_print_result(opts.mode == MODE_KEYED ? "rill-keyed" : "rill-windowed",
                               rill_app_metric(app, "rill_records_processed_total"), &marks);
        print_metrics(app);
    }
    rill_app_destroy(app);
    return rc ? 1 : 0;
}
