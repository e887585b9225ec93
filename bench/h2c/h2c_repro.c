/*
 * h2c_repro.c — N concurrent POSTs to one http:// URL over HTTP/2 with prior knowledge,
 * through one libcurl multi handle (CURLPIPE_MULTIPLEX, at most one connection): shows the
 * libcurl 7.88 failure that http_bridge.c works around, and the way around it.
 *
 *   h2c_repro URL N pk|opener [BODY_BYTES]
 *
 * pk: every transfer asks for prior knowledge (CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE). With
 * libcurl 7.88 every transfer that reuses the connection sets up a second HTTP/2 layer on it
 * and fails with "Error in the HTTP2 framing layer" (CURLE_HTTP2, 16); only the first works.
 * opener: the first transfer asks for prior knowledge on a fresh connection, the others for
 * plain HTTP/2 (CURL_HTTP_VERSION_2_0) with PIPEWAIT: they wait for and share its connection.
 * Prints one line: the libcurl version, the mode, the transfers that worked and failed, the
 * connections opened. Exits 0 when every transfer worked.
 */
#include <curl/curl.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t discard(char *data, size_t size, size_t nmemb, void *userdata) {
    (void)data;
    (void)userdata;
    return size * nmemb;
}

/* One transfer: POST body to url, HTTP version by mode and rank. */
static CURL *transfer_new(const char *url, const char *body, size_t len, bool opener_mode,
                          int rank) {
    CURL *e = curl_easy_init();
    bool opens = !opener_mode || rank == 0;

    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     (long)(opens ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2_0));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (opener_mode && rank == 0)
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    return e;
}

/* Runs the multi handle until every transfer is done (at most 60 s of polling). */
static void run(CURLM *multi) {
    int running = 1;

    for (int round = 0; running && round < 60000; round++) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 1, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[3], "pk") && strcmp(argv[3], "opener"))) {
        fprintf(stderr, "usage: %s URL N pk|opener [BODY_BYTES]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]), ok = 0, failed = 0;
    bool opener_mode = !strcmp(argv[3], "opener");
    size_t len = argc > 4 ? (size_t)atol(argv[4]) : 100;
    char *body = malloc(len + 1);
    CURL **easy = calloc(n > 0 ? (size_t)n : 1, sizeof(*easy));
    long connects = 0, nc;
    CURLMsg *msg;
    CURLM *multi;

    if (n < 1 || !body || !easy || curl_global_init(CURL_GLOBAL_DEFAULT) ||
        !(multi = curl_multi_init()))
        return 2;
    memset(body, 'x', len);
    body[len] = '\0';
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
    for (int i = 0; i < n; i++) {
        if (!(easy[i] = transfer_new(argv[1], body, len, opener_mode, i)))
            return 2;
        curl_multi_add_handle(multi, easy[i]);
    }
    run(multi);
    for (int left; (msg = curl_multi_info_read(multi, &left));) {
        long status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &nc);
        connects += nc;
        if (msg->data.result == CURLE_OK && status == 200) {
            ok++;
        } else {
            failed++;
            fprintf(stderr, "h2c_repro: curl %d (%s), status %ld\n", (int)msg->data.result,
                    curl_easy_strerror(msg->data.result), status);
        }
    }
    printf("libcurl %s, %s: %d concurrent POSTs of %zu bytes: %d ok, %d failed, %ld "
           "connection(s)\n",
           curl_version_info(CURLVERSION_NOW)->version, argv[3], n, len, ok, failed, connects);
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    free(easy);
    free(body);
    return failed ? 1 : 0;
}
