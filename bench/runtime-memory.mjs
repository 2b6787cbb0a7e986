#!/usr/bin/env node
// Memory per app instance, per engine: a fresh process per engine loads the hello app once (the
// engine's one-time cost: module, WASM, JVM...) and then `--instances` more (each further
// instance's own cost), reading the process RSS after each step. Each engine runs in its own
// child process so one engine's heap does not count against another's.
//
//   npx tsc -p . && node bench/runtime-memory.mjs [--engines quickjs,fengari,wasmoon,pyodide,java] [--instances 4]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const APP = { quickjs: 'app.js', fengari: 'app.lua', wasmoon: 'app.lua', pyodide: 'app.py', java: 'App.java' };

const { values: opts } = parseArgs({
  options: {
    engines: { type: 'string', default: Object.keys(APP).join(',') },
    instances: { type: 'string', default: '4' },
    child: { type: 'string' },
  },
});

/** RSS of this process and its threads' children (pyodide workers are threads: same process). */
function rssMiB() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m[1]) / 1024;
}

async function measureInChild(engine, count) {
  const { standardRuntimes } = await import(join(repoDir, 'dist', 'src', 'standard.js'));
  const { DEFAULT_LIMITS } = await import(join(repoDir, 'dist', 'runtimes', 'contract.js'));
  const runtime = standardRuntimes().find((r) => r.id === engine);
  const file = join(repoDir, 'apps', 'hello', APP[engine]);
  const source = { file, code: readFileSync(file, 'utf8') };
  const req = {
    method: 'GET', path: '/', rawQuery: '', query: new Map(), headers: new Map([['host', ['localhost']]]), cookies: new Map(),
    params: {}, protocol: 'h1', scheme: 'http', host: 'localhost', remoteAddress: '127.0.0.1', body: new Uint8Array(0),
  };
  const settle = async () => {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 300));
    globalThis.gc?.();
  };
  await settle();
  const start = rssMiB();
  const instances = [await runtime.load(source, DEFAULT_LIMITS)];
  await instances[0].handle(req);
  await settle();
  const first = rssMiB();
  for (let i = 0; i < count; i++) {
    const inst = await runtime.load(source, DEFAULT_LIMITS);
    await inst.handle(req);
    instances.push(inst);
  }
  await settle();
  const after = rssMiB();
  for (const inst of instances) inst.dispose();
  process.stdout.write(JSON.stringify({ engine, firstMiB: first - start, eachMiB: (after - first) / count }) + '\n');
  process.exit(0);
}

if (opts.child !== undefined) {
  await measureInChild(opts.child, Number(opts.instances));
} else {
  if (!existsSync(join(repoDir, 'dist', 'src', 'standard.js'))) throw new Error('build first: npx tsc -p .');
  const rows = [];
  for (const engine of opts.engines.split(',')) {
    try {
      const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', engine, '--instances', opts.instances], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000,
      });
      const line = out.trim().split('\n').pop();
      rows.push(JSON.parse(line));
      process.stderr.write(`  ${engine}: ${line}\n`);
    } catch (err) {
      rows.push({ engine, error: String(err.stderr || err.message).trim().split('\n').slice(-1)[0] });
    }
  }
  console.log(`\n### Memory per app instance (hello app; RSS, ${opts.instances} further instances averaged)\n`);
  console.log('| engine | first instance (engine + app), MiB | each further instance, MiB |');
  console.log('|---|--:|--:|');
  for (const r of rows) {
    if (r.error) console.log(`| ${r.engine} | not measured: ${r.error} | |`);
    else console.log(`| ${r.engine} | ${r.firstMiB.toFixed(1)} | ${r.eachMiB.toFixed(2)} |`);
  }
}
