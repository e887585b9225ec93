/*
 * faas_conf.c — a FaaS stage's configuration (defaults, and the target URL and credentials
 * that the format's table entry sets up), its process-wide circuit breaker and its metrics.
 *
 * DESIGN
 * The configuration is the node's conf, shared by every task running the node, so the
 * breaker and the metrics are per function per process. The breaker is closed until
 * breaker_failures invocations in a row fail; it then stays open for breaker_open_ms, during
 * which nothing is sent (records wait; their attempts are not spent), then lets one trial
 * call through: success closes it, failure opens it again. Metrics are relaxed atomics.
 * The format's entry (wire_<name>.c, route) builds the URL and any signing from the options;
 * a format value with no entry is refused, naming the value. The url is checked here, so
 * rill_stream_faas() fails at once on a bad one: http:// or https:// only, plain http only
 * to a loopback host unless allow_insecure_http (Lambda's route signs only an https://
 * endpoint).
 */
#include "faas_stage_int.h"
#include "wire_int.h" /* the format table: each format sets up its own route */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A full batch ready for every call in flight while those calls run (so a finished call's
 * slot is refilled at once), even when, in partition order, every call but the oldest has
 * finished and waits for it (those results still count): 3 x C x B, never fewer than 10000
 * records. */
static int default_read_ahead(const rill_faas_opts_t *o) {
    int64_t n = 3 * (int64_t)o->max_in_flight * o->batch_max_records;
    if (n < 10000)
        n = 10000;
    return n > INT32_MAX / 2 ? INT32_MAX / 2 : (int)n;
}

static void apply_defaults(rill_faas_opts_t *o) {
#define DEF(field, value)                                                                          \
    if (o->field <= 0)                                                                             \
    o->field = (value)
    DEF(batch_max_records, 100);
    DEF(batch_max_bytes, 1024 * 1024);
    DEF(linger_ms, 5);
    DEF(max_in_flight, 8);
    DEF(timeout_ms, 30000);
    DEF(backoff_initial_ms, 100);
    DEF(backoff_max_ms, 10000);
    DEF(max_buffered_bytes, 64 * 1024 * 1024);
    DEF(breaker_failures, 20);
    DEF(breaker_open_ms, 5000);
    DEF(max_response_bytes, (int)RILL__HTTP_DEFAULT_MAX_BODY);
    DEF(max_retry_after_ms, 60000);
#undef DEF
    if (o->max_buffered_records <= 0)
        o->max_buffered_records = default_read_ahead(o);
    if (o->max_record_age_ms == 0)
        o->max_record_age_ms = 15 * 60 * 1000;
    else if (o->max_record_age_ms < 0)
        o->max_record_age_ms = 0; /* no limit */
    if (o->max_retries < 0)
        o->max_retries = 0;
    else if (o->max_retries == 0)
        o->max_retries = 5;
}

/* max_buffered_records, and no more slots than max_buffered_bytes holds (the ring is
 * allocated whole); at least one batch. */
size_t rill__faas_read_ahead_limit(const rill_faas_opts_t *o) {
    size_t n = (size_t)o->max_buffered_records;
    size_t by_bytes = (size_t)o->max_buffered_bytes / sizeof(rill__faas_slot_t);
    if (by_bytes < n)
        n = by_bytes;
    return n < (size_t)o->batch_max_records ? (size_t)o->batch_max_records : n;
}

rill__faas_conf_t *rill__faas_conf_new(const char *node_name, const rill_faas_opts_t *opts,
                                       char *errstr, size_t errstr_size) {
    rill__faas_conf_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *opts;
    apply_defaults(&c->o);
    c->function = strdup(opts->function ? opts->function : node_name);
    char source[512];
    snprintf(source, sizeof(source), "/rill/%s", node_name);
    c->source = strdup(source);
    pthread_mutex_init(&c->lock, NULL);
    const rill__wire_format_t *wire = rill__wire_format_of(c->o.format);
    rill__wire_route_t route = {0};
    int rc = 0;
    if (!c->function || !c->source) {
        snprintf(errstr, errstr_size, "FaaS stage \"%s\": out of memory", node_name);
        rc = -1;
    } else if (!wire) {
        snprintf(errstr, errstr_size,
                 "FaaS stage \"%s\": unknown format %d (not a "
                 "rill_faas_format_t value)",
                 node_name, (int)c->o.format);
        rc = -1;
    } else {
        rc = wire->route(node_name, c->function, &c->o, &route, errstr, errstr_size);
    }
    c->url = route.url;
    c->sigv4 = route.sigv4;
    c->userpwd = route.userpwd;
    c->session_token = route.session_token;
    if (!rc && rill__url_check(c->url, c->o.allow_insecure_http, errstr, errstr_size))
        rc = -1;
    if (!rc && (c->o.http_version < 0 || c->o.http_version > 2)) {
        snprintf(errstr, errstr_size,
                 "FaaS stage \"%s\": http_version %d: 1 (HTTP/1.1, the default) or 2 (HTTP/2 "
                 "over http:// with prior knowledge)",
                 node_name, c->o.http_version);
        rc = -1;
    }
    c->o.url = c->url;
    c->o.function = c->function;
    c->o.qualifier = NULL;
    c->target = (rill__faas_target_t){.format = c->o.format,
                                      .function = c->function,
                                      .source = c->source,
                                      .event_type = "dev.rill.record"};
    if (rc) {
        rill__faas_conf_free(c);
        return NULL;
    }
    return c;
}

