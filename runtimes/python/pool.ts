/**
 * The main-thread side of one Python worker (the fallback when the main thread cannot run Python under
 * native/watchdog, see main.ts): boot, the calls in flight, deadlines and termination.
 *
 * A deadline first interrupts: SIGINT in the shared interrupt buffer when the late call is the one
 * running Python right now (KeyboardInterrupt arrives within milliseconds for Python code), or a
 * "cancel" message when it is an async handler waiting. If the call has still not settled after
 * INTERRUPT_GRACE_MS (time.sleep, a long C call such as sum(range(10**10)), a handler that swallows
 * KeyboardInterrupt), the worker is terminated: every call on it fails and its instances report broken,
 * so the app handler replaces them on another worker.
 */
import { Worker } from 'node:worker_threads';
import { GuestError, type GuestResponse } from '../contract.js';
import { CTRL_INTERRUPT, CTRL_RUNNING, CTRL_SLOTS, SIGINT, type Failure, type FromWorker, type ToWorker, type WorkerSetup } from './protocol.js';
import { bodyForWorker, decodeAnswer, decodeHeaders } from './marshal.js';
import { PendingCalls, type BootResult, type PyHost } from './hosts.js';

const INTERRUPT_GRACE_MS = 250;
/** Loading runs the file's top level (imports of a framework included): give it at least this long. */
export const MIN_LOAD_DEADLINE_MS = 10_000;
/** Boot from a snapshot takes ~0.5 s, a full boot 1.5–5 s on a busy machine. */
const BOOT_TIMEOUT_MS = 60_000;
/** The worker's own JS heap (conversions, the snapshot copy); Python's heap is WASM memory, capped separately. */
const WORKER_JS_HEAP_MB = 256;

interface Pending {
  resolve(v: unknown): void;
  reject(e: GuestError): void;
  timer: NodeJS.Timeout | null;
  file: string;
  deadlineMs: number;
}

