/*
 * rill_faas_app.c — the FaaS application the bridge's integration tests run as separate
 * processes; built on the public API only.
 *
 * Topology: source (input, string key and value) → FaaS stage "fn" → sink (output).
 *
 *   rill_faas_app --input T --output T --app-id ID --url URL [--format ce|lambda]
 *                 [--function NAME] [--order partition|key|unordered] [--batch N]
 *                 [--in-flight N] [--linger MS] [--retries N] [--timeout MS]
 *                 [--max-buffered N] [--backoff MS] [common Rill flags]
 *
 * Runs until SIGTERM or SIGINT, then stops cleanly.
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct flag_s {
    const char *name;
    const char *value;
} flag_t;

static flag_t flags[] = {
    {"--input", NULL},    {"--output", NULL},    {"--app-id", NULL},  {"--url", NULL},
    {"--format", "ce"},   {"--function", NULL},  {"--order", "partition"},
    {"--batch", "100"},   {"--in-flight", "8"},  {"--linger", "5"},   {"--retries", "5"},
    {"--timeout", "5000"}, {"--max-buffered", "10000"}, {"--backoff", "50"},
};
#define FLAG_CNT (sizeof(flags) / sizeof(flags[0]))

static const char *flag(const char *name) {
    for (size_t i = 0; i < FLAG_CNT; i++)
        if (!strcmp(flags[i].name, name))
            return flags[i].value;
    return NULL;
}

/* Takes our own flags out of what rill_cli_parse() left. Returns 0 or -1. */
static int take_flags(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < FLAG_CNT && strcmp(argv[i], flags[k].name))
            k++;
        if (k == FLAG_CNT || i + 1 >= argc) {
            fprintf(stderr, "rill_faas_app: unknown or incomplete argument \"%s\"\n", argv[i]);
            return -1;
        }
        flags[k].value = argv[++i];
    }
    return 0;
}

static rill_faas_order_t order_of(const char *s) {
    if (!strcmp(s, "key"))
        return RILL_FAAS_ORDER_KEY;
    return strcmp(s, "unordered") ? RILL_FAAS_ORDER_PARTITION : RILL_FAAS_UNORDERED;
}

static rill_topology_t *build(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(),
                              .value_serde = rill_serde_string()};
    rill_faas_opts_t fo = {
        .url = flag("--url"),
        .function = flag("--function"),
        .format = strcmp(flag("--format"), "lambda") ? RILL_FAAS_CLOUDEVENTS : RILL_FAAS_LAMBDA,
        .order = order_of(flag("--order")),
        .batch_max_records = atoi(flag("--batch")),
        .max_in_flight = atoi(flag("--in-flight")),
        .linger_ms = atoi(flag("--linger")),
        .max_retries = atoi(flag("--retries")),
        .timeout_ms = atoi(flag("--timeout")),
        .max_buffered_records = atoi(flag("--max-buffered")),
        .backoff_initial_ms = atoi(flag("--backoff")),
        .backoff_max_ms = 2000,
    };
    rill_stream_t *s = rill_stream_from(topo, "source", flag("--input"), &src);
    s = rill_stream_faas(s, "fn", &fo);
    rill_stream_to(s, "sink", flag("--output"), NULL);
    return topo;
}

int main(int argc, char **argv) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    int rc = rill_cli_parse(&argc, argv, conf, NULL, 1, errstr, sizeof(errstr));
    if (rc || take_flags(argc, argv)) {
        if (rc < 0)
            fprintf(stderr, "rill_faas_app: %s\n", errstr);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    if (!flag("--input") || !flag("--output") || !flag("--app-id") || !flag("--url")) {
        fprintf(stderr, "usage: rill_faas_app --input T --output T --app-id ID --url URL ...\n");
        return 2;
    }
    rill_conf_set(conf, "application.id", flag("--app-id"), NULL, 0);
    rill_app_t *app = rill_app_new(build(), conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill_faas_app: %s\n", errstr);
        return 2;
    }
    return rill_app_run_until_signal(app);
}
