/*
 * wire_format.c — the table of FaaS wire formats and the lookup by the public enum value,
 * and rill__faas_encode, which calls the target's format through it.
 *
 * DESIGN
 * A format is one rill__wire_format_t (wire_int.h), defined in its own wire_<name>.c next
 * to its encoder and its response reader; the stage's set-up (faas_conf.c), the encoder
 * (here) and the decoder (wire_response.c) only call through the entry. The table below is
 * the one list of formats: a value of rill_faas_format_t with no entry is refused by every
 * caller with a message naming it, never taken for another format. The lookup is a scan of
 * a few pointers, done per batch; nothing is cached, so the table holds no state.
 */
#include "wire_int.h"

#include <stddef.h>

/* The entries, one per format file, and the table: a new format adds a line to each. */
extern const rill__wire_format_t rill__wire_cloudevents; /* wire_cloudevents.c */
extern const rill__wire_format_t rill__wire_lambda;      /* wire_lambda.c */

static const rill__wire_format_t *const wire_formats[] = {
    &rill__wire_cloudevents,
    &rill__wire_lambda,
};

/*
 * Returns the entry whose format is format, or NULL.
 * Thread: any (the table is constant).
 */
const rill__wire_format_t *rill__wire_format_of(rill_faas_format_t format) {
    for (size_t i = 0; i < sizeof(wire_formats) / sizeof(wire_formats[0]); i++) {
        if (wire_formats[i]->format == format)
            return wire_formats[i];
    }
    return NULL;
}

/*
 * Encodes a batch in the target's format; see bridge_int.h. Returns 0, or -1 for n == 0, a
 * format with no entry or out of memory.
 * Thread: any (stateless).
 */
int rill__faas_encode(const rill__faas_target_t *target, const rill__faas_rec_t *recs, size_t n,
                      rill_buf_t *body, rill_buf_t *hdrs) {
    const rill__wire_format_t *wire;

    if (!target || !recs || !n || !body || !hdrs)
        return -1;
    if (!(wire = rill__wire_format_of(target->format)))
        return -1;
    return wire->encode(target, recs, n, body, hdrs);
}
