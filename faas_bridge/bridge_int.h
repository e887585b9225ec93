/*
 * bridge_int.h — internal interfaces of the ordered async FaaS bridge.
 *
 * Three parts, each in its own files:
 *  1. The HTTP bridge thread (http_bridge.c): one per process, one libcurl multi handle for
 *     every FaaS stage. Stream threads submit requests; it runs them concurrently and hands
 *     each completion back to the submitting stream thread's completion queue, then wakes
 *     that thread with the callback given at submit time.
 *  2. Wire formats (wire_format.c, wire_cloudevents.c, wire_lambda.c, wire_response.c):
 *     encode a batch of records into a request body and headers; decode a response body
 *     into one result per record. Each format is one entry of a table (rill__wire_format_t,
 *     wire_int.h) that these entry points call through.
 *  3. The stage operator (faas_stage.c, faas_reorder.c): batching, sequence numbers, the reorder
 *     buffer, retries, bisection, dead-lettering, the commit watermark, backpressure.
 */
#ifndef RILL_BRIDGE_INT_H
#define RILL_BRIDGE_INT_H

#include "rill.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------- */
/* 1. HTTP bridge thread                                                                    */

typedef struct rill__http_s rill__http_t;

/* One request. All memory is owned by the submitter and must stay valid until the
 * completion has been taken from the completion queue. */
typedef struct rill__http_req_s {
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    const char *body;
    size_t body_len;
    long timeout_ms;
    /* SigV4 (Lambda): when aws_sigv4 is non-NULL ("aws:amz:<region>:lambda"), the request is
     * signed by libcurl with user:password = access key : secret (CURLOPT_USERPWD) and, when
     * session_token is set, an "x-amz-security-token" header is added. */
    const char *aws_sigv4;
    const char *aws_userpwd;
    const char *aws_session_token;
    bool verify_tls;       /* default true; only tests against self-signed servers turn it off */
    size_t max_body_bytes; /* a larger response body fails the request; 0: 6 MiB */
    bool h2c; /* http:// only: HTTP/2 with prior knowledge, multiplexed (http_bridge.c) */
} rill__http_req_t;

/* The result of a request, filled by the bridge thread. */
typedef struct rill__http_resp_s {
    int curl_code;   /* CURLcode; 0 = the exchange completed */
    long status;     /* HTTP status, 0 when no response */
    char error[256]; /* curl's error text when curl_code != 0 */
    char *body;      /* response body (owned; freed by rill__http_done_free) */
    size_t body_len;
    long retry_after_ms;     /* Retry-After header (seconds or HTTP date) in ms, or -1 */
    char function_error[64]; /* X-Amz-Function-Error value, or "" */
    char content_type[128];
    double total_ms; /* time from submit to completion */
    double fn_ms;    /* the first dur= of a Server-Timing header (the function's own
                        time, ms), or -1 */
    long connects;   /* connections this request had to open (0: it reused one) */
} rill__http_resp_t;

/* A completed request as it comes back to the submitting stream thread. */
typedef struct rill__http_done_s {
    struct rill__http_done_s *next; /* queue link, owned by the queue */
    const rill__http_req_t *req;
    void *opaque; /* the submitter's, e.g. the in-flight batch */
    rill__http_resp_t resp;
} rill__http_done_t;

/* A stream thread's completion queue: an MPSC queue (mutex) and the wake-up to call when a
 * completion is pushed. */
typedef struct rill__http_cq_s rill__http_cq_t;

/* Creates the bridge thread with at most max_connections open and max_in_flight requests
 * at once process-wide (more are queued in submit order). Returns NULL with errstr. */
rill__http_t *rill__http_new(int max_in_flight, int max_connections, char *errstr,
                             size_t errstr_size);
/* Stops the thread: requests in flight are aborted and completed with curl_code
 * CURLE_ABORTED_BY_CALLBACK. Then frees. NULL-safe. */
void rill__http_destroy(rill__http_t *http);

/* Creates a completion queue whose pushes call wake(wake_opaque) from the bridge thread
 * (the stream thread's wake-up: rd_kafka_queue_yield on its consumer queue). Wake-ups are
 * coalesced: wake is called when a push makes the queue non-empty, so after each wake-up the
 * owner must take everything (rill__http_cq_take does). wake runs with the queue's lock held
 * and must not call into the queue. */
rill__http_cq_t *rill__http_cq_new(void (*wake)(void *wake_opaque), void *wake_opaque);
/* Frees completions still queued. No request submitted with cq may still be outstanding
 * (rill__http_destroy completes every outstanding request, aborted). */
void rill__http_cq_destroy(rill__http_cq_t *cq);

/* Submits req; its completion is pushed to cq with opaque. Thread-safe, never blocks on the
 * network. Returns 0, or -1 when the bridge is stopping. */
int rill__http_submit(rill__http_t *http, const rill__http_req_t *req, rill__http_cq_t *cq,
                      void *opaque);

/* Takes every queued completion (a linked list in completion order, NULL when empty).
 * Thread-safe, non-blocking. */
rill__http_done_t *rill__http_cq_take(rill__http_cq_t *cq);

/* Frees a completion (its response body too; resp.body is NUL-terminated). */
void rill__http_done_free(rill__http_done_t *done);

