/*
 * test_describe.c — unit tests of the topology printout (engine/describe.c): the text form,
 * in the shape of Kafka Streams' TopologyDescription, compared with texts written by hand,
 * and the Graphviz DOT form, checked for every node and edge and for its structure (no
 * external program is run).
 */
#include <criterion/criterion.h>

#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rill_topology_t *topo;
static rill_buf_t out;

static void setup(void) {
    topo = rill_topology_new();
    cr_assert_not_null(topo);
    memset(&out, 0, sizeof(out));
}

static void teardown(void) {
    rill_topology_destroy(topo);
    rill_buf_free(&out);
}

TestSuite(engine_describe, .init = setup, .fini = teardown);

static int keep_all(const rill_record_t *rec, void *opaque) {
    return 1;
}

static int same_record(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    return rill_buf_append(out->key, rec->key, rec->key_len) ||
           rill_buf_append(out->value, rec->value, rec->value_len);
}

static void ignore(const rill_record_t *rec, void *opaque) {}

/* The description as a C string (out gets a terminating NUL, not counted in out.len). */
static const char *text_of(rill_err_t (*describe)(const rill_topology_t *, rill_buf_t *)) {
    rill_buf_reset(&out);
    cr_assert_eq(describe(topo, &out), RILL_OK);
    cr_assert_eq(rill_buf_append(&out, "", 1), 0);
    out.len--;
    return out.data;
}

/* Compares line by line so that a failure shows the first line that differs. */
static void assert_text(const char *got, const char *want) {
    int line = 1;
    const char *g = got, *w = want;

    while (*g && *w) {
        size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");
        cr_assert(gl == wl && !memcmp(g, w, gl),
                  "line %d differs:\n got: %.*s\nwant: %.*s\n"
                  "whole text:\n%s",
                  line, (int)gl, g, (int)wl, w, got);
        g += gl + (g[gl] == '\n');
        w += wl + (w[wl] == '\n');
        line++;
    }
    cr_assert_str_eq(got, want, "texts differ in length at line %d; whole text:\n%s", line, got);
}

/*
 * The topology of the first two tests:
 *   sub-topology 0: orders+returns -> filter -> split by-region -> eu / other -> two sinks
 *   sub-topology 1: audit -> peek -> sink
 */
static void build_two_subtopologies(void) {
    rill_stream_t *orders = rill_stream_from_topics(topo, "orders", "orders,returns", NULL);
    rill_stream_t *kept = rill_stream_filter(orders, NULL, keep_all, NULL);
    rill_split_t *split = rill_stream_split(kept, "by-region");
    rill_stream_t *eu = rill_split_branch(split, "eu", keep_all, NULL);
    rill_stream_t *other = rill_split_default(split, "other");

    cr_assert_eq(rill_stream_to(eu, NULL, "out-eu", NULL), RILL_OK);
    cr_assert_eq(rill_stream_to(other, "to-other", "out-other", NULL), RILL_OK);
    rill_stream_t *audit = rill_stream_from(topo, "audit", "audit", NULL);
    cr_assert_eq(
        rill_stream_to(rill_stream_peek(audit, NULL, ignore, NULL), NULL, "audit-copy", NULL),
        RILL_OK);
    cr_assert_null(rill_topology_error(topo));
}

