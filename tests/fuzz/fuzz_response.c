/*
 * fuzz_response.c — libFuzzer harness of the FaaS response decoder (faas_bridge/
 * wire_response.c and the pre-scan it runs, base/json_scan.c). The first byte picks the
 * wire format and the batch size (1 to 3 records, ids "t-0-1".."t-0-3"); the rest is the
 * 2xx body. Every decoded output is read back, so a pointer outside the arena is caught.
 */
#include "bridge_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const rill__faas_target_t targets[2] = {
    {.format = RILL_FAAS_CLOUDEVENTS,
     .function = "fn",
     .source = "/rill/fuzz",
     .event_type = "dev.rill.record"},
    {.format = RILL_FAAS_LAMBDA, .function = "fn", .bootstrap = "127.0.0.1:9092"},
};

/* Reads every byte the response hands out; returns a checksum so nothing is optimised out. */
static unsigned touch(const rill__faas_response_t *resp) {
    unsigned sum = 0;

    for (size_t i = 0; i < resp->n; i++) {
        const rill__faas_result_t *res = &resp->results[i];
        if (res->failed && res->error)
            sum += (unsigned)strlen(res->error);
        for (size_t j = 0; j < res->out_cnt; j++) {
            const rill__faas_out_t *out = &res->outs[j];
            for (size_t k = 0; out->key && k < out->key_len; k++)
                sum += (unsigned char)out->key[k];
            for (size_t k = 0; out->value && k < out->value_len; k++)
                sum += (unsigned char)out->value[k];
        }
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rill__faas_rec_t recs[3] = {{.topic = "t", .offset = 1, .id = "t-0-1"},
                                {.topic = "t", .offset = 2, .id = "t-0-2"},
                                {.topic = "t", .offset = 3, .id = "t-0-3"}};
    rill__faas_response_t resp = {0};
    volatile unsigned sink;
    char err[256];
    char *body;

    if (size < 1)
        return 0;
    /* The bridge hands the decoder a NUL-terminated heap copy: do the same. */
    body = malloc(size);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    if (rill__faas_decode(&targets[(data[0] >> 2) & 1], recs, 1 + data[0] % 3, body, size - 1,
                          &resp, err, sizeof(err)) == 0)
        sink = touch(&resp);
    else
        sink = (unsigned)strlen(err);
    (void)sink;
    rill__faas_response_free(&resp);
    free(body);
    return 0;
}
