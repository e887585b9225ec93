/*
 * test_faas_event_ids.c — every record a FaaS stage sends to a function has an id of its own,
 * on a real Kafka with the showcase's real `notify` function, which deduplicates by id: an
 * app (built here, run in this process until --drain ends it) fans each input record out to
 * three notifications (a flat_map) and adds notifications from punctuators on stream time
 * and on wall-clock time (no input record), all through one FaaS stage in batches. Every
 * notification must come back with exactly one receipt of its own (person, auction and kind
 * as sent) and a distinct id, and the function's notification file must hold each exactly
 * once. With ids shared by the records of one input (or of every punctuation), the function
 * took them for retries and dropped all but the first.
 *
 * Needs RILL_TEST_BOOTSTRAP and RILL_TEST_FN_NOTIFY (scripts/test.sh sets them); the
 * function writes to RILL_NOTIFY_FILE (default $TMPDIR/rill-notifications.log), which this
 * test reads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rill_test.h"

#include <json-c/json.h>
#include <rill.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INPUTS 300
#define PARTITIONS 2
#define FAN_OUT 3
#define STREAM_TICK_MS 50 /* inputs are 10 ms of event time apart: a tick every 5 inputs */
#define WALL_TICK_MS 100
#define WALL_TICKS_MAX 3 /* per task */
#define RUN_TIMEOUT_MS 90000
#define BASE_TS 1700000000000LL

TestSuite(integration_faas_event_ids, .fini = rt_kill_all, .timeout = 150);

/* What the app sent to the stage; written by the stream thread, read after it ended. */
static struct {
    pthread_mutex_t lock;
    long fanned, stream_ticks, wall_ticks;
    long next_person; /* persons of the punctuators' notifications */
} sent = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_person = 1000000};

static void gen_input(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                      void *opaque) {
    (void)opaque;
    snprintf(key, key_size, "%zu", i);
    snprintf(value, value_size, "%zu", i);
}

/* Event time from the value: input i happened at BASE_TS + 10 i. */
static int64_t value_time(const rill_record_t *rec, void *opaque) {
    (void)opaque;
    char buf[32];
    size_t n = rec->value_len < sizeof(buf) - 1 ? rec->value_len : sizeof(buf) - 1;
    memcpy(buf, rec->value, n);
    buf[n] = '\0';
    return BASE_TS + 10 * strtoll(buf, NULL, 10);
}

static int forward_notification(rill_ctx_t *ctx, long person, long auction, const char *kind,
                                int64_t ts) {
    char key[32], value[160];
    snprintf(key, sizeof(key), "%ld", person);
    int len = snprintf(value, sizeof(value),
                       "{\"person\":%ld,\"auction\":%ld,\"kind\":\"%s\",\"price\":1}", person,
                       auction, kind);
    rill_record_t out = {.key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = (size_t)len,
                         .timestamp = ts};
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

/* Input i becomes notifications (person i, auction 0..FAN_OUT-1, kind "fan"). */
static int fan_out(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    (void)opaque;
    long person = (long)((rec->timestamp - BASE_TS) / 10);
    for (long k = 0; k < FAN_OUT; k++) {
        if (forward_notification(ctx, person, k, "fan", rec->timestamp))
            return -1;
        pthread_mutex_lock(&sent.lock);
        sent.fanned++;
        pthread_mutex_unlock(&sent.lock);
    }
    return 0;
}

/* A punctuation: two notifications of new persons. */
static void tick(rill_ctx_t *ctx, int64_t ts, const char *kind, long *counter) {
    for (int k = 0; k < 2; k++) {
        pthread_mutex_lock(&sent.lock);
        long person = sent.next_person++;
        (*counter)++;
        pthread_mutex_unlock(&sent.lock);
        forward_notification(ctx, person, k, kind, ts);
    }
}

static void stream_tick(rill_ctx_t *ctx, int64_t ts, void *arg) {
    (void)arg;
    tick(ctx, ts, "stream", &sent.stream_ticks);
}

static void wall_tick(rill_ctx_t *ctx, int64_t ts, void *arg) {
    int *fired = arg;
    if (*fired >= WALL_TICKS_MAX)
        return;
    (*fired)++;
    tick(ctx, ts, "wall", &sent.wall_ticks);
}

static int ticker_init(rill_ctx_t *ctx, void **statep, void *opaque) {
    (void)opaque;
    int *fired = calloc(1, sizeof(int));
    if (!fired)
        return -1;
    *statep = fired;
    if (rill_ctx_schedule(ctx, STREAM_TICK_MS, RILL_PUNCTUATE_STREAM_TIME, stream_tick, NULL) ||
        rill_ctx_schedule(ctx, WALL_TICK_MS, RILL_PUNCTUATE_WALL_CLOCK, wall_tick, fired))
        return -1;
    return 0;
}

static int ticker_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)ctx;
    (void)rec;
    (void)state;
    return 0; /* only its punctuators emit */
}

