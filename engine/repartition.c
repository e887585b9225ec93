/*
 * repartition.c — repartition topics: a stream whose key changed is written to an internal
 * topic "<application.id>-<name>-repartition" and read back, so that records with equal keys
 * meet in one task (what group_by with a new key and joins need).
 *
 * DESIGN
 * At build time the application id is not known, so the sink and the source carry the bare
 * name and an "internal" flag; rill_app_new() prefixes it before the topology is frozen. The
 * sink and the source are not connected in the graph, so the part after the topic is a
 * sub-topology of its own with its own tasks, as in Kafka Streams. The app creates the topic
 * at start with as many partitions as the largest source topic of the writing
 * sub-topology.
 */
#include "admin_int.h"
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rill_stream_t *rill_stream_repartition(rill_stream_t *s, const char *name) {
    return rill__stream_repartition(s, name, NULL);
}

rill_stream_t *rill_stream_repartition_with(rill_stream_t *s, const char *name,
                                            const rill_source_opts_t *opts) {
    static const rill_source_opts_t bytes = {0};
    return rill__stream_repartition(s, name, opts ? opts : &bytes);
}

rill_stream_t *rill__stream_repartition(rill_stream_t *s, const char *name,
                                        const rill_source_opts_t *source_opts) {
    if (!s || s->topo->error)
        return NULL;
    rill_topology_t *topo = s->topo;
    char topic[256], node_name[300];
    if (name)
        snprintf(topic, sizeof(topic), "%s-repartition", name);
    else
        snprintf(topic, sizeof(topic), "KSTREAM-REPARTITION-%010d-repartition", topo->node_cnt);
    snprintf(node_name, sizeof(node_name), "%s-sink", topic);
    if (rill_stream_to(s, node_name, topic, NULL))
        return NULL;
    topo->nodes[topo->node_cnt - 1]->sink.internal = true;
    snprintf(node_name, sizeof(node_name), "%s-source", topic);
    rill_source_opts_t opts = {0};
    if (source_opts) {
        opts = *source_opts;
    } else {
        /* Keep the upstream value serde so decoded values survive the round trip; the key
         * changed (that is why records are repartitioned), so it is read as bytes. */
        for (rill__node_t *n = s->node; n; n = n->parent_cnt ? n->parents[0] : NULL)
            if (n->kind == RILL_NODE_SOURCE) {
                opts.value_serde = n->source.opts.value_serde;
                break;
            }
        opts.key_serde = rill_serde_bytes();
    }
    /* No extractor: a repartitioned record keeps its timestamp. */
    opts.timestamp_extractor = NULL;
    rill_stream_t *out = rill_stream_from(topo, node_name, topic, &opts);
    if (out)
        out->node->source.internal = true;
    return out;
}

static char *prefixed(const char *app_id, const char *topic) {
    size_t len = strlen(app_id) + strlen(topic) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s-%s", app_id, topic);
    return p;
}

int rill__topology_name_internal(rill_topology_t *topo, const char *app_id) {
    if (topo->frozen)
        return 0;
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *n = topo->nodes[i];
        char **slot = NULL;
        if (n->kind == RILL_NODE_SINK && n->sink.internal)
            slot = &n->sink.topic;
        else if (n->kind == RILL_NODE_SOURCE && n->source.internal)
            slot = &n->source.topics[0];
        if (!slot)
            continue;
        char *p = prefixed(app_id, *slot);
        if (!p)
            return -1;
        free(*slot);
        *slot = p;
    }
    return 0;
}

rill_err_t rill__app_create_repartition_topics(rill_app_t *app, char *errstr, size_t errstr_size) {
    /* Sub-topologies are numbered in build order, so a writer comes before its readers:
     * creating in node order lets a repartition feeding another one get its count. */
    for (int i = 0; i < app->topo->node_cnt; i++) {
        const rill__node_t *n = app->topo->nodes[i];
        if (n->kind != RILL_NODE_SINK || !n->sink.internal)
            continue;
        int partitions = rill__app_sub_partitions(app, n->subtopology, errstr, errstr_size);
        if (partitions <= 0 && app->broker)
            partitions = app->set.embedded_partitions;
        if (partitions <= 0)
            return RILL_ERR_TOPOLOGY;
        /* As Kafka Streams does: no time-based retention, which judges by record timestamps
         * and would delete records with old event times (a replay) before they are read. */
        static const char *const configs[] = {"retention.ms", "-1", NULL};
        rill_err_t err = rill__app_create_topic_config(app, n->sink.topic, partitions, configs,
                                                       errstr, errstr_size);
        if (err)
            return err;
    }
    return RILL_OK;
}
