/*
 * engine_int.h — the runtime's internal structures: app, stream threads, tasks, the processor
 * context, metrics, and the functions that connect them.
 *
 * Thread map: an app owns N stream threads. A thread owns its consumer, its producer and the
 * tasks it was assigned; everything inside a task (queues, operator state, context) is
 * touched only by that thread. The app's fields after start are read-only, except the
 * fatal-error slot (under app->lock) and the stop flag (atomic).
 */
#ifndef RILL_ENGINE_INT_H
#define RILL_ENGINE_INT_H

#include "clock_int.h"
#include "conf_int.h"
#include "counter_int.h"
#include "lineage_int.h"
#include "log_int.h"
#include "metrics_int.h"
#include "rill.h"
#include "time_int.h"
#include "topology_int.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>

typedef struct rill__thread_s rill__thread_t;
typedef struct rill__pq_s rill__pq_t;

/* ---- metrics: counters written by one thread, read by any (relaxed atomics) ---- */

typedef enum rill__metric_e {
    RILL_M_CONSUMED,          /* records polled from Kafka */
    RILL_M_PROCESSED,         /* records that went through their source node */
    RILL_M_PRODUCED,          /* records handed to the producer by sinks */
    RILL_M_DLQ,               /* records sent to the dead-letter topic */
    RILL_M_COMMITS,           /* successful commits (offsets, or transactions) */
    RILL_M_TXN_ABORTS,        /* aborted transactions (exactly-once) */
    RILL_M_REBALANCES,        /* partition assignments received */
    RILL_M_PAUSES,            /* partitions paused because their queue was full */
    RILL_M_TASKS,             /* tasks currently owned (a gauge) */
    RILL_M_BUFFERED,          /* records queued in tasks (a gauge) */
    RILL_M_RESTORED,          /* changelog records restored into stores */
    RILL_M_RESTORE_LAG,       /* changelog records still to restore (a gauge) */
    RILL_M_LAG,               /* records in Kafka past the positions of owned partitions (a gauge,
                                 from the consumer's cached end offsets, once a second) */
    RILL_M_ALIGN_PAUSES,      /* partitions paused by event-time alignment */
    RILL_M_TRACES_STARTED,    /* lineage: traces started (input without a valid traceparent) */
    RILL_M_TRACES_MALFORMED,  /* lineage: ... of them because its traceparent was malformed */
    RILL_M_LINEAGE_TRUNCATED, /* lineage: chains that lost their oldest hops to the cap */
    RILL_M_CACHE_BYTES,       /* bytes in the tasks' write and record caches (a gauge) */
    RILL_M__COUNT
} rill__metric_t;

typedef struct rill__metrics_s {
    int64_t v[RILL_M__COUNT];
} rill__metrics_t;

static inline void rill__metric_add(rill__metrics_t *m, rill__metric_t which, int64_t n) {
    rill__counter_add(&m->v[which], n);
}
static inline void rill__metric_set(rill__metrics_t *m, rill__metric_t which, int64_t n) {
    rill__counter_set(&m->v[which], n);
}

/* The interactive queries' counters of an app (query_forward.c). */
typedef enum rill__qmetric_e {
    RILL__QM_FORWARDED,        /* requests sent to other instances */
    RILL__QM_FORWARD_FAILURES, /* of which no answer came */
    RILL__QM_TRUNCATED,        /* ranges answered at their limit with rows left out */
    RILL__QM_COUNT
} rill__qmetric_t;

/* ---- what a stream thread shows other threads ---- */

/* The records in Kafka past the position of one input partition. */
typedef struct rill__lag_s {
    const char *topic; /* borrowed from the topology */
    int32_t partition;
    int64_t lag;
} rill__lag_t;

typedef struct rill__task_state_s {
    char id[32];
    bool running; /* its stores are restored and its nodes initialised */
} rill__task_state_t;

/* What the metrics and the HTTP endpoint read of a stream thread from other threads: written
 * by the thread (thread_status.c) when its tasks change and once a second, under lock. */
typedef struct rill__status_s {
    pthread_mutex_t lock;
    bool made;         /* lock initialised */
    bool assigned;     /* holds an assignment of the group (possibly empty): not mid-rebalance */
    rill__lag_t *lags; /* partitions whose lag is known */
    int lag_cnt;
    rill__task_state_t *tasks;
    int task_cnt;
} rill__status_t;

/* ---- interactive queries (queries.c) ---- */

typedef struct rill__query_s rill__query_t;

/* The queries posted to a stream thread by other threads, which it answers between batches
 * (queries.c). Under lock; done is broadcast when a query is answered. */
typedef struct rill__inbox_s {
    pthread_mutex_t lock;
    pthread_cond_t done; /* on CLOCK_MONOTONIC */
    bool made;
    bool closed; /* the thread serves no more: posting answers at once */
    rill__query_t *head, *tail;
} rill__inbox_t;

/* ---- the processor context: one per task ---- */

/* A consumed record waiting in its partition queue, already decoded. */
typedef struct rill__entry_s {
    rd_kafka_message_t *msg; /* NULL for a record given by rill__task_process_input() */
    void *value_obj;         /* decoded value, or NULL */
    int64_t ts;              /* extracted timestamp */
    char *error;             /* set when decoding or extraction failed: the reason (owned) */
    bool marker;             /* a progress marker of an upstream task (progress.c), not a record */
} rill__entry_t;

