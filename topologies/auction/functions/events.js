'use strict';
/*
 * events.js — reads the records of a function call as Rill's FaaS bridge sends them
 * (faas_bridge/bridge_int.h rill__faas_encode): CloudEvents binary mode (one event: ce-*
 * headers, the body is the value), a structured batch (application/cloudevents-batch+json,
 * a JSON array of events with data | data_base64) or one structured event. A copy of
 * faas_bridge/functions/index.js's parser, so that this folder deploys on its own.
 *
 * parseRequest(req) → [{id, key, bytes, traceparent}] (id: the record's own id, e.g.
 * "<topic>-<partition>-<offset>-<n>", key: a string or null, bytes: a Buffer with the value's
 * exact bytes; JSON data of a batch is sliced from the request text, not re-serialized;
 * traceparent: the event's distributed-tracing attribute (W3C Trace Context) or null), or
 * throws (→ HTTP 400).
 */

const BATCH_CT = 'application/cloudevents-batch+json';
const STRUCTURED_CT = 'application/cloudevents+json';

function mediaType(req) {
    return String(req.get('content-type') || '')
        .split(';')[0]
        .trim()
        .toLowerCase();
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
    const ct = String(ev.datacontenttype || 'application/json').split(';')[0].trim().toLowerCase();
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
    const traceparent = typeof ev.traceparent === 'string' ? ev.traceparent : null;
    return { id: ev.id == null ? '' : String(ev.id), key, bytes, traceparent };
}

/* The records of a request, or throws (→ 400). */
function parseRequest(req) {
    const ct = mediaType(req);
    if (ct === BATCH_CT) {
        const text = (req.rawBody || Buffer.alloc(0)).toString('utf8');
        const events = JSON.parse(text);
        if (!Array.isArray(events)) throw new Error('a batch must be a JSON array of events');
        let spans = null;
        if (events.some((e) => e && typeof e === 'object' && e.data !== undefined && e.data_base64 === undefined)) {
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
    const traceparent = req.get('ce-traceparent');
    return [
        {
            id: pctDecode(req.get('ce-id') || ''),
            key: key === undefined ? null : pctDecode(key),
            bytes: req.rawBody || Buffer.alloc(0),
            traceparent: traceparent === undefined ? null : pctDecode(traceparent),
        },
    ];
}

module.exports = { parseRequest, dataSpans, eventToRecord };
