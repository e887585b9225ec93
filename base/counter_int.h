/*
 * counter_int.h — relaxed atomic counters: written by one thread (or a few), read by any,
 * e.g. by the metrics renderer. Relaxed because a counter orders nothing: readers only need
 * a value that is not torn, not one consistent with other memory.
 *
 * Every module's metrics use these: the engine's per-thread metrics (rill__metric_add in
 * engine/engine_int.h), the operators' per-node counters, the FaaS stages' counters.
 */
#ifndef RILL_COUNTER_INT_H
#define RILL_COUNTER_INT_H

#include <stdint.h>

/* Adds n to *c. */
static inline void rill__counter_add(int64_t *c, int64_t n) {
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Sets *c to n (a gauge). */
static inline void rill__counter_set(int64_t *c, int64_t n) {
    __atomic_store_n(c, n, __ATOMIC_RELAXED);
}

/* Reads *c. */
static inline int64_t rill__counter_get(const int64_t *c) {
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
