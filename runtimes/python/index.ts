/**
 * Python apps (app.py) on pyodide (CPython compiled to WASM).
 *
 * Two ways to run them (runtimes/python/README.md has the measurements):
 *   - main thread (the default where native/watchdog builds): one interpreter per app on the server's
 *     own thread, each call under the native watchdog (main.ts): no thread hop, ≈85 µs less per
 *     request than a worker (hello over HTTP). A runaway call blocks the server until its deadline
 *     + 100 ms.
 *   - worker threads (the fallback, or ANOMALY_PYTHON_WATCHDOG=0 / `thread: 'worker'`): one
 *     interpreter per worker (pool.ts, worker.ts); the instances of a pool run in parallel.
 *
 * Placement: interpreters belong to an app (its file); an instance is one load of the app's source into
 * an interpreter (its own module). A worker hosts at most one instance per source text, so the
 * `instances` of a pool land on different workers (parallel); on the main thread there is no
 * parallelism to gain, so every instance of the app shares its one interpreter. A hot reload (new
 * text) lands on the interpreters of the old version: a reload costs an exec of app.py, not a new
 * interpreter.
 * Boot: the process's first interpreter boots fully (1.5–5 s) and hands back a memory snapshot; the
 * following ones start from it (≈0.2–0.5 s).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestError, type AppInstance, type AppSource, type Runtime, type RuntimeLimits } from '../contract.js';
import type { BootSetup } from './boot.js';
import type { PyHost } from './hosts.js';
import { MainInterpreter } from './main.js';
import { newId, PythonInstance, type Placement } from './instance.js';
import { MIN_LOAD_DEADLINE_MS, PyWorker } from './pool.js';
import { SnapshotCache } from './snapshot-cache.js';
import { loadWatchdog, type Watchdog } from './watchdog.js';

export interface PythonRuntimeOptions {
  /** Which interpreters an app may share: by default each app file has its own. */
  readonly group?: (file: string) => string;
  /** Wheels (.whl) and package folders every app sees; default: the wheels in runtimes/python/wheels/. */
  readonly packages?: readonly string[];
  /** How long an interpreter with no instances is kept for a next load (ms). */
  readonly idleMs?: number;
  /** The least time the top level of app.py may run at load (default 10 s: framework imports are slow). */
  readonly minLoadDeadlineMs?: number;
  /** Keep the boot snapshot in <tmp>/anomaly-pyodide-<user>/ for the next process (default true). */
  readonly snapshotCache?: boolean;
  /** Where the apps' print() lines go; default: the server's stderr, prefixed with the app's file. */
  readonly print?: (line: string, app: string) => void;
  /**
   * Where calls run: 'main' (the server's thread, under native/watchdog) or 'worker' (worker threads).
   * Default: 'main' when the watchdog builds and ANOMALY_PYTHON_WATCHDOG is not 0, else 'worker'.
   */
  readonly thread?: 'main' | 'worker';
  /** The engine's own notices (why it runs in workers); default: the server's stderr. */
  readonly notice?: (line: string) => void;
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

type Mode = { readonly thread: 'main'; readonly watchdog: Watchdog } | { readonly thread: 'worker' };

/** Main thread when the watchdog is there (measured: ≈85 µs less per request), else workers, said once. */
async function chooseMode(options: PythonRuntimeOptions, notice: (line: string) => void): Promise<Mode> {
  if (options.thread === 'worker') return { thread: 'worker' };
  const watchdog = await loadWatchdog();
  if (typeof watchdog !== 'string') return { thread: 'main', watchdog };
  notice(`python: apps run in worker threads, not on the main thread (≈85 µs more per request): native/watchdog is not available: ${watchdog}`);
  return { thread: 'worker' };
}

