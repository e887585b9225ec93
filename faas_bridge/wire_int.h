/*
 * wire_int.h — pieces shared by the wire formats (wire_*.c): appending JSON text, base64
 * and percent-encoded header values to a rill_buf_t, UTF-8 and JSON validation, RFC 3339
 * times. Private to faas_bridge/.
 *
 * It also declares the format table (rill__wire_format_t): one entry per wire_<name>.c, found
 * by the public enum value, which the encoder, the decoder and the stage's set-up call through.
 *
 * Every append helper returns 0, or -1 when memory ran out (the buffer then holds a partial
 * append and should be discarded by the caller, which fails the whole encode). All are pure
 * functions of their arguments and may be called from any thread.
 */
#ifndef RILL_WIRE_COMMON_H
#define RILL_WIRE_COMMON_H

#include "bridge_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a record value travels in a JSON document. */
typedef enum rill__wire_kind_e {
    RILL_WIRE_NULL = 0, /* no value (a tombstone): no data at all */
    RILL_WIRE_JSON,     /* valid JSON text (RFC 8259): embedded as is */
    RILL_WIRE_TEXT,     /* valid UTF-8 that is not JSON: a JSON string */
    RILL_WIRE_BINARY    /* anything else: base64 */
} rill__wire_kind_t;

/* Classifies a value. Cheap for text: the JSON check runs only when the first non-blank byte
 * can start a JSON value ({["-0-9tfn). */
rill__wire_kind_t rill__wire_classify(const void *value, size_t len);

/* True when p[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool rill__wire_utf8_valid(const void *p, size_t len);

/* True when p[0..len) is exactly one JSON value (RFC 8259), optionally surrounded by
 * whitespace, with valid UTF-8 in its strings and nesting at most 256 deep. */
bool rill__wire_json_valid(const void *p, size_t len);

/* Makes room for extra more bytes (plus the trailing NUL) and returns where they go, or NULL
 * when memory ran out. Follow with rill__wire_commit(buf, n) for the n bytes written. */
char *rill__wire_grow(rill_buf_t *buf, size_t extra);
static inline void rill__wire_commit(rill_buf_t *buf, size_t n) {
    buf->len += n;
    buf->data[buf->len] = '\0';
}

/* Appends the NUL-terminated string s. */
int rill__wire_cstr(rill_buf_t *buf, const char *s);
/* Appends s plus its terminating NUL, counted in buf->len (for header lists). */
int rill__wire_cstr0(rill_buf_t *buf, const char *s);
/* Appends v in decimal. */
int rill__wire_i64(rill_buf_t *buf, int64_t v);
/* Appends a JSON string literal ("..." with escapes) for p[0..len). Bytes that are not valid
 * UTF-8 are written as U+FFFD, so the output is always valid JSON. */
int rill__wire_json_str(rill_buf_t *buf, const void *p, size_t len);
/* Appends the standard base64 (RFC 4648, with padding) of p[0..len), no quotes. */
int rill__wire_base64(rill_buf_t *buf, const void *p, size_t len);
/* Appends p[0..len) percent-encoded for an HTTP header value as the CloudEvents HTTP binding
 * requires: space, '"', '%' and every byte outside 0x21..0x7E become %XX. */
int rill__wire_pct(rill_buf_t *buf, const void *p, size_t len);

/* Writes epoch milliseconds ms as RFC 3339 UTC with milliseconds ("2018-12-17T22:10:50.987Z")
 * into out. Returns the length, or -1 when ms is negative or past year 9999. */
int rill__wire_rfc3339(int64_t ms, char out[32]);

/* ---- the format table ---- */

/* A decode in progress (wire_response.c): what a format's reader has matched so far. */
typedef struct rill__wire_dec_s rill__wire_dec_t;
struct json_object;

/* Where a stage's requests go and how they are signed, as a format sets it up: strings
 * allocated with malloc, owned by the stage's configuration from then on (set or not). */
typedef struct rill__wire_route_s {
    char *url;           /* the full request URL */
    char *sigv4;         /* libcurl's CURLOPT_AWS_SIGV4 ("aws:amz:<region>:lambda") or NULL */
    char *userpwd;       /* "<key>:<secret>" for SigV4, or NULL */
    char *session_token; /* x-amz-security-token, or NULL */
} rill__wire_route_t;

/*
 * One wire format: everything the bridge does differently per format. Each wire_<name>.c
 * defines one entry, rill__wire_<name>, declared and listed only in wire_format.c's table;
 * rill__wire_format_of() finds it by the public enum value. The functions keep no state and
 * may be called from any thread (route may read the environment).
 */
typedef struct rill__wire_format_s {
    rill_faas_format_t format; /* the public value this entry answers to */
    const char *name;          /* "cloudevents", "lambda": for messages */
    /* Sets up a stage's target (faas_conf.c): fills route from opts (defaults applied),
     * the stage's node name and its function name. The URL is checked afterwards by the
     * caller (url_check.c). Returns 0, or -1 with errstr; route's strings are freed by the
     * caller either way. */
    int (*route)(const char *node_name, const char *function, const rill_faas_opts_t *opts,
                 rill__wire_route_t *route, char *errstr, size_t errstr_size);
    /* Encodes a batch of n >= 1 records: rill__faas_encode's contract (bridge_int.h). */
    int (*encode)(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                  rill_buf_t *body, rill_buf_t *hdrs);
    /* Reads a 2xx body that is not blank, through the rill__wire_dec_* calls below. root is
     * the parsed body (NULL for JSON null); when the body is not JSON, why is json-c's
     * reason (root is then NULL), else why is NULL. Returns 0, or -1 after
     * rill__wire_dec_fail. */
    int (*decode)(rill__wire_dec_t *dec, struct json_object *root, const char *body, size_t len,
                  const char *why);
} rill__wire_format_t;

/* The entry for a public format value, or NULL for a value no entry answers to (the
 * caller fails with a message naming the value). wire_format.c. */
const rill__wire_format_t *rill__wire_format_of(rill_faas_format_t format);

/* What a format's decode may do (wire_response.c). */
/* The number of records in the batch being decoded. */
size_t rill__wire_dec_n(const rill__wire_dec_t *dec);
/* Matches a "results" array to the records (README, "Function responses"). */
int rill__wire_dec_results(rill__wire_dec_t *dec, struct json_object *results);
/* Marks the records a "batchItemFailures" array names as failed. */
int rill__wire_dec_failures(rill__wire_dec_t *dec, struct json_object *failures);
/* Takes body[0..len) as the one output value of a single-record batch. Returns 0. */
int rill__wire_dec_raw(rill__wire_dec_t *dec, const char *body, size_t len);
/* Fails the decode with a message. Returns -1. */
__attribute__((format(printf, 2, 3))) int rill__wire_dec_fail(rill__wire_dec_t *dec,
                                                              const char *fmt, ...);

#endif
