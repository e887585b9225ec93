'use strict';
/*
 * core.js — the logic shared by the Functions Framework targets (index.js) and the Lambda
 * handlers (lambda.js): record semantics of echo/transform, the response format Rill decodes,
 * fault settings and decisions, pause/resume, statistics. State is in memory only, per process
 * (one process per Functions Framework target; serverless-offline runs handlers in-process).
 *
 * A record here is {id, key, bytes}: id is Rill's own id of the record (the CloudEvents id,
 * "<topic>-<partition>-<offset>-<n>" for the n-th record derived from one input record), key
 * a string or null, bytes a Buffer with the exact value bytes.
 *
 * Response format (faas_bridge/bridge_int.h, rill__faas_decode):
 *   {"results":[{"id":"..","records":[{"key":"..","value":<JSON>}]} | {"id":"..","error":".."}]}
 * A "value" that is a JSON string stands for its raw text, any other JSON value for its JSON
 * text; a missing "key" keeps the input key.
 */

const crypto = require('node:crypto');

// ------------------------------------------------------------------------------------------
// Values

/* JSON's number grammar (RFC 8259, section 6), which JSON.parse accepts exactly. */
const JSON_NUMBER_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/* True if text is JSON that can be spliced into a response as-is and means the same bytes:
 * valid JSON, not a JSON string (a string value means its raw text), no surrounding whitespace.
 * Only an object or array goes to JSON.parse: scalars are checked by their grammar, since a
 * parse that throws (any plain text) cost about half of the function's CPU per record. */
function isSpliceableJson(text) {
    if (text.length === 0) return false;
    const c0 = text.charCodeAt(0), cl = text.charCodeAt(text.length - 1);
    if (c0 === 34 /* " */ || c0 <= 32 || cl <= 32) return false;
    if (c0 !== 123 /* { */ && c0 !== 91 /* [ */) {
        return text === 'true' || text === 'false' || text === 'null' || JSON_NUMBER_RE.test(text);
    }
    try {
        JSON.parse(text);
        return true;
    } catch {
        return false;
    }
}

/* The JSON text of a response "value" that makes Rill produce exactly these bytes: the bytes
 * themselves when they are JSON (other than a JSON string), else a JSON string of their text.
 * (Bytes that are not UTF-8 cannot be carried by a JSON string: they come back with U+FFFD.) */
function valueJsonFromBytes(bytes) {
    const text = bytes.toString('utf8');
    return isSpliceableJson(text) ? text : JSON.stringify(text);
}

/* The "logical" text of a value for transform: the content of a JSON string, else the bytes. */
function logicalText(bytes) {
    const text = bytes.toString('utf8').trim();
    if (text.length >= 2 && text.charCodeAt(0) === 34) {
        try {
            const s = JSON.parse(text);
            if (typeof s === 'string') return s;
        } catch {
            /* not JSON: the text itself */
        }
    }
    return text;
}

const INT_RE = /^[+-]?\d+$/;

/*
 * transform semantics for one record. Returns {outs:[valueJson...]} or {error}.
 *   value is a decimal integer N (JSON number or JSON string or plain text) →
 *     "N:" + (N*7 % 1000) as a string (BigInt, remainder truncated like C for negative N);
 *     last digit 0 → two records, the second with ":b" appended; last digit 5 → no record.
 *   value starting with "poison" (plain text or JSON string) → error "poison record".
 *   anything else → passed through unchanged (as echo).
 */
function transformRecord(rec) {
    const text = logicalText(rec.bytes);
    if (text.startsWith('poison')) return { error: 'poison record', poison: true };
    if (!INT_RE.test(text)) return { outs: [valueJsonFromBytes(rec.bytes)] };
    const n = BigInt(text);
    const canon = n.toString();
    const last = canon.charCodeAt(canon.length - 1) - 48;
    if (last === 5) return { outs: [] };
    const v = `${canon}:${(n * 7n) % 1000n}`;
    if (last === 0) return { outs: [JSON.stringify(v), JSON.stringify(v + ':b')] };
    return { outs: [JSON.stringify(v)] };
}

function echoRecord(rec) {
    return { outs: [valueJsonFromBytes(rec.bytes)] };
}

function isPoison(rec) {
    return logicalText(rec.bytes).startsWith('poison');
}

/* Builds the response body for results (one per record, same order):
 * {outs:[valueJson...]} or {error}. keepKey: emit "key" (the input key) when it is non-null. */
function encodeResults(recs, results) {
    const parts = new Array(recs.length);
    for (let i = 0; i < recs.length; i++) {
        const rec = recs[i], r = results[i];
        const id = JSON.stringify(rec.id == null ? '' : String(rec.id));
        if (r.error !== undefined) {
            parts[i] = `{"id":${id},"error":${JSON.stringify(r.error)}}`;
            continue;
        }
        const key = rec.key == null ? '' : `"key":${JSON.stringify(rec.key)},`;
        parts[i] = `{"id":${id},"records":[${r.outs.map((v) => `{${key}"value":${v}}`).join(',')}]}`;
    }
    return `{"results":[${parts.join(',')}]}`;
}

