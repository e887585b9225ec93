/*
 * rt_faas.h — the FaaS bridge's integration tests' view of their world: function runtimes
 * started per test (a Functions Framework target or serverless-offline, each on its own
 * port with its own fault settings), a small HTTP client for their /control and /stats,
 * tests/progs/rill_faas_app started as a process (one run of it, from its topics to the checks
 * of its output: rt_faas_run.h), the `transform` function's rule as a reference, poison
 * records, the order check of the stage's output record by record, a reader that notes
 * when each output arrives, the metrics the app prints to its log, and the memory, CPU and
 * runnable time of a process.
 *
 * Conventions are rill_test.h's: calls that only the test's thread makes fail the test
 * themselves on a setup error; every wait is bounded; returned memory is the caller's.
 */
#ifndef RT_FAAS_H
#define RT_FAAS_H

#include "rill_test.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- function runtimes ---- */

/* A function runtime process started by the test. */
typedef struct rt_fn_s {
    pid_t pid;
    int port;     /* Functions Framework: its port; serverless-offline: the Lambda API port */
    char url[64]; /* "http://127.0.0.1:<port>/" (Lambda: without the trailing '/') */
    char *log;    /* its stdout and stderr */
    bool lambda;
} rt_fn_t;

/*
 * Starts the Functions Framework target (echo, transform or faulty) of
 * faas_bridge/functions on a free port of 127.0.0.1, with RILL_FAULT=fault_json when it is
 * not NULL, and waits (at most 30 s) until it answers. Fails the test when it cannot.
 * The process is an rt_spawn() child: rt_kill_all() ends it.
 */
void rt_fn_start(rt_fn_t *fn, const char *target, const char *fault_json);

/* Starts serverless-offline (the Lambda Invoke API, functions rill-functions-local-*) on
 * free ports, with RILL_FAULT=fault_json for its `faulty` function when not NULL; waits (at
 * most 60 s) until it answers. */
void rt_fn_start_lambda(rt_fn_t *fn, const char *fault_json);

/* Starts the target (echo, transform or faulty) served over HTTP/2 with prior knowledge
 * (faas_bridge/functions/h2c.js, node's http2 server, at most max_streams streams per
 * connection), with RILL_FAULT=fault_json when not NULL, on a free port of 127.0.0.1; waits (at
 * most 30 s) until it listens. It logs the line "h2c.js: session N" for every connection it accepts
 * (rt_fn_h2c_sessions). */
void rt_fn_start_h2c(rt_fn_t *fn, const char *target, int max_streams, const char *fault_json);

/* The same served over HTTPS that offers HTTP/2 only (ALPN "h2", no HTTP/1.1 fallback), with
 * a self-signed certificate for 127.0.0.1 made by openssl for it (its client must skip the
 * certificate check); fn->url is "https://127.0.0.1:<port>/". */
void rt_fn_start_h2_tls(rt_fn_t *fn, const char *target, int max_streams, const char *fault_json);

/* The HTTP/2 connections an rt_fn_start_h2c() or rt_fn_start_h2_tls() function accepted so
 * far, from its log. */
int rt_fn_h2c_sessions(const rt_fn_t *fn);

/* Stops fn (SIGTERM, then SIGKILL after 5 s) and frees what rt_fn_start*() allocated. */
void rt_fn_stop(rt_fn_t *fn);

/*
 * One HTTP/1.1 exchange with 127.0.0.1:port (method "GET" or "POST", body JSON or NULL),
 * bounded by timeout_ms. Returns the status (and the body in reply, NUL-terminated and
 * truncated to reply_size), or -1 with the reason in reply. Safe on any thread.
 */
int rt_http(int port, const char *method, const char *path, const char *body, char *reply,
            size_t reply_size, int timeout_ms);

/* POST /control with the JSON cmd to a Functions Framework target; for serverless-offline,
 * invokes function (e.g. "rill-functions-local-faulty") with {"rillControl": cmd}. Fails
 * the test unless the answer is 200. The stats it answers go to stats when not NULL. */
void rt_fn_control(const rt_fn_t *fn, const char *function, const char *cmd, char *stats,
                   size_t stats_size);

/* The number after "\"name\":" in json (the first one after "\"within\":" when within is not
 * NULL), or -1 when absent. Enough for the flat /stats answers. */
int64_t rt_json_number(const char *json, const char *within, const char *name);

/* ---- the application under test (one run of it: rt_faas_run.h) ---- */

/* How to run tests/progs/rill_faas_app; zero or NULL fields keep the app's defaults. */
typedef struct rt_faas_app_s {
    const char *bootstrap, *input, *output, *app_id;
    const char *url, *format, *function, *order; /* format "ce"|"lambda"; order "partition"|"key" */
    const char *sync_output; /* a synchronous branch writes the input there, or NULL */
    int batch, in_flight, linger_ms, retries, timeout_ms, max_buffered, backoff_ms, backoff_max_ms,
        metrics_every_ms;
    int adaptive;             /* 1: adaptive_concurrency */
    int http_version;         /* 2: HTTP/2 over http:// (h2c); 0: the default */
    int insecure_tls;         /* 1: insecure_skip_tls_verify (a test's self-signed function) */
    const char *const *props; /* "name=value" Rill properties (-D), NULL-terminated */
    const char *log;
} rt_faas_app_t;

/* Starts rill_faas_app as configured; returns its pid. */
pid_t rt_faas_app_spawn(const rt_faas_app_t *app);

