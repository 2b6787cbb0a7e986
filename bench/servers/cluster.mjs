// A reference server as N processes: `node cluster.mjs --workers N -- script.mjs [args]` forks N
// copies of the script with node:cluster, sharing its listening socket the way anomaly's workers
// do by default: round-robin (node's SCHED_RR, the primary hands each connection to a worker).
// `--accept kernel` gives SCHED_NONE, to compare with anomaly's `worker_accept: kernel`.
import cluster from 'node:cluster';

const sep = process.argv.indexOf('--');
const flags = process.argv.slice(2, sep < 0 ? undefined : sep);
const [script, ...args] = sep < 0 ? [] : process.argv.slice(sep + 1);
const n = Number(flags[flags.indexOf('--workers') + 1] ?? 2);
if (!script || !Number.isInteger(n) || n < 1) {
  console.error('usage: node cluster.mjs --workers N -- script.mjs [args...]');
  process.exit(2);
}
const accept = flags.includes('--accept') ? flags[flags.indexOf('--accept') + 1] : 'round-robin';
cluster.schedulingPolicy = accept === 'kernel' ? cluster.SCHED_NONE : cluster.SCHED_RR;
cluster.setupPrimary({ exec: script, args });
for (let i = 0; i < n; i++) cluster.fork();
let stopping = false;
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) console.error(`worker ${worker.process.pid} exited (${signal ?? code})`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 500).unref();
  });
}
