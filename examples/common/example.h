/*
 * example.h — the main function both examples share: a Rill app's usual main (README, "A
 * topology") plus a short demo run when no broker is given.
 */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <rill.h>

/* Writes the demo's input with p (rill_producer_send). Returns 0, or -1 and a message in
 * err. */
typedef int (*example_input_cb)(rill_producer_t *p, char *err, size_t err_size);

typedef struct example_s {
    const char *app_id;        /* the app's application.id, also its messages' prefix */
    const char *const *topics; /* the demo's topics, NULL-terminated */
    int partitions;            /* how many partitions each of them gets */
    example_input_cb write_input;
} example_t;

/*
 * Runs topo as the app ex->app_id with the shared command line (rill_cli_parse: --describe,
 * --bootstrap-servers, --help...) and returns the exit code. With no --bootstrap-servers it
 * starts the embedded broker, creates ex->topics there, has ex->write_input write the demo's
 * input and stops once that is processed and every window closed (--drain). Its state lives
 * in a directory of its own, removed at the end (--state-dir overrides it): the embedded
 * broker keeps nothing after the run, so state kept from an earlier run would no longer
 * match its topics.
 */
int example_main(int argc, char **argv, rill_topology_t *topo, const example_t *ex);

#endif
