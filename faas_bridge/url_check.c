/*
 * url_check.c — the FaaS bridge's URL policy: only http:// and https:// function URLs, and
 * plain http only to a loopback host unless the stage allows it explicitly.
 *
 * DESIGN
 * The checks read the URL's scheme and host with a few string operations (no resolver, no
 * libcurl): the host is what follows "scheme://" and any "user@", up to ':', '/', '?' or '#'
 * (an IPv6 literal is taken between its brackets). A name is loopback only when it is
 * "localhost"; an address when inet_pton() reads it as IPv4 in 127.0.0.0/8 or IPv6 ::1. The
 * stage checks when the topology is built (faas_conf.c); the bridge checks again before it
 * lets credentials go (http_bridge.c). Thread: any; nothing here keeps state.
 */
#include "bridge_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool has_scheme(const char *url, const char *scheme) {
    size_t len = strlen(scheme);

    return url && !strncasecmp(url, scheme, len);
}

bool rill__url_is_https(const char *url) {
    return has_scheme(url, "https://");
}

/* Copies url's host into host[host_size]; returns false when there is none or it is too
 * long. */
static bool url_host(const char *url, char *host, size_t host_size) {
    const char *start = strstr(url, "://"), *end, *at;
    size_t len;

    if (!start)
        return false;
    start += 3;
    end = start + strcspn(start, "/?#");
    at = memchr(start, '@', (size_t)(end - start));
    while (at) { /* the last '@' of the authority ends the user info */
        start = at + 1;
        at = memchr(start, '@', (size_t)(end - start));
    }
    if (*start == '[') {
        const char *close = memchr(start, ']', (size_t)(end - start));
        if (!close)
            return false;
        start++;
        end = close;
    } else {
        const char *colon = memchr(start, ':', (size_t)(end - start));
        if (colon)
            end = colon;
    }
    len = (size_t)(end - start);
    if (!len || len >= host_size)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';
    return true;
}

bool rill__url_host_is_loopback(const char *url) {
    char host[256];
    struct in_addr v4;
    struct in6_addr v6;

    if (!url || !url_host(url, host, sizeof(host)))
        return false;
    if (!strcasecmp(host, "localhost"))
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

int rill__url_check(const char *url, bool allow_insecure_http, char *errstr, size_t errstr_size) {
    char host[256];

    if (!url || (!has_scheme(url, "http://") && !has_scheme(url, "https://"))) {
        snprintf(errstr, errstr_size,
                 "function url \"%.200s\" is not http:// or https://: no other scheme is "
                 "allowed",
                 url ? url : "(null)");
        return -1;
    }
    if (!url_host(url, host, sizeof(host))) {
        snprintf(errstr, errstr_size, "function url \"%.200s\" has no host", url);
        return -1;
    }
    if (has_scheme(url, "http://") && !allow_insecure_http && !rill__url_host_is_loopback(url)) {
        snprintf(errstr, errstr_size,
                 "function url \"%.200s\" is plain http to a host that is not loopback: use "
                 "https://, or set allow_insecure_http in the stage's options",
                 url);
        return -1;
    }
    return 0;
}
