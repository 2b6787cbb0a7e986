// Per-request CPU of anomaly's own HTTP/1.1 path (adapter → dispatcher → respond → access log),
// with node:http's req/res replaced by minimal stand-ins. Run: node bench/micro/h1-pipeline.mjs
import { createHttp1RequestListener } from '../../dist/src/protocols/http1/adapter.js';
import { Dispatcher } from '../../dist/src/server/dispatcher.js';
import { respondModule } from '../../dist/src/handlers/respond/index.js';
import { accessLogger } from '../../dist/src/observe/access-log.js';
import { LineWriter } from '../../dist/src/observe/line-writer.js';
import { openSync } from 'node:fs';
import { silentLogger } from '../../dist/src/core/logger.js';

const limits = { maxBody: 1 << 20, maxHeaderSize: 16384, maxHeaders: 100, headerTimeout: 1e4, requestTimeout: 6e4, idleTimeout: 6e4, drainTimeout: 1e3 };
const config = { source: null, baseDir: '/tmp', storage: '/tmp', listen: { tls: null, plain: 0, address: '127.0.0.1' }, log: { level: 'info', format: 'json', access: true }, limits,
  sites: [{ name: 'default', hosts: [], tls: null, limits, routes: [{ path: '/hello', methods: null, module: 'respond', config: { body: 'hello world', headers: { 'content-type': 'text/plain' } }, where: 'x' }] }] };
const writer = new LineWriter(openSync('/dev/null', 'a'));
const variants = {
  'no access log': [],
  'access log': [accessLogger({ kind: 'json', write: (l) => writer.write(l) })],
};
const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: null };
const nreq = { rawHeaders: ['Host', '127.0.0.1:8080'], method: 'GET', url: '/hello', httpVersionMajor: 1, httpVersionMinor: 1, complete: true, socket: {} };
// Counts what the stub was asked to answer: a run that never reached the respond handler measures nothing.
const statuses = new Map();
const nres = { destroyed: false, shouldKeepAlive: true, writeHead(status) { statuses.set(status, (statuses.get(status) ?? 0) + 1); }, end() {} };
for (const [name, listeners] of Object.entries(variants)) {
  const d = await Dispatcher.build(config, [respondModule], silentLogger, listeners);
  const listener = createHttp1RequestListener({ processor: () => d, connInfo: () => conn, draining: () => false, bodyLimit: () => 1 << 20, maxHeaders: () => 100, maxUri: () => 8192, maxHeaderSize: () => 16384, maxRequests: () => 0, extraHeaders: [] });
  for (let round = 0; round < 3; round++) {
    const N = 200_000;
    const t0 = process.cpuUsage();
    for (let b = 0; b < N / 100; b++) {
      for (let i = 0; i < 100; i++) listener(nreq, nres);
      await new Promise((r) => setImmediate(r));
    }
    const u = process.cpuUsage(t0);
    console.log(name.padEnd(14), ((u.user + u.system) * 1000 / N).toFixed(0), 'ns CPU per request');
  }
}
if ([...statuses.keys()].some((s) => s !== 200)) throw new Error(`the pipeline answered other than 200: ${JSON.stringify([...statuses])}`);
