// µs per call through the Java runtime adapter for a realistic request (12 headers, 3 query keys,
// 1 KiB body); the handler reads 2 fields and answers a status, 2 headers and a body. Reports wall
// time and process CPU time (all threads: the Node thread and the Java worker) per call, for:
//   encode only          building the base64 frame (marshal.ts)
//   inline               one sync bridge call, the handler on the Node thread (no deadline possible:
//                        measurement only, to price the hand-off)
//   async bridge call    the handler on a java-bridge pool thread (an async bridge method): the
//                        other way to keep slow handlers off the event loop
//   adapter (hand-off)   what serves requests: sync call, the handler on the instance's worker
// Run: npx tsc -p . && node bench/micro/java-call.mjs [calls=20000]
// (taskset -c 0 node ... prices the hand-off on one CPU, as bench:apps pins the server.)
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';
import { javaRuntime } from '../../dist/runtimes/java/index.js';
import { encodeRequest } from '../../dist/runtimes/java/marshal.js';
import { startBridge } from '../../dist/runtimes/java/bridge.js';
import { findJdk } from '../../dist/runtimes/java/jdk.js';
import { realisticRequest } from './realistic-request.mjs';

const N = Number(process.argv[2] ?? 20_000);
const req = realisticRequest();
const code = `import anomaly.*;
public class App implements Handler {
  public Response handle(Request req) {
    String page = req.query("page"); String ua = req.header("user-agent");
    return new Response(200).header("content-type", "text/plain").header("x-page", page).body("ok " + ua.length());
  }
}`;

const turn = () => new Promise((r) => setImmediate(r)); // returned Buffers are freed when the loop turns

async function measure(name, fn, gapMicros = 0) {
  for (let i = 0; i < 5000; i++) {
    await fn();
    if (i % 200 === 0) await turn();
  }
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      await fn();
      if (i % 200 === 0) await turn();
    }
    const wall = ((performance.now() - t0) * 1000) / N - gapMicros;
    const c = process.cpuUsage(c0);
    rounds.push({ wall, cpu: (c.user + c.system) / N - gapMicros });
  }
  rounds.sort((a, b) => a.wall - b.wall);
  const m = rounds[1];
  process.stdout.write(`${name.padEnd(22)} ${m.wall.toFixed(1).padStart(6)} µs/call wall  ${m.cpu.toFixed(1).padStart(6)} µs/call CPU\n`);
}

const bridge = await startBridge(findJdk());
const app = await javaRuntime().load({ file: '/bench/App.java', code }, DEFAULT_LIMITS);
// The instance id is private to the adapter; the first instance of this process is 1.
const id = 1;
await measure('encode only', () => encodeRequest(req));
await measure('inline', () => bridge.host.callInlineSync(id, encodeRequest(req)));
await measure('async bridge call', () => bridge.host.callInline(id, encodeRequest(req)));
await measure('adapter (hand-off)', () => app.handle(req));
// Requests one at a time leave the worker parked between them: the wake-up is then on the path.
const GAP_MS = 0.1;
const apart = async () => {
  const t = performance.now() + GAP_MS;
  while (performance.now() < t);
  await app.handle(req);
};
await measure('adapter, 100 µs apart', apart, GAP_MS * 1000);
app.dispose();
