/**
 * One Python interpreter (pyodide) in a worker thread. It hosts the instances (app versions) the main
 * thread places here, runs their calls, and answers with tuples (protocol.ts).
 *
 * Memory guard (memory-guard.ts): the WASM heap cannot grow past (heap after boot + the instance's
 * memory limit): malloc then fails and Python raises MemoryError inside the call, reported as kind "memory".
 * This is the fallback path when the main thread cannot run Python under the native watchdog (main.ts).
 * Deadline: the main thread writes SIGINT into the interrupt buffer (Python code stops with
 * KeyboardInterrupt within milliseconds), posts "cancel" for async handlers, and terminates this worker
 * when neither works (time.sleep, a long C call).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bootPyodide, failureOf, plain, type Pyodide, type PyProxyLike } from './boot.js';
import { guardHeap, type HeapGuard } from './memory-guard.js';
import { CTRL_INTERRUPT, CTRL_RUNNING, type FromWorker, type ToWorker, type WorkerSetup } from './protocol.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const control = new Int32Array(setup.control);

function send(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer ?? []);
}

async function boot(): Promise<Pyodide> {
  // print() and sys.stderr lines go to the main thread, which writes them to the server's stderr.
  const { py, snapshot, bootMs } = await bootPyodide(setup, (line) => send(['print', line]));
  py.setInterruptBuffer(control);
  send(['ready', snapshot, bootMs], snapshot === null ? [] : [snapshot.buffer as ArrayBuffer]);
  return py;
}

let guard: HeapGuard | null = null;

function reply(callId: number, result: unknown): void {
  if (typeof result === 'string') {
    send(['text', callId, result]);
    return;
  }
  const a = result as [number, unknown, unknown, unknown];
  if (a[0] === 0) {
    const [kind, message, line] = failureOf(a);
    send(['fail', callId, guard?.refused === true && kind === 'exception' ? 'memory' : kind, message, line]);
    return;
  }
  const body = a[2];
  // Transfer only a buffer the array owns whole (never a view into the interpreter's memory).
  if (body instanceof Uint8Array) send(['done', callId, a[0], a[1] as string, body], body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && !(body.buffer instanceof SharedArrayBuffer) ? [body.buffer as ArrayBuffer] : []);
  else send(['done', callId, a[0], a[1] as string, (body as string | null | undefined) ?? null]);
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
  const heap = guardHeap(() => py._module.HEAPU8);
  guard = heap;

  port.on('message', (msg: ToWorker) => {
    switch (msg[0]) {
      case 'call': {
        const [, callId, inst, frame, body] = msg;
        Atomics.store(control, CTRL_INTERRUPT, 0);
        Atomics.store(control, CTRL_RUNNING, callId);
        heap.refused = false;
        let result: unknown;
        try {
          result = hCall(inst, callId, frame, body ?? undefined); // undefined is None in Python
        } catch (err) {
          // The glue catches guest exceptions; reaching here means pyodide itself failed (e.g. a fatal error).
          send(['fail', callId, heap.refused ? 'memory' : 'exception', `python: ${(err as Error).message}`, 0]);
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
        heap.cap = baseline + memoryBytes;
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
