/*
 * test_rocks.c — unit tests of the RocksDB layer (state/rocks.c) on a real database in a
 * temporary directory: reads and writes, batch atomicity, bounded iterators, dropping
 * expired window segments with one range delete, reopening, the memory bound, and what a
 * crash without the WAL leaves behind. No broker.
 */
#define _GNU_SOURCE /* nftw */
#include <criterion/criterion.h>

#include "db_int.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEGMENT_MS 1000

static char dir[4096];
static char errstr[512];

static void setup(void) {
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/rill_test_rocks_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
    errstr[0] = '\0';
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(state_rocks, .init = setup, .fini = teardown);

/* The database under dir/name with opts (NULL: defaults); fails the test on an error. */
static rill__db_t *open_db(const char *name, const rill__db_opts_t *opts) {
    char path[4200];
    rill__db_t *db;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    db = rill__db_open(path, opts, errstr, sizeof(errstr));
    cr_assert_not_null(db, "open %s: %s", path, errstr);
    return db;
}

static rill__cf_t *cf_of(rill__db_t *db, const char *name) {
    rill__cf_t *cf = rill__db_cf(db, name, errstr, sizeof(errstr));

    cr_assert_not_null(cf, "cf %s: %s", name, errstr);
    return cf;
}

static void write_batch(rill__db_t *db, rill__batch_t *b) {
    cr_assert_eq(rill__db_write(db, b, errstr, sizeof(errstr)), 0, "write: %s", errstr);
}

/* Returns get's result for the string key and checks the value when expect is not NULL. */
static int get_str(rill__db_t *db, rill__cf_t *cf, const char *key, const char *expect) {
    rill_buf_t out = {0};
    int rc = rill__db_get(db, cf, key, strlen(key), &out, errstr, sizeof(errstr));

    cr_assert_neq(rc, -1, "get %s: %s", key, errstr);
    if (rc == 1 && expect) {
        cr_assert_eq(out.len, strlen(expect), "value of %s", key);
        cr_assert_arr_eq(out.data, expect, out.len, "value of %s", key);
    }
    rill_buf_free(&out);
    return rc;
}

static void put_str(rill__batch_t *b, rill__cf_t *cf, const char *key, const char *value) {
    rill__batch_put(b, cf, key, strlen(key), value, strlen(value));
}

Test(state_rocks, get_returns_the_value_when_put_and_nothing_when_deleted) {
    rill__db_t *db = open_db("db", NULL);
    rill__cf_t *cf = cf_of(db, "kv");
    rill__batch_t *b = rill__batch_new();

    cr_assert_eq(get_str(db, cf, "k1", NULL), 0);
    put_str(b, cf, "k1", "v1");
    put_str(b, cf, "k2", "");
    write_batch(db, b);
    cr_assert_eq(get_str(db, cf, "k1", "v1"), 1);
    cr_assert_eq(get_str(db, cf, "k2", ""), 1);
    cr_assert_eq(get_str(db, cf, "k3", NULL), 0);

    rill__batch_clear(b);
    put_str(b, cf, "k1", "v1bis");
    rill__batch_delete(b, cf, "k2", 2);
    write_batch(db, b);
    cr_assert_eq(get_str(db, cf, "k1", "v1bis"), 1);
    cr_assert_eq(get_str(db, cf, "k2", NULL), 0);
    /* Another store's column family does not see these keys. */
    cr_assert_eq(get_str(db, cf_of(db, "other"), "k1", NULL), 0);
    cr_assert_eq(cf_of(db, "kv"), cf, "a store's column family is created once");

    rill__batch_destroy(b);
    rill__db_close(db);
}

Test(state_rocks, batch_applies_every_record_when_written_and_none_before) {
    rill__db_t *db = open_db("db", NULL);
    rill__cf_t *data = cf_of(db, "data"), *meta = cf_of(db, "meta");
    rill__batch_t *b = rill__batch_new();
    char key[32], value[32];

    for (int round = 0; round < 3; round++) {
        rill__batch_clear(b);
        cr_assert_eq(rill__batch_count(b), 0);
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "r%d-k%04d", round, i);
            snprintf(value, sizeof(value), "v%d", i);
            put_str(b, data, key, value);
        }
        snprintf(value, sizeof(value), "%d", round);
        put_str(b, meta, "offset", value);
        cr_assert_eq(rill__batch_count(b), 1001);
        snprintf(key, sizeof(key), "r%d-k0999", round);
        cr_assert_eq(get_str(db, data, key, NULL), 0, "nothing is visible before the write");
        write_batch(db, b);
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "r%d-k%04d", round, i);
            snprintf(value, sizeof(value), "v%d", i);
            cr_assert_eq(get_str(db, data, key, value), 1, "round %d key %d", round, i);
        }
        snprintf(value, sizeof(value), "%d", round);
        cr_assert_eq(get_str(db, meta, "offset", value), 1);
    }
    rill__batch_destroy(b);
    rill__db_close(db);
}

/* Collects the keys an iterator yields as "k00,k01,..." into out. */
static void collect(rill__iter_t *it, char *out, size_t out_size) {
    size_t used = 0;

    out[0] = '\0';
    for (; rill__iter_valid(it); rill__iter_next(it)) {
        size_t len;
        const char *k = rill__iter_key(it, &len);
        used +=
            (size_t)snprintf(out + used, out_size - used, "%s%.*s", used ? "," : "", (int)len, k);
        cr_assert_lt(used, out_size);
    }
    cr_assert_eq(rill__iter_error(it, errstr, sizeof(errstr)), 0, "iterator: %s", errstr);
}

Test(state_rocks, iterator_yields_only_keys_in_bounds_when_scanned_or_seeked) {
    rill__db_t *db = open_db("db", NULL);
    rill__cf_t *cf = cf_of(db, "kv");
    rill__batch_t *b = rill__batch_new();
    char key[8], lo[8] = "k03", hi[8] = "k07", got[256];
    rill__iter_t *it;
    size_t len;

    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        put_str(b, cf, key, "v");
    }
    put_str(b, cf, "k03", "three");
    write_batch(db, b);

    it = rill__db_iter(db, cf, lo, 3, hi, 3);
    cr_assert_not_null(it);
    strcpy(lo, "zz"); /* the bounds were copied */
    strcpy(hi, "aa");
    cr_assert(rill__iter_valid(it));
    cr_assert_arr_eq(rill__iter_value(it, &len), "three", 5);
    cr_assert_eq(len, 5);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k03,k04,k05,k06");

    rill__iter_seek(it, "k05", 3);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k05,k06");
    rill__iter_seek(it, "k045", 4);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k05,k06");
    rill__iter_seek(it, "a", 1);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k03,k04,k05,k06", "a seek below lo starts at lo");
    rill__iter_seek(it, "k07", 3);
    cr_assert_not(rill__iter_valid(it), "a seek at hi finds nothing");
    cr_assert_eq(rill__iter_error(it, errstr, sizeof(errstr)), 0);
    rill__iter_destroy(it);

    it = rill__db_iter(db, cf, NULL, 0, "k02", 3);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k00,k01");
    rill__iter_destroy(it);
    it = rill__db_iter(db, cf, "k08", 3, NULL, 0);
    collect(it, got, sizeof(got));
    cr_assert_str_eq(got, "k08,k09");
    rill__iter_destroy(it);
    it = rill__db_iter(db, cf, "k05", 3, "k05", 3);
    cr_assert_not(rill__iter_valid(it), "[x, x) is empty");
    rill__iter_destroy(it);

    rill__batch_destroy(b);
    rill__db_close(db);
}

/* Puts 5 window records into each segment 0..9 of partitions 0 and 1. */
static void put_windows(rill__db_t *db, rill__cf_t *cf) {
    rill__batch_t *b = rill__batch_new();
    rill_buf_t k = {0};

    for (int32_t p = 0; p < 2; p++) {
        for (int64_t seg = 0; seg < 10; seg++) {
            for (int j = 0; j < 5; j++) {
                char key[8];
                snprintf(key, sizeof(key), "user%d", j);
                rill_buf_reset(&k);
                cr_assert_eq(
                    rill__key_window(&k, p, seg, key, strlen(key), seg * SEGMENT_MS + j * 100), 0);
                rill__batch_put(b, cf, k.data, k.len, "1", 1);
            }
        }
    }
    write_batch(db, b);
    rill_buf_free(&k);
    rill__batch_destroy(b);
}

