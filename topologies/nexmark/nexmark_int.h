/*
 * nexmark_int.h — helpers shared by the generator's own files (not part of its API).
 */
#ifndef NEXMARK_INT_H
#define NEXMARK_INT_H

#include <stdint.h>
#include <string.h>

/* Writes v in decimal, two digits per step, without a NUL; returns the end. */
static inline char *nexmark__put_u64(char *p, uint64_t v) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[20];
    char *end = tmp + sizeof(tmp), *q = end;

    while (v >= 100) {
        q -= 2;
        memcpy(q, pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, pairs + v * 2, 2);
    } else {
        *--q = (char)('0' + v);
    }
    while (q < end)
        *p++ = *q++;
    return p;
}

#endif /* NEXMARK_INT_H */
