/*
 * test_lineage.c — the trace context codec (base/lineage.c): traceparent parsing and
 * formatting, the rill.lineage chain and its bound, a record's trace from its headers
 * (adopted, started, malformed → started and flagged), the compact copy kept in state, and
 * the ids. Expected values are written out by hand here, not computed with the codec.
 */
#include "lineage_int.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const uint8_t TP_ID[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t TP_PARENT[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

Test(lineage, traceparent_parses_and_formats_back) {
    uint8_t id[16], parent[8], flags = 0;
    cr_assert_eq(rill__traceparent_parse(TP, strlen(TP), id, parent, &flags), 0);
    cr_assert_arr_eq(id, TP_ID, 16);
    cr_assert_arr_eq(parent, TP_PARENT, 8);
    cr_assert_eq(flags, 1);
    char out[RILL__TRACEPARENT_LEN + 1];
    cr_assert_eq(rill__traceparent_format(out, id, parent, flags), 55);
    cr_assert_str_eq(out, TP);
}

Test(lineage, malformed_traceparents_are_refused) {
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* v00 with more */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   /* not hex */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  /* later version, no '-' */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rill__traceparent_parse(bad[i], strlen(bad[i]), NULL, NULL, NULL), -1,
                     "accepted \"%s\"", bad[i]);
    const char *later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
    uint8_t id[16];
    cr_assert_eq(rill__traceparent_parse(later, strlen(later), id, NULL, NULL), 0);
    cr_assert_arr_eq(id, TP_ID, 16);
}

Test(lineage, a_record_adopts_its_trace_and_adds_its_hop) {
    static rill__trace_t t;
    const char *lin = "auction.bids.raw/3@1234";
    rill__trace_from(&t, 512, TP, strlen(TP), lin, strlen(lin), NULL, 0, "auction.bids", 1, 88);
    cr_assert_arr_eq(t.trace_id, TP_ID, 16);
    cr_assert_eq(t.flags, 1);
    cr_assert(!t.started && !t.malformed && !t.truncated);
    cr_assert_str_eq(t.chain, "auction.bids.raw/3@1234>auction.bids/1@88");
    cr_assert_eq(t.chain_len, strlen(t.chain));
    cr_assert_eq(t.other_len, 0);
}

Test(lineage, absent_or_malformed_traceparent_starts_a_new_trace) {
    static rill__trace_t a, b, m;
    rill__trace_from(&a, 512, NULL, 0, NULL, 0, NULL, 0, "in", 0, 5);
    rill__trace_from(&b, 512, NULL, 0, NULL, 0, NULL, 0, "in", 0, 6);
    cr_assert(a.started && !a.malformed);
    cr_assert_str_eq(a.chain, "in/0@5");
    cr_assert_arr_neq(a.trace_id, b.trace_id, 16);
    static const uint8_t zero[16];
    cr_assert_arr_neq(a.trace_id, zero, 16);
    const char *bad = "00-xyz";
    rill__trace_from(&m, 512, bad, strlen(bad), NULL, 0, NULL, 0, "in", 2, 7);
    cr_assert(m.started && m.malformed);
    cr_assert_arr_neq(m.trace_id, zero, 16);
    cr_assert_str_eq(m.chain, "in/2@7");
}

