'use strict';
/*
 * rules.js — the auction showcase's validation rules (validate-auction, validate-bid), byte
 * for byte the same as topologies/auction/rules.c. See README.md for the contract.
 *
 * validateAuction(bytes) / validateBid(bytes) take a value's exact bytes (a Buffer) and return
 *   {ok: true,  key: "<id>", value: "<enriched JSON text>"}   or
 *   {ok: false, reason: "<reason>", value: '{"rejected":"<reason>"}'}
 * The JSON text is built here, field by field, in a fixed order (the same as rules.c emits
 * with json-c's JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE).
 */

const INT = 'integer';
const STR = 'string';

const AUCTION_FIELDS = [
    ['id', INT], ['itemName', STR], ['description', STR], ['initialBid', INT], ['reserve', INT],
    ['dateTime', INT], ['expires', INT], ['seller', INT], ['category', INT], ['extra', STR],
];
const BID_FIELDS = [
    ['auction', INT], ['bidder', INT], ['price', INT], ['channel', STR], ['url', STR],
    ['dateTime', INT], ['extra', STR],
];

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF); a BOM is kept, so a
 * value starting with one is not JSON. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/* True when the (valid JSON) text has a \u escape of a lone surrogate. JSON.parse accepts
 * those; the rules do not (they cannot be carried as UTF-8), even in a member that a later
 * duplicate key replaces, hence a scan of the text rather than of the parsed value. */
function hasLoneSurrogateEscape(text) {
    const n = text.length;
    let i = 0;
    while (i < n) {
        if (text.charCodeAt(i) !== 34) {
            i++;
            continue;
        }
        i++; // inside a string
        while (i < n) {
            const c = text.charCodeAt(i);
            if (c === 34) {
                i++;
                break;
            }
            if (c !== 92) {
                i++;
                continue;
            }
            if (text[i + 1] !== 'u') {
                i += 2;
                continue;
            }
            const u = parseInt(text.slice(i + 2, i + 6), 16);
            i += 6;
            if (u >= 0xdc00 && u <= 0xdfff) return true;
            if (u >= 0xd800 && u <= 0xdbff) {
                if (text[i] !== '\\' || text[i + 1] !== 'u') return true;
                const l = parseInt(text.slice(i + 2, i + 6), 16);
                if (!(l >= 0xdc00 && l <= 0xdfff)) return true;
                i += 6;
            }
        }
    }
    return false;
}

/* The JSON object a value holds, or {reason}. */
function parseObject(bytes) {
    let text, v;
    try {
        text = utf8.decode(bytes);
        v = JSON.parse(text);
    } catch {
        return { reason: 'not JSON' };
    }
    if (hasLoneSurrogateEscape(text)) return { reason: 'not JSON' };
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { reason: 'not an object' };
    return { obj: v };
}

const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

function typeOk(v, type) {
    return type === INT ? typeof v === 'number' && Number.isSafeInteger(v) : typeof v === 'string';
}

/* The first missing or mistyped field, in the contract's order, or null. */
function fieldProblem(o, fields) {
    for (const [name, type] of fields) {
        if (!has(o, name)) return `missing field: ${name}`;
        if (!typeOk(o[name], type)) return `wrong type: ${name}`;
    }
    return null;
}

/* '{"f1":v1,...,"extraName":extraText}': integers as decimal (String(-0) is "0"). */
function emit(o, fields, extraName, extraText) {
    let s = '{';
    for (const [name, type] of fields) {
        s += JSON.stringify(name) + ':' + (type === INT ? String(o[name]) : JSON.stringify(o[name])) + ',';
    }
    return s + JSON.stringify(extraName) + ':' + extraText + '}';
}

function rejected(reason) {
    return { ok: false, reason, value: `{"rejected":${JSON.stringify(reason)}}` };
}

function validateAuction(bytes) {
    const p = parseObject(bytes);
    if (p.reason) return rejected(p.reason);
    const o = p.obj;
    const problem = fieldProblem(o, AUCTION_FIELDS);
    if (problem) return rejected(problem);
    if (!(o.id > 0)) return rejected('id must be > 0');
    if (!(o.seller > 0)) return rejected('seller must be > 0');
    if (!(o.initialBid > 0)) return rejected('initialBid must be > 0');
    if (o.reserve < o.initialBid) return rejected('reserve < initialBid');
    if (o.expires <= o.dateTime) return rejected('expires <= dateTime');
    // Exact: both are safe integers, the difference fits in 54 bits.
    const durationMs = (BigInt(o.expires) - BigInt(o.dateTime)).toString();
    return { ok: true, key: String(o.id), value: emit(o, AUCTION_FIELDS, 'durationMs', durationMs) };
}

function validateBid(bytes) {
    const p = parseObject(bytes);
    if (p.reason) return rejected(p.reason);
    const o = p.obj;
    const problem = fieldProblem(o, BID_FIELDS);
    if (problem) return rejected(problem);
    if (!(o.auction > 0)) return rejected('auction must be > 0');
    if (!(o.bidder > 0)) return rejected('bidder must be > 0');
    if (!(o.price > 0)) return rejected('price must be > 0');
    // round(price × 0.908), half up, in exact integer arithmetic.
    const priceEur = ((BigInt(o.price) * 908n + 500n) / 1000n).toString();
    return { ok: true, key: String(o.auction), value: emit(o, BID_FIELDS, 'priceEur', priceEur) };
}

module.exports = { AUCTION_FIELDS, BID_FIELDS, validateAuction, validateBid, hasLoneSurrogateEscape };
