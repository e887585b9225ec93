/*
 * test_suppress.c — component tests of rill_table_suppress() (operators/suppress.c) in apps on
 * the embedded broker: a table's updates held for a time limit of stream time, unbounded and
 * with a small buffer that emits early, across a restart from the changelog, compared with a
 * reference model record by record; the shut-down policy; builder errors.
 *
 * DESIGN
 * The reference runs each input partition on its own, as its task does: stream time is the
 * largest timestamp read from the partition (one source topic, so that is the task's
 * progress); each update is held (a key keeps the time of its first held update), then every
 * key due (first time + limit <= stream time) leaves in order of first time, then key, then,
 * while the buffer is over a bound, the oldest leaves early. The sinks partition by key as the
 * input is, so each output partition is compared with its input partition's reference in
 * order: every key, value or tombstone and timestamp. The second app starts from an empty
 * state directory: what the first held must come out of the restored changelog, once. What
 * is still held at the end is compared with the buffer gauges.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"

#define BASE 1700000000000LL
#define PARTS 3
#define NK 12
#define NT 400
#define LIMIT 1000

static uint64_t rng;

typedef struct row_s {
    char key[8], value[16];
    int tomb;
    int64_t ts;
} row_t;

static row_t rows[NT];

static void make_rows(void) {
    rng = 23;
    for (int i = 0; i < NT; i++) {
        snprintf(rows[i].key, sizeof(rows[i].key), "k%u", eu_rnd(&rng) % NK);
        snprintf(rows[i].value, sizeof(rows[i].value), "v%u", eu_rnd(&rng) % 100000);
        rows[i].tomb = eu_rnd(&rng) % 6 == 0;
        rows[i].ts = BASE + 60 * i + (int64_t)(eu_rnd(&rng) % 400); /* some disorder */
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The reference                                                                            */

typedef struct held_s {
    char key[8], value[16];
    int has_value;
    int64_t first, ts;
} held_t;

typedef struct model_s {
    rill_suppress_spec_t spec;
    held_t held[PARTS][NK];
    int cnt[PARTS];
    int64_t time[PARTS];
    int64_t early;
    eu_strs_t out[PARTS]; /* "key=value@ts" in order */
} model_t;

static int64_t held_bytes(const model_t *m, int p) {
    int64_t b = 0;
    for (int i = 0; i < m->cnt[p]; i++)
        b += (int64_t)(strlen(m->held[p][i].key) +
                       (m->held[p][i].has_value ? strlen(m->held[p][i].value) : 0));
    return b;
}

/* The oldest held key of partition p (first time, then key), or -1. */
static int oldest(const model_t *m, int p) {
    int best = -1;
    for (int i = 0; i < m->cnt[p]; i++) {
        const held_t *h = &m->held[p][i], *b = best < 0 ? NULL : &m->held[p][best];
        if (!b || h->first < b->first || (h->first == b->first && strcmp(h->key, b->key) < 0))
            best = i;
    }
    return best;
}

static void emit(model_t *m, int p, int i) {
    held_t *h = &m->held[p][i];
    eu_strs_add(&m->out[p], "%s=%s@%lld", h->key, h->has_value ? h->value : "(tombstone)",
                (long long)h->ts);
    m->held[p][i] = m->held[p][--m->cnt[p]];
}

static void model_put(model_t *m, const row_t *r) {
    int p = eu_partition_of(r->key, PARTS), i;
    if (r->ts > m->time[p])
        m->time[p] = r->ts;
    for (i = 0; i < m->cnt[p] && strcmp(m->held[p][i].key, r->key); i++)
        ;
    held_t *h = &m->held[p][i];
    if (i == m->cnt[p]) {
        m->cnt[p]++;
        snprintf(h->key, sizeof(h->key), "%s", r->key);
        h->first = r->ts;
    }
    h->ts = r->ts;
    h->has_value = !r->tomb;
    snprintf(h->value, sizeof(h->value), "%s", r->value);
    while ((i = oldest(m, p)) >= 0 && m->held[p][i].first + m->spec.time_limit_ms <= m->time[p])
        emit(m, p, i);
    while (m->cnt[p] && ((m->spec.max_records && m->cnt[p] > m->spec.max_records) ||
                         (m->spec.max_bytes && held_bytes(m, p) > m->spec.max_bytes))) {
        emit(m, p, oldest(m, p));
        m->early++;
    }
}

