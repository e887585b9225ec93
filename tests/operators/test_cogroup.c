/*
 * test_cogroup.c — component tests of rill_grouped_cogroup() (operators/cogroup.c) in apps on
 * the embedded broker: three grouped streams (two read in place, one grouped by a new key
 * through a repartition topic) aggregated into one table, across a restart from the
 * changelog, compared with a reference model record by record; co-partitioning and builder
 * errors.
 *
 * DESIGN
 * Each aggregator appends "<its opaque>:<token>" to the aggregate and the initializer writes
 * its own opaque, so an output names which input and which record made it. The order in
 * which a task interleaves records of different inputs is not the test's to fix, but the
 * order within each input is (a key's records of one input are in one partition, in offset
 * order), so the reference is the sequence of tokens per key and input: each output of a key
 * must be the key's previous output plus the next token of exactly one of its inputs, its
 * timestamp the largest of the records aggregated so far, and in the end every token of every
 * input must have been taken. The second app starts from an empty state directory: its first
 * outputs extend aggregates it can only have restored from the changelog.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#define BASE 1700000000000LL
#define PARTS 3
#define NU 8  /* users */
#define NC 90 /* clicks */
#define NV 70 /* views */
#define NO 50 /* orders, keyed by order, grouped by user */
#define NIN 3 /* inputs */

static uint64_t rng;

static unsigned rnd_u(void) {
    return eu_rnd(&rng);
}

/* Appends " <opaque>:<value>" (the value after its ':' for orders) to the aggregate. */
static int tag_append(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                      void *opaque) {
    const char *v = rec->value, *colon = memchr(v, ':', rec->value_len);
    size_t len = rec->value_len;
    if (colon) {
        len -= (size_t)(colon + 1 - v);
        v = colon + 1;
    }
    return rill_buf_append(out, agg, agg_len) || rill_buf_append(out, " ", 1) ||
           rill_buf_append(out, opaque, strlen(opaque)) || rill_buf_append(out, ":", 1) ||
           rill_buf_append(out, v, len);
}

static int init_tag(rill_buf_t *out, void *opaque) {
    return rill_buf_append(out, opaque, strlen(opaque));
}

/* Orders "u<k>:o<n>" are grouped by the user before the colon. */
static int user_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    const char *colon = memchr(rec->value, ':', rec->value_len);
    if (!colon)
        return 1;
    return rill_buf_append(out->key, rec->value, (size_t)(colon - (const char *)rec->value));
}

