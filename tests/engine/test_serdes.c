/*
 * test_serdes.c — unit tests of the built-in serdes (base/serdes.c) and of what they read
 * and write: rill_buf_t (base/buf.c) and record headers (base/headers.c). Covers the
 * int64 wire format, UTF-8 validation, JSON parsing and encoding.
 */
#include <criterion/criterion.h>

#include "rill.h"

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static char errstr[256];

/* Deserializes len bytes of text with serde; returns its result, object in *objp. */
static int decode(const rill_serde_t *serde, const char *text, size_t len, void **objp) {
    errstr[0] = '\0';
    return serde->deserialize(serde, text, len, objp, errstr, sizeof(errstr));
}

/* Deserializes a C string (without its NUL) with serde. */
static int decode_str(const rill_serde_t *serde, const char *text, void **objp) {
    return decode(serde, text, strlen(text), objp);
}

/* ---------------------------------------------------------------------------------------- */
/* int64                                                                                    */

Test(engine_serdes, value_kept_when_int64_round_trips) {
    const int64_t values[] = {0, 1, -1, 42, -123456789, INT64_MAX, INT64_MIN, 0x0102030405060708};
    size_t i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        unsigned char b[8];
        int64_t back = 7;

        rill_int64_encode(values[i], b);
        cr_assert_eq(rill_int64_decode(b, 8, &back), 0);
        cr_assert_eq(back, values[i], "%lld", (long long)values[i]);
    }
}

