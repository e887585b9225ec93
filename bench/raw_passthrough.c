/*
 * raw_passthrough.c — bench-raw-passthrough: the ceiling Rill's stateless pipelines are
 * judged against. A plain librdkafka consumer and producer copy records, key, value and
 * timestamp unchanged, from one topic to another; no Rill code is involved.
 *
 *   bench-raw-passthrough --bootstrap-servers HOST:PORT --input T --output T --group G
 *                         --records N [--commit-interval-ms MS] [--timeout-s S]
 *
 * It stops after N records are consumed, their copies delivered and the offsets committed,
 * and prints one RESULT line (bench_common.h).
 *
 * DESIGN
 * The clients are configured as a Rill stream thread configures its own under
 * at_least_once, so that the difference measured is Rill's, not the configuration's:
 *  - consumer: group.id, enable.auto.commit=false, enable.auto.offset.store=false, the range
 *    assignor, read_uncommitted, auto.offset.reset=earliest, no partition EOF events;
 *  - producer: idempotent, murmur2_random partitioner, librdkafka's default linger and
 *    queue sizes (Rill leaves them alone too), payloads copied (RD_KAFKA_MSG_F_COPY);
 *  - commit: every commit.interval.ms (Rill's default, 30000) and at the end, each time
 *    after a producer flush and a check that every output was delivered, then a synchronous
 *    commit of each partition's next offset.
 * Delivery reports are served every 1024 records, as a Rill stream thread serves them once
 * per loop of up to 1024 polled records. One thread does everything, as one Rill stream
 * thread does.
 */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define MAX_PARTITIONS 1024
#define SERVE_EVERY 1024
#define FLUSH_TIMEOUT_MS 60000

typedef struct raw_opts_s {
    const char *bootstrap;
    const char *input;
    const char *output;
    const char *group;
    long records;
    long commit_interval_ms;
    long timeout_s;
} raw_opts_t;

typedef struct raw_s {
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out_rkt;
    const raw_opts_t *opts;
    int64_t next_offset[MAX_PARTITIONS]; /* next offset to commit, -1: nothing consumed */
    int64_t committed[MAX_PARTITIONS];   /* last committed, -1: none */
    long delivery_errors;
    char delivery_error[256];
} raw_t;

static void usage(void) {
    fprintf(stderr, "usage: bench-raw-passthrough --bootstrap-servers HOST:PORT --input TOPIC "
                    "--output TOPIC --group GROUP --records N [--commit-interval-ms MS] "
                    "[--timeout-s S]\n");
}

static int parse_args(int argc, char **argv, raw_opts_t *o) {
    *o = (raw_opts_t){.commit_interval_ms = 30000, .timeout_s = 600, .records = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench-raw-passthrough: \"%s\" needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--bootstrap-servers"))
            o->bootstrap = v;
        else if (!strcmp(a, "--input"))
            o->input = v;
        else if (!strcmp(a, "--output"))
            o->output = v;
        else if (!strcmp(a, "--group"))
            o->group = v;
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(v);
        else if (!strcmp(a, "--commit-interval-ms"))
            o->commit_interval_ms = bench_parse_count(v);
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = bench_parse_count(v);
        else {
            fprintf(stderr, "bench-raw-passthrough: unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    if (!o->bootstrap || !o->input || !o->output || !o->group || o->records <= 0 ||
        o->commit_interval_ms <= 0 || o->timeout_s <= 0) {
        fprintf(stderr, "bench-raw-passthrough: missing or bad argument\n");
        return -1;
    }
    return 0;
}

/* Sets name=value or prints why not; returns 0 or -1. */
static int conf_set(rd_kafka_conf_t *kc, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(kc, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    fprintf(stderr, "bench-raw-passthrough: %s=%s: %s\n", name, value, errstr);
    return -1;
}

/* Called from rd_kafka_poll()/rd_kafka_flush() on the main thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    raw_t *raw = opaque;
    if (msg->err && !raw->delivery_errors++)
        snprintf(raw->delivery_error, sizeof(raw->delivery_error), "delivery to %s failed: %s",
                 rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *kc) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, kc, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench-raw-passthrough: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(kc);
    }
    return rk;
}

static rd_kafka_t *consumer_new(const raw_opts_t *o) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", o->bootstrap},
        {"group.id", o->group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"partition.assignment.strategy", "range"},
        {"isolation.level", "read_uncommitted"},
        {"enable.partition.eof", "false"},
        {"auto.offset.reset", "earliest"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (conf_set(kc, props[i][0], props[i][1])) {
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, kc);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

static rd_kafka_t *producer_new(raw_t *raw) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (conf_set(kc, "bootstrap.servers", raw->opts->bootstrap) ||
        conf_set(kc, "partitioner", "murmur2_random") ||
        conf_set(kc, "enable.idempotence", "true")) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_conf_set_opaque(kc, raw);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    return client_new(RD_KAFKA_PRODUCER, kc);
}

static int subscribe(raw_t *raw) {
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, raw->opts->input, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(raw->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err)
        fprintf(stderr, "bench-raw-passthrough: subscribe: %s\n", rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* Copies msg to the output topic, waiting while the local queue is full. */
static int produce(raw_t *raw, const rd_kafka_message_t *msg) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            raw->producer, RD_KAFKA_V_RKT(raw->out_rkt),
            RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(msg->key, msg->key_len), RD_KAFKA_V_VALUE(msg->payload, msg->len),
            RD_KAFKA_V_TIMESTAMP(rd_kafka_message_timestamp(msg, NULL)), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench-raw-passthrough: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(raw->producer, 10);
    }
}

