/*
 * test_lineage_state.c — lineage through state that emits later, on a real Kafka:
 * tests/progs/rill_lineage_app (lineage.enable, exactly_once_v2) counts one keyed input
 * twice, per key and tumbling window emitted final, and per key with the record cache on
 * (a commit interval of a second, so that updates of a key between commits coalesce).
 * Every input record carries a traceparent with a trace id of its own, chosen by the test.
 *
 * The run: the first half of the input is written in chunks while the app runs, until the
 * group has committed all of it; the app is then SIGKILLed; the second half is written
 * (later times, so the windows open at the kill get no more records) and the app starts
 * again with a fresh state directory (its stores come back from their changelogs only) and
 * --drain.
 *
 * A reference model over the input, in each key's partition order, says for every output:
 *  - a window's result: its count and the last record (in that order) in the window: the
 *    result's trace id must be that record's and rill.lineage its position, input/p@o —
 *    not the record, or the drain, that closed the window;
 *  - a cached count's update of key k to n: the n-th record of k, the same way;
 * and every window comes exactly once (read_committed). The windows still open at the kill
 * whose every record came before it are counted: their traces came back with the state.
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTS 3
#define KEYS 40
#define HALF 3000 /* records per phase */
#define N (2 * HALF)
#define WINDOW_MS 1000
#define GRACE_MS 200
#define STEP_MS 10
#define JITTER_MS 150   /* < GRACE_MS: no record is late */
#define T0 1000000      /* the first phase's times */
#define T1 (T0 + 40000) /* the second phase's, a window boundary after the first's last */
#define MAX_WINDOWS 20000
#define CHUNKS 6
#define CHUNK_PAUSE_MS 1500 /* longer than the commit interval */
#define COMMIT_MS "1000"

TestSuite(integration_lineage_state, .fini = rt_state_fini, .timeout = 300);

/* ---- the input ---- */

typedef struct in_rec_s {
    char key[8];
    int64_t ts;
    char trace[33]; /* the trace id given, 32 hex */
    int32_t partition;
    int64_t offset;
} in_rec_t;

static in_rec_t input[N];

static void make_input(void) {
    uint64_t rng = 0x5eed1234abcdULL;
    for (size_t i = 0; i < N; i++) {
        in_rec_t *r = &input[i];
        int64_t base = i < HALF ? T0 + (int64_t)i * STEP_MS : T1 + (int64_t)(i - HALF) * STEP_MS;
        snprintf(r->key, sizeof(r->key), "k%02d", (int)(rt_rand_next(&rng) % KEYS));
        r->ts = base + (int64_t)(rt_rand_next(&rng) % JITTER_MS);
        snprintf(r->trace, sizeof(r->trace), "7ace%012" PRIx64 "%016" PRIx64, (uint64_t)i + 1,
                 rt_rand_next(&rng) | 1);
        r->partition = -1;
        r->offset = -1;
    }
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    in_rec_t *r = m->_private;
    if (!m->err) {
        r->partition = m->partition;
        r->offset = m->offset;
    }
}

/* Writes input[from, to) to topic with its traceparents (murmur2, as Kafka's Java client). */
static void produce(const char *topic, size_t from, size_t to) {
    rd_kafka_t *rk = rt_murmur2_producer(5, delivered, NULL);
    for (size_t i = from; i < to; i++) {
        in_rec_t *r = &input[i];
        char tp[64];
        snprintf(tp, sizeof(tp), "00-%s-%016zx-01", r->trace, i + 1);
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "traceparent", -1, tp, -1);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int tries = 0; tries < 1000; tries++) {
            err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(r->key, 3),
                                    RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_TIMESTAMP(r->ts),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r),
                                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        if (err)
            rd_kafka_headers_destroy(h);
        cr_assert_eq(err, 0, "producing record %zu: %s", i, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    cr_assert_eq(rd_kafka_flush(rk, 60000), 0, "flushing the input");
    rd_kafka_destroy(rk);
    for (size_t i = from; i < to; i++)
        cr_assert_geq(input[i].offset, 0, "record %zu has no delivery report", i);
}

/* ---- the reference model ---- */

/* Input indices in partition order (partition, then offset): a key's records in its order. */
static size_t order[N];

