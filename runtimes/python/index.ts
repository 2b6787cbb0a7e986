/**
 * Python apps (app.py) on pyodide (CPython compiled to WASM), one interpreter per worker thread.
 *
 * Why worker threads and not the main thread with a watchdog: a Python call on the main thread blocks
 * the event loop, and nothing on the main thread can stop time.sleep or a long C call
 * (sum(range(10**10))); only Worker.terminate() can. Measured (bench/micro/python-call.mjs): a call on
 * the main thread ≈15–20 µs, through a worker ≈35–60 µs one at a time — the price of a server that keeps
 * serving while a handler runs away. See runtimes/python/README.md for the figures.
 *
 * Placement: workers belong to an app (its file); an instance is one load of the app's source into a
 * worker's interpreter (its own module). Each worker hosts at most one instance per source text, so the
 * `instances` of a pool land on different workers (parallel), and a hot reload (new text) lands on the
 * same workers as the old version: a reload costs an exec of app.py, not a new interpreter.
 * Boot: the first worker of the process boots fully (1.5–5 s) and hands back a memory snapshot; the
 * following ones start from it (≈0.5 s).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { GuestError, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits, type RuntimeStats } from '../contract.js';
import { bodyForWorker, encodeFrame } from './marshal.js';
import { MIN_LOAD_DEADLINE_MS, PyWorker } from './pool.js';
import type { WorkerSetup } from './protocol.js';
import { SnapshotCache } from './snapshot-cache.js';

export interface PythonRuntimeOptions {
  /** Which workers an app may share: by default each app file has its own. */
  readonly group?: (file: string) => string;
  /** Wheels (.whl) and package folders every app sees; default: the wheels in runtimes/python/wheels/. */
  readonly packages?: readonly string[];
  /** How long a worker with no instances is kept for a next load (ms). */
  readonly idleMs?: number;
  /** The least time the top level of app.py may run at load (default 10 s: framework imports are slow). */
  readonly minLoadDeadlineMs?: number;
  /** Keep the boot snapshot in <tmp>/anomaly-pyodide-<user>/ for the next process (default true). */
  readonly snapshotCache?: boolean;
  /** Where the apps' print() lines go; default: the server's stderr, prefixed with the app's file. */
  readonly print?: (line: string, app: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));

