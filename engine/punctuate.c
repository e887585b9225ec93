/*
 * punctuate.c — punctuators of the Processor API: callbacks a node schedules to run every
 * interval of stream time or of wall-clock time.
 *
 * DESIGN
 * Schedules belong to the task (created by its nodes' init, dropped when the task closes or
 * is rewound, re-created by init after). Stream-time ones are checked when a record advanced
 * the task's stream time; wall-clock ones on every loop iteration of the thread, whose poll
 * timeout is bounded by the next due time, so they fire on time with no record arriving.
 */
#include "engine_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct rill__sched_s {
    rill__node_t *node;
    rill_punctuation_t type;
    int64_t interval;
    int64_t next; /* due time: stream time or epoch ms */
    rill_punctuate_cb cb;
    void *arg;
} rill__sched_t;

/* The wall clock: the system's, or the test driver's. */
static int64_t wall_ms(const rill__thread_t *thread) {
    if (thread && thread->local)
        return thread->local->wall_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first multiple of interval after now (interval before any time), or INT64_MAX when
 * there is none: stream time may be anywhere up to INT64_MAX (--drain's advance saturates). */
static int64_t next_due(int64_t now, int64_t interval) {
    if (now < 0)
        return interval;
    int64_t q = now / interval + 1;
    return q > INT64_MAX / interval ? INT64_MAX : q * interval;
}

rill_err_t rill_ctx_schedule(rill_ctx_t *ctx, int64_t interval_ms, rill_punctuation_t type,
                             rill_punctuate_cb cb, void *arg) {
    if (interval_ms <= 0 || !cb ||
        (type != RILL_PUNCTUATE_STREAM_TIME && type != RILL_PUNCTUATE_WALL_CLOCK)) {
        rill_ctx_set_error(ctx, "rill_ctx_schedule: the interval must be > 0 ms, with a "
                                "callback and a punctuation type");
        return RILL_ERR_INVALID_ARG;
    }
    rill__task_t *task = ctx->task;
    rill__sched_t *s = realloc(task->scheds, sizeof(*s) * (size_t)(task->sched_cnt + 1));
    if (!s)
        return RILL_ERR_NOMEM;
    task->scheds = s;
    int64_t now = type == RILL_PUNCTUATE_WALL_CLOCK ? wall_ms(task->thread) : task->stream_time;
    s[task->sched_cnt++] = (rill__sched_t){.node = ctx->node,
                                           .type = type,
                                           .interval = interval_ms,
                                           .cb = cb,
                                           .arg = arg,
                                           .next = next_due(now, interval_ms)};
    return RILL_OK;
}

static void fire(rill__task_t *task, rill__sched_t *s, int64_t now) {
    rill_ctx_t *ctx = &task->ctx;
    const rd_kafka_message_t *msg = ctx->msg;
    rill__node_t *node = ctx->node;
    ctx->msg = NULL;
    ctx->node = s->node;
    ctx->timestamp = now;
    ctx->error[0] = '\0';
    rill__ctx_origin_punctuation(ctx, (int)(s - task->scheds),
                                 s->type == RILL_PUNCTUATE_WALL_CLOCK ? 'w' : 's', now);
    s->cb(ctx, now, s->arg);
    s->next = next_due(now, s->interval);
    rill__ctx_origin_input(ctx);
    ctx->msg = msg;
    ctx->node = node;
}

void rill__task_punctuate_stream(rill__task_t *task) {
    for (int i = 0; i < task->sched_cnt; i++) {
        rill__sched_t *s = &task->scheds[i];
        if (s->type == RILL_PUNCTUATE_STREAM_TIME && task->stream_time >= s->next)
            fire(task, s, task->stream_time);
    }
}

int rill__task_punctuate_wall(rill__task_t *task) {
    int wait = INT32_MAX;
    int64_t now = 0;
    for (int i = 0; i < task->sched_cnt; i++) {
        rill__sched_t *s = &task->scheds[i];
        if (s->type != RILL_PUNCTUATE_WALL_CLOCK)
            continue;
        if (!now)
            now = wall_ms(task->thread);
        if (now >= s->next)
            fire(task, s, now);
        if (rill__sub_sat(s->next, now) < wait)
            wait = (int)rill__sub_sat(s->next, now);
    }
    return wait;
}

void rill__task_clear_schedules(rill__task_t *task) {
    free(task->scheds);
    task->scheds = NULL;
    task->sched_cnt = 0;
}
