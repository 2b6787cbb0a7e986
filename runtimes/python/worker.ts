/**
 * One Python interpreter (pyodide) in a worker thread. It hosts the instances (app versions) the main
 * thread places here, runs their calls, and answers with tuples (protocol.ts).
 *
 * Memory guard: WebAssembly.Memory.prototype.grow is wrapped before pyodide loads, so the WASM heap
 * cannot grow past (heap after boot + the instance's memory limit): malloc then fails and Python raises
 * MemoryError inside the call, which is reported as kind "memory".
 * Deadline: the main thread writes SIGINT into the interrupt buffer (Python code stops with
 * KeyboardInterrupt within milliseconds), posts "cancel" for async handlers, and terminates this worker
 * when neither works (time.sleep, a long C call).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CTRL_INTERRUPT, CTRL_RUNNING, type FromWorker, type ToWorker, type WorkerSetup } from './protocol.js';

interface PyProxyLike {
  toJs(opts?: { depth?: number; create_pyproxies?: boolean }): unknown;
  destroy(): void;
  then?: unknown;
}
type PyCallable = ((...args: unknown[]) => unknown) & { destroy(): void };
interface Pyodide {
  runPython(code: string): unknown;
  pyimport(name: string): Record<string, PyCallable>;
  setInterruptBuffer(buf: Int32Array): void;
  mountNodeFS(emscriptenPath: string, hostPath: string): void;
  makeMemorySnapshot(): Uint8Array;
  FS: { mkdirTree(path: string): void; writeFile(path: string, data: string): void };
  _module: { HEAPU8: Uint8Array };
}

const setup = workerData as WorkerSetup;
const port = parentPort!;
const control = new Int32Array(setup.control);

// ---- memory guard ------------------------------------------------------------------------------------
let heapCap = Infinity;
let refusedGrow = false;
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
// The build's lib has no WebAssembly value types; the runtime has them.
const memoryProto = (globalThis as unknown as { WebAssembly: { Memory: { prototype: WasmMemory } } }).WebAssembly.Memory.prototype;
const nativeGrow = memoryProto.grow;
memoryProto.grow = function grow(this: WasmMemory, pages: number): number {
  if (this.buffer.byteLength + pages * 65536 > heapCap) {
    refusedGrow = true;
    throw new RangeError('anomaly: memory limit reached');
  }
  return nativeGrow.call(this, pages);
};

function send(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer ?? []);
}

async function boot(): Promise<Pyodide> {
  const started = performance.now();
  const { loadPyodide } = (await import(pathToFileURL(join(setup.indexURL, 'pyodide.mjs')).href)) as {
    loadPyodide(opts: Record<string, unknown>): Promise<Pyodide>;
  };
  // print() and sys.stderr lines go to the main thread, which writes them to the server's stderr.
  const out = (line: string): void => send(['print', line]);
  const opts: Record<string, unknown> = { indexURL: setup.indexURL + '/', stdout: out, stderr: out };
  if (setup.snapshot !== null) opts._loadSnapshot = setup.snapshot;
  else if (setup.makeSnapshot) opts._makeSnapshot = true;
  const py = await loadPyodide(opts);
  opts._loadSnapshot = undefined; // restored into the heap: let the shared copy go
  py.FS.mkdirTree('/anomaly/lib');
  py.FS.writeFile('/anomaly/lib/anomaly.py', setup.anomalyPy);
  py.FS.writeFile('/anomaly/lib/host.py', setup.hostPy);
  // Imported before the snapshot so that later workers start with them loaded.
  py.runPython("import sys\nif '/anomaly/lib' not in sys.path: sys.path.insert(0, '/anomaly/lib')\nimport asyncio, json, inspect, traceback, urllib.parse, io, anomaly, host");
  let snapshot: Uint8Array | null = null;
  if (setup.makeSnapshot && setup.snapshot === null) {
    try {
      snapshot = py.makeMemorySnapshot();
    } catch {
      snapshot = null; // a private API: without it, later workers boot fully (slower, same behaviour)
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
  py.setInterruptBuffer(control);
  send(['ready', snapshot, performance.now() - started], snapshot === null ? [] : [snapshot.buffer as ArrayBuffer]);
  return py;
}

function failureOf(x: unknown): [string, string, number] {
  const a = x as unknown[];
  return [String(a[1]), String(a[2]), Number(a[3])];
}

function reply(callId: number, result: unknown): void {
  if (typeof result === 'string') {
    send(['text', callId, result]);
    return;
  }
  const a = result as [number, unknown, unknown, unknown];
  if (a[0] === 0) {
    const [kind, message, line] = failureOf(a);
    send(['fail', callId, refusedGrow && kind === 'exception' ? 'memory' : kind, message, line]);
    return;
  }
  const body = a[2];
  // Transfer only a buffer the array owns whole (never a view into the interpreter's memory).
  if (body instanceof Uint8Array) send(['done', callId, a[0], a[1] as string, body], body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && !(body.buffer instanceof SharedArrayBuffer) ? [body.buffer as ArrayBuffer] : []);
  else send(['done', callId, a[0], a[1] as string, (body as string | null | undefined) ?? null]);
}

/** The glue's answer as plain JS: the answer string as is, or a list [status, headers, body] with bytes copied out. */
function plain(result: unknown): unknown {
  if (typeof result === 'string') return result;
  const proxy = result as PyProxyLike;
  try {
    return proxy.toJs({ depth: 2 });
  } finally {
    proxy.destroy();
  }
}

