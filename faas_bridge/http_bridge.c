/*
 * http_bridge.c — the bridge thread: one libcurl multi handle that runs every FaaS stage's
 * HTTP requests concurrently and hands each completion back to the stream thread that
 * submitted it.
 *
 * DESIGN
 * Threads. Stream threads call rill__http_submit(): it appends a job to the submission queue
 * under http->lock and wakes the bridge thread with curl_multi_wakeup(), the one libcurl
 * call that is safe from another thread. The bridge thread alone touches the multi handle,
 * the easy handles and the jobs in flight. It sleeps in curl_multi_poll() (sockets, libcurl's
 * timers, or a wake-up) and never spins.
 * Limits. At most max_in_flight transfers run at once process-wide; the rest wait in the
 * submission queue in submit order (FIFO) and start as transfers finish. libcurl keeps at
 * most max_connections connections (per host and in all) and reuses them: finished easy
 * handles go back to a pool and connections stay in the multi handle's cache. Where a server
 * offers HTTP/2 (over TLS, by ALPN) transfers are multiplexed on one connection. Each
 * completion says how many connections its transfer opened (CURLINFO_NUM_CONNECTS), so the
 * stages can count them (rill_faas_connections_opened_total) and reuse can be checked.
 * Ownership. A job is a rill__http_done_t with the bridge's bookkeeping behind it; the
 * submitter's request memory is borrowed until the completion has been taken. On completion
 * the job's easy handle is reset and pooled, its header list freed, and the job is pushed on
 * the submitter's completion queue; from then on it belongs to the submitter, who frees it
 * with rill__http_done_free(). A completion queue wakes its stream thread only when it goes
 * from empty to non-empty (a taker always takes everything), and calls the wake-up with the
 * queue's lock held so that the queue cannot be destroyed under a wake-up in progress.
 * HTTP/2 over cleartext (h2c, a request's h2c flag). Multiplexing calls to an http:// function
 * needs HTTP/2 with prior knowledge, and libcurl 7.88 breaks it: a transfer that asks for
 * prior knowledge and reuses a connection sets up a second HTTP/2 layer on it ("Error in the
 * HTTP2 framing layer"; fixed in libcurl 8.0). So only an opener asks for prior knowledge,
 * always on a fresh connection (CURLOPT_FRESH_CONNECT); every other h2c transfer asks for
 * plain HTTP/2 with PIPEWAIT, which reuses (or waits for) a multiplexed connection and would
 * only open a new one as HTTP/1.1 with an Upgrade that such a function refuses: its socket
 * callback refuses the socket instead, and the transfer starts again. One opener at a time:
 * a transfer is the opener when no opener is under way and either it was refused or no h2c
 * connection is open (counted from the openers' socket callbacks); a refused transfer that
 * finds an opener under way waits (h2_waiting, keeping its place in max_in_flight) until no
 * opener is, then starts again and joins the opener's connection, by then known to speak
 * HTTP/2. Why calls get refused under load: libcurl 7.88 resets every stream it has finished
 * (RST_STREAM after the response), and HTTP/2 servers that guard against rapid resets
 * (nghttp2 1.57 and later, so node's: 1000 resets at once, then 33 a second) end such a
 * connection with GOAWAY after about a thousand calls. libcurl then sends the calls that were
 * in flight on it again, each wanting a new connection; they are refused, and without the
 * wait each became an opener (two to nine connections per lost one). Now a lost connection
 * costs one new one. A function that allows fewer streams than the calls sent refuses the
 * extra ones (REFUSED_STREAM); libcurl and then the stage retry them.
 * bench/h2c/h2c_repro.sh shows the libcurl failure and this way around it.
 * Limits on what comes back. A response body larger than the request's max_body_bytes (6
 * MiB by default) stops the transfer and fails the request with that reason. Only http and
 * https are allowed (CURLOPT_PROTOCOLS_STR, also for redirects, which are not followed), and
 * credentials (SigV4, a session token) go only over https or to a loopback host.
 * Shutdown. rill__http_destroy() sets stopping and wakes the thread, which completes every
 * job in flight or still queued with CURLE_ABORTED_BY_CALLBACK, then exits and is joined.
 */
