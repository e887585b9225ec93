/*
 * test_tables.c — component tests of grouping by a new key and of tables (operators/group_by.c,
 * operators/table_source.c) in apps on the embedded broker: a stream grouped by a new key and
 * counted matches the reference, records of one new key from every input partition meeting in
 * one count; a table read from a topic takes updates and tombstones, its change stream is the
 * input per key and its store (read back by a second app restored from the changelog) holds
 * each key's last value; a table grouped by region and aggregated with a subtractor follows
 * users moving between regions and leaving, update by update, with no user counted twice; an
 * aggregation's table grouped anew does the same; and the description lists the repartition
 * topics' sinks and sources and the stores.
 *
 * The mock cluster's first group join takes about 3 s, so each app test takes about 5-10 s.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#include "engine_int.h"

#define BASE 1700000000000LL
#define PARTS 3

static uint64_t rng;

static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

/* The partition Kafka's default partitioner (and Rill's producers) give key. */
static int32_t partition_of(const char *key, int32_t cnt) {
    return rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), cnt, NULL, NULL);
}

/* Asserts every dead letter's reason starts with prefix; returns how many there are. */
static size_t dead_letters(rill_app_t *app, const char *id, const char *prefix) {
    char dlq[96];
    eu_recs_t dead;
    size_t n;

    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        cr_assert_not_null(error);
        cr_assert(!strncmp(error, prefix, strlen(prefix)), "dead letter %zu: %s", i, error);
    }
    n = dead.cnt;
    eu_recs_free(&dead);
    return n;
}

/* Counts (int64) as text, so that they read back as strings. */
static int show_count(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char value[32];
    int64_t n;

    if (rill_int64_decode(rec->value, rec->value_len, &n))
        return 1;
    return rill_buf_append(out->value, value,
                           (size_t)snprintf(value, sizeof(value), "%lld", (long long)n));
}

/* ---------------------------------------------------------------------------------------- */
/* (a) A stream grouped by a new key: clicks keyed by user, counted per city                */

#define NUSERS 40
#define NCITIES 6
#define NCLICKS 300

static char click_user[NCLICKS][8], click_city[NCLICKS][8];

/* Clicks of NUSERS users in NCITIES cities; about one in 13 has no city ("-"). */
static void make_clicks(void) {
    rng = 11;
    for (int i = 0; i < NCLICKS; i++) {
        snprintf(click_user[i], sizeof(click_user[i]), "u%u", rnd() % NUSERS);
        if (rnd() % 13 == 0)
            snprintf(click_city[i], sizeof(click_city[i]), "-");
        else
            snprintf(click_city[i], sizeof(click_city[i]), "c%u", rnd() % NCITIES);
    }
}

/* The new key: the click's city, none for "-". */
static int city_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    if (rec->value_len == 1 && *(const char *)rec->value == '-') {
        out->key_null = 1;
        return 0;
    }
    return rill_buf_append(out->key, rec->value, rec->value_len);
}

