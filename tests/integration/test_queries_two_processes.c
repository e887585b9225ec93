/*
 * test_queries_two_processes.c — interactive queries across two PROCESSES on the real
 * broker: rill_count_app (a key-value store "counts": records per key) runs twice with one
 * application.id, each with its own state directory and HTTP endpoint (http.listen on port
 * 0: the test reads the bound port from each log). A redirects the keys it does not hold
 * (query.forward=redirect), B proxies them (query.forward=proxy).
 *
 * The input is written with librdkafka's consistent_random partitioner (CRC32 of the key),
 * not murmur2, so most keys are not in the partition murmur2 names: a lookup that looked only
 * there would say "not found". Every key is asked through both processes, and the whole
 * store as a range; each answer must equal the count computed here from the input. Then A
 * is killed with SIGKILL: until B takes its partitions over and restores them, an answer is
 * either right or 503 (never a wrong value or a 404), some 503 are seen (the group notices
 * the death only after the session timeout), and in the end every key and the range are
 * right again through B alone.
 */
#include "rill_test.h"
#include "rt_query.h"
#include "rt_state.h"

#include <signal.h>

#define PARTS 4
#define NKEYS 60
#define NRECS 3000
#define TAKEOVER_MS 40000

TestSuite(integration_queries_two_processes, .fini = rt_state_fini, .timeout = 180);

static void key_of(int k, char *out, size_t size) {
    snprintf(out, size, k % 7 == 3 ? "key %02d/x" : "key-%02d", k);
}

/* Writes NRECS records over NKEYS keys (key NKEYS-1 never) with consistent_random; counts
 * them into want. Returns how many keys murmur2 would place elsewhere. */
static int produce(const char *bootstrap, const char *topic, int64_t *want) {
    char err[512], key[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int moved = 0;

    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)), 0);
    cr_assert_eq(rd_kafka_conf_set(conf, "partitioner", "consistent_random", err, sizeof(err)), 0,
                 "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    uint64_t seed = 11;
    for (int i = 0; i < NRECS; i++) {
        int k = (int)(rt_rand_next(&seed) % (NKEYS - 1));
        key_of(k, key, sizeof(key));
        want[k]++;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE("v", 1),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        cr_assert_eq(e, 0, "%s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
    for (int k = 0; k < NKEYS; k++) {
        key_of(k, key, sizeof(key));
        moved += rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key), PARTS, NULL, NULL) !=
                 rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), PARTS, NULL, NULL);
    }
    return moved;
}

/* The HTTP port an instance logged ("HTTP endpoint on ..., port N"), waiting for it. */
static int port_of(const char *log) {
    int64_t deadline = rt_now_ms() + 30000;

    while (rt_now_ms() < deadline) {
        FILE *f = fopen(log, "r");
        char line[1024];
        int port = 0;
        while (f && fgets(line, sizeof(line), f)) {
            const char *p = strstr(line, "HTTP endpoint on ");
            p = p ? strstr(p, ", port ") : NULL;
            if (p)
                port = atoi(p + 7);
        }
        if (f)
            fclose(f);
        if (port > 0)
            return port;
        rt_sleep_ms(100);
    }
    rt_log_tail(log, 40);
    cr_assert_fail("no HTTP port in %s", log);
    return 0;
}

/* The sum of a metric's samples in an instance's /metrics. */
static int64_t metric(int port, const char *name) {
    rt_query_reply_t r = rt_query_get(port, "/metrics");
    int64_t sum = 0;
    size_t n = strlen(name);

    for (const char *p = r.body.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
        if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' '))
            sum += strtoll(strchr(p, ' ') + 1, NULL, 10);
    rill_buf_free(&r.body);
    return sum;
}

/* Each key through port: 200 and its count, 404 for the key never written. During a takeover,
 * a 503 is allowed (and counted) but a wrong answer never is; returns the number of keys
 * not answered 200/404 yet. */
static int check_keys(int port, const int64_t *want, bool takeover, int *unavailable) {
    int pending = 0;

    for (int k = 0; k < NKEYS; k++) {
        char key[32], enc[96], path[160];
        key_of(k, key, sizeof(key));
        rt_query_url_key(enc, sizeof(enc), key);
        snprintf(path, sizeof(path), "/stores/counts/%s", enc);
        rt_query_reply_t r = takeover ? rt_query_get(port, path) : rt_query_get_settled(port, path);
        if (r.status == 503 && takeover) {
            (*unavailable)++;
            pending++;
        } else if (want[k]) {
            cr_assert_eq(r.status, 200, "GET %s on %d: %ld %s", path, port, r.status, r.body.data);
            cr_assert_eq(rt_query_count(r.body.data, r.body.len), want[k], "key %s via %d", key,
                         port);
        } else {
            cr_assert_eq(r.status, 404, "GET %s on %d: %ld %s", path, port, r.status, r.body.data);
        }
        rill_buf_free(&r.body);
    }
    return pending;
}

/* The whole store through port equals the reference (sorted keys, counts). */
static void check_range(int port, char **keys, const int64_t *counts, int n) {
    rt_query_reply_t r = rt_query_get_settled(port, "/stores/counts");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body.data);
    cr_assert(rt_query_range_matches(r.body.data, keys, counts, n, 0), "range via %d: %s", port,
              r.body.data);
    rill_buf_free(&r.body);
}