static rill_topology_t *cogroup_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *gc =
        rill_stream_group_by_key(rill_stream_from(topo, "clicks", "clicks", NULL), NULL);
    rill_grouped_t *gv =
        rill_stream_group_by_key(rill_stream_from(topo, "views", "views", NULL), NULL);
    rill_grouped_t *go = rill_stream_group_by(rill_stream_from(topo, "orders", "orders", NULL),
                                              "by-user", user_of, NULL);
    rill_cogrouped_t *cg = rill_grouped_cogroup(gc, tag_append, "C");
    rill_cogrouped_add(cg, gv, tag_append, "V");
    rill_cogrouped_add(cg, go, tag_append, "O");
    rill_table_t *t = rill_cogrouped_aggregate(cg, "activity", init_tag, "I");
    rill_stream_to(rill_table_to_stream(t, NULL), NULL, "activity-out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* One input record: key, value, timestamp, and the token it appends. */
typedef struct rec_s {
    char key[16], value[32], token[32];
    int64_t ts;
} rec_t;

static rec_t in[NIN][NC];
static const int counts[NIN] = {NC, NV, NO};
static const char *const topics[NIN] = {"clicks", "views", "orders"};

static void make_input(void) {
    rng = 97;
    for (int s = 0; s < NIN; s++) {
        for (int i = 0; i < counts[s]; i++) {
            rec_t *r = &in[s][i];
            unsigned u = rnd_u(), n = rnd_u() % 1000;
            r->ts = BASE + 1000 * i + (int64_t)(rnd_u() % 3000); /* some disorder */
            if (s == 2) {
                snprintf(r->key, sizeof(r->key), "o%d", i);
                snprintf(r->value, sizeof(r->value), "u%u:o%u", u % NU, n);
                snprintf(r->token, sizeof(r->token), "O:o%u", n);
            } else {
                snprintf(r->key, sizeof(r->key), "u%u", u % NU);
                snprintf(r->value, sizeof(r->value), "%c%u", s ? 'v' : 'c', n);
                snprintf(r->token, sizeof(r->token), "%c:%s", s ? 'V' : 'C', r->value);
            }
        }
    }
}

/* The key record i of input s aggregates under (orders: the user in its value). */
static void user_key(int s, int i, char *out, size_t size) {
    const rec_t *r = &in[s][i];
    if (s == 2)
        snprintf(out, size, "%.*s", (int)strcspn(r->value, ":"), r->value);
    else
        snprintf(out, size, "%.7s", r->key);
}

/* The next record of input s for user from *pos on (counts[s] when none is left). */
static int next_of(int s, const char *user, int pos) {
    char key[16];
    for (; pos < counts[s]; pos++) {
        user_key(s, pos, key, sizeof(key));
        if (!strcmp(key, user))
            break;
    }
    return pos;
}

/* Checks every output of user (in order) against the reference; returns how many there are. */
static size_t check_user(const eu_recs_t *out, const char *user) {
    int pos[NIN];
    char prev[2048] = "I", want[2048];
    int64_t max_ts = 0;
    size_t n = 0;

    for (int s = 0; s < NIN; s++)
        pos[s] = next_of(s, user, 0);
    for (size_t i = 0; i < out->cnt; i++) {
        const eu_rec_t *r = &out->v[i];
        int s;
        if (!r->key || strcmp(r->key, user))
            continue;
        cr_assert_not_null(r->value, "%s: a tombstone", user);
        for (s = 0; s < NIN; s++) {
            if (pos[s] == counts[s])
                continue;
            snprintf(want, sizeof(want), "%s %s", prev, in[s][pos[s]].token);
            if (!strcmp(r->value, want))
                break;
        }
        cr_assert_lt(s, NIN, "%s output %zu: \"%s\" extends \"%s\" by no input's next record", user,
                     n, r->value, prev);
        if (in[s][pos[s]].ts > max_ts)
            max_ts = in[s][pos[s]].ts;
        cr_assert_eq(r->timestamp, max_ts, "%s output %zu: timestamp %lld, want %lld", user, n,
                     (long long)r->timestamp, (long long)max_ts);
        pos[s] = next_of(s, user, pos[s] + 1);
        snprintf(prev, sizeof(prev), "%s", r->value);
        n++;
    }
    for (int s = 0; s < NIN; s++)
        cr_assert_eq(pos[s], counts[s], "%s: records of %s never aggregated", user, topics[s]);
    return n;
}

Test(operators_cogroup, matches_reference_across_restart, .timeout = 180) {
    char errstr[512], id[64], dir[2][64];
    eu_recs_t out;

    make_input();
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    for (int s = 0; s < NIN; s++)
        cr_assert_eq(rill_broker_create_topic(broker, topics[s], PARTS), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "activity-out", PARTS), 0);
    eu_app_id(id, sizeof(id), "cogroup");
    /* The mock cluster cannot create topics on request: the repartition topic is made here. */
    char repartition[96];
    snprintf(repartition, sizeof(repartition), "%s-by-user-repartition", id);
    cr_assert_eq(rill_broker_create_topic(broker, repartition, PARTS), 0);

    /* Two apps, each over half of every input; the second from an empty state directory. */
    for (int run = 0; run < 2; run++) {
        int64_t n = 0;
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers",          bootstrap, "state.dir", dir[run],
                               "statestore.cache.max.bytes", "0",       NULL};
        rill_app_t *app = eu_app_new(cogroup_topology(), id, extra);
        rill_producer_t *p = eu_producer(app);
        for (int s = 0; s < NIN; s++) {
            for (int i = run * counts[s] / 2; i < (run + 1) * counts[s] / 2; i++) {
                /* Orders go through one partition, so each user's keep their order. */
                eu_send(p, topics[s], s == 2 ? 0 : -1, in[s][i].key, in[s][i].value, in[s][i].ts);
                n += s == 2 ? 2 : 1; /* an order is read again from the repartition topic */
            }
        }
        if (run == 0) {
            eu_send(p, "clicks", 0, NULL, "keyless", BASE);
            n++;
        }
        eu_producer_done(p);
        eu_start(app);
        eu_wait_processed(app, n);
        eu_stop(app);
        rill_app_destroy(app);
    }

    eu_read_topic(bootstrap, "activity-out", &out);
    eu_assert_partitioned_by_key(&out, "activity-out");
    size_t total = 0;
    for (int u = 0; u < NU; u++) {
        char user[8];
        snprintf(user, sizeof(user), "u%d", u);
        total += check_user(&out, user);
    }
    cr_assert_eq(total, out.cnt, "%zu outputs, %zu of them for the users", out.cnt, total);
    cr_assert_eq(total, (size_t)(NC + NV + NO), "one output per record (the cache is off)");
    cr_assert_eq(eu_dead_letters(bootstrap, id, "null key: ", NULL), 1);
    eu_recs_free(&out);
    rill_broker_destroy(broker);
    for (int i = 0; i < 2; i++)
        eu_state_dir_remove(dir[i]);
}

