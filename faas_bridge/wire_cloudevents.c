/*
 * wire_cloudevents.c — encodes a batch of records as CloudEvents 1.0 over HTTP: binary
 * content mode for a single record, batched content mode for several.
 *
 * DESIGN
 * One record: the event's attributes travel as ce-* headers (values percent-encoded as the
 * HTTP binding requires) and the body is the value's bytes, untouched. Content-Type is
 * application/json when the value is a JSON object or array, text/plain for other UTF-8 text
 * (JSON scalars included), else application/octet-stream.
 * Several records: the body is a JSON array of events in the JSON event format
 * (Content-Type: application/cloudevents-batch+json). Each event carries specversion, id,
 * source, type, time (when the record has a timestamp), datacontenttype (what binary mode
 * would send as Content-Type), partitionkey (the key, when it is UTF-8 text) and the value as
 * data: JSON values verbatim, other UTF-8 text as a JSON string, anything else as
 * data_base64. With lineage.enable each event also carries the distributed-tracing
 * extension attribute traceparent (ce-traceparent in binary mode): the record's trace, a
 * span of its own. A record without a value (a tombstone) has neither data nor datacontenttype.
 * The event id is the record's own id, "<topic>-<partition>-<offset>-<n>" for the n-th
 * record the stage got from that input record (other origins: see faas_reorder.c), stable
 * across retries, which responses use to say which record a result belongs to.
 * A response is {"results": [...]} (wire_response.c); to a single event (binary mode) any
 * other body, JSON or not, is the one output value, verbatim.
 * The stage's requests go to the url option as given; nothing is signed.
 * rill__wire_cloudevents, at the end, is this format's entry in the table (wire_format.c).
 */
#include "wire_int.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CE_DEFAULT_SOURCE "/rill"
#define CE_DEFAULT_TYPE "dev.rill.record"

static const char *ce_source(const rill__faas_target_t *target) {
    return target->source && *target->source ? target->source : CE_DEFAULT_SOURCE;
}

static const char *ce_type(const rill__faas_target_t *target) {
    return target->event_type && *target->event_type ? target->event_type : CE_DEFAULT_TYPE;
}

static const char *ce_content_type(rill__wire_kind_t kind) {
    return kind == RILL_WIRE_JSON   ? "application/json"
           : kind == RILL_WIRE_TEXT ? "text/plain; charset=utf-8"
                                    : "application/octet-stream";
}

/* Binary mode's Content-Type. Only a JSON object or array is declared application/json:
 * HTTP frameworks parse application/json strictly and reject a bare scalar (the Functions
 * Framework answers 400 before the function runs), so scalars and other UTF-8 text are sent
 * as text/plain. */
static const char *ce_binary_content_type(rill__wire_kind_t kind, const rill__faas_rec_t *rec) {
    if (kind == RILL_WIRE_BINARY)
        return "application/octet-stream";
    if (kind == RILL_WIRE_JSON && rec->value) {
        const char *p = rec->value, *end = p + rec->value_len;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < end && (*p == '{' || *p == '['))
            return "application/json";
    }
    return "text/plain; charset=utf-8";
}

/* True when the record's key can be the partitionkey attribute (non-empty UTF-8 text). */
static bool ce_key_is_text(const rill__faas_rec_t *rec) {
    return rec->key && rec->key_len && rill__wire_utf8_valid(rec->key, rec->key_len);
}

/* Appends the header line "name: <value percent-encoded>" and its NUL to hdrs. */
static int ce_header(rill_buf_t *hdrs, const char *name, const void *value, size_t len) {
    if (rill__wire_cstr(hdrs, name) || rill_buf_append(hdrs, ": ", 2) ||
        rill__wire_pct(hdrs, value, len) || rill_buf_append(hdrs, "", 1))
        return -1;
    return 0;
}

/* Binary content mode: attributes in headers, the value as the body. */
static int ce_encode_binary(const rill__faas_target_t *target, const rill__faas_rec_t *rec,
                            rill_buf_t *body, rill_buf_t *hdrs) {
    const char *source = ce_source(target), *type = ce_type(target);
    rill__wire_kind_t kind = rill__wire_classify(rec->value, rec->value_len);
    char time[32];
    int time_len = rill__wire_rfc3339(rec->timestamp, time);

    if (rill__wire_cstr0(hdrs, "ce-specversion: 1.0") ||
        ce_header(hdrs, "ce-id", rec->id, strlen(rec->id)) ||
        ce_header(hdrs, "ce-source", source, strlen(source)) ||
        ce_header(hdrs, "ce-type", type, strlen(type)))
        return -1;
    if (time_len > 0 && ce_header(hdrs, "ce-time", time, (size_t)time_len))
        return -1;
    if (rec->traceparent[0] &&
        ce_header(hdrs, "ce-traceparent", rec->traceparent, strlen(rec->traceparent)))
        return -1;
    if (ce_key_is_text(rec) && ce_header(hdrs, "ce-partitionkey", rec->key, rec->key_len))
        return -1;
    if (rill__wire_cstr(hdrs, "Content-Type: ") ||
        rill__wire_cstr0(hdrs, ce_binary_content_type(kind, rec)))
        return -1;
    return rec->value ? rill_buf_append(body, rec->value, rec->value_len) : 0;
}

