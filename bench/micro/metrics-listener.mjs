// CPU per request of the metrics completion listener (what `admin:` adds to every request):
// the route slot lookup through RouteTag, the status count, the latency bucket, bytes.
// Run: node bench/micro/metrics-listener.mjs
import { RequestBody } from '../../dist/src/core/body.js';
import { HeaderMap } from '../../dist/src/core/headers.js';
import { Request } from '../../dist/src/core/request.js';
import { Response } from '../../dist/src/core/response.js';
import { RequestMetrics } from '../../dist/src/observe/metrics/requests.js';

const m = new RequestMetrics();
const tag = { tenant: null, site: 'default', route: '/hello', handler: 'respond', engine: null, slot: undefined };
const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: null };
const req = new Request({ method: 'GET', scheme: 'http', authority: 'a', target: '/hello', protocol: 'h1', headers: new HeaderMap([]), body: new RequestBody(null, 0, 1024), conn });
req.tag = tag;
const res = new Response(200, 'hello\n', { 'content-type': 'text/plain' });
const done = { status: 200, bytes: 6 };
const N = 5_000_000;
for (let i = 0; i < 200_000; i++) m.completed(req, res, done);
const runs = [];
for (let round = 0; round < 5; round++) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) m.completed(req, res, done);
  const c = process.cpuUsage(c0);
  runs.push(((c.user + c.system) * 1000) / N);
}
runs.sort((a, b) => a - b);
console.log(`metrics listener: ${runs[2].toFixed(1)} ns CPU per request (median of 5 x ${N / 1e6} M; min ${runs[0].toFixed(1)}, max ${runs[4].toFixed(1)})`);
