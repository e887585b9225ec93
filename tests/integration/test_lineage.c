/*
 * test_lineage.c — lineage across function hops in the auction showcase, on a real Kafka
 * with the real function runtimes (scripts/functions.sh): 20,000 NEXMark events written to
 * the app's input topics, a third without a traceparent, some with a malformed one, the rest
 * with a trace id the test chose (tests/support/rt_auction.c, rt_auction_setup_traced);
 * rill-auction runs with --edge faas (validate and notify are functions) and --drain. Then
 * 1,000 outputs picked at random among the closed auctions and the notification receipts are
 * followed back to the input through their headers alone:
 *  - rill.lineage names the hops (topic/partition@offset): the first must be where the test
 *    wrote the record it derives from — for a closed auction with a winner and for each of
 *    its receipts, the bid that won (its auction, bidder and price as the closed record
 *    says), else the auction itself; every later hop must hold a record with the same trace
 *    id, the auction's key and, for a validated bid or auction, the same ids;
 *  - rill.lineage.other names the auction record the same way (when a bid leads);
 *  - the traceparent's trace id is the one the test put on that input record, when it put a
 *    valid one, and the same at every hop in any case;
 *  - a receipt's trace id is the one the notify function got as the CloudEvents traceparent
 *    attribute of its notification (the function writes it to its file).
 *
 * Needs RILL_TEST_BOOTSTRAP, RILL_TEST_FN_VALIDATE_AUCTION / _VALIDATE_BID / _NOTIFY and
 * RILL_BUILD_DIR (ctest sets it).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_auction.h"

#include <json-c/json.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 20000
#define OOO_MS 500
#define INVALID 0.01
#define PARTITIONS 4
#define SAMPLES 1000
#define RUN_TIMEOUT_MS 180000
#define MAX_HOPS 16
#define MAX_TOPICS 16

TestSuite(integration_lineage, .fini = rt_kill_all, .timeout = 600);

/* ---- topics read back, records found by position ---- */

typedef struct topic_s {
    char *name;
    rt_records_t *recs;
    const rt_record_t **by_pos; /* sorted by (partition, offset) */
} topic_t;

typedef struct world_s {
    const rt_auction_t *a;
    topic_t topics[MAX_TOPICS];
    int topic_cnt;
    uint64_t *by_pos;        /* event numbers sorted by (raw topic, partition, offset) */
    size_t traced, untraced; /* outputs whose first hop had a known trace, or not */
} world_t;

