/*
 * faas_fn_ceiling.c — bench-faas-fn-ceiling: what the function runtime alone can serve, the
 * ceiling of the FaaS throughput grid. A plain libcurl multi client (no Rill code) keeps C
 * requests in flight to a CloudEvents function, each a batch of B events shaped as Rill's
 * bridge sends them, and counts the calls answered per second.
 *
 *   bench-faas-fn-ceiling --url URL --batch B --in-flight C [--warmup-s S (1)]
 *                         [--seconds S (5)] [--value-bytes N (100)] [--fn-pid PID]
 *                         [--id-prefix TOPIC-PARTITION (bench.ceiling-0)]
 *
 * Prints one line:
 *   RESULT prog=faas-fn-ceiling batch=B in_flight=C calls=N window_s=W calls_per_s=...
 *          rate=records/s mean_call_ms=... cpu_s=... fn_cpu_s=... fn_busy=fn_cpu_s/W
 *          fn_cpu_s_per_m=... errors=N
 * fn_busy near 1.0 means the (single-threaded) function process was the limit.
 *
 * DESIGN
 * The bodies are what faas_bridge/wire_cloudevents.c writes for a batch of B > 1 records
 * with text values (a structured application/cloudevents-batch+json array of events with
 * specversion, id, source, type, time, datacontenttype, partitionkey and data), and a
 * binary-mode event (ce-* headers, the value as the body) for B = 1, so that the function
 * does the same parsing and answering work as behind the bridge. Values are 100 printable
 * bytes (datacontenttype text/plain, as the bridge declares printable values), keys "k<i>",
 * ids "<id-prefix>-<i>-0" as the bridge names the first record from offset i of a
 * topic-partition: with the input's topic and partition as --id-prefix the function parses
 * and echoes ids as long as in the Rill runs (a 20-byte shorter id made it ~10% cheaper per
 * record at B = 1000). Requests reuse C keep-alive connections, as the
 * bridge's pooled handles do. Calls answered in the first --warmup-s seconds are not
 * counted; the window then spans --seconds, closed at the first completion after it.
 * Baseline code: it links libcurl only, as bench-raw-passthrough links librdkafka only.
 */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "faas_bench.h"

#define MAX_IN_FLIGHT 256

typedef struct ceil_opts_s {
    const char *url;
    const char *id_prefix;
    long batch, in_flight, warmup_s, seconds, value_bytes, fn_pid;
} ceil_opts_t;

typedef struct call_s {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    size_t body_len;
    size_t got; /* response bytes, discarded */
    double sent;
} call_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
    call_t *c = userdata;
    (void)data;
    c->got += size * nmemb;
    return size * nmemb;
}

/* Appends a printable value of n bytes determined by i. */
static void make_value(char *out, long n, unsigned long i) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned long long x = 0x9E3779B97F4A7C15ull * (i + 1);
    for (long b = 0; b < n; b++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[b] = alphabet[x & 63];
    }
    out[n] = '\0';
}

/* Builds the next request of c: body and headers for call number seq. */
static int build_call(call_t *c, const ceil_opts_t *o, unsigned long seq) {
    char value[1024], line[512];
    size_t cap = (size_t)o->batch * ((size_t)o->value_bytes + 320 + strlen(o->id_prefix)) + 16;
    free(c->body);
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    if (!(c->body = malloc(cap)))
        return -1;
    size_t len = 0;
    unsigned long first = seq * (unsigned long)o->batch;
    if (o->batch == 1) {
        make_value(value, o->value_bytes, first);
        len = (size_t)snprintf(c->body, cap, "%s", value);
        const char *fixed[] = {"ce-specversion: 1.0",
                               "ce-source: /rill/fn",
                               "ce-type: dev.rill.record",
                               "ce-time: 2026-01-01T00:00:00.000Z",
                               "Content-Type: text/plain; charset=utf-8",
                               "Expect:"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
            c->hdrs = curl_slist_append(c->hdrs, fixed[i]);
        snprintf(line, sizeof(line), "ce-id: %s-%lu-0", o->id_prefix, first);
        c->hdrs = curl_slist_append(c->hdrs, line);
        snprintf(line, sizeof(line), "ce-partitionkey: k%lu", first);
        c->hdrs = curl_slist_append(c->hdrs, line);
    } else {
        c->body[len++] = '[';
        for (long r = 0; r < o->batch; r++) {
            make_value(value, o->value_bytes, first + (unsigned long)r);
            len += (size_t)snprintf(
                c->body + len, cap - len,
                "%s{\"specversion\":\"1.0\",\"id\":\"%s-%lu-0\",\"source\":\"/rill/fn\","
                "\"type\":\"dev.rill.record\",\"time\":\"2026-01-01T00:00:00.000Z\","
                "\"datacontenttype\":\"text/plain; charset=utf-8\",\"partitionkey\":\"k%lu\","
                "\"data\":\"%s\"}",
                r ? "," : "", o->id_prefix, first + (unsigned long)r, first + (unsigned long)r,
                value);
        }
        c->body[len++] = ']';
        c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/cloudevents-batch+json");
        c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    }
    c->body_len = len;
    c->got = 0;
    curl_easy_setopt(c->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 30000L);
    return c->hdrs ? 0 : -1;
}

static int parse_args(int argc, char **argv, ceil_opts_t *o) {
    *o = (ceil_opts_t){
        .id_prefix = "bench.ceiling-0", .warmup_s = 1, .seconds = 5, .value_bytes = 100};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        long *dst = NULL;
        if (!strcmp(a, "--url")) {
            o->url = v;
            continue;
        }
        if (!strcmp(a, "--id-prefix")) {
            o->id_prefix = v;
            continue;
        }
        if (!strcmp(a, "--batch"))
            dst = &o->batch;
        else if (!strcmp(a, "--in-flight"))
            dst = &o->in_flight;
        else if (!strcmp(a, "--warmup-s"))
            dst = &o->warmup_s;
        else if (!strcmp(a, "--seconds"))
            dst = &o->seconds;
        else if (!strcmp(a, "--value-bytes"))
            dst = &o->value_bytes;
        else if (!strcmp(a, "--fn-pid"))
            dst = &o->fn_pid;
        else
            return -1;
        if ((*dst = faas_bench_parse_count0(v)) < 0)
            return -1;
    }
    return argc % 2 == 1 && o->url && o->batch > 0 && o->in_flight > 0 &&
                   o->in_flight <= MAX_IN_FLIGHT && o->seconds > 0 && o->value_bytes > 0 &&
                   o->value_bytes < 1000 && strlen(o->id_prefix) < 256
               ? 0
               : -1;
}

