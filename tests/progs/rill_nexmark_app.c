/*
 * rill_nexmark_app.c — NEXMark queries on Rill's public API, run by the NEXMark integration
 * tests (tests/integration/test_nexmark_*.c) as separate processes and by the NEXMark suite
 * (bench/nexmark_suite.sh) beside their Kafka Streams peers (bench/peers/kafka-streams/).
 * Input is what the rill-nexmark generator writes: JSON persons keyed by person id, auctions
 * keyed by auction id, bids keyed by their auction id (auctions and bids co-partitioned).
 * Every source reads string keys and JSON values, with the event's "dateTime" as its
 * timestamp; q0-q2, q4-q7 and winning (tests/progs/nexmark/) read the JSON as text
 * (rill_serde_json_text()), q3 and q8 decode it with json-c.
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

#include <json-c/json.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MS INT64_C(10000)

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                     */

/* Parses len bytes of JSON. Returns a new object (json_object_put() it) or NULL. */
static struct json_object *json_parse(const void *buf, size_t len) {
    if (!buf || !len)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    struct json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    if (obj && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tok);
    return obj;
}

/* The decoded value of rec, parsing its bytes when it has no decoded form. Sets *ownedp when
 * the caller must json_object_put() the result. */
static struct json_object *record_json(const rill_record_t *rec, int *ownedp) {
    *ownedp = 0;
    if (rec->value_obj && rec->value_serde == rill_serde_json())
        return rec->value_obj;
    *ownedp = 1;
    return json_parse(rec->value, rec->value_len);
}

