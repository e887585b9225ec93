/*
 * Windows — q5 (hot items) and q7 (highest bid) in the DSL: a windowed aggregation per
 * auction, suppressed until each window closes, re-keyed by window start through a
 * repartition topic and reduced to the best of each window (semantics and output of
 * tests/progs/rill_nexmark_app.c).
 *
 * DESIGN
 * The watermark bid goes into the windows (suppress only moves with the records it is given)
 * and is dropped after them, as in Rill. Values between the steps are long[] (LongArraySerde).
 */
package rill.nexmark;

import java.time.Duration;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Reducer;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueMapperWithKey;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.WindowStore;

final class Windows {
    private Windows() {}

    static final long WINDOW_MS = 10_000, HOP_MS = 2_000;

    /** The closed windows (key: auction and window; value: v) to the best per window. */
    static void bestPerWindow(KStream<Windowed<String>, long[]> closed, String q,
                              Reducer<long[]> best, ValueMapperWithKey<String, long[], String> json,
                              String output) {
        closed.filter((wk, v) -> Json.keyNumber(wk.key()) >= 0)
            .map((wk, v) -> KeyValue.pair(Long.toString(wk.window().start()), v))
            .groupByKey(Grouped.with(q + "-windows", Serdes.String(), LongArraySerde.SERDE))
            .reduce(best, Materialized.as(q + "-best-per-window"))
            .toStream()
            .mapValues(json)
            .to(output, Produced.with(Serdes.String(), Serdes.String()));
    }

    static void q5(StreamsBuilder b, Args a) {
        KStream<String, String> bids = b.stream(a.bids);
        KStream<Windowed<String>, long[]> closed = bids
            .groupByKey()
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(WINDOW_MS),
                                                   Duration.ofMillis(a.graceMs))
                            .advanceBy(Duration.ofMillis(HOP_MS)))
            .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("q5-counts")
                       .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream()
            .map((wk, n) -> KeyValue.pair(wk, new long[] {Json.keyNumber(wk.key()), n}));
        bestPerWindow(closed, "q5", (x, y) -> hotter(x, y) ? y : x,
                      (k, v) -> "{\"starttime\":" + k + ",\"auction\":" + v[0]
                                + ",\"count\":" + v[1] + "}", a.output);
    }

    /** q5's order: y beats x with more bids, then a lower auction. */
    static boolean hotter(long[] x, long[] y) {
        return y[1] > x[1] || (y[1] == x[1] && y[0] < x[0]);
    }

    /** q7's order over {auction, price, time, bidder}: y beats x with a higher price, then an
     * earlier time, then a lower bidder, then a lower auction; x[0] < 0 is no bid yet. */
    static boolean beats(long[] x, long[] y) {
        if (x[0] < 0)
            return true;
        if (y[1] != x[1])
            return y[1] > x[1];
        if (y[2] != x[2])
            return y[2] < x[2];
        if (y[3] != x[3])
            return y[3] < x[3];
        return y[0] < x[0];
    }

    static void q7(StreamsBuilder b, Args a) {
        KStream<String, String> bids = b.stream(a.bids);
        KStream<Windowed<String>, long[]> closed = bids
            .groupByKey()
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(WINDOW_MS),
                                                   Duration.ofMillis(a.graceMs)))
            .aggregate(() -> new long[] {-1, 0, 0, 0}, (k, v, agg) -> {
                    long[] bid = {Json.getLong(v, "auction"), Json.getLong(v, "price"),
                                  Json.getLong(v, "dateTime"), Json.getLong(v, "bidder")};
                    return beats(agg, bid) ? bid : agg;
                }, Materialized.<String, long[], WindowStore<Bytes, byte[]>>as("q7-best")
                       .withKeySerde(Serdes.String()).withValueSerde(LongArraySerde.SERDE))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream();
        bestPerWindow(closed, "q7", (x, y) -> beats(x, y) ? y : x,
                      (k, v) -> "{\"starttime\":" + k + ",\"auction\":" + v[0] + ",\"price\":"
                                + v[1] + ",\"bidder\":" + v[3] + ",\"dateTime\":" + v[2] + "}",
                      a.output);
    }
}