static const char two_subtopologies_text[] =
    "Topologies:\n"
    "   Sub-topology: 0\n"
    "    Source: orders (topics: [orders, returns])\n"
    "      --> KSTREAM-FILTER-0000000001\n"
    "    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n"
    "      --> by-region\n"
    "      <-- orders\n"
    "    Processor: by-region (stores: [])\n"
    "      --> eu, other\n"
    "      <-- KSTREAM-FILTER-0000000001\n"
    "    Processor: eu (stores: [])\n"
    "      --> KSTREAM-SINK-0000000005\n"
    "      <-- by-region\n"
    "    Processor: other (stores: [])\n"
    "      --> to-other\n"
    "      <-- by-region\n"
    "    Sink: KSTREAM-SINK-0000000005 (topic: out-eu)\n"
    "      <-- eu\n"
    "    Sink: to-other (topic: out-other)\n"
    "      <-- other\n"
    "   Sub-topology: 1\n"
    "    Source: audit (topics: [audit])\n"
    "      --> KSTREAM-PEEK-0000000008\n"
    "    Processor: KSTREAM-PEEK-0000000008 (stores: [])\n"
    "      --> KSTREAM-SINK-0000000009\n"
    "      <-- audit\n"
    "    Sink: KSTREAM-SINK-0000000009 (topic: audit-copy)\n"
    "      <-- KSTREAM-PEEK-0000000008\n";

Test(engine_describe, text_matches_kafka_streams_shape_when_two_subtopologies) {
    build_two_subtopologies();
    assert_text(text_of(rill_topology_describe), two_subtopologies_text);
}

Test(engine_describe, text_unchanged_when_topology_frozen_by_app) {
    rill_conf_t *conf = rill_conf_new();
    char errstr[256], id[64];
    rill_topology_t *t;

    build_two_subtopologies();
    snprintf(id, sizeof(id), "describe-test-%d", (int)getpid());
    cr_assert_eq(rill_conf_set(conf, "application.id", id, errstr, sizeof(errstr)), RILL_OK);
    t = topo;
    rill_app_t *app = rill_app_new(t, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    topo = NULL; /* the app owns it now */
    cr_assert(t->frozen);
    cr_assert_eq(rill_topology_describe(t, &out), RILL_OK);
    cr_assert_eq(rill_buf_append(&out, "", 1), 0);
    assert_text(out.data, two_subtopologies_text);
    rill_app_destroy(app);
}

Test(engine_describe, both_parents_listed_when_streams_merged) {
    rill_stream_t *a = rill_stream_from(topo, "a", "in-a", NULL);
    rill_stream_t *b = rill_stream_from(topo, "b", "in-b", NULL);
    rill_stream_t *ma = rill_stream_map_values(a, "upper", same_record, NULL);

    cr_assert_eq(rill_stream_to(rill_stream_merge(ma, b, NULL), "out", "merged", NULL), RILL_OK);
    assert_text(text_of(rill_topology_describe),
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: a (topics: [in-a])\n"
                "      --> upper\n"
                "    Source: b (topics: [in-b])\n"
                "      --> KSTREAM-MERGE-0000000003\n"
                "    Processor: upper (stores: [])\n"
                "      --> KSTREAM-MERGE-0000000003\n"
                "      <-- a\n"
                "    Processor: KSTREAM-MERGE-0000000003 (stores: [])\n"
                "      --> out\n"
                "      <-- upper, b\n"
                "    Sink: out (topic: merged)\n"
                "      <-- KSTREAM-MERGE-0000000003\n");
}

Test(engine_describe, subtopologies_numbered_by_first_node_when_nodes_interleave) {
    rill_stream_t *x = rill_stream_from(topo, "x", "in-x", NULL);
    rill_stream_t *y = rill_stream_from(topo, "y", "in-y", NULL);

    cr_assert_eq(rill_stream_to(y, "to-y", "out-y", NULL), RILL_OK);
    cr_assert_eq(rill_stream_to(x, "to-x", "out-x", NULL), RILL_OK);
    assert_text(text_of(rill_topology_describe), "Topologies:\n"
                                                 "   Sub-topology: 0\n"
                                                 "    Source: x (topics: [in-x])\n"
                                                 "      --> to-x\n"
                                                 "    Sink: to-x (topic: out-x)\n"
                                                 "      <-- x\n"
                                                 "   Sub-topology: 1\n"
                                                 "    Source: y (topics: [in-y])\n"
                                                 "      --> to-y\n"
                                                 "    Sink: to-y (topic: out-y)\n"
                                                 "      <-- y\n");
}

Test(engine_describe, only_header_when_topology_empty) {
    assert_text(text_of(rill_topology_describe), "Topologies:\n");
}

Test(engine_describe, error_returned_when_topology_has_builder_error) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);

    cr_assert_null(rill_stream_filter(src, "src", keep_all, NULL));
    cr_assert_eq(rill_topology_describe(topo, &out), RILL_ERR_TOPOLOGY);
    cr_assert_eq(rill_topology_describe_dot(topo, &out), RILL_ERR_TOPOLOGY);
}

