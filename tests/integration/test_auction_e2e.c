/*
 * test_auction_e2e.c — the auction showcase (topologies/auction, rill-auction) end to end on
 * a real Kafka: 100k NEXMark events (bounded disorder, ~1% of auctions and bids invalid in
 * the generator's documented ways) written to the app's three input topics (4 partitions);
 * the app runs under exactly_once_v2 and every output topic, read with read_committed, must
 * equal a reference computed here from the same events (tests/support/rt_auction.c):
 *  - auction.auctions / auction.bids: every valid event, enriched (durationMs, priceEur);
 *  - auction.*.rejected: every invalid event, original bytes, reason in rill.reject.reason;
 *  - auction.closed: one record per valid auction with its winner;
 *  - auction.notifications (+ .sent): one per counted bidder and one for the seller;
 *  - analytics: category-price and seller-avg last value per key, hot-items all records.
 *
 * Runs: (1) edge native, one process; (2) edge FaaS (the functions of
 * topologies/auction/functions), three processes, one SIGKILLed midway and restarted on its
 * state directory; (3) native and FaaS on the same input give identical outputs. With FaaS,
 * the notify function's file must also hold every notification of the run exactly once:
 * the function deduplicates by event id, so records sharing an id would be dropped there
 * while each still got a receipt.
 *
 * The end. The whole input is written before the app starts and every process runs with
 * --drain (exit.on.end): once the group has committed every source partition to its end,
 * the engine moves every task's stream time a day ahead, which closes every auction, ends
 * the hold of bids whose auction never came, closes every window and emits hot-top's windows
 * (which only a stream-time advance past the last window can emit), commits, and repeats
 * while that brings records back through internal topics; then each process exits.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <librdkafka/rdkafka.h>
#include <rill.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENTS 100000
#define OOO_MS 500
#define INVALID 0.01
#define PARTITIONS 4
#define RUN_TIMEOUT_MS 90000
#define READ_TIMEOUT_MS 10000

/* grace 2000 > OOO_MS: no bid is late for its auction; hot windows as the app's defaults */
static const rt_auction_params_t params = {.grace_ms = 2000, .hot_size_ms = 10000,
                                           .hot_advance_ms = 2000, .hot_grace_ms = 1000};

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=200",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

static const char *const drain[] = {"--drain", NULL};

TestSuite(integration_auction_e2e, .fini = rt_kill_all, .timeout = 600);

static void sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000);
}

static char *fmt(const char *f, const char *a, int i) {
    char *s;
    if (asprintf(&s, f, a, i) < 0)
        abort();
    return s;
}

static char *tmpf(const char *f, const char *a, int i) {
    char *n = fmt(f, a, i), *p = rt_tmp_path(n);
    free(n);
    return p;
}

/* Logs what the input and the reference hold. */
static void log_input(const rt_auction_t *a, const rt_auction_out_t *exp) {
    cr_log_info("%s: %" PRIu64 " events: %zu persons, %zu auctions (%zu invalid), %zu bids "
                "(%zu invalid); reference: %zu closed, %zu notifications, %zu category-price, "
                "%zu seller-avg, %zu hot-items",
                a->name, a->events, a->persons, a->auctions, a->invalid_auctions, a->bids,
                a->invalid_bids, exp->t[RT_AU_CLOSED].cnt, exp->t[RT_AU_NOTIFICATIONS].cnt,
                exp->t[RT_AU_CATEGORY_PRICE].cnt, exp->t[RT_AU_SELLER_AVG].cnt,
                exp->t[RT_AU_HOT_ITEMS].cnt);
}

/* Asserts that a holds every expected output and that no dead letter is of a kind that
 * loses a valid record. */