static int pos_cmp(const void *x, const void *y) {
    const rt_record_t *a = *(const rt_record_t *const *)x, *b = *(const rt_record_t *const *)y;
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static topic_t *topic_get(world_t *w, const char *name) {
    for (int i = 0; i < w->topic_cnt; i++)
        if (!strcmp(w->topics[i].name, name))
            return &w->topics[i];
    cr_assert_lt(w->topic_cnt, MAX_TOPICS, "too many topics in the chains");
    topic_t *t = &w->topics[w->topic_cnt++];
    t->name = strdup(name);
    t->recs = rt_consume_all(rt_bootstrap(), name, "read_committed", 0, 30000);
    t->by_pos = malloc(sizeof(*t->by_pos) * (t->recs->cnt + 1));
    cr_assert(t->name && t->by_pos);
    for (size_t i = 0; i < t->recs->cnt; i++)
        t->by_pos[i] = &t->recs->v[i];
    qsort(t->by_pos, t->recs->cnt, sizeof(*t->by_pos), pos_cmp);
    return t;
}

static const rt_record_t *record_at(world_t *w, const char *topic, int32_t p, int64_t o) {
    topic_t *t = topic_get(w, topic);
    rt_record_t key = {.partition = p, .offset = o};
    const rt_record_t *kp = &key,
                      **hit = bsearch(&kp, t->by_pos, t->recs->cnt, sizeof(*t->by_pos), pos_cmp);
    return hit ? *hit : NULL;
}

/* ---- the input, by position ---- */

static const world_t *g_w; /* for the sort of event numbers */

static int raw_index(const rt_auction_t *a, uint64_t n) {
    return a->ev[n].kind == NEXMARK_AUCTION ? 1 : a->ev[n].kind == NEXMARK_BID ? 2 : 0;
}

static int event_cmp(const void *x, const void *y) {
    const rt_auction_t *a = g_w->a;
    uint64_t m = *(const uint64_t *)x, n = *(const uint64_t *)y;
    int km = raw_index(a, m), kn = raw_index(a, n);
    if (km != kn)
        return km - kn;
    if (a->part[m] != a->part[n])
        return a->part[m] < a->part[n] ? -1 : 1;
    return a->offset[m] < a->offset[n] ? -1 : a->offset[m] > a->offset[n];
}

static void index_input(world_t *w) {
    const rt_auction_t *a = w->a;
    w->by_pos = malloc(sizeof(uint64_t) * a->events);
    cr_assert_not_null(w->by_pos);
    for (uint64_t n = 0; n < a->events; n++)
        w->by_pos[n] = n;
    g_w = w;
    qsort(w->by_pos, a->events, sizeof(uint64_t), event_cmp);
}

/* The event the test wrote at raw topic/p@o, or -1. */
static int64_t event_at(const world_t *w, const char *topic, int32_t p, int64_t o) {
    const rt_auction_t *a = w->a;
    int k = !strcmp(topic, a->topic[RT_AU_AUCTIONS_RAW]) ? 1
            : !strcmp(topic, a->topic[RT_AU_BIDS_RAW])   ? 2
            : !strcmp(topic, a->topic[RT_AU_PERSONS])    ? 0
                                                         : -1;
    if (k < 0)
        return -1;
    size_t lo = 0, hi = a->events;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t n = w->by_pos[mid];
        int c = raw_index(a, n) != k ? raw_index(a, n) - k
                : a->part[n] != p    ? (a->part[n] < p ? -1 : 1)
                                     : (a->offset[n] < o ? -1 : a->offset[n] > o);
        if (c == 0)
            return (int64_t)n;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- headers ---- */

typedef struct hop_s {
    char topic[256];
    int32_t partition;
    int64_t offset;
} hop_t;

/* Splits "t/p@o>t/p@o..." into hops; returns their count. */
static int parse_chain(const char *chain, hop_t *hops) {
    int n = 0;
    cr_assert(strncmp(chain, "~>", 2), "no hop was dropped here: %s", chain);
    for (const char *p = chain; *p && n < MAX_HOPS;) {
        const char *end = strchr(p, '>');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char hop[320];
        snprintf(hop, sizeof(hop), "%.*s", (int)len, p);
        char *at = strrchr(hop, '@'), *slash = strrchr(hop, '/');
        cr_assert(at && slash && slash < at, "bad hop \"%s\" in %s", hop, chain);
        *slash = '\0';
        snprintf(hops[n].topic, sizeof(hops[n].topic), "%.255s", hop);
        hops[n].partition = (int32_t)atoi(slash + 1);
        hops[n].offset = strtoll(at + 1, NULL, 10);
        n++;
        p += len + (end ? 1 : 0);
    }
    cr_assert_gt(n, 0, "empty chain");
    return n;
}

/* The trace id of a record's traceparent (which must be a valid version 00 one). */
static void trace_id(const rt_record_t *r, char out[33], const char *what) {
    const char *tp = rt_record_header(r, "traceparent");
    cr_assert(tp && strlen(tp) == 55 && !strncmp(tp, "00-", 3) && tp[35] == '-',
              "%s: traceparent \"%s\"", what, tp ? tp : "(none)");
    snprintf(out, 33, "%.32s", tp + 3);
}

static int64_t json_i64(const char *text, const char *field, bool *is_null) {
    json_object *o = json_tokener_parse(text), *v;
    cr_assert(o && json_object_object_get_ex(o, field, &v), "no %s in %s", field, text);
    if (is_null)
        *is_null = json_object_get_type(v) == json_type_null;
    int64_t x = json_object_get_int64(v);
    json_object_put(o);
    return x;
}

/* ---- what the notify function was called with ---- */

typedef struct call_s {
    char *id;
    char trace[33]; /* the trace id of the call's traceparent attribute, "" when none */
} call_t;

static int call_cmp(const void *x, const void *y) {
    return strcmp(((const call_t *)x)->id, ((const call_t *)y)->id);
}

/* The notify function's lines of app_id's run: event id → traceparent; *n gets the count. */
static call_t *notify_calls(const char *app_id, size_t *n) {
    FILE *f = fopen(rt_auction_notify_file(), "r");
    cr_assert_not_null(f, "cannot read %s", rt_auction_notify_file());
    char *prefix, *line = NULL;
    size_t cap = 0, cnt = 0, room = 0;
    call_t *calls = NULL;
    cr_assert_geq(asprintf(&prefix, "\"id\":\"%s", app_id), 0);
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, prefix))
            continue;
        json_object *o = json_tokener_parse(line), *id, *tp;
        cr_assert(o && json_object_object_get_ex(o, "id", &id), "bad line %s", line);
        if (cnt == room) {
            room = room ? 2 * room : 1024;
            calls = realloc(calls, room * sizeof(*calls));
            cr_assert_not_null(calls);
        }
        calls[cnt].id = strdup(json_object_get_string(id));
        calls[cnt].trace[0] = '\0';
        if (json_object_object_get_ex(o, "traceparent", &tp))
            snprintf(calls[cnt].trace, sizeof(calls[cnt].trace), "%.32s",
                     json_object_get_string(tp) + 3);
        cnt++;
        json_object_put(o);
    }
    free(line);
    free(prefix);
    fclose(f);
    qsort(calls, cnt, sizeof(*calls), call_cmp);
    *n = cnt;
    return calls;
}