/* A cogroup's table grouped anew: users counted per bucket, the number of tokens of their
 * aggregate modulo 3. Each update moves a user from one bucket to the next, which only holds
 * if the table hands the grouping each row's previous aggregate. */
static int bucket_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char bucket[8];
    int tokens = 1;
    for (size_t i = 0; i < rec->value_len; i++)
        tokens += ((const char *)rec->value)[i] == ' ';
    int len = snprintf(bucket, sizeof(bucket), "b%d", tokens % 3);
    return rill_buf_append(out->key, bucket, (size_t)len) ||
           rill_buf_append(out->value, rec->key, rec->key_len);
}

Test(operators_cogroup, table_grouped_anew_sees_previous_aggregates, .timeout = 120) {
    char errstr[512], id[64], topic[96];
    int want[3] = {0};
    int64_t n = 0;
    eu_recs_t out;

    make_input();
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    eu_app_id(id, sizeof(id), "cogroup-regroup");
    snprintf(topic, sizeof(topic), "%s-buckets-repartition", id);
    const char *topics[] = {"clicks", "views", "buckets-out", topic};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(rill_broker_create_topic(broker, topics[i], PARTS), 0);

    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *gc =
        rill_stream_group_by_key(rill_stream_from(topo, "clicks", "clicks", NULL), NULL);
    rill_grouped_t *gv =
        rill_stream_group_by_key(rill_stream_from(topo, "views", "views", NULL), NULL);
    rill_cogrouped_t *cg = rill_grouped_cogroup(gc, tag_append, "C");
    rill_table_t *t =
        rill_cogrouped_aggregate(rill_cogrouped_add(cg, gv, tag_append, "V"), NULL, init_tag, "I");
    rill_table_t *per_bucket =
        rill_grouped_table_count(rill_table_group_by(t, "buckets", bucket_of, NULL), NULL);
    rill_stream_to(rill_table_to_stream(per_bucket, NULL), NULL, "buckets-out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));

    const char *extra[] = {"bootstrap.servers", bootstrap, NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    rill_producer_t *p = eu_producer(app);
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < counts[s]; i++, n += 3) /* and its change, two records through */
            eu_send(p, topics[s], -1, in[s][i].key, in[s][i].value, in[s][i].ts);
    }
    for (int u = 0; u < NU; u++) { /* "buckets", but one for a user's first change */
        char user[8];
        snprintf(user, sizeof(user), "u%d", u);
        n -= next_of(0, user, 0) < NC || next_of(1, user, 0) < NV;
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, n);
    eu_stop(app);

    /* The reference: each user in the bucket of its final token count. */
    for (int u = 0; u < NU; u++) {
        char user[8];
        int tokens = 1;
        snprintf(user, sizeof(user), "u%d", u);
        for (int s = 0; s < 2; s++)
            for (int i = next_of(s, user, 0); i < counts[s]; i = next_of(s, user, i + 1))
                tokens++;
        if (tokens > 1)
            want[tokens % 3]++;
    }
    eu_read_topic(bootstrap, "buckets-out", &out);
    int got[3] = {0};
    for (size_t i = 0; i < out.cnt; i++) { /* a bucket's last update is its count */
        int64_t v;
        cr_assert_eq(rill_int64_decode(out.v[i].value, out.v[i].value_len, &v), 0);
        got[out.v[i].key[1] - '0'] = (int)v;
    }
    for (int b = 0; b < 3; b++)
        cr_assert_eq(got[b], want[b], "bucket b%d: %d users, want %d", b, got[b], want[b]);
    eu_recs_free(&out);
    rill_app_destroy(app);
    rill_broker_destroy(broker);
}

