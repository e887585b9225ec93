/*
 * log.c — rill__logf(), Rill's log lines on stderr (format in log_int.h).
 *
 * DESIGN: the message is formatted into a stack buffer first and written with one fprintf,
 * so lines of concurrent threads do not interleave; no allocation, no lock of our own.
 */
#include "log_int.h"

#include <stdio.h>
#include <time.h>

void rill__vlogf(const rill__logger_t *lg, int thread_idx, const char *fmt, va_list ap) {
    char msg[1024], when[32];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    if (thread_idx >= 0)
        fprintf(stderr, "%s.%03ld rill[%s] thread-%d: %s\n", when, ts.tv_nsec / 1000000,
                lg->app_id, thread_idx, msg);
    else
        fprintf(stderr, "%s.%03ld rill[%s]: %s\n", when, ts.tv_nsec / 1000000, lg->app_id,
                msg);
}

void rill__logf(const rill__logger_t *lg, int thread_idx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rill__vlogf(lg, thread_idx, fmt, ap);
    va_end(ap);
}
