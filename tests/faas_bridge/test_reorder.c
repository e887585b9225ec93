/*
 * test_reorder.c — the FaaS stage's reorder buffer (faas_bridge/faas_reorder.c) against a
 * simple model, with no broker and no function.
 *
 * DESIGN
 * The test plays the part of faas_stage.c and of the function: records of two input
 * partitions and a few keys are admitted through a task context built here, cut into
 * batches, and the batches complete in a random order. A batch holding a poison record fails
 * as a whole and is retried (up to MAX_RETRIES tries), then split in halves, each split again
 * until the poison record is alone and fails for good (bisection, as faas_stage.c does); a
 * record the function refuses on its own is retried alone; a good record has 0..3 outputs.
 * After every completion the buffer releases what it may, and the test compares, per order
 * mode (partition, key, unordered), everything that left the stage (the outputs in order,
 * their keys, values, timestamps and input positions, and the dead letters) and the commit
 * watermark of each partition with a model that knows only the rule of the mode. Seeded
 * random cases, bounded in number, records and steps.
 */
#include "faas_stage_int.h"
#include "stage_fixture.h"

#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES 300
#define MAX_RECS 120
#define CAP 256
#define MAX_RETRIES 2
#define MAX_STEPS 100000
#define MAX_EVENTS (MAX_RECS * 4)
#define PARTS 2
#define KEYS 5

/* ---- the model ---- */

typedef struct mrec_s {
    int part;
    int64_t offset;
    int key;
    int outs;      /* outputs a success gives (0..3) */
    bool poison;   /* fails every batch it is in */
    bool refused;  /* the function refuses it alone once (a per-record error) */
    bool finished; /* done or failed for good */
    bool failed;
    bool released;
} mrec_t;

/* What left the stage, as the capture node and the dead-letter output saw it. */
typedef struct event_s {
    bool dead;
    int part;
    int64_t offset;
    char key[16];
    char value[32];
    int64_t ts;
} event_t;

typedef struct mbatch_s {
    int idx[MAX_RECS];
    int n;
    int attempt; /* tries done */
} mbatch_t;

typedef struct fx_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rill__task_t task;
    rill__node_t node, capture;
    rill__node_t *children[1];
    void *state[2];
    rill__faas_conf_t conf;
    rill__faas_stage_t st;
    rd_kafka_message_t msg;
    rill__pq_t pq[PARTS];
    rill__thread_t thread;
    rill__local_t local;
    rill_app_t *app;
    event_t got[MAX_EVENTS];
    int got_n;
} fx_t;

static fx_t *g_fx; /* the capture operator's way back to the fixture */

static void put_event(fx_t *fx, bool dead, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t ts, int part, int64_t offset) {
    cr_assert_lt(fx->got_n, MAX_EVENTS, "more records left the stage than the model allows");
    event_t *e = &fx->got[fx->got_n++];
    e->dead = dead;
    e->part = part;
    e->offset = offset;
    e->ts = ts;
    snprintf(e->key, sizeof(e->key), "%.*s", (int)key_len, key ? (const char *)key : "");
    snprintf(e->value, sizeof(e->value), "%.*s", (int)value_len, value ? (const char *)value : "");
}

static int capture_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    (void)state;
    put_event(g_fx, false, rec->key, rec->key_len, rec->value, rec->value_len, rec->timestamp,
              rill_ctx_partition(ctx), rill_ctx_offset(ctx));
    return 0;
}

static const rill__operator_t capture_op = {.kind = "CAPTURE", .process = capture_process};

static int header_int(const rd_kafka_headers_t *h, const char *name, int64_t *out) {
    const void *v;
    size_t len;
    char text[32];
    if (rd_kafka_header_get_last(h, name, &v, &len) || len >= sizeof(text))
        return -1;
    memcpy(text, v, len);
    text[len] = '\0';
    *out = strtoll(text, NULL, 10);
    return 0;
}

