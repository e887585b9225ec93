/*
 * log_int.h — the one log line format of Rill, on stderr:
 *   "HH:MM:SS.mmm rill[<application.id>] thread-<n>: <message>"   (thread-less: no "thread-")
 * with the wall-clock time in UTC. The engine wraps it as rill__log(app, ...) (engine_int.h).
 */
#ifndef RILL_LOG_INT_H
#define RILL_LOG_INT_H

#include <stdarg.h>

/* Who logs: the application id named in every line (not NULL). A plain value:
 * the caller owns the strings, which must outlive the calls. */
typedef struct rill__logger_s {
    const char *app_id;
} rill__logger_t;

/* Logs one line (the message is cut at 1023 bytes); thread_idx < 0: no thread named.
 * Thread: any (one fprintf per line). */
void rill__logf(const rill__logger_t *lg, int thread_idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rill__vlogf(const rill__logger_t *lg, int thread_idx, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
