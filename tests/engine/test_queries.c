/*
 * test_queries.c — interactive queries (engine/queries.c, engine/query_hosts.c, the /stores
 * and /owner routes of engine/http_endpoint.c):
 *  - two instances of one app (same application.id, one embedded broker, their own state
 *    directories and HTTP ports) count the records of a 4-partition topic per key; then
 *    every key is asked through both instances, over HTTP (following the 307 to the owner)
 *    and with rill_app_store_get() (the owner answers, the other one names the owner), and
 *    each answer equals a count computed independently from the input; a key never written
 *    is 404 / not found, a store that does not exist is 404 / unknown store, /owner names
 *    the instance that answered;
 *  - a windowed count queried with rill_app_window_fetch() and GET /stores/...?from=&to=.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"
#include "rt_query.h"

#define NKEYS 40
#define NRECS 600

static void key_name(char *out, size_t size, int i) {
    /* Some keys need percent-encoding in a URL (a space, a slash, a '%'). */
    if (i % 10 == 3)
        snprintf(out, size, "user %d/x%%", i);
    else
        snprintf(out, size, "k%d", i);
}

/* The written keys in byte order with their counts: the reference of every range. */
static int reference(const int64_t *want, char **keys, int64_t *counts) {
    int n = 0;

    for (int k = 0; k < NKEYS; k++)
        if (want[k]) {
            char key[64];
            key_name(key, sizeof(key), k);
            keys[n++] = strdup(key);
        }
    qsort(keys, (size_t)n, sizeof(keys[0]), eu_strcmp_p);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < NKEYS; k++) {
            char key[64];
            key_name(key, sizeof(key), k);
            if (!strcmp(key, keys[i]))
                counts[i] = want[k];
        }
    return n;
}

typedef struct got_s {
    int n;
    char keys[NKEYS][64];
    int64_t counts[NKEYS];
} got_t;

static int on_kv(const void *key, size_t key_len, int64_t ts, const void *value, size_t len,
                 void *opaque) {
    got_t *g = opaque;

    cr_assert_lt(g->n, NKEYS);
    cr_assert_geq(ts, 1000);
    snprintf(g->keys[g->n], sizeof(g->keys[0]), "%.*s", (int)key_len, (const char *)key);
    g->counts[g->n++] = rt_query_count(value, len);
    return 0;
}

/* Ranges: each instance's local part (C API) is its share of the reference in key order,
 * the two together are all of it; over HTTP either instance answers the whole store. */
