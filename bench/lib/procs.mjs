// Child processes of the bench: spawn pinned to a CPU, read CPU time of a process tree
// from /proc, and stop everything we started, by PID, also on Ctrl-C.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/<pid>/stat after the "(comm)" part; null when the process is gone. */
function statFields(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The PID and all its descendants (nginx master + worker; anomaly supervisor + workers). */
export function processTree(rootPid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(entry);
    if (f === null) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const out = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

/** Resident memory of a process tree, MiB (VmRSS of each process; a process gone meanwhile counts 0). */
export function treeRssMiB(rootPid) {
  let kib = 0;
  for (const pid of processTree(rootPid)) {
    try {
      kib += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {}
  }
  return kib / 1024;
}

/** user+sys CPU of each process of the tree, in clock ticks (threads included). */
export function cpuSnapshot(rootPid) {
  const snap = new Map();
  for (const pid of processTree(rootPid)) {
    const f = statFields(pid);
    if (f !== null) snap.set(pid, Number(f[11]) + Number(f[12]));
  }
  return snap;
}

/** CPU milliseconds used between two snapshots (a process born in between counts in full). */
export function cpuMsBetween(before, after) {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Busy/total jiffies of each CPU, from /proc/stat. */
export function coreSnapshot() {
  const cores = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3] + (v[4] ?? 0);
    cores[Number(m[1])] = { busy: total - idle, total };
  }
  return cores;
}

/** Percentage busy of each core between two snapshots. */
export function coreBusyPercent(before, after) {
  return after.map((a, i) => {
    const b = before[i];
    const total = a.total - b.total;
    return total > 0 ? Math.round((1000 * (a.busy - b.busy)) / total) / 10 : 0;
  });
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Keeps every child we start so that all of them can be stopped by PID. */
export class ProcessRegistry {
  #children = new Set();

  /**
   * Start `cmd args` pinned to `cpu` (taskset execs the command, so the PID is the command's).
   * stdio: [ignore, out, err] where out/err are fds or 'pipe' / 'ignore'.
   */
  spawn(cmd, args, { cpu, cwd, env, stdout = 'ignore', stderr = 'ignore' } = {}) {
    const pinned = cpu === undefined || cpu === null ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
    const child = spawn(pinned[0], pinned[1], { cwd, env: env ?? process.env, stdio: ['ignore', stdout, stderr] });
    child.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    this.#children.add(child);
    child.exited.then(() => this.#children.delete(child));
    return child;
  }

  /** SIGTERM the child and its descendants, then SIGKILL whatever is left after `graceMs`. */
  async stop(child, graceMs = 3000) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const tree = processTree(child.pid);
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
    const timer = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
    await Promise.race([child.exited, timer]);
    for (const pid of tree) {
      if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, 1000))]);
  }

  async stopAll() {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
  }

  /** Last resort on process exit: synchronous SIGKILL of every known tree. */
  killAllSync() {
    for (const child of this.#children) {
      if (child.pid === undefined) continue;
      for (const pid of processTree(child.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  }
}
