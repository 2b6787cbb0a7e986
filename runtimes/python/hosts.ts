/**
 * What the runtime (index.ts) needs from a place that runs Python instances: a worker thread
 * (pool.ts, the fallback) or an interpreter on the main thread under the native watchdog (main.ts).
 */
import { GuestError, type GuestErrorKind, type GuestResponse } from '../contract.js';
import type { Failure } from './protocol.js';

export interface BootResult {
  snapshot: Uint8Array | null;
  bootMs: number;
}

export interface PyHost {
  readonly ready: Promise<BootResult>;
  /** Instance id -> the source text it runs. */
  readonly instances: Map<number, string>;
  readonly dead: boolean;
  /** A memory failure happened here: no new instances; stopped once its instances are gone. */
  tainted: boolean;
  idleTimer: NodeJS.Timeout | null;
  load(id: number, inst: number, file: string, code: string, memoryBytes: number, maxResponse: number, deadlineMs: number): Promise<Failure | null>;
  /**
   * The answer, or a promise of it (always from a worker; on the main thread for async handlers only).
   * `body` is the request's, as the host has it: the interpreter makes the copy it needs.
   */
  call(id: number, inst: number, file: string, frame: string, body: Uint8Array, deadlineMs: number): GuestResponse | Promise<GuestResponse>;
  unload(inst: number): void;
  terminate(why: string): void;
}

/** A call in flight on a host: the timer that fails it at its deadline, and how to fail it. */
export interface InFlight {
  timer: NodeJS.Timeout | null;
  readonly file: string;
  reject(e: GuestError): void;
}

/** The calls in flight on one host, by call id. */
export class PendingCalls<T extends InFlight> extends Map<number, T> {
  /** Removes a call and clears its timer; undefined when it was settled already. */
  take(id: number): T | undefined {
    const p = this.get(id);
    if (p === undefined) return undefined;
    this.delete(id);
    if (p.timer !== null) clearTimeout(p.timer);
    return p;
  }

  /** Fails every call (its host stopped). */
  failAll(kind: GuestErrorKind, message: string): void {
    for (const id of [...this.keys()]) {
      const p = this.take(id);
      p?.reject(new GuestError(kind, message, { file: p.file }));
    }
  }
}
