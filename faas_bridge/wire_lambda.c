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
 * objects whose value is the header's bytes as numbers.
 * "id" is not the trigger's: it is the record's own id (as a CloudEvent's id), which a
 * response names; records derived from one input record share its offset, never their id. Rill does not know how a record's
 * timestamp was set, so timestampType is always CREATE_TIME. The request's Content-Type is
 * application/json; the URL, SigV4 signing and the Invoke API belong to the stage and the
 * HTTP bridge.
 */
#include "wire_common.h"

#include <stdlib.h>
#include <string.h>

static bool same_partition(const rill__faas_rec_t *a, const rill__faas_rec_t *b)
{
    return a->partition == b->partition && !strcmp(a->topic, b->topic);
}

/* Appends value's bytes as a JSON array of numbers: [104,101,...]. */
static int lambda_byte_array(rill_buf_t *body, const unsigned char *p, size_t len)
{
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

static int lambda_headers(rill_buf_t *body, const rill_headers_t *headers)
{
    size_t cnt = rill_headers_count(headers);

    if (rill__wire_cstr(body, ",\"headers\":["))
        return -1;
    for (size_t i = 0; i < cnt; i++) {
        const char *name = NULL;
        const void *value = NULL;
        size_t len = 0;

        if (rill_headers_at(headers, i, &name, &value, &len))
            continue;
        if ((i && rill_buf_append(body, ",", 1)) || rill_buf_append(body, "{", 1) ||
            rill__wire_json_str(body, name, strlen(name)) || rill_buf_append(body, ":", 1) ||
            lambda_byte_array(body, value, value ? len : 0) || rill_buf_append(body, "}", 1))
            return -1;
    }
    return rill_buf_append(body, "]", 1);
}

static int lambda_record(rill_buf_t *body, const rill__faas_rec_t *rec)
{
    if (rill__wire_cstr(body, "{\"topic\":") ||
        rill__wire_json_str(body, rec->topic, strlen(rec->topic)) ||
        rill__wire_cstr(body, ",\"partition\":") || rill__wire_i64(body, rec->partition) ||
        rill__wire_cstr(body, ",\"offset\":") || rill__wire_i64(body, rec->offset) ||
        rill__wire_cstr(body, ",\"timestamp\":") || rill__wire_i64(body, rec->timestamp) ||
        rill__wire_cstr(body, ",\"timestampType\":\"CREATE_TIME\",\"id\":") ||
        rill__wire_json_str(body, rec->id, strlen(rec->id)))
        return -1;
    if (rec->key && (rill__wire_cstr(body, ",\"key\":\"") ||
                     rill__wire_base64(body, rec->key, rec->key_len) ||
                     rill_buf_append(body, "\"", 1)))
        return -1;
    if (rec->value && (rill__wire_cstr(body, ",\"value\":\"") ||
                       rill__wire_base64(body, rec->value, rec->value_len) ||
                       rill_buf_append(body, "\"", 1)))
        return -1;
    if (lambda_headers(body, rec->headers))
        return -1;
    return rill_buf_append(body, "}", 1);
}

/* Appends "<topic>-<partition>":[...] for the group that recs[first] opens, marking its
 * records done. */
static int lambda_group(rill_buf_t *body, const rill__faas_rec_t *recs, size_t n, size_t first,
                        bool *done)
{
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
int rill__wire_lambda_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs,
                             size_t n, rill_buf_t *body, rill_buf_t *hdrs)
{
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