Test(state_rocks, range_delete_drops_only_the_expired_segments_when_of_one_partition) {
    rill__db_t *db = open_db("db", NULL);
    rill__cf_t *cf = cf_of(db, "windows");
    rill__batch_t *b = rill__batch_new();
    rill_buf_t lo = {0}, hi = {0};
    int count[2][10] = {{0}};
    rill__iter_t *it;

    put_windows(db, cf);
    cr_assert_eq(rill__key_segment_bound(&lo, 1, 0), 0);
    cr_assert_eq(rill__key_segment_bound(&hi, 1, 4), 0);
    rill__batch_delete_range(b, cf, lo.data, lo.len, hi.data, hi.len);
    cr_assert_eq(rill__batch_count(b), 1, "one range tombstone");
    write_batch(db, b);

    it = rill__db_iter(db, cf, NULL, 0, NULL, 0);
    for (; rill__iter_valid(it); rill__iter_next(it)) {
        size_t len;
        const void *k = rill__iter_key(it, &len);
        int32_t p;
        int64_t seg, start;
        cr_assert_eq(rill__key_window_parse(k, len, &p, &seg, NULL, NULL, &start), 0);
        cr_assert(p >= 0 && p < 2 && seg >= 0 && seg < 10);
        cr_assert_eq(start / SEGMENT_MS, seg);
        count[p][seg]++;
    }
    cr_assert_eq(rill__iter_error(it, errstr, sizeof(errstr)), 0);
    rill__iter_destroy(it);
    for (int p = 0; p < 2; p++)
        for (int seg = 0; seg < 10; seg++)
            cr_assert_eq(count[p][seg], p == 1 && seg < 4 ? 0 : 5, "partition %d segment %d", p,
                         seg);

    /* A scan of partition 1 from segment 0 starts at segment 4. */
    it = rill__db_iter(db, cf, lo.data, lo.len, NULL, 0);
    cr_assert(rill__iter_valid(it));
    {
        size_t len;
        const void *k = rill__iter_key(it, &len);
        int32_t p;
        int64_t seg;
        cr_assert_eq(rill__key_window_parse(k, len, &p, &seg, NULL, NULL, NULL), 0);
        cr_assert_eq(p, 1);
        cr_assert_eq(seg, 4);
    }
    rill__iter_destroy(it);

    rill_buf_free(&lo);
    rill_buf_free(&hi);
    rill__batch_destroy(b);
    rill__db_close(db);
}

Test(state_rocks, data_and_column_families_survive_when_closed_and_reopened) {
    rill__db_opts_t opts = {
        .block_cache_bytes = 8 << 20, .write_buffer_bytes = 1 << 20, .max_write_buffers = 2};
    rill__db_t *db = open_db("app/db", &opts); /* parents are created too */
    rill__batch_t *b = rill__batch_new();
    size_t one_cf = (size_t)opts.max_write_buffers * opts.write_buffer_bytes;

    cr_assert_eq(rill__db_memory_bound(db), opts.block_cache_bytes + one_cf, "default cf");
    put_str(b, cf_of(db, "counts"), "alice", "3");
    put_str(b, cf_of(db, "windows"), "bob", "4");
    write_batch(db, b);
    cr_assert_eq(rill__db_memory_bound(db), opts.block_cache_bytes + 3 * one_cf);
    rill__db_close(db);

    db = open_db("app/db", &opts);
    cr_assert_eq(rill__db_memory_bound(db), opts.block_cache_bytes + 3 * one_cf,
                 "every column family is opened again");
    cr_assert_eq(get_str(db, cf_of(db, "counts"), "alice", "3"), 1);
    cr_assert_eq(get_str(db, cf_of(db, "windows"), "bob", "4"), 1);
    cr_assert_eq(get_str(db, cf_of(db, "counts"), "bob", NULL), 0);
    cr_assert_eq(rill__db_memory_bound(db), opts.block_cache_bytes + 3 * one_cf,
                 "no column family is created twice");
    rill__batch_destroy(b);
    rill__db_close(db);
}