#include "bridge_int.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_POLL_MS 1000                  /* longest sleep when libcurl has no timer due */
#define HTTP_MAX_RETRY_AFTER_S (24 * 3600) /* Retry-After values are capped to one day */

/* libcurl writes its error text straight into the response. */
_Static_assert(sizeof(((rill__http_resp_t *)0)->error) >= CURL_ERROR_SIZE,
               "rill__http_resp_t.error must hold CURL_ERROR_SIZE bytes");

typedef struct rill__http_job_s {
    rill__http_done_t done; /* first: the completion handed back, freed as a whole */
    rill__http_cq_t *cq;
    CURL *easy;
    struct curl_slist *hdrs;
    struct rill__http_job_s *prev, *next; /* the list of transfers in flight, or of the
                                             h2c calls waiting for an opener (next only) */
    size_t body_cap;
    size_t max_body; /* the request's bound of the response body */
    bool too_large;  /* the body passed max_body: the transfer was stopped */
    bool h2_opener;  /* h2c: opens its own connection with prior knowledge */
    bool h2_refused; /* h2c: refused to open a connection as a non-opener; starts again */
    double submitted_ms;
} rill__http_job_t;

struct rill__http_s {
    pthread_t thread;
    CURLM *multi;
    int max_in_flight;
    pthread_mutex_t lock;                       /* guards queue_* and stopping */
    rill__http_done_t *queue_head, *queue_tail; /* submitted, not started (jobs) */
    bool stopping;
    int in_flight;      /* gauge, atomic */
    uint64_t completed; /* counter, atomic */
    uint64_t connects;  /* connections opened, atomic */
    /* Bridge thread only. */
    rill__http_job_t *active;
    int active_cnt;
    CURL **pool;
    int pool_cnt;
    int h2_conns;   /* h2c sockets the openers opened and libcurl has not closed */
    int h2_openers; /* openers in flight */
    rill__http_job_t *h2_waiting, **h2_waiting_tail; /* refused while an opener was under way */
    int h2_waiting_cnt;                              /* they keep their place in max_in_flight */
};

