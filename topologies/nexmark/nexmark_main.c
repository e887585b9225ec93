/*
 * nexmark_main.c — rill-nexmark: writes NEXMark events (persons, auctions, bids) to Kafka
 * topics or to files, for the benchmarks, the tests and the auction showcase.
 *
 *   rill-nexmark --events N [--seed S] [--rate R] [--ooo-ms D] [--invalid F] ...
 *                (--bootstrap-servers HOST:PORT | --out-dir DIR | --null)
 *
 * DESIGN
 * One thread. Events are made in batches: a batch is generated (timed alone, which gives the
 * "generated" rate), then written (Kafka: one record per event, keyed by its id and stamped
 * with its dateTime; files: one "key<TAB>json" line per event). Event numbers
 * --first-event .. --first-event + --events - 1 are written in order, so a run can be resumed
 * or split between processes. The tool creates no topic: librdkafka is told not to ask the
 * broker to auto-create them, and after the first batch a flush proves every topic exists
 * (or names the missing one) before the run goes on. SIGINT/SIGTERM stop it after the
 * current batch; what was generated is flushed and summed up.
 */
#include "nexmark.h"

#include <rill.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PROG "rill-nexmark"
#define BATCH_MAX 1024
#define FIRST_FLUSH_TIMEOUT_MS 30000
#define FINAL_FLUSH_TIMEOUT_MS 120000

typedef enum out_kind_e { OUT_UNSET, OUT_KAFKA, OUT_FILES, OUT_NULL } out_kind_t;

static const char *const file_names[NEXMARK_KIND_CNT] = {"persons.jsonl", "auctions.jsonl",
                                                         "bids.jsonl"};

typedef struct opts_s {
    nexmark_config_t cfg;
    uint64_t events; /* 0: until interrupted */
    uint64_t first_event;
    double write_rate; /* events per second of wall-clock time; 0: as fast as possible */
    out_kind_t out;
    const char *bootstrap;
    const char *topics[NEXMARK_KIND_CNT];
    const char *out_dir;
    int quiet;
    rill_conf_t *conf; /* producer properties (--config, -D) */
} opts_t;

/* One generated event of a batch: its bytes are lines[kind][off ..], "key\tjson\n". */
typedef struct rec_s {
    nexmark_kind_t kind;
    uint32_t key_len;
    size_t off, json_len;
    int64_t timestamp;
} rec_t;

typedef struct run_s {
    opts_t *opts;
    rill_producer_t *producer;
    FILE *files[NEXMARK_KIND_CNT];
    rill_buf_t lines[NEXMARK_KIND_CNT];
    rec_t recs[BATCH_MAX];
    size_t rec_cnt;
    uint64_t made, by_kind[NEXMARK_KIND_CNT], invalid, bytes;
    int64_t min_time, max_time, last_gen_time;
    double gen_s; /* CPU time of this thread spent generating */
    double start_s, last_progress_s;
    uint64_t made_at_last_progress;
} run_t;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
    stop_signal = sig;
}

static double clock_s(clockid_t clock) {
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void) {
    return clock_s(CLOCK_MONOTONIC);
}

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                             */

static void usage(FILE *out) {
    fprintf(out,
            "Usage: " PROG " [options] (--bootstrap-servers HOST:PORT | --out-dir DIR | --null)\n"
            "Writes NEXMark events (1 person : 3 auctions : 46 bids) as JSON. Each event is\n"
            "determined by the seed and its event number alone.\n\n"
            "Events:\n"
            "  --events N              events to write (default 1000000; 0: until interrupted)\n"
            "  --first-event K         event number to start at (default 0): resume or split\n"
            "  --seed S                (default 1)\n"
            "  --rate R                events per second of event time (default 10000)\n"
            "  --base-time MS|now      event time of event 0, epoch ms (default %" PRId64 ",\n"
            "                          2015-07-15T00:00:00Z)\n"
            "  --ooo-ms D              move each dateTime back by up to D ms (default 0)\n"
            "  --invalid F             make share F of auctions and bids invalid (default 0)\n"
            "  --in-flight-auctions N  recent auctions bids go to; sets auction lengths (100)\n"
            "  --active-people N       recent persons who sell and bid (default 1000)\n"
            "  --id-lead N             how far past the newest id a reference may go (10)\n"
            "  --write-rate R          write at most R events per second (default: no limit)\n\n"
            "Output:\n"
            "  --bootstrap-servers B   Kafka; the topics must exist (none is created):\n"
            "  --persons-topic T       (default auction.persons)\n"
            "  --auctions-topic T      (default auction.auctions.raw)\n"
            "  --bids-topic T          (default auction.bids.raw)\n"
            "  --config FILE           producer properties, name=value lines\n"
            "  -D name=value           one producer property (librdkafka's names)\n"
            "  --out-dir DIR           files persons.jsonl, auctions.jsonl, bids.jsonl in DIR,\n"
            "                          one \"key<TAB>json\" line per event\n"
            "  --null                  generate the JSON and discard it (measures generation)\n"
            "  --quiet                 no progress line every second\n"
            "  -h, --help              this help\n",
            NEXMARK_DEFAULT_BASE_TIME_MS);
}

