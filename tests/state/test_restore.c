/*
 * test_restore.c — a store restored from a changelog written by hand, on the embedded
 * broker: the restored content is the last value per key (tombstones delete), the app goes
 * on counting from it, and the restore is counted in the metrics; a store whose offset the
 * changelog does not reach (the topic made again) is rebuilt, not taken as up to date.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill_kv_t *kv = rill_ctx_kv(ctx, "counts");
    const void *old;
    size_t old_len;
    int64_t n = 0;
    int rc = rill_kv_get(kv, rec->key, rec->key_len, &old, &old_len);
    if (rc < 0 || (rc == 1 && rill_int64_decode(old, old_len, &n)))
        return -1;
    unsigned char be[8];
    rill_int64_encode(++n, be);
    if (rill_kv_put(kv, rec->key, rec->key_len, be, sizeof(be)))
        return -1;
    char text[32];
    rill_record_t out = *rec;
    out.value = text;
    out.value_len = (size_t)snprintf(text, sizeof(text), "%lld", (long long)n);
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static const rill_processor_def_t count_def = {.process = count_process};

static rill_topology_t *count_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", "in", NULL);
    s = rill_stream_process(s, "count", &count_def, NULL);
    cr_assert_eq(rill_stream_use_kv_store(s, "counts"), RILL_OK);
    rill_stream_to(s, "sink", "out", NULL);
    return topo;
}

/* Writes one changelog record: the changelog key is the store's key layout without the
 * partition (tag byte 0 for data, then the key), the value an int64 count or a tombstone. */
static void log_count(rill_producer_t *p, const char *topic, int32_t partition, const char *key,
                      int64_t count) {
    char k[64];
    k[0] = 0;
    memcpy(k + 1, key, strlen(key));
    unsigned char v[8];
    rill_int64_encode(count, v);
    cr_assert_eq(rill_producer_send(p, topic, partition, k, strlen(key) + 1, count < 0 ? NULL : v,
                                    count < 0 ? 0 : 8, 0),
                 RILL_OK);
}

Test(state_restore, counts_continue_from_changelog_when_written_by_hand, .timeout = 90) {
    char errstr[512], id[64], dir[] = "/tmp/rill-restore-XXXXXX", changelog[128];
    cr_assert_not_null(mkdtemp(dir));
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    eu_app_id(id, sizeof(id), "restore-hand");
    snprintf(changelog, sizeof(changelog), "%s-counts-changelog", id);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 2), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "out", 2), 0);
    cr_assert_eq(rill_broker_create_topic(broker, changelog, 2), 0);

    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    log_count(p, changelog, 0, "k0", 10);
    log_count(p, changelog, 0, "k0", 41); /* the last value wins */
    log_count(p, changelog, 0, "gone", 5);
    log_count(p, changelog, 0, "gone", -1); /* a tombstone deletes */
    log_count(p, changelog, 1, "k1", 7);
    cr_assert_eq(rill_producer_send(p, "in", 0, "k0", 2, "x", 1, 0), RILL_OK);
    cr_assert_eq(rill_producer_send(p, "in", 0, "gone", 4, "x", 1, 0), RILL_OK);
    cr_assert_eq(rill_producer_send(p, "in", 1, "k1", 2, "x", 1, 0), RILL_OK);
    cr_assert_eq(rill_producer_flush(p, 10000, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    rill_producer_destroy(p);

    const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(count_topology(), id, extra);
    eu_start(app);
    eu_wait_processed(app, 3);
    cr_assert_eq(rill_app_metric(app, "rill_restored_records_total"), 5);
    eu_stop(app);

    eu_recs_t out;
    eu_read_topic(bootstrap, "out", &out);
    eu_strs_t got = {0}, want = {0};
    eu_recs_kv(&out, &got);
    eu_strs_add(&want, "k0=42");
    eu_strs_add(&want, "gone=1");
    eu_strs_add(&want, "k1=8");
    eu_assert_same_set(&got, &want, "counts after restore");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
    rill_app_destroy(app);
    rill_broker_destroy(broker);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* One run of the counting app on a new embedded broker: the changelog's partition 0 gets
 * `logged` records of k0 (the last one counting `last`), the input one k0, and the app runs
 * until it has processed it. Returns the output's "key=count" lines. */
static void run_on_new_broker(const char *id, const char *dir, int logged, int64_t last,
                              eu_strs_t *got) {
    char errstr[512], changelog[128];
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    snprintf(changelog, sizeof(changelog), "%s-counts-changelog", id);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 1), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "out", 1), 0);
    cr_assert_eq(rill_broker_create_topic(broker, changelog, 1), 0);
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    for (int i = 0; i < logged; i++)
        log_count(p, changelog, 0, "k0", i == logged - 1 ? last : i);
    cr_assert_eq(rill_producer_send(p, "in", 0, "k0", 2, "x", 1, 0), RILL_OK);
    cr_assert_eq(rill_producer_flush(p, 10000, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    rill_producer_destroy(p);

    const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(count_topology(), id, extra);
    eu_start(app);
    eu_wait_processed(app, 1);
    eu_stop(app);
    eu_recs_t out;
    eu_read_topic(bootstrap, "out", &out);
    eu_recs_kv(&out, got);
    eu_recs_free(&out);
    rill_app_destroy(app);
    rill_broker_destroy(broker);
}

/* The state directory outlives its cluster: a store that says it reflects the changelog up
 * to an offset the changelog does not reach (the topic was deleted and created again, or the
 * app points at another cluster) must not be taken as up to date; it is discarded and rebuilt
 * from the changelog as it is. */
Test(state_restore, store_ahead_of_a_recreated_changelog_is_rebuilt, .timeout = 90) {
    char id[64], dir[] = "/tmp/rill-restore-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "restore-ahead");
    eu_strs_t got = {0}, want = {0};
    run_on_new_broker(id, dir, 20, 41, &got); /* the store: k0 = 42, at changelog offset 21 */
    eu_strs_add(&want, "k0=42");
    eu_assert_same_set(&got, &want, "first cluster");
    eu_strs_free(&got);
    eu_strs_free(&want);

    run_on_new_broker(id, dir, 1, 100, &got); /* a changelog of 1 record: k0 = 100 */
    eu_strs_add(&want, "k0=101");
    eu_assert_same_set(&got, &want, "second cluster, same state directory");
    eu_strs_free(&got);
    eu_strs_free(&want);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