static rill_topology_t *clicks_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *clicks = rill_stream_from(topo, "clicks", "clicks", NULL);
    rill_grouped_t *g = rill_stream_group_by(clicks, "by-city", city_of, NULL);
    rill_stream_t *counts = rill_table_to_stream(rill_grouped_count(g, "city-counts"), NULL);

    rill_stream_to(rill_stream_map_values(counts, NULL, show_count, NULL), NULL, "counted", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

Test(operators_tables, counts_match_reference_when_grouped_by_new_key, .timeout = 90) {
    char id[64], dir[64], topic[128];
    int nulls = 0;

    make_clicks();
    for (int i = 0; i < NCLICKS; i++)
        nulls += click_city[i][0] == '-';
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, "statestore.cache.max.bytes", "0", NULL};
    eu_app_id(id, sizeof(id), "tables-group-by");
    rill_app_t *app = eu_app_new(clicks_topology(), id, extra);
    eu_create_topic(app, "clicks", PARTS);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < NCLICKS; i++)
        eu_send(p, "clicks", -1, click_user[i], click_city[i], BASE + i);
    eu_producer_done(p);
    eu_start(app);
    /* Each click through the input's source, each with a city again through the
     * repartition topic's. */
    eu_wait_processed(app, 2 * NCLICKS - nulls);
    eu_stop(app);

    /* Every city's count went 1, 2, ..., n in one task, although its clicks came from users
     * in several input partitions. */
    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "counted", &out);
    for (int c = 0; c < NCITIES; c++) {
        char city[8];
        int want = 0, parts = 0, seen = 0;
        snprintf(city, sizeof(city), "c%d", c);
        for (int i = 0; i < NCLICKS; i++) {
            if (strcmp(click_city[i], city))
                continue;
            want++;
            parts |= 1 << partition_of(click_user[i], PARTS);
        }
        cr_assert(parts != 1 && parts != 2 && parts != 4, "%s: clicks from one partition", city);
        for (size_t i = 0; i < out.cnt; i++) {
            if (strcmp(out.v[i].key, city))
                continue;
            char n[16];
            snprintf(n, sizeof(n), "%d", ++seen);
            cr_assert_str_eq(out.v[i].value, n, "%s: update %d", city, seen);
        }
        cr_assert_eq(seen, want, "%s: %d updates for %d clicks", city, seen, want);
    }
    eu_recs_free(&out);
    /* The repartition topic: "<application.id>-by-city-repartition", as many partitions as
     * the input, each click with a city in the partition of its city. */
    snprintf(topic, sizeof(topic), "%s-by-city-repartition", id);
    eu_read_topic(rill_app_bootstrap_servers(app), topic, &out);
    cr_assert_eq(out.partition_cnt, PARTS);
    cr_assert_eq(out.cnt, (size_t)(NCLICKS - nulls));
    eu_assert_partitioned_by_key(&out, topic);
    eu_recs_free(&out);
    /* Clicks without a city are dead-lettered once, before the repartition topic. */
    cr_assert_eq(dead_letters(app, id, "null key: "), (size_t)nulls);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(operators_tables, builder_fails_when_group_by_callbacks_missing) {
    rill_topology_t *topo = rill_topology_new();

    cr_assert_null(rill_stream_group_by(rill_stream_from(topo, "in", "in", NULL), "g", NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "key selector"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, NULL, "in", NULL, NULL);
    cr_assert_null(rill_table_group_by(t, "g", NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "selector"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    t = rill_table_from(topo, NULL, "in", NULL, NULL);
    rill_grouped_table_t *g = rill_table_group_by(t, "g", city_of, NULL);
    cr_assert_not_null(g);
    cr_assert_null(rill_grouped_table_aggregate(g, NULL, NULL, NULL, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "subtractor"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    cr_assert_null(rill_table_from(topo, NULL, "in", NULL, ""));
    cr_assert(strstr(rill_topology_error(topo), "store name"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}

/* ---------------------------------------------------------------------------------------- */
/* (b) A table from a topic: updates and tombstones                                          */

#define NROWKEYS 12
#define NROWS 200
#define STORE "rows-store"

static char row_key[NROWS][8], row_value[NROWS][16];
static int row_tomb[NROWS];

/* NROWS records over NROWKEYS keys, one in five a tombstone. */
static void make_rows(void) {
    rng = 5;
    for (int i = 0; i < NROWS; i++) {
        snprintf(row_key[i], sizeof(row_key[i]), "r%u", rnd() % NROWKEYS);
        row_tomb[i] = rnd() % 5 == 0;
        snprintf(row_value[i], sizeof(row_value[i]), "v%d", i);
    }
}

/* The last value of key over the input, or NULL when it has none (never written, or
 * deleted last). */
static const char *last_value(const char *key) {
    const char *v = NULL;

    for (int i = 0; i < NROWS; i++)
        if (!strcmp(row_key[i], key))
            v = row_tomb[i] ? NULL : row_value[i];
    return v;
}

static __thread char probe_key[64], probe_value[64];

/*
 * Reads the table's store for each change: a change of key k must find exactly its value
 * there ([timestamp][value]) or, for a tombstone, nothing; a mismatch is forwarded keyed
 * "!k". A probe, key "?k", forwards k's row as the store holds it (value, or "(absent)").
 */
static int check_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill_kv_t *kv = rill_ctx_kv(ctx, STORE);
    const char *key = rec->key;
    size_t key_len = rec->key_len;
    const void *v;
    size_t len;
    int probe = key_len > 1 && key[0] == '?';
    int rc;

    if (!kv)
        return -1;
    if (probe) {
        key++;
        key_len--;
    }
    rc = rill_kv_get(kv, key, key_len, &v, &len);
    if (rc < 0 || (rc > 0 && len < 8))
        return -1;
    rill_record_t out = *rec;
    out.value_obj = NULL;
    if (probe) {
        snprintf(probe_key, sizeof(probe_key), "%.*s", (int)key_len, key);
        if (rc)
            snprintf(probe_value, sizeof(probe_value), "%.*s", (int)(len - 8), (const char *)v + 8);
        else
            snprintf(probe_value, sizeof(probe_value), "(absent)");
    } else {
        int64_t ts = 0;
        if (rc)
            rill_int64_decode(v, 8, &ts);
        int same = rec->value ? rc && ts == rec->timestamp && len - 8 == rec->value_len &&
                                    !memcmp((const char *)v + 8, rec->value, rec->value_len)
                              : !rc;
        if (same)
            return 0;
        snprintf(probe_key, sizeof(probe_key), "!%.*s", (int)key_len, key);
        snprintf(probe_value, sizeof(probe_value), "mismatch");
    }
    out.key = probe_key;
    out.key_len = strlen(probe_key);
    out.value = probe_value;
    out.value_len = strlen(probe_value);
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static const rill_processor_def_t check_def = {.process = check_process};

static rill_topology_t *rows_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, "rows", "rows", NULL, STORE);
    rill_stream_t *changes = rill_table_to_stream(t, NULL);
    rill_stream_t *checked = rill_stream_process(changes, "check", &check_def, NULL);

    rill_stream_to(changes, NULL, "changes", NULL);
    cr_assert_eq(rill_stream_use_kv_store(checked, STORE), RILL_OK);
    rill_stream_to(checked, NULL, "checked", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

Test(operators_tables, table_holds_last_value_when_updated_and_deleted, .timeout = 120) {
    char errstr[512], id[64], dir[64], dir2[64];

    make_rows();
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "rows", PARTS), 0);
    eu_state_dir_make(dir, sizeof(dir));
    eu_state_dir_make(dir2, sizeof(dir2));
    eu_app_id(id, sizeof(id), "tables-source");
    const char *extra[] = {"bootstrap.servers",          bootstrap, "state.dir", dir,
                           "statestore.cache.max.bytes", "0",       NULL};
    const char *extra2[] = {"bootstrap.servers",          bootstrap, "state.dir", dir2,
                            "statestore.cache.max.bytes", "0",       NULL};

    /* Run 1: the rows, and a record without a key. */
    rill_app_t *app = eu_app_new(rows_topology(), id, extra);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < NROWS; i++)
        eu_send(p, "rows", -1, row_key[i], row_tomb[i] ? NULL : row_value[i], BASE + i);
    eu_send(p, "rows", 0, NULL, "keyless", BASE);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NROWS + 1);
    eu_stop(app);
    cr_assert_eq(dead_letters(app, id, "null key: "), 1);
    rill_app_destroy(app);

    /* The change stream is the input, key by key, in order, with its timestamps. */
    eu_recs_t out;
    eu_read_topic(bootstrap, "changes", &out);
    cr_assert_eq(out.cnt, NROWS);
    for (int k = 0; k < NROWKEYS; k++) {
        char key[8];
        size_t o = 0;
        snprintf(key, sizeof(key), "r%d", k);
        for (int i = 0; i < NROWS; i++) {
            if (strcmp(row_key[i], key))
                continue;
            while (o < out.cnt && strcmp(out.v[o].key, key))
                o++;
            cr_assert_lt(o, out.cnt, "%s: change of input %d missing", key, i);
            if (row_tomb[i])
                cr_assert_null(out.v[o].value, "%s: input %d is a tombstone", key, i);
            else
                cr_assert_str_eq(out.v[o].value, row_value[i], "%s: input %d", key, i);
            cr_assert_eq(out.v[o].timestamp, BASE + i);
            o++;
        }
    }
    eu_recs_free(&out);
    /* The store agreed with every change as it was made. */
    eu_read_topic(bootstrap, "checked", &out);
    cr_assert_eq(out.cnt, 0, "first mismatch: %s", out.cnt ? out.v[0].key : "");
    eu_recs_free(&out);
    /* Run 2, a second app with an empty state directory: its store is restored from the
     * changelog, and probes sent to each key's partition read it back. */
    app = eu_app_new(rows_topology(), id, extra2);
    p = eu_producer(app);
    for (int k = 0; k <= NROWKEYS; k++) {
        char key[8], probe[16];
        snprintf(key, sizeof(key), "r%d", k); /* r<NROWKEYS> was never written */
        snprintf(probe, sizeof(probe), "?%s", key);
        eu_send(p, "rows", partition_of(key, PARTS), probe, "probe", BASE + NROWS);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NROWKEYS + 1);
    eu_stop(app);
    rill_app_destroy(app);
    eu_read_topic(bootstrap, "checked", &out);
    cr_assert_eq(out.cnt, NROWKEYS + 1);
    for (size_t i = 0; i < out.cnt; i++) {
        const char *want = last_value(out.v[i].key);
        cr_assert_str_eq(out.v[i].value, want ? want : "(absent)", "%s", out.v[i].key);
    }
    eu_recs_free(&out);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir);
    eu_state_dir_remove(dir2);
}

/* ---------------------------------------------------------------------------------------- */
/* (c) A table grouped anew: users (key) with "region,amount" rows, summed, counted and     */
/* listed per region with a subtractor                                                      */

#define NUSER 20
#define NREGION 5
#define NCHG 240

static const char *const regions[NREGION] = {"north", "south", "east", "west", "centre"};

typedef struct chg_s {
    char user[8];
    char value[24]; /* "region,amount", "nowhere" (no region), or "" for a tombstone */
    int tomb;
} chg_t;

static chg_t chg[NCHG];

/* Changes of NUSER users' rows: mostly moves between regions and new amounts, one in seven a
 * deletion, one in 15 a row without a region. */
static void make_changes(void) {
    rng = 3;
    for (int i = 0; i < NCHG; i++) {
        chg_t *c = &chg[i];
        uint32_t r = rnd() % 105;
        snprintf(c->user, sizeof(c->user), "u%u", rnd() % NUSER);
        c->tomb = r < 15;
        if (c->tomb)
            c->value[0] = '\0';
        else if (r < 22)
            snprintf(c->value, sizeof(c->value), "nowhere");
        else
            snprintf(c->value, sizeof(c->value), "%s,%u", regions[rnd() % NREGION],
                     1 + rnd() % 100);
    }
}

/* Row (user, "region,amount") → (region, "user:amount"); a row without a region has none. */
static int region_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    const char *v = rec->value, *comma = memchr(v, ',', rec->value_len);
    char selected[64];

    if (!comma) {
        out->key_null = 1;
        return 0;
    }
    int len =
        snprintf(selected, sizeof(selected), "%.*s:%.*s", (int)rec->key_len, (const char *)rec->key,
                 (int)(rec->value_len - (size_t)(comma + 1 - v)), comma + 1);
    return rill_buf_append(out->key, v, (size_t)(comma - v)) ||
           rill_buf_append(out->value, selected, (size_t)len);
}

static int64_t text_num(const void *p, size_t len) {
    char text[32];

    len = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    return atoll(text);
}

static int64_t amount_of(const rill_record_t *rec) {
    const char *colon = memchr(rec->value, ':', rec->value_len);
    const char *v = rec->value;

    return colon ? text_num(colon + 1, rec->value_len - (size_t)(colon + 1 - v)) : 0;
}

static int put_num(rill_buf_t *out, int64_t n) {
    char text[32];

    return rill_buf_append(out, text, (size_t)snprintf(text, sizeof(text), "%lld", (long long)n));
}

static int sum_init(rill_buf_t *out, void *opaque) {
    return put_num(out, 0);
}

static int sum_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                   void *opaque) {
    return put_num(out, text_num(agg, agg_len) + amount_of(rec));
}

