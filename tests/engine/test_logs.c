/*
 * test_logs.c — the log lines an operator reads, on the embedded broker: a join (joining,
 * assigned, running), a rebalance when a second instance of the application joins (revoked,
 * assigned again), the shutdown summary, SIGINT through rill_app_run_until_signal(),
 * log.level (warn hides info, debug shows the per-store restore details), librdkafka's own
 * lines in Rill's format, and the error for a bad log.level.
 *
 * DESIGN: each test sends its process's stderr (file descriptor 2, where every log line
 * goes) to a file and reads that file back; Criterion runs each test in a process of its
 * own, so nothing else writes there. Every wait polls the file with a bound.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"
#include "log_capture.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- apps ---- */

/* in -> out, stateless. */
static rill_topology_t *pass_topology(void) {
    rill_topology_t *topo = rill_topology_new();

    rill_stream_to(rill_stream_from(topo, "source", "in", NULL), "sink", "out", NULL);
    return topo;
}

/* Starts capturing, then makes an app of pass_topology() named "<tag>-<pid>" (in id), with
 * its topics in and out of two partitions. */
static rill_app_t *pass_app(cap_t *cap, char *id, size_t id_size, const char *tag,
                            const char *const *extra) {
    rill_app_t *app;

    cap_begin(cap);
    eu_app_id(id, id_size, tag);
    app = eu_app_new(pass_topology(), id, extra);
    eu_create_topic(app, "in", 2);
    eu_create_topic(app, "out", 2);
    return app;
}

/* Asserts that every line captured is in Rill's format: none in librdkafka's ("%3|..."). */
static void assert_rill_format(const cap_t *cap) {
    char *text = cap_text(cap);

    cr_assert_null(strstr(text, "\n%"), "a line not in Rill's format:\n%s", cap_tail(cap));
    cr_assert_neq(text[0], '%', "a line not in Rill's format:\n%s", cap_tail(cap));
    free(text);
}

static void send_records(rill_app_t *app, int n) {
    rill_producer_t *p = eu_producer(app);
    char key[16];

    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        eu_send(p, "in", i % 2, key, "v", 1000 + i);
    }
    eu_producer_done(p);
}

/* ---- tests ---- */

Test(engine_logs, join_rebalance_and_shutdown, .timeout = 180) {
    cap_t cap;
    char id[64], line[256];

    rill_app_t *one = pass_app(&cap, id, sizeof(id), "logs-join", NULL);
    send_records(one, 10);
    eu_start(one);

    /* The join. */
    snprintf(line, sizeof(line), " INFO  rill[%s] thread-0: joining group %s", id, id);
    CAP_ASSERT_SEEN(&cap, line, 1);
    CAP_ASSERT_SEEN(&cap, "thread-0: assigned 2 partition(s): in[", 1);
    CAP_ASSERT_SEEN(&cap, "thread-0: running: 2 task(s)", 1);
    eu_wait_processed(one, 10);

    /* A second instance of the application joins: the first gives its partitions back and
     * each gets one. */
    const char *extra[] = {"bootstrap.servers", rill_app_bootstrap_servers(one), NULL};
    rill_app_t *two = eu_app_new(pass_topology(), id, extra);
    eu_start(two);
    CAP_ASSERT_SEEN(&cap, "thread-0: revoked 2 partition(s): in[", 1);
    CAP_ASSERT_SEEN(&cap, "thread-0: assigned 1 partition(s): in[", 2);
    CAP_ASSERT_SEEN(&cap, "thread-0: running: 1 task(s)", 2);

    /* The second stops: it says so, leaves, and sums up; the first takes everything back. */
    eu_stop(two);
    CAP_ASSERT_SEEN(&cap, "thread-0: stopping: committing and leaving group", 1);
    snprintf(line, sizeof(line), " INFO  rill[%s]: stopped cleanly after ", id);
    CAP_ASSERT_SEEN(&cap, line, 1);
    cr_assert_eq(cap_count(&cap, " record(s) processed, 0 dead-lettered"), 1, "%s", cap_tail(&cap));
    rill_app_destroy(two);
    CAP_ASSERT_SEEN(&cap, "thread-0: assigned 2 partition(s): in[", 2);

    eu_stop(one);
    CAP_ASSERT_SEEN(&cap, line, 2);
    assert_rill_format(&cap);
    rill_app_destroy(one);
    cap_end(&cap);
}

/* rill_app_run_until_signal() in a thread of its own. */
static void *run_main(void *arg) {
    return (void *)(intptr_t)rill_app_run_until_signal(arg);
}

