/*
 * rill_count_app.c — a stateful application the state tests run as separate processes;
 * built on the public API only.
 *
 * Topology: source (input, string key and value) → processor "count" (a key-value store
 * "counts": the number of records seen per key) → sink (output): key, count in decimal.
 * The latest output per key is therefore the key's count so far.
 *
 *   rill_count_app --input T --output T --app-id ID [--stores N] [--value-size B]
 *                  [common Rill flags]
 *
 * --stores N (default 1) declares N key-value stores, "counts", "counts-2", ..., "counts-N",
 * all updated with the same count for every record (the memory tests use several stores per
 * task); with 0 the processor keeps no state and outputs "0". --value-size B (default 8, at
 * least 8) pads each stored value to B bytes: the count (8 bytes, big-endian), then zeros.
 */
#include <rill.h>

#include "prog_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STORES 64
#define MAX_VALUE_SIZE 65536

/* The stores and the stored value's size, fixed before the app starts. */
static struct {
    int stores;
    size_t value_size;
    char names[MAX_STORES][24];
} app_opts = {.stores = 1, .value_size = 8};

/* Reads the count of key from store name: 0 when absent. Returns 0 or -1. */
static int count_get(rill_ctx_t *ctx, const char *name, const rill_record_t *rec, int64_t *n) {
    rill_kv_t *kv = rill_ctx_kv(ctx, name);
    const void *old;
    size_t old_len;
    *n = 0;
    int rc = kv ? rill_kv_get(kv, rec->key, rec->key_len, &old, &old_len) : -1;
    if (rc < 0)
        return -1;
    if (rc == 1 && rill_int64_decode(old, old_len < 8 ? old_len : 8, n))
        return -1;
    return 0;
}

static int count_put(rill_ctx_t *ctx, const char *name, const rill_record_t *rec, int64_t n) {
    static _Thread_local unsigned char value[MAX_VALUE_SIZE];
    rill_kv_t *kv = rill_ctx_kv(ctx, name);
    rill_int64_encode(n, value);
    return kv && !rill_kv_put(kv, rec->key, rec->key_len, value, app_opts.value_size) ? 0 : -1;
}

static int count_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    int64_t n = 0;
    if (app_opts.stores > 0) {
        if (count_get(ctx, app_opts.names[0], rec, &n))
            return -1;
        n++;
        for (int i = 0; i < app_opts.stores; i++)
            if (count_put(ctx, app_opts.names[i], rec, n))
                return -1;
    }
    char text[32];
    int len = snprintf(text, sizeof(text), "%lld", (long long)n);
    rill_record_t out = *rec;
    out.value = text;
    out.value_len = (size_t)len;
    out.value_obj = NULL;
    return rill_ctx_forward(ctx, &out) ? -1 : 0;
}

static const rill_processor_def_t count_def = {.process = count_process};

/* Parses a decimal integer in [lo, hi]. Returns 0 or -1. */
static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int is_app_flag(const char *arg) {
    return !strcmp(arg, "--input") || !strcmp(arg, "--output") || !strcmp(arg, "--app-id") ||
           !strcmp(arg, "--stores") || !strcmp(arg, "--value-size");
}

int main(int argc, char **argv) {
    const char *input = prog_flag(argc, argv, "--input");
    const char *output = prog_flag(argc, argv, "--output");
    const char *app_id = prog_flag(argc, argv, "--app-id");
    if (!input || !output || !app_id) {
        fprintf(stderr, "usage: rill_count_app --input T --output T --app-id ID [--stores N] "
                        "[--value-size B] [Rill flags]\n");
        return 2;
    }
    const char *stores = prog_flag(argc, argv, "--stores");
    const char *value_size = prog_flag(argc, argv, "--value-size");
    long v;
    if (stores) {
        if (parse_int(stores, 0, MAX_STORES, &v)) {
            fprintf(stderr, "rill_count_app: --stores wants 0..%d, got \"%s\"\n", MAX_STORES,
                    stores);
            return 2;
        }
        app_opts.stores = (int)v;
    }
    if (value_size) {
        if (parse_int(value_size, 8, MAX_VALUE_SIZE, &v)) {
            fprintf(stderr, "rill_count_app: --value-size wants 8..%d, got \"%s\"\n",
                    MAX_VALUE_SIZE, value_size);
            return 2;
        }
        app_opts.value_size = (size_t)v;
    }
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_bytes()};
    rill_stream_t *s = rill_stream_from(topo, "source", input, &src);
    s = rill_stream_process(s, "count", &count_def, NULL);
    for (int i = 0; i < app_opts.stores; i++) {
        if (i == 0)
            snprintf(app_opts.names[i], sizeof(app_opts.names[i]), "counts");
        else
            snprintf(app_opts.names[i], sizeof(app_opts.names[i]), "counts-%d", i + 1);
        rill_stream_use_kv_store(s, app_opts.names[i]);
    }
    rill_stream_to(s, "sink", output, NULL);
    return prog_run("rill_count_app", topo, app_id, argc, argv, is_app_flag);
}