static int sum_subtract(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                        void *opaque) {
    return put_num(out, text_num(agg, agg_len) - amount_of(rec));
}

/* Members: "u3,u7," — users appended by the adder, taken out by the subtractor; taking out a
 * user who is not there leaves the mark "-u3,". */
static int members_init(rill_buf_t *out, void *opaque) {
    return 0;
}

static void members_edit(const char *agg, size_t agg_len, const char *user, size_t user_len,
                         int add, rill_buf_t *out) {
    char token[16];
    size_t tlen = (size_t)snprintf(token, sizeof(token), "%.*s,", (int)user_len, user);

    for (size_t i = 0, len; !add && i < agg_len; i += len) {
        const char *end = memchr(agg + i, ',', agg_len - i);
        len = end ? (size_t)(end - (agg + i)) + 1 : agg_len - i;
        if (len == tlen && !memcmp(agg + i, token, tlen)) {
            rill_buf_append(out, agg, i);
            rill_buf_append(out, agg + i + tlen, agg_len - i - tlen);
            return;
        }
    }
    rill_buf_append(out, agg, agg_len);
    if (!add)
        rill_buf_append(out, "-", 1);
    rill_buf_append(out, token, tlen);
}

static int members_change(const rill_record_t *rec, const void *agg, size_t agg_len,
                          rill_buf_t *out, int add) {
    const char *colon = memchr(rec->value, ':', rec->value_len);

    if (!colon)
        return 1;
    members_edit(agg, agg_len, rec->value, (size_t)(colon - (const char *)rec->value), add, out);
    return 0;
}

