/*
 * fuzz_serdes.c — libFuzzer harness of the built-in serdes (base/serdes.c, and the JSON
 * pre-scan in base/json_scan.c): the input is deserialized by each serde from an exact-size
 * heap copy (no NUL after it), and a decoded JSON value is serialized and decoded again.
 * The json-text serde (base/json_text.c) is checked against json-c: what it accepts, the
 * json serde accepts too (unless its pre-scan refuses the size first); and its member
 * readers run on every input, valid or not, so ASan sees any read past the end.
 */
#include "rill.h"
#include "fuzz_check.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

static void round_trip_json(const rill_serde_t *json, void *obj) {
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

/* json-text accepts only what json-c's strict parse accepts. */
static void json_text_against_json_c(const char *copy, size_t size) {
    const rill_serde_t *text = rill_serde_json_text(), *json = rill_serde_json();
    void *obj = NULL;
    char err[256] = "";
    const char *v;
    size_t n;
    int64_t i;

    if (text->deserialize(text, copy, size, &obj, err, sizeof(err)) == 0) {
        FUZZ_CHECK(obj == NULL);
        if (json->deserialize(json, copy, size, &obj, err, sizeof(err)) == 0)
            json->free_obj(json, obj);
        else
            FUZZ_CHECK(strstr(err, "refused before parsing") != NULL);
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }
    if (rill_json_member(copy, size, "a", &v, &n) == 1)
        FUZZ_CHECK(v >= copy && v + n <= copy + size);
    (void)rill_json_int64(copy, size, "id", &i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
    json_text_against_json_c(copy, size);
    if (rill_int64_decode(copy, size, &v) == 0) {
        unsigned char b[8];
        rill_int64_encode(v, b);
        FUZZ_CHECK(memcmp(b, copy, 8) == 0);
    }
    free(copy);
    return 0;
}