// ------------------------------------------------------------------------------------------
// Fault settings
//
// {
//   "seed": 1,              decisions: sha256(seed, the call's record ids, attempt number of
//                           that id set), so a retry of the same batch draws anew
//   "latencyMs": 0 | 50 | [min,max] | {"min":..,"max":..}   (uniform random in [min,max])
//   "coldStartMs": 0,       delay of the first call (calls arriving meanwhile wait too)
//   "rates": {"500":0.05, "503":0, "429":0, "408":0, "timeout":0, "malformed":0,
//             "reset":0, "close":0, "throw":0},   fraction of CALLS (not records) per fault
//   "retryAfterS": 1,       Retry-After of a 429
//   "poisonBatch": false,   a poison record fails the whole call (HTTP 500; Lambda: throws)
//                           instead of getting a per-record error
//   "partial": false,       Lambda only: failed records as batchItemFailures
//   "force": "429",         this call gets this fault ("ok": none) — for x-rill-fault
//   "next": ["429","ok"]    (RILL_FAULT, /control) faults of the next calls, in order
// }
// Fault kinds: "500" "503" "429" "408" (that HTTP status), "timeout" (never answer),
// "malformed" (HTTP 200, a truncated JSON body), "reset" (TCP RST), "close" (close the
// connection without an answer), "throw" (the function throws: HTTP 500 from the Functions
// Framework; Lambda: X-Amz-Function-Error: Unhandled), "ok" (no fault).

const FAULT_KINDS = ['500', '503', '429', '408', 'timeout', 'malformed', 'reset', 'close', 'throw'];

function parseFaultJson(text, where) {
    if (text == null || String(text).trim() === '') return {};
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new Error(`${where}: fault settings must be a JSON object`);
    }
    return v;
}

function normalizeFault(f) {
    const out = { ...f };
    if (f.rates) out.rates = { ...f.rates };
    for (const k of Object.keys(out.rates || {})) {
        if (!FAULT_KINDS.includes(k)) throw new Error(`unknown fault kind in rates: ${k}`);
        const r = Number(out.rates[k]);
        if (!(r >= 0 && r <= 1)) throw new Error(`rate of ${k} must be 0..1`);
        out.rates[k] = r;
    }
    if (out.force !== undefined && out.force !== 'ok' && !FAULT_KINDS.includes(String(out.force))) {
        throw new Error(`unknown fault kind: ${out.force}`);
    }
    return out;
}

/* Effective settings for one call: base overridden by override (top-level keys; rates merged). */
function mergeFault(base, override) {
    if (!override || Object.keys(override).length === 0) return base;
    const out = { ...base, ...override };
    out.rates = { ...(base.rates || {}), ...(override.rates || {}) };
    return normalizeFault(out);
}

function latencyRange(l) {
    if (l == null) return [0, 0];
    if (typeof l === 'number' || typeof l === 'string') return [Number(l), Number(l)];
    if (Array.isArray(l)) return [Number(l[0]), Number(l[1] ?? l[0])];
    return [Number(l.min ?? 0), Number(l.max ?? l.min ?? 0)];
}

/* Uniform [0,1) numbers derived from a string. */
function draws(material) {
    const h = crypto.createHash('sha256').update(material).digest();
    return [h.readUIntBE(0, 6) / 2 ** 48, h.readUIntBE(6, 6) / 2 ** 48];
}

// ------------------------------------------------------------------------------------------
// State

class State {
    constructor(target, env = process.env) {
        this.target = target;
        this.startedAt = Date.now();
        this.paused = false;
        this.held = new Set(); // waiters while paused: {resolve}
        this.holdingForever = 0; // "timeout" faults currently holding a request
        this.baseFault = normalizeFault({
            seed: env.RILL_FAULT_SEED !== undefined ? Number(env.RILL_FAULT_SEED) : 1,
            ...parseFaultJson(env.RILL_FAULT, 'RILL_FAULT'),
        });
        this.next = Array.isArray(this.baseFault.next) ? [...this.baseFault.next] : [];
        delete this.baseFault.next;
        this.coldPending = true;
        this.coldPromise = null;
        this.resetStats();
    }

    resetStats() {
        this.calls = 0;
        this.events = 0;
        this.outputs = 0;
        this.recordErrors = 0;
        this.faults = {};
        this.attempts = new Map(); // batch key → calls seen with exactly these ids
        this.execMs = 0; // the calls' own execution times (handler start → answer sent)
        this.billedMs = 0; // the same, each call rounded up to 1 ms (as Lambda bills)
    }

