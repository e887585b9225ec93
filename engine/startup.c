/*
 * startup.c — the start's first contact with a real Kafka: waiting for a broker that does not
 * answer yet (down, or restarting), and checking, before anything is created, that every
 * topic the app reads or writes exists, naming all the missing ones in one message.
 *
 * DESIGN
 * "No broker answered" and "the topic is absent" are told apart by where the error is: a
 * metadata request that fails as a whole (transport failure, time-out) means no broker
 * answered; a successful answer without the topic, or with "unknown topic" for it, means it
 * is absent. While no broker answers, the start asks again every second and says so every
 * few seconds ("cannot reach any broker at HOST:PORT (connection refused); retrying"), up to
 * startup.broker.wait.ms; then it gives up with that reason. Why no broker answered comes
 * from the admin client's error callback, which librdkafka serves from rd_kafka_poll(). A
 * topic with a transient error in an answer (no leader yet, a broker still loading its
 * metadata) is asked again within the same limit, and a topic counts as missing only when
 * two answers a second apart both lack it (and a request naming it says it is unknown), so
 * that a broker that has just come back is not taken at its first word.
 */
#include "admin_int.h"
#include "global_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_TIMEOUT_MS 2000 /* one metadata request while waiting */
#define RETRY_MS 1000         /* between two requests */
#define REPORT_EVERY_MS 5000  /* between two "retrying" lines */

/* A topic the app needs and what it is to the app, for the message naming it. */
typedef struct need_s {
    const char *topic;
    const char *role; /* "source topic", "output topic", "global table topic" */
    const char *node; /* the sink's name for an output topic, else NULL */
    int state;        /* NEED_* */
} rill__need_t;

enum { NEED_UNKNOWN = 0, NEED_FOUND, NEED_ABSENT_ONCE, NEED_ABSENT };

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The admin client's error callback: keeps the last transport error's reason. */
void rill__admin_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    rill_app_t *app = opaque;
    if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__RESOLVE &&
        err != RD_KAFKA_RESP_ERR__AUTHENTICATION && err != RD_KAFKA_RESP_ERR__SSL)
        return;
    /* "host:port/bootstrap: Connect to ipv4#host:port failed: Connection refused (after 0ms
     * in state CONNECT)" → "connection refused" */
    const char *p = strstr(reason, "failed: ");
    p = p ? p + 8 : reason;
    size_t n = strcspn(p, "(");
    while (n && p[n - 1] == ' ')
        n--;
    if (n >= sizeof(app->broker_error))
        n = sizeof(app->broker_error) - 1;
    memcpy(app->broker_error, p, n);
    app->broker_error[n] = '\0';
    if (app->broker_error[0] >= 'A' && app->broker_error[0] <= 'Z')
        app->broker_error[0] = (char)(app->broker_error[0] - 'A' + 'a');
}

/* Why the last request got no answer: the transport's reason when one was reported. */
static const char *no_answer_reason(rill_app_t *app, rd_kafka_resp_err_t err) {
    rd_kafka_poll(app->admin, 0); /* serves the error callback */
    return app->broker_error[0] ? app->broker_error : rd_kafka_err2str(err);
}

/* One metadata request (all topics, or none: only the brokers). NULL when no broker
 * answered, with *err set. */
static const struct rd_kafka_metadata *ask(rill_app_t *app, bool all_topics,
                                           rd_kafka_resp_err_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    pthread_mutex_lock(&app->admin_lock);
    *err = rd_kafka_metadata(app->admin, all_topics, NULL, &md, PROBE_TIMEOUT_MS);
    pthread_mutex_unlock(&app->admin_lock);
    if (*err || !md || md->broker_cnt == 0) {
        if (md)
            rd_kafka_metadata_destroy(md);
        if (!*err)
            *err = RD_KAFKA_RESP_ERR__TRANSPORT;
        return NULL;
    }
    app->broker_error[0] = '\0'; /* librdkafka reports a failure once, not per request */
    return md;
}