struct rill__http_cq_s {
    pthread_mutex_t lock;
    rill__http_done_t *head, *tail;
    void (*wake)(void *wake_opaque);
    void *wake_opaque;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- completion queues ---- */

/*
 * Creates a completion queue; each push that makes it non-empty calls wake(wake_opaque) on
 * the bridge thread, with the queue's lock held (wake must not call into the queue).
 * Returns NULL when memory ran out. Thread: any.
 */
rill__http_cq_t *rill__http_cq_new(void (*wake)(void *wake_opaque), void *wake_opaque) {
    rill__http_cq_t *cq = calloc(1, sizeof(*cq));

    if (!cq)
        return NULL;
    if (pthread_mutex_init(&cq->lock, NULL)) {
        free(cq);
        return NULL;
    }
    cq->wake = wake;
    cq->wake_opaque = wake_opaque;
    return cq;
}

/* Frees cq and the completions still in it. No request submitted with cq may still be
 * outstanding. NULL-safe. Thread: the owner. */
void rill__http_cq_destroy(rill__http_cq_t *cq) {
    rill__http_done_t *done, *next;

    if (!cq)
        return;
    pthread_mutex_lock(&cq->lock);
    done = cq->head;
    cq->head = cq->tail = NULL;
    pthread_mutex_unlock(&cq->lock);
    for (; done; done = next) {
        next = done->next;
        rill__http_done_free(done);
    }
    pthread_mutex_destroy(&cq->lock);
    free(cq);
}

/* Thread: the bridge thread. */
static void cq_push(rill__http_cq_t *cq, rill__http_done_t *done) {
    bool was_empty;

    done->next = NULL;
    pthread_mutex_lock(&cq->lock);
    was_empty = cq->head == NULL;
    if (cq->tail)
        cq->tail->next = done;
    else
        cq->head = done;
    cq->tail = done;
    if (was_empty && cq->wake)
        cq->wake(cq->wake_opaque);
    pthread_mutex_unlock(&cq->lock);
}

/* Takes every queued completion, oldest first. Thread-safe, non-blocking. */
rill__http_done_t *rill__http_cq_take(rill__http_cq_t *cq) {
    rill__http_done_t *done;

    pthread_mutex_lock(&cq->lock);
    done = cq->head;
    cq->head = cq->tail = NULL;
    pthread_mutex_unlock(&cq->lock);
    return done;
}

/* Frees a completion and its response body. NULL-safe. Thread: any. */
void rill__http_done_free(rill__http_done_t *done) {
    if (!done)
        return;
    free(done->resp.body);
    free(done); /* the whole job: done is its first member */
}

/* ---- libcurl callbacks (bridge thread) ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
    rill__http_job_t *job = userdata;
    rill__http_resp_t *resp = &job->done.resp;
    size_t len = size * nmemb, cap;

    if (len > job->max_body - resp->body_len) {
        job->too_large = true;
        return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (resp->body_len + len + 1 > job->body_cap) {
        char *body;

        cap = job->body_cap ? job->body_cap : 1024;
        while (cap < resp->body_len + len + 1)
            cap *= 2;
        body = realloc(resp->body, cap);
        if (!body)
            return 0;
        resp->body = body;
        job->body_cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, len);
    resp->body_len += len;
    resp->body[resp->body_len] = '\0';
    return len;
}

/* Copies value[0..len) into dst[dst_size], truncating, NUL-terminated. */
static void copy_field(char *dst, size_t dst_size, const char *value, size_t len) {
    if (len >= dst_size)
        len = dst_size - 1;
    memcpy(dst, value, len);
    dst[len] = '\0';
}

/* Parses a Retry-After value: delta-seconds or an HTTP date. Returns ms, or -1. */
static long parse_retry_after(const char *value, size_t len) {
    char tmp[128];
    size_t i;
    long secs = 0;
    time_t when;

    if (!len || len >= sizeof(tmp))
        return -1;
    for (i = 0; i < len && value[i] >= '0' && value[i] <= '9'; i++) {
        if (secs < HTTP_MAX_RETRY_AFTER_S)
            secs = secs * 10 + (value[i] - '0');
    }
    if (i == len)
        return (secs < HTTP_MAX_RETRY_AFTER_S ? secs : HTTP_MAX_RETRY_AFTER_S) * 1000L;
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    when = curl_getdate(tmp, NULL);
    if (when == (time_t)-1)
        return -1;
    secs = (long)(when - time(NULL));
    if (secs < 0)
        secs = 0;
    return (secs < HTTP_MAX_RETRY_AFTER_S ? secs : HTTP_MAX_RETRY_AFTER_S) * 1000L;
}

/* The first "dur=" value of a Server-Timing header ("fn;dur=12.5"), in ms; -1 without one. */
static double parse_server_timing(const char *value, size_t len) {
    char tmp[256], *end;

    if (!len || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    for (const char *p = tmp; *p; p++) {
        if (strncasecmp(p, "dur=", 4) || (p > tmp && p[-1] != ';' && p[-1] != ' '))
            continue;
        double ms = strtod(p + 4, &end);
        return end > p + 4 && ms >= 0 && ms < 1e12 ? ms : -1;
    }
    return -1;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userdata) {
    rill__http_job_t *job = userdata;
    rill__http_resp_t *resp = &job->done.resp;
    size_t len = size * nitems, name_len, vlen;
    const char *colon, *value;

    if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
        /* A new response head (after 100 Continue or a redirect): forget the last one's. */
        resp->retry_after_ms = -1;
        resp->fn_ms = -1;
        resp->function_error[0] = '\0';
        resp->content_type[0] = '\0';
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon)
        return len;
    name_len = (size_t)(colon - data);
    value = colon + 1;
    vlen = len - name_len - 1;
    while (vlen && (*value == ' ' || *value == '\t')) {
        value++;
        vlen--;
    }
    while (vlen && (value[vlen - 1] == '\r' || value[vlen - 1] == '\n' || value[vlen - 1] == ' ' ||
                    value[vlen - 1] == '\t'))
        vlen--;
    if (name_len == 11 && !strncasecmp(data, "Retry-After", 11))
        resp->retry_after_ms = parse_retry_after(value, vlen);
    else if (name_len == 20 && !strncasecmp(data, "X-Amz-Function-Error", 20))
        copy_field(resp->function_error, sizeof(resp->function_error), value, vlen);
    else if (name_len == 12 && !strncasecmp(data, "Content-Type", 12))
        copy_field(resp->content_type, sizeof(resp->content_type), value, vlen);
    else if (name_len == 13 && !strncasecmp(data, "Server-Timing", 13) && resp->fn_ms < 0)
        resp->fn_ms = parse_server_timing(value, vlen);
    return len;
}

/* An opener's socket: counted as an h2c connection until libcurl closes it. */
static int on_h2_opener_socket(void *clientp, curl_socket_t fd, curlsocktype purpose) {
    (void)fd;
    (void)purpose;
    ((rill__http_t *)clientp)->h2_conns++;
    return CURL_SOCKOPT_OK;
}

static int on_h2_close_socket(void *clientp, curl_socket_t fd) {
    ((rill__http_t *)clientp)->h2_conns--;
    return close(fd);
}

/* A non-opener h2c transfer would open a connection: refused (libcurl fails it with
 * CURLE_ABORTED_BY_CALLBACK before connecting) so that it starts again as an opener. */
static int on_h2_refuse_socket(void *clientp, curl_socket_t fd, curlsocktype purpose) {
    (void)fd;
    (void)purpose;
    ((rill__http_job_t *)clientp)->h2_refused = true;
    return CURL_SOCKOPT_ERROR;
}

/* ---- jobs (bridge thread) ---- */

/* True for "Name:" with nothing after the colon: libcurl's way to remove a header. */
static bool header_removes(const char *line) {
    const char *colon = strchr(line, ':');

    if (!colon)
        return false;
    for (colon++; *colon == ' ' || *colon == '\t'; colon++)
        ;
    return *colon == '\0';
}

/* Builds the request's header list: its own lines, the session token, and for unsigned
 * requests an empty "Expect:" so that large bodies go without a 100-continue round trip.
 * SigV4 requests drop header-removal lines ("Expect:"): libcurl 7.88 puts such a header,
 * empty, into the signed headers without sending it, so the signature cannot verify. */
static int job_headers(rill__http_job_t *job) {
    const rill__http_req_t *req = job->done.req;
    struct curl_slist *next;
    char *line;
    size_t len;

    for (const char *const *h = req->headers; h && *h; h++) {
        if (req->aws_sigv4 && header_removes(*h))
            continue;
        if (!(next = curl_slist_append(job->hdrs, *h)))
            return -1;
        job->hdrs = next;
    }
    if (req->aws_sigv4 && req->aws_session_token) {
        len = strlen(req->aws_session_token) + sizeof("x-amz-security-token: ");
        if (!(line = malloc(len)))
            return -1;
        snprintf(line, len, "x-amz-security-token: %s", req->aws_session_token);
        next = curl_slist_append(job->hdrs, line);
        free(line);
        if (!next)
            return -1;
        job->hdrs = next;
    }
    if (!req->aws_sigv4) {
        if (!(next = curl_slist_append(job->hdrs, "Expect:")))
            return -1;
        job->hdrs = next;
    }
    return 0;
}

/* The HTTP version options of an h2c transfer (see DESIGN). */
static CURLcode job_setopts_h2c(rill__http_t *http, rill__http_job_t *job) {
    CURL *e = job->easy;
    CURLcode rc;

    if (job->h2_opener) {
        if ((rc = curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                                   (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)) ||
            (rc = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L)) ||
            (rc = curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_h2_opener_socket)) ||
            (rc = curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, http)) ||
            (rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_h2_close_socket)) ||
            (rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, http)))
            return rc;
        return CURLE_OK;
    }
    if ((rc = curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_0)) ||
        (rc = curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_h2_refuse_socket)) ||
        (rc = curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, job)))
        return rc;
    return CURLE_OK;
}

