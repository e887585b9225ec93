/*
 * test_conf.c — unit tests of rill_conf_t (engine/conf.c): validation of Rill's own keys,
 * pass-through and managed librdkafka properties, defaults, per-role librdkafka
 * configurations, properties files and dup. No broker.
 */
#include <criterion/criterion.h>

#include "conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rill_conf_t *conf;
static char errstr[512];

static void setup(void) {
    conf = rill_conf_new();
    cr_assert_not_null(conf);
    errstr[0] = '\0';
}

static void teardown(void) {
    rill_conf_destroy(conf);
}

static rill_err_t set(const char *name, const char *value) {
    return rill_conf_set(conf, name, value, errstr, sizeof(errstr));
}

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *write_tmp(const char *text) {
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/rill_test_conf_XXXXXX");
    fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* The value of name in a librdkafka configuration, or "" when unset. */
static const char *kafka_get(rd_kafka_conf_t *kconf, const char *name) {
    static char value[256];
    size_t size = sizeof(value);

    if (rd_kafka_conf_get(kconf, name, value, &size) != RD_KAFKA_CONF_OK)
        return "";
    return value;
}

TestSuite(engine_conf, .init = setup, .fini = teardown);

/* ---------------------------------------------------------------------------------------- */
/* Rill's own keys                                                                          */

Test(engine_conf, own_keys_stored_when_values_valid) {
    cr_assert_eq(set("application.id", "orders-app_1.v2"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("num.stream.threads", "4"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("commit.interval.ms", "0"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("processing.guarantee", "exactly_once_v2"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("replication.factor", "-1"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("errors.tolerance", "none"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("poll.ms", "10000"), RILL_OK, "%s", errstr);
    cr_assert_str_eq(rill_conf_get(conf, "application.id"), "orders-app_1.v2");
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "4");
}

Test(engine_conf, later_value_replaces_when_set_twice) {
    cr_assert_eq(set("num.stream.threads", "2"), RILL_OK);
    cr_assert_eq(set("num.stream.threads", "3"), RILL_OK);
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "3");
}

Test(engine_conf, rejected_with_key_and_value_when_threads_out_of_range) {
    cr_assert_eq(set("num.stream.threads", "65"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "num.stream.threads"), "%s", errstr);
    cr_assert(strstr(errstr, "65"), "%s", errstr);
    cr_assert(strstr(errstr, "1 to 64"), "%s", errstr);
    cr_assert_eq(set("num.stream.threads", "0"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("num.stream.threads", "2x"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("num.stream.threads", ""), RILL_ERR_INVALID_ARG);
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "1"); /* default kept */
}

Test(engine_conf, rejected_when_application_id_has_bad_characters) {
    cr_assert_eq(set("application.id", "my app"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "application.id"), "%s", errstr);
    cr_assert_eq(set("application.id", ""), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("application.id", "a/b"), RILL_ERR_INVALID_ARG);
}

Test(engine_conf, deprecated_name_explained_when_guarantee_is_exactly_once) {
    cr_assert_eq(set("processing.guarantee", "exactly_once"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "deprecated"), "%s", errstr);
    cr_assert(strstr(errstr, "exactly_once_v2"), "%s", errstr);
    cr_assert_eq(set("processing.guarantee", "exactly_once_beta"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "deprecated"), "%s", errstr);
    cr_assert_eq(set("processing.guarantee", "at_most_once"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "processing.guarantee"), "%s", errstr);
    cr_assert(strstr(errstr, "at_least_once|exactly_once_v2"), "%s", errstr);
}

Test(engine_conf, rejected_when_other_own_values_invalid) {
    cr_assert_eq(set("replication.factor", "0"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "replication.factor"), "%s", errstr);
    cr_assert_eq(set("replication.factor", "-2"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("commit.interval.ms", "-1"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("errors.tolerance", "some"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("errors.deadletterqueue.topic.partitions", "0"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("buffered.records.per.partition", "0"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("poll.ms", "10001"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("embedded.broker.partitions", "1025"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("state.dir", ""), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "state.dir"), "%s", errstr);
}

/* ---------------------------------------------------------------------------------------- */
/* Pass-through and managed properties                                                      */

Test(engine_conf, passed_through_when_librdkafka_knows_key) {
    cr_assert_eq(set("linger.ms", "5"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("consumer.fetch.min.bytes", "1024"), RILL_OK, "%s", errstr);
    cr_assert_eq(set("producer.compression.type", "lz4"), RILL_OK, "%s", errstr);
    cr_assert_str_eq(rill_conf_get(conf, "linger.ms"), "5");
    cr_assert_str_eq(rill_conf_get(conf, "consumer.fetch.min.bytes"), "1024");
    cr_assert_null(rill_conf_get(conf, "fetch.min.bytes"));
}

Test(engine_conf, librdkafka_message_given_when_value_invalid) {
    cr_assert_eq(set("linger.ms", "abc"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "linger.ms"), "%s", errstr);
    cr_assert_null(rill_conf_get(conf, "linger.ms"));
}

Test(engine_conf, unknown_conf_when_nobody_knows_key) {
    cr_assert_eq(set("no.such.key", "1"), RILL_ERR_UNKNOWN_CONF);
    cr_assert(strstr(errstr, "no.such.key"), "%s", errstr);
    cr_assert_eq(set("producer.no.such.key", "1"), RILL_ERR_UNKNOWN_CONF);
    cr_assert(strstr(errstr, "producer.no.such.key"), "%s", errstr);
    cr_assert_eq(set("consumer.", "1"), RILL_ERR_UNKNOWN_CONF);
}

Test(engine_conf, rill_setting_named_when_key_is_managed) {
    cr_assert_eq(set("group.id", "g"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "group.id"), "%s", errstr);
    cr_assert(strstr(errstr, "application.id"), "%s", errstr);
    cr_assert_eq(set("consumer.isolation.level", "read_committed"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "processing.guarantee"), "%s", errstr);
    cr_assert_eq(set("transactional.id", "t"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "processing.guarantee"), "%s", errstr);
    cr_assert_eq(set("enable.auto.commit", "true"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("consumer.enable.auto.offset.store", "true"), RILL_ERR_INVALID_ARG);
    cr_assert_eq(set("consumer.group.instance.id", "x"), RILL_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "group.instance.id"), "%s", errstr);
}

/* ---------------------------------------------------------------------------------------- */
/* Settings                                                                                 */

/* The per-user default of state.dir: "${TMPDIR:-/tmp}/rill-state-<uid>". */
static const char *user_state_dir(void) {
    static char dir[1024];
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/rill-state-%u", tmp && *tmp == '/' ? tmp : "/tmp",
             (unsigned)geteuid());
    return dir;
}

Test(engine_conf, state_dir_defaults_to_a_directory_of_the_user_when_not_set) {
    cr_assert_str_eq(rill_conf_get(conf, "state.dir"), user_state_dir());
    cr_assert_neq(strcmp(rill_conf_get(conf, "state.dir"), "/tmp/rill-state"), 0);
}

Test(engine_conf, defaults_filled_when_only_application_id_set) {
    rill__settings_t s;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(rill__conf_settings(conf, &s, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_str_eq(s.application_id, "app");
    cr_assert_null(s.bootstrap_servers);
    cr_assert_eq(s.num_stream_threads, 1);
    cr_assert_eq(s.commit_interval_ms, 30000);
    cr_assert_eq(s.guarantee, RILL_GUARANTEE_AT_LEAST_ONCE);
    cr_assert_str_eq(s.state_dir, user_state_dir());
    cr_assert_eq(s.replication_factor, -1);
    cr_assert_eq(s.errors_fatal, 0);
    cr_assert_str_eq(s.dlq_topic, "app-dlq");
    cr_assert_eq(s.dlq_partitions, 1);
    cr_assert_null(s.group_instance_id);
    cr_assert_eq(s.buffered_records_per_partition, 1000);
    cr_assert_eq(s.poll_ms, 100);
    cr_assert_eq(s.embedded_partitions, 4);
}

Test(engine_conf, commit_interval_100_when_exactly_once_v2) {
    rill__settings_t s;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(set("processing.guarantee", "exactly_once_v2"), RILL_OK);
    cr_assert_eq(rill__conf_settings(conf, &s, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_eq(s.guarantee, RILL_GUARANTEE_EXACTLY_ONCE_V2);
    cr_assert_eq(s.commit_interval_ms, 100);
    cr_assert_str_eq(rill_conf_get(conf, "commit.interval.ms"), "100");
}

Test(engine_conf, explicit_commit_interval_kept_when_exactly_once_v2) {
    rill__settings_t s;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(set("commit.interval.ms", "2500"), RILL_OK);
    cr_assert_eq(set("processing.guarantee", "exactly_once_v2"), RILL_OK);
    cr_assert_eq(rill__conf_settings(conf, &s, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_eq(s.commit_interval_ms, 2500);
}

Test(engine_conf, explicit_values_parsed_when_set) {
    rill__settings_t s;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(set("errors.deadletterqueue.topic.name", "bad-records"), RILL_OK);
    cr_assert_eq(set("errors.tolerance", "none"), RILL_OK);
    cr_assert_eq(set("group.instance.id", "node-1"), RILL_OK);
    cr_assert_eq(set("bootstrap.servers", "k1:9092,k2:9092"), RILL_OK);
    cr_assert_eq(set("replication.factor", "3"), RILL_OK);
    cr_assert_eq(rill__conf_settings(conf, &s, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_str_eq(s.dlq_topic, "bad-records");
    cr_assert_eq(s.errors_fatal, 1);
    cr_assert_str_eq(s.group_instance_id, "node-1");
    cr_assert_str_eq(s.bootstrap_servers, "k1:9092,k2:9092");
    cr_assert_eq(s.replication_factor, 3);
}

Test(engine_conf, error_explains_fix_when_application_id_missing) {
    rill__settings_t s;

    cr_assert_eq(rill__conf_settings(conf, &s, errstr, sizeof(errstr)), RILL_ERR_INVALID_ARG);
    cr_assert_str_eq(errstr, "application.id is required: set it with -D application.id=NAME "
                             "or in the --config file");
}

/* ---------------------------------------------------------------------------------------- */
/* librdkafka configurations                                                                */

Test(engine_conf, role_gets_unprefixed_and_own_prefixed_when_kafka_conf_built) {
    rd_kafka_conf_t *kconf;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(set("linger.ms", "5"), RILL_OK);
    cr_assert_eq(set("producer.linger.ms", "7"), RILL_OK);
    cr_assert_eq(set("consumer.fetch.min.bytes", "2048"), RILL_OK);
    cr_assert_eq(set("admin.socket.timeout.ms", "1234"), RILL_OK);

    kconf = rill__conf_kafka(conf, RILL_CLIENT_PRODUCER, "h:1", errstr, sizeof(errstr));
    cr_assert_not_null(kconf, "%s", errstr);
    cr_assert_str_eq(kafka_get(kconf, "linger.ms"), "7"); /* prefixed wins */
    cr_assert_str_eq(kafka_get(kconf, "fetch.min.bytes"), "1");
    cr_assert_str_neq(kafka_get(kconf, "socket.timeout.ms"), "1234");
    cr_assert_str_eq(kafka_get(kconf, "bootstrap.servers"), "h:1");
    rd_kafka_conf_destroy(kconf);

    kconf = rill__conf_kafka(conf, RILL_CLIENT_CONSUMER, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(kconf, "%s", errstr);
    cr_assert_str_eq(kafka_get(kconf, "linger.ms"), "5");
    cr_assert_str_eq(kafka_get(kconf, "fetch.min.bytes"), "2048");
    cr_assert_str_eq(kafka_get(kconf, "bootstrap.servers"), "");
    rd_kafka_conf_destroy(kconf);

    kconf = rill__conf_kafka(conf, RILL_CLIENT_ADMIN, "h:2", errstr, sizeof(errstr));
    cr_assert_not_null(kconf, "%s", errstr);
    cr_assert_str_eq(kafka_get(kconf, "socket.timeout.ms"), "1234");
    cr_assert_str_eq(kafka_get(kconf, "linger.ms"), "5");
    rd_kafka_conf_destroy(kconf);
}

Test(engine_conf, own_keys_not_given_to_librdkafka_when_kafka_conf_built) {
    rd_kafka_conf_t *kconf;

    cr_assert_eq(set("application.id", "app"), RILL_OK);
    cr_assert_eq(set("bootstrap.servers", "from-conf:9092"), RILL_OK);
    kconf = rill__conf_kafka(conf, RILL_CLIENT_CONSUMER, "from-arg:9092", errstr, sizeof(errstr));
    cr_assert_not_null(kconf, "%s", errstr);
    cr_assert_str_eq(kafka_get(kconf, "bootstrap.servers"), "from-arg:9092");
    cr_assert_str_neq(kafka_get(kconf, "group.id"), "app");
    rd_kafka_conf_destroy(kconf);
}

/* ---------------------------------------------------------------------------------------- */
/* Files and copies                                                                         */

Test(engine_conf, properties_applied_when_file_has_comments_and_blanks) {
    const char *path = write_tmp("# a comment\n"
                                 "! another comment\n"
                                 "\n"
                                 "   application.id =  from-file  \n"
                                 "\tlinger.ms=9\r\n"
                                 "   # indented comment\n"
                                 "state.dir=/var/lib/rill\n");

    cr_assert_eq(rill_conf_load_file(conf, path, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    unlink(path);
    cr_assert_str_eq(rill_conf_get(conf, "application.id"), "from-file");
    cr_assert_str_eq(rill_conf_get(conf, "linger.ms"), "9");
    cr_assert_str_eq(rill_conf_get(conf, "state.dir"), "/var/lib/rill");
}

Test(engine_conf, error_names_file_and_line_when_line_bad) {
    const char *path = write_tmp("# header\napplication.id=ok\n\nnum.stream.threads=many\n");
    char expect[128];

    cr_assert_eq(rill_conf_load_file(conf, path, errstr, sizeof(errstr)), RILL_ERR_INVALID_ARG);
    snprintf(expect, sizeof(expect), "%s:4: ", path);
    unlink(path);
    cr_assert(strstr(errstr, expect), "%s", errstr);
    cr_assert(strstr(errstr, "num.stream.threads"), "%s", errstr);
}

Test(engine_conf, error_names_line_when_equals_missing) {
    const char *path = write_tmp("application.id=ok\njust-a-word\n");
    char expect[128];

    cr_assert_eq(rill_conf_load_file(conf, path, errstr, sizeof(errstr)), RILL_ERR_INVALID_ARG);
    snprintf(expect, sizeof(expect), "%s:2: expected name=value", path);
    unlink(path);
    cr_assert(strstr(errstr, expect), "%s", errstr);
}

Test(engine_conf, io_error_when_file_missing) {
    cr_assert_eq(rill_conf_load_file(conf, "/nonexistent/rill.properties", errstr, sizeof(errstr)),
                 RILL_ERR_IO);
    cr_assert(strstr(errstr, "/nonexistent/rill.properties"), "%s", errstr);
}

Test(engine_conf, copy_independent_when_dup_changed) {
    rill_conf_t *copy;

    cr_assert_eq(set("application.id", "one"), RILL_OK);
    cr_assert_eq(set("linger.ms", "5"), RILL_OK);
    copy = rill_conf_dup(conf);
    cr_assert_not_null(copy);
    cr_assert_eq(rill_conf_set(copy, "application.id", "two", errstr, sizeof(errstr)), RILL_OK);
    cr_assert_eq(rill_conf_set(copy, "linger.ms", "6", errstr, sizeof(errstr)), RILL_OK);
    cr_assert_eq(set("num.stream.threads", "3"), RILL_OK);
    cr_assert_str_eq(rill_conf_get(conf, "application.id"), "one");
    cr_assert_str_eq(rill_conf_get(conf, "linger.ms"), "5");
    cr_assert_str_eq(rill_conf_get(copy, "application.id"), "two");
    cr_assert_str_eq(rill_conf_get(copy, "linger.ms"), "6");
    cr_assert_str_eq(rill_conf_get(copy, "num.stream.threads"), "1");
    cr_assert_neq(rill_conf_get(copy, "application.id"), rill_conf_get(conf, "application.id"));
    rill_conf_destroy(copy);
}

Test(engine_conf, every_key_listed_when_keys_printed) {
    char *text = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&text, &size);

    rill__conf_print_keys(fp);
    fclose(fp);
    cr_assert(strstr(text, "application.id"));
    cr_assert(strstr(text, "embedded.broker.partitions"));
    cr_assert(strstr(text, "at_least_once|exactly_once_v2"));
    free(text);
}
