/*
 * test_store_names.c — unit tests of the one check of store names (rill__store_claim in
 * state/store_def.c), through every public call that declares a store: custom processors'
 * key-value stores, tables from topics, aggregations and global tables. The expected verdict
 * and the whole message come from a reference written here (which characters a name may
 * have, who owns which store), never from the code under test. No broker is needed.
 */
#include <criterion/criterion.h>

#include "rill.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char INVALID[] = "is not a valid store name: use letters, digits, '.', '_' and "
                              "'-' (it becomes part of a topic name), or NULL for a "
                              "generated name";
static const char GLOBAL[] = "is declared twice: it is a global table's store, which nothing "
                             "else may use";
static const char OWN[] = "is declared twice: an aggregation, a join's buffer, a completion and "
                          "a global table each need a store of their own";

static rill_topology_t *topo;

static void setup(void) {
    topo = rill_topology_new();
    cr_assert_not_null(topo);
}

static void teardown(void) {
    rill_topology_destroy(topo);
}

TestSuite(state_store_names, .init = setup, .fini = teardown);

/* The reference: a name is valid when it is not empty and every character is a letter, a
 * digit, '.', '_' or '-'. */
static bool ref_valid(const char *name) {
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
            return false;
    return true;
}

static void assert_error(const char *name, const char *why) {
    char want[512];
    snprintf(want, sizeof(want), "store \"%s\" %s", name, why);
    cr_assert_not_null(rill_topology_error(topo), "no error for store \"%s\"", name);
    cr_assert_str_eq(rill_topology_error(topo), want);
}

static rill_stream_t *source(const char *topic) {
    rill_stream_t *s = rill_stream_from(topo, NULL, topic, NULL);
    cr_assert_not_null(s);
    return s;
}

Test(state_store_names, every_byte_is_judged_as_the_reference_says) {
    for (int c = 1; c < 256; c++) {
        char name[4] = {'a', (char)c, 'b', '\0'};
        rill_topology_destroy(topo);
        topo = rill_topology_new();
        rill_err_t err = rill_stream_use_kv_store(source("in"), name);
        if (ref_valid(name)) {
            cr_assert_eq(err, RILL_OK, "byte %d refused: %s", c, rill_topology_error(topo));
            cr_assert_null(rill_topology_error(topo));
        } else {
            cr_assert_eq(err, RILL_ERR_TOPOLOGY, "byte %d accepted", c);
            assert_error(name, INVALID);
        }
    }
}

Test(state_store_names, an_invalid_name_gets_the_same_message_from_each_declarer) {
    cr_assert_null(rill_table_from(topo, NULL, "t", NULL, "bad name"));
    assert_error("bad name", INVALID);
    teardown();
    setup();
    cr_assert_null(rill_global_table(topo, "g", NULL, "x/y"));
    assert_error("x/y", INVALID);
    teardown();
    setup();
    cr_assert_null(rill_grouped_count(rill_stream_group_by_key(source("in"), NULL), ""));
    assert_error("", INVALID);
    teardown();
    setup();
    cr_assert_eq(rill_stream_use_kv_store(source("in"), ""), RILL_ERR_TOPOLOGY);
    assert_error("", INVALID);
}

Test(state_store_names, a_global_tables_store_is_nobody_elses) {
    cr_assert_not_null(rill_global_table(topo, "g", NULL, "gs"));
    cr_assert_eq(rill_stream_use_kv_store(source("in"), "gs"), RILL_ERR_TOPOLOGY);
    assert_error("gs", GLOBAL);
    teardown();
    setup();
    cr_assert_not_null(rill_global_table(topo, "g", NULL, "gs"));
    cr_assert_null(rill_table_from(topo, NULL, "t", NULL, "gs"));
    assert_error("gs", GLOBAL);
    teardown();
    setup();
    cr_assert_not_null(rill_global_table(topo, "g", NULL, "gs"));
    cr_assert_null(rill_global_table(topo, "h", NULL, "gs"));
    assert_error("gs", GLOBAL);
}

Test(state_store_names, an_owned_store_is_declared_once) {
    rill_stream_t *in = source("in");
    cr_assert_not_null(rill_grouped_count(rill_stream_group_by_key(in, NULL), "counts"));
    cr_assert_null(rill_grouped_count(rill_stream_group_by_key(in, NULL), "counts"));
    assert_error("counts", OWN);
    teardown();
    setup();
    cr_assert_eq(rill_stream_use_kv_store(source("in"), "kv"), RILL_OK);
    cr_assert_null(rill_global_table(topo, "g", NULL, "kv"));
    assert_error("kv", OWN);
}

Test(state_store_names, custom_processors_share_a_store_and_names_may_be_generated) {
    rill_stream_t *in = source("in");
    cr_assert_eq(rill_stream_use_kv_store(in, "shared.store_1-a"), RILL_OK);
    cr_assert_eq(rill_stream_use_kv_store(source("other"), "shared.store_1-a"), RILL_OK);
    cr_assert_not_null(rill_grouped_count(rill_stream_group_by_key(in, NULL), NULL));
    cr_assert_not_null(rill_table_from(topo, NULL, "t", NULL, NULL));
    cr_assert_not_null(rill_global_table(topo, "g", NULL, NULL));
    cr_assert_null(rill_topology_error(topo));
}
