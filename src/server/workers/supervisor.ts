/**
 * The supervisor: N worker processes (node:cluster) that each run a whole AnomalyServer and share
 * the listening TCP sockets. By default (`accept: 'round-robin'`, node's SCHED_RR) the supervisor
 * accepts each connection and hands it to the next worker: keep-alive connections spread evenly,
 * for one IPC message per connection. With 'kernel' (SCHED_NONE) every worker accepts on the shared
 * socket: no supervisor hop, but the first worker awake takes a burst of connections, and on a
 * 2-core host under wrk -c50 that left one worker with most of them (0.62-0.76x a node cluster's
 * req/s against 0.89x round-robin). The supervisor keeps the
 * shared sockets open while any worker listens, which is what makes rolling restarts lossless:
 * a replacement starts accepting before its predecessor stops.
 *
 * It restarts crashed workers (with a backoff when they crash right after starting), rolls config
 * reloads through the workers one at a time, and replaces every worker for a binary upgrade.
 */
import cluster, { type Worker } from 'node:cluster';
import { AnomalyError, ErrorCodes } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AdminOp } from '../../admin/control.js';
import { isFromWorker, WORKER_INDEX_ENV, type FromWorker, type ToWorker } from './messages.js';

export interface WorkerPorts {
  readonly tlsPort: number | null;
  readonly plainPort: number | null;
  readonly http3Port: number | null;
  readonly localCaPath: string | null;
}

export interface SupervisorOptions {
  readonly count: number;
  readonly logger: Logger;
  /** How long a stopping worker may drain before it is killed (the config's drain_timeout). */
  readonly drainTimeoutMs: () => number;
  /** How long a worker may take to start (load apps, bind) before it counts as failed. */
  readonly startTimeoutMs?: number;
  /**
   * A worker holding something that cannot be shared or handed over (worker 1 owns the HTTP/3 UDP
   * port): when replaced, it stops before its successor starts; the others keep the TCP side serving.
   */
  readonly exclusiveIndex?: number;
  /** How new connections reach workers (see above); fixed for the supervisor's life. Default round-robin. */
  readonly accept?: 'round-robin' | 'kernel';
}

export interface ReloadOutcome {
  readonly reloaded: number;
  readonly failures: ReadonlyArray<{ readonly index: number; readonly message: string }>;
}

interface Slot {
  readonly index: number;
  readonly worker: Worker;
  readonly startedAt: number;
  readonly ready: Promise<WorkerPorts>;
  /** Set when the supervisor itself stops or replaces this worker: its exit is expected. */
  retiring: boolean;
}