static int members_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                       void *opaque) {
    return members_change(rec, agg, agg_len, out, 1);
}

static int members_subtract(const rill_record_t *rec, const void *agg, size_t agg_len,
                            rill_buf_t *out, void *opaque) {
    return members_change(rec, agg, agg_len, out, 0);
}

static rill_topology_t *regions_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *users = rill_table_from(topo, "users", "users", NULL, "users-store");
    rill_grouped_table_t *g = rill_table_group_by(users, "by-region", region_of, NULL);
    rill_table_t *sums =
        rill_grouped_table_aggregate(g, "region-sums", sum_init, sum_add, sum_subtract, NULL);
    rill_table_t *members =
        rill_grouped_table_aggregate(g, NULL, members_init, members_add, members_subtract, NULL);
    rill_stream_t *counts =
        rill_table_to_stream(rill_grouped_table_count(g, "region-counts"), NULL);

    rill_stream_to(rill_table_to_stream(sums, NULL), NULL, "sums", NULL);
    rill_stream_to(rill_table_to_stream(members, NULL), NULL, "members", NULL);
    rill_stream_to(rill_stream_map_values(counts, NULL, show_count, NULL), NULL, "counts", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* The reference: each region's updates (sum, count, members) in the order the changes make
 * them, as one task reading all the changes in order would. */
typedef struct region_ref_s {
    int64_t sum, count;
    rill_buf_t members;
    eu_strs_t sums, counts, lists; /* every update, in order */
} region_ref_t;

typedef struct regions_ref_s {
    region_ref_t r[NREGION];
    int records;   /* change records through the repartition topic */
    int no_region; /* rows dead-lettered for having no region */
} regions_ref_t;

static int region_idx(const char *value) {
    for (int r = 0; r < NREGION; r++)
        if (!strncmp(value, regions[r], strlen(regions[r])) && value[strlen(regions[r])] == ',')
            return r;
    return -1;
}

static void ref_apply(region_ref_t *r, const char *user, int64_t amount, int add) {
    rill_buf_t next = {0};

    r->sum += add ? amount : -amount;
    r->count += add ? 1 : -1;
    members_edit(r->members.data ? r->members.data : "", r->members.len, user, strlen(user), add,
                 &next);
    rill_buf_free(&r->members);
    r->members = next;
}

static void ref_emit(region_ref_t *r) {
    eu_strs_add(&r->sums, "%lld", (long long)r->sum);
    eu_strs_add(&r->counts, "%lld", (long long)r->count);
    eu_strs_add(&r->lists, "%.*s", (int)r->members.len, r->members.data ? r->members.data : "");
}

static void make_reference(regions_ref_t *ref) {
    const char *row[NUSER] = {0}; /* each user's current value */

    memset(ref, 0, sizeof(*ref));
    for (int i = 0; i < NCHG; i++) {
        int u = atoi(chg[i].user + 1);
        const char *old = row[u], *nw = chg[i].tomb ? NULL : chg[i].value;
        int ro = old ? region_idx(old) : -1, rn = nw ? region_idx(nw) : -1;
        int64_t ao = ro >= 0 ? atoll(strchr(old, ',') + 1) : 0;
        int64_t an = rn >= 0 ? atoll(strchr(nw, ',') + 1) : 0;
        row[u] = nw;
        ref->no_region += nw && rn < 0;
        if (ro >= 0 && ro == rn) {
            ref_apply(&ref->r[ro], chg[i].user, ao, 0);
            ref_apply(&ref->r[ro], chg[i].user, an, 1);
            ref_emit(&ref->r[ro]);
            ref->records++;
            continue;
        }
        if (ro >= 0) {
            ref_apply(&ref->r[ro], chg[i].user, ao, 0);
            ref_emit(&ref->r[ro]);
            ref->records++;
        }
        if (rn >= 0) {
            ref_apply(&ref->r[rn], chg[i].user, an, 1);
            ref_emit(&ref->r[rn]);
            ref->records++;
        }
    }
}

static void free_reference(regions_ref_t *ref) {
    for (int r = 0; r < NREGION; r++) {
        rill_buf_free(&ref->r[r].members);
        eu_strs_free(&ref->r[r].sums);
        eu_strs_free(&ref->r[r].counts);
        eu_strs_free(&ref->r[r].lists);
    }
}

/* A members list with no user twice and no user taken out who was not in. */
static void assert_members_sane(const char *list, const char *region) {
    char copy[1024], *save = NULL;
    const char *seen[NUSER * 2];
    int n = 0;

    cr_assert_null(strchr(list, '-'), "%s: a user taken out who was not in: %s", region, list);
    snprintf(copy, sizeof(copy), "%s", list);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        for (int i = 0; i < n; i++)
            cr_assert(strcmp(seen[i], t), "%s: %s counted twice: %s", region, t, list);
        cr_assert_lt(n, NUSER * 2);
        seen[n++] = t;
    }
}

