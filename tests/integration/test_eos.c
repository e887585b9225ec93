/*
 * test_eos.c — exactly_once_v2 on a real Kafka: two rill_test_app instances share one group
 * over a 4-partition stream of 200k records and one is SIGKILLed mid-stream, with a
 * transaction open. A read_committed reader must then see every expected record exactly
 * once: the killed instance's open transaction is aborted, and the survivor reprocesses from
 * the offsets committed with the last committed transaction.
 *
 * Until the broker aborts the killed instance's open transaction, read_committed readers of
 * the output partitions it wrote to cannot read past it (the last stable offset stays
 * behind it). That takes transaction.timeout.ms plus up to 10 s (the broker's abort check
 * interval). The test keeps Rill's own default for it, so the wait below allows for
 * librdkafka's 60 s, and the test logs it when the output was that late.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_pipeline.h"

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_eos, .fini = rt_kill_all, .timeout = 180);

Test(integration_eos, every_record_exactly_once_when_one_instance_is_killed_midstream) {
    rt_scenario_t sc = {
        .name = "eos-kill",
        .records = 200000,
        .partitions = 4,
        .rate_per_sec = 25000,
        .props = eos_props,
        .isolation_level = "read_committed",
        .kill_one = true,
        .kill_fraction = 0.2,
        .output_timeout_ms = 85000,
    };
    rt_scenario_result_t res;
    rt_scenario_run(&sc, &res);
    cr_log_info("%s: complete committed output after %.1f s; %s", res.app_id, res.seconds_to_output,
                res.diff.report);
    if (res.seconds_to_output > 30)
        cr_log_info("%s: the committed output took %.1f s: the killed instance's open "
                    "transaction held back the last stable offset until the broker timed it "
                    "out (transaction.timeout.ms; Kafka Streams uses 10 s under exactly-once)",
                    res.app_id, res.seconds_to_output);
    cr_expect_eq(res.exit_a, 128 + 9, "instance A: exit %d, expected death by SIGKILL", res.exit_a);
    cr_expect_eq(res.exit_b, 0, "instance B exited with %d after SIGTERM (log %s)", res.exit_b,
                 res.log_b);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "read_committed output of %s is not exactly once: %s", res.output, res.diff.report);
    rt_scenario_result_free(&res);
}
