/*
 * test_api_gaps.c — component tests of flat_map_values and foreach (operators/stateless.c),
 * table filter, filter_not and map_values (operators/table_transform.c) and a stream made a
 * table (operators/table_source.c) in apps on the embedded broker. Each test computes what
 * every output must hold with a small reference model over the same input and compares every
 * record (key, value or tombstone, timestamp), per key in order. The table tests run the
 * input in two apps, the second with an empty state directory (its stores restored from the
 * changelogs), and then probe the tables' stores from a third, also restored, with a
 * stream-table join: results must be as if one app had run everything.
 *
 * The mock cluster's first group join takes about 3 s, so each app run takes about 4-6 s.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#include <pthread.h>

#define BASE 1700000000000LL
#define PARTS 3

static uint64_t rng;

static uint32_t rnd(void) {
    return eu_rnd(&rng);
}

/* ---------------------------------------------------------------------------------------- */
/* Comparing outputs: "key#n=value@timestamp", n counting the key's records in order        */

/* Adds one output line for key (NULL: a null key, which has no order: no #n) to l, n being
 * the number of lines of key already in l. */
static void add_line(eu_strs_t *l, const char *key, const char *value, int64_t ts) {
    size_t n = 0;
    char prefix[64];

    if (!key) {
        eu_strs_add(l, "(null)=%s@%lld", value ? value : "(tombstone)", (long long)ts);
        return;
    }
    snprintf(prefix, sizeof(prefix), "%s#", key);
    for (size_t i = 0; i < l->cnt; i++)
        if (!strncmp(l->v[i], prefix, strlen(prefix)))
            n++;
    eu_strs_add(l, "%s#%zu=%s@%lld", key, n, value ? value : "(tombstone)", (long long)ts);
}

/* Reads topic (records of a key are in one partition, in offset order) and compares it with
 * want, record by record. */
static void assert_topic_is(const char *bootstrap, const char *topic, eu_strs_t *want) {
    eu_recs_t recs;
    eu_strs_t got = {0};

    eu_read_topic(bootstrap, topic, &recs);
    for (size_t i = 0; i < recs.cnt; i++)
        add_line(&got, recs.v[i].key, recs.v[i].value, recs.v[i].timestamp);
    eu_assert_same_set(&got, want, topic);
    eu_recs_free(&recs);
    eu_strs_free(&got);
}

static void run_app(rill_app_t *app, int64_t n) {
    eu_start(app);
    eu_wait_processed(app, n);
    eu_stop(app);
}

/* ---------------------------------------------------------------------------------------- */
/* (a) flat_map_values and foreach                                                           */

#define NW 60

static char w_key[NW][8], w_value[NW][40];
static int w_null[NW];

static const char *const vocab[] = {"alpha", "beta", "gamma", "delta", "eps"};

/* NW records over 7 keys with 0-3 words each (one in 10 a tombstone), and one more without a
 * key. */
static void make_words(void) {
    rng = 17;
    for (int i = 0; i < NW; i++) {
        uint32_t n = rnd() % 4;
        snprintf(w_key[i], sizeof(w_key[i]), "k%u", rnd() % 7);
        w_null[i] = rnd() % 10 == 0;
        w_value[i][0] = '\0';
        for (uint32_t j = 0; j < n; j++) {
            if (j)
                strcat(w_value[i], " ");
            strcat(w_value[i], vocab[rnd() % 5]);
        }
    }
}

/* Forwards one record per word, keyed "WRONG" (the node must put the input's key back),
 * timestamp the input's plus the word's index. */
static int split_words(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    const char *p = rec->value, *end = p ? p + rec->value_len : NULL;
    int64_t j = 0;

    while (p && p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t len = sp ? (size_t)(sp - p) : (size_t)(end - p);
        rill_record_t out = *rec;
        out.key = "WRONG";
        out.key_len = 5;
        out.value = p;
        out.value_len = len;
        out.value_obj = NULL;
        out.timestamp = rec->timestamp + j++;
        if (rill_ctx_forward(ctx, &out))
            return 1;
        p += len + 1;
    }
    return 0;
}

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static eu_strs_t seen; /* what foreach was given, "key=value@ts" */