/* A receipt's trace id is the one its notification was sent to the function with. */
static void check_call(const call_t *calls, size_t n, const rt_record_t *receipt,
                       const char *what) {
    json_object *o = json_tokener_parse(receipt->value), *id;
    cr_assert(o && json_object_object_get_ex(o, "id", &id), "%s: %s", what, receipt->value);
    call_t key = {.id = (char *)json_object_get_string(id)};
    const call_t *c = bsearch(&key, calls, n, sizeof(*calls), call_cmp);
    cr_assert_not_null(c, "%s: the notify function never got event %s", what, key.id);
    char trace[33];
    trace_id(receipt, trace, what);
    cr_assert_str_eq(c->trace, trace, "%s: the function was called with another trace", what);
    json_object_put(o);
}

/* ---- following one chain ---- */

/*
 * Follows chain (trace id trace) back to the input: returns the event number of its first
 * hop, after checking every later hop (same trace id; the auction's key and ids at the
 * validated topics) and the trace the test gave the input.
 */
static uint64_t follow(world_t *w, const char *chain, const char *trace, int64_t auction,
                       const char *what) {
    hop_t hops[MAX_HOPS];
    int n = parse_chain(chain, hops);
    int64_t ev = event_at(w, hops[0].topic, hops[0].partition, hops[0].offset);
    cr_assert_geq(ev, 0, "%s: the first hop %s/%d@%" PRId64 " is not a record the test wrote", what,
                  hops[0].topic, hops[0].partition, hops[0].offset);
    const char *given = w->a->trace[ev];
    if (given[0])
        cr_assert_str_eq(trace, given, "%s: trace id differs from the input's", what);
    *(given[0] ? &w->traced : &w->untraced) += 1;
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, auction);
    for (int i = 1; i < n; i++) {
        const rt_record_t *r = record_at(w, hops[i].topic, hops[i].partition, hops[i].offset);
        cr_assert_not_null(r, "%s: hop %s/%d@%" PRId64 " holds no record", what, hops[i].topic,
                           hops[i].partition, hops[i].offset);
        char t[33];
        trace_id(r, t, what);
        cr_assert_str_eq(t, trace, "%s: hop %d has another trace id", what, i);
        bool validated = !strcmp(hops[i].topic, w->a->topic[RT_AU_BIDS]) ||
                         !strcmp(hops[i].topic, w->a->topic[RT_AU_AUCTIONS]);
        if (!validated)
            continue;
        cr_assert(r->key && !strcmp(r->key, key), "%s: hop %d key %s, want %s", what, i,
                  r->key ? r->key : "(null)", key);
        const nexmark_event_t *e = &w->a->ev[ev];
        if (e->kind == NEXMARK_BID)
            cr_assert(json_i64(r->value, "bidder", NULL) == e->bid.bidder &&
                          json_i64(r->value, "price", NULL) == e->bid.price,
                      "%s: hop %d is not the input bid: %s", what, i, r->value);
        else
            cr_assert_eq(json_i64(r->value, "id", NULL), e->auction.id, "%s: hop %d: %s", what, i,
                         r->value);
    }
    return (uint64_t)ev;
}

