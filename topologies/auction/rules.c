/*
 * rules.c — the auction showcase's validation rules in C (rules.h), the twins of
 * topologies/auction/functions/rules.js.
 *
 * DESIGN
 * Byte-for-byte agreement with the JavaScript functions decides every step:
 *  - "not JSON" is what TextDecoder(fatal) + JSON.parse reject, plus a \u escape of a lone
 *    surrogate anywhere: a strict RFC 8259 check written here (json-c's tokener, even in
 *    strict mode, accepts single quotes and limits nesting to 32, which JSON.parse does not),
 *    iterative so that no nesting depth breaks it.
 *  - Only the top-level members are looked at; a duplicate key's last value wins (as in
 *    JSON.parse). Keys and strings are decoded with json-c.
 *  - An integer is what JavaScript reads as a safe integer: the number's text read as the
 *    nearest double (strtod, correctly rounded as V8's parser is), integral, |v| <= 2^53-1.
 *    So 5.0 and 1e3 are integers, 1.5 and 9007199254740993 are not.
 *  - Arithmetic is exact on int64 (the JavaScript side uses BigInt): durationMs = expires -
 *    dateTime; priceEur = (price * 908 + 500) / 1000, round half up (price < 2^53, so
 *    price * 908 < 2^63).
 *  - Output objects are the text json-c writes with JSON_C_TO_STRING_PLAIN |
 *    JSON_C_TO_STRING_NOSLASHESCAPE (the escapes JSON.stringify uses, and the form the FaaS
 *    bridge re-serializes a function's value to, so the app gets the same bytes from either
 *    side), members in the contract's order. The valid record's object is written directly:
 *    integers in decimal, a string whose token has no backslash as its token (already that
 *    text), any other string decoded and re-encoded by json-c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l */
#endif
#include "rules.h"

#include <json-c/json.h>

#include <stdint.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991.0

typedef enum { F_INT, F_STR } ftype_t;

typedef struct field_s {
    const char *name;
    size_t name_len;
    ftype_t type;
    const char *missing, *wrong; /* the reasons */
} field_t;

#define FIELD(name, type)                                                                          \
    { name, sizeof(name) - 1, type, "missing field: " name, "wrong type: " name }

static const field_t AUCTION_FIELDS[] = {
    FIELD("id", F_INT),         FIELD("itemName", F_STR), FIELD("description", F_STR),
    FIELD("initialBid", F_INT), FIELD("reserve", F_INT),  FIELD("dateTime", F_INT),
    FIELD("expires", F_INT),    FIELD("seller", F_INT),   FIELD("category", F_INT),
    FIELD("extra", F_STR),
};
enum {
    A_ID,
    A_ITEM,
    A_DESC,
    A_INITIAL,
    A_RESERVE,
    A_DATE,
    A_EXPIRES,
    A_SELLER,
    A_CATEGORY,
    A_EXTRA,
    A_N
};

static const field_t BID_FIELDS[] = {
    FIELD("auction", F_INT), FIELD("bidder", F_INT), FIELD("price", F_INT),
    FIELD("channel", F_STR), FIELD("url", F_STR),    FIELD("dateTime", F_INT),
    FIELD("extra", F_STR),
};
enum { B_AUCTION, B_BIDDER, B_PRICE, B_CHANNEL, B_URL, B_DATE, B_EXTRA, B_N };

#define MAX_FIELDS 10

/* ---------------------------------------------------------------- strict JSON check */

typedef struct scan_s {
    const unsigned char *p;
    size_t n, i;
} scan_t;

