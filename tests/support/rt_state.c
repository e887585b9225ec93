/*
 * rt_state.c — helpers of the state-store integration tests (rt_state.h): state directories,
 * rill_count_app processes, seeded keyed input, counts per key, restore lines, group lag,
 * process memory, and the crash-and-restart scenario.
 *
 * DESIGN
 * What is judged comes from Kafka, never from the app's own report: the reference counts
 * from the input records as Kafka acknowledged them, the final counts from the output read
 * back whole. The app's log is read only for what Kafka cannot tell: how each store was
 * restored (state/restore.c writes one line per task and store). Reads use the simple
 * consumer API in no group, every partition from the beginning to its end, as rill_test.c
 * does, but keep only what they need (a count, a last value per key) so that reading a
 * million records costs little. The crash scenario spreads its kills over the producing time
 * with a seeded generator, and never kills an instance before it has opened its stores, so
 * that every restart has a restore to judge.
 */
#define _GNU_SOURCE /* asprintf, nftw flags */
#include "rt_marker.h"
#include "rt_state.h"
#include "rt_pipeline.h" /* background producing */

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define MAX_DIRS 16
#define STOP_WAIT_MS 30000
#define KILL_WAIT_MS 10000
#define ACTIVE_WAIT_MS 30000
#define COUNT_READ_MS 60000
#define FINAL_READ_MS 60000

