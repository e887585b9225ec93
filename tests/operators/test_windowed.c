/*
 * test_windowed.c — component tests of windowed aggregations (operators/windowed.c,
 * operators/sliding.c) in an app on the embedded broker: tumbling,
 * hopping, sliding and session windows over input whose timestamps are shuffled within a
 * bound smaller than the grace period. Every window's result is compared with a reference
 * computed here, independently, from the same input: with emit-final, the output holds
 * exactly one result per window, equal to the reference (count, and the largest timestamp
 * as the record's timestamp); with emit-on-update, the last output of each window is the
 * reference (a sum, by a user aggregator). Late and key-less records go to the dead-letter
 * topic with their reason.
 *
 * Each app runs against its own mock cluster, whose first group join takes about 3 s, so
 * each test takes about 4-6 s.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"
#include "window_int.h" /* rill__session_range, while state/ may lack it */

#include <inttypes.h>

#define NKEYS 6
#define NREC 360
#define DISORDER 400 /* a record arrives at most this many ms behind stream time */
#define GRACE 500    /* > DISORDER: no record of the shuffled input is late */
#define BASE 1700000000000LL
#define FLUSH_AHEAD 100000 /* the flush record closes every window of the input */

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                    */

typedef struct in_rec_s {
    char key[8];
    int64_t ts;
    int64_t v;
    int64_t order; /* production order: ts + jitter */
} in_rec_t;

typedef struct input_s {
    in_rec_t r[NREC];
    size_t n;
    int64_t tmax;
} input_t;

static uint64_t rng;

static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

static int by_order(const void *a, const void *b) {
    const in_rec_t *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * n records over NKEYS keys from base: times rise by 0..60 ms, with a pause of 1.5 s now and
 * then (so sessions end and some windows stay empty); values 1..n. The records are produced in
 * the order of ts + a jitter below DISORDER, so each arrives less than DISORDER ms behind the
 * latest timestamp before it.
 */
static void make_input(input_t *in, int64_t base, uint64_t seed) {
    int64_t t = base;

    rng = seed;
    in->n = NREC;
    for (size_t i = 0; i < in->n; i++) {
        in_rec_t *r = &in->r[i];
        t += rnd() % 61;
        if (rnd() % 40 == 0)
            t += 1500;
        snprintf(r->key, sizeof(r->key), "k%u", rnd() % NKEYS);
        r->ts = t;
        r->v = (int64_t)i + 1;
        r->order = t + rnd() % DISORDER;
    }
    in->tmax = t;
    qsort(in->r, in->n, sizeof(in->r[0]), by_order);
}

/* Writes input records [from, to) to topic "in" (partitioned by key), then, when flush is
 * set, one record per partition far ahead that closes every window of the input. */
static void send_input(const char *bootstrap, const input_t *in, size_t from, size_t to,
                       int flush_partitions) {
    char errstr[512], value[24];
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));

    cr_assert_not_null(p, "%s", errstr);
    for (size_t i = from; i < to; i++) {
        snprintf(value, sizeof(value), "%lld", (long long)in->r[i].v);
        eu_send(p, "in", -1, in->r[i].key, value, in->r[i].ts);
    }
    for (int part = 0; part < flush_partitions; part++)
        eu_send(p, "in", part, "~flush", "0", in->tmax + FLUSH_AHEAD);
    eu_producer_done(p);
}

/* ---------------------------------------------------------------------------------------- */
/* Reference                                                                                */

typedef struct win_s {
    char key[8];
    int64_t start, end, count, sum, ts;
} win_t;

typedef struct ref_s {
    win_t v[8 * NREC];
    size_t n;
} ref_t;

static void ref_add(ref_t *ref, const char *key, int64_t start, int64_t end, const in_rec_t *r) {
    win_t *w = NULL;

    for (size_t i = 0; i < ref->n && !w; i++)
        if (ref->v[i].start == start && ref->v[i].end == end && !strcmp(ref->v[i].key, key))
            w = &ref->v[i];
    if (!w) {
        cr_assert_lt(ref->n, sizeof(ref->v) / sizeof(ref->v[0]));
        w = &ref->v[ref->n++];
        memset(w, 0, sizeof(*w));
        snprintf(w->key, sizeof(w->key), "%s", key);
        w->start = start;
        w->end = end;
    }
    w->count++;
    w->sum += r->v;
    if (r->ts > w->ts)
        w->ts = r->ts;
}

