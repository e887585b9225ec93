/*
 * metrics.c — the metrics registry of an app: counters kept per stream thread and summed
 * when read, and the collector (metrics_int.h) that renders every module's samples in
 * Prometheus' text exposition format.
 *
 * DESIGN
 * Each thread writes its own counters with relaxed atomic adds (no lock, no sharing of cache
 * lines between threads on the hot path); readers on any thread sum them. A scrape collects
 * samples from the threads, the per-thread status (lag per partition, task states, read
 * under each thread's status lock), the nodes and the global tables into a rill__mout_t,
 * which keeps each sample's rendered line with its family and writes them family by family,
 * so that a family that several nodes report (rill_late_records_total) has one # HELP and
 * one # TYPE line and its samples together, as the format requires.
 */
#include "engine_int.h"
#include "global_int.h"
#include "query_fwd_int.h"
#include "stores_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The families of the per-thread metrics. RILL_M_LAG, the thread's sum for rill_app_metric(),
 * is rendered per partition by rill__status_metrics() instead (thread_status.c). */
static const rill__mfamily_t thread_families[RILL_M__COUNT] = {
    [RILL_M_CONSUMED] = {"rill_records_consumed_total", RILL__COUNTER,
                         "Records polled from Kafka."},
    [RILL_M_PROCESSED] = {"rill_records_processed_total", RILL__COUNTER,
                          "Records that went through their source node."},
    [RILL_M_PRODUCED] = {"rill_records_produced_total", RILL__COUNTER,
                         "Records handed to the producer by sinks."},
    [RILL_M_DLQ] = {"rill_dlq_records_total", RILL__COUNTER,
                    "Records sent to the dead-letter topic."},
    [RILL_M_COMMITS] = {"rill_commits_total", RILL__COUNTER,
                        "Successful commits of offsets or transactions."},
    [RILL_M_TXN_ABORTS] = {"rill_transaction_aborts_total", RILL__COUNTER,
                           "Aborted transactions (exactly_once_v2)."},
    [RILL_M_REBALANCES] = {"rill_rebalances_total", RILL__COUNTER,
                           "Partition assignments received."},
    [RILL_M_PAUSES] = {"rill_partition_pauses_total", RILL__COUNTER,
                       "Partitions paused because their queue was full."},
    [RILL_M_TASKS] = {"rill_tasks", RILL__GAUGE, "Tasks the stream thread owns."},
    [RILL_M_BUFFERED] = {"rill_buffered_records", RILL__GAUGE,
                         "Records queued in the stream thread's tasks."},
    [RILL_M_RESTORED] = {"rill_restored_records_total", RILL__COUNTER,
                         "Changelog records restored into stores."},
    [RILL_M_RESTORE_LAG] = {"rill_restore_remaining_records", RILL__GAUGE,
                            "Changelog records still to restore."},
    [RILL_M_LAG] = {"rill_consumer_lag_records", RILL__GAUGE, NULL},
    [RILL_M_ALIGN_PAUSES] = {"rill_alignment_pauses_total", RILL__COUNTER,
                             "Partitions paused by event-time alignment."},
    [RILL_M_TRACES_STARTED] = {"rill_lineage_traces_started_total", RILL__COUNTER,
                               "Traces started for input records without a valid traceparent "
                               "(lineage.enable)."},
    [RILL_M_TRACES_MALFORMED] = {"rill_lineage_traceparent_malformed_total", RILL__COUNTER,
                                 "Input records whose traceparent was malformed (a new trace "
                                 "was started for each)."},
    [RILL_M_LINEAGE_TRUNCATED] = {"rill_lineage_truncated_total", RILL__COUNTER,
                                  "rill.lineage chains that dropped their oldest hops to stay "
                                  "within lineage.max.bytes."},
    [RILL_M_CACHE_BYTES] = {"rill_statestore_cache_bytes", RILL__GAUGE,
                            "Bytes held in the tasks' store write caches and record caches, "
                            "bounded by statestore.cache.max.bytes."},
};

/* ---- the collector ---- */

typedef struct mout_sample_s {
    int family; /* index in families */
    char *line; /* "name{labels} value\n" */
} rill__mout_sample_t;

struct rill__mout_s {
    const char *app_id;
    const rill__mfamily_t **families; /* distinct by name, in first-seen order */
    int family_cnt, family_cap;
    rill__mout_sample_t *samples;
    size_t sample_cnt, sample_cap;
    bool failed; /* out of memory */
};

rill__mout_t *rill__mout_new(const char *app_id) {
    rill__mout_t *mo = calloc(1, sizeof(*mo));
    if (mo)
        mo->app_id = app_id;
    return mo;
}

void rill__mout_free(rill__mout_t *mo) {
    if (!mo)
        return;
    for (size_t i = 0; i < mo->sample_cnt; i++)
        free(mo->samples[i].line);
    free(mo->samples);
    free(mo->families);
    free(mo);
}

/* The index of fam's name among the families, added when new; -1 without memory. */
static int mout_family(rill__mout_t *mo, const rill__mfamily_t *fam) {
    for (int i = 0; i < mo->family_cnt; i++)
        if (mo->families[i] == fam || !strcmp(mo->families[i]->name, fam->name))
            return i;
    if (mo->family_cnt == mo->family_cap) {
        int cap = mo->family_cap ? mo->family_cap * 2 : 32;
        const rill__mfamily_t **f = realloc(mo->families, (size_t)cap * sizeof(*f));
        if (!f)
            return -1;
        mo->families = f;
        mo->family_cap = cap;
    }
    mo->families[mo->family_cnt] = fam;
    return mo->family_cnt++;
}

