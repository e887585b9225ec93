/*
 * limits.c — the record size limits of an app: the topics' max.message.bytes read at start,
 * the dead-letter topic made large enough for what the app reads, and the size a record
 * takes on the broker, so that a record too large for its topic is known before it is sent.
 *
 * DESIGN
 * A record the broker refuses as too large fails in the producer's delivery report, long
 * after the node that made it has moved on; inside a transaction it also forces an abort.
 * So the limits are read once at start (DescribeConfigs on the admin client: the broker
 * applies a topic's max.message.bytes to each record batch) and a sink compares every
 * record with min(topic limit, producer message.max.bytes) before producing it: a record
 * over it fails at its node, synchronously, and is dead-lettered like any failed record.
 * The estimate is an upper bound of a one-record batch (its framing, varints at their
 * widest, the key, value and headers), uncompressed: a record within a few dozen bytes of
 * the limit, or one that compression alone would have made fit, is refused too.
 *
 * The dead-letter topic is created with max.message.bytes = the largest of the source
 * topics' plus room for the dead-letter headers, and the producer's message.max.bytes is
 * raised to match (unless the user set it), so an input record Rill could read fits there
 * whole. A dead letter still over the dead-letter topic's limit (a topic that existed with
 * a smaller one, or an output larger than its input) is cut to fit (dlq.c).
 *
 * The broker applies the limit to a whole batch, so the producer's batch.size is lowered
 * (unless the user set it) to the smallest limit of the topics it writes: many small
 * records batched together are never refused for a topic with a small limit.
 *
 * The embedded broker has no DescribeConfigs and no size limit: every limit is unknown (0)
 * there and nothing is checked; a cluster that leaves the first request unanswered (the mock
 * cluster run as a process) is not asked again.
 */
#include "admin_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESCRIBE_TIMEOUT_MS 3000
#define BATCH_OVERHEAD 61  /* a record batch's header (magic 2) */
#define RECORD_OVERHEAD 24 /* a record's length, attributes, deltas, key and value lengths */
#define HEADER_OVERHEAD 10 /* a header's name and value lengths (varints) */
#define DLQ_HEADROOM 65536 /* room for the dead-letter headers over the largest input */
#define PRODUCER_DEFAULT_MAX 1000000 /* librdkafka's message.max.bytes and batch.size */
#define BATCH_MARGIN 128             /* batch.size under a topic's limit */

/* The value of config name in a DescribeConfigs result, or -1. */
static int64_t config_value(rd_kafka_event_t *ev, const char *name) {
    const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
    size_t rcnt = 0, ccnt = 0;
    const rd_kafka_ConfigResource_t **rs =
        res ? rd_kafka_DescribeConfigs_result_resources(res, &rcnt) : NULL;
    if (!rcnt || rd_kafka_ConfigResource_error(rs[0]))
        return -1;
    const rd_kafka_ConfigEntry_t **cs = rd_kafka_ConfigResource_configs(rs[0], &ccnt);
    for (size_t i = 0; i < ccnt; i++) {
        const char *v = rd_kafka_ConfigEntry_value(cs[i]);
        if (!strcmp(rd_kafka_ConfigEntry_name(cs[i]), name) && v)
            return strtoll(v, NULL, 10);
    }
    return -1;
}

int64_t rill__app_topic_max_bytes(rill_app_t *app, const char *topic) {
    if (app->broker || !app->admin || __atomic_load_n(&app->describe_off, __ATOMIC_RELAXED))
        return 0;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(app->admin);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(app->admin, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, DESCRIBE_TIMEOUT_MS, NULL, 0);
    pthread_mutex_lock(&app->admin_lock);
    rd_kafka_DescribeConfigs(app->admin, &cr, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, DESCRIBE_TIMEOUT_MS + 5000);
    pthread_mutex_unlock(&app->admin_lock);
    int64_t v = ev && !rd_kafka_event_error(ev) ? config_value(ev, "max.message.bytes") : -1;
    /* A cluster that does not answer DescribeConfigs at all (librdkafka's mock cluster run
     * as a separate process, rill-broker) is not asked again for every topic. */
    if (!ev || rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT)
        __atomic_store_n(&app->describe_off, true, __ATOMIC_RELAXED);
    if (v <= 0)
        rill__log_at(app, RILL__LOG_WARN, -1,
                     "max.message.bytes of topic \"%s\" unknown (%s): records for it "
                     "are not checked for size before they are sent",
                     topic, ev ? rd_kafka_event_error_string(ev) : "no answer");
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return v > 0 ? v : 0;
}

