/*
 * ClosingProcessor — closes each auction with its winning bid when stream time passes its
 * expiry plus the grace: what a Kafka Streams user writes with the Processor API for the
 * winning bids of NEXMark (the rule of tests/progs/rill_nexmark_app.c, "winning").
 *
 * DESIGN
 * Auctions and bids of one auction id are in one task (both topics keyed by it). Three
 * persistent key-value stores: open auctions (id → {dateTime, expires, reserve, category,
 * seller, bids, has, price, time, bidder}), a deadline index (expires and id, big-endian,
 * so a range scan yields the due ones in order), and bids that came before their auction
 * (id → {price, time, bidder} triples), replayed when it comes. Stream time is the largest
 * timestamp this processor has seen, as for the DSL's windows. A closed auction is
 * forwarded as {auction, category, seller, price, expires, has, bidder, bids}.
 */
package rill.nexmark;

import java.nio.ByteBuffer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

final class ClosingProcessor implements Processor<String, String, String, long[]> {
    static final String OPEN = "closing-open", DEADLINES = "closing-deadlines",
                        HELD = "closing-held";

    private final String auctionsTopic;
    private final long graceMs;
    private ProcessorContext<String, long[]> ctx;
    private KeyValueStore<String, long[]> open, held;
    private KeyValueStore<Bytes, String> deadlines;
    private long streamTime = Long.MIN_VALUE;

    ClosingProcessor(String auctionsTopic, long graceMs) {
        this.auctionsTopic = auctionsTopic;
        this.graceMs = graceMs;
    }

    @Override
    public void init(ProcessorContext<String, long[]> context) {
        ctx = context;
        open = context.getStateStore(OPEN);
        held = context.getStateStore(HELD);
        deadlines = context.getStateStore(DEADLINES);
    }

    private static Bytes deadlineKey(long expires, long id) {
        return Bytes.wrap(ByteBuffer.allocate(16).putLong(expires).putLong(id).array());
    }

    @Override
    public void process(Record<String, String> rec) {
        String topic = ctx.recordMetadata().map(m -> m.topic()).orElse("");
        if (topic.equals(auctionsTopic))
            onAuction(rec.key(), rec.value());
        else
            onBid(rec.key(), rec.value());
        streamTime = Math.max(streamTime, rec.timestamp());
        closeDue();
    }

    private void onAuction(String id, String v) {
        long[] a = {Json.getLong(v, "dateTime"), Json.getLong(v, "expires"),
                    Json.getLong(v, "reserve"), Json.getLong(v, "category"),
                    Json.getLong(v, "seller"), 0, 0, 0, 0, 0};
        long[] early = held.delete(id);
        for (int i = 0; early != null && i + 2 < early.length; i += 3)
            accumulate(a, early[i], early[i + 1], early[i + 2]);
        open.put(id, a);
        deadlines.put(deadlineKey(a[1], Json.keyNumber(id)), id);
    }

    private void onBid(String id, String v) {
        if (Json.keyNumber(id) < 0)
            return; /* the watermark: it only moves time */
        long price = Json.getLong(v, "price"), time = Json.getLong(v, "dateTime"),
             bidder = Json.getLong(v, "bidder");
        long[] a = open.get(id);
        if (a != null) {
            accumulate(a, price, time, bidder);
            open.put(id, a);
            return;
        }
        long[] h = held.get(id);
        long[] more = h == null ? new long[3] : java.util.Arrays.copyOf(h, h.length + 3);
        more[more.length - 3] = price;
        more[more.length - 2] = time;
        more[more.length - 1] = bidder;
        held.put(id, more);
    }

    /** Counts a bid within the auction's time and keeps the best one at or over the reserve. */
    private static void accumulate(long[] a, long price, long time, long bidder) {
        if (time < a[0] || time >= a[1])
            return;
        a[5]++;
        if (price < a[2])
            return;
        boolean better = a[6] == 0 || price > a[7]
                         || (price == a[7] && (time < a[8] || (time == a[8] && bidder < a[9])));
        if (better) {
            a[6] = 1;
            a[7] = price;
            a[8] = time;
            a[9] = bidder;
        }
    }

    private void closeDue() {
        if (streamTime - graceMs < 0)
            return;
        Bytes to = deadlineKey(streamTime - graceMs, Long.MAX_VALUE);
        java.util.List<KeyValue<Bytes, String>> due = new java.util.ArrayList<>();
        try (KeyValueIterator<Bytes, String> it = deadlines.range(null, to)) {
            while (it.hasNext())
                due.add(it.next());
        }
        for (KeyValue<Bytes, String> d : due) {
            deadlines.delete(d.key);
            long[] a = open.delete(d.value);
            if (a == null)
                continue;
            long[] closed = {Json.keyNumber(d.value), a[3], a[4], a[7], a[1], a[6], a[9], a[5]};
            ctx.forward(new Record<>(d.value, closed, a[1]));
        }
    }
}
