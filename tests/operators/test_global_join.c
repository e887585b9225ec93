/*
 * test_global_join.c — global tables and the stream–global table join, on the embedded
 * broker: bootstrap before the first stream record (input not co-partitioned with the
 * table), updates and tombstones while running, restart from the offsets kept with the rows,
 * bad table records to the dead-letter topic, builder errors and the topology printout.
 * Expected outputs are written out by hand or computed from the input in the test.
 */
#include "../engine/embedded_util.h"

#define BASE 1700000000000LL

/* The stream record's value names the user to look up; "none" gives no key. */
static int user_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    if (rec->value_len == 4 && !memcmp(rec->value, "none", 4)) {
        out->key_null = 1;
        return 0;
    }
    if (rec->value_len == 4 && !memcmp(rec->value, "fail", 4))
        return 1;
    return rill_buf_append(out->key, rec->value, rec->value_len);
}

/* "<order value>+<row value>@<row time - BASE>", or "<order value>+null". */
static int enrich(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                  void *opaque) {
    char tail[64];
    int n;

    (void)opaque;
    if (rill_buf_append(out, left->value, left->value_len) || rill_buf_append(out, "+", 1))
        return 1;
    if (!right)
        return rill_buf_append(out, "null", 4);
    if (rill_buf_append(out, right->value, right->value_len))
        return 1;
    n = snprintf(tail, sizeof(tail), "@%lld", (long long)(right->timestamp - BASE));
    return rill_buf_append(out, tail, (size_t)n);
}

static rill_topology_t *global_topology(rill_join_kind_t kind) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t table_opts = {.value_serde = rill_serde_string()};
    rill_global_table_t *users = rill_global_table(topo, "users", &table_opts, NULL);
    rill_stream_t *orders = rill_stream_from(topo, "orders", "orders", NULL);
    rill_stream_t *j =
        rill_stream_global_join(orders, users, "enrich", kind, user_of, enrich, NULL);
    rill_stream_to(j, "out-sink", "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* "key=value" of every record of topic (null key: "(null)"). */
static void read_out(const char *bootstrap, const char *topic, eu_strs_t *l) {
    eu_recs_t out;

    eu_read_topic(bootstrap, topic, &out);
    for (size_t i = 0; i < out.cnt; i++)
        eu_strs_add(l, "%s=%s", out.v[i].key ? out.v[i].key : "(null)",
                    out.v[i].value ? out.v[i].value : "(null)");
    eu_recs_free(&out);
}

/* The dead letters of app id as "<key>: <reason>". */
static void read_dead(const char *bootstrap, const char *id, eu_strs_t *l) {
    char dlq[96];
    eu_recs_t dead;

    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    eu_read_topic(bootstrap, dlq, &dead);
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        cr_assert_not_null(error);
        eu_strs_add(l, "%s: %s", dead.v[i].key ? dead.v[i].key : "(null)", error);
    }
    eu_recs_free(&dead);
}

/* Keeps only the first n characters of each string (reasons end with details). */
static void cut(eu_strs_t *l, size_t n) {
    for (size_t i = 0; i < l->cnt; i++)
        if (strlen(l->v[i]) > n)
            l->v[i][n] = '\0';
}

/* Queues n rows "u<i>" = "<prefix>-<i>" at BASE + i. */
static void send_users(rill_producer_t *p, int n, const char *prefix) {
    char key[32], value[32];

    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        snprintf(value, sizeof(value), "%s-%d", prefix, i);
        eu_send(p, "users", -1, key, value, BASE + i);
    }
}

/* The join app of kind on its own embedded broker (id from tag, state in a new dir), with
 * users in 2 partitions and orders in 3. */
