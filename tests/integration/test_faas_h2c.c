/*
 * test_faas_h2c.c — a FaaS stage with http_version 2 calling a function served over HTTP/2
 * without TLS (h2c with prior knowledge: faas_bridge/functions/h2c.js, node's http2 server):
 *  - the calls in flight share one connection: the function accepts one connection, the
 *    stage counts one (rill_faas_connections_opened_total), while several calls were in
 *    flight at once (rill_faas_in_flight), and every result arrives in order, none failed;
 *  - when the function allows fewer streams per connection than the calls in flight, the
 *    bridge opens more connections (each with prior knowledge) and still loses nothing (the
 *    streams the function refuses before libcurl has its settings are retried);
 *  - under load (4 tasks x 16 calls, thousands of calls), the bridge opens one connection
 *    more only when the function ends one: libcurl 7.88 resets every stream it has finished
 *    (RST_STREAM), and node's HTTP/2 server (nghttp2 1.57 and later, the rapid-reset guard)
 *    ends a connection with GOAWAY once a client has reset 1000 streams plus 33 a second, so
 *    a connection carries at least 1000 calls. The calls in flight on the lost connection
 *    then wait for one new opener instead of each opening a connection of their own (about
 *    eight connections per lost one before).
 *  - over HTTPS, a function that offers HTTP/2 (ALPN "h2", and nothing else: HTTP/1.1 would
 *    fail the handshake) gets the calls of a stage with default settings (http_version 0)
 *    multiplexed on one connection, every result in order, none failed.
 * With HTTP/1.1 every call in flight would hold a connection of its own, and with prior
 * knowledge asked on a reused connection libcurl 7.88 fails the call (http_bridge.c, DESIGN).
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * node (the h2c function uses node's own modules and faas_bridge/functions/index.js, whose
 * node_modules scripts/functions.sh start installs) and, for HTTPS, openssl (a self-signed
 * certificate made for the test; the stage skips its check, insecure_skip_tls_verify).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS 3000
#define BUSY_RECORDS 40000 /* 4000 calls: the function ends connections under this load */
#define BUSY_TASKS 4
#define BATCH 10
#define IN_FLIGHT 16
#define LATENCY_FAULT "{\"seed\":7,\"latencyMs\":40}"
#define BUSY_LATENCY_FAULT "{\"seed\":7,\"latencyMs\":25}"
#define RESET_BUDGET 1000 /* streams a client may reset at once on node's HTTP/2 server */
#define OUTPUT_TIMEOUT_MS 90000

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    NULL,
};

TestSuite(integration_faas_h2c, .fini = rt_kill_all, .timeout = 150);

/* What a run of the stage showed. */
typedef struct stage_run_s {
    int64_t connects;      /* connections the stage counted */
    int64_t max_in_flight; /* the most calls it had in flight at once */
    int64_t failed;        /* its failed calls */
    int64_t invocations;   /* its calls */
} stage_run_t;

/* Runs the stage against fn (over h2c, or with default settings when fn is served over
 * HTTPS) with records input records in tasks partitions, checks the output against the
 * reference; returns what the stage's metrics showed. */
static stage_run_t run_stage(rt_fn_t *fn, const char *name, int tasks, size_t records) {
    bool tls = !strncmp(fn->url, "https://", 8);
    const char *bootstrap = rt_bootstrap();
    rt_faas_run_t run;
    rt_faas_run_init(&run, name, tasks);
    rt_faas_run_produce(&run, 0, records, rt_faas_gen_unique, NULL);
    rt_faas_app_t app = {.bootstrap = bootstrap,
                         .input = run.input,
                         .output = run.output,
                         .app_id = run.app_id,
                         .url = fn->url,
                         .order = "partition",
                         .batch = BATCH,
                         .in_flight = IN_FLIGHT,
                         .http_version = tls ? 0 : 2,
                         .insecure_tls = tls,
                         .timeout_ms = 10000,
                         .metrics_every_ms = 100,
                         .props = props,
                         .log = run.log};
    pid_t pid = rt_faas_app_spawn(&app);
    rt_records_t *out = rt_faas_run_finish(&run, pid, OUTPUT_TIMEOUT_MS);
    rt_faas_expect_sequence(&run.delivered, out, false, run.output, NULL);

    rt_metric_t connects, in_flight, failures, invocations;
    rt_faas_log_metric(run.log, "rill_faas_connections_opened_total", &connects);
    rt_faas_log_metric(run.log, "rill_faas_in_flight", &in_flight);
    rt_faas_log_metric(run.log, "rill_faas_failures_total", &failures);
    rt_faas_log_metric(run.log, "rill_faas_invocations_total", &invocations);
    cr_log_info("%s: %" PRId64 " call(s), %" PRId64 " connection(s) opened, at most %" PRId64
                " calls in flight, %" PRId64 " failed call(s), function saw %d connection(s)",
                run.app_id, invocations.last, connects.last, in_flight.max, failures.last,
                rt_fn_h2c_sessions(fn));
    rt_records_free(out);
    free(out);
    rt_faas_run_free(&run);
    return (stage_run_t){.connects = connects.last,
                         .max_in_flight = in_flight.max,
                         .failed = failures.last,
                         .invocations = invocations.last};
}

