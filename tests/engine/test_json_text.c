/*
 * test_json_text.c — the json-text serde's strict validator and the member readers
 * rill_json_member() / rill_json_int64(), against json-c as the reference: every document
 * a seeded generator writes is accepted and each of its top-level members reads back as the
 * value json-c finds; every mutation of one that the validator accepts, json-c (strict mode)
 * accepts too; fixed cases pin the refusals, their reasons and offsets, and the integer edges.
 */
#include <criterion/criterion.h>

#include "json_text_int.h"
#include "rill.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid(const char *text) {
    size_t off;
    const char *why;
    return rill__json_validate(text, strlen(text), &off, &why) == 0;
}

Test(engine_json_text, accepted_when_strict_json) {
    const char *ok[] = {
        "0",
        "-0",
        "12.5e-3",
        "1E+2",
        "\"\"",
        "\"a\\u00e9\\n\\\"\"",
        "true",
        "false",
        "null",
        " {} ",
        "[]",
        "[1,[2,[3]],{\"a\":{\"b\":[]}}]",
        "{\"a\":1,\"a\":2}",
        "\t[ 1 , 2 ]\r\n",
        "{\"k\":\"\xc3\xa9\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect(valid(ok[i]), "refused: %s", ok[i]);
}

Test(engine_json_text, refused_with_reason_and_offset_when_not_strict_json) {
    static const struct {
        const char *text, *why;
        size_t off;
    } bad[] = {
        {"", "empty text", 0},
        {"   ", "unexpected end of the text", 3},
        {"01", "trailing data after the value", 1},
        {"+1", "unexpected character", 0},
        {"1.", "bad number: no digit after the decimal point", 2},
        {".5", "unexpected character", 0},
        {"1e", "bad number: no digit in the exponent", 2},
        {"-", "bad number", 1},
        {"[1,]", "unexpected character", 3},
        {"[1 2]", "expected ',' or ']'", 3},
        {"{\"a\" 1}", "expected ':' after a member name", 5},
        {"{'a':1}", "expected a member name in quotes", 1},
        {"{\"a\":1,}", "expected a member name in quotes", 7},
        {"\"tab\there\"", "control character in a string", 5},
        {"\"\\x\"", "unknown escape in a string", 2},
        {"\"\\u12G4\"", "bad \\u escape in a string", 2},
        {"\"open", "unterminated string", 5},
        {"nul", "unexpected character", 0},
        {"NaN", "unexpected character", 0},
        {"{} {}", "trailing data after the value", 3},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         "nested deeper than 32 levels", 33},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t off = 99;
        const char *why = NULL;
        cr_expect_eq(rill__json_validate(bad[i].text, strlen(bad[i].text), &off, &why), -1,
                     "accepted: %s", bad[i].text);
        cr_expect_str_eq(why ? why : "(none)", bad[i].why, "reason for %s", bad[i].text);
        cr_expect_eq(off, bad[i].off, "offset for %s: %zu", bad[i].text, off);
    }
}

Test(engine_json_text, only_len_bytes_read_when_text_continues) {
    size_t off;
    const char *why;
    cr_expect_eq(rill__json_validate("[1]]", 3, &off, &why), 0);
    cr_expect_eq(rill__json_validate("{\"a\":1}", 6, &off, &why), -1);
}

Test(engine_json_text, integers_read_within_int64_only) {
    const char *t = "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                    "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
                    "\"frac\":1.0,\"exp\":1e3,\"str\":\"5\",\"neg\":-42,\"zero\":-0,"
                    "\"big\":123456789012345678901}";
    size_t n = strlen(t);
    int64_t v = 0;
    cr_assert(valid(t));
    cr_expect(rill_json_int64(t, n, "max", &v) && v == INT64_MAX);
    cr_expect(rill_json_int64(t, n, "min", &v) && v == INT64_MIN);
    cr_expect(rill_json_int64(t, n, "neg", &v) && v == -42);
    cr_expect(rill_json_int64(t, n, "zero", &v) && v == 0);
    const char *no[] = {"over", "under", "frac", "exp", "str", "big", "missing"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        cr_expect_eq(rill_json_int64(t, n, no[i], &v), 0, "read %s", no[i]);
}

Test(engine_json_text, members_found_at_top_level_only_first_duplicate_wins) {
    const char *t = "{ \"a\" : 7, \"s\":\"q\\\"}\", \"l\":[1,{\"a\":3}], \"a\":{\"x\":1} ,"
                    "\"p\\u0069\":2, \"x\":null }";
    size_t n = strlen(t), len;
    const char *v;
    int64_t i;
    cr_assert(valid(t));
    cr_expect(rill_json_int64(t, n, "a", &i) && i == 7);
    cr_expect(rill_json_member(t, n, "s", &v, &len) && len == 6 && !memcmp(v, "\"q\\\"}\"", 6));
    cr_expect(rill_json_member(t, n, "l", &v, &len) && len == 11);
    cr_expect(rill_json_member(t, n, "x", &v, &len) && len == 4 && !memcmp(v, "null", 4));
    cr_expect_eq(rill_json_member(t, n, "pi", &v, &len), 0, "escaped names are not decoded");
    cr_expect_eq(rill_json_member("[1,2]", 5, "a", &v, &len), 0);
    cr_expect_eq(rill_json_member("{}", 2, "a", &v, &len), 0);
    cr_expect_eq(rill_json_member(NULL, 0, "a", &v, &len), 0);
    cr_expect(rill_json_member("{\"a\":1", 6, "a", &v, &len) && len == 1,
              "the text after the member is not read");
    cr_expect_eq(rill_json_member("{\"a\":[1", 7, "a", &v, &len), 0, "cut text: not found");
}

Test(engine_json_text, serde_validates_and_builds_nothing) {
    const rill_serde_t *s = rill_serde_json_text();
    void *obj = (void *)1;
    char err[200] = "";
    cr_expect_eq(s->deserialize(s, "{\"a\":[1,2]}", 11, &obj, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(obj);
    cr_expect_eq(s->deserialize(s, NULL, 0, &obj, err, sizeof(err)), 0, "a null is a tombstone");
    cr_expect_eq(s->deserialize(s, "{\"a\":01}", 8, &obj, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "json-text: expected ',' or '}' at byte offset 6");
    cr_expect_eq(s->deserialize(s, "\"\xc0\xaf\"", 4, &obj, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "json-text: invalid UTF-8 in a string at byte offset 1");
    cr_expect_eq(s->deserialize(s, "\xc3\xa9", 2, &obj, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "json-text: unexpected character at byte offset 0");
    rill_buf_t out = {0};
    cr_expect_eq(s->serialize(s, "{\"b\":2}", &out), 0);
    cr_expect_eq(out.len, 7);
    rill_buf_free(&out);
}

/* ---- generated documents against json-c ---- */

typedef struct gen_s {
    uint64_t seed;
    char buf[4096];
    size_t len;
} gen_t;

static uint32_t next(gen_t *g) {
    g->seed = g->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g->seed >> 33);
}

static void put(gen_t *g, const char *s) {
    size_t n = strlen(s);
    if (g->len + n < sizeof(g->buf))
        memcpy(g->buf + g->len, s, n), g->len += n;
}

static void ws(gen_t *g) {
    static const char *const spaces[] = {"", "", "", " ", "\n", "\t ", "\r\n "};
    put(g, spaces[next(g) % 7]);
}

static void gen_value(gen_t *g, int depth);

static void gen_string(gen_t *g) {
    static const char *const parts[] = {
        "a",   "id", "\\\"", "\\\\", "\\n", "\\u00e9", "\xc3\xa9",
        "\\/", " ",  "}",    "]",    ",",   ":",       "\\ud83d\\ude00"};
    put(g, "\"");
    for (int i = (int)(next(g) % 4); i > 0; i--)
        put(g, parts[next(g) % 14]);
    put(g, "\"");
}

static void gen_number(gen_t *g) {
    static const char *const nums[] = {"0",
                                       "-0",
                                       "7",
                                       "-42",
                                       "123456789012",
                                       "1.5",
                                       "-0.25",
                                       "1e3",
                                       "2E-2",
                                       "9223372036854775807",
                                       "-9223372036854775808",
                                       "18446744073709551616"};
    put(g, nums[next(g) % 12]);
}

/* The i-th member name of an object (unique within it: json-c keeps the last of a name, the
 * readers the first; the fixed cases pin that), as written: the readers compare names
 * without decoding escapes. */
static void gen_name(gen_t *g, int i) {
    static const char *const names[] = {"\"a\"",   "\"id\"", "\"price\"", "\"\xc3\xa9t\xc3\xa9\"",
                                        "\"x y\"", "\"\""};
    put(g, names[i % 6]);
}

static void gen_container(gen_t *g, int depth, int object) {
    put(g, object ? "{" : "[");
    int n = (int)(next(g) % 5);
    for (int i = 0; i < n; i++) {
        ws(g);
        if (object) {
            gen_name(g, i);
            ws(g);
            put(g, ":");
            ws(g);
        }
        gen_value(g, depth + 1);
        ws(g);
        if (i + 1 < n)
            put(g, ",");
    }
    put(g, object ? "}" : "]");
}

static void gen_value(gen_t *g, int depth) {
    uint32_t r = next(g) % (depth < 5 ? 8 : 5);
    if (r == 0)
        gen_string(g);
    else if (r == 1)
        gen_number(g);
    else if (r == 2)
        put(g, (const char *const[]){"true", "false", "null"}[next(g) % 3]);
    else if (r < 5)
        gen_string(g);
    else
        gen_container(g, depth, r != 5);
}

static struct json_object *jsonc_parse(const char *text, size_t len, int *okp) {
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        obj = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
        end = len;
    }
    while (end < len && strchr(" \t\r\n", text[end]))
        end++;
    *okp = e == json_tokener_success && end == len;
    json_tokener_free(tok);
    return obj;
}

/* Each top-level member of the object text, read by rill_json_member(), parses with json-c
 * to a value equal to json-c's member of the same name; integers agree too. */
static void members_agree(const char *text, size_t len, struct json_object *obj) {
    json_object_object_foreach(obj, name, want) {
        const char *v;
        size_t n;
        int ok;
        cr_assert(rill_json_member(text, len, name, &v, &n), "member %s of %.*s", name, (int)len,
                  text);
        struct json_object *got = jsonc_parse(v, n, &ok);
        cr_assert(ok && json_object_equal(got, want), "member %s: %.*s", name, (int)n, v);
        json_object_put(got);
        int64_t i;
        if (rill_json_int64(text, len, name, &i)) {
            cr_assert(json_object_is_type(want, json_type_int), "%s read as an integer", name);
            cr_assert_eq(i, json_object_get_int64(want), "member %s", name);
        }
    }
}

Test(engine_json_text, generated_documents_agree_with_json_c) {
    gen_t g = {.seed = 20261207};
    int objects = 0;
    for (int round = 0; round < 5000; round++) {
        g.len = 0;
        ws(&g);
        if (round % 2)
            gen_container(&g, 0, 1);
        else
            gen_value(&g, 0);
        ws(&g);
        size_t off;
        const char *why;
        int ok;
        cr_assert_eq(rill__json_validate(g.buf, g.len, &off, &why), 0, "%s at %zu: %.*s", why, off,
                     (int)g.len, g.buf);
        struct json_object *obj = jsonc_parse(g.buf, g.len, &ok);
        cr_assert(ok, "json-c refused %.*s", (int)g.len, g.buf);
        if (json_object_is_type(obj, json_type_object)) {
            members_agree(g.buf, g.len, obj);
            objects++;
        }
        json_object_put(obj);
    }
    cr_expect_gt(objects, 2000);
}

Test(engine_json_text, mutations_accepted_only_when_json_c_accepts) {
    gen_t g = {.seed = 7};
    static const char bytes[] = "{}[]\":,.-+eE0123456789 tfn\\u";
    int refused = 0;
    for (int round = 0; round < 20000; round++) {
        g.len = 0;
        gen_container(&g, 0, round % 3 != 0);
        if (g.len == 0)
            continue;
        size_t at = next(&g) % g.len;
        switch (next(&g) % 3) {
        case 0:
            g.buf[at] = bytes[next(&g) % (sizeof(bytes) - 1)];
            break;
        case 1:
            memmove(g.buf + at, g.buf + at + 1, g.len - at - 1);
            g.len--;
            break;
        default:
            g.len = at;
            break;
        }
        size_t off;
        const char *why;
        int ok;
        if (rill__json_validate(g.buf, g.len, &off, &why) != 0) {
            refused++;
            cr_assert_leq(off, g.len);
            continue;
        }
        struct json_object *obj = jsonc_parse(g.buf, g.len, &ok);
        cr_assert(ok, "accepted but json-c refuses: %.*s", (int)g.len, g.buf);
        json_object_put(obj);
    }
    cr_expect_gt(refused, 1000);
}
