/*
 * rocks.c — the process's RocksDB instance: opening it with its column families, atomic
 * write batches, point reads, bounded iterators and the memory it uses.
 *
 * DESIGN
 * One rocksdb_t per process, one column family per store. Every column family is opened
 * with the same rocksdb_options_t: a block-based table factory over one shared LRU block
 * cache that also holds index and filter blocks (level-0 ones pinned), a 10-bit bloom filter,
 * and memtables bounded by write_buffer_bytes × max_write_buffers. Index and filter are
 * partitioned into 4 KiB blocks (top level pinned): unpartitioned, a large table's index and
 * filter are single blocks of hundreds of KiB in cache shards of about 1 MiB, and once the
 * cache was full they were evicted and re-read on nearly every get (1 M keys: point gets fell
 * from ~120 k/s to ~5 k/s). RocksDB 7.8's C API has no write-buffer manager, so the memory
 * bound comes from those sizes alone:
 *   block cache + column families × max_write_buffers × write_buffer_bytes
 * (rill__db_memory_bound), which is why max_write_buffers is raised to RocksDB's minimum of
 * 2 here rather than by RocksDB behind the bound's back.
 *
 * Every write goes through a batch, logged to the WAL without fsync: a killed process loses
 * nothing (the log is in the OS's page cache), a lost machine loses the unsynced tail, and
 * either way what comes back is a prefix of the batches, atomically per batch. A store
 * writes its data and its changelog offset in one batch to its own column family (db_int.h),
 * so what survives is consistent with the offset it holds, and restore replays only the
 * changelog after it. (Without the WAL, a kill -9 would keep only the memtables flushed so
 * far: still consistent, but small stores would replay their whole changelog.)
 *
 * A restore writes without the WAL (rill__db_write_wal) into column families whose automatic
 * compactions it turns off meanwhile (rill__db_bulk_load), then flushes them.
 *
 * Threads and ownership: the rocksdb_t, the shared read options and the write options are
 * thread-safe. The column family table (name → handle) is guarded by db->lock; a
 * rill__cf_t, once returned, stays valid until rill__db_close. Batches and iterators are
 * single-thread objects. RocksDB's error strings are copied into errstr and freed here.
 */
#include "counter_int.h"
#include "db_int.h"

#include <rocksdb/c.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DB_DEFAULT_CACHE_BYTES ((size_t)64 << 20)
#define DB_DEFAULT_WRITE_BUFFER_BYTES ((size_t)8 << 20)
#define DB_MIN_WRITE_BUFFERS 2 /* RocksDB sanitizes fewer up to 2 */
#define DB_MAX_OPEN_FILES 256
#define DB_BLOOM_BITS 10.0
#define DB_MEMTABLE_BLOOM_RATIO 0.02
#define DB_METADATA_BLOCK_BYTES 4096
#define DB_KEEP_LOG_FILES 4
#define DB_MEMTABLES_PROPERTY "rocksdb.cur-size-all-mem-tables"

struct rill__cf_s {
    rocksdb_column_family_handle_t *handle;
    char *name;
};

struct rill__db_s {
    rocksdb_t *rdb;
    rocksdb_options_t *options; /* of the database and of every column family */
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;       /* WAL on, no fsync */
    rocksdb_writeoptions_t *wopts_nowal; /* restore: WAL off, then a flush */
    rocksdb_readoptions_t *ropts;        /* shared by every point read */
    rill__db_opts_t opts;                /* with defaults applied */
    pthread_mutex_t lock;                /* guards cfs, n_cfs, cap_cfs */
    rill__cf_t **cfs;                    /* each cf allocated alone so a pointer stays valid */
    size_t n_cfs;
    size_t cap_cfs;
    int64_t gets; /* point reads, a relaxed counter */
};

struct rill__batch_s {
    rocksdb_writebatch_t *wb;
};

struct rill__iter_s {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ropts; /* holds the bounds: must outlive it */
    const char *lo;               /* into bounds, or NULL when open */
    size_t lo_len;
    const char *hi;
    size_t hi_len;
    char bounds[]; /* the copies of lo and hi the read options point to */
};

