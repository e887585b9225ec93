/*
 * test_completion_crash.c — completion detection survives SIGKILL and a move to another
 * process on a real Kafka: tests/progs/rill_winner_app (the winning bid of each NEXMark
 * auction, rill_stream_complete) runs under exactly_once_v2 while NEXMark auctions and bids
 * are written at a steady rate, and
 *  (a) one instance is SIGKILLed twice at seeded random points and restarted each time on
 *      the same state directory as the same static member;
 *  (b) two instances share the work and one is SIGKILLed (not restarted): the other takes
 *      over its tasks, restoring their stores from the changelog.
 * Read with read_committed, the output must then hold every auction exactly once, with the
 * winner a reference computed here from the same generated events gives it.
 *
 * Input. EVENTS NEXMark events (rill_nexmark, seeded; persons are not written), event time
 * from the start of the run at RATE events per second, written at that rate (so event time
 * follows the wall clock and kills land mid-stream), to two 4-partition topics keyed by
 * auction id (murmur2: a bid lands in its auction's partition). The reference applies the
 * app's rule: a bid counts when auction.dateTime <= bid.dateTime < expires and price >=
 * reserve; the winner has the highest price, then the earliest dateTime, then the lowest
 * bidder; every auction completes, also those without a counted bid (winner null).
 *
 * Watermarks. An auction completes when its task's stream time passes expires + grace, and
 * stream time only moves with records. After the whole input is acknowledged the test writes
 * one "watermark" auction to each partition of the auctions topic: key "~watermark-<p>",
 * dateTime = the latest expiry + grace + 1 s, expires far in the future (it never completes,
 * so it never shows in the output). Being last in its partition and later than every input
 * record, it is processed after the task's input and completes every auction of the task.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <json-c/json.h>
#include <nexmark.h>
#include <rill.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS 150000
#define RATE 5000 /* events per second of event time and of writing: 30 s of input */
#define PARTITIONS 4
#define GRACE_MS 3000
#define HOLD_MS 10000
#define FAR_MS INT64_C(4000000000000)
#define OUTPUT_TIMEOUT_MS 180000
#define MAX_RUNS 4

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    "log.level=debug", /* instance_wait_running reads the per-store restore lines (debug) */
    NULL,
};

TestSuite(integration_completion_crash, .fini = rt_state_fini, .timeout = 420);

/* ---------------------------------------------------------------------------------------- */
/* Input and reference                                                                      */

typedef struct ref_auction_s {
    int64_t date_time, expires, reserve;
    int64_t price, bid_time, bidder, bids; /* the best counted bid; bids 0: none */
} ref_auction_t;

typedef struct input_s {
    nexmark_config_t cfg;
    ref_auction_t *auctions; /* by id - NEXMARK_FIRST_AUCTION_ID */
    size_t auction_cnt;
    int64_t last_expiry;
} input_t;

static void input_make(input_t *in, uint64_t seed) {
    char errstr[256];
    nexmark_config_init(&in->cfg);
    in->cfg.seed = seed;
    in->cfg.rate = RATE;
    in->cfg.base_time_ms = (int64_t)time(NULL) * 1000; /* near now: no retention trips */
    cr_assert_eq(nexmark_config_check(&in->cfg, errstr, sizeof(errstr)), 0, "%s", errstr);
    in->auction_cnt = (size_t)(nexmark_last_base0_auction(EVENTS - 1) + 1);
    in->auctions = calloc(in->auction_cnt, sizeof(in->auctions[0]));
    cr_assert_not_null(in->auctions);
    in->last_expiry = 0;
    nexmark_event_t ev;
    for (uint64_t n = 0; n < EVENTS; n++) { /* auctions first: bids may come before theirs */
        if (nexmark_kind_of(n) != NEXMARK_AUCTION)
            continue;
        nexmark_event_at(&in->cfg, n, &ev);
        ref_auction_t *a = &in->auctions[ev.auction.id - NEXMARK_FIRST_AUCTION_ID];
        a->date_time = ev.date_time;
        a->expires = ev.auction.expires;
        a->reserve = ev.auction.reserve;
        if (a->expires > in->last_expiry)
            in->last_expiry = a->expires;
    }
    for (uint64_t n = 0; n < EVENTS; n++) {
        if (nexmark_kind_of(n) != NEXMARK_BID)
            continue;
        nexmark_event_at(&in->cfg, n, &ev);
        int64_t idx = ev.bid.auction - NEXMARK_FIRST_AUCTION_ID;
        if (idx < 0 || (size_t)idx >= in->auction_cnt)
            continue; /* an auction that is never made: the bid is dead-lettered */
        ref_auction_t *a = &in->auctions[idx];
        if (ev.date_time < a->date_time || ev.date_time >= a->expires || ev.bid.price < a->reserve)
            continue;
        a->bids++;
        if (a->bids == 1 || ev.bid.price > a->price ||
            (ev.bid.price == a->price &&
             (ev.date_time < a->bid_time ||
              (ev.date_time == a->bid_time && ev.bid.bidder < a->bidder)))) {
            a->price = ev.bid.price;
            a->bid_time = ev.date_time;
            a->bidder = ev.bid.bidder;
        }
    }
}

