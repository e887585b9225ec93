/*
 * wire_response.c — decodes a function's 2xx response body into one result per input
 * record (rill__faas_decode), for every wire format: what differs per format is read by the
 * format's entry (wire_<name>.c, its decode), through the rill__wire_dec_* calls here.
 *
 * DESIGN
 * The body is parsed with json-c (responses are small next to requests), checked and matched
 * to records in a first pass that only records, per input record, which "results" entry
 * belongs to it and whether batchItemFailures names it, and adds up the bytes the answer
 * needs. A second pass lays the answer out in the response's arena, sized exactly once, so
 * every pointer handed out is final when written:
 *   [results: n x rill__faas_result_t][outs: all rill__faas_out_t arrays][string bytes]
 * Strings are NUL-terminated for convenience (lengths exclude the NUL).
 * Matching by id tries a cyclic scan that starts after the previous match, so results that
 * come back in input order, with gaps or not, cost O(n) in all.
 *
 * What a body means (README, "Function responses"):
 *  - empty (or only whitespace): no output for any record;
 *  - {"results":[{"id":..,"records":[{"key":..,"value":..}..]} | {"id":..,"error":..}..]}:
 *    per-record outputs or errors; records without an entry have no output; a "value" that
 *    is a JSON string gives its text, null gives a record without value (a tombstone), other
 *    JSON its JSON text; a missing or null "key" keeps the input key;
 *  - Lambda: "batchItemFailures":[{"itemIdentifier":"<id>"}] fails those records; a body with
 *    neither "results" nor "batchItemFailures" (null, a string, a number, an object such as
 *    {"statusCode":200}) means every record was consumed with no output, since a function
 *    written for Lambda's Kafka trigger returns nothing meaningful; a JSON array is taken
 *    as a mistake (-1), not silently dropped;
 *  - CloudEvents, one record: a body without "results" is the one output value, verbatim
 *    (wire_cloudevents.c; Lambda's reading is in wire_lambda.c).
 * Anything else returns -1 with a message naming what is wrong.
 *
 * Limits. Before json-c builds a tree (about 265 times the text's size for "[{},{},...]"),
 * rill__json_prescan() (base/json_scan.c) refuses a body nested deeper than 32 levels or
 * with more elements than its size allows; the call then fails with that reason, like any
 * malformed response. The body's size is bounded before (http_bridge.c, max_response_bytes).
 */
#include "json_scan_int.h"
#include "wire_int.h"

#include <json-c/json.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIF_ERROR "reported in batchItemFailures"

/* What the first pass learnt about one input record. */
typedef struct rill__wire_dec_slot_s {
    json_object *entry; /* its "results" entry, or NULL */
    bool bif;           /* named in batchItemFailures */
} rill__wire_dec_slot_t;

struct rill__wire_dec_s {
    const rill__faas_rec_t *recs;
    size_t n;
    rill__wire_dec_slot_t *slots;
    size_t next;     /* where the next id lookup starts */
    size_t outs;     /* output records in all */
    size_t bytes;    /* string bytes in all, NULs included */
    const char *raw; /* CloudEvents single record: the body is the output value */
    size_t raw_len;
    char *errstr;
    size_t errstr_size;
};
typedef rill__wire_dec_t dec_t;
#define dec_fail rill__wire_dec_fail /* the short names used in this file */

/* ---- what a format's reader calls (wire_int.h) ---- */

