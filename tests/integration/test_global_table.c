/*
 * test_global_table.c — a global table (rill_global_table, rill_stream_global_join) on a real
 * Kafka, under exactly_once_v2, through a SIGKILL, a restart on the same state directory and
 * a second process with a fresh one: tests/progs/rill_global_app enriches orders with their
 * user's row (LEFT join: "<order value>|<row value>" or "<order value>|NULL").
 *
 * Topics. The table: 2 partitions, USERS rows "u<i>" = "v1-<i>". The orders: 3 partitions,
 * so not co-partitioned with the table (that is what a global table is for), order i keyed
 * "order-<i>" with value "user=u<uid>;amount=<n>", uid = i * 7919 % 6000: one order in six
 * names a user who never had a row.
 *
 * Scenario.
 *  1. Process A (state directory of its own) starts; once its bootstrap is done PHASE1
 *     orders are written at PHASE1_RATE per second (A processes 30k orders written
 *     beforehand in well under a second, too fast for a kill to land in the middle), and A
 *     is SIGKILLed once 30–50% of the phase-1 output is visible (read_uncommitted), at a
 *     moment its transaction is open (output past the last stable offset) when it can: those
 *     records are aborted and must be processed again after the restart. The test waits for
 *     the rest of phase 1 to be written before the table changes.
 *  2. While A is down the table changes: UPDATED users get "v2-<i>", DELETED users a
 *     tombstone, and BAD records have a null key (dead-letter topic, reason beginning
 *     'global table "<topic>": ').
 *  3. A restarts on its state directory and must read at bootstrap only what came after the
 *     offsets stored with its rows (the update records); B starts with an empty state
 *     directory in the same group (the orders are split between A and B) and must read the
 *     whole table topic. Both run with --drain.
 *  4. Once both have logged "global tables ready", PHASE2 more orders are written; both must
 *     then end by themselves with exit 0.
 *
 * What must hold (output read with read_committed), against a reference model of the table
 * computed here from the records written (not by Rill):
 *  - every order is in the output exactly once, keyed by its order key;
 *  - an order written by A's first run (an offset below the output's high watermark once A
 *    is dead) has the value with the table as first written (v1): the updates came later;
 *  - any other order (phase 2, and the phase-1 orders A's first run had not committed) has
 *    the value with the updated table (v2, a deleted row gives NULL), since a process
 *    processes nothing before its bootstrap has read the table to its end; this implies the
 *    weaker rule "a phase-1 value is the v1 or the v2 reference";
 *  - the dead-letter topic holds the BAD records only, each with its key (null), value,
 *    source partition and offset, the global table reason and the app's id. Each process
 *    reads the whole topic into a copy of its own, so each process that read a bad record
 *    dead-letters it: here A's second run and B, two copies of each.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it) and RILL_BUILD_DIR (ctest sets it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "rt_state.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS 5000      /* rows "u0".."u4999" at first */
#define USER_SPACE 6000 /* orders name users 0..5999: one in six has no row */
#define TABLE_PARTITIONS 2
#define INPUT_PARTITIONS 3
#define OUTPUT_PARTITIONS 3
#define PHASE1 30000
#define PHASE2 20000
#define PHASE1_RATE 6000 /* orders per second while A runs: 5 s */
#define ORDERS (PHASE1 + PHASE2)
#define UPDATED 1000 /* users with uid % 5 == 0 get "v2-<uid>" */
#define DELETED 300  /* users with uid % 5 == 1 and uid < 1500 get a tombstone */
#define BAD 5        /* null-key records among the updates */
#define UPDATES (UPDATED + DELETED + BAD)
#define KILL_FROM_PCT 30
#define KILL_TO_PCT 50
#define READY_TIMEOUT_MS 60000
#define RUN_TIMEOUT_MS 90000
#define READ_TIMEOUT_MS 60000
#define MAX_EXAMPLES 12

static const char *const eos_props[] = {
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "consumer.session.timeout.ms=6000",
    "consumer.heartbeat.interval.ms=500",
    NULL,
};

TestSuite(integration_global_table, .fini = rt_state_fini, .timeout = 240);

/* ---------------------------------------------------------------------------------------- */
/* The input and the reference model                                                        */

static unsigned order_user(size_t i) {
    return (unsigned)((i * 7919u) % USER_SPACE);
}

static unsigned order_amount(size_t i) {
    return (unsigned)((i * 31u) % 1000u + 1u);
}

