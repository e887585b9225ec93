/*
 * bench_common.h — clocks, CPU accounting and the one result line that every benchmark
 * program prints, so that the scripts in bench/ parse one format.
 *
 * Header-only and free of Rill and librdkafka headers, so that the raw librdkafka baseline
 * and the Rill programs share it without either seeing the other's API.
 *
 * The result line is "RESULT key=value ...", one line on stdout:
 *   prog          what ran (raw, rill)
 *   records       records processed
 *   wall_s        from the first record consumed to the clean stop (outputs delivered,
 *                 offsets committed, clients closed): the measured part
 *   cpu_s         user+sys CPU seconds of the whole process over the same span
 *   last_s        from the first record to the last one handed to the producer
 *   total_s       from the program's start to the clean stop (includes the group join)
 *   cpu_total_s   user+sys CPU seconds of the whole process, from exec to the stop
 */
#ifndef RILL_BENCH_COMMON_H
#define RILL_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User plus system CPU seconds used so far by every thread of this process. */
static inline double bench_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The instants a run is measured at: start, first record, last record, stopped. */
typedef struct bench_marks_s {
    double t_start;
    double t_first, cpu_first;
    double t_last;
    double t_stop, cpu_stop;
} bench_marks_t;

static inline void bench_mark_start(bench_marks_t *m) {
    m->t_start = bench_now();
}

static inline void bench_mark_first(bench_marks_t *m) {
    m->t_first = bench_now();
    m->cpu_first = bench_cpu();
}

static inline void bench_mark_stop(bench_marks_t *m) {
    m->t_stop = bench_now();
    m->cpu_stop = bench_cpu();
}

/* Prints the RESULT line (see the top of this file). */
static inline void bench_print_result(const char *prog, long records, const bench_marks_t *m) {
    printf("RESULT prog=%s records=%ld wall_s=%.3f cpu_s=%.3f last_s=%.3f total_s=%.3f "
           "cpu_total_s=%.3f\n",
           prog, records, m->t_stop - m->t_first, m->cpu_stop - m->cpu_first,
           m->t_last - m->t_first, m->t_stop - m->t_start, m->cpu_stop);
    fflush(stdout);
}

/* Parses a positive count; returns -1 when text is not one. */
static inline long bench_parse_count(const char *text) {
    char *end;
    long v = strtol(text, &end, 10);
    return (end == text || *end || v <= 0) ? -1 : v;
}

#endif /* RILL_BENCH_COMMON_H */
