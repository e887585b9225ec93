/*
 * rill.h — the one public header of Rill, a stateful stream processor over Kafka.
 *
 * Conventions
 *  1. Public symbols start with rill_, macros and enum values with RILL_.
 *  2. Handles are opaque and come in new/destroy pairs; destroy is NULL-safe.
 *  3. Constructors return NULL on failure and write a message to errstr (when not NULL).
 *     Fallible calls return rill_err_t: 0 is success, negative is an error; rill_err2str()
 *     names it. Messages name the bad input and, where there is one, the fix.
 *  4. Ownership is stated in each doc block. "Borrowed" data is valid only for the duration
 *     of the call that hands it to you.
 *  5. Nothing here is thread-safe except where stated. Callbacks given to the topology are
 *     called from the stream thread that owns the task processing the record; they must not
 *     block on network I/O.
 *  6. Bad input never aborts the process: it goes to the dead-letter topic with its reason.
 *  7. This header includes no third-party header. The JSON serde's decoded values are json-c
 *     objects (struct json_object *): include <json-c/json.h> to work with them.
 *  8. Callbacks that produce bytes write them into buffers Rill owns and passes in, empty on
 *     entry: a rill_buf_t *out (joiners, aggregators, reducers, initializers, mergers,
 *     completion callbacks, serializers) or the key and value buffers of a rill_map_out_t
 *     (mappers, key selectors). No bytes a callback gives back live in memory of its own
 *     (a decoded value_obj, an object rather than bytes, is the one exception: see
 *     rill_map_out_t), so no output has to outlive the call or be guarded against other
 *     threads, and Rill reuses the buffers (per node and task) from record to record: no
 *     allocation once they have grown. Records given to callbacks are borrowed; records a
 *     processor forwards (rill_ctx_forward()) are borrowed by Rill for that call and copied
 *     where they must be.
 */
#ifndef RILL_H
#define RILL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RILL_VERSION_STR "0.1.0"

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

typedef enum rill_err_e {
    RILL_OK = 0,
    RILL_ERR_INVALID_ARG = -1,  /* a bad argument or configuration value */
    RILL_ERR_UNKNOWN_CONF = -2, /* a configuration key nobody knows */
    RILL_ERR_KAFKA = -3,        /* the Kafka client reported an error; see the message */
    RILL_ERR_NOMEM = -4,
    RILL_ERR_SERDE = -5,      /* a key or value could not be (de)serialized */
    RILL_ERR_TOPOLOGY = -6,   /* the topology is not valid (names, cycles, topics) */
    RILL_ERR_STATE = -7,      /* the call is not allowed in the current state */
    RILL_ERR_FENCED = -8,     /* a newer producer with the same transactional id exists */
    RILL_ERR_IO = -9,         /* a file could not be read or written */
    RILL_ERR_PROCESSING = -10 /* a processor reported an error for a record */
} rill_err_t;

/* Returns a static, human-readable name for err. Thread-safe. */
const char *rill_err2str(rill_err_t err);

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                            */

typedef struct rill_conf_s rill_conf_t;

/* Creates a configuration holding the defaults. */
rill_conf_t *rill_conf_new(void);

/*
 * Sets one property by name. Rill's own names follow Kafka Streams (application.id,
 * bootstrap.servers, num.stream.threads, commit.interval.ms, processing.guarantee, state.dir,
 * ...); a name Rill does not know is passed to librdkafka, which must know it (names starting
 * "consumer." or "producer." go to that client only). A bad name or value returns an error and
 * a message in errstr naming both.
 */
rill_err_t rill_conf_set(rill_conf_t *conf, const char *name, const char *value, char *errstr,
                         size_t errstr_size);

/* Reads "name=value" lines (# comments, blank lines) from a properties file. */
rill_err_t rill_conf_load_file(rill_conf_t *conf, const char *path, char *errstr,
                               size_t errstr_size);

/* Returns the value of name (Rill's own or passed through), or NULL. Borrowed. */
const char *rill_conf_get(const rill_conf_t *conf, const char *name);

/* Returns a deep copy. */
rill_conf_t *rill_conf_dup(const rill_conf_t *conf);

void rill_conf_destroy(rill_conf_t *conf);

/* ---------------------------------------------------------------------------------------- */
/* Headers and records                                                                      */

typedef struct rill_headers_s rill_headers_t;

/* Finds the last header called name. Returns 0 and sets valuep and lenp (borrowed), or -1. */
int rill_headers_get(const rill_headers_t *hdrs, const char *name, const void **valuep,
                     size_t *lenp);

/* Number of headers, and the idx-th (0-based) name/value. Borrowed. */
size_t rill_headers_count(const rill_headers_t *hdrs);
int rill_headers_at(const rill_headers_t *hdrs, size_t idx, const char **namep, const void **valuep,
                    size_t *lenp);

/*
 * Tracing and lineage (README, "Tracing and lineage"). With lineage.enable=true every record
 * a sink writes gets these headers, replacing any of the same name among the headers it
 * keeps from its input:
 *   traceparent         W3C Trace Context version 00: the trace id of the input record's
 *                       traceparent (a new trace when it has none or a malformed one), a
 *                       span id of the output's own, the input's flags;
 *   rill.lineage        the topic/partition@offset positions it was read at, oldest first,
 *                       joined by '>' ("auction.bids.raw/3@1234>auction.bids/1@88"); at
 *                       most lineage.max.bytes, older hops dropped behind "~>";
 *   rill.lineage.other  for a record derived from two inputs: "<trace id>:<chain>" of the
 *                       second one (a completion's item).
 * Records a FaaS stage, a stream-table join with grace or a completion releases later
 * carry the trace of the record they derive from (completions: RILL_COMPLETION_LEADS); so do
 * the results of state that emits later: an emit-final window's, a suppressed table
 * update's and an aggregation's flushed from its record cache carry the trace of the record
 * that last updated that window or key, not of the record, commit or punctuation that
 * emitted them.
 */
#define RILL_HEADER_TRACEPARENT "traceparent"
#define RILL_HEADER_LINEAGE "rill.lineage"
#define RILL_HEADER_LINEAGE_OTHER "rill.lineage.other"

typedef struct rill_serde_s rill_serde_t;

/*
 * A record travelling through the topology. Key and value are bytes. value_obj is the
 * value decoded by value_serde (NULL for serdes without a decoded form, e.g. bytes): a
 * processor may read either. A processor that forwards a new value sets value/value_len, or
 * sets value to NULL and value_obj/value_serde to a decoded value, which the sink encodes.
 * Records given to callbacks are borrowed; forwarded records are copied where they must be.
 */
typedef struct rill_record_s {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    void *value_obj;
    const rill_serde_t *value_serde;
    int64_t timestamp; /* event time, epoch milliseconds */
    const rill_headers_t *headers;
    /* The window of a windowed aggregation's result; window_kind is a rill_window_kind_t, or
     * 0 for a record that is not windowed (then the bounds mean nothing). See "Tables,
     * aggregations and windows" for the bounds of each kind and how sinks write them. */
    int64_t window_start;
    int64_t window_end;
    int window_kind;
} rill_record_t;

/* ---------------------------------------------------------------------------------------- */
/* Serdes                                                                                   */

typedef struct rill_buf_s {
    char *data;
    size_t len;
    size_t cap;
} rill_buf_t;

/* Appends len bytes to buf, growing it. Returns 0 or -1 (out of memory). */
int rill_buf_append(rill_buf_t *buf, const void *data, size_t len);
void rill_buf_reset(rill_buf_t *buf);
void rill_buf_free(rill_buf_t *buf);

/*
 * A serde: how a key or value's bytes map to a decoded form. A serde is a constant described
 * by this struct of functions; user serdes embed it as the first member (as "super").
 * deserialize decodes buf into *objp (it may leave *objp NULL when the bytes are the value,
 * e.g. bytes or string) or returns -1 with a message; serialize appends obj's bytes to out;
 * free_obj releases a decoded object. All may be called from any stream thread.
 */
struct rill_serde_s {
    const char *name;
    int (*deserialize)(const rill_serde_t *serde, const void *buf, size_t len, void **objp,
                       char *errstr, size_t errstr_size);
    int (*serialize)(const rill_serde_t *serde, const void *obj, rill_buf_t *out);
    void (*free_obj)(const rill_serde_t *serde, void *obj);
};

/* Raw bytes: never fails, no decoded form. */
const rill_serde_t *rill_serde_bytes(void);
/* UTF-8 text: rejects invalid UTF-8, no decoded form (the bytes are the string). */
const rill_serde_t *rill_serde_string(void);
/* 64-bit signed integer, 8 bytes big-endian (Kafka's LongSerde): rejects other lengths. */
const rill_serde_t *rill_serde_int64(void);
/* JSON text: rejects malformed JSON; decoded form is a json-c struct json_object *. */
const rill_serde_t *rill_serde_json(void);
/*
 * JSON validated once and kept as text ("JSON once"): rejects what is not one strict RFC 8259
 * value (UTF-8, no raw control characters in strings, standard escapes only, no leading
 * zeros, nothing after the value, at most 32 levels deep) without building anything, so
 * value_obj stays NULL. Callbacks read members with rill_json_member() / rill_json_int64()
 * from the bytes, which also works on values read back from a store or from a function's
 * answer. About four times cheaper than rill_serde_json() on records whose callbacks read a
 * few members (bench/RESULTS.md, completion); use rill_serde_json() when a callback needs
 * the whole tree. serialize takes a NUL-terminated JSON text.
 */
const rill_serde_t *rill_serde_json_text(void);

/*
 * Finds the top-level member name of the JSON object in json[0..len) and points *valuep at
 * its value's text (*value_lenp bytes: a string keeps its quotes, an object its braces).
 * Names are compared byte for byte as written (escapes are not decoded); when a name occurs
 * twice the FIRST counts (the walk stops there; json-c, behind rill_serde_json(), keeps the
 * last). Returns 1 when found, 0 when the text is not an object, the member is missing, or
 * the text before it is malformed (never reading past len; what follows the member is not
 * read: the json-text serde validated it). Walks the object's top level up to the member and
 * allocates nothing. Thread-safe.
 */
int rill_json_member(const void *json, size_t len, const char *name, const char **valuep,
                     size_t *value_lenp);
/* Reads the top-level member name as an integer (no fraction, no exponent, within int64):
 * returns 1 and sets *out, or 0 (missing, another type, out of range). Thread-safe. */
int rill_json_int64(const void *json, size_t len, const char *name, int64_t *out);

/* Decodes 8 big-endian bytes; returns 0, or -1 when len is not 8. */
int rill_int64_decode(const void *buf, size_t len, int64_t *out);
/* Encodes v into out[8], big-endian. */
void rill_int64_encode(int64_t v, unsigned char out[8]);

/* ---------------------------------------------------------------------------------------- */
/* Processor API                                                                            */

typedef struct rill_ctx_s rill_ctx_t;