static void sleep_ms(int64_t ms) {
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static char *cat(const char *a, const char *b) {
    char *s = NULL;
    if (asprintf(&s, "%s%s", a, b) < 0)
        abort();
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* State directories                                                                         */

static char *dirs[MAX_DIRS];
static int dir_cnt;

char *rt_state_dir_new(const char *prefix) {
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/rill-state-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0)
        abort();
    if (!mkdtemp(path)) {
        int e = errno;
        free(path);
        cr_assert_fail("cannot make a state directory: %s", strerror(e));
    }
    if (dir_cnt < MAX_DIRS)
        dirs[dir_cnt++] = strdup(path);
    return path;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    if (remove(path))
        cr_log_info("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

void rt_state_dir_remove(const char *dir) {
    if (!dir)
        return;
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < dir_cnt; i++) {
        if (!strcmp(dirs[i], dir)) {
            free(dirs[i]);
            dirs[i] = dirs[--dir_cnt];
            break;
        }
    }
}

void rt_state_fini(void) {
    rt_kill_all();
    while (dir_cnt > 0) {
        char *dir = dirs[dir_cnt - 1];
        dirs[dir_cnt - 1] = NULL;
        dir_cnt--;
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The application process                                                                   */

pid_t rt_count_spawn(const rt_count_app_t *app, const char *log) {
    char *prog = rt_build_path("rill_count_app");
    char stores[16], value_size[16];
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = prog;
    argv[argc++] = "--bootstrap-servers";
    argv[argc++] = (char *)app->bootstrap;
    argv[argc++] = "--input";
    argv[argc++] = (char *)app->input;
    argv[argc++] = "--output";
    argv[argc++] = (char *)app->output;
    argv[argc++] = "--app-id";
    argv[argc++] = (char *)app->app_id;
    argv[argc++] = "--state-dir";
    argv[argc++] = (char *)app->state_dir;
    if (app->instance_id) {
        argv[argc++] = "--instance-id";
        argv[argc++] = (char *)app->instance_id;
    }
    if (app->stores >= 0) {
        snprintf(stores, sizeof(stores), "%d", app->stores);
        argv[argc++] = "--stores";
        argv[argc++] = stores;
    }
    if (app->value_size > 0) {
        snprintf(value_size, sizeof(value_size), "%d", app->value_size);
        argv[argc++] = "--value-size";
        argv[argc++] = value_size;
    }
    /* The restore lines read back (rt_restore_log_read) include the per-store "up to date"
     * ones, written at debug level. */
    argv[argc++] = "-D";
    argv[argc++] = "log.level=debug";
    for (size_t i = 0; app->props && app->props[i]; i++) {
        if (argc + 3 > MAX_ARGS)
            cr_assert_fail("rt_count_spawn: too many properties");
        argv[argc++] = "-D";
        argv[argc++] = (char *)app->props[i];
    }
    argv[argc] = NULL;
    pid_t pid = rt_spawn(argv, log);
    free(prog);
    return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                     */

uint64_t rt_rand_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rt_gen_keys(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                 void *opaque) {
    const rt_keygen_t *g = opaque;
    uint64_t state = g->seed ^ ((uint64_t)i * 0xd1342543de82ef95ULL);
    uint64_t n = rt_rand_next(&state) % (g->keys ? g->keys : 1);
    snprintf(key, key_size, "key-%07" PRIu64, n);
    snprintf(value, value_size, "v%zu", i);
}

/* ---------------------------------------------------------------------------------------- */
/* Counts per key                                                                            */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static rt_count_t *slot_of(const rt_counts_t *c, const char *key) {
    size_t i = (size_t)hash_str(key) & (c->cap - 1);
    while (c->v[i].key && strcmp(c->v[i].key, key))
        i = (i + 1) & (c->cap - 1);
    return &c->v[i];
}

static void counts_grow(rt_counts_t *c) {
    rt_counts_t bigger = {.cap = c->cap ? c->cap * 2 : 1024};
    bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
    if (!bigger.v)
        abort();
    for (size_t i = 0; i < c->cap; i++)
        if (c->v[i].key)
            *slot_of(&bigger, c->v[i].key) = c->v[i];
    bigger.cnt = c->cnt;
    free(c->v);
    *c = bigger;
}

rt_count_t *rt_counts_at(rt_counts_t *c, const char *key) {
    if ((c->cnt + 1) * 2 > c->cap)
        counts_grow(c);
    rt_count_t *e = slot_of(c, key);
    if (!e->key) {
        e->key = strdup(key);
        if (!e->key)
            abort();
        e->value = 0;
        e->partition = -1;
        c->cnt++;
    }
    return e;
}

const rt_count_t *rt_counts_get(const rt_counts_t *c, const char *key) {
    if (!c->cap)
        return NULL;
    const rt_count_t *e = slot_of(c, key);
    return e->key ? e : NULL;
}

void rt_counts_free(rt_counts_t *c) {
    for (size_t i = 0; i < c->cap; i++)
        free(c->v[i].key);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

void rt_counts_add_records(rt_counts_t *c, const rt_records_t *recs) {
    for (size_t i = 0; i < recs->cnt; i++)
        if (recs->v[i].key)
            rt_counts_at(c, recs->v[i].key)->value++;
}

/* Appends one example line to report (at most 5 per kind). */
static void example(char *report, size_t size, size_t *shown, const char *what, const char *key,
                    int64_t ref, int64_t fin) {
    if ((*shown)++ >= 5)
        return;
    size_t len = strlen(report);
    snprintf(report + len, size - len, "\n  %s: key=\"%.40s\" reference=%" PRId64 " final=%" PRId64,
             what, key, ref, fin);
}

void rt_counts_compare(const rt_counts_t *reference, const rt_counts_t *final,
                       rt_count_cmp_t *cmp) {
    memset(cmp, 0, sizeof(*cmp));
    char ex[1800] = "";
    size_t shown_above = 0, shown_below = 0, shown_missing = 0, shown_unexpected = 0;
    for (size_t i = 0; i < reference->cap; i++) {
        const rt_count_t *r = &reference->v[i];
        if (!r->key)
            continue;
        cmp->keys++;
        const rt_count_t *f = rt_counts_get(final, r->key);
        if (!f) {
            cmp->missing++;
            cmp->deficit += r->value;
            example(ex, sizeof(ex), &shown_missing, "missing", r->key, r->value, 0);
        } else if (f->value == r->value) {
            cmp->equal++;
        } else if (f->value > r->value) {
            cmp->above++;
            cmp->excess += f->value - r->value;
            example(ex, sizeof(ex), &shown_above, "above", r->key, r->value, f->value);
        } else {
            cmp->below++;
            cmp->deficit += r->value - f->value;
            example(ex, sizeof(ex), &shown_below, "below", r->key, r->value, f->value);
        }
    }
    for (size_t i = 0; i < final->cap; i++) {
        const rt_count_t *f = &final->v[i];
        if (f->key && !rt_counts_get(reference, f->key)) {
            cmp->unexpected++;
            example(ex, sizeof(ex), &shown_unexpected, "unexpected", f->key, 0, f->value);
        }
    }
    snprintf(cmp->report, sizeof(cmp->report),
             "%zu keys: %zu equal, %zu above (excess %" PRId64 "), %zu below, %zu missing "
             "(deficit %" PRId64 "), %zu unexpected%s",
             cmp->keys, cmp->equal, cmp->above, cmp->excess, cmp->below, cmp->missing, cmp->deficit,
             cmp->unexpected, ex);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading topics whole                                                                      */

typedef int (*read_cb)(const rd_kafka_message_t *msg, void *opaque);

/* Reads every partition of topic from the beginning to its end with a fresh consumer in no
 * group, calling cb for each record. Returns true when every partition reached its end
 * before timeout_ms. Fails the test on setup errors. */
static bool read_topic(const char *bootstrap, const char *topic, const char *isolation_level,
                       int timeout_ms, read_cb cb, void *opaque) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    /* clang-format off */
    const char *const props[][2] = {
        {"bootstrap.servers", bootstrap},   {"log_level", "3"},
        {"isolation.level", isolation_level}, {"enable.partition.eof", "true"},
        {"enable.auto.commit", "false"},    {"fetch.max.bytes", "52428800"},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, sizeof(errstr))) {
            rd_kafka_conf_destroy(kc);
            cr_assert_fail("consumer for %s: %s", topic, errstr);
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("consumer for %s: %s", topic, errstr);
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    int cnt = !err && md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (cnt <= 0) {
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        cr_assert_fail("cannot read %s: no metadata (%s)", topic, rd_kafka_err2str(err));
    }
    rd_kafka_queue_t *rkqu = rd_kafka_queue_new(rk);
    for (int p = 0; p < cnt; p++)
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, rkqu))
            cr_assert_fail("start reading %s[%d]: %s", topic, p,
                           rd_kafka_err2str(rd_kafka_last_error()));
    bool *at_end = calloc((size_t)cnt, sizeof(bool));
    if (!at_end)
        abort();
    int ends = 0;
    int64_t deadline = rt_now_ms() + timeout_ms;
    while (ends < cnt && rt_now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consume_queue(rkqu, 100);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (msg->partition >= 0 && msg->partition < cnt && !at_end[msg->partition]) {
                at_end[msg->partition] = true;
                ends++;
            }
        } else if (msg->err) {
            cr_log_info("reading %s: %s", topic, rd_kafka_message_errstr(msg));
        } else {
            if (at_end[msg->partition]) {
                at_end[msg->partition] = false;
                ends--;
            }
            if (!rt_is_progress_marker(msg))
                cb(msg, opaque);
        }
        rd_kafka_message_destroy(msg);
    }
    free(at_end);
    for (int p = 0; p < cnt; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(rkqu);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return ends == cnt;
}

static int count_one(const rd_kafka_message_t *msg, void *opaque) {
    (void)msg;
    ++*(int64_t *)opaque;
    return 0;
}

int64_t rt_count_records(const char *bootstrap, const char *topic, const char *isolation_level,
                         int timeout_ms) {
    int64_t n = 0;
    return read_topic(bootstrap, topic, isolation_level, timeout_ms, count_one, &n) ? n : -1;
}

typedef struct last_ctx_s {
    rt_counts_t *last;
    rt_read_stats_t *stats;
} last_ctx_t;

static int keep_last(const rd_kafka_message_t *msg, void *opaque) {
    last_ctx_t *lc = opaque;
    char key[512], value[32];
    rt_read_stats_t *st = lc->stats;
    st->records++;
    size_t klen = msg->key_len < sizeof(key) - 1 ? msg->key_len : sizeof(key) - 1;
    memcpy(key, msg->key ? msg->key : "", msg->key ? klen : 0);
    key[msg->key ? klen : 0] = '\0';
    int64_t v = 0;
    int ok = msg->payload && msg->len > 0 && msg->len < sizeof(value);
    if (ok) {
        memcpy(value, msg->payload, msg->len);
        value[msg->len] = '\0';
        char *end;
        errno = 0;
        v = strtoll(value, &end, 10);
        ok = !errno && !*end;
    }
    if (!ok) {
        st->bad_values++;
        return 0;
    }
    rt_count_t *e = rt_counts_at(lc->last, key);
    if (e->partition >= 0 && e->partition != msg->partition)
        st->split_keys++;
    if (v != e->value + 1)
        st->not_next++;
    e->value = v;
    e->partition = msg->partition;
    return 0;
}

void rt_read_last_counts(const char *bootstrap, const char *topic, const char *isolation_level,
                         int timeout_ms, rt_counts_t *last, rt_read_stats_t *stats) {
    memset(stats, 0, sizeof(*stats));
    last_ctx_t lc = {.last = last, .stats = stats};
    stats->complete = read_topic(bootstrap, topic, isolation_level, timeout_ms, keep_last, &lc);
}

/* ---------------------------------------------------------------------------------------- */
/* Restore lines                                                                             */

long rt_file_size(const char *file) {
    struct stat sb;
    return stat(file, &sb) ? 0 : (long)sb.st_size;
}

/* Parses one restore line into r. Returns 0, or -1 when line is not one. */
static int parse_restore(const char *line, rt_restore_t *r) {
    const char *t = strstr(line, ": task ");
    if (!t)
        return -1;
    char why[64] = "";
    long long n = 0, off = 0;
    memset(r, 0, sizeof(*r));
    /* task 0_1: store "counts" restored: 12 changelog record(s) replayed from offset 34 (...) */
    if (sscanf(t,
               ": task %31[^:]: store \"%127[^\"]\" restored: %lld changelog record(s) "
               "replayed from offset %lld (%63[^)])",
               r->task, r->store, &n, &off, why) == 5) {
        r->records = n;
        r->offset = off;
        if (!strcmp(why, "the stored offset"))
            r->kind = RT_RESTORE_STORED;
        else if (!strcmp(why, "no local state"))
            r->kind = RT_RESTORE_SCRATCH;
        else
            return -1;
        return 0;
    }
    /* task 0_1: store "counts" up to date at changelog offset 34, nothing to restore */
    if (sscanf(t, ": task %31[^:]: store \"%127[^\"]\" up to date at changelog offset %lld",
               r->task, r->store, &off) == 3) {
        r->kind = RT_RESTORE_UP_TO_DATE;
        r->offset = off;
        return 0;
    }
    return -1;
}

void rt_restore_log_read(const char *log, long from_byte, rt_restore_log_t *out) {
    memset(out, 0, sizeof(*out));
    FILE *fp = fopen(log, "r");
    if (!fp)
        return;
    if (from_byte > 0)
        fseek(fp, from_byte, SEEK_SET);
    char line[2048];
    while (fgets(line, sizeof(line), fp)) {
        if (strstr(line, "] thread-") && strstr(line, ": assigned ")) {
            out->generations++;
            continue;
        }
        rt_restore_t r;
        if (parse_restore(line, &r))
            continue;
        r.generation = out->generations;
        if (out->cnt == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = realloc(out->v, out->cap * sizeof(*out->v));
            if (!out->v)
                abort();
        }
        out->v[out->cnt++] = r;
    }
    fclose(fp);
}

void rt_restore_log_free(rt_restore_log_t *out) {
    free(out->v);
    memset(out, 0, sizeof(*out));
}

void rt_restore_log_sum(const rt_restore_log_t *log, int generation, const char *store,
                        rt_restore_sum_t *sum) {
    static const char *const kind_name[] = {"no local state", "stored offset", "up to date"};
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; i < log->cnt; i++) {
        const rt_restore_t *r = &log->v[i];
        if ((generation >= 0 && r->generation != generation) || (store && strcmp(store, r->store)))
            continue;
        sum->lines++;
        sum->records += r->records;
        sum->scratch += r->kind == RT_RESTORE_SCRATCH;
        sum->stored += r->kind == RT_RESTORE_STORED;
        sum->up_to_date += r->kind == RT_RESTORE_UP_TO_DATE;
        size_t len = strlen(sum->text);
        if (len + 100 < sizeof(sum->text))
            snprintf(sum->text + len, sizeof(sum->text) - len,
                     "%s%s %s: %" PRId64 " from %" PRId64 " (%s)", len ? "; " : "", r->task,
                     r->store, r->records, r->offset, kind_name[r->kind]);
    }
}

void rt_restore_summary(const char *log, long from_byte, rt_restore_sum_t *sum) {
    rt_restore_log_t l;
    rt_restore_log_read(log, from_byte, &l);
    rt_restore_log_sum(&l, -1, NULL, sum);
    rt_restore_log_free(&l);
}

bool rt_wait_restores(const char *log, long from_byte, int min_lines, int timeout_ms) {
    int64_t deadline = rt_now_ms() + timeout_ms;
    for (;;) {
        rt_restore_sum_t sum;
        rt_restore_summary(log, from_byte, &sum);
        if (sum.lines >= min_lines)
            return true;
        if (rt_now_ms() >= deadline)
            return false;
        sleep_ms(100);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Group lag                                                                                 */

/* Sum over topic's partitions of end offset minus committed offset, or -1. */
static int64_t group_lag(rd_kafka_t *rk, const char *topic, int partitions) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    int64_t lag = -1;
    if (!rd_kafka_committed(rk, parts, 10000)) {
        lag = 0;
        for (int p = 0; p < partitions && lag >= 0; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) ||
                parts->elems[p].err) {
                lag = -1;
                break;
            }
            int64_t committed = parts->elems[p].offset >= 0 ? parts->elems[p].offset : lo;
            lag += hi > committed ? hi - committed : 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

bool rt_child_ended(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    return !waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) && info.si_pid == pid;
}

int64_t rt_wait_group_caught_up(const char *bootstrap, const char *group, const char *topic,
                                int timeout_ms, pid_t watch) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "log_level", "3", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr, sizeof(errstr))) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("lag consumer: %s", errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("lag consumer: %s", errstr);
    }
    /* No subscribe: this consumer only asks the coordinator for the group's offsets. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int partitions = -1;
    if (!rd_kafka_metadata(rk, 0, rkt, &md, 10000) && md->topic_cnt == 1 && !md->topics[0].err)
        partitions = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    int64_t lag = -1, deadline = rt_now_ms() + timeout_ms;
    while (partitions > 0) {
        lag = group_lag(rk, topic, partitions);
        if (lag == 0 || rt_now_ms() >= deadline || (watch > 0 && rt_child_ended(watch)))
            break;
        sleep_ms(250);
    }
    rd_kafka_destroy(rk);
    return lag;
}

/* ---------------------------------------------------------------------------------------- */
/* Memory of a process                                                                       */

/* Reads VmRSS and VmHWM (kB) of pid. Returns 0, or -1 when the process is gone. */
static int read_mem(pid_t pid, int64_t *rss_kb, int64_t *hwm_kb) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    int found = 0;
    long long v;
    while (fgets(line, sizeof(line), fp)) {
        if (sscanf(line, "VmRSS: %lld kB", &v) == 1) {
            *rss_kb = v;
            found |= 1;
        } else if (sscanf(line, "VmHWM: %lld kB", &v) == 1) {
            *hwm_kb = v;
            found |= 2;
        }
    }
    fclose(fp);
    return found == 3 ? 0 : -1;
}

static void *sampler_main(void *arg) {
    rt_mem_sampler_t *s = arg;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        int64_t rss = 0, hwm = 0;
        if (!read_mem(s->pid, &rss, &hwm)) {
            s->last_rss_kb = rss;
            if (rss > s->peak_rss_kb)
                s->peak_rss_kb = rss;
            if (hwm > s->hwm_kb)
                s->hwm_kb = hwm;
            s->samples++;
        }
        sleep_ms(s->interval_ms);
    }
    return NULL;
}

