/**
 * One pyodide interpreter on the main thread, its calls under the native watchdog (watchdog.ts):
 * no thread hop per request (a call costs the glue, ≈15–35 µs, instead of ≈90 µs through a worker).
 *
 * A runaway call is stopped in two steps. At the deadline the watchdog's thread writes SIGINT into
 * the interrupt buffer: Python code stops with KeyboardInterrupt and the interpreter stays usable.
 * If the call still runs INTERRUPT_GRACE_MS later (time.sleep, a long C call such as
 * sum(range(10**10)), a handler swallowing KeyboardInterrupt), the watchdog terminates the JS
 * execution: the wasm stack is abandoned mid-call, so the interpreter is discarded (its calls fail,
 * its instances load again on a new one). The server is blocked for deadline + grace at most.
 *
 * Async handlers: the call returns a task; a timer cancels it at the deadline. Every later slice of
 * it (asyncio's callbacks, through host.use_main_thread) runs under the watchdog too, with the app's
 * deadline as its budget: a slice that never yields is stopped like a synchronous call.
 */
import { GuestError, type GuestResponse } from '../contract.js';
import { bootPyodide, failureOf, plain, type BootSetup, type PyCallable, type Pyodide, type PyProxyLike } from './boot.js';
import { directCaller, type DirectCall, type DirectCaller } from './direct.js';
import { PendingCalls, type BootResult, type PyHost } from './hosts.js';
import { bodyForCall, decodeAnswer, decodeHeaders } from './marshal.js';
import { guardHeap, type HeapGuard } from './memory-guard.js';
import type { Failure } from './protocol.js';
import { wasTerminated, type Watchdog } from './watchdog.js';

/** A trap inside wasm code (the build's lib has no WebAssembly types; the runtime has them). */
const WasmTrap = (globalThis as unknown as { WebAssembly: { RuntimeError: new () => Error } }).WebAssembly.RuntimeError;

/** The server is blocked meanwhile: short, but long enough for KeyboardInterrupt to unwind. */
const INTERRUPT_GRACE_MS = 100;
/** An async handler cancelled at its deadline that has still not settled this much later fails anyway. */
const CANCEL_GRACE_MS = 250;
const BOOT_TIMEOUT_MS = 60_000;

interface Glue {
  readonly load: PyCallable;
  readonly entry: PyCallable;
  readonly unload: PyCallable;
  readonly hold: PyCallable;
  readonly cancel: PyCallable;
}

interface Entry {
  /** Keeps the Python function alive; the call itself when the C API path is not available. */
  readonly proxy: PyCallable;
  readonly direct: DirectCall | null;
}

interface AsyncCall {
  resolve(v: GuestResponse): void;
  reject(e: GuestError): void;
  timer: NodeJS.Timeout | null;
  readonly file: string;
  readonly deadlineMs: number;
}

export class MainInterpreter implements PyHost {
  readonly ready: Promise<BootResult>;
  readonly instances = new Map<number, string>();
  tainted = false;
  idleTimer: NodeJS.Timeout | null = null;
  #dead = false;
  #glue: Glue | null = null;
  #rearm: PyCallable | null = null;
  #api: Pyodide['_api'] | null = null;
  #guard: HeapGuard | null = null;
  #baseline = 0;
  /** [0]: pyodide's interrupt buffer (the watchdog writes SIGINT); [1]: set by the watchdog when it fired. */
  readonly #interrupt = new Int32Array(new SharedArrayBuffer(8));
  readonly #pending = new PendingCalls<AsyncCall>();
  /** Instance id -> its bound call (host.entry) and, where pyodide allows, the direct way to make it. */
  readonly #entries = new Map<number, Entry>();
  #direct: DirectCaller | null = null;
  /** The budget of one slice of an async handler: the deadline of the latest call (the app's). */
  #sliceMs = 0;

  constructor(
    private readonly watchdog: Watchdog,
    setup: BootSetup,
    private readonly onExit: (h: MainInterpreter) => void,
    private readonly onPrint: (line: string) => void,
  ) {
    this.ready = this.#boot(setup);
    this.ready.catch(() => undefined);
  }

  get dead(): boolean {
    return this.#dead;
  }