/*
 * A custom processor node. init is called once per task before its first record and may set
 * *statep; process is called for each record; close when the task is closed. A non-zero
 * return from init or process is an error: for process, the record goes to the dead-letter
 * topic with the message set by rill_ctx_set_error() (or a generic one). Called on the stream
 * thread that owns the task.
 */
typedef struct rill_processor_def_s {
    int (*init)(rill_ctx_t *ctx, void **statep, void *opaque);
    int (*process)(rill_ctx_t *ctx, const rill_record_t *rec, void *state);
    void (*close)(void *state, void *opaque);
} rill_processor_def_t;

/* Forwards rec to every child of the current node, synchronously. rec is borrowed. */
rill_err_t rill_ctx_forward(rill_ctx_t *ctx, const rill_record_t *rec);
/* Forwards rec to the child called child_name only. */
rill_err_t rill_ctx_forward_to(rill_ctx_t *ctx, const char *child_name, const rill_record_t *rec);
/* Sets the reason a failing process() call gives the dead-letter topic. */
void rill_ctx_set_error(rill_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Punctuators (called from init): cb(ctx, timestamp, arg) runs every interval_ms of stream
 * time (the task's largest record timestamp; it fires once when stream time reaches or
 * passes the next due time, however far it jumps, with timestamp = stream time, and the next
 * due time is the first multiple of the interval after it) or of wall-clock time (epoch ms;
 * checked by the stream thread at least every interval, also when no record arrives). During
 * a punctuation there is no current record: forward builds new records. Runs on the task's
 * stream thread.
 */
typedef enum rill_punctuation_e {
    RILL_PUNCTUATE_STREAM_TIME = 0,
    RILL_PUNCTUATE_WALL_CLOCK = 1
} rill_punctuation_t;
typedef void (*rill_punctuate_cb)(rill_ctx_t *ctx, int64_t timestamp, void *arg);
rill_err_t rill_ctx_schedule(rill_ctx_t *ctx, int64_t interval_ms, rill_punctuation_t type,
                             rill_punctuate_cb cb, void *arg);

/* The context of the record being processed (source topic, partition, offset). Borrowed.
 * After a FaaS stage, it is that of the input record whose results are being released
 * (not of whatever record the task happens to be processing). */
const char *rill_ctx_topic(const rill_ctx_t *ctx);
int32_t rill_ctx_partition(const rill_ctx_t *ctx);
int64_t rill_ctx_offset(const rill_ctx_t *ctx);
int64_t rill_ctx_timestamp(const rill_ctx_t *ctx);
const rill_headers_t *rill_ctx_headers(const rill_ctx_t *ctx);
/*
 * Stream time of the task: the progress of every input that may still bring records — for a
 * topic other clients write, the largest timestamp processed from that partition; for a
 * topic the topology writes itself (repartition topics, or a sink topic another
 * sub-topology reads), the lowest progress of the upstream tasks writing it, carried in
 * progress markers — held at the oldest record a FaaS stage of the task still holds. Windows
 * close, completions fire and records are judged late against it, so a record is late only
 * if it is late in its own input partition beyond the grace, never because another task,
 * partition, function stage or process ran ahead. -1 until known. See docs/DESIGN.md.
 */
int64_t rill_ctx_stream_time(const rill_ctx_t *ctx);
/* The header of the progress markers that Rill writes into every partition of a topic the
 * topology both writes and reads: records with a null key, a null value and this header.
 * Other readers of such a topic skip them. */
#define RILL_PROGRESS_HEADER "rill.progress"
/* The task's id, "<subtopology>_<partition>" as in Kafka Streams. Borrowed. */
const char *rill_ctx_task_id(const rill_ctx_t *ctx);

/*
 * Key-value state stores for custom processors (Kafka Streams' Processor API stores). A store
 * is declared for a node with rill_stream_use_kv_store() and reached in init/process with
 * rill_ctx_kv(). It is kept in RocksDB under state.dir, logged to the changelog topic
 * "<application.id>-<store>-changelog" and restored from it, so its content survives crashes
 * and moves with its task. Writes are seen by reads at once.
 */
typedef struct rill_kv_s rill_kv_t;
/* The store called name of the current task, or NULL when the node did not declare it. */
rill_kv_t *rill_ctx_kv(rill_ctx_t *ctx, const char *name);
/* Reads key: returns 1 and sets *valuep/len (borrowed until the next call on this store), 0
 * when absent, a negative rill_err_t on error. */
int rill_kv_get(rill_kv_t *kv, const void *key, size_t key_len, const void **valuep,
                size_t *value_lenp);
rill_err_t rill_kv_put(rill_kv_t *kv, const void *key, size_t key_len, const void *value,
                       size_t value_len);
rill_err_t rill_kv_delete(rill_kv_t *kv, const void *key, size_t key_len);

/* ---------------------------------------------------------------------------------------- */
/* Topology builder (DSL)                                                                   */

typedef struct rill_topology_s rill_topology_t;
typedef struct rill_stream_s rill_stream_t;

/* Extracts an event time (epoch ms) from a record; return -1 to reject the record (DLQ). */
typedef int64_t (*rill_timestamp_extractor_cb)(const rill_record_t *rec, void *opaque);
/* Decides in which partition of partition_cnt a record goes (sinks). */
typedef int32_t (*rill_partitioner_cb)(const rill_record_t *rec, int32_t partition_cnt,
                                       void *opaque);

typedef int (*rill_predicate_cb)(const rill_record_t *rec, void *opaque);
/*
 * What a mapper writes (conventions 8). key and value are Rill's buffers, empty on entry:
 * append the new key's and value's bytes with rill_buf_append(). An empty buffer is an empty
 * key or value; set key_null for a null key, value_null for a null value (a tombstone, or a
 * table's row deleted). Instead of value bytes, a decoded value may be given in value_obj with
 * the serde that encodes it (value_serde): the input's, or one the mapper owns and keeps valid
 * until it is next called on this thread. Which of key and value count depends on the call
 * (map: both; map_values: the value; select_key and key selectors: the key); the rest of the
 * record (timestamp, headers) stays the input's, and a record whose key a mapper gives is
 * not windowed (window_kind 0).
 */
typedef struct rill_map_out_s {
    rill_buf_t *key;
    rill_buf_t *value;
    int key_null;
    int value_null;
    void *value_obj;
    const rill_serde_t *value_serde;
} rill_map_out_t;
/* Writes the mapped key and/or value to out. Return non-zero for an error. */
typedef int (*rill_mapper_cb)(const rill_record_t *rec, rill_map_out_t *out, void *opaque);
/* Calls rill_ctx_forward() once per output record. Return non-zero for an error. */
typedef int (*rill_flat_mapper_cb)(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque);
typedef void (*rill_peek_cb)(const rill_record_t *rec, void *opaque);

/* Options of a source; NULL fields take the defaults (bytes serdes, record timestamp). */
typedef struct rill_source_opts_s {
    const rill_serde_t *key_serde;
    const rill_serde_t *value_serde;
    rill_timestamp_extractor_cb timestamp_extractor;
    void *timestamp_opaque;
    /* Non-zero: read the topic through an internal repartition topic ("<application.id>-
     * <name or topic>-repartition"), so that each key lands where Rill partitions it (murmur2)
     * whatever partitioner its producer used. Needed when the source is joined with a stream
     * Rill repartitioned and its producers do not use murmur2 (librdkafka's default,
     * consistent_random, does not); partitioning.check stops the app when it finds such a
     * record in a source read in place. Costs one more write and read of every record. */
    int repartition;
} rill_source_opts_t;

typedef struct rill_sink_opts_s {
    const rill_serde_t *value_serde; /* encodes value_obj when a record has no value bytes */
    rill_partitioner_cb partitioner; /* NULL: Kafka's default, murmur2 of the key */
    void *partitioner_opaque;
} rill_sink_opts_t;

rill_topology_t *rill_topology_new(void);
void rill_topology_destroy(rill_topology_t *topo);

/*
 * All builder calls below take a node name (NULL: a deterministic name such as
 * "KSTREAM-FILTER-0000000003" from the node's kind and position) and return the new stream,
 * or NULL after recording the first error in the topology (rill_topology_error()). Builder
 * errors are sticky, so a topology can be written without checking each call. Streams are
 * owned by the topology.
 */
rill_stream_t *rill_stream_from(rill_topology_t *topo, const char *name, const char *topic,
                                const rill_source_opts_t *opts);
/* A source reading several topics (comma-separated list). */
rill_stream_t *rill_stream_from_topics(rill_topology_t *topo, const char *name, const char *topics,
                                       const rill_source_opts_t *opts);

rill_stream_t *rill_stream_filter(rill_stream_t *s, const char *name, rill_predicate_cb pred,
                                  void *opaque);
rill_stream_t *rill_stream_filter_not(rill_stream_t *s, const char *name, rill_predicate_cb pred,
                                      void *opaque);
rill_stream_t *rill_stream_map(rill_stream_t *s, const char *name, rill_mapper_cb fn, void *opaque);
/* As map, but the key stays: what fn writes to out->key is ignored. */
rill_stream_t *rill_stream_map_values(rill_stream_t *s, const char *name, rill_mapper_cb fn,
                                      void *opaque);
/* As map, but only the key changes: what fn writes as the value is ignored. */
rill_stream_t *rill_stream_select_key(rill_stream_t *s, const char *name, rill_mapper_cb fn,
                                      void *opaque);
rill_stream_t *rill_stream_flat_map(rill_stream_t *s, const char *name, rill_flat_mapper_cb fn,
                                    void *opaque);
/* As flat_map, but the key stays: every record fn forwards (with rill_ctx_forward(); the
 * node's children are not reachable by name) gets rec's key and window, whatever key it set.
 * Records are forwarded as fn gives them otherwise (value, timestamp, headers). The node
 * "<name>-key" (generated name: "<generated>-key") that sets the key is added after it. */
rill_stream_t *rill_stream_flat_map_values(rill_stream_t *s, const char *name,
                                           rill_flat_mapper_cb fn, void *opaque);
rill_stream_t *rill_stream_peek(rill_stream_t *s, const char *name, rill_peek_cb fn, void *opaque);
/* A terminal peek: calls fn with each record (borrowed) and forwards nothing (Kafka Streams'
 * foreach). Returns 0 or the sticky builder error. */
rill_err_t rill_stream_foreach(rill_stream_t *s, const char *name, rill_peek_cb fn, void *opaque);
rill_stream_t *rill_stream_merge(rill_stream_t *a, rill_stream_t *b, const char *name);
rill_stream_t *rill_stream_process(rill_stream_t *s, const char *name,
                                   const rill_processor_def_t *def, void *opaque);
/* Declares that the node of stream s (a custom processor) uses the key-value store called
 * store (letters, digits, '.', '_', '-'); several nodes of one sub-topology may share one. */
rill_err_t rill_stream_use_kv_store(rill_stream_t *s, const char *store);

/*
 * Split: rill_stream_split() makes a splitter; each rill_split_branch() returns the stream of
 * records for which pred holds and no earlier branch's did; rill_split_default() returns
 * the rest. Records matching no branch and with no default branch are dropped (as in
 * Kafka Streams' split()).
 */
typedef struct rill_split_s rill_split_t;
rill_split_t *rill_stream_split(rill_stream_t *s, const char *name);
rill_stream_t *rill_split_branch(rill_split_t *split, const char *name, rill_predicate_cb pred,
                                 void *opaque);
rill_stream_t *rill_split_default(rill_split_t *split, const char *name);

/*
 * Writes the stream to the internal topic "<application.id>-<name>-repartition" (created at
 * start with as many partitions as the largest input of this part of the topology) and reads
 * it back: records are then in the partition of their current key, so equal keys meet in one
 * task. What a key change needs before grouping or joining. Records are read back with bytes
 * keys, the value serde of the source the stream comes from (so a decoded value survives the
 * trip) and their own timestamps; a value that serde refuses goes to the dead-letter topic.
 */
rill_stream_t *rill_stream_repartition(rill_stream_t *s, const char *name);
/* The same, reading the records back with opts (NULL, or NULL fields: bytes serdes and the
 * records' own timestamps): for values whose format changed since their source (Kafka
 * Streams' Repartitioned.with). */
rill_stream_t *rill_stream_repartition_with(rill_stream_t *s, const char *name,
                                            const rill_source_opts_t *opts);

/* Writes the stream to topic. Returns 0 or the sticky builder error. */
rill_err_t rill_stream_to(rill_stream_t *s, const char *name, const char *topic,
                          const rill_sink_opts_t *opts);

/* ---------------------------------------------------------------------------------------- */
/* FaaS stages: stateless work handed to remote functions through the ordered async bridge  */

typedef enum rill_faas_format_e {
    RILL_FAAS_CLOUDEVENTS = 0, /* CloudEvents over HTTP: binary mode for one event, a
                                  application/cloudevents-batch+json array for a batch */
    RILL_FAAS_LAMBDA = 1       /* AWS Lambda Invoke API (RequestResponse), SigV4-signed, with
                                  the event shape of Lambda's self-managed Kafka trigger */
} rill_faas_format_t;

typedef enum rill_faas_order_e {
    RILL_FAAS_ORDER_PARTITION = 0, /* results leave in input order (per task) */
    RILL_FAAS_ORDER_KEY = 1,       /* results leave in input order per key */
    RILL_FAAS_UNORDERED = 2        /* results leave as they come back */
} rill_faas_order_t;

/*
 * Options of a FaaS stage. Zero fields take the defaults shown. Strings are copied. The url
 * must be http:// or https:// (any other scheme fails rill_stream_faas).
 * Credentials for RILL_FAAS_LAMBDA come from the standard AWS environment variables
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION).
 */
typedef struct rill_faas_opts_s {
    const char *url;       /* CloudEvents: the function's URL. Lambda: the API endpoint,
                              default https://lambda.<region>.amazonaws.com */
    const char *function;  /* Lambda: function name; CloudEvents: used in names/metrics */
    const char *qualifier; /* Lambda: alias or version (?Qualifier=), or NULL */
    rill_faas_format_t format;
    rill_faas_order_t order;
    int batch_max_records;        /* records per invocation (1)... default 100 */
    int batch_max_bytes;          /* encoded request size bound, default 1 MiB (Lambda: 6 MB
                                     is the synchronous payload limit) */
    int linger_ms;                /* how long a partial batch waits for more, default 5 */
    int max_in_flight;            /* invocations in flight per task, default 8 */
    int adaptive_concurrency;     /* 1: the calls in flight follow the function, from 1 up to
                                     max_in_flight: one more per round while its latency holds,
                                     halved on 429, 503, a timeout or a call twice as slow as
                                     the fastest (metric rill_faas_concurrency_limit). Default
                                     0: always max_in_flight */
    int timeout_ms;               /* per invocation, default 30000 */
    int max_retries;              /* retries of a failing batch before bisecting, default 5 */
    int backoff_initial_ms;       /* first retry delay, default 100, doubling, with jitter */
    int backoff_max_ms;           /* default 10000 */
    int max_buffered_records;     /* records held per task (in calls, ready to send, waiting
                                     for their turn); at it the task stops feeding the stage
                                     until a record leaves. Default max(10000, 3 x
                                     max_in_flight x batch_max_records): a full batch ready
                                     for every call in flight, even with every other call
                                     done and waiting for the oldest (partition order) */
    int max_buffered_bytes;       /* the same bound in bytes (keys, values and ~0.5 KiB of
                                     bookkeeping per record), default 67108864 (64 MiB); it
                                     also caps the records held */
    int max_record_age_ms;        /* a record still failing after this long goes to the DLQ,
                                     default 900000 (15 min); negative: no limit */
    int breaker_failures;         /* consecutive failed invocations that open the circuit
                                     breaker, default 20 */
    int breaker_open_ms;          /* how long it stays open before a trial call, default 5000 */
    int insecure_skip_tls_verify; /* default 0: TLS certificates are verified */
    int max_response_bytes;       /* a larger response body fails the call, default 6291456
                                     (6 MiB, Lambda's synchronous response limit) */
    int max_retry_after_ms;       /* a function's Retry-After is honoured up to this, default
                                     60000 */
    int allow_insecure_http;      /* default 0: an http:// url is refused unless its host is
                                     loopback (localhost, 127.0.0.0/8, ::1); 1 allows it for any
                                     host. Credentials (SigV4, session token) never go over
                                     http: a Lambda stage with an http:// url is not signed */
    int http_version;             /* over http://: 0 or 1 (default) HTTP/1.1, one connection per
                                     call in flight; 2: HTTP/2 without upgrade (h2c, prior
                                     knowledge), the calls multiplexed on shared connections;
                                     the function must speak it. Over https:// HTTP/2 is used
                                     whenever the server offers it (ALPN), whatever this is */
} rill_faas_opts_t;

/*
 * A stage that sends each record to a remote function and continues with what the function
 * returns for it: zero, one or many records, or an error (retried, then dead-lettered).
 * Invocations run on the bridge thread, never blocking the stream thread; results leave in
 * the order opts->order says; offsets are committed only past records whose results left.
 */
rill_stream_t *rill_stream_faas(rill_stream_t *s, const char *name, const rill_faas_opts_t *opts);

/* The first builder error, or NULL. Borrowed. */
const char *rill_topology_error(const rill_topology_t *topo);

/* Writes a description (sub-topologies, nodes, topics, stores) as text, or Graphviz DOT. */
rill_err_t rill_topology_describe(const rill_topology_t *topo, rill_buf_t *out);
rill_err_t rill_topology_describe_dot(const rill_topology_t *topo, rill_buf_t *out);

/* ---------------------------------------------------------------------------------------- */
/* Application                                                                              */

typedef struct rill_app_s rill_app_t;

/*
 * Creates an application running topo with conf. Takes ownership of topo and conf on success
 * only. Fails (NULL, errstr) when the topology has a builder error or conf lacks
 * application.id. With no bootstrap.servers, the app starts an embedded broker (librdkafka's
 * in-process mock cluster) when started.
 */
rill_app_t *rill_app_new(rill_topology_t *topo, rill_conf_t *conf, char *errstr,
                         size_t errstr_size);

/* Creates missing internal topics, starts the stream threads and returns. */
rill_err_t rill_app_start(rill_app_t *app, char *errstr, size_t errstr_size);

/*
 * Asks the app to stop: threads finish the record at hand, commit, and leave the group.
 * Thread-safe and async-signal-safe.
 */
void rill_app_stop(rill_app_t *app);

/* Waits until the threads have stopped. Returns the first fatal error, or 0. */
rill_err_t rill_app_wait(rill_app_t *app, char *errstr, size_t errstr_size);

/* The bootstrap servers in use (the embedded broker's when it runs). Borrowed. */
const char *rill_app_bootstrap_servers(const rill_app_t *app);

/*
 * Creates a topic: through the embedded broker when it runs, else through Kafka's admin API.
 * An existing topic is not an error. May be called before rill_app_start() (it then starts
 * the embedded broker when no bootstrap.servers is given). Thread-safe.
 */
rill_err_t rill_app_create_topic(rill_app_t *app, const char *topic, int partitions, char *errstr,
                                 size_t errstr_size);

/* The number of partitions of topic, or -1 (message in errstr) when it does not exist or the
 * cluster cannot be asked. May be called before rill_app_start(). Thread-safe. */
int rill_app_partition_count(rill_app_t *app, const char *topic, char *errstr, size_t errstr_size);

/* Appends the metrics in Prometheus' text exposition format (0.0.4): a # HELP and a # TYPE
 * line per metric family, then its samples, every one labelled with application_id.
 * Thread-safe. */
rill_err_t rill_app_metrics(rill_app_t *app, rill_buf_t *out);

/*
 * The TCP port of the HTTP endpoint (GET /metrics, /health, /ready) that rill_app_start()
 * opens when http.listen=host:port is set: the port bound, also when http.listen asked for
 * port 0 (a free one, logged at start). 0 when there is no endpoint (http.listen unset or
 * empty, or the app not started). Thread-safe after rill_app_start().
 */
int rill_app_http_port(const rill_app_t *app);

/* Looks up one metric by name (summed over labels); returns 0 when not found. Thread-safe. */
int64_t rill_app_metric(rill_app_t *app, const char *name);

/*
 * Interactive queries: reading the app's state stores from outside the topology, from any
 * thread of the process, while the app runs. A key lives in one partition of its store, the
 * partition murmur2 of its bytes gives among the partitions of the store's sub-topology (its
 * source topics'), and that partition belongs to one instance of the group. A read of a
 * partition this instance holds is answered by the stream thread that owns it, between two
 * batches of records, from the store's write cache and RocksDB: it sees every record
 * processed so far (also ones not yet committed). A read of another instance's partition
 * answers RILL_QUERY_NOT_LOCAL with that instance's application.server in info->owner when
 * it is known (instances publish what they own to the compacted topic
 * "<application.id>-query-hosts"). A store fed straight by a topic Rill does not write
 * (another client's partitioner may have put a key anywhere) is searched further on a miss:
 * every local partition; NOT_FOUND only when this instance holds all of them, else
 * NOT_LOCAL with info->partition and info->owner naming a partition not searched and its
 * owner (the HTTP endpoint asks every owner). A window fetch searches the same way. Stores
 * written by tables and aggregations hold a timestamp with each value: the value given is
 * the table's value (for counts, 8 bytes big-endian, rill_int64_decode()), the timestamp goes
 * to info->timestamp. Other stores give their bytes as they are.
 */
typedef enum rill_query_status_e {
    RILL_QUERY_FOUND = 0,         /* the value is in out */
    RILL_QUERY_NOT_FOUND = 1,     /* this instance holds the key's partition; no such key */
    RILL_QUERY_NOT_LOCAL = 2,     /* another instance holds it: info->owner when known */
    RILL_QUERY_UNAVAILABLE = 3,   /* not answerable now: the partition is restoring, the
                                     group is rebalancing, the app stops, or timeout_ms
                                     passed (info->error says which); try again */
    RILL_QUERY_UNKNOWN_STORE = 4, /* the topology has no store of that name, or of that
                                     kind (a get on a window store, a fetch on a key-value
                                     store) */
    RILL_QUERY_ERROR = 5          /* bad arguments, the app not started, a read that failed,
                                     out of memory (info->error) */
} rill_query_status_t;

/* Returns a static name for status ("found", "not found", ...). */
const char *rill_query_status_str(rill_query_status_t status);

/* What a query tells besides its value (optional: pass NULL). */
typedef struct rill_query_info_s {
    int32_t partition; /* the store's partition of the key, or -1 when not known */
    int64_t timestamp; /* a found value of a table or aggregation: its row's timestamp, else -1 */
    char owner[256];   /* RILL_QUERY_NOT_LOCAL: the owner's application.server ("" unknown) */
    char error[256];   /* why, for RILL_QUERY_UNAVAILABLE, _UNKNOWN_STORE and _ERROR */
    int truncated;     /* rill_app_store_range(): 1 when rows past the limit were left out */
} rill_query_info_t;

/* Reads key from the key-value store called store: replaces out's content with the value
 * on RILL_QUERY_FOUND. Waits at most timeout_ms (<= 0: 5000) for the owning stream thread.
 * Thread-safe after rill_app_start(), until rill_app_destroy(). */
rill_query_status_t rill_app_store_get(rill_app_t *app, const char *store, const void *key,
                                       size_t key_len, rill_buf_t *out, rill_query_info_t *info,
                                       int timeout_ms);

/* One window of a window fetch: its start, its timestamp (-1 when the store keeps none) and
 * value (borrowed for the call). Return non-zero to stop. */
typedef int (*rill_window_row_cb)(int64_t window_start, int64_t timestamp, const void *value,
                                  size_t value_len, void *opaque);

/* Calls cb, on the caller's thread, for every window of key in the window store called
 * store whose start is in [from_ms, to_ms), in start order. RILL_QUERY_FOUND when at least
 * one window was found, else RILL_QUERY_NOT_FOUND (or another status as for
 * rill_app_store_get). Thread-safe after rill_app_start(). */
rill_query_status_t rill_app_window_fetch(rill_app_t *app, const char *store, const void *key,
                                          size_t key_len, int64_t from_ms, int64_t to_ms,
                                          rill_window_row_cb cb, void *opaque,
                                          rill_query_info_t *info, int timeout_ms);

/* One row of a key range: the key, its row's timestamp (-1 when the store keeps none) and
 * its value (as rill_app_store_get() gives it), borrowed for the call. Return non-zero to
 * stop. */
typedef int (*rill_kv_row_cb)(const void *key, size_t key_len, int64_t timestamp, const void *value,
                              size_t value_len, void *opaque);

/* Calls cb, on the caller's thread, for the keys of the key-value store called store in
 * [from, to) (bytes compared as unsigned; from NULL: from the first key, to NULL: to the
 * last) held by THIS instance's partitions, every one merged in key order, at most limit
 * (> 0) rows; info->truncated says whether more were left out. RILL_QUERY_FOUND once every
 * local partition answered (there may be no rows, also when the instance holds none),
 * RILL_QUERY_UNAVAILABLE when one of them cannot answer now (restoring, busy past
 * timeout_ms): a range is never partial. The other instances' partitions are not included:
 * the HTTP endpoint's GET /stores/<store>?from=&to= gathers the whole store. Memory: at most
 * limit rows per local partition. Thread-safe after rill_app_start(). */
rill_query_status_t rill_app_store_range(rill_app_t *app, const char *store, const void *from,
                                         size_t from_len, const void *to, size_t to_len, int limit,
                                         rill_kv_row_cb cb, void *opaque, rill_query_info_t *info,
                                         int timeout_ms);

/* This instance's application.server (host:port others reach its HTTP endpoint at): the
 * configured one, else http.listen's host with the bound port when that host is not a
 * wildcard address; NULL when it has none. Valid after rill_app_start(). */
const char *rill_app_server(const rill_app_t *app);

void rill_app_destroy(rill_app_t *app);

/*
 * The command line every Rill binary shares: --bootstrap-servers, --config FILE, --threads N,
 * --state-dir DIR, --instance-id ID, --describe, --drain (exit.on.end=true), --help, plus
 * "-D name=value" for any property. Applies the flags to conf. Returns 0 to go on, 1 when the
 * program should exit successfully (after --help or --describe, having printed), -1 on a bad flag
 * (message in errstr). Options not recognised are left in argv (it is permuted; *argcp updated) for
 * the program's own flags when allow_extra is set, else they are errors.
 */
int rill_cli_parse(int *argcp, char **argv, rill_conf_t *conf, const rill_topology_t *topo,
                   int allow_extra, char *errstr, size_t errstr_size);

/* Runs app until SIGINT/SIGTERM, then stops it cleanly. Prints errors to stderr. Returns a
 * process exit code. Installs signal handlers. Takes ownership of app. */
int rill_app_run_until_signal(rill_app_t *app);

/* ---------------------------------------------------------------------------------------- */
/* Producer: writing input for tests, demos and generators                                  */

typedef struct rill_producer_s rill_producer_t;

/*
 * Creates a plain (non-transactional, idempotent) producer for bootstrap_servers. conf may
 * be NULL; its pass-through properties apply. The partitioner is murmur2, as in Kafka's Java
 * clients, so a key lands in the partition Kafka Streams would choose, unless conf sets
 * librdkafka's "partitioner".
 */
rill_producer_t *rill_producer_new(const char *bootstrap_servers, const rill_conf_t *conf,
                                   char *errstr, size_t errstr_size);

/* Queues one record (bytes are copied). partition -1: by key. timestamp 0: now. Blocks
 * while the local queue is full. */
rill_err_t rill_producer_send(rill_producer_t *p, const char *topic, int32_t partition,
                              const void *key, size_t key_len, const void *value, size_t value_len,
                              int64_t timestamp);

/* Waits until every queued record is acknowledged or timeout_ms passes. Returns 0, or an
 * error when a record failed or the time ran out (message in errstr). */
rill_err_t rill_producer_flush(rill_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size);

/* Sets *endp to the end offset (the next offset to be written) of topic's partition, asking
 * the broker, waiting up to timeout_ms; asked again within that time while the partition has
 * no leader yet (a topic just made, a leader moving). Returns 0, or RILL_ERR_KAFKA with
 * errstr. */
rill_err_t rill_producer_end_offset(rill_producer_t *p, const char *topic, int32_t partition,
                                    int timeout_ms, int64_t *endp, char *errstr,
                                    size_t errstr_size);

void rill_producer_destroy(rill_producer_t *p);

/* ---------------------------------------------------------------------------------------- */
/* Embedded broker                                                                          */

typedef struct rill_broker_s rill_broker_t;

/*
 * Starts librdkafka's in-process mock cluster with broker_cnt brokers on 127.0.0.1. For
 * trying things out: data lives in memory only, about 5 MiB kept per partition, transactions
 * are not faithful and there is no CreateTopics (use rill_broker_create_topic()).
 */
rill_broker_t *rill_broker_new(int broker_cnt, char *errstr, size_t errstr_size);
const char *rill_broker_bootstrap_servers(const rill_broker_t *broker);
rill_err_t rill_broker_create_topic(rill_broker_t *broker, const char *topic, int partitions);
void rill_broker_destroy(rill_broker_t *broker);

/* ---------------------------------------------------------------------------------------- */
/* Tables, aggregations and windows                                                         */

/*
 * Aggregations in the shape of Kafka Streams: group a stream by its key, window it if you
 * like, aggregate it into a table, and continue with the table's updates as a stream.
 *
 *   rill_grouped_t *g = rill_stream_group_by_key(bids, NULL);
 *   rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = 60000,
 *                              .grace_ms = 5000};
 *   rill_table_t *t = rill_windowed_count(rill_grouped_windowed_by(g, &spec), "bids-per-min",
 *                                         RILL_EMIT_FINAL);
 *   rill_stream_to(rill_table_to_stream(t, NULL), NULL, "bid-counts", NULL);
 *
 * Keys. Records are grouped by their key bytes. rill_stream_group_by_key() needs the stream
 * partitioned by that key (all records of a key in one partition), as a topic keyed by it
 * is; to group by a new key use rill_stream_group_by(), which repartitions (or
 * rill_stream_repartition() after map or select_key). A record with a null key cannot be grouped,
 * and one with a null value (a tombstone) is not aggregated: they go to the dead-letter topic with
 * a reason beginning "null key: " or "null value: " (Kafka Streams drops both).
 *
 * State. An aggregation keeps its aggregates in a state store of its own called store (NULL:
 * a name such as KSTREAM-AGGREGATE-STATE-STORE-0000000002, from the node's kind and position;
 * a name used twice is an error), a key-value store, or a window or session store for
 * windows, with the changelog topic <application.id>-<store>-changelog. A windowed
 * aggregation also keeps its stream time and emit progress in a key-value store called
 * <store>-meta, so that after a restart or a move to another instance it neither emits a
 * window twice nor takes a late record. Aggregates are bytes: callbacks read and write them.
 *
 * Results. Every update of a table is forwarded from its aggregation node to the streams made
 * by rill_table_to_stream(): key = the group key, value = the aggregate's bytes (counts: 8
 * bytes big-endian, rill_int64_decode()), timestamp = the largest timestamp among the records
 * aggregated (sessions: the session's end), headers = those of the record that caused the
 * update (none on emit-final results; with lineage.enable these carry the trace of the
 * record that last updated the window, see "Tracing and lineage" above). Aggregations without
 * windows (count, reduce and aggregate of a grouped stream) have a record cache, as in Kafka
 * Streams, while statestore.cache.max.bytes > 0 (the default): an update is not forwarded at once;
 * the latest aggregate of every key updated since the last commit goes downstream at the next
 * commit (or when the caches fill, which commits early), without headers (with lineage.enable, the
 * trace of the record that last updated the key), so repeated updates of a key between
 * commits cost one downstream record. With the cache off (0), for an aggregation whose
 * table is grouped anew (rill_table_group_by() needs every old value), and for windowed,
 * session and sliding aggregations, every update is forwarded downstream, none coalesced (the
 * stores' write cache still coalesces their changelog records).
 *
 * Windows. Times are epoch milliseconds; stream time is the task's (rill_ctx_stream_time()).
 *  - Tumbling, size S: [n*S, (n+1)*S), aligned to the epoch; a record at t is in the one
 *    window with window_start <= t < window_end.
 *  - Hopping, size S, advance A: [n*A, n*A + S) for n >= 0; a record is in every such window
 *    that holds it.
 *  - Sliding, time difference D (Kafka Streams' SlidingWindows.ofTimeDifferenceAndGrace):
 *    windows of D + 1 ms, [s, s + D] both ends included, defined by the records of each key:
 *    for a record at t the window ending at t, [t - D, t] (for t < D: [0, D]), and the one
 *    starting just after it, [t + 1, t + 1 + D], when that holds a record. Each holds every
 *    record of the key within its bounds.
 *  - Session, gap G: records of a key at most G apart form one session [first, last], both
 *    ends included; a record within G of two sessions merges them (the merger combines their
 *    aggregates).
 *
 * Grace and lateness. A time window closes when stream time >= its end + grace (the exclusive
 * end: window_end below); a session closes when stream time > its end + gap + grace, the
 * moment no on-time record can extend it any more (as Kafka Streams' emit-final). A record
 * that would only update closed windows (or merge into a closed session) is late: it goes to
 * the dead-letter topic with a reason beginning "late: " and is not aggregated;
 * rill_late_records_total counts it. A record with some windows open and some closed (hopping,
 * sliding) updates the open ones.
 *
 * Emit. RILL_EMIT_ON_UPDATE forwards a window's new aggregate on every update; a session
 * merged into another is retracted with a null value (a tombstone) for its old window.
 * RILL_EMIT_FINAL (Kafka Streams' suppress(untilWindowCloses(...)); for a time limit on a
 * key-value table see rill_table_suppress()) forwards exactly one result per window, when it
 * closes, in order of window start (sessions: of end), then key. Windows close as records
 * reach the aggregation, so a partition that receives nothing emits nothing, as in Kafka
 * Streams.
 *
 * Windowed results carry their window: window_kind, window_start and window_end. Time
 * windows (tumbling, hopping, sliding) are half-open, [window_start, window_end) (sliding:
 * window_end = start + D + 1); sessions give their first and last records' timestamps, both
 * included. A sink writes a windowed record's key as Kafka Streams' windowed serializers do:
 * time windows as the key bytes then window_start (8 bytes big-endian; TimeWindowedSerializer),
 * sessions as the key bytes then window_end then window_start (8 bytes big-endian each;
 * SessionWindowedSerializer). A processor that gives a windowed record a key that is not
 * windowed should set window_kind to 0.
 *
 * Handles are owned by the topology. Like every builder call, these record the first error in
 * the topology and return NULL (see rill_topology_error()). Callbacks run on the stream thread
 * of the task whose record is being aggregated, with opaque last; a non-zero return sends the
 * record to the dead-letter topic, and the window (or key) at hand keeps its aggregate (a
 * hopping or sliding window updated before it keeps the update).
 */

typedef struct rill_grouped_s rill_grouped_t;
typedef struct rill_windowed_s rill_windowed_t;
typedef struct rill_table_s rill_table_t;

/* Groups s by its record key (see "Keys" above). name: the node's name, or NULL. */
rill_grouped_t *rill_stream_group_by_key(rill_stream_t *s, const char *name);

/*
 * Writes the new aggregate of rec over agg to out (out is empty on entry). agg is the current
 * aggregate: for rill_grouped_aggregate() and windows, the initializer's output when the key
 * or window is new; for rill_grouped_reduce(), the reducer is not called for a key's first
 * record, whose value is the aggregate. Return non-zero for an error.
 */
typedef int (*rill_aggregator_cb)(const rill_record_t *rec, const void *agg, size_t agg_len,
                                  rill_buf_t *out, void *opaque);
/* Writes the initial aggregate to out (empty on entry). Return non-zero for an error. */
typedef int (*rill_initializer_cb)(rill_buf_t *out, void *opaque);
/* Writes the aggregate of two sessions merged into one to out (empty on entry): a is the
 * aggregate so far, b a session's that joins it. Return non-zero for an error. */
typedef int (*rill_merger_cb)(const void *a, size_t a_len, const void *b, size_t b_len,
                              rill_buf_t *out, void *opaque);

/* Counts records per key. Values: int64 big-endian (rill_int64_decode()). */
rill_table_t *rill_grouped_count(rill_grouped_t *g, const char *store);
/* Combines the values of a key with reducer (agg = the previous result, the first value as
 * is). */
rill_table_t *rill_grouped_reduce(rill_grouped_t *g, const char *store, rill_aggregator_cb reducer,
                                  void *opaque);
rill_table_t *rill_grouped_aggregate(rill_grouped_t *g, const char *store, rill_initializer_cb init,
                                     rill_aggregator_cb adder, void *opaque);

typedef enum rill_window_kind_e {
    RILL_WINDOW_TUMBLING = 1, /* size_ms */
    RILL_WINDOW_HOPPING = 2,  /* size_ms, advance_ms (0 < advance <= size) */
    RILL_WINDOW_SLIDING = 3,  /* size_ms: the time difference D */
    RILL_WINDOW_SESSION = 4   /* gap_ms */
} rill_window_kind_t;

/*
 * A window specification; fields a kind does not use must be 0. grace_ms >= 0 (0: no grace).
 * retention_ms: how long windows stay in the store after they start (sessions: end); 0 takes
 * the least a kind needs (tumbling, hopping: size + grace; sliding: 2 * D + grace + 1;
 * session: 2 * gap + grace), and a smaller value is an error.
 */
typedef struct rill_window_spec_s {
    rill_window_kind_t kind;
    int64_t size_ms;
    int64_t advance_ms;
    int64_t grace_ms;
    int64_t gap_ms;
    int64_t retention_ms;
} rill_window_spec_t;

/* Windows g by spec (copied). Aggregate it with the calls below. */
rill_windowed_t *rill_grouped_windowed_by(rill_grouped_t *g, const rill_window_spec_t *spec);

typedef enum rill_emit_e {
    RILL_EMIT_ON_UPDATE = 0, /* every update of a window, as it happens */
    RILL_EMIT_FINAL = 1      /* one result per window, when it closes */
} rill_emit_t;

/* Counts records per key and window (any kind). Values: int64 big-endian. */
rill_table_t *rill_windowed_count(rill_windowed_t *w, const char *store, rill_emit_t emit);
/* Aggregates per key and time window (tumbling, hopping, sliding); sessions need a merger:
 * use rill_session_aggregate(). */
rill_table_t *rill_windowed_aggregate(rill_windowed_t *w, const char *store,
                                      rill_initializer_cb init, rill_aggregator_cb adder,
                                      void *opaque, rill_emit_t emit);
/* Aggregates per key and session window; merger combines sessions a record bridges. */
rill_table_t *rill_session_aggregate(rill_windowed_t *w, const char *store,
                                     rill_initializer_cb init, rill_aggregator_cb adder,
                                     rill_merger_cb merger, void *opaque, rill_emit_t emit);

/* The stream of t's updates (see "Results" and "Emit" above). name: the node's, or NULL. */
rill_stream_t *rill_table_to_stream(rill_table_t *t, const char *name);

/*
 * Grouping by a new key, and tables read from topics
 *
 *   rill_table_t *users = rill_table_from(topo, "users", "users", NULL, "users-store");
 *   rill_grouped_table_t *g = rill_table_group_by(users, "by-region", region_of, NULL);
 *   rill_table_t *sums = rill_grouped_table_aggregate(g, "region-sums", zero, add_amount,
 *                                                     subtract_amount, NULL);
 *   rill_stream_to(rill_table_to_stream(sums, NULL), NULL, "region-sums", NULL);
 *
 * Repartitioning. rill_stream_group_by() and rill_table_group_by() give records a new key and
 * send them through the internal topic "<application.id>-<name>-repartition" (see
 * rill_stream_repartition(); name NULL: a generated one), so that equal new keys meet in one
 * task whatever input partition they came from. The topology then has one more
 * sub-topology, reading that topic; its keys are read as bytes.
 *
 * Tables from topics. rill_table_from() reads topic as a changelog (Kafka Streams'
 * builder.table()): a record upserts the row of its key, a record with a null value (a
 * tombstone) deletes it. The rows are kept in the key-value store called store (NULL:
 * "<topic>-STATE-STORE-<index>"), with the changelog topic <application.id>-<store>-changelog;
 * each value there is the row's timestamp (8 bytes big-endian) then the value's bytes (Kafka
 * Streams' ValueAndTimestamp), which is also what a custom processor that declares the store
 * (rill_stream_use_kv_store()) reads. Its change stream (rill_table_to_stream()) carries every
 * record as it came, one update per record, a tombstone as a null value (also for a key that
 * had no row). A record with a null key goes to the dead-letter topic ("null key: ").
 *
 * Aggregating a grouped table. When a row of the grouped table changes from old to new, the
 * selector's (key, value) for old is taken out of its group by the subtractor, and the one for
 * new is added to its group by the adder (Kafka Streams' KGroupedTable), so a row moving to
 * another group leaves the first and joins the second, and a deleted row leaves its group.
 * The change crosses the repartition topic as records keyed by group key, whose value is
 *     [flags: 1 byte][old length: 4 bytes big-endian][old value][new value]
 * (flags bit 0: an old value to subtract is present; bit 1: a new value to add is present;
 * old length 0 when there is none; the new value is the rest): one record with both when the
 * old and new group keys are equal, else one to the old group key, then one to the new. Each
 * record updates its group once and forwards the result; a group's aggregate stays in the
 * store when it goes back to the initial value (a count of 0 is forwarded as 0). The order of
 * a group's updates follows each row's changes; updates coming from rows in different input
 * partitions interleave as the tasks run.
 *
 * Callbacks. The selectors and key selectors are rill_mapper_cb: they read a record (a row: key,
 * value, value_obj decoded by the table's value serde, timestamp) and write the group key to
 * out->key (and, for rill_table_group_by(), the value to out->value, or a decoded one to
 * out->value_obj with out->value_serde); a stream's key selector leaves the value as it is. A
 * selector must be a pure function of its row, as it is asked again for the row's old value when
 * the row changes. Adders and subtractors are rill_aggregator_cb called with the group key and the
 * selected value's bytes (value_obj is NULL: the value crossed a topic) and the current aggregate;
 * they run on the stream thread of the group's task.
 *
 * Failures. A record whose new key is null goes to the dead-letter topic ("null key: "), once,
 * before the repartition topic; so does a table row whose selection fails or gives no key or
 * no value (it then belongs to no group; the table and its change stream still take the row).
 * A failing adder or subtractor dead-letters the change record and leaves its group's
 * aggregate as it was: the row's later changes would then take out what was not put in, so
 * make them total. Windowed tables cannot be grouped anew.
 */

typedef struct rill_grouped_table_s rill_grouped_table_t;

/*
 * Groups s by the key key_fn writes to out->key for each record (what it writes as the value
 * is ignored): a KEY-SELECT node, the repartition topic "<application.id>-<name>-repartition"
 * and a group-by-key node. Aggregate the result like rill_stream_group_by_key()'s. name: the
 * repartition topic's (NULL: generated).
 */
rill_grouped_t *rill_stream_group_by(rill_stream_t *s, const char *name, rill_mapper_cb key_fn,
                                     void *opaque);

/*
 * A table of the rows in topic, materialized in store (NULL: generated). name: the source
 * node's (its table node is then "<name>-table-source"), or NULL for generated names
 * (KSTREAM-SOURCE-<index>, KTABLE-SOURCE-<index>). opts as for rill_stream_from().
 */
rill_table_t *rill_table_from(rill_topology_t *topo, const char *name, const char *topic,
                              const rill_source_opts_t *opts, const char *store);

/*
 * Groups the rows of the key-value table t by selector, which gives each row its group key
 * and the value to aggregate: a KTABLE-SELECT node and the repartition topic
 * "<application.id>-<name>-repartition" (name NULL: generated). Aggregate the result with the
 * calls below; t then hands its rows' previous values to the grouping.
 */
rill_grouped_table_t *rill_table_group_by(rill_table_t *t, const char *name,
                                          rill_mapper_cb selector, void *opaque);

/* Counts the rows per group (values: int64 big-endian), in a KTABLE-AGGREGATE node with its
 * store (NULL: "KTABLE-AGGREGATE-STATE-STORE-<index>"). */
rill_table_t *rill_grouped_table_count(rill_grouped_table_t *g, const char *store);

/* Aggregates the rows per group: init makes a new group's aggregate, adder puts a row's value
 * in, subtractor takes it out (all three required). */
rill_table_t *rill_grouped_table_aggregate(rill_grouped_table_t *g, const char *store,
                                           rill_initializer_cb init, rill_aggregator_cb adder,
                                           rill_aggregator_cb subtractor, void *opaque);

/*
 * Tables derived from tables and streams
 *
 *   rill_table_t *active = rill_table_filter(users, "active", is_active, NULL, "active-store");
 *   rill_table_t *names = rill_table_map_values(active, "names", name_of, NULL, NULL);
 *   rill_table_t *latest = rill_stream_to_table(readings, "latest", "latest-store");
 *
 * Each is a key-value table materialized in a store of its own (store NULL:
 * "<KIND>-STATE-STORE-<index>", kinds KTABLE-FILTER, KTABLE-MAPVALUES, KSTREAM-TOTABLE;
 * changelog <application.id>-<store>-changelog), as Kafka Streams' with Materialized.as(store):
 * it can be read, joined, grouped anew, filtered or mapped again like any table, and survives
 * restarts and moves with its task. name: the node's (NULL: "<KIND>-<index>"). Only key-value
 * tables can be filtered or mapped (windowed tables: an error). The callbacks see the parent
 * table's change record (key, value bytes, value_obj when the parent's records carry one,
 * timestamp, headers) and run on the stream thread of its task; they are not called for a
 * deleted row (a tombstone).
 *
 * Filter. A row for which pred holds (filter_not: does not hold) is the result's row, as it
 * is (its value_obj decoded by the parent's serde too). A row that fails, or a deletion,
 * removes the key's row from the result; a tombstone is forwarded only when the result had a
 * row for the key (a key that never passed forwards nothing), so the change stream is exactly
 * the result's changes.
 *
 * Map values. mapper writes the row's new value to out (out->value, or out->value_obj with
 * out->value_serde to encode it; out->key is ignored: the key and the parent row's timestamp
 * stay). A deletion passes through as a tombstone, always (one for every deletion of the
 * parent, as the parent forwarded it); a mapper that sets value_null deletes the key's row
 * too. The mapped values are bytes: the result has no value serde,
 * and its change records carry no value_obj. A non-zero return sends the record being
 * processed to the dead-letter topic and leaves the key's row as it was.
 *
 * A stream as a table (Kafka Streams' toTable). Each record of s upserts its key's row (its
 * value bytes, or its value_obj encoded by its value_serde), a record with neither deletes
 * it; its change stream carries every record, a tombstone also for a key that had no row, as
 * rill_table_from()'s does, with the value as bytes (no value_obj). A record with a null key
 * goes to the dead-letter topic ("null key: "). s must be partitioned by its key (repartition
 * after a key change) for the table to hold each key once.
 */
rill_table_t *rill_table_filter(rill_table_t *t, const char *name, rill_predicate_cb pred,
                                void *opaque, const char *store);
rill_table_t *rill_table_filter_not(rill_table_t *t, const char *name, rill_predicate_cb pred,
                                    void *opaque, const char *store);
rill_table_t *rill_table_map_values(rill_table_t *t, const char *name, rill_mapper_cb mapper,
                                    void *opaque, const char *store);
rill_table_t *rill_stream_to_table(rill_stream_t *s, const char *name, const char *store);

/*
 * Cogroup: several grouped streams with the same key aggregated into one table (Kafka
 * Streams' KGroupedStream#cogroup), each with an aggregator of its own, one initializer, one
 * key-value store.
 *
 *   rill_cogrouped_t *cg = rill_grouped_cogroup(clicks_by_user, add_click, NULL);
 *   rill_cogrouped_add(cg, views_by_user, add_view, NULL);
 *   rill_table_t *activity = rill_cogrouped_aggregate(cg, "activity", zero, NULL);
 *
 * A record of the i-th grouped stream updates its key's aggregate with the i-th aggregator (for a
 * key's first record, over the initializer's output), whichever input the key's earlier records
 * came from; the table forwards each update as an aggregation does ("Results" above: key, the
 * aggregate's bytes, the largest timestamp aggregated for the key, record cache included) and is a
 * key-value table like any other (joined, grouped anew, filtered, suppressed). Records with a null
 * key or a null value go to the dead-letter topic, as for aggregations. Nodes: one
 * "COGROUPKSTREAM-AGGREGATE-<index>" per input (they share the store) and the table's node
 * "COGROUPKSTREAM-MERGE-<index>"; store NULL: "COGROUPKSTREAM-AGGREGATE-STATE-STORE-<index>",
 * changelog <application.id>-<store>-changelog.
 *
 * Co-partitioning. All inputs are aggregated in one task per partition, so their source
 * topics (repartition topics included: rill_stream_group_by()) must have the same partition
 * count, checked at start, and be partitioned by the group key, as for joins. Windowed
 * cogroups are not offered.
 *
 * Handles are owned by the topology; errors are sticky builder errors. Each grouped stream
 * may be added once; nothing can be added after rill_cogrouped_aggregate().
 */
typedef struct rill_cogrouped_s rill_cogrouped_t;
rill_cogrouped_t *rill_grouped_cogroup(rill_grouped_t *g, rill_aggregator_cb aggregator,
                                       void *opaque);
/* Adds g with its aggregator. Returns cg, or NULL (builder error). */
rill_cogrouped_t *rill_cogrouped_add(rill_cogrouped_t *cg, rill_grouped_t *g,
                                     rill_aggregator_cb aggregator, void *opaque);
/* The table of the cogroup; init (required) gets opaque. */
rill_table_t *rill_cogrouped_aggregate(rill_cogrouped_t *cg, const char *store,
                                       rill_initializer_cb init, void *opaque);

/*
 * Suppress with a time limit (Kafka Streams' KTable#suppress(untilTimeLimit(...)) followed by
 * toStream()): the stream of the key-value table t's updates, each key's held back until
 * time_limit_ms of stream time (rill_ctx_stream_time(), the task's progress) passed since the
 * first update of the key that was held, then the key's latest update alone goes downstream
 * (key, latest value or a tombstone for a deleted row, the latest update's timestamp; no
 * headers, no value_obj). Keys due together leave in order of their first held update, then
 * key; they leave as stream time reaches them (after a record, or when stream time advances),
 * so a partition that receives nothing emits nothing. time_limit_ms 0 emits every update once
 * stream time reaches its timestamp.
 *
 * The buffer is bounded by max_records keys and max_bytes bytes (a key's bytes: its key,
 * latest value and, under lineage.enable, the trace it keeps; 0: no bound). When an update makes it
 * hold more, when_full decides: RILL_SUPPRESS_EMIT_EARLY emits the oldest keys (first held update,
 * then key) until it fits (rill_suppress_early_emits_total counts them); RILL_SUPPRESS_SHUT_DOWN
 * stops the app with an error naming the node and the bounds. The buffer lives in the key-value
 * store called store (NULL: "KTABLE-SUPPRESS-STATE-STORE-<index>"), logged to its changelog and
 * restored, so a restart or a move neither loses a held update nor emits one twice (under
 * at-least-once a crash between an emission and its commit may repeat it, as any output).
 * Gauges rill_suppress_buffer_records and rill_suppress_buffer_bytes show what it holds
 * (label node; a buffer restored after a restart counts from its task's first record or
 * stream-time advance). name: the node's (NULL: "KTABLE-SUPPRESS-<index>"). Windowed tables: use
 * RILL_EMIT_FINAL (suppress until the window closes), which holds each window until stream
 * time passes its end + grace and emits it once; a time limit instead counts from a key's
 * first held update and emits the key again for its later updates.
 */
typedef enum rill_suppress_full_e {
    RILL_SUPPRESS_EMIT_EARLY = 0,
    RILL_SUPPRESS_SHUT_DOWN = 1
} rill_suppress_full_t;

typedef struct rill_suppress_spec_s {
    int64_t time_limit_ms; /* >= 0 */
    int64_t max_records;   /* keys held at most per task; 0: no bound */
    int64_t max_bytes;     /* key, value (and trace) bytes held at most per task; 0: none */
    rill_suppress_full_t when_full;
} rill_suppress_spec_t;

rill_stream_t *rill_table_suppress(rill_table_t *t, const char *name,
                                   const rill_suppress_spec_t *spec, const char *store);

/* ---------------------------------------------------------------------------------------- */
/* Completion detection                                                                     */

/*
 * "This item is now complete": per key, a state accumulated from a stream of events (bids)
 * until the item's deadline (an auction's expiry), then one completion record computed from
 * the final state.
 *
 *   rill_completion_spec_t spec = {.grace_ms = 5000, .hold_ms = 60000};
 *   rill_stream_t *winners = rill_stream_complete(auctions, bids, "close", &spec,
 *                                                 expires_of, no_bid, best_bid, winner, NULL);
 *   rill_stream_to(winners, NULL, "winners", NULL);
 *
 * Inputs. items and events are keyed by the item's key (an auction id) and co-partitioned:
 * the same partition count, records of a key in the same partition number (they are read by
 * one task; repartition first when they are not, see rill_stream_repartition()). items and
 * events may come from one source through split or filter. deadline gives an item record its
 * deadline, epoch ms (-1 rejects the record: dead-letter topic, "no deadline: ").
 *
 * Time. Stream time is the task's (rill_ctx_stream_time()), and never goes back for the
 * operator, also across restarts. A key completes when stream time >= its deadline +
 * grace_ms: the operator then calls complete with the item and the final state, forwards
 * key = the item's key, value = complete's output, timestamp = the deadline, and clears the
 * key. Keys due together complete in order of deadline, then key. Completion runs as stream
 * time advances (also when the advancing record is for another key), and an item whose
 * deadline + grace has passed on arrival completes at once.
 *
 * Events. An event of an open item goes to accumulate. accumulate returns 0 to take it (out:
 * the new state), 1 to ignore it (e.g. a bid outside the auction's time; counted in
 * rill_completion_ignored_total, nothing else happens), another value for an error (the
 * event goes to the dead-letter topic with the reason set by rill_ctx_set_error(), or a
 * generic one). An event whose item has not arrived is held in the store, then accumulated
 * in arrival order when the item comes (NEXMark bids can name an auction that does not exist
 * yet); one held longer than hold_ms of stream time, or the oldest held when more than
 * max_held are held in the task, goes to the dead-letter topic with a reason beginning
 * "no deadline record within " (rill_completion_unmatched_total counts them). An event or a
 * second item for a key that has completed goes to the dead-letter topic with a reason
 * beginning "late: " (rill_late_records_total), for retention_ms of stream time after the
 * completion; after that the key is forgotten, and an event is held again (and dead-lettered
 * when its hold ends). A second item for an open key goes there too ("duplicate: "). Records
 * with a null key, a null value or a negative timestamp go there as well.
 *
 * State. Everything lives in the key-value store "<name>-store", with the changelog
 * <application.id>-<name>-store-changelog: each open item (deadline and value), its state, a
 * time index of deadlines (so due keys are one range scan), held events with an index by
 * arrival, completed-key markers with an index by expiry, and the operator's stream time. A
 * restart or a move to another instance therefore neither completes a key twice nor loses a
 * held event (under at-least-once, a crash between writing a completion and committing may
 * write it again, as any Kafka Streams output; under exactly-once it is written once).
 *
 * Callbacks run on the stream thread of the task, opaque last; records given to them are
 * borrowed. The item record given to accumulate and complete, and events that were held,
 * are read back from the store: key, value bytes and timestamp only (value_obj and headers
 * are NULL): read the value bytes. Handles are owned by the topology; errors are sticky
 * builder errors (rill_topology_error()).
 */

/*
 * grace_ms >= 0: how long after its deadline a key stays open for events in disorder.
 * hold_ms >= 0: how long (stream time) an event may wait for its item; 0: no time limit.
 * max_held >= 0: events held per task at most; 0: 100000.
 * retention_ms >= 0: how long (stream time) after completing a key is remembered to
 * dead-letter its late records; 0: 24 h.
 */
typedef struct rill_completion_spec_s {
    int64_t grace_ms;
    int64_t hold_ms;
    int max_held;
    int64_t retention_ms;
} rill_completion_spec_t;

/* The item's deadline, epoch ms, or -1 to reject the item. */
typedef int64_t (*rill_deadline_cb)(const rill_record_t *item, void *opaque);
/* Writes the initial state of a new item to out (empty on entry). Non-zero: an error (the
 * item goes to the dead-letter topic). */
typedef int (*rill_completion_init_cb)(const rill_record_t *item, rill_buf_t *out, void *opaque);
/* Writes the state after event to out (empty on entry) and returns 0, or
 * RILL_COMPLETION_LEADS (0 as well, and the event is now the one the completion derives from:
 * with lineage.enable its output carries that event's trace and chain, the item's in
 * rill.lineage.other; the last event so marked wins, none: the item's alone), or returns 1
 * to ignore the event, or another value for an error. */
#define RILL_COMPLETION_LEADS 2
typedef int (*rill_completion_accumulate_cb)(const rill_record_t *item, const rill_record_t *event,
                                             const void *state, size_t state_len, rill_buf_t *out,
                                             void *opaque);
/* Writes the completion record's value to out (empty on entry). Non-zero: an error (the item
 * goes to the dead-letter topic with reason "complete failed: ", and the key is cleared). */
typedef int (*rill_completion_complete_cb)(const rill_record_t *item, const void *state,
                                           size_t state_len, rill_buf_t *out, void *opaque);

/*
 * The stream of completions of items over events (see above). name: the node's (NULL:
 * "KSTREAM-COMPLETE-<index>"); the operator's nodes are "<name>-items" and "<name>-events",
 * which feed the node called name; its store is "<name>-store". spec is copied. All four
 * callbacks are required.
 */
rill_stream_t *rill_stream_complete(rill_stream_t *items, rill_stream_t *events, const char *name,
                                    const rill_completion_spec_t *spec, rill_deadline_cb deadline,
                                    rill_completion_init_cb init,
                                    rill_completion_accumulate_cb accumulate,
                                    rill_completion_complete_cb complete, void *opaque);

/* ---------------------------------------------------------------------------------------- */
/* Joins                                                                                    */

/*
 *   rill_join_spec_t w = {.kind = RILL_JOIN_LEFT, .before_ms = 5000,
 *                         .after_ms = RILL_JOIN_SYMMETRIC, .grace_ms = 1000};
 *   rill_stream_t *j = rill_stream_join(clicks, views, "clicks-views", &w, pair_up, NULL);
 *   rill_stream_t *e = rill_stream_table_join(orders, users, "enrich", RILL_JOIN_INNER, 500,
 *                                             add_user, NULL);
 *   rill_table_t *t = rill_table_join(users, regions, "user-region", RILL_JOIN_LEFT, merge,
 *                                     NULL, "user-region-store");
 *
 * Joins follow Kafka Streams' KStream#join/leftJoin/outerJoin, KStream-KTable and
 * KTable-KTable joins, with the differences stated below (nothing is dropped silently).
 *
 * Co-partitioning. Both inputs of a join are matched by key within one task, so the source
 * topics of a join's sub-topology must have the same partition count and be partitioned the
 * same way by key (Kafka's default partitioner): the app refuses to start when the counts
 * differ. Re-key an input with rill_stream_repartition() or rill_stream_group_by() first. A
 * table joined with a stream or a table must be in the same sub-topology (it is: the join
 * connects them), read from a topic (rill_table_from()) or made by an aggregation; windowed
 * tables cannot be joined.
 *
 * The joiner. joiner(left, right, out, opaque) writes the result value's bytes to out (empty
 * on entry; an empty result is an empty value, not a tombstone); a side without a match is
 * NULL (left, right joins: right; outer joins: either, never both). The records are borrowed:
 * key, value bytes (NULL for a null value), timestamp; value_obj is NULL (records kept in a
 * store are bytes), and headers are those of the record being processed, or NULL. A non-zero
 * return sends the record being processed to the dead-letter topic (or, for a result emitted
 * when a window closes or a wait ends, the record held) and leaves the join's state as if the
 * result had been emitted. Called on the stream thread of the task, opaque last.
 *
 * Results of stream joins are records with key = the join key, value = the joiner's bytes
 * (value_serde NULL: bytes), window_kind 0; their timestamp is said below per join.
 *
 * Null keys. A stream record with a null key cannot meet anything: it goes to the dead-letter
 * topic with a reason beginning "null key: " (Kafka Streams drops it).
 */

typedef enum rill_join_kind_e {
    RILL_JOIN_INNER = 0, /* results only for matches */
    RILL_JOIN_LEFT = 1,  /* also each left record without a match, with right NULL */
    RILL_JOIN_OUTER = 2  /* also each record of either side without a match */
} rill_join_kind_t;

/* The value of after_ms that makes a join window symmetric (after_ms = before_ms, Kafka
 * Streams' JoinWindows.ofTimeDifferenceAndGrace). */
#define RILL_JOIN_SYMMETRIC (-1)

/*
 * A stream-stream join window (Kafka Streams' JoinWindows). A left record at t meets every
 * right record of its key at t' with t - before_ms <= t' <= t + after_ms, both bounds
 * included (so a right record at t' meets the left records in [t' - after_ms, t' +
 * before_ms]). after_ms = RILL_JOIN_SYMMETRIC takes before_ms. grace_ms bounds disorder: with
 * stream time T (the largest timestamp the join has seen on either side, and the task's), a
 * record of either side at r < T - grace_ms is late. All times >= 0 (except the symmetric
 * after_ms).
 */
typedef struct rill_join_spec_s {
    rill_join_kind_t kind;
    int64_t before_ms;
    int64_t after_ms;
    int64_t grace_ms;
} rill_join_spec_t;

/*
 * Writes the result of joining left and right (either may be NULL, see "The joiner") to out.
 * Return non-zero for an error.
 */
typedef int (*rill_joiner_cb)(const rill_record_t *left, const rill_record_t *right,
                              rill_buf_t *out, void *opaque);

/*
 * Joins two streams over the window spec (copied). Every record of either side is kept in a
 * window store of its side, "<name>-left-store" and "<name>-right-store" (logged, retention
 * before + after + grace + 1 ms), and meets the other side's records of its key in its window:
 * one result per matching pair, as soon as the second of the two arrives, timestamp = the
 * larger of the two, headers = those of the record that arrived second. Records of one key
 * and time are all kept (none overwrites another).
 *
 * Unmatched records (left join: left records; outer join: either side's) are not emitted
 * when they arrive: they wait in the key-value store "<name>-outer-store", keyed by [time]
 * [side][key], and are removed from it by their first match. A left record at t whose window
 * closes without a match, when stream time passes t + after_ms + grace_ms (T > t + after +
 * grace), is then emitted once with right = NULL, timestamp t, no headers (a right record at
 * t': when T > t' + before + grace, left = NULL). As records later than grace are refused,
 * no record that could match arrives after that: there is never a null result for a record
 * that gets a match. Closed windows are emitted as the join processes records and on stream
 * time punctuation, in time order.
 *
 * Late records (r < T - grace_ms) go to the dead-letter topic with a reason beginning
 * "late: " and meet nothing; rill_late_records_total counts them. A record with a negative
 * timestamp is dead-lettered too.
 *
 * Nodes: "<name>-left" under left, "<name>-right" under right, and "<name>", a merge of both
 * (name NULL: "KSTREAM-JOIN-<index>" for the base). Returns the stream of results (owned by
 * the topology), or NULL after recording the error in the topology.
 */
rill_stream_t *rill_stream_join(rill_stream_t *left, rill_stream_t *right, const char *name,
                                const rill_join_spec_t *spec, rill_joiner_cb joiner, void *opaque);

/*
 * Joins stream s with table t (kind RILL_JOIN_INNER or RILL_JOIN_LEFT): each stream record
 * meets the table's current row for its key (right: the row's value and timestamp), and the
 * result has the stream record's timestamp and headers. Table updates produce no result by
 * themselves (Kafka Streams' KStream-KTable join): the table's node is connected to the join
 * so that its updates reach the store before the stream records after them in the task's
 * timestamp order.
 *
 * A stream record whose key has no row:
 *  - grace_ms = 0: left join, joined with right = NULL at once; inner join, dead-lettered with
 *    a reason beginning "no table row within grace: " (Kafka Streams drops it silently).
 *  - grace_ms > 0: it waits, in the key-value store "<name>-buffer-store" keyed by [time][key]
 *    (plus an index by key), for the row to arrive. A row arriving while stream time T <=
 *    t + grace_ms joins it (timestamp t, no headers) at once, in time order; when T passes
 *    t + grace_ms it is joined with NULL (left) or dead-lettered as above (inner). The buffer
 *    holds at most the records of grace_ms of stream time. A record arriving already behind
 *    T - grace_ms does not wait. Records of a key that has a row never wait, so records of one
 *    key may leave the join out of their order when a row arrives.
 * A tombstone in the table deletes the row: later records meet no row.
 * rill_join_unmatched_total counts the stream records that met no row (joined with NULL or
 * dead-lettered).
 *
 * Nodes: "<name>-stream" under s, "<name>-table" under t's node, and "<name>", a merge of both
 * (name NULL: "KSTREAM-TABLE-JOIN-<index>"). Returns the stream of results, or NULL after
 * recording the error in the topology.
 */
rill_stream_t *rill_stream_table_join(rill_stream_t *s, rill_table_t *t, const char *name,
                                      rill_join_kind_t kind, int64_t grace_ms,
                                      rill_joiner_cb joiner, void *opaque);

/*
 * Joins two key-value tables into a new one, materialized in the key-value store called
 * store (NULL: "KTABLE-JOIN-STATE-STORE-<index>"; a name used twice is an error). Each update
 * of a row of a (the left side) or b (right) computes the key's result from the row's new
 * value and the other table's current row: inner, both rows present; left, a's row present
 * (b's may be NULL); outer, either present. When there is a result, it becomes the key's row
 * (value: the joiner's bytes; timestamp: the larger of the two rows' timestamps) and is
 * forwarded; when there is none (a row was deleted), the key's row is deleted and a tombstone
 * forwarded, but only when it had a row (no tombstone for a key that never had a result). The
 * result is a table like any other: rill_table_to_stream(), rill_table_group_by(), joins.
 *
 * Nodes: "<name>-left" under a's node, "<name>-right" under b's, and "<name>", the result
 * table's node under both (name NULL: "KTABLE-JOIN-<index>"). Returns the table (owned by the
 * topology), or NULL after recording the error in the topology.
 */
rill_table_t *rill_table_join(rill_table_t *a, rill_table_t *b, const char *name,
                              rill_join_kind_t kind, rill_joiner_cb joiner, void *opaque,
                              const char *store);

/* ---------------------------------------------------------------------------------------- */
/* Global tables                                                                            */

/*
 *   rill_global_table_t *cats = rill_global_table(topo, "categories", NULL, NULL);
 *   rill_stream_t *e = rill_stream_global_join(auctions, cats, "with-category",
 *                                              RILL_JOIN_LEFT, category_of, add_name, NULL);
 *
 * A global table (Kafka Streams' GlobalKTable) is a full copy of a topic's rows in every
 * process, for enrichment without co-partitioning: a stream joined with it may be keyed and
 * partitioned in any way, as its key mapper finds the row to look up.
 *
 * Reading. Each process reads every partition of the topic (assigned, outside the consumer
 * group) into a store of its own in its RocksDB: not partitioned, not logged (the topic is
 * its log). A record upserts its key's row (value and timestamp), a null value deletes it.
 * The store keeps, with the rows and in the same atomic write, the next offset of each
 * partition, so a restarted process reads only what came after (a kill -9 loses nothing:
 * what survives is rows and offsets of the same moment). Under exactly_once_v2 the topic is
 * read with read_committed.
 *
 * Bootstrap. rill_app_start() returns only once the store has caught up with the end of
 * every partition as it was at start (progress in the log every second), so the first stream
 * record already meets every row written before the app started. Afterwards a thread of the
 * app applies new records as they arrive: a stream record meets the row as of when it is
 * processed (not as of its event time), as in Kafka Streams. Partitions added to the topic
 * while the app runs are read from its next start.
 *
 * Bad records. A record with a null key, or a value that opts->value_serde cannot decode,
 * goes to the dead-letter topic with a reason beginning "global table \"<topic>\": " and is
 * not stored (errors.tolerance=none: the app stops). Its offset is stored only once the
 * dead-letter record is delivered (so a crash in between sends it again: at least once, also
 * under exactly_once_v2, as the reader has no transaction). Every process reads every
 * record, so each process that reads a bad record dead-letters it: N processes give N
 * copies, which the headers rill.source.topic/partition/offset identify as one.
 *
 * Observing. App metrics: rill_global_records_total (records this process read into its
 * global tables, dead-lettered ones included), rill_global_lag_records (records in the topics past
 * the stores' offsets, a gauge updated every second) and rill_global_dead_letters_total. The
 * topology printout lists each global table with the joins that read it.
 */
typedef struct rill_global_table_s rill_global_table_t;

/*
 * The global table of topic's rows, kept in store (NULL: "<topic>-global-store"; a store
 * name used twice in the topology is an error). opts: value_serde validates values (key
 * serde unused; keys are bytes), timestamp_extractor gives a row's timestamp (default: the
 * record's). Returns the table (owned by the topology) or NULL after recording the error.
 */
rill_global_table_t *rill_global_table(rill_topology_t *topo, const char *topic,
                                       const rill_source_opts_t *opts, const char *store);

/*
 * Joins stream s with global table g (kind RILL_JOIN_INNER or RILL_JOIN_LEFT). key_fn gets each
 * stream record and writes to out->key the key of the row to look up (key_null: none); the stream
 * record's own key may be anything, even null. A record whose row exists is joined with it (right:
 * the mapped key, the row's value and timestamp); the result has the stream record's key, timestamp
 * and headers. A record without a row, or for which key_fn gives a null key: left join, joined with
 * right = NULL; inner join, dead-lettered with a reason beginning "no global table row: ". key_fn
 * failing (non-zero) dead-letters the record. rill_join_unmatched_total counts the records that met
 * no row. Table updates produce no result by themselves.
 *
 * Node: one processor "<name>" under s (name NULL: "KSTREAM-GLOBAL-JOIN-<index>"). Returns
 * the stream of results, or NULL after recording the error in the topology.
 */
rill_stream_t *rill_stream_global_join(rill_stream_t *s, rill_global_table_t *g, const char *name,
                                       rill_join_kind_t kind, rill_mapper_cb key_fn,
                                       rill_joiner_cb joiner, void *opaque);

/* ---------------------------------------------------------------------------------------- */
/* Testing: the topology test driver                                                        */

/*
 * Runs a topology in this process with no broker and no Kafka client, as Kafka Streams'
 * TopologyTestDriver does: records piped into its source topics go at once through the same
 * task code, operators and RocksDB stores (in a fresh temporary state directory) as in an app;
 * what its sinks write, and its dead letters, are kept per topic to be read back.
 *
 *  - Every topic has one partition, so each sub-topology runs as one task (partition 0).
 *  - Time: a task's stream time is the largest timestamp (after the source's extractor) piped
 *    into any of its input topics: every input counts as caught up between two pipes. In an
 *    app an input that is behind holds its task's progress at its own time (docs/DESIGN.md,
 *    "Time and progress"); the driver has no such input. Wall-clock punctuators see the
 *    driver's clock, which starts at 0 ms and moves only with advance_wall_clock.
 *  - After each piped record and each wall-clock advance the driver commits, as an app does
 *    at its commit interval: operators flush (the record cache forwards what it held) and
 *    the stores' writes reach RocksDB. Stores have no changelog.
 *  - Refused by rill_test_driver_new, naming the node or topic: a topic the topology both
 *    writes and reads (a repartition topic, or a sink topic another node reads), FaaS stages
 *    and global tables.
 * Configuration as for rill_app_new (application.id required; bootstrap.servers and the
 * clients' settings are never used; state.dir is replaced by the temporary directory). Not
 * thread-safe: one thread uses a driver.
 */
typedef struct rill_test_driver_s rill_test_driver_t;

/* Creates a driver for topo with conf; takes ownership of both on success only. Fails
 * (NULL, errstr) as rill_app_new does, or naming what the driver cannot run. */
rill_test_driver_t *rill_test_driver_new(rill_topology_t *topo, rill_conf_t *conf, char *errstr,
                                         size_t errstr_size);

/* Runs one record (bytes copied; key or value may be NULL) with timestamp ts_ms through the
 * sub-topology reading topic, then commits. A record that fails goes to the dead-letter
 * topic, to be read as any output. RILL_ERR_INVALID_ARG when no source reads topic; another
 * error when the app would have stopped (errors.tolerance=none, a store failed): see
 * rill_test_driver_error(). */
rill_err_t rill_test_driver_pipe(rill_test_driver_t *drv, const char *topic, const void *key,
                                 size_t key_len, const void *value, size_t value_len,
                                 int64_t ts_ms);

/* As rill_test_driver_pipe, for rec's key, value, timestamp and headers (NULL: none; a
 * rill_headers_t is librdkafka's rd_kafka_headers_t, made with rd_kafka_headers_new), so a
 * test can give an input record a traceparent or other headers. */
rill_err_t rill_test_driver_pipe_record(rill_test_driver_t *drv, const char *topic,
                                        const rill_record_t *rec);

/* Takes the oldest record not yet read of topic (a sink's topic, or the dead-letter topic
 * errors.deadletterqueue.topic.name): returns 1 and fills *out (key, value, timestamp,
 * headers; value_obj NULL, window_kind 0: a windowed key is in the sink's layout), or 0 when
 * there is none. The record is owned by the driver until the next read or destroy. */
int rill_test_driver_read(rill_test_driver_t *drv, const char *topic, rill_record_t *out);

/* Moves the driver's wall clock forward by ms (>= 0), runs the wall-clock punctuators due,
 * then commits. */
rill_err_t rill_test_driver_advance_wall_clock(rill_test_driver_t *drv, int64_t ms);

/* The driver's wall clock, epoch ms (0 at creation). */
int64_t rill_test_driver_wall_clock(const rill_test_driver_t *drv);

/* Reads key from the key-value store called store (an aggregation's or a table's stores hold
 * an 8-byte big-endian timestamp, then the aggregate or value). Returns 1 and sets *valuep
 * and *lenp (owned by the driver until its next call), 0 when absent, or a negative
 * rill_err_t (RILL_ERR_INVALID_ARG: no key-value store of that name). */
int rill_test_driver_kv_get(rill_test_driver_t *drv, const char *store, const void *key,
                            size_t key_len, const void **valuep, size_t *lenp);

/* The same for the window store called store: the window of key starting at start_ms. */
int rill_test_driver_window_get(rill_test_driver_t *drv, const char *store, const void *key,
                                size_t key_len, int64_t start_ms, const void **valuep,
                                size_t *lenp);

/* Why the driver stopped (the fatal error an app would stop on), or NULL. Borrowed. */
const char *rill_test_driver_error(const rill_test_driver_t *drv);

/* Closes the tasks and stores, removes the temporary state directory, frees everything. */
void rill_test_driver_destroy(rill_test_driver_t *drv);

#ifdef __cplusplus
}
#endif
#endif /* RILL_H */
