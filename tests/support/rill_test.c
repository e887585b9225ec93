/*
 * rill_test.c — helpers for the integration tests (see rill_test.h): topics, producing and
 * reading with librdkafka directly, helper processes, and multiset comparison.
 *
 * DESIGN
 * Everything here is plain librdkafka with short-lived clients: each call makes its client
 * and destroys it, so a test cannot leak state from one step into the next. Reads use the
 * simple consumer API (no group at all), every partition from the beginning, and stop on
 * partition-EOF events (which librdkafka emits at the high watermark, or at the last stable
 * offset under read_committed). Processes started with rt_spawn() are remembered in a small
 * table so that a failing test (Criterion aborts the test function) still kills them: from
 * the suite's .fini, at exit, and, as a last resort, by PR_SET_PDEATHSIG.
 */
#define _GNU_SOURCE /* asprintf */
#include "rill_test.h"
#include "rt_marker.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS 60000
#define MAX_SPAWNED 32

/* ---------------------------------------------------------------------------------------- */
/* Broker, names, paths                                                                      */

int64_t rt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rt_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

const char *rt_bootstrap(void) {
    const char *bs = getenv("RILL_TEST_BOOTSTRAP");
    if (!bs || !*bs)
        cr_assert_fail("RILL_TEST_BOOTSTRAP is not set: integration tests need a real Kafka "
                       "broker. Run scripts/test.sh, or scripts/kafka.sh start and export "
                       "RILL_TEST_BOOTSTRAP=<the bootstrap it prints>");
    return bs;
}

char *rt_unique_name(const char *prefix) {
    static unsigned counter;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s-%d-%lld-%u", prefix, (int)getpid(), (long long)time(NULL),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    return strdup(buf);
}

char *rt_build_path(const char *name) {
    const char *dir = getenv("RILL_BUILD_DIR");
    if (!dir || !*dir)
        cr_assert_fail("RILL_BUILD_DIR is not set: run the tests with ctest (scripts/test.sh), "
                       "or export RILL_BUILD_DIR=<the build directory>");
    char *path = NULL;
    if (asprintf(&path, "%s/tests/%s", dir, name) < 0)
        cr_assert_fail("out of memory");
    if (access(path, X_OK))
        cr_assert_fail("helper program %s is missing (%s): build the tests first", path,
                       strerror(errno));
    return path;
}

char *rt_asprintf(const char *fmt, ...) {
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

char *rt_tmp_path(const char *name) {
    static char dir[256];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/rill-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            int e = errno;
            dir[0] = '\0';
            cr_assert_fail("cannot make a temporary directory: %s", strerror(e));
        }
    }
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        cr_assert_fail("out of memory");
    return path;
}

/* ---------------------------------------------------------------------------------------- */
/* Clients and topics                                                                        */

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstrap,
                              const char *const props[][2], size_t prop_cnt, char *errstr,
                              size_t errstr_size) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, errstr, errstr_size) ||
        rd_kafka_conf_set(kc, "log_level", "3", errstr, errstr_size))
        goto fail;
    for (size_t i = 0; i < prop_cnt; i++)
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, errstr_size))
            goto fail;
    rd_kafka_t *rk = rd_kafka_new(type, kc, errstr, errstr_size);
    if (rk)
        return rk;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

/* Partition count of topic, or -1 with errstr. With leaders_only, counts only the
 * partitions that have a leader. */
