'use strict';
/*
 * upper.js — the smallest useful function for a Rill FaaS stage: each record's value in upper
 * case, key kept. Two entry points over one rule:
 *
 *   upper        an HTTP function for Google's Functions Framework (the stage's default
 *                CloudEvents format). Run it:
 *                  faas_bridge/functions/node_modules/.bin/functions-framework \
 *                      --source=examples/functions/upper.js --target=upper --port=8080
 *                and give the stage url "http://127.0.0.1:8080/".
 *   handler      an AWS Lambda handler (the stage's Lambda format: the event of Lambda's Kafka
 *                trigger, values in base64).
 *
 * What Rill sends and expects is in the README ("Function responses"): one event per record,
 * each with an id; the answer lists, per id, the records to emit (or an error for that record).
 */

/* The rule: text in, text out. */
function upper(text) {
  return text.toUpperCase();
}

/* CloudEvents: a batch is a JSON array of events (data, or data_base64 for bytes that are not
 * JSON); a single event comes in binary mode (ce-id header, the value as the body). */
function cloudEvents(req) {
  const type = req.get('content-type') || '';
  const raw = (req.rawBody || Buffer.alloc(0)).toString('utf8');
  if (type.startsWith('application/cloudevents-batch+json')) {
    return JSON.parse(raw).map((ev) => ({
      id: ev.id,
      text: ev.data_base64 !== undefined
        ? Buffer.from(ev.data_base64, 'base64').toString('utf8')
        : (typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data)),
    }));
  }
  return [{id: decodeURIComponent(req.get('ce-id') || ''), text: raw}];
}

exports.upper = (req, res) => {
  let events;
  try {
    events = cloudEvents(req);
  } catch (e) {
    res.status(400).send(`not a CloudEvents request: ${e.message}`);
    return;
  }
  /* A string value is sent as its text; records without a key keep the input's key. */
  res.json({results: events.map((ev) => ({id: ev.id, records: [{value: upper(ev.text)}]}))});
};

exports.handler = async (event) => {
  const results = [];
  for (const records of Object.values(event.records || {})) {
    for (const r of records) {
      const text = Buffer.from(r.value || '', 'base64').toString('utf8');
      results.push({id: r.id, records: [{value: upper(text)}]});
    }
  }
  return {results};
};