static void remember(const rill_record_t *rec, void *opaque) {
    pthread_mutex_lock(&seen_lock);
    if (rec->value)
        eu_strs_add(&seen, "%s%.*s=%.*s@%lld", (const char *)opaque, (int)rec->key_len,
                    rec->key ? (const char *)rec->key : "", (int)rec->value_len,
                    (const char *)rec->value, (long long)rec->timestamp);
    else
        eu_strs_add(&seen, "%s%.*s=(tombstone)@%lld", (const char *)opaque, (int)rec->key_len,
                    rec->key ? (const char *)rec->key : "", (long long)rec->timestamp);
    pthread_mutex_unlock(&seen_lock);
}

Test(operators_api_gaps, flat_map_values_keeps_key_and_foreach_sees_every_record, .timeout = 90) {
    char id[64];
    const char *bootstrap;

    make_words();
    eu_app_id(id, sizeof(id), "gaps-fmv");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "words", "words", NULL);
    rill_stream_t *w = rill_stream_flat_map_values(in, "split", split_words, NULL);
    cr_assert_not_null(w, "%s", rill_topology_error(topo));
    rill_stream_to(w, NULL, "word-out", NULL);
    cr_assert_eq(rill_stream_foreach(in, "seen-in", remember, "in:"), RILL_OK);
    cr_assert_eq(rill_stream_foreach(w, NULL, remember, "out:"), RILL_OK);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));

    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "words", PARTS);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < NW; i++)
        eu_send(p, "words", -1, w_key[i], w_null[i] ? NULL : w_value[i], BASE + 10 * i);
    eu_send(p, "words", 0, NULL, "beta gamma", BASE + 10 * NW);
    eu_producer_done(p);
    run_app(app, NW + 1);
    bootstrap = rill_app_bootstrap_servers(app);

    /* The reference: the words of each record, in order, with the input's key. */
    eu_strs_t want = {0}, want_seen = {0};
    for (int i = 0; i <= NW; i++) {
        const char *key = i < NW ? w_key[i] : NULL;
        const char *value = i < NW ? (w_null[i] ? NULL : w_value[i]) : "beta gamma";
        int64_t ts = BASE + 10 * i;
        char copy[40];
        int j = 0;
        eu_strs_add(&want_seen, "in:%s=%s@%lld", key ? key : "", value ? value : "(tombstone)",
                    (long long)ts);
        if (!value)
            continue;
        snprintf(copy, sizeof(copy), "%.39s", value);
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t;
             t = strtok_r(NULL, " ", &save), j++) {
            add_line(&want, key, t, ts + j);
            eu_strs_add(&want_seen, "out:%s=%s@%lld", key ? key : "", t, (long long)(ts + j));
        }
    }
    assert_topic_is(bootstrap, "word-out", &want);
    pthread_mutex_lock(&seen_lock);
    eu_assert_same_set(&seen, &want_seen, "foreach");
    eu_strs_free(&seen);
    pthread_mutex_unlock(&seen_lock);
    eu_strs_free(&want);
    eu_strs_free(&want_seen);
    rill_app_destroy(app);
}

static int is_even(const rill_record_t *rec, void *opaque);
static int mark(const rill_record_t *rec, rill_map_out_t *out, void *opaque);

