/*
 * faas_aimd.c — adaptive concurrency of a FaaS stage (rill_faas_opts_t.adaptive_concurrency):
 * how many calls a task may have in flight, between 1 and max_in_flight.
 *
 * DESIGN
 * A function that is overloaded says so (429, 503, a timeout) or slows down; sending more
 * calls then only queues them at the function. The limit therefore follows the rule TCP uses
 * for its window: additive increase, multiplicative decrease. It starts at one call and
 * doubles every round (one more call per success) until the first sign of overload; from
 * then on it grows by one call per round (a success for each call it allows). An overload signal
 * halves it, at most once per round (the calls already in flight when the limit was cut report the
 * same overload and must not cut it again). "Rising latency" is a call slower than twice the
 * fastest call of the last two windows of 10 s, plus 10 ms of slack for small fast calls. The
 * state is per task, updated on the stream thread as calls complete: no locks, no allocation.
 */
#include "faas_stage_int.h"

#define AIMD_WINDOW_MS 10000
#define AIMD_SLACK_MS 10.0

void rill__faas_aimd_init(rill__faas_aimd_t *a, int max_in_flight) {
    *a = (rill__faas_aimd_t){.limit = 1, .max = max_in_flight < 1 ? 1 : max_in_flight};
}

int rill__faas_aimd_limit(const rill__faas_aimd_t *a) {
    return a->limit;
}

/* The fastest call of the last two windows: a base that forgets a faster past slowly. */
static double base_ms(rill__faas_aimd_t *a, double call_ms, int64_t now) {
    if (!a->window_since || now - a->window_since >= AIMD_WINDOW_MS) {
        a->prev_min_ms = a->cur_min_ms;
        a->cur_min_ms = 0;
        a->window_since = now;
    }
    if (a->cur_min_ms <= 0 || call_ms < a->cur_min_ms)
        a->cur_min_ms = call_ms;
    return a->prev_min_ms > 0 && a->prev_min_ms < a->cur_min_ms ? a->prev_min_ms : a->cur_min_ms;
}

void rill__faas_aimd_sample(rill__faas_aimd_t *a, double call_ms, bool overloaded, int64_t now) {
    /* An overload answer is often fast: it says nothing of the function's latency. */
    double base = overloaded ? 0 : base_ms(a, call_ms, now);
    bool slow = !overloaded && call_ms > 2.0 * base + AIMD_SLACK_MS;
    if (overloaded || slow) {
        if (now < a->hold_until)
            return; /* the same overload, reported by a call sent before the cut */
        a->limit = a->limit / 2 < 1 ? 1 : a->limit / 2;
        a->acked = 0;
        a->hold_until = now + (int64_t)(call_ms > a->cur_min_ms ? call_ms : a->cur_min_ms);
        a->cut_once = true;
        a->cuts++;
        return;
    }
    if (!a->cut_once || ++a->acked >= a->limit) { /* doubling; or a round of successes */
        a->acked = 0;
        if (a->limit < a->max)
            a->limit++;
    }
}