int main(int argc, char **argv) {
    ceil_opts_t o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: bench-faas-fn-ceiling --url URL --batch B --in-flight C "
                        "[--warmup-s S (1)] [--seconds S (5)] [--value-bytes N (100)] "
                        "[--fn-pid PID] [--id-prefix TOPIC-PARTITION]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, o.in_flight);
    call_t calls[MAX_IN_FLIGHT] = {{0}};
    unsigned long seq = 0;
    for (long i = 0; i < o.in_flight; i++) {
        calls[i].easy = curl_easy_init();
        if (!calls[i].easy || build_call(&calls[i], &o, seq++))
            return 1;
        calls[i].sent = bench_now();
        curl_multi_add_handle(multi, calls[i].easy);
    }
    double t0 = bench_now(), w_start = 0, cpu0 = 0, fn0 = 0, call_ms = 0;
    long counted = 0, errors = 0;
    int running = 1, in_window = 0;
    double w_end = 0;
    for (;;) {
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left, stop = 0;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            call_t *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
            int ok = msg->data.result == CURLE_OK && status == 200;
            curl_multi_remove_handle(multi, c->easy);
            double now = bench_now();
            if (!in_window && now - t0 >= (double)o.warmup_s) {
                in_window = 1;
                w_start = now;
                cpu0 = bench_cpu();
                fn0 = faas_bench_proc_cpu(o.fn_pid);
            } else if (in_window) {
                counted++;
                call_ms += (now - c->sent) * 1e3;
                errors += !ok;
                if (now - w_start >= (double)o.seconds) {
                    w_end = now;
                    stop = 1;
                    break;
                }
            }
            if (build_call(c, &o, seq++))
                return 1;
            c->sent = bench_now();
            curl_multi_add_handle(multi, c->easy);
        }
        if (stop)
            break;
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double cpu = bench_cpu() - cpu0, fn1 = faas_bench_proc_cpu(o.fn_pid);
    double window = w_end - w_start, fn = (fn0 >= 0 && fn1 >= 0) ? fn1 - fn0 : -1;
    double records = (double)counted * (double)o.batch;
    char s_fn[32] = "nan", s_busy[32] = "nan", s_fn_m[32] = "nan";
    if (fn >= 0) {
        snprintf(s_fn, sizeof(s_fn), "%.3f", fn);
        snprintf(s_busy, sizeof(s_busy), "%.3f", fn / window);
        snprintf(s_fn_m, sizeof(s_fn_m), "%.3f", fn / (records / 1e6));
    }
    printf("RESULT prog=faas-fn-ceiling batch=%ld in_flight=%ld calls=%ld window_s=%.3f "
           "calls_per_s=%.1f rate=%.1f mean_call_ms=%.2f cpu_s=%.3f fn_cpu_s=%s fn_busy=%s "
           "fn_cpu_s_per_m=%s errors=%ld\n",
           o.batch, o.in_flight, counted, window, (double)counted / window, records / window,
           counted ? call_ms / (double)counted : 0.0, cpu, s_fn, s_busy, s_fn_m, errors);
    for (long i = 0; i < o.in_flight; i++) {
        curl_multi_remove_handle(multi, calls[i].easy);
        curl_easy_cleanup(calls[i].easy);
        curl_slist_free_all(calls[i].hdrs);
        free(calls[i].body);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
