'use strict';
/*
 * h2c.js — a target of index.js (echo, transform or faulty) served over HTTP/2 without TLS
 * and without upgrade (h2c, "prior knowledge"), as a function behind an HTTP/2 front end
 * would be: node's http2.createServer, every call a stream of a shared connection. With
 * --tls-cert and --tls-key (PEM files) it serves HTTPS instead and offers HTTP/2 only (ALPN
 * "h2", no HTTP/1.1: a client that does not take HTTP/2 fails its handshake), as an HTTPS
 * function endpoint that offers HTTP/2 would be to a client that takes it.
 *
 *   node h2c.js --target=echo --port=18090 [--host=127.0.0.1] [--max-streams=100]
 *               [--tls-cert=FILE --tls-key=FILE]
 *
 * The targets are written for the Functions Framework (an Express request and response);
 * this file gives node's HTTP/2 compatibility objects the few members they use (path, get,
 * rawBody, body; locals, set, status, send). It answers GET /stats with the target's
 * statistics plus "sessions": the HTTP/2 connections accepted since the start (each is also
 * logged, "h2c.js: session N"), which is how a test sees that calls shared connections.
 * Listens on 127.0.0.1 unless --host says otherwise.
 */
const http2 = require('node:http2');
const targets = require('./index.js');

function arg(name, dflt) {
    const p = `--${name}=`;
    const a = process.argv.find((s) => s.startsWith(p));
    return a === undefined ? dflt : a.slice(p.length);
}

const targetName = arg('target', 'echo');
const handler = targets[targetName];
if (typeof handler !== 'function' || targetName.startsWith('_')) {
    console.error(`h2c.js: no target "${targetName}" (echo, transform, faulty)`);
    process.exit(2);
}
const port = Number(arg('port', '0'));
const host = arg('host', process.env.RILL_FUNCTIONS_HOST || '127.0.0.1');
const maxStreams = Number(arg('max-streams', '100'));
let sessions = 0;

/* Express's members that index.js uses, on node's HTTP/2 compatibility objects. */
function adapt(req, res, rawBody) {
    const url = new URL(req.url, 'http://h2c');
    req.path = url.pathname;
    req.get = (name) => req.headers[name.toLowerCase()];
    req.rawBody = rawBody;
    req.body = rawBody;
    res.locals = {};
    res.set = (name, value) => {
        res.setHeader(name, value);
        return res;
    };
    res.status = (code) => {
        res.statusCode = code;
        return res;
    };
    res.send = (body) => res.end(body);
}

const tlsCert = arg('tls-cert', '');
const tlsKey = arg('tls-key', '');
const settings = { maxConcurrentStreams: maxStreams };
const server =
    tlsCert && tlsKey
        ? http2.createSecureServer({
              cert: require('node:fs').readFileSync(tlsCert),
              key: require('node:fs').readFileSync(tlsKey),
              allowHTTP1: false,
              settings,
          })
        : http2.createServer({ settings });
const scheme = tlsCert && tlsKey ? 'https' : 'http';
server.on('session', () => console.log(`h2c.js: session ${++sessions}`));
server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        adapt(req, res, Buffer.concat(chunks));
        if (req.method === 'GET' && req.path === '/stats') {
            /* The target's own statistics, with the connections counted here. */
            const send = res.send;
            res.send = (body) => {
                const stats = JSON.parse(body);
                stats.sessions = sessions;
                return send(JSON.stringify(stats));
            };
        }
        Promise.resolve(handler(req, res)).catch((e) => {
            if (!res.headersSent) res.status(500).send(JSON.stringify({ error: String(e.message || e) }));
        });
    });
});
server.listen(port, host, () =>
    console.log(`h2c.js: target ${targetName} on ${scheme}://${host}:${server.address().port}/`),
);
