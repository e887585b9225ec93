/*
 * buf.c — rill_buf_t, the growable byte buffer that serdes and describe() write into.
 *
 * DESIGN: a buffer is {data, len, cap} owned by whoever holds the struct; a zeroed struct is
 * an empty buffer. Capacity grows geometrically (doubling, at least 64 bytes) so a sequence
 * of appends costs amortised O(1) per byte, and an append that fits in the spare capacity
 * never allocates. rill_buf_reset() keeps the memory for reuse (per-record encoding reuses
 * one buffer); rill_buf_free() releases it. data is always NUL-terminated after a successful
 * append (one spare byte is kept), which lets text writers hand buf.data to printf-style
 * consumers; len never counts that NUL.
 */
#include "rill.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RILL_BUF_MIN_CAP 64

/* Grows buf so it can hold need bytes plus the trailing NUL. Returns 0 or -1. */
static int buf_reserve(rill_buf_t *buf, size_t need) {
    size_t cap;
    char *data;

    if (need >= SIZE_MAX - 1)
        return -1;
    if (need + 1 <= buf->cap)
        return 0;
    cap = buf->cap ? buf->cap : RILL_BUF_MIN_CAP;
    while (cap < need + 1) {
        if (cap > SIZE_MAX / 2) {
            cap = need + 1;
            break;
        }
        cap *= 2;
    }
    data = realloc(buf->data, cap);
    if (!data)
        return -1;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

/*
 * Appends len bytes of data to buf, growing it when needed. data may be NULL when len is 0.
 * Returns 0, or -1 when memory ran out (buf is then unchanged).
 * Thread: the buffer's owner.
 */
int rill_buf_append(rill_buf_t *buf, const void *data, size_t len) {
    if (len > SIZE_MAX - buf->len || buf_reserve(buf, buf->len + len) != 0)
        return -1;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

/* Empties buf and keeps its memory for reuse. */
void rill_buf_reset(rill_buf_t *buf) {
    buf->len = 0;
    if (buf->data)
        buf->data[0] = '\0';
}

/* Releases buf's memory and leaves it empty (reusable). NULL-safe. */
void rill_buf_free(rill_buf_t *buf) {
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}