Test(engine_serdes, bytes_big_endian_when_int64_encoded) {
    unsigned char b[8];
    const unsigned char one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    const unsigned char min[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    const unsigned char minus_one[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    rill_int64_encode(1, b);
    cr_assert_arr_eq(b, one, 8);
    rill_int64_encode(INT64_MIN, b);
    cr_assert_arr_eq(b, min, 8);
    rill_int64_encode(-1, b);
    cr_assert_arr_eq(b, minus_one, 8);
}

Test(engine_serdes, rejected_when_int64_length_not_8) {
    const unsigned char b[9] = {0};
    int64_t v;
    void *obj = (void *)1;

    cr_assert_eq(rill_int64_decode(b, 7, &v), -1);
    cr_assert_eq(rill_int64_decode(b, 9, &v), -1);
    cr_assert_eq(rill_int64_decode(b, 0, &v), -1);
    cr_assert_eq(decode(rill_serde_int64(), (const char *)b, 4, &obj), -1);
    cr_assert_null(obj);
    cr_assert(strstr(errstr, "8 bytes"), "%s", errstr);
    cr_assert(strstr(errstr, "4"), "%s", errstr);
    cr_assert_eq(decode(rill_serde_int64(), (const char *)b, 8, &obj), 0);
}

Test(engine_serdes, bytes_written_when_int64_serialized) {
    rill_buf_t buf = {0};
    int64_t v = -5, back;
    const rill_serde_t *serde = rill_serde_int64();

    cr_assert_eq(serde->serialize(serde, &v, &buf), 0);
    cr_assert_eq(buf.len, 8);
    cr_assert_eq(rill_int64_decode(buf.data, buf.len, &back), 0);
    cr_assert_eq(back, -5);
    cr_assert_str_eq(serde->name, "int64");
    rill_buf_free(&buf);
}

/* ---------------------------------------------------------------------------------------- */
/* string                                                                                   */

Test(engine_serdes, accepted_when_string_valid_utf8) {
    const char *valid[] = {
        "",
        "plain ascii",
        "caf\xc3\xa9",      /* U+00E9 */
        "\xe2\x82\xac",     /* U+20AC euro */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
    };
    size_t i;
    void *obj;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        cr_assert_eq(decode_str(rill_serde_string(), valid[i], &obj), 0, "case %zu: %s", i, errstr);
    cr_assert_null(obj);
    cr_assert_eq(decode(rill_serde_string(), "a\0b", 3, &obj), 0); /* NUL is valid UTF-8 */
}

Test(engine_serdes, rejected_when_string_invalid_utf8) {
    const char *invalid[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xf0\x80\x80\xaf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* U+D800 surrogate */
        "\xed\xbf\xbf",     /* U+DFFF surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", /* invalid lead byte */
        "\x80",             /* stray continuation */
        "ok\xc3",           /* truncated 2-byte */
        "\xe2\x82",         /* truncated 3-byte */
        "\xf0\x9f\x98",     /* truncated 4-byte */
        "\xe2\x28\xa1",     /* bad continuation */
        "\xff",
    };
    size_t i;
    void *obj;

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        cr_assert_eq(decode_str(rill_serde_string(), invalid[i], &obj), -1, "case %zu", i);
        cr_assert(strstr(errstr, "UTF-8"), "case %zu: %s", i, errstr);
    }
    cr_assert_eq(decode_str(rill_serde_string(), "abc\xc3", &obj), -1);
    cr_assert(strstr(errstr, "offset 3"), "%s", errstr);
}

Test(engine_serdes, text_appended_when_string_serialized) {
    rill_buf_t buf = {0};
    const rill_serde_t *serde = rill_serde_string();

    cr_assert_eq(serde->serialize(serde, "hello", &buf), 0);
    cr_assert_eq(serde->serialize(serde, " world", &buf), 0);
    cr_assert_eq(buf.len, 11);
    cr_assert_str_eq(buf.data, "hello world");
    rill_buf_free(&buf);
}

/* ---------------------------------------------------------------------------------------- */
/* bytes                                                                                    */

Test(engine_serdes, never_fails_when_bytes_deserialized) {
    const char any[] = {'\xff', '\0', '\xc0', 'x'};
    void *obj = (void *)1;

    cr_assert_eq(decode(rill_serde_bytes(), any, sizeof(any), &obj), 0);
    cr_assert_null(obj);
    cr_assert_eq(decode(rill_serde_bytes(), "", 0, &obj), 0);
    cr_assert_eq(decode(rill_serde_bytes(), NULL, 0, &obj), 0);
}

Test(engine_serdes, buffer_copied_when_bytes_serialized) {
    rill_buf_t src = {0}, out = {0};
    const rill_serde_t *serde = rill_serde_bytes();

    cr_assert_eq(rill_buf_append(&src, "a\0b", 3), 0);
    cr_assert_eq(serde->serialize(serde, &src, &out), 0);
    cr_assert_eq(out.len, 3);
    cr_assert_eq(memcmp(out.data, "a\0b", 3), 0);
    rill_buf_free(&src);
    rill_buf_free(&out);
}

/* ---------------------------------------------------------------------------------------- */
/* json                                                                                     */

Test(engine_serdes, object_decoded_when_json_valid) {
    const char *text = "{\"id\": 7, \"name\": \"x\", \"tags\": [1, 2]}";
    struct json_object *obj = NULL, *field;

    cr_assert_eq(decode_str(rill_serde_json(), text, (void **)&obj), 0, "%s", errstr);
    cr_assert_not_null(obj);
    cr_assert(json_object_is_type(obj, json_type_object));
    cr_assert(json_object_object_get_ex(obj, "id", &field));
    cr_assert_eq(json_object_get_int64(field), 7);
    rill_serde_json()->free_obj(rill_serde_json(), obj);
}

Test(engine_serdes, scalar_decoded_when_json_is_bare_number) {
    struct json_object *obj = NULL;

    cr_assert_eq(decode_str(rill_serde_json(), "12345", (void **)&obj), 0, "%s", errstr);
    cr_assert_eq(json_object_get_int64(obj), 12345);
    json_object_put(obj);
    cr_assert_eq(decode_str(rill_serde_json(), " \"s\" \n", (void **)&obj), 0, "%s", errstr);
    cr_assert_str_eq(json_object_get_string(obj), "s");
    json_object_put(obj);
}

Test(engine_serdes, only_len_bytes_read_when_json_buffer_not_terminated) {
    const char text[] = "[1,2]GARBAGE";
    struct json_object *obj = NULL;

    cr_assert_eq(decode(rill_serde_json(), text, 5, (void **)&obj), 0, "%s", errstr);
    cr_assert_eq(json_object_array_length(obj), 2);
    json_object_put(obj);
}

Test(engine_serdes, rejected_with_offset_when_json_malformed) {
    void *obj = (void *)1;

    cr_assert_eq(decode_str(rill_serde_json(), "{\"a\": }", &obj), -1);
    cr_assert_null(obj);
    cr_assert(strstr(errstr, "json:"), "%s", errstr);
    cr_assert(strstr(errstr, "byte offset"), "%s", errstr);
    cr_assert_eq(decode_str(rill_serde_json(), "{\"a\": 1", &obj), -1);
    cr_assert(strstr(errstr, "byte offset"), "%s", errstr);
    cr_assert_eq(decode_str(rill_serde_json(), "", &obj), -1);
    cr_assert_eq(decode_str(rill_serde_json(), "'a'", &obj), -1); /* strict: no quotes */
    cr_assert_eq(decode_str(rill_serde_json(), "/* c */ 1", &obj), -1);
    cr_assert_eq(decode_str(rill_serde_json(), "[1,]", &obj), -1);
    cr_assert_eq(decode_str(rill_serde_json(), "\"\xc0\xaf\"", &obj), -1);
}

Test(engine_serdes, rejected_when_json_has_trailing_garbage) {
    void *obj = (void *)1;

    cr_assert_eq(decode_str(rill_serde_json(), "{\"a\": 1} x", &obj), -1);
    cr_assert_null(obj);
    cr_assert(strstr(errstr, "byte offset"), "%s", errstr);
    cr_assert_eq(decode_str(rill_serde_json(), "{}{}", &obj), -1);
    cr_assert_eq(decode_str(rill_serde_json(), "1 2", &obj), -1);
    cr_assert_eq(decode(rill_serde_json(), "{}\0", 3, &obj), -1);
}

Test(engine_serdes, same_text_when_json_round_trips) {
    const char *text = "{\"k\":\"v\",\"n\":[1,2.5,true,null]}";
    struct json_object *obj = NULL, *again = NULL;
    rill_buf_t buf = {0};
    const rill_serde_t *serde = rill_serde_json();

    cr_assert_eq(decode_str(serde, text, (void **)&obj), 0, "%s", errstr);
    cr_assert_eq(serde->serialize(serde, obj, &buf), 0);
    cr_assert_str_eq(buf.data, text);
    cr_assert_eq(decode(serde, buf.data, buf.len, (void **)&again), 0, "%s", errstr);
    cr_assert(json_object_equal(obj, again));
    serde->free_obj(serde, obj);
    serde->free_obj(serde, again);
    rill_buf_free(&buf);
}

/* Makes "[" + count copies of item separated by commas + "]"; the caller frees. */
static char *json_array_of(const char *item, size_t count, size_t *lenp) {
    size_t il = strlen(item), len = 2 + count * (il + 1);
    char *s = malloc(len + 1), *p = s;

    cr_assert_not_null(s);
    *p++ = '[';
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, il), p += il;
    }
    *p++ = ']';
    *p = '\0';
    *lenp = (size_t)(p - s);
    return s;
}

