/*
 * state_input.c — bench-state-input: writes the input of the state-store benchmarks before
 * the runs, so that the generator is not what is measured.
 *
 *   bench-state-input --bootstrap-servers HOST:PORT --topic T --records N --keys K
 *                     --base-ms MS [--key-order random|sequential (random)] [--seed S (42)]
 *
 * Record i has the key, value and timestamp state_bench.h defines: a 16-byte key of K
 * distinct ones (drawn by (S, i), or i % K with sequential), an 8-byte value, timestamp
 * MS + i. Keys are partitioned by murmur2 (rill_producer_send, partition -1). The same flags
 * write the same records. It exits non-zero unless every record is acknowledged.
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "state_bench.h"

#define FLUSH_TIMEOUT_MS 120000

typedef struct input_opts_s {
    const char *bootstrap;
    const char *topic;
    long records;
    long keys;
    long base_ms;
    long seed;
    sb_key_order_t order;
} input_opts_t;

static int parse_args(int argc, char **argv, input_opts_t *o) {
    *o = (input_opts_t){.records = -1, .keys = -1, .base_ms = -1, .seed = 42};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--bootstrap-servers"))
            o->bootstrap = v;
        else if (!strcmp(a, "--topic"))
            o->topic = v;
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(v);
        else if (!strcmp(a, "--keys"))
            o->keys = bench_parse_count(v);
        else if (!strcmp(a, "--base-ms"))
            o->base_ms = bench_parse_count(v);
        else if (!strcmp(a, "--seed"))
            o->seed = bench_parse_count(v);
        else if (!strcmp(a, "--key-order")) {
            if (sb_parse_key_order(v, &o->order))
                return -1;
        } else
            return -1;
    }
    return argc % 2 == 1 && o->bootstrap && o->topic && o->records > 0 && o->keys > 0 &&
                   o->base_ms > 0 && o->seed > 0
               ? 0
               : -1;
}

int main(int argc, char **argv) {
    input_opts_t o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: bench-state-input --bootstrap-servers HOST:PORT --topic T "
                        "--records N --keys K --base-ms MS [--key-order random|sequential] "
                        "[--seed S]\n");
        return 2;
    }
    char errstr[512], key[SB_KEY_BYTES];
    unsigned char value[SB_VALUE_BYTES];
    rill_producer_t *p = rill_producer_new(o.bootstrap, NULL, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "bench-state-input: %s\n", errstr);
        return 1;
    }
    double t0 = bench_now();
    for (long i = 0; i < o.records; i++) {
        sb_key(sb_key_index(o.order, o.seed, o.keys, i), key);
        rill_int64_encode(i, value);
        rill_err_t err = rill_producer_send(p, o.topic, -1, key, sizeof(key), value, sizeof(value),
                                            (int64_t)o.base_ms + i);
        if (err) {
            fprintf(stderr, "bench-state-input: record %ld: %s\n", i, rill_err2str(err));
            rill_producer_destroy(p);
            return 1;
        }
    }
    int rc = rill_producer_flush(p, FLUSH_TIMEOUT_MS, errstr, sizeof(errstr)) ? 1 : 0;
    if (rc)
        fprintf(stderr, "bench-state-input: %s\n", errstr);
    else
        printf("bench-state-input: wrote %ld records (%ld keys, %s, seed %ld, timestamps "
               "%ld + i ms) to %s in %.1f s\n",
               o.records, o.keys, o.order == SB_KEYS_RANDOM ? "random" : "sequential", o.seed,
               o.base_ms, o.topic, bench_now() - t0);
    rill_producer_destroy(p);
    return rc;
}
