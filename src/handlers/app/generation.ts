import type { Logger } from '../../core/logger.js';
import { GuestError, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits, type RuntimeStats } from '../../../runtimes/contract.js';

/** Hands a freed instance to the next waiting request, or says there is none. */
export type Handoff = () => ((gen: Generation, inst: AppInstance) => void) | null;

export interface GenerationDeps {
  readonly runtime: Runtime;
  readonly limits: RuntimeLimits;
  readonly logger: Logger;
  readonly handoff: Handoff;
  /** Called for every instance replaced because it broke or stopped answering. */
  readonly onReplaced: () => void;
  /** Called when loading a replacement failed (it is retried with a backoff). */
  readonly onReplaceFailed: (err: unknown) => void;
}

// A call that has not settled this long after its deadline is treated as lost (an engine that
// failed to interrupt, or an async handler awaiting forever): the client gets 504, the instance
// is replaced. Synchronous guest loops are the engine's job: the host cannot run a timer then.
const WATCHDOG_GRACE_MS = 1_000;
/** How often calls in flight are checked against their watchdog deadline (so 504 comes at most this late). */
const WATCHDOG_SWEEP_MS = 100;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

/** A call the watchdog is watching: its deadline (performance.now() ms) and how to give up on it. */
interface InFlight {
  readonly deadline: number;
  readonly lose: () => void;
}

/**
 * One loaded version of an app: N instances of the same source. A request takes a free instance
 * (one request per instance at a time), returns it when done. Broken instances are disposed and
 * replaced in the background from the same source. Once retired (a newer version was swapped in,
 * or the handler is disposed), it takes no new requests and disposes each instance as it comes
 * back; `idle` resolves when the last one is gone.
 */
export class Generation {
  readonly version: number;
  readonly source: AppSource;
  readonly loadedAt: Date;
  readonly #deps: GenerationDeps;
  readonly #instances = new Set<AppInstance>();
  readonly #free: AppInstance[] = [];
  #busy = 0;
  #loading = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryDelay = RETRY_MIN_MS;
  #retired = false;
  readonly #inflight = new Set<InFlight>();
  #watchdog: NodeJS.Timeout | null = null;
  #idle: Promise<void> | null = null;
  #resolveIdle: (() => void) | null = null;

  private constructor(version: number, source: AppSource, instances: AppInstance[], deps: GenerationDeps) {
    this.version = version;
    this.source = source;
    this.loadedAt = new Date();
    this.#deps = deps;
    for (const inst of instances) {
      this.#instances.add(inst);
      this.#free.push(inst);
    }
  }

