/*
 * rt_nexmark.h — the NEXMark integration tests' side of tests/progs/rill_nexmark_app: NEXMark
 * events generated with the rill_nexmark library and written to three real-Kafka topics,
 * kept in memory in a compact form for the tests' reference models, "watermark" records,
 * starting the app, and reading its JSON output back as canonical rows to compare.
 *
 * Conventions: as rill_test.h (setup errors fail the test; every wait has a timeout).
 */
#ifndef RT_NEXMARK_H
#define RT_NEXMARK_H

#include "rill_test.h"

#include <nexmark.h>

/* The fields of events the reference models need. */
typedef struct rt_nx_person_s {
    int64_t id, date_time;
    char name[24];
    const char *city, *state; /* static strings of the generator */
} rt_nx_person_t;

typedef struct rt_nx_auction_s {
    int64_t id, seller, category, reserve, date_time, expires;
} rt_nx_auction_t;

typedef struct rt_nx_bid_s {
    int64_t auction, bidder, price, date_time;
} rt_nx_bid_t;

/* One test's input, names and app. */
typedef struct rt_nexmark_s {
    nexmark_config_t cfg;
    uint64_t events;
    int partitions;
    char *app_id;                             /* also the prefix of the topics */
    char *persons, *auctions, *bids, *output; /* topic names */
    char *log;                                /* the app's log file */
    rt_nx_person_t *person;
    size_t person_cnt;
    rt_nx_auction_t *auction;
    size_t auction_cnt;
    rt_nx_bid_t *bid;
    size_t bid_cnt;
    int64_t max_time; /* the largest dateTime of any event */
} rt_nexmark_t;

/*
 * Makes unique names from prefix, creates the four topics with partitions partitions each
 * (persons, auctions, bids, output), generates events 0..events-1 with seed 1, rate 10,000
 * events/s of event time, out-of-order shift up to ooo_ms, no invalid events (other settings
 * NEXMark's defaults), writes them keyed and partitioned as the rill-nexmark CLI does (murmur2
 * of the decimal key; record timestamp = dateTime) and waits for every acknowledgement.
 */
void rt_nexmark_setup(rt_nexmark_t *nx, const char *prefix, uint64_t events, int64_t ooo_ms,
                      int partitions);

/* The same with cfg (checked here) instead of the defaults with seed 1 and ooo_ms. */
void rt_nexmark_setup_cfg(rt_nexmark_t *nx, const char *prefix, uint64_t events,
                          const nexmark_config_t *cfg, int partitions);

/* Appends the record (key, json) with timestamp ts to every partition of topic. */
void rt_nexmark_append_all_partitions(rt_nexmark_t *nx, const char *topic, const char *key,
                                      const char *json, int64_t ts);

/* Starts rill_nexmark_app --query query on nx's topics, as nx->app_id, with the -D
 * properties props (NULL-terminated, may be NULL) and the extra arguments extra (likewise).
 * Returns the pid. */
pid_t rt_nexmark_spawn(rt_nexmark_t *nx, const char *query, const char *const *props,
                       const char *const *extra);

/*
 * The canonical row of a JSON object: "f1=<v1>;f2=<v2>;..." over fields (NULL-terminated),
 * each value as compact JSON ("null" for null, "<absent>" when missing), then "+extra" when
 * the object has other fields; "<not json: ...>" when json is not an object. Caller frees.
 */
char *rt_nexmark_row(const char *json, const char *const *fields);

/* What rt_nexmark_finish() saw. */
typedef struct rt_nexmark_result_s {
    rt_records_t rows; /* the output with values made canonical (rt_nexmark_row) */
    rt_diff_t diff;
    int exit_code;        /* of the app after SIGTERM */
    double seconds;       /* from the call until the output was complete (or the timeout) */
    size_t dead_letters;  /* records in the app's dead-letter topic "<app-id>-dlq" */
    char dlq_report[512]; /* the first reasons (header rill.error) */
} rt_nexmark_result_t;

/*
 * Waits up to timeout_ms until the output, read with isolation_level and made canonical over
 * fields, holds every expected row, then SIGTERMs the app (pid), waits for it, reads the
 * whole output again and compares it with expected (a multiset of (key, canonical row)),
 * and reads the dead-letter topic.
 */
void rt_nexmark_finish(rt_nexmark_t *nx, pid_t pid, const rt_kvs_t *expected,
                       const char *const *fields, const char *isolation_level, int timeout_ms,
                       rt_nexmark_result_t *res);

/* The same; fields NULL compares the values as they are, and last_per_key compares only
 * the last record of each output key (queries whose output is a table's updates). */
void rt_nexmark_finish_as(rt_nexmark_t *nx, pid_t pid, const rt_kvs_t *expected,
                          const char *const *fields, const char *isolation_level, int timeout_ms,
                          int last_per_key, rt_nexmark_result_t *res);

void rt_nexmark_result_free(rt_nexmark_result_t *res);
void rt_nexmark_free(rt_nexmark_t *nx);

#endif
