/*
 * cost_prices.h — the list prices the cost model (cost_model.c) uses when no RILL_COST_*
 * variable overrides them. One place for the numbers, their source and their date.
 *
 * DESIGN
 * Prices change and differ per provider, region and architecture, so they are inputs: each
 * default below can be replaced through its environment variable (named next to it) without
 * rebuilding. The defaults are AWS's public on-demand list prices for us-east-1 (N. Virginia),
 * x86, as published on the AWS Lambda and AWS Fargate pricing pages and read on 2026-12-07:
 *   - Lambda: USD 0.20 per million requests; USD 0.0000166667 per GB-second of duration,
 *     billed per invocation rounded up to 1 ms (first price tier; free tier not applied).
 *     The rounding is done where each invocation's time is measured (the test functions'
 *     GET /stats "billedMs", the bridge's rill_faas_billed_ms_total), not here;
 *   - Fargate (Linux/x86): USD 0.04048 per vCPU-hour and USD 0.004445 per GB-hour, per
 *     second with a one-minute minimum; task sizes from 0.25 vCPU, 2 GB per vCPU being the
 *     usual general-purpose ratio.
 * The function's memory (128 MB, Lambda's smallest) and the processor's shape are choices,
 * not prices; they are here because they are inputs of the same kind.
 */
#ifndef RILL_BENCH_COST_PRICES_H
#define RILL_BENCH_COST_PRICES_H

#define COST_PRICES_DATE "2026-12-07"
#define COST_PRICES_SOURCE "AWS list prices, us-east-1, x86, on demand: Lambda and Fargate"

#define COST_DEFAULT_FN_REQUESTS_PER_M 0.20 /* RILL_COST_FN_REQUESTS_PER_M, USD */
#define COST_DEFAULT_FN_GB_S 0.0000166667   /* RILL_COST_FN_GB_S, USD per GB-second */
#define COST_DEFAULT_FN_MEMORY_MB 128.0     /* RILL_COST_FN_MEMORY_MB */
#define COST_DEFAULT_PROC_VCPU_H 0.04048    /* RILL_COST_PROC_VCPU_H, USD per vCPU-hour */
#define COST_DEFAULT_PROC_GB_H 0.004445     /* RILL_COST_PROC_GB_H, USD per GB-hour */
#define COST_DEFAULT_PROC_GB_PER_VCPU 2.0   /* RILL_COST_PROC_GB_PER_VCPU */
#define COST_DEFAULT_PROC_VCPU_STEP 0.25    /* RILL_COST_PROC_VCPU_STEP: size step = minimum */
#define COST_DEFAULT_BURST 1.0              /* RILL_COST_BURST: peak rate / mean rate */

#endif /* RILL_BENCH_COST_PRICES_H */
