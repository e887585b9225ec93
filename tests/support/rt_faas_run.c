/*
 * rt_faas_run.c — one run of rill_faas_app in a FaaS integration test (see rt_faas_run.h):
 * its topics, input and reference, the app's settings, waiting for its output and the checks
 * of what it wrote.
 *
 * DESIGN
 * The reference (run->expected) is computed from the input as Kafka acknowledged it, by the
 * test's own model of the function (rt_faas_transform), never by the code under test. Waiting
 * and checking are separate: a test waits for the whole output while the app runs, stops the
 * app, and only then reads the output to its end, so that what is compared is everything the
 * app wrote, replays included. Everything here runs on the test's thread.
 */
#include "rt_faas_run.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_TO_END_MS 30000

const char *const rt_faas_props_alos[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

void rt_faas_run_init(rt_faas_run_t *run, const char *name, int partitions) {
    const char *bootstrap = rt_bootstrap();
    memset(run, 0, sizeof(*run));
    run->app_id = rt_unique_name(name);
    run->input = rt_asprintf("%s.in", run->app_id);
    run->output = rt_asprintf("%s.out", run->app_id);
    run->dlq = rt_asprintf("%s-dlq", run->app_id);
    char *log_name = rt_asprintf("%s.log", run->app_id);
    run->log = rt_tmp_path(log_name);
    free(log_name);
    rt_create_topic(bootstrap, run->input, partitions);
    rt_create_topic(bootstrap, run->output, partitions);
}

void rt_faas_run_produce(rt_faas_run_t *run, size_t first, size_t n, rt_gen_cb gen, void *opaque) {
    char errstr[512];
    size_t before = run->delivered.cnt;
    rt_produce_opts_t opts = {.first = first, .delivered = &run->delivered};
    if (rt_produce_strings(rt_bootstrap(), run->input, n, gen, opaque, &opts, errstr,
                           sizeof(errstr)))
        cr_assert_fail("producing the input of %s: %s", run->app_id, errstr);
    if (run->delivered.cnt - before != n)
        cr_assert_fail("%zu of %zu input records acknowledged", run->delivered.cnt - before, n);
    rt_records_t added = {.v = run->delivered.v + before, .cnt = n};
    rt_faas_expected(&added, &run->expected);
}

void rt_faas_run_free(rt_faas_run_t *run) {
    free(run->app_id);
    free(run->input);
    free(run->output);
    free(run->dlq);
    free(run->log);
    rt_records_free(&run->delivered);
    rt_kvs_free(&run->expected);
    memset(run, 0, sizeof(*run));
}

rt_faas_app_t rt_faas_run_app(const rt_faas_run_t *run, const char *url, const char *const *props,
                              int batch, int in_flight) {
    return (rt_faas_app_t){.bootstrap = rt_bootstrap(),
                           .input = run->input,
                           .output = run->output,
                           .app_id = run->app_id,
                           .url = url,
                           .order = "partition",
                           .batch = batch,
                           .in_flight = in_flight,
                           .timeout_ms = 10000,
                           .retries = 5,
                           .metrics_every_ms = 500,
                           .props = props,
                           .log = run->log};
}

int64_t rt_faas_await(const char *topic, const char *isolation_level, const rt_kvs_t *expected,
                      int timeout_ms) {
    const char *bootstrap = rt_bootstrap();
    int64_t t0 = rt_now_ms(), deadline = t0 + timeout_ms;
    char errstr[512];
    /* Cheap first: the topic's size (records, committed or not, and markers). */
    while (rt_now_ms() < deadline &&
           rt_topic_size(bootstrap, topic, errstr, sizeof(errstr)) < (int64_t)expected->cnt)
        rt_sleep_ms(200);
    for (;;) {
        int left = (int)(deadline - rt_now_ms());
        rt_records_t *recs = rt_consume_all(bootstrap, topic, isolation_level, expected->cnt,
                                            left > 1000 ? left : 1000);
        rt_diff_t diff;
        rt_diff(expected, recs, &diff);
        rt_records_free(recs);
        free(recs);
        if (!diff.missing)
            return rt_now_ms() - t0;
        if (rt_now_ms() >= deadline)
            return -1;
        rt_sleep_ms(500);
    }
}

void rt_faas_run_await_progress(const rt_faas_run_t *run, pid_t pid, int64_t want, int timeout_ms) {
    const char *bootstrap = rt_bootstrap();
    int64_t deadline = rt_now_ms() + timeout_ms;
    while (rt_faas_topic_records(bootstrap, run->output) < want) {
        if (rt_wait(pid, 0) != -1) {
            rt_log_tail(run->log, 30);
            cr_assert_fail("rill_faas_app ended before %s held %" PRId64 " records (log %s)",
                           run->output, want, run->log);
        }
        if (rt_now_ms() > deadline) {
            rt_log_tail(run->log, 30);
            cr_assert_fail("no progress: %" PRId64 " output records wanted, %" PRId64
                           " in %s after %d ms (log %s)",
                           want, rt_faas_topic_records(bootstrap, run->output), run->output,
                           timeout_ms, run->log);
        }
        rt_sleep_ms(50);
    }
}

int64_t rt_faas_run_await(const rt_faas_run_t *run, const char *isolation_level, int timeout_ms) {
    int64_t ms = rt_faas_await(run->output, isolation_level, &run->expected, timeout_ms);
    if (ms >= 0)
        cr_log_info("%s: complete %s output after %.1f s", run->app_id, isolation_level,
                    (double)ms / 1000.0);
    return ms;
}

void rt_faas_expect_clean_stop(pid_t pid, const char *log) {
    int code = rt_faas_app_stop(pid, log);
    cr_expect_eq(code, 0, "rill_faas_app exited with %d after SIGTERM (log %s)", code, log);
}

/* Reads run's whole output (isolation_level) and expects it to hold exactly run->expected,
 * duplicates allowed or not; returns what it read. */
static rt_records_t *read_and_compare(const rt_faas_run_t *run, const char *isolation_level,
                                      bool allow_duplicates) {
    rt_records_t *out =
        rt_consume_all(rt_bootstrap(), run->output, isolation_level, 0, READ_TO_END_MS);
    rt_diff_t diff;
    rt_diff(&run->expected, out, &diff);
    cr_log_info("%s: %s", run->app_id, diff.report);
    if (allow_duplicates)
        cr_log_info("%s: %zu duplicates (allowed under at-least-once)", run->app_id,
                    diff.duplicates);
    cr_expect(!diff.missing && !diff.extra && (allow_duplicates || !diff.duplicates),
              "%s output of %s differs from the reference: %s", isolation_level, run->output,
              diff.report);
    if (diff.missing || diff.extra)
        rt_log_tail(run->log, 30);
    return out;
}

void rt_faas_run_expect_output(const rt_faas_run_t *run, const char *isolation_level, bool by_key,
                               bool allow_duplicates) {
    rt_records_t *out = read_and_compare(run, isolation_level, allow_duplicates);
    rt_faas_expect_sequence(&run->delivered, out, by_key, run->output, NULL);
    rt_records_free(out);
    free(out);
}

void rt_faas_run_expect_sync_output(const rt_faas_run_t *run, const char *topic,
                                    const char *isolation_level) {
    rt_kvs_t inputs = {0};
    for (size_t i = 0; i < run->delivered.cnt; i++)
        rt_kvs_add(&inputs, run->delivered.v[i].key, run->delivered.v[i].value);
    rt_records_t *sync =
        rt_consume_all(rt_bootstrap(), topic, isolation_level, inputs.cnt, READ_TO_END_MS);
    rt_diff_t diff;
    rt_diff(&inputs, sync, &diff);
    cr_log_info("%s: synchronous branch: %s", run->app_id, diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "%s output of the synchronous branch %s is not exactly once: %s", isolation_level,
              topic, diff.report);
    rt_records_free(sync);
    free(sync);
    rt_kvs_free(&inputs);
}

rt_records_t *rt_faas_run_expect_dead_letters(const rt_faas_run_t *run, const rt_kvs_t *expected) {
    rt_records_t *dead = rt_consume_all(rt_bootstrap(), run->dlq, "read_uncommitted", 0, 20000);
    rt_diff_t diff;
    rt_diff(expected, dead, &diff);
    cr_log_info("%s dead letters: %s", run->app_id, diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "the dead-letter topic %s does not hold exactly the poison records: %s", run->dlq,
              diff.report);
    return dead;
}

void rt_faas_run_expect_no_dead_letters(const rt_faas_run_t *run) {
    int64_t dead = rt_faas_topic_records(rt_bootstrap(), run->dlq);
    cr_expect_eq(dead, 0, "%" PRId64 " records went to the dead-letter topic %s", dead, run->dlq);
}

rt_records_t *rt_faas_run_finish(const rt_faas_run_t *run, pid_t pid, int timeout_ms) {
    int64_t ms = rt_faas_run_await(run, "read_uncommitted", timeout_ms);
    rt_faas_expect_clean_stop(pid, run->log);
    cr_expect_geq(ms, 0, "output of %s incomplete after %d ms", run->output, timeout_ms);
    return read_and_compare(run, "read_uncommitted", false);
}