/* The form values are compared in: "w=<bidder>,p=<price>,n=<bids>" or "none,n=0". */
static void canonical(int64_t winner, int64_t price, int64_t bids, int none, char *out,
                      size_t size) {
    if (none)
        snprintf(out, size, "none,n=%" PRId64, bids);
    else
        snprintf(out, size, "w=%" PRId64 ",p=%" PRId64 ",n=%" PRId64, winner, price, bids);
}

static void input_expected(const input_t *in, rt_kvs_t *expected) {
    char key[32], value[96];
    for (size_t i = 0; i < in->auction_cnt; i++) {
        const ref_auction_t *a = &in->auctions[i];
        snprintf(key, sizeof(key), "%zu", i + NEXMARK_FIRST_AUCTION_ID);
        canonical(a->bidder, a->price, a->bids, a->bids == 0, value, sizeof(value));
        rt_kvs_add(expected, key, value);
    }
}

/* Rewrites the value of an output record into the canonical form ("bad: <value>" when it
 * is not the app's JSON for its key). */
static void canonicalize(rt_record_t *rec) {
    char value[160];
    struct json_object *obj = rec->value ? json_tokener_parse(rec->value) : NULL;
    struct json_object *auction, *winner, *price, *bids;
    if (obj && rec->key && json_object_object_get_ex(obj, "auction", &auction) &&
        json_object_object_get_ex(obj, "winner", &winner) &&
        json_object_object_get_ex(obj, "price", &price) &&
        json_object_object_get_ex(obj, "bids", &bids) &&
        json_object_get_int64(auction) == strtoll(rec->key, NULL, 10) &&
        (winner == NULL) == (price == NULL)) {
        canonical(json_object_get_int64(winner), json_object_get_int64(price),
                  json_object_get_int64(bids), winner == NULL, value, sizeof(value));
    } else {
        snprintf(value, sizeof(value), "bad: %.140s", rec->value ? rec->value : "(null)");
    }
    json_object_put(obj);
    free(rec->value);
    rec->value = strdup(value);
    rec->value_len = strlen(value);
}

/* ---------------------------------------------------------------------------------------- */
/* Writing the input at a steady rate, then the watermarks                                  */

typedef struct writer_s {
    pthread_t tid;
    const input_t *in;
    const char *bootstrap, *auctions, *bids;
    int64_t started_ms, written_ms; /* rt_now_ms() at the first record and after the flush */
    int rc;
    char errstr[512];
} writer_t;

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    if (ms > 0)
        nanosleep(&ts, NULL);
}

static int write_events(writer_t *w, rill_producer_t *p) {
    rill_buf_t json = {0};
    char key[NEXMARK_KEY_MAX];
    nexmark_event_t ev;
    int rc = 0;
    for (uint64_t n = 0; n < EVENTS && !rc; n++) {
        if (n % 100 == 0)
            sleep_ms(w->started_ms + (int64_t)(n * 1000 / RATE) - rt_now_ms());
        if (nexmark_kind_of(n) == NEXMARK_PERSON)
            continue;
        nexmark_event_at(&w->in->cfg, n, &ev);
        rill_buf_reset(&json);
        size_t key_len = nexmark_event_key(&ev, key);
        if (nexmark_event_json(&ev, &json) ||
            rill_producer_send(p, ev.kind == NEXMARK_AUCTION ? w->auctions : w->bids, -1, key,
                               key_len, json.data, json.len, ev.date_time)) {
            snprintf(w->errstr, sizeof(w->errstr), "cannot send event %" PRIu64, n);
            rc = -1;
        }
    }
    rill_buf_free(&json);
    return rc;
}