/* Tumbling (advance = size) and hopping windows: [n*adv, n*adv + size) holding t. */
static void ref_time(ref_t *ref, const input_t *in, int64_t size, int64_t adv) {
    for (size_t i = 0; i < in->n; i++) {
        const in_rec_t *r = &in->r[i];
        for (int64_t s = r->ts / adv * adv; s >= 0 && s > r->ts - size; s -= adv)
            ref_add(ref, r->key, s, s + size, r);
    }
}

/* Sliding windows of time difference d: for each record at t, [max(0, t - d), .. + d] and, when
 * a record of the key falls in it, [t + 1, t + 1 + d]; each holds the key's records within. */
static void ref_sliding(ref_t *ref, const input_t *in, int64_t d) {
    for (size_t i = 0; i < in->n; i++) {
        const in_rec_t *r = &in->r[i];
        int64_t starts[2] = {r->ts > d ? r->ts - d : 0, -1};
        for (size_t j = 0; j < in->n; j++)
            if (!strcmp(in->r[j].key, r->key) && in->r[j].ts > r->ts &&
                in->r[j].ts <= r->ts + 1 + d)
                starts[1] = r->ts + 1;
        for (int k = 0; k < 2; k++) {
            int64_t s = starts[k];
            int known = 0;
            if (s < 0)
                continue;
            for (size_t w = 0; w < ref->n; w++)
                known |= ref->v[w].start == s && !strcmp(ref->v[w].key, r->key);
            if (known)
                continue;
            for (size_t j = 0; j < in->n; j++)
                if (!strcmp(in->r[j].key, r->key) && in->r[j].ts >= s && in->r[j].ts <= s + d)
                    ref_add(ref, r->key, s, s + d + 1, &in->r[j]);
        }
    }
}