static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, bool leaders_only,
                           char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    int cnt = -1;
    if (err)
        snprintf(errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    else if (!leaders_only)
        cnt = md->topics[0].partition_cnt;
    else {
        cnt = 0;
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            cnt += !md->topics[0].partitions[p].err && md->topics[0].partitions[p].leader >= 0;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    return cnt;
}

/* Sends CreateTopics and waits for its result. Returns 0 or -1 with errstr. */
static int create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                        const char *const *configs, char *errstr, size_t errstr_size) {
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, errstr_size);
    if (!nt)
        return -1;
    for (int i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "CreateTopics %s: %s", topic,
                 ev ? rd_kafka_event_error_string(ev) : "no result in time");
        rc = -1;
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        if (cnt != 1 || rd_kafka_topic_result_error(res[0])) {
            snprintf(errstr, errstr_size, "CreateTopics %s: %s", topic,
                     cnt ? rd_kafka_topic_result_error_string(res[0]) : "empty result");
            rc = -1;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

void rt_create_topic(const char *bootstrap, const char *topic, int partitions) {
    rt_create_topic_config(bootstrap, topic, partitions, NULL);
}

void rt_create_topic_config(const char *bootstrap, const char *topic, int partitions,
                            const char *const *configs) {
    char errstr[512];
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, NULL, 0, errstr, sizeof(errstr));
    if (!rk)
        cr_assert_fail("admin client: %s", errstr);
    if (create_topic(rk, topic, partitions, configs, errstr, sizeof(errstr))) {
        rd_kafka_destroy(rk);
        cr_assert_fail("%s", errstr);
    }
    /* The controller answered; wait until the broker's metadata has a leader for every
     * partition. */
    int64_t deadline = rt_now_ms() + ADMIN_TIMEOUT_MS;
    int cnt;
    while ((cnt = partition_count(rk, topic, 5000, true, errstr, sizeof(errstr))) != partitions &&
           rt_now_ms() < deadline)
        rt_sleep_ms(100);
    rd_kafka_destroy(rk);
    if (cnt != partitions)
        cr_assert_fail("topic %s was created but its metadata shows %d of %d partitions with "
                       "a leader: %s",
                       topic, cnt, partitions, cnt < 0 ? errstr : "");
}

int64_t rt_topic_size(const char *bootstrap, const char *topic, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, NULL, 0, errstr, errstr_size);
    if (!rk)
        return -1;
    int cnt = partition_count(rk, topic, 10000, false, errstr, errstr_size);
    int64_t total = cnt < 0 ? -1 : 0;
    for (int p = 0; p < cnt; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s[%d]: %s", topic, p,
                     rd_kafka_err2str(err));
            total = -1;
            break;
        }
        total += hi - lo;
    }
    rd_kafka_destroy(rk);
    return total;
}

/* ---------------------------------------------------------------------------------------- */
/* Records                                                                                   */

static char *memdup0(const void *p, size_t len) {
    if (!p)
        return NULL;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* Appends a copy of msg (key, value, partition, offset, headers). */
static void records_add_msg(rt_records_t *recs, const rd_kafka_message_t *msg) {
    if (recs->cnt == recs->cap) {
        recs->cap = recs->cap ? recs->cap * 2 : 1024;
        recs->v = realloc(recs->v, recs->cap * sizeof(*recs->v));
        if (!recs->v)
            abort();
    }
    rt_record_t *r = &recs->v[recs->cnt++];
    memset(r, 0, sizeof(*r));
    r->key = memdup0(msg->key, msg->key_len);
    r->key_len = msg->key_len;
    r->value = memdup0(msg->payload, msg->len);
    r->value_len = msg->len;
    r->partition = msg->partition;
    r->offset = msg->offset;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) || !hdrs)
        return;
    size_t cnt = rd_kafka_header_cnt(hdrs);
    r->headers = calloc(cnt ? cnt : 1, sizeof(*r->headers));
    if (!r->headers)
        abort();
    const char *name;
    const void *value;
    size_t len;
    for (size_t i = 0; i < cnt && !rd_kafka_header_get_all(hdrs, i, &name, &value, &len); i++) {
        r->headers[i].name = strdup(name);
        r->headers[i].value = memdup0(value, len);
        r->headers[i].value_len = len;
        r->header_cnt++;
    }
}

void rt_records_free(rt_records_t *recs) {
    if (!recs)
        return;
    for (size_t i = 0; i < recs->cnt; i++) {
        rt_record_t *r = &recs->v[i];
        for (size_t h = 0; h < r->header_cnt; h++) {
            free(r->headers[h].name);
            free(r->headers[h].value);
        }
        free(r->headers);
        free(r->key);
        free(r->value);
    }
    free(recs->v);
    memset(recs, 0, sizeof(*recs));
}

