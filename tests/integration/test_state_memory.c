/*
 * test_state_memory.c — the memory of many stores stays within a stated budget on a real
 * Kafka: rill_count_app with 4 key-value stores over a 32-partition input (128 store
 * instances in one process, one RocksDB column family per store) processes 2M records of 1M
 * distinct keys, every stored value 100 bytes, while VmRSS and VmHWM of the process are
 * sampled from /proc every 200 ms.
 *
 * The budget of the stores (docs/DESIGN.md, "Bounded resources"; "bounded memtables per column
 * family and one shared block cache keep the memory of the whole process within a stated budget")
 * is 256 MB: RocksDB's configured bound: block cache 64 MB + 4 stores × 2 write buffers × 16 MB =
 * 192 MB headroom: the stores' write caches (statestore.cache.max.bytes, 10 MB) and RocksDB's
 *             memory outside the bound (table readers, compaction, allocator)      =  64 MB
 * The rest of the process is the baseline, measured: the same app with 0 stores over the
 * same input (Rill, librdkafka's clients and their queues). The test asserts that the peak
 * RSS with 4 stores stays under the measured baseline plus the budget, and reports by how
 * much the stores raised the peak above the baseline.
 *
 * The changelog topics are created (and their leaders awaited) before each run, so that the
 * measurement does not depend on the start-up race test_state_open.c checks.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define MB (1024LL * 1024LL)
#define RECORDS 2000000
#define KEYS 1000000
#define PARTITIONS 32
#define STORES 4
#define VALUE_SIZE 100
#define BLOCK_CACHE (64 * MB)
#define WRITE_BUFFER (16 * MB)
#define WRITE_BUFFERS 2
#define WRITE_CACHES (10 * MB) /* statestore.cache.max.bytes, Rill's default, one thread */
#define HEADROOM (64 * MB)
#define BUDGET (256 * MB)
#define ROCKSDB_BOUND (BLOCK_CACHE + STORES * WRITE_BUFFERS * WRITE_BUFFER)
#define SAMPLE_MS 200
#define RUN_TIMEOUT_MS 120000
#define STOP_WAIT_MS 60000

_Static_assert(ROCKSDB_BOUND + HEADROOM == BUDGET, "the budget adds up");

TestSuite(integration_state_memory, .fini = rt_state_fini, .timeout = 300);

/* The same for both runs (with 0 stores the statestore settings have nothing to act on). */
static const char *const props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=1000",
    "statestore.block.cache.bytes=67108864",  /* BLOCK_CACHE */
    "statestore.write.buffer.bytes=16777216", /* WRITE_BUFFER */
    "statestore.max.write.buffers=2",         /* WRITE_BUFFERS */
    "statestore.cache.max.bytes=10485760",    /* WRITE_CACHES */
    /* The consumer's pre-fetch is bounded per partition (16 MiB by default, 512 MiB over 32
     * partitions), and how full it runs depends on how fast the app drains it: the slower
     * run with stores would hold more of it than the baseline, and the difference would be
     * charged to the stores. A small bound keeps that part equal (at most 32 MiB) in both. */
    "queued.max.messages.kbytes=1024",
    NULL,
};

typedef struct mem_run_s {
    int64_t peak_bytes; /* max of sampled VmRSS and the last VmHWM */
    int64_t hwm_bytes, peak_rss_bytes;
    size_t samples;
    double seconds;
    int64_t lag;
    int exit_code;
} mem_run_t;

static char *fmt(const char *f, const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, f, a, b) < 0)
        abort();
    return s;
}

/* Creates the changelog topics of the app's stores before it starts, and waits for their
 * leaders (see the top of the file). */
static void create_changelogs(const char *bootstrap, const char *app_id, int stores) {
    for (int i = 0; i < stores; i++) {
        char topic[300];
        if (i == 0)
            snprintf(topic, sizeof(topic), "%s-counts-changelog", app_id);
        else
            snprintf(topic, sizeof(topic), "%s-counts-%d-changelog", app_id, i + 1);
        rt_create_topic(bootstrap, topic, PARTITIONS);
    }
}

/* Runs the app with stores stores over the whole input until its group has committed it,
 * sampling its memory. */