/* Appends ,"name":"<escaped C string>". */
static int ce_member_str(rill_buf_t *body, const char *member, const char *s, size_t len) {
    if (rill__wire_cstr(body, member) || rill__wire_json_str(body, s, len))
        return -1;
    return 0;
}

/* Appends one event of a batch in the JSON event format. common holds the members that
 * every event of the batch shares (source and type), already written as JSON. */
static int ce_encode_event(const rill_buf_t *common, const rill__faas_rec_t *rec,
                           rill_buf_t *body) {
    rill__wire_kind_t kind = rill__wire_classify(rec->value, rec->value_len);
    char time[32];
    int time_len = rill__wire_rfc3339(rec->timestamp, time);

    if (rill__wire_cstr(body, "{\"specversion\":\"1.0\"") ||
        ce_member_str(body, ",\"id\":", rec->id, strlen(rec->id)) ||
        rill_buf_append(body, common->data, common->len))
        return -1;
    if (time_len > 0 && ce_member_str(body, ",\"time\":", time, (size_t)time_len))
        return -1;
    if (kind != RILL_WIRE_NULL &&
        ce_member_str(body, ",\"datacontenttype\":", ce_content_type(kind),
                      strlen(ce_content_type(kind))))
        return -1;
    if (ce_key_is_text(rec) && ce_member_str(body, ",\"partitionkey\":", rec->key, rec->key_len))
        return -1;
    if (rec->traceparent[0] &&
        ce_member_str(body, ",\"traceparent\":", rec->traceparent, strlen(rec->traceparent)))
        return -1;
    switch (kind) {
    case RILL_WIRE_NULL:
        break;
    case RILL_WIRE_JSON:
        if (rill__wire_cstr(body, ",\"data\":") ||
            rill_buf_append(body, rec->value, rec->value_len))
            return -1;
        break;
    case RILL_WIRE_TEXT:
        if (ce_member_str(body, ",\"data\":", rec->value, rec->value_len))
            return -1;
        break;
    case RILL_WIRE_BINARY:
        if (rill__wire_cstr(body, ",\"data_base64\":\"") ||
            rill__wire_base64(body, rec->value, rec->value_len) || rill_buf_append(body, "\"", 1))
            return -1;
        break;
    }
    return rill_buf_append(body, "}", 1);
}

/*
 * Encodes recs[0..n) as CloudEvents (binary mode for one, a batch for more); see
 * bridge_int.h. Returns 0, or -1 when memory ran out.
 * Thread: any.
 */
static int ce_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                     rill_buf_t *body, rill_buf_t *hdrs) {
    const char *source = ce_source(target), *type = ce_type(target);
    rill_buf_t common = {0};
    int rc = -1;

    if (n == 1)
        return ce_encode_binary(target, &recs[0], body, hdrs);
    if (ce_member_str(&common, ",\"source\":", source, strlen(source)) ||
        ce_member_str(&common, ",\"type\":", type, strlen(type)) ||
        rill__wire_cstr0(hdrs, "Content-Type: application/cloudevents-batch+json") ||
        rill_buf_append(body, "[", 1))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((i && rill_buf_append(body, ",", 1)) || ce_encode_event(&common, &recs[i], body))
            goto out;
    }
    rc = rill_buf_append(body, "]", 1);
out:
    rill_buf_free(&common);
    return rc;
}

/*
 * Reads a response (wire_int.h, decode): {"results": [...]}; else, to a single event, the
 * body itself (JSON or not) is the one output value; else the call fails.
 * Thread: any.
 */
static int ce_decode(rill__wire_dec_t *dec, struct json_object *root, const char *body, size_t len,
                     const char *why) {
    size_t n = rill__wire_dec_n(dec);
    json_object *results;

    if (!why && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "results", &results))
        return rill__wire_dec_results(dec, results);
    if (n == 1)
        return rill__wire_dec_raw(dec, body, len);
    if (why)
        return rill__wire_dec_fail(dec, "response is not JSON: %s", why);
    return rill__wire_dec_fail(dec, "response to a batch of %zu events is not {\"results\": [...]}",
                               n);
}

/*
 * Sets up a stage's route (wire_int.h): the url option, which is required, as it is.
 * Thread: any.
 */
static int ce_route(const char *node_name, const char *function, const rill_faas_opts_t *opts,
                    rill__wire_route_t *route, char *errstr, size_t errstr_size) {
    (void)function;
    if (!opts->url) {
        snprintf(errstr, errstr_size, "FaaS stage \"%s\" needs the function's url", node_name);
        return -1;
    }
    if (!(route->url = strdup(opts->url))) {
        snprintf(errstr, errstr_size, "FaaS stage \"%s\": out of memory", node_name);
        return -1;
    }
    return 0;
}

/* This format's entry in the table (wire_format.c). */
const rill__wire_format_t rill__wire_cloudevents = {
    .format = RILL_FAAS_CLOUDEVENTS,
    .name = "cloudevents",
    .route = ce_route,
    .encode = ce_encode,
    .decode = ce_decode,
};