async function main(): Promise<void> {
  let py: Pyodide;
  try {
    py = await boot();
  } catch (err) {
    send(['boot-failed', err instanceof Error ? err.stack ?? err.message : String(err)]);
    return;
  }
  const host = py.pyimport('host');
  const hLoad = host.load;
  const hUnload = host.unload;
  const hCall = host.call;
  const hCancel = host.cancel;
  const baseline = py._module.HEAPU8.length;

  port.on('message', (msg: ToWorker) => {
    switch (msg[0]) {
      case 'call': {
        const [, callId, inst, frame, body] = msg;
        Atomics.store(control, CTRL_INTERRUPT, 0);
        Atomics.store(control, CTRL_RUNNING, callId);
        refusedGrow = false;
        let result: unknown;
        try {
          result = hCall(inst, callId, frame, body ?? undefined); // undefined is None in Python
        } catch (err) {
          // The glue catches guest exceptions; reaching here means pyodide itself failed (e.g. a fatal error).
          send(['fail', callId, refusedGrow ? 'memory' : 'exception', `python: ${(err as Error).message}`, 0]);
          // After a fatal error the interpreter cannot be trusted: end this thread (the main side sees it exit).
          if ((err as { pyodide_fatal_error?: boolean }).pyodide_fatal_error === true) process.exit(1);
          return;
        } finally {
          Atomics.store(control, CTRL_RUNNING, 0);
        }
        const proxy = result as PyProxyLike;
        if (typeof proxy.then === 'function') {
          (proxy as unknown as Promise<unknown>).then(
            (value) => reply(callId, plain(value)),
            (err: unknown) => send(['fail', callId, 'exception', `python: ${(err as Error).message}`, 0]),
          ).finally(() => proxy.destroy());
        } else {
          reply(callId, plain(result));
        }
        break;
      }
      case 'load': {
        const [, reqId, inst, file, code, memoryBytes, maxResponse] = msg;
        heapCap = baseline + memoryBytes;
        Atomics.store(control, CTRL_INTERRUPT, 0);
        Atomics.store(control, CTRL_RUNNING, reqId);
        let res: unknown;
        try {
          res = hLoad(inst, file, code, maxResponse);
        } finally {
          Atomics.store(control, CTRL_RUNNING, 0);
        }
        send(['loaded', reqId, res === undefined || res === null ? null : failureOf(plain(res))]);
        break;
      }
      case 'unload':
        hUnload(msg[1]);
        break;
      case 'cancel':
        hCancel(msg[1]);
        break;
    }
  });
}

void main();