static int order_cmp(const void *x, const void *y) {
    const in_rec_t *a = &input[*(const size_t *)x], *b = &input[*(const size_t *)y];
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

typedef struct win_s {
    char key[8];
    int64_t start, count;
    size_t last; /* the input record that last updated it */
    int emitted; /* results read for it */
} win_t;

static win_t wins[MAX_WINDOWS];
static size_t win_cnt;

static win_t *win_at(const char *key, int64_t start, int add) {
    for (size_t i = 0; i < win_cnt; i++)
        if (wins[i].start == start && !strcmp(wins[i].key, key))
            return &wins[i];
    if (!add)
        return NULL;
    cr_assert_lt(win_cnt, MAX_WINDOWS);
    win_t *w = &wins[win_cnt++];
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->start = start;
    return w;
}

/* nth[k][n - 1]: key k's n-th record. */
static size_t nth[KEYS][N];
static size_t key_total[KEYS];

static void model(void) {
    for (size_t i = 0; i < N; i++)
        order[i] = i;
    qsort(order, N, sizeof(order[0]), order_cmp);
    for (size_t j = 0; j < N; j++) {
        size_t i = order[j];
        win_t *w = win_at(input[i].key, input[i].ts - input[i].ts % WINDOW_MS, 1);
        w->count++;
        w->last = i;
        int k = atoi(input[i].key + 1);
        nth[k][key_total[k]++] = i;
    }
}

/* ---- checking an output ---- */

static void trace_id(const rt_record_t *r, char out[33], const char *what) {
    const char *tp = rt_record_header(r, "traceparent");
    cr_assert_not_null(tp, "%s: no traceparent", what);
    cr_assert_eq(strlen(tp), 55, "%s: traceparent \"%s\"", what, tp);
    snprintf(out, 33, "%.32s", tp + 3);
}

/* r must carry input record i's trace id and, as its whole chain, i's position. */
static void expect_from(const rt_record_t *r, const char *topic, size_t i, const char *what) {
    char id[33], chain[160];
    trace_id(r, id, what);
    cr_assert_str_eq(id, input[i].trace, "%s: the trace of another record than input %zu", what, i);
    snprintf(chain, sizeof(chain), "%s/%d@%" PRId64, topic, (int)input[i].partition,
             input[i].offset);
    const char *got = rt_record_header(r, "rill.lineage");
    cr_assert_not_null(got, "%s: no rill.lineage (expected %s)", what, chain);
    cr_assert_str_eq(got, chain, "%s: lineage", what);
}

static int64_t be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return (int64_t)v;
}

static void check_windows(const rt_records_t *out, const char *topic) {
    for (size_t j = 0; j < out->cnt; j++) {
        const rt_record_t *r = &out->v[j];
        char what[96], key[8];
        cr_assert(r->key_len == 11 && r->value_len == 8, "window result %zu: key %zu bytes", j,
                  r->key_len);
        snprintf(key, sizeof(key), "%.3s", r->key);
        int64_t start = be64(r->key + 3);
        snprintf(what, sizeof(what), "window %s@%" PRId64, key, start);
        win_t *w = win_at(key, start, 0);
        cr_assert_not_null(w, "%s: not a window of the input", what);
        cr_assert_eq(be64(r->value), w->count, "%s: count", what);
        cr_assert_eq(w->emitted++, 0, "%s: emitted twice", what);
        expect_from(r, topic, w->last, what);
    }
    for (size_t i = 0; i < win_cnt; i++)
        cr_assert_eq(wins[i].emitted, 1, "window %s@%" PRId64 " never emitted", wins[i].key,
                     wins[i].start);
}

static void check_counts(const rt_records_t *out, const char *topic) {
    int64_t last[KEYS] = {0};
    for (size_t j = 0; j < out->cnt; j++) {
        const rt_record_t *r = &out->v[j];
        char what[64];
        cr_assert(r->key_len == 3 && r->value_len == 8, "count %zu: key %zu bytes", j, r->key_len);
        int k = atoi(r->key + 1);
        int64_t n = be64(r->value);
        snprintf(what, sizeof(what), "count of %.3s = %" PRId64, r->key, n);
        cr_assert(k >= 0 && k < KEYS && n >= 1 && n <= (int64_t)key_total[k], "%s: unexpected",
                  what);
        cr_assert_gt(n, last[k], "%s after %" PRId64 ": counts go up", what, last[k]);
        last[k] = n;
        expect_from(r, topic, nth[k][n - 1], what);
    }
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(last[k], (int64_t)key_total[k], "k%02d: last count", k);
}

/* ---- the app ---- */

typedef struct app_s {
    char *input, *out_win, *out_cnt, *app_id;
} app_t;

