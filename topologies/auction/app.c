/*
 * app.c — rill-auction, Rill's auction showcase: NEXMark persons, auctions and bids in;
 * validation at the edge (remote functions, or natively), auctions closed natively with
 * their winners, notifications joined with the persons, analytics, and notifications sent
 * through the notify function. The topology is in app_topology.c.
 *
 *   rill-auction [--events N] [--generate|--no-generate] [--invalid F] [--edge faas|native]
 *                [--validate-auction-url U] [--validate-bid-url U] [--notify-url U]
 *                [--partitions N] [--grace-ms MS] [--person-grace-ms MS] [--hold-ms MS]
 *                [--hot-size-ms MS] [--hot-advance-ms MS] [--hot-grace-ms MS]
 *                [--notify-file F] [--TOPIC-topic NAME ...] [--describe-dot FILE]
 *                [common Rill flags: --bootstrap-servers, --drain, --describe, --threads ...]
 */
#define _GNU_SOURCE
#include "app.h"
#include "nexmark.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP "rill-auction"

static void usage(void) {
    printf("usage: " APP " [options] [common Rill flags]\n"
           "  --events N              NEXMark events to generate (100000)\n"
           "  --generate / --no-generate  write the events into the input topics (default: on\n"
           "                          when no --bootstrap-servers is given)\n"
           "  --invalid F             share of invalid auctions and bids generated (0.01)\n"
           "  --seed N                generator seed (1)\n"
           "  --edge faas|native      validation and notify by remote functions (default) or in C\n"
           "  --validate-auction-url U, --validate-bid-url U, --notify-url U  the functions\n"
           "                          (default http://127.0.0.1:18084/, :18085/, :18086/;\n"
           "                          scripts/run.sh gives those scripts/functions.sh started)\n"
           "  --notify-file F         --edge native: where notifications are appended\n"
           "  --partitions N          partitions of the topics the app creates (4)\n"
           "  --grace-ms MS           auction close grace (1000)\n"
           "  --person-grace-ms MS    how long a notification waits for its person (5000)\n"
           "  --hold-ms MS            how long a bid waits for its auction (60000)\n"
           "  --hot-size-ms MS, --hot-advance-ms MS, --hot-grace-ms MS  hot-items windows\n"
           "                          (10000, 2000, 1000)\n"
           "  --persons-topic, --auctions-raw-topic, --bids-raw-topic, --auctions-topic,\n"
           "  --bids-topic, --auctions-rejected-topic, --bids-rejected-topic, --closed-topic,\n"
           "  --notifications-topic, --sent-topic, --category-price-topic, --seller-avg-topic,\n"
           "  --hot-items-topic, --categories-topic NAME  topic names (categories: names\n"
           "                          of the categories, written there when it is empty)\n"
           "  --describe-dot FILE     write the topology as Graphviz DOT and exit\n"
           "Common flags (see below): --bootstrap-servers, --drain (exit when all is closed),\n"
           "--describe, --threads, --state-dir, -D name=value.\n"
           "The HTTP endpoint (GET /metrics, /health, /ready) listens on 127.0.0.1, on a free\n"
           "port printed at start; -D http.listen=HOST:PORT moves it, -D http.listen= turns it\n"
           "off.\n");
    auction_cost_usage();
}

