/*
 * test_state_open.c — stores open on a fresh application on a real Kafka: rill_count_app with
 * 4 key-value stores over a 32-partition input creates its 4 changelog topics (128
 * partitions) at start and must then open and restore every one of its 128 store instances
 * and process the input, however long the broker takes to elect the new partitions' leaders.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PARTITIONS 32
#define STORES 4
#define RECORDS 32000
#define KEYS 10000
#define OPEN_WAIT_MS 30000
#define STOP_WAIT_MS 30000

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=1000",
    NULL,
};

TestSuite(integration_state_open, .fini = rt_state_fini, .timeout = 120);

static char *fmt(const char *f, const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, f, a, b) < 0)
        abort();
    return s;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

Test(integration_state_open, every_store_opens_when_its_changelog_was_just_created) {
    const char *bootstrap = rt_bootstrap();
    char *app_id = rt_unique_name("state-open");
    char *input = fmt("%s%s", app_id, ".in"), *output = fmt("%s%s", app_id, ".out");
    char *log_name = fmt("%s%s", app_id, ".log");
    char *log = rt_tmp_path(log_name);
    char *dir = rt_state_dir_new("open");
    rt_create_topic(bootstrap, input, PARTITIONS);
    rt_create_topic(bootstrap, output, PARTITIONS);
    rt_keygen_t gen = {.seed = 0x5eed0005, .keys = KEYS};
    char errstr[512];
    if (rt_produce_strings(bootstrap, input, RECORDS, rt_gen_keys, &gen, NULL, errstr,
                           sizeof(errstr)))
        cr_assert_fail("producing the input: %s", errstr);

    rt_count_app_t app = {.bootstrap = bootstrap,
                          .input = input,
                          .output = output,
                          .app_id = app_id,
                          .state_dir = dir,
                          .stores = STORES,
                          .props = props};
    pid_t pid = rt_count_spawn(&app, log);
    int64_t deadline = rt_now_ms() + OPEN_WAIT_MS;
    rt_restore_sum_t sum;
    for (;;) {
        rt_restore_summary(log, 0, &sum);
        if (sum.lines >= PARTITIONS * STORES || rt_child_ended(pid) || rt_now_ms() >= deadline)
            break;
        sleep_ms(100);
    }
    bool died = rt_child_ended(pid);
    int64_t lag = died ? -1 : rt_wait_group_caught_up(bootstrap, app_id, input, 30000, pid);
    rt_kill(pid, SIGTERM);
    int exit_code = rt_wait(pid, STOP_WAIT_MS);
    cr_log_info("%s: %d of %d store instances opened (%d up to date, %d restored), lag %" PRId64
                ", exit %d",
                app_id, sum.lines, PARTITIONS * STORES, sum.up_to_date, sum.stored + sum.scratch,
                lag, exit_code);
    if (died || exit_code || sum.lines < PARTITIONS * STORES)
        rt_log_tail(log, 8);
    cr_expect(!died, "the app stopped by itself while opening its stores (log %s)", log);
    cr_expect(!rt_file_contains(log, "fatal"), "the app hit a fatal error (log %s)", log);
    cr_expect_eq(sum.lines, PARTITIONS * STORES, "%d of %d store instances opened (log %s)",
                 sum.lines, PARTITIONS * STORES, log);
    cr_expect_eq(lag, 0, "the group had not committed the whole input: lag %" PRId64, lag);
    cr_expect_eq(exit_code, 0, "exit %d after SIGTERM (log %s)", exit_code, log);

    rt_state_dir_remove(dir);
    free(dir);
    free(log);
    free(log_name);
    free(input);
    free(output);
    free(app_id);
}
