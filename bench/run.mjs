#!/usr/bin/env node
// The benchmark suite: every scenario runs its servers side by side (server pinned to
// CPU 0, load generator to CPU 1), interleaved per repetition, and reports medians of
// req/s and of server CPU time per request, as ratios against a reference server.
//
//   node bench/run.mjs [--scenarios a,b] [--servers a,b] [--workers 1,2] [--runs 3] [--duration 10]
//                      [--warmup 2] [--quick] [--extras] [--update-readme] [--keep-tmp]
//
// Each scenario runs once per worker count (default 1 and 2): with N workers, every server that
// can runs N processes (anomaly workers, nginx worker_processes, node/fastify under node:cluster).
// The report goes to bench/RESULTS.md (and bench/out/), the README's "Last run" with --update-readme.
import { parseArgs } from 'node:util';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, chmodSync, openSync, closeSync, existsSync } from 'node:fs';
import { tmpdir, cpus, loadavg, release } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessRegistry, cpuSnapshot, cpuMsBetween, coreSnapshot, coreBusyPercent, alive } from './lib/procs.mjs';
import { freePorts, waitReady } from './lib/net.mjs';
import { runLoad } from './lib/load.mjs';
import { makeCertificate } from './lib/cert.mjs';
import { SERVER_KINDS } from './lib/servers.mjs';
import { nginxCommand } from './lib/nginx.mjs';
import { SCENARIOS } from './lib/scenarios.mjs';
import { summarize, scenarioMarkdown, reportMarkdown, replaceLastRun } from './lib/report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_DIR = dirname(BENCH_DIR);
const SERVER_CPU = 0;
const CLIENT_CPU = 1;
const READY_TIMEOUT_MS = 20_000;

const USAGE = `usage: node bench/run.mjs [options]
  --scenarios a,b    scenarios to run (default: all non-optional): ${SCENARIOS.map((s) => s.name + (s.optional ? '*' : '')).join(', ')}
  --servers a,b      only these servers: ${Object.keys(SERVER_KINDS).map((k) => k + (SERVER_KINDS[k].optional ? '*' : '')).join(', ')}
  --workers 1,2      worker processes per server, one pass of every scenario per count (default 1,2)
  --runs N           repetitions per server (default 3; --quick 1)
  --duration S       seconds of measured load per run (default 10; --quick 3)
  --warmup S         seconds of load before a server's first run (default 2; --quick 1)
  --quick            1 run x 3 s
  --extras           include the optional (*) scenarios and servers
  --update-readme    replace the "Last run" section of bench/README.md
  --keep-tmp         keep the temp dir (configs, server logs)`;

function options() {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      servers: { type: 'string' },
      workers: { type: 'string', default: '1,2' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      extras: { type: 'boolean', default: false },
      'update-readme': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (v, d) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
    return n;
  };
  const list = (v) => (v === undefined ? null : v.split(',').map((s) => s.trim()).filter(Boolean));
  const o = {
    quick: values.quick,
    extras: values.extras,
    runs: Math.round(num(values.runs, values.quick ? 1 : 3)),
    duration: num(values.duration, values.quick ? 3 : 10),
    warmup: num(values.warmup, values.quick ? 1 : 2),
    scenarios: list(values.scenarios),
    servers: list(values.servers),
    workers: list(values.workers).map((w) => Math.round(num(w, 1))),
    updateReadme: values['update-readme'],
    keepTmp: values['keep-tmp'],
  };
  for (const s of o.scenarios ?? []) if (!SCENARIOS.some((x) => x.name === s)) throw new Error(`unknown scenario: ${s}\n${USAGE}`);
  for (const s of o.servers ?? []) if (!(s in SERVER_KINDS)) throw new Error(`unknown server: ${s}\n${USAGE}`);
  return o;
}

/** stdout+stderr of a version query (nginx -v prints to stderr, wrk exits non-zero). */
function tryText(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || `${cmd}: not found`;
}

