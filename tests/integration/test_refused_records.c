/*
 * test_refused_records.c — records the broker refuses, in the auction showcase
 * (topologies/auction, rill-auction) on a real Kafka: the raw topics take records of up to
 * 8 MiB (max.message.bytes=8388608), the output and rejected topics only the broker's
 * default (about 1 MB). Into every partition of the raw topics, after ordinary NEXMark
 * events, go a valid bid of 1.5 MB, a valid bid just under 1 MiB that fits the output
 * topic as it is but not once enriched (priceEur added), a 3 MB bid and a 5 MB auction that are not
 * JSON (so their rejected records, the original bytes, are too large too).
 *
 * For both edges (native and FaaS) and both guarantees, the app run with --drain must end
 * with exit 0; every output topic must equal the reference of the ordinary events (so none
 * of the large records is in an output or rejected topic, and no later record of their
 * partitions is lost); each large record must be in the dead-letter topic exactly once,
 * with a "too large" reason, its source position and its value whole (the dead-letter
 * topic takes what the raw topics take); the other dead letters are the reference's.
 *
 * And two null-key records in one function batch (a valid bid, then a tombstone): the
 * tombstone is rejected with its own (null) value and the bid goes out enriched — the
 * FaaS edge matches a result to its original by position, not key.
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY
 * (scripts/test.sh exports them) and RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 2000
#define PARTITIONS 2
#define RUN_TIMEOUT_MS 150000
#define READ_TIMEOUT_MS 10000
#define BIG_PER_PARTITION 4

static const rt_auction_params_t params = {.grace_ms = 2000,
                                           .hot_size_ms = 10000,
                                           .hot_advance_ms = 2000,
                                           .hot_grace_ms = 1000,
                                           .raw_max_message_bytes = "8388608"};

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2", "commit.interval.ms=200",
    "consumer.session.timeout.ms=6000", "consumer.heartbeat.interval.ms=500", NULL};
static const char *const alos_props[] = {
    "processing.guarantee=at_least_once", "commit.interval.ms=200",
    "consumer.session.timeout.ms=6000", "consumer.heartbeat.interval.ms=500", NULL};
static const char *const drain[] = {"--drain", NULL};

TestSuite(integration_refused_records, .fini = rt_kill_all, .timeout = 400);

/* One injected record: where it went and what it was. */
typedef struct big_s {
    int topic; /* RT_AU_* */
    int32_t partition;
    int64_t offset; /* from the delivery report; -1 until then */
    size_t len;
    char *key, *value; /* key NULL for a null key, value NULL for a tombstone */
    const char *what;
} big_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    big_t *b = msg->_private;
    if (!msg->err)
        b->offset = msg->offset;
}

/* Produces n records to their partitions and waits for every acknowledgement. */
static void produce_all(const rt_auction_t *a, big_t *b, size_t n) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", rt_bootstrap(), errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "message.max.bytes", "9000000", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "linger.ms", "50", errstr, sizeof(errstr)))
        cr_assert_fail("producer config: %s", errstr);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(rk, "producer: %s", errstr);
    int64_t ts = a->ev[a->events / 2].date_time;
    for (size_t i = 0; i < n; i++) {
        b[i].offset = -1;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(a->topic[b[i].topic]), RD_KAFKA_V_PARTITION(b[i].partition),
            RD_KAFKA_V_KEY(b[i].key, b[i].key ? strlen(b[i].key) : 0),
            RD_KAFKA_V_VALUE(b[i].value, b[i].value ? b[i].len : 0), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_OPAQUE(&b[i]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        cr_assert_eq(err, 0, "producing %s: %s", b[i].what, rd_kafka_err2str(err));
    }
    rd_kafka_flush(rk, 60000);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < n; i++)
        cr_assert(b[i].offset >= 0, "%s to %s[%d] was not acknowledged", b[i].what,
                  a->topic[b[i].topic], (int)b[i].partition);
}

/* The JSON of the first valid bid, with its "extra" padded so that it is len bytes. */
static char *padded_bid(const rt_auction_t *a, size_t len, char **key) {
    for (uint64_t n = 0; n < a->events; n++) {
        if (a->ev[n].kind != NEXMARK_BID || a->ev[n].invalid != NEXMARK_VALID)
            continue;
        const char *json = a->json[n], *extra = strstr(json, "\"extra\":\"");
        cr_assert(extra && strlen(json) < len);
        size_t at = (size_t)(extra - json) + 9, pad = len - strlen(json);
        char *v = malloc(len + 1);
        memcpy(v, json, at);
        memset(v + at, 'x', pad);
        strcpy(v + at + pad, json + at);
        char k[NEXMARK_KEY_MAX];
        nexmark_event_key(&a->ev[n], k);
        *key = strdup(k);
        return v;
    }
    cr_assert_fail("no valid bid in the input");
    return NULL;
}

static char *junk(size_t len) {
    char *v = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        v[i] = "not json; "[i % 10];
    v[len] = '\0';
    return v;
}

