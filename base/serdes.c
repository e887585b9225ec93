/*
 * serdes.c — the built-in serdes (bytes, UTF-8 string, big-endian int64, JSON) and the int64
 * wire helpers.
 *
 * DESIGN: each serde is a static const rill_serde_t, so handing one out never allocates and
 * they are safe to share between stream threads. Only the JSON serde has a decoded form (a
 * json-c object, reference count 1, owned by the caller and released with free_obj); bytes,
 * string and int64 validate and leave *objp NULL, since their bytes are the value. A NULL
 * buffer (a Kafka null, e.g. a tombstone) decodes to NULL with every serde; an empty but
 * non-NULL buffer is judged like any other input.
 *
 * The forms serialize() takes: bytes, a const rill_buf_t * (data/len); string, a
 * NUL-terminated const char *; int64, a const int64_t *; JSON, a struct json_object * (NULL
 * encodes as "null").
 *
 * The json-text serde checks UTF-8 and syntax in one pass with the strict validator of
 * json_text.c, and builds nothing: callbacks read members from the bytes (rill_json_member()).
 *
 * JSON input is checked as UTF-8 with the string serde's validator (json-c's own check lets
 * overlong forms and surrogates through), then parsed in json-c's strict mode, which still
 * accepts a few extensions (single-quoted keys, NaN); a value must fill the whole buffer,
 * whitespace aside. Before any tree is built, a pre-scan (json_scan.c) refuses a value nested
 * deeper than 32 levels or with more elements than its size allows (a json-c tree costs
 * hundreds of bytes per array or object: one 1 MB record of "[{},{},...]" would take 260 MB),
 * so a hostile record goes to the dead-letter topic with the reason. JSON parsing reuses one
 * json_tokener per thread (json_tokener_reset() per record), so a record costs no tokener
 * allocation. The tokener is created on a thread's first JSON record and freed by a pthread key
 * destructor when the thread exits.
 */
#include "rill.h"
#include "endian_int.h"
#include "json_scan_int.h"
#include "json_text_int.h"
#include "utf8_int.h"

#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* int64                                                                                    */

/* Decodes 8 big-endian bytes into *out. Returns 0, or -1 when len is not 8. Thread: any. */
int rill_int64_decode(const void *buf, size_t len, int64_t *out) {
    if (len != 8 || !buf)
        return -1;
    /* two's complement on every platform Rill builds on */
    *out = (int64_t)rill__be64_get((const unsigned char *)buf);
    return 0;
}

/* Encodes v into out[8], big-endian (Kafka's LongSerializer). Thread: any. */
void rill_int64_encode(int64_t v, unsigned char out[8]) {
    rill__be64_put(out, (uint64_t)v);
}

static int int64_deserialize(const rill_serde_t *serde, const void *buf, size_t len, void **objp,
                             char *errstr, size_t errstr_size) {
    *objp = NULL;
    if (!buf || len == 8)
        return 0;
    snprintf(errstr, errstr_size, "int64: expected 8 bytes (big-endian), got %zu", len);
    return -1;
}

static int int64_serialize(const rill_serde_t *serde, const void *obj, rill_buf_t *out) {
    unsigned char b[8];

    if (!obj)
        return -1;
    rill_int64_encode(*(const int64_t *)obj, b);
    return rill_buf_append(out, b, sizeof(b));
}

/* The serdes without a decoded form have nothing to free. */
static void no_free_obj(const rill_serde_t *serde, void *obj) {}

static const rill_serde_t serde_int64 = {"int64", int64_deserialize, int64_serialize, no_free_obj};

/* ---------------------------------------------------------------------------------------- */
/* bytes                                                                                    */

static int bytes_deserialize(const rill_serde_t *serde, const void *buf, size_t len, void **objp,
                             char *errstr, size_t errstr_size) {
    *objp = NULL;
    return 0;
}

static int bytes_serialize(const rill_serde_t *serde, const void *obj, rill_buf_t *out) {
    const rill_buf_t *src = obj;

    if (!src)
        return -1;
    return rill_buf_append(out, src->data, src->len);
}

static const rill_serde_t serde_bytes = {"bytes", bytes_deserialize, bytes_serialize, no_free_obj};

/* ---------------------------------------------------------------------------------------- */
/* UTF-8 string                                                                             */

/* Returns the offset of the first invalid byte of buf, or len when it is all valid UTF-8. */
static size_t utf8_invalid_at(const unsigned char *buf, size_t len) {
    size_t off = 0, seq;

    while (off < len) {
        seq = rill__utf8_seq_len(buf + off, len - off);
        if (!seq)
            return off;
        off += seq;
    }
    return len;
}

static int string_deserialize(const rill_serde_t *serde, const void *buf, size_t len, void **objp,
                              char *errstr, size_t errstr_size) {
    size_t bad;

    *objp = NULL;
    if (!buf)
        return 0;
    bad = utf8_invalid_at(buf, len);
    if (bad == len)
        return 0;
    snprintf(errstr, errstr_size, "string: invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad,
             ((const unsigned char *)buf)[bad]);
    return -1;
}

static int string_serialize(const rill_serde_t *serde, const void *obj, rill_buf_t *out) {
    if (!obj)
        return -1;
    return rill_buf_append(out, obj, strlen(obj));
}

static const rill_serde_t serde_string = {"string", string_deserialize, string_serialize,
                                          no_free_obj};

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                     */

static pthread_key_t json_tok_key;
static pthread_once_t json_tok_once = PTHREAD_ONCE_INIT;
static int json_tok_key_ok;
static _Thread_local struct json_tokener *json_tok; /* this thread's tokener, or NULL */