/* The test driver's output seam: here only dead letters come through it. */
static int dead_output(void *opaque, const char *topic, int32_t partition, const void *key,
                       size_t key_len, const void *value, size_t value_len, int64_t ts,
                       const rd_kafka_headers_t *hdrs) {
    (void)partition;
    fx_t *fx = opaque;
    int64_t part = -1, offset = -1;
    cr_assert_str_eq(topic, "shop-dlq");
    cr_assert_eq(header_int(hdrs, "rill.source.partition", &part), 0);
    cr_assert_eq(header_int(hdrs, "rill.source.offset", &offset), 0);
    put_event(fx, true, key, key_len, value, value_len, ts, (int)part, offset);
    return 0;
}

static void fx_open(fx_t *fx, rill_faas_order_t order) {
    char errstr[256];
    memset(fx, 0, sizeof(*fx));
    g_fx = fx;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "log_level", "0", NULL, 0); /* never connects: no broker here */
    fx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    cr_assert_not_null(fx->rk, "%s", errstr);
    fx->rkt = rd_kafka_topic_new(fx->rk, "orders", NULL);
    fx->app = calloc(1, sizeof(*fx->app));
    cr_assert_not_null(fx->app);
    fx->app->set.application_id = "shop";
    fx->app->set.dlq_topic = "shop-dlq";
    fx->local = (rill__local_t){.output = dead_output, .opaque = fx};
    fx->thread.app = fx->app;
    fx->thread.local = &fx->local;
    snprintf(fx->task.id, sizeof(fx->task.id), "0_0");
    fx->task.thread = &fx->thread;
    fx->task.state = fx->state;
    fx->task.ctx.task = &fx->task;
    for (int p = 0; p < PARTS; p++)
        fx->pq[p] = (rill__pq_t){.topic = "orders", .partition = p};
    fx->node = (rill__node_t){.id = 0, .name = "fn", .children = fx->children, .child_cnt = 1};
    fx->capture = (rill__node_t){.id = 1, .name = "capture", .op = &capture_op};
    fx->children[0] = &fx->capture;
    fx->conf.o.order = order;
    fx->conf.function = "fn";
    fx->st.conf = &fx->conf;
    fx->st.node = &fx->node;
    fx->st.thread = &fx->thread;
    fx->st.cap = CAP;
    fx->st.ring = calloc(CAP, sizeof(rill__faas_slot_t));
    cr_assert_not_null(fx->st.ring);
}

static void fx_close(fx_t *fx) {
    rill__faas_stage_free_held(&fx->st);
    stage_fixture_kafka_free(fx->rk, fx->rkt, fx->app);
    g_fx = NULL;
}

/* ---- the test as the stage and the function ---- */

typedef struct sim_s {
    fx_t *fx;
    mrec_t rec[MAX_RECS];
    int n, admitted, open_from;
    mbatch_t *batches[MAX_RECS * 8];
    int batch_n;
    unsigned seed;
    event_t want[MAX_EVENTS];
    int want_n;
} sim_t;

static void admit(sim_t *s, int i) {
    fx_t *fx = s->fx;
    mrec_t *m = &s->rec[i];
    char key[16], value[32];
    snprintf(key, sizeof(key), "k%d", m->key);
    snprintf(value, sizeof(value), "in%d", i);
    fx->msg = (rd_kafka_message_t){.rkt = fx->rkt, .partition = m->part, .offset = m->offset};
    fx->task.ctx.msg = &fx->msg;
    fx->task.ctx.pq = &fx->pq[m->part];
    fx->task.ctx.node = &fx->node;
    rill__ctx_origin_input(&fx->task.ctx);
    rill_record_t rec = {.key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = strlen(value),
                         .timestamp = 1000 + i};
    cr_assert_eq(rill__faas_admit(&fx->st, &fx->task.ctx, &rec), 0);
    fx->task.ctx.msg = NULL;
}

