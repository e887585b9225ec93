/*
 * test_fake_host.c — the state module against a fake host (no Kafka, no engine): the fake
 * keeps changelogs in memory, acknowledges what a commit logged with offsets, and serves
 * them back as the restore's record source. A reference model over the same writes says
 * which changelog records each commit must produce (one per key written since the last
 * commit, with its final value or a tombstone, in the store's key layout), what a crash
 * (caches dropped without a commit) leaves, and what a restore into an empty state
 * directory must rebuild. RocksDB is real, in a temporary directory.
 */
#include <criterion/criterion.h>

#include "rt_state.h"
#include "state_host_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITION 3
#define MAX_RECS 4096
#define KV_KEYS 20
#define WIN_KEYS 5
#define WIN_STARTS 10
#define SLOTS (KV_KEYS + WIN_KEYS * WIN_STARTS)
#define SEGMENT_MS 60000

/* ---- the fake host: changelogs in memory ---- */

typedef struct fake_rec_s {
    char topic[64];
    int32_t partition;
    int64_t offset; /* -1 until acknowledged */
    char key[64];
    size_t key_len;
    bool tombstone;
    char value[32];
    size_t value_len;
    void *token;
} fake_rec_t;

typedef struct fake_host_s {
    fake_rec_t log[MAX_RECS]; /* every topic's records; acknowledged ones have offsets */
    int cnt;
    int acked; /* log[0..acked) are acknowledged */
    int fatal_calls;
    int dirty_calls;
    int64_t restored;
    rill__task_stores_t *task; /* whose deliveries to report */
} fake_host_t;

static fake_host_t fake;

static void fake_fatal(void *opaque, rill_err_t err, const char *msg) {
    ((fake_host_t *)opaque)->fatal_calls++;
    cr_log_error("fatal %d: %s", (int)err, msg);
}

static bool fake_stopping(void *opaque) {
    return false;
}

static void fake_restored(void *opaque, int64_t n) {
    ((fake_host_t *)opaque)->restored += n;
}

static void *fake_topic_new(void *opaque, const char *topic) {
    return strdup(topic);
}

static void fake_topic_free(void *opaque, void *topic) {
    free(topic);
}

static int fake_produce(void *opaque, void *topic, int32_t partition, const void *key,
                        size_t key_len, const void *value, size_t value_len, void *token) {
    cr_assert_lt(fake.cnt, MAX_RECS);
    cr_assert_leq(key_len, sizeof(fake.log[0].key));
    cr_assert_leq(value_len, sizeof(fake.log[0].value));
    fake_rec_t *r = &fake.log[fake.cnt++];
    *r = (fake_rec_t){.partition = partition, .offset = -1, .key_len = key_len, .token = token};
    snprintf(r->topic, sizeof(r->topic), "%s", (const char *)topic);
    memcpy(r->key, key, key_len);
    r->tombstone = !value;
    if (value) {
        memcpy(r->value, value, value_len);
        r->value_len = value_len;
    }
    return 0;
}

static void fake_dirty(void *opaque) {
    fake.dirty_calls++;
}

static const rill__task_host_t fake_task_host = {
    .topic_new = fake_topic_new,
    .topic_free = fake_topic_free,
    .produce = fake_produce,
    .dirty = fake_dirty,
};

/* The next offset of topic[partition]: its acknowledged records so far. */
static int64_t fake_end(const char *topic, int32_t partition) {
    int64_t n = 0;
    for (int i = 0; i < fake.acked; i++)
        n += !strcmp(fake.log[i].topic, topic) && fake.log[i].partition == partition;
    return n;
}

/* The broker's part of a commit: every record produced since the last one gets its offset
 * and its delivery report. */
static void fake_ack(void) {
    for (; fake.acked < fake.cnt; fake.acked++) {
        fake_rec_t *r = &fake.log[fake.acked];
        r->offset = fake_end(r->topic, r->partition);
        rill__stores_delivered(fake.task, r->token, r->partition, r->offset);
    }
}

