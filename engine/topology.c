/*
 * topology.c — the topology graph and its builder core: nodes, names, sources, sinks,
 * sub-topologies.
 *
 * DESIGN
 * A topology is a DAG of nodes in creation order (topo->nodes). The DSL functions in
 * operators/ add processor nodes through rill__topology_add(); this file adds sources and
 * sinks itself because they belong to the engine (consumer and producer). Builder errors are
 * sticky: the first one is kept and every later builder call returns NULL, so a user can
 * write a whole topology and check once. rill__topology_freeze() runs when an app is created:
 * it checks names and topics and groups the nodes into sub-topologies (connected
 * components), which with a partition number make a task, as in Kafka Streams.
 */
#include "topology_int.h"
#include "engine_int.h"
#include "global_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rill_topology_t *rill_topology_new(void) {
    return calloc(1, sizeof(rill_topology_t));
}

static void node_free(rill__node_t *node) {
    if (node->op && node->op->free_conf)
        node->op->free_conf(node->conf);
    for (int i = 0; i < node->source.topic_cnt; i++)
        free(node->source.topics[i]);
    free(node->source.topics);
    free(node->sink.topic);
    free(node->children);
    free(node->parents);
    free(node->stores);
    free(node->name);
    free(node);
}

void rill_topology_destroy(rill_topology_t *topo) {
    if (!topo)
        return;
    for (int i = 0; i < topo->node_cnt; i++)
        node_free(topo->nodes[i]);
    for (int i = 0; i < topo->sub_cnt; i++) {
        free(topo->subs[i].topics);
        free(topo->subs[i].sources);
    }
    free(topo->subs);
    rill__topology_free_stores(topo);
    rill__global_free_defs(topo);
    free(topo->nodes);
    free(topo->error);
    free(topo);
}

void rill__topology_fail(rill_topology_t *topo, const char *fmt, ...) {
    if (topo->error)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    topo->error = strdup(msg);
}

const char *rill_topology_error(const rill_topology_t *topo) {
    return topo ? topo->error : "topology is NULL";
}

rill__node_t *rill__topology_node(const rill_topology_t *topo, const char *name) {
    for (int i = 0; i < topo->node_cnt; i++)
        if (!strcmp(topo->nodes[i]->name, name))
            return topo->nodes[i];
    return NULL;
}

static int grow_ptrs(void ***arr, int cnt) {
    void **n = realloc(*arr, sizeof(void *) * (size_t)(cnt + 1));
    if (!n)
        return -1;
    *arr = n;
    return 0;
}

int rill__topology_connect(rill_topology_t *topo, rill__node_t *parent, rill__node_t *child) {
    if (grow_ptrs((void ***)&parent->children, parent->child_cnt) ||
        grow_ptrs((void ***)&child->parents, child->parent_cnt)) {
        rill__topology_fail(topo, "out of memory");
        return -1;
    }
    parent->children[parent->child_cnt++] = child;
    child->parents[child->parent_cnt++] = parent;
    return 0;
}