Test(lineage, the_chain_keeps_its_newest_hops_within_the_cap) {
    static char chain[RILL__LINEAGE_CAP_MAX + 1];
    uint16_t len = 0;
    size_t cap = 64;
    cr_assert_eq(rill__lineage_add_hop(chain, &len, cap, "topic-aaaa", 0, 1), 0);
    cr_assert_eq(rill__lineage_add_hop(chain, &len, cap, "topic-bbbb", 1, 22), 0);
    cr_assert_eq(rill__lineage_add_hop(chain, &len, cap, "topic-cccc", 2, 333), 0);
    cr_assert_str_eq(chain, "topic-aaaa/0@1>topic-bbbb/1@22>topic-cccc/2@333");
    cr_assert_eq(rill__lineage_add_hop(chain, &len, cap, "topic-dddd", 3, 4444), 1);
    cr_assert_str_eq(chain, "~>topic-bbbb/1@22>topic-cccc/2@333>topic-dddd/3@4444");
    cr_assert_eq(rill__lineage_add_hop(chain, &len, cap, "topic-eeee", 0, 5), 1);
    cr_assert_str_eq(chain, "~>topic-cccc/2@333>topic-dddd/3@4444>topic-eeee/0@5");
    cr_assert_leq(len, cap);
    cr_assert_eq(len, strlen(chain));
    /* A chain read from a header longer than the cap keeps its newest hops too. */
    const char *in = "a-topic/0@1>b-topic/0@2>c-topic/0@3>d-topic/0@4>e-topic/0@5>f-topic/0@6";
    cr_assert_eq(rill__lineage_set(chain, &len, cap, in, strlen(in)), 1);
    cr_assert_str_eq(chain, "~>b-topic/0@2>c-topic/0@3>d-topic/0@4>e-topic/0@5>f-topic/0@6");
    const char *marked = "~>c-topic/0@3>d-topic/0@4>e-topic/0@5>f-topic/0@6>g-topic/0@7>h/0@8";
    cr_assert_eq(rill__lineage_set(chain, &len, cap, marked, strlen(marked)), 1);
    cr_assert_str_eq(chain, "~>d-topic/0@4>e-topic/0@5>f-topic/0@6>g-topic/0@7>h/0@8");
}

Test(lineage, the_other_input_keeps_its_trace_id_and_newest_hops) {
    static rill__trace_t t, t2;
    rill__trace_from(&t2, 512, TP, strlen(TP), NULL, 0, NULL, 0, "auction.auctions", 2, 9);
    rill__trace_from(&t, 512, NULL, 0, NULL, 0, NULL, 0, "auction.bids", 1, 3);
    rill__trace_set_other(&t, 512, &t2);
    cr_assert_str_eq(t.other, "4bf92f3577b34da6a3ce929d0e0e4736:auction.auctions/2@9");
    rill__trace_from(&t2, 64, TP, strlen(TP), "x-topic/0@1>y-topic/0@2", 23, NULL, 0, "z-topic", 0,
                     3);
    rill__trace_set_other(&t, 64, &t2);
    cr_assert_str_eq(t.other, "4bf92f3577b34da6a3ce929d0e0e4736:~>y-topic/0@2>z-topic/0@3");
    cr_assert(t.truncated);
}

Test(lineage, the_compact_copy_reads_back_and_refuses_garbage) {
    static rill__trace_t t, u;
    rill__trace_from(&t, 512, TP, strlen(TP), "a/0@1", 5, "ffff:b/1@2", 10, "c", 3, 4);
    unsigned char blob[sizeof(rill__trace_t)];
    size_t n = rill__trace_blob_size(&t);
    cr_assert_eq(n, 16 + 1 + 2 + strlen("a/0@1>c/3@4") + 2 + strlen("ffff:b/1@2"));
    rill__trace_blob_put(blob, &t);
    cr_assert_eq(rill__trace_blob_get(&u, blob, n), 0);
    cr_assert_arr_eq(u.trace_id, TP_ID, 16);
    cr_assert_eq(u.flags, 1);
    cr_assert_str_eq(u.chain, "a/0@1>c/3@4");
    cr_assert_str_eq(u.other, "ffff:b/1@2");
    cr_assert_eq(rill__trace_blob_get(&u, blob, n - 1), -1);
    cr_assert_eq(rill__trace_blob_get(&u, blob, 10), -1);
    blob[17] = 0xff; /* a chain length past the blob */
    cr_assert_eq(rill__trace_blob_get(&u, blob, n), -1);
}

Test(lineage, ids_are_distinct_and_never_zero) {
    uint8_t seen[2000][16];
    static const uint8_t zero[16];
    for (int i = 0; i < 2000; i++) {
        rill__trace_random(seen[i], 16);
        cr_assert_arr_neq(seen[i], zero, 16);
    }
    for (int i = 0; i < 2000; i++)
        for (int j = i + 1; j < 2000; j++)
            cr_assert_arr_neq(seen[i], seen[j], 16, "ids %d and %d repeat", i, j);
}
