/*
 * faas_stage_int.h — the FaaS stage operator's internals, shared by faas_stage.c (batching,
 * invocations, retries, the circuit breaker), faas_reorder.c (the slot ring, release in
 * order, the commit watermark) and faas_conf.c (options, metrics).
 */
#ifndef RILL_FAAS_STAGE_INT_H
#define RILL_FAAS_STAGE_INT_H

#include "bridge_int.h"
#include "counter_int.h" /* rill__counter_add: the stages' metrics */
#include "engine_int.h"

#include <pthread.h>

/* Latency histogram: bucket i counts invocations that took < 2^i ms (last: the rest). */
#define FAAS_LAT_BUCKETS 18

/* Per-node configuration and process-wide state (breaker, metrics), shared by every task. */
typedef struct rill__faas_conf_s {
    rill_faas_opts_t o; /* defaults applied; strings point to the owned copies below */
    char *url;          /* full request URL */
    char *function;
    char *source;  /* CloudEvents source: "/rill/<node>" */
    char *sigv4;   /* "aws:amz:<region>:lambda" or NULL */
    char *userpwd; /* "<key>:<secret>" or NULL */
    char *session_token;
    rill__faas_target_t target;
    pthread_mutex_t lock; /* breaker */
    int consecutive_failures;
    int64_t open_until; /* breaker open until (ms, monotonic); 0 closed */
    bool probing;       /* half-open: one trial call in flight */
    /* metrics (relaxed atomics) */
    int64_t m_invocations, m_records, m_retries, m_failures, m_dlq, m_splits, m_breaker_opens;
    int64_t m_in_flight, m_latency[FAAS_LAT_BUCKETS], m_latency_sum_ms;
    int64_t m_billed_ms; /* each invocation's time rounded up to a whole ms (at least 1) */
    int64_t m_reported_billed_ms, m_reported; /* the same of the times functions reported */
    int64_t m_buffered, m_buffered_bytes, m_buffered_limit; /* gauges, summed over tasks */
    int64_t m_connects;                                     /* connections its calls opened */
    int64_t m_call_limit; /* gauge: calls in flight allowed now, summed over tasks */
    int cap_warned;       /* 1 once the tasks' calls passed faas.max.in.flight (atomic) */
} rill__faas_conf_t;

/* Records' bytes live in chunks, one allocation for many records; a chunk is freed when
 * the last of its records is released. */
typedef struct rill__faas_chunk_s {
    size_t refs;
    size_t len, cap;
    char data[];
} rill__faas_chunk_t;

typedef enum rill__faas_slot_state_e {
    SLOT_FREE = 0,
    SLOT_OPEN,     /* waiting to be put in a batch */
    SLOT_IN_BATCH, /* in a batch, queued or in flight */
    SLOT_DONE,     /* result arrived, waiting for its turn */
    SLOT_FAILED,   /* gave up: goes to the dead-letter topic on its turn */
    SLOT_RELEASED  /* left the stage (unordered modes release out of turn) */
} rill__faas_slot_state_t;

/* Adaptive concurrency (faas_aimd.c): the calls a task may have in flight. */
typedef struct rill__faas_aimd_s {
    int limit;                      /* current limit, in [1, max] */
    int acked;                      /* successes since the limit last grew (after the start) */
    int max;                        /* max_in_flight */
    bool cut_once;                  /* past the start (doubling): grow by one call per round */
    int64_t hold_until;             /* no further cut before (ms): the cut's round */
    int64_t window_since;           /* the current window of call latencies (ms) */
    double cur_min_ms, prev_min_ms; /* fastest call of this window and of the last */
    int64_t cuts;                   /* times the limit was halved */
} rill__faas_aimd_t;

typedef struct rill__faas_shared_resp_s rill__faas_shared_resp_t;

typedef struct rill__faas_slot_s {
    rill__faas_rec_t rec; /* bytes point into chunk */
    rill__faas_chunk_t *chunk;
    rd_kafka_headers_t *hdrs; /* owned copy, or NULL */
    uint64_t key_hash;
    int64_t first_ms; /* when it entered the stage */
    int attempts;     /* invocations that included it */
    uint8_t state;
    rill__faas_shared_resp_t *resp; /* its outputs: resp->r.results[res_idx] */
    size_t res_idx;
    char *error;       /* last failure, owned */
    const void *trace; /* lineage.enable: its trace's compact copy, in chunk; or NULL */
    size_t trace_len;
} rill__faas_slot_t;

/* A decoded response shared by the slots it answers (refcounted). */
struct rill__faas_shared_resp_s {
    size_t refs;
    rill__faas_response_t r;
};

typedef struct rill__faas_batch_s {
    struct rill__faas_batch_s *next;
    struct rill__faas_stage_s *stage;
    uint64_t *seqs;
    size_t n;
    int attempt;        /* tries done */
    int64_t not_before; /* earliest send time (backoff) */
    long retry_after_ms;
    bool in_flight;
    bool encoded;           /* body, headers and req built (prepare_next, or at send) */
    bool probe;             /* the breaker's trial call */
    rill__faas_rec_t *recs; /* copies of the slots' recs, for encode/decode */
    rill_buf_t body;
    rill_buf_t hdr_text;
    const char **hdr_lines;
    rill__http_req_t req;
    int64_t sent_ms;
} rill__faas_batch_t;