int rill__wire_dec_fail(dec_t *dec, const char *fmt, ...) {
    va_list ap;

    if (dec->errstr && dec->errstr_size) {
        va_start(ap, fmt);
        vsnprintf(dec->errstr, dec->errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t rill__wire_dec_n(const dec_t *dec) {
    return dec->n;
}

int rill__wire_dec_raw(dec_t *dec, const char *body, size_t len) {
    dec->raw = body;
    dec->raw_len = len;
    return 0;
}

/* The bytes a JSON value stands for: a string's text, NULL for null, else its JSON text. */
static const char *json_text(json_object *v, size_t *lenp) {
    if (!v) {
        *lenp = 0;
        return NULL;
    }
    if (json_object_is_type(v, json_type_string)) {
        *lenp = (size_t)json_object_get_string_len(v);
        return json_object_get_string(v);
    }
    return json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, lenp);
}

/* True when an entry's "error" member says the record failed (present, not null or false). */
static bool entry_error(json_object *entry, json_object **errorp) {
    *errorp = NULL;
    return json_object_object_get_ex(entry, "error", errorp) && *errorp &&
           !(json_object_is_type(*errorp, json_type_boolean) && !json_object_get_boolean(*errorp));
}

/* Adds the arena bytes of v's text (with its NUL); null adds nothing. */
static void dec_count(dec_t *dec, json_object *v) {
    size_t len;

    if (json_text(v, &len))
        dec->bytes += len + 1;
}

/* Finds the record whose id is id, or returns n. */
static size_t dec_find(dec_t *dec, const char *id) {
    for (size_t k = 0; k < dec->n; k++) {
        size_t i = (dec->next + k) % dec->n;
        if (!strcmp(dec->recs[i].id, id)) {
            dec->next = i + 1;
            return i;
        }
    }
    return dec->n;
}

/* Checks one entry's "records" array and counts what it needs. */
static int dec_check_records(dec_t *dec, size_t idx, json_object *records) {
    size_t cnt;

    if (!json_object_is_type(records, json_type_array))
        return dec_fail(dec, "results[%zu].records is not an array", idx);
    cnt = json_object_array_length(records);
    for (size_t j = 0; j < cnt; j++) {
        json_object *rec = json_object_array_get_idx(records, j), *key = NULL, *value = NULL;

        if (!json_object_is_type(rec, json_type_object))
            return dec_fail(dec, "results[%zu].records[%zu] is not an object", idx, j);
        json_object_object_get_ex(rec, "key", &key);
        json_object_object_get_ex(rec, "value", &value);
        dec_count(dec, key);
        dec_count(dec, value);
    }
    dec->outs += cnt;
    return 0;
}

/* First pass over "results": checks every entry and matches it to its record. */
int rill__wire_dec_results(dec_t *dec, json_object *results) {
    size_t cnt;

    if (!json_object_is_type(results, json_type_array))
        return dec_fail(dec, "\"results\" is not an array");
    cnt = json_object_array_length(results);
    for (size_t k = 0; k < cnt; k++) {
        json_object *entry = json_object_array_get_idx(results, k), *id, *error, *records;
        size_t i;

        if (!json_object_is_type(entry, json_type_object))
            return dec_fail(dec, "results[%zu] is not an object", k);
        if (!json_object_object_get_ex(entry, "id", &id) ||
            !json_object_is_type(id, json_type_string))
            return dec_fail(dec, "results[%zu] has no string \"id\"", k);
        i = dec_find(dec, json_object_get_string(id));
        if (i == dec->n)
            return dec_fail(dec, "results[%zu]: unknown id \"%.128s\"", k,
                            json_object_get_string(id));
        if (dec->slots[i].entry)
            return dec_fail(dec, "results[%zu]: a second result for id \"%.128s\"", k,
                            json_object_get_string(id));
        dec->slots[i].entry = entry;
        if (entry_error(entry, &error)) {
            dec_count(dec, error);
        } else if (json_object_object_get_ex(entry, "records", &records) && records &&
                   dec_check_records(dec, k, records)) {
            return -1;
        }
    }
    return 0;
}

/* First pass over Lambda's "batchItemFailures". */
int rill__wire_dec_failures(dec_t *dec, json_object *failures) {
    size_t cnt;

    if (!json_object_is_type(failures, json_type_array))
        return dec_fail(dec, "\"batchItemFailures\" is not an array");
    cnt = json_object_array_length(failures);
    for (size_t k = 0; k < cnt; k++) {
        json_object *item = json_object_array_get_idx(failures, k), *id;
        size_t i;

        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "itemIdentifier", &id) ||
            !json_object_is_type(id, json_type_string))
            return dec_fail(dec, "batchItemFailures[%zu] has no string \"itemIdentifier\"", k);
        i = dec_find(dec, json_object_get_string(id));
        if (i == dec->n)
            return dec_fail(dec, "batchItemFailures[%zu]: unknown id \"%.128s\"", k,
                            json_object_get_string(id));
        dec->slots[i].bif = true;
    }
    if (cnt)
        dec->bytes += sizeof(BIF_ERROR);
    return 0;
}

