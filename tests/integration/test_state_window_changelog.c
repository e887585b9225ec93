/*
 * test_state_window_changelog.c — a window store's changelog on a real Kafka holds the final
 * value of every window it names and of every window still retained, and its counter is what
 * the changelog topics hold.
 *
 * A windowed count (tumbling 10 s, grace 5 s: retention 15 s, store segments of 60 s) runs
 * twice on one state directory: over a first half of the input, stopped cleanly (its commit
 * logs the windows open then), and over the second half in one commit interval, during which
 * those windows get more records and then expire with their segments. Then:
 *  - a standby-style reader rebuilds the store from the changelog alone (the last record per
 *    key, tombstones delete) and compares it with the reference counts, computed here from
 *    the input: every window it holds has its final count (none an earlier one), and every
 *    window still retained (start > the partition's last timestamp - retention) is there;
 *  - the live store, read with rill_app_window_fetch before the stop, holds exactly the
 *    reference for the retained windows;
 *  - the store is restored from the changelog into an empty state directory and read the
 *    same way: the retained windows are the reference, and any other window it returns has
 *    its final count;
 *  - rill_changelog_records_total of each store (window store and its meta store), summed
 *    over the runs, equals the records a consumer reads from that store's changelog topic.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it).
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rill.h"
#include "rt_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITIONS 2
#define KEYS 40
#define HALF 8750  /* records per run: the first ends inside window [170 s, 180 s) */
#define STEP_MS 20 /* between two records' timestamps: 175 s of event time per run */
#define WINDOW_MS 10000
#define GRACE_MS 5000
#define RETENTION_MS (WINDOW_MS + GRACE_MS)
#define NWIN (2 * HALF * STEP_MS / WINDOW_MS + 2)
#define STORE "wins"
#define WAIT_MS 60000

TestSuite(integration_state_window_changelog, .fini = rt_state_fini, .timeout = 240);

/* The reference: counts[key][window index] from the input, and each partition's last time. */
typedef struct ref_s {
    int64_t base;
    int64_t counts[KEYS][NWIN];
    int32_t partition[KEYS]; /* of each key, as read back from the input (-1: not seen) */
    int64_t last_ts[PARTITIONS];
} ref_t;

static int key_of(size_t i) {
    uint64_t s = 0x7e57c0deULL ^ (uint64_t)i * 0x9E3779B97F4A7C15ULL;
    return (int)(rt_rand_next(&s) % KEYS);
}

static int64_t ts_of(const ref_t *ref, size_t i) {
    return ref->base + (int64_t)i * STEP_MS;
}

