/*
 * test_auction_cost.c — rill-auction's end-of-run cost estimate (topologies/auction/cost.c)
 * on a real Kafka with the real edge functions: its inputs must be what happened and its
 * dollars what the model gives for them, recomputed here by hand.
 *
 *  - edge events: every auction and bid written (valid or not) goes through the edge once;
 *  - FaaS run: the invocations and billed ms it prints equal what the three functions
 *    counted themselves over the run (GET /stats before and after: calls, billedMs), and it
 *    says the durations are the functions' reported ones; its USD per million events
 *    (requests, duration, total) and the crossover are recomputed from those counts at the
 *    default list prices (bench/cost_prices.h: 0.20 USD per million requests, 0.0000166667
 *    per GB-second at 128 MB; smallest processor 0.25 × (0.04048 + 2 × 0.004445) USD/h);
 *  - native run: no function called, the same event count.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"
#include "rt_faas.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 20000
#define RUN_TIMEOUT_MS 180000

TestSuite(integration_auction_cost, .fini = rt_kill_all, .timeout = 400);

static const char *const fn_env[3] = {"RILL_TEST_FN_VALIDATE_AUCTION", "RILL_TEST_FN_VALIDATE_BID",
                                      "RILL_TEST_FN_NOTIFY"};

/* Calls and billed ms the three edge functions counted so far (their GET /stats). */
static void fn_totals(double *calls, double *billed) {
    *calls = *billed = 0;
    for (int i = 0; i < 3; i++) {
        const char *url = getenv(fn_env[i]);
        cr_assert(url && *url, "%s is not set (scripts/test.sh exports it)", fn_env[i]);
        const char *colon = strrchr(url, ':');
        cr_assert_not_null(colon, "no port in %s", url);
        char reply[8192];
        int code = rt_http(atoi(colon + 1), "GET", "/stats", NULL, reply, sizeof(reply), 10000);
        cr_assert_eq(code, 200, "GET %sstats: %d %s", url, code, reply);
        json_object *st = json_tokener_parse(reply), *v;
        cr_assert_not_null(st, "stats are not JSON: %s", reply);
        cr_assert(json_object_object_get_ex(st, "calls", &v), "no calls in %s", reply);
        *calls += json_object_get_double(v);
        cr_assert(json_object_object_get_ex(st, "billedMs", &v), "no billedMs in %s", reply);
        *billed += json_object_get_double(v);
        json_object_put(st);
    }
}

/* The cost lines of the summary in the app's log. */
typedef struct estimate_s {
    double cpu_s, events, calls, billed, mb, per_m, requests, duration, crossover;
    int reported, none_called, has_processor, has_functions, has_crossover;
} estimate_t;

static void read_estimate(const char *log, estimate_t *e) {
    memset(e, 0, sizeof(*e));
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f, "cannot read %s", log);
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, " processor %lf CPU-s for %lf edge events", &e->cpu_s, &e->events) == 2)
            e->has_processor = 1;
        if (sscanf(line, " functions %lf invocations, %lf billed ms at %lf MB", &e->calls,
                   &e->billed, &e->mb) == 3) {
            e->has_functions = 1;
            e->reported = strstr(line, "as the functions reported them") != NULL;
        }
        if (strstr(line, "functions   none called"))
            e->none_called = 1;
        if (sscanf(line, " USD %lf per million events (requests %lf + duration %lf)", &e->per_m,
                   &e->requests, &e->duration) == 3)
            e->has_functions++;
        if (sscanf(line, " crossover above %lf events/s", &e->crossover) == 1)
            e->has_crossover = 1;
    }
    fclose(f);
}

