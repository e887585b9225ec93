/*
 * test_faas_adaptive.c — adaptive concurrency on a real Kafka and a real function runtime.
 * rill_faas_app runs with adaptive_concurrency and up to 16 calls in flight (one task) against
 * a Functions Framework `faulty` instance that answers after 50 ms. With a backlog to work
 * on, the limit (rill_faas_concurrency_limit, from the metrics the app prints every 200 ms)
 * must climb near 16; once the function answers 429 to half of its calls it must fall to a
 * few calls; once the 429s stop it must climb back. Each phase is bounded in time. Every
 * record must still come through once and in input order (429s are retried), as the
 * reference computed here says.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * faas_bridge/functions/node_modules (scripts/functions.sh start installs it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdlib.h>

#define MAX_IN_FLIGHT 16
#define HIGH 12 /* "near the maximum" */
#define LOW 3   /* "a few calls" */
#define BATCH 10
#define PART_RECORDS 40000 /* per phase: more than the app finishes in a phase */
#define PHASE_MS 20000     /* each phase reaches its level within this, or fails */
#define OUTPUT_TIMEOUT_MS 120000

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    NULL,
};

TestSuite(integration_faas_adaptive, .fini = rt_kill_all, .timeout = 240);

/* Waits (metrics every 200 ms) until the limit is at least (above) or at most (!above) level.
 * Returns the time it took, or -1 after PHASE_MS. */
static int64_t wait_limit(const char *log, bool above, int64_t level, int64_t *seen) {
    int64_t t0 = rt_now_ms();
    for (int i = 0; i < PHASE_MS / 100; i++) {
        rt_metric_t m;
        rt_faas_log_metric(log, "rill_faas_concurrency_limit", &m);
        *seen = m.last;
        if (m.last > 0 && (above ? m.last >= level : m.last <= level))
            return rt_now_ms() - t0;
        rt_sleep_ms(100);
    }
    return -1;
}

Test(integration_faas_adaptive, limit_shrinks_on_429_and_grows_back_when_they_stop) {
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":31,\"latencyMs\":50}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-adaptive", 1);
    rt_faas_run_produce(&run, 0, PART_RECORDS, rt_faas_gen_unique, NULL);
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, props, BATCH, MAX_IN_FLIGHT);
    app.adaptive = 1;
    app.retries = 20;
    app.backoff_ms = 20;
    app.backoff_max_ms = 200;
    app.metrics_every_ms = 200;
    pid_t pid = rt_faas_app_spawn(&app);
    int64_t seen, ms;

    ms = wait_limit(run.log, true, HIGH, &seen);
    cr_log_info("%s: limit %" PRId64 " after %" PRId64 " ms", run.app_id, seen, ms);
    cr_assert_geq(ms, 0, "the limit did not reach %d (at %" PRId64 ", log %s)", HIGH, seen,
                  run.log);

    rt_fn_control(&fn, NULL,
                  "{\"fault\":{\"seed\":31,\"latencyMs\":50,\"retryAfterS\":0,"
                  "\"rates\":{\"429\":0.5}}}",
                  NULL, 0);
    ms = wait_limit(run.log, false, LOW, &seen);
    cr_log_info("%s: 429s: limit %" PRId64 " after %" PRId64 " ms", run.app_id, seen, ms);
    cr_assert_geq(ms, 0, "the limit did not fall to %d under 429s (at %" PRId64 ")", LOW, seen);

    rt_faas_run_produce(&run, PART_RECORDS, PART_RECORDS, rt_faas_gen_unique, NULL);
    rt_fn_control(&fn, NULL, "{\"fault\":{\"seed\":31,\"latencyMs\":50}}", NULL, 0);
    ms = wait_limit(run.log, true, HIGH, &seen);
    cr_log_info("%s: no more 429s: limit %" PRId64 " after %" PRId64 " ms", run.app_id, seen, ms);
    cr_assert_geq(ms, 0, "the limit did not grow back to %d (at %" PRId64 ")", HIGH, seen);

    rt_records_t *out = rt_faas_run_finish(&run, pid, OUTPUT_TIMEOUT_MS);
    rt_faas_expect_sequence(&run.delivered, out, false, run.output, NULL);
    rt_metric_t retries;
    rt_faas_log_metric(run.log, "rill_faas_retries_total", &retries);
    cr_expect_gt(retries.last, 0, "no call was retried: the 429s never came");

    rt_records_free(out);
    free(out);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