static int by_key_ts(const void *a, const void *b) {
    const in_rec_t *x = *(const in_rec_t *const *)a, *y = *(const in_rec_t *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Sessions: a key's records sorted by time, split where two are more than gap apart. */
static void ref_session(ref_t *ref, const input_t *in, int64_t gap) {
    const in_rec_t *sorted[NREC];

    for (size_t i = 0; i < in->n; i++)
        sorted[i] = &in->r[i];
    qsort(sorted, in->n, sizeof(sorted[0]), by_key_ts);
    for (size_t i = 0; i < in->n;) {
        size_t j = i + 1;
        while (j < in->n && !strcmp(sorted[j]->key, sorted[i]->key) &&
               sorted[j]->ts - sorted[j - 1]->ts <= gap)
            j++;
        for (size_t k = i; k < j; k++)
            ref_add(ref, sorted[i]->key, sorted[i]->ts, sorted[j - 1]->ts, sorted[k]);
        i = j;
    }
}

/* "key@start@end=value@timestamp" of every reference window (value: count or sum). */
static void ref_strings(const ref_t *ref, int sum, eu_strs_t *l) {
    for (size_t i = 0; i < ref->n; i++) {
        const win_t *w = &ref->v[i];
        eu_strs_add(l, "%s@%lld@%lld=%lld@%lld", w->key, (long long)w->start, (long long)w->end,
                    (long long)(sum ? w->sum : w->count), (long long)w->ts);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The topology                                                                             */

static int64_t bad_kind; /* results whose window_kind was not the expected one (atomic) */

/* Makes a result readable: key "key@start@end", value the aggregate in decimal (NULL stays
 * NULL); the window goes into the key, so the record is no longer windowed. */
static int show_window(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char key[96], value[32];
    int64_t n;

    if (rec->window_kind != (int)(intptr_t)opaque)
        __atomic_fetch_add(&bad_kind, 1, __ATOMIC_RELAXED);
    /* The new key is a plain key: the record it makes is not windowed. */
    int key_len =
        snprintf(key, sizeof(key), "%.*s@%lld@%lld", (int)rec->key_len, (const char *)rec->key,
                 (long long)rec->window_start, (long long)rec->window_end);
    if (rill_buf_append(out->key, key, (size_t)key_len))
        return 1;
    if (!rec->value) {
        out->value_null = 1;
        return 0;
    }
    if (rill_int64_decode(rec->value, rec->value_len, &n))
        return 1;
    return rill_buf_append(out->value, value,
                           (size_t)snprintf(value, sizeof(value), "%lld", (long long)n));
}

static int sum_init(rill_buf_t *out, void *opaque) {
    unsigned char be[8];

    rill_int64_encode(0, be);
    return rill_buf_append(out, be, 8);
}

static int sum_add(const rill_record_t *rec, const void *agg, size_t agg_len, rill_buf_t *out,
                   void *opaque) {
    char text[24];
    int64_t sum;
    unsigned char be[8];
    size_t len = rec->value_len < sizeof(text) - 1 ? rec->value_len : sizeof(text) - 1;

    if (rill_int64_decode(agg, agg_len, &sum))
        return 1;
    memcpy(text, rec->value, len);
    text[len] = '\0';
    rill_int64_encode(sum + atoll(text), be);
    return rill_buf_append(out, be, 8);
}

static int sum_merge(const void *a, size_t a_len, const void *b, size_t b_len, rill_buf_t *out,
                     void *opaque) {
    int64_t x, y;
    unsigned char be[8];

    if (rill_int64_decode(a, a_len, &x) || rill_int64_decode(b, b_len, &y))
        return 1;
    rill_int64_encode(x + y, be);
    return rill_buf_append(out, be, 8);
}

static void to_topic(rill_table_t *t, rill_window_kind_t kind, const char *topic) {
    rill_stream_t *s = rill_table_to_stream(t, NULL);

    s = rill_stream_map(s, NULL, show_window, (void *)(intptr_t)kind);
    rill_stream_to(s, NULL, topic, NULL);
}

/* in → group by key → windows of spec → count (to "counted", emitted as count_emit) and,
 * with with_sum, a sum by a user aggregator (to "summed", emitted on update). */
static rill_topology_t *window_topology(const rill_window_spec_t *spec, rill_emit_t count_emit,
                                        int with_sum) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "in", "in", NULL);
    rill_windowed_t *w = rill_grouped_windowed_by(rill_stream_group_by_key(s, "grouped"), spec);

    to_topic(rill_windowed_count(w, "counts", count_emit), spec->kind, "counted");
    if (with_sum)
        to_topic(
            spec->kind == RILL_WINDOW_SESSION
                ? rill_session_aggregate(w, "sums", sum_init, sum_add, sum_merge, NULL,
                                         RILL_EMIT_ON_UPDATE)
                : rill_windowed_aggregate(w, "sums", sum_init, sum_add, NULL, RILL_EMIT_ON_UPDATE),
            spec->kind, "summed");
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks                                                                                   */

static int is_flush(const eu_rec_t *r) {
    return r->key && r->key[0] == '~';
}

/* Emit-final: exactly one result per window, each the reference. */
static void assert_final(const char *bootstrap, const char *topic, const ref_t *ref, int sum) {
    eu_recs_t out;
    eu_strs_t got = {0}, want = {0};

    eu_read_topic(bootstrap, topic, &out);
    for (size_t i = 0; i < out.cnt; i++) {
        const eu_rec_t *r = &out.v[i];
        if (is_flush(r))
            continue;
        cr_assert_not_null(r->value, "%s: a final result is a tombstone (%s)", topic, r->key);
        for (size_t j = 0; j < i; j++)
            cr_assert(strcmp(out.v[j].key, r->key), "%s: window %s emitted twice (%s, then %s)",
                      topic, r->key, out.v[j].value, r->value);
        eu_strs_add(&got, "%s=%s@%lld", r->key, r->value, (long long)r->timestamp);
    }
    ref_strings(ref, sum, &want);
    eu_assert_same_set(&got, &want, topic);
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
}

/* Emit-on-update: the last output of each window is the reference (windows whose last output
 * is a tombstone were merged away and are not in the reference). */
static void assert_last(rill_app_t *app, const char *topic, const ref_t *ref, int sum) {
    eu_recs_t out;
    eu_strs_t got = {0}, want = {0};

    eu_read_topic(rill_app_bootstrap_servers(app), topic, &out);
    for (size_t i = 0; i < out.cnt; i++) {
        const eu_rec_t *r = &out.v[i];
        int later = 0;
        if (is_flush(r))
            continue;
        for (size_t j = i + 1; j < out.cnt && !later; j++)
            later = !strcmp(out.v[j].key, r->key);
        if (!later && r->value)
            eu_strs_add(&got, "%s=%s@%lld", r->key, r->value, (long long)r->timestamp);
    }
    ref_strings(ref, sum, &want);
    cr_assert_gt(out.cnt, want.cnt, "%s: on update, windows get several results", topic);
    eu_assert_same_set(&got, &want, topic);
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
}

/* Runs topo over the shuffled input (seed) in a fresh app and state directory; leaves the app
 * stopped for reading. */
static rill_app_t *run_windows(rill_topology_t *topo, const char *tag, const input_t *in, char *dir,
                               size_t dir_size) {
    char id[64];

    eu_state_dir_make(dir, dir_size);
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), tag);
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 2);
    send_input(rill_app_bootstrap_servers(app), in, 0, in->n, 2);
    eu_start(app);
    eu_wait_processed(app, (int64_t)in->n + 2);
    eu_stop(app);
    cr_assert_eq(__atomic_load_n(&bad_kind, __ATOMIC_RELAXED), 0,
                 "results with the wrong window_kind");
    cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), 0,
                 "no record of the input is late");
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0);
    return app;
}

