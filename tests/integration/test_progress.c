/*
 * test_progress.c — results that do not depend on scheduling, on a real Kafka: a user's
 * windowed count behind a repartition topic (views grouped by page, tumbling 1 min, grace
 * 2 min, emit-final) over input whose two partitions are far apart in event time.
 *
 * The input: 40 minutes of views, keyed by user, spread over two partitions by a partition
 * choice that is not murmur2 (as other clients do), skewed (partition 0 holds five times as
 * many views as partition 1 over the same time), each partition's records out of order by up
 * to 30 s (less than the grace). Backlog: partition 0's records are all written before
 * partition 1's, and all before the app starts — so the first sub-topology may write many
 * minutes of one partition into the repartition topic before the other's. Live: the app
 * runs first and the records come in time order, both partitions interleaved.
 *
 * Expected, computed here from the input alone: every window that stream time can close
 * (its end + grace at most the largest timestamp) with its exact count, nothing
 * dead-lettered. Both runs must give exactly that, so they give the same results. Kafka
 * Streams' rule (stream time = the largest timestamp seen) drops 5-10 % of such views as
 * late in the backlog run.
 *
 * Needs RILL_TEST_BOOTSTRAP (scripts/test.sh sets it).
 */
#include "../engine/embedded_util.h"

#include <inttypes.h>

#define BASE 1700000000000LL
#define MINUTE 60000LL
#define SPAN_MIN 40
#define NVIEWS 60000
#define NPAGES 7
#define NUSERS 50
#define DISORDER_MS 30000
#define GRACE_MS (2 * MINUTE)

typedef struct view_s {
    char user[16], page[16];
    int32_t partition;
    int64_t ts;
} view_t;

static view_t views[NVIEWS];

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Views in time order per partition, each moved back by up to DISORDER_MS. Skewed: users
 * whose number is a multiple of 6 are in partition 1, the others in partition 0 (not where
 * murmur2 would put the keys), so partition 1 holds about a sixth of the views over the same
 * 40 minutes: in a batch of records it runs 5 times further in event time. */
static void make_views(void) {
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < NVIEWS; i++) {
        view_t *v = &views[i];
        int user = (int)(rnd(&s) % NUSERS);
        snprintf(v->user, sizeof(v->user), "u%d", user);
        snprintf(v->page, sizeof(v->page), "p%d", (int)(rnd(&s) % NPAGES));
        v->partition = user % 6 == 0 ? 1 : 0;
        v->ts = BASE + (int64_t)i * SPAN_MIN * MINUTE / NVIEWS - (int64_t)(rnd(&s) % DISORDER_MS);
    }
}

/* The page of a view, from its value "page". */
static int by_page(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    (void)opaque;
    return rill_buf_append(out->key, rec->value, rec->value_len);
}

/* Counts as "<page>@<window start - BASE, ms>=<count>"; windows start at multiples of a
 * minute since the epoch, as Kafka Streams' (and Rill's) tumbling windows do. */
static void expected_counts(eu_strs_t *want) {
    int64_t max_ts = 0, min_ts = INT64_MAX;
    for (int i = 0; i < NVIEWS; i++) {
        if (views[i].ts > max_ts)
            max_ts = views[i].ts;
        if (views[i].ts < min_ts)
            min_ts = views[i].ts;
    }
    for (int p = 0; p < NPAGES; p++) {
        char page[16];
        snprintf(page, sizeof(page), "p%d", p);
        for (int64_t w = min_ts / MINUTE * MINUTE; w + MINUTE + GRACE_MS <= max_ts; w += MINUTE) {
            int n = 0;
            for (int i = 0; i < NVIEWS; i++)
                n += !strcmp(views[i].page, page) && views[i].ts >= w && views[i].ts < w + MINUTE;
            if (n)
                eu_strs_add(want, "%s@%lld=%d", page, (long long)(w - BASE), n);
        }
    }
}

static rill_topology_t *views_topology(const char *in, const char *out) {
    rill_topology_t *topo = rill_topology_new();
    rill_window_spec_t spec = {
        .kind = RILL_WINDOW_TUMBLING, .size_ms = MINUTE, .grace_ms = GRACE_MS};
    rill_stream_t *s = rill_stream_from(topo, "views", in, NULL);
    rill_table_t *counts = rill_windowed_count(
        rill_grouped_windowed_by(rill_stream_group_by(s, "pages", by_page, NULL), &spec),
        "page-counts", RILL_EMIT_FINAL);
    rill_stream_to(rill_table_to_stream(counts, "counts"), "out", out, NULL);
    cr_assert_null(rill_topology_error(topo), "%s", rill_topology_error(topo));
    return topo;
}