static int write_watermarks(writer_t *w, rill_producer_t *p) {
    int64_t at = w->in->last_expiry + GRACE_MS + 1000;
    char key[32], value[160];
    for (int part = 0; part < PARTITIONS; part++) {
        snprintf(key, sizeof(key), "~watermark-%d", part);
        int len =
            snprintf(value, sizeof(value),
                     "{\"id\":-1,\"reserve\":0,\"dateTime\":%" PRId64 ",\"expires\":%" PRId64 "}",
                     at, FAR_MS);
        if (rill_producer_send(p, w->auctions, part, key, strlen(key), value, (size_t)len, at)) {
            snprintf(w->errstr, sizeof(w->errstr), "cannot send watermark %d", part);
            return -1;
        }
    }
    return 0;
}

static void *writer_main(void *arg) {
    writer_t *w = arg;
    rill_producer_t *p = rill_producer_new(w->bootstrap, NULL, w->errstr, sizeof(w->errstr));
    w->rc = -1;
    if (!p)
        return NULL;
    w->started_ms = rt_now_ms();
    if (!write_events(w, p) && !rill_producer_flush(p, 60000, w->errstr, sizeof(w->errstr)) &&
        !write_watermarks(w, p) && !rill_producer_flush(p, 60000, w->errstr, sizeof(w->errstr)))
        w->rc = 0;
    w->written_ms = rt_now_ms();
    rill_producer_destroy(p);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The app's processes                                                                      */

typedef struct instance_s {
    const char *name; /* "a", "b": log names and, with static membership, the instance id */
    char *state_dir;
    int static_member;
    pid_t pid;
    int runs;
    char *log[MAX_RUNS];
    int exit_code[MAX_RUNS];
} instance_t;

typedef struct scenario_s {
    char *app_id, *auctions, *bids, *output;
    const char *bootstrap;
    input_t in;
    writer_t writer;
    rt_kvs_t expected;
} scenario_t;

static void instance_start(const scenario_t *sc, instance_t *inst) {
    char *path = rt_build_path("rill_winner_app"), grace[24], hold[24], file[96];
    snprintf(grace, sizeof(grace), "%d", GRACE_MS);
    snprintf(hold, sizeof(hold), "%d", HOLD_MS);
    const char *argv[40] = {path,           "--bootstrap-servers",
                            sc->bootstrap,  "--auctions",
                            sc->auctions,   "--bids",
                            sc->bids,       "--output",
                            sc->output,     "--app-id",
                            sc->app_id,     "--grace-ms",
                            grace,          "--hold-ms",
                            hold,           "--state-dir",
                            inst->state_dir};
    int argc = 17;
    if (inst->static_member) {
        argv[argc++] = "--instance-id";
        argv[argc++] = inst->name;
    }
    for (int i = 0; eos_props[i]; i++) {
        argv[argc++] = "-D";
        argv[argc++] = eos_props[i];
    }
    argv[argc] = NULL;
    cr_assert_lt(inst->runs, MAX_RUNS);
    snprintf(file, sizeof(file), "%s-%s-run%d.log", sc->app_id, inst->name, inst->runs);
    inst->log[inst->runs] = rt_tmp_path(file);
    inst->pid = rt_spawn((char *const *)argv, inst->log[inst->runs]);
    inst->exit_code[inst->runs] = -1;
    inst->runs++;
    free(path);
}

/* Waits (bounded) until the running instance has opened at least min_stores stores, so a
 * kill hits a running app and not its start. */
static void instance_wait_running(const instance_t *inst, int min_stores) {
    if (!rt_wait_restores(inst->log[inst->runs - 1], 0, min_stores, 60000))
        cr_log_info("instance %s run %d: fewer than %d store(s) opened after 60 s (log %s)",
                    inst->name, inst->runs - 1, min_stores, inst->log[inst->runs - 1]);
}

static void instance_kill(instance_t *inst) {
    cr_assert_eq(rt_kill(inst->pid, SIGKILL), 0);
    inst->exit_code[inst->runs - 1] = rt_wait(inst->pid, 20000);
    inst->pid = 0;
}

static void instance_stop(instance_t *inst) {
    if (inst->pid <= 0)
        return;
    rt_kill(inst->pid, SIGTERM);
    inst->exit_code[inst->runs - 1] = rt_wait(inst->pid, 60000);
    if (inst->exit_code[inst->runs - 1] < 0) {
        rt_kill(inst->pid, SIGKILL);
        rt_wait(inst->pid, 10000);
    }
    inst->pid = 0;
}

static void instance_free(instance_t *inst) {
    for (int k = 0; k < inst->runs; k++)
        free(inst->log[k]);
    rt_state_dir_remove(inst->state_dir);
    free(inst->state_dir);
}

static void scenario_setup(scenario_t *sc, const char *name, uint64_t seed) {
    char prefix[64];
    memset(sc, 0, sizeof(*sc));
    sc->bootstrap = rt_bootstrap();
    sc->app_id = rt_unique_name(name);
    snprintf(prefix, sizeof(prefix), "%s-auctions", name);
    sc->auctions = rt_unique_name(prefix);
    snprintf(prefix, sizeof(prefix), "%s-bids", name);
    sc->bids = rt_unique_name(prefix);
    snprintf(prefix, sizeof(prefix), "%s-winners", name);
    sc->output = rt_unique_name(prefix);
    rt_create_topic(sc->bootstrap, sc->auctions, PARTITIONS);
    rt_create_topic(sc->bootstrap, sc->bids, PARTITIONS);
    rt_create_topic(sc->bootstrap, sc->output, PARTITIONS);
    input_make(&sc->in, seed);
    input_expected(&sc->in, &sc->expected);
    cr_log_info("%s: %d events (%zu auctions) at %d/s to %s and %s; watermark at the last "
                "expiry + %d ms + 1 s",
                sc->app_id, EVENTS, sc->in.auction_cnt, RATE, sc->auctions, sc->bids, GRACE_MS);
}

static void scenario_write_start(scenario_t *sc) {
    writer_t *w = &sc->writer;
    w->in = &sc->in;
    w->bootstrap = sc->bootstrap;
    w->auctions = sc->auctions;
    w->bids = sc->bids;
    w->started_ms = rt_now_ms();
    cr_assert_eq(pthread_create(&w->tid, NULL, writer_main, w), 0);
}

/* Milliseconds since writing began. */
static int64_t scenario_elapsed(const scenario_t *sc) {
    return rt_now_ms() - sc->writer.started_ms;
}

static int64_t committed_output(const scenario_t *sc) {
    return rt_count_records(sc->bootstrap, sc->output, "read_committed", 20000);
}

/* Waits for the writer, then until the committed output holds every auction (or the
 * timeout); returns the seconds from the first input record to that point. */
static double scenario_wait_output(scenario_t *sc) {
    pthread_join(sc->writer.tid, NULL);
    cr_assert_eq(sc->writer.rc, 0, "writing the input: %s", sc->writer.errstr);
    int64_t deadline = rt_now_ms() + OUTPUT_TIMEOUT_MS, n;
    while ((n = committed_output(sc)) < (int64_t)sc->in.auction_cnt && rt_now_ms() < deadline)
        sleep_ms(1000);
    double seconds = (double)scenario_elapsed(sc) / 1000.0;
    cr_log_info("%s: input written in %.1f s; %" PRId64 " of %zu completions committed after "
                "%.1f s",
                sc->app_id, (double)(sc->writer.written_ms - sc->writer.started_ms) / 1000.0, n,
                sc->in.auction_cnt, seconds);
    sleep_ms(2000); /* room for a duplicate to show */
    return seconds;
}

/* Reads the whole committed output and checks it against the reference. */
static void scenario_check_output(scenario_t *sc) {
    rt_records_t *out =
        rt_consume_all(sc->bootstrap, sc->output, "read_committed", sc->in.auction_cnt, 60000);
    for (size_t i = 0; i < out->cnt; i++)
        canonicalize(&out->v[i]);
    rt_diff_t diff;
    rt_diff(&sc->expected, out, &diff);
    size_t bad = 0;
    for (size_t i = 0; i < out->cnt; i++)
        bad += !strncmp(out->v[i].value, "bad: ", 5);
    cr_log_info("%s: output %zu records for %zu auctions; %s", sc->app_id, out->cnt,
                sc->in.auction_cnt, diff.report);
    cr_expect_eq(bad, 0, "%zu output values are not the app's JSON for their key: %s", bad,
                 diff.report);
    cr_expect_eq(diff.duplicates, 0, "auctions completed more than once: %s", diff.report);
    cr_expect_eq(diff.missing, 0, "auctions without their (right) completion: %s", diff.report);
    cr_expect_eq(diff.extra, 0, "completions that are not the reference's: %s", diff.report);
    rt_records_free(out);
    free(out);
}

static void scenario_free(scenario_t *sc) {
    free(sc->in.auctions);
    rt_kvs_free(&sc->expected);
    free(sc->app_id);
    free(sc->auctions);
    free(sc->bids);
    free(sc->output);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

/* (a) One instance, SIGKILLed twice at seeded random points while input flows, restarted
 * each time on its state directory as the same static member. */
Test(integration_completion_crash, each_auction_once_with_its_winner_when_killed_twice) {
    const int kills = 2;
    uint64_t rng = 0xc0401e7e;
    scenario_t sc;
    scenario_setup(&sc, "cpl-crash", 0xc0401e7e);
    instance_t inst = {.name = "a", .state_dir = rt_state_dir_new("cpl-crash"), .static_member = 1};
    instance_start(&sc, &inst);
    instance_wait_running(&inst, PARTITIONS);
    scenario_write_start(&sc);
    const int64_t span_ms = (int64_t)EVENTS * 1000 / RATE;
    for (int k = 0; k < kills; k++) {
        /* kill k in [15%, 45%] (k = 0) or [55%, 85%] (k = 1) of the writing time */
        int64_t at = span_ms * (15 + 40 * k) / 100 +
                     (int64_t)(rt_rand_next(&rng) % (uint64_t)(span_ms * 30 / 100));
        sleep_ms(at - scenario_elapsed(&sc));
        instance_wait_running(&inst, PARTITIONS);
        int64_t t = scenario_elapsed(&sc);
        instance_kill(&inst);
        int64_t done = committed_output(&sc);
        cr_log_info("%s: kill %d at %.1f s: %" PRId64 " of %zu completions committed", sc.app_id,
                    k + 1, (double)t / 1000.0, done, sc.in.auction_cnt);
        cr_expect_lt(done, (int64_t)sc.in.auction_cnt, "kill %d came after the last completion",
                     k + 1);
        instance_start(&sc, &inst);
    }
    scenario_wait_output(&sc);
    instance_stop(&inst);
    for (int k = 0; k < inst.runs; k++)
        cr_expect_eq(inst.exit_code[k], k < kills ? 128 + SIGKILL : 0,
                     "run %d exited with %d (log %s)", k, inst.exit_code[k], inst.log[k]);
    for (int k = 1; k < inst.runs; k++) {
        rt_restore_sum_t sum;
        rt_restore_summary(inst.log[k], 0, &sum);
        cr_log_info("%s: run %d restored [%s]", sc.app_id, k, sum.text);
        cr_expect_eq(sum.scratch, 0,
                     "run %d restored from scratch although the state "
                     "directory was kept [%s]",
                     k, sum.text);
    }
    scenario_check_output(&sc);
    instance_free(&inst);
    scenario_free(&sc);
}

/* (b) Two instances; A is SIGKILLed halfway and not restarted: B takes over A's tasks,
 * restoring their stores from the changelog (its state directory never held them). */
Test(integration_completion_crash, each_auction_once_with_its_winner_when_tasks_move) {
    uint64_t rng = 0x0b1d0b1d;
    scenario_t sc;
    scenario_setup(&sc, "cpl-move", 0x0b1d0b1d);
    instance_t a = {.name = "a", .state_dir = rt_state_dir_new("cpl-move-a")};
    instance_t b = {.name = "b", .state_dir = rt_state_dir_new("cpl-move-b")};
    instance_start(&sc, &a);
    instance_start(&sc, &b);
    instance_wait_running(&a, 1);
    instance_wait_running(&b, 1);
    scenario_write_start(&sc);
    const int64_t span_ms = (int64_t)EVENTS * 1000 / RATE;
    int64_t at = span_ms * 35 / 100 + (int64_t)(rt_rand_next(&rng) % (uint64_t)(span_ms / 5));
    sleep_ms(at - scenario_elapsed(&sc));
    long b_log_at_kill = rt_file_size(b.log[0]);
    rt_restore_sum_t before;
    rt_restore_summary(a.log[0], 0, &before);
    int64_t t = scenario_elapsed(&sc);
    instance_kill(&a);
    int64_t done = committed_output(&sc);
    cr_log_info("%s: killed A at %.1f s (it had opened [%s]); %" PRId64 " of %zu completions "
                "committed",
                sc.app_id, (double)t / 1000.0, before.text, done, sc.in.auction_cnt);
    cr_expect_lt(done, (int64_t)sc.in.auction_cnt, "the kill came after the last completion");
    scenario_wait_output(&sc);
    instance_stop(&b);
    cr_expect_eq(a.exit_code[0], 128 + SIGKILL, "A exited with %d", a.exit_code[0]);
    cr_expect_eq(b.exit_code[0], 0, "B exited with %d after SIGTERM (log %s)", b.exit_code[0],
                 b.log[0]);
    rt_restore_sum_t after;
    rt_restore_summary(b.log[0], b_log_at_kill, &after);
    cr_log_info("%s: B's restores after the kill [%s]", sc.app_id, after.text);
    cr_expect(after.scratch + after.stored > 0 && after.records > 0,
              "B did not restore A's stores from the changelog after the kill [%s] (log %s)",
              after.text, b.log[0]);
    scenario_check_output(&sc);
    instance_free(&a);
    instance_free(&b);
    scenario_free(&sc);
}
