/*
 * rt_nexmark_query.h — one NEXMark query of rill_nexmark_app checked against a reference
 * model on a real Kafka: the tests of q0, q1, q2, q4, q5, q6 and q7 give the query, their
 * model and how to compare, and this runs the rest (rt_nexmark.h underneath).
 *
 * The input: RT_NXQ_EVENTS events, seed 1, RT_NXQ_RATE events per second of event time (so
 * the windows are many), disorder up to RT_NXQ_OOO_MS, RT_NXQ_PARTITIONS partitions; then one
 * watermark bid per bids partition (key "watermark", auction -1, bidder -1, price 0, at
 * rt_nxq_watermark_time()), written before the app starts, so it is the last record each
 * task reads and closes every window and auction.
 */
#ifndef RT_NEXMARK_QUERY_H
#define RT_NEXMARK_QUERY_H

#include "rt_nexmark.h"

#define RT_NXQ_EVENTS 100000
#define RT_NXQ_RATE 500
#define RT_NXQ_OOO_MS 500
#define RT_NXQ_PARTITIONS 4
/* Grace of the windows and closings: more than the disorder, and more than how long after
 * its auction's expiry a bid may come at this rate (bids name one of the newest 100 auctions,
 * about 3.4 s of event time here, and an auction may last as little as 1 ms), so that no
 * record of the input is late and nothing is dead-lettered. */
#define RT_NXQ_GRACE_MS 10000

/* Fills expected with the query's output computed from nx's events (wm: the watermark's
 * time, for queries that output the watermark bid too). */
typedef void (*rt_nxq_reference_cb)(const rt_nexmark_t *nx, int64_t wm, rt_kvs_t *expected);

typedef struct rt_nxq_s {
    const char *prefix, *query;
    rt_nxq_reference_cb reference;
    const char *const *fields;   /* canonical row fields (rt_nexmark_row), NULL: raw values */
    int last_per_key;            /* compare the last value of each key (table updates) */
    size_t min_rows;             /* the reference must have at least this many rows */
    const char *const *props;    /* -D properties; NULL: at_least_once, commits every 200 ms */
    const char *isolation_level; /* NULL: read_uncommitted */
} rt_nxq_t;

/* The watermark's time for nx: a minute past the last event and the last expiry, plus the
 * grace. */
int64_t rt_nxq_watermark_time(const rt_nexmark_t *nx);

/* The watermark bid's JSON at time wm, into buf. */
void rt_nxq_watermark_json(int64_t wm, char *buf, size_t size);

/* An auction's winning bid as NEXMark's winning-bids query decides it: among the bids with
 * auction.dateTime <= dateTime < expires and price >= reserve, the highest price, then the
 * earliest dateTime, then the lowest bidder. */
typedef struct rt_nxq_winner_s {
    int has;
    int64_t price, time, bidder;
} rt_nxq_winner_t;

/* The winner of every auction of nx (indexed like nx->auction). Caller frees. */
rt_nxq_winner_t *rt_nxq_winners(const rt_nexmark_t *nx);

/* Runs q: input, reference, app, comparison; fails the test on any difference, a non-zero
 * exit after SIGTERM, or a dead letter. */
void rt_nxq_check(const rt_nxq_t *q);

#endif
