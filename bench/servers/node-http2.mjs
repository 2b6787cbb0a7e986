// Reference server: raw Node `http2` using the 'stream' API (the fastest Node offers),
// over TLS (--cert/--key, ALPN h2 only) or cleartext h2c (prior knowledge) without them.
// GET /hello -> "hello world".
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '8443' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});

const HELLO = Buffer.from('hello world');
const HELLO_HEADERS = { ':status': 200, 'content-type': 'text/plain', 'content-length': 11 };
const NOT_FOUND_HEADERS = { ':status': 404, 'content-type': 'text/plain' };

const server = opts.cert
  ? http2.createSecureServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key) })
  : http2.createServer();

server.on('stream', (stream, headers) => {
  if (headers[':path'] === '/hello') {
    stream.respond(HELLO_HEADERS);
    stream.end(HELLO);
  } else {
    stream.respond(NOT_FOUND_HEADERS);
    stream.end('not found\n');
  }
});
server.on('sessionError', () => {});
server.listen(Number(opts.port), opts.host, () => {
  console.log(`node-http2 listening on ${opts.host}:${server.address().port}${opts.cert ? ' (tls)' : ' (h2c)'}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