static void run_and_check(const rill_window_spec_t *spec, const char *tag, const ref_t *ref,
                          const input_t *in, rill_emit_t count_emit, int with_sum) {
    char dir[64];
    rill_app_t *app =
        run_windows(window_topology(spec, count_emit, with_sum), tag, in, dir, sizeof(dir));

    if (count_emit == RILL_EMIT_FINAL)
        assert_final(rill_app_bootstrap_servers(app), "counted", ref, 0);
    else
        assert_last(app, "counted", ref, 0);
    if (with_sum)
        assert_last(app, "summed", ref, 1);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

static input_t input;
static ref_t ref;

Test(operators_windowed, tumbling_results_match_reference_when_input_out_of_order, .timeout = 90) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = GRACE};

    make_input(&input, BASE, 1);
    ref_time(&ref, &input, 1000, 1000);
    run_and_check(&spec, "win-tumbling", &ref, &input, RILL_EMIT_FINAL, 1);
}

Test(operators_windowed, hopping_results_match_reference_when_input_out_of_order, .timeout = 90) {
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_HOPPING, .size_ms = 1000, .advance_ms = 300, .grace_ms = GRACE};

    make_input(&input, BASE, 2);
    ref_time(&ref, &input, 1000, 300);
    run_and_check(&spec, "win-hopping", &ref, &input, RILL_EMIT_FINAL, 1);
}

Test(operators_windowed, sliding_results_match_reference_when_input_out_of_order, .timeout = 90) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SLIDING, .size_ms = 700, .grace_ms = GRACE};

    make_input(&input, BASE, 3);
    ref_sliding(&ref, &input, 700);
    run_and_check(&spec, "win-sliding", &ref, &input, RILL_EMIT_FINAL, 1);
}

/* Records before the time difference share the window [0, D] (Kafka Streams' processEarly). */
Test(operators_windowed, sliding_results_match_reference_when_records_precede_time_difference,
     .timeout = 90) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SLIDING, .size_ms = 2000, .grace_ms = GRACE};

    make_input(&input, 1, 4);
    ref_sliding(&ref, &input, 2000);
    run_and_check(&spec, "win-sliding-early", &ref, &input, RILL_EMIT_FINAL, 1);
}

