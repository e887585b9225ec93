/*
 * test_auction_e2e.c — the auction showcase (topologies/auction, rill-auction) end to end on
 * a real Kafka: 100k NEXMark events (bounded disorder, ~1% of auctions and bids invalid in
 * the generator's documented ways) written to the app's three input topics (4 partitions);
 * the app runs under exactly_once_v2 and every output topic, read with read_committed, must
 * equal a reference computed here from the same events (tests/support/rt_auction.c):
 *  - auction.auctions / auction.bids: every valid event, enriched (durationMs, priceEur);
 *  - auction.*.rejected: every invalid event, original bytes, reason in rill.reject.reason;
 *  - auction.closed: one record per valid auction with its winner;
 *  - auction.notifications (+ .sent): one per counted bidder and one for the seller;
 *  - analytics: category-price and seller-avg last value per key, hot-items all records.
 *
 * Runs: (1) edge native, one process; (2) edge FaaS (the functions of
 * topologies/auction/functions), three processes, one SIGKILLed midway and restarted on its
 * state directory; (3) native and FaaS on the same input give identical outputs. With FaaS,
 * the notify function's file must also hold every notification of the run exactly once:
 * the function deduplicates by event id, so records sharing an id would be dropped there
 * while each still got a receipt.
 *
 * The end. The whole input is written before the app starts and every process runs with
 * --drain (exit.on.end): once the group has committed every source partition to its end,
 * the engine moves every task's stream time a day ahead, which closes every auction, ends
 * the hold of bids whose auction never came, closes every window and emits hot-top's windows
 * (which only a stream-time advance past the last window can emit), commits, and repeats
 * while that brings records back through internal topics; then each process exits.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENTS 100000
#define OOO_MS 500
#define INVALID 0.01
#define PARTITIONS 4
#define RUN_TIMEOUT_MS 90000

/* grace 2000 > OOO_MS: no bid is late for its auction; hot windows as the app's defaults */
static const rt_auction_params_t *const params = &rt_auction_default_params;
static const char *const *const eos_props = rt_auction_eos_props;

TestSuite(integration_auction_e2e, .fini = rt_kill_all, .timeout = 600);

static char *fmt(const char *f, const char *a, int i) {
    char *s;
    if (asprintf(&s, f, a, i) < 0)
        abort();
    return s;
}

/* --edge faas: the notify function sent each notification of the run exactly once (the
 * receipts, one per notification, are compared with the reference by check_outputs). */
static void check_notified(const char *app_id, const rt_auction_out_t *exp) {
    char report[8192];
    int bad =
        rt_auction_check_notified(rt_auction_notify_file(), app_id, exp, report, sizeof(report));
    cr_log_info("%s: notify: %s", app_id, report);
    cr_expect_eq(bad, 0,
                 "%s: the notify function did not send each notification exactly "
                 "once: %s",
                 app_id, report);
}

/* One process, --drain; returns its exit code. */
static int run_one(const rt_auction_t *a, const char *edge, const char *app_id) {
    return rt_auction_run_one(a, edge, app_id, eos_props, NULL, RUN_TIMEOUT_MS);
}

Test(integration_auction_e2e, native_edge_one_process_outputs_equal_reference) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-native", EVENTS, OOO_MS, INVALID, PARTITIONS, params);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    rt_auction_log_input(&a, &exp);
    char *app_id = fmt("%s-app%d", a.name, 1);
    int rc = run_one(&a, "native", app_id);
    cr_expect_eq(rc, 0, "rill-auction exited with %d", rc);
    rt_auction_check_outputs(&a, app_id, &exp, &out);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    rt_auction_free(&a);
}

/*
 * FaaS edge, three processes (static members, each its own state directory, all with
 * --drain); when 40% of the closed auctions are in (read uncommitted), process 0 is SIGKILLed
 * and started again on the same state directory with the same instance id. All three must
 * end by themselves with exit 0 once the group has drained the input, and the outputs must
 * equal the reference.
 */
Test(integration_auction_e2e, faas_edge_three_processes_one_killed_outputs_equal_reference) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-faas3", EVENTS, OOO_MS, INVALID, PARTITIONS, params);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    rt_auction_log_input(&a, &exp);
    char *app_id = fmt("%s-app%d", a.name, 3);
    rt_auction_run_three_one_killed(&a, "faas", app_id, eos_props, NULL, RUN_TIMEOUT_MS);
    rt_auction_check_outputs(&a, app_id, &exp, &out);
    check_notified(app_id, &exp);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    rt_auction_free(&a);
}

/* The same input (same seed and settings, two sets of topics) through --edge native and
 * --edge faas: every output topic identical (and each equal to the reference). */
Test(integration_auction_e2e, native_and_faas_edges_give_identical_outputs) {
    rt_auction_t an, af;
    rt_auction_setup(&an, "au-same-n", EVENTS, OOO_MS, INVALID, PARTITIONS, params);
    rt_auction_setup(&af, "au-same-f", EVENTS, OOO_MS, INVALID, PARTITIONS, params);
    rt_auction_out_t exp, on, of;
    rt_auction_expected(&an, &exp);
    rt_auction_log_input(&an, &exp);
    char *id_n = fmt("%s-app%d", an.name, 1), *id_f = fmt("%s-app%d", af.name, 1);
    int rc = run_one(&an, "native", id_n);
    cr_expect_eq(rc, 0, "native: rill-auction exited with %d", rc);
    rc = run_one(&af, "faas", id_f);
    cr_expect_eq(rc, 0, "faas: rill-auction exited with %d", rc);
    rt_auction_check_outputs(&an, id_n, &exp, &on);
    rt_auction_check_outputs(&af, id_f, &exp, &of);
    check_notified(id_f, &exp);
    /* native's outputs as the expectation of FaaS's */
    char report[8192];
    int bad = rt_auction_compare(&af, &on, &of, report, sizeof(report));
    cr_expect_eq(bad, 0, "%d output topic(s) differ between --edge native and faas:\n%s", bad,
                 report);
    rt_auction_out_free(&on);
    rt_auction_out_free(&of);
    rt_auction_out_free(&exp);
    free(id_n);
    free(id_f);
    rt_auction_free(&an);
    rt_auction_free(&af);
}
