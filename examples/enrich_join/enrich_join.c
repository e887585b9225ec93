/*
 * enrich_join.c — enriches orders with their customer's name: a stream–table join built only
 * on <rill.h> and linked with the installed librill (see Makefile and CMakeLists.txt here).
 *
 * "customers" is read as a table (key: customer id, value: name; the latest record of a key
 * is its row), "orders" as a stream keyed by customer id (value: what was ordered). Each
 * order meets its customer's current row (a left join: an order of an unknown customer goes
 * on without a name) and the result is printed and written to "orders-enriched". Both topics
 * must have as many partitions and be keyed alike, as for any join.
 *
 * With no --bootstrap-servers it runs on the embedded broker: it writes two customers and
 * four orders, joins them and stops once the input is done (--drain; ../common/example.c).
 * With a real Kafka it joins whatever arrives until Ctrl-C.
 *
 *   enrich_join [--describe] [common Rill flags, see --help]
 */
#include "../common/example.h"

#include <stdio.h>
#include <string.h>

/* "<order> for <name>", or "<order> for unknown customer <id>" when the order met no row. */
static int add_name(const rill_record_t *order, const rill_record_t *customer, rill_buf_t *out,
                    void *opaque) {
    static const char unknown[] = "unknown customer ";
    return rill_buf_append(out, order->value, order->value_len) ||
           rill_buf_append(out, " for ", 5) ||
           (customer ? rill_buf_append(out, customer->value, customer->value_len)
                     : rill_buf_append(out, unknown, sizeof(unknown) - 1) ||
                           rill_buf_append(out, order->key, order->key_len));
}

static void print_order(const rill_record_t *rec, void *opaque) {
    printf("enrich_join: %.*s: %.*s\n", (int)rec->key_len, (const char *)rec->key,
           (int)rec->value_len, (const char *)rec->value);
    fflush(stdout);
}

static rill_topology_t *build(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t text = {.key_serde = rill_serde_string(),
                               .value_serde = rill_serde_string()};
    rill_table_t *customers =
        rill_table_from(topo, "customers", "customers", &text, "customers-store");
    rill_stream_t *orders = rill_stream_from(topo, "orders", "orders", &text);
    rill_stream_t *enriched =
        rill_stream_table_join(orders, customers, "with-name", RILL_JOIN_LEFT, 0, add_name, NULL);
    rill_stream_to(rill_stream_peek(enriched, "print", print_order, NULL), "to-enriched",
                   "orders-enriched", NULL);
    return topo;
}

/* The demo's input on the embedded broker: customers first (earlier timestamps), then orders,
 * one of them by a customer nobody knows. */
static int write_input(rill_producer_t *p, char *err, size_t err_size) {
    static const struct {
        const char *topic, *key, *value;
    } input[] = {
        {"customers", "c1", "Ada"}, {"customers", "c2", "Grace"}, {"orders", "c1", "a book"},
        {"orders", "c2", "a lamp"}, {"orders", "c3", "a pen"},    {"orders", "c1", "tea"},
    };
    for (size_t i = 0; i < sizeof(input) / sizeof(input[0]); i++)
        if (rill_producer_send(p, input[i].topic, -1, input[i].key, strlen(input[i].key),
                               input[i].value, strlen(input[i].value),
                               INT64_C(1700000000000) + 1000 * (int64_t)i)) {
            snprintf(err, err_size, "cannot write to \"%s\"", input[i].topic);
            return -1;
        }
    return 0;
}

int main(int argc, char **argv) {
    /* A join's inputs need as many partitions each (co-partitioning). */
    static const char *const topics[] = {"customers", "orders", "orders-enriched", NULL};
    static const example_t ex = {"enrich-join", topics, 2, write_input};
    return example_main(argc, argv, build(), &ex);
}