/* A closed auction's record (or a receipt of it): its lineage leads to the winning bid and
 * to the auction, or to the auction alone when nobody won. */
static void check_derived(world_t *w, const rt_record_t *out, const rt_record_t *closed,
                          int64_t auction, const char *what) {
    char trace[33];
    trace_id(out, trace, what);
    const char *chain = rt_record_header(out, "rill.lineage");
    const char *other = rt_record_header(out, "rill.lineage.other");
    cr_assert_not_null(chain, "%s: no rill.lineage", what);
    bool no_winner;
    int64_t winner = json_i64(closed->value, "winner", &no_winner);
    uint64_t n = follow(w, chain, trace, auction, what);
    const nexmark_event_t *e = &w->a->ev[n];
    if (no_winner) {
        cr_assert(e->kind == NEXMARK_AUCTION && e->auction.id == auction,
                  "%s: no winner, but the chain starts at event %" PRIu64, what, n);
        cr_assert(!other || !*other, "%s: no bid led, yet rill.lineage.other is %s", what, other);
        return;
    }
    cr_assert(e->kind == NEXMARK_BID && e->bid.auction == auction && e->bid.bidder == winner &&
                  e->bid.price == json_i64(closed->value, "price", NULL),
              "%s: the chain starts at event %" PRIu64 ", not the winning bid of %" PRId64, what, n,
              auction);
    cr_assert(other && strlen(other) > 33 && other[32] == ':', "%s: rill.lineage.other \"%s\"",
              what, other ? other : "(none)");
    char t2[33];
    snprintf(t2, sizeof(t2), "%.32s", other);
    uint64_t m = follow(w, other + 33, t2, auction, what);
    cr_assert(w->a->ev[m].kind == NEXMARK_AUCTION && w->a->ev[m].auction.id == auction,
              "%s: rill.lineage.other starts at event %" PRIu64 ", not auction %" PRId64, what, m,
              auction);
}

static const rt_record_t *closed_of(world_t *w, int64_t auction) {
    topic_t *t = topic_get(w, w->a->topic[RT_AU_CLOSED]);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, auction);
    for (size_t i = 0; i < t->recs->cnt; i++)
        if (t->recs->v[i].key && !strcmp(t->recs->v[i].key, key))
            return &t->recs->v[i];
    cr_assert_fail("auction %" PRId64 " has a receipt but no closed record", auction);
    return NULL;
}

static void world_free(world_t *w) {
    for (int i = 0; i < w->topic_cnt; i++) {
        rt_records_free(w->topics[i].recs);
        free(w->topics[i].recs);
        free(w->topics[i].by_pos);
        free(w->topics[i].name);
    }
    free(w->by_pos);
}

