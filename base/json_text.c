/*
 * json_text.c — JSON read as text: a strict validator (the "json-text" serde's check) and the
 * member readers rill_json_int64() and rill_json_member() of rill.h.
 *
 * DESIGN
 * Most callbacks read a few top-level members of a record's JSON value (a price, an id, a
 * time). Building a json-c tree for that costs an allocation per member and per string, and
 * was a third of the CPU of the completion benchmark. So the json-text serde validates the
 * bytes once, in one pass that allocates nothing (an explicit stack of at most
 * RILL_JSON_MAX_DEPTH open containers), and leaves the value as text; a member reader then
 * walks only the top level of the object, skipping nested values by their brackets.
 *
 * The validator follows RFC 8259 strictly: one value filling the text (whitespace aside);
 * strings without raw control characters and with only the standard escapes; numbers as the
 * grammar writes them (no leading zeros, no '+', no bare '.'); the literals true, false and
 * null.
 * UTF-8 is checked in the same pass, inside strings (the only place where a byte above 0x7f
 * may be): strings are read eight bytes at a time until one needs a look.
 * The readers are safe on any bytes: on text that is not valid they return "not found"
 * rather than reading past the end. A reader stops at the member it looks for, so when a
 * name occurs more than once the FIRST counts (json-c, behind rill_serde_json(), keeps the
 * last; RFC 8259 leaves it open), and members after it are never read.
 */
#include "json_text_int.h"

#include "json_scan_int.h"
#include "utf8_int.h"
#include "rill.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct cur_s {
    const unsigned char *p, *end;
    const char *why;
} cur_t;

static inline int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void skip_ws(cur_t *c) {
    while (c->p < c->end && is_ws(*c->p))
        c->p++;
}

static int fail(cur_t *c, const char *why) {
    c->why = why;
    return -1;
}

static int is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One escape after its backslash (c->p at the byte after '\'). */
static int scan_escape(cur_t *c) {
    if (c->p >= c->end)
        return fail(c, "unterminated string");
    switch (*c->p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        c->p++;
        return 0;
    case 'u':
        if (c->end - c->p < 5 || !is_hex(c->p[1]) || !is_hex(c->p[2]) || !is_hex(c->p[3]) ||
            !is_hex(c->p[4]))
            return fail(c, "bad \\u escape in a string");
        c->p += 5;
        return 0;
    default:
        return fail(c, "unknown escape in a string");
    }
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The bytes of w that are '"', '\\', below 0x20 or above 0x7f, as the high bit of each byte
 * (SWAR: a byte is zero in w ^ (c * ONES) exactly where w has c; below 0x20 where w - 0x20
 * borrows). A borrow may mark a byte above a marked one, never one below the first: the
 * lowest mark is exact. */
static inline uint64_t special_bits(uint64_t w) {
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
    uint64_t zq = (q - ONES) & ~q, zb = (b - ONES) & ~b, lt = (w - ONES * 0x20) & ~w;
    return (zq | zb | lt | w) & HIGHS;
}

/* The first byte of [p, end) that needs a look inside a string ('"', '\\', a control
 * character or a byte of a multi-byte sequence), or end. Sixteen bytes at a time with SSE2
 * (a signed compare below 0x20 also catches the bytes above 0x7f), eight without. */
static inline const unsigned char *next_special(const unsigned char *p, const unsigned char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        int bits = _mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t bits = special_bits(w);
        if (bits) /* little-endian: the lowest byte of w is p[0] */
            return p + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? __builtin_ctzll(bits) / 8 : 0);
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* A string, c->p at its opening quote; leaves c->p after the closing quote. The bytes that
 * need no look (most of a string's) are skipped in blocks (next_special). */
static int scan_string(cur_t *c) {
    c->p++;
    for (;;) {
        c->p = next_special(c->p, c->end);
        if (c->p >= c->end)
            return fail(c, "unterminated string");
        unsigned char ch = *c->p;
        if (ch >= 0x80) {
            size_t n = rill__utf8_seq_len(c->p, (size_t)(c->end - c->p));
            if (!n)
                return fail(c, "invalid UTF-8 in a string");
            c->p += n;
            continue;
        }
        c->p++;
        if (ch == '"')
            return 0;
        if (ch < 0x20)
            return fail(c, "control character in a string");
        if (ch == '\\' && scan_escape(c))
            return -1;
    }
}

static int scan_digits(cur_t *c) {
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start ? 0 : -1;
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(cur_t *c) {
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (scan_digits(c))
        return fail(c, "bad number");
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (scan_digits(c))
            return fail(c, "bad number: no digit after the decimal point");
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (scan_digits(c))
            return fail(c, "bad number: no digit in the exponent");
    }
    return 0;
}

static int scan_literal(cur_t *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n))
        return fail(c, "unexpected character");
    c->p += n;
    return 0;
}

/* A scalar at c->p (string, number or literal). */
static int scan_scalar(cur_t *c) {
    unsigned char ch = *c->p;
    if (ch == '"')
        return scan_string(c);
    if (ch == '-' || (ch >= '0' && ch <= '9'))
        return scan_number(c);
    if (ch == 't')
        return scan_literal(c, "true");
    if (ch == 'f')
        return scan_literal(c, "false");
    if (ch == 'n')
        return scan_literal(c, "null");
    return fail(c, "unexpected character");
}

/* A member name and its colon, c->p at the name (whitespace skipped). */
static int scan_name(cur_t *c) {
    if (c->p >= c->end || *c->p != '"')
        return fail(c, "expected a member name in quotes");
    if (scan_string(c))
        return -1;
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':')
        return fail(c, "expected ':' after a member name");
    c->p++;
    return 0;
}

