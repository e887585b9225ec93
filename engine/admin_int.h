/*
 * admin_int.h — the app's admin client: metadata look-ups and topic creation.
 */
#ifndef RILL_ADMIN_INT_H
#define RILL_ADMIN_INT_H

#include "engine_int.h"

/* Opens the admin client (a producer handle used for metadata and admin requests). */
rill_err_t rill__admin_open(rill_app_t *app, char *errstr, size_t errstr_size);
void rill__admin_close(rill_app_t *app);
/* Starts the embedded broker if needed and opens the admin client, then waits for a broker
 * to answer (startup.c); idempotent once it succeeded. */
rill_err_t rill__app_connect(rill_app_t *app, char *errstr, size_t errstr_size);

/* startup.c: waits up to startup.broker.wait.ms for a broker of a real Kafka to answer,
 * saying so every few seconds; RILL_ERR_KAFKA with "cannot reach any broker at ..." after. */
rill_err_t rill__app_await_broker(rill_app_t *app, char *errstr, size_t errstr_size);
/* startup.c: checks that every source, output and global table topic exists (real Kafka),
 * waiting as rill__app_await_broker while no broker answers; RILL_ERR_TOPOLOGY with one
 * message naming every missing topic. */
rill_err_t rill__app_check_topics(rill_app_t *app, char *errstr, size_t errstr_size);
/* The admin client's error callback (startup.c): keeps the reason of the last transport
 * error in app->broker_error. */
void rill__admin_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* rill_app_create_topic with topic configs: NULL-terminated name, value pairs (ignored by the
 * embedded broker). */
rill_err_t rill__app_create_topic_config(rill_app_t *app, const char *topic, int partitions,
                                         const char *const *configs, char *errstr,
                                         size_t errstr_size);

/* The partition count of a sub-topology's tasks: the largest of its source topics' (-1 when
 * none is known). Blocks on metadata; start-up only. */
int rill__app_sub_partitions(rill_app_t *app, int sub, char *errstr, size_t errstr_size);

/* limits.c: creates the dead-letter topic with a max.message.bytes that fits the largest
 * source record, and reads the limits of the dead-letter topic and of every sink's topic. */
rill_err_t rill__app_create_dlq(rill_app_t *app, char *errstr, size_t errstr_size);
rill_err_t rill__app_sink_limits(rill_app_t *app, char *errstr, size_t errstr_size);

/* Creates the repartition topics (repartition.c). */
rill_err_t rill__app_create_repartition_topics(rill_app_t *app, char *errstr, size_t errstr_size);

#endif