static void check_ranges(rill_app_t **apps, const int *ports, const int64_t *want) {
    char *keys[NKEYS];
    int64_t counts[NKEYS];
    int n = reference(want, keys, counts), seen = 0;

    for (int i = 0; i < 2; i++) {
        got_t g = {0};
        rill_query_info_t info;
        cr_assert_eq(
            rill_app_store_range(apps[i], "counts", NULL, 0, NULL, 0, 1000, on_kv, &g, &info, 5000),
            RILL_QUERY_FOUND, "%s", info.error);
        cr_assert_eq(info.truncated, 0);
        for (int j = 0, r = 0; j < g.n; j++, r++) {
            while (r < n && strcmp(keys[r], g.keys[j]))
                r++; /* keys of the other instance */
            cr_assert_lt(r, n, "instance %d: key %s out of order or unknown", i, g.keys[j]);
            cr_assert_eq(g.counts[j], counts[r], "key %s", g.keys[j]);
        }
        seen += g.n;
        got_t lim = {0};
        cr_assert_eq(
            rill_app_store_range(apps[i], "counts", NULL, 0, NULL, 0, 2, on_kv, &lim, &info, 5000),
            RILL_QUERY_FOUND);
        cr_assert(lim.n == 2 && info.truncated == 1 && !strcmp(lim.keys[0], g.keys[0]) &&
                      !strcmp(lim.keys[1], g.keys[1]),
                  "limit 2: %d rows", lim.n);
    }
    cr_assert_eq(seen, n, "the local ranges hold %d keys, the reference %d", seen, n);
    for (int i = 0; i < 2; i++) {
        rt_query_reply_t r = rt_query_get_settled(ports[i], "/stores/counts");
        cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body.data);
        cr_assert(rt_query_range_matches(r.body.data, keys, counts, n, 1), "whole range via %d: %s",
                  i, r.body.data);
        cr_assert_str_eq(r.truncated, "false");
        rill_buf_free(&r.body);
        r = rt_query_get_settled(ports[i], "/stores/counts?limit=5");
        cr_assert(r.status == 200 && rt_query_range_matches(r.body.data, keys, counts, 5, 1), "%s",
                  r.body.data);
        cr_assert_str_eq(r.truncated, "true");
        rill_buf_free(&r.body);
        /* [k2, k5): k2, k20..k29 minus k23 (it is "user 23/x%"), k3, k30.., k4, k40.. */
        r = rt_query_get_settled(ports[i], "/stores/counts?from=k2&to=k5");
        int lo = 0, hi;
        while (lo < n && strcmp(keys[lo], "k2") < 0)
            lo++;
        for (hi = lo; hi < n && strcmp(keys[hi], "k5") < 0;)
            hi++;
        cr_assert(hi - lo > 3);
        cr_assert(rt_query_range_matches(r.body.data, keys + lo, counts + lo, hi - lo, 1), "%s",
                  r.body.data);
        rill_buf_free(&r.body);
        r = rt_query_get(ports[i], "/stores/counts?limit=10001");
        cr_assert_eq(r.status, 400, "above query.range.limit.max: %ld", r.status);
        rill_buf_free(&r.body);
    }
    for (int i = 0; i < n; i++)
        free(keys[i]);
}