/* The members of a list as a sorted set, for comparing lists built in different orders. */
static void members_set(const char *list, eu_strs_t *set) {
    char copy[1024], *save = NULL;

    snprintf(copy, sizeof(copy), "%s", list);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        eu_strs_add(set, "%s", t);
}

/*
 * Runs the regions topology over the changes. one_partition: every change goes to partition 0
 * of the users topic, so one task makes every change record in order and each region's
 * updates must be the reference's exactly; else the changes are partitioned by user, and
 * what is fixed is each region's number of updates, its final sum, count and members, and
 * that no update ever lists a user twice.
 */
static void run_regions(const char *tag, int one_partition) {
    char id[64], dir[64];
    regions_ref_t ref;
    static const char *const topics[] = {"sums", "counts", "members"};
    int parts = 0;

    make_changes();
    make_reference(&ref);
    for (int r = 0; r < NREGION; r++)
        parts |= 1 << partition_of(regions[r], PARTS);
    cr_assert(parts != 1 && parts != 2 && parts != 4, "the regions share one partition");
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, "statestore.cache.max.bytes", "0", NULL};
    eu_app_id(id, sizeof(id), tag);
    rill_app_t *app = eu_app_new(regions_topology(), id, extra);
    eu_create_topic(app, "users", PARTS);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < NCHG; i++)
        eu_send(p, "users", one_partition ? 0 : -1, chg[i].user, chg[i].tomb ? NULL : chg[i].value,
                BASE + 10 * i);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NCHG + ref.records);
    eu_stop(app);

    for (int t = 0; t < 3; t++) {
        eu_recs_t out;
        eu_read_topic(rill_app_bootstrap_servers(app), topics[t], &out);
        for (int r = 0; r < NREGION; r++) {
            const region_ref_t *want = &ref.r[r];
            const eu_strs_t *seq = t == 0 ? &want->sums : t == 1 ? &want->counts : &want->lists;
            const char *last = NULL;
            size_t n = 0;
            for (size_t i = 0; i < out.cnt; i++) {
                if (strcmp(out.v[i].key, regions[r]))
                    continue;
                last = out.v[i].value ? out.v[i].value : "";
                if (t == 2)
                    assert_members_sane(last, regions[r]);
                if (one_partition) {
                    cr_assert_lt(n, seq->cnt, "%s: %s has more updates than changes", topics[t],
                                 regions[r]);
                    cr_assert_str_eq(last, seq->v[n], "%s: update %zu of %s", topics[t], n,
                                     regions[r]);
                }
                n++;
            }
            cr_assert_eq(n, seq->cnt, "%s: %s has %zu updates, want %zu", topics[t], regions[r], n,
                         seq->cnt);
            if (!n)
                continue;
            if (t < 2) {
                cr_assert_str_eq(last, seq->v[n - 1], "%s: final value of %s", topics[t],
                                 regions[r]);
                continue;
            }
            eu_strs_t got = {0}, set = {0};
            members_set(last, &got);
            members_set(seq->v[n - 1], &set);
            eu_assert_same_set(&got, &set, regions[r]);
            eu_strs_free(&got);
            eu_strs_free(&set);
        }
        eu_recs_free(&out);
    }
    /* Rows without a region are dead-lettered once each; the table still took them. */
    cr_assert_eq(dead_letters(app, id, "null key: "), (size_t)ref.no_region);
    free_reference(&ref);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(operators_tables, region_updates_match_reference_when_users_move, .timeout = 120) {
    run_regions("tables-moves-ordered", 1);
}

