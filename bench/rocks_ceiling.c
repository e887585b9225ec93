/*
 * rocks_ceiling.c — bench-rocks-ceiling: the RocksDB ceiling of Rill's aggregations. Raw
 * batched puts of the workload's records, then a point get of each, through Rill's own
 * RocksDB layer (state/db_int.h) with no Kafka, no write cache and no changelog.
 *
 *   bench-rocks-ceiling --dir PATH --mode keyed|windowed --records N --keys K --base-ms MS
 *                       [--key-order random|sequential (random)] [--seed S (42)]
 *                       [--partitions P (4)] [--batch B (10000)]
 *                       [--block-cache-bytes (64 MiB)] [--write-buffer-bytes (8 MiB)]
 *                       [--max-write-buffers (2)] [--sort-batches]
 *
 * NOTE: this program is not a public-API program. It links librill (the static library) for
 * its internal RocksDB layer and includes "db_int.h" from state/ (bench/CMakeLists.txt adds
 * state/ and base/ to its include path): rill__db_open, rill__db_cf, write batches,
 * rill__db_get, and the key encoders rill__key_kv / rill__key_window. It therefore writes the
 * very bytes Rill's stores hold and reads them the way Rill does (one pinned point read, one
 * copy), on a database opened with the options every Rill store gets (state/rocks.c: shared
 * LRU block cache, partitioned index and bloom filters, the layer's write options), with the
 * sizes of Rill's defaults (statestore.block.cache.bytes, statestore.write.buffer.bytes,
 * statestore.max.write.buffers in engine/conf.c) unless the flags change them.
 *
 * Record i of the workload (state_bench.h: key k(i), partition murmur2(key) % P, timestamp
 * MS + i) becomes, in column family "counts":
 *   keyed     key   [partition][DATA][16-byte key]                          (21 bytes)
 *   windowed  key   [partition][DATA][segment][key length][16-byte key]
 *                   [window start]  (tumbling 10 s windows, 60 s segments)  (41 bytes)
 *   value     [timestamp 8][count 8] (16 bytes), as the count's stores hold (table_int.h)
 * so the number of distinct keys is K (keyed) or the number of distinct (key, window) pairs
 * (windowed), as in Rill's store (before window expiry, which the ceiling does not do).
 *
 * Phases, each timed alone (wall clock and the process's user+sys CPU, getrusage):
 *   put   N puts, applied every B puts as one write batch with rill__db_write, i.e. with the
 *         write options of Rill's stores: WAL on without fsync since 2a56f5c (WAL off before;
 *         the layer has no switch, so the ceiling always writes as Rill does)
 *         With --sort-batches each batch's puts are sorted by key first (the sort is timed
 *         with them): a diagnostic of how much of the put cost is the memtable skip list
 *         taking keys in random order (a restore writes changelog batches in that order).
 *   get   N point gets, one per record, in record order (every one must be found)
 *   close rill__db_close: flushes the memtables to SST files (not part of the ceiling)
 * The ceiling rate is N / (put + get) seconds, the pair of operations Rill's aggregation does
 * per record (a read of the key's aggregate, a write of the new one). Output: one RESULT line
 * (bench_common.h; prog=ceiling-<mode>, wall_s/cpu_s = put + get), then a PHASES line.
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "state_bench.h"

#define PROG "bench-rocks-ceiling"

typedef struct ceil_opts_s {
    const char *dir;
    int windowed;
    long records;
    long keys;
    long base_ms;
    long seed;
    long partitions;
    long batch;
    int sort_batches;
    sb_key_order_t order;
    rill__db_opts_t db;
} ceil_opts_t;

static int parse_args(int argc, char **argv, ceil_opts_t *o) {
    long v;
    *o = (ceil_opts_t){.records = -1,
                       .keys = -1,
                       .base_ms = -1,
                       .seed = 42,
                       .partitions = 4,
                       .batch = 10000,
                       .windowed = -1,
                       /* engine/conf.c's defaults of the statestore.* keys */
                       .db = {.block_cache_bytes = (size_t)64 << 20,
                              .write_buffer_bytes = (size_t)8 << 20,
                              .max_write_buffers = 2}};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--sort-batches")) {
            o->sort_batches = 1;
            i--; /* no value */
        } else if (i + 1 == argc)
            return -1;
        else if (!strcmp(a, "--dir"))
            o->dir = val;
        else if (!strcmp(a, "--mode"))
            o->windowed = !strcmp(val, "windowed") ? 1 : !strcmp(val, "keyed") ? 0 : -2;
        else if (!strcmp(a, "--records"))
            o->records = bench_parse_count(val);
        else if (!strcmp(a, "--keys"))
            o->keys = bench_parse_count(val);
        else if (!strcmp(a, "--base-ms"))
            o->base_ms = bench_parse_count(val);
        else if (!strcmp(a, "--seed"))
            o->seed = bench_parse_count(val);
        else if (!strcmp(a, "--partitions"))
            o->partitions = bench_parse_count(val);
        else if (!strcmp(a, "--batch"))
            o->batch = bench_parse_count(val);
        else if (!strcmp(a, "--key-order")) {
            if (sb_parse_key_order(val, &o->order))
                return -1;
        } else if (!strcmp(a, "--block-cache-bytes") && (v = bench_parse_count(val)) > 0)
            o->db.block_cache_bytes = (size_t)v;
        else if (!strcmp(a, "--write-buffer-bytes") && (v = bench_parse_count(val)) > 0)
            o->db.write_buffer_bytes = (size_t)v;
        else if (!strcmp(a, "--max-write-buffers") && (v = bench_parse_count(val)) > 0)
            o->db.max_write_buffers = (int)v;
        else
            return -1;
    }
    return o->dir && o->windowed >= 0 && o->records > 0 && o->keys > 0 && o->base_ms > 0 &&
                   o->seed > 0 && o->partitions > 0 && o->batch > 0
               ? 0
               : -1;
}