Test(operators_windowed, session_results_match_reference_when_emitted_on_update, .timeout = 90) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SESSION, .gap_ms = 300, .grace_ms = GRACE};

    make_input(&input, BASE, 5);
    ref_session(&ref, &input, 300);
    run_and_check(&spec, "win-session-update", &ref, &input, RILL_EMIT_ON_UPDATE, 1);
}

Test(operators_windowed, session_results_final_when_emitted_at_close, .timeout = 90) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SESSION, .gap_ms = 300, .grace_ms = GRACE};

    make_input(&input, BASE, 6);
    ref_session(&ref, &input, 300);
    run_and_check(&spec, "win-session-final", &ref, &input, RILL_EMIT_FINAL, 0);
}

/*
 * Emit-final keeps its progress, its stream time and its time index of the windows not yet
 * emitted in stores, not in memory. An app stopped halfway is followed by a second one, on an
 * empty state directory (so its state comes back from the changelogs alone) or on the first
 * one's (so it comes from RocksDB): over both runs every window is emitted exactly once (a
 * window emitted twice, or missed, fails), and a record late for the first run's stream time
 * is still late as the first record the second run sees.
 */
static void restart_and_check(const rill_window_spec_t *spec, const char *name, int same_dir) {
    char errstr[512], id[64], dlq[96], dir[2][64];
    size_t half = NREC / 2;
    int64_t first = INT64_MAX;

    for (size_t i = 0; i < half; i++)
        if (input.r[i].ts < first)
            first = input.r[i].ts;
    rill_broker_t *broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    const char *bootstrap = rill_broker_bootstrap_servers(broker);
    cr_assert_eq(rill_broker_create_topic(broker, "in", 2), 0);
    eu_app_id(id, sizeof(id), name);
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    for (int run = 0; run < 2; run++) {
        if (run && same_dir)
            snprintf(dir[run], sizeof(dir[run]), "%s", dir[0]);
        else
            eu_state_dir_make(dir[run], sizeof(dir[run]));
        const char *extra[] = {"bootstrap.servers", bootstrap, "state.dir", dir[run], NULL};
        rill_app_t *app = eu_app_new(window_topology(spec, RILL_EMIT_FINAL, 0), id, extra);
        int64_t n = run ? (int64_t)(input.n - half) + 3 : (int64_t)half;
        if (run) {
            rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
            cr_assert_not_null(p, "%s", errstr);
            eu_send(p, "in", -1, "k0", "late", first);
            eu_producer_done(p);
        }
        send_input(bootstrap, &input, run ? half : 0, run ? input.n : half, run ? 2 : 0);
        eu_start(app);
        eu_wait_processed(app, n);
        eu_stop(app);
        cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), run, "run %d: late records",
                     run + 1);
        cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), run);
        rill_app_destroy(app);
    }
    assert_final(bootstrap, "counted", &ref, 0);
    eu_recs_t dead;
    eu_read_topic(bootstrap, dlq, &dead);
    cr_assert_eq(dead.cnt, 1);
    cr_assert_str_eq(dead.v[0].value, "late");
    cr_assert(!strncmp(eu_rec_header(&dead.v[0], "rill.error"), "late: ", 6));
    eu_recs_free(&dead);
    rill_broker_destroy(broker);
    eu_state_dir_remove(dir[0]);
    if (!same_dir)
        eu_state_dir_remove(dir[1]);
}

Test(operators_windowed, final_results_once_when_app_restarts_from_changelog, .timeout = 120) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = GRACE};

    make_input(&input, BASE, 7);
    ref_time(&ref, &input, 1000, 1000);
    restart_and_check(&spec, "win-restart", 0);
}

Test(operators_windowed, hopping_final_results_once_when_app_restarts_on_its_state,
     .timeout = 120) {
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_HOPPING, .size_ms = 1000, .advance_ms = 250, .grace_ms = GRACE};

    make_input(&input, BASE, 8);
    ref_time(&ref, &input, 1000, 250);
    restart_and_check(&spec, "win-restart-hop", 1);
}