/* Follows SAMPLES random closed auctions and receipts of app_id's run back to a's input. */
static void follow_outputs(const rt_auction_t *a, const char *app_id) {
    world_t w = {.a = a};
    index_input(&w);
    topic_t *closed = topic_get(&w, a->topic[RT_AU_CLOSED]);
    topic_t *sent = topic_get(&w, a->topic[RT_AU_SENT]);
    size_t total = closed->recs->cnt + sent->recs->cnt;
    cr_log_info("lineage: %zu closed auctions, %zu receipts", closed->recs->cnt, sent->recs->cnt);
    cr_assert_gt(closed->recs->cnt, 100);
    cr_assert_gt(sent->recs->cnt, 100);
    size_t ncalls;
    call_t *calls = notify_calls(app_id, &ncalls);
    cr_assert_geq(ncalls, sent->recs->cnt, "the notify function's file lacks calls");
    uint64_t seed = 0x1234567;
    for (int s = 0; s < SAMPLES; s++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t i = (size_t)(seed % total);
        char what[64];
        if (i < closed->recs->cnt) {
            const rt_record_t *r = &closed->recs->v[i];
            snprintf(what, sizeof(what), "closed %s", r->key);
            check_derived(&w, r, r, strtoll(r->key, NULL, 10), what);
        } else {
            const rt_record_t *r = &sent->recs->v[i - closed->recs->cnt];
            int64_t auction = json_i64(r->value, "auction", NULL);
            snprintf(what, sizeof(what), "receipt %s of auction %" PRId64, r->key, auction);
            check_derived(&w, r, closed_of(&w, auction), auction, what);
            check_call(calls, ncalls, r, what);
        }
    }
    cr_log_info("lineage: %d outputs followed; first hops with the test's trace %zu, without "
                "%zu",
                SAMPLES, w.traced, w.untraced);
    cr_expect_gt(w.traced, 0);
    cr_expect_gt(w.untraced, 0);
    for (size_t i = 0; i < ncalls; i++)
        free(calls[i].id);
    free(calls);
    world_free(&w);
}

Test(integration_lineage, receipts_and_closed_auctions_lead_back_to_their_input) {
    rt_auction_t a;
    rt_auction_setup_traced(&a, "lineage", EVENTS, OOO_MS, INVALID, PARTITIONS,
                            &rt_auction_default_params);
    char *app_id;
    cr_assert_geq(asprintf(&app_id, "%s-app", a.name), 0);
    const char *props[] = {"lineage.enable=true", NULL};
    int rc = rt_auction_run_one(&a, "faas", app_id, props, NULL, RUN_TIMEOUT_MS);
    cr_assert_eq(rc, 0, "rill-auction exited with %d", rc);
    follow_outputs(&a, app_id);
    free(app_id);
    rt_auction_free(&a);
}

/*
 * The same under exactly_once_v2 with three processes, one SIGKILLed when 40% of the
 * auctions are closed and started again on its state directory: the traces the completion
 * keeps in its store come back with the restored state (its changelog's tail), so the
 * outputs written after the restart lead back to their input as well.
 */
Test(integration_lineage, lineage_survives_a_killed_and_restored_process) {
    rt_auction_t a;
    rt_auction_setup_traced(&a, "lineage-kill", EVENTS, OOO_MS, INVALID, PARTITIONS,
                            &rt_auction_default_params);
    char *app_id;
    cr_assert_geq(asprintf(&app_id, "%s-app", a.name), 0);
    const char *props[32];
    size_t n = 0;
    for (; rt_auction_eos_props[n] && n < 30; n++)
        props[n] = rt_auction_eos_props[n];
    props[n++] = "lineage.enable=true";
    props[n] = NULL;
    rt_auction_run_three_one_killed(&a, "faas", app_id, props, NULL, RUN_TIMEOUT_MS);
    follow_outputs(&a, app_id);
    free(app_id);
    rt_auction_free(&a);
}