/* Runs the stage (2 tasks) against fn: no call failed, several were in flight at once, and
 * all went over one connection, as the stage and the function count them. Stops fn. */
static void expect_one_connection(rt_fn_t *fn, const char *name) {
    stage_run_t r = run_stage(fn, name, 2, RECORDS);

    cr_expect_eq(r.failed, 0, "%" PRId64 " calls failed", r.failed);
    cr_expect_geq(r.max_in_flight, 4, "at most %" PRId64 " calls were in flight at once",
                  r.max_in_flight);
    cr_expect_eq(r.connects, 1, "the stage opened %" PRId64 " connections, not one", r.connects);
    cr_expect_eq(rt_fn_h2c_sessions(fn), 1, "the function accepted %d connections, not one",
                 rt_fn_h2c_sessions(fn));
    rt_fn_stop(fn);
}

Test(integration_faas_h2c, calls_in_flight_share_one_connection_when_the_function_speaks_h2c) {
    rt_fn_t fn;
    rt_fn_start_h2c(&fn, "faulty", 100, LATENCY_FAULT);
    expect_one_connection(&fn, "faas-h2c-one");
}

Test(integration_faas_h2c, more_connections_open_when_the_function_allows_few_streams) {
    rt_fn_t fn;
    rt_fn_start_h2c(&fn, "faulty", 3, LATENCY_FAULT);
    stage_run_t r = run_stage(&fn, "faas-h2c-few", 2, RECORDS);
    int sessions = rt_fn_h2c_sessions(&fn);

    /* 2 tasks x 16 calls, 3 streams per connection: at least ceil(max / 3) connections. */
    cr_expect_geq(sessions, (r.max_in_flight + 2) / 3,
                  "%d connections for %" PRId64 " calls in flight at most", sessions,
                  r.max_in_flight);
    cr_expect_eq(r.connects, sessions, "the stage counted %" PRId64 ", the function accepted %d",
                 r.connects, sessions);
    rt_fn_stop(&fn);
}

Test(integration_faas_h2c, a_busy_stage_opens_a_connection_only_for_each_one_the_function_ends) {
    rt_fn_t fn;
    rt_fn_start_h2c(&fn, "faulty", 100, BUSY_LATENCY_FAULT);
    stage_run_t r = run_stage(&fn, "faas-h2c-busy", BUSY_TASKS, BUSY_RECORDS);
    int sessions = rt_fn_h2c_sessions(&fn);

    /* Every connection carries at least RESET_BUDGET calls before the function may end it;
     * a tenth of that is left for the calls libcurl sends again on the next connection. */
    int64_t bound = 1 + r.invocations / (RESET_BUDGET * 9 / 10);
    cr_expect_eq(r.failed, 0, "%" PRId64 " calls failed", r.failed);
    cr_expect_geq(r.invocations, BUSY_RECORDS / BATCH, "only %" PRId64 " calls", r.invocations);
    cr_expect_gt(r.max_in_flight, IN_FLIGHT, "at most %" PRId64 " calls were in flight at once",
                 r.max_in_flight);
    cr_expect_leq(r.connects, bound,
                  "the stage opened %" PRId64 " connections for %" PRId64 " calls (at most %" PRId64
                  ")",
                  r.connects, r.invocations, bound);
    cr_expect_eq(r.connects, sessions, "the stage counted %" PRId64 ", the function accepted %d",
                 r.connects, sessions);
    rt_fn_stop(&fn);
}

Test(integration_faas_h2c, an_https_function_offering_http2_gets_its_calls_on_one_connection) {
    rt_fn_t fn;
    rt_fn_start_h2_tls(&fn, "faulty", 100, LATENCY_FAULT);
    expect_one_connection(&fn, "faas-h2-tls");
}