    /* Adds one call's execution time, from t0 (process.hrtime.bigint() at its start), and
     * returns it (ms). */
    bill(t0) {
        // Whole microseconds: the value sent in Server-Timing (3 decimals) is then this one.
        const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e3) / 1e3;
        this.execMs += ms;
        this.billedMs += Math.max(1, Math.ceil(ms));
        return ms;
    }

    countFault(kind) {
        this.faults[kind] = (this.faults[kind] || 0) + 1;
    }

    stats() {
        return {
            target: this.target,
            calls: this.calls,
            events: this.events,
            outputs: this.outputs,
            recordErrors: this.recordErrors,
            execMs: Math.round(this.execMs * 1000) / 1000,
            billedMs: this.billedMs,
            faults: this.faults,
            paused: this.paused,
            held: this.held.size,
            holdingForever: this.holdingForever,
            fault: this.baseFault,
            next: this.next,
            uptimeMs: Date.now() - this.startedAt,
        };
    }

    /* {"pause":bool, "fault":{...} (replaces the settings), "merge":{...} (merged into them),
     *  "next":[kinds] (appended), "reset":true (statistics, attempt counts, "next"),
     *  "coldStart":true (the next call waits coldStartMs again)}. */
    control(cmd) {
        if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
            throw new Error('control: expected a JSON object');
        }
        if (cmd.reset) {
            this.resetStats();
            this.next = [];
        }
        if (cmd.coldStart) {
            this.coldPending = true;
            this.coldPromise = null;
        }
        if (cmd.fault !== undefined) {
            const f = normalizeFault({ seed: this.baseFault.seed, ...cmd.fault });
            if (Array.isArray(f.next)) this.next.push(...f.next);
            delete f.next;
            this.baseFault = f;
        }
        if (cmd.merge !== undefined) this.baseFault = mergeFault(this.baseFault, cmd.merge);
        if (Array.isArray(cmd.next)) {
            for (const k of cmd.next) {
                if (k !== 'ok' && !FAULT_KINDS.includes(String(k))) throw new Error(`unknown fault kind: ${k}`);
                this.next.push(String(k));
            }
        }
        if (cmd.pause !== undefined) {
            this.paused = !!cmd.pause;
            if (!this.paused) {
                const waiters = [...this.held];
                this.held.clear();
                for (const w of waiters) w.resolve();
            }
        }
        return this.stats();
    }

    /* Resolves when not paused; onAbort lets a closed client leave the queue. */
    waitWhilePaused(register) {
        if (!this.paused) return Promise.resolve(true);
        return new Promise((resolve) => {
            const w = { resolve: () => resolve(true) };
            this.held.add(w);
            if (register) {
                register(() => {
                    if (this.held.delete(w)) resolve(false);
                });
            }
        });
    }

    /* Cold start: the first call (and any arriving while it lasts) waits coldStartMs. */
    coldStart(fault) {
        if (!this.coldPending) return this.coldPromise || Promise.resolve();
        this.coldPending = false;
        const ms = Number(fault.coldStartMs || 0);
        if (ms > 0) {
            this.countFault('coldStart');
            this.coldPromise = sleep(ms).then(() => {
                this.coldPromise = null;
            });
            return this.coldPromise;
        }
        return Promise.resolve();
    }

    /* Decides the fault of one call and its latency. Deterministic for a given seed, set of
     * record ids and attempt number of that set (a retry of the same batch draws anew), so
     * reruns agree even when calls interleave differently. */
    decide(recs, fault) {
        let key = '';
        for (const r of recs) key += r.id + '\n';
        const keyHash = crypto.createHash('sha1').update(key).digest('base64');
        const attempt = (this.attempts.get(keyHash) || 0) + 1;
        if (this.attempts.size > 1000000) this.attempts.clear();
        this.attempts.set(keyHash, attempt);
        const [u, v] = draws(`${fault.seed}\n${keyHash}\n${attempt}`);
        const [lo, hi] = latencyRange(fault.latencyMs);
        const latencyMs = lo + (hi - lo) * v;
        let kind = 'ok';
        if (fault.force !== undefined) kind = String(fault.force);
        else if (this.next.length > 0) kind = this.next.shift();
        else {
            let acc = 0;
            for (const k of FAULT_KINDS) {
                acc += (fault.rates && fault.rates[k]) || 0;
                if (u < acc) {
                    kind = k;
                    break;
                }
            }
        }
        return { kind, latencyMs, attempt };
    }
}

function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

module.exports = {
    FAULT_KINDS,
    State,
    echoRecord,
    encodeResults,
    isPoison,
    mergeFault,
    normalizeFault,
    parseFaultJson,
    sleep,
    transformRecord,
    valueJsonFromBytes,
};
