/*
 * rt_pipeline.c — the reference of rill_test_app, starting it, background producing, and the
 * two-instance scenario shared by the at-least-once and exactly-once tests (rt_pipeline.h).
 *
 * DESIGN
 * The reference is computed from the input records as Kafka acknowledged them (so each has
 * its partition and offset), never from what the app reports. The scenario produces the
 * input slowly enough (rate_per_sec) that the instances are busy when one is killed, and
 * judges the output only after the instances have stopped, by reading it back whole.
 */
#define _GNU_SOURCE /* asprintf */
#include "rt_pipeline.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARGS 64
#define KILL_WAIT_MS 45000
#define STOP_WAIT_MS 30000
#define FINAL_READ_MS 30000

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static char *cat(const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, "%s%s", a, b) < 0)
        abort();
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* The reference                                                                             */

int rt_parse_int(const char *value, int64_t *out) {
    if (!value || !*value || strlen(value) >= 32)
        return -1;
    const char *digits = value[0] == '-' ? value + 1 : value;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return -1;
    errno = 0;
    *out = strtoll(value, NULL, 10);
    return errno ? -1 : 0;
}

void rt_pipeline_expected(const rt_records_t *input, rt_kvs_t *expected) {
    for (size_t i = 0; i < input->cnt; i++) {
        const rt_record_t *r = &input->v[i];
        int64_t n;
        if (rt_parse_int(r->value, &n) || n % 3 == 0)
            continue;
        char value[64];
        snprintf(value, sizeof(value), "%" PRId64 ":%" PRId64, n, n * 7 % 1000);
        rt_kvs_add(expected, r->key, value);
    }
}

void rt_gen_numbers(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                    void *opaque) {
    snprintf(key, key_size, "k%zu", i);
    snprintf(value, value_size, "%zu", i);
}

/* ---------------------------------------------------------------------------------------- */
/* The application process                                                                   */

