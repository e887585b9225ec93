'use strict';
/*
 * lambda.js — the transform and faulty functions as AWS Lambda handlers, served offline by
 * serverless-offline (serverless.yml) on the Lambda Invoke API:
 *
 *   POST http://127.0.0.1:PORT/2015-03-31/functions/rill-functions-local-transform/invocations
 *   (PORT: RILL_FN_LAMBDA_PORT, which scripts/functions.sh sets to a free port it reports)
 *
 * Event: the shape of Lambda's Kafka trigger (MSK "aws:kafka" or "SelfManagedKafka"):
 *   {"eventSource":..,"bootstrapServers":..,"records":{"<topic>-<partition>":[{"topic",
 *    "partition","offset","timestamp","timestampType","key":base64,"value":base64,
 *    "headers":[{"name":[byte,...]}]}]}}
 * Answer: {"results":[{"id":"<the record's id>","records":[{"key","value"}]}
 *                     | {"id":..,"error":".."}]}
 * Output values are always JSON strings of the value text (a JSON string stands for its raw
 * text, so this is exact); "key" is the input key when it is valid UTF-8, else omitted (a
 * missing key keeps the input key).
 *
 * faulty: the same fault settings as index.js (RILL_FAULT, RILL_FAULT_SEED; core.js), with
 * these Lambda meanings:
 *   "throw", and the HTTP kinds "500" "503" "429" "408" "reset" "close" → the handler throws
 *       (serverless-offline, like Lambda: HTTP 200 + X-Amz-Function-Error: Unhandled and
 *       {"errorMessage","errorType","trace"}); throttling (429 from the Lambda service itself)
 *       cannot be produced by a handler.
 *   "timeout" → never resolves; serverless-offline answers after the function's timeout
 *       (serverless.yml) with Unhandled "[504] - Lambda timeout.".
 *   "malformed" → returns a string, not the documented object.
 *   "partial": true → failed records are listed in "batchItemFailures":[{"itemIdentifier"}]
 *       instead of getting an "error" result.
 *   "poisonBatch": true → a poison record makes the invocation throw.
 * Test-only event fields (no Kafka event has them):
 *   "rillFault": {...}    per-invocation override (like the x-rill-fault header)
 *   "rillControl": {...}  no records: applies /control (pause, fault, merge, next, reset,
 *                         coldStart) and returns the stats; {} just returns the stats.
 * serverless-offline runs the handlers in its own process (useInProcess), so state (stats,
 * pause, attempt counts) is shared by concurrent invocations of one function, and a pause
 * holds invocations until a control invocation resumes them.
 */

const core = require('./core');

function lambdaRecords(event) {
    const out = [];
    const groups = event && event.records;
    if (groups == null) return out;
    if (typeof groups !== 'object') throw new Error('event.records must be an object');
    for (const list of Object.values(groups)) {
        if (!Array.isArray(list)) throw new Error('event.records values must be arrays');
        for (const r of list) {
            let key = null;
            if (r.key != null) {
                const kb = Buffer.from(String(r.key), 'base64');
                const kt = kb.toString('utf8');
                if (Buffer.from(kt, 'utf8').equals(kb)) key = kt;
            }
            out.push({
                /* Rill's own id of the record (records fanned out from one input share
                 * its offset); the trigger's topic-partition-offset without it. */
                id: r.id != null ? String(r.id) : `${r.topic}-${r.partition}-${r.offset}`,
                key,
                bytes: r.value == null ? Buffer.alloc(0) : Buffer.from(String(r.value), 'base64'),
            });
        }
    }
    return out;
}

/* A response value JSON text (core) → the JS value to return: always the raw text as a string. */
function valueOf(valueJson) {
    return valueJson.charCodeAt(0) === 34 ? JSON.parse(valueJson) : valueJson;
}

function buildAnswer(recs, results, partial) {
    const answer = { results: [] };
    const failures = [];
    for (let i = 0; i < recs.length; i++) {
        const rec = recs[i], r = results[i];
        if (r.error !== undefined) {
            if (partial) failures.push({ itemIdentifier: rec.id });
            else answer.results.push({ id: rec.id, error: r.error });
            continue;
        }
        answer.results.push({
            id: rec.id,
            records: r.outs.map((v) => (rec.key == null ? { value: valueOf(v) } : { key: rec.key, value: valueOf(v) })),
        });
    }
    if (partial) answer.batchItemFailures = failures;
    return answer;
}

function makeHandler(name, recordFn, faulty) {
    const state = new core.State(`lambda-${name}`, faulty ? process.env : {});

    return async function handler(event, context) {
        if (event && event.rillControl !== undefined) return state.control(event.rillControl);

        const recs = lambdaRecords(event);
        const fault = faulty ? core.mergeFault(state.baseFault, event.rillFault || null) : null;
        state.calls++;
        state.events += recs.length;

        if (state.paused) await state.waitWhilePaused(null);

        if (faulty) {
            await state.coldStart(fault);
            const d = state.decide(recs, fault);
            if (d.latencyMs > 0) await core.sleep(d.latencyMs);
            if (d.kind !== 'ok') {
                state.countFault(d.kind);
                if (d.kind === 'timeout') {
                    // Never resolve; serverless-offline answers when the function times out.
                    state.holdingForever++;
                    const left = context && context.getRemainingTimeInMillis ? context.getRemainingTimeInMillis() : 900000;
                    setTimeout(() => state.holdingForever--, left).unref();
                    return new Promise(() => {});
                }
                if (d.kind === 'malformed') return 'malformed: {"results":[';
                throw new Error(`injected fault ${d.kind}`);
            }
            if (fault.poisonBatch && recs.some(core.isPoison)) {
                state.countFault('poisonBatch');
                throw new Error('poison record in batch');
            }
        }

        const results = recs.map(recordFn);
        for (const r of results) {
            if (r.error !== undefined) state.recordErrors++;
            else state.outputs += r.outs.length;
        }
        return buildAnswer(recs, results, faulty && !!fault.partial);
    };
}

exports.transform = makeHandler('transform', core.transformRecord, false);
exports.faulty = makeHandler('faulty', core.transformRecord, true);
exports.echo = makeHandler('echo', core.echoRecord, false);