void rt_mem_sampler_start(rt_mem_sampler_t *s, pid_t pid, int interval_ms) {
    memset(s, 0, sizeof(*s));
    s->pid = pid;
    s->interval_ms = interval_ms;
    int err = pthread_create(&s->tid, NULL, sampler_main, s);
    if (err)
        cr_assert_fail("cannot start the memory sampler: %s", strerror(err));
}

void rt_mem_sampler_stop(rt_mem_sampler_t *s) {
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->tid, NULL);
    int64_t rss = 0, hwm = 0;
    if (!read_mem(s->pid, &rss, &hwm) && hwm > s->hwm_kb)
        s->hwm_kb = hwm;
}

/* ---------------------------------------------------------------------------------------- */
/* The crash scenario                                                                        */

/* Starts run k of the scenario. */
static pid_t start_run(rt_crash_result_t *res, const rt_count_app_t *app, int k, int64_t t0) {
    char name[300];
    snprintf(name, sizeof(name), "%s-run%d.log", res->app_id, k);
    res->run[k].log = rt_tmp_path(name);
    res->run[k].killed_s = -1;
    res->run[k].exit_code = -1;
    res->run[k].started_s = t0 ? (double)(rt_now_ms() - t0) / 1000.0 : 0;
    res->runs = k + 1;
    return rt_count_spawn(app, res->run[k].log);
}

