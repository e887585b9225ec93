/*
 * wire_lambda.c — encodes a batch of records as the event Lambda's self-managed Apache Kafka
 * trigger sends, so that a function written for that trigger runs unchanged behind Rill.
 *
 * DESIGN
 * The body is one JSON object:
 *   {"eventSource":"SelfManagedKafka","bootstrapServers":"host:port,...",
 *    "records":{"<topic>-<partition>":[{"topic":"t","partition":0,"offset":15,
 *      "timestamp":1545084650987,"timestampType":"CREATE_TIME","id":"t-0-15-0",
 *      "key":"<base64>",
 *      "value":"<base64>","headers":[{"<name>":[<byte>,<byte>,...]}]}, ...], ...}}
 * Records are grouped by topic-partition (groups in order of first appearance, records in
 * batch order within a group), as the trigger does. "key" is left out when the record has no
 * key and "value" when it has no value (a tombstone); headers are an array of one-member
 * objects whose value is the header's bytes as numbers; with lineage.enable the record's
 * traceparent header is the call's own (a span of the record's trace).
 * "id" is not the trigger's: it is the record's own id (as a CloudEvent's id), which a
 * response names; records derived from one input record share its offset, never their id. Rill does
 * not know how a record's timestamp was set, so timestampType is always CREATE_TIME. The request's
 * Content-Type is application/json. The stage's requests go to the Invoke API,
 * <endpoint>/2015-03-31/functions/<name>/ invocations[?Qualifier=<qualifier>], the endpoint being
 * the url option or https://lambda.<region>.amazonaws.com (AWS_REGION, else AWS_DEFAULT_REGION,
 * else us-east-1); they are SigV4-signed with the environment's credentials (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) when the endpoint is https://, never over
 * plain http (a local emulator). The HTTP bridge does the signing.
 * A response is read as a function written for the trigger answers: "results" and
 * "batchItemFailures" (wire_response.c), anything else not an array means no outputs.
 * rill__wire_lambda, at the end, is this format's entry in the table (wire_format.c).
 */
#include "wire_int.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_partition(const rill__faas_rec_t *a, const rill__faas_rec_t *b) {
    return a->partition == b->partition && !strcmp(a->topic, b->topic);
}

/* Appends value's bytes as a JSON array of numbers: [104,101,...]. */
static int lambda_byte_array(rill_buf_t *body, const unsigned char *p, size_t len) {
    char *o;
    size_t n = 0;

    if (len > SIZE_MAX / 8 || !(o = rill__wire_grow(body, len * 4 + 2)))
        return -1;
    o[n++] = '[';
    for (size_t i = 0; i < len; i++) {
        unsigned c = p[i];
        if (i)
            o[n++] = ',';
        if (c >= 100)
            o[n++] = (char)('0' + c / 100);
        if (c >= 10)
            o[n++] = (char)('0' + c / 10 % 10);
        o[n++] = (char)('0' + c % 10);
    }
    o[n++] = ']';
    rill__wire_commit(body, n);
    return 0;
}

/* Appends {"<name>":[bytes]}, after a comma unless it is the first. */
static int lambda_header(rill_buf_t *body, bool first, const char *name, const void *value,
                         size_t len) {
    return (!first && rill_buf_append(body, ",", 1)) || rill_buf_append(body, "{", 1) ||
                   rill__wire_json_str(body, name, strlen(name)) || rill_buf_append(body, ":", 1) ||
                   lambda_byte_array(body, value, value ? len : 0) || rill_buf_append(body, "}", 1)
               ? -1
               : 0;
}

/* The record's headers; with lineage.enable its traceparent replaces the one it came with. */
static int lambda_headers(rill_buf_t *body, const rill__faas_rec_t *rec) {
    size_t cnt = rill_headers_count(rec->headers), put = 0;

    if (rill__wire_cstr(body, ",\"headers\":["))
        return -1;
    for (size_t i = 0; i < cnt; i++) {
        const char *name = NULL;
        const void *value = NULL;
        size_t len = 0;

        if (rill_headers_at(rec->headers, i, &name, &value, &len) ||
            (rec->traceparent[0] && !strcmp(name, "traceparent")))
            continue;
        if (lambda_header(body, put++ == 0, name, value, len))
            return -1;
    }
    if (rec->traceparent[0] &&
        lambda_header(body, put == 0, "traceparent", rec->traceparent, strlen(rec->traceparent)))
        return -1;
    return rill_buf_append(body, "]", 1);
}

static int lambda_record(rill_buf_t *body, const rill__faas_rec_t *rec) {
    if (rill__wire_cstr(body, "{\"topic\":") ||
        rill__wire_json_str(body, rec->topic, strlen(rec->topic)) ||
        rill__wire_cstr(body, ",\"partition\":") || rill__wire_i64(body, rec->partition) ||
        rill__wire_cstr(body, ",\"offset\":") || rill__wire_i64(body, rec->offset) ||
        rill__wire_cstr(body, ",\"timestamp\":") || rill__wire_i64(body, rec->timestamp) ||
        rill__wire_cstr(body, ",\"timestampType\":\"CREATE_TIME\",\"id\":") ||
        rill__wire_json_str(body, rec->id, strlen(rec->id)))
        return -1;
    if (rec->key &&
        (rill__wire_cstr(body, ",\"key\":\"") || rill__wire_base64(body, rec->key, rec->key_len) ||
         rill_buf_append(body, "\"", 1)))
        return -1;
    if (rec->value &&
        (rill__wire_cstr(body, ",\"value\":\"") ||
         rill__wire_base64(body, rec->value, rec->value_len) || rill_buf_append(body, "\"", 1)))
        return -1;
    if (lambda_headers(body, rec))
        return -1;
    return rill_buf_append(body, "}", 1);
}