pid_t rt_pipeline_spawn(const char *bootstrap, const char *input, const char *output,
                        const char *app_id, const char *const *props, const char *log) {
    char *prog = rt_build_path("rill_test_app");
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = prog;
    argv[argc++] = "--bootstrap-servers";
    argv[argc++] = (char *)bootstrap;
    argv[argc++] = "--input";
    argv[argc++] = (char *)input;
    argv[argc++] = "--output";
    argv[argc++] = (char *)output;
    argv[argc++] = "--app-id";
    argv[argc++] = (char *)app_id;
    for (size_t i = 0; props && props[i]; i++) {
        if (argc + 3 > MAX_ARGS)
            cr_assert_fail("rt_pipeline_spawn: too many properties");
        argv[argc++] = "-D";
        argv[argc++] = (char *)props[i];
    }
    argv[argc] = NULL;
    pid_t pid = rt_spawn(argv, log);
    free(prog);
    return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* Producing in the background                                                               */

static void *bg_main(void *arg) {
    rt_bg_producer_t *bg = arg;
    bg->rc = rt_produce_strings(bg->bootstrap, bg->topic, bg->n, bg->gen, bg->opaque, &bg->opts,
                                bg->errstr, sizeof(bg->errstr));
    return NULL;
}

void rt_bg_produce_start(rt_bg_producer_t *bg, const char *bootstrap, const char *topic, size_t n,
                         rt_gen_cb gen, void *opaque, int rate_per_sec) {
    memset(bg, 0, sizeof(*bg));
    bg->bootstrap = bootstrap;
    bg->topic = topic;
    bg->n = n;
    bg->gen = gen;
    bg->opaque = opaque;
    bg->opts.rate_per_sec = rate_per_sec;
    bg->opts.delivered = &bg->delivered;
    int err = pthread_create(&bg->tid, NULL, bg_main, bg);
    if (err)
        cr_assert_fail("cannot start the producing thread: %s", strerror(err));
}

int rt_bg_produce_join(rt_bg_producer_t *bg) {
    pthread_join(bg->tid, NULL);
    return bg->rc;
}

/* ---------------------------------------------------------------------------------------- */
/* The two-instance scenario                                                                 */

/* Waits until output holds at least want records (committed or not). Returns the count. */
static int64_t wait_output_size(const char *bootstrap, const char *output, int64_t want,
                                int64_t deadline) {
    char errstr[512] = "";
    int64_t size = 0;
    while (rt_now_ms() < deadline) {
        /* Errors right after the topic is made ("not leader") pass; report a lasting one. */
        size = rt_topic_size(bootstrap, output, errstr, sizeof(errstr));
        if (size >= want)
            break;
        sleep_ms(50);
    }
    if (size < 0)
        cr_log_info("size of %s: %s", output, errstr);
    return size;
}

/* Waits until every expected record is in the output (or the deadline). */
static void wait_complete_output(const rt_scenario_t *sc, rt_scenario_result_t *res,
                                 const char *bootstrap, int64_t t0) {
    int64_t deadline = t0 + sc->output_timeout_ms;
    wait_output_size(bootstrap, res->output, (int64_t)res->expected.cnt, deadline);
    rt_diff_t diff;
    while (rt_now_ms() < deadline) {
        rt_records_t *recs = rt_consume_all(bootstrap, res->output, sc->isolation_level,
                                            res->expected.cnt, (int)(deadline - rt_now_ms()));
        rt_diff(&res->expected, recs, &diff);
        rt_records_free(recs);
        free(recs);
        if (!diff.missing) {
            res->seconds_to_output = (double)(rt_now_ms() - t0) / 1000.0;
            return;
        }
        sleep_ms(500);
    }
    cr_log_info("the output was still incomplete after %d ms", sc->output_timeout_ms);
}

/* SIGKILLs instance A once kill_fraction of the expected output is in. */
static void kill_a_midstream(const rt_scenario_t *sc, rt_scenario_result_t *res,
                             const char *bootstrap, pid_t a, size_t expected_total) {
    int64_t want = (int64_t)((double)expected_total * sc->kill_fraction);
    res->output_seen_at_kill =
        wait_output_size(bootstrap, res->output, want, rt_now_ms() + KILL_WAIT_MS);
    if (res->output_seen_at_kill < want) {
        rt_log_tail(res->log_a, 30);
        rt_log_tail(res->log_b, 30);
        cr_assert_fail("no progress: %" PRId64 " of the %" PRId64 " output records wanted "
                       "before the kill appeared in %d ms",
                       res->output_seen_at_kill, want, KILL_WAIT_MS);
    }
    if (rt_wait(a, 0) != -1) {
        rt_log_tail(res->log_a, 30);
        cr_assert_fail("instance A ended before it was to be killed (log %s)", res->log_a);
    }
    rt_kill(a, SIGKILL);
    res->exit_a = rt_wait(a, 10000);
    cr_log_info("%s: killed A (SIGKILL) with %" PRId64 " of ~%zu output records in", sc->name,
                res->output_seen_at_kill, expected_total);
}

void rt_scenario_run(const rt_scenario_t *sc, rt_scenario_result_t *res) {
    const char *bootstrap = rt_bootstrap();
    memset(res, 0, sizeof(*res));
    res->app_id = rt_unique_name(sc->name);
    res->input = cat(res->app_id, ".in");
    res->output = cat(res->app_id, ".out");
    char *name_a = cat(res->app_id, "-a.log"), *name_b = cat(res->app_id, "-b.log");
    res->log_a = rt_tmp_path(name_a);
    res->log_b = rt_tmp_path(name_b);
    free(name_a);
    free(name_b);
    rt_create_topic(bootstrap, res->input, sc->partitions);
    rt_create_topic(bootstrap, res->output, sc->partitions);

    pid_t a =
        rt_pipeline_spawn(bootstrap, res->input, res->output, res->app_id, sc->props, res->log_a);
    pid_t b =
        rt_pipeline_spawn(bootstrap, res->input, res->output, res->app_id, sc->props, res->log_b);
    int64_t t0 = rt_now_ms();
    rt_bg_producer_t bg;
    rt_bg_produce_start(&bg, bootstrap, res->input, sc->records, rt_gen_numbers, NULL,
                        sc->rate_per_sec);
    size_t expected_total = sc->records - (sc->records + 2) / 3; /* i % 3 != 0 in [0, n) */
    res->exit_a = res->exit_b = -1;
    if (sc->kill_one)
        kill_a_midstream(sc, res, bootstrap, a, expected_total);
    if (rt_bg_produce_join(&bg))
        cr_assert_fail("producing the input: %s", bg.errstr);
    res->delivered = bg.delivered;
    if (res->delivered.cnt != sc->records)
        cr_assert_fail("%zu input records acknowledged, %zu produced", res->delivered.cnt,
                       sc->records);
    cr_log_info("%s: %zu input records in %.1f s", sc->name, sc->records,
                (double)(rt_now_ms() - t0) / 1000.0);
    rt_pipeline_expected(&res->delivered, &res->expected);

    wait_complete_output(sc, res, bootstrap, t0);

    if (!sc->kill_one)
        rt_kill(a, SIGTERM);
    rt_kill(b, SIGTERM);
    if (!sc->kill_one)
        res->exit_a = rt_wait(a, STOP_WAIT_MS);
    res->exit_b = rt_wait(b, STOP_WAIT_MS);

    rt_records_t *out = rt_consume_all(bootstrap, res->output, sc->isolation_level,
                                       res->expected.cnt, FINAL_READ_MS);
    res->output_records = *out;
    free(out);
    rt_diff(&res->expected, &res->output_records, &res->diff);
    res->order_violations = rt_check_order(&res->delivered, &res->output_records, res->order_report,
                                           sizeof(res->order_report));
    if (res->diff.missing || res->diff.extra || (!sc->kill_one && res->exit_a) || res->exit_b) {
        rt_log_tail(res->log_a, 40);
        rt_log_tail(res->log_b, 40);
    }
}

void rt_scenario_result_free(rt_scenario_result_t *res) {
    free(res->input);
    free(res->output);
    free(res->app_id);
    free(res->log_a);
    free(res->log_b);
    rt_records_free(&res->delivered);
    rt_records_free(&res->output_records);
    rt_kvs_free(&res->expected);
    memset(res, 0, sizeof(*res));
}
