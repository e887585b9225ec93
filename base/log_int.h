/*
 * log_int.h — the one log line format of Rill, on stderr:
 *   "HH:MM:SS.mmm LEVEL rill[<application.id>] <who>: <message>"
 * with the wall-clock time in UTC, LEVEL one of ERROR, WARN, INFO, DEBUG (padded to five
 * characters), and <who> "thread-<n>" for a stream thread, "kafka <client>" for a line of
 * librdkafka's (engine/conf.c), or nothing (then no ": " before the message either, only
 * one). A line above the logger's level (log.level) is not written. The engine wraps it as
 * rill__log(app, ...) and rill__log_at(app, level, ...) (engine_int.h).
 */
#ifndef RILL_LOG_INT_H
#define RILL_LOG_INT_H

#include <stdarg.h>

/* Levels, from the most to the least severe; the order of log.level's choices. */
typedef enum rill__log_level_e {
    RILL__LOG_ERROR = 0,
    RILL__LOG_WARN = 1,
    RILL__LOG_INFO = 2,
    RILL__LOG_DEBUG = 3
} rill__log_level_t;

/* Who logs: the application id named in every line (not NULL), and the most verbose level
 * written. A plain value: the caller owns the strings, which must outlive the calls. */
typedef struct rill__logger_s {
    const char *app_id;
    int level; /* rill__log_level_t */
} rill__logger_t;

/* True when a line of level would be written (lg NULL: info and above). */
static inline int rill__log_wants(const rill__logger_t *lg, int level) {
    return level <= (lg ? lg->level : RILL__LOG_INFO);
}

/* Logs one line at info level (the message is cut at 1023 bytes); thread_idx < 0: no thread
 * named. Thread: any (one fprintf per line, and stdio locks the stream). */
void rill__logf(const rill__logger_t *lg, int thread_idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Logs one line at level, naming thread thread_idx (< 0: none). */
void rill__vlogf(const rill__logger_t *lg, int level, int thread_idx, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* Logs one line at level naming who (NULL: nobody), e.g. "kafka rdkafka#consumer-1".
 * lg NULL: application id "-", level info. */
void rill__log_who(const rill__logger_t *lg, int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