/* SIGTERMs pid and waits (at most 30 s) for it to end; logs the tail of log unless it exited
 * with 0. Returns its exit code (-1: still running). */
int rt_faas_app_stop(pid_t pid, const char *log);

/* Records in topic (rt_topic_size), or 0 when it does not exist (yet). */
int64_t rt_faas_topic_records(const char *bootstrap, const char *topic);

/* ---- the reference ---- */

/*
 * The `transform` function's rule (faas_bridge/functions/core.js) for one value: writes its
 * outputs to out and returns how many (0, 1 or 2), or returns -1 for a poison record (the
 * function reports an error for it). A decimal integer N becomes "N:<N*7 % 1000>" (a second
 * output with ":b" appended when N ends in 0, none when it ends in 5); other values pass
 * unchanged.
 */
int rt_faas_transform(const char *value, char out[2][96]);

/* Adds to expected, for every input record, (its key, each of its transform outputs). */
void rt_faas_expected(const rt_records_t *input, rt_kvs_t *expected);

/* Generator: key "k<i>" (unique), value "<i>". */
void rt_faas_gen_unique(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                        void *opaque);

/* Generator: key "key-<i % 64>" (64 keys), value "<i>". */
void rt_faas_gen_64_keys(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                         void *opaque);

/* Poison records: the indexes whose value is "poison-<i>", which the `faulty` function
 * fails (poisonBatch, Lambda's partial batch response). */
typedef struct rt_faas_poison_s {
    const size_t *at;
    size_t cnt;
} rt_faas_poison_t;

/* Generator (opaque: a const rt_faas_poison_t): key "k<i>", value "<i>", or "poison-<i>" at
 * the poison indexes. */
void rt_faas_gen_poison(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                        void *opaque);

/* Adds each poison record (its key and value) to kvs: what the dead-letter topic must hold. */
void rt_faas_poison_records(const rt_faas_poison_t *poison, rt_kvs_t *kvs);

/* ---- order, record by record ---- */

typedef struct rt_seq_check_s {
    size_t streams;    /* input partitions (partition mode) or keys (key mode) */
    size_t checked;    /* output records matched to an expected output */
    size_t duplicates; /* matched outputs seen before (replays) */
    size_t backwards;  /* outputs that came after an output that follows them in input order */
    size_t gaps;       /* outputs that came while an earlier expected output was not yet seen */
    size_t split;      /* outputs of one stream found in more than one output partition */
    size_t overtakes;  /* outputs released ahead of an earlier input record of their input
                          partition (key mode: keys interleaving, which it allows) */
    char report[2048]; /* the first deviations, in words */
} rt_seq_check_t;

/*
 * Compares output with the transform reference of input, stream by stream: per input
 * partition (by_key false) or per key (by_key true), the output records of a stream, in
 * output offset order and with replays (records seen before) skipped, must be exactly the
 * stream's expected outputs in input offset order. Each stream's records must also be in
 * one output partition. Outputs matching no expected output are ignored (rt_diff reports
 * them). The run is in order when backwards, gaps and split are 0 and rt_diff finds nothing
 * missing.
 */
void rt_faas_check_sequence(const rt_records_t *input, const rt_records_t *output, bool by_key,
                            rt_seq_check_t *res);

/* rt_faas_check_sequence() as a Criterion expectation (a failure names topic and what broke
 * the order); fills *seq when not NULL. */
void rt_faas_expect_sequence(const rt_records_t *input, const rt_records_t *output, bool by_key,
                             const char *topic, rt_seq_check_t *seq);

/* ---- when outputs arrive ---- */

/* A reader that follows a topic from the beginning on a thread of its own and notes when
 * (rt_now_ms()) each record became readable. */
typedef struct rt_tail_s rt_tail_t;

/* Starts following topic (it must exist). Fails the test when it cannot. */
rt_tail_t *rt_tail_start(const char *bootstrap, const char *topic);

/* When the first record with value was read, or -1 when none was. Safe while it runs. */
int64_t rt_tail_arrival(rt_tail_t *tail, const char *value);

/* Stops the reader and frees it. NULL-safe. */
void rt_tail_stop(rt_tail_t *tail);

/* ---- metrics from the app's log (--metrics-every) ---- */

typedef struct rt_metric_s {
    int64_t last; /* the value in the last complete snapshot, -1 when none */
    int64_t max;  /* the largest value of any snapshot, -1 when none */
    size_t snapshots;
} rt_metric_t;

/* Reads metric name (summed over its labels) from every snapshot rill_faas_app printed to
 * log (the last one is printed after the app stopped cleanly). */
void rt_faas_log_metric(const char *log, const char *name, rt_metric_t *m);

/* ---- a process's resources ---- */

/* VmRSS of pid in KiB, or -1. */
long rt_proc_rss_kb(pid_t pid);

/* CPU time (user + system) of pid in milliseconds, or -1. */
int64_t rt_proc_cpu_ms(pid_t pid);

/* Time the threads of pid have spent running or ready to run (waiting for a CPU), summed,
 * in milliseconds (/proc/<pid>/task/<tid>/schedstat), or -1. Unlike CPU time it does not
 * shrink when the machine is busy: a thread that never blocks adds the wall time. */
int64_t rt_proc_runnable_ms(pid_t pid);

/* Sleeps ms milliseconds. */

#endif
