/*
 * topology_freeze.c — validates a finished topology and splits it into sub-topologies.
 *
 * DESIGN
 * A sub-topology is a connected component of the node graph, numbered in the order of its
 * first node, so the numbering is deterministic for a given builder program (task ids and,
 * later, store and internal topic names depend on it). A topic may be read by one source
 * only. Freezing happens once, when an app takes the topology; later builder calls fail.
 */
#include "engine_int.h"
#include "stores_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int find_root(int *parent, int i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void unite(int *parent, int a, int b) {
    a = find_root(parent, a);
    b = find_root(parent, b);
    if (a != b)
        parent[a > b ? a : b] = a < b ? a : b;
}

static rill_err_t check_sources(const rill_topology_t *topo, char *errstr, size_t errstr_size) {
    int sources = 0;
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *node = topo->nodes[i];
        if (node->kind != RILL_NODE_SOURCE)
            continue;
        sources++;
        for (int t = 0; t < node->source.topic_cnt; t++) {
            const rill__node_t *other = rill__topology_source_for(topo, node->source.topics[t]);
            if (other != node) {
                snprintf(errstr, errstr_size,
                         "topic \"%s\" is read by two sources (\"%s\" and \"%s\"): read it "
                         "once and branch the stream",
                         node->source.topics[t], other->name, node->name);
                return RILL_ERR_TOPOLOGY;
            }
        }
    }
    if (!sources) {
        snprintf(errstr, errstr_size, "the topology has no source: add rill_stream_from()");
        return RILL_ERR_TOPOLOGY;
    }
    return RILL_OK;
}

static int add_sub_source(rill__subtopology_t *sub, rill__node_t *node) {
    rill__node_t **s = realloc(sub->sources, sizeof(*s) * (size_t)(sub->source_cnt + 1));
    char **t = realloc(sub->topics, sizeof(*t) * (size_t)(sub->topic_cnt + node->source.topic_cnt));
    if (s)
        sub->sources = s;
    if (t)
        sub->topics = t;
    if (!s || !t)
        return -1;
    sub->sources[sub->source_cnt++] = node;
    for (int i = 0; i < node->source.topic_cnt; i++)
        sub->topics[sub->topic_cnt++] = node->source.topics[i];
    return 0;
}

rill_err_t rill__topology_freeze(rill_topology_t *topo, char *errstr, size_t errstr_size) {
    if (topo->error) {
        snprintf(errstr, errstr_size, "topology: %s", topo->error);
        return RILL_ERR_TOPOLOGY;
    }
    if (topo->frozen)
        return RILL_OK;
    rill_err_t err = check_sources(topo, errstr, errstr_size);
    if (err)
        return err;
    int *parent = malloc(sizeof(int) * (size_t)topo->node_cnt);
    int *sub_of_root = malloc(sizeof(int) * (size_t)topo->node_cnt);
    if (!parent || !sub_of_root) {
        free(parent);
        free(sub_of_root);
        return RILL_ERR_NOMEM;
    }
    for (int i = 0; i < topo->node_cnt; i++) {
        parent[i] = i;
        sub_of_root[i] = -1;
    }
    for (int i = 0; i < topo->node_cnt; i++)
        for (int c = 0; c < topo->nodes[i]->child_cnt; c++)
            unite(parent, i, topo->nodes[i]->children[c]->id);
    for (int i = 0; i < topo->node_cnt; i++) {
        int root = find_root(parent, i);
        if (sub_of_root[root] < 0) {
            rill__subtopology_t *subs =
                realloc(topo->subs, sizeof(*subs) * (size_t)(topo->sub_cnt + 1));
            if (!subs)
                break;
            topo->subs = subs;
            memset(&subs[topo->sub_cnt], 0, sizeof(*subs));
            subs[topo->sub_cnt].id = topo->sub_cnt;
            sub_of_root[root] = topo->sub_cnt++;
        }
        rill__node_t *node = topo->nodes[i];
        node->subtopology = sub_of_root[root];
        if (node->op && node->op->copartitioned)
            topo->subs[node->subtopology].copartitioned = true;
        if (node->kind == RILL_NODE_SOURCE)
            add_sub_source(&topo->subs[node->subtopology], node);
    }
    free(parent);
    free(sub_of_root);
    for (int s = 0; s < topo->sub_cnt; s++) {
        if (!topo->subs[s].source_cnt) {
            snprintf(errstr, errstr_size, "sub-topology %d has no source node", s);
            return RILL_ERR_TOPOLOGY;
        }
    }
    for (int i = 0; i < topo->node_cnt; i++) {
        rill__node_t *node = topo->nodes[i];
        for (int k = 0; k < node->store_cnt; k++) {
            rill__store_def_t *def = node->stores[k];
            if (def->sub >= 0 && def->sub != node->subtopology) {
                snprintf(errstr, errstr_size,
                         "store \"%s\" is used by two sub-topologies: a "
                         "store belongs to the tasks of one",
                         def->name);
                return RILL_ERR_TOPOLOGY;
            }
            def->sub = node->subtopology;
        }
    }
    topo->frozen = true;
    return RILL_OK;
}
