/*
 * test_auction_rules.c — the auction showcase's validation rules in C
 * (topologies/auction/rules.c) against the validate-auction and validate-bid functions
 * (topologies/auction/functions, Functions Framework): for crafted valid and invalid events
 * and for NEXMark-generated ones (valid and broken in each documented way), both must give
 * the same verdict, the same reason, the same output key and the same output JSON text, byte
 * for byte. The functions are called as Rill's FaaS bridge calls them: CloudEvents binary
 * mode one event at a time, and a structured batch of all events; the whole HTTP answer must
 * be exactly the one built from the C outputs.
 *
 * The functions: RILL_TEST_FN_VALIDATE_AUCTION and RILL_TEST_FN_VALIDATE_BID (URLs; set by
 * scripts/test.sh from scripts/functions.sh), else this test starts each target itself on a
 * free port with faas_bridge/functions' Functions Framework (its node_modules must exist:
 * scripts/functions.sh start installs it once). Needs node.
 */
#include "../../topologies/auction/rules.c" /* the rules under test (no library to link) */

#include <criterion/criterion.h>

#include "rill_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if __has_include("nexmark.h")
#include "nexmark.h"
#include "rt_auction.h"
#define HAVE_NEXMARK 1
#endif

/* ---------------------------------------------------------------- cases */

typedef struct tcase_s {
    auction_rules_kind_t kind;
    const char *key;    /* NULL: no key */
    const char *value;  /* NULL: a tombstone */
    size_t len;         /* 0: strlen(value) */
    const char *reason; /* expected; NULL: valid */
} tcase_t;

#define A AUCTION_RULES_AUCTION
#define B AUCTION_RULES_BID

/* A valid auction with member text m (",\"name\":value...") after the usual members: a
 * later duplicate wins. AUCF: m ("\"name\":value,...") before them. */
#define AUC(m)                                                                                     \
    "{\"id\":1000,\"itemName\":\"item\",\"description\":\"desc\",\"initialBid\":100,"              \
    "\"reserve\":150,\"dateTime\":1700000000000,\"expires\":1700000060000,\"seller\":42,"          \
    "\"category\":10,\"extra\":\"\"" m "}"
#define AUCF(m)                                                                                    \
    "{" m "\"id\":1000,\"itemName\":\"item\",\"description\":\"desc\",\"initialBid\":100,"         \
    "\"reserve\":150,\"dateTime\":1700000000000,\"expires\":1700000060000,\"seller\":42,"          \
    "\"category\":10,\"extra\":\"\"}"
#define BID(m)                                                                                     \
    "{\"auction\":1000,\"bidder\":7,\"price\":12345,\"channel\":\"web\","                          \
    "\"url\":\"https://www.nexmark.com/a/b/c/item.htm?query=1&channel_id=2\","                     \
    "\"dateTime\":1700000001000,\"extra\":\"\"" m "}"

static const tcase_t CASES[] = {
    /* valid auctions */
    {A, "1000", AUC(""), 0, NULL},
    {A, "1000", "  \n" AUC("") "\r\n\t ", 0, NULL},
    {A, "x",
     "{\"extra\":\"e\",\"category\":12,\"seller\":9,\"expires\":20,\"dateTime\":10,"
     "\"reserve\":5,\"initialBid\":5,\"description\":\"d\",\"itemName\":\"i\",\"id\":3}",
     0, NULL},
    {A, "1000", AUCF("\"id\":\"bad\",\"zzz\":{\"a\":[1,2,{\"b\":null}]},\"n\":1.5e300,\"t\":true,"),
     0, NULL}, /* a later duplicate wins; unknown members are dropped */
    {A, "1000",
     "{\"\\u0069d\":77,\"itemName\":\"caf\\u00e9 \xc3\xa9 \\\"q\\\" \\/ / \\\\ \\n\\t\\b\\f\\r"
     "\\u0001\\u001f\x7f\\u007f\xe2\x80\xa8\\u2028 \xf0\x9f\x98\x80 \\ud83d\\ude00 \\u0000z\","
     "\"description\":\"\",\"initialBid\":1e2,\"reserve\":150.0,\"dateTime\":1.7e12,"
     "\"expires\":1700000060000.000,\"seller\":4.2E1,\"category\":-0,\"extra\":\"<>&'\"}",
     0, NULL},
    {A, NULL, AUC(",\"category\":1e-400"), 0, NULL},
    {A, "k", AUC(",\"category\":-0.0,\"seller\":9007199254740991"), 0, NULL},
    {A, "k",
     "{\"id\":9007199254740991,\"itemName\":\"i\",\"description\":\"d\",\"initialBid\":1,"
     "\"reserve\":9007199254740991,\"dateTime\":-9007199254740991,"
     "\"expires\":9007199254740991,\"seller\":1,\"category\":-9007199254740991,\"extra\":\"\"}",
     0, NULL},
    {A, "k", AUC(",\"id\":9007199254740990.6"), 0, NULL}, /* the nearest double is safe */
    /* invalid auctions */
    {A, "k", AUC(",\"id\":9007199254740992"), 0, "wrong type: id"},
    {A, "k", AUC(",\"id\":9007199254740993"), 0, "wrong type: id"},
    {A, "k", AUC(",\"id\":99999999999999999999999"), 0, "wrong type: id"},
    {A, "k", AUC(",\"id\":1.5"), 0, "wrong type: id"},
    {A, "k", AUC(",\"id\":\"1000\""), 0, "wrong type: id"},
    {A, "k", AUC(",\"id\":null"), 0, "wrong type: id"},
    {A, "k", AUC(",\"reserve\":true"), 0, "wrong type: reserve"},
    {A, "k", AUC(",\"expires\":1e400"), 0, "wrong type: expires"},
    {A, "k", AUC(",\"seller\":[42]"), 0, "wrong type: seller"},
    {A, "k", AUC(",\"itemName\":5"), 0, "wrong type: itemName"},
    {A, "k", AUC(",\"description\":null"), 0, "wrong type: description"},
    {A, "k", AUC(",\"extra\":{}"), 0, "wrong type: extra"},
    {A, "k",
     "{\"id\":1,\"itemName\":\"i\",\"description\":\"d\",\"initialBid\":1,"
     "\"dateTime\":1,\"expires\":2,\"seller\":1,\"category\":1,\"extra\":\"\"}",
     0, "missing field: reserve"},
    {A, "k", "{\"itemName\":5}", 0, "missing field: id"},
    {A, "k", "{\"id\":1,\"itemName\":5}", 0, "wrong type: itemName"},
    {A, "k",
     "{\"id\":1,\"itemName\":\"i\",\"description\":\"d\",\"initialBid\":1,"
     "\"reserve\":1,\"dateTime\":1,\"expires\":2,\"seller\":1,\"category\":1}",
     0, "missing field: extra"},
    {A, "k", "{\"Id\":1}", 0, "missing field: id"},
    {A, "k", "{}", 0, "missing field: id"},
    {A, "k", AUC(",\"id\":0"), 0, "id must be > 0"},
    {A, "k", AUC(",\"id\":-0"), 0, "id must be > 0"},
    {A, "k", AUC(",\"id\":-7"), 0, "id must be > 0"},
    {A, "k", AUC(",\"seller\":0"), 0, "seller must be > 0"},
    {A, "k", AUC(",\"initialBid\":-100"), 0, "initialBid must be > 0"},
    {A, "k", AUC(",\"id\":0,\"seller\":0,\"initialBid\":0"), 0, "id must be > 0"},
    {A, "k", AUC(",\"reserve\":99"), 0, "reserve < initialBid"},
    {A, "k", AUC(",\"expires\":1700000000000"), 0, "expires <= dateTime"},
    {A, "k", AUC(",\"expires\":1"), 0, "expires <= dateTime"},
    /* not JSON, not an object */
    {A, "k", NULL, 0, "not JSON"},
    {A, "k", "", 0, "not JSON"},
    {A, "k", "   ", 0, "not JSON"},
    {A, "k", "hello", 0, "not JSON"},
    {A, "k", "{", 0, "not JSON"},
    {A, "k", "{'id':1}", 0, "not JSON"},
    {A, "k", "{\"id\":1,}", 0, "not JSON"},
    {A, "k", "{\"id\":01}", 0, "not JSON"},
    {A, "k", "{\"id\":1} {}", 0, "not JSON"},
    {A, "k", "{\"id\":NaN}", 0, "not JSON"},
    {A, "k", "{\"id\":+1}", 0, "not JSON"},
    {A, "k", "{\"id\":.5}", 0, "not JSON"},
    {A, "k", "{\"a\":\"\\x\"}", 0, "not JSON"},
    {A, "k", "{\"a\":\"tab\there\"}", 0, "not JSON"},
    {A, "k", "\xef\xbb\xbf" AUC(""), 0, "not JSON"},          /* a BOM */
    {A, "k", AUC(",\"zz\":\"\xff\""), 0, "not JSON"},         /* not UTF-8 */
    {A, "k", AUC(",\"zz\":\"\xc0\xaf\""), 0, "not JSON"},     /* overlong */
    {A, "k", AUC(",\"zz\":\"\xed\xa0\x80\""), 0, "not JSON"}, /* an encoded surrogate */
    {A, "k", AUC(",\"extra\":\"\\ud800\""), 0, "not JSON"},   /* a lone surrogate */
    {A, "k", AUC(",\"zz\":\"\\udc00\\ud800\""), 0, "not JSON"},
    {A, "k", AUC(",\"zz\":\"a\\\\ud800\""), 0, NULL}, /* an escaped backslash, no escape */
    {A, "k", "{\"a\":1}\v", 0, "not JSON"},
    {A, "k", "{\"id\":1}\0", 9, "not JSON"},
    {A, "k", "[1,2]", 0, "not an object"},
    {A, "k", "42", 0, "not an object"},
    {A, "k", "\"{}\"", 0, "not an object"},
    {A, "k", "null", 0, "not an object"},
    {A, "k", " true ", 0, "not an object"},
    /* bids */
    {B, "1000", BID(""), 0, NULL},
    {B, NULL, BID(""), 0, NULL},
    {B, "b", BID(",\"price\":125"), 0, NULL}, /* 113.5 → 114 */
    {B, "b", BID(",\"price\":1"), 0, NULL},   /* 0.908 → 1 */
    {B, "b", BID(",\"price\":500"), 0, NULL}, /* 454 */
    {B, "b", BID(",\"price\":9007199254740991"), 0, NULL},
    {B, "b", BID(",\"price\":4503599627370496"), 0, NULL}, /* exact 4089268461652410; a
                                                               double product rounds up */
    {B, "b", BID(",\"price\":\"12\""), 0, "wrong type: price"},
    {B, "b", BID(",\"price\":12.5"), 0, "wrong type: price"},
    {B, "b", BID(",\"url\":null"), 0, "wrong type: url"},
    {B, "b", BID(",\"channel\":[]"), 0, "wrong type: channel"},
    {B, "b", "{\"auction\":1,\"price\":3}", 0, "missing field: bidder"},
    {B, "b",
     "{\"auction\":1,\"bidder\":2,\"price\":3,\"channel\":\"c\",\"url\":\"u\","
     "\"dateTime\":4}",
     0, "missing field: extra"},
    {B, "b", BID(",\"auction\":-5"), 0, "auction must be > 0"},
    {B, "b", BID(",\"bidder\":0"), 0, "bidder must be > 0"},
    {B, "b", BID(",\"price\":0"), 0, "price must be > 0"},
    {B, "b", BID(",\"price\":-12345"), 0, "price must be > 0"},
    {B, "b", "not a bid", 0, "not JSON"},
    {B, "b", NULL, 0, "not JSON"},
    {B, "b", "[{}]", 0, "not an object"},
    {B, "b", AUC(""), 0, "missing field: auction"},
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))

