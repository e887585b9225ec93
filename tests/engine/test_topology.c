/*
 * test_topology.c — unit tests of the topology builder (engine/topology.c) and of freezing it
 * into sub-topologies (engine/topology_freeze.c): generated node names, sticky builder errors,
 * names that are empty or used twice, topics read by two sources, connected components and
 * merge, and split's rule that no branch may follow the default one. No broker is needed:
 * rill_app_new() only validates, it does no I/O.
 */
#include <criterion/criterion.h>

#include "engine_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static rill_topology_t *topo;
static char errstr[512];

static void setup(void) {
    topo = rill_topology_new();
    cr_assert_not_null(topo);
    errstr[0] = '\0';
}

static void teardown(void) {
    rill_topology_destroy(topo); /* NULL after a test handed it to an app */
}

TestSuite(engine_topology, .init = setup, .fini = teardown);

static int keep_all(const rill_record_t *rec, void *opaque) {
    return 1;
}

static int same_record(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    return rill_buf_append(out->key, rec->key, rec->key_len) ||
           rill_buf_append(out->value, rec->value, rec->value_len);
}

static int no_output(rill_ctx_t *ctx, const rill_record_t *rec, void *opaque) {
    return 0;
}

static void ignore(const rill_record_t *rec, void *opaque) {}

static int process_nothing(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    return 0;
}

static const rill_processor_def_t nothing_def = {.process = process_nothing};

/* A configuration that rill_app_new() accepts: application.id set, nothing else. */
static rill_conf_t *app_conf(void) {
    rill_conf_t *conf = rill_conf_new();
    char id[64];

    cr_assert_not_null(conf);
    snprintf(id, sizeof(id), "topology-test-%d", (int)getpid());
    cr_assert_eq(rill_conf_set(conf, "application.id", id, errstr, sizeof(errstr)), RILL_OK, "%s",
                 errstr);
    return conf;
}

/* Freezes topo through rill_app_new(); on success the app owns topo (set to NULL here). */
static rill_app_t *app_of_topology(void) {
    rill_conf_t *conf = app_conf();
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));

    if (app)
        topo = NULL;
    else
        rill_conf_destroy(conf);
    return app;
}

static const char *name_of(const rill_stream_t *s) {
    cr_assert_not_null(s, "builder call failed: %s", topo ? rill_topology_error(topo) : "");
    return s->node->name;
}

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                    */

Test(engine_topology, kind_and_position_in_name_when_name_is_null) {
    rill_stream_t *src = rill_stream_from(topo, NULL, "in", NULL);
    rill_stream_t *f = rill_stream_filter(src, NULL, keep_all, NULL);
    rill_stream_t *fn = rill_stream_filter_not(f, NULL, keep_all, NULL);
    rill_stream_t *m = rill_stream_map(fn, NULL, same_record, NULL);
    rill_stream_t *mv = rill_stream_map_values(m, NULL, same_record, NULL);
    rill_stream_t *sk = rill_stream_select_key(mv, NULL, same_record, NULL);
    rill_stream_t *fm = rill_stream_flat_map(sk, NULL, no_output, NULL);
    rill_stream_t *pk = rill_stream_peek(fm, NULL, ignore, NULL);
    rill_stream_t *pr = rill_stream_process(pk, NULL, &nothing_def, NULL);

    cr_assert_str_eq(name_of(src), "KSTREAM-SOURCE-0000000000");
    cr_assert_str_eq(name_of(f), "KSTREAM-FILTER-0000000001");
    cr_assert_str_eq(name_of(fn), "KSTREAM-FILTER-0000000002");
    cr_assert_str_eq(name_of(m), "KSTREAM-MAP-0000000003");
    cr_assert_str_eq(name_of(mv), "KSTREAM-MAPVALUES-0000000004");
    cr_assert_str_eq(name_of(sk), "KSTREAM-KEY-SELECT-0000000005");
    cr_assert_str_eq(name_of(fm), "KSTREAM-FLATMAP-0000000006");
    cr_assert_str_eq(name_of(pk), "KSTREAM-PEEK-0000000007");
    cr_assert_str_eq(name_of(pr), "KSTREAM-PROCESSOR-0000000008");
    cr_assert_eq(rill_stream_to(pr, NULL, "out", NULL), RILL_OK);
    cr_assert_not_null(rill__topology_node(topo, "KSTREAM-SINK-0000000009"));
    cr_assert_null(rill_topology_error(topo));
}