/* Prints the URLs of the HTTP endpoint, when there is one. */
static void print_http_endpoint(const rill_app_t *app, const char *listen) {
    int port = rill_app_http_port(app);
    if (!port || !listen)
        return;
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : 0;
    printf(APP ": metrics at http://%.*s:%d/metrics (also /health, /ready)\n", host_len, listen,
           port);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static volatile sig_atomic_t g_signalled;
static rill_app_t *g_app;

static void on_signal(int sig) {
    g_signalled = 1;
    if (g_app)
        rill_app_stop(g_app);
}

static volatile int g_done;
static rill_err_t g_wait_rc;
static char g_wait_err[512];

static void *waiter(void *arg) {
    g_wait_rc = rill_app_wait(arg, g_wait_err, sizeof(g_wait_err));
    __atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The 99th percentile of the close delays so far (an upper bound: a power of two), "-" when
 * there are none (a replay of old events: see the close-count peek in app_topology.c).
 * Called with g_stats.lock held. */
static void close_delay_p99(char *out, size_t size) {
    int64_t n = 0, seen = 0;
    for (int b = 0; b < DELAY_BUCKETS; b++)
        n += g_stats.delay_hist[b];
    if (!n) {
        snprintf(out, size, "-");
        return;
    }
    for (int b = 0; b < DELAY_BUCKETS; b++) {
        seen += g_stats.delay_hist[b];
        if (seen * 100 >= n * 99) {
            snprintf(out, size, "<%" PRId64 " ms", INT64_C(1) << b);
            return;
        }
    }
}

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct gen_result_s {
    long persons, auctions, bids, invalid;
} gen_result_t;

static int generate(const char *bootstrap, const auction_opts_t *o, long n, double invalid,
                    uint64_t seed, gen_result_t *res) {
    char errstr[512], key[NEXMARK_KEY_MAX];
    nexmark_config_t cfg;
    nexmark_config_init(&cfg);
    cfg.seed = seed;
    cfg.invalid_fraction = invalid;
    if (nexmark_config_check(&cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, APP ": generator: %s\n", errstr);
        return -1;
    }
    rill_producer_t *p = rill_producer_new(bootstrap, NULL, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, APP ": %s\n", errstr);
        return -1;
    }
    rill_buf_t buf = {0};
    nexmark_event_t ev;
    memset(res, 0, sizeof(*res));
    for (long i = 0; i < n; i++) {
        nexmark_event_at(&cfg, (uint64_t)i, &ev);
        rill_buf_reset(&buf);
        if (nexmark_event_json(&ev, &buf))
            break;
        size_t kl = nexmark_event_key(&ev, key);
        const char *topic = ev.kind == NEXMARK_PERSON    ? o->t_persons
                            : ev.kind == NEXMARK_AUCTION ? o->t_auctions_raw
                                                         : o->t_bids_raw;
        res->persons += ev.kind == NEXMARK_PERSON;
        res->auctions += ev.kind == NEXMARK_AUCTION;
        res->bids += ev.kind == NEXMARK_BID;
        res->invalid += ev.invalid != NEXMARK_VALID;
        if (rill_producer_send(p, topic, -1, key, kl, buf.data, buf.len, ev.date_time))
            break;
    }
    rill_buf_free(&buf);
    int rc = rill_producer_flush(p, 120000, errstr, sizeof(errstr));
    if (rc)
        fprintf(stderr, APP ": writing the events: %s\n", errstr);
    rill_producer_destroy(p);
    return rc ? -1 : 0;
}

static int cat_cmp(const void *a, const void *b) {
    const typeof(g_stats.cats[0]) *x = a, *y = b;
    double ax = x->count ? (double)x->sum / x->count : 0,
           ay = y->count ? (double)y->sum / y->count : 0;
    return ax < ay ? 1 : ax > ay ? -1 : 0;
}

static int reason_cmp(const void *a, const void *b) {
    const typeof(g_stats.reasons[0]) *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->reason, y->reason);
}

