/*
 * test_nexmark_q4.c — NEXMark q4 (average closing price per category) on a real Kafka: each
 * auction closes with its winning bid (rt_nxq_winners: the rule of the winning-bids query);
 * per category, the number of auctions closed with a winner and the integer mean of their
 * winning prices. The output is a table's updates keyed by category: the last value of each
 * key must be the reference's row, and there must be no other key
 * (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const fields[] = {"category", "auctions", "avg", NULL};

TestSuite(integration_nexmark_q4, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    int64_t sum[NEXMARK_NUM_CATEGORIES] = {0}, cnt[NEXMARK_NUM_CATEGORIES] = {0};
    rt_nxq_winner_t *win = rt_nxq_winners(nx);
    (void)wm;
    for (size_t i = 0; i < nx->auction_cnt; i++) {
        int64_t c = nx->auction[i].category - NEXMARK_FIRST_CATEGORY_ID;
        cr_assert(c >= 0 && c < NEXMARK_NUM_CATEGORIES);
        if (!win[i].has)
            continue;
        sum[c] += win[i].price;
        cnt[c]++;
    }
    for (int c = 0; c < NEXMARK_NUM_CATEGORIES; c++) {
        if (!cnt[c])
            continue;
        char key[32], row[128];
        snprintf(key, sizeof(key), "%d", c + NEXMARK_FIRST_CATEGORY_ID);
        snprintf(row, sizeof(row), "category=%d;auctions=%" PRId64 ";avg=%" PRId64 ";",
                 c + NEXMARK_FIRST_CATEGORY_ID, cnt[c], sum[c] / cnt[c]);
        rt_kvs_add(expected, key, row);
    }
    free(win);
}

Test(integration_nexmark_q4, average_winning_price_of_every_category) {
    rt_nxq_t q = {.prefix = "nx-q4",
                  .query = "q4",
                  .reference = reference,
                  .fields = fields,
                  .last_per_key = 1,
                  .min_rows = NEXMARK_NUM_CATEGORIES};
    rt_nxq_check(&q);
}
