/*
 * fuzz_serdes.c — libFuzzer harness of the built-in serdes (base/serdes.c, and the JSON
 * pre-scan in base/json_scan.c): the input is deserialized by each serde from an exact-size
 * heap copy (no NUL after it), and a decoded JSON value is serialized and decoded again.
 */
#include "rill.h"
#include "fuzz_check.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

static void round_trip_json(const rill_serde_t *json, void *obj)
{
    rill_buf_t out = {0};
    void *again = NULL;
    char err[256];

    if (json->serialize(json, obj, &out) == 0 && out.data) {
        /* Read back: json-c may write what its strict mode refuses (NaN) and the compact
         * text may weigh more per byte, so only a failure without a reason is wrong. */
        if (json->deserialize(json, out.data, out.len, &again, err, sizeof(err)) == 0)
            json->free_obj(json, again);
        else
            FUZZ_CHECK(err[0] != '\0' && again == NULL);
    }
    rill_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const rill_serde_t *serdes[] = {rill_serde_bytes(), rill_serde_string(), rill_serde_int64(),
                                    rill_serde_json()};
    char *copy = malloc(size ? size : 1);
    int64_t v;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    for (size_t i = 0; i < sizeof(serdes) / sizeof(serdes[0]); i++) {
        void *obj = NULL;
        char err[256] = "";

        if (serdes[i]->deserialize(serdes[i], copy, size, &obj, err, sizeof(err)) == 0) {
            if (serdes[i] == rill_serde_json() && obj)
                round_trip_json(serdes[i], obj);
            serdes[i]->free_obj(serdes[i], obj);
        } else {
            FUZZ_CHECK(err[0] != '\0');
            FUZZ_CHECK(obj == NULL);
        }
    }
    if (rill_int64_decode(copy, size, &v) == 0) {
        unsigned char b[8];
        rill_int64_encode(v, b);
        FUZZ_CHECK(memcmp(b, copy, 8) == 0);
    }
    free(copy);
    return 0;
}
