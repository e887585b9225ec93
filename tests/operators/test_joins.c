/*
 * test_joins.c — component tests of joins (operators/join_*.c) in apps on the embedded broker:
 * stream-stream windowed joins (inner, left, outer) on crafted edge cases — window bounds
 * included on both sides and not one millisecond beyond, duplicates of one key and time,
 * out-of-order records within grace, late records dead-lettered, unmatched records emitted
 * exactly once and only when their window closes (checked at a midpoint, across a restart);
 * stream-table joins with table updates before and after stream records, tombstones, and a
 * grace wait ending in a join or in a miss; table-table joins following a random sequence of
 * updates and deletions on both sides, change by change, against a reference; and the app
 * refusing join inputs that are not co-partitioned.
 *
 * The task processes its partitions in timestamp order, so the stream-stream tests read both
 * sides from one topic (split by a filter on the value's "L:"/"R:" prefix), where records are
 * processed in offset order and may be shuffled at will. Each app test takes about 5 s (the
 * mock cluster's first group join).
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#define BASE 1700000000000LL

/* "key=value@ms" (timestamp relative to BASE) of every record of topic. */
static void read_out(const char *bootstrap, const char *topic, eu_strs_t *l) {
    eu_recs_t out;

    eu_read_topic(bootstrap, topic, &out);
    for (size_t i = 0; i < out.cnt; i++)
        eu_strs_add(l, "%s=%s@%lld", out.v[i].key ? out.v[i].key : "(null)",
                    out.v[i].value ? out.v[i].value : "(null)",
                    (long long)(out.v[i].timestamp - BASE));
    eu_recs_free(&out);
}

/* "<left>+<right>": each side's value without its "L:"/"R:" prefix, or "null". */
static int join_values(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                       void *opaque) {
    const rill_record_t *side[2] = {left, right};

    for (int i = 0; i < 2; i++) {
        const rill_record_t *r = side[i];
        if (i && rill_buf_append(out, "+", 1))
            return 1;
        if (!r || !r->value) {
            if (rill_buf_append(out, "null", 4))
                return 1;
            continue;
        }
        size_t skip = r->value_len > 2 && ((const char *)r->value)[1] == ':' ? 2 : 0;
        if (rill_buf_append(out, (const char *)r->value + skip, r->value_len - skip))
            return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Stream-stream                                                                            */

static int is_left(const rill_record_t *rec, void *opaque) {
    return rec->value_len > 2 && !memcmp(rec->value, "L:", 2);
}

static int is_right(const rill_record_t *rec, void *opaque) {
    return rec->value_len > 2 && !memcmp(rec->value, "R:", 2);
}

static rill_topology_t *ss_topology(const rill_join_spec_t *spec) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "in", NULL);
    rill_stream_t *l = rill_stream_filter(in, "lefts", is_left, NULL);
    rill_stream_t *r = rill_stream_filter(in, "rights", is_right, NULL);

    rill_stream_to(rill_stream_join(l, r, "j", spec, join_values, NULL), NULL, "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

typedef struct in_s {
    const char *key, *value;
    int64_t at;
} in_t;

/* Window before 100, after 50, grace 1000; processed in this (offset) order. */
/* clang-format off */
static const in_t ss_input[] = {
    {"a", "L:L1", 1000},
    {"a", "R:R1", 900},  /* t - before: joins (out of order, within grace) */
    {"a", "R:R2", 899},  /* one below: does not */
    {"a", "R:R3", 1050}, /* t + after: joins */
    {"a", "R:R4", 1051}, /* one above: does not */
    {"b", "R:R5", 2000}, /* left records in [2000 - after, 2000 + before] join it */
    {"b", "L:Lb1", 1950},
    {"b", "L:Lb2", 1949},
    {"b", "L:Lb3", 2100},
    {"b", "L:Lb4", 2101},
    {"a", "R:Rlate", 1000}, /* late: 1000 < 2101 - 1000; would have joined L1 */
    {"d", "L:Ld1", 3000},   /* duplicates of one key and time both join */
    {"d", "L:Ld2", 3000},
    {"d", "R:Rd", 3000},
    {"z", "L:flush", 100000}, /* closes every window above, not its own */
};
/* clang-format on */

static void ss_run(rill_join_kind_t kind, const char *tag, const char *const *want, size_t nwant) {
    rill_join_spec_t spec = {.kind = kind, .before_ms = 100, .after_ms = 50, .grace_ms = 1000};
    const size_t n = sizeof(ss_input) / sizeof(ss_input[0]);
    char id[64], dir[64];
    eu_strs_t got = {0}, exp = {0}, dead = {0};

    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), tag);
    rill_app_t *app = eu_app_new(ss_topology(&spec), id, extra);
    eu_create_topic(app, "in", 1);
    rill_producer_t *p = eu_producer(app);
    for (size_t i = 0; i < n; i++)
        eu_send(p, "in", 0, ss_input[i].key, ss_input[i].value, BASE + ss_input[i].at);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, (int64_t)n);
    eu_stop(app);
    read_out(rill_app_bootstrap_servers(app), "out", &got);
    for (size_t i = 0; i < nwant; i++)
        eu_strs_add(&exp, "%s", want[i]);
    eu_assert_same_set(&got, &exp, tag);
    cr_assert_eq(eu_dead_letters(rill_app_bootstrap_servers(app), id, "late: ", &dead), 1);
    cr_assert_str_eq(dead.v[0], "R:Rlate");
    cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), 1);
    eu_strs_free(&got);
    eu_strs_free(&exp);
    eu_strs_free(&dead);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

