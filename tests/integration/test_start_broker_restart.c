/*
 * test_start_broker_restart.c — an app started while its broker is down waits for it: the
 * showcase (rill-auction, --edge native, --drain, a small input written beforehand) starts
 * while the test's Kafka is stopped, says every few seconds that it cannot reach any broker
 * and retries; the broker is started again on its data 20 s later; the app comes up,
 * finishes the input and exits 0, with every output equal to the reference. Before, the
 * start failed at once, reporting the existing topics as missing.
 *
 * Stops and resumes the broker at RILL_TEST_BOOTSTRAP with scripts/kafka.sh (the same
 * RILL_KAFKA_DIR and RILL_KAFKA_PORT as the one that started it; scripts/test.sh's
 * environment), so it must not run beside other tests on that broker (ctest: RUN_SERIAL).
 * The broker is resumed however the test ends. Needs RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENTS 3000
#define PARTITIONS 2
#define DOWN_MS 20000
#define RUN_TIMEOUT_MS 100000

static const rt_auction_params_t params = {
    .grace_ms = 2000, .hot_size_ms = 10000, .hot_advance_ms = 2000, .hot_grace_ms = 1000};

static const char *const props[] = {
    "processing.guarantee=exactly_once_v2", "commit.interval.ms=200",
    "consumer.session.timeout.ms=6000",     "consumer.heartbeat.interval.ms=500",
    "startup.broker.wait.ms=90000",         NULL,
};

/* Runs scripts/kafka.sh cmd; returns its exit status. Its output goes to the test's tmp dir. */
static int kafka_sh(const char *cmd) {
    const char *src = getenv("RILL_SOURCE_DIR");
    char *root, *line, *log = rt_tmp_path("broker-restart-kafka-sh.log");
    if (src && *src) {
        root = strdup(src);
    } else { /* this file is <root>/tests/integration/test_start_broker_restart.c */
        const char *self = __FILE__, *tail = strstr(self, "/tests/integration/");
        if (self[0] != '/' || !tail)
            cr_assert_fail("cannot find the source tree: set RILL_SOURCE_DIR");
        root = strndup(self, (size_t)(tail - self));
    }
    if (asprintf(&line, "'%s/scripts/kafka.sh' %s >>'%s' 2>&1", root, cmd, log) < 0)
        abort();
    int rc = system(line);
    free(line);
    free(root);
    free(log);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Whatever happened, the broker runs again for the tests after this one. */
static void resume_broker(void) {
    rt_kill_all();
    kafka_sh("resume");
}

TestSuite(integration_start_broker_restart, .fini = resume_broker, .timeout = 480);

Test(integration_start_broker_restart, app_started_while_broker_is_down_waits_and_finishes) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-restart", EVENTS, 500, 0.01, PARTITIONS, &params);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    char *app_id, *state, *log;
    if (asprintf(&app_id, "%s-app", a.name) < 0)
        abort();
    state = rt_tmp_path(app_id);
    if (asprintf(&log, "%s.log", state) < 0)
        abort();

    cr_assert_eq(kafka_sh("stop"), 0, "kafka.sh stop failed");
    int64_t t0 = rt_now_ms();
    const char *extra[] = {"--drain", NULL};
    pid_t pid = rt_auction_spawn(&a, "native", app_id, state, "/dev/null", props, extra, log);
    while (rt_now_ms() - t0 < DOWN_MS && rt_wait(pid, 0) < 0)
        rt_sleep_ms(200);
    cr_assert_lt(rt_wait(pid, 0), 0, "rill-auction ended while the broker was down (log %s)", log);
    cr_expect(rt_file_contains(log, "cannot reach any broker at "),
              "no \"cannot reach any broker\" line in %s", log);
    cr_expect(rt_file_contains(log, "retrying"), "no \"retrying\" in %s", log);
    cr_expect(!rt_file_contains(log, "does not exist"), "a topic was reported missing (%s)", log);

    cr_assert_eq(kafka_sh("resume"), 0, "kafka.sh resume failed");
    cr_log_info("%s: broker back after %.1f s", app_id, (rt_now_ms() - t0) / 1000.0);
    int rc = rt_wait(pid, RUN_TIMEOUT_MS);
    cr_log_info("%s: rill-auction exit %d after %.1f s", app_id, rc, (rt_now_ms() - t0) / 1000.0);
    if (rc) {
        rt_log_tail(log, 30);
        if (rc < 0)
            rt_kill(pid, SIGKILL), rt_wait(pid, 10000);
    }
    cr_assert_eq(rc, 0, "rill-auction exited with %d (log %s)", rc, log);

    rt_auction_read(&a, app_id, "read_committed", &exp, 10000, &out);
    char report[8192];
    int bad = rt_auction_compare(&a, &exp, &out, report, sizeof(report));
    cr_expect_eq(bad, 0, "%d output topic(s) differ from the reference:\n%s", bad, report);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    free(state);
    free(log);
    rt_auction_free(&a);
}
