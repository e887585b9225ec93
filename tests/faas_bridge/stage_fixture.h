/*
 * stage_fixture.h — what the FaaS bridge's unit tests that build a stage by hand (no broker,
 * no function) share: the teardown of the never-connected client whose topic handle their
 * input records name (the stage's own memory goes with rill__faas_stage_free_held()).
 *
 * DESIGN: header-only, since each test keeps its own fixture struct; only the teardown of
 * the Kafka handle is the same everywhere.
 */
#ifndef RILL_TEST_STAGE_FIXTURE_H
#define RILL_TEST_STAGE_FIXTURE_H

#include "faas_stage_int.h"

#include <stdlib.h>

/* Frees the client and topic handle and the app struct the fixture made. */
static inline void stage_fixture_kafka_free(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                                            rill_app_t *app) {
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(app);
}

#endif