/* The default bound of a response body (Lambda's synchronous response limit). */
#define RILL__HTTP_DEFAULT_MAX_BODY ((size_t)6 << 20)

/* URL policy (url_check.c). Checks that url is http:// or https:// and, for http://, that
 * its host is loopback unless allow_insecure_http. Returns 0, or -1 with errstr. */
int rill__url_check(const char *url, bool allow_insecure_http, char *errstr, size_t errstr_size);
/* True when url starts with "https://" (any case). */
bool rill__url_is_https(const char *url);
/* True when url's host is localhost, an address in 127.0.0.0/8 or ::1. */
bool rill__url_host_is_loopback(const char *url);

/* Requests in flight (a gauge), total completed, for metrics. Thread-safe. */
int rill__http_in_flight(const rill__http_t *http);
uint64_t rill__http_completed(const rill__http_t *http);
/* Connections opened since the bridge started (libcurl's CURLINFO_NUM_CONNECTS, summed).
 * Thread-safe. */
uint64_t rill__http_connects(const rill__http_t *http);

/* ---------------------------------------------------------------------------------------- */
/* 2. Wire formats                                                                          */

/* The longest event id (with its NUL). */
#define RILL__FAAS_ID_MAX 320

/* One input record of a batch, as the stage keeps it (copies of the bytes). */
typedef struct rill__faas_rec_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const rill_headers_t *headers; /* may be NULL */
    char id[RILL__FAAS_ID_MAX];    /* its own id: "<origin>-<n>" (faas_reorder.c) */
    /* lineage.enable: the W3C traceparent of the call ("00-<trace>-<span>-<flags>", a span
     * of the record's trace), sent as the CloudEvents traceparent attribute and as the
     * Lambda record's traceparent header; "" when lineage is off. */
    char traceparent[56];
} rill__faas_rec_t;

/* What the encoder needs to know about the target. */
typedef struct rill__faas_target_s {
    rill_faas_format_t format; /* the public value; its wire_*.c entry does the work */
    const char *function;      /* function name (Lambda: the plain name) */
    const char *source;        /* CloudEvents "source" attribute, e.g. "/rill/<app>/<node>" */
    const char *event_type;    /* CloudEvents "type", e.g. "dev.rill.record" */
    const char *bootstrap;     /* Lambda event's bootstrapServers */
} rill__faas_target_t;

/*
 * Encodes recs[0..n) into body (appended) and header lines (appended to hdrs as
 * NUL-terminated strings, e.g. "Content-Type: application/cloudevents-batch+json").
 * CloudEvents: n == 1 → binary mode (ce-* headers, body = value bytes, ce-partitionkey =
 * key); n > 1 → structured batch (a JSON array of events: specversion, id, source, type,
 * time, datacontenttype, partitionkey, and data (JSON value when the bytes are JSON, a JSON
 * string when they are other UTF-8 text, else data_base64)). Lambda: the event shape of
 * Lambda's self-managed Kafka trigger ({"eventSource": "SelfManagedKafka", "bootstrapServers",
 * "records": {"<topic>-<partition>": [{topic, partition, offset, timestamp, timestampType,
 * key (base64), value (base64), headers}]}}).
 * Returns 0, or -1 (n == 0, a format with no table entry, out of memory).
 */
int rill__faas_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                      rill_buf_t *body, rill_buf_t *hdrs);

/* One output record of a function. */
typedef struct rill__faas_out_s {
    const char *key; /* NULL: keep the input key */
    size_t key_len;
    const char *value; /* NULL: no value (a tombstone: "value" null or missing) */
    size_t value_len;
} rill__faas_out_t;

/* The result for one input record. */
typedef struct rill__faas_result_s {
    bool failed;       /* the function reported an error for this record */
    const char *error; /* its reason, when failed */
    rill__faas_out_t *outs;
    size_t out_cnt;
} rill__faas_result_t;

/* Decoded response: results[i] belongs to recs[i]. All pointers point into the arena. */
typedef struct rill__faas_response_s {
    rill__faas_result_t *results;
    size_t n;
    rill_buf_t arena;
} rill__faas_response_t;

/*
 * Decodes a successful (2xx) response body for a batch of n records (recs, for matching by
 * id). The documented response format (README, "Function responses"):
 *   {"results": [ {"id": "<event id>", "records": [{"key": "k", "value": <JSON>}...]}
 *                 | {"id": "<event id>", "error": "reason"} ... ]}
 * a "value" that is a JSON string is used as its raw text, any other JSON value as its JSON
 * text; a missing "key" keeps the input key. Entries are matched by id; a record with no
 * entry produces no output (filtered). For Lambda, "batchItemFailures":
 * [{"itemIdentifier": "<id>"}] marks those records failed (partial batch response).
 * A CloudEvents binary-mode response to a single event (n == 1) with a body that is not this
 * shape is taken as the one output value (Content-Type tells nothing more). An empty 2xx body
 * means no outputs for any record. Anything else malformed returns -1 with errstr (a
 * failure of the whole invocation, never a crash), and so does a target whose format has
 * no table entry. Reset out before reuse with
 * rill__faas_response_reset.
 */
int rill__faas_decode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                      const char *body, size_t body_len, rill__faas_response_t *out, char *errstr,
                      size_t errstr_size);
void rill__faas_response_reset(rill__faas_response_t *out);
void rill__faas_response_free(rill__faas_response_t *out);

#endif