static void ticker_close(void *state, void *opaque) {
    (void)opaque;
    free(state);
}

static const rill_processor_def_t ticker = {ticker_init, ticker_process, ticker_close};

/* Runs the app on in → out until --drain ends it; returns its exit error. */
static rill_err_t run_app(const char *app_id, const char *in, const char *out, const char *url) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t so = {.timestamp_extractor = value_time};
    rill_stream_t *src = rill_stream_from(topo, "input", in, &so);
    rill_stream_t *fan = rill_stream_flat_map(src, "fan-out", fan_out, NULL);
    rill_stream_t *ticks = rill_stream_process(src, "ticker", &ticker, NULL);
    rill_stream_t *all = rill_stream_merge(fan, ticks, "notifications");
    rill_faas_opts_t fo = {.url = url,
                           .function = "notify",
                           .batch_max_records = 16,
                           .linger_ms = 20,
                           .max_in_flight = 4,
                           .timeout_ms = 10000};
    rill_stream_to(rill_stream_faas(all, "notify", &fo), "sent", out, NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));

    return rt_app_run_here(topo, app_id, RUN_TIMEOUT_MS);
}

/* A string member of a JSON object, or "". */
static const char *member(json_object *o, const char *name) {
    json_object *v;
    return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "";
}

/* Adds s to the set (a sorted-later list); returns the number of entries. */
static size_t list_add(char ***list, size_t n, const char *s) {
    *list = realloc(*list, (n + 1) * sizeof(char *));
    cr_assert_not_null(*list);
    (*list)[n] = strdup(s);
    return n + 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the list and counts entries equal to their predecessor; frees it. */
static size_t duplicates(char **list, size_t n) {
    size_t dup = 0;
    qsort(list, n, sizeof(char *), cmp_str);
    for (size_t i = 1; i < n; i++)
        dup += !strcmp(list[i], list[i - 1]);
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return dup;
}

/* Lines of the notification file whose id is one of this run's ("<in>-..." from the input,
 * "<app_id>:..." from punctuations): how many, and how many ids repeat. */
static size_t file_lines(const char *file, const char *in, const char *app_id, size_t *dup) {
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "cannot read the notification file %s", file);
    char *line = NULL, *p_in, *p_app, **ids = NULL;
    size_t cap = 0, n = 0;
    if (asprintf(&p_in, "\"id\":\"%s-", in) < 0 || asprintf(&p_app, "\"id\":\"%s:", app_id) < 0)
        abort();
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, p_in) && !strstr(line, p_app))
            continue;
        json_object *o = json_tokener_parse(line);
        cr_assert_not_null(o, "not JSON: %s", line);
        n = list_add(&ids, n, member(o, "id"));
        json_object_put(o);
    }
    fclose(f);
    free(line);
    free(p_in);
    free(p_app);
    *dup = duplicates(ids, n);
    return n;
}

