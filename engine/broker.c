/*
 * broker.c — the embedded broker: librdkafka's in-process mock cluster, so that an app runs
 * on a machine with no Kafka at all.
 *
 * DESIGN
 * The mock cluster lives inside a librdkafka handle created only to host it; it serves the
 * Kafka protocol on 127.0.0.1 ports from its own thread, so other processes can connect too.
 * Its limits are librdkafka's: data in memory only, about 5 MiB kept per partition (older
 * data is dropped), no CreateTopics (topics are created here with the mock's own call), and
 * transactions that do not isolate aborted records. It is for trying things out, not for
 * production.
 */
#include "rill.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rill_broker_s {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *cluster;
    char *bootstrap;
};

rill_broker_t *rill_broker_new(int broker_cnt, char *errstr, size_t errstr_size) {
    char scratch[16];
    if (!errstr) {
        errstr = scratch;
        errstr_size = sizeof(scratch);
    }
    rill_broker_t *broker = calloc(1, sizeof(*broker));
    if (!broker)
        return NULL;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
    broker->host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!broker->host) {
        rd_kafka_conf_destroy(kc);
        free(broker);
        return NULL;
    }
    broker->cluster = rd_kafka_mock_cluster_new(broker->host, broker_cnt > 0 ? broker_cnt : 1);
    if (!broker->cluster) {
        snprintf(errstr, errstr_size,
                 "the embedded broker (librdkafka mock cluster) did not "
                 "start");
        rill_broker_destroy(broker);
        return NULL;
    }
    broker->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(broker->cluster));
    return broker;
}

const char *rill_broker_bootstrap_servers(const rill_broker_t *broker) {
    return broker->bootstrap;
}

rill_err_t rill_broker_create_topic(rill_broker_t *broker, const char *topic, int partitions) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(broker->cluster, topic, partitions > 0 ? partitions : 1, 1);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return RILL_ERR_KAFKA;
    return RILL_OK;
}

void rill_broker_destroy(rill_broker_t *broker) {
    if (!broker)
        return;
    if (broker->cluster)
        rd_kafka_mock_cluster_destroy(broker->cluster);
    if (broker->host)
        rd_kafka_destroy(broker->host);
    free(broker->bootstrap);
    free(broker);
}
