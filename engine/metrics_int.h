/*
 * metrics_int.h — the sample collector behind rill_app_metrics(): every module adds its
 * samples to one, naming each sample's family (name, type, help), and the collector writes
 * the Prometheus text exposition (format 0.0.4) with one # HELP and # TYPE line per family
 * and every sample of a family together, whichever node or thread added it.
 *
 * Labels are given as a NULL-terminated list of name, value pairs; the collector puts
 * application_id first and escapes the values (backslash, double quote, newline). A
 * histogram family gets its samples with the suffixes "_bucket" (with an "le" label,
 * cumulative, the last one "+Inf"), "_sum" and "_count"; other families with suffix NULL.
 */
#ifndef RILL_METRICS_INT_H
#define RILL_METRICS_INT_H

#include "rill.h"

#include <stdint.h>

typedef enum rill__mtype_e { RILL__COUNTER, RILL__GAUGE, RILL__HISTOGRAM } rill__mtype_t;

/* A metric family. Counters' names end in _total. Usually a static constant. */
typedef struct rill__mfamily_s {
    const char *name;
    rill__mtype_t type;
    const char *help; /* one line, no backslash */
} rill__mfamily_t;

typedef struct rill__mout_s rill__mout_t;

/* A collector for app_id (borrowed: it must outlive the collector). NULL: no memory. */
rill__mout_t *rill__mout_new(const char *app_id);
/* Adds one sample of fam (borrowed until rill__mout_write()). */
void rill__mout_sample(rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                       const char *const *labels, int64_t value);
/* The same with a value that is not a whole number (seconds). */
void rill__mout_sample_f(rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                         const char *const *labels, double value);
/* Appends the text of every sample, grouped by family, to out. RILL_ERR_NOMEM when memory
 * ran out here or while samples were added. */
rill_err_t rill__mout_write(rill__mout_t *mo, rill_buf_t *out);
void rill__mout_free(rill__mout_t *mo);

#endif
