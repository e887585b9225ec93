/*
 * rill_test.h — helpers for Rill's integration tests: the broker under test, unique names,
 * topics, producing and reading records with librdkafka directly (not through Rill, so that
 * what is checked is what Kafka holds), helper processes, and comparing expected with
 * actual records.
 *
 * Conventions
 *  1. Calls that can only be made from the test's own thread (rt_bootstrap, rt_create_topic,
 *     rt_consume_all, rt_spawn, rt_build_path, rt_tmp_path) fail the test themselves
 *     (cr_assert_fail) on a setup error, so a test reads as a straight line. rt_produce_strings
 *     and rt_topic_size return an error instead, so they may run on a helper thread.
 *  2. Every wait is bounded by a timeout given by the caller.
 *  3. Returned memory belongs to the caller and has a matching *_free().
 *  4. Notes go through cr_log_info(), never cr_log_warn(): with Criterion 2.4.1 one warning
 *     makes the test binary exit 1 (so ctest fails it) although every test passed.
 */
#ifndef RILL_TEST_H
#define RILL_TEST_H

#include <rill.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the broker, names and paths ---- */

/* The bootstrap servers of the Kafka under test, from RILL_TEST_BOOTSTRAP. Fails the test with
 * how to start one when it is unset: integration tests never skip. */
const char *rt_bootstrap(void);

/* "<prefix>-<pid>-<epoch seconds>-<counter>": unique per run, valid as a topic name and an
 * application.id. The caller frees it. */
char *rt_unique_name(const char *prefix);

/* The path of helper program name under $RILL_BUILD_DIR/tests (set by ctest). Fails the test
 * when RILL_BUILD_DIR is unset or the program is not there. The caller frees it. */
char *rt_build_path(const char *name);

/* A path for file name in this test process's temporary directory (created on first use,
 * kept after the run so logs can be read). The caller frees it. */
char *rt_tmp_path(const char *name);

/* A new string formatted as printf formats it; aborts when out of memory. The caller frees it. */
char *rt_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs topo in this process as application app_id on the test broker (state in the test's
 * temporary directory, commit.interval.ms 200, exit.on.end true) until it ends, stopping it
 * after timeout_ms; returns its exit error (logged when there is one). */
rill_err_t rt_app_run_here(rill_topology_t *topo, const char *app_id, int timeout_ms);

/* Milliseconds on a monotonic clock. */
int64_t rt_now_ms(void);
/* Sleeps ms milliseconds (resumed after signals). */
void rt_sleep_ms(int ms);

/* ---- topics ---- */

/* Creates topic with partitions partitions (replication factor 1) through the Admin API and
 * waits for the result and for the metadata to show every partition. Fails the test on an
 * error, including an existing topic (names are unique). */
void rt_create_topic(const char *bootstrap, const char *topic, int partitions);
/* The same with topic configs: NULL-terminated name, value pairs (may be NULL). */
void rt_create_topic_config(const char *bootstrap, const char *topic, int partitions,
                            const char *const *configs);

/* Sum over partitions of high watermark minus low watermark (records written, committed or
 * not, plus transaction markers). Returns -1 with errstr on an error. */
int64_t rt_topic_size(const char *bootstrap, const char *topic, char *errstr, size_t errstr_size);

/* ---- records ---- */

typedef struct rt_header_s {
    char *name;
    char *value; /* NUL-terminated copy; NULL for a null header value */
    size_t value_len;
} rt_header_t;

/* One record as read from (or acknowledged by) Kafka. key and value are NUL-terminated copies
 * (NULL for null); partition and offset say where it is. */
typedef struct rt_record_s {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    int32_t partition;
    int64_t offset;
    rt_header_t *headers;
    size_t header_cnt;
} rt_record_t;

typedef struct rt_records_s {
    rt_record_t *v;
    size_t cnt, cap;
} rt_records_t;

void rt_records_free(rt_records_t *recs);

/* The value of the last header called name of rec, or NULL (absent or null). Borrowed. */
const char *rt_record_header(const rt_record_t *rec, const char *name);

/* ---- producing ---- */

/* Fills key and value (NUL-terminated, at most the given sizes) for the i-th record. */
typedef void (*rt_gen_cb)(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                          void *opaque);