static void model_free(model_t *m) {
    for (int p = 0; p < PARTS; p++)
        eu_strs_free(&m->out[p]);
}

/* ---------------------------------------------------------------------------------------- */
/* The app                                                                                  */

static const rill_suppress_spec_t unbounded = {.time_limit_ms = LIMIT};
static const rill_suppress_spec_t small = {.time_limit_ms = LIMIT,
                                           .max_records = 4,
                                           .max_bytes = 22,
                                           .when_full = RILL_SUPPRESS_EMIT_EARLY};

static rill_topology_t *suppress_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, "rows", "rows", NULL, "rows-store");
    rill_stream_to(rill_table_suppress(t, "held", &unbounded, "held-buffer"), NULL, "held-out",
                   NULL);
    rill_stream_to(rill_table_suppress(t, "small", &small, NULL), NULL, "small-out", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* Compares each partition of topic with the model's outputs of that partition, in order. */
static void assert_outputs(const char *bootstrap, const char *topic, const model_t *m) {
    eu_recs_t recs;
    eu_read_topic(bootstrap, topic, &recs);
    cr_assert_eq(recs.partition_cnt, PARTS);
    for (int p = 0; p < PARTS; p++) {
        size_t n = 0;
        for (size_t i = 0; i < recs.cnt; i++) {
            const eu_rec_t *r = &recs.v[i];
            char line[64];
            if (r->partition != p)
                continue;
            snprintf(line, sizeof(line), "%s=%s@%lld", r->key, r->value ? r->value : "(tombstone)",
                     (long long)r->timestamp);
            cr_assert_lt(n, m->out[p].cnt, "%s[%d]: more outputs than %zu, then %s", topic, p,
                         m->out[p].cnt, line);
            cr_assert_str_eq(line, m->out[p].v[n], "%s[%d] output %zu: %s, want %s", topic, p, n,
                             line, m->out[p].v[n]);
            n++;
        }
        cr_assert_eq(n, m->out[p].cnt, "%s[%d]: %zu outputs, want %zu", topic, p, n, m->out[p].cnt);
    }
    eu_recs_free(&recs);
}

/* Waits until metric equals want (it may lag the last record by a moment); adds a line
 * to bad when it does not. */
static void check_metric(rill_app_t *app, const char *metric, int64_t want, eu_strs_t *bad) {
    int64_t deadline = eu_now_ms() + 5000, v;
    while ((v = rill_app_metric(app, metric)) != want && eu_now_ms() < deadline)
        eu_sleep_ms(20);
    if (v != want)
        eu_strs_add(bad, "%s: %lld, want %lld", metric, (long long)v, (long long)want);
}

Test(operators_suppress, matches_reference_across_restart, .timeout = 180) {
    char errstr[512], id[64], dir[2][64];
    model_t *held = calloc(1, sizeof(*held)), *sm = calloc(1, sizeof(*sm));
    eu_strs_t bad = {0}; /* metrics that differ: checked once the outputs are */

    make_rows();
    held->spec = unbounded;
    sm->spec = small;
    for (int p = 0; p < PARTS; p++)
        held->time[p] = sm->time[p] = -1;
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    const char *topics[] = {"rows", "held-out", "small-out"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(rill_broker_create_topic(broker, topics[i], PARTS), 0);
    eu_app_id(id, sizeof(id), "suppress");

    for (int run = 0; run < 2; run++) {
        eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(suppress_topology(), id, extra);
        rill_producer_t *p = eu_producer(app);
        int64_t early_before = sm->early;
        for (int i = run * NT / 2; i < (run + 1) * NT / 2; i++) {
            eu_send(p, "rows", -1, rows[i].key, rows[i].tomb ? NULL : rows[i].value, rows[i].ts);
            model_put(held, &rows[i]);
            model_put(sm, &rows[i]);
        }
        eu_producer_done(p);
        eu_start(app);
        eu_wait_processed(app, NT / 2);
        int64_t records = 0, bytes = 0;
        for (int q = 0; q < PARTS; q++) {
            records += held->cnt[q] + sm->cnt[q];
            bytes += held_bytes(held, q) + held_bytes(sm, q);
        }
        cr_assert_gt(records, 0, "the test should end with keys held");
        check_metric(app, "rill_suppress_buffer_records", records, &bad);
        check_metric(app, "rill_suppress_buffer_bytes", bytes, &bad);
        check_metric(app, "rill_suppress_early_emits_total", sm->early - early_before, &bad);
        eu_stop(app);
        rill_app_destroy(app);
    }
    cr_assert_gt(sm->early, 10, "the small buffer should have emitted early");
    size_t emitted = 0;
    for (int p = 0; p < PARTS; p++)
        emitted += held->out[p].cnt;
    cr_assert_gt(emitted, 50, "the time limit should have emitted");
    cr_assert_lt(emitted, NT - 50, "suppressing should have coalesced updates");
    assert_outputs(bootstrap, "held-out", held);
    assert_outputs(bootstrap, "small-out", sm);
    cr_assert_eq(eu_dead_letters(bootstrap, id, "", NULL), 0);
    cr_assert_eq(bad.cnt, 0, "%s", bad.cnt ? bad.v[0] : "");
    eu_strs_free(&bad);

    model_free(held);
    model_free(sm);
    free(held);
    free(sm);
    rill_broker_destroy(broker);
    for (int i = 0; i < 2; i++)
        eu_state_dir_remove(dir[i]);
}

Test(operators_suppress, full_buffer_shuts_down_when_asked, .timeout = 60) {
    static const rill_suppress_spec_t strict = {
        .time_limit_ms = 60000, .max_records = 2, .when_full = RILL_SUPPRESS_SHUT_DOWN};
    char id[64], errstr[512] = "";
    int fired;

    rill_topology_t *topo = rill_topology_new();
    rill_table_t *t = rill_table_from(topo, "rows", "rows", NULL, NULL);
    rill_stream_to(rill_table_suppress(t, "strict", &strict, NULL), NULL, "strict-out", NULL);
    eu_app_id(id, sizeof(id), "suppress-full");
    rill_app_t *app = eu_app_new(topo, id, NULL);
    eu_create_topic(app, "rows", 1);
    eu_create_topic(app, "strict-out", 1);
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "rows", 0, "a", "1", BASE);
    eu_send(p, "rows", 0, "b", "2", BASE + 1);
    eu_send(p, "rows", 0, "a", "3", BASE + 2); /* an update: still two keys */
    eu_send(p, "rows", 0, "c", "4", BASE + 3); /* the third key */
    eu_producer_done(p);
    eu_start(app);
    cr_assert_neq(eu_wait_bounded(app, EU_WAIT_MS, errstr, sizeof(errstr), &fired), 0,
                  "the app did not stop on a full buffer");
    cr_assert_not(fired, "the app had to be stopped");
    cr_assert(strstr(errstr, "suppress \"strict\"") && strstr(errstr, "max_records 2"), "%s",
              errstr);
    rill_app_destroy(app);
}

Test(operators_suppress, builder_refuses_bad_specs) {
    static const rill_suppress_spec_t bad[] = {
        {.time_limit_ms = -1},
        {.time_limit_ms = 10, .max_records = -1},
        {.time_limit_ms = 10, .max_bytes = -5},
        {.time_limit_ms = 10, .when_full = (rill_suppress_full_t)9},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rill_topology_t *topo = rill_topology_new();
        rill_table_t *t = rill_table_from(topo, "rows", "rows", NULL, NULL);
        cr_assert_null(rill_table_suppress(t, NULL, &bad[i], NULL), "spec %zu accepted", i);
        cr_assert_not_null(rill_topology_error(topo));
        rill_topology_destroy(topo);
    }
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "in", NULL);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000};
    rill_table_t *w =
        rill_windowed_count(rill_grouped_windowed_by(rill_stream_group_by_key(in, NULL), &spec),
                            NULL, RILL_EMIT_ON_UPDATE);
    cr_assert_null(rill_table_suppress(w, NULL, &unbounded, NULL));
    cr_assert(strstr(rill_topology_error(topo), "RILL_EMIT_FINAL"), "%s",
              rill_topology_error(topo));
    rill_topology_destroy(topo);
}
