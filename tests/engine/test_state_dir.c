/*
 * test_state_dir.c — the state directory's safety at rill_app_start() (state/state_dir.c,
 * engine/app.c, engine/conf.c): a missing one is made 0700, one owned by another user or
 * writable by group or others is refused with a message naming it and the fix, and a second
 * app on the same directory fails at start, before it joins the group, naming the pid that
 * holds it. Apps run on the embedded broker; the refusals happen before any broker I/O.
 */
#include <criterion/criterion.h>

#include "embedded_util.h"

#include <sys/stat.h>

/* A topology with a store (a count by key), so that the app needs its state directory. */
static rill_topology_t *counting_topology(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *in = rill_stream_from(topo, "in", "sd-input", NULL);
    rill_table_t *t = rill_grouped_count(rill_stream_group_by_key(in, NULL), "counts");

    rill_stream_to(rill_table_to_stream(t, NULL), NULL, "sd-output", NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

/* Starts a counting app on state.dir dir; returns its start result and message. */
static rill_err_t start_on(const char *dir, const char *tag, rill_app_t **appp, char *errstr,
                           size_t errstr_size) {
    char app_id[64];
    const char *extra[] = {"state.dir", dir, NULL};

    eu_app_id(app_id, sizeof(app_id), "sd");
    (void)tag;
    *appp = eu_app_new(counting_topology(), app_id, extra);
    errstr[0] = '\0';
    return rill_app_start(*appp, errstr, errstr_size);
}

Test(engine_state_dir, made_private_when_state_dir_is_missing, .timeout = 60) {
    char base[512], dir[600], errstr[512];
    struct stat st;
    rill_app_t *app;

    eu_state_dir_make(base, sizeof(base));
    snprintf(dir, sizeof(dir), "%s/new/state", base);
    cr_assert_eq(start_on(dir, "a", &app, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);
    rill_app_destroy(app);
    eu_state_dir_remove(base);
}

Test(engine_state_dir, refused_naming_it_when_group_or_others_may_write_it, .timeout = 60) {
    char dir[512], errstr[512];
    rill_app_t *app;

    eu_state_dir_make(dir, sizeof(dir));
    cr_assert_eq(chmod(dir, 0777), 0);
    cr_assert_neq(start_on(dir, "b", &app, errstr, sizeof(errstr)), RILL_OK);
    cr_assert(strstr(errstr, dir) && strstr(errstr, "writable by group or others") &&
                  strstr(errstr, "chmod 700"),
              "%s", errstr);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(engine_state_dir, refused_naming_it_when_another_user_owns_it, .timeout = 60) {
    char dir[512], errstr[512];
    rill_app_t *app;

    if (geteuid() != 0)
        cr_skip_test("needs root to give the directory to another user");
    eu_state_dir_make(dir, sizeof(dir));
    cr_assert_eq(chown(dir, 65534, 65534), 0);
    cr_assert_neq(start_on(dir, "c", &app, errstr, sizeof(errstr)), RILL_OK);
    cr_assert(strstr(errstr, dir) && strstr(errstr, "owned by uid 65534") &&
                  strstr(errstr, "--state-dir"),
              "%s", errstr);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(engine_state_dir, second_app_fails_at_start_naming_pid_when_dir_in_use, .timeout = 60) {
    char dir[512], errstr[512], want[64];
    rill_app_t *first, *second;

    eu_state_dir_make(dir, sizeof(dir));
    cr_assert_eq(start_on(dir, "d1", &first, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    cr_assert_neq(start_on(dir, "d2", &second, errstr, sizeof(errstr)), RILL_OK,
                  "the second app started on a state directory in use");
    snprintf(want, sizeof(want), "in use by pid %d", (int)getpid());
    cr_assert(strstr(errstr, dir) && strstr(errstr, want) &&
                  strstr(errstr, "give each instance its own --state-dir"),
              "%s", errstr);
    rill_app_destroy(second);
    rill_app_destroy(first);
    eu_state_dir_remove(dir);
}