const char *rt_record_header(const rt_record_t *rec, const char *name) {
    for (size_t h = rec->header_cnt; h-- > 0;)
        if (!strcmp(rec->headers[h].name, name))
            return rec->headers[h].value;
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Producing                                                                                 */

typedef struct produce_state_s {
    rt_records_t *delivered;
    size_t failed;
    char first_error[256];
} produce_state_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    produce_state_t *st = opaque;
    if (msg->err) {
        if (!st->failed++)
            snprintf(st->first_error, sizeof(st->first_error), "%s", rd_kafka_err2str(msg->err));
        return;
    }
    if (st->delivered)
        records_add_msg(st->delivered, msg);
}

rd_kafka_t *rt_murmur2_producer(int linger_ms,
                                void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                void *opaque) {
    char errstr[512], linger[16];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    snprintf(linger, sizeof(linger), "%d", linger_ms);
    const char *props[] = {"bootstrap.servers",
                           rt_bootstrap(),
                           "partitioner",
                           "murmur2_random",
                           "enable.idempotence",
                           "true",
                           "linger.ms",
                           linger,
                           NULL};
    for (int i = 0; props[i]; i += 2)
        if (rd_kafka_conf_set(kc, props[i], props[i + 1], errstr, sizeof(errstr)))
            cr_assert_fail("%s: %s", props[i], errstr);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(kc, dr);
    rd_kafka_conf_set_opaque(kc, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (!rk)
        cr_assert_fail("producer: %s", errstr);
    return rk;
}

int rt_produce_strings(const char *bootstrap, const char *topic, size_t n, rt_gen_cb gen,
                       void *opaque, const rt_produce_opts_t *opts, char *errstr,
                       size_t errstr_size) {
    static const rt_produce_opts_t no_opts;
    static const char *const props[][2] = {
        {"enable.idempotence", "true"},
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "500000"},
    };
    if (!opts)
        opts = &no_opts;
    produce_state_t st = {.delivered = opts->delivered};
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(kc, &st);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, NULL, 0);
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr, errstr_size)) {
            rd_kafka_conf_destroy(kc);
            return -1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char key[256], value[1024];
    int64_t t0 = rt_now_ms();
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        key[0] = value[0] = '\0';
        gen(opts->first + i, key, sizeof(key), value, sizeof(value), opaque);
        for (;;) {
            if (!rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value,
                                  strlen(value), key, strlen(key), NULL))
                break;
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
                rc = -1;
                break;
            }
            rd_kafka_poll(rk, 10);
        }
        if (opts->rate_per_sec > 0 && i % 500 == 499) {
            int64_t due = t0 + (int64_t)((i + 1) * 1000 / (size_t)opts->rate_per_sec);
            int64_t ahead = due - rt_now_ms();
            if (ahead > 0)
                rt_sleep_ms((int)ahead);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, FLUSH_TIMEOUT_MS);
    if (!rc && err) {
        snprintf(errstr, errstr_size, "flush to %s: %s (%d records unacknowledged)", topic,
                 rd_kafka_err2str(err), rd_kafka_outq_len(rk));
        rc = -1;
    }
    if (!rc && st.failed) {
        snprintf(errstr, errstr_size, "%zu of %zu records to %s failed, first: %s", st.failed, n,
                 topic, st.first_error);
        rc = -1;
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                   */

rt_records_t *rt_consume_all(const char *bootstrap, const char *topic, const char *isolation_level,
                             size_t min_count, int timeout_ms) {
    char errstr[512];
    /* clang-format off */
    const char *const props[][2] = {
        {"isolation.level", isolation_level},
        {"enable.partition.eof", "true"},
        {"enable.auto.commit", "false"},
        {"auto.commit.enable", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.max.bytes", "52428800"},
    };
    /* clang-format on */
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, bootstrap, props,
                                sizeof(props) / sizeof(props[0]), errstr, sizeof(errstr));
    if (!rk)
        cr_assert_fail("consumer for %s: %s", topic, errstr);
    int cnt = partition_count(rk, topic, 10000, false, errstr, sizeof(errstr));
    if (cnt <= 0) {
        rd_kafka_destroy(rk);
        cr_assert_fail("cannot read %s: %s", topic, errstr);
    }
    /* The simple (legacy) consumer API reads partitions without any group. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_queue_t *rkqu = rd_kafka_queue_new(rk);
    for (int p = 0; p < cnt; p++) {
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, rkqu)) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            rd_kafka_queue_destroy(rkqu);
            rd_kafka_topic_destroy(rkt);
            rd_kafka_destroy(rk);
            cr_assert_fail("start reading %s[%d]: %s", topic, p, rd_kafka_err2str(err));
        }
    }
    rt_records_t *recs = calloc(1, sizeof(*recs));
    bool *at_end = calloc((size_t)cnt, sizeof(bool));
    if (!recs || !at_end)
        abort();
    int ends = 0;
    int64_t deadline = rt_now_ms() + timeout_ms;
    while (!(ends == cnt && recs->cnt >= min_count) && rt_now_ms() < deadline) {
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
                records_add_msg(recs, msg);
        }
        rd_kafka_message_destroy(msg);
    }
    free(at_end);
    for (int p = 0; p < cnt; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(rkqu);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return recs;
}

/* ---------------------------------------------------------------------------------------- */
/* Processes                                                                                 */

static pid_t spawned[MAX_SPAWNED];
static int spawned_cnt;

static void forget(pid_t pid) {
    for (int i = 0; i < spawned_cnt; i++)
        if (spawned[i] == pid) {
            spawned[i] = spawned[--spawned_cnt];
            return;
        }
}

void rt_kill_all(void) {
    for (int i = 0; i < spawned_cnt; i++) {
        kill(spawned[i], SIGKILL);
        waitpid(spawned[i], NULL, 0); /* SIGKILL cannot be ignored: this returns */
    }
    spawned_cnt = 0;
}

pid_t rt_spawn(char *const argv[], const char *logfile) {
    static bool registered;
    if (!registered) {
        atexit(rt_kill_all);
        registered = true;
    }
    if (spawned_cnt == MAX_SPAWNED)
        cr_assert_fail("rt_spawn: more than %d helper processes", MAX_SPAWNED);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        cr_assert_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    spawned[spawned_cnt++] = pid;
    return pid;
}

int rt_kill(pid_t pid, int sig) {
    return kill(pid, sig);
}

int rt_wait(pid_t pid, int timeout_ms) {
    int64_t deadline = rt_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            forget(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (rt_now_ms() >= deadline)
            return -1;
        rt_sleep_ms(20);
    }
}

void rt_log_tail(const char *file, int max_lines) {
    FILE *fp = fopen(file, "r");
    if (!fp) {
        cr_log_info("(no log %s: %s)", file, strerror(errno));
        return;
    }
    /* Keep the last max_lines lines in a ring. */
    char **ring = calloc((size_t)max_lines, sizeof(char *));
    char line[1024];
    size_t n = 0;
    while (ring && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = '\0';
        free(ring[n % (size_t)max_lines]);
        ring[n % (size_t)max_lines] = strdup(line);
        n++;
    }
    fclose(fp);
    cr_log_info("---- last lines of %s ----", file);
    size_t first = n > (size_t)max_lines ? n - (size_t)max_lines : 0;
    for (size_t i = first; ring && i < n; i++)
        cr_log_info("  %s", ring[i % (size_t)max_lines]);
    for (int i = 0; ring && i < max_lines; i++)
        free(ring[i]);
    free(ring);
}

bool rt_file_contains(const char *file, const char *needle) {
    FILE *fp = fopen(file, "r");
    if (!fp)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof(line), fp))
        found = strstr(line, needle) != NULL;
    fclose(fp);
    return found;
}

