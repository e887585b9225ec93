/*
 * rt_nexmark.c — NEXMark input on a real Kafka, the app process and canonical output rows
 * for the NEXMark integration tests (rt_nexmark.h).
 *
 * DESIGN
 * The events are made once by the rill_nexmark library, written through Rill's public
 * producer (murmur2, as the rill-nexmark CLI and Kafka Streams partition), and kept in memory
 * only as the few fields the reference models read, so a test's model is computed from the
 * very events in the topics without reading them back. Output rows are compared as
 * canonical strings of named fields, so that neither side depends on how the other lays out
 * its JSON.
 */
#define _GNU_SOURCE /* asprintf */
#include "rt_nexmark.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <json-c/json.h>
#include <rill.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARGS 64
#define STOP_WAIT_MS 30000
#define FINAL_READ_MS 30000
#define PRODUCE_FLUSH_MS 120000

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static char *cat(const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, "%s%s", a, b) < 0)
        abort();
    return s;
}

static void *grow(void *v, size_t cnt, size_t *cap, size_t size) {
    if (cnt < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 1024;
    v = realloc(v, *cap * size);
    if (!v)
        abort();
    return v;
}

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                     */

/* Keeps the fields of ev the reference models need. */
static void remember(rt_nexmark_t *nx, const nexmark_event_t *ev, size_t *caps) {
    if (ev->date_time > nx->max_time)
        nx->max_time = ev->date_time;
    switch (ev->kind) {
    case NEXMARK_PERSON: {
        nx->person = grow(nx->person, nx->person_cnt, &caps[0], sizeof(*nx->person));
        rt_nx_person_t *p = &nx->person[nx->person_cnt++];
        p->id = ev->person.id;
        p->date_time = ev->date_time;
        snprintf(p->name, sizeof(p->name), "%s", ev->person.name);
        p->city = ev->person.city;
        p->state = ev->person.state;
        break;
    }
    case NEXMARK_AUCTION: {
        nx->auction = grow(nx->auction, nx->auction_cnt, &caps[1], sizeof(*nx->auction));
        nx->auction[nx->auction_cnt++] = (rt_nx_auction_t){.id = ev->auction.id,
                                                           .seller = ev->auction.seller,
                                                           .category = ev->auction.category,
                                                           .reserve = ev->auction.reserve,
                                                           .date_time = ev->date_time,
                                                           .expires = ev->auction.expires};
        break;
    }
    case NEXMARK_BID:
        nx->bid = grow(nx->bid, nx->bid_cnt, &caps[2], sizeof(*nx->bid));
        nx->bid[nx->bid_cnt++] = (rt_nx_bid_t){.auction = ev->bid.auction,
                                               .bidder = ev->bid.bidder,
                                               .price = ev->bid.price,
                                               .date_time = ev->date_time};
        break;
    }
}

static void produce_events(rt_nexmark_t *nx, const char *bootstrap) {
    char errstr[512];
    rill_producer_t *prod = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    if (!prod)
        cr_assert_fail("producer: %s", errstr);
    const char *topic[NEXMARK_KIND_CNT] = {nx->persons, nx->auctions, nx->bids};
    rill_buf_t json = {0};
    size_t caps[NEXMARK_KIND_CNT] = {0};
    nexmark_event_t ev;
    char key[NEXMARK_KEY_MAX];
    for (uint64_t n = 0; n < nx->events; n++) {
        nexmark_event_at(&nx->cfg, n, &ev);
        rill_buf_reset(&json);
        if (nexmark_event_json(&ev, &json))
            abort();
        size_t key_len = nexmark_event_key(&ev, key);
        rill_err_t err = rill_producer_send(prod, topic[ev.kind], -1, key, key_len, json.data,
                                            json.len, ev.date_time);
        if (err)
            cr_assert_fail("producing event %llu: %s", (unsigned long long)n, rill_err2str(err));
        remember(nx, &ev, caps);
    }
    rill_buf_free(&json);
    rill_err_t err = rill_producer_flush(prod, PRODUCE_FLUSH_MS, errstr, sizeof(errstr));
    rill_producer_destroy(prod);
    if (err)
        cr_assert_fail("flushing the NEXMark events: %s", errstr);
}

void rt_nexmark_setup(rt_nexmark_t *nx, const char *prefix, uint64_t events, int64_t ooo_ms,
                      int partitions) {
    nexmark_config_t cfg;
    nexmark_config_init(&cfg);
    cfg.seed = 1;
    cfg.ooo_ms = ooo_ms;
    rt_nexmark_setup_cfg(nx, prefix, events, &cfg, partitions);
}

void rt_nexmark_setup_cfg(rt_nexmark_t *nx, const char *prefix, uint64_t events,
                          const nexmark_config_t *cfg, int partitions) {
    const char *bootstrap = rt_bootstrap();
    char errstr[512];
    int64_t ooo_ms = cfg->ooo_ms;
    memset(nx, 0, sizeof(*nx));
    nx->cfg = *cfg;
    if (nexmark_config_check(&nx->cfg, errstr, sizeof(errstr)))
        cr_assert_fail("NEXMark config: %s", errstr);
    nx->events = events;
    nx->partitions = partitions;
    nx->app_id = rt_unique_name(prefix);
    nx->persons = cat(nx->app_id, ".persons");
    nx->auctions = cat(nx->app_id, ".auctions");
    nx->bids = cat(nx->app_id, ".bids");
    nx->output = cat(nx->app_id, ".out");
    char *log_name = cat(nx->app_id, ".log");
    nx->log = rt_tmp_path(log_name);
    free(log_name);
    rt_create_topic(bootstrap, nx->persons, partitions);
    rt_create_topic(bootstrap, nx->auctions, partitions);
    rt_create_topic(bootstrap, nx->bids, partitions);
    rt_create_topic(bootstrap, nx->output, partitions);
    int64_t t0 = rt_now_ms();
    produce_events(nx, bootstrap);
    cr_log_info("%s: %llu events (%zu persons, %zu auctions, %zu bids, ooo %lld ms) written "
                "in %.1f s",
                nx->app_id, (unsigned long long)events, nx->person_cnt, nx->auction_cnt,
                nx->bid_cnt, (long long)ooo_ms, (double)(rt_now_ms() - t0) / 1000.0);
}

void rt_nexmark_append_all_partitions(rt_nexmark_t *nx, const char *topic, const char *key,
                                      const char *json, int64_t ts) {
    char errstr[512];
    rill_producer_t *prod = rill_producer_new(rt_bootstrap(), NULL, errstr, sizeof(errstr));
    if (!prod)
        cr_assert_fail("producer: %s", errstr);
    for (int p = 0; p < nx->partitions; p++)
        if (rill_producer_send(prod, topic, p, key, strlen(key), json, strlen(json), ts))
            cr_assert_fail("producing to %s[%d]", topic, p);
    rill_err_t err = rill_producer_flush(prod, 30000, errstr, sizeof(errstr));
    rill_producer_destroy(prod);
    if (err)
        cr_assert_fail("flushing to %s: %s", topic, errstr);
}

/* ---------------------------------------------------------------------------------------- */
/* The app                                                                                   */

pid_t rt_nexmark_spawn(rt_nexmark_t *nx, const char *query, const char *const *props,
                       const char *const *extra) {
    char *prog = rt_build_path("rill_nexmark_app");
    char *argv[MAX_ARGS];
    int argc = 0;
    const char *fixed[] = {"--bootstrap-servers",
                           rt_bootstrap(),
                           "--query",
                           query,
                           "--persons",
                           nx->persons,
                           "--auctions",
                           nx->auctions,
                           "--bids",
                           nx->bids,
                           "--output",
                           nx->output,
                           "--app-id",
                           nx->app_id};
    char *state_name = cat(nx->app_id, "-state");
    char *state_dir = rt_tmp_path(state_name); /* its own, kept for reading after a failure */
    free(state_name);
    argv[argc++] = prog;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[argc++] = (char *)fixed[i];
    argv[argc++] = "--state-dir";
    argv[argc++] = state_dir;
    for (size_t i = 0; props && props[i]; i++) {
        if (argc + 3 > MAX_ARGS)
            cr_assert_fail("rt_nexmark_spawn: too many properties");
        argv[argc++] = "-D";
        argv[argc++] = (char *)props[i];
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        if (argc + 2 > MAX_ARGS)
            cr_assert_fail("rt_nexmark_spawn: too many arguments");
        argv[argc++] = (char *)extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = rt_spawn(argv, nx->log);
    free(prog);
    free(state_dir);
    return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                    */

char *rt_nexmark_row(const char *json, const char *const *fields) {
    struct json_object *obj = json ? json_tokener_parse(json) : NULL;
    char *row = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        if (asprintf(&row, "<not json: %.80s>", json ? json : "(null)") < 0)
            abort();
        json_object_put(obj);
        return row;
    }
    rill_buf_t out = {0};
    int known = 0;
    for (size_t i = 0; fields[i]; i++) {
        struct json_object *v;
        const char *text = "<absent>";
        if (json_object_object_get_ex(obj, fields[i], &v)) {
            text = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
            known++;
        }
        if (rill_buf_append(&out, fields[i], strlen(fields[i])) || rill_buf_append(&out, "=", 1) ||
            rill_buf_append(&out, text, strlen(text)) || rill_buf_append(&out, ";", 1))
            abort();
    }
    if (json_object_object_length(obj) > known && rill_buf_append(&out, "+extra", 6))
        abort();
    json_object_put(obj);
    row = strndup(out.data ? out.data : "", out.len);
    rill_buf_free(&out);
    if (!row)
        abort();
    return row;
}

/* Orders records by key (null first), then offset: a key's records share a partition. */
static int by_key_then_offset(const void *a, const void *b) {
    const rt_record_t *x = a, *y = b;
    int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    if (c)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Keeps the last record of each key. */
static void keep_last_per_key(rt_records_t *recs) {
    if (recs->cnt)
        qsort(recs->v, recs->cnt, sizeof(recs->v[0]), by_key_then_offset);
    rt_records_t older = {.v = calloc(recs->cnt + 1, sizeof(rt_record_t))};
    if (!older.v)
        abort();
    size_t kept = 0;
    for (size_t i = 0; i < recs->cnt; i++) {
        const char *next = i + 1 < recs->cnt ? recs->v[i + 1].key : NULL;
        if (next && recs->v[i].key && !strcmp(next, recs->v[i].key))
            older.v[older.cnt++] = recs->v[i];
        else
            recs->v[kept++] = recs->v[i];
    }
    recs->cnt = kept;
    rt_records_free(&older);
}

/* Reads the output and makes its values canonical rows (fields NULL: the values as they
 * are); last_per_key: only the last record of each key. */
static rt_records_t *read_rows(rt_nexmark_t *nx, const char *const *fields,
                               const char *isolation_level, size_t min_count, int timeout_ms,
                               int last_per_key) {
    rt_records_t *recs =
        rt_consume_all(rt_bootstrap(), nx->output, isolation_level, min_count, timeout_ms);
    if (last_per_key)
        keep_last_per_key(recs);
    for (size_t i = 0; fields && i < recs->cnt; i++) {
        char *row = rt_nexmark_row(recs->v[i].value, fields);
        free(recs->v[i].value);
        recs->v[i].value = row;
        recs->v[i].value_len = strlen(row);
    }
    return recs;
}

/* Counts the app's dead letters and lists the first reasons. The app creates its
 * dead-letter topic when it starts. */
static void read_dead_letters(rt_nexmark_t *nx, const char *isolation_level,
                              rt_nexmark_result_t *res) {
    char *dlq = cat(nx->app_id, "-dlq");
    rt_records_t *recs = rt_consume_all(rt_bootstrap(), dlq, isolation_level, 0, 10000);
    res->dead_letters = recs->cnt;
    size_t used = 0;
    for (size_t i = 0; i < recs->cnt && i < 3; i++) {
        const char *why = rt_record_header(&recs->v[i], "rill.error");
        int n =
            snprintf(res->dlq_report + used, sizeof(res->dlq_report) - used, "%s key %s: %.120s",
                     i ? ";" : "", recs->v[i].key ? recs->v[i].key : "-", why ? why : "?");
        if (n < 0 || (size_t)n >= sizeof(res->dlq_report) - used)
            break;
        used += (size_t)n;
    }
    rt_records_free(recs);
    free(recs);
    free(dlq);
}

void rt_nexmark_finish(rt_nexmark_t *nx, pid_t pid, const rt_kvs_t *expected,
                       const char *const *fields, const char *isolation_level, int timeout_ms,
                       rt_nexmark_result_t *res) {
    rt_nexmark_finish_as(nx, pid, expected, fields, isolation_level, timeout_ms, 0, res);
}

void rt_nexmark_finish_as(rt_nexmark_t *nx, pid_t pid, const rt_kvs_t *expected,
                          const char *const *fields, const char *isolation_level, int timeout_ms,
                          int last_per_key, rt_nexmark_result_t *res) {
    memset(res, 0, sizeof(*res));
    int64_t t0 = rt_now_ms(), deadline = t0 + timeout_ms;
    res->seconds = -1;
    while (rt_now_ms() < deadline) {
        if (rt_wait(pid, 0) != -1) {
            rt_log_tail(nx->log, 40);
            cr_assert_fail("the app ended before its output was complete (log %s)", nx->log);
        }
        rt_records_t *recs = read_rows(nx, fields, isolation_level, expected->cnt,
                                       (int)(deadline - rt_now_ms()), last_per_key);
        rt_diff(expected, recs, &res->diff);
        rt_records_free(recs);
        free(recs);
        if (!res->diff.missing) {
            res->seconds = (double)(rt_now_ms() - t0) / 1000.0;
            break;
        }
        sleep_ms(1000);
    }
    if (res->seconds < 0)
        cr_log_info("%s: the output was still incomplete after %d ms: %s", nx->app_id, timeout_ms,
                    res->diff.report);
    rt_kill(pid, SIGTERM);
    res->exit_code = rt_wait(pid, STOP_WAIT_MS);
    rt_records_t *recs =
        read_rows(nx, fields, isolation_level, expected->cnt, FINAL_READ_MS, last_per_key);
    res->rows = *recs;
    free(recs);
    rt_diff(expected, &res->rows, &res->diff);
    read_dead_letters(nx, isolation_level, res);
    if (res->diff.missing || res->diff.duplicates || res->diff.extra || res->exit_code)
        rt_log_tail(nx->log, 40);
}

void rt_nexmark_result_free(rt_nexmark_result_t *res) {
    rt_records_free(&res->rows);
    memset(res, 0, sizeof(*res));
}

void rt_nexmark_free(rt_nexmark_t *nx) {
    free(nx->app_id);
    free(nx->persons);
    free(nx->auctions);
    free(nx->bids);
    free(nx->output);
    free(nx->log);
    free(nx->person);
    free(nx->auction);
    free(nx->bid);
    memset(nx, 0, sizeof(*nx));
}