Test(operators_tables, region_totals_match_reference_when_users_in_partitions, .timeout = 120) {
    run_regions("tables-moves", 0);
}

/* ---------------------------------------------------------------------------------------- */
/* An aggregation's table grouped anew: clicks counted per user, then users per count        */

/* Row (user, count) → (count as text, user). */
static int bucket_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char bucket[32];
    int64_t n;

    if (rill_int64_decode(rec->value, rec->value_len, &n))
        return 1;
    return rill_buf_append(out->key, bucket,
                           (size_t)snprintf(bucket, sizeof(bucket), "%lld", (long long)n)) ||
           rill_buf_append(out->value, rec->key, rec->key_len);
}

static rill_topology_t *histogram_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *clicks = rill_stream_from(topo, "clicks", "clicks", NULL);
    rill_table_t *per_user = rill_grouped_count(rill_stream_group_by_key(clicks, NULL), NULL);
    rill_grouped_table_t *g = rill_table_group_by(per_user, "by-count", bucket_of, NULL);
    rill_stream_t *users = rill_table_to_stream(rill_grouped_table_count(g, NULL), NULL);

    rill_stream_to(rill_stream_map_values(users, NULL, show_count, NULL), NULL, "histogram", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/*
 * Each click moves its user from bucket n - 1 to bucket n of the histogram of clicks per
 * user: the count table hands its previous count to the grouping like a table read from a
 * topic does. Each bucket ends with the number of users with that many clicks (0 for those
 * all users went past), after one update per user entering or leaving it.
 */
Test(operators_tables, histogram_matches_reference_when_count_table_grouped_anew, .timeout = 90) {
    char id[64], dir[64];
    int clicks_of[NUSERS] = {0}, updates[NCLICKS + 2] = {0}, records = 0;

    make_clicks();
    for (int i = 0; i < NCLICKS; i++) {
        int n = ++clicks_of[atoi(click_user[i] + 1)];
        updates[n]++;
        records++;
        if (n > 1) {
            updates[n - 1]++;
            records++;
        }
    }
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, "statestore.cache.max.bytes", "0", NULL};
    eu_app_id(id, sizeof(id), "tables-histogram");
    rill_app_t *app = eu_app_new(histogram_topology(), id, extra);
    eu_create_topic(app, "clicks", PARTS);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < NCLICKS; i++)
        eu_send(p, "clicks", -1, click_user[i], click_city[i], BASE + i);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, NCLICKS + records);
    eu_stop(app);

    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "histogram", &out);
    for (int n = 1; n <= NCLICKS; n++) {
        char key[16], want[16];
        const char *last = NULL;
        int users = 0, seen = 0;
        snprintf(key, sizeof(key), "%d", n);
        for (int u = 0; u < NUSERS; u++)
            users += clicks_of[u] == n;
        for (size_t i = 0; i < out.cnt; i++)
            if (!strcmp(out.v[i].key, key)) {
                last = out.v[i].value;
                seen++;
            }
        cr_assert_eq(seen, updates[n], "bucket %d: %d updates, want %d", n, seen, updates[n]);
        if (!seen)
            continue;
        snprintf(want, sizeof(want), "%d", users);
        cr_assert_str_eq(last, want, "bucket %d", n);
    }
    cr_assert_eq(out.cnt, (size_t)records);
    eu_recs_free(&out);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* (d) The description                                                                      */