/* True when job goes as h2c: asked for, over http://. */
static bool job_is_h2c(const rill__http_job_t *job) {
    return job->done.req->h2c && !strncasecmp(job->done.req->url, "http://", 7);
}

/* Sets every option of job's easy handle. Returns CURLE_OK or the first failure. */
static CURLcode job_setopts(rill__http_t *http, rill__http_job_t *job) {
    const rill__http_req_t *req = job->done.req;
    CURL *e = job->easy;
    CURLcode rc;

    if ((rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")) ||
        (rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")) ||
        (rc = curl_easy_setopt(e, CURLOPT_URL, req->url)) ||
        (rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len)) ||
        (rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "")) ||
        (rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->hdrs)) ||
        (rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) ||
        (rc =
             curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->verify_tls ? 1L : 0L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->verify_tls ? 2L : 0L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) ||
        (rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, job)) ||
        (rc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header)) ||
        (rc = curl_easy_setopt(e, CURLOPT_HEADERDATA, job)) ||
        (rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->done.resp.error)) ||
        (rc = curl_easy_setopt(e, CURLOPT_PRIVATE, job)))
        return rc;
    if (job_is_h2c(job) && (rc = job_setopts_h2c(http, job)))
        return rc;
    /* Preferences that an older or differently built libcurl may refuse: not fatal. */
    if (!job_is_h2c(job))
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS, wait for the handshake to tell whether HTTP/2 can multiplex on a connection
     * already opening, rather than open another. Not for cleartext: there libcurl 7.88 waits
     * for the first response, so one slow call would hold back every other. */
    if (!strncasecmp(req->url, "https://", 8))
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->aws_sigv4 &&
        ((rc = curl_easy_setopt(e, CURLOPT_AWS_SIGV4, req->aws_sigv4)) ||
         (rc = curl_easy_setopt(e, CURLOPT_USERPWD, req->aws_userpwd ? req->aws_userpwd : ""))))
        return rc;
    return CURLE_OK;
}