Test(queries, every_key_through_either_instance, .timeout = 180) {
    char app_id[64], dir_a[512], dir_b[512];
    int64_t want[NKEYS] = {0};

    eu_app_id(app_id, sizeof(app_id), "queries");
    eu_state_dir_make(dir_a, sizeof(dir_a));
    eu_state_dir_make(dir_b, sizeof(dir_b));
    curl_global_init(CURL_GLOBAL_DEFAULT);

    const char *extra_a[] = {"state.dir", dir_a, "http.listen", "127.0.0.1:0", NULL};
    rill_app_t *a = eu_app_new(rt_query_count_topology("q-in", "counts", "q-out"), app_id, extra_a);
    eu_create_topic(a, "q-in", 4);
    eu_create_topic(a, "q-out", 4);
    /* b proxies the keys it does not hold (query.forward=proxy); a redirects (default). */
    const char *extra_b[] = {"state.dir",
                             dir_b,
                             "http.listen",
                             "127.0.0.1:0",
                             "query.forward",
                             "proxy",
                             "bootstrap.servers",
                             rill_app_bootstrap_servers(a),
                             NULL};
    rill_app_t *b = eu_app_new(rt_query_count_topology("q-in", "counts", "q-out"), app_id, extra_b);
    eu_start(a);
    eu_start(b);
    int pa = rill_app_http_port(a), pb = rill_app_http_port(b);
    cr_assert(pa > 0 && pb > 0 && pa != pb);
    cr_assert_not_null(rill_app_server(a));
    cr_assert_not_null(rill_app_server(b));

    /* Both in the group, with two tasks each, before any input: no rebalance while counting. */
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    while (eu_now_ms() < deadline &&
           !(rill_app_metric(a, "rill_tasks") == 2 && rill_app_metric(b, "rill_tasks") == 2 &&
             rt_query_ready(pa) && rt_query_ready(pb)))
        eu_sleep_ms(50);
    cr_assert_eq(rill_app_metric(a, "rill_tasks"), 2);
    cr_assert_eq(rill_app_metric(b, "rill_tasks"), 2);

    rill_producer_t *p = eu_producer(a);
    unsigned seed = 7;
    for (int i = 0; i < NRECS; i++) {
        char key[64];
        int k = (int)(rand_r(&seed) % NKEYS);
        if (k == NKEYS - 1)
            k = 0; /* the last key is never written */
        key_name(key, sizeof(key), k);
        eu_send(p, "q-in", -1, key, "v", 1000 + i);
        want[k]++;
    }
    eu_producer_done(p);
    deadline = eu_now_ms() + EU_WAIT_MS;
    while (eu_now_ms() < deadline && rill_app_metric(a, "rill_records_processed_total") +
                                             rill_app_metric(b, "rill_records_processed_total") <
                                         NRECS)
        eu_sleep_ms(20);
    cr_assert_eq(rill_app_metric(a, "rill_records_processed_total") +
                     rill_app_metric(b, "rill_records_processed_total"),
                 NRECS);

    rill_app_t *apps[2] = {a, b};
    int ports[2] = {pa, pb};
    int owned[2] = {0, 0};
    for (int k = 0; k < NKEYS; k++) {
        char key[64], path[256], enc[192];
        key_name(key, sizeof(key), k);
        rt_query_url_key(enc, sizeof(enc), key);
        int owner = -1;
        /* The C API: exactly one instance holds the key; the other names it. */
        for (int i = 0; i < 2; i++) {
            rill_buf_t out = {0};
            rill_query_info_t info;
            rill_query_status_t st =
                rill_app_store_get(apps[i], "counts", key, strlen(key), &out, &info, 5000);
            int32_t m2 = rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), 4, NULL, NULL);
            if (!want[k]) {
                /* A key never written: "counts" reads a topic Rill does not write, so the
                 * instance holding its murmur2 partition searched its other partition too
                 * and names the owner of one it could not search; never "not found". */
                cr_assert_eq(st, RILL_QUERY_NOT_LOCAL, "key %s: %s", key,
                             rill_query_status_str(st));
                if (info.partition != m2) {
                    cr_assert_eq(owner, -1);
                    owner = i;
                }
                cr_assert(info.owner[0] && strcmp(info.owner, rill_app_server(apps[i])), "%s",
                          info.owner);
                rill_buf_free(&out);
                continue;
            }
            if (st == RILL_QUERY_FOUND || st == RILL_QUERY_NOT_FOUND) {
                cr_assert_eq(owner, -1, "key %s is local to both instances", key);
                owner = i;
                if (want[k]) {
                    cr_assert_eq(st, RILL_QUERY_FOUND, "key %s: %s (%s)", key,
                                 rill_query_status_str(st), info.error);
                    cr_assert_eq(rt_query_count(out.data, out.len), want[k],
                                 "key %s through the C API", key);
                    cr_assert_geq(info.timestamp, 1000);
                } else {
                    cr_assert_eq(st, RILL_QUERY_NOT_FOUND, "key %s was never written", key);
                }
            } else {
                cr_assert_eq(st, RILL_QUERY_NOT_LOCAL, "key %s through instance %d: %s (%s)", key,
                             i, rill_query_status_str(st), info.error);
            }
            cr_assert_eq(info.partition, m2);
            rill_buf_free(&out);
        }
        cr_assert_neq(owner, -1, "key %s is local to neither instance", key);
        owned[owner]++;
        /* The other instance names the owner (once it read the owner's record). */
        rill_query_info_t info;
        rill_buf_t out = {0};
        deadline = eu_now_ms() + EU_WAIT_MS;
        do {
            rill_app_store_get(apps[1 - owner], "counts", key, strlen(key), &out, &info, 5000);
        } while (!info.owner[0] && eu_now_ms() < deadline && (eu_sleep_ms(50), 1));
        cr_assert_str_eq(info.owner, rill_app_server(apps[owner]), "owner of key %s", key);
        rill_buf_free(&out);

        /* HTTP through both instances: the owner answers, the other redirects to it. */
        snprintf(path, sizeof(path), "/stores/counts/%s", enc);
        for (int i = 0; i < 2; i++) {
            rt_query_reply_t r = rt_query_get_settled(ports[i], path);
            if (want[k]) {
                cr_assert_eq(r.status, 200, "GET %s on instance %d: %ld %s", path, i, r.status,
                             r.body.data);
                cr_assert_eq(rt_query_count(r.body.data, r.body.len), want[k],
                             "key %s over HTTP via %d", key, i);
            } else {
                cr_assert_eq(r.status, 404, "GET %s: %ld %s", path, r.status, r.body.data);
                cr_assert(strstr(r.body.data, "not found"), "%s", r.body.data);
            }
            cr_assert_eq(r.redirects, i == owner || i == 1 ? 0 : 1,
                         "GET %s via %d: %ld redirect(s)", path, i, r.redirects);
            rill_buf_free(&r.body);
            if (!want[k])
                continue;
            /* format=json: the count rendered by the store's serde (int64), bytes kept. */
            char jpath[300], jwant[200];
            snprintf(jpath, sizeof(jpath), "%s?format=json", path);
            r = rt_query_get_settled(ports[i], jpath);
            snprintf(jwant, sizeof(jwant), "\"value\":%lld,\"value_hex\":\"%016llx\"}\n",
                     (long long)want[k], (unsigned long long)want[k]);
            cr_assert_eq(r.status, 200, "%s: %ld %s", jpath, r.status, r.body.data);
            cr_assert(!strncmp(r.body.data, "{\"key\":\"", 8) && strstr(r.body.data, key) &&
                          strstr(r.body.data, jwant),
                      "%s via %d: %s", jpath, i, r.body.data);
            if (i == 1 && owner == 0 && want[k])
                cr_assert_str_eq(r.served_by, rill_app_server(a), "proxied by b to a");
            rill_buf_free(&r.body);
        }
        /* /owner names the same instance, through either. */
        snprintf(path, sizeof(path), "/owner/counts/%s", enc);
        for (int i = 0; i < 2; i++) {
            char want_json[256];
            rt_query_reply_t r = rt_query_get_settled(ports[i], path);
            snprintf(want_json, sizeof(want_json), "\"owner\":\"%s\"",
                     rill_app_server(apps[owner]));
            cr_assert_eq(r.status, 200);
            cr_assert(strstr(r.body.data, want_json), "%s: %s", path, r.body.data);
            cr_assert(strstr(r.body.data, i == owner ? "\"local\":true" : "\"local\":false"), "%s",
                      r.body.data);
            rill_buf_free(&r.body);
        }
    }
    cr_assert(owned[0] > 0 && owned[1] > 0, "keys owned: %d and %d", owned[0], owned[1]);
    check_ranges(apps, ports, want);

    /* A store that does not exist; a window fetch on a key-value store; a bad path. */
    for (int i = 0; i < 2; i++) {
        rill_buf_t out = {0};
        rill_query_info_t info;
        cr_assert_eq(rill_app_store_get(apps[i], "nope", "k1", 2, &out, &info, 1000),
                     RILL_QUERY_UNKNOWN_STORE);
        cr_assert(strstr(info.error, "no store called \"nope\""), "%s", info.error);
        rt_query_reply_t r = rt_query_get(ports[i], "/stores/nope/k1");
        cr_assert_eq(r.status, 404);
        cr_assert(strstr(r.body.data, "unknown store"), "%s", r.body.data);
        rill_buf_free(&r.body);
        r = rt_query_get(ports[i], "/stores/counts/");
        cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body.data);
        rill_buf_free(&r.body);
        r = rt_query_get(ports[i], "/stores/counts/k1?from=0&to=10");
        cr_assert(r.status == 404 && strstr(r.body.data, "window fetch reads window stores"),
                  "%ld %s", r.status, r.body.data);
        rill_buf_free(&r.body);
        rill_buf_free(&out);
    }

    eu_stop(b);
    eu_stop(a);
    rill_app_destroy(b);
    rill_app_destroy(a);
    eu_state_dir_remove(dir_a);
    eu_state_dir_remove(dir_b);
}

