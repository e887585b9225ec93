/*
 * cost_model.c — the cost model's arithmetic (see cost_model.h for the model itself).
 *
 * DESIGN
 * One file with no Rill or Kafka dependency, so that the benchmark programs, the bench-cost
 * tool the benchmark scripts call, rill-auction's summary and the unit test
 * (tests/bench/test_cost_model.c) all compute the same thing. Only plain arithmetic on what a
 * run measured: nothing here measures or guesses.
 */
#include "cost_model.h"
#include "cost_prices.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void bench_cost_prices_default(bench_cost_prices_t *p) {
    *p = (bench_cost_prices_t){.fn_requests_per_m = COST_DEFAULT_FN_REQUESTS_PER_M,
                               .fn_gb_s = COST_DEFAULT_FN_GB_S,
                               .fn_memory_mb = COST_DEFAULT_FN_MEMORY_MB,
                               .proc_vcpu_h = COST_DEFAULT_PROC_VCPU_H,
                               .proc_gb_h = COST_DEFAULT_PROC_GB_H,
                               .proc_gb_per_vcpu = COST_DEFAULT_PROC_GB_PER_VCPU,
                               .proc_vcpu_step = COST_DEFAULT_PROC_VCPU_STEP,
                               .burst = COST_DEFAULT_BURST};
}

static const struct {
    const char *name;
    size_t off;
} env_fields[] = {
    {"RILL_COST_FN_REQUESTS_PER_M", offsetof(bench_cost_prices_t, fn_requests_per_m)},
    {"RILL_COST_FN_GB_S", offsetof(bench_cost_prices_t, fn_gb_s)},
    {"RILL_COST_FN_MEMORY_MB", offsetof(bench_cost_prices_t, fn_memory_mb)},
    {"RILL_COST_PROC_VCPU_H", offsetof(bench_cost_prices_t, proc_vcpu_h)},
    {"RILL_COST_PROC_GB_H", offsetof(bench_cost_prices_t, proc_gb_h)},
    {"RILL_COST_PROC_GB_PER_VCPU", offsetof(bench_cost_prices_t, proc_gb_per_vcpu)},
    {"RILL_COST_PROC_VCPU_STEP", offsetof(bench_cost_prices_t, proc_vcpu_step)},
    {"RILL_COST_BURST", offsetof(bench_cost_prices_t, burst)},
};

int bench_cost_prices_env(bench_cost_prices_t *p, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < sizeof(env_fields) / sizeof(env_fields[0]); i++) {
        const char *v = getenv(env_fields[i].name);
        if (!v)
            continue;
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(d) || d <= 0) {
            snprintf(errstr, errstr_size, "%s must be a positive number, got \"%s\"",
                     env_fields[i].name, v);
            return -1;
        }
        *(double *)((char *)p + env_fields[i].off) = d;
    }
    return 0;
}

/* The function's and the bridge's USD per million events, from the FaaS run. */
static void eval_faas(const bench_cost_prices_t *p, const bench_cost_measured_t *m,
                      bench_cost_t *c) {
    double per_m = 1e6 / m->faas_events;
    c->fn_requests_per_m = m->invocations * per_m * p->fn_requests_per_m / 1e6;
    c->fn_duration_per_m = m->billed_ms / 1000.0 * per_m * (p->fn_memory_mb / 1024.0) * p->fn_gb_s;
    c->bridge_per_m = m->faas_cpu_s * per_m * c->vcpu_hour / 3600.0;
    c->faas_per_m = c->fn_requests_per_m + c->fn_duration_per_m + c->bridge_per_m;
}

/* The lowest rate where faas(R) >= native(R). Within the k-th size step the processor costs
 * k × floor_h and serves up to k × step × capacity / burst; the function reaches k × floor_h
 * at k × floor_h / (3600 × USD per event), inside that step exactly when one fully used step
 * costs no more per event than the function: the same test for every k, so the lines cross
 * in the first step or never. */
static double crossover(const bench_cost_prices_t *p, const bench_cost_t *c) {
    if (c->capacity <= 0 || c->faas_per_m <= 0)
        return -1;
    double per_event = c->faas_per_m / 1e6;
    double step_rate = p->proc_vcpu_step * c->capacity / p->burst;
    if (per_event * 3600.0 * step_rate < c->floor_h)
        return -1;
    return c->floor_h / (3600.0 * per_event);
}

void bench_cost_eval(const bench_cost_prices_t *p, const bench_cost_measured_t *m,
                     bench_cost_t *c) {
    *c = (bench_cost_t){.capacity = -1,
                        .native_per_m = -1,
                        .fn_requests_per_m = -1,
                        .fn_duration_per_m = -1,
                        .bridge_per_m = -1,
                        .faas_per_m = -1};
    c->vcpu_hour = p->proc_vcpu_h + p->proc_gb_per_vcpu * p->proc_gb_h;
    c->floor_h = p->proc_vcpu_step * c->vcpu_hour;
    if (m->native_events > 0 && m->native_cpu_s > 0) {
        c->capacity = m->native_events / m->native_cpu_s;
        c->native_per_m = 1e6 / c->capacity * c->vcpu_hour / 3600.0;
    }
    if (m->faas_events > 0)
        eval_faas(p, m, c);
    c->crossover = crossover(p, c);
}

double bench_cost_native_h(const bench_cost_prices_t *p, const bench_cost_t *c, double rate) {
    if (c->capacity <= 0)
        return -1;
    double steps = ceil(rate * p->burst / (c->capacity * p->proc_vcpu_step) - 1e-9);
    return (steps < 1 ? 1 : steps) * c->floor_h;
}

double bench_cost_faas_h(const bench_cost_t *c, double rate) {
    return c->faas_per_m < 0 ? -1 : rate * 3600.0 * c->faas_per_m / 1e6;
}

void bench_cost_prices_describe(const bench_cost_prices_t *p, char *buf, size_t size) {
    snprintf(buf, size,
             "function USD %g per million requests and USD %.10f per GB-second (each "
             "invocation rounded up to 1 ms), %g MB; processor USD %g per vCPU-hour and USD "
             "%g per GB-hour, %g GB per vCPU, sized in steps of %g vCPU for the peak "
             "(burst = peak/mean rate = %g)",
             p->fn_requests_per_m, p->fn_gb_s, p->fn_memory_mb, p->proc_vcpu_h, p->proc_gb_h,
             p->proc_gb_per_vcpu, p->proc_vcpu_step, p->burst);
}
