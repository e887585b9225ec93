/*
 * prog_run.h — the end of main() that the simple test programs share: the common Rill flags,
 * a check that every other flag is one of the program's own, the app, and running it until a
 * signal or the end of its input (--drain). Header-only: each program is one executable.
 */
#ifndef RILL_PROG_RUN_H
#define RILL_PROG_RUN_H

#include <rill.h>

#include <stdio.h>
#include <string.h>

/* The value after flag name in argv, or NULL. */
static inline const char *prog_flag(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

/*
 * Runs topo (taken, also on failure) as application app_id with the common flags of argv;
 * what they leave must be pairs "<flag> <value>" with is_own(flag) true. Returns the exit
 * code: 0 after a clean end (or --help/--describe), 2 for bad usage, else the app's.
 */
static inline int prog_run(const char *prog, rill_topology_t *topo, const char *app_id, int argc,
                           char **argv, int (*is_own)(const char *flag)) {
    char errstr[512] = "";
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", app_id, NULL, 0);
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    for (int i = 1; !rc && i < argc; i += 2) {
        if (!is_own(argv[i])) {
            snprintf(errstr, sizeof(errstr), "unknown argument \"%s\"", argv[i]);
            rc = -1;
        }
    }
    rill_app_t *app = rc ? NULL : rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (app)
        return rill_app_run_until_signal(app);
    if (rc <= 0)
        fprintf(stderr, "%s: %s\n", prog, errstr);
    rill_topology_destroy(topo); /* rill_app_new() takes them only on success */
    rill_conf_destroy(conf);
    return rc > 0 ? 0 : 2;
}

#endif
