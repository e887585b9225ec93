/*
 * state_host_int.h — the state module as its host (the engine, or a test's fake host) sees
 * it: what the host gives the state module, and the calls the host makes to run a task's
 * stores over its life (docs/DESIGN.md, "Modules": the host interface).
 *
 * Three levels, each an object of the state module that the host holds:
 *  - rill__state_t, one per process: made from a rill__state_host_t (the application id, the
 *    state directory, RocksDB's bounds, the logger and the callbacks below). It owns the
 *    RocksDB database (opened on first use, under its own lock) and the state directory's
 *    lock file.
 *  - rill__state_thread_t, one per stream thread: owns the source the thread's restores read
 *    changelogs from (a librdkafka consumer made from the host's configuration, unless the
 *    host gives a source of its own), made on first use and freed with the object.
 *  - rill__task_stores_t, one per task, inside the host's task: the task's identity and
 *    callbacks (rill__task_host_t) set by the host, the store instances kept by the state
 *    module.
 * Changelog records are produced by the host (rill__task_host_t.produce) with an opaque
 * token, the store's declaration (rill__store_def_t *), which the host hands back with the
 * record's offset once the broker acknowledged it (rill__stores_delivered).
 *
 * Threads: rill__state_t is thread-safe; a rill__state_thread_t and the tasks' stores belong
 * to the one stream thread that runs them.
 */
#ifndef RILL_STATE_HOST_INT_H
#define RILL_STATE_HOST_INT_H

#include "db_int.h"
#include "log_int.h"
#include "store_int.h"

#include <librdkafka/rdkafka.h>

/* ---- the changelog records a restore reads ---- */

/* A changelog partition to read, from offset (RD_KAFKA_OFFSET_BEGINNING: from its start). */
typedef struct rill__changelog_pos_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
} rill__changelog_pos_t;

/* One record taken from a source: of the assigned position pos (an index into the list given
 * to assign), or the end of that partition (eof). value NULL: a tombstone. The pointers are
 * the source's, valid until its next take. */
typedef struct rill__changelog_rec_s {
    int pos; /* -1: of no assigned position (dropped) */
    bool eof;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} rill__changelog_rec_t;

/* Where a stream thread's restores read changelogs from. Every call returns 0 (take: the
 * count) or -1 with errstr. */
typedef struct rill__changelog_src_s rill__changelog_src_t;
struct rill__changelog_src_s {
    /* The partition's [lo, hi) offsets (the next offset to be written is hi). */
    int (*watermarks)(rill__changelog_src_t *src, const char *topic, int32_t partition, int64_t *lo,
                      int64_t *hi, char *errstr, size_t errstr_size);
    /* Reads the n positions from now on (n 0: stops reading); eof records report their ends. */
    int (*assign)(rill__changelog_src_t *src, const rill__changelog_pos_t *pos, int n, char *errstr,
                  size_t errstr_size);
    /* Up to max records that are there, waiting up to timeout_ms when there are none. */
    int (*take)(rill__changelog_src_t *src, rill__changelog_rec_t *recs, int max, int timeout_ms,
                char *errstr, size_t errstr_size);
    void (*destroy)(rill__changelog_src_t *src);
};

/* ---- what the host gives ---- */

/* The process's part, set once by the host; copied by rill__state_new (the strings and the
 * logger are borrowed and must outlive the state object). */
typedef struct rill__state_host_s {
    const char *application_id;
    const char *state_dir;
    rill__db_opts_t db_opts;
    const rill__logger_t *log;
    void *opaque; /* the host's, given to each callback below */
    /* Stops the app with err and msg (a failed allocation, an I/O error). */
    void (*fatal)(void *opaque, rill_err_t err, const char *msg);
    /* Whether the app is stopping (long waits give up). */
    bool (*stopping)(void *opaque);
    /* The task count of sub-topology sub (the changelogs' partitions), or <= 0 with errstr. */
    int (*partitions)(void *opaque, int sub, char *errstr, size_t errstr_size);
    /* Creates topic (when absent) with partitions and config (name, value pairs, NULL). */
    rill_err_t (*create_topic)(void *opaque, const char *topic, int partitions,
                               const char *const *config, char *errstr, size_t errstr_size);
    /* The configuration of a restore consumer (assign only, no group); the caller owns it. */
    rd_kafka_conf_t *(*restore_conf)(void *opaque, char *errstr, size_t errstr_size);
    /* A restore source of the host's own (NULL: a librdkafka consumer from restore_conf). */
    rill__changelog_src_t *(*source_new)(void *opaque, char *errstr, size_t errstr_size);
    /* The restore's counters: records replayed (added), records still to replay (set);
     * thread_opaque is the one given to rill__state_thread_new. NULL: not counted. */
    void (*restored)(void *thread_opaque, int64_t records);
    void (*restore_left)(void *thread_opaque, int64_t records);
} rill__state_host_t;

