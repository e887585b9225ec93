/*
 * cost_cli.c — bench-cost: the cost model (cost_model.c) for the benchmark scripts.
 *
 *   bench-cost [--native-events N --native-cpu-s S]
 *              [--faas-events N --faas-cpu-s S --invocations I --billed-ms B]
 *              [--curve FILE --rate-max R]   cost per hour against the rate (log spaced)
 *              [--describe-prices]           one line: the prices used and where they are from
 *
 * Prints one line, "COST key=value ..." (n/a where not computable): capacity (native events/s
 * per vCPU), vcpu_hour, floor_h (the smallest processor, USD/h), native_per_m,
 * fn_requests_per_m, fn_duration_per_m, bridge_per_m, faas_per_m (USD per million events),
 * crossover (events/s; n/a: none). Prices: cost_prices.h, overridden by RILL_COST_*.
 *
 * DESIGN
 * The scripts measure and the model computes: they pass what a run measured and read the
 * COST line back, so no script repeats the arithmetic (awk only formats).
 */
#include "cost_model.h"
#include "cost_prices.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURVE_POINTS 2000

typedef struct cli_s {
    bench_cost_measured_t m;
    const char *curve;
    double rate_max;
    int describe;
} cli_t;

static const struct {
    const char *flag;
    size_t off;
} num_flags[] = {
    {"--native-events", offsetof(cli_t, m.native_events)},
    {"--native-cpu-s", offsetof(cli_t, m.native_cpu_s)},
    {"--faas-events", offsetof(cli_t, m.faas_events)},
    {"--faas-cpu-s", offsetof(cli_t, m.faas_cpu_s)},
    {"--invocations", offsetof(cli_t, m.invocations)},
    {"--billed-ms", offsetof(cli_t, m.billed_ms)},
    {"--rate-max", offsetof(cli_t, rate_max)},
};

static int set_num(cli_t *c, const char *flag, const char *v) {
    for (size_t k = 0; k < sizeof(num_flags) / sizeof(num_flags[0]); k++) {
        if (strcmp(flag, num_flags[k].flag))
            continue;
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d) || d < 0) {
            fprintf(stderr, "bench-cost: %s wants a number >= 0, got \"%s\"\n", flag, v);
            return -1;
        }
        *(double *)((char *)c + num_flags[k].off) = d;
        return 0;
    }
    fprintf(stderr, "bench-cost: unknown argument \"%s\"\n", flag);
    return -1;
}

static int parse(int argc, char **argv, cli_t *c) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--describe-prices")) {
            c->describe = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-cost: %s needs a value\n", argv[i]);
            return -1;
        }
        if (!strcmp(argv[i], "--curve"))
            c->curve = argv[++i];
        else if (set_num(c, argv[i], argv[i + 1]))
            return -1;
        else
            i++;
    }
    if (c->curve && c->rate_max <= 0) {
        fprintf(stderr, "bench-cost: --curve needs --rate-max\n");
        return -1;
    }
    return 0;
}

static void print_val(const char *key, double v, const char *fmt) {
    printf(" %s=", key);
    if (v < 0)
        printf("n/a");
    else
        printf(fmt, v);
}

static void print_cost(const bench_cost_t *c) {
    printf("COST");
    print_val("capacity", c->capacity, "%.0f");
    print_val("vcpu_hour", c->vcpu_hour, "%.6f");
    print_val("floor_h", c->floor_h, "%.6f");
    print_val("native_per_m", c->native_per_m, "%.6f");
    print_val("fn_requests_per_m", c->fn_requests_per_m, "%.6f");
    print_val("fn_duration_per_m", c->fn_duration_per_m, "%.6f");
    print_val("bridge_per_m", c->bridge_per_m, "%.6f");
    print_val("faas_per_m", c->faas_per_m, "%.6f");
    print_val("crossover", c->crossover, "%.1f");
    printf("\n");
}

/* "rate native_h faas_h" at rates spaced evenly on a log scale over four decades up to
 * rate_max (for a log-scale plot); a native size step shows as a vertical jump. */
static int write_curve(const cli_t *cl, const bench_cost_prices_t *p, const bench_cost_t *c) {
    FILE *f = fopen(cl->curve, "w");
    if (!f) {
        fprintf(stderr, "bench-cost: cannot write %s\n", cl->curve);
        return -1;
    }
    fprintf(f, "# rate_events_per_s native_usd_per_h faas_usd_per_h\n");
    for (int i = 0; i <= CURVE_POINTS; i++) {
        double r = cl->rate_max * pow(10.0, 4.0 * (i - CURVE_POINTS) / CURVE_POINTS);
        fprintf(f, "%.3f %.8f %.8f\n", r, bench_cost_native_h(p, c, r), bench_cost_faas_h(c, r));
    }
    return fclose(f) ? -1 : 0;
}

int main(int argc, char **argv) {
    cli_t cl = {0};
    bench_cost_prices_t p;
    char err[256];
    bench_cost_prices_default(&p);
    if (parse(argc, argv, &cl))
        return 2;
    if (bench_cost_prices_env(&p, err, sizeof(err))) {
        fprintf(stderr, "bench-cost: %s\n", err);
        return 2;
    }
    if (cl.describe) {
        char line[768];
        bench_cost_prices_describe(&p, line, sizeof(line));
        printf("%s; defaults: %s, read %s (bench/cost_prices.h), RILL_COST_* override\n", line,
               COST_PRICES_SOURCE, COST_PRICES_DATE);
    }
    bench_cost_t c;
    bench_cost_eval(&p, &cl.m, &c);
    print_cost(&c);
    return cl.curve && write_curve(&cl, &p, &c) ? 1 : 0;
}
