/*
 * faas_stage.c — the FaaS stage operator: batches records, invokes the remote function
 * through the bridge thread with many invocations in flight, retries, bisects failing
 * batches down to the poison record, and hands results to the reorder buffer.
 *
 * DESIGN
 * Everything here runs on the stream thread that owns the task (docs/DESIGN.md, invariant 6):
 * process() admits a record and may cut a batch; poll() — called every loop iteration and whenever
 * the bridge thread wakes the stream thread — takes completions, schedules retries, sends
 * what may be sent and releases results. A batch is cut when it reaches batch_max_records or
 * about batch_max_bytes, or when its oldest record has waited linger_ms. A failed invocation
 * (connection error, timeout, 5xx, 408, 429, a function error, a malformed response) is
 * retried after an exponential backoff with jitter (Retry-After honoured up to
 * max_retry_after_ms, 60 s by default); a record still failing after max_record_age_ms (15
 * min by default) goes to the dead-letter topic; after
 * max_retries it is split in two halves, each tried once more and split again, until the
 * failing record is alone and goes to the dead-letter topic. 413 splits at once. A record's
 * own error reported by the function is retried for that record alone. Sending stops while
 * the function's circuit breaker is open; attempts are not spent meanwhile.
 * When the task closes with invocations in flight, the stage is handed to the thread, which
 * frees it once they have completed (their results are dropped: the records were not
 * committed, so they will be processed again).
 */
#include "faas_stage_int.h"

#include <curl/curl.h> /* CURLE_OPERATION_TIMEDOUT */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the bridge thread, one per app ---- */

static void *make_http(rill_app_t *app) {
    char errstr[256];
    rill__http_t *http = rill__http_new(app->set.faas_max_in_flight, app->set.faas_max_connections,
                                        errstr, sizeof(errstr));
    if (!http)
        rill__log_at(app, RILL__LOG_ERROR, -1, "FaaS bridge thread: %s", errstr);
    return http;
}

static void free_http(void *http) {
    rill__http_destroy(http);
}

/* ---- batches ---- */

static void batch_free(rill__faas_batch_t *b) {
    if (!b)
        return;
    free(b->seqs);
    free(b->recs);
    rill_buf_free(&b->body);
    rill_buf_free(&b->hdr_text);
    free(b->hdr_lines);
    free(b);
}

static rill__faas_batch_t *batch_new(rill__faas_stage_t *st, size_t n, int attempt) {
    rill__faas_batch_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->seqs = malloc(sizeof(uint64_t) * n))) {
        free(b);
        return NULL;
    }
    b->stage = st;
    b->attempt = attempt;
    return b;
}

static void enqueue(rill__faas_stage_t *st, rill__faas_batch_t *b) {
    rill__faas_batch_t **bp = &st->queued;
    while (*bp)
        bp = &(*bp)->next;
    b->next = NULL;
    *bp = b;
}

/* Cuts the open records into a batch. */
static void cut_open(rill__faas_stage_t *st) {
    size_t n = (size_t)(st->tail - st->open_from);
    if (!n)
        return;
    rill__faas_batch_t *b = batch_new(st, n, 0);
    if (!b) {
        rill__app_fatal(st->thread->app, RILL_ERR_NOMEM, "FaaS stage: out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        b->seqs[i] = st->open_from + i;
        slot_at(st, b->seqs[i])->state = SLOT_IN_BATCH;
    }
    b->n = n;
    st->open_from = st->tail;
    st->open_bytes = 0;
    enqueue(st, b);
}

/* Splits the lines of hdr_text (NUL-separated) into a NULL-terminated array. */
static int header_lines(rill__faas_batch_t *b) {
    size_t cnt = 0;
    for (size_t i = 0; i < b->hdr_text.len; i++)
        cnt += b->hdr_text.data[i] == '\0';
    free(b->hdr_lines);
    b->hdr_lines = malloc(sizeof(char *) * (cnt + 1));
    if (!b->hdr_lines)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < b->hdr_text.len; i += strlen(b->hdr_text.data + i) + 1)
        b->hdr_lines[k++] = b->hdr_text.data + i;
    b->hdr_lines[k] = NULL;
    return 0;
}

