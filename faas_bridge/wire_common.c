/*
 * wire_common.c — text-building blocks of the wire formats (JSON strings, base64, percent
 * encoding, RFC 3339 times, UTF-8 and JSON validation).
 *
 * DESIGN
 * Request bodies are written by hand into a rill_buf_t: no JSON object tree is built for a
 * batch that may hold thousands of records. Each helper writes straight into the buffer's
 * spare capacity (rill__wire_grow / rill__wire_commit) so that a value is copied once.
 * Whether a value is JSON is decided by a small validator written to RFC 8259 rather than by
 * json-c's tokener: json-c accepts text that is not JSON (raw control characters inside
 * strings, "1."), and a value embedded verbatim must never make the whole body invalid.
 * Every helper takes a NULL pointer (a tombstone's value, an absent key) as no bytes and
 * computes no pointer from it: NULL + 0 is undefined behaviour in C.
 */
#include "wire_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- buffer helpers ---- */

char *rill__wire_grow(rill_buf_t *buf, size_t extra) {
    size_t need, cap;
    char *data;

    if (extra > SIZE_MAX - buf->len - 2)
        return NULL;
    need = buf->len + extra + 1;
    if (need > buf->cap) {
        cap = buf->cap ? buf->cap : 64;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        data = realloc(buf->data, cap);
        if (!data)
            return NULL;
        buf->data = data;
        buf->cap = cap;
    }
    return buf->data + buf->len;
}

int rill__wire_cstr(rill_buf_t *buf, const char *s) {
    return rill_buf_append(buf, s, strlen(s));
}

int rill__wire_cstr0(rill_buf_t *buf, const char *s) {
    return rill_buf_append(buf, s, strlen(s) + 1);
}

int rill__wire_i64(rill_buf_t *buf, int64_t v) {
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return rill_buf_append(buf, tmp + i, sizeof(tmp) - i);
}

/* ---- UTF-8 ---- */

/* Returns the length (1-4) of the well-formed UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    size_t avail = (size_t)(end - p);
    unsigned char c = p[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

bool rill__wire_utf8_valid(const void *data, size_t len) {
    const unsigned char *p = data, *end;

    if (!p) /* NULL + len is undefined even for 0: an absent value has no bad bytes */
        return true;
    end = p + len;

    while (p < end) {
        uint64_t w;
        size_t n;

        /* ASCII runs go eight bytes at a time. */
        if ((size_t)(end - p) >= 8) {
            memcpy(&w, p, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                p += 8;
                continue;
            }
        }
        n = utf8_seq(p, end);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

/* ---- JSON validation (RFC 8259) ---- */

#define JSON_MAX_DEPTH 256

typedef struct rill__json_check_s {
    const unsigned char *p, *end;
    int depth;
} rill__json_check_t;

static void jv_ws(rill__json_check_t *v) {
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static bool jv_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool jv_string(rill__json_check_t *v) {
    v->p++; /* the opening quote */
    while (v->p < v->end) {
        unsigned char c = *v->p;
        size_t n;

        if (c == '"') {
            v->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (v->end - v->p < 2)
                return false;
            c = v->p[1];
            if (c == 'u') {
                if (v->end - v->p < 6 || !jv_hex(v->p[2]) || !jv_hex(v->p[3]) || !jv_hex(v->p[4]) ||
                    !jv_hex(v->p[5]))
                    return false;
                v->p += 6;
            } else if (strchr("\"\\/bfnrt", c) && c) {
                v->p += 2;
            } else {
                return false;
            }
            continue;
        }
        n = utf8_seq(v->p, v->end);
        if (!n)
            return false;
        v->p += n;
    }
    return false;
}

static bool jv_digits(rill__json_check_t *v) {
    const unsigned char *start = v->p;

    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > start;
}

static bool jv_number(rill__json_check_t *v) {
    if (*v->p == '-')
        v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (!jv_digits(v))
        return false;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (!jv_digits(v))
            return false;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (!jv_digits(v))
            return false;
    }
    return true;
}

static bool jv_literal(rill__json_check_t *v, const char *word, size_t len) {
    if ((size_t)(v->end - v->p) < len || memcmp(v->p, word, len))
        return false;
    v->p += len;
    return true;
}

static bool jv_value(rill__json_check_t *v);

/* An array or object; members have a "key": before the value when object is set. */
static bool jv_container(rill__json_check_t *v, bool object) {
    unsigned char close = object ? '}' : ']';

    if (++v->depth > JSON_MAX_DEPTH)
        return false;
    v->p++;
    jv_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (v->p >= v->end || *v->p != '"' || !jv_string(v))
                return false;
            jv_ws(v);
            if (v->p >= v->end || *v->p != ':')
                return false;
            v->p++;
            jv_ws(v);
        }
        if (!jv_value(v))
            return false;
        jv_ws(v);
        if (v->p >= v->end)
            return false;
        if (*v->p == close) {
            v->p++;
            v->depth--;
            return true;
        }
        if (*v->p != ',')
            return false;
        v->p++;
        jv_ws(v);
    }
}