Test(engine_serdes, refused_with_reason_when_json_would_amplify_in_memory) {
    size_t len;
    char *text = json_array_of("{}", 350000, &len); /* about 1 MB: 260 MB as a tree */
    void *obj = NULL;

    cr_assert_eq(decode(rill_serde_json(), text, len, &obj), -1, "parsed into a tree");
    cr_assert_null(obj);
    cr_assert(strstr(errstr, "json: refused before parsing") && strstr(errstr, "elements"), "%s",
              errstr);
    free(text);
}

Test(engine_serdes, refused_with_reason_when_json_nested_too_deep) {
    char text[200];
    void *obj = NULL;

    memset(text, '[', 40);
    memset(text + 40, ']', 40);
    cr_assert_eq(decode(rill_serde_json(), text, 80, &obj), -1);
    cr_assert(strstr(errstr, "nested deeper than 32"), "%s", errstr);
}

Test(engine_serdes, decoded_when_large_json_has_elements_fitting_its_size) {
    size_t len;
    char *ints = json_array_of("7", 200000, &len);
    char *objs = json_array_of("{\"id\":123,\"name\":\"x\"}", 50000, &len);
    char *deep = json_array_of("[[[[[[[[[[1]]]]]]]]]]", 10, &len);
    void *obj = NULL;

    cr_assert_eq(decode_str(rill_serde_json(), ints, &obj), 0, "%s", errstr);
    cr_assert_eq(json_object_array_length(obj), 200000);
    json_object_put(obj);
    cr_assert_eq(decode_str(rill_serde_json(), objs, &obj), 0, "%s", errstr);
    json_object_put(obj);
    cr_assert_eq(decode_str(rill_serde_json(), deep, &obj), 0, "%s", errstr);
    json_object_put(obj);
    free(ints), free(objs), free(deep);
}

