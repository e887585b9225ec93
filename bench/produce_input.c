/*
 * produce_input.c — bench-produce: writes the input of a throughput benchmark, before the
 * run, so that the generator is not what is measured.
 *
 *   bench-produce --bootstrap-servers HOST:PORT --topic T --records N
 *                 [--value-bytes B (100)] [--seed S (42)]
 *
 * Record i has key "k<i>" and a value of B printable bytes drawn from a generator seeded by
 * (S, i): the same flags write the same records, whatever the order of delivery. Keys are
 * partitioned by murmur2, as Kafka's Java clients and Rill's sinks do. Timestamps are the
 * time of writing. It exits non-zero unless every record is acknowledged.
 */
#include <rill.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"

#define MAX_VALUE_BYTES 65536
#define FLUSH_TIMEOUT_MS 120000

typedef struct gen_opts_s {
    const char *bootstrap;
    const char *topic;
    long records;
    long value_bytes;
    long seed;
} gen_opts_t;

static int parse_args(int argc, char **argv, gen_opts_t *o) {
    *o = (gen_opts_t){.records = -1, .value_bytes = 100, .seed = 42};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--bootstrap-servers"))
            o->bootstrap = v;
        else if (!strcmp(a, "--topic"))
            o->topic = v;
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(v);
        else if (!strcmp(a, "--value-bytes"))
            o->value_bytes = bench_parse_count(v);
        else if (!strcmp(a, "--seed"))
            o->seed = bench_parse_count(v);
        else
            return -1;
    }
    return argc % 2 == 1 && o->bootstrap && o->topic && o->records > 0 && o->value_bytes > 0 &&
                   o->value_bytes <= MAX_VALUE_BYTES && o->seed > 0
               ? 0
               : -1;
}

/* splitmix64: a well-mixed 64-bit sequence from any start, cheap enough not to matter. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills value[0..len) with printable bytes determined by (seed, i). */
static void make_value(char *value, long len, long seed, long i) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t state = ((uint64_t)seed << 40) ^ (uint64_t)i, r = 0;
    for (long b = 0; b < len; b++) {
        if (b % 10 == 0)
            r = splitmix64(&state);
        value[b] = alphabet[r & 63];
        r >>= 6;
    }
}

int main(int argc, char **argv) {
    gen_opts_t o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: bench-produce --bootstrap-servers HOST:PORT --topic T "
                        "--records N [--value-bytes B] [--seed S]\n");
        return 2;
    }
    char errstr[512], key[32], value[MAX_VALUE_BYTES];
    rill_producer_t *p = rill_producer_new(o.bootstrap, NULL, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "bench-produce: %s\n", errstr);
        return 1;
    }
    double t0 = bench_now();
    for (long i = 0; i < o.records; i++) {
        int klen = snprintf(key, sizeof(key), "k%ld", i);
        make_value(value, o.value_bytes, o.seed, i);
        rill_err_t err =
            rill_producer_send(p, o.topic, -1, key, (size_t)klen, value, (size_t)o.value_bytes, 0);
        if (err) {
            fprintf(stderr, "bench-produce: record %ld: %s\n", i, rill_err2str(err));
            rill_producer_destroy(p);
            return 1;
        }
    }
    int rc = rill_producer_flush(p, FLUSH_TIMEOUT_MS, errstr, sizeof(errstr)) ? 1 : 0;
    if (rc)
        fprintf(stderr, "bench-produce: %s\n", errstr);
    else
        printf("bench-produce: wrote %ld records (%ld-byte values, seed %ld) to %s in %.1f s\n",
               o.records, o.value_bytes, o.seed, o.topic, bench_now() - t0);
    rill_producer_destroy(p);
    return rc;
}