function hostInfo() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: `Linux ${release()}`,
    node: process.version,
    nginx: tryText('nginx', ['-v']).replace('nginx version: ', ''),
    wrk: tryText('wrk', ['--version']).split('\n')[0].replace(/ Copyright.*$/, '').replace(/\s+\[.*$/, ''),
    h2load: tryText('h2load', ['--version']),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/** Rotate the list by `k` (A B C, B C A, C A B, ...) to spread drift over servers. */
const rotate = (list, k) => list.map((_, i) => list[(i + k) % list.length]);

function tail(file, chars = 600) {
  try {
    return readFileSync(file, 'utf8').slice(-chars).trim();
  } catch {
    return '';
  }
}

class Bench {
  registry = new ProcessRegistry();
  /** Set on Ctrl-C: stop measuring, write nothing. */
  interrupted = false;

  constructor(opts) {
    this.opts = opts;
  }

  /** The chosen scenarios, once per worker count; with N > 1 only the servers that can run N processes. */
  selectedScenarios() {
    const chosen = SCENARIOS.filter((s) => (this.opts.scenarios ? this.opts.scenarios.includes(s.name) : !s.optional || this.opts.extras));
    const out = [];
    for (const workers of this.opts.workers) {
      for (const s of chosen) {
        const goals = (s.goals ?? (s.goal ? [s.goal] : [])).filter((g) => (g.workers ?? 1) === workers);
        if (workers === 1) {
          out.push({ ...s, workers, goals });
          continue;
        }
        const servers = s.servers.filter((k) => SERVER_KINDS[k].multi === true);
        if (!servers.includes(s.reference) || !servers.includes('anomaly')) continue;
        out.push({ ...s, name: `${s.name}-${workers}w`, title: `${s.title}, ${workers} worker processes each`, workers, servers, goals });
      }
    }
    return out;
  }

  selectedServers(scenario) {
    return scenario.servers.filter((k) => {
      if (this.opts.servers) return this.opts.servers.includes(k);
      return !SERVER_KINDS[k].optional || this.opts.extras;
    });
  }

  async prepare() {
    this.tmp = mkdtempSync(join(tmpdir(), 'anomaly-bench-'));
    chmodSync(this.tmp, 0o755); // nginx workers run as an unprivileged user when we are root
    this.cert = await makeCertificate(this.tmp);
    this.staticDir = join(this.tmp, 'static');
    mkdirSync(this.staticDir);
    const printable = (n) => {
      const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n';
      let seed = 12345;
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[i] = alphabet.charCodeAt(seed % alphabet.length);
      }
      return b;
    };
    writeFileSync(join(this.staticDir, '1k.txt'), printable(1024));
    writeFileSync(join(this.staticDir, '64k.txt'), printable(65536));
    writeFileSync(join(this.staticDir, '1m.txt'), printable(1024 * 1024));
    // Keep our own bookkeeping off the server's CPU.
    try {
      execFileSync('taskset', ['-a', '-p', '-c', String(CLIENT_CPU), String(process.pid)], { stdio: 'ignore' });
    } catch {}
  }

  /** Start one server of a scenario; resolves an instance (with `error` when it did not start). */
  /**
   * The upstream of the proxy scenarios: nginx answering /hello, pinned to the load generator's
   * CPU so that the proxy under test has its core to itself (it is the same for every proxy).
   */
  async startBackend(scenario) {
    const dir = join(this.tmp, scenario.name, 'backend');
    mkdirSync(dir, { recursive: true });
    const [port] = await freePorts(1);
    const [cmd, args] = nginxCommand({ dir, port, transport: 'h1', staticDir: this.staticDir, cert: this.cert, accessLog: false });
    const child = this.registry.spawn(cmd, args, { cpu: CLIENT_CPU, cwd: dir, stderr: 'ignore' });
    try {
      await waitReady({ transport: 'h1', port, path: '/hello', expectBytes: 11, timeoutMs: READY_TIMEOUT_MS, exited: child.exited });
    } catch (e) {
      await this.registry.stop(child);
      return { error: `upstream nginx did not start: ${e.message}` };
    }
    return { child, port };
  }

  async start(scenario, key, ports, backendPort) {
    const kind = SERVER_KINDS[key];
    const workers = scenario.workers ?? 1;
    const label = (kind.label[scenario.transport] ?? `${key} (${scenario.transport})`) + (workers > 1 ? ` x${workers}` : '');
    const inst = { key, label, scenario, runs: [], warmed: false };
    const dir = join(this.tmp, scenario.name, key);
    mkdirSync(dir, { recursive: true });
    try {
      const ctx = {
        scenario, transport: scenario.transport, dir, ports, cert: this.cert, backendPort, workers,
        staticDir: this.staticDir, benchDir: BENCH_DIR, repoDir: REPO_DIR,
      };
      const spec = kind.build(ctx);
      const errFile = join(dir, 'stderr.log');
      const outFd = openSync(spec.stdoutToNull ? '/dev/null' : join(dir, 'stdout.log'), 'a');
      const errFd = openSync(errFile, 'a');
      // N worker processes get N CPUs (0..N-1); on 2 cores that includes the load generator's.
      const cpu = workers > 1 ? `${SERVER_CPU}-${Math.min(cpus().length - 1, SERVER_CPU + workers - 1)}` : SERVER_CPU;
      inst.child = this.registry.spawn(spec.cmd, spec.args, { cpu, cwd: spec.cwd ?? dir, stdout: outFd, stderr: errFd });
      closeSync(outFd);
      closeSync(errFd);
      inst.port = spec.port;
      inst.url = `${scenario.transport === 'h1s' || scenario.transport === 'h2s' ? 'https' : 'http'}://127.0.0.1:${spec.port}${scenario.path}`;
      try {
        await waitReady({
          transport: scenario.transport, port: spec.port, path: scenario.path, expectBytes: scenario.bytes,
          timeoutMs: READY_TIMEOUT_MS, exited: inst.child.exited,
        });
      } catch (e) {
        let err = tail(errFile);
        if (spec.stdoutToNull && inst.child.exitCode !== null) err = `${err}\n${await this.diagnose(spec, dir)}`.trim();
        throw new Error(`${e.message}${err ? `\n${err}` : ''}`);
      }
    } catch (e) {
      inst.error = `did not start: ${e.message}`;
      if (inst.child) await this.registry.stop(inst.child);
    }
    return inst;
  }

  /** A server that logs to /dev/null crashed at start: run it once more with stdout kept, for its message. */
  async diagnose(spec, dir) {
    const file = join(dir, 'start-failure.log');
    const fd = openSync(file, 'a');
    const child = this.registry.spawn(spec.cmd, spec.args, { cwd: spec.cwd ?? dir, stdout: fd, stderr: fd });
    closeSync(fd);
    const timer = setTimeout(() => this.registry.stop(child, 500), 5000);
    await child.exited;
    clearTimeout(timer);
    return tail(file, 600);
  }

  /** One measured run (after the warm-up on the first): req/s from the load tool, CPU from /proc. */
  async measure(inst) {
    const { load } = inst.scenario;
    if (!inst.warmed) {
      await runLoad(this.registry, load, inst.url, this.opts.warmup, CLIENT_CPU);
      inst.warmed = true;
      await new Promise((r) => setTimeout(r, 250));
    }
    const cpu0 = cpuSnapshot(inst.child.pid);
    const cores0 = coreSnapshot();
    const t0 = performance.now();
    const r = await runLoad(this.registry, load, inst.url, this.opts.duration, CLIENT_CPU);
    const wallS = (performance.now() - t0) / 1000;
    const cores1 = coreSnapshot();
    const cpu1 = cpuSnapshot(inst.child.pid);
    const cpuMs = cpuMsBetween(cpu0, cpu1);
    if (r.requests === 0) throw new Error('no request completed');
    return {
      ...r,
      cpuMs,
      cpuUsPerReq: (cpuMs * 1000) / r.requests,
      wallS: Math.round(wallS * 100) / 100,
      serverCpuPct: Math.round((cpuMs / 10 / wallS) * 10) / 10,
      cores: [SERVER_CPU, CLIENT_CPU].map((c) => coreBusyPercent(cores0, cores1)[c]),
    };
  }

  async runScenario(scenario) {
    const keys = this.selectedServers(scenario);
    const loadText = scenario.load.tool === 'wrk'
      ? `wrk -t${scenario.load.threads} -c${scenario.load.connections} ${scenario.transport === 'h1s' ? 'https' : 'http'} GET ${scenario.path}`
      : `h2load -t${scenario.load.threads} -c${scenario.load.connections} -m${scenario.load.streams} ${scenario.transport} GET ${scenario.path}`;
    console.log(`\n== ${scenario.name}: ${scenario.title} — ${keys.join(', ')}`);
    const ports = await freePorts(2 * keys.length);
    const backend = scenario.backend ? await this.startBackend(scenario) : null;
    if (backend?.error) {
      console.log(`  backend: ${backend.error}`);
      return null;
    }
    const instances = await Promise.all(keys.map((k, i) => this.start(scenario, k, ports.slice(2 * i, 2 * i + 2), backend?.port)));
    for (const i of instances) if (i.error) console.log(`  ${i.label}: ${i.error.split('\n')[0]}`);
    const live = instances.filter((i) => !i.error);
    let runsDone = 0;
    for (let rep = 0; rep < this.opts.runs; rep++) {
      for (const inst of rotate(live, rep)) {
        if (this.interrupted) return null;
        if (inst.error) continue;
        if (!alive(inst.child.pid)) {
          inst.error = `exited during the run: ${tail(join(this.tmp, scenario.name, inst.key, 'stderr.log'), 300)}`;
          continue;
        }
        try {
          const run = await this.measure(inst);
          inst.runs.push(run);
          console.log(`  run ${rep + 1} ${inst.label.padEnd(28)} ${Math.round(run.rps).toString().padStart(7)} req/s  ${run.cpuUsPerReq.toFixed(2).padStart(7)} µs CPU/req  server ${run.serverCpuPct}%  client ${run.clientCpuPct}%  cores ${run.cores.join('/')}%${run.non2xx ? `  ${run.non2xx} non-2xx` : ''}`);
        } catch (e) {
          if (this.interrupted) return null;
          inst.runs.push({ error: e.message });
          console.log(`  run ${rep + 1} ${inst.label}: ${e.message.split('\n')[0]}`);
        }
      }
      runsDone++;
    }
    await Promise.all(instances.map((i) => (i.child ? this.registry.stop(i.child) : null)));
    if (backend?.child) await this.registry.stop(backend.child);
    const ref = SERVER_KINDS[scenario.reference];
    const result = summarize({
      name: scenario.name,
      title: scenario.title,
      transport: scenario.transport,
      path: scenario.path,
      bytes: scenario.bytes,
      load: scenario.load,
      loadText,
      duration: this.opts.duration,
      runsDone,
      reference: scenario.reference,
      referenceLabel: ref.label[scenario.transport] ?? scenario.reference,
      goals: scenario.goals,
      workers: scenario.workers ?? 1,
      servers: instances.map((i) => ({ key: i.key, label: i.label, error: i.error, url: i.url, runs: i.runs })),
    });
    console.log('\n' + scenarioMarkdown(result));
    return result;
  }

  async run() {
    const startedAt = new Date().toISOString();
    const host = hostInfo();
    if (host.cpus < 2) console.warn('warning: fewer than 2 CPUs; server and load generator share a core');
    await this.prepare();
    const scenarios = [];
    const t0 = Date.now();
    for (const s of this.selectedScenarios()) {
      const result = await this.runScenario(s);
      if (this.interrupted || result === null) return;
      scenarios.push(result);
    }
    console.log(`\nall scenarios done in ${Math.round((Date.now() - t0) / 1000)} s`);
    const report = { startedAt, finishedAt: new Date().toISOString(), host, options: this.opts, certificate: this.cert.via, scenarios };
    const md = reportMarkdown(report);
    const outDir = join(BENCH_DIR, 'out');
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, `${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(outDir, 'latest.md'), `# Benchmark: last run\n\n${md}`);
    console.log(`\nwrote ${jsonFile} and ${join(outDir, 'latest.md')}`);
    if (!this.opts.quick && this.opts.scenarios === null && this.opts.servers === null) {
      // A full run is the project's record: bench/RESULTS.md (partial or --quick runs stay in bench/out/),
      // with the per-language apps, idle connections and runtime memory measured right after.
      const extras = companionReports(this.opts);
      writeFileSync(join(BENCH_DIR, 'RESULTS.md'), `# Benchmark results\n\nWritten by \`npm run bench\` (bench/run.mjs); see bench/README.md for the method.\n\n${md}\n${extras}`);
      console.log(`wrote ${join(BENCH_DIR, 'RESULTS.md')}`);
    }
    if (this.opts.updateReadme) {
      const readmeFile = join(BENCH_DIR, 'README.md');
      const readme = existsSync(readmeFile) ? readFileSync(readmeFile, 'utf8') : '# Benchmarks\n';
      writeFileSync(readmeFile, replaceLastRun(readme, md));
      console.log(`updated ${readmeFile}`);
    }
  }

  async cleanup() {
    await this.registry.stopAll();
    if (this.tmp && !this.opts.keepTmp) rmSync(this.tmp, { recursive: true, force: true });
    else if (this.tmp) console.log(`temp dir kept: ${this.tmp}`);
  }
}

