/*
 * test_nexmark_q8.c — NEXMark q8 (monitor new users) on a real Kafka:
 * rill_nexmark_app --query q8 (persons joined with auctions re-keyed by seller in a
 * stream-stream join of +-9999 ms, kept when both fall in the same epoch-aligned 10 s
 * tumbling window) over 200k generated events with bounded disorder; its output must equal,
 * row for row, a reference computed here from the same events: one row per (person, auction)
 * with auction.seller = person.id and floor(dateTime / 10 s) equal for both (key = person id;
 * id, name, window start, auction id). The distinct (id, name, starttime) of these rows are
 * Flink's q8 rows. A second case adds persons whose names need escapes (or hold a '/') and
 * compares the output bytes with what json-c writes for each row.
 *
 * No watermark is needed: an inner stream-stream join emits a pair as soon as its second
 * record arrives. The app's grace (60 s) is longer than the input's span (20 s of event
 * time): the input is all written before the app starts, so a join task may read persons far
 * ahead of auctions still on their way through the repartition topic (the task waits only
 * for records known to exist), and a shorter grace would make such auctions late — see
 * rill_nexmark_app.c. Nothing may be dead-lettered (no record is late).
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_nexmark.h"

#include <json-c/json.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define EVENTS 200000
#define OOO_MS 500
#define PARTITIONS 4
#define WINDOW_MS 10000

static const char *const q8_fields[] = {"id", "name", "starttime", "auction", NULL};

static const char *const alos_props[] = {
    "processing.guarantee=at_least_once",
    "commit.interval.ms=200",
    NULL,
};

TestSuite(integration_nexmark_q8, .fini = rt_kill_all, .timeout = 150);

static void reference(const rt_nexmark_t *nx, rt_kvs_t *expected, size_t *people) {
    char *seen = calloc(nx->person_cnt + 1, 1);
    cr_assert_not_null(seen);
    *people = 0;
    for (size_t i = 0; i < nx->auction_cnt; i++) {
        const rt_nx_auction_t *a = &nx->auction[i];
        int64_t idx = a->seller - NEXMARK_FIRST_PERSON_ID;
        if (idx < 0 || idx >= (int64_t)nx->person_cnt)
            continue;
        const rt_nx_person_t *p = &nx->person[idx];
        cr_assert_eq(p->id, a->seller, "person ids are not dense");
        if (p->date_time / WINDOW_MS != a->date_time / WINDOW_MS)
            continue;
        char key[32], row[160];
        snprintf(key, sizeof(key), "%" PRId64, p->id);
        snprintf(row, sizeof(row),
                 "id=%" PRId64 ";name=\"%s\";starttime=%" PRId64 ";auction=%" PRId64 ";", p->id,
                 p->name, p->date_time / WINDOW_MS * WINDOW_MS, a->id);
        rt_kvs_add(expected, key, row);
        *people += !seen[idx];
        seen[idx] = 1;
    }
    free(seen);
}

Test(integration_nexmark_q8, one_row_per_pair_in_the_same_window_when_at_least_once) {
    rt_nexmark_t nx;
    rt_nexmark_setup(&nx, "nx-q8", EVENTS, OOO_MS, PARTITIONS);
    rt_kvs_t expected = {0};
    size_t people;
    reference(&nx, &expected, &people);
    cr_log_info("%s: reference: %zu rows (%zu distinct persons, Flink's q8 rows)", nx.app_id,
                expected.cnt, people);
    cr_assert_gt(expected.cnt, 500, "too few q8 rows to test anything");

    pid_t pid = rt_nexmark_spawn(&nx, "q8", alos_props, NULL);
    rt_nexmark_result_t res;
    rt_nexmark_finish(&nx, pid, &expected, q8_fields, "read_uncommitted", 100000, &res);
    cr_log_info("%s: complete output after %.1f s; %s", nx.app_id, res.seconds, res.diff.report);
    cr_expect_eq(res.exit_code, 0, "the app exited with %d after SIGTERM (log %s)", res.exit_code,
                 nx.log);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "q8 output of %s differs from the reference: %s", nx.output, res.diff.report);
    cr_expect_eq(res.dead_letters, 0, "%zu dead letters in %s-dlq:%s", res.dead_letters, nx.app_id,
                 res.dlq_report);
    rt_nexmark_result_free(&res);
    rt_kvs_free(&expected);
    rt_nexmark_free(&nx);
}

/* The bytes json-c writes for a q8 row: the reference for the exact output. */
static void json_c_row(rt_kvs_t *expected, int64_t id, const char *name, int64_t start,
                       int64_t auction) {
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(id));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "starttime", json_object_new_int64(start));
    json_object_object_add(o, "auction", json_object_new_int64(auction));
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, id);
    rt_kvs_add(expected, key, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
}

