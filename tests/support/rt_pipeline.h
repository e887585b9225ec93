/*
 * rt_pipeline.h — the integration tests' view of tests/progs/rill_test_app: what it should
 * output for a given input (the reference), starting it as a process, producing its input in
 * the background, and the scenario "two instances in one group over a stream, maybe one of
 * them killed" that the at-least-once and exactly-once tests share.
 */
#ifndef RT_PIPELINE_H
#define RT_PIPELINE_H

#include "rill_test.h"

#include <pthread.h>

/* ---- the reference ---- */

/* Mirrors rill_test_app's value check: a decimal integer, optional '-', nothing else. */
int rt_parse_int(const char *value, int64_t *out);

/* Adds to expected the output rill_test_app makes from input: for each record whose value is
 * an integer N not divisible by 3, (key, "N:<N*7 % 1000>"). Other records make no output. */
void rt_pipeline_expected(const rt_records_t *input, rt_kvs_t *expected);

/* Generator of the stream tests: key "k<i>", value "<i>". */
void rt_gen_numbers(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                    void *opaque);

/* ---- the application process ---- */

/*
 * Starts rill_test_app reading input and writing output as app_id on bootstrap, with the
 * "name=value" properties props (NULL-terminated list, may be NULL) given as -D flags. Its
 * output goes to log (a path). Returns the pid.
 */
pid_t rt_pipeline_spawn(const char *bootstrap, const char *input, const char *output,
                        const char *app_id, const char *const *props, const char *log);

/* ---- producing in the background ---- */

typedef struct rt_bg_producer_s {
    pthread_t tid;
    const char *bootstrap, *topic;
    size_t n;
    rt_gen_cb gen;
    void *opaque;
    rt_produce_opts_t opts;
    rt_records_t delivered;
    int rc;
    char errstr[512];
} rt_bg_producer_t;

/* Starts producing n records of gen to topic at rate_per_sec on a thread of its own.
 * bootstrap and topic must outlive the producer. */
void rt_bg_produce_start(rt_bg_producer_t *bg, const char *bootstrap, const char *topic, size_t n,
                         rt_gen_cb gen, void *opaque, int rate_per_sec);

/* Waits for the producing thread (it ends after at most its producing time plus the 60 s
 * delivery timeout). Returns its result; bg->delivered holds the acknowledged records. */
int rt_bg_produce_join(rt_bg_producer_t *bg);

/* ---- the two-instance scenario ---- */

typedef struct rt_scenario_s {
    const char *name;            /* prefix of the topics and the application.id */
    size_t records;              /* input records */
    int partitions;              /* of input and output */
    int rate_per_sec;            /* input producing rate */
    const char *const *props;    /* -D properties of both instances (NULL-terminated) */
    const char *isolation_level; /* how the output is read: read_committed under EOS */
    bool kill_one;               /* SIGKILL instance A when kill_fraction of the output is in */
    double kill_fraction;
    int output_timeout_ms; /* how long to wait for the complete output */
} rt_scenario_t;

typedef struct rt_scenario_result_s {
    char *input, *output, *app_id;
    char *log_a, *log_b;
    rt_records_t delivered; /* input records as acknowledged (partition, offset) */
    rt_kvs_t expected;
    rt_records_t output_records; /* read after both instances stopped */
    rt_diff_t diff;
    size_t order_violations;
    char order_report[1024];
    int exit_a, exit_b;          /* exit codes (137 for the killed one) */
    int64_t output_seen_at_kill; /* output records present when A was killed */
    double seconds_to_output;    /* from the first input to the complete output */
} rt_scenario_result_t;

/*
 * Runs the scenario: topics, instances A and B, input produced in the background; with
 * kill_one, waits until kill_fraction of the expected output is in and SIGKILLs A; waits for
 * every expected record to be in the output (or the timeout), SIGTERMs the instances left,
 * then reads the whole output and compares it with the reference. Fails the test on setup
 * errors only; the caller asserts on res.
 */
void rt_scenario_run(const rt_scenario_t *sc, rt_scenario_result_t *res);
void rt_scenario_result_free(rt_scenario_result_t *res);

#endif
