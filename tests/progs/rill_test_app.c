/*
 * rill_test_app.c — the application the integration tests run as separate processes. It is
 * built on the public API only, as a user's program would be.
 *
 * Topology (string key and value):
 *   source "source" (input)
 *   → filter "drop-multiples-of-3": drops a value that is a decimal integer divisible by 3
 *   → processor "validate": fails for a value starting with "poison" (reason
 *     "poison record: <value>") and for a value that is not a decimal integer (reason
 *     "not an integer: <value>"); both go to the dead-letter topic
 *   → map_values "times-seven": "N" → "N:<N*7 % 1000>"
 *   → sink "sink" (output)
 * The integer check lives in the processor because a mapper has no context to give a reason.
 *
 *   rill_test_app --input TOPIC --output TOPIC --app-id ID [common Rill flags, -D name=value]
 *
 * It runs until SIGTERM or SIGINT, then stops cleanly (commit, leave the group).
 */
#include <rill.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses value as a decimal integer ("-12", "7"; no spaces, no trailing bytes). Returns 0 and
 * sets *out, or -1. */
static int parse_int(const void *value, size_t len, int64_t *out) {
    char buf[32];
    if (!value || len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';
    const char *digits = buf[0] == '-' ? buf + 1 : buf;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return -1;
    errno = 0;
    *out = strtoll(buf, NULL, 10);
    return errno ? -1 : 0;
}

static int not_multiple_of_3(const rill_record_t *rec, void *opaque) {
    int64_t n;
    return parse_int(rec->value, rec->value_len, &n) || n % 3 != 0;
}

static int validate(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    int64_t n;
    int len = rec->value_len > 200 ? 200 : (int)rec->value_len;
    const char *value = rec->value ? rec->value : "";
    if (rec->value_len >= 6 && !memcmp(rec->value, "poison", 6)) {
        rill_ctx_set_error(ctx, "poison record: %.*s", len, value);
        return -1;
    }
    if (parse_int(rec->value, rec->value_len, &n)) {
        rill_ctx_set_error(ctx, "not an integer: %.*s", len, value);
        return -1;
    }
    return rill_ctx_forward(ctx, rec) ? -1 : 0;
}

static const rill_processor_def_t validate_def = {.process = validate};

static int times_seven(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    char buf[64];
    int64_t n;
    if (parse_int(rec->value, rec->value_len, &n))
        return -1; /* "validate" lets only integers through */
    int len = snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64, n, n * 7 % 1000);
    return rill_buf_append(out->value, buf, (size_t)len);
}

static rill_topology_t *build(const char *input, const char *output) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_string()};
    rill_stream_t *s = rill_stream_from(topo, "source", input, &src);
    s = rill_stream_filter(s, "drop-multiples-of-3", not_multiple_of_3, NULL);
    s = rill_stream_process(s, "validate", &validate_def, NULL);
    s = rill_stream_map_values(s, "times-seven", times_seven, NULL);
    rill_stream_to(s, "sink", output, NULL);
    return topo;
}

/* Finds the value of --name in argv (as "--name V" or "--name=V"), or NULL. */
static const char *flag_value(int argc, char **argv, const char *name) {
    size_t len = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], name) && i + 1 < argc)
            return argv[i + 1];
        if (!strncmp(argv[i], name, len) && argv[i][len] == '=')
            return argv[i] + len + 1;
    }
    return NULL;
}

/* Checks that the tokens rill_cli_parse() left are only our flags. Returns 0 or -1. */
static int check_extra_args(int argc, char **argv) {
    static const char *const own[] = {"--input", "--output", "--app-id"};
    for (int i = 1; i < argc; i++) {
        size_t k = 0, len = 0;
        for (; k < 3; k++) {
            len = strlen(own[k]);
            if (!strncmp(argv[i], own[k], len) && (argv[i][len] == '\0' || argv[i][len] == '='))
                break;
        }
        if (k == 3) {
            fprintf(stderr, "rill_test_app: unknown argument \"%s\"\n", argv[i]);
            return -1;
        }
        if (argv[i][len] == '\0')
            i++; /* its value */
    }
    return 0;
}

int main(int argc, char **argv) {
    char errstr[512];
    /* The topology needs the topic names before rill_cli_parse() (which may describe it), so
     * our flags are read first and checked again among the tokens it leaves. */
    const char *input = flag_value(argc, argv, "--input");
    const char *output = flag_value(argc, argv, "--output");
    const char *app_id = flag_value(argc, argv, "--app-id");
    rill_topology_t *topo = build(input ? input : "input", output ? output : "output");
    rill_conf_t *conf = rill_conf_new();
    int rc = app_id ? rill_conf_set(conf, "application.id", app_id, errstr, sizeof(errstr)) : 0;
    if (!rc)
        rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc < 0)
        fprintf(stderr, "rill_test_app: %s\n", errstr);
    else if (rc == 0 && (check_extra_args(argc, argv) || !input || !output || !app_id)) {
        fprintf(stderr, "usage: rill_test_app --input TOPIC --output TOPIC --app-id ID "
                        "[Rill flags, see --help]\n");
        rc = -1;
    }
    if (rc) {
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return rc < 0 ? 2 : 0;
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill_test_app: %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return 2;
    }
    /* conf is the app's now, and lives as long as it. */
    fprintf(stderr,
            "rill_test_app: %s -> %s as %s, processing.guarantee=%s, "
            "commit.interval.ms=%s\n",
            input, output, app_id, rill_conf_get(conf, "processing.guarantee"),
            rill_conf_get(conf, "commit.interval.ms"));
    return rill_app_run_until_signal(app);
}