static int by_key(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(integration_queries_two_processes, every_key_through_either_process) {
    const char *bootstrap = rt_bootstrap();
    char *in = rt_unique_name("iq-in"), *out = rt_unique_name("iq-out");
    char *app_id = rt_unique_name("iq-app");
    char *dirs[2] = {rt_state_dir_new("iq-a"), rt_state_dir_new("iq-b")};
    char *logs[2] = {rt_tmp_path("iq-a.log"), rt_tmp_path("iq-b.log")};
    int64_t want[NKEYS] = {0};

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rt_create_topic(bootstrap, in, PARTS);
    rt_create_topic(bootstrap, out, PARTS);
    pid_t pids[2];
    int ports[2];
    for (int i = 0; i < 2; i++) {
        const char *props[] = {"http.listen=127.0.0.1:0",
                               "commit.interval.ms=200",
                               i ? "query.forward=proxy" : "query.forward=redirect",
                               "consumer.session.timeout.ms=6000",
                               "consumer.heartbeat.interval.ms=1000",
                               NULL};
        rt_count_app_t app = {.bootstrap = bootstrap,
                              .input = in,
                              .output = out,
                              .app_id = app_id,
                              .state_dir = dirs[i],
                              .stores = -1,
                              .props = props};
        pids[i] = rt_count_spawn(&app, logs[i]);
        ports[i] = port_of(logs[i]);
    }
    /* Both in the group with two tasks each before any input. */
    int64_t deadline = rt_now_ms() + 30000;
    while (rt_now_ms() < deadline &&
           !(metric(ports[0], "rill_tasks") == 2 && metric(ports[1], "rill_tasks") == 2 &&
             rt_query_ready(ports[0]) && rt_query_ready(ports[1])))
        rt_sleep_ms(100);
    cr_assert(metric(ports[0], "rill_tasks") == 2 && metric(ports[1], "rill_tasks") == 2);

    int moved = produce(bootstrap, in, want);
    cr_assert_gt(moved, NKEYS / 3, "only %d keys off their murmur2 partition", moved);
    deadline = rt_now_ms() + 30000;
    while (rt_now_ms() < deadline && metric(ports[0], "rill_records_processed_total") +
                                             metric(ports[1], "rill_records_processed_total") <
                                         NRECS)
        rt_sleep_ms(100);
    cr_assert_eq(metric(ports[0], "rill_records_processed_total") +
                     metric(ports[1], "rill_records_processed_total"),
                 NRECS);

    char *keys[NKEYS];
    int64_t counts[NKEYS];
    int n = 0;
    for (int k = 0; k < NKEYS; k++)
        if (want[k]) {
            char key[32];
            key_of(k, key, sizeof(key));
            keys[n++] = strdup(key);
        }
    qsort(keys, (size_t)n, sizeof(keys[0]), by_key);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < NKEYS; k++) {
            char key[32];
            key_of(k, key, sizeof(key));
            if (!strcmp(key, keys[i]))
                counts[i] = want[k];
        }
    int unavailable = 0;
    for (int i = 0; i < 2; i++) {
        check_keys(ports[i], want, false, &unavailable);
        check_range(ports[i], keys, counts, n);
    }
    cr_assert_gt(metric(ports[1], "rill_query_forwarded_total"), 0, "B proxied nothing");

    /* A dies. B answers right or 503 until it has taken over, then right again. */
    rt_sleep_ms(500); /* past a commit of A's last records */
    cr_assert_eq(rt_kill(pids[0], SIGKILL), 0);
    cr_assert_eq(rt_wait(pids[0], 10000), 128 + SIGKILL);
    char a_server[64];
    snprintf(a_server, sizeof(a_server), "127.0.0.1:%d", ports[0]);
    rt_query_reply_t r = rt_query_get(ports[1], "/stores/counts");
    cr_assert_eq(r.status, 503, "a range while A's partitions are unowned: %ld %s", r.status,
                 r.body.data);
    cr_assert(strstr(r.body.data, a_server), "names the instance: %s", r.body.data);
    rill_buf_free(&r.body);
    deadline = rt_now_ms() + TAKEOVER_MS;
    int pending;
    do {
        pending = check_keys(ports[1], want, true, &unavailable);
        if (pending)
            rt_sleep_ms(200);
    } while (pending && rt_now_ms() < deadline);
    cr_assert_eq(pending, 0, "B did not answer every key within %d ms", TAKEOVER_MS);
    cr_assert_gt(unavailable, 0, "no 503 while B took over");
    cr_log_info("B answered every key %lld ms after A's SIGKILL; %d answers were 503 before",
                (long long)(rt_now_ms() - (deadline - TAKEOVER_MS)), unavailable);
    check_keys(ports[1], want, false, &unavailable);
    check_range(ports[1], keys, counts, n);
    cr_assert_eq(metric(ports[1], "rill_tasks"), 4);

    cr_assert_eq(rt_kill(pids[1], SIGTERM), 0);
    cr_assert_eq(rt_wait(pids[1], 20000), 0);
    for (int i = 0; i < n; i++)
        free(keys[i]);
    free(in);
    free(out);
    free(app_id);
}
