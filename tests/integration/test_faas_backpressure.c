/*
 * test_faas_backpressure.c — a function that stops answering, on a real Kafka. rill_faas_app
 * runs against a Functions Framework `faulty` instance of its own; after a warm-up the
 * function is paused (POST /control {"pause":true}: calls are held, unanswered) and a
 * backlog of 200k records is produced. The stage may hold at most --max-buffered records
 * per task, so the app must pause its partitions (rill_partition_pauses_total, from the
 * metrics it prints) and leave the backlog in Kafka: its memory must stay bounded and stop
 * growing, and, since a stream thread never busy-waits (docs/DESIGN.md, invariant 6), it must stay
 * nearly idle: its threads, summed, may be running or ready to run for a small part of the time
 * only (a thread that spins is always one or the other, however busy the machine is). Once the
 * function resumes, every record must come through, once and in order.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * faas_bridge/functions/node_modules (scripts/functions.sh start installs it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define PARTITIONS 8
#define WARMUP 2000
#define BACKLOG 200000
#define MAX_BUFFERED 2000
#define RSS_LIMIT_KB (150 * 1024)
#define RSS_GROWTH_LIMIT_KB (8 * 1024)
#define SETTLE_MS 3000     /* after the backlog is in Kafka, before measuring */
#define WATCH_MS 6000      /* how long the paused app is watched */
#define RUNNABLE_LIMIT 0.3 /* while paused: threads running or ready to run, in wall time */

TestSuite(integration_faas_backpressure, .fini = rt_kill_all, .timeout = 170);

Test(integration_faas_backpressure, input_paused_and_memory_bounded_when_function_stops_answering) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":13,\"latencyMs\":[1,5]}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-pause", PARTITIONS);
    /* Held calls must outlast the pause: a timeout would spend their retries. */
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, rt_faas_props_alos, 50, 4);
    app.timeout_ms = 120000;
    app.max_buffered = MAX_BUFFERED;
    app.metrics_every_ms = 250;
    pid_t pid = rt_faas_app_spawn(&app);

    /* Warm-up: the app runs and the function answers. */
    rt_faas_run_produce(&run, 0, WARMUP, rt_faas_gen_unique, NULL);
    int64_t ms = rt_faas_run_await(&run, "read_uncommitted", 30000);
    cr_assert_geq(ms, 0, "the warm-up output is incomplete after 30 s (log %s)", run.log);
    long rss_warm = rt_proc_rss_kb(pid);

    /* The function stops answering; a backlog arrives. */
    rt_fn_control(&fn, NULL, "{\"pause\":true}", NULL, 0);
    int64_t t0 = rt_now_ms();
    rt_faas_run_produce(&run, WARMUP, BACKLOG, rt_faas_gen_unique, NULL);
    cr_log_info("%s: %d records produced in %.1f s while the function is paused", run.app_id,
                BACKLOG, (double)(rt_now_ms() - t0) / 1000.0);
    rt_sleep_ms(SETTLE_MS);
    int64_t out_before = rt_faas_topic_records(bootstrap, run.output);

    /* Watch it: memory every 250 ms, CPU and runnable time over the whole window. */
    long rss_max = 0, rss_first = -1, rss_last = -1;
    int64_t cpu0 = rt_proc_cpu_ms(pid), run0 = rt_proc_runnable_ms(pid), w0 = rt_now_ms();
    while (rt_now_ms() - w0 < WATCH_MS) {
        long rss = rt_proc_rss_kb(pid);
        cr_assert_geq(rss, 0, "rill_faas_app is gone (log %s)", run.log);
        if (rss_first < 0)
            rss_first = rss;
        rss_last = rss;
        if (rss > rss_max)
            rss_max = rss;
        rt_sleep_ms(250);
    }
    double wall = (double)(rt_now_ms() - w0);
    double cpu = (double)(rt_proc_cpu_ms(pid) - cpu0) / wall;
    double runnable = (double)(rt_proc_runnable_ms(pid) - run0) / wall;
    int64_t out_after = rt_faas_topic_records(bootstrap, run.output);
    char stats[16384];
    rt_fn_control(&fn, NULL, "{}", stats, sizeof(stats));
    rt_metric_t pauses, consumed, in_flight, buffered;
    rt_faas_log_metric(run.log, "rill_partition_pauses_total", &pauses);
    rt_faas_log_metric(run.log, "rill_records_consumed_total", &consumed);
    rt_faas_log_metric(run.log, "rill_faas_in_flight", &in_flight);
    rt_faas_log_metric(run.log, "rill_buffered_records", &buffered);
    cr_log_info("%s: paused: RSS %ld KiB after warm-up, %ld..%ld KiB watched (max %ld), CPU "
                "%.0f%% of a core, runnable %.0f%% of the time, %" PRId64 " partition pauses, "
                "%" PRId64 " records consumed, %" PRId64 " buffered, %" PRId64 " calls in "
                "flight, %" PRId64 " held by the function",
                run.app_id, rss_warm, rss_first, rss_last, rss_max, cpu * 100, runnable * 100,
                pauses.last, consumed.last, buffered.last, in_flight.last,
                rt_json_number(stats, NULL, "held"));
    cr_expect_gt(pauses.last, 0, "the app never paused a partition (log %s)", run.log);
    cr_expect_gt(in_flight.last, 0, "no call was in flight while the function was paused");
    cr_expect_lt(consumed.last, (int64_t)(WARMUP + BACKLOG / 2),
                 "the app consumed %" PRId64 " of %d records while nothing could be processed: "
                 "the backlog should stay in Kafka",
                 consumed.last, WARMUP + BACKLOG);
    cr_expect_lt(rss_max, RSS_LIMIT_KB, "RSS reached %ld KiB (limit %d KiB)", rss_max,
                 RSS_LIMIT_KB);
    cr_expect_lt(rss_last - rss_first, RSS_GROWTH_LIMIT_KB,
                 "RSS still grew from %ld to %ld KiB in %d ms while paused", rss_first, rss_last,
                 WATCH_MS);
    cr_expect_lt(runnable, RUNNABLE_LIMIT,
                 "the app's threads were running or ready to run "
                 "%.0f%% of the time (%.0f%% of a core) while it could do nothing: something "
                 "busy-waits",
                 runnable * 100, cpu * 100);
    cr_expect_eq(out_after, out_before,
                 "output grew from %" PRId64 " to %" PRId64 " records "
                 "while the function held every call",
                 out_before, out_after);

    /* The function answers again: everything must come through. */
    rt_fn_control(&fn, NULL, "{\"pause\":false}", NULL, 0);
    rt_faas_run_await(&run, "read_uncommitted", 90000);
    rt_faas_expect_clean_stop(pid, run.log);

    rt_faas_run_expect_output(&run, "read_uncommitted", false, false);
    rt_faas_run_expect_no_dead_letters(&run);

    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