Test(engine_topology, position_counts_named_nodes_when_names_are_mixed) {
    rill_stream_t *a = rill_stream_from(topo, "a", "in-a", NULL);
    rill_stream_t *b = rill_stream_from(topo, NULL, "in-b", NULL);
    rill_stream_t *m = rill_stream_merge(a, b, "both");
    rill_split_t *split = rill_stream_split(m, NULL);
    rill_stream_t *one = rill_split_branch(split, NULL, keep_all, NULL);
    rill_stream_t *rest = rill_split_default(split, "rest");
    rill_stream_t *after = rill_stream_filter(rest, NULL, keep_all, NULL);

    cr_assert_str_eq(name_of(a), "a");
    cr_assert_str_eq(name_of(b), "KSTREAM-SOURCE-0000000001");
    cr_assert_str_eq(name_of(m), "both");
    cr_assert_not_null(rill__topology_node(topo, "KSTREAM-BRANCH-0000000003"));
    cr_assert_str_eq(name_of(one), "KSTREAM-BRANCH-CHILD-0000000004");
    cr_assert_str_eq(name_of(rest), "rest");
    cr_assert_str_eq(name_of(after), "KSTREAM-FILTER-0000000006");
}

/* Builds the same program into t and returns its description. */
static void build_and_describe(rill_topology_t *t, rill_buf_t *out) {
    rill_stream_t *a = rill_stream_from(t, NULL, "in-a", NULL);
    rill_stream_t *b = rill_stream_from(t, NULL, "in-b", NULL);
    rill_stream_t *m = rill_stream_merge(rill_stream_filter(a, NULL, keep_all, NULL), b, NULL);

    cr_assert_eq(rill_stream_to(rill_stream_peek(m, NULL, ignore, NULL), NULL, "out", NULL),
                 RILL_OK);
    cr_assert_eq(rill_topology_describe(t, out), RILL_OK);
}

Test(engine_topology, same_names_when_same_program_builds_twice) {
    rill_topology_t *again = rill_topology_new();
    rill_buf_t first = {0}, second = {0};

    build_and_describe(topo, &first);
    build_and_describe(again, &second);
    cr_assert_eq(first.len, second.len);
    cr_assert_eq(memcmp(first.data, second.data, first.len), 0);
    cr_assert_not_null(rill__topology_node(again, "KSTREAM-MERGE-0000000003"));
    rill_buf_free(&first);
    rill_buf_free(&second);
    rill_topology_destroy(again);
}

Test(engine_topology, sticky_error_and_null_streams_when_name_used_twice) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);
    rill_stream_t *f = rill_stream_filter(src, "dup", keep_all, NULL);
    rill_split_t *split;

    cr_assert_not_null(f);
    cr_assert_null(rill_stream_map(src, "dup", same_record, NULL));
    const char *err = rill_topology_error(topo);
    cr_assert_not_null(err);
    cr_assert(strstr(err, "\"dup\"") && strstr(err, "twice"), "error: %s", err);

    /* Every later builder call fails, even on valid streams with fresh names, and the first
     * error is kept. */
    cr_assert_null(rill_stream_filter(f, "fresh", keep_all, NULL));
    cr_assert_null(rill_stream_filter(f, NULL, keep_all, NULL));
    cr_assert_null(rill_stream_from(topo, "other-src", "other", NULL));
    cr_assert_null(rill_stream_merge(src, f, NULL));
    cr_assert_null(rill_stream_process(f, NULL, &nothing_def, NULL));
    split = rill_stream_split(f, NULL);
    cr_assert_null(split);
    cr_assert_null(rill_split_branch(split, NULL, keep_all, NULL));
    cr_assert_null(rill_split_default(split, NULL));
    cr_assert_eq(rill_stream_to(f, "sink", "out", NULL), RILL_ERR_TOPOLOGY);
    cr_assert_str_eq(rill_topology_error(topo), err);
    cr_assert_eq(topo->node_cnt, 2, "failed calls must add no node");

    /* The app refuses the topology and says why. */
    cr_assert_null(app_of_topology());
    cr_assert(strstr(errstr, "\"dup\""), "errstr: %s", errstr);
}

Test(engine_topology, sticky_error_when_sink_name_used_twice) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);

    cr_assert_eq(rill_stream_to(src, "out", "t1", NULL), RILL_OK);
    cr_assert_eq(rill_stream_to(src, "out", "t2", NULL), RILL_ERR_TOPOLOGY);
    cr_assert(strstr(rill_topology_error(topo), "\"out\""), "%s", rill_topology_error(topo));
    cr_assert_null(rill_stream_peek(src, NULL, ignore, NULL));
}

Test(engine_topology, rejected_when_name_is_empty) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);

    cr_assert_null(rill_stream_filter(src, "", keep_all, NULL));
    cr_assert(strstr(rill_topology_error(topo), "empty"), "%s", rill_topology_error(topo));
    cr_assert_null(rill_stream_filter(src, "later", keep_all, NULL));
}