/* Resets job's easy handle into the pool (or frees it) and its header list; ends its turn
 * as an h2c opener. */
static void job_release(rill__http_t *http, rill__http_job_t *job) {
    if (job->easy) {
        curl_easy_reset(job->easy);
        if (http->pool_cnt < http->max_in_flight)
            http->pool[http->pool_cnt++] = job->easy;
        else
            curl_easy_cleanup(job->easy);
        job->easy = NULL;
    }
    curl_slist_free_all(job->hdrs);
    job->hdrs = NULL;
    if (job->h2_opener)
        http->h2_openers--;
    job->h2_opener = false;
}

/* Hands job back to its submitter with code (and libcurl's message when it has none). */
static void job_complete(rill__http_t *http, rill__http_job_t *job, CURLcode code,
                         const char *why) {
    rill__http_resp_t *resp = &job->done.resp;

    resp->curl_code = (int)code;
    if (job->easy) {
        curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &resp->connects);
        __atomic_add_fetch(&http->connects, (uint64_t)resp->connects, __ATOMIC_RELAXED);
    }
    job_release(http, job);
    if (code == CURLE_OK) {
        resp->error[0] = '\0';
    } else if (job->too_large) {
        snprintf(resp->error, sizeof(resp->error),
                 "response refused: body larger than %zu bytes (max_response_bytes)",
                 job->max_body);
    } else if (!resp->error[0]) {
        const char *msg = why ? why : curl_easy_strerror(code);
        copy_field(resp->error, sizeof(resp->error), msg, strlen(msg));
    }
    resp->total_ms = now_ms() - job->submitted_ms;
    __atomic_add_fetch(&http->completed, 1, __ATOMIC_RELAXED);
    cq_push(job->cq, &job->done);
}

