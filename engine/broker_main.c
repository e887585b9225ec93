/*
 * broker_main.c — rill-broker: the embedded broker as a standalone process, for demos and
 * tests with several processes. Prints "bootstrap=<host:port,...>" on stdout, then serves
 * until SIGINT/SIGTERM.
 *
 *   rill-broker [--brokers N] [--topic NAME:PARTITIONS]...
 */
#include "rill.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    stop = sig;
}

static void usage(FILE *out) {
    fprintf(out, "usage: rill-broker [--brokers N] [--topic NAME:PARTITIONS]...\n"
                 "Runs Rill's embedded broker (librdkafka's mock cluster) on 127.0.0.1 and "
                 "prints its bootstrap address.\nIn memory only, about 5 MiB kept per "
                 "partition, transactions not faithful: for trying things out.\n");
}

int main(int argc, char **argv) {
    int brokers = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            brokers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--topic")) {
            fprintf(stderr, "rill-broker: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            i++;
        }
    }
    char errstr[256];
    rill_broker_t *broker = rill_broker_new(brokers, errstr, sizeof(errstr));
    if (!broker) {
        fprintf(stderr, "rill-broker: %s\n", errstr);
        return 1;
    }
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--topic"))
            continue;
        char name[256];
        int partitions = 1;
        const char *colon = strrchr(argv[++i], ':');
        size_t len = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
        snprintf(name, sizeof(name), "%.*s", (int)len, argv[i]);
        if (colon)
            partitions = atoi(colon + 1);
        if (rill_broker_create_topic(broker, name, partitions)) {
            fprintf(stderr, "rill-broker: cannot create topic \"%s\"\n", name);
            rill_broker_destroy(broker);
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("bootstrap=%s\n", rill_broker_bootstrap_servers(broker));
    fflush(stdout);
    while (!stop)
        pause();
    rill_broker_destroy(broker);
    return 0;
}
