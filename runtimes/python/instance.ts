/**
 * One loaded version of a Python app as the app handler sees it (AppInstance): its place (an
 * interpreter in a worker or on the main thread), its stats, and what makes it broken.
 */
import { GuestError, handleThroughNow, type AppInstance, type GuestRequest, type GuestResponse, type RuntimeLimits, type RuntimeStats } from '../contract.js';
import type { PyHost } from './hosts.js';
import { encodeFrame } from './marshal.js';

let lastId = 0;

/** Ids of instances and calls, unique in the process (an interpreter sees both). */
export function newId(): number {
  return ++lastId;
}

/** Where one loaded instance lives: its interpreter, its id there, and how to hand the interpreter back. */
export interface Placement {
  readonly host: PyHost;
  readonly id: number;
  readonly release: (h: PyHost) => void;
}

export class PythonInstance implements AppInstance {
  readonly stats: RuntimeStats = { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
  #at: Placement;
  #broken = false;
  #disposed = false;
  #moving: Promise<Placement> | null = null;

  constructor(
    at: Placement,
    private readonly file: string,
    private readonly limits: RuntimeLimits,
    /** Loads the same source again on a live interpreter (when this one's was stopped under it). */
    private readonly relocate: () => Promise<Placement>,
  ) {
    this.#at = at;
  }

  get broken(): boolean {
    return this.#broken;
  }

  handle(req: GuestRequest): Promise<GuestResponse> {
    return handleThroughNow(this, req);
  }

  /**
   * On the main thread a synchronous handler has answered when the call returns: the answer, with
   * no promise in between (the host skips its own). From a worker, or for an async handler, a promise.
   */
  handleNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> {
    if (this.#disposed) throw new GuestError('exception', 'instance disposed', { file: this.file });
    const started = performance.now();
    this.stats.calls++;
    const at = this.#at;
    if (at.host.dead) return this.#relocated(req, started);
    let res: GuestResponse | Promise<GuestResponse>;
    try {
      res = at.host.call(newId(), at.id, this.file, encodeFrame(req), req.body, this.limits.deadlineMs);
    } catch (err) {
      throw this.#failed(err, started);
    }
    if (res instanceof Promise) return res.then((r) => this.#settled(r, started), (err: unknown) => Promise.reject(this.#failed(err, started)));
    return this.#settled(res, started);
  }

  /**
   * An interpreter can stop under an idle instance (another instance on it ran away): the instance
   * then loads itself on a live one (waiting for its boot) before serving, instead of failing.
   */
  async #relocated(req: GuestRequest, started: number): Promise<GuestResponse> {
    let res: GuestResponse;
    try {
      const at = await this.#moved();
      res = await at.host.call(newId(), at.id, this.file, encodeFrame(req), req.body, this.limits.deadlineMs);
    } catch (err) {
      throw this.#failed(err, started);
    }
    return this.#settled(res, started);
  }

  /** One relocation for the calls that find the interpreter gone together. */
  #moved(): Promise<Placement> {
    this.#moving ??= this.relocate().then((at) => {
      this.#moving = null;
      if (this.#disposed) {
        at.host.unload(at.id);
        at.release(at.host);
        throw new GuestError('exception', 'instance disposed', { file: this.file });
      }
      this.#at = at;
      return at;
    }, (err: unknown) => {
      this.#moving = null;
      throw err;
    });
    return this.#moving;
  }

  /** The answer, counted; a string body over max_response (counted in bytes here) is refused. */
  #settled(res: GuestResponse, started: number): GuestResponse {
    this.stats.totalMs += performance.now() - started;
    const max = this.limits.maxResponseBytes;
    if (typeof res.body === 'string' && res.body.length * 3 > max) {
      const bytes = Buffer.byteLength(res.body);
      if (bytes > max) throw this.#failed(new GuestError('response', `response body of ${bytes} bytes exceeds ${max}`, { file: this.file }), -1);
    }
    return res;
  }

  /** Counts a failure (started < 0: its time is counted already). */
  #failed(err: unknown, started: number): unknown {
    if (started >= 0) this.stats.totalMs += performance.now() - started;
    this.stats.errors++;
    if (err instanceof GuestError) {
      if (err.kind === 'deadline') this.stats.deadlines++;
      // After a deadline or memory failure the app's state may be half-updated: the pool replaces it.
      if (err.kind === 'deadline' || err.kind === 'memory') this.#broken = true;
    }
    return err;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#at.host.unload(this.#at.id);
    this.#at.release(this.#at.host);
  }
}
