/*
 * consumers.c — what the app's consumers share in their configuration: the isolation level
 * of the processing guarantee, the bounded pre-fetch, and the readers that are assigned
 * partitions outside the group (changelog restore, global tables).
 */
#include "engine_int.h"

#include <stdio.h>

const char *rill__isolation_level(const rill_app_t *app) {
    return app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2 ? "read_committed"
                                                                : "read_uncommitted";
}

void rill__consumer_prefetch_defaults(const rill_app_t *app, rd_kafka_conf_t *kc) {
    /* Bounded by bytes (librdkafka's 64 MiB per partition is most of a process's memory
     * with many partitions), not by a small record count: librdkafka 2.0.2 stops fetching a
     * partition for a fixed second once its queue passes either threshold (2.1 made that
     * fetch.queue.backoff.ms), so the queue must hold more than a second of processing. With
     * 10,000 records it capped a join at ~60k records/s on 4 partitions, a third of what it
     * reached with librdkafka's 100,000 (bench/RESULTS.md, global tables). */
    static const char *const defaults[][2] = {
        {"queued.min.messages", "100000"},
        {"queued.max.messages.kbytes", "16384"},
    };
    rill__conf_consumer_defaults(app->conf, kc, defaults, sizeof(defaults) / sizeof(defaults[0]));
}

rd_kafka_conf_t *rill__reader_conf(rill_app_t *app, const char *group_suffix, char *errstr,
                                   size_t errstr_size) {
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_CONSUMER, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return NULL;
    char group[300];
    snprintf(group, sizeof(group), "%s-%s", app->set.application_id, group_suffix);
    const char *props[][2] = {
        {"group.id", group}, /* required by librdkafka; never joined */
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},
        {"isolation.level", rill__isolation_level(app)},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, errstr_size)) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    return kc;
}
