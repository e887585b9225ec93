/*
 * test_end_offset.c — rill_producer_end_offset() on a partition whose leader is not known
 * yet: the broker answers "Not leader for partition" (or "Leader not available") a few times,
 * as Kafka does for a topic just made or a leader moving, and the call must ask again within
 * its timeout instead of failing the caller's start. Other errors fail at once.
 *
 * The broker is librdkafka's mock cluster, made here (not the embedded broker) so that the
 * test can push errors onto its ListOffsets answers.
 */
#include <criterion/criterion.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <rill.h>

#include <stdio.h>
#include <string.h>

#define LIST_OFFSETS 2 /* the ListOffsets request's API key */

static rd_kafka_t *owner;
static rd_kafka_mock_cluster_t *cluster;

static void cluster_up(void) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)),
                 RD_KAFKA_CONF_OK);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    cr_assert_not_null(owner, "%s", errstr);
    cluster = rd_kafka_mock_cluster_new(owner, 1);
    cr_assert_not_null(cluster);
    cr_assert_eq(rd_kafka_mock_topic_create(cluster, "t", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void cluster_down(void) {
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
}

TestSuite(engine_end_offset, .init = cluster_up, .fini = cluster_down, .timeout = 60);

static rill_producer_t *producer(void) {
    char errstr[512];
    rill_producer_t *p =
        rill_producer_new(rd_kafka_mock_cluster_bootstraps(cluster), NULL, errstr, sizeof(errstr));
    cr_assert_not_null(p, "%s", errstr);
    return p;
}

Test(engine_end_offset, asks_again_while_the_partition_has_no_leader) {
    rill_producer_t *p = producer();
    char errstr[512] = "";
    int64_t end = -1;
    /* A first answer so that the client knows the partition, then the errors. */
    cr_assert_eq(rill_producer_end_offset(p, "t", 0, 10000, &end, errstr, sizeof(errstr)), RILL_OK,
                 "%s", errstr);
    rd_kafka_mock_push_request_errors(
        cluster, LIST_OFFSETS, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    end = -1;
    rill_err_t rc = rill_producer_end_offset(p, "t", 0, 10000, &end, errstr, sizeof(errstr));
    cr_assert_eq(rc, RILL_OK, "a partition without a leader for four answers: %s", errstr);
    cr_assert_eq(end, 0, "the end offset of an empty partition is 0, got %lld", (long long)end);
    rill_producer_destroy(p);
}

Test(engine_end_offset, fails_at_once_on_an_error_that_waiting_does_not_mend) {
    rill_producer_t *p = producer();
    char errstr[512] = "";
    int64_t end = -1;
    cr_assert_eq(rill_producer_end_offset(p, "t", 0, 10000, &end, errstr, sizeof(errstr)), RILL_OK,
                 "%s", errstr);
    /* Two: librdkafka asks for the start and the end offsets in separate requests. */
    rd_kafka_mock_push_request_errors(cluster, LIST_OFFSETS, 2,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    rill_err_t rc = rill_producer_end_offset(p, "t", 0, 10000, &end, errstr, sizeof(errstr));
    cr_assert_eq(rc, RILL_ERR_KAFKA, "an authorization failure must not be waited out");
    cr_assert(strstr(errstr, "end offset of t [0]") != NULL, "errstr names the partition: %s",
              errstr);
    rill_producer_destroy(p);
}