/* ---- second pass: layout in the arena ---- */

typedef struct rill__wire_lay_s {
    char *base;
    size_t outs_at; /* next free rill__faas_out_t slot, in bytes from base */
    size_t str_at;  /* next free string byte */
} rill__wire_lay_t;

static const char *lay_str(rill__wire_lay_t *lay, const char *s, size_t len) {
    char *dst = lay->base + lay->str_at;

    if (len)
        memcpy(dst, s, len);
    dst[len] = '\0';
    lay->str_at += len + 1;
    return dst;
}

/* Copies the text of v (see json_text) into the arena; NULL for null. */
static const char *lay_json(rill__wire_lay_t *lay, json_object *v, size_t *lenp) {
    const char *s = json_text(v, lenp);

    return s ? lay_str(lay, s, *lenp) : NULL;
}

static void lay_entry(rill__wire_lay_t *lay, rill__faas_result_t *res, json_object *entry) {
    json_object *error = NULL, *records = NULL;
    size_t len, cnt;

    if (entry_error(entry, &error)) {
        res->failed = true;
        res->error = lay_json(lay, error, &len);
        return;
    }
    if (!json_object_object_get_ex(entry, "records", &records) || !records)
        return;
    cnt = json_object_array_length(records);
    res->outs = (rill__faas_out_t *)(void *)(lay->base + lay->outs_at);
    res->out_cnt = cnt;
    lay->outs_at += cnt * sizeof(rill__faas_out_t);
    for (size_t j = 0; j < cnt; j++) {
        json_object *rec = json_object_array_get_idx(records, j), *key = NULL, *value = NULL;
        rill__faas_out_t *out = &res->outs[j];

        json_object_object_get_ex(rec, "key", &key);
        json_object_object_get_ex(rec, "value", &value);
        out->key = lay_json(lay, key, &out->key_len);
        out->value = lay_json(lay, value, &out->value_len);
    }
}

/* Second pass: sizes the arena once and fills it. */
static int dec_layout(dec_t *dec, rill__faas_response_t *out) {
    size_t res_bytes = dec->n * sizeof(rill__faas_result_t);
    size_t total = res_bytes + dec->outs * sizeof(rill__faas_out_t) + dec->bytes;
    const char *bif_error = NULL;
    rill__faas_result_t *results;
    rill__wire_lay_t lay;

    if (dec->raw) {
        dec->outs = 1;
        total += sizeof(rill__faas_out_t) + dec->raw_len + 1;
    }
    if (total + 1 > out->arena.cap) {
        char *data = realloc(out->arena.data, total + 1);
        if (!data)
            return dec_fail(dec, "out of memory decoding the response");
        out->arena.data = data;
        out->arena.cap = total + 1;
    }
    memset(out->arena.data, 0, res_bytes);
    out->arena.len = total;
    out->arena.data[total] = '\0';
    lay = (rill__wire_lay_t){.base = out->arena.data,
                             .outs_at = res_bytes,
                             .str_at = res_bytes + dec->outs * sizeof(rill__faas_out_t)};
    results = (rill__faas_result_t *)(void *)lay.base;
    if (dec->raw) {
        results[0].outs = (rill__faas_out_t *)(void *)(lay.base + lay.outs_at);
        results[0].out_cnt = 1;
        results[0].outs[0] = (rill__faas_out_t){.value = lay_str(&lay, dec->raw, dec->raw_len),
                                                .value_len = dec->raw_len};
    }
    for (size_t i = 0; dec->slots && i < dec->n; i++) {
        if (dec->slots[i].entry)
            lay_entry(&lay, &results[i], dec->slots[i].entry);
        if (dec->slots[i].bif) {
            if (!bif_error)
                bif_error = lay_str(&lay, BIF_ERROR, sizeof(BIF_ERROR) - 1);
            results[i] = (rill__faas_result_t){.failed = true, .error = bif_error};
        }
    }
    out->results = dec->n ? results : NULL;
    out->n = dec->n;
    return 0;
}