static void gen_order(size_t i, char *key, size_t key_size, char *value, size_t value_size,
                      void *opaque) {
    (void)opaque;
    snprintf(key, key_size, "order-%zu", i);
    snprintf(value, value_size, "user=u%u;amount=%u", order_user(i), order_amount(i));
}

/* One record of the table topic as written: key and value NULL for null. */
typedef struct table_rec_s {
    char *key, *value;
    int32_t partition; /* as acknowledged */
    int64_t offset;
} table_rec_t;

typedef struct table_log_s {
    table_rec_t *v;
    size_t cnt;
} table_log_t;

static void table_add(table_log_t *t, const char *key, const char *value) {
    table_rec_t *v = realloc(t->v, (t->cnt + 1) * sizeof(*v));
    cr_assert_not_null(v);
    t->v = v;
    t->v[t->cnt++] = (table_rec_t){.key = key ? strdup(key) : NULL,
                                   .value = value ? strdup(value) : NULL,
                                   .partition = -1,
                                   .offset = -1};
}

static void table_log_free(table_log_t *t) {
    for (size_t i = 0; i < t->cnt; i++)
        free(t->v[i].key), free(t->v[i].value);
    free(t->v);
}

/* The first version of the table: "u<i>" = "v1-<i>". */
static void table_initial(table_log_t *t) {
    char key[32], value[40];
    for (unsigned u = 0; u < USERS; u++) {
        snprintf(key, sizeof(key), "u%u", u);
        snprintf(value, sizeof(value), "v1-%u", u);
        table_add(t, key, value);
    }
}

/* The changes written while A is down: updates, tombstones and null-key records, mixed. */
static void table_updates(table_log_t *t) {
    char key[32], value[40];
    size_t updated = 0, deleted = 0, bad = 0;
    for (unsigned u = 0; u < USERS; u++) {
        if (u % 5 == 0) {
            snprintf(key, sizeof(key), "u%u", u);
            snprintf(value, sizeof(value), "v2-%u", u);
            table_add(t, key, value);
            updated++;
        } else if (u % 5 == 1 && u < 1500) {
            snprintf(key, sizeof(key), "u%u", u);
            table_add(t, key, NULL);
            deleted++;
        }
        if (u % 1000 == 500 && bad < BAD) {
            snprintf(value, sizeof(value), "bad-%zu", bad++);
            table_add(t, NULL, value);
        }
    }
    cr_assert(updated == UPDATED && deleted == DELETED && bad == BAD,
              "update plan: %zu updated, %zu deleted, %zu bad", updated, deleted, bad);
}

/* The reference table: rows by uid (NULL: no row), made by applying records as Kafka keeps
 * them for a key (in order); a null key changes nothing. */
typedef struct ref_table_s {
    char *row[USER_SPACE];
} ref_table_t;

static void ref_apply(ref_table_t *ref, const table_log_t *t, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const table_rec_t *r = &t->v[i];
        char *end;
        unsigned long uid;
        if (!r->key || r->key[0] != 'u' || (uid = strtoul(r->key + 1, &end, 10)) >= USER_SPACE ||
            *end)
            continue;
        free(ref->row[uid]);
        ref->row[uid] = r->value ? strdup(r->value) : NULL;
    }
}

static void ref_copy(ref_table_t *dst, const ref_table_t *src) {
    for (size_t u = 0; u < USER_SPACE; u++)
        dst->row[u] = src->row[u] ? strdup(src->row[u]) : NULL;
}

static void ref_free(ref_table_t *ref) {
    for (size_t u = 0; u < USER_SPACE; u++)
        free(ref->row[u]);
}

/* The expected output value of order i with table ref. */
static void ref_value(const ref_table_t *ref, size_t i, char *out, size_t size) {
    unsigned uid = order_user(i);
    snprintf(out, size, "user=u%u;amount=%u|%s", uid, order_amount(i),
             ref->row[uid] ? ref->row[uid] : "NULL");
}

/* Writes orders [first, first + n) at rate per second (0: at once) on a thread of its own. */
typedef struct writer_s {
    pthread_t tid;
    const char *bootstrap, *topic;
    size_t first, n;
    int rate, rc;
    char errstr[512];
} writer_t;

static void *writer_main(void *arg) {
    writer_t *w = arg;
    rt_produce_opts_t opts = {.first = w->first, .rate_per_sec = w->rate};
    w->rc = rt_produce_strings(w->bootstrap, w->topic, w->n, gen_order, NULL, &opts, w->errstr,
                               sizeof(w->errstr));
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing the table topic (nulls included) with librdkafka                                 */

static void on_table_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    table_rec_t *r = msg->_private;
    if (!msg->err) {
        r->partition = msg->partition;
        r->offset = msg->offset;
    }
}

