/*
 * rt_state.h — the state-store integration tests' view of tests/progs/rill_count_app: state
 * directories kept across restarts, keyed input drawn by seed, counts per key (the reference
 * and the last committed output), the restore lines of an instance's log, consumer-group lag,
 * the memory of a process, and the scenario "one instance SIGKILLed and restarted on the
 * same state directory, several times, while input flows" that the crash tests share.
 *
 * Conventions are rill_test.h's: calls that only the test's own thread makes fail the test
 * themselves on a setup error, every wait is bounded, returned memory has a matching free.
 */
#ifndef RT_STATE_H
#define RT_STATE_H

#include "rill_test.h"

#include <pthread.h>

/* ---- state directories ---- */

/* Makes a fresh directory "<TMPDIR>/rill-state-<prefix>-XXXXXX" (mkdtemp) and remembers it,
 * so rt_state_fini() removes it when a test fails before its own cleanup. The caller frees
 * the string (after rt_state_dir_remove()). */
char *rt_state_dir_new(const char *prefix);

/* Removes dir and everything under it, and forgets it. NULL-safe. */
void rt_state_dir_remove(const char *dir);

/* For a suite's .fini: rt_kill_all(), then removes every directory still remembered. */
void rt_state_fini(void);

/* ---- the application process ---- */

typedef struct rt_count_app_s {
    const char *bootstrap, *input, *output, *app_id;
    const char *state_dir;    /* --state-dir */
    const char *instance_id;  /* --instance-id (static membership), or NULL */
    int stores;               /* --stores N; < 0: the app's default (1) */
    int value_size;           /* --value-size B; 0: the app's default (8) */
    const char *const *props; /* "name=value" given as -D (NULL-terminated; may be NULL) */
} rt_count_app_t;

/* Starts rill_count_app as described by app, its output appended to log. Returns the pid. */
pid_t rt_count_spawn(const rt_count_app_t *app, const char *log);

/* ---- input ---- */

/* Keys drawn from a fixed set by seed: record i has key "key-<n>" (n in [0, keys), seven
 * digits) with n a hash of (seed, i), and value "v<i>". opaque is an rt_keygen_t. */
typedef struct rt_keygen_s {
    uint64_t seed;
    size_t keys;
} rt_keygen_t;

void rt_gen_keys(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                 void *opaque);

/* splitmix64: the next pseudo-random number of *state (for seeded choices in tests). */
uint64_t rt_rand_next(uint64_t *state);

/* ---- counts per key ---- */

typedef struct rt_count_s {
    char *key; /* NULL: empty slot */
    int64_t value;
    int32_t partition; /* where it was last seen (output tables), or -1 */
} rt_count_t;

/* A hash table key → integer. Zero-initialise, free with rt_counts_free(). */
typedef struct rt_counts_s {
    rt_count_t *v;
    size_t cap, cnt;
} rt_counts_t;

/* The entry of key, inserted with value 0 and partition -1 when absent. Valid until the next
 * insertion. */
rt_count_t *rt_counts_at(rt_counts_t *c, const char *key);
/* The entry of key, or NULL. */
const rt_count_t *rt_counts_get(const rt_counts_t *c, const char *key);
void rt_counts_free(rt_counts_t *c);

/* Adds one to the count of every record's key (the reference of rill_count_app). */
void rt_counts_add_records(rt_counts_t *c, const rt_records_t *recs);

/* What reading the output found besides the last values. */
typedef struct rt_read_stats_s {
    size_t records;    /* records read */
    size_t bad_values; /* values that are not decimal integers */
    size_t split_keys; /* keys seen in more than one partition */
    size_t not_next;   /* values that are not the key's previous value + 1 (or 1 first) */
    bool complete;     /* every partition was read to its end before the timeout */
} rt_read_stats_t;

/*
 * Reads topic whole (every partition from the beginning to its end: the high watermark, or
 * the last stable offset under read_committed) with isolation_level and keeps, per key, the
 * last value (a decimal count) in per-partition offset order. last is filled (not reset).
 * Gives up after timeout_ms (stats->complete then says so). Fails the test on setup errors.
 */
void rt_read_last_counts(const char *bootstrap, const char *topic, const char *isolation_level,
                         int timeout_ms, rt_counts_t *last, rt_read_stats_t *stats);

/* The comparison of final counts with the reference, key by key. */
typedef struct rt_count_cmp_s {
    size_t keys;       /* in the reference */
    size_t equal;      /* final == reference */
    size_t above;      /* final > reference */
    size_t below;      /* final < reference (present but short) */
    size_t missing;    /* in the reference, not in the output */
    size_t unexpected; /* in the output, not in the reference */
    int64_t excess;    /* sum over the keys above of final - reference */
    int64_t deficit;   /* sum over the keys below or missing of reference - final */
    char report[2048]; /* the counts and the first examples of each kind */
} rt_count_cmp_t;

void rt_counts_compare(const rt_counts_t *reference, const rt_counts_t *final, rt_count_cmp_t *cmp);

/* ---- restore lines of an instance's log (state/restore.c) ---- */

typedef enum rt_restore_kind_e {
    RT_RESTORE_SCRATCH = 0,    /* "restored: N ... (no local state)" */
    RT_RESTORE_STORED = 1,     /* "restored: N ... (the stored offset)" */
    RT_RESTORE_UP_TO_DATE = 2, /* "up to date at changelog offset X, nothing to restore" */
} rt_restore_kind_t;

typedef struct rt_restore_s {
    char task[32];
    char store[128];
    rt_restore_kind_t kind;
    int64_t records; /* replayed (0 when up to date) */
    int64_t offset;  /* where the replay started, or the offset it was up to date at */
    int generation;  /* the number of "assigned ..." lines before this one in the log */
} rt_restore_t;