let bench;
try {
  bench = new Bench(options());
} catch (e) {
  console.error(e.message);
  process.exit(2);
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (bench.interrupted) {
      bench.registry.killAllSync();
      process.exit(130);
    }
    bench.interrupted = true;
    console.error(`\n${sig}: stopping every server and load generator...`);
    bench.cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', () => bench.registry.killAllSync());

try {
  await bench.run();
} catch (e) {
  console.error(e.stack ?? e);
  process.exitCode = 1;
} finally {
  if (!bench.interrupted) await bench.cleanup();
}

/**
 * The companion benches of a full run, as Markdown: each language's app against a native handler
 * (bench/apps.mjs), RSS with 10k idle keep-alive connections (bench/idle-conns.mjs) and memory per
 * app instance (bench/runtime-memory.mjs). One that fails leaves a line saying so, not a hole.
 */
function companionReports(opts) {
  const runs = String(opts.runs);
  const benches = [
    // Latency overheads are medians of per-run pairs: at least 5 pairs, 3 s each (its own default).
    ['per-language apps', 'apps.mjs', ['--runs', String(Math.max(5, opts.runs)), '--duration', String(Math.min(opts.duration, 3))]],
    ['idle keep-alive connections', 'idle-conns.mjs', ['--runs', runs]],
    ['memory per app instance', 'runtime-memory.mjs', []],
  ];
  const parts = ['## Apps, idle connections and runtime memory', ''];
  for (const [what, file, args] of benches) {
    console.log(`\n== ${what} (bench/${file})`);
    const run = spawnSync(process.execPath, [join(BENCH_DIR, file), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
    const out = (run.stdout ?? '').trim();
    if (run.status === 0 && out !== '') parts.push(`Command: \`node bench/${file} ${args.join(' ')}\``.trim(), '', out.replace(/^# /, ''), '');
    else parts.push(`${what}: bench/${file} failed (exit ${run.status ?? run.signal}); run it alone to see why.`, '');
  }
  return parts.join('\n');
}