Test(operators_windowed, session_final_results_once_when_app_restarts_from_changelog,
     .timeout = 120) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SESSION, .gap_ms = 300, .grace_ms = GRACE};

    make_input(&input, BASE, 9);
    ref_session(&ref, &input, 300);
    restart_and_check(&spec, "win-restart-session", 0);
}

Test(operators_windowed, sliding_final_results_once_when_app_restarts_on_its_state,
     .timeout = 120) {
    rill_window_spec_t spec = {.kind = RILL_WINDOW_SLIDING, .size_ms = 2000, .grace_ms = GRACE};

    make_input(&input, BASE, 10);
    ref_sliding(&ref, &input, 2000);
    restart_and_check(&spec, "win-restart-sliding", 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Late and key-less records                                                                */

Test(operators_windowed, late_records_dead_lettered_when_their_windows_closed, .timeout = 90) {
    static const struct {
        const char *key;
        int64_t at;
        /* clang-format off */
    } seq[] = {
        {"a", 0},    {"a", 100},  {"a", 1500},
        {"a", 50},   /* late: [0, 1000) closed at 1200; its session [0, 100] at 1000 */
        {"a", 1100}, /* on time: [1000, 2000) is open; a session of its own */
        {"a", 5000},
        {"a", 1300}, /* late: [1000, 2000) closed at 2200; it would merge closed sessions */
        {NULL, 5001}, /* no key */
        {"~flush", 100000},
    };
    /* clang-format on */
    const int n = (int)(sizeof(seq) / sizeof(seq[0]));
    rill_window_spec_t tumbling = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 1000, .grace_ms = 200};
    rill_window_spec_t session = {.kind = RILL_WINDOW_SESSION, .gap_ms = 300, .grace_ms = 200};
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    char id[64], dlq[96], dir[64], value[16];

    to_topic(rill_windowed_count(rill_grouped_windowed_by(g, &tumbling), "late-tumbling",
                                 RILL_EMIT_FINAL),
             RILL_WINDOW_TUMBLING, "counted");
    to_topic(rill_windowed_count(rill_grouped_windowed_by(g, &session), "late-sessions",
                                 RILL_EMIT_ON_UPDATE),
             RILL_WINDOW_SESSION, "sessions");
    cr_assert_null(rill_topology_error(topo));
    eu_state_dir_make(dir, sizeof(dir));
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, sizeof(id), "win-late");
    snprintf(dlq, sizeof(dlq), "%s-dlq", id);
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 1);
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < n; i++) {
        snprintf(value, sizeof(value), "r%d", i);
        eu_send(p, "in", 0, seq[i].key, value, BASE + seq[i].at);
    }
    eu_producer_done(p);
    eu_start(app);
    eu_wait_processed(app, n);
    eu_stop(app);

    eu_recs_t out, dead;
    eu_strs_t got = {0}, want = {0};
    eu_read_topic(rill_app_bootstrap_servers(app), "counted", &out);
    for (size_t i = 0; i < out.cnt; i++)
        if (!is_flush(&out.v[i]))
            eu_strs_add(&got, "%s=%s@%lld", out.v[i].key, out.v[i].value,
                        (long long)(out.v[i].timestamp - BASE));
    eu_strs_add(&want, "a@%lld@%lld=2@100", BASE, BASE + 1000);
    eu_strs_add(&want, "a@%lld@%lld=2@1500", BASE + 1000, BASE + 2000);
    eu_strs_add(&want, "a@%lld@%lld=1@5000", BASE + 5000, BASE + 6000);
    eu_assert_same_set(&got, &want, "tumbling counts");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);

    eu_read_topic(rill_app_bootstrap_servers(app), dlq, &dead);
    int late = 0, keyless = 0;
    for (size_t i = 0; i < dead.cnt; i++) {
        const char *error = eu_rec_header(&dead.v[i], "rill.error");
        const char *node = eu_rec_header(&dead.v[i], "rill.error.node");
        cr_assert_not_null(error);
        cr_assert(node && !strncmp(node, "KSTREAM-WINDOWED-AGGREGATE", 26), "node %s", node);
        if (!strncmp(error, "late: ", 6)) {
            late++;
            cr_assert(!strcmp(dead.v[i].value, "r3") || !strcmp(dead.v[i].value, "r6"),
                      "%s is not late (%s)", dead.v[i].value, error);
        } else {
            keyless++;
            cr_assert(!strncmp(error, "null key: ", 10), "reason %s", error);
            cr_assert_str_eq(dead.v[i].value, "r7");
        }
    }
    cr_assert_eq(late, 4, "each late record, once per windowed aggregation");
    cr_assert_eq(keyless, 2);
    cr_assert_eq(rill_app_metric(app, "rill_late_records_total"), 4);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 6);
    eu_recs_free(&dead);

    /* The sessions that took the on-time records, each with its last count. */
    eu_read_topic(rill_app_bootstrap_servers(app), "sessions", &out);
    for (size_t i = 0; i < out.cnt; i++) {
        int later = 0;
        for (size_t j = i + 1; j < out.cnt; j++)
            later |= !strcmp(out.v[j].key, out.v[i].key);
        if (!later && out.v[i].value && !is_flush(&out.v[i]))
            eu_strs_add(&got, "%s=%s", out.v[i].key, out.v[i].value);
    }
    eu_strs_add(&want, "a@%lld@%lld=2", BASE, BASE + 100);
    eu_strs_add(&want, "a@%lld@%lld=1", BASE + 1100, BASE + 1100);
    eu_strs_add(&want, "a@%lld@%lld=1", BASE + 1500, BASE + 1500);
    eu_strs_add(&want, "a@%lld@%lld=1", BASE + 5000, BASE + 5000);
    eu_assert_same_set(&got, &want, "sessions");
    eu_strs_free(&got);
    eu_strs_free(&want);
    eu_recs_free(&out);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* Builder errors                                                                           */

