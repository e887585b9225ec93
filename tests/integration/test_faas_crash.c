/*
 * test_faas_crash.c — a crash with invocations in flight, on a real Kafka (docs/DESIGN.md,
 * invariant 3: an offset is committed only when every async result before it has been emitted). The
 * function answers after 100–300 ms, so that many calls are in flight when rill_faas_app is
 * SIGKILLed; the app is then started again (same static member id, so it gets the same
 * partitions and, under exactly-once, the same transactional ids, which aborts the killed
 * instance's open transaction at once). Afterwards every expected result must be in the
 * output: under at_least_once with duplicates allowed (and counted), under exactly_once_v2
 * exactly once for a read_committed reader. In both, the first time each result appears
 * must follow input order per partition. Under exactly-once the app also has a synchronous
 * branch beside the stage (the input, unchanged, to a second topic): it too must hold every
 * input record exactly once, which holds only if the offsets committed with a transaction
 * cover every record whose outputs it holds.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * faas_bridge/functions/node_modules (scripts/functions.sh start installs it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS 50000
#define PARTITIONS 8
#define KILL_FRACTION 0.3
#define PROGRESS_WAIT_MS 45000
#define OUTPUT_TIMEOUT_MS 75000

TestSuite(integration_faas_crash, .fini = rt_kill_all, .timeout = 170);

/* Waits until KILL_FRACTION of the expected output is in and the app reports invocations
 * in flight. Returns the in-flight count of the last snapshot (0 if never seen). */
static int64_t wait_to_kill(const rt_faas_run_t *run, const char *log, pid_t pid) {
    const char *bootstrap = rt_bootstrap();
    int64_t want = (int64_t)((double)run->expected.cnt * KILL_FRACTION);
    int64_t deadline = rt_now_ms() + PROGRESS_WAIT_MS;
    rt_metric_t in_flight = {0};
    while (rt_now_ms() < deadline) {
        if (rt_wait(pid, 0) != -1) {
            rt_log_tail(log, 30);
            cr_assert_fail("rill_faas_app ended before it was to be killed (log %s)", log);
        }
        rt_faas_log_metric(log, "rill_faas_in_flight", &in_flight);
        if (rt_faas_topic_records(bootstrap, run->output) >= want && in_flight.last > 0)
            return in_flight.last;
        rt_sleep_ms(50);
    }
    rt_log_tail(log, 30);
    cr_assert_fail("no progress: %" PRId64 " output records wanted before the kill, %" PRId64
                   " in the output, %" PRId64 " calls in flight after %d ms",
                   want, rt_faas_topic_records(bootstrap, run->output), in_flight.last,
                   PROGRESS_WAIT_MS);
    return 0;
}

static void run_crash(const char *name, const char *guarantee, const char *commit_interval,
                      bool exactly_once) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":9,\"latencyMs\":[100,300]}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, name, PARTITIONS);
    rt_faas_run_produce(&run, 0, RECORDS, rt_faas_gen_unique, NULL);

    char *instance = NULL, *log2_name = NULL;
    if (asprintf(&instance, "group.instance.id=%s-i", run.app_id) < 0 ||
        asprintf(&log2_name, "%s-restarted.log", run.app_id) < 0)
        cr_assert_fail("out of memory");
    char *log2 = rt_tmp_path(log2_name);
    const char *const props[] = {
        guarantee,
        commit_interval,
        "session.timeout.ms=6000",
        "heartbeat.interval.ms=500",
        instance,
        NULL,
    };
    const char *isolation = exactly_once ? "read_committed" : "read_uncommitted";
    char *sync_topic = NULL;
    if (asprintf(&sync_topic, "%s.sync", run.app_id) < 0)
        cr_assert_fail("out of memory");
    if (exactly_once)
        rt_create_topic(bootstrap, sync_topic, PARTITIONS);
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, props, 20, 8);
    app.sync_output = exactly_once ? sync_topic : NULL;
    app.timeout_ms = 5000;
    app.metrics_every_ms = 100;
    pid_t pid = rt_faas_app_spawn(&app);
    int64_t in_flight = wait_to_kill(&run, run.log, pid);
    int64_t at_kill = rt_faas_topic_records(bootstrap, run.output);
    rt_kill(pid, SIGKILL);
    int code = rt_wait(pid, 10000);
    cr_expect_eq(code, 128 + SIGKILL, "rill_faas_app: exit %d, expected death by SIGKILL", code);
    cr_log_info("%s: killed with %" PRId64 " calls in flight and %" PRId64 " of %zu output "
                "records written",
                run.app_id, in_flight, at_kill, run.expected.cnt);

    int64_t t_restart = rt_now_ms();
    app.log = log2;
    pid = rt_faas_app_spawn(&app);
    rt_faas_run_await(&run, isolation, OUTPUT_TIMEOUT_MS);
    cr_log_info("%s: %.1f s from the restart to the end of the wait", run.app_id,
                (double)(rt_now_ms() - t_restart) / 1000.0);
    rt_faas_expect_clean_stop(pid, log2);

    rt_faas_run_expect_output(&run, isolation, false, !exactly_once);
    if (exactly_once)
        rt_faas_run_expect_sync_output(&run, sync_topic, isolation);
    free(sync_topic);
    free(log2);
    free(log2_name);
    free(instance);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}

Test(integration_faas_crash, every_result_present_when_killed_with_calls_in_flight) {
    run_crash("faas-crash-alos", "processing.guarantee=at_least_once", "commit.interval.ms=200",
              false);
}

Test(integration_faas_crash, every_result_exactly_once_when_killed_with_calls_in_flight) {
    run_crash("faas-crash-eos", "processing.guarantee=exactly_once_v2", "commit.interval.ms=100",
              true);
}
