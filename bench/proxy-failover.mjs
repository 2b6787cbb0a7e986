#!/usr/bin/env node
// Acceptance check for the proxy (issue 5): three upstreams behind anomaly under wrk load; one is
// killed (SIGKILL) part-way, then started again. Reports total requests, non-2xx answers and
// socket errors, the ejection / health log lines, and which upstreams answer after recovery.
//
//   node bench/proxy-failover.mjs [--duration 15] [--connections 50] [--json]
//
// Upstreams are single-process nginx instances (master_process off: SIGKILL really kills them,
// and every connection they had is reset). Exits 1 when a GET got a 5xx or the killed upstream
// never came back.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts } from './lib/net.mjs';
import { parseWrk } from './lib/load.mjs';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const { values: opt } = parseArgs({
  options: { duration: { type: 'string', default: '15' }, connections: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } },
});
const duration = Number(opt.duration);
const say = (...a) => {
  if (!opt.json) console.log(...a);
};

const tmp = mkdtempSync(join(tmpdir(), 'anomaly-failover-'));
const children = new Set();
function run(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function upstreamConf(dir, port, name) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port};
    add_header x-upstream ${name} always;
    location = /health { return 200 "ok"; }
    location / { default_type text/plain; return 200 "hello from ${name}"; }
  }
}
`);
  return file;
}

async function waitPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      await r.arrayBuffer();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`port ${port} not ready`);
}

const ports = await freePorts(4);
const names = ['u1', 'u2', 'u3'];
const confs = names.map((n, i) => upstreamConf(join(tmp, n), ports[i], n));
const upstreams = names.map((_, i) => run('nginx', ['-p', join(tmp, names[i]), '-c', confs[i]]));
const anomalyPort = ports[3];
const config = {
  listen: { tls: false, plain: anomalyPort, address: '127.0.0.1' },
  workers: 1,
  storage: join(tmp, 'storage'),
  log: { level: 'info', format: 'json', access: false },
  upstreams: {
    app: {
      to: ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`),
      balance: 'round_robin',
      retry: { attempts: 3 },
      health: {
        active: { path: '/health', interval: '500ms', healthy: 2, unhealthy: 2 },
        passive: { fails: 3, window: '5s', eject_for: '2s' },
      },
    },
  },
  sites: [{ routes: [{ path: '/*', proxy: { upstream: 'app' } }] }],
};
writeFileSync(join(tmp, 'anomaly.yaml'), JSON.stringify(config, null, 2));
const anomaly = run(process.execPath, [join(REPO, 'bin', 'anomaly.js'), 'serve', join(tmp, 'anomaly.yaml')]);
const logs = [];
createInterface({ input: anomaly.stdout }).on('line', (line) => {
  try {
    logs.push(JSON.parse(line));
  } catch {}
});
anomaly.stderr.on('data', (d) => process.stderr.write(d));

let exitCode = 1;
try {
  for (const p of ports.slice(0, 3)) await waitPort(p);
  await waitPort(anomalyPort);
  const t0 = Date.now();
  const wrk = run('wrk', ['-t1', `-c${opt.connections}`, `-d${duration}s`, '--latency', '--timeout', '5s', `http://127.0.0.1:${anomalyPort}/`]);
  let out = '';
  wrk.stdout.on('data', (d) => (out += d));
  const killAt = duration * 333;
  const restartAt = duration * 600;
  await sleep(killAt);
  upstreams[1].kill('SIGKILL');
  const killedAt = Date.now() - t0;
  say(`t=${(killedAt / 1000).toFixed(1)}s  killed u2 (SIGKILL)`);
  await sleep(restartAt - killAt);
  upstreams[1] = run('nginx', ['-p', join(tmp, 'u2'), '-c', confs[1]]);
  const restartedAt = Date.now() - t0;
  say(`t=${(restartedAt / 1000).toFixed(1)}s  started u2 again`);
  await new Promise((r) => wrk.once('exit', r));
  const load = parseWrk(out);
  // After the run: does every upstream answer again?
  const seen = {};
  for (let i = 0; i < 30; i++) {
    const r = await fetch(`http://127.0.0.1:${anomalyPort}/after`);
    await r.arrayBuffer();
    const u = r.headers.get('x-upstream') ?? `status ${r.status}`;
    seen[u] = (seen[u] ?? 0) + 1;
  }
  const lines = (msg) => logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(msg)).map((l) => ({ target: l.target, reason: l.reason ?? l.check, at: l.time }));
  const result = {
    duration,
    connections: Number(opt.connections),
    totalRequests: load.requests,
    rps: load.rps,
    non2xx: load.non2xx,
    socketErrors: load.socketErrors,
    killedAtS: killedAt / 1000,
    restartedAtS: restartedAt / 1000,
    ejected: lines('upstream target ejected'),
    down: lines('upstream target failed its health check'),
    up: lines('upstream target passed its health check'),
    failedRequestsLogged: logs.filter((l) => l.msg === 'upstream request failed' || l.msg === 'no upstream target available').length,
    afterRecovery: seen,
  };
  const recovered = (seen.u2 ?? 0) > 0;
  result.ok = load.non2xx === 0 && load.socketErrors === 0 && recovered && (result.ejected.length > 0 || result.down.length > 0);
  if (opt.json) console.log(JSON.stringify(result));
  else {
    say(`\n${result.totalRequests} requests in ${duration}s (${Math.round(result.rps)} req/s), non-2xx: ${result.non2xx}, socket errors: ${result.socketErrors}`);
    say(`passive ejections: ${result.ejected.map((e) => `${e.target} (${e.reason})`).join(', ') || 'none'}`);
    say(`health check down: ${result.down.map((e) => e.target).join(', ') || 'none'}; up again: ${result.up.map((e) => e.target).join(', ') || 'none'}`);
    say(`answers after recovery (30 requests): ${JSON.stringify(seen)}`);
    say(result.ok ? 'OK: no failed GET, the dead upstream was taken out and came back' : 'FAILED');
  }
  exitCode = result.ok ? 0 : 1;
} finally {
  for (const c of children) c.kill('SIGKILL');
  await sleep(100);
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(exitCode);