/** A worker that dies this soon after starting is crash-looping: restarts back off. */
const CRASH_LOOP_MS = 5_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const RELOAD_TIMEOUT_MS = 60_000;
/** Past the drain timeout, a stopping worker gets this long before SIGKILL. */
const STOP_GRACE_MS = 5_000;

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #log: Logger;
  /** The serving worker of each index (1-based, so index 0 is unused). */
  readonly #slots: Array<Slot | null> = [];
  readonly #backoff = new Map<number, number>();
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #count: number;
  #stopping = false;
  /** Until every first worker serves, a failure fails start() instead of being restarted. */
  #started = false;
  #nextRequest = 1;
  readonly #pending = new Map<number, (m: Extract<FromWorker, { type: 'reloaded' }>) => void>();
  readonly #adminPending = new Map<number, (m: Extract<FromWorker, { type: 'admin-answer' }>) => void>();

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#count = opts.count;
  }

  get count(): number {
    return this.#count;
  }

  /** Process ids of the serving workers, by index. */
  pids(): Array<number | undefined> {
    return this.#slots.slice(1).map((s) => s?.worker.process.pid);
  }

  /** Forks every worker and resolves with the ports once all are serving; if one fails, stops all and throws. */
  async start(): Promise<WorkerPorts> {
    // Must be set before the first fork; the environment variable would also work, but this is explicit.
    cluster.schedulingPolicy = this.#opts.accept === 'kernel' ? cluster.SCHED_NONE : cluster.SCHED_RR;
    cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv), args: process.argv.slice(2), silent: false });
    const slots: Slot[] = [];
    for (let i = 1; i <= this.#count; i++) slots.push(this.#fork(i));
    try {
      const ports = await Promise.all(slots.map((s) => s.ready));
      this.#started = true;
      return ports[0];
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  #fork(index: number): Slot {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    let settle: { resolve(p: WorkerPorts): void; reject(e: Error): void } | null = null;
    const ready = new Promise<WorkerPorts>((resolve, reject) => (settle = { resolve, reject }));
    ready.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    const slot: Slot = { index, worker, startedAt: Date.now(), ready, retiring: false };
    const startTimer = setTimeout(() => {
      settle?.reject(new AnomalyError(ErrorCodes.LISTEN, `worker ${index} did not start within ${this.#startTimeout() / 1000} s`));
      settle = null;
      slot.retiring = true;
      worker.process.kill('SIGKILL');
    }, this.#startTimeout());
    worker.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      if (m.type === 'ready') {
        clearTimeout(startTimer);
        settle?.resolve({ tlsPort: m.tlsPort, plainPort: m.plainPort, http3Port: m.http3Port, localCaPath: m.localCaPath });
        settle = null;
        this.#log.debug({ worker: index, pid: worker.process.pid }, `worker ${index} serving`);
      } else if (m.type === 'failed') {
        clearTimeout(startTimer);
        settle?.reject(new AnomalyError(ErrorCodes.LISTEN, `worker ${index} could not start: ${m.message}`));
        settle = null;
        slot.retiring = true;
      } else if (m.type === 'reloaded') {
        this.#pending.get(m.id)?.(m);
        this.#pending.delete(m.id);
      } else if (m.type === 'admin-answer') {
        this.#adminPending.get(m.id)?.(m);
        this.#adminPending.delete(m.id);
      } else if (m.type === 'cache-purge') {
        for (const other of this.#slots) if (other !== null && other !== undefined && other.worker !== worker) send(other.worker, m);
      }
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      clearTimeout(startTimer);
      settle?.reject(new AnomalyError(ErrorCodes.LISTEN, `worker ${index} exited before it was ready (${describeExit(code, signal)})`));
      settle = null;
      this.#onExit(slot, code, signal);
    });
    this.#slots[index] = slot;
    return slot;
  }

  #startTimeout(): number {
    return this.#opts.startTimeoutMs ?? 120_000;
  }

  #onExit(slot: Slot, code: number | null, signal: string | null): void {
    const current = this.#slots[slot.index] === slot;
    if (current) this.#slots[slot.index] = null;
    if (slot.retiring || this.#stopping || !this.#started || !current || slot.index > this.#count) return;
    const lived = Date.now() - slot.startedAt;
    const delay = lived < CRASH_LOOP_MS ? Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, (this.#backoff.get(slot.index) ?? 0) * 2)) : 0;
    this.#backoff.set(slot.index, delay);
    this.#log.error(
      { worker: slot.index, pid: slot.worker.process.pid, code, signal, restartInMs: delay },
      `worker ${slot.index} (pid ${slot.worker.process.pid}) exited unexpectedly (${describeExit(code, signal)}); restarting it${delay > 0 ? ` in ${delay} ms` : ''}`,
    );
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (this.#stopping || this.#slots[slot.index] != null || slot.index > this.#count) return;
      const next = this.#fork(slot.index);
      next.ready.then(
        () => this.#log.info({ worker: slot.index, pid: next.worker.process.pid }, `worker ${slot.index} restarted (pid ${next.worker.process.pid})`),
        (err: Error) => this.#log.error({ worker: slot.index }, err.message),
      );
    }, delay);
    this.#restartTimers.add(timer);
  }

  /** Rolls an in-place config reload through the workers, one at a time. */
  async reload(): Promise<ReloadOutcome> {
    const failures: Array<{ index: number; message: string }> = [];
    let reloaded = 0;
    for (let i = 1; i <= this.#count; i++) {
      const slot = this.#slots[i];
      if (slot == null || slot.retiring) continue;
      try {
        await slot.ready;
      } catch {
        continue; // not serving: it loads the new config when it restarts
      }
      const answer = await this.#request(slot, (id) => ({ type: 'reload', id }));
      if (answer.ok) reloaded++;
      else failures.push({ index: i, message: answer.message ?? 'unknown error' });
    }
    return { reloaded, failures };
  }

  #request(slot: Slot, make: (id: number) => ToWorker): Promise<Extract<FromWorker, { type: 'reloaded' }>> {
    const id = this.#nextRequest++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ type: 'reloaded', id, ok: false, message: `no answer within ${RELOAD_TIMEOUT_MS / 1000} s` });
      }, RELOAD_TIMEOUT_MS);
      const onExit = (): void => {
        this.#pending.delete(id);
        clearTimeout(timer);
        resolve({ type: 'reloaded', id, ok: false, message: 'the worker exited' });
      };
      slot.worker.once('exit', onExit);
      this.#pending.set(id, (m) => {
        clearTimeout(timer);
        slot.worker.off('exit', onExit);
        resolve(m);
      });
      send(slot.worker, make(id));
    });
  }

  /** Runs an admin operation in every serving worker at once; one answer per worker, by index. */
  async ask(op: AdminOp, timeoutMs = 10_000): Promise<Array<{ index: number; ok: boolean; result?: unknown; message?: string }>> {
    const asks: Array<Promise<{ index: number; ok: boolean; result?: unknown; message?: string }>> = [];
    for (let i = 1; i <= this.#count; i++) {
      const slot = this.#slots[i];
      if (slot == null || slot.retiring || !slot.worker.isConnected()) continue;
      const id = this.#nextRequest++;
      asks.push(
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            this.#adminPending.delete(id);
            resolve({ index: i, ok: false, message: `no answer within ${timeoutMs / 1000} s` });
          }, timeoutMs);
          this.#adminPending.set(id, (m) => {
            clearTimeout(timer);
            resolve({ index: i, ok: m.ok, result: m.result, message: m.message });
          });
          send(slot.worker, { type: 'admin', id, op });
        }),
      );
    }
    return await Promise.all(asks);
  }

  /**
   * Replaces every worker with a fresh process (new code on disk, new listen addresses), one at a
   * time: the replacement serves before the old one drains, so no connection is refused.
   */
  async restartAll(): Promise<void> {
    for (let i = 1; i <= this.#count; i++) {
      if (this.#stopping) return;
      const old = this.#slots[i];
      if (old != null) old.retiring = true;
      if (old != null && i === this.#opts.exclusiveIndex && this.#count > 1) {
        await this.#retire(old);
        await this.#fork(i).ready;
        continue;
      }
      const next = this.#fork(i);
      try {
        await next.ready;
      } catch (err) {
        // Keep the old one serving: a broken new version must not take the server down.
        if (old != null) {
          old.retiring = false;
          this.#slots[i] = old;
        }
        throw err;
      }
      if (old != null) await this.#retire(old);
    }
  }

  /** Adds or removes workers to reach `count`. */
  async scale(count: number): Promise<void> {
    const previous = this.#count;
    this.#count = count;
    if (count > previous) {
      const added: Slot[] = [];
      for (let i = previous + 1; i <= count; i++) added.push(this.#fork(i));
      await Promise.all(added.map((s) => s.ready));
    } else {
      const removed: Slot[] = [];
      for (let i = count + 1; i <= previous; i++) {
        const slot = this.#slots[i];
        if (slot != null) removed.push(slot);
        this.#slots[i] = null;
      }
      this.#slots.length = count + 1;
      await Promise.all(removed.map((s) => this.#retire(s)));
    }
  }

  /** Asks a worker to drain and exit; kills it if it has not exited by drain timeout + grace. */
  async #retire(slot: Slot): Promise<void> {
    slot.retiring = true;
    // A worker still starting has no message handler yet: a stop sent now would be lost.
    await slot.ready.catch(() => {});
    if (slot.worker.isDead()) return;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#log.warn({ worker: slot.index, pid: slot.worker.process.pid }, `worker ${slot.index} did not exit after draining; killing it`);
        slot.worker.process.kill('SIGKILL');
      }, this.#opts.drainTimeoutMs() + STOP_GRACE_MS);
      slot.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      send(slot.worker, { type: 'stop' });
    });
  }

  /** Drains every worker and waits for them to exit. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#restartTimers) clearTimeout(t);
    this.#restartTimers.clear();
    const all: Slot[] = [];
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker === undefined) continue;
      const slot = this.#slots.find((s) => s?.worker === worker) ?? { index: worker.id, worker, startedAt: 0, ready: Promise.resolve(NO_PORTS), retiring: true };
      all.push(slot);
    }
    await Promise.all(all.map((s) => this.#retire(s)));
  }
}

const NO_PORTS: WorkerPorts = { tlsPort: null, plainPort: null, http3Port: null, localCaPath: null };

function send(worker: Worker, message: ToWorker): void {
  if (!worker.isConnected()) return;
  try {
    worker.send(message);
  } catch {
    // The channel closed under us: the worker is exiting, and its exit event follows.
  }
}

function describeExit(code: number | null, signal: string | null): string {
  return signal !== null ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`;
}

/**
 * Node flags for worker processes: the supervisor's own, plus `--no-memory-reducer`. V8's memory
 * reducer runs full memory-reducing GCs once a process has been idle a few seconds; a worker that
 * idled before traffic then paid for it for its whole life: 1 MiB files cost 1,620–1,720 µs of CPU per
 * request instead of 910–980 (continuous major GC), and hello requests went megamorphic in nextTick
 * (bench/README.md, "Where anomaly's time goes"). The price: an idle worker keeps the heap it grew
 * to under load instead of shrinking it. A flag V8 only reads at start, hence here and not at run time.
 */
export function workerExecArgv(own: readonly string[]): string[] {
  // V8 reads `_` and `-` alike in flag names: an explicit choice either way is left alone.
  const chosen = own.some((a) => /^--(no-)?memory-reducer$/.test(a.replace(/_/g, '-')));
  return chosen ? [...own] : [...own, '--no-memory-reducer'];
}