static void push_batch(sim_t *s, const int *idx, int n, int attempt) {
    cr_assert_lt(s->batch_n, (int)(sizeof(s->batches) / sizeof(s->batches[0])));
    mbatch_t *b = calloc(1, sizeof(*b));
    cr_assert_not_null(b);
    memcpy(b->idx, idx, sizeof(int) * (size_t)n);
    b->n = n;
    b->attempt = attempt;
    s->batches[s->batch_n++] = b;
}

/* Cuts the admitted records that are in no batch yet into one batch, sent at once: as the
 * stage's send does, sent_end moves past them (release looks only below it). */
static void cut(sim_t *s) {
    int idx[MAX_RECS], n = 0;
    for (int i = s->open_from; i < s->admitted; i++) {
        slot_at(&s->fx->st, (uint64_t)i)->state = SLOT_IN_BATCH;
        if ((uint64_t)i >= s->fx->st.sent_end)
            s->fx->st.sent_end = (uint64_t)i + 1;
        idx[n++] = i;
    }
    s->open_from = s->admitted;
    if (n)
        push_batch(s, idx, n, 0);
}

/* A response for the records of b that succeed: their outputs live in its arena. */
static rill__faas_shared_resp_t *respond(sim_t *s, const mbatch_t *b) {
    size_t size = sizeof(rill__faas_result_t) * (size_t)b->n +
                  sizeof(rill__faas_out_t) * 3 * (size_t)b->n + 48 * 3 * (size_t)b->n;
    rill__faas_shared_resp_t *resp = calloc(1, sizeof(*resp));
    char *zero = calloc(1, size);
    cr_assert(resp && zero);
    cr_assert_eq(rill_buf_append(&resp->r.arena, zero, size), 0);
    free(zero);
    char *p = resp->r.arena.data;
    resp->r.results = (rill__faas_result_t *)p;
    resp->r.n = (size_t)b->n;
    rill__faas_out_t *outs = (rill__faas_out_t *)(p + sizeof(rill__faas_result_t) * b->n);
    char *text = (char *)(outs + 3 * b->n);
    for (int j = 0; j < b->n; j++) {
        const mrec_t *m = &s->rec[b->idx[j]];
        rill__faas_result_t *res = &resp->r.results[j];
        res->outs = outs + 3 * j;
        res->out_cnt = (size_t)m->outs;
        for (int o = 0; o < m->outs; o++) {
            char *kv = text + 48 * (3 * j + o);
            int vl = sprintf(kv, "in%d.o%d", b->idx[j], o);
            res->outs[o].value = kv;
            res->outs[o].value_len = (size_t)vl;
            if (o == 1) { /* the second output is re-keyed, the others keep the key */
                res->outs[o].key = kv + 24;
                res->outs[o].key_len = (size_t)sprintf(kv + 24, "nk%d", b->idx[j]);
            }
        }
    }
    resp->refs = 1;
    return resp;
}

static bool has_poison(const sim_t *s, const mbatch_t *b) {
    for (int j = 0; j < b->n; j++)
        if (s->rec[b->idx[j]].poison)
            return true;
    return false;
}

/* The batch failed as a whole: retry it, or split it, or fail its lone record. */
static void batch_fails(sim_t *s, const mbatch_t *b) {
    if (b->attempt + 1 <= MAX_RETRIES) {
        push_batch(s, b->idx, b->n, b->attempt + 1);
    } else if (b->n > 1) {
        push_batch(s, b->idx, b->n / 2, MAX_RETRIES);
        push_batch(s, b->idx + b->n / 2, b->n - b->n / 2, MAX_RETRIES);
    } else {
        rill__faas_slot_t *slot = slot_at(&s->fx->st, (uint64_t)b->idx[0]);
        free(slot->error);
        slot->error = strdup("poison");
        slot->attempts = b->attempt + 1;
        slot->state = SLOT_FAILED;
        s->rec[b->idx[0]].finished = s->rec[b->idx[0]].failed = true;
    }
}

