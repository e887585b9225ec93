'use strict';
/*
 * listen-host.js — preload (node -r) that makes the Functions Framework listen on one host.
 *
 * @google-cloud/functions-framework 5.x has no host option: its main.js calls
 * server.listen(port), which binds every interface (:: / 0.0.0.0). This preload wraps
 * net.Server.prototype.listen so that a listen(port[, cb]) without a host binds
 * RILL_FUNCTIONS_HOST (default 127.0.0.1) instead. Explicit hosts are left alone.
 *
 *   node -r ./listen-host.js node_modules/@google-cloud/functions-framework/build/src/main.js \
 *        --source=. --target=echo --port=18081
 */
const net = require('node:net');

const host = process.env.RILL_FUNCTIONS_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
    const a0 = args[0];
    if ((typeof a0 === 'number' || (typeof a0 === 'string' && /^\d+$/.test(a0))) &&
        (args.length === 1 || typeof args[1] === 'function')) {
        args.splice(1, 0, host);
    } else if (a0 && typeof a0 === 'object' && a0.port !== undefined && a0.host === undefined && a0.path === undefined) {
        args[0] = { ...a0, host };
    }
    return listen.apply(this, args);
};
