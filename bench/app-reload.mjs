// Hot reload under load: wrk keeps an app busy while its file is edited several times; reports
// wrk's failed requests (non-2xx, socket errors) and how long each new version took to answer.
//
//   node bench/app-reload.mjs [--engines quickjs,fengari,wasmoon,java] [--edits 5] [--connections 16]
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad } from './lib/load.mjs';
import { freePorts, waitReady } from './lib/net.mjs';
import { ProcessRegistry } from './lib/procs.mjs';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const SOURCES = {
  quickjs: { ext: '.js', code: (n) => `export default () => 'version ${n}';\n` },
  fengari: { ext: '.lua', code: (n) => `return function() return "version ${n}" end\n` },
  wasmoon: { ext: '.lua', code: (n) => `return function() return "version ${n}" end\n` },
  // A reload execs the new app.py in the workers already running the old one (no new interpreter).
  pyodide: { ext: '.py', code: (n) => `def handler(req):\n    return "version ${n}"\n` },
  // Java compiles each new version first: the goal is 2 s instead of 1 s.
  java: {
    ext: '.java',
    file: 'App.java',
    withinMs: 2000,
    code: (n) => `import anomaly.*;\npublic class App implements Handler {\n  public Response handle(Request r) { return Response.text("version ${n}"); }\n}\n`,
  },
};
const { values: opts } = parseArgs({
  options: { engines: { type: 'string', default: Object.keys(SOURCES).join(',') }, edits: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' } },
});
const edits = Number(opts.edits);
const registry = new ProcessRegistry();

function get(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function one(engine) {
  const { ext, code, file } = SOURCES[engine];
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-reload-'));
  const app = join(dir, file ?? `app${ext}`);
  writeFileSync(app, code(1));
  const [port] = await freePorts(1);
  const config = join(dir, 'anomaly.yaml');
  writeFileSync(config, JSON.stringify({ listen: { tls: false, plain: port, address: '127.0.0.1' }, workers: 1, storage: join(dir, 'storage'), log: { format: 'json', level: 'warn', access: false }, sites: [{ routes: [{ path: '/*', app: { file: app, engine, instances: 2 } }] }] }));
  const server = registry.spawn('node', [join(repoDir, 'bin', 'anomaly.js'), 'serve', config], { cpu: 0 });
  try {
    await waitReady({ transport: 'h1', port, path: '/', timeoutMs: 20_000, exited: server.exited });
    const seconds = edits * 0.6 + 2;
    const load = runLoad(registry, { tool: 'wrk', connections: Number(opts.connections), threads: 1 }, `http://127.0.0.1:${port}/`, seconds, 1);
    const latencies = [];
    await new Promise((r) => setTimeout(r, 500));
    for (let n = 2; n <= edits + 1; n++) {
      writeFileSync(app + '.tmp', code(n));
      const t0 = performance.now();
      renameSync(app + '.tmp', app); // editors save by rename
      for (;;) {
        if ((await get(port)) === `version ${n}`) break;
        if (performance.now() - t0 > 5000) throw new Error(`${engine}: version ${n} not answering after 5 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      latencies.push(Math.round(performance.now() - t0));
      await new Promise((r) => setTimeout(r, 400));
    }
    const result = await load;
    return { engine, requests: result.requests, failed: result.non2xx + result.socketErrors, reloadMs: latencies };
  } finally {
    await registry.stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const engine of opts.engines.split(',')) rows.push(await one(engine));
process.stdout.write('| engine | requests | failed | new version answering after (ms) |\n|---|--:|--:|---|\n');
for (const r of rows) process.stdout.write(`| ${r.engine} | ${r.requests} | ${r.failed} | ${r.reloadMs.join(', ')} |\n`);
process.exit(rows.every((r) => r.failed === 0 && r.reloadMs.every((ms) => ms < (SOURCES[r.engine].withinMs ?? 1000))) ? 0 : 1);
