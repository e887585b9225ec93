/*
 * rill_nexmark_app.c — NEXMark queries on Rill's public API, run by the NEXMark integration
 * tests (tests/integration/test_nexmark_*.c) as separate processes and by the NEXMark suite
 * (bench/nexmark_suite.sh) beside their Kafka Streams peers (bench/peers/kafka-streams/).
 * Input is what the rill-nexmark generator writes: JSON persons keyed by person id, auctions
 * keyed by auction id, bids keyed by their auction id (auctions and bids co-partitioned).
 * Every source reads string keys and JSON values, with the event's "dateTime" as its
 * timestamp; every query (tests/progs/nexmark/) reads the JSON as text
 * (rill_serde_json_text()) and writes its output's text itself.
 *
 *   rill_nexmark_app --query q0|q1|q2|q3|q4|q5|q6|q7|q8|winning --persons T --auctions T
 *                    --bids T --output T --app-id ID [--grace-ms N] [Rill flags]
 *
 * DESIGN
 * The semantics below are exact, so that the Kafka Streams peer computes the same output.
 * Output values are compact JSON with the members in the order given. "Every record" queries
 * (q0-q3, q8) are compared as multisets of (key, value); "final per key" queries (q4-q7)
 * write updates of a table and are compared by the last value of each key. Windows are
 * epoch-aligned; a window [s, e) closes when its task's stream time reaches e + grace, and a
 * record is late only when late in its own input partition (docs/DESIGN.md, "Time and
 * progress"). A "watermark" bid (auction < 0, or a key that is not a number) moves time like
 * any bid and is dropped after the windows and closings; inputs end with one per bids
 * partition so that the last windows and auctions close.
 *
 * q0, passthrough: every bid as it is (key and value bytes), the watermark included.
 *
 * q1, currency conversion: every bid (watermark included), key kept, value
 * {"auction","bidder","price","dateTime"} with price = dollars cents * 908 / 1000 (integer
 * division: euro cents at NEXMark's 0.908).
 *
 * q2, selection: bids whose auction is a multiple of 123, key kept, value {"auction","price"}.
 *
 * q4, average closing price per category: auctions close as in "winning" (below; grace
 * default 2 s); an auction with a winner adds its winning price to its category, re-keyed
 * through "<app-id>-q4-by-category-repartition". Key = category, value
 * {"category","auctions","avg"}: auctions closed with a winner, avg = sum / auctions
 * (integer division). Final per key.
 *
 * q5, hot items: bids counted per auction in hopping windows of 10 s every 2 s, emitted
 * once when each window closes (grace default 2 s); per window, the auction with the most
 * bids (ties: the lowest auction id), re-keyed through "<app-id>-q5-windows-repartition".
 * Key = window start, value {"starttime","auction","count"}. Final per key.
 *
 * q6, average selling price by seller: closings as q4, re-keyed by seller through
 * "<app-id>-q6-by-seller-repartition"; each seller's last 10 auctions closed with a winner,
 * "last" by (expires, auction id) so that the order closings arrive in does not matter. Key =
 * seller, value {"seller","auctions","avg"}: how many are kept (at most 10) and the integer
 * mean of their winning prices. Final per key.
 *
 * q7, highest bid: per tumbling 10 s window (grace default 2 s), the best bid of each auction
 * when the window closes, then the best of the window through
 * "<app-id>-q7-windows-repartition": highest price, then earliest dateTime, then lowest
 * bidder, then lowest auction. Key = window start, value
 * {"starttime","auction","price","bidder","dateTime"}. Final per key.
 *
 * q3, local item suggestion (NEXMark's incremental join): auctions of category 10, re-keyed
 * by seller through the repartition topic "<app-id>-q3-auctions-by-seller-repartition", join
 * the table of persons (rill_table_from, store "q3-persons-store") in a stream-table inner
 * join with grace (default 10 s). A person is written once and never changes, so the table
 * join gives every (auction, seller) pair exactly once when both are present: an auction
 * whose seller's row is there joins at once; one that comes first (NEXMark lets an auction
 * name a person created a little later, and events are out of order) waits up to the grace
 * in stream time for the row. Unlike NEXMark's unbounded state, an auction whose seller does
 * not come within the grace is dead-lettered ("no table row within grace: "). The joiner
 * writes an empty value for a seller outside OR, ID and CA (the table holds every person),
 * and a filter drops those. Output: key = seller id, value
 * {"name","city","state","id"} (id: the auction's).
 *
 * q8, monitor new users: persons (keyed by id) join auctions re-keyed by seller
 * ("<app-id>-q8-auctions-by-seller-repartition") in a stream-stream inner join with
 * before = after = 9999 ms, which holds every pair in the same 10 s tumbling window
 * (|t_person - t_auction| < 10 s); the joiner keeps the pairs whose times fall in the same
 * epoch-aligned window [n*10s, (n+1)*10s) and writes an empty value for the others, which a
 * filter drops. One row per (person, auction) pair, as Beam's Query8 (Flink's SQL version
 * outputs the distinct (id, name, starttime) of these rows). Output: key = person id, value
 * {"id","name","starttime","auction"}. grace (default 60 s) must cover how far the persons
 * side may run ahead of the repartitioned auctions in the join's task: the task waits only
 * for records known to exist (max.task.idle.ms = 0), so when the input is all there before
 * the app starts, persons can be read ahead of auctions still on their way through the
 * repartition topic by up to the whole input's span.
 *
 * winning, the winning bids of q4 and q9: completion (rill_stream_complete) of auctions
 * over bids, both keyed by auction id, deadline = the auction's expires, grace (default
 * 2 s) for disorder, no hold limit. A bid counts for an auction when
 * dateTime <= bid.dateTime < expires; it can win when also price >= reserve; the winner has
 * the highest price, then the earliest dateTime, then the lowest bidder. One row per auction
 * when stream time passes expires + grace: key = auction id, value
 * {"auction","bidder","price","bids"}, bidder and price null without a winner, bids = the
 * number of bids that counted.
 *
 * It runs until SIGTERM or SIGINT, then stops cleanly (commit, leave the group).
 */
