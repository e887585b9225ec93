/*
 * fuzz_check.h — what the libFuzzer harnesses share: FUZZ_CHECK, an assertion that is never
 * compiled out (release builds define NDEBUG) and aborts, so libFuzzer saves the input.
 */
#ifndef RILL_FUZZ_CHECK_H
#define RILL_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