/* ---------------------------------------------------------------- events under test */

typedef struct ev_s {
    auction_rules_kind_t kind;
    const char *key;
    const char *value;
    size_t len;
    const char *want_reason; /* "-" : not checked (NEXMark events check it themselves) */
    char name[96];
    /* What the C rules give. */
    int rc;
    const char *reason;
    rill_buf_t out_key, out_value;
} ev_t;

typedef struct evs_s {
    ev_t *v;
    size_t n, cap;
    rill_buf_t pool; /* NEXMark texts, kept until the end */
} evs_t;

static ev_t *evs_add(evs_t *e) {
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 256;
        e->v = realloc(e->v, e->cap * sizeof(*e->v));
        cr_assert(e->v);
    }
    memset(&e->v[e->n], 0, sizeof(e->v[0]));
    return &e->v[e->n++];
}

static void evs_free(evs_t *e) {
    for (size_t i = 0; i < e->n; i++) {
        rill_buf_free(&e->v[i].out_key);
        rill_buf_free(&e->v[i].out_value);
        if (e->v[i].want_reason && !strcmp(e->v[i].want_reason, "-")) {
            free((char *)e->v[i].value);
            free((char *)e->v[i].key);
        }
    }
    free(e->v);
}

static void run_c(ev_t *ev) {
    ev->rc = auction_rules_validate(ev->kind, ev->value, ev->len, &ev->out_key, &ev->out_value,
                                    NULL, &ev->reason);
    cr_assert(ev->rc == 0 || ev->rc == 1, "%s: C rules returned %d", ev->name, ev->rc);
    if (ev->rc == 0)
        cr_assert_null(ev->reason);
    else
        cr_assert(ev->reason && ev->out_key.len == 0, "%s", ev->name);
    /* The output is canonical: json-c reads and writes it back unchanged (what the bridge
     * does to a function's value). */
    char *text = strndup(ev->out_value.data, ev->out_value.len);
    json_object *o = json_tokener_parse(text);
    cr_assert(o, "%s: C output is not JSON: %s", ev->name, text);
    const char *again =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    cr_assert_str_eq(again, text, "%s: C output is not canonical", ev->name);
    json_object_put(o);
    free(text);
}

