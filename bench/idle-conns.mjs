#!/usr/bin/env node
// Memory held by idle keep-alive connections: each server answers one request on each of N
// connections (default 10,000), which then stay open and idle; the server's RSS (the whole
// process tree) is read before and after. Servers: anomaly (1 process), raw Node http, nginx.
//
//   node bench/idle-conns.mjs [--connections 10000] [--servers anomaly,node,nginx] [--runs 3]
//
// Plain HTTP/1.1 on loopback. Each server runs alone (one at a time) so the RSS is its own.
// Needs `ulimit -n` above N plus a margin for both this process and the servers.
import net from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts, waitReady } from './lib/net.mjs';
import { ProcessRegistry, treeRssMiB } from './lib/procs.mjs';
import { median } from './lib/report.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const { values: opts } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    servers: { type: 'string', default: 'anomaly,node,nginx' },
    runs: { type: 'string', default: '3' },
  },
});
const N = Number(opts.connections);
const runs = Number(opts.runs);
const registry = new ProcessRegistry();
process.on('SIGINT', () => {
  registry.killAllSync();
  process.exit(130);
});

function nginxConf(dir, port) {
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, `worker_processes 1;
worker_rlimit_nofile ${N + 1024};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
daemon off;
events { worker_connections ${N + 512}; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    location = /hello { default_type text/plain; return 200 "hello world"; }
  }
}
`);
  return file;
}

const SERVERS = {
  anomaly(dir, port) {
    const file = join(dir, 'anomaly.yaml');
    writeFileSync(file, JSON.stringify({
      workers: 1,
      listen: { tls: false, plain: port, address: '127.0.0.1' },
      storage: join(dir, 'storage'),
      log: { format: 'json', level: 'warn', access: false },
      limits: { idle_timeout: '300s' },
      sites: [{ routes: [{ path: '/hello', respond: { body: 'hello world', headers: { 'content-type': 'text/plain' } } }] }],
    }));
    return [process.execPath, [join(repoDir, 'bin', 'anomaly.js'), 'serve', file]];
  },
  node(dir, port) {
    return [process.execPath, [join(benchDir, 'servers', 'node-http.mjs'), '--port', String(port)]];
  },
  nginx(dir, port) {
    return ['nginx', ['-p', dir, '-c', nginxConf(dir, port)]];
  },
};

/** Opens `count` connections, one GET /hello each (answer read), and keeps them open. */
async function openIdle(port, count) {
  const sockets = [];
  const request = 'GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const one = () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      let got = '';
      s.setEncoding('latin1');
      s.once('error', reject);
      s.on('data', function onData(d) {
        got += d;
        if (got.includes('hello world')) {
          s.off('data', onData);
          s.on('data', () => {});
          resolve(s);
        }
      });
      s.write(request);
    });
  for (let i = 0; i < count; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, count - i) }, one));
    sockets.push(...batch);
  }
  return sockets;
}

const results = [];
const tmp = mkdtempSync(join(tmpdir(), 'anomaly-idle-'));
try {
  for (const name of opts.servers.split(',')) {
    const perConn = [];
    let base = 0;
    let loaded = 0;
    for (let r = 0; r < runs; r++) {
      const dir = join(tmp, `${name}-${r}`);
      mkdirSync(dir, { recursive: true });
      const [port] = await freePorts(1);
      const [cmd, args] = SERVERS[name](dir, port);
      const child = registry.spawn(cmd, args, { cwd: repoDir, stdout: 'ignore', stderr: 'ignore' });
      try {
        await waitReady({ transport: 'h1', port, path: '/hello', expectBytes: 11, timeoutMs: 20_000, exited: child.exited });
        await openIdle(port, 50); // warm: first allocations, JIT
        await new Promise((res) => setTimeout(res, 500));
        base = treeRssMiB(child.pid);
        const sockets = await openIdle(port, N);
        await new Promise((res) => setTimeout(res, 2000));
        loaded = treeRssMiB(child.pid);
        const open = sockets.filter((s) => !s.destroyed).length;
        perConn.push(((loaded - base) * 1024 * 1024) / N);
        process.stderr.write(`  ${name} run ${r + 1}: ${open} connections open, RSS ${base.toFixed(1)} -> ${loaded.toFixed(1)} MiB\n`);
        for (const s of sockets) s.destroy();
      } finally {
        await registry.stop(child);
      }
    }
    results.push({ name, baseMiB: base, loadedMiB: loaded, bytesPerConnection: median(perConn) });
  }
} finally {
  await registry.stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`\n### RSS with ${N.toLocaleString('en')} idle keep-alive connections (HTTP/1.1, median of ${runs})\n`);
console.log('| server | RSS idle, MiB | RSS with the connections, MiB | per connection |');
console.log('|---|--:|--:|--:|');
for (const r of results) console.log(`| ${r.name} | ${r.baseMiB.toFixed(1)} | ${r.loadedMiB.toFixed(1)} | ${(r.bytesPerConnection / 1024).toFixed(1)} KiB |`);