static int parse_u64(const char *flag, const char *s, uint64_t *out) {
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, PROG ": %s needs a non-negative integer, not \"%s\"\n", flag, s);
        return -1;
    }
    return 0;
}

static int parse_u32(const char *flag, const char *s, uint32_t *out) {
    uint64_t v;

    if (parse_u64(flag, s, &v))
        return -1;
    if (v > UINT32_MAX) {
        fprintf(stderr, PROG ": %s is too large: %s\n", flag, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double *out) {
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || *out < 0) {
        fprintf(stderr, PROG ": %s needs a non-negative number, not \"%s\"\n", flag, s);
        return -1;
    }
    return 0;
}

static int set_out(opts_t *o, out_kind_t out) {
    if (o->out != OUT_UNSET && o->out != out) {
        fprintf(stderr, PROG ": choose one output: --bootstrap-servers, --out-dir or --null\n");
        return -1;
    }
    o->out = out;
    return 0;
}

static int parse_define(opts_t *o, const char *def) {
    char name[256], errstr[512];
    const char *eq = strchr(def, '=');

    if (!eq || eq == def || (size_t)(eq - def) >= sizeof(name)) {
        fprintf(stderr, PROG ": -D needs name=value, not \"%s\"\n", def);
        return -1;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - def), def);
    if (rill_conf_set(o->conf, name, eq + 1, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": -D %s: %s\n", def, errstr);
        return -1;
    }
    return 0;
}

enum {
    OPT_EVENTS = 256,
    OPT_FIRST,
    OPT_SEED,
    OPT_RATE,
    OPT_BASE,
    OPT_OOO,
    OPT_INVALID,
    OPT_INFLIGHT,
    OPT_ACTIVE,
    OPT_LEAD,
    OPT_WRATE,
    OPT_BOOT,
    OPT_PT,
    OPT_AT,
    OPT_BT,
    OPT_CONFIG,
    OPT_DIR,
    OPT_NULL,
    OPT_QUIET
};

