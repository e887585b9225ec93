/*
 * test_faas_faults.c — a failing function on a real Kafka. rill_faas_app calls a Functions
 * Framework `faulty` instance of its own (fault settings from RILL_FAULT):
 *  - every kind of failure the runtime can inject (HTTP 500, 503, 408, 429 with Retry-After,
 *    a call that never answers, a truncated body, a TCP reset, a closed connection, a
 *    function that throws) on ~5% of the calls: every record's result must still arrive,
 *    in order, as without faults (at-least-once: duplicates are counted and reported, none
 *    may be lost), and nothing may reach the dead-letter topic;
 *  - poison records that fail every call they are in (poisonBatch): each must end, alone,
 *    in "<application.id>-dlq" with headers saying why, after how many attempts and where it
 *    came from, while every other record — its neighbours in the same batch included — is
 *    delivered, in order, and not later than the retries and bisection allow;
 *  - one call that never answers while results of other keys flow past it (key mode): the
 *    stage must hold back input, not dead-letter it.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it), RILL_BUILD_DIR (ctest sets it) and
 * faas_bridge/functions/node_modules (scripts/functions.sh start installs it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(integration_faas_faults, .fini = rt_kill_all, .timeout = 150);

/* ---------------------------------------------------------------------------------------- */

#define FAULT_RECORDS 20000

static const char *const fault_kinds[] = {"500",       "503",   "429",   "408",  "timeout",
                                          "malformed", "reset", "close", "throw"};
#define FAULT_KIND_CNT (sizeof(fault_kinds) / sizeof(fault_kinds[0]))

Test(integration_faas_faults, every_result_arrives_in_order_when_calls_fail_every_way) {
    /* 0.6% of the calls per kind, ~5.4% in all; "timeout" calls are never answered. */
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty",
                "{\"seed\":11,\"latencyMs\":[1,10],\"retryAfterS\":1,\"rates\":{"
                "\"500\":0.006,\"503\":0.006,\"429\":0.006,\"408\":0.006,\"timeout\":0.006,"
                "\"malformed\":0.006,\"reset\":0.006,\"close\":0.006,\"throw\":0.006}}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-faults", 8);
    rt_faas_run_produce(&run, 0, FAULT_RECORDS, rt_faas_gen_unique, NULL);

    /* Six retries: a batch is bisected only when 7 calls in a row fail (~1e-9). */
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, rt_faas_props_alos, 10, 8);
    app.timeout_ms = 1000;
    app.retries = 6;
    app.backoff_ms = 50;
    app.backoff_max_ms = 1000;
    pid_t pid = rt_faas_app_spawn(&app);
    rt_faas_run_await(&run, "read_uncommitted", 100000);
    rt_faas_expect_clean_stop(pid, run.log);

    rt_faas_run_expect_output(&run, "read_uncommitted", false, true);
    rt_faas_run_expect_no_dead_letters(&run);

    /* Every kind of fault must really have happened. */
    char stats[16384];
    rt_fn_control(&fn, NULL, "{}", stats, sizeof(stats));
    cr_log_info("%s: function stats %s", run.app_id, stats);
    for (size_t k = 0; k < FAULT_KIND_CNT; k++) {
        int64_t n = rt_json_number(stats, "faults", fault_kinds[k]);
        cr_expect_gt(n, 0, "no call got the fault \"%s\" (stats: %s)", fault_kinds[k], stats);
    }
    rt_metric_t retries, failures, dlq;
    rt_faas_log_metric(run.log, "rill_faas_retries_total", &retries);
    rt_faas_log_metric(run.log, "rill_faas_failures_total", &failures);
    rt_faas_log_metric(run.log, "rill_faas_dlq_records_total", &dlq);
    cr_log_info("%s: %" PRId64 " failed calls, %" PRId64 " retries, %" PRId64 " dead letters",
                run.app_id, failures.last, retries.last, dlq.last);
    cr_expect_gt(failures.last, 0, "the app saw no failed call");

    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}

/* ---------------------------------------------------------------------------------------- */

#define POISON_RECORDS 20000
#define POISON_BATCH 16
#define POISON_RETRIES 3
#define POISON_TIMEOUT_MS 2000
#define POISON_BACKOFF_MAX_MS 500

/* ceil(log2(n)) for n >= 1: how many halvings bring a batch of n down to one record. */
static int halvings(int n) {
    int h = 0;
    while ((1 << h) < n)
        h++;
    return h;
}

static const size_t poison_at[] = {4321, 9876, 15000};
#define POISON_CNT (sizeof(poison_at) / sizeof(poison_at[0]))
static const rt_faas_poison_t poison = {poison_at, POISON_CNT};

static const rt_record_t *find_key(const rt_records_t *recs, const char *key) {
    for (size_t i = 0; i < recs->cnt; i++)
        if (recs->v[i].key && !strcmp(recs->v[i].key, key))
            return &recs->v[i];
    return NULL;
}

/* The first output of the nearest record of src's partition at least min_dist offsets
 * before (dir -1) or after (+1) src that has an output, into value; false when none. */
