#!/usr/bin/env node
// Soak test (issue 9): mixed load for a long time while the config and the apps keep changing.
//
//   node bench/soak.mjs [--minutes 10] [--workers 2] [--interval 30]
//
// One anomaly (supervisor + workers) serves static files, a QuickJS app, a Lua app, a proxy to an
// nginx upstream and a cached proxy route, on its TLS port (h1, h2, h3) and its plain port. For
// the whole run: wrk (HTTP/1.1, all routes in turn), h2load (HTTP/2 over TLS, all routes) and,
// when built, bench/h3load (HTTP/3) in batches. Every --interval seconds the config is rewritten
// and SIGHUP'd (a new respond body) and both apps are edited (hot reload). RSS of the server's
// process tree is sampled every 10 s. Pass: 0 failed requests, RSS drift under 10% from the end
// of the warm-up (a fifth of the run, at least 1 minute) to the end.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeCertificate } from './lib/cert.mjs';
import { parseWrk } from './lib/load.mjs';
import { freePorts, waitReady } from './lib/net.mjs';
import { nginxCommand } from './lib/nginx.mjs';
import { ProcessRegistry, treeRssMiB } from './lib/procs.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH);
const H3LOAD = join(REPO, 'native', 'quic', 'target', 'release', 'h3load');
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    interval: { type: 'string', default: '30' },
  },
});
const SECONDS = Math.round(Number(values.minutes) * 60);
const WORKERS = Number(values.workers);
const INTERVAL = Number(values.interval);
const PATHS = ['/static/1k.txt', '/js/', '/lua/', '/proxy/hello', '/cache/1k.txt', '/'];

const registry = new ProcessRegistry();
process.on('SIGINT', () => {
  registry.killAllSync();
  process.exit(130);
});

function appSources(version) {
  return {
    js: `export default () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'js v${version}\\n' });\n`,
    lua: `return function(req) return { status = 200, headers = { ['content-type'] = 'text/plain' }, body = 'lua v${version}\\n' } end\n`,
  };
}

function config(dir, ports, cert, upstream, version) {
  return JSON.stringify({
    workers: WORKERS,
    listen: { tls: ports.tls, plain: ports.plain, address: '127.0.0.1' },
    storage: join(dir, 'storage'),
    log: { format: 'json', level: 'warn', access: false },
    caches: { soak: { store: 'memory', max_size: '64mb' } },
    sites: [{
      tls: { cert: cert.cert, key: cert.key },
      routes: [
        { path: '/static/*', static: { root: join(dir, 'static') } },
        { path: '/js/*', app: { file: join(dir, 'app.js') } },
        { path: '/lua/*', app: { file: join(dir, 'app.lua') } },
        { path: '/proxy/*', proxy: { to: `http://127.0.0.1:${upstream}`, strip_prefix: '/proxy' } },
        { path: '/cache/*', proxy: { to: `http://127.0.0.1:${upstream}`, strip_prefix: '/cache' }, cache: { zone: 'soak', default_ttl: '30s' } },
        { path: '/*', respond: { body: `config v${version}\n` } },
      ],
    }],
  }, null, 2);
}