static void produce_half(const char *bootstrap, const char *topic, ref_t *ref, size_t from) {
    char errstr[512];
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "producer: %s", errstr);
    for (size_t i = from; i < from + HALF; i++) {
        char key[16], value[24];
        int k = key_of(i);
        snprintf(key, sizeof(key), "k%02d", k);
        int vlen = snprintf(value, sizeof(value), "%zu", i);
        cr_assert_eq(
            rill_producer_send(p, topic, -1, key, strlen(key), value, (size_t)vlen, ts_of(ref, i)),
            RILL_OK);
        ref->counts[k][(ts_of(ref, i) - ref->base) / WINDOW_MS]++;
    }
    cr_assert_eq(rill_producer_flush(p, 30000, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    rill_producer_destroy(p);
}

/* Each key's partition and each partition's last timestamp, from the input read back. */
static void learn_partitions(const char *bootstrap, const char *input, ref_t *ref) {
    rt_records_t *in = rt_consume_all(bootstrap, input, "read_committed", 2 * HALF, WAIT_MS);
    cr_assert_eq(in->cnt, (size_t)2 * HALF, "read %zu input records", in->cnt);
    for (int k = 0; k < KEYS; k++)
        ref->partition[k] = -1;
    for (size_t r = 0; r < in->cnt; r++) {
        const rt_record_t *rec = &in->v[r];
        int k = atoi(rec->key + 1);
        int64_t ts = ts_of(ref, (size_t)strtoull(rec->value, NULL, 10));
        ref->partition[k] = rec->partition;
        if (ts > ref->last_ts[rec->partition])
            ref->last_ts[rec->partition] = ts;
    }
    rt_records_free(in);
    free(in);
}

static int64_t win_start(const ref_t *ref, int w) {
    return ref->base + (int64_t)w * WINDOW_MS;
}

static bool retained(const ref_t *ref, int k, int w) {
    return ref->partition[k] >= 0 &&
           win_start(ref, w) > ref->last_ts[ref->partition[k]] - RETENTION_MS;
}

static rill_app_t *app_new(const char *bootstrap, const char *app_id, const char *input,
                           const char *dir) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_bytes()};
    rill_stream_t *s = rill_stream_from(topo, "source", input, &src);
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_TUMBLING, .size_ms = WINDOW_MS, .grace_ms = GRACE_MS};
    cr_assert_not_null(
        rill_windowed_count(rill_grouped_windowed_by(rill_stream_group_by_key(s, NULL), &spec),
                            STORE, RILL_EMIT_ON_UPDATE));
    rill_conf_t *conf = rill_conf_new();
    const char *kv[][2] = {{"application.id", app_id},
                           {"bootstrap.servers", bootstrap},
                           {"state.dir", dir},
                           {"processing.guarantee", "at_least_once"},
                           {"commit.interval.ms", "600000"},
                           {"log.level", "warn"}};
    char errstr[512];
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        cr_assert_eq(rill_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)), RILL_OK);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "rill_app_new: %s", errstr);
    cr_assert_eq(rill_app_start(app, errstr, sizeof(errstr)), RILL_OK, "start: %s", errstr);
    return app;
}

static void wait_metric(rill_app_t *app, const char *name, int64_t n) {
    int64_t deadline = rt_now_ms() + WAIT_MS;
    while (rill_app_metric(app, name) < n && rt_now_ms() < deadline) {
        rt_sleep_ms(20);
    }
    cr_assert_geq(rill_app_metric(app, name), n, "%s: %" PRId64 " of %" PRId64, name,
                  rill_app_metric(app, name), n);
}

/* Stops the app and waits for its threads (their last commit). */
static void stop(rill_app_t *app) {
    char errstr[512] = "";
    rill_app_stop(app);
    cr_assert_eq(rill_app_wait(app, errstr, sizeof(errstr)), RILL_OK, "app ended with: %s", errstr);
}

/* The value of rill_changelog_records_total{store="store"} in the app's metrics text. */
static int64_t store_counter(rill_app_t *app, const char *store) {
    rill_buf_t text = {0};
    char needle[128];
    cr_assert_eq(rill_app_metrics(app, &text), RILL_OK);
    snprintf(needle, sizeof(needle), "store=\"%s\"} ", store);
    const char *line = strstr((const char *)text.data, "rill_changelog_records_total{");
    const char *at = NULL;
    for (; line && !at; line = strstr(line + 1, "rill_changelog_records_total{")) {
        const char *end = strchr(line, '\n'), *hit = strstr(line, needle);
        if (hit && (!end || hit < end))
            at = hit + strlen(needle);
    }
    cr_assert_not_null(at, "no rill_changelog_records_total for store %s", store);
    int64_t v = strtoll(at, NULL, 10);
    rill_buf_free(&text);
    return v;
}

typedef struct seen_s {
    const ref_t *ref;
    int key;
    int wrong, stale_shown;
    int64_t found[NWIN]; /* -1: not returned */
} seen_t;

static int on_row(int64_t start, int64_t ts, const void *value, size_t len, void *opaque) {
    seen_t *s = opaque;
    int64_t n = -1;
    int64_t w = (start - s->ref->base) / WINDOW_MS;
    (void)ts;
    if (rill_int64_decode(value, len, &n) || w < 0 || w >= NWIN) {
        s->wrong++;
        return 0;
    }
    s->found[w] = n;
    return 0;
}

