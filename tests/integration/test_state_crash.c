/*
 * test_state_crash.c — a key-value store survives SIGKILL on a real Kafka: rill_count_app
 * (a per-key count in the RocksDB store "counts") runs over 500k records of 10k keys in a
 * 4-partition input produced at a steady rate, and is SIGKILLed three times at seeded random
 * points, each time restarted on the same state directory as the same instance.
 *
 * What must hold (docs/DESIGN.md, invariants 3 and 4):
 *  - exactly_once_v2: the last committed output of every key is its reference count, and
 *    the committed output of a key counts 1, 2, 3, ... without a gap or a repeat;
 *  - at_least_once: no update is lost (every final count is at least the reference); the
 *    test reports by how much counts exceed it;
 *  - both: every restart restores only the changelog's tail from the offset stored with the
 *    local state ("the stored offset", never "no local state"), fewer records than half of
 *    what the changelog holds by then.
 *
 * The instance keeps a static group.instance.id across restarts (the same logical instance):
 * its partitions come back without waiting for the dead member's session to expire, and its
 * transactional.id is stable, so a restart fences the killed producer and aborts its open
 * transaction at once.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <inttypes.h>

#define RECORDS 500000
#define KEYS 10000
#define RATE 12500 /* 40 s of input */
#define KILLS 3

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=1000",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_state_crash, .fini = rt_state_fini, .timeout = 240);

/* Logs every run and checks that each restart restored only the changelog's tail. */
static void check_restores(const rt_crash_result_t *res) {
    for (int k = 0; k < res->runs; k++) {
        const rt_crash_run_t *run = &res->run[k];
        double share = run->changelog_records > 0
                           ? 100.0 * (double)run->restore.records / (double)run->changelog_records
                           : 0;
        cr_log_info("%s run %d: started %.1f s, %s %.1f s (exit %d); restore: %" PRId64
                    " record(s) replayed of %" PRId64 " in the changelog (%.1f%%), %d store(s) "
                    "from the stored offset, %d up to date, %d with no local state [%s]",
                    res->app_id, k, run->started_s, run->killed_s >= 0 ? "killed" : "stopped",
                    run->killed_s >= 0 ? run->killed_s : res->seconds, run->exit_code,
                    run->restore.records, run->changelog_records, share, run->restore.stored,
                    run->restore.up_to_date, run->restore.scratch, run->restore.text);
    }
    for (int k = 1; k < res->runs; k++) {
        const rt_crash_run_t *run = &res->run[k];
        cr_expect(run->restore.lines > 0, "restart %d logged no restore (log %s)", k, run->log);
        cr_expect(run->restore.scratch == 0,
                  "restart %d restored %d store(s) with no local state, from offset 0, although "
                  "the state directory was kept: %" PRId64 " of %" PRId64 " changelog records "
                  "replayed [%s]",
                  k, run->restore.scratch, run->restore.records, run->changelog_records,
                  run->restore.text);
        cr_expect(run->changelog_records > 0 && run->restore.records * 2 < run->changelog_records,
                  "restart %d replayed %" PRId64 " changelog records of %" PRId64 " (not only "
                  "the tail: at least half)",
                  k, run->restore.records, run->changelog_records);
    }
}

static void check_common(const rt_crash_result_t *res) {
    for (int k = 0; k + 1 < res->runs; k++)
        cr_expect_eq(res->run[k].exit_code, 128 + 9, "run %d: exit %d, expected death by SIGKILL",
                     k, res->run[k].exit_code);
    const rt_crash_run_t *last = &res->run[res->runs - 1];
    cr_expect_eq(last->exit_code, 0, "last run exited with %d after SIGTERM (log %s)",
                 last->exit_code, last->log);
    cr_expect_eq(res->lag, 0,
                 "the group had not committed the whole input after %.1f s: "
                 "lag %" PRId64,
                 res->seconds, res->lag);
    cr_expect(res->read.complete, "the output %s could not be read to its end", res->output);
    cr_expect_eq(res->read.bad_values, 0, "%zu output values are not counts", res->read.bad_values);
    cr_expect_eq(res->read.split_keys, 0, "%zu output records of a key in another partition",
                 res->read.split_keys);
    cr_expect_eq(res->cmp.unexpected, 0, "output keys not in the input: %s", res->cmp.report);
}

Test(integration_state_crash, counts_exact_and_restore_only_tail_when_killed_under_eos) {
    rt_crash_t sc = {
        .name = "state-crash-eos",
        .props = eos_props,
        .isolation_level = "read_committed",
        .records = RECORDS,
        .keys = KEYS,
        .seed = 0x5eed0001,
        .partitions = 4,
        .rate_per_sec = RATE,
        .kills = KILLS,
        .catch_up_timeout_ms = 60000,
    };
    rt_crash_result_t res;
    rt_crash_run(&sc, &res);
    cr_log_info("%s: caught up %.1f s after the first input; output: %zu committed records "
                "(%zu not the previous count + 1); changelog: %" PRId64 " records; %s",
                res.app_id, res.seconds, res.read.records, res.read.not_next, res.changelog_end,
                res.cmp.report);
    check_restores(&res);
    check_common(&res);
    cr_expect(res.cmp.equal == res.cmp.keys && res.cmp.keys == KEYS,
              "final counts differ from the reference under exactly_once_v2: %s", res.cmp.report);
    cr_expect_eq(res.read.records, RECORDS, "%zu committed output records for %d input records",
                 res.read.records, RECORDS);
    cr_expect_eq(res.read.not_next, 0,
                 "%zu committed output records are not their key's "
                 "previous count + 1 (a lost or repeated update)",
                 res.read.not_next);
    rt_crash_result_free(&res);
}

Test(integration_state_crash, no_update_lost_and_restore_only_tail_when_killed_under_alos) {
    rt_crash_t sc = {
        .name = "state-crash-alos",
        .props = alos_props,
        .isolation_level = "read_uncommitted",
        .records = RECORDS,
        .keys = KEYS,
        .seed = 0x5eed0002,
        .partitions = 4,
        .rate_per_sec = RATE,
        .kills = KILLS,
        .catch_up_timeout_ms = 60000,
    };
    rt_crash_result_t res;
    rt_crash_run(&sc, &res);
    cr_log_info("%s: caught up %.1f s after the first input; output: %zu records (%zu not "
                "the previous count + 1, i.e. reprocessed); changelog: %" PRId64 " records",
                res.app_id, res.seconds, res.read.records, res.read.not_next, res.changelog_end);
    cr_log_info("%s: at_least_once excess: %zu of %zu keys above the reference, by %" PRId64
                " update(s) in all; %s",
                res.app_id, res.cmp.above, res.cmp.keys, res.cmp.excess, res.cmp.report);
    check_restores(&res);
    check_common(&res);
    cr_expect(res.cmp.below == 0 && res.cmp.missing == 0 && res.cmp.keys == KEYS,
              "updates lost under at_least_once: %s", res.cmp.report);
    rt_crash_result_free(&res);
}
