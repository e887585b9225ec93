/*
 * LongArraySerde — a long[] as 8 big-endian bytes per element: the aggregates and the values
 * that cross repartition topics (small fixed records, as Rill's queries keep them).
 */
package rill.nexmark;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

final class LongArraySerde {
    private LongArraySerde() {}

    static final Serializer<long[]> SERIALIZER = (topic, v) -> {
        if (v == null)
            return null;
        ByteBuffer b = ByteBuffer.allocate(8 * v.length);
        for (long x : v)
            b.putLong(x);
        return b.array();
    };

    static final Deserializer<long[]> DESERIALIZER = (topic, bytes) -> {
        if (bytes == null)
            return null;
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long[] v = new long[bytes.length / 8];
        for (int i = 0; i < v.length; i++)
            v[i] = b.getLong();
        return v;
    };

    static final Serde<long[]> SERDE = Serdes.serdeFrom(SERIALIZER, DESERIALIZER);
}
