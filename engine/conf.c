/*
 * conf.c — rill_conf_t: Rill's own settings and the librdkafka properties passed through.
 *
 * DESIGN: a configuration is an ordered array of name/value string pairs; setting a name again
 * replaces its value in place. Rill's own keys are described by one static table (conf_keys[])
 * of {name, kind, min, max, default, description}: rill_conf_set() validates against it,
 * rill__conf_settings() parses the effective values (explicit or default) from it, and
 * rill__conf_print_keys() prints it for --help, so adding a key is one table row plus a field
 * in rill__settings_t. Every other name is a librdkafka property: it is validated on set by
 * applying it to a scratch rd_kafka_conf_t (with its "consumer."/"producer."/"admin." prefix
 * removed) and stored as given; rill__conf_kafka() applies the unprefixed ones, then the ones
 * prefixed for the requested role, so a prefixed value overrides an unprefixed one. Properties
 * Rill manages itself (group.id, transactional.id, ...) are refused with the Rill setting to
 * use instead. A conf is owned by one thread at a time; nothing here locks.
 */
#include "conf_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------- */
/* The table of Rill's own keys                                                             */

typedef enum conf_kind_e {
    CONF_KIND_STRING, /* any text, may be empty */
    CONF_KIND_LISTEN, /* host:port (rill__listen_parse), or empty */
    CONF_KIND_PATH,   /* non-empty text */
    CONF_KIND_NAME,   /* non-empty, only [A-Za-z0-9._-] (Kafka's legal name characters) */
    CONF_KIND_INT,    /* a decimal integer from min to max */
    CONF_KIND_CHOICE  /* one of the '|'-separated words in choices; parsed to their index */
} rill__conf_kind_t;

typedef struct conf_key_s rill__conf_key_t;

struct conf_key_s {
    const char *name;
    rill__conf_kind_t kind;
    int64_t min, max;        /* CONF_KIND_INT */
    const char *dflt;        /* default value, or NULL for none */
    const char *description; /* one line, for --help */
    const char *choices;     /* CONF_KIND_CHOICE: "word0|word1|..." in rill_ enum order */
    /* Optional extra check run before the kind's own; returns non-zero after writing errstr. */
    int (*check)(const rill__conf_key_t *key, const char *value, char *errstr, size_t errstr_size);
};

static int check_guarantee(const rill__conf_key_t *key, const char *value, char *errstr,
                           size_t errstr_size);
static int check_replication(const rill__conf_key_t *key, const char *value, char *errstr,
                             size_t errstr_size);
static int check_listen(const rill__conf_key_t *key, const char *value, char *errstr,
                        size_t errstr_size);

#define NO_CHOICES NULL, NULL

/* state.dir's default as --help shows it; the value is made by state_dir_default(). */
#define STATE_DIR_TEMPLATE "${TMPDIR:-/tmp}/rill-state-<uid>"

