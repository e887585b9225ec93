/*
 * global_join.c — bench-global-join: orders enriched with their user's row, by the
 * co-partitioned stream–table join (the baseline) or by the stream–global table join,
 * measured from the first record consumed to the last result; the writer of its input; and
 * the digest that checks its output (bench/global_join.sh).
 *
 *   bench-global-join --write --bootstrap-servers B --users T --orders T --user-count U
 *                     --order-count N --base-ms MS [--seed S (42)]
 *   bench-global-join --expect --user-count U --order-count N [--seed S]
 *   bench-global-join --digest                  (reads "key<TAB>value" lines on stdin)
 *   bench-global-join --variant table|global --users T --orders T --output T
 *                     --order-count N [--timeout-s S (600)] [common Rill flags:
 *                     --bootstrap-servers, --state-dir, -D application.id=ID, ...]
 *
 * The workload (seed S):
 *   user i, 0 <= i < U   key "u<i>", a 100-byte value "name=user-<i>;region=r<i % 50>;bio="
 *                        then letters drawn by (S, i); timestamp MS + i
 *   order i, 0 <= i < N  key "u<k>", value "user=u<k>;order=<i>;amount=<a>", timestamp
 *                        MS + U + i, where (k, a) are drawn by (S, i): k < U for ~95% of the
 *                        orders, U <= k < 2U (a user without a row) for the rest
 * Both topics are partitioned by murmur2 of the key (rill_producer_send, partition -1): with
 * the same partition count they are co-partitioned. Every user is older than every order, so
 * a task that reads in timestamp order has applied every row before the first order.
 *
 * A result is keyed as its order (the user), with value "<order value>|<user value>", or
 * "<order value>|NULL" when the user has no row (a LEFT join in both variants):
 *   table   orders → rill_stream_table_join(orders, rill_table_from(users), LEFT, grace 0)
 *   global  orders → rill_stream_global_join(orders, rill_global_table(users), LEFT), the key
 *           mapper reading the user from the order's "user=" field
 * --expect prints "EXPECT records=N unmatched=M digest=D", the digest of the N results the
 * join must give; --digest prints "DIGEST records=R digest=D" of what it reads (kcat -f
 * '%k\t%s\n' of the output topic). The digest is a sum of a 64-bit hash per line, so the
 * order of the lines does not matter and a missing, extra or changed result changes it.
 *
 * A run (--variant) prints:
 *   RESULT prog=<variant> records=N wall_s cpu_s last_s total_s cpu_total_s   (bench_common.h;
 *          wall_s and cpu_s from the first record consumed to the N-th result, last_s the same)
 *   START start_s=<rill_app_start's duration: the global tables' bootstrap, if any>
 *         start_to_last_s cpu_start_to_last_s   (from the call to rill_app_start to the N-th
 *         result: group join, bootstrap and the whole input)
 *   METRICS results=.. unmatched=.. consumed=.. processed=.. produced=.. changelog=.. dlq=..
 *           commits=.. rebalances=.. pauses=.. global_records=.. maxrss_kb=..
 * A result is counted when the joiner makes it, just before the sink hands it to the
 * producer (rill_records_produced_total also counts the table's changelog records).
 *
 * DESIGN
 * As bench-state-agg, the program watches the app from outside: rill_app_metric() every 1 ms
 * until the first record is consumed, then the joiner's counter every 10 ms; every wait is
 * bounded by --timeout-s. Rill's defaults otherwise (at_least_once, commit.interval.ms=30000,
 * one stream thread, bytes serdes).
 */
#include <rill.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "state_bench.h"

#define PROG "bench-global-join"
#define USER_VALUE_BYTES 100
#define NO_ROW_PERCENT 5
#define FLUSH_TIMEOUT_MS 120000
#define LINE_MAX_BYTES 4096

