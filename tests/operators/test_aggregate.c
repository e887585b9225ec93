/*
 * test_aggregate.c — component tests of aggregations over a grouped stream without windows
 * (operators/aggregate.c, operators/table.c) in an app on the embedded broker: count, reduce
 * and aggregate by key forward every update, each the reference computed here from the same
 * input; the result's timestamp is the largest the key has seen; records without a key or
 * value go to the dead-letter topic; and the counts survive a restart of the app on the same
 * broker and state directory, continuing where they were.
 *
 * The mock cluster's first group join takes about 3 s, so each test takes about 4-8 s.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#define NKEYS 7
#define NREC 300
#define BASE 1700000000000LL

/* ---------------------------------------------------------------------------------------- */
/* Input and reference                                                                      */

typedef struct in_rec_s {
    char key[8];
    int64_t ts;
    int64_t v;
} in_rec_t;

static in_rec_t input[NREC];
static uint64_t rng = 7;

static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

/* NREC records over NKEYS keys, timestamps out of order (within 2 s), values 1..NREC. */
static void make_input(void) {
    for (int i = 0; i < NREC; i++) {
        snprintf(input[i].key, sizeof(input[i].key), "k%u", rnd() % NKEYS);
        input[i].ts = BASE + i * 10 + rnd() % 2000;
        input[i].v = i + 1;
    }
}

/* The reference of key after the first n records, in production order (one partition per
 * key, so the order in which its task sees them): count, sum, the values joined by ',', and
 * the largest timestamp. */
typedef struct agg_ref_s {
    int64_t count, sum, ts;
    char list[4096];
} agg_ref_t;

static void reference(const char *key, int n, agg_ref_t *ref) {
    memset(ref, 0, sizeof(*ref));
    for (int i = 0; i < n; i++) {
        if (strcmp(input[i].key, key))
            continue;
        ref->count++;
        ref->sum += input[i].v;
        if (input[i].ts > ref->ts)
            ref->ts = input[i].ts;
        size_t len = strlen(ref->list);
        snprintf(ref->list + len, sizeof(ref->list) - len, "%s%lld", len ? "," : "",
                 (long long)input[i].v);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The topology: in → group by key → count ("counted"), reduce by sum ("summed"), aggregate */
/* into a list of values ("listed")                                                         */

static int show_count(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char value[32];
    int64_t n;

    if (rill_int64_decode(rec->value, rec->value_len, &n))
        return 1;
    return rill_buf_append(out->value, value,
                           (size_t)snprintf(value, sizeof(value), "%lld", (long long)n));
}

static int64_t num(const void *p, size_t len) {
    char text[32];

    len = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    return atoll(text);
}

static int sum_reduce(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                      void *opaque) {
    char text[32];
    int n = snprintf(text, sizeof(text), "%lld",
                     (long long)(num(agg, agg_len) + num(rec->value, rec->value_len)));

    return rill_buf_append(out, text, (size_t)n);
}

static int list_init(rill_buf_t *out, void *opaque) {
    return 0; /* the empty list */
}

static int list_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                    void *opaque) {
    if (rill_buf_append(out, agg, agg_len) || (agg_len && rill_buf_append(out, ",", 1)))
        return 1;
    return rill_buf_append(out, rec->value, rec->value_len);
}

static rill_topology_t *aggregate_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), "g");
    rill_stream_t *counts = rill_table_to_stream(rill_grouped_count(g, "counts"), NULL);

    rill_stream_to(rill_stream_map_values(counts, NULL, show_count, NULL), NULL, "counted", NULL);
    rill_stream_to(rill_table_to_stream(rill_grouped_reduce(g, "sums", sum_reduce, NULL), NULL),
                   NULL, "summed", NULL);
    rill_stream_to(
        rill_table_to_stream(rill_grouped_aggregate(g, NULL, list_init, list_add, NULL), NULL),
        NULL, "listed", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

static void send_range(const char *bootstrap, int from, int to) {
    char errstr[512], value[24];
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));

    cr_assert_not_null(p, "%s", errstr);
    for (int i = from; i < to; i++) {
        snprintf(value, sizeof(value), "%lld", (long long)input[i].v);
        eu_send(p, "in", -1, input[i].key, value, input[i].ts);
    }
    eu_producer_done(p);
}

/* For every key: asserts the outputs of topic are exactly one per record (every update is
 * forwarded; with cached, at least one and at most one per record) and that the last is
 * want(key), with the key's largest timestamp. */
static void assert_updates_cached(const eu_recs_t *out, int n, int which, const char *topic,
                                  int cached) {
    for (int k = 0; k < NKEYS; k++) {
        char key[8], want[4096];
        agg_ref_t ref;
        const eu_rec_t *last = NULL;
        int64_t outputs = 0;
        snprintf(key, sizeof(key), "k%d", k);
        reference(key, n, &ref);
        for (size_t i = 0; i < out->cnt; i++) {
            if (strcmp(out->v[i].key, key))
                continue;
            outputs++;
            last = &out->v[i];
        }
        if (cached)
            cr_assert(ref.count ? outputs >= 1 && outputs <= ref.count : !outputs,
                      "%s: %s has %lld updates for %lld records", topic, key, (long long)outputs,
                      (long long)ref.count);
        else
            cr_assert_eq(outputs, ref.count, "%s: %s has %lld updates for %lld records", topic, key,
                         (long long)outputs, (long long)ref.count);
        if (!ref.count)
            continue;
        if (which == 0)
            snprintf(want, sizeof(want), "%lld", (long long)ref.count);
        else if (which == 1)
            snprintf(want, sizeof(want), "%lld", (long long)ref.sum);
        else
            snprintf(want, sizeof(want), "%s", ref.list);
        cr_assert_str_eq(last->value, want, "%s: last value of %s", topic, key);
        cr_assert_eq(last->timestamp, ref.ts, "%s: timestamp of %s", topic, key);
    }
}

