/*
 * query_hosts.c — who owns which task, for interactive queries: every instance publishes
 * its application.server and its stream threads' tasks to the compacted topic
 * "<application.id>-query-hosts", and reads the topic back to answer "which instance holds
 * partition p of store s".
 *
 * DESIGN
 * librdkafka does not let an application put data of its own into the group member's
 * metadata with the built-in assignors, so ownership travels on a topic of its own. One
 * record per stream thread of each instance: key "<application.server>/<thread index>",
 * value "rill-query-hosts 1\n<server>\n<wall ms>\n<task ids, space-separated>\n"; a thread
 * publishes whenever its tasks change (assigned, revoked, dropped; thread_status.c bumps
 * tasks_gen) and once more, empty, when it stops, so compaction keeps each thread's latest
 * word. Publishing is done by the stream thread itself from its loop (it reads its own
 * tasks), through a producer of this module's (not the thread's, which may be
 * transactional), so nothing waits: a produce only queues.
 *
 * A reader thread assigns the topic's one partition from the beginning and keeps the latest
 * value per key in a table under a lock. The owner of task "<sub>_<p>" is the server of the
 * newest entry listing it. After a rebalance, until the new owner's record arrives, the old
 * owner's entry may still name it: a query sent there is answered "not local" by it with no
 * better owner, or redirected back once the news arrived, so a client retries (the HTTP
 * endpoint says 503 while the owner is unknown). Ownership records are small and few (one
 * per thread per rebalance). The module starts only when the topology has stores and the
 * instance has an application.server; without one, it neither publishes nor reads, and
 * queries for other instances' keys say "owner unknown".
 */
#include "admin_int.h"
#include "engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOSTS_MAGIC "rill-query-hosts 1\n"
#define HOSTS_POLL_MS 100

typedef struct host_entry_s {
    char *key;
    char *server;
    int64_t time_ms;
    char *tasks; /* " 0_1 0_3 " (padded with spaces, for a token search) */
} rill__host_entry_t;

