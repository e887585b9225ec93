/*
 * clock_int.h — the monotonic clock every deadline in Rill is measured on.
 */
#ifndef RILL_CLOCK_INT_H
#define RILL_CLOCK_INT_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (not wall-clock time: never jumps). Thread: any. */
int64_t rill__now_ms(void);

#endif
