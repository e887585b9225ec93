/*
 * test_drain.c — exit.on.end (--drain) on the embedded broker: at the end of its input the
 * app moves stream time past it, so windows still open close and emit, commits, and stops by
 * itself.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(engine_drain, open_windows_emitted_and_app_stops_when_input_ends, .timeout = 90) {
    char id[64], dir[] = "/tmp/rill-drain-XXXXXX", errstr[512];
    cr_assert_not_null(mkdtemp(dir));
    eu_app_id(id, sizeof(id), "drain");
    rill_topology_t *topo = eu_window_count_topology("in", "counts", "out");
    const char *extra[] = {"state.dir", dir, "exit.on.end", "true", NULL};
    rill_app_t *app = eu_app_new(topo, id, extra);
    eu_create_topic(app, "in", 2);
    rill_producer_t *p = eu_producer(app);
    /* Windows [0,1000) and [1000,2000) of key a; [1000,2000) of key b. Without the drain the
     * last windows never close: no later record moves stream time past them. */
    eu_send(p, "in", 0, "a", "x", 100);
    eu_send(p, "in", 0, "a", "x", 900);
    eu_send(p, "in", 0, "a", "x", 1500);
    eu_send(p, "in", 1, "b", "x", 1200);
    eu_producer_done(p);
    eu_start(app);
    /* No rill_app_stop(): the app must stop by itself. */
    int fired = 0;
    cr_assert_eq(eu_wait_bounded(app, 60000, errstr, sizeof(errstr), &fired), RILL_OK, "%s",
                 errstr);
    cr_assert(!fired, "the app did not stop by itself within 60 s");

    eu_recs_t out;
    eu_read_topic(rill_app_bootstrap_servers(app), "out", &out);
    cr_assert_eq(out.cnt, 3, "final windows: %zu", out.cnt);
    eu_recs_free(&out);
    rill_app_destroy(app);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