static void describe_topology(rill_topology_t *topo) {
    rill_table_t *users = rill_table_from(topo, NULL, "users", NULL, NULL);
    rill_grouped_table_t *g = rill_table_group_by(users, "by-region", region_of, NULL);
    rill_stream_to(rill_table_to_stream(rill_grouped_table_count(g, NULL), NULL), NULL,
                   "region-counts", NULL);
    rill_stream_t *clicks = rill_stream_from(topo, "clicks", "clicks", NULL);
    rill_grouped_count(rill_stream_group_by(clicks, NULL, city_of, NULL), "city-counts");
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
}

static const char described[] =
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: KSTREAM-SOURCE-0000000000 (topics: [users])\n"
    "      --> KTABLE-SOURCE-0000000001\n"
    "    Processor: KTABLE-SOURCE-0000000001 (stores: [users-STATE-STORE-0000000001])\n"
    "      --> KTABLE-SELECT-0000000002\n"
    "      <-- KSTREAM-SOURCE-0000000000\n"
    "    Processor: KTABLE-SELECT-0000000002 (stores: [])\n"
    "      --> by-region-repartition-sink\n"
    "      <-- KTABLE-SOURCE-0000000001\n"
    "    Sink: by-region-repartition-sink (topic: %sby-region-repartition)\n"
    "      <-- KTABLE-SELECT-0000000002\n"
    "   Sub-topology: 1\n"
    "    Source: by-region-repartition-source (topics: [%sby-region-repartition])\n"
    "      --> KTABLE-AGGREGATE-0000000005\n"
    "    Processor: KTABLE-AGGREGATE-0000000005 (stores: "
    "[KTABLE-AGGREGATE-STATE-STORE-0000000005])\n"
    "      --> KTABLE-TOSTREAM-0000000006\n"
    "      <-- by-region-repartition-source\n"
    "    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])\n"
    "      --> KSTREAM-SINK-0000000007\n"
    "      <-- KTABLE-AGGREGATE-0000000005\n"
    "    Sink: KSTREAM-SINK-0000000007 (topic: region-counts)\n"
    "      <-- KTABLE-TOSTREAM-0000000006\n"
    "   Sub-topology: 2\n"
    "    Source: clicks (topics: [clicks])\n"
    "      --> KSTREAM-KEY-SELECT-0000000009\n"
    "    Processor: KSTREAM-KEY-SELECT-0000000009 (stores: [])\n"
    "      --> KSTREAM-REPARTITION-0000000010-repartition-sink\n"
    "      <-- clicks\n"
    "    Sink: KSTREAM-REPARTITION-0000000010-repartition-sink "
    "(topic: %sKSTREAM-REPARTITION-0000000010-repartition)\n"
    "      <-- KSTREAM-KEY-SELECT-0000000009\n"
    "   Sub-topology: 3\n"
    "    Source: KSTREAM-REPARTITION-0000000010-repartition-source "
    "(topics: [%sKSTREAM-REPARTITION-0000000010-repartition])\n"
    "      --> KSTREAM-GROUPBYKEY-0000000012\n"
    "    Processor: KSTREAM-GROUPBYKEY-0000000012 (stores: [])\n"
    "      --> KSTREAM-AGGREGATE-0000000013\n"
    "      <-- KSTREAM-REPARTITION-0000000010-repartition-source\n"
    "    Processor: KSTREAM-AGGREGATE-0000000013 (stores: [city-counts])\n"
    "      <-- KSTREAM-GROUPBYKEY-0000000012\n";