#include <rill.h>

#include "nexmark/nx_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                             */

static const char *const own_flags[] = {"--query",  "--persons", "--auctions", "--bids",
                                        "--output", "--app-id",  "--grace-ms"};
#define OWN_FLAG_CNT (sizeof(own_flags) / sizeof(own_flags[0]))

/* Finds the value of --name in argv (as "--name V" or "--name=V"), or NULL. */
static const char *flag_value(int argc, char **argv, const char *name) {
    size_t len = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], name) && i + 1 < argc)
            return argv[i + 1];
        if (!strncmp(argv[i], name, len) && argv[i][len] == '=')
            return argv[i] + len + 1;
    }
    return NULL;
}

/* Checks that the tokens rill_cli_parse() left are only our flags. Returns 0 or -1. */
static int check_extra_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t k = 0, len = 0;
        for (; k < OWN_FLAG_CNT; k++) {
            len = strlen(own_flags[k]);
            if (!strncmp(argv[i], own_flags[k], len) &&
                (argv[i][len] == '\0' || argv[i][len] == '='))
                break;
        }
        if (k == OWN_FLAG_CNT) {
            fprintf(stderr, "rill_nexmark_app: unknown argument \"%s\"\n", argv[i]);
            return -1;
        }
        if (argv[i][len] == '\0')
            i++; /* its value */
    }
    return 0;
}

/* Builds the query's topology, or returns NULL for an unknown query. *grace_msp: the grace
 * given, or -1 for the query's default (then set to it). */
static rill_topology_t *build(const char *query, const char *persons, const char *auctions,
                              const char *bids, const char *output, int64_t *grace_msp) {
    rill_source_opts_t src = {.key_serde = rill_serde_string(),
                              .value_serde = rill_serde_json_text(),
                              .timestamp_extractor = nx_date_time};
    nx_topics_t topics = {persons, auctions, bids, output};
    rill_topology_t *topo = rill_topology_new();
    int64_t default_grace = nx_default_grace(query);
    if (default_grace < 0) {
        rill_topology_destroy(topo);
        return NULL;
    }
    *grace_msp = *grace_msp < 0 ? default_grace : *grace_msp;
    nx_build(topo, query, &topics, &src, *grace_msp);
    return topo;
}

int main(int argc, char **argv) {
    char errstr[512];
    /* The topology needs the names before rill_cli_parse() (which may describe it), so our
     * flags are read first and checked again among the tokens it leaves. */
    const char *query = flag_value(argc, argv, "--query");
    const char *persons = flag_value(argc, argv, "--persons");
    const char *auctions = flag_value(argc, argv, "--auctions");
    const char *bids = flag_value(argc, argv, "--bids");
    const char *output = flag_value(argc, argv, "--output");
    const char *app_id = flag_value(argc, argv, "--app-id");
    const char *grace = flag_value(argc, argv, "--grace-ms");
    int64_t grace_ms = grace ? strtoll(grace, NULL, 10) : -1;
    rill_topology_t *topo =
        build(query ? query : "q3", persons ? persons : "persons", auctions ? auctions : "auctions",
              bids ? bids : "bids", output ? output : "output", &grace_ms);
    if (!topo) {
        fprintf(stderr, "rill_nexmark_app: unknown query \"%s\" (q0 to q8, or winning)\n", query);
        return 2;
    }
    rill_conf_t *conf = rill_conf_new();
    int rc = app_id ? rill_conf_set(conf, "application.id", app_id, errstr, sizeof(errstr)) : 0;
    if (!rc)
        rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc < 0)
        fprintf(stderr, "rill_nexmark_app: %s\n", errstr);
    else if (rc == 0 && (check_extra_args(argc, argv) || !query || !persons || !auctions || !bids ||
                         !output || !app_id)) {
        fprintf(stderr, "usage: rill_nexmark_app --query q0|...|q8|winning --persons T "
                        "--auctions T --bids T --output T --app-id ID [--grace-ms N] "
                        "[Rill flags, see --help]\n");
        rc = -1;
    }
    if (rc) {
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc < 0 ? 2 : 0;
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill_nexmark_app: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    fprintf(stderr,
            "rill_nexmark_app: %s over %s, %s, %s -> %s as %s, grace %" PRId64
            " ms, processing.guarantee=%s\n",
            query, persons, auctions, bids, output, app_id, grace_ms,
            rill_conf_get(conf, "processing.guarantee"));
    return rill_app_run_until_signal(app);
}
