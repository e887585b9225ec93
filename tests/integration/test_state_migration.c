/*
 * test_state_migration.c — a store moves with its task on a real Kafka: two rill_count_app
 * instances (one group, each with a state directory of its own) share a 4-partition input
 * under exactly_once_v2 while it is produced; midway one is stopped cleanly (SIGTERM). The
 * other must take its tasks over, restore their stores from the changelog before processing
 * them (its log says so, with records replayed), and the final count of every key must be
 * exactly its reference count.
 *
 * The instances use dynamic membership (no group.instance.id): a clean stop then leaves the
 * group at once and the survivor is assigned the partitions in the next rebalance.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_pipeline.h"
#include "rt_state.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORDS 200000
#define KEYS 10000
#define RATE 10000 /* 20 s of input */
#define PARTITIONS 4
#define SHARE_WAIT_MS 40000
#define TAKEOVER_WAIT_MS 40000
#define STOP_WAIT_MS 30000

static const char *const props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_state_migration, .fini = rt_state_fini, .timeout = 180);

static void sleep_ms(int64_t ms) {
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static char *fmt(const char *f, const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, f, a, b) < 0)
        abort();
    return s;
}

/* The restore lines of the last generation (assignment) of log from from_byte on. */
static void last_generation(const char *log, long from_byte, rt_restore_log_t *l,
                            rt_restore_sum_t *sum) {
    rt_restore_log_read(log, from_byte, l);
    rt_restore_log_sum(l, l->generations, NULL, sum);
}

static bool has_task(const rt_restore_log_t *l, int generation, const char *task) {
    for (size_t i = 0; i < l->cnt; i++)
        if (l->v[i].generation == generation && !strcmp(l->v[i].task, task))
            return true;
    return false;
}

/* True when the latest assignments of A and B have opened disjoint tasks covering every
 * partition, each at least one. */
static bool shared(const char *log_a, const char *log_b) {
    rt_restore_log_t a, b;
    rt_restore_sum_t sa, sb;
    last_generation(log_a, 0, &a, &sa);
    last_generation(log_b, 0, &b, &sb);
    bool ok = sa.lines > 0 && sb.lines > 0 && sa.lines + sb.lines == PARTITIONS;
    for (size_t i = 0; ok && i < a.cnt; i++)
        if (a.v[i].generation == a.generations && has_task(&b, b.generations, a.v[i].task))
            ok = false;
    rt_restore_log_free(&a);
    rt_restore_log_free(&b);
    return ok;
}

