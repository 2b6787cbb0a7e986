// µs per call through the Lua runtimes (fengari, wasmoon) for a realistic request:
// 12 headers, 3 query keys, 1 KiB body; the handler reads 2 fields and returns a status, 2 headers and a body.
// Run after `npx tsc -p .`:  node bench/micro/lua-call.mjs [iterations]
import { fengariRuntime } from '../../dist/runtimes/lua-fengari/index.js';
import { wasmoonRuntime } from '../../dist/runtimes/lua-wasmoon/index.js';
import { DEFAULT_LIMITS } from '../../dist/runtimes/contract.js';

const N = Number(process.argv[2] ?? 50_000);
const WARMUP = Math.min(N, 20_000);

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

const apps = {
  'plain function': `return function(req)
  local ua = req.headers:get("user-agent")
  local q = req.query:get("q")
  return { status = 200, headers = { ["content-type"] = "text/plain", ["x-q"] = q }, body = ua }
end`,
  'router + json': `local anomaly = require("anomaly")
local app = anomaly.App.new()
app:post("/items", function(req)
  local res = anomaly.json({ ua = req.headers:get("user-agent"), q = req.query:get("q") }, 201)
  res.headers["x-len"] = #req.body
  return res
end)
return app`,
};

for (const [name, make] of [['fengari', fengariRuntime], ['wasmoon', wasmoonRuntime]]) {
  const rt = make();
  for (const [appName, code] of Object.entries(apps)) {
    const inst = await rt.load({ file: 'bench.lua', code }, DEFAULT_LIMITS);
    for (let i = 0; i < WARMUP; i++) await inst.handle(req);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await inst.handle(req);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
    console.log(`${name.padEnd(8)} ${appName.padEnd(15)} ${us.toFixed(2)} µs/call  (${N} calls, node ${process.version})`);
    inst.dispose();
  }
}
