'use strict';
/*
 * notify.js — the `notify` function: "sends" notifications by appending one JSON line per
 * notification to a file, and answers a receipt per notification. Idempotent by event id
 * within the process's lifetime (see README.md, "notify").
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Notifier {
    constructor(env = process.env) {
        this.file = env.RILL_NOTIFY_FILE || path.join(env.TMPDIR || os.tmpdir(), 'rill-notifications.log');
        const max = Number(env.RILL_NOTIFY_DEDUP_MAX || 1000000);
        this.dedupMax = Number.isInteger(max) && max > 0 ? max : 1000000;
        this.sent = new Map(); // event id → receipt value text (insertion order = age)
        this.appended = 0;
        this.replayed = 0;
    }

    /* recs: [{id, key, bytes}] → per record {outs:[{key, value}]} | {error}. */
    handle(recs) {
        const sentAt = Date.now();
        const results = new Array(recs.length);
        const fresh = []; // {i, id, line, receipt, key}
        const inBatch = new Map(); // id → index in fresh (a duplicate within the call)
        for (let i = 0; i < recs.length; i++) {
            const id = recs[i].id;
            const done = this.sent.get(id);
            if (done !== undefined) {
                this.replayed++;
                results[i] = { outs: [done] };
                continue;
            }
            if (inBatch.has(id)) {
                results[i] = { same: inBatch.get(id) };
                continue;
            }
            let n;
            try {
                n = JSON.parse(utf8.decode(recs[i].bytes));
            } catch {
                results[i] = { error: 'bad notification: not JSON' };
                continue;
            }
            if (n === null || typeof n !== 'object' || Array.isArray(n)) {
                results[i] = { error: 'bad notification: not an object' };
                continue;
            }
            if (n.person === undefined || n.person === null) {
                results[i] = { error: 'bad notification: missing field: person' };
                continue;
            }
            const receipt = {
                key: String(n.person),
                value: JSON.stringify({ person: n.person, auction: n.auction, kind: n.kind, sentAt, id }),
            };
            const line = JSON.stringify({
                sentAt, id, person: n.person, auction: n.auction, kind: n.kind, price: n.price,
                name: n.name, emailAddress: n.emailAddress,
                ...(recs[i].traceparent ? { traceparent: recs[i].traceparent } : {}),
            }) + '\n';
            inBatch.set(id, fresh.length);
            fresh.push({ i, id, line, receipt });
            results[i] = { outs: [receipt] };
        }
        if (fresh.length > 0) {
            try {
                fs.appendFileSync(this.file, fresh.map((f) => f.line).join(''));
            } catch (e) {
                const error = `notify: cannot append to ${this.file}: ${e.code || e.message}`;
                for (const f of fresh) results[f.i] = { error };
                for (let i = 0; i < results.length; i++) if (results[i].same !== undefined) results[i] = { error };
                return results;
            }
            for (const f of fresh) {
                this.sent.set(f.id, f.receipt);
                if (this.sent.size > this.dedupMax) this.sent.delete(this.sent.keys().next().value);
            }
            this.appended += fresh.length;
        }
        for (let i = 0; i < results.length; i++) {
            if (results[i].same !== undefined) results[i] = { outs: [fresh[results[i].same].receipt] };
        }
        return results;
    }

    stats() {
        return { file: this.file, appended: this.appended, replayed: this.replayed, remembered: this.sent.size };
    }
}

module.exports = { Notifier };