/* The longest origin id the engine makes (rill__ctx_origin_*). */
#define RILL__ORIGIN_MAX 256

struct rill_ctx_s {
    rill__task_t *task;
    rill__node_t *node;            /* the node being run */
    const rd_kafka_message_t *msg; /* the input record being processed, or NULL */
    const rill__pq_t *pq;          /* its input partition queue (topic name owned by the
                                      topology, so it outlives the record) */
    int64_t timestamp;             /* its extracted timestamp */
    char error[256];               /* reason set by rill_ctx_set_error() */
    /* What the records now being forwarded derive from, for the ids of records sent to
     * functions (rill__ctx_origin_id): origin NULL means the input record msg (or, with no
     * input record either, a fresh origin per record); else an id that lives as long as the
     * forwarding. origin_seq changes with every new origin, so a node can count the
     * records it gets from one origin. */
    const char *origin;
    uint64_t origin_seq;
    uint64_t origin_last; /* the largest origin_seq given out: a new origin gets the next */
    char origin_buf[RILL__ORIGIN_MAX];
    /* The input record whose results an asynchronous node releases (msg is NULL then, set
     * by rill__ctx_reenter), or that the test driver runs, so that the nodes see that
     * record's own position; at_topic NULL otherwise. */
    const char *at_topic;
    int32_t at_partition;
    int64_t at_offset;
    const rd_kafka_headers_t *at_headers;
    /* lineage.enable (engine/trace.c): trace_over is the trace of the records a node now
     * forwards from what it held (a FaaS stage's release, a completion), set around that
     * forward; otherwise trace is the current input record's, computed on first use and
     * valid while trace_seq == origin_seq + 1. */
    const rill__trace_t *trace_over;
    uint64_t trace_seq;
    rill__trace_t trace;
};

/* ---- tasks ---- */

/* One input partition of a task: a FIFO of decoded records. */
struct rill__pq_s {
    const char *topic; /* borrowed from the source node */
    int32_t partition;
    rill__node_t *source;
    rill__entry_t *ring;
    size_t head, cnt, cap;
    int64_t next_offset;   /* last processed + 1, or -1 */
    int64_t commit_offset; /* last committed (the rewind point), or -1 */
    int64_t commit_next;   /* what the commit in progress commits (next_offset lowered to
                              the async nodes' low watermark) */
    bool paused;
    int64_t idle_since; /* max.task.idle.ms: empty while others had records since, or 0 */
    bool at_end;        /* exit.on.end: the consumer reported the partition's end, nothing since */
    bool end_mark;      /* exit.on.end: its task advanced past the end, nothing since: commit
                           with the end mark (drain.c) */
    bool end_marked;    /* ... and that commit happened */
    /* Progress (progress.c, docs/DESIGN.md "Time"). */
    int64_t part_time;      /* a source topic: the largest timestamp processed from it, or -1 */
    int64_t floor;          /* progress known to be reached: committed with the offsets, or -1 */
    struct rill__up_s *ups; /* a linked topic: what each upstream task said, by writer */
    int up_cnt;
    bool linked;         /* the topology writes this topic too: it carries progress markers */
    bool idle;           /* empty and nothing more known to come (refreshed each round) */
    int64_t empty_since; /* when it was last found empty, or 0 */
    bool full;           /* paused: its queue reached buffered.records.per.partition */
    bool ahead;          /* paused: event-time alignment (its time ran ahead of the others) */
    int32_t check_cnt;   /* partitioning.check: the topic's partition count, or 0 */
};

struct rill__task_s {
    char id[32]; /* "<subtopology>_<partition>" */
    int sub;
    int32_t partition;
    rill__thread_t *thread;
    rill__pq_t *pqs;
    int pq_cnt;
    void **state; /* per node id; operator state of this task's nodes */
    bool initialized;
    bool has_async;               /* some node has a poll callback */
    bool waiting;                 /* holds records but waits for a lagging empty partition */
    int64_t waiting_since;        /* when the current wait began (0: not waiting) */
    bool wait_logged;             /* a long wait was reported */
    bool has_punctuate;           /* some node punctuates on stream time */
    struct rill__sched_s *scheds; /* punctuators scheduled by its nodes (punctuate.c) */
    int sched_cnt;
    struct rill__task_stores_s *stores; /* its state stores (state/, through stores.c) */
    int64_t created_ms;
    int64_t ready_ms; /* when its stores were restored and its nodes initialised */
    /*
     * Time (progress.c). wm, the task's progress: the lowest progress of its inputs that may
     * still bring records (a source partition: its largest timestamp processed; a linked
     * topic: the lowest progress its upstream tasks reported), held at the oldest timestamp
     * an async node still holds. It never goes back, comes only from records and markers,
     * and is what the commit stores. stream_time, what operators see: wm, or further when
     * --drain advances the task. -1 when unknown.
     */
    int64_t wm;
    int64_t stream_time;
    int64_t safe_time;             /* the wm of the last commit: a rewind goes back to it */
    int64_t commit_time;           /* what the commit in progress stores */
    int64_t wm_sent;               /* the progress last sent to the readers of its linked topics */
    bool idle_sent;                /* ... and whether it said it was idle */
    bool idle;                     /* its inputs are idle and its async nodes hold nothing */
    int64_t wm_sent_ms;            /* when */
    struct rill__link_out_s *outs; /* per linked topic it writes: the topic handle */
    int out_cnt;
    int *async_ids; /* the ids of its async nodes (low_time callbacks) */
    int async_cnt;
    int64_t origin_clock; /* the last wall-clock origin time given out (strictly increasing) */
    rill_ctx_t ctx;
};

