/*
 * test_dlq.c — bad records on a real Kafka: rill_test_app reads a stream in which a few
 * records cannot be processed (a poison record, values that are not integers, a value that
 * is not UTF-8). Each must land in the dead-letter topic "<application.id>-dlq", once, with
 * its original key and value and headers naming the error, the failing node and where the
 * record came from; every good record must be in the output.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_pipeline.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS 400

/* A record the app must reject: where it is in the input, and what the DLQ must say. */
typedef struct bad_s {
    size_t index;
    const char *value;
    const char *node;
    const char *reason; /* the exact rill.error, or NULL to check only reason_part */
    const char *reason_part;
} bad_t;

static const bad_t bad[] = {
    {37, "poison-1", "validate", "poison record: poison-1", NULL},
    {101, "abc", "validate", "not an integer: abc", NULL},
    {202, "\xff\xfe", "source", NULL, "could not be deserialized"},
    {303, "poison-2", "validate", "poison record: poison-2", NULL},
    {350, "12x", "validate", "not an integer: 12x", NULL},
};
#define BAD_CNT (sizeof(bad) / sizeof(bad[0]))

static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    NULL,
};

static void gen_with_bad_records(size_t i, char *key, size_t key_size, char *value,
                                 size_t value_size, void *opaque) {
    snprintf(key, key_size, "k%zu", i);
    snprintf(value, value_size, "%zu", i);
    for (size_t b = 0; b < BAD_CNT; b++)
        if (bad[b].index == i)
            snprintf(value, value_size, "%s", bad[b].value);
}

static const rt_record_t *find_by_key(const rt_records_t *recs, const char *key) {
    for (size_t i = 0; i < recs->cnt; i++)
        if (recs->v[i].key && !strcmp(recs->v[i].key, key))
            return &recs->v[i];
    return NULL;
}

/* Checks one header of a DLQ record; returns 1 when it is wrong (and says so). */
static int expect_header(const rt_record_t *rec, const char *name, const char *want) {
    const char *got = rt_record_header(rec, name);
    cr_expect(got && !strcmp(got, want), "DLQ record %s: header %s is \"%s\", expected \"%s\"",
              rec->key, name, got ? got : "(absent)", want);
    return !(got && !strcmp(got, want));
}

/* Checks the headers of the DLQ record of bad[b] against where it was produced. */
static void check_dlq_record(const rt_record_t *rec, const bad_t *b, const rt_record_t *src,
                             const char *input, const char *app_id) {
    char num[32];
    const char *reason = rt_record_header(rec, "rill.error");
    if (b->reason)
        expect_header(rec, "rill.error", b->reason);
    else
        cr_expect(reason && strstr(reason, b->reason_part),
                  "DLQ record %s: rill.error is \"%s\", expected it to contain \"%s\"", rec->key,
                  reason ? reason : "(absent)", b->reason_part);
    expect_header(rec, "rill.error.node", b->node);
    expect_header(rec, "rill.source.topic", input);
    snprintf(num, sizeof(num), "%d", (int)src->partition);
    expect_header(rec, "rill.source.partition", num);
    snprintf(num, sizeof(num), "%lld", (long long)src->offset);
    expect_header(rec, "rill.source.offset", num);
    expect_header(rec, "rill.attempts", "1");
    expect_header(rec, "rill.application.id", app_id);
    cr_expect(rec->value && !strcmp(rec->value, b->value),
              "DLQ record %s: value is not the original one", rec->key);
}

TestSuite(integration_dlq, .fini = rt_kill_all, .timeout = 120);

Test(integration_dlq, bad_records_in_dlq_with_headers_when_input_is_malformed) {
    const char *bootstrap = rt_bootstrap();
    char errstr[512];
    char *app_id = rt_unique_name("dlq");
    char *input = NULL, *output = NULL, *dlq = NULL, *log = NULL, *log_name = NULL;
    if (asprintf(&input, "%s.in", app_id) < 0 || asprintf(&output, "%s.out", app_id) < 0 ||
        asprintf(&dlq, "%s-dlq", app_id) < 0 || asprintf(&log_name, "%s.log", app_id) < 0)
        cr_assert_fail("out of memory");
    log = rt_tmp_path(log_name);
    rt_create_topic(bootstrap, input, 4);
    rt_create_topic(bootstrap, output, 4);

    rt_records_t delivered = {0};
    rt_produce_opts_t popts = {.delivered = &delivered};
    cr_assert_eq(rt_produce_strings(bootstrap, input, RECORDS, gen_with_bad_records, NULL, &popts,
                                    errstr, sizeof(errstr)),
                 0, "producing the input: %s", errstr);
    cr_assert_eq(delivered.cnt, RECORDS);
    rt_kvs_t expected = {0}, expected_dlq = {0};
    rt_pipeline_expected(&delivered, &expected);
    for (size_t b = 0; b < BAD_CNT; b++) {
        char key[32];
        snprintf(key, sizeof(key), "k%zu", bad[b].index);
        rt_kvs_add(&expected_dlq, key, bad[b].value);
    }

    pid_t app = rt_pipeline_spawn(bootstrap, input, output, app_id, props, log);
    /* Wait for all the output and all the dead letters, then stop the app cleanly. */
    rt_records_t *out = rt_consume_all(bootstrap, output, "read_uncommitted", expected.cnt, 60000);
    cr_log_info("%s: %zu of %zu output records in", app_id, out->cnt, expected.cnt);
    rt_records_free(out);
    free(out);
    rt_records_t *dead = rt_consume_all(bootstrap, dlq, "read_uncommitted", BAD_CNT, 20000);
    rt_records_free(dead);
    free(dead);
    rt_kill(app, SIGTERM);
    int code = rt_wait(app, 30000);
    if (code)
        rt_log_tail(log, 40);
    cr_expect_eq(code, 0, "rill_test_app exited with %d after SIGTERM (log %s)", code, log);

    rt_diff_t diff;
    out = rt_consume_all(bootstrap, output, "read_uncommitted", expected.cnt, 20000);
    rt_diff(&expected, out, &diff);
    cr_log_info("output: %s", diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "output of %s differs from the reference: %s", output, diff.report);

    dead = rt_consume_all(bootstrap, dlq, "read_uncommitted", BAD_CNT, 20000);
    rt_diff(&expected_dlq, dead, &diff);
    cr_log_info("dead letters: %s", diff.report);
    cr_expect(!diff.missing && !diff.duplicates && !diff.extra,
              "dead-letter topic %s does not hold exactly the bad records: %s", dlq, diff.report);
    for (size_t b = 0; b < BAD_CNT; b++) {
        char key[32];
        snprintf(key, sizeof(key), "k%zu", bad[b].index);
        const rt_record_t *rec = find_by_key(dead, key);
        const rt_record_t *src = find_by_key(&delivered, key);
        cr_assert_not_null(src);
        if (rec)
            check_dlq_record(rec, &bad[b], src, input, app_id);
    }

    rt_records_free(out);
    free(out);
    rt_records_free(dead);
    free(dead);
    rt_records_free(&delivered);
    rt_kvs_free(&expected);
    rt_kvs_free(&expected_dlq);
    free(app_id);
    free(input);
    free(output);
    free(dlq);
    free(log);
    free(log_name);
}