/* Flushes the producer, checks deliveries, then commits the offsets that moved. */
static int commit(raw_t *raw) {
    rd_kafka_resp_err_t err = rd_kafka_flush(raw->producer, FLUSH_TIMEOUT_MS);
    if (err || raw->delivery_errors) {
        fprintf(stderr, "bench-raw-passthrough: outputs not delivered: %s\n",
                raw->delivery_errors ? raw->delivery_error : rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
    for (int p = 0; p < MAX_PARTITIONS; p++)
        if (raw->next_offset[p] > raw->committed[p])
            rd_kafka_topic_partition_list_add(offsets, raw->opts->input, p)->offset =
                raw->next_offset[p];
    err = offsets->cnt ? rd_kafka_commit(raw->consumer, offsets, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err) {
        fprintf(stderr, "bench-raw-passthrough: commit: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    for (int p = 0; p < MAX_PARTITIONS; p++)
        raw->committed[p] = raw->next_offset[p];
    return 0;
}

/* Consumes until opts->records are copied or the deadline passes. Returns 0 or -1. */
static int copy_loop(raw_t *raw, bench_marks_t *marks) {
    const raw_opts_t *o = raw->opts;
    double deadline = marks->t_start + (double)o->timeout_s;
    double next_commit = marks->t_start + (double)o->commit_interval_ms / 1000.0;
    long consumed = 0;
    while (consumed < o->records) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(raw->consumer, 100);
        if (msg && msg->err) {
            fprintf(stderr, "bench-raw-passthrough: consumer: %s\n", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            msg = NULL;
        } else if (msg) {
            if (msg->partition < 0 || msg->partition >= MAX_PARTITIONS || produce(raw, msg)) {
                rd_kafka_message_destroy(msg);
                return -1;
            }
            if (!consumed++)
                bench_mark_first(marks);
            raw->next_offset[msg->partition] = msg->offset + 1;
            rd_kafka_message_destroy(msg);
        }
        if (!msg || consumed % SERVE_EVERY == 0) {
            rd_kafka_poll(raw->producer, 0);
            double now = bench_now();
            if (now >= deadline) {
                fprintf(stderr,
                        "bench-raw-passthrough: timed out after %ld s with %ld of %ld "
                        "records\n",
                        o->timeout_s, consumed, o->records);
                return -1;
            }
            if (now >= next_commit) {
                if (commit(raw))
                    return -1;
                next_commit = bench_now() + (double)o->commit_interval_ms / 1000.0;
            }
        }
    }
    marks->t_last = bench_now();
    return 0;
}

int main(int argc, char **argv) {
    raw_opts_t opts;
    if (parse_args(argc, argv, &opts)) {
        usage();
        return 2;
    }
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    raw_t *raw = calloc(1, sizeof(*raw));
    if (!raw)
        return 1;
    raw->opts = &opts;
    for (int p = 0; p < MAX_PARTITIONS; p++)
        raw->next_offset[p] = raw->committed[p] = -1;
    int rc = 1;
    if (!(raw->producer = producer_new(raw)) || !(raw->consumer = consumer_new(&opts)) ||
        !(raw->out_rkt = rd_kafka_topic_new(raw->producer, opts.output, NULL)) || subscribe(raw))
        goto out;
    /* The clean stop, as Rill's: last flush and commit, leave the group, destroy. */
    if (copy_loop(raw, &marks) == 0 && commit(raw) == 0)
        rc = 0;
    rd_kafka_consumer_close(raw->consumer);
out:
    if (raw->out_rkt)
        rd_kafka_topic_destroy(raw->out_rkt);
    if (raw->consumer)
        rd_kafka_destroy(raw->consumer);
    if (raw->producer)
        rd_kafka_destroy(raw->producer);
    if (rc == 0) {
        bench_mark_stop(&marks);
        bench_print_result("raw", opts.records, &marks);
    }
    free(raw);
    return rc;
}
