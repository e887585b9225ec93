/*
 * test_auction_any_input.c — the auction showcase gives the reference's answers whatever
 * client wrote its input and however slow its functions are (real Kafka, rill-auction):
 *  - input written with librdkafka's default partitioner (consistent_random, CRC32 of the
 *    key: confluent-kafka for Python, Go and .NET) and with a random partition per record,
 *    never murmur2, so auction.persons is not partitioned as Rill partitions the
 *    notifications it is joined with, and the edge's tasks run at different event-time
 *    speeds into auction.auctions and auction.bids;
 *  - for each of the two partitioners: one process with the native edge, one with the
 *    FaaS edge, and three under exactly_once_v2 with one SIGKILLed and restarted;
 *  - the FaaS edge with the bid validation slowed (200-1500 ms on 10% of its calls) while
 *    auction validation is fast, so validated auctions reach the close task long before the
 *    bids validated with them.
 * Every output topic must equal the reference (tests/support/rt_auction.c, computed from the
 * events alone), and nothing may be dead-lettered but bids whose auction never came: no
 * record late or unmatched that is not late or unmatched in the input itself.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <stdio.h>
#include <stdlib.h>

#define EVENTS 30000
#define OOO_MS 500
#define INVALID 0.01
#define PARTITIONS 4
#define RUN_TIMEOUT_MS 120000

/* grace 2000 > OOO_MS: no bid is late for its auction in the input itself */
static const rt_auction_params_t *const params = &rt_auction_default_params;

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    NULL,
};

static const char *const *const eos_props = rt_auction_eos_props;

TestSuite(integration_auction_any_input, .fini = rt_kill_all, .timeout = 600);

static char *app_id_of(const rt_auction_t *a, int n) {
    char *s;
    if (asprintf(&s, "%s-app%d", a->name, n) < 0)
        abort();
    return s;
}

/* One process on input written with how; outputs against the reference. */
static void one_process(const char *prefix, rt_partitioning_t how, const char *edge,
                        const char *const *props, const char *const *extra) {
    rt_auction_t a;
    rt_auction_setup_as(&a, prefix, EVENTS, OOO_MS, INVALID, PARTITIONS, params, how);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    rt_auction_log_input(&a, &exp);
    char *app_id = app_id_of(&a, 1);
    int rc = rt_auction_run_one(&a, edge, app_id, props, extra, RUN_TIMEOUT_MS);
    cr_expect_eq(rc, 0, "rill-auction exited with %d", rc);
    rt_auction_check_outputs(&a, app_id, &exp, &out);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    rt_auction_free(&a);
}

Test(integration_auction_any_input, native_edge_equals_reference_when_input_consistent_random) {
    one_process("au-crc-n", RT_PART_CONSISTENT_RANDOM, "native", alos_props, NULL);
}

Test(integration_auction_any_input, native_edge_equals_reference_when_input_randomly_partitioned) {
    one_process("au-rnd-n", RT_PART_RANDOM, "native", alos_props, NULL);
}

Test(integration_auction_any_input, faas_edge_equals_reference_when_input_randomly_partitioned) {
    one_process("au-rnd-f", RT_PART_RANDOM, "faas", alos_props, NULL);
}

Test(integration_auction_any_input, faas_edge_equals_reference_when_bid_function_slow) {
    const char *url = getenv("RILL_TEST_FN_VALIDATE_BID");
    cr_assert(url && *url, "RILL_TEST_FN_VALIDATE_BID is not set");
    char *slow;
    if (asprintf(&slow, "%s%sslowFraction=0.1&slowMinMs=200&slowMaxMs=1500", url,
                 strchr(url, '?') ? "&" : "?") < 0)
        abort();
    const char *extra[] = {"--validate-bid-url", slow, NULL};
    one_process("au-slow-f", RT_PART_CONSISTENT_RANDOM, "faas", alos_props, extra);
    free(slow);
}

static void three_processes(const char *prefix, rt_partitioning_t how) {
    rt_auction_t a;
    rt_auction_setup_as(&a, prefix, EVENTS, OOO_MS, INVALID, PARTITIONS, params, how);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    rt_auction_log_input(&a, &exp);
    char *app_id = app_id_of(&a, 3);
    rt_auction_run_three_one_killed(&a, "faas", app_id, eos_props, NULL, RUN_TIMEOUT_MS);
    rt_auction_check_outputs(&a, app_id, &exp, &out);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    rt_auction_free(&a);
}

Test(integration_auction_any_input, three_processes_one_killed_equal_reference_when_input_random) {
    three_processes("au-rnd3", RT_PART_RANDOM);
}

Test(integration_auction_any_input,
     three_processes_one_killed_equal_reference_when_input_consistent_random) {
    three_processes("au-crc3", RT_PART_CONSISTENT_RANDOM);
}
