/*
 * test_nexmark_q7.c — NEXMark q7 (highest bid) on a real Kafka: per tumbling 10 s window
 * (epoch-aligned), the bid with the highest price, then the earliest dateTime, then the
 * lowest bidder, then the lowest auction. The output is a table's updates keyed by window
 * start: the last value of each key must be the reference's row, and there must be no other
 * key. Run under at_least_once and under exactly_once_v2 (read_committed)
 * (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SIZE_MS 10000

static const char *const fields[] = {"starttime", "auction", "price", "bidder", "dateTime", NULL};

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    NULL,
};

TestSuite(integration_nexmark_q7, .fini = rt_kill_all, .timeout = 150);

/* Whether b beats a (a may be NULL). */
static int beats(const rt_nx_bid_t *a, const rt_nx_bid_t *b) {
    if (!a || b->price != a->price)
        return !a || b->price > a->price;
    if (b->date_time != a->date_time)
        return b->date_time < a->date_time;
    if (b->bidder != a->bidder)
        return b->bidder < a->bidder;
    return b->auction < a->auction;
}

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    (void)wm;
    size_t windows = (size_t)(nx->max_time / SIZE_MS) + 1;
    const rt_nx_bid_t **best = calloc(windows, sizeof(*best));
    cr_assert_not_null(best);
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        size_t w = (size_t)(b->date_time / SIZE_MS);
        if (beats(best[w], b))
            best[w] = b;
    }
    for (size_t w = 0; w < windows; w++) {
        if (!best[w])
            continue;
        char key[32], row[192];
        int64_t start = (int64_t)w * SIZE_MS;
        snprintf(key, sizeof(key), "%" PRId64, start);
        snprintf(row, sizeof(row),
                 "starttime=%" PRId64 ";auction=%" PRId64 ";price=%" PRId64 ";bidder=%" PRId64
                 ";dateTime=%" PRId64 ";",
                 start, best[w]->auction, best[w]->price, best[w]->bidder, best[w]->date_time);
        rt_kvs_add(expected, key, row);
    }
    free(best);
}

Test(integration_nexmark_q7, highest_bid_of_every_window_when_at_least_once) {
    rt_nxq_t q = {.prefix = "nx-q7",
                  .query = "q7",
                  .reference = reference,
                  .fields = fields,
                  .last_per_key = 1,
                  .min_rows = 15};
    rt_nxq_check(&q);
}

Test(integration_nexmark_q7, highest_bid_of_every_window_when_exactly_once) {
    rt_nxq_t q = {.prefix = "nx-q7-eos",
                  .query = "q7",
                  .reference = reference,
                  .fields = fields,
                  .last_per_key = 1,
                  .min_rows = 15,
                  .props = eos_props,
                  .isolation_level = "read_committed"};
    rt_nxq_check(&q);
}