Test(integration_state_migration, moved_tasks_restore_and_counts_exact_when_one_instance_stops) {
    const char *bootstrap = rt_bootstrap();
    char *app_id = rt_unique_name("state-move");
    char *input = fmt("%s%s", app_id, ".in"), *output = fmt("%s%s", app_id, ".out");
    char *name_a = fmt("%s%s", app_id, "-a.log"), *name_b = fmt("%s%s", app_id, "-b.log");
    char *log_a = rt_tmp_path(name_a), *log_b = rt_tmp_path(name_b);
    char *dir_a = rt_state_dir_new("move-a"), *dir_b = rt_state_dir_new("move-b");
    rt_create_topic(bootstrap, input, PARTITIONS);
    rt_create_topic(bootstrap, output, PARTITIONS);

    rt_count_app_t app = {.bootstrap = bootstrap,
                          .input = input,
                          .output = output,
                          .app_id = app_id,
                          .stores = 1,
                          .props = props};
    app.state_dir = dir_a;
    pid_t a = rt_count_spawn(&app, log_a);
    app.state_dir = dir_b;
    pid_t b = rt_count_spawn(&app, log_b);
    rt_keygen_t gen = {.seed = 0x5eed0003, .keys = KEYS};
    int64_t t0 = rt_now_ms();
    rt_bg_producer_t bg;
    rt_bg_produce_start(&bg, bootstrap, input, RECORDS, rt_gen_keys, &gen, RATE);

    /* Both instances hold tasks; stop A midway through the input. */
    int64_t deadline = t0 + SHARE_WAIT_MS;
    while (!shared(log_a, log_b) && rt_now_ms() < deadline)
        sleep_ms(200);
    if (!shared(log_a, log_b)) {
        rt_log_tail(log_a, 30);
        rt_log_tail(log_b, 30);
        cr_assert_fail("the two instances did not share the %d tasks within %d ms", PARTITIONS,
                       SHARE_WAIT_MS);
    }
    sleep_ms(t0 + (int64_t)RECORDS * 1000 / RATE / 2 - rt_now_ms());
    rt_restore_log_t la;
    rt_restore_sum_t sa;
    last_generation(log_a, 0, &la, &sa);
    long b_mark = rt_file_size(log_b);
    double stopped_s = (double)(rt_now_ms() - t0) / 1000.0;
    rt_kill(a, SIGTERM);
    int exit_a = rt_wait(a, STOP_WAIT_MS);
    cr_log_info("%s: A stopped (SIGTERM) at %.1f s with tasks [%s]; exit %d", app_id, stopped_s,
                sa.text, exit_a);

    /* B takes every task; the moved ones are restored from the changelog. */
    rt_restore_log_t lb;
    rt_restore_sum_t sb;
    deadline = rt_now_ms() + TAKEOVER_WAIT_MS;
    for (;;) {
        last_generation(log_b, b_mark, &lb, &sb);
        if ((lb.generations > 0 && sb.lines >= PARTITIONS) || rt_now_ms() >= deadline)
            break;
        rt_restore_log_free(&lb);
        sleep_ms(200);
    }
    double takeover_s = (double)(rt_now_ms() - t0) / 1000.0;
    cr_log_info("%s: B after A stopped (%.1f s): %d store(s) opened, %" PRId64 " record(s) "
                "replayed [%s]",
                app_id, takeover_s, sb.lines, sb.records, sb.text);

    if (rt_bg_produce_join(&bg))
        cr_assert_fail("producing the input: %s", bg.errstr);
    cr_assert_eq(bg.delivered.cnt, RECORDS, "%zu input records acknowledged", bg.delivered.cnt);
    rt_counts_t reference = {0}, final = {0};
    rt_counts_add_records(&reference, &bg.delivered);
    rt_records_free(&bg.delivered);
    int64_t lag = rt_wait_group_caught_up(bootstrap, app_id, input, 60000, b);
    double done_s = (double)(rt_now_ms() - t0) / 1000.0;
    rt_kill(b, SIGTERM);
    int exit_b = rt_wait(b, STOP_WAIT_MS);
    rt_read_stats_t read;
    rt_read_last_counts(bootstrap, output, "read_committed", 60000, &final, &read);
    rt_count_cmp_t cmp;
    rt_counts_compare(&reference, &final, &cmp);
    cr_log_info("%s: caught up at %.1f s; %zu committed output records (%zu not the previous "
                "count + 1); %s",
                app_id, done_s, read.records, read.not_next, cmp.report);

    cr_expect_eq(exit_a, 0, "A exited with %d after SIGTERM (log %s)", exit_a, log_a);
    cr_expect_eq(exit_b, 0, "B exited with %d after SIGTERM (log %s)", exit_b, log_b);
    cr_expect(sb.lines >= PARTITIONS, "B did not open every task after A stopped (log %s): %s",
              log_b, sb.text);
    for (size_t i = 0; i < la.cnt; i++) {
        const rt_restore_t *moved = &la.v[i];
        if (moved->generation != la.generations)
            continue;
        const rt_restore_t *found = NULL;
        for (size_t j = 0; j < lb.cnt; j++)
            if (lb.v[j].generation == lb.generations && !strcmp(lb.v[j].task, moved->task) &&
                !strcmp(lb.v[j].store, moved->store))
                found = &lb.v[j];
        cr_expect(found != NULL, "B logged no restore of moved task %s's store \"%s\"", moved->task,
                  moved->store);
        cr_expect(!found || (found->kind != RT_RESTORE_UP_TO_DATE && found->records > 0),
                  "B did not replay the changelog of moved task %s: %s", moved->task, sb.text);
    }
    cr_expect_eq(lag, 0, "the group had not committed the whole input: lag %" PRId64, lag);
    cr_expect(read.complete, "the output %s could not be read to its end", output);
    cr_expect(cmp.equal == cmp.keys && cmp.keys == KEYS && !cmp.unexpected,
              "final counts differ from the reference under exactly_once_v2: %s", cmp.report);
    cr_expect_eq(read.records, RECORDS, "%zu committed output records for %d input records",
                 read.records, RECORDS);
    cr_expect_eq(read.not_next, 0,
                 "%zu committed output records are not their key's previous "
                 "count + 1",
                 read.not_next);
    if (cmp.equal != cmp.keys || exit_a || exit_b || sb.lines < PARTITIONS) {
        rt_log_tail(log_a, 30);
        rt_log_tail(log_b, 40);
    }

    rt_restore_log_free(&la);
    rt_restore_log_free(&lb);
    rt_counts_free(&reference);
    rt_counts_free(&final);
    rt_state_dir_remove(dir_a);
    rt_state_dir_remove(dir_b);
    free(dir_a);
    free(dir_b);
    free(log_a);
    free(log_b);
    free(name_a);
    free(name_b);
    free(input);
    free(output);
    free(app_id);
}
