/*
 * restore_kafka.c — the restore source of a stream thread in an app: a librdkafka consumer
 * that reads changelog partitions by assignment (no group).
 *
 * DESIGN
 * The consumer is made from the host's restore configuration (which sets how it fetches and
 * bounds its queue) on the thread's first restore and destroyed with the thread's state
 * object; one thread uses it. Messages come in runs of one partition, so the position of a
 * message is found by trying the previous one first, then the topic handles already seen,
 * then the topic names. The messages of a take are kept until the next take (the records
 * point into them). A changelog just created may have no leader yet: its watermarks are
 * asked again for a while.
 */
#include "store_inst_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rill__kafka_src_s {
    rill__changelog_src_t src; /* first: the interface */
    rill__state_t *state;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rill__changelog_pos_t *pos;    /* the assigned positions (topics borrowed from the caller) */
    const rd_kafka_topic_t **rkts; /* per position: the consumer's handle, once seen */
    int cnt;
    int hint;                  /* the position of the previous message */
    rd_kafka_message_t **held; /* the messages of the last take */
    int held_cnt, held_cap;
} rill__kafka_src_t;

static int kafka_watermarks(rill__changelog_src_t *src, const char *topic, int32_t partition,
                            int64_t *lo, int64_t *hi, char *errstr, size_t errstr_size) {
    rill__kafka_src_t *k = (rill__kafka_src_t *)src;
    const rill__state_host_t *host = &k->state->host;
    rd_kafka_resp_err_t err;
    for (int attempt = 0;; attempt++) {
        err = rd_kafka_query_watermark_offsets(k->rk, topic, partition, lo, hi, 10000);
        if (!err || attempt == 20 || host->stopping(host->opaque) ||
            (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
             err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
             err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
             err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART))
            break;
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (err)
        snprintf(errstr, errstr_size, "changelog %s[%d]: %s", topic, (int)partition,
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

static void release_held(rill__kafka_src_t *k) {
    for (int i = 0; i < k->held_cnt; i++)
        rd_kafka_message_destroy(k->held[i]);
    k->held_cnt = 0;
}

static int kafka_assign(rill__changelog_src_t *src, const rill__changelog_pos_t *pos, int n,
                        char *errstr, size_t errstr_size) {
    rill__kafka_src_t *k = (rill__kafka_src_t *)src;
    release_held(k);
    free(k->pos);
    free(k->rkts);
    k->pos = NULL;
    k->rkts = NULL;
    k->cnt = k->hint = 0;
    if (n <= 0) {
        rd_kafka_assign(k->rk, NULL);
        return 0;
    }
    k->pos = malloc(sizeof(*k->pos) * (size_t)n);
    k->rkts = calloc((size_t)n, sizeof(*k->rkts));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    if (!k->pos || !k->rkts || !l) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        snprintf(errstr, errstr_size, "restore: out of memory");
        return -1;
    }
    memcpy(k->pos, pos, sizeof(*pos) * (size_t)n);
    k->cnt = n;
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, pos[i].topic, pos[i].partition)->offset =
            pos[i].offset;
    rd_kafka_resp_err_t err = rd_kafka_assign(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        snprintf(errstr, errstr_size, "restore: assigning the changelogs: %s",
                 rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* The position msg belongs to, or -1. */
static int pos_of(rill__kafka_src_t *k, const rd_kafka_message_t *msg) {
    if (k->hint < k->cnt && k->rkts[k->hint] == msg->rkt &&
        k->pos[k->hint].partition == msg->partition)
        return k->hint;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < k->cnt; i++) {
            if (k->pos[i].partition != msg->partition ||
                (pass == 0 ? k->rkts[i] != msg->rkt
                           : k->rkts[i] || strcmp(k->pos[i].topic, rd_kafka_topic_name(msg->rkt))))
                continue;
            k->rkts[i] = msg->rkt;
            k->hint = i;
            return i;
        }
    }
    return -1;
}

static int kafka_take(rill__changelog_src_t *src, rill__changelog_rec_t *recs, int max,
                      int timeout_ms, char *errstr, size_t errstr_size) {
    rill__kafka_src_t *k = (rill__kafka_src_t *)src;
    release_held(k);
    if (max > k->held_cap) {
        rd_kafka_message_t **h = realloc(k->held, sizeof(*h) * (size_t)max);
        if (!h) {
            snprintf(errstr, errstr_size, "restore: out of memory");
            return -1;
        }
        k->held = h;
        k->held_cap = max;
    }
    /* What is there, at once; only an empty queue is waited on (for one message): a batch
     * call with a timeout waits for a full batch. */
    ssize_t got = rd_kafka_consume_batch_queue(k->q, 0, k->held, (size_t)max);
    if (got == 0 && timeout_ms > 0)
        got = rd_kafka_consume_batch_queue(k->q, timeout_ms, k->held, 1);
    k->held_cnt = got > 0 ? (int)got : 0;
    int n = 0;
    for (int i = 0; i < k->held_cnt; i++) {
        const rd_kafka_message_t *msg = k->held[i];
        if (msg->err && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            snprintf(errstr, errstr_size, "restore of %s[%d]: %s",
                     msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?", (int)msg->partition,
                     rd_kafka_message_errstr(msg));
            return -1;
        }
        recs[n++] = (rill__changelog_rec_t){
            .pos = pos_of(k, msg),
            .eof = msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF,
            .offset = msg->offset,
            .key = msg->key,
            .key_len = msg->key_len,
            .value = msg->payload,
            .value_len = msg->len,
        };
    }
    return n;
}

static void kafka_destroy(rill__changelog_src_t *src) {
    rill__kafka_src_t *k = (rill__kafka_src_t *)src;
    release_held(k);
    free(k->held);
    free(k->pos);
    free(k->rkts);
    if (k->q)
        rd_kafka_queue_destroy(k->q);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    free(k);
}

rill__changelog_src_t *rill__changelog_src_kafka(rill__state_t *state, char *errstr,
                                                 size_t errstr_size) {
    rill__kafka_src_t *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(errstr, errstr_size, "restore: out of memory");
        return NULL;
    }
    k->src = (rill__changelog_src_t){.watermarks = kafka_watermarks,
                                     .assign = kafka_assign,
                                     .take = kafka_take,
                                     .destroy = kafka_destroy};
    k->state = state;
    rd_kafka_conf_t *kc = state->host.restore_conf(state->host.opaque, errstr, errstr_size);
    if (!kc) {
        free(k);
        return NULL;
    }
    if (!(k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kc);
        free(k);
        return NULL;
    }
    if (!(k->q = rd_kafka_queue_get_consumer(k->rk))) {
        snprintf(errstr, errstr_size, "restore: no consumer queue");
        kafka_destroy(&k->src);
        return NULL;
    }
    return &k->src;
}