/* ---- stream threads ---- */

/*
 * The test driver's seam (test_driver.c): a thread with no Kafka client. Its tasks' sinks and
 * dead letters hand their records to output() instead of the producer (partition 0: every
 * topic has one partition there; headers borrowed for the call, NULL when none), its stores
 * have no changelog (nothing is logged or restored), and its wall-clock punctuators read
 * wall_ms instead of the system clock. NULL in a stream thread.
 */
typedef struct rill__local_s {
    int (*output)(void *opaque, const char *topic, int32_t partition, const void *key,
                  size_t key_len, const void *value, size_t value_len, int64_t timestamp,
                  const rd_kafka_headers_t *hdrs);
    void *opaque;
    int64_t wall_ms;
} rill__local_t;

/* The task and queue of the last polled record's partition (records come in runs). Cleared
 * whenever tasks change. */
typedef struct rill__dispatch_cache_s {
    const rd_kafka_topic_t *rkt;
    int32_t partition;
    rill__task_t *task;
    rill__pq_t *pq;
} rill__dispatch_cache_t;

struct rill__thread_s {
    const rill__logger_t *log; /* first: the opaque of its clients (conf_int.h) */
    rill_app_t *app;
    int idx;
    pthread_t tid;
    bool started;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *dlq_rkt;
    rill__local_t *local; /* the test driver's thread: no consumer nor producer; else NULL */
    rill__task_t **tasks;
    int task_cnt;
    bool txn_open;          /* exactly-once: a transaction is open */
    bool fenced;            /* exactly-once: the producer was fenced; drop tasks and rejoin */
    int64_t txn_begun_ms;   /* exactly-once: when the open transaction began */
    int64_t txn_timeout_ms; /* exactly-once: the producer's transaction.timeout.ms */
    int64_t last_commit_ms;
    int delivery_errors;  /* failed deliveries since the last commit */
    int delivery_refused; /* ... of which refused for good, and remembered (refused.c) */
    char delivery_error[256];
    int64_t producer_max_bytes;      /* the producer's message.max.bytes */
    rd_kafka_resp_err_t produce_err; /* why the last rill__produce() failed */
    struct rill__refused_s *refused; /* outputs the broker refused (refused.c) */
    int refused_rewinds;             /* rewinds for refused outputs since the last commit */
    bool refused_relimit;            /* some were refused as too large: read the limits again */
    rill_buf_t scratch;              /* sink serialization buffer */
    rill_buf_t key_scratch;          /* sink key buffer (windowed keys) */
    rill__dispatch_cache_t cache;
    rd_kafka_queue_t *consumer_queue; /* for rill__thread_wake() */
    struct rill__orphan_s *orphans;   /* work of closed operators still in flight */
    int poll_wait_ms;                 /* the async nodes' next deadline, from the last poll */
    bool cache_bytes_dirty;           /* a store was written since the cache size check */
    bool commit_now;                  /* a cache is full: commit at the next occasion */
    /* Its part of state/, which owns its restore consumer: made by its first restore, freed
     * when it is joined (stores.c). */
    struct rill__state_thread_s *state;
    bool assigned;          /* has had an assignment */
    int64_t wait_since_ms;  /* when it began waiting for an assignment; 0: not waiting */
    int64_t wait_logged_ms; /* when it last said it was waiting; 0: not yet */
    bool announce;          /* assigned: "restoring"/"running" not yet logged */
    bool restoring_logged;  /* "restoring N store(s)" logged for this assignment */
    int closing;            /* atomic: the consumer is closing, no wake-ups */
    bool end_counted;       /* counted in app->threads_at_end */
    int64_t end_since;      /* exit.on.end: input done (or advanced) since */
    int64_t end_checked_ms; /* exit.on.end: the group's offsets last checked */
    int64_t lag_checked_ms; /* when RILL_M_LAG was last computed */
    int *sub_level;         /* exit.on.end: per sub-topology, its drain round */
    rill__metrics_t metrics;
    rill__status_t status;
    rill__inbox_t inbox; /* interactive queries for its tasks' stores (queries.c) */
    int64_t tasks_gen;   /* bumped whenever its tasks change (thread_status.c) */
    int64_t hosts_gen;   /* the tasks_gen last published to the query-hosts topic */
};

/* ---- the app ---- */

