/*
 * dlq_writer_int.h — dead letters from outside the stream threads (the global tables'
 * reader): records sent to the dead-letter topic with the same headers and size limit as a
 * stream thread's (rill__dlq_letter), through a plain producer made on first use.
 *
 * DESIGN
 * A stream thread's dead letters go through its own producer, inside its transaction under
 * exactly-once. A reader that belongs to no task has no such producer and commits nothing to
 * Kafka; what it must know is that its dead letters are durable before it records that it is
 * past them, so the writer offers a sync that flushes and reports any failed delivery.
 */
#ifndef RILL_DLQ_WRITER_INT_H
#define RILL_DLQ_WRITER_INT_H

#include "engine_int.h"

typedef struct rill__dlq_writer_s {
    const rill__logger_t *log; /* first: the producer's opaque (conf_int.h) */
    rill_app_t *app;
    const char *node;     /* what the rill.error.node header names */
    rd_kafka_t *producer; /* made on first use */
    rd_kafka_topic_t *rkt;
    bool pending; /* records produced since the last sync */
    int failed;   /* a delivery failed (set by the delivery callback, atomic) */
} rill__dlq_writer_t;

/* A writer for app whose dead letters name node (borrowed). Makes no client yet. */
void rill__dlq_writer_init(rill__dlq_writer_t *w, rill_app_t *app, const char *node);
/* Sends src to the dead-letter topic with reason. Under errors.tolerance=none it sends
 * nothing, stops the app and returns -1 with the reason in errstr. 0, or -1 with errstr. */
int rill__dlq_write(rill__dlq_writer_t *w, const rill__dlq_src_t *src, const char *reason,
                    char *errstr, size_t errstr_size);
/* Waits until what was sent is delivered. 0, or -1 with errstr when a record was not. */
int rill__dlq_writer_sync(rill__dlq_writer_t *w, char *errstr, size_t errstr_size);
/* Flushes (bounded) and frees the producer. */
void rill__dlq_writer_close(rill__dlq_writer_t *w);
/* Serves the producer's delivery reports without waiting. */
void rill__dlq_writer_poll(rill__dlq_writer_t *w);

#endif
