/*
 * test_stream_time.c — a task's stream time survives a restart: it is committed with the
 * offsets (as Kafka Streams' partition time) and read back when the task is assigned again,
 * per task. A processor writes the stream time it sees with each record.
 */
#include "embedded_util.h"

#define BASE 1700000000000LL

/* Forwards "<value>@<stream time - BASE>". */
static int stamp(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    char v[64];
    (void)state;
    int n = snprintf(v, sizeof(v), "%.*s@%lld", (int)rec->value_len, (const char *)rec->value,
                     (long long)(rill_ctx_stream_time(ctx) - BASE));
    rill_record_t out = *rec;
    out.value = v;
    out.value_len = (size_t)n;
    out.value_obj = NULL;
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static rill_topology_t *stamp_topology(void) {
    static const rill_processor_def_t def = {.process = stamp};
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "in", "in", NULL);
    rill_stream_to(rill_stream_process(s, "stamp", &def, NULL), "out", "out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

static void run(const char *bootstrap, const char *id, const char *dir, int records) {
    const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir, NULL};
    rill_app_t *app = eu_app_new(stamp_topology(), id, extra);
    eu_start(app);
    eu_wait_processed(app, records);
    eu_stop(app);
    rill_app_destroy(app);
}

/*
 * Run 1 sees 1000, 5000, 3000 on partition 0; run 2's record at 2000 on partition 0 sees
 * stream time 5000, not 2000. Partition 1's task had no record in run 1: its first record
 * sets its stream time.
 */
Test(engine_stream_time, stream_time_restored_per_task_after_restart, .timeout = 120) {
    char errstr[512], id[64], dir[64];
    eu_strs_t got = {0}, want = {0};
    eu_recs_t out;

    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 2), 0);
    eu_app_id(id, sizeof(id), "stream-time");
    eu_state_dir_make(dir, sizeof(dir));

    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    eu_send(p, "in", 0, "k", "a", BASE + 1000);
    eu_send(p, "in", 0, "k", "b", BASE + 5000);
    eu_send(p, "in", 0, "k", "c", BASE + 3000);
    eu_producer_done(p);
    run(bootstrap, id, dir, 3);

    p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    eu_send(p, "in", 0, "k", "d", BASE + 2000);
    eu_send(p, "in", 1, "k", "e", BASE + 100);
    eu_producer_done(p);
    run(bootstrap, id, dir, 2);

    eu_read_topic(bootstrap, "out", &out);
    for (size_t i = 0; i < out.cnt; i++)
        eu_strs_add(&got, "%s", out.v[i].value);
    eu_recs_free(&out);
    eu_strs_add(&want, "a@1000");
    eu_strs_add(&want, "b@5000");
    eu_strs_add(&want, "c@5000");
    eu_strs_add(&want, "d@5000");
    eu_strs_add(&want, "e@100");
    eu_assert_same_set(&got, &want, "stamped records");
    eu_strs_free(&got);
    eu_strs_free(&want);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir);
}