/* Waits while no broker answers: returns 0 when one did, or -1 with errstr when the limit
 * passed (or the app was stopped). Logs every REPORT_EVERY_MS while it waits. */
static int wait_loop(rill_app_t *app, bool all_topics, const struct rd_kafka_metadata **mdp,
                     int64_t until, char *errstr, size_t errstr_size) {
    int64_t next_report = 0;
    for (;;) {
        rd_kafka_resp_err_t err;
        if ((*mdp = ask(app, all_topics, &err)))
            return 0;
        const char *why = no_answer_reason(app, err);
        int64_t now = rill__now_ms();
        if (now >= until || rill__app_stopping(app)) {
            snprintf(errstr, errstr_size,
                     "cannot reach any broker at %s (%s): gave up after "
                     "%lld s (startup.broker.wait.ms)",
                     app->bootstrap, why, (long long)(app->set.startup_broker_wait_ms / 1000));
            return -1;
        }
        if (now >= next_report) {
            rill__log_at(app, RILL__LOG_WARN, -1,
                         "cannot reach any broker at %s (%s); retrying for up to %lld s",
                         app->bootstrap, why, (long long)((until - now + 999) / 1000));
            next_report = now + REPORT_EVERY_MS;
        }
        sleep_ms(RETRY_MS);
    }
}

rill_err_t rill__app_await_broker(rill_app_t *app, char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    int64_t t0 = rill__now_ms();
    if (wait_loop(app, false, &md, t0 + app->set.startup_broker_wait_ms, errstr, errstr_size))
        return RILL_ERR_KAFKA;
    rd_kafka_metadata_destroy(md);
    if (rill__now_ms() - t0 > PROBE_TIMEOUT_MS)
        rill__log(app, -1, "a broker at %s answers after %.1f s", app->bootstrap,
                  (double)(rill__now_ms() - t0) / 1000.0);
    return RILL_OK;
}

/* ---- the topics the app needs ---- */

static int add_need(rill__need_t **needs, int *cnt, const char *topic, const char *role,
                    const char *node) {
    for (int i = 0; i < *cnt; i++)
        if (!strcmp((*needs)[i].topic, topic))
            return 0;
    rill__need_t *n = realloc(*needs, sizeof(**needs) * (size_t)(*cnt + 1));
    if (!n)
        return -1;
    *needs = n;
    n[(*cnt)++] = (rill__need_t){.topic = topic, .role = role, .node = node};
    return 0;
}

/* Source topics (not the internal ones Rill creates), output topics, global tables' topics. */
static int collect_needs(rill_app_t *app, rill__need_t **needs, int *cnt) {
    rill_topology_t *topo = app->topo;
    for (int s = 0; s < topo->sub_cnt; s++)
        for (int t = 0; t < topo->subs[s].topic_cnt; t++) {
            const char *topic = topo->subs[s].topics[t];
            if (!rill__topology_source_for(topo, topic)->source.internal &&
                add_need(needs, cnt, topic, "source topic", NULL))
                return -1;
        }
    for (int i = 0; i < topo->global_cnt; i++)
        if (add_need(needs, cnt, rill__global_topic(topo->globals[i]), "global table topic", NULL))
            return -1;
    for (int i = 0; i < topo->node_cnt; i++) {
        const rill__node_t *n = topo->nodes[i];
        if (n->kind == RILL_NODE_SINK && !n->sink.internal &&
            add_need(needs, cnt, n->sink.topic, "output topic", n->name))
            return -1;
    }
    return 0;
}

/* Marks what one metadata answer says of each topic still in question (a topic that the
 * answer lacks is asked for by name, as the rest of the start will: a broker that creates
 * topics on first use, such as rill-broker, makes it then); returns how many are still in
 * question (unknown, transient, or absent only once). */