#define SS_MATCHES                                                                                 \
    "a=L1+R1@1000", "a=L1+R3@1050", "b=Lb1+R5@2000", "b=Lb3+R5@2100", "d=Ld1+Rd@3000",             \
        "d=Ld2+Rd@3000"

Test(operators_joins, stream_inner_join_bounds_inclusive_when_records_out_of_order, .timeout = 90) {
    static const char *const want[] = {SS_MATCHES};

    ss_run(RILL_JOIN_INNER, "join-ss-inner", want, sizeof(want) / sizeof(want[0]));
}

Test(operators_joins, stream_left_join_emits_unmatched_once_when_window_closed, .timeout = 90) {
    static const char *const want[] = {SS_MATCHES, "b=Lb2+null@1949", "b=Lb4+null@2101"};

    ss_run(RILL_JOIN_LEFT, "join-ss-left", want, sizeof(want) / sizeof(want[0]));
}

Test(operators_joins, stream_outer_join_emits_unmatched_of_both_sides_when_closed, .timeout = 90) {
    static const char *const want[] = {SS_MATCHES, "b=Lb2+null@1949", "b=Lb4+null@2101",
                                       "a=null+R2@899", "a=null+R4@1051"};

    ss_run(RILL_JOIN_OUTER, "join-ss-outer", want, sizeof(want) / sizeof(want[0]));
}

/*
 * No null result before the window closes, and none after a match, across a restart: the
 * first run stops with two left records whose windows are open (no null result for them in
 * the output), the second (fresh state directory: the outer store comes back from its
 * changelog) matches one and closes the other's window.
 */
