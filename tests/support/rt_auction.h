/*
 * rt_auction.h — the end-to-end tests' side of the auction showcase (topologies/auction,
 * the rill-auction program): NEXMark input with invalid events written to the app's three
 * input topics on a real Kafka, a reference of every output topic computed here from the
 * same events (independently of the app's code: the rules of functions/README.md and
 * app_topology.c's documented outputs), starting rill-auction processes, reading every
 * output topic back (read_committed) in a canonical form and comparing.
 *
 * Conventions: as rill_test.h (setup errors fail the test; every wait has a timeout).
 */
#ifndef RT_AUCTION_H
#define RT_AUCTION_H

#include "rill_test.h"

#include <nexmark.h>

/* The app's topics, in the order of its --*-topic flags. */
enum {
    RT_AU_PERSONS = 0,
    RT_AU_AUCTIONS_RAW,
    RT_AU_BIDS_RAW,
    RT_AU_CATEGORIES, /* input the app fills itself (category names) */
    RT_AU_AUCTIONS,
    RT_AU_BIDS,
    RT_AU_AUCTIONS_REJECTED,
    RT_AU_BIDS_REJECTED,
    RT_AU_CLOSED,
    RT_AU_NOTIFICATIONS,
    RT_AU_SENT,
    RT_AU_CATEGORY_PRICE,
    RT_AU_SELLER_AVG,
    RT_AU_HOT_ITEMS,
    RT_AU_TOPIC_CNT
};

/* The first output topic (the ones before it are the input). */
#define RT_AU_FIRST_OUTPUT RT_AU_AUCTIONS

/* The app's windows and graces the reference needs (the app's flags). */
typedef struct rt_auction_params_s {
    int64_t grace_ms, hot_size_ms, hot_advance_ms, hot_grace_ms;
    const char *raw_max_message_bytes; /* the raw topics' max.message.bytes; NULL: default */
} rt_auction_params_t;

typedef struct rt_auction_s {
    nexmark_config_t cfg;
    uint64_t events;
    int partitions;
    char *name; /* unique prefix of the topics */
    char *topic[RT_AU_TOPIC_CNT];
    nexmark_event_t *ev; /* every event, by number */
    char **json;         /* its JSON as written */
    size_t persons, auctions, bids, invalid_auctions, invalid_bids;
    int64_t max_time; /* the largest dateTime */
    rt_auction_params_t params;
    /* rt_auction_setup_traced only (else NULL), per event number: where it was written and
     * the trace id (32 hex) of the traceparent it was given, "" when it had none or a
     * malformed one */
    int32_t *part;
    int64_t *offset;
    char (*trace)[33];
} rt_auction_t;

/* The reason the edge functions and rules give an invalid event (functions/README.md,
 * "Checks"), from how the generator broke it (nexmark.h); NULL for a valid one. buf holds
 * the "missing field" reasons. */
const char *rt_auction_reason(const nexmark_event_t *ev, char *buf, size_t size);

/*
 * Unique topic names from prefix; creates the three input topics with partitions each,
 * generates events 0..events-1 (seed 1, rate 10,000/s, dateTime shifted back by up to
 * ooo_ms, invalid_fraction of auctions and bids invalid) and writes them as the app's own
 * generator does (keyed, murmur2, timestamp = dateTime), waiting for every acknowledgement.
 */
void rt_auction_setup(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                      double invalid_fraction, int partitions, const rt_auction_params_t *p);

/* How the input is spread over partitions: as Rill and Kafka's Java clients (murmur2 of the
 * key), as librdkafka's default (consistent_random: CRC32 of the key, the default of
 * confluent-kafka for Python, Go and .NET), or a random partition per record. */
typedef enum rt_partitioning_e {
    RT_PART_MURMUR2 = 0,
    RT_PART_CONSISTENT_RANDOM,
    RT_PART_RANDOM
} rt_partitioning_t;

/* rt_auction_setup with the input written with another partitioning. */
void rt_auction_setup_as(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                         double invalid_fraction, int partitions, const rt_auction_params_t *p,
                         rt_partitioning_t how);
void rt_auction_free(rt_auction_t *a);

/*
 * rt_auction_setup (murmur2) with headers for lineage: a third of the events get no
 * traceparent, one in fifteen a malformed one, the others a valid one with a trace id the
 * test knows (a->trace[n]); a->part[n] and a->offset[n] say where event n was written
 * (from the delivery reports).
 */