Test(engine_topology, rejected_when_source_name_is_empty) {
    cr_assert_null(rill_stream_from(topo, "", "in", NULL));
    cr_assert_not_null(rill_topology_error(topo));
    cr_assert_eq(topo->node_cnt, 0);
}

Test(engine_topology, rejected_when_source_topic_has_comma) {
    cr_assert_null(rill_stream_from(topo, NULL, "a,b", NULL));
    cr_assert(strstr(rill_topology_error(topo), "rill_stream_from_topics"), "%s",
              rill_topology_error(topo));
}

Test(engine_topology, rejected_when_callback_is_null) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);
    static const rill_processor_def_t no_process = {0};

    cr_assert_null(rill_stream_process(src, "p", &no_process, NULL));
    cr_assert(strstr(rill_topology_error(topo), "\"p\""), "%s", rill_topology_error(topo));
}

/* ---------------------------------------------------------------------------------------- */
/* Freezing: topics and sub-topologies                                                      */

Test(engine_topology, app_refused_naming_topic_when_topic_read_by_two_sources) {
    rill_stream_t *one = rill_stream_from(topo, "one", "shared", NULL);
    rill_stream_t *two = rill_stream_from_topics(topo, "two", "mine, shared", NULL);

    cr_assert_eq(rill_stream_to(one, NULL, "out-1", NULL), RILL_OK);
    cr_assert_eq(rill_stream_to(two, NULL, "out-2", NULL), RILL_OK);
    cr_assert_null(rill_topology_error(topo), "builder must accept it: freeze rejects it");
    cr_assert_null(app_of_topology());
    cr_assert(strstr(errstr, "\"shared\""), "errstr: %s", errstr);
    cr_assert(strstr(errstr, "\"one\"") && strstr(errstr, "\"two\""), "errstr: %s", errstr);
    cr_assert_not_null(topo, "a refused topology stays the caller's");
    cr_assert(!topo->frozen);
}

Test(engine_topology, app_refused_when_application_id_missing) {
    rill_conf_t *conf = rill_conf_new();

    cr_assert_not_null(rill_stream_from(topo, NULL, "in", NULL));
    cr_assert_null(rill_app_new(topo, conf, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "application.id"), "errstr: %s", errstr);
    rill_conf_destroy(conf);
}

Test(engine_topology, app_refused_when_topology_has_no_source) {
    cr_assert_null(app_of_topology());
    cr_assert(strstr(errstr, "no source"), "errstr: %s", errstr);
}

Test(engine_topology, two_subtopologies_when_pipelines_are_disconnected) {
    rill_stream_t *a = rill_stream_from(topo, "a", "in-a", NULL);
    rill_stream_t *b = rill_stream_from(topo, "b", "in-b", NULL);
    rill_stream_t *fa = rill_stream_filter(a, "fa", keep_all, NULL);
    rill_stream_t *fb = rill_stream_filter(b, "fb", keep_all, NULL);
    rill_topology_t *t = topo;

    cr_assert_eq(rill_stream_to(fa, "sa", "out-a", NULL), RILL_OK);
    cr_assert_eq(rill_stream_to(fb, "sb", "out-b", NULL), RILL_OK);
    rill_app_t *app = app_of_topology();
    cr_assert_not_null(app, "%s", errstr);
    cr_assert(t->frozen);
    cr_assert_eq(t->sub_cnt, 2);
    /* Numbered in the order of their first node, whatever order the nodes interleave in. */
    cr_assert_eq(rill__topology_node(t, "a")->subtopology, 0);
    cr_assert_eq(rill__topology_node(t, "fa")->subtopology, 0);
    cr_assert_eq(rill__topology_node(t, "sa")->subtopology, 0);
    cr_assert_eq(rill__topology_node(t, "b")->subtopology, 1);
    cr_assert_eq(rill__topology_node(t, "fb")->subtopology, 1);
    cr_assert_eq(rill__topology_node(t, "sb")->subtopology, 1);
    cr_assert_eq(t->subs[0].topic_cnt, 1);
    cr_assert_str_eq(t->subs[0].topics[0], "in-a");
    cr_assert_eq(t->subs[1].topic_cnt, 1);
    cr_assert_str_eq(t->subs[1].topics[0], "in-b");
    rill_app_destroy(app);
}