/* ---- parsing ---- */

static bool body_is_blank(const char *body, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
            return false;
    }
    return true;
}

/* Parses the whole body as one JSON value. Returns 0 with *rootp (NULL for null), or -1
 * with json-c's reason in why. */
static int parse_body(const char *body, size_t len, json_object **rootp, const char **why) {
    json_tokener *tok;
    json_object *root;
    enum json_tokener_error err;

    *rootp = NULL;
    *why = "out of memory";
    if (len > INT32_MAX) {
        *why = "body too large";
        return -1;
    }
    if (!(tok = json_tokener_new()))
        return -1;
    root = json_tokener_parse_ex(tok, body, (int)len);
    err = json_tokener_get_error(tok);
    if (err == json_tokener_continue) { /* a bare number or literal: end the input */
        root = json_tokener_parse_ex(tok, "", 1);
        err = json_tokener_get_error(tok);
    } else if (err == json_tokener_success &&
               !body_is_blank(body + json_tokener_get_parse_end(tok),
                              len - json_tokener_get_parse_end(tok))) {
        err = json_tokener_error_parse_unexpected;
    }
    json_tokener_free(tok);
    if (err != json_tokener_success) {
        json_object_put(root);
        *why = json_tokener_error_desc(err);
        return -1;
    }
    *rootp = root;
    return 0;
}

/*
 * Decodes a 2xx response body into one result per record; see bridge_int.h and the DESIGN
 * note. Returns 0, or -1 with errstr (out is then reset).
 * Thread: any; out belongs to the caller.
 */
int rill__faas_decode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                      const char *body, size_t body_len, rill__faas_response_t *out, char *errstr,
                      size_t errstr_size) {
    dec_t dec = {.recs = recs, .n = n, .errstr = errstr, .errstr_size = errstr_size};
    const rill__wire_format_t *wire = rill__wire_format_of(target->format);
    json_object *root = NULL;
    const char *why = NULL;
    char scan_why[200];
    int rc = -1;

    rill__faas_response_reset(out);
    if (!wire)
        return dec_fail(&dec, "unknown FaaS wire format %d: no table entry decodes it",
                        (int)target->format);
    if (!body || body_is_blank(body, body_len))
        return dec_layout(&dec, out);
    if (rill__json_prescan(body, body_len, scan_why, sizeof(scan_why)))
        return dec_fail(&dec, "response refused before parsing: %s", scan_why);
    if (n && !(dec.slots = calloc(n, sizeof(*dec.slots))))
        return dec_fail(&dec, "out of memory decoding the response");
    if (!parse_body(body, body_len, &root, &why))
        why = NULL;
    rc = wire->decode(&dec, root, body, body_len, why);
    if (rc == 0)
        rc = dec_layout(&dec, out);
    if (rc)
        rill__faas_response_reset(out);
    json_object_put(root);
    free(dec.slots);
    return rc;
}

/* Empties out for reuse and keeps its arena's memory. */
void rill__faas_response_reset(rill__faas_response_t *out) {
    out->results = NULL;
    out->n = 0;
    rill_buf_reset(&out->arena);
}

/* Releases out's memory. NULL-safe. */
void rill__faas_response_free(rill__faas_response_t *out) {
    if (!out)
        return;
    rill_buf_free(&out->arena);
    out->results = NULL;
    out->n = 0;
}
