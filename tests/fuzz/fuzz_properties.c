/*
 * fuzz_properties.c — libFuzzer harness of the properties file reader (engine/conf.c:
 * rill_conf_load_file and the validation of every name=value it applies), then of the
 * settings parsed from the result. The input is the file, kept in a memfd and read through
 * /proc/self/fd. Inputs naming librdkafka plugins are skipped: those load shared libraries.
 */
#define _GNU_SOURCE
#include "conf_int.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rill__settings_t set;
    rill_conf_t *conf;
    char path[64], err[512] = "";
    int fd;

    if (memmem(data, size, "plugin", 6))
        return 0;
    fd = memfd_create("props", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    conf = rill_conf_new();
    if (rill_conf_load_file(conf, path, err, sizeof(err)) != RILL_OK)
        FUZZ_CHECK(err[0] != '\0');
    err[0] = '\0';
    if (rill__conf_settings(conf, &set, err, sizeof(err)) != RILL_OK)
        FUZZ_CHECK(err[0] != '\0');
    rill_conf_destroy(conf);
    close(fd);
    return 0;
}