typedef struct rt_restore_log_s {
    rt_restore_t *v;
    size_t cnt, cap;
    int generations; /* "assigned ..." lines read */
} rt_restore_log_t;

/* Reads the restore lines of log from byte from_byte on (0: the whole log) into out (reset
 * first). A missing log reads as empty. */
void rt_restore_log_read(const char *log, long from_byte, rt_restore_log_t *out);
void rt_restore_log_free(rt_restore_log_t *out);

/* Totals of the restore lines of one generation (-1: all) and one store (NULL: all). */
typedef struct rt_restore_sum_s {
    int lines, scratch, stored, up_to_date;
    int64_t records; /* replayed in all */
    char text[1024]; /* "0_0 counts: 12 from 345 (stored); ..." */
} rt_restore_sum_t;

void rt_restore_log_sum(const rt_restore_log_t *log, int generation, const char *store,
                        rt_restore_sum_t *sum);

/* The restore summary of log from from_byte on, all generations and stores. */
void rt_restore_summary(const char *log, long from_byte, rt_restore_sum_t *sum);

/* Waits up to timeout_ms until log, from from_byte on, holds at least min_lines restore
 * lines. Returns whether it does. */
bool rt_wait_restores(const char *log, long from_byte, int min_lines, int timeout_ms);

/* The size of file in bytes (0 when missing). */
long rt_file_size(const char *file);

/* ---- topics and groups ---- */

/* The number of records (not offsets: transaction markers are not records) in topic, read
 * with isolation_level up to each partition's end. Returns -1 when the read did not finish
 * in timeout_ms. Fails the test on setup errors. */
int64_t rt_count_records(const char *bootstrap, const char *topic, const char *isolation_level,
                         int timeout_ms);

/*
 * Waits up to timeout_ms until consumer group `group` has committed, for every partition of
 * topic, the partition's end offset, or until process watch (when > 0; a child started with
 * rt_spawn) has ended, which it does not reap. Returns the lag left (sum of end minus
 * committed offset; a partition with no committed offset counts whole), 0 on success, -1
 * when it could not be measured.
 */
int64_t rt_wait_group_caught_up(const char *bootstrap, const char *group, const char *topic,
                                int timeout_ms, pid_t watch);

/* Whether child pid has ended (without reaping it: rt_wait() still gets its status). */
bool rt_child_ended(pid_t pid);

/* ---- memory of a process ---- */

typedef struct rt_mem_sampler_s {
    pthread_t tid;
    pid_t pid;
    int interval_ms;
    int stop;
    int64_t peak_rss_kb; /* largest VmRSS sampled */
    int64_t hwm_kb;      /* last VmHWM read (the kernel's peak, between samples too) */
    int64_t last_rss_kb;
    size_t samples;
} rt_mem_sampler_t;

/* Samples VmRSS and VmHWM of pid from /proc every interval_ms on a thread of its own. */
void rt_mem_sampler_start(rt_mem_sampler_t *s, pid_t pid, int interval_ms);
/* Stops sampling (call before reaping pid, so the last VmHWM is read). */
void rt_mem_sampler_stop(rt_mem_sampler_t *s);

/* ---- the crash scenario ---- */

typedef struct rt_crash_s {
    const char *name;            /* prefix of the topics and the application.id */
    const char *const *props;    /* -D properties of every run (NULL-terminated) */
    const char *isolation_level; /* how output and changelog are read */
    size_t records;              /* input records */
    size_t keys;                 /* distinct keys */
    uint64_t seed;               /* keys and kill times */
    int partitions;              /* of input and output */
    int rate_per_sec;            /* input producing rate */
    int kills;                   /* SIGKILLs, each followed by a restart */
    int catch_up_timeout_ms;     /* after the input: until the group has committed it all */
} rt_crash_t;

#define RT_CRASH_MAX_RUNS 8

typedef struct rt_crash_run_s {
    char *log;
    int exit_code;              /* 137 for a killed run, the last run's after SIGTERM */
    double started_s, killed_s; /* since producing began; killed_s < 0: not killed */
    int64_t changelog_records;  /* in the changelog when the run started (-1: unknown) */
    rt_restore_sum_t restore;   /* the run's restore lines */
} rt_crash_run_t;

typedef struct rt_crash_result_s {
    char *app_id, *input, *output, *changelog, *state_dir;
    int runs;
    rt_crash_run_t run[RT_CRASH_MAX_RUNS];
    rt_counts_t reference; /* from the input as acknowledged */
    rt_counts_t final;     /* the last output value per key */
    rt_read_stats_t read;
    rt_count_cmp_t cmp;
    int64_t lag;           /* left when the last run was stopped */
    int64_t changelog_end; /* records in the changelog at the end */
    double seconds;        /* from the first input record to the caught-up group */
} rt_crash_result_t;

/*
 * Runs the scenario: topics, one instance with a state directory of its own and a static
 * group.instance.id (a restart is the same logical instance), the input produced in the
 * background; kills times, at seeded random points spread over the producing time but never
 * before the running instance has opened (restored) its stores, it SIGKILLs the instance,
 * counts the changelog, and restarts it on the same state directory. Then waits until the
 * group has committed the whole input, SIGTERMs the last run and reads the output back.
 * Fails the test on setup errors only; the caller asserts on res.
 */
void rt_crash_run(const rt_crash_t *sc, rt_crash_result_t *res);
/* Frees res and removes its state directory. */
void rt_crash_result_free(rt_crash_result_t *res);

#endif