export function pythonRuntime(options: PythonRuntimeOptions = {}): Runtime {
  const groupOf = options.group ?? ((file: string) => file);
  const idleMs = options.idleMs ?? 2_000;
  const minLoadMs = options.minLoadDeadlineMs ?? MIN_LOAD_DEADLINE_MS;
  const print = options.print ?? ((line: string, app: string) => void process.stderr.write(`[${app}] ${line}\n`));
  const notice = options.notice ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const script = new URL('./worker.js', import.meta.url);
  let mode: Promise<Mode> | null = null;
  const groups = new Map<string, Set<PyHost>>();
  /** Main thread: the interpreter an app's instances are waiting for (one per app). */
  const booting = new Map<string, Promise<PyHost>>();
  let sources: { anomalyPy: string; hostPy: string; indexURL: string; packages: readonly string[] } | null = null;
  let cache: SnapshotCache | null = null;
  /** The memory snapshot made by the first interpreter; null when snapshots do not work here. */
  let snapshot: Promise<Uint8Array | null> | null = null;

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
    if (options.snapshotCache !== false) cache = new SnapshotCache(version, [sources.anomalyPy, sources.hostPy, readFileSync(join(here, 'boot.js'), 'utf8')]);
    return sources;
  };

  const forget = (key: string, h: PyHost): void => {
    const g = groups.get(key);
    if (g === undefined) return;
    g.delete(h);
    if (g.size === 0) groups.delete(key);
  };

  /** One shared copy of the snapshot for every worker (workerData would otherwise clone 30 MB each). */
  const shared = (snap: Uint8Array): Uint8Array => {
    if (snap.buffer instanceof SharedArrayBuffer) return snap;
    const view = new Uint8Array(new SharedArrayBuffer(snap.byteLength));
    view.set(snap);
    return view;
  };

  /** Starts an interpreter: the process's first makes the snapshot, later ones start from it. */
  const spawn = async (m: Mode, key: string, appDir: string | null): Promise<PyHost> => {
    const make = (snap: Uint8Array | null, makeSnapshot: boolean): PyHost => {
      const setup: BootSetup = { ...loadSources(), snapshot: snap, makeSnapshot, appDir };
      const onExit = (dead: PyHost): void => forget(key, dead);
      const onPrint = (line: string): void => print(line, key);
      return m.thread === 'main' ? new MainInterpreter(m.watchdog, setup, onExit, onPrint) : new PyWorker(script, setup, onExit, onPrint);
    };
    loadSources();
    let fromDisk = false;
    if (snapshot === null) {
      const cached = cache?.read() ?? null;
      if (cached !== null) {
        snapshot = Promise.resolve(shared(cached));
        fromDisk = true;
      } else {
        const h = make(null, true);
        snapshot = h.ready.then((r) => {
          if (r.snapshot === null) return null;
          void cache?.write(r.snapshot);
          return shared(r.snapshot);
        }, () => null);
        return h;
      }
    }
    const snap = await snapshot;
    const h = make(snap, false);
    if (snap === null) return h;
    try {
      await h.ready;
      return h;
    } catch {
      // The snapshot does not start here (a private pyodide API, or a stale file): boot fully from now on.
      if (fromDisk) cache?.drop();
      snapshot = Promise.resolve(null);
      return make(null, false);
    }
  };

  const release = (key: string) => (h: PyHost): void => {
    if (h.instances.size > 0 || h.dead) return;
    if (h.tainted) {
      h.terminate('memory limit reached earlier');
      return;
    }
    if (h.idleTimer !== null) clearTimeout(h.idleTimer);
    h.idleTimer = setTimeout(() => {
      h.idleTimer = null;
      if (h.instances.size === 0) {
        forget(key, h);
        h.terminate('idle');
      }
    }, idleMs);
    h.idleTimer.unref();
  };

  /**
   * An interpreter of the app's group for this instance, or a new one. Workers: one that does not run
   * this source yet (the least loaded). Main thread: the app's one interpreter, whatever it runs.
   */
  const place = (m: Mode, key: string, code: string, appDir: string | null, inst: number): Promise<PyHost> => {
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = new Set()));
    let best: PyHost | null = null;
    for (const h of group) {
      if (h.dead || h.tainted) continue;
      if (m.thread === 'worker' && [...h.instances.values()].includes(code)) continue;
      if (best === null || h.instances.size < best.instances.size) best = h;
    }
    if (best !== null) {
      if (best.idleTimer !== null) clearTimeout(best.idleTimer);
      best.idleTimer = null;
      best.instances.set(inst, code);
      return Promise.resolve(best);
    }
    const adopt = (h: PyHost): PyHost => {
      group!.add(h);
      h.instances.set(inst, code);
      return h;
    };
    if (m.thread === 'worker') return spawn(m, key, appDir).then(adopt); // concurrent loads get different workers
    // Main thread: the loads arriving while the app's interpreter boots wait for that one.
    let pending = booting.get(key);
    if (pending === undefined) {
      pending = spawn(m, key, appDir);
      booting.set(key, pending);
      const done = (): void => void (booting.get(key) === pending && booting.delete(key));
      pending.then(done, done);
    }
    return pending.then(adopt);
  };

  /** Places and loads one instance of the source: an interpreter of its app's group, then the module in it. */
  const loadOne = async (source: AppSource, limits: RuntimeLimits): Promise<Placement> => {
    mode ??= chooseMode(options, notice);
    const m = await mode;
    const key = groupOf(source.file);
    const appDir = dirname(source.file); // mounted only when it exists on this machine
    const inst = newId();
    let host: PyHost;
    try {
      host = await place(m, key, source.code, appDir, inst);
      await host.ready;
    } catch (err) {
      throw new GuestError('load', `python: ${err instanceof Error ? err.message : String(err)}`, { file: source.file }, { cause: err });
    }
    const rel = release(key);
    let failure;
    try {
      failure = await host.load(newId(), inst, source.file, source.code, limits.memoryBytes, limits.maxResponseBytes, Math.max(limits.deadlineMs, minLoadMs));
    } catch (err) {
      host.instances.delete(inst);
      rel(host);
      const e = err instanceof GuestError ? err : null;
      throw new GuestError('load', `${source.file}: ${e?.message ?? String(err)}`, { file: source.file, line: e?.line ?? null }, { cause: err });
    }
    if (failure !== null) {
      host.unload(inst);
      rel(host);
      const [, message, line] = failure;
      throw new GuestError('load', message, { file: source.file, line: line || null });
    }
    return { host, id: inst, release: rel };
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
