/*
 * nx_int.h — the NEXMark queries of rill_nexmark_app, all reading their input as JSON text
 * (rill_serde_json_text(): members read from the bytes, no json-c tree): q0, q1, q2 (one
 * record in, at most one out), q5, q7 (windows, then the best of each window), q4, q6
 * (closed auctions, then an aggregate per category or seller), q3, q8 (joins of auctions
 * with persons) and the winning bids.
 * rill_nexmark_app.c documents every query's exact semantics and output; these files build them.
 *
 * DESIGN
 * Each query is one build function on the public API. Callbacks format their output into a
 * per-thread buffer (no allocation per record); values that cross a repartition topic or
 * live in a store are small fixed structs of int64 in host order (the program reads back
 * only what it wrote itself), and become JSON only at the sink.
 */
#ifndef NX_INT_H
#define NX_INT_H

#include <rill.h>

#include <stdint.h>

#define NX_WINDOW_MS INT64_C(10000) /* q5 window size, q7 tumbling window */
#define NX_HOP_MS INT64_C(2000)     /* q5 hop */
#define NX_Q2_SKIP 123              /* q2: auctions whose id is a multiple of this */
#define NX_Q6_LAST 10               /* q6: closed auctions per seller averaged */

/* The names a query reads and writes. */
typedef struct nx_topics_s {
    const char *persons, *auctions, *bids, *output;
} nx_topics_t;

/* Builds query into topo from src (string keys, JSON text values, dateTime as timestamp);
 * grace_ms: the windows' or closing's grace. Returns 0, or -1 for a query not here. */
int nx_build(rill_topology_t *topo, const char *query, const nx_topics_t *t,
             const rill_source_opts_t *src, int64_t grace_ms);

/* The grace of query when none is given (-1 for a query not here). */
int64_t nx_default_grace(const char *query);

/* Stateless queries (nx_stateless.c), windowed ones (nx_windows.c), closing ones
 * (nx_closing.c), joins (nx_joins.c). */
void nx_build_q0(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src);
void nx_build_q1(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src);
void nx_build_q2(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src);
void nx_build_q5(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_q7(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_q4(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_q6(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_q3(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_q8(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                 int64_t grace_ms);
void nx_build_winning(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src,
                      int64_t grace_ms);

/* Shared helpers (nx_common.c). */

/* The timestamp extractor: the event's dateTime, or -1 (rejected). */
int64_t nx_date_time(const rill_record_t *rec, void *opaque);
/* Integer member name of rec's JSON value: 1 and *out, or 0. */
int nx_int(const rill_record_t *rec, const char *name, int64_t *out);
/* Points out's value at this thread's text buffer after formatting fmt into it (JSON or a
 * key). Returns 0, or -1 when it does not fit. The text lives until the thread's next call. */
int nx_set_value(rill_map_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for out's key (a second buffer). */
int nx_set_key(rill_map_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends fmt's expansion (at most 255 bytes) to buf. Returns 0 or -1. */
int nx_append(rill_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses len bytes of decimal text; 0 and *out, or -1. */
int nx_parse_i64(const void *text, size_t len, int64_t *out);

#endif