static void run_measured(const char *bootstrap, const char *input, const char *name, int stores,
                         mem_run_t *out) {
    char *app_id = rt_unique_name(name);
    char *output = fmt("%s%s", app_id, ".out"), *log_name = fmt("%s%s", app_id, ".log");
    char *log = rt_tmp_path(log_name);
    char *dir = rt_state_dir_new(name);
    rt_create_topic(bootstrap, output, PARTITIONS);
    create_changelogs(bootstrap, app_id, stores);
    rt_count_app_t app = {.bootstrap = bootstrap,
                          .input = input,
                          .output = output,
                          .app_id = app_id,
                          .state_dir = dir,
                          .stores = stores,
                          .value_size = VALUE_SIZE,
                          .props = props};
    int64_t t0 = rt_now_ms();
    pid_t pid = rt_count_spawn(&app, log);
    rt_mem_sampler_t s;
    rt_mem_sampler_start(&s, pid, SAMPLE_MS);
    out->lag = rt_wait_group_caught_up(bootstrap, app_id, input, RUN_TIMEOUT_MS, pid);
    out->seconds = (double)(rt_now_ms() - t0) / 1000.0;
    rt_mem_sampler_stop(&s);
    rt_kill(pid, SIGTERM);
    out->exit_code = rt_wait(pid, STOP_WAIT_MS);
    out->hwm_bytes = s.hwm_kb * 1024;
    out->peak_rss_bytes = s.peak_rss_kb * 1024;
    out->peak_bytes = out->hwm_bytes > out->peak_rss_bytes ? out->hwm_bytes : out->peak_rss_bytes;
    out->samples = s.samples;
    cr_log_info("%s (%d store(s)): %.1f s, lag %" PRId64 ", exit %d; %zu samples: peak VmRSS "
                "%.1f MB, VmHWM %.1f MB, last VmRSS %.1f MB",
                app_id, stores, out->seconds, out->lag, out->exit_code, s.samples,
                (double)out->peak_rss_bytes / MB, (double)out->hwm_bytes / MB,
                (double)s.last_rss_kb / 1024.0);
    if (out->lag || out->exit_code)
        rt_log_tail(log, 30);
    rt_state_dir_remove(dir);
    free(dir);
    free(log);
    free(log_name);
    free(output);
    free(app_id);
}

Test(integration_state_memory, peak_rss_within_budget_when_32_partitions_have_4_stores) {
    const char *bootstrap = rt_bootstrap();
    char *name = rt_unique_name("state-mem");
    char *input = fmt("%s%s", name, ".in");
    rt_create_topic(bootstrap, input, PARTITIONS);
    rt_keygen_t gen = {.seed = 0x5eed0004, .keys = KEYS};
    char errstr[512];
    int64_t t0 = rt_now_ms();
    if (rt_produce_strings(bootstrap, input, RECORDS, rt_gen_keys, &gen, NULL, errstr,
                           sizeof(errstr)))
        cr_assert_fail("producing the input: %s", errstr);
    cr_log_info("%s: %d records of %d keys in %d partitions produced in %.1f s", input, RECORDS,
                KEYS, PARTITIONS, (double)(rt_now_ms() - t0) / 1000.0);

    mem_run_t base, full;
    run_measured(bootstrap, input, "state-mem-base", 0, &base);
    run_measured(bootstrap, input, "state-mem-4", STORES, &full);

    int64_t limit = base.peak_bytes + BUDGET;
    cr_log_info("stores' budget %lld MB = RocksDB %lld MB (block cache %lld MB + %d stores x %d x "
                "%lld MB write buffers) + headroom %lld MB; measured baseline (0 stores) %.1f MB; "
                "limit %.1f MB; peak with %d stores x %d partitions %.1f MB, %.1f MB above the "
                "baseline",
                BUDGET / MB, ROCKSDB_BOUND / MB, BLOCK_CACHE / MB, STORES, WRITE_BUFFERS,
                WRITE_BUFFER / MB, HEADROOM / MB, (double)base.peak_bytes / MB, (double)limit / MB,
                STORES, PARTITIONS, (double)full.peak_bytes / MB,
                (double)(full.peak_bytes - base.peak_bytes) / MB);
    cr_expect(base.lag == 0 && full.lag == 0,
              "a run did not process the whole input (lag %" PRId64 " with 0 stores, %" PRId64
              " with %d)",
              base.lag, full.lag, STORES);
    cr_expect(base.exit_code == 0 && full.exit_code == 0, "exit codes %d and %d after SIGTERM",
              base.exit_code, full.exit_code);
    cr_expect(base.samples > 0 && full.samples > 0, "no memory samples");
    cr_expect(full.peak_bytes < limit,
              "peak RSS with %d stores x %d partitions, %.1f MB, "
              "exceeds the measured baseline %.1f MB + the stores' budget %lld MB: the stores "
              "added %.1f MB, RocksDB's configured bound is %lld MB",
              STORES, PARTITIONS, (double)full.peak_bytes / MB, (double)base.peak_bytes / MB,
              BUDGET / MB, (double)(full.peak_bytes - base.peak_bytes) / MB, ROCKSDB_BOUND / MB);
    free(input);
    free(name);
}