typedef struct stack_s {
    char open[RILL_JSON_MAX_DEPTH];
    int depth;
} open_stack_t;

/* Opens a container at c->p; *emptyp tells whether it closed at once. */
static int open_container(cur_t *c, open_stack_t *s, int *emptyp) {
    char kind = (char)*c->p++;
    if (s->depth == RILL_JSON_MAX_DEPTH)
        return fail(c, "nested deeper than 32 levels");
    s->open[s->depth++] = kind;
    skip_ws(c);
    *emptyp = c->p < c->end && *c->p == (kind == '{' ? '}' : ']');
    if (*emptyp) {
        c->p++;
        s->depth--;
        return 0;
    }
    return kind == '{' ? scan_name(c) : 0;
}

/*
 * After a value inside a container: a ',' (then the next member name or element) or the
 * container's close (popped). Returns 1 when a value must follow, 0 after a close, -1.
 */
static int after_value(cur_t *c, open_stack_t *s) {
    char top = s->open[s->depth - 1];
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, "unexpected end of the text");
    if (*c->p == ',') {
        c->p++;
        skip_ws(c);
        return top == '{' ? (scan_name(c) ? -1 : 1) : 1;
    }
    if (*c->p != (top == '{' ? '}' : ']'))
        return fail(c, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    c->p++;
    s->depth--;
    return 0;
}

int rill__json_validate(const char *text, size_t len, size_t *offp, const char **whyp) {
    cur_t c = {(const unsigned char *)text, (const unsigned char *)text + len, NULL};
    open_stack_t s = {.depth = 0};
    int rc = 0;
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end) {
            rc = fail(&c, len ? "unexpected end of the text" : "empty text");
            break;
        }
        int empty = 1;
        if (*c.p == '{' || *c.p == '[')
            rc = open_container(&c, &s, &empty);
        else
            rc = scan_scalar(&c);
        if (rc)
            break;
        if (!empty)
            continue; /* a container opened: its first value follows */
        int more = 0;
        while (s.depth > 0 && (more = after_value(&c, &s)) == 0)
            ;
        if (more < 0) {
            rc = -1;
            break;
        }
        if (s.depth == 0) {
            skip_ws(&c);
            if (c.p < c.end)
                rc = fail(&c, "trailing data after the value");
            break;
        }
    }
    *offp = (size_t)(c.p - (const unsigned char *)text);
    *whyp = c.why;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Member readers                                                                           */

/* Skips one value at c->p (any nesting, by brackets and strings); -1 on malformed text. */
static int skip_value(cur_t *c) {
    int depth = 0;
    do {
        if (c->p >= c->end)
            return -1;
        unsigned char ch = *c->p;
        if (ch == '"') {
            if (scan_string(c))
                return -1;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->p++;
        } else if (ch == '}' || ch == ']') {
            if (--depth < 0)
                return -1;
            c->p++;
        } else if (depth > 0) {
            c->p++; /* commas, colons, scalars and spaces inside a container */
        } else {
            while (c->p < c->end && !is_ws(*c->p) && *c->p != ',' && *c->p != '}' && *c->p != ']')
                c->p++; /* a top-level scalar: up to its delimiter */
        }
    } while (depth > 0);
    return 0;
}

/* Whether the quoted name at [q, after) (quotes included) equals name[0..n) byte for byte. */
static int name_is(const unsigned char *q, const unsigned char *after, const char *name, size_t n) {
    return (size_t)(after - q) == n + 2 && !memcmp(q + 1, name, n);
}

int rill_json_member(const void *json, size_t len, const char *name, const char **valuep,
                     size_t *value_lenp) {
    cur_t c = {json, (const unsigned char *)json + len, NULL};
    size_t n = strlen(name);
    if (!json)
        return 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return 0;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        return 0;
    for (;;) {
        const unsigned char *q = c.p;
        if (c.p >= c.end || *c.p != '"' || scan_string(&c))
            return 0;
        int match = name_is(q, c.p, name, n);
        skip_ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            return 0;
        skip_ws(&c);
        const unsigned char *v = c.p;
        if (skip_value(&c))
            return 0;
        if (match) {
            *valuep = (const char *)v;
            *value_lenp = (size_t)(c.p - v);
            return 1; /* the first occurrence counts; the rest is not read */
        }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            skip_ws(&c);
            continue;
        }
        return 0; /* '}' (the member is missing) or malformed */
    }
}

int rill_json_int64(const void *json, size_t len, const char *name, int64_t *out) {
    const char *v;
    size_t n;
    if (rill_json_member(json, len, name, &v, &n) != 1 || n == 0)
        return 0;
    size_t i = v[0] == '-';
    if (i == n || n - i > 19)
        return 0;
    uint64_t mag = 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0; /* a fraction, an exponent, or not a number */
        mag = mag * 10 + (uint64_t)(v[i] - '0');
    }
    if (v[0] == '-' ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return 0;
    *out = v[0] == '-' ? (int64_t)(0 - mag) : (int64_t)mag;
    return 1;
}
