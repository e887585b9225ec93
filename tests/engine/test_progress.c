/*
 * test_progress.c — progress at the sources (engine/progress.c), on the embedded broker:
 *  - event-time alignment: a partition whose time runs far ahead of the other partition of
 *    its sub-topology is paused (rill_alignment_pauses_total) and every record is still
 *    processed; with event.time.alignment.ms=0 nothing is paused;
 *  - the partitioning check: a table topic written with partitions that murmur2 would not
 *    choose, joined with a stream Rill repartitioned, stops the app with an error naming the
 *    topic, the partition, the key and the fix; the same input read with
 *    rill_source_opts_t.repartition joins every record.
 */
#include "embedded_util.h"

#include <librdkafka/rdkafka.h>

#define BASE 1700000000000LL

static rill_topology_t *pass_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_to(rill_stream_from(topo, "in", "in", NULL), "out", "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* Partition 0: 10,000 records over 0..1,000 s; partition 1: 10,000 records from 10,000 s on
 * (both more than one fetch, so that both are read at once). */
static int64_t run_skewed(const char *tag, const char *alignment_ms) {
    char id[64], dir[64];
    eu_app_id(id, sizeof(id), tag);
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {
        "state.dir", dir, "event.time.alignment.ms", alignment_ms, "buffered.records.per.partition",
        "100",       NULL};
    rill_app_t *app = eu_app_new(pass_topology(), id, extra);
    eu_create_topic(app, "in", 2);
    eu_create_topic(app, "out", 2);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < 10000; i++) {
        eu_send(p, "in", 0, "a", "x", BASE + i * 100);
        eu_send(p, "in", 1, "b", "y", BASE + 10000000 + i * 100);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, 20000);
    eu_stop(app);
    int64_t pauses = rill_app_metric(app, "rill_alignment_pauses_total");
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
    return pauses;
}

Test(engine_progress, partition_far_ahead_paused_when_alignment_set, .timeout = 120) {
    int64_t pauses = run_skewed("align-on", "10000");
    cr_assert_gt(pauses, 0, "the partition 10,000 s ahead was never paused");
}

Test(engine_progress, nothing_paused_when_alignment_off, .timeout = 120) {
    cr_assert_eq(run_skewed("align-off", "0"), 0);
}

/* ---- the partitioning check ---- */

static int user_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    return rill_buf_append(out->key, rec->value,
                           rec->value_len); /* the order's value is its user */
}

static int join_names(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                      void *opaque) {
    (void)opaque;
    rill_buf_append(out, left->value, left->value_len);
    rill_buf_append(out, "=", 1);
    if (right)
        rill_buf_append(out, right->value, right->value_len);
    return 0;
}

static rill_topology_t *join_topology(int repartition) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *orders = rill_stream_repartition(
        rill_stream_select_key(rill_stream_from(topo, "orders", "orders", NULL), "by-user",
                               user_key, NULL),
        "orders-by-user");
    rill_source_opts_t uo = {.repartition = repartition};
    rill_table_t *users = rill_table_from(topo, "users", "users", &uo, "users-store");
    rill_stream_to(
        rill_stream_table_join(orders, users, "enrich", RILL_JOIN_LEFT, 2000, join_names, NULL),
        "out", "enriched", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* A partition of 4 that murmur2 does not choose for key. */
static int32_t wrong_partition(const char *key) {
    int32_t good = rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), 4, NULL, NULL);
    return (good + 1) % 4;
}

/* Users u0..u19 written to wrong partitions, then one order per user. Returns the app. */
static rill_app_t *join_app(const char *tag, int repartition, char *dir, size_t dir_size) {
    char id[64];
    eu_app_id(id, sizeof(id), tag);
    eu_state_dir_make(dir, dir_size);
    const char *extra[] = {"state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(join_topology(repartition), id, extra);
    eu_create_topic(app, "orders", 4);
    eu_create_topic(app, "users", 4);
    eu_create_topic(app, "enriched", 4);
    rill_producer_t *p = eu_producer(app);
    char key[16], name[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        snprintf(name, sizeof(name), "name%d", i);
        eu_send(p, "users", wrong_partition(key), key, name, BASE + i);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "o%d", i);
        snprintf(name, sizeof(name), "u%d", i);
        eu_send(p, "orders", i % 4, key, name, BASE + 5000 + i);
    }
    eu_producer_done(p);
    return app;
}

Test(engine_progress, app_stops_naming_record_when_table_not_partitioned_by_murmur2,
     .timeout = 120) {
    char dir[64], errstr[1024] = "";
    rill_app_t *app = join_app("pcheck-fail", 0, dir, sizeof(dir));
    eu_start(app);
    int fired;
    rill_err_t err = eu_wait_bounded(app, 30000, errstr, sizeof(errstr), &fired);
    cr_assert_eq(fired, 0, "the app did not stop by itself");
    cr_assert_neq(err, 0);
    cr_assert(strstr(errstr, "topic \"users\"") && strstr(errstr, "murmur2 puts in partition") &&
                  strstr(errstr, "has key \"u") && strstr(errstr, "repartition"),
              "error: %s", errstr);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(engine_progress, every_order_joined_when_table_read_with_repartition, .timeout = 120) {
    char dir[64];
    rill_app_t *app = join_app("pcheck-rep", 1, dir, sizeof(dir));
    eu_start(app);
    eu_wait_metric(app, "rill_records_produced_total", 1); /* started */
    int64_t deadline = eu_now_ms() + 30000;
    eu_recs_t out = {0};
    size_t joined = 0;
    while (eu_now_ms() < deadline) {
        eu_read_topic(rill_app_bootstrap_servers(app), "enriched", &out);
        joined = out.cnt;
        eu_recs_free(&out);
        if (joined >= 20)
            break;
        eu_sleep_ms(200);
    }
    eu_stop(app);
    eu_read_topic(rill_app_bootstrap_servers(app), "enriched", &out);
    eu_strs_t got = {0}, want = {0};
    for (size_t i = 0; i < out.cnt; i++)
        eu_strs_add(&got, "%s", out.v[i].value);
    for (int i = 0; i < 20; i++)
        eu_strs_add(&want, "u%d=name%d", i, i);
    eu_assert_same_set(&got, &want, "enriched orders");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}