/* Reads every key's windows from the store; counts retained windows that differ from the
 * reference and any window whose count is not its final one. */
static void check_store(rill_app_t *app, const ref_t *ref, const char *what) {
    int bad_retained = 0, not_final = 0, rows = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%02d", k);
        seen_t s = {.ref = ref, .key = k};
        for (int w = 0; w < NWIN; w++)
            s.found[w] = -1;
        rill_query_info_t info;
        rill_query_status_t qs = RILL_QUERY_UNAVAILABLE;
        /* Unavailable while the partition restores: asked again, for a bounded time. */
        for (int64_t until = rt_now_ms() + WAIT_MS;
             qs == RILL_QUERY_UNAVAILABLE && rt_now_ms() < until;) {
            qs = rill_app_window_fetch(app, STORE, key, strlen(key), ref->base,
                                       win_start(ref, NWIN), on_row, &s, &info, 10000);
            if (qs == RILL_QUERY_UNAVAILABLE)
                rt_sleep_ms(50);
        }
        cr_assert(qs == RILL_QUERY_FOUND || qs == RILL_QUERY_NOT_FOUND, "%s: fetch %s: %s", what,
                  key, info.error);
        cr_expect_eq(s.wrong, 0, "%s: %s: %d malformed rows", what, key, s.wrong);
        for (int w = 0; w < NWIN; w++) {
            rows += s.found[w] >= 0;
            if (retained(ref, k, w) && ref->counts[k][w] && s.found[w] != ref->counts[k][w])
                bad_retained++;
            if (s.found[w] >= 0 && s.found[w] != ref->counts[k][w] && not_final++ < 3)
                cr_log_info("%s: %s window %d: %" PRId64 ", the reference %" PRId64, what, key, w,
                            s.found[w], ref->counts[k][w]);
        }
    }
    cr_log_info("%s: %d windows read", what, rows);
    cr_expect_eq(bad_retained, 0, "%s: %d retained windows differ from the reference", what,
                 bad_retained);
    cr_expect_eq(not_final, 0, "%s: %d windows hold a count that is not their final one", what,
                 not_final);
}

/* One changelog record of the window store: [tag][segment 8][key length 4][key][start 8]
 * → [timestamp 8][count 8]. Returns the key index and window, or -1. */
static int parse_changelog(const ref_t *ref, const rt_record_t *rec, int *w) {
    const unsigned char *k = (const unsigned char *)rec->key;
    if (!k || rec->key_len < 1 + 8 + 4 + 8)
        return -1;
    size_t klen = (size_t)k[9] << 24 | (size_t)k[10] << 16 | (size_t)k[11] << 8 | k[12];
    if (rec->key_len != 1 + 8 + 4 + klen + 8 || klen < 2 || k[13] != 'k')
        return -1;
    int64_t start = 0;
    for (int i = 0; i < 8; i++)
        start = start << 8 | k[13 + klen + (size_t)i];
    *w = (int)((start - ref->base) / WINDOW_MS);
    return *w >= 0 && *w < NWIN ? atoi((const char *)k + 14) : -1;
}

