/*
 * test_faas_eos_stall.c — exactly-once with a function that stalls for longer than a
 * transaction may stay open, on a real Kafka. Under exactly_once_v2 every commit waits until
 * the FaaS stage holds nothing, and the broker aborts (and fences) a transaction left open
 * past transaction.timeout.ms. Here that timeout is 6 s and the function is paused for 8 s
 * in mid-stream: the app must abort the transaction itself before the broker does, rewind,
 * and go on once the function answers again — it must not die — and afterwards a
 * read_committed reader must find every result exactly once, in input order per partition,
 * and the synchronous branch beside the stage every input record exactly once.
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

#define RECORDS 20000
#define PARTITIONS 4
#define STALL_AFTER 0.2 /* of the expected output */
#define STALL_MS 8000   /* longer than transaction.timeout.ms below */
#define PROGRESS_WAIT_MS 45000
#define OUTPUT_TIMEOUT_MS 90000

static const char *const props[] = {
    "processing.guarantee=exactly_once_v2",
    "transaction.timeout.ms=6000",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_faas_eos_stall, .fini = rt_kill_all, .timeout = 170);

Test(integration_faas_eos_stall, transaction_aborted_in_time_and_results_exactly_once) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":21,\"latencyMs\":[5,40]}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-eos-stall", PARTITIONS);
    char *sync_topic = NULL;
    if (asprintf(&sync_topic, "%s.sync", run.app_id) < 0)
        cr_assert_fail("out of memory");
    rt_create_topic(bootstrap, sync_topic, PARTITIONS);
    rt_faas_run_produce(&run, 0, RECORDS, rt_faas_gen_unique, NULL);

    /* Calls must outlast the stall: a timeout would spend their retries instead. */
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, props, 20, 4);
    app.sync_output = sync_topic;
    app.timeout_ms = 60000;
    app.metrics_every_ms = 100;
    pid_t pid = rt_faas_app_spawn(&app);
    rt_faas_run_await_progress(&run, pid, (int64_t)((double)RECORDS * STALL_AFTER),
                               PROGRESS_WAIT_MS);

    rt_fn_control(&fn, NULL, "{\"pause\":true}", NULL, 0);
    rt_sleep_ms(STALL_MS);
    rt_fn_control(&fn, NULL, "{\"pause\":false}", NULL, 0);
    cr_assert_eq(rt_wait(pid, 0), -1, "rill_faas_app died while the function stalled (log %s)",
                 run.log);

    rt_faas_run_await(&run, "read_committed", OUTPUT_TIMEOUT_MS);
    rt_faas_expect_clean_stop(pid, run.log);
    rt_metric_t aborts;
    rt_faas_log_metric(run.log, "rill_transaction_aborts_total", &aborts);
    cr_log_info("%s: %" PRId64 " transaction(s) aborted during the %d ms stall", run.app_id,
                aborts.last, STALL_MS);
    cr_expect(aborts.last >= 1,
              "no transaction was aborted although the function stalled "
              "for %d ms, longer than transaction.timeout.ms (log %s)",
              STALL_MS, run.log);

    rt_faas_run_expect_output(&run, "read_committed", false, false);

    rt_faas_run_expect_sync_output(&run, sync_topic, "read_committed");

    free(sync_topic);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
