/*
 * app.h — internal header of rill-auction, the auction showcase: options, the topology
 * builder (app_topology.c) and the counters the topology's peek nodes keep for the live
 * progress and the final summary (app.c).
 */
#ifndef AUCTION_APP_H
#define AUCTION_APP_H

#include <rill.h>

#include <pthread.h>
#include <stdint.h>

typedef enum auction_edge_e { EDGE_FAAS = 0, EDGE_NATIVE = 1 } auction_edge_t;

typedef struct auction_opts_s {
    auction_edge_t edge;
    const char *validate_auction_url, *validate_bid_url, *notify_url;
    const char *notify_file; /* --edge native: where the native notify stage appends */
    /* topics */
    const char *t_persons, *t_auctions_raw, *t_bids_raw, *t_auctions, *t_bids;
    const char *t_auctions_rejected, *t_bids_rejected, *t_closed, *t_notifications, *t_sent;
    const char *t_cat_price, *t_seller_avg, *t_hot;
    const char *t_categories; /* category names (a global table, categories.c) */
    int partitions;
    int64_t grace_ms;        /* auction close grace */
    int64_t person_grace_ms; /* notifications wait this long for a late person row */
    int64_t hold_ms;         /* bids wait this long for their auction */
    int64_t hot_size_ms, hot_advance_ms, hot_grace_ms;
    int bid_partitions; /* partitions of t_bids, set once known (0: unknown) */
} auction_opts_t;

#define MAX_REASONS 64
#define DELAY_BUCKETS 17 /* 1 ms .. 65 s */
#define NCAT 64

/* Counters, updated from the stream threads (mutex), read by the main thread. */
typedef struct auction_stats_s {
    pthread_mutex_t lock;
    int64_t closed, sold, unsold;
    int64_t rejected_auctions, rejected_bids;
    int64_t notifications, sent;
    int64_t hot_records, hot_late;
    int64_t opened;                    /* auctions that reached the close operator */
    int64_t edge_events;               /* auctions and bids that reached the edge (cost.c) */
    int64_t grace_ms;                  /* the close grace (set by app.c) */
    int64_t delay_hist[DELAY_BUCKETS]; /* close delays (ms past expires + grace, wall clock)
                                          in powers of two; only when under a minute */
    struct {
        char reason[96];
        int64_t n;
    } reasons[MAX_REASONS];
    int nreasons;
    struct {
        int64_t category, sum, count;
        char name[32]; /* from the categories global table, "" until known */
    } cats[NCAT];
    int ncats;
} auction_stats_t;

extern auction_stats_t g_stats;

void auction_opts_defaults(auction_opts_t *o);
rill_topology_t *auction_topology(const auction_opts_t *o);

/* app_topology.c: JSON helpers. auction_parse_json returns NULL when buf is not JSON;
 * auction_get_i64 returns -1 when field f is absent. */
struct json_object;
struct json_object *auction_parse_json(const void *buf, size_t len);
int auction_get_i64(struct json_object *o, const char *f, int64_t *v);

/* categories.c: the names written to an empty categories topic; the global join's key mapper
 * and joiner (see the file). Seeding returns 0 or -1 with errstr. */
const char *auction_category_default_name(int64_t id);
int auction_seed_categories(const char *bootstrap, const rill_conf_t *conf, const char *topic,
                            char *errstr, size_t errstr_size);
int auction_category_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque);
int auction_category_name_joiner(const rill_record_t *left, const rill_record_t *right,
                                 rill_buf_t *out, void *opaque);

/* A window count on its way to hot-top (app_topology.c's hot_rekey): window start, window
 * end, auction id, bids, each 8 bytes big-endian. */
#define HOT_COUNT_BYTES 32

/* hot_top.c: the "hot-top" processor (opaque: the auction_opts_t); declares no store itself,
 * uses "hot-top-store". */
extern const rill_processor_def_t auction_hot_top_def;

/* cost.c: the end-of-run cost estimate at list prices (the prices: RILL_COST_*, see
 * auction_cost_usage). cpu_s: the process's CPU seconds over the run. */
double auction_cpu_s(void);
void auction_cost_usage(void);
void auction_cost_summary(rill_app_t *app, const auction_opts_t *o, double cpu_s);

#endif
