/*
 * test_nexmark_q3.c — NEXMark q3 (local item suggestion) on a real Kafka:
 * rill_nexmark_app --query q3 (auctions of category 10 re-keyed by seller, stream-table join
 * with the persons table, with grace) over 200k generated events with bounded disorder; its
 * output must equal, row for row, a reference computed here from the same events: for every
 * auction of category 10 whose seller is a generated person living in OR, ID or CA, exactly
 * one row (key = seller id; name, city, state, auction id) — NEXMark's incremental join,
 * each matching pair once, none twice.
 *
 * No watermark is needed: a pair is output as soon as both sides are in the join, and an
 * auction whose seller never comes (NEXMark names persons up to 10 ids past the newest) makes
 * no row in the reference either. The input is all written before the app starts, so each
 * join task reads persons and repartitioned auctions in timestamp order (or persons ahead,
 * which only fills the table earlier); the grace (10 s) covers an auction that comes before
 * its seller (at most 10 persons, about 50 ms, plus the 500 ms disorder). Nothing may be
 * dead-lettered: an auction whose seller never comes waits for it until stream time passes
 * its time + grace, which the last events (the only ones naming persons never made) never see.
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_nexmark.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define EVENTS 200000
#define OOO_MS 500
#define PARTITIONS 4

static const char *const q3_fields[] = {"name", "city", "state", "id", NULL};

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    NULL,
};

TestSuite(integration_nexmark_q3, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, rt_kvs_t *expected) {
    for (size_t i = 0; i < nx->auction_cnt; i++) {
        const rt_nx_auction_t *a = &nx->auction[i];
        int64_t idx = a->seller - NEXMARK_FIRST_PERSON_ID;
        if (a->category != 10 || idx < 0 || idx >= (int64_t)nx->person_cnt)
            continue;
        const rt_nx_person_t *p = &nx->person[idx];
        cr_assert_eq(p->id, a->seller, "person ids are not dense");
        if (strcmp(p->state, "OR") && strcmp(p->state, "ID") && strcmp(p->state, "CA"))
            continue;
        char key[32], row[160];
        snprintf(key, sizeof(key), "%" PRId64, p->id);
        snprintf(row, sizeof(row), "name=\"%s\";city=\"%s\";state=\"%s\";id=%" PRId64 ";", p->name,
                 p->city, p->state, a->id);
        rt_kvs_add(expected, key, row);
    }
}

Test(integration_nexmark_q3, each_matching_pair_once_when_at_least_once) {
    rt_nexmark_t nx;
    rt_nexmark_setup(&nx, "nx-q3", EVENTS, OOO_MS, PARTITIONS);
    rt_kvs_t expected = {0};
    reference(&nx, &expected);
    size_t ahead = 0; /* rows whose auction is older than its seller: they wait for the row */
    for (size_t i = 0; i < nx.auction_cnt; i++) {
        int64_t idx = nx.auction[i].seller - NEXMARK_FIRST_PERSON_ID;
        const char *st = idx >= 0 && idx < (int64_t)nx.person_cnt ? nx.person[idx].state : "";
        ahead += nx.auction[i].category == 10 &&
                 (!strcmp(st, "OR") || !strcmp(st, "ID") || !strcmp(st, "CA")) &&
                 nx.person[idx].date_time > nx.auction[i].date_time;
    }
    cr_log_info("%s: reference: %zu rows, %zu of them with an auction older than its seller",
                nx.app_id, expected.cnt, ahead);
    cr_assert_gt(expected.cnt, 500, "too few q3 rows to test anything");

    pid_t pid = rt_nexmark_spawn(&nx, "q3", alos_props, NULL);
    rt_nexmark_result_t res;
    rt_nexmark_finish(&nx, pid, &expected, q3_fields, "read_uncommitted", 100000, &res);
    cr_log_info("%s: complete output after %.1f s; %s", nx.app_id, res.seconds, res.diff.report);
    cr_expect_eq(res.exit_code, 0, "the app exited with %d after SIGTERM (log %s)", res.exit_code,
                 nx.log);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "q3 output of %s differs from the reference: %s", nx.output, res.diff.report);
    cr_expect_eq(res.dead_letters, 0, "%zu dead letters in %s-dlq:%s", res.dead_letters, nx.app_id,
                 res.dlq_report);
    rt_nexmark_result_free(&res);
    rt_kvs_free(&expected);
    rt_nexmark_free(&nx);
}
