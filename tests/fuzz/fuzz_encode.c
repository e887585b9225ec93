/*
 * fuzz_encode.c — libFuzzer harness of request encoding (faas_bridge/wire_*.c): a batch of
 * 1 to 4 records drawn from the input (topic, key and value each possibly absent, headers)
 * is encoded in both formats. Every body that is JSON by contract (a CloudEvents batch, a
 * Lambda event) must be valid JSON, and every header line must be free of CR and LF.
 */
#include "bridge_int.h"
#include "fuzz_check.h"
#include "wire_int.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct in_s {
    const uint8_t *p;
    size_t left;
} in_t;

static unsigned take_byte(in_t *in) {
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

/* Takes up to max bytes (as many as the next byte says); NULL when absent is chosen. */
static const void *take_bytes(in_t *in, size_t max, size_t *lenp) {
    unsigned want = take_byte(in);
    const void *p = in->p;

    *lenp = 0;
    if (want == 0xFF)
        return NULL;
    *lenp = want % (max + 1);
    if (*lenp > in->left)
        *lenp = in->left;
    in->p += *lenp;
    in->left -= *lenp;
    return p;
}

static void check_header_lines(const rill_buf_t *hdrs) {
    for (size_t i = 0; i < hdrs->len; i++)
        FUZZ_CHECK(hdrs->data[i] != '\r' && hdrs->data[i] != '\n');
}

/* Encodes recs in target's format; json: whether the body is JSON by contract. */
static void encode_and_check(const rill__faas_target_t *target, const rill__faas_rec_t *recs,
                             size_t n, bool json) {
    rill_buf_t body = {0}, hdrs = {0};

    if (rill__faas_encode(target, recs, n, &body, &hdrs) == 0) {
        check_header_lines(&hdrs);
        if (json)
            FUZZ_CHECK(rill__wire_json_valid(body.data, body.len));
    }
    rill_buf_free(&body);
    rill_buf_free(&hdrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const rill__faas_target_t ce = {.format = RILL_FAAS_CLOUDEVENTS,
                                           .function = "fn",
                                           .source = "/rill/fuzz",
                                           .event_type = "dev.rill.record"};
    static const rill__faas_target_t lambda = {
        .format = RILL_FAAS_LAMBDA, .function = "fn", .bootstrap = "127.0.0.1:9092"};
    in_t in = {data, size};
    rill__faas_rec_t recs[4];
    rd_kafka_headers_t *hdrs[4] = {0};
    char topics[4][16];
    size_t n = 1 + take_byte(&in) % 4;

    memset(recs, 0, sizeof(recs));
    for (size_t i = 0; i < n; i++) {
        size_t len, hcnt;
        const void *t = take_bytes(&in, sizeof(topics[i]) - 1, &len);

        memcpy(topics[i], t ? t : "t", t ? len : 1);
        topics[i][t ? len : 1] = '\0';
        recs[i].topic = topics[i];
        recs[i].partition = (int32_t)take_byte(&in);
        recs[i].offset = (int64_t)take_byte(&in) << (take_byte(&in) % 56);
        recs[i].timestamp = (int64_t)take_byte(&in) * 1000003 - 5;
        recs[i].key = take_bytes(&in, 64, &recs[i].key_len);
        recs[i].value = take_bytes(&in, 255, &recs[i].value_len);
        hcnt = take_byte(&in) % 4;
        if (hcnt)
            hdrs[i] = rd_kafka_headers_new(hcnt);
        for (size_t h = 0; h < hcnt; h++) {
            size_t nlen, vlen;
            const void *name = take_bytes(&in, 16, &nlen);
            const void *value = take_bytes(&in, 32, &vlen);
            rd_kafka_header_add(hdrs[i], name ? name : "h", name ? (ssize_t)nlen : 1, value,
                                value ? (ssize_t)vlen : 0);
        }
        recs[i].headers = (const rill_headers_t *)hdrs[i];
        snprintf(recs[i].id, sizeof(recs[i].id), "%s-%d-%lld", recs[i].topic,
                 (int)recs[i].partition, (long long)recs[i].offset);
    }
    encode_and_check(&ce, recs, n, n > 1); /* binary mode: the value as it is */
    encode_and_check(&lambda, recs, n, true);
    for (size_t i = 0; i < n; i++)
        if (hdrs[i])
            rd_kafka_headers_destroy(hdrs[i]);
    return 0;
}