struct rill_app_s {
    const rill__logger_t *log; /* first: the opaque of the admin client (conf_int.h); the
                                  conf's logger */
    rill_topology_t *topo;
    rill_conf_t *conf;
    rill__settings_t set;
    rill_broker_t *broker; /* embedded broker, when no bootstrap.servers */
    char *bootstrap;
    rill__thread_t *threads;
    int thread_cnt;
    int stopping; /* atomic */
    bool started;
    int64_t started_ms;  /* when rill_app_start() succeeded (rill__now_ms) */
    bool summary_logged; /* the shutdown summary is written once */
    pthread_mutex_t lock;
    rill_err_t fatal;
    char fatal_msg[512];
    rd_kafka_t *admin; /* metadata and topic creation; created at start */
    pthread_mutex_t admin_lock;
    char broker_error[256]; /* why the admin client last failed to reach a broker */
    int threads_at_end;     /* exit.on.end: threads done (atomic) */
    int bad_meta_logged;    /* a malformed commit time was logged (atomic) */
    /* state/, which owns the RocksDB database and the state directory's lock: made on first
     * use, under lock, and freed with the app (stores.c). */
    struct rill__state_s *state;
    void *global;                      /* the global tables' reader (global.c), or NULL */
    struct rill__progress_s *progress; /* linked topics and task counts (progress.c) */
    void *bridge;                      /* the FaaS bridge's HTTP thread, made on first use */
    void (*bridge_free)(void *bridge);
    /* Size limits read at start (limits.c); 0: unknown, not checked. */
    int64_t read_max_bytes;      /* the largest max.message.bytes of the source topics */
    int64_t dlq_max_bytes;       /* the dead-letter topic's max.message.bytes */
    int64_t *sink_max_bytes;     /* per node id: a sink's topic's max.message.bytes */
    int64_t min_max_bytes;       /* the smallest of the sinks' and the dead-letter topic's */
    bool describe_off;           /* the cluster left DescribeConfigs unanswered: not asked again */
    struct rill__http_s *http;   /* the HTTP endpoint (http_endpoint.c), or NULL */
    char *server;                /* application.server as resolved at start, or NULL */
    int32_t *sub_partitions;     /* per sub-topology with stores: its task count (queries.c) */
    struct rill__hosts_s *hosts; /* the query-hosts topic's writer and reader (atomic
                                    pointer; query_hosts.c), or NULL */
    int64_t query_metrics[RILL__QM_COUNT]; /* relaxed atomic counters (query_forward.c) */
};

/* Returns the app's bridge object, creating it with make(app) on first use (under the app
 * lock; make returns NULL on failure). Thread-safe. */
void *rill__app_bridge(rill_app_t *app, void *(*make)(rill_app_t *app),
                       void (*free_fn)(void *bridge));

/* Work adopted by a thread from an operator that closed with requests in flight: reap is
 * called on every loop iteration and returns non-zero once everything is finished and
 * freed. */
typedef struct rill__orphan_s {
    struct rill__orphan_s *next;
    void *obj;
    int (*reap)(void *obj);
} rill__orphan_t;

/* ---- cross-file internals ---- */

/* queries.c: the inbox of a thread (made by rill__thread_start, closed when its loop ends,
 * freed with the app); rill__inbox_serve answers what is queued (the thread's loop). */
void rill__inbox_init(rill__thread_t *thread);
void rill__inbox_serve(rill__thread_t *thread);
void rill__inbox_close(rill__thread_t *thread);
void rill__inbox_free(rill__thread_t *thread);
/* At start, before the threads: the partition count of every sub-topology with stores.
 * Returns 0 or an error (errstr). */
rill_err_t rill__queries_setup(rill_app_t *app, char *errstr, size_t errstr_size);
/* Where key of store lives: RILL_QUERY_FOUND when this instance holds its partition,
 * RILL_QUERY_NOT_LOCAL with the owner when known, or another status as for
 * rill_app_store_get(). Reads no store. */
rill_query_status_t rill__query_locate(rill_app_t *app, const char *store, const void *key,
                                       size_t key_len, rill_query_info_t *info);
/* After the HTTP endpoint started: resolves application.server into app->server. */
rill_err_t rill__queries_server(rill_app_t *app, char *errstr, size_t errstr_size);

/* query_hosts.c: the "<application.id>-query-hosts" topic. Start (after the HTTP endpoint,
 * when the topology has stores and the app a server) creates the topic, a producer and a
 * reader thread; stop (after the stream threads ended) ends them. */
rill_err_t rill__hosts_start(rill_app_t *app, char *errstr, size_t errstr_size);
void rill__hosts_stop(rill_app_t *app);
/* The stream thread, once per loop and when it stops: publishes its tasks when they changed
 * since it last did. */
void rill__hosts_publish(rill__thread_t *thread);
/* The server that published task "<sub>_<partition>" last, into out; 1 when known, else 0. */
int rill__hosts_owner(rill_app_t *app, int sub, int32_t partition, char *out, size_t size);

/* Wakes the thread from its poll. Thread-safe; opaque is the rill__thread_t. */
void rill__thread_wake(void *thread);
/* Hands obj to the thread until reap(obj) says it is done (see rill__orphan_t). */
void rill__thread_adopt(rill__thread_t *thread, void *obj, int (*reap)(void *obj));
/* The thread running ctx's task. */
rill__thread_t *rill__ctx_thread(const rill_ctx_t *ctx);
/* The state another node of ctx's task made in its init (an operator of several nodes that
 * share one state: a completion's events node reads its items node's). NULL when node_id is
 * not a node of the task's sub-topology or has no state. Operators use this, never
 * ctx->task->state. */
void *rill__ctx_node_state(const rill_ctx_t *ctx, int node_id);

/* Origins of derived records (ctx.c). The input record (or none): */
void rill__ctx_origin_input(rill_ctx_t *ctx);
/* An id that outlives the forwarding (a FaaS stage's released record): */
void rill__ctx_origin_set(rill_ctx_t *ctx, const char *id);
/* A punctuation of ctx->node at time t: sched is the schedule's index, or -1 for the
 * operator's own stream-time punctuation; clock 's' stream time, 'w' wall clock. */
