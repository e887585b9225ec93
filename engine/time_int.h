/*
 * time_int.h — the bound on event times and the saturating arithmetic that keeps window,
 * deadline and schedule computations defined for any int64 time.
 *
 * RILL__TIME_MAX is the largest record timestamp (epoch ms) a source accepts: INT64_MAX / 4,
 * about 73 million years. A record beyond it (or negative) goes to the dead-letter topic at
 * its source (task.c), so a time plus a window size, grace or interval (each bounded the
 * same way) stays far from overflow. Code that may still see other times (records forwarded
 * by custom processors, times read back from stores or commits) uses rill__add_sat and
 * rill__sub_sat, which clamp to INT64_MIN / INT64_MAX instead of overflowing.
 */
#ifndef RILL_TIME_INT_H
#define RILL_TIME_INT_H

#include <stdint.h>

#define RILL__TIME_MAX (INT64_MAX / 4)

/* a + b, clamped to [INT64_MIN, INT64_MAX]. */
static inline int64_t rill__add_sat(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* a - b, clamped to [INT64_MIN, INT64_MAX]. */
static inline int64_t rill__sub_sat(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif
