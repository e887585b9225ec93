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

#include "rt_faas_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITIONS 4

TestSuite(integration_faas_lambda, .fini = rt_kill_all, .timeout = 150);

Test(integration_faas_lambda, output_equals_reference_when_lambda_transform_answers) {
    const char *url = getenv("RILL_TEST_FN_LAMBDA");
    if (!url || !*url)
        cr_assert_fail("RILL_TEST_FN_LAMBDA is not set: run scripts/test.sh, or "
                       "scripts/functions.sh start and export RILL_TEST_FN_LAMBDA=<its lambda "
                       "URL>");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-lambda", PARTITIONS);
    rt_faas_run_produce(&run, 0, 5000, rt_faas_gen_unique, NULL);
    rt_faas_app_t app = rt_faas_run_app(&run, url, rt_faas_props_alos, 50, 4);
    app.format = "lambda";
    app.function = "rill-functions-local-transform";
    pid_t pid = rt_faas_app_spawn(&app);
    rt_faas_run_await(&run, "read_uncommitted", 60000);
    rt_faas_expect_clean_stop(pid, run.log);
    rt_faas_run_expect_output(&run, "read_uncommitted", false, false);
    rt_metric_t invocations, failures;
    rt_faas_log_metric(run.log, "rill_faas_invocations_total", &invocations);
    rt_faas_log_metric(run.log, "rill_faas_failures_total", &failures);
    cr_log_info("%s: %" PRId64 " invocations, %" PRId64 " failed", run.app_id, invocations.last,
                failures.last);
    rt_faas_run_expect_no_dead_letters(&run);
    rt_faas_run_free(&run);
}

/* ---------------------------------------------------------------------------------------- */

#define PARTIAL_RECORDS 3000
#define PARTIAL_RETRIES 3

static const size_t poison_at[] = {777, 2024};
#define POISON_CNT (sizeof(poison_at) / sizeof(poison_at[0]))
static const rt_faas_poison_t poison = {poison_at, POISON_CNT};

Test(integration_faas_lambda, poison_in_dlq_when_lambda_reports_batch_item_failures) {
    rt_fn_t fn;
    rt_fn_start_lambda(&fn, "{\"seed\":17,\"partial\":true,\"rates\":{\"throw\":0.05}}");
    rt_faas_run_t run;
    rt_faas_run_init(&run, "faas-lambda-bif", PARTITIONS);
    rt_faas_run_produce(&run, 0, PARTIAL_RECORDS, rt_faas_gen_poison, (void *)&poison);
    rt_kvs_t expected_dlq = {0};
    rt_faas_poison_records(&poison, &expected_dlq);
    rt_faas_app_t app = rt_faas_run_app(&run, fn.url, rt_faas_props_alos, 10, 4);
    app.format = "lambda";
    app.function = "rill-functions-local-faulty";
    app.retries = PARTIAL_RETRIES;
    app.backoff_ms = 50;
    app.backoff_max_ms = 500;
    pid_t pid = rt_faas_app_spawn(&app);
    rt_faas_run_await(&run, "read_uncommitted", 60000);
    rt_faas_await(run.dlq, "read_uncommitted", &expected_dlq, 20000);
    rt_faas_expect_clean_stop(pid, run.log);
    rt_faas_run_expect_output(&run, "read_uncommitted", false, false);

    rt_records_t *dead = rt_faas_run_expect_dead_letters(&run, &expected_dlq);
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
