// µs of CPU per request through the app handler (AppHost: body, pool, watchdog, marshalling, answer
// checks) around one engine call, in process, for a request shaped like wrk's. Compare with the
// engine call alone (bench/micro/quickjs-call.mjs) to see what the host path adds.
// Run: npx tsc -p . && node bench/micro/app-host.mjs [engine=quickjs] [app=hello] [target]
import { HeaderMap } from '../../dist/src/core/headers.js';
import { Request } from '../../dist/src/core/request.js';
import { RequestBody } from '../../dist/src/core/body.js';
import { appModule } from '../../dist/src/handlers/app/index.js';
import { standardRuntimes } from '../../dist/src/standard.js';

const engine = process.argv[2] ?? 'quickjs';
const appName = process.argv[3] ?? 'hello';
const target = process.argv[4] ?? (appName === 'echo' ? '/app/a/b?x=1&x=2&y=3' : '/app/');
const ext = { quickjs: 'js', fengari: 'lua', wasmoon: 'lua', pyodide: 'py', java: 'java' }[engine] ?? 'js';
const silent = { debug() {}, info() {}, warn() {}, error: console.error, fatal: console.error, trace() {}, child() { return silent; } };
const handler = await appModule(standardRuntimes()).create(
  { file: new URL(`../../apps/${appName}/${ext === 'java' ? 'App' : 'app'}.${ext}`, import.meta.url).pathname, engine, instances: 1, reload: false },
  { logger: silent, baseDir: process.cwd(), dataDir: '/tmp' },
);
const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5555, localAddress: '127.0.0.1', localPort: 8080, tls: null };
const makeReq = () => {
  const req = new Request({
    method: 'GET', scheme: 'http', authority: '127.0.0.1:8080', target, protocol: 'h1',
    headers: new HeaderMap(['Host', '127.0.0.1:8080', 'User-Agent', 'wrk']), body: new RequestBody(null, 0, 1 << 20), conn,
  });
  req.route = '/app/*';
  req.params = { '*': target.slice(5).split('?')[0] };
  return req;
};
for (let i = 0; i < 20000; i++) await handler.handle(makeReq());
const out = [];
for (let r = 0; r < 5; r++) {
  const c0 = process.cpuUsage();
  const N = 20000;
  for (let i = 0; i < N; i++) await handler.handle(makeReq());
  const c = process.cpuUsage(c0);
  out.push((c.user + c.system) / N);
}
out.sort((a, b) => a - b);
const res = await handler.handle(makeReq());
console.log(`${engine} ${appName}: ${out[2].toFixed(1)} µs CPU per request (median of 5 x 20k; min ${out[0].toFixed(1)}) -> ${res.status} ${String(res.body).slice(0, 40)}`);
await handler.dispose();
