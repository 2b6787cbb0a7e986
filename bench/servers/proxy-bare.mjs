// The two ways a Node proxy can keep connections to its upstream, with nothing else around them:
// an undici Pool, or node:http.request with a keep-alive Agent. anomaly's proxy chose by this
// measurement (docs/proxy.md). Hop-by-hop fields are dropped as any proxy must.
//   node bench/servers/proxy-bare.mjs --client undici|agent --port 8080 --upstream http://127.0.0.1:9000
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: opts } = parseArgs({
  options: { port: { type: 'string', default: '8080' }, upstream: { type: 'string' }, client: { type: 'string', default: 'undici' } },
});
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const upstream = new URL(opts.upstream);

function requestHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  out.push('host', upstream.host);
  return out;
}

let handler;
if (opts.client === 'undici') {
  const pool = new Pool(upstream.origin, { connections: null, pipelining: 1, keepAliveTimeout: 4000 });
  handler = (req, res) => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.request({ method: req.method, path: req.url, headers: requestHeaders(req.rawHeaders), body: hasBody ? req : null }).then(
      (up) => {
        const headers = [];
        for (const name in up.headers) if (!HOP.has(name)) headers.push(name, up.headers[name]);
        res.writeHead(up.statusCode, headers);
        up.body.pipe(res);
      },
      () => {
        res.writeHead(502);
        res.end();
      },
    );
  };
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  handler = (req, res) => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: requestHeaders(req.rawHeaders), agent }, (ures) => {
      const headers = [];
      const raw = ures.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
      res.writeHead(ures.statusCode, headers);
      ures.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
}
http.createServer({ keepAliveTimeout: 65_000 }, handler).listen(Number(opts.port), '127.0.0.1');