  async #boot(setup: BootSetup): Promise<BootResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`python interpreter did not boot within ${BOOT_TIMEOUT_MS} ms`)), BOOT_TIMEOUT_MS);
      timer.unref();
    });
    try {
      const { py, snapshot, bootMs } = await Promise.race([bootPyodide(setup, (line) => this.onPrint(line)), timeout]);
      if (this.#dead) throw new Error('python interpreter stopped during boot');
      py.setInterruptBuffer(this.#interrupt);
      const host = py.pyimport('host');
      this.#glue = { load: host.load, entry: host.entry, unload: host.unload, hold: host.hold, cancel: host.cancel };
      this.#api = py._api;
      this.#direct = directCaller(py);
      host.use_main_thread(this.#schedule);
      this.#rearm = host.rearm;
      this.#baseline = py._module.HEAPU8.length;
      this.#guard = guardHeap(() => py._module.HEAPU8);
      return { snapshot, bootMs };
    } catch (err) {
      this.#stop('boot failed');
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  load(_id: number, inst: number, file: string, code: string, memoryBytes: number, maxResponse: number, deadlineMs: number): Promise<Failure | null> {
    const glue = this.#glue;
    if (this.#dead || glue === null) return Promise.reject(new GuestError('exception', 'python interpreter stopped', { file }));
    this.#guard!.cap = this.#baseline + memoryBytes;
    if (this.#sliceMs === 0) this.#sliceMs = deadlineMs;
    try {
      const res = this.#afterCall(this.watchdog.call(glue.load, null, deadlineMs, INTERRUPT_GRACE_MS, this.#interrupt, inst, file, code, maxResponse));
      if (res === undefined || res === null) {
        const proxy = glue.entry(inst) as PyCallable;
        this.#entries.set(inst, { proxy, direct: this.#direct?.bind(proxy) ?? null });
        return Promise.resolve(null);
      }
      const [, message, line] = failureOf(plain(res));
      return Promise.resolve(['load', message, line]);
    } catch (err) {
      return Promise.reject(this.#failed(err, file, deadlineMs));
    }
  }

  call(id: number, inst: number, file: string, frame: string, body: Uint8Array, deadlineMs: number): GuestResponse | Promise<GuestResponse> {
    const entry = this.#entries.get(inst);
    if (this.#dead || entry === undefined) throw new GuestError('exception', 'python interpreter stopped', { file });
    this.#guard!.refused = false;
    this.#sliceMs = deadlineMs;
    let result: unknown;
    try {
      result = this.#afterCall(entry.direct !== null
        ? this.watchdog.call(entry.direct, null, deadlineMs, INTERRUPT_GRACE_MS, this.#interrupt, frame, body)
        : this.watchdog.call(entry.proxy, null, deadlineMs, INTERRUPT_GRACE_MS, this.#interrupt, frame, bodyForCall(body)));
    } catch (err) {
      throw this.#failed(err, file, deadlineMs);
    }
    if (typeof result === 'string') return decodeAnswer(result, file);
    if (typeof (result as PyProxyLike).then === 'function') return this.#later(id, result as PyProxyLike, file, deadlineMs);
    return this.#answer(plain(result), file);
  }

  /**
   * After a guarded call that returned (a termination throws past this): if the watchdog's interrupt
   * fired, the guest stopped taking SIGINT for that call (host.py _on_sigint); take it again.
   */
  #afterCall<T>(value: T): T {
    if (this.#interrupt[1] !== 0) this.#rearmInterrupt();
    return value;
  }

  #rearmInterrupt(): void {
    this.#interrupt[1] = 0;
    if (this.#dead || this.#rearm === null) return;
    try {
      this.#afterCall(this.watchdog.call(this.#rearm, null, INTERRUPT_GRACE_MS, INTERRUPT_GRACE_MS, this.#interrupt));
    } catch (err) {
      if (wasTerminated(err)) this.#stop('re-arming the interrupt did not return');
    }
  }

  /** The glue's answer other than a string: a failure ([0, kind, message, line]) or [status, headers, bytes]. */
  #answer(value: unknown, file: string): GuestResponse {
    if (typeof value === 'string') return decodeAnswer(value, file);
    const a = value as [number, unknown, unknown, unknown];
    if (a[0] === 0) {
      const [kind, message, line] = failureOf(a);
      const memory = kind === 'memory' || (kind === 'exception' && this.#guard?.refused === true);
      if (memory) this.tainted = true;
      throw new GuestError((memory ? 'memory' : kind) as GuestError['kind'], message, { file, line: line || null });
    }
    return { status: a[0], headers: decodeHeaders(a[1] as string), body: (a[2] as string | Uint8Array | null | undefined) ?? null };
  }

  /** What an exception out of a guarded call means; the interpreter is discarded when it cannot be trusted. */
  #failed(err: unknown, file: string, deadlineMs: number): GuestError {
    if (wasTerminated(err)) {
      this.#stop('a handler did not stop at its deadline');
      return new GuestError('deadline', `deadline of ${deadlineMs} ms exceeded; the handler did not stop, its interpreter was discarded`, { file });
    }
    this.#afterCall(null);
    const memory = this.#guard?.refused === true;
    if (memory) this.tainted = true;
    // The glue catches guest exceptions; reaching here means pyodide itself failed: a fatal error, or a
    // wasm trap under the C API call (pyodide's own call path would have made that fatal too). Either
    // way the wasm stack was abandoned mid-call, as after a termination.
    if ((err as { pyodide_fatal_error?: boolean }).pyodide_fatal_error === true || err instanceof WasmTrap) this.#stop('pyodide failed inside a call');
    return new GuestError(memory ? 'memory' : 'exception', `python: ${err instanceof Error ? err.message : String(err)}`, { file });
  }

  /** An async handler: its task settles on later slices; the deadline cancels it (by call id: host.hold). */
  #later(id: number, task: PyProxyLike, file: string, deadlineMs: number): Promise<GuestResponse> {
    try {
      this.#afterCall(this.watchdog.call(this.#glue!.hold, null, INTERRUPT_GRACE_MS, INTERRUPT_GRACE_MS, this.#interrupt, id));
    } catch (err) {
      task.destroy();
      return Promise.reject(this.#failed(err, file, INTERRUPT_GRACE_MS));
    }
    return new Promise<GuestResponse>((resolve, reject) => {
      const call: AsyncCall = { resolve, reject, timer: null, file, deadlineMs };
      call.timer = setTimeout(() => this.#late(id), deadlineMs);
      this.#pending.set(id, call);
      (task as unknown as Promise<unknown>)
        .then(
          (value) => {
            const p = this.#pending.take(id);
            if (p === undefined) return;
            try {
              p.resolve(this.#answer(plain(value), file));
            } catch (err) {
              p.reject(err instanceof GuestError ? err : new GuestError('exception', String(err), { file }));
            }
          },
          (err: unknown) => this.#pending.take(id)?.reject(new GuestError('exception', `python: ${(err as Error).message}`, { file })),
        )
        .finally(() => {
          if (!this.#dead) task.destroy();
        });
    });
  }

  /** The deadline of an async call: cancel its task; fail it if the cancellation does not settle it. */
  #late(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined || this.#glue === null) return;
    try {
      this.#afterCall(this.watchdog.call(this.#glue.cancel, null, INTERRUPT_GRACE_MS, INTERRUPT_GRACE_MS, this.#interrupt, id));
    } catch (err) {
      if (wasTerminated(err)) this.#stop('cancelling a task did not stop');
    }
    p.timer = setTimeout(() => {
      if (this.#pending.take(id) === undefined) return;
      // Waiting on something that ignores cancellation: it holds no CPU; the instance is replaced (deadline).
      p.reject(new GuestError('deadline', `deadline of ${p.deadlineMs} ms exceeded; the task did not stop when cancelled`, { file: p.file }));
    }, CANCEL_GRACE_MS);
  }

  /** pyodide.webloop's scheduleCallback(callback, ms), for asyncio's callbacks (host.use_main_thread). */
  readonly #schedule = (callback: () => void, ms: number): void => {
    if (ms <= 2) setImmediate(this.#slice, callback);
    else setTimeout(this.#slice, ms, callback);
  };

  readonly #slice = (callback: () => void): void => {
    if (this.#dead) return; // a callback of a discarded interpreter
    try {
      this.#afterCall(this.watchdog.call(callback, null, this.#sliceMs, INTERRUPT_GRACE_MS, this.#interrupt));
    } catch (err) {
      if (wasTerminated(err)) {
        this.#stop('a slice of an async handler did not stop at its deadline');
        return;
      }
      this.#afterCall(null);
      // KeyboardInterrupt outside a task (the loop re-raises it): the task it hit reports itself.
      this.onPrint(`python: an asyncio callback failed: ${err instanceof Error ? err.message.trim().split('\n').pop() : String(err)}`);
    }
  };

  unload(inst: number): void {
    this.instances.delete(inst);
    const entry = this.#entries.get(inst);
    this.#entries.delete(inst);
    const glue = this.#glue;
    if (this.#dead || glue === null) return;
    entry?.proxy.destroy();
    try {
      this.#afterCall(this.watchdog.call(glue.unload, null, INTERRUPT_GRACE_MS, INTERRUPT_GRACE_MS, this.#interrupt, inst));
    } catch (err) {
      if (wasTerminated(err)) this.#stop('unloading an instance did not stop');
    }
  }

  terminate(why: string): void {
    this.#stop(why);
  }

  /** Discards the interpreter: its async calls fail, and the garbage collector takes its heap. */
  #stop(why: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#glue = null;
    this.#rearm = null;
    this.#entries.clear();
    // The garbage collector still finalizes this interpreter's PyProxies, and after a termination they
    // fail (the interpreter's thread state is gone): pyodide would rethrow that as an uncaught exception.
    if (this.#api !== null) this.#api.fatal_error = () => undefined;
    this.#api = null;
    this.#guard?.release();
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.#pending.failAll('deadline', `python interpreter stopped: ${why}`);
    this.onExit(this);
  }
}
