/*
 * test_nexmark_q5.c — NEXMark q5 (hot items) on a real Kafka: bids counted per auction in
 * hopping windows of 10 s every 2 s (epoch-aligned, each emitted once when it closes), then
 * per window the auction with the most bids, ties to the lowest auction id. The output is a
 * table's updates keyed by window start: the last value of each key must be the reference's
 * row, and there must be no other key (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SIZE_MS 10000
#define HOP_MS 2000

static const char *const fields[] = {"starttime", "auction", "count", NULL};

TestSuite(integration_nexmark_q5, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    (void)wm;
    size_t hops = (size_t)(nx->max_time / HOP_MS) + 1, auctions = nx->auction_cnt + 64;
    size_t first = (size_t)(nx->bid[0].date_time / HOP_MS) - SIZE_MS / HOP_MS;
    for (size_t i = 0; i < nx->bid_cnt; i++)
        if ((size_t)(nx->bid[i].date_time / HOP_MS) - SIZE_MS / HOP_MS < first)
            first = (size_t)(nx->bid[i].date_time / HOP_MS) - SIZE_MS / HOP_MS;
    int64_t *count = calloc((hops - first) * auctions, sizeof(*count));
    cr_assert_not_null(count);
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        size_t a = (size_t)(b->auction - NEXMARK_FIRST_AUCTION_ID);
        cr_assert_lt(a, auctions, "a bid names auction %" PRId64, b->auction);
        for (int64_t s = b->date_time - b->date_time % HOP_MS; s > b->date_time - SIZE_MS;
             s -= HOP_MS)
            count[((size_t)(s / HOP_MS) - first) * auctions + a]++;
    }
    for (size_t w = 0; w < hops - first; w++) {
        size_t best = 0;
        for (size_t a = 1; a < auctions; a++)
            best = count[w * auctions + a] > count[w * auctions + best] ? a : best;
        if (!count[w * auctions + best])
            continue;
        char key[32], row[128];
        int64_t start = (int64_t)(w + first) * HOP_MS;
        snprintf(key, sizeof(key), "%" PRId64, start);
        snprintf(row, sizeof(row), "starttime=%" PRId64 ";auction=%zu;count=%" PRId64 ";", start,
                 best + NEXMARK_FIRST_AUCTION_ID, count[w * auctions + best]);
        rt_kvs_add(expected, key, row);
    }
    free(count);
}

Test(integration_nexmark_q5, hottest_auction_of_every_window) {
    rt_nxq_t q = {.prefix = "nx-q5",
                  .query = "q5",
                  .reference = reference,
                  .fields = fields,
                  .last_per_key = 1,
                  .min_rows = 50};
    rt_nxq_check(&q);
}