Test(integration_faas_event_ids, fan_out_and_punctuation_records_each_get_one_receipt) {
    const char *url = getenv("RILL_TEST_FN_NOTIFY");
    cr_assert(url && *url, "RILL_TEST_FN_NOTIFY is not set (scripts/functions.sh start)");
    const char *file = getenv("RILL_NOTIFY_FILE");
    char *deflt = NULL;
    if (!file || !*file) {
        const char *tmp = getenv("TMPDIR");
        if (asprintf(&deflt, "%s/rill-notifications.log", tmp && *tmp ? tmp : "/tmp") < 0)
            abort();
        file = deflt;
    }
    char *in = rt_unique_name("ids-in"), *out = rt_unique_name("ids-sent");
    char *app_id = rt_unique_name("ids-app");
    rt_create_topic(rt_bootstrap(), in, PARTITIONS);
    rt_create_topic(rt_bootstrap(), out, PARTITIONS);
    char errstr[256];
    cr_assert_eq(rt_produce_strings(rt_bootstrap(), in, INPUTS, gen_input, NULL, NULL, errstr,
                                    sizeof(errstr)),
                 0, "%s", errstr);

    rill_err_t err = run_app(app_id, in, out, url);
    cr_expect_eq(err, RILL_OK, "the app ended with error %d", (int)err);
    long total = sent.fanned + sent.stream_ticks + sent.wall_ticks;
    cr_log_info("%s: %ld notifications: %ld fanned out, %ld from stream-time and %ld from "
                "wall-clock punctuations",
                app_id, total, sent.fanned, sent.stream_ticks, sent.wall_ticks);
    cr_assert_eq(sent.fanned, (long)INPUTS * FAN_OUT);
    cr_assert_gt(sent.stream_ticks, 0, "no stream-time punctuation emitted");
    cr_assert_gt(sent.wall_ticks, 0, "no wall-clock punctuation emitted");

    /* one receipt per notification: its own person, auction and kind, and a distinct id */
    rt_records_t *recs =
        rt_consume_all(rt_bootstrap(), out, "read_uncommitted", (size_t)total, 20000);
    char **ids = NULL, **whats = NULL;
    size_t n = 0;
    for (size_t i = 0; i < recs->cnt; i++) {
        json_object *o = json_tokener_parse(recs->v[i].value ? recs->v[i].value : "");
        cr_assert_not_null(o, "a receipt is not JSON: %s", recs->v[i].value);
        char what[96];
        snprintf(what, sizeof(what), "%s/%s/%s", member(o, "person"), member(o, "auction"),
                 member(o, "kind"));
        list_add(&ids, n, member(o, "id"));
        n = list_add(&whats, n, what);
        json_object_put(o);
    }
    size_t dup_ids = duplicates(ids, n), dup_whats = duplicates(whats, n);
    cr_log_info("%s: %zu receipts, %zu repeated ids, %zu repeated notifications", app_id, n,
                dup_ids, dup_whats);
    cr_expect_eq(n, (size_t)total, "%zu receipts for %ld notifications", n, total);
    cr_expect_eq(dup_ids, 0, "%zu receipts repeat another's id", dup_ids);
    cr_expect_eq(dup_whats, 0,
                 "%zu receipts answer a notification already answered "
                 "(others got none)",
                 dup_whats);

    /* the function sent each notification exactly once */
    size_t dup_lines, lines = file_lines(file, in, app_id, &dup_lines);
    cr_log_info("%s: %zu lines in %s, %zu repeated ids", app_id, lines, file, dup_lines);
    cr_expect_eq(lines, (size_t)total, "the notification file holds %zu of %ld notifications",
                 lines, total);
    cr_expect_eq(dup_lines, 0);

    rt_records_free(recs);
    free(recs);
    free(in);
    free(out);
    free(app_id);
    free(deflt);
}