/* Creates a node named name (or KSTREAM-<KIND>-<10-digit index>) and appends it. */
static rill__node_t *node_new(rill_topology_t *topo, const char *name, const char *kind,
                              rill__node_kind_t node_kind) {
    char gen[96];
    if (!name) {
        snprintf(gen, sizeof(gen), "KSTREAM-%s-%010d", kind, topo->node_cnt);
        name = gen;
    }
    if (!*name) {
        rill__topology_fail(topo, "a node name must not be empty (pass NULL for a generated name)");
        return NULL;
    }
    if (rill__topology_node(topo, name)) {
        rill__topology_fail(topo, "node name \"%s\" is used twice: names must be unique", name);
        return NULL;
    }
    if (topo->frozen) {
        rill__topology_fail(topo, "node \"%s\" added after the topology was given to an app", name);
        return NULL;
    }
    if (topo->node_cnt == topo->node_cap) {
        int cap = topo->node_cap ? topo->node_cap * 2 : 16;
        rill__node_t **n = realloc(topo->nodes, sizeof(*n) * (size_t)cap);
        if (!n)
            return NULL;
        topo->nodes = n;
        topo->node_cap = cap;
    }
    rill__node_t *node = calloc(1, sizeof(*node));
    if (!node || !(node->name = strdup(name))) {
        free(node);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    node->id = topo->node_cnt;
    node->kind = node_kind;
    node->subtopology = -1;
    topo->nodes[topo->node_cnt++] = node;
    return node;
}

static rill_stream_t *stream_of(rill_topology_t *topo, rill__node_t *node) {
    node->stream.topo = topo;
    node->stream.node = node;
    return &node->stream;
}

rill_stream_t *rill__topology_add(rill_topology_t *topo, rill_stream_t *parent, const char *name,
                                  const rill__operator_t *op, void *conf, void *opaque) {
    if (!topo || topo->error || (parent && parent->topo != topo)) {
        if (op->free_conf)
            op->free_conf(conf);
        return NULL;
    }
    rill__node_t *node = node_new(topo, name, op->kind, RILL_NODE_PROCESSOR);
    if (!node) {
        if (op->free_conf)
            op->free_conf(conf);
        return NULL;
    }
    node->op = op;
    node->conf = conf;
    node->opaque = opaque;
    if (parent && rill__topology_connect(topo, parent->node, node))
        return NULL;
    return stream_of(topo, node);
}

static int split_topics(rill_topology_t *topo, rill__node_t *node, const char *topics) {
    char *copy = strdup(topics), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (grow_ptrs((void ***)&node->source.topics, node->source.topic_cnt) ||
            !(node->source.topics[node->source.topic_cnt] = strdup(t))) {
            free(copy);
            return -1;
        }
        node->source.topic_cnt++;
    }
    free(copy);
    if (!node->source.topic_cnt) {
        rill__topology_fail(topo, "source \"%s\" names no topic", node->name);
        return -1;
    }
    return 0;
}

rill_stream_t *rill_stream_from_topics(rill_topology_t *topo, const char *name, const char *topics,
                                       const rill_source_opts_t *opts) {
    if (!topo || topo->error)
        return NULL;
    if (!topics) {
        rill__topology_fail(topo, "a source needs a topic name");
        return NULL;
    }
    rill__node_t *node = node_new(topo, name, "SOURCE", RILL_NODE_SOURCE);
    if (!node || split_topics(topo, node, topics))
        return NULL;
    if (opts)
        node->source.opts = *opts;
    if (!node->source.opts.key_serde)
        node->source.opts.key_serde = rill_serde_bytes();
    if (!node->source.opts.value_serde)
        node->source.opts.value_serde = rill_serde_bytes();
    node->op = &rill__source_operator;
    if (!node->source.opts.repartition)
        return stream_of(topo, node);
    /* Read through a repartition topic: whatever partitioner wrote the topic, each key then
     * lands where Rill puts it (murmur2), so joins with Rill's own topics meet. */
    rill_source_opts_t back = node->source.opts;
    back.repartition = 0;
    node->source.opts.repartition = 0;
    char rname[300];
    snprintf(rname, sizeof(rname), "%s", name ? name : topics);
    return rill__stream_repartition(stream_of(topo, node), rname, &back);
}

rill_stream_t *rill_stream_from(rill_topology_t *topo, const char *name, const char *topic,
                                const rill_source_opts_t *opts) {
    if (topo && !topo->error && topic && strchr(topic, ',')) {
        rill__topology_fail(topo, "topic \"%s\" contains a comma: use rill_stream_from_topics()",
                            topic);
        return NULL;
    }
    return rill_stream_from_topics(topo, name, topic, opts);
}

rill_err_t rill_stream_to(rill_stream_t *s, const char *name, const char *topic,
                          const rill_sink_opts_t *opts) {
    if (!s || s->topo->error)
        return RILL_ERR_TOPOLOGY;
    rill_topology_t *topo = s->topo;
    if (!topic || !*topic) {
        rill__topology_fail(topo, "a sink needs a topic name");
        return RILL_ERR_TOPOLOGY;
    }
    rill__node_t *node = node_new(topo, name, "SINK", RILL_NODE_SINK);
    if (!node || !(node->sink.topic = strdup(topic)))
        return RILL_ERR_TOPOLOGY;
    if (opts)
        node->sink.opts = *opts;
    node->op = &rill__sink_operator;
    if (rill__topology_connect(topo, s->node, node))
        return RILL_ERR_TOPOLOGY;
    return RILL_OK;
}

rill__node_t *rill__topology_source_for(const rill_topology_t *topo, const char *topic) {
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        for (int t = 0; node->kind == RILL_NODE_SOURCE && t < node->source.topic_cnt; t++)
            if (!strcmp(node->source.topics[t], topic))
                return node;
    }
    return NULL;
}
