/*
 * describe.c — the topology printout: sub-topologies, nodes, topics and stores, as text (in
 * the shape of Kafka Streams' TopologyDescription) and as Graphviz DOT.
 */
#include "engine_int.h"
#include "global_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int out_printf(rill_buf_t *out, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return rill_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A frozen copy is needed for sub-topology numbers; describing does not freeze the user's
 * topology, so components are computed here when it is not frozen yet. */
static int sub_of(const rill_topology_t *topo, const rill__node_t *node, int *subs) {
    return topo->frozen ? node->subtopology : subs[node->id];
}

static void compute_subs(const rill_topology_t *topo, int *subs) {
    /* Label propagation over the undirected graph: small topologies, simple code. */
    for (int i = 0; i < topo->node_cnt; i++)
        subs[i] = i;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < topo->node_cnt; i++) {
            const rill__node_t *n = topo->nodes[i];
            for (int c = 0; c < n->child_cnt; c++) {
                int a = subs[i], b = subs[n->children[c]->id];
                if (a != b) {
                    subs[i] = subs[n->children[c]->id] = a < b ? a : b;
                    changed = 1;
                }
            }
        }
    }
    int next = 0, map[4096];
    for (int i = 0; i < topo->node_cnt && i < 4096; i++)
        map[i] = -1;
    for (int i = 0; i < topo->node_cnt && i < 4096; i++) {
        if (map[subs[i]] < 0)
            map[subs[i]] = next++;
        subs[i] = map[subs[i]];
    }
}

static void describe_node(const rill__node_t *n, rill_buf_t *out) {
    if (n->kind == RILL_NODE_SOURCE) {
        out_printf(out, "    Source: %s (topics: [", n->name);
        for (int t = 0; t < n->source.topic_cnt; t++)
            out_printf(out, "%s%s", t ? ", " : "", n->source.topics[t]);
        out_printf(out, "])\n");
    } else if (n->kind == RILL_NODE_SINK) {
        out_printf(out, "    Sink: %s (topic: %s)\n", n->name, n->sink.topic);
    } else {
        out_printf(out, "    Processor: %s (stores: [", n->name);
        for (int k = 0; k < n->store_cnt; k++)
            out_printf(out, "%s%s", k ? ", " : "", rill__store_def_name(n->stores[k]));
        out_printf(out, "])\n");
    }
    if (n->child_cnt) {
        out_printf(out, "      --> ");
        for (int c = 0; c < n->child_cnt; c++)
            out_printf(out, "%s%s", c ? ", " : "", n->children[c]->name);
        out_printf(out, "\n");
    }
    if (n->parent_cnt) {
        out_printf(out, "      <-- ");
        for (int p = 0; p < n->parent_cnt; p++)
            out_printf(out, "%s%s", p ? ", " : "", n->parents[p]->name);
        out_printf(out, "\n");
    }
}

/* Global tables belong to no sub-topology: every process reads all of each. */
static void describe_globals(const rill_topology_t *topo, rill_buf_t *out) {
    for (int g = 0; g < topo->global_cnt; g++) {
        const rill_global_table_t *t = topo->globals[g];
        out_printf(out, "   Global table: %s (topic: %s; every process holds all of it)\n",
                   rill__global_store_name(t), rill__global_topic(t));
        int first = 1;
        for (int i = 0; i < topo->node_cnt; i++) {
            if (!rill__global_read_by(t, topo->nodes[i]))
                continue;
            out_printf(out, "%s%s", first ? "      --> " : ", ", topo->nodes[i]->name);
            first = 0;
        }
        if (!first)
            out_printf(out, "\n");
    }
}

static int sub_count(const rill_topology_t *topo, int *subs) {
    int cnt = 0;
    for (int i = 0; i < topo->node_cnt; i++)
        if (sub_of(topo, topo->nodes[i], subs) + 1 > cnt)
            cnt = sub_of(topo, topo->nodes[i], subs) + 1;
    return cnt;
}