static void skip_ws(scan_t *s) {
    while (s->i < s->n &&
           (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' || s->p[s->i] == '\r'))
        s->i++;
}

static int hex4(const scan_t *s, size_t at, unsigned *u) {
    unsigned v = 0;

    if (at + 4 > s->n)
        return -1;
    for (size_t k = at; k < at + 4; k++) {
        unsigned c = s->p[k], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *u = v;
    return 0;
}

/* One UTF-8 sequence at s->i (its first byte >= 0x80), as the WHATWG decoder accepts it. */
static int utf8_seq(scan_t *s) {
    const unsigned char *p = s->p + s->i;
    size_t left = s->n - s->i;
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* <= U+10FFFF */
    } else
        return -1;
    if (left < len || p[1] < lo || p[1] > hi)
        return -1;
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xbf)
            return -1;
    s->i += len;
    return 0;
}

/* A string at s->i (on its '"'): escapes, control characters, UTF-8, surrogate pairs. */
static int scan_string(scan_t *s) {
    s->i++;
    while (s->i < s->n) {
        unsigned c = s->p[s->i];
        if (c == '"') {
            s->i++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            if (utf8_seq(s))
                return -1;
            continue;
        }
        if (c != '\\') {
            s->i++;
            continue;
        }
        if (s->i + 1 >= s->n)
            return -1;
        c = s->p[s->i + 1];
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", (int)c) || !c)
                return -1;
            s->i += 2;
            continue;
        }
        unsigned u, l;
        if (hex4(s, s->i + 2, &u))
            return -1;
        s->i += 6;
        if (u >= 0xdc00 && u <= 0xdfff)
            return -1; /* lone low surrogate */
        if (u >= 0xd800 && u <= 0xdbff) {
            if (s->i + 1 >= s->n || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u' ||
                hex4(s, s->i + 2, &l) || l < 0xdc00 || l > 0xdfff)
                return -1; /* lone high surrogate */
            s->i += 6;
        }
    }
    return -1;
}

static bool is_digit(const scan_t *s) {
    return s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9';
}

static int scan_number(scan_t *s) {
    if (s->p[s->i] == '-')
        s->i++;
    if (!is_digit(s))
        return -1;
    if (s->p[s->i] == '0')
        s->i++;
    else
        while (is_digit(s))
            s->i++;
    if (s->i < s->n && s->p[s->i] == '.') {
        s->i++;
        if (!is_digit(s))
            return -1;
        while (is_digit(s))
            s->i++;
    }
    if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
        s->i++;
        if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
            s->i++;
        if (!is_digit(s))
            return -1;
        while (is_digit(s))
            s->i++;
    }
    return 0;
}

static int scan_literal(scan_t *s, const char *lit) {
    size_t len = strlen(lit);
    if (s->n - s->i < len || memcmp(s->p + s->i, lit, len))
        return -1;
    s->i += len;
    return 0;
}

/* True when p[0..n) is one JSON text (RFC 8259) in valid UTF-8 without lone surrogate
 * escapes. The open containers are a stack of bits (1 = object), on the C stack up to 128
 * levels. -1: out of memory. */
static int json_strict(const unsigned char *p, size_t n) {
    scan_t s = {p, n, 0};
    unsigned char small[16] = {0};
    unsigned char *stack = small;
    size_t depth = 0, cap = sizeof(small);
    int ok = 0;

#define TOP_IS_OBJ() ((stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1)
value:
    skip_ws(&s);
    if (s.i >= n)
        goto out;
    switch (p[s.i]) {
    case '{':
    case '[': {
        bool obj = p[s.i] == '{';
        if (depth / 8 >= cap) {
            size_t ncap = cap * 2;
            unsigned char *ns = stack == small ? malloc(ncap) : realloc(stack, ncap);
            if (!ns) {
                ok = -1;
                goto out;
            }
            if (stack == small)
                memcpy(ns, small, cap);
            memset(ns + cap, 0, ncap - cap);
            stack = ns;
            cap = ncap;
        }
        if (obj)
            stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
        else
            stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
        depth++;
        s.i++;
        skip_ws(&s);
        if (s.i < n && p[s.i] == (obj ? '}' : ']')) {
            depth--;
            s.i++;
            goto after;
        }
        if (obj)
            goto key;
        goto value;
    }
    case '"':
        if (scan_string(&s))
            goto out;
        goto after;
    case 't':
        if (scan_literal(&s, "true"))
            goto out;
        goto after;
    case 'f':
        if (scan_literal(&s, "false"))
            goto out;
        goto after;
    case 'n':
        if (scan_literal(&s, "null"))
            goto out;
        goto after;
    default:
        if (p[s.i] != '-' && !(p[s.i] >= '0' && p[s.i] <= '9'))
            goto out;
        if (scan_number(&s))
            goto out;
        goto after;
    }
key:
    skip_ws(&s);
    if (s.i >= n || p[s.i] != '"' || scan_string(&s))
        goto out;
    skip_ws(&s);
    if (s.i >= n || p[s.i] != ':')
        goto out;
    s.i++;
    goto value;
after:
    skip_ws(&s);
    if (depth == 0) {
        ok = s.i == n;
        goto out;
    }
    if (s.i >= n)
        goto out;
    if (p[s.i] == ',') {
        s.i++;
        if (TOP_IS_OBJ())
            goto key;
        goto value;
    }
    if (p[s.i] == (TOP_IS_OBJ() ? '}' : ']')) {
        depth--;
        s.i++;
        goto after;
    }
out:
#undef TOP_IS_OBJ
    if (stack != small)
        free(stack);
    return ok;
}