static rill_app_t *own_broker_app(const char *tag, rill_join_kind_t kind, char id[64],
                                  char dir[64]) {
    eu_app_id(id, 64, tag);
    eu_state_dir_make(dir, 64);
    const char *extra[] = {"state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(global_topology(kind), id, extra);
    eu_create_topic(app, "users", 2);
    eu_create_topic(app, "orders", 3);
    return app;
}

/*
 * 2,000 rows in 2 partitions and 3,000 orders in 3 partitions (not co-partitioned), all
 * written before the app starts: every order must meet its row, so the join may run only
 * once the table is read to its end. Orders naming a user without a row are dead-lettered
 * (inner join).
 */
Test(operators_global_join, bootstrap_before_processing_and_no_copartitioning, .timeout = 120) {
    char id[64], dir[64], key[32], value[32];
    eu_strs_t got = {0}, want = {0}, dead = {0}, want_dead = {0};

    rill_app_t *app = own_broker_app("global-boot", RILL_JOIN_INNER, id, dir);
    rill_producer_t *p = eu_producer(app);
    send_users(p, 2000, "name");
    for (int j = 0; j < 3000; j++) {
        int u = (j * 7) % 2500;
        snprintf(key, sizeof(key), "o%d", j);
        snprintf(value, sizeof(value), "u%d", u);
        eu_send(p, "orders", -1, key, value, BASE + 10000 + j);
        if (u < 2000)
            eu_strs_add(&want, "o%d=u%d+name-%d@%d", j, u, u, u);
        else
            eu_strs_add(&want_dead, "o%d: no global table row: key \"u%d\"", j, u);
    }
    eu_producer_done(p);
    eu_start(app);
    cr_assert_eq(rill_app_metric(app, "rill_global_records_total"), 2000,
                 "the start returns once the table is read");
    eu_wait_processed(app, 3000);
    eu_stop(app);
    const char *bootstrap = rill_app_bootstrap_servers(app);
    read_out(bootstrap, "out", &got);
    eu_assert_same_set(&got, &want, "joined orders");
    read_dead(bootstrap, id, &dead);
    for (size_t i = 0; i < dead.cnt; i++) {
        char *q = strstr(dead.v[i], "\" is not");
        cr_assert_not_null(q, "%s", dead.v[i]);
        q[1] = '\0';
    }
    eu_assert_same_set(&dead, &want_dead, "dead-lettered orders");
    cr_assert_eq(rill_app_metric(app, "rill_join_unmatched_total"), (int64_t)want_dead.cnt);
    eu_assert_node_sample(app, id, "rill_join_unmatched_total", "enrich", (int64_t)want_dead.cnt);
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_strs_free(&dead);
    eu_strs_free(&want_dead);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/*
 * While the app runs, a row changes, one is deleted and one is added: orders after that meet
 * the new rows (left join: no row meets null). The mapper may give no key (null result), the
 * order's own key may be null, and a failing mapper dead-letters the order.
 */
Test(operators_global_join, updates_and_tombstones_while_running, .timeout = 120) {
    char id[64], dir[64], key[32], value[32];
    eu_strs_t got = {0}, want = {0}, dead = {0}, want_dead = {0};

    rill_app_t *app = own_broker_app("global-updates", RILL_JOIN_LEFT, id, dir);
    rill_producer_t *p = eu_producer(app);
    send_users(p, 10, "old");
    eu_producer_done(p);
    eu_start(app);
    p = eu_producer(app);
    eu_send(p, "users", -1, "u1", "new-1", BASE + 100);
    eu_send(p, "users", -1, "u2", NULL, BASE + 101);
    eu_send(p, "users", -1, "u10", "new-10", BASE + 102);
    eu_producer_done(p);
    cr_assert_eq(eu_wait_metric(app, "rill_global_records_total", 13), 13);
    p = eu_producer(app);
    for (int u = 0; u <= 11; u++) {
        snprintf(key, sizeof(key), "o%d", u);
        snprintf(value, sizeof(value), "u%d", u);
        eu_send(p, "orders", -1, key, value, BASE + 1000 + u);
    }
    eu_send(p, "orders", 0, NULL, "u3", BASE + 2000);
    eu_send(p, "orders", 0, "o-none", "none", BASE + 2001);
    eu_send(p, "orders", 0, "o-fail", "fail", BASE + 2002);
    eu_producer_done(p);
    eu_wait_processed(app, 15);
    eu_stop(app);

    eu_strs_add(&want, "o0=u0+old-0@0");
    eu_strs_add(&want, "o1=u1+new-1@100");
    eu_strs_add(&want, "o2=u2+null");
    for (int u = 3; u < 10; u++)
        eu_strs_add(&want, "o%d=u%d+old-%d@%d", u, u, u, u);
    eu_strs_add(&want, "o10=u10+new-10@102");
    eu_strs_add(&want, "o11=u11+null");
    eu_strs_add(&want, "(null)=u3+old-3@3");
    eu_strs_add(&want, "o-none=none+null");
    const char *bootstrap = rill_app_bootstrap_servers(app);
    read_out(bootstrap, "out", &got);
    eu_assert_same_set(&got, &want, "joined orders");
    read_dead(bootstrap, id, &dead);
    eu_strs_add(&want_dead, "o-fail: key mapper of join \"enrich\" failed");
    eu_assert_same_set(&dead, &want_dead, "dead letters");
    cr_assert_eq(rill_app_metric(app, "rill_join_unmatched_total"), 3);
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_strs_free(&dead);
    eu_strs_free(&want_dead);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* Runs the left-join app on bootstrap with state dir until it has processed `orders` records;
 * returns the number of table records it read. */
static int64_t run_once(const char *bootstrap, const char *id, const char *dir, int orders) {
    const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(global_topology(RILL_JOIN_LEFT), id, extra);

    eu_start(app);
    int64_t read = rill_app_metric(app, "rill_global_records_total");
    if (orders)
        eu_wait_processed(app, orders);
    eu_stop(app);
    rill_app_destroy(app);
    return read;
}

/*
 * A restarted process reads only the table records written since it stopped (the offsets
 * are kept with the rows), a process with a fresh state directory reads them all, and table
 * records that cannot be rows (null key, a value that is not UTF-8 for a string serde) go to
 * the dead-letter topic, once.
 */
Test(operators_global_join, restart_reads_only_new_records_bad_rows_dead_lettered, .timeout = 120) {
    char errstr[512], id[64], dir[64], fresh[64], key[32], value[32];
    eu_strs_t got = {0}, want = {0}, dead = {0}, want_dead = {0};

    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "users", 2), 0);
    cr_assert_eq(rill_broker_create_topic(broker, "orders", 1), 0);
    eu_app_id(id, sizeof(id), "global-restart");
    eu_state_dir_make(dir, sizeof(dir));
    eu_state_dir_make(fresh, sizeof(fresh));

    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    send_users(p, 100, "v1");
    eu_producer_done(p);
    cr_assert_eq(run_once(bootstrap, id, dir, 0), 100);

    p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    eu_send(p, "users", 0, "u5", "v2-5", BASE + 200);
    eu_send(p, "users", 1, "u6", NULL, BASE + 201);
    eu_send(p, "users", 0, NULL, "keyless", BASE + 202);
    cr_assert_eq(rill_producer_send(p, "users", 1, "bad", 3, "\xff\xfe", 2, BASE + 203), 0);
    eu_send(p, "users", 1, "u7", "v2-7", BASE + 204);
    for (int u = 4; u <= 8; u++) {
        snprintf(key, sizeof(key), "o%d", u);
        snprintf(value, sizeof(value), "u%d", u);
        eu_send(p, "orders", 0, key, value, BASE + 1000 + u);
    }
    eu_send(p, "orders", 0, "o-bad", "bad", BASE + 1010);
    eu_producer_done(p);
    cr_assert_eq(run_once(bootstrap, id, dir, 6), 5, "the restart reads the 5 new records");
    cr_assert_eq(run_once(bootstrap, id, fresh, 0), 105, "a fresh process reads them all");

    eu_strs_add(&want, "o4=u4+v1-4@4");
    eu_strs_add(&want, "o5=u5+v2-5@200");
    eu_strs_add(&want, "o6=u6+null");
    eu_strs_add(&want, "o7=u7+v2-7@204");
    eu_strs_add(&want, "o8=u8+v1-8@8");
    eu_strs_add(&want, "o-bad=bad+null");
    read_out(bootstrap, "out", &got);
    eu_assert_same_set(&got, &want, "joined orders");
    /* The second and third runs both read the bad records: each dead-letters them once. */
    read_dead(bootstrap, id, &dead);
    cut(&dead, 45);
    for (int run = 0; run < 2; run++) {
        eu_strs_add(&want_dead, "(null): global table \"users\": null key: a row needs a ke");
        eu_strs_add(&want_dead, "bad: global table \"users\": value is not string: ");
    }
    cut(&want_dead, 45);
    eu_assert_same_set(&dead, &want_dead, "dead letters");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_strs_free(&dead);
    eu_strs_free(&want_dead);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir);
    eu_state_dir_remove(fresh);
}