/* The batch came back: every record done, except a refused one, retried alone. */
static void batch_succeeds(sim_t *s, const mbatch_t *b) {
    rill__faas_shared_resp_t *resp = respond(s, b);
    for (int j = 0; j < b->n; j++) {
        mrec_t *m = &s->rec[b->idx[j]];
        if (m->refused) {
            m->refused = false;
            push_batch(s, &b->idx[j], 1, 1);
            continue;
        }
        rill__faas_slot_t *slot = slot_at(&s->fx->st, (uint64_t)b->idx[j]);
        resp->refs++;
        slot->resp = resp;
        slot->res_idx = (size_t)j;
        slot->state = SLOT_DONE;
        m->finished = true;
    }
    rill__faas_response_unref(resp);
}

static void complete_one(sim_t *s) {
    int k = (int)(rand_r(&s->seed) % (unsigned)s->batch_n);
    mbatch_t *b = s->batches[k];
    s->batches[k] = s->batches[--s->batch_n];
    if (has_poison(s, b))
        batch_fails(s, b);
    else
        batch_succeeds(s, b);
    free(b);
    s->fx->st.dirty = true;
}

/* ---- the model of release ---- */

static void want_record(sim_t *s, int i) {
    const mrec_t *m = &s->rec[i];
    if (m->failed) {
        event_t *e = &s->want[s->want_n++];
        *e = (event_t){.dead = true, .part = m->part, .offset = m->offset, .ts = 1000 + i};
        snprintf(e->key, sizeof(e->key), "k%d", m->key);
        snprintf(e->value, sizeof(e->value), "in%d", i);
        return;
    }
    for (int o = 0; o < m->outs; o++) {
        event_t *e = &s->want[s->want_n++];
        *e = (event_t){.part = m->part, .offset = m->offset, .ts = 1000 + i};
        if (o == 1)
            snprintf(e->key, sizeof(e->key), "nk%d", i);
        else
            snprintf(e->key, sizeof(e->key), "k%d", m->key);
        snprintf(e->value, sizeof(e->value), "in%d.o%d", i, o);
    }
}

/* What the mode's rule releases now, in the order it is released. */
static void model_release(sim_t *s, rill_faas_order_t order) {
    bool blocked[KEYS] = {false};
    for (int i = 0; i < s->admitted; i++) {
        mrec_t *m = &s->rec[i];
        if (m->released)
            continue;
        bool go = m->finished;
        if (order == RILL_FAAS_ORDER_KEY)
            go = go && !blocked[m->key];
        if (go) {
            m->released = true;
            want_record(s, i);
        } else if (order == RILL_FAAS_ORDER_PARTITION) {
            break;
        } else {
            blocked[m->key] = true;
        }
    }
}

static void check(sim_t *s, int step) {
    fx_t *fx = s->fx;
    cr_assert_eq(fx->got_n, s->want_n, "step %d: %d records left the stage, the model says %d",
                 step, fx->got_n, s->want_n);
    for (int i = 0; i < s->want_n; i++) {
        const event_t *g = &fx->got[i], *w = &s->want[i];
        cr_assert(g->dead == w->dead && g->part == w->part && g->offset == w->offset &&
                      g->ts == w->ts && !strcmp(g->key, w->key) && !strcmp(g->value, w->value),
                  "step %d, output %d: got %s %s/%s p%d@%" PRId64 " t%" PRId64
                  ", want %s %s/%s p%d@%" PRId64 " t%" PRId64,
                  step, i, g->dead ? "dead" : "out", g->key, g->value, g->part, g->offset, g->ts,
                  w->dead ? "dead" : "out", w->key, w->value, w->part, w->offset, w->ts);
    }
    for (int p = 0; p < PARTS; p++) {
        int64_t want = -1;
        for (int i = 0; i < s->admitted && want < 0; i++)
            if (s->rec[i].part == p && !s->rec[i].released)
                want = s->rec[i].offset;
        int64_t got = rill__faas_low_watermark(&fx->st, "orders", p);
        cr_assert_eq(got, want, "step %d: partition %d watermark %" PRId64 ", model %" PRId64, step,
                     p, got, want);
    }
}