/** Runs a command to completion; resolves with its output. */
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = registry.spawn(cmd, args, { stdout: 'pipe', stderr: 'pipe' });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.exited.then((e) => resolve({ out, code: e.code }));
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-soak-'));
  chmodSync(dir, 0o755); // nginx's workers run unprivileged when we are root: they must read the files
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', '1k.txt'), 'x'.repeat(1023) + '\n');
  writeFileSync(join(dir, 'static', 'hello'), 'hello world');
  const cert = await makeCertificate(dir);
  const [tls, plain, upstream] = await freePorts(3);
  const upstreamDir = join(dir, 'upstream');
  mkdirSync(upstreamDir);
  const [ncmd, nargs] = nginxCommand({ dir: upstreamDir, port: upstream, transport: 'h1', staticDir: join(dir, 'static'), cert, accessLog: false });
  const nginx = registry.spawn(ncmd, nargs, { stderr: 'ignore' });
  await waitReady({ transport: 'h1', port: upstream, path: '/hello', expectBytes: 11, timeoutMs: 20_000, exited: nginx.exited });

  let version = 0;
  const writeApps = () => {
    const src = appSources(version);
    writeFileSync(join(dir, 'app.js'), src.js);
    writeFileSync(join(dir, 'app.lua'), src.lua);
  };
  writeApps();
  const configFile = join(dir, 'anomaly.yaml');
  writeFileSync(configFile, config(dir, { tls, plain }, cert, upstream, version));
  const server = registry.spawn(process.execPath, [join(REPO, 'bin', 'anomaly.js'), 'serve', configFile], {
    cwd: REPO, stdout: 'ignore', stderr: 'pipe', env: { ...process.env, ANOMALY_DATA_DIR: join(dir, 'storage') },
  });
  let serverErr = '';
  server.stderr.on('data', (d) => (serverErr = (serverErr + d).slice(-4000)));
  await waitReady({ transport: 'h1', port: plain, path: '/static/hello', expectBytes: 11, timeoutMs: 120_000, exited: server.exited });
  for (const path of PATHS) {
    const res = await fetch(`http://127.0.0.1:${plain}${path}`);
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path} answers ${res.status} before the soak starts: ${body.slice(0, 200)}`);
  }
  console.error(`soak: ${SECONDS} s, ${WORKERS} workers, changes every ${INTERVAL} s; server pid ${server.pid}`);

  // wrk cycles through the routes with a small Lua script.
  const wrkScript = join(dir, 'paths.lua');
  writeFileSync(wrkScript, `local paths = {${PATHS.map((p) => `"${p}"`).join(',')}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n`);
  const started = Date.now();
  const loads = [
    run('wrk', ['-t1', '-c16', `-d${SECONDS}s`, '-s', wrkScript, `http://127.0.0.1:${plain}/`]),
    run('h2load', ['-D', String(SECONDS), '-t1', '-c4', '-m10', ...PATHS.map((p) => `https://127.0.0.1:${tls}${p}`)]),
  ];
  // HTTP/3 in batches while the run lasts.
  const h3 = { batches: 0, ok: 0, failed: 0, error: null };
  const h3loop = (async () => {
    if (!existsSync(H3LOAD)) {
      h3.error = 'bench/h3load not built (node bench/h3.mjs builds it)';
      return;
    }
    while (Date.now() - started < (SECONDS - 5) * 1000) {
      const r = await run(H3LOAD, ['load', '127.0.0.1', String(tls), '/static/1k.txt', '20', '2000']);
      try {
        const j = JSON.parse(r.out.trim().split('\n').pop());
        h3.batches++;
        h3.ok += Number(j.ok ?? j.completed ?? 0);
        h3.failed += Number(j.failed ?? j.errors ?? 0);
      } catch {
        h3.failed++;
        h3.error = r.out.slice(-300);
      }
    }
  })();

  const rss = [];
  const changes = [];
  const sampler = setInterval(() => rss.push({ t: (Date.now() - started) / 1000, mib: treeRssMiB(server.pid) }), 10_000);
  const changer = setInterval(() => {
    version++;
    writeApps();
    writeFileSync(configFile, config(dir, { tls, plain }, cert, upstream, version));
    process.kill(server.pid, 'SIGHUP');
    changes.push((Date.now() - started) / 1000);
  }, INTERVAL * 1000);
  const [wrk, h2] = await Promise.all(loads);
  clearInterval(changer);
  clearInterval(sampler);
  await h3loop;

  const w = parseWrk(wrk.out);
  const h2ok = Number(/(\d+) succeeded/.exec(h2.out)?.[1] ?? 0);
  const h2failed = Number(/(\d+) failed/.exec(h2.out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(h2.out)?.[1] ?? 0);
  const h2non2xx = (() => {
    const m = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(h2.out);
    return m ? Number(m[3]) + Number(m[4]) : 0;
  })();
  const warm = Math.max(60, SECONDS / 5);
  const afterWarm = rss.filter((s) => s.t >= warm);
  const base = afterWarm[0]?.mib ?? null;
  const last = rss[rss.length - 1]?.mib ?? null;
  const drift = base === null || last === null ? null : (last - base) / base;
  const alive = server.exitCode === null;
  await registry.stopAll();
  rmSync(dir, { recursive: true, force: true });

  const failed = (w.non2xx ?? 0) + (w.socketErrors ?? 0) + h2failed + h2non2xx + h3.failed;
  const report = {
    seconds: SECONDS, workers: WORKERS, changes: changes.length,
    h1: { requests: w.requests, non2xx: w.non2xx ?? 0, socketErrors: w.socketErrors ?? 0 },
    h2: { succeeded: h2ok, failed: h2failed, non2xx: h2non2xx },
    h3, rssMiB: rss, rssDrift: drift, serverAlive: alive,
    pass: alive && failed === 0 && drift !== null && drift < 0.1,
  };
  mkdirSync(join(BENCH, 'out'), { recursive: true });
  writeFileSync(join(BENCH, 'out', 'soak-latest.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`\n### Soak: ${SECONDS / 60} min, ${WORKERS} workers, ${changes.length} config reloads + app edits (every ${INTERVAL} s)\n`);
  console.log('| load | requests | failed |');
  console.log('|---|--:|--:|');
  console.log(`| wrk (HTTP/1.1) | ${w.requests} | ${(w.non2xx ?? 0) + (w.socketErrors ?? 0)} |`);
  console.log(`| h2load (HTTP/2) | ${h2ok + h2failed} | ${h2failed + h2non2xx} |`);
  console.log(`| h3load (HTTP/3) | ${h3.ok + h3.failed} | ${h3.failed}${h3.error ? ` (${h3.error.split('\n')[0]})` : ''} |`);
  console.log(`\nRSS (server process tree): ${base?.toFixed(0)} MiB after the ${warm} s warm-up, ${last?.toFixed(0)} MiB at the end: drift ${drift === null ? '–' : (drift * 100).toFixed(1) + '%'}.`);
  console.log(`Result: **${report.pass ? 'pass' : 'FAIL'}**${alive ? '' : ' (the server died: ' + serverErr.slice(-300) + ')'}`);
  process.exitCode = report.pass ? 0 : 1;
}

main().catch(async (err) => {
  console.error(err.stack ?? err);
  await registry.stopAll();
  process.exit(1);
});