/* Appends v to b escaped as a label value. */
static int append_escaped(rill_buf_t *b, const char *v) {
    for (const char *p = v; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (esc ? rill_buf_append(b, esc, 2) : rill_buf_append(b, p, 1))
            return -1;
    }
    return 0;
}

static int append_label(rill_buf_t *b, const char *name, const char *value, bool first) {
    return (!first && rill_buf_append(b, ",", 1)) || rill_buf_append(b, name, strlen(name)) ||
           rill_buf_append(b, "=\"", 2) || append_escaped(b, value) || rill_buf_append(b, "\"", 1);
}

/* Renders one sample line into b (NUL-terminated); value is the number as text. */
static int render_sample(const rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                         const char *const *labels, const char *value, rill_buf_t *b) {
    char num[48];
    int n = snprintf(num, sizeof(num), "} %s\n", value);
    if (rill_buf_append(b, fam->name, strlen(fam->name)) ||
        (suffix && rill_buf_append(b, suffix, strlen(suffix))) || rill_buf_append(b, "{", 1) ||
        append_label(b, "application_id", mo->app_id, true))
        return -1;
    for (int i = 0; labels && labels[i] && labels[i + 1]; i += 2)
        if (append_label(b, labels[i], labels[i + 1], false))
            return -1;
    return rill_buf_append(b, num, (size_t)n + 1);
}

static void add_sample(rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                       const char *const *labels, const char *value) {
    rill_buf_t b = {0};
    int family = mout_family(mo, fam);
    if (family < 0 || render_sample(mo, fam, suffix, labels, value, &b))
        goto fail;
    if (mo->sample_cnt == mo->sample_cap) {
        size_t cap = mo->sample_cap ? mo->sample_cap * 2 : 128;
        rill__mout_sample_t *s = realloc(mo->samples, cap * sizeof(*s));
        if (!s)
            goto fail;
        mo->samples = s;
        mo->sample_cap = cap;
    }
    mo->samples[mo->sample_cnt++] = (rill__mout_sample_t){family, b.data};
    return;
fail:
    rill_buf_free(&b);
    mo->failed = true;
}

void rill__mout_sample(rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                       const char *const *labels, int64_t value) {
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, value);
    add_sample(mo, fam, suffix, labels, num);
}

void rill__mout_sample_f(rill__mout_t *mo, const rill__mfamily_t *fam, const char *suffix,
                         const char *const *labels, double value) {
    char num[40];
    snprintf(num, sizeof(num), "%.17g", value);
    add_sample(mo, fam, suffix, labels, num);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

rill_err_t rill__mout_write(rill__mout_t *mo, rill_buf_t *out) {
    for (int f = 0; f < mo->family_cnt && !mo->failed; f++) {
        const rill__mfamily_t *fam = mo->families[f];
        char head[512];
        int n = snprintf(head, sizeof(head), "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help,
                         fam->name, type_names[fam->type]);
        if (rill_buf_append(out, head, (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1))
            mo->failed = true;
        for (size_t i = 0; i < mo->sample_cnt && !mo->failed; i++)
            if (mo->samples[i].family == f &&
                rill_buf_append(out, mo->samples[i].line, strlen(mo->samples[i].line)))
                mo->failed = true;
    }
    return mo->failed ? RILL_ERR_NOMEM : RILL_OK;
}

/* ---- the app's metrics ---- */

static int64_t thread_value(const rill__thread_t *thread, int which) {
    return __atomic_load_n(&thread->metrics.v[which], __ATOMIC_RELAXED);
}

int64_t rill_app_metric(rill_app_t *app, const char *name) {
    int64_t node_sum = 0;
    int found = 0;
    for (int i = 0; i < app->topo->node_cnt; i++) {
        const rill__node_t *node = app->topo->nodes[i];
        int64_t v = node->op->metric ? node->op->metric(node, name) : -1;
        if (v >= 0) {
            node_sum += v;
            found = 1;
        }
    }
    if (found)
        return node_sum;
    int64_t global = rill__global_metric(app, name);
    if (global >= 0)
        return global;
    int64_t query = rill__query_metric(app, name);
    if (query >= 0)
        return query;
    int64_t stores = rill__stores_metric(app, name);
    if (stores >= 0)
        return stores;
    for (int m = 0; m < RILL_M__COUNT; m++) {
        if (strcmp(thread_families[m].name, name))
            continue;
        int64_t sum = 0;
        for (int i = 0; i < app->thread_cnt; i++)
            sum += thread_value(&app->threads[i], m);
        return sum;
    }
    return 0;
}

/* Adds every sample of the app to mo. */
static void collect(rill_app_t *app, rill__mout_t *mo) {
    for (int m = 0; m < RILL_M__COUNT; m++) {
        if (m == RILL_M_LAG)
            continue;
        for (int i = 0; i < app->thread_cnt; i++) {
            char idx[16];
            snprintf(idx, sizeof(idx), "%d", i);
            rill__mout_sample(mo, &thread_families[m], NULL, (const char *[]){"thread", idx, NULL},
                              thread_value(&app->threads[i], m));
        }
    }
    rill__status_metrics(app, mo);
    for (int i = 0; i < app->topo->node_cnt; i++) {
        const rill__node_t *node = app->topo->nodes[i];
        if (node->op->metrics)
            node->op->metrics(node, mo);
    }
    rill__global_metrics(app, mo);
    rill__query_metrics(app, mo);
    rill__stores_metrics(app, mo);
}

rill_err_t rill_app_metrics(rill_app_t *app, rill_buf_t *out) {
    rill__mout_t *mo = rill__mout_new(app->set.application_id);
    if (!mo)
        return RILL_ERR_NOMEM;
    collect(app, mo);
    rill_err_t err = rill__mout_write(mo, out);
    rill__mout_free(mo);
    return err;
}
