/*
 * fuzz_cli.c — libFuzzer harness of the shared command line (engine/cli.c: rill_cli_parse
 * and the properties it sets). The input is cut at NUL bytes into up to 64 arguments; the
 * first byte chooses allow_extra. There is no topology, so --describe fails instead of
 * writing files. Inputs with --config (it would read any file, /dev/zero included) or naming
 * librdkafka plugins (they load shared libraries) are skipped.
 */
#define _GNU_SOURCE
#include "rill.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <string.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *argv[MAX_ARGS + 2], *text, err[512] = "";
    int argc = 0, rc;
    rill_conf_t *conf;

    if (size < 1 || memmem(data, size, "--config", 8) || memmem(data, size, "plugin", 6))
        return 0;
    text = malloc(size); /* data[1..size) plus a final NUL */
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    argv[argc++] = "rill-fuzz";
    for (size_t at = 0; at < size && argc < MAX_ARGS; at += strlen(text + at) + 1)
        argv[argc++] = text + at;
    argv[argc] = NULL;
    conf = rill_conf_new();
    rc = rill_cli_parse(&argc, argv, conf, NULL, data[0] & 1, err, sizeof(err));
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    FUZZ_CHECK(rc != -1 || err[0] != '\0');
    FUZZ_CHECK(argc >= 1 && argc <= MAX_ARGS && argv[argc] == NULL);
    rill_conf_destroy(conf);
    free(text);
    return 0;
}