/* ---------------------------------------------------------------------------------------- */
/* DOT                                                                                      */

/* Returns the number of times needle occurs in haystack. */
static int count_of(const char *haystack, const char *needle) {
    int n = 0;

    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* printf into one of a few rotating static buffers (for short assertion texts). */
static const char *fmt(const char *f, ...) {
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    va_list ap;

    va_start(ap, f);
    vsnprintf(b, 512, f, ap);
    va_end(ap);
    return b;
}

static int node_id(const char *name) {
    const rill__node_t *n = rill__topology_node(topo, name);

    cr_assert_not_null(n, "no node %s", name);
    return n->id;
}

static void assert_has_line(const char *dot, const char *line) {
    char want[512];

    snprintf(want, sizeof(want), "%s\n", line);
    cr_assert(strstr(dot, want), "DOT lacks the line: %s\nwhole DOT:\n%s", line, dot);
}

/*
 * Checks the structure of a DOT text: "digraph rill {" first and "}" last, braces balanced
 * and never below zero, quotes even on every line, every statement line ends with ';', '{'
 * or '}', and each quoted endpoint of an edge is declared as a node.
 */
static void assert_dot_well_formed(const char *dot) {
    int depth = 0, lineno = 0;
    const char *p = dot;

    cr_assert_eq(strncmp(dot, "digraph rill {\n", 15), 0, "DOT starts with: %.40s", dot);
    cr_assert(strlen(dot) >= 2 && !strcmp(dot + strlen(dot) - 2, "}\n"), "DOT ends badly");
    while (*p) {
        size_t len = strcspn(p, "\n");
        int quotes = 0;
        char last = len ? p[len - 1] : '\0';

        lineno++;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"')
                quotes++;
            else if (p[i] == '{' && quotes % 2 == 0)
                depth++;
            else if (p[i] == '}' && quotes % 2 == 0)
                depth--;
            cr_assert(depth >= 0, "line %d closes a brace never opened", lineno);
        }
        cr_assert_eq(quotes % 2, 0, "line %d has unbalanced quotes: %.*s", lineno, (int)len, p);
        cr_assert(last == ';' || last == '{' || last == '}', "line %d: %.*s", lineno, (int)len, p);
        if (strstr(p, " -> ") && strstr(p, " -> ") < p + len) {
            char from[256], to[256], decl[300];
            cr_assert_eq(sscanf(p, " %255[^ ] -> %255[^;];", from, to), 2,
                         "line %d is not an edge: %.*s", lineno, (int)len, p);
            snprintf(decl, sizeof(decl), "    %s [shape=", from);
            cr_assert(strstr(dot, decl), "edge from undeclared node %s", from);
            snprintf(decl, sizeof(decl), "    %s [shape=", to);
            cr_assert(strstr(dot, decl), "edge to undeclared node %s", to);
        }
        p += len + (p[len] == '\n');
    }
    cr_assert_eq(depth, 0, "unbalanced braces");
}