static void make_records(sim_t *s) {
    int64_t next[PARTS] = {100, 500};
    s->n = 1 + (int)(rand_r(&s->seed) % MAX_RECS);
    for (int i = 0; i < s->n; i++) {
        mrec_t *m = &s->rec[i];
        m->part = (int)(rand_r(&s->seed) % PARTS);
        m->offset = next[m->part]++;
        m->key = (int)(rand_r(&s->seed) % KEYS);
        m->outs = (int)(rand_r(&s->seed) % 4);
        m->poison = rand_r(&s->seed) % 25 == 0;
        m->refused = rand_r(&s->seed) % 15 == 0;
    }
}

static void run_case(rill_faas_order_t order, unsigned seed) {
    fx_t *fx = malloc(sizeof(*fx));
    sim_t *s = calloc(1, sizeof(*s));
    cr_assert(fx && s);
    fx_open(fx, order);
    s->fx = fx;
    s->seed = seed;
    make_records(s);
    int step = 0;
    while ((s->admitted < s->n || s->batch_n || s->open_from < s->admitted) && step < MAX_STEPS) {
        unsigned r = rand_r(&s->seed) % 10;
        if (r < 4 && s->admitted < s->n)
            admit(s, s->admitted++);
        else if (r < 6 || !s->batch_n)
            cut(s);
        else
            complete_one(s);
        rill__faas_release(&fx->st, &fx->task.ctx);
        model_release(s, order);
        check(s, step++);
    }
    cr_assert_lt(step, MAX_STEPS, "seed %u: the case did not finish", seed);
    cr_assert_eq(fx->st.live, 0, "seed %u: %zu records still held", seed, fx->st.live);
    cr_assert_eq(fx->st.head, fx->st.tail, "seed %u: the ring's head did not reach its tail", seed);
    fx_close(fx);
    free(fx);
    free(s);
}

static void run_cases(rill_faas_order_t order) {
    for (unsigned seed = 1; seed <= CASES; seed++)
        run_case(order, seed * 7919u + (unsigned)order);
}

Test(faas_bridge_reorder, partition_order_matches_the_model) {
    run_cases(RILL_FAAS_ORDER_PARTITION);
}

Test(faas_bridge_reorder, key_order_matches_the_model) {
    run_cases(RILL_FAAS_ORDER_KEY);
}

Test(faas_bridge_reorder, unordered_matches_the_model) {
    run_cases(RILL_FAAS_UNORDERED);
}

/* The model's own sanity: a case with a poison record ends with exactly one dead letter
 * for it, found by bisection, and the outputs of every other record. */
Test(faas_bridge_reorder, bisection_isolates_the_poison_record) {
    fx_t *fx = malloc(sizeof(*fx));
    sim_t *s = calloc(1, sizeof(*s));
    cr_assert(fx && s);
    fx_open(fx, RILL_FAAS_ORDER_PARTITION);
    s->fx = fx;
    s->n = 16;
    for (int i = 0; i < s->n; i++)
        s->rec[i] =
            (mrec_t){.part = i % 2, .offset = i / 2, .key = i % KEYS, .outs = 1, .poison = i == 11};
    for (int i = 0; i < s->n; i++)
        admit(s, s->admitted++);
    cut(s);
    for (int step = 0; s->batch_n && step < 1000; step++) {
        complete_one(s);
        rill__faas_release(&fx->st, &fx->task.ctx);
    }
    int dead = 0, outs = 0;
    for (int i = 0; i < fx->got_n; i++) {
        dead += fx->got[i].dead;
        outs += !fx->got[i].dead;
        if (fx->got[i].dead)
            cr_assert(fx->got[i].part == 1 && fx->got[i].offset == 5 &&
                      !strcmp(fx->got[i].value, "in11"));
    }
    cr_assert_eq(dead, 1);
    cr_assert_eq(outs, 15);
    cr_assert_eq(rill__faas_low_watermark(&fx->st, "orders", 0), -1);
    cr_assert_eq(rill__faas_low_watermark(&fx->st, "orders", 1), -1);
    fx_close(fx);
    free(fx);
    free(s);
}