/* Credentials go over TLS, or to this host: never in cleartext over a network. */
static bool job_credentials_ok(const rill__http_req_t *req) {
    if (!req->aws_sigv4 && !req->aws_userpwd && !req->aws_session_token)
        return true;
    return rill__url_is_https(req->url) || rill__url_host_is_loopback(req->url);
}

/* Starts one job: an easy handle from the pool, options, into the multi handle. */
static void job_start(rill__http_t *http, rill__http_job_t *job) {
    CURLcode rc;
    CURLMcode mrc;

    if (!job_credentials_ok(job->done.req)) {
        job_complete(http, job, CURLE_LOGIN_DENIED,
                     "refused: credentials are sent over https only");
        return;
    }
    job->easy = http->pool_cnt ? http->pool[--http->pool_cnt] : curl_easy_init();
    if (job->easy && job_is_h2c(job) && http->h2_openers == 0 &&
        (job->h2_refused || http->h2_conns <= 0)) {
        job->h2_opener = true;
        http->h2_openers++;
    }
    job->h2_refused = false;
    if (!job->easy) {
        job_complete(http, job, CURLE_FAILED_INIT, "curl_easy_init failed");
        return;
    }
    if (job_headers(job)) {
        job_complete(http, job, CURLE_OUT_OF_MEMORY, NULL);
        return;
    }
    if ((rc = job_setopts(http, job)) != CURLE_OK) {
        job_complete(http, job, rc, NULL);
        return;
    }
    if ((mrc = curl_multi_add_handle(http->multi, job->easy)) != CURLM_OK) {
        job_complete(http, job, CURLE_FAILED_INIT, curl_multi_strerror(mrc));
        return;
    }
    job->prev = NULL;
    job->next = http->active;
    if (http->active)
        http->active->prev = job;
    http->active = job;
    http->active_cnt++;
    __atomic_add_fetch(&http->in_flight, 1, __ATOMIC_RELAXED);
}

/* Takes job out of the multi handle and the list in flight. */
static void job_detach(rill__http_t *http, rill__http_job_t *job) {
    curl_multi_remove_handle(http->multi, job->easy);
    if (job->prev)
        job->prev->next = job->next;
    else
        http->active = job->next;
    if (job->next)
        job->next->prev = job->prev;
    job->prev = job->next = NULL;
    http->active_cnt--;
    __atomic_sub_fetch(&http->in_flight, 1, __ATOMIC_RELAXED);
}

/* ---- the bridge thread ---- */

/* Starts queued jobs while there is room. Returns true when the bridge is stopping. */
static bool http_start_queued(rill__http_t *http) {
    rill__http_done_t *batch = NULL, **tailp = &batch;
    bool stopping;

    pthread_mutex_lock(&http->lock);
    stopping = http->stopping;
    for (int room = http->max_in_flight - http->active_cnt - http->h2_waiting_cnt;
         !stopping && room > 0 && http->queue_head; room--) {
        *tailp = http->queue_head;
        http->queue_head = http->queue_head->next;
        tailp = &(*tailp)->next;
    }
    *tailp = NULL;
    if (!http->queue_head)
        http->queue_tail = NULL;
    pthread_mutex_unlock(&http->lock);
    while (batch) {
        rill__http_done_t *next = batch->next;
        job_start(http, (rill__http_job_t *)(void *)batch);
        batch = next;
    }
    return stopping;
}

/* A refused h2c call (see DESIGN) starts again as the opener when none is under way, and
 * otherwise waits until no opener is under way: then the opener's connection is known to
 * speak HTTP/2 and the call joins it. Refused again (that connection is gone or full), it
 * becomes the next opener or waits for the next one: a wait ends only with an opener's call,
 * never by polling. */
