/**
 * One loaded app in its own QuickJS runtime + context (on its own WASM module, see index.ts).
 *
 * Every call runs to completion synchronously: the sync variant has no host I/O to wait for, so a
 * guest promise either settles while the job queue drains or never will. Handles are disposed on
 * every path: one leaked handle makes runtime.dispose() abort.
 */
import { type QuickJSContext, type QuickJSHandle, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';
import { GuestError, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type RuntimeLimits, type RuntimeStats } from '../contract.js';
import { isOutOfMemory, toGuestError } from './errors.js';
import { boundaryFor, BoundaryThrow, type Boundary } from './boundary.js';
import { decodeAnswer, encodeMeta, SmuggledSeparator, type Answer } from './marshal.js';

export type GuestLog = (level: string, message: string, file: string) => void;

const HOST_MODULE = `export { __host } from 'anomaly';`;
const MAX_LOG_CHARS = 8192;

/** Thrown inside the adapter when the guest raised; carries the dumped value until classified. */
class GuestThrow {
  constructor(readonly dumped: unknown) {}
}

export class QuickJSInstance implements AppInstance {
  readonly stats: RuntimeStats = { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
  private isBroken = false;
  private disposed = false;
  private interrupted = false;
  private readonly owned: QuickJSHandle[] = [];
  private dispatchFn!: QuickJSHandle;
  private settleFn!: QuickJSHandle;
  private takeBytesFn!: QuickJSHandle;
  private readonly boundary: Boundary;
  /** Date.now() after which the interrupt handler stops the guest; Infinity between calls. */
  private deadline = Infinity;

  private constructor(
    private readonly rt: QuickJSRuntime,
    private readonly ctx: QuickJSContext,
    private readonly file: string,
    private readonly limits: RuntimeLimits,
  ) {
    this.boundary = boundaryFor(ctx);
    // One handler for the instance's life: QuickJS polls it every few thousand operations, and
    // installing a fresh closure per call costs more than reading a field.
    rt.setInterruptHandler(() => {
      if (Date.now() <= this.deadline) return false;
      this.interrupted = true;
      return true;
    });
  }

  /** Compiles and initialises the app; any failure is GuestError('load') and leaves nothing allocated. */
  static create(mod: QuickJSWASMModule, binding: string, source: AppSource, limits: RuntimeLimits, log: GuestLog | null): QuickJSInstance {
    const rt = mod.newRuntime();
    rt.setMemoryLimit(limits.memoryBytes);
    rt.setMaxStackSize(limits.stackBytes);
    rt.setModuleLoader((name) =>
      name === 'anomaly' ? binding : { error: new Error(`import of '${name}' is not allowed: an app may only import 'anomaly'`) },
    );
    const inst = new QuickJSInstance(rt, rt.newContext(), source.file, limits);
    try {
      inst.init(source, log);
      return inst;
    } catch (err) {
      inst.dispose();
      if (err instanceof GuestThrow) {
        const kind = inst.interrupted ? 'deadline exceeded while loading: ' : '';
        throw toGuestError('load', err.dumped, source.file, kind);
      }
      if (err instanceof GuestError) throw err;
      throw new GuestError('load', `QuickJS failed while loading: ${(err as Error).message}`, { file: source.file }, { cause: err });
    }
  }

  get broken(): boolean {
    return this.isBroken;
  }

  handle(req: GuestRequest): Promise<GuestResponse> {
    try {
      return Promise.resolve(this.call(req));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  handleNow(req: GuestRequest): GuestResponse {
    return this.call(req);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const h of this.owned) if (h.alive) h.dispose();
    this.owned.length = 0;
    try {
      this.boundary.dispose();
      this.ctx.dispose();
      this.rt.dispose();
    } catch {
      // A QuickJS assertion (leak after out-of-memory) aborts the WASM module; it is this instance's
      // own module, so dropping it is enough.
    }
  }

  // -------------------------------------------------------------------------------------------

  private init(source: AppSource, log: GuestLog | null): void {
    const { ctx } = this;
    this.arm();
    if (log !== null) {
      const file = this.file;
      const fn = ctx.newFunction('log', (level, msg) => {
        log(ctx.getString(level), ctx.getString(msg).slice(0, MAX_LOG_CHARS), file);
      });
      ctx.setProp(ctx.global, '__anomaly_log', fn);
      fn.dispose();
    }
    // The host imports the binding first: it installs console/TextEncoder before the app runs.
    const host = this.own(this.evalModule(HOST_MODULE, '<anomaly-host>'));
    const hostApi = this.own(ctx.getProp(host, '__host'));
    const makeDispatcher = this.own(ctx.getProp(hostApi, 'makeDispatcher'));
    const exports = this.own(this.evalModule(source.code, source.file));
    const app = this.own(ctx.getProp(exports, 'default'));
    const max = this.own(ctx.newNumber(this.limits.maxResponseBytes));
    const fns = this.own(this.unwrap(ctx.callFunction(makeDispatcher, ctx.undefined, app, max)));
    this.dispatchFn = this.own(ctx.getProp(fns, 0));
    this.settleFn = this.own(ctx.getProp(fns, 1));
    this.takeBytesFn = this.own(ctx.getProp(fns, 2));
    // Only the three entry points stay alive between calls.
    for (const h of [host, hostApi, makeDispatcher, exports, app, max, fns]) this.release(h);
    this.disarm();
  }

  /** Evaluates an ES module; its namespace, after top-level await settled. */
  private evalModule(code: string, name: string): QuickJSHandle {
    const { ctx } = this;
    const result = this.unwrap(ctx.evalCode(code, name, { type: 'module' }));
    const state = ctx.getPromiseState(result);
    if (state.type === 'fulfilled' && state.notAPromise) return result;
    try {
      this.drainJobs();
      const settled = ctx.getPromiseState(result);
      if (settled.type === 'fulfilled') return settled.value;
      if (settled.type === 'rejected') throw new GuestThrow(this.dumpAndDispose(settled.error));
      throw new GuestError('load', 'top-level await never settled', { file: this.file });
    } finally {
      result.dispose();
    }
  }

  private call(req: GuestRequest): GuestResponse {
    if (this.disposed) throw new GuestError('exception', 'the app instance was disposed', { file: this.file });
    if (this.isBroken) throw new GuestError('exception', 'the app instance is broken (an earlier call ran out of memory or time)', { file: this.file });
    this.stats.calls++;
    const started = performance.now();
    this.arm();
    try {
      return this.invoke(req);
    } catch (err) {
      this.stats.errors++;
      throw this.classify(err);
    } finally {
      this.disarm();
      this.stats.totalMs += performance.now() - started;
    }
  }

  private invoke(req: GuestRequest): GuestResponse {
    let json = this.guestCall(() => this.boundary.callString(this.dispatchFn, encodeMeta(req), req.body.byteLength === 0 ? null : req.body));
    if (json === '') {
      this.drainJobs();
      json = this.guestCall(() => this.boundary.callString0(this.settleFn));
      if (json === '') throw new GuestError('exception', 'the handler returned a promise that never settles', { file: this.file });
    }
    return this.answer(json);
  }

  /** Runs a boundary call; a guest exception becomes a GuestThrow with the dumped value. */
  private guestCall(call: () => string): string {
    try {
      return call();
    } catch (err) {
      if (err instanceof BoundaryThrow) throw new GuestThrow(this.dumpAndDispose(err.error));
      throw err;
    }
  }

  private answer(json: string): GuestResponse {
    let a: Answer;
    try {
      a = decodeAnswer(json);
    } catch (err) {
      if (err instanceof SmuggledSeparator) throw new GuestError('response', err.message, { file: this.file });
      throw err;
    }
    const max = this.limits.maxResponseBytes;
    if (a.kind === 'too-large') throw new GuestError('response', `response body of ${a.size} bytes is over the limit (${max})`, { file: this.file });
    if (a.kind === 'binary') return { status: a.status, headers: a.headers, body: this.takeBytes() };
    if (a.kind === 'empty') return { status: a.status, headers: a.headers, body: null };
    // The guest checked the length in UTF-16 units; UTF-8 may be up to 3 times longer.
    if (a.body.length * 3 > max) {
      const size = Buffer.byteLength(a.body, 'utf8');
      if (size > max) throw new GuestError('response', `response body of ${size} bytes is over the limit (${max})`, { file: this.file });
    }
    return { status: a.status, headers: a.headers, body: a.body };
  }

  private takeBytes(): Uint8Array {
    const { ctx } = this;
    const h = this.unwrap(ctx.callFunction(this.takeBytesFn, ctx.undefined));
    try {
      const view = ctx.getArrayBuffer(h);
      try {
        return view.value.slice(); // the view points into the WASM heap: copy before it is freed
      } finally {
        view.dispose();
      }
    } finally {
      h.dispose();
    }
  }

  // -------------------------------------------------------------------------------------------

  private arm(): void {
    this.interrupted = false;
    this.deadline = Date.now() + this.limits.deadlineMs;
  }

  private disarm(): void {
    this.deadline = Infinity;
  }

  private drainJobs(): void {
    const done = this.rt.executePendingJobs();
    if (done.error) throw new GuestThrow(this.dumpAndDispose(done.error));
  }

  private unwrap(result: { value?: QuickJSHandle; error?: QuickJSHandle }): QuickJSHandle {
    if (result.error) throw new GuestThrow(this.dumpAndDispose(result.error));
    return result.value as QuickJSHandle;
  }

  private dumpAndDispose(h: QuickJSHandle): unknown {
    try {
      return this.ctx.dump(h);
    } catch {
      return 'unprintable guest exception';
    } finally {
      if (h.alive) h.dispose(); // dump() disposes promises itself
    }
  }

  private classify(err: unknown): GuestError {
    if (err instanceof GuestThrow) {
      if (this.interrupted) {
        this.stats.deadlines++;
        this.isBroken = true; // queued jobs and half-run handlers may be left behind
        return new GuestError('deadline', `the handler ran past its deadline (${this.limits.deadlineMs} ms)`, { file: this.file });
      }
      if (isOutOfMemory(err.dumped)) {
        this.isBroken = true;
        return new GuestError('memory', `the app ran out of memory (limit ${this.limits.memoryBytes} bytes)`, { file: this.file });
      }
      return toGuestError('exception', err.dumped, this.file);
    }
    if (err instanceof GuestError) return err;
    // The engine itself failed (WASM trap, allocation failure on our side): never reuse it.
    this.isBroken = true;
    return new GuestError('exception', `QuickJS failed: ${(err as Error)?.message ?? String(err)}`, { file: this.file }, { cause: err });
  }

  private own(h: QuickJSHandle): QuickJSHandle {
    this.owned.push(h);
    return h;
  }

  private release(h: QuickJSHandle): void {
    const i = this.owned.indexOf(h);
    if (i >= 0) this.owned.splice(i, 1);
    if (h.alive) h.dispose();
  }
}
