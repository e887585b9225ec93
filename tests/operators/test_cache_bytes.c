/*
 * test_cache_bytes.c — component test of what statestore.cache.max.bytes bounds: the stores'
 * write caches and the aggregations' record caches together (engine/stores.c
 * rill__task_cache_bytes, engine/stream_thread.c caches_full), shown by the gauge
 * rill_statestore_cache_bytes, in apps on the embedded broker.
 *
 * DESIGN
 * A count over NKEY distinct keys, with no periodic commit in the test's time
 * (commit.interval.ms 10 min): everything it did is still in the caches when the test reads
 * the gauge. Under lineage.enable the record cache also keeps each key's trace, which the
 * store does not hold, so the gauge must be larger by at least a trace's compact copy per key
 * (16-byte trace id, flags 1, the chain's length 2 and text "in/0@<offset>", a second trace's
 * length 2), less the alignment padding it may fill. A bound between the two runs' sizes must then
 * make the lineage run commit early and leave the other alone: without the record caches in the
 * count, neither would.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#define NKEY 2000
#define BASE 1700000000000LL
#define TRACE_MIN (16 + 1 + 2 + 6 + 2) /* "in/0@0" is the shortest chain */
/* The cache's arena aligns each key's index node to 8 bytes: a trace may fill up to 7 bytes
 * that were padding without it (cache.c, arena_alloc_at). */
#define ALIGN_PAD 7

typedef struct run_s {
    int64_t bytes;   /* the gauge once the input is processed */
    int64_t commits; /* commits before the app is stopped */
} run_t;

static rill_topology_t *count_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    rill_stream_to(rill_table_to_stream(rill_grouped_count(g, "counts"), NULL), NULL, "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* The gauge once it holds still (it is set by the stream thread's loop after the records
 * it processed): three equal reads 50 ms apart, within 5 s. */
static int64_t settled_gauge(rill_app_t *app) {
    int64_t last = -1;
    for (int i = 0, same = 0; i < 100 && same < 3; i++) {
        int64_t v = rill_app_metric(app, "rill_statestore_cache_bytes");
        same = v > 0 && v == last ? same + 1 : 0;
        last = v;
        eu_sleep_ms(50);
    }
    return last;
}

static run_t run(bool lineage, int64_t max_bytes) {
    char id[64], dir[64], max[32];
    snprintf(max, sizeof(max), "%lld", (long long)max_bytes);
    eu_state_dir_make(dir, sizeof(dir));
    eu_app_id(id, sizeof(id), lineage ? "cache-traced" : "cache-plain");
    const char *extra[] = {"state.dir",
                           dir,
                           "statestore.cache.max.bytes",
                           max,
                           "commit.interval.ms",
                           "600000",
                           "lineage.enable",
                           lineage ? "true" : "false",
                           NULL};
    rill_app_t *app = eu_app_new(count_topology(), id, extra);
    eu_create_topic(app, "in", 1);
    eu_create_topic(app, "out", 1);
    rill_producer_t *p = eu_producer(app);
    char key[16];
    for (int i = 0; i < NKEY; i++) {
        snprintf(key, sizeof(key), "key-%05d", i);
        eu_send(p, "in", 0, key, "1", BASE + i);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NKEY);
    run_t r = {.bytes = settled_gauge(app), .commits = rill_app_metric(app, "rill_commits_total")};
    eu_stop(app);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
    return r;
}

Test(operators_cache_bytes, record_caches_count_against_the_cache_bound, .timeout = 240) {
    const int64_t roomy = 64LL << 20;
    run_t plain = run(false, roomy), traced = run(true, roomy);
    cr_assert_gt(plain.bytes, (int64_t)NKEY * 9, "the caches hold every key: %lld bytes",
                 (long long)plain.bytes);
    cr_assert_geq(traced.bytes - plain.bytes, (int64_t)NKEY * (TRACE_MIN - ALIGN_PAD),
                  "the record cache's traces are counted: %lld bytes with lineage, %lld without",
                  (long long)traced.bytes, (long long)plain.bytes);
    cr_assert_eq(plain.commits, 0, "no commit in the test's time (%lld)", (long long)plain.commits);
    cr_assert_eq(traced.commits, 0, "no commit in the test's time (%lld)",
                 (long long)traced.commits);

    /* A bound between the two: only the run whose record cache holds traces passes it. */
    int64_t bound = plain.bytes + (traced.bytes - plain.bytes) / 2;
    run_t tight_plain = run(false, bound), tight_traced = run(true, bound);
    cr_assert_eq(tight_plain.commits, 0, "below the bound %lld: %lld bytes, %lld commits",
                 (long long)bound, (long long)tight_plain.bytes, (long long)tight_plain.commits);
    cr_assert_geq(tight_traced.commits, 1, "past the bound %lld: it should have committed early",
                  (long long)bound);
    cr_assert_leq(tight_traced.bytes, bound, "after its early commits the caches hold %lld",
                  (long long)tight_traced.bytes);
}
