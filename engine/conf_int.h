/*
 * conf_int.h — internal view of rill_conf_t: typed getters for Rill's own settings and the
 * librdkafka configurations built from the pass-through properties.
 */
#ifndef RILL_CONF_INT_H
#define RILL_CONF_INT_H

#include "log_int.h"
#include "rill.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>

typedef enum rill__guarantee_e {
    RILL_GUARANTEE_AT_LEAST_ONCE = 0,
    RILL_GUARANTEE_EXACTLY_ONCE_V2 = 1
} rill__guarantee_t;

/* Which librdkafka client a configuration is built for. */
typedef enum rill__client_role_e {
    RILL_CLIENT_CONSUMER,
    RILL_CLIENT_PRODUCER,
    RILL_CLIENT_ADMIN
} rill__client_role_t;

/* Rill's own settings, parsed and validated. Filled by rill__conf_settings(). */
typedef struct rill__settings_s {
    const char *application_id;         /* required */
    const char *bootstrap_servers;      /* NULL or "": embedded broker */
    int num_stream_threads;             /* num.stream.threads, default 1 */
    int64_t commit_interval_ms;         /* default 30000, or 100 under exactly_once_v2 */
    rill__guarantee_t guarantee;        /* processing.guarantee */
    const char *state_dir;              /* state.dir, default "${TMPDIR:-/tmp}/rill-state-<uid>" */
    int replication_factor;             /* replication.factor, default -1 (broker default) */
    int errors_fatal;                   /* errors.tolerance=none → 1; all (default) → 0 */
    const char *dlq_topic;              /* errors.deadletterqueue.topic.name, default
                                           "<application.id>-dlq" (owned by conf) */
    int dlq_partitions;                 /* errors.deadletterqueue.topic.partitions, default 1 */
    const char *group_instance_id;      /* group.instance.id (static membership) or NULL;
                                           thread i uses "<id>-<i>" */
    int buffered_records_per_partition; /* pause a partition above it, default 1000 */
    int64_t max_task_idle_ms;           /* wait for an empty input not known to lag */
    int64_t progress_interval_ms;       /* progress.interval.ms: markers at most this often */
    int64_t alignment_ms;               /* event.time.alignment.ms (0: off) */
    int64_t idle_timeout_ms;            /* source.idle.timeout.ms */
    int partitioning_check;             /* partitioning.check=fail → 1 */
    int poll_ms;                        /* poll.ms: longest wait for records, default 100 */
    int64_t startup_broker_wait_ms;     /* how long the start waits for a broker to answer */
    int embedded_partitions;            /* embedded.broker.partitions: default partition count of
                                           topics auto-created on the embedded broker, default 4 */
    int faas_max_in_flight;             /* faas.max.in.flight: invocations in flight per process */
    int faas_max_connections;           /* faas.max.connections */
    int64_t cache_max_bytes;            /* statestore.cache.max.bytes */
    int64_t block_cache_bytes;          /* statestore.block.cache.bytes */
    int64_t write_buffer_bytes;         /* statestore.write.buffer.bytes */
    int max_write_buffers;              /* statestore.max.write.buffers */
    int exit_on_end;                    /* exit.on.end: drain and stop at the end of the input */
    int64_t exit_advance_ms;            /* exit.on.end.advance.ms */
    int log_level;                      /* log.level: a rill__log_level_t, default info */
    int lineage;                    /* lineage.enable: traceparent and rill.lineage on outputs */
    int lineage_max_bytes;          /* lineage.max.bytes: the chain's bound */
    const char *http_listen;        /* http.listen: host:port of the HTTP endpoint; NULL or "":
                                       none */
    const char *application_server; /* application.server: host:port other instances reach
                                       this one's HTTP endpoint at; NULL or "": derived */
    int query_proxy;                /* query.forward=proxy → 1 (redirect → 0) */
    int query_forward_timeout_ms;   /* query.forward.timeout.ms */
    int range_limit;                /* query.range.limit: rows of a range by default */
    int range_limit_max;            /* query.range.limit.max */
} rill__settings_t;

/*
 * Validates conf as a whole (application.id present, ...) and fills *out. Strings in *out are
 * owned by conf and live as long as it. Returns 0, or an error with a message in errstr.
 */
rill_err_t rill__conf_settings(rill_conf_t *conf, rill__settings_t *out, char *errstr,
                               size_t errstr_size);

/*
 * Builds a librdkafka configuration for role from the pass-through properties: unprefixed
 * ones go to every client, "consumer."/"producer."/"admin." ones to that client only (the
 * prefix removed). bootstrap.servers is set from bootstrap (not from conf), so an app can
 * point its clients at the embedded broker. Returns NULL with errstr on a bad property.
 *
 * The client's log lines go through Rill's logger (base/log_int.h), with conf's logger as
 * the opaque. A caller that sets an opaque of its own must give an object whose first member
 * is a `const rill__logger_t *` (checked with a static assertion where it is done): the log
 * callback reads the logger from there.
 */
rd_kafka_conf_t *rill__conf_kafka(const rill_conf_t *conf, rill__client_role_t role,
                                  const char *bootstrap, char *errstr, size_t errstr_size);

/* The logger of conf: application.id and log.level as set now; lives as long as conf. */
const rill__logger_t *rill__conf_logger(const rill_conf_t *conf);

/* Sets Rill's defaults for a consumer's properties (n name/value pairs) in kc, each only
 * where conf sets it neither as is nor with the "consumer." prefix. */
void rill__conf_consumer_defaults(const rill_conf_t *conf, rd_kafka_conf_t *kc,
                                  const char *const (*defaults)[2], size_t n);

/* Prints Rill's own configuration keys, what each accepts, its default and description, one
 * key per two lines (for --help). */
void rill__conf_print_keys(FILE *out);

/* Splits an http.listen value "host:port" ("[v6 address]:port" too) into host (brackets
 * removed) and port (0 to 65535). Returns 0, or -1 with what is wrong in why. */
int rill__listen_parse(const char *value, char *host, size_t host_size, int *port, char *why,
                       size_t why_size);

#endif
