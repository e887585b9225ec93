/*
 * clock.c — rill__now_ms(), the monotonic milliseconds every timeout and deadline uses.
 *
 * DESIGN: CLOCK_MONOTONIC, so a wall-clock step (NTP, an operator) never fires or delays a
 * deadline; record timestamps and log lines use the wall clock instead.
 */
#include "clock_int.h"

#include <time.h>

int64_t rill__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