typedef struct cf_race_s {
    rill__db_t *db;
    rill__cf_t *got[8];
    int failed;
} cf_race_t;

/* Asks for 8 stores in a thread-dependent order. */
static void *cf_race_thread(void *arg) {
    cf_race_t *race = arg;
    char err[256];

    for (int i = 0; i < 8; i++) {
        int n = (int)(((uintptr_t)race + (uintptr_t)i * 5) % 8);
        char name[16];
        snprintf(name, sizeof(name), "store%d", n);
        race->got[n] = rill__db_cf(race->db, name, err, sizeof(err));
        race->failed |= race->got[n] == NULL;
    }
    return NULL;
}

Test(state_rocks, threads_get_the_same_column_family_when_asking_at_once) {
    rill__db_t *db = open_db("db", NULL);
    cf_race_t races[4];
    pthread_t threads[4];

    for (int t = 0; t < 4; t++) {
        memset(&races[t], 0, sizeof(races[t]));
        races[t].db = db;
        cr_assert_eq(pthread_create(&threads[t], NULL, cf_race_thread, &races[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        cr_assert_not(races[t].failed);
        for (int i = 0; i < 8; i++)
            cr_assert_eq(races[t].got[i], races[0].got[i], "store%d differs", i);
    }
    /* default + 8 stores, each created once, with the default sizes. */
    cr_assert_eq(rill__db_memory_bound(db), ((size_t)64 << 20) + 9 * 2 * ((size_t)8 << 20));
    rill__db_close(db);
}

Test(state_rocks, open_fails_with_rocksdb_message_when_the_path_is_a_file) {
    char path[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/file", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_null(rill__db_open(path, NULL, errstr, sizeof(errstr)));
    cr_assert_neq(errstr[0], '\0');
    cr_log_info("open on a file: %s", errstr);
}

/* A cheap deterministic byte stream for values that do not compress to nothing. */
static uint64_t fill(unsigned char *p, size_t n, uint64_t x) {
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    return x;
}

Test(state_rocks, memory_stays_within_the_bound_when_writing_more_than_it_holds) {
    enum { N_CF = 4, VALUE = 1000, RECORDS = 50000, BATCH = 500 };
    rill__db_opts_t opts = {
        .block_cache_bytes = 16 << 20, .write_buffer_bytes = 4 << 20, .max_write_buffers = 2};
    rill__db_t *db = open_db("db", &opts);
    rill__cf_t *cfs[N_CF];
    rill__batch_t *b = rill__batch_new();
    unsigned char value[VALUE];
    rill_buf_t k = {0}, out = {0};
    uint64_t x = 88172645463325252u;
    size_t peak = 0, bound, margin;

    for (int c = 0; c < N_CF; c++) {
        char name[16];
        snprintf(name, sizeof(name), "store%d", c);
        cfs[c] = cf_of(db, name);
    }
    bound = rill__db_memory_bound(db);
    margin = bound / 20;
    cr_assert_eq(bound, (size_t)(16 << 20) + (N_CF + 1) * 2 * (size_t)(4 << 20));
    for (int i = 0; i < RECORDS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%08d", i);
        rill_buf_reset(&k);
        cr_assert_eq(rill__key_kv(&k, i % 3, key, 8), 0);
        x = fill(value, sizeof(value), x);
        rill__batch_put(b, cfs[i % N_CF], k.data, k.len, value, sizeof(value));
        if ((i + 1) % BATCH == 0) {
            write_batch(db, b);
            rill__batch_clear(b);
            /* Read back older records so that data blocks go through the cache too. */
            for (int r = 0; r < 50; r++) {
                int j = (int)((uint64_t)fill(value, 1, x + (uint64_t)r) % (uint64_t)(i + 1));
                snprintf(key, sizeof(key), "%08d", j);
                rill_buf_reset(&k);
                rill__key_kv(&k, j % 3, key, 8);
                cr_assert_eq(
                    rill__db_get(db, cfs[j % N_CF], k.data, k.len, &out, errstr, sizeof(errstr)), 1,
                    "record %d: %s", j, errstr);
            }
            size_t used = rill__db_memory(db);
            if (used > peak)
                peak = used;
        }
    }
    /* Then read everything back in a scattered order: the block cache fills to capacity. */
    for (int i = 0; i < RECORDS; i++) {
        int j = (int)(((uint64_t)i * 7919u) % RECORDS);
        char key[16];
        snprintf(key, sizeof(key), "%08d", j);
        rill_buf_reset(&k);
        rill__key_kv(&k, j % 3, key, 8);
        cr_assert_eq(rill__db_get(db, cfs[j % N_CF], k.data, k.len, &out, errstr, sizeof(errstr)),
                     1, "record %d: %s", j, errstr);
        cr_assert_eq(out.len, VALUE);
        if (i % BATCH == 0) {
            size_t used = rill__db_memory(db);
            if (used > peak)
                peak = used;
        }
    }
    cr_log_info("memory: peak %zu bytes, bound %zu bytes, after %d MB of values", peak, bound,
                RECORDS * VALUE >> 20);
    cr_assert_gt(peak, opts.block_cache_bytes, "the cache and memtables are measured");
    cr_assert_leq(peak, bound + margin, "peak %zu > bound %zu + %zu", peak, bound, margin);
    rill_buf_free(&k);
    rill_buf_free(&out);
    rill__batch_destroy(b);
    rill__db_close(db);
}

/* Batch "name": keys name-000..name-099 in cf, plus the offset key, in one batch. */
static int write_named_batch(rill__db_t *db, rill__cf_t *cf, const char *name) {
    rill__batch_t *b = rill__batch_new();
    char key[32];
    int rc;

    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "%s-%03d", name, i);
        rill__batch_put(b, cf, key, strlen(key), name, strlen(name));
    }
    rill__batch_put(b, cf, "offset", 6, name, strlen(name));
    rc = rill__db_write(db, b, errstr, sizeof(errstr));
    rill__batch_destroy(b);
    return rc;
}

/* How many of batch name's 100 keys db holds. */
static int count_named_batch(rill__db_t *db, rill__cf_t *cf, const char *name) {
    char key[32];
    int n = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "%s-%03d", name, i);
        n += get_str(db, cf, key, name);
    }
    return n;
}

