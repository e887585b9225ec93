/*
 * Closing — the winning bids, q4 (average closing price per category) and q6 (average of
 * each seller's last 10 closed auctions): ClosingProcessor over auctions and bids, then the
 * DSL (semantics and output of tests/progs/rill_nexmark_app.c).
 */
package rill.nexmark;

import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

final class Closing {
    private Closing() {}

    static final int Q6_LAST = 10;

    /** Closed auctions: {auction, category, seller, price, expires, has, bidder, bids}. */
    static KStream<String, long[]> closed(StreamsBuilder b, Args a) {
        b.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ClosingProcessor.OPEN), Serdes.String(),
            LongArraySerde.SERDE));
        b.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ClosingProcessor.HELD), Serdes.String(),
            LongArraySerde.SERDE));
        b.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ClosingProcessor.DEADLINES), Serdes.Bytes(),
            Serdes.String()));
        KStream<String, String> in = b.stream(List.of(a.auctions, a.bids));
        return in.process(() -> new ClosingProcessor(a.auctions, a.graceMs),
                          ClosingProcessor.OPEN, ClosingProcessor.HELD,
                          ClosingProcessor.DEADLINES);
    }

    static void winning(StreamsBuilder b, Args a) {
        closed(b, a)
            .mapValues(c -> "{\"auction\":" + c[0] + ",\"bidder\":" + (c[5] != 0 ? c[6] : "null")
                            + ",\"price\":" + (c[5] != 0 ? c[3] : "null") + ",\"bids\":" + c[7]
                            + "}")
            .to(a.output, Produced.with(Serdes.String(), Serdes.String()));
    }

    static void q4(StreamsBuilder b, Args a) {
        closed(b, a)
            .filter((k, c) -> c[5] != 0)
            .map((k, c) -> KeyValue.pair(Long.toString(c[1]), c))
            .groupByKey(Grouped.with("q4-by-category", Serdes.String(), LongArraySerde.SERDE))
            .aggregate(() -> new long[] {0, 0}, (k, c, s) -> new long[] {s[0] + c[3], s[1] + 1},
                       Materialized.<String, long[], org.apache.kafka.streams.state.KeyValueStore<
                                        org.apache.kafka.common.utils.Bytes, byte[]>>as(
                           "q4-averages").withValueSerde(LongArraySerde.SERDE))
            .toStream()
            .mapValues((k, s) -> "{\"category\":" + k + ",\"auctions\":" + s[1] + ",\"avg\":"
                                 + (s[1] != 0 ? s[0] / s[1] : 0) + "}")
            .to(a.output, Produced.with(Serdes.String(), Serdes.String()));
    }

    /** Puts closed auction c into last ({expires, auction, price} triples, oldest first by
     * (expires, auction)), keeping the newest Q6_LAST. */
    static long[] keepLast(long[] last, long[] c) {
        int n = last.length / 3;
        long[] all = java.util.Arrays.copyOf(last, last.length + 3);
        int i = n;
        while (i > 0 && (c[4] < all[3 * (i - 1)]
                         || (c[4] == all[3 * (i - 1)] && c[0] < all[3 * (i - 1) + 1]))) {
            System.arraycopy(all, 3 * (i - 1), all, 3 * i, 3);
            i--;
        }
        all[3 * i] = c[4];
        all[3 * i + 1] = c[0];
        all[3 * i + 2] = c[3];
        return n + 1 > Q6_LAST ? java.util.Arrays.copyOfRange(all, 3, all.length) : all;
    }

    static void q6(StreamsBuilder b, Args a) {
        closed(b, a)
            .filter((k, c) -> c[5] != 0)
            .map((k, c) -> KeyValue.pair(Long.toString(c[2]), c))
            .groupByKey(Grouped.with("q6-by-seller", Serdes.String(), LongArraySerde.SERDE))
            .aggregate(() -> new long[0], (k, c, last) -> keepLast(last, c),
                       Materialized.<String, long[], org.apache.kafka.streams.state.KeyValueStore<
                                        org.apache.kafka.common.utils.Bytes, byte[]>>as(
                           "q6-averages").withValueSerde(LongArraySerde.SERDE))
            .toStream()
            .mapValues((k, l) -> {
                long sum = 0;
                int n = l.length / 3;
                for (int i = 0; i < n; i++)
                    sum += l[3 * i + 2];
                return "{\"seller\":" + k + ",\"auctions\":" + n + ",\"avg\":"
                       + (n != 0 ? sum / n : 0) + "}";
            })
            .to(a.output, Produced.with(Serdes.String(), Serdes.String()));
    }
}