static bool neighbour_output(const rt_records_t *input, const rt_record_t *src, int dir,
                             int64_t min_dist, char value[96]) {
    const rt_record_t *best = NULL;
    char out[2][96];
    for (size_t i = 0; i < input->cnt; i++) {
        const rt_record_t *r = &input->v[i];
        if (r->partition != src->partition || (r->offset - src->offset) * dir < min_dist ||
            rt_faas_transform(r->value, out) < 1)
            continue;
        if (!best || (r->offset - best->offset) * dir < 0)
            best = r;
    }
    if (!best)
        return false;
    rt_faas_transform(best->value, out);
    memcpy(value, out[0], 96);
    return true;
}

/* How long the poison record src held back its partition: from the output of a record two
 * batches before it (released before src's batch was even cut) to that of the next record
 * after it (released only once src was dead-lettered). -1 when one of them did not come
 * out, 0 when src is at an end. */
static int64_t neighbour_gap_ms(const rt_records_t *input, const rt_record_t *src,
                                rt_tail_t *tail) {
    char before[96], after[96];
    cr_assert_not_null(src);
    if (!neighbour_output(input, src, -1, 2 * POISON_BATCH, before) ||
        !neighbour_output(input, src, +1, 1, after))
        return 0;
    int64_t t_before = rt_tail_arrival(tail, before), t_after = rt_tail_arrival(tail, after);
    if (t_before < 0 || t_after < 0)
        return -1;
    return t_after > t_before ? t_after - t_before : 0;
}

/* Checks the dead-letter record of the poison record src. */
static void check_dead_letter(const rt_record_t *rec, const rt_record_t *src, const char *input) {
    char want[64];
    const char *error = rt_record_header(rec, "rill.error");
    const char *attempts = rt_record_header(rec, "rill.attempts");
    cr_expect(error && strstr(error, "\"fn\"") && strstr(error, "attempt") &&
                  strstr(error, "HTTP 500"),
              "DLQ record %s: rill.error \"%s\" should name the function \"fn\", its attempts "
              "and the last failure (HTTP 500)",
              rec->key, error ? error : "(absent)");
    /* R+1 calls of the whole batch, then one call per halving: at most log2(batch) + 1. */
    int n = attempts ? atoi(attempts) : -1;
    int most = POISON_RETRIES + 1 + halvings(POISON_BATCH) + 1;
    cr_expect(n >= POISON_RETRIES + 1 && n <= most,
              "DLQ record %s: rill.attempts is \"%s\", expected %d..%d", rec->key,
              attempts ? attempts : "(absent)", POISON_RETRIES + 1, most);
    snprintf(want, sizeof(want), "after %d attempt", n);
    cr_expect(error && strstr(error, want),
              "DLQ record %s: rill.error \"%s\" does not say "
              "\"%s\" as rill.attempts does",
              rec->key, error ? error : "", want);
    const char *node = rt_record_header(rec, "rill.error.node");
    cr_expect(node && !strcmp(node, "fn"), "DLQ record %s: rill.error.node is \"%s\"", rec->key,
              node ? node : "(absent)");
    const char *topic = rt_record_header(rec, "rill.source.topic");
    cr_expect(topic && !strcmp(topic, input), "DLQ record %s: rill.source.topic is \"%s\"",
              rec->key, topic ? topic : "(absent)");
    snprintf(want, sizeof(want), "%d", (int)src->partition);
    const char *part = rt_record_header(rec, "rill.source.partition");
    cr_expect(part && !strcmp(part, want),
              "DLQ record %s: rill.source.partition is \"%s\", "
              "expected %s",
              rec->key, part ? part : "(absent)", want);
    snprintf(want, sizeof(want), "%lld", (long long)src->offset);
    const char *off = rt_record_header(rec, "rill.source.offset");
    cr_expect(off && !strcmp(off, want),
              "DLQ record %s: rill.source.offset is \"%s\", "
              "expected %s",
              rec->key, off ? off : "(absent)", want);
    cr_expect(rec->value && !strcmp(rec->value, src->value),
              "DLQ record %s: value \"%s\" is not the original \"%s\"", rec->key,
              rec->value ? rec->value : "(null)", src->value);
}