static void summary(rill_app_t *app, const auction_opts_t *o, double secs, double cpu_s,
                    const gen_result_t *gen, int generated) {
    pthread_mutex_lock(&g_stats.lock);
    printf("\n" APP ": done in %.1f s (edge: %s)\n", secs,
           o->edge == EDGE_NATIVE ? "native" : "faas");
    if (generated)
        printf("  generated           %ld events: %ld persons, %ld auctions, %ld bids (%ld "
               "invalid)\n",
               gen->persons + gen->auctions + gen->bids, gen->persons, gen->auctions, gen->bids,
               gen->invalid);
    printf("  records consumed    %" PRId64 ", produced %" PRId64 "\n",
           rill_app_metric(app, "rill_records_consumed_total"),
           rill_app_metric(app, "rill_records_produced_total"));
    printf("  auctions closed     %" PRId64 "  (sold %" PRId64 ", unsold %" PRId64 ")\n",
           g_stats.closed, g_stats.sold, g_stats.unsold);
    qsort(g_stats.cats, (size_t)g_stats.ncats, sizeof(g_stats.cats[0]), cat_cmp);
    printf("  top categories by average winning price (cents / 100; the topic has cents):\n");
    for (int i = 0; i < g_stats.ncats && i < 5; i++)
        printf("    %d. category %" PRId64 " (%s): %.2f over %" PRId64 " sold auctions\n", i + 1,
               g_stats.cats[i].category, g_stats.cats[i].name[0] ? g_stats.cats[i].name : "no name",
               (double)g_stats.cats[i].sum / (double)g_stats.cats[i].count / 100.0,
               g_stats.cats[i].count);
    printf("  notifications       %" PRId64 " joined, %" PRId64 " sent (receipts)\n",
           g_stats.notifications, g_stats.sent);
    printf("  hot-items records   %" PRId64 "%s\n", g_stats.hot_records,
           g_stats.hot_late ? " (some window counts came late and were skipped)" : "");
    printf("  rejected            %" PRId64 " auctions, %" PRId64 " bids\n",
           g_stats.rejected_auctions, g_stats.rejected_bids);
    qsort(g_stats.reasons, (size_t)g_stats.nreasons, sizeof(g_stats.reasons[0]), reason_cmp);
    for (int i = 0; i < g_stats.nreasons; i++)
        printf("    %6" PRId64 "  %s\n", g_stats.reasons[i].n, g_stats.reasons[i].reason);
    printf("  bids not counted    %" PRId64 " (outside the auction's time or below reserve)\n",
           rill_app_metric(app, "rill_completion_ignored_total"));
    printf("  bids unmatched      %" PRId64 " (no auction within the hold time: dead-letter)\n",
           rill_app_metric(app, "rill_completion_unmatched_total"));
    printf("  dead-lettered       %" PRId64 "  (to %s-dlq, reason in the rill.error header)\n",
           rill_app_metric(app, "rill_dlq_records_total"), APP);
    printf("  function calls      %" PRId64 " (%" PRId64 " records, %" PRId64 " failures)\n",
           rill_app_metric(app, "rill_faas_invocations_total"),
           rill_app_metric(app, "rill_faas_records_total"),
           rill_app_metric(app, "rill_faas_failures_total"));
    printf("  outputs: %s, %s (rejected: %s, %s; reason in header rill.reject.reason)\n"
           "           %s, %s, %s\n"
           "           %s, %s, %s\n",
           o->t_auctions, o->t_bids, o->t_auctions_rejected, o->t_bids_rejected, o->t_closed,
           o->t_notifications, o->t_sent, o->t_cat_price, o->t_seller_avg, o->t_hot);
    if (o->edge == EDGE_NATIVE)
        printf("  notifications file: %s\n", o->notify_file);
    else if (getenv("RILL_NOTIFY_FILE"))
        printf("  notifications file: the notify function's (RILL_NOTIFY_FILE here: %s)\n",
               getenv("RILL_NOTIFY_FILE"));
    else
        printf("  notifications file: the notify function's (its RILL_NOTIFY_FILE)\n");
    pthread_mutex_unlock(&g_stats.lock);
    auction_cost_summary(app, o, cpu_s);
}

typedef struct topic_flag_s {
    const char *flag;
    size_t off;
} topic_flag_t;

#define TF(f, m)                                                                                   \
    { f, offsetof(auction_opts_t, m) }
static const topic_flag_t topic_flags[] = {
    TF("--persons-topic", t_persons),
    TF("--auctions-raw-topic", t_auctions_raw),
    TF("--bids-raw-topic", t_bids_raw),
    TF("--auctions-topic", t_auctions),
    TF("--bids-topic", t_bids),
    TF("--auctions-rejected-topic", t_auctions_rejected),
    TF("--bids-rejected-topic", t_bids_rejected),
    TF("--closed-topic", t_closed),
    TF("--notifications-topic", t_notifications),
    TF("--sent-topic", t_sent),
    TF("--category-price-topic", t_cat_price),
    TF("--seller-avg-topic", t_seller_avg),
    TF("--hot-items-topic", t_hot),
    TF("--categories-topic", t_categories),
};

