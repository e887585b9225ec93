/*
 * completion_bench.c — bench-completion: the winning bid of each NEXMark auction by completion
 * detection (rill_stream_complete), measured from the first record consumed to the last
 * completion; and the writer of its input.
 *
 *   bench-completion --write --bootstrap-servers B --auctions T --bids T --events N
 *                    [--seed S (42)] [--base-time MS (now)] [--partitions P (4)]
 *   bench-completion --auctions T --bids T --output T --events N [--timeout-s S (600)]
 *                    [--grace-ms MS (5000)] [common Rill flags: --bootstrap-servers,
 *                    --state-dir, -D application.id=ID, ...]
 *
 * --write writes NEXMark events 0..N-1 (rill_nexmark, seed S, NEXMark's default rate of
 * 10,000 events per second of event time from MS) as rill-nexmark does — auctions and bids
 * only, keyed by auction id, JSON, timestamp = dateTime — then one "watermark" auction per
 * partition of the auctions topic (key "~watermark-<p>", dateTime = the last expiry + 1 min,
 * never expiring) so that stream time passes every deadline. It prints "WROTE records=R
 * auctions=A" (R: auctions + bids + watermarks).
 *
 * Without --write it runs the topology of tests/progs/rill_winner_app.c (compiled in with
 * WINNER_APP_NO_MAIN: sources with the JSON serde and dateTime as event time,
 * rill_stream_complete with deadline = expires, grace --grace-ms, sink) over the whole input,
 * and prints the RESULT line of bench_common.h with these meanings:
 *   records      R, the input records (events and watermarks)
 *   wall_s       first record consumed → rill_completions_total reaches the number of
 *                auctions of N events (the last completion)
 *   cpu_s        user+sys CPU of this process (getrusage) over the same span
 *   last_s       the same as wall_s
 *   total_s      program start → clean stop (join, the run, the final commit)
 *   cpu_total_s  CPU from exec to the stop
 * then "METRICS completions=.. ignored=.. held=.. unmatched=.. late=.. dlq=.. commits=..".
 *
 * DESIGN
 * As bench-rill-passthrough, the program watches the app from the outside through
 * rill_app_metric(): every 1 ms until the first record is consumed, then every 10 ms. Every
 * wait is bounded by --timeout-s. Rill's defaults otherwise (at_least_once,
 * commit.interval.ms=30000, one stream thread).
 */
#include <nexmark.h>
#include <rill.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

#define PROG "bench-completion"
#define WATERMARK_AFTER_MS 60000
#define FAR_MS INT64_C(4000000000000)

/* From tests/progs/rill_winner_app.c. */
rill_topology_t *winner_topology(const char *auctions, const char *bids, const char *output,
                                 const rill_completion_spec_t *spec, char *errstr,
                                 size_t errstr_size);

typedef struct cpl_opts_s {
    int write;
    const char *auctions, *bids, *output;
    long events, timeout_s, partitions;
    long long seed, base_time, grace_ms;
} cpl_opts_t;

/* Reads the program's own flags from what rill_cli_parse() left in argv. */
static int parse_own_flags(int argc, char **argv, cpl_opts_t *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--write")) {
            o->write = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, PROG ": \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--auctions"))
            o->auctions = v;
        else if (!strcmp(a, "--bids"))
            o->bids = v;
        else if (!strcmp(a, "--output"))
            o->output = v;
        else if (!strcmp(a, "--events"))
            o->events = bench_parse_count(v);
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = bench_parse_count(v);
        else if (!strcmp(a, "--partitions"))
            o->partitions = bench_parse_count(v);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--base-time"))
            o->base_time = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--grace-ms"))
            o->grace_ms = strtoll(v, NULL, 10);
        else {
            fprintf(stderr, PROG ": unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    if (!o->auctions || !o->bids || (!o->write && !o->output) || o->events <= 0 ||
        o->timeout_s <= 0 || o->partitions <= 0 || o->grace_ms < 0) {
        fprintf(stderr,
                PROG ": --auctions, --bids, --events N and (without --write) --output "
                     "are needed; counts must be positive (see the top of completion_bench.c)\n");
        return -1;
    }
    return 0;
}

static void config(const cpl_opts_t *o, nexmark_config_t *cfg) {
    nexmark_config_init(cfg);
    cfg->seed = (uint64_t)o->seed;
    cfg->base_time_ms = o->base_time > 0 ? o->base_time : (int64_t)time(NULL) * 1000;
}

static long auctions_of(long events) {
    return (long)nexmark_last_base0_auction((uint64_t)events - 1) + 1;
}

/* ---- --write ---- */