/* Appends "<topic>-<partition>":[...] for the group that recs[first] opens, marking its
 * records done. */
static int lambda_group(rill_buf_t *body, const rill__faas_rec_t *recs, size_t n, size_t first,
                        bool *done) {
    rill_buf_t name = {0};
    int rc = -1;

    if (rill__wire_cstr(&name, recs[first].topic) || rill_buf_append(&name, "-", 1) ||
        rill__wire_i64(&name, recs[first].partition))
        goto out;
    if (rill__wire_json_str(body, name.data, name.len) || rill_buf_append(body, ":[", 2))
        goto out;
    for (size_t i = first, cnt = 0; i < n; i++) {
        if (done[i] || !same_partition(&recs[first], &recs[i]))
            continue;
        done[i] = true;
        if ((cnt++ && rill_buf_append(body, ",", 1)) || lambda_record(body, &recs[i]))
            goto out;
    }
    rc = rill_buf_append(body, "]", 1);
out:
    rill_buf_free(&name);
    return rc;
}

/*
 * Encodes recs[0..n) as a self-managed Kafka trigger event; see the DESIGN note and
 * bridge_int.h. Returns 0, or -1 when memory ran out.
 * Thread: any.
 */
static int lambda_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                         rill_buf_t *body, rill_buf_t *hdrs) {
    const char *bootstrap = target->bootstrap ? target->bootstrap : "";
    bool *done = calloc(n, sizeof(*done));
    size_t groups = 0;
    int rc = -1;

    if (!done)
        return -1;
    if (rill__wire_cstr0(hdrs, "Content-Type: application/json") ||
        rill__wire_cstr(body, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":") ||
        rill__wire_json_str(body, bootstrap, strlen(bootstrap)) ||
        rill__wire_cstr(body, ",\"records\":{"))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        if ((groups++ && rill_buf_append(body, ",", 1)) || lambda_group(body, recs, n, i, done))
            goto out;
    }
    rc = rill__wire_cstr(body, "}}");
out:
    free(done);
    return rc;
}

/*
 * Reads a response (wire_int.h, decode): "results" and "batchItemFailures" of an object;
 * any other JSON but an array (null, a string, a number, {"statusCode":200}) is no outputs;
 * an array or a body that is not JSON fails the call.
 * Thread: any.
 */
static int lambda_decode(rill__wire_dec_t *dec, struct json_object *root, const char *body,
                         size_t len, const char *why) {
    json_object *results, *failures;

    (void)body;
    (void)len;
    if (why)
        return rill__wire_dec_fail(dec, "response is not JSON: %s", why);
    if (json_object_is_type(root, json_type_array))
        return rill__wire_dec_fail(dec, "response is a JSON array; expected {\"results\": [...]}, "
                                        "{\"batchItemFailures\": [...]} or nothing");
    if (!json_object_is_type(root, json_type_object))
        return 0;
    if (json_object_object_get_ex(root, "results", &results) &&
        rill__wire_dec_results(dec, results))
        return -1;
    if (json_object_object_get_ex(root, "batchItemFailures", &failures) && failures &&
        rill__wire_dec_failures(dec, failures))
        return -1;
    return 0;
}

/*
 * Sets up a stage's route (wire_int.h): the Invoke API URL for function and, over
 * https://, SigV4 with the environment's credentials; see the DESIGN note.
 * Thread: the builder's (reads the environment).
 */
static int lambda_route(const char *node_name, const char *function, const rill_faas_opts_t *opts,
                        rill__wire_route_t *route, char *errstr, size_t errstr_size) {
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : getenv("AWS_DEFAULT_REGION");
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    char endpoint[256], url[1024];
    size_t elen;

    if (!region)
        region = "us-east-1";
    if (opts->url)
        snprintf(endpoint, sizeof(endpoint), "%s", opts->url);
    else
        snprintf(endpoint, sizeof(endpoint), "https://lambda.%s.amazonaws.com", region);
    elen = strlen(endpoint);
    if (elen && endpoint[elen - 1] == '/')
        endpoint[elen - 1] = '\0';
    if (strpbrk(function, "/:?# ")) {
        snprintf(errstr, errstr_size,
                 "Lambda function name \"%s\" must be a plain name: put an "
                 "alias or version in the qualifier option",
                 function);
        return -1;
    }
    snprintf(url, sizeof(url), "%s/2015-03-31/functions/%s/invocations%s%s", endpoint, function,
             opts->qualifier ? "?Qualifier=" : "", opts->qualifier ? opts->qualifier : "");
    if (!(route->url = strdup(url)))
        goto oom;
    /* Credentials go over TLS only: an http:// endpoint (a local emulator) is not signed. */
    if (key && secret && rill__url_is_https(route->url)) {
        char sig[128], pwd[512];

        snprintf(sig, sizeof(sig), "aws:amz:%s:lambda", region);
        snprintf(pwd, sizeof(pwd), "%s:%s", key, secret);
        if (!(route->sigv4 = strdup(sig)) || !(route->userpwd = strdup(pwd)) ||
            (token && !(route->session_token = strdup(token))))
            goto oom;
    }
    return 0;
oom:
    snprintf(errstr, errstr_size, "FaaS stage \"%s\": out of memory", node_name);
    return -1;
}

/* This format's entry in the table (wire_format.c). */
const rill__wire_format_t rill__wire_lambda = {
    .format = RILL_FAAS_LAMBDA,
    .name = "lambda",
    .route = lambda_route,
    .encode = lambda_encode,
    .decode = lambda_decode,
};
