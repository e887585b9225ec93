/*
 * sample.c — rill-sample: a small stateless topology that shows Rill working end to end on
 * the embedded broker (or any Kafka given with --bootstrap-servers).
 *
 * It writes N generated orders (JSON; one in a hundred deliberately malformed) to
 * "sample.orders", and runs: parse JSON → keep orders of at least 10.00 → add the VAT → split
 * by region into "sample.orders.eu" and "sample.orders.other". Malformed orders go to the
 * dead-letter topic. It prints progress every second and a summary at the end.
 *
 *   rill-sample [--records N] [common Rill flags, see --help]
 */
#include <rill.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INPUT "sample.orders"

static const char *const countries[] = {"DE", "FR", "US", "NL", "BR", "IT", "JP", "ES"};

static int is_eu(const char *c) {
    return !strcmp(c, "DE") || !strcmp(c, "FR") || !strcmp(c, "NL") || !strcmp(c, "IT") ||
           !strcmp(c, "ES");
}

static int64_t field_int(const rill_record_t *rec, const char *name) {
    struct json_object *v;
    return json_object_object_get_ex(rec->value_obj, name, &v) ? json_object_get_int64(v) : 0;
}

static int large_order(const rill_record_t *rec, void *opaque) {
    return field_int(rec, "amount") >= 1000;
}

/* Adds "vat" (20% of the amount, in cents) to the decoded order, in place. */
static int add_vat(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    json_object_object_add(rec->value_obj, "vat",
                           json_object_new_int64(field_int(rec, "amount") / 5));
    out->value_obj = rec->value_obj; /* no bytes: the sink encodes value_obj */
    out->value_serde = rec->value_serde;
    return 0;
}

static int in_eu(const rill_record_t *rec, void *opaque) {
    struct json_object *c;
    return json_object_object_get_ex(rec->value_obj, "country", &c) &&
           is_eu(json_object_get_string(c));
}

static rill_topology_t *build(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t src = {.key_serde = rill_serde_string(), .value_serde = rill_serde_json()};
    rill_stream_t *orders = rill_stream_from(topo, "orders", INPUT, &src);
    rill_stream_t *large = rill_stream_filter(orders, "large-orders", large_order, NULL);
    rill_stream_t *taxed = rill_stream_map_values(large, "add-vat", add_vat, NULL);
    rill_split_t *split = rill_stream_split(taxed, "by-region");
    rill_stream_to(rill_split_branch(split, "eu", in_eu, NULL), "to-eu", "sample.orders.eu", NULL);
    rill_stream_to(rill_split_default(split, "other"), "to-other", "sample.orders.other", NULL);
    return topo;
}

/* Writes the input with a producer built from the app's configuration (its security
 * properties apply). */
static int write_orders(const char *bootstrap, const rill_conf_t *conf, long n) {
    char errstr[512], key[32], value[160];
    rill_producer_t *p = rill_producer_new(bootstrap, conf, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "rill-sample: %s\n", errstr);
        return -1;
    }
    srand(42);
    for (long i = 0; i < n; i++) {
        int klen = snprintf(key, sizeof(key), "%ld", i);
        int vlen =
            i % 100 == 99
                ? snprintf(value, sizeof(value), "{\"id\": %ld, \"amount\": oops", i)
                : snprintf(value, sizeof(value), "{\"id\":%ld,\"amount\":%d,\"country\":\"%s\"}", i,
                           rand() % 5000, countries[rand() % 8]);
        rill_producer_send(p, INPUT, -1, key, (size_t)klen, value, (size_t)vlen, 0);
    }
    int rc = rill_producer_flush(p, 60000, errstr, sizeof(errstr));
    if (rc)
        fprintf(stderr, "rill-sample: writing input: %s\n", errstr);
    rill_producer_destroy(p);
    return rc ? -1 : 0;
}

static void print_summary(rill_app_t *app, long n, double secs) {
    long processed = (long)rill_app_metric(app, "rill_records_processed_total");
    printf("\nrill-sample: done in %.1f s (%.0f records/s)\n", secs, processed / secs);
    printf("  orders read         %ld\n", processed);
    printf("  orders written      %ld  (large orders, to sample.orders.eu / .other)\n",
           (long)rill_app_metric(app, "rill_records_produced_total") -
               (long)rill_app_metric(app, "rill_dlq_records_total"));
    printf("  dead-lettered       %ld  (malformed JSON, to rill-sample-dlq, reason in the "
           "rill.error header)\n",
           (long)rill_app_metric(app, "rill_dlq_records_total"));
    printf("  commits             %ld\n", (long)rill_app_metric(app, "rill_commits_total"));
    (void)n;
}

int main(int argc, char **argv) {
    char errstr[512];
    long n = 100000;
    rill_conf_t *conf = rill_conf_new();
    rill_topology_t *topo = build();
    rill_conf_set(conf, "application.id", "rill-sample", NULL, 0);
    rill_conf_set(conf, "commit.interval.ms", "1000", NULL, 0);
    int rc = rill_cli_parse(&argc, argv, conf, topo, 1, errstr, sizeof(errstr));
    if (rc) {
        if (rc < 0)
            fprintf(stderr, "rill-sample: %s\n", errstr);
        return rc < 0 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc) {
            n = atol(argv[++i]);
        } else {
            fprintf(stderr, "rill-sample: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, "rill-sample: %s\n", errstr);
        return 2;
    }
    if (rill_app_create_topic(app, INPUT, 4, errstr, sizeof(errstr)) ||
        write_orders(rill_app_bootstrap_servers(app), conf, n) ||
        rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, "rill-sample: %s\n", errstr);
        rill_app_destroy(app);
        return 1;
    }
    printf("rill-sample: wrote %ld orders to %s on %s; processing...\n", n, INPUT,
           rill_app_bootstrap_servers(app));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int s = 0; s < 600 && rill_app_metric(app, "rill_records_processed_total") < n; s++) {
        sleep(1);
        printf("  processed %ld / %ld, dead-lettered %ld\n",
               (long)rill_app_metric(app, "rill_records_processed_total"), n,
               (long)rill_app_metric(app, "rill_dlq_records_total"));
        fflush(stdout);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rill_app_stop(app);
    rc = rill_app_wait(app, errstr, sizeof(errstr)) ? 1 : 0;
    if (rc)
        fprintf(stderr, "rill-sample: %s\n", errstr);
    print_summary(app, n, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    rill_app_destroy(app);
    return rc;
}
