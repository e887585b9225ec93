/*
 * example.c — the main function both examples share (see example.h).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "example.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    return remove(path);
}

/* Creates the demo's topics on the embedded broker and writes its input. */
static int write_demo(rill_app_t *app, const rill_conf_t *conf, const example_t *ex, char *err,
                      size_t err_size) {
    for (const char *const *t = ex->topics; *t; t++)
        if (rill_app_create_topic(app, *t, ex->partitions, err, err_size))
            return -1;
    rill_producer_t *p = rill_producer_new(rill_app_bootstrap_servers(app), conf, err, err_size);
    if (!p)
        return -1;
    int rc = ex->write_input(p, err, err_size);
    if (!rc && rill_producer_flush(p, 10000, err, err_size))
        rc = -1;
    rill_producer_destroy(p);
    return rc;
}

int example_main(int argc, char **argv, rill_topology_t *topo, const example_t *ex) {
    char err[512], state_dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(state_dir, sizeof(state_dir), "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", ex->app_id);
    if (!mkdtemp(state_dir)) {
        fprintf(stderr, "%s: cannot make a state directory %s: %m\n", ex->app_id, state_dir);
        return 1;
    }
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", ex->app_id, NULL, 0);
    rill_conf_set(conf, "state.dir", state_dir, NULL, 0);
    rill_app_t *app = NULL;
    int code = rill_cli_parse(&argc, argv, conf, topo, 0, err, sizeof(err));
    if (code == 0) {
        const char *servers = rill_conf_get(conf, "bootstrap.servers");
        int embedded = !servers || !*servers;
        if (embedded)
            rill_conf_set(conf, "exit.on.end", "true", NULL, 0);
        app = rill_app_new(topo, conf, err, sizeof(err));
        if (!app || (embedded && write_demo(app, conf, ex, err, sizeof(err)))) {
            code = -1;
            rill_app_destroy(app);
        } else {
            code = rill_app_run_until_signal(app); /* takes app, conf and topo */
        }
    } else if (code == 1) { /* --help or --describe: printed what was asked */
        code = 0;
    }
    if (!app) { /* else the app took them */
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
    }
    if (code < 0) {
        fprintf(stderr, "%s: %s\n", ex->app_id, err);
        code = 2;
    }
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return code;
}
