'use strict';
/*
 * index.js — HTTP functions for the Google Cloud Functions Framework, used by Rill's FaaS
 * bridge tests and demos. One process per target:
 *
 *   functions-framework --source=faas_bridge/functions --target=echo|transform|faulty --port=P
 *
 * (scripts/functions.sh starts them bound to 127.0.0.1; see listen-host.js.)
 *
 * Requests (what Rill sends, faas_bridge/bridge_int.h rill__faas_encode):
 *   - CloudEvents binary mode, one event: ce-id, ce-partitionkey (the key), ... headers; the
 *     body is the record value. ce-* values are percent-decoded (CloudEvents HTTP binding).
 *   - CloudEvents structured batch: Content-Type application/cloudevents-batch+json, a JSON
 *     array of events {id, partitionkey, datacontenttype, data | data_base64, ...}.
 *   - Also a structured single event (application/cloudevents+json).
 * Answer (rill__faas_decode): 200 {"results":[{"id":..,"records":[{"key":..,"value":..}]}
 *                                             | {"id":..,"error":".."}]}
 *
 * Targets:
 *   echo       one record per input: key and value unchanged (JSON values spliced as they are,
 *              any other bytes as a JSON string of their text).
 *   transform  integers N → "N:(N*7 % 1000)", fan-out on last digit 0 (second record "…:b"),
 *              filter on last digit 5, "poison…" → per-record error "poison record";
 *              anything else passes unchanged (core.js transformRecord).
 *   faulty     transform with injected faults: settings from RILL_FAULT (JSON) and
 *              RILL_FAULT_SEED at start, POST /control, and per request the header
 *              x-rill-fault (JSON, merged over the settings). See core.js for the keys.
 *
 * Every target also serves:
 *   GET  /stats    {"target","calls","events","outputs","recordErrors","execMs","billedMs",
 *                   "faults":{kind:n},"paused","held","holdingForever","fault","next","uptimeMs"}
 *                  execMs: the answered calls' own execution times, from the handler's start
 *                  to the answer (injected latency included), each also sent as the answer's
 *                  Server-Timing: fn;dur=MS; billedMs: the same with each call rounded up to
 *                  1 ms, as Lambda bills (bench/lib/cost.sh reads both).
 *   POST /control  {"pause":true|false, "fault":{..}, "merge":{..}, "next":["429",..],
 *                   "reset":true, "coldStart":true}  → the stats. While paused, calls are held (not answered)
 *                   and answered in arrival order on resume.
 *   GET  /         {"target":..} (readiness)
 * Any other POST path is a function call.
 */

const core = require('./core');

const BATCH_CT = 'application/cloudevents-batch+json';
const STRUCTURED_CT = 'application/cloudevents+json';

/* A Content-Type's media type: lower case, without parameters. */
function bareType(contentType) {
    return String(contentType || '')
        .split(';')[0]
        .trim()
        .toLowerCase();
}

function mediaType(req) {
    return bareType(req.get('content-type'));
}

/* An event's data media type (JSON when the event does not say). */
function eventDataType(ev) {
    return bareType(ev.datacontenttype || 'application/json');
}

/* A ce-* header value: Node hands header bytes over as latin1, so raw UTF-8 is re-decoded;
 * then percent-decoding (the CloudEvents HTTP binding percent-encodes non-ASCII, '%', '"'
 * and space). */
function pctDecode(s) {
    if (s == null) return s;
    if (/[\u0080-\u00ff]/.test(s)) s = Buffer.from(s, 'latin1').toString('utf8');
    if (s.indexOf('%') < 0) return s;
    try {
        return decodeURIComponent(s);
    } catch {
        return s;
    }
}

function isJsonMediaType(ct) {
    return ct === 'application/json' || ct.endsWith('+json') || ct === 'text/json';
}

/*
 * Raw text spans of each event's "data" member in a batch (text already validated by
 * JSON.parse): spans[i] = [start, end) or null. Lets echo return JSON data byte for byte
 * (JSON.parse would lose big integers and formatting).
 */
