/*
 * Joins — q3 (local item suggestion, Q3Processor) and q8 (monitor new users, the DSL's
 * windowed stream-stream join): auctions re-keyed by seller through a repartition topic
 * meet the persons (semantics and output of tests/progs/rill_nexmark_app.c).
 */
package rill.nexmark;

import java.time.Duration;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.state.Stores;

final class Joins {
    private Joins() {}

    static final long WINDOW_MS = 10_000;

    static KStream<String, String> bySeller(KStream<String, String> auctions, String name) {
        return auctions.selectKey((k, v) -> Long.toString(Json.getLong(v, "seller")))
            .repartition(Repartitioned.as(name));
    }

    static void q3(StreamsBuilder b, Args a) {
        b.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(Q3Processor.PERSONS), Serdes.String(),
            Serdes.String()));
        b.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(Q3Processor.WAITING), Serdes.String(),
            LongArraySerde.SERDE));
        KStream<String, String> persons = b.stream(a.persons);
        KStream<String, String> auctions = b.<String, String>stream(a.auctions)
            .filter((k, v) -> Json.getLong(v, "category") == 10);
        persons.merge(bySeller(auctions, "q3-auctions-by-seller"))
            .process(() -> new Q3Processor(a.persons), Q3Processor.PERSONS, Q3Processor.WAITING)
            .to(a.output);
    }

    static void q8(StreamsBuilder b, Args a) {
        KStream<String, String> persons = b.stream(a.persons);
        KStream<String, String> auctions = bySeller(b.stream(a.auctions), "q8-auctions-by-seller");
        persons.join(auctions, (p, au) -> {
                long pt = Json.getLong(p, "dateTime"), at = Json.getLong(au, "dateTime");
                long start = pt - pt % WINDOW_MS;
                if (at - at % WINDOW_MS != start)
                    return null;
                return "{\"id\":" + Json.getLong(p, "id") + ",\"name\":\""
                       + Json.getString(p, "name") + "\",\"starttime\":" + start
                       + ",\"auction\":" + Json.getLong(au, "id") + "}";
            }, JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(WINDOW_MS - 1),
                                                    Duration.ofMillis(a.graceMs)),
            StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String())
                .withStoreName("q8-join"))
            .filter((k, v) -> v != null)
            .to(a.output);
    }
}