/* Writes record i's store key into out (reset first). Returns 0 or -1. */
static int record_key(const ceil_opts_t *o, long i, rill_buf_t *out) {
    char key[SB_KEY_BYTES];
    sb_key(sb_key_index(o->order, o->seed, o->keys, i), key);
    int32_t partition = sb_murmur2_partition(key, sizeof(key), (int32_t)o->partitions);
    rill_buf_reset(out);
    if (!o->windowed)
        return rill__key_kv(out, partition, key, sizeof(key));
    int64_t start = sb_window_start((int64_t)o->base_ms + i);
    return rill__key_window(out, partition, start / SB_SEGMENT_MS, key, sizeof(key), start);
}

/* A batch's puts kept aside to be sorted (--sort-batches): keys in one arena. */
typedef struct pending_s {
    size_t off, len;
    long i; /* the record, for its value */
} pending_t;

static const char *sort_arena; /* qsort's comparator takes no context */

static int pending_cmp(const void *a, const void *b) {
    const pending_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(sort_arena + x->off, sort_arena + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void record_value(const ceil_opts_t *o, long i, unsigned char value[16]) {
    rill__be64_put(value, (uint64_t)(o->base_ms + i));
    rill__be64_put(value + 8, (uint64_t)(i / o->keys + 1));
}

typedef struct phase_s {
    double wall, cpu;
} phase_t;

static void phase_begin(phase_t *p) {
    p->wall = bench_now();
    p->cpu = bench_cpu();
}

static void phase_end(phase_t *p) {
    p->wall = bench_now() - p->wall;
    p->cpu = bench_cpu() - p->cpu;
}

int main(int argc, char **argv) {
    ceil_opts_t o;
    char errstr[512];
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: " PROG " --dir PATH --mode keyed|windowed --records N --keys K "
                        "--base-ms MS [--key-order random|sequential] [--seed S] "
                        "[--partitions P] [--batch B] [--block-cache-bytes N] "
                        "[--write-buffer-bytes N] [--max-write-buffers N] [--sort-batches]\n");
        return 2;
    }
    rill__db_t *db = rill__db_open(o.dir, &o.db, errstr, sizeof(errstr));
    rill__cf_t *cf = db ? rill__db_cf(db, SB_STORE, errstr, sizeof(errstr)) : NULL;
    if (!cf) {
        fprintf(stderr, PROG ": %s: %s\n", o.dir, errstr);
        rill__db_close(db);
        return 1;
    }
    rill_buf_t key = {0}, got = {0};
    unsigned char value[16];
    rill__batch_t *b = rill__batch_new();
    phase_t put, get, close;
    long found = 0;
    int rc = 0;

    pending_t *pend = o.sort_batches ? malloc(sizeof(*pend) * (size_t)o.batch) : NULL;
    rill_buf_t arena = {0};
    long npend = 0;
    if (o.sort_batches && !pend) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }

    bench_mark_first(&marks);
    phase_begin(&put);
    for (long i = 0; i < o.records && !rc; i++) {
        if (record_key(&o, i, &key)) {
            fprintf(stderr, PROG ": cannot encode the key of record %ld\n", i);
            rc = -1;
            break;
        }
        if (o.sort_batches) {
            pend[npend++] = (pending_t){.off = arena.len, .len = key.len, .i = i};
            rill_buf_append(&arena, key.data, key.len);
        } else {
            record_value(&o, i, value);
            rill__batch_put(b, cf, key.data, key.len, value, sizeof(value));
        }
        if (npend >= o.batch || (long)rill__batch_count(b) >= o.batch || i + 1 == o.records) {
            if (o.sort_batches) {
                sort_arena = arena.data;
                qsort(pend, (size_t)npend, sizeof(*pend), pending_cmp);
                for (long j = 0; j < npend; j++) {
                    record_value(&o, pend[j].i, value);
                    rill__batch_put(b, cf, arena.data + pend[j].off, pend[j].len, value,
                                    sizeof(value));
                }
                npend = 0;
                rill_buf_reset(&arena);
            }
            rc = rill__db_write(db, b, errstr, sizeof(errstr));
            rill__batch_clear(b);
        }
    }
    phase_end(&put);
    free(pend);
    rill_buf_free(&arena);

    phase_begin(&get);
    for (long i = 0; i < o.records && !rc; i++) {
        if (record_key(&o, i, &key)) {
            rc = -1;
            break;
        }
        int r = rill__db_get(db, cf, key.data, key.len, &got, errstr, sizeof(errstr));
        if (r < 0)
            rc = -1;
        found += r == 1;
    }
    phase_end(&get);
    marks.t_last = bench_now();
    bench_mark_stop(&marks);

    size_t memory = rc ? 0 : rill__db_memory(db);
    rill__batch_destroy(b);
    rill_buf_free(&key);
    rill_buf_free(&got);
    phase_begin(&close);
    rill__db_close(db);
    phase_end(&close);
    if (rc) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return 1;
    }
    if (found != o.records) {
        fprintf(stderr, PROG ": only %ld of %ld gets found their key\n", found, o.records);
        return 1;
    }
    bench_print_result(o.windowed ? "ceiling-windowed" : "ceiling-keyed", o.records, &marks);
    printf("PHASES put_s=%.3f put_cpu_s=%.3f get_s=%.3f get_cpu_s=%.3f close_s=%.3f "
           "close_cpu_s=%.3f batch=%ld sorted=%d memory_bytes=%zu\n",
           put.wall, put.cpu, get.wall, get.cpu, close.wall, close.cpu, o.batch, o.sort_batches,
           memory);
    return 0;
}