static int encode(rill__faas_stage_t *st, rill__faas_batch_t *b) {
    free(b->recs);
    if (!(b->recs = malloc(sizeof(*b->recs) * b->n)))
        return -1;
    for (size_t i = 0; i < b->n; i++)
        b->recs[i] = slot_at(st, b->seqs[i])->rec;
    rill_buf_reset(&b->body);
    rill_buf_reset(&b->hdr_text);
    if (rill__faas_encode(&st->conf->target, b->recs, b->n, &b->body, &b->hdr_text) ||
        header_lines(b))
        return -1;
    const rill__faas_conf_t *c = st->conf;
    b->req = (rill__http_req_t){.url = c->url,
                                .headers = b->hdr_lines,
                                .body = b->body.data,
                                .body_len = b->body.len,
                                .timeout_ms = c->o.timeout_ms,
                                .aws_sigv4 = c->sigv4,
                                .aws_userpwd = c->userpwd,
                                .aws_session_token = c->session_token,
                                .verify_tls = !c->o.insecure_skip_tls_verify,
                                .max_body_bytes = (size_t)c->o.max_response_bytes,
                                .h2c = c->o.http_version == 2};
    b->encoded = true;
    return 0;
}

static int send_batch(rill__faas_stage_t *st, rill__faas_batch_t *b, bool probe) {
    if (!b->encoded && encode(st, b))
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        slot_at(st, b->seqs[i])->attempts++;
        if (b->seqs[i] >= st->sent_end)
            st->sent_end = b->seqs[i] + 1;
    }
    b->in_flight = true;
    b->probe = probe;
    b->sent_ms = rill__now_ms();
    if (rill__http_submit(st->http, &b->req, st->cq, b))
        return -1;
    st->in_flight++;
    rill__counter_add(&st->conf->m_invocations, 1);
    rill__counter_add(&st->conf->m_records, (int64_t)b->n);
    rill__counter_add(&st->conf->m_in_flight, 1);
    return 0;
}

/* The calls the task may have in flight now. */
static int call_limit(const rill__faas_stage_t *st) {
    return st->adaptive ? rill__faas_aimd_limit(&st->aimd) : st->conf->o.max_in_flight;
}

/* Sends queued batches that may go now; returns ms until the next one may (INT32_MAX). */
static int send_ready(rill__faas_stage_t *st, int64_t now) {
    int wait = INT32_MAX;
    for (rill__faas_batch_t **bp = &st->queued; *bp && st->in_flight < call_limit(st);) {
        rill__faas_batch_t *b = *bp;
        bool probe;
        if (b->not_before > now) {
            if (b->not_before - now < wait)
                wait = (int)(b->not_before - now);
            bp = &b->next;
            continue;
        }
        if (!rill__faas_breaker_allows(st->conf, now, &probe)) {
            return 50; /* look again soon: the breaker opens for a while */
        }
        *bp = b->next;
        if (send_batch(st, b, probe)) {
            rill__app_fatal(st->thread->app, RILL_ERR_NOMEM, "FaaS stage \"%s\": cannot send",
                            st->node->name);
            batch_free(b);
            return INT32_MAX;
        }
    }
    return wait;
}

/* Encodes the batch that goes next while every call is busy, so that a finished call's
 * slot is refilled by a submit alone. Only the queue's head: at most one encoded body
 * waits per stage. */
static void prepare_next(rill__faas_stage_t *st) {
    rill__faas_batch_t *b = st->queued;
    if (b && !b->encoded && encode(st, b))
        rill__app_fatal(st->thread->app, RILL_ERR_NOMEM, "FaaS stage \"%s\": cannot encode",
                        st->node->name);
}

/* ---- completions ---- */

static void slot_fail(rill__faas_stage_t *st, rill__faas_slot_t *slot, const char *why) {
    free(slot->error);
    slot->error = strdup(why);
    slot->state = SLOT_FAILED;
    st->dirty = true;
}

/* The delay before a retry: exponential with equal jitter, or the function's Retry-After
 * (capped at max_retry_after_ms) when that is longer. */
int64_t rill__faas_backoff_ms(const rill__faas_conf_t *c, int attempt, long retry_after_ms) {
    int64_t d = c->o.backoff_initial_ms;
    for (int i = 1; i < attempt && d < c->o.backoff_max_ms; i++)
        d *= 2;
    if (d > c->o.backoff_max_ms)
        d = c->o.backoff_max_ms;
    d = d / 2 + (int64_t)(random() % (d / 2 + 1)); /* equal jitter */
    if (retry_after_ms > c->o.max_retry_after_ms)
        retry_after_ms = c->o.max_retry_after_ms;
    return retry_after_ms > d ? retry_after_ms : d;
}