/* Compares line by line, so that a failure shows the first line that differs. */
static void assert_text(const char *got, const char *want) {
    int line = 1;
    const char *g = got, *w = want;

    while (*g && *w) {
        size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");
        cr_assert(gl == wl && !memcmp(g, w, gl), "line %d differs:\n got: %.*s\nwant: %.*s\n", line,
                  (int)gl, g, (int)wl, w);
        g += gl + (g[gl] == '\n');
        w += wl + (w[wl] == '\n');
        line++;
    }
    cr_assert_str_eq(got, want, "texts differ in length at line %d", line);
}

static void assert_described(const rill_topology_t *topo, const char *prefix) {
    rill_buf_t out = {0};
    char want[4096];

    snprintf(want, sizeof(want), described, prefix, prefix, prefix, prefix);
    cr_assert_eq(rill_topology_describe(topo, &out), RILL_OK);
    cr_assert_eq(rill_buf_append(&out, "", 1), 0);
    assert_text(out.data, want);
    rill_buf_free(&out);
}

/* Before an app takes it the repartition topics have their bare names; the app prefixes
 * them with its application.id. */
Test(operators_tables, describe_lists_repartition_topics_and_stores_when_grouped_anew) {
    rill_topology_t *topo = rill_topology_new();

    describe_topology(topo);
    assert_described(topo, "");
    rill_app_t *app = eu_app_new(topo, "describe-app", NULL);
    assert_described(app->topo, "describe-app-");
    rill_app_destroy(app);
}
