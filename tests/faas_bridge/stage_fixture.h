/*
 * stage_fixture.h — what the FaaS bridge's unit tests that build a stage by hand (no broker,
 * no function) share: freeing the stage's ring and chunk and the never-connected client
 * whose topic handle their input records name.
 *
 * DESIGN: header-only, since each test keeps its own fixture struct; only the teardown of
 * the stage's memory and the Kafka handle is the same everywhere.
 */
#ifndef RILL_TEST_STAGE_FIXTURE_H
#define RILL_TEST_STAGE_FIXTURE_H

#include "faas_stage_int.h"

#include <stdlib.h>

/* Frees every slot still in st's ring, the ring and the current chunk. */
static inline void stage_fixture_free(rill__faas_stage_t *st) {
    for (uint64_t seq = st->head; seq < st->tail; seq++)
        rill__faas_slot_free(slot_at(st, seq));
    free(st->ring);
    st->ring = NULL;
    free(st->key_cells);
    st->key_cells = NULL;
    if (st->chunk && --st->chunk->refs == 0)
        free(st->chunk);
    st->chunk = NULL;
}

/* Frees the client and topic handle and the app struct the fixture made. */
static inline void stage_fixture_kafka_free(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                                            rill_app_t *app) {
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(app);
}

#endif
