/*
 * log_capture.h — a test's own stderr (file descriptor 2, where every log line of Rill goes)
 * sent to a file and read back: counting the lines that hold a text, waiting for them with a
 * bound, and the tail of the log for a failed assertion's message. Header-only (static
 * inline), like embedded_util.h, whose clock and bound it uses.
 *
 * DESIGN: Criterion runs each test in a process of its own, so nothing but the test's app
 * writes to the captured file between cap_begin() and cap_end().
 */
#ifndef RILL_TESTS_LOG_CAPTURE_H
#define RILL_TESTS_LOG_CAPTURE_H

#include "embedded_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cap_s {
    char path[512];
    int saved; /* the real stderr */
} cap_t;

static inline void cap_begin(cap_t *c) {
    const char *tmp = getenv("TMPDIR");
    int fd;

    snprintf(c->path, sizeof(c->path), "%s/rill-logs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    fd = mkstemp(c->path);
    cr_assert_geq(fd, 0, "mkstemp %s", c->path);
    fflush(stderr);
    c->saved = dup(2);
    cr_assert_geq(c->saved, 0);
    cr_assert_geq(dup2(fd, 2), 0);
    close(fd);
}

/* The lines written so far, NUL-terminated (the caller frees). */
static inline char *cap_text(const cap_t *c) {
    FILE *fp = fopen(c->path, "r");
    char *text;
    long len;

    cr_assert_not_null(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    cr_assert_not_null(text);
    len = (long)fread(text, 1, (size_t)len, fp);
    text[len] = '\0';
    fclose(fp);
    return text;
}

/* How many lines hold needle. */
static inline int cap_count(const cap_t *c, const char *needle) {
    char *text = cap_text(c);
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Waits (at most EU_WAIT_MS) until n lines hold needle; returns how many do. */
static inline int cap_wait(const cap_t *c, const char *needle, int n) {
    int64_t deadline = eu_now_ms() + EU_WAIT_MS;
    int got;

    while ((got = cap_count(c, needle)) < n && eu_now_ms() < deadline)
        eu_sleep_ms(20);
    return got;
}

/* The last 3000 bytes of the log, for a failed assertion's message (static). */
static inline const char *cap_tail(const cap_t *c) {
    static char tail[3001];
    char *text = cap_text(c);
    size_t len = strlen(text);

    snprintf(tail, sizeof(tail), "%s", len > 3000 ? text + len - 3000 : text);
    free(text);
    return tail;
}

#define CAP_ASSERT_SEEN(c, needle, n)                                                              \
    cr_assert_geq(cap_wait((c), (needle), (n)), (n), "expected %d line(s) with \"%s\"; log:\n%s",  \
                  (n), (needle), cap_tail(c))

/* Puts stderr back; with RILL_TEST_LOGS_SHOW set, shows what was captured there. */
static inline void cap_end(cap_t *c) {
    char *text = getenv("RILL_TEST_LOGS_SHOW") ? cap_text(c) : NULL;

    fflush(stderr);
    dup2(c->saved, 2);
    if (text)
        fputs(text, stderr);
    free(text);
    close(c->saved);
    unlink(c->path);
}

#endif
