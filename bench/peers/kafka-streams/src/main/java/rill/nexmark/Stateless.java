/*
 * Stateless — q0 (passthrough), q1 (currency conversion) and q2 (selection) in the DSL, with
 * the semantics and output of tests/progs/rill_nexmark_app.c.
 */
package rill.nexmark;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

final class Stateless {
    private Stateless() {}

    static void q0(StreamsBuilder b, Args a) {
        b.stream(a.bids, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
            .to(a.output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
    }

    static void q1(StreamsBuilder b, Args a) {
        KStream<String, String> bids = b.stream(a.bids);
        bids.mapValues(v -> "{\"auction\":" + Json.getLong(v, "auction")
                            + ",\"bidder\":" + Json.getLong(v, "bidder")
                            + ",\"price\":" + Json.getLong(v, "price") * 908 / 1000
                            + ",\"dateTime\":" + Json.getLong(v, "dateTime") + "}")
            .to(a.output);
    }

    static void q2(StreamsBuilder b, Args a) {
        KStream<String, String> bids = b.stream(a.bids);
        bids.filter((k, v) -> Json.getLong(v, "auction") % 123 == 0)
            .mapValues(v -> "{\"auction\":" + Json.getLong(v, "auction")
                            + ",\"price\":" + Json.getLong(v, "price") + "}")
            .to(a.output);
    }
}