Test(engine_serdes, null_value_decoded_when_json_buffer_null) {
    void *obj = (void *)1;

    cr_assert_eq(decode(rill_serde_json(), NULL, 0, &obj), 0);
    cr_assert_null(obj);
}

static void *decode_on_thread(void *arg) {
    struct json_object *obj = NULL;
    char text[32];
    long i, ok = 1;

    for (i = 0; i < 200; i++) {
        snprintf(text, sizeof(text), "{\"i\":%ld}", i);
        if (decode_str(rill_serde_json(), text, (void **)&obj) != 0)
            ok = 0;
        json_object_put(obj);
    }
    return (void *)ok;
}

Test(engine_serdes, each_thread_parses_when_json_used_concurrently) {
    pthread_t t[4];
    void *ok;
    int i;

    for (i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, decode_on_thread, NULL), 0);
    for (i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], &ok), 0);
        cr_assert_eq((long)ok, 1);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* rill_buf_t                                                                               */

Test(engine_buf, no_reallocation_when_capacity_suffices) {
    rill_buf_t buf = {0};
    char *data;
    size_t cap;

    cr_assert_eq(rill_buf_append(&buf, "abc", 3), 0);
    data = buf.data;
    cap = buf.cap;
    cr_assert_geq(cap, 4);
    rill_buf_reset(&buf);
    cr_assert_eq(buf.len, 0);
    cr_assert_eq(rill_buf_append(&buf, "xyz", 3), 0);
    cr_assert_eq(buf.data, data);
    cr_assert_eq(buf.cap, cap);
    rill_buf_free(&buf);
    cr_assert_null(buf.data);
    cr_assert_eq(buf.cap, 0);
}

Test(engine_buf, contents_kept_when_buffer_grows) {
    rill_buf_t buf = {0};
    char chunk[100];
    int i;

    memset(chunk, 'q', sizeof(chunk));
    for (i = 0; i < 1000; i++)
        cr_assert_eq(rill_buf_append(&buf, chunk, sizeof(chunk)), 0);
    cr_assert_eq(buf.len, 100000);
    cr_assert_lt(buf.cap, 2 * 100001 + 64);
    for (i = 0; i < 100000; i++)
        cr_assert_eq(buf.data[i], 'q');
    cr_assert_eq(buf.data[buf.len], '\0');
    rill_buf_free(&buf);
    rill_buf_free(NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* rill_headers_t                                                                           */

Test(engine_headers, last_value_found_when_name_repeated) {
    rd_kafka_headers_t *khdrs = rd_kafka_headers_new(4);
    const rill_headers_t *hdrs = (const rill_headers_t *)khdrs;
    const char *name;
    const void *value;
    size_t len;

    rd_kafka_header_add(khdrs, "trace", -1, "one", 3);
    rd_kafka_header_add(khdrs, "type", -1, "json", 4);
    rd_kafka_header_add(khdrs, "trace", -1, "two", 3);
    cr_assert_eq(rill_headers_count(hdrs), 3);
    cr_assert_eq(rill_headers_get(hdrs, "trace", &value, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(value, "two", 3), 0);
    cr_assert_eq(rill_headers_get(hdrs, "missing", &value, &len), -1);
    cr_assert_eq(rill_headers_at(hdrs, 1, &name, &value, &len), 0);
    cr_assert_str_eq(name, "type");
    cr_assert_eq(len, 4);
    cr_assert_eq(rill_headers_at(hdrs, 3, &name, &value, &len), -1);
    rd_kafka_headers_destroy(khdrs);
}

Test(engine_headers, empty_when_headers_null) {
    const char *name;
    const void *value;
    size_t len;

    cr_assert_eq(rill_headers_count(NULL), 0);
    cr_assert_eq(rill_headers_get(NULL, "x", &value, &len), -1);
    cr_assert_eq(rill_headers_at(NULL, 0, &name, &value, &len), -1);
}