typedef enum gj_mode_e { MODE_RUN = 0, MODE_WRITE, MODE_EXPECT, MODE_DIGEST } gj_mode_t;
typedef enum gj_variant_e { VARIANT_NONE = 0, VARIANT_TABLE, VARIANT_GLOBAL } gj_variant_t;

typedef struct gj_opts_s {
    gj_mode_t mode;
    gj_variant_t variant;
    const char *users, *orders, *output;
    long user_count, order_count, base_ms, seed, timeout_s;
} gj_opts_t;

/* ---- the workload ---- */

/* The user of order i (k >= user_count: no row) and its amount. */
static void order_draw(const gj_opts_t *o, long i, long *user, long *amount) {
    uint64_t r = sb_splitmix64(((uint64_t)o->seed << 40) ^ (uint64_t)i);
    uint64_t pick = (r >> 16) % (uint64_t)o->user_count;
    *user = (long)(r % 100 < NO_ROW_PERCENT ? (uint64_t)o->user_count + pick : pick);
    *amount = (long)((r >> 48) % 10000);
}

static int user_key(long k, char *out, size_t size) {
    return snprintf(out, size, "u%ld", k);
}

/* The USER_VALUE_BYTES-byte value of user i (not NUL-terminated). */
static void user_value(const gj_opts_t *o, long i, char out[USER_VALUE_BYTES]) {
    char head[64];
    int n = snprintf(head, sizeof(head), "name=user-%ld;region=r%ld;bio=", i, i % 50);
    memcpy(out, head, (size_t)n);
    uint64_t r = sb_splitmix64(((uint64_t)o->seed << 40) ^ (uint64_t)i ^ 0x5555555555ull);
    for (int b = n; b < USER_VALUE_BYTES; b++) {
        if ((b - n) % 12 == 0)
            r = sb_splitmix64(r);
        out[b] = (char)('a' + (r >> ((b - n) % 12 * 5)) % 26);
    }
}

static int order_value(long i, long user, long amount, char *out, size_t size) {
    return snprintf(out, size, "user=u%ld;order=%ld;amount=%ld", user, i, amount);
}

/* ---- the digest ---- */

static uint64_t line_hash(const char *data, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 0x100000001b3ull;
    }
    return sb_splitmix64(h);
}

static int digest_stdin(void) {
    char line[LINE_MAX_BYTES];
    uint64_t sum = 0;
    long records = 0;
    while (fgets(line, sizeof(line), stdin)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            len--;
        else if (!feof(stdin)) {
            fprintf(stderr, PROG ": --digest: a line longer than %d bytes\n", LINE_MAX_BYTES);
            return 1;
        }
        sum += line_hash(line, len);
        records++;
    }
    printf("DIGEST records=%ld digest=%016" PRIx64 "\n", records, sum);
    return 0;
}

/* The "key<TAB>value" lines of the N results the join must give. */
static int expect(const gj_opts_t *o) {
    char line[LINE_MAX_BYTES];
    uint64_t sum = 0;
    long unmatched = 0;
    for (long i = 0; i < o->order_count; i++) {
        long user, amount;
        order_draw(o, i, &user, &amount);
        int n = user_key(user, line, sizeof(line));
        line[n++] = '\t';
        n += order_value(i, user, amount, line + n, sizeof(line) - (size_t)n);
        line[n++] = '|';
        if (user < o->user_count) {
            user_value(o, user, line + n);
            n += USER_VALUE_BYTES;
        } else {
            memcpy(line + n, "NULL", 4);
            n += 4;
            unmatched++;
        }
        sum += line_hash(line, (size_t)n);
    }
    printf("EXPECT records=%ld unmatched=%ld digest=%016" PRIx64 "\n", o->order_count, unmatched,
           sum);
    return 0;
}

/* ---- --write ---- */

static int send_one(rill_producer_t *p, const char *topic, const char *key, int key_len,
                    const char *value, int value_len, int64_t ts) {
    rill_err_t err =
        rill_producer_send(p, topic, -1, key, (size_t)key_len, value, (size_t)value_len, ts);
    if (err)
        fprintf(stderr, PROG ": writing to %s: %s\n", topic, rill_err2str(err));
    return err ? -1 : 0;
}

