/*
 * test_commit_faults.c — component test (embedded broker) of a commit whose stores cannot
 * get the batch for their next writes (engine/commit.c, state/store_life.c): through the
 * fault-injection hook rill__fault_store_batch_alloc, the first such allocation fails. The
 * app must stop with a fatal error naming the task and the store, and nothing may touch the
 * missing batch afterwards: records far later in time, sent once the fault has fired, would
 * make the windowed store expire segments into it.
 *
 * A control run without the fault checks that the same input then gives exactly the
 * windows' counts of a reference computed here.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"
#include "state_host_int.h"

#include <inttypes.h>

#define WINDOW_MS 1000
#define EARLY 3                  /* records before the fault fires */
#define LATE_MS (10 * 60 * 1000) /* far enough on for segments to expire */

static char dir[256];

static int64_t be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return (int64_t)v;
}

static void setup(void) {
    eu_state_dir_make(dir, sizeof(dir));
    __atomic_store_n(&rill__fault_store_batch_alloc, 0, __ATOMIC_RELAXED);
}

static void teardown(void) {
    __atomic_store_n(&rill__fault_store_batch_alloc, 0, __ATOMIC_RELAXED);
    eu_state_dir_remove(dir);
}

TestSuite(engine_commit_faults, .init = setup, .fini = teardown);

static rill_app_t *app_for(const char *tag, char *id, size_t id_size) {
    const char *extra[] = {"state.dir", dir, NULL};
    eu_app_id(id, id_size, tag);
    rill_app_t *app = eu_app_new(eu_window_count_topology("in", "counts", "out"), id, extra);
    eu_create_topic(app, "in", 1);
    eu_create_topic(app, "out", 1);
    return app;
}

/* Sends EARLY records of key "a" one second apart, from t = 500 ms. */
static void send_early(rill_app_t *app) {
    rill_producer_t *p = eu_producer(app);
    for (int i = 0; i < EARLY; i++)
        eu_send(p, "in", 0, "a", "x", 500 + (int64_t)i * WINDOW_MS);
    eu_producer_done(p);
}

/* Sends two records LATE_MS on: their stream time closes every early window. */
static void send_late(rill_app_t *app) {
    rill_producer_t *p = eu_producer(app);
    eu_send(p, "in", 0, "b", "y", LATE_MS);
    eu_send(p, "in", 0, "b", "y", LATE_MS + 3 * WINDOW_MS);
    eu_producer_done(p);
}

Test(engine_commit_faults, a_failed_batch_allocation_stops_the_app_naming_the_store,
     .timeout = 120) {
    char id[64], errstr[512] = "", want[256];
    rill_app_t *app = app_for("commit-fault", id, sizeof(id));
    __atomic_store_n(&rill__fault_store_batch_alloc, 1, __ATOMIC_RELAXED);
    send_early(app);
    eu_start(app);
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    while (__atomic_load_n(&rill__fault_store_batch_alloc, __ATOMIC_RELAXED) &&
           eu_now_ms() < deadline)
        eu_sleep_ms(10);
    cr_assert_eq(__atomic_load_n(&rill__fault_store_batch_alloc, __ATOMIC_RELAXED), 0,
                 "the fault never fired: no store wrote anything");
    send_late(app);
    int fired;
    rill_err_t err = eu_wait_bounded(app, EU_WAIT_MS, errstr, sizeof(errstr), &fired);
    cr_assert_eq(fired, 0, "the app did not stop by itself");
    cr_assert_eq(err, RILL_ERR_NOMEM, "app ended with %d: %s", err, errstr);
    snprintf(want, sizeof(want),
             "task 0_0: store \"counts\": no memory for the batch of its "
             "next writes");
    cr_assert_str_eq(errstr, want);
    rill_app_destroy(app);
}

Test(engine_commit_faults, without_the_fault_the_same_input_gives_every_window, .timeout = 120) {
    char id[64];
    rill_app_t *app = app_for("commit-nofault", id, sizeof(id));
    send_early(app);
    eu_start(app);
    eu_wait_processed(app, EARLY);
    send_late(app);
    eu_wait_processed(app, EARLY + 2);
    eu_stop(app);
    eu_recs_t recs = {0};
    eu_read_topic(rill_app_bootstrap_servers(app), "out", &recs);
    /* The reference: emit-final gives one count per window once stream time (the largest
     * timestamp read) reaches its end: the three windows of key a and the first of key b,
     * one record each. A result's key is the record key then the window start (8 bytes big
     * endian), its value the count (8 bytes big endian). */
    eu_strs_t got = {0}, wantl = {0};
    for (size_t i = 0; i < recs.cnt; i++) {
        const eu_rec_t *r = &recs.v[i];
        cr_assert(r->key_len > 8 && r->value_len == 8, "result %zu: key %zu, value %zu bytes", i,
                  r->key_len, r->value_len);
        eu_strs_add(&got, "%.*s@%" PRId64 "=%" PRId64, (int)(r->key_len - 8), r->key,
                    be64(r->key + r->key_len - 8), be64(r->value));
    }
    for (int i = 0; i < EARLY; i++)
        eu_strs_add(&wantl, "a@%d=1", i * WINDOW_MS);
    eu_strs_add(&wantl, "b@%d=1", LATE_MS);
    eu_assert_same_set(&got, &wantl, "final window counts");
    eu_strs_free(&got);
    eu_strs_free(&wantl);
    eu_recs_free(&recs);
    rill_app_destroy(app);
}
