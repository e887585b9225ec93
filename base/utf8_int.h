/*
 * utf8_int.h — the one strict UTF-8 check of Rill (the string and JSON serdes, the json-text
 * validator): shortest forms only, no surrogates, nothing above U+10FFFF.
 */
#ifndef RILL_UTF8_INT_H
#define RILL_UTF8_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns the length of the valid UTF-8 sequence starting at p (at most n bytes available),
 * or 0 when it is invalid: a stray continuation byte, an overlong form, a surrogate
 * (U+D800..U+DFFF), a code point above U+10FFFF, or a sequence cut short.
 */
static inline size_t rill__utf8_seq_len(const unsigned char *p, size_t n) {
    size_t len, i;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, cp = p[0] & 0x07;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1 (always overlong) or 0xf5.. */
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0; /* overlong */
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

#endif
