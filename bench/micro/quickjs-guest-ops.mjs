// µs of CPU per call for small QuickJS handlers that each touch one part of the request (through
// handleNow, in process): what each guest-side operation costs, e.g. why echo is slow (query.toJSON
// for three pairs ≈20 µs of interpreter work on 2026-11-26, against ≈9 µs for text('x')).
// Run: npx tsc -p . && node bench/micro/quickjs-guest-ops.mjs
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';
import { quickjsRuntime } from '../../dist/runtimes/quickjs/index.js';
const req = {
  method: 'GET', path: '/a/b', rawQuery: 'x=1&x=2&y=3', params: { '*': 'a/b' }, protocol: 'h1', scheme: 'http', host: '127.0.0.1', remoteAddress: '127.0.0.1',
  body: new Uint8Array(0), query: new Map([['x', ['1', '2']], ['y', ['3']]]), headers: new Map([['host', ['127.0.0.1:8080']]]), cookies: new Map(),
  rawHeaders: ['Host', '127.0.0.1:8080'],
};
const body = (expr) => `import { json, text } from 'anomaly'; export default function (req) { ${expr} }`;
const variants = {
  'text only': body(`return text('x');`),
  'json small': body(`return json({ a: 1 });`),
  'method+path': body(`return json({ m: req.method, p: req.path });`),
  'query.toJSON': body(`return json({ q: req.query.toJSON() });`),
  'headers.toJSON': body(`return json({ h: req.headers.toJSON() });`),
  'cookies': body(`return json({ c: req.cookies });`),
  'body.length': body(`return json({ l: req.body.length });`),
  'req.text()': body(`return json({ t: req.text() });`),
  'full echo': body(`return json({ language: 'js', method: req.method, path: req.path, query: req.query.toJSON(), headers: req.headers.toJSON(), cookies: req.cookies, bodyLength: req.body.length, bodyText: req.text() });`),
};
const rt = quickjsRuntime();
for (const [name, code] of Object.entries(variants)) {
  const app = await rt.load({ file: '/v/app.js', code }, DEFAULT_LIMITS);
  for (let i = 0; i < 5000; i++) app.handleNow(req);
  const t0 = process.cpuUsage();
  for (let i = 0; i < 20000; i++) app.handleNow(req);
  const c = process.cpuUsage(t0);
  console.log(name.padEnd(16), ((c.user + c.system) / 20000).toFixed(1), 'µs');
  app.dispose();
}