/* The child: batch A then a clean close; reopen, batch B, and die without closing (a kill:
 * the memtable is lost, the WAL in the page cache is not). */
static void crash_child(void) {
    char path[4200];
    rill__db_t *db;
    rill__cf_t *cf;

    snprintf(path, sizeof(path), "%s/db", dir);
    db = rill__db_open(path, NULL, errstr, sizeof(errstr));
    if (!db || !(cf = rill__db_cf(db, "store", errstr, sizeof(errstr))) ||
        write_named_batch(db, cf, "A") != 0)
        _exit(2);
    rill__db_close(db);
    db = rill__db_open(path, NULL, errstr, sizeof(errstr));
    if (!db || !(cf = rill__db_cf(db, "store", errstr, sizeof(errstr))) ||
        write_named_batch(db, cf, "B") != 0)
        _exit(3);
    _exit(0); /* no close, no flush: as if the process had been killed */
}

Test(state_rocks, unflushed_batch_survives_whole_when_the_process_dies) {
    rill__db_t *db;
    rill__cf_t *cf;
    rill_buf_t offset = {0};
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        crash_child();
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);

    db = open_db("db", NULL);
    cf = cf_of(db, "store");
    cr_assert_eq(count_named_batch(db, cf, "A"), 100, "batch A was flushed at close");
    int b_count = count_named_batch(db, cf, "B");
    cr_assert(b_count == 0 || b_count == 100, "batch B is torn: %d of 100", b_count);
    cr_assert_eq(b_count, 100, "batch B was never flushed, but the WAL (not synced) has it");
    cr_assert_eq(rill__db_get(db, cf, "offset", 6, &offset, errstr, sizeof(errstr)), 1);
    cr_assert_eq(offset.len, 1);
    cr_assert_eq(offset.data[0], 'B', "the offset stored is the one of the last batch");
    rill_buf_free(&offset);
    rill__db_close(db);
}
