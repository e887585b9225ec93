/*
 * query_fwd_int.h — store queries one instance sends to another (query_forward.c), for the
 * HTTP endpoint's proxying and whole-store answers (http_queries.c).
 *
 * DESIGN
 * The asking side is plain HTTP to the same routes a client uses, with scope=local (answer
 * from your own partitions only, and list them in X-Rill-Partitions) or hop=1 (a proxied
 * request: do not forward it again), so an instance needs no second protocol and a human can
 * replay any internal request with curl.
 */
#ifndef RILL_QUERY_FWD_INT_H
#define RILL_QUERY_FWD_INT_H

#include "metrics_int.h"
#include "query_int.h"

/* One answer of another instance. */
typedef struct rill__fwd_reply_s {
    long status;
    rill_buf_t body;
    char content_type[128];
    char partition[16];    /* X-Rill-Partition */
    char timestamp[32];    /* X-Rill-Timestamp */
    char partitions[8192]; /* X-Rill-Partitions: the partitions a scope=local answer searched */
    char truncated[8];     /* X-Rill-Truncated */
    char error[256];       /* when the request failed */
} rill__fwd_reply_t;

/* GET url (http:// only) with a deadline (monotonic ms): 0 with r->status and the rest, or -1
 * with r->error. Free r with rill__forward_reply_free() either way. Counts in the metrics. */
int rill__forward_get(rill_app_t *app, const char *url, int64_t deadline_ms, rill__fwd_reply_t *r);
void rill__forward_reply_free(rill__fwd_reply_t *r);

/* Called with each answer (200 or 404) of a gather and the instance that gave it; return
 * non-zero to end the gather (found). */
typedef int (*rill__gather_fn)(const rill__fwd_reply_t *r, const char *server, void *opaque);

/* Asks, for every partition of def not yet covered (covered[cnt]), its owner for
 * "http://<owner><path>" (path has scope=local) until every partition is covered, within
 * query.forward.timeout.ms. FOUND when fn ended it, NOT_FOUND when every partition answered,
 * UNAVAILABLE (why names the instance or partition) when one could not be asked or did not
 * answer. */
rill_query_status_t rill__gather(rill_app_t *app, const rill__store_def_t *def, uint8_t *covered,
                                 int32_t cnt, const char *path, rill__gather_fn fn, void *opaque,
                                 char *why, size_t why_size);

/* The app's query counters: rendered into a collector, or one by name (-1: not one). */
void rill__query_metrics(rill_app_t *app, rill__mout_t *mo);
int64_t rill__query_metric(rill_app_t *app, const char *name);

#endif
