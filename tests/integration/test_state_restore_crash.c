/*
 * test_state_restore_crash.c — a process SIGKILLed while it restores its stores restores
 * them correctly when it starts again, on a real Kafka and RocksDB on disk.
 *
 * Restore writes to RocksDB without the WAL (state/restore.c): a kill keeps only what
 * RocksDB had flushed to its tables, which must be data and offsets that agree, and the
 * next start must resume from there (or from the start) and end with exactly the
 * changelog's content. rill_count_app (two key-value stores per task) counts an input whose
 * counts are also computed here; then its state directory is replaced by an empty one and
 * the app restarted with a restore consumer made slow (small changelog batches, small
 * fetches), so that the restore takes seconds; it is SIGKILLed at its first progress line.
 * A third start on the killed directory restores again and is stopped cleanly; the test
 * then opens that RocksDB itself and compares every key of both stores with the reference:
 * the same keys, the same counts.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "db_int.h"
#include "rt_state.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORDS 120000
#define KEYS 120000
#define PARTITIONS 4
#define STORES 2
#define VALUE_SIZE 64
#define WAIT_MS 60000
#define KILL_ATTEMPTS 4

/* The fill writes the changelogs in small batches, so that fetches can be kept small. */
static const char *const fill_props[] = {"processing.guarantee=at_least_once",
                                         "commit.interval.ms=1000", "producer.batch.size=2048",
                                         NULL};
/* The restore to kill reads them a few kilobytes per fetch, and RocksDB flushes its small
 * memtables to tables several times before the kill: the restart finds flushed prefixes. */
static const char *const slow_props[] = {"processing.guarantee=at_least_once",
                                         "consumer.max.partition.fetch.bytes=2048",
                                         "consumer.fetch.max.bytes=8192",
                                         "consumer.message.max.bytes=8192",
                                         "statestore.write.buffer.bytes=524288",
                                         "log.level=info",
                                         NULL};
static const char *const plain_props[] = {"processing.guarantee=at_least_once", NULL};

TestSuite(integration_state_restore_crash, .fini = rt_state_fini, .timeout = 300);

static char *fmt(const char *f, const char *a) {
    char *s = NULL;
    if (asprintf(&s, f, a) < 0)
        abort();
    return s;
}

/* Waits until log holds needle (or, when given, other), or pid ended; returns whether it
 * holds needle. */
static bool wait_line(const char *log, const char *needle, const char *other, pid_t pid,
                      int timeout_ms) {
    int64_t deadline = rt_now_ms() + timeout_ms;
    while (!rt_file_contains(log, needle) && !(other && rt_file_contains(log, other)) &&
           !rt_child_ended(pid) && rt_now_ms() < deadline)
        rt_sleep_ms(20);
    return rt_file_contains(log, needle);
}

typedef struct cmp_s {
    size_t keys, equal, wrong, unexpected, malformed;
    char example[256];
} cmp_t;

/* Compares one store's column family with the reference, key by key. */
static void compare_store(rill__db_t *db, const char *store, const rt_counts_t *ref, cmp_t *c) {
    char err[512];
    rill__cf_t *cf = rill__db_cf(db, store, err, sizeof(err));
    cr_assert_not_null(cf, "column family %s: %s", store, err);
    rill__iter_t *it = rill__db_iter(db, cf, NULL, 0, NULL, 0);
    for (; rill__iter_valid(it); rill__iter_next(it)) {
        size_t klen, vlen;
        const unsigned char *k = rill__iter_key(it, &klen), *v = rill__iter_value(it, &vlen);
        if (klen == RILL_KEY_PREFIX_LEN && k[4] == RILL_KEY_META)
            continue; /* the partition's changelog offset */
        char key[64];
        if (klen <= RILL_KEY_PREFIX_LEN || klen - RILL_KEY_PREFIX_LEN >= sizeof(key) ||
            k[4] != RILL_KEY_DATA || vlen != VALUE_SIZE) {
            c->malformed++;
            continue;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(klen - RILL_KEY_PREFIX_LEN),
                 (const char *)k + RILL_KEY_PREFIX_LEN);
        const rt_count_t *want = rt_counts_get(ref, key);
        int64_t n = (int64_t)rill__be64_get(v);
        c->keys++;
        if (!want)
            c->unexpected++;
        else if (want->value == n)
            c->equal++;
        else if (c->wrong++ == 0)
            snprintf(c->example, sizeof(c->example), "%s: %s holds %" PRId64 ", reference %" PRId64,
                     store, key, n, want->value);
    }
    cr_assert_eq(rill__iter_error(it, err, sizeof(err)), 0, "%s: %s", store, err);
    rill__iter_destroy(it);
}

