/*
 * http_json.c — JSON pieces of the store queries' answers: bytes as hexadecimal, keys as
 * text, and values rendered by the store's value serde.
 *
 * DESIGN
 * A store's bytes are whatever its serdes wrote. A value is rendered only when the store's
 * value serde is one whose bytes have a plain JSON form (int64: a number; string: a string;
 * JSON: the text itself); every answer keeps the exact bytes too (value_hex, or the raw
 * route), so rendering never loses anything. Text is emitted only when it is valid UTF-8.
 */
#include "http_int.h"
#include "stores_int.h"

#include <stdio.h>
#include <string.h>

int rill__json_hex(rill_buf_t *b, const void *data, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = data;
    for (size_t i = 0; i < len; i++) {
        char two[2] = {hex[s[i] >> 4], hex[s[i] & 15]};
        if (rill_buf_append(b, two, 2))
            return -1;
    }
    return 0;
}

/* The length of the UTF-8 sequence at s (left bytes), or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t left) {
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!n || n > left || (n == 2 && s[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

int rill__json_text(rill_buf_t *b, const void *data, size_t len) {
    const unsigned char *s = data;
    size_t i = 0, n;
    while (i < len && (n = utf8_len(s + i, len - i)))
        i += n;
    if (i < len)
        return 1;
    int bad = rill_buf_append(b, "\"", 1);
    for (i = 0; i < len && !bad; i++) {
        char esc[8];
        if (s[i] == '"' || s[i] == '\\' || s[i] < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
            bad = rill_buf_append(b, esc, 6);
        } else {
            bad = rill_buf_append(b, s + i, 1);
        }
    }
    return bad || rill_buf_append(b, "\"", 1) ? -1 : 0;
}

int rill__json_key(rill_buf_t *b, const void *key, size_t len) {
    size_t at = b->len;
    int rc = rill_buf_append(b, "\"key\":", 6) ? -1 : rill__json_text(b, key, len);
    if (rc != 1)
        return rc;
    b->len = at; /* not text: hexadecimal instead */
    return rill_buf_append(b, "\"key_hex\":\"", 11) || rill__json_hex(b, key, len) ||
                   rill_buf_append(b, "\"", 1)
               ? -1
               : 0;
}

int rill__json_value(rill_buf_t *b, const rill__store_def_t *def, const void *v, size_t len) {
    const rill_serde_t *serde = def ? def->value_serde : NULL;
    int64_t n;
    char num[32];
    if (serde && serde == rill_serde_int64() && !rill_int64_decode(v, len, &n)) {
        snprintf(num, sizeof(num), "%lld", (long long)n);
        return rill_buf_append(b, num, strlen(num)) ? -1 : 0;
    }
    if (serde && serde == rill_serde_string())
        return rill__json_text(b, v, len);
    if (serde && serde == rill_serde_json() && len)
        return rill_buf_append(b, v, len) ? -1 : 0;
    return 1;
}