/* The standby-style reader: the store rebuilt from the changelog alone, then compared. */
static void check_changelog(const char *bootstrap, const char *topic, const ref_t *ref) {
    static int64_t rebuilt[KEYS][NWIN];
    rt_records_t *log = rt_consume_all(bootstrap, topic, "read_committed", 1, WAIT_MS);
    int malformed = 0, not_final = 0, missing = 0, held = 0;
    for (int k = 0; k < KEYS; k++)
        for (int w = 0; w < NWIN; w++)
            rebuilt[k][w] = -1;
    for (size_t r = 0; r < log->cnt; r++) {
        int w, k = parse_changelog(ref, &log->v[r], &w);
        int64_t n = -1;
        if (k < 0 || (log->v[r].value && (log->v[r].value_len != 16 ||
                                          rill_int64_decode(log->v[r].value + 8, 8, &n)))) {
            malformed++;
            continue;
        }
        rebuilt[k][w] = log->v[r].value ? n : -1;
    }
    for (int k = 0; k < KEYS; k++) {
        for (int w = 0; w < NWIN; w++) {
            held += rebuilt[k][w] >= 0;
            not_final += rebuilt[k][w] >= 0 && rebuilt[k][w] != ref->counts[k][w];
            missing +=
                retained(ref, k, w) && ref->counts[k][w] && rebuilt[k][w] != ref->counts[k][w];
        }
    }
    cr_log_info("changelog %s: %zu records, %d windows rebuilt", topic, log->cnt, held);
    cr_expect_eq(malformed, 0, "%d changelog records are not window records", malformed);
    cr_expect_eq(not_final, 0,
                 "the changelog's last value of %d windows is not their final "
                 "count (an earlier one)",
                 not_final);
    cr_expect_eq(missing, 0, "%d retained windows are missing or differ in the changelog", missing);
    rt_records_free(log);
    free(log);
}

/* Runs the app over one half of the input; returns its per-store counters after the stop. */
static void run_half(const char *bootstrap, const char *app_id, const char *input, const char *dir,
                     const ref_t *ref, int64_t counters[2], bool check) {
    rill_app_t *app = app_new(bootstrap, app_id, input, dir);
    wait_metric(app, "rill_records_processed_total", HALF);
    if (check)
        check_store(app, ref, "live store");
    stop(app);
    counters[0] += store_counter(app, STORE);
    counters[1] += store_counter(app, STORE "-meta");
    rill_app_destroy(app);
}

Test(integration_state_window_changelog, final_values_reach_the_changelog_and_restore) {
    const char *bootstrap = rt_bootstrap();
    char *app_id = rt_unique_name("win-log"), *input = NULL, *topic[2] = {NULL, NULL};
    cr_assert(asprintf(&input, "%s.in", app_id) > 0 &&
              asprintf(&topic[0], "%s-%s-changelog", app_id, STORE) > 0 &&
              asprintf(&topic[1], "%s-%s-meta-changelog", app_id, STORE) > 0);
    static ref_t ref;
    memset(&ref, 0, sizeof(ref));
    ref.base = (rt_now_ms() / 60000 - 10) * 60000; /* a segment boundary, in the past */
    char *dir = rt_state_dir_new("winlog");
    int64_t counters[2] = {0, 0};
    rt_create_topic(bootstrap, input, PARTITIONS);

    produce_half(bootstrap, input, &ref, 0);
    run_half(bootstrap, app_id, input, dir, &ref, counters, false);
    produce_half(bootstrap, input, &ref, HALF);
    learn_partitions(bootstrap, input, &ref);
    run_half(bootstrap, app_id, input, dir, &ref, counters, true);

    check_changelog(bootstrap, topic[0], &ref);
    for (int t = 0; t < 2; t++) {
        rt_records_t *all = rt_consume_all(bootstrap, topic[t], "read_uncommitted", 1, WAIT_MS);
        cr_log_info("%s: %zu records, counter %" PRId64, topic[t], all->cnt, counters[t]);
        cr_expect_eq((int64_t)all->cnt, counters[t],
                     "%s holds %zu records, the counter says "
                     "%" PRId64,
                     topic[t], all->cnt, counters[t]);
        rt_records_free(all);
        free(all);
    }

    /* Restore into an empty state directory: everything comes from the changelogs. */
    char *fresh = rt_state_dir_new("winlog-restore");
    rill_app_t *app = app_new(bootstrap, app_id, input, fresh);
    wait_metric(app, "rill_restored_records_total", 1);
    wait_metric(app, "rill_tasks", PARTITIONS);
    check_store(app, &ref, "restored store");
    stop(app);
    rill_app_destroy(app);

    rt_state_dir_remove(fresh);
    rt_state_dir_remove(dir);
    free(fresh);
    free(dir);
    free(topic[0]);
    free(topic[1]);
    free(input);
    free(app_id);
}