void rt_auction_setup_traced(rt_auction_t *a, const char *prefix, uint64_t events, int64_t ooo_ms,
                             double invalid_fraction, int partitions, const rt_auction_params_t *p);

/*
 * Starts rill-auction on a's topics with --edge edge (FaaS urls from RILL_TEST_FN_*), as
 * application app_id, state directory state_dir, the -D properties props and the extra
 * arguments extra (NULL-terminated, may be NULL), output to log. Returns the pid.
 */
pid_t rt_auction_spawn(const rt_auction_t *a, const char *edge, const char *app_id,
                       const char *state_dir, const char *notify_file, const char *const *props,
                       const char *const *extra, const char *log);

/* The outputs in canonical form, per output topic (index RT_AU_*; input indices empty):
 *  auctions, bids, closed, hot-items: (key, value);
 *  *.rejected: (key, "<rill.reject.reason header>\t<value>");
 *  notifications: (key, row over person, auction, kind, price, name, emailAddress);
 *  sent: (key, row over person, auction, kind; "+extra" for sentAt and id);
 *  category-price, seller-avg: the last record of each key only. */
typedef struct rt_auction_out_s {
    rt_kvs_t t[RT_AU_TOPIC_CNT];
    size_t raw_cnt[RT_AU_TOPIC_CNT]; /* records read before taking last values */
    size_t dead_letters;             /* expected: valid bids whose auction never came */
    char dlq_report[1024];           /* reasons of the dead letters, counted by prefix */
} rt_auction_out_t;

/* The reference: what every output topic must hold for a's input. */
void rt_auction_expected(const rt_auction_t *a, rt_auction_out_t *exp);

/* Reads every output topic (isolation_level) and the dead-letter topic "<app_id>-dlq". */
void rt_auction_read(const rt_auction_t *a, const char *app_id, const char *isolation_level,
                     const rt_auction_out_t *expected, int timeout_ms, rt_auction_out_t *out);

/* Compares expected with actual topic by topic; logs every topic's diff (cr_log_info), puts
 * the differing ones in report. Returns the number of topics that differ. */
int rt_auction_compare(const rt_auction_t *a, const rt_auction_out_t *expected,
                       const rt_auction_out_t *actual, char *report, size_t report_size);

void rt_auction_out_free(rt_auction_out_t *o);

/* The app's defaults for the reference (grace 2 s; hot items 10 s windows every 2 s, grace
 * 1 s), and the -D properties of the tests under exactly_once_v2 (fast commits, a short
 * session so a killed member leaves the group quickly). */
extern const rt_auction_params_t rt_auction_default_params;
extern const char *const rt_auction_eos_props[];

/* Logs what the input and the reference hold. */
void rt_auction_log_input(const rt_auction_t *a, const rt_auction_out_t *exp);

/* Reads a's outputs of app_id (read_committed) into out and expects them to equal exp, with
 * no dead letter but valid bids whose auction never came (after their hold). */
void rt_auction_check_outputs(const rt_auction_t *a, const char *app_id,
                              const rt_auction_out_t *exp, rt_auction_out_t *out);

/* Runs one rill-auction process with --drain (props as -D, extra flags, may be NULL) until it
 * exits (at most timeout_ms); returns its exit code (negative: killed after the timeout). */
int rt_auction_run_one(const rt_auction_t *a, const char *edge, const char *app_id,
                       const char *const *props, const char *const *extra, int timeout_ms);

/* Runs three processes of app_id (static members, own state directories, --drain, extra
 * flags appended); when 40% of the closed auctions are written, SIGKILLs process 0 and starts
 * it again on its state directory; expects every process to exit 0 within timeout_ms. */
void rt_auction_run_three_one_killed(const rt_auction_t *a, const char *edge, const char *app_id,
                                     const char *const *props, const char *const *extra,
                                     int timeout_ms);
/* The file the notify function appends to: RILL_NOTIFY_FILE, as scripts/functions.sh gives
 * it, else $TMPDIR/rill-notifications.log. Borrowed. */
const char *rt_auction_notify_file(void);

/*
 * Checks the notify function's file for app_id's run (lines whose event id starts with
 * app_id: its notifications come from its repartition topic and its join's punctuations):
 * every expected notification exactly once, no event id twice. Returns non-zero when not,
 * with counts and examples in report (also the counts when it holds).
 */
int rt_auction_check_notified(const char *file, const char *app_id,
                              const rt_auction_out_t *expected, char *report, size_t report_size);

#endif
