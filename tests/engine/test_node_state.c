/*
 * test_node_state.c — unit test of rill__ctx_node_state (engine/ctx.c), the one way an
 * operator reads the state of another node of its task. Run through the topology test
 * driver (no broker): a custom processor "probe" in one sub-topology asks for the state of
 * every node id (and ids out of range), and the test compares each answer with a reference
 * computed here from the frozen topology: the task's own slot for a node of the probe's
 * sub-topology, NULL for any other id.
 */
#include <criterion/criterion.h>

#include "engine_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_IDS 16

typedef struct probe_s {
    int cnt;             /* ids asked */
    int id_lo;           /* first id asked (below 0) */
    void *got[MAX_IDS];  /* answers */
    void *want[MAX_IDS]; /* the reference */
} probe_t;

static int keep_state(rill_ctx_t *ctx, void **statep, void *opaque) {
    (void)ctx;
    *statep = opaque; /* any non-NULL state the test can recognise */
    return 0;
}

static int probe_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)rec;
    probe_t *p = state;
    const rill_topology_t *topo = rill__ctx_thread(ctx)->app->topo;
    int sub = ctx->node->subtopology;
    p->id_lo = -2;
    for (int id = p->id_lo; id < topo->node_cnt + 2 && p->cnt < MAX_IDS; id++, p->cnt++) {
        bool mine = id >= 0 && id < topo->node_cnt && topo->nodes[id]->subtopology == sub;
        p->want[p->cnt] = mine ? ctx->task->state[id] : NULL;
        p->got[p->cnt] = rill__ctx_node_state(ctx, id);
    }
    return 0;
}

Test(engine_node_state, answers_for_nodes_of_the_task_only) {
    static probe_t probe;
    static int other_state;
    static const rill_processor_def_t probe_def = {.init = keep_state, .process = probe_process};
    static const rill_processor_def_t other_def = {.init = keep_state, .process = probe_process};
    char errstr[512];
    rill_topology_t *topo = rill_topology_new();
    rill_stream_process(rill_stream_from(topo, "a", "a", NULL), "probe", &probe_def, &probe);
    rill_stream_process(rill_stream_from(topo, "b", "b", NULL), "other", &other_def, &other_state);
    cr_assert_null(rill_topology_error(topo));
    rill_conf_t *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(conf, "application.id", "node-state", errstr, sizeof(errstr)), 0);
    rill_test_driver_t *drv = rill_test_driver_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(drv, "%s", errstr);
    cr_assert_eq(rill_test_driver_pipe(drv, "a", "k", 1, "v", 1, 1000), RILL_OK, "%s",
                 rill_test_driver_error(drv));
    cr_assert_eq(probe.cnt, 4 + 2 + 2, "ids asked: %d", probe.cnt); /* 4 nodes, 2 below, 2 above */
    int non_null = 0;
    for (int i = 0; i < probe.cnt; i++) {
        cr_assert_eq(probe.got[i], probe.want[i], "node id %d", probe.id_lo + i);
        non_null += probe.got[i] != NULL;
    }
    cr_assert_eq(non_null, 1, "only the probe itself has a state in its task");
    rill_test_driver_destroy(drv);
}