/* Records keyed "x" whose value names their group: the topology groups by the value. */
static int value_as_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    return rill_buf_append(out->key, rec->value, rec->value_len) ? -1 : 0;
}

/* A store behind a repartition topic (which Rill writes with murmur2): a key is only ever in
 * its murmur2 partition, so a miss there is "not found" at once, with no search. The input
 * goes to partition 0 only: the repartition spreads it. */
Test(queries, placed_store, .timeout = 120) {
    char app_id[64], dir_a[512], dir_b[512];
    int64_t want[8] = {0};

    eu_app_id(app_id, sizeof(app_id), "queries-placed");
    eu_state_dir_make(dir_a, sizeof(dir_a));
    eu_state_dir_make(dir_b, sizeof(dir_b));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rill_app_t *apps[2];
    for (int i = 0; i < 2; i++) {
        rill_topology_t *topo = rill_topology_new();
        rill_stream_t *s = rill_stream_from(topo, "source", "p-in", NULL);
        rill_grouped_count(rill_stream_group_by(s, "by-value", value_as_key, NULL), "groups");
        const char *extra[] = {"state.dir",
                               i ? dir_b : dir_a,
                               "http.listen",
                               "127.0.0.1:0",
                               i ? "bootstrap.servers" : NULL,
                               i ? rill_app_bootstrap_servers(apps[0]) : NULL,
                               NULL};
        apps[i] = eu_app_new(topo, app_id, extra);
        if (!i)
            eu_create_topic(apps[0], "p-in", 4);
    }
    eu_start(apps[0]);
    eu_start(apps[1]);
    rt_query_wait_settled(apps[0], apps[1], 4); /* two sub-topologies of 4 partitions */
    rill_producer_t *p = eu_producer(apps[0]);
    for (int i = 0; i < 200; i++) {
        char group[8];
        snprintf(group, sizeof(group), "g%d", (i * 7) % 6); /* g6 and g7 never come */
        want[(i * 7) % 6]++;
        eu_send(p, "p-in", 0, "x", group, 1000 + i);
    }
    eu_producer_done(p);
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    while (eu_now_ms() < deadline &&
           rill_app_metric(apps[0], "rill_records_processed_total") +
                   rill_app_metric(apps[1], "rill_records_processed_total") <
               400)
        eu_sleep_ms(20);
    for (int g = 0; g < 8; g++) {
        char key[8];
        int local = 0;
        snprintf(key, sizeof(key), "g%d", g);
        for (int i = 0; i < 2; i++) {
            rill_buf_t out = {0};
            rill_query_info_t info;
            rill_query_status_t st =
                rill_app_store_get(apps[i], "groups", key, strlen(key), &out, &info, 5000);
            if (st == RILL_QUERY_NOT_LOCAL)
                continue;
            local++;
            cr_assert_eq(st, want[g] ? RILL_QUERY_FOUND : RILL_QUERY_NOT_FOUND, "%s: %s (%s)", key,
                         rill_query_status_str(st), info.error);
            if (want[g])
                cr_assert_eq(rt_query_count(out.data, out.len), want[g], "%s", key);
            rill_buf_free(&out);
        }
        cr_assert_eq(local, 1, "key %s is local to %d instances", key, local);
        for (int i = 0; i < 2; i++) {
            char path[64];
            snprintf(path, sizeof(path), "/stores/groups/%s", key);
            rt_query_reply_t r = rt_query_get_settled(rill_app_http_port(apps[i]), path);
            cr_assert_eq(r.status, want[g] ? 200 : 404, "%s: %ld %s", path, r.status, r.body.data);
            rill_buf_free(&r.body);
        }
    }
    cr_assert_eq(rill_app_metric(apps[0], "rill_query_forwarded_total") +
                     rill_app_metric(apps[1], "rill_query_forwarded_total"),
                 0, "a placed store's keys need no other instance");
    char *keys[6] = {"g0", "g1", "g2", "g3", "g4", "g5"};
    for (int i = 0; i < 2; i++) {
        rt_query_reply_t r = rt_query_get_settled(rill_app_http_port(apps[i]), "/stores/groups");
        cr_assert(rt_query_range_matches(r.body.data, keys, want, 6, 1), "%s", r.body.data);
        rill_buf_free(&r.body);
    }
    for (int i = 1; i >= 0; i--) {
        eu_stop(apps[i]);
        rill_app_destroy(apps[i]);
    }
    eu_state_dir_remove(dir_a);
    eu_state_dir_remove(dir_b);
}

