// Reference server: raw Node `http` (or `https` with --cert/--key), no framework.
// GET /hello -> "hello world"; with --static <dir>, every regular file of <dir> is
// served from memory (read once at start) with content-type, etag and last-modified,
// the best a plain Node program can do without sendfile.
import http from 'node:http';
import https from 'node:https';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    static: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});

const TYPES = { '.txt': 'text/plain', '.html': 'text/html', '.css': 'text/css', '.js': 'text/javascript', '.json': 'application/json' };
const HELLO = Buffer.from('hello world');

/** url path -> prepared response (headers computed once) */
const files = new Map();
if (opts.static) {
  for (const name of readdirSync(opts.static)) {
    const full = join(opts.static, name);
    const st = statSync(full);
    if (!st.isFile()) continue;
    const body = readFileSync(full);
    files.set('/' + name, {
      body,
      headers: {
        'content-type': TYPES[extname(name)] ?? 'application/octet-stream',
        'content-length': String(body.length),
        etag: `"${Math.floor(st.mtimeMs / 1000).toString(16)}-${st.size.toString(16)}"`,
        'last-modified': st.mtime.toUTCString(),
      },
    });
  }
}

function onRequest(req, res) {
  if (req.url === '/hello') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
    res.end(HELLO);
    return;
  }
  const file = files.get(req.url);
  if (file !== undefined) {
    if (req.headers['if-none-match'] === file.headers.etag) {
      res.writeHead(304, { etag: file.headers.etag });
      res.end();
      return;
    }
    res.writeHead(200, file.headers);
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
}

const server = opts.cert
  ? https.createServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key) }, onRequest)
  : http.createServer(onRequest);
server.keepAliveTimeout = 65_000;
server.listen(Number(opts.port), opts.host, () => {
  console.log(`node-http listening on ${opts.host}:${server.address().port}${opts.cert ? ' (tls)' : ''}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
