// Micro-benchmark of the static handler's memory-cache hit path (no sockets): ns per handle() call.
// Run: npx tsc -p . && node bench/micro/static-hit.mjs
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequestBody } from '../../dist/src/core/body.js';
import { HeaderMap } from '../../dist/src/core/headers.js';
import { silentLogger } from '../../dist/src/core/logger.js';
import { Request } from '../../dist/src/core/request.js';
import { staticModule } from '../../dist/src/handlers/static/index.js';

const root = mkdtempSync(join(tmpdir(), 'anomaly-bench-'));
writeFileSync(join(root, '1k.bin'), Buffer.alloc(1024, 1));
writeFileSync(join(root, '64k.bin'), Buffer.alloc(64 * 1024, 1));
writeFileSync(join(root, 'app.css'), 'body { color: red }\n'.repeat(100));
const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: null };

// What wrk/h2load and browsers send, in HTTP/1.1 title case.
const browserHeaders = ['Host', 'localhost', 'User-Agent', 'bench', 'Accept', '*/*', 'Accept-Encoding', 'gzip, deflate, br', 'Connection', 'keep-alive'];

function makeRequest(target, raw) {
  const req = new Request({ method: 'GET', scheme: 'http', authority: 'localhost', target, protocol: 'h1', headers: new HeaderMap(raw), body: new RequestBody(null, 0, 0), conn });
  req.params = { '*': target.slice(1) };
  return req;
}

const handler = await staticModule.create({ root }, { logger: silentLogger, baseDir: root, dataDir: root });

async function bench(name, target, raw, n = 2_000_000) {
  await handler.handle(makeRequest(target, raw)); // load into the cache
  // Requests are built outside the timed loop: the protocol layer creates them anyway.
  const reqs = Array.from({ length: 1024 }, () => makeRequest(target, raw));
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += handler.handle(reqs[i & 1023]).status; // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const res = handler.handle(reqs[i & 1023]);
    sink += res.status;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/hit  (${sink > 0 ? 'ok' : '?'})`);
  return ns;
}

// Baseline: the cost of building a Request with our raw headers (what the protocol layer pays anyway).
{
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += makeRequest('/1k.bin', browserHeaders).target.length;
  console.log(`${'(reference) new Request + params'.padEnd(44)} ${(Number(process.hrtime.bigint() - t0) / n).toFixed(1).padStart(7)} ns     (${sink > 0 ? 'ok' : '?'})`);
}
await bench('1 KiB, no headers', '/1k.bin', []);
await bench('1 KiB, browser headers', '/1k.bin', browserHeaders);
await bench('64 KiB, browser headers', '/64k.bin', browserHeaders);
await bench('2 KiB css, br negotiated', '/app.css', browserHeaders);
await bench('1 KiB, If-None-Match (304)', '/1k.bin', [...browserHeaders, 'If-None-Match', (await handler.handle(makeRequest('/1k.bin', []))).headers.etag]);
await bench('1 KiB, Range bytes=0-99 (206)', '/1k.bin', [...browserHeaders, 'Range', 'bytes=0-99'], 500_000);

await handler.dispose();
rmSync(root, { recursive: true, force: true });
