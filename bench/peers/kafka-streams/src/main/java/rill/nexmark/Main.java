/*
 * Main — the Kafka Streams peer of Rill's NEXMark queries (tests/progs/rill_nexmark_app.c):
 * one stream thread, default RocksDB stores and caches, the same topics, semantics and output
 * bytes. bench/nexmark_suite.sh builds and runs it beside rill_nexmark_app.
 *
 * DESIGN
 * Configuration is Kafka Streams' defaults except what the comparison needs equal: one stream
 * thread, the processing guarantee, string keys and values, the event's dateTime as the
 * timestamp, the state directory. It prints "RUNNING <epoch ms>" on stdout each time the
 * stream thread starts processing after a rebalance; with --exit-on-end it stops by itself
 * once the input is processed (EndWatcher) and prints "END <epoch ms>" when it was done.
 */
package rill.nexmark;

import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

public final class Main {
    private Main() {}

    static List<String> build(StreamsBuilder b, Args a) {
        switch (a.query) {
        case "q0" -> Stateless.q0(b, a);
        case "q1" -> Stateless.q1(b, a);
        case "q2" -> Stateless.q2(b, a);
        case "q3" -> Joins.q3(b, a);
        case "q4" -> Closing.q4(b, a);
        case "q5" -> Windows.q5(b, a);
        case "q6" -> Closing.q6(b, a);
        case "q7" -> Windows.q7(b, a);
        case "q8" -> Joins.q8(b, a);
        case "winning" -> Closing.winning(b, a);
        default -> throw new IllegalArgumentException("unknown query " + a.query);
        }
        return switch (a.query) {
        case "q0", "q1", "q2", "q5", "q7" -> List.of(a.bids);
        case "q3", "q8" -> List.of(a.persons, a.auctions);
        default -> List.of(a.auctions, a.bids);
        };
    }

    static Properties config(Args a) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.guarantee);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, DateTimeExtractor.class);
        p.put("consumer.auto.offset.reset", "earliest");
        if (a.commitIntervalMs >= 0)
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.commitIntervalMs);
        if (a.stateDir != null)
            p.put(StreamsConfig.STATE_DIR_CONFIG, a.stateDir);
        return p;
    }

    public static void main(String[] argv) throws Exception {
        Args a = Args.parse(argv);
        StreamsBuilder b = new StreamsBuilder();
        List<String> sources = build(b, a);
        KafkaStreams streams = new KafkaStreams(b.build(), config(a));
        CountDownLatch stopped = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("nexmark-ks: fatal: " + e);
            stopped.countDown();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && before == KafkaStreams.State.REBALANCING)
                System.out.println("RUNNING " + System.currentTimeMillis());
        });
        System.err.println("nexmark-ks: " + a.query + " as " + a.appId + ", grace " + a.graceMs
                           + " ms, processing.guarantee=" + a.guarantee);
        streams.start();
        if (a.exitOnEnd) {
            EndWatcher w = new EndWatcher(a.bootstrap, a.appId, sources);
            long end = w.await(3_600_000, () -> stopped.getCount() > 0);
            w.close();
            System.out.println(end > 0 ? "END " + end : "END timeout");
        } else {
            stopped.await();
        }
        streams.close();
    }
}
