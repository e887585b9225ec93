/*
 * test_nexmark_q0.c — NEXMark q0 (passthrough) on a real Kafka: rill_nexmark_app --query q0
 * must write every bid, key and value bytes as they were, the watermark bids included, none
 * twice. The reference makes each bid again from the generator (an event is a pure function
 * of its number) and compares the raw bytes (rt_nexmark_query.h: input and run).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>

#include "rt_nexmark_query.h"

#include <stdio.h>
#include <stdlib.h>

TestSuite(integration_nexmark_q0, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected) {
    nexmark_event_t ev;
    rill_buf_t json = {0};
    char key[NEXMARK_KEY_MAX];
    for (uint64_t n = 0; n < nx->events; n++) {
        if (nexmark_kind_of(n) != NEXMARK_BID)
            continue;
        nexmark_event_at(&nx->cfg, n, &ev);
        rill_buf_reset(&json);
        cr_assert_eq(nexmark_event_json(&ev, &json), 0);
        cr_assert_eq(rill_buf_append(&json, "", 1), 0); /* NUL */
        nexmark_event_key(&ev, key);
        rt_kvs_add(expected, key, json.data);
    }
    rill_buf_free(&json);
    char wm_json[256];
    rt_nxq_watermark_json(wm, wm_json, sizeof(wm_json));
    for (int p = 0; p < nx->partitions; p++)
        rt_kvs_add(expected, "watermark", wm_json);
}

Test(integration_nexmark_q0, every_bid_as_it_was) {
    rt_nxq_t q = {.prefix = "nx-q0", .query = "q0", .reference = reference, .min_rows = 1000};
    rt_nxq_check(&q);
}
