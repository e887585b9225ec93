/*
 * run.c — running an app in the foreground of a program until SIGINT/SIGTERM, with a clean
 * stop: the common main loop of every Rill binary.
 */
#include "engine_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static rill_app_t *volatile running_app;

static void on_signal(int sig) {
    rill_app_t *app = running_app;
    if (app)
        rill_app_stop(app); /* an atomic store: async-signal-safe */
}

int rill_app_run_until_signal(rill_app_t *app) {
    char errstr[512];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    running_app = app;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = 0;
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "rill: cannot start: %s\n", errstr);
        code = 1;
    }
    if (rill_app_wait(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "rill: stopped on error: %s\n", errstr);
        code = 1;
    }
    running_app = NULL;
    rill_app_destroy(app);
    return code;
}
