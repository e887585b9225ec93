/*
 * refused.c — outputs the broker refused for good in a delivery report: remembered, so that
 * when their input is processed again the sink refuses them before producing and the input
 * is dead-lettered, instead of failing the same way forever.
 *
 * DESIGN
 * Most refusals are caught before the produce (limits.c). What is left fails in the
 * delivery report, when the node that made the record has moved on: a topic whose
 * max.message.bytes was lowered after the start, a record the broker finds invalid, an
 * authorization taken away. Under exactly_once_v2 such a failure also leaves the
 * transaction in a state librdkafka only lets end by an abort. So both guarantees do the
 * same: the failed output is remembered by a fingerprint of its topic, key and value, the
 * commit is not made, the tasks are rewound to their last commit (the transaction aborted
 * first), and the records are processed again; the sink then finds the fingerprint and
 * fails the record at its node with the broker's reason, and the input record goes to the
 * dead-letter topic with its source position. At-least-once may write the outputs of the
 * records after it again, as after any restart.
 *
 * A record refused as too large may have been refused only for the batch it was in: the
 * topic's limit was lowered after the start, and the producer's batches are sized for the
 * old one. So after such a rewind the limits are read again (limits.c), the refusals of
 * records that fit the new limit alone are forgotten (they are produced again), and the
 * thread gets a new producer whose batches fit.
 *
 * Rewinds for refusals are bounded: after REWIND_MAX in a row without a commit (an output
 * that comes out different each time, so that its fingerprint never matches), the app
 * stops with the error, and nothing is committed past the record. Each rewind waits a
 * backoff first (doubling from REWIND_BACKOFF_MS).
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFUSED_MAX 4096
#define REWIND_MAX 6
#define REWIND_BACKOFF_MS 100

typedef struct rill__refused_s {
    struct rill__refused_s *next;
    uint64_t fp;
    bool used; /* a sink refused a record with it since */
    bool too_large;
    size_t size; /* rill__record_size() of the record */
    char topic[256];
    char reason[240];
} rill__refused_t;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fingerprint(const char *topic, const void *key, size_t key_len, const void *value,
                            size_t value_len) {
    uint64_t h = fnv(0xcbf29ce484222325ULL, topic, strlen(topic) + 1);
    h = fnv(h, &key_len, sizeof(key_len));
    h = fnv(h, key, key ? key_len : 0);
    h = fnv(h, &value_len, sizeof(value_len));
    return fnv(h, value, value ? value_len : 0);
}

static int count(const rill__thread_t *thread) {
    int n = 0;
    for (const rill__refused_t *r = thread->refused; r; r = r->next)
        n++;
    return n;
}

void rill__refused_add(rill__thread_t *thread, const rd_kafka_message_t *msg) {
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rill__refused_t *r = count(thread) < REFUSED_MAX ? calloc(1, sizeof(*r)) : NULL;
    if (!r)
        return; /* not remembered: the commit treats the failure as fatal */
    r->fp = fingerprint(topic, msg->key, msg->key_len, msg->payload, msg->len);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs))
        hdrs = NULL;
    r->size = rill__record_size(msg->key_len, msg->len, hdrs);
    r->too_large = msg->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
                   msg->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
    thread->refused_relimit |= r->too_large;
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    snprintf(r->reason, sizeof(r->reason),
             "the broker refused a record of %zu bytes for "
             "topic \"%s\": %s",
             msg->key_len + msg->len, topic, rd_kafka_err2str(msg->err));
    r->next = thread->refused;
    thread->refused = r;
    thread->delivery_refused++;
}

const char *rill__refused_find(rill__thread_t *thread, const char *topic, const void *key,
                               size_t key_len, const void *value, size_t value_len) {
    if (!thread->refused)
        return NULL;
    uint64_t fp = fingerprint(topic, key, key_len, value, value_len);
    for (rill__refused_t *r = thread->refused; r; r = r->next)
        if (r->fp == fp) {
            r->used = true;
            return r->reason;
        }
    return NULL;
}

void rill__refused_committed(rill__thread_t *thread) {
    thread->refused_rewinds = 0;
    for (rill__refused_t **rp = &thread->refused; *rp;) {
        rill__refused_t *r = *rp;
        if (r->used) {
            *rp = r->next;
            free(r);
        } else {
            rp = &r->next;
        }
    }
}

void rill__refused_free(rill__thread_t *thread) {
    while (thread->refused) {
        rill__refused_t *r = thread->refused;
        thread->refused = r->next;
        free(r);
    }
}

int rill__refused_rewind_ok(rill__thread_t *thread, bool aborted) {
    /* Under exactly-once the other failures are the refusal's companions in the aborted
     * transaction (records of the same batch, records purged by the abort): void, and
     * produced again after the rewind. At-least-once cannot take a lost output back. */
    if (!aborted && thread->delivery_errors != thread->delivery_refused) {
        rill__app_fatal(thread->app, RILL_ERR_KAFKA,
                        "thread %d: outputs not delivered, "
                        "offsets not committed: %s",
                        thread->idx, thread->delivery_error);
        return 0;
    }
    if (++thread->refused_rewinds > REWIND_MAX) {
        rill__app_fatal(thread->app, RILL_ERR_KAFKA,
                        "thread %d: outputs refused by the broker "
                        "again after %d rewinds, offsets not committed past them: %s",
                        thread->idx, REWIND_MAX, thread->delivery_error);
        return 0;
    }
    int64_t wait = (int64_t)REWIND_BACKOFF_MS << (thread->refused_rewinds - 1);
    rill__log_at(thread->app, RILL__LOG_WARN, thread->idx,
                 "%d output(s) refused by the broker (%s); processing again from the last "
                 "commit in %d ms, dead-lettering their inputs",
                 thread->delivery_refused, thread->delivery_error, (int)wait);
    struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    thread->delivery_errors = thread->delivery_refused = 0;
    return 1;
}

void rill__refused_after_rewind(rill__thread_t *thread) {
    if (!thread->refused_relimit)
        return;
    thread->refused_relimit = false;
    rill_app_t *app = thread->app;
    rill__app_refresh_sink_limits(app);
    if (rill__thread_renew_producer(thread))
        return; /* fatal, reported */
    for (rill__refused_t **rp = &thread->refused; *rp;) {
        rill__refused_t *r = *rp;
        int64_t limit = rill__thread_limit(thread, rill__app_sink_limit(app, r->topic));
        if (r->too_large && !r->used && limit && r->size <= (size_t)limit) {
            *rp = r->next;
            free(r);
        } else {
            rp = &r->next;
        }
    }
}