rill_err_t rill_topology_describe(const rill_topology_t *topo, rill_buf_t *out) {
    if (topo->node_cnt > 4096)
        return RILL_ERR_TOPOLOGY;
    int subs[4096];
    if (!topo->frozen)
        compute_subs(topo, subs);
    out_printf(out, "Topologies:\n");
    for (int s = 0; s < sub_count(topo, subs); s++) {
        out_printf(out, "   Sub-topology: %d\n", s);
        for (int i = 0; i < topo->node_cnt; i++)
            if (sub_of(topo, topo->nodes[i], subs) == s)
                describe_node(topo->nodes[i], out);
    }
    describe_globals(topo, out);
    return topo->error ? RILL_ERR_TOPOLOGY : RILL_OK;
}

/* Appends s as the inside of a DOT double-quoted string. */
static void dot_escaped(rill_buf_t *out, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            rill_buf_append(out, "\\", 1);
        rill_buf_append(out, s, 1);
    }
}

/* Declares a topic's node ("t:" + escaped name) and its edge to or from node (a DOT id). */
static void dot_topic(rill_buf_t *out, const char *topic, const char *node, int to_topic) {
    out_printf(out, "    \"t:");
    dot_escaped(out, topic);
    out_printf(out, "\" [shape=cylinder,label=\"");
    dot_escaped(out, topic);
    out_printf(out, "\"];\n    ");
    if (to_topic)
        out_printf(out, "%s -> \"t:", node);
    else
        out_printf(out, "\"t:");
    dot_escaped(out, topic);
    if (to_topic)
        out_printf(out, "\";\n");
    else
        out_printf(out, "\" -> %s;\n", node);
}

/* Nodes are "n<id>" with the escaped name as label, so no name can break the syntax or
 * collide with a topic's node. */
rill_err_t rill_topology_describe_dot(const rill_topology_t *topo, rill_buf_t *out) {
    if (topo->node_cnt > 4096)
        return RILL_ERR_TOPOLOGY;
    int subs[4096];
    if (!topo->frozen)
        compute_subs(topo, subs);
    out_printf(out, "digraph rill {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for (int s = 0; s < sub_count(topo, subs); s++) {
        out_printf(out, "  subgraph cluster_%d {\n    label=\"sub-topology %d\";\n", s, s);
        for (int i = 0; i < topo->node_cnt; i++) {
            const rill__node_t *n = topo->nodes[i];
            if (sub_of(topo, n, subs) != s)
                continue;
            out_printf(out, "    n%d [shape=%s,label=\"", n->id,
                       n->kind == RILL_NODE_PROCESSOR ? "box" : "ellipse");
            dot_escaped(out, n->name);
            out_printf(out, "\"];\n");
            char id[16];
            snprintf(id, sizeof(id), "n%d", n->id);
            for (int t = 0; n->kind == RILL_NODE_SOURCE && t < n->source.topic_cnt; t++)
                dot_topic(out, n->source.topics[t], id, 0);
            if (n->kind == RILL_NODE_SINK)
                dot_topic(out, n->sink.topic, id, 1);
        }
        out_printf(out, "  }\n");
    }
    for (int i = 0; i < topo->node_cnt; i++)
        for (int c = 0; c < topo->nodes[i]->child_cnt; c++)
            out_printf(out, "  n%d -> n%d;\n", topo->nodes[i]->id, topo->nodes[i]->children[c]->id);
    /* Global tables: outside every sub-topology, read by the joins that use them. */
    for (int g = 0; g < topo->global_cnt; g++) {
        const rill_global_table_t *t = topo->globals[g];
        char id[16];
        snprintf(id, sizeof(id), "g%d", g);
        out_printf(out, "  %s [shape=box3d,label=\"global table\\n", id);
        dot_escaped(out, rill__global_store_name(t));
        out_printf(out, "\"];\n  ");
        dot_topic(out, rill__global_topic(t), id, 0);
        for (int i = 0; i < topo->node_cnt; i++)
            if (rill__global_read_by(t, topo->nodes[i]))
                out_printf(out, "  %s -> n%d [style=dashed];\n", id, topo->nodes[i]->id);
    }
    out_printf(out, "}\n");
    return topo->error ? RILL_ERR_TOPOLOGY : RILL_OK;
}
