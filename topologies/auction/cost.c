/*
 * cost.c — rill-auction's end-of-run cost estimate: what this run's work would cost at list
 * prices, the processor (always on) and the edge functions (per call), and the event rate
 * above which the functions cost more per hour than the smallest always-on processor.
 *
 * DESIGN
 * The numbers are the run's own: the process's CPU time (getrusage), the events that reached
 * the edge (auctions and bids; persons do not go through it), the FaaS stages' invocations
 * and their billed times as the bridge saw them: what the functions reported in each answer
 * (Server-Timing, rill_faas_reported_billed_ms_total) when every answer did, else the
 * bridge's own send-to-response times (rill_faas_billed_ms_total: queueing at the function
 * and the network included, so an upper bound); both rounded up to 1 ms per call. The
 * arithmetic is bench/cost_model.c's, the one the benchmarks use, with its list prices
 * (bench/cost_prices.h) unless RILL_COST_* say otherwise. The functions' line holds the
 * functions only: the processor's CPU (the bridge's included) is in its own line. It is an
 * estimate for one run on this machine, printed as such; startup and the end of --drain are
 * in the CPU time.
 */
#include "app.h"
#include "cost_model.h"
#include "cost_prices.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

double auction_cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void auction_cost_usage(void) {
    printf("Cost estimate (end of the summary; defaults: %s, read %s). Environment:\n"
           "RILL_COST_FN_REQUESTS_PER_M (USD %g), RILL_COST_FN_GB_S (USD %.10f),\n"
           "RILL_COST_FN_MEMORY_MB (%g), RILL_COST_PROC_VCPU_H (USD %g), RILL_COST_PROC_GB_H\n"
           "(USD %g), RILL_COST_PROC_GB_PER_VCPU (%g), RILL_COST_PROC_VCPU_STEP (%g),\n"
           "RILL_COST_BURST (peak/mean rate, %g).\n",
           COST_PRICES_SOURCE, COST_PRICES_DATE, COST_DEFAULT_FN_REQUESTS_PER_M,
           COST_DEFAULT_FN_GB_S, COST_DEFAULT_FN_MEMORY_MB, COST_DEFAULT_PROC_VCPU_H,
           COST_DEFAULT_PROC_GB_H, COST_DEFAULT_PROC_GB_PER_VCPU, COST_DEFAULT_PROC_VCPU_STEP,
           COST_DEFAULT_BURST);
}

static void print_processor(const bench_cost_t *c, double cpu_s, double events) {
    printf("    processor   %.1f CPU-s for %.0f edge events (auctions and bids) = %.1f CPU-s "
           "per million, %.0f events/s per vCPU\n",
           cpu_s, events, cpu_s / events * 1e6, c->capacity);
    printf("                USD %.6f per million events when fully used; the smallest "
           "always-on size costs USD %.4f per hour\n",
           c->native_per_m, c->floor_h);
}

static void print_functions(const bench_cost_prices_t *p, const bench_cost_t *c, double calls,
                            double billed_ms, int reported, double round_trip_ms) {
    printf("    functions   %.0f invocations, %.0f billed ms at %.0f MB (%s, each rounded up "
           "to 1 ms; the bridge's send-to-response times: %.0f ms)\n",
           calls, billed_ms, p->fn_memory_mb,
           reported ? "as the functions reported them" : "the bridge's times: an upper bound",
           round_trip_ms);
    printf("                USD %.6f per million events (requests %.6f + duration %.6f)\n",
           c->faas_per_m, c->fn_requests_per_m, c->fn_duration_per_m);
    if (c->crossover > 0)
        printf("    crossover   above %.0f events/s the functions cost more per hour than the "
               "smallest always-on processor\n",
               c->crossover);
    else
        printf("    crossover   none: the functions cost less per event than a fully used "
               "processor\n");
}

void auction_cost_summary(rill_app_t *app, const auction_opts_t *o, double cpu_s) {
    bench_cost_prices_t p;
    char err[256];
    bench_cost_prices_default(&p);
    printf("  cost estimate at list prices (an estimate from this run, not a bill):\n");
    if (bench_cost_prices_env(&p, err, sizeof(err))) {
        printf("    not computed: %s\n", err);
        return;
    }
    double events = (double)__atomic_load_n(&g_stats.edge_events, __ATOMIC_RELAXED);
    double calls = (double)rill_app_metric(app, "rill_faas_invocations_total");
    double round_trip = (double)rill_app_metric(app, "rill_faas_billed_ms_total");
    int reported =
        calls > 0 && rill_app_metric(app, "rill_faas_reported_invocations_total") >= (int64_t)calls;
    double billed =
        reported ? (double)rill_app_metric(app, "rill_faas_reported_billed_ms_total") : round_trip;
    if (events <= 0 || cpu_s <= 0) {
        printf("    not computed: no events reached the edge\n");
        return;
    }
    bench_cost_measured_t m = {.native_events = events, .native_cpu_s = cpu_s};
    if (o->edge == EDGE_FAAS && calls > 0)
        m = (bench_cost_measured_t){.native_events = events,
                                    .native_cpu_s = cpu_s,
                                    .faas_events = events,
                                    .invocations = calls,
                                    .billed_ms = billed};
    bench_cost_t c;
    bench_cost_eval(&p, &m, &c);
    print_processor(&c, cpu_s, events);
    if (m.faas_events > 0)
        print_functions(&p, &c, calls, billed, reported, round_trip);
    else
        printf("    functions   none called (edge %s)\n",
               o->edge == EDGE_NATIVE ? "native" : "faas, no invocation");
    printf("    prices      %s, %s (RILL_COST_* override; rill-auction --help lists them)\n",
           COST_PRICES_SOURCE, COST_PRICES_DATE);
}
