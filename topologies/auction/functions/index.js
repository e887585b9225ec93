'use strict';
/*
 * index.js — the auction showcase's HTTP functions for Google's Functions Framework
 * (deployable to Cloud Functions / Cloud Run functions unchanged; no dependency at run time
 * other than the framework itself):
 *
 *   functions-framework --source=topologies/auction/functions --target=validate-auction --port=P
 *
 * Targets (each also exported in camelCase, for deployers whose entry points must be
 * identifiers): validate-auction (validateAuction), validate-bid (validateBid), notify.
 * scripts/functions.sh starts them on 127.0.0.1:18084..18086. Requests and answers are those
 * of Rill's FaaS bridge (README.md of the repository, "Function responses"); what each
 * target answers is in README.md here.
 *
 * Every target also serves GET / → {"target":"<name>"} (readiness) and GET /stats, whose
 * execMs sums the calls' own execution times (handler start → answer; each answer also carries
 * it as Server-Timing: fn;dur=MS) and billedMs the same with each call rounded up to 1 ms, as
 * Lambda bills (bench/auction_pipeline.sh reads it).
 */

const events = require('./events');
const rules = require('./rules');
const { Notifier } = require('./notify');

/* Sends a JSON answer; a function call's (res.locals.rillBill, set when it came in) is billed
 * and carries its execution time as Server-Timing: fn;dur=MS (what the bridge reads). */
function sendJson(res, status, body) {
    const bill = res.locals && res.locals.rillBill;
    if (bill) {
        res.locals.rillBill = null;
        res.set('Server-Timing', `fn;dur=${bill().toFixed(3)}`);
    }
    res.status(status).set('Content-Type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
}

/* {"results":[...]}: results[i] is {outs:[{key, value}]} (key a string or null: null keeps
 * the input key, so "key" is left out; value: JSON text) or {error}. */
function encodeResults(recs, results) {
    const parts = new Array(recs.length);
    for (let i = 0; i < recs.length; i++) {
        const id = JSON.stringify(recs[i].id == null ? '' : String(recs[i].id));
        const r = results[i];
        if (r.error !== undefined) {
            parts[i] = `{"id":${id},"error":${JSON.stringify(r.error)}}`;
            continue;
        }
        const outs = r.outs.map((o) => `{${o.key == null ? '' : `"key":${JSON.stringify(o.key)},`}"value":${o.value}}`);
        parts[i] = `{"id":${id},"records":[${outs.join(',')}]}`;
    }
    return `{"results":[${parts.join(',')}]}`;
}

/* batchFn(recs) → results, one per record. */
function makeTarget(name, batchFn, extraStats) {
    const st = { calls: 0, events: 0, outputs: 0, rejected: 0, errors: 0, execMs: 0, billedMs: 0, startedAt: Date.now() };
    /* One call's own execution time, handler start → answer; billed: rounded up to 1 ms. */
    const bill = (t0) => {
        // Whole microseconds: the value sent in Server-Timing (3 decimals) is then this one.
        const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e3) / 1e3;
        st.execMs += ms;
        st.billedMs += Math.max(1, Math.ceil(ms));
        return ms;
    };
    return function handler(req, res) {
        const p = req.path.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
        if (req.method === 'GET' && p === '/') return sendJson(res, 200, { target: name });
        if (req.method === 'GET' && p === '/stats') {
            return sendJson(res, 200, {
                target: name, calls: st.calls, events: st.events, outputs: st.outputs, rejected: st.rejected,
                recordErrors: st.errors, execMs: Math.round(st.execMs * 1000) / 1000, billedMs: st.billedMs,
                uptimeMs: Date.now() - st.startedAt, ...(extraStats ? extraStats() : {}),
            });
        }
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'function calls are POST' });
        const t0 = process.hrtime.bigint();
        res.locals.rillBill = () => bill(t0);
        let recs;
        try {
            recs = events.parseRequest(req);
        } catch (e) {
            return sendJson(res, 400, { error: `bad request: ${e.message || e}` });
        }
        const results = batchFn(recs);
        st.calls++;
        st.events += recs.length;
        for (const r of results) {
            if (r.error !== undefined) st.errors++;
            else st.outputs += r.outs.length;
            if (r.rejected) st.rejected++;
        }
        const delay = slowDelayMs(req.query);
        if (delay > 0) {
            st.slowed = (st.slowed || 0) + 1;
            setTimeout(() => sendJson(res, 200, encodeResults(recs, results)), delay);
            return undefined;
        }
        return sendJson(res, 200, encodeResults(recs, results));
    };
}

/* Slow calls on demand, for tests of a slow function (the URL's query string):
 * ?slowFraction=F&slowMinMs=A&slowMaxMs=B delays a fraction F of the answers by A..B ms. */
function slowDelayMs(query) {
    const f = Number(query && query.slowFraction);
    if (!(f > 0) || Math.random() >= f) return 0;
    const lo = Math.max(0, Number(query.slowMinMs) || 0);
    const hi = Math.max(lo, Number(query.slowMaxMs) || lo);
    return Math.min(10000, lo + Math.random() * (hi - lo));
}

/* valid → one record keyed by the auction id, the enriched event; invalid → one record with
 * the input key and {"rejected":"<reason>"} (a normal result: never an "error"). */
function validator(rule) {
    return (recs) =>
        recs.map((rec) => {
            const r = rule(rec.bytes);
            return r.ok
                ? { outs: [{ key: r.key, value: r.value }] }
                : { outs: [{ key: rec.key, value: r.value }], rejected: true };
        });
}

const notifier = new Notifier();

exports.validateAuction = makeTarget('validate-auction', validator(rules.validateAuction));
exports.validateBid = makeTarget('validate-bid', validator(rules.validateBid));
exports.notify = makeTarget('notify', (recs) => notifier.handle(recs), () => notifier.stats());
exports['validate-auction'] = exports.validateAuction;
exports['validate-bid'] = exports.validateBid;
// For unit use.
exports._internal = { encodeResults, notifier, rules, events };