static const rill__conf_key_t conf_keys[] = {
    {"application.id", CONF_KIND_NAME, 0, 0, NULL,
     "names the app: consumer group, transactional ids and internal topic prefix (required)",
     NO_CHOICES},
    {"bootstrap.servers", CONF_KIND_STRING, 0, 0, NULL,
     "Kafka brokers host:port,...; unset or empty starts the embedded broker", NO_CHOICES},
    {"num.stream.threads", CONF_KIND_INT, 1, 64, "1", "stream threads processing tasks",
     NO_CHOICES},
    {"commit.interval.ms", CONF_KIND_INT, 0, INT64_MAX, "30000",
     "how often offsets (and transactions) are committed; 100 under exactly_once_v2", NO_CHOICES},
    {"processing.guarantee", CONF_KIND_CHOICE, 0, 0, "at_least_once",
     "at_least_once, or exactly_once_v2 (transactions)", "at_least_once|exactly_once_v2",
     check_guarantee},
    {"state.dir", CONF_KIND_PATH, 0, 0, STATE_DIR_TEMPLATE,
     "directory of the local state stores: the user's own (made 0700; refused when another "
     "user owns it or group/others may write it), one process at a time (locked)",
     NO_CHOICES},
    {"replication.factor", CONF_KIND_INT, -1, INT16_MAX, "-1",
     "replication factor of internal topics; -1 uses the broker's default", NULL,
     check_replication},
    {"errors.tolerance", CONF_KIND_CHOICE, 0, 0, "all",
     "all: bad records go to the dead-letter topic; none: a bad record stops the app", "all|none",
     NULL},
    {"errors.deadletterqueue.topic.name", CONF_KIND_NAME, 0, 0, NULL,
     "dead-letter topic, default \"<application.id>-dlq\"", NO_CHOICES},
    {"errors.deadletterqueue.topic.partitions", CONF_KIND_INT, 1, INT32_MAX, "1",
     "partitions of the dead-letter topic when Rill creates it", NO_CHOICES},
    {"group.instance.id", CONF_KIND_NAME, 0, 0, NULL,
     "static group membership id; stream thread i uses \"<id>-<i>\"", NO_CHOICES},
    {"buffered.records.per.partition", CONF_KIND_INT, 1, INT32_MAX, "1000",
     "records buffered per partition before it is paused", NO_CHOICES},
    {"poll.ms", CONF_KIND_INT, 1, 10000, "100", "longest wait for records in one poll", NO_CHOICES},
    {"max.task.idle.ms", CONF_KIND_INT, 0, INT32_MAX, "0",
     "how long a task whose other inputs have records waits for an empty input that is not "
     "known to lag (0: only for data known to exist, as Kafka Streams)",
     NO_CHOICES},
    {"progress.interval.ms", CONF_KIND_INT, 1, 60000, "100",
     "how often a task tells the readers of the topics it writes and the app reads back how far "
     "its event time has come (progress markers)",
     NO_CHOICES},
    {"source.idle.timeout.ms", CONF_KIND_INT, 0, INT32_MAX, "2000",
     "a source partition that is caught up and gets nothing for this long stops holding the "
     "progress of its task back (until it gets records again)",
     NO_CHOICES},
    {"event.time.alignment.ms", CONF_KIND_INT, 0, INT64_MAX, "300000",
     "pause a source partition whose event time runs this far ahead of the slowest partition of "
     "its sub-topology in the same thread (0: no alignment)",
     NO_CHOICES},
    {"partitioning.check", CONF_KIND_CHOICE, 0, 0, "fail",
     "fail: stop when a source joined with a stream Rill repartitioned holds a record that "
     "murmur2 would place elsewhere; off: do not check",
     "fail|off", NULL},
    {"lineage.enable", CONF_KIND_CHOICE, 0, 0, "false",
     "true: every output record carries a W3C traceparent (from its input record's, or a new "
     "trace) and rill.lineage, the chain of source topic/partition@offset it came from, also "
     "through functions and state (README, \"Tracing and lineage\")",
     "false|true", NULL},
    {"lineage.max.bytes", CONF_KIND_INT, 64, 4096, "512",
     "longest rill.lineage chain; older hops are dropped behind the marker \"~>\"", NO_CHOICES},
    {"faas.max.in.flight", CONF_KIND_INT, 1, 4096, "64",
     "function invocations in flight at once in the whole process", NO_CHOICES},
    {"faas.max.connections", CONF_KIND_INT, 1, 4096, "64",
     "open connections to functions in the whole process (over HTTP/1.1 a call in flight "
     "holds one: below faas.max.in.flight, calls wait for a connection)",
     NO_CHOICES},
    {"statestore.cache.max.bytes", CONF_KIND_INT, 0, INT64_MAX, "10485760",
     "write cache of the stores per stream thread; above it the thread commits early", NO_CHOICES},
    {"statestore.block.cache.bytes", CONF_KIND_INT, 1048576, INT64_MAX, "67108864",
     "RocksDB block cache shared by every store of the process", NO_CHOICES},
    {"statestore.write.buffer.bytes", CONF_KIND_INT, 65536, INT64_MAX, "8388608",
     "RocksDB memtable size per store", NO_CHOICES},
    {"statestore.max.write.buffers", CONF_KIND_INT, 1, 16, "2", "RocksDB memtables per store",
     NO_CHOICES},
    {"exit.on.end", CONF_KIND_CHOICE, 0, 0, "false",
     "true: when every input partition is at its end and nothing is pending, advance stream "
     "time by exit.on.end.advance.ms (closing windows and items), commit and stop (--drain)",
     "false|true", NULL},
    {"exit.on.end.advance.ms", CONF_KIND_INT, 0, INT64_MAX, "86400000",
     "how far exit.on.end moves stream time past the last record", NO_CHOICES},
    {"startup.broker.wait.ms", CONF_KIND_INT, 0, INT64_MAX, "60000",
     "how long the start waits for a broker that does not answer (down or restarting), "
     "retrying and saying so every few seconds, before it gives up",
     NO_CHOICES},
    {"embedded.broker.partitions", CONF_KIND_INT, 1, 1024, "4",
     "partitions of topics auto-created on the embedded broker", NO_CHOICES},
    {"log.level", CONF_KIND_CHOICE, 0, 0, "info",
     "the least severe log lines written to stderr, Rill's and librdkafka's: error, warn, "
     "info (group changes, restores, start and stop) or debug (also per-store details)",
     "error|warn|info|debug", NULL},
    {"http.listen", CONF_KIND_LISTEN, 0, 0, NULL,
     "host:port of an HTTP endpoint serving GET /metrics, /health and /ready (port 0: any "
     "free port); empty: none. No authentication: bind it to loopback or a pod network",
     NULL, check_listen},
    {"application.server", CONF_KIND_LISTEN, 0, 0, NULL,
     "host:port at which other instances reach this one's HTTP endpoint, published for "
     "interactive queries (GET /stores/...); empty: http.listen's host with its bound port, "
     "unless that host is a wildcard address",
     NULL, check_listen},
    {"query.forward", CONF_KIND_CHOICE, 0, 0, "redirect",
     "a store query for another instance's key: redirect (307 to the owner) or proxy (this "
     "instance asks the owner and returns its answer)",
     "redirect|proxy", NULL},
    {"query.forward.timeout.ms", CONF_KIND_INT, 100, 60000, "5000",
     "how long a store query waits for other instances (proxying, whole-store ranges, keys "
     "of stores Rill did not partition) before it answers 503",
     NO_CHOICES},
    {"query.range.limit", CONF_KIND_INT, 1, 1000000, "1000",
     "rows of GET /stores/<store>?from=&to= when the request gives no limit", NO_CHOICES},
    {"query.range.limit.max", CONF_KIND_INT, 1, 1000000, "10000",
     "the most rows a range request may ask for (a larger limit is refused with 400)", NO_CHOICES},
};

