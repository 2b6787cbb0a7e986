#!/usr/bin/env node
// Cost of one cache HIT in the cache layer alone (no sockets): the lookup, freshness arithmetic
// and the Response an adapter would write. Compared with calling a handler that returns a fixed
// Response, to show what the cache adds.  node bench/cache-micro.mjs [iterations]
import { HeaderMap } from '../dist/src/core/headers.js';
import { RequestBody } from '../dist/src/core/body.js';
import { Request } from '../dist/src/core/request.js';
import { Response } from '../dist/src/core/response.js';
import { silentLogger } from '../dist/src/core/logger.js';
import { cacheHandler } from '../dist/src/cache/layer.js';
import { compileKey, DEFAULT_KEY } from '../dist/src/cache/key.js';
import { MemoryStore } from '../dist/src/cache/stores/memory.js';
import { CacheZone } from '../dist/src/cache/zone.js';

const N = Number(process.argv[2] ?? 2_000_000);
const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 80, tls: null };
// What wrk sends.
const RAW = ['Host', '127.0.0.1:8080'];
const body = Buffer.alloc(1024, 'a');
const originHeaders = { 'content-type': 'text/plain', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', etag: '"abc"', 'cache-control': 'max-age=3600', date: new Date().toUTCString(), server: 'nginx' };
const origin = () => new Response(200, body, { ...originHeaders });
const zone = new CacheZone('bench', new MemoryStore(64 << 20));
const handle = cacheHandler(origin, {
  zone, key: compileKey(DEFAULT_KEY),
  storage: { defaultTtl: 0, heuristic: true, staleWhileRevalidate: 0, staleIfError: 0, keepStale: 3600_000, storeSetCookie: false, maxObjectSize: 8 << 20 },
  honorRequestCacheControl: true, lockTimeout: 5000, purgeToken: null, statusName: 'anomaly', logger: silentLogger,
});
const request = () => new Request({ method: 'GET', scheme: 'http', authority: '127.0.0.1:8080', target: '/1k.txt', protocol: 'h1', headers: new HeaderMap(RAW), body: new RequestBody(null, 0, 1024), conn });
await handle(request()); // fill

function measure(name, fn) {
  for (let i = 0; i < 200_000; i++) fn(); // warm up
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  let sink = 0;
  for (let i = 0; i < N; i++) sink += fn().status;
  const cpu = process.cpuUsage(t0);
  const ns = ((performance.now() - w0) * 1e6) / N;
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(5)} ns/call wall  ${(((cpu.user + cpu.system) * 1000) / N).toFixed(0).padStart(5)} ns/call CPU  (${sink === N * 200 ? 'ok' : 'BAD'})`);
}
const hit = handle(request());
if (!/hit/.test(hit.headers['cache-status'])) throw new Error('not a hit: ' + hit.headers['cache-status']);
measure('request + fixed handler (baseline)', () => (request(), origin()));
measure('request + cache HIT', () => handle(request()));
