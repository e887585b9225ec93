/*
 * query_any.c — a key (or a key's windows) looked up in every local partition of a store,
 * for stores whose input Rill did not partition itself.
 *
 * DESIGN
 * A store fed straight from a topic other clients write holds each key in the partition
 * their partitioner chose (librdkafka's default is consistent_random, CRC32 of the key), not
 * necessarily the one murmur2 gives. Telling "not found" after looking only there would be a
 * wrong answer. So, for such a store (rill__query_placed() false), a miss in the murmur2
 * partition goes on to every other partition: here each local one is asked of its thread,
 * the murmur2 one first (the common case costs one request), and the caller learns which
 * partitions were searched, so that the HTTP endpoint can ask the other instances for the
 * rest and answer 404 only when every partition said "not here". A partition that cannot
 * answer makes the answer "unavailable", never "not found".
 */
#include "query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Asks partition p for key into out; marks it covered when it answered. */
static rill_query_status_t ask_one(rill_app_t *app, rill__query_t *q, int32_t p, uint8_t *covered,
                                   rill_query_info_t *info, int64_t deadline) {
    q->partition = p;
    int64_t left = deadline - rill__now_ms();
    rill_query_status_t st = rill__query_ask(app, q, left > 1 ? (int)left : 1);
    if (st == RILL_QUERY_FOUND || st == RILL_QUERY_NOT_FOUND)
        covered[p] = 1;
    if (st == RILL_QUERY_FOUND && info) {
        info->partition = p;
        info->timestamp = q->ts;
    }
    if (st == RILL_QUERY_UNAVAILABLE || st == RILL_QUERY_ERROR)
        rill__query_fail(info, st, "partition %d: %s", (int)p, q->error);
    return st;
}

rill_query_status_t rill__any_local(rill_app_t *app, const char *store, rill__query_t *q,
                                    uint8_t **covered, int32_t *cnt, rill_query_info_t *info,
                                    int timeout_ms) {
    *covered = NULL;
    rill_query_status_t st = rill__query_check(
        app, store, q->kind == RILL__Q_FETCH ? RILL_STORE_WINDOW : RILL_STORE_KV, q, info);
    if (st != RILL_QUERY_FOUND)
        return st;
    *cnt = rill__query_partitions(app, q->def);
    if (!(*covered = calloc((size_t)*cnt, 1)))
        return rill__query_fail(info, RILL_QUERY_ERROR, "out of memory");
    int64_t deadline =
        rill__now_ms() + (timeout_ms > 0 ? timeout_ms : RILL__QUERY_DEFAULT_TIMEOUT_MS);
    int32_t first =
        rd_kafka_msg_partitioner_murmur2(NULL, q->key ? q->key : "", q->key_len, *cnt, NULL, NULL);
    st = ask_one(app, q, first, *covered, info, deadline);
    for (int32_t p = 0; p < *cnt && (st == RILL_QUERY_NOT_FOUND || st == RILL_QUERY_NOT_LOCAL); p++)
        if (p != first)
            st = ask_one(app, q, p, *covered, info, deadline);
    if (st == RILL_QUERY_NOT_LOCAL)
        st = RILL_QUERY_NOT_FOUND; /* the last partition asked is elsewhere */
    return st;
}