#define CONF_KEY_CNT (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* librdkafka properties that Rill sets itself, and what to use instead. */
static const struct {
    const char *name;
    const char *fix;
} conf_managed[] = {
    {"group.id", "set application.id, which names the consumer group"},
    {"enable.auto.commit", "Rill commits offsets itself: tune commit.interval.ms"},
    {"enable.auto.offset.store", "Rill stores offsets itself: tune commit.interval.ms"},
    {"transactional.id", "set processing.guarantee=exactly_once_v2; Rill names transactions"},
    {"isolation.level", "set processing.guarantee, which chooses the isolation level"},
};

/* Client prefixes, indexed by rill__client_role_t. */
static const char *const conf_prefixes[] = {"consumer.", "producer.", "admin."};

/* ---------------------------------------------------------------------------------------- */
/* The configuration object                                                                 */

typedef struct conf_prop_s {
    char *name;
    char *value;
} rill__conf_prop_t;

struct rill_conf_s {
    rill__conf_prop_t *props; /* in the order first set */
    size_t cnt;
    size_t cap;
    char *dlq_default; /* "<application.id>-dlq", made by rill__conf_settings() */
    /* The logger of the clients built from this conf: application.id and log.level as set
     * (conf_log_sync()); logp points at log and is the opaque of those clients (see
     * rill__conf_kafka()). */
    rill__logger_t log;
    const rill__logger_t *logp;
};

static const rill__conf_key_t *conf_key_find(const char *name) {
    size_t i;

    for (i = 0; i < CONF_KEY_CNT; i++)
        if (!strcmp(conf_keys[i].name, name))
            return &conf_keys[i];
    return NULL;
}

static rill__conf_prop_t *conf_prop_find(const rill_conf_t *conf, const char *name) {
    size_t i;

    for (i = 0; i < conf->cnt; i++)
        if (!strcmp(conf->props[i].name, name))
            return &conf->props[i];
    return NULL;
}

/* Stores name=value (copies both), replacing an earlier value. Returns 0 or -1 (no memory). */
static int conf_prop_put(rill_conf_t *conf, const char *name, const char *value) {
    rill__conf_prop_t *prop = conf_prop_find(conf, name);
    char *copy = strdup(value);

    if (!copy)
        return -1;
    if (prop) {
        free(prop->value);
        prop->value = copy;
        return 0;
    }
    if (conf->cnt == conf->cap) {
        size_t cap = conf->cap ? conf->cap * 2 : 16;
        rill__conf_prop_t *props = realloc(conf->props, cap * sizeof(*props));

        if (!props) {
            free(copy);
            return -1;
        }
        conf->props = props;
        conf->cap = cap;
    }
    prop = &conf->props[conf->cnt];
    prop->name = strdup(name);
    if (!prop->name) {
        free(copy);
        return -1;
    }
    prop->value = copy;
    conf->cnt++;
    return 0;
}

static int conf_choice_index(const rill__conf_key_t *key, const char *value);

/* Makes conf->log follow application.id and log.level after a change. */
static void conf_log_sync(rill_conf_t *conf) {
    const rill__conf_prop_t *id = conf_prop_find(conf, "application.id");
    const rill__conf_prop_t *level = conf_prop_find(conf, "log.level");

    conf->log.app_id = id ? id->value : "-";
    conf->log.level =
        level ? conf_choice_index(conf_key_find("log.level"), level->value) : RILL__LOG_INFO;
}