/* ---------------------------------------------------------------- HTTP */

typedef struct fn_s {
    char url[256];
    pid_t pid; /* started here, or 0 */
    char *log;
} fn_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *opaque) {
    return rill_buf_append(opaque, p, size * nmemb) ? 0 : size * nmemb;
}

/* POST body to url with headers; returns the status, the answer in out. */
static long http_post(const char *url, struct curl_slist *headers, const void *body, size_t len,
                      rill_buf_t *out) {
    CURL *c = curl_easy_init();
    long status = -1;
    cr_assert(c);
    rill_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, len ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static bool http_get_is(const char *url, const char *want) {
    CURL *c = curl_easy_init();
    rill_buf_t out = {0};
    long status = -1;
    if (!c)
        return false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    bool ok = status == 200 && out.len == strlen(want) && !memcmp(out.data, want, out.len);
    rill_buf_free(&out);
    return ok;
}

/* The source tree's root (RILL_SOURCE_DIR, else from this file's path). The caller frees. */
static char *source_root(void) {
    const char *src = getenv("RILL_SOURCE_DIR");
    char *root;
    if (src && *src)
        return strdup(src);
    const char *self = __FILE__, *tail = strstr(self, "/tests/topologies/test_auction_rules.c");
    cr_assert(self[0] == '/' && tail, "cannot find the source tree: set RILL_SOURCE_DIR");
    root = strndup(self, (size_t)(tail - self));
    return root;
}

static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool ok;
    if (fd < 0)
        return false;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* The target's URL from the environment, else a Functions Framework started here. */
static void fn_get(fn_t *fn, const char *target, const char *env) {
    const char *url = getenv(env);
    char want[64];

    memset(fn, 0, sizeof(*fn));
    snprintf(want, sizeof(want), "{\"target\":\"%s\"}", target);
    if (url && *url) {
        snprintf(fn->url, sizeof(fn->url), "%s", url);
        cr_assert(http_get_is(fn->url, want), "%s=%s does not answer as %s", env, url, target);
        cr_log_info("%s: %s (from %s)", target, fn->url, env);
        return;
    }
    char *root = source_root(), *preload, *main_js, *source, *target_arg, *port_arg, *name;
    int port = 0;
    cr_assert(asprintf(&preload, "%s/faas_bridge/functions/listen-host.js", root) > 0);
    cr_assert(asprintf(&main_js,
                       "%s/faas_bridge/functions/node_modules/@google-cloud/functions-framework/"
                       "build/src/main.js",
                       root) > 0);
    if (access(main_js, R_OK))
        cr_assert_fail("%s is missing: run scripts/functions.sh start once (it runs npm ci), or "
                       "set %s",
                       main_js, env);
    cr_assert(asprintf(&source, "--source=%s/topologies/auction/functions", root) > 0);
    cr_assert(asprintf(&target_arg, "--target=%s", target) > 0);
    for (unsigned t = 0; t < 400 && !port; t++) {
        int p =
            20000 + (int)(((unsigned)getpid() * 53u + t * 131u + (unsigned)strlen(target)) % 8000u);
        if (port_free(p))
            port = p;
    }
    cr_assert(port, "no free port");
    cr_assert(asprintf(&port_arg, "--port=%d", port) > 0);
    cr_assert(asprintf(&name, "fn-%s-%d.log", target, port) > 0);
    fn->log = rt_tmp_path(name);
    char *argv[] = {"/usr/bin/env",
                    "RILL_FUNCTIONS_HOST=127.0.0.1",
                    "node",
                    "-r",
                    preload,
                    main_js,
                    source,
                    target_arg,
                    port_arg,
                    "--signature-type=http",
                    NULL};
    fn->pid = rt_spawn(argv, fn->log);
    snprintf(fn->url, sizeof(fn->url), "http://127.0.0.1:%d/", port);
    int64_t deadline = rt_now_ms() + 30000;
    while (!http_get_is(fn->url, want)) {
        if (rt_wait(fn->pid, 0) != -1 || rt_now_ms() > deadline) {
            rt_log_tail(fn->log, 30);
            cr_assert_fail("%s did not start on port %d (log %s)", target, port, fn->log);
        }
        usleep(100 * 1000);
    }
    cr_log_info("%s: started on %s", target, fn->url);
    free(root), free(preload), free(main_js), free(source), free(target_arg), free(port_arg),
        free(name);
}

static void fn_stop(fn_t *fn) {
    if (fn->pid > 0) {
        rt_kill(fn->pid, SIGTERM);
        if (rt_wait(fn->pid, 5000) == -1) {
            rt_kill(fn->pid, SIGKILL);
            rt_wait(fn->pid, 5000);
        }
    }
    free(fn->log);
}

/* ---------------------------------------------------------------- the bridge's encoding */

static bool utf8_ok(const char *p, size_t n) {
    scan_t s = {(const unsigned char *)p, n, 0};
    while (s.i < n) {
        if (s.p[s.i] < 0x80)
            s.i++;
        else if (utf8_seq(&s))
            return false;
    }
    return true;
}

/* How the bridge classifies a value (faas_bridge/wire_common.c rill__wire_classify). */
typedef enum { W_NULL, W_JSON, W_TEXT, W_BINARY } wkind_t;

static wkind_t classify(const ev_t *ev) {
    if (!ev->value)
        return W_NULL;
    size_t i = 0;
    while (i < ev->len && strchr(" \t\n\r", ev->value[i]) && ev->value[i])
        i++;
    if (i < ev->len && json_strict((const unsigned char *)ev->value, ev->len) == 1)
        return W_JSON;
    return utf8_ok(ev->value, ev->len) ? W_TEXT : W_BINARY;
}

static void json_str(rill_buf_t *b, const char *s, size_t len) {
    json_object *o = json_object_new_string_len(s, (int)len);
    size_t n;
    const char *t = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    cr_assert(!rill_buf_append(b, t, n));
    json_object_put(o);
}

static void cat(rill_buf_t *b, const char *s) {
    cr_assert(!rill_buf_append(b, s, strlen(s)));
}

static void base64(rill_buf_t *b, const unsigned char *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {t[v >> 18 & 63], t[v >> 12 & 63], i + 1 < n ? t[v >> 6 & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        cr_assert(!rill_buf_append(b, q, 4));
    }
}

/* The answer the function must give for ev (one "results" entry), from the C outputs. */
static void expected_entry(rill_buf_t *b, const ev_t *ev, const char *id) {
    cat(b, "{\"id\":");
    json_str(b, id, strlen(id));
    cat(b, ",\"records\":[{");
    if (ev->rc == 0) {
        cat(b, "\"key\":");
        json_str(b, ev->out_key.data, ev->out_key.len);
        cat(b, ",");
    } else if (ev->key && *ev->key) {
        cat(b, "\"key\":");
        json_str(b, ev->key, strlen(ev->key));
        cat(b, ",");
    }
    cat(b, "\"value\":");
    cr_assert(!rill_buf_append(b, ev->out_value.data, ev->out_value.len));
    cat(b, "}]}");
}

static void assert_same(const rill_buf_t *want, const rill_buf_t *got, const char *what) {
    if (want->len == got->len && !memcmp(want->data, got->data, want->len))
        return;
    size_t i = 0;
    while (i < want->len && i < got->len && want->data[i] == got->data[i])
        i++;
    size_t from = i > 60 ? i - 60 : 0;
    cr_assert_fail("%s: the function's answer differs from the C rules' at byte %zu\n"
                   "  C : ...%.*s\n  JS: ...%.*s",
                   what, i, (int)(want->len - from > 200 ? 200 : want->len - from),
                   want->data + from, (int)(got->len - from > 200 ? 200 : got->len - from),
                   got->data + from);
}

/* Every event alone, in binary mode (as the bridge sends one record). */
static void check_single(const fn_t *fn, const ev_t *ev, const char *id) {
    struct curl_slist *h = NULL;
    char line[512];
    rill_buf_t want = {0}, got = {0};
    static const char *ctype[] = {"text/plain; charset=utf-8", "application/json",
                                  "text/plain; charset=utf-8", "application/octet-stream"};
    wkind_t k = classify(ev);
    const char *ct = ctype[k];
    if (k == W_JSON) {
        size_t i = 0;
        while (strchr(" \t\n\r", ev->value[i]))
            i++;
        if (ev->value[i] != '{' && ev->value[i] != '[')
            ct = "text/plain; charset=utf-8";
    }
    h = curl_slist_append(h, "ce-specversion: 1.0");
    snprintf(line, sizeof(line), "ce-id: %s", id);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "ce-source: /rill");
    h = curl_slist_append(h, "ce-type: dev.rill.record");
    if (ev->key && *ev->key) {
        snprintf(line, sizeof(line), "ce-partitionkey: %s", ev->key);
        h = curl_slist_append(h, line);
    }
    snprintf(line, sizeof(line), "Content-Type: %s", ct);
    h = curl_slist_append(h, line);
    long status = http_post(fn->url, h, ev->value, ev->value ? ev->len : 0, &got);
    curl_slist_free_all(h);
    cr_assert_eq(status, 200, "%s: HTTP %ld: %.*s", ev->name, status, (int)got.len, got.data);
    cat(&want, "{\"results\":[");
    expected_entry(&want, ev, id);
    cat(&want, "]}");
    assert_same(&want, &got, ev->name);
    rill_buf_free(&want);
    rill_buf_free(&got);
}

/* All events of one kind in one structured batch (as the bridge sends several records). */
static void check_batch(const fn_t *fn, const evs_t *e, auction_rules_kind_t kind,
                        const char *topic) {
    rill_buf_t body = {0}, want = {0}, got = {0};
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/cloudevents-batch+json");
    size_t cnt = 0;
    char id[96];

    cat(&body, "[");
    cat(&want, "{\"results\":[");
    for (size_t i = 0; i < e->n; i++) {
        const ev_t *ev = &e->v[i];
        if (ev->kind != kind)
            continue;
        snprintf(id, sizeof(id), "%s-0-%zu", topic, i);
        if (cnt++) {
            cat(&body, ",");
            cat(&want, ",");
        }
        cat(&body, "{\"specversion\":\"1.0\",\"id\":");
        json_str(&body, id, strlen(id));
        cat(&body, ",\"source\":\"/rill\",\"type\":\"dev.rill.record\"");
        wkind_t k = classify(ev);
        if (k != W_NULL)
            cat(&body, k == W_JSON ? ",\"datacontenttype\":\"application/json\""
                                   : ",\"datacontenttype\":\"application/octet-stream\"");
        if (ev->key && *ev->key) {
            cat(&body, ",\"partitionkey\":");
            json_str(&body, ev->key, strlen(ev->key));
        }
        if (k == W_JSON) {
            cat(&body, ",\"data\":");
            cr_assert(!rill_buf_append(&body, ev->value, ev->len));
        } else if (k == W_TEXT) {
            cat(&body, ",\"data\":");
            json_str(&body, ev->value, ev->len);
        } else if (k == W_BINARY) {
            cat(&body, ",\"data_base64\":\"");
            base64(&body, (const unsigned char *)ev->value, ev->len);
            cat(&body, "\"");
        }
        cat(&body, "}");
        expected_entry(&want, ev, id);
    }
    cat(&body, "]");
    cat(&want, "]}");
    long status = http_post(fn->url, h, body.data, body.len, &got);
    curl_slist_free_all(h);
    cr_assert_eq(status, 200, "batch of %s: HTTP %ld: %.200s", topic, status, got.data);
    assert_same(&want, &got, topic);
    cr_log_info("%s: a batch of %zu events, %zu bytes answered identically", topic, cnt, got.len);
    rill_buf_free(&body);
    rill_buf_free(&want);
    rill_buf_free(&got);
}

/* ---------------------------------------------------------------- NEXMark events */

#ifdef HAVE_NEXMARK
/* Events 0..n of NEXMark with 30% invalid: the C rules must find each one's documented fault. */
static void add_nexmark(evs_t *e, uint64_t n) {
    nexmark_config_t cfg;
    char err[128];
    nexmark_config_init(&cfg);
    cfg.invalid_fraction = 0.3;
    cr_assert(!nexmark_config_check(&cfg, err, sizeof(err)), "%s", err);
    size_t seen[6] = {0};
    for (uint64_t i = 0; i < n; i++) {
        nexmark_event_t nev;
        nexmark_event_at(&cfg, i, &nev);
        if (nev.kind == NEXMARK_PERSON)
            continue;
        rill_buf_t json = {0};
        char key[NEXMARK_KEY_MAX];
        cr_assert(!nexmark_event_json(&nev, &json));
        nexmark_event_key(&nev, key);
        ev_t *ev = evs_add(e);
        ev->kind = nev.kind == NEXMARK_BID ? AUCTION_RULES_BID : AUCTION_RULES_AUCTION;
        ev->value = strndup(json.data, json.len);
        ev->len = json.len;
        ev->key = strdup(key);
        ev->want_reason = "-";
        snprintf(ev->name, sizeof(ev->name), "nexmark event %llu (%s, %s)", (unsigned long long)i,
                 nexmark_kind_name(nev.kind), nexmark_invalid_name(nev.invalid));
        rill_buf_free(&json);
        run_c(ev);
        char reason_buf[64];
        const char *want = rt_auction_reason(&nev, reason_buf, sizeof(reason_buf));
        if (want)
            cr_assert(ev->rc == 1 && !strcmp(ev->reason, want), "%s: C says %s, want %s", ev->name,
                      ev->reason ? ev->reason : "valid", want);
        else
            cr_assert(ev->rc == 0, "%s: C rejects it: %s", ev->name, ev->reason);
        seen[nev.invalid]++;
    }
    for (int k = 0; k < 6; k++)
        cr_assert(seen[k] > 0 || k == 0, "no NEXMark event of kind %d", k);
}
#endif

/* ---------------------------------------------------------------- tests */

static void add_cases(evs_t *e) {
    for (size_t i = 0; i < NCASES; i++) {
        const tcase_t *c = &CASES[i];
        ev_t *ev = evs_add(e);
        ev->kind = c->kind;
        ev->key = c->key;
        ev->value = c->value;
        ev->len = c->value ? (c->len ? c->len : strlen(c->value)) : 0;
        ev->want_reason = c->reason;
        snprintf(ev->name, sizeof(ev->name), "case %zu (%s)", i, c->reason ? c->reason : "valid");
        run_c(ev);
        if (c->reason)
            cr_assert(ev->rc == 1 && !strcmp(ev->reason, c->reason), "%s: C says %s", ev->name,
                      ev->reason ? ev->reason : "valid");
        else
            cr_assert(ev->rc == 0, "%s: C rejects it: %s", ev->name, ev->reason);
    }
}

Test(auction_rules, c_rules_alone) {
    evs_t e = {0};
    add_cases(&e);
    /* A few outputs spelt out (the format README.md documents). */
    cr_assert_str_eq(
        e.v[0].out_value.data,
        "{\"id\":1000,\"itemName\":\"item\",\"description\":\"desc\",\"initialBid\":100,"
        "\"reserve\":150,\"dateTime\":1700000000000,\"expires\":1700000060000,"
        "\"seller\":42,\"category\":10,\"extra\":\"\",\"durationMs\":60000}");
    cr_assert_str_eq(e.v[0].out_key.data, "1000");
    for (size_t i = 0; i < e.n; i++) {
        const ev_t *ev = &e.v[i];
        if (ev->kind == B && ev->rc == 0 && strstr(ev->value, "\"price\":125}")) {
            cr_assert(strstr(ev->out_value.data, ",\"priceEur\":114}"), "%s", ev->out_value.data);
        }
        if (ev->kind == B && ev->rc == 0 && strstr(ev->value, "\"price\":4503599627370496}"))
            cr_assert(strstr(ev->out_value.data, ",\"priceEur\":4089268461652410}"), "%s",
                      ev->out_value.data);
        if (ev->rc == 1 && !strcmp(ev->reason, "reserve < initialBid"))
            cr_assert_str_eq(ev->out_value.data, "{\"rejected\":\"reserve < initialBid\"}");
    }
    /* The simple API agrees with the record API. */
    rill_buf_t out = {0};
    const char *why;
    cr_assert_eq(auction_validate(CASES[0].value, strlen(CASES[0].value), &out, &why), 0);
    cr_assert_null(why);
    cr_assert_eq(out.len, e.v[0].out_value.len);
    rill_buf_reset(&out);
    cr_assert_eq(bid_validate("{\"auction\":1}", 13, &out, &why), 1);
    cr_assert_str_eq(why, "missing field: bidder");
    cr_assert_eq(out.len, 0);
    rill_buf_free(&out);
    evs_free(&e);
}

Test(auction_rules, c_and_functions_agree_byte_for_byte, .timeout = 300) {
    evs_t e = {0};
    fn_t fa, fb;
    char id[96];

    curl_global_init(CURL_GLOBAL_DEFAULT);
    add_cases(&e);
    /* Deep nesting in an unknown member: no depth limit on either side. */
    {
        size_t depth = 20000;
        char *v = malloc(depth * 2 + 300);
        size_t n = 0;
        n += (size_t)sprintf(v, "{\"deep\":");
        memset(v + n, '[', depth), n += depth;
        memset(v + n, ']', depth), n += depth;
        n += (size_t)sprintf(v + n, ",%s", AUC("") + 1);
        ev_t *ev = evs_add(&e);
        ev->kind = A;
        ev->key = strdup("deep");
        ev->value = v;
        ev->len = n;
        ev->want_reason = "-";
        snprintf(ev->name, sizeof(ev->name), "deeply nested member");
        run_c(ev);
        cr_assert_eq(ev->rc, 0, "%s: %s", ev->name, ev->reason);
    }
#ifdef HAVE_NEXMARK
    add_nexmark(&e, 3000);
#endif
    fn_get(&fa, "validate-auction", "RILL_TEST_FN_VALIDATE_AUCTION");
    fn_get(&fb, "validate-bid", "RILL_TEST_FN_VALIDATE_BID");
    for (size_t i = 0; i < e.n; i++) {
        const ev_t *ev = &e.v[i];
        snprintf(id, sizeof(id), "%s-0-%zu",
                 ev->kind == A ? "auction.auctions.raw" : "auction.bids.raw", i);
        check_single(ev->kind == A ? &fa : &fb, ev, id);
    }
    cr_log_info("%zu events one by one answered identically", e.n);
    check_batch(&fa, &e, A, "auction.auctions.raw");
    check_batch(&fb, &e, B, "auction.bids.raw");
    fn_stop(&fa);
    fn_stop(&fb);
    evs_free(&e);
    curl_global_cleanup();
}
