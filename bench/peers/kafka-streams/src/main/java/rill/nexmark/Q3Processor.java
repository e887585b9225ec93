/*
 * Q3Processor — NEXMark q3's incremental join with the Processor API: persons and auctions
 * of category 10 (re-keyed by seller), both keyed by person id, meet here; each (auction,
 * seller) pair is written once, when both are present, for sellers in OR, ID or CA (the
 * semantics and output of tests/progs/rill_nexmark_app.c, q3).
 *
 * DESIGN
 * A person is written once and never changes, so a store of persons ({name, city, state}
 * as "name|city|state") and a store of auctions waiting for their seller (seller → ids) are
 * all the state: an auction whose seller is known is joined at once, one that comes first
 * waits and is joined when the person comes. The DSL's stream-table join would drop an
 * auction that comes before its seller's row, where Rill's waits (its grace).
 */
package rill.nexmark;

import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

final class Q3Processor implements Processor<String, String, String, String> {
    static final String PERSONS = "q3-persons", WAITING = "q3-waiting";

    private final String personsTopic;
    private ProcessorContext<String, String> ctx;
    private KeyValueStore<String, String> persons;
    private KeyValueStore<String, long[]> waiting;

    Q3Processor(String personsTopic) {
        this.personsTopic = personsTopic;
    }

    @Override
    public void init(ProcessorContext<String, String> context) {
        ctx = context;
        persons = context.getStateStore(PERSONS);
        waiting = context.getStateStore(WAITING);
    }

    @Override
    public void process(Record<String, String> rec) {
        String topic = ctx.recordMetadata().map(m -> m.topic()).orElse("");
        if (topic.equals(personsTopic)) {
            String v = rec.value();
            String p = Json.getString(v, "name") + "|" + Json.getString(v, "city") + "|"
                       + Json.getString(v, "state");
            persons.put(rec.key(), p);
            long[] ids = waiting.delete(rec.key());
            for (int i = 0; ids != null && i < ids.length; i++)
                emit(rec, p, ids[i]);
            return;
        }
        long id = Json.getLong(rec.value(), "id");
        String p = persons.get(rec.key());
        if (p != null) {
            emit(rec, p, id);
            return;
        }
        long[] ids = waiting.get(rec.key());
        long[] more = ids == null ? new long[1] : java.util.Arrays.copyOf(ids, ids.length + 1);
        more[more.length - 1] = id;
        waiting.put(rec.key(), more);
    }

    private void emit(Record<String, String> rec, String person, long auction) {
        String[] f = person.split("\\|", -1);
        if (!f[2].equals("OR") && !f[2].equals("ID") && !f[2].equals("CA"))
            return;
        ctx.forward(rec.withValue("{\"name\":\"" + f[0] + "\",\"city\":\"" + f[1]
                                  + "\",\"state\":\"" + f[2] + "\",\"id\":" + auction + "}"));
    }
}
