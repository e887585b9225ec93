/*
 * faas_bench.h — helpers shared by the FaaS bridge benchmarks (bench-faas-throughput,
 * bench-faas-latency): another process's CPU time, argument peeking and short sleeps.
 *
 * Header-only and free of Rill and librdkafka headers, like bench_common.h, which it
 * complements (that file's clocks and CPU accounting are used as they are).
 */
#ifndef RILL_FAAS_BENCH_H
#define RILL_FAAS_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* User plus system CPU seconds used so far by process pid (from /proc/<pid>/stat), or -1
 * when it cannot be read (pid <= 0, gone, not ours to read). */
static inline double faas_bench_proc_cpu(long pid) {
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
     * utime and stime are fields 14 and 15, i.e. the 12th and 13th after comm. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

/* The value after flag name in argv, or dflt; argv is not changed. */
static inline const char *faas_bench_peek_flag(int argc, char **argv, const char *name,
                                               const char *dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return dflt;
}

/* Parses a count >= 0; returns -1 when text is not one. */
static inline long faas_bench_parse_count0(const char *text) {
    char *end;
    long v = strtol(text, &end, 10);
    return (end == text || *end || v < 0) ? -1 : v;
}

static inline void faas_bench_sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif /* RILL_FAAS_BENCH_H */
