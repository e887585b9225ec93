/*
 * word_count.c — counts words per minute: a keyed, windowed count built only on <rill.h>
 * and linked with the installed librill (see CMakeLists.txt here).
 *
 * Reads lines of text from "lines", splits them into words, regroups them by word (through
 * a repartition topic), counts each word per tumbling minute and, when a minute closes,
 * prints its counts and writes them to "word-counts" (key: the word then the window start,
 * 8 bytes big-endian; value: the count, 8 bytes big-endian).
 *
 * With no --bootstrap-servers it runs on the embedded broker: it writes a few lines of its
 * own, counts them and stops once every window is closed (--drain; ../common/example.c). With
 * a real Kafka it counts whatever arrives in "lines" until Ctrl-C.
 *
 *   word_count [--describe] [common Rill flags, see --help]
 */
#include "../common/example.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MINUTE_MS 60000
#define T0 INT64_C(1700000040000) /* a whole minute: 2023-11-14 22:14:00 UTC */

/* One record per word of the line, its value the word (key unchanged). */
static int split_words(rill_ctx_t *ctx, const rill_record_t *line, void *opaque) {
    const char *s = line->value, *end = s + line->value_len;
    while (s < end) {
        while (s < end && !isalnum((unsigned char)*s))
            s++;
        const char *w = s;
        while (s < end && isalnum((unsigned char)*s))
            s++;
        if (s > w) {
            rill_record_t word = *line;
            word.value = w;
            word.value_len = (size_t)(s - w);
            if (rill_ctx_forward(ctx, &word))
                return -1;
        }
    }
    return 0;
}

static int word_as_key(const rill_record_t *rec, rill_map_out_t *out, void *opaque) {
    return rill_buf_append(out->key, rec->value, rec->value_len);
}

static void print_count(const rill_record_t *rec, void *opaque) {
    int64_t count = 0;
    char minute[32];
    time_t start = (time_t)(rec->window_start / 1000);
    struct tm tm;
    rill_int64_decode(rec->value, rec->value_len, &count);
    strftime(minute, sizeof(minute), "%Y-%m-%d %H:%M", gmtime_r(&start, &tm));
    printf("word_count: %s  %-8.*s %" PRId64 "\n", minute, (int)rec->key_len,
           (const char *)rec->key, count);
    fflush(stdout);
}

static rill_topology_t *build(void) {
    rill_topology_t *topo = rill_topology_new();
    rill_source_opts_t text = {.value_serde = rill_serde_string()};
    rill_stream_t *lines = rill_stream_from(topo, "lines", "lines", &text);
    rill_stream_t *words = rill_stream_flat_map(lines, "split", split_words, NULL);
    rill_grouped_t *by_word = rill_stream_group_by(words, "by-word", word_as_key, NULL);
    rill_window_spec_t minute = {.kind = RILL_WINDOW_TUMBLING, .size_ms = MINUTE_MS};
    rill_table_t *counts =
        rill_windowed_count(rill_grouped_windowed_by(by_word, &minute), "counts", RILL_EMIT_FINAL);
    rill_stream_t *out =
        rill_stream_peek(rill_table_to_stream(counts, "count-updates"), "print", print_count, NULL);
    rill_stream_to(out, "to-word-counts", "word-counts", NULL);
    return topo;
}

/* The demo's input on the embedded broker: three lines, the last one in the next minute. */
static int write_lines(rill_producer_t *p, char *err, size_t err_size) {
    static const struct {
        int64_t at;
        const char *text;
    } lines[] = {
        {T0, "the quick brown fox"},
        {T0 + 10000, "jumps over the lazy dog"},
        {T0 + MINUTE_MS + 5000, "the dog sleeps"},
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char key[16];
        int klen = snprintf(key, sizeof(key), "%zu", i);
        if (rill_producer_send(p, "lines", -1, key, (size_t)klen, lines[i].text,
                               strlen(lines[i].text), lines[i].at)) {
            snprintf(err, err_size, "cannot write to \"lines\"");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    static const char *const topics[] = {"lines", "word-counts", NULL};
    static const example_t ex = {"word-count", topics, 2, write_lines};
    return example_main(argc, argv, build(), &ex);
}
