import { readFile } from 'node:fs/promises';
import { AnomalyError, ErrorCodes } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Request } from '../../core/request.js';
import type { Response } from '../../core/response.js';
import type { AppInstance, GuestErrorKind, GuestRequest, GuestResponse, RuntimeStats } from '../../../runtimes/contract.js';
import type { AppOptions } from './config.js';
import { asGuestError, busyAnswer, describe, errorAnswer } from './errors.js';
import { Generation, type GenerationDeps } from './generation.js';
import { EMPTY_BODY, readGuestBody, toGuestRequest, toResponse } from './marshal.js';
import { watchAppFile, type FileWatcher } from './watch.js';

export interface AppError {
  readonly file: string;
  readonly line: number | null;
  readonly message: string;
  /** ISO time. */
  readonly at: string;
}

export interface AppStatus {
  readonly file: string;
  readonly engine: string;
  /** 1 for the version loaded at start, +1 per successful reload. */
  readonly version: number;
  /** When the serving version loaded; null while the app has never loaded. */
  readonly loadedAt: string | null;
  /** The last load failure (start, reload or instance replacement), or null. */
  readonly lastError: AppError | null;
  /** True while the file on disk is a version that failed to load (an older version is serving). */
  readonly stale: boolean;
  readonly pool: { size: number; busy: number; free: number; loading: number; queued: number; retiring: number };
  readonly stats: {
    requests: number;
    errors: Record<GuestErrorKind, number>;
    /** Answered 503 because the queue was full or the wait too long. */
    rejected: number;
    /** Instances replaced after they broke (memory, deadline) or stopped answering. */
    replaced: number;
    reloads: number;
    reloadFailures: number;
    /** Engine counters of the serving version's live instances. */
    runtime: RuntimeStats;
  };
}

type NowInstance = AppInstance & { handleNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> };

interface Lease {
  gen: Generation;
  inst: AppInstance;
}

interface Waiter {
  resolve(lease: Lease | null): void;
  timer: NodeJS.Timeout;
}

/**
 * One mounted app: the serving version (a Generation of instances), requests waiting for a free
 * instance, the file watcher and hot reload. A reload loads a complete new Generation first and
 * only then swaps it in; requests already running finish on the old one, which is disposed once
 * idle, and waiting requests move to the new one.
 */
