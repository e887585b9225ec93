/*
 * Args — the peer's command line, the same flags as rill_nexmark_app's where they mean the
 * same: --query, --bootstrap-servers, --persons, --auctions, --bids, --output, --app-id,
 * --grace-ms, --state-dir, --guarantee (at_least_once | exactly_once_v2),
 * --commit-interval-ms (Kafka Streams' default when absent), --exit-on-end.
 */
package rill.nexmark;

final class Args {
    String query, bootstrap = "127.0.0.1:9092", persons, auctions, bids, output, appId;
    String stateDir, guarantee = "at_least_once";
    long graceMs = -1, commitIntervalMs = -1;
    boolean exitOnEnd;

    static Args parse(String[] argv) {
        Args a = new Args();
        for (int i = 0; i < argv.length; i++) {
            String f = argv[i];
            if (f.equals("--exit-on-end")) {
                a.exitOnEnd = true;
                continue;
            }
            if (i + 1 >= argv.length)
                throw new IllegalArgumentException(f + " needs a value");
            String v = argv[++i];
            switch (f) {
            case "--query" -> a.query = v;
            case "--bootstrap-servers" -> a.bootstrap = v;
            case "--persons" -> a.persons = v;
            case "--auctions" -> a.auctions = v;
            case "--bids" -> a.bids = v;
            case "--output" -> a.output = v;
            case "--app-id" -> a.appId = v;
            case "--grace-ms" -> a.graceMs = Long.parseLong(v);
            case "--state-dir" -> a.stateDir = v;
            case "--guarantee" -> a.guarantee = v;
            case "--commit-interval-ms" -> a.commitIntervalMs = Long.parseLong(v);
            default -> throw new IllegalArgumentException("unknown flag " + f);
            }
        }
        if (a.query == null || a.persons == null || a.auctions == null || a.bids == null
            || a.output == null || a.appId == null)
            throw new IllegalArgumentException(
                "usage: --query q0..q8|winning --persons T --auctions T --bids T --output T "
                + "--app-id ID [--bootstrap-servers H:P] [--grace-ms N] [--state-dir D] "
                + "[--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms N] "
                + "[--exit-on-end]");
        if (a.graceMs < 0)
            a.graceMs = defaultGrace(a.query);
        return a;
    }

    /** Rill's defaults (tests/progs/rill_nexmark_app.c). */
    static long defaultGrace(String query) {
        return switch (query) {
        case "q3" -> 10_000;
        case "q8" -> 60_000;
        default -> 2_000;
        };
    }
}