/* Runs rill-auction --drain with the edge given; returns the log path (to free). */
static char *run_app(const rt_auction_t *a, const char *edge, const char *app_id) {
    char *state = rt_tmp_path(app_id), *log, *nf, *name;
    cr_assert(asprintf(&name, "%s.log", app_id) > 0 && asprintf(&nf, "%s-notify", app_id) > 0);
    log = rt_tmp_path(name);
    char *notify = rt_tmp_path(nf);
    const char *props[] = {"http.listen=", NULL};
    const char *extra[] = {"--drain", NULL};
    unsetenv("RILL_COST_FN_REQUESTS_PER_M"); /* the default prices, as computed below */
    unsetenv("RILL_COST_FN_GB_S");
    unsetenv("RILL_COST_FN_MEMORY_MB");
    unsetenv("RILL_COST_PROC_VCPU_H");
    unsetenv("RILL_COST_PROC_GB_H");
    unsetenv("RILL_COST_PROC_GB_PER_VCPU");
    unsetenv("RILL_COST_PROC_VCPU_STEP");
    unsetenv("RILL_COST_BURST");
    pid_t pid = rt_auction_spawn(a, edge, app_id, state, notify, props, extra, log);
    int rc = rt_wait(pid, RUN_TIMEOUT_MS);
    if (rc)
        rt_log_tail(log, 30);
    cr_assert_eq(rc, 0, "rill-auction --edge %s exited with %d (log %s)", edge, rc, log);
    free(state);
    free(notify);
    free(nf);
    free(name);
    return log;
}

static void expect_close(double got, double want, double tol, const char *what) {
    cr_expect(got >= want - tol && got <= want + tol, "%s: printed %.6f, computed %.6f", what, got,
              want);
}

Test(integration_auction_cost, faas_estimate_is_what_the_functions_counted_at_list_prices) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-cost-f", EVENTS, 500, 0.01, 4, &rt_auction_default_params);
    double c0, b0, c1, b1;
    fn_totals(&c0, &b0);
    char *log = run_app(&a, "faas", "au-cost-faas");
    fn_totals(&c1, &b1);
    estimate_t e;
    read_estimate(log, &e);
    double events = (double)(a.auctions + a.bids), calls = c1 - c0, billed = b1 - b0;
    cr_log_info("edge events %.0f; functions: %.0f calls, %.0f billed ms; printed: %.0f events, "
                "%.0f calls, %.0f ms, USD %.6f per M, crossover %.0f/s",
                events, calls, billed, e.events, e.calls, e.billed, e.per_m, e.crossover);
    cr_assert(e.has_processor && e.has_functions == 2 && e.has_crossover,
              "no full cost estimate in %s", log);
    cr_expect_eq(e.events, events, "edge events");
    cr_expect_gt(e.cpu_s, 0.0);
    cr_expect_eq(e.calls, calls, "invocations: printed %.0f, the functions counted %.0f", e.calls,
                 calls);
    cr_expect(e.reported, "billed time not taken from what the functions reported");
    cr_expect_eq(e.billed, billed, "billed ms: printed %.0f, the functions counted %.0f", e.billed,
                 billed);
    cr_expect_eq(e.mb, 128.0);
    double requests = calls / events * 0.20;
    double duration = billed / 1000.0 / events * 1e6 * (128.0 / 1024.0) * 0.0000166667;
    expect_close(e.requests, requests, 1e-6, "USD per M events, requests");
    expect_close(e.duration, duration, 1e-6, "USD per M events, duration");
    expect_close(e.per_m, requests + duration, 2e-6, "USD per M events");
    double floor_h = 0.25 * (0.04048 + 2 * 0.004445);
    expect_close(e.crossover, floor_h / (3600.0 * (requests + duration) / 1e6), 1.0,
                 "crossover events/s");
    free(log);
    rt_auction_free(&a);
}

Test(integration_auction_cost, native_estimate_counts_the_edge_events_and_no_function) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-cost-n", EVENTS, 500, 0.01, 4, &rt_auction_default_params);
    char *log = run_app(&a, "native", "au-cost-native");
    estimate_t e;
    read_estimate(log, &e);
    cr_assert(e.has_processor, "no processor line in %s", log);
    cr_expect_eq(e.events, (double)(a.auctions + a.bids), "edge events");
    cr_expect(e.none_called && !e.has_functions, "functions priced in a native run");
    free(log);
    rt_auction_free(&a);
}