static const struct option long_opts[] = {
    {"events", required_argument, NULL, OPT_EVENTS},
    {"first-event", required_argument, NULL, OPT_FIRST},
    {"seed", required_argument, NULL, OPT_SEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"base-time", required_argument, NULL, OPT_BASE},
    {"ooo-ms", required_argument, NULL, OPT_OOO},
    {"invalid", required_argument, NULL, OPT_INVALID},
    {"in-flight-auctions", required_argument, NULL, OPT_INFLIGHT},
    {"active-people", required_argument, NULL, OPT_ACTIVE},
    {"id-lead", required_argument, NULL, OPT_LEAD},
    {"write-rate", required_argument, NULL, OPT_WRATE},
    {"bootstrap-servers", required_argument, NULL, OPT_BOOT},
    {"persons-topic", required_argument, NULL, OPT_PT},
    {"auctions-topic", required_argument, NULL, OPT_AT},
    {"bids-topic", required_argument, NULL, OPT_BT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"out-dir", required_argument, NULL, OPT_DIR},
    {"null", no_argument, NULL, OPT_NULL},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option. Returns 0, or -1 after printing why. */
static int apply_opt(opts_t *o, int c, const char *arg) {
    nexmark_config_t *cfg = &o->cfg;
    char errstr[512];
    uint64_t v;

    switch (c) {
    case OPT_EVENTS:
        return parse_u64("--events", arg, &o->events);
    case OPT_FIRST:
        return parse_u64("--first-event", arg, &o->first_event);
    case OPT_SEED:
        return parse_u64("--seed", arg, &cfg->seed);
    case OPT_RATE:
        return parse_u64("--rate", arg, &cfg->rate);
    case OPT_BASE:
        if (!strcmp(arg, "now")) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            cfg->base_time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            return 0;
        }
        if (parse_u64("--base-time", arg, &v))
            return -1;
        cfg->base_time_ms = (int64_t)v;
        return 0;
    case OPT_OOO:
        if (parse_u64("--ooo-ms", arg, &v))
            return -1;
        cfg->ooo_ms = (int64_t)v;
        return 0;
    case OPT_INVALID:
        return parse_double("--invalid", arg, &cfg->invalid_fraction);
    case OPT_INFLIGHT:
        return parse_u32("--in-flight-auctions", arg, &cfg->num_in_flight_auctions);
    case OPT_ACTIVE:
        return parse_u32("--active-people", arg, &cfg->num_active_people);
    case OPT_LEAD:
        return parse_u32("--id-lead", arg, &cfg->id_lead);
    case OPT_WRATE:
        return parse_double("--write-rate", arg, &o->write_rate);
    case OPT_BOOT:
        o->bootstrap = arg;
        return set_out(o, OUT_KAFKA);
    case OPT_PT:
        o->topics[NEXMARK_PERSON] = arg;
        return 0;
    case OPT_AT:
        o->topics[NEXMARK_AUCTION] = arg;
        return 0;
    case OPT_BT:
        o->topics[NEXMARK_BID] = arg;
        return 0;
    case OPT_CONFIG:
        if (rill_conf_load_file(o->conf, arg, errstr, sizeof(errstr))) {
            fprintf(stderr, PROG ": --config %s: %s\n", arg, errstr);
            return -1;
        }
        return 0;
    case 'D':
        return parse_define(o, arg);
    case OPT_DIR:
        o->out_dir = arg;
        return set_out(o, OUT_FILES);
    case OPT_NULL:
        return set_out(o, OUT_NULL);
    case OPT_QUIET:
        o->quiet = 1;
        return 0;
    default:
        return -1;
    }
}

