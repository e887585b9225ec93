/*
 * test_start_errors.c — an app on a real Kafka (topic auto-creation off, as in production)
 * refuses to start when a topic it needs does not exist, with a message that names the topic
 * and the fix, instead of failing record by record: a missing output topic, a missing
 * source topic, a missing global table topic.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it).
 */
#include <criterion/criterion.h>

#include "rill_test.h"

#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pick_user(const rill_record_t *rec, rill_record_t *out, void *opaque)
{
    (void)rec;
    (void)out;
    (void)opaque;
    return 0;
}

static int keep_left(const rill_record_t *left, const rill_record_t *right, rill_buf_t *out,
                     void *opaque)
{
    (void)right;
    (void)opaque;
    return rill_buf_append(out, left->value, left->value_len);
}

/* Starts an app reading in (joined with the global table of table when not NULL) into out;
 * asserts that the start fails with a message containing each of want (NULL-terminated). */
static void assert_start_fails(const char *in, const char *table, const char *out,
                               const char *const *want)
{
    char errstr[512] = "", *id = rt_unique_name("start-errors");
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *s = rill_stream_from(topo, "source", in, NULL);
    if (table)
        s = rill_stream_global_join(s, rill_global_table(topo, table, NULL, NULL), "enrich",
                                    RILL_JOIN_LEFT, pick_user, keep_left, NULL);
    rill_stream_to(s, "sink", out, NULL);
    rill_conf_t *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(conf, "application.id", id, errstr, sizeof(errstr)), 0);
    cr_assert_eq(rill_conf_set(conf, "bootstrap.servers", rt_bootstrap(), errstr,
                               sizeof(errstr)), 0);
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_neq(rill_app_start(app, errstr, sizeof(errstr)), RILL_OK,
                  "the start must fail (in %s, out %s)", in, out);
    for (size_t i = 0; want[i]; i++)
        cr_assert_not_null(strstr(errstr, want[i]), "\"%s\" not in: %s", want[i], errstr);
    rill_app_destroy(app);
    free(id);
}

Test(integration_start_errors, missing_output_topic_named_with_the_fix, .timeout = 60)
{
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    rt_create_topic(rt_bootstrap(), in, 2);
    const char *want[] = {"output topic", out, "does not exist", "kafka-topics.sh --create",
                          NULL};
    assert_start_fails(in, NULL, out, want);
    free(in);
    free(out);
}

Test(integration_start_errors, missing_source_topic_named_with_the_fix, .timeout = 60)
{
    char *in = rt_unique_name("start-errors-in"), *out = rt_unique_name("start-errors-out");
    rt_create_topic(rt_bootstrap(), out, 2);
    const char *want[] = {"source topic", in, "does not exist", "kafka-topics.sh --create",
                          NULL};
    assert_start_fails(in, NULL, out, want);
    free(in);
    free(out);
}

Test(integration_start_errors, missing_global_table_topic_named_with_the_fix, .timeout = 60)
{
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