Test(operators_windowed, builder_fails_when_window_spec_invalid) {
    static const rill_window_spec_t bad[] = {
        {.kind = RILL_WINDOW_TUMBLING},
        {.kind = RILL_WINDOW_HOPPING, .size_ms = 100, .advance_ms = 200},
        {.kind = RILL_WINDOW_SLIDING, .size_ms = 100, .gap_ms = 5},
        {.kind = RILL_WINDOW_SESSION},
        {.kind = RILL_WINDOW_TUMBLING, .size_ms = 100, .grace_ms = 50, .retention_ms = 120},
        {.kind = (rill_window_kind_t)0, .size_ms = 100},
        {.kind = RILL_WINDOW_TUMBLING, .size_ms = 100, .grace_ms = -1},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rill_topology_t *topo = rill_topology_new();
        rill_grouped_t *g =
            rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
        cr_assert_not_null(g);
        cr_assert_null(rill_grouped_windowed_by(g, &bad[i]), "spec %zu accepted", i);
        cr_assert_not_null(rill_topology_error(topo));
        rill_topology_destroy(topo);
    }
    /* A session aggregate needs session windows, and sessions need a merger. */
    rill_window_spec_t tumbling = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 100};
    rill_window_spec_t session = {.kind = RILL_WINDOW_SESSION, .gap_ms = 100};
    rill_topology_t *topo = rill_topology_new();
    rill_grouped_t *g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    cr_assert_null(rill_session_aggregate(rill_grouped_windowed_by(g, &tumbling), "x", sum_init,
                                          sum_add, sum_merge, NULL, RILL_EMIT_FINAL));
    cr_assert(strstr(rill_topology_error(topo), "rill_windowed_aggregate"), "%s",
              rill_topology_error(topo));
    rill_topology_destroy(topo);
    topo = rill_topology_new();
    g = rill_stream_group_by_key(rill_stream_from(topo, "in", "in", NULL), NULL);
    cr_assert_null(rill_windowed_aggregate(rill_grouped_windowed_by(g, &session), "x", sum_init,
                                           sum_add, NULL, RILL_EMIT_FINAL));
    cr_assert(strstr(rill_topology_error(topo), "merger"), "%s", rill_topology_error(topo));
    rill_topology_destroy(topo);
}