/* Writes t->v[from..to) to topic (idempotent, murmur2_random as Kafka's Java clients) and
 * waits for every acknowledgement. */
static void table_write(const char *bootstrap, const char *topic, table_log_t *t, size_t from,
                        size_t to) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "partitioner", "murmur2_random", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "linger.ms", "5", errstr, sizeof(errstr))) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("table producer: %s", errstr);
    }
    rd_kafka_conf_set_dr_msg_cb(kc, on_table_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("table producer: %s", errstr);
    }
    for (size_t i = from; i < to; i++) {
        table_rec_t *r = &t->v[i];
        rd_kafka_resp_err_t err;
        for (int tries = 0; tries < 1000; tries++) {
            err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(r->key, r->key ? strlen(r->key) : 0),
                                    RD_KAFKA_V_VALUE(r->value, r->value ? strlen(r->value) : 0),
                                    RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "table record %zu: %s", i,
                     rd_kafka_err2str(err));
    }
    rd_kafka_flush(rk, 60000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    cr_assert_eq(left, 0, "table: %d record(s) not acknowledged in 60 s", left);
    for (size_t i = from; i < to; i++)
        cr_assert(t->v[i].offset >= 0, "table record %zu was not delivered", i);
}

/* ---------------------------------------------------------------------------------------- */
/* Watching the output's end offsets                                                        */

/* Two clients: the high watermark comes from a read_uncommitted one, the last stable offset
 * (the end of what read_committed readers see) from a read_committed one. */
typedef struct watermarks_s {
    rd_kafka_t *rk_hw, *rk_lso;
    const char *topic;
    int64_t hi[OUTPUT_PARTITIONS], lso[OUTPUT_PARTITIONS];
    int64_t hi_sum, lso_sum;
} watermarks_t;

static rd_kafka_t *watermark_client(const char *bootstrap, const char *isolation_level) {
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(kc, "isolation.level", isolation_level, errstr, sizeof(errstr))) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("watermark client: %s", errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        cr_assert_fail("watermark client: %s", errstr);
    }
    return rk;
}

static void watermarks_open(watermarks_t *w, const char *bootstrap, const char *topic) {
    w->rk_hw = watermark_client(bootstrap, "read_uncommitted");
    w->rk_lso = watermark_client(bootstrap, "read_committed");
    w->topic = topic;
}

/* Queries every partition's high watermark and last stable offset. Returns the sum of the
 * high watermarks (records written, committed or not, plus transaction markers: what
 * read_uncommitted readers see), or -1 on an error. */
static int64_t watermarks_query(watermarks_t *w) {
    w->hi_sum = w->lso_sum = 0;
    for (int p = 0; p < OUTPUT_PARTITIONS; p++) {
        int64_t lo;
        if (rd_kafka_query_watermark_offsets(w->rk_hw, w->topic, p, &lo, &w->hi[p], 5000) ||
            rd_kafka_query_watermark_offsets(w->rk_lso, w->topic, p, &lo, &w->lso[p], 5000))
            return -1;
        w->hi_sum += w->hi[p];
        w->lso_sum += w->lso[p];
    }
    return w->hi_sum;
}

