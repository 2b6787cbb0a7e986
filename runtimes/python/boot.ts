/**
 * Starting one pyodide interpreter, the same way in a worker thread (worker.ts) and on the main
 * thread (main.ts): from node_modules/pyodide with no network, from a memory snapshot when there is
 * one, with anomaly.py and the host glue imported, the app's folder and the wheels mounted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkerSetup } from './protocol.js';

export interface PyProxyLike {
  toJs(opts?: { depth?: number; create_pyproxies?: boolean }): unknown;
  destroy(): void;
  then?: unknown;
}
export type PyCallable = ((...args: unknown[]) => unknown) & { destroy(): void };
export interface Pyodide {
  runPython(code: string): unknown;
  pyimport(name: string): Record<string, PyCallable>;
  setInterruptBuffer(buf: Int32Array): void;
  mountNodeFS(emscriptenPath: string, hostPath: string): void;
  makeMemorySnapshot(): Uint8Array;
  FS: { mkdirTree(path: string): void; writeFile(path: string, data: string): void };
  _module: { HEAPU8: Uint8Array };
  /** pyodide's internals: fatal_error is what its finalizers call when a PyProxy cannot be released. */
  _api: { fatal_error(err: unknown): void };
}

export type BootSetup = Omit<WorkerSetup, 'control'>;

export interface Booted {
  readonly py: Pyodide;
  /** The memory snapshot made at this boot (setup.makeSnapshot), or null. */
  readonly snapshot: Uint8Array | null;
  readonly bootMs: number;
}

/** Boots an interpreter; print() and sys.stderr lines go to `out`. */
export async function bootPyodide(setup: BootSetup, out: (line: string) => void): Promise<Booted> {
  const started = performance.now();
  const { loadPyodide } = (await import(pathToFileURL(join(setup.indexURL, 'pyodide.mjs')).href)) as {
    loadPyodide(opts: Record<string, unknown>): Promise<Pyodide>;
  };
  const opts: Record<string, unknown> = { indexURL: setup.indexURL + '/', stdout: out, stderr: out };
  if (setup.snapshot !== null) opts._loadSnapshot = setup.snapshot;
  else if (setup.makeSnapshot) opts._makeSnapshot = true;
  const py = await loadPyodide(opts);
  opts._loadSnapshot = undefined; // restored into the heap: let the shared copy go
  py.FS.mkdirTree('/anomaly/lib');
  py.FS.writeFile('/anomaly/lib/anomaly.py', setup.anomalyPy);
  py.FS.writeFile('/anomaly/lib/host.py', setup.hostPy);
  // Imported before the snapshot so that later interpreters start with them loaded.
  py.runPython("import sys\nif '/anomaly/lib' not in sys.path: sys.path.insert(0, '/anomaly/lib')\nimport asyncio, json, inspect, traceback, urllib.parse, io, anomaly, host");
  let snapshot: Uint8Array | null = null;
  if (setup.makeSnapshot && setup.snapshot === null) {
    try {
      snapshot = py.makeMemorySnapshot();
    } catch {
      snapshot = null; // a private API: without it, later interpreters boot fully (slower, same behaviour)
    }
  }
  const paths: string[] = [];
  if (setup.appDir !== null && existsSync(setup.appDir)) {
    py.FS.mkdirTree('/app');
    py.mountNodeFS('/app', setup.appDir);
    paths.push('/app', '/app/site-packages');
  }
  setup.packages.forEach((p, i) => {
    const dir = `/anomaly/packages/${i}`;
    py.FS.mkdirTree(dir);
    const slash = p.lastIndexOf('/');
    py.mountNodeFS(dir, p.endsWith('.whl') ? p.slice(0, slash) : p);
    paths.push(p.endsWith('.whl') ? `${dir}/${p.slice(slash + 1)}` : dir);
  });
  if (paths.length > 0) {
    py.runPython(`import sys, os, glob\nfor p in ${JSON.stringify(paths)}:\n    if os.path.exists(p) and p not in sys.path: sys.path.append(p)\nfor w in sorted(glob.glob('/app/wheels/*.whl')):\n    sys.path.append(w)`);
  }
  return { py, snapshot, bootMs: performance.now() - started };
}

/** A failure list of the glue ([0, kind, message, line]) as [kind, message, line]. */
export function failureOf(x: unknown): [string, string, number] {
  const a = x as unknown[];
  return [String(a[1]), String(a[2]), Number(a[3])];
}

/** The glue's answer as plain JS: the answer string as is, or a list with bytes copied out. */
export function plain(result: unknown): unknown {
  if (typeof result === 'string') return result;
  const proxy = result as PyProxyLike;
  try {
    return proxy.toJs({ depth: 2 });
  } finally {
    proxy.destroy();
  }
}
