/*
 * rt_nexmark_query.c — the common run of a NEXMark query test (rt_nexmark_query.h).
 *
 * DESIGN
 * Every query test differs only in its model and in how output is compared, so the run —
 * input, watermark, app, wait, stop, compare, dead letters — is here once and each test
 * file holds its own reference model.
 */
#include "rt_nexmark_query.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define WAIT_MS 90000

static const char *const default_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    NULL,
};

int64_t rt_nxq_watermark_time(const rt_nexmark_t *nx) {
    int64_t last = nx->max_time;
    for (size_t i = 0; i < nx->auction_cnt; i++)
        if (nx->auction[i].expires > last)
            last = nx->auction[i].expires;
    return last + RT_NXQ_GRACE_MS + 60000;
}

void rt_nxq_watermark_json(int64_t wm, char *buf, size_t size) {
    snprintf(buf, size,
             "{\"auction\":-1,\"bidder\":-1,\"price\":0,\"channel\":\"watermark\","
             "\"url\":\"\",\"dateTime\":%" PRId64 ",\"extra\":\"\"}",
             wm);
}

rt_nxq_winner_t *rt_nxq_winners(const rt_nexmark_t *nx) {
    rt_nxq_winner_t *win = calloc(nx->auction_cnt + 1, sizeof(*win));
    cr_assert_not_null(win);
    for (size_t i = 0; i < nx->bid_cnt; i++) {
        const rt_nx_bid_t *b = &nx->bid[i];
        int64_t idx = b->auction - NEXMARK_FIRST_AUCTION_ID;
        if (idx < 0 || idx >= (int64_t)nx->auction_cnt)
            continue; /* an auction never made */
        const rt_nx_auction_t *a = &nx->auction[idx];
        if (b->date_time < a->date_time || b->date_time >= a->expires || b->price < a->reserve)
            continue;
        rt_nxq_winner_t *w = &win[idx];
        if (!w->has || b->price > w->price ||
            (b->price == w->price &&
             (b->date_time < w->time || (b->date_time == w->time && b->bidder < w->bidder))))
            *w = (rt_nxq_winner_t){
                .has = 1, .price = b->price, .time = b->date_time, .bidder = b->bidder};
    }
    return win;
}

void rt_nxq_check(const rt_nxq_t *q) {
    nexmark_config_t cfg;
    nexmark_config_init(&cfg);
    cfg.seed = 1;
    cfg.rate = RT_NXQ_RATE;
    cfg.ooo_ms = RT_NXQ_OOO_MS;
    rt_nexmark_t nx;
    rt_nexmark_setup_cfg(&nx, q->prefix, RT_NXQ_EVENTS, &cfg, RT_NXQ_PARTITIONS);
    int64_t wm = rt_nxq_watermark_time(&nx);
    char json[256];
    rt_nxq_watermark_json(wm, json, sizeof(json));
    rt_nexmark_append_all_partitions(&nx, nx.bids, "watermark", json, wm);

    rt_kvs_t expected = {0};
    q->reference(&nx, wm, &expected);
    cr_log_info("%s: reference: %zu rows", nx.app_id, expected.cnt);
    cr_assert_geq(expected.cnt, q->min_rows, "too few %s rows to test anything", q->query);

    char grace[32];
    snprintf(grace, sizeof(grace), "%d", RT_NXQ_GRACE_MS);
    const char *const extra[] = {"--grace-ms", grace, NULL};
    pid_t pid = rt_nexmark_spawn(&nx, q->query, q->props ? q->props : default_props, extra);
    const char *iso = q->isolation_level ? q->isolation_level : "read_uncommitted";
    rt_nexmark_result_t res;
    rt_nexmark_finish_as(&nx, pid, &expected, q->fields, iso, WAIT_MS, q->last_per_key, &res);
    cr_log_info("%s: complete output after %.1f s; %s", nx.app_id, res.seconds, res.diff.report);
    cr_expect_eq(res.exit_code, 0, "the app exited with %d after SIGTERM (log %s)", res.exit_code,
                 nx.log);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "%s output of %s differs from the reference: %s", q->query, nx.output,
              res.diff.report);
    cr_expect_eq(res.dead_letters, 0, "%zu dead letters in %s-dlq:%s", res.dead_letters, nx.app_id,
                 res.dlq_report);
    rt_nexmark_result_free(&res);
    rt_kvs_free(&expected);
    rt_nexmark_free(&nx);
}
