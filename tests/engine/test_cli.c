/*
 * test_cli.c — unit tests of rill_cli_parse() (engine/cli.c): flags applied to the
 * configuration, -D properties, config files, unknown flags with and without allow_extra,
 * bad values, --help and --describe.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

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

/* Parses the NULL-terminated argv (argv[0] included); *argcp gets the count left. */
static int parse(char **argv, int *argcp, int allow_extra) {
    int argc = 0;

    while (argv[argc])
        argc++;
    *argcp = argc;
    return rill_cli_parse(argcp, argv, conf, NULL, allow_extra, errstr, sizeof(errstr));
}

/* Reads what the test wrote to its redirected stdout (caller frees). */
static char *captured_stdout(void) {
    FILE *fp;
    char *text = calloc(1, 65536);
    size_t len;

    fflush(stdout);
    fp = cr_get_redirected_stdout();
    len = fread(text, 1, 65535, fp);
    text[len] = '\0';
    return text;
}

TestSuite(engine_cli, .init = setup, .fini = teardown);

Test(engine_cli, flags_applied_when_all_given) {
    char *argv[] = {"app",         "--bootstrap-servers", "k1:9092",       "--threads", "3",
                    "--state-dir", "/var/rill",           "--instance-id", "node-7",    NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), 0, "%s", errstr);
    cr_assert_eq(argc, 1);
    cr_assert_str_eq(argv[0], "app");
    cr_assert_null(argv[1]);
    cr_assert_str_eq(rill_conf_get(conf, "bootstrap.servers"), "k1:9092");
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "3");
    cr_assert_str_eq(rill_conf_get(conf, "state.dir"), "/var/rill");
    cr_assert_str_eq(rill_conf_get(conf, "group.instance.id"), "node-7");
}

Test(engine_cli, value_taken_after_equals_when_flag_joined) {
    char *argv[] = {"app", "--bootstrap-servers=k2:9093", "--threads=2", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), 0, "%s", errstr);
    cr_assert_str_eq(rill_conf_get(conf, "bootstrap.servers"), "k2:9093");
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "2");
}

Test(engine_cli, properties_set_when_define_given) {
    char *argv[] = {
        "app", "-D", "application.id=wordcount", "-Dlinger.ms=5", "-D", "producer.batch.size=1000",
        NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), 0, "%s", errstr);
    cr_assert_str_eq(rill_conf_get(conf, "application.id"), "wordcount");
    cr_assert_str_eq(rill_conf_get(conf, "linger.ms"), "5");
    cr_assert_str_eq(rill_conf_get(conf, "producer.batch.size"), "1000");
}

Test(engine_cli, error_names_property_when_define_invalid) {
    char *bad_value[] = {"app", "-D", "linger.ms=abc", NULL};
    char *no_equals[] = {"app", "-D", "linger.ms", NULL};
    char *missing[] = {"app", "-D", NULL};
    int argc;

    cr_assert_eq(parse(bad_value, &argc, 0), -1);
    cr_assert(strstr(errstr, "linger.ms"), "%s", errstr);
    cr_assert_eq(parse(no_equals, &argc, 0), -1);
    cr_assert(strstr(errstr, "name=value"), "%s", errstr);
    cr_assert_eq(parse(missing, &argc, 0), -1);
    cr_assert(strstr(errstr, "-D"), "%s", errstr);
}

Test(engine_cli, error_names_flag_when_threads_invalid) {
    char *argv[] = {"app", "--threads", "lots", NULL};
    char *range[] = {"app", "--threads", "0", NULL};
    char *missing[] = {"app", "--threads", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), -1);
    cr_assert(strstr(errstr, "--threads"), "%s", errstr);
    cr_assert(strstr(errstr, "lots"), "%s", errstr);
    cr_assert(strstr(errstr, "1 to 64"), "%s", errstr);
    cr_assert_eq(parse(range, &argc, 0), -1);
    cr_assert(strstr(errstr, "--threads"), "%s", errstr);
    cr_assert_eq(parse(missing, &argc, 0), -1);
    cr_assert(strstr(errstr, "--threads needs a value"), "%s", errstr);
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "1");
}

Test(engine_cli, error_when_flag_unknown_without_allow_extra) {
    char *argv[] = {"app", "--threads", "2", "--rate", "10", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), -1);
    cr_assert(strstr(errstr, "--rate"), "%s", errstr);
    cr_assert(strstr(errstr, "--help"), "%s", errstr);
    cr_assert_str_eq(argv[3], "--rate");                              /* argv untouched on error */
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "1"); /* nothing applied */
}