/* Four large records for every partition of the raw topics (see the top of the file). */
static size_t make_big(const rt_auction_t *a, big_t *b) {
    size_t n = 0;
    for (int p = 0; p < a->partitions; p++) {
        b[n++] = (big_t){
            .topic = RT_AU_BIDS_RAW, .partition = p, .len = 1500000, .what = "valid 1.5 MB bid"};
        b[n - 1].value = padded_bid(a, b[n - 1].len, &b[n - 1].key);
        b[n++] = (big_t){.topic = RT_AU_BIDS_RAW,
                         .partition = p,
                         .len = 1048495,
                         .what = "valid bid past the limit once enriched"};
        b[n - 1].value = padded_bid(a, b[n - 1].len, &b[n - 1].key);
        b[n++] = (big_t){.topic = RT_AU_BIDS_RAW,
                         .partition = p,
                         .len = 3000000,
                         .key = strdup("junk-bid"),
                         .value = junk(3000000),
                         .what = "3 MB non-JSON bid"};
        b[n++] = (big_t){.topic = RT_AU_AUCTIONS_RAW,
                         .partition = p,
                         .len = 5000000,
                         .key = strdup("junk-auction"),
                         .value = junk(5000000),
                         .what = "5 MB non-JSON auction"};
    }
    return n;
}

static void free_big(big_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(b[i].key), free(b[i].value);
}

/* The dead letter of b, checked; NULL when absent. Counts the dead letters of b. */
static const rt_record_t *find_dead(const rt_auction_t *a, const rt_records_t *dead, const big_t *b,
                                    int *cnt) {
    const rt_record_t *found = NULL;
    char part[16], off[32];
    snprintf(part, sizeof(part), "%d", (int)b->partition);
    snprintf(off, sizeof(off), "%" PRId64, b->offset);
    *cnt = 0;
    for (size_t i = 0; i < dead->cnt; i++) {
        const rt_record_t *r = &dead->v[i];
        const char *t = rt_record_header(r, "rill.source.topic");
        const char *p = rt_record_header(r, "rill.source.partition");
        const char *o = rt_record_header(r, "rill.source.offset");
        if (t && p && o && !strcmp(t, a->topic[b->topic]) && !strcmp(p, part) && !strcmp(o, off)) {
            found = r;
            ++*cnt;
        }
    }
    return found;
}

static void check_dead_letters(const rt_auction_t *a, const char *app_id, const char *iso,
                               const big_t *b, size_t n, size_t other_expected) {
    char *dlq;
    if (asprintf(&dlq, "%s-dlq", app_id) < 0)
        abort();
    rt_records_t *dead =
        rt_consume_all(rt_bootstrap(), dlq, iso, n + other_expected, READ_TIMEOUT_MS);
    for (size_t i = 0; i < n; i++) {
        int cnt;
        const rt_record_t *r = find_dead(a, dead, &b[i], &cnt);
        cr_expect_eq(cnt, 1, "%s: the %s at %s[%d]@%" PRId64 " is %d times in %s", app_id,
                     b[i].what, a->topic[b[i].topic], (int)b[i].partition, b[i].offset, cnt, dlq);
        if (!r)
            continue;
        const char *why = rt_record_header(r, "rill.error");
        cr_expect(why && strcasestr(why, "too large"), "%s: the %s was dead-lettered for \"%s\"",
                  app_id, b[i].what, why ? why : "(no reason)");
        cr_expect(rt_record_header(r, "rill.error.node"), "%s: no rill.error.node", app_id);
        cr_expect(r->value_len == b[i].len && !memcmp(r->value, b[i].value, b[i].len),
                  "%s: the dead letter of the %s has %zu bytes, not the original %zu", app_id,
                  b[i].what, r->value_len, b[i].len);
    }
    cr_expect_eq(dead->cnt, n + other_expected,
                 "%s: %zu dead letters, expected %zu large records and %zu others", app_id,
                 dead->cnt, n, other_expected);
    rt_records_free(dead);
    free(dead);
    free(dlq);
}