/* Writes (key, json) at ts to topic, in the partition murmur2 of the key gives (as the
 * generator's records). */
static void produce_keyed(rill_producer_t *prod, const char *topic, const char *key,
                          const char *json, int64_t ts) {
    cr_assert_eq(rill_producer_send(prod, topic, -1, key, strlen(key), json, strlen(json), ts), 0,
                 "producing to %s", topic);
}

/* Persons whose names need escapes or hold a '/': the app reads the name from the JSON text
 * and must still write each row byte for byte as json-c writes it (its Kafka Streams peer and
 * the earlier json-c version of the query agree on those bytes). */
Test(integration_nexmark_q8, names_with_escapes_are_written_as_json_c_writes_them) {
    static const char *const names_json[] = {
        "O'Brien \\\"Jr\\\"", "a/b", "Zo\\u00eb", "tab\\there", "back\\\\slash", "plain",
    };
    static const char *const names[] = {
        "O'Brien \"Jr\"", "a/b", "Zo\xc3\xab", "tab\there", "back\\slash", "plain",
    };
    const size_t odd = sizeof(names) / sizeof(names[0]);
    rt_nexmark_t nx;
    rt_nexmark_setup(&nx, "nx-q8-esc", 2000, 0, PARTITIONS);
    rt_kvs_t expected = {0};
    for (size_t i = 0; i < nx.auction_cnt; i++) {
        const rt_nx_auction_t *a = &nx.auction[i];
        int64_t idx = a->seller - NEXMARK_FIRST_PERSON_ID;
        if (idx < 0 || idx >= (int64_t)nx.person_cnt)
            continue;
        const rt_nx_person_t *p = &nx.person[idx];
        if (p->date_time / WINDOW_MS == a->date_time / WINDOW_MS)
            json_c_row(&expected, p->id, p->name, p->date_time / WINDOW_MS * WINDOW_MS, a->id);
    }
    int64_t ts = nx.max_time, start = ts / WINDOW_MS * WINDOW_MS;
    char errstr[512];
    rill_producer_t *prod = rill_producer_new(rt_bootstrap(), NULL, errstr, sizeof(errstr));
    cr_assert_not_null(prod, "producer: %s", errstr);
    for (size_t i = 0; i < odd; i++) {
        int64_t person = 9000000 + (int64_t)i, auction = 8000000 + (int64_t)i;
        char key[32], json[512];
        snprintf(key, sizeof(key), "%" PRId64, person);
        snprintf(json, sizeof(json),
                 "{\"id\":%" PRId64 ",\"name\":\"%s\",\"emailAddress\":\"x@y\",\"creditCard\":"
                 "\"1\",\"city\":\"Boise\",\"state\":\"ID\",\"dateTime\":%" PRId64 "}",
                 person, names_json[i], ts);
        produce_keyed(prod, nx.persons, key, json, ts);
        snprintf(key, sizeof(key), "%" PRId64, auction);
        snprintf(json, sizeof(json),
                 "{\"id\":%" PRId64 ",\"seller\":%" PRId64 ",\"category\":10,\"dateTime\":%" PRId64
                 ",\"expires\":%" PRId64 "}",
                 auction, person, ts, ts + 1000);
        produce_keyed(prod, nx.auctions, key, json, ts);
        json_c_row(&expected, person, names[i], start, auction);
    }
    cr_assert_eq(rill_producer_flush(prod, 30000, errstr, sizeof(errstr)), 0, "flush: %s", errstr);
    rill_producer_destroy(prod);

    pid_t pid = rt_nexmark_spawn(&nx, "q8", alos_props, NULL);
    rt_nexmark_result_t res;
    rt_nexmark_finish_as(&nx, pid, &expected, NULL, "read_uncommitted", 60000, 0, &res);
    cr_log_info("%s: %zu rows; %s", nx.app_id, expected.cnt, res.diff.report);
    cr_expect_eq(res.exit_code, 0, "the app exited with %d (log %s)", res.exit_code, nx.log);
    cr_expect(!res.diff.missing && !res.diff.duplicates && !res.diff.extra,
              "q8 output bytes of %s differ from json-c's: %s", nx.output, res.diff.report);
    cr_expect_eq(res.dead_letters, 0, "%zu dead letters:%s", res.dead_letters, res.dlq_report);
    rt_nexmark_result_free(&res);
    rt_kvs_free(&expected);
    rt_nexmark_free(&nx);
}