function dataSpans(s) {
    const n = s.length;
    let i = 0;
    const ws = () => {
        while (i < n) {
            const c = s.charCodeAt(i);
            if (c === 32 || c === 9 || c === 10 || c === 13) i++;
            else break;
        }
    };
    const expect = (ch) => {
        if (s[i] !== ch) throw new Error(`expected ${ch} at ${i}`);
        i++;
    };
    const skipString = () => {
        i++;
        for (;;) {
            const j = s.indexOf('"', i);
            if (j < 0) throw new Error('unterminated string');
            let k = j - 1, bs = 0;
            while (s.charCodeAt(k) === 92) {
                bs++;
                k--;
            }
            i = j + 1;
            if (bs % 2 === 0) return;
        }
    };
    const skipValue = () => {
        const c = s.charCodeAt(i);
        if (c === 34) return skipString();
        if (c === 123 || c === 91) {
            let depth = 0;
            while (i < n) {
                const ch = s.charCodeAt(i);
                if (ch === 34) {
                    skipString();
                    continue;
                }
                if (ch === 123 || ch === 91) depth++;
                else if (ch === 125 || ch === 93) {
                    depth--;
                    if (depth === 0) {
                        i++;
                        return;
                    }
                }
                i++;
            }
            throw new Error('unterminated value');
        }
        while (i < n) {
            const ch = s.charCodeAt(i);
            if (ch === 44 || ch === 125 || ch === 93 || ch === 32 || ch === 9 || ch === 10 || ch === 13) break;
            i++;
        }
    };
    const spans = [];
    ws();
    expect('[');
    ws();
    if (s[i] === ']') return spans;
    for (;;) {
        ws();
        expect('{');
        let span = null;
        ws();
        if (s[i] !== '}') {
            for (;;) {
                ws();
                const ks = i;
                skipString();
                const key = JSON.parse(s.slice(ks, i));
                ws();
                expect(':');
                ws();
                const vs = i;
                skipValue();
                if (key === 'data') span = [vs, i];
                ws();
                if (s[i] === ',') {
                    i++;
                    continue;
                }
                break;
            }
        }
        expect('}');
        spans.push(span);
        ws();
        if (s[i] === ',') {
            i++;
            continue;
        }
        expect(']');
        return spans;
    }
}

/* One structured event → record. rawData: the raw JSON text of its "data" member, if known. */
function eventToRecord(ev, rawData) {
    if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) {
        throw new Error('an event is not a JSON object');
    }
    let bytes;
    const ct = eventDataType(ev);
    if (ev.data_base64 !== undefined) {
        bytes = Buffer.from(String(ev.data_base64), 'base64');
    } else if (ev.data === undefined) {
        bytes = Buffer.alloc(0);
    } else if (!isJsonMediaType(ct) && typeof ev.data === 'string') {
        bytes = Buffer.from(ev.data, 'utf8'); // text data of a non-JSON content type
    } else {
        bytes = Buffer.from(rawData != null ? rawData : JSON.stringify(ev.data), 'utf8');
    }
    const key = ev.partitionkey === undefined || ev.partitionkey === null ? null : String(ev.partitionkey);
    return { id: ev.id == null ? '' : String(ev.id), key, bytes };
}

/* The records of a request, or throws (→ 400). */
function parseRequest(req) {
    const ct = mediaType(req);
    if (ct === BATCH_CT) {
        const text = (req.rawBody || Buffer.alloc(0)).toString('utf8');
        const events = JSON.parse(text);
        if (!Array.isArray(events)) throw new Error('a batch must be a JSON array of events');
        let spans = null;
        /* Only JSON data is returned byte for byte; text data is its string (eventToRecord). */
        const jsonData = (e) =>
            e &&
            typeof e === 'object' &&
            e.data !== undefined &&
            e.data_base64 === undefined &&
            isJsonMediaType(eventDataType(e));
        if (events.some(jsonData)) {
            try {
                spans = dataSpans(text);
                if (spans.length !== events.length) spans = null;
            } catch {
                spans = null;
            }
        }
        return events.map((ev, i) => eventToRecord(ev, spans && spans[i] ? text.slice(spans[i][0], spans[i][1]) : null));
    }
    if (ct === STRUCTURED_CT) {
        const ev = req.body && !Buffer.isBuffer(req.body) ? req.body : JSON.parse((req.rawBody || '').toString('utf8'));
        return [eventToRecord(ev, null)];
    }
    const key = req.get('ce-partitionkey');
    return [
        {
            id: pctDecode(req.get('ce-id') || ''),
            key: key === undefined ? null : pctDecode(key),
            bytes: req.rawBody || Buffer.alloc(0),
        },
    ];
}