void rill__ctx_origin_punctuation(rill_ctx_t *ctx, int sched, char clock, int64_t t);
/* Writes the current origin's id into out[0..cap) and returns its length (truncated to
 * cap - 1). The input record is the consumed message or, with none, the record the
 * context's position names (at_topic: a re-entry's, the test driver's). With neither an
 * origin nor an input record it first makes a fresh one:
 * "<application.id>:<task>:<node>@c<wall ms>", the time strictly increasing per task. */
size_t rill__ctx_origin_id(rill_ctx_t *ctx, char *out, size_t cap);
/* The origin of the records now forwarded, as a number that changes whenever the origin
 * does (never back to an earlier origin's number unless that origin is restored), so that a
 * node can count the records it gets from one origin. */
uint64_t rill__ctx_origin_seq(const rill_ctx_t *ctx);
/* The topic of the record being processed, as a name owned by the topology (it outlives the
 * record, so a node may keep it with what it holds); "" when there is none. */
const char *rill__ctx_topic_held(const rill_ctx_t *ctx);

/* ---- re-entering the graph: how an asynchronous node forwards what it held ---- */

/* Where a held record was read, which the nodes after an asynchronous node see as their
 * record context (rill_ctx_topic(), _partition(), _offset(), _headers(), _timestamp())
 * while it forwards the outputs derived from that record. Everything is borrowed for the
 * call only. */
typedef struct rill__reentry_s {
    const char *topic; /* non-NULL */
    int32_t partition;
    int64_t offset;
    const rd_kafka_headers_t *headers; /* or NULL */
    int64_t timestamp;
    const rill__trace_t *trace; /* lineage.enable: the trace the outputs carry, or NULL */
    const char *origin;         /* what the outputs derive from (rill__ctx_origin_id), or NULL
                                   for the held record itself: "<topic>-<partition>-<offset>" */
} rill__reentry_t;

/* Output i of the n records rill__ctx_reenter forwards, written into *rec (zeroed first). */
typedef void (*rill__reentry_out_cb)(void *opaque, size_t i, rill_record_t *rec);

/* What went wrong when a forward failed. */
typedef struct rill__reentry_err_s {
    const char *node; /* the node that failed (its name, owned by the topology) */
    char reason[256]; /* its rill_ctx_set_error() text, or a general one */
} rill__reentry_err_t;

/* Forwards n records (made by out) to node's children with the context of the record `at`
 * describes, then restores the context as it was (node, input record, position, timestamp,
 * trace, origin, error text): the one way an asynchronous node re-enters the graph outside
 * its own process call (from its poll). Stops at the first record a child fails, fills *err
 * and returns RILL_ERR_PROCESSING; RILL_OK otherwise. Allocates nothing. Stream thread. */
rill_err_t rill__ctx_reenter(rill_ctx_t *ctx, const rill__node_t *node, const rill__reentry_t *at,
                             size_t n, rill__reentry_out_cb out, void *opaque,
                             rill__reentry_err_t *err);

extern const rill__operator_t rill__source_operator;
extern const rill__operator_t rill__sink_operator;

