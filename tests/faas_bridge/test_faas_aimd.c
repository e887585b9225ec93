/*
 * test_faas_aimd.c — adaptive concurrency's rule (faas_bridge/faas_aimd.c) on made-up call
 * times: it starts at one call and doubles per round, never passes max_in_flight, halves on
 * an overload once per round, then grows by one call per round; a call twice as slow as the
 * fastest counts as overload, a fast 429 does not lower what "fast" means. The expected
 * limits are worked out here by hand, round by round.
 */
#include "faas_stage_int.h"

#include <criterion/criterion.h>

/* n calls of call_ms each complete at now (one round when n is the limit). */
static void calls(rill__faas_aimd_t *a, int n, double call_ms, bool overloaded, int64_t now) {
    for (int i = 0; i < n; i++)
        rill__faas_aimd_sample(a, call_ms, overloaded, now);
}

/* One round: as many successful calls as the limit allows. */
static void round_ok(rill__faas_aimd_t *a, double call_ms, int64_t now) {
    calls(a, rill__faas_aimd_limit(a), call_ms, false, now);
}

Test(faas_bridge_faas_aimd, doubles_each_round_from_one_until_max) {
    rill__faas_aimd_t a;
    rill__faas_aimd_init(&a, 20);
    int64_t now = 1000;
    int want[] = {1, 2, 4, 8, 16, 20, 20};

    for (size_t r = 0; r < sizeof(want) / sizeof(want[0]); r++, now += 20) {
        cr_assert_eq(rill__faas_aimd_limit(&a), want[r], "round %zu", r);
        round_ok(&a, 20, now);
    }
}

Test(faas_bridge_faas_aimd, halves_once_per_round_on_429_then_grows_one_per_round) {
    rill__faas_aimd_t a;
    rill__faas_aimd_init(&a, 16);
    int64_t now = 1000;

    for (int r = 0; r < 5; r++, now += 20)
        round_ok(&a, 20, now);
    cr_assert_eq(rill__faas_aimd_limit(&a), 16);
    /* Every call of the round answers 429: one cut only (the round's calls were sent before). */
    calls(&a, 16, 2, true, now);
    cr_assert_eq(rill__faas_aimd_limit(&a), 8);
    cr_assert_eq(a.cuts, 1);
    now += 25; /* the next round */
    calls(&a, 8, 2, true, now);
    cr_assert_eq(rill__faas_aimd_limit(&a), 4);
    now += 25;
    /* Additive now: one more call per round of successes. */
    for (int want = 4; want <= 7; want++, now += 20) {
        cr_assert_eq(rill__faas_aimd_limit(&a), want);
        round_ok(&a, 20, now);
    }
}

Test(faas_bridge_faas_aimd, halves_when_calls_get_twice_as_slow) {
    rill__faas_aimd_t a;
    rill__faas_aimd_init(&a, 16);
    int64_t now = 1000;

    for (int r = 0; r < 5; r++, now += 20)
        round_ok(&a, 20, now);
    calls(&a, 1, 2, true, now); /* a fast 429: cuts, but is no latency sample */
    cr_assert_eq(rill__faas_aimd_limit(&a), 8);
    now += 30;
    calls(&a, 1, 45, false, now); /* under 2 x 20 + 10 */
    cr_assert_eq(rill__faas_aimd_limit(&a), 8);
    calls(&a, 1, 60, false, now); /* over: a cut */
    cr_assert_eq(rill__faas_aimd_limit(&a), 4);
}

Test(faas_bridge_faas_aimd, stays_between_one_and_max) {
    rill__faas_aimd_t a;
    rill__faas_aimd_init(&a, 3);
    int64_t now = 1000;

    for (int r = 0; r < 10; r++, now += 1000)
        calls(&a, 1, 5, true, now);
    cr_assert_eq(rill__faas_aimd_limit(&a), 1);
    for (int r = 0; r < 50; r++, now += 10)
        round_ok(&a, 5, now);
    cr_assert_eq(rill__faas_aimd_limit(&a), 3);
}
