/*
 * test_cost_model.c — the cost model (bench/cost_model.c) against numbers worked out by hand
 * from its definition (bench/cost_model.h) and the default prices (bench/cost_prices.h):
 * USD per million events native and FaaS, the processor
 * sized in steps for the peak, the crossover rate, and prices from the environment.
 */
#include "cost_model.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/* Relative closeness, for results of floating-point arithmetic. */
static void expect_near(double got, double want, const char *what) {
    double tol = 1e-6 * (want < 0 ? -want : want) + 1e-12;
    cr_expect(got > want - tol && got < want + tol, "%s: got %.12g, want %.12g", what, got, want);
}

/* 1M events natively in 50 CPU-s; as functions, 10,000 invocations of 100 events billed
 * 3 ms each, and 60 CPU-s of the processor. By hand, at the default prices:
 *   vCPU-hour = 0.04048 + 2 × 0.004445 = 0.04937; smallest size (0.25 vCPU) 0.0123425 USD/h
 *   capacity = 1e6 / 50 = 20,000 events/s per vCPU
 *   native per M = 50 × 0.04937 / 3600 = 0.000685694…
 *   requests per M = 10,000 × 0.20 / 1e6 = 0.002
 *   duration per M = 30 s × 0.125 GB × 0.0000166667 = 0.000062500125
 *   bridge per M = 60 × 0.04937 / 3600 = 0.000822833…
 *   FaaS per M = 0.00288533346…
 *   crossover: 0.0123425 / (3600 × 2.88533346e-9) = 1188.24 events/s, inside the first
 *   size step (0.25 × 20,000 = 5,000 events/s) */
static const bench_cost_measured_t example = {.native_events = 1e6,
                                              .native_cpu_s = 50,
                                              .faas_events = 1e6,
                                              .faas_cpu_s = 60,
                                              .invocations = 10000,
                                              .billed_ms = 30000};

Test(bench_cost_model, per_million_events_match_the_hand_computed_example) {
    bench_cost_prices_t p;
    bench_cost_t c;
    bench_cost_prices_default(&p);
    bench_cost_eval(&p, &example, &c);
    expect_near(c.vcpu_hour, 0.04937, "vCPU-hour");
    expect_near(c.floor_h, 0.0123425, "smallest processor per hour");
    expect_near(c.capacity, 20000, "capacity");
    expect_near(c.native_per_m, 50 * 0.04937 / 3600, "native per M");
    expect_near(c.fn_requests_per_m, 0.002, "requests per M");
    expect_near(c.fn_duration_per_m, 0.000062500125, "duration per M");
    expect_near(c.bridge_per_m, 60 * 0.04937 / 3600, "bridge per M");
    expect_near(c.faas_per_m, 0.002 + 0.000062500125 + 60 * 0.04937 / 3600, "FaaS per M");
    cr_expect(c.crossover > 1188.2 && c.crossover < 1188.3, "crossover %.3f, want 1188.24",
              c.crossover);
}

Test(bench_cost_model, lines_meet_at_the_crossover_and_the_processor_grows_in_steps) {
    bench_cost_prices_t p;
    bench_cost_t c;
    bench_cost_prices_default(&p);
    bench_cost_eval(&p, &example, &c);
    expect_near(bench_cost_faas_h(&c, c.crossover), bench_cost_native_h(&p, &c, c.crossover),
                "both lines at the crossover");
    expect_near(bench_cost_faas_h(&c, 1000), 1000 * 3600 * 0.00288533346e-6, "FaaS at 1000/s");
    expect_near(bench_cost_native_h(&p, &c, 0), 0.0123425, "idle: still one step");
    expect_near(bench_cost_native_h(&p, &c, 5000), 0.0123425, "5000/s: one step is full");
    expect_near(bench_cost_native_h(&p, &c, 5001), 2 * 0.0123425, "5001/s: two steps");
    expect_near(bench_cost_native_h(&p, &c, 20000), 4 * 0.0123425, "20000/s: one vCPU");
    p.burst = 2; /* sized for twice the mean rate */
    expect_near(bench_cost_native_h(&p, &c, 2500), 0.0123425, "burst 2, 2500/s: one step");
    expect_near(bench_cost_native_h(&p, &c, 2501), 2 * 0.0123425, "burst 2, 2501/s: two");
}

/* The function cheaper per event than a fully used processor: no crossover. Native: 1M
 * events in 1000 CPU-s (capacity 1000/s per vCPU, a step serves 250/s for 0.0123425 USD/h,
 * 1.371e-8 USD per event); functions: 1000 invocations billed 1 ms each, no processor CPU:
 * 0.0002 + 0.001 × 0.125 × 0.0000166667 = 0.000200002 USD per M, 2.0e-10 per event. */
Test(bench_cost_model, no_crossover_when_the_function_is_cheaper_per_event) {
    bench_cost_prices_t p;
    bench_cost_t c;
    bench_cost_measured_t m = {.native_events = 1e6,
                               .native_cpu_s = 1000,
                               .faas_events = 1e6,
                               .invocations = 1000,
                               .billed_ms = 1000};
    bench_cost_prices_default(&p);
    bench_cost_eval(&p, &m, &c);
    expect_near(c.faas_per_m, 0.0002 + 1.0 * 0.125 * 0.0000166667, "FaaS per M");
    cr_expect_eq(c.crossover, -1, "no crossover, got %g", c.crossover);
    m.native_events = 0; /* one side missing: nothing to compare */
    bench_cost_eval(&p, &m, &c);
    cr_expect_eq(c.capacity, -1);
    cr_expect_eq(c.native_per_m, -1);
    cr_expect_eq(c.crossover, -1);
}

Test(bench_cost_model, prices_come_from_the_environment_and_bad_ones_are_named) {
    bench_cost_prices_t p;
    bench_cost_t c;
    char err[256] = "";
    bench_cost_prices_default(&p);
    setenv("RILL_COST_FN_MEMORY_MB", "1024", 1);
    setenv("RILL_COST_PROC_VCPU_H", "0.1", 1);
    cr_assert_eq(bench_cost_prices_env(&p, err, sizeof(err)), 0, "%s", err);
    bench_cost_eval(&p, &example, &c);
    expect_near(c.fn_duration_per_m, 30 * 1.0 * 0.0000166667, "duration per M at 1 GB");
    expect_near(c.vcpu_hour, 0.1 + 2 * 0.004445, "vCPU-hour at 0.1");
    const char *bad[] = {"abc", "0", "-1", "1e999", "2x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("RILL_COST_BURST", bad[i], 1);
        err[0] = '\0';
        cr_expect_eq(bench_cost_prices_env(&p, err, sizeof(err)), -1, "\"%s\" accepted", bad[i]);
        cr_expect(strstr(err, "RILL_COST_BURST") != NULL, "error names the variable: %s", err);
    }
    unsetenv("RILL_COST_BURST");
    unsetenv("RILL_COST_FN_MEMORY_MB");
    unsetenv("RILL_COST_PROC_VCPU_H");
}