static void assert_updates(const eu_recs_t *out, int n, int which, const char *topic) {
    assert_updates_cached(out, n, which, topic, 0);
}

static void assert_all(rill_app_t *app, int n) {
    static const char *const topics[] = {"counted", "summed", "listed"};

    for (int which = 0; which < 3; which++) {
        eu_recs_t out;
        eu_read_topic(rill_app_bootstrap_servers(app), topics[which], &out);
        assert_updates(&out, n, which, topics[which]);
        eu_recs_free(&out);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

Test(operators_aggregate, updates_match_reference_when_grouped_by_key, .timeout = 90) {
    char id[64], dlq[96], dir[64];

    make_input();
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, "statestore.cache.max.bytes", "0", NULL};
    eu_app_id(id, sizeof(id), "agg-updates");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = eu_app_new(aggregate_topology(), id, extra);
    eu_create_topic(app, "in", 3);
    send_range(rill_app_bootstrap_servers(app), 0, NREC);
    /* No key, no value: each goes to the dead-letter topic once per aggregation. */
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "in", 0, NULL, "5", BASE);
    eu_send(p, "in", 1, "k1", NULL, BASE);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NREC + 2);
    eu_stop(app);

    assert_all(app, NREC);
    eu_recs_t dead;
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    cr_assert_eq(dead.cnt, 6, "dead letters: %zu", dead.cnt);
    int keyless = 0, valueless = 0;
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        cr_assert_not_null(error);
        keyless += !strncmp(error, "null key: ", 10);
        valueless += !strncmp(error, "null value: ", 12);
    }
    cr_assert_eq(keyless, 3);
    cr_assert_eq(valueless, 3);
    eu_recs_free(&dead);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/*
 * The counts live in the store and its changelog, not in the operator: a second app with the
 * same id on the same broker and state directory continues from them (the changelog tail
 * restored, nothing counted twice), and a third with a fresh state directory restores them
 * from the changelog alone.
 */
Test(operators_aggregate, counts_continue_when_app_restarts, .timeout = 120) {
    char errstr[512], id[64], dir[64], dir2[64];

    make_input();
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 2), 0);
    eu_state_dir_make(dir, sizeof(dir));
    eu_state_dir_make(dir2, sizeof(dir2));
    eu_app_id(id, sizeof(id), "agg-restart");
    const char *extra[] = {"bootstrap.servers",          bootstrap, "state.dir", dir,
                           "statestore.cache.max.bytes", "0",       NULL};
    const char *extra2[] = {"bootstrap.servers",          bootstrap, "state.dir", dir2,
                            "statestore.cache.max.bytes", "0",       NULL};
    const int cut[] = {0, NREC / 3, 2 * NREC / 3, NREC};

    for (int run = 0; run < 3; run++) {
        rill_app_t *app = eu_app_new(aggregate_topology(), id, run == 2 ? extra2 : extra);
        send_range(bootstrap, cut[run], cut[run + 1]);
        eu_start(app);
        eu_wait_processed(app, cut[run + 1] - cut[run]);
        eu_stop(app);
        rill_app_destroy(app);
    }
    /* The broker keeps the outputs of all three runs: every update is there once, the last
     * one of each key being its count over the whole input. */
    eu_recs_t out;
    eu_read_topic(bootstrap, "counted", &out);
    assert_updates(&out, NREC, 0, "counted");
    eu_recs_free(&out);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir);
    eu_state_dir_remove(dir2);
}

Test(operators_aggregate, builder_fails_when_callbacks_missing) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);

    cr_assert_null(rill_grouped_reduce(g, "r", NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "reducer"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    cr_assert_null(rill_grouped_aggregate(g, "a", list_init, NULL, NULL));
    cr_assert_not_null(rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    cr_assert_null(rill_grouped_count(g, "bad name!"));
    cr_assert(strstr(rill_topology_error(topo), "store name"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}

/*
 * With the record cache on (statestore.cache.max.bytes > 0, the default), repeated updates of
 * a key between commits leave as one downstream record: fewer outputs than inputs, and the
 * last output of every key is still its final aggregate.
 */
Test(operators_aggregate, fewer_updates_same_finals_when_record_cache_on, .timeout = 90) {
    char id[64], dir[64];

    make_input();
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, "commit.interval.ms", "60000", NULL};
    eu_app_id(id, sizeof(id), "agg-cached");
    rill_app_t *app = eu_app_new(aggregate_topology(), id, extra);
    eu_create_topic(app, "in", 3);
    send_range(rill_app_bootstrap_servers(app), 0, NREC);
    eu_start(app);
    eu_wait_processed(app, NREC);
    eu_stop(app); /* the final commit forwards what the cache holds */

    static const char *const topics[] = {"counted", "summed", "listed"};
    for (int which = 0; which < 3; which++) {
        eu_recs_t out;
        eu_read_topic(rill_app_bootstrap_servers(app), topics[which], &out);
        assert_updates_cached(&out, NREC, which, topics[which], 1);
        cr_assert_lt(out.cnt, (size_t)NREC / 2, "%s: %zu outputs for %d records: not cached",
                     topics[which], out.cnt, NREC);
        eu_recs_free(&out);
    }
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}
