/*
 * rill_lineage_app.c — the application of the lineage-through-state test
 * (tests/integration/test_lineage_state.c), run as a separate process so that it can be
 * killed; built on the public API only.
 *
 * Topology (one source, string keys): two aggregations of the same stream, grouped by key:
 *   input → count per key and tumbling window of --window-ms (grace --grace-ms), emitted
 *           final (store "win") → --output-windows (key: the key then the window start,
 *           8 bytes big-endian; value: the count, int64 big-endian)
 *   input → count per key (store "cnt"; the record cache coalesces updates between commits)
 *           → --output-counts (key; value: the count, int64 big-endian)
 * Lineage is whatever the flags say (the test gives -D lineage.enable=true).
 *
 *   rill_lineage_app --input T --output-windows T --output-counts T --app-id ID
 *                    --window-ms N --grace-ms N [common Rill flags]
 */
#include <rill.h>

#include "prog_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_app_flag(const char *arg) {
    static const char *const own[] = {"--input",  "--output-windows", "--output-counts",
                                      "--app-id", "--window-ms",      "--grace-ms"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (!strcmp(arg, own[i]))
            return 1;
    return 0;
}

/* A decimal number of milliseconds in [0, 10^9], or -1. */
static long ms_of(const char *s) {
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    return s && *s && !*end && v >= 0 && v <= 1000000000L ? v : -1;
}

int main(int argc, char **argv) {
    const char *input = prog_flag(argc, argv, "--input");
    const char *out_win = prog_flag(argc, argv, "--output-windows");
    const char *out_cnt = prog_flag(argc, argv, "--output-counts");
    const char *app_id = prog_flag(argc, argv, "--app-id");
    long size = ms_of(prog_flag(argc, argv, "--window-ms"));
    long grace = ms_of(prog_flag(argc, argv, "--grace-ms"));
    if (!input || !out_win || !out_cnt || !app_id || size <= 0 || grace < 0) {
        fprintf(stderr, "usage: rill_lineage_app --input T --output-windows T --output-counts T "
                        "--app-id ID --window-ms N --grace-ms N [Rill flags]\n");
        return 2;
    }
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_bytes()};
    rill_stream_t *s = rill_stream_from(topo, "source", input, &src);
    rill_window_spec_t spec = {.kind = RILL_WINDOW_TUMBLING, .size_ms = size, .grace_ms = grace};
    rill_table_t *win = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by_key(s, "by-key-windowed"), &spec), "win",
        RILL_EMIT_FINAL);
    rill_stream_to(rill_table_to_stream(win, "windows"), "windows-sink", out_win, NULL);
    rill_table_t *cnt = rill_grouped_count(rill_stream_group_by_key(s, "by-key"), "cnt");
    rill_stream_to(rill_table_to_stream(cnt, "counts"), "counts-sink", out_cnt, NULL);
    return prog_run("rill_lineage_app", topo, app_id, argc, argv, is_app_flag);
}