struct rill__hosts_s {
    rill_app_t *app;
    char topic[300];
    rd_kafka_t *producer;
    rd_kafka_topic_t *rkt;
    rd_kafka_t *reader;
    pthread_t tid;
    bool running;
    int stop; /* atomic */
    pthread_mutex_t lock;
    rill__host_entry_t *entries;
    int entry_cnt;
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void entry_free(rill__host_entry_t *e) {
    free(e->key);
    free(e->server);
    free(e->tasks);
}

/* Applies one record of the topic: replaces (or, a tombstone or an empty set, removes) the
 * entry of its key. */
static void apply(struct rill__hosts_s *h, const rd_kafka_message_t *msg) {
    if (!msg->key || !msg->key_len || msg->key_len > 1024)
        return;
    char *key = strndup(msg->key, msg->key_len);
    char *value = msg->payload ? strndup(msg->payload, msg->len) : NULL;
    rill__host_entry_t e = {0};
    if (!key)
        goto out;
    if (value && !strncmp(value, HOSTS_MAGIC, strlen(HOSTS_MAGIC))) {
        char *p = value + strlen(HOSTS_MAGIC);
        char *server_end = strchr(p, '\n');
        char *time_end = server_end ? strchr(server_end + 1, '\n') : NULL;
        if (server_end && time_end) {
            *server_end = *time_end = '\0';
            char *tasks = time_end + 1;
            size_t n = strlen(tasks);
            if (n && tasks[n - 1] == '\n')
                tasks[--n] = '\0';
            e.server = strdup(p);
            e.time_ms = strtoll(server_end + 1, NULL, 10);
            e.tasks = malloc(n + 3);
            if (e.tasks)
                snprintf(e.tasks, n + 3, " %s ", tasks);
        }
    }
    pthread_mutex_lock(&h->lock);
    int i = 0;
    while (i < h->entry_cnt && strcmp(h->entries[i].key, key))
        i++;
    if (i < h->entry_cnt) {
        entry_free(&h->entries[i]);
        h->entries[i] = h->entries[--h->entry_cnt];
    }
    if (e.server && e.tasks) {
        rill__host_entry_t *all = realloc(h->entries, sizeof(*all) * (size_t)(h->entry_cnt + 1));
        if (all) {
            h->entries = all;
            e.key = key;
            key = NULL;
            all[h->entry_cnt++] = e;
            e = (rill__host_entry_t){0};
        }
    }
    pthread_mutex_unlock(&h->lock);
out:
    entry_free(&e);
    free(key);
    free(value);
}

static void *reader_main(void *arg) {
    struct rill__hosts_s *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(h->reader, HOSTS_POLL_MS);
        if (!msg)
            continue;
        if (!msg->err)
            apply(h, msg);
        else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            rill__log_at(h->app, RILL__LOG_WARN, -1, "reading %s: %s", h->topic,
                         rd_kafka_message_errstr(msg));
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

int rill__hosts_owner(rill_app_t *app, int sub, int32_t partition, char *out, size_t size) {
    struct rill__hosts_s *h = __atomic_load_n(&app->hosts, __ATOMIC_ACQUIRE);
    if (!h)
        return 0;
    char token[40];
    snprintf(token, sizeof(token), " %d_%d ", sub, (int)partition);
    int found = 0;
    int64_t newest = INT64_MIN;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->entry_cnt; i++) {
        const rill__host_entry_t *e = &h->entries[i];
        if (e->time_ms >= newest && strstr(e->tasks, token)) {
            newest = e->time_ms;
            snprintf(out, size, "%s", e->server);
            found = 1;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return found;
}

void rill__hosts_publish(rill__thread_t *thread) {
    rill_app_t *app = thread->app;
    struct rill__hosts_s *h = __atomic_load_n(&app->hosts, __ATOMIC_ACQUIRE);
    if (!h || thread->hosts_gen == thread->tasks_gen)
        return;
    rill_buf_t v = {0};
    char head[400], key[300];
    snprintf(key, sizeof(key), "%s/%d", app->server, thread->idx);
    snprintf(head, sizeof(head), HOSTS_MAGIC "%s\n%" PRId64 "\n", app->server, wall_ms());
    int bad = rill_buf_append(&v, head, strlen(head));
    for (int i = 0; i < thread->task_cnt && !bad; i++)
        bad = rill_buf_append(&v, i ? " " : "", i ? 1 : 0) ||
              rill_buf_append(&v, thread->tasks[i]->id, strlen(thread->tasks[i]->id));
    bad = bad || rill_buf_append(&v, "\n", 1);
    if (!bad &&
        !rd_kafka_produce(h->rkt, 0, RD_KAFKA_MSG_F_COPY, v.data, v.len, key, strlen(key), NULL))
        thread->hosts_gen = thread->tasks_gen;
    else
        rill__log_at(app, RILL__LOG_WARN, thread->idx, "cannot publish its tasks to %s: %s",
                     h->topic, bad ? "out of memory" : rd_kafka_err2str(rd_kafka_last_error()));
    rill_buf_free(&v);
    rd_kafka_poll(h->producer, 0);
}

static void hosts_free(struct rill__hosts_s *h) {
    if (!h)
        return;
    if (h->running) {
        __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
        pthread_join(h->tid, NULL);
    }
    if (h->reader) {
        rd_kafka_consumer_close(h->reader);
        rd_kafka_destroy(h->reader);
    }
    if (h->rkt)
        rd_kafka_topic_destroy(h->rkt);
    if (h->producer) {
        rd_kafka_flush(h->producer, 5000);
        rd_kafka_destroy(h->producer);
    }
    for (int i = 0; i < h->entry_cnt; i++)
        entry_free(&h->entries[i]);
    free(h->entries);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

rill_err_t rill__hosts_start(rill_app_t *app, char *errstr, size_t errstr_size) {
    if (!app->topo->store_cnt || !app->server)
        return RILL_OK;
    struct rill__hosts_s *h = calloc(1, sizeof(*h));
    if (!h)
        return RILL_ERR_NOMEM;
    h->app = app;
    if (pthread_mutex_init(&h->lock, NULL)) {
        free(h);
        return RILL_ERR_NOMEM;
    }
    snprintf(h->topic, sizeof(h->topic), "%s-query-hosts", app->set.application_id);
    static const char *const configs[] = {"cleanup.policy", "compact", NULL};
    rill_err_t err = rill__app_create_topic_config(app, h->topic, 1, configs, errstr, errstr_size);
    if (err) {
        hosts_free(h);
        return err;
    }
    rd_kafka_conf_t *pc =
        rill__conf_kafka(app->conf, RILL_CLIENT_PRODUCER, app->bootstrap, errstr, errstr_size);
    if (pc && rd_kafka_conf_set(pc, "linger.ms", "5", errstr, errstr_size)) {
        rd_kafka_conf_destroy(pc);
        pc = NULL;
    }
    if (pc && !(h->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size)))
        rd_kafka_conf_destroy(pc);
    rd_kafka_conf_t *rc =
        h->producer ? rill__reader_conf(app, "query-hosts", errstr, errstr_size) : NULL;
    if (rc && !(h->reader = rd_kafka_new(RD_KAFKA_CONSUMER, rc, errstr, errstr_size)))
        rd_kafka_conf_destroy(rc);
    if (!h->reader || !(h->rkt = rd_kafka_topic_new(h->producer, h->topic, NULL))) {
        hosts_free(h);
        return RILL_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(h->reader);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, h->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(h->reader, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (aerr || pthread_create(&h->tid, NULL, reader_main, h)) {
        snprintf(errstr, errstr_size, "cannot read %s: %s", h->topic,
                 aerr ? rd_kafka_err2str(aerr) : "no thread");
        hosts_free(h);
        return RILL_ERR_KAFKA;
    }
    h->running = true;
    __atomic_store_n(&app->hosts, h, __ATOMIC_RELEASE);
    rill__log(app, -1,
              "interactive queries: this instance is %s; owners of store partitions "
              "are published to %s",
              app->server, h->topic);
    for (int i = 0; i < app->thread_cnt; i++)
        rill__thread_wake(&app->threads[i]); /* to publish their tasks */
    return RILL_OK;
}

void rill__hosts_stop(rill_app_t *app) {
    struct rill__hosts_s *h = __atomic_exchange_n(&app->hosts, NULL, __ATOMIC_ACQ_REL);
    hosts_free(h);
}
