/*
 * cost_model.h — what a stage costs at list prices, native (an always-on processor) or as a
 * remote function (paid per invocation and per billed GB-second), from what a run measured.
 * The arithmetic lives in cost_model.c only; every benchmark (through bench-cost, cost_cli.c,
 * or by linking it) and rill-auction's end-of-run estimate use it.
 *
 * The model (bench/README.md, "Cost model"):
 *   capacity      events/s one vCPU serves natively = native events / native CPU-s
 *   vCPU-hour     vcpu_h + gb_per_vcpu × gb_h (the processor's memory grows with its vCPUs)
 *   native(R)     USD/h at a mean rate R: the processor is sized for the peak R × burst, in
 *                 steps of vcpu_step vCPUs (at least one step), and paid whether busy or not
 *   faas(R)       USD/h = R × 3600 × (USD per event), USD per event = invocations/event ×
 *                 request price + billed ms/event / 1000 × memory GB × GB-second price +
 *                 processor CPU-s/event of the FaaS run × vCPU-hour / 3600 (reading, the
 *                 bridge, writing: charged for what it uses on the processor the stateful
 *                 core needs anyway)
 *   crossover     the lowest R where faas(R) >= native(R); none when the function is cheaper
 *                 per event than a fully used processor (then it is cheaper at every rate)
 */
#ifndef RILL_BENCH_COST_MODEL_H
#define RILL_BENCH_COST_MODEL_H

#include <stddef.h>

typedef struct bench_cost_prices_s {
    double fn_requests_per_m; /* USD per million function requests */
    double fn_gb_s;           /* USD per GB-second of billed duration */
    double fn_memory_mb;      /* the function's configured memory */
    double proc_vcpu_h;       /* USD per vCPU-hour of the always-on processor */
    double proc_gb_h;         /* USD per GB-hour of its memory */
    double proc_gb_per_vcpu;  /* memory it gets per vCPU */
    double proc_vcpu_step;    /* its sizes: multiples of this, at least one */
    double burst;             /* peak rate / mean rate: the processor is sized for the peak */
} bench_cost_prices_t;

/* What one native run and one FaaS run measured (a side not measured: events = 0). */
typedef struct bench_cost_measured_s {
    double native_events, native_cpu_s; /* processor CPU (user + sys) of the native run */
    double faas_events, faas_cpu_s;     /* processor CPU of the FaaS run (the bridge's too) */
    double invocations;                 /* function invocations of the FaaS run */
    double billed_ms;                   /* their durations, each rounded up to 1 ms */
} bench_cost_measured_t;

/* USD; per_m: per million events. Values that cannot be computed are -1. */
typedef struct bench_cost_s {
    double capacity;     /* native events/s per vCPU */
    double vcpu_hour;    /* USD per vCPU-hour, memory included */
    double floor_h;      /* the smallest processor, USD per hour */
    double native_per_m; /* a fully used processor */
    double fn_requests_per_m, fn_duration_per_m, bridge_per_m, faas_per_m;
    double crossover; /* events/s; -1: none (or not computable) */
} bench_cost_t;

void bench_cost_prices_default(bench_cost_prices_t *p);

/* Overrides p's fields from the RILL_COST_* variables that are set (cost_prices.h names
 * them). Returns 0, or -1 with errstr naming a value that is not a positive number. */
int bench_cost_prices_env(bench_cost_prices_t *p, char *errstr, size_t errstr_size);

void bench_cost_eval(const bench_cost_prices_t *p, const bench_cost_measured_t *m, bench_cost_t *c);

/* USD per hour at mean rate events/s: the always-on processor (c->capacity > 0), and the
 * FaaS stage (c->faas_per_m >= 0); -1 when not computable. */
double bench_cost_native_h(const bench_cost_prices_t *p, const bench_cost_t *c, double rate);
double bench_cost_faas_h(const bench_cost_t *c, double rate);

/* The prices as one line of text, for reports. */
void bench_cost_prices_describe(const bench_cost_prices_t *p, char *buf, size_t size);

#endif /* RILL_BENCH_COST_MODEL_H */