Test(operators_joins, stream_left_join_no_early_null_when_stopped_midway_and_restarted,
     .timeout = 120) {
    static const in_t runs[2][3] = {
        {{"c", "L:L0", 500}, {"a", "L:L1", 1000}, {"b", "L:L2", 1100}},
        {{"a", "R:Ra", 1040}, {"z", "L:flush", 5000}, {NULL, NULL, 0}},
    };
    rill_join_spec_t spec = {
        .kind = RILL_JOIN_LEFT, .before_ms = 50, .after_ms = RILL_JOIN_SYMMETRIC, .grace_ms = 100};
    char errstr[512], id[64], dir[2][64];
    eu_strs_t got = {0}, exp = {0};

    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 1), 0);
    eu_app_id(id, sizeof(id), "join-ss-midway");
    for (int run = 0; run < 2; run++) {
        int n = run ? 2 : 3;
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(ss_topology(&spec), id, extra);
        rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
        cr_assert_not_null(p, "%s", errstr);
        for (int i = 0; i < n; i++)
            eu_send(p, "in", 0, runs[run][i].key, runs[run][i].value, BASE + runs[run][i].at);
        eu_producer_done(p);
        eu_start(app);
        eu_wait_processed(app, n);
        eu_stop(app);
        read_out(bootstrap, "out", &got);
        /* Run 1, stream time 1100: L0's window closed at 500 + 50 + 100; L1's and L2's are
         * open. Run 2: Ra matches L1; the flush closes L2's window. */
        eu_strs_add(&exp, "c=L0+null@500");
        if (run) {
            eu_strs_add(&exp, "a=L1+Ra@1040");
            eu_strs_add(&exp, "b=L2+null@1100");
        }
        eu_assert_same_set(&got, &exp, run ? "after run 2" : "after run 1");
        eu_strs_free(&got);
        eu_strs_free(&exp);
        cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
        rill_app_destroy(app);
    }
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir[0]);
    eu_state_dir_remove(dir[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Stream-table                                                                             */

typedef struct tin_s {
    const char *topic, *key, *value; /* value NULL: a tombstone */
    int64_t at;
} tin_t;

static rill_topology_t *st_topology(rill_join_kind_t kind, int64_t grace_ms) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *orders = rill_stream_from(topo, "orders", "orders", NULL);
    rill_table_t *users = rill_table_from(topo, "users", "users", NULL, "users-store");

    rill_stream_to(
        rill_stream_table_join(orders, users, "enrich", kind, grace_ms, join_values, NULL), NULL,
        "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* Runs the join over input (processed in timestamp order) and checks the output and the dead
 * letters (values, reason "no table row within grace: "). */
static void st_run(rill_join_kind_t kind, int64_t grace_ms, const char *tag, const tin_t *in,
                   size_t n, const char *const *want, size_t nwant, const char *const *dead,
                   size_t ndead) {
    char id[64], dir[64];
    eu_strs_t got = {0}, exp = {0};

    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), tag);
    rill_app_t *app = eu_app_new(st_topology(kind, grace_ms), id, extra);
    eu_create_topic(app, "orders", 1);
    eu_create_topic(app, "users", 1);
    rill_producer_t *p = eu_producer(app);
    for (size_t i = 0; i < n; i++)
        eu_send(p, in[i].topic, 0, in[i].key, in[i].value, BASE + in[i].at);
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, (int64_t)n);
    eu_stop(app);
    read_out(rill_app_bootstrap_servers(app), "out", &got);
    int64_t unmatched = (int64_t)ndead; /* inner: dead-lettered; left: joined with null */
    for (size_t i = 0; i < nwant; i++) {
        eu_strs_add(&exp, "%s", want[i]);
        unmatched += strstr(want[i], "+null@") != NULL;
    }
    eu_assert_same_set(&got, &exp, tag);
    eu_assert_node_sample(app, id, "rill_join_unmatched_total", "enrich-stream", unmatched);
    eu_strs_free(&got);
    eu_strs_free(&exp);
    eu_dead_letters(rill_app_bootstrap_servers(app), id, "no table row within grace: ", &got);
    for (size_t i = 0; i < ndead; i++)
        eu_strs_add(&exp, "%s", dead[i]);
    eu_assert_same_set(&got, &exp, "dead letters");
    eu_strs_free(&got);
    eu_strs_free(&exp);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* Without grace: each order meets the row of its user at its time. */
/* clang-format off */
static const tin_t st_updates[] = {
    {"orders", "u3", "o0", 50}, /* before any row */
    {"users", "u1", "alice", 100},
    {"users", "u2", "bob", 110},
    {"orders", "u1", "o1", 200},
    {"orders", "u2", "o2", 210},
    {"users", "u1", "alicia", 300},
    {"users", "u2", NULL, 310}, /* bob leaves */
    {"orders", "u1", "o3", 400},
    {"orders", "u2", "o4", 410}, /* after the tombstone */
};
/* clang-format on */

Test(operators_joins, stream_table_inner_join_follows_updates_when_no_grace, .timeout = 90) {
    static const char *const want[] = {"u1=o1+alice@200", "u2=o2+bob@210", "u1=o3+alicia@400"};
    static const char *const dead[] = {"o0", "o4"};

    st_run(RILL_JOIN_INNER, 0, "join-st-inner", st_updates, 9, want, 3, dead, 2);
}

Test(operators_joins, stream_table_left_join_gives_null_when_row_absent, .timeout = 90) {
    static const char *const want[] = {"u3=o0+null@50", "u1=o1+alice@200", "u2=o2+bob@210",
                                       "u1=o3+alicia@400", "u2=o4+null@410"};

    st_run(RILL_JOIN_LEFT, 0, "join-st-left", st_updates, 9, want, 5, NULL, 0);
}

/* Grace 100: an order waits for its user's row while stream time <= its time + 100. */
/* clang-format off */
static const tin_t st_grace[] = {
    {"orders", "u1", "o1", 100},    /* waits */
    {"users", "u1", "alice", 150},  /* arrives in time: o1 joins */
    {"orders", "u2", "o2", 200},    /* waits in vain */
    {"users", "u1", "alicia", 250},
    {"orders", "u1", "o4", 260},    /* a row: joins at once */
    {"orders", "u9", "o3", 400},    /* stream time 400 > 200 + 100: o2's wait ends */
    {"users", "u2", "bob", 450},    /* too late for o2 */
    {"orders", "u8", "o5", 460},    /* its wait, and o3's, still open at the end */
};
/* clang-format on */

Test(operators_joins, stream_table_left_join_waits_for_row_within_grace, .timeout = 90) {
    static const char *const want[] = {"u1=o1+alice@100", "u1=o4+alicia@260", "u2=o2+null@200"};

    st_run(RILL_JOIN_LEFT, 100, "join-st-grace-left", st_grace, 8, want, 3, NULL, 0);
}

Test(operators_joins, stream_table_inner_join_dead_letters_when_grace_ends_without_row,
     .timeout = 90) {
    static const char *const want[] = {"u1=o1+alice@100", "u1=o4+alicia@260"};
    static const char *const dead[] = {"o2"};

    st_run(RILL_JOIN_INNER, 100, "join-st-grace-inner", st_grace, 8, want, 2, dead, 1);
}

/*
 * A waiting order survives a restart from the changelogs alone: run 1 stops while o1 waits
 * for its user's row; run 2 (fresh state directory, so the join's buffer store comes back
 * from its changelog, index entries included) gets the row and must join o1 with it.
 */
Test(operators_joins, stream_table_waiting_record_joins_after_restore_from_changelog,
     .timeout = 120) {
    static const tin_t runs[2][2] = {
        {{"orders", "u1", "o1", 100}, {"orders", "u2", "o2", 120}},
        {{"users", "u1", "alice", 150}, {NULL, NULL, NULL, 0}},
    };
    char errstr[512], id[64], dir[2][64];
    eu_strs_t got = {0}, exp = {0};

    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "orders", 1), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "users", 1), 0);
    eu_app_id(id, sizeof(id), "join-st-restore");
    for (int run = 0; run < 2; run++) {
        int n = run ? 1 : 2;
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(st_topology(RILL_JOIN_LEFT, 1000), id, extra);
        rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
        cr_assert_not_null(p, "%s", errstr);
        for (int i = 0; i < n; i++)
            eu_send(p, runs[run][i].topic, 0, runs[run][i].key, runs[run][i].value,
                    BASE + runs[run][i].at);
        eu_producer_done(p);
        eu_start(app);
        eu_wait_processed(app, n);
        eu_stop(app);
        read_out(bootstrap, "out", &got);
        if (run) /* o2 still waits: its grace (1000) is open */
            eu_strs_add(&exp, "u1=o1+alice@100");
        eu_assert_same_set(&got, &exp, run ? "after the restore" : "before the restart");
        eu_strs_free(&got);
        eu_strs_free(&exp);
        rill_app_destroy(app);
    }
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir[0]);
    eu_state_dir_remove(dir[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* Table-table                                                                              */

#define TT_KEYS 5
#define TT_UPDATES 120

static uint64_t rng;

static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

typedef struct row_s {
    char value[16];
    int64_t ts;
    int present;
} row_t;

static void tt_run(rill_join_kind_t kind, const char *tag, uint64_t seed) {
    char id[64], dir[64], key[8], value[16];
    row_t a[TT_KEYS], b[TT_KEYS], res[TT_KEYS];
    eu_strs_t got = {0}, exp = {0};
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    memset(res, 0, sizeof(res));
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *ta = rill_table_from(topo, "ta", "ta", NULL, "ta-store");
    rill_table_t *tb = rill_table_from(topo, "tb", "tb", NULL, "tb-store");
    rill_table_t *j = rill_table_join(ta, tb, "tj", kind, join_values, NULL, "tj-store");

    rill_stream_to(rill_table_to_stream(j, NULL), NULL, "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), tag);
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "ta", 1);
    eu_create_topic(app, "tb", 1);
    eu_create_topic(app, "out", 1); /* one partition: the change stream in processing order */
    rill_producer_t *p = eu_producer(app);
    rng = seed;
    for (int i = 0; i < TT_UPDATES; i++) {
        int side = (int)(rnd() % 2), k = (int)(rnd() % TT_KEYS), del = rnd() % 4 == 0;
        int64_t at = 10 * (i + 1);
        row_t *mine = side ? &b[k] : &a[k];
        snprintf(key, sizeof(key), "k%d", k);
        snprintf(value, sizeof(value), "%c%d", side ? 'b' : 'a', i);
        eu_send(p, side ? "tb" : "ta", 0, key, del ? NULL : value, BASE + at);
        /* The reference: the table, then the key's result. */
        mine->present = !del;
        snprintf(mine->value, sizeof(mine->value), "%s", value);
        mine->ts = at;
        int has_l = a[k].present, has_r = b[k].present;
        int result = kind == RILL_JOIN_INNER  ? has_l && has_r
                     : kind == RILL_JOIN_LEFT ? has_l
                                              : has_l || has_r;
        int64_t ts = has_l && has_r ? (a[k].ts > b[k].ts ? a[k].ts : b[k].ts) : at;
        if (result) {
            eu_strs_add(&exp, "%s=%s+%s@%lld", key, has_l ? a[k].value : "null",
                        has_r ? b[k].value : "null", (long long)ts);
            res[k].present = 1;
        } else if (res[k].present) {
            eu_strs_add(&exp, "%s=(null)@%lld", key, (long long)ts);
            res[k].present = 0;
        }
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, TT_UPDATES);
    eu_stop(app);
    /* One partition, processed in timestamp order: the change stream is the reference's, in
     * order. */
    read_out(rill_app_bootstrap_servers(app), "out", &got);
    if (getenv("JOINS_DEBUG"))
        for (size_t i = 0; i < got.cnt || i < exp.cnt; i++)
            fprintf(stderr, "%-28s %s\n", i < got.cnt ? got.v[i] : "-",
                    i < exp.cnt ? exp.v[i] : "-");
    for (size_t i = 0; i < got.cnt && i < exp.cnt; i++)
        cr_assert_str_eq(got.v[i], exp.v[i], "%s: change %zu: got %s, want %s", tag, i, got.v[i],
                         exp.v[i]);
    cr_assert_eq(got.cnt, exp.cnt, "%s: %zu changes, want %zu", tag, got.cnt, exp.cnt);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    eu_strs_free(&got);
    eu_strs_free(&exp);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(operators_joins, table_inner_join_matches_reference_when_rows_updated_and_deleted,
     .timeout = 90) {
    tt_run(RILL_JOIN_INNER, "join-tt-inner", 21);
}

Test(operators_joins, table_left_join_matches_reference_when_rows_updated_and_deleted,
     .timeout = 90) {
    tt_run(RILL_JOIN_LEFT, "join-tt-left", 22);
}

Test(operators_joins, table_outer_join_matches_reference_when_rows_updated_and_deleted,
     .timeout = 90) {
    tt_run(RILL_JOIN_OUTER, "join-tt-outer", 23);
}

/* ---------------------------------------------------------------------------------------- */
/* Co-partitioning and builder errors                                                       */

Test(operators_joins, app_refuses_start_when_join_inputs_not_copartitioned, .timeout = 60) {
    rill_join_spec_t spec = {.kind = RILL_JOIN_INNER, .before_ms = 10, .after_ms = 10};
    rill_topology_t *topo = rill_topology_new();
    char id[64], errstr[512] = "";

    rill_stream_to(rill_stream_join(rill_stream_from(topo, "l", "l", NULL),
                                    rill_stream_from(topo, "r", "r", NULL), "j", &spec, join_values,
                                    NULL),
                   NULL, "out", NULL);
    eu_app_id(id, sizeof(id), "join-copart");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "l", 2);
    eu_create_topic(app, "r", 1);
    cr_assert_neq(rill_app_start(app, errstr, sizeof(errstr)), 0, "started");
    cr_assert(strstr(errstr, "co-partitioned"), "%s", errstr);
    rill_app_destroy(app);
}

Test(operators_joins, builder_fails_when_join_arguments_invalid) {
    static const rill_join_spec_t bad[] = {
        {.kind = (rill_join_kind_t)7, .before_ms = 10},
        {.kind = RILL_JOIN_INNER, .before_ms = -1},
        {.kind = RILL_JOIN_LEFT, .before_ms = 10, .after_ms = -5},
        {.kind = RILL_JOIN_OUTER, .before_ms = 10, .grace_ms = -1},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rill_topology_t *topo = rill_topology_new();
        rill_stream_t *s = rill_stream_from(topo, "l", "l", NULL);
        cr_assert_null(rill_stream_join(s, rill_stream_from(topo, "r", "r", NULL), "j", &bad[i],
                                        join_values, NULL),
                       "spec %zu accepted", i);
        cr_assert_not_null(rill_topology_error(topo));
        rill_topology_destroy(topo);
    }
    /* Outer stream-table joins do not exist; windowed tables cannot be joined. */
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, "t", "t", NULL, NULL);
    cr_assert_null(rill_stream_table_join(rill_stream_from(topo, "s", "s", NULL), t, "j",
                                          RILL_JOIN_OUTER, 0, join_values, NULL));
    cr_assert(strstr(rill_topology_error(topo), "RILL_JOIN_LEFT"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
    rill_window_spec_t tumbling = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 100};
    topo = rill_topology_new();
    rill_table_t *w = rill_windowed_count(
        rill_grouped_windowed_by(
            rill_stream_group_by_key(rill_stream_from(topo, "s", "s", NULL), NULL), &tumbling),
        "w", RILL_EMIT_FINAL);
    t = rill_table_from(topo, "t", "t", NULL, NULL);
    cr_assert_null(rill_table_join(w, t, "j", RILL_JOIN_INNER, join_values, NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "windowed"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}
