/*
 * rt_faas_run.h — one run of rill_faas_app in a FaaS integration test, from set-up to the
 * checks every such test makes: its topics, its input and the reference output, the app's
 * settings that follow from them, waiting for the whole output, a clean stop, and the output
 * compared with the reference record by record.
 *
 * Conventions are rill_test.h's: calls that only the test's thread makes fail the test
 * themselves on a setup error; every wait is bounded; the checks are Criterion expectations.
 */
#ifndef RT_FAAS_RUN_H
#define RT_FAAS_RUN_H

#include "rt_faas.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Rill properties of most of these tests: at_least_once, commits every 500 ms, a 6 s session
 * with heartbeats every 500 ms (NULL-terminated). */
extern const char *const rt_faas_props_alos[];

/* A test's topics, input and reference. */
typedef struct rt_faas_run_s {
    char *app_id;           /* unique; also the consumer group */
    char *input, *output;   /* "<app_id>.in", "<app_id>.out" */
    char *dlq;              /* "<app_id>-dlq", the app's dead-letter topic */
    char *log;              /* the app's log */
    rt_records_t delivered; /* the input as Kafka acknowledged it */
    rt_kvs_t expected;      /* transform's reference of delivered */
} rt_faas_run_t;

/* Names a run after name and creates its input and output topics with partitions each. */
void rt_faas_run_init(rt_faas_run_t *run, const char *name, int partitions);

/* Produces n records of gen (indexes first..first+n-1) to the input, adding them to
 * delivered and their transform outputs to expected. Fails the test on an error. Safe only
 * on the test's thread. */
void rt_faas_run_produce(rt_faas_run_t *run, size_t first, size_t n, rt_gen_cb gen, void *opaque);

void rt_faas_run_free(rt_faas_run_t *run);

/* rill_faas_app's settings for run: the test's broker, run's topics, application.id and log,
 * the function at url and the Rill properties props (NULL-terminated; borrowed, like url, for
 * as long as the settings are used); a stage calling with batch records per call and
 * in_flight calls at most, in partition order, with what most of these tests give it: calls
 * timed out after 10 s, 5 retries, metrics printed every 500 ms. The caller changes what its
 * test needs otherwise. */
rt_faas_app_t rt_faas_run_app(const rt_faas_run_t *run, const char *url, const char *const *props,
                              int batch, int in_flight);

/* Waits until topic holds every record of expected (read with isolation_level), at most
 * timeout_ms. Returns the time it took, or -1 when it was still incomplete. */
int64_t rt_faas_await(const char *topic, const char *isolation_level, const rt_kvs_t *expected,
                      int timeout_ms);

/* Waits (at most timeout_ms) until run's output topic holds want records (committed or not)
 * while the app pid runs; fails the test, with the tail of run's log, when the app ends first
 * or the time is up. */
void rt_faas_run_await_progress(const rt_faas_run_t *run, pid_t pid, int64_t want, int timeout_ms);

/* rt_faas_await() of run's whole expected output; logs how long it took. */
int64_t rt_faas_run_await(const rt_faas_run_t *run, const char *isolation_level, int timeout_ms);

/* Stops the app pid (SIGTERM, rt_faas_app_stop()) and expects it to exit with 0; log is its
 * log, named in the failure. */
void rt_faas_expect_clean_stop(pid_t pid, const char *log);

/* Reads the output of run's stopped app to its end (isolation_level) and expects it to hold
 * exactly run->expected: nothing missing, nothing extra and, unless allow_duplicates (then
 * the replays are counted in the log), nothing twice; then expects it in input order per
 * input partition, or per key when by_key (rt_faas_expect_sequence()). */
void rt_faas_run_expect_output(const rt_faas_run_t *run, const char *isolation_level, bool by_key,
                               bool allow_duplicates);

/* Expects topic, the output of the app's synchronous branch (rt_faas_app_t.sync_output), read
 * to its end with isolation_level, to hold each input record of run exactly once. */
void rt_faas_run_expect_sync_output(const rt_faas_run_t *run, const char *topic,
                                    const char *isolation_level);

/* Reads run's dead-letter topic to its end and expects it to hold exactly expected (the
 * poison records: rt_faas_poison_records()), each once. Returns what it read, for the checks
 * of each dead letter's headers (free with rt_records_free() and free()). */
rt_records_t *rt_faas_run_expect_dead_letters(const rt_faas_run_t *run, const rt_kvs_t *expected);

/* Expects no record in run's dead-letter topic. */
void rt_faas_run_expect_no_dead_letters(const rt_faas_run_t *run);

/* The end of a run: waits (at most timeout_ms) for the whole of run->expected, stops the app
 * (it must exit 0), reads the output topic to its end and expects it to equal run->expected:
 * nothing missing, duplicated or extra. Returns what it read (free with rt_records_free() and
 * free()), for the test's own checks of its order. */
rt_records_t *rt_faas_run_finish(const rt_faas_run_t *run, pid_t pid, int timeout_ms);

#endif