static int pass_on(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

Test(operators_global_join, builder_errors_and_printout) {
    rill_buf_t out = {0};
    rill_topology_t *topo = global_topology(RILL_JOIN_LEFT);

    cr_assert_eq(rill_topology_describe(topo, &out), RILL_OK);
    cr_assert_not_null(rill_buf_append(&out, "", 1) ? NULL : out.data);
    cr_assert_not_null(strstr(out.data, "   Global table: users-global-store (topic: users; "
                                        "every process holds all of it)\n      --> enrich\n"),
                       "%s", out.data);
    rill_buf_free(&out);
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    rill_global_table_t *g = rill_global_table(topo, "users", NULL, "s");
    cr_assert_not_null(g);
    cr_assert_null(rill_global_table(topo, "users2", NULL, "s"));
    cr_assert_not_null(strstr(rill_topology_error(topo), "store \"s\" is declared twice"));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    g = rill_global_table(topo, "users", NULL, NULL);
    rill_stream_t *s = rill_stream_from(topo, "orders", "orders", NULL);
    cr_assert_null(rill_stream_global_join(s, g, "j", RILL_JOIN_OUTER, user_of, enrich, NULL));
    cr_assert_not_null(strstr(rill_topology_error(topo), "RILL_JOIN_INNER or RILL_JOIN_LEFT"));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    cr_assert_not_null(rill_global_table(topo, "users", NULL, NULL));
    cr_assert_null(rill_global_table(topo, "users", NULL, "other-store"));
    cr_assert_not_null(strstr(rill_topology_error(topo), "topic \"users\" already has a "
                                                         "global table"));
    rill_topology_destroy(topo);

    topo = rill_topology_new();
    cr_assert_not_null(rill_global_table(topo, "users", NULL, "shared"));
    s = rill_stream_from(topo, "orders", "orders", NULL);
    static const rill_processor_def_t pass = {.process = pass_on};
    rill_stream_use_kv_store(rill_stream_process(s, "p", &pass, NULL), "shared");
    cr_assert_not_null(strstr(rill_topology_error(topo), "store \"shared\" is declared twice: "
                                                         "it is a global table's store"),
                       "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}
