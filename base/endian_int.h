/*
 * endian_int.h — big-endian integers in byte buffers, the one copy every module uses (store
 * keys, progress markers, completion indexes, the int64 serde, the global tables' offsets).
 *
 * Big-endian so that byte order is numeric order for unsigned values: RocksDB keys built
 * from them sort by number. No alignment is assumed; p must hold 4 or 8 bytes.
 */
#ifndef RILL_ENDIAN_INT_H
#define RILL_ENDIAN_INT_H

#include <stdint.h>

/* Writes v big-endian into p[0..3]. */
static inline void rill__be32_put(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Reads 4 big-endian bytes at p. */
static inline uint32_t rill__be32_get(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Writes v big-endian into p[0..7]. */
static inline void rill__be64_put(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Reads 8 big-endian bytes at p. */
static inline uint64_t rill__be64_get(const unsigned char *p) {
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif
