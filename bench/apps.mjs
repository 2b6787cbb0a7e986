// Per-language latency: the same reference app (apps/) in every engine, against a native TypeScript
// handler doing the same job, over real HTTP/1.1, side by side in one server.
//
//   npm run bench:apps                      all engines, 5 runs x 3 s per target
//   npm run bench:apps -- --quick           1 run x 2 s
//   npm run bench:apps -- --engines quickjs --apps hello --runs 5 --duration 5
//
// Latency (p50/p99) is the service time of one request at a time, measured by
// bench/lib/alternate-client.mjs: one keep-alive connection per target, requests taking turns
// (native, engine, native, engine...). Overhead = p50(engine) - p50(native) of the same alternating
// run, and the table gives the median over runs. Taking turns per request matters on a shared VM:
// the host's load drifts by ±20 µs over seconds, which separate wrk slices of a few seconds each
// (this bench's first method) could not cancel; per-run overheads then swung from -1 to 41 µs for the
// same build, while alternating requests agree within a few µs.
// Throughput: wrk with 32 connections per target, with the server's CPU time per request.
// The server is pinned to CPU 0 and the clients to CPU 1; the order of targets rotates between runs.
// Each engine gets its own server with its own native route (--shared: one server for all): a JVM's
// or pyodide's threads on the pinned CPU slowed every other engine by 10-15 µs per request.
// Output: a Markdown table on stdout and JSON in bench/out/apps-<timestamp>.json (+ apps-latest.json).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad } from './lib/load.mjs';
import { freePorts, waitReady } from './lib/net.mjs';
import { ProcessRegistry, cpuMsBetween, cpuSnapshot } from './lib/procs.mjs';
import { median } from './lib/report.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const ENGINES = { quickjs: '.js', fengari: '.lua', wasmoon: '.lua', java: '.java', pyodide: '.py' };
// Java's file is named after its public class.
const appFile = (engine) => (ENGINES[engine] === '.java' ? 'App.java' : `app${ENGINES[engine]}`);
// Engines that need a tool on the machine: left out (with a note) when it is missing.
const NEEDS = { java: () => (process.env.JAVA_HOME ? existsSync(join(process.env.JAVA_HOME, 'bin', 'javac')) : spawnSync('javac', ['-version']).status === 0) };
// What each app is compared with: a native handler module doing the same job.
const NATIVE = {
  hello: { respond: { body: 'hello from native', headers: { 'content-type': 'text/plain; charset=utf-8' } } },
  echo: { echo: {} },
};
const REQUEST_PATH = { hello: '/', echo: '/a/b?x=1&x=2&y=3' };

