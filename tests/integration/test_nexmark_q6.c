/*
 * test_nexmark_q6.c — NEXMark q6 (average selling price by seller) on a real Kafka: each
 * auction closes with its winning bid (rt_nxq_winners); per seller, of its auctions closed
 * with a winner the last 10 by (expires, auction id), how many (at most 10) and the integer
 * mean of their winning prices. The output is a table's updates keyed by seller: the last
 * value of each key must be the reference's row, and there must be no other key
 * (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define LAST 10

static const char *const fields[] = {"seller", "auctions", "avg", NULL};

TestSuite(integration_nexmark_q6, .fini = rt_kill_all, .timeout = 150);

static const rt_nexmark_t *sort_nx; /* qsort has no argument for it */

/* Orders auction indexes by seller, then expires, then id. */
static int by_seller_expiry(const void *a, const void *b) {
    const rt_nx_auction_t *x = &sort_nx->auction[*(const size_t *)a];
    const rt_nx_auction_t *y = &sort_nx->auction[*(const size_t *)b];
    if (x->seller != y->seller)
        return x->seller < y->seller ? -1 : 1;
    if (x->expires != y->expires)
        return x->expires < y->expires ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    rt_nxq_winner_t *win = rt_nxq_winners(nx);
    size_t *idx = calloc(nx->auction_cnt + 1, sizeof(*idx)), n = 0;
    cr_assert_not_null(idx);
    (void)wm;
    for (size_t i = 0; i < nx->auction_cnt; i++)
        if (win[i].has)
            idx[n++] = i;
    sort_nx = nx;
    qsort(idx, n, sizeof(*idx), by_seller_expiry);
    for (size_t end = 0; end < n;) {
        size_t begin = end;
        int64_t seller = nx->auction[idx[begin]].seller, sum = 0;
        while (end < n && nx->auction[idx[end]].seller == seller)
            end++;
        size_t from = end - begin > LAST ? end - LAST : begin;
        for (size_t k = from; k < end; k++)
            sum += win[idx[k]].price;
        char key[32], row[128];
        snprintf(key, sizeof(key), "%" PRId64, seller);
        snprintf(row, sizeof(row), "seller=%" PRId64 ";auctions=%zu;avg=%" PRId64 ";", seller,
                 end - from, sum / (int64_t)(end - from));
        rt_kvs_add(expected, key, row);
    }
    free(idx);
    free(win);
}

Test(integration_nexmark_q6, average_of_each_sellers_last_ten_closed) {
    rt_nxq_t q = {.prefix = "nx-q6",
                  .query = "q6",
                  .reference = reference,
                  .fields = fields,
                  .last_per_key = 1,
                  .min_rows = 100};
    rt_nxq_check(&q);
}
