/*
 * test_time_bounds.c — record times at the edges of int64 (engine/time_int.h):
 *  - the commit metadata's stream time parses strictly (rill__meta_time: "rill.t=" then 1 to
 *    18 digits within RILL__TIME_MAX, then nothing, a NUL or " rill.end");
 *  - on the embedded broker, records with a negative timestamp or one beyond RILL__TIME_MAX
 *    go to the dead-letter topic naming it, and one at RILL__TIME_MAX is counted in its
 *    hopping windows (no overflow, no endless loop);
 *  - --drain with exit.on.end.advance.ms = INT64_MAX takes stream time to INT64_MAX:
 *    stream-time punctuators fire once there and the windows close, and the app stops;
 *  - a group whose committed metadata says rill.t=99999999999999999999999 starts with no
 *    stream time: a record at 1000 is counted, not late.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- rill__meta_time ---- */

static int64_t meta(const char *s) {
    return rill__meta_time(s, strlen(s));
}

Test(engine_time_bounds, meta_time_parses_strictly) {
    cr_expect_eq(meta("rill.t=0"), 0);
    cr_expect_eq(meta("rill.t=1700000000000"), 1700000000000LL);
    cr_expect_eq(meta("rill.t=1700000000000 rill.end"), 1700000000000LL);
    cr_expect_eq(meta("rill.t=999999999999999999"), 999999999999999999LL, "18 digits");
    cr_expect_eq(rill__meta_time("rill.t=42", 10), 42, "a NUL after the digits");
    /* not Rill's time: none, silently */
    cr_expect_eq(meta("rill.end"), -1);
    cr_expect_eq(meta(""), -1);
    cr_expect_eq(rill__meta_time(NULL, 0), -1);
    cr_expect_eq(meta("other tool's metadata"), -1);
    /* Rill's mark with a bad time: none, reported as malformed */
    cr_expect_eq(meta("rill.t=99999999999999999999999"), RILL__META_BAD, "23 digits");
    cr_expect_eq(meta("rill.t=1000000000000000000"), RILL__META_BAD, "19 digits");
    cr_expect_eq(meta("rill.t="), RILL__META_BAD);
    cr_expect_eq(meta("rill.t=-5"), RILL__META_BAD);
    cr_expect_eq(meta("rill.t=+5"), RILL__META_BAD);
    cr_expect_eq(meta("rill.t= 5"), RILL__META_BAD);
    cr_expect_eq(meta("rill.t=12x"), RILL__META_BAD);
    cr_expect_eq(meta("rill.t=12 rill.endx"), RILL__META_BAD);
    cr_expect_eq(meta("rill.t=12 "), RILL__META_BAD);
    cr_expect_eq(rill__meta_time("rill.t=12\0"
                                 "3",
                                 11),
                 RILL__META_BAD, "bytes after a NUL");
    cr_expect_eq(rill__meta_time("rill.t=1234", 9), 12, "only size bytes are read");
}

/* ---- out-of-range record timestamps ---- */

static rill_stream_t *hopping_count(rill_stream_t *s, rill_emit_t emit) {
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_HOPPING, .size_ms = 10000, .advance_ms = 2000, .grace_ms = 0};
    rill_table_t *t = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, NULL), &spec), "counts", emit);
    return rill_table_to_stream(t, NULL);
}

static size_t count_key(const eu_recs_t *recs, const char *key) {
    size_t n = 0;
    for (size_t i = 0; i < recs->cnt; i++)
        n += recs->v[i].key && !strncmp(recs->v[i].key, key, strlen(key));
    return n;
}