Test(engine_topology, one_subtopology_when_pipelines_are_merged) {
    rill_stream_t *a = rill_stream_from(topo, "a", "in-a", NULL);
    rill_stream_t *b = rill_stream_from_topics(topo, "b", "in-b,in-c", NULL);
    rill_stream_t *m = rill_stream_merge(rill_stream_filter(a, "fa", keep_all, NULL), b, "m");
    rill_topology_t *t = topo;

    cr_assert_eq(rill_stream_to(m, "s", "out", NULL), RILL_OK);
    cr_assert_eq(m->node->parent_cnt, 2);
    rill_app_t *app = app_of_topology();
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_eq(t->sub_cnt, 1);
    for (int i = 0; i < t->node_cnt; i++)
        cr_assert_eq(t->nodes[i]->subtopology, 0, "node %s", t->nodes[i]->name);
    cr_assert_eq(t->subs[0].source_cnt, 2);
    cr_assert_eq(t->subs[0].topic_cnt, 3);
    cr_assert_str_eq(t->subs[0].topics[0], "in-a");
    cr_assert_str_eq(t->subs[0].topics[1], "in-b");
    cr_assert_str_eq(t->subs[0].topics[2], "in-c");
    rill_app_destroy(app);
}

Test(engine_topology, one_subtopology_when_stream_branches_to_two_sinks) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);
    rill_topology_t *t = topo;

    cr_assert_eq(rill_stream_to(rill_stream_filter(src, NULL, keep_all, NULL), NULL, "o1", NULL),
                 RILL_OK);
    cr_assert_eq(rill_stream_to(rill_stream_peek(src, NULL, ignore, NULL), NULL, "o2", NULL),
                 RILL_OK);
    rill_app_t *app = app_of_topology();
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_eq(t->sub_cnt, 1);
    cr_assert_eq(rill__topology_source_for(t, "in"), src->node);
    rill_app_destroy(app);
}

Test(engine_topology, builder_fails_when_topology_already_given_to_app) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);
    rill_topology_t *t = topo;

    cr_assert_eq(rill_stream_to(src, NULL, "out", NULL), RILL_OK);
    rill_app_t *app = app_of_topology();
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_null(rill_stream_filter(src, "late", keep_all, NULL));
    cr_assert(strstr(rill_topology_error(t), "\"late\""), "%s", rill_topology_error(t));
    cr_assert_eq(t->node_cnt, 2);
    rill_app_destroy(app);
}

/* ---------------------------------------------------------------------------------------- */
/* Split                                                                                    */

Test(engine_topology, error_when_split_branch_follows_default) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);
    rill_split_t *split = rill_stream_split(src, "by-kind");

    cr_assert_not_null(split);
    cr_assert_not_null(rill_split_branch(split, "first", keep_all, NULL));
    cr_assert_not_null(rill_split_default(split, "rest"));
    cr_assert_null(rill_split_branch(split, "late", keep_all, NULL));
    const char *err = rill_topology_error(topo);
    cr_assert_not_null(err);
    cr_assert(strstr(err, "\"by-kind\"") && strstr(err, "default"), "error: %s", err);
    cr_assert_null(rill__topology_node(topo, "late"));
    cr_assert_null(app_of_topology());
    cr_assert(strstr(errstr, "default"), "errstr: %s", errstr);
}

Test(engine_topology, error_when_second_default_branch_added) {
    rill_split_t *split = rill_stream_split(rill_stream_from(topo, "src", "in", NULL), "s");

    cr_assert_not_null(rill_split_default(split, "rest"));
    cr_assert_null(rill_split_default(split, "rest-again"));
    cr_assert(strstr(rill_topology_error(topo), "default"), "%s", rill_topology_error(topo));
}

Test(engine_topology, error_when_split_branch_has_no_predicate) {
    rill_split_t *split = rill_stream_split(rill_stream_from(topo, "src", "in", NULL), "s");

    cr_assert_null(rill_split_branch(split, "b", NULL, NULL));
    cr_assert(strstr(rill_topology_error(topo), "predicate"), "%s", rill_topology_error(topo));
}

Test(engine_topology, branches_are_children_in_order_when_split) {
    rill_split_t *split = rill_stream_split(rill_stream_from(topo, "src", "in", NULL), "s");
    rill_stream_t *one = rill_split_branch(split, "one", keep_all, NULL);
    rill_stream_t *two = rill_split_branch(split, "two", keep_all, NULL);
    rill_stream_t *rest = rill_split_default(split, "rest");
    rill__node_t *node = rill__topology_node(topo, "s");

    cr_assert_not_null(node);
    cr_assert_eq(node->child_cnt, 3);
    cr_assert_eq(node->children[0], one->node);
    cr_assert_eq(node->children[1], two->node);
    cr_assert_eq(node->children[2], rest->node);
    cr_assert_null(rill_topology_error(topo));
}