/* The showcase with the large records, one process, --drain. */
static void run_big(const char *edge, bool eos) {
    rt_auction_t a;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "big-%s-%s", edge, eos ? "eos" : "alos");
    rt_auction_setup(&a, prefix, EVENTS, 500, 0.01, PARTITIONS, &params);
    big_t b[BIG_PER_PARTITION * PARTITIONS];
    size_t n = make_big(&a, b);
    produce_all(&a, b, n);
    rt_auction_out_t exp, out;
    rt_auction_expected(&a, &exp);
    char *app_id, *state, *nf, *log;
    if (asprintf(&app_id, "%s-app", a.name) < 0)
        abort();
    state = rt_tmp_path(app_id);
    char name[256];
    snprintf(name, sizeof(name), "%s-notify.log", app_id);
    nf = rt_tmp_path(name);
    snprintf(name, sizeof(name), "%s.log", app_id);
    log = rt_tmp_path(name);
    int64_t t0 = rt_now_ms();
    pid_t pid =
        rt_auction_spawn(&a, edge, app_id, state, nf, eos ? eos_props : alos_props, drain, log);
    int rc = rt_wait(pid, RUN_TIMEOUT_MS);
    cr_log_info("%s: --edge %s, %s: exit %d after %.1f s (log %s)", app_id, edge,
                eos ? "exactly_once_v2" : "at_least_once", rc, (rt_now_ms() - t0) / 1000.0, log);
    if (rc) {
        rt_log_tail(log, 30);
        if (rc < 0)
            rt_kill(pid, SIGKILL), rt_wait(pid, 10000);
    }
    cr_expect_eq(rc, 0, "rill-auction exited with %d (log %s)", rc, log);
    const char *iso = eos ? "read_committed" : "read_uncommitted";
    rt_auction_read(&a, app_id, iso, &exp, READ_TIMEOUT_MS, &out);
    char report[8192];
    int bad = rt_auction_compare(&a, &exp, &out, report, sizeof(report));
    cr_expect_eq(bad, 0, "%s: %d output topic(s) differ from the reference:\n%s", app_id, bad,
                 report);
    cr_log_info("%s: dead letters: %zu (%s)", app_id, out.dead_letters, out.dlq_report);
    check_dead_letters(&a, app_id, iso, b, n, exp.dead_letters);
    rt_auction_out_free(&out);
    rt_auction_out_free(&exp);
    free_big(b, n);
    free(app_id), free(state), free(nf), free(log);
    rt_auction_free(&a);
}

Test(integration_refused_records, native_edge_at_least_once) {
    run_big("native", false);
}

Test(integration_refused_records, native_edge_exactly_once) {
    run_big("native", true);
}

Test(integration_refused_records, faas_edge_at_least_once) {
    run_big("faas", false);
}

Test(integration_refused_records, faas_edge_exactly_once) {
    run_big("faas", true);
}

/* The records of topic with a null key. */
static size_t null_keyed(const rt_records_t *recs, const rt_record_t **first) {
    size_t n = 0;
    for (size_t i = 0; i < recs->cnt; i++)
        if (!recs->v[i].key && !n++)
            *first = &recs->v[i];
    return n;
}

Test(integration_refused_records, faas_edge_null_keys_keep_their_own_bytes) {
    rt_auction_t a;
    rt_auction_setup(&a, "nullkey", 200, 500, 0, 1, &params);
    char *key = NULL;
    big_t b[2] = {
        {.topic = RT_AU_BIDS_RAW, .partition = 0, .what = "valid bid with a null key"},
        {.topic = RT_AU_BIDS_RAW, .partition = 0, .what = "tombstone with a null key"},
    };
    b[0].value = padded_bid(&a, 400, &key);
    b[0].len = 400;
    free(key);
    produce_all(&a, b, 2);
    char *app_id, *state, *nf, *log, name[256];
    if (asprintf(&app_id, "%s-app", a.name) < 0)
        abort();
    state = rt_tmp_path(app_id);
    snprintf(name, sizeof(name), "%s-notify.log", app_id);
    nf = rt_tmp_path(name);
    snprintf(name, sizeof(name), "%s.log", app_id);
    log = rt_tmp_path(name);
    pid_t pid = rt_auction_spawn(&a, "faas", app_id, state, nf, alos_props, drain, log);
    int rc = rt_wait(pid, RUN_TIMEOUT_MS);
    if (rc) {
        rt_log_tail(log, 30);
        if (rc < 0)
            rt_kill(pid, SIGKILL), rt_wait(pid, 10000);
    }
    cr_expect_eq(rc, 0, "rill-auction exited with %d (log %s)", rc, log);
    /* the tombstone: rejected, null key, null value */
    rt_records_t *rej = rt_consume_all(rt_bootstrap(), a.topic[RT_AU_BIDS_REJECTED],
                                       "read_uncommitted", 1, READ_TIMEOUT_MS);
    const rt_record_t *r = NULL;
    size_t cnt = null_keyed(rej, &r);
    cr_expect_eq(cnt, 1, "%zu rejected records with a null key, expected the tombstone only", cnt);
    if (r)
        cr_expect(!r->value,
                  "the tombstone was rejected with %zu bytes of another record: "
                  "%.60s",
                  r->value_len, r->value);
    /* the bid: enriched in auction.bids, once */
    rt_records_t *bids =
        rt_consume_all(rt_bootstrap(), a.topic[RT_AU_BIDS], "read_uncommitted", 1, READ_TIMEOUT_MS);
    size_t found = 0;
    for (size_t i = 0; i < bids->cnt; i++)
        found += bids->v[i].value && strstr(bids->v[i].value, "xxxxxxxxxxxxxxxxxxxx") != NULL;
    cr_expect_eq(found, 1, "the valid null-key bid is %zu times in %s", found, a.topic[RT_AU_BIDS]);
    rt_records_free(rej), free(rej);
    rt_records_free(bids), free(bids);
    free_big(b, 2);
    free(app_id), free(state), free(nf), free(log);
    rt_auction_free(&a);
}