export class PyWorker implements PyHost {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #pending = new PendingCalls<Pending>();
  readonly ready: Promise<BootResult>;
  /** Instance id -> the source text it runs (placement puts two versions of an app on different workers). */
  readonly instances = new Map<number, string>();
  #dead = false;
  /** A memory failure happened here: no new instances; terminated once its instances are gone. */
  tainted = false;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(
    script: URL,
    setup: Omit<WorkerSetup, 'control'>,
    private readonly onExit: (w: PyWorker) => void,
    private readonly onPrint: (line: string) => void,
  ) {
    const control = new SharedArrayBuffer(CTRL_SLOTS * 4);
    this.#control = new Int32Array(control);
    const data: WorkerSetup = { ...setup, control };
    this.#worker = new Worker(script, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_JS_HEAP_MB },
    });
    this.#worker.unref();
    let booted: (r: BootResult) => void = () => undefined;
    let bootFailed: (e: Error) => void = () => undefined;
    this.ready = new Promise<BootResult>((resolve, reject) => {
      booted = resolve;
      bootFailed = reject;
    });
    this.ready.catch(() => undefined);
    const bootTimer = setTimeout(() => {
      bootFailed(new Error(`python worker did not boot within ${BOOT_TIMEOUT_MS} ms`));
      this.terminate('boot timeout');
    }, BOOT_TIMEOUT_MS);
    bootTimer.unref();
    this.#worker.on('message', (msg: FromWorker) => {
      switch (msg[0]) {
        case 'ready':
          clearTimeout(bootTimer);
          booted({ snapshot: msg[1], bootMs: msg[2] });
          break;
        case 'boot-failed':
          clearTimeout(bootTimer);
          bootFailed(new Error(`python worker failed to boot: ${msg[1]}`));
          this.terminate('boot failed');
          break;
        case 'loaded':
          this.#settle(msg[1], msg[2]);
          break;
        case 'print':
          this.onPrint(msg[1]);
          break;
        case 'text': {
          const p = this.#pending.take(msg[1]);
          if (p === undefined) break;
          try {
            p.resolve(decodeAnswer(msg[2], p.file));
          } catch (err) {
            p.reject(err as GuestError);
          }
          break;
        }
        case 'done':
          this.#settle(msg[1], { status: msg[2], headers: decodeHeaders(msg[3]), body: msg[4] } satisfies GuestResponse);
          break;
        case 'fail': {
          const p = this.#pending.take(msg[1]);
          if (p !== undefined) {
            if (msg[2] === 'memory') this.tainted = true;
            p.reject(new GuestError(msg[2] as GuestError['kind'], msg[3], { file: p.file, line: msg[4] || null }));
          }
          break;
        }
      }
    });
    let exited = false;
    const died = (why: string, kind: GuestError['kind']): void => {
      clearTimeout(bootTimer);
      if (exited) return;
      exited = true;
      bootFailed(new Error(`python worker stopped during boot: ${why}`));
      this.#dead = true;
      this.#pending.failAll(kind, `python worker stopped: ${why}`);
      this.onExit(this);
    };
    this.#worker.on('error', (err: Error & { code?: string }) =>
      died(err.message, err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'exception'));
    this.#worker.on('exit', (code) => died(`exit code ${code}`, 'exception'));
  }

  get dead(): boolean {
    return this.#dead;
  }

  #settle(id: number, value: unknown): void {
    this.#pending.take(id)?.resolve(value);
  }

  /** Posts a job and waits for its answer, enforcing the deadline (interrupt, then terminate). */
  #run<T>(id: number, msg: ToWorker, file: string, deadlineMs: number, transfer?: ArrayBuffer[]): Promise<T> {
    if (this.#dead) return Promise.reject(new GuestError('exception', 'python worker stopped', { file }));
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject, timer: null, file, deadlineMs };
      p.timer = setTimeout(() => this.#late(id), deadlineMs);
      this.#pending.set(id, p);
      this.#worker.postMessage(msg, transfer ?? []);
    });
  }

  #late(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    if (Atomics.load(this.#control, CTRL_RUNNING) === id) Atomics.store(this.#control, CTRL_INTERRUPT, SIGINT);
    else this.#worker.postMessage(['cancel', id] satisfies ToWorker);
    p.timer = setTimeout(() => {
      if (!this.#pending.has(id)) return;
      // Not interruptible (time.sleep, a C call, a handler swallowing KeyboardInterrupt): stop the thread.
      this.#pending.take(id);
      p.reject(new GuestError('deadline', `deadline of ${p.deadlineMs} ms exceeded; the handler did not stop, its worker was terminated`, { file: p.file }));
      this.terminate('a handler did not stop at its deadline');
    }, INTERRUPT_GRACE_MS);
  }

  load(id: number, inst: number, file: string, code: string, memoryBytes: number, maxResponse: number, deadlineMs: number): Promise<Failure | null> {
    return this.#run<Failure | null>(id, ['load', id, inst, file, code, memoryBytes, maxResponse], file, deadlineMs);
  }

  call(id: number, inst: number, file: string, frame: string, requestBody: Uint8Array, deadlineMs: number): Promise<GuestResponse> {
    const body = bodyForWorker(requestBody);
    return this.#run<GuestResponse>(id, ['call', id, inst, frame, body], file, deadlineMs, body === null ? undefined : [body.buffer as ArrayBuffer]);
  }

  unload(inst: number): void {
    this.instances.delete(inst);
    if (!this.#dead) this.#worker.postMessage(['unload', inst] satisfies ToWorker);
  }

  terminate(why: string): void {
    if (this.#dead) return;
    void this.#worker.terminate().catch(() => undefined);
    // 'exit' follows and fails the pending calls; mark now so nothing new is posted meanwhile.
    this.#dead = true;
    this.#pending.failAll('deadline', `python worker stopped: ${why}`);
  }
}