typedef struct rill__faas_stage_s {
    rill__faas_conf_t *conf;
    const rill__node_t *node;
    rill__thread_t *thread;
    rill__http_t *http;
    rill__http_cq_t *cq;
    rill__faas_slot_t *ring;
    size_t cap;
    uint64_t head, tail; /* live seqs are [head, tail) */
    size_t live;         /* slots not yet released */
    uint64_t open_from;  /* [open_from, tail) are OPEN */
    uint64_t sent_end;   /* every seq ever sent is below it: none from it on is finished */
    size_t open_bytes;
    int64_t open_since;
    rill__faas_batch_t *queued; /* ready to send once allowed (in-flight cap, backoff, breaker) */
    int in_flight;
    bool dirty;    /* something completed: try to release */
    size_t limit;  /* records it may hold (max_buffered_records, capped by bytes) */
    bool adaptive; /* adaptive_concurrency: aimd sets the calls in flight */
    rill__faas_aimd_t aimd;
    int64_t shown_calls;             /* what the concurrency gauge shows of this stage */
    size_t held_bytes;               /* bytes of the records held, with their slots */
    int64_t shown_held, shown_bytes; /* what the gauges show of this stage */
    bool closing;
    bool eos; /* exactly-once: hold no more than can finish in eos_budget_ms */
    int64_t eos_budget_ms;
    double rate;               /* records released per second while busy (EWMA); 0 unknown */
    int64_t rate_since;        /* start of the current measuring window; 0 none */
    uint64_t rate_head;        /* head at the window's start */
    rill__faas_chunk_t *chunk; /* the chunk new records are copied into */
    int64_t low_time;          /* the lowest timestamp held, valid while low_known */
    bool low_known;            /* cleared when records leave; rill__faas_low_time() rescans */
    uint64_t origin_seq; /* the origin of the last record admitted (rill__ctx_origin_seq) ... */
    uint32_t origin_n;   /* ... and how many records came from it so far */
    rill__trace_t trace; /* lineage.enable: the trace of the slot being released */
    uint64_t *key_cells; /* order=key: the release scan's set of blocked key hashes */
    size_t key_cells_cap;
} rill__faas_stage_t;

static inline rill__faas_slot_t *slot_at(rill__faas_stage_t *st, uint64_t seq) {
    return &st->ring[seq % st->cap];
}

/* What one held record counts against max_buffered_bytes. */
static inline size_t slot_bytes(const rill__faas_slot_t *slot) {
    return sizeof(rill__faas_slot_t) + slot->rec.key_len + slot->rec.value_len;
}

/* faas_reorder.c */
int rill__faas_admit(rill__faas_stage_t *st, rill_ctx_t *ctx, const rill_record_t *rec);
void rill__faas_release(rill__faas_stage_t *st, rill_ctx_t *ctx);
int64_t rill__faas_low_watermark(rill__faas_stage_t *st, const char *topic, int32_t partition);
/* The lowest timestamp of the records the stage holds (INT64_MAX: none). */
int64_t rill__faas_low_time(rill__faas_stage_t *st);
void rill__faas_slot_free(rill__faas_slot_t *slot);
/* Frees what a stage holds for its records: their slots, the ring, the key-order scan's key
 * set and the current chunk (stage_close; unit tests that build a stage by hand). */
void rill__faas_stage_free_held(rill__faas_stage_t *st);
void rill__faas_response_unref(rill__faas_shared_resp_t *resp);

/* faas_aimd.c */
void rill__faas_aimd_init(rill__faas_aimd_t *a, int max_in_flight);
int rill__faas_aimd_limit(const rill__faas_aimd_t *a);
/* One completed call: its time, and whether it said the function is overloaded (429, 503,
 * a timeout). */
void rill__faas_aimd_sample(rill__faas_aimd_t *a, double call_ms, bool overloaded, int64_t now);

/* faas_conf.c */
rill__faas_conf_t *rill__faas_conf_new(const char *node_name, const rill_faas_opts_t *opts,
                                       char *errstr, size_t errstr_size);
void rill__faas_conf_free(void *conf);
/* The records a task's stage may hold: max_buffered_records capped by max_buffered_bytes. */
size_t rill__faas_read_ahead_limit(const rill_faas_opts_t *o);
void rill__faas_metrics(const rill__node_t *node, rill__mout_t *mo);
int64_t rill__faas_metric(const rill__node_t *node, const char *name);
/* One invocation's time as per-millisecond billing counts it: ms rounded up, at least 1. */
int64_t rill__faas_billed_ms(double ms);
/* Counts a completed invocation's billed time: as the bridge timed it, and as the function
 * reported it (Server-Timing), when it did. */
void rill__faas_record_billed(rill__faas_conf_t *c, const rill__http_resp_t *r);
/* faas_stage.c: the delay before retry `attempt`, given the function's Retry-After (ms, or
 * -1), capped at o.max_retry_after_ms. */
int64_t rill__faas_backoff_ms(const rill__faas_conf_t *c, int attempt, long retry_after_ms);
/* Breaker: may a batch be sent now? Sets *probe for the half-open trial call. */
bool rill__faas_breaker_allows(rill__faas_conf_t *conf, int64_t now, bool *probe);
void rill__faas_breaker_record(rill__faas_conf_t *conf, bool ok, bool probe, int64_t now);

#endif