/* Kills run k at its seeded point (never before its stores are open). */
static void kill_run(const rt_crash_t *sc, rt_crash_result_t *res, int k, pid_t pid, int64_t t0,
                     uint64_t *rng) {
    rt_crash_run_t *run = &res->run[k];
    if (!rt_wait_restores(run->log, 0, sc->partitions, ACTIVE_WAIT_MS)) {
        rt_log_tail(run->log, 30);
        cr_assert_fail("run %d did not open its %d stores within %d ms (log %s)", k, sc->partitions,
                       ACTIVE_WAIT_MS, run->log);
    }
    int64_t active = rt_now_ms();
    double producing_ms = (double)sc->records * 1000.0 / sc->rate_per_sec;
    double u = 0.1 + 0.8 * (double)(rt_rand_next(rng) >> 11) / (double)(1ULL << 53);
    int64_t target = t0 + (int64_t)(producing_ms * (0.1 + 0.8 * (k + u) / sc->kills));
    int64_t when = target > active + 1000 ? target : active + 1000;
    sleep_ms(when - rt_now_ms());
    if (rt_wait(pid, 0) != -1) {
        rt_log_tail(run->log, 30);
        cr_assert_fail("run %d ended before it was to be killed (log %s)", k, run->log);
    }
    rt_kill(pid, SIGKILL);
    run->exit_code = rt_wait(pid, KILL_WAIT_MS);
    run->killed_s = (double)(rt_now_ms() - t0) / 1000.0;
    rt_restore_summary(run->log, 0, &run->restore);
}