static int write_input(const gj_opts_t *o, const char *bootstrap) {
    char errstr[512], key[32], value[128];
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    double t0 = bench_now();
    long unmatched = 0;
    int rc = 0;
    for (long i = 0; i < o->user_count && !rc; i++) {
        int key_len = user_key(i, key, sizeof(key));
        user_value(o, i, value);
        rc = send_one(p, o->users, key, key_len, value, USER_VALUE_BYTES, (int64_t)o->base_ms + i);
    }
    for (long i = 0; i < o->order_count && !rc; i++) {
        long user, amount;
        order_draw(o, i, &user, &amount);
        unmatched += user >= o->user_count;
        int key_len = user_key(user, key, sizeof(key));
        int value_len = order_value(i, user, amount, value, sizeof(value));
        rc = send_one(p, o->orders, key, key_len, value, value_len,
                      (int64_t)o->base_ms + o->user_count + i);
    }
    if (!rc && rill_producer_flush(p, FLUSH_TIMEOUT_MS, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rc = -1;
    }
    if (!rc)
        printf("WROTE users=%ld orders=%ld unmatched=%ld seconds=%.1f\n", o->user_count,
               o->order_count, unmatched, bench_now() - t0);
    rill_producer_destroy(p);
    return rc;
}

/* ---- the topology ---- */

/* The row key of an order: the user of its leading "user=<uid>;" field. */
static int user_of(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    static const char field[] = "user=";
    const size_t field_len = sizeof(field) - 1;
    const char *v = rec->value;
    if (!v || rec->value_len <= field_len || memcmp(v, field, field_len))
        return -1;
    const char *uid = v + field_len, *stop = memchr(uid, ';', rec->value_len - field_len);
    size_t len = stop ? (size_t)(stop - uid) : rec->value_len - field_len;
    return len ? rill_buf_append(out->key, uid, len) : -1;
}

/* "<order value>|<row value>", or "<order value>|NULL"; counts the results (*opaque). */
static int enrich(const rill_record_t *order, const rill_record_t *row, rill_buf_t *out,
                  void *opaque) {
    __atomic_add_fetch((int64_t *)opaque, 1, __ATOMIC_RELAXED);
    if (order->value_len && rill_buf_append(out, order->value, order->value_len))
        return -1;
    if (rill_buf_append(out, "|", 1))
        return -1;
    if (!row)
        return rill_buf_append(out, "NULL", 4);
    return row->value_len ? rill_buf_append(out, row->value, row->value_len) : 0;
}

static rill_topology_t *build(const gj_opts_t *o, int64_t *results) {
    rill_topology_t *topo = rill_topology_new();
    rill_stream_t *orders = rill_stream_from(topo, "orders", o->orders, NULL);
    rill_stream_t *joined;
    if (o->variant == VARIANT_TABLE) {
        rill_table_t *users = rill_table_from(topo, "users", o->users, NULL, "users-store");
        joined =
            rill_stream_table_join(orders, users, "enrich", RILL_JOIN_LEFT, 0, enrich, results);
    } else {
        rill_global_table_t *users = rill_global_table(topo, o->users, NULL, "users-global");
        joined = rill_stream_global_join(orders, users, "enrich", RILL_JOIN_LEFT, user_of, enrich,
                                         results);
    }
    rill_stream_to(joined, "sink", o->output, NULL);
    return topo;
}

/* ---- the run ---- */

typedef struct gj_run_s {
    rill_app_t *app;
    int64_t results; /* made by the joiner (atomic) */
    bench_marks_t marks;
    double t_call, cpu_call, t_started, cpu_last;
} gj_run_t;

static int64_t read_consumed(const gj_run_t *r) {
    return rill_app_metric(r->app, "rill_records_consumed_total");
}

static int64_t read_results(const gj_run_t *r) {
    return __atomic_load_n(&r->results, __ATOMIC_RELAXED);
}

/* Polls read(r) every period_ms until it reaches target or deadline passes; 0 or -1. */
static int wait_for(int64_t (*read)(const gj_run_t *), const gj_run_t *r, int64_t target,
                    long period_ms, double deadline) {
    struct timespec ts = {.tv_sec = period_ms / 1000, .tv_nsec = (period_ms % 1000) * 1000000L};
    while (read(r) < target) {
        if (bench_now() >= deadline)
            return -1;
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int run(gj_run_t *r, const gj_opts_t *o) {
    char errstr[512];
    double deadline = r->marks.t_start + (double)o->timeout_s;
    r->t_call = bench_now();
    r->cpu_call = bench_cpu();
    if (rill_app_start(r->app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    r->t_started = bench_now();
    int rc = 0;
    if (wait_for(read_consumed, r, 1, 1, deadline)) {
        fprintf(stderr, PROG ": no record consumed within %ld s\n", o->timeout_s);
        rc = -1;
    } else {
        bench_mark_first(&r->marks);
        if (wait_for(read_results, r, o->order_count, 10, deadline)) {
            fprintf(stderr, PROG ": timed out after %ld s with %" PRId64 " of %ld results\n",
                    o->timeout_s, read_results(r), o->order_count);
            rc = -1;
        }
        r->marks.t_last = bench_now();
        r->cpu_last = bench_cpu();
    }
    rill_app_stop(r->app);
    if (rill_app_wait(r->app, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rc = -1;
    }
    bench_mark_stop(&r->marks);
    return rc;
}

static void print_run(const gj_run_t *r, const gj_opts_t *o) {
    const bench_marks_t *m = &r->marks;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT prog=%s records=%ld wall_s=%.3f cpu_s=%.3f last_s=%.3f total_s=%.3f "
           "cpu_total_s=%.3f\n",
           o->variant == VARIANT_TABLE ? "table" : "global", o->order_count, m->t_last - m->t_first,
           r->cpu_last - m->cpu_first, m->t_last - m->t_first, m->t_stop - m->t_start, m->cpu_stop);
    printf("START start_s=%.3f start_to_last_s=%.3f cpu_start_to_last_s=%.3f\n",
           r->t_started - r->t_call, m->t_last - r->t_call, r->cpu_last - r->cpu_call);
    static const char *const metrics[][2] = {
        {"unmatched", "rill_join_unmatched_total"},
        {"consumed", "rill_records_consumed_total"},
        {"processed", "rill_records_processed_total"},
        {"produced", "rill_records_produced_total"},
        {"changelog", "rill_changelog_records_total"},
        {"dlq", "rill_dlq_records_total"},
        {"commits", "rill_commits_total"},
        {"rebalances", "rill_rebalances_total"},
        {"pauses", "rill_partition_pauses_total"},
        {"global_records", "rill_global_records_total"},
    };
    printf("METRICS results=%" PRId64, read_results(r));
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
        printf(" %s=%" PRId64, metrics[i][0], rill_app_metric(r->app, metrics[i][1]));
    printf(" maxrss_kb=%ld\n", ru.ru_maxrss);
    fflush(stdout);
}

/* Runs the variant (taking conf) and prints its lines. */
static int measure(const gj_opts_t *o, rill_conf_t *conf, bench_marks_t *marks) {
    char errstr[512];
    gj_run_t r = {.marks = *marks};
    rill_topology_t *topo = build(o, &r.results);
    r.app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!r.app) {
        fprintf(stderr, PROG ": %s\n", errstr);
        rill_topology_destroy(topo);
        rill_conf_destroy(conf);
        return -1;
    }
    int rc = run(&r, o);
    if (!rc)
        print_run(&r, o);
    rill_app_destroy(r.app);
    return rc;
}

/* ---- flags ---- */

static int parse_variant(const char *text, gj_variant_t *out) {
    if (!strcmp(text, "table"))
        *out = VARIANT_TABLE;
    else if (!strcmp(text, "global"))
        *out = VARIANT_GLOBAL;
    else
        return -1;
    return 0;
}

/* Sets the field of a flag that takes a value; -1 for an unknown flag or a bad value. */
static int own_flag(gj_opts_t *o, const char *a, const char *v) {
    static const char *const topics[] = {"--users", "--orders", "--output"};
    const char **topic_fields[] = {&o->users, &o->orders, &o->output};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (!strcmp(a, topics[i])) {
            *topic_fields[i] = v;
            return 0;
        }
    static const char *const counts[] = {"--user-count", "--order-count", "--base-ms", "--seed",
                                         "--timeout-s"};
    long *count_fields[] = {&o->user_count, &o->order_count, &o->base_ms, &o->seed, &o->timeout_s};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (!strcmp(a, counts[i])) {
            *count_fields[i] = bench_parse_count(v);
            return *count_fields[i] > 0 ? 0 : -1;
        }
    if (!strcmp(a, "--variant"))
        return parse_variant(v, &o->variant);
    return -1;
}

/* Checks that the mode has what it needs. */
static int check_opts(const gj_opts_t *o) {
    switch (o->mode) {
    case MODE_DIGEST:
        return 0;
    case MODE_EXPECT:
        return o->user_count > 0 && o->order_count > 0 ? 0 : -1;
    case MODE_WRITE:
        return o->users && o->orders && o->user_count > 0 && o->order_count > 0 && o->base_ms > 0
                   ? 0
                   : -1;
    case MODE_RUN:
        break;
    }
    return o->variant != VARIANT_NONE && o->users && o->orders && o->output && o->order_count > 0
               ? 0
               : -1;
}

/* Reads the program's own flags from what rill_cli_parse() left in argv. */
static int parse_own_flags(int argc, char **argv, gj_opts_t *o) {
    static const char *const modes[] = {"--write", "--expect", "--digest"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int is_mode = 0;
        for (int m = 0; m < 3; m++)
            if (!strcmp(a, modes[m])) {
                o->mode = (gj_mode_t)(MODE_WRITE + m);
                is_mode = 1;
            }
        if (is_mode)
            continue;
        if (i + 1 >= argc || own_flag(o, a, argv[i + 1])) {
            fprintf(stderr, PROG ": bad or unknown argument \"%s\"\n", a);
            return -1;
        }
        i++;
    }
    if (check_opts(o)) {
        fprintf(stderr,
                PROG ": missing flags for this mode (see the top of bench/global_join.c)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    char errstr[512];
    bench_marks_t marks = {0};
    bench_mark_start(&marks);
    gj_opts_t opts = {.seed = 42, .timeout_s = 600};
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", PROG, NULL, 0);
    int rc = rill_cli_parse(&argc, argv, conf, NULL, 1, errstr, sizeof(errstr));
    if (rc || parse_own_flags(argc, argv, &opts)) {
        if (rc < 0)
            fprintf(stderr, PROG ": %s\n", errstr);
        rill_conf_destroy(conf);
        return rc > 0 ? 0 : 2;
    }
    if (opts.mode != MODE_RUN) {
        const char *bootstrap = rill_conf_get(conf, "bootstrap.servers");
        if (opts.mode == MODE_DIGEST) {
            rc = digest_stdin();
        } else if (opts.mode == MODE_EXPECT) {
            rc = expect(&opts);
        } else if (!bootstrap || !*bootstrap) {
            fprintf(stderr, PROG ": --write needs --bootstrap-servers\n");
            rc = -1;
        } else {
            rc = write_input(&opts, bootstrap);
        }
        rill_conf_destroy(conf);
        return rc ? 1 : 0;
    }
    return measure(&opts, conf, &marks) ? 1 : 0;
}
