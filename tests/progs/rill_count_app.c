/*
 * rill_count_app.c — a stateful application the state tests run as separate processes;
 * built on the public API only.
 *
 * Topology: source (input, string key and value) → processor "count" (a key-value store
 * "counts": the number of records seen per key) → sink (output): key, count in decimal.
 * The latest output per key is therefore the key's count so far.
 *
 *   rill_count_app --input T --output T --app-id ID [common Rill flags]
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill_kv_t *kv = rill_ctx_kv(ctx, "counts");
    const void *old;
    size_t old_len;
    int64_t n = 0;
    int rc = rill_kv_get(kv, rec->key, rec->key_len, &old, &old_len);
    if (rc < 0)
        return -1;
    if (rc == 1 && rill_int64_decode(old, old_len, &n))
        return -1;
    unsigned char be[8];
    rill_int64_encode(++n, be);
    if (rill_kv_put(kv, rec->key, rec->key_len, be, sizeof(be)))
        return -1;
    char text[32];
    int len = snprintf(text, sizeof(text), "%lld", (long long)n);
    rill_record_t out = *rec;
    out.value = text;
    out.value_len = (size_t)len;
    out.value_obj = NULL;
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static const rill_processor_def_t count_def = {.process = count_process};

static const char *flag(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

int main(int argc, char **argv) {
    char errstr[512];
    const char *input = flag(argc, argv, "--input"), *output = flag(argc, argv, "--output");
    const char *app_id = flag(argc, argv, "--app-id");
    if (!input || !output || !app_id) {
        fprintf(stderr, "usage: rill_count_app --input T --output T --app-id ID [Rill flags]\n");
        return 2;
    }
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(),
                              .value_serde = rill_serde_bytes()};
    rill_stream_t *s = rill_stream_from(topo, "source", input, &src);
    s = rill_stream_process(s, "count", &count_def, NULL);
    rill_stream_use_kv_store(s, "counts");
    rill_stream_to(s, "sink", output, NULL);
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", app_id, NULL, 0);
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc) {
        if (rc < 0)
            fprintf(stderr, "rill_count_app: %s\n", errstr);
        return rc < 0 ? 2 : 0;
    }
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--input") && strcmp(argv[i], "--output") &&
            strcmp(argv[i], "--app-id")) {
            fprintf(stderr, "rill_count_app: unknown argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill_count_app: %s\n", errstr);
        return 2;
    }
    return rill_app_run_until_signal(app);
}
