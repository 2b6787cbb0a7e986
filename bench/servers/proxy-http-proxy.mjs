// Reference proxy: the http-proxy npm package on node:http, keep-alive agent to the upstream.
//   node bench/servers/proxy-http-proxy.mjs --port 8080 --upstream http://127.0.0.1:9000
import http from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';

const { values: opts } = parseArgs({ options: { port: { type: 'string', default: '8080' }, upstream: { type: 'string' } } });
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: opts.upstream, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end();
});
http.createServer((req, res) => proxy.web(req, res)).listen(Number(opts.port), '127.0.0.1');