/* The fake restore source: reads the acknowledged records of the assigned partitions. */
typedef struct fake_src_s {
    rill__changelog_src_t src;
    rill__changelog_pos_t pos[8];
    char topics[8][64];
    int64_t next[8]; /* the next offset to give of each position */
    bool eof_sent[8];
    int cnt;
} fake_src_t;

static int src_watermarks(rill__changelog_src_t *src, const char *topic, int32_t partition,
                          int64_t *lo, int64_t *hi, char *errstr, size_t errstr_size) {
    *lo = 0;
    *hi = fake_end(topic, partition);
    return 0;
}

static int src_assign(rill__changelog_src_t *src, const rill__changelog_pos_t *pos, int n,
                      char *errstr, size_t errstr_size) {
    fake_src_t *f = (fake_src_t *)src;
    cr_assert_leq(n, 8);
    f->cnt = n;
    for (int i = 0; i < n; i++) {
        snprintf(f->topics[i], sizeof(f->topics[i]), "%s", pos[i].topic);
        f->pos[i] = pos[i];
        f->pos[i].topic = f->topics[i];
        f->next[i] = pos[i].offset == RD_KAFKA_OFFSET_BEGINNING ? 0 : pos[i].offset;
        f->eof_sent[i] = false;
    }
    return 0;
}

/* The record of topic[partition] at offset, or NULL. */
static const fake_rec_t *fake_at(const char *topic, int32_t partition, int64_t offset) {
    for (int i = 0; i < fake.acked; i++)
        if (fake.log[i].offset == offset && fake.log[i].partition == partition &&
            !strcmp(fake.log[i].topic, topic))
            return &fake.log[i];
    return NULL;
}

static int src_take(rill__changelog_src_t *src, rill__changelog_rec_t *recs, int max,
                    int timeout_ms, char *errstr, size_t errstr_size) {
    fake_src_t *f = (fake_src_t *)src;
    int n = 0;
    for (int i = 0; i < f->cnt && n < max; i++) {
        const fake_rec_t *r;
        while (n < max && (r = fake_at(f->pos[i].topic, f->pos[i].partition, f->next[i]))) {
            recs[n++] = (rill__changelog_rec_t){.pos = i,
                                                .offset = r->offset,
                                                .key = r->key,
                                                .key_len = r->key_len,
                                                .value = r->tombstone ? NULL : r->value,
                                                .value_len = r->value_len};
            f->next[i]++;
        }
        if (n < max && !f->eof_sent[i]) {
            recs[n++] = (rill__changelog_rec_t){.pos = i, .eof = true, .offset = f->next[i]};
            f->eof_sent[i] = true;
        }
    }
    return n;
}

static void src_destroy(rill__changelog_src_t *src) {
    free(src);
}

static rill__changelog_src_t *fake_source_new(void *opaque, char *errstr, size_t errstr_size) {
    fake_src_t *f = calloc(1, sizeof(*f));
    cr_assert_not_null(f);
    f->src = (rill__changelog_src_t){.watermarks = src_watermarks,
                                     .assign = src_assign,
                                     .take = src_take,
                                     .destroy = src_destroy};
    return &f->src;
}

/* ---- the stores under test and the reference model ---- */

static rill__store_def_t kv_def = {.name = "kv", .kind = RILL_STORE_KV, .logged = true};
static rill__store_def_t win_def = {.name = "win",
                                    .kind = RILL_STORE_WINDOW,
                                    .segment_ms = SEGMENT_MS,
                                    .retention_ms = 3 * SEGMENT_MS,
                                    .logged = true};
static rill__store_def_t *const defs[] = {&kv_def, &win_def};

/* One key of the model: kv slots first, then (window key, start) slots. */
typedef struct slot_s {
    bool present;
    char value[16];
    bool touched; /* written since the last commit */
} slot_t;

static slot_t model[SLOTS], committed[SLOTS];

static bool is_kv(int s) {
    return s < KV_KEYS;
}

static void slot_key(int s, char *key, size_t size) {
    if (is_kv(s))
        snprintf(key, size, "k%02d", s);
    else
        snprintf(key, size, "w%d", (s - KV_KEYS) / WIN_STARTS);
}

/* Window starts spread over three segments. */
static int64_t slot_start(int s) {
    return (int64_t)((s - KV_KEYS) % WIN_STARTS) * 25000;
}