static int64_t parse_ms(const char *flag, const char *v) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < 0) {
        fprintf(stderr, APP ": %s wants a number >= 0, got \"%s\"\n", flag, v);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv) {
    char errstr[512];
    auction_opts_t o;
    auction_opts_defaults(&o);
    long events = 100000;
    double invalid = 0.01;
    uint64_t seed = 1;
    int generate_flag = -1; /* -1: auto */
    const char *dot_file = NULL;
    int help = 0;

    /* Own flags first (the topology depends on them); the rest go to rill_cli_parse. */
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        size_t t;
        for (t = 0; t < sizeof(topic_flags) / sizeof(topic_flags[0]); t++)
            if (!strcmp(a, topic_flags[t].flag))
                break;
        if (!strcmp(a, "--generate")) {
            generate_flag = 1;
            used = 0;
        } else if (!strcmp(a, "--no-generate")) {
            generate_flag = 0;
            used = 0;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = 1;
            rest[nrest++] = argv[i];
            continue;
        } else if (!v && (!strcmp(a, "--events") || !strcmp(a, "--edge") ||
                          !strncmp(a, "--validate", 10) || !strcmp(a, "--notify-url") ||
                          !strcmp(a, "--partitions") || !strcmp(a, "--describe-dot") ||
                          t < sizeof(topic_flags) / sizeof(topic_flags[0]))) {
            fprintf(stderr, APP ": %s needs a value\n", a);
            return 2;
        } else if (t < sizeof(topic_flags) / sizeof(topic_flags[0])) {
            *(const char **)((char *)&o + topic_flags[t].off) = v;
        } else if (!strcmp(a, "--events")) {
            events = atol(v);
        } else if (!strcmp(a, "--invalid") && v) {
            invalid = atof(v);
        } else if (!strcmp(a, "--seed") && v) {
            seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--edge")) {
            if (!strcmp(v, "native"))
                o.edge = EDGE_NATIVE;
            else if (!strcmp(v, "faas"))
                o.edge = EDGE_FAAS;
            else {
                fprintf(stderr, APP ": --edge is faas or native, got \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--validate-auction-url")) {
            o.validate_auction_url = v;
        } else if (!strcmp(a, "--validate-bid-url")) {
            o.validate_bid_url = v;
        } else if (!strcmp(a, "--notify-url")) {
            o.notify_url = v;
        } else if (!strcmp(a, "--notify-file") && v) {
            o.notify_file = v;
        } else if (!strcmp(a, "--partitions")) {
            o.partitions = atoi(v);
            if (o.partitions < 1) {
                fprintf(stderr, APP ": --partitions must be >= 1\n");
                return 2;
            }
        } else if (!strcmp(a, "--grace-ms") && v) {
            o.grace_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--person-grace-ms") && v) {
            o.person_grace_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--hold-ms") && v) {
            o.hold_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--hot-size-ms") && v) {
            o.hot_size_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--hot-advance-ms") && v) {
            o.hot_advance_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--hot-grace-ms") && v) {
            o.hot_grace_ms = parse_ms(a, v);
        } else if (!strcmp(a, "--describe-dot")) {
            dot_file = v;
        } else {
            rest[nrest++] = argv[i];
            continue;
        }
        i += used;
    }
    if (help)
        usage();
    if (o.hot_advance_ms <= 0 || o.hot_advance_ms > o.hot_size_ms) {
        fprintf(stderr, APP ": need 0 < --hot-advance-ms <= --hot-size-ms\n");
        return 2;
    }

    rill_topology_t *topo = auction_topology(&o);
    if (rill_topology_error(topo)) {
        fprintf(stderr, APP ": topology: %s\n", rill_topology_error(topo));
        return 1;
    }
    if (dot_file) {
        rill_buf_t b = {0};
        FILE *f = fopen(dot_file, "w");
        if (!f || rill_topology_describe_dot(topo, &b) || fwrite(b.data, 1, b.len, f) != b.len) {
            fprintf(stderr, APP ": cannot write %s\n", dot_file);
            return 1;
        }
        fclose(f);
        printf(APP ": topology written to %s (Graphviz DOT)\n", dot_file);
        rill_buf_free(&b);
        rill_topology_destroy(topo);
        return 0;
    }
    rill_conf_t *conf = rill_conf_new();
    rill_conf_set(conf, "application.id", APP, NULL, 0);
    rill_conf_set(conf, "commit.interval.ms", "1000", NULL, 0);
    /* The close task reads auction.auctions and auction.bids, written by the edge's two
     * stages (validate-auction, validate-bid), which can run apart by a function's latency,
     * more after a restart. With max.task.idle.ms = 0 (Kafka Streams' default) the task goes
     * ahead with auctions while bids not yet written are still to come, and dead-letters
     * them as late once their auction closed: wait up to 2 s for an empty input instead.
     * Short fetch waits keep the cached end offsets (what "known to lag" uses) fresh. */
    rill_conf_set(conf, "max.task.idle.ms", "2000", NULL, 0);
    rill_conf_set(conf, "consumer.fetch.wait.max.ms", "10", NULL, 0);
    /* Lineage on: a receipt (auction.notifications.sent) or a closed auction names, through
     * its headers alone, the bid that won and the auction record it came from (README,
     * "Tracing and lineage"); -D lineage.enable=false turns it off. */
    rill_conf_set(conf, "lineage.enable", "true", NULL, 0);
    /* The embedded broker starts empty on every run, so the local state of an earlier run
     * must not be reused: a fresh state directory per run (removed at exit) unless
     * --state-dir or a --bootstrap-servers is given. */
    char tmp_state[64];
    snprintf(tmp_state, sizeof(tmp_state), "/tmp/rill-auction-state-%d", (int)getpid());
    rill_conf_set(conf, "state.dir", tmp_state, NULL, 0);
    /* The HTTP endpoint on loopback, a free port (printed once started). */
    rill_conf_set(conf, "http.listen", "127.0.0.1:0", NULL, 0);
    int rc = rill_cli_parse(&nrest, rest, conf, topo, 0, errstr, sizeof(errstr));
    if (rc) {
        if (rc < 0)
            fprintf(stderr, APP ": %s\n", errstr);
        return rc < 0 ? 2 : 0;
    }
    const char *bs = rill_conf_get(conf, "bootstrap.servers");
    const char *sd = rill_conf_get(conf, "state.dir");
    int own_state = sd && !strcmp(sd, tmp_state);
    if (own_state && bs && *bs) { /* a real Kafka: Rill's per-user default state.dir */
        rill_conf_t *plain = rill_conf_new();
        rill_conf_set(conf, "state.dir", rill_conf_get(plain, "state.dir"), NULL, 0);
        rill_conf_destroy(plain);
        own_state = 0;
    }
    int gen = generate_flag >= 0 ? generate_flag : !(bs && *bs);
    const char *drain = rill_conf_get(conf, "exit.on.end");
    int draining = drain && !strcmp(drain, "true");

    g_stats.grace_ms = o.grace_ms;
    rill_app_t *app = rill_app_new(topo, conf, errstr, sizeof(errstr));
    if (!app) {
        fprintf(stderr, APP ": %s\n", errstr);
        return 2;
    }
    const char *topics[] = {
        o.t_persons,           o.t_auctions_raw,  o.t_bids_raw, o.t_auctions,      o.t_bids,
        o.t_auctions_rejected, o.t_bids_rejected, o.t_closed,   o.t_notifications, o.t_sent,
        o.t_cat_price,         o.t_seller_avg,    o.t_hot};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (rill_app_create_topic(app, topics[i], o.partitions, errstr, sizeof(errstr))) {
            fprintf(stderr, APP ": creating %s: %s\n", topics[i], errstr);
            rill_app_destroy(app);
            return 1;
        }
    /* A small dimension: one partition, named categories when it is empty. */
    if (rill_app_create_topic(app, o.t_categories, 1, errstr, sizeof(errstr)) ||
        auction_seed_categories(rill_app_bootstrap_servers(app), conf, o.t_categories, errstr,
                                sizeof(errstr))) {
        fprintf(stderr, APP ": categories topic %s: %s\n", o.t_categories, errstr);
        rill_app_destroy(app);
        return 1;
    }
    /* hot-top follows each bids task's progress (hot_top.c) */
    o.bid_partitions = rill_app_partition_count(app, o.t_bids, errstr, sizeof(errstr));
    if (o.bid_partitions < 1) {
        fprintf(stderr, APP ": %s\n", errstr);
        rill_app_destroy(app);
        return 1;
    }
    double t0 = mono();
    gen_result_t gres = {0};
    double cpu_gen = 0; /* the generator's CPU is not the processor's */
    if (gen) {
        printf(APP ": writing %ld NEXMark events (%.1f%% invalid auctions and bids) to %s, %s, "
                   "%s on %s...\n",
               events, invalid * 100, o.t_persons, o.t_auctions_raw, o.t_bids_raw,
               rill_app_bootstrap_servers(app));
        fflush(stdout);
        if (generate(rill_app_bootstrap_servers(app), &o, events, invalid, seed, &gres)) {
            rill_app_destroy(app);
            return 1;
        }
        cpu_gen = auction_cpu_s();
    }
    if (rill_app_start(app, errstr, sizeof(errstr))) {
        fprintf(stderr, APP ": %s\n", errstr);
        rill_app_destroy(app);
        return 1;
    }
    printf(APP ": running (edge %s) on %s%s\n", o.edge == EDGE_NATIVE ? "native" : "faas",
           rill_app_bootstrap_servers(app),
           draining ? "; --drain: stops when everything is closed" : "; Ctrl-C stops");
    if (o.edge != EDGE_NATIVE)
        printf(APP ": functions: validate-auction %s, validate-bid %s, notify %s\n",
               o.validate_auction_url, o.validate_bid_url, o.notify_url);
    print_http_endpoint(app, rill_conf_get(conf, "http.listen"));
    fflush(stdout);
    g_app = app;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pthread_t wt;
    pthread_create(&wt, NULL, waiter, app);
    int64_t last_in = 0, last_out = 0;
    double last = mono();
    while (!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE)) {
        for (int k = 0; k < 10 && !__atomic_load_n(&g_done, __ATOMIC_ACQUIRE); k++)
            usleep(100000);
        double now = mono();
        int64_t in = rill_app_metric(app, "rill_records_consumed_total");
        int64_t out = rill_app_metric(app, "rill_records_produced_total");
        double dt = now - last > 0.001 ? now - last : 1;
        pthread_mutex_lock(&g_stats.lock);
        char p99[16];
        close_delay_p99(p99, sizeof(p99));
        printf("  [%5.1fs] in %7.0f/s  out %7.0f/s  open %5" PRId64 "  closed %6" PRId64
               "  rejected %5" PRId64 "  notified %6" PRId64 "  sent %6" PRId64
               "  fn in flight %3" PRId64 "  lag %7" PRId64 "  buffered %6" PRId64
               "  close p99 %s\n",
               now - t0, (double)(in - last_in) / dt, (double)(out - last_out) / dt,
               __atomic_load_n(&g_stats.opened, __ATOMIC_RELAXED) - g_stats.closed, g_stats.closed,
               g_stats.rejected_auctions + g_stats.rejected_bids, g_stats.notifications,
               g_stats.sent, rill_app_metric(app, "rill_faas_in_flight"),
               rill_app_metric(app, "rill_consumer_lag_records"),
               rill_app_metric(app, "rill_buffered_records"), p99);
        pthread_mutex_unlock(&g_stats.lock);
        fflush(stdout);
        last_in = in;
        last_out = out;
        last = now;
    }
    pthread_join(wt, NULL);
    if (g_wait_rc)
        fprintf(stderr, APP ": %s\n", g_wait_err);
    summary(app, &o, mono() - t0, auction_cpu_s() - cpu_gen, &gres, gen);
    g_app = NULL;
    rill_app_destroy(app);
    if (own_state)
        nftw(tmp_state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(rest);
    return g_wait_rc ? 1 : 0;
}