/* ---------------------------------------------------------------- members */

/* Whether c ends a scalar (number or literal) of a valid text. */
static bool ends_scalar(unsigned c) {
    return c == ',' || c == ':' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r';
}

/* Skips one value of a text already known to be valid JSON. */
static void skip_value(scan_t *s) {
    size_t depth = 0;

    do {
        unsigned c = s->p[s->i];
        if (c == '"') {
            /* the closing quote: the first one after an even run of backslashes */
            size_t at = s->i + 1;
            for (;;) {
                const unsigned char *q = memchr(s->p + at, '"', s->n - at);
                size_t bs = 0;
                at = (size_t)(q - s->p);
                while (s->p[at - 1 - bs] == '\\')
                    bs++;
                at++;
                if (bs % 2 == 0)
                    break;
            }
            s->i = at;
        } else if (c == '{' || c == '[') {
            depth++;
            s->i++;
        } else if (c == '}' || c == ']') {
            depth--;
            s->i++;
        } else if (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            s->i++;
        } else {
            while (s->i < s->n && !ends_scalar(s->p[s->i]))
                s->i++;
        }
    } while (depth > 0);
}

/* Decodes a JSON string token (valid) with json-c. The caller puts the object. */
static json_object *decode_string(const unsigned char *tok, size_t len) {
    json_tokener *t = json_tokener_new();
    json_object *o;

    if (!t)
        return NULL;
    o = json_tokener_parse_ex(t, (const char *)tok, (int)len);
    json_tokener_free(t);
    if (o && !json_object_is_type(o, json_type_string)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

typedef struct span_s {
    const unsigned char *p;
    size_t len; /* 0: absent */
} span_t;

/* Finds the top-level members named fields[k] of the object text p[0..n) (valid JSON): the
 * last one of each name wins. Returns 0 or -1 (out of memory). */
static int find_members(const unsigned char *p, size_t n, const field_t *fields, size_t nf,
                        span_t *out) {
    scan_t s = {p, n, 0};

    memset(out, 0, nf * sizeof(*out));
    skip_ws(&s);
    s.i++; /* '{' */
    for (;;) {
        skip_ws(&s);
        if (p[s.i] == '}')
            return 0;
        size_t ks = s.i;
        skip_value(&s);
        size_t kl = s.i - ks;
        const char *name = (const char *)p + ks + 1;
        size_t name_len = kl - 2;
        json_object *decoded = NULL;
        if (memchr(name, '\\', name_len)) {
            decoded = decode_string(p + ks, kl);
            if (!decoded)
                return -1;
            name = json_object_get_string(decoded);
            name_len = (size_t)json_object_get_string_len(decoded);
        }
        skip_ws(&s);
        s.i++; /* ':' */
        skip_ws(&s);
        size_t vs = s.i;
        skip_value(&s);
        for (size_t k = 0; k < nf; k++) {
            if (fields[k].name_len == name_len && !memcmp(fields[k].name, name, name_len)) {
                out[k].p = p + vs;
                out[k].len = s.i - vs;
            }
        }
        json_object_put(decoded);
        skip_ws(&s);
        if (p[s.i] == ',')
            s.i++;
    }
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* A number token read as JavaScript reads it; true when that is a safe integer. */
static bool safe_integer(const span_t *v, int64_t *out) {
    char small[64], *buf = small;
    double d;

    /* Plain digits, at most 15 of them (< 2^53): exact without strtod. */
    size_t neg = v->p[0] == '-', k = neg;
    if (v->len > neg && v->len - neg <= 15) {
        int64_t m = 0;
        while (k < v->len && v->p[k] >= '0' && v->p[k] <= '9')
            m = m * 10 + (v->p[k++] - '0');
        if (k == v->len) {
            *out = neg ? -m : m; /* "-0" → 0 */
            return true;
        }
    }
    if (v->len >= sizeof(small) && !(buf = malloc(v->len + 1)))
        return false;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (!isfinite(d) || d != trunc(d) || fabs(d) > MAX_SAFE_INTEGER)
        return false;
    *out = (int64_t)d; /* -0.0 → 0 */
    return true;
}

/* ---------------------------------------------------------------- rules */

typedef struct val_s {
    int64_t i;
    json_object *s; /* decoded string, when its token has an escape */
    span_t tok;     /* the string's token, quotes included */
} val_t;

static void vals_free(val_t *v, size_t n) {
    for (size_t k = 0; k < n; k++)
        json_object_put(v[k].s);
}

static const char OOM[] = "out of memory"; /* read_fields()'s "out of memory" */

/* Parses the value and reads the fields, in order. Returns NULL (all there with their
 * types), the reason of the first problem, or OOM. */
static const char *read_fields(const void *value, size_t len, const field_t *fields, size_t nf,
                               val_t *vals) {
    span_t spans[MAX_FIELDS];
    const unsigned char *p = value;
    size_t i = 0;
    int ok;

    memset(vals, 0, nf * sizeof(*vals));
    if (!value)
        return "not JSON";
    ok = json_strict(p, len);
    if (ok < 0)
        return OOM;
    if (!ok)
        return "not JSON";
    while (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
        i++;
    if (p[i] != '{')
        return "not an object";
    if (find_members(p, len, fields, nf, spans))
        return OOM;
    for (size_t k = 0; k < nf; k++) {
        const span_t *v = &spans[k];
        if (!v->len)
            return fields[k].missing;
        if (fields[k].type == F_INT) {
            if (!(v->p[0] == '-' || (v->p[0] >= '0' && v->p[0] <= '9')) ||
                !safe_integer(v, &vals[k].i))
                return fields[k].wrong;
        } else {
            if (v->p[0] != '"')
                return fields[k].wrong;
            vals[k].tok = *v;
            /* Without a backslash the token is already the canonical text (the strict check
             * let no control character through; only those, '"' and '\\' are escaped). */
            if (memchr(v->p, '\\', v->len) && !(vals[k].s = decode_string(v->p, v->len)))
                return OOM;
        }
    }
    return NULL;
}

/* Appends o's canonical text (PLAIN, no slash escapes) to out. */
static int emit(json_object *o, rill_buf_t *out) {
    size_t len;
    const char *text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    return text ? rill_buf_append(out, text, len) : -1;
}

/* Appends "name": to out, after '{' when first, else after ','. */
static int emit_name(const char *name, size_t len, int first, rill_buf_t *out) {
    char text[32];
    if (len + 4 > sizeof(text))
        return -1;
    size_t n = 0;
    text[n++] = first ? '{' : ',';
    text[n++] = '"';
    memcpy(text + n, name, len);
    n += len;
    text[n++] = '"';
    text[n++] = ':';
    return rill_buf_append(out, text, n);
}

/* Appends v in decimal. */
static int emit_int(int64_t v, rill_buf_t *out) {
    char text[24];
    size_t i = sizeof(text);
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        text[--i] = (char)('0' + m % 10);
    while (m /= 10);
    if (v < 0)
        text[--i] = '-';
    return rill_buf_append(out, text + i, sizeof(text) - i);
}

/* {"f1":v1,...,"extra_name":extra} of the fields, appended to out: the text json-c writes
 * for that object (PLAIN, no slash escapes), written directly. 0 or -1. */
static int emit_enriched(const field_t *fields, size_t nf, const val_t *vals,
                         const char *extra_name, int64_t extra, rill_buf_t *out) {
    for (size_t k = 0; k < nf; k++) {
        if (emit_name(fields[k].name, fields[k].name_len, k == 0, out))
            return -1;
        if (fields[k].type == F_INT) {
            if (emit_int(vals[k].i, out))
                return -1;
        } else if (vals[k].s) {
            if (emit(vals[k].s, out))
                return -1;
        } else if (rill_buf_append(out, vals[k].tok.p, vals[k].tok.len)) {
            return -1;
        }
    }
    if (emit_name(extra_name, strlen(extra_name), 0, out) || emit_int(extra, out))
        return -1;
    return rill_buf_append(out, "}", 1);
}

int auction_rules_rejected_value(const char *reason, rill_buf_t *out) {
    json_object *o = json_object_new_object(), *r;
    int rc = -1;

    if (!o)
        return -1;
    r = json_object_new_string(reason);
    if (r && !json_object_object_add(o, "rejected", r))
        rc = emit(o, out);
    else
        json_object_put(r);
    json_object_put(o);
    return rc;
}

/* The rules of kind on value: 0 valid (enriched text appended to out, *id set), 1 invalid
 * (*reason set), -1 out of memory. */
static int validate(auction_rules_kind_t kind, const void *value, size_t len, rill_buf_t *out,
                    int64_t *id, const char **reason) {
    const field_t *fields = kind == AUCTION_RULES_BID ? BID_FIELDS : AUCTION_FIELDS;
    size_t nf = kind == AUCTION_RULES_BID ? B_N : A_N;
    val_t v[MAX_FIELDS];
    const char *why = read_fields(value, len, fields, nf, v);
    int rc;

    *reason = NULL;
    if (why == OOM) {
        vals_free(v, nf);
        return -1;
    }
    if (!why) {
        if (kind == AUCTION_RULES_AUCTION) {
            if (!(v[A_ID].i > 0))
                why = "id must be > 0";
            else if (!(v[A_SELLER].i > 0))
                why = "seller must be > 0";
            else if (!(v[A_INITIAL].i > 0))
                why = "initialBid must be > 0";
            else if (v[A_RESERVE].i < v[A_INITIAL].i)
                why = "reserve < initialBid";
            else if (v[A_EXPIRES].i <= v[A_DATE].i)
                why = "expires <= dateTime";
        } else {
            if (!(v[B_AUCTION].i > 0))
                why = "auction must be > 0";
            else if (!(v[B_BIDDER].i > 0))
                why = "bidder must be > 0";
            else if (!(v[B_PRICE].i > 0))
                why = "price must be > 0";
        }
    }
    if (why) {
        vals_free(v, nf);
        *reason = why;
        return 1;
    }
    if (kind == AUCTION_RULES_AUCTION) {
        *id = v[A_ID].i;
        rc = emit_enriched(fields, nf, v, "durationMs", v[A_EXPIRES].i - v[A_DATE].i, out);
    } else {
        *id = v[B_AUCTION].i;
        rc = emit_enriched(fields, nf, v, "priceEur", (v[B_PRICE].i * 908 + 500) / 1000, out);
    }
    vals_free(v, nf);
    return rc ? -1 : 0;
}

int auction_validate(const char *json, size_t len, rill_buf_t *out_enriched, const char **reason) {
    int64_t id;
    return validate(AUCTION_RULES_AUCTION, json, len, out_enriched, &id, reason);
}

int bid_validate(const char *json, size_t len, rill_buf_t *out_enriched, const char **reason) {
    int64_t id;
    return validate(AUCTION_RULES_BID, json, len, out_enriched, &id, reason);
}

int auction_rules_validate(auction_rules_kind_t kind, const void *value, size_t len,
                           rill_buf_t *out_key, rill_buf_t *out_value, int64_t *key_id,
                           const char **reason) {
    int64_t id = 0;
    int rc = validate(kind, value, len, out_value, &id, reason);

    if (rc == 1)
        return auction_rules_rejected_value(*reason, out_value) ? -1 : 1;
    if (rc)
        return rc;
    if (key_id)
        *key_id = id;
    if (out_key) {
        char text[24];
        int n = snprintf(text, sizeof(text), "%lld", (long long)id);
        if (rill_buf_append(out_key, text, (size_t)n))
            return -1;
    }
    return 0;
}
