/**
 * Java apps (App.java) on the JVM through java-bridge (pinned to 2.8.0: 2.8.1's prebuilt needs
 * GLIBC 2.39).
 *
 * load: the source is compiled in memory with javax.tools inside the JVM (cached by source text,
 * so the instances of one version and later replacements share one compile) and each instance gets
 * its own class loader, parented on the loader that holds anomaly's classes: a reload starts with
 * fresh static state. The host never imports app classes through the bridge (only
 * anomaly.host.Host), so no bridge class proxies go stale across reloads.
 *
 * handle: one synchronous call (through native/jni when it could be built, see jni.ts; else a
 * java-bridge call) hands the request to the instance's Java worker thread and waits a short
 * budget; small handlers answer within it (one call, no promise hop). A slower call
 * returns a ticket and the answer is awaited with an asynchronous bridge call, off the event loop.
 * Deadlines are enforced in Java (host/anomaly/host/Host.java): the call answers 504 at the deadline,
 * the worker is interrupted, then stopped or abandoned (counted, logged) if it keeps running.
 */
import type { Logger } from '../../src/core/logger.js';
import { GuestError, handleThroughNow, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits, type RuntimeStats } from '../contract.js';
import { startBridge, type Bridge, type HostClass } from './bridge.js';
import { findJdk } from './jdk.js';
import { decodeAnswer, encodeRequest, type Answer } from './marshal.js';

export interface JavaRuntimeOptions {
  readonly logger?: Logger;
  /** Environment to find the JDK in (tests). */
  readonly env?: NodeJS.ProcessEnv;
}

function envMicros(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v >= 0 ? Math.round(v) : fallback;
}

// The synchronous wait for an answer: spin (yielding the CPU) this long, then sleep up to WAIT;
// past WAIT the call continues off the event loop. Measured over HTTP in bench/apps.mjs.
const SPIN_MICROS = envMicros('ANOMALY_JAVA_SPIN_US', 200);
const WAIT_MICROS = envMicros('ANOMALY_JAVA_WAIT_US', 500);

/**
 * Java's stats() counters: threads stopped with Thread.stop, worker threads abandoned, abandoned and
 * still running; compiles done; calls run inline on the Node thread (see Instance.callInline).
 */
export interface JavaHostStats {
  stopped: number;
  abandoned: number;
  running: number;
  stopSupported: boolean;
  compiles: number;
  inline: number;
}

export function javaHostStats(host: HostClass): JavaHostStats {
  const [stopped, abandoned, running, stop, compiles, inline] = host.statsSync().split(' ').map(Number);
  return { stopped, abandoned, running, stopSupported: stop === 1, compiles, inline };
}

export interface JavaStats extends RuntimeStats {
  /** Worker threads of this instance that ignored interrupt and stop and were left running. */
  abandonedThreads: number;
}

class JavaInstance implements AppInstance {
  readonly stats: JavaStats = { calls: 0, errors: 0, deadlines: 0, totalMs: 0, abandonedThreads: 0 };
  private isBroken = false;
  private disposed = false;

  constructor(
    private readonly bridge: Bridge,
    private readonly id: number,
    private readonly file: string,
    private readonly logger: Logger | undefined,
  ) {}

  get broken(): boolean {
    return this.isBroken;
  }

  handle(req: GuestRequest): Promise<GuestResponse> {
    return handleThroughNow(this, req);
  }

  /** The answer now when the call finished within its short wait (most calls), else a promise of it. */
  handleNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> {
    if (this.disposed) throw new GuestError('exception', 'the app instance was disposed', { file: this.file });
    const started = performance.now();
    this.stats.calls++;
    let answer: Answer;
    try {
      const jni = this.bridge.jni;
      answer =
        typeof jni !== 'string'
          ? this.bridged(() => jni.call(this.id, req, SPIN_MICROS, WAIT_MICROS, this.file))
          : decodeAnswer(this.bridged(() => this.bridge.host.callSync(this.id, encodeRequest(req), SPIN_MICROS, WAIT_MICROS)), this.file);
    } catch (err) {
      this.stats.totalMs += performance.now() - started;
      throw this.failed(err);
    }
    if (answer.kind === 'pending') return this.later(answer.ticket, started);
    this.stats.totalMs += performance.now() - started;
    if (answer.kind !== 'response') throw this.failed(new GuestError('exception', 'unexpected answer from the Java host', { file: this.file }));
    return answer.response;
  }

