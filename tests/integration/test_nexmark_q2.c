/*
 * test_nexmark_q2.c — NEXMark q2 (selection) on a real Kafka: the bids of auctions whose id
 * is a multiple of 123, each once, key kept, value {auction, price}
 * (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const fields[] = {"auction", "price", NULL};

TestSuite(integration_nexmark_q2, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    char key[32], row[96];
    (void)wm;
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        if (b->auction % 123)
            continue;
        snprintf(key, sizeof(key), "%" PRId64, b->auction);
        snprintf(row, sizeof(row), "auction=%" PRId64 ";price=%" PRId64 ";", b->auction, b->price);
        rt_kvs_add(expected, key, row);
    }
}

Test(integration_nexmark_q2, bids_of_every_123rd_auction) {
    rt_nxq_t q = {.prefix = "nx-q2",
                  .query = "q2",
                  .reference = reference,
                  .fields = fields,
                  .min_rows = 100};
    rt_nxq_check(&q);
}