typedef struct rows_s {
    int cnt;
    int64_t start[8];
    int64_t count[8];
} rows_t;

static int on_row(int64_t start, int64_t ts, const void *value, size_t len, void *opaque) {
    rows_t *rows = opaque;
    int64_t v = -1;

    (void)ts;
    cr_assert_eq(rill_int64_decode(value, len, &v), 0);
    cr_assert_lt(rows->cnt, 8);
    rows->start[rows->cnt] = start;
    rows->count[rows->cnt++] = v;
    return 0;
}

Test(queries, window_fetch, .timeout = 120) {
    char app_id[64], dir[512];

    eu_app_id(app_id, sizeof(app_id), "queries-win");
    eu_state_dir_make(dir, sizeof(dir));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *extra[] = {"state.dir", dir, "http.listen", "127.0.0.1:0", NULL};
    rill_app_t *app = eu_app_new(eu_window_count_topology("w-in", "wins", "w-out"), app_id, extra);
    eu_create_topic(app, "w-in", 2);
    eu_create_topic(app, "w-out", 2);
    eu_start(app);
    rill_producer_t *p = eu_producer(app);
    /* key a: 2 records in [1000, 2000), 3 in [2000, 3000), 1 in [5000, 6000). */
    const int64_t ts[] = {1000, 1500, 2000, 2100, 2999, 5000};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        eu_send(p, "w-in", -1, "a", "x", ts[i]);
    eu_send(p, "w-in", -1, "b", "x", 1200);
    /* key c in the partition murmur2 does not give it (as another partitioner may): found by
     * the search of the other partitions. */
    eu_send(p, "w-in", 1 - eu_partition_of("c", 2), "c", "x", 1100);
    eu_producer_done(p);
    eu_wait_processed(app, 8);

    rows_t rows = {0};
    rill_query_info_t info;
    cr_assert_eq(rill_app_window_fetch(app, "wins", "a", 1, 0, 3000, on_row, &rows, &info, 5000),
                 RILL_QUERY_FOUND, "%s", info.error);
    cr_assert_eq(rows.cnt, 2);
    cr_assert(rows.start[0] == 1000 && rows.count[0] == 2);
    cr_assert(rows.start[1] == 2000 && rows.count[1] == 3);
    rows = (rows_t){0};
    cr_assert_eq(
        rill_app_window_fetch(app, "wins", "a", 1, 3000, 10000, on_row, &rows, &info, 5000),
        RILL_QUERY_FOUND);
    cr_assert(rows.cnt == 1 && rows.start[0] == 5000 && rows.count[0] == 1);
    rows = (rows_t){0};
    cr_assert_eq(rill_app_window_fetch(app, "wins", "zz", 2, 0, 10000, on_row, &rows, &info, 5000),
                 RILL_QUERY_NOT_FOUND, "%s", info.error);
    cr_assert_eq(rill_app_window_fetch(app, "wins", "c", 1, 0, 10000, on_row, &rows, &info, 5000),
                 RILL_QUERY_FOUND, "%s", info.error);
    cr_assert(rows.cnt == 1 && rows.start[0] == 1000 && rows.count[0] == 1);
    cr_assert_eq(info.partition, 1 - eu_partition_of("c", 2));
    rows = (rows_t){0};
    rill_buf_t out = {0};
    cr_assert_eq(rill_app_store_get(app, "wins", "a", 1, &out, &info, 5000),
                 RILL_QUERY_UNKNOWN_STORE, "a get on a window store");

    char path[128];
    rt_query_reply_t c = rt_query_get(rill_app_http_port(app), "/stores/wins/c?from=0&to=9000");
    cr_assert_eq(c.status, 200, "%ld %s", c.status, c.body.data);
    cr_assert_str_eq(c.body.data,
                     "[{\"start\":1000,\"timestamp\":1100,\"value_hex\":\"0000000000000001\"}]\n");
    rill_buf_free(&c.body);
    snprintf(path, sizeof(path), "/stores/wins/a?from=1000&to=2000");
    rt_query_reply_t r = rt_query_get(rill_app_http_port(app), path);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body.data);
    cr_assert_str_eq(r.body.data,
                     "[{\"start\":1000,\"timestamp\":1500,\"value_hex\":\"0000000000000002\"}]\n");
    rill_buf_free(&r.body);

    eu_stop(app);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* Two instances, a windowed count on a topic whose keys are not where murmur2 puts them: a
 * key's windows are found through either instance over HTTP, also when the instance holding
 * its murmur2 partition must ask the other one (scope=local), and a key never written is a
 * 404 only once both answered. */
