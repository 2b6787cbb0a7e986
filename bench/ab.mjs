// Interleaved A/B of two servers running side by side, for changes of a few percent on a noisy host.
//   node bench/ab.mjs --urls URL_A,URL_B [--rounds 12] [--duration 2] [--connections 50] -- CMD_A ... -- CMD_B ...
// Both servers start once and stay up, pinned to CPU 0; wrk on CPU 1 alternates between them in
// short runs (A then B, then B then A, ...). Each round gives both servers' CPU per request (from
// /proc, their whole process trees); the answer is the median of the per-round B/A ratios, which
// neighbours on a shared VM move far less than any single figure (bench/README.md, "Proxy").
// Example (the current build against a copy of an older one, each with its own port in its config):
//   node bench/ab.mjs --urls http://127.0.0.1:8080/hello,http://127.0.0.1:8081/hello \
//     -- node /tmp/old/bin/anomaly.js serve a.yaml -- node bin/anomaly.js serve b.yaml
import { parseArgs } from 'node:util';
import { runLoad } from './lib/load.mjs';
import { waitReady } from './lib/net.mjs';
import { ProcessRegistry, cpuMsBetween, cpuSnapshot } from './lib/procs.mjs';

const SERVER_CPU = 0;
const CLIENT_CPU = 1;

const argv = process.argv.slice(2);
const first = argv.indexOf('--');
const second = first === -1 ? -1 : argv.indexOf('--', first + 1);
if (first === -1 || second === -1) {
  console.error('usage: node bench/ab.mjs --urls URL_A,URL_B [--rounds N] [--duration S] [--connections C] -- CMD_A ... -- CMD_B ...');
  process.exit(2);
}
const { values: opts } = parseArgs({
  args: argv.slice(0, first),
  options: {
    urls: { type: 'string' },
    rounds: { type: 'string', default: '12' },
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
});
const urls = (opts.urls ?? '').split(',');
if (urls.length !== 2) {
  console.error('--urls needs two URLs, A then B');
  process.exit(2);
}
const commands = [argv.slice(first + 1, second), argv.slice(second + 1)];
const rounds = Number(opts.rounds);
const duration = Number(opts.duration);
const load = { tool: 'wrk', threads: 1, connections: Number(opts.connections) };

const registry = new ProcessRegistry();
process.on('SIGINT', () => {
  registry.killAllSync();
  process.exit(130);
});

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

try {
  const servers = commands.map(([cmd, ...args]) => registry.spawn(cmd, args, { cpu: SERVER_CPU, stderr: 'inherit' }));
  for (let i = 0; i < 2; i++) {
    const url = new URL(urls[i]);
    await waitReady({ transport: url.protocol === 'https:' ? 'h1s' : 'h1', port: Number(url.port), path: url.pathname, timeoutMs: 15_000, exited: servers[i].exited });
    await runLoad(registry, load, urls[i], 2, CLIENT_CPU); // warm-up
  }
  const us = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const before = cpuSnapshot(servers[i].pid);
      const run = await runLoad(registry, load, urls[i], duration, CLIENT_CPU);
      const cpuMs = cpuMsBetween(before, cpuSnapshot(servers[i].pid));
      us[i].push((cpuMs * 1000) / run.requests);
    }
    console.log(`round ${r + 1}: A ${us[0][r].toFixed(2)} µs/req  B ${us[1][r].toFixed(2)} µs/req  B/A ${(us[1][r] / us[0][r]).toFixed(3)}`);
  }
  const ratios = us[0].map((a, r) => us[1][r] / a);
  console.log(`A median ${median(us[0]).toFixed(2)} µs/req, B median ${median(us[1]).toFixed(2)} µs/req`);
  console.log(`B/A: median of per-round ratios ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})`);
} finally {
  await registry.stopAll();
}