const { values: opts } = parseArgs({
  options: {
    engines: { type: 'string', default: Object.keys(ENGINES).join(',') },
    apps: { type: 'string', default: Object.keys(NATIVE).join(',') },
    runs: { type: 'string' },
    duration: { type: 'string' },
    quick: { type: 'boolean', default: false },
    shared: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write('usage: node bench/apps.mjs [--engines a,b] [--apps hello,echo] [--runs N] [--duration S] [--quick] [--shared]\n');
  process.exit(0);
}
const runs = Number(opts.runs ?? (opts.quick ? 1 : 5));
const duration = Number(opts.duration ?? (opts.quick ? 2 : 3));
const engines = opts.engines.split(',').filter((e) => e in ENGINES).filter((e) => {
  if (NEEDS[e] === undefined || NEEDS[e]()) return true;
  process.stderr.write(`bench:apps: ${e} left out (its tool is missing: see docs/apps.md)\n`);
  return false;
});
const apps = opts.apps.split(',').filter((a) => a in NATIVE);

const registry = new ProcessRegistry();
process.on('SIGINT', () => {
  registry.killAllSync();
  process.exit(130);
});

function configYaml(port, storage, engines) {
  const routes = [];
  for (const app of apps) {
    routes.push({ path: `/native/${app}/*`, ...NATIVE[app] });
    for (const engine of engines) {
      routes.push({ path: `/${engine}/${app}/*`, app: { file: join(repoDir, 'apps', app, appFile(engine)), engine, instances: 1 } });
    }
  }
  // YAML accepts JSON.
  return JSON.stringify({ listen: { tls: false, plain: port, address: '127.0.0.1' }, workers: 1, storage, log: { format: 'json', access: true, level: 'warn' }, sites: [{ routes }] }, null, 2);
}

/** Runs bench/lib/alternate-client.mjs on the client CPU over `urls` for `seconds`; its parsed JSON. */
async function alternateLatency(urls, seconds) {
  const child = registry.spawn(process.execPath, [join(benchDir, 'lib', 'alternate-client.mjs'), '--duration', String(seconds), ...urls], { cpu: 1, stdout: 'pipe', stderr: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const { code } = await child.exited;
  if (code !== 0) throw new Error(`alternate-client failed (exit ${code}): ${err.trim()}`);
  return JSON.parse(out);
}

/** One server hosting `group` (engines) beside the native handlers; results per target, native included. */
async function measureServer(group) {
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-bench-apps-'));
  const [port] = await freePorts(1);
  const file = join(dir, 'anomaly.yaml');
  writeFileSync(file, configYaml(port, join(dir, 'storage'), group));
  const server = registry.spawn('node', [join(repoDir, 'bin', 'anomaly.js'), 'serve', file], { cpu: 0 });
  const results = [];
  try {
    const targets = [];
    for (const app of apps) for (const t of ['native', ...group]) targets.push({ app, target: t, url: `http://127.0.0.1:${port}/${t}/${app}${REQUEST_PATH[app]}` });
    for (const t of targets) {
      await waitReady({ transport: 'h1', port, path: `/${t.target}/${t.app}${REQUEST_PATH[t.app]}`, timeoutMs: 30_000, exited: server.exited });
      // Warm up the JIT and the engines (QuickJS and fengari warm slowly).
      await runLoad(registry, { tool: 'wrk', connections: 8, threads: 1 }, t.url, opts.quick ? 1 : 3, 1);
    }
    const samples = new Map(targets.map((t) => [t, []]));
    for (let run = 0; run < runs; run++) {
      const order = targets.map((_, i) => targets[(i + run) % targets.length]);
      // Latency: per app, its targets take turns request by request on one connection each.
      const latency = new Map();
      for (const app of apps) {
        const group = order.filter((t) => t.app === app);
        const r = await alternateLatency(group.map((t) => t.url), duration * group.length);
        group.forEach((t, i) => latency.set(t, r.targets[i]));
      }
      for (const t of order) {
        // Server CPU per request (all its threads: a JVM worker counts too), under load.
        const cpu0 = cpuSnapshot(server.pid);
        const many = await runLoad(registry, { tool: 'wrk', connections: 32, threads: 1 }, t.url, duration, 1);
        const cpuUs = (cpuMsBetween(cpu0, cpuSnapshot(server.pid)) * 1000) / Math.max(1, many.requests);
        const l = latency.get(t);
        samples.get(t).push({ p50Us: l.p50Us, p99Us: l.p99Us, rps32: many.rps, cpuUs, errors: l.non2xx + many.non2xx + many.socketErrors });
        process.stderr.write(`  run ${run + 1} ${t.target.padEnd(8)} ${t.app.padEnd(6)} p50 ${l.p50Us.toFixed(0)} µs  p99 ${l.p99Us.toFixed(0)} µs  ${Math.round(many.rps)} req/s  CPU ${cpuUs.toFixed(1)} µs/req\n`);
      }
    }
    for (const t of targets) {
      const s = samples.get(t);
      const native = samples.get(targets.find((n) => n.app === t.app && n.target === 'native'));
      // Per-run differences against the native row of the same run (zero for the native row itself).
      const p50Diffs = s.map((x, i) => x.p50Us - native[i].p50Us);
      const cpuDiffs = s.map((x, i) => x.cpuUs - native[i].cpuUs);
      results.push({
        app: t.app,
        target: t.target,
        p50Us: median(s.map((x) => x.p50Us)),
        p99Us: median(s.map((x) => x.p99Us)),
        rps32: median(s.map((x) => x.rps32)),
        cpuUs: median(s.map((x) => x.cpuUs)),
        overheadUs: median(p50Diffs),
        cpuOverheadUs: median(cpuDiffs),
        overheadRunsUs: p50Diffs.map((d) => Math.round(d)),
        errors: s.reduce((a, x) => a + x.errors, 0),
      });
    }
  } finally {
    await registry.stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

async function main() {
  // Each engine row is compared with the native row measured in the same server.
  const rows = [];
  const groups = opts.shared ? [engines] : engines.map((e) => [e]);
  for (const group of groups) {
    if (!opts.shared) process.stderr.write(`== ${group[0]} (its own server, with the native handlers)\n`);
    const results = await measureServer(group);
    for (const r of results) if (r.target !== 'native') rows.push({ ...r, native: results.find((n) => n.app === r.app && n.target === 'native') });
    if (opts.shared || group === groups[0]) for (const r of results) if (r.target === 'native') rows.push({ ...r, native: r });
  }
  const mode = opts.shared ? 'one server for every engine' : 'one server per engine, each with its own native row';
  const lines = [`# bench:apps — ${new Date().toISOString()} (${runs} run(s) x ${duration} s per target, medians; latency: one request at a time, engine and native taking turns (bench/lib/alternate-client.mjs); req/s and CPU: wrk -c32; overhead = median over runs of engine p50 - native p50 of the same alternating run; ${mode})`, ''];
  for (const app of apps) {
    lines.push(`### ${app}`, '', '| engine | p50 µs | p99 µs | native p50 µs (same server) | overhead vs native: median of per-run p50 differences (each run) | req/s (32 conns) | server CPU µs/req (32 conns) | CPU overhead | errors |', '|---|--:|--:|--:|--:|--:|--:|--:|--:|');
    const ordered = [...rows.filter((x) => x.app === app && x.target === 'native'), ...rows.filter((x) => x.app === app && x.target !== 'native')];
    for (const r of ordered) {
      const native = r.native;
      const overhead = r.target === 'native' ? '—' : `${r.overheadUs.toFixed(0)} µs (${r.overheadRunsUs.join(', ')})`;
      const cpuOverhead = r.target === 'native' ? '—' : `${r.cpuOverheadUs.toFixed(0)} µs`;
      lines.push(`| ${r.target} | ${r.p50Us.toFixed(0)} | ${r.p99Us.toFixed(0)} | ${native.p50Us.toFixed(0)} | ${overhead} | ${Math.round(r.rps32)} | ${r.cpuUs.toFixed(1)} | ${cpuOverhead} | ${r.errors} |`);
    }
    lines.push('');
  }
  const results = rows.map(({ native, ...r }) => ({ ...r, nativeP50Us: native.p50Us, nativeCpuUs: native.cpuUs }));
  const markdown = lines.join('\n');
  process.stdout.write(markdown + '\n');
  mkdirSync(join(benchDir, 'out'), { recursive: true });
  const json = JSON.stringify({ at: new Date().toISOString(), runs, duration, results }, null, 2);
  writeFileSync(join(benchDir, 'out', `apps-${Date.now()}.json`), json);
  writeFileSync(join(benchDir, 'out', 'apps-latest.json'), json);
}

main().catch(async (err) => {
  process.stderr.write(`bench:apps: ${err.message}\n`);
  await registry.stopAll();
  process.exit(1);
});
