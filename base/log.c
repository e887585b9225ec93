/*
 * log.c — rill__logf() and its kin: Rill's log lines on stderr (format in log_int.h).
 *
 * DESIGN: the message is formatted into a stack buffer first and written with one fprintf,
 * so lines of concurrent threads (stream threads, and librdkafka's own threads through the
 * log callback of engine/conf.c) do not interleave; no allocation, no lock of our own. The
 * level filter reads the logger's level, a plain int set before any client exists.
 */
#include "log_int.h"

#include <stdio.h>
#include <time.h>

static const char *const level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

static void log_line(const rill__logger_t *lg, int level, const char *who, const char *fmt,
                     va_list ap) {
    if (!rill__log_wants(lg, level))
        return;
    char msg[1024], when[32];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    if (level < RILL__LOG_ERROR)
        level = RILL__LOG_ERROR;
    if (level > RILL__LOG_DEBUG)
        level = RILL__LOG_DEBUG;
    fprintf(stderr, "%s.%03ld %s rill[%s]%s%s: %s\n", when, ts.tv_nsec / 1000000,
            level_names[level], lg && lg->app_id ? lg->app_id : "-", who ? " " : "", who ? who : "",
            msg);
}

void rill__vlogf(const rill__logger_t *lg, int level, int thread_idx, const char *fmt, va_list ap) {
    char who[32];
    if (thread_idx >= 0)
        snprintf(who, sizeof(who), "thread-%d", thread_idx);
    log_line(lg, level, thread_idx >= 0 ? who : NULL, fmt, ap);
}

void rill__logf(const rill__logger_t *lg, int thread_idx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rill__vlogf(lg, RILL__LOG_INFO, thread_idx, fmt, ap);
    va_end(ap);
}

void rill__log_who(const rill__logger_t *lg, int level, const char *who, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_line(lg, level, who, fmt, ap);
    va_end(ap);
}