Test(queries, window_fetch_any_partition, .timeout = 120) {
    char app_id[64], dirs[2][512];
    rill_app_t *apps[2];

    eu_app_id(app_id, sizeof(app_id), "queries-win2");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < 2; i++) {
        eu_state_dir_make(dirs[i], sizeof(dirs[i]));
        const char *extra[] = {"state.dir",
                               dirs[i],
                               "http.listen",
                               "127.0.0.1:0",
                               i ? "bootstrap.servers" : NULL,
                               i ? rill_app_bootstrap_servers(apps[0]) : NULL,
                               NULL};
        apps[i] = eu_app_new(eu_window_count_topology("w2-in", "wins", "w2-out"), app_id, extra);
        if (!i) {
            eu_create_topic(apps[0], "w2-in", 2);
            eu_create_topic(apps[0], "w2-out", 2);
        }
    }
    eu_start(apps[0]);
    eu_start(apps[1]);
    rt_query_wait_settled(apps[0], apps[1], 1);
    rill_producer_t *p = eu_producer(apps[0]);
    const int64_t ts[] = {1000, 1100, 2500};
    for (size_t i = 0; i < 3; i++) {
        eu_send(p, "w2-in", 1 - eu_partition_of("c", 2), "c", "x", ts[i]);
        eu_send(p, "w2-in", eu_partition_of("d", 2), "d", "x", ts[i]);
    }
    eu_producer_done(p);
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    while (eu_now_ms() < deadline &&
           rill_app_metric(apps[0], "rill_records_processed_total") +
                   rill_app_metric(apps[1], "rill_records_processed_total") <
               6)
        eu_sleep_ms(20);
    const char *want = "[{\"start\":1000,\"timestamp\":1100,\"value_hex\":\"0000000000000002\"},"
                       "{\"start\":2000,\"timestamp\":2500,\"value_hex\":\"0000000000000001\"}]\n";
    for (int i = 0; i < 2; i++) {
        int port = rill_app_http_port(apps[i]);
        rt_query_reply_t r = rt_query_get_settled(port, "/stores/wins/c?from=0&to=9000");
        cr_assert(r.status == 200 && !strcmp(r.body.data, want), "c via %d: %ld %s", i, r.status,
                  r.body.data);
        rill_buf_free(&r.body);
        r = rt_query_get_settled(port, "/stores/wins/d?from=0&to=9000");
        cr_assert(r.status == 200 && !strcmp(r.body.data, want), "d via %d: %ld %s", i, r.status,
                  r.body.data);
        rill_buf_free(&r.body);
        r = rt_query_get_settled(port, "/stores/wins/zz?from=0&to=9000");
        cr_assert_eq(r.status, 404, "zz via %d: %ld %s", i, r.status, r.body.data);
        rill_buf_free(&r.body);
    }
    cr_assert_gt(rill_app_metric(apps[0], "rill_query_forwarded_total") +
                     rill_app_metric(apps[1], "rill_query_forwarded_total"),
                 0, "key c needed the other instance");
    for (int i = 1; i >= 0; i--) {
        eu_stop(apps[i]);
        rill_app_destroy(apps[i]);
        eu_state_dir_remove(dirs[i]);
    }
}
