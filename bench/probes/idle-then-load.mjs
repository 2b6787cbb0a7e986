// Reproduces the idle-time V8 slow state (bench/README.md, "Where anomaly's time goes"): starts
// anomaly on the hello config, leaves it idle long enough for V8's memory reducer to run its full
// GCs, then loads it with wrk and prints the server's CPU per request, the nextTick probe's readings
// (≈60–110 µs healthy, ≈290–320 slow) and how many memory-reducing GCs ran.
//   node bench/probes/idle-then-load.mjs [--idle 25] [--runs 3] [--node-flags="..."]
// Needs wrk and taskset; the server runs on CPU 0, wrk on CPU 1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad } from '../lib/load.mjs';
import { freePorts, waitReady } from '../lib/net.mjs';
import { ProcessRegistry, cpuMsBetween, cpuSnapshot } from '../lib/procs.mjs';

const repoDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opts } = parseArgs({
  options: { idle: { type: 'string', default: '25' }, runs: { type: 'string', default: '3' }, 'node-flags': { type: 'string', default: '' } },
});
const registry = new ProcessRegistry();
process.on('SIGINT', () => {
  registry.killAllSync();
  process.exit(130);
});

for (let run = 1; run <= Number(opts.runs); run++) {
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-idle-'));
  const [port] = await freePorts(1);
  const config = readFileSync(join(repoDir, 'bench', 'configs', 'anomaly-hello.yaml'), 'utf8')
    .replace(/^ {2}tls: .*\n/m, '')
    .replace(/plain: \d+/, `plain: ${port}`);
  writeFileSync(join(dir, 'anomaly.yaml'), `${config}\nstorage: ${join(dir, 'storage')}\n`);
  const out = openSync(join(dir, 'stdout.log'), 'w');
  const err = openSync(join(dir, 'stderr.log'), 'w');
  const flags = opts['node-flags'].split(' ').filter(Boolean);
  const server = registry.spawn('node', [...flags, '--trace-gc', '-r', join(repoDir, 'bench', 'probes', 'nexttick.cjs'), join(repoDir, 'bin', 'anomaly.js'), 'serve', join(dir, 'anomaly.yaml')], { cpu: 0, stdout: out, stderr: err });
  await waitReady({ transport: 'h1', port, path: '/hello', timeoutMs: 30_000, exited: server.exited });
  await new Promise((r) => setTimeout(r, Number(opts.idle) * 1000));
  const cpu0 = cpuSnapshot(server.pid);
  const load = await runLoad(registry, { tool: 'wrk', connections: 50, threads: 1 }, `http://127.0.0.1:${port}/hello`, 6, 1);
  const cpuUs = (cpuMsBetween(cpu0, cpuSnapshot(server.pid)) * 1000) / Math.max(1, load.requests);
  await registry.stop(server);
  closeSync(out);
  closeSync(err);
  const gcLog = readFileSync(join(dir, 'stdout.log'), 'latin1');
  const probe = [...readFileSync(join(dir, 'stderr.log'), 'utf8').matchAll(/probe nextTick x1000: (\d+)/g)].map((m) => m[1]).slice(-5);
  const reduce = (gcLog.match(/Mark-Compact \(reduce\)/g) ?? []).length;
  process.stdout.write(`run ${run}: idle ${opts.idle} s, then ${Math.round(load.rps)} req/s, ${cpuUs.toFixed(1)} µs CPU/request; memory-reducing GCs ${reduce}; nextTick x1000 (µs, last 5 s): ${probe.join(' ')}\n`);
  rmSync(dir, { recursive: true, force: true });
}
