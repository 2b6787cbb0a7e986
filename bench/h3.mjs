#!/usr/bin/env node
// HTTP/3 vs HTTP/2 on the same anomaly instance: one connection x 100 concurrent streams of a small
// response, h2 driven by h2load and h3 by bench/h3load (quiche; Debian's h2load has no HTTP/3),
// interleaved per run, server pinned to CPU 0 and the load generator to CPU 1. Reports medians of
// req/s and of server CPU time per request, the QUIC handshake time, and the server's RSS with
// 1000 idle QUIC connections.
//
//   node bench/h3.mjs [--runs 3] [--requests 50000] [--idle 1000] [--hold 8]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeCertificate } from './lib/cert.mjs';
import { cpuMsBetween, cpuSnapshot, ProcessRegistry } from './lib/procs.mjs';
import { freePorts, waitReady } from './lib/net.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH_DIR);
const TARGET = join(REPO, 'native', 'quic', 'target');
const H3LOAD = join(TARGET, 'release', 'h3load');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '50000' },
    idle: { type: 'string', default: '1000' },
    hold: { type: 'string', default: '8' },
  },
});
const RUNS = Number(values.runs);
const REQUESTS = Number(values.requests);
const IDLE = Number(values.idle);
const HOLD = Number(values.hold);

function buildH3load() {
  // Shares native/quic's target dir, so quiche is compiled once for both.
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '--manifest-path', join(BENCH_DIR, 'h3load', 'Cargo.toml'), '--target-dir', TARGET], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(H3LOAD)) throw new Error('could not build bench/h3load (needs cargo)');
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Runs the load generator on CPU 1 under /usr/bin/time: its output and its own CPU seconds. */
function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', 'taskset', '-c', '1', cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const m = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { out: r.stdout, clientCpuS: m ? Number(m[1]) + Number(m[2]) : NaN };
}

function h2load(port) {
  const { out, clientCpuS } = timed('h2load', ['-n', String(REQUESTS), '-c', '1', '-m', '100', `https://127.0.0.1:${port}/hello`]);
  const rps = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const connect = /time for connect:\s+(\S+)/.exec(out)?.[1] ?? '?';
  return { rps, ok, connect, clientCpuS };
}

function h3load(port) {
  const { out, clientCpuS } = timed(H3LOAD, ['load', '127.0.0.1', String(port), '/hello', '100', String(REQUESTS)]);
  return { ...JSON.parse(out.trim().split('\n').pop()), clientCpuS };
}

async function main() {
  if (!existsSync(join(REPO, 'native', 'quic', 'anomaly_quic.node'))) throw new Error('the QUIC binding is not built: node native/quic/build.mjs');
  buildH3load();
  const tmp = mkdtempSync(join(tmpdir(), 'anomaly-h3bench-'));
  const procs = new ProcessRegistry();
  try {
    const cert = await makeCertificate(tmp);
    const [port] = await freePorts(1);
    const config = {
      listen: { tls: port, plain: false, address: '127.0.0.1', http3: true },
      storage: join(tmp, 'storage'),
      log: { level: 'warn', format: 'json', access: true },
      limits: { drain_timeout: '1s', idle_timeout: '120s' },
      sites: [{ tls: { cert: cert.cert, key: cert.key }, routes: [{ path: '/hello', respond: { status: 200, body: 'hello world', headers: { 'content-type': 'text/plain' } } }] }],
    };
    const cfgPath = join(tmp, 'anomaly.yaml');
    writeFileSync(cfgPath, JSON.stringify(config, null, 2));
    const server = procs.spawn(process.execPath, [join(REPO, 'bin', 'anomaly.js'), 'serve', cfgPath], { cpu: 0, cwd: REPO });
    await waitReady({ transport: 'h2s', port, path: '/hello', expectBytes: 11, timeoutMs: 20_000, exited: server.exited });
    // Warm-up of both paths (JIT, TLS session setup).
    h2load(port);
    h3load(port);
    const rows = { h2: [], h3: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const proto of ['h2', 'h3']) {
        const before = cpuSnapshot(server.pid);
        const res = proto === 'h2' ? h2load(port) : h3load(port);
        const cpuMs = cpuMsBetween(before, cpuSnapshot(server.pid));
        const ok = res.ok;
        const elapsedMs = (REQUESTS / res.rps) * 1000;
        const row = {
          rps: res.rps,
          cpuUsPerReq: (cpuMs * 1000) / REQUESTS,
          serverCpuShare: cpuMs / elapsedMs,
          clientCpuUsPerReq: (res.clientCpuS * 1e6) / REQUESTS,
          ok,
          handshake: proto === 'h3' ? res.handshake_ms : res.connect,
        };
        rows[proto].push(row);
        console.error(
          `run ${r + 1} ${proto}: ${res.rps.toFixed(0)} req/s, server ${row.cpuUsPerReq.toFixed(1)} us CPU/req (busy ${(row.serverCpuShare * 100).toFixed(0)}%), client ${row.clientCpuUsPerReq.toFixed(1)} us CPU/req, ${ok}/${REQUESTS} ok`,
        );
      }
    }
    const summary = {};
    for (const proto of ['h2', 'h3']) {
      summary[proto] = {
        rps: median(rows[proto].map((x) => x.rps)),
        cpuUsPerReq: median(rows[proto].map((x) => x.cpuUsPerReq)),
        clientCpuUsPerReq: median(rows[proto].map((x) => x.clientCpuUsPerReq)),
      };
    }
    // Idle connections: RSS before and while IDLE connections are open.
    const rssBefore = rssKb(server.pid);
    const idle = procs.spawn(H3LOAD, ['idle', '127.0.0.1', String(port), String(IDLE), String(HOLD)], { cpu: 1, stdout: 'pipe' });
    const idleLine = await new Promise((resolve, reject) => {
      let buf = '';
      idle.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]));
      });
      idle.exited.then(() => reject(new Error(`h3load idle exited early: ${buf}`)));
    });
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssKb(server.pid);
    await procs.stop(idle);
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      requests: REQUESTS,
      runs: RUNS,
      h2: summary.h2,
      h3: summary.h3,
      ratio: summary.h3.rps / summary.h2.rps,
      cpuRatio: summary.h2.cpuUsPerReq / summary.h3.cpuUsPerReq,
      handshakeMs: { h3Median: idleLine.handshake_ms_median, h3P90: idleLine.handshake_ms_p90 },
      idle: { connections: IDLE, rssBeforeKb: rssBefore, rssWithIdleKb: rssIdle, perConnectionKb: (rssIdle - rssBefore) / IDLE },
      rows,
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await procs.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