  /** Loads `count` instances; all or nothing (on any failure the loaded ones are disposed and the first error thrown). */
  static async load(version: number, source: AppSource, count: number, deps: GenerationDeps): Promise<Generation> {
    const results = await Promise.allSettled(Array.from({ length: count }, () => deps.runtime.load(source, deps.limits)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      for (const r of results) if (r.status === 'fulfilled') safeDispose(r.value, deps.logger);
      throw failed.reason;
    }
    return new Generation(version, source, results.map((r) => (r as PromiseFulfilledResult<AppInstance>).value), deps);
  }

  get size(): number {
    return this.#instances.size;
  }
  get busy(): number {
    return this.#busy;
  }
  get free(): number {
    return this.#free.length;
  }
  get loading(): number {
    return this.#loading;
  }
  get retired(): boolean {
    return this.#retired;
  }

  /** Runtime counters summed over the live instances. */
  runtimeStats(): RuntimeStats {
    const sum: RuntimeStats = { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
    for (const inst of this.#instances) {
      const s = inst.stats;
      sum.calls += s.calls;
      sum.errors += s.errors;
      sum.deadlines += s.deadlines;
      sum.totalMs += s.totalMs;
    }
    return sum;
  }

  /** A free instance, counted busy until call() returns; undefined when none is free or retired. */
  take(): AppInstance | undefined {
    if (this.#retired) return undefined;
    const inst = this.#free.pop();
    if (inst !== undefined) this.#busy++;
    return inst;
  }

  /**
   * call() for an instance with handleNow: the answer (or the guest's error) before it returns, and
   * the instance given back; no watchdog, the engine's own deadline stops a runaway call. When the
   * engine continues asynchronously, its promise is watched and settled as call()'s.
   */
  callNow(inst: AppInstance & { handleNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> }, req: GuestRequest): GuestResponse | Promise<GuestResponse> {
    let answer: GuestResponse | Promise<GuestResponse>;
    try {
      answer = inst.handleNow(req);
    } catch (err) {
      this.#giveBack(inst);
      throw err;
    }
    if (answer instanceof Promise) return this.#watch(inst, answer);
    this.#giveBack(inst);
    return answer;
  }

  /** Runs one request on an instance from take() (or handed over), and gives the instance back. */
  call(inst: AppInstance, req: GuestRequest): Promise<GuestResponse> {
    let pending: Promise<GuestResponse>;
    try {
      pending = inst.handle(req);
    } catch (err) {
      pending = Promise.reject(err);
    }
    return this.#watch(inst, pending);
  }

  /** Settles with the engine's promise, or rejects 504 when it misses the deadline; gives the instance back. */
  #watch(inst: AppInstance, pending: Promise<GuestResponse>): Promise<GuestResponse> {
    return new Promise<GuestResponse>((resolve, reject) => {
      const call: InFlight = {
        deadline: performance.now() + this.#deps.limits.deadlineMs + WATCHDOG_GRACE_MS,
        lose: () => {
          this.#lose(inst, pending);
          reject(new GuestError('deadline', `no answer within ${this.#deps.limits.deadlineMs + WATCHDOG_GRACE_MS} ms`));
        },
      };
      this.#inflight.add(call);
      this.#armWatchdog();
      pending.then(
        (answer) => {
          if (!this.#inflight.delete(call)) return; // already answered 504
          this.#giveBack(inst);
          resolve(answer);
        },
        (err: unknown) => {
          if (!this.#inflight.delete(call)) return;
          this.#giveBack(inst);
          reject(err);
        },
      );
    });
  }

  /**
   * One timer per generation sweeps the calls in flight, instead of a timer per call: arming and
   * clearing a timer per request cost more than the engine call of a small handler.
   */
  #armWatchdog(): void {
    if (this.#watchdog !== null) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = null;
      const now = performance.now();
      for (const call of this.#inflight) {
        if (call.deadline <= now) {
          this.#inflight.delete(call);
          call.lose();
        }
      }
      if (this.#inflight.size > 0) this.#armWatchdog();
    }, WATCHDOG_SWEEP_MS);
  }

  #giveBack(inst: AppInstance): void {
    this.#busy--;
    if (inst.broken) {
      this.#drop(inst);
      this.#replace();
    } else if (this.#retired) {
      this.#drop(inst);
    } else {
      this.#offer(inst);
    }
    this.#checkIdle();
  }

  /** The call outlived the watchdog: stop counting on it; dispose it if it ever settles. */
  #lose(inst: AppInstance, pending: Promise<GuestResponse>): void {
    this.#busy--;
    this.#instances.delete(inst);
    const dispose = (): void => safeDispose(inst, this.#deps.logger);
    pending.then(dispose, dispose);
    this.#replace();
    this.#checkIdle();
  }

  #offer(inst: AppInstance): void {
    const waiter = this.#deps.handoff();
    if (waiter === null) {
      this.#free.push(inst);
    } else {
      this.#busy++;
      waiter(this, inst);
    }
  }

  #drop(inst: AppInstance): void {
    this.#instances.delete(inst);
    safeDispose(inst, this.#deps.logger);
  }

  #replace(): void {
    if (this.#retired) return;
    this.#deps.onReplaced();
    this.#loading++;
    this.#deps.runtime.load(this.source, this.#deps.limits).then(
      (inst) => {
        this.#loading--;
        this.#retryDelay = RETRY_MIN_MS;
        if (this.#retired) {
          safeDispose(inst, this.#deps.logger);
        } else {
          this.#instances.add(inst);
          this.#offer(inst);
        }
        this.#checkIdle();
      },
      (err: unknown) => {
        this.#loading--;
        this.#deps.onReplaceFailed(err);
        if (!this.#retired) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = null;
            this.#replace();
          }, this.#retryDelay);
          this.#retryTimer.unref();
          this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS);
        }
        this.#checkIdle();
      },
    );
  }

  /** Takes no new requests; free instances go now, busy ones when their call ends. Resolves when all are disposed. */
  retire(): Promise<void> {
    if (this.#idle !== null) return this.#idle;
    this.#retired = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    for (const inst of this.#free) this.#drop(inst);
    this.#free.length = 0;
    this.#idle = new Promise((resolve) => (this.#resolveIdle = resolve));
    this.#checkIdle();
    return this.#idle;
  }

  #checkIdle(): void {
    if (this.#retired && this.#busy === 0 && this.#loading === 0 && this.#resolveIdle !== null) {
      this.#resolveIdle();
      this.#resolveIdle = null;
    }
  }
}

function safeDispose(inst: AppInstance, logger: Logger): void {
  try {
    inst.dispose();
  } catch (err) {
    logger.warn({ err: String(err) }, 'app instance dispose failed');
  }
}