static void check_outputs(const rt_auction_t *a, const char *app_id, const rt_auction_out_t *exp,
                          rt_auction_out_t *out) {
    rt_auction_read(a, app_id, "read_committed", exp, READ_TIMEOUT_MS, out);
    cr_log_info("%s: dead letters: %zu (%s)", app_id, out->dead_letters, out->dlq_report);
    char report[8192];
    int bad = rt_auction_compare(a, exp, out, report, sizeof(report));
    cr_expect_eq(bad, 0, "%s: %d output topic(s) differ from the reference:\n%s", app_id, bad,
                 report);
    /* the only dead letters: valid bids whose auction never came (never made by the
     * generator, or rejected), after their hold */
    cr_expect_eq(out->dead_letters, exp->dead_letters, "%s: %zu dead letters, expected %zu (%s)",
                 app_id, out->dead_letters, exp->dead_letters, out->dlq_report);
    cr_expect(!out->dead_letters || !strncmp(out->dlq_report + strcspn(out->dlq_report, "x") + 2,
                                             "no deadline record", 18),
              "%s: unexpected dead letters: %s", app_id, out->dlq_report);
    cr_expect(!strchr(out->dlq_report, ';'), "%s: dead letters of several kinds: %s", app_id,
              out->dlq_report);
    cr_expect_eq(exp->t[RT_AU_AUCTIONS_REJECTED].cnt + exp->t[RT_AU_BIDS_REJECTED].cnt,
                 a->invalid_auctions + a->invalid_bids);
}

/* --edge faas: the notify function sent each notification of the run exactly once (the
 * receipts, one per notification, are compared with the reference by check_outputs). */
static void check_notified(const char *app_id, const rt_auction_out_t *exp) {
    char report[8192];
    int bad = rt_auction_check_notified(rt_auction_notify_file(), app_id, exp, report,
                                        sizeof(report));
    cr_log_info("%s: notify: %s", app_id, report);
    cr_expect_eq(bad, 0, "%s: the notify function did not send each notification exactly "
                 "once: %s", app_id, report);
}

/* One process, --drain; returns its exit code. */
static int run_one(const rt_auction_t *a, const char *edge, const char *app_id) {
    char *state = tmpf("%s-state-%d", app_id, 0);
    char *nf = tmpf("%s-notify-%d.log", app_id, 0);
    char *log = tmpf("%s-%d.log", app_id, 0);
    int64_t t0 = rt_now_ms();
    pid_t pid = rt_auction_spawn(a, edge, app_id, state, nf, eos_props, drain, log);
    int rc = rt_wait(pid, RUN_TIMEOUT_MS);
    cr_log_info("%s: --edge %s, 1 process: exit %d after %.1f s (log %s)", app_id, edge, rc,
                (rt_now_ms() - t0) / 1000.0, log);
    if (rc) {
        rt_log_tail(log, 30);
        if (rc < 0)
            rt_kill(pid, SIGKILL), rt_wait(pid, 10000);
    }
    free(state);
    free(nf);
    free(log);
    return rc;
}

Test(integration_auction_e2e, native_edge_one_process_outputs_equal_reference) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-native", EVENTS, OOO_MS, INVALID, PARTITIONS, &params);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    log_input(&a, &exp);
    char *app_id = fmt("%s-app%d", a.name, 1);
    int rc = run_one(&a, "native", app_id);
    cr_expect_eq(rc, 0, "rill-auction exited with %d", rc);
    check_outputs(&a, app_id, &exp, &out);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free(app_id);
    rt_auction_free(&a);
}

/*
 * FaaS edge, three processes (static members, each its own state directory, all with
 * --drain); when 40% of the closed auctions are in (read uncommitted), process 0 is SIGKILLed
 * and started again on the same state directory with the same instance id. All three must
 * end by themselves with exit 0 once the group has drained the input, and the outputs must
 * equal the reference.
 */