static bool jv_value(rill__json_check_t *v) {
    if (v->p >= v->end)
        return false;
    switch (*v->p) {
    case '{':
        return jv_container(v, true);
    case '[':
        return jv_container(v, false);
    case '"':
        return jv_string(v);
    case 't':
        return jv_literal(v, "true", 4);
    case 'f':
        return jv_literal(v, "false", 5);
    case 'n':
        return jv_literal(v, "null", 4);
    default:
        return jv_number(v);
    }
}

bool rill__wire_json_valid(const void *data, size_t len) {
    rill__json_check_t v;

    if (!data)
        return false;
    v = (rill__json_check_t){.p = data, .end = (const unsigned char *)data + len, .depth = 0};
    jv_ws(&v);
    if (!jv_value(&v))
        return false;
    jv_ws(&v);
    return v.p == v.end;
}

rill__wire_kind_t rill__wire_classify(const void *value, size_t len) {
    const unsigned char *p = value, *end;

    if (!value) /* a tombstone: no pointer arithmetic on NULL */
        return RILL_WIRE_NULL;
    end = p + len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p < end && (strchr("{[\"-tfn", *p) || (*p >= '0' && *p <= '9')) && *p &&
        rill__wire_json_valid(value, len))
        return RILL_WIRE_JSON;
    return rill__wire_utf8_valid(value, len) ? RILL_WIRE_TEXT : RILL_WIRE_BINARY;
}

/* ---- JSON strings ---- */

/* Appends the escape for one byte that may not appear raw in a JSON string. */
static int json_escape_byte(rill_buf_t *buf, unsigned char c) {
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    switch (c) {
    case '"':
        return rill_buf_append(buf, "\\\"", 2);
    case '\\':
        return rill_buf_append(buf, "\\\\", 2);
    case '\n':
        return rill_buf_append(buf, "\\n", 2);
    case '\r':
        return rill_buf_append(buf, "\\r", 2);
    case '\t':
        return rill_buf_append(buf, "\\t", 2);
    case '\b':
        return rill_buf_append(buf, "\\b", 2);
    case '\f':
        return rill_buf_append(buf, "\\f", 2);
    default:
        return rill_buf_append(buf, esc, sizeof(esc));
    }
}

int rill__wire_json_str(rill_buf_t *buf, const void *data, size_t len) {
    const unsigned char *p = data ? data : (const void *)"", *end, *run = p;

    if (!data)
        len = 0;
    end = p + len;

    /* One growth up front covers the common case of nothing to escape. */
    if (!rill__wire_grow(buf, len + 2) || rill_buf_append(buf, "\"", 1))
        return -1;
    while (p < end) {
        unsigned char c = *p;
        size_t n;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        n = c < 0x80 ? 1 : utf8_seq(p, end);
        if (n > 1) { /* a valid multi-byte sequence stays as it is */
            p += n;
            continue;
        }
        if (rill_buf_append(buf, run, (size_t)(p - run)))
            return -1;
        if (n == 1 ? json_escape_byte(buf, c) : rill_buf_append(buf, "\\ufffd", 6))
            return -1;
        run = ++p;
    }
    if (rill_buf_append(buf, run, (size_t)(p - run)) || rill_buf_append(buf, "\"", 1))
        return -1;
    return 0;
}

/* ---- base64, percent encoding ---- */

int rill__wire_base64(rill_buf_t *buf, const void *data, size_t len) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t out_len, i;
    char *o;

    if (!data)
        len = 0;
    out_len = (len + 2) / 3 * 4;

    if (len > SIZE_MAX / 2 || !(o = rill__wire_grow(buf, out_len)))
        return -1;
    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    rill__wire_commit(buf, out_len);
    return 0;
}

int rill__wire_pct(rill_buf_t *buf, const void *data, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = data;
    char *o;
    size_t n = 0;

    if (!data)
        len = 0;
    if (len > SIZE_MAX / 4 || !(o = rill__wire_grow(buf, len * 3)))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c > 0x20 && c < 0x7F && c != '"' && c != '%') {
            o[n++] = (char)c;
        } else {
            o[n++] = '%';
            o[n++] = hex[c >> 4];
            o[n++] = hex[c & 15];
        }
    }
    rill__wire_commit(buf, n);
    return 0;
}

/* ---- time ---- */

/* Writes v as exactly width decimal digits at p. */
static void put_digits(char *p, int v, int width) {
    while (width--) {
        p[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

int rill__wire_rfc3339(int64_t ms, char out[32]) {
    time_t secs;
    struct tm tm;

    if (ms < 0 || ms / 1000 > INT64_C(253402300799)) /* 9999-12-31T23:59:59Z */
        return -1;
    secs = (time_t)(ms / 1000);
    if (!gmtime_r(&secs, &tm))
        return -1;
    /* By hand, not snprintf: this runs once per record of every batch. */
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    put_digits(out, tm.tm_year + 1900, 4);
    put_digits(out + 5, tm.tm_mon + 1, 2);
    put_digits(out + 8, tm.tm_mday, 2);
    put_digits(out + 11, tm.tm_hour, 2);
    put_digits(out + 14, tm.tm_min, 2);
    put_digits(out + 17, tm.tm_sec, 2);
    put_digits(out + 20, (int)(ms % 1000), 3);
    return 24;
}