/* A task's callbacks; task_opaque is rill__task_stores_t.opaque. */
typedef struct rill__task_host_s {
    /* A handle for producing to topic (NULL with no memory); freed by topic_free. */
    void *(*topic_new)(void *task_opaque, const char *topic);
    void (*topic_free)(void *task_opaque, void *topic);
    /* Produces one changelog record (value NULL: a tombstone) to topic[partition]; token
     * comes back to rill__stores_delivered with its offset once acknowledged. 0 or -1. */
    int (*produce)(void *task_opaque, void *topic, int32_t partition, const void *key,
                   size_t key_len, const void *value, size_t value_len, void *token);
    /* A store was written: its cache grew (the host checks the caches' size). */
    void (*dirty)(void *task_opaque);
} rill__task_host_t;

typedef struct rill__state_s rill__state_t;
typedef struct rill__state_thread_s rill__state_thread_t;

/* A task's stores: the host sets the first fields when it makes the task (the rest zero). */
typedef struct rill__task_stores_s {
    const rill__task_host_t *host;
    void *opaque;
    const char *id; /* "<subtopology>_<partition>", for messages */
    int sub;
    int32_t partition;
    bool logged; /* has changelogs to write and restore from (false: a test driver's) */
    /* The state module's. */
    rill__state_thread_t *thread; /* set when the stores open */
    struct rill__store_s **v;
    int cnt;
    bool open; /* opened and restored */
} rill__task_stores_t;

/* ---- the process ---- */

/* A state object for host (copied), or NULL (no memory). */
rill__state_t *rill__state_new(const rill__state_host_t *host);
/* Closes the database and releases the state directory. NULL-safe. */
void rill__state_free(rill__state_t *state);
/* The database, opened on first use. Thread-safe. NULL with errstr. */
rill__db_t *rill__state_db(rill__state_t *state, char *errstr, size_t errstr_size);
/* "<application.id>-<store>-changelog". */
void rill__store_changelog_name(const rill__state_t *state, const rill__store_def_t *def, char *out,
                                size_t out_size);
/* Creates the changelog topics of the n stores that have one (start of the app). */
rill_err_t rill__state_create_changelogs(rill__state_t *state, rill__store_def_t *const *defs,
                                         int n, char *errstr, size_t errstr_size);

/* state_dir.c: makes sure the state directory is the user's own (created 0700; refused when
 * another user owns it or group or others may write it) and takes its lock for this
 * application id, so a second process on it fails before it joins the group. Returns 0, or
 * an error with a message naming the directory and the fix. */
rill_err_t rill__state_dir_claim(rill__state_t *state, char *errstr, size_t errstr_size);
/* Releases the lock taken by rill__state_dir_claim() (rill__state_free does too). */
void rill__state_dir_release(rill__state_t *state);

/* ---- a stream thread ---- */

/* A stream thread's part: idx names it in log lines, opaque goes to the restore counters.
 * NULL: no memory. */
rill__state_thread_t *rill__state_thread_new(rill__state_t *state, int idx, void *opaque);
/* Frees it and its restore source. NULL-safe. */
void rill__state_thread_free(rill__state_thread_t *thread);

/* ---- a task's stores over its life (store_life.c) ---- */

/* Opens the stores of the n tasks that have none open yet (those of the defs whose sub is
 * the task's) and restores them, their changelog partitions read at once. Returns 0 or -1
 * (the host's fatal called). */
int rill__stores_open(rill__state_thread_t *thread, rill__task_stores_t **tasks, int n,
                      rill__store_def_t *const *defs, int def_cnt);
/* Commit step 2: produces every store's dirty cache entries to its changelog. 0 or -1. */
int rill__stores_log(rill__task_stores_t *ts);
/* Commit step 3, after success: applies the caches' dirty entries and the offsets to
 * RocksDB; the entries stay, clean, for reads. 0 or -1 (fatal). */
int rill__stores_apply(rill__task_stores_t *ts);
/* After a failed commit or on close: drops the caches. */
void rill__stores_drop_caches(rill__task_stores_t *ts);
/* Frees the store instances (to be opened, and restored, again). */
void rill__stores_close(rill__task_stores_t *ts);
/* Drops the clean entries of the task's caches (what commits applied, kept for reads) to
 * make room for writes. 0 or -1 (out of memory: the host's fatal called). */
int rill__stores_evict_clean(rill__task_stores_t *ts);
/* Bytes held in the task's caches, clean entries included (to evict them, then to trigger
 * early commits). */
size_t rill__stores_cache_bytes(const rill__task_stores_t *ts);
/* The task's instance of the store called name, or NULL. */
struct rill__store_s *rill__stores_find(rill__task_stores_t *ts, const char *name);
/* A changelog record produced with token (a store def) for partition was acknowledged at
 * offset: the store of this task that produced it (if any) learns its offset. */
void rill__stores_delivered(rill__task_stores_t *ts, const void *token, int32_t partition,
                            int64_t offset);

/* Fault injection, for tests only: when set to N > 0, the Nth allocation of a store's next
 * write batch in rill__stores_apply fails as if memory had run out (counted across every
 * store and thread; 0: no fault). */
extern int rill__fault_store_batch_alloc;

#endif