/* Creates a configuration holding the defaults (no property set). NULL when out of memory. */
rill_conf_t *rill_conf_new(void) {
    rill_conf_t *conf = calloc(1, sizeof(rill_conf_t));

    if (conf) {
        conf->logp = &conf->log;
        conf_log_sync(conf);
    }
    return conf;
}

const rill__logger_t *rill__conf_logger(const rill_conf_t *conf) {
    return &conf->log;
}

/* Releases conf and every string it owns. NULL-safe. */
void rill_conf_destroy(rill_conf_t *conf) {
    size_t i;

    if (!conf)
        return;
    for (i = 0; i < conf->cnt; i++) {
        free(conf->props[i].name);
        free(conf->props[i].value);
    }
    free(conf->props);
    free(conf->dlq_default);
    free(conf);
}

/* Returns a deep copy of conf, or NULL when out of memory. */
rill_conf_t *rill_conf_dup(const rill_conf_t *conf) {
    rill_conf_t *copy = rill_conf_new();
    size_t i;

    if (!copy)
        return NULL;
    for (i = 0; i < conf->cnt; i++) {
        if (conf_prop_put(copy, conf->props[i].name, conf->props[i].value) != 0) {
            rill_conf_destroy(copy);
            return NULL;
        }
    }
    conf_log_sync(copy);
    return copy;
}

/* ---------------------------------------------------------------------------------------- */
/* Validation of Rill's own keys                                                            */