typedef struct rt_produce_opts_s {
    size_t first;            /* index of the first record given to the generator */
    int rate_per_sec;        /* 0: as fast as possible; else spread the records over time */
    rt_records_t *delivered; /* when set, gets each record with its partition and offset,
                                in acknowledgement order */
} rt_produce_opts_t;

/*
 * Produces n records made by gen to topic with an idempotent, batching producer and the
 * murmur2_random partitioner (Kafka's Java default, the one Rill's producer uses), then
 * waits up to 60 s for every delivery. opts may be NULL. Returns 0, or -1 with errstr when a
 * record failed or was not acknowledged in time. Safe on any thread (it asserts nothing).
 */
/* A librdkafka producer for rt_bootstrap(): idempotent, murmur2_random (Kafka's Java
 * clients' partitioner), linger_ms, with delivery callback dr and opaque (both may be NULL).
 * Fails the test when it cannot be made. */
struct rd_kafka_s;
struct rd_kafka_message_s;
struct rd_kafka_s *rt_murmur2_producer(int linger_ms,
                                       void (*dr)(struct rd_kafka_s *,
                                                  const struct rd_kafka_message_s *, void *),
                                       void *opaque);

int rt_produce_strings(const char *bootstrap, const char *topic, size_t n, rt_gen_cb gen,
                       void *opaque, const rt_produce_opts_t *opts, char *errstr,
                       size_t errstr_size);

/* ---- reading ---- */

/*
 * Reads topic from the beginning of every partition with a fresh consumer in no group
 * (partitions assigned from metadata), with isolation_level "read_committed" or
 * "read_uncommitted". Reads until every partition has reached its end (high watermark, or
 * last stable offset under read_committed) and at least min_count records were read, or
 * until timeout_ms passes: then it returns what it has (compare the count). Records come
 * in per-partition offset order. The caller frees with rt_records_free() and free().
 */
rt_records_t *rt_consume_all(const char *bootstrap, const char *topic, const char *isolation_level,
                             size_t min_count, int timeout_ms);

/* ---- processes ---- */

/* Starts argv[0] (a path) with argv, stdout and stderr appended to logfile. The child is
 * killed when the test process dies (PR_SET_PDEATHSIG) and by rt_kill_all(). Fails the test
 * when it cannot fork. Returns the pid. */
pid_t rt_spawn(char *const argv[], const char *logfile);

/* Sends sig to pid. Returns 0 or -1. */
int rt_kill(pid_t pid, int sig);

/* Waits up to timeout_ms for pid to end. Returns its exit code, 128 + the signal number when
 * a signal ended it, or -1 when it is still running at the deadline (or is not a child). */
int rt_wait(pid_t pid, int timeout_ms);

/* SIGKILLs and reaps every process started by rt_spawn() that is still running. For a
 * suite's .fini; also run at exit. */
void rt_kill_all(void);

/* Logs (cr_log_info) the last max_lines lines of file, e.g. a helper's log on failure. */
void rt_log_tail(const char *file, int max_lines);

/* Whether file contains needle. */
bool rt_file_contains(const char *file, const char *needle);

/* ---- comparing ---- */

typedef struct rt_kv_s {
    char *key;
    char *value;
} rt_kv_t;

/* A multiset of (key, value) strings. */
typedef struct rt_kvs_s {
    rt_kv_t *v;
    size_t cnt, cap;
} rt_kvs_t;

void rt_kvs_add(rt_kvs_t *kvs, const char *key, const char *value);
void rt_kvs_free(rt_kvs_t *kvs);

/*
 * The difference between an expected and an actual multiset of (key, value):
 *  missing    — copies expected but not found,
 *  duplicates — surplus copies of expected pairs,
 *  extra      — copies of pairs not expected at all.
 * report holds the counts and the first few examples of each kind, for a failure message.
 */
typedef struct rt_diff_s {
    size_t expected, actual;
    size_t missing, duplicates, extra;
    char report[4096];
} rt_diff_t;

void rt_diff(const rt_kvs_t *expected, const rt_records_t *actual, rt_diff_t *diff);

/*
 * Checks that output keeps input order: for every pair (output partition, input partition),
 * the input offsets of the output records, in output offset order, strictly increase.
 * Records are matched by key (keys must be unique in input); output records whose key is not
 * in input are ignored (rt_diff reports them). Returns the number of violations and
 * describes the first ones in report.
 */
size_t rt_check_order(const rt_records_t *input, const rt_records_t *output, char *report,
                      size_t report_size);

#endif