/** A file of the source tree, from runtimes/python (tsx) or dist/runtimes/python (the build). */
function repoFile(...parts: string[]): string {
  for (const up of ['../..', '../../..']) {
    const candidate = join(here, up, ...parts);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${parts.join('/')} not found above ${here}`);
}

/** The wheels fetched at install time (scripts/python-wheels.mjs). */
export function bundledWheels(): string[] {
  let dir: string;
  try {
    dir = repoFile('runtimes', 'python', 'wheels');
  } catch {
    return [];
  }
  return readdirSync(dir).filter((f) => f.endsWith('.whl')).sort().map((f) => join(dir, f));
}

function newStats(): RuntimeStats {
  return { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
}

let nextId = 1;

/** Where one loaded instance lives: its worker, its id there, and how to hand the worker back. */
interface Placement {
  readonly worker: PyWorker;
  readonly id: number;
  readonly release: (w: PyWorker) => void;
}

class PythonInstance implements AppInstance {
  readonly stats: RuntimeStats = newStats();
  #at: Placement;
  #broken = false;
  #disposed = false;

  constructor(
    at: Placement,
    private readonly file: string,
    private readonly limits: RuntimeLimits,
    /** Loads the same source again on a live worker (when this one's worker was stopped under it). */
    private readonly relocate: () => Promise<Placement>,
  ) {
    this.#at = at;
  }

  get broken(): boolean {
    return this.#broken;
  }

  /**
   * A worker can stop under an idle instance (another instance on it ran away, during a reload's
   * overlap): the instance then loads itself on a live worker before serving, instead of failing.
   */
  async #live(): Promise<Placement> {
    if (!this.#at.worker.dead) return this.#at;
    this.#at = await this.relocate();
    return this.#at;
  }

  async handle(req: GuestRequest): Promise<GuestResponse> {
    if (this.#disposed) throw new GuestError('exception', 'instance disposed', { file: this.file });
    const started = performance.now();
    this.stats.calls++;
    try {
      const at = await this.#live();
      const res = await at.worker.call(nextId++, at.id, this.file, encodeFrame(req), bodyForWorker(req.body), this.limits.deadlineMs);
      if (typeof res.body === 'string' && res.body.length * 3 > this.limits.maxResponseBytes) {
        const bytes = Buffer.byteLength(res.body);
        if (bytes > this.limits.maxResponseBytes) {
          throw new GuestError('response', `response body of ${bytes} bytes exceeds ${this.limits.maxResponseBytes}`, { file: this.file });
        }
      }
      return res;
    } catch (err) {
      this.stats.errors++;
      if (err instanceof GuestError) {
        if (err.kind === 'deadline') this.stats.deadlines++;
        // After a deadline or memory failure the app's state may be half-updated: the pool replaces it.
        if (err.kind === 'deadline' || err.kind === 'memory') this.#broken = true;
      }
      throw err;
    } finally {
      this.stats.totalMs += performance.now() - started;
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#at.worker.unload(this.#at.id);
    this.#at.release(this.#at.worker);
  }
}

export function pythonRuntime(options: PythonRuntimeOptions = {}): Runtime {
  const groupOf = options.group ?? ((file: string) => file);
  const idleMs = options.idleMs ?? 2_000;
  const minLoadMs = options.minLoadDeadlineMs ?? MIN_LOAD_DEADLINE_MS;
  const print = options.print ?? ((line: string, app: string) => void process.stderr.write(`[${app}] ${line}\n`));
  const script = new URL('./worker.js', import.meta.url);
  const groups = new Map<string, Set<PyWorker>>();
  let sources: { anomalyPy: string; hostPy: string; indexURL: string; packages: readonly string[] } | null = null;
  let cache: SnapshotCache | null = null;
  /** The memory snapshot made by the first worker; null when snapshots do not work here. */
  let snapshot: Promise<Uint8Array | null> | null = null;

  const setupFor = (appDir: string | null, snap: Uint8Array | null, makeSnapshot: boolean): Omit<WorkerSetup, 'control'> => {
    return { ...loadSources(), snapshot: snap, makeSnapshot, appDir };
  };

  const loadSources = (): NonNullable<typeof sources> => {
    if (sources !== null) return sources;
    const indexURL = dirname(createRequire(import.meta.url).resolve('pyodide/pyodide.mjs'));
    sources = {
      anomalyPy: readFileSync(repoFile('bindings', 'python', 'anomaly.py'), 'utf8'),
      hostPy: readFileSync(repoFile('runtimes', 'python', 'host.py'), 'utf8'),
      indexURL,
      packages: options.packages ?? bundledWheels(),
    };
    const version = (JSON.parse(readFileSync(join(indexURL, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
    if (options.snapshotCache !== false) cache = new SnapshotCache(version, [sources.anomalyPy, sources.hostPy, readFileSync(join(here, 'worker.js'), 'utf8')]);
    return sources;
  };

  const forget = (key: string, w: PyWorker): void => {
    const g = groups.get(key);
    if (g === undefined) return;
    g.delete(w);
    if (g.size === 0) groups.delete(key);
  };

  /** Starts a worker: the process's first makes the snapshot, later ones start from it. */
  /** One shared copy of the snapshot for every worker (workerData would otherwise clone 30 MB each). */
  const shared = (snap: Uint8Array): Uint8Array => {
    if (snap.buffer instanceof SharedArrayBuffer) return snap;
    const view = new Uint8Array(new SharedArrayBuffer(snap.byteLength));
    view.set(snap);
    return view;
  };

  const spawn = async (key: string, appDir: string | null): Promise<PyWorker> => {
    const make = (snap: Uint8Array | null, makeSnapshot: boolean): PyWorker =>
      new PyWorker(script, setupFor(appDir, snap, makeSnapshot), (dead) => forget(key, dead), (line) => print(line, key));
    loadSources();
    let fromDisk = false;
    if (snapshot === null) {
      const cached = cache?.read() ?? null;
      if (cached !== null) {
        snapshot = Promise.resolve(shared(cached));
        fromDisk = true;
      } else {
        const w = make(null, true);
        snapshot = w.ready.then((r) => {
          if (r.snapshot === null) return null;
          void cache?.write(r.snapshot);
          return shared(r.snapshot);
        }, () => null);
        return w;
      }
    }
    const snap = await snapshot;
    const w = make(snap, false);
    if (snap === null) return w;
    try {
      await w.ready;
      return w;
    } catch {
      // The snapshot does not start here (a private pyodide API, or a stale file): boot fully from now on.
      if (fromDisk) cache?.drop();
      snapshot = Promise.resolve(null);
      return make(null, false);
    }
  };

  const release = (key: string) => (w: PyWorker): void => {
    if (w.instances.size > 0 || w.dead) return;
    if (w.tainted) {
      w.terminate('memory limit reached earlier');
      return;
    }
    if (w.idleTimer !== null) clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      w.idleTimer = null;
      if (w.instances.size === 0) {
        forget(key, w);
        w.terminate('idle');
      }
    }, idleMs);
    w.idleTimer.unref();
  };

  /** A worker of the app's group that does not run this source yet (the least loaded), or a new one. */
  const place = (key: string, code: string, appDir: string | null, inst: number): Promise<PyWorker> => {
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = new Set()));
    let best: PyWorker | null = null;
    for (const w of group) {
      if (w.dead || w.tainted) continue;
      if ([...w.instances.values()].includes(code)) continue;
      if (best === null || w.instances.size < best.instances.size) best = w;
    }
    if (best !== null) {
      if (best.idleTimer !== null) clearTimeout(best.idleTimer);
      best.idleTimer = null;
      best.instances.set(inst, code);
      return Promise.resolve(best);
    }
    // Reserve synchronously so that concurrent loads of one pool get different workers.
    const pending = spawn(key, appDir).then((w) => {
      group!.add(w);
      w.instances.set(inst, code);
      return w;
    });
    return pending;
  };

  /** Places and loads one instance of the source: a worker of its app's group, then the module in it. */
  const loadOne = async (source: AppSource, limits: RuntimeLimits): Promise<Placement> => {
    const key = groupOf(source.file);
    const appDir = dirname(source.file); // mounted only when it exists on this machine
    const inst = nextId++;
    let worker: PyWorker;
    try {
      worker = await place(key, source.code, appDir, inst);
      await worker.ready;
    } catch (err) {
      throw new GuestError('load', `python: ${err instanceof Error ? err.message : String(err)}`, { file: source.file }, { cause: err });
    }
    const rel = release(key);
    let failure;
    try {
      failure = await worker.load(nextId++, inst, source.file, source.code, limits.memoryBytes, limits.maxResponseBytes, Math.max(limits.deadlineMs, minLoadMs));
    } catch (err) {
      worker.instances.delete(inst);
      rel(worker);
      const e = err instanceof GuestError ? err : null;
      throw new GuestError('load', `${source.file}: ${e?.message ?? String(err)}`, { file: source.file, line: e?.line ?? null }, { cause: err });
    }
    if (failure !== null) {
      worker.unload(inst);
      rel(worker);
      const [, message, line] = failure;
      throw new GuestError('load', message, { file: source.file, line: line || null });
    }
    return { worker, id: inst, release: rel };
  };

  return {
    id: 'pyodide',
    extensions: ['.py'],
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      const at = await loadOne(source, limits);
      return new PythonInstance(at, source.file, limits, () => loadOne(source, limits));
    },
  };
}