/* Parses argv into o. Returns 0 to run, 1 to exit successfully (help), -1 on error. */
static int parse_args(int argc, char **argv, opts_t *o) {
    char errstr[512];
    int c;

    nexmark_config_init(&o->cfg);
    o->events = 1000000;
    o->topics[NEXMARK_PERSON] = "auction.persons";
    o->topics[NEXMARK_AUCTION] = "auction.auctions.raw";
    o->topics[NEXMARK_BID] = "auction.bids.raw";
    /* The tool creates no topic, not even through the broker's auto-creation, and learns
     * soon that one is missing. -D and --config may override both. */
    if (rill_conf_set(o->conf, "allow.auto.create.topics", "false", errstr, sizeof(errstr)) ||
        rill_conf_set(o->conf, "topic.metadata.propagation.max.ms", "5000", errstr,
                      sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    while ((c = getopt_long(argc, argv, "hD:", long_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == '?' || apply_opt(o, c, optarg)) {
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if (o->out == OUT_UNSET) {
        fprintf(stderr, PROG ": say where to write: --bootstrap-servers HOST:PORT, "
                             "--out-dir DIR or --null (see --help)\n");
        return -1;
    }
    if (nexmark_config_check(&o->cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, PROG ": %s\n", errstr);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                   */

static int open_output(run_t *run) {
    opts_t *o = run->opts;
    char errstr[512], path[4096];
    int k;

    if (o->out == OUT_KAFKA) {
        run->producer = rill_producer_new(o->bootstrap, o->conf, errstr, sizeof(errstr));
        if (!run->producer) {
            fprintf(stderr, PROG ": cannot create the Kafka producer: %s\n", errstr);
            return -1;
        }
    } else if (o->out == OUT_FILES) {
        if (mkdir(o->out_dir, 0777) && errno != EEXIST) {
            fprintf(stderr, PROG ": --out-dir %s: %s\n", o->out_dir, strerror(errno));
            return -1;
        }
        for (k = 0; k < NEXMARK_KIND_CNT; k++) {
            snprintf(path, sizeof(path), "%s/%s", o->out_dir, file_names[k]);
            run->files[k] = fopen(path, "w");
            if (!run->files[k]) {
                fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
                return -1;
            }
            setvbuf(run->files[k], NULL, _IOFBF, 1 << 20);
        }
    }
    return 0;
}

/* Explains a failed flush: a missing topic gets the fix. */
static void report_kafka_error(const opts_t *o, const char *errstr) {
    if (strstr(errstr, "nknown topic")) {
        fprintf(stderr,
                PROG ": a topic does not exist: %s\n" PROG ": this tool creates no topics: "
                     "create %s, %s and %s first, or name others with --persons-topic, "
                     "--auctions-topic and --bids-topic\n",
                errstr, o->topics[NEXMARK_PERSON], o->topics[NEXMARK_AUCTION],
                o->topics[NEXMARK_BID]);
    } else {
        fprintf(stderr, PROG ": writing to Kafka at %s failed: %s\n", o->bootstrap, errstr);
    }
}

static int flush_kafka(run_t *run, int timeout_ms) {
    char errstr[512];

    if (rill_producer_flush(run->producer, timeout_ms, errstr, sizeof(errstr))) {
        report_kafka_error(run->opts, errstr);
        return -1;
    }
    return 0;
}

/* Writes the batch. Returns 0 or -1 after printing why. */
static int write_batch(run_t *run) {
    size_t i;
    int k;

    if (run->opts->out == OUT_FILES) {
        for (k = 0; k < NEXMARK_KIND_CNT; k++) {
            if (run->lines[k].len && fwrite(run->lines[k].data, 1, run->lines[k].len,
                                            run->files[k]) != run->lines[k].len) {
                fprintf(stderr, PROG ": writing %s: %s\n", file_names[k], strerror(errno));
                return -1;
            }
        }
    } else if (run->opts->out == OUT_KAFKA) {
        for (i = 0; i < run->rec_cnt; i++) {
            const rec_t *rec = &run->recs[i];
            const char *line = run->lines[rec->kind].data + rec->off;

            if (rill_producer_send(run->producer, run->opts->topics[rec->kind], -1, line,
                                   rec->key_len, line + rec->key_len + 1, rec->json_len,
                                   rec->timestamp)) {
                fprintf(stderr, PROG ": sending to %s failed\n", run->opts->topics[rec->kind]);
                flush_kafka(run, 10000);
                return -1;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The run                                                                                  */

/* Generates events n .. n + cnt - 1 into the batch. Returns 0 or -1 (out of memory). */
static int generate_batch(run_t *run, uint64_t n, size_t cnt) {
    nexmark_event_t ev;
    char key[NEXMARK_KEY_MAX];
    size_t i;
    int k;

    for (k = 0; k < NEXMARK_KIND_CNT; k++)
        rill_buf_reset(&run->lines[k]);
    run->rec_cnt = 0;
    for (i = 0; i < cnt; i++) {
        rec_t *rec = &run->recs[run->rec_cnt++];
        rill_buf_t *line;

        nexmark_event_at(&run->opts->cfg, n + i, &ev);
        line = &run->lines[ev.kind];
        rec->kind = ev.kind;
        rec->off = line->len;
        rec->timestamp = ev.date_time;
        rec->key_len = (uint32_t)nexmark_event_key(&ev, key);
        if (rill_buf_append(line, key, rec->key_len) || rill_buf_append(line, "\t", 1) ||
            nexmark_event_json(&ev, line) || rill_buf_append(line, "\n", 1))
            return -1;
        rec->json_len = line->len - rec->off - rec->key_len - 2;
        run->by_kind[ev.kind]++;
        run->invalid += ev.invalid != NEXMARK_VALID;
        run->bytes += rec->json_len;
        if (run->made + i == 0 || ev.date_time < run->min_time)
            run->min_time = ev.date_time;
        if (run->made + i == 0 || ev.date_time > run->max_time)
            run->max_time = ev.date_time;
        run->last_gen_time = ev.gen_time;
    }
    return 0;
}

static void progress(run_t *run, double now) {
    double dt = now - run->last_progress_s;

    if (run->opts->quiet || dt < 1.0)
        return;
    fprintf(stderr,
            PROG ": %" PRIu64 " events (%" PRIu64 " persons, %" PRIu64 " auctions, %" PRIu64
                 " bids), %.0f events/s, event time +%.1f s\n",
            run->made, run->by_kind[0], run->by_kind[1], run->by_kind[2],
            (double)(run->made - run->made_at_last_progress) / dt,
            (double)(run->last_gen_time - run->opts->cfg.base_time_ms) / 1000.0);
    run->last_progress_s = now;
    run->made_at_last_progress = run->made;
}

/* Sleeps until writing made events keeps within --write-rate. */
static void pace(run_t *run) {
    double due, now;

    if (run->opts->write_rate <= 0)
        return;
    due = run->start_s + (double)run->made / run->opts->write_rate;
    now = now_s();
    if (due > now) {
        struct timespec ts = {(time_t)(due - now), (long)((due - now - (time_t)(due - now)) * 1e9)};

        nanosleep(&ts, NULL);
    }
}

static int run_events(run_t *run) {
    opts_t *o = run->opts;
    size_t batch = BATCH_MAX;
    int checked = o->out != OUT_KAFKA;

    if (o->write_rate > 0 && o->write_rate / 100 < BATCH_MAX)
        batch = o->write_rate / 100 < 1 ? 1 : (size_t)(o->write_rate / 100);
    run->last_progress_s = now_s();
    while (!stop_signal && (o->events == 0 || run->made < o->events)) {
        size_t cnt = batch;
        double t0;

        if (o->events && o->events - run->made < cnt)
            cnt = (size_t)(o->events - run->made);
        t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        if (generate_batch(run, o->first_event + run->made, cnt)) {
            fprintf(stderr, PROG ": out of memory\n");
            return -1;
        }
        run->gen_s += clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
        if (write_batch(run))
            return -1;
        run->made += cnt;
        /* Prove the topics exist once every kind has been sent (at most 50 events). */
        if (!checked && (run->made >= NEXMARK_PROPORTION_DENOMINATOR || run->made == o->events)) {
            if (flush_kafka(run, FIRST_FLUSH_TIMEOUT_MS))
                return -1;
            checked = 1;
        }
        pace(run);
        progress(run, now_s());
    }
    return 0;
}

/* Flushes (unless the run failed, which has said why), closes and sums up. */
/* Writes epoch milliseconds ms as ISO 8601 UTC to out. */
static const char *iso_time(int64_t ms, char *out, size_t size) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    size_t len;

    gmtime_r(&secs, &tm);
    len = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, size - len, ".%03dZ", (int)(ms % 1000));
    return out;
}

static int finish(run_t *run, int failed) {
    opts_t *o = run->opts;
    int k, rc = failed ? -1 : 0;
    char t0[40], t1[40];
    double total;

    if (!failed && run->producer && flush_kafka(run, FINAL_FLUSH_TIMEOUT_MS))
        rc = -1;
    for (k = 0; k < NEXMARK_KIND_CNT; k++) {
        if (run->files[k] && fclose(run->files[k])) {
            fprintf(stderr, PROG ": closing %s: %s\n", file_names[k], strerror(errno));
            rc = -1;
        }
        run->files[k] = NULL;
    }
    total = now_s() - run->start_s;
    if (rc) {
        fprintf(stderr, PROG ": stopped after %" PRIu64 " events by the error above\n", run->made);
        return rc;
    }
    fprintf(stderr,
            PROG ": %s%" PRIu64 " events #%" PRIu64 "..%" PRIu64 " (%" PRIu64 " persons, %" PRIu64
                 " auctions, %" PRIu64 " bids, %" PRIu64 " invalid), %.1f MB of JSON, "
                 "dateTime %s .. %s\n",
            stop_signal ? "interrupted after " : "", run->made, o->first_event,
            o->first_event + (run->made ? run->made - 1 : 0), run->by_kind[0], run->by_kind[1],
            run->by_kind[2], run->invalid, (double)run->bytes / 1e6,
            iso_time(run->min_time, t0, sizeof(t0)), iso_time(run->max_time, t1, sizeof(t1)));
    fprintf(stderr,
            PROG ": generated %.0f events per CPU second (%.3f s of CPU), written %.0f "
                 "events/s of wall-clock time (%.3f s, to %s)\n",
            run->gen_s > 0 ? (double)run->made / run->gen_s : 0.0, run->gen_s,
            total > 0 ? (double)run->made / total : 0.0, total,
            o->out == OUT_KAFKA   ? "Kafka"
            : o->out == OUT_FILES ? o->out_dir
                                  : "nowhere");
    return rc;
}

int main(int argc, char **argv) {
    opts_t opts = {0};
    run_t run = {0};
    struct sigaction sa;
    int rc, k;

    opts.conf = rill_conf_new();
    if (!opts.conf) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    rc = parse_args(argc, argv, &opts);
    if (rc) {
        rill_conf_destroy(opts.conf);
        return rc > 0 ? 0 : 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    run.opts = &opts;
    run.start_s = now_s();
    rc = open_output(&run) || run_events(&run);
    if (finish(&run, rc))
        rc = 1;
    rill_producer_destroy(run.producer);
    for (k = 0; k < NEXMARK_KIND_CNT; k++)
        rill_buf_free(&run.lines[k]);
    rill_conf_destroy(opts.conf);
    return rc ? 1 : 0;
}
