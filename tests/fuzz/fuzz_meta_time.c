/*
 * fuzz_meta_time.c — libFuzzer harness of the commit metadata's stream time (engine/commit.c:
 * rill__meta_time, read back after a restart or a move, from whatever the group's offsets
 * hold). Checks: the result is -1 (no time), RILL__META_BAD (malformed) or a time in
 * [0, RILL__TIME_MAX]; a time is given only for "rill.t=" then 1 to 18 digits that spell it,
 * then nothing, a NUL or " rill.end"; what Rill writes for that time reads back the same.
 */
#include "engine_int.h"
#include "fuzz_check.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The digits after the mark, as Rill would print the time. */
static void check_time(const uint8_t *data, size_t size, int64_t t) {
    size_t len = strlen(RILL__TIME_MARK);
    char want[32];
    int n = snprintf(want, sizeof(want), "%" PRId64, t);
    FUZZ_CHECK(size >= len && !memcmp(data, RILL__TIME_MARK, len));
    const char *digits = (const char *)data + len;
    size_t avail = size - len, d = 0;
    while (d < avail && digits[d] >= '0' && digits[d] <= '9')
        d++;
    FUZZ_CHECK(d >= 1 && d <= 18);
    while (d > 1 && *digits == '0') /* leading zeros spell the same time */
        digits++, d--;
    FUZZ_CHECK(d == (size_t)n && !memcmp(digits, want, d));
    /* Written back as Rill writes it, it reads the same. */
    char meta[64];
    int m = snprintf(meta, sizeof(meta), "%s%" PRId64 " %s", RILL__TIME_MARK, t, RILL__END_MARK);
    FUZZ_CHECK(rill__meta_time(meta, (size_t)m) == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t t = rill__meta_time(data, size);
    FUZZ_CHECK(t == -1 || t == RILL__META_BAD || (t >= 0 && t <= RILL__TIME_MAX));
    if (t >= 0)
        check_time(data, size, t);
    (void)rill__meta_end(data, size);
    return 0;
}
