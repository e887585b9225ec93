/*
 * EndWatcher — --exit-on-end, the peer's counterpart of Rill's --drain: the app stops once
 * its group has committed every source partition to its end and every repartition topic it
 * reads as far as its records go, and nothing has moved for a while.
 *
 * DESIGN
 * Kafka Streams has no end-of-input mode, so the watcher asks the broker (Admin API) every
 * POLL_MS for the group's committed offsets and the topics' end offsets. A repartition topic
 * written transactionally ends with a commit marker the group's offset may stay before, so
 * one offset of lag is allowed there. The end is the first moment all of it held;
 * the app is closed after it held for STABLE_MS (the time reported is that first moment).
 */
package rill.nexmark;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

final class EndWatcher {
    static final long POLL_MS = 250, STABLE_MS = 2_000;

    private final Admin admin;
    private final String appId;
    private final List<String> sources;

    EndWatcher(String bootstrap, String appId, List<String> sources) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        this.admin = Admin.create(p);
        this.appId = appId;
        this.sources = sources;
    }

    /** Blocks until the end held for STABLE_MS, timeoutMs passed or alive says false;
     * returns the epoch ms at which the end first held, or -1. */
    long await(long timeoutMs, java.util.function.BooleanSupplier alive) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs, since = -1;
        Map<TopicPartition, Long> last = null;
        while (System.currentTimeMillis() < deadline && alive.getAsBoolean()) {
            Thread.sleep(POLL_MS);
            Map<TopicPartition, Long> committed = committed();
            boolean done = atEnd(committed);
            if (!done || !committed.equals(last))
                since = done ? System.currentTimeMillis() : -1;
            last = committed;
            if (since > 0 && System.currentTimeMillis() - since >= STABLE_MS)
                return since;
        }
        return -1;
    }

    void close() {
        admin.close();
    }

    private Map<TopicPartition, Long> committed() throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m =
            admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get();
        Map<TopicPartition, Long> out = new HashMap<>();
        m.forEach((tp, om) -> out.put(tp, om == null ? -1 : om.offset()));
        return out;
    }

    private boolean atEnd(Map<TopicPartition, Long> committed) throws Exception {
        Set<String> internal = admin.listTopics().names().get().stream()
            .filter(t -> t.startsWith(appId + "-") && t.endsWith("-repartition"))
            .collect(Collectors.toSet());
        List<String> topics = new java.util.ArrayList<>(sources);
        topics.addAll(internal);
        Map<String, TopicDescription> desc = admin.describeTopics(topics).allTopicNames().get();
        Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
        desc.forEach((t, d) -> d.partitions().forEach(
            p -> ask.put(new TopicPartition(t, p.partition()), OffsetSpec.latest())));
        var ends = admin.listOffsets(ask).all().get();
        for (var e : ends.entrySet()) {
            long end = e.getValue().offset();
            long at = committed.getOrDefault(e.getKey(), end == 0 ? 0L : -1L);
            long slack = internal.contains(e.getKey().topic()) ? 1 : 0;
            if (at < end - slack)
                return false;
        }
        return true;
    }
}
