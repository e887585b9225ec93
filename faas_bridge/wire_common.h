/*
 * wire_common.h — pieces shared by the wire formats (wire_*.c): appending JSON text, base64
 * and percent-encoded header values to a rill_buf_t, UTF-8 and JSON validation, RFC 3339
 * times. Private to faas_bridge/.
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
static inline void rill__wire_commit(rill_buf_t *buf, size_t n)
{
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

/* The format encoders behind rill__faas_encode (same contract). */
int rill__wire_ce_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs,
                         size_t n, rill_buf_t *body, rill_buf_t *hdrs);
int rill__wire_lambda_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs,
                             size_t n, rill_buf_t *body, rill_buf_t *hdrs);

#endif