static void watermarks_close(watermarks_t *w) {
    if (w->rk_hw)
        rd_kafka_destroy(w->rk_hw);
    if (w->rk_lso)
        rd_kafka_destroy(w->rk_lso);
    w->rk_hw = w->rk_lso = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The app's processes and their logs                                                       */

typedef struct scenario_s {
    const char *bootstrap;
    char *app_id, *table, *input, *output, *dlq;
} scenario_t;

typedef struct proc_s {
    const char *name; /* "a", "b": static member id and log name */
    char *state_dir;
    pid_t pid;
    char *log;
} proc_t;

static pid_t proc_start(const scenario_t *sc, proc_t *p, int run, bool drain) {
    char *path = rt_build_path("rill_global_app"), file[160], dlq_prop[300];
    snprintf(dlq_prop, sizeof(dlq_prop), "errors.deadletterqueue.topic.name=%s", sc->dlq);
    const char *argv[40] = {path,          "--bootstrap-servers",
                            sc->bootstrap, "--table",
                            sc->table,     "--input",
                            sc->input,     "--output",
                            sc->output,    "--app-id",
                            sc->app_id,    "--state-dir",
                            p->state_dir,  "--instance-id",
                            p->name,       "-D",
                            dlq_prop};
    int argc = 17;
    for (int i = 0; eos_props[i]; i++) {
        argv[argc++] = "-D";
        argv[argc++] = eos_props[i];
    }
    if (drain)
        argv[argc++] = "--drain";
    argv[argc] = NULL;
    snprintf(file, sizeof(file), "%s-%s-run%d.log", sc->app_id, p->name, run);
    free(p->log);
    p->log = rt_tmp_path(file);
    p->pid = rt_spawn((char *const *)argv, p->log);
    free(path);
    return p->pid;
}

/* The number after the last occurrence of prefix in log, or -1. */
static int64_t log_number(const char *log, const char *prefix) {
    FILE *fp = fopen(log, "r");
    char line[2048];
    int64_t n = -1;
    if (!fp)
        return -1;
    while (fgets(line, sizeof(line), fp)) {
        const char *at = strstr(line, prefix);
        if (at)
            n = strtoll(at + strlen(prefix), NULL, 10);
    }
    fclose(fp);
    return n;
}

/* Waits until the log says the global tables are read; false when the process ended or the
 * time ran out first. */
static bool wait_ready(const proc_t *p, int64_t deadline) {
    while (rt_now_ms() < deadline) {
        if (rt_file_contains(p->log, "global tables ready:"))
            return true;
        if (rt_child_ended(p->pid))
            return false;
        rt_sleep_ms(50);
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Checking the output and the dead-letter topic                                            */

typedef struct report_s {
    char text[8192];
    size_t len;
} report_t;

static void report_add(report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report_add(report_t *r, const char *fmt, ...) {
    va_list ap;
    if (r->len >= sizeof(r->text) - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len += (size_t)n < sizeof(r->text) - r->len ? (size_t)n : sizeof(r->text) - r->len - 1;
}

/* Order index of key "order-<i>" (i < ORDERS), or -1. */
static long order_index(const char *key) {
    char *end;
    if (!key || strncmp(key, "order-", 6) || !key[6])
        return -1;
    long i = strtol(key + 6, &end, 10);
    return *end || i < 0 || i >= ORDERS ? -1 : i;
}

typedef struct out_stats_s {
    size_t records, missing, duplicated, unknown, wrong;
    size_t by_first_run, v1_differs;  /* written by A's first run; of them v1 != v2 */
    size_t after_restart, v2_differs; /* phase 1 after the restart; of them v1 != v2 */
    size_t phase2, nulls;             /* phase-2 records; outputs joined with NULL */
} out_stats_t;

/*
 * Compares the output with the references: v1 for records below the output's end at the
 * kill (kill_hi), v2 for the others. Fills st and report; returns the number of problems.
 */
static size_t check_output(const rt_records_t *out, const ref_table_t *v1, const ref_table_t *v2,
                           const int64_t kill_hi[OUTPUT_PARTITIONS], out_stats_t *st,
                           report_t *rep) {
    unsigned char *seen = calloc(ORDERS, 1);
    cr_assert_not_null(seen);
    char want[96], other[96];
    size_t examples = 0;
    memset(st, 0, sizeof(*st));
    st->records = out->cnt;
    for (size_t k = 0; k < out->cnt; k++) {
        const rt_record_t *r = &out->v[k];
        long i = order_index(r->key);
        if (i < 0) {
            st->unknown++;
            if (examples++ < MAX_EXAMPLES)
                report_add(rep, "  unknown key: [%d@%" PRId64 "] %s = %s\n", (int)r->partition,
                           r->offset, r->key ? r->key : "(null)", r->value ? r->value : "(null)");
            continue;
        }
        if (seen[i] < 255)
            seen[i]++;
        if (seen[i] > 1) {
            st->duplicated++;
            if (examples++ < MAX_EXAMPLES)
                report_add(rep, "  duplicate: [%d@%" PRId64 "] %s = %s\n", (int)r->partition,
                           r->offset, r->key, r->value ? r->value : "(null)");
        }
        bool first_run = r->partition >= 0 && r->partition < OUTPUT_PARTITIONS &&
                         r->offset < kill_hi[r->partition];
        const ref_table_t *ref = first_run ? v1 : v2;
        ref_value(ref, (size_t)i, want, sizeof(want));
        ref_value(first_run ? v2 : v1, (size_t)i, other, sizeof(other));
        if (i >= PHASE1)
            st->phase2++;
        else if (first_run)
            st->by_first_run++, st->v1_differs += strcmp(want, other) != 0;
        else
            st->after_restart++, st->v2_differs += strcmp(want, other) != 0;
        if (r->value && strstr(r->value, "|NULL"))
            st->nulls++;
        if (!r->value || strcmp(r->value, want)) {
            st->wrong++;
            if (examples++ < MAX_EXAMPLES)
                report_add(rep,
                           "  wrong value: [%d@%" PRId64 "] %s (phase %d, %s): got \"%s\", "
                           "expected \"%s\"%s\n",
                           (int)r->partition, r->offset, r->key, i < PHASE1 ? 1 : 2,
                           first_run ? "by A's first run: v1"
                                     : "after the "
                                       "restart: v2",
                           r->value ? r->value : "(null)", want,
                           r->value && !strcmp(r->value, other) ? " (the other reference's)" : "");
        }
    }
    for (long i = 0; i < ORDERS; i++) {
        if (seen[i])
            continue;
        st->missing++;
        if (examples++ < MAX_EXAMPLES)
            report_add(rep, "  missing: order-%ld (phase %d, user u%u)\n", i, i < PHASE1 ? 1 : 2,
                       order_user((size_t)i));
    }
    free(seen);
    return st->missing + st->duplicated + st->unknown + st->wrong;
}

/*
 * Checks the dead-letter topic: only the table's null-key records, each with its original
 * value and source, the global table reason, copies = the processes that read it. Returns
 * the number of problems (described in rep).
 */
static size_t check_dlq(const rt_records_t *dlq, const scenario_t *sc, const table_log_t *t,
                        size_t first_update, int copies, report_t *rep) {
    char prefix[300];
    size_t problems = 0, found[BAD] = {0};
    const table_rec_t *bad[BAD];
    size_t bad_cnt = 0;
    for (size_t i = first_update; i < t->cnt && bad_cnt < BAD; i++)
        if (!t->v[i].key)
            bad[bad_cnt++] = &t->v[i];
    snprintf(prefix, sizeof(prefix), "global table \"%s\": ", sc->table);
    for (size_t k = 0; k < dlq->cnt; k++) {
        const rt_record_t *r = &dlq->v[k];
        const char *reason = rt_record_header(r, "rill.error");
        const char *topic = rt_record_header(r, "rill.source.topic");
        const char *part = rt_record_header(r, "rill.source.partition");
        const char *off = rt_record_header(r, "rill.source.offset");
        const char *node = rt_record_header(r, "rill.error.node");
        const char *app = rt_record_header(r, "rill.application.id");
        size_t b = BAD;
        for (size_t j = 0; j < bad_cnt && topic && part && off; j++)
            if (!strcmp(topic, sc->table) && strtol(part, NULL, 10) == bad[j]->partition &&
                strtoll(off, NULL, 10) == bad[j]->offset)
                b = j;
        const char *why = NULL;
        if (b == BAD)
            why = "not one of the table's null-key records";
        else if (r->key)
            why = "key is not null";
        else if (!r->value || strcmp(r->value, bad[b]->value))
            why = "value is not the original";
        else if (!reason || strncmp(reason, prefix, strlen(prefix)) || !strstr(reason, "null key"))
            why = "rill.error is not the global table's null-key reason";
        else if (!node || strcmp(node, "global-table-reader"))
            why = "rill.error.node is not global-table-reader";
        else if (!app || strcmp(app, sc->app_id))
            why = "rill.application.id is not the app's";
        if (why) {
            problems++;
            report_add(rep,
                       "  DLQ [%d@%" PRId64 "]: %s: key %s value %s, from %s [%s] @%s, "
                       "node %s, rill.error \"%s\"\n",
                       (int)r->partition, r->offset, why, r->key ? r->key : "(null)",
                       r->value ? r->value : "(null)", topic ? topic : "?", part ? part : "?",
                       off ? off : "?", node ? node : "?", reason ? reason : "(absent)");
        } else {
            found[b]++;
        }
    }
    for (size_t j = 0; j < bad_cnt; j++) {
        if (found[j] == (size_t)copies)
            continue;
        problems++;
        report_add(rep,
                   "  null-key record \"%s\" (table [%d]@%" PRId64 ") dead-lettered %zu "
                   "time(s), expected %d (once per process that read it)\n",
                   bad[j]->value, (int)bad[j]->partition, bad[j]->offset, found[j], copies);
    }
    return problems;
}

/* ---------------------------------------------------------------------------------------- */
/* The test                                                                                 */

Test(integration_global_table, orders_enriched_once_with_the_row_of_their_time_across_a_kill) {
    char errstr[512];
    int64_t t0 = rt_now_ms();
    scenario_t sc = {.bootstrap = rt_bootstrap()};
    sc.app_id = rt_unique_name("gt");
    sc.table = rt_unique_name("gt-users");
    sc.input = rt_unique_name("gt-orders");
    sc.output = rt_unique_name("gt-enriched");
    sc.dlq = rt_unique_name("gt-dlq");
    rt_create_topic(sc.bootstrap, sc.table, TABLE_PARTITIONS);
    rt_create_topic(sc.bootstrap, sc.input, INPUT_PARTITIONS);
    rt_create_topic(sc.bootstrap, sc.output, OUTPUT_PARTITIONS);

    /* the table as first written */
    table_log_t tlog = {0};
    table_initial(&tlog);
    const size_t first_update = tlog.cnt;
    table_updates(&tlog);
    cr_assert_eq(tlog.cnt, USERS + UPDATES);
    ref_table_t v1 = {0}, v2 = {0};
    ref_apply(&v1, &tlog, 0, first_update);
    ref_copy(&v2, &v1);
    ref_apply(&v2, &tlog, first_update, tlog.cnt);
    table_write(sc.bootstrap, sc.table, &tlog, 0, first_update);
    cr_log_info("%s: %d table rows written to %s (%d partitions) in %.1f s; orders go to %s "
                "(%d partitions)",
                sc.app_id, USERS, sc.table, TABLE_PARTITIONS, (rt_now_ms() - t0) / 1000.0, sc.input,
                INPUT_PARTITIONS);

    /* A; the phase-1 orders at a steady rate once it is ready; A killed once 30-50% of the
     * output is visible */
    proc_t a = {.name = "a", .state_dir = rt_state_dir_new("gt-a")};
    proc_t b = {.name = "b", .state_dir = rt_state_dir_new("gt-b")};
    watermarks_t wm = {0};
    watermarks_open(&wm, sc.bootstrap, sc.output);
    proc_start(&sc, &a, 0, false);
    bool a0_ready = wait_ready(&a, rt_now_ms() + READY_TIMEOUT_MS);
    if (!a0_ready)
        rt_log_tail(a.log, 30);
    cr_assert(a0_ready, "A's first run: global tables not ready after %d s (log %s)",
              READY_TIMEOUT_MS / 1000, a.log);
    writer_t w1 = {
        .bootstrap = sc.bootstrap, .topic = sc.input, .first = 0, .n = PHASE1, .rate = PHASE1_RATE};
    int64_t phase1_ms = rt_now_ms();
    cr_assert_eq(pthread_create(&w1.tid, NULL, writer_main, &w1), 0);
    /* the kill: at 30-50% of the output visible, preferably with a transaction open (output
     * past the last stable offset: records the restart must process again) */
    const int64_t kill_from = (int64_t)PHASE1 * KILL_FROM_PCT / 100;
    const int64_t kill_to = (int64_t)PHASE1 * KILL_TO_PCT / 100;
    int64_t visible = 0, deadline = rt_now_ms() + RUN_TIMEOUT_MS, open_txn = 0;
    size_t looks = 0;
    while (rt_now_ms() < deadline && !rt_child_ended(a.pid)) {
        visible = watermarks_query(&wm);
        looks++;
        open_txn = wm.hi_sum - wm.lso_sum;
        if (visible >= kill_to || (visible >= kill_from && open_txn > 0))
            break;
        rt_sleep_ms(5);
    }
    bool a_running = !rt_child_ended(a.pid);
    if (a_running)
        rt_kill(a.pid, SIGKILL);
    int a0_exit = rt_wait(a.pid, 20000);
    int64_t killed_ms = rt_now_ms();
    if (!a_running || visible < kill_from)
        rt_log_tail(a.log, 30);
    cr_assert(a_running, "A ended (exit %d) before the kill (log %s)", a0_exit, a.log);
    cr_assert_geq(visible, kill_from, "A wrote %" PRId64 " of %d outputs in %d s (log %s)", visible,
                  PHASE1, RUN_TIMEOUT_MS / 1000, a.log);
    cr_assert_eq(a0_exit, 128 + SIGKILL, "A's first run exited with %d", a0_exit);
    int64_t a0_boot = log_number(a.log, "global tables: reading ");
    pthread_join(w1.tid, NULL);
    cr_assert_eq(w1.rc, 0, "phase-1 orders: %s", w1.errstr);
    int64_t written_ms = rt_now_ms();
    /* everything A's first run wrote is below the output's high watermarks once it is dead
     * (a request sent just before the kill lands within moments); what is written after the
     * restart is above them */
    rt_sleep_ms(1000);
    cr_assert_geq(watermarks_query(&wm), 0, "output end offsets after the kill");
    int64_t kill_hi[OUTPUT_PARTITIONS];
    memcpy(kill_hi, wm.hi, sizeof(kill_hi));
    int64_t committed = rt_count_records(sc.bootstrap, sc.output, "read_committed", 20000);
    cr_log_info("%s: A SIGKILLed %.1f s into phase 1 (look %zu) with %" PRId64 " output "
                "offsets visible (%.0f%% of phase 1), %" PRId64 " of them past the last stable "
                "offset (an open transaction); 1 s later %" PRId64 " records committed, output "
                "ends [%" PRId64 ", %" PRId64 ", %" PRId64 "]; phase 1 (%d orders) written in "
                "%.1f s; A's first bootstrap read %" PRId64 " table record(s)",
                sc.app_id, (killed_ms - phase1_ms) / 1000.0, looks, visible,
                100.0 * (double)visible / PHASE1, open_txn, committed, kill_hi[0], kill_hi[1],
                kill_hi[2], PHASE1, (written_ms - phase1_ms) / 1000.0, a0_boot);
    cr_expect_leq(visible, kill_to, "the kill came late: %" PRId64 " of %d outputs visible",
                  visible, PHASE1);
    cr_expect_eq(a0_boot, USERS,
                 "A's first bootstrap read %" PRId64 " record(s), expected %d "
                 "(log %s)",
                 a0_boot, USERS, a.log);

    /* the table changes while A is down */
    table_write(sc.bootstrap, sc.table, &tlog, first_update, tlog.cnt);
    cr_log_info("%s: %d updates, %d tombstones and %d null-key records written to %s", sc.app_id,
                UPDATED, DELETED, BAD, sc.table);

    /* A again on its state directory, B from scratch; phase 2 once both are ready */
    proc_start(&sc, &a, 1, true);
    proc_start(&sc, &b, 0, true);
    int64_t restarted_ms = rt_now_ms();
    deadline = restarted_ms + READY_TIMEOUT_MS;
    bool a_ready = wait_ready(&a, deadline), b_ready = wait_ready(&b, deadline);
    if (!a_ready)
        rt_log_tail(a.log, 30);
    if (!b_ready)
        rt_log_tail(b.log, 30);
    cr_assert(a_ready && b_ready, "not ready after %d s: A %s, B %s (logs %s, %s)",
              READY_TIMEOUT_MS / 1000, a_ready ? "ready" : "not ready",
              b_ready ? "ready" : "not ready", a.log, b.log);
    int64_t ready_ms = rt_now_ms();
    rt_produce_opts_t phase2 = {.first = PHASE1};
    cr_assert_eq(rt_produce_strings(sc.bootstrap, sc.input, PHASE2, gen_order, NULL, &phase2,
                                    errstr, sizeof(errstr)),
                 0, "phase-2 orders: %s", errstr);
    int64_t phase2_ms = rt_now_ms();
    bool a_alive = !rt_child_ended(a.pid), b_alive = !rt_child_ended(b.pid);
    cr_log_info("%s: A and B ready %.1f s after the restart; phase 2 written in %.1f s (A %s, "
                "B %s)",
                sc.app_id, (ready_ms - restarted_ms) / 1000.0, (phase2_ms - ready_ms) / 1000.0,
                a_alive ? "running" : "ended", b_alive ? "running" : "ended");
    cr_expect(a_alive && b_alive,
              "a process ended (drained) before phase 2 was written: the "
              "test's timing assumption failed (A %s, B %s)",
              a_alive ? "running" : "ended", b_alive ? "running" : "ended");

    /* both end by themselves (--drain) */
    int a1_exit = rt_wait(a.pid, RUN_TIMEOUT_MS);
    int64_t left = RUN_TIMEOUT_MS - (rt_now_ms() - phase2_ms);
    int b_exit = rt_wait(b.pid, left > 1000 ? (int)left : 1000);
    int64_t ended_ms = rt_now_ms();
    cr_log_info("%s: A exit %d, B exit %d, %.1f s after phase 2", sc.app_id, a1_exit, b_exit,
                (ended_ms - phase2_ms) / 1000.0);
    if (a1_exit) {
        rt_log_tail(a.log, 30);
        if (a1_exit < 0)
            rt_kill(a.pid, SIGKILL), rt_wait(a.pid, 10000);
    }
    if (b_exit) {
        rt_log_tail(b.log, 30);
        if (b_exit < 0)
            rt_kill(b.pid, SIGKILL), rt_wait(b.pid, 10000);
    }
    cr_expect_eq(a1_exit, 0, "A's second run exited with %d (log %s)", a1_exit, a.log);
    cr_expect_eq(b_exit, 0, "B exited with %d (log %s)", b_exit, b.log);

    /* bootstrap: A only the updates (offsets stored with its rows), B the whole topic */
    int64_t a_boot = log_number(a.log, "global tables: reading ");
    int64_t a_read = log_number(a.log, "global tables ready: ");
    int64_t b_boot = log_number(b.log, "global tables: reading ");
    int64_t b_read = log_number(b.log, "global tables ready: ");
    cr_log_info("%s: bootstrap after the restart: A %" PRId64 " to read, %" PRId64
                " read; B %" PRId64 " to read, %" PRId64 " read",
                sc.app_id, a_boot, a_read, b_boot, b_read);
    cr_expect(a_boot == UPDATES && a_read == UPDATES,
              "A restarted on its state directory must read only the %d update records at "
              "bootstrap; its log says %" PRId64 " to read, %" PRId64 " read (log %s)",
              UPDATES, a_boot, a_read, a.log);
    cr_expect(b_boot == USERS + UPDATES && b_read == USERS + UPDATES,
              "B (empty state directory) must read the whole table topic, %d records; its log "
              "says %" PRId64 " to read, %" PRId64 " read (log %s)",
              USERS + UPDATES, b_boot, b_read, b.log);

    /* the output against the references */
    rt_records_t *out =
        rt_consume_all(sc.bootstrap, sc.output, "read_committed", ORDERS, READ_TIMEOUT_MS);
    out_stats_t st;
    report_t rep = {0};
    size_t bad = check_output(out, &v1, &v2, kill_hi, &st, &rep);
    cr_log_info("%s: output %zu records (read_committed) for %d orders: %zu by A's first run "
                "(v1; %zu differ from v2), %zu phase-1 after the restart (v2; %zu differ from "
                "v1), %zu phase 2 (v2), %zu joined with NULL; %zu missing, %zu duplicated, %zu "
                "unknown, %zu wrong",
                sc.app_id, st.records, ORDERS, st.by_first_run, st.v1_differs, st.after_restart,
                st.v2_differs, st.phase2, st.nulls, st.missing, st.duplicated, st.unknown,
                st.wrong);
    cr_expect_eq(bad, 0,
                 "the output differs from the reference: %zu missing, %zu duplicated, "
                 "%zu unknown, %zu wrong values; first differences:\n%s",
                 st.missing, st.duplicated, st.unknown, st.wrong, rep.text);
    cr_expect_gt(st.by_first_run, 0, "nothing of A's first run was committed");
    cr_expect_gt(st.v2_differs, 0, "no phase-1 record after the restart met a changed row");

    /* the dead-letter topic: the null-key records, once per process that read them */
    rt_records_t *dlq = rt_consume_all(sc.bootstrap, sc.dlq, "read_committed", 2 * BAD, 20000);
    report_t drep = {0};
    size_t dbad = check_dlq(dlq, &sc, &tlog, first_update, 2, &drep);
    cr_log_info("%s: dead-letter topic %s: %zu record(s)", sc.app_id, sc.dlq, dlq->cnt);
    cr_expect_eq(dbad, 0,
                 "the dead-letter topic (%zu records) differs from the expected %d "
                 "null-key records x 2 processes:\n%s",
                 dlq->cnt, BAD, drep.text);
    cr_log_info("%s: %.1f s in all", sc.app_id, (rt_now_ms() - t0) / 1000.0);

    rt_records_free(out);
    free(out);
    rt_records_free(dlq);
    free(dlq);
    watermarks_close(&wm);
    ref_free(&v1);
    ref_free(&v2);
    table_log_free(&tlog);
    rt_state_dir_remove(a.state_dir);
    rt_state_dir_remove(b.state_dir);
    free(a.state_dir), free(b.state_dir), free(a.log), free(b.log);
    free(sc.app_id), free(sc.table), free(sc.input), free(sc.output), free(sc.dlq);
}