static void json_tok_destroy(void *tok) {
    json_tokener_free(tok);
}

static void json_tok_key_init(void) {
    json_tok_key_ok = pthread_key_create(&json_tok_key, json_tok_destroy) == 0;
}

/* Returns this thread's tokener, creating it on first use; NULL when out of memory. */
static struct json_tokener *json_tok_get(void) {
    if (json_tok)
        return json_tok;
    pthread_once(&json_tok_once, json_tok_key_init);
    if (!json_tok_key_ok)
        return NULL;
    json_tok = json_tokener_new();
    if (!json_tok)
        return NULL;
    json_tokener_set_flags(json_tok, JSON_TOKENER_STRICT); /* UTF-8 is checked before */
    if (pthread_setspecific(json_tok_key, json_tok) != 0) {
        json_tokener_free(json_tok);
        json_tok = NULL;
    }
    return json_tok;
}

/*
 * Parses all of buf with tok. Returns json_tokener_success with the value in *objp (NULL for
 * "null"), or the error; *offp is where parsing stopped. *trailingp is set when a value was
 * complete but bytes other than whitespace followed it.
 */
static enum json_tokener_error json_parse_all(struct json_tokener *tok, const char *buf, size_t len,
                                              struct json_object **objp, size_t *offp,
                                              int *trailingp) {
    enum json_tokener_error jerr;
    struct json_object *obj;

    *trailingp = 0;
    json_tokener_reset(tok);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    *offp = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* A value with no end of its own (a number) or cut short: signal end of input. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        if (jerr != json_tokener_success)
            return jerr;
        *offp = len;
    }
    if (jerr == json_tokener_success && *offp < len) {
        json_object_put(obj);
        *trailingp = 1;
        return json_tokener_error_parse_unexpected;
    }
    *objp = obj;
    return jerr;
}

static int json_deserialize(const rill_serde_t *serde, const void *buf, size_t len, void **objp,
                            char *errstr, size_t errstr_size) {
    struct json_tokener *tok;
    struct json_object *obj = NULL;
    enum json_tokener_error jerr;
    size_t off = 0;
    int trailing;
    char why[200];

    *objp = NULL;
    if (!buf)
        return 0;
    if (len > INT_MAX - 1) {
        snprintf(errstr, errstr_size, "json: value of %zu bytes is too large", len);
        return -1;
    }
    off = utf8_invalid_at((const unsigned char *)buf, len);
    if (off < len) {
        snprintf(errstr, errstr_size, "json: invalid UTF-8 at byte offset %zu", off);
        return -1;
    }
    if (rill__json_prescan(buf, len, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "json: refused before parsing: %s", why);
        return -1;
    }
    tok = json_tok_get();
    if (!tok) {
        snprintf(errstr, errstr_size, "json: out of memory");
        return -1;
    }
    jerr = json_parse_all(tok, buf, len, &obj, &off, &trailing);
    if (jerr == json_tokener_success) {
        *objp = obj;
        return 0;
    }
    if (trailing)
        snprintf(errstr, errstr_size, "json: trailing data after the value at byte offset %zu",
                 off);
    else
        snprintf(errstr, errstr_size, "json: %s at byte offset %zu", json_tokener_error_desc(jerr),
                 off);
    return -1;
}

static int json_serialize(const rill_serde_t *serde, const void *obj, rill_buf_t *out) {
    const char *text =
        json_object_to_json_string_ext((struct json_object *)obj, JSON_C_TO_STRING_PLAIN);

    if (!text)
        return -1;
    return rill_buf_append(out, text, strlen(text));
}

static void json_free_obj(const rill_serde_t *serde, void *obj) {
    json_object_put(obj);
}

static const rill_serde_t serde_json = {"json", json_deserialize, json_serialize, json_free_obj};

/* ---------------------------------------------------------------------------------------- */
/* JSON as text                                                                             */

static int json_text_deserialize(const rill_serde_t *serde, const void *buf, size_t len,
                                 void **objp, char *errstr, size_t errstr_size) {
    const char *why;
    size_t off;

    *objp = NULL;
    if (!buf)
        return 0;
    if (rill__json_validate(buf, len, &off, &why) == 0)
        return 0;
    snprintf(errstr, errstr_size, "json-text: %s at byte offset %zu", why, off);
    return -1;
}

/* serialize takes a NUL-terminated JSON text (as the string serde). */
static const rill_serde_t serde_json_text = {"json-text", json_text_deserialize, string_serialize,
                                             no_free_obj};

/* ---------------------------------------------------------------------------------------- */
/* The serdes                                                                               */

/* Raw bytes: never fails, no decoded form. serialize takes a const rill_buf_t *. */
const rill_serde_t *rill_serde_bytes(void) {
    return &serde_bytes;
}

/* UTF-8 text: rejects invalid UTF-8, no decoded form. serialize takes a C string. */
const rill_serde_t *rill_serde_string(void) {
    return &serde_string;
}

/* 8-byte big-endian int64: rejects other lengths, no decoded form (use rill_int64_decode()).
 * serialize takes a const int64_t *. */
const rill_serde_t *rill_serde_int64(void) {
    return &serde_int64;
}

/* JSON text: rejects malformed JSON and trailing data; decoded form is a json-c object. */
const rill_serde_t *rill_serde_json(void) {
    return &serde_json;
}

/* JSON validated as text (strict RFC 8259), no decoded form; see rill_json_member(). */
const rill_serde_t *rill_serde_json_text(void) {
    return &serde_json_text;
}
