/*
 * rt_marker.h — tells Rill's progress markers from records, for tests that read a topic a
 * topology both writes and reads (repartition topics, linked sink topics): such a topic holds
 * markers (null key, null value, header rill.progress) that readers skip, as
 * rill_ctx_stream_time() in rill.h describes.
 */
#ifndef RT_MARKER_H
#define RT_MARKER_H

#include "rill.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

static inline bool rt_is_progress_marker(const rd_kafka_message_t *msg) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t len;
    return !msg->err && !msg->key && !msg->payload && !rd_kafka_message_headers(msg, &hdrs) &&
           !rd_kafka_header_get_last(hdrs, RILL_PROGRESS_HEADER, &v, &len);
}

#endif
