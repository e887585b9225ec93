/*
 * metrics.c — the metrics registry of an app: counters kept per stream thread and summed
 * when read, rendered in Prometheus' text format.
 *
 * DESIGN
 * Each thread writes its own counters with relaxed atomic adds (no lock, no sharing of cache
 * lines between threads on the hot path); readers on any thread sum them.
 */
#include "engine_int.h"
#include "global_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *const rill__metric_names[RILL_M__COUNT] = {
    [RILL_M_CONSUMED] = "rill_records_consumed_total",
    [RILL_M_PROCESSED] = "rill_records_processed_total",
    [RILL_M_PRODUCED] = "rill_records_produced_total",
    [RILL_M_DLQ] = "rill_dlq_records_total",
    [RILL_M_COMMITS] = "rill_commits_total",
    [RILL_M_TXN_ABORTS] = "rill_transaction_aborts_total",
    [RILL_M_REBALANCES] = "rill_rebalances_total",
    [RILL_M_PAUSES] = "rill_partition_pauses_total",
    [RILL_M_TASKS] = "rill_tasks",
    [RILL_M_BUFFERED] = "rill_buffered_records",
    [RILL_M_RESTORED] = "rill_restored_records_total",
    [RILL_M_RESTORE_LAG] = "rill_restore_remaining_records",
    [RILL_M_CHANGELOG] = "rill_changelog_records_total",
    [RILL_M_LAG] = "rill_consumer_lag_records",
    [RILL_M_ALIGN_PAUSES] = "rill_alignment_pauses_total",
};

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
    for (int m = 0; m < RILL_M__COUNT; m++) {
        if (strcmp(rill__metric_names[m], name))
            continue;
        int64_t sum = 0;
        for (int i = 0; i < app->thread_cnt; i++)
            sum += thread_value(&app->threads[i], m);
        return sum;
    }
    return 0;
}

rill_err_t rill_app_metrics(rill_app_t *app, rill_buf_t *out) {
    char line[256];
    for (int m = 0; m < RILL_M__COUNT; m++) {
        for (int i = 0; i < app->thread_cnt; i++) {
            int n = snprintf(line, sizeof(line), "%s{application_id=\"%s\",thread=\"%d\"} %" PRId64
                             "\n", rill__metric_names[m], app->set.application_id, i,
                             thread_value(&app->threads[i], m));
            if (rill_buf_append(out, line, (size_t)n))
                return RILL_ERR_NOMEM;
        }
    }
    for (int i = 0; i < app->topo->node_cnt; i++) {
        const rill__node_t *node = app->topo->nodes[i];
        if (node->op->metrics)
            node->op->metrics(node, app->set.application_id, out);
    }
    rill__global_metrics(app, out);
    return RILL_OK;
}
