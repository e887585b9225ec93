/*
 * lineage_int.h — the trace context a record carries through a topology: a W3C Trace
 * Context `traceparent` (version 00) and the `rill.lineage` chain of source positions.
 *
 * DESIGN
 * One fixed-size value per record being processed (rill__trace_t), filled from the input
 * record's headers or started fresh, so nothing is allocated per record. The chain is text
 * ("<topic>/<partition>@<offset>" hops joined by '>', oldest first) bounded by a cap the app
 * configures (lineage.max.bytes): when a hop would not fit, the oldest hops are dropped and
 * the chain starts with the marker "~>". `other` holds, for a record derived from two inputs,
 * the second input's "<trace-id>:<chain>" (docs/DESIGN.md, "Tracing and lineage"). Trace and
 * span ids come from a per-thread xoshiro256** generator seeded once from getrandom(2)
 * (non-blocking), so starting a trace costs no system call.
 */
#ifndef RILL_LINEAGE_INT_H
#define RILL_LINEAGE_INT_H

#include "rill.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RILL__TRACEPARENT_LEN 55   /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define RILL__LINEAGE_CAP_MAX 4096 /* the largest lineage.max.bytes */
#define RILL__LINEAGE_CAP_MIN 64
#define RILL__LINEAGE_DROPPED "~>" /* a chain that lost its oldest hops starts so */

#define RILL__HDR_TRACEPARENT RILL_HEADER_TRACEPARENT
#define RILL__HDR_LINEAGE RILL_HEADER_LINEAGE
#define RILL__HDR_LINEAGE_OTHER RILL_HEADER_LINEAGE_OTHER

typedef struct rill__trace_s {
    uint8_t trace_id[16];
    uint8_t flags;
    bool started;   /* a new trace: the input had no valid traceparent */
    bool malformed; /* ... because the one it had was malformed */
    bool truncated; /* a hop pushed older hops out of chain or other */
    uint16_t chain_len, other_len;
    char chain[RILL__LINEAGE_CAP_MAX + 1];
    char other[RILL__LINEAGE_CAP_MAX + 1];
} rill__trace_t;

/* Parses a traceparent header value. Accepts version 00 exactly (55 characters) and, as
 * the specification asks, a later version's first 55 characters followed by '-'; refuses
 * version ff, upper-case or non-hex digits, an all-zero trace id or parent id. Returns 0
 * and fills what is non-NULL, or -1. */
int rill__traceparent_parse(const void *value, size_t len, uint8_t trace_id[16],
                            uint8_t parent_id[8], uint8_t *flags);

/* Writes "00-<trace id>-<parent id>-<flags>" and a NUL into out; returns 55. */
size_t rill__traceparent_format(char out[RILL__TRACEPARENT_LEN + 1], const uint8_t trace_id[16],
                                const uint8_t parent_id[8], uint8_t flags);

/* Fills out with n random bytes from the calling thread's generator, never all zero for
 * n >= 8 (a zero id is invalid). */
void rill__trace_random(uint8_t *out, size_t n);

/* Lower-case hex of n bytes into out (2n characters, no NUL). */
void rill__hex(char *out, const uint8_t *bytes, size_t n);

/* Appends the hop "<topic>/<partition>@<offset>" to chain (length *len, at most cap bytes,
 * buffer cap + 1), dropping the oldest hops behind RILL__LINEAGE_DROPPED when it would not
 * fit. Returns 1 when hops were dropped, else 0. */
int rill__lineage_add_hop(char *chain, uint16_t *len, size_t cap, const char *topic,
                          int32_t partition, int64_t offset);

/* Copies a chain read from a header into chain (the same bounds), keeping its newest hops
 * when it is longer than cap. Returns 1 when hops were dropped, else 0. */
int rill__lineage_set(char *chain, uint16_t *len, size_t cap, const char *value, size_t vlen);

/*
 * Fills t for a record read from (topic, partition, offset) whose headers gave the values
 * below (NULL when absent): the trace id from traceparent (or a new trace: t->started, and
 * t->malformed when one was there but invalid), the chain of lineage plus this hop, and the
 * other chain as it came. topic NULL: a record with no input position (a punctuation).
 */
void rill__trace_from(rill__trace_t *t, size_t cap, const void *traceparent, size_t tp_len,
                      const void *lineage, size_t lin_len, const void *other, size_t other_len,
                      const char *topic, int32_t partition, int64_t offset);

/* Sets t->other to "<t2's trace id>:<t2's chain>" (bounded by cap, newest hops kept). */
void rill__trace_set_other(rill__trace_t *t, size_t cap, const rill__trace_t *t2);

/* A compact copy of t for state and the FaaS stage's chunk: [16 id][1 flags][2 len][chain]
 * [2 len][other]. rill__trace_blob_size() is its size; _put writes it, _get reads it back
 * (-1 when it is not one). */
size_t rill__trace_blob_size(const rill__trace_t *t);
void rill__trace_blob_put(void *out, const rill__trace_t *t);
int rill__trace_blob_get(rill__trace_t *t, const void *blob, size_t len);

/* Appends [length 2B big-endian][t's compact copy] to out (how stores keep a held record's
 * trace next to it); 0, or -1 when memory ran out. */
int rill__trace_blob_append(rill_buf_t *out, const rill__trace_t *t);

#endif