Test(integration_auction_e2e, faas_edge_three_processes_one_killed_outputs_equal_reference) {
    rt_auction_t a;
    rt_auction_setup(&a, "au-faas3", EVENTS, OOO_MS, INVALID, PARTITIONS, &params);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    log_input(&a, &exp);
    char *app_id = fmt("%s-app%d", a.name, 3);
    char *state[3], *nf[3], *log[3], *inst[3];
    pid_t pid[3];
    int64_t t0 = rt_now_ms();
    for (int i = 0; i < 3; i++) {
        state[i] = tmpf("%s-state-%d", app_id, i);
        nf[i] = tmpf("%s-notify-%d.log", app_id, i);
        log[i] = tmpf("%s-%d.log", app_id, i);
        inst[i] = fmt("%s-i%d", app_id, i);
        const char *extra[] = {"--instance-id", inst[i], "--drain", NULL};
        pid[i] = rt_auction_spawn(&a, "faas", app_id, state[i], nf[i], eos_props, extra, log[i]);
    }
    /* the kill */
    size_t closed_total = exp.t[RT_AU_CLOSED].cnt;
    int64_t seen = 0;
    char errstr[256];
    while (rt_now_ms() - t0 < RUN_TIMEOUT_MS) {
        seen = rt_topic_size(rt_bootstrap(), a.topic[RT_AU_CLOSED], errstr, sizeof(errstr));
        if (seen >= (int64_t)(closed_total * 4 / 10) || rt_wait(pid[0], 0) >= 0)
            break;
        sleep_ms(100);
    }
    cr_assert(rt_wait(pid[0], 0) < 0, "process 0 ended before the kill (log %s)", log[0]);
    rt_kill(pid[0], SIGKILL);
    int krc = rt_wait(pid[0], 10000);
    cr_log_info("%s: process 0 SIGKILLed after %.1f s with %" PRId64 " of %zu closed records "
                "written (exit %d); restarting it",
                app_id, (rt_now_ms() - t0) / 1000.0, seen, closed_total, krc);
    sleep_ms(500);
    const char *extra0[] = {"--instance-id", inst[0], "--drain", NULL};
    char *log0b = tmpf("%s-%d-restarted.log", app_id, 0);
    pid[0] = rt_auction_spawn(&a, "faas", app_id, state[0], nf[0], eos_props, extra0, log0b);
    free(log[0]);
    log[0] = log0b;
    /* the end: each process stops once the group has drained the input */
    for (int i = 0; i < 3; i++) {
        int64_t left = RUN_TIMEOUT_MS - (rt_now_ms() - t0);
        int rc = rt_wait(pid[i], left > 1000 ? (int)left : 1000);
        cr_log_info("%s: process %d exit %d at %.1f s", app_id, i, rc,
                    (rt_now_ms() - t0) / 1000.0);
        cr_expect_eq(rc, 0, "process %d exited with %d (log %s)", i, rc, log[i]);
        if (rc) {
            rt_log_tail(log[i], 30);
            if (rc < 0)
                rt_kill(pid[i], SIGKILL), rt_wait(pid[i], 10000);
        }
    }
    check_outputs(&a, app_id, &exp, &out);
    check_notified(app_id, &exp);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    for (int i = 0; i < 3; i++)
        free(state[i]), free(nf[i]), free(log[i]), free(inst[i]);
    free(app_id);
    rt_auction_free(&a);
}

/* The same input (same seed and settings, two sets of topics) through --edge native and
 * --edge faas: every output topic identical (and each equal to the reference). */
Test(integration_auction_e2e, native_and_faas_edges_give_identical_outputs) {
    rt_auction_t an, af;
    rt_auction_setup(&an, "au-same-n", EVENTS, OOO_MS, INVALID, PARTITIONS, &params);
    rt_auction_setup(&af, "au-same-f", EVENTS, OOO_MS, INVALID, PARTITIONS, &params);
    rt_auction_out_t exp, on, of;
    rt_auction_expected(&an, &exp);
    log_input(&an, &exp);
    char *id_n = fmt("%s-app%d", an.name, 1), *id_f = fmt("%s-app%d", af.name, 1);
    int rc = run_one(&an, "native", id_n);
    cr_expect_eq(rc, 0, "native: rill-auction exited with %d", rc);
    rc = run_one(&af, "faas", id_f);
    cr_expect_eq(rc, 0, "faas: rill-auction exited with %d", rc);
    check_outputs(&an, id_n, &exp, &on);
    check_outputs(&af, id_f, &exp, &of);
    check_notified(id_f, &exp);
    /* native's outputs as the expectation of FaaS's */
    char report[8192];
    int bad = rt_auction_compare(&af, &on, &of, report, sizeof(report));
    cr_expect_eq(bad, 0, "%d output topic(s) differ between --edge native and faas:\n%s", bad,
                 report);
    rt_auction_out_free(&on);
    rt_auction_out_free(&of);
    rt_auction_out_free(&exp);
    free(id_n);
    free(id_f);
    rt_auction_free(&an);
    rt_auction_free(&af);
}
