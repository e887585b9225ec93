/*
 * state_dir.c — the state directory's safety checks and lock: it must belong to the user
 * running the app and be closed to everyone else, and one process at a time uses it for an
 * application id.
 *
 * DESIGN
 * Missing directories (the state directory and its missing parents) are made 0700. An
 * existing state directory is accepted only when it is a directory owned by the effective
 * user and not writable by group or others: otherwise another user could plant or swap the
 * stores' files. The lock is "<state.dir>/<application.id>.lock", taken with flock(LOCK_EX |
 * LOCK_NB) and held by an open descriptor until the app is destroyed (the kernel drops it
 * when the process dies, so a crash leaves no stale lock); the holder writes its pid into it
 * so that a second process can name it. This runs at rill_app_start(), before the app joins
 * its consumer group, so a second instance on the same directory fails at once rather than
 * on RocksDB's LOCK file after a rebalance.
 */
#include "store_inst_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates dir and its missing parents, 0700 each. Returns 0 or -1 with errno. */
static int make_private_dirs(const char *dir) {
    char path[1024];
    size_t len = strlen(dir);

    if (len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

/* Checks that dir is a directory of this user that group and others cannot write. */
static rill_err_t check_owner(const char *dir, char *errstr, size_t errstr_size) {
    struct stat st;

    if (stat(dir, &st)) {
        snprintf(errstr, errstr_size, "state.dir %s: %s", dir, strerror(errno));
        return RILL_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(errstr, errstr_size,
                 "state.dir %s is not a directory: give --state-dir a "
                 "directory of your own",
                 dir);
        return RILL_ERR_IO;
    }
    if (st.st_uid != geteuid()) {
        snprintf(errstr, errstr_size,
                 "state.dir %s is owned by uid %u, not by this user (uid %u): use a directory "
                 "of your own (--state-dir DIR)",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return RILL_ERR_IO;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(errstr, errstr_size,
                 "state.dir %s is writable by group or others (mode %03o): chmod 700 it, or "
                 "use another --state-dir",
                 dir, (unsigned)(st.st_mode & 0777));
        return RILL_ERR_IO;
    }
    return RILL_OK;
}

/* Reads the pid a lock holder wrote into fd, or 0. */
static long lock_holder(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

/* Opens and locks "<dir>/<app_id>.lock"; returns the descriptor, or -1 with errstr. */
static int take_lock(const char *dir, const char *app_id, char *errstr, size_t errstr_size) {
    char path[1100], pid[32];
    int fd, n;

    snprintf(path, sizeof(path), "%s/%s.lock", dir, app_id);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "state.dir %s: cannot open its lock file %s: %s", dir, path,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int why = errno;
        long holder = why == EWOULDBLOCK ? lock_holder(fd) : 0;
        if (why == EWOULDBLOCK)
            snprintf(errstr, errstr_size,
                     "state dir %s in use by pid %ld; give each instance its own --state-dir", dir,
                     holder);
        else
            snprintf(errstr, errstr_size, "state.dir %s: cannot lock %s: %s", dir, path,
                     strerror(why));
        close(fd);
        return -1;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
        (void)0; /* the pid only names the holder in a message */
    return fd;
}

rill_err_t rill__state_dir_claim(rill__state_t *state, char *errstr, size_t errstr_size) {
    const char *dir = state->host.state_dir;
    rill_err_t err;
    int fd;

    if (state->lock_fd)
        return RILL_OK;
    if (make_private_dirs(dir)) {
        snprintf(errstr, errstr_size, "state.dir: cannot create %s: %s", dir, strerror(errno));
        return RILL_ERR_IO;
    }
    if ((err = check_owner(dir, errstr, errstr_size)))
        return err;
    if ((fd = take_lock(dir, state->host.application_id, errstr, errstr_size)) < 0)
        return RILL_ERR_IO;
    state->lock_fd = fd + 1;
    return RILL_OK;
}

void rill__state_dir_release(rill__state_t *state) {
    if (!state->lock_fd)
        return;
    close(state->lock_fd - 1);
    state->lock_fd = 0;
}