static void h2_restart(rill__http_t *http, rill__http_job_t *job) {
    if (http->h2_openers == 0) {
        job_start(http, job);
        return;
    }
    job->h2_refused = false;
    job->next = NULL;
    if (http->h2_waiting)
        *http->h2_waiting_tail = job;
    else
        http->h2_waiting = job;
    http->h2_waiting_tail = &job->next;
    http->h2_waiting_cnt++;
}

/* Starts the calls that waited for an opener, in their order. */
static void h2_start_waiting(rill__http_t *http) {
    rill__http_job_t *job = http->h2_waiting;

    http->h2_waiting = NULL;
    http->h2_waiting_cnt = 0;
    while (job) {
        rill__http_job_t *next = job->next;
        job_start(http, job);
        job = next;
    }
}

/* Completes the transfers libcurl reports done. Returns how many. */
static int http_reap(rill__http_t *http) {
    CURLMsg *msg;
    int left, reaped = 0;

    while ((msg = curl_multi_info_read(http->multi, &left))) {
        rill__http_job_t *job;
        CURLcode code;
        char *priv = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        job = (rill__http_job_t *)(void *)priv;
        code = msg->data.result; /* msg is invalid after remove_handle */
        job_detach(http, job);
        if (job->h2_refused && code != CURLE_OK) {
            job_release(http, job);
            job->done.resp.error[0] = '\0';
            h2_restart(http, job);
        } else {
            job_complete(http, job, code, NULL);
        }
        reaped++;
    }
    return reaped;
}

/* Completes every job in flight or queued as aborted. */
static void http_abort_all(rill__http_t *http) {
    static const char why[] = "aborted: the HTTP bridge is stopping";
    rill__http_done_t *queued;

    while (http->active) {
        rill__http_job_t *job = http->active;
        job_detach(http, job);
        job_complete(http, job, CURLE_ABORTED_BY_CALLBACK, why);
    }
    while (http->h2_waiting) {
        rill__http_job_t *job = http->h2_waiting;
        http->h2_waiting = job->next;
        http->h2_waiting_cnt--;
        job_complete(http, job, CURLE_ABORTED_BY_CALLBACK, why);
    }
    pthread_mutex_lock(&http->lock);
    queued = http->queue_head;
    http->queue_head = http->queue_tail = NULL;
    pthread_mutex_unlock(&http->lock);
    while (queued) {
        rill__http_done_t *next = queued->next;
        job_complete(http, (rill__http_job_t *)(void *)queued, CURLE_ABORTED_BY_CALLBACK, why);
        queued = next;
    }
}

static void *http_main(void *arg) {
    rill__http_t *http = arg;
    int running;

    while (!http_start_queued(http)) {
        curl_multi_perform(http->multi, &running);
        int reaped = http_reap(http);
        /* The opener they waited for has finished (or failed to start). */
        if (http->h2_waiting && http->h2_openers == 0) {
            h2_start_waiting(http);
            continue;
        }
        /* A finished transfer may free room for a queued one: go round without sleeping. */
        if (reaped > 0)
            continue;
        curl_multi_poll(http->multi, NULL, 0, HTTP_POLL_MS, NULL);
    }
    http_abort_all(http);
    return NULL;
}

/* ---- public ---- */

/*
 * Starts the bridge thread; see bridge_int.h. Returns NULL with errstr on a bad limit or
 * when libcurl or the thread cannot be set up. Thread: any.
 */