/* Sends a JSON answer. For a function call (res.locals.rillCall, set when it came in) the
 * call's execution time so far is billed (State.bill) and sent as Server-Timing: fn;dur=MS,
 * which the bridge reads as the function's own duration. */
function sendJson(res, status, body) {
    const call = res.locals && res.locals.rillCall;
    if (call) {
        res.locals.rillCall = null;
        res.set('Server-Timing', `fn;dur=${call.state.bill(call.t0).toFixed(3)}`);
    }
    res.status(status).set('Content-Type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
}

function controlBody(req) {
    if (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) return req.body;
    const text = (req.rawBody || Buffer.alloc(0)).toString('utf8');
    return text.trim() === '' ? {} : JSON.parse(text);
}

function makeTarget(name, recordFn, faulty) {
    const state = new core.State(name, faulty ? process.env : {});

    return async function handler(req, res) {
        const path = req.path.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
        if (path === '/stats' && req.method === 'GET') return sendJson(res, 200, state.stats());
        if (path === '/control') {
            if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST /control' });
            try {
                return sendJson(res, 200, state.control(controlBody(req)));
            } catch (e) {
                return sendJson(res, 400, { error: String(e.message || e) });
            }
        }
        if (req.method === 'GET' && path === '/') return sendJson(res, 200, { target: name });
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'function calls are POST' });
        res.locals.rillCall = { state, t0: process.hrtime.bigint() };

        let recs, fault;
        try {
            recs = parseRequest(req);
            if (faulty) {
                const h = req.get('x-rill-fault');
                fault = core.mergeFault(state.baseFault, h ? core.parseFaultJson(h, 'x-rill-fault') : null);
            }
        } catch (e) {
            return sendJson(res, 400, { error: `bad request: ${e.message || e}` });
        }
        state.calls++;
        state.events += recs.length;

        // The client may give up while the call is held (pause, latency, timeout fault).
        let gone = false;
        let onGone = null;
        res.on('close', () => {
            if (!res.writableFinished) {
                gone = true;
                if (onGone) onGone();
            }
        });

        if (state.paused) {
            const resumed = await state.waitWhilePaused((cb) => {
                onGone = cb;
            });
            onGone = null;
            if (!resumed || gone) return;
        }

        if (faulty) {
            await state.coldStart(fault);
            const d = state.decide(recs, fault);
            if (d.latencyMs > 0) await core.sleep(d.latencyMs);
            if (gone) return;
            if (d.kind !== 'ok') {
                state.countFault(d.kind);
                switch (d.kind) {
                    case '500':
                    case '503':
                    case '408':
                        return sendJson(res, Number(d.kind), { error: `injected fault ${d.kind}` });
                    case '429':
                        res.set('Retry-After', String(fault.retryAfterS ?? 1));
                        return sendJson(res, 429, { error: 'injected fault 429' });
                    case 'timeout':
                        // Never answer: hold the request until the client gives up.
                        state.holdingForever++;
                        res.on('close', () => state.holdingForever--);
                        return;
                    case 'malformed': {
                        const full = core.encodeResults(recs, recs.map(recordFn));
                        return sendJson(res, 200, full.slice(0, Math.max(1, Math.floor(full.length / 2))));
                    }
                    case 'reset': // TCP RST (curl: 56 "Connection reset by peer")
                        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
                        else req.socket.destroy();
                        return;
                    case 'close': // FIN without an answer (curl: 52 "Empty reply from server")
                        req.socket.destroy();
                        return;
                    case 'throw':
                        throw new Error('injected fault throw');
                }
            }
            if (fault.poisonBatch && recs.some(core.isPoison)) {
                state.countFault('poisonBatch');
                return sendJson(res, 500, { error: 'poison record in batch' });
            }
        }

        const results = recs.map(recordFn);
        for (const r of results) {
            if (r.error !== undefined) state.recordErrors++;
            else state.outputs += r.outs.length;
        }
        return sendJson(res, 200, core.encodeResults(recs, results));
    };
}

exports.echo = makeTarget('echo', core.echoRecord, false);
exports.transform = makeTarget('transform', core.transformRecord, false);
exports.faulty = makeTarget('faulty', core.transformRecord, true);
// For unit use: parsing helpers.
exports._internal = { dataSpans, parseRequest, eventToRecord };
