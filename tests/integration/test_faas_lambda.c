/*
 * test_faas_lambda.c — the AWS Lambda Invoke format on a real Kafka, against
 * serverless-offline (faas_bridge/functions/serverless.yml):
 *  - 5k records through `rill-functions-local-transform` of the shared runtime
 *    (RILL_TEST_FN_LAMBDA, started by scripts/test.sh): the output must equal the reference,
 *    in order;
 *  - a runtime of the test's own whose `faulty` function answers Lambda's partial batch
 *    response (batchItemFailures) for poison records and throws on some calls
 *    (X-Amz-Function-Error: Unhandled): the poison records, and only they, must end in the
 *    dead-letter topic after their retries, with the error saying batchItemFailures named
 *    them; everything else must come through in order.
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_TEST_FN_LAMBDA (scripts/test.sh sets both), RILL_BUILD_DIR
 * (ctest sets it) and faas_bridge/functions/node_modules.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_faas.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITIONS 4

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=500",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_faas_lambda, .fini = rt_kill_all, .timeout = 150);

/* Reads the stopped app's output; checks it equals the reference, once and in order. */
static void check_output(const rt_faas_run_t *run) {
    rt_records_t *out = rt_consume_all(rt_bootstrap(), run->output, "read_uncommitted", 0, 30000);
    rt_diff_t diff;
    rt_diff(&run->expected, out, &diff);
    cr_log_info("%s: %s", run->app_id, diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "output of %s differs from the reference: %s", run->output, diff.report);
    rt_faas_expect_sequence(&run->delivered, out, false, run->output, NULL);
    rt_records_free(out);
    free(out);
}

Test(integration_faas_lambda, output_equals_reference_when_lambda_transform_answers) {
    const char *bootstrap = rt_bootstrap();
    const char *url = getenv("RILL_TEST_FN_LAMBDA");
    if (!url || !*url)
        cr_assert_fail("RILL_TEST_FN_LAMBDA is not set: run scripts/test.sh, or "
                       "scripts/functions.sh start and export RILL_TEST_FN_LAMBDA=<its lambda "
                       "URL>");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-lambda", PARTITIONS);
    rt_faas_run_produce(&run, 0, 5000, rt_faas_gen_unique, NULL);
    rt_faas_app_t app = {.bootstrap = bootstrap,
                         .input = run.input,
                         .output = run.output,
                         .app_id = run.app_id,
                         .url = url,
                         .format = "lambda",
                         .function = "rill-functions-local-transform",
                         .order = "partition",
                         .batch = 50,
                         .in_flight = 4,
                         .timeout_ms = 10000,
                         .retries = 5,
                         .metrics_every_ms = 500,
                         .props = props,
                         .log = run.log};
    pid_t pid = rt_faas_app_spawn(&app);
    int64_t ms;
    rt_records_t *out =
        rt_faas_wait_output(bootstrap, run.output, "read_uncommitted", &run.expected, 60000, &ms);
    rt_records_free(out);
    free(out);
    if (ms >= 0)
        cr_log_info("%s: complete output after %.1f s", run.app_id, (double)ms / 1000.0);
    int code = rt_faas_app_stop(pid, run.log);
    cr_expect_eq(code, 0, "rill_faas_app exited with %d after SIGTERM (log %s)", code, run.log);
    check_output(&run);
    rt_metric_t invocations, failures;
    rt_faas_log_metric(run.log, "rill_faas_invocations_total", &invocations);
    rt_faas_log_metric(run.log, "rill_faas_failures_total", &failures);
    cr_log_info("%s: %" PRId64 " invocations, %" PRId64 " failed", run.app_id, invocations.last,
                failures.last);
    int64_t dead = rt_faas_topic_records(bootstrap, run.dlq);
    cr_expect_eq(dead, 0, "%" PRId64 " records went to the dead-letter topic %s", dead, run.dlq);
    rt_faas_run_free(&run);
}

/* ---------------------------------------------------------------------------------------- */

#define PARTIAL_RECORDS 3000
#define PARTIAL_RETRIES 3

static const size_t poison_at[] = {777, 2024};
#define POISON_CNT (sizeof(poison_at) / sizeof(poison_at[0]))

static void gen_with_poison(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                            void *opaque) {
    (void)opaque;
    snprintf(key, key_size, "k%zu", i);
    snprintf(value, value_size, "%zu", i);
    for (size_t p = 0; p < POISON_CNT; p++)
        if (poison_at[p] == i)
            snprintf(value, value_size, "poison-%zu", i);
}

