/*
 * json_scan.c — the pre-scan that refuses JSON text whose json-c tree would be too deep or
 * cost too much memory for its size, before any tree is built (see json_scan_int.h).
 *
 * DESIGN
 * One pass over the bytes with three pieces of state: inside a string or not (with its
 * backslash escapes), the nesting depth, and the weighted element count. A scalar is counted
 * where it starts (a byte that can start a number or literal after a structural character),
 * a string where its opening quote is; containers when they open. The scan stops at the
 * first limit crossed, so a hostile value costs at most one read of its bytes.
 */
#include "json_scan_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct scan_s {
    size_t depth, max_depth;
    uint64_t weight;
    bool in_string, escaped, in_scalar;
} rill__scan_t;

/* Handles one byte inside a string; returns true when the string ended here. */
static bool scan_string_byte(rill__scan_t *s, unsigned char c) {
    if (s->escaped) {
        s->escaped = false;
        return false;
    }
    if (c == '\\') {
        s->escaped = true;
        return false;
    }
    return c == '"';
}

/* Handles one byte outside strings. */
static void scan_structural(rill__scan_t *s, unsigned char c) {
    switch (c) {
    case '{':
    case '[':
        s->in_scalar = false;
        s->weight += c == '{' ? RILL_JSON_OBJECT_WEIGHT : RILL_JSON_ARRAY_WEIGHT;
        if (++s->depth > s->max_depth)
            s->max_depth = s->depth;
        break;
    case '}':
    case ']':
        s->in_scalar = false;
        if (s->depth)
            s->depth--;
        break;
    case '"':
        s->in_scalar = false;
        s->in_string = true;
        s->weight++;
        break;
    case ',':
    case ':':
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        s->in_scalar = false;
        break;
    default: /* a number or literal: counted at its first byte */
        if (!s->in_scalar)
            s->weight++;
        s->in_scalar = true;
        break;
    }
}

int rill__json_prescan(const char *text, size_t len, char *why, size_t why_size) {
    rill__scan_t s = {0};
    uint64_t limit = (uint64_t)RILL_JSON_BASE_ELEMENTS + len;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (s.in_string) {
            if (scan_string_byte(&s, c))
                s.in_string = false;
            continue;
        }
        scan_structural(&s, c);
        if (s.max_depth > RILL_JSON_MAX_DEPTH) {
            snprintf(why, why_size, "nested deeper than %d levels (at byte offset %zu)",
                     RILL_JSON_MAX_DEPTH, i);
            return -1;
        }
        if (s.weight > limit) {
            snprintf(why, why_size,
                     "too many elements for its size: more than %llu weighted elements in "
                     "%zu bytes (limit %d + 1 per byte; objects count %d, arrays %d)",
                     (unsigned long long)limit, len, RILL_JSON_BASE_ELEMENTS,
                     RILL_JSON_OBJECT_WEIGHT, RILL_JSON_ARRAY_WEIGHT);
            return -1;
        }
    }
    return 0;
}