Test(operators_api_gaps, builder_refuses_missing_callbacks_and_windowed_tables) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "in", NULL);
    cr_assert_eq(rill_stream_foreach(in, NULL, NULL, NULL), RILL_ERR_TOPOLOGY);
    cr_assert(strstr(rill_topology_error(topo), "callback"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    in = rill_stream_from(topo, "in", "in", NULL);
    cr_assert_null(rill_stream_flat_map_values(in, NULL, NULL, NULL));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, NULL, "in", NULL, NULL);
    cr_assert_null(rill_table_filter(t, NULL, NULL, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "callback"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    in = rill_stream_from(topo, "in", "in", NULL);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000};
    t = rill_windowed_count(rill_grouped_windowed_by(rill_stream_group_by_key(in, NULL), &spec),
                            NULL, RILL_EMIT_FINAL);
    cr_assert_null(rill_table_map_values(t, NULL, mark, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "windowed"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    in = rill_stream_from(topo, "in", "in", NULL);
    cr_assert_null(rill_stream_to_table(in, NULL, ""));
    cr_assert(strstr(rill_topology_error(topo), "store name"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);

    /* A table made of a stream can be filtered and mapped; generated stores don't clash. */
    topo = rill_topology_new();
    in = rill_stream_from(topo, "in", "in", NULL);
    t = rill_stream_to_table(in, NULL, NULL);
    cr_assert_not_null(rill_table_map_values(rill_table_filter(t, NULL, is_even, NULL, NULL), NULL,
                                             mark, NULL, NULL));
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}

/* ---------------------------------------------------------------------------------------- */
/* (b) A table filtered (and filtered out) and its filtered rows mapped, across restarts      */

#define NK 10
#define NT 240

/* Input of a table test: n records over NK keys "<prefix><k>", value "<v><number>", one in
 * tomb_one_in a tombstone. */
typedef struct input_s {
    char key[8];
    char value[16];
    int tomb;
} input_t;

static void make_input(input_t *in, int n, uint64_t seed, const char *prefix, char v,
                       uint32_t tomb_one_in) {
    rng = seed;
    for (int i = 0; i < n; i++) {
        snprintf(in[i].key, sizeof(in[i].key), "%s%u", prefix, rnd() % NK);
        in[i].tomb = rnd() % tomb_one_in == 0;
        snprintf(in[i].value, sizeof(in[i].value), "%c%u", v, rnd() % 1000);
    }
}

static input_t rows[NT];

static int num_in(const void *value, size_t len) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)value);
    return atoi(buf + 1);
}

static int is_even(const rill_record_t *rec, void *opaque) {
    return num_in(rec->value, rec->value_len) % 2 == 0;
}

/* "m:<value>"; no value (the row goes) when the number is a multiple of 7. */
static int mark(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char mapped[32];
    if (num_in(rec->value, rec->value_len) % 7 == 0) {
        out->value_null = 1;
        return 0;
    }
    int len =
        snprintf(mapped, sizeof(mapped), "m:%.*s", (int)rec->value_len, (const char *)rec->value);
    return rill_buf_append(out->value, mapped, (size_t)len) ||
           rill_buf_append(out->key, "ignored", 7);
}

/* A probe's result: the row's value, or "(absent)". */
static int probe_joiner(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                        void *opaque) {
    if (right && right->value)
        return rill_buf_append(out, right->value, right->value_len);
    return rill_buf_append(out, "(absent)", 8);
}

/* Runs topo (taken) in an app from the empty state directory it makes in dir, its stores
 * restored from the changelogs, over one probe for each key "<prefix><k>", k <= NK (the last
 * never written), written to topic at ts. */
static void run_probes(rill_topology_t *topo, const char *id, const char *bootstrap, char *dir,
                       size_t dir_size, const char *topic, const char *prefix, int64_t ts) {
    eu_state_dir_make(dir, dir_size);
    const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    rill_producer_t *p = eu_producer(app);
    for (int k = 0; k <= NK; k++) {
        char key[8];
        snprintf(key, sizeof(key), "%s%d", prefix, k);
        eu_send(p, topic, eu_partition_of(key, PARTS), key, "probe", ts);
    }
    eu_producer_done(p);
    run_app(app, NK + 1);
    rill_app_destroy(app);
}

static rill_topology_t *rows_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *rows = rill_table_from(topo, "rows", "rows", NULL, "rows-store");
    rill_table_t *even = rill_table_filter(rows, "even", is_even, NULL, "even-store");
    rill_table_t *odd = rill_table_filter_not(rows, NULL, is_even, NULL, NULL);
    rill_table_t *mapped = rill_table_map_values(even, "mapped", mark, NULL, "mapped-store");
    rill_stream_t *probes = rill_stream_from(topo, "probes", "probes", NULL);

    rill_stream_to(rill_table_to_stream(even, NULL), NULL, "even-out", NULL);
    rill_stream_to(rill_table_to_stream(odd, NULL), NULL, "odd-out", NULL);
    rill_stream_to(rill_table_to_stream(mapped, NULL), NULL, "mapped-out", NULL);
    rill_stream_to(
        rill_stream_table_join(probes, even, "probe-even", RILL_JOIN_LEFT, 0, probe_joiner, NULL),
        NULL, "probed-even", NULL);
    rill_stream_to(rill_stream_table_join(probes, mapped, "probe-mapped", RILL_JOIN_LEFT, 0,
                                          probe_joiner, NULL),
                   NULL, "probed-mapped", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* The reference filter: the new row of key (NULL: none) given its row in the parent; adds
 * the change to out, a tombstone only when the result had a row. */
static void ref_filter(char result[NK][16], int k, const char *key, const char *value, int keep,
                       int64_t ts, eu_strs_t *out) {
    if (value && keep) {
        snprintf(result[k], 16, "%s", value);
        add_line(out, key, value, ts);
    } else if (result[k][0]) {
        result[k][0] = '\0';
        add_line(out, key, NULL, ts);
    }
}

Test(operators_api_gaps, table_filter_and_map_values_match_reference_across_restarts,
     .timeout = 180) {
    char errstr[512], id[64], dir[3][64];
    char even[NK][16] = {{0}}, odd[NK][16] = {{0}}, mapped[NK][24] = {{0}};
    eu_strs_t want_even = {0}, want_odd = {0}, want_mapped = {0};

    make_input(rows, NT, 29, "k", 'v', 5);
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    const char *topics[] = {"rows",       "probes",      "even-out",     "odd-out",
                            "mapped-out", "probed-even", "probed-mapped"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        cr_assert_eq(rill_broker_create_topic(broker, topics[i], PARTS), 0);
    eu_app_id(id, sizeof(id), "gaps-tables");

    /* Runs 1 and 2: half of the rows each, the second from an empty state directory. */
    for (int run = 0; run < 2; run++) {
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers",          bootstrap, "state.dir", dir[run],
                               "statestore.cache.max.bytes", "0",       NULL};
        rill_app_t *app = eu_app_new(rows_topology(), id, extra);
        rill_producer_t *p = eu_producer(app);
        for (int i = run * NT / 2; i < (run + 1) * NT / 2; i++)
            eu_send(p, "rows", -1, rows[i].key, rows[i].tomb ? NULL : rows[i].value, BASE + i);
        eu_producer_done(p);
        run_app(app, NT / 2);
        rill_app_destroy(app);
    }

    /* The reference over all the rows. */
    for (int i = 0; i < NT; i++) {
        int k = atoi(rows[i].key + 1);
        const char *v = rows[i].tomb ? NULL : rows[i].value;
        int ev = v && num_in(v, strlen(v)) % 2 == 0;
        size_t before = want_even.cnt;
        ref_filter(even, k, rows[i].key, v, ev, BASE + i, &want_even);
        ref_filter(odd, k, rows[i].key, v, v && !ev, BASE + i, &want_odd);
        if (want_even.cnt == before)
            continue; /* the filtered table did not change: nothing reaches the mapping */
        /* map_values over the filtered table's change. */
        if (!even[k][0] || num_in(even[k], strlen(even[k])) % 7 == 0) {
            mapped[k][0] = '\0';
            add_line(&want_mapped, rows[i].key, NULL, BASE + i);
        } else {
            snprintf(mapped[k], sizeof(mapped[k]), "m:%s", even[k]);
            add_line(&want_mapped, rows[i].key, mapped[k], BASE + i);
        }
    }
    cr_assert_gt(want_even.cnt, 20);
    assert_topic_is(bootstrap, "even-out", &want_even);
    assert_topic_is(bootstrap, "odd-out", &want_odd);
    assert_topic_is(bootstrap, "mapped-out", &want_mapped);

    /* Run 3, restored again from the changelogs: probes read each key's rows. */
    run_probes(rows_topology(), id, bootstrap, dir[2], sizeof(dir[2]), "probes", "k", BASE + NT);
    eu_strs_t want_pe = {0}, want_pm = {0};
    for (int k = 0; k <= NK; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", k);
        add_line(&want_pe, key, k < NK && even[k][0] ? even[k] : "(absent)", BASE + NT);
        add_line(&want_pm, key, k < NK && mapped[k][0] ? mapped[k] : "(absent)", BASE + NT);
    }
    assert_topic_is(bootstrap, "probed-even", &want_pe);
    assert_topic_is(bootstrap, "probed-mapped", &want_pm);
    cr_assert_eq(eu_dead_letters(bootstrap, id, "", NULL), 0);

    eu_strs_free(&want_even);
    eu_strs_free(&want_odd);
    eu_strs_free(&want_mapped);
    eu_strs_free(&want_pe);
    eu_strs_free(&want_pm);
    rill_broker_destroy(broker);
    for (int i = 0; i < 3; i++)
        eu_state_dir_remove(dir[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* (c) A stream made a table, across restarts                                                */

#define NE 200

static input_t events[NE];

/* A serde whose decoded form is a NUL-terminated string. */
static int text_serialize(const rill_serde_t *serde, const void *obj, rill_buf_t *out) {
    return rill_buf_append(out, obj, strlen(obj));
}

static const rill_serde_t text_obj_serde = {.name = "text-obj", .serialize = text_serialize};

/* Gives the value as a decoded object only (no bytes): the table must encode it. */
static __thread char obj_buf[16];

static int as_obj(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    if (!rec->value) {
        out->value_null = 1;
        return 0;
    }
    snprintf(obj_buf, sizeof(obj_buf), "%.*s", (int)rec->value_len, (const char *)rec->value);
    out->value_obj = obj_buf;
    out->value_serde = &text_obj_serde;
    return 0;
}

static rill_topology_t *events_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *ev = rill_stream_from(topo, "events", "events", NULL);
    rill_table_t *latest = rill_stream_to_table(rill_stream_map_values(ev, NULL, as_obj, NULL),
                                                "latest", "latest-store");
    rill_stream_t *probes = rill_stream_from(topo, "eprobes", "eprobes", NULL);

    rill_stream_to(rill_table_to_stream(latest, NULL), NULL, "latest-out", NULL);
    rill_stream_to(rill_stream_table_join(probes, latest, "probe-latest", RILL_JOIN_LEFT, 0,
                                          probe_joiner, NULL),
                   NULL, "probed-latest", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

Test(operators_api_gaps, stream_to_table_matches_reference_across_restarts, .timeout = 180) {
    char errstr[512], id[64], dir[3][64];
    char latest[NK][16] = {{0}};
    eu_strs_t want = {0}, want_probed = {0};

    make_input(events, NE, 41, "e", 'x', 6);
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    const char *topics[] = {"events", "eprobes", "latest-out", "probed-latest"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        cr_assert_eq(rill_broker_create_topic(broker, topics[i], PARTS), 0);
    eu_app_id(id, sizeof(id), "gaps-totable");

    for (int run = 0; run < 2; run++) {
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(events_topology(), id, extra);
        rill_producer_t *p = eu_producer(app);
        for (int i = run * NE / 2; i < (run + 1) * NE / 2; i++)
            eu_send(p, "events", -1, events[i].key, events[i].tomb ? NULL : events[i].value,
                    BASE + i);
        if (run == 0)
            eu_send(p, "events", 0, NULL, "keyless", BASE);
        eu_producer_done(p);
        run_app(app, NE / 2 + (run == 0));
        rill_app_destroy(app);
    }
    cr_assert_eq(eu_dead_letters(bootstrap, id, "null key: ", NULL), 1);

    /* The change stream is every keyed record as it came; the rows are the last values. */
    for (int i = 0; i < NE; i++) {
        int k = atoi(events[i].key + 1);
        add_line(&want, events[i].key, events[i].tomb ? NULL : events[i].value, BASE + i);
        snprintf(latest[k], sizeof(latest[k]), "%.15s", events[i].tomb ? "" : events[i].value);
    }
    assert_topic_is(bootstrap, "latest-out", &want);

    run_probes(events_topology(), id, bootstrap, dir[2], sizeof(dir[2]), "eprobes", "e", BASE + NE);
    for (int k = 0; k <= NK; k++) {
        char key[8];
        snprintf(key, sizeof(key), "e%d", k);
        add_line(&want_probed, key, k < NK && latest[k][0] ? latest[k] : "(absent)", BASE + NE);
    }
    assert_topic_is(bootstrap, "probed-latest", &want_probed);

    eu_strs_free(&want);
    eu_strs_free(&want_probed);
    rill_broker_destroy(broker);
    for (int i = 0; i < 3; i++)
        eu_state_dir_remove(dir[i]);
}
