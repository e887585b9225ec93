/*
 * nx_common.c — what the JSON-text NEXMark queries share: the timestamp extractor, member
 * reads, output formatting into per-thread buffers, and the query table (nx_int.h).
 *
 * DESIGN
 * A mapper's output must outlive its call until the node copies it, and a record's path is
 * one thread's, so one buffer per thread for the value and one for the key is enough and
 * costs no allocation per record.
 */
#include "nx_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NX_TEXT_MAX 256

int64_t nx_date_time(const rill_record_t *rec, void *opaque) {
    int64_t t;
    (void)opaque;
    return rill_json_int64(rec->value, rec->value_len, "dateTime", &t) ? t : -1;
}

int nx_int(const rill_record_t *rec, const char *name, int64_t *out) {
    return rec->value && rill_json_int64(rec->value, rec->value_len, name, out);
}

/* Appends fmt's expansion to buf, through a stack buffer of NX_TEXT_MAX. */
static int vappend(rill_buf_t *buf, const char *fmt, va_list ap) {
    char text[NX_TEXT_MAX];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0 || n >= NX_TEXT_MAX)
        return -1;
    return rill_buf_append(buf, text, (size_t)n);
}

int nx_append(rill_buf_t *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vappend(buf, fmt, ap);
    va_end(ap);
    return rc;
}

int nx_set_value(rill_map_out_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vappend(out->value, fmt, ap);
    va_end(ap);
    return rc;
}

int nx_set_key(rill_map_out_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vappend(out->key, fmt, ap);
    va_end(ap);
    return rc;
}

int nx_parse_i64(const void *text, size_t len, int64_t *out) {
    const char *s = text;
    int64_t v = 0;
    if (!s || !len)
        return -1;
    size_t i = s[0] == '-';
    if (i >= len || len - i > 18)
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = s[0] == '-' ? -v : v;
    return 0;
}

int64_t nx_default_grace(const char *query) {
    if (!strcmp(query, "q0") || !strcmp(query, "q1") || !strcmp(query, "q2"))
        return 0;
    if (!strcmp(query, "q5") || !strcmp(query, "q7"))
        return 2000;
    if (!strcmp(query, "q4") || !strcmp(query, "q6") || !strcmp(query, "winning"))
        return 2000;
    if (!strcmp(query, "q3"))
        return 10000;
    if (!strcmp(query, "q8"))
        return 60000;
    return -1;
}

int nx_build(rill_topology_t *topo, const char *query, const nx_topics_t *t,
             const rill_source_opts_t *src, int64_t grace_ms) {
    if (!strcmp(query, "q0"))
        nx_build_q0(topo, t, src);
    else if (!strcmp(query, "q1"))
        nx_build_q1(topo, t, src);
    else if (!strcmp(query, "q2"))
        nx_build_q2(topo, t, src);
    else if (!strcmp(query, "q3"))
        nx_build_q3(topo, t, src, grace_ms);
    else if (!strcmp(query, "q8"))
        nx_build_q8(topo, t, src, grace_ms);
    else if (!strcmp(query, "q4"))
        nx_build_q4(topo, t, src, grace_ms);
    else if (!strcmp(query, "q5"))
        nx_build_q5(topo, t, src, grace_ms);
    else if (!strcmp(query, "q6"))
        nx_build_q6(topo, t, src, grace_ms);
    else if (!strcmp(query, "q7"))
        nx_build_q7(topo, t, src, grace_ms);
    else if (!strcmp(query, "winning"))
        nx_build_winning(topo, t, src, grace_ms);
    else
        return -1;
    return 0;
}