Test(integration_faas_faults,
     poison_record_alone_in_dlq_and_neighbours_on_time_when_its_calls_always_fail) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":3,\"latencyMs\":[1,10],\"poisonBatch\":true}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-poison", 8);
    rt_faas_run_produce(&run, 0, POISON_RECORDS, rt_faas_gen_poison, (void *)&poison);
    rt_kvs_t expected_dlq = {0};
    rt_faas_poison_records(&poison, &expected_dlq);

    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, rt_faas_props_alos, POISON_BATCH, 8);
    app.timeout_ms = POISON_TIMEOUT_MS;
    app.retries = POISON_RETRIES;
    app.backoff_ms = 50;
    app.backoff_max_ms = POISON_BACKOFF_MAX_MS;
    /* Note when each output becomes readable. */
    rt_tail_t *tail = rt_tail_start(bootstrap, run.output);
    pid_t pid = rt_faas_app_spawn(&app);
    int64_t t0 = rt_now_ms();
    int64_t ms = rt_faas_run_await(&run, "read_uncommitted", 60000);
    int64_t dlq_ms = rt_faas_await(run.dlq, "read_uncommitted", &expected_dlq, 30000);
    cr_log_info("%s: all output and dead letters %.1f s after the start", run.app_id,
                (double)(rt_now_ms() - t0) / 1000.0);
    cr_expect(ms >= 0 && dlq_ms >= 0, "output or dead letters incomplete (log %s)", run.log);
    /* A poison holds back the records after it in its partition by its retries and the
     * halvings of its batch, no more: the gap between the outputs of its neighbours. */
    double bound_ms = (POISON_RETRIES + halvings(POISON_BATCH) + 2) *
                      (double)(POISON_TIMEOUT_MS + POISON_BACKOFF_MAX_MS);
    for (size_t p = 0; p < POISON_CNT; p++) {
        char key[32];
        snprintf(key, sizeof(key), "k%zu", poison_at[p]);
        int64_t gap = neighbour_gap_ms(&run.delivered, find_key(&run.delivered, key), tail);
        cr_log_info("%s: the neighbours of %s came out %" PRId64 " ms apart (bound %.0f ms)",
                    run.app_id, key, gap, bound_ms);
        cr_expect(gap >= 0 && (double)gap <= bound_ms,
                  "the neighbours of poison record %s came out %" PRId64 " ms apart, more than "
                  "the %.0f ms its retries and bisection may cost (-1: one did not come out)",
                  key, gap, bound_ms);
    }
    rt_tail_stop(tail);
    rt_faas_expect_clean_stop(pid, run.log);

    rt_faas_run_expect_output(&run, "read_uncommitted", false, false);
    rt_records_t *dead = rt_faas_run_expect_dead_letters(&run, &expected_dlq);
    for (size_t p = 0; p < POISON_CNT; p++) {
        char key[32];
        snprintf(key, sizeof(key), "k%zu", poison_at[p]);
        const rt_record_t *src = find_key(&run.delivered, key);
        const rt_record_t *rec = find_key(dead, key);
        cr_assert_not_null(src);
        if (rec) {
            if (p == 0)
                cr_log_info("%s: dead letter %s: rill.error=\"%s\" rill.attempts=%s", run.app_id,
                            key, rt_record_header(rec, "rill.error"),
                            rt_record_header(rec, "rill.attempts"));
            check_dead_letter(rec, src, run.input);
        }
    }
    rt_metric_t splits, dlq;
    rt_faas_log_metric(run.log, "rill_faas_batch_splits_total", &splits);
    rt_faas_log_metric(run.log, "rill_faas_dlq_records_total", &dlq);
    cr_log_info("%s: %" PRId64 " batch splits, %" PRId64 " dead letters (metrics)", run.app_id,
                splits.last, dlq.last);
    cr_expect_eq(dlq.last, (int64_t)POISON_CNT, "rill_faas_dlq_records_total is %" PRId64,
                 dlq.last);

    rt_records_free(dead);
    free(dead);
    rt_kvs_free(&expected_dlq);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}

/* ---------------------------------------------------------------------------------------- */

#define HANG_RECORDS 20000
#define HANG_MAX_BUFFERED 300

Test(integration_faas_faults, nothing_dead_lettered_in_key_mode_when_one_call_hangs) {
    const char *bootstrap = rt_bootstrap();
    /* The very first call is never answered; the app times it out after 5 s and retries.
     * Meanwhile results of the other keys leave the stage past it, so the stage's oldest
     * record stays put while many more than max_buffered records pass through. */
    rt_fn_t fn;
    rt_fn_start(&fn, "faulty", "{\"seed\":5,\"latencyMs\":[1,5],\"next\":[\"timeout\"]}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-hang", 1);
    rt_faas_run_produce(&run, 0, HANG_RECORDS, rt_faas_gen_64_keys, NULL);

    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, rt_faas_props_alos, 4, 8);
    app.order = "key";
    app.timeout_ms = 5000;
    app.max_buffered = HANG_MAX_BUFFERED;
    pid_t pid = rt_faas_app_spawn(&app);
    rt_faas_run_await(&run, "read_uncommitted", 30000);
    rt_faas_expect_clean_stop(pid, run.log);

    int64_t dead = rt_faas_topic_records(bootstrap, run.dlq);
    if (dead > 0) {
        rt_records_t *recs = rt_consume_all(bootstrap, run.dlq, "read_uncommitted", 1, 10000);
        cr_log_info("%s: first dead letter: rill.error=\"%s\"", run.app_id,
                    recs->cnt ? rt_record_header(&recs->v[0], "rill.error") : "?");
        rt_records_free(recs);
        free(recs);
    }
    cr_expect_eq(dead, 0,
                 "%" PRId64 " of %d records went to the dead-letter topic %s while "
                 "one call hung: the stage must pause its input instead",
                 dead, HANG_RECORDS, run.dlq);
    rt_faas_run_expect_output(&run, "read_uncommitted", true, false);

    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
