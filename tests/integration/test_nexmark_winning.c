/*
 * test_nexmark_winning.c — NEXMark's winning bids (the inner query of q4 and q9) on a real
 * Kafka: rill_nexmark_app --query winning (completion of auctions over bids) over 200k
 * generated events with bounded disorder; its output must equal, row for row, a reference
 * computed here from the same events: one row per auction, with the winner among its bids
 * with auction.dateTime <= bid.dateTime < expires and price >= reserve (highest price, then
 * earliest dateTime, then lowest bidder; null without one) and the number of bids within
 * the auction's time. Under at_least_once without a crash, and under exactly_once_v2 (output
 * read with read_committed), nothing may be missing, duplicated or dead-lettered.
 *
 * The watermark. An auction completes when its task's stream time passes expires + grace,
 * and stream time only moves with records. So that every auction closes, the test appends
 * to every partition of the bids topic one "watermark" bid (key "watermark", auction -1,
 * dateTime a minute past the last expiry plus grace). It names no auction, so it only waits
 * in the completion's store and adds no row. It is written before the app starts, after all
 * events: a task processes its records in timestamp order and waits for records known to
 * exist, so the watermark is the last record each task processes and no event is late.
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_nexmark.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define EVENTS 200000
#define OOO_MS 500
#define GRACE_MS 2000 /* > OOO_MS: no bid of the input is late */
#define PARTITIONS 4

static const char *const winning_fields[] = {"auction", "bidder", "price", "bids", NULL};

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    NULL,
};

/* Under exactly-once without a crash (one row per auction under kill -9 and takeover is
 * tested by test_completion_crash.c). */
static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    NULL,
};

/* A small input buffer, so that the bids partitions (46 of 50 events) are paused and resumed
 * all the time: the task must still take its records in timestamp order. */
static const char *const paused_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    "buffered.records.per.partition=100",
    NULL,
};

TestSuite(integration_nexmark_winning, .fini = rt_kill_all, .timeout = 150);

/* The best qualifying bid and the count of an auction, as the reference sees them. */
typedef struct best_s {
    int64_t bids, price, time, bidder;
    int has;
} best_t;

static void reference(const rt_nexmark_t *nx, rt_kvs_t *expected) {
    best_t *best = calloc(nx->auction_cnt + 1, sizeof(*best));
    cr_assert_not_null(best);
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        int64_t idx = b->auction - NEXMARK_FIRST_AUCTION_ID;
        if (idx < 0 || idx >= (int64_t)nx->auction_cnt)
            continue; /* an auction never made (NEXMark's references ahead) */
        const rt_nx_auction_t *a = &nx->auction[idx];
        cr_assert_eq(a->id, b->auction, "auction ids are not dense");
        if (b->date_time < a->date_time || b->date_time >= a->expires)
            continue;
        best_t *w = &best[idx];
        w->bids++;
        if (b->price < a->reserve)
            continue;
        int better = !w->has || b->price > w->price ||
                     (b->price == w->price && (b->date_time < w->time ||
                                               (b->date_time == w->time && b->bidder < w->bidder)));
        if (better)
            *w = (best_t){.bids = w->bids,
                          .price = b->price,
                          .time = b->date_time,
                          .bidder = b->bidder,
                          .has = 1};
    }
    for (size_t i = 0; i < nx->auction_cnt; i++) {
        char key[32], row[160];
        snprintf(key, sizeof(key), "%" PRId64, nx->auction[i].id);
        if (best[i].has)
            snprintf(row, sizeof(row),
                     "auction=%" PRId64 ";bidder=%" PRId64 ";price=%" PRId64 ";bids=%" PRId64 ";",
                     nx->auction[i].id, best[i].bidder, best[i].price, best[i].bids);
        else
            snprintf(row, sizeof(row),
                     "auction=%" PRId64 ";bidder=null;price=null;bids=%" PRId64 ";",
                     nx->auction[i].id, best[i].bids);
        rt_kvs_add(expected, key, row);
    }
    free(best);
}

/* Runs the query over fresh input with props, reads the output with isolation_level and
 * checks it against the reference. */
static void run_winning(const char *prefix, const char *const *props, const char *isolation_level) {
    rt_nexmark_t nx;
    rt_nexmark_setup(&nx, prefix, EVENTS, OOO_MS, PARTITIONS);
    int64_t last_expiry = 0;
    for (size_t i = 0; i < nx.auction_cnt; i++)
        if (nx.auction[i].expires > last_expiry)
            last_expiry = nx.auction[i].expires;
    int64_t wm = last_expiry + GRACE_MS + 60000;
    char json[256];
    snprintf(json, sizeof(json),
             "{\"auction\":-1,\"bidder\":-1,\"price\":0,\"channel\":"
             "\"watermark\",\"url\":\"\",\"dateTime\":%" PRId64 ",\"extra\":\"\"}",
             wm);
    rt_nexmark_append_all_partitions(&nx, nx.bids, "watermark", json, wm);

    rt_kvs_t expected = {0};
    reference(&nx, &expected);
    size_t winners = 0;
    for (size_t i = 0; i < expected.cnt; i++)
        winners += !strstr(expected.v[i].value, "bidder=null");
    cr_log_info("%s: reference: %zu auctions, %zu with a winner", nx.app_id, expected.cnt, winners);

    char grace[32];
    snprintf(grace, sizeof(grace), "%d", GRACE_MS);
    const char *const extra[] = {"--grace-ms", grace, NULL};
    pid_t pid = rt_nexmark_spawn(&nx, "winning", props, extra);
    rt_nexmark_result_t res;
    rt_nexmark_finish(&nx, pid, &expected, winning_fields, isolation_level, 90000, &res);
    cr_log_info("%s: complete output after %.1f s; %s", nx.app_id, res.seconds, res.diff.report);
    cr_expect_eq(res.exit_code, 0, "the app exited with %d after SIGTERM (log %s)", res.exit_code,
                 nx.log);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "winning bids of %s differ from the reference: %s", nx.output, res.diff.report);
    cr_expect_eq(res.dead_letters, 0, "%zu dead letters in %s-dlq:%s", res.dead_letters, nx.app_id,
                 res.dlq_report);
    rt_nexmark_result_free(&res);
    rt_kvs_free(&expected);
    rt_nexmark_free(&nx);
}

Test(integration_nexmark_winning, one_row_per_auction_equal_to_reference_when_at_least_once) {
    run_winning("nx-winning-alos", alos_props, "read_uncommitted");
}

Test(integration_nexmark_winning, one_row_per_auction_equal_to_reference_when_partitions_pause) {
    run_winning("nx-winning-paused", paused_props, "read_uncommitted");
}

Test(integration_nexmark_winning, one_row_per_auction_equal_to_reference_when_exactly_once) {
    run_winning("nx-winning-eos", eos_props, "read_committed");
}