/* ---------------------------------------------------------------------------------------- */
/* Comparing                                                                                 */

void rt_kvs_add(rt_kvs_t *kvs, const char *key, const char *value) {
    if (kvs->cnt == kvs->cap) {
        kvs->cap = kvs->cap ? kvs->cap * 2 : 1024;
        kvs->v = realloc(kvs->v, kvs->cap * sizeof(*kvs->v));
        if (!kvs->v)
            abort();
    }
    kvs->v[kvs->cnt].key = key ? strdup(key) : NULL;
    kvs->v[kvs->cnt].value = value ? strdup(value) : NULL;
    kvs->cnt++;
}

void rt_kvs_free(rt_kvs_t *kvs) {
    for (size_t i = 0; i < kvs->cnt; i++) {
        free(kvs->v[i].key);
        free(kvs->v[i].value);
    }
    free(kvs->v);
    memset(kvs, 0, sizeof(*kvs));
}

static int strcmp_null(const char *a, const char *b) {
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int kv_cmp(const void *pa, const void *pb) {
    const rt_kv_t *a = pa, *b = pb;
    int c = strcmp_null(a->key, b->key);
    return c ? c : strcmp_null(a->value, b->value);
}

/* A section of the diff report: the first few examples of one kind of difference. */
typedef struct diff_section_s {
    char text[1000];
    size_t shown;
} diff_section_t;

static void report_example(diff_section_t *sec, const char *what, const rt_kv_t *kv,
                           size_t copies) {
    if (sec->shown++ >= 5)
        return;
    size_t len = strlen(sec->text);
    snprintf(sec->text + len, sizeof(sec->text) - len, "\n  %s: key=\"%.60s\" value=\"%.60s\" x%zu",
             what, kv->key ? kv->key : "(null)", kv->value ? kv->value : "(null)", copies);
}

void rt_diff(const rt_kvs_t *expected, const rt_records_t *actual, rt_diff_t *diff) {
    rt_kv_t *exp = malloc((expected->cnt + 1) * sizeof(*exp));
    rt_kv_t *act = malloc((actual->cnt + 1) * sizeof(*act));
    if (!exp || !act)
        abort();
    memcpy(exp, expected->v, expected->cnt * sizeof(*exp));
    for (size_t i = 0; i < actual->cnt; i++) {
        act[i].key = actual->v[i].key;
        act[i].value = actual->v[i].value;
    }
    qsort(exp, expected->cnt, sizeof(*exp), kv_cmp);
    qsort(act, actual->cnt, sizeof(*act), kv_cmp);
    memset(diff, 0, sizeof(*diff));
    diff->expected = expected->cnt;
    diff->actual = actual->cnt;
    diff_section_t m = {0}, d = {0}, x = {0};
    size_t i = 0, j = 0;
    while (i < expected->cnt || j < actual->cnt) {
        /* The next distinct pair and how many copies each side has. */
        const rt_kv_t *kv = i < expected->cnt && (j >= actual->cnt || kv_cmp(&exp[i], &act[j]) <= 0)
                                ? &exp[i]
                                : &act[j];
        size_t ne = 0, na = 0;
        while (i < expected->cnt && !kv_cmp(&exp[i], kv))
            i++, ne++;
        while (j < actual->cnt && !kv_cmp(&act[j], kv))
            j++, na++;
        if (ne > na) {
            diff->missing += ne - na;
            report_example(&m, "missing", kv, ne - na);
        } else if (ne && na > ne) {
            diff->duplicates += na - ne;
            report_example(&d, "surplus copies of", kv, na - ne);
        } else if (!ne) {
            diff->extra += na;
            report_example(&x, "unexpected", kv, na);
        }
    }
    snprintf(diff->report, sizeof(diff->report),
             "expected %zu records, read %zu: %zu missing, %zu duplicates, %zu unexpected%s%s%s",
             diff->expected, diff->actual, diff->missing, diff->duplicates, diff->extra, m.text,
             d.text, x.text);
    free(exp);
    free(act);
}

/* An input record's position, found by key. */
typedef struct key_pos_s {
    const char *key;
    int32_t partition;
    int64_t offset;
} key_pos_t;

static int key_pos_cmp(const void *pa, const void *pb) {
    return strcmp_null(((const key_pos_t *)pa)->key, ((const key_pos_t *)pb)->key);
}

size_t rt_check_order(const rt_records_t *input, const rt_records_t *output, char *report,
                      size_t report_size) {
    key_pos_t *pos = malloc((input->cnt + 1) * sizeof(*pos));
    if (!pos)
        abort();
    for (size_t i = 0; i < input->cnt; i++)
        pos[i] = (key_pos_t){input->v[i].key, input->v[i].partition, input->v[i].offset};
    qsort(pos, input->cnt, sizeof(*pos), key_pos_cmp);
    int32_t max_part = 0;
    for (size_t i = 0; i < output->cnt; i++)
        if (output->v[i].partition > max_part)
            max_part = output->v[i].partition;
    for (size_t i = 0; i < input->cnt; i++)
        if (input->v[i].partition > max_part)
            max_part = input->v[i].partition;
    size_t width = (size_t)max_part + 1;
    /* last[out_part * width + in_part]: the input offset last seen, -1 for none. */
    int64_t *last = malloc(width * width * sizeof(*last));
    if (!last)
        abort();
    for (size_t i = 0; i < width * width; i++)
        last[i] = -1;
    size_t violations = 0, len = 0;
    report[0] = '\0';
    for (int32_t op = 0; op <= max_part; op++) {
        /* rt_consume_all keeps each partition's records in offset order. */
        for (size_t i = 0; i < output->cnt; i++) {
            const rt_record_t *r = &output->v[i];
            if (r->partition != op)
                continue;
            key_pos_t probe = {.key = r->key};
            const key_pos_t *in = bsearch(&probe, pos, input->cnt, sizeof(*pos), key_pos_cmp);
            if (!in)
                continue;
            int64_t *prev = &last[(size_t)op * width + (size_t)in->partition];
            if (in->offset <= *prev) {
                if (violations++ < 5 && len < report_size)
                    len += (size_t)snprintf(report + len, report_size - len,
                                            "\n  output %d@%lld (key \"%.40s\", input %d@%lld) "
                                            "after input %d@%lld",
                                            (int)op, (long long)r->offset, r->key,
                                            (int)in->partition, (long long)in->offset,
                                            (int)in->partition, (long long)*prev);
            }
            if (in->offset > *prev)
                *prev = in->offset;
        }
    }
    free(last);
    free(pos);
    return violations;
}

/* ---------------------------------------------------------------------------------------- */
/* An app in this process                                                                    */

static void conf_must_set(rill_conf_t *conf, const char *name, const char *value) {
    char errstr[256];
    cr_assert_eq(rill_conf_set(conf, name, value, errstr, sizeof(errstr)), RILL_OK, "%s: %s", name,
                 errstr);
}

typedef struct rt_watchdog_s {
    rill_app_t *app;
    int timeout_ms;
} rt_watchdog_t;

/* Stops the app once its time is up (cancelled when it ended before). */
static void *watchdog(void *arg) {
    const rt_watchdog_t *w = arg;
    for (int i = 0; i < w->timeout_ms / 100; i++) {
        pthread_testcancel();
        usleep(100 * 1000);
    }
    rill_app_stop(w->app);
    return NULL;
}

rill_err_t rt_app_run_here(rill_topology_t *topo, const char *app_id, int timeout_ms) {
    char *state = rt_tmp_path(app_id);
    rill_conf_t *conf = rill_conf_new();
    conf_must_set(conf, "application.id", app_id);
    conf_must_set(conf, "bootstrap.servers", rt_bootstrap());
    conf_must_set(conf, "state.dir", state);
    conf_must_set(conf, "commit.interval.ms", "200");
    conf_must_set(conf, "exit.on.end", "true");
    char errstr[512];
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    cr_assert_not_null(app, "%s", errstr);
    cr_assert_eq(rill_app_start(app, errstr, sizeof(errstr)), RILL_OK, "%s", errstr);
    rt_watchdog_t w = {.app = app, .timeout_ms = timeout_ms};
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, &w);
    rill_err_t err = rill_app_wait(app, errstr, sizeof(errstr));
    pthread_cancel(dog);
    pthread_join(dog, NULL);
    if (err)
        cr_log_error("%s: %s", app_id, errstr);
    rill_app_destroy(app);
    free(state);
    return err;
}