/* Parses a whole decimal integer. Returns 0 or -1. */
static int conf_parse_int(const char *value, int64_t *out) {
    char *end;
    long long v;

    if (!*value || isspace((unsigned char)*value))
        return -1;
    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Returns the index of value among key's choices, or -1. */
static int conf_choice_index(const rill__conf_key_t *key, const char *value) {
    const char *p = key->choices;
    size_t len = strlen(value);
    int idx = 0;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t wlen = bar ? (size_t)(bar - p) : strlen(p);

        if (wlen == len && !strncmp(p, value, len))
            return idx;
        idx++;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Writes what key accepts ("an integer from 1 to 64", ...) into out. */
static void conf_key_accepts(const rill__conf_key_t *key, char *out, size_t out_size) {
    switch (key->kind) {
    case CONF_KIND_STRING:
        snprintf(out, out_size, "any text");
        break;
    case CONF_KIND_LISTEN:
        snprintf(out, out_size,
                 "host:port ([address]:port for IPv6; port 0: a free one), or "
                 "nothing");
        break;
    case CONF_KIND_PATH:
        snprintf(out, out_size, "a non-empty path");
        break;
    case CONF_KIND_NAME:
        snprintf(out, out_size, "a non-empty name of letters, digits, '.', '_' and '-'");
        break;
    case CONF_KIND_INT:
        if (key->max == INT64_MAX || key->max == INT32_MAX)
            snprintf(out, out_size, "an integer >= %" PRId64, key->min);
        else
            snprintf(out, out_size, "an integer from %" PRId64 " to %" PRId64, key->min, key->max);
        break;
    case CONF_KIND_CHOICE:
        snprintf(out, out_size, "one of %s", key->choices);
        break;
    }
}

static int conf_is_name(const char *value) {
    const char *p;

    if (!*value)
        return 0;
    for (p = value; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    return 1;
}

/* Returns 1 when value is acceptable to key's kind. */
static int conf_kind_ok(const rill__conf_key_t *key, const char *value) {
    int64_t v;

    switch (key->kind) {
    case CONF_KIND_STRING:
        return 1;
    case CONF_KIND_LISTEN: {
        char host[256], why[160];
        int port;

        return !*value || !rill__listen_parse(value, host, sizeof(host), &port, why, sizeof(why));
    }
    case CONF_KIND_PATH:
        return *value != '\0';
    case CONF_KIND_NAME:
        return conf_is_name(value);
    case CONF_KIND_INT:
        return conf_parse_int(value, &v) == 0 && v >= key->min && v <= key->max;
    case CONF_KIND_CHOICE:
        return conf_choice_index(key, value) >= 0;
    }
    return 0;
}

static int check_guarantee(const rill__conf_key_t *key, const char *value, char *errstr,
                           size_t errstr_size) {
    if (strcmp(value, "exactly_once") && strcmp(value, "exactly_once_beta"))
        return 0;
    snprintf(errstr, errstr_size, "%s=%s: \"%s\" is a deprecated name: use exactly_once_v2",
             key->name, value, value);
    return -1;
}

static int check_replication(const rill__conf_key_t *key, const char *value, char *errstr,
                             size_t errstr_size) {
    if (strcmp(value, "0"))
        return 0;
    snprintf(errstr, errstr_size,
             "%s=0 is not valid: expected -1 (the broker's default) or a count of 1 or more",
             key->name);
    return -1;
}

int rill__listen_parse(const char *value, char *host, size_t host_size, int *port, char *why,
                       size_t why_size) {
    const char *colon = strrchr(value, ':');
    const char *h = value;
    size_t hlen;
    int64_t p;

    if (!colon) {
        snprintf(why, why_size, "no ':' before a port");
        return -1;
    }
    hlen = (size_t)(colon - value);
    if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']') { /* [IPv6 address] */
        h++;
        hlen -= 2;
    } else if (memchr(value, ':', hlen)) {
        snprintf(why, why_size, "an IPv6 address must be in brackets, e.g. [::1]:9464");
        return -1;
    }
    if (!hlen) {
        snprintf(why, why_size,
                 "no host before the ':' (listening on every interface must be "
                 "asked for: 0.0.0.0:PORT)");
        return -1;
    }
    if (hlen >= host_size) {
        snprintf(why, why_size, "the host is longer than %zu characters", host_size - 1);
        return -1;
    }
    if (conf_parse_int(colon + 1, &p) || p < 0 || p > 65535 || colon[1] == '+' || colon[1] == '-') {
        snprintf(why, why_size, "the port \"%s\" is not a number from 0 to 65535", colon + 1);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

static int check_listen(const rill__conf_key_t *key, const char *value, char *errstr,
                        size_t errstr_size) {
    char host[256], why[160];
    int port;

    if (!*value || !rill__listen_parse(value, host, sizeof(host), &port, why, sizeof(why)))
        return 0;
    snprintf(errstr, errstr_size,
             "invalid value \"%s\" for %s: %s; expected host:port, e.g. 127.0.0.1:9464%s", value,
             key->name, why,
             strcmp(key->name, "http.listen")
                 ? ", or nothing"
                 : " (port 0 picks a free port), or nothing for no HTTP endpoint");
    return -1;
}

static rill_err_t conf_check_own(const rill__conf_key_t *key, const char *value, char *errstr,
                                 size_t errstr_size) {
    char accepts[160];

    if (key->check && key->check(key, value, errstr, errstr_size) != 0)
        return RILL_ERR_INVALID_ARG;
    if (conf_kind_ok(key, value))
        return RILL_OK;
    conf_key_accepts(key, accepts, sizeof(accepts));
    snprintf(errstr, errstr_size, "invalid value \"%s\" for %s: expected %s", value, key->name,
             accepts);
    return RILL_ERR_INVALID_ARG;
}

/* ---------------------------------------------------------------------------------------- */
/* Pass-through properties                                                                  */

/* Returns name without its client prefix, and the prefix index in *rolep (-1 for none). */
static const char *conf_strip_prefix(const char *name, int *rolep) {
    size_t i;

    for (i = 0; i < sizeof(conf_prefixes) / sizeof(conf_prefixes[0]); i++) {
        size_t len = strlen(conf_prefixes[i]);

        if (!strncmp(name, conf_prefixes[i], len)) {
            *rolep = (int)i;
            return name + len;
        }
    }
    *rolep = -1;
    return name;
}

/* Refuses properties Rill manages. Returns 0 when name (prefix removed as bare) may pass. */
static rill_err_t conf_check_managed(const char *name, const char *bare, char *errstr,
                                     size_t errstr_size) {
    size_t i;

    for (i = 0; i < sizeof(conf_managed) / sizeof(conf_managed[0]); i++) {
        if (!strcmp(bare, conf_managed[i].name)) {
            snprintf(errstr, errstr_size, "%s is managed by Rill and cannot be set: %s", name,
                     conf_managed[i].fix);
            return RILL_ERR_INVALID_ARG;
        }
    }
    if (bare != name && conf_key_find(bare)) {
        snprintf(errstr, errstr_size, "%s: %s is a Rill setting and takes no client prefix: set %s",
                 name, bare, bare);
        return RILL_ERR_INVALID_ARG;
    }
    return RILL_OK;
}

/* Applies one property to kconf, mapping librdkafka's result; errstr names full_name. */
static rill_err_t conf_kafka_apply(rd_kafka_conf_t *kconf, const char *full_name, const char *bare,
                                   const char *value, char *errstr, size_t errstr_size) {
    char kerr[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(kconf, bare, value, kerr, sizeof(kerr));

    if (res == RD_KAFKA_CONF_OK)
        return RILL_OK;
    snprintf(errstr, errstr_size, "%s: %s", full_name, kerr);
    return res == RD_KAFKA_CONF_UNKNOWN ? RILL_ERR_UNKNOWN_CONF : RILL_ERR_INVALID_ARG;
}

static rill_err_t conf_check_passthrough(const char *name, const char *value, char *errstr,
                                         size_t errstr_size) {
    int role;
    const char *bare = conf_strip_prefix(name, &role);
    rd_kafka_conf_t *scratch;
    rill_err_t err;

    if (!*bare) {
        snprintf(errstr, errstr_size, "%s: a client prefix needs a property name after it", name);
        return RILL_ERR_UNKNOWN_CONF;
    }
    err = conf_check_managed(name, bare, errstr, errstr_size);
    if (err)
        return err;
    scratch = rd_kafka_conf_new();
    if (!scratch) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        return RILL_ERR_NOMEM;
    }
    err = conf_kafka_apply(scratch, name, bare, value, errstr, errstr_size);
    rd_kafka_conf_destroy(scratch);
    return err;
}

/*
 * Sets one property by name, validating it (see rill.h). Copies name and value.
 * Returns RILL_ERR_UNKNOWN_CONF for a name nobody knows, RILL_ERR_INVALID_ARG for a bad value
 * or a managed property, with a message naming both in errstr.
 */
rill_err_t rill_conf_set(rill_conf_t *conf, const char *name, const char *value, char *errstr,
                         size_t errstr_size) {
    const rill__conf_key_t *key;
    rill_err_t err;

    if (!name || !*name || !value) {
        snprintf(errstr, errstr_size, "a property needs a name and a value (got %s=%s)",
                 name ? name : "(null)", value ? value : "(null)");
        return RILL_ERR_INVALID_ARG;
    }
    key = conf_key_find(name);
    if (key)
        err = conf_check_own(key, value, errstr, errstr_size);
    else
        err = conf_check_passthrough(name, value, errstr, errstr_size);
    if (err)
        return err;
    if (conf_prop_put(conf, name, value) != 0) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        return RILL_ERR_NOMEM;
    }
    conf_log_sync(conf);
    return RILL_OK;
}

static char state_dir_buf[1024];
static pthread_once_t state_dir_once = PTHREAD_ONCE_INIT;

static void state_dir_init(void) {
    const char *tmp = getenv("TMPDIR");

    if (!tmp || *tmp != '/')
        tmp = "/tmp";
    snprintf(state_dir_buf, sizeof(state_dir_buf), "%s/rill-state-%u", tmp, (unsigned)geteuid());
}

/* state.dir's default: "${TMPDIR:-/tmp}/rill-state-<uid>", one per user, made once per
 * process (TMPDIR as it was then). */
static const char *state_dir_default(void) {
    pthread_once(&state_dir_once, state_dir_init);
    return state_dir_buf;
}

/* The value in effect for a Rill key: explicit, or the default (which may depend on others). */
static const char *conf_effective(const rill_conf_t *conf, const rill__conf_key_t *key) {
    const rill__conf_prop_t *prop = conf_prop_find(conf, key->name);
    const rill__conf_prop_t *guarantee;

    if (prop)
        return prop->value;
    if (!strcmp(key->name, "state.dir"))
        return state_dir_default();
    if (!strcmp(key->name, "commit.interval.ms")) {
        guarantee = conf_prop_find(conf, "processing.guarantee");
        if (guarantee && !strcmp(guarantee->value, "exactly_once_v2"))
            return "100";
    }
    return key->dflt;
}

/*
 * Returns the value of name: the value set, else for Rill's own keys the default in effect,
 * else NULL. Borrowed: valid until conf is changed or destroyed.
 */
const char *rill_conf_get(const rill_conf_t *conf, const char *name) {
    const rill__conf_key_t *key = conf_key_find(name);
    const rill__conf_prop_t *prop;

    if (key)
        return conf_effective(conf, key);
    prop = conf_prop_find(conf, name);
    return prop ? prop->value : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Properties files                                                                         */

/* Trims whitespace at both ends of s in place; returns the trimmed start. */
static char *conf_trim(char *s) {
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Applies one line of a properties file; errors are prefixed with path:lineno. */
static rill_err_t conf_load_line(rill_conf_t *conf, char *line, const char *path, unsigned lineno,
                                 char *errstr, size_t errstr_size) {
    char msg[512];
    char *text = conf_trim(line);
    char *eq;
    rill_err_t err;

    if (!*text || *text == '#' || *text == '!')
        return RILL_OK;
    eq = strchr(text, '=');
    if (!eq || eq == text) {
        snprintf(errstr, errstr_size, "%s:%u: expected name=value, got \"%s\"", path, lineno, text);
        return RILL_ERR_INVALID_ARG;
    }
    *eq = '\0';
    err = rill_conf_set(conf, conf_trim(text), conf_trim(eq + 1), msg, sizeof(msg));
    if (err)
        snprintf(errstr, errstr_size, "%s:%u: %s", path, lineno, msg);
    return err;
}

/*
 * Reads "name=value" lines from the file at path; blank lines and lines starting with '#' or
 * '!' are skipped, whitespace around name and value is trimmed. Stops at the first bad line
 * (properties before it stay set). Returns RILL_ERR_IO when the file cannot be read.
 */
rill_err_t rill_conf_load_file(rill_conf_t *conf, const char *path, char *errstr,
                               size_t errstr_size) {
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t line_cap = 0;
    unsigned lineno = 0;
    rill_err_t err = RILL_OK;

    if (!fp) {
        snprintf(errstr, errstr_size, "cannot open config file %s: %s", path, strerror(errno));
        return RILL_ERR_IO;
    }
    while (!err && getline(&line, &line_cap, fp) != -1)
        err = conf_load_line(conf, line, path, ++lineno, errstr, errstr_size);
    if (!err && ferror(fp)) {
        snprintf(errstr, errstr_size, "cannot read config file %s: %s", path, strerror(errno));
        err = RILL_ERR_IO;
    }
    free(line);
    fclose(fp);
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Internal views                                                                           */

static int64_t conf_int(const rill_conf_t *conf, const char *name) {
    const char *value = conf_effective(conf, conf_key_find(name));
    int64_t v = 0;

    conf_parse_int(value, &v); /* validated when set; defaults are valid */
    return v;
}

static int conf_choice(const rill_conf_t *conf, const char *name) {
    const rill__conf_key_t *key = conf_key_find(name);

    return conf_choice_index(key, conf_effective(conf, key));
}

/* Sets out->dlq_topic, making "<application.id>-dlq" in conf when no name was set. */
static rill_err_t conf_settings_dlq(rill_conf_t *conf, rill__settings_t *out, char *errstr,
                                    size_t errstr_size) {
    const rill__conf_prop_t *prop = conf_prop_find(conf, "errors.deadletterqueue.topic.name");
    size_t len;

    if (prop) {
        out->dlq_topic = prop->value;
        return RILL_OK;
    }
    len = strlen(out->application_id) + sizeof("-dlq");
    free(conf->dlq_default);
    conf->dlq_default = malloc(len);
    if (!conf->dlq_default) {
        snprintf(errstr, errstr_size, "out of memory");
        return RILL_ERR_NOMEM;
    }
    snprintf(conf->dlq_default, len, "%s-dlq", out->application_id);
    out->dlq_topic = conf->dlq_default;
    return RILL_OK;
}

/*
 * Validates conf as a whole and fills *out (see conf_int.h). Strings in *out are owned by
 * conf: valid until conf is changed or destroyed.
 */
rill_err_t rill__conf_settings(rill_conf_t *conf, rill__settings_t *out, char *errstr,
                               size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    out->application_id = rill_conf_get(conf, "application.id");
    if (!out->application_id) {
        snprintf(errstr, errstr_size,
                 "application.id is required: set it with -D application.id=NAME or in the "
                 "--config file");
        return RILL_ERR_INVALID_ARG;
    }
    out->bootstrap_servers = rill_conf_get(conf, "bootstrap.servers");
    out->num_stream_threads = (int)conf_int(conf, "num.stream.threads");
    out->commit_interval_ms = conf_int(conf, "commit.interval.ms");
    out->guarantee = (rill__guarantee_t)conf_choice(conf, "processing.guarantee");
    out->state_dir = rill_conf_get(conf, "state.dir");
    out->replication_factor = (int)conf_int(conf, "replication.factor");
    out->errors_fatal = conf_choice(conf, "errors.tolerance");
    out->dlq_partitions = (int)conf_int(conf, "errors.deadletterqueue.topic.partitions");
    out->group_instance_id = rill_conf_get(conf, "group.instance.id");
    out->http_listen = rill_conf_get(conf, "http.listen");
    out->application_server = rill_conf_get(conf, "application.server");
    out->buffered_records_per_partition = (int)conf_int(conf, "buffered.records.per.partition");
    out->max_task_idle_ms = conf_int(conf, "max.task.idle.ms");
    out->progress_interval_ms = conf_int(conf, "progress.interval.ms");
    out->alignment_ms = conf_int(conf, "event.time.alignment.ms");
    out->idle_timeout_ms = conf_int(conf, "source.idle.timeout.ms");
    out->partitioning_check = conf_choice(conf, "partitioning.check") == 0;
    out->poll_ms = (int)conf_int(conf, "poll.ms");
    out->startup_broker_wait_ms = conf_int(conf, "startup.broker.wait.ms");
    out->embedded_partitions = (int)conf_int(conf, "embedded.broker.partitions");
    out->exit_on_end = conf_choice(conf, "exit.on.end");
    out->exit_advance_ms = conf_int(conf, "exit.on.end.advance.ms");
    out->faas_max_in_flight = (int)conf_int(conf, "faas.max.in.flight");
    out->cache_max_bytes = conf_int(conf, "statestore.cache.max.bytes");
    out->block_cache_bytes = conf_int(conf, "statestore.block.cache.bytes");
    out->write_buffer_bytes = conf_int(conf, "statestore.write.buffer.bytes");
    out->max_write_buffers = (int)conf_int(conf, "statestore.max.write.buffers");
    out->faas_max_connections = (int)conf_int(conf, "faas.max.connections");
    out->log_level = conf_choice(conf, "log.level");
    out->query_proxy = conf_choice(conf, "query.forward") == 1;
    out->query_forward_timeout_ms = (int)conf_int(conf, "query.forward.timeout.ms");
    out->range_limit = (int)conf_int(conf, "query.range.limit");
    out->range_limit_max = (int)conf_int(conf, "query.range.limit.max");
    if (out->range_limit > out->range_limit_max) {
        snprintf(errstr, errstr_size, "query.range.limit=%d is above query.range.limit.max=%d",
                 out->range_limit, out->range_limit_max);
        return RILL_ERR_INVALID_ARG;
    }
    out->lineage = conf_choice(conf, "lineage.enable");
    out->lineage_max_bytes = (int)conf_int(conf, "lineage.max.bytes");
    return conf_settings_dlq(conf, out, errstr, errstr_size);
}

/* Applies the pass-through properties of one prefix class (-1: unprefixed) to kconf. */
static rill_err_t conf_kafka_pass(const rill_conf_t *conf, rd_kafka_conf_t *kconf, int want,
                                  char *errstr, size_t errstr_size) {
    size_t i;
    int role;
    rill_err_t err;

    for (i = 0; i < conf->cnt; i++) {
        const rill__conf_prop_t *prop = &conf->props[i];
        const char *bare = conf_strip_prefix(prop->name, &role);

        if (role != want || conf_key_find(prop->name))
            continue;
        err = conf_kafka_apply(kconf, prop->name, bare, prop->value, errstr, errstr_size);
        if (err)
            return err;
    }
    return RILL_OK;
}

/* librdkafka's log lines, on its own threads: syslog levels to Rill's, one line in Rill's
 * format naming the client. The opaque of every client begins with its logger's address
 * (conf_int.h); only librdkafka's accessors of the instance's fixed name and opaque are
 * called, nothing that could take a lock of librdkafka's or wait. */
static void conf_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    const rill__logger_t *const *head = rd_kafka_opaque(rk);
    const rill__logger_t *lg = head ? *head : NULL;
    int ours = level <= 3   ? RILL__LOG_ERROR
               : level == 4 ? RILL__LOG_WARN
               : level <= 6 ? RILL__LOG_INFO
                            : RILL__LOG_DEBUG;
    char who[300];

    if (!rill__log_wants(lg, ours))
        return;
    snprintf(who, sizeof(who), "kafka %s", rd_kafka_name(rk));
    rill__log_who(lg, ours, who, "%s: %s", fac, buf);
}

/*
 * Builds a librdkafka configuration for role (see conf_int.h). The caller owns the result
 * (rd_kafka_conf_destroy(), or hand it to rd_kafka_new()). NULL with errstr on failure.
 */
rd_kafka_conf_t *rill__conf_kafka(const rill_conf_t *conf, rill__client_role_t role,
                                  const char *bootstrap, char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();

    if (!kconf) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (conf_kafka_pass(conf, kconf, -1, errstr, errstr_size) ||
        conf_kafka_pass(conf, kconf, (int)role, errstr, errstr_size) ||
        (bootstrap && conf_kafka_apply(kconf, "bootstrap.servers", "bootstrap.servers", bootstrap,
                                       errstr, errstr_size))) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(kconf, conf_kafka_log_cb);
    rd_kafka_conf_set_opaque(kconf, (void *)&conf->logp);
    return kconf;
}

/* Prints Rill's own keys with their default, description and what they accept (--help). */
void rill__conf_print_keys(FILE *out) {
    char accepts[160];
    size_t i;

    for (i = 0; i < CONF_KEY_CNT; i++) {
        const rill__conf_key_t *key = &conf_keys[i];

        conf_key_accepts(key, accepts, sizeof(accepts));
        if (key->dflt)
            fprintf(out, "  %s (default: %s)\n", key->name, key->dflt);
        else
            fprintf(out, "  %s\n", key->name);
        fprintf(out, "      %s\n      accepts %s\n", key->description, accepts);
    }
}

void rill__conf_consumer_defaults(const rill_conf_t *conf, rd_kafka_conf_t *kc,
                                  const char *const (*defaults)[2], size_t n) {
    for (size_t i = 0; i < n; i++) {
        char prefixed[128];
        snprintf(prefixed, sizeof(prefixed), "consumer.%s", defaults[i][0]);
        if (!rill_conf_get(conf, defaults[i][0]) && !rill_conf_get(conf, prefixed))
            rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], NULL, 0);
    }
}
