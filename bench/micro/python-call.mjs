// µs per call through the Python runtime (pyodide) for a realistic request: 12 headers, 3 query keys,
// 1 KiB body; the handler reads 2 fields and returns a status, 2 headers and a body.
//   - the steps of a main-thread call, in a tight loop and with cold caches (8 MiB swept before each call,
//     as a server's other work does between two requests: the figure that predicts bench:apps)
//   - main thread: the engine as the server uses it by default (runtimes/python/main.ts, under native/watchdog)
//   - worker, one at a time / 8 in flight: the fallback (runtimes/python/pool.ts), wall and CPU (all threads)
// Run after `npx tsc -p .`:  taskset -c 0 node bench/micro/python-call.mjs [iterations]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';
import { bodyForCall, decodeAnswer, encodeFrame } from '../../dist/runtimes/python/marshal.js';
import { pythonRuntime } from '../../dist/runtimes/python/index.js';
import { loadWatchdog } from '../../dist/runtimes/python/watchdog.js';
import { directCaller } from '../../dist/runtimes/python/direct.js';

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

/** µs per call of a synchronous function, after a warm-up. */
function timeSync(fn) {
  for (let i = 0; i < WARMUP; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn();
  return ((performance.now() - t0) * 1000) / N;
}

async function oneAtATime(label, inst) {
  for (let i = 0; i < WARMUP; i++) await inst.handle(req);
  const t0 = performance.now();
  const c0 = cpuUs();
  for (let i = 0; i < N; i++) await inst.handle(req);
  const wall = ((performance.now() - t0) * 1000) / N;
  const cpu = (cpuUs() - c0) / N;
  console.log(`${label}, one at a time: ${wall.toFixed(1)} µs/call wall, ${cpu.toFixed(1)} µs/call CPU (all threads)`);
}

async function inFlight(label, inst, inflight) {
  const t0 = performance.now();
  const c0 = cpuUs();
  let done = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (done < N) {
      done++;
      await inst.handle(req);
    }
  }));
  const wall = ((performance.now() - t0) * 1000) / N;
  const cpu = (cpuUs() - c0) / N;
  console.log(`${label}, ${inflight} in flight: ${wall.toFixed(1)} µs/call wall (${Math.round(1e6 / wall)} calls/s), ${cpu.toFixed(1)} µs/call CPU`);
}

// The steps of a main-thread call: the same glue on this thread, through a PyProxy, through the C API
// (direct.ts), and under the watchdog.
const pyDir = dirname(createRequire(import.meta.url).resolve('pyodide/pyodide.mjs'));
const { loadPyodide } = await import(join(pyDir, 'pyodide.mjs'));
const py = await loadPyodide({ indexURL: pyDir + '/' });
py.FS.mkdirTree('/anomaly/lib');
py.FS.writeFile('/anomaly/lib/anomaly.py', readFileSync(join(repo, 'bindings/python/anomaly.py'), 'utf8'));
py.FS.writeFile('/anomaly/lib/host.py', readFileSync(join(repo, 'runtimes/python/host.py'), 'utf8'));
py.runPython("import sys\nsys.path.insert(0, '/anomaly/lib')");
const interrupt = new Int32Array(new SharedArrayBuffer(8));
py.setInterruptBuffer(interrupt);
const host = py.pyimport('host');
if (host.load(1, '/virtual/bench.py', APP, 1 << 24) !== undefined) throw new Error('load failed');
const entry = host.entry(1);
const direct = directCaller(py).bind(entry);
const wd = await loadWatchdog();
const steps = {
  'PyProxy call (frame, Uint8Array) + decode': () => decodeAnswer(entry(encodeFrame(req), bodyForCall(req.body))),
  'C API call (frame, bytes) + decode': () => decodeAnswer(direct(encodeFrame(req), req.body)),
  'encodeFrame': () => encodeFrame(req),
};
if (typeof wd !== 'string') {
  const noop = () => 0;
  steps['watchdog around a no-op'] = () => wd.call(noop, null, 5000, 100, interrupt);
  steps['C API call under the watchdog + decode'] = () => decodeAnswer(wd.call(direct, null, 5000, 100, interrupt, encodeFrame(req), req.body));
} else {
  console.log(`watchdog not available: ${wd}`);
}
const sweep = new Uint8Array(8 << 20);
let sink = 0;
/**
 * Median µs of each step made after sweeping the caches, the steps taking turns round by round (a
 * shared VM drifts by more than the differences measured), and each step's median difference to the
 * first one of the same round.
 */
function timeCold(entries) {
  const times = entries.map(() => []);
  for (let round = 0; round < Math.min(N, 3000); round++) {
    for (let k = 0; k < entries.length; k++) {
      const i = round & 1 ? k : entries.length - 1 - k;
      for (let j = 0; j < sweep.length; j += 64) sink += sweep[j]++;
      const t0 = performance.now();
      entries[i][1]();
      times[i].push(performance.now() - t0);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1] * 1000;
  return times.map((xs) => [median(xs), median(xs.map((x, r) => x - times[0][r]))]);
}
const entries = Object.entries(steps);
const cold = timeCold(entries);
entries.forEach(([name, fn], i) => {
  const [us, diff] = cold[i];
  console.log(`${name}: ${timeSync(fn).toFixed(2)} µs/call hot, ${us.toFixed(1)} µs cold (median; ${i === 0 ? 'the reference' : `${diff >= 0 ? '+' : ''}${diff.toFixed(1)} µs vs ${entries[0][0]} in the same rounds`})`);
});

// The engine as the server uses it: the main thread (default) and the worker fallback.
const main = await pythonRuntime({ thread: 'main' }).load({ file: '/virtual/bench.py', code: APP }, DEFAULT_LIMITS);
await oneAtATime('main thread', main);
await inFlight('main thread', main, 8);
main.dispose();

const worker = await pythonRuntime({ thread: 'worker' }).load({ file: '/virtual/bench.py', code: APP }, DEFAULT_LIMITS);
await oneAtATime('worker', worker);
await inFlight('worker', worker, 8);
worker.dispose();

process.exit(sink === -1 ? 1 : 0);