/* Reads integer field name of obj. Returns 0 and sets *out, or -1. */
static int json_int(struct json_object *obj, const char *name, int64_t *out) {
    struct json_object *v;
    if (!obj || !json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    *out = json_object_get_int64(v);
    return 0;
}

/* Reads string field name of obj (borrowed from obj), or NULL. */
static const char *json_str(struct json_object *obj, const char *name) {
    struct json_object *v;
    if (!obj || !json_object_object_get_ex(obj, name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Appends obj's compact text to out and releases obj. Returns 0 or -1. */
static int json_emit(struct json_object *obj, rill_buf_t *out) {
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    int rc = rill_buf_append(out, text, strlen(text));
    json_object_put(obj);
    return rc;
}

/* Integer field name of rec's JSON value, or -1. */
static int64_t record_int(const rill_record_t *rec, const char *name) {
    int owned;
    struct json_object *obj = record_json(rec, &owned);
    int64_t v = -1;
    if (json_int(obj, name, &v))
        v = -1;
    if (owned)
        json_object_put(obj);
    return v;
}

/* The timestamp extractor of every source: the event's dateTime (-1 rejects the record). */
static int64_t date_time_of(const rill_record_t *rec, void *opaque) {
    return record_int(rec, "dateTime");
}

/* select_key mapper: the auction's seller, as decimal text. */
static int key_by_seller(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char key[24];
    int64_t seller = record_int(rec, "seller");
    if (seller < 0)
        return -1;
    return rill_buf_append(out->key, key, (size_t)snprintf(key, sizeof(key), "%" PRId64, seller));
}

static int non_empty(const rill_record_t *rec, void *opaque) {
    return rec->value && rec->value_len > 0;
}

/* ---------------------------------------------------------------------------------------- */
/* q3                                                                                       */

static int in_category_10(const rill_record_t *rec, void *opaque) {
    return record_int(rec, "category") == 10;
}

static int q3_join(const rill_record_t *auction, const rill_record_t *person, rill_buf_t *out,
                   void *opaque) {
    struct json_object *a = json_parse(auction->value, auction->value_len);
    struct json_object *p = json_parse(person->value, person->value_len);
    const char *state = json_str(p, "state"), *name = json_str(p, "name");
    const char *city = json_str(p, "city");
    int64_t id;
    int rc = -1;
    if (state && name && city && !json_int(a, "id", &id)) {
        rc = 0;
        if (!strcmp(state, "OR") || !strcmp(state, "ID") || !strcmp(state, "CA")) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(name));
            json_object_object_add(o, "city", json_object_new_string(city));
            json_object_object_add(o, "state", json_object_new_string(state));
            json_object_object_add(o, "id", json_object_new_int64(id));
            rc = json_emit(o, out);
        }
    }
    json_object_put(a);
    json_object_put(p);
    return rc;
}

static void build_q3(rill_topology_t *topo, const char *persons, const char *auctions,
                     const char *output, const rill_source_opts_t *src, int64_t grace_ms) {
    rill_table_t *people = rill_table_from(topo, "persons", persons, src, "q3-persons-store");
    rill_stream_t *s = rill_stream_from(topo, "auctions", auctions, src);
    s = rill_stream_filter(s, "q3-category-10", in_category_10, NULL);
    s = rill_stream_select_key(s, "q3-key-by-seller", key_by_seller, NULL);
    s = rill_stream_repartition(s, "q3-auctions-by-seller");
    s = rill_stream_table_join(s, people, "q3-join", RILL_JOIN_INNER, grace_ms, q3_join, NULL);
    s = rill_stream_filter(s, "q3-or-id-ca", non_empty, NULL);
    rill_stream_to(s, "sink", output, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* q8                                                                                       */

static int q8_join(const rill_record_t *person, const rill_record_t *auction, rill_buf_t *out,
                   void *opaque) {
    int64_t start = person->timestamp - person->timestamp % WINDOW_MS;
    if (auction->timestamp - auction->timestamp % WINDOW_MS != start)
        return 0; /* within 10 s but not in the same window: no row */
    struct json_object *p = json_parse(person->value, person->value_len);
    struct json_object *a = json_parse(auction->value, auction->value_len);
    const char *name = json_str(p, "name");
    int64_t id, auction_id;
    int rc = -1;
    if (name && !json_int(p, "id", &id) && !json_int(a, "id", &auction_id)) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(id));
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "starttime", json_object_new_int64(start));
        json_object_object_add(o, "auction", json_object_new_int64(auction_id));
        rc = json_emit(o, out);
    }
    json_object_put(p);
    json_object_put(a);
    return rc;
}

static void build_q8(rill_topology_t *topo, const char *persons, const char *auctions,
                     const char *output, const rill_source_opts_t *src, int64_t grace_ms) {
    rill_stream_t *p = rill_stream_from(topo, "persons", persons, src);
    rill_stream_t *a = rill_stream_from(topo, "auctions", auctions, src);
    a = rill_stream_select_key(a, "q8-key-by-seller", key_by_seller, NULL);
    a = rill_stream_repartition(a, "q8-auctions-by-seller");
    rill_join_spec_t spec = {.kind = RILL_JOIN_INNER,
                             .before_ms = WINDOW_MS - 1,
                             .after_ms = WINDOW_MS - 1,
                             .grace_ms = grace_ms};
    rill_stream_t *j = rill_stream_join(p, a, "q8-join", &spec, q8_join, NULL);
    j = rill_stream_filter(j, "q8-same-window", non_empty, NULL);
    rill_stream_to(j, "sink", output, NULL);
}

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
                              .value_serde = rill_serde_json(),
                              .timestamp_extractor = date_time_of};
    rill_source_opts_t text_src = {.key_serde = rill_serde_string(),
                                   .value_serde = rill_serde_json_text(),
                                   .timestamp_extractor = nx_date_time};
    nx_topics_t topics = {persons, auctions, bids, output};
    rill_topology_t *topo = rill_topology_new();
    int64_t text_grace = nx_default_grace(query);
    if (text_grace >= 0) {
        *grace_msp = *grace_msp < 0 ? text_grace : *grace_msp;
        nx_build(topo, query, &topics, &text_src, *grace_msp);
    } else if (!strcmp(query, "q3")) {
        *grace_msp = *grace_msp < 0 ? 10000 : *grace_msp;
        build_q3(topo, persons, auctions, output, &src, *grace_msp);
    } else if (!strcmp(query, "q8")) {
        *grace_msp = *grace_msp < 0 ? 60000 : *grace_msp;
        build_q8(topo, persons, auctions, output, &src, *grace_msp);
    } else {
        rill_topology_destroy(topo);
        return NULL;
    }
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
