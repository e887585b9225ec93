/*
 * test_nexmark_q1.c — NEXMark q1 (currency conversion) on a real Kafka: every bid, the
 * watermark bids included, with its price in euro cents (dollar cents * 908 / 1000, integer
 * division), key kept; the value's members auction, bidder, price, dateTime and no other
 * (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const fields[] = {"auction", "bidder", "price", "dateTime", NULL};

TestSuite(integration_nexmark_q1, .fini = rt_kill_all, .timeout = 150);

static void add_row(rt_kvs_t *expected, const char *key, int64_t auction, int64_t bidder,
                    int64_t price, int64_t time) {
    char row[160];
    snprintf(row, sizeof(row),
             "auction=%" PRId64 ";bidder=%" PRId64 ";price=%" PRId64 ";dateTime=%" PRId64 ";",
             auction, bidder, price * 908 / 1000, time);
    rt_kvs_add(expected, key, row);
}

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    char key[32];
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        snprintf(key, sizeof(key), "%" PRId64, b->auction);
        add_row(expected, key, b->auction, b->bidder, b->price, b->date_time);
    }
    for (int p = 0; p < nx->partitions; p++)
        add_row(expected, "watermark", -1, -1, 0, wm);
}

Test(integration_nexmark_q1, every_bid_in_euros) {
    rt_nxq_t q = {.prefix = "nx-q1",
                  .query = "q1",
                  .reference = reference,
                  .fields = fields,
                  .min_rows = 1000};
    rt_nxq_check(&q);
}