export class AppHost {
  readonly #opts: AppOptions;
  readonly #logger: Logger;
  /** The serving version; null while the app has never loaded (it answers 503 until a fix loads). */
  #current: Generation | null;
  /** Version numbers keep counting across failed first loads. */
  #lastVersion: number;
  readonly #retiring = new Set<Generation>();
  readonly #waiters: Waiter[] = [];
  #watcher: FileWatcher | null = null;
  #lastError: AppError | null = null;
  #stale = false;
  /** Source text of the last reload attempt, so touching a file without changing it costs nothing. */
  #lastTried: string;
  #reloading: Promise<void> | null = null;
  #again = false;
  #disposed: Promise<void> | null = null;
  #rejectLoggedAt = 0;
  #rejectedSinceLog = 0;
  readonly #stats = {
    requests: 0,
    errors: { load: 0, exception: 0, deadline: 0, memory: 0, response: 0 } as Record<GuestErrorKind, number>,
    rejected: 0,
    replaced: 0,
    reloads: 0,
    reloadFailures: 0,
  };

  private constructor(opts: AppOptions, logger: Logger, first: Generation | null, code: string) {
    this.#opts = opts;
    this.#logger = logger;
    this.#current = first;
    this.#lastVersion = 1;
    this.#lastTried = code;
  }

  /**
   * Loads the app (every instance). A script that does not load (syntax error, top-level throw)
   * does not stop the server: the app answers 503 and logs "file:line: message" until the file is
   * fixed (it is watched). With reload off there is no way back, so that fails with the message.
   */
  static async start(opts: AppOptions, logger: Logger): Promise<AppHost> {
    const code = await readFile(opts.file, 'utf8');
    let host: AppHost | null = null;
    const deps = AppHost.#deps(opts, logger, () => host);
    let first: Generation | null = null;
    let failure: ReturnType<typeof describe> | null = null;
    try {
      first = await Generation.load(1, { file: opts.file, code }, opts.instances, deps);
    } catch (err) {
      failure = describe(asGuestError(err), opts.file);
      if (!opts.reload) throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `${failure.where}: ${failure.message}`, { cause: err });
    }
    host = new AppHost(opts, logger, first, code);
    if (failure !== null) {
      host.#recordError(failure);
      host.#stale = true;
      logger.error({ app: failure.file, line: failure.line }, `app failed to load at ${failure.where}: ${failure.message}; it answers 503 until the file is fixed`);
    }
    if (opts.reload) host.#watcher = watchAppFile(opts.file, () => host?.reload(), logger);
    if (first !== null) logger.debug({ app: opts.file, engine: opts.runtime.id, instances: opts.instances }, `app ${opts.file} loaded`);
    return host;
  }

  // Generations call back into the host that owns them (for waiting requests and counters).
  static #deps(opts: AppOptions, logger: Logger, host: () => AppHost | null): GenerationDeps {
    return {
      runtime: opts.runtime,
      limits: opts.limits,
      logger,
      handoff: () => {
        const h = host();
        return h === null ? null : h.#nextWaiter();
      },
      onReplaced: () => {
        const h = host();
        if (h !== null) h.#stats.replaced++;
      },
      onReplaceFailed: (err) => {
        const e = describe(asGuestError(err), opts.file);
        const h = host();
        if (h !== null) h.#recordError(e);
        logger.error({ app: e.file, line: e.line }, `app instance replacement failed at ${e.where}: ${e.message}; retrying`);
      },
    };
  }

  readonly handle = (req: Request): Response | Promise<Response> => {
    // The body is read before taking an instance, so a slow upload holds none (413 propagates).
    const reading = readGuestBody(req);
    if (reading !== null) return reading.then((body) => this.#dispatch(req, toGuestRequest(req, body)));
    return this.#dispatch(req, toGuestRequest(req, EMPTY_BODY));
  };

  #dispatch(req: Request, greq: GuestRequest): Response | Promise<Response> {
    this.#stats.requests++;
    const gen = this.#current;
    if (gen === null) return this.#unavailable(req);
    const inst = gen.take();
    if (inst === undefined) return this.#waitAndRun(greq, req);
    // An engine that can answer in this turn, with a free instance: no promise in between.
    if (inst.handleNow !== undefined) return this.#runNow(gen, inst as NowInstance, greq, req);
    return this.#run({ gen, inst }, greq, req);
  }

  async #waitAndRun(greq: GuestRequest, req: Request): Promise<Response> {
    const lease = await this.#wait();
    if (lease === null) return this.#reject(req);
    return this.#run(lease, greq, req);
  }

  #runNow(gen: Generation, inst: NowInstance, greq: GuestRequest, req: Request): Response | Promise<Response> {
    let answer: GuestResponse | Promise<GuestResponse>;
    try {
      answer = gen.callNow(inst, greq);
    } catch (err) {
      return this.#fail(err, req, gen.version);
    }
    if (answer instanceof Promise) return this.#settle(answer, req, gen.version);
    try {
      return toResponse(answer, this.#opts.limits.maxResponseBytes);
    } catch (err) {
      return this.#fail(err, req, gen.version);
    }
  }

  async #settle(answer: Promise<GuestResponse>, req: Request, version: number): Promise<Response> {
    try {
      return toResponse(await answer, this.#opts.limits.maxResponseBytes);
    } catch (err) {
      return this.#fail(err, req, version);
    }
  }

  #run(lease: Lease, greq: GuestRequest, req: Request): Promise<Response> {
    return this.#settle(lease.gen.call(lease.inst, greq), req, lease.gen.version);
  }

  #fail(err: unknown, req: Request, version: number): Response {
    const ge = asGuestError(err);
    this.#stats.errors[ge.kind]++;
    const e = describe(ge, this.#opts.file);
    this.#logger.error(
      { app: e.file, line: e.line, kind: ge.kind, method: req.method, path: req.path, version },
      `app ${ge.kind} at ${e.where}: ${e.message} (${req.method} ${req.path})`,
    );
    return errorAnswer(ge.kind);
  }

  /** The app never loaded: 503, with one log line per second at most. */
  #unavailable(req: Request): Response {
    this.#stats.errors.load++;
    const now = Date.now();
    if (now - this.#rejectLoggedAt >= 1000) {
      this.#rejectLoggedAt = now;
      const e = this.#lastError;
      const where = e === null ? this.#opts.file : e.line === null ? e.file : `${e.file}:${e.line}`;
      this.#logger.error(
        { app: this.#opts.file, method: req.method, path: req.path },
        `app not loaded (${where}: ${e?.message ?? 'unknown error'}): answered 503 (${req.method} ${req.path})`,
      );
    }
    return errorAnswer('load');
  }

  #wait(): Promise<Lease | null> {
    if (this.#waiters.length >= this.#opts.queue || this.#disposed !== null) return Promise.resolve(null);
    return new Promise<Lease | null>((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          resolve(null);
        }, this.#opts.queueTimeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  #nextWaiter(): ((gen: Generation, inst: AppInstance) => void) | null {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return null;
    clearTimeout(waiter.timer);
    return (gen, inst) => waiter.resolve({ gen, inst });
  }

  #reject(req: Request): Response {
    this.#stats.rejected++;
    this.#rejectedSinceLog++;
    // One line per second at most: under overload a line per request would add to the overload.
    const now = Date.now();
    if (now - this.#rejectLoggedAt >= 1000) {
      this.#logger.warn(
        { app: this.#opts.file, path: req.path, rejected: this.#rejectedSinceLog },
        `app ${this.#opts.file} busy: ${this.#rejectedSinceLog} request(s) answered 503 (all ${this.#current?.size ?? 0} instances busy, queue ${this.#opts.queue})`,
      );
      this.#rejectLoggedAt = now;
      this.#rejectedSinceLog = 0;
    }
    return busyAnswer();
  }

  /** Reloads from the file now (the watcher calls this); concurrent calls coalesce. Resolves when settled. */
  reload(): Promise<void> {
    if (this.#disposed !== null) return Promise.resolve();
    if (this.#reloading !== null) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        await this.#reloadOnce();
      } while (this.#again && this.#disposed === null);
    })().finally(() => (this.#reloading = null));
    return this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    const file = this.#opts.file;
    let code: string;
    try {
      code = await readFile(file, 'utf8');
    } catch {
      return; // gone mid-rename: its return is another event
    }
    if (code === this.#lastTried) return;
    this.#lastTried = code;
    if (this.#current !== null && code === this.#current.source.code) {
      this.#stale = false;
      return;
    }
    const version = this.#lastVersion + 1;
    let gen: Generation;
    try {
      gen = await Generation.load(version, { file, code }, this.#opts.instances, AppHost.#deps(this.#opts, this.#logger, () => this));
    } catch (err) {
      const e = describe(asGuestError(err), file);
      this.#recordError(e);
      this.#stale = true;
      this.#stats.reloadFailures++;
      const serving = this.#current === null ? 'the app stays unavailable (503)' : `version ${this.#current.version} keeps serving`;
      this.#logger.error({ app: e.file, line: e.line, version: this.#current?.version ?? null }, `app reload failed at ${e.where}: ${e.message}; ${serving}`);
      return;
    }
    if (this.#disposed !== null) {
      void gen.retire();
      return;
    }
    const old = this.#current;
    this.#current = gen;
    this.#lastVersion = version;
    this.#stale = false;
    this.#stats.reloads++;
    // Waiting requests have not started: the new version serves them.
    let inst: AppInstance | undefined;
    while (this.#waiters.length > 0 && (inst = gen.take()) !== undefined) {
      const waiter = this.#waiters.shift() as Waiter;
      clearTimeout(waiter.timer);
      waiter.resolve({ gen, inst });
    }
    if (old !== null) {
      this.#retiring.add(old);
      void old.retire().then(() => this.#retiring.delete(old));
    }
    this.#logger.info({ app: file, version }, `app ${file} reloaded (version ${version})`);
  }

  #recordError(e: { file: string; line: number | null; message: string }): void {
    this.#lastError = { file: e.file, line: e.line, message: e.message, at: new Date().toISOString() };
  }

  status(): AppStatus {
    const cur = this.#current;
    let retiringBusy = 0;
    for (const g of this.#retiring) retiringBusy += g.busy;
    return {
      file: this.#opts.file,
      engine: this.#opts.runtime.id,
      version: cur?.version ?? 0,
      loadedAt: cur?.loadedAt.toISOString() ?? null,
      lastError: this.#lastError,
      stale: this.#stale,
      pool: { size: cur?.size ?? 0, busy: cur?.busy ?? 0, free: cur?.free ?? 0, loading: cur?.loading ?? 0, queued: this.#waiters.length, retiring: retiringBusy },
      stats: { ...this.#stats, errors: { ...this.#stats.errors }, runtime: cur?.runtimeStats() ?? { calls: 0, errors: 0, deadlines: 0, totalMs: 0 } },
    };
  }

  /** Stops watching, answers waiting requests 503, and disposes every instance (busy ones when their call ends). */
  dispose(): Promise<void> {
    if (this.#disposed !== null) return this.#disposed;
    this.#watcher?.close();
    this.#watcher = null;
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    const reloading = this.#reloading ?? Promise.resolve();
    this.#disposed = (async () => {
      await reloading;
      await Promise.all([...(this.#current === null ? [] : [this.#current.retire()]), ...[...this.#retiring].map((g) => g.retire())]);
    })();
    return this.#disposed;
  }
}