static void be(unsigned char *out, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

/* The changelog key of slot s, written from the layout in db_int.h (partition left out). */
static size_t changelog_key(int s, unsigned char *out) {
    char key[16];
    slot_key(s, key, sizeof(key));
    size_t klen = strlen(key), n = 0;
    out[n++] = 0x00; /* the data tag */
    if (!is_kv(s)) {
        be(out + n, (uint64_t)(slot_start(s) / SEGMENT_MS), 8);
        be(out + n + 8, klen, 4);
        n += 12;
    }
    memcpy(out + n, key, klen);
    n += klen;
    if (!is_kv(s)) {
        be(out + n, (uint64_t)slot_start(s), 8);
        n += 8;
    }
    return n;
}

static const char *slot_topic(int s) {
    return is_kv(s) ? "fake-kv-changelog" : "fake-win-changelog";
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* n random writes (puts, and deletes one time in four) through the store API and the model. */
static void random_writes(rill__task_stores_t *ts, int n) {
    rill__store_t *kv = rill__stores_find(ts, "kv"), *win = rill__stores_find(ts, "win");
    cr_assert(kv && win);
    for (int i = 0; i < n; i++) {
        int s = (int)(next_rand() % SLOTS);
        bool del = next_rand() % 4 == 0;
        char key[16], value[16];
        slot_key(s, key, sizeof(key));
        snprintf(value, sizeof(value), "v%d", (int)(next_rand() % 100000));
        const char *v = del ? NULL : value;
        size_t vlen = del ? 0 : strlen(value);
        int rc = is_kv(s) ? rill__kv_put(kv, key, strlen(key), v, vlen)
                          : rill__window_put(win, key, strlen(key), slot_start(s), v, vlen);
        cr_assert_eq(rc, 0);
        model[s].present = !del;
        snprintf(model[s].value, sizeof(model[s].value), "%s", del ? "" : value);
        model[s].touched = true;
    }
}

/* Commits: logs, acknowledges, applies; the records logged must be exactly the model's. */
static void commit_and_check(rill__task_stores_t *ts) {
    int from = fake.cnt, expected = 0;
    cr_assert_eq(rill__stores_log(ts), 0);
    fake_ack();
    cr_assert_eq(rill__stores_apply(ts), 0);
    for (int s = 0; s < SLOTS; s++) {
        if (!model[s].touched)
            continue;
        expected++;
        unsigned char key[64];
        size_t klen = changelog_key(s, key);
        int found = 0;
        for (int i = from; i < fake.cnt; i++) {
            const fake_rec_t *r = &fake.log[i];
            if (strcmp(r->topic, slot_topic(s)) || r->key_len != klen || memcmp(r->key, key, klen))
                continue;
            found++;
            cr_assert_eq(r->partition, PARTITION);
            cr_assert_eq(r->token, is_kv(s) ? (void *)&kv_def : (void *)&win_def);
            cr_assert_eq(r->tombstone, !model[s].present, "slot %d", s);
            if (model[s].present)
                cr_assert(r->value_len == strlen(model[s].value) &&
                              !memcmp(r->value, model[s].value, r->value_len),
                          "slot %d", s);
        }
        cr_assert_eq(found, 1, "slot %d: %d changelog records", s, found);
        model[s].touched = false;
    }
    cr_assert_eq(fake.cnt - from, expected, "records logged by the commit");
    memcpy(committed, model, sizeof(model));
}

static int count_kv(const void *key, size_t key_len, const void *value, size_t value_len,
                    void *opaque) {
    (*(int *)opaque)++;
    return 0;
}

static int count_win(const void *key, size_t key_len, int64_t start, const void *value,
                     size_t value_len, void *opaque) {
    (*(int *)opaque)++;
    return 0;
}

/* Reads slot s and checks it against want[s]. */
static void check_slot(rill__store_t *kv, rill__store_t *win, int s, const slot_t *want) {
    char key[16];
    const void *v;
    size_t vlen;
    slot_key(s, key, sizeof(key));
    int rc = is_kv(s) ? rill__kv_get(kv, key, strlen(key), &v, &vlen)
                      : rill__window_get(win, key, strlen(key), slot_start(s), &v, &vlen);
    cr_assert_eq(rc, want[s].present ? 1 : 0, "slot %d", s);
    if (rc == 1)
        cr_assert(vlen == strlen(want[s].value) && !memcmp(v, want[s].value, vlen),
                  "slot %d: %.*s, not %s", s, (int)vlen, (const char *)v, want[s].value);
}

/* Every key reads as the model says, and scans find no other key. */
static void check_content(rill__task_stores_t *ts, const slot_t *want) {
    rill__store_t *kv = rill__stores_find(ts, "kv"), *win = rill__stores_find(ts, "win");
    int kv_present = 0, win_present = 0;
    for (int s = 0; s < SLOTS; s++) {
        check_slot(kv, win, s, want);
        if (want[s].present)
            *(is_kv(s) ? &kv_present : &win_present) += 1;
    }
    int kv_seen = 0, win_seen = 0;
    cr_assert_eq(rill__kv_range(kv, "", 0, NULL, 0, count_kv, &kv_seen), 0);
    cr_assert_eq(rill__window_range(win, 0, 1000 * SEGMENT_MS, count_win, &win_seen), 0);
    cr_assert_eq(kv_seen, kv_present);
    cr_assert_eq(win_seen, win_present);
}

/* ---- the process and task around the stores ---- */

static char *dirs[2];

static rill__state_t *fake_state(const char *dir) {
    rill__state_host_t host = {.application_id = "fake",
                               .state_dir = dir,
                               .opaque = &fake,
                               .fatal = fake_fatal,
                               .stopping = fake_stopping,
                               .source_new = fake_source_new,
                               .restored = fake_restored};
    rill__state_t *state = rill__state_new(&host);
    cr_assert_not_null(state);
    return state;
}

static void fake_task(rill__task_stores_t *ts) {
    *ts = (rill__task_stores_t){.host = &fake_task_host,
                                .opaque = &fake,
                                .id = "0_3",
                                .sub = 0,
                                .partition = PARTITION,
                                .logged = true};
    fake.task = ts;
}

static void setup(void) {
    memset(&fake, 0, sizeof(fake));
    memset(model, 0, sizeof(model));
    memset(committed, 0, sizeof(committed));
    for (int i = 0; i < 2; i++) {
        dirs[i] = rt_state_dir_new("fake-host");
    }
    kv_def.changelog_records = win_def.changelog_records = 0;
}

static void teardown(void) {
    for (int i = 0; i < 2; i++) {
        rt_state_dir_remove(dirs[i]);
        free(dirs[i]);
        dirs[i] = NULL;
    }
}

Test(state_fake_host, changelog_holds_each_commits_writes_and_restore_rebuilds_them, .init = setup,
     .fini = teardown, .timeout = 60) {
    rill__state_t *state = fake_state(dirs[0]);
    rill__state_thread_t *thread = rill__state_thread_new(state, 0, &fake);
    rill__task_stores_t ts, *tsp = &ts;
    fake_task(&ts);
    cr_assert_eq(rill__stores_open(thread, &tsp, 1, defs, 2), 0);
    cr_assert(ts.open);
    cr_assert_eq(ts.cnt, 2);

    /* Three commits of random writes: each logs exactly its keys' final values. */
    for (int round = 0; round < 3; round++) {
        random_writes(&ts, 200);
        check_content(&ts, model); /* a task reads its own writes at once */
        commit_and_check(&ts);
        check_content(&ts, committed);
    }
    cr_assert_gt(fake.dirty_calls, 0);
    cr_assert_eq(kv_def.changelog_records + win_def.changelog_records, fake.acked);

    /* A crash: writes that never reach a commit are dropped, nothing is logged. */
    int logged = fake.cnt;
    random_writes(&ts, 100);
    rill__stores_drop_caches(&ts);
    memcpy(model, committed, sizeof(model));
    check_content(&ts, committed);
    cr_assert_eq(fake.cnt, logged);

    /* Reopened on the same directory: the stored offsets are the changelogs' ends, so
     * nothing is replayed. */
    rill__stores_close(&ts);
    cr_assert_eq(rill__stores_open(thread, &tsp, 1, defs, 2), 0);
    cr_assert_eq(fake.restored, 0);
    check_content(&ts, committed);
    rill__stores_close(&ts);
    rill__state_thread_free(thread);
    rill__state_free(state);

    /* A new process with an empty state directory restores everything from the changelogs. */
    state = fake_state(dirs[1]);
    thread = rill__state_thread_new(state, 0, &fake);
    fake_task(&ts);
    cr_assert_eq(rill__stores_open(thread, &tsp, 1, defs, 2), 0);
    cr_assert_eq(fake.restored, fake.acked);
    check_content(&ts, committed);

    /* And goes on: the next commit's records follow the restored ones. */
    random_writes(&ts, 50);
    commit_and_check(&ts);
    check_content(&ts, committed);
    cr_assert_eq(fake.fatal_calls, 0);
    rill__stores_close(&ts);
    rill__state_thread_free(thread);
    rill__state_free(state);
}

/* Reads every slot written since the last commit (touched[s]) and checks it against want. */
static void read_slots(rill__task_stores_t *ts, const bool *touched, const slot_t *want) {
    rill__store_t *kv = rill__stores_find(ts, "kv"), *win = rill__stores_find(ts, "win");
    for (int s = 0; s < SLOTS; s++) {
        if (touched[s])
            check_slot(kv, win, s, want);
    }
}

/* What a commit applied stays in the cache, clean: reading it costs no RocksDB get, a commit
 * with nothing written since logs and applies nothing, an eviction sends the reads back to
 * RocksDB with the same answers, and a process killed after more commits restores the
 * same state. */
Test(state_fake_host, committed_keys_read_from_cache_and_never_logged_again_when_kept_clean,
     .init = setup, .fini = teardown, .timeout = 60) {
    rill__state_t *state = fake_state(dirs[0]);
    rill__state_thread_t *thread = rill__state_thread_new(state, 0, &fake);
    rill__task_stores_t ts, *tsp = &ts;
    fake_task(&ts);
    cr_assert_eq(rill__stores_open(thread, &tsp, 1, defs, 2), 0);
    char errstr[256];
    rill__db_t *db = rill__state_db(state, errstr, sizeof(errstr));
    cr_assert_not_null(db);

    random_writes(&ts, 200);
    bool touched[SLOTS];
    int n_touched = 0;
    for (int s = 0; s < SLOTS; s++)
        n_touched += touched[s] = model[s].touched;
    cr_assert_gt(n_touched, 0);
    commit_and_check(&ts);
    int64_t gets = rill__db_gets(db);
    read_slots(&ts, touched, committed);
    cr_assert_eq(rill__db_gets(db), gets, "reads after the commit went to RocksDB");

    /* Nothing written since: the next commit produces nothing. */
    int logged = fake.cnt;
    commit_and_check(&ts);
    cr_assert_eq(fake.cnt, logged);

    /* Evicted, the same reads go to RocksDB and find the same values. */
    cr_assert_eq(rill__stores_evict_clean(&ts), 0);
    read_slots(&ts, touched, committed);
    cr_assert_eq(rill__db_gets(db), gets + n_touched);

    /* More commits over kept entries, then a kill (caches dropped, uncommitted writes lost)
     * and a restore into an empty directory: the committed state, key by key. */
    for (int round = 0; round < 3; round++) {
        random_writes(&ts, 100);
        commit_and_check(&ts);
        check_content(&ts, committed);
    }
    random_writes(&ts, 50);
    rill__stores_drop_caches(&ts);
    rill__stores_close(&ts);
    rill__state_thread_free(thread);
    rill__state_free(state);
    memcpy(model, committed, sizeof(model));
    state = fake_state(dirs[1]);
    thread = rill__state_thread_new(state, 0, &fake);
    fake_task(&ts);
    cr_assert_eq(rill__stores_open(thread, &tsp, 1, defs, 2), 0);
    cr_assert_eq(fake.restored, fake.acked);
    check_content(&ts, committed);
    cr_assert_eq(fake.fatal_calls, 0);
    rill__stores_close(&ts);
    rill__state_thread_free(thread);
    rill__state_free(state);
}
