/*
 * test_alos.c — at-least-once processing on a real Kafka: two rill_test_app instances share
 * one group over a 4-partition stream of 200k records; the output is compared record by
 * record with a reference computed here. With a clean run nothing may be missing,
 * duplicated or reordered; with one instance SIGKILLed mid-stream the other takes over and
 * nothing may be missing (duplicates are allowed, and counted).
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_pipeline.h"

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_alos, .fini = rt_kill_all, .timeout = 180);

Test(integration_alos, output_equals_reference_when_two_instances_share_the_group) {
    rt_scenario_t sc = {
        .name = "alos-two",
        .records = 200000,
        .partitions = 4,
        .rate_per_sec = 40000,
        .props = alos_props,
        .isolation_level = "read_uncommitted",
        .output_timeout_ms = 75000,
    };
    rt_scenario_result_t res;
    rt_scenario_run(&sc, &res);
    cr_log_info("%s: complete output after %.1f s; %s", res.app_id, res.seconds_to_output,
                res.diff.report);
    cr_expect_eq(res.exit_a, 0, "instance A exited with %d after SIGTERM (log %s)", res.exit_a,
                 res.log_a);
    cr_expect_eq(res.exit_b, 0, "instance B exited with %d after SIGTERM (log %s)", res.exit_b,
                 res.log_b);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "output of %s differs from the reference: %s", res.output, res.diff.report);
    cr_expect_eq(res.order_violations, 0,
                 "%zu output records are out of their input partition's order:%s",
                 res.order_violations, res.order_report);
    rt_scenario_result_free(&res);
}

Test(integration_alos, nothing_missing_when_one_instance_is_killed_midstream) {
    rt_scenario_t sc = {
        .name = "alos-kill",
        .records = 200000,
        .partitions = 4,
        .rate_per_sec = 25000,
        .props = alos_props,
        .isolation_level = "read_uncommitted",
        .kill_one = true,
        .kill_fraction = 0.2,
        .output_timeout_ms = 75000,
    };
    rt_scenario_result_t res;
    rt_scenario_run(&sc, &res);
    cr_log_info("%s: complete output after %.1f s; %s", res.app_id, res.seconds_to_output,
                res.diff.report);
    cr_log_info("%s: %zu duplicates after the kill (allowed under at_least_once)", res.app_id,
                res.diff.duplicates);
    cr_expect_eq(res.exit_a, 128 + 9, "instance A: exit %d, expected death by SIGKILL", res.exit_a);
    cr_expect_eq(res.exit_b, 0, "instance B exited with %d after SIGTERM (log %s)", res.exit_b,
                 res.log_b);
    cr_expect(!res.diff.missing && !res.diff.extra, "output of %s lost or invented records: %s",
              res.output, res.diff.report);
    rt_scenario_result_free(&res);
}