Test(engine_time_bounds, out_of_range_timestamps_are_dead_lettered, .timeout = 90) {
    char id[64], dir[] = "/tmp/rill-tbounds-XXXXXX", dlq[96];
    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "tbounds");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    rill_stream_to(hopping_count(s, RILL_EMIT_ON_UPDATE), "sink", "out", NULL);
    const char *extra[] = {"state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 1);
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "in", 0, "neg", "x", -5);
    eu_send(p, "in", 0, "a", "x", 1000);
    eu_send(p, "in", 0, "huge", "x", INT64_MAX - 1);
    eu_send(p, "in", 0, "past", "x", (int64_t)RILL__TIME_MAX + 1);
    eu_send(p, "in", 0, "edge", "x", RILL__TIME_MAX);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, 5);
    int64_t dead = eu_wait_metric(app, "rill_dlq_records_total", 3);
    eu_stop(app);

    eu_recs_t out, dl;
    eu_read_topic(rill_app_bootstrap_servers(app), "out", &out);
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dl);
    cr_expect_eq(count_key(&out, "a"), 1, "a at 1000: its one window [0,10000)");
    cr_expect_eq(count_key(&out, "edge"), 5, "at RILL__TIME_MAX: its five hopping windows");
    cr_expect_eq(dead, 3, "dead letters: %" PRId64, dead);
    cr_expect_eq(dl.cnt, 3, "%zu dead letters", dl.cnt);
    for (size_t i = 0; i < dl.cnt; i++) {
        const char *why = eu_rec_header(&dl.v[i], "rill.error");
        cr_expect(why && strstr(why, "out of range"), "%s dead-lettered for \"%s\"", dl.v[i].key,
                  why ? why : "(none)");
        cr_expect(strcmp(dl.v[i].key, "a") && strcmp(dl.v[i].key, "edge"), "%s dead-lettered",
                  dl.v[i].key);
    }
    eu_recs_free(&out);
    eu_recs_free(&dl);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---- stream time at INT64_MAX ---- */

static int64_t punct_last; /* atomic */
static int punct_at_max;   /* atomic */

static void on_stream_time(rill_ctx_t *ctx, int64_t ts, void *arg) {
    __atomic_store_n(&punct_last, ts, __ATOMIC_RELAXED);
    if (ts == INT64_MAX)
        __atomic_fetch_add(&punct_at_max, 1, __ATOMIC_RELAXED);
}

static int punct_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    return rill_ctx_schedule(ctx, 1000, RILL_PUNCTUATE_STREAM_TIME, on_stream_time, NULL) ? -1 : 0;
}

static int punct_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return 0;
}

static const rill_processor_def_t punct_def = {.init = punct_init, .process = punct_process};

Test(engine_time_bounds, drain_to_int64_max_punctuates_once_and_stops, .timeout = 90) {
    char id[64], dir[] = "/tmp/rill-tbounds-XXXXXX", errstr[512];
    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "tmax");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    rill_stream_to(hopping_count(s, RILL_EMIT_FINAL), "sink", "out", NULL);
    rill_stream_to(rill_stream_process(s, "punct", &punct_def, NULL), "psink", "pout", NULL);
    const char *extra[] = {
        "state.dir",           dir, "exit.on.end", "true", "exit.on.end.advance.ms",
        "9223372036854775807", NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 1);
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "in", 0, "a", "x", 1000);
    eu_send(p, "in", 0, "b", "x", RILL__TIME_MAX - 1);
    eu_producer_done(p);
    eu_start(app);
    int fired = 0;
    cr_assert_eq(eu_wait_bounded(app, 60000, errstr, sizeof(errstr), &fired), RILL_OK, "%s",
                 errstr);
    cr_assert(!fired, "the app did not stop by itself within 60 s");
    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "out", &out);
    cr_expect_eq(count_key(&out, "a"), 1, "a's one window, final");
    cr_expect_eq(count_key(&out, "b"), 5, "b's five windows, final");
    cr_expect_eq(__atomic_load_n(&punct_at_max, __ATOMIC_RELAXED), 1,
                 "punctuations at INT64_MAX: %d (last at %" PRId64 ")", punct_at_max, punct_last);
    eu_recs_free(&out);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---- a malformed committed stream time ---- */

/* Commits offset 0 of in[0] for group with metadata, as another tool could have. */
static void commit_metadata(const char *bootstrap, const char *group, const char *metadata) {
    rd_kafka_t *rk = eu_consumer_new(bootstrap, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, "in", 0);
    tp->offset = 0;
    tp->metadata = strdup(metadata);
    tp->metadata_size = strlen(metadata);
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, l, 0);
    cr_assert_eq(err, 0, "commit: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

Test(engine_time_bounds, malformed_committed_time_is_no_time, .timeout = 90) {
    char id[64], dir[] = "/tmp/rill-tbounds-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "tmeta");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    rill_stream_to(hopping_count(s, RILL_EMIT_ON_UPDATE), "sink", "out", NULL);
    const char *extra[] = {"state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 1);
    commit_metadata(rill_app_bootstrap_servers(app), id, "rill.t=99999999999999999999999");
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "in", 0, "a", "x", 1000);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, 1);
    eu_stop(app);
    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "out", &out);
    cr_expect_eq(count_key(&out, "a"), 1, "the record at 1000 was not counted (late?)");
    cr_expect_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    eu_recs_free(&out);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}