Test(operators_cogroup, app_refuses_start_when_inputs_not_copartitioned, .timeout = 60) {
    char id[64], errstr[512] = "";

    eu_app_id(id, sizeof(id), "cogroup-copart");
    rill_app_t *app = eu_app_new(cogroup_topology(), id, NULL);
    eu_create_topic(app, "clicks", 2);
    eu_create_topic(app, "views", 3);
    eu_create_topic(app, "orders", 3);
    cr_assert_neq(rill_app_start(app, errstr, sizeof(errstr)), 0, "started");
    cr_assert(strstr(errstr, "co-partitioned"), "%s", errstr);
    rill_app_destroy(app);
}

static int always(const rill_record_t *rec, void *opaque) {
    return 1;
}

Test(operators_cogroup, builder_refuses_bad_arguments) {
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "a", "a", NULL), NULL);
    cr_assert_null(rill_grouped_cogroup(g, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "aggregator"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "a", "a", NULL), NULL);
    rill_cogrouped_t *cg = rill_grouped_cogroup(g, tag_append, "A");
    cr_assert_null(rill_cogrouped_add(cg, g, tag_append, "B"));
    cr_assert(strstr(rill_topology_error(topo), "once"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "a", "a", NULL), NULL);
    cg = rill_grouped_cogroup(g, tag_append, "A");
    cr_assert_null(rill_cogrouped_aggregate(cg, NULL, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "initializer"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    /* A store name an aggregation already has is refused; a cogroup's table is a table. */
    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "a", "a", NULL), NULL);
    rill_grouped_count(g, "taken");
    cg = rill_grouped_cogroup(g, tag_append, "A");
    cr_assert_null(rill_cogrouped_aggregate(cg, "taken", init_tag, "I"));
    cr_assert(strstr(rill_topology_error(topo), "twice"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "a", "a", NULL), NULL);
    cg = rill_grouped_cogroup(g, tag_append, "A");
    rill_table_t *t = rill_cogrouped_aggregate(cg, NULL, init_tag, "I");
    cr_assert_not_null(rill_table_filter(t, NULL, always, NULL, NULL));
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    cr_assert_null(rill_cogrouped_add(
        cg, rill_stream_group_by_key(rill_stream_from(topo, "b", "b", NULL), NULL), tag_append,
        "B"));
    cr_assert(strstr(rill_topology_error(topo), "aggregated"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}
