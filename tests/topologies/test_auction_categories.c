/*
 * test_auction_categories.c — the showcase's category seeding (topologies/auction/
 * categories.c) builds its client from the app's configuration: a client property such as
 * security.protocol reaches it, as it reaches the app's own clients. On the embedded broker
 * (plaintext), security.protocol=ssl must make the seeding fail, and without it the names
 * are written.
 */
#include "../../topologies/auction/categories.c" /* the code under test (no library to link) */

#include <criterion/criterion.h>

/* The joiner in categories.c uses the showcase's JSON parser (app_topology.c). */
json_object *auction_parse_json(const void *buf, size_t len) {
    return json_tokener_parse(buf && len ? (const char *)buf : "null");
}

static rill_broker_t *broker;

static void broker_up(void) {
    char errstr[256];

    broker = rill_broker_new(1, errstr, sizeof(errstr));
    cr_assert_not_null(broker, "%s", errstr);
    cr_assert_eq(rill_broker_create_topic(broker, "cats", 1), 0);
}

static void broker_down(void) {
    rill_broker_destroy(broker);
}

TestSuite(topologies_auction_categories, .init = broker_up, .fini = broker_down, .timeout = 60);

Test(topologies_auction_categories, seeding_uses_security_protocol_when_app_sets_it) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();

    cr_assert_eq(rill_conf_set(conf, "security.protocol", "ssl", errstr, sizeof(errstr)), 0, "%s",
                 errstr);
    cr_assert_eq(rill_conf_set(conf, "socket.timeout.ms", "2000", errstr, sizeof(errstr)), 0, "%s",
                 errstr);
    cr_assert_eq(auction_seed_categories(rill_broker_bootstrap_servers(broker), conf, "cats",
                                         errstr, sizeof(errstr)),
                 -1, "seeded over plaintext although the app asked for ssl");
    rill_conf_destroy(conf);
}

Test(topologies_auction_categories, names_written_when_conf_matches_the_broker) {
    char errstr[512];
    rill_conf_t *conf = rill_conf_new();
    rill_producer_t *p;
    int64_t end = -1;

    cr_assert_eq(auction_seed_categories(rill_broker_bootstrap_servers(broker), conf, "cats",
                                         errstr, sizeof(errstr)),
                 0, "%s", errstr);
    p = rill_producer_new(rill_broker_bootstrap_servers(broker), conf, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    cr_assert_eq(rill_producer_end_offset(p, "cats", 0, 5000, &end, errstr, sizeof(errstr)), 0,
                 "%s", errstr);
    cr_assert_eq(end, 5, "the five default names");
    rill_producer_destroy(p);
    rill_conf_destroy(conf);
}