/* Opens the app's RocksDB in dir and compares both stores with the reference. */
static void check_db(const char *dir, const char *app_id, const rt_counts_t *ref) {
    char *path = NULL, err[512];
    cr_assert(asprintf(&path, "%s/%s", dir, app_id) > 0);
    rill__db_t *db = rill__db_open(path, NULL, err, sizeof(err));
    cr_assert_not_null(db, "opening %s: %s", path, err);
    for (int s = 0; s < STORES; s++) {
        cmp_t c = {0};
        compare_store(db, s ? "counts-2" : "counts", ref, &c);
        cr_log_info("store %d: %zu keys, %zu equal, %zu wrong, %zu unexpected, %zu malformed; "
                    "reference %zu keys %s",
                    s + 1, c.keys, c.equal, c.wrong, c.unexpected, c.malformed, ref->cnt,
                    c.example);
        cr_expect_eq(c.equal, ref->cnt,
                     "store %d: %zu of %zu keys restored with their count "
                     "(%zu wrong, %zu unexpected, %zu malformed) %s",
                     s + 1, c.equal, ref->cnt, c.wrong, c.unexpected, c.malformed, c.example);
        cr_expect_eq(c.keys, ref->cnt, "store %d holds %zu keys, the reference %zu", s + 1, c.keys,
                     ref->cnt);
    }
    rill__db_close(db);
    free(path);
}

/* Runs the app until it has opened its stores (and processed nothing new), then stops it. */
static void start_and_stop(rt_count_app_t *app, const char *log, const char *what) {
    pid_t pid = rt_count_spawn(app, log);
    int64_t lag = rt_wait_group_caught_up(app->bootstrap, app->app_id, app->input, WAIT_MS, pid);
    bool ready = wait_line(log, "running: ", NULL, pid, WAIT_MS);
    rt_kill(pid, SIGTERM);
    int code = rt_wait(pid, 30000);
    if (lag || !ready || code)
        rt_log_tail(log, 20);
    cr_assert(lag == 0 && ready && code == 0, "%s: lag %" PRId64 ", running %d, exit %d (log %s)",
              what, lag, ready, code, log);
}

Test(integration_state_restore_crash, a_kill_during_restore_restores_correctly_next_time) {
    const char *bootstrap = rt_bootstrap();
    char *app_id = rt_unique_name("restore-crash");
    char *input = fmt("%s.in", app_id), *output = fmt("%s.out", app_id);
    char *logs[3];
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "run%d.log", i);
        char *n = fmt("%s.", app_id), *full = NULL;
        cr_assert(asprintf(&full, "%s%s", n, name) > 0);
        logs[i] = rt_tmp_path(full);
        free(n);
        free(full);
    }
    rt_create_topic(bootstrap, input, PARTITIONS);
    rt_create_topic(bootstrap, output, PARTITIONS);
    rt_keygen_t gen = {.seed = 0x5eed0012, .keys = KEYS};
    rt_records_t delivered = {0};
    rt_produce_opts_t po = {.delivered = &delivered};
    char errstr[512];
    if (rt_produce_strings(bootstrap, input, RECORDS, rt_gen_keys, &gen, &po, errstr,
                           sizeof(errstr)))
        cr_assert_fail("producing the input: %s", errstr);
    rt_counts_t ref = {0};
    rt_counts_add_records(&ref, &delivered);
    rt_records_free(&delivered);

    char *filled = rt_state_dir_new("restore-crash-fill");
    rt_count_app_t app = {.bootstrap = bootstrap,
                          .input = input,
                          .output = output,
                          .app_id = app_id,
                          .state_dir = filled,
                          .stores = STORES,
                          .value_size = VALUE_SIZE,
                          .props = fill_props};
    start_and_stop(&app, logs[0], "fill");

    /* An empty state directory: everything is restored; killed at the first progress line.
     * A restore that ends before its first progress line (a quiet machine restores this
     * input in about a second) is started again on a fresh directory, a bounded number of
     * times; the kill must land in one of them. */
    char *dir = NULL;
    bool midway = false, done_before = true;
    for (int attempt = 1; attempt <= KILL_ATTEMPTS && !(midway && !done_before); attempt++) {
        if (dir) {
            rt_state_dir_remove(dir);
            free(dir);
        }
        dir = rt_state_dir_new("restore-crash");
        app.state_dir = dir;
        app.props = slow_props;
        unlink(logs[1]); /* the log is appended to: each attempt reads only its own lines */
        pid_t pid = rt_count_spawn(&app, logs[1]);
        midway = wait_line(logs[1], "records so far", "running: ", pid, WAIT_MS);
        done_before = rt_file_contains(logs[1], "running: ");
        rt_kill(pid, SIGKILL);
        int code = rt_wait(pid, 30000);
        cr_log_info("attempt %d: killed during the restore: progress line %d, already running "
                    "%d, exit %d",
                    attempt, midway, done_before, code);
    }
    cr_assert(midway && !done_before,
              "the kill did not land during the restore in %d attempts (log %s)", KILL_ATTEMPTS,
              logs[1]);

    app.props = plain_props;
    start_and_stop(&app, logs[2], "restart");
    rt_restore_sum_t sum;
    rt_restore_summary(logs[2], 0, &sum);
    cr_log_info("restart: %d store(s) from the stored offset, %d with no local state, %d up to "
                "date, %" PRId64 " records replayed [%s]",
                sum.stored, sum.scratch, sum.up_to_date, sum.records, sum.text);
    cr_expect(sum.stored > 0,
              "no store resumed from an offset that survived the kill: the "
              "restart restored everything from the start [%s]",
              sum.text);
    check_db(dir, app_id, &ref);

    rt_counts_free(&ref);
    rt_state_dir_remove(dir);
    rt_state_dir_remove(filled);
    free(dir);
    free(filled);
    for (int i = 0; i < 3; i++)
        free(logs[i]);
    free(input);
    free(output);
    free(app_id);
}
