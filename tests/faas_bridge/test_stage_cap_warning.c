/*
 * test_stage_cap_warning.c — the warning a FaaS stage logs once when its tasks together may
 * have more calls in flight (tasks x max_in_flight, the gauge rill_faas_concurrency_limit)
 * than the process runs at once (faas.max.in.flight), on the embedded broker:
 *  - one over the cap: one warning, naming the stage, the stage's total and the cap;
 *  - far over the cap (the total passes it again with every further task): still one;
 *  - exactly at the cap: none.
 *
 * DESIGN: the stage's input topic has TASKS partitions and stays empty, so no call is ever
 * made (the function's URL is never dialled); the warning comes from the tasks' first polls.
 * The test waits until the gauge shows every task's calls, stops the app (its threads are
 * joined, so every line is written) and only then counts the lines in its captured stderr.
 * The expected numbers come from the test's own settings, not from the stage.
 */
#include <criterion/criterion.h>

#include "../engine/embedded_util.h"
#include "../engine/log_capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASKS 4
#define IN_FLIGHT 16 /* per task: TASKS x IN_FLIGHT = 64 calls for the stage */
#define STAGE "enrich"
#define WARNING_TEXT "calls in flight (rill_faas_concurrency_limit)"

TestSuite(faas_bridge_stage_cap_warning, .timeout = 120);

/* source (TASKS partitions) -> FaaS stage STAGE -> sink. */
static rill_topology_t *stage_topology(const char *in, const char *out) {
    rill_topology_t *topo = rill_topology_new();
    rill_faas_opts_t opts = {
        .url = "http://127.0.0.1:9/",
        .function = "unused",
        .batch_max_records = 10,
        .max_in_flight = IN_FLIGHT,
    };
    rill_stream_t *s = rill_stream_from(topo, "source", in, NULL);

    rill_stream_to(rill_stream_faas(s, STAGE, &opts), "sink", out, NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* What the warning lines of a log say: how many there are, and the numbers of the first. */
typedef struct warnings_s {
    int lines;
    int warn_level; /* lines logged at WARN */
    char stage[64];
    long long calls, cap, advised;
} warnings_t;

static warnings_t read_warnings(const char *log) {
    warnings_t w = {0};

    for (const char *line = log; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char text[2048];

        snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) ? len : sizeof(text) - 1),
                 line);
        const char *at = strstr(text, "FaaS stage \"");
        if (strstr(text, WARNING_TEXT) && at) {
            if (w.lines++ == 0)
                sscanf(at,
                       "FaaS stage \"%63[^\"]\": its tasks may have %lld calls in flight "
                       "(rill_faas_concurrency_limit) but the process runs at most "
                       "faas.max.in.flight=%lld at once; the rest wait for a free one. Set "
                       "faas.max.in.flight and faas.max.connections to at least %lld",
                       w.stage, &w.calls, &w.cap, &w.advised);
            w.warn_level += strstr(text, " WARN ") != NULL;
        }
        line = eol ? eol + 1 : NULL;
    }
    return w;
}

/* Runs the stage with faas.max.in.flight=cap until every task has shown its calls; returns
 * what the log says of the warning. */
static warnings_t run_with_cap(const char *tag, int cap) {
    char id[128], in[160], out[160], cap_value[16];
    cap_t log;

    eu_app_id(id, sizeof(id), tag);
    snprintf(in, sizeof(in), "%s.in", id);
    snprintf(out, sizeof(out), "%s.out", id);
    snprintf(cap_value, sizeof(cap_value), "%d", cap);
    const char *const extra[] = {"faas.max.in.flight", cap_value, NULL};

    cap_begin(&log);
    rill_app_t *app = eu_app_new(stage_topology(in, out), id, extra);
    eu_create_topic(app, in, TASKS);
    eu_create_topic(app, out, 1);
    eu_start(app);
    int64_t calls = eu_wait_metric(app, "rill_faas_concurrency_limit", TASKS * IN_FLIGHT);
    eu_stop(app);
    rill_app_destroy(app);

    cr_assert_eq(calls, TASKS * IN_FLIGHT, "the stage's tasks showed %lld calls, not %d; log:\n%s",
                 (long long)calls, TASKS * IN_FLIGHT, cap_tail(&log));
    char *all = cap_text(&log);
    warnings_t w = read_warnings(all);
    free(all);
    if (w.lines != (cap < TASKS * IN_FLIGHT))
        cr_log_error("log:\n%s", cap_tail(&log));
    cap_end(&log);
    return w;
}

Test(faas_bridge_stage_cap_warning, warns_once_with_the_total_when_the_tasks_pass_the_cap_by_one) {
    warnings_t w = run_with_cap("cap-warn-one-over", TASKS * IN_FLIGHT - 1);

    cr_expect_eq(w.lines, 1, "%d warnings", w.lines);
    cr_expect_eq(w.warn_level, 1, "the warning is not at level WARN");
    cr_expect_str_eq(w.stage, STAGE);
    cr_expect_eq(w.calls, TASKS * IN_FLIGHT, "the warning names %lld calls", w.calls);
    cr_expect_eq(w.cap, TASKS * IN_FLIGHT - 1, "the warning names the cap %lld", w.cap);
    cr_expect_eq(w.advised, TASKS * IN_FLIGHT, "the warning advises %lld", w.advised);
}

Test(faas_bridge_stage_cap_warning, warns_once_when_every_further_task_passes_the_cap_again) {
    /* One task's calls fit; the second's pass the cap and each further one passes it again. */
    warnings_t w = run_with_cap("cap-warn-far-over", IN_FLIGHT + 1);

    cr_expect_eq(w.lines, 1, "%d warnings", w.lines);
    cr_expect_str_eq(w.stage, STAGE);
    cr_expect_eq(w.cap, IN_FLIGHT + 1, "the warning names the cap %lld", w.cap);
    /* The total when the cap was passed: a whole number of tasks' calls over the cap. */
    cr_expect(w.calls > IN_FLIGHT + 1 && w.calls <= TASKS * IN_FLIGHT && w.calls % IN_FLIGHT == 0,
              "the warning names %lld calls", w.calls);
    cr_expect_eq(w.advised, w.calls, "the warning advises %lld for %lld calls", w.advised, w.calls);
}

Test(faas_bridge_stage_cap_warning, stays_silent_when_the_tasks_fill_the_cap_exactly) {
    warnings_t w = run_with_cap("cap-warn-at-cap", TASKS * IN_FLIGHT);

    cr_expect_eq(w.lines, 0, "%d warnings although %d calls fit faas.max.in.flight=%d", w.lines,
                 TASKS * IN_FLIGHT, TASKS * IN_FLIGHT);
}