static int write_input(const cpl_opts_t *o, const char *bootstrap) {
    char errstr[512], key[NEXMARK_KEY_MAX], value[160];
    nexmark_config_t cfg;
    config(o, &cfg);
    if (nexmark_config_check(&cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    rill_buf_t json = {0};
    nexmark_event_t ev;
    long written = 0;
    int64_t last_expiry = 0;
    int rc = 0;
    for (uint64_t n = 0; n < (uint64_t)o->events && !rc; n++) {
        if (nexmark_kind_of(n) == NEXMARK_PERSON)
            continue;
        nexmark_event_at(&cfg, n, &ev);
        if (ev.kind == NEXMARK_AUCTION && ev.auction.expires > last_expiry)
            last_expiry = ev.auction.expires;
        rill_buf_reset(&json);
        size_t key_len = nexmark_event_key(&ev, key);
        rc = nexmark_event_json(&ev, &json) ||
             rill_producer_send(p, ev.kind == NEXMARK_AUCTION ? o->auctions : o->bids, -1, key,
                                key_len, json.data, json.len, ev.date_time);
        written++;
    }
    int64_t at = last_expiry + WATERMARK_AFTER_MS;
    for (long part = 0; part < o->partitions && !rc; part++) {
        int key_len = snprintf(key, sizeof(key), "~watermark-%ld", part);
        int len =
            snprintf(value, sizeof(value),
                     "{\"id\":-1,\"reserve\":0,\"dateTime\":%" PRId64 ",\"expires\":%" PRId64 "}",
                     at, FAR_MS);
        rc = rill_producer_send(p, o->auctions, (int32_t)part, key, (size_t)key_len, value,
                                (size_t)len, at);
        written++;
    }
    if (rc || rill_producer_flush(p, 120000, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": writing the input failed%s%s\n", rc ? "" : ": ", rc ? "" : errstr);
        rc = -1;
    } else {
        printf("WROTE records=%ld auctions=%ld\n", written, auctions_of(o->events));
    }
    rill_buf_free(&json);
    rill_producer_destroy(p);
    return rc;
}

/* ---- the run ---- */

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

static int run(rill_app_t *app, const cpl_opts_t *o, bench_marks_t *m, double *cpu_last) {
    char errstr[512];
    double deadline = m->t_start + (double)o->timeout_s;
    long expected = auctions_of(o->events);
    int rc = 0;
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    if (wait_metric(app, "rill_records_consumed_total", 1, 1, deadline)) {
        fprintf(stderr, PROG ": no record consumed within %ld s\n", o->timeout_s);
        rc = -1;
    } else {
        bench_mark_first(m);
        if (wait_metric(app, "rill_completions_total", expected, 10, deadline)) {
            fprintf(stderr, PROG ": timed out after %ld s with %" PRId64 " of %ld completions\n",
                    o->timeout_s, rill_app_metric(app, "rill_completions_total"), expected);
            rc = -1;
        }
        m->t_last = bench_now();
        *cpu_last = bench_cpu();
    }
    rill_app_stop(app);
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rc = -1;
    }
    bench_mark_stop(m);
    return rc;
}

/* Runs the app (taking topo and conf) and prints its RESULT and METRICS lines. */
static int measure(const cpl_opts_t *o, rill_topology_t *topo, rill_conf_t *conf,
                   bench_marks_t *m) {
    char errstr[512];
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return -1;
    }
    double cpu_last = 0;
    int rc = run(app, o, m, &cpu_last);
    long records = (o->events - (o->events + 49) / 50) + o->partitions; /* no persons */
    if (!rc) {
        printf("RESULT prog=completion records=%ld wall_s=%.3f cpu_s=%.3f last_s=%.3f "
               "total_s=%.3f cpu_total_s=%.3f\n",
               records, m->t_last - m->t_first, cpu_last - m->cpu_first, m->t_last - m->t_first,
               m->t_stop - m->t_start, m->cpu_stop);
        printf("METRICS completions=%" PRId64 " ignored=%" PRId64 " held=%" PRId64
               " unmatched=%" PRId64 " late=%" PRId64 " dlq=%" PRId64 " commits=%" PRId64 "\n",
               rill_app_metric(app, "rill_completions_total"),
               rill_app_metric(app, "rill_completion_ignored_total"),
               rill_app_metric(app, "rill_completion_held_total"),
               rill_app_metric(app, "rill_completion_unmatched_total"),
               rill_app_metric(app, "rill_late_records_total"),
               rill_app_metric(app, "rill_dlq_records_total"),
               rill_app_metric(app, "rill_commits_total"));
        fflush(stdout);
    }
    rill_app_destroy(app);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[512];
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    cpl_opts_t opts = {
        .events = -1, .timeout_s = 600, .partitions = 4, .seed = 42, .grace_ms = 5000};
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", "bench-completion", NULL, 0);
    int rc = rill_cli_parse(&argc, argv, conf, NULL, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, PROG ": %s\n", errstr);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    if (opts.write) {
        const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
        rc = bootstrap ? write_input(&opts, bootstrap) : -1;
        if (!bootstrap)
            fprintf(stderr, PROG ": --write needs --bootstrap-servers\n");
        rill_conf_destroy(conf);
        return rc ? 1 : 0;
    }
    rill_completion_spec_t spec = {.grace_ms = opts.grace_ms, .hold_ms = 60000};
    rill_topology_t *topo =
        winner_topology(opts.auctions, opts.bids, opts.output, &spec, errstr, sizeof(errstr));
    if (!topo) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rill_conf_destroy(conf);
        return 2;
    }
    rc = measure(&opts, topo, conf, &marks);
    return rc ? 1 : 0;
}
