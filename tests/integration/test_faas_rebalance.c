/*
 * test_faas_rebalance.c — a second instance joins while the first one's partitions are
 * paused, on a real Kafka. The function is slow and the stage may hold few records, so the
 * first rill_faas_app keeps its input partitions paused most of the time (backpressure).
 * When the second one joins, the group rebalances and the first gets part of its partitions
 * back: those must be fetched again (librdkafka keeps an application's pause across
 * unassign and assign, so Rill resumes what it is given). Every result must come through,
 * in input order per partition (duplicates of records in flight at the rebalance are
 * allowed under at_least_once, and counted).
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * faas_bridge/functions/node_modules (scripts/functions.sh start installs it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define RECORDS 8000
#define PARTITIONS 4
#define JOIN_AFTER 0.25 /* of the expected output */
#define PROGRESS_WAIT_MS 45000
#define OUTPUT_TIMEOUT_MS 60000

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    "buffered.records.per.partition=20",
    NULL,
};

TestSuite(integration_faas_rebalance, .fini = rt_kill_all, .timeout = 170);

Test(integration_faas_rebalance, paused_partitions_fetched_again_after_a_rebalance) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":5,\"latencyMs\":[20,60]}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-rebalance", PARTITIONS);
    rt_faas_run_produce(&run, 0, RECORDS, rt_faas_gen_unique, NULL);
    char *log_b_name = NULL;
    if (asprintf(&log_b_name, "%s-b.log", run.app_id) < 0)
        cr_assert_fail("out of memory");
    char *log_b = rt_tmp_path(log_b_name);
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, props, 10, 2);
    app.max_buffered = 40;
    app.metrics_every_ms = 100;
    pid_t a = rt_faas_app_spawn(&app);

    rt_faas_run_await_progress(&run, a, (int64_t)((double)RECORDS * JOIN_AFTER), PROGRESS_WAIT_MS);
    rt_metric_t pauses;
    rt_faas_log_metric(run.log, "rill_partition_pauses_total", &pauses);
    cr_log_info("%s: B joins with %" PRId64 " output records in; A paused its partitions %" PRId64
                " times so far",
                run.app_id, rt_faas_topic_records(bootstrap, run.output), pauses.last);
    cr_expect(pauses.last > 0,
              "A never paused a partition: the test does not test what it "
              "should (log %s)",
              run.log);
    app.log = log_b;
    pid_t b = rt_faas_app_spawn(&app);

    rt_faas_run_await(&run, "read_uncommitted", OUTPUT_TIMEOUT_MS);
    rt_faas_expect_clean_stop(a, run.log);
    rt_faas_expect_clean_stop(b, log_b);

    rt_faas_run_expect_output(&run, "read_uncommitted", false, true);

    free(log_b);
    free(log_b_name);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