/* ---- errors ---- */

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...) {
    va_list ap;

    if (!errstr || !errstr_size)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* Copies RocksDB's message err into errstr after what, then frees err. */
static void take_err(char *errstr, size_t errstr_size, char *err, const char *what) {
    set_err(errstr, errstr_size, "%s: %s", what, err);
    rocksdb_free(err);
}

/* ---- opening and closing ---- */

/* Creates path and its missing parents (RocksDB creates only the last one). */
static int make_dirs(const char *path, char *errstr, size_t errstr_size) {
    char *dir = strdup(path);
    int rc = 0;

    if (!dir) {
        set_err(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            set_err(errstr, errstr_size, "cannot create state directory %s: %s", dir,
                    strerror(errno));
            rc = -1;
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(dir);
    return rc;
}

/* True when a database exists at path (it has a CURRENT file). */
static bool db_exists(const char *path) {
    char file[4096];
    struct stat st;

    snprintf(file, sizeof(file), "%s/CURRENT", path);
    return stat(file, &st) == 0;
}

/* The options every column family shares, built on db->cache. */
static rocksdb_options_t *options_new(const rill__db_t *db) {
    rocksdb_options_t *options = rocksdb_options_create();
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();

    rocksdb_block_based_options_set_block_cache(table, db->cache);
    /* The table options own the filter policy from here on. */
    rocksdb_block_based_options_set_filter_policy(table,
                                                  rocksdb_filterpolicy_create_bloom(DB_BLOOM_BITS));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(table, 1);
    rocksdb_block_based_options_set_index_type(
        table, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(table, 1);
    rocksdb_block_based_options_set_metadata_block_size(table, DB_METADATA_BLOCK_BYTES);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(table, 1);
    rocksdb_options_set_block_based_table_factory(options, table); /* copies table */
    rocksdb_block_based_options_destroy(table);

    rocksdb_options_set_create_if_missing(options, 1);
    rocksdb_options_set_create_missing_column_families(options, 1);
    rocksdb_options_set_max_open_files(options, DB_MAX_OPEN_FILES);
    rocksdb_options_set_keep_log_file_num(options, DB_KEEP_LOG_FILES);
    rocksdb_options_set_write_buffer_size(options, db->opts.write_buffer_bytes);
    rocksdb_options_set_max_write_buffer_number(options, db->opts.max_write_buffers);
    /* A whole-key bloom filter in each memtable (DB_MEMTABLE_BLOOM_RATIO of its bytes, taken
     * from them): a get of a key the memtable lacks (an operator asking whether a key is
     * known yet, the common case of a completion's marker) costs a few probes, not a walk
     * down its skip list. */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(options, DB_MEMTABLE_BLOOM_RATIO);
    rocksdb_options_set_memtable_whole_key_filtering(options, 1);
    return options;
}

/* Adds a handle to the table. Returns the cf, or NULL (out of memory; handle not taken).
 * @locks db->lock held, or the db not yet shared. */
static rill__cf_t *cf_add(rill__db_t *db, const char *name,
                          rocksdb_column_family_handle_t *handle) {
    rill__cf_t *cf;

    if (db->n_cfs == db->cap_cfs) {
        size_t cap = db->cap_cfs ? db->cap_cfs * 2 : 8;
        rill__cf_t **cfs = realloc(db->cfs, cap * sizeof(*cfs));
        if (!cfs)
            return NULL;
        db->cfs = cfs;
        db->cap_cfs = cap;
    }
    cf = malloc(sizeof(*cf));
    if (!cf)
        return NULL;
    cf->name = strdup(name);
    if (!cf->name) {
        free(cf);
        return NULL;
    }
    cf->handle = handle;
    db->cfs[db->n_cfs++] = cf;
    return cf;
}

/* Opens db->rdb at path with every column family it has (just "default" when new). */
static int open_cfs(rill__db_t *db, const char *path, char *errstr, size_t errstr_size) {
    static const char *const fresh[] = {"default"};
    char *err = NULL;
    size_t n_listed = 0, n;
    /* Returns an (empty) array to free even on an error. */
    char **listed = rocksdb_list_column_families(db->options, path, &n_listed, &err);
    const char *const *names = (const char *const *)listed;
    rocksdb_column_family_handle_t **handles = NULL;
    const rocksdb_options_t **cf_options = NULL;
    int rc = -1;

    n = n_listed;
    if (err) {
        if (db_exists(path)) {
            take_err(errstr, errstr_size, err, "cannot list the column families");
            goto out;
        }
        rocksdb_free(err); /* a new database: nothing to list yet */
        err = NULL;
        names = fresh;
        n = 1;
    }
    handles = calloc(n, sizeof(*handles));
    cf_options = malloc(n * sizeof(*cf_options));
    if (!handles || !cf_options) {
        set_err(errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        cf_options[i] = db->options;
    db->rdb =
        rocksdb_open_column_families(db->options, path, (int)n, names, cf_options, handles, &err);
    if (err) {
        db->rdb = NULL;
        take_err(errstr, errstr_size, err, "cannot open the database");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cf_add(db, names[i], handles[i])) {
            for (size_t j = i; j < n; j++)
                rocksdb_column_family_handle_destroy(handles[j]);
            set_err(errstr, errstr_size, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    free(handles);
    free(cf_options);
    if (listed)
        rocksdb_list_column_families_destroy(listed, n_listed);
    return rc;
}

/* Releases everything db holds, column family handles before the database. */
static void db_free(rill__db_t *db) {
    for (size_t i = 0; i < db->n_cfs; i++) {
        rocksdb_column_family_handle_destroy(db->cfs[i]->handle);
        free(db->cfs[i]->name);
        free(db->cfs[i]);
    }
    free(db->cfs);
    if (db->rdb)
        rocksdb_close(db->rdb);
    if (db->options)
        rocksdb_options_destroy(db->options);
    if (db->wopts)
        rocksdb_writeoptions_destroy(db->wopts);
    if (db->wopts_nowal)
        rocksdb_writeoptions_destroy(db->wopts_nowal);
    if (db->ropts)
        rocksdb_readoptions_destroy(db->ropts);
    if (db->cache)
        rocksdb_cache_destroy(db->cache);
    pthread_mutex_destroy(&db->lock);
    free(db);
}

/*
 * Opens (creating it and its parent directories if needed) the database at path with every
 * column family it has. opts may be NULL; zero fields take the defaults.
 * Returns the database, or NULL with errstr (RocksDB's message kept).
 * Thread: any; the database is thread-safe afterwards.
 */
rill__db_t *rill__db_open(const char *path, const rill__db_opts_t *opts, char *errstr,
                          size_t errstr_size) {
    rill__db_t *db;

    if (!path || !*path) {
        set_err(errstr, errstr_size, "no state directory given");
        return NULL;
    }
    db = calloc(1, sizeof(*db));
    if (!db) {
        set_err(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&db->lock, NULL);
    if (opts)
        db->opts = *opts;
    if (!db->opts.block_cache_bytes)
        db->opts.block_cache_bytes = DB_DEFAULT_CACHE_BYTES;
    if (!db->opts.write_buffer_bytes)
        db->opts.write_buffer_bytes = DB_DEFAULT_WRITE_BUFFER_BYTES;
    if (db->opts.max_write_buffers < DB_MIN_WRITE_BUFFERS)
        db->opts.max_write_buffers = DB_MIN_WRITE_BUFFERS;

    if (make_dirs(path, errstr, errstr_size) != 0)
        goto fail;
    db->cache = rocksdb_cache_create_lru(db->opts.block_cache_bytes);
    db->options = options_new(db);
    db->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(db->wopts, 0); /* logged, not synced: see DESIGN */
    db->wopts_nowal = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(db->wopts_nowal, 1);
    db->ropts = rocksdb_readoptions_create();
    if (open_cfs(db, path, errstr, errstr_size) != 0)
        goto fail;
    return db;
fail:
    db_free(db);
    return NULL;
}

/*
 * Flushes every column family's memtables (waiting for them), so that a clean restart has
 * nothing to restore, then closes the database and frees db. NULL-safe. A failed flush
 * loses nothing that matters (the changelog has it; the store stays a consistent prefix) and
 * is reported on stderr. Thread: the owner, once no other thread uses db.
 */
void rill__db_close(rill__db_t *db) {
    rocksdb_flushoptions_t *fopts;

    if (!db)
        return;
    fopts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fopts, 1);
    for (size_t i = 0; i < db->n_cfs; i++) {
        char *err = NULL;
        rocksdb_flush_cf(db->rdb, fopts, db->cfs[i]->handle, &err);
        if (err) {
            fprintf(stderr, "rill: state: flushing column family \"%s\" at close: %s\n",
                    db->cfs[i]->name, err);
            rocksdb_free(err);
        }
    }
    rocksdb_flushoptions_destroy(fopts);
    db_free(db);
}

/* ---- column families ---- */

/*
 * The column family named name, created (with the shared options) on first use.
 * Returns it (valid until rill__db_close), or NULL with errstr. Thread-safe.
 */
rill__cf_t *rill__db_cf(rill__db_t *db, const char *name, char *errstr, size_t errstr_size) {
    rill__cf_t *cf = NULL;
    rocksdb_column_family_handle_t *handle;
    char *err = NULL;

    if (!name || !*name) {
        set_err(errstr, errstr_size, "a store needs a name");
        return NULL;
    }
    pthread_mutex_lock(&db->lock);
    for (size_t i = 0; i < db->n_cfs; i++) {
        if (strcmp(db->cfs[i]->name, name) == 0) {
            cf = db->cfs[i];
            goto out;
        }
    }
    handle = rocksdb_create_column_family(db->rdb, db->options, name, &err);
    if (err) {
        take_err(errstr, errstr_size, err, "cannot create the column family");
        goto out;
    }
    cf = cf_add(db, name, handle);
    if (!cf) {
        rocksdb_column_family_handle_destroy(handle); /* found again on the next call */
        set_err(errstr, errstr_size, "out of memory");
    }
out:
    pthread_mutex_unlock(&db->lock);
    return cf;
}

/* ---- reads and writes ---- */

/* RocksDB counts every operation in a thread-local perf context unless the calling thread
 * turns that off: on a restore, about a tenth of the CPU went to those counters (which
 * nothing reads). The level is per thread, so each call that writes or reads sets it. */
static void perf_counters_off(void) {
    rocksdb_set_perf_level(rocksdb_disable);
}

/*
 * Point read of key in cf. Returns 1 with the value in out (reset first), 0 when absent, -1
 * with errstr on an error. The value is pinned in RocksDB (no copy) and copied once into
 * out. Thread-safe.
 */
int rill__db_get(rill__db_t *db, rill__cf_t *cf, const void *key, size_t key_len, rill_buf_t *out,
                 char *errstr, size_t errstr_size) {
    char *err = NULL;
    perf_counters_off();
    rill__counter_add(&db->gets, 1);
    rocksdb_pinnableslice_t *slice =
        rocksdb_get_pinned_cf(db->rdb, db->ropts, cf->handle, key, key_len, &err);
    const char *value;
    size_t value_len;
    int rc = 1;

    if (err) {
        take_err(errstr, errstr_size, err, "read failed");
        return -1;
    }
    if (!slice)
        return 0;
    value = rocksdb_pinnableslice_value(slice, &value_len);
    rill_buf_reset(out);
    if (rill_buf_append(out, value, value_len) != 0) {
        set_err(errstr, errstr_size, "out of memory");
        rc = -1;
    }
    rocksdb_pinnableslice_destroy(slice);
    return rc;
}

int64_t rill__db_gets(const rill__db_t *db) {
    return rill__counter_get(&db->gets);
}

/* A new, empty batch, or NULL when memory ran out. Thread: one at a time. */
rill__batch_t *rill__batch_new(void) {
    rill__batch_t *b = malloc(sizeof(*b));

    if (!b)
        return NULL;
    b->wb = rocksdb_writebatch_create();
    return b;
}

void rill__batch_put(rill__batch_t *b, rill__cf_t *cf, const void *key, size_t key_len,
                     const void *value, size_t value_len) {
    rocksdb_writebatch_put_cf(b->wb, cf->handle, key, key_len, value, value_len);
}

void rill__batch_delete(rill__batch_t *b, rill__cf_t *cf, const void *key, size_t key_len) {
    rocksdb_writebatch_delete_cf(b->wb, cf->handle, key, key_len);
}

void rill__batch_delete_range(rill__batch_t *b, rill__cf_t *cf, const void *lo, size_t lo_len,
                              const void *hi, size_t hi_len) {
    rocksdb_writebatch_delete_range_cf(b->wb, cf->handle, lo, lo_len, hi, hi_len);
}

/* The number of operations in b. */
size_t rill__batch_count(const rill__batch_t *b) {
    return (size_t)rocksdb_writebatch_count(b->wb);
}

/* The bytes of b's operations (its serialized size). */
size_t rill__batch_bytes(const rill__batch_t *b) {
    size_t size = 0;

    rocksdb_writebatch_data(b->wb, &size);
    return size;
}

/* Empties b and keeps its memory for the next batch. */
void rill__batch_clear(rill__batch_t *b) {
    rocksdb_writebatch_clear(b->wb);
}

void rill__batch_destroy(rill__batch_t *b) {
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    free(b);
}

/* Applies b atomically (WAL, no fsync); b is left as it was (clear it to reuse it).
 * Returns 0 or -1 with errstr. Thread-safe with respect to db; b is the caller's. */
int rill__db_write(rill__db_t *db, rill__batch_t *b, char *errstr, size_t errstr_size) {
    return rill__db_write_wal(db, b, 1, errstr, errstr_size);
}

int rill__db_write_wal(rill__db_t *db, rill__batch_t *b, int wal, char *errstr,
                       size_t errstr_size) {
    char *err = NULL;

    perf_counters_off();
    rocksdb_write(db->rdb, wal ? db->wopts : db->wopts_nowal, b->wb, &err);
    if (err) {
        take_err(errstr, errstr_size, err, "write failed");
        return -1;
    }
    return 0;
}

int rill__db_flush(rill__db_t *db, rill__cf_t *cf, char *errstr, size_t errstr_size) {
    char *err = NULL;
    rocksdb_flushoptions_t *fopts = rocksdb_flushoptions_create();

    rocksdb_flushoptions_set_wait(fopts, 1);
    rocksdb_flush_cf(db->rdb, fopts, cf->handle, &err);
    rocksdb_flushoptions_destroy(fopts);
    if (err) {
        take_err(errstr, errstr_size, err, "flush failed");
        return -1;
    }
    return 0;
}

/* Turns the column family's automatic compactions off (bulk loading: a restore) or back on.
 * Returns 0 or -1 with errstr. Thread-safe. */
int rill__db_bulk_load(rill__db_t *db, rill__cf_t *cf, int on, char *errstr, size_t errstr_size) {
    static const char *const keys[] = {"disable_auto_compactions"};
    const char *values[] = {on ? "true" : "false"};
    char *err = NULL;

    rocksdb_set_options_cf(db->rdb, cf->handle, 1, keys, values, &err);
    if (err) {
        take_err(errstr, errstr_size, err, "setting compactions");
        return -1;
    }
    return 0;
}

/* ---- iterators ---- */

/* memcmp order of two byte strings, a shorter prefix first. */
static int bytes_cmp(const void *a, size_t a_len, const void *b, size_t b_len) {
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (c)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/*
 * An iterator over the keys of cf in [lo, hi), positioned at the first; a NULL bound is
 * open. The bounds are copied and kept alive with the iterator, which reads a snapshot of
 * cf taken now. NULL when memory ran out. Thread: the caller's only.
 */
rill__iter_t *rill__db_iter(rill__db_t *db, rill__cf_t *cf, const void *lo, size_t lo_len,
                            const void *hi, size_t hi_len) {
    size_t lo_n = lo ? lo_len : 0;
    size_t hi_n = hi ? hi_len : 0;
    rill__iter_t *it = malloc(sizeof(*it) + lo_n + hi_n);

    if (!it)
        return NULL;
    it->ropts = rocksdb_readoptions_create();
    it->lo = NULL;
    it->lo_len = 0;
    it->hi = NULL;
    it->hi_len = 0;
    if (lo) {
        memcpy(it->bounds, lo, lo_n);
        it->lo = it->bounds;
        it->lo_len = lo_n;
        rocksdb_readoptions_set_iterate_lower_bound(it->ropts, it->lo, lo_n);
    }
    if (hi) {
        memcpy(it->bounds + lo_n, hi, hi_n);
        it->hi = it->bounds + lo_n;
        it->hi_len = hi_n;
        rocksdb_readoptions_set_iterate_upper_bound(it->ropts, it->hi, hi_n);
    }
    perf_counters_off();
    it->it = rocksdb_create_iterator_cf(db->rdb, it->ropts, cf->handle);
    rocksdb_iter_seek_to_first(it->it);
    return it;
}

bool rill__iter_valid(const rill__iter_t *it) {
    return rocksdb_iter_valid(it->it) != 0;
}

/* Moves to the next key. The iterator must be valid. */
void rill__iter_next(rill__iter_t *it) {
    rocksdb_iter_next(it->it);
}

/* Positions at the first key >= key within the bounds (at lo when key is below it). */
void rill__iter_seek(rill__iter_t *it, const void *key, size_t key_len) {
    if (it->lo && bytes_cmp(key, key_len, it->lo, it->lo_len) < 0)
        rocksdb_iter_seek(it->it, it->lo, it->lo_len);
    else
        rocksdb_iter_seek(it->it, key, key_len);
}

/* The current key, valid until the iterator moves. The iterator must be valid. */
const void *rill__iter_key(const rill__iter_t *it, size_t *len) {
    return rocksdb_iter_key(it->it, len);
}

/* The current value, valid until the iterator moves. The iterator must be valid. */
const void *rill__iter_value(const rill__iter_t *it, size_t *len) {
    return rocksdb_iter_value(it->it, len);
}

/* 0 when the iterator ran out of keys, -1 with errstr when it stopped on an error. */
int rill__iter_error(const rill__iter_t *it, char *errstr, size_t errstr_size) {
    char *err = NULL;

    rocksdb_iter_get_error(it->it, &err);
    if (err) {
        take_err(errstr, errstr_size, err, "iteration failed");
        return -1;
    }
    return 0;
}

void rill__iter_destroy(rill__iter_t *it) {
    if (!it)
        return;
    rocksdb_iter_destroy(it->it); /* before the read options it points to */
    rocksdb_readoptions_destroy(it->ropts);
    free(it);
}

/* ---- memory ---- */

/* Block cache usage (data, index and filter blocks) plus every column family's memtables
 * (active and not yet flushed), in bytes. Thread-safe. */
size_t rill__db_memory(rill__db_t *db) {
    size_t total = rocksdb_cache_get_usage(db->cache);

    pthread_mutex_lock(&db->lock);
    for (size_t i = 0; i < db->n_cfs; i++) {
        uint64_t bytes = 0;
        if (rocksdb_property_int_cf(db->rdb, db->cfs[i]->handle, DB_MEMTABLES_PROPERTY, &bytes) ==
            0)
            total += (size_t)bytes;
    }
    pthread_mutex_unlock(&db->lock);
    return total;
}

/* block cache + column families open now × max_write_buffers × write_buffer_bytes.
 * Thread-safe. */
size_t rill__db_memory_bound(rill__db_t *db) {
    size_t n;

    pthread_mutex_lock(&db->lock);
    n = db->n_cfs;
    pthread_mutex_unlock(&db->lock);
    return db->opts.block_cache_bytes +
           n * (size_t)db->opts.max_write_buffers * db->opts.write_buffer_bytes;
}
