// Load generators: wrk (HTTP/1.1, plain or TLS) and h2load (HTTP/2, TLS or h2c),
// run pinned to the client CPU; their text output parsed into numbers.
import { cpuSnapshot, cpuMsBetween } from './procs.mjs';

/** Milliseconds from wrk's "1.23ms" / "850.00us" / "1.02s". */
function wrkTimeMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (m === null) return null;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function parseWrk(out) {
  const requests = /(\d+) requests in ([\d.]+)(\w+)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (requests === null || rps === null) throw new Error(`cannot parse wrk output:\n${out.slice(-800)}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m === null ? null : wrkTimeMs(m[1]);
  };
  return {
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0),
    p50Ms: pct(50),
    p99Ms: pct(99),
  };
}

export function parseH2load(out) {
  const fin = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (fin === null || reqs === null) throw new Error(`cannot parse h2load output:\n${out.slice(-800)}`);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const timeForRequest = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  const cipher = /Cipher: (\S+)/.exec(out);
  const proto = /Application protocol: (\S+)/.exec(out);
  return {
    requests: Number(reqs[3]),
    rps: Number(fin[1]),
    non2xx: codes === null ? 0 : Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    socketErrors: Number(reqs[5]) + Number(reqs[6]) + Number(reqs[7]),
    p50Ms: null,
    meanMs: timeForRequest === null ? null : wrkTimeMs(timeForRequest[3]),
    p99Ms: null,
    cipher: cipher?.[1],
    protocol: proto?.[1],
  };
}

/**
 * The command line of one load run. load: { tool: 'wrk'|'h2load', connections, threads, streams }.
 */
export function loadCommand(load, url, durationS) {
  if (load.tool === 'wrk') {
    return ['wrk', [`-t${load.threads}`, `-c${load.connections}`, `-d${durationS}s`, '--latency', '--timeout', '5s', url]];
  }
  // One TLS 1.3 suite for every server (nginx follows the client's order, Node its own).
  const tls = url.startsWith('https:') ? ['--tls13-ciphers=TLS_AES_128_GCM_SHA256'] : [];
  return ['h2load', [`-t${load.threads}`, `-c${load.connections}`, `-m${load.streams}`, '-D', String(durationS), ...tls, url]];
}

/** Run the load generator to completion on `cpu`; resolves the parsed result. */
export async function runLoad(registry, load, url, durationS, cpu) {
  const [cmd, args] = loadCommand(load, url, durationS);
  const child = registry.spawn(cmd, args, { cpu, stdout: 'pipe', stderr: 'pipe' });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const timer = setTimeout(() => registry.stop(child, 500), (durationS + 20) * 1000);
  // The client's own CPU share, sampled while it runs (it is gone once it exits):
  // near 100% means req/s is bounded by the load generator, not the server.
  const t0 = performance.now();
  const first = cpuSnapshot(child.pid);
  let last = { snap: first, t: t0 };
  const poll = setInterval(() => {
    const snap = cpuSnapshot(child.pid);
    if (snap.size > 0) last = { snap, t: performance.now() };
  }, 250);
  const { code, error } = await child.exited;
  clearTimeout(timer);
  clearInterval(poll);
  const clientCpuPct = last.t > t0 ? Math.round((cpuMsBetween(first, last.snap) / (last.t - t0)) * 1000) / 10 : null;
  if (error) throw new Error(`${cmd}: ${error.message}`);
  if (code !== 0) throw new Error(`${cmd} exited with ${code}:\n${out.slice(-800)}`);
  return { ...(load.tool === 'wrk' ? parseWrk(out) : parseH2load(out)), clientCpuPct };
}