void rill__faas_conf_free(void *conf) {
    rill__faas_conf_t *c = conf;
    if (!c)
        return;
    free(c->url);
    free(c->function);
    free(c->source);
    free(c->sigv4);
    free(c->userpwd);
    free(c->session_token);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

bool rill__faas_breaker_allows(rill__faas_conf_t *c, int64_t now, bool *probe) {
    *probe = false;
    pthread_mutex_lock(&c->lock);
    bool ok = true;
    if (c->open_until) {
        if (now < c->open_until || c->probing) {
            ok = false;
        } else {
            c->probing = true;
            *probe = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void rill__faas_breaker_record(rill__faas_conf_t *c, bool ok, bool probe, int64_t now) {
    pthread_mutex_lock(&c->lock);
    if (probe)
        c->probing = false;
    if (ok) {
        c->consecutive_failures = 0;
        c->open_until = 0;
    } else if (++c->consecutive_failures >= c->o.breaker_failures || probe) {
        if (!c->open_until || probe)
            rill__counter_add(&c->m_breaker_opens, 1);
        c->open_until = now + c->o.breaker_open_ms;
    }
    pthread_mutex_unlock(&c->lock);
}

static const struct {
    rill__mfamily_t family;
    size_t off;
} metric_fields[] = {
    {{"rill_faas_invocations_total", RILL__COUNTER, "Function invocations sent."},
     offsetof(rill__faas_conf_t, m_invocations)},
    {{"rill_faas_records_total", RILL__COUNTER, "Records sent to the function."},
     offsetof(rill__faas_conf_t, m_records)},
    {{"rill_faas_retries_total", RILL__COUNTER, "Invocations retried."},
     offsetof(rill__faas_conf_t, m_retries)},
    {{"rill_faas_failures_total", RILL__COUNTER, "Invocations that failed."},
     offsetof(rill__faas_conf_t, m_failures)},
    {{"rill_faas_dlq_records_total", RILL__COUNTER,
      "Records sent to the dead-letter topic after the function failed for them."},
     offsetof(rill__faas_conf_t, m_dlq)},
    {{"rill_faas_batch_splits_total", RILL__COUNTER, "Failed batches split in two."},
     offsetof(rill__faas_conf_t, m_splits)},
    {{"rill_faas_breaker_opens_total", RILL__COUNTER, "Times the circuit breaker opened."},
     offsetof(rill__faas_conf_t, m_breaker_opens)},
    {{"rill_faas_in_flight", RILL__GAUGE, "Invocations in flight."},
     offsetof(rill__faas_conf_t, m_in_flight)},
    {{"rill_faas_billed_ms_total", RILL__COUNTER,
      "Invocation times (send to response), each rounded up to a whole millisecond."},
     offsetof(rill__faas_conf_t, m_billed_ms)},
    {{"rill_faas_reported_billed_ms_total", RILL__COUNTER,
      "Durations functions reported (Server-Timing dur), each rounded up to a whole ms."},
     offsetof(rill__faas_conf_t, m_reported_billed_ms)},
    {{"rill_faas_reported_invocations_total", RILL__COUNTER,
      "Invocations whose answer reported the function's duration (Server-Timing)."},
     offsetof(rill__faas_conf_t, m_reported)},
    {{"rill_faas_connections_opened_total", RILL__COUNTER,
      "HTTP connections the function's calls opened (the rest reused one)."},
     offsetof(rill__faas_conf_t, m_connects)},
    {{"rill_faas_concurrency_limit", RILL__GAUGE,
      "Calls the stage's tasks may have in flight now (adaptive_concurrency moves it)."},
     offsetof(rill__faas_conf_t, m_call_limit)},
    {{"rill_faas_buffered_records", RILL__GAUGE,
      "Records the stage holds: in calls, ready to send, waiting for their turn."},
     offsetof(rill__faas_conf_t, m_buffered)},
    {{"rill_faas_buffered_bytes", RILL__GAUGE,
      "Bytes of the records the stage holds, with their bookkeeping (max_buffered_bytes)."},
     offsetof(rill__faas_conf_t, m_buffered_bytes)},
    {{"rill_faas_buffered_limit_records", RILL__GAUGE,
      "Records the stage may hold before its task stops feeding it (read-ahead)."},
     offsetof(rill__faas_conf_t, m_buffered_limit)},
};
#define METRIC_FIELD_CNT (sizeof(metric_fields) / sizeof(metric_fields[0]))

/* The latency histogram, in seconds as Prometheus names want (its buckets are kept in ms:
 * bucket b counts the calls of at most 2^b ms, faas_stage.c). */
static const rill__mfamily_t latency_family = {
    "rill_faas_latency_seconds", RILL__HISTOGRAM,
    "Time from sending an invocation to its response, in seconds."};

static int64_t field(const rill__faas_conf_t *c, size_t off) {
    return __atomic_load_n((const int64_t *)((const char *)c + off), __ATOMIC_RELAXED);
}

/* The latency histogram's count (the sum of its buckets) and sum. */
static int64_t latency_count(const rill__faas_conf_t *c) {
    int64_t n = 0;
    for (int b = 0; b < FAAS_LAT_BUCKETS; b++)
        n += __atomic_load_n(&c->m_latency[b], __ATOMIC_RELAXED);
    return n;
}

int64_t rill__faas_billed_ms(double ms) {
    int64_t whole = (int64_t)ms, billed = whole + ((double)whole < ms);
    return billed < 1 ? 1 : billed;
}

/* Billing counts each invocation's time rounded up to a whole millisecond: the bridge's
 * send-to-response time (an upper bound: queueing and the network are in it) and, when the
 * answer carried one, the function's own (what rill-auction's cost estimate prefers). */
void rill__faas_record_billed(rill__faas_conf_t *c, const rill__http_resp_t *r) {
    rill__counter_add(&c->m_billed_ms, rill__faas_billed_ms(r->total_ms));
    if (r->fn_ms >= 0) {
        rill__counter_add(&c->m_reported_billed_ms, rill__faas_billed_ms(r->fn_ms));
        rill__counter_add(&c->m_reported, 1);
    }
}

int64_t rill__faas_metric(const rill__node_t *node, const char *name) {
    const rill__faas_conf_t *c = node->conf;
    for (size_t i = 0; i < METRIC_FIELD_CNT; i++)
        if (!strcmp(metric_fields[i].family.name, name))
            return field(c, metric_fields[i].off);
    if (!strcmp(name, "rill_faas_latency_ms_sum"))
        return field(c, offsetof(rill__faas_conf_t, m_latency_sum_ms));
    if (!strcmp(name, "rill_faas_latency_seconds_count"))
        return latency_count(c);
    return -1;
}

void rill__faas_metrics(const rill__node_t *node, rill__mout_t *mo) {
    const rill__faas_conf_t *c = node->conf;
    const char *labels[] = {"function", c->function, NULL, NULL, NULL};
    for (size_t i = 0; i < METRIC_FIELD_CNT; i++)
        rill__mout_sample(mo, &metric_fields[i].family, NULL, labels,
                          field(c, metric_fields[i].off));
    /* Cumulative buckets; the count is the last (+Inf) one, read in the same pass. */
    int64_t cum = 0;
    for (int b = 0; b < FAAS_LAT_BUCKETS; b++) {
        cum += __atomic_load_n(&c->m_latency[b], __ATOMIC_RELAXED);
        char le[32];
        if (b == FAAS_LAT_BUCKETS - 1)
            snprintf(le, sizeof(le), "+Inf");
        else
            snprintf(le, sizeof(le), "%.3f", (double)(1LL << b) / 1000);
        labels[2] = "le";
        labels[3] = le;
        rill__mout_sample(mo, &latency_family, "_bucket", labels, cum);
    }
    labels[2] = NULL;
    rill__mout_sample_f(mo, &latency_family, "_sum", labels,
                        (double)field(c, offsetof(rill__faas_conf_t, m_latency_sum_ms)) / 1000);
    rill__mout_sample(mo, &latency_family, "_count", labels, cum);
}