static pid_t app_spawn(const app_t *a, const char *state_dir, int drain, const char *log) {
    char *prog = rt_build_path("rill_lineage_app");
    char win[16], grace[16];
    snprintf(win, sizeof(win), "%d", WINDOW_MS);
    snprintf(grace, sizeof(grace), "%d", GRACE_MS);
    char *argv[] = {prog,
                    "--bootstrap-servers",
                    (char *)rt_bootstrap(),
                    "--input",
                    a->input,
                    "--output-windows",
                    a->out_win,
                    "--output-counts",
                    a->out_cnt,
                    "--app-id",
                    a->app_id,
                    "--window-ms",
                    win,
                    "--grace-ms",
                    grace,
                    "--state-dir",
                    (char *)state_dir,
                    "--instance-id",
                    "lineage-1",
                    "-D",
                    "lineage.enable=true",
                    "-D",
                    "processing.guarantee=exactly_once_v2",
                    "-D",
                    "commit.interval.ms=" COMMIT_MS,
                    "-D",
                    "consumer.session.timeout.ms=6000",
                    "-D",
                    "consumer.heartbeat.interval.ms=500",
                    drain ? "--drain" : NULL,
                    NULL};
    pid_t pid = rt_spawn(argv, log);
    free(prog);
    return pid;
}

Test(integration_lineage_state, window_and_cached_results_carry_their_last_update_across_a_kill) {
    app_t a = {.input = rt_unique_name("lin-in"),
               .out_win = rt_unique_name("lin-win"),
               .out_cnt = rt_unique_name("lin-cnt"),
               .app_id = rt_unique_name("lin-app")};
    rt_create_topic(rt_bootstrap(), a.input, PARTS);
    rt_create_topic(rt_bootstrap(), a.out_win, PARTS);
    rt_create_topic(rt_bootstrap(), a.out_cnt, PARTS);
    make_input();
    char *log = rt_tmp_path("lineage_app.log");

    /* First half, written in chunks while the app runs (so that its cache is flushed by
     * several commits), then a SIGKILL once all of it is committed. */
    char *dir1 = rt_state_dir_new("lineage-1");
    pid_t pid = app_spawn(&a, dir1, 0, log);
    for (size_t c = 0; c < CHUNKS; c++) {
        produce(a.input, c * HALF / CHUNKS, (c + 1) * HALF / CHUNKS);
        rt_sleep_ms(CHUNK_PAUSE_MS);
    }
    int64_t lag = rt_wait_group_caught_up(rt_bootstrap(), a.app_id, a.input, 120000, pid);
    if (lag != 0)
        rt_log_tail(log, 40);
    cr_assert_eq(lag, 0, "the first run did not commit the first half (lag %" PRId64 ")", lag);
    cr_assert_eq(rt_kill(pid, SIGKILL), 0);
    cr_assert_eq(rt_wait(pid, 10000), 128 + SIGKILL);
    rt_state_dir_remove(dir1);
    free(dir1);

    /* Second half, and a fresh state directory: the stores come from their changelogs. */
    produce(a.input, HALF, N);
    char *dir2 = rt_state_dir_new("lineage-2");
    pid = app_spawn(&a, dir2, 1, log);
    int rc = rt_wait(pid, 180000);
    if (rc != 0)
        rt_log_tail(log, 40);
    cr_assert_eq(rc, 0, "the second run (--drain) ended with %d", rc);
    rt_state_dir_remove(dir2);
    free(dir2);

    model();
    rt_records_t *wout =
        rt_consume_all(rt_bootstrap(), a.out_win, "read_committed", win_cnt, 60000);
    rt_records_t *cout = rt_consume_all(rt_bootstrap(), a.out_cnt, "read_committed", 1, 60000);
    cr_log_info("%zu inputs, %zu windows (%zu results), %zu cached count updates", (size_t)N,
                win_cnt, wout->cnt, cout->cnt);
    check_windows(wout, a.input);
    check_counts(cout, a.input);
    /* The cache coalesced updates: fewer outputs than inputs. */
    cr_assert_lt(cout->cnt, (size_t)N / 2, "the record cache did not coalesce updates");

    /* Windows open at the kill whose records all came before it: their results were emitted
     * by the second run, with traces restored from the changelog. */
    int64_t max_ts[PARTS];
    for (int p = 0; p < PARTS; p++)
        max_ts[p] = -1;
    for (size_t i = 0; i < HALF; i++)
        if (input[i].ts > max_ts[input[i].partition])
            max_ts[input[i].partition] = input[i].ts;
    size_t restored = 0;
    for (size_t i = 0; i < win_cnt; i++) {
        int32_t p = input[wins[i].last].partition;
        if (wins[i].last < HALF && wins[i].start >= max_ts[p] - GRACE_MS - WINDOW_MS + 1)
            restored++;
    }
    cr_log_info("%zu windows closed after the restore with traces from the changelog", restored);
    cr_assert_geq(restored, (size_t)KEYS / 2, "too few windows open at the kill");

    rt_records_free(wout);
    rt_records_free(cout);
    free(wout);
    free(cout);
    free(log);
    free(a.input);
    free(a.out_win);
    free(a.out_cnt);
    free(a.app_id);
}
