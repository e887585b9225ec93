/*
 * test_start_errors.c — an app on a real Kafka (topic auto-creation off, as in production)
 * refuses to start when a topic it needs does not exist, with a message that names the topic
 * and the fix, instead of failing record by record: a missing output topic, a missing
 * source topic, a missing global table topic, and several missing topics all named in one
 * message. An address where no broker answers is not reported as missing topics: the start
 * waits up to startup.broker.wait.ms, then says it cannot reach any broker.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it).
 */
#include <criterion/criterion.h>

#include "rill_test.h"

#include <rill.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int pick_user(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    return rill_buf_append(out->key, rec->key, rec->key_len);
}

static int keep_left(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                     void *opaque) {
    (void)right;
    (void)opaque;
    return rill_buf_append(out, left->value, left->value_len);
}

/* Starts an app reading in (joined with the global table of table when not NULL) into out,
 * on bootstrap with the Rill property wait_ms as startup.broker.wait.ms (NULL: defaults);
 * asserts that the start fails with a message containing each of want (NULL-terminated)
 * and returns how long the start took (ms). */
static int64_t start_fails_on(const char *bootstrap, const char *wait_ms, const char *in,
                              const char *table, const char *out, const char *const *want) {
    char errstr[1024] = "", *id = rt_unique_name("start-errors");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", in, NULL);
    if (table)
        s = rill_stream_global_join(s, rill_global_table(topo, table, NULL, NULL), "enrich",
                                    RILL_JOIN_LEFT, pick_user, keep_left, NULL);
    rill_stream_to(s, "sink", out, NULL);
    rill_conf_t *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(conf, "application.id", id, errstr, sizeof(errstr)), 0);
    cr_assert_eq(rill_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)), 0);
    if (wait_ms)
        cr_assert_eq(rill_conf_set(conf, "startup.broker.wait.ms", wait_ms, errstr, sizeof(errstr)),
                     0, "%s", errstr);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    int64_t t0 = rt_now_ms();
    cr_assert_neq(rill_app_start(app, errstr, sizeof(errstr)), RILL_OK,
                  "the start must fail (in %s, out %s)", in, out);
    int64_t took = rt_now_ms() - t0;
    for (size_t i = 0; want[i]; i++)
        cr_assert_not_null(strstr(errstr, want[i]), "\"%s\" not in: %s", want[i], errstr);
    rill_app_destroy(app);
    free(id);
    return took;
}

static void assert_start_fails(const char *in, const char *table, const char *out,
                               const char *const *want) {
    start_fails_on(rt_bootstrap(), NULL, in, table, out, want);
}

Test(integration_start_errors, missing_output_topic_named_with_the_fix, .timeout = 60) {
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    rt_create_topic(rt_bootstrap(), in, 2);
    const char *want[] = {"output topic", out, "does not exist", "kafka-topics.sh --create", NULL};
    assert_start_fails(in, NULL, out, want);
    free(in);
    free(out);
}

Test(integration_start_errors, missing_source_topic_named_with_the_fix, .timeout = 60) {
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    rt_create_topic(rt_bootstrap(), out, 2);
    const char *want[] = {"source topic", in, "does not exist", "kafka-topics.sh --create", NULL};
    assert_start_fails(in, NULL, out, want);
    free(in);
    free(out);
}

Test(integration_start_errors, missing_global_table_topic_named_with_the_fix, .timeout = 60) {
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    char *table = rt_unique_name("start-errors-table");
    rt_create_topic(rt_bootstrap(), in, 2);
    rt_create_topic(rt_bootstrap(), out, 2);
    const char *want[] = {"global table topic", table, "does not exist", NULL};
    assert_start_fails(in, table, out, want);
    free(in);
    free(out);
    free(table);
}

Test(integration_start_errors, all_missing_topics_named_in_one_message, .timeout = 60) {
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    char *table = rt_unique_name("start-errors-table");
    const char *want[] = {"source topic",
                          in,
                          "global table topic",
                          table,
                          "output topic",
                          out,
                          "does not exist",
                          "kafka-topics.sh --create",
                          NULL};
    assert_start_fails(in, table, out, want);
    free(in);
    free(out);
    free(table);
}

/* A port of 127.0.0.1 where nothing listens (bound, then closed). */
static int dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

Test(integration_start_errors, dead_address_reported_as_unreachable_after_the_wait, .timeout = 60) {
    char bootstrap[64];
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", dead_port());
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    const char *want[] = {"cannot reach any broker at", bootstrap, "connection refused",
                          "startup.broker.wait.ms", NULL};
    int64_t took = start_fails_on(bootstrap, "4000", in, NULL, out, want);
    cr_expect_geq(took, 4000, "gave up after %lld ms, before startup.broker.wait.ms",
                  (long long)took);
    cr_expect_lt(took, 15000, "gave up only after %lld ms", (long long)took);
    free(in);
    free(out);
}
