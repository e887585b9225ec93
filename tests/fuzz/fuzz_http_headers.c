/*
 * fuzz_http_headers.c — libFuzzer harness of the HTTP bridge's response callbacks
 * (faas_bridge/http_bridge.c, compiled into this harness so that its static functions can be
 * reached): header lines (Retry-After as seconds or an HTTP date, X-Amz-Function-Error,
 * Content-Type, status lines) and the body callback with its size limit. The input is cut
 * into lines at '\n'; the body callback gets the whole input in chunks against a small limit.
 */
#include "../../faas_bridge/http_bridge.c"

#include "fuzz_check.h"
#include <stdint.h>

#define FUZZ_MAX_BODY 4096

static void check_fields(const rill__http_resp_t *resp) {
    FUZZ_CHECK(resp->retry_after_ms >= -1 &&
               resp->retry_after_ms <= HTTP_MAX_RETRY_AFTER_S * 1000L);
    FUZZ_CHECK(memchr(resp->function_error, '\0', sizeof(resp->function_error)));
    FUZZ_CHECK(memchr(resp->content_type, '\0', sizeof(resp->content_type)));
}

static void feed_headers(const uint8_t *data, size_t size) {
    rill__http_job_t job = {0};
    size_t at = 0;

    job.done.resp.retry_after_ms = -1;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
        /* libcurl hands over a buffer of exactly the line: copy it so overreads show. */
        char *line = malloc(len);

        if (!line)
            return;
        memcpy(line, data + at, len);
        FUZZ_CHECK(on_header(line, 1, len, &job) == len);
        free(line);
        check_fields(&job.done.resp);
        at += len;
    }
}

static void feed_body(const uint8_t *data, size_t size) {
    rill__http_job_t job = {.max_body = FUZZ_MAX_BODY};
    size_t at = 0, step = size ? 1 + data[0] % 64 : 1;

    while (at < size) {
        size_t len = size - at < step ? size - at : step;
        char *chunk = malloc(len);

        if (!chunk)
            break;
        memcpy(chunk, data + at, len);
        size_t took = on_body(chunk, 1, len, &job);
        free(chunk);
        FUZZ_CHECK(took == len || took == 0);
        FUZZ_CHECK(job.done.resp.body_len <= FUZZ_MAX_BODY);
        if (!took) {
            FUZZ_CHECK(job.too_large || job.done.resp.body_len + len > FUZZ_MAX_BODY);
            break;
        }
        at += len;
    }
    free(job.done.resp.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    long ms;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    ms = parse_retry_after(copy, size);
    FUZZ_CHECK(ms >= -1 && ms <= HTTP_MAX_RETRY_AFTER_S * 1000L);
    free(copy);
    feed_headers(data, size);
    feed_body(data, size);
    return 0;
}
