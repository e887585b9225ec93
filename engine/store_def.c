/*
 * store_def.c — stores as declared in a topology: names, kinds, retention, and which
 * sub-topology owns each (the one whose tasks hold its partitions).
 *
 * DESIGN
 * Every store name, whoever declares it (an operator, a custom processor, a global table),
 * is checked by one function, rill__store_claim, with one message, so the rules (a name
 * that can be part of a topic name, a global table's store used by nothing else, a store
 * that its declarer owns alone) cannot drift apart.
 */
#include "stores_int.h"

#include <stdlib.h>
#include <string.h>

static void def_free(rill__store_def_t *def) {
    if (def)
        free(def->name);
    free(def);
}

void rill__topology_free_stores(rill_topology_t *topo) {
    for (int i = 0; i < topo->store_cnt; i++)
        def_free(topo->stores[i]);
    free(topo->stores);
    topo->stores = NULL;
    topo->store_cnt = 0;
}

static int valid_name(const char *name) {
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int declared(const rill_topology_t *topo, const char *name, bool globals) {
    for (int i = 0; globals && i < topo->global_cnt; i++)
        if (!strcmp(rill__global_store_name(topo->globals[i]), name))
            return 1;
    for (int i = 0; !globals && i < topo->store_cnt; i++)
        if (!strcmp(topo->stores[i]->name, name))
            return 1;
    return 0;
}

int rill__store_claim(rill_topology_t *topo, const char *name, rill__claim_t how) {
    const char *why = NULL;
    if (topo->error)
        return -1;
    if (!name && how == RILL__CLAIM_NAME)
        return 0;
    if (!valid_name(name))
        why = "is not a valid store name: use letters, digits, '.', '_' and '-' (it becomes "
              "part of a topic name), or NULL for a generated name";
    else if (declared(topo, name, true))
        why = "is declared twice: it is a global table's store, which nothing else may use";
    else if (how == RILL__CLAIM_OWN && declared(topo, name, false))
        why = "is declared twice: an aggregation, a join's buffer, a completion and a global "
              "table each need a store of their own";
    if (!why)
        return 0;
    rill__topology_fail(topo, "store \"%s\" %s", name ? name : "", why);
    return -1;
}

static int node_add_store(rill__node_t *node, rill__store_def_t *def) {
    for (int i = 0; i < node->store_cnt; i++)
        if (node->stores[i] == def)
            return 0;
    rill__store_def_t **s = realloc(node->stores, sizeof(*s) * (size_t)(node->store_cnt + 1));
    if (!s)
        return -1;
    node->stores = s;
    node->stores[node->store_cnt++] = def;
    return 0;
}

rill__store_def_t *rill__topology_add_store(rill_topology_t *topo, rill__node_t *node,
                                            const char *name, rill__store_kind_t kind,
                                            int64_t retention_ms, int64_t segment_ms) {
    if (topo->error)
        return NULL;
    if (rill__store_claim(topo, name, RILL__CLAIM_SHARED))
        return NULL;
    rill__store_def_t *def = NULL;
    for (int i = 0; i < topo->store_cnt; i++)
        if (!strcmp(topo->stores[i]->name, name))
            def = topo->stores[i];
    if (def && def->kind != kind) {
        rill__topology_fail(topo, "store \"%s\" is declared twice with different kinds", name);
        return NULL;
    }
    if (!def) {
        rill__store_def_t **all =
            realloc(topo->stores, sizeof(*all) * (size_t)(topo->store_cnt + 1));
        if (!all || !(def = calloc(1, sizeof(*def))) || !(def->name = strdup(name))) {
            if (all)
                topo->stores = all;
            def_free(def);
            rill__topology_fail(topo, "out of memory");
            return NULL;
        }
        topo->stores = all;
        def->kind = kind;
        def->retention_ms = retention_ms;
        def->segment_ms = segment_ms > 0 ? segment_ms : (retention_ms > 0 ? retention_ms / 3 : 0);
        if (kind != RILL_STORE_KV && def->segment_ms < 60000)
            def->segment_ms = 60000;
        def->logged = true;
        def->sub = -1;
        topo->stores[topo->store_cnt++] = def;
    }
    if (node_add_store(node, def)) {
        rill__topology_fail(topo, "out of memory");
        return NULL;
    }
    return def;
}

const char *rill__store_def_name(const rill__store_def_t *def) {
    return def->name;
}

/* ---- the changelog counter (counted by state/, rill__stores_delivered) ---- */

static const rill__mfamily_t changelog_family = {
    "rill_changelog_records_total", RILL__COUNTER,
    "Records the broker acknowledged into the store's changelog topic."};

void rill__stores_metrics(rill_app_t *app, rill__mout_t *mo) {
    for (int i = 0; i < app->topo->store_cnt; i++) {
        const rill__store_def_t *def = app->topo->stores[i];
        if (!def->logged || def->sub < 0)
            continue;
        rill__mout_sample(mo, &changelog_family, NULL, (const char *[]){"store", def->name, NULL},
                          __atomic_load_n(&def->changelog_records, __ATOMIC_RELAXED));
    }
}

int64_t rill__stores_metric(rill_app_t *app, const char *name) {
    if (strcmp(name, changelog_family.name))
        return -1;
    int64_t sum = 0;
    for (int i = 0; i < app->topo->store_cnt; i++)
        sum += __atomic_load_n(&app->topo->stores[i]->changelog_records, __ATOMIC_RELAXED);
    return sum;
}