/* Re-queues seqs[0..n) as a batch that has had `attempt` tries, after a backoff. */
static void requeue(rill__faas_stage_t *st, const uint64_t *seqs, size_t n, int attempt,
                    long retry_after, const char *why) {
    const rill__faas_conf_t *c = st->conf;
    int64_t now = rill__now_ms();
    rill__faas_batch_t *b = batch_new(st, n, attempt);
    if (!b) {
        rill__app_fatal(st->thread->app, RILL_ERR_NOMEM, "FaaS stage: out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rill__faas_slot_t *slot = slot_at(st, seqs[i]);
        free(slot->error);
        slot->error = strdup(why);
        if (c->o.max_record_age_ms && now - slot->first_ms > c->o.max_record_age_ms)
            slot_fail(st, slot, "max record age exceeded; last error: see previous attempts");
        else
            b->seqs[b->n++] = seqs[i];
    }
    if (!b->n) {
        batch_free(b);
        return;
    }
    b->not_before = now + rill__faas_backoff_ms(c, attempt, retry_after);
    rill__counter_add(&st->conf->m_retries, 1);
    enqueue(st, b);
}

/* A whole invocation failed: retry, split, or give up on a lone record. */
static void batch_failed(rill__faas_stage_t *st, rill__faas_batch_t *b, const char *why,
                         long retry_after, bool split_now) {
    const rill__faas_conf_t *c = st->conf;
    rill__counter_add(&st->conf->m_failures, 1);
    if (!split_now && b->attempt + 1 <= c->o.max_retries) {
        requeue(st, b->seqs, b->n, b->attempt + 1, retry_after, why);
    } else if (b->n > 1) {
        size_t half = b->n / 2;
        rill__counter_add(&st->conf->m_splits, 1);
        /* Each half gets one more try before it is split again. */
        int attempt = split_now ? b->attempt : c->o.max_retries;
        requeue(st, b->seqs, half, attempt, retry_after, why);
        requeue(st, b->seqs + half, b->n - half, attempt, retry_after, why);
    } else {
        slot_fail(st, slot_at(st, b->seqs[0]), why);
    }
}

/* Applies a decoded response: outputs to slots, per-record errors retried alone. */
static void batch_succeeded(rill__faas_stage_t *st, rill__faas_batch_t *b,
                            rill__faas_shared_resp_t *resp) {
    for (size_t i = 0; i < b->n; i++) {
        rill__faas_slot_t *slot = slot_at(st, b->seqs[i]);
        const rill__faas_result_t *res = &resp->r.results[i];
        if (res->failed) {
            const char *why = res->error ? res->error : "the function reported an error";
            if (slot->attempts > st->conf->o.max_retries)
                slot_fail(st, slot, why);
            else
                requeue(st, &b->seqs[i], 1, slot->attempts, -1, why);
            continue;
        }
        resp->refs++;
        slot->resp = resp;
        slot->res_idx = i;
        slot->state = SLOT_DONE;
        st->dirty = true;
    }
    rill__faas_response_unref(resp); /* the batch's own reference */
}

/* Bucket b counts the calls that took at most 2^b ms (and more than 2^(b-1)); the last one
 * every longer call: rendered as the histogram's le="2^b" and le="+Inf" (faas_conf.c). */
static void record_latency(rill__faas_conf_t *c, double ms) {
    int b = 0;
    while (b < FAAS_LAT_BUCKETS - 1 && ms > (double)(1LL << b))
        b++;
    rill__counter_add(&c->m_latency[b], 1);
    rill__counter_add(&c->m_latency_sum_ms, (int64_t)ms);
}

/* The function says it has too much to do: adaptive concurrency halves the calls. */
static bool overloaded(const rill__http_resp_t *r) {
    return r->curl_code == CURLE_OPERATION_TIMEDOUT ||
           (!r->curl_code && (r->status == 429 || r->status == 503));
}

/* A call that came back with a 2xx answer and no function error: its slot may be refilled
 * before its results are read (a malformed body still fails it then, as a retry). */
static bool answered(const rill__http_resp_t *r) {
    return !r->curl_code && r->status >= 200 && r->status <= 299 && !r->function_error[0];
}

static void call_ended(rill__faas_stage_t *st) {
    st->in_flight--;
    rill__counter_add(&st->conf->m_in_flight, -1);
}

/* Takes one finished call: its results into the slots, or its failure into a retry. Its
 * call slot was given back already (call_ended). */
static void complete(rill__faas_stage_t *st, rill__http_done_t *done) {
    rill__faas_batch_t *b = done->opaque;
    const rill__http_resp_t *r = &done->resp;
    char why[512];
    record_latency(st->conf, r->total_ms);
    rill__faas_record_billed(st->conf, r);
    if (st->adaptive)
        rill__faas_aimd_sample(&st->aimd, r->total_ms, overloaded(r), rill__now_ms());
    rill__counter_add(&st->conf->m_connects, r->connects);
    bool ok = false;
    if (r->curl_code) {
        snprintf(why, sizeof(why), "call failed: %s", r->error);
    } else if (r->status == 413 && b->n > 1) {
        rill__counter_add(&st->conf->m_splits, 1);
        snprintf(why, sizeof(why), "HTTP 413: payload too large");
        batch_failed(st, b, why, -1, true);
        batch_free(b);
        return;
    } else if (r->status < 200 || r->status > 299) {
        snprintf(why, sizeof(why), "HTTP %ld%s%.*s", r->status, r->body_len ? ": " : "",
                 (int)(r->body_len < 200 ? r->body_len : 200), r->body ? r->body : "");
    } else if (r->function_error[0]) {
        snprintf(why, sizeof(why), "function error (%s): %.*s", r->function_error,
                 (int)(r->body_len < 200 ? r->body_len : 200), r->body ? r->body : "");
    } else {
        rill__faas_shared_resp_t *resp = calloc(1, sizeof(*resp));
        char err[256];
        if (resp && !rill__faas_decode(&st->conf->target, b->recs, b->n, r->body, r->body_len,
                                       &resp->r, err, sizeof(err))) {
            resp->refs = 1;
            batch_succeeded(st, b, resp);
            ok = true;
        } else {
            snprintf(why, sizeof(why), "malformed response: %s", resp ? err : "out of memory");
            if (resp) {
                rill__faas_response_free(&resp->r);
                free(resp);
            }
        }
    }
    rill__faas_breaker_record(st->conf, ok, b->probe, rill__now_ms());
    if (!ok)
        batch_failed(st, b, why, r->retry_after_ms, false);
    batch_free(b);
}

/* ---- how much the stage may hold ---- */

/*
 * Under exactly-once every commit waits until the stage holds nothing (engine/commit.c), and
 * the transaction must commit within transaction.timeout.ms. So the stage holds no more than
 * it can finish in EOS_BUDGET_PERCENT of that time at the rate it has been finishing records
 * while busy; until it knows that rate, one round of full batches on every allowed call.
 */
#define EOS_BUDGET_PERCENT 25
#define RATE_WINDOW_MS 250

static void measure_rate(rill__faas_stage_t *st, int64_t now, size_t held) {
    if (!st->eos)
        return;
    if (!st->rate_since) {
        if (held) { /* busy: open a window */
            st->rate_since = now;
            st->rate_head = st->head;
        }
        return;
    }
    int64_t span = now - st->rate_since;
    if (span < RATE_WINDOW_MS && held)
        return;
    if (span >= RATE_WINDOW_MS / 10) { /* a full window, or one the stage emptied */
        double r = (double)(st->head - st->rate_head) * 1000.0 / (double)span;
        st->rate = st->rate > 0 ? 0.5 * st->rate + 0.5 * r : r;
    }
    st->rate_since = held ? now : 0; /* an idle stage measures nothing */
    st->rate_head = st->head;
}

static size_t hold_limit(const rill__faas_stage_t *st) {
    size_t max = st->limit;
    if (!st->eos)
        return max;
    size_t round = (size_t)st->conf->o.batch_max_records * (size_t)st->conf->o.max_in_flight;
    size_t fit = st->rate > 0 ? (size_t)(st->rate * (double)st->eos_budget_ms / 1000.0) : round;
    if (fit < (size_t)st->conf->o.batch_max_records)
        fit = (size_t)st->conf->o.batch_max_records;
    return fit < max ? fit : max;
}

/* Says once per stage when its tasks together may have more calls in flight than the
 * process runs at once: the others wait in the bridge's queue, and their wait counts in
 * their call time (rill_faas_latency_seconds), so the stage looks slower than its function. */
static void warn_process_cap(rill__faas_stage_t *st, int64_t calls) {
    int cap = st->thread->app->set.faas_max_in_flight;
    if (calls <= cap || __atomic_exchange_n(&st->conf->cap_warned, 1, __ATOMIC_RELAXED))
        return;
    rill__log_at(st->thread->app, RILL__LOG_WARN, -1,
                 "FaaS stage \"%s\": its tasks may have %" PRId64 " calls in flight "
                 "(rill_faas_concurrency_limit) but the process runs at most "
                 "faas.max.in.flight=%d at once; the rest wait for a free one. Set "
                 "faas.max.in.flight and faas.max.connections to at least %" PRId64
                 " (for every FaaS stage of the process together) or lower max_in_flight",
                 st->node->name, calls, cap, calls);
}

/* Publishes what the stage holds to the per-function gauges (once per poll, not per record). */
static void show_held(rill__faas_stage_t *st, int64_t held, int64_t bytes, int64_t calls) {
    rill__counter_add(&st->conf->m_buffered, held - st->shown_held);
    rill__counter_add(&st->conf->m_buffered_bytes, bytes - st->shown_bytes);
    rill__counter_add(&st->conf->m_call_limit, calls - st->shown_calls);
    if (calls > st->shown_calls)
        warn_process_cap(st, __atomic_load_n(&st->conf->m_call_limit, __ATOMIC_RELAXED));
    st->shown_held = held;
    st->shown_bytes = bytes;
    st->shown_calls = calls;
}

/* A call could start now: a free call slot and no batch already waiting for one. */
static bool slot_free(const rill__faas_stage_t *st) {
    return !st->queued && st->in_flight < call_limit(st);
}

/* ---- the operator ---- */

static int stage_init(rill_ctx_t *ctx, const rill__node_t *node, void **statep) {
    rill__thread_t *thread = rill__ctx_thread(ctx);
    rill__faas_conf_t *c = node->conf;
    rill__faas_stage_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    *statep = st;
    st->conf = c;
    st->node = node;
    st->thread = thread;
    st->limit = rill__faas_read_ahead_limit(&c->o);
    st->adaptive = c->o.adaptive_concurrency > 0;
    rill__faas_aimd_init(&st->aimd, c->o.max_in_flight);
    st->cap = st->limit + (size_t)c->o.batch_max_records + 128;
    rill__counter_add(&c->m_buffered_limit, (int64_t)st->limit);
    if (thread->app->set.guarantee == RILL_GUARANTEE_EXACTLY_ONCE_V2) {
        int64_t txn_ms = thread->txn_timeout_ms > 0 ? thread->txn_timeout_ms : 10000;
        st->eos = true;
        st->eos_budget_ms = txn_ms * EOS_BUDGET_PERCENT / 100;
    }
    st->ring = calloc(st->cap, sizeof(rill__faas_slot_t));
    st->http = rill__app_bridge(thread->app, make_http, free_http);
    st->cq = rill__http_cq_new(rill__thread_wake, thread);
    if (!st->ring || !st->http || !st->cq) {
        rill_ctx_set_error(ctx, "FaaS stage \"%s\" could not start its bridge", node->name);
        return -1;
    }
    return 0;
}

static int stage_process(rill_ctx_t *ctx, const rill_record_t *rec, void *state) {
    rill__faas_stage_t *st = state;
    if (rill__faas_admit(st, ctx, rec))
        return -1;
    const rill_faas_opts_t *o = &st->conf->o;
    if (st->tail - st->open_from >= (uint64_t)o->batch_max_records ||
        st->open_bytes >= (size_t)o->batch_max_bytes * 9 / 10) {
        cut_open(st);
        send_ready(st, rill__now_ms());
        prepare_next(st);
    }
    return 0;
}

/* Takes the finished calls. When all of them were answered, their slots go to the queued
 * batches before their results are decoded: the function gets its next call at once rather
 * than after this thread's decoding and releasing. A failed call is read first, so that
 * the breaker and adaptive concurrency see it before anything more is sent. */
static void take_completions(rill__faas_stage_t *st) {
    rill__http_done_t *list = rill__http_cq_take(st->cq);
    bool all_answered = true;
    for (rill__http_done_t *d = list; d; d = d->next) {
        call_ended(st);
        all_answered = all_answered && answered(&d->resp);
    }
    if (list && all_answered)
        send_ready(st, rill__now_ms());
    for (rill__http_done_t *done = list, *next; done; done = next) {
        next = done->next;
        complete(st, done);
        rill__http_done_free(done);
    }
}

static int stage_poll(rill_ctx_t *ctx, void *state) {
    rill__faas_stage_t *st = state;
    take_completions(st);
    int64_t now = rill__now_ms();
    int wait = INT32_MAX;
    /* A partial batch goes after its linger only when a call could start: while every
     * call is busy it keeps filling (a full one is cut in stage_process). */
    if (st->tail > st->open_from) {
        int64_t due = st->open_since + st->conf->o.linger_ms;
        if (due > now)
            wait = (int)(due - now);
        else if (slot_free(st))
            cut_open(st);
    }
    int w = send_ready(st, now);
    if (w < wait)
        wait = w;
    rill__faas_release(st, ctx);
    prepare_next(st);
    /* The ring's span, not the unreleased count: in key and unordered modes released slots
     * behind an unfinished one still occupy the ring. */
    size_t held = (size_t)(st->tail - st->head);
    measure_rate(st, now, held);
    show_held(st, (int64_t)st->live, (int64_t)st->held_bytes, call_limit(st));
    return wait;
}

static int64_t stage_low_time(void *state) {
    return state ? rill__faas_low_time(state) : INT64_MAX;
}

static int64_t stage_low_watermark(void *state, const char *topic, int32_t partition) {
    return state ? rill__faas_low_watermark(state, topic, partition) : -1;
}

/* Full: the task stops feeding the stage until a record leaves (it checks every 64 records,
 * hence the ring's margin). No hysteresis: the stage takes records again as soon as a
 * finished call makes room, so a full batch is ready for the next free call. */
static int stage_backpressure(void *state) {
    rill__faas_stage_t *st = state;
    return st && (st->tail - st->head >= (uint64_t)hold_limit(st) ||
                  st->held_bytes >= (size_t)st->conf->o.max_buffered_bytes);
}

static int stage_holds(void *state) {
    const rill__faas_stage_t *st = state;
    return st && st->live > 0;
}

static void stage_free(rill__faas_stage_t *st) {
    for (rill__faas_batch_t *b = st->queued, *next; b; b = next) {
        next = b->next;
        batch_free(b);
    }
    rill__http_cq_destroy(st->cq);
    free(st);
}

/* Reaps an orphaned stage: frees completed invocations; done when none is in flight. */
static int stage_reap(void *obj) {
    rill__faas_stage_t *st = obj;
    for (rill__http_done_t *done = rill__http_cq_take(st->cq), *next; done; done = next) {
        next = done->next;
        batch_free(done->opaque);
        rill__http_done_free(done);
        st->in_flight--;
        rill__counter_add(&st->conf->m_in_flight, -1);
    }
    if (st->in_flight > 0)
        return 0;
    stage_free(st);
    return 1;
}

void rill__faas_stage_free_held(rill__faas_stage_t *st) {
    for (uint64_t seq = st->head; st->ring && seq < st->tail; seq++)
        rill__faas_slot_free(slot_at(st, seq));
    free(st->ring);
    st->ring = NULL;
    free(st->key_cells);
    st->key_cells = NULL;
    st->key_cells_cap = 0;
    if (st->chunk && --st->chunk->refs == 0)
        free(st->chunk);
    st->chunk = NULL;
}

static void stage_close(const rill__node_t *node, void *state) {
    rill__faas_stage_t *st = state;
    if (!st)
        return;
    rill__faas_stage_free_held(st);
    st->live = st->held_bytes = 0;
    show_held(st, 0, 0, 0);
    rill__counter_add(&st->conf->m_buffered_limit, -(int64_t)st->limit);
    st->closing = true;
    if (st->in_flight > 0)
        rill__thread_adopt(st->thread, st, stage_reap);
    else
        stage_free(st);
}

static const rill__operator_t faas_op = {
    .kind = "FAAS",
    .init = stage_init,
    .process = stage_process,
    .poll = stage_poll,
    .close = stage_close,
    .free_conf = rill__faas_conf_free,
    .low_watermark = stage_low_watermark,
    .low_time = stage_low_time,
    .backpressure = stage_backpressure,
    .holds = stage_holds,
    .metrics = rill__faas_metrics,
    .metric = rill__faas_metric,
};

rill_stream_t *rill_stream_faas(rill_stream_t *s, const char *name, const rill_faas_opts_t *opts) {
    if (!s)
        return NULL;
    char errstr[256];
    if (!opts) {
        rill__topology_fail(s->topo, "FaaS stage \"%s\" needs options", name ? name : "?");
        return NULL;
    }
    rill__faas_conf_t *c = rill__faas_conf_new(
        name ? name : (opts->function ? opts->function : "faas"), opts, errstr, sizeof(errstr));
    if (!c) {
        rill__topology_fail(s->topo, "%s", errstr);
        return NULL;
    }
    return rill__topology_add(s->topo, s, name, &faas_op, c, NULL);
}
