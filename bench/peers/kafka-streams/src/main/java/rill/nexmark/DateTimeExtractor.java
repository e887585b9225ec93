/*
 * DateTimeExtractor — the event's "dateTime" member as the record's timestamp, as Rill's
 * sources take it (the generator also sets the Kafka timestamp to it).
 *
 * DESIGN
 * Values are read as strings or bytes (q0 passes bytes through); both are the same ASCII.
 */
package rill.nexmark;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

public final class DateTimeExtractor implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        Object v = record.value();
        String json = v instanceof byte[] ? new String((byte[]) v, StandardCharsets.US_ASCII)
                                          : (String) v;
        return json == null ? -1 : Json.getLong(json, "dateTime");
    }
}
