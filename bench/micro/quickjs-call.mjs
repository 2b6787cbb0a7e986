// µs per call through the QuickJS runtime adapter for a realistic request (12 headers, 3 query keys,
// 1 KiB body); the handler reads 2 fields and answers a status, 2 headers and a body.
// Run: npx tsc -p . && node bench/micro/quickjs-call.mjs [calls=40000]
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';
import { quickjsRuntime } from '../../dist/runtimes/quickjs/index.js';
import { realisticRequest } from './realistic-request.mjs';

const N = Number(process.argv[2] ?? 40_000);
const req = realisticRequest();
const apps = {
  'plain function': `export default function (req) {
    const page = req.query.get('page'); const ua = req.headers.get('user-agent');
    return { status: 200, headers: { 'content-type': 'text/plain', 'x-page': page }, body: 'ok ' + ua.length };
  }`,
  'App router + json': `import { App, Response } from 'anomaly';
    const app = new App();
    app.post('/api/items/:id', (req) => Response.json({ id: req.params.id, page: req.query.get('page') }).set('x-ua', req.headers.get('user-agent')));
    export default app;`,
  'async function': `export default async function (req) {
    const page = req.query.get('page'); const ua = await Promise.resolve(req.headers.get('user-agent'));
    return { status: 200, headers: { 'content-type': 'text/plain', 'x-page': page }, body: 'ok ' + ua.length };
  }`,
};
const rt = quickjsRuntime();
for (const [name, code] of Object.entries(apps)) {
  const app = await rt.load({ file: '/bench/app.js', code }, DEFAULT_LIMITS);
  for (let i = 0; i < 20_000; i++) await app.handle(req); // warm-up (QuickJS shapes, V8 JIT)
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await app.handle(req);
    rounds.push(((performance.now() - t0) * 1000) / N);
  }
  console.log(name.padEnd(20), rounds.map((x) => x.toFixed(1)).join(' / '), 'µs per call (3 rounds)');
  app.dispose();
}
