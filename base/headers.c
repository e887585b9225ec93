/*
 * headers.c — read access to a record's Kafka headers (rill_headers_get/count/at).
 *
 * DESIGN: a rill_headers_t * is an rd_kafka_headers_t * under another name, so records carry
 * the headers of the consumed message without copying them; these calls cast and delegate
 * to librdkafka. A NULL hdrs stands for a record with no headers. Values are borrowed from
 * the message and live as long as it; a header with a NULL value reports a NULL value of
 * length 0.
 */
#include "rill.h"

#include <librdkafka/rdkafka.h>

static const rd_kafka_headers_t *headers_kafka(const rill_headers_t *hdrs) {
    return (const rd_kafka_headers_t *)hdrs;
}

/*
 * Finds the last header called name. Returns 0 and sets *valuep and *lenp (borrowed), or -1
 * when there is none. Thread: the one processing the record.
 */
int rill_headers_get(const rill_headers_t *hdrs, const char *name, const void **valuep,
                     size_t *lenp) {
    const void *value = NULL;
    size_t len = 0;

    if (!hdrs || !name)
        return -1;
    if (rd_kafka_header_get_last(headers_kafka(hdrs), name, &value, &len) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    *valuep = value;
    *lenp = len;
    return 0;
}

/* Returns the number of headers (0 for NULL). */
size_t rill_headers_count(const rill_headers_t *hdrs) {
    return hdrs ? rd_kafka_header_cnt(headers_kafka(hdrs)) : 0;
}

/*
 * Sets *namep, *valuep and *lenp (borrowed) to the idx-th header, 0-based in message order.
 * Returns 0, or -1 when idx is out of range.
 */
int rill_headers_at(const rill_headers_t *hdrs, size_t idx, const char **namep, const void **valuep,
                    size_t *lenp) {
    const char *name = NULL;
    const void *value = NULL;
    size_t len = 0;

    if (!hdrs)
        return -1;
    if (rd_kafka_header_get_all(headers_kafka(hdrs), idx, &name, &value, &len) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    *namep = name;
    *valuep = value;
    *lenp = len;
    return 0;
}