Test(engine_logs, sigint_says_it_stops_and_sums_up, .timeout = 120) {
    cap_t cap;
    char id[64];
    pthread_t tid;
    void *code;

    rill_app_t *app = pass_app(&cap, id, sizeof(id), "logs-sigint", NULL);
    cr_assert_eq(pthread_create(&tid, NULL, run_main, app), 0);
    /* The handler is in place before the app starts its threads. */
    CAP_ASSERT_SEEN(&cap, "running: 2 task(s)", 1);
    cr_assert_eq(kill(getpid(), SIGINT), 0);
    CAP_ASSERT_SEEN(&cap, "]: received SIGINT: stopping", 1);
    CAP_ASSERT_SEEN(&cap, "]: stopped cleanly after ", 1);
    cr_assert_eq(pthread_join(tid, &code), 0); /* bounded by the test's timeout */
    cr_assert_eq((intptr_t)code, 0);
    cap_end(&cap);
}

Test(engine_logs, level_warn_hides_info, .timeout = 120) {
    cap_t cap;
    char id[64];
    const char *extra[] = {"log.level", "warn", NULL};

    rill_app_t *app = pass_app(&cap, id, sizeof(id), "logs-warn", extra);
    send_records(app, 4);
    eu_start(app);
    eu_wait_processed(app, 4);
    eu_stop(app);
    rill_app_destroy(app);
    char *text = cap_text(&cap);
    cr_assert_null(strstr(text, " INFO  "), "an info line under log.level=warn:\n%s",
                   cap_tail(&cap));
    cr_assert_null(strstr(text, "joining group"), "%s", cap_tail(&cap));
    free(text);
    cap_end(&cap);
}

/* The per-store "nothing to restore" lines are debug: hidden by default, shown by debug. */
static void restore_lines(const char *level, bool debug_shown) {
    cap_t cap;
    char id[64], dir[] = "/tmp/rill-logs-state-XXXXXX", cmd[128];
    const char *extra[] = {"state.dir", dir, "log.level", level, NULL};

    cr_assert_not_null(mkdtemp(dir));
    cap_begin(&cap);
    eu_app_id(id, sizeof(id), debug_shown ? "logs-debug" : "logs-info");
    /* A windowed count: two stores per task (the windows and their metadata). */
    rill_app_t *app = eu_app_new(eu_window_count_topology("in", "counts", "out"), id, extra);
    eu_create_topic(app, "in", 2);
    eu_start(app);
    CAP_ASSERT_SEEN(&cap, "thread-0: restoring 4 store(s) of 2 task(s)", 1);
    CAP_ASSERT_SEEN(&cap, "thread-0: running: 2 task(s)", 1);
    if (debug_shown)
        CAP_ASSERT_SEEN(&cap, "nothing to restore", 4);
    else
        cr_assert_eq(cap_count(&cap, "nothing to restore"), 0, "%s", cap_tail(&cap));
    cr_assert_eq(cap_count(&cap, " DEBUG rill["), debug_shown ? 4 : 0, "%s", cap_tail(&cap));
    eu_stop(app);
    rill_app_destroy(app);
    cap_end(&cap);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(engine_logs, nothing_to_restore_is_debug, .timeout = 120) {
    restore_lines("info", false);
}

Test(engine_logs, debug_shows_nothing_to_restore, .timeout = 120) {
    restore_lines("debug", true);
}

Test(engine_logs, librdkafka_lines_in_rills_format, .timeout = 60) {
    cap_t cap;
    char id[64], errstr[512], line[256];
    /* Nothing listens on port 1: librdkafka logs its failed connections. */
    const char *extra[] = {"bootstrap.servers", "127.0.0.1:1", "startup.broker.wait.ms", "1500",
                           NULL};

    cap_begin(&cap);
    eu_app_id(id, sizeof(id), "logs-kafka");
    rill_app_t *app = eu_app_new(pass_topology(), id, extra);
    cr_assert_neq(rill_app_start(app, errstr, sizeof(errstr)), RILL_OK);
    snprintf(line, sizeof(line), " rill[%s] kafka rdkafka#producer-", id);
    CAP_ASSERT_SEEN(&cap, line, 1);
    rill_app_destroy(app);
    assert_rill_format(&cap);
    cap_end(&cap);
}

Test(engine_logs, bad_level_is_refused_with_the_choices) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();

    cr_assert_eq(rill_conf_set(conf, "log.level", "verbose", errstr, sizeof(errstr)),
                 RILL_ERR_INVALID_ARG);
    cr_assert_str_eq(errstr, "invalid value \"verbose\" for log.level: expected one of "
                             "error|warn|info|debug");
    cr_assert_eq(rill_conf_set(conf, "log.level", "debug", errstr, sizeof(errstr)), RILL_OK);
    cr_assert_str_eq(rill_conf_get(conf, "log.level"), "debug");
    rill_conf_destroy(conf);
}
