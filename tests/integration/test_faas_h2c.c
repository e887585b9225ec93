/*
 * test_faas_h2c.c — a FaaS stage with http_version 2 calling a function served over HTTP/2
 * without TLS (h2c with prior knowledge: faas_bridge/functions/h2c.js, node's http2 server):
 *  - the calls in flight share one connection: the function accepts one connection, the
 *    stage counts one (rill_faas_connections_opened_total), while several calls were in
 *    flight at once (rill_faas_in_flight), and every result arrives in order, none failed;
 *  - when the function allows fewer streams per connection than the calls in flight, the
 *    bridge opens more connections (each with prior knowledge) and still loses nothing (the
 *    streams the function refuses before libcurl has its settings are retried).
 * With HTTP/1.1 every call in flight would hold a connection of its own, and with prior
 * knowledge asked on a reused connection libcurl 7.88 fails the call (http_bridge.c, DESIGN).
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * node (the h2c function uses node's own modules and faas_bridge/functions/index.js, whose
 * node_modules scripts/functions.sh start installs).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdlib.h>

#define RECORDS 3000
#define BATCH 10
#define IN_FLIGHT 16
#define LATENCY_FAULT "{\"seed\":7,\"latencyMs\":40}"
#define OUTPUT_TIMEOUT_MS 90000

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    NULL,
};

TestSuite(integration_faas_h2c, .fini = rt_kill_all, .timeout = 150);

/* Runs the stage over h2c against fn, checks the output against the reference; returns the
 * connections the stage counted, the largest number of calls it had in flight and its
 * failed calls. */
static int64_t run_stage(rt_fn_t *fn, const char *name, int64_t *max_in_flight, int64_t *failed) {
    const char *bootstrap = rt_bootstrap();
    rt_faas_run_t run;
    rt_faas_run_init(&run, name, 2);
    rt_faas_run_produce(&run, 0, RECORDS, rt_faas_gen_unique, NULL);
    rt_faas_app_t app = {.bootstrap = bootstrap,
                         .input = run.input,
                         .output = run.output,
                         .app_id = run.app_id,
                         .url = fn->url,
                         .order = "partition",
                         .batch = BATCH,
                         .in_flight = IN_FLIGHT,
                         .http_version = 2,
                         .timeout_ms = 10000,
                         .metrics_every_ms = 100,
                         .props = props,
                         .log = run.log};
    pid_t pid = rt_faas_app_spawn(&app);
    rt_records_t *out = rt_faas_run_finish(&run, pid, OUTPUT_TIMEOUT_MS);
    rt_faas_expect_sequence(&run.delivered, out, false, run.output, NULL);

    rt_metric_t connects, in_flight, failures;
    rt_faas_log_metric(run.log, "rill_faas_connections_opened_total", &connects);
    rt_faas_log_metric(run.log, "rill_faas_in_flight", &in_flight);
    rt_faas_log_metric(run.log, "rill_faas_failures_total", &failures);
    cr_log_info("%s: %" PRId64 " connection(s) opened, at most %" PRId64
                " calls in flight, %" PRId64 " failed call(s), function saw %d connection(s)",
                run.app_id, connects.last, in_flight.max, failures.last, rt_fn_h2c_sessions(fn));
    *max_in_flight = in_flight.max;
    *failed = failures.last;
    rt_records_free(out);
    free(out);
    rt_faas_run_free(&run);
    return connects.last;
}

Test(integration_faas_h2c, calls_in_flight_share_one_connection_when_the_function_speaks_h2c) {
    rt_fn_t fn;
    rt_fn_start_h2c(&fn, "faulty", 100, LATENCY_FAULT);
    int64_t max_in_flight, failed;
    int64_t connects = run_stage(&fn, "faas-h2c-one", &max_in_flight, &failed);

    cr_expect_eq(failed, 0, "%" PRId64 " calls failed", failed);
    cr_expect_geq(max_in_flight, 4, "at most %" PRId64 " calls were in flight at once",
                  max_in_flight);
    cr_expect_eq(connects, 1, "the stage opened %" PRId64 " connections, not one", connects);
    cr_expect_eq(rt_fn_h2c_sessions(&fn), 1, "the function accepted %d connections, not one",
                 rt_fn_h2c_sessions(&fn));
    rt_fn_stop(&fn);
}

Test(integration_faas_h2c, more_connections_open_when_the_function_allows_few_streams) {
    rt_fn_t fn;
    rt_fn_start_h2c(&fn, "faulty", 3, LATENCY_FAULT);
    int64_t max_in_flight, failed;
    int64_t connects = run_stage(&fn, "faas-h2c-few", &max_in_flight, &failed);
    int sessions = rt_fn_h2c_sessions(&fn);

    /* 2 tasks x 16 calls, 3 streams per connection: at least ceil(max / 3) connections. */
    cr_expect_geq(sessions, (max_in_flight + 2) / 3,
                  "%d connections for %" PRId64 " calls in flight at most", sessions,
                  max_in_flight);
    cr_expect_eq(connects, sessions, "the stage counted %" PRId64 ", the function accepted %d",
                 connects, sessions);
    rt_fn_stop(&fn);
}