rill_err_t rill__app_create_dlq(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill_topology_t *topo = app->topo;
    int64_t read_max = 0;
    for (int s = 0; !app->broker && s < topo->sub_cnt; s++)
        for (int t = 0; t < topo->subs[s].topic_cnt; t++) {
            int64_t v = rill__app_topic_max_bytes(app, topo->subs[s].topics[t]);
            if (v > read_max)
                read_max = v;
        }
    char max[32];
    snprintf(max, sizeof(max), "%" PRId64, read_max + DLQ_HEADROOM);
    const char *const configs[] = {"max.message.bytes", max, NULL};
    rill_err_t err = rill__app_create_topic_config(app, app->set.dlq_topic, app->set.dlq_partitions,
                                                   read_max ? configs : NULL, errstr, errstr_size);
    if (err)
        return err;
    app->read_max_bytes = read_max;
    app->dlq_max_bytes = rill__app_topic_max_bytes(app, app->set.dlq_topic);
    if (app->dlq_max_bytes && app->dlq_max_bytes < read_max + DLQ_HEADROOM)
        rill__log(app, -1,
                  "the dead-letter topic \"%s\" takes records of up to %" PRId64
                  " bytes, less than the %" PRId64 " its source topics allow: larger dead "
                  "letters are cut to fit (header rill.value.truncated)",
                  app->set.dlq_topic, app->dlq_max_bytes, read_max);
    return RILL_OK;
}

static void read_sink_limits(rill_app_t *app) {
    rill_topology_t *topo = app->topo;
    int64_t min = app->dlq_max_bytes;
    for (int i = 0; !app->broker && i < topo->node_cnt; i++) {
        const rill__node_t *n = topo->nodes[i];
        if (n->kind != RILL_NODE_SINK)
            continue;
        int64_t v = rill__app_topic_max_bytes(app, n->sink.topic);
        __atomic_store_n(&app->sink_max_bytes[i], v, __ATOMIC_RELAXED);
        if (v && (!min || v < min))
            min = v;
    }
    __atomic_store_n(&app->min_max_bytes, min, __ATOMIC_RELAXED);
}

rill_err_t rill__app_sink_limits(rill_app_t *app, char *errstr, size_t errstr_size) {
    app->sink_max_bytes = calloc((size_t)app->topo->node_cnt + 1, sizeof(int64_t));
    if (!app->sink_max_bytes) {
        snprintf(errstr, errstr_size, "out of memory");
        return RILL_ERR_NOMEM;
    }
    read_sink_limits(app);
    return RILL_OK;
}

void rill__app_refresh_sink_limits(rill_app_t *app) {
    if (app->sink_max_bytes)
        read_sink_limits(app);
}

int64_t rill__app_sink_limit(const rill_app_t *app, const char *topic) {
    const rill_topology_t *topo = app->topo;
    for (int i = 0; app->sink_max_bytes && i < topo->node_cnt; i++)
        if (topo->nodes[i]->kind == RILL_NODE_SINK && !strcmp(topo->nodes[i]->sink.topic, topic))
            return __atomic_load_n(&app->sink_max_bytes[i], __ATOMIC_RELAXED);
    return 0;
}

static bool user_set(const rill_app_t *app, const char *name) {
    char prefixed[128];
    snprintf(prefixed, sizeof(prefixed), "producer.%s", name);
    return rill_conf_get(app->conf, name) || rill_conf_get(app->conf, prefixed);
}

void rill__producer_max_bytes(rill_app_t *app, rd_kafka_conf_t *kc) {
    char v[32];
    int64_t min = __atomic_load_n(&app->min_max_bytes, __ATOMIC_RELAXED);
    if (min > 4 * BATCH_MARGIN && min < PRODUCER_DEFAULT_MAX + BATCH_MARGIN &&
        !user_set(app, "batch.size")) {
        snprintf(v, sizeof(v), "%" PRId64, min - BATCH_MARGIN);
        rd_kafka_conf_set(kc, "batch.size", v, NULL, 0);
    }
    if (!app->dlq_max_bytes || user_set(app, "message.max.bytes"))
        return;
    int64_t max =
        app->dlq_max_bytes > PRODUCER_DEFAULT_MAX ? app->dlq_max_bytes : PRODUCER_DEFAULT_MAX;
    snprintf(v, sizeof(v), "%" PRId64, max);
    rd_kafka_conf_set(kc, "message.max.bytes", v, NULL, 0);
}

size_t rill__headers_size(const rd_kafka_headers_t *hdrs) {
    const char *name;
    const void *value;
    size_t size, total = 0;
    for (size_t i = 0; hdrs && !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); i++)
        total += strlen(name) + size + HEADER_OVERHEAD;
    return total;
}

size_t rill__record_size(size_t key_len, size_t value_len, const rd_kafka_headers_t *hdrs) {
    return BATCH_OVERHEAD + RECORD_OVERHEAD + key_len + value_len + rill__headers_size(hdrs);
}

/* The limit for a topic whose max.message.bytes is topic_max (0: unknown): the smaller of
 * it and the producer's message.max.bytes (which librdkafka applies to key, value and
 * headers without framing). */
int64_t rill__thread_limit(const rill__thread_t *thread, int64_t topic_max) {
    int64_t prod = thread->producer_max_bytes > 0
                       ? thread->producer_max_bytes + BATCH_OVERHEAD + RECORD_OVERHEAD
                       : 0;
    if (!topic_max)
        return prod;
    return prod && prod < topic_max ? prod : topic_max;
}
