/*
 * changelog_consume.c — bench-changelog-consume: the baseline of a store's restore. A plain
 * librdkafka consumer reads a topic (a store's changelog) from the beginning to its end, and
 * does nothing with the records; no Rill code is involved.
 *
 *   bench-changelog-consume --bootstrap-servers HOST:PORT --topic T
 *                           [--one-partition-at-a-time] [-X name=value ...] [--timeout-s S (600)]
 *
 * It reads the topic's partitions and their end offsets (high watermarks) first, assigns the
 * partitions from their beginning (no group is joined; group.id is set because librdkafka
 * asks for one, and nothing is committed) and polls until every partition's next offset has
 * reached its end. With --one-partition-at-a-time it reads them one after the other, as a
 * Rill stream thread restores its tasks' stores (state/restore.c), to tell the cost of that
 * order from the cost of Rill's own work. Configuration is librdkafka's default otherwise;
 * -X sets any librdkafka property (e.g. -X fetch.wait.max.ms=50, as Rill's restore consumer
 * has it: a fetch left waiting at a partition's end then holds the next assignment back for
 * 50 ms, not the default 500).
 *
 * It prints one RESULT line (bench_common.h, prog=consume): wall_s and cpu_s from the first
 * record to the last one (as bench-state-agg --restore-records times a restore), total_s from
 * the program's start.
 */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define PROG "bench-changelog-consume"
#define MAX_PARTITIONS 1024
#define METADATA_TIMEOUT_MS 10000

#define MAX_PROPS 32

typedef struct consume_opts_s {
    const char *props[MAX_PROPS]; /* -X name=value */
    int prop_cnt;
    const char *bootstrap;
    const char *topic;
    int one_at_a_time;
    long timeout_s;
} consume_opts_t;

static int parse_args(int argc, char **argv, consume_opts_t *o) {
    *o = (consume_opts_t){.timeout_s = 600};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--one-partition-at-a-time")) {
            o->one_at_a_time = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, PROG ": \"%s\" needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--bootstrap-servers"))
            o->bootstrap = v;
        else if (!strcmp(a, "--topic"))
            o->topic = v;
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = bench_parse_count(v);
        else if (!strcmp(a, "-X") && strchr(v, '=') && o->prop_cnt < MAX_PROPS)
            o->props[o->prop_cnt++] = v;
        else {
            fprintf(stderr, PROG ": unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    if (!o->bootstrap || !o->topic || o->timeout_s <= 0) {
        fprintf(stderr, "usage: " PROG " --bootstrap-servers HOST:PORT --topic T "
                        "[--one-partition-at-a-time] [-X name=value] [--timeout-s S]\n");
        return -1;
    }
    return 0;
}

static rd_kafka_t *consumer_new(const consume_opts_t *o) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", o->bootstrap},
        {"group.id", PROG}, /* required by librdkafka; never joined */
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr))) {
            fprintf(stderr, PROG ": %s=%s: %s\n", props[i][0], props[i][1], errstr);
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    for (int i = 0; i < o->prop_cnt; i++) {
        char name[256];
        const char *eq = strchr(o->props[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - o->props[i]), o->props[i]);
        if (rd_kafka_conf_set(kc, name, eq + 1, errstr, sizeof(errstr))) {
            fprintf(stderr, PROG ": -X %s: %s\n", o->props[i], errstr);
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, PROG ": rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The topic's partition count, or -1. */
static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    int n = -1;
    if (err)
        fprintf(stderr, PROG ": metadata of %s: %s\n", topic, rd_kafka_err2str(err));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        fprintf(stderr, PROG ": topic %s: %s\n", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Assigns partitions [from, to) from their low watermarks. */
static int assign(rd_kafka_t *rk, const char *topic, int from, int to, const int64_t *lo) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(to - from);
    for (int p = from; p < to; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo[p];
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        fprintf(stderr, PROG ": assign: %s\n", rd_kafka_err2str(err));
    return err ? -1 : 0;
}

int main(int argc, char **argv) {
    consume_opts_t o;
    if (parse_args(argc, argv, &o))
        return 2;
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    double deadline = marks.t_start + (double)o.timeout_s;
    rd_kafka_t *rk = consumer_new(&o);
    if (!rk)
        return 1;
    static int64_t lo[MAX_PARTITIONS], hi[MAX_PARTITIONS], next[MAX_PARTITIONS];
    int n = partition_count(rk, o.topic), rc = 0;
    long expected = 0, consumed = 0;
    if (n <= 0 || n > MAX_PARTITIONS)
        rc = -1;
    for (int p = 0; !rc && p < n; p++) {
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, o.topic, p, &lo[p], &hi[p], METADATA_TIMEOUT_MS);
        if (err) {
            fprintf(stderr, PROG ": watermarks of %s[%d]: %s\n", o.topic, p, rd_kafka_err2str(err));
            rc = -1;
        }
        next[p] = lo[p];
        expected += (long)(hi[p] - lo[p]);
    }
    /* Partition groups read one after the other: all at once, or one by one. */
    int step = o.one_at_a_time ? 1 : n;
    for (int from = 0; !rc && from < n; from += step) {
        int to = from + step < n ? from + step : n;
        if (assign(rk, o.topic, from, to, lo)) {
            rc = -1;
            break;
        }
        for (;;) {
            int done = 1;
            for (int p = from; p < to; p++)
                done &= next[p] >= hi[p];
            if (done)
                break;
            if (bench_now() >= deadline) {
                fprintf(stderr, PROG ": timed out after %ld s with %ld of %ld records\n",
                        o.timeout_s, consumed, expected);
                rc = -1;
                break;
            }
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
            if (!msg)
                continue;
            if (msg->err) {
                fprintf(stderr, PROG ": %s\n", rd_kafka_message_errstr(msg));
            } else if (msg->partition >= 0 && msg->partition < n) {
                if (!consumed++)
                    bench_mark_first(&marks);
                next[msg->partition] = msg->offset + 1;
            }
            rd_kafka_message_destroy(msg);
        }
    }
    if (!rc) {
        marks.t_last = bench_now();
        bench_mark_stop(&marks);
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_destroy(rk);
    if (rc)
        return 1;
    if (!consumed) {
        fprintf(stderr, PROG ": %s is empty\n", o.topic);
        return 1;
    }
    bench_print_result("consume", consumed, &marks);
    return 0;
}
