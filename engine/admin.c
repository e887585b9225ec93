/*
 * admin.c — topic metadata and creation for an app: through Kafka's admin API on a real
 * broker, through the mock cluster's own call on the embedded broker (which has no
 * CreateTopics).
 *
 * DESIGN
 * One admin handle per app, created at start and guarded by app->admin_lock, so any thread
 * may ask. These calls block on the network and are used only at start and when a task is
 * created, never per record.
 */
#include "admin_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ADMIN_TIMEOUT_MS 15000
#define CREATE_TIMEOUT_MS 5000 /* brokers without CreateTopics never answer it */

rill_err_t rill__admin_open(rill_app_t *app, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_ADMIN, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return RILL_ERR_INVALID_ARG;
    rd_kafka_conf_set(kc, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set_opaque(kc, app);
    rd_kafka_conf_set_error_cb(kc, rill__admin_error_cb);
    app->admin = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!app->admin) {
        rd_kafka_conf_destroy(kc);
        return RILL_ERR_KAFKA;
    }
    return RILL_OK;
}

void rill__admin_close(rill_app_t *app) {
    if (app->admin)
        rd_kafka_destroy(app->admin);
    app->admin = NULL;
}

int rill__app_partition_count(rill_app_t *app, const char *topic, char *errstr,
                              size_t errstr_size) {
    int cnt = rill__app_topic_partitions(app, topic, errstr, errstr_size);
    return cnt < 0 ? -1 : cnt;
}

int rill__app_topic_partitions(rill_app_t *app, const char *topic, char *errstr,
                               size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    pthread_mutex_lock(&app->admin_lock);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(app->admin, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(app->admin, 0, rkt, &md, ADMIN_TIMEOUT_MS);
    rd_kafka_topic_destroy(rkt);
    pthread_mutex_unlock(&app->admin_lock);
    int cnt = -2;
    if (err) {
        snprintf(errstr, errstr_size, "metadata for \"%s\" from %s: %s", topic, app->bootstrap,
                 rd_kafka_err2str(err));
    } else if (md->topic_cnt == 1 && !md->topics[0].err) {
        cnt = md->topics[0].partition_cnt;
    } else {
        rd_kafka_resp_err_t terr =
            md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            cnt = -1;
        snprintf(errstr, errstr_size, "topic \"%s\": %s", topic, rd_kafka_err2str(terr));
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    return cnt;
}

int rill__app_sub_partitions(rill_app_t *app, int sub, char *errstr, size_t errstr_size) {
    const rill__subtopology_t *s = &app->topo->subs[sub];
    int max = -1;
    for (int t = 0; t < s->topic_cnt; t++) {
        int n = rill__app_partition_count(app, s->topics[t], errstr, errstr_size);
        if (n > max)
            max = n;
    }
    return max;
}

static rill_err_t create_on_kafka(rill_app_t *app, const char *topic, int partitions,
                                  const char *const *configs, char *errstr, size_t errstr_size) {
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, partitions, app->set.replication_factor, errstr, errstr_size);
    if (!nt)
        return RILL_ERR_INVALID_ARG;
    for (int i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(app->admin);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(app->admin, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_operation_timeout(opts, CREATE_TIMEOUT_MS, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, CREATE_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(app->admin, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CREATE_TIMEOUT_MS + 5000);
    rill_err_t rc = RILL_OK;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "create topic \"%s\": %s", topic,
                 ev ? rd_kafka_event_error_string(ev) : "timed out");
        rc = RILL_ERR_KAFKA;
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t err = cnt ? rd_kafka_topic_result_error(res[0]) : 0;
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errstr_size, "create topic \"%s\": %s", topic,
                     rd_kafka_topic_result_error_string(res[0]));
            rc = RILL_ERR_KAFKA;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Asks for the topic's metadata through a client that lets the broker create it: the way to
 * make a topic on a broker without CreateTopics (librdkafka's mock cluster run by
 * rill-broker in another process creates it with its default partition count). */
static rill_err_t create_by_metadata(rill_app_t *app, const char *topic, char *errstr,
                                     size_t errstr_size) {
    /* The app's client properties (security.protocol, sasl.*, ssl.*, ...), as every client. */
    rd_kafka_conf_t *kc =
        rill__conf_kafka(app->conf, RILL_CLIENT_ADMIN, app->bootstrap, errstr, errstr_size);
    if (!kc)
        return RILL_ERR_INVALID_ARG;
    rd_kafka_conf_set(kc, "allow.auto.create.topics", "true", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return RILL_ERR_KAFKA;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, ADMIN_TIMEOUT_MS);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return err ? RILL_ERR_KAFKA : RILL_OK;
}

/* Waits (bounded) until every partition of a new topic has a leader: until then clients get
 * "not leader" or "unknown partition" for it. Returns 0, or -1 when the time ran out. */
static int wait_for_leaders(rill_app_t *app, const char *topic) {
    for (int64_t until = rill__now_ms() + ADMIN_TIMEOUT_MS; rill__now_ms() < until;) {
        const struct rd_kafka_metadata *md = NULL;
        pthread_mutex_lock(&app->admin_lock);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(app->admin, topic, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(app->admin, 0, rkt, &md, 5000);
        rd_kafka_topic_destroy(rkt);
        pthread_mutex_unlock(&app->admin_lock);
        int ready =
            !err && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0;
        for (int p = 0; ready && p < md->topics[0].partition_cnt; p++)
            ready = md->topics[0].partitions[p].leader >= 0 && !md->topics[0].partitions[p].err;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (ready)
            return 0;
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int rill_app_partition_count(rill_app_t *app, const char *topic, char *errstr, size_t errstr_size) {
    char scratch[256];
    if (!errstr) {
        errstr = scratch;
        errstr_size = sizeof(scratch);
    }
    if (rill__app_connect(app, errstr, errstr_size))
        return -1;
    return rill__app_partition_count(app, topic, errstr, errstr_size);
}

rill_err_t rill_app_create_topic(rill_app_t *app, const char *topic, int partitions, char *errstr,
                                 size_t errstr_size) {
    return rill__app_create_topic_config(app, topic, partitions, NULL, errstr, errstr_size);
}

rill_err_t rill__app_create_topic_config(rill_app_t *app, const char *topic, int partitions,
                                         const char *const *configs, char *errstr,
                                         size_t errstr_size) {
    char scratch[256];
    if (!errstr) {
        errstr = scratch;
        errstr_size = sizeof(scratch);
    }
    rill_err_t err = rill__app_connect(app, errstr, errstr_size);
    if (err)
        return err;
    if (app->broker)
        return rill_broker_create_topic(app->broker, topic, partitions);
    char probe[256];
    if (rill__app_partition_count(app, topic, probe, sizeof(probe)) > 0)
        return RILL_OK; /* exists */
    pthread_mutex_lock(&app->admin_lock);
    rill_err_t rc = create_on_kafka(app, topic, partitions, configs, errstr, errstr_size);
    pthread_mutex_unlock(&app->admin_lock);
    if (!rc && wait_for_leaders(app, topic)) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\" was created but its partitions have no "
                 "leader after %d s",
                 topic, ADMIN_TIMEOUT_MS / 1000);
        return RILL_ERR_KAFKA;
    }
    if (rc && create_by_metadata(app, topic, probe, sizeof(probe)) == RILL_OK &&
        rill__app_partition_count(app, topic, probe, sizeof(probe)) > 0) {
        rill__log(app, -1,
                  "topic \"%s\" created by the broker on first use (it has no "
                  "CreateTopics; partitions: the broker's default)",
                  topic);
        return RILL_OK;
    }
    return rc;
}
