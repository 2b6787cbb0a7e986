// µs per call through the Python runtime (pyodide) for a realistic request: 12 headers, 3 query keys,
// 1 KiB body; the handler reads 2 fields and returns a status, 2 headers and a body.
//   - worker, one at a time: the engine as the server uses it (wall time per call, and CPU of the process)
//   - worker, 8 in flight: throughput of one worker when calls queue
//   - in-process: the same glue called on this thread (no worker hop), to separate marshalling from the hop
// Run after `npx tsc -p .`:  node bench/micro/python-call.mjs [iterations]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';
import { bodyForWorker, decodeAnswer, encodeFrame } from '../../dist/runtimes/python/marshal.js';
import { pythonRuntime } from '../../dist/runtimes/python/index.js';

const N = Number(process.argv[2] ?? 20_000);
const WARMUP = Math.min(N, 5_000);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const headers = new Map([
  ['host', ['example.com']], ['user-agent', ['bench/1.0']], ['accept', ['*/*']], ['accept-encoding', ['gzip, br']],
  ['accept-language', ['en']], ['content-type', ['application/octet-stream']], ['content-length', ['1024']],
  ['cookie', ['sid=abc']], ['x-request-id', ['r-1']], ['x-forwarded-for', ['10.0.0.1']], ['cache-control', ['no-cache']],
  ['connection', ['keep-alive']],
]);
const query = new Map([['q', ['search']], ['page', ['2']], ['sort', ['asc']]]);
const body = new Uint8Array(1024).fill(97);
const req = {
  method: 'POST', path: '/items', rawQuery: 'q=search&page=2&sort=asc', query, headers, cookies: new Map([['sid', 'abc']]),
  params: {}, protocol: 'h1', scheme: 'http', host: 'example.com', remoteAddress: '127.0.0.1', body,
};
const APP = `def handler(req):
    return {"status": 200, "headers": {"content-type": "text/plain", "x-q": req.query.get("q")}, "body": req.headers.get("user-agent")}
`;

function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const rt = pythonRuntime();
const inst = await rt.load({ file: '/virtual/bench.py', code: APP }, DEFAULT_LIMITS);
for (let i = 0; i < WARMUP; i++) await inst.handle(req);
let t0 = performance.now();
let c0 = cpuUs();
for (let i = 0; i < N; i++) await inst.handle(req);
let wall = ((performance.now() - t0) * 1000) / N;
let cpu = (cpuUs() - c0) / N;
console.log(`worker, one at a time: ${wall.toFixed(1)} µs/call wall, ${cpu.toFixed(1)} µs/call CPU (both threads)`);

t0 = performance.now();
c0 = cpuUs();
const inflight = 8;
let done = 0;
await Promise.all(Array.from({ length: inflight }, async () => {
  while (done < N) {
    done++;
    await inst.handle(req);
  }
}));
wall = ((performance.now() - t0) * 1000) / N;
cpu = (cpuUs() - c0) / N;
console.log(`worker, ${inflight} in flight: ${wall.toFixed(1)} µs/call wall (${Math.round(1e6 / wall)} calls/s), ${cpu.toFixed(1)} µs/call CPU`);
inst.dispose();

// The same glue in this thread.
const pyDir = dirname(createRequire(import.meta.url).resolve('pyodide/pyodide.mjs'));
const { loadPyodide } = await import(join(pyDir, 'pyodide.mjs'));
const py = await loadPyodide({ indexURL: pyDir + '/' });
py.FS.mkdirTree('/anomaly/lib');
py.FS.writeFile('/anomaly/lib/anomaly.py', readFileSync(join(repo, 'bindings/python/anomaly.py'), 'utf8'));
py.FS.writeFile('/anomaly/lib/host.py', readFileSync(join(repo, 'runtimes/python/host.py'), 'utf8'));
py.runPython("import sys\nsys.path.insert(0, '/anomaly/lib')");
const host = py.pyimport('host');
if (host.load(1, '/virtual/bench.py', APP, 1 << 24) !== undefined) throw new Error('load failed');
const call = host.call;
const once = () => {
  const r = call(1, 1, encodeFrame(req), bodyForWorker(req.body));
  if (typeof r !== 'string') throw new Error('expected the answer string');
  return decodeAnswer(r);
};
for (let i = 0; i < WARMUP; i++) once();
t0 = performance.now();
for (let i = 0; i < N; i++) once();
console.log(`in-process (no worker hop): ${(((performance.now() - t0) * 1000) / N).toFixed(1)} µs/call`);
process.exit(0);