void rt_crash_run(const rt_crash_t *sc, rt_crash_result_t *res) {
    const char *bootstrap = rt_bootstrap();
    memset(res, 0, sizeof(*res));
    if (sc->kills + 1 > RT_CRASH_MAX_RUNS)
        cr_assert_fail("rt_crash_run: at most %d kills", RT_CRASH_MAX_RUNS - 1);
    res->app_id = rt_unique_name(sc->name);
    res->input = cat(res->app_id, ".in");
    res->output = cat(res->app_id, ".out");
    res->changelog = cat(res->app_id, "-counts-changelog");
    res->state_dir = rt_state_dir_new(sc->name);
    rt_create_topic(bootstrap, res->input, sc->partitions);
    rt_create_topic(bootstrap, res->output, sc->partitions);

    rt_count_app_t app = {.bootstrap = bootstrap,
                          .input = res->input,
                          .output = res->output,
                          .app_id = res->app_id,
                          .state_dir = res->state_dir,
                          .instance_id = "crash",
                          .stores = 1,
                          .props = sc->props};
    pid_t pid = start_run(res, &app, 0, 0);
    res->run[0].changelog_records = 0;
    rt_keygen_t gen = {.seed = sc->seed, .keys = sc->keys};
    uint64_t rng = sc->seed;
    int64_t t0 = rt_now_ms();
    rt_bg_producer_t bg;
    rt_bg_produce_start(&bg, bootstrap, res->input, sc->records, rt_gen_keys, &gen,
                        sc->rate_per_sec);
    for (int k = 0; k < sc->kills; k++) {
        kill_run(sc, res, k, pid, t0, &rng);
        res->run[k + 1].changelog_records =
            rt_count_records(bootstrap, res->changelog, sc->isolation_level, COUNT_READ_MS);
        pid = start_run(res, &app, k + 1, t0);
        cr_log_info("%s: run %d killed at %.1f s (exit %d); restarted with %" PRId64
                    " changelog records",
                    sc->name, k, res->run[k].killed_s, res->run[k].exit_code,
                    res->run[k + 1].changelog_records);
    }
    if (rt_bg_produce_join(&bg))
        cr_assert_fail("producing the input: %s", bg.errstr);
    if (bg.delivered.cnt != sc->records)
        cr_assert_fail("%zu input records acknowledged, %zu produced", bg.delivered.cnt,
                       sc->records);
    cr_log_info("%s: %zu input records in %.1f s", sc->name, sc->records,
                (double)(rt_now_ms() - t0) / 1000.0);
    rt_counts_add_records(&res->reference, &bg.delivered);
    rt_records_free(&bg.delivered);

    rt_crash_run_t *last = &res->run[res->runs - 1];
    res->lag =
        rt_wait_group_caught_up(bootstrap, res->app_id, res->input, sc->catch_up_timeout_ms, pid);
    res->seconds = (double)(rt_now_ms() - t0) / 1000.0;
    rt_kill(pid, SIGTERM);
    last->exit_code = rt_wait(pid, STOP_WAIT_MS);
    rt_restore_summary(last->log, 0, &last->restore);
    res->changelog_end =
        rt_count_records(bootstrap, res->changelog, sc->isolation_level, COUNT_READ_MS);
    rt_read_last_counts(bootstrap, res->output, sc->isolation_level, FINAL_READ_MS, &res->final,
                        &res->read);
    rt_counts_compare(&res->reference, &res->final, &res->cmp);
    if (res->lag || last->exit_code || res->cmp.missing || res->cmp.below || !res->read.complete)
        rt_log_tail(last->log, 40);
}

void rt_crash_result_free(rt_crash_result_t *res) {
    rt_state_dir_remove(res->state_dir);
    free(res->state_dir);
    free(res->app_id);
    free(res->input);
    free(res->output);
    free(res->changelog);
    for (int k = 0; k < res->runs; k++)
        free(res->run[k].log);
    rt_counts_free(&res->reference);
    rt_counts_free(&res->final);
    memset(res, 0, sizeof(*res));
}