static int judge(rill_app_t *app, const struct rd_kafka_metadata *md, rill__need_t *needs,
                 int cnt) {
    int open = 0;
    for (int i = 0; i < cnt; i++) {
        rill__need_t *n = &needs[i];
        if (n->state == NEED_FOUND || n->state == NEED_ABSENT)
            continue;
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int t = 0; t < md->topic_cnt && !mt; t++)
            if (!strcmp(md->topics[t].topic, n->topic))
                mt = &md->topics[t];
        bool absent = !mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        char why[256];
        int by_name = absent ? rill__app_topic_partitions(app, n->topic, why, sizeof(why)) : 0;
        if ((mt && !mt->err && mt->partition_cnt > 0) || by_name > 0)
            n->state = NEED_FOUND;
        else if (absent && by_name == -1)
            n->state = n->state == NEED_ABSENT_ONCE ? NEED_ABSENT : NEED_ABSENT_ONCE;
        else
            n->state = NEED_UNKNOWN; /* a transient error: ask again */
        open += n->state != NEED_FOUND && n->state != NEED_ABSENT;
    }
    return open;
}

/* Writes the one message naming every absent topic. */
static void missing_message(rill_app_t *app, const rill__need_t *needs, int cnt, char *errstr,
                            size_t errstr_size) {
    size_t used = 0;
    int missing = 0;
    errstr[0] = '\0';
    for (int i = 0; i < cnt; i++) {
        if (needs[i].state != NEED_ABSENT)
            continue;
        int n = snprintf(errstr + used, errstr_size - used, "%s%s \"%s\"%s%s%s does not exist",
                         missing++ ? "; " : "", needs[i].role, needs[i].topic,
                         needs[i].node ? " (sink \"" : "", needs[i].node ? needs[i].node : "",
                         needs[i].node ? "\")" : "");
        if (n < 0 || (size_t)n >= errstr_size - used)
            return;
        used += (size_t)n;
    }
    snprintf(errstr + used, errstr_size - used,
             " on %s: create %s first (kafka-topics.sh "
             "--create --topic NAME --partitions N)",
             app->bootstrap, missing > 1 ? "them" : "it");
}

rill_err_t rill__app_check_topics(rill_app_t *app, char *errstr, size_t errstr_size) {
    rill__need_t *needs = NULL;
    int cnt = 0;
    if (app->broker)
        return RILL_OK; /* the embedded broker: topics are created as they are needed */
    if (collect_needs(app, &needs, &cnt)) {
        free(needs);
        snprintf(errstr, errstr_size, "out of memory");
        return RILL_ERR_NOMEM;
    }
    int64_t until = rill__now_ms() + app->set.startup_broker_wait_ms;
    rill_err_t rc = RILL_OK;
    for (int open = cnt; open > 0;) {
        const struct rd_kafka_metadata *md = NULL;
        if (wait_loop(app, true, &md, until, errstr, errstr_size)) {
            rc = RILL_ERR_KAFKA;
            break;
        }
        open = judge(app, md, needs, cnt);
        rd_kafka_metadata_destroy(md);
        if (open && rill__now_ms() >= until) {
            for (int i = 0; i < cnt; i++)
                if (needs[i].state == NEED_ABSENT_ONCE)
                    needs[i].state = NEED_ABSENT;
            break;
        }
        if (open)
            sleep_ms(RETRY_MS);
    }
    if (!rc) {
        missing_message(app, needs, cnt, errstr, errstr_size);
        for (int i = 0; i < cnt && !rc; i++)
            if (needs[i].state != NEED_FOUND)
                rc = RILL_ERR_TOPOLOGY;
        if (rc && !strstr(errstr, "does not exist"))
            snprintf(errstr, errstr_size,
                     "the metadata of the app's topics on %s stayed "
                     "incomplete for %lld s (startup.broker.wait.ms)",
                     app->bootstrap, (long long)(app->set.startup_broker_wait_ms / 1000));
    }
    free(needs);
    return rc;
}