/* Records a fatal error (the first one wins) and asks every thread to stop. Thread-safe. */
void rill__app_fatal(rill_app_t *app, rill_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool rill__app_stopping(const rill_app_t *app);

/* Logs one line at info level to stderr with the app id and thread:
 * "... INFO  rill[app] thread-0: ..." (base/log_int.h, with the app's application.id and
 * log.level). thread_idx < 0: no thread named. */
void rill__log(const rill_app_t *app, int thread_idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at level (RILL__LOG_ERROR ... RILL__LOG_DEBUG). */
void rill__log_at(const rill_app_t *app, int level, int thread_idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Partition count of topic via metadata; -1 when it does not exist or no broker answered
 * (errstr says which). Thread-safe. */
int rill__app_partition_count(rill_app_t *app, const char *topic, char *errstr, size_t errstr_size);
/* As rill__app_partition_count, but -1 only when a metadata answer says that the topic does
 * not exist, and -2 when no broker answered or the answer was an error (errstr). */
int rill__app_topic_partitions(rill_app_t *app, const char *topic, char *errstr,
                               size_t errstr_size);

/* task.c */
rill__task_t *rill__task_new(rill__thread_t *thread, int sub, int32_t partition);
/* Adds an input partition to the task. Returns the queue or NULL. */
rill__pq_t *rill__task_add_partition(rill__task_t *task, const char *topic, int32_t partition);
rill__pq_t *rill__task_find_pq(rill__task_t *task, const char *topic, int32_t partition);
/* Decodes msg and appends it to its queue (takes ownership of msg). */
void rill__task_enqueue(rill__task_t *task, rill__pq_t *pq, rd_kafka_message_t *msg);
/* Processes up to max records, lowest timestamp first. Returns the number processed. */
int rill__task_process(rill__task_t *task, int max);
/* A record given to a task directly rather than consumed (the test driver): its bytes, its
 * own timestamp (before the source's extractor), its offset and headers (may be NULL). */
typedef struct rill__input_s {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp;
    int64_t offset;
    const rd_kafka_headers_t *headers;
} rill__input_t;
/* Decodes in and runs it through the task at once, as rill__task_process() runs a queued
 * record of pq (decoding, progress, dead letters, punctuation); pq's queue must be empty.
 * The record context reads the input's position and headers. Returns 0, or -1 when the
 * task could not start or a failure could not be dead-lettered (the app's fatal error). */
int rill__task_process_input(rill__task_t *task, rill__pq_t *pq, const rill__input_t *in);
size_t rill__task_buffered(const rill__task_t *task);
/* Non-zero while an async node of the task holds as much as it may (it is not fed). */
int rill__task_blocked(rill__task_t *task);
/* Polls the task's asynchronous nodes; returns ms until the next deadline (INT32_MAX none). */
int rill__task_poll(rill__task_t *task);
/* Lowest offset of pq not yet fully processed by the task's async nodes (or next_offset). */
int64_t rill__task_committable(rill__task_t *task, const rill__pq_t *pq);
/* Once a round: refreshes the task's progress (which inputs are idle, what its async nodes
 * hold), runs what that closes, and sends its progress markers when due. */
void rill__task_progress(rill__task_t *task);
/* exit.on.end: moves the task's stream time to t, running what closes on stream time. */
void rill__task_advance(rill__task_t *task, int64_t t);
/* Non-zero while an async node holds records of the task. */
int rill__task_async_pending(rill__task_t *task);
/* punctuate.c: runs the due stream-time punctuators (stream time advanced). */
void rill__task_punctuate_stream(rill__task_t *task);
/* Runs the due wall-clock punctuators; returns ms until the next is due (INT32_MAX: none). */
int rill__task_punctuate_wall(rill__task_t *task);
void rill__task_clear_schedules(rill__task_t *task);
/* Runs the operators' commit hooks. Returns 0 or an error. */
int rill__task_flush(rill__task_t *task);
/* Drops queued records and rewinds the queues to their commit offsets. */
void rill__task_rewind(rill__task_t *task);
void rill__task_destroy(rill__task_t *task);

/* ctx.c: runs child's process with the context switched to it. */
rill_err_t rill__ctx_forward_node(rill_ctx_t *ctx, rill__node_t *child, const rill_record_t *rec);

/* dlq.c: the input record that failed, wherever it is held. */
typedef struct rill__dlq_src_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp;
    const rd_kafka_headers_t *headers; /* may be NULL */
} rill__dlq_src_t;
/* The dead-letter source of a message read from Kafka (its headers borrowed from msg). */
rill__dlq_src_t rill__dlq_src_of(const rd_kafka_message_t *msg);

/* errors.tolerance=none: stops the app naming the record and returns 1; else 0. */
int rill__dlq_refused(rill_app_t *app, const rill__dlq_src_t *src, const char *node,
                      const char *reason);
/* A dead letter's headers (the original's plus the reason and source), cut to fit limit
 * (0: none) with *key_len and *value_len shortened to match (see dlq.c). Every dead letter,
 * from a stream thread or not (dlq_writer_int.h), is made by this one function. */
rd_kafka_headers_t *rill__dlq_letter(const rill_app_t *app, int64_t limit,
                                     const rill__dlq_src_t *src, const char *node,
                                     const char *reason, int attempts, size_t *key_len,
                                     size_t *value_len);
/* Sends the record to the dead-letter topic with reason (see dlq.c). */
int rill__dlq_send_src(rill__thread_t *thread, const rill__dlq_src_t *src, const char *node,
                       const char *reason, int attempts);
/* The same for a consumed message. */
int rill__dlq_send(rill__thread_t *thread, const rd_kafka_message_t *msg, const char *node,
                   const char *reason, int attempts);

/* limits.c: record sizes against the topics' max.message.bytes (0: unknown). */
/* A topic's max.message.bytes through DescribeConfigs; 0 when unknown. Start-up only. */
int64_t rill__app_topic_max_bytes(rill_app_t *app, const char *topic);
/* Raises message.max.bytes in a producer configuration to the dead-letter topic's limit
 * (unless the user set it). */
void rill__producer_max_bytes(rill_app_t *app, rd_kafka_conf_t *kc);
/* The size of headers and of a one-record batch on the broker (an upper bound). */
size_t rill__headers_size(const rd_kafka_headers_t *hdrs);
size_t rill__record_size(size_t key_len, size_t value_len, const rd_kafka_headers_t *hdrs);
/* The limit of a record for a topic whose max.message.bytes is topic_max, with the
 * producer's own; 0 when neither is known. */
int64_t rill__thread_limit(const rill__thread_t *thread, int64_t topic_max);
/* Reads the sinks' limits again (a topic's was changed); the max.message.bytes of a sink
 * topic as last read (0: unknown). */
void rill__app_refresh_sink_limits(rill_app_t *app);
int64_t rill__app_sink_limit(const rill_app_t *app, const char *topic);

/* producer.c */
/* Whether a produce error fails the record alone and for good (too large, invalid, not
 * authorized, unknown topic): retrying cannot help, the record is dead-lettered. */
bool rill__produce_err_permanent(rd_kafka_resp_err_t err);
rd_kafka_t *rill__producer_new(rill__thread_t *thread, char *errstr, size_t errstr_size);
/* Produces one record (copying its bytes); opens the transaction if needed. Blocks only on a
 * full local queue (backpressure from the broker), serving delivery reports meanwhile. */
int rill__produce(rill__thread_t *thread, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
                  size_t key_len, const void *value, size_t value_len, int64_t timestamp,
                  rd_kafka_headers_t *hdrs);

/* The same, with a delivery-report opaque (only changelog records have one: their store's
 * token, rill__stores_delivered). */
int rill__produce_opaque(rill__thread_t *thread, rd_kafka_topic_t *rkt, int32_t partition,
                         const void *key, size_t key_len, const void *value, size_t value_len,
                         int64_t timestamp, rd_kafka_headers_t *hdrs, void *msg_opaque);

/* ---- stores.c: the engine as the state module's host (state's types: stores_int.h) ---- */

/* Makes the state part of a new task (its identity and callbacks). 0 or -1 (no memory). */
int rill__task_stores_init(rill__task_t *task);
/* Creates the task's store instances (restoring them), unless they are open already.
 * Returns 0 or -1 (fatal set). */
int rill__task_open_stores(rill__task_t *task);
/* Opens and restores the stores of every task of the thread that is not running yet, their
 * changelog partitions read at once. Returns 0 or -1 (fatal set). */
int rill__thread_open_stores(rill__thread_t *thread);
/* Commit step 2: produces every store's cache to its changelog. */
int rill__task_log_stores(rill__task_t *task);
/* Commit step 3, after success: applies caches and offsets to RocksDB. */
int rill__task_apply_stores(rill__task_t *task);
/* After a failed commit or on close: drops the caches. */
void rill__task_drop_store_caches(rill__task_t *task);
void rill__task_close_stores(rill__task_t *task);
/* Closes and frees the task's state part (rill__task_destroy). */
void rill__task_stores_free(rill__task_t *task);
/* Bytes held in the task's caches, clean entries included (to evict those, then to trigger
 * early commits). */
size_t rill__task_cache_bytes(const rill__task_t *task);
/* Drops the clean entries of the task's caches. 0 or -1 (fatal set). */
int rill__task_evict_store_caches(rill__task_t *task);
/* A changelog record (msg_opaque: its store's token) was delivered: its task's store learns
 * the offset. The stream thread's delivery-report callback. */
void rill__thread_store_delivered(rill__thread_t *thread, const rd_kafka_message_t *msg);
/* Frees the thread's state part (and its restore consumer). */
void rill__thread_state_free(rill__thread_t *thread);
/* Creates the changelog topics of every store (start of the app). */
rill_err_t rill__app_create_changelogs(rill_app_t *app, char *errstr, size_t errstr_size);

/* rill_changelog_records_total per store: its samples, and its sum for rill_app_metric()
 * (-1 when name is another metric). */
void rill__stores_metrics(rill_app_t *app, rill__mout_t *mo);
int64_t rill__stores_metric(rill_app_t *app, const char *name);

/* refused.c: outputs refused for good in delivery reports (see there). */
/* Remembers msg (a failed delivery report) and counts it in delivery_refused. */
void rill__refused_add(rill__thread_t *thread, const rd_kafka_message_t *msg);
/* The broker's reason when a record like this one was refused, else NULL. */
const char *rill__refused_find(rill__thread_t *thread, const char *topic, const void *key,
                               size_t key_len, const void *value, size_t value_len);
/* A commit succeeded: forgets the refusals that have been dead-lettered since. */
void rill__refused_committed(rill__thread_t *thread);
void rill__refused_free(rill__thread_t *thread);
/* Before a rewind for failed deliveries: 1 when every failure was a remembered refusal (or,
 * with aborted set, the transaction that held them was aborted, so that every other failed
 * delivery is void and comes again with the rewind) and the rewinds are within their bound
 * (after the backoff; the counts are reset), else 0 after stopping the app with the error. */
int rill__refused_rewind_ok(rill__thread_t *thread, bool aborted);
/* After the rewind: when outputs were refused as too large, reads the limits again,
 * forgets the refusals of records that fit them alone, and renews the producer. */
void rill__refused_after_rewind(rill__thread_t *thread);

/* commit.c */
/* Commits every task's progress per the processing guarantee. Returns 0 or an error; on an
 * aborted transaction the tasks are rewound and 0 is returned after recovery. */
int rill__thread_commit(rill__thread_t *thread);

/* rebalance.c */
void rill__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Closes every task (no commit). */
void rill__thread_drop_tasks(rill__thread_t *thread);
/* Polls the async nodes of every task that has records in them (completions, releases);
 * returns how many tasks still have, and lowers *wait_ms (when not NULL) to the soonest
 * deadline they name. Shared by the exactly-once drain before a commit and the drain of a
 * clean stop. */
int rill__thread_poll_async(rill__thread_t *thread, int *wait_ms);

/* drain.c: exit.on.end (--drain); called by the poll loop after each round. */
void rill__thread_check_end(rill__thread_t *thread);
/* Commit metadata: "rill.t=<partition time>", then " rill.end" for a partition whose task
 * advanced past the end of the input (drain.c). */
#define RILL__END_MARK "rill.end"
#define RILL__TIME_MARK "rill.t="
/* Whether commit metadata carries the end mark; its partition time: -1 when it has none,
 * RILL__META_BAD when "rill.t=" is followed by anything but 1 to 18 digits (a value at most
 * RILL__TIME_MAX) and then the end, a NUL or " rill.end" (not written by Rill: no time). */
#define RILL__META_BAD (-2)
bool rill__meta_end(const void *metadata, size_t size);
int64_t rill__meta_time(const void *metadata, size_t size);

rill__task_t *rill__thread_task_for(rill__thread_t *thread, const char *topic, int32_t part,
                                    rill__pq_t **pqp);

/* consumers.c */
/* "read_committed" under exactly_once_v2, else "read_uncommitted". */
const char *rill__isolation_level(const rill_app_t *app);
/* Sets the bounded pre-fetch (queued.*) in kc where the user's consumer settings do not. */
void rill__consumer_prefetch_defaults(const rill_app_t *app, rd_kafka_conf_t *kc);
/* The configuration of a reader assigned partitions outside the group: group.id
 * "<application.id>-<group_suffix>" (never joined), no commits, end-of-partition events, the
 * guarantee's isolation level. NULL with errstr. */
rd_kafka_conf_t *rill__reader_conf(rill_app_t *app, const char *group_suffix, char *errstr,
                                   size_t errstr_size);

/* progress.c: event-time progress (docs/DESIGN.md, "Time"). */
#define RILL__PROGRESS_HEADER RILL_PROGRESS_HEADER
/* At start, once the topics exist: finds the linked topics (written and read by the
 * topology), the task count of every sub-topology and the partition counts to check. */
rill_err_t rill__progress_setup(rill_app_t *app, char *errstr, size_t errstr_size);
void rill__progress_free(rill_app_t *app);
/* A new queue: whether its topic is linked (then its upstream table) or checked. */
int rill__progress_pq_init(rill__task_t *task, rill__pq_t *pq);
/* True when msg is a progress marker (only linked topics have them). */
bool rill__progress_is_marker(const rill__pq_t *pq, const rd_kafka_message_t *msg);
/* Applies the marker at the head of pq's queue. */
void rill__progress_apply(rill__task_t *task, rill__pq_t *pq, const rd_kafka_message_t *msg);
/* partitioning.check: stops the app when msg is not where murmur2 would put it; returns -1
 * then. */
int rill__progress_check_partition(rill__task_t *task, const rill__pq_t *pq,
                                   const rd_kafka_message_t *msg);
/* Recomputes the task's wm from its queues (refresh: also which empty ones are idle) and
 * its async nodes; returns true when stream time advanced (punctuation due). */
bool rill__progress_update(rill__task_t *task, bool refresh);
/* Sends the task's progress to every partition of its linked topics when it changed and
 * progress.interval.ms has passed (force: now, if changed). */
void rill__progress_emit(rill__task_t *task, bool force);
/* Event-time alignment: pauses (pq->ahead) the source partitions of the thread that run
 * more than event.time.alignment.ms ahead of the slowest of their sub-topology. */
void rill__progress_align(rill__thread_t *thread);
/* Forgets what the task learnt since its last commit (a rewind). */
void rill__progress_rewind(rill__task_t *task);
void rill__progress_task_free(rill__task_t *task);
/* task.c: true when Kafka says the empty queue pq may still get records (see task.c). */
bool rill__pq_lagging(rill__task_t *task, rill__pq_t *pq);
/* stream_thread.c: pauses or resumes pq per its reasons (full, ahead). */
void rill__thread_pause_update(rill__thread_t *thread, rill__pq_t *pq);
/* stream_thread.c: routes every partition of parts into the consumer's queue again (one
 * held back before a rebalance would stay held back in librdkafka). */
void rill__thread_route_all(rill__thread_t *thread, const rd_kafka_topic_partition_list_t *parts);

/* thread_status.c: what the thread shows other threads (rill__status_t). */
void rill__status_init(rill__thread_t *thread);
void rill__status_free(rill__thread_t *thread);
/* From the stream thread: its tasks changed (assigned, restored, dropped). */
void rill__status_tasks(rill__thread_t *thread, bool assigned);
/* From the stream thread, once a second: the lag of each partition from the consumer's
 * position and its cached high watermark (no request to a broker); sets RILL_M_LAG too. */
void rill__status_lag(rill__thread_t *thread);
/* Adds the per-partition lag and per-task state samples of every thread. */
void rill__status_metrics(rill_app_t *app, rill__mout_t *mo);
/* 1 when the app is ready (every thread holds an assignment, no task restores), else 0
 * with the reason in why. */
int rill__app_ready(rill_app_t *app, char *why, size_t why_size);

/* http_endpoint.c: the HTTP endpoint of http.listen (started last by rill_app_start()). */
rill_err_t rill__http_start(rill_app_t *app, char *errstr, size_t errstr_size);
void rill__http_stop(rill_app_t *app);

/* stream_thread.c */
/* Replaces the thread's producer by a new one (no task may hold its topic handles: after
 * a rewind). Returns 0, or -1 after stopping the app. */
int rill__thread_renew_producer(rill__thread_t *thread);
int rill__thread_start(rill__thread_t *thread, char *errstr, size_t errstr_size);
void rill__thread_join(rill__thread_t *thread);

/* trace.c (lineage.enable): is lineage on for ctx's app; the trace of the records ctx now
 * forwards (NULL when off); sets t's other input to t2's; writes a trace's traceparent (a
 * new span id), rill.lineage and rill.lineage.other into h, replacing any there. */
bool rill__lineage_on(const rill_ctx_t *ctx);
const rill__trace_t *rill__ctx_trace(rill_ctx_t *ctx);
void rill__ctx_trace_other(rill_ctx_t *ctx, rill__trace_t *t, const rill__trace_t *t2);
int rill__trace_put_headers(const rill__trace_t *t, rd_kafka_headers_t *h);

/* test_driver.c: the driver's thread's counters (tests read lineage's). */
const rill__metrics_t *rill__test_driver_metrics(const rill_test_driver_t *drv);

#endif
