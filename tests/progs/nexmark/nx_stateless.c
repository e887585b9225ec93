/*
 * nx_stateless.c — NEXMark q0 (passthrough), q1 (currency conversion) and q2 (selection)
 * over the bids topic (nx_int.h; semantics in rill_nexmark_app.c).
 *
 * DESIGN
 * One record in, at most one out, the key kept: a filter and a map_values that read the few
 * members they need from the JSON text and format the output into the thread's buffer.
 */
#include "nx_int.h"

#include <inttypes.h>

/* NEXMark's dollar to euro rate, 0.908, as a fraction of integer cents. */
#define EUROS_PER_1000_DOLLARS 908

void nx_build_q0(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src) {
    rill_stream_t *s = rill_stream_from(topo, "bids", t->bids, src);
    rill_stream_to(s, "sink", t->output, NULL);
}

static int q1_euros(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    int64_t auction, bidder, price, time;
    (void)opaque;
    if (!nx_int(rec, "auction", &auction) || !nx_int(rec, "bidder", &bidder) ||
        !nx_int(rec, "price", &price) || !nx_int(rec, "dateTime", &time))
        return -1;
    return nx_set_value(out,
                        "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64 ",\"price\":%" PRId64
                        ",\"dateTime\":%" PRId64 "}",
                        auction, bidder, price * EUROS_PER_1000_DOLLARS / 1000, time);
}

void nx_build_q1(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src) {
    rill_stream_t *s = rill_stream_from(topo, "bids", t->bids, src);
    s = rill_stream_map_values(s, "q1-euros", q1_euros, NULL);
    rill_stream_to(s, "sink", t->output, NULL);
}

static int q2_selected(const rill_record_t *rec, void *opaque) {
    int64_t auction;
    (void)opaque;
    return nx_int(rec, "auction", &auction) && auction % NX_Q2_SKIP == 0;
}

static int q2_project(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    int64_t auction, price;
    (void)opaque;
    if (!nx_int(rec, "auction", &auction) || !nx_int(rec, "price", &price))
        return -1;
    return nx_set_value(out, "{\"auction\":%" PRId64 ",\"price\":%" PRId64 "}", auction, price);
}

void nx_build_q2(rill_topology_t *topo, const nx_topics_t *t, const rill_source_opts_t *src) {
    rill_stream_t *s = rill_stream_from(topo, "bids", t->bids, src);
    s = rill_stream_filter(s, "q2-selected", q2_selected, NULL);
    s = rill_stream_map_values(s, "q2-project", q2_project, NULL);
    rill_stream_to(s, "sink", t->output, NULL);
}
