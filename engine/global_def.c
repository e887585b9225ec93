/*
 * global_def.c — global tables as declared in a topology (rill_global_table), and what the
 * other files may ask of a declaration (global_int.h).
 *
 * DESIGN
 * A global table is not a node: it belongs to no sub-topology and makes no task, since every
 * process holds all of it. Its declaration lives with the topology; the joins that read it
 * register themselves (rill__global_add_reader), so the printout can show them without
 * knowing any operator.
 */
#include "global_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int topic_taken(rill_topology_t *topo, const char *topic) {
    for (int i = 0; i < topo->global_cnt; i++) {
        if (!strcmp(topo->globals[i]->topic, topic)) {
            rill__topology_fail(topo,
                                "rill_global_table: topic \"%s\" already has a global "
                                "table: join that one",
                                topic);
            return 1;
        }
    }
    return 0;
}

static rill_global_table_t *def_add(rill_topology_t *topo, const char *topic, const char *store) {
    rill_global_table_t **globals =
        realloc(topo->globals, (size_t)(topo->global_cnt + 1) * sizeof(*globals));
    rill_global_table_t *g = calloc(1, sizeof(*g));
    if (globals)
        topo->globals = globals;
    if (!globals || !g || !(g->topic = strdup(topic)) || !(g->store = strdup(store))) {
        if (g)
            free(g->topic);
        free(g);
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    g->topo = topo;
    topo->globals[topo->global_cnt++] = g;
    return g;
}

rill_global_table_t *rill_global_table(rill_topology_t *topo, const char *topic,
                                       const rill_source_opts_t *opts, const char *store) {
    char gen[300];
    if (!topo || topo->error)
        return NULL;
    if (!topic || !*topic) {
        rill__topology_fail(topo, "rill_global_table: a topic is required");
        return NULL;
    }
    if (!store) {
        snprintf(gen, sizeof(gen), "%s-global-store", topic);
        store = gen;
    }
    if (topic_taken(topo, topic) || rill__store_claim(topo, store, RILL__CLAIM_OWN))
        return NULL;
    rill_global_table_t *g = def_add(topo, topic, store);
    if (g && opts)
        g->opts = *opts;
    return g;
}

const char *rill__global_topic(const rill_global_table_t *g) {
    return g->topic;
}

const char *rill__global_store_name(const rill_global_table_t *g) {
    return g->store;
}

rill_topology_t *rill__global_topology(const rill_global_table_t *g) {
    return g->topo;
}

int rill__global_add_reader(rill_global_table_t *g, const rill__node_t *node) {
    const rill__node_t **all = realloc(g->readers, (size_t)(g->reader_cnt + 1) * sizeof(*all));
    if (!all) {
        rill__topology_fail(g->topo, "out of memory");
        return -1;
    }
    g->readers = all;
    g->readers[g->reader_cnt++] = node;
    return 0;
}

bool rill__global_read_by(const rill_global_table_t *g, const rill__node_t *node) {
    for (int i = 0; i < g->reader_cnt; i++)
        if (g->readers[i] == node)
            return true;
    return false;
}

void rill__global_free_defs(rill_topology_t *topo) {
    for (int i = 0; i < topo->global_cnt; i++) {
        free(topo->globals[i]->topic);
        free(topo->globals[i]->store);
        free(topo->globals[i]->readers);
        free(topo->globals[i]);
    }
    free(topo->globals);
    topo->globals = NULL;
    topo->global_cnt = 0;
}
