/**
 * native/watchdog: a deadline for synchronous calls on the main thread (see watchdog.cc). At the
 * deadline it writes SIGINT into pyodide's interrupt buffer from its own thread (Python stops with
 * KeyboardInterrupt); after a grace period it terminates the JS execution (time.sleep, a long C
 * call), and the call throws an Error with code ANOMALY_WATCHDOG_TERMINATED. Built on first use with
 * the system's C++ compiler (runtimes/native-build.ts). ANOMALY_PYTHON_WATCHDOG=0 turns it off.
 */
import { buildAddon, loadAddon } from '../native-build.js';

export interface Watchdog {
  /**
   * fn.call(thisArg, ...args) under a deadline. `interrupt` is pyodide's interrupt buffer (an
   * Int32Array over a SharedArrayBuffer) or null (then the deadline only terminates).
   */
  call(fn: (...args: never[]) => unknown, thisArg: unknown, deadlineMs: number, graceMs: number, interrupt: Int32Array | null, ...args: unknown[]): unknown;
}

export const TERMINATED = 'ANOMALY_WATCHDOG_TERMINATED';

export function wasTerminated(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === TERMINATED;
}

let loading: Promise<Watchdog | string> | null = null;

/** The watchdog, or why there is none (the engine then runs Python in worker threads). */
export function loadWatchdog(env: NodeJS.ProcessEnv = process.env): Promise<Watchdog | string> {
  if (env.ANOMALY_PYTHON_WATCHDOG === '0') return Promise.resolve('ANOMALY_PYTHON_WATCHDOG=0');
  loading ??= (async () => {
    const built = await buildAddon({ name: 'watchdog', sources: ['watchdog.cc'], language: 'c++' });
    if (!built.ok) return built.reason;
    try {
      return loadAddon<Watchdog>(built.path);
    } catch (err) {
      return `loading native/watchdog failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  })();
  return loading;
}
