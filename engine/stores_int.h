/*
 * stores_int.h — the engine's declarations that name the state module's types: the app's
 * state object and database, a task's store instances, and stores declared on a topology.
 * For the engine and the operators (the layers that may use state/); engine_int.h holds the
 * rest of the engine's side of the host interface (stores.c).
 */
#ifndef RILL_STORES_INT_H
#define RILL_STORES_INT_H

#include "engine_int.h"
#include "state_host_int.h"

/* The app's state object, made on first use from its settings. Thread-safe. NULL: no memory
 * (the app's fatal error set). */
rill__state_t *rill__app_state(rill_app_t *app);
/* The app's database, opened on first use. NULL with errstr. */
rill__db_t *rill__app_db(rill_app_t *app, char *errstr, size_t errstr_size);
/* The task's instance of the store called name (NULL when the node did not declare it). */
rill__store_t *rill__ctx_store(rill_ctx_t *ctx, const char *name);
/* The task's instance of the store called name, or NULL (interactive queries). */
rill__store_t *rill__task_store(rill__task_t *task, const char *name);

/* How a name is claimed (rill__store_claim). */
typedef enum rill__claim_e {
    RILL__CLAIM_NAME,   /* a name the user gave, checked before use (NULL: one is generated) */
    RILL__CLAIM_SHARED, /* a store nodes may share (custom processors', a table's) */
    RILL__CLAIM_OWN     /* a store its declarer owns alone: declared by nobody yet */
} rill__claim_t;

/* The one check of a store name: valid (letters, digits, '.', '_', '-'), not a global
 * table's store, and for RILL__CLAIM_OWN not declared yet. 0, or -1 after the topology's
 * sticky error "store "<name>" <why>". */
int rill__store_claim(rill_topology_t *topo, const char *name, rill__claim_t how);

/* Declares a store used by node (created once per topology; a second call with the same
 * name and kind returns the existing one, so two nodes can share a store). */
rill__store_def_t *rill__topology_add_store(rill_topology_t *topo, rill__node_t *node,
                                            const char *name, rill__store_kind_t kind,
                                            int64_t retention_ms, int64_t segment_ms);

#endif
