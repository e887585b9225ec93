/*
 * run.c — running an app in the foreground of a program until SIGINT/SIGTERM, with a clean
 * stop: the common main loop of every Rill binary.
 *
 * DESIGN: the signal handler only records the signal and sets the stop flag (an atomic
 * store: async-signal-safe); the main thread watches the flag, so the line saying which
 * signal came and that the app is stopping is written outside the handler. The app's
 * shutdown summary follows from rill_app_wait().
 */
#include "engine_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static rill_app_t *volatile running_app;
static volatile sig_atomic_t caught_signal;

static void on_signal(int sig) {
    rill_app_t *app = running_app;
    caught_signal = sig;
    if (app)
        rill_app_stop(app); /* an atomic store: async-signal-safe */
}

int rill_app_run_until_signal(rill_app_t *app) {
    char errstr[512];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    caught_signal = 0;
    running_app = app;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = 0;
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        rill__log_at(app, RILL__LOG_ERROR, -1, "cannot start: %s", errstr);
        code = 1;
    } else {
        /* The stop flag is set by a signal, a fatal error or exit.on.end; threads end only
         * after it. */
        struct timespec tick = {0, 100 * 1000000L};
        while (!rill__app_stopping(app))
            nanosleep(&tick, NULL);
        int sig = caught_signal;
        if (sig)
            rill__log(app, -1,
                      "received %s: stopping (finishing, committing and leaving the "
                      "group)",
                      sig == SIGINT    ? "SIGINT"
                      : sig == SIGTERM ? "SIGTERM"
                                       : "a signal");
    }
    if (rill_app_wait(app, errstr, sizeof(errstr)))
        code = 1; /* the shutdown summary names the error */
    running_app = NULL;
    rill_app_destroy(app);
    return code;
}