Test(engine_describe, dot_has_every_node_and_edge_when_two_subtopologies) {
    build_two_subtopologies();
    const char *dot = text_of(rill_topology_describe_dot);

    assert_dot_well_formed(dot);
    cr_assert_eq(count_of(dot, "subgraph cluster_"), 2);
    assert_has_line(dot, "  subgraph cluster_0 {");
    assert_has_line(dot, "    label=\"sub-topology 0\";");
    assert_has_line(dot, "  subgraph cluster_1 {");
    assert_has_line(dot, "    label=\"sub-topology 1\";");

    /* Every node, with its shape: processors are boxes, sources and sinks ellipses. */
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *n = topo->nodes[i];
        char line[256];
        snprintf(line, sizeof(line), "    n%d [shape=%s,label=\"%s\"];", n->id,
                 n->kind == RILL_NODE_PROCESSOR ? "box" : "ellipse", n->name);
        assert_has_line(dot, line);
    }
    /* Every edge between nodes, once. */
    int edges = 0;
    for (int i = 0; i < topo->node_cnt; i++) {
        for (int c = 0; c < topo->nodes[i]->child_cnt; c++) {
            char line[256];
            snprintf(line, sizeof(line), "  n%d -> n%d;\n", topo->nodes[i]->id,
                     topo->nodes[i]->children[c]->id);
            cr_assert_eq(count_of(dot, line), 1, "edge line %s", line);
            edges++;
        }
    }
    cr_assert_eq(edges, 8);
    /* Topics are cylinders, linked into sources and out of sinks. */
    const char *topics[] = {"orders", "returns", "out-eu", "out-other", "audit", "audit-copy"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "    \"t:%s\" [shape=cylinder,label=\"%s\"];", topics[i],
                 topics[i]);
        assert_has_line(dot, line);
    }
    assert_has_line(dot, fmt("    \"t:orders\" -> n%d;", node_id("orders")));
    assert_has_line(dot, fmt("    \"t:returns\" -> n%d;", node_id("orders")));
    assert_has_line(dot, fmt("    \"t:audit\" -> n%d;", node_id("audit")));
    assert_has_line(dot, fmt("    n%d -> \"t:out-eu\";", node_id("KSTREAM-SINK-0000000005")));
    assert_has_line(dot, fmt("    n%d -> \"t:out-other\";", node_id("to-other")));
    assert_has_line(dot, fmt("    n%d -> \"t:audit-copy\";", node_id("KSTREAM-SINK-0000000009")));
    /* 8 node edges + 3 topic->source + 3 sink->topic. */
    cr_assert_eq(count_of(dot, " -> "), 14);
}

Test(engine_describe, node_in_its_cluster_when_dot_written) {
    build_two_subtopologies();
    const char *dot = text_of(rill_topology_describe_dot);
    const char *c1 = strstr(dot, "subgraph cluster_1 {");

    cr_assert_not_null(c1);
    cr_assert(strstr(dot, fmt("    n%d [shape=", node_id("orders"))) < c1,
              "orders belongs to cluster 0");
    cr_assert(strstr(dot, fmt("    n%d [shape=", node_id("to-other"))) < c1,
              "to-other belongs to cluster 0");
    cr_assert(strstr(dot, fmt("    n%d [shape=", node_id("audit"))) > c1,
              "audit belongs to cluster 1");
}

/*
 * Node names are free text (only topic names are restricted by Kafka), so a name with a
 * double quote or a backslash must be escaped in DOT, or the output is not valid DOT.
 */
Test(engine_describe, dot_valid_when_node_name_has_quote) {
    rill_stream_t *src = rill_stream_from(topo, "src", "in", NULL);

    cr_assert_eq(
        rill_stream_to(rill_stream_filter(src, "say \"hi\"", keep_all, NULL), "out", "out", NULL),
        RILL_OK);
    const char *dot = text_of(rill_topology_describe_dot);
    assert_has_line(dot,
                    fmt("    n%d [shape=box,label=\"say \\\"hi\\\"\"];", node_id("say \"hi\"")));
    assert_has_line(dot, fmt("  n%d -> n%d;", node_id("src"), node_id("say \"hi\"")));
}