rill__http_t *rill__http_new(int max_in_flight, int max_connections, char *errstr,
                             size_t errstr_size) {
    rill__http_t *http;

    if (max_in_flight < 1 || max_connections < 1) {
        snprintf(errstr, errstr_size,
                 "HTTP bridge: max in-flight (%d) and max connections (%d) must be >= 1",
                 max_in_flight, max_connections);
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "HTTP bridge: curl_global_init: %s",
                 curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    if (!(http = calloc(1, sizeof(*http))) ||
        !(http->pool = calloc((size_t)max_in_flight, sizeof(*http->pool)))) {
        free(http);
        snprintf(errstr, errstr_size, "HTTP bridge: out of memory");
        return NULL;
    }
    http->max_in_flight = max_in_flight;
    if (!(http->multi = curl_multi_init())) {
        snprintf(errstr, errstr_size, "HTTP bridge: curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(http->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_connections);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_connections);
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)max_connections);
    if (pthread_mutex_init(&http->lock, NULL)) {
        snprintf(errstr, errstr_size, "HTTP bridge: pthread_mutex_init failed");
        goto fail;
    }
    if (pthread_create(&http->thread, NULL, http_main, http)) {
        snprintf(errstr, errstr_size, "HTTP bridge: cannot start its thread");
        pthread_mutex_destroy(&http->lock);
        goto fail;
    }
    return http;
fail:
    if (http->multi)
        curl_multi_cleanup(http->multi);
    free(http->pool);
    free(http);
    return NULL;
}

/*
 * Stops the bridge: jobs in flight or queued complete with CURLE_ABORTED_BY_CALLBACK (their
 * completion queues must still exist), the thread is joined, everything freed. NULL-safe.
 * Thread: any but the bridge thread (not from a wake callback).
 */
void rill__http_destroy(rill__http_t *http) {
    if (!http)
        return;
    pthread_mutex_lock(&http->lock);
    http->stopping = true;
    pthread_mutex_unlock(&http->lock);
    curl_multi_wakeup(http->multi);
    pthread_join(http->thread, NULL);
    for (int i = 0; i < http->pool_cnt; i++)
        curl_easy_cleanup(http->pool[i]);
    curl_multi_cleanup(http->multi);
    pthread_mutex_destroy(&http->lock);
    free(http->pool);
    free(http);
}

/*
 * Queues req for the bridge thread; its completion goes to cq with opaque. Returns 0, or -1
 * when the bridge is stopping or memory ran out (the completion is then never pushed).
 * Thread-safe; never blocks on the network.
 */
int rill__http_submit(rill__http_t *http, const rill__http_req_t *req, rill__http_cq_t *cq,
                      void *opaque) {
    rill__http_job_t *job;

    if (!http || !req || !req->url || !cq || !(job = calloc(1, sizeof(*job))))
        return -1;
    job->done.req = req;
    job->done.opaque = opaque;
    job->done.resp.retry_after_ms = -1;
    job->done.resp.fn_ms = -1;
    job->max_body = req->max_body_bytes ? req->max_body_bytes : RILL__HTTP_DEFAULT_MAX_BODY;
    job->cq = cq;
    job->submitted_ms = now_ms();
    pthread_mutex_lock(&http->lock);
    if (http->stopping) {
        pthread_mutex_unlock(&http->lock);
        free(job);
        return -1;
    }
    if (http->queue_tail)
        http->queue_tail->next = &job->done;
    else
        http->queue_head = &job->done;
    http->queue_tail = &job->done;
    /* Woken under the lock: once destroy has set stopping, no submitter touches multi. */
    curl_multi_wakeup(http->multi);
    pthread_mutex_unlock(&http->lock);
    return 0;
}

/* Transfers running now (not counting queued ones). Thread-safe. */
int rill__http_in_flight(const rill__http_t *http) {
    return http ? __atomic_load_n(&http->in_flight, __ATOMIC_RELAXED) : 0;
}

/* Connections opened since the bridge started. Thread-safe. */
uint64_t rill__http_connects(const rill__http_t *http) {
    return http ? __atomic_load_n(&http->connects, __ATOMIC_RELAXED) : 0;
}

/* Requests completed since the bridge started, aborted ones included. Thread-safe. */
uint64_t rill__http_completed(const rill__http_t *http) {
    return http ? __atomic_load_n(&http->completed, __ATOMIC_RELAXED) : 0;
}