Test(integration_faas_lambda, poison_in_dlq_when_lambda_reports_batch_item_failures) {
    const char *bootstrap = rt_bootstrap();
    rt_fn_t fn;
    rt_fn_start_lambda(&fn, "{\"seed\":17,\"partial\":true,\"rates\":{\"throw\":0.05}}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-lambda-bif", PARTITIONS);
    rt_faas_run_produce(&run, 0, PARTIAL_RECORDS, gen_with_poison, NULL);
    rt_kvs_t expected_dlq = {0};
    for (size_t p = 0; p < POISON_CNT; p++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "k%zu", poison_at[p]);
        snprintf(value, sizeof(value), "poison-%zu", poison_at[p]);
        rt_kvs_add(&expected_dlq, key, value);
    }
    rt_faas_app_t app = {.bootstrap = bootstrap,
                         .input = run.input,
                         .output = run.output,
                         .app_id = run.app_id,
                         .url = fn.url,
                         .format = "lambda",
                         .function = "rill-functions-local-faulty",
                         .order = "partition",
                         .batch = 10,
                         .in_flight = 4,
                         .timeout_ms = 10000,
                         .retries = PARTIAL_RETRIES,
                         .backoff_ms = 50,
                         .backoff_max_ms = 500,
                         .metrics_every_ms = 500,
                         .props = props,
                         .log = run.log};
    pid_t pid = rt_faas_app_spawn(&app);
    int64_t ms, dlq_ms;
    rt_records_t *out =
        rt_faas_wait_output(bootstrap, run.output, "read_uncommitted", &run.expected, 60000, &ms);
    rt_records_free(out);
    free(out);
    rt_records_t *dead =
        rt_faas_wait_output(bootstrap, run.dlq, "read_uncommitted", &expected_dlq, 20000, &dlq_ms);
    rt_records_free(dead);
    free(dead);
    if (ms >= 0)
        cr_log_info("%s: complete output after %.1f s", run.app_id, (double)ms / 1000.0);
    int code = rt_faas_app_stop(pid, run.log);
    cr_expect_eq(code, 0, "rill_faas_app exited with %d after SIGTERM (log %s)", code, run.log);
    check_output(&run);

    dead = rt_consume_all(bootstrap, run.dlq, "read_uncommitted", 0, 20000);
    rt_diff_t diff;
    rt_diff(&expected_dlq, dead, &diff);
    cr_log_info("%s dead letters: %s", run.app_id, diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "the dead-letter topic %s does not hold exactly the poison records: %s", run.dlq,
              diff.report);
    char want_attempts[16];
    snprintf(want_attempts, sizeof(want_attempts), "%d", PARTIAL_RETRIES + 1);
    for (size_t i = 0; i < dead->cnt; i++) {
        const rt_record_t *rec = &dead->v[i];
        const char *error = rt_record_header(rec, "rill.error");
        const char *attempts = rt_record_header(rec, "rill.attempts");
        cr_log_info("%s: dead letter %s: rill.error=\"%s\" rill.attempts=%s", run.app_id, rec->key,
                    error ? error : "(absent)", attempts ? attempts : "(absent)");
        /* Its last call may also have been one that threw (X-Amz-Function-Error). */
        cr_expect(error && strstr(error, "rill-functions-local-faulty") &&
                      (strstr(error, "batchItemFailures") || strstr(error, "Unhandled")),
                  "DLQ record %s: rill.error \"%s\" should name the function and "
                  "batchItemFailures",
                  rec->key, error ? error : "(absent)");
        /* A record named in batchItemFailures is retried alone until its retries are spent
         * (a thrown call in between may add attempts). */
        cr_expect(attempts && atoi(attempts) >= PARTIAL_RETRIES + 1,
                  "DLQ record %s: rill.attempts is \"%s\", expected at least %s", rec->key,
                  attempts ? attempts : "(absent)", want_attempts);
    }
    char stats[16384];
    rt_fn_control(&fn, "rill-functions-local-faulty", "{}", stats, sizeof(stats));
    cr_log_info("%s: function stats %s", run.app_id, stats);
    cr_expect_gt(rt_json_number(stats, "faults", "throw"), 0, "no call threw (stats %s)", stats);
    cr_expect_geq(rt_json_number(stats, NULL, "recordErrors"), (int64_t)POISON_CNT,
                  "the function reported fewer failed records than poison records (stats %s)",
                  stats);

    rt_records_free(dead);
    free(dead);
    rt_kvs_free(&expected_dlq);
    rt_faas_run_free(&run);
    rt_fn_stop(&fn);
}