static void send_range(rill_producer_t *p, const char *topic, int partition, bool paced) {
    for (int i = 0; i < NVIEWS; i++) {
        if (partition >= 0 && views[i].partition != partition)
            continue;
        eu_send(p, topic, views[i].partition, views[i].user, views[i].page, views[i].ts);
        if (paced && i % 500 == 499)
            eu_sleep_ms(50); /* 20 s of event time per 50 ms: a fast replay */
    }
}

static void read_counts(rill_app_t *app, const char *out, eu_strs_t *got) {
    eu_recs_t recs;
    eu_read_topic(rill_app_bootstrap_servers(app), out, &recs);
    for (size_t i = 0; i < recs.cnt; i++) {
        const eu_rec_t *r = &recs.v[i];
        cr_assert_geq(r->key_len, 8, "windowed key");
        int64_t start;
        rill_int64_decode((const char *)r->key + r->key_len - 8, 8, &start);
        int64_t n;
        rill_int64_decode(r->value, r->value_len, &n);
        eu_strs_add(got, "%.*s@%lld=%lld", (int)(r->key_len - 8), (const char *)r->key,
                    (long long)(start - BASE), (long long)n);
    }
    eu_recs_free(&recs);
}

/* Runs the count over the input (backlog: all written first, partition 0 entirely before
 * partition 1; live: written while the app runs, in time order) and checks the counts. */
static void run_case(bool live) {
    const char *bootstrap = getenv("RILL_TEST_BOOTSTRAP");
    cr_assert_not_null(bootstrap, "RILL_TEST_BOOTSTRAP is not set");
    char id[64], in[96], out[96], dir[64];
    eu_app_id(id, sizeof(id), live ? "progress-live" : "progress-backlog");
    snprintf(in, sizeof(in), "%s.views", id);
    snprintf(out, sizeof(out), "%s.counts", id);
    eu_state_dir_make(dir, sizeof(dir));
    make_views();
    const char *extra[] = {
        "bootstrap.servers",    bootstrap, "state.dir", dir, "commit.interval.ms", "500",
        "progress.interval.ms", "10",      NULL};
    rill_app_t *app = eu_app_new(views_topology(in, out), id, extra);
    eu_create_topic(app, in, 2);
    eu_create_topic(app, out, 2);
    rill_producer_t *p = eu_producer(app);
    if (!live) {
        send_range(p, in, 0, false);
        send_range(p, in, 1, false);
        eu_producer_done(p);
        eu_start(app);
    } else {
        eu_start(app);
        send_range(p, in, -1, true);
        eu_producer_done(p);
    }
    eu_strs_t want = {0}, got = {0};
    expected_counts(&want);
    eu_wait_processed(app, 2 * NVIEWS);
    /* Each view once through the input's source and once through the repartition topic's;
     * then the last windows close as the inputs go idle. */
    int64_t deadline = eu_now_ms() + 60000;
    while (eu_now_ms() < deadline) {
        eu_strs_free(&got);
        read_counts(app, out, &got);
        if (got.cnt >= want.cnt)
            break;
        eu_sleep_ms(500);
    }
    eu_stop(app);
    cr_assert_eq(rill_app_metric(app, "rill_dlq_records_total"), 0,
                 "%s: views dead-lettered (late) although the grace covers the input's disorder",
                 live ? "live" : "backlog");
    if (getenv("RT_DUMP")) {
        for (size_t i = 0; i < got.cnt; i++)
            fprintf(stderr, "GOT %s\n", got.v[i]);
        for (size_t i = 0; i < want.cnt; i++)
            fprintf(stderr, "WANT %s\n", want.v[i]);
    }
    eu_assert_same_set(&got, &want, live ? "live counts" : "backlog counts");
    eu_strs_free(&got);
    eu_strs_free(&want);
    rill_app_destroy(app);
    eu_state_dir_remove(dir);
}

Test(integration_progress, window_counts_exact_when_backlog_partitions_skewed, .timeout = 240) {
    run_case(false);
}

Test(integration_progress, window_counts_exact_when_input_arrives_live, .timeout = 240) {
    run_case(true);
}