Test(engine_cli, unknown_kept_in_order_when_allow_extra) {
    char *argv[] = {"app",       "--rate", "10",          "--threads", "2",         "-v",
                    "input.txt", "-D",     "linger.ms=1", "--",        "--threads", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 1), 0, "%s", errstr);
    cr_assert_eq(argc, 7);
    cr_assert_str_eq(argv[0], "app");
    cr_assert_str_eq(argv[1], "--rate");
    cr_assert_str_eq(argv[2], "10");
    cr_assert_str_eq(argv[3], "-v");
    cr_assert_str_eq(argv[4], "input.txt");
    cr_assert_str_eq(argv[5], "--");
    cr_assert_str_eq(argv[6], "--threads");
    cr_assert_null(argv[7]);
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "2");
    cr_assert_str_eq(rill_conf_get(conf, "linger.ms"), "1");
}

Test(engine_cli, flags_override_file_when_config_given_last) {
    char path[] = "/tmp/rill_test_cli_XXXXXX";
    const char *text = "application.id=from-file\nnum.stream.threads=8\n";
    int fd = mkstemp(path);
    char *argv[] = {"app", "--threads", "4", "--config", path, NULL};
    int argc;

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(parse(argv, &argc, 0), 0, "%s", errstr);
    unlink(path);
    cr_assert_str_eq(rill_conf_get(conf, "application.id"), "from-file");
    cr_assert_str_eq(rill_conf_get(conf, "num.stream.threads"), "4");
}

Test(engine_cli, error_names_file_when_config_missing) {
    char *argv[] = {"app", "--config", "/nonexistent/app.properties", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), -1);
    cr_assert(strstr(errstr, "--config"), "%s", errstr);
    cr_assert(strstr(errstr, "/nonexistent/app.properties"), "%s", errstr);
}

Test(engine_cli, usage_printed_when_help_given, .init = cr_redirect_stdout) {
    char *argv[] = {"app", "--threads", "2", "--help", NULL};
    char *text;
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), 1, "%s", errstr);
    text = captured_stdout();
    cr_assert(strstr(text, "Usage: app"), "%s", text);
    cr_assert(strstr(text, "--bootstrap-servers"), "%s", text);
    cr_assert(strstr(text, "--instance-id"), "%s", text);
    cr_assert(strstr(text, "-D name=value"), "%s", text);
    cr_assert(strstr(text, "processing.guarantee"), "%s", text);
    cr_assert(strstr(text, "embedded.broker.partitions"), "%s", text);
    free(text);
}

Test(engine_cli, short_help_accepted_when_h_given, .init = cr_redirect_stdout) {
    char *argv[] = {"app", "-h", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), 1);
}

Test(engine_cli, error_when_describe_has_no_topology) {
    char *argv[] = {"app", "--describe", NULL};
    int argc;

    cr_assert_eq(parse(argv, &argc, 0), -1);
    cr_assert(strstr(errstr, "--describe"), "%s", errstr);
}

Test(engine_cli, description_printed_when_describe_given, .init = cr_redirect_stdout) {
    char path[] = "/tmp/rill_test_cli_dot_XXXXXX";
    int fd = mkstemp(path);
    char *argv[] = {"app", "--describe", "--describe-dot", path, NULL};
    rill_topology_t *topo = rill_topology_new();
    char *text;
    FILE *fp;
    int argc = 4;
    char dot[64] = {0};

    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(rill_stream_to(rill_stream_from(topo, NULL, "in", NULL), NULL, "out", NULL),
                 RILL_OK, "%s", rill_topology_error(topo));
    cr_assert_eq(rill_cli_parse(&argc, argv, conf, topo, 0, errstr, sizeof(errstr)), 1, "%s",
                 errstr);
    text = captured_stdout();
    cr_assert_gt(strlen(text), 0);
    fp = fopen(path, "r");
    cr_assert_not_null(fp);
    cr_assert_gt(fread(dot, 1, sizeof(dot) - 1, fp), 0);
    fclose(fp);
    unlink(path);
    cr_assert(strstr(dot, "digraph"), "%s", dot);
    free(text);
    rill_topology_destroy(topo);
}