  /** A call still running after the wait: its answer through an asynchronous bridge call (off the event loop). */
  private async later(ticket: number, started: number): Promise<GuestResponse> {
    try {
      const answer = decodeAnswer(await this.bridgedAsync(this.bridge.host.waitFor(ticket)), this.file);
      if (answer.kind !== 'response') throw new GuestError('exception', 'unexpected answer from the Java host', { file: this.file });
      return answer.response;
    } catch (err) {
      throw this.failed(err);
    } finally {
      this.stats.totalMs += performance.now() - started;
    }
  }

  /** Counts a failed call; a deadline or memory error breaks the instance (the pool replaces it). */
  private failed(err: unknown): GuestError {
    this.stats.errors++;
    let e = err instanceof GuestError ? err : new GuestError('exception', String(err), { file: this.file });
    if (e.kind === 'deadline') {
      // The stuck-thread count rides on the logged 504 line (the engine has no logger of its own in the standard wiring).
      const t = javaHostStats(this.bridge.host);
      if (t.running > 0) e = new GuestError('deadline', `${e.message}; ${t.running} earlier worker thread(s) ignored interrupt${t.stopSupported ? ' and stop' : ''} and still run`, { file: e.file, line: e.line });
      this.stats.deadlines++;
      this.isBroken = true;
      this.watchStuck();
    } else if (e.kind === 'memory') {
      this.isBroken = true;
    }
    return e;
  }

  /** A bridge failure (a Java exception that escaped: e.g. OutOfMemoryError while copying a frame) as a GuestError. */
  private bridged<T>(call: () => T): T {
    try {
      return call();
    } catch (err) {
      throw err instanceof GuestError ? err : this.bridgeError(err);
    }
  }

  private async bridgedAsync(p: Promise<Buffer>): Promise<Buffer> {
    try {
      return await p;
    } catch (err) {
      throw this.bridgeError(err);
    }
  }

  private bridgeError(err: unknown): GuestError {
    const message = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
    const memory = /OutOfMemoryError/.test(message);
    return new GuestError(memory ? 'memory' : 'exception', `java bridge: ${message}`, { file: this.file }, { cause: err });
  }

  /** After a deadline: tells the log when the worker thread could not be ended (it keeps a CPU busy). */
  private watchStuck(): void {
    const before = javaHostStats(this.bridge.host).abandoned;
    const timer = setTimeout(() => {
      const now = javaHostStats(this.bridge.host);
      if (now.abandoned > before) {
        this.stats.abandonedThreads += now.abandoned - before;
        this.logger?.warn(
          { app: this.file, engine: 'java', abandoned: now.abandoned, running: now.running },
          `app ${this.file}: a handler ignored interrupt${now.stopSupported ? ' and Thread.stop' : ' (this JVM has no Thread.stop)'}; its worker thread was abandoned and keeps running (${now.running} such thread(s) now)`,
        );
      }
    }, 1500);
    timer.unref();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.bridge.host.disposeSync(this.id);
    } catch (err) {
      this.logger?.warn({ app: this.file, engine: 'java', err: String(err) }, `app ${this.file}: disposing a Java instance failed`);
    }
  }
}

export function javaRuntime(options: JavaRuntimeOptions = {}): Runtime {
  let toldPath = false;
  return {
    id: 'java',
    extensions: ['.java'],
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      let bridge: Bridge;
      try {
        bridge = await startBridge(findJdk(options.env));
      } catch (err) {
        throw new GuestError('load', err instanceof Error ? err.message : String(err), { file: source.file }, { cause: err });
      }
      if (!toldPath && typeof bridge.jni === 'string') {
        toldPath = true;
        options.logger?.warn({ engine: 'java', reason: bridge.jni }, `java: calls go through java-bridge (≈20 µs slower per request): the native/jni addon is not available (${bridge.jni})`);
      }
      const code = Buffer.from(source.code, 'utf8').toString('base64');
      const maxResponse = Math.min(limits.maxResponseBytes, 0x7fffffff);
      let answer;
      try {
        const stack = Math.min(Math.max(limits.stackBytes, 256 * 1024), 0x7fffffff);
        answer = decodeAnswer(await bridge.host.load(code, Math.max(1, Math.round(limits.deadlineMs)), maxResponse, stack), source.file);
      } catch (err) {
        if (err instanceof GuestError) throw new GuestError('load', err.message, { file: err.file, line: err.line }, { cause: err });
        throw new GuestError('load', `java bridge: ${String(err)}`, { file: source.file }, { cause: err });
      }
      if (answer.kind !== 'loaded') throw new GuestError('load', 'unexpected answer from the Java host', { file: source.file });
      return new JavaInstance(bridge, answer.id, source.file, options.logger);
    },
  };
}
